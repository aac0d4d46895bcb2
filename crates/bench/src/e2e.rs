//! End to end, mandat against the peer on the same video and the same cores: frames/s, faces/s,
//! CPU per frame and, on the synthetic video, the recall of watchlist appearances.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use mandat_control::{AlertSink, ScopeSource, WatchlistView};
use mandat_engine::{CameraSpec, Engine, EngineConfig, SourceSpec, StageTimes};
use mandat_face::{QualityGate, read_image};
use mandat_law::{SystemClock, WatchEntry, Watchlist};
use mandat_store::Template;
use mandat_store::alerts::NewAlert;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::{cpu_time, rss_bytes};
use mandat_options::{Models, PipelineArgs};

/// The threshold both sides match at: SFace's published cosine (the peer's `--threshold`).
pub const THRESHOLD: f32 = 0.363;

/// The peer script and its pinned requirements, carried in the binary so `mandat bench` needs no
/// checkout.
const PEER_PY: &str = include_str!("../../../scripts/bench/peer.py");
const PEER_REQUIREMENTS: &str = include_str!("../../../scripts/bench/requirements-peer.txt");

/// The same scope for every camera: one permit over the given templates.
pub struct FixedScope(pub WatchlistView);

impl ScopeSource for FixedScope {
    fn watchlist(&self, _camera: &str) -> WatchlistView {
        self.0.clone()
    }
}

/// Alerts kept as (person, camera, frame, capture time in ms); the images are dropped (and wiped).
#[derive(Default)]
pub struct Collect(pub Mutex<Vec<(String, String, u64, i64)>>);

impl AlertSink for Collect {
    fn raise(&self, a: NewAlert) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push((
            a.person.clone(),
            a.camera.clone(),
            a.frame_index,
            a.captured_at.0,
        ));
    }
}

