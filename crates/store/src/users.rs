//! Accounts, logins and sessions.
//!
//! Logins hold against guessing from inside and outside:
//! - failures are counted inside the write transaction, before the password is checked, so parallel
//!   guesses are serialised and cannot escape the count;
//! - after [`FREE_LOGIN_FAILURES`] failures the next attempt must wait, doubling each time up to
//!   [`MAX_BACKOFF_MS`]. The back-off is keyed by the user name as typed and the client's network
//!   (an IPv4 address, an IPv6 /64), so an attacker slows down only their own guesses and cannot
//!   lock a named reviewer out from elsewhere;
//! - an unknown name and a known one answer the same, and are backed off the same, so neither the
//!   answer nor its timing says who has an account;
//! - the key of the back-off row is a keyed hash, and the audit log names only existing accounts, so
//!   a password typed into the user field is stored nowhere;
//! - Argon2 runs on the blocking pool, never on the async workers.

use std::net::IpAddr;

use mandat_audit::Record;
use mandat_law::permit::Agency;
use mandat_law::{Actor, Role, Timestamp};
use serde_json::json;
use sqlx::Row;

use crate::crypto::{constant_time_eq, random};
use crate::{Store, StoreError};

/// Failed logins per user name and network that cost nothing; each one after that doubles the wait.
pub const FREE_LOGIN_FAILURES: i64 = 3;
/// The longest wait between two attempts, however many failed.
pub const MAX_BACKOFF_MS: i64 = 15 * 60 * 1000;

/// The wait before the next attempt after `failures` failures in a row: none for the first
/// [`FREE_LOGIN_FAILURES`], then 1 s, 2 s, 4 s, ... up to [`MAX_BACKOFF_MS`].
pub fn backoff_ms(failures: i64) -> i64 {
    if failures <= FREE_LOGIN_FAILURES {
        return 0;
    }
    let doublings = (failures - FREE_LOGIN_FAILURES - 1).min(30) as u32;
    (1000i64 << doublings).min(MAX_BACKOFF_MS)
}

/// The network a login comes from, as the back-off counts it: the address of an `api:` origin,
/// with IPv6 cut to its /64 (one host holds a whole /64), or the origin itself (the CLI, tests).
pub fn client_network(origin: &str) -> String {
    // An IPv4 client of a dual-stack listener arrives as ::ffff:a.b.c.d: count it as itself.
    match origin
        .strip_prefix("api:")
        .map(str::parse::<IpAddr>)
        .map(|r| r.map(|ip| ip.to_canonical()))
    {
        Some(Ok(IpAddr::V6(v6))) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(Ok(IpAddr::V4(v4))) => v4.to_string(),
        _ => origin.to_string(),
    }
}

/// Roles as stored: comma-separated names.
pub(crate) fn parse_roles(roles: &str) -> Vec<Role> {
    roles.split(',').filter_map(Role::parse).collect()
}

/// The agency of an account row: NULL (accounts made before agencies) is Polismyndigheten.
fn agency_of(v: Option<String>) -> Result<Agency, StoreError> {
    match v {
        None => Ok(Agency::Polismyndigheten),
        Some(s) => Agency::parse(&s).ok_or_else(|| StoreError::Corrupt(format!("agency {s:?}"))),
    }
}

/// An account as admins see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct UserInfo {
    pub user: String,
    pub roles: Vec<Role>,
    pub agency: Agency,
    /// When an admin disabled the account; a disabled account cannot log in.
    pub disabled_at: Option<Timestamp>,
    /// Whether the user has set their password and second factor with their enrolment code.
    pub enrolled: bool,
    /// Roles one admin requested that wait for a second admin's approval, with the grant's id.
    pub pending: Option<crate::accounts::Grant>,
}

