//! A control process with no embedded worker, and one enrolled worker process that holds no key, no
//! database and no biometric file: it leases the covered camera, pulls its scope grant and sends
//! the alert over mTLS. Then the tests an insider would write: ask for another camera's watchlist,
//! send an alert for a camera not leased, come in without a certificate or with one from another
//! CA, and keep going after being disabled.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::lawful_cli::*;

/// The worker process, killed when dropped.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `mandat` with none of the control plane's settings: a worker knows no home, key or database.
/// Nor does it inherit the test runner's telemetry opt-outs (ONNX Runtime also keeps quiet on CI
/// machines): `mandat` itself must turn telemetry off.
pub(crate) fn bare(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mandat"));
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("MANDAT_") && k != "MANDAT_DATA" {
            cmd.env_remove(k);
        }
    }
    for k in [
        "ORT_DISABLE_TELEMETRY",
        "CI",
        "GITHUB_ACTIONS",
        "GITLAB_CI",
        "TF_BUILD",
        "JENKINS_URL",
        "BUILDKITE",
        "CIRCLECI",
        "TRAVIS",
        "TEAMCITY_VERSION",
        "CODEBUILD_BUILD_ID",
        "BITBUCKET_BUILD_NUMBER",
    ] {
        cmd.env_remove(k);
    }
    cmd
}

/// Where the models are, as `mandat_models` finds them.
pub(crate) fn model_cache() -> std::path::PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    env("MANDAT_CACHE")
        .map(std::path::PathBuf::from)
        .or_else(|| env("XDG_CACHE_HOME").map(|p| std::path::PathBuf::from(p).join("mandat")))
        .unwrap_or_else(|| std::path::PathBuf::from(env("HOME").unwrap()).join(".cache/mandat"))
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn pem_certs(pem: &[u8]) -> Vec<ureq::tls::Certificate<'static>> {
    ureq::tls::parse_pem(pem)
        .filter_map(|i| match i {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect()
}

/// A client of the internal listener trusting `ca`, presenting `cert` and `key` (PEM) if given.
fn client(ca: &[u8], identity: Option<(&[u8], &[u8])>) -> ureq::Agent {
    let mut tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::Specific(Arc::new(pem_certs(ca))));
    if let Some((cert, key)) = identity {
        let key = ureq::tls::parse_pem(key)
            .find_map(|i| match i {
                Ok(ureq::tls::PemItem::PrivateKey(k)) => Some(k),
                _ => None,
            })
            .unwrap();
        tls = tls.client_cert(Some(ureq::tls::ClientCert::new_with_certs(
            &pem_certs(cert),
            key,
        )));
    }
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(10)))
        .tls_config(tls.build())
        .build()
        .into()
}

