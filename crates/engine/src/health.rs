//! Health and fitness for identification, per camera. Counters are aggregate numbers only: face
//! sizes go into a histogram, never with a time or a position.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;

/// Inter-eye distance buckets, in pixels: under 15, 15-24, 24-40, 40-60, 60-90, 90 and over.
pub const IED_BUCKETS: [f32; 5] = [15.0, 24.0, 40.0, 60.0, 90.0];
/// Inter-eye distance from which a face counts as large enough for identification. SFace works on
/// 112x112 crops whose eyes are 35 px apart; faces much smaller than that are upscaled guesses.
pub const IDENTIFIABLE_IED: f32 = 24.0;

/// What the engine counts for one camera.
#[derive(Debug)]
pub struct CameraStats {
    started: Instant,
    pub connected: AtomicBool,
    connected_ms: AtomicU64,
    connected_since: Mutex<Option<Instant>>,
    pub frames_in: AtomicU64,
    pub frames_processed: AtomicU64,
    pub frames_unscoped: AtomicU64,
    pub frames_dropped: AtomicU64,
    pub frames_skipped: AtomicU64,
    pub reconnects: AtomicU64,
    pub alerts: AtomicU64,
    /// Face views the tracker picked that fell below the match-time quality gate.
    pub faces_below_quality: AtomicU64,
    /// Face tracks started while analysed: passers-by, counted and never kept.
    pub tracks_started: AtomicU64,
    last_frame_ms: AtomicU64,
    last_analysed_ms: AtomicU64,
    resolution: Mutex<Option<(usize, usize)>>,
    ied: Mutex<[u64; 6]>,
    last_error: Mutex<Option<String>>,
}

impl Default for CameraStats {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            connected: AtomicBool::new(false),
            connected_ms: AtomicU64::new(0),
            connected_since: Mutex::new(None),
            frames_in: AtomicU64::new(0),
            frames_processed: AtomicU64::new(0),
            frames_unscoped: AtomicU64::new(0),
            frames_dropped: AtomicU64::new(0),
            frames_skipped: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            alerts: AtomicU64::new(0),
            faces_below_quality: AtomicU64::new(0),
            tracks_started: AtomicU64::new(0),
            last_frame_ms: AtomicU64::new(0),
            last_analysed_ms: AtomicU64::new(0),
            resolution: Mutex::new(None),
            ied: Mutex::new([0; 6]),
            last_error: Mutex::new(None),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl CameraStats {
    pub fn set_connected(&self, up: bool) {
        let mut since = lock(&self.connected_since);
        match (up, *since) {
            (true, None) => *since = Some(Instant::now()),
            (false, Some(t)) => {
                self.connected_ms
                    .fetch_add(t.elapsed().as_millis() as u64, Ordering::Relaxed);
                *since = None;
            }
            _ => {}
        }
        self.connected.store(up, Ordering::Relaxed);
    }

    pub fn frame_in(&self, width: usize, height: usize, wall_ms: i64) {
        self.frames_in.fetch_add(1, Ordering::Relaxed);
        self.last_frame_ms
            .store(wall_ms.max(0) as u64, Ordering::Relaxed);
        *lock(&self.resolution) = Some((width, height));
    }

    /// A frame passed the scope gate now (wall clock; read after the gate decided): the evidence
    /// that matching stopped when the scope did.
    pub fn analysed_now(&self) -> u64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.last_analysed_ms.store(now, Ordering::Relaxed);
        now
    }

    /// What went wrong last (shown in health; never holds image data).
    pub fn set_error(&self, message: String) {
        *lock(&self.last_error) = Some(message);
    }

    pub fn face(&self, inter_eye_px: f32) {
        let b = IED_BUCKETS.iter().filter(|&&e| inter_eye_px >= e).count();
        lock(&self.ied)[b] += 1;
    }

