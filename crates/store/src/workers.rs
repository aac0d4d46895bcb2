//! Workers and their camera leases (migration 0014). A lease is timed by the database's clock, so
//! no host's clock decides who may process a camera; its epoch, new on every assignment, fences a
//! worker that lost its camera from sending anything for it. Renewals run outside the audit lock
//! and are not chained; every enrolment, disabling, assignment and release is.

use mandat_audit::Record;
use mandat_law::{Actor, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

use crate::{DbKind, Store, StoreError};

/// A worker as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkerRecord {
    pub id: String,
    /// The sha256 of its certificate (DER), hex; none for a worker embedded in a control process.
    pub fingerprint: Option<String>,
    pub capacity: u32,
    pub enabled: bool,
    pub enrolled_at: i64,
    /// The admin who enrolled it, and the second admin who approved it: until then it gets
    /// nothing. Embedded workers are approved by `system`.
    pub enrolled_by: Option<String>,
    pub approved_at: Option<i64>,
    pub approved_by: Option<String>,
    pub disabled_at: Option<i64>,
    /// The database time of its last lease renewal.
    pub last_seen: Option<i64>,
}

/// Who may process a camera, until when (database time, ms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Lease {
    pub camera: String,
    pub worker: String,
    pub epoch: i64,
    pub granted_at: i64,
    pub lease_until: i64,
}

/// A change placement decided, as the store applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseChange {
    Assign {
        camera: String,
        worker: String,
    },
    Release {
        camera: String,
        worker: String,
        /// The lease's epoch: a release never takes a newer lease of the camera.
        epoch: i64,
        reason: String,
    },
}

const WORKER_COLUMNS: &str = "id, fingerprint, capacity, enabled, enrolled_at, enrolled_by, approved_at, approved_by, disabled_at, last_seen, mac FROM workers";

const LEASE_COLUMNS: &str = "camera_id, worker_id, epoch, granted_at, lease_until FROM assignments";

fn worker_from_row(r: &sqlx::any::AnyRow) -> Result<WorkerRecord, StoreError> {
    Ok(WorkerRecord {
        id: r.try_get("id")?,
        fingerprint: r.try_get("fingerprint")?,
        capacity: r.try_get::<i64, _>("capacity")?.clamp(0, u32::MAX as i64) as u32,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        enrolled_at: r.try_get("enrolled_at")?,
        enrolled_by: r.try_get("enrolled_by")?,
        approved_at: r.try_get("approved_at")?,
        approved_by: r.try_get("approved_by")?,
        disabled_at: r.try_get("disabled_at")?,
        last_seen: r.try_get("last_seen")?,
    })
}

fn lease_from_row(r: &sqlx::any::AnyRow) -> Result<Lease, StoreError> {
    Ok(Lease {
        camera: r.try_get("camera_id")?,
        worker: r.try_get("worker_id")?,
        epoch: r.try_get("epoch")?,
        granted_at: r.try_get("granted_at")?,
        lease_until: r.try_get("lease_until")?,
    })
}

/// The database's clock in ms since the epoch (`clock_timestamp()`, not the transaction's start).
fn now_sql(kind: DbKind) -> &'static str {
    match kind {
        DbKind::Postgres => {
            "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) AS now"
        }
        DbKind::Sqlite => {
            "SELECT CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER) AS now"
        }
    }
}

/// A worker id: what certificates, leases and the log name it by.
pub fn valid_worker_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
}

impl Store {
    /// The MAC of a worker's row: every field but `last_seen` (renewals write it outside the
    /// audit lock and it grants nothing), bound to the id.
    fn worker_mac(&self, w: &WorkerRecord) -> String {
        let doc = json!([
            w.id,
            w.fingerprint,
            w.capacity,
            w.enabled,
            w.enrolled_at,
            w.enrolled_by,
            w.approved_at,
            w.approved_by,
            w.disabled_at
        ]);
        hex::encode(self.master.mac("worker", doc.to_string().as_bytes()))
    }

