//! Calibrated thresholds through the control plane: admins store the table `mandat eval calibrate`
//! made (only if it passed its held-out check, and only for the model mandat runs); a draft that
//! states a target FPIR gets its cosine threshold from the newest table; evaluation runs are
//! recorded as the recurring risk analysis.

use crate::Session;
use mandat_eval::calibrate::Calibration;
use mandat_eval::cohort::Cohort;
use mandat_law::permit::Application;
use mandat_law::risk::RiskAnalysis;
use mandat_models::{ModelId, ModelSpec};
use mandat_store::StoreError;
use mandat_store::calibrations::StoredCalibration;
use serde_json::json;

/// What is known of a permit's false alerts before it is granted.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpectedFalseAlerts {
    /// The FPIR the permit states, and the table's held-out check at that point if it made one.
    Target {
        fpir: f64,
        held_out: Option<mandat_eval::calibrate::HeldOut>,
    },
    /// A plain cosine, read off a table.
    FromTable {
        at: mandat_eval::calibrate::FpirAt,
        calibration: String,
    },
    /// No table for the running model: nothing can be said.
    Unknown,
}

/// The audit action of a recorded evaluation report.
pub const EVAL_REPORT: &str = "eval.report";

use crate::{Control, ControlError, Result, require};
use mandat_law::permissions::Action;

/// The sha256 of the pinned embedder, which a control plane runs unless told otherwise
/// ([`Control::with_embedder`]) and which permits drafted before they recorded a model were
/// drafted for.
pub fn pinned_embedder_sha256() -> &'static str {
    ModelSpec::get(ModelId::Sface)
        .final_sha256()
        .expect("the embedder's hash is platform-independent")
}

/// The pinned embedder by name and hash.
pub fn pinned_embedder() -> mandat_law::risk::ModelRef {
    mandat_law::risk::ModelRef {
        name: mandat_models::BUILT_IN_EMBEDDER.into(),
        sha256: pinned_embedder_sha256().into(),
    }
}

/// Whether a permit drafted as `app` may be decided, enrolled or matched under `running`: only
/// under the model it was drafted for, the pinned one for permits from before they recorded it.
pub fn check_drafted_model(
    app: &Application,
    running: &mandat_law::risk::ModelRef,
) -> std::result::Result<(), mandat_law::Refusal> {
    mandat_law::risk::check_model(app.embedder.as_ref(), pinned_embedder_sha256(), running)
}

fn invalid(msg: String) -> ControlError {
    ControlError::Store(StoreError::Invalid(msg))
}

