//! The live engine: cameras in, candidate alerts out.
//!
//! Each camera has its own source thread (decode, reconnect with backoff and jitter) that leaves its
//! newest frame in a one-frame slot. A pool of analysis workers, each with its own ONNX Runtime
//! sessions, takes frames from the cameras in turn. A slow or dead camera therefore never stalls
//! the others, and when analysis falls behind, a live camera's older frame is dropped and counted
//! rather than queued: memory stays bounded by the number of cameras.
//!
//! The path of a frame ([`Engine`] → `process`):
//! 1. **Scope gate**: `ScopeSource::watchlist(camera)`. Empty: no detection at all; only counters.
//! 2. **Detect** (YuNet) and **track** ([`tracker`]): one track per person walking past.
//! 3. **Embed** the track's best frames (SFace), at most a few per track.
//! 4. **Match** against the watchlist, each permit at its own threshold.
//! 5. **Candidate alert** through `AlertSink`: permit, person, camera, time, score, threshold,
//!    watchlist version, the probe crop and the frame with every other face pixelated.
//!
//! Before step 1, a camera's source hands on only the frames due at the configured analysis rate
//! ([`EngineConfig::analysis_gap`]); the others are decoded (H.264 needs them) and counted.
//!
//! A frame ends in step 1 or step 5; frames, crops and embeddings wipe themselves when dropped, and
//! nothing about a face that matched nobody is written anywhere.

pub mod health;
pub mod stages;
pub mod tracker;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mandat_control::{AlertSink, ScopeSource};
use mandat_face::vector::dot;
use mandat_face::{
    AlignedFace, Detection, DetectorConfig, InferenceConfig, Pipeline, QualityGate, RgbImage,
    Runtime,
};
use mandat_law::{Clock, Timestamp};
use mandat_store::alerts::NewAlert;
use mandat_video::{DecoderChoice, FrameSource, Mp4Camera, Pace, VideoFrame};

pub use health::{CameraHealth, CameraStats, Fitness, HealthSampler};
pub use stages::{Stage, StageCounters, StageTimes};
pub use tracker::{Tracker, TrackerConfig};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("loading the face models for an engine worker: {0}")]
    Models(#[from] mandat_face::FaceError),
    #[error("camera {camera}: {message}")]
    Camera { camera: String, message: String },
    #[error("cannot start an engine thread: {0}")]
    Thread(std::io::Error),
}

/// Where a camera's frames come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// An MP4/H.264 file replayed as a camera.
    File {
        path: PathBuf,
        pace: Pace,
        looping: bool,
    },
    /// A live RTSP stream (TCP).
    Rtsp { url: String },
}

impl SourceSpec {
    /// From a camera's stream URL: `rtsp://...`, or a file path (optionally `file://`), replayed in
    /// a loop at real-time pace as a live camera would deliver it.
    pub fn from_url(url: &str) -> SourceSpec {
        if url.starts_with("rtsp://") || url.starts_with("rtsps://") {
            SourceSpec::Rtsp { url: url.into() }
        } else {
            SourceSpec::File {
                path: PathBuf::from(url.strip_prefix("file://").unwrap_or(url)),
                pace: Pace::RealTime,
                looping: true,
            }
        }
    }

    fn open(&self, decoder: DecoderChoice) -> Result<Box<dyn FrameSource>, String> {
        match self {
            SourceSpec::File {
                path,
                pace,
                looping,
            } => Mp4Camera::open(path, *pace, *looping, decoder)
                .map(|c| Box::new(c) as Box<dyn FrameSource>)
                .map_err(|e| e.to_string()),
            SourceSpec::Rtsp { url } => mandat_video::rtsp::RtspCamera::open(url, decoder)
                .map(|c| Box::new(c) as Box<dyn FrameSource>)
                .map_err(|e| e.to_string()),
        }
    }

    /// Files replayed as fast as possible must not lose frames: their source waits for the
    /// analysis instead of dropping. Live sources drop.
    fn lossless(&self) -> bool {
        matches!(
            self,
            SourceSpec::File {
                pace: Pace::Fast,
                ..
            }
        )
    }
}

#[derive(Debug, Clone)]
pub struct CameraSpec {
    pub id: String,
    pub source: SourceSpec,
}

