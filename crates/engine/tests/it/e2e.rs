//! The live engine end to end on `shared/data/synthetic/synthetic_watchlist.mp4`: a permit for the
//! ten watchlist persons, enrolled through the real gate, granted through the real lawful core; the
//! video replayed as a camera; alerts stored through the control plane. Prints TPIR per appearance
//! and the count of false alerts.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use mandat_control::ScopeSource;
use mandat_engine::{CameraSpec, Engine, EngineConfig, SourceSpec};
use mandat_law::{Actor, Purpose, Role};
use mandat_video::Pace;

fn cam(id: &str, file: &str) -> CameraSpec {
    CameraSpec {
        id: id.into(),
        source: SourceSpec::File {
            path: data().join(file),
            pace: Pace::Fast,
            looping: false,
        },
    }
}

/// Run the engine over the cameras until every file ends; return what the sink saw.
fn run_engine(w: &World, cams: Vec<CameraSpec>, rt: &tokio::runtime::Runtime) -> Arc<Sink> {
    run_engine_with(
        w,
        cams,
        rt,
        EngineConfig {
            workers: 2,
            ..EngineConfig::default()
        },
    )
    .0
}

fn run_engine_with(
    w: &World,
    cams: Vec<CameraSpec>,
    rt: &tokio::runtime::Runtime,
    cfg: EngineConfig,
) -> (Arc<Sink>, Vec<mandat_engine::CameraHealth>) {
    let (engine, sink) = start_with(w, rt, cams, cfg);
    assert!(
        engine.wait_done(Duration::from_secs(600)),
        "engine did not finish"
    );
    let health = engine.health();
    engine.stop();
    for h in &health {
        eprintln!("{}: {:?}", h.camera, h);
    }
    (sink, health)
}

#[derive(Debug)]
struct Appearance {
    identity: String,
    on_watchlist: bool,
    first: u64,
    last: u64,
}

fn appearances() -> Vec<Appearance> {
    let gt: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data().join("synthetic/ground_truth.json")).unwrap(),
    )
    .unwrap();
    gt["appearances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| Appearance {
            identity: a["identity"].as_str().unwrap().into(),
            on_watchlist: a["on_watchlist"].as_bool().unwrap(),
            first: a["first_frame"].as_u64().unwrap(),
            last: a["last_frame"].as_u64().unwrap(),
        })
        .collect()
}

/// The synthetic video through the engine with `cfg`: every alert checked and stored; returns the
/// appearances found, the false alerts (person, frame, score) and the camera's health.
fn watchlist_video(
    cfg: EngineConfig,
) -> (usize, Vec<(String, u64, f32)>, mandat_engine::CameraHealth) {
    watchlist_video_at(cfg, None)
}

/// The calibration table and impostor cohort of the full evaluation report `scripts/setup.sh`
/// leaves in the model cache, stored by the world's admin.
async fn store_calibration(w: &World) {
    let dir = mandat_models::Store::from_env()
        .unwrap()
        .root()
        .join("evaluation");
    let text = std::fs::read_to_string(dir.join("report.json")).unwrap_or_else(|e| {
        panic!(
            "no evaluation report in {} ({e}): run scripts/setup.sh",
            dir.display()
        )
    });
    let r: mandat_reports::evaluation::EvaluationReport = serde_json::from_str(&text).unwrap();
    let bytes = std::fs::read(dir.join("cohort.bin")).unwrap();
    let cohort =
        mandat_eval::cohort::Cohort::from_le_bytes(mandat_face::vector::EMBEDDING_DIM, &bytes)
            .unwrap();
    w.control
        .add_calibration(
            &w.act(&Actor::new("admin", &[Role::Admin])),
            &r.calibration,
            Some(&cohort),
            ORIGIN,
        )
        .await
        .unwrap();
}