impl Control {
    /// Store a calibration table (admins). Refused when it is for another model, has no held-out
    /// check, or any check missed its target by more than a factor of 2. A table with per-template
    /// thresholds comes with its impostor cohort, which must be the one it names.
    pub async fn add_calibration(
        &self,
        actor: &Session,
        cal: &Calibration,
        cohort: Option<&Cohort>,
        origin: &str,
    ) -> Result<()> {
        require(actor, Action::StoreCalibration)?;
        if cal.model_sha256 != self.embedder().sha256 {
            return Err(invalid(format!(
                "calibration {} is for model {}, but mandat runs {} ({}); calibrate with `--embedder {}`",
                cal.version,
                cal.model_sha256,
                self.embedder().name,
                self.embedder().sha256,
                self.embedder().name
            )));
        }
        if cal.curve.is_empty() || cal.held_out.is_empty() {
            return Err(invalid(format!(
                "calibration {} has no table or no held-out check; run `mandat eval calibrate` on the whole data set",
                cal.version
            )));
        }
        if let Some(bad) = cal.held_out.iter().find(|h| !h.within_2x) {
            return Err(invalid(format!(
                "calibration {} failed its held-out check: FPIR {} for {} person(s) came out at {:.2e} ({:.2}× the target); it is not stored",
                cal.version, bad.fpir_target, bad.watchlist, bad.fpir_realised, bad.ratio
            )));
        }
        // A per-template table is held to the same bar, and to a cohort large enough to say
        // where a template's nearest strangers lie.
        if let Some(pt) = &cal.per_template {
            if (pt.cohort_size as usize) < mandat_eval::cohort::MIN_COHORT
                || pt.curve.is_empty()
                || pt.held_out.is_empty()
            {
                return Err(invalid(format!(
                    "calibration {}'s per-template table has a cohort of {} (at least {} needed), {} points and {} held-out checks; run `mandat eval calibrate` on the whole data set",
                    cal.version,
                    pt.cohort_size,
                    mandat_eval::cohort::MIN_COHORT,
                    pt.curve.len(),
                    pt.held_out.len()
                )));
            }
            if let Some(bad) = pt.held_out.iter().find(|h| !h.within_2x) {
                return Err(invalid(format!(
                    "calibration {} failed its per-template held-out check: FPIR {} for {} person(s) came out at {:.2e} ({:.2}× the target); it is not stored",
                    cal.version, bad.fpir_target, bad.watchlist, bad.fpir_realised, bad.ratio
                )));
            }
            let c = cohort.ok_or_else(|| {
                invalid(format!(
                    "calibration {} has per-template thresholds but came without its cohort; send it again with `mandat eval calibrate`",
                    cal.version
                ))
            })?;
            if let Some(k) = c.first_not_unit() {
                return Err(invalid(format!(
                    "member {k} of the cohort sent with calibration {} is not a normalised template; it is not stored",
                    cal.version
                )));
            }
            if c.version() != pt.cohort || c.len() != pt.cohort_size as usize {
                return Err(invalid(format!(
                    "the cohort sent with calibration {} is {} ({} templates), but the table was made with {} ({} templates); it is not stored",
                    cal.version,
                    c.version(),
                    c.len(),
                    pt.cohort,
                    pt.cohort_size
                )));
            }
        } else if cohort.is_some() {
            return Err(invalid(format!(
                "calibration {} has no per-template table, so a cohort sent with it would never be used; it is not stored",
                cal.version
            )));
        }
        let stored = StoredCalibration {
            version: cal.version.clone(),
            model_sha256: cal.model_sha256.clone(),
            doc: serde_json::to_string(cal).expect("calibrations serialise"),
        };
        let details = json!({
            "version": cal.version,
            "model_sha256": cal.model_sha256,
            "impostor_pairs": cal.impostor_pairs,
            "held_out": cal.held_out.iter().map(|h| json!({
                "fpir": h.fpir_target, "watchlist": h.watchlist,
                "threshold": h.threshold, "realised": h.fpir_realised,
            })).collect::<Vec<_>>(),
            "per_template": cal.per_template.as_ref().map(|pt| json!({
                "cohort": pt.cohort, "cohort_size": pt.cohort_size,
                "held_out": pt.held_out.iter().map(|h| json!({
                    "fpir": h.fpir_target, "watchlist": h.watchlist,
                    "z": h.threshold, "realised": h.fpir_realised,
                })).collect::<Vec<_>>(),
            })),
        });
        let mut bytes = cohort.map(|c| c.to_le_bytes());
        let stored_cohort = cal
            .per_template
            .as_ref()
            .zip(bytes.as_deref())
            .map(|(pt, b)| (pt.cohort.as_str(), b));
        let result = self
            .store
            .add_calibration(actor, &stored, stored_cohort, details, self.now()?, origin)
            .await;
        if let Some(b) = bytes.as_mut() {
            mandat_store::crypto::wipe(b);
        }
        result?;
        Ok(())
    }

    /// The newest table for the model mandat runs, if one is stored.
    pub async fn calibration(&self) -> Result<Option<Calibration>> {
        self.store
            .latest_calibration(&self.embedder().sha256)
            .await?
            .map(|s| {
                serde_json::from_str(&s.doc).map_err(|e| {
                    ControlError::Store(StoreError::Corrupt(format!(
                        "calibration {}: {e}",
                        s.version
                    )))
                })
            })
            .transpose()
    }

    /// Derive a draft's threshold from its target, for as many templates as its persons have
    /// reference photos.
    pub(crate) async fn calibrate_application(&self, app: &mut Application) -> Result<()> {
        // Each reference photo is matched on its own, so the target is shared among templates.
        let n = app.template_count().max(1);
        let persons = u32::try_from(app.persons.len()).unwrap_or(u32::MAX);
        let Some(target) = app.target.as_mut() else {
            return Ok(());
        };
        let cal = self.calibration().await?.ok_or_else(|| {
            let e = self.embedder();
            invalid(if e.sha256 == pinned_embedder_sha256() {
                format!(
                    "no calibration is stored for the embedding model {}: an admin runs `mandat eval calibrate` first, or the permit states a cosine threshold instead of a target",
                    e.short()
                )
            } else {
                format!(
                    "no calibration is stored for the registered embedder {} ({}): an admin runs `mandat eval calibrate --embedder {}` first",
                    e.name,
                    e.short(),
                    e.name
                )
            })
        })?;
        app.threshold = cal
            .threshold(target.fpir, n)
            .map_err(|e| invalid(e.to_string()))?;
        // Per-template thresholds when the table has them; whatever a client sent is replaced.
        (target.z, target.cohort, target.floor) = match &cal.per_template {
            Some(pt) => {
                let z = pt.z_threshold(target.fpir, n);
                let floor = mandat_eval::cohort::floor(&cal, target.fpir, n);
                (
                    Some(z.map_err(|e| invalid(format!("calibration {}: {e}", cal.version)))?),
                    Some(pt.cohort.clone()),
                    Some(floor.map_err(|e| invalid(e.to_string()))?),
                )
            }
            None => (None, None, None),
        };
        target.watchlist = persons;
        target.templates = n;
        target.calibration = cal.version;
        Ok(())
    }

