//! Key epochs. Every permit's data key is wrapped by the *wrapping key* of the current epoch, which
//! lives in the key directory (`wrap.key`), never in the database. A rotation re-wraps every live
//! data key under a fresh wrapping key and destroys the old one. A purge deletes a permit's wrapped
//! data key from the database, but a backup taken before the purge still holds it: once the epoch
//! it was wrapped under is rotated away, no key the installation holds can unwrap it.
//!
//! The master key keeps its other work (the MACs of records, the sealed TOTP secrets and camera
//! URLs); those are not erased by law, so they need no epochs. Data keys from before epochs
//! existed are wrapped under the master key (epoch 0) and are re-wrapped when the store opens.
//!
//! A rotation survives a crash at any point: the new key is written to `wrap.key.next` before the
//! database changes, and the database's own epoch (table `key_epoch`) says on the next start
//! whether to finish the rotation or abandon it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::{SecretKey, StoreError};

/// The wrapping keys this process holds: the current epoch's, and during a rotation the next one.
pub struct WrapKeys {
    /// `None`: held in memory only (tests); a rotation then just forgets the old key.
    file: Option<PathBuf>,
    keys: RwLock<BTreeMap<i64, Arc<SecretKey>>>,
}

impl std::fmt::Debug for WrapKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WrapKeys(epochs {:?})", self.epochs())
    }
}

const HEADER: &str = "mandat wrapping key";

fn next_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".next");
    PathBuf::from(s)
}

fn render(epoch: i64, key: &SecretKey) -> String {
    format!("{HEADER}\nepoch {epoch}\n{}\n", key.to_hex())
}

fn parse(path: &Path) -> Result<(i64, SecretKey), StoreError> {
    mandat_audit::check_private(path)
        .map_err(|e| StoreError::Config(e.to_string().replace("audit key", "wrapping key")))?;
    let text = std::fs::read_to_string(path).map_err(|e| {
        StoreError::Config(format!(
            "cannot read the wrapping key {}: {e}. Restore the key directory that belongs to this database",
            path.display()
        ))
    })?;
    let bad = || {
        StoreError::Config(format!(
            "{} is not a mandat wrapping key (header, `epoch N`, 64 hex digits)",
            path.display()
        ))
    };
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err(bad());
    }
    let epoch = lines
        .next()
        .and_then(|l| l.strip_prefix("epoch "))
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n >= 1)
        .ok_or_else(bad)?;
    let key = SecretKey::from_hex(lines.next().ok_or_else(bad)?, "wrapping key")?;
    Ok((epoch, key))
}

/// Write `text` to a new file only its owner can read, and make it durable.
fn write_new_private(path: &Path, text: &str) -> Result<(), StoreError> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path).map_err(|e| {
        StoreError::Config(format!(
            "cannot create the key file {}: {e}",
            path.display()
        ))
    })?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| StoreError::Config(format!("cannot write {}: {e}", path.display())))
}

/// Overwrite a key file's bytes in place, then remove it. On a copy-on-write file system or an SSD
/// the old blocks may survive the overwrite (the README says so); the file is gone either way.
fn destroy(path: &Path) -> Result<(), StoreError> {
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(path) {
        let _ = f
            .write_all(&vec![0u8; len as usize])
            .and_then(|_| f.sync_all());
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::Config(format!(
            "cannot remove the old key file {}: {e}",
            path.display()
        ))),
    }
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
}

/// The keys in `path` and, during a rotation, its `.next` file.
fn load(path: &Path) -> Result<BTreeMap<i64, Arc<SecretKey>>, StoreError> {
    let mut keys = BTreeMap::new();
    let (epoch, key) = parse(path)?;
    keys.insert(epoch, Arc::new(key));
    let next = next_path(path);
    if next.exists() {
        let (e, k) = parse(&next)?;
        if e != epoch + 1 {
            return Err(StoreError::Config(format!(
                "{} holds epoch {e} beside epoch {epoch} in {}: remove the stray file",
                next.display(),
                path.display()
            )));
        }
        keys.insert(e, Arc::new(k));
    }
    Ok(keys)
}

impl WrapKeys {
    /// The wrapping key in `path`, created (epoch 1, mode 600) when there is none. An unfinished
    /// rotation's next key is loaded too; [`crate::Store::open`] finishes or abandons it.
    pub fn file(path: &Path) -> Result<Self, StoreError> {
        if !path.exists() {
            if next_path(path).exists() {
                return Err(StoreError::Config(format!(
                    "{} is missing but {} exists: a key rotation was interrupted; restore the key directory",
                    path.display(),
                    next_path(path).display()
                )));
            }
            write_new_private(path, &render(1, &SecretKey::random()?))?;
            sync_dir(path);
        }
        Ok(Self {
            file: Some(path.to_path_buf()),
            keys: RwLock::new(load(path)?),
        })
    }

