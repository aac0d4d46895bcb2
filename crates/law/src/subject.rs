//! Notifying a person identified or located through mandat afterwards (underrättelse), once that no
//! longer harms the purpose. Which purposes require it, and how soon, is in the jurisdiction
//! profile; each verified identification becomes a task with a due date, which may be deferred
//! with a reason (secrecy) and a new date, and is completed once.

use serde::{Deserialize, Serialize};

use crate::permit::{PersonId, Purpose, UserId};
use crate::profile::Profile;
use crate::time::{DAY, Timestamp};
use crate::{Refusal, rule};

/// When the person behind a verified identification at `verified_at` is to be notified, or `None`
/// where the profile does not require it for this purpose.
pub fn due_date(profile: &Profile, purpose: Purpose, verified_at: Timestamp) -> Option<Timestamp> {
    profile
        .notifies_subject(purpose)
        .then(|| Timestamp(verified_at.0 + i64::from(profile.subject_notification_days) * DAY))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Deferral {
    pub at: Timestamp,
    pub by: UserId,
    /// Why notifying now would harm the purpose (for example secrecy of the investigation).
    pub reason: String,
    pub until: Timestamp,
}

/// One person to notify after one verified identification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubjectTask {
    /// `S-<alert>`.
    pub id: String,
    pub permit: String,
    /// The designated person (the permit's id for them).
    pub person: PersonId,
    pub alert: String,
    pub created_at: Timestamp,
    /// The current due date: the first one, or the last deferral's.
    pub due_at: Timestamp,
    pub deferrals: Vec<Deferral>,
    pub completed_at: Option<Timestamp>,
    pub completed_by: Option<UserId>,
}

/// Deferrals longer than this need a fresh decision each time: no open-ended secrecy.
pub const MAX_DEFERRAL_DAYS: i64 = 366;

impl SubjectTask {
    pub fn new(
        alert: &str,
        permit: &str,
        person: &PersonId,
        verified_at: Timestamp,
        due_at: Timestamp,
    ) -> Self {
        Self {
            id: format!("S-{alert}"),
            permit: permit.to_string(),
            person: person.clone(),
            alert: alert.to_string(),
            created_at: verified_at,
            due_at,
            deferrals: Vec::new(),
            completed_at: None,
            completed_by: None,
        }
    }

    pub fn is_overdue(&self, now: Timestamp) -> bool {
        self.completed_at.is_none() && now >= self.due_at
    }

    /// Put the notification off to `until`, with the reason it would harm the purpose now.
    pub fn defer(
        &mut self,
        by: &UserId,
        reason: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<(), Refusal> {
        if self.completed_at.is_some() {
            return Err(rule::SUBJECT_NOTIFICATION.refusal(format!(
                "the person of {} has been notified already",
                self.id
            )));
        }
        if reason.trim().is_empty() {
            return Err(rule::SUBJECT_NOTIFICATION
                .refusal("a deferral states why notifying now would harm the purpose".into()));
        }
        if until <= now || until <= self.due_at || until.0 - now.0 > MAX_DEFERRAL_DAYS * DAY {
            return Err(rule::SUBJECT_NOTIFICATION.refusal(format!(
                "the new date must be after today and after the current due date {}, and at most {MAX_DEFERRAL_DAYS} days ahead",
                self.due_at
            )));
        }
        self.deferrals.push(Deferral {
            at: now,
            by: by.clone(),
            reason: reason.trim().to_string(),
            until,
        });
        self.due_at = until;
        Ok(())
    }

    /// Record that the person was notified.
    pub fn complete(&mut self, by: &UserId, now: Timestamp) -> Result<(), Refusal> {
        if self.completed_at.is_some() {
            return Err(
                rule::SUBJECT_NOTIFICATION.refusal(format!("{} was completed already", self.id))
            );
        }
        self.completed_at = Some(now);
        self.completed_by = Some(by.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{SWEDEN, SWEDEN_COURT_FOR_ALL};

    fn t(h: i64) -> Timestamp {
        Timestamp(1_786_000_000_000 + h * 3_600_000)
    }

    #[test]
    fn the_profile_says_which_purposes_are_notified_and_when() {
        assert_eq!(
            due_date(&SWEDEN, Purpose::SuspectLocation, t(0)),
            Some(t(30 * 24))
        );
        assert_eq!(due_date(&SWEDEN, Purpose::VictimSearch, t(0)), None);
        // Parliament's motion: every purpose.
        for p in [
            Purpose::VictimSearch,
            Purpose::ImminentThreat,
            Purpose::SuspectLocation,
            Purpose::SentenceEnforcement,
        ] {
            assert!(due_date(&SWEDEN_COURT_FOR_ALL, p, t(0)).is_some());
        }
    }

    #[test]
    fn deferral_needs_a_reason_and_a_later_date_and_completion_happens_once() {
        let mut task = SubjectTask::new("A-1", "P-1", &"p1".into(), t(0), t(720));
        assert!(!task.is_overdue(t(719)));
        assert!(task.is_overdue(t(720)));
        let by = "pros".to_string();
        assert!(task.defer(&by, " ", t(2000), t(700)).is_err());
        assert!(task.defer(&by, "sekretess", t(710), t(700)).is_err());
        assert!(
            task.defer(&by, "sekretess", t(700 + 367 * 24), t(700))
                .is_err()
        );
        task.defer(&by, "sekretess under förundersökning", t(2000), t(700))
            .unwrap();
        assert_eq!(task.due_at, t(2000));
        assert!(!task.is_overdue(t(1999)));
        task.complete(&by, t(1500)).unwrap();
        assert!(!task.is_overdue(t(3000)));
        assert!(task.complete(&by, t(1501)).is_err());
        assert!(task.defer(&by, "x", t(4000), t(1502)).is_err());
    }
}
