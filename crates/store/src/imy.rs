//! The register of notifications to IMY: made in the same transaction as the use event they report,
//! then marked sent and acknowledged (with IMY's reference) by a person, each step in the audit log.

use mandat_audit::Record;
use mandat_law::imy::ImyNotification;
use mandat_law::{Actor, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Store, StoreError, Tx};

/// A notification and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImyRecord {
    /// `N-<permit>-<kind>`.
    pub id: String,
    pub created_at: Timestamp,
    pub notification: ImyNotification,
    pub sent_at: Option<Timestamp>,
    pub sent_by: Option<String>,
    pub acknowledged_at: Option<Timestamp>,
    /// IMY's own reference (diarienummer), from its acknowledgement.
    pub imy_reference: Option<String>,
}

/// A step in a notification's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImyStep {
    Sent,
    Acknowledged { reference: String },
}

const COLUMNS: &str =
    "id, created_at, doc, sent_at, sent_by, acknowledged_at, imy_reference FROM imy_notifications";

fn from_row(r: &AnyRow) -> Result<ImyRecord, StoreError> {
    let doc: String = r.try_get("doc")?;
    Ok(ImyRecord {
        id: r.try_get("id")?,
        created_at: Timestamp(r.try_get("created_at")?),
        notification: serde_json::from_str(&doc)
            .map_err(|e| StoreError::Corrupt(format!("IMY notification: {e}")))?,
        sent_at: r.try_get::<Option<i64>, _>("sent_at")?.map(Timestamp),
        sent_by: r.try_get("sent_by")?,
        acknowledged_at: r
            .try_get::<Option<i64>, _>("acknowledged_at")?
            .map(Timestamp),
        imy_reference: r.try_get("imy_reference")?,
    })
}

pub(crate) fn notification_id(n: &ImyNotification) -> String {
    format!("N-{}-{}", n.permit, n.kind.as_str())
}

impl Store {
    /// Register a notification inside the caller's transaction (the one recording the use event).
    pub(crate) async fn register_imy(
        &self,
        tx: &mut Tx<'_>,
        n: &ImyNotification,
        now: Timestamp,
    ) -> Result<String, StoreError> {
        let id = notification_id(n);
        // The chain head as it stands before this use event's own entry: IMY holds a copy.
        let mut n = n.clone();
        n.audit_anchor = crate::head_of(&mut **tx)
            .await?
            .map(|c| mandat_law::imy::AuditAnchor {
                seq: c.seq,
                hash: c.hash,
                at: c.at,
                key: c.key,
                signature: c.signature,
            });
        let n = &n;
        sqlx::query(
            "INSERT INTO imy_notifications (id, permit_id, kind, created_at, doc) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.clone())
        .bind(n.permit.clone())
        .bind(n.kind.as_str())
        .bind(now.0)
        .bind(serde_json::to_string(n).expect("notifications serialise"))
        .execute(&mut **tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(format!("notification {id} exists already"))
            }
            other => other.into(),
        })?;
        Ok(id)
    }

    /// The register, oldest first.
    pub async fn imy_notifications(&self) -> Result<Vec<ImyRecord>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} ORDER BY created_at, id"
        )))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    pub async fn imy_notification(&self, id: &str) -> Result<ImyRecord, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} WHERE id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no IMY notification {id}")))?;
        from_row(&row)
    }

    /// Record that a notification was sent, or that IMY acknowledged it. Sent comes first, and each
    /// step happens once. The caller has checked the actor's role.
    pub async fn imy_step(
        &self,
        actor: &Actor,
        id: &str,
        step: ImyStep,
        now: Timestamp,
        origin: &str,
    ) -> Result<ImyRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} WHERE id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no IMY notification {id}")))?;
        let rec = from_row(&row)?;
        let (action, details) = match &step {
            ImyStep::Sent => {
                if rec.sent_at.is_some() {
                    return Err(StoreError::Conflict(format!(
                        "notification {id} was marked sent already"
                    )));
                }
                sqlx::query(
                    "UPDATE imy_notifications SET sent_at = $1, sent_by = $2 WHERE id = $3",
                )
                .bind(now.0)
                .bind(actor.user.clone())
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
                ("imy.sent", json!({"notification": id}))
            }
            ImyStep::Acknowledged { reference } => {
                if rec.sent_at.is_none() {
                    return Err(StoreError::Invalid(format!(
                        "notification {id} has not been sent; mark it sent first"
                    )));
                }
                if rec.acknowledged_at.is_some() {
                    return Err(StoreError::Conflict(format!(
                        "notification {id} was acknowledged already"
                    )));
                }
                let reference = reference.trim();
                if reference.is_empty() || reference.chars().count() > 100 {
                    return Err(StoreError::Invalid(
                        "IMY's reference is 1 to 100 characters".into(),
                    ));
                }
                sqlx::query(
                    "UPDATE imy_notifications SET acknowledged_at = $1, imy_reference = $2 WHERE id = $3",
                )
                .bind(now.0)
                .bind(reference.to_string())
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
                (
                    "imy.acknowledged",
                    json!({"notification": id, "imy_reference": reference}),
                )
            }
        };
        self.append_audit(
            &mut tx,
            Record {
                at: now.0,
                actor: actor.user.clone(),
                action: action.into(),
                permit: Some(rec.notification.permit.clone()),
                origin: origin.into(),
                details,
            },
        )
        .await?;
        tx.commit().await?;
        let mut rec = rec;
        match step {
            ImyStep::Sent => {
                rec.sent_at = Some(now);
                rec.sent_by = Some(actor.user.clone());
            }
            ImyStep::Acknowledged { reference } => {
                rec.acknowledged_at = Some(now);
                rec.imy_reference = Some(reference.trim().to_string());
            }
        }
        Ok(rec)
    }
}