    /// A worker's row as read, or `None` (logged) when it was changed outside mandat.
    fn sealed_worker(&self, r: &sqlx::any::AnyRow) -> Result<Option<WorkerRecord>, StoreError> {
        let w = worker_from_row(r)?;
        let have: Option<String> = r.try_get("mac")?;
        let want = self.worker_mac(&w);
        if have.is_some_and(|h| crate::crypto::constant_time_eq(h.as_bytes(), want.as_bytes())) {
            Ok(Some(w))
        } else {
            tracing::error!(
                worker = %w.id,
                "the row of worker {} was changed outside mandat (its MAC does not match): it gets nothing; disable it and enrol the machine again",
                w.id
            );
            Ok(None)
        }
    }

    /// Write `w` whole, with the MAC of exactly these values, in one statement. The MAC is never
    /// taken of what the row holds afterwards: a trigger or a concurrent edit that changes a value
    /// makes a row that is refused, not one mandat vouches for.
    async fn write_worker(
        &self,
        tx: &mut crate::Tx<'_>,
        w: &WorkerRecord,
        insert: bool,
    ) -> Result<(), StoreError> {
        let sql = if insert {
            "INSERT INTO workers (id, fingerprint, capacity, enabled, enrolled_at, enrolled_by, approved_at, approved_by, disabled_at, mac) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        } else {
            "UPDATE workers SET fingerprint = $2, capacity = $3, enabled = $4, enrolled_at = $5, enrolled_by = $6, approved_at = $7, approved_by = $8, disabled_at = $9, mac = $10 WHERE id = $1"
        };
        sqlx::query(sql)
            .bind(w.id.clone())
            .bind(w.fingerprint.clone())
            .bind(i64::from(w.capacity))
            .bind(i64::from(w.enabled))
            .bind(w.enrolled_at)
            .bind(w.enrolled_by.clone())
            .bind(w.approved_at)
            .bind(w.approved_by.clone())
            .bind(w.disabled_at)
            .bind(self.worker_mac(w))
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Workers the signed audit chain says were disabled. Disabling is final: a row restored from
    /// before it, with its MAC of the time, still gets nothing (deleting the entry breaks the
    /// chain, which `mandat audit verify` shows).
    async fn disabled_in_the_log(&self) -> Result<std::collections::HashSet<String>, StoreError> {
        let rows = sqlx::query("SELECT details FROM audit_log WHERE action = 'worker.disabled'")
            .fetch_all(&self.pool)
            .await?;
        let mut out = std::collections::HashSet::new();
        for r in rows {
            let details: String = r.try_get("details")?;
            if let Some(id) = serde_json::from_str::<serde_json::Value>(&details)
                .ok()
                .and_then(|d| d["worker"].as_str().map(str::to_string))
            {
                out.insert(id);
            }
        }
        Ok(out)
    }

    /// The database's clock, in ms since the epoch: the one clock leases are timed by.
    pub async fn db_now(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query(now_sql(self.kind))
            .fetch_one(&self.pool)
            .await?
            .try_get("now")?)
    }

    /// The database's clock, read inside a transaction.
    async fn db_now_in(&self, tx: &mut crate::Tx<'_>) -> Result<i64, StoreError> {
        Ok(sqlx::query(now_sql(self.kind))
            .fetch_one(&mut **tx)
            .await?
            .try_get("now")?)
    }