/// [`watchlist_video`] with the permit's threshold from a target FPIR (`Some`): each person's
/// own, from the stored calibration and cohort.
fn watchlist_video_at(
    cfg: EngineConfig,
    target: Option<f64>,
) -> (usize, Vec<(String, u64, f32)>, mandat_engine::CameraHealth) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let clock = fake_clock();
    let w = rt.block_on(world(clock.clone()));
    let permit = rt.block_on(async {
        let mut app = application(Purpose::VictimSearch, &["cam-1"], t0());
        if let Some(fpir) = target {
            store_calibration(&w).await;
            app.target = Some(mandat_law::permit::Target::stated(fpir));
        }
        granted_app(&w, app).await
    });
    assert_eq!(w.scope.watchlist("cam-1").list.entries.len(), 10);

    let (sink, mut health) = run_engine_with(
        &w,
        vec![cam("cam-1", "synthetic/synthetic_watchlist.mp4")],
        &rt,
        cfg,
    );
    assert_eq!(
        rt.block_on(stored_hits(&w)),
        sink.raised.lock().unwrap().len(),
        "every raised alert is stored, as a candidate or a sighting of one"
    );

    let names = rt.block_on(identities(&w, &permit));
    let apps = appearances();
    let listed: Vec<&Appearance> = apps.iter().filter(|a| a.on_watchlist).collect();
    let mut hit = BTreeMap::new();
    let mut false_alerts = Vec::new();
    let hits = sink.hits.lock().unwrap().clone();
    for a in &hits {
        assert_eq!(a.permit, permit);
        assert_eq!(a.camera, "cam-1");
        assert!(a.score >= a.threshold);
        if target.is_none() {
            assert_eq!(a.threshold, 0.363);
        }
        assert_eq!(a.watchlist_version.len(), 64);
        let m = listed.iter().position(|ap| {
            ap.identity == names[&a.person] && (ap.first..=ap.last).contains(&a.frame_index)
        });
        match m {
            Some(i) => *hit.entry(i).or_insert(0) += 1,
            None => false_alerts.push((names[&a.person].clone(), a.frame_index, a.score)),
        }
    }
    eprintln!(
        "synthetic watchlist video: TPIR {}/{} per appearance; {} false alert(s) {:?}; {} alerts in all",
        hit.len(),
        listed.len(),
        false_alerts.len(),
        false_alerts,
        hits.len()
    );
    for (i, a) in listed.iter().enumerate() {
        if !hit.contains_key(&i) {
            eprintln!("missed: {a:?}");
        }
    }
    assert_eq!(listed.len(), 13);
    // Tracking: a person walking past raises one alert, not one per frame.
    assert!(
        hits.len() <= 2 * listed.len(),
        "{} alerts for {} appearances",
        hits.len(),
        listed.len()
    );
    // Each stored alert has its images, sealed, and the log names it and each sighting.
    let alerts = rt.block_on(w.store.alerts(0, 10_000)).unwrap();
    let (crop, frame) = rt.block_on(w.store.alert_media(&alerts[0].id)).unwrap();
    assert_eq!(&crop[..3], &[0xFF, 0xD8, 0xFF], "crop is a JPEG");
    assert_eq!(&frame[..3], &[0xFF, 0xD8, 0xFF], "frame is a JPEG");
    let (entries, _) = rt.block_on(w.store.audit_log()).unwrap();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.action == "alert.candidate")
            .count(),
        alerts.len()
    );
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.action == "alert.sighting")
            .count(),
        hits.len() - alerts.len()
    );
    (hit.len(), false_alerts, health.remove(0))
}

#[test]
fn watchlist_video_gives_alerts_for_listed_people_only() {
    // The reference detector (640 letterbox) on every frame.
    let (found, false_alerts, h) = watchlist_video(EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    });
    assert_eq!(found, 13, "every watchlist appearance gives an alert");
    assert!(
        false_alerts.is_empty(),
        "alerts for people not on the watchlist: {false_alerts:?}"
    );
    assert_eq!(h.frames_processed, 750);
    assert_eq!(h.frames_skipped, 0);
    assert_eq!(
        h.faces_below_quality, 0,
        "no match-time gate in these settings"
    );
}

