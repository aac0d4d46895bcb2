//! Embedders a police authority adds by hand (`mandat models register`): a procured model, or a
//! permissively licensed one a person supplies. Each is pinned by the sha256 it had when it was
//! registered and copied into the cache with its licence.
//!
//! Registering does not let a model be used. The control plane keys everything by the running
//! embedder's hash: no permit is granted under a model until an evaluation report of it is
//! recorded and passes the model gates, and no target is stated until its calibration is stored.
//! So whoever edits the registry file or swaps a copied model gains nothing but a model mandat
//! either refuses to load (hash) or refuses to grant under (no evaluation).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{MANIFEST, ModelError, ModelId, ModelSpec, Store, check_file, sha256_file};

/// The embedder mandat runs unless told otherwise: SFace as pinned in the manifest.
pub const BUILT_IN_EMBEDDER: &str = "sface-2021dec";

/// What a registered model is for. Only embedders can be registered; the detector is pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Embedder,
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "embedder" => Ok(Role::Embedder),
            "detector" => Err(
                "registering a detector is not built: mandat runs the pinned YuNet detector; only `--role embedder` can be registered"
                    .into(),
            ),
            _ => Err(format!("{s:?} is not a role; the one role that can be registered is `embedder`")),
        }
    }
}

/// What a registration did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Registration {
    New,
    /// Registered before with this file; the copy was intact.
    Unchanged,
    /// Registered before with this file, whose copy was missing or altered (a tampering to
    /// look into): copied again.
    Repaired,
}

/// One registered model, as the registry file keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registered {
    pub name: String,
    pub role: Role,
    /// The model file's sha256 when it was registered: the only one it may have.
    pub sha256: String,
    pub bytes: u64,
    /// The licence text's sha256 and its first line, for lists.
    pub licence_sha256: String,
    pub licence_title: String,
    /// Seconds since 1970 (UTC).
    pub registered_at: u64,
}

/// The embedder a pipeline runs: its name, verified file and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedderFile {
    pub name: String,
    pub path: PathBuf,
    pub sha256: String,
    /// Registered by hand rather than pinned in the manifest.
    pub registered: bool,
}

const REGISTRY: &str = "registry.json";
const MODEL_FILE: &str = "model.onnx";
const LICENCE_FILE: &str = "LICENCE.txt";
/// Larger than any face embedder; a bigger file is a mistake, not a model.
const MAX_MODEL_BYTES: u64 = 2 << 30;
const MAX_LICENCE_BYTES: u64 = 1 << 20;

fn refused(msg: String) -> ModelError {
    ModelError::Registry(msg)
}

/// A name: 1 to 40 of a-z, 0-9, '_' and '-', starting with a letter or digit (so never a path,
/// nor the registry's own file), and not the name of a pinned model.
fn check_name(name: &str) -> Result<(), ModelError> {
    let ok = (1..=40).contains(&name.len())
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b));
    if !ok {
        return Err(refused(format!(
            "{name:?} is not a model name: use 1 to 40 lower-case letters, digits, '_' or '-', starting with a letter or digit"
        )));
    }
    if MANIFEST.iter().any(|s| s.id.as_str() == name) {
        return Err(refused(format!(
            "{name:?} is the name of a pinned model; register under another name"
        )));
    }
    Ok(())
}

impl Store {
    fn registry_dir(&self) -> PathBuf {
        self.root().join("registered")
    }

    /// Where a registered model's file lives.
    pub fn registered_path(&self, name: &str) -> PathBuf {
        self.registry_dir().join(name).join(MODEL_FILE)
    }

    /// Where a registered model's licence lives.
    pub fn registered_licence_path(&self, name: &str) -> PathBuf {
        self.registry_dir().join(name).join(LICENCE_FILE)
    }

