//! The control plane: every permit operation, authenticated and audited, with the law of
//! `mandat-law` applied and `mandat-store` underneath; deadlines that act by themselves ([`Control::tick`]);
//! and the scope cache ([`scope::ScopeCache`]), the one door through which the engine learns whom it
//! may look for.
//!
//! The server's API and pages call this crate; nothing else changes the store. Every method that acts
//! for a user takes the [`Session`] this crate made when the user logged in, and checks roles, team
//! and separation of duties here, on the server side.

pub mod alerts;
pub mod calibration;
pub mod evidence;
mod imy;
pub mod pki;
pub mod placement;
mod reports;
pub mod scope;
mod session;
mod subjects;
pub mod tools;
pub mod workers;

pub use mandat_eval::calibrate::Calibration;
pub use session::{KeyHolder, Session};
pub use subjects::SubjectView;

use std::sync::Arc;

use mandat_law::imy::{ImyNotification, NotificationKind};
use mandat_law::lifecycle::Effect;
use mandat_law::permissions::Action;
use mandat_law::permit::{Agency, PersonId};
use mandat_law::{
    Actor, Application, Clock, Outcome, Permit, Profile, Refusal, Role, Timestamp, UseEvent, rule,
};
use mandat_store::{Camera, DeletionCertificate, Store, StoreError, UseRecord};
use serde_json::json;

pub use alerts::{AlertEvent, AlertSink, AlertStatistics, ChannelSink};
pub use scope::{ScopeCache, ScopeSource, WatchlistView};

/// A camera that went unfit is told to a permit's team at most once in this long.
pub const NOTICE_QUIET_MS: i64 = 3_600_000;

/// How many days back the passers-by a decider is shown are averaged over.
pub const PASSERS_BY_DAYS: i64 = 30;

/// What the measured days say of one camera (see [`Control::camera_evidence`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CameraEvidence {
    /// Its most recent day: the last fitness verdict.
    pub latest: Option<mandat_store::camera_days::CameraDay>,
    /// Face tracks started per day of running, over the last [`PASSERS_BY_DAYS`] days, scaled
    /// to 24 hours; none with less than an hour measured.
    pub passers_by_per_day: Option<f64>,
    pub observed_hours: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Law(Refusal),
    #[error(
        "the clock is unknown or before 2026; mandat refuses to act without a trustworthy time. Fix the system clock (NTP)"
    )]
    ClockUnknown,
    /// A service this request needs cannot answer now (the scope, the internal CA).
    #[error("{0}")]
    Unavailable(String),
}

impl From<Refusal> for ControlError {
    fn from(r: Refusal) -> Self {
        ControlError::Law(r)
    }
}

impl From<Vec<Refusal>> for ControlError {
    fn from(r: Vec<Refusal>) -> Self {
        ControlError::Store(r.into())
    }
}

impl ControlError {
    /// A stable code for APIs and scripts: the legal rule's code where there is one.
    pub fn code(&self) -> &str {
        match self {
            ControlError::Law(r) | ControlError::Store(StoreError::Law(r)) => &r.code,
            ControlError::Store(StoreError::Auth | StoreError::SessionInvalid) => "unauthenticated",
            ControlError::Store(StoreError::Throttled { .. }) => "throttled",
            ControlError::Store(StoreError::ClockBehind { .. }) => "clock_behind",
            ControlError::Store(StoreError::NotFound(_)) => "not_found",
            ControlError::Store(StoreError::Refused(_)) => "refused",
            ControlError::Store(StoreError::Conflict(_)) => "conflict",
            ControlError::Store(StoreError::Invalid(_)) => "invalid",
            ControlError::Store(StoreError::Tampered(_)) => "tampered",
            ControlError::Store(_) => "store",
            ControlError::ClockUnknown => "clock_unknown",
            ControlError::Unavailable(_) => "unavailable",
        }
    }
}

pub type Result<T, E = ControlError> = std::result::Result<T, E>;

/// How long a login session lasts.
pub const SESSION_TTL_MS: i64 = 8 * 3600 * 1000;

/// How long a candidate alert waits for its two reviewers before it expires, by default.
pub const DEFAULT_ALERT_TTL_MS: i64 = 15 * 60 * 1000;

pub struct Control {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    profile: &'static Profile,
    scope: Option<Arc<ScopeCache>>,
    /// The internal CA that enrols workers; only control processes that serve workers have it.
    ca: Option<Arc<pki::Ca>>,
    events: tokio::sync::broadcast::Sender<AlertEvent>,
    alert_ttl_ms: i64,
    /// The last list each user read, per kind (a digest of the ids it gave): a page or a watch
    /// that polls records a list only when what it shows changed, so the log records every id
    /// read without a signed entry per poll.
    last_lists: std::sync::Mutex<std::collections::HashMap<(String, String), [u8; 32]>>,
    instance: u64,
    /// The embedder this deployment runs: calibrations, evaluations and permits are its.
    embedder: mandat_law::risk::ModelRef,
}

/// The permissions table's word on `actor` taking `action`, checked before anything is looked up.
pub(crate) fn require(actor: &Actor, action: Action) -> Result<()> {
    mandat_law::permissions::require(actor, action).map_err(ControlError::Law)
}

impl Control {
    pub fn new(store: Arc<Store>, clock: Arc<dyn Clock>, profile: &'static Profile) -> Self {
        Self {
            store,
            clock,
            profile,
            scope: None,
            ca: None,
            events: tokio::sync::broadcast::channel(1024).0,
            alert_ttl_ms: DEFAULT_ALERT_TTL_MS,
            last_lists: Default::default(),
            instance: {
                static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            },
            embedder: calibration::pinned_embedder(),
        }
    }

    /// Run with another embedder than the pinned one (`--embedder`): from then on only its
    /// calibrations, evaluations and permits count.
    pub fn with_embedder(mut self, embedder: mandat_law::risk::ModelRef) -> Self {
        self.embedder = embedder;
        self
    }

    /// The embedder this control plane runs.
    pub fn embedder(&self) -> &mandat_law::risk::ModelRef {
        &self.embedder
    }

    /// This control plane's number within the process: for fixtures that keep things per
    /// control plane.
    pub fn instance(&self) -> u64 {
        self.instance
    }

    /// How long unreviewed alerts wait before they expire.
    pub fn with_alert_ttl(mut self, ms: i64) -> Self {
        self.alert_ttl_ms = ms;
        self
    }

    /// Attach the scope cache, so changes made here reach the engine at once.
    pub fn with_scope(mut self, scope: Arc<ScopeCache>) -> Self {
        self.scope = Some(scope);
        self
    }

    /// The public half of the audit signing key, which `mandat audit verify` pins.
    pub fn audit_public_key(&self) -> String {
        self.store.audit_public_key()
    }

    fn check_holder(&self, holder: &KeyHolder) -> Result<()> {
        if holder.holds_for(self.instance) {
            Ok(())
        } else {
            Err(ControlError::Store(StoreError::Refused(
                "the key holder's proof was made on another control plane: show the key here"
                    .into(),
            )))
        }
    }

    /// Proof of holding this database's master key (the key file's contents).
    pub fn key_holder(&self, master: &mandat_store::SecretKey) -> Result<KeyHolder> {
        if self.store.is_master(master) {
            Ok(KeyHolder::proven(self.instance))
        } else {
            Err(ControlError::Store(StoreError::Refused(
                "this is not the master key of this database: provisioning accounts needs the key file `mandat init` made".into(),
            )))
        }
    }

