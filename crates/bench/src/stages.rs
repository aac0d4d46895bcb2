//! Milliseconds per stage (decode, detect, align, embed) on single images, and the ratio of our
//! stages to plain ONNX Runtime time on the same models and inputs, measured in the same run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use mandat_face::embedder::CROP;
use mandat_face::geometry::Letterbox;
use mandat_face::image::resize_into_planar;
use mandat_face::runtime::plain_inference_time;
use mandat_face::{DecodeLimits, align, decode};
use serde_json::json;

use mandat_options::{Models, PipelineArgs};

#[derive(Args)]
pub struct StageArgs {
    /// Images to time stage by stage against plain ONNX Runtime (then only that table is printed);
    /// by default an LFW photo and a 1080p street frame from the test data.
    pub images: Vec<PathBuf>,
    /// Timed repetitions per stage.
    #[arg(long, default_value_t = 20)]
    pub iterations: usize,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn time<T>(iters: usize, mut f: impl FnMut() -> Result<T>) -> Result<Duration> {
    f()?; // warm-up
    let t = Instant::now();
    for _ in 0..iters {
        std::hint::black_box(f()?);
    }
    Ok(t.elapsed() / iters.max(1) as u32)
}

/// The per-stage table for the images on the command line.
pub fn run(
    args: &StageArgs,
    pipeline: &PipelineArgs,
    data: Option<&Path>,
    json: bool,
) -> Result<()> {
    let models = Models::load(pipeline)?;
    let report = measure(args, pipeline, &models, &args.images, data)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!(
            "{}",
            table(report["results"].as_array().map_or(&[][..], |v| v))
        );
    }
    Ok(())
}

/// The per-stage table for the default images of the test data, and H.264 decode of its videos.
pub fn report(
    args: &StageArgs,
    pipeline: &PipelineArgs,
    models: &Models,
    data: &Path,
) -> Result<serde_json::Value> {
    let images = [
        data.join("lfw/lfw-deepfunneled/Takeo_Hiranuma/Takeo_Hiranuma_0001.jpg"),
        data.join("../golden/street_1080p_t1.0.png"),
    ];
    measure(args, pipeline, models, &images, Some(data))
}

fn measure(
    args: &StageArgs,
    pipeline: &PipelineArgs,
    models: &Models,
    images: &[PathBuf],
    data: Option<&Path>,
) -> Result<serde_json::Value> {
    let mut pipe = models.pipeline(pipeline)?;
    let inf = pipeline.inference();
    let n = args.iterations.max(1);
    let mut rows = Vec::new();
    for path in images {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let decode_t = time(n, || Ok(decode(&bytes, DecodeLimits::default())?))?;
        let img = decode(&bytes, DecodeLimits::default())?;

        let mut detect_total = Duration::ZERO;
        let mut detect_ort = Duration::ZERO;
        let (mut detect_pre, mut detect_post) = (Duration::ZERO, Duration::ZERO);
        let mut dets = Vec::new();
        pipe.detector.detect(&img)?;
        for _ in 0..n {
            let t = Instant::now();
            dets = pipe.detector.detect(&img)?;
            detect_total += t.elapsed();
            detect_ort += pipe.detector.last_timing.inference;
            detect_pre += pipe.detector.last_timing.preprocess;
            detect_post += pipe.detector.last_timing.postprocess;
        }
        let (detect_total, detect_ort) = (detect_total / n as u32, detect_ort / n as u32);

        // Plain ONNX Runtime on the very tensor the detector built.
        let lb: Letterbox = pipe.detector.letterbox_for(&img);
        let mut tensor = vec![0.0f32; 3 * lb.input_w * lb.input_h];
        resize_into_planar(
            &img,
            lb.resized_w,
            lb.resized_h,
            &mut tensor,
            lb.input_w,
            lb.input_h,
            true,
        );
        let detect_plain = plain_inference_time(
            &models.runtime,
            &models.detector,
            inf,
            "input",
            [1, 3, lb.input_h, lb.input_w],
            &tensor,
            n,
        )?;

        let faces = dets.len();
        let (align_t, embed_total, embed_plain) = if let Some(d) = dets.first() {
            let align_t = time(n, || Ok(align(&img, &d.landmarks)?))?;
            let face = align(&img, &d.landmarks)?;
            let embed_total = time(n, || Ok(pipe.embedder.embed(&[&face])?))?;
            let embed_plain = plain_inference_time(
                &models.runtime,
                &models.embedder,
                inf,
                "data",
                [1, 3, CROP, CROP],
                &face.pixels,
                n,
            )?;
            (align_t, embed_total, embed_plain)
        } else {
            (Duration::ZERO, Duration::ZERO, Duration::ZERO)
        };

        // Our overhead: everything in detect and embed that is not ONNX Runtime, plus alignment.
        let ours = detect_total + align_t + embed_total;
        let plain = detect_plain + embed_plain;
        rows.push(json!({
            "image": path.display().to_string(),
            "width": img.width,
            "height": img.height,
            "detector_input": [lb.input_w, lb.input_h],
            "faces": faces,
            "decode_ms": ms(decode_t),
            "detect_ms": ms(detect_total),
            "detect_ort_ms": ms(detect_ort),
            "detect_preprocess_ms": ms(detect_pre / n as u32),
            "detect_postprocess_ms": ms(detect_post / n as u32),
            "detect_plain_ort_ms": ms(detect_plain),
            "align_ms": ms(align_t),
            "embed_ms": ms(embed_total),
            "embed_plain_ort_ms": ms(embed_plain),
            "detect_ratio_to_plain": ms(detect_total) / ms(detect_plain),
            "align_embed_ratio_to_plain": if embed_plain.is_zero() { 0.0 } else { ms(align_t + embed_total) / ms(embed_plain) },
            "stages_ratio_to_plain": ms(ours) / ms(plain),
        }));
    }
    // Decoding of the test videos by each decoder built in (one thread each), in H.264 and, where
    // the ffmpeg program can make one, an H.265 copy: what a camera costs to decode per decoder.
    let mut video = Vec::new();
    if let Some(data) = data {
        video = decode_rows(data)?;
    }
    Ok(json!({
        "iterations": n,
        "threads": pipeline.threads,
        "detect_size": format!("{:?}", pipeline.detect_size),
        "results": rows,
        "video_decode": video,
    }))
}

