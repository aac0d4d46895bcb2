//! The retention schedule: how long mandat may keep each kind of data a use produces, and on what
//! legal ground. It is data in the jurisdiction profile; `Control::tick` enforces it, each erasure
//! with a certificate. A legal hold (set by a prosecutor or a court, with reasons) suspends the
//! rules that allow it, for one permit, until it is lifted.
//!
//! Pure: the functions here say what is due; the store erases it.

use serde::{Deserialize, Serialize};

use crate::lifecycle::{Permit, Status};
use crate::permit::UserId;
use crate::review::AlertState;
use crate::time::Timestamp;
use crate::{Actor, Refusal, Role, rule};

/// What a rule erases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Data {
    /// Everything a use produced, with its data key: photos, templates, alerts, reviews, tasks.
    WholeUse,
    /// The reference photos and templates of the persons named in the permit.
    ReferenceData,
    /// The probe crop and the frame of a rejected alert (a misidentified passer-by).
    RejectedAlertMedia,
    /// The crop and the frame of an alert nobody reviewed in time.
    ExpiredAlertMedia,
    /// The crop and the frame of a verified alert.
    VerifiedAlertMedia,
}

/// When a rule's data is due for erasure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind", content = "days")]
pub enum When {
    /// At the refusal of a use that had started urgently, or at its missed deadline.
    Refusal,
    /// When the permit can no longer be used: stopped, expired or refused.
    UseOver,
    /// When the alert reaches the state the rule names (rejected, expired).
    AlertState,
    /// This many days after the use is over.
    DaysAfterUseOver(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Rule {
    /// Stable id, named in certificates and holds.
    pub id: &'static str,
    pub data: Data,
    pub when: When,
    /// The legal ground for erasing (or for keeping until then).
    pub ground: &'static str,
    /// Whether a legal hold suspends it. The erasure that follows a refusal is immediate by law.
    pub holdable: bool,
}

/// A profile's retention schedule, with how long the records of accountability are kept.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Schedule {
    pub rules: &'static [Rule],
    /// How long the audit log is kept, and why.
    pub audit_log: &'static str,
    /// How long the register of notifications to IMY is kept, and why.
    pub imy_register: &'static str,
}

/// Storage limitation in the law-enforcement directive, as Swedish law implements it.
const STORAGE_LIMITATION: &str = "Directive (EU) 2016/680 art. 4(1)(e) and brottsdatalagen (2018:1177): kept no longer than the purpose requires";

/// Sweden: the schedule both Swedish profiles share.
pub const SWEDISH_SCHEDULE: Schedule = Schedule {
    rules: &[
        Rule {
            id: "refused-use",
            data: Data::WholeUse,
            when: When::Refusal,
            ground: "AI Act art. 5(3) and Lag (2026:806): a refused use stops at once and everything it produced is deleted",
            holdable: false,
        },
        Rule {
            id: "reference-data",
            data: Data::ReferenceData,
            when: When::UseOver,
            ground: STORAGE_LIMITATION,
            holdable: true,
        },
        Rule {
            id: "rejected-alert-media",
            data: Data::RejectedAlertMedia,
            when: When::AlertState,
            ground: "AI Act art. 5(1)(h) and Directive (EU) 2016/680 art. 4(1)(e): a face that is not the person sought may not be kept",
            holdable: true,
        },
        Rule {
            id: "expired-alert-media",
            data: Data::ExpiredAlertMedia,
            when: When::AlertState,
            ground: "Directive (EU) 2016/680 art. 4(1)(e): an alert nobody verified identifies nobody and serves no purpose",
            holdable: true,
        },
        Rule {
            id: "verified-alert-media",
            data: Data::VerifiedAlertMedia,
            when: When::DaysAfterUseOver(30),
            ground: "Directive (EU) 2016/680 art. 4(1)(e): kept until the case takes it over as evidence (an export), at most this long, then erased",
            holdable: true,
        },
    ],
    audit_log: "Kept for the life of the installation and exported to the police archive: AI Act art. 12 and 26(6) (at least six months), Directive (EU) 2016/680 art. 25 (logs for verifying lawfulness); it holds no biometric data",
    imy_register: "Kept for the life of the installation: the record of what IMY was told (Lag (2026:806), AI Act art. 5(4)); it holds no personal data of the persons sought",
};

/// A legal hold on a permit's data: the holdable rules do not erase it while the hold stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Hold {
    pub by: UserId,
    pub role: Role,
    pub reason: String,
    pub at: Timestamp,
}

