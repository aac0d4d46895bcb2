//! Where the engine's CPU time goes, stage by stage, summed over cameras and workers: what
//! `mandat bench` reports. Each stage is charged the CPU time of the thread that ran it, so a
//! worker is not billed for the time a camera's decoder held the core.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

pub use mandat_face::runtime::thread_cpu_time;

/// The stages of one frame, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// H.264 to RGB (OpenH264 and colour conversion), in the camera's source thread.
    Decode,
    /// The scope gate: asking the control plane for the camera's watchlist.
    Scope,
    /// Resize into the detector's input tensor.
    DetectPrepare,
    /// YuNet inside ONNX Runtime.
    DetectInference,
    /// Decoding YuNet's outputs and NMS.
    DetectDecode,
    Track,
    /// Similarity warp to 112x112.
    Align,
    /// SFace inside ONNX Runtime.
    EmbedInference,
    /// Batch assembly and normalisation around SFace.
    EmbedOther,
    /// Dot products against the watchlist.
    Match,
    /// JPEG crops for the reviewers and handing the alert to the control plane.
    Alert,
}

const STAGES: usize = 11;

/// Running totals, updated lock-free by the engine's threads.
#[derive(Debug, Default)]
pub struct StageCounters {
    ns: [AtomicU64; STAGES],
    pub faces_detected: AtomicU64,
    pub faces_embedded: AtomicU64,
}

impl StageCounters {
    pub fn add(&self, stage: Stage, d: Duration) {
        self.ns[stage as usize].fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Run `f` and charge its thread CPU time to `stage`.
    pub fn time<T>(&self, stage: Stage, f: impl FnOnce() -> T) -> T {
        let t = thread_cpu_time();
        let r = f();
        self.add(stage, thread_cpu_time().saturating_sub(t));
        r
    }

    pub fn snapshot(&self) -> StageTimes {
        let ms = |s: Stage| self.ns[s as usize].load(Ordering::Relaxed) as f64 / 1e6;
        StageTimes {
            decode_ms: ms(Stage::Decode),
            scope_ms: ms(Stage::Scope),
            detect_prepare_ms: ms(Stage::DetectPrepare),
            detect_inference_ms: ms(Stage::DetectInference),
            detect_decode_ms: ms(Stage::DetectDecode),
            track_ms: ms(Stage::Track),
            align_ms: ms(Stage::Align),
            embed_inference_ms: ms(Stage::EmbedInference),
            embed_other_ms: ms(Stage::EmbedOther),
            match_ms: ms(Stage::Match),
            alert_ms: ms(Stage::Alert),
            faces_detected: self.faces_detected.load(Ordering::Relaxed),
            faces_embedded: self.faces_embedded.load(Ordering::Relaxed),
        }
    }
}

/// Totals in CPU milliseconds since the engine started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StageTimes {
    pub decode_ms: f64,
    pub scope_ms: f64,
    pub detect_prepare_ms: f64,
    pub detect_inference_ms: f64,
    pub detect_decode_ms: f64,
    pub track_ms: f64,
    pub align_ms: f64,
    pub embed_inference_ms: f64,
    pub embed_other_ms: f64,
    pub match_ms: f64,
    pub alert_ms: f64,
    pub faces_detected: u64,
    pub faces_embedded: u64,
}

impl StageTimes {
    /// CPU time inside ONNX Runtime.
    pub fn inference_ms(&self) -> f64 {
        self.detect_inference_ms + self.embed_inference_ms
    }

    /// CPU time of every stage together.
    pub fn total_ms(&self) -> f64 {
        self.decode_ms
            + self.scope_ms
            + self.detect_prepare_ms
            + self.detect_inference_ms
            + self.detect_decode_ms
            + self.track_ms
            + self.align_ms
            + self.embed_inference_ms
            + self.embed_other_ms
            + self.match_ms
            + self.alert_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_charged_their_own_cpu_time() {
        let c = StageCounters::default();
        c.add(Stage::Decode, Duration::from_millis(3));
        c.add(Stage::EmbedInference, Duration::from_millis(2));
        c.add(Stage::DetectInference, Duration::from_millis(5));
        // A busy loop is charged; a sleep is not. The loop runs 100 ms of wall time, so it gets
        // CPU even on a loaded two-core machine (the bounds below leave room for that).
        c.time(Stage::Match, || {
            let t = std::time::Instant::now();
            while t.elapsed() < Duration::from_millis(100) {
                std::hint::black_box(0);
            }
        });
        c.time(Stage::Alert, || {
            std::thread::sleep(Duration::from_millis(50))
        });
        let s = c.snapshot();
        assert_eq!(s.decode_ms, 3.0);
        assert_eq!(s.inference_ms(), 7.0);
        assert!(s.match_ms >= 10.0, "{}", s.match_ms);
        assert!(s.alert_ms < 10.0, "{}", s.alert_ms);
        assert!(s.match_ms > 2.0 * s.alert_ms, "{s:?}");
        assert!((s.total_ms() - (10.0 + s.match_ms + s.alert_ms)).abs() < 1e-9);
    }
}
