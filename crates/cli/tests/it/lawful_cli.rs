//! The lawful-use commands through the real binary: accounts, cameras, the permit lifecycle with real
//! reference photos, offline audit verification of the database and of an export, and crash safety:
//! a process killed in the middle of a purge leaves the whole decision or none of it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A running `mandat serve`: the one process that holds the keys. Every lawful-use command of the
/// CLI is a request to it.
pub(crate) struct Server {
    child: std::process::Child,
    url: String,
    /// What it wrote to stderr, for failure messages.
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh installation in a temporary directory: the data directory `data/`, and beside it, where
/// mandat puts them by default, the keys in `data-keys/`; and its server.
pub(crate) struct Home {
    server: RefCell<Option<Server>>,
    /// The server's port, kept across restarts (0 until it first starts).
    port: std::cell::Cell<u16>,
    dir: tempfile::TempDir,
    /// A PostgreSQL database instead of the default SQLite file under the home.
    db: Option<String>,
    /// The audit public key `init` printed: the one verification pins.
    key: String,
    /// Each account's TOTP secret, and the last time step a login of it used.
    secrets: RefCell<HashMap<String, String>>,
    steps: RefCell<HashMap<String, i64>>,
}

/// The last whitespace-separated word of the first line of `out` that contains `marker`.
pub(crate) fn word_after(out: &str, marker: &str) -> String {
    out.lines()
        .find(|l| l.contains(marker))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("no {marker:?} in {out}"))
        .trim_matches('`')
        .to_string()
}

impl Home {
    pub(crate) fn new() -> Self {
        Home {
            server: RefCell::default(),
            port: std::cell::Cell::new(0),
            dir: tempfile::tempdir().unwrap(),
            db: None,
            key: String::new(),
            secrets: RefCell::default(),
            steps: RefCell::default(),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The data directory (`MANDAT_HOME`).
    pub(crate) fn data(&self) -> PathBuf {
        self.path().join("data")
    }

    /// The key directory mandat chooses by default: beside the data directory.
    pub(crate) fn keys(&self) -> PathBuf {
        self.path().join("data-keys")
    }

    pub(crate) fn url(&self) -> String {
        self.db
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data().join("mandat.db").display()))
    }

