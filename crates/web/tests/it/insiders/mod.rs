//! The HTTP side of the insider tests: a disabled or logged-out session's open streams end, a role
//! taken away stops an open stream's events, a login
//! posted from another site is refused, nothing personal is cached, the session cookie is host-only,
//! metrics need their own token, and the language switch never redirects off the server.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use mandat_law::{Actor, Role};
use serde_json::json;

use crate::api::{http, json_of, raw};
use crate::common;

const PW: &str = "a long password";

async fn server_with_users() -> (
    tempfile::TempDir,
    std::sync::Arc<mandat_control::Control>,
    SocketAddr,
) {
    let (dir, _clock, control) = common::control().await;
    common::provision(&control, "admin", PW, &[Role::Admin])
        .await
        .unwrap();
    for (u, r) in [("op", Role::Operator), ("rev", Role::Reviewer)] {
        common::provision(&control, u, PW, &[r]).await.unwrap();
    }
    let addr = common::serve(&control).await;
    (dir, control, addr)
}

fn login(addr: SocketAddr, user: &str) -> String {
    let r = http(
        addr,
        "POST",
        "/api/v1/login",
        None,
        Some(json!({"user": user, "password": PW, "totp": common::otp(addr, user)})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    json_of(&r)["token"].as_str().unwrap().to_string()
}

/// Open an event stream and return the connection once its head has arrived.
fn open_stream(addr: SocketAddr, request: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut b).unwrap(),
            1,
            "the stream closed before its head"
        );
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    s
}

