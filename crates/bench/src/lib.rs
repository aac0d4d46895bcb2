//! `mandat bench`: mandat's live engine against OpenCV's own YuNet + SFace pipeline (the peer) on the
//! test videos with the same cores, then stages, latency, scaling and cost against work (issue 7).
//! Every figure comes from this run; ratios compare figures taken minutes apart on one machine.
//!
//! A crate of its own so that the binary stays a thin client; the latency section runs the whole
//! server, which the binary hands in ([`Latency`]). Errors are `anyhow`'s, as the binary reports
//! them.

mod cost;
mod e2e;
mod scale;
mod stages;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use mandat_options::{EngineArgs, Models, PipelineArgs, data_dir};

pub use stages::StageArgs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Section {
    /// mandat and the peer side by side on both videos, with the ratios.
    Compare,
    /// Our per-stage time against plain ONNX Runtime on single images.
    Models,
    /// Capture to alert through the whole server, one 720p25 camera.
    Latency,
    /// 1, 2, 4 and 8 replayed cameras.
    Scaling,
    /// Cost against faces per frame and against watchlist size.
    Cost,
    /// 100 registered cameras, 2 under a permit, through the whole server: what is connected.
    Demand,
    /// mandat on both videos with the match-time quality gate off and on: faces kept out,
    /// appearances found, alerts.
    Quality,
    /// mandat on both videos matching single views, and single views with each track's fused
    /// template, over a sweep of thresholds: appearances found against false alerts.
    Track,
}

const ALL: [Section; 8] = [
    Section::Compare,
    Section::Quality,
    Section::Track,
    Section::Models,
    Section::Latency,
    Section::Scaling,
    Section::Cost,
    Section::Demand,
];

#[derive(Args)]
pub struct BenchArgs {
    /// Test data directory (default: MANDAT_DATA, else ../shared/data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Sections to run, comma-separated (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Section>,
    /// CPU cores for mandat and the peer alike: this process, and the peer it starts, are pinned to
    /// the first N cores they may use.
    #[arg(long, default_value_t = 1)]
    cores: usize,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Also write the figures into this markdown file, between its `<!-- bench:begin -->` and
    /// `<!-- bench:end -->` lines (the soak: `<!-- soak:begin -->` and `<!-- soak:end -->`), as in
    /// docs/benchmarks.md.
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// The peer's Python (default: a virtual environment in mandat's cache with the pinned
    /// opencv-python-headless and numpy of scripts/bench/requirements-peer.txt, made on first use).
    #[arg(long)]
    peer_python: Option<PathBuf>,
    /// Leave the peer out (then no ratios).
    #[arg(long)]
    no_peer: bool,
    /// Seconds of the latency measurement.
    #[arg(long, default_value_t = 40)]
    latency_seconds: u64,
    /// Seconds per step of the scaling measurement.
    #[arg(long, default_value_t = 15)]
    scaling_seconds: u64,
    /// Instead of the sections: 4 cameras for this many seconds, resident memory sampled (the soak).
    #[arg(long, value_name = "SECONDS")]
    soak: Option<u64>,
    #[command(flatten)]
    stage: StageArgs,
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    pipeline: PipelineArgs,
}

/// CPU time of this process (all its threads, not its children), in seconds.
pub fn cpu_time() -> f64 {
    // SAFETY: getrusage fills a struct we own.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Resident memory of this process, in bytes (Linux).
pub fn rss_bytes() -> u64 {
    let page = 4096u64;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |p| p * page)
}

/// Pin this process (and so the children it starts) to the first `n` of the cores it may use.
fn pin_cores(n: usize) -> Result<Vec<usize>> {
    // SAFETY: the cpu_set_t is ours, zeroed, and passed with its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            bail!(
                "cannot read this process's CPU affinity: {}",
                std::io::Error::last_os_error()
            );
        }
        let allowed: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect();
        if n == 0 || n > allowed.len() {
            bail!(
                "--cores {n}: this process may use {} core(s); ask for 1 to {}",
                allowed.len(),
                allowed.len()
            );
        }
        let chosen = allowed[..n].to_vec();
        let mut pin: libc::cpu_set_t = std::mem::zeroed();
        for &c in &chosen {
            libc::CPU_SET(c, &mut pin);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &pin) != 0 {
            bail!(
                "cannot pin to cores {chosen:?}: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(chosen)
    }
}