    /// `mandat` with this home's environment: its data directory and database, its CLI session
    /// file, and the address of its server when one runs.
    pub(crate) fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        self.command_of(Path::new(env!("CARGO_BIN_EXE_mandat")), args, env)
    }

    /// [`Home::command`] with another copy of the binary.
    pub(crate) fn command_of(
        &self,
        program: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env("MANDAT_HOME", self.data())
            .env("MANDAT_SESSION", self.path().join("session"))
            .env_remove("MANDAT_KEYS")
            .env_remove("MANDAT_JURISDICTION")
            .env_remove("MANDAT_DB")
            .env_remove("MANDAT_MASTER_KEY")
            .env_remove("MANDAT_SERVER")
            .env_remove("MANDAT_CA")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(db) = &self.db {
            cmd.env("MANDAT_DB", db);
        }
        if let Some(s) = self.server.borrow().as_ref() {
            cmd.env("MANDAT_SERVER", &s.url);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Start `mandat serve` on a free loopback port (stopping one that runs), with `env` added.
    /// A restarted server keeps its address, as a real one does, so sessions made before work on.
    pub(crate) fn start_server(&self, env: &[(&str, &str)]) {
        let port = self.port.get();
        for _ in 0..20 {
            if self.try_start_server(port, env) {
                return;
            }
            // The old listener's port is not free yet.
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        panic!("mandat serve did not start again on port {port}");
    }

    pub(crate) fn try_start_server(&self, port: u16, env: &[(&str, &str)]) -> bool {
        use std::io::BufRead;
        self.server.borrow_mut().take();
        let listen = format!("127.0.0.1:{port}");
        let mut child = self
            .command(
                &[
                    "serve",
                    "--listen",
                    &listen,
                    // Tests log in often from one address.
                    "--logins-per-minute",
                    "1000",
                ],
                env,
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start mandat serve");
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(rest) = line.strip_prefix("mandat serving ") {
                    let url = rest.split_whitespace().next().unwrap_or_default();
                    let _ = tx.send(url.trim_end_matches('/').to_string());
                }
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let Ok(url) = rx.recv_timeout(std::time::Duration::from_secs(120)) else {
            let _ = child.kill();
            let _ = child.wait();
            let log = log.lock().unwrap();
            assert!(
                port != 0 && log.contains("in use"),
                "mandat serve did not start: {log}"
            );
            return false;
        };
        let port = url.rsplit(':').next().and_then(|p| p.parse().ok());
        self.port
            .set(port.expect("the server's address has a port"));
        *self.server.borrow_mut() = Some(Server { child, url, log });
        true
    }

    /// Stop the server (it is started again with [`Home::start_server`]).
    pub(crate) fn stop_server(&self) -> String {
        let s = self.server.borrow_mut().take().expect("a server runs");
        let log = s.log.lock().unwrap().clone();
        drop(s);
        log
    }

    pub(crate) fn run_env(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        env: &[(&str, &str)],
    ) -> Output {
        let mut child = self.command(args, env).spawn().expect("run mandat");
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
        drop(input);
        child.wait_with_output().unwrap()
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, None, &[])
    }

    /// Run with `stdin` (a reason, a stream URL) and require success.
    pub(crate) fn ok_in(&self, args: &[&str], stdin: &str) -> String {
        let o = self.run_env(args, Some(stdin), &[]);
        assert!(
            o.status.success(),
            "mandat {args:?} failed: {}{}",
            text(&o.stdout),
            text(&o.stderr)
        );
        text(&o.stdout)
    }

    /// The audit log's head as a witness would hold it: a file with the newest checkpoint.
    pub(crate) fn anchor(&self) -> PathBuf {
        let url = self.url();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (_, cps) = rt.block_on(mandat_store::read_audit_log(&url)).unwrap();
        let p = self.path().join(format!("anchor-{}.jsonl", cps.len()));
        std::fs::write(&p, serde_json::to_string(cps.last().unwrap()).unwrap()).unwrap();
        p
    }

    /// `mandat audit verify` of the database, against the pinned key and the newest anchor.
    pub(crate) fn verify(&self) -> Output {
        let anchor = self.anchor();
        self.run(&[
            "audit",
            "verify",
            "--public-key",
            &self.key,
            "--anchor",
            anchor.to_str().unwrap(),
        ])
    }

    /// Run and require success.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "mandat {args:?} failed: {}{}",
            text(&o.stdout),
            text(&o.stderr)
        );
        text(&o.stdout)
    }

    /// A one-time code of `user` that no login of it used yet: the server accepts the codes of
    /// the step before and after its own, and each once, so a test that logs in again within 30 s
    /// takes the next step's code (or waits for one).
    pub(crate) fn otp(&self, user: &str) -> String {
        let secret = self.secrets.borrow()[user].clone();
        loop {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64;
            let now = now_ms / 30_000;
            let last = self.steps.borrow().get(user).copied().unwrap_or(i64::MIN);
            let step = now.max(last.saturating_add(1));
            // Never the step before: it may be two steps old when the server checks it.
            if step <= now + 1 {
                self.steps.borrow_mut().insert(user.to_string(), step);
                return mandat_store::totp::code(&secret, mandat_law::Timestamp(step * 30_000))
                    .unwrap();
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }

    pub(crate) fn login(&self, user: &str) {
        let o = self.run_env(
            &["login", "--user", user, "--password-stdin"],
            Some(&format!("{}\n{}\n", password(user), self.otp(user))),
            &[],
        );
        assert!(o.status.success(), "login {user}: {}", text(&o.stderr));
    }

    /// Enrol `user` with `code` and keep the TOTP secret it prints.
    pub(crate) fn enrol(&self, user: &str, code: &str) {
        let out = self.ok_in(
            &["enrol", "--user", user, "--stdin"],
            &format!("{code}\n{}\n", password(user)),
        );
        self.secrets
            .borrow_mut()
            .insert(user.to_string(), word_after(&out, "shown only once"));
    }

    /// As the logged-in admin, add `user` with `role`; the user enrols. Returns the grant to
    /// approve.
    pub(crate) fn add_user(&self, user: &str, role: &str) -> String {
        let out = self.ok(&["user", "add", user, "--role", role]);
        self.enrol(user, &word_after(&out, "enrolment code"));
        word_after(&out, "mandat user approve")
    }

    /// Add users, then approve their roles as the second admin; ends logged in as `admin`.
    pub(crate) fn add_users(&self, users: &[(&str, &str)]) {
        self.login("admin");
        let grants: Vec<String> = users.iter().map(|(u, r)| self.add_user(u, r)).collect();
        self.login("admin2");
        for g in grants {
            self.ok(&["user", "approve", &g]);
        }
        self.login("admin");
    }

    pub(crate) fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }
}

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(crate) fn password(user: &str) -> String {
    format!("{user} has a long password")
}

pub(crate) fn data() -> PathBuf {
    let d = std::env::var_os("MANDAT_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    assert!(
        d.join("lfw").is_dir(),
        "test data not found at {}; set MANDAT_DATA",
        d.display()
    );
    d
}

pub(crate) fn lfw(name: &str) -> String {
    data()
        .join(format!("lfw/lfw-deepfunneled/{name}/{name}_0001.jpg"))
        .display()
        .to_string()
}

/// A fresh PostgreSQL database when `MANDAT_TEST_POSTGRES` names a server (as `./test.sh` does).
pub(crate) fn postgres_db() -> Option<String> {
    let admin = std::env::var("MANDAT_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())?;
    let name = format!(
        "mandat_t_cli_{}",
        std::process::id() as u64 * 1000 + rand_suffix()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&admin)
            .await
            .expect("MANDAT_TEST_POSTGRES is set but PostgreSQL cannot be reached");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
    let (base, _) = admin.rsplit_once('/').unwrap();
    Some(format!("{base}/{name}"))
}

pub(crate) fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// The full evaluation report of the pinned models that `scripts/setup.sh` leaves in the model
/// cache, with its calibration and cohort.
pub(crate) fn evaluation() -> PathBuf {
    let dir = mandat_models::Store::from_env()
        .expect("a cache directory")
        .root()
        .join("evaluation");
    assert!(
        dir.join("report.json").is_file() && dir.join("cohort.bin").is_file(),
        "no evaluation report in {}: run scripts/setup.sh (it makes one where the test data is)",
        dir.display()
    );
    dir
}

/// Initialise, add one user per role and one camera.
pub(crate) fn setup() -> Home {
    setup_on(None)
}

pub(crate) fn setup_on(db: Option<String>) -> Home {
    let mut h = Home::new();
    h.db = db;
    let o = h.run_env(
        &[
            "init",
            "--admin",
            "admin",
            "--admin",
            "admin2",
            "--password-stdin",
        ],
        Some(&format!("{}\n", password("admin"))),
        &[],
    );
    assert!(o.status.success(), "init: {}", text(&o.stderr));
    let out = text(&o.stdout);
    h.key = out
        .split("audit public key ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("init prints the audit public key")
        .to_string();
    h.secrets
        .borrow_mut()
        .insert("admin".into(), word_after(&out, "second factor of admin"));
    h.start_server(&[]);
    h.enrol(
        "admin2",
        &word_after(&out, "enrolment code of admin admin2"),
    );
    h.add_users(&[
        ("officer", "applicant"),
        ("pros", "prosecutor"),
        ("judge", "judge"),
        ("aud", "auditor"),
    ]);
    // Every grant rests on a recent full evaluation of the running model: the one setup made,
    // recorded by the auditor (admins may not vouch for it).
    h.login("aud");
    let out = h.ok(&["eval", "record", &evaluation().display().to_string()]);
    assert!(out.contains("recorded as eval.report"), "{out}");
    h.login("admin");
    h.ok_in(
        &[
            "camera",
            "add",
            "--id",
            "cam-1",
            "--name",
            "Sergels torg",
            "--lat",
            "59.3326",
            "--lon",
            "18.0649",
            "--owner",
            "municipality:Stockholm",
            "--agreement-basis",
            "Kamerabevakningstillstånd KB 2025-1, avtal §3",
            "--agreement-ref",
            "KS 2026/17",
            "--agreement-from",
            "2026-01-01",
            "--agreement-until",
            "2028-12-31",
            "--agreement-contact",
            "Trygghetscentralen",
            "--url-file",
            "-",
        ],
        "rtsp://u:p@127.0.0.1/s\n",
    );
    h
}

/// Register camera `id` (owner: the police) at `url`, as an admin logged in.
pub(crate) fn add_camera(h: &Home, id: &str, url: &str) {
    h.ok_in(
        &[
            "camera",
            "add",
            "--id",
            id,
            "--name",
            id,
            "--owner",
            "police",
            "--url-file",
            "-",
        ],
        &format!("{url}\n"),
    );
}

/// An application over now, for `purpose`, naming one person with one photo.
pub(crate) fn application(purpose: &str, months: u32) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let start = now - 3_600_000;
    let days = if months <= 1 { 28 } else { 45 };
    let end = start + days * 24 * 3_600_000;
    serde_json::json!({
        "agency": "polismyndigheten",
        "purpose": purpose,
        "case_number": "5000-K1-26",
        "offence": null,
        // The ground its purpose records (rules victim_category, threat_record).
        "victim": (purpose == "victim_search").then_some("missing_person"),
        "threat": (purpose == "imminent_threat")
            .then(|| serde_json::json!({"kind": "life", "imminence": "armed and on his way"})),
        "persons": [{"label": "case 1 person",
                      "photos": [{"source": "passport register"}]}],
        "area": {"cameras": ["cam-1"], "polygon": null},
        "period": {"start": start, "end": end},
        "reasons": {"necessity": "n", "proportionality": "p", "fria_ref": "F-1", "eu_db_ref": "E-1"},
        "threshold": 0.363
    })
    .to_string()
}

/// Draft as the logged-in officer and file it to the prosecutor `pros` (the decider of every
/// purpose the police apply for).
pub(crate) fn drafted(h: &Home, purpose: &str) -> String {
    let file = h.write("app.json", &application(purpose, 1));
    let out = h.ok(&["permit", "draft", "--file", file.to_str().unwrap()]);
    let id = out
        .split_whitespace()
        .nth(2)
        .expect("drafted permit ID")
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
    id
}

/// The ids the server gave the permit's first person and that person's first photo.
pub(crate) fn person_of(h: &Home, id: &str) -> (String, String) {
    let p = show(h, id);
    let d = &p["application"]["persons"][0];
    (
        d["id"].as_str().unwrap().to_string(),
        d["photos"][0]["id"].as_str().unwrap().to_string(),
    )
}

pub(crate) fn show(h: &Home, id: &str) -> serde_json::Value {
    serde_json::from_str(&h.ok(&["permit", "show", id, "--json"])).unwrap()
}

#[test]
pub(crate) fn permit_lifecycle_through_the_cli_with_real_photos() {
    let h = setup();
    // Admins cannot see permits.
    let o = h.run(&["permit", "list"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("least privilege"),
        "{}",
        text(&o.stderr)
    );

    h.login("officer");
    // Too long a period is refused with its legal ground, when the application is filed.
    let long = h.write("long.json", &application("victim_search", 2));
    let out = h.ok(&["permit", "draft", "--file", long.to_str().unwrap()]);
    assert!(
        out.contains("period exceeds one month (Lag 2026:806)"),
        "{out}"
    );

    let id = drafted(&h, "victim_search");
    let (person, photo) = person_of(&h, &id);
    // The server named the person and the photo: what the file said is not kept.
    let drafted_doc = show(&h, &id).to_string();
    assert!(person.starts_with("P-") && person.len() == 18, "{person}");
    assert!(!drafted_doc.contains("\"p1\""), "{drafted_doc}");
    let o = h.run(&["permit", "apply", &id]);
    assert!(
        text(&o.stderr).contains("not enrolled"),
        "{}",
        text(&o.stderr)
    );
    // A photo with several faces, or none, is not a reference photo.
    let golden = data().join("../golden/street_1080p_t1.0.png");
    let o = h.run(&[
        "person",
        "enrol",
        "--permit",
        &id,
        "--person",
        &person,
        "--photo-id",
        &photo,
        golden.to_str().unwrap(),
    ]);
    assert!(
        text(&o.stderr).contains("exactly one"),
        "{}",
        text(&o.stderr)
    );
    let junk = h.write("junk.jpg", "not an image");
    let o = h.run(&[
        "person",
        "enrol",
        "--permit",
        &id,
        "--person",
        &person,
        "--photo-id",
        &photo,
        junk.to_str().unwrap(),
    ]);
    assert!(!o.status.success() && text(&o.stderr).contains("not a usable image"));
    let out = h.ok(&[
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
    assert!(out.contains(&format!("enrolled photo {photo}")), "{out}");
    h.ok(&["permit", "apply", &id]);
    let o = h.run_env(
        &["permit", "decide", &id, "--grant", "--reasons-file", "-"],
        Some("mine"),
        &[],
    );
    // An officer decides nothing: the role is refused before the permit is even read.
    assert!(
        text(&o.stderr).contains("may not decide permits"),
        "{}",
        text(&o.stderr)
    );

    // A judge is not on the team (it is filed to the prosecutor): the permit is not there.
    h.login("judge");
    let o = h.run_env(
        &["permit", "decide", &id, "--grant", "--reasons-file", "-"],
        Some("x"),
        &[],
    );
    assert!(
        text(&o.stderr).contains(&format!("no permit {id}")),
        "{}",
        text(&o.stderr)
    );

    h.login("pros");
    h.ok_in(
        &["permit", "decide", &id, "--grant", "--reasons-file", "-"],
        "necessary and proportionate",
    );
    let p = show(&h, &id);
    assert_eq!(p["status"], "granted");
    assert_eq!(p["decision"]["by"], "pros");
    assert!(h.ok(&["permit", "list"]).contains(&id));
    // se-2026 names no public counsel, hearing or appeal: the commands reach the server, which
    // says so (the procedure itself: control and web tests under se-court-for-all).
    for (args, said) in [
        (
            &[
                "permit",
                "appeal",
                &id,
                "--to",
                "judge",
                "--grounds-file",
                "-",
            ][..],
            "no party",
        ),
        (
            &[
                "permit",
                "decide-appeal",
                &id,
                "--uphold",
                "--reasons-file",
                "-",
            ],
            "no appeal of permit",
        ),
        (
            &["permit", "opinion", &id, "--opposes", "--text-file", "-"],
            "may not file a public counsel's opinion",
        ),
    ] {
        let o = h.run_env(args, Some("x"), &[]);
        assert!(
            !o.status.success() && text(&o.stderr).contains(said),
            "{args:?}: {}",
            text(&o.stderr)
        );
    }
    // Adding a camera takes an amendment, decided like the permit.
    h.login("admin");
    h.ok_in(
        &[
            "camera",
            "add",
            "--id",
            "cam-2",
            "--name",
            "Slussen",
            "--lat",
            "59.3195",
            "--lon",
            "18.0722",
            "--owner",
            "police",
            "--url-file",
            "-",
        ],
        "rtsp://127.0.0.1/slussen\n",
    );
    // The partner camera is listed with its agreement, which an admin renews.
    let list = h.ok(&["camera", "list"]);
    assert!(
        list.contains("agreement KS 2026/17 2025-12-31T23:00:00Z to 2028-12-31T23:00:00Z"),
        "{list}"
    );
    let renew = |id: &str| {
        h.run_env(
            &[
                "camera",
                "agreement",
                id,
                "--agreement-basis",
                "avtal §3",
                "--agreement-ref",
                "KS 2026/18",
                "--agreement-from",
                "2026-01-01",
                "--agreement-until",
                "2029-12-31",
                "--agreement-contact",
                "Trygghetscentralen",
            ],
            None,
            &[],
        )
    };
    let o = renew("cam-2");
    assert!(
        !o.status.success()
            && text(&o.stderr).contains("a police camera takes no partner agreement"),
        "{}",
        text(&o.stderr)
    );
    assert!(renew("cam-1").status.success());
    assert!(h.ok(&["camera", "list"]).contains("agreement KS 2026/18"));
    let o = h.run_env(
        &["camera", "agreement", "cam-1", "--agreement-ref", "KS 1"],
        None,
        &[],
    );
    assert!(
        text(&o.stderr).contains("takes all of"),
        "{}",
        text(&o.stderr)
    );
    h.login("officer");
    let o = h.run_env(
        &[
            "permit",
            "amend",
            &id,
            "--camera",
            "cam-9",
            "--reasons-file",
            "-",
        ],
        Some("x"),
        &[],
    );
    assert!(
        text(&o.stderr).contains("no camera is registered as cam-9"),
        "{}",
        text(&o.stderr)
    );
    let out = h.ok_in(
        &[
            "permit",
            "amend",
            &id,
            "--camera",
            "cam-2",
            "--reasons-file",
            "-",
        ],
        "she was seen at Slussen",
    );
    assert!(out.contains("amendment 1 of permit"), "{out}");
    assert_eq!(
        show(&h, &id)["application"]["area"]["cameras"],
        serde_json::json!(["cam-1"])
    );
    h.login("pros");
    let out = h.ok_in(
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
    assert!(out.contains("covers cam-1, cam-2"), "{out}");
    h.ok_in(&["permit", "stop", &id, "--reason-file", "-"], "found");
    assert_eq!(show(&h, &id)["status"], "stopped");
    // What the use led to: its applicant records it; the prosecutor may not.
    let o = h.run(&["permit", "outcome", &id, "--result", "nothing"]);
    assert!(
        text(&o.stderr).contains("only its applicant"),
        "{}",
        text(&o.stderr)
    );
    h.login("officer");
    let o = h.run(&["permit", "outcome", &id, "--result", "escaped"]);
    assert!(
        text(&o.stderr).contains("unknown result \"escaped\""),
        "{}",
        text(&o.stderr)
    );
    let out = h.ok(&[
        "permit",
        "outcome",
        &id,
        "--result",
        "arrested",
        "--result",
        "person_located",
    ]);
    assert!(
        out.contains("outcome recorded: person_located, arrested"),
        "{out}"
    );
    assert_eq!(
        show(&h, &id)["use_outcome"]["results"],
        serde_json::json!(["person_located", "arrested"])
    );
    h.login("pros");

    // The log verifies offline, from the database and from IMY's export.
    let o = h.verify();
    assert!(
        text(&o.stdout).starts_with("intact:"),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let o = h.run(&["audit", "export"]);
    assert!(!o.status.success(), "a prosecutor may not export the log");
    h.login("aud");
    // The witness's anchor is older than the export: the server's own ticks (the retention
    // schedule after the stop) may add entries at any moment, and an export must hold at least
    // what the anchor holds.
    let anchor = h.anchor();
    let anchor = anchor.to_str().unwrap();
    let export = h.path().join("export.jsonl");
    h.ok(&["audit", "export", "--out", export.to_str().unwrap()]);
    let log = std::fs::read_to_string(&export).unwrap();
    let header: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(header["public_key"], h.key.as_str());
    let key = h.key.clone();
    for action in [
        "permit.draft",
        "person.enrol",
        "permit.apply",
        "permit.grant",
        "use.start",
        "permit.stop",
        "use.end",
        "audit.export",
    ] {
        assert!(
            log.contains(&format!("\"action\":\"{action}\"")),
            "{action} missing"
        );
    }
    assert!(
        !log.contains("has a long password"),
        "a password in the log"
    );
    // The use was notified to IMY when it started and when it ended; the register is read by the
    // auditor and kept by the admin.
    let reg: serde_json::Value = serde_json::from_str(&h.ok(&["imy", "list", "--json"])).unwrap();
    let ids: Vec<String> = reg
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ids,
        [format!("N-{id}-use_started"), format!("N-{id}-use_ended")]
    );
    assert_eq!(reg[1]["notification"]["ended_by"], "stopped");
    let pdf = h.path().join("imy.pdf");
    h.ok(&["imy", "show", &ids[0], "--pdf", pdf.to_str().unwrap()]);
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));
    let o = h.run(&["imy", "sent", &ids[0]]);
    assert!(!o.status.success(), "auditors do not send");
    h.login("admin");
    h.ok(&["imy", "sent", &ids[0]]);
    h.ok(&["imy", "acknowledged", &ids[0], "--reference", "DI-2026-7"]);
    let list = h.ok(&["imy", "list"]);
    assert!(list.contains("acknowledged (DI-2026-7)"), "{list}");
    assert!(list.contains("NOT SENT"), "{list}");
    h.login("aud");
    // A victim search under se-2026 creates no subject notifications; auditors may look.
    assert_eq!(h.ok(&["subjects", "list", "--json"]).trim(), "[]");
    // The steps on a task reach the server, which refuses an auditor by role; a decision first
    // finds the request it decides among the tasks listed to the user.
    let o = h.run_env(
        &["subjects", "waive", "S-none", "--reasons-file", "-"],
        Some("r"),
        &[],
    );
    let err = text(&o.stderr);
    assert!(!o.status.success() && err.contains("may not"), "{err}");
    for args in [
        &["subjects", "decide-deferral", "S-none"][..],
        &[
            "subjects",
            "decide-waiver",
            "S-none",
            "--refuse",
            "--reasons-file",
            "-",
        ][..],
    ] {
        let o = h.run_env(args, Some("reasons"), &[]);
        let err = text(&o.stderr);
        assert!(
            !o.status.success() && err.contains("no subject notification S-none"),
            "{args:?}: {err}"
        );
    }
    let year = &reg[0]["created_at"].as_str().unwrap()[..4];
    let csv = h.ok(&["report", "annual", "--year", year, "--format", "csv"]);
    let total = csv.lines().last().unwrap();
    assert!(total.starts_with(&format!("{year},total,1,1,0,")), "{csv}");
    let pdf = h.path().join("annual.pdf");
    h.ok(&[
        "report",
        "annual",
        "--year",
        year,
        "--format",
        "pdf",
        "--out",
        pdf.to_str().unwrap(),
    ]);
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));
    // The partner's SLA: its camera, under its agreement (no day measured in this test).
    let sla = h.ok(&[
        "report",
        "sla",
        "--owner",
        "municipality:Stockholm",
        "--from",
        &format!("{year}-01-01"),
        "--until",
        &format!("{year}-12-31"),
    ]);
    assert!(
        sla.starts_with("owner,permit,camera,agreement,day,"),
        "{sla}"
    );
    assert!(
        sla.contains("\"municipality:Stockholm\",\"\",\"cam-1\",\"KS 2026/18\",\"total\",0.00,"),
        "{sla}"
    );
    let out = h.ok(&[
        "audit",
        "verify",
        "--export",
        export.to_str().unwrap(),
        "--public-key",
        &key,
        "--anchor",
        anchor,
    ]);
    assert!(out.starts_with("intact:"), "{out}");
    // Edit one entry of the export: caught, with a non-zero exit.
    let tampered = log.replacen("\"actor\":\"pros\"", "\"actor\":\"judge\"", 1);
    let bad = h.write("tampered.jsonl", &tampered);
    let o = h.run(&[
        "audit",
        "verify",
        "--export",
        bad.to_str().unwrap(),
        "--public-key",
        &key,
        "--anchor",
        anchor,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stdout).contains("BROKEN"), "{}", text(&o.stdout));
    // Drop the last lines of entries: caught against the signed checkpoints.
    let entries: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"type\":\"entry\""))
        .collect();
    let truncated: String = log
        .lines()
        .filter(|l| !entries[entries.len() - 2..].contains(l))
        .map(|l| format!("{l}\n"))
        .collect();
    let bad = h.write("truncated.jsonl", &truncated);
    let o = h.run(&[
        "audit",
        "verify",
        "--export",
        bad.to_str().unwrap(),
        "--public-key",
        &key,
        "--anchor",
        anchor,
    ]);
    assert!(text(&o.stdout).contains("truncated"), "{}", text(&o.stdout));
}

