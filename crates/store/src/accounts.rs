//! Accounts that no single admin can take over.
//!
//! - An admin makes an account with no password and no roles in force. The account gets a one-time
//!   enrolment code, which the admin hands to the user; the user sets their own password with it
//!   and receives their TOTP secret. The admin never knows the password.
//! - The roles an admin asks for wait for a **second admin's approval** ([`Store::approve_grant`]);
//!   the requester cannot approve, nor can the account's owner. Removing roles takes effect at once.
//! - Re-issuing an enrolment code (a lost phone, a forgotten password) clears the password and the
//!   second factor, ends every session and puts the account's roles back to a second admin: the
//!   admin who holds the new code cannot use the account's roles alone.
//!
//! Codes and secrets are stored only as MACs or sealed under keys derived from the master key.

use mandat_law::permissions::{Action, require};
use mandat_law::permit::Agency;
use mandat_law::{Actor, Role, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

use crate::crypto::{constant_time_eq, random};
use crate::users::{
    AccountRow, RowEdit, auth_record as record, check_password, check_requested_roles,
    check_user_id, hash_password_blocking, parse_roles, roles_text, unique_user, verify_password,
};
use crate::{Store, StoreError};

/// How long an enrolment code stays valid.
pub const ENROLMENT_TTL_MS: i64 = 72 * 3600 * 1000;

/// Roles requested by one admin, waiting for a second.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Grant {
    pub id: String,
    pub user: String,
    /// The roles the account will hold once approved (all of them, not only the added ones).
    pub roles: Vec<Role>,
    pub requested_by: String,
    pub requested_at: Timestamp,
}

/// A new account: its enrolment code goes to the user, by hand, and nowhere else.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Enrolment {
    pub user: String,
    /// One-time code with which the user sets their password. Shown once; stored only as a MAC.
    pub enrolment_code: String,
    pub expires_at: Timestamp,
    /// The grant a second admin must approve before the roles take effect.
    pub grant: Option<String>,
}

/// The outcome of a role change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RoleChange {
    /// Only removals: in force now.
    Applied,
    /// Roles were added: in force once another admin approves this grant.
    Pending { grant: String },
}

/// The second factor a user receives at enrolment, for their authenticator app.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SecondFactor {
    /// The secret in base32, to type into the app.
    pub totp_secret: String,
    /// The same as an `otpauth://` link (for a QR code).
    pub otpauth_url: String,
}

/// A fresh enrolment code (100 random bits in base32, in groups of four) and when it expires.
fn new_enrolment(now: Timestamp) -> Result<(String, Timestamp), StoreError> {
    let b32 = crate::totp::base32(&crate::totp::new_secret()?);
    let code = b32.as_bytes()[..20]
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-");
    Ok((code, Timestamp(now.0 + ENROLMENT_TTL_MS)))
}

/// A code as typed: case, spaces and dashes do not matter.
fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn new_id(prefix: &str) -> Result<String, StoreError> {
    Ok(format!("{prefix}-{}", hex::encode(random::<8>()?)))
}

impl Store {
    fn enrolment_mac(&self, id: &str, code: &str) -> String {
        hex::encode(self.master.mac(
            "enrolment",
            format!("{id}\n{}", normalise_code(code)).as_bytes(),
        ))
    }

    fn grant_mac(&self, id: &str, user: &str, roles: &str, requested_by: &str) -> String {
        hex::encode(self.master.mac(
            "role-grant",
            format!("{id}\n{user}\n{roles}\n{requested_by}").as_bytes(),
        ))
    }