    /// The registered models, oldest first; none when nothing was registered.
    pub fn registered(&self) -> Result<Vec<Registered>, ModelError> {
        let path = self.registry_dir().join(REGISTRY);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let all: Vec<Registered> = serde_json::from_slice(&bytes).map_err(|e| {
                    refused(format!(
                        "the model registry {} does not parse ({e}); restore it from a backup or register the models again",
                        path.display()
                    ))
                })?;
                // A name edited into the file by hand must not lead out of the cache.
                for r in &all {
                    check_name(&r.name).map_err(|e| {
                        refused(format!(
                            "the model registry {}: {e}; remove that entry (and its directory) and register the model under a valid name",
                            path.display()
                        ))
                    })?;
                }
                Ok(all)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(ModelError::io(format!("read {}", path.display()), e)),
        }
    }

    /// Register `file` as embedder `name` with the licence text in `licence`: copy both into the
    /// cache and pin the file's hash. Registering the same file under the same name again changes
    /// nothing (`Ok(false)`); a name keeps the one file it was registered with, and a file is
    /// registered under one name. The caller checks first that the file runs as an embedder.
    pub fn register(
        &self,
        file: &Path,
        name: &str,
        role: Role,
        licence: &Path,
        now_unix: u64,
    ) -> Result<(Registered, Registration), ModelError> {
        check_name(name)?;
        let meta = std::fs::metadata(file)
            .map_err(|e| ModelError::io(format!("read {}", file.display()), e))?;
        if !meta.is_file() || meta.len() == 0 || meta.len() > MAX_MODEL_BYTES {
            return Err(refused(format!(
                "{} is not a model file of 1 byte to 2 GiB",
                file.display()
            )));
        }
        let text = read_licence(licence)?;
        let sha256 = sha256_file(file)?;
        let mut all = self.registered()?;
        if let Some(same) = all.iter().find(|r| r.name == name) {
            if same.sha256 == sha256 {
                // Registering the original again repairs a copy lost or altered on disk.
                if self.verify_registered(same).is_err()
                    || !self.registered_licence_path(name).is_file()
                {
                    let dir = self.copy_in(file, name, &sha256)?;
                    write_atomic(&dir.join(LICENCE_FILE), text.as_bytes())?;
                    return Ok((same.clone(), Registration::Repaired));
                }
                return Ok((same.clone(), Registration::Unchanged));
            }
            return Err(refused(format!(
                "{name} is registered with another file (sha256 {}); a name pins one file: register this one under a new name",
                same.sha256
            )));
        }
        if let Some(other) = all.iter().find(|r| r.sha256 == sha256) {
            return Err(refused(format!(
                "this file is already registered as {}; use that name",
                other.name
            )));
        }
        if let Ok(builtin) = ModelSpec::get(ModelId::Sface).final_sha256()
            && builtin == sha256
        {
            return Err(refused(format!(
                "this file is the pinned embedder {BUILT_IN_EMBEDDER}; it needs no registering"
            )));
        }
        let dir = self.copy_in(file, name, &sha256)?;
        write_atomic(&dir.join(LICENCE_FILE), text.as_bytes())?;
        let entry = Registered {
            name: name.to_string(),
            role,
            sha256: sha256.clone(),
            bytes: meta.len(),
            licence_sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes())),
            licence_title: text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or_default()
                .chars()
                .take(120)
                .collect(),
            registered_at: now_unix,
        };
        all.push(entry.clone());
        let json = serde_json::to_vec_pretty(&all).expect("the registry serialises");
        write_atomic(&self.registry_dir().join(REGISTRY), &json)?;
        Ok((entry, Registration::New))
    }

    /// Copy `file` into `registered/NAME/`, owner-writable and readable by all (whatever the
    /// source's mode), and check that the copy is the file that was hashed.
    fn copy_in(&self, file: &Path, name: &str, sha256: &str) -> Result<PathBuf, ModelError> {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.registry_dir().join(name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| ModelError::io(format!("create {}", dir.display()), e))?;
        let target = dir.join(MODEL_FILE);
        let tmp = dir.join(format!("{MODEL_FILE}.partial"));
        std::fs::copy(file, &tmp).map_err(|e| {
            ModelError::io(format!("copy {} to {}", file.display(), tmp.display()), e)
        })?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| ModelError::io(format!("chmod {}", tmp.display()), e))?;
        // The copy is what runs: it must be the file that was hashed, not one changed meanwhile.
        if sha256_file(&tmp)? != sha256 {
            let _ = std::fs::remove_file(&tmp);
            return Err(refused(format!(
                "{} changed while it was copied; register it again once nothing writes to it",
                file.display()
            )));
        }
        std::fs::rename(&tmp, &target)
            .map_err(|e| ModelError::io(format!("rename to {}", target.display()), e))?;
        Ok(dir)
    }

    fn verify_registered(&self, r: &Registered) -> Result<PathBuf, ModelError> {
        let path = self.registered_path(&r.name);
        check_file("registered model", &path, &r.sha256).map_err(|e| match e {
            ModelError::Missing { path, .. } => refused(format!(
                "registered model {} is missing at {}; register it again",
                r.name,
                path.display()
            )),
            ModelError::HashMismatch { path, actual, .. } => refused(format!(
                "registered model {} at {} has sha256 {actual}, but was registered with {}; it may be corrupt or tampered with. Delete it and register the original again",
                r.name,
                path.display(),
                r.sha256
            )),
            other => other,
        })?;
        Ok(path)
    }

    /// The embedder named `name`, its file verified: the pinned SFace for
    /// [`BUILT_IN_EMBEDDER`], else a registered one. Never downloads.
    pub fn embedder(&self, name: &str) -> Result<EmbedderFile, ModelError> {
        if name == BUILT_IN_EMBEDDER {
            let path = self.verify(ModelId::Sface)?;
            return Ok(EmbedderFile {
                name: name.to_string(),
                path,
                sha256: ModelSpec::get(ModelId::Sface).final_sha256()?.to_string(),
                registered: false,
            });
        }
        let all = self.registered()?;
        let Some(r) = all.iter().find(|r| r.name == name) else {
            let mut names = vec![BUILT_IN_EMBEDDER.to_string()];
            names.extend(all.iter().map(|r| r.name.clone()));
            return Err(refused(format!(
                "no embedder is named {name:?}; there are {} (`mandat models register` adds one)",
                names.join(", ")
            )));
        };
        let path = self.verify_registered(r)?;
        Ok(EmbedderFile {
            name: r.name.clone(),
            path,
            sha256: r.sha256.clone(),
            registered: true,
        })
    }
}

