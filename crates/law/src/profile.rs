//! Jurisdiction profiles: who decides which purpose, and the numbers of the law, kept as data in one
//! place so a reform changes a table, not the code.

use serde::{Deserialize, Serialize};

use crate::permit::Purpose;
use crate::time::Timestamp;
use crate::{Refusal, rule};

/// Who may decide on a permit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Authority {
    /// A court (tingsrätt), on a prosecutor's written application.
    Court,
    /// A prosecutor (åklagare), on the police's application.
    Prosecutor,
}

/// Who may apply to that decider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Applicant {
    Prosecutor,
    Police,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRule {
    pub purpose: Purpose,
    pub decider: Authority,
    pub applicant: Applicant,
}

/// Profiles are compiled in: the law is not a runtime setting an operator could edit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub name: &'static str,
    pub statute: &'static str,
    pub rules: [DecisionRule; 4],
    /// Hours within which an urgent start must be followed by an application.
    pub urgent_application_hours: i64,
    /// Longest permitted period, in calendar months.
    pub max_period_months: u32,
    /// Lowest maximum penalty, in years, of an offence that can ground a permit.
    pub min_penalty_years: u32,
    /// Purposes after which an identified person is notified (underrättelse).
    pub subject_notification: &'static [Purpose],
    /// Days after the end of use by which a subject notification is due, unless deferred. Both
    /// Swedish profiles say 0: due when the use ends, by the motion's rule.
    pub subject_notification_days: u32,
    /// How long each kind of data is kept, and on what ground.
    pub retention: crate::retention::Schedule,
    /// Days the latest evaluation report of the running model may be old when use is granted
    /// (the recurring risk analysis, see [`crate::risk`]).
    pub risk_analysis_max_days: u32,
    /// The lowest LFW 10-fold accuracy of a model any permit may use ([`crate::risk`]).
    pub min_lfw_accuracy: f64,
    /// Caps on one permit beyond the law's own, as a jurisdiction may set them for
    /// proportionality: designated persons, cameras, and the area of the polygon drawn (km²).
    /// `None`: no cap.
    pub limits: Limits,
    /// When the statute applies. Outside it no permit is filed, started or granted, and a use
    /// still running stops at the sunset.
    pub validity: Validity,
    /// The offences an application chooses from ([`crate::grounds`]).
    pub offences: &'static [crate::grounds::CatalogueOffence],
    /// Whether the police may start use urgently also for a purpose a prosecutor applies for,
    /// handing the permit to the prosecutor who files it ([`crate::Permit::hand_over`]).
    pub urgent_start_by_police: bool,
    /// The court procedure around a decision: public counsel, hearing, appeal
    /// ([`crate::appeal`]).
    pub procedure: Procedure,
}

/// The steps around a decision a profile requires ([`Profile::procedure`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Procedure {
    /// A court grants only once the public counsel (offentligt ombud) it appointed has filed an
    /// opinion on the application.
    pub counsel: bool,
    /// A court grants only once it has recorded a hearing (date, who was present, outcome).
    pub hearing: bool,
    /// Hours after a decision within which the party it went against (the applicant against a
    /// refusal, the public counsel against a grant) may appeal it. `None`: no appeal.
    pub appeal_hours: Option<u32>,
}

/// A statute's time in force ([`Profile::validity`]): from `in_force`, until `sunset` (exclusive)
/// when the law is time-limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Validity {
    pub in_force: Timestamp,
    pub sunset: Option<Timestamp>,
}

/// 2026-07-01 00:00 in Stockholm (CEST), when Lag (2026:806) entered into force.
const IN_FORCE_2026: Timestamp = Timestamp(1_782_856_800_000);

/// A profile's caps on the size of one permit ([`Profile::limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Limits {
    pub max_persons: Option<u32>,
    pub max_cameras: Option<u32>,
    pub max_area_km2: Option<f64>,
}

const ALL_PURPOSES: &[Purpose] = &[
    Purpose::VictimSearch,
    Purpose::ImminentThreat,
    Purpose::SuspectLocation,
    Purpose::SentenceEnforcement,
];

