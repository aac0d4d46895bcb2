//! Workers: processes that decode and analyse cameras and hold no key, no database account and no
//! file of biometric data. They reach the control plane over mTLS only (see `mandat_web::internal`)
//! and ask it three things: which cameras they lease ([`Control::lease`]), whom they may look for
//! on those cameras now ([`Control::grant`]) and to take an alert ([`Control::worker_alert`]).
//!
//! Placement ([`Control::place`]) runs in every control process: it reads demand from the scope,
//! workers and leases from the store, and applies [`crate::placement::plan`] in one audited
//! transaction. A worker embedded in `mandat serve` leases its cameras through the same rows.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use mandat_law::permissions::Action;
use mandat_store::StoreError;
use mandat_store::alerts::NewAlert;
use mandat_store::workers::{LeaseChange, WorkerRecord, valid_worker_id};
use serde::{Deserialize, Serialize};

use crate::pki::Ca;
use crate::placement::{self, Change};
use crate::{Control, ControlError, Result, Session, require};

/// The version of the worker protocol; a control process accepts this one and the one before.
pub const PROTOCOL: u32 = 1;
/// A lease runs this long past its last renewal (database time). Workers renew every second.
pub const LEASE_MS: i64 = 6_000;
/// A worker silent this long past its lease is gone, and its cameras may move.
pub const LEASE_GRACE_MS: i64 = 2_000;
/// A grant is answered only from a scope snapshot confirmed this recently.
pub const GRANT_MAX_SNAPSHOT_AGE_MS: u64 = 500;

/// How far ahead a permit's start connects its cameras, so the first frame of the period is
/// analysed.
pub const PRE_WARM: std::time::Duration = std::time::Duration::from_secs(60);
/// How far an alert's capture time may lie outside its lease (clocks of worker and database).
const LEASE_TIME_TOLERANCE_MS: i64 = mandat_store::CLOCK_TOLERANCE_MS;

pub fn check_protocol(p: u32) -> Result<()> {
    if p == PROTOCOL || p.checked_add(1) == Some(PROTOCOL) {
        Ok(())
    } else {
        Err(ControlError::Store(StoreError::Invalid(format!(
            "worker protocol {p} is not spoken here (this control plane speaks {} and {}); upgrade the worker or the control plane",
            PROTOCOL.saturating_sub(1),
            PROTOCOL
        ))))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeaseRequest {
    pub protocol: u32,
}

/// A camera a worker leases, with its stream address (which may carry the camera's credentials:
/// sent over mTLS, held in memory).
#[derive(Clone, Serialize, Deserialize)]
pub struct LeasedCamera {
    pub camera: String,
    pub epoch: i64,
    pub url: String,
}

impl std::fmt::Debug for LeasedCamera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LeasedCamera({}#{})", self.camera, self.epoch)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseAnswer {
    /// The database's time when the leases were renewed (ms).
    pub db_now: i64,
    /// How long each lease runs from `db_now`.
    pub lease_ms: i64,
    pub cameras: Vec<LeasedCamera>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrantRequest {
    pub protocol: u32,
    /// The cameras the worker runs, each with the epoch of its lease.
    pub cameras: Vec<(String, i64)>,
    /// The embedder the worker runs; absent from workers that predate it, which run the pinned
    /// one. A worker on another model than the control plane's gets no templates.
    #[serde(default)]
    pub embedder: Option<mandat_law::risk::ModelRef>,
}

/// One template a worker may match on one camera, with its permit's threshold.
#[derive(Clone, Serialize, Deserialize)]
pub struct GrantEntry {
    pub permit: String,
    pub person: String,
    pub threshold: f32,
    pub template_id: String,
    pub values: Vec<f32>,
}

impl Drop for GrantEntry {
    fn drop(&mut self) {
        for v in self.values.iter_mut() {
            // SAFETY: valid exclusive reference; volatile so the wipe is not optimised away.
            unsafe { std::ptr::write_volatile(v, 0.0) };
        }
    }
}

impl std::fmt::Debug for GrantEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GrantEntry({}, redacted)", self.template_id)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CameraGrant {
    pub camera: String,
    pub epoch: i64,
    pub entries: Vec<GrantEntry>,
}

/// The scope grant: for each camera the worker leases, whom it may look for now. It holds only
/// those cameras; a camera asked for and not leased (under that epoch) is left out, so its
/// watchlist is empty.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrantAnswer {
    pub db_now: i64,
    /// How old the scope snapshot the grant was made from is: the worker shortens the grant's
    /// validity by it.
    pub snapshot_age_ms: u64,
    pub cameras: Vec<CameraGrant>,
}

/// A hit, as a worker sends it: the engine's alert with the lease's epoch, images in base64.
#[derive(Clone, Serialize, Deserialize)]
pub struct AlertUpload {
    pub protocol: u32,
    pub epoch: i64,
    pub id: String,
    pub permit: String,
    pub person: String,
    pub camera: String,
    pub captured_at: i64,
    pub frame_index: u64,
    pub score: f32,
    pub threshold: f32,
    pub watchlist_version: String,
    pub crop_jpeg: String,
    pub frame_jpeg: String,
}

impl std::fmt::Debug for AlertUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AlertUpload({}, camera {})", self.id, self.camera)
    }
}