    pub fn snapshot(&self, id: &str, min_frames_for_verdict: u64) -> CameraHealth {
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-3);
        let mut up_ms = self.connected_ms.load(Ordering::Relaxed) as f64;
        if let Some(t) = *lock(&self.connected_since) {
            up_ms += t.elapsed().as_millis() as f64;
        }
        let ied = *lock(&self.ied);
        let faces: u64 = ied.iter().sum();
        let identifiable: u64 = ied[2..].iter().sum();
        let last = self.last_frame_ms.load(Ordering::Relaxed);
        let analysed = self.last_analysed_ms.load(Ordering::Relaxed);
        let mut h = CameraHealth {
            camera: id.to_string(),
            connected: self.connected.load(Ordering::Relaxed),
            last_frame_at: (last > 0).then_some(last as i64),
            last_analysed_at: (analysed > 0).then_some(analysed as i64),
            availability_pct: (100.0 * up_ms / (elapsed * 1000.0)).min(100.0),
            input_fps: self.frames_in.load(Ordering::Relaxed) as f64 / elapsed,
            processed_fps: self.frames_processed.load(Ordering::Relaxed) as f64 / elapsed,
            frames_in: self.frames_in.load(Ordering::Relaxed),
            frames_processed: self.frames_processed.load(Ordering::Relaxed),
            frames_unscoped: self.frames_unscoped.load(Ordering::Relaxed),
            frames_dropped: self.frames_dropped.load(Ordering::Relaxed),
            frames_skipped: self.frames_skipped.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            alerts: self.alerts.load(Ordering::Relaxed),
            faces_below_quality: self.faces_below_quality.load(Ordering::Relaxed),
            tracks_started: self.tracks_started.load(Ordering::Relaxed),
            resolution: *lock(&self.resolution),
            faces_seen: faces,
            inter_eye_histogram: ied,
            identifiable_share: (faces > 0).then(|| identifiable as f64 / faces as f64),
            fitness: Fitness::Unknown,
            reasons: Vec::new(),
            last_error: lock(&self.last_error).clone(),
        };
        let (fitness, reasons) = judge(&h, min_frames_for_verdict);
        h.fitness = fitness;
        h.reasons = reasons;
        h
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fitness {
    Fit,
    Unfit,
    Unknown,
}

/// A camera's health and whether it is fit for identification, with the reasons.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CameraHealth {
    pub camera: String,
    pub connected: bool,
    pub last_frame_at: Option<i64>,
    /// When a frame last passed the scope gate (ms since the epoch): matching needs a scope.
    pub last_analysed_at: Option<i64>,
    pub availability_pct: f64,
    pub input_fps: f64,
    pub processed_fps: f64,
    pub frames_in: u64,
    pub frames_processed: u64,
    /// Frames not analysed because no active permit covers the camera.
    pub frames_unscoped: u64,
    /// Frames dropped on purpose because analysis fell behind.
    pub frames_dropped: u64,
    /// Frames decoded but passed over because the camera's analysis rate was already met; the
    /// tracker carries faces across them.
    pub frames_skipped: u64,
    pub reconnects: u64,
    pub alerts: u64,
    /// Face views picked for matching that fell below the match-time quality gate and were not
    /// matched (too small, blurred, turned away or uncertain); a track is asked again on its next
    /// analysed frame, so one person can count several times.
    pub faces_below_quality: u64,
    /// Face tracks started while analysed: passers-by (one who leaves and comes back counts
    /// twice), counted only while a permit covers the camera.
    pub tracks_started: u64,
    /// `[width, height]` in pixels.
    #[schema(value_type = Option<Vec<u64>>)]
    pub resolution: Option<(usize, usize)>,
    pub faces_seen: u64,
    /// Faces per inter-eye distance bucket (see [`IED_BUCKETS`]).
    pub inter_eye_histogram: [u64; 6],
    pub identifiable_share: Option<f64>,
    pub fitness: Fitness,
    pub reasons: Vec<String>,
    pub last_error: Option<String>,
}

/// The fitness verdict: what the police may demand of a partner's camera. Each shortfall is a
/// reason; with too little evidence the verdict is unknown, never a guess.
pub fn judge(h: &CameraHealth, min_frames: u64) -> (Fitness, Vec<String>) {
    let mut unfit = Vec::new();
    let mut unknown = Vec::new();
    if h.availability_pct < 95.0 {
        unfit.push(format!(
            "available {:.1} % of the time (needs 95 %)",
            h.availability_pct
        ));
    }
    match h.resolution {
        Some((w, hgt)) if w * hgt < 1280 * 720 => {
            unfit.push(format!("resolution {w}x{hgt} is under 1280x720"))
        }
        Some(_) => {}
        None => unknown.push("no frame received yet".to_string()),
    }
    if h.frames_in >= min_frames && h.input_fps < 5.0 {
        unfit.push(format!("delivers {:.1} frames/s (needs 5)", h.input_fps));
    }
    match h.identifiable_share {
        Some(s) if h.faces_seen >= 20 && s < 0.5 => unfit.push(format!(
            "only {:.0} % of faces have eyes {IDENTIFIABLE_IED} px apart or more (needs 50 %)",
            100.0 * s
        )),
        Some(_) if h.faces_seen >= 20 => {}
        _ => unknown.push(format!(
            "{} faces analysed; face sizes are only measured while a permit covers the camera",
            h.faces_seen
        )),
    }
    if !unfit.is_empty() {
        (Fitness::Unfit, unfit)
    } else if !unknown.is_empty() {
        (Fitness::Unknown, unknown)
    } else {
        (
            Fitness::Fit,
            vec!["meets availability, resolution, frame rate and face size".into()],
        )
    }
}

/// Turns the engine's cumulative camera health into per-interval samples for the store's days
/// ([`mandat_store::camera_days`]): counts since the last sample, and the verdict now.
#[derive(Debug, Default)]
pub struct HealthSampler {
    last: std::collections::HashMap<String, (u64, u64, u64, u64)>,
}

