//! The audit log (AI Act art. 12): append-only, every entry holding the hash of the one before, and
//! signed in checkpoints with Ed25519 by a key kept apart from the database.
//!
//! [`verify`] runs offline over exported entries, checkpoints and the public key. It reports the first
//! broken entry: an edited entry breaks its own hash, a deleted or reordered one breaks the sequence
//! or the chain, and a truncated tail is caught against the last signed checkpoint.
//!
//! Entries never hold biometric data: only ids, counts and references. Storage is the caller's
//! business; this crate is the chain, the signature and the check.

use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How far an entry's time may lie before the one it follows: two requests may read the clock in
/// one order and commit in the other (the store has clamped such times since insider hardening;
/// older logs may hold them). Further back than this is a clock set back, or a rewrite.
pub const TIME_TOLERANCE_MS: i64 = 5_000;

/// The hash that precedes the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One recorded action. Field order is the hashing order: do not reorder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Entry {
    /// 1, 2, 3, ... without gaps.
    pub seq: u64,
    /// Milliseconds since the Unix epoch, UTC.
    pub at: i64,
    /// Who: a user id, or `system` for what mandat does by itself.
    pub actor: String,
    /// What, as a stable verb such as `permit.decide`.
    pub action: String,
    /// Which permit, where there is one.
    pub permit: Option<String>,
    /// From where: `cli`, an IP address, `engine:<camera>`.
    pub origin: String,
    /// Ids, counts and references. Never names of non-designated people, images or embeddings.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

/// What the caller records; the chain fills in sequence and hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub permit: Option<String>,
    pub origin: String,
    pub details: serde_json::Value,
}

impl Entry {
    /// The hash over every field but `hash`, in canonical JSON: object keys sorted at every depth,
    /// whatever serde_json's features, so a dependency that turns on `preserve_order` cannot change
    /// the hashes of entries already written.
    pub fn compute_hash(&self) -> String {
        let body = serde_json::json!({
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "permit": self.permit,
            "origin": self.origin,
            "details": self.details,
            "prev_hash": self.prev_hash,
        });
        let mut text = String::new();
        canonical_json(&body, &mut text);
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    /// The entry that follows `prev` (or the first one).
    pub fn next(prev: Option<&Entry>, r: Record) -> Entry {
        let mut e = Entry {
            seq: prev.map_or(1, |p| p.seq + 1),
            at: r.at,
            actor: r.actor,
            action: r.action,
            permit: r.permit,
            origin: r.origin,
            details: r.details,
            prev_hash: prev.map_or_else(|| GENESIS.to_string(), |p| p.hash.clone()),
            hash: String::new(),
        };
        e.hash = e.compute_hash();
        e
    }
}

/// Write `v` as compact JSON with object keys in byte order.
pub fn canonical_json(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical_json(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// A signed statement: the log held `seq` entries, the last with hash `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: u64,
    pub hash: String,
    pub at: i64,
    /// Hex of the Ed25519 public key that signed it.
    pub key: String,
    /// Hex of the signature over [`Checkpoint::message`].
    pub signature: String,
}

impl Checkpoint {
    pub fn message(seq: u64, hash: &str, at: i64) -> Vec<u8> {
        format!("mandat-audit-checkpoint/v1\n{seq}\n{hash}\n{at}").into_bytes()
    }

    pub fn sign(key: &AuditKey, last: &Entry, at: i64) -> Checkpoint {
        let sig: Signature = key.0.sign(&Self::message(last.seq, &last.hash, at));
        Checkpoint {
            seq: last.seq,
            hash: last.hash.clone(),
            at,
            key: key.public_hex(),
            signature: hex::encode(sig.to_bytes()),
        }
    }

    /// Whether `key` signed this checkpoint.
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        self.verify_with(key)
    }

    fn verify_with(&self, key: &VerifyingKey) -> bool {
        let Ok(sig) = hex::decode(&self.signature) else {
            return false;
        };
        let Ok(sig) = <[u8; 64]>::try_from(sig.as_slice()) else {
            return false;
        };
        key.verify_strict(
            &Self::message(self.seq, &self.hash, self.at),
            &Signature::from_bytes(&sig),
        )
        .is_ok()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the audit key {path}: {source}. Create one with `mandat audit keygen`")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the audit key {path} is readable by other users (mode {mode:o}); run `chmod 600 {path}` and keep it off the database host's shared storage"
    )]
    WorldReadable { path: String, mode: u32 },
    #[error("the audit key {0} is not 32 bytes of hex")]
    Malformed(String),
    #[error("the public key {0:?} is not a valid Ed25519 key in hex")]
    BadPublicKey(String),
    #[error("the operating system's random source failed: {0}")]
    Random(String),
    #[error("cannot write the audit key {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The Ed25519 signing key, kept in its own file, never in the database.
pub struct AuditKey(SigningKey);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditKey(public {})", self.public_hex())
    }
}

