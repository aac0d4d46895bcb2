//! The recurring risk analysis: the evaluation report of the model mandat runs (accuracy,
//! calibration, demographic differentials) must be recent when a court or prosecutor grants use.
//! The motion to parliament asks for recurring analyses of discrimination and error; the profile
//! says how old the latest may be, and a grant without one is refused with that rule.

use serde::{Deserialize, Serialize};

use crate::time::{DAY, Timestamp};
use crate::{Profile, Refusal, rule};

/// The worst and best group false-match rates at one operating point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Spread {
    /// Worst over best rate; `None` when the best group had no false match (unbounded).
    pub ratio: Option<f64>,
    pub worst: String,
    pub best: String,
}

/// What an evaluation report says, as recorded in the audit log (`eval.report`) and read back
/// for the gate and for the decider's page. The figures are the report's; the server checks
/// their form and the time, and the signed log says who recorded them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RiskAnalysis {
    /// When the report was made (not when it was recorded).
    #[schema(value_type = String)]
    pub run_at: Timestamp,
    pub mandat_version: String,
    /// sha256 of the embedding model evaluated.
    pub embedder_sha256: String,
    /// sha256 of the detector evaluated.
    pub detector_sha256: String,
    /// The calibration table the report made.
    pub calibration: String,
    /// `Some(n)`: every n-th pair and image only, a trial run that is no risk analysis.
    pub sample: Option<u32>,
    pub lfw_accuracy: f64,
    pub tar_at_far_1e3: f64,
    pub blufr_dir_at_fpir_1pc: f64,
    /// The operating point of the demographic tables: target FPIR for so many persons.
    pub operating_fpir: f64,
    pub operating_watchlist: u32,
    /// The global cosine threshold at that point.
    pub operating_threshold: f32,
    /// Race × gender, adults, at the global threshold.
    pub spread_global: Option<Spread>,
    /// The same with per-template thresholds, when the calibration has them.
    pub spread_per_template: Option<Spread>,
    /// Every held-out check of the report's calibration (global and per-template) came within
    /// 2x of its target. Absent in records made before it was recorded: such a record passes no
    /// model gate.
    #[serde(default)]
    pub calibration_within_2x: bool,
}

/// The embedding model a permit was drafted for: its name and the sha256 everything about it
/// (evaluation, calibration, templates) is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelRef {
    pub name: String,
    pub sha256: String,
}

/// 64 lower-case hex digits.
pub fn is_sha256(h: &str) -> bool {
    h.len() == 64
        && h.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl ModelRef {
    /// The first 12 hex digits, for messages.
    pub fn short(&self) -> &str {
        &self.sha256[..self.sha256.len().min(12)]
    }
}

impl RiskAnalysis {
    /// Whether the figures are of the right form: rates in [0, 1], a known operating point, hashes
    /// of 64 hex digits, a ratio of at least 1. A form error names the field.
    pub fn check_form(&self) -> Result<(), String> {
        let rates = [
            ("lfw_accuracy", self.lfw_accuracy),
            ("tar_at_far_1e3", self.tar_at_far_1e3),
            ("blufr_dir_at_fpir_1pc", self.blufr_dir_at_fpir_1pc),
            ("operating_fpir", self.operating_fpir),
        ];
        for (name, v) in rates {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("{name} is {v}, not a rate between 0 and 1"));
            }
        }
        for (name, h) in [
            ("embedder_sha256", &self.embedder_sha256),
            ("detector_sha256", &self.detector_sha256),
        ] {
            if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("{name} is not a sha256 (64 hex digits)"));
            }
        }
        if self.operating_watchlist == 0 || !self.operating_threshold.is_finite() {
            return Err(
                "the operating point needs a watchlist of at least 1 and a threshold".into(),
            );
        }
        for s in [&self.spread_global, &self.spread_per_template]
            .into_iter()
            .flatten()
        {
            if let Some(r) = s.ratio
                && !(r >= 1.0 && r.is_finite())
            {
                return Err(format!("a spread of {r} is not a ratio of at least 1"));
            }
        }
        if self.calibration.is_empty() {
            return Err("the calibration version is empty".into());
        }
        let names = [&self.calibration, &self.mandat_version].into_iter().chain(
            [&self.spread_global, &self.spread_per_template]
                .into_iter()
                .flatten()
                .flat_map(|s| [&s.worst, &s.best]),
        );
        for n in names {
            if n.len() > 200 {
                let head: String = n.chars().take(20).collect();
                return Err(format!("{head:?}… is longer than 200 characters"));
            }
        }
        Ok(())
    }

    /// Whole days since the report was made.
    pub fn age_days(&self, now: Timestamp) -> i64 {
        (now.0 - self.run_at.0).div_euclid(DAY)
    }
}