impl HealthSampler {
    pub fn sample(
        &mut self,
        health: &[CameraHealth],
    ) -> Vec<mandat_store::camera_days::HealthSample> {
        let mut seen = std::collections::HashMap::new();
        let out = health
            .iter()
            .map(|h| {
                let identifiable: u64 = h.inter_eye_histogram[2..].iter().sum();
                let now = (h.frames_in, h.faces_seen, identifiable, h.tracks_started);
                // A camera restarted counts from zero again: its counts are all new.
                let (f0, s0, i0, t0) = match self.last.get(&h.camera) {
                    Some(&(f, s, i, t)) if f <= now.0 && s <= now.1 && i <= now.2 && t <= now.3 => {
                        (f, s, i, t)
                    }
                    _ => (0, 0, 0, 0),
                };
                seen.insert(h.camera.clone(), now);
                mandat_store::camera_days::HealthSample {
                    camera: h.camera.clone(),
                    connected: h.connected,
                    frames_in: now.0 - f0,
                    faces_seen: now.1 - s0,
                    faces_identifiable: now.2 - i0,
                    passers_by: now.3 - t0,
                    fitness: match h.fitness {
                        Fitness::Fit => "fit",
                        Fitness::Unfit => "unfit",
                        Fitness::Unknown => "unknown",
                    }
                    .into(),
                    reasons: h.reasons.clone(),
                }
            })
            .collect();
        self.last = seen;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> CameraHealth {
        CameraHealth {
            camera: "c".into(),
            connected: true,
            last_frame_at: Some(1),
            last_analysed_at: Some(1),
            availability_pct: 99.0,
            input_fps: 25.0,
            processed_fps: 25.0,
            frames_in: 1000,
            frames_processed: 1000,
            frames_unscoped: 0,
            frames_dropped: 0,
            frames_skipped: 0,
            reconnects: 0,
            alerts: 0,
            faces_below_quality: 0,
            tracks_started: 40,
            resolution: Some((1920, 1080)),
            faces_seen: 100,
            inter_eye_histogram: [0, 10, 50, 40, 0, 0],
            identifiable_share: Some(0.9),
            fitness: Fitness::Unknown,
            reasons: vec![],
            last_error: None,
        }
    }

    #[test]
    fn verdicts_with_reasons() {
        assert_eq!(judge(&healthy(), 100).0, Fitness::Fit);
        let mut h = healthy();
        h.availability_pct = 80.0;
        h.resolution = Some((640, 480));
        let (f, r) = judge(&h, 100);
        assert_eq!(f, Fitness::Unfit);
        assert_eq!(r.len(), 2, "{r:?}");
        let mut h = healthy();
        h.faces_seen = 3;
        let (f, r) = judge(&h, 100);
        assert_eq!(f, Fitness::Unknown);
        assert!(r[0].contains("permit"), "{r:?}");
        let mut h = healthy();
        h.identifiable_share = Some(0.2);
        assert_eq!(judge(&h, 100).0, Fitness::Unfit);
    }

    #[test]
    fn samples_are_differences_and_survive_a_restart() {
        let mut s = HealthSampler::default();
        let mut h = healthy();
        h.fitness = Fitness::Fit;
        let first = s.sample(std::slice::from_ref(&h));
        assert_eq!((first[0].frames_in, first[0].faces_seen), (1000, 100));
        assert_eq!(first[0].faces_identifiable, 90);
        assert_eq!(first[0].passers_by, 40);
        h.frames_in = 1250;
        h.faces_seen = 110;
        h.inter_eye_histogram[3] += 10;
        h.tracks_started = 43;
        h.fitness = Fitness::Unfit;
        let second = s.sample(std::slice::from_ref(&h));
        assert_eq!((second[0].frames_in, second[0].faces_seen), (250, 10));
        assert_eq!(second[0].faces_identifiable, 10);
        assert_eq!(second[0].passers_by, 3);
        assert_eq!(second[0].fitness, "unfit");
        // Restarted: counters from zero.
        h.frames_in = 40;
        h.faces_seen = 2;
        h.inter_eye_histogram = [0, 0, 2, 0, 0, 0];
        h.tracks_started = 1;
        let third = s.sample(std::slice::from_ref(&h));
        assert_eq!((third[0].frames_in, third[0].faces_seen), (40, 2));
    }

    #[test]
    fn stats_count_and_bucket() {
        let s = CameraStats::default();
        s.set_connected(true);
        s.frame_in(1280, 720, 5);
        for ied in [10.0, 20.0, 30.0, 100.0] {
            s.face(ied);
        }
        let h = s.snapshot("c", 10);
        assert_eq!(h.inter_eye_histogram, [1, 1, 1, 0, 0, 1]);
        assert_eq!(h.identifiable_share, Some(0.5));
        assert_eq!(h.resolution, Some((1280, 720)));
        assert!(h.connected);
    }
}