impl AuditKey {
    pub fn generate() -> Result<Self, KeyError> {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self(SigningKey::from_bytes(&b)))
    }

    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(SigningKey::from_bytes(&b))
    }

    /// Sign `msg` for one purpose (`domain`), so a signature made for one kind of document can
    /// never pass for another (a checkpoint, an evidence package).
    pub fn sign_message(&self, domain: &str, msg: &[u8]) -> String {
        let mut m = format!("{domain}\n").into_bytes();
        m.extend_from_slice(msg);
        hex::encode(self.0.sign(&m).to_bytes())
    }

    pub fn public_hex(&self) -> String {
        hex::encode(self.0.verifying_key().to_bytes())
    }

    /// The public half, to check checkpoints this key signed.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.0.verifying_key()
    }

    /// Load from a file holding the secret as hex. Refuses a file others can read.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        check_private(path)?;
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: shown.clone(),
            source,
        })?;
        let bytes = hex::decode(text.trim()).map_err(|_| KeyError::Malformed(shown.clone()))?;
        let arr = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| KeyError::Malformed(shown))?;
        Ok(Self::from_bytes(arr))
    }

    /// Write a new key file readable by its owner only. Never overwrites.
    pub fn create(path: &Path) -> Result<Self, KeyError> {
        use std::io::Write;
        #[cfg(unix)]
        use std::os::unix::fs::OpenOptionsExt;
        let key = Self::generate()?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        opts.mode(0o600);
        let write_err = |source| KeyError::Write {
            path: path.display().to_string(),
            source,
        };
        let mut f = opts.open(path).map_err(write_err)?;
        f.write_all(hex::encode(key.0.to_bytes()).as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(write_err)?;
        Ok(key)
    }
}

/// Refuse key files that group or others can read.
pub fn check_private(path: &Path) -> Result<(), KeyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|source| KeyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::WorldReadable {
                path: path.display().to_string(),
                mode,
            });
        }
    }
    Ok(())
}

/// Whether `sig_hex` is `key`'s signature of `msg` for `domain` (see [`AuditKey::sign_message`]).
pub fn verify_message(key: &VerifyingKey, domain: &str, msg: &[u8], sig_hex: &str) -> bool {
    let Some(sig) = hex::decode(sig_hex)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
    else {
        return false;
    };
    let mut m = format!("{domain}\n").into_bytes();
    m.extend_from_slice(msg);
    key.verify_strict(&m, &Signature::from_bytes(&sig)).is_ok()
}

pub fn parse_public_key(hex_key: &str) -> Result<VerifyingKey, KeyError> {
    let bad = || KeyError::BadPublicKey(hex_key.to_string());
    let b = hex::decode(hex_key.trim()).map_err(|_| bad())?;
    let arr = <[u8; 32]>::try_from(b.as_slice()).map_err(|_| bad())?;
    VerifyingKey::from_bytes(&arr).map_err(|_| bad())
}

/// The verdict of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
#[schema(as = ChainVerdict)]
pub enum Verdict {
    Intact {
        entries: u64,
        checkpoints: usize,
        /// Entries after the last checkpoint: their truncation could not be detected.
        unsigned_tail: u64,
    },
    Broken {
        /// Sequence number of the first entry that fails (or the checkpoint's, for truncation).
        seq: u64,
        reason: String,
    },
}

