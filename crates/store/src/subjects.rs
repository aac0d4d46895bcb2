//! The register of subject notifications: a task is made in the transaction that verifies an
//! identification, and deferred or completed by the people who hold the case, each step audited.

use mandat_audit::Record;
use mandat_law::subject::SubjectTask;
use mandat_law::{Actor, Timestamp};
use serde_json::json;
use sqlx::Row;

use crate::{Store, StoreError, Tx};

/// A step in a task's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectStep {
    Defer { reason: String, until: Timestamp },
    Complete,
}

pub(crate) fn parse(doc: &str) -> Result<SubjectTask, StoreError> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(format!("subject task: {e}")))
}

impl Store {
    pub(crate) async fn create_subject_task(
        &self,
        tx: &mut Tx<'_>,
        task: &SubjectTask,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO subject_notifications (id, permit_id, due_at, completed_at, doc) VALUES ($1, $2, $3, NULL, $4)",
        )
        .bind(task.id.clone())
        .bind(task.permit.clone())
        .bind(task.due_at.0)
        .bind(serde_json::to_string(task).expect("tasks serialise"))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Every task, the soonest due first.
    pub async fn subject_tasks(&self) -> Result<Vec<SubjectTask>, StoreError> {
        sqlx::query("SELECT doc FROM subject_notifications ORDER BY due_at, id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| parse(&r.try_get::<String, _>("doc")?))
            .collect()
    }

    pub async fn subject_task(&self, id: &str) -> Result<SubjectTask, StoreError> {
        let row = sqlx::query("SELECT doc FROM subject_notifications WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no subject notification {id}")))?;
        parse(&row.try_get::<String, _>("doc")?)
    }

    /// Defer or complete a task under `mandat_law::subject`'s rules. The caller checked the role.
    pub async fn subject_step(
        &self,
        actor: &Actor,
        id: &str,
        step: SubjectStep,
        now: Timestamp,
        origin: &str,
    ) -> Result<SubjectTask, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT doc FROM subject_notifications WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no subject notification {id}")))?;
        let mut task = parse(&row.try_get::<String, _>("doc")?)?;
        let (action, details) = match &step {
            SubjectStep::Defer { reason, until } => {
                task.defer(&actor.user, reason, *until, now)?;
                (
                    "subject.defer",
                    // The reason may be secret case detail: the log keeps that there is one.
                    json!({"task": id, "until": until.0, "reason_chars": reason.trim().chars().count()}),
                )
            }
            SubjectStep::Complete => {
                task.complete(&actor.user, now)?;
                ("subject.notified", json!({"task": id}))
            }
        };
        sqlx::query(
            "UPDATE subject_notifications SET due_at = $1, completed_at = $2, doc = $3 WHERE id = $4",
        )
        .bind(task.due_at.0)
        .bind(task.completed_at.map(|t| t.0))
        .bind(serde_json::to_string(&task).expect("tasks serialise"))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        self.append_audit(
            &mut tx,
            Record {
                at: now.0,
                actor: actor.user.clone(),
                action: action.into(),
                permit: Some(task.permit.clone()),
                origin: origin.into(),
                details,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(task)
    }
}
