//! The legal domain of mandat: permits under Lag (2026:806) and AI Act art. 5(1)(h), who may decide
//! them, their lifecycle, separation of duties, and the scope function, the one door through which
//! the engine learns whom it may look for, on which camera, at which instant.
//!
//! This crate is pure: no I/O, no clock reads except through [`time::Clock`], no randomness. Storage,
//! audit and HTTP build on it at the edges. Every refusal names the legal rule behind it.

pub mod amendment;
pub mod appeal;
pub mod grounds;
pub mod imy;
pub mod lifecycle;
pub mod norm;
pub mod partner;
pub mod permissions;
pub mod permit;
pub mod profile;
pub mod retention;
pub mod review;
pub mod risk;
pub mod roles;
pub mod scope;
pub mod subject;
pub mod time;

use serde::{Deserialize, Serialize};

pub use lifecycle::{
    Decision, Effect, Member, Narrowed, Narrowing, Outcome, Permit, Status, UseEvent, UseOutcome,
    UseResult, decider_role,
};
pub use norm::{Norm, Normed, TemplateNorm};
pub use partner::{Agreement, OwnerKind};
pub use permit::{Application, Area, Offence, Period, Purpose};
pub use profile::{Authority, Profile, SWEDEN, SWEDEN_COURT_FOR_ALL};
pub use roles::{Actor, Role};
pub use scope::{CameraInfo, WatchEntry, Watchlist, in_demand, watchlist};
pub use time::{Clock, SystemClock, Timestamp};

/// A legal rule: a stable code and its ground in law.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegalRule {
    pub code: &'static str,
    pub ground: &'static str,
}

impl LegalRule {
    pub fn refusal(&self, message: String) -> Refusal {
        Refusal {
            code: self.code.to_string(),
            message,
            rule: self.ground.to_string(),
        }
    }
}

/// Why something was refused: a stable code, what is wrong, and the rule behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} ({rule})")]
pub struct Refusal {
    pub code: String,
    pub message: String,
    pub rule: String,
}

impl Refusal {
    /// Whether the refusal is about who asked (role, authority, separation of duties) rather than
    /// about the request: the API answers those with 403 Forbidden.
    pub fn forbids_actor(&self) -> bool {
        [
            rule::NOT_PERMITTED.code,
            rule::WRONG_APPLICANT.code,
            rule::NOT_APPLICANT.code,
            rule::WRONG_DECIDER.code,
            rule::SAME_PERSON.code,
            rule::TWO_PERSONS.code,
            rule::AGENCY.code,
            rule::TEAM.code,
            rule::APPEAL_INSTANCE.code,
            rule::APPEAL_PARTY.code,
            rule::SUBJECT_HOLDER.code,
            rule::REFERENCE_PHOTOS.code,
        ]
        .contains(&self.code.as_str())
    }
}

/// The rules mandat enforces, each with its legal ground.
pub mod rule {
    use super::LegalRule;

    macro_rules! rules {
        ($($name:ident = $code:literal, $ground:literal;)*) => {
            $(pub const $name: LegalRule = LegalRule { code: $code, ground: $ground };)*
        };
    }

