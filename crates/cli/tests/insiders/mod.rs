//! The insider's view of an installation made by the real binary: what a shell user finds on disk,
//! on the command line (`ps`), under another jurisdiction profile, and after cutting the newest
//! entries off the audit log.

use std::os::unix::fs::PermissionsExt;

use crate::{password, setup, text};

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn files_are_private_and_the_keys_live_apart_from_the_data() {
    let h = setup();
    // The keys are not in the data directory: a copy of it cannot open a thing.
    assert!(h.keys().join("master.key").is_file());
    assert!(h.keys().join("audit.key").is_file());
    assert!(!h.data().join("keys").exists());
    let mut in_data = Vec::new();
    for e in walk(&h.data()) {
        in_data.push(e.clone());
        let bytes = std::fs::read(&e).unwrap();
        for key in ["master.key", "audit.key"] {
            let k = std::fs::read(h.keys().join(key)).unwrap();
            assert!(
                !bytes.windows(k.len()).any(|w| w == k.as_slice()),
                "{key} is inside {}",
                e.display()
            );
        }
    }
    assert!(in_data.iter().any(|p| p.ends_with("mandat.db")));
    assert_eq!(mode(&h.data()), 0o700, "the data directory");
    assert_eq!(mode(&h.keys()), 0o700, "the key directory");
    assert_eq!(mode(&h.data().join("mandat.db")), 0o600);
    // The CLI's session lives with the keys: a copy of the data holds no live session.
    assert!(!h.data().join("session").exists());
    assert_eq!(mode(&h.keys().join("session")), 0o600);
    // The WAL lives while a process holds the database: look while `alerts watch` runs.
    h.login("aud");
    let mut watch = std::process::Command::new(env!("CARGO_BIN_EXE_mandat"))
        .args(["alerts", "watch"])
        .env("MANDAT_HOME", h.data())
        .env_remove("MANDAT_KEYS")
        .env_remove("MANDAT_DB")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let wal = h.data().join("mandat.db-wal");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !wal.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let wal_mode = wal.exists().then(|| mode(&wal));
    watch.kill().unwrap();
    let _ = watch.wait();
    assert_eq!(wal_mode, Some(0o600), "the WAL");

    // Exports are the owner's alone, also over a file that was readable, and never through a link.
    let open = h.path().join("open.jsonl");
    std::fs::write(&open, "old").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    h.ok(&["audit", "export", "--out", open.to_str().unwrap()]);
    assert_eq!(mode(&open), 0o600);
    let shared = h.path().join("shared-with-everyone");
    std::fs::write(&shared, "").unwrap();
    let link = h.path().join("link.jsonl");
    std::os::unix::fs::symlink(&shared, &link).unwrap();
    let o = h.run(&["audit", "export", "--out", link.to_str().unwrap()]);
    assert!(!o.status.success(), "an export followed a symbolic link");
    assert!(
        text(&o.stderr).contains("symbolic link"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(std::fs::read(&shared).unwrap(), b"");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn secrets_and_reasons_never_go_on_the_command_line() {
    let h = setup();
    // The old flags are gone: clap refuses them before anything runs.
    for args in [
        &[
            "camera",
            "add",
            "--id",
            "c2",
            "--name",
            "n",
            "--url",
            "rtsp://u:pw@h/s",
        ][..],
        &["permit", "decide", "P-x", "--grant", "--reasons", "r"],
        &["permit", "stop", "P-x", "--reason", "r"],
        &[
            "subjects",
            "defer",
            "S-x",
            "--reason",
            "r",
            "--until",
            "2026-12-01T00:00:00Z",
        ],
    ] {
        let o = h.run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains("unexpected argument"), "{args:?}");
    }
    // From standard input instead; the URL is sealed and never shown again.
    h.ok_in(
        &[
            "camera",
            "add",
            "--id",
            "cam-2",
            "--name",
            "n",
            "--url-file",
            "-",
        ],
        "rtsp://partner:s3cret-pw@127.0.0.1/stream\n",
    );
    let list = h.ok(&["camera", "list", "--json"]);
    assert!(
        list.contains("cam-2") && !list.contains("s3cret-pw"),
        "{list}"
    );
    // An empty reason is refused with what to do.
    h.login("officer");
    let o = h.run_env(
        &["permit", "stop", "P-x", "--reason-file", "-"],
        Some("  \n"),
        &[],
    );
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("is empty"), "{}", text(&o.stderr));
}

#[test]
fn a_process_on_another_profile_is_refused() {
    let h = setup();
    let o = h.run_env(
        &["camera", "list"],
        None,
        &[("MANDAT_JURISDICTION", "se-court-for-all")],
    );
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("se-2026") && err.contains("refuses to act under another profile"),
        "{err}"
    );
    // The flag says the same as the variable.
    let o = h.run(&["--profile", "se-court-for-all", "permit", "list"]);
    assert!(!o.status.success());
    h.ok(&["camera", "list"]);
}

