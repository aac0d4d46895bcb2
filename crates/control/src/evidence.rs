//! Evidence packages: a verified alert as it goes to the case file, signed with the audit key, and
//! checked offline by `mandat evidence verify` against the key an auditor pins. A package holds
//! the crop and the frame, the score and the threshold with the target and calibration they came
//! from, the hashes of the models that computed them, the reviewers' verdicts, and every audit
//! entry about the alert, each with the signed chain head written with it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use mandat_audit::{Checkpoint, Entry};
use mandat_law::permissions::Action;
use mandat_law::review::{AlertState, Verdict};
use mandat_law::{Role, Timestamp};
use mandat_models::{ModelId, ModelSpec};
use mandat_store::alerts::{AlertRecord, EVIDENCE_DOMAIN};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Control, ControlError, Result, Session, require};

pub const FORMAT: &str = "mandat-evidence/1";

/// One audit entry and the checkpoint signed with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proof {
    pub entry: Entry,
    pub checkpoint: Checkpoint,
}

/// A model that computed the match: its id and the sha256 of the file that ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelHash {
    pub model: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub format: String,
    /// Score, threshold, target FPIR, calibration, watchlist version, reviews.
    pub alert: AlertRecord,
    /// JPEG, base64.
    pub crop_jpeg: String,
    pub frame_jpeg: String,
    pub crop_sha256: String,
    pub frame_sha256: String,
    /// The models the alert was matched with: the pinned detector and the embedder its permit
    /// records, by sha256.
    pub models: Vec<ModelHash>,
    pub audit: Vec<Proof>,
    pub exported_by: String,
    pub exported_at: Timestamp,
    /// The audit key's public half (hex), for information: the verifier checks against the key
    /// they pinned, never against this.
    pub public_key: String,
    /// Over the canonical JSON of every other field.
    pub signature: String,
}

/// What a verified package shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub alert: String,
    pub permit: String,
    pub reviewers: Vec<String>,
    pub audit_entries: usize,
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// The bytes the signature covers: the package as its JSON text reads back, without its
/// signature, in canonical JSON (through the text, so numbers are what a verifier parses).
fn signed_bytes(e: &Evidence) -> Vec<u8> {
    let text = serde_json::to_string(e).expect("packages serialise");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("it reads back");
    if let Some(o) = v.as_object_mut() {
        o.remove("signature");
    }
    let mut text = String::new();
    mandat_audit::canonical_json(&v, &mut text);
    text.into_bytes()
}

impl Control {
    /// The alert, when `actor` may take it to a case: a verified alert, by its permit's applicant,
    /// decider or reviewers.
    async fn exportable(&self, actor: &Session, id: &str) -> Result<AlertRecord> {
        require(actor, Action::SeeBiometrics)?;
        let a = self
            .alert_as(
                actor,
                id,
                &[
                    Role::Applicant,
                    Role::Reviewer,
                    Role::Prosecutor,
                    Role::Judge,
                ],
                "export evidence",
            )
            .await?;
        if a.state != AlertState::Verified {
            return Err(ControlError::Law(mandat_law::rule::NOT_VERIFIED.refusal(
                format!(
                    "alert {id} is {}; only an alert two reviewers verified goes to a case",
                    a.state.as_str()
                ),
            )));
        }
        Ok(a)
    }

    /// Export a verified alert as a signed evidence package, for the permit's team (its applicant,
    /// decider or reviewers). The export is recorded; nothing is erased until the receipt is
    /// confirmed ([`Control::confirm_export`]), so a package lost on its way costs no evidence.
    pub async fn export_evidence(
        &self,
        actor: &Session,
        id: &str,
        origin: &str,
    ) -> Result<Evidence> {
        let a = self.exportable(actor, id).await?;
        let (mut crop, mut frame) = self.store.alert_media(id).await?;
        let now = self.now()?;
        self.store
            .record_export(actor, id, None, now, origin)
            .await?;
        let trail = self.store.alert_audit_trail(&a).await?;
        // The detector is pinned; the embedder is the one the permit was drafted and matched
        // under (the pinned one for permits from before permits recorded it).
        let embedder = self
            .store
            .permit(&a.permit)
            .await?
            .application
            .embedder
            .unwrap_or_else(crate::calibration::pinned_embedder);
        let models = vec![
            ModelHash {
                model: ModelId::Yunet.as_str().to_string(),
                sha256: ModelSpec::get(ModelId::Yunet)
                    .final_sha256()
                    .unwrap_or("unknown")
                    .to_string(),
            },
            ModelHash {
                model: embedder.name,
                sha256: embedder.sha256,
            },
        ];
        let mut e = Evidence {
            format: FORMAT.into(),
            crop_jpeg: B64.encode(&crop),
            frame_jpeg: B64.encode(&frame),
            crop_sha256: sha256_hex(&crop),
            frame_sha256: sha256_hex(&frame),
            alert: a,
            models,
            audit: trail
                .into_iter()
                .map(|(entry, checkpoint)| Proof { entry, checkpoint })
                .collect(),
            exported_by: actor.user.clone(),
            exported_at: now,
            public_key: String::new(),
            signature: String::new(),
        };
        mandat_store::crypto::wipe(&mut crop);
        mandat_store::crypto::wipe(&mut frame);
        e.public_key = self.store.audit_public_key();
        let (_, sig) = self.store.sign_evidence(&signed_bytes(&e));
        e.signature = sig;
        Ok(e)
    }