/// Sweden as enacted: a court for investigation and prosecution, a prosecutor for the rest.
pub const SWEDEN: Profile = Profile {
    name: "se-2026",
    statute: "Lag (2026:806)",
    rules: [
        DecisionRule {
            purpose: Purpose::VictimSearch,
            decider: Authority::Prosecutor,
            applicant: Applicant::Police,
        },
        DecisionRule {
            purpose: Purpose::ImminentThreat,
            decider: Authority::Prosecutor,
            applicant: Applicant::Police,
        },
        DecisionRule {
            purpose: Purpose::SuspectLocation,
            decider: Authority::Court,
            applicant: Applicant::Prosecutor,
        },
        DecisionRule {
            purpose: Purpose::SentenceEnforcement,
            decider: Authority::Prosecutor,
            applicant: Applicant::Police,
        },
    ],
    urgent_application_hours: 24,
    max_period_months: 1,
    min_penalty_years: 4,
    subject_notification: &[Purpose::SuspectLocation],
    subject_notification_days: 0,
    retention: crate::retention::SWEDISH_SCHEDULE,
    // Half a year: the motion asks for recurring analyses, and a model, its calibration and the
    // population passing the cameras drift on that scale.
    risk_analysis_max_days: 183,
    // SFace's published accuracy: a procured model must be at least as good as the one shipped.
    min_lfw_accuracy: 0.993,
    // The act sets no cap on persons, cameras or area: the decider weighs proportionality.
    limits: Limits {
        max_persons: None,
        max_cameras: None,
        max_area_km2: None,
    },
    // The act as enacted is not time-limited.
    validity: Validity {
        in_force: IN_FORCE_2026,
        sunset: None,
    },
    offences: crate::grounds::SWEDISH_OFFENCES,
    // The motion reads the act so: the police or Säpo may start urgently for every purpose.
    urgent_start_by_police: true,
    // The act as enacted names no public counsel, hearing or appeal for these decisions.
    procedure: Procedure {
        counsel: false,
        hearing: false,
        appeal_hours: None,
    },
};

/// The reform proposed in parliament: a court decides every purpose, and every identified person is
/// notified afterwards.
pub const SWEDEN_COURT_FOR_ALL: Profile = Profile {
    name: "se-court-for-all",
    statute: "Lag (2026:806), as amended by the proposed reform",
    rules: [
        DecisionRule {
            purpose: Purpose::VictimSearch,
            decider: Authority::Court,
            applicant: Applicant::Prosecutor,
        },
        DecisionRule {
            purpose: Purpose::ImminentThreat,
            decider: Authority::Court,
            applicant: Applicant::Prosecutor,
        },
        DecisionRule {
            purpose: Purpose::SuspectLocation,
            decider: Authority::Court,
            applicant: Applicant::Prosecutor,
        },
        DecisionRule {
            purpose: Purpose::SentenceEnforcement,
            decider: Authority::Court,
            applicant: Applicant::Prosecutor,
        },
    ],
    urgent_application_hours: 24,
    max_period_months: 1,
    min_penalty_years: 4,
    subject_notification: ALL_PURPOSES,
    subject_notification_days: 0,
    retention: crate::retention::SWEDISH_SCHEDULE,
    // Half a year: the motion asks for recurring analyses, and a model, its calibration and the
    // population passing the cameras drift on that scale.
    risk_analysis_max_days: 183,
    // SFace's published accuracy: a procured model must be at least as good as the one shipped.
    min_lfw_accuracy: 0.993,
    // The act sets no cap on persons, cameras or area: the decider weighs proportionality.
    limits: Limits {
        max_persons: None,
        max_cameras: None,
        max_area_km2: None,
    },
    // The motion asks for a time-limited law, evaluated before it is extended. The reform names
    // no date yet: five years from entry into force (2031-07-01 00:00 CEST) is this profile's
    // assumption, to be replaced by the enacted one.
    validity: Validity {
        in_force: IN_FORCE_2026,
        sunset: Some(Timestamp(1_940_623_200_000)),
    },
    offences: crate::grounds::SWEDISH_OFFENCES,
    // The motion: a court decides every purpose, and the police or Säpo may still start urgently.
    urgent_start_by_police: true,
    // The motion: a public counsel speaks for the person before the court decides, at a hearing,
    // and both sides may appeal. The reform names no appeal period yet: one week is this
    // profile's assumption, to be replaced by the enacted one.
    procedure: Procedure {
        counsel: true,
        hearing: true,
        appeal_hours: Some(7 * 24),
    },
};