/// Whether a grant may rest on `latest`, the newest recorded full evaluation of the running
/// embedder (`None` if there is none): it must be at most the profile's limit old.
pub fn check_current(
    profile: &Profile,
    embedder_sha256: &str,
    latest: Option<&RiskAnalysis>,
    now: Timestamp,
) -> Result<(), Refusal> {
    let limit = profile.risk_analysis_max_days;
    let r = rule::RISK_ANALYSIS;
    let Some(a) = latest else {
        return Err(r.refusal(format!(
            "no evaluation report of the running model ({}) is recorded: an auditor runs `mandat eval report` (a full run, not --sample) before any grant",
            &embedder_sha256[..embedder_sha256.len().min(12)]
        )));
    };
    let age = a.age_days(now);
    if age > i64::from(limit) {
        return Err(r.refusal(format!(
            "the latest evaluation report of the running model was made on {} ({age} days ago); {} allows at most {limit} days before a grant: an auditor runs `mandat eval report` again",
            a.run_at.to_rfc3339(),
            profile.name
        )));
    }
    check_gates(profile, a)
}

/// Whether the evaluated model passed the gates any model must pass before a permit uses it:
/// accuracy at least the profile's floor, a calibration whose every check came within 2x, and
/// the demographic table reported.
pub fn check_gates(profile: &Profile, a: &RiskAnalysis) -> Result<(), Refusal> {
    let r = rule::MODEL_GATES;
    let model = &a.embedder_sha256[..a.embedder_sha256.len().min(12)];
    if a.lfw_accuracy < profile.min_lfw_accuracy {
        return Err(r.refusal(format!(
            "model {model} reached {:.2} % on LFW 10-fold; {} requires at least {:.2} %: no permit may use it",
            a.lfw_accuracy * 100.0,
            profile.name,
            profile.min_lfw_accuracy * 100.0
        )));
    }
    if !a.calibration_within_2x {
        return Err(r.refusal(format!(
            "the evaluation of model {model} does not show every calibration check within 2x of its target: no permit may use it until `mandat eval report` shows one that does"
        )));
    }
    if a.spread_global.is_none() {
        return Err(r.refusal(format!(
            "the evaluation of model {model} reports no demographic table (race × gender): run `mandat eval report` with the UTKFace data"
        )));
    }
    Ok(())
}

