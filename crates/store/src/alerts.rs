//! Alerts and their two-person review. The probe crop and the frame (other faces pixelated) are
//! sealed with the permit's data key, so a purge shreds them with everything else of the use.

use mandat_audit::Record;
use mandat_law::review::{self, AlertState, Review, Verdict};
use mandat_law::{Actor, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Store, StoreError};

/// The signing domain of evidence packages.
pub const EVIDENCE_DOMAIN: &str = "mandat-evidence/v1";

/// The sha256 of everything the engine sent for a hit, images included, in one fixed layout: what
/// makes a second sending of it the same hit.
fn digest(a: &NewAlert) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for field in [
        a.id.as_str(),
        a.permit.as_str(),
        a.person.as_str(),
        a.camera.as_str(),
        a.watchlist_version.as_str(),
    ] {
        h.update((field.len() as u64).to_le_bytes());
        h.update(field.as_bytes());
    }
    h.update(a.captured_at.0.to_le_bytes());
    h.update(a.frame_index.to_le_bytes());
    h.update(a.score.to_le_bytes());
    h.update(a.threshold.to_le_bytes());
    for image in [&a.crop_jpeg, &a.frame_jpeg] {
        h.update(Sha256::digest(image));
    }
    hex::encode(h.finalize())
}

/// What the engine hands over for a hit. The images are JPEG; they are sealed before storage.
#[derive(Clone)]
pub struct NewAlert {
    pub id: String,
    pub permit: String,
    pub person: String,
    pub camera: String,
    pub captured_at: Timestamp,
    /// The frame's number in the camera's stream.
    pub frame_index: u64,
    pub score: f32,
    pub threshold: f32,
    pub watchlist_version: String,
    pub crop_jpeg: Vec<u8>,
    pub frame_jpeg: Vec<u8>,
}

impl Drop for NewAlert {
    fn drop(&mut self) {
        crate::crypto::wipe(&mut self.crop_jpeg);
        crate::crypto::wipe(&mut self.frame_jpeg);
    }
}

impl std::fmt::Debug for NewAlert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "NewAlert({}, permit {}, camera {})",
            self.id, self.permit, self.camera
        )
    }
}

/// An alert as reviewers and auditors see it, without its images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertRecord {
    pub id: String,
    pub permit: String,
    pub person: String,
    pub camera: String,
    pub captured_at: Timestamp,
    pub created_at: Timestamp,
    pub frame_index: u64,
    pub score: f32,
    pub threshold: f32,
    /// The permit's target FPIR the threshold was derived from, and the calibration's version.
    pub fpir_target: Option<f64>,
    pub calibration: Option<String>,
    pub state: AlertState,
    pub watchlist_version: String,
    /// Further sightings folded into this candidate (see [`FOLD_WINDOW_MS`]), and the last one's
    /// capture time.
    #[serde(default)]
    pub sightings: u64,
    #[serde(default)]
    pub last_seen_at: Option<Timestamp>,
    pub reviews: Vec<Review>,
}

const ALERT_COLUMNS: &str = "id, permit_id, person_id, camera_id, at, created_at, frame_index, score, threshold, fpir_target, calibration, state, watchlist_version, sightings, last_seen_at";

/// A hit for the permit, person and camera of a candidate nobody has reviewed yet, captured within
/// this long of its last sighting and scoring no higher, is the same person still (or again) in
/// view: it is folded into that candidate as a sighting instead of asking the reviewers a second
/// time. A sighting keeps its time, frame, score, threshold and watchlist version; no image.
pub const FOLD_WINDOW_MS: i64 = 30_000;

/// What became of a hit at intake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intake {
    /// The candidate the hit is stored under: its own id, or the open candidate it was folded
    /// into.
    pub alert: String,
    /// Whether anything was written; false for a hit sent again.
    pub new: bool,
    /// Whether it was folded into an earlier candidate as a sighting.
    pub folded: bool,
}

