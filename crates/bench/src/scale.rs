//! Replayed live cameras: how analysed frames, dropped frames and memory go with the number of
//! cameras, and whether memory stays flat over a long run (the soak).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use mandat_control::WatchlistView;
use mandat_engine::{CameraHealth, CameraSpec, Engine, SourceSpec};
use mandat_law::SystemClock;
use serde_json::{Value, json};

use crate::e2e::{Collect, FixedScope, enrol_watchlist, rss_mib};
use mandat_options::{EngineArgs, Models, PipelineArgs};

const VIDEO: &str = "synthetic/synthetic_watchlist.mp4";

fn cameras(data: &Path, n: usize) -> Vec<CameraSpec> {
    (0..n)
        .map(|i| CameraSpec {
            id: format!("cam-{i}"),
            source: SourceSpec::File {
                path: data.join(VIDEO),
                pace: mandat_video::Pace::RealTime,
                looping: true,
            },
        })
        .collect()
}

fn start(
    models: &Models,
    data: &Path,
    watchlist: &WatchlistView,
    engine: &EngineArgs,
    pipeline: &PipelineArgs,
    n: usize,
) -> Result<Engine> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(Engine::start(
        engine.config(pipeline, cores),
        &models.engine(),
        cameras(data, n),
        Arc::new(FixedScope(watchlist.clone())),
        Arc::new(Collect::default()),
        Arc::new(SystemClock),
    )?)
}

/// Sum of a counter over cameras.
fn total(h: &[CameraHealth], f: fn(&CameraHealth) -> u64) -> u64 {
    h.iter().map(f).sum()
}

/// 1, 2, 4 and 8 cameras replaying the 720p25 synthetic video at real-time pace, each for `dur`
/// after a warm-up.
pub fn scaling(
    models: &Models,
    data: &Path,
    engine: &EngineArgs,
    pipeline: &PipelineArgs,
    dur: Duration,
) -> Result<Value> {
    let watchlist = enrol_watchlist(models, data)?;
    // The engine's own memory (models, sessions) with no camera, so what each camera adds shows.
    let idle = start(models, data, &watchlist, engine, pipeline, 0)?;
    std::thread::sleep(Duration::from_millis(500));
    let rss_engine = rss_mib();
    idle.stop();
    let mut steps = Vec::new();
    let (mut prev_n, mut prev_rss) = (0usize, rss_engine);
    for n in [1usize, 2, 4, 8] {
        let e = start(models, data, &watchlist, engine, pipeline, n)?;
        std::thread::sleep(Duration::from_secs(3));
        let (h0, t0) = (e.health(), Instant::now());
        std::thread::sleep(dur);
        let (h1, secs) = (e.health(), t0.elapsed().as_secs_f64());
        let rss = rss_mib();
        e.stop();
        let d = |f: fn(&CameraHealth) -> u64| total(&h1, f) - total(&h0, f);
        let input = d(|h| h.frames_in);
        steps.push(json!({
            "cameras": n,
            "seconds": secs,
            "input_fps_per_camera": input as f64 / secs / n as f64,
            "analysed_fps_per_camera": d(|h| h.frames_processed) as f64 / secs / n as f64,
            "dropped_pct": 100.0 * d(|h| h.frames_dropped) as f64 / (input - d(|h| h.frames_skipped)).max(1) as f64,
            "skipped_by_rate_pct": 100.0 * d(|h| h.frames_skipped) as f64 / input.max(1) as f64,
            "rss_mib": rss,
            "rss_mib_per_camera": (rss - rss_engine) / n as f64,
            // What each camera added over the previous step: the first step also pays for the
            // detector's working memory at this frame size, which the idle engine never needed.
            "rss_mib_per_added_camera": (rss - prev_rss) / (n - prev_n) as f64,
        }));
        (prev_n, prev_rss) = (n, rss);
    }
    Ok(json!({
        "scenario": format!("{VIDEO} (1280x720, 25 frames/s) per camera, replayed in a loop at real-time pace, 10-person watchlist"),
        "rss_engine_without_cameras_mib": rss_engine,
        "steps": steps,
    }))
}

/// Four cameras for `seconds`; resident memory after a warm-up (a tenth of the run, at most a
/// minute) and at the end.
pub fn soak(
    models: &Models,
    data: &Path,
    engine: &EngineArgs,
    pipeline: &PipelineArgs,
    seconds: u64,
) -> Result<Value> {
    let watchlist = enrol_watchlist(models, data)?;
    let e = start(models, data, &watchlist, engine, pipeline, 4)?;
    let t0 = Instant::now();
    let warm = Duration::from_secs((seconds / 10).clamp(5, 60));
    let end = Duration::from_secs(seconds.max(10));
    std::thread::sleep(warm);
    let rss_start = rss_mib();
    let mut samples = vec![json!([t0.elapsed().as_secs(), rss_start])];
    while t0.elapsed() < end {
        std::thread::sleep((end - t0.elapsed()).min(Duration::from_secs(30)));
        samples.push(json!([t0.elapsed().as_secs(), rss_mib()]));
    }
    let rss_end = rss_mib();
    let h = e.health();
    e.stop();
    // Growth is judged between the halves of the run: the peak of the second half against the peak
    // of the first, so a leak shows as a rising peak and a working set that breathes does not.
    let points: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|v| Some((v[0].as_f64()?, v[1].as_f64()?)))
        .collect();
    let half = end.as_secs_f64() / 2.0;
    let peak = |keep: &dyn Fn(f64) -> bool| {
        points
            .iter()
            .filter(|(t, _)| keep(*t))
            .map(|(_, r)| *r)
            .fold(f64::NAN, f64::max)
    };
    let (first, second) = (peak(&|t| t <= half), peak(&|t| t > half));
    Ok(json!({
        "scenario": format!("4 cameras replaying {VIDEO} in a loop at real-time pace for {} s", end.as_secs()),
        "rss_start_mib": rss_start,
        "rss_end_mib": rss_end,
        "rss_growth_mib": rss_end - rss_start,
        "rss_growth_pct": 100.0 * (rss_end - rss_start) / rss_start.max(1e-9),
        "rss_peak_first_half_mib": first,
        "rss_peak_second_half_mib": second,
        "rss_peak_growth_pct": 100.0 * (second - first) / first,
        "rss_samples_s_mib": samples,
        "frames_in": total(&h, |h| h.frames_in),
        "frames_analysed": total(&h, |h| h.frames_processed),
        "frames_dropped": total(&h, |h| h.frames_dropped),
        "alerts": total(&h, |h| h.alerts),
    }))
}
