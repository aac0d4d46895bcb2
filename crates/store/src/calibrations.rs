//! Calibration tables, stored as the evaluation made them (JSON), each under its version and the
//! hash of the embedding model it holds for. Adding one is audited. The table is no personal
//! data; the impostor cohort of a per-template table is (templates of real people), so it is
//! sealed under the master key and bound to its table.

use mandat_audit::Record;
use mandat_law::{Actor, Timestamp};
use sqlx::Row;

use crate::{Store, StoreError};

/// A stored table: its version, model hash and the table as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCalibration {
    pub version: String,
    pub model_sha256: String,
    pub doc: String,
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<StoredCalibration, StoreError> {
    Ok(StoredCalibration {
        version: r.try_get("version")?,
        model_sha256: r.try_get("model_sha256")?,
        doc: r.try_get("doc")?,
    })
}

impl Store {
    /// Store a table; `details` go into the audit entry (the version, the model and the checks).
    pub async fn add_calibration(
        &self,
        actor: &Actor,
        cal: &StoredCalibration,
        cohort: Option<(&str, &[u8])>,
        details: serde_json::Value,
        now: Timestamp,
        origin: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT version FROM calibrations WHERE version = $1")
            .bind(cal.version.clone())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Conflict(format!(
                "calibration {} is already stored",
                cal.version
            )));
        }
        let sealed = cohort
            .map(|(v, bytes)| {
                self.master
                    .seal(bytes, cohort_aad(&cal.version, v).as_bytes())
            })
            .transpose()?;
        sqlx::query(
            "INSERT INTO calibrations (version, model_sha256, created_at, doc, cohort_version, cohort_sealed) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(cal.version.clone())
        .bind(cal.model_sha256.clone())
        .bind(now.0)
        .bind(cal.doc.clone())
        .bind(cohort.map(|(v, _)| v.to_string()))
        .bind(sealed)
        .execute(&mut *tx)
        .await?;
        // A scope waiting for this table's cohort reloads.
        self.bump_scope(&mut tx).await?;
        self.append_audit(
            &mut tx,
            Record {
                at: now.0,
                actor: actor.user.clone(),
                action: "calibration.add".into(),
                permit: None,
                origin: origin.into(),
                details,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest table for a model, if any.
    pub async fn latest_calibration(
        &self,
        model_sha256: &str,
    ) -> Result<Option<StoredCalibration>, StoreError> {
        sqlx::query(
            "SELECT version, model_sha256, doc FROM calibrations WHERE model_sha256 = $1 ORDER BY created_at DESC, version DESC LIMIT 1",
        )
        .bind(model_sha256.to_string())
        .fetch_optional(&self.pool)
        .await?
        .map(|r| from_row(&r))
        .transpose()
    }

    /// The impostor cohort `cohort_version` of table `calibration`, opened (the caller wipes it);
    /// `None` when that table holds no such cohort. A sealed cohort moved to another row, or a
    /// row whose names were edited, does not open.
    pub async fn cohort(
        &self,
        calibration: &str,
        cohort_version: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT cohort_sealed FROM calibrations WHERE version = $1 AND cohort_version = $2 AND cohort_sealed IS NOT NULL",
        )
        .bind(calibration.to_string())
        .bind(cohort_version.to_string())
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let sealed: Vec<u8> = row.try_get("cohort_sealed")?;
        Ok(Some(self.master.open(
            &sealed,
            cohort_aad(calibration, cohort_version).as_bytes(),
        )?))
    }

    /// Every table, newest first.
    pub async fn calibrations(&self) -> Result<Vec<StoredCalibration>, StoreError> {
        sqlx::query(
            "SELECT version, model_sha256, doc FROM calibrations ORDER BY created_at DESC, version DESC",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(from_row)
        .collect()
    }
}

/// The associated data binding a sealed cohort to its table and its own version.
fn cohort_aad(calibration: &str, cohort: &str) -> String {
    format!("cohort:{calibration}:{cohort}")
}
