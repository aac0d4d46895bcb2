//! The API against a running server on loopback: login, the live alert stream (SSE), the two-person
//! review with blind reviewers, no action before verification, images only for reviewers and never
//! cached, JSON errors with the legal rule.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::alert;
use mandat_law::{Actor, Role};

use crate::common;
use serde_json::{Value, json};

pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: String,
    pub(crate) body: String,
}

pub(crate) fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Resp {
        status: head[9..12].parse().unwrap(),
        headers: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

pub(crate) fn json_of(r: &Resp) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("not JSON: {}", r.body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_alert_flow_with_two_reviewers() {
    let (_dir, _clock, control) = common::control().await;
    let admin = Actor::new("admin", &[Role::Admin]);
    common::provision(&control, "admin", "admin password", &[Role::Admin])
        .await
        .unwrap();
    for (u, r) in [
        ("officer", Role::Applicant),
        ("pros", Role::Prosecutor),
        ("rev1", Role::Reviewer),
        ("rev2", Role::Reviewer),
        ("op", Role::Operator),
    ] {
        common::provision(&control, u, "a long password", &[r])
            .await
            .unwrap();
    }
    common::camera_1(&control, &admin).await;
    let officer = Actor::new("officer", &[Role::Applicant]);
    let p = common::granted(&control, &officer, &Actor::new("pros", &[Role::Prosecutor])).await;

    let addr = common::serve(&control).await;

    let token = move |user: &'static str| {
        let pw = if user == "admin" {
            "admin password"
        } else {
            "a long password"
        };
        let r = http(
            addr,
            "POST",
            "/api/v1/login",
            None,
            Some(json!({"user": user, "password": pw, "totp": common::otp(addr, user)})),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        json_of(&r)["token"].as_str().unwrap().to_string()
    };
    let (op, rev1, rev2, adm, off) = tokio::task::spawn_blocking(move || {
        (
            token("op"),
            token("rev1"),
            token("rev2"),
            token("admin"),
            token("officer"),
        )
    })
    .await
    .unwrap();

    // Errors are JSON with a stable code.
    let r = tokio::task::spawn_blocking(move || http(addr, "GET", "/api/v1/alerts", None, None))
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(json_of(&r)["code"], "unauthenticated");
    let bad = tokio::task::spawn_blocking(move || {
        http(
            addr,
            "POST",
            "/api/v1/login",
            None,
            Some(json!({"user": "op", "password": "wrong"})),
        )
    })
    .await
    .unwrap();
    assert_eq!(bad.status, 401);
    assert!(bad.headers.contains("x-frame-options: deny"));

    // The live stream: open it, then raise an alert.
    let op2 = op.clone();
    let sse = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        write!(
            s,
            "GET /api/v1/alerts/stream HTTP/1.1\r\nHost: l\r\nAuthorization: Bearer {op2}\r\n\r\n"
        )
        .unwrap();
        let mut lines = BufReader::new(s).lines();
        let mut got = Vec::new();
        while let Some(Ok(l)) = lines.next() {
            if l.starts_with("data:") {
                got.push(l);
                break;
            }
        }
        got
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    control
        .raise_alert(alert(&control, "A-1", &p).await)
        .await
        .unwrap();
    let got = sse.await.unwrap();
    assert!(
        got[0].contains("\"id\":\"A-1\"") && got[0].contains("\"state\":\"candidate\""),
        "{got:?}"
    );
    assert!(!got[0].contains("crop"), "no images in events");

    let (rev1c, rev2c, opc, admc, offc) = (
        rev1.clone(),
        rev2.clone(),
        op.clone(),
        adm.clone(),
        off.clone(),
    );
    tokio::task::spawn_blocking(move || {
        // No action before two reviewers verified it.
        let r = http(
            addr,
            "POST",
            "/api/v1/alerts/A-1/dispatch",
            Some(&opc),
            Some(json!({})),
        );
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(json_of(&r)["code"], "not_verified");
        assert!(json_of(&r)["rule"].as_str().unwrap().contains("14(5)"));
        // Admins see no alerts; operators see no images; reviewers do, never cached.
        assert_eq!(
            http(addr, "GET", "/api/v1/alerts", Some(&admc), None).status,
            403
        );
        assert_eq!(
            http(
                addr,
                "GET",
                "/api/v1/alerts/A-1/media/crop",
                Some(&opc),
                None
            )
            .status,
            403
        );
        let img = http(
            addr,
            "GET",
            "/api/v1/alerts/A-1/media/crop",
            Some(&rev1c),
            None,
        );
        assert_eq!(img.status, 200);
        assert!(img.headers.contains("cache-control: no-store"));
        assert!(img.headers.contains("content-type: image/jpeg"));
        // The applicant of the permit cannot review its hits (not even holding the role).
        let r = http(
            addr,
            "POST",
            "/api/v1/alerts/A-1/review",
            Some(&offc),
            Some(json!({"verdict": "confirm"})),
        );
        assert_eq!(r.status, 403, "{}", r.body);
        // First reviewer confirms; the same reviewer cannot confirm twice.
        let r = http(
            addr,
            "POST",
            "/api/v1/alerts/A-1/review",
            Some(&rev1c),
            Some(json!({"verdict": "confirm"})),
        );
        assert_eq!(
            (r.status, json_of(&r)["state"].as_str()),
            (200, Some("candidate"))
        );
        let r = http(
            addr,
            "POST",
            "/api/v1/alerts/A-1/review",
            Some(&rev1c),
            Some(json!({"verdict": "confirm"})),
        );
        assert_eq!(json_of(&r)["code"], "two_persons");
        // The second reviewer is blind to the first one's decision.
        let r = http(addr, "GET", "/api/v1/alerts/A-1", Some(&rev2c), None);
        assert_eq!(
            json_of(&r)["reviews"].as_array().unwrap().len(),
            0,
            "{}",
            r.body
        );
        let r = http(
            addr,
            "POST",
            "/api/v1/alerts/A-1/review",
            Some(&rev2c),
            Some(json!({"verdict": "confirm"})),
        );
        assert_eq!(json_of(&r)["state"], "verified");
        // Now an operator may act.
        let r = http(
            addr,
            "POST",
            "/api/v1/alerts/A-1/dispatch",
            Some(&opc),
            Some(json!({"note": "unit 12"})),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        // Malformed payloads get a clear 4xx, never a 5xx.
        let r = http(
            addr,
            "POST",
            "/api/v1/alerts/A-1/review",
            Some(&rev2c),
            Some(json!({"verdict": "maybe"})),
        );
        assert!((400..500).contains(&r.status), "{}", r.status);
        assert_eq!(
            http(addr, "GET", "/api/v1/nothing", Some(&opc), None).status,
            404
        );
    })
    .await
    .unwrap();
    // A second alert, rejected by one reviewer with a reason.
    control
        .raise_alert(alert(&control, "A-2", &p).await)
        .await
        .unwrap();
    tokio::task::spawn_blocking(move || {
        let r = http(
            addr,
            "POST",
            "/api/v1/alerts/A-2/review",
            Some(&rev2),
            Some(json!({"verdict": "reject"})),
        );
        assert_eq!(json_of(&r)["code"], "review_reason");
        let r = http(
            addr,
            "POST",
            "/api/v1/alerts/A-2/review",
            Some(&rev2),
            Some(json!({"verdict": "reject", "reason": "not the person"})),
        );
        assert_eq!(json_of(&r)["state"], "rejected");
    })
    .await
    .unwrap();
    let (entries, _) = mandat_testkit::store(&control).audit_log().await.unwrap();
    let reviews: Vec<&str> = entries
        .iter()
        .filter(|e| e.action == "alert.review")
        .map(|e| e.actor.as_str())
        .collect();
    assert_eq!(
        reviews,
        ["rev1", "rev2", "rev2"],
        "every reviewer is in the log"
    );
    assert!(entries.iter().any(|e| e.action == "alert.dispatch"));
    assert!(entries.iter().any(|e| e.action == "alert.view_media"));
    // "From where" is the peer's address as the socket saw it.
    let review = entries.iter().find(|e| e.action == "alert.review").unwrap();
    assert_eq!(review.origin, "api:127.0.0.1");
}

/// A raw request, for bodies the helper above would not send.
pub(crate) fn raw(addr: SocketAddr, request: &str) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Resp {
        status: head[9..12].parse().unwrap(),
        headers: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_payloads_and_duplicates_get_json_errors() {
    let (_dir, _clock, control) = common::control().await;
    common::provision(&control, "admin", "admin password", &[Role::Admin])
        .await
        .unwrap();
    let addr = common::serve(&control).await;
    let checks = tokio::task::spawn_blocking(move || {
        let login = http(
            addr,
            "POST",
            "/api/v1/login",
            None,
            Some(json!({"user": "admin", "password": "admin password", "totp": common::otp(addr, "admin")})),
        );
        let token = json_of(&login)["token"].as_str().unwrap().to_string();
        let camera = json!({"id": "cam-9", "name": "n", "location": [59.3, 18.0],
            "owner": "region:Stockholm", "enabled": true, "stream_url": "rtsp://h/s",
            "agreement": mandat_testkit::agreement()});
        let mut out = Vec::new();
        for (what, body) in [
            ("first", camera.clone()),
            ("again", camera.clone()),
            ("bad owner", json!({"id": "cam-8", "name": "n", "location": null,
                "owner": "someone", "enabled": true, "stream_url": "rtsp://h/s"})),
            ("partner without agreement", json!({"id": "cam-8", "name": "n", "location": null,
                "owner": "private:Mall AB", "enabled": true, "stream_url": "rtsp://h/s"})),
            ("bad latitude", json!({"id": "cam-7", "name": "n", "location": [91.0, 18.0],
                "owner": "police", "enabled": true, "stream_url": "rtsp://h/s"})),
            ("bad id", json!({"id": "", "name": "n", "location": null,
                "owner": "police", "enabled": true, "stream_url": "rtsp://h/s"})),
            ("wrong type", json!({"id": 5})),
        ] {
            out.push((what, http(addr, "POST", "/api/v1/cameras", Some(&token), Some(body))));
        }
        let broken = "{\"id\": ";
        out.push((
            "broken JSON",
            raw(
                addr,
                &format!(
                    "POST /api/v1/cameras HTTP/1.1\r\nHost: l\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{broken}",
                    broken.len()
                ),
            ),
        ));
        out.push((
            "no content type",
            raw(
                addr,
                &format!(
                    "POST /api/v1/cameras HTTP/1.1\r\nHost: l\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Length: 2\r\n\r\n{{}}"
                ),
            ),
        ));
        out.push((
            "bad query",
            http(addr, "GET", "/api/v1/alerts?limit=lots", Some(&token), None),
        ));
        out
    })
    .await
    .unwrap();
    let want = [
        ("first", 201, ""),
        ("again", 409, "conflict"),
        ("bad owner", 422, "invalid"),
        ("partner without agreement", 422, "invalid"),
        ("bad latitude", 422, "invalid"),
        ("bad id", 422, "invalid"),
        ("wrong type", 422, "bad_request"),
        ("broken JSON", 400, "bad_request"),
        ("no content type", 415, "unsupported_media_type"),
        ("bad query", 400, "bad_request"),
    ];
    for ((what, r), (w, status, code)) in checks.iter().zip(want) {
        assert_eq!(*what, w);
        assert_eq!(r.status, status, "{what}: {}", r.body);
        assert!(
            r.headers.contains("content-type: application/json"),
            "{what}: {}",
            r.headers
        );
        if !code.is_empty() {
            assert_eq!(json_of(r)["code"], code, "{what}: {}", r.body);
            assert!(!json_of(r)["message"].as_str().unwrap().is_empty());
        }
    }
}

/// A per-template calibration table goes in with its cohort (base64 of little-endian f32), which
/// the server checks against the table and seals; a cohort that is not base64, not whole
/// templates or another than the table names is refused with 422 and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calibration_table_is_stored_with_its_own_cohort_only() {
    use base64::Engine as _;
    let (_dir, _clock, control) = common::control().await;
    common::provision(&control, "admin", "admin password", &[Role::Admin])
        .await
        .unwrap();
    let addr = common::serve(&control).await;
    // 1,000 unit vectors, deterministic.
    let cohort = mandat_eval::cohort::Cohort::new(
        128,
        (0..1000u64).map(|i| {
            let mut r = mandat_eval::calibrate::SplitMix::new(i);
            let v: Vec<f32> = (0..128)
                .map(|_| (r.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
                .collect();
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / n).collect()
        }),
    )
    .unwrap();
    let points: Vec<Value> = (1..=6)
        .map(|k| json!({"fmr": 10f64.powi(-k), "threshold": 0.2 + 0.05 * k as f32}))
        .collect();
    let check = json!({"fpir_target": 1e-4, "watchlist": 3, "threshold": 0.42, "false_alarms": 210,
        "trials": 2_000_000, "fpir_realised": 1.05e-4, "ratio": 1.05, "within_2x": true});
    let version = cohort.version();
    let table = move |version_: &str, cohort_field: Value| {
        json!({
            "version": version_,
            "model_sha256": mandat_control::calibration::pinned_embedder_sha256(),
            "detector_sha256": "d".repeat(64), "created_at": "2026-11-30T00:00:00Z",
            "data": "synthetic", "impostor_pairs": 10_000_000, "curve": points, "held_out": [check],
            "per_template": {"cohort": version, "cohort_size": 1000, "top": 20,
                "data": "synthetic", "impostor_pairs": 1_000_000, "curve": points,
                "held_out": [check], "templates": {"target": 0.01, "templates": 0, "probes_each": 0,
                "median_ratio": 1.0, "p10_ratio": 1.0, "p90_ratio": 1.0, "within_2x": 1.0}},
            "cohort": cohort_field,
        })
    };
    let b64 = |bytes: &[u8]| Value::from(base64::engine::general_purpose::STANDARD.encode(bytes));
    let good = cohort.to_le_bytes();
    let results = tokio::task::spawn_blocking(move || {
        let r = http(
            addr,
            "POST",
            "/api/v1/login",
            None,
            Some(json!({"user": "admin", "password": "admin password", "totp": common::otp(addr, "admin")})),
        );
        let adm = json_of(&r)["token"].as_str().unwrap().to_string();
        let post = |v: Value| http(addr, "POST", "/api/v1/calibrations", Some(&adm), Some(v));
        let mut other = good.clone();
        other[5] ^= 1;
        vec![
            post(table("v-a", Value::from("not base64!"))),
            post(table("v-b", b64(&good[..good.len() - 4]))),
            post(table("v-c", b64(&other))),
            post(table("v-d", Value::Null)),
            post(table("v-ok", b64(&good))),
        ]
    })
    .await
    .unwrap();
    for (r, says) in results[..4].iter().zip([
        "not base64",
        "whole templates",
        "but the table was made with",
        "without its cohort",
    ]) {
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains(says), "{says}: {}", r.body);
    }
    assert_eq!(results[4].status, 200, "{}", results[4].body);
    assert_eq!(json_of(&results[4])["recorded"], "v-ok");
}
