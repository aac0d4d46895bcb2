//! The retention schedule carried out: what `mandat_law::retention` says is due is erased here, in
//! one transaction per permit with its certificate in the audit log. What the permit keeps after a
//! partial erasure is sealed again under a fresh data key, so the old data key (which a copy of the
//! database taken before still holds, wrapped) opens nothing that is still here. The key itself
//! stays while the permit's record does: it seals the record's free text (see `text`).

use mandat_audit::Record;
use mandat_law::Permit;
use mandat_law::Timestamp;
use mandat_law::retention::{Data, Rule, schedule_of};
use mandat_law::review::AlertState;
use mandat_law::subject::SubjectTask;
use sqlx::Row;

use crate::{DeletionCertificate, SecretKey, Store, StoreError, Tx};

/// What the retention schedule may have to act on: permits with reference data, and alerts that
/// still hold media, with their states.
#[derive(Debug, Default)]
pub struct Holdings {
    /// (permit, person) of every person with reference data.
    pub reference: Vec<(String, String)>,
    /// (permit, alert, state, exported).
    pub alert_media: Vec<(String, String, AlertState, bool)>,
}

impl Store {
    /// What the schedule could erase, read without a write lock, so a tick that finds nothing due
    /// costs two queries.
    pub async fn holdings(&self) -> Result<Holdings, StoreError> {
        let mut h = Holdings::default();
        for r in sqlx::query(
            "SELECT DISTINCT permit_id, person_id FROM photos UNION SELECT DISTINCT permit_id, person_id FROM templates",
        )
        .fetch_all(&self.pool)
        .await?
        {
            h.reference
                .push((r.try_get("permit_id")?, r.try_get("person_id")?));
        }
        for r in sqlx::query(
            "SELECT permit_id, id, state, exported_at FROM alerts WHERE crop_sealed IS NOT NULL OR frame_sealed IS NOT NULL ORDER BY permit_id, id",
        )
        .fetch_all(&self.pool)
        .await?
        {
            let state: String = r.try_get("state")?;
            let Some(state) = AlertState::parse(&state) else {
                // Written outside mandat: left to the audit, holding back no other alert.
                tracing::error!("an alert has the unknown state {state:?}; its images are kept");
                continue;
            };
            let exported = r.try_get::<Option<i64>, _>("exported_at")?.is_some();
            h.alert_media
                .push((r.try_get("permit_id")?, r.try_get("id")?, state, exported));
        }
        Ok(h)
    }

