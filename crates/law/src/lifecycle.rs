//! The permit lifecycle: Draft -> Applied -> Granted | Refused, then Active during the period and
//! Expired or Stopped after it; and the urgent path, where use begins at once and an application must
//! follow within the profile's deadline.

use serde::{Deserialize, Serialize};

use crate::permit::{Application, CameraId, PermitId, PersonId, UserId};
use crate::profile::{Applicant, Authority, Profile};
use crate::roles::{Actor, Role};
use crate::time::Timestamp;
use crate::{Refusal, rule};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    Applied,
    Granted,
    Refused,
    Stopped,
    /// Urgent use running, no application filed yet.
    UrgentActive,
    /// Urgent use running, application filed, awaiting decision.
    UrgentApplied,
    /// A grant a higher instance overturned on appeal: use stopped and everything it produced
    /// was purged, as for a refusal ([`crate::appeal`]).
    Overturned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Grant,
    Refuse,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Decision {
    pub by: UserId,
    pub authority: Authority,
    pub at: Timestamp,
    pub reasons: String,
    pub outcome: Outcome,
    /// What a partial grant left out of the application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub narrowed: Option<Narrowed>,
}

/// What a decider grants less than was applied for: fewer cameras, fewer persons, an earlier end.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Narrowing {
    /// Grant only these cameras, each one applied for.
    #[serde(default)]
    pub cameras: Option<Vec<CameraId>>,
    /// Grant only these persons, each one named in the application.
    #[serde(default)]
    pub persons: Option<Vec<PersonId>>,
    /// End the period here, before the end applied for.
    #[serde(default)]
    pub until: Option<Timestamp>,
}

/// What a partial grant left out, kept with the decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Narrowed {
    pub cameras_not_granted: Vec<CameraId>,
    pub persons_not_granted: Vec<PersonId>,
    /// The end applied for, when the decision ended the period earlier.
    pub period_end_applied: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Urgent {
    pub started_at: Timestamp,
    pub started_by: UserId,
    pub deadline: Timestamp,
    /// Why use could not wait for a decision (fara i dröjsmål), as the applicant states it. Free
    /// text: sealed with the permit's other text.
    #[serde(default)]
    pub ground: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Stop {
    pub at: Timestamp,
    /// `None` when mandat stopped the use itself (missed urgent deadline).
    pub by: Option<UserId>,
    pub reason: String,
}

/// What a use led to, as its applicant records it once the use has ended. The evaluation of the
/// law the motion asks for is made from these, per purpose, in the annual report.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum UseResult {
    PersonLocated,
    Arrested,
    VictimFound,
    /// Nothing came of the use.
    Nothing,
    /// Someone was acted on who proved not to be the person sought.
    FalseIdentificationActedOn,
}

impl UseResult {
    pub const ALL: [UseResult; 5] = [
        UseResult::PersonLocated,
        UseResult::Arrested,
        UseResult::VictimFound,
        UseResult::Nothing,
        UseResult::FalseIdentificationActedOn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UseResult::PersonLocated => "person_located",
            UseResult::Arrested => "arrested",
            UseResult::VictimFound => "victim_found",
            UseResult::Nothing => "nothing",
            UseResult::FalseIdentificationActedOn => "false_identification_acted_on",
        }
    }

    pub fn parse(s: &str) -> Option<UseResult> {
        UseResult::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// The longest urgent ground mandat takes, in characters.
pub const MAX_GROUND: usize = 4_000;

/// The recorded outcome of a use ([`Permit::record_outcome`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UseOutcome {
    /// Each result once, in a fixed order; `nothing` stands alone.
    pub results: Vec<UseResult>,
    pub by: UserId,
    pub at: Timestamp,
}

/// What a transition requires of the rest of the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Nothing,
    /// Use begins now (urgent start): notify IMY.
    UseStarted,
    /// Use ends now: the scope must drop the permit at once.
    UseEnded,
    /// Use ends and everything it produced must be deleted, with a deletion certificate.
    Purge {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Permit {
    pub id: PermitId,
    pub profile: String,
    pub application: Application,
    /// The user who drafted the permit and files the application.
    pub applicant: UserId,
    pub status: Status,
    pub created_at: Timestamp,
    pub applied_at: Option<Timestamp>,
    pub decision: Option<Decision>,
    pub urgent: Option<Urgent>,
    pub stop: Option<Stop>,
    /// Whether a purge has been carried out for this permit.
    pub purged: bool,
    /// When mandat recorded that use under this permit began and ended (AI Act art. 12(3)(a)).
    #[serde(default)]
    pub use_started_at: Option<Timestamp>,
    #[serde(default)]
    pub use_ended_at: Option<Timestamp>,
    /// Who besides the applicant works on this permit (need-to-know).
    #[serde(default)]
    pub team: Vec<Member>,
    /// A legal hold on the permit's data (see [`crate::retention`]).
    #[serde(default)]
    pub hold: Option<crate::retention::Hold>,
    /// Requests to add cameras, and their decisions (see [`crate::amendment`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amendments: Vec<crate::amendment::Amendment>,
    /// What the use led to, once it has ended (see [`UseOutcome`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_outcome: Option<UseOutcome>,
    /// The police officer who drafted the permit and handed it to the prosecutor who applies
    /// (see [`Permit::hand_over`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handed_over: Option<HandOver>,
    /// The deciding court's or prosecutor's own case number (see [`Permit::register_case`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decider_case: Option<CaseRecord>,
    /// The public counsel the court appointed, and their opinion ([`crate::appeal`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counsel: Option<crate::appeal::Counsel>,
    /// The hearing the court held before deciding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hearing: Option<crate::appeal::Hearing>,
    /// An appeal of the decision, and the higher instance's decision on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appeal: Option<crate::appeal::Appeal>,
}

/// A permit handed from the police officer who drafted it (and perhaps started it urgently) to
/// the prosecutor who files the application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HandOver {
    pub from: UserId,
    pub to: UserId,
    pub at: Timestamp,
}

/// A case number an authority registered, by whom and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaseRecord {
    #[schema(example = "B 1234-26")]
    pub number: String,
    pub by: UserId,
    pub at: Timestamp,
}

/// Someone the applicant put on a permit's team, and in which role: the decider the application
/// is filed to (a judge or a prosecutor, as the purpose requires), or an operator or a reviewer who
/// works on its alerts. Only the team (and the agency's auditors) see the permit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Member {
    pub user: UserId,
    pub role: Role,
    pub assigned_by: UserId,
    pub assigned_at: Timestamp,
}

/// The role of the decider of `authority` on a team.
pub fn decider_role(authority: Authority) -> Role {
    match authority {
        Authority::Court => Role::Judge,
        Authority::Prosecutor => Role::Prosecutor,
    }
}

/// Test helper: the applicant names `decider` as the one the application is filed to.
#[cfg(test)]
pub(crate) fn name_decider(p: &mut Permit, decider: &Actor) {
    let applicant = Actor::new(p.applicant.clone(), &[]);
    let role = if decider.has(Role::Judge) {
        Role::Judge
    } else {
        Role::Prosecutor
    };
    p.assign(
        &applicant,
        &decider.user,
        &decider.roles,
        role,
        p.created_at,
    )
    .unwrap();
}

/// A change in whether a permit is in use, to be recorded in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UseEvent {
    Started,
    Ended,
}

fn wrong_state(p: &Permit, action: &str) -> Refusal {
    rule::WRONG_STATE.refusal(format!(
        "cannot {action} permit {} in state {:?}",
        p.id, p.status
    ))
}

impl Permit {
    pub fn draft(
        id: PermitId,
        profile: &Profile,
        application: Application,
        applicant: &Actor,
        now: Timestamp,
    ) -> Result<Permit, Refusal> {
        if !(applicant.has(Role::Applicant) || applicant.has(Role::Prosecutor)) {
            return Err(rule::NOT_PERMITTED.refusal(format!(
                "{} may not draft permits: needs the applicant or prosecutor role",
                applicant.user
            )));
        }
        // The case number is stored unsealed: it is held to its shape at once.
        if let Err(why) = crate::permit::check_case_number(&application.case_number) {
            return Err(rule::CASE_NUMBER.refusal(format!("the application's case number {why}")));
        }
        let mut application = application;
        application.case_number = application.case_number.trim().to_string();
        crate::grounds::check_bounds(application.threat.as_ref(), application.judgment.as_ref())?;
        let files_as_prosecutor =
            profile.rule(application.purpose).applicant == Applicant::Prosecutor;
        if let Some(o) = application.offence.as_mut() {
            let prosecutor = (files_as_prosecutor && applicant.has(Role::Prosecutor))
                .then_some(applicant.user.as_str());
            crate::grounds::resolve_offence(o, profile.offences, prosecutor)?;
        }
        // The rest waits for `apply`, but a threshold that overflowed to infinity could not even be
        // written back as JSON.
        if !(0.0..=1.0).contains(&application.threshold) {
            return Err(rule::THRESHOLD_INVALID.refusal(format!(
                "match threshold {} is outside (0, 1)",
                application.threshold
            )));
        }
        Ok(Permit {
            id,
            profile: profile.name.to_string(),
            application,
            applicant: applicant.user.clone(),
            status: Status::Draft,
            created_at: now,
            applied_at: None,
            decision: None,
            urgent: None,
            stop: None,
            purged: false,
            use_started_at: None,
            use_ended_at: None,
            team: Vec::new(),
            hold: None,
            amendments: Vec::new(),
            use_outcome: None,
            handed_over: None,
            decider_case: None,
            counsel: None,
            hearing: None,
            appeal: None,
        })
    }

    /// Whether `user` works on this permit: its applicant, or a member of its team. They see
    /// its alerts as their roles allow.
    pub fn on_team(&self, user: &str) -> bool {
        self.applicant == user
            || self.team.iter().any(|m| m.user == user)
            || self.handed_over.as_ref().is_some_and(|h| h.from == user)
    }