impl AlertUpload {
    pub fn new(a: &NewAlert, epoch: i64) -> Self {
        let b64 = base64::engine::general_purpose::STANDARD;
        Self {
            protocol: PROTOCOL,
            epoch,
            id: a.id.clone(),
            permit: a.permit.clone(),
            person: a.person.clone(),
            camera: a.camera.clone(),
            captured_at: a.captured_at.0,
            frame_index: a.frame_index,
            score: a.score,
            threshold: a.threshold,
            watchlist_version: a.watchlist_version.clone(),
            crop_jpeg: b64.encode(&a.crop_jpeg),
            frame_jpeg: b64.encode(&a.frame_jpeg),
        }
    }

    fn into_alert(self) -> Result<NewAlert> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let image = |s: &str, what: &str| {
            b64.decode(s).map_err(|_| {
                ControlError::Store(StoreError::Invalid(format!(
                    "the alert's {what} is not base64"
                )))
            })
        };
        Ok(NewAlert {
            crop_jpeg: image(&self.crop_jpeg, "crop")?,
            frame_jpeg: image(&self.frame_jpeg, "frame")?,
            id: self.id,
            permit: self.permit,
            person: self.person,
            camera: self.camera,
            captured_at: mandat_law::Timestamp(self.captured_at),
            frame_index: self.frame_index,
            score: self.score,
            threshold: self.threshold,
            watchlist_version: self.watchlist_version,
        })
    }
}

/// How often engines sample their cameras' health into the days (`mandat_store::camera_days`).
pub const HEALTH_SAMPLE: std::time::Duration = std::time::Duration::from_secs(60);

/// A worker's camera health over its last sampling interval.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthUpload {
    pub protocol: u32,
    pub interval_ms: i64,
    pub samples: Vec<mandat_store::camera_days::HealthSample>,
}

/// What became of an uploaded alert.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertAck {
    pub alert: String,
    pub new: bool,
    pub folded: bool,
}

/// A worker's certificate, as `mandat worker enrol` hands it back.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Enrolled {
    pub worker: WorkerRecord,
    /// The worker's certificate (PEM), valid for [`crate::pki::WORKER_CERT_DAYS`] days.
    pub certificate: String,
    /// The internal CA's certificate (PEM): the worker trusts the control plane by it.
    pub ca: String,
}

impl Control {
    /// The internal CA, for enrolling workers.
    pub fn with_ca(mut self, ca: Arc<Ca>) -> Self {
        self.ca = Some(ca);
        self
    }

    /// Enrol a worker: sign its request with the internal CA and record its certificate's
    /// fingerprint. Admins only; in the log.
    pub async fn enrol_worker(
        &self,
        actor: &Session,
        id: &str,
        csr_pem: &str,
        capacity: u32,
        origin: &str,
    ) -> Result<Enrolled> {
        require(actor, Action::ManageWorkers)?;
        if !valid_worker_id(id) || id.starts_with("embedded@") {
            return Err(ControlError::Store(StoreError::Invalid(format!(
                "{id:?} is not a worker id: use 1 to 64 letters, digits, '-', '_', '.', '@', not starting with 'embedded@'"
            ))));
        }
        if capacity == 0 {
            return Err(ControlError::Store(StoreError::Invalid(
                "a worker's capacity is at least 1 camera".into(),
            )));
        }
        let ca = self.ca.as_ref().ok_or_else(|| {
            ControlError::Unavailable(
                "this server has no internal CA, so it cannot enrol workers; start it with `mandat control` or `mandat serve --internal-listen`".into(),
            )
        })?;
        let (certificate, fp) = ca
            .sign_worker(id, csr_pem)
            .map_err(|e| ControlError::Store(StoreError::Invalid(e.to_string())))?;
        let now = self.now()?;
        let worker = self
            .store
            .enrol_worker(actor, id, &fp, capacity, now, origin)
            .await?;
        Ok(Enrolled {
            worker,
            certificate,
            ca: ca.cert_pem().to_string(),
        })
    }

