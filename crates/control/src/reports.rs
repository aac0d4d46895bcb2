//! The annual report through the control plane: auditors and admins, computed from the records.

use crate::Session;
use mandat_law::Timestamp;
use mandat_reports::annual::{AnnualInputs, AnnualReport, annual};

use crate::{Control, ControlError, Result, require};
use mandat_law::permissions::Action;

impl Control {
    pub async fn annual_report(&self, actor: &Session, year: i32) -> Result<AnnualReport> {
        require(actor, Action::AnnualReport)?;
        let bad = || {
            ControlError::Store(mandat_store::StoreError::Invalid(format!(
                "year {year}: give a year from 2000 to 9998"
            )))
        };
        if !(2000..=9998).contains(&year) {
            return Err(bad());
        }
        let start =
            Timestamp::parse_rfc3339(&format!("{year:04}-01-01T00:00:00Z")).ok_or_else(bad)?;
        let end = Timestamp::parse_rfc3339(&format!("{:04}-01-01T00:00:00Z", year + 1))
            .ok_or_else(bad)?;
        let now = self.now()?;
        let permits = self.store.permits().await?;
        let alerts = self.store.alerts_captured_between(start, end).await?;
        // Purged alerts survive only as counts in their deletion certificates.
        let (log, _) = self.store.audit_log().await?;
        let purged: Vec<(String, usize)> = log
            .iter()
            .filter(|e| e.action == "permit.purge" && (start.0..end.0).contains(&e.at))
            .filter_map(|e| {
                Some((
                    e.permit.clone()?,
                    e.details["alerts"].as_array().map_or(0, Vec::len),
                ))
            })
            .collect();
        let tasks = self.store.subject_tasks().await?;
        let cameras = self.store.cameras().await?;
        Ok(annual(&AnnualInputs {
            year,
            now,
            permits: &permits,
            alerts: &alerts,
            purged_alerts: &purged,
            tasks: &tasks,
            cameras: &cameras,
        }))
    }
}