    /// Pin the internal CA (its certificate's sha256) in the database at the first start, and
    /// refuse a control process with another one: every control host must share the one CA, or
    /// workers would trust one replica and fail at another.
    pub async fn pin_worker_ca(&self, fingerprint: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let stored: Option<String> =
            sqlx::query("SELECT value FROM settings WHERE key = 'worker_ca'")
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get("value"))
                .transpose()?;
        match stored {
            Some(s) if s == fingerprint => Ok(()),
            Some(s) => Err(StoreError::Config(format!(
                "this database's workers trust the internal CA {s}, and this control process has another ({fingerprint}): copy worker-ca.pem and worker-ca.key from the key directory of the first control host"
            ))),
            None => {
                sqlx::query("INSERT INTO settings (key, value) VALUES ('worker_ca', $1)")
                    .bind(fingerprint.to_string())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    }

    /// Every worker whose row mandat wrote; rows changed outside it are left out (and logged), so
    /// placement never gives them a camera.
    pub async fn workers(&self) -> Result<Vec<WorkerRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {WORKER_COLUMNS} ORDER BY id"
        )))
        .fetch_all(&self.pool)
        .await?;
        let disabled = self.disabled_in_the_log().await?;
        let mut out = Vec::new();
        for r in &rows {
            match self.sealed_worker(r)? {
                Some(w) if w.enabled && disabled.contains(&w.id) => {
                    tracing::error!(
                        worker = %w.id,
                        "worker {} was disabled and its row was restored outside mandat: it gets nothing",
                        w.id
                    );
                }
                Some(w) => out.push(w),
                None => {}
            }
        }
        Ok(out)
    }

    /// The enabled, approved worker whose certificate has this fingerprint.
    pub async fn worker_by_fingerprint(
        &self,
        fingerprint: &str,
    ) -> Result<Option<WorkerRecord>, StoreError> {
        // A constant column list: nothing from the request is in the SQL.
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {WORKER_COLUMNS} WHERE fingerprint = $1 AND enabled = 1 AND approved_at IS NOT NULL"
        )))
        .bind(fingerprint.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(w) = row
            .as_ref()
            .map(|r| self.sealed_worker(r))
            .transpose()?
            .flatten()
        else {
            return Ok(None);
        };
        if self.disabled_in_the_log().await?.contains(&w.id) {
            tracing::error!(
                worker = %w.id,
                "worker {} was disabled and its row was restored outside mandat: refused",
                w.id
            );
            return Ok(None);
        }
        Ok(Some(w))
    }

    /// Enrol a worker with its certificate's fingerprint. Ids and certificates are used once, so
    /// the log names one machine by one id.
    pub async fn enrol_worker(
        &self,
        actor: &Actor,
        id: &str,
        fingerprint: &str,
        capacity: u32,
        now: Timestamp,
        origin: &str,
    ) -> Result<WorkerRecord, StoreError> {
        crate::require_admin(actor, "enrol workers")?;
        let mut tx = self.begin_write().await?;
        let taken = sqlx::query("SELECT id FROM workers WHERE id = $1 OR fingerprint = $2")
            .bind(id.to_string())
            .bind(fingerprint.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!(
                "worker {id} or its certificate is enrolled already; a worker id and a certificate are used once: give the new machine a new id"
            )));
        }
        let w = WorkerRecord {
            id: id.to_string(),
            fingerprint: Some(fingerprint.to_string()),
            capacity,
            enabled: true,
            enrolled_at: now.0,
            enrolled_by: Some(actor.user.clone()),
            approved_at: None,
            approved_by: None,
            disabled_at: None,
            last_seen: None,
        };
        self.write_worker(&mut tx, &w, true).await?;
        self.append_audit(
            &mut tx,
            Record {
                at: now.0,
                actor: actor.user.clone(),
                action: "worker.enrolled".into(),
                permit: None,
                origin: origin.into(),
                details: json!({ "worker": id, "fingerprint": fingerprint, "capacity": capacity }),
            },
        )
        .await?;
        tx.commit().await?;
        // What mandat wrote; a row changed meanwhile is refused wherever it is read.
        Ok(w)
    }

    /// Disable a worker: its certificate is refused from the next request on, and its cameras are
    /// released in the same transaction, each in the log.
    pub async fn disable_worker(
        &self,
        actor: &Actor,
        id: &str,
        now: Timestamp,
        origin: &str,
    ) -> Result<(), StoreError> {
        crate::require_admin(actor, "disable workers")?;
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {WORKER_COLUMNS} WHERE id = $1 AND enabled = 1 AND fingerprint IS NOT NULL"
        )))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| {
            StoreError::NotFound(format!(
                "no enabled, enrolled worker {id}; `mandat worker list` shows them"
            ))
        })?;
        // Disabled and sealed so even when someone had changed the row: disabling always works,
        // and a disabled worker is never served again (the log says so, see `workers`).
        let mut w = worker_from_row(&row)?;
        w.enabled = false;
        w.disabled_at = Some(now.0);
        self.write_worker(&mut tx, &w, false).await?;
        let leases: Vec<Lease> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LEASE_COLUMNS} WHERE worker_id = $1 ORDER BY camera_id"
        )))
        .bind(id.to_string())
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(lease_from_row)
        .collect::<Result<_, _>>()?;
        let db_now = self.db_now_in(&mut tx).await?;
        for l in &leases {
            self.end_lease(&mut tx, l, db_now).await?;
        }
        self.append_audit(
            &mut tx,
            Record {
                at: now.0,
                actor: actor.user.clone(),
                action: "worker.disabled".into(),
                permit: None,
                origin: origin.into(),
                details: json!({ "worker": id }),
            },
        )
        .await?;
        for l in leases {
            self.append_audit(
                &mut tx,
                Record {
                    at: now.0,
                    actor: format!("worker:{id}"),
                    action: "camera.released".into(),
                    permit: None,
                    origin: origin.into(),
                    details: json!({ "camera": l.camera, "worker": id, "epoch": l.epoch, "reason": "worker-disabled" }),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Make sure an embedded worker (one inside a control process) has its row; it needs no
    /// enrolment, as it runs with the control plane's own rights.
    pub async fn register_embedded_worker(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT fingerprint, enrolled_at FROM workers WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let enrolled_at = match &exists {
            Some(r) if r.try_get::<Option<String>, _>("fingerprint")?.is_some() => {
                return Err(StoreError::Conflict(format!(
                    "worker id {id} belongs to an enrolled worker; an embedded worker cannot take it"
                )));
            }
            Some(r) => r.try_get::<i64, _>("enrolled_at")?,
            None => now.0,
        };
        // This process's own row, written whole as this process means it, whatever a DBA made of
        // it.
        let w = WorkerRecord {
            id: id.to_string(),
            fingerprint: None,
            capacity: u32::MAX,
            enabled: true,
            enrolled_at,
            enrolled_by: None,
            approved_at: Some(enrolled_at),
            approved_by: Some("system".into()),
            disabled_at: None,
            last_seen: None,
        };
        self.write_worker(&mut tx, &w, exists.is_none()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Renew a worker's leases for `lease_ms` from now (database time) and return those it holds.
    /// Outside the audit lock: renewals are frequent and say nothing the log needs.
    pub async fn renew_leases(
        &self,
        worker: &str,
        lease_ms: i64,
    ) -> Result<(i64, Vec<Lease>), StoreError> {
        let now = self.db_now().await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE workers SET last_seen = $2 WHERE id = $1 AND enabled = 1 AND approved_at IS NOT NULL",
        )
            .bind(worker.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        // A lapsed lease whose row still names this worker is renewed: placement moves a camera
        // by rewriting its row, so nobody else holds it. Only an enabled worker renews.
        sqlx::query(
            "UPDATE assignments SET lease_until = $2 WHERE worker_id = $1 AND EXISTS (SELECT 1 FROM workers w WHERE w.id = $1 AND w.enabled = 1 AND w.approved_at IS NOT NULL)",
        )
        .bind(worker.to_string())
        .bind(now.saturating_add(lease_ms))
        .execute(&mut *tx)
        .await?;
        let held = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LEASE_COLUMNS} WHERE worker_id = $1 AND lease_until >= $2 ORDER BY camera_id"
        )))
        .bind(worker.to_string())
        .bind(now)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(lease_from_row)
        .collect::<Result<_, _>>()?;
        tx.commit().await?;
        Ok((now, held))
    }

    /// Every lease, expired or not.
    pub async fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LEASE_COLUMNS} ORDER BY camera_id"
        )))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(lease_from_row)
        .collect()
    }

    /// The leases of one worker, expired or not.
    pub async fn leases_of(&self, worker: &str) -> Result<Vec<Lease>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LEASE_COLUMNS} WHERE worker_id = $1 ORDER BY camera_id"
        )))
        .bind(worker.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(lease_from_row)
        .collect()
    }

    /// Whether `worker` held `camera` under `epoch` at `at` (its capture time), now or in a lease
    /// since released, within `tolerance_ms` of the lease's ends: an alert delivered late, after a
    /// partition or a handover, is still the worker's; one stamped outside its lease is not.
    pub async fn leased_at(
        &self,
        worker: &str,
        camera: &str,
        epoch: i64,
        at: Timestamp,
        tolerance_ms: i64,
    ) -> Result<bool, StoreError> {
        let live = sqlx::query(
            "SELECT 1 AS one FROM assignments WHERE camera_id = $1 AND worker_id = $2 AND epoch = $3 AND granted_at - $5 <= $4 AND $4 <= lease_until + $5",
        )
        .bind(camera.to_string())
        .bind(worker.to_string())
        .bind(epoch)
        .bind(at.0)
        .bind(tolerance_ms)
        .fetch_optional(&self.pool)
        .await?;
        if live.is_some() {
            return Ok(true);
        }
        Ok(sqlx::query(
            "SELECT 1 AS one FROM lease_history WHERE camera_id = $1 AND worker_id = $2 AND epoch = $3 AND granted_at - $5 <= $4 AND $4 <= released_at + $5",
        )
        .bind(camera.to_string())
        .bind(worker.to_string())
        .bind(epoch)
        .bind(at.0)
        .bind(tolerance_ms)
        .fetch_optional(&self.pool)
        .await?
        .is_some())
    }

    /// End a lease: its row goes, and its span stays in `lease_history`.
    async fn end_lease(
        &self,
        tx: &mut crate::Tx<'_>,
        l: &Lease,
        db_now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM assignments WHERE camera_id = $1 AND epoch = $2")
            .bind(l.camera.clone())
            .bind(l.epoch)
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "INSERT INTO lease_history (camera_id, worker_id, epoch, granted_at, released_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(l.camera.clone())
        .bind(l.worker.clone())
        .bind(l.epoch)
        .bind(l.granted_at)
        .bind(db_now.min(l.lease_until))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Approve a worker another admin enrolled; only then does it get cameras.
    pub async fn approve_worker(
        &self,
        actor: &Actor,
        id: &str,
        now: Timestamp,
        origin: &str,
    ) -> Result<(), StoreError> {
        crate::require_admin(actor, "approve workers")?;
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {WORKER_COLUMNS} WHERE id = $1 AND enabled = 1 AND fingerprint IS NOT NULL AND approved_at IS NULL"
        )))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| {
            StoreError::NotFound(format!(
                "no enrolled worker {id} waiting for approval; `mandat worker list` shows them"
            ))
        })?;
        // Who enrolled it comes from a row mandat wrote: an edited enroller would let one admin
        // approve their own machine.
        let Some(w) = self.sealed_worker(&row)? else {
            return Err(StoreError::Tampered(format!(
                "the row of worker {id} was changed outside mandat and is refused; disable it and enrol the machine again under a new id"
            )));
        };
        let by = w.enrolled_by.clone();
        if by.as_deref() == Some(actor.user.as_str()) {
            return Err(StoreError::Refused(format!(
                "{} enrolled worker {id}, so another admin approves it: a worker receives watchlists, and no one admin alone decides where they go",
                actor.user
            )));
        }
        let approved = WorkerRecord {
            approved_at: Some(now.0),
            approved_by: Some(actor.user.clone()),
            ..w
        };
        self.write_worker(&mut tx, &approved, false).await?;
        self.append_audit(
            &mut tx,
            Record {
                at: now.0,
                actor: actor.user.clone(),
                action: "worker.approved".into(),
                permit: None,
                origin: origin.into(),
                details: json!({ "worker": id }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Apply placement's changes in one transaction, each in the log with its worker and epoch.
    /// A release names the worker it takes the camera from and does nothing if the camera has
    /// moved since; an assignment gets a new epoch and a lease of `lease_ms`.
    pub async fn apply_leases(
        &self,
        changes: &[LeaseChange],
        now: Timestamp,
        lease_ms: i64,
        origin: &str,
    ) -> Result<Vec<Lease>, StoreError> {
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        let db_now = self.db_now_in(&mut tx).await?;
        let mut assigned = Vec::new();
        for change in changes {
            match change {
                LeaseChange::Release {
                    camera,
                    worker,
                    epoch,
                    reason,
                } => {
                    // Only that lease: a camera placed again meanwhile keeps its new one.
                    let Some(row) = sqlx::query(
                        sqlx::AssertSqlSafe(format!(
            "SELECT {LEASE_COLUMNS} WHERE camera_id = $1 AND worker_id = $2 AND epoch = $3"
        )),
                    )
                    .bind(camera.clone())
                    .bind(worker.clone())
                    .bind(*epoch)
                    .fetch_optional(&mut *tx)
                    .await?
                    else {
                        continue;
                    };
                    let l = lease_from_row(&row)?;
                    self.end_lease(&mut tx, &l, db_now).await?;
                    self.append_audit(
                        &mut tx,
                        Record {
                            at: now.0,
                            actor: format!("worker:{worker}"),
                            action: "camera.released".into(),
                            permit: None,
                            origin: origin.into(),
                            details: json!({ "camera": camera, "worker": worker, "epoch": l.epoch, "reason": reason }),
                        },
                    )
                    .await?;
                }
                LeaseChange::Assign { camera, worker } => {
                    let taken =
                        sqlx::query("SELECT worker_id FROM assignments WHERE camera_id = $1")
                            .bind(camera.clone())
                            .fetch_optional(&mut *tx)
                            .await?;
                    if taken.is_some() {
                        // Another replica placed it first; its lease stands.
                        continue;
                    }
                    sqlx::query("UPDATE lease_epoch SET n = n + 1 WHERE id = 1")
                        .execute(&mut *tx)
                        .await?;
                    let epoch: i64 = sqlx::query("SELECT n FROM lease_epoch WHERE id = 1")
                        .fetch_one(&mut *tx)
                        .await?
                        .try_get("n")?;
                    let until = db_now.saturating_add(lease_ms);
                    sqlx::query(
                        "INSERT INTO assignments (camera_id, worker_id, epoch, granted_at, lease_until) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(camera.clone())
                    .bind(worker.clone())
                    .bind(epoch)
                    .bind(db_now)
                    .bind(until)
                    .execute(&mut *tx)
                    .await?;
                    self.append_audit(
                        &mut tx,
                        Record {
                            at: now.0,
                            actor: format!("worker:{worker}"),
                            action: "camera.assigned".into(),
                            permit: None,
                            origin: origin.into(),
                            details: json!({ "camera": camera, "worker": worker, "epoch": epoch, "reason": "permit" }),
                        },
                    )
                    .await?;
                    assigned.push(Lease {
                        camera: camera.clone(),
                        worker: worker.clone(),
                        epoch,
                        granted_at: db_now,
                        lease_until: until,
                    });
                }
            }
        }
        tx.commit().await?;
        Ok(assigned)
    }
}