#[test]
pub(crate) fn there_is_no_way_to_act_as_someone_else() {
    let h = setup();
    for cmd in [
        &["permit", "decide", "--help"][..],
        &["permit", "apply", "--help"],
        &["person", "enrol", "--help"],
    ] {
        let help = h.ok(cmd);
        for flag in ["--user", "--as", "--actor"] {
            assert!(!help.contains(flag), "{cmd:?} offers {flag}");
        }
    }
    // Without a login, nothing is done; a failed login logs the previous user out.
    h.login("officer");
    let o = h.run_env(
        &["login", "--user", "pros", "--password-stdin"],
        Some("wrong\n000000\n"),
        &[],
    );
    assert!(!o.status.success());
    let o = h.run(&["whoami"]);
    assert!(
        text(&o.stderr).contains("mandat login"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
pub(crate) fn a_world_readable_key_is_refused() {
    let h = setup();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = h.keys().join("master.key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        // The server is the one process that reads it: it refuses to start.
        h.stop_server();
        let o = h.run(&["serve", "--listen", "127.0.0.1:0"]);
        assert!(!o.status.success());
        assert!(text(&o.stderr).contains("chmod 600"), "{}", text(&o.stderr));
    }
}

/// Kill the process in the middle of purging a refused urgent use, then check that the decision and
/// the purge happened entirely or not at all, and that the log still verifies.
#[test]
pub(crate) fn a_killed_decision_is_all_or_nothing() {
    let mut runs = vec![("purge-midway", None), ("transition-before-commit", None)];
    if let Some(db) = postgres_db() {
        runs.push(("purge-midway", Some(db)));
    }
    if let Some(db) = postgres_db() {
        runs.push(("transition-before-commit", Some(db)));
    }
    for (crash_at, db) in runs {
        let on_postgres = db.is_some();
        let h = setup_on(db);
        eprintln!(
            "{crash_at} on {}",
            if on_postgres { "PostgreSQL" } else { "SQLite" }
        );
        h.login("officer");
        let id = drafted(&h, "imminent_threat");
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
        h.ok_in(
            &["permit", "urgent-start", &id, "--ground-file", "-"],
            "she is in danger now",
        );
        h.ok(&["permit", "apply", &id]);
        h.login("pros");
        // The server, which does the purge, dies in the middle of it. Sessions live in the
        // database, so the login outlives the restart.
        h.start_server(&[("MANDAT_CRASH_AT", crash_at)]);
        let o = h.run_env(
            &["permit", "decide", &id, "--refuse", "--reasons-file", "-"],
            Some("not necessary"),
            &[],
        );
        assert!(
            !o.status.success(),
            "{crash_at}: the server was meant to die"
        );
        assert!(
            !text(&o.stdout).contains("refused"),
            "{crash_at}: it reported success"
        );
        let log = h.stop_server();
        assert!(
            !log.contains("stopping"),
            "{crash_at}: it stopped, not died: {log}"
        );
        h.start_server(&[]);
        // Nothing of the decision happened: still awaiting decision, data intact, log intact.
        let p = show(&h, &id);
        assert_eq!(p["status"], "urgent_applied", "{crash_at}");
        assert_eq!(p["purged"], false);
        assert!(p["decision"].is_null());
        assert!(text(&h.verify().stdout).starts_with("intact:"));
        // Done again, it completes, with the deletion certificate.
        let out = h.ok_in(
            &["permit", "decide", &id, "--refuse", "--reasons-file", "-"],
            "not necessary",
        );
        assert!(out.contains("deleted 1 photo(s), 1 template(s)"), "{out}");
        let p = show(&h, &id);
        assert_eq!(
            (p["status"].as_str(), p["purged"].as_bool()),
            (Some("refused"), Some(true))
        );
        assert!(text(&h.verify().stdout).starts_with("intact:"));
    }
}

/// The alert commands: two reviewers through the CLI, blind to each other, and no dispatch before.
#[test]
pub(crate) fn alerts_are_reviewed_by_two_people_through_the_cli() {
    let h = setup();
    h.add_users(&[
        ("rev1", "reviewer"),
        ("rev2", "reviewer"),
        ("op", "operator"),
    ]);
    h.login("officer");
    let id = drafted(&h, "victim_search");
    let (person, photo) = person_of(&h, &id);
    // The officer puts the reviewers and the operator on the permit's team.
    for (user, role) in [
        ("rev1", "reviewer"),
        ("rev2", "reviewer"),
        ("op", "operator"),
    ] {
        h.ok(&["permit", "assign", &id, "--user", user, "--role", role]);
    }
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
    h.login("pros");
    h.ok_in(
        &["permit", "decide", &id, "--grant", "--reasons-file", "-"],
        "ok",
    );
    // An alert as the engine would raise it, stored with the home's own keys.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let master = mandat_store::SecretKey::master(&h.keys().join("master.key")).unwrap();
        let audit = mandat_audit::AuditKey::load(&h.keys().join("audit.key")).unwrap();
        let url = h.url();
        let wrap = mandat_store::WrapKeys::file(&h.keys().join("wrap.key")).unwrap();
        let store = mandat_store::Store::open(&url, master, audit, wrap)
            .await
            .unwrap();
        let now = mandat_law::Timestamp(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64,
        );
        store
            .insert_alert(
                &mandat_store::alerts::NewAlert {
                    id: "A-1".into(),
                    permit: id.clone(),
                    person: person.clone(),
                    camera: "cam-1".into(),
                    captured_at: now,
                    frame_index: 3,
                    score: 0.55,
                    threshold: 0.363,
                    watchlist_version: "0".repeat(64),
                    crop_jpeg: b"\xFF\xD8\xFFcrop".to_vec(),
                    frame_jpeg: b"\xFF\xD8\xFFframe".to_vec(),
                },
                now,
            )
            .await
            .unwrap();
        store.close().await;
    });
    h.login("op");
    assert!(h.ok(&["alerts", "list"]).contains("A-1"));
    let o = h.run(&["alerts", "dispatch", "A-1"]);
    assert!(
        text(&o.stderr).contains("verified by two reviewers"),
        "{}",
        text(&o.stderr)
    );
    h.login("rev1");
    // No plaintext image files: the CLI writes none, for any role (the web app shows them).
    let o = h.run(&[
        "alerts",
        "show",
        "A-1",
        "--images",
        h.path().join("img").to_str().unwrap(),
    ]);
    assert!(!o.status.success() && text(&o.stderr).contains("--images"));
    assert!(!h.path().join("img").exists());
    assert!(
        h.ok(&["alerts", "review", "A-1", "--confirm"])
            .contains("candidate")
    );
    h.login("rev2");
    let shown: serde_json::Value =
        serde_json::from_str(&h.ok(&["alerts", "show", "A-1", "--json"])).unwrap();
    assert_eq!(
        shown["reviews"].as_array().unwrap().len(),
        0,
        "blind to the first reviewer"
    );
    assert!(
        h.ok(&["alerts", "review", "A-1", "--confirm"])
            .contains("verified")
    );
    h.login("op");
    assert!(
        h.ok_in(&["alerts", "dispatch", "A-1", "--note-file", "-"], "unit 7")
            .contains("recorded")
    );
    // A reviewer takes the verified alert to the case: a new private file, checked offline
    // against the pinned key; an operator cannot, and an edited package fails.
    let case = h.path().join("case.json");
    assert!(
        !h.run(&["alerts", "export", "A-1", "--out", case.to_str().unwrap()])
            .status
            .success()
    );
    assert!(!case.exists(), "no empty file left behind");
    h.login("rev2");
    h.ok(&["alerts", "export", "A-1", "--out", case.to_str().unwrap()]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&case).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let ok = h.ok(&[
        "evidence",
        "verify",
        case.to_str().unwrap(),
        "--public-key",
        &h.key,
    ]);
    assert!(ok.contains("intact"), "{ok}");
    let text_of_case = std::fs::read_to_string(&case).unwrap();
    let edited = h.path().join("edited.json");
    std::fs::write(&edited, text_of_case.replacen("0.55", "0.65", 1)).unwrap();
    let o = h.run(&[
        "evidence",
        "verify",
        edited.to_str().unwrap(),
        "--public-key",
        &h.key,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    // Never over an existing file.
    assert!(
        !h.run(&["alerts", "export", "A-1", "--out", case.to_str().unwrap()])
            .status
            .success()
    );
    assert!(text(&h.verify().stdout).starts_with("intact:"));
}

/// `mandat eval report` on a sample of the test data (every 10th pair of people and UTKFace
/// image; the full run's figures are in the README), recorded in the audit log by an auditor;
/// `mandat eval calibrate` on the same sample writes its table but refuses to store it.
#[test]
pub(crate) fn the_evaluation_report_runs_and_is_recorded() {
    let h = setup();
    let out = h.path().join("eval");
    let data = data();
    // Only auditors may record a run; the refusal comes before the long work.
    h.login("officer");
    let o = h.run(&[
        "eval",
        "report",
        "--sample",
        "10",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("auditor role"),
        "{}",
        text(&o.stderr)
    );
    h.login("aud");
    h.ok(&[
        "eval",
        "report",
        "--sample",
        "10",
        "--fpir",
        "1e-3",
        "--watchlist",
        "1",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let f = |v: &serde_json::Value| v.as_f64().unwrap();
    // Verification and open-set identification, in range and as good as this model is known to be.
    assert!(f(&r["lfw"]["accuracy_mean"]) > 0.97, "{}", r["lfw"]);
    assert_eq!(r["lfw"]["tar_at_far"].as_array().unwrap().len(), 3);
    let dir = &r["blufr"]["dir"][0];
    assert_eq!(f(&dir["fpir"]), 0.01);
    assert_eq!(dir["per_trial"].as_array().unwrap().len(), 10);
    let s = &dir["summary"];
    assert!((f(&s["mean_minus_sd"]) - (f(&s["mean"]) - f(&s["sd"]))).abs() < 1e-12);
    assert!(f(&s["mean_minus_sd"]) > 0.9 && f(&s["mean"]) <= 1.0, "{s}");
    // The calibration: thresholds rise as the per-pair rate falls, for the model mandat runs.
    let cal = &r["calibration"];
    let curve = cal["curve"].as_array().unwrap();
    assert!(curve.len() >= 10);
    assert!(curve.windows(2).all(
        |w| f(&w[1]["fmr"]) < f(&w[0]["fmr"]) && f(&w[1]["threshold"]) >= f(&w[0]["threshold"])
    ));
    assert_eq!(
        cal["model_sha256"],
        "ab872eaae25a7323ed1b7d90a3b2294d187664174c9912623e99dc68bc15326f"
    );
    assert!(!cal["held_out"].as_array().unwrap().is_empty());
    for c in cal["held_out"].as_array().unwrap() {
        assert!(c["trials"].as_u64().unwrap() >= 10_000, "{c}");
    }
    // The per-template table: normalised thresholds rise as the rate falls, from a cohort that
    // the report names, with held-out checks.
    let pt = &cal["per_template"];
    assert!(pt["cohort_size"].as_u64().unwrap() >= 100, "{pt}");
    assert_eq!(pt["cohort"].as_str().unwrap().len(), 64);
    let z = pt["curve"].as_array().unwrap();
    assert!(z.len() >= 5);
    assert!(
        z.windows(2)
            .all(|w| f(&w[1]["threshold"]) >= f(&w[0]["threshold"]))
    );
    assert!(!pt["held_out"].as_array().unwrap().is_empty(), "{pt}");
    // The report's per-template section sets both methods side by side on the same trials.
    let sec = &r["per_template"];
    assert!((f(&sec["per_pair_target"]) - 1e-3).abs() < 1e-12);
    let pairs = sec["demographics"].as_array().unwrap();
    assert_eq!(pairs.len(), 3);
    for p in pairs {
        let (g, t) = (
            p[0]["rates"].as_array().unwrap(),
            p[1]["rates"].as_array().unwrap(),
        );
        assert_eq!(g.len(), t.len());
        for (a, b) in g.iter().zip(t) {
            assert_eq!((&a["group"], &a["trials"]), (&b["group"], &b["trials"]));
        }
    }
    let tp = &sec["tpir"];
    assert!(tp["genuine_pairs"].as_u64().unwrap() > 0);
    for k in ["tpir_global", "tpir_per_template"] {
        assert!(f(&tp[k]) > 0.5 && f(&tp[k]) <= 1.0, "{tp}");
    }
    let goals = sec["goals"].as_array().unwrap();
    assert_eq!(goals.len(), 7, "{goals:?}");
    // Several photos per person: every rule for 1-3 photos at two rates, on the same probes; the
    // highest score over more photos lets more strangers through, so its threshold cannot fall.
    let m = &r["multi_photo"];
    let points = m["points"].as_array().unwrap();
    assert_eq!(points.len(), 2 * (1 + 3 + 3), "{m}");
    let genuine = points[0]["genuine"].as_u64().unwrap();
    assert!(genuine > 0);
    for p in points {
        assert_eq!(p["genuine"].as_u64().unwrap(), genuine);
        assert!(f(&p["tpir"]) > 0.5 && f(&p["tpir"]) <= 1.0, "{p}");
        assert!(f(&p["ci95"][0]) <= f(&p["tpir"]) && f(&p["tpir"]) <= f(&p["ci95"][1]));
    }
    let max_at = |k: u64, fpir: f64| {
        points
            .iter()
            .find(|p| p["photos"] == k && p["fusion"] == "max" && f(&p["fpir"]) == fpir)
            .map(|p| f(&p["threshold"]))
            .unwrap()
    };
    for fpir in [1e-3, 1e-4] {
        assert!(max_at(1, fpir) <= max_at(2, fpir) && max_at(2, fpir) <= max_at(3, fpir));
    }
    // Counting photos raises the threshold and lowers the realised rate (1-3 photos at each
    // rate the sampled table reaches).
    let counted = m["counted"].as_array().unwrap();
    assert!(counted.len() >= 3 && counted.len().is_multiple_of(3), "{m}");
    for c in counted.iter().filter(|c| c["photos"].as_u64().unwrap() > 1) {
        assert!(f(&c["threshold_counted"]) > f(&c["threshold_one"]), "{c}");
        assert!(f(&c["realised_counted"]) <= f(&c["realised_one"]), "{c}");
        assert!(f(&c["tpir_counted"]) <= f(&c["tpir_one"]), "{c}");
    }
    // BLUFR: one photo, three rules, two normalised rules and one photo normalised, at two rates.
    assert_eq!(m["blufr"].as_array().unwrap().len(), 14, "{m}");
    assert!(f(&m["blufr_photos"]) > 1.0, "{m}");
    assert!(m["chosen"].as_str().unwrap().contains("as many templates"));
    assert!(
        goals
            .iter()
            .all(|g| g["met"].is_boolean() && g["goal"].is_string())
    );
    // The operating threshold is the table's for the target asked for.
    assert_eq!(f(&r["operating"]["fpir"]), 1e-3);
    // Demographics: every table, every group, intervals around the rate.
    let tables = r["demographics"].as_array().unwrap();
    assert_eq!(tables.len(), 10);
    let groups: Vec<&str> = tables[3]["rates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(groups.len(), 10, "{groups:?}");
    assert!(groups.contains(&"Black female") && groups.contains(&"White male"));
    for t in tables {
        for g in t["rates"].as_array().unwrap() {
            let (lo, hi, rate) = (f(&g["ci95"][0]), f(&g["ci95"][1]), f(&g["rate"]));
            assert!(
                lo <= rate && rate <= hi && g["trials"].as_u64().unwrap() > 0,
                "{g}"
            );
        }
    }
    assert!(
        r["limits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("one image per person"))
    );
    assert_eq!(r["model_card"]["models"].as_array().unwrap().len(), 3);
    // The page and its plots.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for part in [
        "Verification on LFW",
        "BLUFR",
        "Held-out check",
        "Demographic differentials",
        "Per-template thresholds",
        "What the data cannot show",
        "Model card",
    ] {
        assert!(html.contains(part), "{part}");
    }
    assert!(!html.contains("<script"));
    for png in ["lfw_roc_det.png", "blufr_dir.png"] {
        assert_eq!(&std::fs::read(out.join(png)).unwrap()[1..4], b"PNG");
    }
    // The run is in the audit log, with the model and the figures.
    h.login("admin");
    h.ok(&[
        "audit",
        "export",
        "--out",
        h.path().join("a.jsonl").to_str().unwrap(),
    ]);
    let export = std::fs::read_to_string(h.path().join("a.jsonl")).unwrap();
    let entry = export
        .lines()
        .find(|l| l.contains("\"eval.report\"") && l.contains("\"sample\":10"))
        .expect("the run is audited, as a sample");
    // A sample is recorded as one, and does not count as the risk analysis a grant needs.
    assert!(entry.contains("\"aud\""), "{entry}");
    h.login("aud");
    let o = h.ok(&["eval", "record", out.to_str().unwrap()]);
    assert!(o.contains("does not count"), "{o}");
    // The full report setup made brings its calibration and cohort: an admin stores them, and
    // nobody else may.
    let full = evaluation();
    let o = h.run(&["eval", "record", full.to_str().unwrap(), "--calibration"]);
    assert!(!o.status.success(), "{}", text(&o.stdout));
    // An admin stores the table, and may not record the analysis it rests on.
    h.login("admin");
    let o = h.ok(&["eval", "record", full.to_str().unwrap(), "--calibration"]);
    assert!(o.contains("stored"), "{o}");
    let o = h.run(&["eval", "record", full.to_str().unwrap()]);
    assert!(
        !o.status.success() && text(&o.stderr).contains("auditor role"),
        "{}",
        text(&o.stderr)
    );
    assert!(
        entry.contains("\"aud\"") && entry.contains(cal["version"].as_str().unwrap()),
        "{entry}"
    );

    // Calibrate on the sample: the table is written, and not stored.
    let o = h.ok(&[
        "eval",
        "calibrate",
        "--sample",
        "10",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.contains("not stored"), "{o}");
    let written = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().starts_with("calibration-"));
    assert!(written);
}

/// The fp16 SFace `scripts/setup.sh` makes and registers in the model cache: a second,
/// genuinely different embedder file (every weight rounded to fp16).
fn fp16_sface() -> PathBuf {
    let f = mandat_models::Store::from_env()
        .expect("a cache directory")
        .registered_path("sface-fp16");
    assert!(
        f.is_file(),
        "no fp16 SFace at {}: run scripts/setup.sh",
        f.display()
    );
    f
}

#[test]
pub(crate) fn a_registered_embedder_is_pinned_and_serves_no_permit_until_it_is_evaluated() {
    let h = setup();
    // A cache of the deployment's own, holding the pinned models, where the admin registers
    // the procured file.
    let real = mandat_models::Store::from_env().unwrap();
    let cache = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(real.root().join("models"), cache.path().join("models")).unwrap();
    let c = cache.path().to_str().unwrap();
    let licence = real.root().join("models/sface-2021dec/LICENSE.txt");
    let register = |file: &Path, role: &str| {
        h.command(
            &[
                "models",
                "register",
                file.to_str().unwrap(),
                "--name",
                "sface-fp16",
                "--role",
                role,
                "--licence",
                licence.to_str().unwrap(),
            ],
            &[("MANDAT_CACHE", c)],
        )
        .output()
        .unwrap()
    };
    // Not a model, or not an embedder's role: refused, and nothing registered.
    let junk = h.write("junk.onnx", "not a model");
    let o = register(&junk, "embedder");
    assert!(
        text(&o.stderr).contains("does not load as an ONNX model"),
        "{}",
        text(&o.stderr)
    );
    let o = register(&fp16_sface(), "detector");
    assert!(text(&o.stderr).contains("not built"), "{}", text(&o.stderr));
    assert!(!cache.path().join("registered/registry.json").exists());
    let o = register(&fp16_sface(), "embedder");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let sha = mandat_models::sha256_file(&fp16_sface()).unwrap();
    assert!(text(&o.stdout).contains(&sha), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("not usable by any permit yet"));
    let list = h
        .command(&["models", "list", "--json"], &[("MANDAT_CACHE", c)])
        .output()
        .unwrap();
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "sface-fp16")
        .expect("the registered model is listed");
    assert_eq!(row["status"], "ok");
    assert_eq!(row["sha256"], sha.as_str());

    // The server runs it. A draft with a plain cosine (the pinned model's scale) is refused, and
    // a stated target cannot be met: no table of this model is stored, and the pinned model's
    // table is refused for it. So no permit can be drafted, let alone granted, until it is
    // calibrated (and a grant then needs its evaluation too: the control tests walk that).
    let env = [("MANDAT_CACHE", c), ("MANDAT_EMBEDDER", "sface-fp16")];
    h.start_server(&env);
    h.login("officer");
    let file = h.write("app.json", &application("victim_search", 1));
    let o = h.run(&["permit", "draft", "--file", file.to_str().unwrap()]);
    let err = text(&o.stderr);
    assert!(
        !o.status.success() && err.contains("registered embedder sface-fp16"),
        "{err}"
    );
    let mut app: serde_json::Value =
        serde_json::from_str(&application("victim_search", 1)).unwrap();
    app["target"] = serde_json::json!({"fpir": 0.0001});
    let file = h.write("app.json", &app.to_string());
    let o = h.run(&["permit", "draft", "--file", file.to_str().unwrap()]);
    let err = text(&o.stderr);
    assert!(
        !o.status.success() && err.contains("mandat eval calibrate"),
        "{err}"
    );
    h.login("admin");
    let o = h.run(&[
        "eval",
        "record",
        evaluation().to_str().unwrap(),
        "--calibration",
    ]);
    assert!(
        text(&o.stderr).contains("--embedder sface-fp16"),
        "{}",
        text(&o.stderr)
    );

    // Whoever swaps the registered copy on disk does not get it run: the server refuses to
    // start on it, loudly.
    let copy = mandat_models::Store::at(cache.path()).registered_path("sface-fp16");
    let mut bytes = std::fs::read(&copy).unwrap();
    bytes.push(0);
    std::fs::write(&copy, bytes).unwrap();
    h.stop_server();
    let o = h
        .command(&["serve", "--listen", "127.0.0.1:0"], &env)
        .output()
        .unwrap();
    assert!(
        !o.status.success() && text(&o.stderr).contains("tampered"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
pub(crate) fn the_face_tools_are_for_evaluation_roles_and_audited() {
    let h = setup();
    let (a, b) = (lfw("Aaron_Peirsol"), lfw("Takeo_Hiranuma"));
    // An applicant has no business analysing faces outside a permit.
    h.login("officer");
    let o = h.run(&["detect", &a]);
    let err = text(&o.stderr);
    assert!(
        !o.status.success() && err.contains("auditors and admins"),
        "{err}"
    );
    // Without a login the installation here is named, and nothing runs.
    let o = h
        .command(
            &["compare", &a, &b],
            &[("MANDAT_SESSION", h.path().join("nobody").to_str().unwrap())],
        )
        .output()
        .unwrap();
    let err = text(&o.stderr);
    assert!(
        !o.status.success() && err.contains("holds a mandat installation"),
        "{err}"
    );
    // An auditor runs both; embeddings only with the flag, which is recorded too.
    h.login("aud");
    let out = h.ok(&["detect", "--json", &a]);
    assert!(!out.contains("embedding"), "{out}");
    let out = h.ok(&["detect", "--json", "--embeddings", &a]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["faces"][0]["embedding"].as_array().unwrap().len(), 128);
    let out = h.ok(&["compare", &a, &b]);
    assert!(out.contains("different people"), "{out}");
    // Each use is in the audit log: who, which tool, the images' sha256, never an embedding.
    h.ok(&[
        "audit",
        "export",
        "--out",
        h.path().join("tools.jsonl").to_str().unwrap(),
    ]);
    let export = std::fs::read_to_string(h.path().join("tools.jsonl")).unwrap();
    let sha_a = mandat_models::sha256_file(Path::new(&a)).unwrap();
    let sha_b = mandat_models::sha256_file(Path::new(&b)).unwrap();
    let uses: Vec<&str> = export.lines().filter(|l| l.contains("\"tool.")).collect();
    assert_eq!(uses.len(), 3, "{uses:?}");
    assert!(
        uses.iter()
            .all(|l| l.contains("\"aud\"") && l.contains(&sha_a))
    );
    assert!(uses[0].contains("\"embeddings\":false"), "{}", uses[0]);
    assert!(uses[1].contains("\"embeddings\":true"), "{}", uses[1]);
    assert!(
        uses[2].contains("\"tool.compare\"") && uses[2].contains(&sha_b),
        "{}",
        uses[2]
    );
    assert!(!export.contains("\"embedding\""));
}