#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    /// Analysis workers, each with its own model sessions.
    pub workers: usize,
    pub detector: DetectorConfig,
    pub inference: InferenceConfig,
    pub tracker: TrackerConfig,
    /// Media time that must pass between two analysed frames of one camera; the frames between are
    /// decoded (H.264 needs them) but not analysed, and the tracker carries faces across the gap.
    /// Zero analyses every frame.
    pub analysis_gap: Duration,
    /// First reconnect delay; it doubles up to `max_backoff`, with ±25 % jitter.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Which decoder cameras are opened with; a camera it cannot decode fails to open, with why.
    pub decoder: DecoderChoice,
    /// Faces below this gate are neither embedded nor matched, only counted in camera health.
    /// `None` matches every face the tracker chooses.
    pub match_gate: Option<QualityGate>,
    /// Also match each track's fused template (the quality-weighted mean of its embedded views)
    /// once it has two views, alongside every single view.
    pub track_fusion: bool,
}

/// Frames analysed per second per camera in the shipped settings ([`EngineConfig::live`]).
pub const LIVE_ANALYSIS_FPS: f64 = 5.0;
/// Longest side the detector sees of a camera frame in the shipped settings: 1080p at full size.
pub const LIVE_MAX_SIDE: usize = 1920;

impl EngineConfig {
    /// `on` or `off`, for logs and reports.
    pub fn match_gate_state(&self) -> &'static str {
        if self.match_gate.is_some() {
            "on"
        } else {
            "off"
        }
    }

    /// The settings `mandat serve` runs cameras with: YuNet at the frame's full resolution (it finds
    /// the small faces of a street scene that a 640 letterbox loses) on at most
    /// [`LIVE_ANALYSIS_FPS`] frames per second per camera, the tracker carrying faces between them.
    /// `mandat bench` measures these against OpenCV's pipeline; `tests/e2e.rs` holds their recall.
    pub fn live() -> Self {
        Self {
            detector: DetectorConfig {
                size: mandat_face::DetectSize::Native {
                    max_side: LIVE_MAX_SIDE,
                },
                ..DetectorConfig::default()
            },
            analysis_gap: Duration::from_secs_f64(1.0 / LIVE_ANALYSIS_FPS),
            match_gate: Some(QualityGate::MATCH),
            ..Self::default()
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            workers: 1,
            detector: DetectorConfig::default(),
            inference: InferenceConfig::default(),
            tracker: TrackerConfig::default(),
            analysis_gap: Duration::ZERO,
            min_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            decoder: DecoderChoice::Auto,
            match_gate: None,
            track_fusion: false,
        }
    }
}

/// Verified model files and the loaded runtime.
#[derive(Clone)]
pub struct Models {
    pub runtime: Runtime,
    pub detector: PathBuf,
    pub embedder: PathBuf,
}

struct Captured {
    frame: VideoFrame,
    wall: Option<Timestamp>,
}

/// One camera's place in the schedule: its newest frame not yet taken, and whether a worker is on
/// it. Slots are keyed by the camera, never by position, so cameras come and go while it runs.
struct Slot {
    cam: Arc<Camera>,
    pending: Option<Captured>,
    busy: bool,
}

struct Sched {
    slots: Vec<Slot>,
}

impl Sched {
    fn slot(&mut self, cam: &Arc<Camera>) -> Option<&mut Slot> {
        self.slots.iter_mut().find(|s| Arc::ptr_eq(&s.cam, cam))
    }
}

struct Camera {
    id: String,
    spec: SourceSpec,
    stats: CameraStats,
    tracker: Mutex<Tracker>,
    ended: AtomicBool,
    /// Set when the camera leaves the engine: its source closes the stream and its thread ends.
    removed: AtomicBool,
}

impl Camera {
    fn stopping(&self, s: &Shared) -> bool {
        s.stop.load(Ordering::Acquire) || self.removed.load(Ordering::Acquire)
    }
}

struct Shared {
    sched: Mutex<Sched>,
    cv: Condvar,
    stop: AtomicBool,
    scope: Arc<dyn ScopeSource>,
    sink: Arc<dyn AlertSink>,
    clock: Arc<dyn Clock>,
    cfg: EngineConfig,
    stages: StageCounters,
    /// When any frame last passed the scope gate (ms since the epoch), kept when cameras go.
    last_analysed_ms: AtomicU64,
}