/// Whether a permit drafted for `drafted` may be decided or used while mandat runs `running`:
/// only the same model (by hash), since its threshold, calibration and templates are that
/// model's. A permit drafted before permits recorded their model was drafted for the pinned
/// embedder, `builtin`.
pub fn check_model(
    drafted: Option<&ModelRef>,
    builtin: &str,
    running: &ModelRef,
) -> Result<(), Refusal> {
    let sha = drafted.map_or(builtin, |m| m.sha256.as_str());
    if sha == running.sha256 {
        return Ok(());
    }
    Err(rule::MODEL_GATES.refusal(format!(
        "the permit was drafted for model {} ({}), but mandat runs {} ({}): its threshold and templates are that model's. Run mandat with `--embedder {}`, or draft a new application under the running model",
        drafted.map_or("sface-2021dec", |m| m.name.as_str()),
        &sha[..sha.len().min(12)],
        running.name,
        running.short(),
        drafted.map_or("sface-2021dec", |m| m.name.as_str()),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SWEDEN;

    const SHA: &str = "ab872eaae25a7323ed1b7d90a3b2294d187664174c9912623e99dc68bc15326f";

    fn analysis(run_at: Timestamp) -> RiskAnalysis {
        RiskAnalysis {
            run_at,
            mandat_version: "0.1.0".into(),
            embedder_sha256: SHA.into(),
            detector_sha256: SHA.into(),
            calibration: "ab872eaae25a-20261123T000000Z".into(),
            sample: None,
            lfw_accuracy: 0.9935,
            tar_at_far_1e3: 0.9887,
            blufr_dir_at_fpir_1pc: 0.9,
            operating_fpir: 1e-4,
            operating_watchlist: 3,
            operating_threshold: 0.443,
            spread_global: Some(Spread {
                ratio: Some(17.0),
                worst: "Asian men".into(),
                best: "Black women".into(),
            }),
            spread_per_template: None,
            calibration_within_2x: true,
        }
    }

    #[test]
    fn a_grant_needs_a_report_no_older_than_the_profile_allows() {
        let now = Timestamp::parse_rfc3339("2026-12-01T12:00:00Z").unwrap();
        let limit = i64::from(SWEDEN.risk_analysis_max_days);
        assert_eq!(limit, 183);
        let on_the_limit = analysis(now.plus_millis(-limit * DAY));
        assert!(check_current(&SWEDEN, SHA, Some(&on_the_limit), now).is_ok());
        let a_day_over = analysis(now.plus_millis(-(limit + 1) * DAY));
        let e = check_current(&SWEDEN, SHA, Some(&a_day_over), now).unwrap_err();
        assert_eq!(e.code, "risk_analysis");
        assert!(e.message.contains("184 days ago"), "{e}");
        let e = check_current(&SWEDEN, SHA, None, now).unwrap_err();
        assert!(e.message.contains("ab872eaae25a"), "{e}");
    }

    #[test]
    fn figures_of_the_wrong_form_are_named() {
        let now = Timestamp::parse_rfc3339("2026-12-01T12:00:00Z").unwrap();
        assert!(analysis(now).check_form().is_ok());
        let mut a = analysis(now);
        a.lfw_accuracy = 99.35;
        assert!(a.check_form().unwrap_err().contains("lfw_accuracy"));
        let mut a = analysis(now);
        a.embedder_sha256 = "ab87".into();
        assert!(a.check_form().unwrap_err().contains("embedder_sha256"));
        let mut a = analysis(now);
        a.spread_global.as_mut().unwrap().ratio = Some(f64::NAN);
        assert!(a.check_form().is_err());
        let mut a = analysis(now);
        a.operating_watchlist = 0;
        assert!(a.check_form().is_err());
    }

    #[test]
    fn a_model_below_any_gate_is_refused_whatever_its_age() {
        let now = Timestamp::parse_rfc3339("2026-12-01T12:00:00Z").unwrap();
        let gate = |a: &RiskAnalysis| check_current(&SWEDEN, SHA, Some(a), now);
        let mut a = analysis(now);
        a.lfw_accuracy = 0.993;
        assert!(gate(&a).is_ok(), "the floor itself passes");
        a.lfw_accuracy = 0.9929;
        let e = gate(&a).unwrap_err();
        assert_eq!(e.code, "model_gates");
        assert!(e.message.contains("99.29 %"), "{e}");
        let mut a = analysis(now);
        a.calibration_within_2x = false;
        assert!(gate(&a).unwrap_err().message.contains("within 2x"));
        let mut a = analysis(now);
        a.spread_global = None;
        assert!(gate(&a).unwrap_err().message.contains("demographic"));
        // A record from before the field existed passes no gate.
        let mut v = serde_json::to_value(analysis(now)).unwrap();
        v.as_object_mut().unwrap().remove("calibration_within_2x");
        let old: RiskAnalysis = serde_json::from_value(v).unwrap();
        assert_eq!(gate(&old).unwrap_err().code, "model_gates");
    }

    #[test]
    fn a_permit_is_used_with_the_model_it_was_drafted_for() {
        let sface = ModelRef {
            name: "sface-2021dec".into(),
            sha256: SHA.into(),
        };
        let other = ModelRef {
            name: "procured".into(),
            sha256: "9d47a5e84516dc3723b254f66654b790de388243b9bff80c4fddf84239df7d0c".into(),
        };
        assert!(check_model(Some(&sface), SHA, &sface).is_ok());
        // Drafted before permits recorded their model: the pinned one.
        assert!(check_model(None, SHA, &sface).is_ok());
        let e = check_model(None, SHA, &other).unwrap_err();
        assert_eq!(e.code, "model_gates");
        assert!(e.message.contains("--embedder sface-2021dec"), "{e}");
        let e = check_model(Some(&other), SHA, &sface).unwrap_err();
        assert!(e.message.contains("procured (9d47a5e84516)"), "{e}");
    }
}