/// The machine, for the record next to the figures.
fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map(|kib| (kib / (1024.0 * 1024.0) * 10.0).round() / 10.0);
    json!({
        "cpu": model,
        // SAFETY: sysconf only reads a system value. (available_parallelism would see the pinning.)
        "cores_online": unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) },
        "memory_gib": mem_gib,
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
    })
}

/// The latency section: the whole server on the test data for `seconds`, capture to alert. The
/// binary provides it, since the server lives there.
pub type Latency<'a> =
    &'a dyn Fn(&std::path::Path, u64, &PipelineArgs, &EngineArgs) -> Result<Value>;

/// The demand section: the whole server with many registered cameras, few under a permit, for
/// `seconds`. The binary provides it, as it does the latency section.
pub type Demand<'a> = Latency<'a>;

pub fn run(args: BenchArgs, latency: Latency, demand: Demand) -> Result<()> {
    if !args.stage.images.is_empty() {
        // Single images named on the command line: the per-stage table only.
        return stages::run(&args.stage, &args.pipeline, None, args.json);
    }
    let data = data_dir(args.data.clone())?;
    let cores = pin_cores(args.cores)?;
    let models = Models::load(&args.pipeline)?;
    if let Some(seconds) = args.soak {
        let r = scale::soak(&models, &data, &args.engine, &args.pipeline, seconds)?;
        let report = json!({
            "mandat": env!("CARGO_PKG_VERSION"),
            "machine": machine(),
            "cores": cores,
            "engine": args.engine.describe(&args.pipeline),
            "soak": r,
        });
        return print(&args, &report);
    }
    let sections: Vec<Section> = if args.only.is_empty() {
        ALL.to_vec()
    } else {
        args.only.clone()
    };
    let mut report = json!({
        "mandat": env!("CARGO_PKG_VERSION"),
        "machine": machine(),
        "cores": cores,
        "engine": args.engine.describe(&args.pipeline),
    });
    let started = std::time::Instant::now();
    for s in sections {
        let t = std::time::Instant::now();
        let (key, value) = match s {
            Section::Compare => ("compare", compare(&args, &models, &data)?),
            Section::Quality => ("quality_gate", quality_gate(&args, &models, &data)?),
            Section::Track => ("track_fusion", track_fusion(&args, &models, &data)?),
            Section::Models => (
                "models",
                stages::report(&args.stage, &args.pipeline, &models, &data)?,
            ),
            Section::Latency => (
                "latency",
                latency(
                    &data,
                    args.latency_seconds.max(5),
                    &args.pipeline,
                    &args.engine,
                )?,
            ),
            Section::Scaling => (
                "scaling",
                scale::scaling(
                    &models,
                    &data,
                    &args.engine,
                    &args.pipeline,
                    Duration::from_secs(args.scaling_seconds.max(5)),
                )?,
            ),
            Section::Cost => ("cost", cost::report(&models, &data, &args.pipeline)?),
            Section::Demand => (
                "demand",
                demand(
                    &data,
                    args.latency_seconds.max(5),
                    &args.pipeline,
                    &args.engine,
                )?,
            ),
        };
        eprintln!("bench: {key} took {:.0} s", t.elapsed().as_secs_f64());
        report[key] = value;
    }
    report["seconds"] = json!(started.elapsed().as_secs_f64());
    print(&args, &report)
}

fn print(args: &BenchArgs, report: &Value) -> Result<()> {
    let md = markdown(report);
    if let Some(path) = &args.markdown {
        // Each kind of run has its own section, so a soak or a run on more cores leaves the
        // main figures alone.
        let section = match (args.soak.is_some(), args.cores) {
            (true, _) => "soak".to_string(),
            (false, 1) => "bench".to_string(),
            (false, n) => format!("bench-{n}-cores"),
        };
        write_between_markers(path, &section, &md)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        println!("{md}");
    }
    Ok(())
}

