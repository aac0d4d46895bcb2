//! Subject notifications through the control plane: the applicant of a permit sees and handles the
//! tasks of that permit; auditors see every task, overdue ones flagged. Nobody else sees them.

use crate::Session;
use mandat_law::Role;
use mandat_law::subject::SubjectTask;
use mandat_store::subjects::SubjectStep;
use serde::Serialize;

use crate::{Control, Result, require};
use mandat_law::permissions::Action;
use mandat_store::StoreError;

/// A task as shown: the task and whether it is overdue now.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SubjectView {
    #[serde(flatten)]
    pub task: SubjectTask,
    pub overdue: bool,
}

impl Control {
    /// Tasks the actor may see, the soonest due first.
    pub async fn subject_tasks(&self, actor: &Session, origin: &str) -> Result<Vec<SubjectView>> {
        require(actor, Action::ReadSubjectTasks)?;
        let auditor = actor.has(Role::Auditor);
        let now = self.now()?;
        // Auditors see every task of their agency; applicants those of their own permits.
        let mine: Vec<String> = self
            .known_permits(actor)
            .await?
            .into_iter()
            .filter(|p| auditor || p.applicant == actor.user)
            .map(|p| p.id)
            .collect();
        let tasks: Vec<SubjectView> = self
            .store
            .subject_tasks()
            .await?
            .into_iter()
            .filter(|t| mine.contains(&t.permit))
            .map(|task| SubjectView {
                overdue: task.is_overdue(now),
                task,
            })
            .collect();
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

    /// Defer or complete a task: only the applicant of its permit, who holds the case.
    pub async fn subject_step(
        &self,
        actor: &Session,
        id: &str,
        step: SubjectStep,
        origin: &str,
    ) -> Result<SubjectTask> {
        // Who before what: other roles learn nothing about which tasks exist.
        require(actor, Action::HandleSubjectTask)?;
        let task = self.store.subject_task(id).await?;
        let permit = self.store.permit(&task.permit).await?;
        // Another applicant's task answers as one that does not exist: ids do not leak.
        if permit.applicant != actor.user || !actor.works_for(permit.application.agency) {
            return Err(StoreError::NotFound(format!("no subject notification {id}")).into());
        }
        let now = self.now()?;
        Ok(self
            .store
            .subject_step(actor, id, step, now, origin)
            .await?)
    }
}
