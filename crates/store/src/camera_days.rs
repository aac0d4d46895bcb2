//! Each camera's health per day: what the engines measured, summed over sampling intervals, so a
//! partner's service level and passers-by per day can be reported after the fact. Counts and
//! durations only: never a face, a track or a frame.
//!
//! Also the notices of a covered camera that became unfit, told to each covering permit's team.

use std::collections::HashMap;

use mandat_audit::Record;
use mandat_law::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Store, StoreError};

/// One camera over one sampling interval, as an engine measured it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HealthSample {
    pub camera: String,
    /// Connected and delivering frames at the end of the interval.
    pub connected: bool,
    /// Frames, faces seen and faces of identifiable size in the interval (not cumulative).
    pub frames_in: u64,
    pub faces_seen: u64,
    pub faces_identifiable: u64,
    /// Face tracks started: passers-by, counted and never kept.
    #[serde(default)]
    pub passers_by: u64,
    /// `fit`, `unfit` or `unknown`, and why.
    pub fitness: String,
    pub reasons: Vec<String>,
}

/// The longest interval one sample may stand for: a sampler that stalled does not credit a day
/// with time nobody watched.
pub const MAX_SAMPLE_MS: i64 = 5 * 60 * 1000;

/// A camera's day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CameraDay {
    pub camera: String,
    /// Swedish civil date, `YYYY-MM-DD`.
    pub day: String,
    /// How long an engine ran the camera (it is run only while a permit covers it, or is about to).
    pub observed_ms: i64,
    /// Of which it was connected and delivering frames.
    pub available_ms: i64,
    pub frames_in: i64,
    /// Faces seen that day: passers-by, counted, never kept.
    pub faces_seen: i64,
    pub faces_identifiable: i64,
    /// Face tracks started that day: passers-by while a permit covered the camera.
    pub passers_by: i64,
    pub fit_ms: i64,
    pub unfit_ms: i64,
    pub unknown_ms: i64,
    /// The last verdict of the day, and why.
    pub fitness: String,
    pub reasons: Vec<String>,
}

impl CameraDay {
    /// Share of the observed time the camera was available, in percent.
    pub fn availability_pct(&self) -> Option<f64> {
        (self.observed_ms > 0).then(|| 100.0 * self.available_ms as f64 / self.observed_ms as f64)
    }

    /// The day's verdict: unfit if it was unfit for more than an hour or most of the time it
    /// was known; fit if it was fit most of the time it was known; unknown otherwise.
    pub fn verdict(&self) -> &'static str {
        let known = self.fit_ms + self.unfit_ms;
        if self.unfit_ms > 3_600_000 || (known > 0 && self.unfit_ms * 2 > known) {
            "unfit"
        } else if known > 0 && self.fit_ms * 2 > known {
            "fit"
        } else {
            "unknown"
        }
    }
}

/// A covered camera that became unfit, as its permit's team is told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CameraNotice {
    pub id: String,
    pub permit: String,
    pub camera: String,
    pub raised_at: Timestamp,
    pub reasons: Vec<String>,
}

fn day_of(r: &AnyRow) -> Result<CameraDay, StoreError> {
    let reasons: String = r.try_get("reasons")?;
    Ok(CameraDay {
        camera: r.try_get("camera")?,
        day: r.try_get("day")?,
        observed_ms: r.try_get("observed_ms")?,
        available_ms: r.try_get("available_ms")?,
        frames_in: r.try_get("frames_in")?,
        faces_seen: r.try_get("faces_seen")?,
        faces_identifiable: r.try_get("faces_identifiable")?,
        passers_by: r.try_get("passers_by")?,
        fit_ms: r.try_get("fit_ms")?,
        unfit_ms: r.try_get("unfit_ms")?,
        unknown_ms: r.try_get("unknown_ms")?,
        fitness: r.try_get("fitness")?,
        reasons: serde_json::from_str(&reasons).unwrap_or_default(),
    })
}

/// The most one sample may add to a count: a worker's figures are bounded, so no sum of a day
/// can overflow (a thousand frames a second over the longest sample is below it).
const MAX_SAMPLE_COUNT: u64 = 1_000_000_000;

fn clamp(n: u64) -> i64 {
    n.min(MAX_SAMPLE_COUNT) as i64
}

/// A day holds at most 24 hours of running (25 on the day summer time ends).
const MAX_DAY_MS: i64 = 25 * 3_600_000;