    /// Approve a worker another admin enrolled (two admins, as for roles); only then does it get
    /// cameras and answers.
    pub async fn approve_worker(&self, actor: &Session, id: &str, origin: &str) -> Result<()> {
        require(actor, Action::ManageWorkers)?;
        let now = self.now()?;
        self.store.approve_worker(actor, id, now, origin).await?;
        Ok(())
    }

    /// Disable a worker: its next request is refused and its cameras are released at once.
    pub async fn disable_worker(&self, actor: &Session, id: &str, origin: &str) -> Result<()> {
        require(actor, Action::ManageWorkers)?;
        let now = self.now()?;
        self.store.disable_worker(actor, id, now, origin).await?;
        Ok(())
    }

    pub async fn workers(&self, actor: &Session) -> Result<Vec<WorkerRecord>> {
        require(actor, Action::ManageWorkers)?;
        Ok(self.store.workers().await?)
    }

    /// The enabled, approved worker a client certificate (DER) belongs to; checked on every
    /// request, so a disabled worker is cut off at its next one.
    pub async fn worker_by_certificate(&self, der: &[u8]) -> Result<WorkerRecord> {
        let fp = crate::pki::fingerprint(der);
        self.store
            .worker_by_fingerprint(&fp)
            .await?
            .ok_or_else(|| {
                ControlError::Store(StoreError::Refused(
                    "this certificate belongs to no enabled, approved worker; enrol it with `mandat worker enrol` and have another admin run `mandat worker approve`".into(),
                ))
            })
    }

    /// Renew a worker's leases and tell it which cameras it runs, with their stream addresses.
    pub async fn lease(&self, worker: &WorkerRecord, req: &LeaseRequest) -> Result<LeaseAnswer> {
        check_protocol(req.protocol)?;
        // Only a process with a fresh scope renews: without one, the worker tries another
        // replica, and if none answers, its leases lapse and move (grants fail closed anyway).
        let demand = self
            .scope
            .as_ref()
            .and_then(|s| s.demand(PRE_WARM))
            .ok_or_else(|| {
                ControlError::Unavailable(
                    "this control process cannot read its scope now; ask another".into(),
                )
            })?;
        let (db_now, held) = self.store.renew_leases(&worker.id, LEASE_MS).await?;
        // Only cameras still in demand: while placement cannot write (and release them), a
        // camera no permit wants is not decoded anyway.
        let mut cameras = Vec::new();
        for l in held.into_iter().filter(|l| demand.contains(&l.camera)) {
            match self.store.camera_url(&l.camera).await {
                Ok(url) => cameras.push(LeasedCamera {
                    camera: l.camera,
                    epoch: l.epoch,
                    url,
                }),
                Err(e) => {
                    tracing::warn!(camera = %l.camera, "leased but its URL cannot be read: {e}")
                }
            }
        }
        Ok(LeaseAnswer {
            db_now,
            lease_ms: LEASE_MS,
            cameras,
        })
    }

