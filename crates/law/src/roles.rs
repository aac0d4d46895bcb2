//! Roles and separation of duties.

use serde::{Deserialize, Serialize};

use crate::permit::{Agency, UserId};
use crate::profile::{Applicant, Authority};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Camera-centre operator: watches live alerts and cameras.
    Operator,
    /// Verifies hits (two different reviewers per alert).
    Reviewer,
    /// Police officer who drafts and files applications to a prosecutor, and may start urgent use.
    Applicant,
    /// Prosecutor: decides some purposes, and applies to a court for others.
    Prosecutor,
    /// Judge of a court: decides investigation and prosecution purposes.
    Judge,
    /// IMY auditor: reads the audit log and reports; no biometric data.
    Auditor,
    /// Manages users and cameras; never sees biometric data.
    Admin,
    /// Public counsel (offentligt ombud): appointed by the court to an application, reads it and
    /// files an opinion, and may appeal a grant. Sees no biometric data.
    Counsel,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::Operator,
        Role::Reviewer,
        Role::Applicant,
        Role::Prosecutor,
        Role::Judge,
        Role::Auditor,
        Role::Admin,
        Role::Counsel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Reviewer => "reviewer",
            Role::Applicant => "applicant",
            Role::Prosecutor => "prosecutor",
            Role::Judge => "judge",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
            Role::Counsel => "counsel",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether this role may ever see biometric data (photos, crops, templates).
    pub fn may_see_biometrics(self) -> bool {
        matches!(
            self,
            Role::Reviewer | Role::Applicant | Role::Prosecutor | Role::Judge
        )
    }
}

/// Whether a set of roles may be held by one account. An admin creates accounts and cameras; an
/// admin who could also review, apply, decide, operate or audit could act alone where the law
/// wants several people, so admin excludes every other role.
pub fn check_roles(roles: &[Role]) -> Result<(), crate::Refusal> {
    if roles.is_empty() {
        return Err(
            crate::rule::ROLES_REQUIRED.refusal("give the account at least one role".into())
        );
    }
    if roles
        .iter()
        .enumerate()
        .any(|(i, r)| roles[..i].contains(r))
    {
        return Err(crate::rule::ROLES_REQUIRED.refusal("a role is named twice".into()));
    }
    for alone in [Role::Admin, Role::Counsel] {
        if roles.contains(&alone) && roles.len() > 1 {
            let others: Vec<&str> = roles
                .iter()
                .filter(|r| **r != alone)
                .map(|r| r.as_str())
                .collect();
            let rule = match alone {
                Role::Admin => crate::rule::ADMIN_ALONE,
                _ => crate::rule::COUNSEL,
            };
            return Err(rule.refusal(format!(
                "{} holds no other role, but {} was asked for as well; make a separate account",
                match alone {
                    Role::Admin => "an admin",
                    _ => "a public counsel",
                },
                others.join(", ")
            )));
        }
    }
    Ok(())
}

/// An authenticated user, the roles they hold, and the agency they work for: nobody sees another
/// agency's permits (need-to-know).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Actor {
    pub user: UserId,
    pub roles: Vec<Role>,
    pub agency: Agency,
}

impl Actor {
    /// An actor of Polismyndigheten, the agency an account belongs to unless made for another.
    pub fn new(user: impl Into<UserId>, roles: &[Role]) -> Self {
        Self {
            user: user.into(),
            roles: roles.to_vec(),
            agency: Agency::Polismyndigheten,
        }
    }

    /// The same actor, working for `agency`.
    pub fn in_agency(mut self, agency: Agency) -> Self {
        self.agency = agency;
        self
    }

    /// Whether a permit of `agency` is this actor's business at all.
    pub fn works_for(&self, agency: Agency) -> bool {
        self.agency == agency
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The deciding authority this actor holds, if any.
    pub fn holds(&self, authority: Authority) -> bool {
        match authority {
            Authority::Court => self.has(Role::Judge),
            Authority::Prosecutor => self.has(Role::Prosecutor),
        }
    }

    pub fn may_apply_as(&self, applicant: Applicant) -> bool {
        match applicant {
            Applicant::Police => self.has(Role::Applicant),
            Applicant::Prosecutor => self.has(Role::Prosecutor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_biometric_access() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert!(!Role::Admin.may_see_biometrics());
        assert!(!Role::Auditor.may_see_biometrics());
        assert!(!Role::Operator.may_see_biometrics());
        assert!(Role::Reviewer.may_see_biometrics());
    }

    #[test]
    fn admin_holds_no_other_role() {
        assert!(check_roles(&[Role::Admin]).is_ok());
        assert!(check_roles(&[Role::Reviewer, Role::Operator]).is_ok());
        for other in Role::ALL.into_iter().filter(|r| *r != Role::Admin) {
            let r = check_roles(&[Role::Admin, other]).unwrap_err();
            assert_eq!(r.code, "admin_alone");
            assert!(r.message.contains(other.as_str()), "{}", r.message);
        }
        assert_eq!(check_roles(&[]).unwrap_err().code, "roles_required");
        assert_eq!(
            check_roles(&[Role::Judge, Role::Judge]).unwrap_err().code,
            "roles_required"
        );
    }

    #[test]
    fn authority_follows_role() {
        let judge = Actor::new("j", &[Role::Judge]);
        assert!(judge.holds(Authority::Court) && !judge.holds(Authority::Prosecutor));
        let pros = Actor::new("p", &[Role::Prosecutor]);
        assert!(pros.holds(Authority::Prosecutor) && pros.may_apply_as(Applicant::Prosecutor));
        assert!(!pros.may_apply_as(Applicant::Police));
    }
}
