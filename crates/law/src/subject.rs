//! Notifying a person identified or located through mandat afterwards (underrättelse), by the
//! motion's rule: "as soon as it can be done without harming the purpose".
//!
//! - One task per person and permit, made at the first verified identification; later ones are
//!   added to it.
//! - It falls due when the use ends (plus the profile's days), not a fixed time after the hit.
//! - The applicant, who holds the case, may defer it once on their own. Every later deferral
//!   needs a prosecutor of the permit, and each runs to a set date at most
//!   [`MAX_DEFERRAL_DAYS`] ahead.
//! - "Will not be notified" needs the decider's approval, with reasons on both sides.
//!
//! Which purposes notify is profile data ([`Profile::notifies_subject`]).

use serde::{Deserialize, Deserializer, Serialize};

use crate::lifecycle::{Permit, decider_role};
use crate::permit::{PersonId, UserId};
use crate::profile::{Applicant, Profile};
use crate::roles::{Actor, Role};
use crate::time::{DAY, Timestamp};
use crate::{Refusal, rule};

/// Deferrals longer than this need a fresh decision each time: no open-ended secrecy.
pub const MAX_DEFERRAL_DAYS: i64 = 366;

/// The longest reason mandat takes, in characters.
pub const MAX_REASON: usize = 4_000;

/// The id of the one task for `person` under `permit`.
pub fn task_id(permit: &str, person: &str) -> String {
    format!("S-{permit}-{person}")
}

/// A deferral: why notifying now would harm the purpose, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Deferral {
    pub at: Timestamp,
    pub by: UserId,
    /// Why notifying now would harm the purpose (for example secrecy of the investigation).
    pub reason: String,
    pub until: Timestamp,
    /// The prosecutor who approved it: every deferral after the first, unless a prosecutor of the
    /// permit made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<Timestamp>,
}

/// A deferral a prosecutor rejected: kept with who rejected it and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rejection {
    pub request: Deferral,
    pub by: UserId,
    pub at: Timestamp,
}

/// A request that the person not be notified at all, and the decider's decision on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Waiver {
    pub at: Timestamp,
    pub by: UserId,
    pub reasons: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<WaiverDecision>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WaiverDecision {
    pub by: UserId,
    pub at: Timestamp,
    /// Whether the decider agreed that the person will not be notified.
    pub approved: bool,
    pub reasons: String,
}

/// Who a task waits for, if anyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Awaiting {
    /// A deferral after the first, for a prosecutor of the permit to approve.
    Prosecutor,
    /// A waiver, for the permit's decider.
    Decider,
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Closed {
    Notified,
    /// The decider approved that the person will not be notified.
    Waived,
}

/// The notification of one designated person found under one permit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubjectTask {
    /// `S-<permit>-<person>` ([`task_id`]).
    pub id: String,
    pub permit: String,
    /// The designated person (the permit's id for them).
    pub person: PersonId,
    /// The verified identifications of the person, the first first. A task made before one task per
    /// person held one alert under `alert`.
    #[serde(alias = "alert", deserialize_with = "one_or_more")]
    pub alerts: Vec<String>,
    /// The first verified identification.
    pub created_at: Timestamp,
    /// The deferrals in effect, the current one last.
    pub deferrals: Vec<Deferral>,
    /// A deferral asked for and waiting for a prosecutor's approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<Deferral>,
    /// Deferrals a prosecutor rejected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<Rejection>,
    /// Requests not to notify and their decisions, the current one last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waivers: Vec<Waiver>,
    pub completed_at: Option<Timestamp>,
    pub completed_by: Option<UserId>,
}

/// One alert id (a task from before one task per person) or a list of them.
fn one_or_more<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMore {
        One(String),
        More(Vec<String>),
    }
    Ok(match OneOrMore::deserialize(d)? {
        OneOrMore::One(s) => vec![s],
        OneOrMore::More(v) => v,
    })
}

fn refuse(rule: crate::LegalRule, message: impl Into<String>) -> Refusal {
    rule.refusal(message.into())
}

fn reason_text(rule: crate::LegalRule, what: &str, reason: &str) -> Result<String, Refusal> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(refuse(rule, format!("{what} states its reasons")));
    }
    if reason.chars().count() > MAX_REASON {
        return Err(refuse(
            rule,
            format!("{what}'s reasons are longer than {MAX_REASON} characters: shorten them"),
        ));
    }
    Ok(reason.to_string())
}

