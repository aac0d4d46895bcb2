//! The insider's view of an installation made by the real binary: what a shell user finds on disk,
//! on the command line (`ps`), under another jurisdiction profile, and after cutting the newest
//! entries off the audit log.

use std::os::unix::fs::PermissionsExt;

use crate::lawful_cli::{password, setup, text};

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
    // The CLI's session is the user's own, apart from data and keys: a copy of either holds no
    // live session.
    assert!(!walk(&h.data()).iter().any(|p| p.ends_with("session")));
    assert!(!h.keys().join("session").exists());
    assert_eq!(mode(&h.path().join("session")), 0o600);
    // The WAL lives while a process holds the database: the server does.
    let wal = h.data().join("mandat.db-wal");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !wal.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(wal.exists().then(|| mode(&wal)), Some(0o600), "the WAL");

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
    // The server checks the URL: neither another scheme nor a file it does not have.
    for bad in ["ftp://127.0.0.1/x\n", "/nowhere/on/the/server.mp4\n"] {
        let o = h.run_env(
            &[
                "camera",
                "add",
                "--id",
                "cam-3",
                "--name",
                "n",
                "--url-file",
                "-",
            ],
            Some(bad),
            &[],
        );
        assert!(
            !o.status.success() && text(&o.stderr).contains("stream URL must be"),
            "{bad}: {}",
            text(&o.stderr)
        );
    }
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
    // The server is the process that acts: one started under another profile than `init` bound
    // is refused, by variable and by flag.
    h.stop_server();
    for o in [
        h.run_env(
            &["serve", "--listen", "127.0.0.1:0"],
            None,
            &[("MANDAT_JURISDICTION", "se-court-for-all")],
        ),
        h.run(&[
            "--profile",
            "se-court-for-all",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ]),
    ] {
        assert!(!o.status.success());
        let err = text(&o.stderr);
        assert!(
            err.contains("se-2026") && err.contains("refuses to act under another profile"),
            "{err}"
        );
    }
    h.start_server(&[]);
    h.ok(&["camera", "list"]);
}

/// The one door: a CLI user who cannot read the key files or the database does their whole work
/// through the server, and the log names them and the address they came from. Run as another
/// Unix user where the test runs as root; otherwise with the key and data directories closed
/// (mode 000) while the server, which read its keys at start, runs.
#[test]
fn a_cli_user_who_cannot_read_the_keys_works_through_the_server() {
    use std::os::unix::process::CommandExt;
    let h = setup();
    let root = unsafe { libc::geteuid() } == 0;
    // The other user's own directory: its session, a copy of the binary it may run, the photo.
    let own = tempfile::tempdir().unwrap();
    let bin = own.path().join("mandat");
    std::fs::copy(env!("CARGO_BIN_EXE_mandat"), &bin).unwrap();
    let photo = own.path().join("photo.jpg");
    std::fs::copy(crate::lawful_cli::lfw("Aaron_Peirsol"), &photo).unwrap();
    for p in [own.path(), &bin, &photo] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    const NOBODY: u32 = 65534;
    if root {
        std::os::unix::fs::chown(own.path(), Some(NOBODY), Some(NOBODY)).unwrap();
    } else {
        for d in [h.keys(), h.data()] {
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o000)).unwrap();
        }
    }
    // As the other user: a command, with standard input, and its output.
    let run = |args: &[&str], stdin: &str| {
        let mut cmd = h.command_of(&bin, args, &[]);
        cmd.env("MANDAT_SESSION", own.path().join("session"))
            .env("HOME", own.path());
        if root {
            cmd.uid(NOBODY).gid(NOBODY);
        }
        let mut child = cmd.spawn().expect("run mandat as the other user");
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let ok = |args: &[&str], stdin: &str| {
        let o = run(args, stdin);
        assert!(
            o.status.success(),
            "{args:?} as a user without the keys: {}{}",
            text(&o.stdout),
            text(&o.stderr)
        );
        text(&o.stdout)
    };
    // The keys and the database are out of reach; so is starting a server of one's own.
    let reach = |args: &[&str]| {
        let mut cmd = std::process::Command::new(args[0]);
        cmd.args(&args[1..])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if root {
            cmd.uid(NOBODY).gid(NOBODY);
        }
        cmd.status().unwrap().success()
    };
    let master = h.keys().join("master.key");
    let audit = h.keys().join("audit.key");
    let db = h.data().join("mandat.db");
    for file in [&master, &audit, &db] {
        assert!(
            !reach(&["cat", file.to_str().unwrap()]),
            "{} is readable",
            file.display()
        );
    }
    let o = run(&["serve", "--listen", "127.0.0.1:0"], "");
    assert!(!o.status.success(), "a second server without the keys");

    // The whole work of an applicant, then of a prosecutor, through the server.
    let login = |user: &str| {
        ok(
            &["login", "--user", user, "--password-stdin"],
            &format!("{}\n{}\n", password(user), h.otp(user)),
        )
    };
    login("officer");
    let app = own.path().join("app.json");
    std::fs::write(&app, crate::lawful_cli::application("victim_search", 1)).unwrap();
    std::fs::set_permissions(&app, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = ok(&["permit", "draft", "--file", app.to_str().unwrap()], "");
    let id = out.split_whitespace().nth(2).unwrap().to_string();
    // The ids the server gave the person and the photo, as `permit draft` printed them.
    let ids = out.split("--person ").nth(1).unwrap();
    let person = ids.split_whitespace().next().unwrap().to_string();
    let photo_id = ids.split("--photo-id ").nth(1).unwrap().trim().to_string();
    ok(
        &[
            "person",
            "enrol",
            "--permit",
            &id,
            "--person",
            &person,
            "--photo-id",
            &photo_id,
            photo.to_str().unwrap(),
        ],
        "",
    );
    ok(
        &[
            "permit",
            "assign",
            &id,
            "--user",
            "pros",
            "--role",
            "prosecutor",
        ],
        "",
    );
    ok(&["permit", "apply", &id], "");
    login("pros");
    let out = ok(
        &["permit", "decide", &id, "--grant", "--reasons-file", "-"],
        "necessary and proportionate",
    );
    assert!(out.contains("Granted"), "{out}");
    assert!(ok(&["whoami"], "").starts_with("pros (prosecutor)"));

    if !root {
        for d in [h.keys(), h.data()] {
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
    }
    // The log names the user and the address the request came from, not a Unix account.
    let export = h.path().join("after.jsonl");
    h.login("aud");
    h.ok(&["audit", "export", "--out", export.to_str().unwrap()]);
    let log = std::fs::read_to_string(&export).unwrap();
    for (action, user) in [
        ("permit.draft", "officer"),
        ("person.enrol", "officer"),
        ("permit.grant", "pros"),
    ] {
        let entry = log
            .lines()
            .find(|l| l.contains(&format!("\"action\":\"{action}\"")))
            .unwrap_or_else(|| panic!("no {action} in the log"));
        assert!(
            entry.contains(&format!("\"actor\":\"{user}\""))
                && entry.contains("\"origin\":\"api:127.0.0.1\""),
            "{entry}"
        );
    }
}
