//! What every program that runs the face pipeline shares: its command-line options (detector
//! size, threads, device; the live engine's workers and analysis rate), the verified models, the
//! test data's place, and the main face of an image. `mandat`, `mandat-bench` and
//! `mandat-evaluation` take them from here, so the binary stays a thin client.
//!
//! Like the binary these options feed, it reports errors with `anyhow`: every caller is a command
//! that prints the error and exits.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use mandat_face::{
    DetectSize, DetectorConfig, Device, Face, InferenceConfig, Pipeline, Runtime,
    nearest_to_center, read_image,
};
use mandat_models::{ModelId, Store};

/// Options shared by every command that runs the face pipeline.
#[derive(Args, Clone, Debug)]
pub struct PipelineArgs {
    /// Detector input: `640` (letterbox into 640x640, the reference), `native` (the image's own size,
    /// finds small faces in camera frames) or `native:MAX` (own size, longer side capped at MAX).
    #[arg(long, default_value = "640", value_parser = parse_detect_size)]
    pub detect_size: DetectSize,
    /// Detector score threshold.
    #[arg(long, default_value_t = 0.5)]
    pub score_threshold: f32,
    /// ONNX Runtime intra-op threads per session.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Where the models run: `cpu`, or `cuda` / `cuda:N` (ONNX Runtime's CUDA provider, after
    /// `mandat models fetch --gpu`). A GPU that cannot be used is an error, never a CPU fall-back.
    #[arg(long, env = "MANDAT_DEVICE", default_value = "cpu", value_parser = parse_device)]
    pub device: Device,
    /// The face embedder: the pinned `sface-2021dec`, or a model added with `mandat models
    /// register`. A registered model is evaluated and calibrated before any permit may use it.
    #[arg(long, env = "MANDAT_EMBEDDER", default_value = mandat_models::BUILT_IN_EMBEDDER)]
    pub embedder: String,
}

pub fn parse_device(s: &str) -> Result<Device, String> {
    match s.split_once(':') {
        None if s == "cpu" => Ok(Device::Cpu),
        None if s == "cuda" => Ok(Device::Cuda(0)),
        Some(("cuda", n)) => n
            .parse()
            .map(Device::Cuda)
            .map_err(|_| format!("{s:?}: the GPU number after `cuda:` must be 0 or more")),
        _ => Err(format!("{s:?}: expected `cpu`, `cuda` or `cuda:N`")),
    }
}

pub fn parse_fps(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if (0.0..=1000.0).contains(&f) => Ok(f),
        _ => Err(format!(
            "{s:?}: expected frames per second from 0 (every frame) to 1000"
        )),
    }
}

pub fn parse_detect_size(s: &str) -> Result<DetectSize, String> {
    let bad = || format!("{s:?}: expected a size such as 640, `native` or `native:1920`");
    match s.split_once(':') {
        None if s == "native" => Ok(DetectSize::Native { max_side: 4096 }),
        Some(("native", max)) => max
            .parse()
            .ok()
            .filter(|&m: &usize| (32..=8192).contains(&m))
            .map(|max_side| DetectSize::Native { max_side })
            .ok_or_else(bad),
        None => s
            .parse()
            .ok()
            .filter(|n: &usize| (32..=4096).contains(n) && n.is_multiple_of(32))
            .map(DetectSize::Square)
            .ok_or_else(bad),
        _ => Err(bad()),
    }
}

impl PipelineArgs {
    /// The reference settings: enrolment, evaluation, and the peer's templates in `mandat bench`.
    pub fn reference() -> Self {
        Self {
            detect_size: DetectSize::Square(640),
            score_threshold: 0.5,
            threads: 1,
            device: Device::Cpu,
            embedder: mandat_models::BUILT_IN_EMBEDDER.into(),
        }
    }

    pub fn inference(&self) -> InferenceConfig {
        InferenceConfig {
            threads: self.threads,
            device: self.device,
        }
    }

    pub fn detector_config(&self) -> DetectorConfig {
        DetectorConfig {
            size: self.detect_size,
            score_threshold: self.score_threshold,
            ..DetectorConfig::default()
        }
    }
}

/// How the live engine analyses camera frames.
#[derive(Args, Clone, Debug)]
pub struct EngineArgs {
    /// Analysis workers, each with its own model sessions (default: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Detector input for camera frames: `native:MAX` (the frame's own size, longer side capped at
    /// MAX; finds the small faces of a street scene, as OpenCV's pipeline does at full resolution),
    /// `native`, or a square letterbox such as `640` (cheaper, loses faces under ~60 px at 1080p).
    #[arg(long, default_value = "native:1920", value_parser = parse_detect_size)]
    pub camera_detect_size: DetectSize,
    /// Frames analysed per second per camera at most; the tracker carries each face between them,
    /// so a person in view for half a second or more is still seen at least twice. 0: every frame.
    #[arg(long, default_value_t = mandat_engine::LIVE_ANALYSIS_FPS, value_parser = parse_fps)]
    pub analysis_fps: f64,
    /// Video decoder: `auto` (OpenH264 for H.264, FFmpeg for H.265), `openh264` (H.264 only),
    /// `ffmpeg` (both; H.264 2.3x as fast per core), or `nvdec` (FFmpeg's NVDEC on an NVIDIA GPU;
    /// the start fails without one, never falling back to the CPU).
    #[arg(long, env = "MANDAT_DECODER", default_value = "auto")]
    pub decoder: mandat_video::DecoderChoice,
    /// The match-time quality gate: `on` leaves faces that are too small, blurred, turned away or
    /// uncertain unmatched (counted in camera health as below quality); `off` matches every face
    /// the tracker picks.
    #[arg(long, default_value = "on", value_parser = parse_on_off, action = clap::ArgAction::Set)]
    pub match_quality_gate: bool,
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("{s:?}: give `on` or `off`")),
    }
}