/// The per-image rows as a markdown table.
pub fn table(rows: &[serde_json::Value]) -> String {
    let mut out = String::from(
        "| image | size | faces | decode ms | detect ms (plain ORT) | align ms | embed ms (plain ORT) | ours / plain ORT |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {}x{} | {} | {:.2} | {:.2} ({:.2}) | {:.3} | {:.2} ({:.2}) | {:.3} |\n",
            Path::new(r["image"].as_str().unwrap_or_default())
                .file_name()
                .map(|f| f.to_string_lossy().to_string())
                .unwrap_or_default(),
            r["width"],
            r["height"],
            r["faces"],
            r["decode_ms"].as_f64().unwrap_or_default(),
            r["detect_ms"].as_f64().unwrap_or_default(),
            r["detect_plain_ort_ms"].as_f64().unwrap_or_default(),
            r["align_ms"].as_f64().unwrap_or_default(),
            r["embed_ms"].as_f64().unwrap_or_default(),
            r["embed_plain_ort_ms"].as_f64().unwrap_or_default(),
            r["stages_ratio_to_plain"].as_f64().unwrap_or_default(),
        ));
    }
    out
}

/// One row per (video, codec, decoder): frames per second of one thread's CPU time, cameras per
/// core at 25 fps, and the ratio to OpenH264 on the same H.264 file.
fn decode_rows(data: &std::path::Path) -> anyhow::Result<Vec<serde_json::Value>> {
    use mandat_video::{Codec, DecoderChoice, FrameSource, Mp4Camera, Pace};
    let mut rows = Vec::new();
    for (file, h265_seconds) in [
        ("video/street_1080p.mp4", 4.2),
        ("synthetic/synthetic_watchlist.mp4", 12.5),
    ] {
        let path = data.join(file);
        if !path.is_file() {
            continue;
        }
        let mut cases = vec![(path.clone(), DecoderChoice::OpenH264)];
        if mandat_video::FFMPEG_BUILT_IN {
            cases.push((path.clone(), DecoderChoice::Ffmpeg));
            match mandat_video::derived::h265_copy(&path, h265_seconds, "hvc1") {
                Ok(copy) => cases.push((copy, DecoderChoice::Ffmpeg)),
                Err(e) => eprintln!("bench: no H.265 row for {file}: {e}"),
            }
        }
        let mut openh264_fps = None;
        for (path, decoder) in cases {
            let mut cam = Mp4Camera::open(&path, Pace::Fast, false, decoder)?;
            let codec = cam.codec();
            let t = mandat_face::runtime::thread_cpu_time();
            let mut frames = 0u64;
            let mut size = (0, 0);
            while let Some(f) = cam.next_frame()? {
                size = (f.image.width, f.image.height);
                frames += 1;
            }
            let secs = mandat_face::runtime::thread_cpu_time()
                .saturating_sub(t)
                .as_secs_f64()
                .max(1e-9);
            let fps = frames as f64 / secs;
            if decoder == DecoderChoice::OpenH264 {
                openh264_fps = Some(fps);
            }
            rows.push(json!({
                "video": file,
                "codec": codec.to_string(),
                "decoder": cam.decoder(),
                "width": size.0,
                "height": size.1,
                "frames": frames,
                "decode_fps": fps,
                "decode_ms_per_frame": 1e3 / fps,
                "cameras_per_core_at_25fps": fps / 25.0,
                "speed_vs_openh264_h264": (codec == Codec::H264)
                    .then(|| openh264_fps.map(|o| fps / o))
                    .flatten(),
            }));
        }
    }
    Ok(rows)
}
