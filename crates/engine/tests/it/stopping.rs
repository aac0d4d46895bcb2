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
            .urgent_start(&w.act(&officer()), &id, ORIGIN)
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