/// The two videos the end-to-end sections run on: (name, path under the data, whether it is the
/// synthetic video with its ground truth).
const VIDEOS: [(&str, &str, bool); 2] = [
    ("street_1080p", "video/street_1080p.mp4", false),
    (
        "synthetic_watchlist",
        "synthetic/synthetic_watchlist.mp4",
        true,
    ),
];

/// mandat and the peer on both videos.
fn compare(args: &BenchArgs, models: &Models, data: &std::path::Path) -> Result<Value> {
    let watchlist = e2e::enrol_watchlist(models, data)?;
    let truth = e2e::Truth::load(data)?;
    let python = if args.no_peer {
        PathBuf::new()
    } else {
        e2e::peer_python(args.peer_python.as_deref())?
    };
    let cfg = args.engine.config(&args.pipeline, args.cores);
    let mut rows = Vec::new();
    for (name, file, synthetic) in VIDEOS {
        let video = data.join(file);
        if !video.is_file() {
            bail!("{} is missing from the test data", video.display());
        }
        let ours = e2e::mandat(models, cfg, &video, &watchlist, synthetic.then_some(&truth))
            .with_context(|| format!("mandat on {name}"))?;
        let peer = if args.no_peer {
            None
        } else {
            Some(
                e2e::peer(&python, models, &video, args.cores, data, synthetic)
                    .with_context(|| format!("the peer on {name}"))?,
            )
        };
        let ratio = |f: fn(&e2e::Run) -> f64| peer.as_ref().map(|p| f(&ours) / f(p));
        let st = ours.stages.unwrap_or_default();
        let cpu = ours.cpu_ms.unwrap_or_default().max(1e-9);
        rows.push(json!({
            "video": name,
            "mandat": ours,
            "peer": peer,
            "ratio_frames_per_s": ratio(|r| r.frames_per_s),
            "ratio_cpu_per_frame": ratio(|r| r.cpu_ms_per_frame),
            "ratio_faces_detected_per_s": ratio(|r| r.faces_detected_per_s),
            "ratio_faces_per_analysed_frame": ratio(|r| r.faces_per_analysed_frame),
            "share_in_inference": st.inference_ms() / cpu,
            "share_in_inference_and_decode": (st.inference_ms() + st.decode_ms) / cpu,
            "stages_ms_per_frame": per_frame(&st, ours.frames),
        }));
    }
    Ok(Value::Array(rows))
}

/// A cosine below the published one, at which false alerts occur often enough to count.
const QUALITY_LOOSE_THRESHOLD: f32 = 0.30;

/// mandat alone on both videos, the match-time quality gate off and on, same settings otherwise.
/// On the street clip nobody is on the watchlist, so every alert is false.
fn quality_gate(args: &BenchArgs, models: &Models, data: &std::path::Path) -> Result<Value> {
    let enrolled = e2e::enrol_watchlist(models, data)?;
    let truth = e2e::Truth::load(data)?;
    let mut rows = Vec::new();
    // The published cosine, and a looser one that lets false alerts through to be counted.
    for threshold in [e2e::THRESHOLD, QUALITY_LOOSE_THRESHOLD] {
        let mut watchlist = enrolled.clone();
        for e in &mut watchlist.list.entries {
            e.threshold = threshold;
        }
        for (name, file, synthetic) in VIDEOS {
            let video = data.join(file);
            for gate in [None, Some(mandat_face::QualityGate::MATCH)] {
                let cfg = mandat_engine::EngineConfig {
                    match_gate: gate,
                    ..args.engine.config(&args.pipeline, args.cores)
                };
                let run = e2e::mandat(models, cfg, &video, &watchlist, synthetic.then_some(&truth))
                    .with_context(|| format!("mandat on {name}"))?;
                rows.push(json!({
                    "video": name,
                    "gate": gate.is_some(),
                    "threshold": threshold,
                    "run": run,
                }));
            }
        }
    }
    Ok(Value::Array(rows))
}

