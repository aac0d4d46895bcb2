//! Calibrated thresholds through the control plane: admins store the table `mandat eval calibrate`
//! made (only if it passed its held-out check, and only for the model mandat runs); a draft that
//! states a target FPIR gets its cosine threshold from the newest table; evaluation runs are
//! recorded as the recurring risk analysis.

use crate::Session;
use mandat_eval::calibrate::Calibration;
use mandat_law::permit::Application;
use mandat_models::{ModelId, ModelSpec};
use mandat_store::StoreError;
use mandat_store::calibrations::StoredCalibration;
use serde_json::json;

use crate::{Control, ControlError, Result, require};
use mandat_law::permissions::Action;

/// The sha256 of the embedding model this build runs; tables for any other model do not apply.
pub fn model_sha256() -> &'static str {
    ModelSpec::get(ModelId::Sface)
        .final_sha256()
        .expect("the embedder's hash is platform-independent")
}

fn invalid(msg: String) -> ControlError {
    ControlError::Store(StoreError::Invalid(msg))
}

impl Control {
    /// Store a calibration table (admins). Refused when it is for another model, has no held-out
    /// check, or any check missed its target by more than a factor of 2.
    pub async fn add_calibration(
        &self,
        actor: &Session,
        cal: &Calibration,
        origin: &str,
    ) -> Result<()> {
        require(actor, Action::StoreCalibration)?;
        if cal.model_sha256 != model_sha256() {
            return Err(invalid(format!(
                "calibration {} is for model {}, but mandat runs {}; calibrate again with this build",
                cal.version,
                cal.model_sha256,
                model_sha256()
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
        });
        self.store
            .add_calibration(actor, &stored, details, self.now()?, origin)
            .await?;
        Ok(())
    }

    /// The newest table for the model mandat runs, if one is stored.
    pub async fn calibration(&self) -> Result<Option<Calibration>> {
        self.store
            .latest_calibration(model_sha256())
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

    /// Derive a draft's threshold from its target, for as many persons as it designates.
    pub(crate) async fn calibrate_application(&self, app: &mut Application) -> Result<()> {
        let Some(target) = app.target.as_mut() else {
            return Ok(());
        };
        let cal = self.calibration().await?.ok_or_else(|| {
            invalid(format!(
                "no calibration is stored for the embedding model {}: an admin runs `mandat eval calibrate` first, or the permit states a cosine threshold instead of a target",
                &model_sha256()[..12]
            ))
        })?;
        let n = u32::try_from(app.persons.len().max(1)).unwrap_or(u32::MAX);
        app.threshold = cal
            .threshold(target.fpir, n)
            .map_err(|e| invalid(e.to_string()))?;
        target.watchlist = n;
        target.calibration = cal.version;
        Ok(())
    }

    /// Record an evaluation run in the audit log (auditors and admins): model hashes, the
    /// calibration and the headline figures, as the recurring risk analysis.
    pub async fn record_evaluation(
        &self,
        actor: &Session,
        details: serde_json::Value,
        origin: &str,
    ) -> Result<()> {
        require(actor, Action::RecordEvaluation)?;
        self.store
            .record(mandat_audit::Record {
                at: self.now()?.0,
                actor: actor.user.clone(),
                action: "eval.report".into(),
                permit: None,
                origin: origin.into(),
                details,
            })
            .await?;
        Ok(())
    }
}