    rules! {
        OFFENCE_REQUIRED = "offence_required", "Lag 2026:806; AI Act art. 5(1)(h)(iii)";
        PENALTY_TOO_LOW = "penalty_too_low", "offence must carry at least 4 years, Lag 2026:806; AI Act art. 5(1)(h)(iii) and Annex II";
        PERSON_REQUIRED = "person_required", "only persons named in the permit, Lag 2026:806";
        PHOTO_REQUIRED = "photo_required", "each designated person needs a reference photo with its source, Lag 2026:806";
        AREA_REQUIRED = "area_required", "use limited in space, AI Act art. 5(2)";
        UNKNOWN_CAMERA = "unknown_camera", "the decision binds the cameras named, each of them registered, AI Act art. 5(2)";
        PERIOD_INVALID = "period_invalid", "use limited in time, AI Act art. 5(2)";
        PERIOD_TOO_LONG = "period_too_long", "period exceeds one month (Lag 2026:806)";
        REASONS_REQUIRED = "reasons_required", "necessity, proportionality, FRIA (art. 27) and registration (art. 49), AI Act art. 5(2)";
        THRESHOLD_INVALID = "threshold_invalid", "a match threshold must be set, AI Act art. 14";
        WRONG_STATE = "wrong_state", "permit lifecycle, Lag 2026:806";
        WRONG_APPLICANT = "wrong_applicant", "a court decides on a prosecutor's written application; a prosecutor on the police's application, Lag 2026:806";
        WRONG_DECIDER = "wrong_decider", "decided by a court or a prosecutor according to purpose, Lag 2026:806; AI Act art. 5(3)";
        SAME_PERSON = "separation_of_duties", "whoever applies cannot decide";
        DECISION_REASONS = "decision_reasons_required", "a decision states its reasons, AI Act art. 5(3)";
        URGENT_DEADLINE = "urgent_deadline", "urgent use requires an application within 24 hours, AI Act art. 5(3)";
        NOT_PERMITTED = "not_permitted", "least privilege: the role does not allow this";
        TWO_PERSONS = "two_persons", "every hit is verified by two different officers, AI Act art. 14(5)";
        REVIEW_CLOSED = "review_closed", "a decided or expired alert is not reviewed again, AI Act art. 14(5)";
        REVIEW_REASON = "review_reason", "a rejected hit states its reason, AI Act art. 14(5)";
        NOT_VERIFIED = "not_verified", "no action on a hit before two officers verified it, AI Act art. 14(5)";
        AGENCY = "agency", "need-to-know: a user works on the permits of their own agency only";
        DECIDER_REQUIRED = "decider_required", "an application is filed to one court or prosecutor, Lag 2026:806";
        TEAM = "team", "need-to-know: a permit is seen and worked on by its team only, which its applicant assigns and the audit log records";
        ADMIN_ALONE = "admin_alone", "separation of duties: whoever manages accounts holds no role that applies, decides, reviews, operates or audits";
        ROLES_REQUIRED = "roles_required", "least privilege: an account holds at least one role, each named once";
        NARROWING = "narrowing", "a decider may grant less than was applied for (fewer cameras or persons, a shorter period), never more, AI Act art. 5(3)";
        NOT_APPLICANT = "not_applicant", "only a permit's applicant asks to change it, Lag 2026:806";
        AMENDMENT = "amendment", "cameras are added to a permit only by an amendment, decided like the permit by its court or prosecutor, AI Act art. 5(3)";
        LEGAL_HOLD = "legal_hold", "a legal hold is set and lifted by the permit's prosecutor or court, with reasons, and never delays the erasure a refusal requires (retention schedule)";
        RISK_ANALYSIS = "risk_analysis", "recurring risk analysis of error and discrimination: when use is granted, the latest evaluation report of the running model may be at most as old as the jurisdiction profile allows, AI Act art. 9 and 27";
        VALIDITY = "profile_validity", "the statute applies only while in force: no permit is filed, started or granted before its entry into force or after its sunset, and use stops at the sunset (jurisdiction profile)";
        CASE_NUMBER = "case_number", "every use belongs to a case: the application gives the applying authority's case number (the police's K-number, or the prosecutor's), Lag 2026:806 and the authorities' registration duty (OSL 5 kap.)";
        URGENT_GROUND = "urgent_ground", "use may start before a decision only where waiting would put the purpose at risk (fara i dröjsmål), and the applicant states why, Lag 2026:806";
        USE_OUTCOME = "use_outcome", "the law is evaluated on what each use led to: its applicant records the outcome once the use has ended (the motion's evaluation; AI Act art. 5(6) annual reports)";
        LIMITS = "profile_limits", "proportionality: the jurisdiction profile may cap the designated persons, cameras and area of one permit";
        MODEL_GATES = "model_gates", "a model is used under a permit only once it is evaluated and calibrated: LFW 10-fold accuracy at least the profile's floor, every calibration check within 2x of its target, the demographic table reported; and a permit is used with the model it was drafted and decided for, AI Act art. 9, 10 and 15";
        OFFENCE_CATALOGUE = "offence_catalogue", "the offence is chosen from the jurisdiction's catalogue of offences with their statutory maximum and Annex II category; one described by hand is used only once a prosecutor has confirmed it, Lag 2026:806; AI Act art. 5(1)(h)(iii) and Annex II";
        SUSPICION = "suspicion_degree", "a search for a suspect records the degree of suspicion against the person (misstänkt, skäligen misstänkt, på sannolika skäl misstänkt), Lag 2026:806; RB 23 and 24 kap.";
        VICTIM_CATEGORY = "victim_category", "a victim search is for a victim of abduction, trafficking or sexual exploitation, or a missing person, and records which, AI Act art. 5(1)(h)(i)";
        THREAT_RECORD = "threat_record", "an imminent-threat search records what is threatened (life, physical safety, a terrorist attack) and why the threat is specific, substantial and imminent, AI Act art. 5(1)(h)(ii)";
        JUDGMENT_RECORD = "judgment_record", "a sentence enforcement names the judgment enforced: court, case number and the date it gained legal force, Lag 2026:806; AI Act art. 5(1)(h)(iii)";
        DECIDER_CASE = "decider_case_number", "the deciding court or prosecutor registers the application under its own case number, kept apart from the applicant's (the authorities' registration duty, OSL 5 kap.)";
        HAND_OVER = "urgent_hand_over", "the police or Säpo may start use urgently for every purpose; where a prosecutor applies to the court, the police hand the permit to the prosecutor, who files the application within the deadline (the motion)";
        COUNSEL = "public_counsel", "a court appoints a public counsel (offentligt ombud) to the application, who files an opinion before the court grants, the motion; the counsel holds no other role and is neither applicant nor decider";
        HEARING = "hearing_record", "where the profile requires a hearing, the court records it (date, who was present, outcome) before it grants, the motion";
        APPEAL = "appeal", "the party a decision went against (the applicant against a refusal, the public counsel against a grant) may appeal within the profile's period to a higher instance, the motion";
        APPEAL_PARTY = "appeal_party", "only a party appeals: the applicant, or the public counsel appointed to the application, the motion";
        HIGHER_INSTANCE = "higher_instance", "an appeal is filed to a higher instance: a judge or prosecutor of the decider's kind who has had no part in the permit (not its applicant, decider, team, counsel, or whoever appointed the counsel or held the hearing), the motion";
        APPEAL_INSTANCE = "appeal_instance", "an appeal is decided by a higher instance: a judge or prosecutor of the decider's kind who neither applied for, decided nor spoke on the permit";
        SUBJECT_NOTIFICATION = "subject_notification", "a person identified is notified as soon as it can be done without harming the purpose: one task per person and permit, due when the use ends (the motion; which purposes, the jurisdiction profile)";
        SUBJECT_DEFERRAL = "subject_deferral", "a notification is put off only for a stated reason and to a set date at most a year ahead; after the first deferral, each needs a prosecutor's approval (the motion)";
        SUBJECT_WAIVER = "subject_waiver", "a person is left unnotified only where the court or prosecutor who decided the permit approves it, with reasons (the motion)";
        PHOTO_QUALITY = "photo_quality", "a reference photo is enrolled only if it shows exactly one clear, near-frontal face of useful size, so that no hit rests on a poor reference (ISO/IEC 19794-5; AI Act art. 10 and 15)";
        REFERENCE_PHOTOS = "reference_photos", "need-to-know: a designated person's reference photos are seen by whoever applied for the permit, who enrols them, and by the court or prosecutor it is filed to, who decides on them; each viewing of a photo is logged (BDL 2018:1177 2 kap.; AI Act art. 12)";
        PARTNER_AGREEMENT = "partner_agreement", "a partner's camera (a municipality's, a region's or a private party's) is analysed only under a recorded agreement that states its legal basis, reference, period and contact, and only within that period (the consultation responses of Region Stockholm and Jönköping)";
        SUBJECT_HOLDER = "subject_holder", "the permit's applicant, who holds the case, handles its notifications; a prosecutor of the permit other than the one asking approves a later deferral, and its decider a waiver (the motion)";
    }
}

/// The result of checks that may fail for several reasons at once.
pub fn refuse_all(refusals: Vec<Refusal>) -> Result<(), Vec<Refusal>> {
    if refusals.is_empty() {
        Ok(())
    } else {
        Err(refusals)
    }
}
