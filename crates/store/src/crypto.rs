//! Encryption at rest: each permit has its own random data key, wrapped by the master key. Biometric
//! data (reference photos, templates, alert crops and frames) is sealed with the permit's data key.
//! A purge deletes the wrapped data key, so no backup of the database can bring the data back.

use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::StoreError;

const NONCE: usize = 24;

/// 32 secret bytes. `Debug` never shows them; dropping wipes them.
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(redacted)")
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // SAFETY: valid exclusive reference.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

impl SecretKey {
    pub fn random() -> Result<Self, StoreError> {
        Ok(Self(random::<32>()?))
    }

    pub fn from_hex(text: &str, what: &str) -> Result<Self, StoreError> {
        let bytes = hex::decode(text.trim())
            .map_err(|_| StoreError::Config(format!("{what} is not hex")))?;
        let arr = <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| StoreError::Config(format!("{what} must be 32 bytes (64 hex digits)")))?;
        Ok(Self(arr))
    }

    /// The master key: `MANDAT_MASTER_KEY` (hex) if set, else the key file, which must not be readable
    /// by group or others.
    pub fn master(file: &Path) -> Result<Self, StoreError> {
        if let Ok(v) = std::env::var("MANDAT_MASTER_KEY")
            && !v.is_empty()
        {
            return Self::from_hex(&v, "MANDAT_MASTER_KEY");
        }
        mandat_audit::check_private(file)
            .map_err(|e| StoreError::Config(e.to_string().replace("audit key", "master key")))?;
        let text = std::fs::read_to_string(file).map_err(|e| {
            StoreError::Config(format!(
                "cannot read the master key {}: {e}. Create it with `mandat init`",
                file.display()
            ))
        })?;
        Self::from_hex(&text, &format!("master key {}", file.display()))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new_from_slice(&self.0).expect("32-byte key")
    }

    /// Encrypt with a fresh random nonce; `aad` binds the ciphertext to its row.
    pub fn seal(&self, plain: &[u8], aad: &[u8]) -> Result<Vec<u8>, StoreError> {
        let nonce = random::<NONCE>()?;
        let ct = self
            .cipher()
            .encrypt(&XNonce::from(nonce), Payload { msg: plain, aad })
            .map_err(|_| StoreError::Crypto("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, StoreError> {
        if sealed.len() < NONCE + 16 {
            return Err(StoreError::Crypto("ciphertext too short".into()));
        }
        let nonce = XNonce::try_from(&sealed[..NONCE]).expect("24 bytes");
        self.cipher()
            .decrypt(
                &nonce,
                Payload {
                    msg: &sealed[NONCE..],
                    aad,
                },
            )
            .map_err(|_| {
                StoreError::Crypto("decryption failed: wrong key, or the data was altered".into())
            })
    }

    /// A MAC of `data` under a subkey of this key for one purpose (`label`), for lookup keys that
    /// must not be reversible by whoever reads the database.
    pub(crate) fn mac(&self, label: &str, data: &[u8]) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut sub = Hmac::<sha2::Sha256>::new_from_slice(&self.0).expect("any key length");
        sub.update(label.as_bytes());
        let subkey = sub.finalize().into_bytes();
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(&subkey).expect("any key length");
        m.update(data);
        m.finalize().into_bytes().into()
    }

    /// Wrap a data key under this (master) key.
    pub fn wrap(&self, data_key: &SecretKey, permit: &str) -> Result<Vec<u8>, StoreError> {
        self.seal(&data_key.0, format!("permit-key:{permit}").as_bytes())
    }

    pub fn unwrap_key(&self, wrapped: &[u8], permit: &str) -> Result<SecretKey, StoreError> {
        let mut plain = self.open(wrapped, format!("permit-key:{permit}").as_bytes())?;
        let key = <[u8; 32]>::try_from(plain.as_slice())
            .map_err(|_| StoreError::Crypto("wrapped key has the wrong length".into()));
        wipe(&mut plain);
        key.map(SecretKey)
    }
}

/// `N` bytes from the operating system's random source.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| StoreError::Crypto(format!("random source: {e}")))?;
    Ok(b)
}

/// Equal, in time that does not depend on where they differ (MACs, codes).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// Overwrite secret or biometric bytes so the optimiser cannot drop the writes.
pub fn wipe(b: &mut [u8]) {
    for x in b.iter_mut() {
        // SAFETY: valid exclusive reference.
        unsafe { std::ptr::write_volatile(x, 0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_tamper() {
        let k = SecretKey::random().unwrap();
        let ct = k.seal(b"template bytes", b"row-1").unwrap();
        assert!(
            !ct.windows(8).any(|w| w == b"template"),
            "plaintext visible"
        );
        assert_eq!(k.open(&ct, b"row-1").unwrap(), b"template bytes");
        assert!(k.open(&ct, b"row-2").is_err(), "bound to its row");
        let mut bad = ct.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(k.open(&bad, b"row-1").is_err());
        assert!(SecretKey::random().unwrap().open(&ct, b"row-1").is_err());
    }

    #[test]
    fn wrap_unwrap() {
        let master = SecretKey::random().unwrap();
        let data = SecretKey::random().unwrap();
        let w = master.wrap(&data, "P1").unwrap();
        assert_eq!(master.unwrap_key(&w, "P1").unwrap().0, data.0);
        assert!(master.unwrap_key(&w, "P2").is_err());
        assert_eq!(format!("{data:?}"), "SecretKey(redacted)");
    }

    #[test]
    fn world_readable_master_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("master.key");
        std::fs::write(&p, SecretKey::random().unwrap().to_hex()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            // SAFETY of the env: this test does not set MANDAT_MASTER_KEY.
            let err = SecretKey::master(&p).unwrap_err();
            assert!(err.to_string().contains("chmod 600"), "{err}");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert!(SecretKey::master(&p).is_ok());
    }
}
