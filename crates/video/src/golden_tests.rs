//! Every decoder against the golden frames (`shared/golden`: PNG frames of the test videos and what
//! the reference pipeline found in them), from files and over RTSP, in H.264 and H.265.
//!
//! Pixels: PSNR of the decoded frame to the golden PNG. Faces: the pipeline run on the decoded frame
//! finds the golden faces with embeddings close to the reference. The H.265 clips are re-encoded
//! from the H.264 files (CRF 18), so their bounds are looser by what a second lossy encoding costs.

use std::path::{Path, PathBuf};

use mandat_face::{DetectorConfig, InferenceConfig, Pipeline, RgbImage, Runtime, read_image};
use mandat_models::{ModelId, Store};
use serde_json::Value;

use crate::FrameSource;
use crate::decode::{DecoderChoice, FFMPEG_BUILT_IN};
use crate::derived::{self, RtspTestServer};
use crate::mp4file::{Mp4Camera, Pace};
use crate::rtsp::RtspCamera;

fn shared() -> PathBuf {
    match std::env::var_os("MANDAT_DATA") {
        Some(d) => PathBuf::from(d).join(".."),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
}

/// (video, frame index, golden PNG): frame 25 is t = 1.0 s at 25 fps.
const FRAMES: [(&str, u64, &str); 3] = [
    ("video/street_1080p.mp4", 25, "street_1080p_t1.0.png"),
    ("video/street_1080p.mp4", 75, "street_1080p_t3.0.png"),
    (
        "synthetic/synthetic_watchlist.mp4",
        300,
        "synthetic_t12.0.png",
    ),
];

fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let se: f64 = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum();
    let mse = se / a.data.len() as f64;
    if mse == 0.0 {
        return f64::INFINITY;
    }
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

fn frame_at(src: &mut dyn FrameSource, index: u64) -> RgbImage {
    loop {
        let f = src
            .next_frame()
            .unwrap()
            .unwrap_or_else(|| panic!("the stream ended before frame {index}"));
        if f.index == index {
            return f.image;
        }
    }
}

fn pipeline() -> Pipeline {
    let store = Store::from_env().unwrap();
    let verify = |id| {
        store.verify(id).unwrap_or_else(|e| {
            panic!("{e}\n(run the README's test command, which fetches models)")
        })
    };
    let rt = Runtime::load(&verify(ModelId::OnnxRuntime)).unwrap();
    Pipeline::new(
        &rt,
        &verify(ModelId::Yunet),
        &verify(ModelId::Sface),
        DetectorConfig::default(),
        InferenceConfig::default(),
    )
    .unwrap()
}

/// Worst cosine over the golden faces with a score of at least `min_score`, each of which must be
/// found (IoU > 0.8). Faces under it are small and may come and go with a second encoding.
fn worst_face_cosine(pipe: &mut Pipeline, img: &RgbImage, golden: &Value, min_score: f64) -> f32 {
    let ours = pipe.analyze(img).unwrap();
    let mut worst = 1.0f32;
    for rf in golden["faces"].as_array().unwrap() {
        if rf["score"].as_f64().unwrap() < min_score {
            continue;
        }
        let b: Vec<f32> = (0..4)
            .map(|i| rf["box"][i].as_f64().unwrap() as f32)
            .collect();
        let rb = mandat_face::BBox {
            x1: b[0],
            y1: b[1],
            x2: b[2],
            y2: b[3],
        };
        let (best, iou) = ours
            .iter()
            .map(|f| {
                let fb = mandat_face::BBox {
                    x1: f.bbox[0],
                    y1: f.bbox[1],
                    x2: f.bbox[2],
                    y2: f.bbox[3],
                };
                (f, fb.iou(&rb))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("no face found");
        assert!(
            iou > 0.8,
            "{}: reference face {rb:?} not found (IoU {iou})",
            golden["image"]
        );
        let reference: Vec<f32> = rf["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        worst = worst.min(mandat_face::vector::cosine(
            best.embedding.as_slice(),
            &reference,
        ));
    }
    worst
}

fn golden_entry(name: &str) -> Value {
    let text = std::fs::read_to_string(shared().join("golden/golden.json")).unwrap();
    let g: Value = serde_json::from_str(&text).unwrap();
    g["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["image"] == name)
        .unwrap()
        .clone()
}

/// The H.265 copy of `video`: the street clip with an `hvc1` sample entry, the synthetic one with
/// `hev1`, so both entries are read.
fn h265(video: &str) -> PathBuf {
    let (seconds, tag) = if video.contains("street") {
        (4.2, "hvc1")
    } else {
        (12.5, "hev1")
    };
    derived::h265_copy(&shared().join("data").join(video), seconds, tag)
        .unwrap_or_else(|e| panic!("{e} (./test.sh installs Debian's ffmpeg)"))
}

/// FFmpeg must be built in for these tests; without it they fail and say how, never skip.
fn require_ffmpeg() {
    if !FFMPEG_BUILT_IN {
        panic!(
            "these tests need FFmpeg: run them with `--features ffmpeg` (the README's test command \
             builds the workspace with it)"
        );
    }
}

/// A GPU device node (`/dev/nvidia0`, `/dev/nvidia1`, ...).
pub(crate) fn gpu_present() -> bool {
    std::fs::read_dir("/dev").is_ok_and(|d| {
        d.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.strip_prefix("nvidia")
                .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        })
    })
}

#[test]
fn every_decoder_matches_the_golden_frames_in_h264_and_h265() {
    require_ffmpeg();
    let mut pipe = pipeline();
    let h264 = [DecoderChoice::OpenH264, DecoderChoice::Ffmpeg];
    let (mut report, mut failures) = (Vec::new(), Vec::new());
    for (video, index, png) in FRAMES {
        let golden_img = read_image(&shared().join("golden").join(png)).unwrap();
        let golden = golden_entry(png);
        let mut cases: Vec<(DecoderChoice, PathBuf, &str)> = h264
            .iter()
            .map(|d| (*d, shared().join("data").join(video), "H.264"))
            .collect();
        cases.push((DecoderChoice::Ffmpeg, h265(video), "H.265"));
        for (decoder, path, codec) in cases {
            let mut cam = Mp4Camera::open(&path, Pace::Fast, false, decoder).unwrap();
            let img = frame_at(&mut cam, index);
            let p = psnr(&img, &golden_img);
            // FFmpeg gives the golden frames bit for bit (they were made with FFmpeg's decoder and
            // colour conversion). OpenH264 decodes the same pictures but converts to RGB its own way:
            // measured 46.1-46.8 dB. The H.265 copies lose more to their second encoding: 37.7-44.3
            // dB. Faces: that small a difference still moves the embedding of a small face (worst
            // cosine to the reference 0.873 on the synthetic frame, for OpenH264 and H.265 alike;
            // 0.9996 or more through FFmpeg's H.264), hence the looser bound for those two.
            let (min_psnr, min_cos, min_score) = match (codec, decoder) {
                ("H.264", DecoderChoice::Ffmpeg) => (f64::INFINITY, 0.99, 0.0),
                ("H.264", _) => (45.0, 0.85, 0.0),
                _ => (36.0, 0.85, 0.7),
            };
            let cos = worst_face_cosine(&mut pipe, &img, &golden, min_score);
            let faces = pipe.analyze(&img).unwrap().len();
            report.push(format!(
                "{png} {codec} {}: PSNR {p:.1} dB, worst face cosine {cos:.4}, {faces} faces",
                cam.decoder()
            ));
            let golden_faces = golden["faces"].as_array().unwrap().len();
            if p < min_psnr || cos < min_cos || (codec == "H.264" && faces != golden_faces) {
                failures.push(report.last().unwrap().clone());
            }
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(failures.is_empty(), "out of bounds: {failures:#?}");
}

fn rtsp_server(file: &Path, codec: &str) -> (RtspTestServer, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = RtspTestServer::start(file, port, codec).unwrap();
    (server, RtspTestServer::url(port))
}

#[test]
fn rtsp_cameras_in_h264_and_h265_decode_to_the_golden_frame() {
    require_ffmpeg();
    let golden = read_image(&shared().join("golden/street_1080p_t1.0.png")).unwrap();
    let video = "video/street_1080p.mp4";
    let original = shared().join("data").join(video);
    let cases = [
        (original.clone(), "h264", DecoderChoice::OpenH264, 45.0),
        (original, "h264", DecoderChoice::Ffmpeg, f64::INFINITY),
        (h265(video), "h265", DecoderChoice::Ffmpeg, 36.0),
    ];
    for (file, codec, decoder, min_psnr) in cases {
        let (_server, url) = rtsp_server(&file, codec);
        let mut cam = RtspCamera::open(&url, decoder).unwrap();
        let img = frame_at(&mut cam, 25);
        let p = psnr(&img, &golden);
        eprintln!("RTSP {codec} via {}: PSNR {p:.1} dB", cam.decoder());
        assert!(
            p >= min_psnr,
            "RTSP {codec} via {}: PSNR {p:.1} dB",
            cam.decoder()
        );
    }
    // H.265 over RTSP to a decoder that cannot take it: refused at connection, with the reason.
    let (_server, url) = rtsp_server(&h265(video), "h265");
    let err = RtspCamera::open(&url, DecoderChoice::OpenH264)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("H.265") && err.contains("--decoder ffmpeg"),
        "{err}"
    );
}

/// A stream that changes resolution mid-way (a camera reconfigured, or a hostile one): one decoder
/// goes on decoding at the new size, in every software decoder and both codecs.
#[test]
fn a_decoder_follows_a_change_of_resolution() {
    require_ffmpeg();
    let small = shared().join("data/synthetic/synthetic_watchlist.mp4");
    let large = shared().join("data/video/street_1080p.mp4");
    for (decoder, files) in [
        (DecoderChoice::OpenH264, [small.clone(), large.clone()]),
        (DecoderChoice::Ffmpeg, [small.clone(), large.clone()]),
        (
            DecoderChoice::Ffmpeg,
            [
                h265("synthetic/synthetic_watchlist.mp4"),
                h265("video/street_1080p.mp4"),
            ],
        ),
    ] {
        let first = Mp4Camera::open(&files[0], Pace::Fast, false, decoder).unwrap();
        let codec = first.codec();
        let mut dec = crate::decode::open_decoder(codec, decoder).unwrap();
        let mut sizes = Vec::new();
        for (i, file) in files.iter().enumerate() {
            let mut cam = Mp4Camera::open(file, Pace::Fast, false, decoder).unwrap();
            let mut out = Vec::new();
            for _ in 0..30 {
                let packet = cam.next_packet().unwrap().unwrap();
                dec.decode(&packet, &mut out).unwrap();
            }
            if i == 1 {
                dec.flush(&mut out).unwrap();
            }
            sizes.extend(out.iter().map(|f| (f.width, f.height)));
        }
        assert!(
            sizes.contains(&(1280, 720)),
            "{} {codec}: {sizes:?}",
            dec.name()
        );
        assert_eq!(
            sizes.iter().filter(|s| **s == (1920, 1080)).count(),
            30,
            "{} {codec}: every 1080p frame after the change",
            dec.name()
        );
    }
}

#[test]
fn nvdec_runs_on_a_gpu_or_fails_loudly() {
    require_ffmpeg();
    let gpu = gpu_present();
    match crate::decode::probe_decoders(DecoderChoice::Nvdec) {
        Ok(names) => {
            assert!(gpu, "NVDEC opened without a GPU: {names}");
            let golden = read_image(&shared().join("golden/street_1080p_t1.0.png")).unwrap();
            let path = shared().join("data/video/street_1080p.mp4");
            let mut cam = Mp4Camera::open(&path, Pace::Fast, false, DecoderChoice::Nvdec).unwrap();
            let p = psnr(&frame_at(&mut cam, 25), &golden);
            // NVDEC's NV12 goes through the same conversion as FFmpeg's software decoder.
            assert!(p >= 45.0, "NVDEC: PSNR {p:.1} dB");
        }
        Err(e) => {
            let e = e.to_string();
            assert!(!gpu, "a GPU is here but NVDEC failed: {e}");
            assert!(e.contains("NVDEC"), "{e}");
        }
    }
}
