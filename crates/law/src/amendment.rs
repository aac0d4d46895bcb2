//! Amendments: adding cameras to a granted permit.
//!
//! The decision binds the exact cameras named (see [`crate::permit::Area::covers`]); a camera
//! added later, even inside the polygon that helped choose them, is analysed only after an
//! amendment naming it is decided like the permit: by the same court or prosecutor, on the
//! applicant's request with reasons, never by the applicant.

use serde::{Deserialize, Serialize};

use crate::lifecycle::{Outcome, Permit, Status};
use crate::permit::{CameraId, UserId};
use crate::profile::{Authority, Profile};
use crate::roles::Actor;
use crate::time::Timestamp;
use crate::{Refusal, rule};

/// A request to add cameras to a granted permit, and its decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Amendment {
    /// 1 for the permit's first amendment, and so on.
    pub number: u32,
    /// The cameras to add, each registered when the request was filed.
    pub cameras: Vec<CameraId>,
    /// Why the permit's purpose needs them. Sealed under the permit's key at rest.
    pub reasons: String,
    pub filed_by: UserId,
    pub filed_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<AmendmentDecision>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AmendmentDecision {
    pub by: UserId,
    pub authority: Authority,
    pub at: Timestamp,
    pub outcome: Outcome,
    /// Sealed under the permit's key at rest.
    pub reasons: String,
}

impl Permit {
    /// The amendment waiting for a decision, if any: one at a time.
    pub fn open_amendment(&self) -> Option<&Amendment> {
        self.amendments.iter().find(|a| a.decision.is_none())
    }

    /// Whether `actor` may ask to amend the permit: its applicant only. Checked before anything
    /// about the request, so a refusal tells nobody else more.
    pub fn may_amend(&self, actor: &Actor) -> Result<(), Refusal> {
        if actor.user != self.applicant {
            return Err(rule::NOT_APPLICANT.refusal(format!(
                "{} may not amend permit {}: only its applicant may ask to add cameras",
                actor.user, self.id
            )));
        }
        Ok(())
    }

    /// The applicant asks to add `cameras` to a granted permit still in its period. The caller
    /// has checked that each camera is registered.
    pub fn file_amendment(
        &mut self,
        actor: &Actor,
        cameras: &[CameraId],
        reasons: &str,
        now: Timestamp,
    ) -> Result<(), Refusal> {
        self.may_amend(actor)?;
        if self.status != Status::Granted || now >= self.application.period.end {
            return Err(rule::WRONG_STATE.refusal(format!(
                "permit {} is {:?}: only a granted permit within its period is amended; apply anew otherwise",
                self.id, self.status
            )));
        }
        let refuse = |m: String| Err(rule::AMENDMENT.refusal(m));
        if self.appeal.as_ref().is_some_and(|a| a.decision.is_none()) {
            return refuse(format!(
                "the grant of permit {} is under appeal: no camera is added before the higher instance decides",
                self.id
            ));
        }
        if let Some(open) = self.open_amendment() {
            return refuse(format!(
                "amendment {} of permit {} waits for its decision; one at a time",
                open.number, self.id
            ));
        }
        if cameras.is_empty() {
            return refuse("an amendment names at least one camera".into());
        }
        for (i, c) in cameras.iter().enumerate() {
            if self.application.area.covers(c) || cameras[..i].contains(c) {
                return refuse(format!("camera {c} is already covered or named twice"));
            }
        }
        if reasons.trim().is_empty() {
            return refuse("an amendment states why the purpose needs the cameras".into());
        }
        self.amendments.push(Amendment {
            number: self.amendments.len() as u32 + 1,
            cameras: cameras.to_vec(),
            reasons: reasons.to_string(),
            filed_by: actor.user.clone(),
            filed_at: now,
            decision: None,
        });
        Ok(())
    }

    /// Whether `actor` decides this permit's amendments: its own court or prosecutor, never its
    /// applicant. Returns the authority. Checked before anything about the request.
    pub fn may_decide_amendment(
        &self,
        actor: &Actor,
        profile: &Profile,
    ) -> Result<Authority, Refusal> {
        let needed = profile.rule(self.application.purpose).decider;
        if actor.user == self.applicant {
            return Err(rule::SAME_PERSON.refusal(format!(
                "{} applied for permit {} and cannot decide on its amendment",
                actor.user, self.id
            )));
        }
        if !actor.holds(needed) || self.decider(profile).is_none_or(|m| m.user != actor.user) {
            return Err(rule::WRONG_DECIDER.refusal(format!(
                "an amendment of permit {} is decided by its {:?}, and {} is not it",
                self.id, needed, actor.user
            )));
        }
        Ok(needed)
    }