fn alert_from_row(r: &AnyRow) -> Result<AlertRecord, StoreError> {
    let state: String = r.try_get("state")?;
    Ok(AlertRecord {
        id: r.try_get("id")?,
        permit: r.try_get("permit_id")?,
        person: r.try_get("person_id")?,
        camera: r.try_get("camera_id")?,
        captured_at: Timestamp(r.try_get("at")?),
        created_at: Timestamp(r.try_get("created_at")?),
        frame_index: r.try_get::<i64, _>("frame_index")? as u64,
        // The Any driver reads REAL as f64; f32 would panic.
        score: r.try_get::<f64, _>("score")? as f32,
        threshold: r.try_get::<f64, _>("threshold")? as f32,
        fpir_target: r.try_get("fpir_target")?,
        calibration: r.try_get("calibration")?,
        state: AlertState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("alert state {state:?}")))?,
        watchlist_version: r.try_get("watchlist_version")?,
        sightings: r.try_get::<i64, _>("sightings")?.max(0) as u64,
        last_seen_at: r.try_get::<Option<i64>, _>("last_seen_at")?.map(Timestamp),
        reviews: Vec::new(),
    })
}

fn review_from_row(r: &AnyRow) -> Result<Review, StoreError> {
    let verdict: String = r.try_get("verdict")?;
    Ok(Review {
        reviewer: r.try_get("reviewer")?,
        verdict: Verdict::parse(&verdict)
            .ok_or_else(|| StoreError::Corrupt(format!("review verdict {verdict:?}")))?,
        reason: r.try_get("reason")?,
        at: Timestamp(r.try_get("at")?),
    })
}