impl EngineArgs {
    /// The engine configuration, with `cores` workers unless `--workers` says otherwise.
    pub fn config(&self, pipeline: &PipelineArgs, cores: usize) -> mandat_engine::EngineConfig {
        mandat_engine::EngineConfig {
            workers: self.workers.unwrap_or(cores).max(1),
            detector: DetectorConfig {
                size: self.camera_detect_size,
                ..pipeline.detector_config()
            },
            inference: pipeline.inference(),
            analysis_gap: if self.analysis_fps > 0.0 {
                std::time::Duration::from_secs_f64(1.0 / self.analysis_fps)
            } else {
                std::time::Duration::ZERO
            },
            decoder: self.decoder,
            match_gate: self
                .match_quality_gate
                .then_some(mandat_face::QualityGate::MATCH),
            ..mandat_engine::EngineConfig::default()
        }
    }

    /// One line for reports.
    pub fn describe(&self, pipeline: &PipelineArgs) -> String {
        let size = match self.camera_detect_size {
            DetectSize::Square(n) => format!("{n}x{n} letterbox"),
            DetectSize::Native { max_side } => format!("full resolution up to {max_side} px"),
        };
        let rate = if self.analysis_fps > 0.0 {
            format!("at most {} analysed frames/s per camera", self.analysis_fps)
        } else {
            "every frame analysed".to_string()
        };
        format!(
            "YuNet at {size}, score threshold {}, {rate}, {} ONNX Runtime thread(s) per session, \
             decoder {}, match-time quality gate {}",
            pipeline.score_threshold,
            pipeline.threads,
            self.decoder,
            if self.match_quality_gate { "on" } else { "off" }
        )
    }
}

/// Verified model paths and a loaded runtime. Refuses to run with a missing or altered file.
pub struct Models {
    pub runtime: Runtime,
    pub detector: PathBuf,
    pub embedder: PathBuf,
    /// The embedder's name and sha256: what calibrations, evaluations and permits are keyed by.
    pub embedder_name: String,
    pub embedder_sha256: String,
}

impl Models {
    /// The models for `pipeline`'s device: the GPU build of ONNX Runtime for `--device cuda`.
    pub fn load(pipeline: &PipelineArgs) -> Result<Self> {
        let store = Store::from_env()?;
        let ort = match pipeline.device {
            Device::Cpu => store.verify(ModelId::OnnxRuntime)?,
            Device::Cuda(_) => store.verify(ModelId::OnnxRuntimeGpu)?,
        };
        let detector = store.verify(ModelId::Yunet)?;
        let embedder = store.embedder(&pipeline.embedder)?;
        let runtime = Runtime::load(&ort)?;
        Ok(Self {
            runtime,
            detector,
            embedder: embedder.path,
            embedder_name: embedder.name,
            embedder_sha256: embedder.sha256,
        })
    }

    /// The same models as the live engine takes them.
    pub fn engine(&self) -> mandat_engine::Models {
        mandat_engine::Models {
            runtime: self.runtime.clone(),
            detector: self.detector.clone(),
            embedder: self.embedder.clone(),
        }
    }

    /// The embedder by name and hash, as permits, calibrations and audit records name it.
    pub fn embedder_ref(&self) -> mandat_law::risk::ModelRef {
        mandat_law::risk::ModelRef {
            name: self.embedder_name.clone(),
            sha256: self.embedder_sha256.clone(),
        }
    }

    pub fn pipeline(&self, args: &PipelineArgs) -> Result<Pipeline> {
        Pipeline::new(
            &self.runtime,
            &self.detector,
            &self.embedder,
            args.detector_config(),
            args.inference(),
        )
        .context("loading the face models")
    }
}

/// The test-data directory: `--data`, else `MANDAT_DATA`, else `../shared/data`.
pub fn data_dir(flag: Option<PathBuf>) -> Result<PathBuf> {
    let dir = flag
        .or_else(|| std::env::var_os("MANDAT_DATA").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("../shared/data"));
    if !dir.is_dir() {
        bail!(
            "test data directory {} not found; pass --data DIR or set MANDAT_DATA",
            dir.display()
        );
    }
    Ok(dir)
}

/// The face nearest the image centre, embedded: the one a reference photo or a test image is of.
pub fn main_face(pipe: &mut Pipeline, path: &std::path::Path) -> Result<Option<Face>> {
    let img = read_image(path).with_context(|| format!("reading {}", path.display()))?;
    let dets = pipe.detector.detect(&img)?;
    let Some(i) = nearest_to_center(&dets, img.width, img.height) else {
        return Ok(None);
    };
    Ok(pipe.embed_detections(&img, &dets[i..=i])?.pop())
}
