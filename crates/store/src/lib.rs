//! mandat's storage: sqlx over SQLite (the embedded default, one file in WAL mode) or PostgreSQL (for
//! production), with migrations run on open.
//!
//! Every state change is one transaction that also appends its audit entry and a signed checkpoint,
//! so a killed process leaves either the whole change or none of it. Biometric data is sealed with a
//! per-permit data key wrapped by the master key; a purge deletes the wrapped key (crypto-shredding)
//! along with every row the use produced, and records a deletion certificate of counts and ids.

pub mod accounts;
pub mod alerts;
pub mod calibrations;
pub mod camera_days;
pub mod crypto;
pub mod epochs;
pub mod imy;
pub mod retention;
pub mod subjects;
mod text;
pub mod totp;
mod users;
pub mod workers;

pub use accounts::{Enrolment, Grant, RoleChange, SecondFactor};
pub use users::{
    FREE_LOGIN_FAILURES, MAX_BACKOFF_MS, UserInfo, backoff_ms, client_network, hash_password,
    verify_password,
};

use mandat_audit::{AuditKey, Checkpoint, Entry, Record};
use mandat_law::lifecycle::Effect;
use mandat_law::permit::{CameraId, LatLon, PersonId};
use mandat_law::{Actor, CameraInfo, Permit, Role, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub use crypto::SecretKey;
pub use epochs::WrapKeys;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Config(String),
    #[error("encryption: {0}")]
    Crypto(String),
    #[error("{0}")]
    NotFound(String),
    #[error("refused: {0}")]
    Refused(String),
    /// The request itself is malformed (an id, a password, a coordinate).
    #[error("{0}")]
    Invalid(String),
    /// Something with that id exists already.
    #[error("{0}")]
    Conflict(String),
    /// A legal rule refused the change.
    #[error("{0}")]
    Law(mandat_law::Refusal),
    #[error("authentication failed: unknown user or wrong password")]
    Auth,
    /// Too many failed logins for this user name from this network; the same answer whether or not
    /// the account exists.
    #[error("too many failed logins for this user name from your network: try again after {until}")]
    Throttled { until: Timestamp },
    /// The clock is behind the newest audit entry: someone set it back, or NTP failed.
    #[error(
        "the system clock ({now}) is behind the newest audit entry ({newest}); mandat refuses to act until the clock is right again. Fix the time (NTP); do not edit the log"
    )]
    ClockBehind { now: Timestamp, newest: Timestamp },
    #[error("not logged in, or the session has expired: run `mandat login`")]
    SessionInvalid,
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// A record whose MAC does not match: changed in the database without the master key.
    #[error("{0}")]
    Tampered(String),
}

impl From<mandat_law::Refusal> for StoreError {
    fn from(r: mandat_law::Refusal) -> Self {
        StoreError::Law(r)
    }
}

impl From<Vec<mandat_law::Refusal>> for StoreError {
    fn from(mut r: Vec<mandat_law::Refusal>) -> Self {
        if r.len() == 1 {
            return r.remove(0).into();
        }
        StoreError::Law(mandat_law::Refusal {
            code: "several".into(),
            message: r
                .iter()
                .map(|x| format!("{} [{}]", x.message, x.code))
                .collect::<Vec<_>>()
                .join("; "),
            rule: r.first().map(|x| x.rule.clone()).unwrap_or_default(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

/// A camera as registered. The stream URL (which may carry credentials) is sealed at rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Camera {
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub id: CameraId,
    #[schema(max_length = 200)]
    pub name: String,
    #[schema(value_type = Option<mandat_law::permit::LatLonSchema>)]
    pub location: Option<LatLon>,
    /// `police`, or the partner: `municipality:<name>`, `region:<name>`, `private:<name>`.
    #[schema(pattern = "^(police|(municipality|region|private):.*[^ ].*)$")]
    pub owner: String,
    pub enabled: bool,
    /// A partner camera's agreement; it is analysed only within its period (rule
    /// `partner_agreement`). Read back `None` also when the sealed record does not open.
    #[serde(default)]
    pub agreement: Option<mandat_law::Agreement>,
}

impl Camera {
    /// What is wrong with this record, if anything. The store applies it to every new camera, so
    /// the CLI, the API and the web form share one rule.
    pub fn check(&self) -> Result<(), String> {
        if self.id.is_empty()
            || self.id.len() > 64
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(format!(
                "camera id {:?}: use 1 to 64 letters, digits, '.', '_' or '-'",
                self.id
            ));
        }
        if self.name.chars().count() > 200 {
            return Err("camera name over 200 characters".into());
        }
        if let Some((lat, lon)) = self.location
            && !((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon))
        {
            return Err(format!(
                "camera location ({lat}, {lon}): latitude within -90..90, longitude within -180..180"
            ));
        }
        let Some(kind) = self.owner_kind() else {
            return Err(format!(
                "camera owner {:?}: use `police`, `municipality:NAME`, `region:NAME` or `private:NAME`",
                self.owner
            ));
        };
        mandat_law::partner::check_registration(kind, self.agreement.as_ref())
            .map_err(|r| format!("camera {}: {r}", self.id))
    }

    /// The owner's kind; `None` for an owner string the register does not accept.
    pub fn owner_kind(&self) -> Option<mandat_law::OwnerKind> {
        mandat_law::OwnerKind::of(&self.owner)
    }

    pub fn info(&self) -> CameraInfo {
        CameraInfo {
            id: self.id.clone(),
            location: self.location,
            enabled: self.enabled,
            // An owner the register would refuse (an edited row) is treated as a partner
            // without an agreement: not analysed.
            owner: self.owner_kind().unwrap_or(mandat_law::OwnerKind::Private),
            agreement: self.agreement.clone(),
        }
    }
}

/// A change an admin makes to a registered camera.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraChange {
    Enable,
    Disable,
    /// A new stream URL (sealed; it may carry credentials).
    Url(String),
    /// Gone from the register: no decision covers it any more, and the permits that named it
    /// show it as removed.
    Remove,
    /// A partner camera's new or renewed agreement.
    Agreement(mandat_law::Agreement),
}

/// What decides whether a camera may be analysed, sealed with its id: an owner edited to
/// `police`, a camera re-enabled or an agreement lengthened in the database does not match it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CameraTerms {
    owner: String,
    enabled: bool,
    agreement: Option<mandat_law::Agreement>,
}

fn terms_aad(camera: &str) -> Vec<u8> {
    format!("camera-terms:{camera}").into_bytes()
}

/// What an erasure destroyed, as ids and counts, never content: a purge (rule `refused-use`) or a
/// rule of the retention schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeletionCertificate {
    pub permit: String,
    /// The rule of the profile's retention schedule that required it, and its legal ground.
    #[serde(default)]
    pub rule: String,
    #[serde(default)]
    pub ground: String,
    pub reason: String,
    pub at: Timestamp,
    /// Reference photos and templates deleted.
    pub photos: Vec<String>,
    pub templates: Vec<String>,
    /// Alerts deleted whole (a purge).
    pub alerts: Vec<String>,
    /// Alerts whose crop and frame were deleted; the alert's record stays.
    #[serde(default)]
    pub alert_media: Vec<String>,
    /// What the permit kept was sealed again under a fresh data key: the old one, which a copy
    /// taken before still holds wrapped, opens nothing this database holds.
    #[serde(default)]
    pub data_key_replaced: bool,
    /// Reviews of those alerts.
    pub reviews: u64,
    /// Tasks to notify a person, deleted with the alerts and persons they were about.
    #[serde(default)]
    pub subject_tasks: u64,
    /// The permit's wrapped data key was deleted from the database, and with it every way this
    /// database offers to read the sealed data. A copy taken before the erasure still holds it.
    pub wrapped_key_deleted: bool,
    /// The key epoch that copy's wrapped key is under: the copy stays readable until that epoch
    /// is rotated away.
    pub key_epoch: i64,
    /// The epoch of the key rotation that followed the erasure, once it has run: from then on no
    /// key the installation holds unwraps the data, in this database or in any older copy.
    pub key_rotated_to: Option<i64>,
}

/// What a key rotation did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyRotation {
    pub from_epoch: i64,
    pub to_epoch: i64,
    pub at: Timestamp,
    pub data_keys_rewrapped: u64,
    /// Data keys no key held here could unwrap (a restored backup's): left as they were.
    pub data_keys_unreadable: u64,
}

/// A change in whether a permit is in use: its audit action and details, and the notification to IMY
/// it requires, registered in the same transaction.
pub struct UseRecord {
    pub action: String,
    pub details: serde_json::Value,
    pub notification: Option<mandat_law::imy::ImyNotification>,
}

/// How far behind the newest audit entry the clock may be before the store refuses to act: enough
/// for two requests that read the clock in one order and commit in the other, far too little to
/// re-open a deadline.
pub const CLOCK_TOLERANCE_MS: i64 = 5_000;

/// Permits' records with their data keys, as [`Store::parse_permit`] reads them: the key unseals
/// the free text.
const PERMITS_ALL: &str = "SELECT p.id, p.doc, p.mac, p.sealed, k.wrapped, k.epoch FROM permits p LEFT JOIN permit_keys k ON k.permit_id = p.id ORDER BY p.id";
const PERMIT_BY_ID: &str = "SELECT p.id, p.doc, p.mac, p.sealed, k.wrapped, k.epoch FROM permits p LEFT JOIN permit_keys k ON k.permit_id = p.id WHERE p.id = $1";
const PERMITS_UNSEALED: &str = "SELECT p.id, p.doc, p.mac, p.sealed, k.wrapped, k.epoch FROM permits p LEFT JOIN permit_keys k ON k.permit_id = p.id WHERE p.sealed IS NULL ORDER BY p.id";

pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) kind: DbKind,
    pub(crate) master: SecretKey,
    /// The wrapping keys of the data keys, by epoch (see [`epochs`]).
    pub(crate) wrap: WrapKeys,
    /// One rotation at a time in this process, so tasks wait here (async) and never on the key
    /// directory's file lock, which only another process can hold.
    rotation: tokio::sync::Mutex<()>,
    pub(crate) audit: AuditKey,
    /// The time of the newest audit entry: the clock may not go back past it.
    high_water: Arc<AtomicI64>,
    /// The PostgreSQL URL, for the connection that listens to other processes' changes.
    listen_url: Option<String>,
    /// This store's tag in its own notifications, so it can skip what it sent itself.
    tag: String,
}

/// The notification channel a scope change is announced on (PostgreSQL), in the change's own
/// transaction: every replica reloads its scope at once rather than at its next poll.
pub const SCOPE_CHANNEL: &str = "mandat_scope";
/// The channel a new or changed alert is announced on, as `TAG:ALERT_ID`.
pub const ALERT_CHANNEL: &str = "mandat_alerts";

/// What another process announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Permits, templates or cameras changed: reload the scope.
    Scope,
    /// This alert is new or changed.
    Alert(String),
    /// Notices may have been missed (the listening connection was lost and made again).
    Gap,
}

/// Notices from other processes on the same PostgreSQL database.
pub struct Listener {
    inner: sqlx::postgres::PgListener,
    own_tag: String,
}

impl Listener {
    /// The next notice that another process sent. A lost connection is made again and reported
    /// as [`Notice::Gap`].
    pub async fn next(&mut self) -> Result<Notice, StoreError> {
        loop {
            match self.inner.try_recv().await? {
                None => return Ok(Notice::Gap),
                Some(n) if n.channel() == SCOPE_CHANNEL => return Ok(Notice::Scope),
                Some(n) if n.channel() == ALERT_CHANNEL => match n.payload().split_once(':') {
                    Some((tag, _)) if tag == self.own_tag => continue,
                    Some((_, id)) => return Ok(Notice::Alert(id.to_string())),
                    None => continue,
                },
                Some(_) => continue,
            }
        }
    }
}

/// The store's own last line: only admins manage cameras and workers, whatever the caller checked.
pub(crate) fn require_admin(actor: &Actor, what: &str) -> Result<(), StoreError> {
    if actor.has(Role::Admin) {
        Ok(())
    } else {
        Err(StoreError::Refused(format!(
            "{} may not {what}: admin role required",
            actor.user
        )))
    }
}

pub(crate) type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