impl Store {
    /// Store a hit, with its audit entry. Refused when its permit has been purged (its data key
    /// is gone), so a hit that races a refusal cannot outlive the purge, and when the permit does
    /// not cover it at its capture time. A hit for the permit, person and camera of a candidate
    /// nobody has reviewed yet, within [`FOLD_WINDOW_MS`] of its last sighting and scoring no
    /// higher, is folded into it as a sighting. The same hit sent again (a retry) is acknowledged as stored, with no second row
    /// or entry, even after its use ended; another hit under a used id is refused.
    pub async fn insert_alert(&self, a: &NewAlert, now: Timestamp) -> Result<Intake, StoreError> {
        let digest = digest(a);
        let mut tx = self.begin_write().await?;
        let stored = match sqlx::query("SELECT digest, id AS alert_id FROM alerts WHERE id = $1")
            .bind(a.id.clone())
            .fetch_optional(&mut *tx)
            .await?
        {
            Some(row) => Some((row, false)),
            None => sqlx::query("SELECT digest, alert_id FROM alert_sightings WHERE id = $1")
                .bind(a.id.clone())
                .fetch_optional(&mut *tx)
                .await?
                .map(|row| (row, true)),
        };
        if let Some((row, folded)) = stored {
            let stored: Option<String> = row.try_get("digest")?;
            return if stored
                .is_some_and(|s| crate::crypto::constant_time_eq(s.as_bytes(), digest.as_bytes()))
            {
                Ok(Intake {
                    alert: row.try_get("alert_id")?,
                    new: false,
                    folded,
                })
            } else {
                Err(StoreError::Conflict(format!(
                    "alert {} is already stored with other content; an alert id is used once",
                    a.id
                )))
            };
        }
        let permit = self.load_permit(&mut *tx, &a.permit).await?;
        if permit.purged {
            return Err(StoreError::Refused(format!(
                "permit {} has been purged; its hits are not kept",
                a.permit
            )));
        }
        // Checked again at intake, against the permit as it is now: a hit from a frame captured
        // outside the use (or after a stop or refusal, whatever its time), from a camera or for a
        // person the decision left out, or stamped in the future, is not kept.
        if !permit.is_active_at(a.captured_at)
            || a.captured_at.0 > now.0.saturating_add(crate::CLOCK_TOLERANCE_MS)
            || !permit.application.area.covers(&a.camera)
            || !permit.application.persons.iter().any(|p| p.id == a.person)
        {
            return Err(StoreError::Refused(format!(
                "permit {} does not cover this hit now (its use, camera or person); it is not kept",
                a.permit
            )));
        }
        // Nor one from a partner's camera outside its agreement at the capture time, or from a
        // camera whose register entry does not match its sealed terms.
        let usable = match self.verified_terms(&mut tx, &a.camera).await {
            Ok(t) => mandat_law::OwnerKind::of(&t.owner).is_some_and(|k| {
                mandat_law::partner::may_analyse(k, t.agreement.as_ref(), a.captured_at)
            }),
            Err(_) => false,
        };
        if !usable {
            return Err(StoreError::Refused(format!(
                "camera {} was not to be analysed at the hit's capture time (no partner agreement then, or its record was edited); it is not kept",
                a.camera
            )));
        }
        // Folded only into a candidate nobody has reviewed yet, and only when the new hit scores
        // no higher: a sighting keeps no image, so a better view, or one a reviewer could no
        // longer weigh, is a candidate of its own with its own images.
        if let Some(open) = sqlx::query(
            "SELECT id, at, last_seen_at FROM alerts WHERE permit_id = $1 AND person_id = $2 AND camera_id = $3 AND state = 'candidate' \
             AND at <= $5 AND COALESCE(last_seen_at, at) >= $4 AND score >= $6 \
             AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.alert_id = alerts.id) \
             ORDER BY at DESC, id LIMIT 1",
        )
        .bind(a.permit.clone())
        .bind(a.person.clone())
        .bind(a.camera.clone())
        .bind(a.captured_at.0.saturating_sub(FOLD_WINDOW_MS))
        .bind(a.captured_at.0.saturating_add(FOLD_WINDOW_MS))
        .bind(a.score as f64)
        .fetch_optional(&mut *tx)
        .await?
        {
            let parent: String = open.try_get("id")?;
            let last: i64 = open
                .try_get::<Option<i64>, _>("last_seen_at")?
                .unwrap_or(open.try_get("at")?);
            sqlx::query(
                "INSERT INTO alert_sightings (id, alert_id, permit_id, at, score, digest, created_at, frame_index, threshold, watchlist_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(a.id.clone())
            .bind(parent.clone())
            .bind(a.permit.clone())
            .bind(a.captured_at.0)
            .bind(a.score as f64)
            .bind(digest)
            .bind(now.0)
            .bind(a.frame_index as i64)
            .bind(a.threshold as f64)
            .bind(a.watchlist_version.clone())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE alerts SET sightings = sightings + 1, last_seen_at = $2 WHERE id = $1",
            )
            .bind(parent.clone())
            .bind(last.max(a.captured_at.0))
            .execute(&mut *tx)
            .await?;
            self.append_audit(
                &mut tx,
                Record {
                    at: now.0,
                    actor: "engine".into(),
                    action: "alert.sighting".into(),
                    permit: Some(a.permit.clone()),
                    origin: "engine".into(),
                    // As for a candidate: the reference to the input is the id; when and where
                    // live in the row, which erasure reaches.
                    details: json!({
                        "alert": parent,
                        "sighting": a.id,
                        "threshold": a.threshold as f64,
                        "watchlist_version": a.watchlist_version,
                    }),
                },
            )
            .await?;
            self.notify_alert(&mut tx, &parent).await?;
            tx.commit().await?;
            return Ok(Intake {
                alert: parent,
                new: true,
                folded: true,
            });
        }
        let target = permit.application.target.as_ref();
        let key = self.data_key(&mut tx, &a.permit).await?;
        let crop = key.seal(
            &a.crop_jpeg,
            format!("alert-crop:{}/{}", a.permit, a.id).as_bytes(),
        )?;
        let frame = key.seal(
            &a.frame_jpeg,
            format!("alert-frame:{}/{}", a.permit, a.id).as_bytes(),
        )?;
        sqlx::query(
            "INSERT INTO alerts (id, permit_id, person_id, camera_id, at, created_at, frame_index, score, threshold, state, watchlist_version, crop_sealed, frame_sealed, fpir_target, calibration, digest) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(a.id.clone())
        .bind(a.permit.clone())
        .bind(a.person.clone())
        .bind(a.camera.clone())
        .bind(a.captured_at.0)
        .bind(now.0)
        .bind(a.frame_index as i64)
        .bind(a.score as f64)
        .bind(a.threshold as f64)
        .bind(AlertState::Candidate.as_str())
        .bind(a.watchlist_version.clone())
        .bind(crop)
        .bind(frame)
        .bind(target.map(|t| t.fpir))
        .bind(target.map(|t| t.calibration.clone()))
        .bind(digest)
        .execute(&mut *tx)
        .await?;
        self.append_audit(
            &mut tx,
            Record {
                at: now.0,
                actor: "engine".into(),
                action: "alert.candidate".into(),
                permit: Some(a.permit.clone()),
                origin: "engine".into(),
                // The reference to the input that led to the match (AI Act art. 12(3)(c)) is the
                // alert id: who was seen where and when lives in the alert's row, which the
                // retention schedule and a purge reach, and never in this log, which outlives them.
                details: json!({
                    "alert": a.id,
                    "threshold": a.threshold as f64,
                    "fpir_target": target.map(|t| t.fpir),
                    "calibration": target.map(|t| t.calibration.clone()),
                    "watchlist_version": a.watchlist_version,
                }),
            },
        )
        .await?;
        self.notify_alert(&mut tx, &a.id).await?;
        tx.commit().await?;
        Ok(Intake {
            alert: a.id.clone(),
            new: true,
            folded: false,
        })
    }

    async fn reviews_of(&self, ids: &[String]) -> Result<Vec<(String, Review)>, StoreError> {
        let mut out = Vec::new();
        for id in ids {
            for r in sqlx::query(
                "SELECT alert_id, reviewer, verdict, reason, at FROM reviews WHERE alert_id = $1 ORDER BY at, reviewer",
            )
            .bind(id.clone())
            .fetch_all(&self.pool)
            .await?
            {
                out.push((r.try_get("alert_id")?, review_from_row(&r)?));
            }
        }
        Ok(out)
    }

    /// The newest alerts, created after `after` (ms), at most `limit`, with their reviews.
    pub async fn alerts(&self, after: i64, limit: i64) -> Result<Vec<AlertRecord>, StoreError> {
        let q = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE created_at > $1 ORDER BY created_at DESC, id LIMIT $2"
        );
        let mut list = sqlx::query(sqlx::AssertSqlSafe(q))
            .bind(after)
            .bind(limit.clamp(1, 10_000))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(alert_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let ids: Vec<String> = list.iter().map(|a| a.id.clone()).collect();
        for (id, r) in self.reviews_of(&ids).await? {
            if let Some(a) = list.iter_mut().find(|a| a.id == id) {
                a.reviews.push(r);
            }
        }
        Ok(list)
    }

    /// For monitoring, in one aggregate query: per state, how many alerts, and for those decided by
    /// their reviewers the total milliseconds from alert to last review and how many that covers.
    pub async fn alert_counts(&self) -> Result<Vec<(AlertState, i64, i64, i64)>, StoreError> {
        sqlx::query(
            "SELECT a.state AS state, COUNT(*) AS n, \
               CAST(COALESCE(SUM(CASE WHEN a.state IN ('verified', 'rejected') AND r.last IS NOT NULL THEN r.last - a.created_at ELSE 0 END), 0) AS BIGINT) AS latency_ms, \
               CAST(COALESCE(SUM(CASE WHEN a.state IN ('verified', 'rejected') AND r.last IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS decided \
             FROM alerts a LEFT JOIN (SELECT alert_id, MAX(at) AS last FROM reviews GROUP BY alert_id) r ON r.alert_id = a.id \
             GROUP BY a.state",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            let state: String = r.try_get("state")?;
            Ok((
                AlertState::parse(&state)
                    .ok_or_else(|| StoreError::Corrupt(format!("alert state {state:?}")))?,
                r.try_get("n")?,
                r.try_get("latency_ms")?,
                r.try_get("decided")?,
            ))
        })
        .collect()
    }