impl Store {
    /// Provision an account with a password and a fresh TOTP secret, with its roles in force at
    /// once: the key holder's path (`mandat init` for the first admins, the demo, tests). It needs
    /// the store itself, so the master key; the server's API never calls it: there, accounts are
    /// made by [`Store::create_account`] and their roles approved by a second admin. Returns the
    /// TOTP secret (base32) for the user's authenticator app.
    pub async fn provision_user(
        &self,
        id: &str,
        password: &str,
        roles: &[Role],
        agency: Agency,
        now: Timestamp,
        origin: &str,
    ) -> Result<String, StoreError> {
        check_password(password)?;
        check_user_id(id)?;
        mandat_law::roles::check_roles(roles)?;
        let hash = hash_password_blocking(password.to_string()).await?;
        let secret = crate::totp::new_secret()?;
        let sealed = self.seal_totp(id, &secret)?;
        let roles_s = roles_text(roles);
        let mac = self.account_mac(
            id,
            &AccountRow {
                password_hash: &hash,
                roles: &roles_s,
                agency: agency.as_str(),
                disabled_at: None,
                totp_secret: Some(&sealed),
                enrolment: None,
            },
        );
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO users (id, password_hash, roles, created_at, agency, mac, totp_secret) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.to_string())
        .bind(hash)
        .bind(roles_s.clone())
        .bind(now.0)
        .bind(agency.as_str())
        .bind(mac)
        .bind(sealed)
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_user(e, id))?;
        self.append_audit(
            &mut tx,
            auth_record(
                now,
                "key-holder",
                origin,
                "user.provision",
                json!({"user": id, "roles": roles_s, "agency": agency.as_str()}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(crate::totp::base32(&secret))
    }

    /// Count a login or enrolment attempt as a failure before anything is checked, inside the
    /// write transaction; refuse it while the name is backed off from this network.
    pub(crate) async fn begin_attempt(
        &self,
        id: &str,
        now: Timestamp,
        origin: &str,
    ) -> Result<Attempt, StoreError> {
        let key = self.throttle_key(id, &client_network(origin));
        let mut tx = self.begin_write().await?;
        let account = sqlx::query(
            "SELECT password_hash, roles, disabled_at, agency, mac, totp_secret, totp_step, enrolment_mac, enrolment_expires_at FROM users WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        // Only existing accounts are named in the log: a password typed as a user name stays out.
        let who = if account.is_some() { id } else { "unknown" }.to_string();
        let row = sqlx::query("SELECT failures, next_at FROM login_throttle WHERE key = $1")
            .bind(key.clone())
            .fetch_optional(&mut *tx)
            .await?;
        let (failures, next_at) = match &row {
            Some(r) => (
                r.try_get::<i64, _>("failures")?,
                r.try_get::<i64, _>("next_at")?,
            ),
            None => (0, 0),
        };
        if next_at > now.0 {
            self.append_audit(
                &mut tx,
                auth_record(
                    now,
                    &who,
                    origin,
                    "auth.throttled",
                    json!({"until": next_at}),
                ),
            )
            .await?;
            tx.commit().await?;
            return Err(StoreError::Throttled {
                until: Timestamp(next_at),
            });
        }
        let failures = failures + 1;
        sqlx::query(
            "INSERT INTO login_throttle (key, failures, next_at, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key) DO UPDATE SET failures = $2, next_at = $3, updated_at = $4",
        )
        .bind(key.clone())
        .bind(failures)
        .bind(now.0 + backoff_ms(failures))
        .bind(now.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Attempt {
            key,
            failures,
            who,
            account,
        })
    }

    /// Check a password and a one-time code. The attempt is counted before either is checked; it
    /// is audited either way, and neither secret ever is. Every account needs its second factor:
    /// one without a TOTP secret (not yet enrolled) cannot log in. A code is accepted once.
    pub async fn authenticate(
        &self,
        id: &str,
        password: &str,
        code: &str,
        now: Timestamp,
        origin: &str,
    ) -> Result<Actor, StoreError> {
        let attempt = self.begin_attempt(id, now, origin).await?;
        // Unknown and disabled accounts are checked against a hash too, so the time taken says
        // nothing.
        let (hash, roles, disabled, agency, totp) = match &attempt.account {
            Some(r) => {
                let roles = parse_roles(&r.try_get::<String, _>("roles")?);
                // A row changed outside mandat, or roles no longer allowed together (an admin
                // who was also given another role before that was refused), never log in.
                let refused = !self.account_intact(r, id)? || !roles_allowed(&roles);
                (
                    r.try_get::<String, _>("password_hash")?,
                    roles,
                    r.try_get::<Option<i64>, _>("disabled_at")?.is_some() || refused,
                    agency_of(r.try_get("agency")?)?,
                    r.try_get::<Option<String>, _>("totp_secret")?,
                )
            }
            None => (
                dummy_hash().to_string(),
                Vec::new(),
                true,
                Agency::Polismyndigheten,
                None,
            ),
        };
        let hash = if hash.is_empty() {
            dummy_hash().to_string()
        } else {
            hash
        };
        let pw = password.to_string();
        let password_ok = tokio::task::spawn_blocking(move || verify_password(&pw, &hash))
            .await
            .map_err(|e| StoreError::Crypto(format!("password check: {e}")))?;
        // A secret that does not open under this account's id (copied from another row) is a
        // refused login, not an error.
        let step = match totp {
            Some(sealed) if !disabled => match self.open_totp(id, &sealed) {
                Ok(secret) => crate::totp::matching_step(&secret, code, now),
                Err(_) => {
                    tracing::error!("the second factor of {id} does not open: refused");
                    None
                }
            },
            _ => None,
        };
        let ok = password_ok && step.is_some() && !disabled;

        // Record the outcome; a success clears the count and uses up the code.
        let mut tx = self.begin_write().await?;
        let fresh = match (ok, step) {
            (true, Some(step)) => {
                sqlx::query(
                    "UPDATE users SET totp_step = $1 WHERE id = $2 AND (totp_step IS NULL OR totp_step < $1)",
                )
                .bind(step)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1
            }
            _ => false,
        };
        if fresh {
            sqlx::query("DELETE FROM login_throttle WHERE key = $1")
                .bind(attempt.key)
                .execute(&mut *tx)
                .await?;
            self.append_audit(
                &mut tx,
                auth_record(now, &attempt.who, origin, "auth.login", json!({})),
            )
            .await?;
        } else {
            // Which factor failed is recorded for the auditor, never answered to the client.
            self.append_audit(
                &mut tx,
                auth_record(
                    now,
                    &attempt.who,
                    origin,
                    "auth.failed",
                    json!({
                        "failures": attempt.failures,
                        "disabled": attempt.account.is_some() && disabled,
                        "second_factor": if !password_ok || disabled { "not checked" } else if step.is_none() { "wrong" } else { "replayed" },
                    }),
                ),
            )
            .await?;
        }
        tx.commit().await?;
        if !fresh {
            return Err(StoreError::Auth);
        }
        Ok(Actor {
            user: id.to_string(),
            roles,
            agency,
        })
    }

    pub(crate) fn seal_totp(&self, id: &str, secret: &[u8]) -> Result<String, StoreError> {
        Ok(hex::encode(
            self.master.seal(secret, format!("totp:{id}").as_bytes())?,
        ))
    }

    fn open_totp(&self, id: &str, sealed: &str) -> Result<Vec<u8>, StoreError> {
        let bytes =
            hex::decode(sealed).map_err(|_| StoreError::Corrupt(format!("TOTP secret of {id}")))?;
        self.master.open(&bytes, format!("totp:{id}").as_bytes())
    }

    /// What the sessions table holds of a token: a MAC under a key derived from the master key,
    /// so whoever writes the database cannot make a session row of their own.
    fn token_hash(&self, token: &str) -> String {
        hex::encode(self.master.mac("session", token.as_bytes()))
    }

    /// The MAC of an account row. Whoever edits roles, a password hash or the agency, or clears
    /// `disabled_at`, in the database without the master key makes a row mandat refuses.
    pub(crate) fn account_mac(&self, id: &str, row: &AccountRow<'_>) -> String {
        let AccountRow {
            password_hash,
            roles,
            agency,
            disabled_at,
            totp_secret,
            enrolment,
        } = row;
        let disabled = disabled_at.map(|d| d.to_string()).unwrap_or_default();
        // Rows made before the second factor have none; their MAC stays what it was.
        let totp = totp_secret.map(|t| format!("\n{t}")).unwrap_or_default();
        // A pending enrolment code (its MAC and expiry) is part of the row, so a DBA cannot write
        // back an old code from a backup, or stretch its expiry.
        let enrol = enrolment
            .map(|(m, e)| format!("\nenrol {m} {e}"))
            .unwrap_or_default();
        hex::encode(self.master.mac(
            "account",
            format!("{id}\n{password_hash}\n{roles}\n{agency}\n{disabled}{totp}{enrol}").as_bytes(),
        ))
    }

    /// [`Store::account_mac`] of an account row as read, with the columns `edit` is about to
    /// write; the agency is never edited.
    pub(crate) fn row_mac(
        &self,
        r: &sqlx::any::AnyRow,
        id: &str,
        edit: RowEdit<'_>,
    ) -> Result<String, StoreError> {
        let agency: Option<String> = r.try_get("agency")?;
        let read = |c: &str| r.try_get::<String, _>(c);
        let hash = match edit.password_hash {
            Some(h) => h.to_string(),
            None => read("password_hash")?,
        };
        let roles = match edit.roles {
            Some(x) => x.to_string(),
            None => read("roles")?,
        };
        let disabled = match edit.disabled_at {
            Some(d) => d,
            None => r.try_get("disabled_at")?,
        };
        let totp = match edit.totp_secret {
            Some(t) => t.map(str::to_string),
            None => r.try_get("totp_secret")?,
        };
        let enrolment = match edit.enrolment {
            Some(e) => e.map(|(m, x)| (m.to_string(), x)),
            None => {
                let m: Option<String> = r.try_get("enrolment_mac")?;
                let x: Option<i64> = r.try_get("enrolment_expires_at")?;
                m.zip(x)
            }
        };
        Ok(self.account_mac(
            id,
            &AccountRow {
                password_hash: &hash,
                roles: &roles,
                agency: agency
                    .as_deref()
                    .unwrap_or(Agency::Polismyndigheten.as_str()),
                disabled_at: disabled,
                totp_secret: totp.as_deref(),
                enrolment: enrolment.as_ref().map(|(m, x)| (m.as_str(), *x)),
            },
        ))
    }

    /// Check an account row's MAC; a row altered outside mandat is refused and logged.
    pub(crate) fn account_intact(
        &self,
        r: &sqlx::any::AnyRow,
        id: &str,
    ) -> Result<bool, StoreError> {
        let want = self.row_mac(r, id, RowEdit::default())?;
        let have: Option<String> = r.try_get("mac")?;
        let intact = have.is_some_and(|h| constant_time_eq(h.as_bytes(), want.as_bytes()));
        if !intact {
            tracing::error!(
                "the account row of {id} was changed outside mandat (its MAC does not match): refused"
            );
        }
        Ok(intact)
    }

    /// The key of a back-off row: HMAC-SHA256 under a key derived from the master key, so the table
    /// holds no user name as typed and cannot be reversed by whoever reads the database.
    fn throttle_key(&self, name: &str, network: &str) -> String {
        hex::encode(
            self.master
                .mac("login-throttle", format!("{name}\n{network}").as_bytes()),
        )
    }

    /// Open a session for an authenticated actor. Returns the token; only its hash is stored.
    pub async fn create_session(
        &self,
        actor: &Actor,
        now: Timestamp,
        ttl_ms: i64,
    ) -> Result<String, StoreError> {
        let token = hex::encode(random::<32>()?);
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(self.token_hash(&token))
        .bind(actor.user.clone())
        .bind(now.0)
        .bind(now.0.saturating_add(ttl_ms))
        .execute(&self.pool)
        .await?;
        Ok(token)
    }

    /// The actor behind a session token, with the roles the user holds now (not at login). A
    /// disabled account's sessions are refused.
    pub async fn session_actor(&self, token: &str, now: Timestamp) -> Result<Actor, StoreError> {
        let row = sqlx::query(
            "SELECT u.id AS id, u.roles AS roles, u.disabled_at AS disabled_at, u.agency AS agency, u.password_hash AS password_hash, u.mac AS mac, u.totp_secret AS totp_secret, u.enrolment_mac AS enrolment_mac, u.enrolment_expires_at AS enrolment_expires_at, s.expires_at AS expires_at \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
        )
        .bind(self.token_hash(token))
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::SessionInvalid)?;
        let id: String = row.try_get("id")?;
        let roles: String = row.try_get("roles")?;
        if row.try_get::<i64, _>("expires_at")? <= now.0
            || row.try_get::<Option<i64>, _>("disabled_at")?.is_some()
            || !self.account_intact(&row, &id)?
            || !roles_allowed(&parse_roles(&roles))
        {
            return Err(StoreError::SessionInvalid);
        }
        Ok(Actor {
            user: id,
            roles: parse_roles(&roles),
            agency: agency_of(row.try_get("agency")?)?,
        })
    }

    pub async fn end_session(&self, token: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(self.token_hash(token))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn users(&self) -> Result<Vec<UserInfo>, StoreError> {
        let pending = self.grants().await?;
        sqlx::query(
            "SELECT id, roles, disabled_at, agency, password_hash, totp_secret FROM users ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            let roles: String = r.try_get("roles")?;
            let user: String = r.try_get("id")?;
            Ok(UserInfo {
                roles: parse_roles(&roles),
                agency: agency_of(r.try_get("agency")?)?,
                disabled_at: r.try_get::<Option<i64>, _>("disabled_at")?.map(Timestamp),
                enrolled: !r.try_get::<String, _>("password_hash")?.is_empty()
                    && r.try_get::<Option<String>, _>("totp_secret")?.is_some(),
                pending: pending.iter().find(|g| g.user == user).cloned(),
                user,
            })
        })
        .collect()
    }

    /// Disable an account and end every session it has (admins; not oneself). Its open pages and
    /// event streams notice at their next session check.
    pub async fn disable_user(
        &self,
        actor: &Actor,
        id: &str,
        now: Timestamp,
        origin: &str,
    ) -> Result<(), StoreError> {
        self.admin_on_other(actor, id, "disable")?;
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT password_hash, roles, agency, totp_secret, enrolment_mac, enrolment_expires_at FROM users WHERE id = $1 AND disabled_at IS NULL",
        )
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| {
            StoreError::NotFound(format!(
                "no enabled user {id}; `mandat user list` shows the accounts"
            ))
        })?;
        let mac = self.row_mac(
            &row,
            id,
            RowEdit {
                disabled_at: Some(Some(now.0)),
                ..RowEdit::default()
            },
        )?;
        sqlx::query("UPDATE users SET disabled_at = $1, mac = $2 WHERE id = $3")
            .bind(now.0)
            .bind(mac)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        self.end_sessions(tx, actor, id, "user.disable", now, origin)
            .await?;
        Ok(())
    }

    /// End every session of an account (admins), for a lost laptop or a suspected theft; the
    /// account itself stays usable.
    pub async fn revoke_sessions(
        &self,
        actor: &Actor,
        id: &str,
        now: Timestamp,
        origin: &str,
    ) -> Result<u64, StoreError> {
        self.admin_on_other(actor, id, "revoke the sessions of")?;
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT id FROM users WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Err(StoreError::NotFound(format!(
                "no user {id}; `mandat user list` shows the accounts"
            )));
        }
        self.end_sessions(tx, actor, id, "session.revoke", now, origin)
            .await
    }

    /// End every session of `id` and record `action` with how many, then commit: the common end
    /// of disabling an account and revoking its sessions.
    pub(crate) async fn end_sessions(
        &self,
        mut tx: crate::Tx<'_>,
        actor: &Actor,
        id: &str,
        action: &str,
        now: Timestamp,
        origin: &str,
    ) -> Result<u64, StoreError> {
        let n = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        self.append_audit(
            &mut tx,
            auth_record(
                now,
                &actor.user,
                origin,
                action,
                json!({"user": id, "sessions_ended": n}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(n)
    }

    pub(crate) fn admin_on_other(
        &self,
        actor: &Actor,
        id: &str,
        what: &str,
    ) -> Result<(), StoreError> {
        mandat_law::permissions::require(actor, mandat_law::permissions::Action::ManageAccounts)?;
        if actor.user == id {
            return Err(StoreError::Invalid(format!(
                "an admin cannot {what} their own account; ask another admin"
            )));
        }
        Ok(())
    }
}

/// The columns of an account row its MAC covers.
pub(crate) struct AccountRow<'a> {
    pub(crate) password_hash: &'a str,
    pub(crate) roles: &'a str,
    pub(crate) agency: &'a str,
    pub(crate) disabled_at: Option<i64>,
    pub(crate) totp_secret: Option<&'a str>,
    /// A pending enrolment code's MAC and expiry.
    pub(crate) enrolment: Option<(&'a str, i64)>,
}

/// The columns a change writes over an account row, for its new MAC; `None` keeps a column as
/// read.
#[derive(Default, Clone, Copy)]
pub(crate) struct RowEdit<'a> {
    pub(crate) password_hash: Option<&'a str>,
    pub(crate) roles: Option<&'a str>,
    pub(crate) disabled_at: Option<Option<i64>>,
    pub(crate) totp_secret: Option<Option<&'a str>>,
    /// The enrolment code's MAC and expiry.
    pub(crate) enrolment: Option<Option<(&'a str, i64)>>,
}

/// A counted attempt: its back-off key, the failures so far (this one included), who the log
/// names, and the account row if the name exists.
pub(crate) struct Attempt {
    pub(crate) key: String,
    pub(crate) failures: i64,
    pub(crate) who: String,
    pub(crate) account: Option<sqlx::any::AnyRow>,
}

/// Roles an account may hold: none (its grant still waits for a second admin), or a combination
/// the law allows.
pub(crate) fn roles_allowed(roles: &[Role]) -> bool {
    roles.is_empty() || mandat_law::roles::check_roles(roles).is_ok()
}

/// [`roles_allowed`] as an error for a request.
pub(crate) fn check_requested_roles(roles: &[Role]) -> Result<(), StoreError> {
    if roles.is_empty() {
        return Ok(());
    }
    Ok(mandat_law::roles::check_roles(roles)?)
}

pub(crate) fn check_password(password: &str) -> Result<(), StoreError> {
    if password.chars().count() < 12 {
        return Err(StoreError::Invalid(
            "passwords must be at least 12 characters; a phrase of several words is easiest".into(),
        ));
    }
    if password.len() > 1024 {
        return Err(StoreError::Invalid(
            "passwords are at most 1024 bytes".into(),
        ));
    }
    Ok(())
}

pub(crate) fn check_user_id(id: &str) -> Result<(), StoreError> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(StoreError::Invalid(
            "user ids use 1 to 64 letters, digits, '.', '_' and '-'".into(),
        ));
    }
    Ok(())
}