#[test]
fn live_settings_keep_every_appearance_on_a_fifth_of_the_frames() {
    // What `mandat serve` runs: full resolution, five analysed frames per second, the tracker
    // carrying faces between them (issue 7: at least the peer's recall, 13 of 13).
    let (found, false_alerts, h) = watchlist_video(EngineConfig {
        workers: 2,
        ..EngineConfig::live()
    });
    assert_eq!(found, 13, "every watchlist appearance gives an alert");
    assert_eq!(h.frames_in, 750);
    assert_eq!(h.frames_processed, 150, "one frame in five analysed");
    assert_eq!(h.frames_skipped, 600);
    // The match-time quality gate keeps small, blurred and turned faces out, and still every
    // appearance is found: the tracker picks each track's better views.
    assert!(h.faces_below_quality > 0, "{h:?}");
    // At the uncalibrated published cosine (0.363) a ten-person watchlist meets about 27 passers-by
    // not on it; one borderline false alert among them is within that threshold's false positive
    // rate (OpenCV's pipeline, looking at every frame, drew none). Two would not be.
    assert!(
        false_alerts.len() <= 1 && false_alerts.iter().all(|(_, _, s)| *s < 0.4),
        "false alerts: {false_alerts:?}"
    );
}

/// The live settings with each person's own threshold from a stated target, as the calibrated
/// demo runs: the thresholds from the full evaluation's table and cohort. At the demo's target (2 in
/// 1,000 passers-by) every appearance is found and nobody else alerts; at 1 in 1,000 one appearance
/// (a person whose views all score low) is lost, and still nobody else alerts. The published cosine
/// 0.363 finds 13 with one borderline false alert (`live_settings_keep_every_appearance_...`).
#[test]
fn per_person_thresholds_from_a_target_in_the_live_settings() {
    for (fpir, at_least) in [(2e-3, 13), (1e-3, 12)] {
        let (found, false_alerts, _) = watchlist_video_at(
            EngineConfig {
                workers: 2,
                ..EngineConfig::live()
            },
            Some(fpir),
        );
        eprintln!("target FPIR {fpir}: {found}/13 found, false alerts {false_alerts:?}");
        assert!(found >= at_least, "target {fpir}: {found} of 13 found");
        assert!(
            false_alerts.is_empty(),
            "target {fpir}: false alerts {false_alerts:?}"
        );
    }
}

/// Track fusion (off in the live settings, measured by `mandat bench --only track`) still runs
/// end to end: each track's fused template is matched alongside its views, and it finds what
/// single views find, with no more than their one borderline false alert at 0.363.
#[test]
fn track_fusion_alongside_single_views_finds_the_same_appearances() {
    let (found, false_alerts, _) = watchlist_video(EngineConfig {
        workers: 2,
        track_fusion: true,
        ..EngineConfig::live()
    });
    assert_eq!(found, 13);
    assert!(
        false_alerts.len() <= 1 && false_alerts.iter().all(|(_, _, s)| *s < 0.4),
        "false alerts: {false_alerts:?}"
    );
}

