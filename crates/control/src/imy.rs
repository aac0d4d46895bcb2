//! The IMY register through the control plane: auditors and admins read it; admins, who send the
//! notifications, record that they were sent and acknowledged. Nothing in it is personal data.

use crate::Session;
use mandat_law::permissions::Action;
use mandat_store::imy::{ImyRecord, ImyStep};

use crate::{Control, Result, require};

impl Control {
    /// The register of notifications, oldest first.
    pub async fn imy_notifications(&self, actor: &Session) -> Result<Vec<ImyRecord>> {
        require(actor, Action::ReadImyRegister)?;
        Ok(self.store.imy_notifications().await?)
    }

    pub async fn imy_notification(&self, actor: &Session, id: &str) -> Result<ImyRecord> {
        require(actor, Action::ReadImyRegister)?;
        Ok(self.store.imy_notification(id).await?)
    }

    /// Record that a notification went to IMY, or IMY's acknowledgement with its reference.
    pub async fn imy_step(
        &self,
        actor: &Session,
        id: &str,
        step: ImyStep,
        origin: &str,
    ) -> Result<ImyRecord> {
        require(actor, Action::RecordImyStep)?;
        let now = self.now()?;
        Ok(self.store.imy_step(actor, id, step, now, origin).await?)
    }
}
