//! The notification to IMY (Integritetsskyddsmyndigheten) of every use (Förordning 2026:815; AI Act
//! art. 5(4) and 5(6)): made when a use starts, urgent starts included, and followed up when it ends.
//! It carries what the supervisor needs and nothing about any person: counts, never names or images.

use serde::{Deserialize, Serialize};

use crate::lifecycle::{Outcome, Permit, Status};
use crate::permit::{AnnexII, LatLon, Period, Purpose, Stage};
use crate::profile::{Authority, Profile};
use crate::time::Timestamp;

/// The legal ground every notification cites.
pub const LEGAL_BASIS: &str =
    "AI Act art. 5(1)(h), 5(2), 5(3), 5(4) and 5(6); Förordning (2026:815)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// A use began (after a decision, or an urgent start before one).
    UseStarted,
    /// The follow-up: the use ended.
    UseEnded,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::UseStarted => "use_started",
            NotificationKind::UseEnded => "use_ended",
        }
    }
}

/// How a use ended, for the follow-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UseEnd {
    /// The period ran out.
    PeriodEnded,
    /// Stopped by a person.
    Stopped,
    /// The urgent use was refused: everything it produced was deleted.
    Refused,
    /// No application followed the urgent start in time: stopped and deleted by mandat.
    UrgentDeadlineMissed,
    /// A higher instance overturned the grant on appeal: everything the use produced was deleted.
    Overturned,
}

/// The audit log's signed head when a notification was made: sequence number, hash, time, public
/// key and Ed25519 signature. IMY keeps a copy outside the police's hosts, so whoever can write
/// the database cannot cut the log back past it unnoticed (`mandat audit verify --anchor`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditAnchor {
    pub seq: u64,
    pub hash: String,
    pub at: i64,
    pub key: String,
    pub signature: String,
}

/// One notification, as sent: every field IMY asked for, and no personal data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImyNotification {
    pub kind: NotificationKind,
    pub permit: String,
    /// The jurisdiction profile and its statute.
    pub profile: String,
    pub statute: String,
    pub legal_basis: String,
    pub purpose: Purpose,
    /// Annex II category and stage of the offence, where the purpose has one (never its text,
    /// which may name people).
    pub offence_category: Option<AnnexII>,
    pub offence_stage: Option<Stage>,
    /// A victim search's category and an imminent threat's kind (never its text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub victim_category: Option<crate::grounds::VictimCategory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threat_kind: Option<crate::grounds::ThreatKind>,
    /// The kind of authority that decides this purpose.
    pub decider: Authority,
    pub decision: Option<Outcome>,
    pub decided_at: Option<Timestamp>,
    /// Set when use started before a decision.
    pub urgent_started_at: Option<Timestamp>,
    pub period: Period,
    /// Cameras the area covers when the notification is made.
    pub cameras: usize,
    /// The partner cameras among them, each named with its owner and agreement: IMY supervises
    /// the partners' part too. Police cameras are counted only.
    #[serde(default)]
    pub partner_cameras: Vec<PartnerCamera>,
    #[schema(value_type = Option<Vec<crate::permit::LatLonSchema>>)]
    pub polygon: Option<Vec<LatLon>>,
    /// How many persons the permit designates; never who.
    pub designated_persons: usize,
    pub use_started_at: Option<Timestamp>,
    pub use_ended_at: Option<Timestamp>,
    pub ended_by: Option<UseEnd>,
    /// The audit log's head when the notification was registered (set by the store).
    #[serde(default)]
    pub audit_anchor: Option<AuditAnchor>,
}

impl ImyNotification {
    /// The notification of `kind` for `permit`, whose area covers `cameras` cameras.
    pub fn of(permit: &Permit, profile: &Profile, cameras: usize, kind: NotificationKind) -> Self {
        let a = &permit.application;
        let ended_by = (kind == NotificationKind::UseEnded).then(|| end_of(permit));
        Self {
            kind,
            permit: permit.id.clone(),
            profile: profile.name.to_string(),
            statute: profile.statute.to_string(),
            legal_basis: LEGAL_BASIS.to_string(),
            purpose: a.purpose,
            offence_category: a.offence.as_ref().and_then(|o| o.annex_ii),
            offence_stage: a.offence.as_ref().map(|o| o.stage),
            victim_category: a.victim,
            threat_kind: a.threat.as_ref().map(|t| t.kind),
            decider: profile.rule(a.purpose).decider,
            decision: permit.decision.as_ref().map(|d| d.outcome),
            decided_at: permit.decision.as_ref().map(|d| d.at),
            urgent_started_at: permit.urgent.as_ref().map(|u| u.started_at),
            period: a.period,
            cameras,
            partner_cameras: Vec::new(),
            polygon: a.area.polygon.clone(),
            designated_persons: a.persons.len(),
            use_started_at: permit.use_started_at,
            use_ended_at: permit.use_ended_at,
            ended_by,
            audit_anchor: None,
        }
    }
}