    /// Whether the permit still holds an alert for a person or camera a partial grant left out,
    /// or a task to notify about one.
    pub async fn has_alerts_outside(
        &self,
        permit: &str,
        n: &mandat_law::Narrowed,
    ) -> Result<bool, StoreError> {
        let alerts = sqlx::query("SELECT person_id, camera_id FROM alerts WHERE permit_id = $1")
            .bind(permit.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .any(|r| {
                r.try_get::<String, _>("person_id")
                    .is_ok_and(|p| n.persons_not_granted.contains(&p))
                    || r.try_get::<String, _>("camera_id")
                        .is_ok_and(|c| n.cameras_not_granted.contains(&c))
            });
        let mut conn = self.pool.acquire().await?;
        let (delete, update) = tasks_outside(&mut conn, permit, &n.persons_not_granted).await?;
        Ok(alerts || !delete.is_empty() || !update.is_empty())
    }

    /// Erase what the permit's retention schedule says is due at `now`, one certificate per rule
    /// that erased something. The decision is taken again inside the transaction, so a hold set a
    /// moment ago is honoured.
    pub async fn apply_retention(
        &self,
        permit_id: &str,
        now: Timestamp,
        origin: &str,
    ) -> Result<Vec<DeletionCertificate>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut permit = self.load_permit(&mut *tx, permit_id).await?;
        if permit.purged {
            return Ok(Vec::new());
        }
        let schedule = schedule_of(&permit);
        let mut certs = Vec::new();
        if let Some((rule, narrowed)) = schedule.not_granted_due(&permit) {
            let (mut photos, mut templates, mut alerts) = (Vec::new(), Vec::new(), Vec::new());
            let mut reviews = 0;
            // What an urgent use raised for a person or camera the decision left out.
            for r in sqlx::query(
                "SELECT id, person_id, camera_id FROM alerts WHERE permit_id = $1 ORDER BY id",
            )
            .bind(permit_id.to_string())
            .fetch_all(&mut *tx)
            .await?
            {
                let person: String = r.try_get("person_id")?;
                let camera: String = r.try_get("camera_id")?;
                if narrowed.persons_not_granted.contains(&person)
                    || narrowed.cameras_not_granted.contains(&camera)
                {
                    let id: String = r.try_get("id")?;
                    reviews += sqlx::query("DELETE FROM reviews WHERE alert_id = $1")
                        .bind(id.clone())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    sqlx::query("DELETE FROM alert_sightings WHERE alert_id = $1")
                        .bind(id.clone())
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM alerts WHERE id = $1")
                        .bind(id.clone())
                        .execute(&mut *tx)
                        .await?;
                    alerts.push(id);
                }
            }
            let persons = &narrowed.persons_not_granted;
            for person in persons {
                for (list, select, delete) in [
                    (
                        &mut photos,
                        "SELECT id FROM photos WHERE permit_id = $1 AND person_id = $2 ORDER BY id",
                        "DELETE FROM photos WHERE permit_id = $1 AND person_id = $2",
                    ),
                    (
                        &mut templates,
                        "SELECT id FROM templates WHERE permit_id = $1 AND person_id = $2 ORDER BY id",
                        "DELETE FROM templates WHERE permit_id = $1 AND person_id = $2",
                    ),
                ] {
                    for r in sqlx::query(select)
                        .bind(permit_id.to_string())
                        .bind(person.clone())
                        .fetch_all(&mut *tx)
                        .await?
                    {
                        list.push(r.try_get::<String, _>("id")?);
                    }
                    sqlx::query(delete)
                        .bind(permit_id.to_string())
                        .bind(person.clone())
                        .execute(&mut *tx)
                        .await?;
                }
            }
            // Tasks to notify a person left out, or about an alert that is gone: nobody may act
            // on what the decision did not grant.
            let tasks = prune_tasks(&mut tx, permit_id, persons).await?;
            if !photos.is_empty() || !templates.is_empty() || !alerts.is_empty() || tasks > 0 {
                let mut c = certificate(&permit, rule, now, photos, templates, vec![]);
                c.subject_tasks = tasks;
                c.reason =
                    "retention schedule: persons and cameras the decision did not grant".into();
                c.alerts = alerts;
                c.reviews = reviews;
                certs.push(c);
            }
        }
        if let Some(rule) = schedule.reference_data_due(&permit, now) {
            let photos = crate::delete_listing(
                &mut tx,
                permit_id,
                "SELECT id FROM photos WHERE permit_id = $1 ORDER BY id",
                "DELETE FROM photos WHERE permit_id = $1",
            )
            .await?;
            let templates = crate::delete_listing(
                &mut tx,
                permit_id,
                "SELECT id FROM templates WHERE permit_id = $1 ORDER BY id",
                "DELETE FROM templates WHERE permit_id = $1",
            )
            .await?;
            if !photos.is_empty() || !templates.is_empty() {
                // Who the persons were goes with their photos; their ids stay for the record.
                for p in permit.application.persons.iter_mut() {
                    p.label = "[erased]".into();
                    for ph in p.photos.iter_mut() {
                        ph.source = "[erased]".into();
                    }
                }
                certs.push(certificate(&permit, rule, now, photos, templates, vec![]));
            }
        }
        let rows = sqlx::query(
            "SELECT id, state, exported_at FROM alerts WHERE permit_id = $1 AND (crop_sealed IS NOT NULL OR frame_sealed IS NOT NULL) ORDER BY id",
        )
        .bind(permit_id.to_string())
        .fetch_all(&mut *tx)
        .await?;
        let mut by_rule: Vec<(Rule, Vec<String>)> = Vec::new();
        for r in rows {
            let state: String = r.try_get("state")?;
            let Some(state) = AlertState::parse(&state) else {
                tracing::error!("an alert has the unknown state {state:?}; its images are kept");
                continue;
            };
            let exported = r.try_get::<Option<i64>, _>("exported_at")?.is_some();
            if let Some(rule) = schedule.alert_media_due(&permit, state, exported, now) {
                let id: String = r.try_get("id")?;
                match by_rule.iter_mut().find(|(r, _)| r.id == rule.id) {
                    Some((_, ids)) => ids.push(id),
                    None => by_rule.push((*rule, vec![id])),
                }
            }
        }
        for (rule, ids) in by_rule {
            for id in &ids {
                sqlx::query(
                    "UPDATE alerts SET crop_sealed = NULL, frame_sealed = NULL WHERE id = $1",
                )
                .bind(id.clone())
                .execute(&mut *tx)
                .await?;
            }
            certs.push(certificate(&permit, &rule, now, vec![], vec![], ids));
        }
        if certs.is_empty() {
            return Ok(certs);
        }
        // The data key is replaced: what the permit keeps (its record's text, and any images
        // not yet due) is sealed anew, so the old key, which a backup holds, opens nothing here.
        let epoch = self.permit_key_epoch(&mut tx, permit_id).await?;
        self.rekey(&mut tx, permit_id).await?;
        for c in certs.iter_mut() {
            c.key_epoch = epoch;
            c.data_key_replaced = true;
        }
        self.save_permit(&mut tx, &permit, None).await?;
        self.bump_scope(&mut tx).await?;
        for c in &certs {
            self.append_audit(
                &mut tx,
                Record {
                    at: now.0,
                    actor: "system".into(),
                    action: "retention.erase".into(),
                    permit: Some(permit_id.to_string()),
                    origin: origin.into(),
                    details: serde_json::to_value(c).expect("certificate serialises"),
                },
            )
            .await?;
        }
        crate::crash_point("retention-before-commit");
        tx.commit().await?;
        self.settle_erasure().await;
        Ok(certs)
    }