fn read_licence(path: &Path) -> Result<String, ModelError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| ModelError::io(format!("read licence {}", path.display()), e))?;
    if meta.len() > MAX_LICENCE_BYTES {
        return Err(refused(format!(
            "licence {} is larger than 1 MiB; give the licence text itself",
            path.display()
        )));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| ModelError::io(format!("read licence {}", path.display()), e))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        refused(format!(
            "licence {} is not UTF-8 text; give the licence text itself",
            path.display()
        ))
    })?;
    if text.trim().is_empty() {
        return Err(refused(format!(
            "licence {} is empty: a model is registered with the licence it is used under",
            path.display()
        )));
    }
    Ok(text)
}

/// Write through a temporary file and a rename, so a crash leaves the old file or the new one.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes)
        .map_err(|e| ModelError::io(format!("write {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| ModelError::io(format!("rename to {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path, model: &[u8]) -> (PathBuf, PathBuf) {
        let m = dir.join("in.onnx");
        let l = dir.join("LICENSE");
        std::fs::write(&m, model).unwrap();
        std::fs::write(&l, "Apache License\nVersion 2.0\n").unwrap();
        (m, l)
    }

    #[test]
    fn a_registered_model_is_pinned_by_its_hash_and_refused_when_swapped() {
        let cache = tempfile::tempdir().unwrap();
        let src = tempfile::tempdir().unwrap();
        let store = Store::at(cache.path());
        let (m, l) = files(src.path(), b"model one");
        let (r, how) = store
            .register(&m, "procured-1", Role::Embedder, &l, 7)
            .unwrap();
        assert_eq!(how, Registration::New);
        assert_eq!(r.licence_title, "Apache License");
        assert_eq!(r.bytes, 9);
        let e = store.embedder("procured-1").unwrap();
        assert_eq!(e.sha256, r.sha256);
        assert!(e.registered);
        // Again: nothing changes.
        let (_, how) = store
            .register(&m, "procured-1", Role::Embedder, &l, 8)
            .unwrap();
        assert_eq!(how, Registration::Unchanged);
        assert_eq!(store.registered().unwrap().len(), 1);
        // A shell user swaps the copied file: it no longer loads.
        std::fs::write(store.registered_path("procured-1"), b"model two").unwrap();
        let err = store.embedder("procured-1").unwrap_err().to_string();
        assert!(err.contains("tampered"), "{err}");
        // Registering the original again repairs the copy.
        let (_, how) = store
            .register(&m, "procured-1", Role::Embedder, &l, 9)
            .unwrap();
        assert_eq!(how, Registration::Repaired);
        assert_eq!(store.embedder("procured-1").unwrap().sha256, r.sha256);
        // The name keeps its file; the same file under another name is refused.
        let (m2, _) = files(src.path(), b"model two");
        let err = store
            .register(&m2, "procured-1", Role::Embedder, &l, 9)
            .unwrap_err()
            .to_string();
        assert!(err.contains("a name pins one file"), "{err}");
        let (m, _) = files(src.path(), b"model one");
        let err = store
            .register(&m, "procured-2", Role::Embedder, &l, 9)
            .unwrap_err()
            .to_string();
        assert!(err.contains("already registered as procured-1"), "{err}");
        // A name edited into the registry by hand does not lead out of the cache.
        let reg = cache.path().join("registered/registry.json");
        let edited = std::fs::read_to_string(&reg)
            .unwrap()
            .replace("\"procured-1\"", "\"../../x\"");
        std::fs::write(&reg, edited).unwrap();
        let err = store.embedder("x").unwrap_err().to_string();
        assert!(err.contains("not a model name"), "{err}");
    }

    #[test]
    fn names_roles_licences_and_unknown_models_are_refused_with_reasons() {
        let cache = tempfile::tempdir().unwrap();
        let src = tempfile::tempdir().unwrap();
        let store = Store::at(cache.path());
        let (m, l) = files(src.path(), b"model");
        for bad in [
            "",
            "Upper",
            "-dash",
            "a/b",
            "..",
            "registry.json",
            &"x".repeat(41),
        ] {
            let err = store
                .register(&m, bad, Role::Embedder, &l, 0)
                .unwrap_err()
                .to_string();
            assert!(err.contains("not a model name"), "{bad:?}: {err}");
        }
        let err = store
            .register(&m, "sface-2021dec", Role::Embedder, &l, 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("pinned model"), "{err}");
        assert!(
            "detector"
                .parse::<Role>()
                .unwrap_err()
                .contains("not built")
        );
        assert!("classifier".parse::<Role>().is_err());
        let empty = src.path().join("empty");
        std::fs::write(&empty, "  \n").unwrap();
        let err = store
            .register(&m, "m", Role::Embedder, &empty, 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is empty"), "{err}");
        let err = store.embedder("nobody").unwrap_err().to_string();
        assert!(err.contains("sface-2021dec"), "{err}");
        // A registry that does not parse is an error, not an empty list.
        std::fs::create_dir_all(cache.path().join("registered")).unwrap();
        std::fs::write(cache.path().join("registered/registry.json"), b"{").unwrap();
        assert!(store.registered().is_err());
    }
}