    pub fn profile(&self) -> &'static Profile {
        self.profile
    }

    /// Now, or a refusal to act: every deadline needs a trustworthy time, and a clock behind the
    /// newest audit entry has been set back.
    pub fn now(&self) -> Result<Timestamp> {
        let now = self.clock.now().ok_or(ControlError::ClockUnknown)?;
        self.store.check_clock(now)?;
        Ok(now)
    }

    async fn changed(&self) {
        if let Some(s) = &self.scope {
            s.reload(&self.store).await;
        }
    }

    /// Follow what other control replicas on the same PostgreSQL database do, until the task is
    /// dropped: a scope change reloads this replica's scope at once (a stop through another
    /// replica ends matching here in milliseconds, not at the next poll), and their new or changed
    /// alerts go to this replica's live clients. On SQLite there are no others and it returns at
    /// once. A lost connection is made again; the scope poll covers what was missed meanwhile.
    pub async fn follow_replicas(self: Arc<Self>) {
        loop {
            let mut listener = match self.store.listen().await {
                Ok(Some(l)) => l,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!("not listening to other replicas: {e}; trying again");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
            };
            loop {
                match listener.next().await {
                    // The generation is compared first: a notice anyone may send (any database
                    // role can NOTIFY) costs one small read unless the scope really moved.
                    Ok(mandat_store::Notice::Scope | mandat_store::Notice::Gap) => {
                        if let Some(s) = &self.scope {
                            s.refresh(&self.store).await;
                        }
                    }
                    Ok(mandat_store::Notice::Alert(id)) => {
                        // Gone meanwhile (purged): nothing to tell.
                        if let Ok(a) = self.store.alert(&id).await {
                            let _ = self.events.send(AlertEvent::from_record(&a));
                        }
                    }
                    Err(e) => {
                        tracing::warn!("listening to other replicas: {e}; listening again");
                        break;
                    }
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }

    // ---- accounts ----

    /// Log in with a password and the current code of the account's authenticator app.
    pub async fn login(
        &self,
        user: &str,
        password: &str,
        code: &str,
        origin: &str,
    ) -> Result<(Session, String)> {
        let now = self.now()?;
        let actor = self
            .store
            .authenticate(user, password, code, now, origin)
            .await?;
        let token = self
            .store
            .create_session(&actor, now, SESSION_TTL_MS)
            .await?;
        Ok((Session::vouch(actor), token))
    }

    /// The session a bearer token stands for, read afresh from the store: a logged-out, revoked
    /// or expired token, or a disabled account, is refused.
    pub async fn session(&self, token: &str) -> Result<Session> {
        Ok(Session::vouch(
            self.store.session_actor(token, self.now()?).await?,
        ))
    }

    pub async fn logout(&self, token: &str) -> Result<()> {
        Ok(self.store.end_session(token).await?)
    }

    /// Provision an account of Polismyndigheten with a password and its roles in force: the key
    /// holder's path ([`mandat_store::Store::provision_user`]), never reached through the API.
    /// Returns the TOTP secret.
    pub async fn provision_user(
        &self,
        holder: &KeyHolder,
        id: &str,
        password: &str,
        roles: &[Role],
        origin: &str,
    ) -> Result<String> {
        self.provision_user_in(
            holder,
            id,
            password,
            roles,
            Agency::Polismyndigheten,
            origin,
        )
        .await
    }

    /// [`Control::provision_user`] for an account of `agency`.
    pub async fn provision_user_in(
        &self,
        holder: &KeyHolder,
        id: &str,
        password: &str,
        roles: &[Role],
        agency: Agency,
        origin: &str,
    ) -> Result<String> {
        self.check_holder(holder)?;
        let now = self.now()?;
        Ok(self
            .store
            .provision_user(id, password, roles, agency, now, origin)
            .await?)
    }

    /// [`mandat_store::Store::provision_account`]: an account with its roles in force and an
    /// enrolment code, for the key holder at `mandat init`.
    pub async fn provision_account(
        &self,
        holder: &KeyHolder,
        id: &str,
        roles: &[Role],
        origin: &str,
    ) -> Result<mandat_store::Enrolment> {
        self.check_holder(holder)?;
        let now = self.now()?;
        Ok(self
            .store
            .provision_account(id, roles, Agency::Polismyndigheten, now, origin)
            .await?)
    }

    /// Make an account (admins): an enrolment code for the user, and the requested roles waiting
    /// for a second admin.
    pub async fn create_account(
        &self,
        actor: &Session,
        id: &str,
        roles: &[Role],
        agency: Agency,
        origin: &str,
    ) -> Result<mandat_store::Enrolment> {
        let now = self.now()?;
        Ok(self
            .store
            .create_account(actor, id, roles, agency, now, origin)
            .await?)
    }

    /// Set an account's roles (admins): removals at once, additions after a second admin.
    pub async fn request_roles(
        &self,
        actor: &Session,
        id: &str,
        roles: &[Role],
        origin: &str,
    ) -> Result<mandat_store::RoleChange> {
        let now = self.now()?;
        Ok(self
            .store
            .request_roles(actor, id, roles, now, origin)
            .await?)
    }

    /// Role grants waiting for a second admin (admins).
    pub async fn grants(&self, actor: &Session) -> Result<Vec<mandat_store::Grant>> {
        require(actor, Action::ManageAccounts)?;
        Ok(self.store.grants().await?)
    }

    /// Approve a grant: another admin than the one who asked.
    pub async fn approve_grant(
        &self,
        actor: &Session,
        grant: &str,
        origin: &str,
    ) -> Result<mandat_store::Grant> {
        let now = self.now()?;
        Ok(self.store.approve_grant(actor, grant, now, origin).await?)
    }

    /// A new enrolment code for an account (admins); its roles go back to a second admin.
    pub async fn reset_enrolment(
        &self,
        actor: &Session,
        id: &str,
        origin: &str,
    ) -> Result<mandat_store::Enrolment> {
        let now = self.now()?;
        Ok(self.store.reset_enrolment(actor, id, now, origin).await?)
    }

    /// Enrol with a one-time code (no session): set a password, receive the second factor.
    pub async fn enrol_account(
        &self,
        user: &str,
        code: &str,
        password: &str,
        origin: &str,
    ) -> Result<mandat_store::SecondFactor> {
        let now = self.now()?;
        Ok(self
            .store
            .enrol_account(user, code, password, now, origin)
            .await?)
    }

    /// Change one's own password; every session of the account ends.
    pub async fn change_password(
        &self,
        actor: &Session,
        current: &str,
        new: &str,
        origin: &str,
    ) -> Result<()> {
        let now = self.now()?;
        Ok(self
            .store
            .change_password(actor, current, new, now, origin)
            .await?)
    }

    /// Users, their roles and whether they are disabled: admins only.
    pub async fn users(&self, actor: &Session) -> Result<Vec<mandat_store::UserInfo>> {
        require(actor, Action::ManageAccounts)?;
        Ok(self.store.users().await?)
    }

    /// Disable an account and end its sessions (admins, never their own).
    pub async fn disable_user(&self, actor: &Session, id: &str, origin: &str) -> Result<()> {
        let now = self.now()?;
        Ok(self.store.disable_user(actor, id, now, origin).await?)
    }

    /// End every session of an account (admins): how many there were.
    pub async fn revoke_sessions(&self, actor: &Session, id: &str, origin: &str) -> Result<u64> {
        let now = self.now()?;
        Ok(self.store.revoke_sessions(actor, id, now, origin).await?)
    }

    /// The whole audit log for IMY, with the public key to check it against: auditors and admins.
    /// The export is recorded first, so it holds its own record.
    pub async fn audit_export(
        &self,
        actor: &Session,
        to: Option<&str>,
        origin: &str,
    ) -> Result<(
        Vec<mandat_audit::Entry>,
        Vec<mandat_audit::Checkpoint>,
        String,
    )> {
        require(actor, Action::ReadAuditLog)?;
        self.store
            .record(mandat_audit::Record {
                at: self.now()?.0,
                actor: actor.user.clone(),
                action: "audit.export".into(),
                permit: None,
                origin: origin.into(),
                details: json!({ "to": to }),
            })
            .await?;
        let (entries, cps) = self.store.audit_log().await?;
        Ok((entries, cps, self.store.audit_public_key()))
    }

    /// The audit log, read-only, for auditors and admins. Reading is not itself recorded: the log
    /// holds no personal data beyond user and permit ids, and every export and verification is.
    pub async fn audit_log(&self, actor: &Session) -> Result<Vec<mandat_audit::Entry>> {
        require(actor, Action::ReadAuditLog)?;
        Ok(self.store.audit_log().await?.0)
    }

    /// Check the whole chain against the store's public key, as `mandat audit verify` does offline.
    /// The check is recorded first, so the verdict covers its own record.
    pub async fn audit_verify(
        &self,
        actor: &Session,
        origin: &str,
    ) -> Result<mandat_audit::Verdict> {
        require(actor, Action::ReadAuditLog)?;
        self.store
            .record(mandat_audit::Record {
                at: self.now()?.0,
                actor: actor.user.clone(),
                action: "audit.verify".into(),
                permit: None,
                origin: origin.into(),
                details: json!({}),
            })
            .await?;
        let (entries, cps) = self.store.audit_log().await?;
        let key = mandat_audit::parse_public_key(&self.store.audit_public_key())
            .map_err(|e| ControlError::Store(StoreError::Crypto(e.to_string())))?;
        Ok(mandat_audit::verify(&entries, &cps, &key))
    }

    // ---- cameras ----

    pub async fn add_camera(
        &self,
        actor: &Session,
        cam: &Camera,
        stream_url: &str,
        origin: &str,
    ) -> Result<()> {
        require(actor, Action::ManageCameras)?;
        check_stream_url(stream_url)?;
        let now = self.now()?;
        self.store
            .add_camera(actor, cam, stream_url, now, origin)
            .await?;
        self.changed().await;
        Ok(())
    }

    /// Enable, disable, re-point or remove a camera (admins, audited); the engine's scope
    /// follows at once.
    pub async fn change_camera(
        &self,
        actor: &Session,
        id: &str,
        change: &mandat_store::CameraChange,
        origin: &str,
    ) -> Result<()> {
        require(actor, Action::ManageCameras)?;
        if let mandat_store::CameraChange::Url(url) = change {
            check_stream_url(url)?;
        }
        let now = self.now()?;
        self.store
            .change_camera(actor, id, change, now, origin)
            .await?;
        self.changed().await;
        Ok(())
    }

    /// The cameras of the permits `actor` may know of. Only these cameras' health is theirs to
    /// see: a camera is connected only while a permit covers it, so its health tells whether one
    /// does.
    pub async fn cameras_in_view(
        &self,
        actor: &Session,
    ) -> Result<std::collections::BTreeSet<String>> {
        require(actor, Action::ListCameras)?;
        Ok(self
            .known_permits(actor)
            .await?
            .into_iter()
            .flat_map(|p| p.application.area.cameras)
            .collect())
    }

    /// Cameras without their stream URLs (those may hold credentials). Every role may list them.
    pub async fn cameras(&self, actor: &Session) -> Result<Vec<Camera>> {
        require(actor, Action::ListCameras)?;
        Ok(self.store.cameras().await?)
    }

    // ---- camera health per day ----

    /// Add one sampling interval of the engines' camera health to each camera's day, and tell
    /// the team of every permit now covering a camera that became unfit, in one transaction
    /// (audited `camera.unfit` on the permit). The caller is this process's own sampler, or
    /// [`Control::worker_health`].
    pub async fn record_health(
        &self,
        samples: &[mandat_store::camera_days::HealthSample],
        interval_ms: i64,
        origin: &str,
    ) -> Result<Vec<mandat_store::camera_days::CameraNotice>> {
        let now = self.now()?;
        // The permits running now, read only when a sample is unfit (most minutes none is).
        let permits = if samples.iter().any(|s| s.fitness == "unfit") {
            self.store.permits().await?
        } else {
            Vec::new()
        };
        let covering = |camera: &str| {
            permits
                .iter()
                .filter(|p| !p.purged && p.is_active_at(now) && p.application.area.covers(camera))
                .map(|p| p.id.clone())
                .collect()
        };
        Ok(self
            .store
            .record_camera_health(samples, interval_ms, now, NOTICE_QUIET_MS, covering, origin)
            .await?)
    }

    /// A worker's health samples: only of cameras it leases now; others are left out and logged.
    pub async fn worker_health(
        &self,
        worker: &mandat_store::workers::WorkerRecord,
        samples: &[mandat_store::camera_days::HealthSample],
        interval_ms: i64,
    ) -> Result<usize> {
        // Leases live now, by the database's clock (which times them).
        let db_now = self.store.db_now().await?;
        let held: std::collections::BTreeSet<String> = self
            .store
            .leases_of(&worker.id)
            .await?
            .into_iter()
            .filter(|l| l.lease_until > db_now)
            .map(|l| l.camera)
            .collect();
        let (mine, other): (Vec<_>, Vec<_>) = samples
            .iter()
            .cloned()
            .partition(|s| held.contains(&s.camera));
        if !other.is_empty() {
            tracing::warn!(
                "worker {} sent health of {} camera(s) it does not lease; left out",
                worker.id,
                other.len()
            );
        }
        self.record_health(&mine, interval_ms, &format!("worker:{}", worker.id))
            .await?;
        Ok(mine.len())
    }

    /// The notices of cameras gone unfit under the permits `actor` may know of.
    pub async fn camera_notices(
        &self,
        actor: &Session,
    ) -> Result<Vec<mandat_store::camera_days::CameraNotice>> {
        require(actor, Action::ListCameras)?;
        // The team's (and the agency's auditors'), as its alerts are: not a counsel's or a
        // higher instance's, who read the record only.
        let ids: Vec<String> = self
            .known_permits(actor)
            .await?
            .into_iter()
            .filter(|p| knows_alerts(actor, p))
            .map(|p| p.id)
            .collect();
        Ok(self.store.camera_notices(&ids).await?)
    }

    /// What the measured days say of `cameras`, for a decider judging an application that names
    /// them: each camera's last verdict, and the passers-by to expect per day. Deciders only: a
    /// camera is measured only while a permit covers it, so its days tell of other permits.
    pub async fn camera_evidence(
        &self,
        actor: &Session,
        cameras: &[String],
    ) -> Result<std::collections::HashMap<String, CameraEvidence>> {
        require(actor, Action::DecidePermit)?;
        let now = self.now()?;
        let latest = self.store.latest_camera_days().await?;
        let since = now
            .plus_millis(-PASSERS_BY_DAYS * mandat_law::time::DAY)
            .stockholm_date();
        let days = self
            .store
            .camera_days(&since, &now.stockholm_date())
            .await?;
        Ok(cameras
            .iter()
            .map(|c| {
                let mine: Vec<_> = days.iter().filter(|d| &d.camera == c).collect();
                let observed: i64 = mine.iter().map(|d| d.observed_ms).sum();
                let passers: i64 = mine.iter().map(|d| d.passers_by).sum();
                let per_day = (observed >= mandat_law::time::HOUR)
                    .then(|| passers as f64 * mandat_law::time::DAY as f64 / observed as f64);
                (
                    c.clone(),
                    CameraEvidence {
                        latest: latest.get(c).cloned(),
                        passers_by_per_day: per_day,
                        observed_hours: observed as f64 / mandat_law::time::HOUR as f64,
                    },
                )
            })
            .collect())
    }

    /// The cameras' days from `from` to `until` (`YYYY-MM-DD`, inclusive), for the SLA report
    /// (auditors).
    pub async fn camera_days(
        &self,
        actor: &Session,
        from: &str,
        until: &str,
    ) -> Result<Vec<mandat_store::camera_days::CameraDay>> {
        require(actor, Action::ReadCameraDays)?;
        Ok(self.store.camera_days(from, until).await?)
    }

    // ---- permits ----

    /// One permit; the read is recorded.
    pub async fn permit(&self, actor: &Session, id: &str, origin: &str) -> Result<Permit> {
        require(actor, Action::ReadPermits)?;
        let p = self.visible_permit(actor, id).await?;
        self.record_read(actor, "read.permit", Some(id), json!({}), origin)
            .await?;
        Ok(p)
    }

    /// The permits the actor may know of; the read, with the ids it gave, is recorded.
    pub async fn permits(&self, actor: &Session, origin: &str) -> Result<Vec<Permit>> {
        require(actor, Action::ReadPermits)?;
        let ps = self.known_permits(actor).await?;
        let ids: Vec<&str> = ps.iter().map(|p| p.id.as_str()).collect();
        self.record_read(actor, "read.permits", None, json!({ "ids": ids }), origin)
            .await?;
        Ok(ps)
    }

    /// Record that `actor` read something that names people (need-to-know is accountable too).
    pub(crate) async fn record_read(
        &self,
        actor: &Session,
        action: &str,
        permit: Option<&str>,
        details: serde_json::Value,
        origin: &str,
    ) -> Result<()> {
        let list = details.get("ids").is_some().then(|| {
            use sha2::Digest;
            let digest: [u8; 32] = sha2::Sha256::digest(details.to_string().as_bytes()).into();
            ((actor.user.clone(), action.to_string()), digest)
        });
        if let Some((key, digest)) = &list {
            let last = self.last_lists.lock().unwrap_or_else(|e| e.into_inner());
            if last.get(key) == Some(digest) {
                return Ok(());
            }
        }
        self.store
            .record(mandat_audit::Record {
                at: self.now()?.0,
                actor: actor.user.clone(),
                action: action.into(),
                permit: permit.map(str::to_string),
                origin: origin.into(),
                details,
            })
            .await?;
        // Remembered only once recorded, so a failed write is tried again on the next poll.
        if let Some((key, digest)) = list {
            let mut last = self.last_lists.lock().unwrap_or_else(|e| e.into_inner());
            // Bounded: one entry per user and kind of list.
            if last.len() > 100_000 {
                last.clear();
            }
            last.insert(key, digest);
        }
        Ok(())
    }

    /// The permits need-to-know lets the actor know of: those of their agency whose team they are
    /// on, or all of their agency's for its auditors. The caller has checked the role.
    pub(crate) async fn known_permits(&self, actor: &Session) -> Result<Vec<Permit>> {
        Ok(self
            .store
            .permits()
            .await?
            .into_iter()
            .filter(|p| knows(actor, p))
            .collect())
    }

    /// A permit the actor may know of. Another agency's, or another team's, answers exactly as a
    /// permit that does not exist, so its ids do not leak (need-to-know).
    pub(crate) async fn visible_permit(&self, actor: &Session, id: &str) -> Result<Permit> {
        let p = self.store.permit(id).await?;
        if knows(actor, &p) {
            Ok(p)
        } else {
            Err(no_permit(id))
        }
    }

    /// Put `user` on the team of permit `id` as `role`, or take them off (`role` `None`). Only
    /// the applicant; the user must hold the role and work for the permit's agency. Audited with
    /// the team that results.
    pub async fn assign_team(
        &self,
        actor: &Session,
        id: &str,
        user: &str,
        role: Option<Role>,
        origin: &str,
    ) -> Result<Permit> {
        require(actor, Action::AssignTeam)?;
        let p = self.visible_permit(actor, id).await?;
        let account = self.store.users().await?.into_iter().find(|u| {
            u.user == user && u.disabled_at.is_none() && u.agency == p.application.agency
        });
        // An account of another agency, a disabled one and one that does not exist answer alike.
        let their_roles = match (&account, role) {
            (Some(a), _) => a.roles.clone(),
            (None, Some(_)) => {
                return Err(rule::TEAM
                    .refusal(format!(
                        "{user} is no active account of {}; only they can work on this permit",
                        p.application.agency.as_str()
                    ))
                    .into());
            }
            (None, None) => Vec::new(),
        };
        let (p, _) = self
            .transition(actor, id, "permit.team", origin, |p, now| {
                match role {
                    Some(r) => p.assign(actor, user, &their_roles, r, now)?,
                    None => p.unassign(actor, user)?,
                }
                Ok(Effect::Nothing)
            })
            .await?;
        Ok(p)
    }

    /// Store a new draft. The application is checked only when it is filed, so a draft can be
    /// completed step by step.
    pub async fn draft(
        &self,
        actor: &Session,
        application: Application,
        origin: &str,
    ) -> Result<Permit> {
        require(actor, Action::DraftPermit)?;
        if !actor.works_for(application.agency) {
            return Err(rule::AGENCY
                .refusal(format!(
                    "{} works for {} and cannot apply for {}",
                    actor.user,
                    actor.agency.as_str(),
                    application.agency.as_str()
                ))
                .into());
        }
        let mut application = application;
        // Person and photo ids are the server's, opaque and random: a client's own (a name, a
        // case label) would be copied into alerts, tasks and the audit log, which outlive a purge.
        for person in application.persons.iter_mut() {
            person.id = opaque_id("P")?;
            for photo in person.photos.iter_mut() {
                photo.id = opaque_id("ph")?;
            }
        }
        self.check_cameras(&application.area.cameras).await?;
        self.bind_polygon(&mut application).await?;
        let now = self.now()?;
        let id = new_permit_id(now)?;
        // The lifecycle checks the role first; then a stated target becomes the threshold.
        let mut permit = Permit::draft(id, self.profile, application, actor, now)?;
        // The model is the control plane's to state, not the client's.
        permit.application.embedder = Some(self.embedder.clone());
        // A plain cosine is on the pinned SFace's scale; under any other model the threshold
        // comes from that model's own stored calibration.
        if permit.application.target.is_none()
            && self.embedder.sha256 != calibration::pinned_embedder_sha256()
        {
            return Err(ControlError::Law(mandat_law::rule::MODEL_GATES.refusal(format!(
                "mandat runs the registered embedder {}: state a target false-alert rate (`\"target\": {{\"fpir\": 0.0001}}` in the application, or the form's false-alert rate), so the threshold comes from its calibration (a plain cosine is the pinned model's scale)",
                self.embedder.name
            ))));
        }
        self.calibrate_application(&mut permit.application).await?;
        self.store.create_permit(actor, &permit, origin).await?;
        Ok(permit)
    }

    /// A polygon chooses cameras once, now: the registered cameras inside it join the named ones,
    /// and from then on the application (and the decision) binds that list. A camera registered
    /// later inside the polygon is not covered.
    async fn bind_polygon(&self, application: &mut Application) -> Result<()> {
        if application.area.polygon.is_none() {
            return Ok(());
        }
        let mut inside: Vec<String> = self
            .store
            .cameras()
            .await?
            .into_iter()
            .filter(|c| application.area.polygon_holds(c.location))
            .map(|c| c.id)
            .filter(|id| !application.area.cameras.contains(id))
            .collect();
        inside.sort();
        application.area.cameras.extend(inside);
        Ok(())
    }

    /// Refuse an application (or amendment) that names a camera nobody registered: the decision
    /// binds the cameras named, so each must be one that exists.
    async fn check_cameras(&self, cameras: &[String]) -> Result<()> {
        let known: std::collections::HashSet<String> = self
            .store
            .cameras()
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect();
        let unknown: Vec<&str> = cameras
            .iter()
            .filter(|c| !known.contains(c.as_str()))
            .map(String::as_str)
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(rule::UNKNOWN_CAMERA
                .refusal(format!(
                    "no camera is registered as {}; name registered cameras (`mandat camera list`)",
                    unknown.join(", ")
                ))
                .into())
        }
    }

    /// Refuse to file or start a use whose reference photos are not all enrolled. Only drafts are
    /// checked; for any other state the lifecycle gives the refusal.
    async fn check_enrolled(&self, permit_id: &str) -> Result<()> {
        let permit = self.store.permit(permit_id).await?;
        if permit.status != mandat_law::Status::Draft {
            return Ok(());
        }
        let enrolled = self.store.enrolled_photos(permit_id).await?;
        let missing: Vec<String> = permit
            .application
            .persons
            .iter()
            .flat_map(|p| p.photos.iter().map(move |ph| (p, ph)))
            .filter(|(_, ph)| !enrolled.contains(&ph.id))
            .map(|(p, ph)| format!("{} of {}", ph.id, p.id))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(rule::PHOTO_REQUIRED
                .refusal(format!(
                    "reference photos not enrolled yet: {}; upload them on the permit's photos page (or run `mandat person enrol`) first",
                    missing.join(", ")
                ))
                .into())
        }
    }

    async fn transition<F>(
        &self,
        actor: &Session,
        id: &str,
        action: &str,
        origin: &str,
        change: F,
    ) -> Result<(Permit, Option<DeletionCertificate>)>
    where
        F: FnOnce(&mut Permit, Timestamp) -> Result<Effect, StoreError>,
    {
        let now = self.now()?;
        let out = self
            .store
            .transition(&actor.user, id, action, now, origin, |p| {
                if !knows(actor, p) {
                    return Err(no_permit(id).into_store());
                }
                change(p, now)
            })
            .await?;
        let (permit, mut cert) = out;
        self.changed().await;
        if let Some(c) = cert.as_mut() {
            self.retire_keys(std::slice::from_mut(c), now, origin).await;
        }
        // A stop or refusal ends use now: record it at once, not at the next tick.
        self.tick(origin).await?;
        Ok((permit, cert))
    }

    /// Carry out the retention schedule for these permits now, then move the key epoch on once,
    /// so no copy of the database made before can open what was erased. One permit that cannot
    /// be handled is logged (the next tick retries) and holds back no other.
    pub(crate) async fn retain(
        &self,
        permits: &[String],
        now: Timestamp,
        origin: &str,
    ) -> Vec<DeletionCertificate> {
        let mut certs = Vec::new();
        for id in permits {
            match self.store.apply_retention(id, now, origin).await {
                Ok(c) => certs.extend(c),
                Err(e) => tracing::error!(
                    "the retention schedule could not be applied to permit {id}: {e}"
                ),
            }
        }
        if !certs.is_empty() {
            self.changed().await;
            self.retire_keys(&mut certs, now, origin).await;
        }
        certs
    }

    /// After an erasure: rotate the key epoch, so the wrapped data key a backup holds is under a
    /// key that no longer exists, and say so on the certificates. A failed rotation is logged and
    /// the certificates say nothing of one; the daily rotation tries again.
    async fn retire_keys(&self, certs: &mut [DeletionCertificate], now: Timestamp, origin: &str) {
        if !certs
            .iter()
            .any(|c| c.wrapped_key_deleted || c.data_key_replaced)
        {
            return;
        }
        match self.store.rotate_keys("system", now, origin).await {
            Ok(r) => {
                for c in certs.iter_mut() {
                    c.key_rotated_to = Some(r.to_epoch);
                }
            }
            Err(e) => tracing::error!(
                "the key rotation after an erasure failed ({e}): copies of the database made before it can still unwrap the erased data until the next rotation"
            ),
        }
    }

    /// Start a new key epoch now (`mandat keys rotate`): admins only, recorded.
    pub async fn rotate_keys(
        &self,
        actor: &Session,
        origin: &str,
    ) -> Result<mandat_store::KeyRotation> {
        require(actor, Action::RotateKeys)?;
        let now = self.now()?;
        Ok(self.store.rotate_keys(&actor.user, now, origin).await?)
    }

    /// Put a legal hold on a permit's data (its prosecutor or judge, with reasons): the holdable
    /// rules of the retention schedule do not erase it until the hold is lifted.
    pub async fn hold(
        &self,
        actor: &Session,
        id: &str,
        reason: &str,
        origin: &str,
    ) -> Result<Permit> {
        require(actor, Action::HoldData)?;
        self.visible_permit(actor, id).await?;
        let (p, _) = self
            .transition(actor, id, "permit.hold", origin, |p, now| {
                p.hold(actor, reason, now)?;
                Ok(Effect::Nothing)
            })
            .await?;
        Ok(p)
    }

    /// Record what a use led to (its applicant, once the use has ended), for the annual report's
    /// outcomes per purpose. A later record corrects an earlier one; the audit log keeps both.
    pub async fn record_outcome(
        &self,
        actor: &Session,
        id: &str,
        results: &[mandat_law::UseResult],
        origin: &str,
    ) -> Result<Permit> {
        require(actor, Action::RecordOutcome)?;
        self.visible_permit(actor, id).await?;
        let (p, _) = self
            .transition(actor, id, "permit.outcome", origin, |p, now| {
                Ok(p.record_outcome(actor, results, now)?)
            })
            .await?;
        Ok(p)
    }

    /// Confirm an offence described by hand rather than chosen from the profile's catalogue (a
    /// prosecutor who applies or decides on the permit), so the application can be filed.
    pub async fn confirm_offence(&self, actor: &Session, id: &str, origin: &str) -> Result<Permit> {
        require(actor, Action::ConfirmOffence)?;
        self.visible_permit(actor, id).await?;
        let (p, _) = self
            .transition(actor, id, "permit.offence_confirmed", origin, |p, _| {
                let profile = profile_of(p)?;
                p.confirm_offence(actor, profile)?;
                Ok(Effect::Nothing)
            })
            .await?;
        Ok(p)
    }

    /// Hand a permit the police drafted (perhaps started urgently) to the prosecutor `to`, who
    /// applies for its purpose: an active account of the permit's agency holding that role.
    pub async fn hand_over(
        &self,
        actor: &Session,
        id: &str,
        to: &str,
        origin: &str,
    ) -> Result<Permit> {
        require(actor, Action::ApplyForPermit)?;
        let p = self.visible_permit(actor, id).await?;
        let to = to.trim();
        let their_roles = self.active_roles(to, p.application.agency).await?;
        let (p, _) = self
            .transition(actor, id, "permit.handed_over", origin, |p, now| {
                let profile = profile_of(p)?;
                p.hand_over(actor, profile, to, &their_roles, now)?;
                Ok(Effect::Nothing)
            })
            .await?;
        Ok(p)
    }

    /// The deciding court or prosecutor registers the application under its own case number.
    pub async fn register_case(
        &self,
        actor: &Session,
        id: &str,
        number: &str,
        origin: &str,
    ) -> Result<Permit> {
        require(actor, Action::DecidePermit)?;
        self.visible_permit(actor, id).await?;
        let (p, _) = self
            .transition(actor, id, "permit.case_registered", origin, |p, now| {
                let profile = profile_of(p)?;
                p.register_case(actor, profile, number, now)?;
                Ok(Effect::Nothing)
            })
            .await?;
        Ok(p)
    }

    /// The roles of `user`, an active account of `agency`; none for another agency's account, a
    /// disabled one or one that does not exist, which then answer alike.
    async fn active_roles(&self, user: &str, agency: Agency) -> Result<Vec<Role>> {
        Ok(self
            .store
            .users()
            .await?
            .into_iter()
            .find(|u| u.user == user && u.disabled_at.is_none() && u.agency == agency)
            .map(|u| u.roles)
            .unwrap_or_default())
    }

    /// The court appoints a public counsel to the application (an active account of the
    /// permit's agency holding the counsel role alone).
    pub async fn appoint_counsel(
        &self,
        actor: &Session,
        id: &str,
        user: &str,
        origin: &str,
    ) -> Result<Permit> {
        require(actor, Action::AppointCounsel)?;
        let p = self.visible_permit(actor, id).await?;
        let user = user.trim();
        let roles = self.active_roles(user, p.application.agency).await?;
        let (p, _) = self
            .transition(actor, id, "permit.counsel_appointed", origin, |p, now| {
                let profile = profile_of(p)?;
                p.appoint_counsel(actor, profile, user, &roles, now)?;
                Ok(Effect::Nothing)
            })
            .await?;
        Ok(p)
    }

    /// The public counsel files their opinion (sealed with the permit's other text).
    pub async fn file_opinion(
        &self,
        actor: &Session,
        id: &str,
        position: mandat_law::appeal::Position,
        text: &str,
        origin: &str,
    ) -> Result<Permit> {
        require(actor, Action::FileOpinion)?;
        self.visible_permit(actor, id).await?;
        let (p, _) = self
            .transition(actor, id, "permit.opinion_filed", origin, |p, now| {
                p.file_opinion(actor, position, text, now)?;
                Ok(Effect::Nothing)
            })
            .await?;
        Ok(p)
    }

    /// The court records the hearing it held (who was present and the outcome are sealed), at
    /// `held_at` or now.
    pub async fn record_hearing(
        &self,
        actor: &Session,
        id: &str,
        held_at: Option<Timestamp>,
        present: &str,
        outcome: &str,
        origin: &str,
    ) -> Result<Permit> {
        require(actor, Action::RecordHearing)?;
        self.visible_permit(actor, id).await?;
        let (p, _) = self
            .transition(actor, id, "permit.hearing_recorded", origin, |p, now| {
                let profile = profile_of(p)?;
                let held_at = held_at.unwrap_or(now);
                p.record_hearing(actor, profile, held_at, present, outcome, now)?;
                Ok(Effect::Nothing)
            })
            .await?;
        Ok(p)
    }

    /// The party a decision went against appeals it to the higher instance `to`.
    pub async fn appeal(
        &self,
        actor: &Session,
        id: &str,
        to: &str,
        grounds: &str,
        origin: &str,
    ) -> Result<Permit> {
        require(actor, Action::Appeal)?;
        let p = self.visible_permit(actor, id).await?;
        let to = to.trim();
        let roles = self.active_roles(to, p.application.agency).await?;
        let (p, _) = self
            .transition(actor, id, "permit.appeal", origin, |p, now| {
                let profile = profile_of(p)?;
                p.appeal(actor, profile, to, &roles, grounds, now)?;
                Ok(Effect::Nothing)
            })
            .await?;
        Ok(p)
    }

    /// The higher instance decides an appeal. A grant overturned stops the use and purges what it
    /// produced, with a deletion certificate, as a refusal does.
    pub async fn decide_appeal(
        &self,
        actor: &Session,
        id: &str,
        outcome: mandat_law::appeal::AppealOutcome,
        reasons: &str,
        origin: &str,
    ) -> Result<(Permit, Option<DeletionCertificate>)> {
        require(actor, Action::DecideAppeal)?;
        self.visible_permit(actor, id).await?;
        self.transition(actor, id, "permit.appeal_decided", origin, |p, now| {
            Ok(p.decide_appeal(actor, outcome, reasons, now)?)
        })
        .await
    }

    /// Lift a legal hold; what is due is erased at once.
    pub async fn release_hold(&self, actor: &Session, id: &str, origin: &str) -> Result<Permit> {
        require(actor, Action::HoldData)?;
        self.visible_permit(actor, id).await?;
        let (p, _) = self
            .transition(actor, id, "permit.hold_released", origin, |p, _| {
                p.release_hold(actor)?;
                Ok(Effect::Nothing)
            })
            .await?;
        Ok(p)
    }

    pub async fn apply(&self, actor: &Session, id: &str, origin: &str) -> Result<Permit> {
        require(actor, Action::ApplyForPermit)?;
        self.visible_permit(actor, id).await?;
        self.check_enrolled(id).await?;
        let (p, _) = self
            .transition(actor, id, "permit.apply", origin, |p, now| {
                let profile = profile_of(p)?;
                Ok(p.apply(actor, profile, now)?)
            })
            .await?;
        Ok(p)
    }

    /// Start use before a decision, stating why it cannot wait (`ground`, sealed with the permit's
    /// other text); the application must follow within the profile's deadline.
    pub async fn urgent_start(
        &self,
        actor: &Session,
        id: &str,
        ground: &str,
        origin: &str,
    ) -> Result<Permit> {
        require(actor, Action::ApplyForPermit)?;
        let p = self.visible_permit(actor, id).await?;
        self.check_enrolled(id).await?;
        // Urgent use is use: the model must have passed its gates as for a grant.
        let now = self.now()?;
        self.check_risk_analysis(&p, profile_of(&p)?, now).await?;
        let (p, _) = self
            .transition(actor, id, "permit.urgent_start", origin, |p, now| {
                let profile = profile_of(p)?;
                Ok(p.urgent_start(actor, profile, ground, now)?)
            })
            .await?;
        Ok(p)
    }

    pub async fn decide(
        &self,
        actor: &Session,
        id: &str,
        outcome: Outcome,
        reasons: &str,
        origin: &str,
    ) -> Result<(Permit, Option<DeletionCertificate>)> {
        require(actor, Action::DecidePermit)?;
        if outcome == Outcome::Grant {
            // The law's own refusals (who decides, in which state) come first, on a copy.
            let (p, now) = (self.visible_permit(actor, id).await?, self.now()?);
            let profile = profile_of(&p)?;
            p.clone().decide(actor, profile, outcome, reasons, now)?;
            self.check_risk_analysis(&p, profile, now).await?;
        }
        let action = match outcome {
            Outcome::Grant => "permit.grant",
            Outcome::Refuse => "permit.refuse",
        };
        self.transition(actor, id, action, origin, |p, now| {
            let profile = profile_of(p)?;
            Ok(p.decide(actor, profile, outcome, reasons, now)?)
        })
        .await
    }

    /// Ask to add registered cameras to a granted permit (its applicant). Nothing is analysed on
    /// them until the permit's decider grants the amendment.
    pub async fn file_amendment(
        &self,
        actor: &Session,
        id: &str,
        cameras: &[String],
        reasons: &str,
        origin: &str,
    ) -> Result<Permit> {
        require(actor, Action::ApplyForPermit)?;
        self.visible_permit(actor, id).await?.may_amend(actor)?;
        self.check_cameras(cameras).await?;
        let (p, _) = self
            .transition(actor, id, "permit.amend", origin, |p, now| {
                p.file_amendment(actor, cameras, reasons, now)?;
                Ok(Effect::Nothing)
            })
            .await?;
        Ok(p)
    }

    /// Decide amendment `number` of a permit (its court or prosecutor). A grant covers the
    /// cameras from now on; each must still be registered.
    pub async fn decide_amendment(
        &self,
        actor: &Session,
        id: &str,
        number: u32,
        outcome: Outcome,
        reasons: &str,
        origin: &str,
    ) -> Result<Permit> {
        require(actor, Action::DecidePermit)?;
        if outcome == Outcome::Grant {
            let p = self.visible_permit(actor, id).await?;
            p.may_decide_amendment(actor, profile_of(&p)?)?;
            self.check_risk_analysis(&p, profile_of(&p)?, self.now()?)
                .await?;
            if let Some(a) = p.amendments.iter().find(|a| a.number == number) {
                self.check_cameras(&a.cameras).await?;
            }
        }
        let action = match outcome {
            Outcome::Grant => "permit.amend_grant",
            Outcome::Refuse => "permit.amend_refuse",
        };
        let (p, _) = self
            .transition(actor, id, action, origin, |p, now| {
                let profile = profile_of(p)?;
                p.decide_amendment(actor, profile, number, outcome, reasons, now)?;
                Ok(Effect::Nothing)
            })
            .await?;
        Ok(p)
    }

    /// Grant less than was applied for (fewer cameras or persons, an earlier end); the reference
    /// data of persons not granted is erased at once.
    pub async fn grant_in_part(
        &self,
        actor: &Session,
        id: &str,
        reasons: &str,
        narrowing: &mandat_law::Narrowing,
        origin: &str,
    ) -> Result<Permit> {
        require(actor, Action::DecidePermit)?;
        {
            let (p, now) = (self.visible_permit(actor, id).await?, self.now()?);
            let profile = profile_of(&p)?;
            p.clone()
                .grant_in_part(actor, profile, reasons, narrowing, now)?;
            self.check_risk_analysis(&p, profile, now).await?;
        }
        let (p, _) = self
            .transition(actor, id, "permit.grant", origin, |p, now| {
                let profile = profile_of(p)?;
                Ok(p.grant_in_part(actor, profile, reasons, narrowing, now)?)
            })
            .await?;
        Ok(p)
    }

    pub async fn stop(
        &self,
        actor: &Session,
        id: &str,
        reason: &str,
        origin: &str,
    ) -> Result<Permit> {
        require(actor, Action::StopPermit)?;
        if reason.trim().is_empty() {
            return Err(rule::DECISION_REASONS
                .refusal("a stop states its reason".into())
                .into());
        }
        let (p, _) = self
            .transition(actor, id, "permit.stop", origin, |p, now| {
                Ok(p.stop(actor, reason, now)?)
            })
            .await?;
        Ok(p)
    }

    /// Whether `actor` may enrol `photo_id` of `person` into `permit`: every check the store makes
    /// when it keeps the photo, made before the server runs the face pipeline on an upload, so a
    /// refused caller costs no inference.
    pub async fn may_enrol(
        &self,
        actor: &Session,
        permit: &str,
        person: &str,
        photo_id: &str,
    ) -> Result<()> {
        require(actor, Action::EnrolPhoto)?;
        let p = self.visible_permit(actor, permit).await?;
        mandat_store::enrol_check(&p, actor, person, photo_id)?;
        Ok(())
    }

    /// Whose photo `photo_id` of a draft is, if `actor` may enrol it: [`Control::may_enrol`] for a
    /// caller that names the photo only (the photos page).
    pub async fn may_enrol_photo(
        &self,
        actor: &Session,
        permit: &str,
        photo_id: &str,
    ) -> Result<PersonId> {
        require(actor, Action::EnrolPhoto)?;
        let p = self.visible_permit(actor, permit).await?;
        let person = p
            .application
            .persons
            .iter()
            .find(|x| x.photos.iter().any(|ph| ph.id == photo_id))
            .map(|x| x.id.clone())
            .ok_or_else(|| {
                StoreError::NotFound(format!(
                    "permit {permit} lists no reference photo {photo_id}"
                ))
            })?;
        mandat_store::enrol_check(&p, actor, &person, photo_id)?;
        Ok(person)
    }

    /// Enrol a reference photo and its template. The caller has run the face pipeline and the
    /// enrolment quality gate on `photo`; `template` is its embedding and `quality` what the gate
    /// measured.
    #[allow(clippy::too_many_arguments)]
    pub async fn enrol(
        &self,
        actor: &Session,
        permit: &str,
        person: &PersonId,
        photo_id: &str,
        photo: &[u8],
        template: &[f32],
        quality: &mandat_law::permit::PhotoQuality,
        origin: &str,
    ) -> Result<()> {
        require(actor, Action::EnrolPhoto)?;
        let p = self.visible_permit(actor, permit).await?;
        // The template is the running embedder's: it must be the permit's model.
        calibration::check_drafted_model(&p.application, &self.embedder)?;
        let now = self.now()?;
        self.store
            .enrol(
                actor, permit, person, photo_id, photo, template, quality, now, origin,
            )
            .await?;
        Ok(())
    }

    /// The permit, if `actor` may see its reference photos (rule `reference_photos`).
    async fn photos_permit(&self, actor: &Session, permit: &str) -> Result<Permit> {
        require(actor, Action::SeeBiometrics)?;
        let p = self.visible_permit(actor, permit).await?;
        p.may_see_photos(actor, profile_of(&p)?)?;
        Ok(p)
    }

    /// Each listed reference photo of a permit: whose, its source, whether it is enrolled, and
    /// what the quality gate measured. For whoever applied and the decider; no image, so not
    /// logged (each image is, see [`Control::reference_photo`]).
    pub async fn reference_photos(
        &self,
        actor: &Session,
        permit: &str,
    ) -> Result<Vec<ReferencePhoto>> {
        let p = self.photos_permit(actor, permit).await?;
        let enrolled = self.store.enrolled_photo_qualities(permit).await?;
        let mut out = Vec::new();
        for person in &p.application.persons {
            for ph in &person.photos {
                let e = enrolled
                    .iter()
                    .find(|e| e.id == ph.id && e.person == person.id);
                out.push(ReferencePhoto {
                    person: person.id.clone(),
                    label: person.label.clone(),
                    photo: ph.id.clone(),
                    source: ph.source.clone(),
                    enrolled: e.is_some(),
                    quality: e.and_then(|e| e.quality),
                });
            }
        }
        Ok(out)
    }

    /// One enrolled reference photo, for whoever applied and the decider; every viewing is in
    /// the audit log.
    pub async fn reference_photo(
        &self,
        actor: &Session,
        permit: &str,
        photo: &str,
        origin: &str,
    ) -> Result<Vec<u8>> {
        let p = self.photos_permit(actor, permit).await?;
        // Only a photo the application lists: an id from elsewhere answers as missing.
        let Some(person) = p
            .application
            .persons
            .iter()
            .find(|x| x.photos.iter().any(|ph| ph.id == photo))
        else {
            return Err(StoreError::NotFound(format!(
                "no reference photo {photo} in permit {permit}"
            ))
            .into());
        };
        let bytes = self.store.enrolled_photo(permit, photo).await?;
        self.store
            .record(mandat_audit::Record {
                at: self.now()?.0,
                actor: actor.user.clone(),
                action: "person.view_photo".into(),
                permit: Some(permit.into()),
                origin: origin.into(),
                details: json!({"person": person.id, "photo": photo}),
            })
            .await?;
        Ok(bytes)
    }

    /// The retention schedule over every permit that holds something it may have to erase.
    async fn retention(
        &self,
        permits: &[Permit],
        now: Timestamp,
        origin: &str,
    ) -> Vec<DeletionCertificate> {
        let held = match self.store.holdings().await {
            Ok(h) => h,
            Err(e) => {
                tracing::error!("the retention schedule could not read what is held: {e}");
                return Vec::new();
            }
        };
        let mut due_now = Vec::new();
        for p in permits.iter().filter(|p| !p.purged) {
            let schedule = mandat_law::retention::schedule_of(p);
            let has = |person: Option<&str>| {
                held.reference
                    .iter()
                    .any(|(permit, who)| *permit == p.id && person.is_none_or(|x| x == who))
            };
            let outside = match schedule.not_granted_due(p) {
                Some((_, n)) => {
                    n.persons_not_granted.iter().any(|x| has(Some(x)))
                        || self
                            .store
                            .has_alerts_outside(&p.id, n)
                            .await
                            .unwrap_or(true)
                }
                None => false,
            };
            let due = (has(None) && schedule.reference_data_due(p, now).is_some())
                || outside
                || held.alert_media.iter().any(|(permit, _, state, exported)| {
                    *permit == p.id
                        && schedule
                            .alert_media_due(p, *state, *exported, now)
                            .is_some()
                });
            if due {
                due_now.push(p.id.clone());
            }
        }
        self.retain(&due_now, now, origin).await
    }

    /// Rotate the key epoch once a day even when nothing was erased, so a stolen backup ages out.
    async fn daily_rotation(&self, now: Timestamp, origin: &str) {
        const DAY_MS: i64 = 24 * 3600 * 1000;
        match self.store.key_epoch().await {
            // A new epoch counts from its first tick.
            Ok((_, Timestamp(0))) => {
                if let Err(e) = self.store.start_epoch_clock(now).await {
                    tracing::error!("key epoch: {e}");
                }
            }
            // A time ahead of now (a clock once wrong, or an edited row) rotates too.
            Ok((_, last)) if now.0.saturating_sub(last.0) >= DAY_MS || last.0 > now.0 => {
                if let Err(e) = self.store.rotate_keys("system", now, origin).await {
                    tracing::error!("the daily key rotation failed: {e}");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!("key epoch: {e}"),
        }
    }

    /// Let deadlines act: an urgent use without an application by its deadline is stopped and purged;
    /// the start and end of every use is recorded; then the retention schedule erases what is due
    /// and the key epoch moves on after erasures and daily. Runs every second in the server and before every
    /// CLI command, so no deadline waits for a person.
    pub async fn tick(&self, origin: &str) -> Result<Vec<DeletionCertificate>> {
        let now = self.now()?;
        let mut certs = Vec::new();
        let mut changed = false;
        let mut permits = self.store.permits().await?;
        for p in permits.iter_mut() {
            let mut probe = p.clone();
            if probe.tick(now) != Effect::Nothing {
                // One permit the store cannot change (its record or key broken outside mandat)
                // must not hold back the deadlines of every other.
                match self
                    .store
                    .transition("system", &p.id, "permit.deadline", now, origin, |p| {
                        Ok(p.tick(now))
                    })
                    .await
                {
                    Ok((updated, cert)) => {
                        *p = updated;
                        certs.extend(cert);
                        changed = true;
                    }
                    Err(e) => tracing::error!("the deadline of permit {} not acted on: {e}", p.id),
                }
            }
        }
        if changed {
            self.changed().await;
            self.retire_keys(&mut certs, now, origin).await;
        }
        for id in self.store.expire_alerts(now, self.alert_ttl_ms).await? {
            if let Ok(a) = self.store.alert(&id).await {
                let _ = self.events.send(AlertEvent::from_record(&a));
            }
        }
        for p in &permits {
            let mut probe = p.clone();
            if probe.use_events(now).is_empty() {
                continue;
            }
            // The reference database of this use (AI Act art. 12(3)(b)): the version over the
            // permit's templates, from ids alone.
            let ids = match self.store.template_ids(&p.id).await {
                Ok(ids) => ids,
                Err(e) => {
                    tracing::error!("use events of permit {} not recorded: {e}", p.id);
                    continue;
                }
            };
            let version = scope::version_of_parts(ids.iter().map(|(person, t)| {
                (
                    p.id.as_str(),
                    person.as_str(),
                    t.as_str(),
                    p.application.threshold,
                )
            }));
            // IMY is told how many cameras the area covers, and which of them are partners'.
            let (cameras, partners) = match self.store.cameras().await {
                Ok(list) => {
                    let covered: Vec<_> = list
                        .iter()
                        .filter(|c| p.application.area.covers(&c.id))
                        .collect();
                    let partners: Vec<_> = covered
                        .iter()
                        .filter(|c| c.owner != "police")
                        .map(|c| mandat_law::imy::PartnerCamera {
                            camera: c.id.clone(),
                            owner: c.owner.clone(),
                            agreement: c.agreement.as_ref().map(|a| a.reference.clone()),
                        })
                        .collect();
                    (covered.len(), partners)
                }
                Err(e) => {
                    tracing::error!("use events of permit {} not recorded: {e}", p.id);
                    continue;
                }
            };
            // One permit the store cannot read (an unknown profile: a corrupt or edited row)
            // must not hold back the start and end of every other use.
            let profile = match profile_of(p) {
                Ok(profile) => profile,
                Err(e) => {
                    tracing::error!("use events of permit {} not recorded: {e}", p.id);
                    continue;
                }
            };
            if let Err(e) = self
                .store
                .permit_events(&p.id, now, origin, |p| {
                    p.use_events(now)
                        .into_iter()
                        .map(|e| {
                            let (action, effective, kind) = match e {
                                UseEvent::Started => {
                                    ("use.start", p.use_started_at, NotificationKind::UseStarted)
                                }
                                UseEvent::Ended => {
                                    ("use.end", end_of_use(p), NotificationKind::UseEnded)
                                }
                            };
                            UseRecord {
                                action: action.to_string(),
                                details: json!({
                                    "purpose": p.application.purpose.as_str(),
                                    "effective_at": effective.map(|t| t.0),
                                    "watchlist_version": version,
                                    "persons": p.application.persons.len(),
                                }),
                                notification: Some(
                                    ImyNotification::of(p, profile, cameras, kind)
                                        .with_partners(partners.clone()),
                                ),
                            }
                        })
                        .collect()
                })
                .await
            {
                // One permit must not hold back the others, nor the retention schedule below.
                tracing::error!("use events of permit {} not recorded: {e}", p.id);
            }
        }
        // After the use events, so `use.end` records the reference database the use had.
        certs.extend(self.retention(&permits, now, origin).await);
        self.daily_rotation(now, origin).await;
        Ok(certs)
    }
}

/// A camera is an RTSP stream, or a recorded MP4 file on this server's host replayed as one. Checked
/// here, where the stream is opened, for every client (API, pages, CLI).
fn check_stream_url(url: &str) -> Result<()> {
    if url.starts_with("rtsp://") || url.starts_with("rtsps://") {
        return Ok(());
    }
    if std::path::Path::new(url.strip_prefix("file://").unwrap_or(url)).is_file() {
        return Ok(());
    }
    Err(ControlError::Store(StoreError::Invalid(
        "the stream URL must be rtsp://HOST[:PORT]/PATH (credentials may be given as rtsp://USER:PASSWORD@HOST/...) or an MP4 file on the server's host to replay as a camera".into(),
    )))
}

/// Need-to-know: a permit is known to its team (applicant, decider, assigned operators and
/// reviewers) within its agency, to its public counsel and the higher instance of its appeal,
/// and to the agency's auditors, who oversee without images.
pub(crate) fn knows(actor: &Actor, p: &Permit) -> bool {
    actor.works_for(p.application.agency)
        && (actor.has(Role::Auditor) || p.sees_record(&actor.user))
}

/// Need-to-know for what a use produced (alerts, their events and images): the team and the
/// auditors. A public counsel and a higher instance read the permit's record only.
pub(crate) fn knows_alerts(actor: &Actor, p: &Permit) -> bool {
    actor.works_for(p.application.agency) && (actor.has(Role::Auditor) || p.on_team(&actor.user))
}

/// A reference photo listed in an application, as its applicant and decider see it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ReferencePhoto {
    pub person: PersonId,
    /// The person's case label.
    pub label: String,
    pub photo: String,
    /// Where the photo came from, as the application states it.
    pub source: String,
    pub enrolled: bool,
    /// What the enrolment gate measured; absent until enrolled (and for photos enrolled before
    /// it was kept).
    pub quality: Option<mandat_law::permit::PhotoQuality>,
}

/// What another agency's permit answers: the same as one that does not exist.
pub(crate) fn no_permit(id: &str) -> ControlError {
    ControlError::Store(StoreError::NotFound(format!("no permit {id}")))
}

impl ControlError {
    /// The store's error inside a store transaction's closure.
    fn into_store(self) -> StoreError {
        match self {
            ControlError::Store(e) => e,
            ControlError::Law(r) => StoreError::Law(r),
            ControlError::ClockUnknown | ControlError::Unavailable(_) => {
                StoreError::Config(self.to_string())
            }
        }
    }
}

/// The profile a permit was drafted under: every step of its life follows that one, whatever the
/// process it runs in.
fn profile_of(p: &Permit) -> Result<&'static Profile, StoreError> {
    Profile::by_name(&p.profile).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "permit {} names the unknown jurisdiction profile {:?}",
            p.id, p.profile
        ))
    })
}

