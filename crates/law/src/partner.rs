//! Partner cameras: a municipality's, a region's or a private party's camera is analysed only under
//! a recorded agreement that states its legal basis, and only within the agreement's period. A
//! police camera needs none. The scope function ([`crate::watchlist`]) applies [`may_analyse`], so a
//! partner camera outside its agreement is treated as a camera no permit covers: not analysed.

use serde::{Deserialize, Serialize};

use crate::permit::Period;
use crate::time::Timestamp;
use crate::{Refusal, rule};

/// Who owns a camera, by kind: what the annual report and the IMY notification count.
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
pub enum OwnerKind {
    Police,
    Municipality,
    Region,
    Private,
}

impl OwnerKind {
    pub const ALL: [OwnerKind; 4] = [
        OwnerKind::Police,
        OwnerKind::Municipality,
        OwnerKind::Region,
        OwnerKind::Private,
    ];

    /// The kind of a registered owner string: `police`, `municipality:NAME`, `region:NAME` or
    /// `private:NAME`. `None` for anything else (the store refuses such a camera).
    pub fn of(owner: &str) -> Option<OwnerKind> {
        if owner == "police" {
            return Some(OwnerKind::Police);
        }
        let (kind, name) = owner.split_once(':')?;
        if name.trim().is_empty() || name.chars().count() > 200 {
            return None;
        }
        match kind {
            "municipality" => Some(OwnerKind::Municipality),
            "region" => Some(OwnerKind::Region),
            "private" => Some(OwnerKind::Private),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OwnerKind::Police => "police",
            OwnerKind::Municipality => "municipality",
            OwnerKind::Region => "region",
            OwnerKind::Private => "private",
        }
    }

    pub fn is_partner(self) -> bool {
        self != OwnerKind::Police
    }
}

/// The agreement under which the police may analyse a partner's camera.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Agreement {
    /// The legal basis on which the partner lets the police use the camera (e.g. its camera
    /// surveillance permit and the clause of the agreement).
    #[schema(max_length = 500)]
    pub basis: String,
    /// The agreement's reference (diarienummer).
    #[schema(max_length = 100)]
    pub reference: String,
    /// The agreement's period: the camera is analysed only within it (end exclusive).
    pub period: Period,
    /// Whom the police call about the camera at the partner (a function, not a private person's
    /// details where it can be avoided).
    #[schema(max_length = 200)]
    pub contact: String,
}

/// A Swedish day as an agreement's bound: its start (00:00 in Stockholm), or, for its last day,
/// the start of the next. `None` for no such date.
pub fn day_bound(date: &str, last_day: bool) -> Option<Timestamp> {
    if !last_day {
        return Timestamp::stockholm_midnight(date);
    }
    let next = Timestamp::parse_rfc3339(&format!("{date}T12:00Z"))?.plus_hours(24);
    Timestamp::stockholm_midnight(&next.to_rfc3339()[..10]).filter(|_| date.len() == 10)
}

/// The longest agreement recorded: agreements are renewed, not open-ended.
pub const MAX_AGREEMENT_YEARS: u32 = 5;

impl Agreement {
    /// What is wrong with this agreement, if anything.
    pub fn check(&self) -> Result<(), Refusal> {
        let mut faults = Vec::new();
        for (field, value, max) in [
            ("basis", &self.basis, 500),
            ("reference", &self.reference, 100),
            ("contact", &self.contact, 200),
        ] {
            if value.trim().is_empty() {
                faults.push(format!("its {field} is empty"));
            } else if value.chars().count() > max {
                faults.push(format!("its {field} is over {max} characters"));
            } else if value.chars().any(char::is_control) {
                faults.push(format!("its {field} holds control characters"));
            }
        }
        if self.period.end <= self.period.start {
            faults.push("its period ends before it starts".into());
        } else if self.period.end > self.period.start.plus_months(12 * MAX_AGREEMENT_YEARS) {
            faults.push(format!(
                "its period is longer than {MAX_AGREEMENT_YEARS} years: record a renewal instead"
            ));
        }
        if faults.is_empty() {
            Ok(())
        } else {
            Err(rule::PARTNER_AGREEMENT.refusal(format!(
                "the partner agreement is incomplete: {}",
                faults.join("; ")
            )))
        }
    }
}

/// Whether a camera of `owner` under `agreement` may be registered as it is: a partner's camera
/// needs a complete agreement, a police camera none.
pub fn check_registration(owner: OwnerKind, agreement: Option<&Agreement>) -> Result<(), Refusal> {
    match (owner.is_partner(), agreement) {
        (true, Some(a)) => a.check(),
        (true, None) => Err(rule::PARTNER_AGREEMENT.refusal(format!(
            "a {} camera is analysed only under an agreement: record its legal basis, reference, period and contact",
            owner.as_str()
        ))),
        (false, Some(_)) => Err(rule::PARTNER_AGREEMENT.refusal(
            "a police camera takes no partner agreement: register it with its partner as owner"
                .into(),
        )),
        (false, None) => Ok(()),
    }
}

/// Whether the camera may be analysed at `t` as far as its owner goes.
pub fn may_analyse(owner: OwnerKind, agreement: Option<&Agreement>, t: Timestamp) -> bool {
    match agreement {
        _ if !owner.is_partner() => true,
        Some(a) => a.check().is_ok() && a.period.contains(t),
        None => false,
    }
}