    /// Confirm that an exported package reached the case file whole (its sha256 as written): the
    /// receipt is recorded, and the retention schedule erases the images here at once.
    pub async fn confirm_export(
        &self,
        actor: &Session,
        id: &str,
        package_sha256: &str,
        origin: &str,
    ) -> Result<()> {
        let a = self.exportable(actor, id).await?;
        let now = self.now()?;
        self.store
            .record_export(actor, id, Some(package_sha256), now, origin)
            .await?;
        self.retain(std::slice::from_ref(&a.permit), now, origin)
            .await;
        Ok(())
    }
}

/// Check a package offline against the audit key the verifier pins (hex). Every failure says
/// which check failed.
pub fn verify(text: &str, pinned_key: &str) -> std::result::Result<Verified, String> {
    let key =
        mandat_audit::parse_public_key(pinned_key).map_err(|e| format!("--public-key: {e}"))?;
    // The signature is checked over the package as written, every field of it, before any of it
    // is read: a renamed or added field is an edit too.
    let mut raw: serde_json::Value =
        serde_json::from_str(text).map_err(|err| format!("not an evidence package: {err}"))?;
    let signature = raw
        .as_object_mut()
        .and_then(|o| o.remove("signature"))
        .and_then(|s| s.as_str().map(str::to_string))
        .ok_or("the package has no signature")?;
    let mut canonical = String::new();
    mandat_audit::canonical_json(&raw, &mut canonical);
    if !mandat_audit::verify_message(&key, EVIDENCE_DOMAIN, canonical.as_bytes(), &signature) {
        return Err("the signature does not match the pinned key: the package was altered, or signed by another installation".into());
    }
    let e: Evidence =
        serde_json::from_str(text).map_err(|err| format!("not an evidence package: {err}"))?;
    if e.format != FORMAT {
        return Err(format!("format {:?}, expected {FORMAT}", e.format));
    }
    for (what, b64, want) in [
        ("crop", &e.crop_jpeg, &e.crop_sha256),
        ("frame", &e.frame_jpeg, &e.frame_sha256),
    ] {
        let bytes = B64
            .decode(b64)
            .map_err(|_| format!("the {what} is not base64"))?;
        if &sha256_hex(&bytes) != want {
            return Err(format!("the {what} does not match its hash"));
        }
    }
    let a = &e.alert;
    if a.state != AlertState::Verified {
        return Err(format!("the alert is {}, not verified", a.state.as_str()));
    }
    let mut reviewers: Vec<String> = a
        .reviews
        .iter()
        .filter(|r| r.verdict == Verdict::Confirm)
        .map(|r| r.reviewer.clone())
        .collect();
    reviewers.sort();
    reviewers.dedup();
    if reviewers.len() < 2 {
        return Err("fewer than two reviewers confirmed the alert".into());
    }
    for p in &e.audit {
        let (en, c) = (&p.entry, &p.checkpoint);
        if en.compute_hash() != en.hash {
            return Err(format!("audit entry {} does not match its hash", en.seq));
        }
        if c.seq != en.seq || c.hash != en.hash || !c.verify(&key) {
            return Err(format!(
                "audit entry {} is not under a checkpoint signed by the pinned key",
                en.seq
            ));
        }
        if en.details["alert"] != a.id.as_str() || en.permit.as_deref() != Some(a.permit.as_str()) {
            return Err(format!("audit entry {} is about another alert", en.seq));
        }
    }
    let has = |action: &str, actor: Option<&str>| {
        e.audit
            .iter()
            .any(|p| p.entry.action == action && actor.is_none_or(|who| p.entry.actor == who))
    };
    if !has("alert.candidate", None) {
        return Err("the audit excerpt lacks the alert's candidate entry".into());
    }
    for r in &reviewers {
        if !has("alert.review", Some(r)) {
            return Err(format!("the audit excerpt lacks {r}'s review"));
        }
    }
    Ok(Verified {
        alert: a.id.clone(),
        permit: a.permit.clone(),
        reviewers,
        audit_entries: e.audit.len(),
    })
}