pub(crate) fn roles_text(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn unique_user(e: sqlx::Error, id: &str) -> StoreError {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(format!("user {id} exists already"))
        }
        other => other.into(),
    }
}

pub(crate) fn auth_record(
    now: Timestamp,
    who: &str,
    origin: &str,
    action: &str,
    details: serde_json::Value,
) -> Record {
    Record {
        at: now.0,
        actor: who.to_string(),
        action: action.into(),
        permit: None,
        origin: origin.into(),
        details,
    }
}

/// A valid Argon2id hash of a random password, made once: checking against it costs what checking
/// a real account costs.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let mut b = [0u8; 16];
        let _ = getrandom::fill(&mut b);
        hash_password(&hex::encode(b)).unwrap_or_default()
    })
}

pub(crate) async fn hash_password_blocking(password: String) -> Result<String, StoreError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| StoreError::Crypto(format!("password hashing: {e}")))?
}

/// Argon2id with the crate's default parameters.
pub fn hash_password(password: &str) -> Result<String, StoreError> {
    use argon2::password_hash::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Crypto(format!("password hashing: {e}")))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    use argon2::password_hash::phc::PasswordHash;
    PasswordHash::new(hash)
        .map(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_after_the_free_failures_and_is_capped() {
        assert_eq!(
            (1..=6).map(backoff_ms).collect::<Vec<_>>(),
            [0, 0, 0, 1000, 2000, 4000]
        );
        assert_eq!(backoff_ms(14), MAX_BACKOFF_MS);
        assert_eq!(backoff_ms(10_000), MAX_BACKOFF_MS);
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        assert_eq!(
            client_network("api:2001:db8:1:2:aaaa::1"),
            client_network("api:2001:db8:1:2:ffff:1:2:3")
        );
        assert_eq!(client_network("api:2001:db8:1:2::9"), "2001:db8:1:2::/64");
        assert_ne!(
            client_network("api:2001:db8:1:2::1"),
            client_network("api:2001:db8:1:3::1")
        );
        assert_eq!(client_network("api:10.0.0.7"), "10.0.0.7");
        assert_eq!(client_network("api:::ffff:10.0.0.7"), "10.0.0.7");
        assert_ne!(
            client_network("api:::ffff:10.0.0.7"),
            client_network("api:::ffff:10.0.0.8")
        );
        assert_eq!(client_network("cli:ann@host"), "cli:ann@host");
    }
}