    pub async fn alert(&self, id: &str) -> Result<AlertRecord, StoreError> {
        let q = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(q))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no alert {id}")))?;
        let mut a = alert_from_row(&row)?;
        a.reviews = self
            .reviews_of(&[id.to_string()])
            .await?
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        Ok(a)
    }

    /// The decrypted probe crop and frame (JPEG) of an alert. The caller checks the role and
    /// records the viewing.
    pub async fn alert_media(&self, id: &str) -> Result<(Vec<u8>, Vec<u8>), StoreError> {
        let row =
            sqlx::query("SELECT permit_id, crop_sealed, frame_sealed FROM alerts WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("no alert {id}")))?;
        let permit: String = row.try_get("permit_id")?;
        let (Some(crop), Some(frame)) = (
            row.try_get::<Option<Vec<u8>>, _>("crop_sealed")?,
            row.try_get::<Option<Vec<u8>>, _>("frame_sealed")?,
        ) else {
            return Err(StoreError::NotFound(format!(
                "the images of alert {id} were erased under the retention schedule (see its certificate in the audit log)"
            )));
        };
        let mut tx = self.pool.begin().await?;
        let key = self.data_key(&mut tx, &permit).await?;
        tx.commit().await?;
        let crop = key.open(&crop, format!("alert-crop:{permit}/{id}").as_bytes())?;
        let frame = key.open(&frame, format!("alert-frame:{permit}/{id}").as_bytes())?;
        Ok((crop, frame))
    }

    /// The first enrolled reference photo of a designated person, decrypted. The caller checks the
    /// role and records the viewing.
    pub async fn reference_photo(&self, permit: &str, person: &str) -> Result<Vec<u8>, StoreError> {
        let row = sqlx::query(
            "SELECT id, sealed FROM photos WHERE permit_id = $1 AND person_id = $2 ORDER BY id LIMIT 1",
        )
        .bind(permit.to_string())
        .bind(person.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| {
            StoreError::NotFound(format!("no reference photo of {person} in permit {permit}"))
        })?;
        let photo_id: String = row.try_get("id")?;
        let mut tx = self.pool.begin().await?;
        let key = self.data_key(&mut tx, permit).await?;
        tx.commit().await?;
        key.open(
            &row.try_get::<Vec<u8>, _>("sealed")?,
            format!("photo:{permit}/{photo_id}").as_bytes(),
        )
    }

    /// Every stored alert captured in `[from, to)`, oldest first, without reviews (for statistics).
    pub async fn alerts_captured_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let q = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE at >= $1 AND at < $2 ORDER BY at, id"
        );
        sqlx::query(sqlx::AssertSqlSafe(q))
            .bind(from.0)
            .bind(to.0)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(alert_from_row)
            .collect()
    }

    /// One reviewer's decision on an alert, under the two-person rule of `mandat_law::review`.
    pub async fn review_alert(
        &self,
        actor: &Actor,
        id: &str,
        verdict: Verdict,
        reason: &str,
        now: Timestamp,
        origin: &str,
    ) -> Result<AlertRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let q = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(q))
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no alert {id}")))?;
        let mut alert = alert_from_row(&row)?;
        let permit = self.load_permit(&mut *tx, &alert.permit).await?;
        let mut reviews = Vec::new();
        for r in
            sqlx::query("SELECT reviewer, verdict, reason, at FROM reviews WHERE alert_id = $1")
                .bind(id.to_string())
                .fetch_all(&mut *tx)
                .await?
        {
            reviews.push(review_from_row(&r)?);
        }
        // Whoever applied in any way (the officer who started it urgently or handed it over, too)
        // is refused as its applicant is.
        let applicant = if permit.applied_by(&actor.user) {
            &actor.user
        } else {
            &permit.applicant
        };
        let next = review::review(alert.state, &reviews, actor, applicant, verdict, reason)?;
        sqlx::query(
            "INSERT INTO reviews (alert_id, permit_id, reviewer, verdict, reason, at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.to_string())
        .bind(alert.permit.clone())
        .bind(actor.user.clone())
        .bind(verdict.as_str())
        .bind(reason.to_string())
        .bind(now.0)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE alerts SET state = $1 WHERE id = $2")
            .bind(next.as_str())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        self.notify_alert(&mut tx, id).await?;
        // A verified identification: the person is to be notified afterwards where the permit's
        // profile says so, in one task per person and permit.
        let profile = (next == AlertState::Verified && alert.state != AlertState::Verified)
            .then(|| mandat_law::Profile::by_name(&permit.profile))
            .flatten()
            .filter(|profile| profile.notifies_subject(permit.application.purpose));
        if let Some(profile) = profile {
            self.note_identification(&mut tx, &permit, profile, id, &alert.person, now)
                .await?;
        }
        // The identity of every person who verified a result (AI Act art. 12(3)(d)).
        self.append_audit(
            &mut tx,
            Record {
                at: now.0,
                actor: actor.user.clone(),
                action: "alert.review".into(),
                permit: Some(alert.permit.clone()),
                origin: origin.into(),
                details: json!({"alert": id, "verdict": verdict.as_str(), "state": next.as_str()}),
            },
        )
        .await?;
        tx.commit().await?;
        reviews.push(Review {
            reviewer: actor.user.clone(),
            verdict,
            reason: reason.to_string(),
            at: now,
        });
        alert.state = next;
        alert.reviews = reviews;
        Ok(alert)
    }

    /// Every audit entry about alert `id` (its permit's `alert.*` entries that name it), each with
    /// the signed checkpoint written with it: an inclusion proof an auditor checks offline.
    pub async fn alert_audit_trail(
        &self,
        alert: &AlertRecord,
    ) -> Result<Vec<(mandat_audit::Entry, mandat_audit::Checkpoint)>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, permit, origin, details, prev_hash, hash FROM audit_log WHERE permit = $1 AND action LIKE 'alert.%' ORDER BY seq",
        )
        .bind(alert.permit.clone())
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            let e = crate::entry_from_row(r)?;
            if e.details["alert"] != alert.id.as_str() {
                continue;
            }
            let c = self.checkpoint_at(e.seq).await?.ok_or_else(|| {
                StoreError::Corrupt(format!("audit entry {} has no checkpoint", e.seq))
            })?;
            out.push((e, c));
        }
        Ok(out)
    }

    /// Sign an evidence package's digest with the audit key (the key auditors pin).
    pub fn sign_evidence(&self, msg: &[u8]) -> (String, String) {
        (
            self.audit.public_hex(),
            self.audit.sign_message(EVIDENCE_DOMAIN, msg),
        )
    }

    /// Record that a verified alert was exported as an evidence package (`confirmed`: None), or
    /// that the package reached the case file whole (`Some(its sha256)`), after which the retention
    /// schedule erases the images here.
    pub async fn record_export(
        &self,
        actor: &Actor,
        id: &str,
        confirmed: Option<&str>,
        now: Timestamp,
        origin: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT permit_id, state FROM alerts WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no alert {id}")))?;
        let permit: String = row.try_get("permit_id")?;
        if row.try_get::<String, _>("state")? != AlertState::Verified.as_str() {
            return Err(StoreError::Refused(format!(
                "alert {id} is not verified; only a verified alert goes to a case"
            )));
        }
        let (action, details) = match confirmed {
            None => ("alert.export", json!({"alert": id})),
            Some(digest) => {
                if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(StoreError::Invalid(
                        "package_sha256: the sha256 of the package as written, 64 hex digits"
                            .into(),
                    ));
                }
                sqlx::query(
                    "UPDATE alerts SET exported_at = $1 WHERE id = $2 AND exported_at IS NULL",
                )
                .bind(now.0)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
                (
                    "alert.export_received",
                    json!({"alert": id, "package_sha256": digest.to_ascii_lowercase()}),
                )
            }
        };
        self.append_audit(
            &mut tx,
            Record {
                at: now.0,
                actor: actor.user.clone(),
                action: action.into(),
                permit: Some(permit),
                origin: origin.into(),
                details,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Expire candidate alerts raised more than `ttl_ms` ago. Returns their ids.
    pub async fn expire_alerts(
        &self,
        now: Timestamp,
        ttl_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let cutoff = now.0.saturating_sub(ttl_ms);
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(
            "SELECT id, permit_id FROM alerts WHERE state = 'candidate' AND created_at <= $1 ORDER BY id",
        )
        .bind(cutoff)
        .fetch_all(&mut *tx)
        .await?;
        let mut ids = Vec::new();
        for r in rows {
            let id: String = r.try_get("id")?;
            let permit: String = r.try_get("permit_id")?;
            sqlx::query("UPDATE alerts SET state = 'expired' WHERE id = $1")
                .bind(id.clone())
                .execute(&mut *tx)
                .await?;
            self.notify_alert(&mut tx, &id).await?;
            self.append_audit(
                &mut tx,
                Record {
                    at: now.0,
                    actor: "system".into(),
                    action: "alert.expired".into(),
                    permit: Some(permit),
                    origin: "tick".into(),
                    details: json!({"alert": id, "ttl_ms": ttl_ms}),
                },
            )
            .await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }
}