impl Shared {
    fn sched(&self) -> std::sync::MutexGuard<'_, Sched> {
        self.sched.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running engine. Dropping it stops it.
pub struct Engine {
    shared: Arc<Shared>,
    /// Source threads (by camera) and analysis threads; joined when the engine stops.
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Faces embedded in one call at most.
pub const MAX_EMBED_BATCH: usize = 8;

/// Frames are large (6 MB at 1080p) and made and freed at 25 per second per camera, across
/// threads. glibc then raises its mmap threshold and serves them from per-thread arenas, which
/// fragment and let the resident size creep up for a long time. A fixed threshold keeps every
/// frame in its own mapping, returned to the system when the frame is dropped.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: mallopt only changes allocator tuning; called once, before the engine's threads.
        ONCE.call_once(|| unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        });
    }
}

impl Engine {
    /// Start `cfg.workers` analysis workers and one source thread per camera of `cameras`;
    /// [`Engine::set_cameras`] changes the set later.
    pub fn start(
        cfg: EngineConfig,
        models: &Models,
        cameras: Vec<CameraSpec>,
        scope: Arc<dyn ScopeSource>,
        sink: Arc<dyn AlertSink>,
        clock: Arc<dyn Clock>,
    ) -> Result<Engine, EngineError> {
        tune_allocator();
        let shared = Arc::new(Shared {
            sched: Mutex::new(Sched { slots: Vec::new() }),
            cv: Condvar::new(),
            stop: AtomicBool::new(false),
            scope,
            sink,
            clock,
            cfg,
            stages: StageCounters::default(),
            last_analysed_ms: AtomicU64::new(0),
        });
        // Load every worker's models before any camera starts, so a model error fails the start,
        // and run the largest embedding batch once, so each session's memory is taken up front.
        let mut pipelines = Vec::new();
        for _ in 0..cfg.workers.max(1) {
            let mut pipe = Pipeline::new(
                &models.runtime,
                &models.detector,
                &models.embedder,
                cfg.detector,
                cfg.inference,
            )?;
            let blank: Vec<AlignedFace> = (0..MAX_EMBED_BATCH)
                .map(|_| AlignedFace {
                    pixels: vec![
                        0.0;
                        3 * mandat_face::embedder::CROP * mandat_face::embedder::CROP
                    ],
                    transform: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
                })
                .collect();
            pipe.embedder.embed(&blank.iter().collect::<Vec<_>>())?;
            pipelines.push(pipe);
        }
        let engine = Engine {
            shared: shared.clone(),
            threads: Mutex::new(Vec::new()),
        };
        for (w, mut pipe) in pipelines.into_iter().enumerate() {
            let s = shared.clone();
            let t = std::thread::Builder::new()
                .name(format!("analysis-{w}"))
                .spawn(move || worker_loop(&s, &mut pipe))
                .map_err(EngineError::Thread)?;
            engine.threads().push(t);
        }
        engine.set_cameras(cameras)?;
        Ok(engine)
    }

