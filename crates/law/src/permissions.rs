//! Who may do what: one table from action to the roles that may take it, read by the control plane
//! before it looks anything up (so a refused role learns nothing about which ids exist). The
//! lifecycle and the review rules then apply what a role alone cannot say: who applied, which
//! authority the purpose needs, who reviewed already.

use crate::{Actor, Refusal, Role, rule};

/// An action a user asks the control plane for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    ManageAccounts,
    ManageCameras,
    ManageWorkers,
    ListCameras,
    ReadPermits,
    DraftPermit,
    EnrolPhoto,
    AssignTeam,
    ApplyForPermit,
    DecidePermit,
    StopPermit,
    RecordOutcome,
    ReadAlerts,
    SeeBiometrics,
    ReviewAlert,
    Dispatch,
    ReadAuditLog,
    ReadImyRegister,
    RecordImyStep,
    ReadSubjectTasks,
    HandleSubjectTask,
    DecideSubjectTask,
    AnnualReport,
    ReadCameraDays,
    StoreCalibration,
    RecordEvaluation,
    UseFaceTool,
    RotateKeys,
    HoldData,
    ConfirmOffence,
    AppointCounsel,
    FileOpinion,
    RecordHearing,
    Appeal,
    DecideAppeal,
}

use Action::*;
use Role::*;

/// The table. Admins manage accounts and cameras and read the accountability records, never a
/// permit or an alert: those name people.
pub const PERMISSIONS: &[(Action, &[Role], &str)] = &[
    (ManageAccounts, &[Admin], "manage accounts"),
    (ManageCameras, &[Admin], "manage cameras"),
    (ManageWorkers, &[Admin], "enrol and disable workers"),
    (RotateKeys, &[Admin], "rotate the key epoch"),
    (
        ListCameras,
        &[
            Operator, Reviewer, Applicant, Prosecutor, Judge, Auditor, Admin,
        ],
        "list cameras",
    ),
    (
        ReadPermits,
        &[
            Operator, Reviewer, Applicant, Prosecutor, Judge, Auditor, Counsel,
        ],
        "read permits",
    ),
    (DraftPermit, &[Applicant, Prosecutor], "draft permits"),
    (
        AssignTeam,
        &[Applicant, Prosecutor],
        "assign a permit's team",
    ),
    (
        EnrolPhoto,
        &[Applicant, Prosecutor],
        "enrol reference photos",
    ),
    (
        ApplyForPermit,
        &[Applicant, Prosecutor],
        "apply for permits",
    ),
    (DecidePermit, &[Prosecutor, Judge], "decide permits"),
    (StopPermit, &[Applicant, Prosecutor, Judge], "stop permits"),
    (HoldData, &[Prosecutor, Judge], "set or lift a legal hold"),
    (
        ConfirmOffence,
        &[Prosecutor],
        "confirm an offence described by hand",
    ),
    (AppointCounsel, &[Judge], "appoint a public counsel"),
    (FileOpinion, &[Counsel], "file a public counsel's opinion"),
    (RecordHearing, &[Judge], "record a hearing"),
    (
        Appeal,
        &[Applicant, Prosecutor, Counsel],
        "appeal a decision",
    ),
    (DecideAppeal, &[Judge, Prosecutor], "decide an appeal"),
    (
        RecordOutcome,
        &[Applicant, Prosecutor],
        "record what a use led to",
    ),
    (
        ReadAlerts,
        &[Operator, Reviewer, Applicant, Prosecutor, Judge, Auditor],
        "read alerts",
    ),
    (
        SeeBiometrics,
        &[Reviewer, Applicant, Prosecutor, Judge],
        "see face images",
    ),
    (ReviewAlert, &[Reviewer], "review alerts"),
    (Dispatch, &[Operator], "dispatch on alerts"),
    (ReadAuditLog, &[Auditor, Admin], "read the audit log"),
    (ReadImyRegister, &[Auditor, Admin], "read the IMY register"),
    (RecordImyStep, &[Admin], "record IMY register steps"),
    (
        ReadSubjectTasks,
        &[Applicant, Prosecutor, Judge, Auditor],
        "read subject notifications",
    ),
    (
        HandleSubjectTask,
        &[Applicant, Prosecutor],
        "handle subject notifications",
    ),
    // A prosecutor approves a later deferral; the court or prosecutor who decided, a waiver.
    (
        DecideSubjectTask,
        &[Prosecutor, Judge],
        "decide on deferring or not notifying",
    ),
    (AnnualReport, &[Auditor, Admin], "read the annual report"),
    // A camera runs only while a permit covers it, so its days say where and when permits ran:
    // the auditor's, not the admin's, who sees no permit.
    (
        ReadCameraDays,
        &[Auditor],
        "read cameras' days and partners' SLA reports",
    ),
    (StoreCalibration, &[Admin], "store a calibration"),
    // Auditors only: a grant rests on the record, and the admin who stores the calibration must
    // not also vouch for the analysis (separation of duties).
    (RecordEvaluation, &[Auditor], "record an evaluation"),
    // Face analysis of any image outside a permit: for the evaluation roles, each use audited.
    (UseFaceTool, &[Auditor, Admin], "use the face tools"),
];

/// The roles that may take `action`.
pub fn roles_for(action: Action) -> &'static [Role] {
    PERMISSIONS
        .iter()
        .find(|(a, _, _)| *a == action)
        .map(|(_, r, _)| *r)
        .unwrap_or(&[])
}

/// Whether `actor` holds a role that may take `action`.
pub fn may(actor: &Actor, action: Action) -> bool {
    roles_for(action).iter().any(|r| actor.has(*r))
}

/// [`may`], or the refusal that names the roles needed.
pub fn require(actor: &Actor, action: Action) -> Result<(), Refusal> {
    if may(actor, action) {
        return Ok(());
    }
    let (what, roles) = PERMISSIONS
        .iter()
        .find(|(a, _, _)| *a == action)
        .map(|(_, r, w)| (*w, *r))
        .unwrap_or(("do this", &[]));
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    Err(rule::NOT_PERMITTED.refusal(format!(
        "{} may not {what}: that needs the role {}",
        actor.user,
        names.join(" or ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_one_row_and_admins_never_touch_people() {
        for (i, (a, roles, _)) in PERMISSIONS.iter().enumerate() {
            assert!(!roles.is_empty(), "{a:?}");
            assert!(
                PERMISSIONS[i + 1..].iter().all(|(b, _, _)| b != a),
                "{a:?} twice"
            );
        }
        for a in [
            ReadPermits,
            DraftPermit,
            DecidePermit,
            ReadAlerts,
            SeeBiometrics,
            ReviewAlert,
            Dispatch,
            HandleSubjectTask,
            HoldData,
        ] {
            assert!(!roles_for(a).contains(&Admin), "{a:?}");
        }
        for r in roles_for(SeeBiometrics) {
            assert!(r.may_see_biometrics());
        }
    }

    #[test]
    fn refusals_name_the_roles_needed() {
        let op = Actor::new("op", &[Operator]);
        assert!(may(&op, Dispatch) && !may(&op, ReviewAlert));
        let r = require(&op, ReviewAlert).unwrap_err();
        assert_eq!(r.code, "not_permitted");
        assert!(r.message.contains("reviewer"), "{}", r.message);
    }
}