    /// The permit's decider decides the open amendment, named by its `number` (so a replayed or
    /// stale decision never lands on a later amendment). A grant adds its cameras to the area,
    /// from now on, including any a partial grant had left out; a refusal changes nothing else.
    pub fn decide_amendment(
        &mut self,
        actor: &Actor,
        profile: &Profile,
        number: u32,
        outcome: Outcome,
        reasons: &str,
        now: Timestamp,
    ) -> Result<(), Refusal> {
        let needed = self.may_decide_amendment(actor, profile)?;
        if self.status != Status::Granted || now >= self.application.period.end {
            return Err(rule::WRONG_STATE.refusal(format!(
                "permit {} is {:?} or past its period: its amendment can no longer be granted",
                self.id, self.status
            )));
        }
        if reasons.trim().is_empty() {
            return Err(rule::DECISION_REASONS.refusal("the decision has no reasons".into()));
        }
        if outcome == Outcome::Grant {
            profile.check_in_force("grant the amendment", now)?;
            if self.appeal.as_ref().is_some_and(|a| a.decision.is_none()) {
                return Err(rule::AMENDMENT.refusal(format!(
                    "the grant of permit {} is under appeal: no camera is added before the higher instance decides",
                    self.id
                )));
            }
        }
        let Some(open) = self
            .amendments
            .iter_mut()
            .find(|a| a.decision.is_none() && a.number == number)
        else {
            return Err(rule::AMENDMENT.refusal(format!(
                "amendment {number} of permit {} is not waiting for a decision",
                self.id
            )));
        };
        open.decision = Some(AmendmentDecision {
            by: actor.user.clone(),
            authority: needed,
            at: now,
            outcome,
            reasons: reasons.to_string(),
        });
        if outcome == Outcome::Grant {
            let cameras = open.cameras.clone();
            // A camera the decision first left out is granted now: what it finds from here on
            // is within the permit (the first decision's record stays in the audit log).
            if let Some(n) = self.decision.as_mut().and_then(|d| d.narrowed.as_mut()) {
                n.cameras_not_granted.retain(|c| !cameras.contains(c));
            }
            self.application.area.cameras.extend(cameras);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::name_decider;
    use crate::lifecycle::tests::{application, t0};
    use crate::permit::Purpose;
    use crate::profile::SWEDEN;
    use crate::roles::Role;

    fn granted() -> (Permit, Actor, Actor) {
        let officer = Actor::new("officer", &[Role::Applicant]);
        let pros = Actor::new("pros", &[Role::Prosecutor]);
        let mut p = Permit::draft(
            "P-1".into(),
            &SWEDEN,
            application(Purpose::VictimSearch),
            &officer,
            t0(),
        )
        .unwrap();
        name_decider(&mut p, &pros);
        p.apply(&officer, &SWEDEN, t0()).unwrap();
        p.decide(&pros, &SWEDEN, Outcome::Grant, "ok", t0())
            .unwrap();
        (p, officer, pros)
    }

    #[test]
    fn a_camera_is_added_only_when_the_decider_grants_the_amendment() {
        let (mut p, officer, pros) = granted();
        let new = vec!["cam-new".to_string()];
        assert!(!p.application.area.covers("cam-new"));
        // Only the applicant asks, with reasons; the applicant never decides.
        let other = Actor::new("other", &[Role::Applicant]);
        assert_eq!(
            p.file_amendment(&other, &new, "r", t0()).unwrap_err().code,
            "not_applicant"
        );
        assert_eq!(
            p.file_amendment(&officer, &new, " ", t0())
                .unwrap_err()
                .code,
            "amendment"
        );
        p.file_amendment(&officer, &new, "she moved north", t0())
            .unwrap();
        assert!(
            !p.application.area.covers("cam-new"),
            "not before the decision"
        );
        assert_eq!(
            p.file_amendment(&officer, &["cam-x".into()], "r", t0())
                .unwrap_err()
                .code,
            "amendment",
            "one at a time"
        );
        assert_eq!(
            p.decide_amendment(&officer, &SWEDEN, 1, Outcome::Grant, "ok", t0())
                .unwrap_err()
                .code,
            "separation_of_duties"
        );
        let stranger = Actor::new("pros2", &[Role::Prosecutor]);
        assert_eq!(
            p.decide_amendment(&stranger, &SWEDEN, 1, Outcome::Grant, "ok", t0())
                .unwrap_err()
                .code,
            "wrong_decider"
        );
        // A decision names the amendment it decides.
        assert_eq!(
            p.decide_amendment(&pros, &SWEDEN, 2, Outcome::Grant, "needed", t0())
                .unwrap_err()
                .code,
            "amendment"
        );
        p.decide_amendment(&pros, &SWEDEN, 1, Outcome::Grant, "needed", t0())
            .unwrap();
        assert!(p.application.area.covers("cam-new"));
        assert!(p.open_amendment().is_none());
        // A covered camera cannot be asked for again; a refused amendment adds nothing.
        assert_eq!(
            p.file_amendment(&officer, &new, "r", t0())
                .unwrap_err()
                .code,
            "amendment"
        );
        p.file_amendment(&officer, &["cam-2".into()], "r", t0())
            .unwrap();
        // A decision replayed for amendment 1 does not land on amendment 2.
        assert_eq!(
            p.decide_amendment(&pros, &SWEDEN, 1, Outcome::Grant, "needed", t0())
                .unwrap_err()
                .code,
            "amendment"
        );
        p.decide_amendment(&pros, &SWEDEN, 2, Outcome::Refuse, "no", t0())
            .unwrap();
        assert!(!p.application.area.covers("cam-2"));
        assert_eq!(p.amendments.len(), 2);
    }

    #[test]
    fn only_a_granted_permit_in_its_period_is_amended() {
        let (mut p, officer, _) = granted();
        let end = p.application.period.end;
        assert_eq!(
            p.file_amendment(&officer, &["cam-new".into()], "r", end)
                .unwrap_err()
                .code,
            "wrong_state"
        );
        p.stop(&officer, "found", t0()).unwrap();
        assert_eq!(
            p.file_amendment(&officer, &["cam-new".into()], "r", t0())
                .unwrap_err()
                .code,
            "wrong_state"
        );
    }
}
