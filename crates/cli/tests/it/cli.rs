//! End-to-end tests of the `mandat` binary: help on every command, model verification, bad input, and
//! accuracy on one LFW fold. They need the models (`mandat models fetch`) and the test data
//! (`MANDAT_DATA`, default `../shared/data`); they fail, never skip, without them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `mandat` where no installation is and nobody is logged in: the face tools run as a
/// development run there.
fn bare() -> Command {
    let nowhere = std::env::temp_dir().join("mandat-cli-tests-no-installation");
    let mut c = Command::new(env!("CARGO_BIN_EXE_mandat"));
    c.env("MANDAT_HOME", &nowhere)
        .env("MANDAT_SESSION", nowhere.join("session"))
        .env_remove("MANDAT_DB")
        .env_remove("MANDAT_SERVER");
    c
}

fn mandat(args: &[&str]) -> Output {
    bare().args(args).output().expect("run mandat")
}

fn data() -> PathBuf {
    let d = std::env::var_os("MANDAT_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    assert!(
        d.join("lfw/pairs.txt").is_file(),
        "test data not found at {}; set MANDAT_DATA",
        d.display()
    );
    d
}

fn lfw(name: &str, n: u32) -> String {
    data()
        .join(format!("lfw/lfw-deepfunneled/{name}/{name}_{n:04}.jpg"))
        .display()
        .to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn every_command_has_help() {
    for cmd in [
        &[][..],
        &["models"],
        &["models", "fetch"],
        &["models", "list"],
        &["models", "verify"],
        &["detect"],
        &["compare"],
        &["eval"],
        &["eval", "lfw"],
        &["bench"],
        &["init"],
        &["login"],
        &["logout"],
        &["whoami"],
        &["user", "add"],
        &["user", "list"],
        &["user", "disable"],
        &["session", "revoke"],
        &["camera", "add"],
        &["camera", "list"],
        &["permit", "draft"],
        &["permit", "assign"],
        &["permit", "unassign"],
        &["permit", "apply"],
        &["permit", "decide"],
        &["permit", "urgent-start"],
        &["permit", "stop"],
        &["permit", "outcome"],
        &["permit", "show"],
        &["permit", "list"],
        &["person", "enrol"],
        &["audit", "verify"],
        &["audit", "export"],
        &["enrol"],
        &["password"],
        &["serve"],
        &["control"],
        &["worker", "key"],
        &["worker", "enrol"],
        &["worker", "disable"],
        &["worker", "list"],
        &["worker", "run"],
        &["demo"],
        &["alerts", "list"],
        &["alerts", "show"],
        &["alerts", "review"],
        &["alerts", "dispatch"],
        &["alerts", "watch"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let o = mandat(&args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).contains("Usage: mandat"), "{args:?}");
    }
}

#[test]
fn models_verify_and_list() {
    let o = mandat(&["models", "verify"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    // The GPU runtime is verified only where it was fetched (`models fetch --gpu`).
    let gpu = out.contains("onnxruntime-gpu");
    let o = mandat(&["models", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    // Setup registers an fp16 SFace by hand: listed and verified after the pinned ones.
    let (registered, pinned): (Vec<_>, Vec<_>) =
        rows.iter().partition(|r| r["package"] == "registered");
    assert_eq!(pinned.len(), 4);
    assert!(registered.iter().any(|r| r["name"] == "sface-fp16"));
    assert_eq!(
        out.matches(" ok ").count(),
        if gpu { 4 } else { 3 } + registered.len()
    );
    for r in &registered {
        assert_eq!(r["status"], "ok", "{r}");
        assert!(Path::new(r["licence_file"].as_str().unwrap()).is_file());
    }
    for r in pinned {
        for key in ["name", "role", "package", "licence", "sha256", "path"] {
            assert!(
                r[key].as_str().is_some_and(|s| !s.is_empty()),
                "{key} in {r}"
            );
        }
        let optional = r["optional"].as_bool().unwrap();
        assert_eq!(optional, r["name"] == "onnxruntime-gpu");
        if optional && !gpu {
            assert!(r["status"].as_str().unwrap().contains("models fetch --gpu"));
            continue;
        }
        assert_eq!(r["status"], "ok");
        assert!(Path::new(r["licence_file"].as_str().unwrap()).is_file());
    }
}

#[test]
fn a_tampered_model_is_refused_with_a_fix() {
    // A private cache holding a corrupt detector: every pipeline command must refuse to run.
    let dir = tempfile::tempdir().unwrap();
    let real = Path::new(&std::env::var("HOME").unwrap()).join(".cache/mandat");
    let real = std::env::var_os("MANDAT_CACHE")
        .map(PathBuf::from)
        .unwrap_or(real);
    let copy = |rel: &str| {
        let to = dir.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(real.join(rel), &to).unwrap();
    };
    copy("models/onnxruntime/libonnxruntime.so.1.31.1");
    copy("models/sface-2021dec/face_recognition_sface_2021dec_fp32.onnx");
    let det = dir
        .path()
        .join("models/yunet-2023mar/face_detection_yunet_2023mar_dynamic.onnx");
    std::fs::create_dir_all(det.parent().unwrap()).unwrap();
    std::fs::write(&det, b"tampered").unwrap();
    let o = bare()
        .args(["detect", &lfw("Takeo_Hiranuma", 1)])
        .env("MANDAT_CACHE", dir.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("yunet-2023mar") && err.contains("sha256"),
        "{err}"
    );
    assert!(err.contains("mandat models fetch"), "{err}");
    std::fs::remove_file(&det).unwrap();
    let o = bare()
        .args(["detect", &lfw("Takeo_Hiranuma", 1)])
        .env("MANDAT_CACHE", dir.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("missing"), "{}", stderr(&o));
}

#[test]
fn detect_json_has_the_stable_shape() {
    let img = lfw("Takeo_Hiranuma", 1);
    // Embeddings only when asked for.
    let o = mandat(&["detect", "--json", &img]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert!(v["faces"][0].get("embedding").is_none(), "{v}");
    // No installation and no login here: it runs, and says it is not audited.
    assert!(
        stderr(&o).contains("development run, not audited"),
        "{}",
        stderr(&o)
    );
    let o = mandat(&["detect", "--json", "--embeddings", &img]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["image"], img.as_str());
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(250), Some(250))
    );
    let faces = v["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 1);
    let f = &faces[0];
    assert_eq!(f["box"].as_array().unwrap().len(), 4);
    assert_eq!(f["landmarks"].as_array().unwrap().len(), 5);
    assert_eq!(f["embedding"].as_array().unwrap().len(), 128);
    let q = &f["quality"];
    for key in [
        "inter_eye_px",
        "detector_score",
        "sharpness",
        "yaw",
        "roll_deg",
        "pitch",
    ] {
        assert!(q[key].is_number(), "quality.{key}");
    }
    assert!(q["inter_eye_px"].as_f64().unwrap() > 30.0);
}

#[test]
fn compare_same_and_different_people() {
    let same = mandat(&[
        "compare",
        "--json",
        &lfw("Abel_Pacheco", 1),
        &lfw("Abel_Pacheco", 4),
    ]);
    assert!(same.status.success(), "{}", stderr(&same));
    let v: serde_json::Value = serde_json::from_slice(&same.stdout).unwrap();
    assert_eq!(v["same_person"], true, "{v}");
    let diff = mandat(&[
        "compare",
        "--json",
        &lfw("Abel_Pacheco", 1),
        &lfw("Takeo_Hiranuma", 1),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&diff.stdout).unwrap();
    assert_eq!(v["same_person"], false, "{v}");
    assert!(v["similarity"].as_f64().unwrap() < 0.3);
}

/// Every kind of bad input gives a clear error or an empty result, and the process never panics.
#[test]
fn bad_input_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let good_jpeg = std::fs::read(lfw("Takeo_Hiranuma", 1)).unwrap();
    let good_png = std::fs::read(data().join("../golden/synthetic_t12.0.png")).unwrap();
    let huge_png = {
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut v = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0d".to_vec();
        v.extend_from_slice(&ihdr);
        v.extend_from_slice(&crc32(&ihdr).to_be_bytes());
        let idat = b"IDAT\x78\x9c\x03\x00";
        v.extend_from_slice(&4u32.to_be_bytes());
        v.extend_from_slice(idat);
        v.extend_from_slice(&crc32(idat).to_be_bytes());
        v
    };
    // A JPEG whose SOF0 claims 65000 x 65000.
    let mut huge_jpeg = good_jpeg.clone();
    if let Some(i) = huge_jpeg.windows(2).position(|w| w == [0xff, 0xc0]) {
        huge_jpeg[i + 5..i + 9].copy_from_slice(&[0xfd, 0xe8, 0xfd, 0xe8]);
    }
    // A plain grey image with no face.
    let grey = {
        let img = image::RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128]));
        let mut v = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut v), image::ImageFormat::Png)
            .unwrap();
        v
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.jpg", vec![], "empty"),
        (
            "text.jpg",
            b"this is not an image".to_vec(),
            "not a supported image",
        ),
        (
            "truncated.jpg",
            good_jpeg[..good_jpeg.len() / 3].to_vec(),
            "",
        ),
        ("header_only.jpg", good_jpeg[..40].to_vec(), "corrupt"),
        (
            "truncated.png",
            good_png[..good_png.len() / 2].to_vec(),
            "corrupt",
        ),
        ("huge.png", huge_png, "over the limit"),
        ("huge.jpg", huge_jpeg, "over the limit"),
        ("noface.png", grey, ""),
    ];
    for (name, bytes, expect) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, &bytes).unwrap();
        let o = mandat(&["detect", "--json", p.to_str().unwrap()]);
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{name}: {err}");
        let v: serde_json::Value = serde_json::from_str(stdout(&o).trim())
            .unwrap_or_else(|e| panic!("{name}: no JSON line ({e}): {err}"));
        if let Some(msg) = v["error"].as_str() {
            assert!(
                !o.status.success(),
                "{name}: an error must fail the command"
            );
            assert!(
                msg.contains(expect),
                "{name}: {msg:?} should say {expect:?}"
            );
        } else {
            // Decoded (a truncated JPEG is filled in by libjpeg-turbo): then a face list, maybe empty.
            assert!(o.status.success(), "{name}: {err}");
            assert!(v["faces"].is_array(), "{name}: {v}");
            assert!(
                expect.is_empty(),
                "{name}: expected an error {expect:?}, got {v}"
            );
            if name == "noface.png" {
                assert_eq!(v["faces"].as_array().unwrap().len(), 0);
            }
        }
    }
    let o = mandat(&[
        "detect",
        dir.path().join("does-not-exist.jpg").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cannot read"), "{}", stderr(&o));
}

/// The first LFW fold (600 pairs): accuracy and failures as `eval lfw` reports them. The full 10-fold
/// protocol is in the README; CI runs this subset.
#[test]
fn lfw_first_fold_accuracy() {
    let out = tempfile::tempdir().unwrap();
    let o = mandat(&[
        "eval",
        "lfw",
        "--json",
        "--folds",
        "1",
        "--data",
        data().to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["pairs"], 600);
    assert_eq!(v["detection_failures"], 0, "{v}");
    // With one fold the threshold is chosen on the fold itself, so this is a training accuracy.
    assert!(v["accuracy_mean"].as_f64().unwrap() >= 0.985, "{v}");
    assert!(v["tar_at_far_1e-2"].as_f64().unwrap() >= 0.97, "{v}");
    for key in ["accuracy_std", "tar_at_far_1e-3", "images"] {
        assert!(v[key].is_number(), "{key}");
    }
    let svg = std::fs::read_to_string(out.path().join("lfw_roc_det.svg")).unwrap();
    assert!(svg.contains("<svg"));
    assert!(out.path().join("lfw_roc_det.png").is_file());
    assert!(out.path().join("lfw.json").is_file());
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn bench_runs_the_engine_on_both_videos_and_writes_its_section() {
    // The peer needs OpenCV (installed by the bench on first use) and two minutes; CI runs mandat's
    // side.
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("benchmarks.md");
    std::fs::write(
        &md,
        "# Bench\nprose stays\n<!-- bench:begin -->\nold\n<!-- bench:end -->\nafter\n",
    )
    .unwrap();
    let data = data().display().to_string();
    let o = mandat(&[
        "bench",
        "--data",
        &data,
        "--only",
        "compare,quality",
        "--no-peer",
        "--json",
        "--markdown",
        md.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        r["cores"].as_array().unwrap().len(),
        1,
        "pinned to one core"
    );
    let rows = r["compare"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let (street, synth) = (&rows[0]["mandat"], &rows[1]["mandat"]);
    assert_eq!(street["frames"], 105);
    assert_eq!(synth["frames"], 750);
    // Five analysed frames per second of 25: one in five, the first included.
    assert_eq!(street["frames_analysed"], 21);
    assert_eq!(synth["frames_analysed"], 150);
    // The street clip's small faces are found: the peer, at full resolution, finds 8.5 per frame.
    let per_frame = street["faces_per_analysed_frame"].as_f64().unwrap();
    assert!(per_frame > 7.5, "{per_frame} faces per analysed frame");
    assert_eq!(synth["recall"]["found"], 13);
    assert_eq!(synth["recall"]["appearances"], 13);
    for row in rows {
        assert!(row["peer"].is_null() && row["ratio_frames_per_s"].is_null());
        let share = row["share_in_inference_and_decode"].as_f64().unwrap();
        let ort = row["share_in_inference"].as_f64().unwrap();
        assert!(0.3 < ort && ort < share && share <= 1.05, "{ort} {share}");
        let stages = &row["stages_ms_per_frame"];
        assert!(stages["decode"].as_f64().unwrap() > 0.0);
        assert!(stages["embed_inference"].as_f64().unwrap() > 0.0);
    }
    // The quality gate keeps faces out and fewer are embedded (a face turned away leaves its
    // track open for a better view), and every watchlist appearance is still found.
    let q = r["quality_gate"].as_array().unwrap();
    assert_eq!(q.len(), 8, "2 thresholds x 2 videos x gate off and on");
    for pair in q.chunks(2) {
        let (off, on) = (&pair[0]["run"], &pair[1]["run"]);
        assert_eq!(
            (pair[0]["gate"].as_bool(), pair[1]["gate"].as_bool()),
            (Some(false), Some(true))
        );
        assert_eq!(off["faces_below_quality"], 0);
        assert!(on["faces_below_quality"].as_u64().unwrap() > 0, "{on}");
        assert!(
            on["faces_embedded"].as_u64().unwrap() < off["faces_embedded"].as_u64().unwrap(),
            "{on} {off}"
        );
        if !on["recall"].is_null() {
            assert_eq!(
                (&on["recall"]["found"], &off["recall"]["found"]),
                (&13.into(), &13.into())
            );
        }
    }
    let doc = std::fs::read_to_string(&md).unwrap();
    assert!(doc.starts_with("# Bench\nprose stays\n<!-- bench:begin -->\nMeasured by"));
    assert!(doc.contains("| street_1080p | mandat |"));
    assert!(doc.contains("| 0.300 | street_1080p | on |"), "{doc}");
    assert!(doc.ends_with("<!-- bench:end -->\nafter\n") && !doc.contains("\nold\n"));
}

/// The bench's demand section: of 100 registered cameras, the 2 a permit covers are the only ones
/// whose sources ran and whose video was open, sampled from the process itself.
#[test]
fn bench_shows_that_only_cameras_in_demand_are_decoded() {
    let data = data().display().to_string();
    let o = mandat(&[
        "bench",
        "--data",
        &data,
        "--only",
        "demand",
        "--latency-seconds",
        "5",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let d = &r["demand"];
    assert_eq!(
        (d["registered"].as_u64(), d["in_demand"].as_u64()),
        (Some(100), Some(2))
    );
    assert_eq!(d["max_sources_running"], 2, "{d}");
    assert_eq!(d["max_video_files_open"], 2, "{d}");
    assert!(d["decode_cores_per_camera"].as_f64().unwrap() > 0.0);
}

/// The systemd units in `packaging/systemd` pass `systemd-analyze verify` (with this build as the
/// binary) and its offline security review at an exposure of 2.0 or less. (They are not started
/// here: the test machine has no systemd as process 1.)
#[test]
fn the_systemd_units_verify_and_are_hardened() {
    let dir = tempfile::tempdir().unwrap();
    for unit in ["mandat-control.service", "mandat-worker.service"] {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../packaging/systemd")
                .join(unit),
        )
        .unwrap();
        assert!(text.contains("ExecStart=/usr/bin/mandat "), "{unit}");
        let local = dir.path().join(unit);
        std::fs::write(
            &local,
            text.replace("/usr/bin/mandat", env!("CARGO_BIN_EXE_mandat")),
        )
        .unwrap();
        let o = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&local)
            .output()
            .expect("systemd-analyze (Debian's systemd; ./test.sh installs it)");
        assert!(
            o.status.success() && o.stderr.is_empty(),
            "{unit}: {}",
            stderr(&o)
        );
        let o = Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--no-pager"])
            .arg(&local)
            .output()
            .unwrap();
        let out = stdout(&o) + &stderr(&o);
        let exposure: f64 = out
            .split("Overall exposure level for ")
            .nth(1)
            .and_then(|r| r.split(": ").nth(1))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|x| x.parse().ok())
            .unwrap_or_else(|| panic!("{unit}: no exposure level in {out}"));
        assert!(exposure <= 2.0, "{unit}: exposure {exposure}: {out}");
    }
}

/// The Debian package (`scripts/deb.sh`, dpkg-deb): the binary, both units, the docs and a postinst
/// that creates the users the units name; its Depends are the libraries the binary links against
/// (FFmpeg's among them), so a host without them refuses the package rather than failing at start.
/// The extracted binary runs.
#[test]
fn the_deb_package_holds_the_binary_the_units_and_their_users() {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/deb.sh");
    let o = Command::new(&script)
        .arg(env!("CARGO_BIN_EXE_mandat"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "deb.sh: {}", stderr(&o));
    let deb = stdout(&o).trim().to_string();
    assert!(deb.ends_with(".deb") && Path::new(&deb).is_file(), "{deb}");
    let info = Command::new("dpkg-deb")
        .args(["--info", &deb])
        .output()
        .unwrap();
    let info = stdout(&info);
    let depends = info
        .lines()
        .find(|l| l.trim_start().starts_with("Depends:"))
        .unwrap_or_else(|| panic!("no Depends: {info}"));
    for lib in ["libc6", "adduser"] {
        assert!(depends.contains(lib), "{depends}");
    }
    if mandat_video::FFMPEG_BUILT_IN {
        assert!(
            depends.contains("libavcodec") && depends.contains("libswscale"),
            "{depends}"
        );
    }
    let contents = Command::new("dpkg-deb")
        .args(["--contents", &deb])
        .output()
        .unwrap();
    let contents = stdout(&contents);
    // Everything owned by root; files not writable by anyone else.
    for (path, mode) in [
        ("./usr/bin/mandat", "-rwxr-xr-x"),
        ("./lib/systemd/system/mandat-control.service", "-rw-r--r--"),
        ("./lib/systemd/system/mandat-worker.service", "-rw-r--r--"),
        ("./usr/share/doc/mandat/deployment.md", "-rw-r--r--"),
        ("./usr/share/doc/mandat/copyright", "-rw-r--r--"),
    ] {
        let line = contents
            .lines()
            .find(|l| l.ends_with(path))
            .unwrap_or_else(|| panic!("{path} missing from {contents}"));
        assert!(line.starts_with(mode), "{line}");
    }
    assert!(
        contents.lines().all(|l| l.contains(" root/root ")),
        "{contents}"
    );
    // Every user a unit runs as is created by the postinst.
    let ctl = dir.path().join("control");
    let o = Command::new("dpkg-deb")
        .arg("-e")
        .arg(&deb)
        .arg(&ctl)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let postinst = std::fs::read_to_string(ctl.join("postinst")).unwrap();
    assert!(
        Command::new("sh")
            .arg("-n")
            .arg(ctl.join("postinst"))
            .status()
            .unwrap()
            .success()
    );
    let root = dir.path().join("root");
    let o = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&root)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // The commands the postinst runs, comments left out.
    let commands: Vec<&str> = postinst
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    for unit in ["mandat-control.service", "mandat-worker.service"] {
        let text = std::fs::read_to_string(root.join("lib/systemd/system").join(unit)).unwrap();
        let user = text
            .lines()
            .find_map(|l| l.strip_prefix("User="))
            .unwrap_or_else(|| panic!("{unit} names no user"));
        assert!(
            commands
                .iter()
                .any(|c| c.contains("adduser --system --group")
                    && c.split_whitespace().last() == Some(user)),
            "{unit} runs as {user}, which the postinst does not create: {postinst}"
        );
    }
    // The key directories are made private to their users.
    for dir in ["/etc/mandat/keys", "/etc/mandat-worker"] {
        assert!(
            commands
                .iter()
                .any(|c| c.starts_with("install -d -m 0700") && c.ends_with(dir)),
            "{dir}: {postinst}"
        );
    }
    assert!(ctl.join("prerm").is_file(), "no prerm");
    let o = Command::new(root.join("usr/bin/mandat"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(
        o.status.success() && stdout(&o).starts_with("mandat "),
        "{}",
        stdout(&o)
    );
}