/// When use actually ended: the stop, the refusal, the lapsed deadline or the end of the period
/// (cut at the statute's sunset).
fn end_of_use(p: &Permit) -> Option<Timestamp> {
    let overturned = p.appeal.as_ref().and_then(|a| a.decision.as_ref());
    p.stop
        .as_ref()
        .map(|s| s.at)
        .or_else(|| {
            overturned
                .map(|d| d.at)
                .filter(|_| p.status == mandat_law::Status::Overturned)
        })
        .or_else(|| p.decision.as_ref().map(|d| d.at).filter(|_| p.purged))
        .or(Some(p.end_in_force()))
}

/// `{prefix}-` and 16 random hex digits: an id that says nothing about what it names.
fn opaque_id(prefix: &str) -> Result<String> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b)
        .map_err(|e| ControlError::Store(StoreError::Crypto(format!("random source: {e}"))))?;
    Ok(format!("{prefix}-{}", hex::encode(b)))
}

/// `P-YYYYMMDD-xxxxxx`: sortable by date, unguessable enough to not leak the number of permits.
fn new_permit_id(now: Timestamp) -> Result<String> {
    let mut b = [0u8; 3];
    getrandom::fill(&mut b)
        .map_err(|e| ControlError::Store(StoreError::Crypto(format!("random source: {e}"))))?;
    let date: String = now.to_rfc3339()[..10].replace('-', "");
    Ok(format!("P-{date}-{}", hex::encode(b)))
}