/// Whether `actor` is the prosecutor on the permit's team (who decided it, or it is filed to).
fn team_prosecutor(permit: &Permit, actor: &Actor) -> bool {
    actor.has(Role::Prosecutor)
        && permit
            .team
            .iter()
            .any(|m| m.user == actor.user && m.role == Role::Prosecutor)
}

/// Whether `actor` has a part in the notifications of `permit`: its applicant, its prosecutor, or
/// whoever decided it. (Auditors read them as well; the control plane adds them.)
pub fn has_part(permit: &Permit, actor: &Actor) -> bool {
    permit.applicant == actor.user
        || team_prosecutor(permit, actor)
        || permit.decision.as_ref().is_some_and(|d| d.by == actor.user)
}

/// The request a decision is about must be the one shown to the decider: a click from an old
/// page never decides a newer request.
fn same_request(
    rule: crate::LegalRule,
    id: &str,
    shown: Timestamp,
    now: Timestamp,
) -> Result<(), Refusal> {
    if shown == now {
        Ok(())
    } else {
        Err(refuse(
            rule,
            format!(
                "the request on {id} has changed since it was shown: reload it and decide again"
            ),
        ))
    }
}

impl SubjectTask {
    /// The task for the person of the verified identification `alert`.
    pub fn new(alert: &str, permit: &str, person: &PersonId, verified_at: Timestamp) -> Self {
        Self {
            id: task_id(permit, person),
            permit: permit.to_string(),
            person: person.clone(),
            alerts: vec![alert.to_string()],
            created_at: verified_at,
            deferrals: Vec::new(),
            requested: None,
            rejected: Vec::new(),
            waivers: Vec::new(),
            completed_at: None,
            completed_by: None,
        }
    }

    /// Another verified identification of the same person: the same task.
    pub fn add_identification(&mut self, alert: &str) {
        if !self.alerts.iter().any(|a| a == alert) {
            self.alerts.push(alert.to_string());
        }
    }

    /// How the task ended, if it has.
    pub fn closed(&self) -> Option<Closed> {
        if self.completed_at.is_some() {
            Some(Closed::Notified)
        } else if self
            .waivers
            .last()
            .and_then(|w| w.decision.as_ref())
            .is_some_and(|d| d.approved)
        {
            Some(Closed::Waived)
        } else {
            None
        }
    }

    /// Who the task waits for: a requested deferral or waiver not yet decided.
    pub fn awaiting(&self) -> Option<Awaiting> {
        if self.closed().is_some() {
            None
        } else if self.requested.is_some() {
            Some(Awaiting::Prosecutor)
        } else if self.waivers.last().is_some_and(|w| w.decision.is_none()) {
            Some(Awaiting::Decider)
        } else {
            None
        }
    }

    /// When the person is to be notified: at the end of the permit's use (plus the profile's
    /// days), or the current deferral's date.
    pub fn due_at(&self, permit: &Permit, profile: &Profile) -> Timestamp {
        match self.deferrals.last() {
            Some(d) => d.until,
            None => {
                Timestamp(permit.use_end().0 + i64::from(profile.subject_notification_days) * DAY)
            }
        }
    }

    pub fn is_overdue(&self, permit: &Permit, profile: &Profile, now: Timestamp) -> bool {
        self.closed().is_none() && now >= self.due_at(permit, profile)
    }

    /// The request waiting for a decision, by when it was made: a decision names it.
    pub fn pending_at(&self) -> Option<Timestamp> {
        match self.awaiting()? {
            Awaiting::Prosecutor => self.requested.as_ref().map(|d| d.at),
            Awaiting::Decider => self.waivers.last().map(|w| w.at),
        }
    }

    /// The applicant, who holds the case, handles the task.
    fn holder(permit: &Permit, actor: &Actor) -> Result<(), Refusal> {
        if actor.user == permit.applicant {
            Ok(())
        } else {
            Err(refuse(
                rule::SUBJECT_HOLDER,
                format!(
                    "{} does not hold the case of {}: its applicant handles the notification",
                    actor.user, permit.id
                ),
            ))
        }
    }