impl Store {
    /// Add one sampling interval of `interval_ms` ending at `now` to each sampled camera's day,
    /// and, in the same transaction, tell the team of each permit `covering(camera)` names of a
    /// camera whose verdict became `unfit` with this sample (it was something else at its last
    /// sample), unless that team was told of it within `quiet_ms`; each notice audited as
    /// `camera.unfit` on its permit. Returns the notices raised.
    pub async fn record_camera_health(
        &self,
        samples: &[HealthSample],
        interval_ms: i64,
        now: Timestamp,
        quiet_ms: i64,
        covering: impl Fn(&str) -> Vec<String>,
        origin: &str,
    ) -> Result<Vec<CameraNotice>, StoreError> {
        let day = now.stockholm_date();
        let mut became_unfit = Vec::new();
        let mut tx = self.begin_write().await?;
        for s in samples {
            if s.camera.is_empty() || s.camera.len() > 64 {
                return Err(StoreError::Invalid(format!(
                    "health sample of camera {:?}: a camera id is 1 to 64 bytes",
                    s.camera
                )));
            }
            if !["fit", "unfit", "unknown"].contains(&s.fitness.as_str()) {
                return Err(StoreError::Invalid(format!(
                    "health sample of camera {}: fitness is fit, unfit or unknown",
                    s.camera
                )));
            }
            // The time a sample stands for is bounded by the time since the camera's last one,
            // whatever the sender says: posting often credits no more time.
            let last: Option<(i64, i64)> = sqlx::query(
                "SELECT updated_at, observed_ms FROM camera_days WHERE camera = $1 AND day = $2",
            )
            .bind(s.camera.clone())
            .bind(day.clone())
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| Ok::<_, sqlx::Error>((r.try_get("updated_at")?, r.try_get("observed_ms")?)))
            .transpose()?;
            let mut interval = interval_ms.clamp(0, MAX_SAMPLE_MS);
            if let Some((updated_at, observed)) = last {
                interval = interval
                    .min(now.0.saturating_sub(updated_at).max(0))
                    .min((MAX_DAY_MS - observed).max(0));
            }
            let before: Option<String> = sqlx::query(
                "SELECT fitness FROM camera_days WHERE camera = $1 ORDER BY day DESC LIMIT 1",
            )
            .bind(s.camera.clone())
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("fitness"))
            .transpose()?;
            if s.fitness == "unfit" && before.as_deref() != Some("unfit") {
                became_unfit.push((s.camera.clone(), s.reasons.clone()));
            }
            let ms = |f: &str| if s.fitness == f { interval } else { 0 };
            // A sample over no time (sent again at once) says nothing: its counts are not added.
            let count = |n: u64| if interval > 0 { clamp(n) } else { 0 };
            let reasons: Vec<String> = s
                .reasons
                .iter()
                .take(10)
                .map(|r| r.chars().filter(|c| !c.is_control()).take(300).collect())
                .collect();
            sqlx::query(
                "INSERT INTO camera_days (camera, day, observed_ms, available_ms, frames_in, faces_seen, faces_identifiable, fit_ms, unfit_ms, unknown_ms, fitness, reasons, updated_at, passers_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                 ON CONFLICT (camera, day) DO UPDATE SET
                    observed_ms = camera_days.observed_ms + excluded.observed_ms,
                    available_ms = camera_days.available_ms + excluded.available_ms,
                    frames_in = camera_days.frames_in + excluded.frames_in,
                    faces_seen = camera_days.faces_seen + excluded.faces_seen,
                    faces_identifiable = camera_days.faces_identifiable + excluded.faces_identifiable,
                    passers_by = camera_days.passers_by + excluded.passers_by,
                    fit_ms = camera_days.fit_ms + excluded.fit_ms,
                    unfit_ms = camera_days.unfit_ms + excluded.unfit_ms,
                    unknown_ms = camera_days.unknown_ms + excluded.unknown_ms,
                    fitness = excluded.fitness,
                    reasons = excluded.reasons,
                    updated_at = excluded.updated_at",
            )
            .bind(s.camera.clone())
            .bind(day.clone())
            .bind(interval)
            .bind(if s.connected { interval } else { 0 })
            .bind(count(s.frames_in))
            .bind(count(s.faces_seen))
            .bind(count(s.faces_identifiable.min(s.faces_seen)))
            .bind(ms("fit"))
            .bind(ms("unfit"))
            .bind(ms("unknown"))
            .bind(s.fitness.clone())
            .bind(serde_json::to_string(&reasons).unwrap_or_else(|_| "[]".into()))
            .bind(now.0)
            .bind(count(s.passers_by))
            .execute(&mut *tx)
            .await?;
        }
        let mut notices = Vec::new();
        for (camera, reasons) in became_unfit {
            for permit in covering(&camera) {
                // A camera that flaps between fit and unfit tells the team once in `quiet_ms`.
                let told = sqlx::query(
                    "SELECT id FROM camera_notices WHERE permit = $1 AND camera = $2 AND raised_at >= $3",
                )
                .bind(permit.clone())
                .bind(camera.clone())
                .bind(now.0.saturating_sub(quiet_ms))
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
                if !told {
                    notices.push(
                        self.raise_camera_notice(&mut tx, &permit, &camera, &reasons, now, origin)
                            .await?,
                    );
                }
            }
        }
        tx.commit().await?;
        Ok(notices)
    }

    /// The cameras' days from `from` to `until` (both `YYYY-MM-DD`, inclusive), by camera and day.
    pub async fn camera_days(&self, from: &str, until: &str) -> Result<Vec<CameraDay>, StoreError> {
        sqlx::query(
            "SELECT camera, day, observed_ms, available_ms, frames_in, faces_seen, faces_identifiable, passers_by, fit_ms, unfit_ms, unknown_ms, fitness, reasons FROM camera_days WHERE day >= $1 AND day <= $2 ORDER BY camera, day",
        )
        .bind(from.to_string())
        .bind(until.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(day_of)
        .collect()
    }

    /// Each camera's most recent day: its last fitness verdict.
    pub async fn latest_camera_days(&self) -> Result<HashMap<String, CameraDay>, StoreError> {
        let rows = sqlx::query(
            "SELECT camera, day, observed_ms, available_ms, frames_in, faces_seen, faces_identifiable, passers_by, fit_ms, unfit_ms, unknown_ms, fitness, reasons FROM camera_days d WHERE day = (SELECT MAX(day) FROM camera_days e WHERE e.camera = d.camera)",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| day_of(r).map(|d| (d.camera.clone(), d)))
            .collect()
    }

    /// Tell `permit`'s team that `camera` became unfit, audited as `camera.unfit` on the permit.
    async fn raise_camera_notice(
        &self,
        tx: &mut crate::Tx<'_>,
        permit: &str,
        camera: &str,
        reasons: &[String],
        now: Timestamp,
        origin: &str,
    ) -> Result<CameraNotice, StoreError> {
        let notice = CameraNotice {
            id: format!("{permit}/{camera}/{}", now.0),
            permit: permit.into(),
            camera: camera.into(),
            raised_at: now,
            reasons: reasons.to_vec(),
        };
        sqlx::query(
            "INSERT INTO camera_notices (id, permit, camera, raised_at, reasons) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(notice.id.clone())
        .bind(permit.to_string())
        .bind(camera.to_string())
        .bind(now.0)
        .bind(serde_json::to_string(reasons).unwrap_or_else(|_| "[]".into()))
        .execute(&mut **tx)
        .await?;
        self.append_audit(
            tx,
            Record {
                at: now.0,
                actor: "system".into(),
                action: "camera.unfit".into(),
                permit: Some(permit.into()),
                origin: origin.into(),
                details: json!({"camera": camera, "reasons": reasons}),
            },
        )
        .await?;
        Ok(notice)
    }

    /// The notices of `permits`, newest first.
    pub async fn camera_notices(
        &self,
        permits: &[String],
    ) -> Result<Vec<CameraNotice>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, permit, camera, raised_at, reasons FROM camera_notices ORDER BY raised_at DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        let permits: std::collections::HashSet<&String> = permits.iter().collect();
        let mut out = Vec::new();
        for r in rows {
            let permit: String = r.try_get("permit")?;
            if !permits.contains(&permit) {
                continue;
            }
            let reasons: String = r.try_get("reasons")?;
            out.push(CameraNotice {
                id: r.try_get("id")?,
                permit,
                camera: r.try_get("camera")?,
                raised_at: Timestamp(r.try_get("raised_at")?),
                reasons: serde_json::from_str(&reasons).unwrap_or_default(),
            });
        }
        Ok(out)
    }
}