/// How long until the server ends the stream (reads to EOF; keep-alive comments may come first).
fn time_to_close(mut s: TcpStream) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return start.elapsed(),
            Ok(_) => continue,
            Err(e) => panic!("the stream stayed open: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_account_and_a_logged_out_session_lose_their_open_streams_within_a_second() {
    let (_dir, control, addr) = server_with_users().await;
    let (op, rev, admin) = tokio::task::spawn_blocking(move || {
        (login(addr, "op"), login(addr, "rev"), login(addr, "admin"))
    })
    .await
    .unwrap();
    // The operator follows the API stream; the reviewer has the review page open (its stream).
    let api = open_stream(
        addr,
        &format!(
            "GET /api/v1/alerts/stream HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {op}\r\n\r\n"
        ),
    );
    let page = open_stream(
        addr,
        &format!(
            "GET /ui/stream HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nCookie: __Host-mandat_session={rev}\r\n\r\n"
        ),
    );
    let api_closed = std::thread::spawn(move || time_to_close(api));
    let page_closed = std::thread::spawn(move || time_to_close(page));
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The admin disables the operator; the reviewer logs out elsewhere.
    let r = tokio::task::spawn_blocking(move || {
        let d = http(addr, "POST", "/api/v1/users/op/disable", Some(&admin), None);
        let l = http(addr, "POST", "/api/v1/logout", Some(&rev), None);
        (d, l)
    })
    .await
    .unwrap();
    assert_eq!(r.0.status, 200, "{}", r.0.body);
    assert_eq!(r.1.status, 200, "{}", r.1.body);
    let api_after = api_closed.join().unwrap();
    let page_after = page_closed.join().unwrap();
    assert!(
        api_after < Duration::from_secs(1),
        "the disabled operator's stream ran on for {api_after:?}"
    );
    assert!(
        page_after < Duration::from_secs(1),
        "the logged-out reviewer's stream ran on for {page_after:?}"
    );
    // And the disabled account's token opens nothing any more.
    let r =
        tokio::task::spawn_blocking(move || http(addr, "GET", "/api/v1/alerts", Some(&op), None))
            .await
            .unwrap();
    assert_eq!(r.status, 401);
    common::provision(&control, "aud", PW, &[Role::Auditor])
        .await
        .unwrap();
    let log = control
        .audit_log(&mandat_testkit::session(
            &control,
            &Actor::new("aud", &[Role::Auditor]),
        ))
        .await
        .unwrap();
    assert!(log.iter().any(|e| e.action == "user.disable"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_posted_from_another_site_is_refused() {
    let (_dir, _control, addr) = server_with_users().await;
    tokio::task::spawn_blocking(move || {
        let api = |origin: &str| {
            let body = common::login_body(addr, "op", PW);
            raw(
                addr,
                &format!(
                    "POST /api/v1/login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nOrigin: {origin}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                ),
            )
        };
        let evil = api("http://evil.example");
        assert_eq!(evil.status, 403, "{}", evil.body);
        assert!(evil.body.contains("cross_origin"), "{}", evil.body);
        assert_eq!(api("null").status, 403);
        assert_eq!(api("http://localhost:1").status, 403, "another port");
        assert_eq!(api("http://localhost.evil.example").status, 403);
        // Behind a TLS-terminating proxy the page is https while the server speaks http.
        assert_eq!(api("https://localhost").status, 200);
        assert_eq!(api("http://localhost").status, 200, "the server's own page");
        // The form: refused, and no session cookie set.
        let form = format!("user=op&password={}", PW.replace(' ', "+"));
        let page = raw(
            addr,
            &format!(
                "POST /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nOrigin: http://evil.example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
                form.len()
            ),
        );
        assert_eq!(page.status, 403);
        assert!(!page.headers.contains("set-cookie"), "{}", page.headers);
        // Programs that send no Origin (the CLI) log in as before.
        assert_eq!(
            http(
                addr,
                "POST",
                "/api/v1/login",
                None,
                Some(json!({"user": "op", "password": PW, "totp": common::otp(addr, "op")}))
            )
            .status,
            200
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_personal_is_cached_and_the_session_cookie_is_host_only() {
    let (_dir, _control, addr) = server_with_users().await;
    tokio::task::spawn_blocking(move || {
        let op = login(addr, "op");
        for path in ["/api/v1/alerts", "/api/v1/cameras", "/api/v1/permits"] {
            let r = http(addr, "GET", path, Some(&op), None);
            assert!(
                r.headers.contains("cache-control: no-store"),
                "{path}: {}",
                r.headers
            );
        }
        let page = raw(
            addr,
            &format!(
                "GET /operator HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nCookie: __Host-mandat_session={op}\r\n\r\n"
            ),
        );
        assert_eq!(page.status, 200);
        assert!(page.headers.contains("cache-control: no-store"), "{}", page.headers);
        // Errors too; only the static assets may be cached.
        assert!(
            http(addr, "GET", "/api/v1/alerts", None, None)
                .headers
                .contains("cache-control: no-store")
        );
        let css = raw(
            addr,
            "GET /static/app.css HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        );
        assert!(css.headers.contains("cache-control: public"), "{}", css.headers);

        let form = format!(
            "user=op&password={}&totp={}",
            PW.replace(' ', "+"),
            common::otp(addr, "op")
        );
        let signed_in = raw(
            addr,
            &format!(
                "POST /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
                form.len()
            ),
        );
        let cookie = signed_in
            .headers
            .lines()
            .find(|l| l.starts_with("set-cookie: __host-mandat_session="))
            .unwrap_or_else(|| panic!("no __Host- session cookie: {}", signed_in.headers))
            .to_string();
        for flag in ["; path=/", "; httponly", "; samesite=strict", "; secure"] {
            assert!(cookie.contains(flag), "{cookie} lacks {flag}");
        }
        assert!(!cookie.contains("domain="), "{cookie}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_their_own_token_and_never_a_session() {
    let (_dir, _control, addr) = server_with_users().await;
    tokio::task::spawn_blocking(move || {
        let op = login(addr, "op");
        let get = |auth: Option<&str>| http(addr, "GET", "/metrics", auth, None);
        assert_eq!(get(None).status, 401);
        assert_eq!(
            get(Some(&op)).status,
            403,
            "a session is not the metrics token"
        );
        assert_eq!(get(Some("metrics-token-for-the-tests-onlX")).status, 403);
        let ok = get(Some(common::METRICS_TOKEN));
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert!(
            ok.body.contains("mandat_alerts{state=\"candidate\"}"),
            "{}",
            ok.body
        );
    })
    .await
    .unwrap();
    // Without a token configured, metrics are off altogether.
    let (_d, _c, control) = common::control().await;
    let state = mandat_web::AppState::new(control, std::sync::Arc::new(Vec::new)).unwrap();
    let (addr, server) = mandat_web::bind("127.0.0.1:0".parse().unwrap(), state, None)
        .await
        .unwrap();
    tokio::spawn(server);
    let r = tokio::task::spawn_blocking(move || {
        http(addr, "GET", "/metrics", Some(common::METRICS_TOKEN), None)
    })
    .await
    .unwrap();
    assert_eq!(r.status, 404, "{}", r.body);
}

#[test]
fn off_this_host_metrics_do_not_show_which_cameras_are_analysed() {
    let stats = mandat_control::AlertStatistics::default();
    let cams = [
        camera("cam-scoped", 5.0, 100, 0),
        camera("cam-idle", 0.0, 0, 250),
    ];
    let local = mandat_web::metrics_text(&cams, &stats, true);
    let remote = mandat_web::metrics_text(&cams, &stats, false);
    assert!(local.contains("outcome=\"unscoped\""), "{local}");
    assert!(local.contains("stage=\"processed\""));
    assert!(local.contains("mandat_camera_alerts_total"));
    for series in [
        "unscoped",
        "processed",
        "mandat_camera_alerts_total",
        "mandat_camera_frames_total",
        // Only cameras a permit covers are connected: which ones are is not for another host.
        "mandat_camera_connected",
        "cam-scoped",
        "cam-idle",
    ] {
        assert!(!remote.contains(series), "{series} off loopback: {remote}");
    }
    assert!(local.contains("mandat_camera_connected{camera=\"cam-idle\"} 1"));
    assert!(local.contains("stage=\"input\""));
    // Not even how many: that would tell when operations run.
    assert!(!remote.contains("mandat_cameras"), "{remote}");
    assert!(local.contains("mandat_cameras 2"), "{local}");
}

fn camera(
    id: &str,
    processed_fps: f64,
    processed: u64,
    unscoped: u64,
) -> mandat_engine::CameraHealth {
    let mut h = mandat_engine::CameraStats::default().snapshot(id, 1);
    h.connected = true;
    h.input_fps = 25.0;
    h.processed_fps = processed_fps;
    h.frames_processed = processed;
    h.frames_unscoped = unscoped;
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_language_switch_never_redirects_off_the_server() {
    let (_dir, _control, addr) = server_with_users().await;
    tokio::task::spawn_blocking(move || {
        for (back, want) in [
            ("/login", "/login"),
            ("/%09/evil.example", "/"),
            ("/%0a/evil.example", "/"),
            ("//evil.example", "/"),
            ("/%5cevil.example", "/"),
            ("https://evil.example", "/"),
        ] {
            let r = raw(
                addr,
                &format!(
                    "GET /lang/en?back={back} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                ),
            );
            assert_eq!(r.status, 303, "{back}");
            let location = r
                .headers
                .lines()
                .find_map(|l| l.strip_prefix("location: "))
                .unwrap_or_default()
                .to_string();
            assert_eq!(location, want, "back={back}");
        }
    })
    .await
    .unwrap();
}

/// What a stream sends within `d` (keep-alive comments included).
fn read_for(mut s: TcpStream, d: Duration) -> String {
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let end = Instant::now() + d;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => continue,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A reviewer of the agency who is not on the permit's team gets none of its live events on the
/// API stream, while the team's reviewer does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_outside_the_team_sees_none_of_its_events() {
    let (_dir, control, addr) = server_with_users().await;
    let admin = Actor::new("admin", &[Role::Admin]);
    common::camera_1(&control, &admin).await;
    for (u, r) in [("app", Role::Applicant), ("pros", Role::Prosecutor)] {
        common::provision(&control, u, PW, &[r]).await.unwrap();
    }
    let app = Actor::new("app", &[Role::Applicant]);
    let permit = common::granted(&control, &app, &Actor::new("pros", &[Role::Prosecutor])).await;
    // Made after the permit: a reviewer of the same agency, on no team.
    common::provision(&control, "rev-out", PW, &[Role::Reviewer])
        .await
        .unwrap();
    let (rev, out) =
        tokio::task::spawn_blocking(move || (login(addr, "rev"), login(addr, "rev-out")))
            .await
            .unwrap();
    let stream = |token: &str| {
        open_stream(
            addr,
            &format!(
                "GET /api/v1/alerts/stream HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\r\n"
            ),
        )
    };
    let (inside, outside) = (stream(&rev), stream(&out));
    let inside = std::thread::spawn(move || read_for(inside, Duration::from_millis(1500)));
    let outside = std::thread::spawn(move || read_for(outside, Duration::from_millis(1500)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    control
        .raise_alert(common::alert(&control, "A-team", &permit).await)
        .await
        .unwrap();
    let (inside, outside) = (inside.join().unwrap(), outside.join().unwrap());
    assert!(inside.contains("A-team"), "the team's reviewer: {inside}");
    assert!(
        !outside.contains("A-team") && !outside.contains(&permit),
        "the outsider saw: {outside}"
    );
    // Nor can the outsider read it by id, or find it in a list.
    let r = tokio::task::spawn_blocking(move || {
        (
            http(addr, "GET", "/api/v1/alerts/A-team", Some(&out), None),
            http(addr, "GET", "/api/v1/alerts", Some(&out), None),
        )
    })
    .await
    .unwrap();
    assert_eq!(r.0.status, 404, "{}", r.0.body);
    assert_eq!(json_of(&r.1), json!([]));
}

/// Whether `needle` arrives on the open stream before it has been quiet for its read timeout.
fn arrives(s: &mut TcpStream, needle: &str) -> bool {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => {
                seen.extend_from_slice(&buf[..n]);
                if String::from_utf8_lossy(&seen).contains(needle) {
                    return true;
                }
            }
        }
    }
}

/// An admin takes a reviewer's role away while the reviewer's event stream is open: the session
/// still holds, but the stream takes it afresh and sends none of the team's alerts any more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_taken_away_stops_the_events_of_an_open_stream() {
    let (_dir, control, addr) = server_with_users().await;
    for (u, r) in [("app", Role::Applicant), ("pros", Role::Prosecutor)] {
        common::provision(&control, u, PW, &[r]).await.unwrap();
    }
    common::camera_1(&control, &Actor::new("admin", &[Role::Admin])).await;
    let permit = common::granted(
        &control,
        &Actor::new("app", &[Role::Applicant]),
        &Actor::new("pros", &[Role::Prosecutor]),
    )
    .await;
    let (rev, admin) =
        tokio::task::spawn_blocking(move || (login(addr, "rev"), login(addr, "admin")))
            .await
            .unwrap();
    let mut stream = open_stream(
        addr,
        &format!(
            "GET /api/v1/alerts/stream HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {rev}\r\n\r\n"
        ),
    );
    stream
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    // On the team with the role: the event arrives.
    control
        .raise_alert(common::alert(&control, "A-1", &permit).await)
        .await
        .unwrap();
    let (mut stream, seen) = tokio::task::spawn_blocking(move || {
        let seen = arrives(&mut stream, "A-1");
        (stream, seen)
    })
    .await
    .unwrap();
    assert!(seen, "the reviewer on the team sees the event");
    let token = rev.clone();
    let r = tokio::task::spawn_blocking(move || {
        http(
            addr,
            "POST",
            "/api/v1/users/rev/roles",
            Some(&admin),
            Some(json!({"roles": []})),
        )
    })
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    // Longer than the stream's session check.
    tokio::time::sleep(mandat_web::STREAM_SESSION_CHECK * 3).await;
    control
        .raise_alert(common::alert(&control, "A-2", &permit).await)
        .await
        .unwrap();
    let seen = tokio::task::spawn_blocking(move || arrives(&mut stream, "A-2"))
        .await
        .unwrap();
    assert!(
        !seen,
        "the stream sent an alert after the role was taken away"
    );
    // The session itself holds: only what it may see changed.
    let r = tokio::task::spawn_blocking(move || {
        http(addr, "GET", "/api/v1/session", Some(&token), None)
    })
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(json_of(&r)["roles"], json!([]));
}

/// A camera is connected only while a permit covers it, so its health tells whether one does.
/// Each user sees the health of their own permits' cameras and no other; an admin, who may not
/// see permits, sees none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn camera_health_shows_only_the_cameras_of_ones_own_permits() {
    let (_dir, _clock, control) = common::control().await;
    for (u, r) in [
        ("admin", Role::Admin),
        ("app", Role::Applicant),
        ("pros", Role::Prosecutor),
    ] {
        common::provision(&control, u, PW, &[r]).await.unwrap();
    }
    common::camera_1(&control, &Actor::new("admin", &[Role::Admin])).await;
    common::granted(
        &control,
        &Actor::new("app", &[Role::Applicant]),
        &Actor::new("pros", &[Role::Prosecutor]),
    )
    .await;
    // Of the same agency and role, made after the permit: on no team.
    common::provision(&control, "app-out", PW, &[Role::Applicant])
        .await
        .unwrap();
    let health: mandat_web::HealthSource = std::sync::Arc::new(|| {
        ["cam-1", "cam-9"]
            .into_iter()
            .map(|c| camera(c, 5.0, 100, 0))
            .collect()
    });
    let addr = common::serve_with(&control, health).await;
    tokio::task::spawn_blocking(move || {
        for (user, want) in [
            ("app", vec!["cam-1"]),
            ("pros", vec!["cam-1"]),
            ("app-out", vec![]),
            ("admin", vec![]),
        ] {
            let token = login(addr, user);
            let r = http(addr, "GET", "/api/v1/cameras/health", Some(&token), None);
            assert_eq!(r.status, 200, "{}", r.body);
            let seen: Vec<String> = json_of(&r)
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["camera"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(seen, want, "{user}");
        }
    })
    .await
    .unwrap();
}
