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
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};

use mandat_control::{Control, KeyHolder, Session};
use mandat_law::permit::Agency;
use mandat_law::{Actor, Role, Timestamp};
use mandat_store::{SecretKey, Store};

/// The audit origin of what a test does directly on the control plane.
pub const ORIGIN: &str = "test";

/// The start of most tests' stories: a Monday morning in August 2026, after the law came in.
pub fn t0() -> Timestamp {
    Timestamp::parse_rfc3339("2026-08-03T08:00:00Z").expect("a valid time")
}

/// What the enrolment gate measured on a test's reference photo: a clear, frontal face.
/// A partner agreement from 2025 through 2029, covering [`t0`] and the real clock's today.
pub fn agreement() -> mandat_law::Agreement {
    mandat_law::Agreement {
        basis: "Kamerabevakningstillstånd KB 2025-1, avtal om polisens användning §3".into(),
        reference: "KS 2025/123".into(),
        period: mandat_law::Period {
            start: Timestamp::parse_rfc3339("2025-01-01T00:00Z").unwrap(),
            end: Timestamp::parse_rfc3339("2029-12-31T00:00Z").unwrap(),
        },
        contact: "Trygghetscentralen, vakthavande".into(),
    }
}

pub const QUALITY: mandat_law::permit::PhotoQuality = mandat_law::permit::PhotoQuality {
    width: 250,
    height: 250,
    face_box: [70.0, 60.0, 180.0, 200.0],
    inter_eye_px: 45.0,
    sharpness: 120.0,
    roll_deg: 1.5,
    yaw: 0.05,
    pitch: 0.5,
    detector_score: 0.95,
};

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

/// One test's deployment: its store, the key holder's proof, the accounts' TOTP secrets and the
/// sessions they logged in with.
struct Accounts {
    /// Weak, so a finished test's database connections close with its fixture.
    store: Weak<Store>,
    holder: Arc<KeyHolder>,
    secrets: HashMap<String, String>,
    sessions: HashMap<String, Session>,
}

/// Keyed by the control plane's instance id, which moves with it; tests hold many at once.
fn registry() -> MutexGuard<'static, HashMap<u64, Accounts>> {
    static R: LazyLock<Mutex<HashMap<u64, Accounts>>> = LazyLock::new(Default::default);
    R.lock().unwrap_or_else(|e| e.into_inner())
}

fn key(control: &Control) -> u64 {
    control.instance()
}

fn with<T>(control: &Control, f: impl FnOnce(&mut Accounts) -> T) -> T {
    let mut r = registry();
    let a = r
        .get_mut(&key(control))
        .expect("a control plane from a fixture: mandat_testkit::register it first");
    f(a)
}

/// Register a fixture's control plane with the store it runs on and the master key that store was
/// opened with (the key holder's proof, for [`provision`]).
pub fn register(control: &Control, store: Arc<Store>, master: &SecretKey) {
    let holder = control
        .key_holder(master)
        .expect("the master key the store was opened with");
    let mut r = registry();
    // Finished tests' entries go.
    r.retain(|_, a| a.store.strong_count() > 0);
    r.insert(
        key(control),
        Accounts {
            store: Arc::downgrade(&store),
            holder: Arc::new(holder),
            secrets: HashMap::new(),
            sessions: HashMap::new(),
        },
    );
}

/// The store under a registered control plane, for a test that looks at or tampers with what it
/// holds (the control plane itself gives no caller its store).
pub fn store(control: &Control) -> Arc<Store> {
    with(control, |a| a.store.upgrade()).expect("the store of a control plane that still runs")
}

/// Remember the TOTP secret of an account a test enrolled.
pub fn remember(control: &Control, user: &str, secret: &str) {
    with(control, |a| {
        a.secrets.insert(user.to_string(), secret.to_string())
    });
}

/// The TOTP secret of `user`, as [`provision`] or [`remember`] kept it.
pub fn secret(control: &Control, user: &str) -> String {
    secret_by_key(key(control), user)
}

/// Which accounts `control` has here: for a fixture that finds its control plane by another
/// handle (a server's address) and must not keep it alive.
pub fn account_key(control: &Control) -> u64 {
    key(control)
}

/// [`secret`] by [`account_key`].
pub fn secret_by_key(key: u64, user: &str) -> String {
    registry()
        .get(&key)
        .and_then(|a| a.secrets.get(user).cloned())
        .unwrap_or_else(|| panic!("no TOTP secret of {user}: provision it with mandat_testkit"))
}