    fn threads(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.threads.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Run exactly these cameras from now on. A camera that is new, or whose source changed, is
    /// connected; one that is no longer listed leaves at once: its frame not yet analysed is
    /// wiped, a frame being analysed raises no alert, and its source thread closes the stream and
    /// ends as soon as its current read returns (a stalled RTSP read or connect takes up to
    /// `mandat_video::rtsp::STALL` or `CONNECT`). Cameras listed before and now run on untouched.
    pub fn set_cameras(&self, cameras: Vec<CameraSpec>) -> Result<(), EngineError> {
        let mut started = Vec::new();
        {
            let mut g = self.shared.sched();
            g.slots.retain(|slot| {
                let keep = cameras
                    .iter()
                    .any(|c| c.id == slot.cam.id && c.source == slot.cam.spec);
                if !keep {
                    slot.cam.removed.store(true, Ordering::Release);
                    slot.cam.stats.set_connected(false);
                }
                keep
            });
            for c in cameras {
                if g.slots.iter().any(|s| s.cam.id == c.id) {
                    continue;
                }
                let cam = Arc::new(Camera {
                    id: c.id,
                    spec: c.source,
                    stats: CameraStats::default(),
                    tracker: Mutex::new(Tracker::new(self.shared.cfg.tracker)),
                    ended: AtomicBool::new(false),
                    removed: AtomicBool::new(false),
                });
                g.slots.push(Slot {
                    cam: cam.clone(),
                    pending: None,
                    busy: false,
                });
                started.push(cam);
            }
        }
        self.shared.cv.notify_all();
        let mut threads = self.threads();
        // Threads of cameras removed earlier that have ended by now.
        threads.retain(|t| !t.is_finished());
        let mut failed = None;
        for cam in started {
            let s = self.shared.clone();
            let name = format!("source-{}", cam.id);
            let c = cam.clone();
            match std::thread::Builder::new()
                .name(name)
                .spawn(move || source_loop(&s, &c))
            {
                Ok(t) => threads.push(t),
                Err(e) => {
                    // The camera is not left listed as if it ran.
                    cam.removed.store(true, Ordering::Release);
                    self.shared
                        .sched()
                        .slots
                        .retain(|s| !Arc::ptr_eq(&s.cam, &cam));
                    failed.get_or_insert(EngineError::Thread(e));
                }
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// The cameras the engine runs now.
    pub fn cameras(&self) -> Vec<String> {
        self.shared
            .sched()
            .slots
            .iter()
            .map(|s| s.cam.id.clone())
            .collect()
    }

    pub fn health(&self) -> Vec<CameraHealth> {
        self.shared
            .sched()
            .slots
            .iter()
            .map(|s| s.cam.stats.snapshot(&s.cam.id, 100))
            .collect()
    }

    /// When a frame of any camera last passed the scope gate, before detection or again before
    /// matching (ms since the epoch): the evidence that matching stopped when the scope did,
    /// which outlives the cameras' own counters.
    pub fn last_analysed_at(&self) -> Option<i64> {
        let t = self.shared.last_analysed_ms.load(Ordering::Relaxed);
        (t > 0).then_some(t as i64)
    }

    /// CPU time per stage and faces counted since the start, over every camera.
    pub fn stages(&self) -> StageTimes {
        self.shared.stages.snapshot()
    }

    /// Whether every camera's source has ended (files not looping) and every frame is analysed.
    pub fn is_done(&self) -> bool {
        let s = self.shared.sched();
        s.slots
            .iter()
            .all(|s| s.cam.ended.load(Ordering::Acquire) && s.pending.is_none() && !s.busy)
    }

    /// Wait until [`Engine::is_done`] or the timeout; true when done.
    pub fn wait_done(&self, timeout: Duration) -> bool {
        let t = Instant::now();
        while t.elapsed() < timeout {
            if self.is_done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.is_done()
    }

    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.cv.notify_all();
        let threads: Vec<_> = self.threads().drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
        // Frames still waiting are wiped as they drop.
        self.shared
            .sched()
            .slots
            .iter_mut()
            .for_each(|s| s.pending = None);
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.halt();
    }
}

fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 2];
    let r = getrandom::fill(&mut b)
        .map(|_| u16::from_le_bytes(b))
        .unwrap_or(0);
    // Between 75 % and 125 %, so cameras that fell together do not reconnect together.
    d.mul_f64(0.75 + 0.5 * r as f64 / u16::MAX as f64)
}

fn sleep_unless_stopped(s: &Shared, cam: &Camera, d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d && !cam.stopping(s) {
        std::thread::sleep(Duration::from_millis(20).min(d));
    }
}

fn source_loop(s: &Shared, cam: &Arc<Camera>) {
    let mut backoff = s.cfg.min_backoff;
    let lossless = cam.spec.lossless();
    while !cam.stopping(s) {
        let mut src = match cam.spec.open(s.cfg.decoder) {
            Ok(src) => {
                tracing::info!(camera = %cam.id, decoder = src.decoder(), "camera opened");
                src
            }
            Err(e) => {
                tracing::warn!(camera = %cam.id, "cannot open: {e}");
                cam.stats.set_error(e);
                cam.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                sleep_unless_stopped(s, cam, jitter(backoff));
                backoff = (backoff * 2).min(s.cfg.max_backoff);
                continue;
            }
        };
        cam.stats.set_connected(true);
        let mut got_frames = false;
        // Media time of the last frame handed to analysis; a new connection starts afresh.
        let mut last_due = i64::MIN;
        loop {
            if cam.stopping(s) {
                // The stream closes as `src` drops.
                cam.stats.set_connected(false);
                return;
            }
            match s.stages.time(Stage::Decode, || src.next_frame()) {
                Ok(Some(frame)) => {
                    if !got_frames {
                        got_frames = true;
                        backoff = s.cfg.min_backoff;
                    }
                    let wall = s.clock.now();
                    cam.stats.frame_in(
                        frame.image.width,
                        frame.image.height,
                        wall.map_or(0, |t| t.0),
                    );
                    // Frames between analyses never reach a worker: they cost their decoding
                    // only, and a busy worker drops only frames that were due.
                    if !due(s.cfg.analysis_gap, &mut last_due, frame.media_ms) {
                        cam.stats.frames_skipped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    put(s, cam, Captured { frame, wall }, lossless);
                }
                Ok(None) => {
                    // A file that does not loop has ended: the camera is done.
                    cam.stats.set_connected(false);
                    cam.ended.store(true, Ordering::Release);
                    s.cv.notify_all();
                    return;
                }
                Err(e) => {
                    tracing::warn!(camera = %cam.id, "stream error: {e}");
                    cam.stats.set_error(e.to_string());
                    cam.stats.set_connected(false);
                    cam.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                    cam.tracker
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clear();
                    sleep_unless_stopped(s, cam, jitter(backoff));
                    backoff = (backoff * 2).min(s.cfg.max_backoff);
                    break;
                }
            }
        }
    }
    cam.stats.set_connected(false);
}

/// Leave a frame in the camera's one-frame slot. A live camera replaces a frame not yet taken (and
/// counts it as dropped); a lossless replay waits for the slot to empty. A camera no longer in the
/// engine has no slot: its frame is wiped.
fn put(s: &Shared, cam: &Arc<Camera>, c: Captured, lossless: bool) {
    let mut g = s.sched();
    if lossless {
        while g.slot(cam).is_some_and(|slot| slot.pending.is_some()) && !cam.stopping(s) {
            g =
                s.cv.wait_timeout(g, Duration::from_millis(50))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
        }
    }
    let Some(slot) = g.slot(cam) else {
        return;
    };
    if slot.pending.replace(c).is_some() {
        cam.stats.frames_dropped.fetch_add(1, Ordering::Relaxed);
    }
    drop(g);
    s.cv.notify_all();
}

fn worker_loop(s: &Shared, pipe: &mut Pipeline) {
    let mut next = 0;
    loop {
        let (cam, captured) = {
            let mut g = s.sched();
            loop {
                if s.stop.load(Ordering::Acquire) {
                    return;
                }
                // Round robin over the cameras as they are now.
                let n = g.slots.len();
                let found = (0..n)
                    .map(|k| (next + k) % n)
                    .find(|&i| !g.slots[i].busy && g.slots[i].pending.is_some());
                if let Some(i) = found {
                    let slot = &mut g.slots[i];
                    slot.busy = true;
                    next = i + 1;
                    break (slot.cam.clone(), slot.pending.take().expect("checked"));
                }
                g =
                    s.cv.wait_timeout(g, Duration::from_millis(50))
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
            }
        };
        s.cv.notify_all();
        process(s, &cam, captured, pipe);
        if let Some(slot) = s.sched().slot(&cam) {
            slot.busy = false;
        }
        s.cv.notify_all();
    }
}

/// Steps 1 to 5 for one frame.
fn process(s: &Shared, cam: &Camera, cap: Captured, pipe: &mut Pipeline) {
    let mut tracker = cam.tracker.lock().unwrap_or_else(|e| e.into_inner());
    // 1. Scope gate: no permit, no analysis; nor for a camera taken out of the engine meanwhile.
    let wl = s.stages.time(Stage::Scope, || s.scope.watchlist(&cam.id));
    if wl.is_empty() || cam.removed.load(Ordering::Acquire) {
        cam.stats.frames_unscoped.fetch_add(1, Ordering::Relaxed);
        tracker.clear();
        return;
    }
    let at = cam.stats.analysed_now();
    s.last_analysed_ms.fetch_max(at, Ordering::Relaxed);
    let img = &cap.frame.image;
    // 2. Detect and track.
    let dets = match pipe.detector.detect(img) {
        Ok(d) => d,
        Err(e) => {
            cam.stats.set_error(e.to_string());
            return;
        }
    };
    let t = pipe.detector.last_timing;
    s.stages.add(Stage::DetectPrepare, t.preprocess);
    s.stages.add(Stage::DetectInference, t.inference);
    s.stages.add(Stage::DetectDecode, t.postprocess);
    s.stages
        .faces_detected
        .fetch_add(dets.len() as u64, Ordering::Relaxed);
    cam.stats.frames_processed.fetch_add(1, Ordering::Relaxed);
    for d in &dets {
        cam.stats.face(mandat_face::quality::pose(d).0);
    }
    let started = tracker.started();
    let assigned = s
        .stages
        .time(Stage::Track, || tracker.update(cap.frame.index, &dets));
    cam.stats
        .tracks_started
        .fetch_add(tracker.started() - started, Ordering::Relaxed);
    // 3. Embed the chosen faces of this frame in one batch, those that pass the quality gate.
    let gate = s.cfg.match_gate;
    let chosen: Vec<(usize, AlignedFace)> = s.stages.time(Stage::Align, || {
        assigned
            .iter()
            .enumerate()
            .filter(|(_, a)| a.embed)
            .filter_map(|(k, _)| Some((k, mandat_face::align(img, &dets[k].landmarks).ok()?)))
            .filter(|(k, face)| {
                let pass =
                    gate.is_none_or(|g| g.passes(&mandat_face::quality::assess(&dets[*k], face)));
                if !pass {
                    cam.stats
                        .faces_below_quality
                        .fetch_add(1, Ordering::Relaxed);
                }
                pass
            })
            .collect()
    });
    // Only an embedded face spends its track's budget: one turned away by the gate leaves room
    // for a better view of the same person.
    for (k, _) in &chosen {
        tracker.embedded(assigned[*k].track, cap.frame.index, assigned[*k].quality);
    }
    if chosen.is_empty() {
        return;
    }
    let refs: Vec<&AlignedFace> = chosen.iter().map(|(_, f)| f).collect();
    let mut embeddings = Vec::with_capacity(refs.len());
    // Bounded batches keep ONNX Runtime's memory arena at the size the warm-up gave it.
    for batch in refs.chunks(MAX_EMBED_BATCH) {
        let t = stages::thread_cpu_time();
        let r = pipe.embedder.embed(batch);
        let inference = pipe.embedder.last_inference;
        s.stages.add(Stage::EmbedInference, inference);
        s.stages.add(
            Stage::EmbedOther,
            stages::thread_cpu_time()
                .saturating_sub(t)
                .saturating_sub(inference),
        );
        match r {
            Ok(e) => {
                s.stages
                    .faces_embedded
                    .fetch_add(e.len() as u64, Ordering::Relaxed);
                embeddings.extend(e)
            }
            Err(e) => {
                cam.stats.set_error(e.to_string());
                return;
            }
        }
    }
    // The scope again, now: a grant that lapsed while detecting and embedding matches nothing.
    let wl = s.stages.time(Stage::Scope, || s.scope.watchlist(&cam.id));
    if wl.is_empty() || cam.removed.load(Ordering::Acquire) {
        return;
    }
    let at = cam.stats.analysed_now();
    s.last_analysed_ms.fetch_max(at, Ordering::Relaxed);
    // 4. Match: the best person of each permit, at that permit's threshold; with track fusion
    // the track's fused template too.
    for ((k, _), emb) in chosen.iter().zip(embeddings.iter()) {
        let fused = s
            .cfg
            .track_fusion
            .then(|| tracker.fuse(assigned[*k].track, emb.as_slice(), assigned[*k].quality))
            .flatten();
        let best = s.stages.time(Stage::Match, || {
            let mut best = best_per_permit(emb.as_slice(), &wl.list);
            if let Some(f) = &fused {
                best.extend(best_per_permit(f.as_slice(), &wl.list));
            }
            best
        });
        // 5. One candidate alert per track, permit and person.
        let t = stages::thread_cpu_time();
        for (e_idx, score) in best {
            let entry = &wl.list.entries[e_idx];
            let key = (entry.permit.clone(), entry.person.clone());
            let Some(track) = tracker.track_mut(assigned[*k].track) else {
                continue;
            };
            if !track.alerted.insert(key) {
                continue;
            }
            let Some(captured_at) = cap.wall else {
                continue;
            };
            if cam.removed.load(Ordering::Acquire) {
                continue;
            }
            let id = match alert_id() {
                Ok(id) => id,
                Err(e) => {
                    tracing::error!(camera = %cam.id, "no alert id: the random source failed ({e})");
                    continue;
                }
            };
            match alert_media(img, &dets, *k) {
                Ok((crop_jpeg, frame_jpeg)) => {
                    cam.stats.alerts.fetch_add(1, Ordering::Relaxed);
                    s.sink.raise(NewAlert {
                        id,
                        permit: entry.permit.clone(),
                        person: entry.person.clone(),
                        camera: cam.id.clone(),
                        captured_at,
                        frame_index: cap.frame.index,
                        score,
                        threshold: entry.threshold,
                        watchlist_version: wl.version(),
                        crop_jpeg,
                        frame_jpeg,
                    });
                }
                Err(e) => {
                    tracing::error!(camera = %cam.id, "cannot encode the alert images: {e}");
                }
            }
        }
        s.stages
            .add(Stage::Alert, stages::thread_cpu_time().saturating_sub(t));
    }
}

/// For each permit of the watchlist, its best-scoring entry at or above that entry's threshold, as
/// (entry index, score). One pass of dot products over every template. `mandat bench` measures it:
/// tens of nanoseconds per template while the templates sit in cache (a thousand cost about 50 µs
/// per face, against some 30 ms to embed it); 100,000 no longer fit and cost milliseconds.
pub fn best_per_permit(
    probe: &[f32],
    list: &mandat_law::Watchlist<Arc<mandat_store::Template>>,
) -> Vec<(usize, f32)> {
    let mut best: Vec<(usize, f32)> = Vec::new();
    for (e_idx, entry) in list.entries.iter().enumerate() {
        let score = dot(probe, &entry.template.values);
        if score < entry.threshold {
            continue;
        }
        match best
            .iter_mut()
            .find(|(b, _)| list.entries[*b].permit == entry.permit)
        {
            Some(slot) if slot.1 >= score => {}
            Some(slot) => *slot = (e_idx, score),
            None => best.push((e_idx, score)),
        }
    }
    best
}

/// Whether a frame at media time `t` is due for analysis, `gap` after the last analysed one. A
/// file that loops or a stream that restarts goes back in time: then it is due at once.
fn due(gap: Duration, last: &mut i64, t: i64) -> bool {
    // Two milliseconds of slack for frame times rounded from the stream's time base.
    let gap = gap.as_millis() as i64 - 2;
    if gap > 0 && *last != i64::MIN && t >= *last && t - *last < gap {
        return false;
    }
    *last = t;
    true
}

/// `A-` and 128 random bits in hex: unique across cameras and, later, worker processes without
/// any coordination, so a retry under the same id is the same hit (the store checks its digest).
/// A failed random source is an error, never an id of zeros.
fn alert_id() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)?;
    Ok(format!("A-{}", hex::encode(b)))
}

/// The probe crop (the face with a margin) and the frame with every other face pixelated, as JPEG.
fn alert_media(
    img: &RgbImage,
    dets: &[Detection],
    k: usize,
) -> Result<(Vec<u8>, Vec<u8>), mandat_face::ImageError> {
    let grow = |d: &Detection, m: f32| {
        let (w, h) = (d.bbox.width(), d.bbox.height());
        (
            (d.bbox.x1 - m * w).max(0.0) as usize,
            (d.bbox.y1 - m * h).max(0.0) as usize,
            (d.bbox.x2 + m * w).max(0.0) as usize,
            (d.bbox.y2 + m * h).max(0.0) as usize,
        )
    };
    let (x1, y1, x2, y2) = grow(&dets[k], 0.4);
    let crop = img.crop(x1, y1, x2, y2)?.to_jpeg(90)?;
    let mut frame = img.clone();
    for (j, d) in dets.iter().enumerate() {
        if j != k {
            let (x1, y1, x2, y2) = grow(d, 0.2);
            let block = ((x2.saturating_sub(x1)) / 5).max(8);
            frame.pixelate(x1, y1, x2, y2, block);
        }
    }
    Ok((crop, frame.to_jpeg(85)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_due_one_gap_apart_in_media_time() {
        let mut last = i64::MIN;
        let gap = Duration::from_millis(200);
        // 25 frames/s: every fifth frame, whatever the rounding of frame times.
        let due_at: Vec<i64> = [0, 40, 80, 120, 160, 199, 240, 280, 320, 360, 400, 440]
            .into_iter()
            .filter(|&t| due(gap, &mut last, t))
            .collect();
        assert_eq!(due_at, vec![0, 199, 400]);
        // A looping file starts again at zero: due at once.
        assert!(due(gap, &mut last, 0));
        assert!(!due(gap, &mut last, 40));
        // No gap: every frame.
        let mut last = i64::MIN;
        assert!((0..10).all(|t| due(Duration::ZERO, &mut last, t * 40)));
    }
}