impl Profile {
    pub fn by_name(name: &str) -> Option<&'static Profile> {
        [&SWEDEN, &SWEDEN_COURT_FOR_ALL]
            .into_iter()
            .find(|p| p.name == name)
    }

    pub fn rule(&self, purpose: Purpose) -> &DecisionRule {
        self.rules
            .iter()
            .find(|r| r.purpose == purpose)
            .expect("every profile has one rule per purpose")
    }

    pub fn notifies_subject(&self, purpose: Purpose) -> bool {
        self.subject_notification.contains(&purpose)
    }

    /// Whether the statute is in force at `t`.
    pub fn in_force_at(&self, t: Timestamp) -> bool {
        self.validity.in_force <= t && self.validity.sunset.is_none_or(|s| t < s)
    }

    /// Refuse an act of use (filing, urgent start, grant) when the statute is not in force.
    pub fn check_in_force(&self, what: &str, now: Timestamp) -> Result<(), Refusal> {
        if self.in_force_at(now) {
            return Ok(());
        }
        Err(rule::VALIDITY.refusal(format!(
            "{what}: {} ({}) is {}; no permit is filed, started or granted outside it",
            self.statute,
            self.name,
            self.window_text()
        )))
    }

    /// "in force from X" or "in force from X until Y", for refusals and pages.
    pub fn window_text(&self) -> String {
        match self.validity.sunset {
            None => format!("in force from {}", self.validity.in_force),
            Some(s) => format!("in force from {} until {s}", self.validity.in_force),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweden_maps_purposes_to_deciders() {
        assert_eq!(
            SWEDEN.rule(Purpose::SuspectLocation).decider,
            Authority::Court
        );
        assert_eq!(
            SWEDEN.rule(Purpose::SuspectLocation).applicant,
            Applicant::Prosecutor
        );
        for p in [
            Purpose::VictimSearch,
            Purpose::ImminentThreat,
            Purpose::SentenceEnforcement,
        ] {
            assert_eq!(SWEDEN.rule(p).decider, Authority::Prosecutor);
            assert_eq!(SWEDEN.rule(p).applicant, Applicant::Police);
        }
        assert_eq!(
            (
                SWEDEN.urgent_application_hours,
                SWEDEN.max_period_months,
                SWEDEN.min_penalty_years
            ),
            (24, 1, 4)
        );
    }

    #[test]
    fn stricter_profile_has_a_court_for_every_purpose() {
        for p in ALL_PURPOSES {
            assert_eq!(SWEDEN_COURT_FOR_ALL.rule(*p).decider, Authority::Court);
            assert!(SWEDEN_COURT_FOR_ALL.notifies_subject(*p));
        }
        assert_eq!(
            Profile::by_name("se-court-for-all"),
            Some(&SWEDEN_COURT_FOR_ALL)
        );
        assert!(Profile::by_name("nowhere").is_none());
    }

    #[test]
    fn a_statute_applies_only_inside_its_validity_window() {
        let t = |s: &str| Timestamp::parse_rfc3339(s).unwrap();
        for prof in [&SWEDEN, &SWEDEN_COURT_FOR_ALL] {
            assert!(!prof.in_force_at(t("2026-06-30T21:59:59.999Z")));
            assert!(prof.in_force_at(t("2026-06-30T22:00:00Z")));
            let e = prof
                .check_in_force("file", t("2026-06-01T00:00:00Z"))
                .unwrap_err();
            assert_eq!(e.code, "profile_validity");
            assert!(
                e.message.contains("in force from 2026-06-30T22:00:00"),
                "{e}"
            );
        }
        assert!(SWEDEN.in_force_at(t("2040-01-01T00:00:00Z")));
        // The reform is time-limited: the last instant before the sunset, and the sunset itself.
        assert!(SWEDEN_COURT_FOR_ALL.in_force_at(t("2031-06-30T21:59:59.999Z")));
        assert!(!SWEDEN_COURT_FOR_ALL.in_force_at(t("2031-06-30T22:00:00Z")));
        let e = SWEDEN_COURT_FOR_ALL
            .check_in_force("grant", t("2032-01-01T00:00:00Z"))
            .unwrap_err();
        assert!(e.message.contains("until 2031-06-30T22:00:00"), "{e}");
    }

    #[test]
    fn each_profile_has_exactly_one_rule_per_purpose() {
        for prof in [&SWEDEN, &SWEDEN_COURT_FOR_ALL] {
            for p in ALL_PURPOSES {
                assert_eq!(prof.rules.iter().filter(|r| r.purpose == *p).count(), 1);
            }
        }
    }
}