/// A camera streaming H.265 (an H.265 copy of the first 12.5 s of the synthetic video, decoded by
/// FFmpeg) in the live settings: every watchlist appearance in it is alerted, and nobody else.
#[test]
fn an_h265_camera_alerts_on_every_appearance_in_it() {
    if !mandat_video::FFMPEG_BUILT_IN {
        panic!("build with the `ffmpeg` feature (the README's commands do): H.265 needs FFmpeg");
    }
    let clip = mandat_video::derived::h265_copy(
        &data().join("synthetic/synthetic_watchlist.mp4"),
        12.5,
        "hev1",
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let w = rt.block_on(world(fake_clock()));
    let permit = rt.block_on(granted(&w, &["cam-1"], t0()));
    let (sink, health) = run_engine_with(
        &w,
        vec![CameraSpec {
            id: "cam-1".into(),
            source: SourceSpec::File {
                path: clip,
                pace: Pace::Fast,
                looping: false,
            },
        }],
        &rt,
        EngineConfig {
            workers: 2,
            ..EngineConfig::live()
        },
    );
    let frames = health[0].frames_in;
    assert!(
        (300..=320).contains(&frames),
        "12.5 s at 25 frames/s, got {frames}"
    );
    let names = rt.block_on(identities(&w, &permit));
    // Appearances that start at least a second before the clip ends.
    let expected: std::collections::BTreeSet<String> = appearances()
        .into_iter()
        .filter(|a| a.on_watchlist && a.first + 25 < frames)
        .map(|a| a.identity)
        .collect();
    assert!(expected.len() >= 3, "the clip holds {expected:?}");
    let hits = sink.hits.lock().unwrap().clone();
    let alerted: std::collections::BTreeSet<String> =
        hits.iter().map(|h| names[&h.person].clone()).collect();
    let listed = appearances();
    for h in &hits {
        let name = &names[&h.person];
        assert!(
            listed.iter().any(|a| a.on_watchlist
                && &a.identity == name
                && (a.first..=a.last).contains(&h.frame_index)),
            "a false alert: {name} at frame {} (score {})",
            h.frame_index,
            h.score
        );
    }
    assert!(
        expected.is_subset(&alerted),
        "missed in H.265: {:?}",
        expected.difference(&alerted).collect::<Vec<_>>()
    );
}

#[test]
fn no_alert_outside_the_permits_cameras_or_period() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let clock = fake_clock();
    let w = rt.block_on(world(clock.clone()));
    // The permit covers cam-1 only, and its period starts in 48 hours.
    rt.block_on(granted(&w, &["cam-1"], t0().plus_hours(48)));
    let sink = run_engine(
        &w,
        vec![
            cam("cam-1", "synthetic/synthetic_watchlist.mp4"),
            cam("cam-2", "synthetic/synthetic_watchlist.mp4"),
        ],
        &rt,
    );
    assert!(
        sink.raised.lock().unwrap().is_empty(),
        "alerts outside the period"
    );
    assert!(rt.block_on(w.store.alerts(0, 100)).unwrap().is_empty());

    // Inside the period, only the covered camera is analysed.
    clock.set(Some(t0().plus_hours(49)));
    let w2 = rt.block_on(world(clock.clone()));
    rt.block_on(granted(&w2, &["cam-1"], t0().plus_hours(48)));
    let sink = run_engine(
        &w2,
        vec![cam("cam-2", "synthetic/synthetic_watchlist.mp4")],
        &rt,
    );
    assert!(
        sink.raised.lock().unwrap().is_empty(),
        "alerts on a camera outside the area"
    );
}

#[test]
fn unscoped_cameras_are_not_analysed_at_all() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let w = rt.block_on(world(fake_clock()));
    let engine = Engine::start(
        EngineConfig::default(),
        &w.models,
        vec![cam("cam-2", "video/street_1080p.mp4")],
        w.scope.clone(),
        Arc::new(Sink {
            control: w.control.clone(),
            handle: rt.handle().clone(),
            raised: Mutex::new(Vec::new()),
            hits: Mutex::new(Vec::new()),
        }),
        w.clock.clone(),
    )
    .unwrap();
    assert!(engine.wait_done(Duration::from_secs(120)));
    let h = engine.health().remove(0);
    assert_eq!(h.frames_in, 105);
    assert_eq!(
        h.frames_unscoped, 105,
        "every frame stopped at the scope gate"
    );
    assert_eq!(
        (h.frames_processed, h.faces_seen),
        (0, 0),
        "no detection ran"
    );
}
