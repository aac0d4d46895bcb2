//! Two-person verification of a hit (AI Act art. 14(5)): a candidate alert is verified only when two
//! different reviewers have each confirmed it; either can reject it with a reason; no decision rests
//! on the machine alone. Unreviewed alerts expire.

use serde::{Deserialize, Serialize};

use crate::permit::UserId;
use crate::roles::{Actor, Role};
use crate::time::Timestamp;
use crate::{Refusal, rule};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Raised by the engine; nobody may act on it.
    Candidate,
    /// Confirmed by two different reviewers: it may be acted upon.
    Verified,
    /// A reviewer rejected it.
    Rejected,
    /// Nobody finished reviewing it in time.
    Expired,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Candidate => "candidate",
            AlertState::Verified => "verified",
            AlertState::Rejected => "rejected",
            AlertState::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Candidate,
            Self::Verified,
            Self::Rejected,
            Self::Expired,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Confirm,
    Reject,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Confirm => "confirm",
            Verdict::Reject => "reject",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Confirm, Self::Reject]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Review {
    pub reviewer: UserId,
    pub verdict: Verdict,
    pub reason: String,
    pub at: Timestamp,
}

/// How many different reviewers must confirm.
pub const CONFIRMATIONS: usize = 2;

/// The state after `actor` reviews an alert in `state` that already has `reviews`, raised under a
/// permit applied for by `applicant`. Refuses what the two-person rule forbids.
pub fn review(
    state: AlertState,
    reviews: &[Review],
    actor: &Actor,
    applicant: &str,
    verdict: Verdict,
    reason: &str,
) -> Result<AlertState, Refusal> {
    if !actor.has(Role::Reviewer) {
        return Err(rule::NOT_PERMITTED.refusal(format!(
            "{} may not review alerts: needs the reviewer role",
            actor.user
        )));
    }
    if actor.user == applicant {
        return Err(rule::SAME_PERSON.refusal(format!(
            "{} applied for the permit behind this alert and cannot review it",
            actor.user
        )));
    }
    if state != AlertState::Candidate {
        return Err(rule::REVIEW_CLOSED.refusal(format!(
            "the alert is {} and can no longer be reviewed",
            state.as_str()
        )));
    }
    if reviews.iter().any(|r| r.reviewer == actor.user) {
        return Err(rule::TWO_PERSONS.refusal(format!(
            "{} has reviewed this alert already; a second, different reviewer must decide",
            actor.user
        )));
    }
    if verdict == Verdict::Reject && reason.trim().is_empty() {
        return Err(rule::REVIEW_REASON.refusal("a rejection states its reason".into()));
    }
    Ok(match verdict {
        Verdict::Reject => AlertState::Rejected,
        Verdict::Confirm
            if reviews
                .iter()
                .filter(|r| r.verdict == Verdict::Confirm)
                .count()
                + 1
                >= CONFIRMATIONS =>
        {
            AlertState::Verified
        }
        Verdict::Confirm => AlertState::Candidate,
    })
}

/// Whether an unreviewed alert raised at `raised` has expired at `now`.
pub fn expired(state: AlertState, raised: Timestamp, now: Timestamp, ttl_ms: i64) -> bool {
    state == AlertState::Candidate && now.0 >= raised.0.saturating_add(ttl_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(u: &str) -> Actor {
        Actor::new(u, &[Role::Reviewer])
    }

    fn done(u: &str, v: Verdict) -> Review {
        Review {
            reviewer: u.into(),
            verdict: v,
            reason: String::new(),
            at: Timestamp(0),
        }
    }

    #[test]
    fn two_different_reviewers_verify() {
        let s = review(
            AlertState::Candidate,
            &[],
            &rev("a"),
            "officer",
            Verdict::Confirm,
            "",
        )
        .unwrap();
        assert_eq!(s, AlertState::Candidate, "one confirmation is not enough");
        let first = [done("a", Verdict::Confirm)];
        let e = review(s, &first, &rev("a"), "officer", Verdict::Confirm, "").unwrap_err();
        assert_eq!(e.code, "two_persons");
        let s = review(s, &first, &rev("b"), "officer", Verdict::Confirm, "").unwrap();
        assert_eq!(s, AlertState::Verified);
        let e = review(s, &first, &rev("c"), "officer", Verdict::Confirm, "").unwrap_err();
        assert_eq!(e.code, "review_closed");
    }

    #[test]
    fn either_may_reject_with_a_reason() {
        let e = review(
            AlertState::Candidate,
            &[],
            &rev("a"),
            "o",
            Verdict::Reject,
            " ",
        )
        .unwrap_err();
        assert_eq!(e.code, "review_reason");
        let first = [done("a", Verdict::Confirm)];
        let s = review(
            AlertState::Candidate,
            &first,
            &rev("b"),
            "o",
            Verdict::Reject,
            "not him",
        )
        .unwrap();
        assert_eq!(s, AlertState::Rejected);
    }

    #[test]
    fn only_reviewers_who_did_not_apply() {
        let op = Actor::new("op", &[Role::Operator]);
        let e = review(AlertState::Candidate, &[], &op, "o", Verdict::Confirm, "").unwrap_err();
        assert_eq!(e.code, "not_permitted");
        let e = review(
            AlertState::Candidate,
            &[],
            &rev("o"),
            "o",
            Verdict::Confirm,
            "",
        )
        .unwrap_err();
        assert_eq!(e.code, "separation_of_duties");
    }

    #[test]
    fn unreviewed_alerts_expire() {
        assert!(!expired(
            AlertState::Candidate,
            Timestamp(0),
            Timestamp(999),
            1000
        ));
        assert!(expired(
            AlertState::Candidate,
            Timestamp(0),
            Timestamp(1000),
            1000
        ));
        assert!(!expired(
            AlertState::Verified,
            Timestamp(0),
            Timestamp(5000),
            1000
        ));
    }
}