    /// The scope grant for the cameras `worker` leases: the law is evaluated here, now, and the
    /// worker gets the templates of those cameras only.
    pub async fn grant(&self, worker: &WorkerRecord, req: &GrantRequest) -> Result<GrantAnswer> {
        check_protocol(req.protocol)?;
        // Templates and thresholds are the control plane's model's: a worker on another one
        // would compare embeddings of two models.
        let theirs = req
            .embedder
            .clone()
            .unwrap_or_else(crate::calibration::pinned_embedder);
        if theirs.sha256 != self.embedder().sha256 {
            return Err(ControlError::Law(mandat_law::rule::MODEL_GATES.refusal(format!(
                "worker {} runs embedder {} ({}), but this control plane runs {} ({}): start the worker with `--embedder {}`",
                worker.id,
                theirs.name,
                theirs.short(),
                self.embedder().name,
                self.embedder().short(),
                self.embedder().name
            ))));
        }
        let scope = self.scope.as_ref().ok_or_else(|| {
            ControlError::Unavailable("this control process has no scope service".into())
        })?;
        let age = scope
            .age()
            .filter(|a| a.as_millis() as u64 <= GRANT_MAX_SNAPSHOT_AGE_MS);
        let Some(age) = age else {
            return Err(ControlError::Unavailable(
                "the scope cannot be read from the database now; no camera may be analysed".into(),
            ));
        };
        let db_now = self.store.db_now().await?;
        let leased: std::collections::BTreeSet<(String, i64)> = self
            .store
            .leases_of(&worker.id)
            .await?
            .into_iter()
            .filter(|l| l.lease_until >= db_now)
            .map(|l| (l.camera, l.epoch))
            .collect();
        let mut cameras = Vec::new();
        for (camera, epoch) in &req.cameras {
            if !leased.contains(&(camera.clone(), *epoch)) {
                continue;
            }
            let view = crate::ScopeSource::watchlist(scope.as_ref(), camera);
            cameras.push(CameraGrant {
                camera: camera.clone(),
                epoch: *epoch,
                entries: view
                    .list
                    .entries
                    .iter()
                    .map(|e| GrantEntry {
                        permit: e.permit.as_str().to_string(),
                        person: e.person.as_str().to_string(),
                        threshold: e.threshold,
                        template_id: e.template.id.clone(),
                        values: e.template.values.clone(),
                    })
                    .collect(),
            });
        }
        Ok(GrantAnswer {
            db_now,
            snapshot_age_ms: age.as_millis() as u64,
            cameras,
        })
    }

    /// Take an alert from a worker: only for a camera it leased under that epoch at the alert's
    /// capture time, at or above the permit's threshold; then stored as any alert is (idempotent,
    /// re-checked against the permit at its capture time).
    pub async fn worker_alert(
        &self,
        worker: &WorkerRecord,
        upload: AlertUpload,
    ) -> Result<AlertAck> {
        check_protocol(upload.protocol)?;
        let id_ok = (1..=80).contains(&upload.id.len())
            && upload
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        // NaN or infinite scores are refused too.
        let reaches = upload.score.is_finite()
            && upload.threshold.is_finite()
            && upload.score >= upload.threshold;
        if !id_ok || !reaches {
            return Err(ControlError::Store(StoreError::Invalid(
                "not an alert: its id is not 1 to 80 letters, digits and '-', or its score is below its threshold".into(),
            )));
        }
        // The threshold is the permit's (with per-template thresholds, the lowest of the person's
        // templates in scope), not one the worker chose.
        let permit = self.store.permit(&upload.permit).await?;
        // A permit of another model is matched by no worker of this control plane.
        crate::calibration::check_drafted_model(&permit.application, self.embedder())?;
        let floor = if permit.application.per_template() {
            self.scope
                .as_ref()
                .and_then(|s| s.threshold_floor(&permit.id, &upload.person))
                .ok_or_else(|| {
                    ControlError::Store(StoreError::Refused(format!(
                        "no template of person {} under permit {} is in scope here, so the alert's threshold cannot be checked; it is not kept",
                        upload.person, permit.id
                    )))
                })?
        } else {
            permit.application.threshold
        };
        if upload.threshold + 1e-6 < floor {
            return Err(ControlError::Store(StoreError::Refused(format!(
                "the alert's threshold {} is below permit {}'s {floor}; the alert is not kept",
                upload.threshold, permit.id
            ))));
        }
        // Its lease then, not now: an alert delivered late (after a partition or a handover) is
        // still the worker's; one stamped outside the lease, or under another's, is not.
        if !self
            .store
            .leased_at(
                &worker.id,
                &upload.camera,
                upload.epoch,
                mandat_law::Timestamp(upload.captured_at),
                LEASE_TIME_TOLERANCE_MS,
            )
            .await?
        {
            return Err(ControlError::Store(StoreError::Refused(format!(
                "worker {} did not lease camera {} under epoch {} at the alert's capture time; the alert is not kept",
                worker.id, upload.camera, upload.epoch
            ))));
        }
        let alert = upload.into_alert()?;
        let now = self.now()?;
        let intake = self.store.insert_alert(&alert, now).await?;
        // A retry of a stored hit is acknowledged, and reviewers are not told of it twice.
        if intake.new {
            let rec = self.store.alert(&intake.alert).await?;
            let _ = self.events.send(crate::AlertEvent::from_record(&rec));
        }
        Ok(AlertAck {
            alert: intake.alert,
            new: intake.new,
            folded: intake.folded,
        })
    }