    fn open(&self) -> Result<(), Refusal> {
        match self.closed() {
            Some(Closed::Notified) => Err(refuse(
                rule::SUBJECT_NOTIFICATION,
                format!("the person of {} has been notified already", self.id),
            )),
            Some(Closed::Waived) => Err(refuse(
                rule::SUBJECT_NOTIFICATION,
                format!(
                    "the decider approved that the person of {} is not notified",
                    self.id
                ),
            )),
            None => Ok(()),
        }
    }

    fn nothing_pending(&self) -> Result<(), Refusal> {
        match self.awaiting() {
            Some(Awaiting::Prosecutor) => Err(refuse(
                rule::SUBJECT_DEFERRAL,
                format!(
                    "a deferral of {} waits for a prosecutor's approval: one request at a time",
                    self.id
                ),
            )),
            Some(Awaiting::Decider) => Err(refuse(
                rule::SUBJECT_WAIVER,
                format!(
                    "a request not to notify the person of {} waits for the decider: one request at a time",
                    self.id
                ),
            )),
            None => Ok(()),
        }
    }

    fn check_until(
        &self,
        until: Timestamp,
        permit: &Permit,
        profile: &Profile,
        now: Timestamp,
    ) -> Result<(), Refusal> {
        let due = self.due_at(permit, profile);
        if until <= now || until <= due || until.0 - now.0 > MAX_DEFERRAL_DAYS * DAY {
            return Err(refuse(
                rule::SUBJECT_DEFERRAL,
                format!(
                    "the new date must be after today and after the current due date {due}, and at most {MAX_DEFERRAL_DAYS} days ahead"
                ),
            ));
        }
        Ok(())
    }

