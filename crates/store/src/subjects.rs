//! The register of subject notifications: one task per person and permit, made or added to in the
//! transaction that verifies an identification, and moved by the people `mandat_law::subject`
//! names, each step audited.

use mandat_audit::Record;
use mandat_law::Permit;
use mandat_law::subject::SubjectTask;
use mandat_law::{Actor, Profile, Timestamp};
use serde_json::json;
use sqlx::Row;

use crate::{Store, StoreError, Tx};

/// A step in a task's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectStep {
    /// The applicant puts it off (the first time at once, later on a prosecutor's approval).
    Defer { reason: String, until: Timestamp },
    /// The prosecutor of the permit approves or rejects the deferral asked for at `request_at`.
    DecideDeferral {
        approve: bool,
        request_at: Timestamp,
    },
    /// The applicant asks that the person not be notified.
    RequestWaiver { reasons: String },
    /// The permit's decider decides the request made at `request_at`.
    DecideWaiver {
        approve: bool,
        reasons: String,
        request_at: Timestamp,
    },
    /// The applicant records that the person was notified.
    Complete,
}

pub(crate) fn parse(doc: &str) -> Result<SubjectTask, StoreError> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(format!("subject task: {e}")))
}

fn chars(s: &str) -> usize {
    s.trim().chars().count()
}