    /// A wrapping key held in memory only, at epoch 1: for tests. Nothing is written anywhere.
    pub fn in_memory(key: SecretKey) -> Self {
        Self {
            file: None,
            keys: RwLock::new(BTreeMap::from([(1, Arc::new(key))])),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<i64, Arc<SecretKey>>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<i64, Arc<SecretKey>>> {
        self.keys.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The epochs whose keys this process holds, oldest first.
    pub fn epochs(&self) -> Vec<i64> {
        self.read().keys().copied().collect()
    }

    /// The key of `epoch`, if this process still holds it.
    pub(crate) fn get(&self, epoch: i64) -> Option<Arc<SecretKey>> {
        if let Some(k) = self.read().get(&epoch) {
            return Some(k.clone());
        }
        // A newer epoch than any held: another process sharing the key directory rotated.
        let file = self.file.as_ref()?;
        if epoch <= self.newest() {
            return None;
        }
        let fresh = load(file).ok()?;
        let key = fresh.get(&epoch).cloned();
        if key.is_some() {
            *self.write() = fresh;
        }
        key
    }

    /// The oldest epoch held: the current one, unless a rotation is under way.
    pub(crate) fn settled(&self) -> i64 {
        *self.read().keys().next().expect("at least one epoch")
    }

    /// The newest epoch held (a rotation's next epoch while it runs).
    pub(crate) fn newest(&self) -> i64 {
        *self.read().keys().next_back().expect("at least one epoch")
    }

    /// Start a rotation: a fresh key for the next epoch, durable in `wrap.key.next` before the
    /// database is touched.
    pub(crate) fn stage(&self) -> Result<(i64, Arc<SecretKey>), StoreError> {
        let mut keys = self.write();
        let current = *keys.keys().next_back().expect("at least one epoch");
        if keys.len() > 1 {
            return Err(StoreError::Conflict(
                "a key rotation is under way already; try again when it has finished".into(),
            ));
        }
        let epoch = current + 1;
        let key = SecretKey::random()?;
        if let Some(file) = &self.file {
            let next = next_path(file);
            destroy(&next)?; // a stray from a crash before the database changed
            write_new_private(&next, &render(epoch, &key))?;
            sync_dir(&next);
        }
        let key = Arc::new(key);
        keys.insert(epoch, key.clone());
        Ok((epoch, key))
    }

    /// Finish a rotation the database has committed: `wrap.key` becomes the new key, the old
    /// key's bytes are overwritten and it is forgotten.
    pub(crate) fn promote(&self, epoch: i64) -> Result<(), StoreError> {
        if let Some(file) = &self.file {
            let next = next_path(file);
            if next.exists() {
                // Hold the old key's inode, swap the new key in atomically, then overwrite the
                // old bytes through the handle: a crash at any point leaves a usable `wrap.key`.
                let old = std::fs::OpenOptions::new().write(true).open(file).ok();
                let len = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
                std::fs::rename(&next, file).map_err(|e| {
                    StoreError::Config(format!(
                        "cannot move {} to {}: {e}; move it by hand before the next start",
                        next.display(),
                        file.display()
                    ))
                })?;
                sync_dir(file);
                if let Some(mut f) = old {
                    let _ = f
                        .write_all(&vec![0u8; len as usize])
                        .and_then(|_| f.sync_all());
                }
            }
        }
        self.write().retain(|e, _| *e >= epoch);
        Ok(())
    }

    /// Give up a rotation the database did not commit: its next key goes.
    pub(crate) fn abandon(&self, epoch: i64) {
        if let Some(file) = &self.file
            && let Err(e) = destroy(&next_path(file))
        {
            tracing::error!("{e}");
        }
        let mut keys = self.write();
        if keys.len() > 1 {
            keys.remove(&epoch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_replaces_the_file_and_forgets_the_old_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wrap.key");
        let w = WrapKeys::file(&path).unwrap();
        assert_eq!(w.epochs(), vec![1]);
        let before = std::fs::read_to_string(&path).unwrap();
        let (e, _) = w.stage().unwrap();
        assert_eq!(e, 2);
        assert!(w.stage().is_err(), "one rotation at a time");
        // A crash here: the next start holds both until the database says which won.
        assert_eq!(WrapKeys::file(&path).unwrap().epochs(), vec![1, 2]);
        w.promote(2).unwrap();
        assert_eq!(w.epochs(), vec![2]);
        let after = std::fs::read_to_string(&path).unwrap();
        assert_ne!(before, after);
        assert!(after.contains("epoch 2"));
        assert!(!next_path(&path).exists());
        assert_eq!(WrapKeys::file(&path).unwrap().epochs(), vec![2]);
        // An abandoned rotation leaves the current key alone.
        let (e, _) = w.stage().unwrap();
        w.abandon(e);
        assert_eq!(w.epochs(), vec![2]);
        assert!(!next_path(&path).exists());
    }

    #[test]
    fn a_readable_or_malformed_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wrap.key");
        std::fs::write(&path, "not a key").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(WrapKeys::file(&path).is_err());
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let err = WrapKeys::file(&path).unwrap_err().to_string();
        assert!(err.contains("not a mandat wrapping key"), "{err}");
    }
}