/// The thresholds of the track-fusion sweep: from where false alerts are common to above the
/// calibrated demo's per-person thresholds.
const TRACK_THRESHOLDS: [f32; 5] = [0.30, 0.33, 0.363, 0.40, 0.43];

/// mandat alone on both videos in the configured settings, matching single views only and single
/// views with each track's fused template, at each threshold of the sweep. Which pays is read at
/// equal false alerts: the synthetic video's appearances found against the false alerts of both.
fn track_fusion(args: &BenchArgs, models: &Models, data: &std::path::Path) -> Result<Value> {
    let enrolled = e2e::enrol_watchlist(models, data)?;
    let truth = e2e::Truth::load(data)?;
    let mut rows = Vec::new();
    for threshold in TRACK_THRESHOLDS {
        let mut watchlist = enrolled.clone();
        for e in &mut watchlist.list.entries {
            e.threshold = threshold;
        }
        for fusion in [false, true] {
            let mut row = json!({"threshold": threshold, "fusion": fusion});
            for (name, file, synthetic) in VIDEOS {
                let cfg = mandat_engine::EngineConfig {
                    track_fusion: fusion,
                    ..args.engine.config(&args.pipeline, args.cores)
                };
                let run = e2e::mandat(
                    models,
                    cfg,
                    &data.join(file),
                    &watchlist,
                    synthetic.then_some(&truth),
                )
                .with_context(|| format!("mandat on {name}"))?;
                row[if synthetic { "synthetic" } else { "street" }] = json!(run);
            }
            rows.push(row);
        }
    }
    Ok(Value::Array(rows))
}

fn per_frame(s: &mandat_engine::StageTimes, frames: u64) -> Value {
    let f = frames.max(1) as f64;
    json!({
        "decode": s.decode_ms / f,
        "scope": s.scope_ms / f,
        "detect": (s.detect_prepare_ms + s.detect_inference_ms + s.detect_decode_ms) / f,
        "detect_inference": s.detect_inference_ms / f,
        "track": s.track_ms / f,
        "align": s.align_ms / f,
        "embed": (s.embed_inference_ms + s.embed_other_ms) / f,
        "embed_inference": s.embed_inference_ms / f,
        "match": s.match_ms / f,
        "alert": s.alert_ms / f,
    })
}

/// Replace what lies between the markers with `body`; the prose around them stays.
fn write_between_markers(path: &std::path::Path, section: &str, body: &str) -> Result<()> {
    let (begin, end) = (
        format!("<!-- {section}:begin -->"),
        format!("<!-- {section}:end -->"),
    );
    let old = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading {}: --markdown names an existing file with {begin} and {end} lines",
            path.display()
        )
    })?;
    let new = splice(&old, &begin, &end, body).with_context(|| {
        format!(
            "{} has no {begin} ... {end} section for the figures",
            path.display()
        )
    })?;
    std::fs::write(path, new).with_context(|| format!("writing {}", path.display()))
}

fn splice(old: &str, begin: &str, end: &str, body: &str) -> Option<String> {
    let b = old.find(begin)? + begin.len();
    let e = b + old[b..].find(end)?;
    Some(format!("{}\n{}\n{}", &old[..b], body.trim_end(), &old[e..]))
}

fn f(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map_or_else(|| "–".to_string(), |x| format!("{x:.digits$}"))
}