/// Keep `session` for later [`session`] calls of its user.
pub fn keep(control: &Control, session: &Session) {
    with(control, |a| {
        a.sessions.insert(session.user.clone(), session.clone())
    });
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
    // Cloned out, so the registry is not locked across the call.
    let holder = with(control, |a| a.holder.clone());
    let secret = control
        .provision_user_in(&holder, user, password, roles, agency, ORIGIN)
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

/// A risk analysis of the running model made now on `control`'s clock, as a test's fixture:
/// labelled as such, with figures of the published form that pass the model gates.
pub fn risk_analysis(control: &Control) -> mandat_law::risk::RiskAnalysis {
    let sha = mandat_control::calibration::pinned_embedder_sha256().to_string();
    mandat_law::risk::RiskAnalysis {
        run_at: control.now().expect("a clock"),
        mandat_version: "test fixture".into(),
        embedder_sha256: sha.clone(),
        detector_sha256: sha,
        calibration: "test-fixture".into(),
        sample: None,
        lfw_accuracy: 0.9935,
        tar_at_far_1e3: 0.9887,
        blufr_dir_at_fpir_1pc: 0.9,
        operating_fpir: 1e-4,
        operating_watchlist: 3,
        operating_threshold: 0.443,
        spread_global: Some(mandat_law::risk::Spread {
            ratio: Some(10.3),
            worst: "test fixture".into(),
            best: "test fixture".into(),
        }),
        spread_per_template: None,
        calibration_within_2x: true,
    }
}

/// Record [`risk_analysis`] as `auditor` (an auditor or admin already logged in), so that grants
/// pass the risk-analysis gate.
pub async fn record_risk_analysis(control: &Control, auditor: &Actor) {
    control
        .record_evaluation(&session(control, auditor), &risk_analysis(control), ORIGIN)
        .await
        .expect("an auditor records an evaluation");
}

/// A calibration table for the running model with per-pair rates 1e-1 .. 1e-6 at cosines
/// 0.25 .. 0.50 (1e-4 at 0.40) and a passing held-out check: what an admin may store.
pub fn calibration_table(version: &str) -> mandat_eval::calibrate::Calibration {
    use mandat_eval::calibrate::{Calibration, HeldOut, Point};
    Calibration {
        version: version.into(),
        model_sha256: mandat_control::calibration::pinned_embedder_sha256().into(),
        detector_sha256: "d".repeat(64),
        created_at: "2026-11-23T00:00:00Z".into(),
        data: "synthetic".into(),
        impostor_pairs: 10_000_000,
        curve: (1..=6)
            .map(|k| Point {
                fmr: 10f64.powi(-k),
                threshold: 0.20 + 0.05 * k as f32,
            })
            .collect(),
        held_out: vec![HeldOut {
            fpir_target: 1e-4,
            watchlist: 3,
            threshold: 0.42,
            false_alarms: 210,
            trials: 2_000_000,
            fpir_realised: 1.05e-4,
            ratio: 1.05,
            within_2x: true,
        }],
        per_template: None,
    }
}

/// `a` with the grounds its purpose needs ([`mandat_law::grounds`]): murder from the catalogue
/// with the suspect reasonably suspected, a missing person, a threat to life, a judgment in force.
/// Grounds of other purposes are taken off.
pub fn with_grounds(mut a: mandat_law::Application) -> mandat_law::Application {
    use mandat_law::grounds::{Judgment, Suspicion, Threat, ThreatKind, VictimCategory};
    use mandat_law::permit::{AnnexII, Offence, Purpose, Stage};
    let p = a.purpose;
    a.offence = p.requires_offence().then(|| Offence {
        code: Some("brb-3-1".into()),
        description: "mord (BrB 3 kap. 1 §)".into(),
        annex_ii: Some(AnnexII::Murder),
        max_penalty_years: 18,
        stage: Stage::Completed,
        suspicion: (p == Purpose::SuspectLocation).then_some(Suspicion::ReasonablySuspected),
        confirmed_by: None,
    });
    a.victim = (p == Purpose::VictimSearch).then_some(VictimCategory::MissingPerson);
    a.threat = (p == Purpose::ImminentThreat).then(|| Threat {
        kind: ThreatKind::Life,
        imminence: "armed and on his way".into(),
    });
    a.judgment = (p == Purpose::SentenceEnforcement).then(|| Judgment {
        court: "Stockholms tingsrätt".into(),
        case_number: "B 1234-26".into(),
        legal_force: Timestamp::parse_rfc3339("2026-06-01T00:00:00Z").expect("a valid time"),
    });
    a
}
