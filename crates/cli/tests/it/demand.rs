//! Only cameras a permit covers are connected, and the set follows permits and camera changes
//! while `mandat serve` runs. The cameras are RTSP addresses on a listener the test owns, so the
//! evidence is the sockets themselves: a camera that never connects was never decoded.

use std::io::Read;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::lawful_cli::*;

/// Which camera path each connection asked for, as the listener saw them.
type Seen = Arc<Mutex<Vec<(Instant, String)>>>;

/// A stand-in for many RTSP cameras on one port: it reads the first request line, notes the
/// camera's path, and hangs up (the engine then retries with back-off).
fn cameras_listener() -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 512];
            let n = stream.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = head
                .split_whitespace()
                .nth(1)
                .and_then(|url| url.rsplit('/').next())
                .unwrap_or("?")
                .to_string();
            log.lock().unwrap().push((Instant::now(), path));
        }
    });
    (port, seen)
}

fn seen_since(seen: &Seen, t: Instant) -> Vec<String> {
    let mut v: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(at, _)| *at >= t)
        .map(|(_, c)| c.clone())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Wait until every camera of `want` has connected since `t`; panics after 15 s.
fn wait_connected(seen: &Seen, t: Instant, want: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let s = seen_since(seen, t);
        if want.iter().all(|w| s.iter().any(|c| c == w)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{want:?} not connected; seen {:?}", seen_since(seen, t));
}

#[test]
fn only_cameras_a_permit_covers_are_connected_and_the_set_follows_changes_while_running() {
    let h = setup();
    let (port, seen) = cameras_listener();
    h.login("admin");
    let cams: Vec<String> = (0..10).map(|i| format!("cam-p{i}")).collect();
    for c in &cams {
        add_camera(&h, c, &format!("rtsp://127.0.0.1:{port}/{c}"));
    }
    let registered = Instant::now();
    // Registered, enabled, and covered by nothing: never connected.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(seen_since(&seen, registered), Vec::<String>::new());

    h.login("officer");
    let mut app: serde_json::Value =
        serde_json::from_str(&application("victim_search", 1)).unwrap();
    app["area"]["cameras"] = serde_json::json!(["cam-p2", "cam-p5"]);
    let file = h.write("two.json", &app.to_string());
    let id = h
        .ok(&["permit", "draft", "--file", file.to_str().unwrap()])
        .split_whitespace()
        .nth(2)
        .unwrap()
        .to_string();
    h.ok(&[
        "permit",
        "assign",
        &id,
        "--user",
        "pros",
        "--role",
        "prosecutor",
    ]);
    let (person, photo) = person_of(&h, &id);
    h.ok(&[
        "person",
        "enrol",
        "--permit",
        &id,
        "--person",
        &person,
        "--photo-id",
        &photo,
        &lfw("Aaron_Peirsol"),
    ]);
    h.ok(&["permit", "apply", &id]);
    // Applied, not decided: still nothing.
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(seen_since(&seen, registered), Vec::<String>::new());
    h.login("pros");
    let granted = Instant::now();
    h.ok_in(
        &["permit", "decide", &id, "--grant", "--reasons-file", "-"],
        "necessary",
    );
    wait_connected(&seen, granted, &["cam-p2", "cam-p5"]);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        seen_since(&seen, registered),
        ["cam-p2", "cam-p5"],
        "only the covered cameras connect"
    );

    // A camera registered while the server runs connects once an amendment covers it.
    h.login("admin");
    add_camera(&h, "cam-new", &format!("rtsp://127.0.0.1:{port}/cam-new"));
    h.ok(&["camera", "disable", "cam-p5"]);
    h.login("officer");
    h.ok_in(
        &[
            "permit",
            "amend",
            &id,
            "--camera",
            "cam-new",
            "--reasons-file",
            "-",
        ],
        "seen there",
    );
    h.login("pros");
    let amended = Instant::now();
    h.ok_in(
        &[
            "permit",
            "decide-amendment",
            &id,
            "--number",
            "1",
            "--grant",
            "--reasons-file",
            "-",
        ],
        "needed",
    );
    wait_connected(&seen, amended, &["cam-new"]);
    h.ok_in(&["permit", "stop", &id, "--reason-file", "-"], "found");
    let stopped = Instant::now();
    // Released within the demand poll; a connection already under way may still land.
    std::thread::sleep(Duration::from_millis(1000));
    let settled = Instant::now();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        seen_since(&seen, settled),
        Vec::<String>::new(),
        "connections after the stop (at {:?})",
        settled - stopped
    );

    // The log says which camera ran when, and names no other camera.
    h.login("aud");
    let export = h.path().join("export.jsonl");
    h.ok(&["audit", "export", "--out", export.to_str().unwrap()]);
    let log = std::fs::read_to_string(&export).unwrap();
    let changes: Vec<(String, String, String)> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| {
            e["action"]
                .as_str()
                .is_some_and(|a| a == "camera.assigned" || a == "camera.released")
        })
        .map(|e| {
            let reason = e["details"]["reason"].as_str().unwrap();
            let action = e["action"].as_str().unwrap().to_string();
            let expected = if action == "camera.assigned" {
                "permit"
            } else {
                "not-in-demand"
            };
            assert_eq!(reason, expected, "{e}");
            (
                e["details"]["camera"].as_str().unwrap().to_string(),
                action,
                e["details"]["worker"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for cam in ["cam-p2", "cam-p5", "cam-new"] {
        for action in ["camera.assigned", "camera.released"] {
            assert_eq!(
                changes
                    .iter()
                    .filter(|(c, a, w)| c == cam && a == action && w.starts_with("embedded@"))
                    .count(),
                1,
                "{cam} {action}: {changes:?}"
            );
        }
    }
    assert_eq!(changes.len(), 6, "{changes:?}");
    let o = h.verify();
    assert!(
        text(&o.stdout).starts_with("intact:"),
        "{}",
        text(&o.stdout)
    );

    // NVDEC asked for where no GPU is: the server does not start, and says why (no CPU fallback).
    let gpu = std::fs::read_dir("/dev").is_ok_and(|d| {
        d.flatten().any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix("nvidia")
                .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        })
    });
    if !gpu {
        let mut child = h
            .command(
                &["serve", "--listen", "127.0.0.1:0", "--decoder", "nvdec"],
                &[],
            )
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                panic!("serve --decoder nvdec kept running without a GPU");
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert_eq!(
            status.code(),
            Some(78),
            "serve --decoder nvdec without a GPU must exit with EX_CONFIG: {err}"
        );
        assert!(
            err.contains("--decoder nvdec") && err.contains("NVDEC"),
            "{err}"
        );
    }
}