    /// Make an account (admins). It has no password and no roles in force: the user enrols with
    /// the returned code, and the requested roles wait for a second admin.
    pub async fn create_account(
        &self,
        actor: &Actor,
        id: &str,
        roles: &[Role],
        agency: Agency,
        now: Timestamp,
        origin: &str,
    ) -> Result<Enrolment, StoreError> {
        require(actor, Action::ManageAccounts)?;
        check_requested_roles(roles)?;
        let mut tx = self.begin_write().await?;
        let (code, expires) = self.insert_account(&mut tx, id, &[], agency, now).await?;
        let grant = if roles.is_empty() {
            None
        } else {
            Some(self.insert_grant(&mut tx, actor, id, roles, now).await?)
        };
        self.append_audit(
            &mut tx,
            record(
                now,
                &actor.user,
                origin,
                "user.add",
                json!({
                    "user": id,
                    "agency": agency.as_str(),
                    "requested_roles": roles_text(roles),
                    "grant": grant,
                }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(Enrolment {
            user: id.to_string(),
            enrolment_code: code,
            expires_at: expires,
            grant,
        })
    }

    /// Make an account whose roles are in force at once, with an enrolment code: the key holder's
    /// path for the further admins at `mandat init` (there is no second admin yet to approve them).
    /// Never reached through the API.
    pub async fn provision_account(
        &self,
        id: &str,
        roles: &[Role],
        agency: Agency,
        now: Timestamp,
        origin: &str,
    ) -> Result<Enrolment, StoreError> {
        check_requested_roles(roles)?;
        let roles_s = roles_text(roles);
        let mut tx = self.begin_write().await?;
        let (code, expires) = self.insert_account(&mut tx, id, roles, agency, now).await?;
        self.append_audit(
            &mut tx,
            record(
                now,
                "key-holder",
                origin,
                "user.provision",
                json!({"user": id, "roles": roles_s, "agency": agency.as_str(), "enrolment": true}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(Enrolment {
            user: id.to_string(),
            enrolment_code: code,
            expires_at: expires,
            grant: None,
        })
    }

    /// Insert an account with no password and `roles` in force, and an enrolment code for it:
    /// the code and when it expires.
    async fn insert_account(
        &self,
        tx: &mut crate::Tx<'_>,
        id: &str,
        roles: &[Role],
        agency: Agency,
        now: Timestamp,
    ) -> Result<(String, Timestamp), StoreError> {
        check_user_id(id)?;
        let (code, expires) = new_enrolment(now)?;
        let roles_s = roles_text(roles);
        let enrolment_mac = self.enrolment_mac(id, &code);
        let mac = self.account_mac(
            id,
            &AccountRow {
                password_hash: "",
                roles: &roles_s,
                agency: agency.as_str(),
                disabled_at: None,
                totp_secret: None,
                enrolment: Some((&enrolment_mac, expires.0)),
            },
        );
        sqlx::query(
            "INSERT INTO users (id, password_hash, roles, created_at, agency, mac, enrolment_mac, enrolment_expires_at) VALUES ($1, '', $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.to_string())
        .bind(roles_s)
        .bind(now.0)
        .bind(agency.as_str())
        .bind(mac)
        .bind(enrolment_mac)
        .bind(expires.0)
        .execute(&mut **tx)
        .await
        .map_err(|e| unique_user(e, id))?;
        Ok((code, expires))
    }

    /// Withdraw the account's pending grant, if any.
    async fn withdraw_grants(
        &self,
        tx: &mut crate::Tx<'_>,
        user: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE role_grants SET withdrawn_at = $1 WHERE user_id = $2 AND approved_at IS NULL AND withdrawn_at IS NULL",
        )
        .bind(now.0)
        .bind(user.to_string())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn insert_grant(
        &self,
        tx: &mut crate::Tx<'_>,
        actor: &Actor,
        user: &str,
        roles: &[Role],
        now: Timestamp,
    ) -> Result<String, StoreError> {
        let id = new_id("grant")?;
        let roles_s = roles_text(roles);
        // One pending grant per account: a new request replaces the old.
        self.withdraw_grants(tx, user, now).await?;
        sqlx::query(
            "INSERT INTO role_grants (id, user_id, roles, requested_by, requested_at, mac) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.clone())
        .bind(user.to_string())
        .bind(roles_s.clone())
        .bind(actor.user.clone())
        .bind(now.0)
        .bind(self.grant_mac(&id, user, &roles_s, &actor.user))
        .execute(&mut **tx)
        .await?;
        Ok(id)
    }

    /// The account row for a change by an admin, checked against its MAC.
    async fn account_row(
        &self,
        tx: &mut crate::Tx<'_>,
        id: &str,
    ) -> Result<sqlx::any::AnyRow, StoreError> {
        let row = sqlx::query(
            "SELECT password_hash, roles, agency, disabled_at, mac, totp_secret, enrolment_mac, enrolment_expires_at FROM users WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| {
            StoreError::NotFound(format!(
                "no user {id}; `mandat user list` shows the accounts"
            ))
        })?;
        if !self.account_intact(&row, id)? {
            return Err(StoreError::Corrupt(format!(
                "the account row of {id} was changed outside mandat; restore it from a backup"
            )));
        }
        Ok(row)
    }

    /// Set an account's roles (admins; not their own). Removing roles takes effect at once; adding
    /// any makes a grant that a second admin must approve.
    pub async fn request_roles(
        &self,
        actor: &Actor,
        id: &str,
        roles: &[Role],
        now: Timestamp,
        origin: &str,
    ) -> Result<RoleChange, StoreError> {
        self.admin_on_other(actor, id, "change the roles of")?;
        check_requested_roles(roles)?;
        let mut tx = self.begin_write().await?;
        let row = self.account_row(&mut tx, id).await?;
        let current = parse_roles(&row.try_get::<String, _>("roles")?);
        if roles.iter().all(|r| current.contains(r)) {
            self.withdraw_grants(&mut tx, id, now).await?;
            self.set_roles(&mut tx, &row, id, roles).await?;
            self.append_audit(
                &mut tx,
                record(
                    now,
                    &actor.user,
                    origin,
                    "user.roles",
                    json!({"user": id, "roles": roles_text(roles), "before": roles_text(&current)}),
                ),
            )
            .await?;
            tx.commit().await?;
            return Ok(RoleChange::Applied);
        }
        let grant = self.insert_grant(&mut tx, actor, id, roles, now).await?;
        self.append_audit(
            &mut tx,
            record(
                now,
                &actor.user,
                origin,
                "user.roles.request",
                json!({
                    "user": id,
                    "roles": roles_text(roles),
                    "before": roles_text(&current),
                    "grant": grant,
                }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(RoleChange::Pending { grant })
    }

    async fn set_roles(
        &self,
        tx: &mut crate::Tx<'_>,
        row: &sqlx::any::AnyRow,
        id: &str,
        roles: &[Role],
    ) -> Result<(), StoreError> {
        let roles_s = roles_text(roles);
        let mac = self.row_mac(
            row,
            id,
            RowEdit {
                roles: Some(&roles_s),
                ..RowEdit::default()
            },
        )?;
        sqlx::query("UPDATE users SET roles = $1, mac = $2 WHERE id = $3")
            .bind(roles_s)
            .bind(mac)
            .bind(id.to_string())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Grants waiting for a second admin, oldest first.
    pub async fn grants(&self) -> Result<Vec<Grant>, StoreError> {
        sqlx::query(
            "SELECT id, user_id, roles, requested_by, requested_at FROM role_grants WHERE approved_at IS NULL AND withdrawn_at IS NULL ORDER BY requested_at, id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(Grant {
                id: r.try_get("id")?,
                user: r.try_get("user_id")?,
                roles: parse_roles(&r.try_get::<String, _>("roles")?),
                requested_by: r.try_get("requested_by")?,
                requested_at: Timestamp(r.try_get("requested_at")?),
            })
        })
        .collect()
    }

    /// Approve a grant: a second admin, neither the one who asked nor the account's owner. The
    /// roles take effect at the account's next request.
    pub async fn approve_grant(
        &self,
        actor: &Actor,
        grant: &str,
        now: Timestamp,
        origin: &str,
    ) -> Result<Grant, StoreError> {
        require(actor, Action::ManageAccounts)?;
        let mut tx = self.begin_write().await?;
        let g = sqlx::query(
            "SELECT user_id, roles, requested_by, requested_at, mac FROM role_grants WHERE id = $1 AND approved_at IS NULL AND withdrawn_at IS NULL",
        )
        .bind(grant.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| {
            StoreError::NotFound(format!(
                "no pending grant {grant}; `mandat user grants` lists them"
            ))
        })?;
        let user: String = g.try_get("user_id")?;
        let roles_s: String = g.try_get("roles")?;
        let requested_by: String = g.try_get("requested_by")?;
        let mac: String = g.try_get("mac")?;
        if !constant_time_eq(
            mac.as_bytes(),
            self.grant_mac(grant, &user, &roles_s, &requested_by)
                .as_bytes(),
        ) {
            tracing::error!("role grant {grant} was changed outside mandat: refused");
            return Err(StoreError::Corrupt(format!(
                "role grant {grant} was changed outside mandat; it cannot be approved"
            )));
        }
        if requested_by == actor.user {
            return Err(StoreError::Refused(format!(
                "{} asked for this grant; a second admin must approve it (four eyes)",
                actor.user
            )));
        }
        if user == actor.user {
            return Err(StoreError::Refused(
                "no admin approves roles for their own account; ask another admin".into(),
            ));
        }
        let roles = parse_roles(&roles_s);
        mandat_law::roles::check_roles(&roles)?;
        let row = self.account_row(&mut tx, &user).await?;
        if row.try_get::<Option<i64>, _>("disabled_at")?.is_some() {
            return Err(StoreError::Refused(format!(
                "{user} is disabled; a disabled account gets no roles"
            )));
        }
        self.set_roles(&mut tx, &row, &user, &roles).await?;
        sqlx::query("UPDATE role_grants SET approved_by = $1, approved_at = $2 WHERE id = $3")
            .bind(actor.user.clone())
            .bind(now.0)
            .bind(grant.to_string())
            .execute(&mut *tx)
            .await?;
        self.append_audit(
            &mut tx,
            record(
                now,
                &actor.user,
                origin,
                "user.roles.approve",
                json!({
                    "user": user,
                    "roles": roles_s,
                    "grant": grant,
                    "requested_by": requested_by,
                }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(Grant {
            id: grant.to_string(),
            user,
            roles,
            requested_by,
            requested_at: Timestamp(g.try_get("requested_at")?),
        })
    }

    /// Issue a new enrolment code (admins; not their own account): the password and the second
    /// factor are cleared, every session ends, and the account's roles wait for a second admin
    /// again, so the admin holding the code cannot use them alone.
    pub async fn reset_enrolment(
        &self,
        actor: &Actor,
        id: &str,
        now: Timestamp,
        origin: &str,
    ) -> Result<Enrolment, StoreError> {
        self.admin_on_other(actor, id, "re-enrol")?;
        let (code, expires) = new_enrolment(now)?;
        let mut tx = self.begin_write().await?;
        let row = self.account_row(&mut tx, id).await?;
        let roles = parse_roles(&row.try_get::<String, _>("roles")?);
        let enrolment_mac = self.enrolment_mac(id, &code);
        let mac = self.row_mac(
            &row,
            id,
            RowEdit {
                password_hash: Some(""),
                roles: Some(""),
                totp_secret: Some(None),
                enrolment: Some(Some((&enrolment_mac, expires.0))),
                ..RowEdit::default()
            },
        )?;
        sqlx::query(
            "UPDATE users SET password_hash = '', roles = '', totp_secret = NULL, totp_step = NULL, enrolment_mac = $1, enrolment_expires_at = $2, mac = $3 WHERE id = $4",
        )
        .bind(enrolment_mac)
        .bind(expires.0)
        .bind(mac)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        // Another admin's pending grant must not survive either: the admin holding the new code
        // would enrol and approve it alone.
        self.withdraw_grants(&mut tx, id, now).await?;
        let grant = if roles.is_empty() {
            None
        } else {
            Some(self.insert_grant(&mut tx, actor, id, &roles, now).await?)
        };
        self.append_audit(
            &mut tx,
            record(
                now,
                &actor.user,
                origin,
                "user.enrolment.reset",
                json!({"user": id, "roles_to_approve": roles_text(&roles), "grant": grant}),
            ),
        )
        .await?;
        self.end_sessions(tx, actor, id, "session.revoke", now, origin)
            .await?;
        Ok(Enrolment {
            user: id.to_string(),
            enrolment_code: code,
            expires_at: expires,
            grant,
        })
    }

    /// Enrol with a one-time code: set the password, receive the second factor. Attempts are
    /// counted and backed off like logins, and a wrong code answers like an unknown user.
    pub async fn enrol_account(
        &self,
        id: &str,
        code: &str,
        password: &str,
        now: Timestamp,
        origin: &str,
    ) -> Result<SecondFactor, StoreError> {
        check_password(password)?;
        let attempt = self.begin_attempt(id, now, origin).await?;
        let want = self.enrolment_mac(id, code);
        let valid = match &attempt.account {
            Some(r) => {
                let have: Option<String> = r.try_get("enrolment_mac")?;
                let expires: Option<i64> = r.try_get("enrolment_expires_at")?;
                let disabled = r.try_get::<Option<i64>, _>("disabled_at")?.is_some();
                have.as_deref()
                    .is_some_and(|h| constant_time_eq(h.as_bytes(), want.as_bytes()))
                    && expires.is_some_and(|e| e > now.0)
                    && !disabled
                    && self.account_intact(r, id)?
            }
            None => false,
        };
        if !valid {
            self.record(record(
                now,
                &attempt.who,
                origin,
                "auth.enrol.failed",
                json!({"failures": attempt.failures}),
            ))
            .await?;
            return Err(StoreError::Auth);
        }
        let row = attempt.account.as_ref().expect("valid means found");
        let hash = hash_password_blocking(password.to_string()).await?;
        let secret = crate::totp::new_secret()?;
        let sealed = self.seal_totp(id, &secret)?;
        let mac = self.row_mac(
            row,
            id,
            RowEdit {
                password_hash: Some(&hash),
                totp_secret: Some(Some(&sealed)),
                enrolment: Some(None),
                ..RowEdit::default()
            },
        )?;
        let mut tx = self.begin_write().await?;
        // Conditional on the code still being there: two enrolments with one code, one wins.
        let n = sqlx::query(
            "UPDATE users SET password_hash = $1, totp_secret = $2, totp_step = NULL, enrolment_mac = NULL, enrolment_expires_at = NULL, mac = $3 WHERE id = $4 AND enrolment_mac = $5 AND mac = $6",
        )
        .bind(hash)
        .bind(sealed)
        .bind(mac)
        .bind(id.to_string())
        .bind(want)
        // The row as read: a role removed or a disable in the meantime makes this a retry.
        .bind(row.try_get::<String, _>("mac")?)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Err(StoreError::Auth);
        }
        sqlx::query("DELETE FROM login_throttle WHERE key = $1")
            .bind(attempt.key)
            .execute(&mut *tx)
            .await?;
        self.append_audit(&mut tx, record(now, id, origin, "user.enrol", json!({})))
            .await?;
        tx.commit().await?;
        Ok(SecondFactor {
            totp_secret: crate::totp::base32(&secret),
            otpauth_url: crate::totp::url(&secret, id)?,
        })
    }

    /// Change one's own password, given the current one. Every session of the account ends,
    /// this one too: log in again with the new password.
    pub async fn change_password(
        &self,
        actor: &Actor,
        current: &str,
        new: &str,
        now: Timestamp,
        origin: &str,
    ) -> Result<(), StoreError> {
        check_password(new)?;
        if current == new {
            return Err(StoreError::Invalid(
                "the new password is the current one; choose another".into(),
            ));
        }
        let attempt = self.begin_attempt(&actor.user, now, origin).await?;
        let row = attempt.account.as_ref().ok_or(StoreError::SessionInvalid)?;
        if !self.account_intact(row, &actor.user)? {
            return Err(StoreError::Auth);
        }
        let hash: String = row.try_get("password_hash")?;
        let pw = current.to_string();
        let old = hash.clone();
        let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &old))
            .await
            .map_err(|e| StoreError::Crypto(format!("password check: {e}")))?;
        if !ok {
            self.record(record(
                now,
                &actor.user,
                origin,
                "auth.password.failed",
                json!({"failures": attempt.failures}),
            ))
            .await?;
            return Err(StoreError::Auth);
        }
        let new_hash = hash_password_blocking(new.to_string()).await?;
        let mac = self.row_mac(
            row,
            &actor.user,
            RowEdit {
                password_hash: Some(&new_hash),
                ..RowEdit::default()
            },
        )?;
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE users SET password_hash = $1, mac = $2 WHERE id = $3 AND password_hash = $4 AND mac = $5",
        )
        .bind(new_hash)
        .bind(mac)
        .bind(actor.user.clone())
        .bind(hash)
        .bind(row.try_get::<String, _>("mac")?)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Err(StoreError::Conflict(
                "the password was changed at the same time; log in again".into(),
            ));
        }
        sqlx::query("DELETE FROM login_throttle WHERE key = $1")
            .bind(attempt.key)
            .execute(&mut *tx)
            .await?;
        self.end_sessions(tx, actor, &actor.user, "user.password", now, origin)
            .await?;
        Ok(())
    }
}