impl Store {
    /// Begin a transaction that writes. On PostgreSQL it first takes the one write lock, so writes
    /// (and the audit chain) are serialised there as SQLite's single connection serialises them.
    pub(crate) async fn begin_write(&self) -> Result<Tx<'_>, StoreError> {
        let mut tx = self.pool.begin().await?;
        if self.kind == DbKind::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(80626)")
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }

    /// Open (creating if needed) and migrate. `url` is `sqlite://path` or `postgres://...`.
    pub async fn open(
        url: &str,
        master: SecretKey,
        audit: AuditKey,
        wrap: WrapKeys,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let kind = if url.starts_with("sqlite:") {
            DbKind::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            DbKind::Postgres
        } else {
            return Err(StoreError::Config(format!(
                "unsupported database URL {url:?}: use sqlite://FILE or postgres://..."
            )));
        };
        if kind == DbKind::Postgres {
            check_postgres_tls(url)?;
        }
        let url = if kind == DbKind::Sqlite && !url.contains('?') {
            format!("{url}?mode=rwc")
        } else {
            url.to_string()
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if kind == DbKind::Sqlite { 1 } else { 8 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if kind == DbKind::Sqlite {
                        // WAL for concurrent readers; FULL sync so a commit survives a crash.
                        sqlx::query("PRAGMA journal_mode=WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous=FULL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA foreign_keys=ON")
                            .execute(&mut *conn)
                            .await?;
                        // Freed pages are overwritten with zeros, so an erased blob or wrapped
                        // key does not linger in the file's free space.
                        sqlx::query("PRAGMA secure_delete=ON")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        match kind {
            DbKind::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
            DbKind::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
        }
        if kind == DbKind::Sqlite {
            restrict_sqlite_files(&url);
        }
        let newest: Option<i64> = sqlx::query("SELECT MAX(at) AS at FROM audit_log")
            .fetch_one(&pool)
            .await?
            .try_get("at")?;
        let mut tag = [0u8; 8];
        getrandom::fill(&mut tag).map_err(|e| StoreError::Crypto(e.to_string()))?;
        let store = Self {
            pool,
            kind,
            master,
            wrap,
            rotation: tokio::sync::Mutex::new(()),
            audit,
            high_water: Arc::new(AtomicI64::new(newest.unwrap_or(i64::MIN))),
            listen_url: (kind == DbKind::Postgres).then(|| url.clone()),
            tag: hex::encode(tag),
        };
        store.reconcile_epochs().await?;
        store.seal_plain_text().await?;
        store.seal_camera_terms().await?;
        store.merge_legacy_subject_tasks().await?;
        Ok(store)
    }

    /// The MAC of a permit's record, bound to its id so a record cannot be copied onto another,
    /// and to its sealed text, so an older text cannot be put back under a newer document.
    pub(crate) fn permit_mac(&self, id: &str, doc: &str, sealed: Option<&[u8]>) -> String {
        let mut input = format!("{id}\n{doc}");
        if let Some(s) = sealed {
            input.push('\n');
            input.push_str(&hex::encode(Sha256::digest(s)));
        }
        hex::encode(self.master.mac("permit", input.as_bytes()))
    }

    /// A permit record as read (a row of [`PERMITS_ALL`]): refused, and logged, when it was
    /// changed outside mandat; its free text unsealed. Text that cannot be decrypted (a
    /// database older than a key rotation) is an error when `strict`, for whoever will write the
    /// permit back; a listing shows the rest of the record with the text marked, and logs it.
    pub(crate) fn parse_permit(&self, row: &AnyRow, strict: bool) -> Result<Permit, StoreError> {
        let id: String = row.try_get("id")?;
        let doc: String = row.try_get("doc")?;
        let sealed: Option<Vec<u8>> = row.try_get("sealed")?;
        let have: Option<String> = row.try_get("mac")?;
        let want = self.permit_mac(&id, &doc, sealed.as_deref());
        if !have.is_some_and(|h| crypto::constant_time_eq(h.as_bytes(), want.as_bytes())) {
            tracing::error!(
                "the record of permit {id} was changed outside mandat (its MAC does not match): refused"
            );
            return Err(StoreError::Tampered(format!(
                "the record of permit {id} was changed outside mandat and is refused; restore it from a backup and check the audit log (`mandat audit verify`)"
            )));
        }
        let mut p: Permit = serde_json::from_str(&doc)
            .map_err(|e| StoreError::Corrupt(format!("permit record: {e}")))?;
        if p.id != id {
            return Err(StoreError::Corrupt(format!(
                "permit record {id} names {}",
                p.id
            )));
        }
        if let Some(sealed) = sealed {
            match self.open_text(row, &id, &sealed) {
                Ok(text) => text.put(&mut p),
                Err(e) if strict => return Err(e),
                Err(e) => {
                    tracing::error!("the free text of permit {id} cannot be read: {e}");
                    text::PermitText::mark(&mut p, text::UNREADABLE);
                }
            }
        }
        Ok(p)
    }

    fn open_text(
        &self,
        row: &AnyRow,
        id: &str,
        sealed: &[u8],
    ) -> Result<text::PermitText, StoreError> {
        let wrapped: Option<Vec<u8>> = row.try_get("wrapped")?;
        let epoch: Option<i64> = row.try_get("epoch")?;
        let (Some(wrapped), Some(epoch)) = (wrapped, epoch) else {
            return Err(StoreError::Corrupt(format!(
                "permit {id} has sealed text but no data key"
            )));
        };
        let key = self.unwrap_data_key(&wrapped, epoch, id)?;
        let mut plain = key.open(sealed, format!("permit-text:{id}").as_bytes())?;
        let text = serde_json::from_slice(&plain)
            .map_err(|e| StoreError::Corrupt(format!("the text of permit {id}: {e}")));
        crypto::wipe(&mut plain);
        text
    }

    /// Write a permit back: its document without free text, the text sealed under its data key
    /// (none once purged: a purge leaves markers), and the MAC over both. `updated_at` is set
    /// when the status changed.
    pub(crate) async fn save_permit(
        &self,
        tx: &mut Tx<'_>,
        permit: &Permit,
        updated_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let key = if permit.purged {
            None
        } else {
            Some(self.text_key(tx, &permit.id).await?)
        };
        let (doc, sealed, mac) = self.permit_row(permit, key.as_ref())?;
        sqlx::query(
            "UPDATE permits SET doc = $1, sealed = $2, mac = $3, status = $4, updated_at = COALESCE($5, updated_at) WHERE id = $6",
        )
        .bind(doc)
        .bind(sealed)
        .bind(mac)
        .bind(format!("{:?}", permit.status))
        .bind(updated_at.map(|t| t.0))
        .bind(permit.id.clone())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The data key that seals a permit's text. A permit that is not purged but has no key (its
    /// use ended and, before its text was sealed, the key went with its last image) gets a fresh
    /// one, wrapped under the current epoch.
    async fn text_key(&self, tx: &mut Tx<'_>, permit: &str) -> Result<SecretKey, StoreError> {
        match self.data_key(tx, permit).await {
            Err(StoreError::NotFound(_)) => {}
            held => return held,
        }
        let key = SecretKey::random()?;
        let (epoch, wrapping) = self.wrapping_key(tx).await?;
        sqlx::query("INSERT INTO permit_keys (permit_id, wrapped, epoch) VALUES ($1, $2, $3)")
            .bind(permit.to_string())
            .bind(wrapping.wrap(&key, permit)?)
            .bind(epoch)
            .execute(&mut **tx)
            .await?;
        Ok(key)
    }

    /// A permit as stored: (document, sealed text, MAC).
    fn permit_row(
        &self,
        permit: &Permit,
        key: Option<&SecretKey>,
    ) -> Result<(String, Option<Vec<u8>>, String), StoreError> {
        let mut public = permit.clone();
        let sealed = match key {
            Some(k) => {
                let text = text::PermitText::take(&mut public);
                let mut plain = serde_json::to_vec(&text).expect("text serialises");
                let sealed = k.seal(&plain, format!("permit-text:{}", permit.id).as_bytes());
                crypto::wipe(&mut plain);
                Some(sealed?)
            }
            None => None,
        };
        let doc = serde_json::to_string(&public).expect("permits serialise");
        let mac = self.permit_mac(&permit.id, &doc, sealed.as_deref());
        Ok((doc, sealed, mac))
    }

    /// Seal the free text of permits stored before it was sealed, once, when the store opens;
    /// and replace what a purge left readable then (offence and reasons) with markers. Each
    /// record in its own transaction: one that cannot be sealed is logged and left as it was,
    /// and holds back neither the others nor the start.
    async fn seal_plain_text(&self) -> Result<(), StoreError> {
        let rows = sqlx::query(PERMITS_UNSEALED).fetch_all(&self.pool).await?;
        let mut n = 0;
        for row in &rows {
            let id: String = row.try_get("id")?;
            match self.seal_one(row).await {
                Ok(true) => n += 1,
                Ok(false) => {}
                Err(StoreError::Tampered(_)) => {} // logged where it was found
                Err(e) => tracing::error!(
                    "the free text of permit {id} could not be sealed and stays as it was: {e}"
                ),
            }
        }
        if n > 0 {
            tracing::info!(
                "sealed the free text of {n} permit record(s) stored before it was sealed"
            );
            self.settle_erasure().await;
        }
        Ok(())
    }

    /// Seal one record of [`Store::seal_plain_text`]; whether it was rewritten.
    async fn seal_one(&self, row: &AnyRow) -> Result<bool, StoreError> {
        let mut p = self.parse_permit(row, true)?;
        if p.purged {
            // Purged records stay unsealed: rewrite one only if it still holds text.
            text::PermitText::mark(&mut p, text::PURGED);
            let doc: String = row.try_get("doc")?;
            if self.permit_row(&p, None)?.0 == doc {
                return Ok(false);
            }
        }
        let mut tx = self.begin_write().await?;
        // Read again under the write lock: another process may have sealed it since.
        let sealed: Option<Vec<u8>> = sqlx::query("SELECT sealed FROM permits WHERE id = $1")
            .bind(p.id.clone())
            .fetch_one(&mut *tx)
            .await?
            .try_get("sealed")?;
        if sealed.is_some() {
            return Ok(false);
        }
        self.save_permit(&mut tx, &p, None).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// One permit by id, through a pool or inside a transaction, checked.
    pub(crate) async fn load_permit<'e, E>(&self, db: E, id: &str) -> Result<Permit, StoreError>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        let row = sqlx::query(PERMIT_BY_ID)
            .bind(id.to_string())
            .fetch_optional(db)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no permit {id}")))?;
        self.parse_permit(&row, true)
    }

    /// Every permit whose record is intact; a tampered or unreadable one is left out (and
    /// logged), so one edited row neither shows nor is matched for, nor holds back the others.
    fn intact_permits(&self, rows: &[AnyRow]) -> Result<Vec<Permit>, StoreError> {
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            match self.parse_permit(row, false) {
                Ok(p) => out.push(p),
                Err(StoreError::Tampered(_)) => continue, // logged where it was found
                Err(e) => tracing::error!("a permit record cannot be read, left out: {e}"),
            }
        }
        Ok(out)
    }

    /// Refuse to act while the clock is behind the newest audit entry (beyond
    /// [`CLOCK_TOLERANCE_MS`]): a clock set back would re-open deadlines that have passed.
    pub fn check_clock(&self, now: Timestamp) -> Result<(), StoreError> {
        let newest = self.high_water.load(Ordering::SeqCst);
        if now.0.saturating_add(CLOCK_TOLERANCE_MS) < newest {
            return Err(StoreError::ClockBehind {
                now,
                newest: Timestamp(newest),
            });
        }
        Ok(())
    }

    /// The high-water mark itself, shared with the scope cache so matching stops too.
    pub fn clock_high_water(&self) -> Arc<AtomicI64> {
        self.high_water.clone()
    }

    /// Bind the database to the deployment's jurisdiction profile: the first process stores it
    /// (`mandat init`), every later one must run under the same profile or is refused.
    pub async fn bind_profile(&self, profile: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let stored: Option<String> =
            sqlx::query("SELECT value FROM settings WHERE key = 'profile'")
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get("value"))
                .transpose()?;
        match stored {
            Some(p) if p == profile => Ok(()),
            Some(p) => Err(StoreError::Config(format!(
                "this database was initialised under the jurisdiction profile {p:?}, and this process runs under {profile:?}: mandat refuses to act under another profile. Start it with --profile {p} (or MANDAT_JURISDICTION={p})"
            ))),
            None => {
                // An installation from before profiles were stored: its permits say which it ran.
                for row in sqlx::query(PERMITS_ALL).fetch_all(&mut *tx).await? {
                    let p = self.parse_permit(&row, false)?;
                    if p.profile != profile {
                        return Err(StoreError::Config(format!(
                            "permit {} was drafted under the jurisdiction profile {:?}, and this process runs under {profile:?}: start it with --profile {} (or MANDAT_JURISDICTION={})",
                            p.id, p.profile, p.profile, p.profile
                        )));
                    }
                }
                sqlx::query("INSERT INTO settings (key, value) VALUES ('profile', $1)")
                    .bind(profile.to_string())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    }

    /// The deployment's profile, as `init` stored it.
    pub async fn stored_profile(&self) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query("SELECT value FROM settings WHERE key = 'profile'")
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.try_get("value"))
                .transpose()?,
        )
    }

    /// The hash of entry `seq`, if the log still holds it: the witness checks that what it anchored
    /// last is still there.
    pub async fn audit_hash_at(&self, seq: u64) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query("SELECT hash FROM audit_log WHERE seq = $1")
            .bind(seq as i64)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get("hash"))
            .transpose()?)
    }

    /// The newest signed checkpoint: the chain head that is anchored outside the host.
    pub async fn audit_head(&self) -> Result<Option<Checkpoint>, StoreError> {
        head_of(&self.pool).await
    }

    pub fn kind(&self) -> DbKind {
        self.kind
    }

    /// Whether `key` is this database's master key (compared as MACs, in constant time): the
    /// key holder's proof, see `mandat_control::KeyHolder`.
    pub fn is_master(&self, key: &SecretKey) -> bool {
        crypto::constant_time_eq(
            &self.master.mac("key-holder", b"proof"),
            &key.mac("key-holder", b"proof"),
        )
    }

    pub fn audit_public_key(&self) -> String {
        self.audit.public_hex()
    }

    // ---- audit ----

    pub(crate) async fn append_audit(
        &self,
        tx: &mut Tx<'_>,
        r: Record,
    ) -> Result<Entry, StoreError> {
        let last = sqlx::query(
            "SELECT seq, at, actor, action, permit, origin, details, prev_hash, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
        )
        .fetch_optional(&mut **tx)
        .await?
        .map(|row| entry_from_row(&row))
        .transpose()?;
        let mut r = r;
        if let Some(prev) = &last {
            if r.at.saturating_add(CLOCK_TOLERANCE_MS) < prev.at {
                return Err(StoreError::ClockBehind {
                    now: Timestamp(r.at),
                    newest: Timestamp(prev.at),
                });
            }
            // Two requests may read the clock in one order and commit in the other: the log
            // keeps its times in order.
            r.at = r.at.max(prev.at);
        }
        let at = r.at;
        self.high_water.fetch_max(at, Ordering::SeqCst);
        let e = Entry::next(last.as_ref(), r);
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor, action, permit, origin, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(e.seq as i64)
        .bind(e.at)
        .bind(e.actor.clone())
        .bind(e.action.clone())
        .bind(e.permit.clone())
        .bind(e.origin.clone())
        .bind(e.details.to_string())
        .bind(e.prev_hash.clone())
        .bind(e.hash.clone())
        .execute(&mut **tx)
        .await?;
        let c = Checkpoint::sign(&self.audit, &e, at);
        sqlx::query(
            "INSERT INTO audit_checkpoints (seq, hash, at, pubkey, signature) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(c.seq as i64)
        .bind(c.hash)
        .bind(c.at)
        .bind(c.key)
        .bind(c.signature)
        .execute(&mut **tx)
        .await?;
        Ok(e)
    }

    /// Record an action that changes nothing else (a login, a view of biometric data).
    pub async fn record(&self, r: Record) -> Result<Entry, StoreError> {
        let mut tx = self.begin_write().await?;
        let e = self.append_audit(&mut tx, r).await?;
        tx.commit().await?;
        Ok(e)
    }

    /// The checkpoint signed with entry `seq`, if the database holds one.
    pub(crate) async fn checkpoint_at(&self, seq: u64) -> Result<Option<Checkpoint>, StoreError> {
        sqlx::query("SELECT seq, hash, at, pubkey, signature FROM audit_checkpoints WHERE seq = $1")
            .bind(seq as i64)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(checkpoint_from_row)
            .transpose()
    }

    /// The newest `limit` entries of `action`, newest first, each checked against its signed
    /// checkpoint: a row edited in the database (its details, time or action) or inserted without
    /// the audit key is refused as tampered, not believed. For gates that rest on a recorded act.
    /// Entries with `seq` below `before` only (a page of an older part).
    pub async fn signed_entries(
        &self,
        action: &str,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Entry>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, permit, origin, details, prev_hash, hash FROM audit_log WHERE action = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
        )
        .bind(action.to_string())
        .bind(before.map_or(i64::MAX, |b| b as i64))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let key = self.audit.verifying_key();
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let e = entry_from_row(row)?;
            let cp = self.checkpoint_at(e.seq).await?;
            let signed = cp.is_some_and(|c| c.hash == e.hash && c.verify(&key));
            if e.compute_hash() != e.hash || !signed {
                return Err(StoreError::Tampered(format!(
                    "audit entry {} ({action}) does not match its signed checkpoint; run `mandat audit verify` and restore the database from a backup",
                    e.seq
                )));
            }
            out.push(e);
        }
        Ok(out)
    }

    /// Whether the log after entry `seq` is whole and unedited up to its signed head: every entry
    /// recomputes to its hash and links to the one before, and the last is the head the audit key
    /// signed. So no newer entry (a newer record, say) was deleted, inserted, or edited in place
    /// (its action renamed). Cutting off the tail with its checkpoints is what the anchors kept off
    /// the host catch (`mandat audit verify`). Reads every entry after `seq`, in pages.
    pub async fn audit_whole_after(&self, seq: u64) -> Result<(), StoreError> {
        const PAGE: i64 = 2_000;
        let tampered = |head: u64| {
            StoreError::Tampered(format!(
                "the audit log after entry {seq} is not whole up to its signed head {head}; run `mandat audit verify` and restore the database from a backup"
            ))
        };
        // One statement, so one snapshot: an entry another request appends (always with its
        // checkpoint, in one transaction) is either both the head and counted, or neither.
        let row = sqlx::query(
            "SELECT c.seq, c.hash, c.at, c.pubkey, c.signature, \
             (SELECT COUNT(*) FROM audit_log l WHERE l.seq > c.seq) AS n_beyond \
             FROM audit_checkpoints c ORDER BY c.seq DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::Tampered(
                "the audit log has no signed head; run `mandat audit verify`".into(),
            ));
        };
        let head = checkpoint_from_row(&row)?;
        let beyond: i64 = row.try_get("n_beyond")?;
        if !head.verify(&self.audit.verifying_key()) || head.seq < seq || beyond != 0 {
            return Err(tampered(head.seq));
        }
        // Entries up to the head never change once written, so paging is safe under appends.
        let Some(mut prev) = self.audit_hash_at(seq).await? else {
            return Err(tampered(head.seq));
        };
        let mut at = seq;
        loop {
            let rows = sqlx::query(
                "SELECT seq, at, actor, action, permit, origin, details, prev_hash, hash FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
            )
            .bind(at as i64)
            .bind(head.seq as i64)
            .bind(PAGE)
            .fetch_all(&self.pool)
            .await?;
            for row in &rows {
                let e = entry_from_row(row)?;
                if e.seq != at + 1 || e.prev_hash != prev || e.compute_hash() != e.hash {
                    return Err(tampered(head.seq));
                }
                at = e.seq;
                prev = e.hash;
            }
            if (rows.len() as i64) < PAGE {
                break;
            }
        }
        if at != head.seq || prev != head.hash {
            return Err(tampered(head.seq));
        }
        Ok(())
    }

    pub async fn audit_log(&self) -> Result<(Vec<Entry>, Vec<Checkpoint>), StoreError> {
        audit_log_from(&self.pool).await
    }

    // ---- cameras ----

    pub async fn add_camera(
        &self,
        actor: &Actor,
        cam: &Camera,
        stream_url: &str,
        now: Timestamp,
        origin: &str,
    ) -> Result<(), StoreError> {
        require_admin(actor, "register cameras")?;
        cam.check().map_err(StoreError::Invalid)?;
        // A decision covers a camera by its id: an id a permit names is never given to another
        // camera, or the decision would cover a camera its decider never saw.
        if let Some(p) = self
            .permits()
            .await?
            .into_iter()
            .find(|p| !p.purged && names_camera(p, &cam.id))
        {
            return Err(StoreError::Conflict(format!(
                "camera id {} is named by permit {}; register the camera under a new id",
                cam.id, p.id
            )));
        }
        let sealed = self.master.seal(
            stream_url.as_bytes(),
            format!("camera-url:{}", cam.id).as_bytes(),
        )?;
        let terms = self.seal_terms(
            &cam.id,
            &CameraTerms {
                owner: cam.owner.clone(),
                enabled: cam.enabled,
                agreement: cam.agreement.clone(),
            },
        )?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO cameras (id, name, lat, lon, owner, url_sealed, enabled, terms_sealed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(cam.id.clone())
        .bind(cam.name.clone())
        .bind(cam.location.map(|l| l.0))
        .bind(cam.location.map(|l| l.1))
        .bind(cam.owner.clone())
        .bind(sealed)
        .bind(cam.enabled as i64)
        .bind(terms)
        .execute(&mut *tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(format!("camera {} exists already", cam.id))
            }
            other => other.into(),
        })?;
        self.bump_scope(&mut tx).await?;
        self.append_audit(
            &mut tx,
            Record {
                at: now.0,
                actor: actor.user.clone(),
                action: "camera.add".into(),
                permit: None,
                origin: origin.into(),
                details: json!({
                    "camera": cam.id,
                    "owner": cam.owner,
                    "agreement": cam.agreement.as_ref().map(|a| json!({
                        "reference": a.reference,
                        "from": a.period.start.0,
                        "until": a.period.end.0,
                    })),
                }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Enable, disable, re-point or remove a camera (admins), audited, in one transaction. A
    /// removal names the permits whose decision covers the camera, in the audit entry; those
    /// permits show it as removed.
    pub async fn change_camera(
        &self,
        actor: &Actor,
        id: &str,
        change: &CameraChange,
        now: Timestamp,
        origin: &str,
    ) -> Result<(), StoreError> {
        require_admin(actor, "change cameras")?;
        let mut tx = self.begin_write().await?;
        let (action, n, details) = match change {
            CameraChange::Enable | CameraChange::Disable => {
                let on = matches!(change, CameraChange::Enable);
                let mut terms = self.verified_terms(&mut tx, id).await?;
                terms.enabled = on;
                let sealed = self.seal_terms(id, &terms)?;
                let n =
                    sqlx::query("UPDATE cameras SET enabled = $1, terms_sealed = $2 WHERE id = $3")
                        .bind(on as i64)
                        .bind(sealed)
                        .bind(id.to_string())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                let action = if on {
                    "camera.enable"
                } else {
                    "camera.disable"
                };
                (action, n, json!({"camera": id}))
            }
            CameraChange::Url(url) => {
                // A decision was taken on the camera as it was: a new stream under a decided or
                // running permit would be a camera the decider never saw.
                let rows = sqlx::query(PERMITS_ALL).fetch_all(&mut *tx).await?;
                if let Some(p) = self.intact_permits(&rows)?.into_iter().find(|p| {
                    !p.purged
                        && names_camera(p, id)
                        && !matches!(p.status, mandat_law::Status::Draft)
                        && mandat_law::retention::use_over(p, now).is_none()
                }) {
                    return Err(StoreError::Conflict(format!(
                        "camera {id} is covered by permit {}, applied for or in use: register the new stream as a new camera instead",
                        p.id
                    )));
                }
                let sealed = self
                    .master
                    .seal(url.as_bytes(), format!("camera-url:{id}").as_bytes())?;
                let n = sqlx::query("UPDATE cameras SET url_sealed = $1 WHERE id = $2")
                    .bind(sealed)
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                // Never the URL itself: it may carry credentials.
                ("camera.url", n, json!({"camera": id}))
            }
            CameraChange::Remove => {
                let n = sqlx::query("DELETE FROM cameras WHERE id = $1")
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let rows = sqlx::query(PERMITS_ALL).fetch_all(&mut *tx).await?;
                let covering: Vec<String> = self
                    .intact_permits(&rows)?
                    .into_iter()
                    .filter(|p| !p.purged && names_camera(p, id))
                    .map(|p| p.id)
                    .collect();
                (
                    "camera.remove",
                    n,
                    json!({"camera": id, "permits_covering": covering}),
                )
            }
            CameraChange::Agreement(a) => {
                let mut terms = self.verified_terms(&mut tx, id).await?;
                let kind = mandat_law::OwnerKind::of(&terms.owner).ok_or_else(|| {
                    StoreError::Invalid(format!(
                        "camera {id} has an unknown owner {:?}",
                        terms.owner
                    ))
                })?;
                mandat_law::partner::check_registration(kind, Some(a))
                    .map_err(|r| StoreError::Invalid(format!("camera {id}: {r}")))?;
                terms.agreement = Some(a.clone());
                let sealed = self.seal_terms(id, &terms)?;
                let n = sqlx::query("UPDATE cameras SET terms_sealed = $1 WHERE id = $2")
                    .bind(sealed)
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                (
                    "camera.agreement",
                    n,
                    json!({
                        "camera": id,
                        "reference": a.reference,
                        "from": a.period.start.0,
                        "until": a.period.end.0,
                    }),
                )
            }
        };
        if n == 0 {
            return Err(StoreError::NotFound(format!("no camera {id}")));
        }
        self.bump_scope(&mut tx).await?;
        self.append_audit(
            &mut tx,
            Record {
                at: now.0,
                actor: actor.user.clone(),
                action: action.into(),
                permit: None,
                origin: origin.into(),
                details,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn cameras(&self) -> Result<Vec<Camera>, StoreError> {
        sqlx::query(
            "SELECT id, name, lat, lon, owner, enabled, terms_sealed FROM cameras ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            let lat: Option<f64> = r.try_get("lat")?;
            let lon: Option<f64> = r.try_get("lon")?;
            let id: String = r.try_get("id")?;
            let owner: String = r.try_get("owner")?;
            // A row that does not match its sealed terms is shown disabled, and not analysed.
            let (enabled, agreement) = match self.row_terms(&id, r)? {
                Some(t) => (t.enabled, t.agreement),
                None => {
                    tracing::error!(
                        "camera {id}: its register entry does not match its sealed terms (edited in the database?); it is not analysed: register the camera again under a new id"
                    );
                    (false, None)
                }
            };
            Ok(Camera {
                id,
                name: r.try_get("name")?,
                location: lat.zip(lon),
                owner,
                enabled,
                agreement,
            })
        })
        .collect()
    }

    fn seal_terms(&self, camera: &str, t: &CameraTerms) -> Result<Vec<u8>, StoreError> {
        let json = serde_json::to_vec(t).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.master.seal(&json, &terms_aad(camera))
    }

    fn open_terms(&self, camera: &str, sealed: Option<&[u8]>) -> Option<CameraTerms> {
        let plain = self.master.open(sealed?, &terms_aad(camera)).ok()?;
        serde_json::from_slice(&plain).ok()
    }

    /// A camera's sealed terms, refused when its row does not match them: a change is made only
    /// to a camera whose record is intact.
    async fn verified_terms(&self, tx: &mut Tx<'_>, id: &str) -> Result<CameraTerms, StoreError> {
        let row = sqlx::query("SELECT owner, enabled, terms_sealed FROM cameras WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no camera {id}")))?;
        self.row_terms(id, &row)?.ok_or_else(|| {
            StoreError::Conflict(format!(
                "camera {id}'s register entry does not match its sealed terms (edited in the database?): register the camera again under a new id"
            ))
        })
    }

    /// A camera row's sealed terms, if they open and match the row's owner and enabled columns.
    fn row_terms(&self, id: &str, row: &AnyRow) -> Result<Option<CameraTerms>, StoreError> {
        let owner: String = row.try_get("owner")?;
        let enabled = row.try_get::<i64, _>("enabled")? != 0;
        let sealed: Option<Vec<u8>> = row.try_get("terms_sealed")?;
        Ok(self
            .open_terms(id, sealed.as_deref())
            .filter(|t| t.owner == owner && t.enabled == enabled))
    }

    /// Seal the terms of cameras that have none (registered before terms were sealed), from the
    /// audit log rather than from the row: the owner the camera was registered with
    /// (`camera.add`) and its last enable or disable. A row whose owner differs from its
    /// registration is left unsealed: not analysed, and logged. One transaction, audited as
    /// `camera.terms_sealed`; a row a DBA cleared is sealed again as the log has it.
    async fn seal_camera_terms(&self) -> Result<(), StoreError> {
        let rows = sqlx::query("SELECT id, owner, enabled FROM cameras WHERE terms_sealed IS NULL")
            .fetch_all(&self.pool)
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let (log, _) = self.audit_log().await?;
        let mut tx = self.begin_write().await?;
        let (mut sealed, mut refused) = (Vec::new(), Vec::new());
        for r in &rows {
            let id: String = r.try_get("id")?;
            let owner: String = r.try_get("owner")?;
            let row_enabled = r.try_get::<i64, _>("enabled")? != 0;
            let of_camera = |e: &&mandat_audit::Entry| e.details["camera"].as_str() == Some(&id);
            let Some(added) = log
                .iter()
                .filter(of_camera)
                .rfind(|e| e.action == "camera.add")
            else {
                refused.push(id);
                continue;
            };
            if added.details["owner"].as_str() != Some(owner.as_str()) {
                refused.push(id);
                continue;
            }
            // Its last switch after it was registered; else the row's (registered off or on).
            let enabled = log
                .iter()
                .filter(of_camera)
                .filter(|e| e.seq > added.seq)
                .rfind(|e| e.action == "camera.enable" || e.action == "camera.disable")
                .map_or(row_enabled, |e| e.action == "camera.enable");
            let terms = CameraTerms {
                owner,
                enabled,
                agreement: None,
            };
            sqlx::query("UPDATE cameras SET terms_sealed = $1, enabled = $2 WHERE id = $3")
                .bind(self.seal_terms(&id, &terms)?)
                .bind(enabled as i64)
                .bind(id.clone())
                .execute(&mut *tx)
                .await?;
            sealed.push(id);
        }
        self.append_audit(
            &mut tx,
            Record {
                // At the newest entry's time: a store opened under a clock behind it must not
                // write the log's future.
                at: self.high_water.load(Ordering::SeqCst).max(0),
                actor: "system".into(),
                action: "camera.terms_sealed".into(),
                permit: None,
                origin: "store".into(),
                details: json!({"cameras": sealed, "not_registered_as_they_are": refused}),
            },
        )
        .await?;
        tx.commit().await?;
        tracing::warn!(
            "sealed the terms of {} camera(s) as the audit log has them; partner cameras among them are not analysed until an admin records their agreement",
            sealed.len()
        );
        if !refused.is_empty() {
            tracing::error!(
                "camera(s) {} differ from their registration in the audit log (edited in the database?): not analysed; register them again under new ids",
                refused.join(", ")
            );
        }
        Ok(())
    }

    /// The decrypted stream URL, for the engine only.
    pub async fn camera_url(&self, id: &str) -> Result<String, StoreError> {
        let row = sqlx::query("SELECT url_sealed FROM cameras WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no camera {id}")))?;
        let sealed: Vec<u8> = row.try_get("url_sealed")?;
        let plain = self
            .master
            .open(&sealed, format!("camera-url:{id}").as_bytes())?;
        String::from_utf8(plain).map_err(|_| StoreError::Corrupt("camera URL".into()))
    }

    // ---- permits ----

    pub async fn permit(&self, id: &str) -> Result<Permit, StoreError> {
        self.load_permit(&self.pool, id).await
    }

    /// Every permit whose record is intact (see [`Store::intact_permits`]).
    pub async fn permits(&self) -> Result<Vec<Permit>, StoreError> {
        let rows = sqlx::query(PERMITS_ALL).fetch_all(&self.pool).await?;
        self.intact_permits(&rows)
    }

    /// Store a new draft with its fresh data key.
    pub async fn create_permit(
        &self,
        actor: &Actor,
        permit: &Permit,
        origin: &str,
    ) -> Result<(), StoreError> {
        let data_key = SecretKey::random()?;
        let mut tx = self.begin_write().await?;
        // The epoch the database is at, read under the write lock, so a rotation that committed a
        // moment ago is never missed.
        let (epoch, wrapping) = self.wrapping_key(&mut tx).await?;
        let wrapped = wrapping.wrap(&data_key, &permit.id)?;
        let (doc, sealed, mac) = self.permit_row(permit, Some(&data_key))?;
        sqlx::query(
            "INSERT INTO permits (id, doc, sealed, status, updated_at, mac) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(permit.id.clone())
        .bind(doc)
        .bind(sealed)
        .bind(format!("{:?}", permit.status))
        .bind(permit.created_at.0)
        .bind(mac)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO permit_keys (permit_id, wrapped, epoch) VALUES ($1, $2, $3)")
            .bind(permit.id.clone())
            .bind(wrapped)
            .bind(epoch)
            .execute(&mut *tx)
            .await?;
        self.bump_scope(&mut tx).await?;
        self.append_audit(
            &mut tx,
            Record {
                at: permit.created_at.0,
                actor: actor.user.clone(),
                action: "permit.draft".into(),
                permit: Some(permit.id.clone()),
                origin: origin.into(),
                details: json!({
                    "purpose": permit.application.purpose.as_str(),
                    "persons": permit.application.persons.len(),
                    "cameras": permit.application.area.cameras.len(),
                }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Apply one lifecycle transition atomically: load, change, save, audit, and purge if the law
    /// requires it, all in one transaction.
    pub async fn transition<F>(
        &self,
        actor_id: &str,
        permit_id: &str,
        action: &str,
        now: Timestamp,
        origin: &str,
        change: F,
    ) -> Result<(Permit, Option<DeletionCertificate>), StoreError>
    where
        F: FnOnce(&mut Permit) -> Result<Effect, StoreError>,
    {
        let mut tx = self.begin_write().await?;
        let mut permit = self.load_permit(&mut *tx, permit_id).await?;
        let before = permit.status;
        let team_before = permit.team.clone();
        let amendments_before = permit.amendments.clone();
        let outcome_before = permit.use_outcome.clone();
        let applicant_before = permit.applicant.clone();
        let case_before = permit.decider_case.clone();
        let procedure_before = (
            permit.counsel.clone(),
            permit.hearing.clone(),
            permit.appeal.clone(),
        );
        let effect = change(&mut permit)?;
        let cert = match &effect {
            Effect::Purge { reason } => Some(self.purge(&mut tx, &mut permit, reason, now).await?),
            _ => None,
        };
        self.save_permit(&mut tx, &permit, Some(now)).await?;
        self.bump_scope(&mut tx).await?;
        self.append_audit(
            &mut tx,
            Record {
                at: now.0,
                actor: actor_id.to_string(),
                action: action.into(),
                permit: Some(permit_id.to_string()),
                origin: origin.into(),
                details: {
                    let mut d = json!({
                        "from": format!("{before:?}"),
                        "to": format!("{:?}", permit.status),
                        "use_started": effect == Effect::UseStarted,
                        "use_ended": matches!(effect, Effect::UseEnded | Effect::Purge { .. }),
                    });
                    // What a partial grant left out is part of the decision's record.
                    if before != permit.status
                        && let Some(n) = permit.decision.as_ref().and_then(|d| d.narrowed.as_ref())
                    {
                        d["narrowed"] = serde_json::to_value(n).expect("serialises");
                    }
                    // An amendment filed or decided: its number, cameras and outcome (its reasons
                    // are sealed with the permit's other text).
                    if permit.amendments != amendments_before
                        && let Some(a) = permit.amendments.last()
                    {
                        d["amendment"] = json!({
                            "number": a.number,
                            "cameras": a.cameras,
                            "outcome": a.decision.as_ref().map(|x| x.outcome),
                        });
                    }
                    // What a use led to: counts for the evaluation, nothing about a person.
                    if permit.use_outcome != outcome_before
                        && let Some(o) = &permit.use_outcome
                    {
                        d["outcome"] = json!(o.results);
                    }
                    // A hand-over: who applies (and sees the permit) from now on.
                    if permit.applicant != applicant_before {
                        d["applicant"] = json!({"from": applicant_before, "to": permit.applicant});
                    }
                    // The decider's own case number, and the one it replaced.
                    if permit.decider_case != case_before {
                        d["decider_case"] = json!({
                            "from": case_before.map(|c| c.number),
                            "to": permit.decider_case.as_ref().map(|c| c.number.clone()),
                        });
                    }
                    // The court's procedure: who speaks, when heard, who appealed to whom and
                    // with what result (the texts are sealed with the permit's other text).
                    if permit.counsel != procedure_before.0
                        && let Some(c) = &permit.counsel
                    {
                        d["counsel"] = json!({
                            "user": c.user,
                            "opinion": c.opinion.as_ref().map(|o| o.position),
                        });
                    }
                    if permit.hearing != procedure_before.1
                        && let Some(h) = &permit.hearing
                    {
                        d["hearing"] = json!({"held_at": h.held_at});
                    }
                    if permit.appeal != procedure_before.2
                        && let Some(a) = &permit.appeal
                    {
                        d["appeal"] = json!({
                            "by": a.by,
                            "party": a.party,
                            "to": a.to,
                            "outcome": a.decision.as_ref().map(|x| x.outcome),
                        });
                    }
                    // Who may see the permit is part of the record: the team after the change.
                    if permit.team != team_before {
                        d["team"] = permit
                            .team
                            .iter()
                            .map(|m| json!({"user": m.user, "role": m.role.as_str()}))
                            .collect();
                    }
                    d
                },
            },
        )
        .await?;
        if let Some(c) = &cert {
            self.append_audit(
                &mut tx,
                Record {
                    at: now.0,
                    actor: "system".into(),
                    action: "permit.purge".into(),
                    permit: Some(permit_id.to_string()),
                    origin: origin.into(),
                    details: serde_json::to_value(c).expect("certificate serialises"),
                },
            )
            .await?;
        }
        crash_point("transition-before-commit");
        tx.commit().await?;
        if cert.is_some() {
            self.settle_erasure().await;
        }
        Ok((permit, cert))
    }

    /// After an erasure has committed, make it reach the disk: on SQLite, copy the WAL into the
    /// database (whose freed pages `secure_delete` zeroed) and truncate it; on PostgreSQL, VACUUM
    /// the tables a purge deletes from, so dead tuples go. What WAL archives and backups hold is
    /// outside this process (see the README). A failure is logged loudly; the erasure itself
    /// stands, and the next one settles it again.
    pub(crate) async fn settle_erasure(&self) {
        let result = match self.kind {
            // Its first column says whether a reader kept the checkpoint from completing.
            DbKind::Sqlite => match sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&self.pool)
                .await
            {
                Ok(row) => match row.try_get::<i64, _>(0) {
                    Ok(0) => Ok(()),
                    Ok(_) => Err("another connection was reading".to_string()),
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(e.to_string()),
            },
            // The simple protocol: VACUUM refuses to run inside a transaction block.
            DbKind::Postgres => sqlx::raw_sql(
                "VACUUM reviews, photos, templates, alerts, alert_sightings, subject_notifications, permit_keys, permits",
            )
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        };
        if let Err(e) = result {
            tracing::error!(
                "an erasure is committed but could not be settled on disk ({e}): erased data may linger in free space until the next erasure settles"
            );
        }
    }

    /// Change a permit's record and append the audit entries the change produces, in one
    /// transaction, by `system`. For events that follow from time, such as the start and end of use.
    pub async fn permit_events<F>(
        &self,
        permit_id: &str,
        now: Timestamp,
        origin: &str,
        change: F,
    ) -> Result<(), StoreError>
    where
        F: FnOnce(&mut Permit) -> Vec<UseRecord>,
    {
        let mut tx = self.begin_write().await?;
        let mut permit = self.load_permit(&mut *tx, permit_id).await?;
        let events = change(&mut permit);
        if events.is_empty() {
            return Ok(());
        }
        self.save_permit(&mut tx, &permit, None).await?;
        for UseRecord {
            action,
            mut details,
            notification,
        } in events
        {
            if let Some(n) = notification {
                let id = self.register_imy(&mut tx, &n, now).await?;
                details["imy_notification"] = json!(id);
            }
            self.append_audit(
                &mut tx,
                Record {
                    at: now.0,
                    actor: "system".into(),
                    action,
                    permit: Some(permit_id.to_string()),
                    origin: origin.into(),
                    details,
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Delete everything the use produced and shred its data key. Runs inside the caller's transaction.
    async fn purge(
        &self,
        tx: &mut Tx<'_>,
        permit: &mut Permit,
        reason: &str,
        now: Timestamp,
    ) -> Result<DeletionCertificate, StoreError> {
        let id = permit.id.clone();
        let reviews = sqlx::query("DELETE FROM reviews WHERE permit_id = $1")
            .bind(id.clone())
            .execute(&mut **tx)
            .await?
            .rows_affected();
        // Fixed statements per table: no SQL is ever built from strings.
        let photos = delete_listing(
            tx,
            &id,
            "SELECT id FROM photos WHERE permit_id = $1 ORDER BY id",
            "DELETE FROM photos WHERE permit_id = $1",
        )
        .await?;
        crash_point("purge-midway");
        let templates = delete_listing(
            tx,
            &id,
            "SELECT id FROM templates WHERE permit_id = $1 ORDER BY id",
            "DELETE FROM templates WHERE permit_id = $1",
        )
        .await?;
        // Sightings name when the person was seen: they go with their alerts.
        sqlx::query("DELETE FROM alert_sightings WHERE permit_id = $1")
            .bind(id.clone())
            .execute(&mut **tx)
            .await?;
        let alerts = delete_listing(
            tx,
            &id,
            "SELECT id FROM alerts WHERE permit_id = $1 ORDER BY id",
            "DELETE FROM alerts WHERE permit_id = $1",
        )
        .await?;
        // Tasks to notify the persons go with the rest of what the use produced.
        let subject_tasks = sqlx::query("DELETE FROM subject_notifications WHERE permit_id = $1")
            .bind(id.clone())
            .execute(&mut **tx)
            .await?
            .rows_affected();
        // Notices of the permit's cameras going unfit: they tell of where the use ran.
        sqlx::query("DELETE FROM camera_notices WHERE permit = $1")
            .bind(id.clone())
            .execute(&mut **tx)
            .await?;
        let key_epoch: i64 = sqlx::query("SELECT epoch FROM permit_keys WHERE permit_id = $1")
            .bind(id.clone())
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| r.try_get("epoch"))
            .transpose()?
            .unwrap_or(0);
        let shredded = sqlx::query("DELETE FROM permit_keys WHERE permit_id = $1")
            .bind(id.clone())
            .execute(&mut **tx)
            .await?
            .rows_affected()
            > 0;
        // The record of the permit stays, for accountability, without its free text: who the
        // persons were, the offence and the reasons. The text was sealed under the data key
        // just deleted; the document keeps markers.
        text::PermitText::mark(permit, text::PURGED);
        permit.purged = true;
        let rule = mandat_law::retention::schedule_of(permit)
            .rule(mandat_law::retention::Data::WholeUse)
            .copied();
        Ok(DeletionCertificate {
            permit: id,
            rule: rule.map(|r| r.id.to_string()).unwrap_or_default(),
            ground: rule.map(|r| r.ground.to_string()).unwrap_or_default(),
            reason: reason.to_string(),
            at: now,
            photos,
            templates,
            alerts,
            alert_media: Vec::new(),
            data_key_replaced: false,
            reviews,
            subject_tasks,
            wrapped_key_deleted: shredded,
            key_epoch,
            key_rotated_to: None,
        })
    }

    pub(crate) async fn data_key(
        &self,
        tx: &mut Tx<'_>,
        permit: &str,
    ) -> Result<SecretKey, StoreError> {
        let row = sqlx::query("SELECT wrapped, epoch FROM permit_keys WHERE permit_id = $1")
            .bind(permit.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| {
                StoreError::NotFound(format!("permit {permit} has no data key (purged?)"))
            })?;
        let epoch: i64 = row.try_get("epoch")?;
        self.unwrap_data_key(&row.try_get::<Vec<u8>, _>("wrapped")?, epoch, permit)
    }

    /// Unwrap a data key under the key of its epoch. Epoch 0 (the master key, which never
    /// rotates) is refused: nothing wrapped under it could ever be shredded.
    fn unwrap_data_key(
        &self,
        wrapped: &[u8],
        epoch: i64,
        permit: &str,
    ) -> Result<SecretKey, StoreError> {
        let key = self.wrap.get(epoch).ok_or_else(|| {
            StoreError::Crypto(format!(
                "the data key of permit {permit} is wrapped under key epoch {epoch}, which this installation does not hold (it holds {:?}): a database older than a key rotation cannot be decrypted, by design; or restore the key directory that belongs to this database",
                self.wrap.epochs()
            ))
        })?;
        key.unwrap_key(wrapped, permit)
    }

    /// The epoch the database is at and its wrapping key, inside a write transaction.
    pub(crate) async fn wrapping_key(
        &self,
        tx: &mut Tx<'_>,
    ) -> Result<(i64, Arc<SecretKey>), StoreError> {
        let epoch: i64 = sqlx::query("SELECT epoch FROM key_epoch WHERE id = 1")
            .fetch_one(&mut **tx)
            .await?
            .try_get("epoch")?;
        let key = self.wrap.get(epoch).ok_or_else(|| {
            StoreError::Config(format!(
                "the database is at key epoch {epoch} but this installation holds the wrapping keys of epochs {:?}: restore the key directory that belongs to this database",
                self.wrap.epochs()
            ))
        })?;
        Ok((epoch, key))
    }

    /// The database's epoch and key check, read under the write lock, so a commit still in
    /// flight is waited for rather than missed.
    async fn db_epoch(&self) -> Result<(i64, Option<String>), StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT epoch, key_check FROM key_epoch WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((row.try_get("epoch")?, row.try_get("key_check")?))
    }

    /// Under the key lock: finish a rotation whose database change committed, or abandon one that
    /// did not. The key check decides, not the epoch number, which a DBA can write: a key is
    /// promoted only when the database holds its check value, and abandoned only when it holds
    /// the current key's. Anything else keeps both keys and refuses.
    async fn settle_rotation(&self, lock: &epochs::KeyLock) -> Result<(), StoreError> {
        let (settled, newest) = (self.wrap.settled(), self.wrap.newest());
        if newest == settled {
            return Ok(());
        }
        let (_, db_check) = self.db_epoch().await?;
        let check_of = |e: i64| self.wrap.get(e).map(|k| epochs::check_value(&k));
        if db_check.is_some() && db_check == check_of(newest) {
            self.wrap.promote(newest, lock)
        } else if db_check.is_some() && db_check == check_of(settled) {
            self.wrap.abandon(newest, lock);
            Ok(())
        } else {
            Err(StoreError::Config(format!(
                "a key rotation from epoch {settled} to {newest} was interrupted and the database's key check matches neither key: both are kept (wrap.key and wrap.key.next); check the key_epoch row and the audit log"
            )))
        }
    }

    /// On open, under the key lock: settle an interrupted rotation, adopt the key directory's
    /// epoch on a database without data keys, and refuse a key directory that is not this
    /// database's (a lost or replaced `wrap.key` must not pass for the right one).
    async fn reconcile_epochs(&self) -> Result<(), StoreError> {
        let _one = self.rotation.lock().await;
        let lock = self.wrap.lock()?;
        self.wrap.reload()?;
        self.settle_rotation(&lock).await?;
        let current = self.wrap.settled();
        let key = self.wrap.get(current).expect("held");
        let check = epochs::check_value(&key);
        let (db, db_check) = self.db_epoch().await?;
        let live: i64 = sqlx::query("SELECT COUNT(*) AS n FROM permit_keys")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        if live == 0 {
            // Nothing is wrapped yet (or any more): the key directory's epoch is the database's.
            sqlx::query("UPDATE key_epoch SET epoch = $1, key_check = $2 WHERE id = 1")
                .bind(current)
                .bind(check)
                .execute(&self.pool)
                .await?;
            return Ok(());
        }
        if db == current {
            if db_check.as_deref() != Some(check.as_str()) {
                return Err(StoreError::Config(format!(
                    "the wrapping key in the key directory is not the key of epoch {db} this database's data keys are wrapped under: restore the key directory that belongs to this database"
                )));
            }
            return Ok(());
        }
        if db > current {
            return Err(StoreError::Config(format!(
                "the database's data keys are wrapped under key epoch {db}, but the key directory holds epoch {current}: restore the key directory that belongs to this database (its wrap.key)"
            )));
        }
        // A database older than the key directory: a backup restored from before a rotation. What
        // it held stays sealed, which is the point; say so, and wrap new data keys under the
        // current epoch (each data key names its own epoch, so the old ones stay unreadable).
        tracing::error!(
            "this database is older than the key directory (epoch {db} < {current}): its {live} data keys cannot be unwrapped; was a backup restored?"
        );
        sqlx::query("UPDATE key_epoch SET epoch = $1, key_check = $2 WHERE id = 1")
            .bind(current)
            .bind(check)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Re-wrap every data key this installation can unwrap under `key` of epoch `to`, and move the
    /// database from epoch `from` to `to`, in one transaction with its audit entry. Fails, changing
    /// nothing, when the database is not at `from` (another process rotated). Returns how many
    /// were re-wrapped and how many could not be unwrapped (left as they are).
    async fn rotate_into(
        &self,
        from: i64,
        to: i64,
        key: &SecretKey,
        actor: &str,
        now: Timestamp,
        origin: &str,
    ) -> Result<(u64, u64), StoreError> {
        let mut tx = self.begin_write().await?;
        let moved_epoch = sqlx::query(
            "UPDATE key_epoch SET epoch = $1, key_check = $2, rotated_at = $3 WHERE id = 1 AND epoch = $4",
        )
        .bind(to)
        .bind(epochs::check_value(key))
        .bind(now.0)
        .bind(from)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved_epoch != 1 {
            return Err(StoreError::Conflict(format!(
                "the database is no longer at key epoch {from}: another process rotated; try again"
            )));
        }
        let rows =
            sqlx::query("SELECT permit_id, wrapped, epoch FROM permit_keys ORDER BY permit_id")
                .fetch_all(&mut *tx)
                .await?;
        let (mut moved, mut unreadable) = (0u64, 0u64);
        for r in rows {
            let id: String = r.try_get("permit_id")?;
            let was: i64 = r.try_get("epoch")?;
            if was == to {
                continue;
            }
            let data_key =
                match self.unwrap_data_key(&r.try_get::<Vec<u8>, _>("wrapped")?, was, &id) {
                    Ok(k) => k,
                    Err(e) => {
                        tracing::error!("key rotation: {e}");
                        unreadable += 1;
                        continue;
                    }
                };
            sqlx::query("UPDATE permit_keys SET wrapped = $1, epoch = $2 WHERE permit_id = $3")
                .bind(key.wrap(&data_key, &id)?)
                .bind(to)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            moved += 1;
        }
        self.append_audit(
            &mut tx,
            Record {
                at: now.0,
                actor: actor.to_string(),
                action: "keys.rotate".into(),
                permit: None,
                origin: origin.into(),
                details: json!({
                    "from_epoch": from,
                    "to_epoch": to,
                    "data_keys_rewrapped": moved,
                    "data_keys_unreadable": unreadable,
                }),
            },
        )
        .await?;
        crash_point("rotate-before-commit");
        tx.commit().await?;
        Ok((moved, unreadable))
    }

    /// Start a new key epoch: re-wrap every live data key under a fresh wrapping key, record it in
    /// the audit log, and destroy the old wrapping key. A copy of the database taken before this
    /// can no longer unwrap any data key it holds, among them those of permits erased since. One
    /// process at a time, under the key directory's lock; it first reads the key files again, so
    /// a process that missed another's rotation never builds on a stale epoch.
    pub async fn rotate_keys(
        &self,
        actor: &str,
        now: Timestamp,
        origin: &str,
    ) -> Result<KeyRotation, StoreError> {
        self.check_clock(now)?;
        let _one = self.rotation.lock().await;
        let lock = self.wrap.lock()?;
        self.wrap.reload()?;
        self.settle_rotation(&lock).await?;
        let from = self.wrap.settled();
        let (to, key) = self.wrap.stage(&lock)?;
        crash_point("rotate-after-stage");
        match self.rotate_into(from, to, &key, actor, now, origin).await {
            Ok((rewrapped, unreadable)) => {
                crash_point("rotate-before-promote");
                self.wrap.promote(to, &lock)?;
                drop(lock);
                // The old wrapped keys linger in freed pages and the WAL until settled.
                self.settle_erasure().await;
                Ok(KeyRotation {
                    from_epoch: from,
                    to_epoch: to,
                    at: now,
                    data_keys_rewrapped: rewrapped,
                    data_keys_unreadable: unreadable,
                })
            }
            // Refused before anything was written (the database moved): nothing committed.
            Err(e @ StoreError::Conflict(_)) => {
                self.wrap.abandon(to, &lock);
                Err(e)
            }
            Err(e) => {
                // A commit can fail after it took effect (a connection lost at the wrong moment):
                // the database's key check says which key it holds before any key is thrown away.
                if let Err(again) = self.settle_rotation(&lock).await {
                    tracing::error!(
                        "a key rotation failed ({e}) and could not be settled ({again}): wrap.key.next is kept; the next start settles it"
                    );
                }
                Err(e)
            }
        }
    }

    /// Start the current epoch's clock for the daily rotation, once (a fresh epoch reads 0).
    pub async fn start_epoch_clock(&self, now: Timestamp) -> Result<(), StoreError> {
        sqlx::query("UPDATE key_epoch SET rotated_at = $1 WHERE id = 1 AND rotated_at = 0")
            .bind(now.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The key epoch the database is at and when it was last rotated (ms; 0: never).
    pub async fn key_epoch(&self) -> Result<(i64, Timestamp), StoreError> {
        let row = sqlx::query("SELECT epoch, rotated_at FROM key_epoch WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok((row.try_get("epoch")?, Timestamp(row.try_get("rotated_at")?)))
    }

    /// Enrol a reference photo and its template for a designated person. Both are sealed with the
    /// permit's data key. The caller has already passed the photo through the quality gate.
    #[allow(clippy::too_many_arguments)]
    pub async fn enrol(
        &self,
        actor: &Actor,
        permit_id: &str,
        person: &PersonId,
        photo_id: &str,
        photo: &[u8],
        template: &[f32],
        quality: &mandat_law::permit::PhotoQuality,
        now: Timestamp,
        origin: &str,
    ) -> Result<(), StoreError> {
        let permit = self.permit(permit_id).await?;
        let ph = enrol_check(&permit, actor, person, photo_id)?;
        let mut tx = self.begin_write().await?;
        let key = self.data_key(&mut tx, permit_id).await?;
        let tid = format!("{photo_id}.t");
        // The associated data binds each ciphertext to its row, so rows cannot be swapped.
        let photo_sealed = key.seal(photo, format!("photo:{permit_id}/{photo_id}").as_bytes())?;
        let bytes: Vec<u8> = template.iter().flat_map(|v| v.to_le_bytes()).collect();
        let tpl_sealed = key.seal(&bytes, format!("template:{permit_id}/{tid}").as_bytes())?;
        let quality_sealed = key.seal(
            &serde_json::to_vec(quality).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            format!("photo-quality:{permit_id}/{photo_id}").as_bytes(),
        )?;
        sqlx::query("INSERT INTO photos (id, permit_id, person_id, source, sealed, quality_sealed) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(photo_id.to_string())
            .bind(permit_id.to_string())
            .bind(person.clone())
            .bind(ph.source.clone())
            .bind(photo_sealed)
            .bind(quality_sealed)
            .execute(&mut *tx)
            .await
            .map_err(|e| match e {
                sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(format!(
                    "photo {photo_id} of permit {permit_id} is enrolled already"
                )),
                other => other.into(),
            })?;
        sqlx::query("INSERT INTO templates (id, permit_id, person_id, photo_id, sealed) VALUES ($1, $2, $3, $4, $5)")
            .bind(tid.clone())
            .bind(permit_id.to_string())
            .bind(person.clone())
            .bind(photo_id.to_string())
            .bind(tpl_sealed)
            .execute(&mut *tx)
            .await?;
        self.bump_scope(&mut tx).await?;
        self.append_audit(
            &mut tx,
            Record {
                at: now.0,
                actor: actor.user.clone(),
                action: "person.enrol".into(),
                permit: Some(permit_id.into()),
                origin: origin.into(),
                details: json!({"person": person, "photo": photo_id, "template": tid}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every permit with its decrypted templates: the input of the scope function. Purged permits
    /// have no templates left (and no key to decrypt them).
    pub async fn snapshot(&self) -> Result<Vec<(Permit, Vec<(PersonId, Template)>)>, StoreError> {
        let mut out = Vec::new();
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(PERMITS_ALL).fetch_all(&mut *tx).await?;
        for p in self.intact_permits(&rows)? {
            let rows = sqlx::query(
                "SELECT id, person_id, sealed FROM templates WHERE permit_id = $1 ORDER BY id",
            )
            .bind(p.id.clone())
            .fetch_all(&mut *tx)
            .await?;
            let mut tpls = Vec::new();
            if !rows.is_empty() {
                let key = self.data_key(&mut tx, &p.id).await?;
                for r in rows {
                    let id: String = r.try_get("id")?;
                    let mut plain = key.open(
                        &r.try_get::<Vec<u8>, _>("sealed")?,
                        format!("template:{}/{id}", p.id).as_bytes(),
                    )?;
                    let values = plain
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect();
                    crypto::wipe(&mut plain);
                    tpls.push((
                        r.try_get::<String, _>("person_id")?,
                        Template {
                            id,
                            values,
                            norm: None,
                        },
                    ));
                }
            }
            out.push((p, tpls));
        }
        tx.commit().await?;
        Ok(out)
    }

    /// (person, template id) of every template of a permit, without decrypting any.
    pub async fn template_ids(&self, permit: &str) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query("SELECT person_id, id FROM templates WHERE permit_id = $1 ORDER BY id")
            .bind(permit.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("person_id")?, r.try_get("id")?)))
            .collect()
    }

    /// The photos enrolled for a permit, with what the quality gate measured on each (`None` for
    /// a photo enrolled before that was kept), by id.
    pub async fn enrolled_photo_qualities(
        &self,
        permit: &str,
    ) -> Result<Vec<EnrolledPhoto>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, person_id, quality_sealed FROM photos WHERE permit_id = $1 ORDER BY id",
        )
        .bind(permit.to_string())
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await?;
        let key = self.data_key(&mut tx, permit).await?;
        tx.commit().await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: String = r.try_get("id")?;
            let quality =
                match r.try_get::<Option<Vec<u8>>, _>("quality_sealed")? {
                    None => None,
                    Some(sealed) => {
                        let plain =
                            key.open(&sealed, format!("photo-quality:{permit}/{id}").as_bytes())?;
                        Some(serde_json::from_slice(&plain).map_err(|e| {
                            StoreError::Corrupt(format!("quality of photo {id}: {e}"))
                        })?)
                    }
                };
            out.push(EnrolledPhoto {
                person: r.try_get("person_id")?,
                id,
                quality,
            });
        }
        Ok(out)
    }

    /// One enrolled reference photo of a permit, decrypted.
    pub async fn enrolled_photo(&self, permit: &str, photo: &str) -> Result<Vec<u8>, StoreError> {
        let row = sqlx::query("SELECT sealed FROM photos WHERE permit_id = $1 AND id = $2")
            .bind(permit.to_string())
            .bind(photo.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| {
                StoreError::NotFound(format!("no enrolled photo {photo} in permit {permit}"))
            })?;
        let mut tx = self.pool.begin().await?;
        let key = self.data_key(&mut tx, permit).await?;
        tx.commit().await?;
        key.open(
            &row.try_get::<Vec<u8>, _>("sealed")?,
            format!("photo:{permit}/{photo}").as_bytes(),
        )
    }

    /// Ids of the photos enrolled for a permit.
    pub async fn enrolled_photos(&self, permit: &str) -> Result<Vec<String>, StoreError> {
        sqlx::query("SELECT id FROM photos WHERE permit_id = $1 ORDER BY id")
            .bind(permit.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok(r.try_get("id")?))
            .collect()
    }

    /// A number that grows with every change that can change a watchlist. The scope cache reloads
    /// when it moves, so a change made by another process reaches the engine quickly.
    pub async fn generation(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT n FROM scope_generation WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Mark, inside the change's own transaction, that watchlists may have changed.
    pub(crate) async fn bump_scope(&self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        sqlx::query("UPDATE scope_generation SET n = n + 1 WHERE id = 1")
            .execute(&mut **tx)
            .await?;
        self.notify(tx, SCOPE_CHANNEL, "").await
    }

    /// Announce a change to the other processes on the database, delivered when `tx` commits and
    /// not at all if it rolls back (PostgreSQL; SQLite has one process and nothing to tell).
    pub(crate) async fn notify(
        &self,
        tx: &mut Tx<'_>,
        channel: &str,
        payload: &str,
    ) -> Result<(), StoreError> {
        if self.kind == DbKind::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel.to_string())
                .bind(payload.to_string())
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Announce that an alert is new or changed.
    pub(crate) async fn notify_alert(&self, tx: &mut Tx<'_>, id: &str) -> Result<(), StoreError> {
        self.notify(tx, ALERT_CHANNEL, &format!("{}:{id}", self.tag))
            .await
    }

    /// Listen to what other processes on this database announce; `None` on SQLite, where there
    /// are none. Scope changes and alerts are pushed, so a stop or an alert made through one
    /// control replica reaches every other at once, not at its next poll.
    pub async fn listen(&self) -> Result<Option<Listener>, StoreError> {
        let Some(url) = &self.listen_url else {
            return Ok(None);
        };
        let mut inner = sqlx::postgres::PgListener::connect(url).await?;
        inner.listen_all([SCOPE_CHANNEL, ALERT_CHANNEL]).await?;
        Ok(Some(Listener {
            inner,
            own_tag: self.tag.clone(),
        }))
    }

    /// Row counts of biometric tables for a permit (tests and the deletion check).
    pub async fn biometric_rows(&self, permit: &str) -> Result<i64, StoreError> {
        let mut n = 0;
        for count in [
            "SELECT COUNT(*) AS n FROM photos WHERE permit_id = $1",
            "SELECT COUNT(*) AS n FROM templates WHERE permit_id = $1",
            "SELECT COUNT(*) AS n FROM alerts WHERE permit_id = $1",
            "SELECT COUNT(*) AS n FROM alert_sightings WHERE permit_id = $1",
            "SELECT COUNT(*) AS n FROM permit_keys WHERE permit_id = $1",
        ] {
            let c: i64 = sqlx::query(count)
                .bind(permit.to_string())
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?;
            n += c;
        }
        Ok(n)
    }

    /// Close every connection; later calls fail (and the scope cache then fails closed).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A designated person's template, decrypted in memory only. Wiped when dropped; never printed.
#[derive(Clone, PartialEq)]
pub struct Template {
    /// The template's row id (`<photo id>.t`), used in watchlist versions and certificates.
    pub id: String,
    pub values: Vec<f32>,
    /// Its norm against the cohort of its permit's target, set by the scope cache when the
    /// permit has per-template thresholds; never stored.
    pub norm: Option<mandat_law::TemplateNorm>,
}

impl mandat_law::Normed for Template {
    fn template_norm(&self) -> Option<&mandat_law::TemplateNorm> {
        self.norm.as_ref()
    }
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Template({}, redacted)", self.id)
    }
}

impl Drop for Template {
    fn drop(&mut self) {
        for v in self.values.iter_mut() {
            // SAFETY: valid exclusive reference; volatile so the wipe is not optimised away.
            unsafe { std::ptr::write_volatile(v, 0.0) };
        }
    }
}

/// Read the audit log of a database without any key: what `mandat audit verify` runs offline.
pub async fn read_audit_log(url: &str) -> Result<(Vec<Entry>, Vec<Checkpoint>), StoreError> {
    sqlx::any::install_default_drivers();
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        check_postgres_tls(url)?;
    }
    let url = if url.starts_with("sqlite:") && !url.contains('?') {
        // Read-only: verifying must never create or change the database.
        format!("{url}?mode=ro")
    } else {
        url.to_string()
    };
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await?;
    let log = audit_log_from(&pool).await;
    pool.close().await;
    log
}

async fn audit_log_from(pool: &AnyPool) -> Result<(Vec<Entry>, Vec<Checkpoint>), StoreError> {
    let entries = sqlx::query(
        "SELECT seq, at, actor, action, permit, origin, details, prev_hash, hash FROM audit_log ORDER BY seq",
    )
    .fetch_all(pool)
    .await?
    .iter()
    .map(entry_from_row)
    .collect::<Result<Vec<_>, _>>()?;
    let cps =
        sqlx::query("SELECT seq, hash, at, pubkey, signature FROM audit_checkpoints ORDER BY seq")
            .fetch_all(pool)
            .await?
            .iter()
            .map(checkpoint_from_row)
            .collect::<Result<Vec<_>, _>>()?;
    Ok((entries, cps))
}

/// The ids a permit has in one table, then the rows deleted: what a deletion certificate lists.
pub(crate) async fn delete_listing(
    tx: &mut Tx<'_>,
    permit: &str,
    select: &'static str,
    delete: &'static str,
) -> Result<Vec<String>, StoreError> {
    let ids = sqlx::query(select)
        .bind(permit.to_string())
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("id"))
        .collect::<Result<Vec<_>, _>>()?;
    sqlx::query(delete)
        .bind(permit.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(ids)
}

pub(crate) fn entry_from_row(r: &AnyRow) -> Result<Entry, StoreError> {
    let details: String = r.try_get("details")?;
    Ok(Entry {
        seq: r.try_get::<i64, _>("seq")? as u64,
        at: r.try_get("at")?,
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        permit: r.try_get("permit")?,
        origin: r.try_get("origin")?,
        details: serde_json::from_str(&details)
            .map_err(|e| StoreError::Corrupt(format!("audit details: {e}")))?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

/// The newest checkpoint of a database, through a pool or inside a transaction.
pub(crate) async fn head_of<'e, E>(db: E) -> Result<Option<Checkpoint>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "SELECT seq, hash, at, pubkey, signature FROM audit_checkpoints ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(checkpoint_from_row)
    .transpose()
}

/// A row of `audit_checkpoints` (seq, hash, at, pubkey, signature).
pub(crate) fn checkpoint_from_row(r: &AnyRow) -> Result<Checkpoint, StoreError> {
    Ok(Checkpoint {
        seq: r.try_get::<i64, _>("seq")? as u64,
        hash: r.try_get("hash")?,
        at: r.try_get("at")?,
        key: r.try_get("pubkey")?,
        signature: r.try_get("signature")?,
    })
}

/// A PostgreSQL server off this host is reached over TLS with its certificate checked
/// (`sslmode=verify-full`), never `prefer`, which falls back to clear text when TLS fails.
/// Loopback and Unix sockets stay on the host and may go without. The URL is read by sqlx's own
/// parser, so `hostaddr=`, `ssl-mode=`, repeated parameters and `PGHOST` are judged as sqlx will
/// use them.
fn check_postgres_tls(url: &str) -> Result<(), StoreError> {
    use sqlx::postgres::{PgConnectOptions, PgSslMode};
    use std::str::FromStr;
    let o = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Config(format!("database URL: {e}")))?;
    let host = o.get_host();
    let local = o.get_socket().is_some()
        || host == "localhost"
        || host.starts_with('/')
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if local || matches!(o.get_ssl_mode(), PgSslMode::VerifyFull) {
        return Ok(());
    }
    Err(StoreError::Config(format!(
        "the PostgreSQL server {host} is off this host and the URL does not ask for sslmode=verify-full: mandat only reaches a remote database over TLS with its certificate checked. Add ?sslmode=verify-full&sslrootcert=/path/to/ca.pem"
    )))
}

/// The SQLite database, its WAL and shared-memory files: readable by the server's user only,
/// whatever the umask of whoever created them.
fn restrict_sqlite_files(url: &str) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:")
            .split('?')
            .next()
            .unwrap_or_default();
        for suffix in ["", "-wal", "-shm"] {
            let f = format!("{path}{suffix}");
            if std::path::Path::new(&f).is_file()
                && let Err(e) = std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600))
            {
                tracing::warn!("cannot make {f} private: {e}");
            }
        }
    }
}

/// Whether `actor` may enrol photo `photo_id` of `person` into `permit`: its applicant, while it is
/// a draft, for a person and photo the application lists. Checked before the server runs the face
/// pipeline on an upload, and again when the photo is stored.
pub fn enrol_check<'a>(
    permit: &'a Permit,
    actor: &Actor,
    person: &str,
    photo_id: &str,
) -> Result<&'a mandat_law::permit::PhotoRef, StoreError> {
    if permit.status != mandat_law::Status::Draft {
        return Err(mandat_law::rule::WRONG_STATE
            .refusal(format!(
                "photos are enrolled while permit {} is a draft; it is {:?}",
                permit.id, permit.status
            ))
            .into());
    }
    if actor.user != permit.applicant {
        return Err(StoreError::Refused(format!(
            "only the permit's applicant enrols its photos; {} is not",
            actor.user
        )));
    }
    let Some(p) = permit.application.persons.iter().find(|p| p.id == person) else {
        return Err(StoreError::Refused(format!(
            "{person} is not a designated person of permit {}",
            permit.id
        )));
    };
    let Some(ph) = p.photos.iter().find(|ph| ph.id == photo_id) else {
        return Err(StoreError::Refused(format!(
            "photo {photo_id} is not listed for {person} in permit {}",
            permit.id
        )));
    };
    Ok(ph)
}

/// An enrolled reference photo: whose, and what the quality gate measured on it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnrolledPhoto {
    pub id: String,
    pub person: PersonId,
    pub quality: Option<mandat_law::permit::PhotoQuality>,
}

/// Whether a permit names a camera: its area, or an amendment waiting for its decider. Either way
/// the camera's id and stream are the ones the decider sees, and must stay so.
fn names_camera(p: &Permit, id: &str) -> bool {
    p.application.area.covers(id)
        || p.open_amendment()
            .is_some_and(|a| a.cameras.iter().any(|c| c == id))
}

/// Test hook for the crash-safety test: with `MANDAT_CRASH_AT=<name>` set, the process stops hard at
/// that point, as a power cut or `kill -9` would. Names: `transition-before-commit`, `purge-midway`.
pub(crate) fn crash_point(name: &str) {
    if std::env::var("MANDAT_CRASH_AT").is_ok_and(|v| v == name) {
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_postgres_needs_verified_tls() {
        for ok in [
            "postgres://u:p@127.0.0.1:5432/db",
            "postgres://u:p@localhost/db",
            "postgres://u@[::1]/db",
            "postgres:///db?host=/var/run/postgresql",
            "postgres://u:p@db.police.example/db?sslmode=verify-full&sslrootcert=/etc/mandat/ca.pem",
        ] {
            assert!(check_postgres_tls(ok).is_ok(), "{ok}");
        }
        for bad in [
            "postgres://u:p@db.police.example/db",
            "postgres://u:p@db.police.example/db?sslmode=prefer",
            "postgres://u:p@db.police.example/db?sslmode=require",
            "postgres://u:p@10.1.2.3/db?sslmode=disable",
            "postgres://u:p@localhost/db?hostaddr=10.1.2.3",
            "postgres://u:p@db.police.example/db?sslmode=verify-full&ssl-mode=disable",
        ] {
            let e = check_postgres_tls(bad).unwrap_err().to_string();
            assert!(e.contains("sslmode=verify-full"), "{bad}: {e}");
        }
    }
}

/// Key epochs against crashes, stale processes and a key directory that is not the database's.
#[cfg(test)]
mod epoch_tests {
    use super::*;

    const MASTER: &str = "1111111111111111111111111111111111111111111111111111111111111111";

    async fn open(dir: &std::path::Path) -> Result<Store, StoreError> {
        let file = dir.join("wrap.key");
        if !file.exists() {
            WrapKeys::create(&file)?;
        }
        Store::open(
            &format!("sqlite://{}", dir.join("m.db").display()),
            SecretKey::from_hex(MASTER, "master")?,
            AuditKey::from_bytes([9; 32]),
            WrapKeys::file(&file)?,
        )
        .await
    }

    /// A permit row with a data key wrapped under the current epoch; returns the data key.
    async fn seed(store: &Store, id: &str) -> String {
        let data_key = SecretKey::random().unwrap();
        let mut tx = store.begin_write().await.unwrap();
        let (epoch, wrapping) = store.wrapping_key(&mut tx).await.unwrap();
        sqlx::query(
            "INSERT INTO permits (id, doc, status, updated_at) VALUES ($1, '{}', 'Draft', 0)",
        )
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::query("INSERT INTO permit_keys (permit_id, wrapped, epoch) VALUES ($1, $2, $3)")
            .bind(id.to_string())
            .bind(wrapping.wrap(&data_key, id).unwrap())
            .bind(epoch)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        data_key.to_hex()
    }

    async fn key_of(store: &Store, id: &str) -> Result<String, StoreError> {
        let mut tx = store.pool.begin().await?;
        let k = store.data_key(&mut tx, id).await?;
        tx.commit().await?;
        Ok(k.to_hex())
    }

    fn t(ms: i64) -> Timestamp {
        Timestamp(1_800_000_000_000 + ms)
    }

    #[tokio::test]
    async fn permit_text_stored_in_plain_before_sealing_is_sealed_when_the_store_opens() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path()).await.unwrap();
        seed(&store, "P-x").await;
        // The record as mandat wrote it before: the text in the document, nothing sealed.
        let mut purged = text::tests::permit();
        purged.id = "P-purged".into();
        purged.purged = true;
        // A use that ended, whose key went with its last image before text was sealed.
        let mut ended = text::tests::permit();
        ended.id = "P-ended".into();
        for (p, with_key) in [
            (text::tests::permit(), true),
            (purged, false),
            (ended, false),
        ] {
            let doc = serde_json::to_string(&p).unwrap();
            if !with_key {
                sqlx::query("INSERT INTO permits (id, doc, status, updated_at) VALUES ($1, '', 'Refused', 0)")
                    .bind(p.id.clone())
                    .execute(&store.pool)
                    .await
                    .unwrap();
            }
            sqlx::query("UPDATE permits SET doc = $1, sealed = NULL, mac = $2 WHERE id = $3")
                .bind(doc.clone())
                .bind(store.permit_mac(&p.id, &doc, None))
                .bind(p.id.clone())
                .execute(&store.pool)
                .await
                .unwrap();
        }
        // And one record that cannot be read at all: it holds back neither the others nor the start.
        sqlx::query("INSERT INTO permits (id, doc, status, updated_at, mac) VALUES ('P-bad', '{broken', 'Draft', 0, $1)")
            .bind(store.permit_mac("P-bad", "{broken", None))
            .execute(&store.pool)
            .await
            .unwrap();
        store.close().await;
        let store = open(dir.path()).await.unwrap();
        let p = store.permit("P-x").await.unwrap();
        assert_eq!(p, text::tests::permit(), "the text reads back");
        let gone = store.permit("P-purged").await.unwrap();
        assert_eq!(gone.application.reasons.necessity, text::PURGED);
        let mut ended = store.permit("P-ended").await.unwrap();
        ended.id = "P-x".into();
        assert_eq!(
            ended,
            text::tests::permit(),
            "sealed under a key of its own"
        );
        // Once sealed, a later start has nothing to do: the purged record is left as it is.
        async fn stored(store: &Store) -> (String, String) {
            let r = sqlx::query("SELECT doc, mac FROM permits WHERE id = 'P-purged'")
                .fetch_one(&store.pool)
                .await
                .unwrap();
            (r.get("doc"), r.get("mac"))
        }
        let before = stored(&store).await;
        store.close().await;
        let store = open(dir.path()).await.unwrap();
        assert_eq!(before, stored(&store).await);
        store.close().await;
        // And no byte of it is left in plain anywhere in the database's files.
        let mut all = Vec::new();
        for f in std::fs::read_dir(dir.path()).unwrap() {
            all.extend(std::fs::read(f.unwrap().path()).unwrap());
        }
        for s in text::tests::TEXT {
            assert!(
                !all.windows(s.len()).any(|w| w == s.as_bytes()),
                "{s} left on disk"
            );
        }
    }

    #[tokio::test]
    async fn a_crash_before_the_commit_abandons_the_rotation_and_after_it_finishes_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path()).await.unwrap();
        let k = seed(&store, "P-1").await;
        // Crash after the next key was written, before the database changed.
        let lock = store.wrap.lock().unwrap();
        store.wrap.stage(&lock).unwrap();
        drop(lock);
        store.close().await;
        let store = open(dir.path()).await.unwrap();
        assert_eq!(store.wrap.epochs(), vec![1], "abandoned");
        assert!(!dir.path().join("wrap.key.next").exists());
        assert_eq!(key_of(&store, "P-1").await.unwrap(), k);
        // Crash after the commit, before the key file was swapped.
        let lock = store.wrap.lock().unwrap();
        let (to, key) = store.wrap.stage(&lock).unwrap();
        store
            .rotate_into(1, to, &key, "test", t(0), "test")
            .await
            .unwrap();
        drop(lock);
        store.close().await;
        let store = open(dir.path()).await.unwrap();
        assert_eq!(store.wrap.epochs(), vec![2], "finished");
        assert!(
            std::fs::read_to_string(dir.path().join("wrap.key"))
                .unwrap()
                .contains("epoch 2")
        );
        assert_eq!(key_of(&store, "P-1").await.unwrap(), k);
    }

    #[tokio::test]
    async fn a_process_that_missed_a_rotation_rotates_without_losing_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let a = open(dir.path()).await.unwrap();
        let k1 = seed(&a, "P-1").await;
        // Another process on the same database and key directory, opened before A rotates.
        let b = open(dir.path()).await.unwrap();
        a.rotate_keys("a", t(0), "test").await.unwrap();
        assert_eq!(b.wrap.epochs(), vec![1], "B has not looked");
        let r = b.rotate_keys("b", t(1), "test").await.unwrap();
        assert_eq!((r.from_epoch, r.to_epoch), (2, 3));
        assert_eq!(r.data_keys_rewrapped, 1);
        let k2 = seed(&b, "P-2").await;
        for s in [&a, &b] {
            assert_eq!(key_of(s, "P-1").await.unwrap(), k1);
            assert_eq!(key_of(s, "P-2").await.unwrap(), k2);
        }
        b.close().await;
        a.close().await;
        let again = open(dir.path()).await.unwrap();
        assert_eq!(again.wrap.epochs(), vec![3]);
        assert_eq!(key_of(&again, "P-1").await.unwrap(), k1);
    }

    #[tokio::test]
    async fn a_dba_who_moves_the_epoch_cannot_make_mandat_destroy_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path()).await.unwrap();
        let k = seed(&store, "P-1").await;
        sqlx::query("UPDATE key_epoch SET epoch = epoch + 1")
            .execute(&store.pool)
            .await
            .unwrap();
        let err = store.rotate_keys("t", t(0), "test").await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        assert_eq!(store.wrap.epochs(), vec![1], "the live key is kept");
        assert!(!dir.path().join("wrap.key.next").exists());
        assert_eq!(key_of(&store, "P-1").await.unwrap(), k);
    }

    #[tokio::test]
    async fn an_interrupted_rotation_under_a_forged_epoch_keeps_both_keys_and_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path()).await.unwrap();
        let k = seed(&store, "P-1").await;
        let lock = store.wrap.lock().unwrap();
        store.wrap.stage(&lock).unwrap();
        drop(lock);
        // A DBA writes the next epoch, hoping mandat promotes a key that wraps nothing.
        sqlx::query("UPDATE key_epoch SET epoch = 2, key_check = 'forged'")
            .execute(&store.pool)
            .await
            .unwrap();
        store.close().await;
        let err = open(dir.path()).await.err().expect("refused").to_string();
        assert!(err.contains("matches neither key"), "{err}");
        assert!(dir.path().join("wrap.key").exists());
        assert!(dir.path().join("wrap.key.next").exists());
        // Put right, the data is all there.
        let store = open_raw(dir.path()).await;
        sqlx::query("UPDATE key_epoch SET epoch = 1, key_check = $1")
            .bind(epochs::check_value(&wrap_key_of(dir.path())))
            .execute(&store)
            .await
            .unwrap();
        store.close().await;
        let store = open(dir.path()).await.unwrap();
        assert_eq!(key_of(&store, "P-1").await.unwrap(), k);
    }

    async fn open_raw(dir: &std::path::Path) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::AnyPool::connect(&format!("sqlite://{}", dir.join("m.db").display()))
            .await
            .unwrap()
    }

    fn wrap_key_of(dir: &std::path::Path) -> SecretKey {
        let text = std::fs::read_to_string(dir.join("wrap.key")).unwrap();
        SecretKey::from_hex(text.lines().nth(2).unwrap(), "wrap").unwrap()
    }

    /// A gate that checks the chain after an entry must not mistake another request's append for
    /// a hole (schemathesis found that race), and must still see what an insider does: an entry
    /// renamed in place, one added past the head, one deleted from the middle.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_chain_after_an_entry_is_whole_under_concurrent_appends_and_a_cut_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(open(dir.path()).await.unwrap());
        let rec = |i: i64| Record {
            at: t(i).0,
            actor: "t".into(),
            action: "test.append".into(),
            permit: None,
            origin: "test".into(),
            details: serde_json::json!({ "i": i }),
        };
        let first = store.record(rec(0)).await.unwrap();
        let writer = {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 1..200 {
                    store.record(rec(i)).await.unwrap();
                }
            })
        };
        let mut checks = 0;
        while !writer.is_finished() {
            store.audit_whole_after(first.seq).await.unwrap();
            checks += 1;
        }
        writer.await.unwrap();
        assert!(checks > 0);
        store.audit_whole_after(first.seq).await.unwrap();
        let edit = async |sql: &'static str, seq: u64| {
            sqlx::query(sql)
                .bind(seq as i64)
                .execute(&store.pool)
                .await
                .unwrap();
        };
        let tampered = async || {
            let err = store.audit_whole_after(first.seq).await.unwrap_err();
            assert!(matches!(err, StoreError::Tampered(_)), "{err}");
        };
        // An insider renames a newer entry (a newer evaluation, say) so a filter misses it.
        edit(
            "UPDATE audit_log SET action = 'test.hidden' WHERE seq = $1",
            first.seq + 10,
        )
        .await;
        tampered().await;
        edit(
            "UPDATE audit_log SET action = 'test.append' WHERE seq = $1",
            first.seq + 10,
        )
        .await;
        store.audit_whole_after(first.seq).await.unwrap();
        // An entry added past the signed head, without a checkpoint the DBA cannot sign.
        let head = store.audit_head().await.unwrap().unwrap().seq;
        edit(
            "INSERT INTO audit_log (seq, at, actor, action, permit, origin, details, prev_hash, hash) \
             SELECT $1 + 1, at, actor, action, permit, origin, details, hash, hash FROM audit_log WHERE seq = $1",
            head,
        )
        .await;
        tampered().await;
        edit("DELETE FROM audit_log WHERE seq = $1", head + 1).await;
        store.audit_whole_after(first.seq).await.unwrap();
        // An insider deletes an entry in the middle: the chain no longer reaches the head.
        sqlx::query("DELETE FROM audit_log WHERE seq = $1")
            .bind(first.seq as i64 + 50)
            .execute(&store.pool)
            .await
            .unwrap();
        let err = store.audit_whole_after(first.seq).await.unwrap_err();
        assert!(matches!(err, StoreError::Tampered(_)), "{err}");
    }

    #[tokio::test]
    async fn a_key_directory_that_is_not_the_databases_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path()).await.unwrap();
        seed(&store, "P-1").await;
        store.close().await;
        // The key lost and made up again: same epoch, another key.
        std::fs::remove_file(dir.path().join("wrap.key")).unwrap();
        let err = open(dir.path()).await.err().expect("refused").to_string();
        assert!(err.contains("not the key of epoch 1"), "{err}");
        // And a key directory that is a rotation behind.
        let other = tempfile::tempdir().unwrap();
        let store = open(other.path()).await.unwrap();
        seed(&store, "P-1").await;
        let behind = std::fs::read(other.path().join("wrap.key")).unwrap();
        store.rotate_keys("t", t(0), "test").await.unwrap();
        store.close().await;
        std::fs::write(other.path().join("wrap.key"), behind).unwrap();
        let err = open(other.path()).await.err().expect("refused").to_string();
        assert!(err.contains("restore the key directory"), "{err}");
    }
}