    async fn permit_key_epoch(&self, tx: &mut Tx<'_>, permit: &str) -> Result<i64, StoreError> {
        Ok(
            sqlx::query("SELECT epoch FROM permit_keys WHERE permit_id = $1")
                .bind(permit.to_string())
                .fetch_optional(&mut **tx)
                .await?
                .map(|r| r.try_get("epoch"))
                .transpose()?
                .unwrap_or(0),
        )
    }

    /// Seal what the permit still keeps under a fresh data key. The caller writes the permit's
    /// record back, which seals its text under the new key.
    async fn rekey(&self, tx: &mut Tx<'_>, permit: &str) -> Result<(), StoreError> {
        let photos =
            sqlx::query("SELECT id, sealed, quality_sealed FROM photos WHERE permit_id = $1")
                .bind(permit.to_string())
                .fetch_all(&mut **tx)
                .await?;
        let templates = sqlx::query("SELECT id, sealed FROM templates WHERE permit_id = $1")
            .bind(permit.to_string())
            .fetch_all(&mut **tx)
            .await?;
        let alerts = sqlx::query(
            "SELECT id, crop_sealed, frame_sealed FROM alerts WHERE permit_id = $1 AND (crop_sealed IS NOT NULL OR frame_sealed IS NOT NULL)",
        )
        .bind(permit.to_string())
        .fetch_all(&mut **tx)
        .await?;
        let old = self.data_key(tx, permit).await?;
        let new = SecretKey::random()?;
        let reseal = |sealed: &[u8], aad: String| -> Result<Vec<u8>, StoreError> {
            let mut plain = old.open(sealed, aad.as_bytes())?;
            let out = new.seal(&plain, aad.as_bytes());
            crate::crypto::wipe(&mut plain);
            out
        };
        for r in &photos {
            let id: String = r.try_get("id")?;
            let sealed = reseal(
                &r.try_get::<Vec<u8>, _>("sealed")?,
                format!("photo:{permit}/{id}"),
            )?;
            let quality = r
                .try_get::<Option<Vec<u8>>, _>("quality_sealed")?
                .map(|q| reseal(&q, format!("photo-quality:{permit}/{id}")))
                .transpose()?;
            sqlx::query("UPDATE photos SET sealed = $1, quality_sealed = $2 WHERE permit_id = $3 AND id = $4")
                .bind(sealed)
                .bind(quality)
                .bind(permit.to_string())
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
        for r in &templates {
            let id: String = r.try_get("id")?;
            let sealed = reseal(
                &r.try_get::<Vec<u8>, _>("sealed")?,
                format!("template:{permit}/{id}"),
            )?;
            sqlx::query("UPDATE templates SET sealed = $1 WHERE permit_id = $2 AND id = $3")
                .bind(sealed)
                .bind(permit.to_string())
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
        for r in &alerts {
            let id: String = r.try_get("id")?;
            let crop: Option<Vec<u8>> = r.try_get("crop_sealed")?;
            let frame: Option<Vec<u8>> = r.try_get("frame_sealed")?;
            let crop = crop
                .map(|c| reseal(&c, format!("alert-crop:{permit}/{id}")))
                .transpose()?;
            let frame = frame
                .map(|f| reseal(&f, format!("alert-frame:{permit}/{id}")))
                .transpose()?;
            sqlx::query("UPDATE alerts SET crop_sealed = $1, frame_sealed = $2 WHERE id = $3")
                .bind(crop)
                .bind(frame)
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
        let (epoch, wrapping) = self.wrapping_key(tx).await?;
        sqlx::query("UPDATE permit_keys SET wrapped = $1, epoch = $2 WHERE permit_id = $3")
            .bind(wrapping.wrap(&new, permit)?)
            .bind(epoch)
            .bind(permit.to_string())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

/// Delete the tasks of `permit` to notify a person in `persons`, or about no alert still held, and
/// take erased alerts off the others; returns how many were deleted.
async fn prune_tasks(
    conn: &mut sqlx::AnyConnection,
    permit: &str,
    persons: &[String],
) -> Result<u64, StoreError> {
    let (delete, update) = tasks_outside(conn, permit, persons).await?;
    let mut deleted = 0;
    for id in delete {
        deleted += sqlx::query("DELETE FROM subject_notifications WHERE id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    for task in update {
        sqlx::query("UPDATE subject_notifications SET doc = $1 WHERE id = $2")
            .bind(serde_json::to_string(&task).expect("tasks serialise"))
            .bind(task.id.clone())
            .execute(&mut *conn)
            .await?;
    }
    Ok(deleted)
}

/// The tasks of `permit` to delete (about a person in `persons`, or about no alert still held),
/// and those left with fewer alerts. One task that cannot be read is logged and left; it holds
/// back no erasure.
async fn tasks_outside(
    conn: &mut sqlx::AnyConnection,
    permit: &str,
    persons: &[String],
) -> Result<(Vec<String>, Vec<SubjectTask>), StoreError> {
    let (mut delete, mut update) = (Vec::new(), Vec::new());
    for r in sqlx::query("SELECT id, doc FROM subject_notifications WHERE permit_id = $1")
        .bind(permit.to_string())
        .fetch_all(&mut *conn)
        .await?
    {
        let id: String = r.try_get("id")?;
        let mut task = match crate::subjects::parse(&r.try_get::<String, _>("doc")?) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!("subject task {id} cannot be read, left as it is: {e}");
                continue;
            }
        };
        let mut held = Vec::new();
        for alert in &task.alerts {
            if sqlx::query("SELECT id FROM alerts WHERE id = $1")
                .bind(alert.clone())
                .fetch_optional(&mut *conn)
                .await?
                .is_some()
            {
                held.push(alert.clone());
            }
        }
        if persons.contains(&task.person) || held.is_empty() {
            delete.push(id);
        } else if held.len() < task.alerts.len() {
            task.alerts = held;
            update.push(task);
        }
    }
    Ok((delete, update))
}

fn certificate(
    permit: &Permit,
    rule: &Rule,
    now: Timestamp,
    photos: Vec<String>,
    templates: Vec<String>,
    alert_media: Vec<String>,
) -> DeletionCertificate {
    let what = match rule.data {
        Data::WholeUse => "the refused use",
        Data::ReferenceData => "the use is over",
        Data::RejectedAlertMedia => "the alert was rejected",
        Data::ExpiredAlertMedia => "the alert expired unreviewed",
        Data::VerifiedAlertMedia => {
            "the alert went to the case as evidence, or its time after the use ran out"
        }
    };
    DeletionCertificate {
        permit: permit.id.clone(),
        rule: rule.id.to_string(),
        ground: rule.ground.to_string(),
        reason: format!("retention schedule: {what}"),
        at: now,
        photos,
        templates,
        alerts: Vec::new(),
        alert_media,
        data_key_replaced: false,
        reviews: 0,
        subject_tasks: 0,
        wrapped_key_deleted: false,
        key_epoch: 0,
        key_rotated_to: None,
    }
}