impl Schedule {
    pub fn rule(&self, data: Data) -> Option<&Rule> {
        self.rules.iter().find(|r| r.data == data)
    }

    /// Whether `rule` may erase now for `permit`: not when a hold stands and the rule allows one.
    fn free(&self, rule: &Rule, permit: &Permit) -> bool {
        !(rule.holdable && permit.hold.is_some())
    }

    /// The rule under which the permit's reference photos and templates are due now, if any.
    pub fn reference_data_due(&self, permit: &Permit, now: Timestamp) -> Option<&Rule> {
        let rule = self.rule(Data::ReferenceData)?;
        (use_over(permit, now).is_some() && self.free(rule, permit)).then_some(rule)
    }

    /// What a partial grant left out: the reference photos and templates of its persons, and the
    /// alerts an urgent use raised for its persons or cameras, are due at the decision, with the
    /// rule. A legal hold does not keep them.
    pub fn not_granted_due<'p>(
        &self,
        permit: &'p Permit,
    ) -> Option<(&Rule, &'p crate::lifecycle::Narrowed)> {
        let rule = self.rule(Data::ReferenceData)?;
        let narrowed = permit.decision.as_ref()?.narrowed.as_ref()?;
        // Never held: what was not granted was never lawfully held (as for a refusal).
        (!narrowed.persons_not_granted.is_empty() || !narrowed.cameras_not_granted.is_empty())
            .then_some((rule, narrowed))
    }

    /// The rule under which an alert's crop and frame are due now, if any. A verified alert
    /// exported to the case as an evidence package is due at once: the case file holds it.
    pub fn alert_media_due(
        &self,
        permit: &Permit,
        state: AlertState,
        exported: bool,
        now: Timestamp,
    ) -> Option<&Rule> {
        let rule = match state {
            AlertState::Candidate => return None,
            AlertState::Rejected => self.rule(Data::RejectedAlertMedia)?,
            AlertState::Expired => self.rule(Data::ExpiredAlertMedia)?,
            AlertState::Verified => self.rule(Data::VerifiedAlertMedia)?,
        };
        let due = match rule.when {
            When::AlertState | When::Refusal => true,
            When::UseOver => use_over(permit, now).is_some(),
            When::DaysAfterUseOver(_) if exported => true,
            When::DaysAfterUseOver(days) => use_over(permit, now)
                .is_some_and(|over| now >= over.plus_hours(24 * i64::from(days))),
        };
        (due && self.free(rule, permit)).then_some(rule)
    }
}

/// The schedule of the permit's profile (an unknown profile, which mandat never writes, gets the
/// Swedish one rather than none).
pub fn schedule_of(permit: &Permit) -> Schedule {
    crate::Profile::by_name(&permit.profile)
        .map(|p| p.retention)
        .unwrap_or(SWEDISH_SCHEDULE)
}

/// When the permit stopped being usable, as seen at `now`: its stop, its refusal, or the end of its
/// period (cut at the statute's sunset). `None` while it may still be used (or has not been decided).
pub fn use_over(p: &Permit, now: Timestamp) -> Option<Timestamp> {
    match p.status {
        Status::Stopped => p.stop.as_ref().map(|s| s.at),
        Status::Refused => p.decision.as_ref().map(|d| d.at),
        Status::Overturned => p
            .appeal
            .as_ref()
            .and_then(|a| a.decision.as_ref())
            .map(|d| d.at),
        Status::Granted | Status::UrgentActive | Status::UrgentApplied => {
            let end = p.end_in_force();
            (now >= end).then_some(end)
        }
        Status::Draft | Status::Applied => None,
    }
}

impl Permit {
    /// Put a legal hold on the permit's data: its decider (a prosecutor or judge on its team),
    /// with reasons. A purged permit has nothing left to hold.
    pub fn hold(&mut self, actor: &Actor, reason: &str, now: Timestamp) -> Result<(), Refusal> {
        let role = self.holder_role(actor)?;
        if reason.trim().is_empty() {
            return Err(rule::DECISION_REASONS.refusal("a legal hold states its reason".into()));
        }
        if self.purged {
            return Err(rule::LEGAL_HOLD.refusal(format!(
                "permit {} has been purged; there is nothing left to hold",
                self.id
            )));
        }
        if self.hold.is_some() {
            return Err(rule::LEGAL_HOLD
                .refusal(format!("permit {} is under a legal hold already", self.id)));
        }
        self.hold = Some(Hold {
            by: actor.user.clone(),
            role,
            reason: reason.trim().to_string(),
            at: now,
        });
        Ok(())
    }