/// Enrol the synthetic video's watchlist photos through the enrolment gate, as `mandat person enrol`
/// does, into one permit's watchlist.
pub fn enrol_watchlist(models: &Models, data: &Path) -> Result<WatchlistView> {
    let dir = data.join("synthetic/watchlist");
    let mut pipe = models.pipeline(&PipelineArgs::reference())?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading the watchlist photos in {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
        .collect();
    files.sort();
    let mut entries = Vec::new();
    for f in files {
        let mut img = read_image(&f)?;
        // Some LFW photos show a second face in the background: crop to the person, as an
        // applicant would (`mandat person enrol --crop`).
        if matches!(
            pipe.reference_template(&img, &QualityGate::ENROLMENT),
            Err(mandat_face::EnrolError::FaceCount(_))
        ) {
            img = img.crop(50, 50, 200, 200)?;
        }
        let face = pipe
            .reference_template(&img, &QualityGate::ENROLMENT)
            .with_context(|| format!("enrolling {}", f.display()))?;
        let person = f
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        entries.push(WatchEntry {
            permit: "bench".into(),
            person: person.clone(),
            threshold: THRESHOLD,
            template: Arc::new(Template {
                id: format!("{person}.t"),
                values: face.embedding.as_slice().to_vec(),
                norm: None,
            }),
        });
    }
    Ok(WatchlistView {
        list: Watchlist { at: None, entries },
    })
}

#[derive(Debug, Clone, Deserialize)]
struct Appearance {
    identity: String,
    on_watchlist: bool,
    first_frame: u64,
    last_frame: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Truth {
    appearances: Vec<Appearance>,
}

impl Truth {
    pub fn load(data: &Path) -> Result<Truth> {
        let p = data.join("synthetic/ground_truth.json");
        serde_json::from_str(
            &std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("parsing {}", p.display()))
    }

    /// Watchlist appearances found by at least one hit (identity, frame) inside them, and hits that
    /// fall in no appearance of their identity.
    pub fn score(&self, hits: &[(String, u64)]) -> Recall {
        let listed: Vec<&Appearance> = self.appearances.iter().filter(|a| a.on_watchlist).collect();
        let inside = |a: &Appearance, (who, f): &(String, u64)| {
            *who == a.identity && a.first_frame <= *f && *f <= a.last_frame
        };
        let found = listed
            .iter()
            .filter(|a| hits.iter().any(|h| inside(a, h)))
            .count();
        let false_hits = hits
            .iter()
            .filter(|h| !listed.iter().any(|a| inside(a, h)))
            .count();
        Recall {
            appearances: listed.len(),
            found,
            recall: found as f64 / listed.len().max(1) as f64,
            false_hits,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Recall {
    pub appearances: usize,
    pub found: usize,
    pub recall: f64,
    /// mandat: alerts; the peer: frames with a hit (it has no tracks).
    pub false_hits: usize,
}

/// One side's run on one video.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub frames: u64,
    pub frames_analysed: u64,
    pub faces_detected: u64,
    pub faces_embedded: u64,
    pub seconds: f64,
    pub frames_per_s: f64,
    pub faces_detected_per_s: f64,
    pub faces_embedded_per_s: f64,
    /// The detector's recall, comparable across the two: faces found per frame it looked at.
    pub faces_per_analysed_frame: f64,
    pub cpu_ms_per_frame: f64,
    /// Alerts raised (mandat only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerts: Option<u64>,
    /// Faces kept from matching by the quality gate (mandat only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faces_below_quality: Option<u64>,
    pub recall: Option<Recall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stages: Option<StageTimes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<f64>,
}

/// mandat's engine on one file replayed as fast as it decodes, lossless, with the watchlist.
pub fn mandat(
    models: &Models,
    cfg: EngineConfig,
    video: &Path,
    watchlist: &WatchlistView,
    truth: Option<&Truth>,
) -> Result<Run> {
    let sink = Arc::new(Collect::default());
    // Models load and warm up inside start; the clock starts after. The engine is fresh, so its
    // stage totals are this run's.
    let engine = Engine::start(
        cfg,
        &models.engine(),
        vec![CameraSpec {
            id: "bench".into(),
            source: SourceSpec::File {
                path: video.to_path_buf(),
                pace: mandat_video::Pace::Fast,
                looping: false,
            },
        }],
        Arc::new(FixedScope(watchlist.clone())),
        sink.clone(),
        Arc::new(SystemClock),
    )?;
    let (cpu0, t0) = (cpu_time(), Instant::now());
    if !engine.wait_done(Duration::from_secs(600)) {
        bail!(
            "the engine did not finish {} within 10 minutes",
            video.display()
        );
    }
    let (seconds, cpu) = (t0.elapsed().as_secs_f64(), cpu_time() - cpu0);
    let health = engine.health().remove(0);
    let stages = engine.stages();
    engine.stop();
    if let Some(e) = &health.last_error {
        bail!("the engine reported an error on {}: {e}", video.display());
    }
    let hits: Vec<(String, u64)> = sink
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(p, _, f, _)| (p.clone(), *f))
        .collect();
    let frames = health.frames_in;
    Ok(Run {
        frames,
        frames_analysed: health.frames_processed,
        faces_detected: stages.faces_detected,
        faces_embedded: stages.faces_embedded,
        seconds,
        frames_per_s: frames as f64 / seconds,
        faces_detected_per_s: stages.faces_detected as f64 / seconds,
        faces_embedded_per_s: stages.faces_embedded as f64 / seconds,
        faces_per_analysed_frame: stages.faces_detected as f64
            / health.frames_processed.max(1) as f64,
        cpu_ms_per_frame: 1e3 * cpu / frames.max(1) as f64,
        alerts: Some(hits.len() as u64),
        faces_below_quality: Some(health.faces_below_quality),
        recall: truth.map(|t| t.score(&hits)),
        stages: Some(stages),
        cpu_ms: Some(1e3 * cpu),
    })
}

/// The peer's Python: `--peer-python` if given, else a virtual environment in mandat's cache with
/// the pinned opencv-python-headless and numpy, made here on first use (pip, `--require-hashes`).
pub fn peer_python(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        if !p.is_file() {
            bail!("--peer-python {}: no such file", p.display());
        }
        return Ok(p.to_path_buf());
    }
    let venv = mandat_models::Store::from_env()?.root().join("peer-venv");
    let python = venv.join("bin/python");
    let stamp = venv.join(".requirements.sha256");
    let want = hex::encode(sha2::Sha256::digest(PEER_REQUIREMENTS.as_bytes()));
    if python.is_file() && std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == want) {
        return Ok(python);
    }
    eprintln!(
        "bench: installing the peer (OpenCV YuNet + SFace, pinned by sha256) into {}",
        venv.display()
    );
    let _ = std::fs::remove_dir_all(&venv);
    let run = |cmd: &mut Command, what: &str| -> Result<()> {
        let out = cmd
            .output()
            .with_context(|| format!("{what}: cannot start it"))?;
        if !out.status.success() {
            bail!(
                "{what} failed: {}. The peer needs Python 3.11 with venv and pip, and PyPI once; \
                 or pass --peer-python, or --no-peer",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    };
    run(
        mandat_models::child_command("python3")
            .args(["-m", "venv"])
            .arg(&venv),
        "python3 -m venv",
    )?;
    let req = venv.join("requirements-peer.txt");
    std::fs::write(&req, PEER_REQUIREMENTS).context("writing the peer's requirements")?;
    run(
        mandat_models::child_command(venv.join("bin/pip"))
            .args([
                "install",
                "-q",
                "--disable-pip-version-check",
                "--no-deps",
                "--only-binary=:all:",
                "--require-hashes",
                "-r",
            ])
            .arg(&req),
        "pip install of the peer's pinned requirements",
    )?;
    std::fs::write(&stamp, &want).context("writing the peer's stamp")?;
    Ok(python)
}

/// The peer on one video, in a child process that inherits this process's cores.
pub fn peer(
    python: &Path,
    models: &Models,
    video: &Path,
    threads: usize,
    data: &Path,
    with_watchlist: bool,
) -> Result<Run> {
    let script = std::env::temp_dir().join(format!("mandat-peer-{}.py", std::process::id()));
    std::fs::write(&script, PEER_PY).context("writing the peer script to the temp directory")?;
    let mut cmd = mandat_models::child_command(python);
    cmd.arg(&script)
        .arg(video)
        .arg("--yunet")
        .arg(&models.detector)
        .arg("--sface")
        .arg(&models.embedder)
        .arg("--threads")
        .arg(threads.to_string())
        .arg("--threshold")
        .arg(THRESHOLD.to_string())
        // One thread in every library the peer loads, as mandat's sessions have.
        .env("OMP_NUM_THREADS", threads.to_string())
        .env("OPENBLAS_NUM_THREADS", threads.to_string());
    if with_watchlist {
        cmd.arg("--watchlist")
            .arg(data.join("synthetic/watchlist"))
            .arg("--truth")
            .arg(data.join("synthetic/ground_truth.json"));
    }
    let out = cmd.output();
    let _ = std::fs::remove_file(&script);
    let out = out.with_context(|| format!("running the peer with {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "the peer failed on {}: {}",
            video.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    #[derive(Deserialize)]
    struct PeerOut {
        frames: u64,
        faces_embedded: u64,
        seconds: f64,
        cpu_ms_per_frame: f64,
        watchlist_appearances: Option<usize>,
        appearances_found: Option<usize>,
        false_hit_frames: Option<usize>,
    }
    let p: PeerOut = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "the peer printed no result: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })?;
    let recall = match (
        p.watchlist_appearances,
        p.appearances_found,
        p.false_hit_frames,
    ) {
        (Some(appearances), Some(found), Some(false_hits)) => Some(Recall {
            appearances,
            found,
            recall: found as f64 / appearances.max(1) as f64,
            false_hits,
        }),
        _ => None,
    };
    Ok(Run {
        frames: p.frames,
        frames_analysed: p.frames,
        // The peer embeds every face it detects.
        faces_detected: p.faces_embedded,
        faces_embedded: p.faces_embedded,
        seconds: p.seconds,
        frames_per_s: p.frames as f64 / p.seconds,
        faces_detected_per_s: p.faces_embedded as f64 / p.seconds,
        faces_embedded_per_s: p.faces_embedded as f64 / p.seconds,
        faces_per_analysed_frame: p.faces_embedded as f64 / p.frames.max(1) as f64,
        cpu_ms_per_frame: p.cpu_ms_per_frame,
        alerts: None,
        faces_below_quality: None,
        recall,
        stages: None,
        cpu_ms: None,
    })
}

/// Resident memory now, for the reports that track it.
pub fn rss_mib() -> f64 {
    rss_bytes() as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth() -> Truth {
        let a = |who: &str, on: bool, f: u64, l: u64| Appearance {
            identity: who.into(),
            on_watchlist: on,
            first_frame: f,
            last_frame: l,
        };
        Truth {
            appearances: vec![
                a("A", true, 0, 10),
                a("B", true, 5, 20),
                a("A", true, 30, 40),
                a("C", false, 0, 50),
            ],
        }
    }

    #[test]
    fn recall_counts_appearances_with_a_hit_of_the_right_person_inside_them() {
        let hits = vec![
            ("A".to_string(), 3),  // first A
            ("A".to_string(), 8),  // first A again: one appearance
            ("B".to_string(), 25), // after B left: a false hit
            ("C".to_string(), 10), // C is not on the watchlist: a false hit
        ];
        let r = truth().score(&hits);
        assert_eq!(r.appearances, 3);
        assert_eq!(r.found, 1);
        assert!((r.recall - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.false_hits, 2);
        assert_eq!(truth().score(&[]).found, 0);
    }
}