#[test]
fn the_audit_log_is_verified_against_a_pinned_key_and_an_anchor_that_catches_a_cut_tail() {
    let h = setup();
    // No key from the host, no verdict without an anchor.
    let o = h.run(&["audit", "verify"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let anchor = h.anchor();
    let o = h.verify();
    assert!(
        text(&o.stdout).starts_with("intact:"),
        "{}",
        text(&o.stderr)
    );
    // A key of the insider's own does not verify the log.
    let o = h.run(&[
        "audit",
        "verify",
        "--public-key",
        &"ab".repeat(32),
        "--anchor",
        anchor.to_str().unwrap(),
    ]);
    assert_ne!(o.status.code(), Some(0));

    // The DBA deletes the newest three entries and their checkpoints.
    let url = h.url();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        for table in ["audit_log", "audit_checkpoints"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE seq > (SELECT MAX(seq) - 3 FROM audit_log)"
            )))
            .execute(&pool)
            .await
            .unwrap();
        }
        pool.close().await;
    });
    let o = h.run(&[
        "audit",
        "verify",
        "--public-key",
        &h.key,
        "--anchor",
        anchor.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("entries after the anchor are missing"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn admins_disable_accounts_and_end_sessions_but_never_their_own() {
    let h = setup();
    h.login("officer");
    h.login("admin");
    let o = h.run(&["user", "disable", "admin"]);
    assert!(!o.status.success(), "an admin disabled themselves");
    assert!(
        h.ok(&["session", "revoke", "officer"])
            .contains("ended 1 session")
    );
    h.ok(&["user", "disable", "judge"]);
    assert!(h.ok(&["user", "list"]).contains("disabled"));
    let o = h.run_env(
        &["login", "--user", "judge", "--password-stdin"],
        Some(&format!("{}\n{}\n", password("judge"), h.otp("judge"))),
        &[],
    );
    assert!(!o.status.success(), "a disabled account logged in");
    // An admin who asks for another role as well is refused.
    h.login("admin");
    let o = h.run_env(
        &[
            "user", "add", "boss", "--role", "admin", "--role", "reviewer",
        ],
        None,
        &[],
    );
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("no other role"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn one_admin_alone_cannot_grant_a_role_and_never_knows_a_password() {
    let h = setup();
    h.login("admin");
    let grant = h.add_user("solo", "reviewer");
    let o = h.run(&["user", "approve", &grant]);
    assert!(!o.status.success(), "the admin who asked approved");
    assert!(
        text(&o.stderr).contains("second admin"),
        "{}",
        text(&o.stderr)
    );
    assert!(h.ok(&["user", "grants"]).contains("solo"));
    // The account works, with no role, until the second admin approves.
    h.login("solo");
    assert_eq!(h.ok(&["whoami"]).trim(), "solo ()");
    h.login("admin2");
    h.ok(&["user", "approve", &grant]);
    h.login("solo");
    assert_eq!(h.ok(&["whoami"]).trim(), "solo (reviewer)");
    // The user changes their password; the old one no longer works.
    h.ok_in(
        &["password", "--stdin"],
        &format!("{}\nan entirely new password\n", password("solo")),
    );
    let o = h.run_env(
        &["login", "--user", "solo", "--password-stdin"],
        Some(&format!("{}\n{}\n", password("solo"), h.otp("solo"))),
        &[],
    );
    assert!(!o.status.success(), "the old password still works");
}