    /// Whether `user` reads this permit's record: its team, its public counsel, or the higher
    /// instance an appeal is filed to. The last two read the record only, never alerts.
    pub fn sees_record(&self, user: &str) -> bool {
        self.on_team(user)
            || self.counsel.as_ref().is_some_and(|c| c.user == user)
            || self.appeal.as_ref().is_some_and(|a| a.to == user)
    }

    /// Whether `user` applied for this permit in any way: its applicant, the officer who handed
    /// it over, or whoever started it urgently. None of them reviews or decides it.
    pub fn applied_by(&self, user: &str) -> bool {
        self.applicant == user
            || self.handed_over.as_ref().is_some_and(|h| h.from == user)
            || self.urgent.as_ref().is_some_and(|u| u.started_by == user)
    }

    /// Whether `user` is the prosecutor who files this permit's application, or the prosecutor it
    /// is filed to: who may confirm an offence described by hand.
    fn is_its_prosecutor(&self, profile: &Profile, user: &str) -> bool {
        let rule = profile.rule(self.application.purpose);
        (rule.applicant == Applicant::Prosecutor && self.applicant == user)
            || (rule.decider == Authority::Prosecutor
                && self.decider(profile).is_some_and(|m| m.user == user))
    }

    /// Confirm an offence described by hand rather than chosen from the catalogue: the
    /// prosecutor who files the application, or the one it is filed to, before it is filed. A
    /// confirmation by a prosecutor who no longer holds either place does not count, so the one
    /// who does confirms it again.
    pub fn confirm_offence(&mut self, actor: &Actor, profile: &Profile) -> Result<(), Refusal> {
        if !actor.has(Role::Prosecutor) || !self.is_its_prosecutor(profile, &actor.user) {
            return Err(rule::NOT_PERMITTED.refusal(format!(
                "{} may not confirm the offence of permit {}: the prosecutor who files the application, or the one it is filed to, does",
                actor.user, self.id
            )));
        }
        if !matches!(self.status, Status::Draft | Status::UrgentActive) {
            return Err(wrong_state(self, "confirm the offence of"));
        }
        let min = profile.min_penalty_years;
        match self.application.offence.as_mut() {
            Some(o) if o.code.is_none() && o.confirmed_by.as_deref() != Some(&actor.user) => {
                // Confirm only what could be filed: a category and a scale the law takes.
                if o.annex_ii.is_none() || o.max_penalty_years < min {
                    return Err(rule::OFFENCE_CATALOGUE.refusal(format!(
                        "the offence needs its Annex II category and a statutory maximum of at least {min} years before it is confirmed; draft it again"
                    )));
                }
                o.confirmed_by = Some(actor.user.clone());
                Ok(())
            }
            _ => Err(rule::OFFENCE_CATALOGUE.refusal(format!(
                "permit {} has no offence described by hand awaiting {}'s confirmation",
                self.id, actor.user
            ))),
        }
    }

