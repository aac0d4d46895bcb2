//! Subject notifications through the control plane. Who sees a task: the permit's applicant, who
//! holds the case; a prosecutor of the permit, who approves later deferrals; its decider, who
//! decides a waiver; and the agency's auditors, overdue tasks flagged. Nobody else learns that a
//! task exists. `mandat_law::subject` says who may take which step.

use crate::Session;
use mandat_law::subject::{Awaiting, Closed, SubjectTask};
use mandat_law::{Permit, Profile, Role, Timestamp};
use mandat_store::subjects::SubjectStep;
use serde::Serialize;

use crate::{Control, Result, knows, require};
use mandat_law::permissions::Action;
use mandat_store::StoreError;

/// A task as shown: the task, when it is due, and where it stands now.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SubjectView {
    #[serde(flatten)]
    pub task: SubjectTask,
    /// At the end of the use, or the current deferral's date.
    pub due_at: Timestamp,
    pub overdue: bool,
    /// A request waiting for a prosecutor or the decider.
    pub awaiting: Option<Awaiting>,
    pub closed: Option<Closed>,
    /// When the request waiting for a decision was made: a decision names it (`request_at`).
    pub pending_at: Option<Timestamp>,
    /// What the asking user may do with it now (`done`, `defer`, `waiver`, `defer_decision`,
    /// `waiver_decision`).
    pub steps: Vec<String>,
}

/// Whether `actor` sees the notifications of `permit`: the law's parties, and the agency's
/// auditors.
fn takes_part(actor: &Session, permit: &Permit) -> bool {
    knows(actor, permit)
        && (actor.has(Role::Auditor) || mandat_law::subject::has_part(permit, actor))
}

fn view(actor: &Session, task: SubjectTask, permit: &Permit, now: Timestamp) -> SubjectView {
    // A permit of a profile this mandat does not know is refused before it gets tasks; were one
    // there, its task shows as due now rather than never, and offers no step.
    let profile = Profile::by_name(&permit.profile);
    let due_at = profile.map_or(now, |p| task.due_at(permit, p));
    let overdue = profile.map_or(task.closed().is_none(), |p| task.is_overdue(permit, p, now));
    let steps = profile.map_or_else(Vec::new, |p| {
        let steps = task.steps(actor, permit, p, now);
        steps.into_iter().map(String::from).collect()
    });
    SubjectView {
        due_at,
        steps,
        overdue,
        awaiting: task.awaiting(),
        pending_at: task.pending_at(),
        closed: task.closed(),
        task,
    }
}

impl Control {
    /// Tasks the actor may see, the soonest due first.
    pub async fn subject_tasks(&self, actor: &Session, origin: &str) -> Result<Vec<SubjectView>> {
        require(actor, Action::ReadSubjectTasks)?;
        let now = self.now()?;
        let permits: Vec<Permit> = self
            .known_permits(actor)
            .await?
            .into_iter()
            .filter(|p| takes_part(actor, p))
            .collect();
        let mut tasks: Vec<SubjectView> = self
            .store
            .subject_tasks()
            .await?
            .into_iter()
            .filter_map(|t| {
                let p = permits.iter().find(|p| p.id == t.permit)?;
                Some(view(actor, t, p, now))
            })
            .collect();
        tasks.sort_by(|a, b| (a.due_at, &a.task.id).cmp(&(b.due_at, &b.task.id)));
        let ids: Vec<&str> = tasks.iter().map(|t| t.task.id.as_str()).collect();
        self.record_read(
            actor,
            "read.subjects",
            None,
            serde_json::json!({ "ids": ids }),
            origin,
        )
        .await?;
        Ok(tasks)
    }

    /// Take a step on a task. The law names who may take which: the applicant defers, asks not
    /// to notify and records the notification; a prosecutor of the permit decides a deferral;
    /// the decider decides a waiver.
    pub async fn subject_step(
        &self,
        actor: &Session,
        id: &str,
        step: SubjectStep,
        origin: &str,
    ) -> Result<SubjectView> {
        // Who before what: other roles learn nothing about which tasks exist.
        let action = match step {
            SubjectStep::DecideDeferral { .. } | SubjectStep::DecideWaiver { .. } => {
                Action::DecideSubjectTask
            }
            _ => Action::HandleSubjectTask,
        };
        require(actor, action)?;
        let missing = || StoreError::NotFound(format!("no subject notification {id}"));
        let task = self.store.subject_task(id).await?;
        let permit = self.store.permit(&task.permit).await?;
        // A task of a permit the actor has no part in answers as one that does not exist.
        if !takes_part(actor, &permit) {
            return Err(missing().into());
        }
        let now = self.now()?;
        let task = self
            .store
            .subject_step(actor, id, step, now, origin)
            .await?;
        let permit = self.store.permit(&task.permit).await?;
        Ok(view(actor, task, &permit, now))
    }
}