    /// Renew the leases of a worker inside this process (`serve`'s embedded one): the (camera,
    /// epoch) pairs it holds now.
    pub async fn renew_embedded(&self, worker: &str) -> Result<Vec<(String, i64)>> {
        let (_, held) = self.store.renew_leases(worker, LEASE_MS).await?;
        Ok(held.into_iter().map(|l| (l.camera, l.epoch)).collect())
    }

    /// One placement round: give the cameras in `demand` to live workers and take them from
    /// workers that left, were disabled or are gone, in one audited transaction. `in_recovery`
    /// holds expiry back while this process's database connection has not yet been up for a
    /// whole lease. Only a process with a fresh scope places: one that cannot read it must not
    /// release every other worker's cameras.
    pub async fn place(&self, demand: &[String], in_recovery: bool) -> Result<()> {
        let db_now = self.store.db_now().await?;
        let leases = self.store.leases().await?;
        // Workers that are silent and hold nothing do not count: a `serve` that once ran under
        // another host name must not hold the mass-failure brake on for ever.
        let workers: Vec<placement::Worker> = self
            .store
            .workers()
            .await?
            .into_iter()
            .filter(|w| w.enabled && w.approved_at.is_some())
            .filter(|w| {
                w.last_seen
                    .is_some_and(|s| s + LEASE_MS + LEASE_GRACE_MS >= db_now)
                    || leases.iter().any(|l| l.worker == w.id)
            })
            .map(|w| placement::Worker {
                live: w
                    .last_seen
                    .is_some_and(|s| s + LEASE_MS + LEASE_GRACE_MS >= db_now),
                id: w.id,
                labels: Default::default(),
                capacity: w.capacity,
                draining: false,
            })
            .collect();
        let current: BTreeMap<String, String> = leases
            .iter()
            .map(|l| (l.camera.clone(), l.worker.clone()))
            .collect();
        let epochs: BTreeMap<&str, i64> = leases
            .iter()
            .map(|l| (l.camera.as_str(), l.epoch))
            .collect();
        let wanted: Vec<placement::Demand> = demand
            .iter()
            .map(|c| placement::Demand {
                camera: c.clone(),
                needs: Default::default(),
                cost: 1,
            })
            .collect();
        let expire = placement::may_expire(&workers, in_recovery);
        let plan = placement::plan(&wanted, &workers, &current, expire);
        let changes: Vec<LeaseChange> = plan
            .changes
            .into_iter()
            .map(|c| match c {
                Change::Release {
                    camera,
                    worker,
                    reason,
                } => LeaseChange::Release {
                    epoch: epochs.get(camera.as_str()).copied().unwrap_or(-1),
                    camera,
                    worker,
                    reason: reason.as_str().to_string(),
                },
                Change::Assign { camera, worker } => LeaseChange::Assign { camera, worker },
            })
            .collect();
        let now = self.now()?;
        self.store
            .apply_leases(&changes, now, LEASE_MS, "placement")
            .await?;
        Ok(())
    }

    /// Release every camera `worker` leases (a graceful stop), each in the log with `reason`.
    pub async fn release_all(&self, worker: &str, reason: &str) -> Result<()> {
        let changes: Vec<LeaseChange> = self
            .store
            .leases_of(worker)
            .await?
            .into_iter()
            .map(|l| LeaseChange::Release {
                camera: l.camera,
                worker: l.worker,
                epoch: l.epoch,
                reason: reason.to_string(),
            })
            .collect();
        let now = self.now()?;
        self.store
            .apply_leases(&changes, now, LEASE_MS, "placement")
            .await?;
        Ok(())
    }
}