fn post(agent: &ureq::Agent, url: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let mut r = agent.post(url).send_json(body).expect("an answer");
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

pub(crate) fn audit(h: &Home) -> Vec<mandat_audit::Entry> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(mandat_store::read_audit_log(&h.url()))
        .unwrap()
        .0
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn a_keyless_worker_runs_only_its_leased_camera_over_mtls_and_is_cut_off_when_disabled() {
    let h = setup();
    let port = free_port();
    let internal = format!("https://127.0.0.1:{port}");
    h.stop_server();
    h.start_server(&[
        ("MANDAT_INTERNAL_LISTEN", &format!("127.0.0.1:{port}")),
        ("MANDAT_NO_EMBEDDED_WORKER", "true"),
    ]);

    // The worker makes its key; the admin enrols it through the server.
    let wdir = h.path().join("worker-w1");
    let o = bare(&[
        "worker",
        "key",
        "--id",
        "w1",
        "--dir",
        wdir.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    h.login("admin");
    h.ok(&[
        "worker",
        "enrol",
        "w1",
        "--csr",
        wdir.join("worker.csr").to_str().unwrap(),
        "--capacity",
        "4",
        "--out",
        wdir.to_str().unwrap(),
    ]);
    // Its directory holds its own key and certificates only: no master, wrapping or audit key.
    assert_eq!(
        files_in(&wdir),
        ["ca.pem", "worker.csr", "worker.key", "worker.pem"]
    );
    // Enrolling the same id again, or as a non-admin, is refused.
    let o = h.run(&[
        "worker",
        "enrol",
        "w1",
        "--csr",
        wdir.join("worker.csr").to_str().unwrap(),
        "--out",
        h.path().join("again").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("used once"), "{}", text(&o.stderr));
    // One admin alone does not bring a worker in: the enroller cannot approve it; another admin
    // does (below, once the worker has been refused while waiting).
    let o = h.run(&["worker", "approve", "w1"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("another admin"),
        "{}",
        text(&o.stderr)
    );

    let video = data().join("synthetic/synthetic_watchlist.mp4");
    add_camera(&h, "cam-w", &video.display().to_string());
    let whome = h.path().join("worker-home");
    std::fs::create_dir_all(&whome).unwrap();
    let mut worker = Worker(
        bare(&[
            "worker",
            "run",
            "--control",
            &internal,
            "--dir",
            wdir.to_str().unwrap(),
            "--workers",
            "1",
        ])
        // Its own home: whatever it writes there (nothing, we check) is its own.
        .env("HOME", &whome)
        .env("MANDAT_CACHE", model_cache())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    let worker_log = Arc::new(std::sync::Mutex::new(String::new()));
    {
        use std::io::BufRead;
        let stderr = worker.0.stderr.take().unwrap();
        let sink = worker_log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
    }

    // Not approved yet: refused (the worker loads its models first).
    let deadline = Instant::now() + Duration::from_secs(90);
    while !worker_log
        .lock()
        .unwrap()
        .contains("the control plane refuses this worker")
    {
        assert!(Instant::now() < deadline, "{}", worker_log.lock().unwrap());
        std::thread::sleep(Duration::from_millis(100));
    }
    h.login("admin2");
    h.ok(&["worker", "approve", "w1"]);

    // A permit for Bruce Springsteen, who walks through the synthetic video from its first frame.
    h.login("officer");
    let mut app: serde_json::Value =
        serde_json::from_str(&application("victim_search", 1)).unwrap();
    app["area"]["cameras"] = serde_json::json!(["cam-w"]);
    let file = h.write("w.json", &app.to_string());
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
        &lfw("Bruce_Springsteen"),
    ]);
    h.ok(&["permit", "apply", &id]);
    h.login("pros");
    h.ok_in(
        &["permit", "decide", &id, "--grant", "--reasons-file", "-"],
        "necessary and proportionate\n",
    );

    // The worker leases the camera and raises the alert, stored through the control plane.
    let deadline = Instant::now() + Duration::from_secs(90);
    let (epoch, alert) = loop {
        let log = audit(&h);
        let epoch = log.iter().find_map(|e| {
            (e.action == "camera.assigned" && e.details["worker"] == "w1")
                .then(|| e.details["epoch"].as_i64().unwrap())
        });
        let alert = log
            .iter()
            .find(|e| e.action == "alert.candidate")
            .map(|e| e.permit.clone());
        if let (Some(epoch), Some(alert)) = (epoch, alert) {
            break (epoch, alert);
        }
        assert!(
            Instant::now() < deadline,
            "no alert through the worker; its log: {}",
            worker_log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    // Only cam-w is under a permit: the alert is its.
    assert_eq!(alert.as_deref(), Some(id.as_str()));

    // The worker process opened no database and holds no file of the control plane open.
    let pid = worker.0.id();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
        let target = std::fs::read_link(fd.unwrap().path()).unwrap_or_default();
        let t = target.to_string_lossy();
        assert!(
            !target.starts_with(h.data()) && !target.starts_with(h.keys()),
            "the worker holds {t} open"
        );
        assert!(!t.ends_with(".db") && !t.contains("-wal"), "{t}");
    }

    let ca = std::fs::read(wdir.join("ca.pem")).unwrap();
    let cert = std::fs::read(wdir.join("worker.pem")).unwrap();
    let key = std::fs::read(wdir.join("worker.key")).unwrap();
    let w1 = client(&ca, Some((&cert, &key)));

    // A grant needs a scope snapshot under 0.5 s old: on a busy machine, ask again after a 503.
    let ask = |cameras: serde_json::Value| {
        for _ in 0..20 {
            let (status, body) = post(
                &w1,
                &format!("{internal}/internal/v1/scope"),
                serde_json::json!({"protocol": 1, "cameras": cameras}),
            );
            if status != 503 {
                assert_eq!(status, 200, "{body}");
                return body;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no grant in 20 tries");
    };
    // Another camera's watchlist is not given, even asked for by a genuine worker.
    let grant = ask(serde_json::json!([
        ["cam-1", epoch],
        ["cam-w", epoch + 1000]
    ]));
    assert_eq!(grant["cameras"], serde_json::json!([]), "{grant}");
    // Its own camera, under its epoch, is.
    let grant = ask(serde_json::json!([["cam-w", epoch]]));
    assert_eq!(grant["cameras"][0]["camera"], "cam-w", "{grant}");
    assert_eq!(grant["cameras"][0]["entries"][0]["person"], person.as_str());
    // An alert for its own camera, now, under an epoch it never held, is not kept.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let forged = serde_json::json!({
        "protocol": 1, "epoch": epoch + 1, "id": "A-forged-0001", "permit": id, "person": person,
        "camera": "cam-w", "captured_at": now_ms, "frame_index": 0, "score": 0.9, "threshold": 0.363,
        "watchlist_version": "0", "crop_jpeg": "", "frame_jpeg": ""
    });
    let (status, body) = post(&w1, &format!("{internal}/internal/v1/alerts"), forged);
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("did not lease"),
        "{body}"
    );
    // An unknown protocol version is refused with what to do.
    let (status, body) = post(
        &w1,
        &format!("{internal}/internal/v1/lease"),
        serde_json::json!({"protocol": 99}),
    );
    assert_eq!(status, 422, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("upgrade"),
        "{body}"
    );

    // Without a certificate, or with one the internal CA did not sign (same name), no TLS at all.
    let anonymous = client(&ca, None);
    assert!(
        anonymous
            .post(&format!("{internal}/internal/v1/lease"))
            .send_json(serde_json::json!({"protocol": 1}))
            .is_err()
    );
    let (rogue_ca, rogue_key) = mandat_control::pki::create_ca("rogue").unwrap();
    let rogue = mandat_control::pki::Ca::from_pem(&rogue_ca, &rogue_key).unwrap();
    let (k, csr) = mandat_control::pki::worker_request("w1").unwrap();
    let (c, _) = rogue.sign_worker("w1", &csr).unwrap();
    let forged = client(&ca, Some((c.as_bytes(), k.as_bytes())));
    assert!(
        forged
            .post(&format!("{internal}/internal/v1/lease"))
            .send_json(serde_json::json!({"protocol": 1}))
            .is_err()
    );
    // The user API is not served on the internal listener.
    let (status, _) = post(
        &w1,
        &format!("{internal}/api/v1/login"),
        serde_json::json!({}),
    );
    assert_eq!(status, 404);

    // Disabled: its very next request is refused, and its camera is released in the log.
    h.login("admin");
    let seen_before_disable = worker_log.lock().unwrap().len();
    let disabled = Instant::now();
    h.ok(&["worker", "disable", "w1"]);
    let (status, body) = post(
        &w1,
        &format!("{internal}/internal/v1/scope"),
        serde_json::json!({"protocol": 1, "cameras": [["cam-w", epoch]]}),
    );
    assert_eq!(status, 403, "{body}");
    assert!(disabled.elapsed() < Duration::from_secs(5));
    let log = audit(&h);
    assert!(log.iter().any(|e| e.action == "worker.disabled"));
    assert!(
        log.iter().any(|e| e.action == "camera.released"
            && e.details["worker"] == "w1"
            && e.details["reason"] == "worker-disabled"),
        "no release on disabling"
    );
    // And the worker itself says so (again, after its approval), and runs nothing.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !worker_log.lock().unwrap()[seen_before_disable..]
        .contains("the control plane refuses this worker")
    {
        assert!(Instant::now() < deadline, "{}", worker_log.lock().unwrap());
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(worker);
    // No telemetry: ONNX Runtime's uploader made no device id and no event queue in its home.
    assert_eq!(files_in(&whome), Vec::<String>::new());
    let o = h.verify();
    assert!(
        text(&o.stdout).starts_with("intact:"),
        "{}",
        text(&o.stdout)
    );
}