    /// The lowest threshold of `person`'s templates under `permit` in the scope held, for pages
    /// that show who is held to what; `None` without a scope or a template in it.
    pub fn threshold_floor(&self, permit: &str, person: &str) -> Option<f32> {
        self.scope.as_ref()?.threshold_floor(permit, person)
    }

    /// Record an evaluation report in the audit log (auditors only): the models, the
    /// calibration, the headline figures and the demographic spread, as the recurring risk
    /// analysis. A report made in the future, or of a form no report has, is refused.
    pub async fn record_evaluation(
        &self,
        actor: &Session,
        analysis: &RiskAnalysis,
        origin: &str,
    ) -> Result<()> {
        require(actor, Action::RecordEvaluation)?;
        analysis
            .check_form()
            .map_err(|e| invalid(format!("the evaluation record: {e}")))?;
        let now = self.now()?;
        // A little clock skew between the machine that ran it and this one is not a lie.
        if analysis.run_at.0 > now.0 + 5 * 60_000 {
            return Err(invalid(format!(
                "the evaluation report says it was made at {}, after now ({}); check the clocks",
                analysis.run_at.to_rfc3339(),
                now.to_rfc3339()
            )));
        }
        let details = serde_json::to_value(analysis)
            .map_err(|e| invalid(format!("the evaluation record: {e}")))?;
        self.store
            .record(mandat_audit::Record {
                at: now.0,
                actor: actor.user.clone(),
                action: EVAL_REPORT.into(),
                permit: None,
                origin: origin.into(),
                details,
            })
            .await?;
        Ok(())
    }

    /// The newest full evaluation of the embedder mandat runs, as the grant gate reads it, for
    /// the deciders who grant on it.
    pub async fn risk_analysis(&self, actor: &Session) -> Result<Option<RiskAnalysis>> {
        require(actor, Action::DecidePermit)?;
        self.newest_risk_analysis().await
    }

    /// The newest full evaluation of the embedder mandat runs, read from the signed audit log page
    /// by page; `None` when there is none. Sampled runs and runs of other models do not count. An
    /// entry edited or inserted in the database, or a newer entry deleted, is an error (tampered).
    pub(crate) async fn newest_risk_analysis(&self) -> Result<Option<RiskAnalysis>> {
        let mut before = None;
        loop {
            let page = self.store.signed_entries(EVAL_REPORT, before, 100).await?;
            let Some(last) = page.last() else {
                return Ok(None);
            };
            before = Some(last.seq);
            let found = page.into_iter().find_map(|e| {
                let a = serde_json::from_value::<RiskAnalysis>(e.details).ok()?;
                (a.embedder_sha256 == self.embedder().sha256 && a.sample.is_none())
                    .then_some((e.seq, a))
            });
            if let Some((seq, a)) = found {
                self.store.audit_whole_after(seq).await?;
                return Ok(Some(a));
            }
        }
    }

    /// What the decider is told of false alerts: the share of passers-by not sought who would
    /// raise one under `app`'s threshold and templates. A stated target is the permit's own
    /// promise, with the table's held-out check of that point when it has one; a plain cosine is
    /// read off the newest table of the running model.
    pub async fn expected_false_alerts(
        &self,
        actor: &Session,
        app: &Application,
    ) -> Result<ExpectedFalseAlerts> {
        require(actor, Action::DecidePermit)?;
        let n = app.template_count().max(1);
        if let Some(t) = &app.target {
            let stored = self.store.calibrations().await?;
            let held_out = stored
                .iter()
                .find(|c| c.version == t.calibration)
                .and_then(|c| serde_json::from_str::<Calibration>(&c.doc).ok())
                .and_then(|c| {
                    let checks = match &c.per_template {
                        Some(pt) if t.z.is_some() => pt.held_out.clone(),
                        _ => c.held_out.clone(),
                    };
                    checks
                        .into_iter()
                        .find(|h| h.fpir_target == t.fpir && h.watchlist == n)
                });
            return Ok(ExpectedFalseAlerts::Target {
                fpir: t.fpir,
                held_out,
            });
        }
        Ok(match self.calibration().await? {
            Some(c) => match c.fpir_at(app.threshold, n) {
                Some(at) => ExpectedFalseAlerts::FromTable {
                    at,
                    calibration: c.version,
                },
                None => ExpectedFalseAlerts::Unknown,
            },
            None => ExpectedFalseAlerts::Unknown,
        })
    }

    /// Refused with the profile's rule unless `p` was drafted for the running embedder and
    /// the newest full evaluation of that embedder is recent enough and passed the model gates.
    pub(crate) async fn check_risk_analysis(
        &self,
        p: &mandat_law::Permit,
        profile: &mandat_law::Profile,
        now: mandat_law::Timestamp,
    ) -> Result<()> {
        check_drafted_model(&p.application, self.embedder())?;
        let latest = self.newest_risk_analysis().await?;
        mandat_law::risk::check_current(profile, &self.embedder().sha256, latest.as_ref(), now)?;
        Ok(())
    }
}