    /// Lift the legal hold; the schedule then erases what is due at the next tick.
    pub fn release_hold(&mut self, actor: &Actor) -> Result<Hold, Refusal> {
        self.holder_role(actor)?;
        self.hold.take().ok_or_else(|| {
            rule::LEGAL_HOLD.refusal(format!("permit {} is under no legal hold", self.id))
        })
    }

    /// A hold is set or lifted by a prosecutor or judge on the permit's team.
    fn holder_role(&self, actor: &Actor) -> Result<Role, Refusal> {
        [Role::Judge, Role::Prosecutor]
            .into_iter()
            .find(|r| self.acts_as(actor, *r))
            .ok_or_else(|| {
                rule::LEGAL_HOLD.refusal(format!(
                    "only a prosecutor or judge on the team of permit {} sets or lifts a legal hold",
                    self.id
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::tests::{application, t0};
    use crate::permit::Purpose;

    fn granted() -> Permit {
        let mut p = Permit::draft(
            "P-1".into(),
            &crate::SWEDEN,
            application(Purpose::VictimSearch),
            &Actor::new("officer", &[Role::Applicant]),
            t0(),
        )
        .unwrap();
        p.status = Status::Granted;
        p
    }

    #[test]
    fn reference_data_goes_when_the_use_is_over_unless_held() {
        let s = &SWISH;
        let mut p = granted();
        let end = p.application.period.end;
        assert!(s.reference_data_due(&p, t0()).is_none(), "still in use");
        assert_eq!(
            s.reference_data_due(&p, end).map(|r| r.id),
            Some("reference-data")
        );
        p.hold = Some(Hold {
            by: "pros".into(),
            role: Role::Prosecutor,
            reason: "appeal".into(),
            at: t0(),
        });
        assert!(s.reference_data_due(&p, end).is_none(), "held");
    }

    #[test]
    fn alert_media_follows_the_state_and_the_days() {
        let s = &SWISH;
        let p = granted();
        let end = p.application.period.end;
        assert!(
            s.alert_media_due(&p, AlertState::Candidate, false, end)
                .is_none()
        );
        for st in [AlertState::Rejected, AlertState::Expired] {
            assert!(
                s.alert_media_due(&p, st, false, t0()).is_some(),
                "{st:?} at once"
            );
        }
        assert!(
            s.alert_media_due(&p, AlertState::Verified, false, t0())
                .is_none()
        );
        assert!(
            s.alert_media_due(&p, AlertState::Verified, true, t0())
                .is_some(),
            "exported to the case"
        );
        assert!(
            s.alert_media_due(&p, AlertState::Verified, false, end.plus_hours(24 * 30 - 1))
                .is_none()
        );
        assert_eq!(
            s.alert_media_due(&p, AlertState::Verified, false, end.plus_hours(24 * 30))
                .map(|r| r.id),
            Some("verified-alert-media")
        );
    }

    #[test]
    fn only_the_decider_side_holds_and_with_reasons() {
        let mut p = granted();
        p.team.push(crate::Member {
            user: "pros".into(),
            role: Role::Prosecutor,
            assigned_by: "officer".into(),
            assigned_at: t0(),
        });
        let officer = Actor::new("officer", &[Role::Applicant]);
        let pros = Actor::new("pros", &[Role::Prosecutor]);
        let other = Actor::new("other", &[Role::Prosecutor]);
        assert!(p.hold(&officer, "keep", t0()).is_err());
        assert!(p.hold(&other, "keep", t0()).is_err(), "not on the team");
        assert!(p.hold(&pros, " ", t0()).is_err());
        p.hold(&pros, "the defence asked for the footage", t0())
            .unwrap();
        assert!(p.hold(&pros, "again", t0()).is_err());
        assert_eq!(p.release_hold(&pros).unwrap().by, "pros");
        assert!(p.release_hold(&pros).is_err());
    }

    #[test]
    fn every_rule_states_its_ground_and_refusal_is_never_held() {
        for r in SWISH.rules {
            assert!(r.ground.len() > 20, "{}", r.id);
        }
        assert!(!SWISH.rule(Data::WholeUse).unwrap().holdable);
    }

    const SWISH: Schedule = SWEDISH_SCHEDULE;
}