/// The part of `[from, until)` in which the camera may be analysed as far as its owner goes:
/// the whole span for a police camera, its overlap with the agreement for a partner's.
pub fn usable_within(
    owner: OwnerKind,
    agreement: Option<&Agreement>,
    from: Timestamp,
    until: Timestamp,
) -> Option<(Timestamp, Timestamp)> {
    let (start, end) = if !owner.is_partner() {
        (from, until)
    } else {
        let a = agreement.filter(|a| a.check().is_ok())?;
        (from.max(a.period.start), until.min(a.period.end))
    };
    (start < end).then_some((start, end))
}

/// How an agreement stands against a permit's period, for the decider: whether it covers it all,
/// part of it, or none of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    /// A police camera: no agreement needed.
    NotNeeded,
    Whole,
    Part,
    None,
}

pub fn coverage(owner: OwnerKind, agreement: Option<&Agreement>, period: &Period) -> Coverage {
    if !owner.is_partner() {
        return Coverage::NotNeeded;
    }
    match usable_within(owner, agreement, period.start, period.end) {
        Some((s, e)) if s == period.start && e == period.end => Coverage::Whole,
        Some(_) => Coverage::Part,
        None => Coverage::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn agreement(from: i64, until: i64) -> Agreement {
        Agreement {
            basis: "Kamerabevakningstillstånd 2025-123, avtal §4".into(),
            reference: "KS 2026/17".into(),
            period: Period {
                start: Timestamp(from),
                end: Timestamp(until),
            },
            contact: "Trygghetscentralen, 08-000 00 00".into(),
        }
    }

    #[test]
    fn an_agreements_days_are_swedish_days() {
        assert_eq!(
            day_bound("2026-07-01", false).unwrap().to_rfc3339(),
            "2026-06-30T22:00:00Z"
        );
        assert_eq!(
            day_bound("2026-12-31", true).unwrap().to_rfc3339(),
            "2026-12-31T23:00:00Z"
        );
        assert_eq!(day_bound("2026-13-01", true), None);
    }

    #[test]
    fn owners_are_parsed_strictly() {
        assert_eq!(OwnerKind::of("police"), Some(OwnerKind::Police));
        assert_eq!(
            OwnerKind::of("municipality:Stockholm"),
            Some(OwnerKind::Municipality)
        );
        assert_eq!(OwnerKind::of("region:Jönköping"), Some(OwnerKind::Region));
        assert_eq!(OwnerKind::of("private:Mall AB"), Some(OwnerKind::Private));
        for bad in [
            "",
            "Police",
            "municipality:",
            "municipality: ",
            "county:X",
            "x",
        ] {
            assert_eq!(OwnerKind::of(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_partner_camera_is_analysed_only_within_its_agreement() {
        let a = agreement(10 * DAY, 20 * DAY);
        let m = OwnerKind::Municipality;
        assert!(!may_analyse(m, None, Timestamp(15 * DAY)));
        assert!(!may_analyse(m, Some(&a), Timestamp(10 * DAY - 1)));
        assert!(may_analyse(m, Some(&a), Timestamp(10 * DAY)));
        assert!(may_analyse(m, Some(&a), Timestamp(20 * DAY - 1)));
        assert!(!may_analyse(m, Some(&a), Timestamp(20 * DAY)));
        // An agreement edited into nonsense in the database covers nothing.
        let mut blank = a.clone();
        blank.basis = " ".into();
        assert!(!may_analyse(m, Some(&blank), Timestamp(15 * DAY)));
        // A police camera needs no agreement.
        assert!(may_analyse(OwnerKind::Police, None, Timestamp(0)));
    }

    #[test]
    fn registration_needs_a_complete_agreement_for_partners_only() {
        let a = agreement(0, 365 * DAY);
        assert!(check_registration(OwnerKind::Region, Some(&a)).is_ok());
        let e = check_registration(OwnerKind::Region, None).unwrap_err();
        assert_eq!(e.code, "partner_agreement");
        assert!(e.message.contains("legal basis"), "{e}");
        assert!(check_registration(OwnerKind::Police, Some(&a)).is_err());
        assert!(check_registration(OwnerKind::Police, None).is_ok());
        let mut bad = agreement(5 * DAY, 5 * DAY);
        bad.contact = String::new();
        let e = check_registration(OwnerKind::Private, Some(&bad)).unwrap_err();
        assert!(e.message.contains("contact is empty"), "{e}");
        assert!(e.message.contains("ends before it starts"), "{e}");
        let long = agreement(0, 6 * 366 * DAY);
        assert!(long.check().unwrap_err().message.contains("5 years"));
    }

    #[test]
    fn coverage_of_a_permit_period() {
        let a = agreement(10 * DAY, 20 * DAY);
        let p = |s: i64, e: i64| Period {
            start: Timestamp(s * DAY),
            end: Timestamp(e * DAY),
        };
        let m = OwnerKind::Private;
        assert_eq!(coverage(m, Some(&a), &p(11, 19)), Coverage::Whole);
        assert_eq!(coverage(m, Some(&a), &p(15, 25)), Coverage::Part);
        assert_eq!(coverage(m, Some(&a), &p(20, 25)), Coverage::None);
        assert_eq!(coverage(m, None, &p(11, 19)), Coverage::None);
        assert_eq!(
            coverage(OwnerKind::Police, None, &p(0, 1)),
            Coverage::NotNeeded
        );
    }
}
