//! A refused urgent use stops alerts within a second, and everything it produced is gone.

use std::time::{Duration, Instant};

use crate::common::*;
use mandat_law::{Outcome, Purpose};

#[test]
fn a_refused_urgent_use_stops_alerts_within_a_second_and_is_purged() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let w = rt.block_on(world(fake_clock()));
    let id = rt.block_on(async {
        let id = drafted(&w, application(Purpose::ImminentThreat, &["cam-1"], t0())).await;
        w.control
            .urgent_start(&w.act(&officer()), &id, "the threat is now", ORIGIN)
            .await
            .unwrap();
        w.control
            .apply(&w.act(&officer()), &id, ORIGIN)
            .await
            .unwrap();
        id
    });
    let (engine, sink) = start(
        &w,
        &rt,
        vec![live("cam-1", "synthetic/synthetic_watchlist.mp4")],
        2,
    );
    let t = Instant::now();
    while sink.raised.lock().unwrap().is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no alert during urgent use"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!rt.block_on(w.store.alerts(0, 100)).unwrap().is_empty());
    // The prosecutor refuses: use stops at once and everything it produced is deleted.
    let (_, cert) = rt
        .block_on(w.control.decide(
            &w.act(&pros()),
            &id,
            Outcome::Refuse,
            "not necessary",
            ORIGIN,
        ))
        .unwrap();
    let refused_at = Instant::now();
    let cert = cert.expect("a deletion certificate");
    assert!(!cert.alerts.is_empty() && cert.wrapped_key_deleted);
    // Keep the camera running for a while longer: the video loops, watchlist faces keep coming.
    std::thread::sleep(Duration::from_secs(4));
    let late: Vec<_> = sink
        .raised
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, _, _, at)| *at > refused_at + Duration::from_secs(1))
        .map(|(id, ..)| id.clone())
        .collect();
    let h = engine.health().remove(0);
    engine.stop();
    assert!(
        late.is_empty(),
        "alerts more than 1 s after the refusal: {late:?}"
    );
    assert!(
        h.frames_unscoped > 0,
        "frames after the refusal stopped at the scope gate"
    );
    assert_eq!(rt.block_on(w.store.biometric_rows(&id)).unwrap(), 0);
    assert!(
        rt.block_on(w.store.alerts(0, 100)).unwrap().is_empty(),
        "alerts survived the purge"
    );
}

/// The ids of this process's threads named `name` (Linux names them, up to 15 bytes).
fn tids_named(name: &str) -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| {
            let t = t.ok()?;
            let comm = std::fs::read_to_string(t.path().join("comm")).ok()?;
            (comm.trim_end() == name).then(|| t.file_name().to_string_lossy().into_owned())
        })
        .collect()
}

fn threads_named(name: &str) -> usize {
    tids_named(name).len()
}

#[test]
fn cameras_come_and_go_while_the_engine_runs() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let w = rt.block_on(world(fake_clock()));
    let (engine, _sink) = start(&w, &rt, Vec::new(), 1);
    assert!(engine.health().is_empty() && engine.cameras().is_empty());
    let synthetic = "synthetic/synthetic_watchlist.mp4";
    engine
        .set_cameras(vec![live("dyn-1", synthetic), live("dyn-2", synthetic)])
        .unwrap();
    let frames = |id: &str| {
        engine
            .health()
            .into_iter()
            .find(|h| h.camera == id)
            .map(|h| h.frames_in)
    };
    let t = Instant::now();
    while frames("dyn-1").unwrap() < 10 || frames("dyn-2").unwrap() < 10 {
        assert!(t.elapsed() < Duration::from_secs(20), "cameras not running");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(threads_named("source-dyn-1"), 1);
    // dyn-1 leaves: gone from health at once, its source thread ends (the file is closed); dyn-2
    // runs on untouched.
    let before = frames("dyn-2").unwrap();
    let thread = tids_named("source-dyn-2");
    engine.set_cameras(vec![live("dyn-2", synthetic)]).unwrap();
    assert_eq!(engine.cameras(), ["dyn-2"]);
    assert_eq!(frames("dyn-1"), None);
    let t = Instant::now();
    while threads_named("source-dyn-1") > 0 {
        assert!(t.elapsed() < Duration::from_secs(2), "dyn-1 still decodes");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        frames("dyn-2").unwrap() > before,
        "dyn-2 restarted or stalled"
    );
    assert_eq!(tids_named("source-dyn-2"), thread, "dyn-2 was restarted");
    // A new source under the same id is a new connection.
    engine
        .set_cameras(vec![live("dyn-2", "video/street_1080p.mp4")])
        .unwrap();
    let t = Instant::now();
    while engine.health()[0].resolution != Some((1920, 1080)) {
        assert!(t.elapsed() < Duration::from_secs(20), "not re-pointed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let repointed = tids_named("source-dyn-2");
    assert_eq!(repointed.len(), 1);
    assert_ne!(repointed, thread, "a new source is a new connection");
    engine.set_cameras(Vec::new()).unwrap();
    let t = Instant::now();
    while threads_named("source-dyn-2") > 0 {
        assert!(t.elapsed() < Duration::from_secs(2), "dyn-2 still decodes");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(engine.health().is_empty());
    engine.stop();
}
