//! What mandat's tests share, so that each crate's tests stay about their own crate:
//!
//! - [`databases`] and [`fresh_url`]: every test that touches the store runs on SQLite and, when
//!   `MANDAT_TEST_POSTGRES` names a server, on PostgreSQL as well;
//! - [`provision`] and [`session`]: accounts that log in for real. The control plane acts only for
//!   a [`Session`] it made at login, so a test cannot hand it a user it wrote down; it logs the user
//!   in (password and TOTP code) and keeps the session for later calls;
//! - [`data`]: where the shared test data lies (read in place, never copied).
//!
//! It is a dev-dependency only: no program links it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, MutexGuard};

use mandat_control::{Control, Session};
use mandat_law::permit::Agency;
use mandat_law::{Actor, Role, Timestamp};

/// The audit origin of what a test does directly on the control plane.
pub const ORIGIN: &str = "test";

/// The start of most tests' stories: a Monday morning in August 2026, after the law came in.
pub fn t0() -> Timestamp {
    Timestamp::parse_rfc3339("2026-08-03T08:00:00Z").expect("a valid time")
}

/// The password of a test account.
pub fn password(user: &str) -> String {
    format!("correct horse {user} battery")
}

/// The shared test data (`MANDAT_DATA`, else `../shared/data` beside the repository). A test that
/// needs it fails here, with what to do, rather than skip.
pub fn data() -> PathBuf {
    let d = std::env::var_os("MANDAT_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    assert!(
        d.join("synthetic/ground_truth.json").is_file(),
        "test data not found at {}; set MANDAT_DATA",
        d.display()
    );
    d
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// The databases every store test runs on. With `MANDAT_TEST_POSTGRES` set, PostgreSQL is
/// mandatory: a server that cannot be reached fails the test rather than being skipped.
pub fn databases() -> Vec<Db> {
    let mut v = vec![Db::Sqlite];
    if std::env::var("MANDAT_TEST_POSTGRES").is_ok_and(|u| !u.is_empty()) {
        v.push(Db::Postgres);
    }
    v
}

/// A fresh, empty database URL of the given kind (a file in `dir`, or a new PostgreSQL database).
pub async fn fresh_url(db: Db, dir: &Path) -> String {
    match db {
        Db::Sqlite => format!("sqlite://{}", dir.join("mandat.db").display()),
        Db::Postgres => {
            let admin = std::env::var("MANDAT_TEST_POSTGRES").expect("MANDAT_TEST_POSTGRES");
            sqlx::any::install_default_drivers();
            let mut b = [0u8; 6];
            getrandom::fill(&mut b).expect("randomness");
            let name = format!("mandat_t_{}", hex::encode(b));
            let pool = sqlx::AnyPool::connect(&admin)
                .await
                .expect("MANDAT_TEST_POSTGRES is set but PostgreSQL cannot be reached");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&pool)
                .await
                .expect("CREATE DATABASE");
            pool.close().await;
            let (base, _) = admin.rsplit_once('/').expect("a URL with a database");
            format!("{base}/{name}")
        }
    }
}

/// A connection of the test's own to the database, to tamper with it as an insider would.
pub async fn raw_pool(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(url)
        .await
        .expect("the test database")
}

/// The accounts of one control plane: their TOTP secrets and the sessions they logged in with.
#[derive(Default)]
struct Accounts {
    secrets: HashMap<String, String>,
    sessions: HashMap<String, Session>,
}

/// Keyed by the address of the control plane's store, which stays put while a fixture moves the
/// control plane around; tests hold many at once. [`forget`] clears an address a dropped store had.
fn registry() -> MutexGuard<'static, HashMap<usize, Accounts>> {
    static R: LazyLock<Mutex<HashMap<usize, Accounts>>> = LazyLock::new(Default::default);
    R.lock().unwrap_or_else(|e| e.into_inner())
}

fn key(control: &Control) -> usize {
    std::sync::Arc::as_ptr(control.store()) as usize
}

/// Forget every account kept for this control plane's store (call it for a new one: a dropped
/// test's store may have had its address).
pub fn forget(control: &Control) {
    registry().remove(&key(control));
}

/// Remember the TOTP secret of an account a test enrolled.
pub fn remember(control: &Control, user: &str, secret: &str) {
    registry()
        .entry(key(control))
        .or_default()
        .secrets
        .insert(user.to_string(), secret.to_string());
}

/// The TOTP secret of `user`, as [`provision`] or [`remember`] kept it.
pub fn secret(control: &Control, user: &str) -> String {
    secret_by_key(key(control), user)
}

/// Which accounts `control` has here: for a fixture that finds its control plane by another
/// handle (a server's address) and must not keep it alive.
pub fn account_key(control: &Control) -> usize {
    key(control)
}

/// [`secret`] by [`account_key`].
pub fn secret_by_key(key: usize, user: &str) -> String {
    registry()
        .get(&key)
        .and_then(|a| a.secrets.get(user).cloned())
        .unwrap_or_else(|| panic!("no TOTP secret of {user}: provision it with mandat_testkit"))
}

/// Keep `session` for later [`session`] calls of its user.
pub fn keep(control: &Control, session: &Session) {
    registry()
        .entry(key(control))
        .or_default()
        .sessions
        .insert(session.user.clone(), session.clone());
}

/// Provision `user` of `agency` with `roles` in force (the key holder's path) and log them in.
/// The login uses the code of the step before now, still accepted, so that a test's own login
/// in this step is not refused as a code used twice, and the clock stays where the test put it.
/// Returns the TOTP secret.
pub async fn provision(
    control: &Control,
    user: &str,
    password: &str,
    roles: &[Role],
    agency: Agency,
) -> Result<String, mandat_control::ControlError> {
    let secret = control
        .provision_user_in(user, password, roles, agency, ORIGIN)
        .await?;
    remember(control, user, &secret);
    let earlier = Timestamp(control.now()?.0 - 30_000);
    let code = mandat_store::totp::code(&secret, earlier)?;
    let (session, _) = control.login(user, password, &code, ORIGIN).await?;
    keep(control, &session);
    Ok(secret)
}

/// The session `who` logged in with on `control`. The roles and agency written in `who` must be
/// the ones the account holds: a test cannot make the control plane believe otherwise.
pub fn session(control: &Control, who: &Actor) -> Session {
    let s = registry()
        .get(&key(control))
        .and_then(|a| a.sessions.get(&who.user).cloned())
        .unwrap_or_else(|| {
            panic!(
                "{} has not logged in: provision it with mandat_testkit",
                who.user
            )
        });
    assert_eq!(s.actor(), who, "{} holds other roles or agency", who.user);
    s
}