/// Verify entries (in stored order) and checkpoints against a trusted public key, offline.
pub fn verify(entries: &[Entry], checkpoints: &[Checkpoint], key: &VerifyingKey) -> Verdict {
    let mut prev: Option<&Entry> = None;
    for (i, e) in entries.iter().enumerate() {
        let want_seq = i as u64 + 1;
        let broken = |reason: String| Verdict::Broken {
            seq: want_seq,
            reason,
        };
        if e.seq != want_seq {
            return broken(format!(
                "entry at position {want_seq} has sequence number {}: an entry was deleted, inserted or moved",
                e.seq
            ));
        }
        let want_prev = prev.map_or(GENESIS, |p| p.hash.as_str());
        if e.prev_hash != want_prev {
            return broken("its previous-hash does not match the entry before it".into());
        }
        if e.compute_hash() != e.hash {
            return broken("its content does not match its hash: it was edited".into());
        }
        // The store never writes an entry dated before the one it follows, so time going backwards
        // means a clock set back (which the server refuses) or a rewritten log.
        if let Some(p) = prev
            && e.at.saturating_add(TIME_TOLERANCE_MS) < p.at
        {
            return broken(format!(
                "its time ({}) is before the entry before it ({}): time went backwards",
                e.at, p.at
            ));
        }
        prev = Some(e);
    }
    let hex_key = hex::encode(key.to_bytes());
    let mut last_signed = 0;
    for c in checkpoints {
        if c.key != hex_key || !c.verify_with(key) {
            return Verdict::Broken {
                seq: c.seq,
                reason: "a checkpoint's signature does not verify with the trusted public key"
                    .into(),
            };
        }
        match entries.get((c.seq as usize).wrapping_sub(1)) {
            None => {
                return Verdict::Broken {
                    seq: c.seq,
                    reason: format!(
                        "a signed checkpoint covers {} entries but only {} remain: the log was truncated",
                        c.seq,
                        entries.len()
                    ),
                };
            }
            Some(e) if e.hash != c.hash => {
                return Verdict::Broken {
                    seq: c.seq,
                    reason: "the entry does not match the hash its signed checkpoint recorded"
                        .into(),
                };
            }
            Some(_) => last_signed = last_signed.max(c.seq),
        }
    }
    Verdict::Intact {
        entries: entries.len() as u64,
        checkpoints: checkpoints.len(),
        unsigned_tail: entries.len() as u64 - last_signed,
    }
}

/// Verify as [`verify`] does, and also against anchors: signed chain heads kept outside the host
/// (in IMY notifications, or a witness file on other storage). Whoever can write the database can
/// delete the newest entries together with their checkpoints, and the rest still verifies; an
/// anchor says how long the log was and what its head was, so such a cut is caught. Every anchor
/// is checked, not only the newest: a log cut back and grown again past an old anchor under forged
/// entries still contradicts that anchor.
pub fn verify_anchored(
    entries: &[Entry],
    checkpoints: &[Checkpoint],
    key: &VerifyingKey,
    anchors: &[Checkpoint],
) -> Verdict {
    if anchors.is_empty() {
        return Verdict::Broken {
            seq: 0,
            reason: "no anchor to verify against".into(),
        };
    }
    for anchor in anchors {
        if anchor.key != hex::encode(key.to_bytes()) || !anchor.verify_with(key) {
            return Verdict::Broken {
                seq: anchor.seq,
                reason: "an anchor's signature does not verify with the trusted public key".into(),
            };
        }
    }
    let verdict = verify(entries, checkpoints, key);
    if matches!(verdict, Verdict::Broken { .. }) {
        return verdict;
    }
    for anchor in anchors {
        match entries.get((anchor.seq as usize).wrapping_sub(1)) {
            None => {
                return Verdict::Broken {
                    seq: anchor.seq,
                    reason: format!(
                        "an anchor records {} entries but the log holds {}: entries after the anchor are missing",
                        anchor.seq,
                        entries.len()
                    ),
                };
            }
            Some(e) if e.hash != anchor.hash => {
                return Verdict::Broken {
                    seq: anchor.seq,
                    reason: "the entry at an anchor is not the one the anchor recorded: the log was cut and rewritten"
                        .into(),
                };
            }
            Some(_) => {}
        }
    }
    verdict
}