/// A partner camera a notification names: an organisation's camera, never a person's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PartnerCamera {
    pub camera: String,
    /// `municipality:NAME`, `region:NAME` or `private:NAME`.
    pub owner: String,
    /// The agreement's reference, if one is recorded (without one the camera is not analysed).
    pub agreement: Option<String>,
}

impl ImyNotification {
    /// The same notification naming `partners`, sorted by camera.
    pub fn with_partners(mut self, mut partners: Vec<PartnerCamera>) -> Self {
        partners.sort_by(|a, b| a.camera.cmp(&b.camera));
        self.partner_cameras = partners;
        self
    }
}

fn end_of(p: &Permit) -> UseEnd {
    match (p.status, &p.stop, &p.decision) {
        (Status::Refused, _, _) => UseEnd::Refused,
        (Status::Overturned, _, _) => UseEnd::Overturned,
        (_, Some(s), _) if s.by.is_none() => UseEnd::UrgentDeadlineMissed,
        (_, Some(_), _) => UseEnd::Stopped,
        (_, None, Some(d)) if d.outcome == Outcome::Refuse => UseEnd::Refused,
        _ => UseEnd::PeriodEnded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::tests::{application, t0};
    use crate::profile::SWEDEN;
    use crate::{Actor, Role};

    fn prosecutor() -> Actor {
        Actor::new("prosecutor", &[Role::Prosecutor])
    }

    #[test]
    fn a_granted_suspect_search_is_notified_with_counts_and_categories_only() {
        let t = t0();
        let court = Actor::new("judge", &[Role::Judge]);
        let app = application(Purpose::SuspectLocation);
        let mut p = Permit::draft("P-1".into(), &SWEDEN, app, &prosecutor(), t).unwrap();
        crate::lifecycle::name_decider(&mut p, &court);
        p.apply(&prosecutor(), &SWEDEN, t).unwrap();
        p.decide(&court, &SWEDEN, Outcome::Grant, "ok", t.plus_hours(1))
            .unwrap();
        assert_eq!(
            p.use_events(p.application.period.start),
            vec![crate::UseEvent::Started]
        );
        let n = ImyNotification::of(&p, &SWEDEN, 3, NotificationKind::UseStarted);
        assert_eq!(n.kind, NotificationKind::UseStarted);
        assert_eq!(n.permit, "P-1");
        assert_eq!(n.purpose, Purpose::SuspectLocation);
        assert_eq!(n.decider, Authority::Court);
        assert_eq!(n.decision, Some(Outcome::Grant));
        assert_eq!(n.decided_at, Some(t.plus_hours(1)));
        assert_eq!(n.offence_category, Some(AnnexII::Murder));
        assert_eq!(n.cameras, 3);
        assert_eq!(n.designated_persons, p.application.persons.len());
        assert_eq!(n.ended_by, None);
        assert!(n.legal_basis.contains("5(4)"));
        // Nothing that names anyone: no labels, no photo ids, no offence text, no user ids.
        let json = serde_json::to_string(&n).unwrap();
        for person in &p.application.persons {
            assert!(!json.contains(&person.label) && !json.contains(&person.id));
        }
        let offence = p.application.offence.as_ref().unwrap();
        assert!(!json.contains(&offence.description));
        assert!(!json.contains("judge") && !json.contains(&prosecutor().user));
    }

    #[test]
    fn the_follow_up_says_how_the_use_ended() {
        let t = t0();
        let officer = Actor::new("o", &[Role::Applicant]);
        let app = application(Purpose::VictimSearch);
        let mut p = Permit::draft("P-2".into(), &SWEDEN, app, &officer, t).unwrap();
        p.urgent_start(&officer, &SWEDEN, "the threat is now", t)
            .unwrap();
        p.use_events(t);
        let n = ImyNotification::of(&p, &SWEDEN, 1, NotificationKind::UseStarted);
        assert_eq!(n.urgent_started_at, Some(t));
        assert_eq!(
            n.victim_category,
            Some(crate::grounds::VictimCategory::MissingPerson)
        );
        // An imminent threat: its kind, never why (free text that may name people).
        let mut threat = Permit::draft(
            "P-3".into(),
            &SWEDEN,
            application(Purpose::ImminentThreat),
            &officer,
            t,
        )
        .unwrap();
        threat.use_events(t);
        let m = ImyNotification::of(&threat, &SWEDEN, 1, NotificationKind::UseStarted);
        assert_eq!(m.threat_kind, Some(crate::grounds::ThreatKind::Life));
        let json = serde_json::to_string(&m).unwrap();
        let why = &threat.application.threat.as_ref().unwrap().imminence;
        assert!(!json.contains(why.as_str()), "{json}");
        assert_eq!(n.decision, None);
        // No application within 24 hours: mandat stops it.
        p.tick(t.plus_hours(25));
        p.use_events(t.plus_hours(25));
        let n = ImyNotification::of(&p, &SWEDEN, 1, NotificationKind::UseEnded);
        assert_eq!(n.ended_by, Some(UseEnd::UrgentDeadlineMissed));
        assert_eq!(n.use_ended_at, Some(t.plus_hours(25)));
    }
}
