//! Key epochs. Every permit's data key is wrapped by the *wrapping key* of the current epoch, which
//! lives in the key directory (`wrap.key`), never in the database. A rotation re-wraps every live
//! data key under a fresh wrapping key and destroys the old one. A purge deletes a permit's wrapped
//! data key from the database, but a backup taken before the purge still holds it: once the epoch
//! it was wrapped under is rotated away, no key the installation holds can unwrap it.
//!
//! The master key keeps its other work (the MACs of records, the sealed TOTP secrets and camera
//! URLs); those are not erased by law, so they need no epochs. No data key is ever wrapped under
//! the master key, which never rotates.
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

/// Write `text` to `path` whole or not at all: a private temporary file, made durable, then
/// renamed over `path`. A crash never leaves a torn key file.
fn write_atomic_private(path: &Path, text: &str) -> Result<(), StoreError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(&tmp).map_err(|e| {
        StoreError::Config(format!("cannot create the key file {}: {e}", tmp.display()))
    })?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| StoreError::Config(format!("cannot write {}: {e}", path.display())))?;
    sync_dir(path);
    Ok(())
}

/// Overwrite a key file's bytes in place, then remove it. On a copy-on-write file system or an SSD
/// the old blocks may survive the overwrite (the README says so); the file is gone either way.
fn destroy(path: &Path) -> Result<(), StoreError> {
    if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(path) {
        let _ = f.write_all(&[0u8; KEY_FILE_MAX]).and_then(|_| f.sync_all());
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

/// A key file is about 110 bytes; the overwrite covers more than that, never a size a file claims.
const KEY_FILE_MAX: usize = 256;

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
        if Some(e) != epoch.checked_add(1) {
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

/// Held while a rotation (or the check at start) runs: one process at a time touches the key
/// files. Released when dropped.
pub(crate) struct KeyLock(#[allow(dead_code)] Option<std::fs::File>);

impl WrapKeys {
    /// Make a new wrapping key at epoch 1 (mode 600): `mandat init` and the demo. Refuses to
    /// replace one.
    pub fn create(path: &Path) -> Result<(), StoreError> {
        let exists = || {
            StoreError::Config(format!(
                "{} exists already; a wrapping key is never replaced by a new one",
                path.display()
            ))
        };
        if path.exists() {
            return Err(exists());
        }
        // Written whole under another name, then linked in: the link fails if a key appeared
        // meanwhile, so no key is ever overwritten.
        let mut staged = path.as_os_str().to_owned();
        staged.push(".new");
        let staged = PathBuf::from(staged);
        write_atomic_private(&staged, &render(1, &SecretKey::random()?))?;
        let linked = std::fs::hard_link(&staged, path);
        let _ = std::fs::remove_file(&staged);
        linked.map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => exists(),
            _ => StoreError::Config(format!("cannot create {}: {e}", path.display())),
        })?;
        sync_dir(path);
        Ok(())
    }

    /// The wrapping key in `path`, with an unfinished rotation's next key; [`crate::Store::open`]
    /// finishes or abandons that. A missing key is an error, never replaced silently: a fresh key
    /// would open nothing the database holds.
    pub fn file(path: &Path) -> Result<Self, StoreError> {
        if !path.exists() {
            return Err(StoreError::Config(format!(
                "the wrapping key {} is missing{}: restore the key directory that belongs to this database, or run `mandat init` for a new installation",
                path.display(),
                if next_path(path).exists() {
                    " (a key rotation was interrupted)"
                } else {
                    ""
                }
            )));
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

    /// Take the key directory's lock (`wrap.key.lock`), waiting for another process's rotation.
    pub(crate) fn lock(&self) -> Result<KeyLock, StoreError> {
        let Some(file) = &self.file else {
            return Ok(KeyLock(None));
        };
        let mut p = file.as_os_str().to_owned();
        p.push(".lock");
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let f = o
            .open(PathBuf::from(&p))
            .and_then(|f| f.lock().map(|_| f))
            .map_err(|e| {
                StoreError::Config(format!(
                    "cannot lock the key directory ({}): {e}",
                    PathBuf::from(&p).display()
                ))
            })?;
        Ok(KeyLock(Some(f)))
    }

    /// Read the key files again: another process on this key directory may have rotated.
    pub(crate) fn reload(&self) -> Result<(), StoreError> {
        if let Some(file) = &self.file {
            let fresh = load(file)?;
            *self.write() = fresh;
        }
        Ok(())
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

    /// The key of `epoch`, if this process holds it (reading the key directory again when the
    /// epoch is newer than any it holds: another process rotated).
    pub(crate) fn get(&self, epoch: i64) -> Option<Arc<SecretKey>> {
        if let Some(k) = self.read().get(&epoch) {
            return Some(k.clone());
        }
        if self.file.is_none() || epoch <= self.newest() {
            return None;
        }
        let fresh = load(self.file.as_ref()?).ok()?;
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

    /// Start a rotation, under the key lock: a fresh key for the next epoch, durable in
    /// `wrap.key.next` before the database is touched.
    pub(crate) fn stage(&self, _lock: &KeyLock) -> Result<(i64, Arc<SecretKey>), StoreError> {
        let mut keys = self.write();
        if keys.len() > 1 {
            return Err(StoreError::Conflict(
                "a key rotation is under way already; try again when it has finished".into(),
            ));
        }
        let current = *keys.keys().next_back().expect("at least one epoch");
        let epoch = current
            .checked_add(1)
            .ok_or_else(|| StoreError::Config("the key epoch cannot grow further".into()))?;
        let key = SecretKey::random()?;
        if let Some(file) = &self.file {
            write_atomic_private(&next_path(file), &render(epoch, &key))?;
        }
        let key = Arc::new(key);
        keys.insert(epoch, key.clone());
        Ok((epoch, key))
    }

    /// Finish a rotation the database has committed, under the key lock: `wrap.key` becomes the
    /// new key, the old key's bytes are overwritten and it is forgotten.
    pub(crate) fn promote(&self, epoch: i64, _lock: &KeyLock) -> Result<(), StoreError> {
        if let Some(file) = &self.file {
            let next = next_path(file);
            // Hold the old key's inode, swap the new key in atomically, then overwrite the old
            // bytes through the handle: a crash at any point leaves a usable `wrap.key`.
            let old = std::fs::OpenOptions::new().write(true).open(file).ok();
            if next.exists() {
                std::fs::rename(&next, file).map_err(|e| {
                    StoreError::Config(format!(
                        "cannot move {} to {}: {e}; move it by hand before the next start",
                        next.display(),
                        file.display()
                    ))
                })?;
            } else {
                // The next file went missing (removed by hand): write the key this process holds.
                let key = self.get(epoch).ok_or_else(|| {
                    StoreError::Config(format!("the key of epoch {epoch} is not held"))
                })?;
                write_atomic_private(file, &render(epoch, &key))?;
            }
            sync_dir(file);
            if let Some(mut f) = old {
                let _ = f.write_all(&[0u8; KEY_FILE_MAX]).and_then(|_| f.sync_all());
            }
        }
        self.write().retain(|e, _| *e >= epoch);
        Ok(())
    }

    /// Give up a rotation the database did not commit, under the key lock: its next key goes.
    pub(crate) fn abandon(&self, epoch: i64, _lock: &KeyLock) {
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

/// A check value of a wrapping key, kept in the database: it shows whether the key directory
/// holds the key the data keys are wrapped under, and reveals nothing of the key.
pub(crate) fn check_value(key: &SecretKey) -> String {
    hex::encode(key.mac("wrap-key-check", b""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_replaces_the_file_and_forgets_the_old_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wrap.key");
        assert!(
            WrapKeys::file(&path).is_err(),
            "a missing key is never made up"
        );
        WrapKeys::create(&path).unwrap();
        assert!(WrapKeys::create(&path).is_err(), "never replaced");
        let w = WrapKeys::file(&path).unwrap();
        assert_eq!(w.epochs(), vec![1]);
        let before = std::fs::read_to_string(&path).unwrap();
        let lock = w.lock().unwrap();
        let (e, _) = w.stage(&lock).unwrap();
        assert_eq!(e, 2);
        assert!(w.stage(&lock).is_err(), "one rotation at a time");
        // A crash here: the next start holds both until the database says which won.
        assert_eq!(WrapKeys::file(&path).unwrap().epochs(), vec![1, 2]);
        w.promote(2, &lock).unwrap();
        assert_eq!(w.epochs(), vec![2]);
        let after = std::fs::read_to_string(&path).unwrap();
        assert_ne!(before, after);
        assert!(after.contains("epoch 2"));
        assert!(!next_path(&path).exists());
        assert_eq!(WrapKeys::file(&path).unwrap().epochs(), vec![2]);
        // An abandoned rotation leaves the current key alone.
        let (e, _) = w.stage(&lock).unwrap();
        w.abandon(e, &lock);
        assert_eq!(w.epochs(), vec![2]);
        assert!(!next_path(&path).exists());
        // The old key file's inode was overwritten, not just unlinked: no stray copies.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| n == "wrap.key" || n == "wrap.key.lock"),
            "{names:?}"
        );
    }

    #[test]
    fn a_process_with_a_stale_view_reads_the_rotation_before_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wrap.key");
        WrapKeys::create(&path).unwrap();
        let a = WrapKeys::file(&path).unwrap();
        let b = WrapKeys::file(&path).unwrap();
        let lock = a.lock().unwrap();
        let (e, key) = a.stage(&lock).unwrap();
        a.promote(e, &lock).unwrap();
        drop(lock);
        // B still holds epoch 1 only, and finds epoch 2 when a data key names it.
        assert_eq!(b.epochs(), vec![1]);
        assert_eq!(b.get(2).unwrap().to_hex(), key.to_hex());
        assert_eq!(b.epochs(), vec![2]);
    }

    #[test]
    fn a_readable_or_malformed_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wrap.key");
        std::fs::write(&path, "not a key").unwrap();
        assert!(WrapKeys::create(&path).is_err());
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