/// The report as markdown tables.
fn markdown(r: &Value) -> String {
    let mut out = String::new();
    let m = &r["machine"];
    out.push_str(&format!(
        "Measured by `mandat bench` {} on {} ({} cores online, {} GiB), pinned to cores {}; engine: {}.\n\n",
        r["mandat"].as_str().unwrap_or("?"),
        m["cpu"].as_str().unwrap_or("unknown CPU"),
        m["cores_online"],
        m["memory_gib"],
        r["cores"],
        r["engine"].as_str().unwrap_or("?"),
    ));
    if let Some(rows) = r["quality_gate"].as_array() {
        out.push_str("### The match-time quality gate, off and on (mandat, both videos)\n\n");
        out.push_str(&format!(
            "Gate: eyes at least {} px apart, sharpness at least {}, |yaw| at most {}, detector confidence at least {}. Watchlist of the synthetic video's 10 persons at the published cosine {} and at a looser {}; nobody on the street clip is on it, so every alert there is false.\n\n",
            mandat_face::QualityGate::MATCH.min_inter_eye_px,
            mandat_face::QualityGate::MATCH.min_sharpness,
            mandat_face::QualityGate::MATCH.max_abs_yaw,
            mandat_face::QualityGate::MATCH.min_detector_score,
            e2e::THRESHOLD,
            QUALITY_LOOSE_THRESHOLD
        ));
        out.push_str("| threshold | video | gate | faces embedded | faces below the gate | alerts | appearances found | false alerts |\n|---|---|---|---|---|---|---|---|\n");
        for row in rows {
            let s = &row["run"];
            let (found, false_alerts) = if s["recall"].is_null() {
                ("–".to_string(), s["alerts"].to_string())
            } else {
                (
                    format!("{}/{}", s["recall"]["found"], s["recall"]["appearances"]),
                    s["recall"]["false_hits"].to_string(),
                )
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {found} | {false_alerts} |\n",
                f(&row["threshold"], 3),
                row["video"].as_str().unwrap_or("?"),
                if row["gate"].as_bool() == Some(true) {
                    "on"
                } else {
                    "off"
                },
                s["faces_embedded"],
                s["faces_below_quality"],
                s["alerts"],
            ));
        }
        out.push('\n');
    }
    if let Some(rows) = r["track_fusion"].as_array() {
        out.push_str("### Track-level matching: single views, and single views with each track's fused template (mandat, both videos)\n\n");
        out.push_str("A track's fused template is the mean of its embedded views (at most 5, those the quality gate lets through), weighted by each view's geometric quality, matched once the track has two views, alongside each single view. Watchlist of the synthetic video's 10 persons at one cosine for all; nobody on the street clip is on it.\n\n");
        out.push_str("| threshold | matching | appearances found (synthetic) | false alerts (synthetic) | false alerts (street) | faces embedded |\n|---|---|---|---|---|---|\n");
        for row in rows {
            let (syn, st) = (&row["synthetic"], &row["street"]);
            out.push_str(&format!(
                "| {} | {} | {}/{} | {} | {} | {} |\n",
                f(&row["threshold"], 3),
                if row["fusion"].as_bool() == Some(true) {
                    "single + fused"
                } else {
                    "single views"
                },
                syn["recall"]["found"],
                syn["recall"]["appearances"],
                syn["recall"]["false_hits"],
                st["alerts"],
                syn["faces_embedded"].as_u64().unwrap_or(0)
                    + st["faces_embedded"].as_u64().unwrap_or(0),
            ));
        }
        out.push('\n');
    }
    if let Some(rows) = r["compare"].as_array() {
        out.push_str("### mandat and the peer (OpenCV YuNet + SFace), same video, same cores\n\n");
        out.push_str("| video | | frames/s | frames analysed | faces per analysed frame | faces detected/s | faces embedded/s | CPU ms/frame | recall of watchlist appearances | false alerts |\n|---|---|---|---|---|---|---|---|---|---|\n");
        for row in rows {
            for side in ["mandat", "peer"] {
                let s = &row[side];
                if s.is_null() {
                    continue;
                }
                let recall = if s["recall"].is_null() {
                    "–".to_string()
                } else {
                    format!("{}/{}", s["recall"]["found"], s["recall"]["appearances"])
                };
                let false_hits = if s["recall"].is_null() {
                    "–".to_string()
                } else {
                    s["recall"]["false_hits"].to_string()
                };
                out.push_str(&format!(
                    "| {} | {side} | {} | {}/{} | {} | {} | {} | {} | {recall} | {false_hits} |\n",
                    row["video"].as_str().unwrap_or("?"),
                    f(&s["frames_per_s"], 1),
                    s["frames_analysed"],
                    s["frames"],
                    f(&s["faces_per_analysed_frame"], 2),
                    f(&s["faces_detected_per_s"], 1),
                    f(&s["faces_embedded_per_s"], 1),
                    f(&s["cpu_ms_per_frame"], 1),
                ));
            }
            out.push_str(&format!(
                "| {} | **mandat / peer** | **{}×** | | {}× | {}× | | {}× | | |\n",
                row["video"].as_str().unwrap_or("?"),
                f(&row["ratio_frames_per_s"], 2),
                f(&row["ratio_faces_per_analysed_frame"], 2),
                f(&row["ratio_faces_detected_per_s"], 2),
                f(&row["ratio_cpu_per_frame"], 2),
            ));
        }
        out.push_str("\nfalse alerts: mandat's alerts, and the peer's frames with a hit, outside every appearance of the person matched. Both match at cosine 0.363.\n");
        out.push_str("\n### Where mandat's CPU time goes (ms per frame of video)\n\n");
        out.push_str("| video | decode | scope | detect (in ORT) | track | align | embed (in ORT) | match | alert | in ORT | in ORT + decode |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
        for row in rows {
            let s = &row["stages_ms_per_frame"];
            out.push_str(&format!(
                "| {} | {} | {} | {} ({}) | {} | {} | {} ({}) | {} | {} | {} % | {} % |\n",
                row["video"].as_str().unwrap_or("?"),
                f(&s["decode"], 2),
                f(&s["scope"], 3),
                f(&s["detect"], 2),
                f(&s["detect_inference"], 2),
                f(&s["track"], 3),
                f(&s["align"], 3),
                f(&s["embed"], 2),
                f(&s["embed_inference"], 2),
                f(&s["match"], 4),
                f(&s["alert"], 2),
                f(
                    &json!(100.0 * row["share_in_inference"].as_f64().unwrap_or(0.0)),
                    1
                ),
                f(
                    &json!(100.0 * row["share_in_inference_and_decode"].as_f64().unwrap_or(0.0)),
                    1
                ),
            ));
        }
        out.push('\n');
    }
    if let Some(rows) = r["models"]["results"].as_array() {
        out.push_str("### Our stages against plain ONNX Runtime on the same inputs (ms)\n\n");
        out.push_str(&stages::table(rows));
        out.push('\n');
    }
    if let Some(rows) = r["models"]["video_decode"]
        .as_array()
        .filter(|r| !r.is_empty())
    {
        out.push_str(
            "### Video decoding per decoder (one thread; cameras per core at 25 frames/s)\n\n\
             | video | codec | decoder | size | frames/s | cameras per core | vs OpenH264 |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for row in rows {
            out.push_str(&format!(
                "| {} | {} | {} | {}x{} | {} | {} | {} |\n",
                row["video"].as_str().unwrap_or("?"),
                row["codec"].as_str().unwrap_or("?"),
                row["decoder"].as_str().unwrap_or("?"),
                row["width"],
                row["height"],
                f(&row["decode_fps"], 0),
                f(&row["cameras_per_core_at_25fps"], 1),
                row["speed_vs_openh264_h264"]
                    .as_f64()
                    .map_or("–".to_string(), |x| format!("{x:.2}x")),
            ));
        }
        out.push('\n');
    }
    if !r["latency"].is_null() {
        let l = &r["latency"]["latency_ms"];
        out.push_str(&format!(
            "### Latency, capture → alert\n\n{}: {} alerts over {} s; p50 {} ms, p95 {} ms, p99 {} ms, max {} ms.\n\n",
            r["latency"]["scenario"].as_str().unwrap_or(""),
            r["latency"]["alerts"],
            r["latency"]["seconds"],
            l["p50"],
            l["p95"],
            l["p99"],
            l["max"],
        ));
    }
    if !r["demand"].is_null() {
        let d = &r["demand"];
        out.push_str(&format!(
            "### Cameras in demand only\n\n{}, over {} s: at most {} camera source(s) ran and at most {} video file(s) were open; {} cores used in all ({} per camera in demand). Decoding the other {} registered cameras as well would have cost about {} more cores (decoding alone, {} cores per camera, measured here).\n\n",
            d["scenario"].as_str().unwrap_or(""),
            d["seconds"],
            d["max_sources_running"],
            d["max_video_files_open"],
            f(&d["cores_used"], 2),
            f(&d["cores_per_camera_in_demand"], 2),
            d["registered_not_in_demand"],
            f(&d["cores_saved_estimate"], 1),
            f(&d["decode_cores_per_camera"], 3),
        ));
    }
    if let Some(rows) = r["scaling"]["steps"].as_array() {
        out.push_str(&format!(
            "### Scaling: replayed live cameras ({})\n\n",
            r["scaling"]["scenario"].as_str().unwrap_or("")
        ));
        out.push_str(&format!(
            "The engine alone (models loaded, no camera): {} MiB.\n\n",
            f(&r["scaling"]["rss_engine_without_cameras_mib"], 0)
        ));
        out.push_str("| cameras | input frames/s per camera | analysed frames/s per camera | dropped (due, not analysed) | RSS MiB | RSS MiB per camera over the engine alone | RSS MiB per added camera |\n|---|---|---|---|---|---|---|\n");
        for s in rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} % | {} | {} | {} |\n",
                s["cameras"],
                f(&s["input_fps_per_camera"], 1),
                f(&s["analysed_fps_per_camera"], 1),
                f(&s["dropped_pct"], 1),
                f(&s["rss_mib"], 0),
                f(&s["rss_mib_per_camera"], 1),
                f(&s["rss_mib_per_added_camera"], 1),
            ));
        }
        out.push('\n');
    }
    if !r["cost"].is_null() {
        out.push_str(&cost::table(&r["cost"]));
        out.push('\n');
    }
    if !r["soak"].is_null() {
        let s = &r["soak"];
        out.push_str(&format!(
            "{}: RSS {} MiB after the warm-up, {} MiB at the end ({} MiB, {} %). Peak of the first half {} MiB, of the second half {} MiB ({} %). {} frames in, {} analysed, {} dropped because they were due while the core was busy.\n\nRSS (MiB) every 30 s: {}\n",
            s["scenario"].as_str().unwrap_or(""),
            f(&s["rss_start_mib"], 0),
            f(&s["rss_end_mib"], 0),
            f(&s["rss_growth_mib"], 1),
            f(&s["rss_growth_pct"], 1),
            f(&s["rss_peak_first_half_mib"], 0),
            f(&s["rss_peak_second_half_mib"], 0),
            f(&s["rss_peak_growth_pct"], 1),
            s["frames_in"],
            s["frames_analysed"],
            s["frames_dropped"],
            s["rss_samples_s_mib"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| Some(format!("{:.0}", v[1].as_f64()?)))
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_figures_replace_only_what_lies_between_the_markers() {
        let doc = "# Bench\nprose\n<!-- bench:begin -->\nold\n<!-- bench:end -->\nmore prose\n";
        let new = splice(
            doc,
            "<!-- bench:begin -->",
            "<!-- bench:end -->",
            "new table\n",
        )
        .unwrap();
        assert_eq!(
            new,
            "# Bench\nprose\n<!-- bench:begin -->\nnew table\n<!-- bench:end -->\nmore prose\n"
        );
        assert!(
            splice(
                "no markers",
                "<!-- bench:begin -->",
                "<!-- bench:end -->",
                "x"
            )
            .is_none()
        );
    }

    #[test]
    fn pinning_refuses_more_cores_than_the_process_may_use() {
        let err = pin_cores(100_000).unwrap_err().to_string();
        assert!(err.contains("--cores 100000"), "{err}");
        assert!(pin_cores(0).is_err());
    }
}