impl Store {
    /// A verified identification of `person` under `permit`: a task for them, or one more
    /// identification on the task they have.
    pub(crate) async fn note_identification(
        &self,
        tx: &mut Tx<'_>,
        permit: &Permit,
        profile: &Profile,
        alert: &str,
        person: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let id = mandat_law::subject::task_id(&permit.id, person);
        let task = SubjectTask::new(alert, &permit.id, &person.to_string(), now);
        // A concurrent verification of the same person may have made the task a moment ago: then
        // this identification joins it.
        let made = sqlx::query(
            "INSERT INTO subject_notifications (id, permit_id, due_at, completed_at, doc) VALUES ($1, $2, $3, NULL, $4) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id.clone())
        .bind(permit.id.clone())
        .bind(task.due_at(permit, profile).0)
        .bind(serde_json::to_string(&task).expect("tasks serialise"))
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if made == 1 {
            return Ok(());
        }
        let row = sqlx::query("SELECT doc FROM subject_notifications WHERE id = $1")
            .bind(id)
            .fetch_one(&mut **tx)
            .await?;
        let mut task = parse(&row.try_get::<String, _>("doc")?)?;
        task.add_identification(alert);
        self.write_subject_task(tx, &task, permit, profile).await
    }

    async fn write_subject_task(
        &self,
        tx: &mut Tx<'_>,
        task: &SubjectTask,
        permit: &Permit,
        profile: &Profile,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE subject_notifications SET due_at = $1, completed_at = $2, doc = $3 WHERE id = $4",
        )
        .bind(task.due_at(permit, profile).0)
        .bind(task.completed_at.map(|t| t.0))
        .bind(serde_json::to_string(task).expect("tasks serialise"))
        .bind(task.id.clone())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Tasks made before one task per person (one per alert, id `S-<alert>`) merged into the one
    /// task of their person and permit, once, in one transaction: identifications and deferrals
    /// joined, the latest deferral current. The merged task counts as notified only if every
    /// task it joins was, so no open duty is lost. Returns how many tasks were merged away.
    pub async fn merge_legacy_subject_tasks(&self) -> Result<u64, StoreError> {
        // Each open asks one cheap question first: a task id of the new shape starts with its
        // permit's id (alert ids never do), so without an old one no write transaction is taken.
        let legacy = sqlx::query(
            "SELECT id FROM subject_notifications WHERE id NOT LIKE 'S-' || permit_id || '-%' LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        if legacy.is_none() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let mut groups: std::collections::BTreeMap<String, Vec<(String, SubjectTask)>> =
            Default::default();
        for r in sqlx::query("SELECT id, doc FROM subject_notifications ORDER BY id")
            .fetch_all(&mut *tx)
            .await?
        {
            let id: String = r.try_get("id")?;
            let task = match parse(&r.try_get::<String, _>("doc")?) {
                Ok(t) => t,
                // Left as it is, and named; a listing reports it as corrupt.
                Err(_) => {
                    tracing::error!("subject task {id} cannot be read: not merged");
                    continue;
                }
            };
            let key = mandat_law::subject::task_id(&task.permit, &task.person);
            groups.entry(key).or_default().push((id, task));
        }
        let mut merged = 0;
        for (key, tasks) in groups {
            if tasks.iter().all(|(id, _)| *id == key) {
                continue;
            }
            let first = &tasks[0].1;
            let mut task = SubjectTask::new("", &first.permit, &first.person, first.created_at);
            task.alerts.clear();
            let all_notified = tasks.iter().all(|(_, t)| t.completed_at.is_some());
            for (_, t) in &tasks {
                task.created_at = task.created_at.min(t.created_at);
                for a in &t.alerts {
                    task.add_identification(a);
                }
                task.deferrals.extend(t.deferrals.iter().cloned());
                task.rejected.extend(t.rejected.iter().cloned());
                task.waivers.extend(t.waivers.iter().cloned());
            }
            task.deferrals.sort_by_key(|d| (d.until, d.at));
            task.waivers.sort_by_key(|w| w.at);
            if all_notified {
                let last = tasks
                    .iter()
                    .filter_map(|(_, t)| Some((t.completed_at?, t.completed_by.clone()?)))
                    .max_by_key(|(at, _)| *at);
                if let Some((at, by)) = last {
                    task.completed_at = Some(at);
                    task.completed_by = Some(by);
                }
            }
            for (id, _) in &tasks {
                sqlx::query("DELETE FROM subject_notifications WHERE id = $1")
                    .bind(id.clone())
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO subject_notifications (id, permit_id, due_at, completed_at, doc) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(key.clone())
            .bind(task.permit.clone())
            .bind(task.deferrals.last().map_or(task.created_at.0, |d| d.until.0))
            .bind(task.completed_at.map(|t| t.0))
            .bind(serde_json::to_string(&task).expect("tasks serialise"))
            .execute(&mut *tx)
            .await?;
            merged += tasks.iter().filter(|(id, _)| *id != key).count() as u64;
            self.append_audit(
                &mut tx,
                Record {
                    // At the newest entry's time: a store opened under a clock behind it
                    // must not write the log's future.
                    at: self
                        .high_water
                        .load(std::sync::atomic::Ordering::SeqCst)
                        .max(task.created_at.0),
                    actor: "system".into(),
                    action: "subject.merged".into(),
                    permit: Some(task.permit.clone()),
                    origin: "store".into(),
                    details: json!({"task": key, "from": tasks.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>()}),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(merged)
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

    /// Take a step on a task under `mandat_law::subject`'s rules, which name who may take it. The
    /// caller checked the role and that the actor may see the permit.
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
        // The permit as it is now, inside the transaction: its end of use sets the due date.
        let permit = self.load_permit(&mut *tx, &task.permit).await?;
        let profile = Profile::by_name(&permit.profile).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "permit {} names the profile {}, which this mandat does not know",
                permit.id, permit.profile
            ))
        })?;
        // Reasons may be secret case detail: the log keeps that there are some, not what.
        let (action, details) = match &step {
            SubjectStep::Defer { reason, until } => {
                let in_effect = task.defer(actor, &permit, profile, reason, *until, now)?;
                (
                    if in_effect {
                        "subject.defer"
                    } else {
                        "subject.defer_requested"
                    },
                    json!({"task": id, "until": until.0, "reason_chars": chars(reason)}),
                )
            }
            SubjectStep::DecideDeferral {
                approve,
                request_at,
            } => {
                let until = task.requested.as_ref().map(|d| d.until.0);
                task.decide_deferral(actor, &permit, profile, *approve, *request_at, now)?;
                (
                    if *approve {
                        "subject.defer_approved"
                    } else {
                        "subject.defer_rejected"
                    },
                    json!({"task": id, "until": until}),
                )
            }
            SubjectStep::RequestWaiver { reasons } => {
                task.request_waiver(actor, &permit, reasons, now)?;
                (
                    "subject.waiver_requested",
                    json!({"task": id, "reasons_chars": chars(reasons)}),
                )
            }
            SubjectStep::DecideWaiver {
                approve,
                reasons,
                request_at,
            } => {
                task.decide_waiver(actor, &permit, *approve, reasons, *request_at, now)?;
                (
                    if *approve {
                        "subject.waived"
                    } else {
                        "subject.waiver_refused"
                    },
                    json!({"task": id, "reasons_chars": chars(reasons)}),
                )
            }
            SubjectStep::Complete => {
                task.complete(actor, &permit, now)?;
                ("subject.notified", json!({"task": id}))
            }
        };
        self.write_subject_task(&mut tx, &task, &permit, profile)
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