    /// A hand-described offence counts as confirmed only by the prosecutor who files or decides
    /// the application now.
    fn check_confirmation(&self, profile: &Profile) -> Result<(), Refusal> {
        match self.application.offence.as_ref() {
            Some(o) if o.code.is_none() => match &o.confirmed_by {
                Some(by) if !self.is_its_prosecutor(profile, by) => {
                    Err(rule::OFFENCE_CATALOGUE.refusal(format!(
                        "the offence was confirmed by {by}, who neither files nor decides this application now: its prosecutor confirms it again"
                    )))
                }
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// Hand a permit the police drafted, for a purpose a prosecutor applies for, to that
    /// prosecutor (`to`, who holds `their_roles`): they become its applicant and file it. The
    /// officer who handed it over still sees it, and may stop a use they started urgently.
    pub fn hand_over(
        &mut self,
        actor: &Actor,
        profile: &Profile,
        to: &str,
        their_roles: &[Role],
        now: Timestamp,
    ) -> Result<(), Refusal> {
        if actor.user != self.applicant {
            return Err(rule::NOT_APPLICANT.refusal(format!(
                "only the applicant of permit {} hands it over",
                self.id
            )));
        }
        if !matches!(self.status, Status::Draft | Status::UrgentActive) {
            return Err(wrong_state(self, "hand over"));
        }
        if let Some(u) = self.urgent.as_ref().filter(|u| now >= u.deadline) {
            return Err(rule::URGENT_DEADLINE.refusal(format!(
                "the deadline {} has passed; the use is stopped and purged",
                u.deadline
            )));
        }
        let refuse = |m: String| Err(rule::HAND_OVER.refusal(m));
        if profile.rule(self.application.purpose).applicant != Applicant::Prosecutor {
            return refuse(format!(
                "purpose {} is applied for by the police who drafted it: nothing to hand over",
                self.application.purpose.as_str()
            ));
        }
        if self.handed_over.is_some() || actor.has(Role::Prosecutor) {
            return refuse(format!(
                "permit {} is already a prosecutor's to file",
                self.id
            ));
        }
        if !their_roles.contains(&Role::Prosecutor) || to == actor.user {
            return refuse(format!(
                "{to} is not a prosecutor: hand the permit to the prosecutor who applies"
            ));
        }
        if self.team.iter().any(|m| m.user == to) {
            return refuse(format!(
                "{to} works on permit {} already and cannot also apply for it",
                self.id
            ));
        }
        self.handed_over = Some(HandOver {
            from: actor.user.clone(),
            to: to.to_string(),
            at: now,
        });
        self.applicant = to.to_string();
        Ok(())
    }

    /// The deciding court or prosecutor registers the application under its own case number, once
    /// it is filed; before deciding it may correct it, after deciding only add one left out.
    pub fn register_case(
        &mut self,
        actor: &Actor,
        profile: &Profile,
        number: &str,
        now: Timestamp,
    ) -> Result<(), Refusal> {
        let needed = profile.rule(self.application.purpose).decider;
        let decider = self.decider(profile).is_some_and(|m| m.user == actor.user);
        if !actor.holds(needed) || !decider || self.applied_by(&actor.user) {
            return Err(rule::WRONG_DECIDER.refusal(format!(
                "permit {} is not filed to {}: its deciding {needed:?} registers the case",
                self.id, actor.user
            )));
        }
        match self.status {
            Status::Applied | Status::UrgentApplied => {}
            Status::Draft | Status::UrgentActive => {
                return Err(wrong_state(self, "register the case of"));
            }
            _ if self.decider_case.is_none()
                && self.decision.as_ref().is_some_and(|d| d.by == actor.user) => {}
            _ => {
                return Err(rule::DECIDER_CASE.refusal(format!(
                    "permit {} is decided or its use has ended: its case number is no longer changed",
                    self.id
                )));
            }
        }
        crate::permit::check_case_number(number).map_err(|why| {
            rule::DECIDER_CASE.refusal(format!("the decider's case number {why}"))
        })?;
        self.decider_case = Some(CaseRecord {
            number: number.trim().to_string(),
            by: actor.user.clone(),
            at: now,
        });
        Ok(())
    }

    /// Whether `actor` works on this permit as `role`: holds the role, and is its applicant (for
    /// the roles that apply) or on its team in that role. Someone on the team as an operator
    /// does not review there, whatever else their account holds.
    pub fn acts_as(&self, actor: &Actor, role: Role) -> bool {
        actor.has(role)
            && ((actor.user == self.applicant
                && matches!(role, Role::Applicant | Role::Prosecutor))
                || self
                    .team
                    .iter()
                    .any(|m| m.user == actor.user && m.role == role))
    }

    /// Whether `actor` may see this permit's reference photos and what the quality gate measured
    /// on them: whoever applied for it (they enrol them) and the court or prosecutor it is filed
    /// to (they decide on them). Not the rest of the team: a reviewer sees a person's photo beside
    /// each alert, an operator never; and not a counsel or a higher instance, who read the record.
    pub fn may_see_photos(&self, actor: &Actor, profile: &Profile) -> Result<(), Refusal> {
        let decides = self.decider(profile).is_some_and(|m| m.user == actor.user);
        if self.applied_by(&actor.user) || decides {
            Ok(())
        } else {
            Err(rule::REFERENCE_PHOTOS.refusal(format!(
                "{} neither applied for permit {} nor decides it, so cannot see its reference photos",
                actor.user, self.id
            )))
        }
    }

    /// The team member who decides, as the profile names the authority for this purpose.
    pub fn decider(&self, profile: &Profile) -> Option<&Member> {
        let role = decider_role(profile.rule(self.application.purpose).decider);
        self.team.iter().find(|m| m.role == role)
    }

    /// Put `user` (who holds `their_roles`) on the team as `role`, or change their role. Only the
    /// applicant assigns; the decider is fixed once the application is filed or decided.
    pub fn assign(
        &mut self,
        actor: &Actor,
        user: &str,
        their_roles: &[Role],
        role: Role,
        now: Timestamp,
    ) -> Result<(), Refusal> {
        self.check_team_change(actor, user)?;
        if !matches!(
            role,
            Role::Operator | Role::Reviewer | Role::Judge | Role::Prosecutor
        ) {
            return Err(rule::TEAM.refusal(format!(
                "a team member is an operator, a reviewer or the deciding judge or prosecutor, not {}",
                role.as_str()
            )));
        }
        if !their_roles.contains(&role) {
            return Err(rule::TEAM.refusal(format!(
                "{user} does not hold the {} role, so cannot work on permit {} as one",
                role.as_str(),
                self.id
            )));
        }
        let deciding = |r: Role| matches!(r, Role::Judge | Role::Prosecutor);
        let touches_decider =
            deciding(role) || self.team.iter().any(|m| m.user == user && deciding(m.role));
        if touches_decider {
            self.check_decider_open()?;
            // One decider: the application is filed to one court or prosecutor, whose own case
            // number goes with it.
            self.team.retain(|m| !deciding(m.role));
            self.decider_case = None;
        }
        self.team.retain(|m| m.user != user);
        self.team.push(Member {
            user: user.to_string(),
            role,
            assigned_by: actor.user.clone(),
            assigned_at: now,
        });
        Ok(())
    }

    /// Take `user` off the team.
    pub fn unassign(&mut self, actor: &Actor, user: &str) -> Result<(), Refusal> {
        self.check_team_change(actor, user)?;
        let Some(m) = self.team.iter().find(|m| m.user == user) else {
            return Err(
                rule::TEAM.refusal(format!("{user} is not on the team of permit {}", self.id))
            );
        };
        if matches!(m.role, Role::Judge | Role::Prosecutor) {
            self.check_decider_open()?;
            self.decider_case = None;
        }
        self.team.retain(|m| m.user != user);
        Ok(())
    }

    fn check_team_change(&self, actor: &Actor, user: &str) -> Result<(), Refusal> {
        if actor.user != self.applicant {
            return Err(rule::TEAM.refusal(format!(
                "{} may not change the team of permit {}: only its applicant assigns it",
                actor.user, self.id
            )));
        }
        if self.applied_by(user) {
            return Err(rule::SAME_PERSON.refusal(format!(
                "{user} applied for permit {} and cannot also review, operate or decide on it",
                self.id
            )));
        }
        if self.sees_record(user) && !self.on_team(user) {
            return Err(rule::SAME_PERSON.refusal(format!(
                "{user} is the public counsel or the higher instance of permit {} and cannot also work on it",
                self.id
            )));
        }
        if matches!(
            self.status,
            Status::Refused | Status::Stopped | Status::Overturned
        ) || self.purged
        {
            return Err(wrong_state(self, "change the team of"));
        }
        Ok(())
    }

    /// The decider may be named or changed until there is a decision (a decider who is absent
    /// or disabled is replaced, and the change is in the log); never after.
    fn check_decider_open(&self) -> Result<(), Refusal> {
        if self.decision.is_none()
            && matches!(
                self.status,
                Status::Draft | Status::UrgentActive | Status::Applied | Status::UrgentApplied
            )
        {
            Ok(())
        } else {
            Err(rule::TEAM.refusal(format!(
                "permit {} has been decided; its decider cannot change",
                self.id
            )))
        }
    }

    /// Whether the permit allows matching at `t` (before any camera check).
    pub fn is_active_at(&self, t: Timestamp) -> bool {
        let period = &self.application.period;
        if self.sunset().is_some_and(|s| t >= s) {
            return false;
        }
        match (&self.status, &self.urgent) {
            (Status::Granted, _) => period.contains(t),
            // Urgent use runs from its start; without an application it ends at the deadline even
            // before the deadline check has run (fail closed).
            (Status::UrgentActive, Some(u)) => {
                u.started_at <= t && t < u.deadline && t < period.end
            }
            (Status::UrgentApplied, Some(u)) => u.started_at <= t && t < period.end,
            _ => false,
        }
    }

    /// The instants at which the permit allows matching, as `[start, end)`, or `None` when it
    /// allows none (draft, applied, refused, stopped). [`Permit::is_active_at`] is true exactly
    /// inside it; a property test holds the two together.
    pub fn active_window(&self) -> Option<(Timestamp, Timestamp)> {
        let period = &self.application.period;
        let (start, end) = match (&self.status, &self.urgent) {
            (Status::Granted, _) => (period.start, period.end),
            (Status::UrgentActive, Some(u)) => (u.started_at, u.deadline.min(period.end)),
            (Status::UrgentApplied, Some(u)) => (u.started_at, period.end),
            _ => return None,
        };
        let end = self.sunset().map_or(end, |s| end.min(s));
        (start < end).then_some((start, end))
    }

    /// The end of the period applied for, cut at the statute's sunset: when use ends at the latest,
    /// for erasure, notification and reports. A permit of an unknown profile keeps its period here
    /// (the control plane refuses those before this, and nothing is erased on a guess).
    pub fn end_in_force(&self) -> Timestamp {
        let end = self.application.period.end;
        match Profile::by_name(&self.profile).and_then(|p| p.validity.sunset) {
            Some(s) => end.min(s),
            None => end,
        }
    }

    /// When the permit's statute ends, if it is time-limited: every use stops there, also one
    /// granted before a sunset was enacted. A permit of a profile mandat does not know ends at
    /// once (fail closed); the control plane refuses those before this.
    fn sunset(&self) -> Option<Timestamp> {
        match Profile::by_name(&self.profile) {
            Some(p) => p.validity.sunset,
            None => Some(Timestamp(i64::MIN)),
        }
    }

    /// The state a person would name at `t`: "active", "expired" and so on.
    pub fn phase_at(&self, t: Timestamp) -> &'static str {
        match self.status {
            Status::Draft => "draft",
            Status::Applied => "applied",
            Status::Refused => "refused",
            Status::Stopped => "stopped",
            Status::Overturned => "overturned",
            Status::UrgentActive | Status::UrgentApplied if self.is_active_at(t) => "urgent_active",
            Status::UrgentActive | Status::UrgentApplied => "urgent_lapsed",
            Status::Granted if t < self.application.period.start => "granted",
            Status::Granted if self.is_active_at(t) => "active",
            Status::Granted => "expired",
        }
    }

    fn check_applicant(&self, actor: &Actor, profile: &Profile) -> Result<(), Refusal> {
        let needed = profile.rule(self.application.purpose).applicant;
        if actor.user != self.applicant || !actor.may_apply_as(needed) {
            let hint = if actor.user == self.applicant && needed == Applicant::Prosecutor {
                ": hand the permit over to the prosecutor who files it"
            } else {
                ""
            };
            return Err(rule::WRONG_APPLICANT.refusal(format!(
                "{} may not file this application: purpose {} is applied for by the {:?} who drafted it{hint}",
                actor.user,
                self.application.purpose.as_str(),
                needed
            )));
        }
        Ok(())
    }

    /// File the application (also after an urgent start).
    pub fn apply(
        &mut self,
        actor: &Actor,
        profile: &Profile,
        now: Timestamp,
    ) -> Result<Effect, Vec<Refusal>> {
        self.check_applicant(actor, profile).map_err(|r| vec![r])?;
        // An urgent use that ran into the sunset is still filed, so that it is decided (refused:
        // no grant comes after the sunset) rather than lapsing as if nobody had applied.
        if self.status != Status::UrgentActive {
            profile
                .check_in_force("file the application", now)
                .map_err(|r| vec![r])?;
        }
        let next = match self.status {
            Status::Draft => Status::Applied,
            Status::UrgentActive => {
                let u = self.urgent.as_ref().expect("urgent status has urgent data");
                if now >= u.deadline {
                    return Err(vec![rule::URGENT_DEADLINE.refusal(format!(
                        "the deadline {} has passed; the use is stopped and purged",
                        u.deadline
                    ))]);
                }
                Status::UrgentApplied
            }
            _ => return Err(vec![wrong_state(self, "apply for")]),
        };
        let mut problems = self.application.check(profile);
        problems.extend(self.check_confirmation(profile).err());
        if self.decider(profile).is_none() {
            let role = decider_role(profile.rule(self.application.purpose).decider);
            problems.push(rule::DECIDER_REQUIRED.refusal(format!(
                "name the {} the application is filed to: put one on the team first",
                role.as_str()
            )));
        }
        crate::refuse_all(problems)?;
        self.status = next;
        self.applied_at = Some(now);
        Ok(Effect::Nothing)
    }

    /// Start use at once, before a decision. The application must follow within the deadline.
    pub fn urgent_start(
        &mut self,
        actor: &Actor,
        profile: &Profile,
        ground: &str,
        now: Timestamp,
    ) -> Result<Effect, Vec<Refusal>> {
        if self.status != Status::Draft {
            return Err(vec![wrong_state(self, "urgently start")]);
        }
        // The police may start urgently also where a prosecutor applies (the profile says
        // whether), and then hand the permit over to be filed.
        let police = profile.urgent_start_by_police
            && actor.user == self.applicant
            && actor.has(Role::Applicant);
        if !police {
            self.check_applicant(actor, profile).map_err(|r| vec![r])?;
        }
        profile
            .check_in_force("start urgent use", now)
            .map_err(|r| vec![r])?;
        if ground.trim().is_empty() {
            return Err(vec![rule::URGENT_GROUND.refusal(
                "an urgent start states its ground: why waiting for a decision would put the purpose at risk (fara i dröjsmål)".into(),
            )]);
        }
        if ground.chars().count() > MAX_GROUND {
            return Err(vec![rule::URGENT_GROUND.refusal(format!(
                "the urgent ground is longer than {MAX_GROUND} characters: state it briefly"
            ))]);
        }
        let mut problems = self.application.check(profile);
        problems.extend(self.check_confirmation(profile).err());
        crate::refuse_all(problems)?;
        self.status = Status::UrgentActive;
        self.urgent = Some(Urgent {
            started_at: now,
            started_by: actor.user.clone(),
            deadline: now.plus_hours(profile.urgent_application_hours),
            ground: ground.trim().to_string(),
        });
        Ok(Effect::UseStarted)
    }

    /// Grant or refuse. Refusing an urgent use purges everything it produced.
    pub fn decide(
        &mut self,
        actor: &Actor,
        profile: &Profile,
        outcome: Outcome,
        reasons: &str,
        now: Timestamp,
    ) -> Result<Effect, Refusal> {
        // Who may act is checked before the state, so a refusal never tells an outsider more.
        let needed = profile.rule(self.application.purpose).decider;
        if self.applied_by(&actor.user) {
            return Err(rule::SAME_PERSON.refusal(format!(
                "{} applied for permit {} and cannot decide on it",
                actor.user, self.id
            )));
        }
        if self.sees_record(&actor.user) && !self.on_team(&actor.user) {
            return Err(rule::SAME_PERSON.refusal(format!(
                "{} is the public counsel or the higher instance of permit {} and cannot decide it",
                actor.user, self.id
            )));
        }
        if !actor.holds(needed) {
            return Err(rule::WRONG_DECIDER.refusal(format!(
                "purpose {} is decided by a {:?}; {} does not hold that authority",
                self.application.purpose.as_str(),
                needed,
                actor.user
            )));
        }
        if self.decider(profile).is_none_or(|m| m.user != actor.user) {
            return Err(rule::WRONG_DECIDER
                .refusal(format!("permit {} is not filed to {}", self.id, actor.user)));
        }
        let urgent = match self.status {
            Status::Applied => false,
            Status::UrgentApplied => true,
            _ => return Err(wrong_state(self, "decide on")),
        };
        if reasons.trim().is_empty() {
            return Err(rule::DECISION_REASONS.refusal("the decision has no reasons".into()));
        }
        // A refusal stays possible after a sunset: it ends what an urgent start began.
        if outcome == Outcome::Grant {
            profile.check_in_force("grant", now)?;
            self.check_procedure(profile)?;
        }
        self.decision = Some(Decision {
            by: actor.user.clone(),
            authority: needed,
            at: now,
            reasons: reasons.to_string(),
            outcome,
            narrowed: None,
        });
        Ok(match (outcome, urgent) {
            (Outcome::Grant, _) => {
                self.status = Status::Granted;
                Effect::Nothing
            }
            (Outcome::Refuse, false) => {
                self.status = Status::Refused;
                Effect::Nothing
            }
            (Outcome::Refuse, true) => {
                self.status = Status::Refused;
                Effect::Purge {
                    reason: format!("urgent use refused by {:?} {}", needed, actor.user),
                }
            }
        })
    }

    /// Grant less than was applied for: only some of the cameras or persons, or a shorter
    /// period. Each must be within the application; what is left out is kept with the decision,
    /// and the reference data of persons not granted is erased by the retention schedule.
    pub fn grant_in_part(
        &mut self,
        actor: &Actor,
        profile: &Profile,
        reasons: &str,
        narrowing: &Narrowing,
        now: Timestamp,
    ) -> Result<Effect, Refusal> {
        let a = &self.application;
        let mut narrowed = Narrowed::default();
        let refuse = |m: String| Err(rule::NARROWING.refusal(m));
        if let Some(cams) = &narrowing.cameras {
            if cams.is_empty() {
                return refuse("a grant covers at least one camera; refuse instead".into());
            }
            if let Some(c) = cams.iter().find(|c| !a.area.cameras.contains(c)) {
                return refuse(format!(
                    "camera {c} was not applied for; grant less, never more"
                ));
            }
            narrowed.cameras_not_granted = a
                .area
                .cameras
                .iter()
                .filter(|c| !cams.contains(c))
                .cloned()
                .collect();
        }
        if let Some(persons) = &narrowing.persons {
            if persons.is_empty() {
                return refuse("a grant names at least one person; refuse instead".into());
            }
            if let Some(p) = persons
                .iter()
                .find(|p| !a.persons.iter().any(|d| &d.id == *p))
            {
                return refuse(format!("person {p} is not named in the application"));
            }
            narrowed.persons_not_granted = a
                .persons
                .iter()
                .filter(|d| !persons.contains(&d.id))
                .map(|d| d.id.clone())
                .collect();
        }
        if let Some(until) = narrowing.until {
            if until <= a.period.start || until > a.period.end {
                return refuse(format!(
                    "the period may end only after its start {} and no later than applied for ({})",
                    a.period.start, a.period.end
                ));
            }
            if until < a.period.end {
                narrowed.period_end_applied = Some(a.period.end);
            }
        }
        let effect = self.decide(actor, profile, Outcome::Grant, reasons, now)?;
        let a = &mut self.application;
        a.area
            .cameras
            .retain(|c| !narrowed.cameras_not_granted.contains(c));
        a.persons
            .retain(|d| !narrowed.persons_not_granted.contains(&d.id));
        if narrowed.period_end_applied.is_some()
            && let Some(until) = narrowing.until
        {
            a.period.end = until;
        }
        if narrowed != Narrowed::default()
            && let Some(d) = self.decision.as_mut()
        {
            d.narrowed = Some(narrowed);
        }
        Ok(effect)
    }

    /// Stop use before the period ends.
    pub fn stop(&mut self, actor: &Actor, reason: &str, now: Timestamp) -> Result<Effect, Refusal> {
        let may = actor.user == self.applicant
            || self
                .urgent
                .as_ref()
                .is_some_and(|u| u.started_by == actor.user)
            || self.acts_as(actor, Role::Prosecutor)
            || self.acts_as(actor, Role::Judge)
            || self.decision.as_ref().is_some_and(|d| d.by == actor.user);
        if !may {
            return Err(rule::NOT_PERMITTED.refusal(format!(
                "{} may not stop permit {}: only its applicant and its deciding judge or prosecutor may",
                actor.user, self.id
            )));
        }
        if !matches!(
            self.status,
            Status::Granted | Status::UrgentActive | Status::UrgentApplied
        ) {
            return Err(wrong_state(self, "stop"));
        }
        self.status = Status::Stopped;
        self.stop = Some(Stop {
            at: now,
            by: Some(actor.user.clone()),
            reason: reason.to_string(),
        });
        Ok(Effect::UseEnded)
    }

    /// When the use ends or ended: the earliest of its recorded end, its stop, the refusal of an
    /// urgent use and an overturn; else the end of its window (at the latest the end in force). A
    /// subject notification falls due from it.
    pub fn use_end(&self) -> Timestamp {
        let refused = (self.status == Status::Refused)
            .then(|| self.decision.as_ref().map(|d| d.at))
            .flatten();
        let overturned = (self.status == Status::Overturned)
            .then(|| {
                self.appeal
                    .as_ref()
                    .and_then(|a| a.decision.as_ref())
                    .map(|d| d.at)
            })
            .flatten();
        [
            self.use_ended_at,
            self.stop.as_ref().map(|s| s.at),
            refused,
            overturned,
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or_else(|| {
            self.active_window()
                .map_or_else(|| self.end_in_force(), |(_, end)| end)
        })
    }

    /// Whether a use under this permit has ended by `now`: stopped, refused after an urgent
    /// start, or past its period (or the statute's sunset). A permit never used has no use to end.
    pub fn use_has_ended(&self, now: Timestamp) -> bool {
        match self.status {
            Status::Stopped | Status::Overturned => true,
            Status::Refused => self.urgent.is_some(),
            Status::Granted | Status::UrgentActive | Status::UrgentApplied => {
                self.active_window().is_none_or(|(_, end)| now >= end)
            }
            Status::Draft | Status::Applied => false,
        }
    }

    /// Record what the use led to (its applicant, after the use ended). A later record corrects
    /// an earlier one; the audit log keeps both.
    pub fn record_outcome(
        &mut self,
        actor: &Actor,
        results: &[UseResult],
        now: Timestamp,
    ) -> Result<Effect, Refusal> {
        if actor.user != self.applicant {
            return Err(rule::NOT_APPLICANT.refusal(format!(
                "{} may not record what permit {} led to: only its applicant does",
                actor.user, self.id
            )));
        }
        if !self.use_has_ended(now) {
            return Err(rule::WRONG_STATE.refusal(format!(
                "permit {} is {}: its outcome is recorded once its use has ended",
                self.id,
                self.phase_at(now)
            )));
        }
        let mut results = results.to_vec();
        results.sort();
        results.dedup();
        if results.is_empty() {
            return Err(rule::USE_OUTCOME.refusal(
                "name at least one result, or `nothing` when the use led to nothing".into(),
            ));
        }
        if results.len() > 1 && results.contains(&UseResult::Nothing) {
            return Err(rule::USE_OUTCOME
                .refusal("`nothing` cannot be recorded together with a result".into()));
        }
        self.use_outcome = Some(UseOutcome {
            results,
            by: actor.user.clone(),
            at: now,
        });
        Ok(Effect::Nothing)
    }

    /// Whether use began or ended since last asked, as seen at `now`. Marks what it reports, so each
    /// start and end is reported once.
    pub fn use_events(&mut self, now: Timestamp) -> Vec<UseEvent> {
        let mut out = Vec::new();
        let active = self.is_active_at(now);
        if active && self.use_started_at.is_none() {
            self.use_started_at = Some(now);
            out.push(UseEvent::Started);
        }
        if !active && self.use_started_at.is_some() && self.use_ended_at.is_none() {
            self.use_ended_at = Some(now);
            out.push(UseEvent::Ended);
        }
        out
    }

    /// Deadlines that act by themselves: an urgent use without an application by its deadline is
    /// stopped and purged.
    pub fn tick(&mut self, now: Timestamp) -> Effect {
        if let (Status::UrgentActive, Some(u)) = (self.status, &self.urgent)
            && now >= u.deadline
        {
            let deadline = u.deadline;
            self.status = Status::Stopped;
            self.stop = Some(Stop {
                at: now,
                by: None,
                reason: format!("no application filed by the deadline {deadline}"),
            });
            return Effect::Purge {
                reason: format!("urgent use without an application by {deadline}"),
            };
        }
        Effect::Nothing
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::permit::*;
    use crate::profile::{SWEDEN, SWEDEN_COURT_FOR_ALL};

    pub fn t0() -> Timestamp {
        Timestamp::parse_rfc3339("2026-08-03T08:00:00Z").unwrap()
    }

    #[test]
    fn a_profile_may_cap_persons_cameras_and_area() {
        use crate::profile::Limits;
        let mut a = application(Purpose::VictimSearch);
        // About 1.11 km (north) by 0.57 km (east) at Sergels torg: 0.63 km².
        a.area.polygon = Some(vec![
            (59.33, 18.06),
            (59.34, 18.06),
            (59.34, 18.07),
            (59.33, 18.07),
        ]);
        let km2 = a.area.polygon_km2().unwrap();
        assert!((km2 - 0.63).abs() < 0.01, "{km2}");
        let caps = Limits {
            max_persons: Some(1),
            max_cameras: Some(1),
            max_area_km2: Some(1.0),
        };
        assert!(a.over_limits(&caps).is_empty());
        assert!(a.over_limits(&Limits::default()).is_empty());
        let mut two = a.persons[0].clone();
        two.id = "p2".into();
        a.persons.push(two);
        a.area.cameras.push("cam-2".into());
        let tight = Limits {
            max_area_km2: Some(0.5),
            ..caps
        };
        let refusals = a.over_limits(&tight);
        assert_eq!(refusals.len(), 3, "{refusals:?}");
        assert!(refusals.iter().all(|r| r.code == "profile_limits"));
        assert!(
            refusals[0].message.contains("2 designated persons"),
            "{}",
            refusals[0]
        );
        assert!(refusals[2].message.contains("0.63 km²"), "{}", refusals[2]);
        // The check of an application includes them.
        let profile = crate::Profile {
            limits: tight,
            ..crate::SWEDEN
        };
        assert_eq!(
            a.check(&profile)
                .iter()
                .filter(|r| r.code == "profile_limits")
                .count(),
            3
        );
        assert!(
            a.check(&crate::SWEDEN)
                .iter()
                .all(|r| r.code != "profile_limits")
        );
    }

    pub fn application(purpose: Purpose) -> Application {
        Application {
            agency: Agency::Polismyndigheten,
            purpose,
            offence: purpose.requires_offence().then(|| Offence {
                code: Some("brb-3-1".into()),
                description: "mord (BrB 3 kap. 1 §)".into(),
                annex_ii: Some(AnnexII::Murder),
                max_penalty_years: 18,
                stage: Stage::Completed,
                suspicion: (purpose == Purpose::SuspectLocation)
                    .then_some(crate::grounds::Suspicion::ReasonablySuspected),
                confirmed_by: None,
            }),
            victim: (purpose == Purpose::VictimSearch)
                .then_some(crate::grounds::VictimCategory::MissingPerson),
            threat: (purpose == Purpose::ImminentThreat).then(|| crate::grounds::Threat {
                kind: crate::grounds::ThreatKind::Life,
                imminence: "armed and on his way".into(),
            }),
            judgment: (purpose == Purpose::SentenceEnforcement).then(|| crate::grounds::Judgment {
                court: "Stockholms tingsrätt".into(),
                case_number: "B 1234-26".into(),
                legal_force: Timestamp::parse_rfc3339("2026-06-01T00:00:00Z").unwrap(),
            }),
            persons: vec![DesignatedPerson {
                id: "p1".into(),
                label: "person 1".into(),
                photos: vec![PhotoRef {
                    id: "ph1".into(),
                    source: "passport register".into(),
                }],
            }],
            area: Area {
                cameras: vec!["cam-1".into()],
                polygon: None,
            },
            period: Period {
                start: t0(),
                end: t0().plus_hours(72),
            },
            reasons: Reasons {
                necessity: "n".into(),
                proportionality: "p".into(),
                fria_ref: "FRIA-1".into(),
                eu_db_ref: "EU-1".into(),
            },
            threshold: 0.4,
            target: None,
            case_number: "K-123456-26".into(),
            embedder: None,
        }
    }

    fn police() -> Actor {
        Actor::new("officer", &[Role::Applicant])
    }
    fn prosecutor() -> Actor {
        Actor::new("prosecutor", &[Role::Prosecutor])
    }
    fn judge() -> Actor {
        Actor::new("judge", &[Role::Judge])
    }

    /// A victim search by the police, granted by the prosecutor at `t0`.
    fn granted_victim_search(id: &str) -> Permit {
        let mut p = Permit::draft(
            id.into(),
            &SWEDEN,
            application(Purpose::VictimSearch),
            &police(),
            t0(),
        )
        .unwrap();
        name_decider(&mut p, &prosecutor());
        p.apply(&police(), &SWEDEN, t0()).unwrap();
        p.decide(&prosecutor(), &SWEDEN, Outcome::Grant, "ok", t0())
            .unwrap();
        p
    }

    fn codes(r: &[Refusal]) -> Vec<&str> {
        r.iter().map(|r| r.code.as_str()).collect()
    }

    #[test]
    fn reference_photos_are_seen_by_who_applied_and_who_decides_only() {
        let mut p = granted_victim_search("ph");
        p.team.push(Member {
            user: "rev".into(),
            role: Role::Reviewer,
            assigned_by: "officer".into(),
            assigned_at: t0(),
        });
        assert_eq!(p.may_see_photos(&police(), &SWEDEN), Ok(()));
        assert_eq!(p.may_see_photos(&prosecutor(), &SWEDEN), Ok(()));
        // A reviewer on the team, a judge who does not decide it, an outsider: refused, as an
        // actor (403), by the rule's code.
        for who in [
            Actor::new("rev", &[Role::Reviewer]),
            judge(),
            Actor::new("other", &[Role::Applicant, Role::Prosecutor]),
        ] {
            let r = p.may_see_photos(&who, &SWEDEN).unwrap_err();
            assert_eq!(r.code, "reference_photos");
            assert!(r.forbids_actor());
        }
        // Whoever started it urgently applied for it too.
        p.urgent = Some(Urgent {
            started_at: t0(),
            started_by: "first-officer".into(),
            deadline: t0().plus_hours(24),
            ground: "g".into(),
        });
        let starter = Actor::new("first-officer", &[Role::Applicant]);
        assert_eq!(p.may_see_photos(&starter, &SWEDEN), Ok(()));
    }

    #[test]
    fn a_statute_out_of_force_files_starts_and_grants_nothing_and_its_sunset_stops_use() {
        let reform = &SWEDEN_COURT_FOR_ALL;
        let sunset = reform.validity.sunset.unwrap();
        let drafted = |start: Timestamp, end: Timestamp| {
            let mut a = application(Purpose::VictimSearch);
            a.period = Period { start, end };
            let mut p = Permit::draft("s".into(), reform, a, &prosecutor(), start).unwrap();
            name_decider(&mut p, &judge());
            p
        };
        // A period reaching past the sunset is refused when filed.
        let before = sunset.plus_hours(-240);
        let mut p = drafted(before, sunset.plus_hours(24));
        let e = p.apply(&prosecutor(), reform, before).unwrap_err();
        assert_eq!(codes(&e), ["profile_validity"]);
        // Up to the sunset: filed, granted, used until the last instant before it.
        let mut p = drafted(before, sunset);
        p.apply(&prosecutor(), reform, before).unwrap();
        crate::appeal::heard(&mut p, &judge(), reform, before);
        p.decide(&judge(), reform, Outcome::Grant, "ok", before)
            .unwrap();
        assert!(p.is_active_at(Timestamp(sunset.0 - 1)));
        assert!(!p.is_active_at(sunset));
        // A permit whose period runs past the sunset (granted before the sunset was enacted,
        // or edited in the database) still stops there.
        p.application.period.end = sunset.plus_hours(48);
        assert_eq!(p.active_window(), Some((before, sunset)));
        assert_eq!(p.end_in_force(), sunset);
        assert_eq!(crate::retention::use_over(&p, sunset), Some(sunset));
        assert!(!p.is_active_at(sunset.plus_hours(1)));
        assert_eq!(p.use_events(before.plus_hours(1)), [UseEvent::Started]);
        assert_eq!(p.use_events(sunset), [UseEvent::Ended]);
        assert_eq!(p.phase_at(sunset), "expired");
        // After the sunset nothing is filed, started or granted; a refusal still ends a use.
        let after = sunset.plus_hours(1);
        let mut p = drafted(after, after.plus_hours(24));
        let e = p.apply(&prosecutor(), reform, after).unwrap_err();
        assert_eq!(codes(&e), ["profile_validity"]);
        let e = p
            .urgent_start(&prosecutor(), reform, "the threat is now", after)
            .unwrap_err();
        assert_eq!(codes(&e), ["profile_validity"]);
        let mut p = drafted(before, sunset);
        p.urgent_start(&prosecutor(), reform, "the threat is now", before)
            .unwrap();
        p.apply(&prosecutor(), reform, before.plus_hours(1))
            .unwrap();
        // An urgent use started just before the sunset is still filed after it, to be decided.
        let mut q = drafted(sunset.plus_hours(-2), sunset);
        q.urgent_start(
            &prosecutor(),
            reform,
            "the threat is now",
            sunset.plus_hours(-2),
        )
        .unwrap();
        q.apply(&prosecutor(), reform, after).unwrap();
        assert_eq!(q.status, Status::UrgentApplied);
        assert_eq!(q.end_in_force(), sunset);
        let e = p
            .decide(&judge(), reform, Outcome::Grant, "ok", after)
            .unwrap_err();
        assert_eq!(e.code, "profile_validity");
        assert!(matches!(
            p.decide(&judge(), reform, Outcome::Refuse, "no", after),
            Ok(Effect::Purge { .. })
        ));
        // Before entry into force (the enacted act has no sunset).
        let early = Timestamp::parse_rfc3339("2026-06-01T08:00:00Z").unwrap();
        let mut a = application(Purpose::VictimSearch);
        a.period = Period {
            start: t0(),
            end: t0().plus_hours(24),
        };
        let mut p = Permit::draft("e".into(), &SWEDEN, a, &police(), early).unwrap();
        name_decider(&mut p, &prosecutor());
        let e = p.apply(&police(), &SWEDEN, early).unwrap_err();
        assert_eq!(codes(&e), ["profile_validity"]);
        let mut a = application(Purpose::VictimSearch);
        a.period.start = early;
        assert!(codes(&a.check(&SWEDEN)).contains(&"profile_validity"));
        // A permit of a profile mandat does not know is never in use (fail closed).
        let mut p = granted_victim_search("u");
        assert!(p.is_active_at(t0().plus_hours(1)));
        p.profile = "se-1999".into();
        assert!(!p.is_active_at(t0().plus_hours(1)));
        assert_eq!(p.active_window(), None);
    }

    #[test]
    fn a_use_records_what_it_led_to_once_it_has_ended() {
        let granted = || granted_victim_search("o");
        use UseResult::*;
        let mut p = granted();
        let during = t0().plus_hours(1);
        let e = p.record_outcome(&police(), &[Nothing], during).unwrap_err();
        assert_eq!(e.code, "wrong_state");
        assert!(e.message.contains("active"), "{e}");
        let end = p.application.period.end;
        let e = p
            .record_outcome(&prosecutor(), &[Nothing], end)
            .unwrap_err();
        assert_eq!(e.code, "not_applicant");
        assert!(e.forbids_actor());
        assert_eq!(
            p.record_outcome(&police(), &[], end).unwrap_err().code,
            "use_outcome"
        );
        assert_eq!(
            p.record_outcome(&police(), &[Arrested, Nothing], end)
                .unwrap_err()
                .code,
            "use_outcome"
        );
        assert_eq!(p.use_outcome, None);
        p.record_outcome(&police(), &[Arrested, PersonLocated, Arrested], end)
            .unwrap();
        let o = p.use_outcome.clone().unwrap();
        assert_eq!(
            (o.results, o.by.as_str(), o.at),
            (vec![PersonLocated, Arrested], "officer", end)
        );
        // A correction replaces it.
        p.record_outcome(&police(), &[FalseIdentificationActedOn], end.plus_hours(1))
            .unwrap();
        assert_eq!(p.use_outcome.unwrap().results, [FalseIdentificationActedOn]);
        // A stopped use has ended; an application refused without use had none.
        let mut p = granted();
        p.stop(&police(), "found", during).unwrap();
        p.record_outcome(&police(), &[VictimFound], during).unwrap();
        let mut p = Permit::draft(
            "r".into(),
            &SWEDEN,
            application(Purpose::VictimSearch),
            &police(),
            t0(),
        )
        .unwrap();
        name_decider(&mut p, &prosecutor());
        p.apply(&police(), &SWEDEN, t0()).unwrap();
        p.decide(&prosecutor(), &SWEDEN, Outcome::Refuse, "no", t0())
            .unwrap();
        assert_eq!(
            p.record_outcome(&police(), &[Nothing], during)
                .unwrap_err()
                .code,
            "wrong_state"
        );
        // An urgent use refused afterwards has ended.
        let mut p = Permit::draft(
            "u".into(),
            &SWEDEN,
            application(Purpose::VictimSearch),
            &police(),
            t0(),
        )
        .unwrap();
        name_decider(&mut p, &prosecutor());
        p.urgent_start(&police(), &SWEDEN, "the threat is now", t0())
            .unwrap();
        assert!(!p.use_has_ended(during));
        p.apply(&police(), &SWEDEN, during).unwrap();
        p.decide(&prosecutor(), &SWEDEN, Outcome::Refuse, "no", during)
            .unwrap();
        p.record_outcome(&police(), &[Nothing], during).unwrap();
        assert_eq!(
            UseResult::ALL.map(|r| UseResult::parse(r.as_str())),
            UseResult::ALL.map(Some)
        );
    }

    #[test]
    fn an_application_names_its_case_and_nothing_else_fits_there() {
        let long = "1".repeat(41);
        for (case, ok) in [
            ("5000-K123456-26", true),
            ("AM-12345-26", true),
            ("B 1234-26", true),
            ("Ä 77-26", true),
            ("", false),
            ("   ", false),
            ("Anna Svensson", false),
            ("Anna Svensson 12", false),
            ("Bo Ek 1 2", false),
            ("K1", false),
            ("K1; DROP TABLE permits", false),
            ("K-1\n26", false),
            (long.as_str(), false),
        ] {
            let mut a = application(Purpose::VictimSearch);
            a.case_number = case.into();
            let codes: Vec<String> = a.check(&SWEDEN).into_iter().map(|r| r.code).collect();
            assert_eq!(
                codes.contains(&"case_number".to_string()),
                !ok,
                "{case:?}: {codes:?}"
            );
        }
        // The number is not sealed, so a draft is held to its shape at once.
        let mut a = application(Purpose::VictimSearch);
        a.case_number = "Anna Svensson".into();
        let e = Permit::draft("c".into(), &SWEDEN, a, &police(), t0()).unwrap_err();
        assert_eq!(e.code, "case_number", "{e:?}");
    }

    #[test]
    fn the_police_start_any_purpose_urgently_and_hand_it_to_the_prosecutor_who_files() {
        // The reform: a court decides a victim search, on a prosecutor's application.
        let reform = &SWEDEN_COURT_FOR_ALL;
        let mut p = Permit::draft(
            "p1".into(),
            reform,
            application(Purpose::VictimSearch),
            &police(),
            t0(),
        )
        .unwrap();
        name_decider(&mut p, &judge());
        // Without urgency the police cannot file to the court ...
        let e = p.apply(&police(), reform, t0()).unwrap_err();
        assert_eq!(e[0].code, "wrong_applicant");
        assert!(e[0].message.contains("hand the permit over"), "{}", e[0]);
        // ... but may start at once, where the profile allows it.
        let strict = Profile {
            urgent_start_by_police: false,
            ..SWEDEN_COURT_FOR_ALL
        };
        assert_eq!(
            p.clone()
                .urgent_start(&police(), &strict, "she is in danger now", t0())
                .unwrap_err()[0]
                .code,
            "wrong_applicant"
        );
        assert_eq!(
            p.urgent_start(&police(), reform, "she is in danger now", t0())
                .unwrap(),
            Effect::UseStarted
        );
        let t1 = t0().plus_hours(2);
        // Not once the deadline has passed: that use is stopped and purged.
        assert_eq!(
            p.clone()
                .hand_over(
                    &police(),
                    reform,
                    "prosecutor",
                    &[Role::Prosecutor],
                    t0().plus_hours(24)
                )
                .unwrap_err()
                .code,
            "urgent_deadline"
        );
        // Only a prosecutor takes it, once, and not one on its team.
        let officer2 = Actor::new("officer2", &[Role::Applicant]);
        for (to, roles, code) in [
            ("officer2", &officer2.roles, "urgent_hand_over"),
            ("judge", &judge().roles, "urgent_hand_over"),
        ] {
            assert_eq!(
                p.clone()
                    .hand_over(&police(), reform, to, roles, t1)
                    .unwrap_err()
                    .code,
                code
            );
        }
        assert_eq!(
            p.clone()
                .hand_over(&officer2, reform, "prosecutor", &[Role::Prosecutor], t1)
                .unwrap_err()
                .code,
            "not_applicant"
        );
        p.hand_over(&police(), reform, "prosecutor", &[Role::Prosecutor], t1)
            .unwrap();
        assert_eq!(p.applicant, "prosecutor");
        assert_eq!(p.handed_over.as_ref().unwrap().from, "officer");
        // The officer still sees it, and still may stop what they started; no longer file it.
        assert!(p.on_team("officer"));
        assert_eq!(
            p.apply(&police(), reform, t1).unwrap_err()[0].code,
            "wrong_applicant"
        );
        assert_eq!(
            p.clone()
                .hand_over(&prosecutor(), reform, "p2", &[Role::Prosecutor], t1)
                .unwrap_err()
                .code,
            "urgent_hand_over"
        );
        // The officer may not be put on the team to review or decide what they started.
        assert_eq!(
            p.clone()
                .assign(
                    &prosecutor(),
                    "officer",
                    &[Role::Reviewer],
                    Role::Reviewer,
                    t1
                )
                .unwrap_err()
                .code,
            "separation_of_duties"
        );
        p.apply(&prosecutor(), reform, t1).unwrap();
        assert_eq!(p.status, Status::UrgentApplied);
        assert_eq!(
            p.clone().stop(&police(), "found her", t1).unwrap(),
            Effect::UseEnded
        );
        // The court registers it under its own number, then decides.
        assert_eq!(
            p.register_case(&prosecutor(), reform, "B 1234-26", t1)
                .unwrap_err()
                .code,
            "wrong_decider"
        );
        assert_eq!(
            p.register_case(&judge(), reform, "the victim's name", t1)
                .unwrap_err()
                .code,
            "decider_case_number"
        );
        p.register_case(&judge(), reform, " B 1234-26 ", t1)
            .unwrap();
        // Another court takes the application: the first one's number does not go with it.
        let mut moved = p.clone();
        name_decider(&mut moved, &Actor::new("judge2", &[Role::Judge]));
        assert_eq!(moved.decider_case, None);
        p.register_case(&judge(), reform, "B 1235-26", t1).unwrap();
        crate::appeal::heard(&mut p, &judge(), reform, t1);
        p.decide(&judge(), reform, Outcome::Grant, "granted", t1)
            .unwrap();
        assert_eq!(p.decider_case.as_ref().unwrap().number, "B 1235-26");
        // Decided: the number stands.
        assert_eq!(
            p.register_case(&judge(), reform, "B 1-26", t1)
                .unwrap_err()
                .code,
            "decider_case_number"
        );
        // A purpose the police apply for themselves has nothing to hand over.
        let mut own = Permit::draft(
            "p2".into(),
            &SWEDEN,
            application(Purpose::VictimSearch),
            &police(),
            t0(),
        )
        .unwrap();
        assert_eq!(
            own.hand_over(&police(), &SWEDEN, "prosecutor", &[Role::Prosecutor], t0())
                .unwrap_err()
                .code,
            "urgent_hand_over"
        );
    }

    #[test]
    fn an_offence_described_by_hand_waits_for_a_prosecutor() {
        let mut a = application(Purpose::SentenceEnforcement);
        let o = a.offence.as_mut().unwrap();
        o.code = None;
        o.description = "grovt brott enligt en lag utanför katalogen".into();
        // A confirmation sent by the client is dropped at drafting.
        o.confirmed_by = Some("prosecutor".into());
        let mut p = Permit::draft("p1".into(), &SWEDEN, a, &police(), t0()).unwrap();
        assert_eq!(p.application.offence.as_ref().unwrap().confirmed_by, None);
        name_decider(&mut p, &prosecutor());
        let e = p.clone().apply(&police(), &SWEDEN, t0()).unwrap_err();
        assert_eq!(codes(&e), ["offence_catalogue"]);
        // Not the police, not a prosecutor off the team.
        let p2 = Actor::new("p2", &[Role::Prosecutor]);
        for who in [police(), p2.clone()] {
            assert_eq!(
                p.confirm_offence(&who, &SWEDEN).unwrap_err().code,
                "not_permitted"
            );
        }
        p.confirm_offence(&prosecutor(), &SWEDEN).unwrap();
        assert_eq!(
            p.confirm_offence(&prosecutor(), &SWEDEN).unwrap_err().code,
            "offence_catalogue"
        );
        // The applicant swaps the decider after the confirmation: it no longer counts, and the
        // new decider confirms it again.
        let mut swapped = p.clone();
        name_decider(&mut swapped, &p2);
        let e = swapped.clone().apply(&police(), &SWEDEN, t0()).unwrap_err();
        assert_eq!(codes(&e), ["offence_catalogue"]);
        swapped.confirm_offence(&p2, &SWEDEN).unwrap();
        swapped.apply(&police(), &SWEDEN, t0()).unwrap();
        p.apply(&police(), &SWEDEN, t0()).unwrap();
        assert_eq!(
            p.confirm_offence(&prosecutor(), &SWEDEN).unwrap_err().code,
            "wrong_state"
        );
        // An account that holds both roles, drafting for a purpose the police apply for, does
        // not confirm its own offence; nor is one below the law's scale confirmed at all.
        let both = Actor::new("both", &[Role::Applicant, Role::Prosecutor]);
        let mut a = application(Purpose::SentenceEnforcement);
        let o = a.offence.as_mut().unwrap();
        (o.code, o.max_penalty_years) = (None, 2);
        let mut low = Permit::draft("p4".into(), &SWEDEN, a, &both, t0()).unwrap();
        assert_eq!(low.application.offence.as_ref().unwrap().confirmed_by, None);
        name_decider(&mut low, &prosecutor());
        assert_eq!(
            low.confirm_offence(&prosecutor(), &SWEDEN)
                .unwrap_err()
                .code,
            "offence_catalogue"
        );
        // A code outside the catalogue is refused when drafting.
        let mut b = application(Purpose::SuspectLocation);
        b.offence.as_mut().unwrap().code = Some("brb-0-0".into());
        assert_eq!(
            Permit::draft("p3".into(), &SWEDEN, b, &prosecutor(), t0())
                .unwrap_err()
                .code,
            "offence_catalogue"
        );
    }

    #[test]
    fn an_urgent_start_states_why_it_cannot_wait() {
        let mut p = Permit::draft(
            "g".into(),
            &SWEDEN,
            application(Purpose::ImminentThreat),
            &police(),
            t0(),
        )
        .unwrap();
        let long = "x".repeat(MAX_GROUND + 1);
        for blank in ["", "  \n\t", long.as_str()] {
            let e = p.urgent_start(&police(), &SWEDEN, blank, t0()).unwrap_err();
            assert_eq!(e[0].code, "urgent_ground", "{e:?}");
            assert_eq!(p.status, Status::Draft, "nothing started");
        }
        p.urgent_start(&police(), &SWEDEN, "  armed and on his way \n", t0())
            .unwrap();
        let u = p.urgent.as_ref().unwrap();
        assert_eq!(u.ground, "armed and on his way");
        assert_eq!(u.deadline, t0().plus_hours(24));
        // A record from before grounds were kept reads with an empty one.
        let mut doc = serde_json::to_value(&p).unwrap();
        doc["urgent"].as_object_mut().unwrap().remove("ground");
        let old: Permit = serde_json::from_value(doc).unwrap();
        assert_eq!(old.urgent.unwrap().ground, "");
    }

    #[test]
    fn a_decider_grants_less_never_more() {
        let mut a = application(Purpose::VictimSearch);
        a.area.cameras.push("cam-2".into());
        a.persons.push(DesignatedPerson {
            id: "p2".into(),
            label: "person 2".into(),
            photos: vec![PhotoRef {
                id: "ph2".into(),
                source: "passport register".into(),
            }],
        });
        let mut p = Permit::draft("1".into(), &SWEDEN, a, &police(), t0()).unwrap();
        name_decider(&mut p, &prosecutor());
        p.apply(&police(), &SWEDEN, t0()).unwrap();
        let end = p.application.period.end;
        for (bad, why) in [
            (
                Narrowing {
                    cameras: Some(vec!["cam-9".into()]),
                    ..Default::default()
                },
                "a camera not applied for",
            ),
            (
                Narrowing {
                    cameras: Some(vec![]),
                    ..Default::default()
                },
                "no camera",
            ),
            (
                Narrowing {
                    persons: Some(vec!["p9".into()]),
                    ..Default::default()
                },
                "a person not named",
            ),
            (
                Narrowing {
                    until: Some(end.plus_hours(1)),
                    ..Default::default()
                },
                "a longer period",
            ),
        ] {
            let r = p
                .grant_in_part(&prosecutor(), &SWEDEN, "ok", &bad, t0())
                .unwrap_err();
            assert_eq!(r.code, "narrowing", "{why}");
            assert_eq!(p.status, Status::Applied, "{why}: nothing changed");
        }
        let n = Narrowing {
            cameras: Some(vec!["cam-2".into()]),
            persons: Some(vec!["p1".into()]),
            until: Some(t0().plus_hours(24)),
        };
        p.grant_in_part(&prosecutor(), &SWEDEN, "only what is needed", &n, t0())
            .unwrap();
        assert_eq!(p.status, Status::Granted);
        assert_eq!(p.application.area.cameras, ["cam-2"]);
        assert_eq!(p.application.persons.len(), 1);
        assert_eq!(p.application.period.end, t0().plus_hours(24));
        let narrowed = p.decision.unwrap().narrowed.unwrap();
        assert_eq!(narrowed.cameras_not_granted, ["cam-1"]);
        assert_eq!(narrowed.persons_not_granted, ["p2"]);
        assert_eq!(narrowed.period_end_applied, Some(end));
    }

    #[test]
    fn prosecutor_decides_victim_search() {
        let mut p = Permit::draft(
            "1".into(),
            &SWEDEN,
            application(Purpose::VictimSearch),
            &police(),
            t0(),
        )
        .unwrap();
        name_decider(&mut p, &prosecutor());
        p.apply(&police(), &SWEDEN, t0()).unwrap();
        // A judge is not the decider for this purpose under the Swedish profile.
        let e = p
            .decide(&judge(), &SWEDEN, Outcome::Grant, "ok", t0())
            .unwrap_err();
        assert_eq!(e.code, "wrong_decider");
        assert!(e.to_string().contains("Lag 2026:806"), "{e}");
        p.decide(&prosecutor(), &SWEDEN, Outcome::Grant, "necessary", t0())
            .unwrap();
        assert_eq!(p.status, Status::Granted);
        assert!(p.is_active_at(t0()));
        assert_eq!(p.phase_at(t0().plus_hours(100)), "expired");
        assert!(!p.is_active_at(t0().plus_hours(72)));
    }

    #[test]
    fn the_applicant_assigns_the_team_and_files_to_one_decider() {
        let mut p = Permit::draft(
            "T".into(),
            &SWEDEN,
            application(Purpose::VictimSearch),
            &police(),
            t0(),
        )
        .unwrap();
        // Without a decider on the team the application cannot be filed.
        assert!(
            codes(&p.apply(&police(), &SWEDEN, t0()).unwrap_err()).contains(&"decider_required")
        );
        let rev = [Role::Reviewer];
        // Only the applicant assigns; only to a role the user holds; never the applicant.
        let err = |r: Result<(), Refusal>| r.unwrap_err().code;
        assert_eq!(
            err(p.assign(&prosecutor(), "r1", &rev, Role::Reviewer, t0())),
            "team"
        );
        assert_eq!(
            err(p.assign(&police(), "r1", &rev, Role::Operator, t0())),
            "team"
        );
        assert_eq!(
            err(p.assign(&police(), "officer", &rev, Role::Reviewer, t0())),
            "separation_of_duties"
        );
        assert_eq!(
            err(p.assign(&police(), "a", &[Role::Auditor], Role::Auditor, t0())),
            "team"
        );
        p.assign(&police(), "r1", &rev, Role::Reviewer, t0())
            .unwrap();
        assert!(p.on_team("r1") && p.on_team("officer") && !p.on_team("r2"));
        // One decider: naming another replaces the first, until the application is filed.
        let p2 = Actor::new("p2", &[Role::Prosecutor]);
        name_decider(&mut p, &p2);
        name_decider(&mut p, &prosecutor());
        assert_eq!(p.decider(&SWEDEN).unwrap().user, "prosecutor");
        assert!(!p.on_team("p2"));
        p.apply(&police(), &SWEDEN, t0()).unwrap();
        // Until the decision, an absent decider can be replaced (the change is in the log).
        name_decider(&mut p, &p2);
        name_decider(&mut p, &prosecutor());
        // Someone on the team as a reviewer does not act there as anything else.
        let both = Actor::new("r1", &[Role::Reviewer, Role::Operator]);
        assert!(p.acts_as(&both, Role::Reviewer) && !p.acts_as(&both, Role::Operator));
        // A prosecutor it was not filed to cannot decide it.
        assert_eq!(
            p.decide(&p2, &SWEDEN, Outcome::Grant, "x", t0())
                .unwrap_err()
                .code,
            "wrong_decider"
        );
        // Reviewers and operators can still be added and removed.
        p.unassign(&police(), "r1").unwrap();
        assert!(!p.on_team("r1"));
        p.decide(&prosecutor(), &SWEDEN, Outcome::Grant, "ok", t0())
            .unwrap();
        // After the decision the decider is fixed.
        assert_eq!(
            err(p.assign(&police(), "p2", &p2.roles, Role::Prosecutor, t0())),
            "team"
        );
        assert_eq!(err(p.unassign(&police(), "prosecutor")), "team");
    }

    #[test]
    fn court_decides_suspects_on_a_prosecutors_application() {
        let app = application(Purpose::SuspectLocation);
        // The police cannot file it: a prosecutor applies to the court.
        let mut p = Permit::draft("2".into(), &SWEDEN, app.clone(), &police(), t0()).unwrap();
        assert_eq!(
            codes(&p.apply(&police(), &SWEDEN, t0()).unwrap_err()),
            ["wrong_applicant"]
        );
        let mut p2 = Permit::draft("3".into(), &SWEDEN, app, &prosecutor(), t0()).unwrap();
        name_decider(&mut p2, &judge());
        p2.apply(&prosecutor(), &SWEDEN, t0()).unwrap();
        assert_eq!(
            p2.decide(&prosecutor(), &SWEDEN, Outcome::Grant, "x", t0())
                .unwrap_err()
                .code,
            "separation_of_duties"
        );
        let other_prosecutor = Actor::new("p2", &[Role::Prosecutor]);
        assert_eq!(
            p2.decide(&other_prosecutor, &SWEDEN, Outcome::Grant, "x", t0())
                .unwrap_err()
                .code,
            "wrong_decider"
        );
        p2.decide(&judge(), &SWEDEN, Outcome::Grant, "x", t0())
            .unwrap();
        assert_eq!(p.status, Status::Draft);
    }

    #[test]
    fn stricter_profile_sends_every_purpose_to_a_court() {
        let mut p = Permit::draft(
            "4".into(),
            &SWEDEN_COURT_FOR_ALL,
            application(Purpose::VictimSearch),
            &prosecutor(),
            t0(),
        )
        .unwrap();
        name_decider(&mut p, &judge());
        p.apply(&prosecutor(), &SWEDEN_COURT_FOR_ALL, t0()).unwrap();
        let other = Actor::new("p2", &[Role::Prosecutor]);
        assert_eq!(
            p.decide(&other, &SWEDEN_COURT_FOR_ALL, Outcome::Grant, "x", t0())
                .unwrap_err()
                .code,
            "wrong_decider"
        );
        crate::appeal::heard(&mut p, &judge(), &SWEDEN_COURT_FOR_ALL, t0());
        p.decide(&judge(), &SWEDEN_COURT_FOR_ALL, Outcome::Grant, "x", t0())
            .unwrap();
    }

    #[test]
    fn applications_that_fall_short_are_refused_with_the_rule() {
        let mut a = application(Purpose::SuspectLocation);
        // Described by hand (and confirmed), so its scale is the applicant's to state.
        let o = a.offence.as_mut().unwrap();
        (o.code, o.confirmed_by) = (None, Some("prosecutor".into()));
        o.max_penalty_years = 2;
        a.period.end = a.period.start.plus_months(1).plus_millis(1);
        a.reasons.fria_ref.clear();
        a.persons[0].photos.clear();
        let r = a.check(&SWEDEN);
        assert_eq!(
            codes(&r),
            [
                "penalty_too_low",
                "photo_required",
                "period_too_long",
                "reasons_required"
            ]
        );
        assert!(r.iter().any(|x| x.to_string()
            == "period exceeds 1 month(s) (period exceeds one month (Lag 2026:806))"));
        let mut none = application(Purpose::SentenceEnforcement);
        none.offence = None;
        assert_eq!(codes(&none.check(&SWEDEN)), ["offence_required"]);
        // Attempt of a qualifying offence qualifies.
        let mut attempt = application(Purpose::SuspectLocation);
        attempt.offence.as_mut().unwrap().stage = Stage::Attempt;
        assert!(attempt.check(&SWEDEN).is_empty());
        // Exactly one month is allowed.
        let mut month = application(Purpose::VictimSearch);
        month.period.end = month.period.start.plus_months(1);
        assert!(month.check(&SWEDEN).is_empty());
        // No area at all.
        let mut nowhere = application(Purpose::VictimSearch);
        nowhere.area = Area::default();
        assert_eq!(codes(&nowhere.check(&SWEDEN)), ["area_required"]);
    }

    #[test]
    fn urgent_start_deadline_purges_by_itself() {
        let mut p = Permit::draft(
            "5".into(),
            &SWEDEN,
            application(Purpose::ImminentThreat),
            &police(),
            t0(),
        )
        .unwrap();
        assert_eq!(
            p.urgent_start(&police(), &SWEDEN, "the threat is now", t0())
                .unwrap(),
            Effect::UseStarted
        );
        assert!(p.is_active_at(t0().plus_hours(23)));
        // Fail closed: past the deadline the use is off even before tick runs.
        assert!(!p.is_active_at(t0().plus_hours(24)));
        assert_eq!(p.tick(t0().plus_hours(23)), Effect::Nothing);
        assert!(matches!(p.tick(t0().plus_hours(24)), Effect::Purge { .. }));
        assert_eq!(p.status, Status::Stopped);
        assert_eq!(
            p.apply(&police(), &SWEDEN, t0().plus_hours(25))
                .unwrap_err()[0]
                .code,
            "wrong_state"
        );
    }

    #[test]
    fn refused_urgent_use_is_purged_granted_continues() {
        let mut p = Permit::draft(
            "6".into(),
            &SWEDEN,
            application(Purpose::ImminentThreat),
            &police(),
            t0(),
        )
        .unwrap();
        p.urgent_start(&police(), &SWEDEN, "the threat is now", t0())
            .unwrap();
        name_decider(&mut p, &prosecutor());
        p.apply(&police(), &SWEDEN, t0().plus_hours(2)).unwrap();
        assert!(
            p.is_active_at(t0().plus_hours(30)),
            "filed in time: use continues past 24 h"
        );
        let e = p
            .decide(
                &prosecutor(),
                &SWEDEN,
                Outcome::Refuse,
                "not necessary",
                t0().plus_hours(3),
            )
            .unwrap();
        assert!(matches!(e, Effect::Purge { .. }));
        assert!(!p.is_active_at(t0().plus_hours(3)));

        let mut q = Permit::draft(
            "7".into(),
            &SWEDEN,
            application(Purpose::ImminentThreat),
            &police(),
            t0(),
        )
        .unwrap();
        q.urgent_start(&police(), &SWEDEN, "the threat is now", t0())
            .unwrap();
        name_decider(&mut q, &prosecutor());
        q.apply(&police(), &SWEDEN, t0().plus_hours(1)).unwrap();
        assert_eq!(
            q.decide(
                &prosecutor(),
                &SWEDEN,
                Outcome::Grant,
                "ok",
                t0().plus_hours(2)
            )
            .unwrap(),
            Effect::Nothing
        );
        assert_eq!(q.status, Status::Granted);
    }

    #[test]
    fn stop_ends_use_and_is_restricted() {
        let mut p = granted_victim_search("8");
        let reviewer = Actor::new("r", &[Role::Reviewer]);
        assert_eq!(
            p.stop(&reviewer, "x", t0()).unwrap_err().code,
            "not_permitted"
        );
        assert_eq!(
            p.stop(&police(), "found", t0().plus_hours(1)).unwrap(),
            Effect::UseEnded
        );
        assert!(!p.is_active_at(t0().plus_hours(2)));
        assert_eq!(
            p.stop(&police(), "again", t0()).unwrap_err().code,
            "wrong_state"
        );
    }

    #[test]
    fn use_start_and_end_are_reported_once() {
        let mut p = Permit::draft(
            "10".into(),
            &SWEDEN,
            application(Purpose::VictimSearch),
            &police(),
            t0().plus_hours(-2),
        )
        .unwrap();
        name_decider(&mut p, &prosecutor());
        p.apply(&police(), &SWEDEN, t0().plus_hours(-2)).unwrap();
        p.decide(
            &prosecutor(),
            &SWEDEN,
            Outcome::Grant,
            "ok",
            t0().plus_hours(-1),
        )
        .unwrap();
        assert!(
            p.use_events(t0().plus_hours(-1)).is_empty(),
            "before the period"
        );
        assert_eq!(p.use_events(t0()), [UseEvent::Started]);
        assert!(p.use_events(t0().plus_hours(1)).is_empty());
        assert_eq!(p.use_events(t0().plus_hours(72)), [UseEvent::Ended]);
        assert!(p.use_events(t0().plus_hours(73)).is_empty());
    }

    #[test]
    fn drafting_needs_an_applicant_role() {
        let admin = Actor::new("a", &[Role::Admin]);
        assert_eq!(
            Permit::draft(
                "9".into(),
                &SWEDEN,
                application(Purpose::VictimSearch),
                &admin,
                t0()
            )
            .unwrap_err()
            .code,
            "not_permitted"
        );
    }
}
