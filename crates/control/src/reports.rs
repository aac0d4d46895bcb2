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
        let days = self
            .store
            .camera_days(&format!("{year:04}-01-01"), &format!("{year:04}-12-31"))
            .await?;
        Ok(annual(&AnnualInputs {
            year,
            now,
            permits: &permits,
            alerts: &alerts,
            purged_alerts: &purged,
            tasks: &tasks,
            cameras: &cameras,
            days: &days,
        }))
    }
}

/// The longest span one SLA report covers.
pub const MAX_SLA_DAYS: i64 = 366;

impl Control {
    /// The service level of a partner's cameras (auditors): over the days `from` to `until`
    /// (`YYYY-MM-DD`, inclusive), or over the period of `permit` and the cameras it covers.
    pub async fn sla_report(
        &self,
        actor: &Session,
        owner: &str,
        span: Option<(&str, &str)>,
        permit: Option<&str>,
    ) -> Result<mandat_reports::sla::SlaReport> {
        require(actor, Action::ReadCameraDays)?;
        let invalid = |m: String| ControlError::Store(mandat_store::StoreError::Invalid(m));
        if !mandat_law::OwnerKind::of(owner).is_some_and(|k| k.is_partner()) {
            return Err(invalid(format!(
                "owner {owner:?}: give a partner, `municipality:NAME`, `region:NAME` or `private:NAME`"
            )));
        }
        let (from, until, covered) = match (permit, span) {
            (Some(id), None) => {
                let p = self.visible_permit(actor, id).await?;
                let period = p.application.period;
                (
                    period.start.stockholm_date(),
                    period.end.plus_millis(-1).stockholm_date(),
                    Some((p.id.clone(), p.application.area.cameras.clone())),
                )
            }
            (None, Some((from, until))) => {
                let day = |s: &str| {
                    Timestamp::parse_rfc3339(&format!("{s}T00:00Z"))
                        .filter(|_| s.len() == 10)
                        .ok_or_else(|| invalid(format!("{s:?} is not a day: use YYYY-MM-DD")))
                };
                let (a, b) = (day(from)?, day(until)?);
                if b < a || (b.0 - a.0) / mandat_law::time::DAY >= MAX_SLA_DAYS {
                    return Err(invalid(format!(
                        "the span {from} to {until}: the last day is on or after the first, and at most {MAX_SLA_DAYS} days in all"
                    )));
                }
                (from.to_string(), until.to_string(), None)
            }
            _ => {
                return Err(invalid(
                    "give either a permit or a span of days (from and until), not both".into(),
                ));
            }
        };
        let cameras = self.store.cameras().await?;
        let days = self.store.camera_days(&from, &until).await?;
        Ok(mandat_reports::sla::sla(&mandat_reports::sla::SlaInputs {
            owner,
            from: &from,
            until: &until,
            permit: covered.as_ref().map(|(p, c)| (p.as_str(), c.as_slice())),
            cameras: &cameras,
            days: &days,
            now: self.now()?,
        }))
    }
}