/// Every anchor in a text: a witness file (one JSON checkpoint per line), syslog lines carrying
/// one (`... mandat-audit-anchor {...}`), or a JSON document holding an `audit_anchor` (an IMY
/// notification as `mandat imy show` prints it, or its register record). A line that starts a
/// JSON object but is not an anchor is an error; other lines are skipped.
pub fn anchors_in(text: &str) -> Result<Vec<Checkpoint>, String> {
    if let Ok(doc) = serde_json::from_str::<serde_json::Value>(text)
        && doc.is_object()
    {
        let inner = doc
            .get("audit_anchor")
            .or_else(|| doc.get("notification").and_then(|n| n.get("audit_anchor")));
        if let Some(a) = inner {
            return serde_json::from_value(a.clone())
                .map(|c| vec![c])
                .map_err(|e| format!("audit_anchor: {e}"));
        }
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Some(start) = line.find('{') else {
            continue;
        };
        let c: Checkpoint = serde_json::from_str(line[start..].trim())
            .map_err(|e| format!("line {}: not an anchor: {e}", i + 1))?;
        out.push(c);
    }
    Ok(out)
}

/// The export format IMY receives (`mandat-audit-export/v1`): JSON lines, a header with the
/// public key, then every entry, then every checkpoint. `mandat audit verify --export` reads it.
pub fn export_lines(
    entries: &[Entry],
    checkpoints: &[Checkpoint],
    public_key: &str,
    exported_at: i64,
) -> String {
    let mut text = serde_json::json!({
        "type": "header",
        "format": "mandat-audit-export/v1",
        "public_key": public_key,
        "entries": entries.len(),
        "checkpoints": checkpoints.len(),
        "exported_at": exported_at,
    })
    .to_string();
    text.push('\n');
    let mut line = |kind: &str, v: serde_json::Value| {
        let mut v = v;
        v["type"] = serde_json::json!(kind);
        text.push_str(&v.to_string());
        text.push('\n');
    };
    for e in entries {
        line("entry", serde_json::to_value(e).unwrap_or_default());
    }
    for c in checkpoints {
        line("checkpoint", serde_json::to_value(c).unwrap_or_default());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn key() -> AuditKey {
        AuditKey::from_bytes([7; 32])
    }

    proptest! {
        /// An entry read back from its stored text keeps its hash, whatever floats its details
        /// hold: the database keeps details as JSON text, and a parser that is off by one unit in
        /// the last place for some numbers (serde_json without `float_roundtrip`) broke the chain
        /// at the first calibration stored.
        #[test]
        fn details_with_any_floats_survive_the_database(
            xs in proptest::collection::vec(proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL, 1..20),
            ys in proptest::collection::vec(proptest::num::f32::NORMAL, 1..20),
        ) {
            let e = Entry::next(None, Record {
                at: 1_780_000_000_000,
                actor: "admin".into(),
                action: "calibration.add".into(),
                permit: None,
                origin: "cli".into(),
                details: json!({"xs": xs, "ys": ys, "known": 0.36436331272125244}),
            });
            let stored = e.details.to_string();
            let back = Entry { details: serde_json::from_str(&stored).unwrap(), ..e.clone() };
            prop_assert_eq!(back.compute_hash(), e.hash);
        }
    }

    fn log(n: usize, every: usize) -> (Vec<Entry>, Vec<Checkpoint>) {
        let k = key();
        let mut entries: Vec<Entry> = Vec::new();
        let mut cps = Vec::new();
        for i in 0..n {
            let e = Entry::next(
                entries.last(),
                Record {
                    at: 1_780_000_000_000 + i as i64,
                    actor: format!("user{}", i % 3),
                    action: "permit.apply".into(),
                    permit: Some(format!("P{}", i % 2)),
                    origin: "cli".into(),
                    details: json!({"n": i}),
                },
            );
            entries.push(e);
            if (i + 1) % every == 0 || i + 1 == n {
                cps.push(Checkpoint::sign(
                    &k,
                    entries.last().unwrap(),
                    1_780_000_000_000 + i as i64,
                ));
            }
        }
        (entries, cps)
    }

    fn vk() -> VerifyingKey {
        parse_public_key(&key().public_hex()).unwrap()
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let mut out = String::new();
        canonical_json(
            &json!({"b": 1, "a": {"d": [1, {"z": 0, "y": "x"}], "c": null}}),
            &mut out,
        );
        assert_eq!(out, r#"{"a":{"c":null,"d":[1,{"y":"x","z":0}]},"b":1}"#);
    }

    #[test]
    fn intact_log_verifies() {
        let (e, c) = log(10, 3);
        assert_eq!(
            verify(&e, &c, &vk()),
            Verdict::Intact {
                entries: 10,
                checkpoints: 4,
                unsigned_tail: 0
            }
        );
        assert_eq!(e[0].prev_hash, GENESIS);
    }

    #[test]
    fn edit_is_caught_at_the_edited_entry() {
        let (mut e, c) = log(10, 3);
        e[4].actor = "someone else".into();
        assert!(matches!(
            verify(&e, &c, &vk()),
            Verdict::Broken { seq: 5, .. }
        ));
        // Rehashing the edited entry moves the break to the next entry.
        e[4].hash = e[4].compute_hash();
        assert!(matches!(
            verify(&e, &c, &vk()),
            Verdict::Broken { seq: 6, .. }
        ));
    }

    #[test]
    fn delete_and_reorder_are_caught() {
        let (mut e, c) = log(10, 3);
        e.remove(3);
        assert!(matches!(
            verify(&e, &c, &vk()),
            Verdict::Broken { seq: 4, .. }
        ));
        let (mut e, c) = log(10, 3);
        e.swap(2, 6);
        assert!(matches!(
            verify(&e, &c, &vk()),
            Verdict::Broken { seq: 3, .. }
        ));
    }

    #[test]
    fn truncation_is_caught_against_the_last_checkpoint() {
        let (mut e, c) = log(10, 3);
        e.truncate(8);
        match verify(&e, &c, &vk()) {
            Verdict::Broken { seq, reason } => {
                assert_eq!(seq, 9);
                assert!(reason.contains("truncated"), "{reason}");
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn forged_or_foreign_checkpoints_are_caught() {
        let (e, mut c) = log(6, 3);
        c[0].hash = e[1].hash.clone();
        assert!(matches!(
            verify(&e, &c, &vk()),
            Verdict::Broken { seq: 3, .. }
        ));
        // A whole log rewritten and re-signed with another key does not verify with the trusted one.
        let other = AuditKey::from_bytes([9; 32]);
        let (e2, _) = log(6, 3);
        let c2 = vec![Checkpoint::sign(&other, e2.last().unwrap(), 0)];
        assert!(matches!(verify(&e2, &c2, &vk()), Verdict::Broken { .. }));
    }

    #[test]
    fn key_files_must_be_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.key");
        let k = AuditKey::create(&p).unwrap();
        assert_eq!(AuditKey::load(&p).unwrap().public_hex(), k.public_hex());
        assert!(AuditKey::create(&p).is_err(), "never overwrites a key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = AuditKey::load(&p).unwrap_err();
            assert!(matches!(err, KeyError::WorldReadable { .. }));
            assert!(err.to_string().contains("chmod 600"));
        }
        assert!(format!("{k:?}").starts_with("AuditKey(public "));
    }

    #[test]
    fn time_going_backwards_is_caught() {
        let k = key();
        let (mut e, _) = log(5, 5);
        // Rewritten consistently (hashes and a fresh signature) but with an entry dated an hour
        // earlier than the one before it.
        e[3].at = e[1].at - 3_600_000;
        for i in 3..5 {
            let prev = e[i - 1].hash.clone();
            e[i].prev_hash = prev;
            e[i].hash = e[i].compute_hash();
        }
        let c = vec![Checkpoint::sign(&k, e.last().unwrap(), 0)];
        match verify(&e, &c, &vk()) {
            Verdict::Broken { seq, reason } => {
                assert_eq!(seq, 4);
                assert!(reason.contains("backwards"), "{reason}");
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn a_cut_tail_with_its_checkpoints_is_caught_only_against_an_anchor() {
        let (e, c) = log(10, 1);
        let anchor = c.last().unwrap().clone();
        // The insider deletes the newest three entries and their checkpoints: still "intact" alone.
        let (cut_e, cut_c) = (e[..7].to_vec(), c[..7].to_vec());
        assert!(matches!(
            verify(&cut_e, &cut_c, &vk()),
            Verdict::Intact { entries: 7, .. }
        ));
        match verify_anchored(&cut_e, &cut_c, &vk(), std::slice::from_ref(&anchor)) {
            Verdict::Broken { seq, reason } => {
                assert_eq!(seq, 10);
                assert!(reason.contains("missing"), "{reason}");
            }
            v => panic!("{v:?}"),
        }
        assert!(matches!(
            verify_anchored(&e, &c, &vk(), std::slice::from_ref(&anchor)),
            Verdict::Intact { entries: 10, .. }
        ));
        // An older anchor is fine against a longer log.
        assert!(matches!(
            verify_anchored(&e, &c, &vk(), &[c[4].clone(), anchor.clone()]),
            Verdict::Intact { .. }
        ));
        // A forged anchor (another key) proves nothing.
        let forged = Checkpoint::sign(&AuditKey::from_bytes([9; 32]), &e[6], 0);
        assert!(matches!(
            verify_anchored(&cut_e, &cut_c, &vk(), &[forged]),
            Verdict::Broken { .. }
        ));
        assert!(matches!(
            verify_anchored(&e, &c, &vk(), &[]),
            Verdict::Broken { .. }
        ));
    }

    #[test]
    fn a_log_cut_back_and_grown_again_past_an_old_anchor_is_caught() {
        let k = key();
        let (e, c) = log(10, 1);
        let old_anchor = c[9].clone();
        // The DBA cuts back to 5 entries, forges one, and the server signs on over it.
        let mut grown = e[..5].to_vec();
        let mut cps = c[..5].to_vec();
        for i in 0..7 {
            let next = Entry::next(
                grown.last(),
                Record {
                    at: 1_780_000_001_000 + i,
                    actor: if i == 0 {
                        "forged".into()
                    } else {
                        "system".into()
                    },
                    action: "permit.apply".into(),
                    permit: None,
                    origin: "cli".into(),
                    details: json!({"n": i}),
                },
            );
            grown.push(next);
            cps.push(Checkpoint::sign(&k, grown.last().unwrap(), 0));
        }
        let new_anchor = cps.last().unwrap().clone();
        assert!(matches!(
            verify_anchored(&grown, &cps, &vk(), std::slice::from_ref(&new_anchor)),
            Verdict::Intact { .. }
        ));
        match verify_anchored(&grown, &cps, &vk(), &[old_anchor, new_anchor]) {
            Verdict::Broken { seq, reason } => {
                assert_eq!(seq, 10);
                assert!(reason.contains("rewritten"), "{reason}");
            }
            v => panic!("the regrown log went unnoticed: {v:?}"),
        }
    }

    #[test]
    fn anchors_are_read_from_witness_files_syslog_and_imy_notifications() {
        let (_, c) = log(5, 1);
        let mut text = String::from("\n");
        for cp in [&c[1], &c[4], &c[2]] {
            text.push_str(&serde_json::to_string(cp).unwrap());
            text.push('\n');
        }
        text.push_str(&format!(
            "Nov 29 15:00:00 host mandat[7]: mandat-audit-anchor {}\n",
            serde_json::to_string(&c[3]).unwrap()
        ));
        let all = anchors_in(&text).unwrap();
        assert_eq!(all.iter().map(|a| a.seq).collect::<Vec<_>>(), [2, 5, 3, 4]);
        let imy = serde_json::json!({"kind": "use_started", "audit_anchor": c[2]});
        assert_eq!(
            anchors_in(&serde_json::to_string_pretty(&imy).unwrap()).unwrap()[0].seq,
            3
        );
        let record = serde_json::json!({"id": "N-1", "notification": {"audit_anchor": c[1]}});
        assert_eq!(anchors_in(&record.to_string()).unwrap()[0].seq, 2);
        assert!(anchors_in("").unwrap().is_empty());
        assert!(anchors_in("{\"signature\": 1}").is_err());
        assert!(anchors_in("x { not json").is_err());
    }

    proptest! {
        #[test]
        fn any_single_edit_is_caught(n in 2usize..30, victim in 0usize..30, field in 0u8..4) {
            let (mut e, c) = log(n, 1);
            let i = victim % n;
            match field {
                0 => e[i].at += 1,
                1 => e[i].action.push('x'),
                2 => e[i].details = json!({"n": 999_999}),
                _ => e[i].permit = None,
            }
            let broken = matches!(verify(&e, &c, &vk()), Verdict::Broken { .. });
            prop_assert!(broken, "edit of field {} in entry {} went unnoticed", field, i + 1);
        }
    }
}
