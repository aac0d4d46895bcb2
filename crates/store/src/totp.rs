//! The second factor: time-based one-time codes (RFC 6238: HMAC-SHA1, 6 digits, 30 s steps), the
//! parameters every authenticator app reads from an `otpauth://` link.

use mandat_law::Timestamp;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::StoreError;

/// Seconds per code.
pub const STEP_S: u64 = 30;

/// Bytes of a new secret (160 bits, RFC 4226's recommendation).
const SECRET_BYTES: usize = 20;

fn totp(secret: &[u8], account: &str) -> Result<TOTP, StoreError> {
    TOTP::new(
        Algorithm::SHA1,
        6,
        0,
        STEP_S,
        secret.to_vec(),
        Some("mandat".into()),
        account.to_string(),
    )
    .map_err(|e| StoreError::Crypto(format!("TOTP secret: {e}")))
}

/// A fresh random secret.
pub(crate) fn new_secret() -> Result<Vec<u8>, StoreError> {
    Ok(crate::crypto::random::<SECRET_BYTES>()?.to_vec())
}

/// The secret as an authenticator app takes it typed in: base32 without padding.
pub fn base32(secret: &[u8]) -> String {
    Secret::Raw(secret.to_vec()).to_encoded().to_string()
}

/// The `otpauth://` link (for a QR code or an app's "add by link") of `account`'s secret.
pub fn url(secret: &[u8], account: &str) -> Result<String, StoreError> {
    Ok(totp(secret, account)?.get_url())
}

/// The time step of `at`.
pub fn step(at: Timestamp) -> i64 {
    (at.0.max(0) as u64 / 1000 / STEP_S) as i64
}

/// The code of a base32 secret at `at`: what the user's app shows. For clients and tests that hold
/// the secret; the server only checks codes.
pub fn code(secret_base32: &str, at: Timestamp) -> Result<String, StoreError> {
    let secret = Secret::Encoded(secret_base32.trim().replace(' ', "").to_uppercase())
        .to_bytes()
        .map_err(|_| StoreError::Invalid("a TOTP secret is base32 (A-Z, 2-7)".into()))?;
    Ok(totp(&secret, "")?.generate(at.0.max(0) as u64 / 1000))
}

/// The step whose code `code` is, within one step of `at` either way (clocks drift), or `None`.
/// Compared in constant time.
pub(crate) fn matching_step(secret: &[u8], code: &str, at: Timestamp) -> Option<i64> {
    let t = totp(secret, "").ok()?;
    let now = step(at);
    let code = code.trim();
    // Check all three so the time taken does not say which matched.
    let mut found = None;
    for s in [now - 1, now, now + 1] {
        if s < 0 {
            continue;
        }
        let want = t.generate(s as u64 * STEP_S);
        let same = crate::crypto::constant_time_eq(want.as_bytes(), code.as_bytes());
        if same && found.is_none() {
            found = Some(s);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B: the SHA-1 secret "12345678901234567890" at 59 s gives 94287082 (8
    /// digits); its last 6 digits are the 6-digit code.
    #[test]
    fn rfc_6238_vector() {
        let secret = b"12345678901234567890";
        let b32 = base32(secret);
        assert_eq!(b32, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(code(&b32, Timestamp(59_000)).unwrap(), "287082");
        assert_eq!(code(&b32, Timestamp(1_111_111_109_000)).unwrap(), "081804");
    }

    #[test]
    fn a_code_matches_its_step_and_its_neighbours_only() {
        let secret = new_secret().unwrap();
        let at = Timestamp(1_790_000_000_000);
        let c = code(&base32(&secret), at).unwrap();
        assert_eq!(matching_step(&secret, &c, at), Some(step(at)));
        assert_eq!(
            matching_step(&secret, &c, Timestamp(at.0 + 30_000)),
            Some(step(at))
        );
        assert_eq!(matching_step(&secret, &c, Timestamp(at.0 + 90_000)), None);
        assert_eq!(matching_step(&secret, "", at), None);
        assert_eq!(matching_step(&secret, "12345", at), None);
    }

    #[test]
    fn the_link_names_issuer_and_account() {
        let u = url(&new_secret().unwrap(), "reviewer1").unwrap();
        assert!(u.starts_with("otpauth://totp/mandat:reviewer1?"), "{u}");
        assert!(u.contains("issuer=mandat"), "{u}");
    }
}