    /// Put the notification off to `until`, with the reason it would harm the purpose now. The
    /// first deferral takes effect at once; a later one waits for a prosecutor's approval unless a
    /// prosecutor of the permit asks. Returns whether it took effect.
    pub fn defer(
        &mut self,
        actor: &Actor,
        permit: &Permit,
        profile: &Profile,
        reason: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, Refusal> {
        Self::holder(permit, actor)?;
        self.open()?;
        self.nothing_pending()?;
        let reason = reason_text(rule::SUBJECT_DEFERRAL, "a deferral", reason)?;
        self.check_until(until, permit, profile, now)?;
        let deferral = Deferral {
            at: now,
            by: actor.user.clone(),
            reason,
            until,
            approved_by: None,
            approved_at: None,
        };
        // Where the profile has a prosecutor apply, the holder is the prosecutor, and their later
        // deferrals are a prosecutor's. The account's roles alone do not make a police applicant
        // one.
        let prosecutor_holds = profile.rule(permit.application.purpose).applicant
            == Applicant::Prosecutor
            && actor.has(Role::Prosecutor);
        if self.deferrals.is_empty() || prosecutor_holds {
            self.deferrals.push(deferral);
            Ok(true)
        } else {
            self.requested = Some(deferral);
            Ok(false)
        }
    }

    /// The prosecutor on the permit's team, not the one who asked, approves or rejects the
    /// deferral asked for at `request_at`.
    pub fn decide_deferral(
        &mut self,
        actor: &Actor,
        permit: &Permit,
        profile: &Profile,
        approve: bool,
        request_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), Refusal> {
        if !team_prosecutor(permit, actor) {
            return Err(refuse(
                rule::SUBJECT_HOLDER,
                format!(
                    "{} is not a prosecutor of {}: a prosecutor who works on the permit approves a deferral",
                    actor.user, permit.id
                ),
            ));
        }
        self.open()?;
        let Some(mut d) = self.requested.clone() else {
            return Err(refuse(
                rule::SUBJECT_DEFERRAL,
                format!("no deferral of {} waits for approval", self.id),
            ));
        };
        if d.by == actor.user {
            return Err(refuse(
                rule::SAME_PERSON,
                "whoever asks for a deferral does not approve it",
            ));
        }
        same_request(rule::SUBJECT_DEFERRAL, &self.id, request_at, d.at)?;
        if approve {
            // The date is checked again: time has passed since the request.
            self.check_until(d.until, permit, profile, now)?;
            d.approved_by = Some(actor.user.clone());
            d.approved_at = Some(now);
            self.deferrals.push(d);
        } else {
            self.rejected.push(Rejection {
                request: d,
                by: actor.user.clone(),
                at: now,
            });
        }
        self.requested = None;
        Ok(())
    }

    /// The applicant asks that the person not be notified, with reasons.
    pub fn request_waiver(
        &mut self,
        actor: &Actor,
        permit: &Permit,
        reasons: &str,
        now: Timestamp,
    ) -> Result<(), Refusal> {
        Self::holder(permit, actor)?;
        self.open()?;
        self.nothing_pending()?;
        if permit.decision.is_none() {
            return Err(refuse(
                rule::SUBJECT_WAIVER,
                format!(
                    "{} is not decided yet: ask not to notify once its court or prosecutor has decided it",
                    permit.id
                ),
            ));
        }
        let reasons = reason_text(rule::SUBJECT_WAIVER, "a request not to notify", reasons)?;
        self.waivers.push(Waiver {
            at: now,
            by: actor.user.clone(),
            reasons,
            decision: None,
        });
        Ok(())
    }

    /// The permit's decider decides the request not to notify made at `request_at`, with reasons
    /// either way.
    pub fn decide_waiver(
        &mut self,
        actor: &Actor,
        permit: &Permit,
        approve: bool,
        reasons: &str,
        request_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), Refusal> {
        let decided = permit
            .decision
            .as_ref()
            .is_some_and(|d| d.by == actor.user && actor.has(decider_role(d.authority)));
        if !decided {
            return Err(refuse(
                rule::SUBJECT_HOLDER,
                format!(
                    "{} did not decide {}: the court or prosecutor who decided the permit decides whether its persons are notified",
                    actor.user, permit.id
                ),
            ));
        }
        self.open()?;
        let id = self.id.clone();
        let Some(w) = self.waivers.last_mut().filter(|w| w.decision.is_none()) else {
            return Err(refuse(
                rule::SUBJECT_WAIVER,
                format!("no request not to notify the person of {id} waits"),
            ));
        };
        same_request(rule::SUBJECT_WAIVER, &id, request_at, w.at)?;
        let reasons = reason_text(rule::SUBJECT_WAIVER, "the decision", reasons)?;
        w.decision = Some(WaiverDecision {
            by: actor.user.clone(),
            at: now,
            approved: approve,
            reasons,
        });
        Ok(())
    }

    /// The steps `actor` may take on the task now, by name: `done`, `defer`, `waiver`,
    /// `defer_decision`, `waiver_decision`. Each is tried on a copy, so a page offers exactly what
    /// the rules above allow.
    pub fn steps(
        &self,
        actor: &Actor,
        permit: &Permit,
        profile: &Profile,
        now: Timestamp,
    ) -> Vec<&'static str> {
        // The earliest date a deferral may name, and the request a decision would name.
        let until = Timestamp(self.due_at(permit, profile).0.max(now.0) + 1);
        let shown = self.pending_at().unwrap_or(now);
        let tries: [(&'static str, bool); 5] = [
            ("done", self.clone().complete(actor, permit, now).is_ok()),
            (
                "defer",
                self.clone()
                    .defer(actor, permit, profile, "-", until, now)
                    .is_ok(),
            ),
            (
                "waiver",
                self.clone().request_waiver(actor, permit, "-", now).is_ok(),
            ),
            (
                "defer_decision",
                self.clone()
                    .decide_deferral(actor, permit, profile, false, shown, now)
                    .is_ok(),
            ),
            (
                "waiver_decision",
                self.clone()
                    .decide_waiver(actor, permit, false, "-", shown, now)
                    .is_ok(),
            ),
        ];
        tries
            .into_iter()
            .filter(|(_, ok)| *ok)
            .map(|(s, _)| s)
            .collect()
    }

    /// Record that the person was notified, once the use has ended: notifying while it runs
    /// harms the purpose, and an identification after it would go unnotified. A request still
    /// waiting stays on record, undecided and moot.
    pub fn complete(
        &mut self,
        actor: &Actor,
        permit: &Permit,
        now: Timestamp,
    ) -> Result<(), Refusal> {
        Self::holder(permit, actor)?;
        self.open()?;
        if !permit.use_has_ended(now) {
            return Err(refuse(
                rule::SUBJECT_NOTIFICATION,
                format!(
                    "the use under {} is still running: notify the person once it has ended (stop it first if the purpose is met)",
                    permit.id
                ),
            ));
        }
        self.completed_at = Some(now);
        self.completed_by = Some(actor.user.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;
    use crate::lifecycle::tests::{application, t0};
    use crate::permit::Purpose;
    use crate::profile::{SWEDEN, SWEDEN_COURT_FOR_ALL};
    use proptest::prelude::*;

    fn h(hours: i64) -> Timestamp {
        t0().plus_hours(hours)
    }

    fn actor(user: &str, role: Role) -> Actor {
        Actor::new(user, &[role])
    }

    /// A permit drafted and applied for by `applicant`, granted by `decider` at `t0`.
    fn granted_by(purpose: Purpose, applicant: &Actor, decider: &Actor) -> Permit {
        let mut p =
            Permit::draft("P-1".into(), &SWEDEN, application(purpose), applicant, t0()).unwrap();
        crate::lifecycle::name_decider(&mut p, decider);
        p.apply(applicant, &SWEDEN, t0()).unwrap();
        p.decide(decider, &SWEDEN, Outcome::Grant, "ok", t0())
            .unwrap();
        p
    }

    /// A victim search by the police officer `pol`, granted by the prosecutor `pros2`.
    fn granted() -> Permit {
        granted_by(
            Purpose::VictimSearch,
            &actor("pol", Role::Applicant),
            &actor("pros2", Role::Prosecutor),
        )
    }

    /// A suspect search by the prosecutor `pros`, granted by the court (`judge`).
    fn granted_by_court() -> Permit {
        granted_by(
            Purpose::SuspectLocation,
            &actor("pros", Role::Prosecutor),
            &actor("judge", Role::Judge),
        )
    }

    #[test]
    fn the_profile_says_which_purposes_are_notified() {
        assert!(SWEDEN.notifies_subject(Purpose::SuspectLocation));
        assert!(!SWEDEN.notifies_subject(Purpose::VictimSearch));
        // Parliament's motion: every purpose.
        for p in [
            Purpose::VictimSearch,
            Purpose::ImminentThreat,
            Purpose::SuspectLocation,
            Purpose::SentenceEnforcement,
        ] {
            assert!(SWEDEN_COURT_FOR_ALL.notifies_subject(p));
        }
    }

    #[test]
    fn one_task_per_person_is_due_when_the_use_ends() {
        let mut p = granted_by_court();
        let mut task = SubjectTask::new("A-1", &p.id, &"p1".into(), h(1));
        task.add_identification("A-2");
        task.add_identification("A-1");
        assert_eq!(task.alerts, ["A-1", "A-2"]);
        assert_eq!(task.id, format!("S-{}-p1", p.id));
        let end = p.application.period.end;
        assert_eq!(task.due_at(&p, &SWEDEN), end);
        assert!(!task.is_overdue(&p, &SWEDEN, Timestamp(end.0 - 1)));
        assert!(task.is_overdue(&p, &SWEDEN, end));
        // Stopped early: due at the stop.
        let applicant = actor(&p.applicant.clone(), Role::Prosecutor);
        p.stop(&applicant, "found", h(5)).unwrap();
        assert_eq!(task.due_at(&p, &SWEDEN), h(5));
        // The earliest end counts: a ticker that records the end later does not push it back.
        p.use_ended_at = Some(h(6));
        assert_eq!(task.due_at(&p, &SWEDEN), h(5));
    }

    #[test]
    fn no_waiver_is_asked_before_anyone_decided_the_permit() {
        let pros = actor("pros", Role::Prosecutor);
        let mut p = Permit::draft(
            "P-2".into(),
            &SWEDEN,
            application(Purpose::SuspectLocation),
            &pros,
            t0(),
        )
        .unwrap();
        crate::lifecycle::name_decider(&mut p, &actor("judge", Role::Judge));
        p.urgent_start(&pros, &SWEDEN, "fara i dröjsmål", t0())
            .unwrap();
        let mut task = SubjectTask::new("A-1", &p.id, &"p1".into(), h(1));
        assert_eq!(
            task.request_waiver(&pros, &p, "reasons", h(1))
                .unwrap_err()
                .code,
            "subject_waiver"
        );
        assert!(!task.steps(&pros, &p, &SWEDEN, h(1)).contains(&"waiver"));
    }

    #[test]
    fn the_first_deferral_is_the_holders_and_later_ones_need_a_prosecutor() {
        let p = granted();
        let holder = actor("pol", Role::Applicant);
        let pros2 = actor("pros2", Role::Prosecutor);
        let outsider = actor("pros3", Role::Prosecutor);
        let end = p.application.period.end;
        let mut task = SubjectTask::new("A-1", &p.id, &"p1".into(), h(1));
        let at = |days: i64| Timestamp(end.0 + days * DAY);
        // Only the holder defers; a reason and a later date within the limit.
        assert_eq!(
            task.defer(&pros2, &p, &SWEDEN, "x", at(10), h(2))
                .unwrap_err()
                .code,
            "subject_holder"
        );
        for (reason, until) in [
            (" ", at(10)),
            ("sekretess", Timestamp(end.0 - DAY)),
            ("sekretess", h(1)),
            ("sekretess", Timestamp(h(2).0 + 367 * DAY)),
        ] {
            assert_eq!(
                task.defer(&holder, &p, &SWEDEN, reason, until, h(2))
                    .unwrap_err()
                    .code,
                "subject_deferral",
                "{reason} {until}"
            );
        }
        assert!(
            task.defer(
                &holder,
                &p,
                &SWEDEN,
                "förundersökningssekretess",
                at(10),
                h(2)
            )
            .unwrap()
        );
        assert_eq!(task.due_at(&p, &SWEDEN), at(10));
        // The second waits for a prosecutor; the due date stands meanwhile.
        assert!(
            !task
                .defer(&holder, &p, &SWEDEN, "still secret", at(40), h(3))
                .unwrap()
        );
        assert_eq!(task.awaiting(), Some(Awaiting::Prosecutor));
        assert_eq!(task.due_at(&p, &SWEDEN), at(10));
        // While the use runs, nothing for the holder: notifying waits for its end.
        assert!(task.steps(&holder, &p, &SWEDEN, h(3)).is_empty());
        assert_eq!(task.steps(&pros2, &p, &SWEDEN, h(3)), ["defer_decision"]);
        assert!(task.steps(&outsider, &p, &SWEDEN, h(3)).is_empty());
        assert!(
            task.defer(&holder, &p, &SWEDEN, "more", at(50), h(3))
                .is_err(),
            "one request at a time"
        );
        assert!(task.request_waiver(&holder, &p, "why", h(3)).is_err());
        let asked = task.pending_at().unwrap();
        assert_eq!(
            task.decide_deferral(&outsider, &p, &SWEDEN, true, asked, h(4))
                .unwrap_err()
                .code,
            "subject_holder"
        );
        // A decision names the request it saw: an older one decides nothing.
        assert_eq!(
            task.decide_deferral(&pros2, &p, &SWEDEN, true, h(2), h(4))
                .unwrap_err()
                .code,
            "subject_deferral"
        );
        task.decide_deferral(&pros2, &p, &SWEDEN, true, asked, h(4))
            .unwrap();
        assert_eq!(task.due_at(&p, &SWEDEN), at(40));
        assert_eq!(task.deferrals[1].approved_by.as_deref(), Some("pros2"));
        assert_eq!(task.awaiting(), None);
        // A rejected request leaves the date as it was.
        assert!(
            !task
                .defer(&holder, &p, &SWEDEN, "again", at(60), h(5))
                .unwrap()
        );
        task.decide_deferral(&pros2, &p, &SWEDEN, false, h(5), h(6))
            .unwrap();
        assert_eq!(task.due_at(&p, &SWEDEN), at(40));
        assert_eq!(
            (
                task.rejected.len(),
                task.rejected[0].request.reason.as_str()
            ),
            (1, "again"),
            "a rejection stays on record"
        );
        assert!(
            task.decide_deferral(&pros2, &p, &SWEDEN, true, h(5), h(7))
                .is_err()
        );
    }

    #[test]
    fn a_prosecutor_holding_the_case_defers_again_but_never_approves_their_own_request() {
        // A court permit: the prosecutor who applied holds the case, and their later deferrals
        // are a prosecutor's.
        let p = granted_by_court();
        let holder = actor("pros", Role::Prosecutor);
        let end = p.application.period.end;
        let at = |days: i64| Timestamp(end.0 + days * DAY);
        let mut task = SubjectTask::new("A-1", &p.id, &"p1".into(), h(1));
        assert!(task.defer(&holder, &p, &SWEDEN, "a", at(10), h(2)).unwrap());
        assert!(task.defer(&holder, &p, &SWEDEN, "b", at(20), h(2)).unwrap());
        assert_eq!(task.due_at(&p, &SWEDEN), at(20));
        // Where the police apply, an account that also holds the prosecutor role is still the
        // police applicant: their second deferral waits, and they cannot approve it.
        let p = granted();
        let mut task = SubjectTask::new("A-1", &p.id, &"p1".into(), h(1));
        let pol = Actor::new("pol", &[Role::Applicant, Role::Prosecutor]);
        assert!(task.defer(&pol, &p, &SWEDEN, "a", at(10), h(2)).unwrap());
        assert!(!task.defer(&pol, &p, &SWEDEN, "b", at(20), h(2)).unwrap());
        assert_eq!(
            task.decide_deferral(&pol, &p, &SWEDEN, true, h(2), h(3))
                .unwrap_err()
                .code,
            "subject_holder"
        );
        assert_eq!(task.deferrals.len(), 1);
    }

    #[test]
    fn not_notifying_needs_the_deciders_approval_with_reasons() {
        let p = granted_by_court();
        let holder = actor("pros", Role::Prosecutor);
        let judge = actor("judge", Role::Judge);
        let other_judge = actor("judge9", Role::Judge);
        let mut task = SubjectTask::new("A-1", &p.id, &"p1".into(), h(1));
        assert_eq!(
            task.request_waiver(&holder, &p, "  ", h(2))
                .unwrap_err()
                .code,
            "subject_waiver"
        );
        assert_eq!(
            task.request_waiver(&judge, &p, "x", h(2)).unwrap_err().code,
            "subject_holder"
        );
        assert_eq!(task.steps(&holder, &p, &SWEDEN, h(2)), ["defer", "waiver"]);
        task.request_waiver(&holder, &p, "the person has died", h(2))
            .unwrap();
        assert_eq!(task.awaiting(), Some(Awaiting::Decider));
        assert_eq!(task.steps(&judge, &p, &SWEDEN, h(2)), ["waiver_decision"]);
        assert!(task.steps(&other_judge, &p, &SWEDEN, h(2)).is_empty());
        assert_eq!(
            task.decide_waiver(&other_judge, &p, true, "ok", h(2), h(3))
                .unwrap_err()
                .code,
            "subject_holder"
        );
        assert_eq!(
            task.decide_waiver(&holder, &p, true, "ok", h(2), h(3))
                .unwrap_err()
                .code,
            "subject_holder"
        );
        assert_eq!(
            task.decide_waiver(&judge, &p, true, " ", h(2), h(3))
                .unwrap_err()
                .code,
            "subject_waiver"
        );
        // Refused: the task stays open and due; a new request may follow.
        task.decide_waiver(
            &judge,
            &p,
            false,
            "the estate is notified instead",
            h(2),
            h(3),
        )
        .unwrap();
        assert_eq!(task.closed(), None);
        task.request_waiver(&holder, &p, "no address known", h(4))
            .unwrap();
        assert!(
            task.decide_waiver(&judge, &p, true, "stale", h(2), h(5))
                .is_err()
        );
        task.decide_waiver(&judge, &p, true, "the person cannot be found", h(4), h(5))
            .unwrap();
        assert_eq!(task.closed(), Some(Closed::Waived));
        let end = p.application.period.end;
        assert!(!task.is_overdue(&p, &SWEDEN, Timestamp(end.0 + 400 * DAY)));
        assert!(task.complete(&holder, &p, h(6)).is_err());
        assert!(
            task.defer(&holder, &p, &SWEDEN, "x", Timestamp(end.0 + DAY), h(6))
                .is_err()
        );
    }

    #[test]
    fn notifying_waits_for_the_end_of_use_ends_the_task_once_and_keeps_what_waited() {
        let p = granted_by_court();
        let holder = actor("pros", Role::Prosecutor);
        let mut task = SubjectTask::new("A-1", &p.id, &"p1".into(), h(1));
        task.request_waiver(&holder, &p, "reasons", h(2)).unwrap();
        let end = p.application.period.end;
        assert_eq!(
            task.complete(&holder, &p, Timestamp(end.0 - 1))
                .unwrap_err()
                .code,
            "subject_notification",
            "not while the use runs"
        );
        assert_eq!(
            task.complete(&actor("judge", Role::Judge), &p, end)
                .unwrap_err()
                .code,
            "subject_holder"
        );
        task.complete(&holder, &p, end).unwrap();
        assert_eq!(task.closed(), Some(Closed::Notified));
        assert_eq!(task.awaiting(), None);
        assert_eq!(task.waivers.len(), 1, "the moot request stays on record");
        assert!(task.complete(&holder, &p, end).is_err());
    }

    #[test]
    fn a_task_from_before_one_task_per_person_still_reads() {
        let old = r#"{"id":"S-A-1","permit":"P-1","person":"p1","alert":"A-1","created_at":1,
            "due_at":2,"deferrals":[{"at":1,"by":"x","reason":"r","until":3}],
            "completed_at":null,"completed_by":null}"#;
        let t: SubjectTask = serde_json::from_str(old).unwrap();
        assert_eq!(t.alerts, ["A-1"]);
        assert_eq!(t.deferrals[0].until, Timestamp(3));
        assert_eq!(t.deferrals[0].approved_by, None);
    }

    #[derive(Debug, Clone)]
    enum Step {
        Defer(usize, i64),
        DecideDeferral(usize, bool),
        Waive(usize),
        DecideWaiver(usize, bool),
        Complete(usize),
        Wait(i64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0..4usize, -5..400i64).prop_map(|(a, d)| Step::Defer(a, d)),
            (0..4usize, any::<bool>()).prop_map(|(a, b)| Step::DecideDeferral(a, b)),
            (0..4usize).prop_map(Step::Waive),
            (0..4usize, any::<bool>()).prop_map(|(a, b)| Step::DecideWaiver(a, b)),
            (0..4usize).prop_map(Step::Complete),
            (0..2000i64).prop_map(Step::Wait),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Whatever is tried in whatever order: only the holder moves the task, the due date never
        /// falls, every deferral in effect after the first was made or approved by a prosecutor
        /// of the permit other than its maker, none runs past the limit, and a closed task stays
        /// closed.
        #[test]
        fn the_notification_holds_in_any_order(steps in prop::collection::vec(step(), 1..40)) {
            let p = granted();
            let actors = [
                actor("pol", Role::Applicant),
                actor("pros2", Role::Prosecutor),
                actor("judge", Role::Judge),
                actor("pros3", Role::Prosecutor),
            ];
            let mut task = SubjectTask::new("A-1", &p.id, &"p1".into(), h(1));
            let mut now = h(2);
            let mut due = task.due_at(&p, &SWEDEN);
            let mut closed = None;
            for s in steps {
                let before = task.clone();
                let ok = match s {
                    Step::Defer(a, d) => task
                        .defer(&actors[a], &p, &SWEDEN, "secret", Timestamp(due.0 + d * DAY), now)
                        .is_ok(),
                    Step::DecideDeferral(a, b) => {
                        let shown = task.pending_at().unwrap_or(now);
                        task.decide_deferral(&actors[a], &p, &SWEDEN, b, shown, now).is_ok()
                    }
                    Step::Waive(a) => task.request_waiver(&actors[a], &p, "reasons", now).is_ok(),
                    Step::DecideWaiver(a, b) => {
                        let shown = task.pending_at().unwrap_or(now);
                        task.decide_waiver(&actors[a], &p, b, "reasons", shown, now).is_ok()
                    }
                    Step::Complete(a) => task.complete(&actors[a], &p, now).is_ok(),
                    Step::Wait(hours) => { now = now.plus_hours(hours); true }
                };
                if !ok {
                    prop_assert_eq!(&task, &before, "a refused step changes nothing");
                }
                if let Some(c) = closed {
                    prop_assert_eq!(task.closed(), Some(c));
                    prop_assert_eq!(&task, &before);
                }
                closed = task.closed();
                let new_due = task.due_at(&p, &SWEDEN);
                prop_assert!(new_due >= due);
                due = new_due;
                for (i, d) in task.deferrals.iter().enumerate() {
                    prop_assert!(d.until.0 - d.at.0 <= MAX_DEFERRAL_DAYS * DAY);
                    prop_assert_eq!(&d.by, "pol");
                    if i > 0 {
                        let by = d.approved_by.as_deref();
                        prop_assert_eq!(by, Some("pros2"));
                    }
                }
                if task.completed_at.is_some() {
                    prop_assert!(p.use_has_ended(task.completed_at.unwrap()));
                }
                for w in &task.waivers {
                    prop_assert_eq!(&w.by, "pol");
                    if let Some(d) = &w.decision {
                        prop_assert_eq!(&d.by, "pros2");
                    }
                }
                if task.completed_at.is_some() {
                    prop_assert_eq!(task.completed_by.as_deref(), Some("pol"));
                }
            }
        }
    }
}
