//! A real RTSP server on loopback (GStreamer's gst-rtsp-server serving the synthetic watchlist video)
//! is killed and restarted while the engine watches it. The engine reconnects by itself, and no
//! alert is lost: every alert raised is stored, and after the restart every watchlist person who
//! appears in the replayed video is alerted again.

use std::time::{Duration, Instant};

use crate::common::*;
use mandat_engine::{CameraSpec, SourceSpec};
use mandat_video::derived::RtspTestServer;

fn start_server(port: u16) -> RtspTestServer {
    RtspTestServer::start(
        &data().join("synthetic/synthetic_watchlist.mp4"),
        port,
        "h264",
    )
    .unwrap()
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_engine_reconnects_to_a_restarted_rtsp_server_and_loses_no_alert() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = start_server(port);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let w = rt.block_on(world(fake_clock()));
    let permit = rt.block_on(granted(&w, &["cam-1"], t0()));
    let names = rt.block_on(identities(&w, &permit));
    let (engine, sink) = start(
        &w,
        &rt,
        vec![CameraSpec {
            id: "cam-1".into(),
            source: SourceSpec::Rtsp {
                url: RtspTestServer::url(port),
            },
        }],
        2,
    );
    wait_for("a first alert", 40, || {
        !sink.raised.lock().unwrap().is_empty()
    });
    // Kill the server: the stream dies.
    server.kill();
    let before = sink.raised.lock().unwrap().len();
    wait_for("the engine to notice", 15, || {
        engine.health()[0].reconnects >= 1
    });
    std::thread::sleep(Duration::from_secs(1));
    let mut server = start_server(port);
    let restarted = Instant::now();
    wait_for("the engine to reconnect", 30, || {
        engine.health()[0].connected
    });
    // The restarted server plays the video from its start: 30 s.
    let persons_after = || {
        let raised = sink.raised.lock().unwrap();
        raised
            .iter()
            .filter(|(_, _, _, at)| *at > restarted)
            .map(|(_, person, _, _)| names[person].clone())
            .collect::<std::collections::BTreeSet<String>>()
    };
    // The watchlist persons who appear in the video (one of the ten never does).
    let gt: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data().join("synthetic/ground_truth.json")).unwrap(),
    )
    .unwrap();
    let expected: std::collections::BTreeSet<String> = gt["appearances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["on_watchlist"].as_bool() == Some(true))
        .map(|a| a["identity"].as_str().unwrap().to_string())
        .collect();
    let t = Instant::now();
    while persons_after() != expected && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "after the restart: {:?} in {:?}; health {:?}",
        persons_after(),
        t.elapsed(),
        engine.health()[0]
    );
    assert_eq!(
        persons_after(),
        expected,
        "persons alerted after the restart"
    );
    let h = engine.health().remove(0);
    engine.stop();
    server.kill();
    let raised = sink.raised.lock().unwrap().len();
    let stored = rt.block_on(stored_hits(&w));
    eprintln!(
        "rtsp: {before} alert(s) before the kill, {raised} in all, {stored} stored; reconnects {}; {} frames in",
        h.reconnects, h.frames_in
    );
    assert!(h.reconnects >= 1);
    assert_eq!(stored, raised, "every alert the engine raised is stored");
}
