//! Shared set-up for the web tests: a control plane on a fresh SQLite database with a fake clock,
//! a server on a free loopback port, and the application and alert every test starts from.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mandat_audit::AuditKey;
use mandat_control::{Control, ScopeCache};
use mandat_law::permit::*;
use mandat_law::time::FakeClock;
use mandat_law::{Actor, Application, Outcome, Role, SWEDEN, Timestamp};
use mandat_store::alerts::NewAlert;
use mandat_store::{Camera, SecretKey, Store};

pub fn t0() -> Timestamp {
    Timestamp::parse_rfc3339("2026-08-03T08:00:00Z").unwrap()
}

/// A victim search on `cam-1` for one person with one photo, 48 hours from `t0`.
pub fn application() -> Application {
    mandat_testkit::with_grounds(Application {
        agency: Agency::Polismyndigheten,
        purpose: Purpose::VictimSearch,
        offence: None,
        victim: None,
        threat: None,
        judgment: None,
        persons: vec![DesignatedPerson {
            id: "p1".into(),
            label: "l".into(),
            photos: vec![PhotoRef {
                id: "ph".into(),
                source: "s".into(),
            }],
        }],
        area: Area {
            cameras: vec!["cam-1".into()],
            polygon: None,
        },
        period: Period {
            start: t0(),
            end: t0().plus_hours(48),
        },
        reasons: Reasons {
            necessity: "n".into(),
            proportionality: "p".into(),
            fria_ref: "f".into(),
            eu_db_ref: "e".into(),
        },
        threshold: 0.4,
        target: None,
        case_number: "K-123456-26".into(),
        embedder: None,
    })
}

/// The id the server gave the first person of `permit`, and that person's first photo.
pub async fn person_of(control: &Control, permit: &str) -> (String, String) {
    let p = mandat_testkit::store(control).permit(permit).await.unwrap();
    let d = &p.application.persons[0];
    (d.id.clone(), d.photos[0].id.clone())
}

/// A candidate alert on `cam-1` for the first person of `permit`.
/// When the hit `id` was captured: `t0` plus a fold window per trailing number (`X1`, `A-2`),
/// so alerts numbered apart are separate candidates, not sightings of one.
fn seen_at(id: &str) -> Timestamp {
    let digits: String = id.chars().rev().take_while(char::is_ascii_digit).collect();
    let n: i64 = digits
        .chars()
        .rev()
        .collect::<String>()
        .parse()
        .unwrap_or(0);
    t0().plus_millis(n * (mandat_store::alerts::FOLD_WINDOW_MS + 1_000))
}

pub async fn alert(control: &Control, id: &str, permit: &str) -> NewAlert {
    NewAlert {
        id: id.into(),
        permit: permit.into(),
        person: person_of(control, permit).await.0,
        camera: "cam-1".into(),
        captured_at: seen_at(id),
        frame_index: 7,
        score: 0.61,
        threshold: 0.4,
        watchlist_version: "v".repeat(64),
        crop_jpeg: b"\xFF\xD8\xFFcrop".to_vec(),
        frame_jpeg: b"\xFF\xD8\xFFframe".to_vec(),
    }
}

/// A control plane on a fresh database (kept alive by the returned directory), its clock one hour
/// after `t0`.
pub async fn control() -> (tempfile::TempDir, Arc<FakeClock>, Arc<Control>) {
    control_in(&SWEDEN).await
}

/// [`control`] under another jurisdiction profile.
pub async fn control_in(
    profile: &'static mandat_law::Profile,
) -> (tempfile::TempDir, Arc<FakeClock>, Arc<Control>) {
    let dir = tempfile::tempdir().unwrap();
    let master = SecretKey::random().unwrap();
    let store = Arc::new(
        Store::open(
            &format!("sqlite://{}", dir.path().join("m.db").display()),
            SecretKey::from_hex(&master.to_hex(), "test key").unwrap(),
            AuditKey::from_bytes([5; 32]),
            {
                mandat_store::WrapKeys::create(&dir.path().join("wrap.key")).unwrap();
                mandat_store::WrapKeys::file(&dir.path().join("wrap.key")).unwrap()
            },
        )
        .await
        .unwrap(),
    );
    let clock = Arc::new(FakeClock::at(t0().plus_hours(1)));
    let scope = Arc::new(ScopeCache::new(clock.clone(), Duration::from_secs(3600)));
    // Each login moves the clock on one TOTP step (see `otp`): alerts must outlive a test's logins.
    let control = Arc::new(
        Control::new(store.clone(), clock.clone(), profile)
            .with_scope(scope)
            .with_alert_ttl(8 * 3600 * 1000)
            .with_ca(Arc::new({
                let (cert, key) = mandat_control::pki::create_ca("test").unwrap();
                mandat_control::pki::Ca::from_pem(&cert, &key).unwrap()
            })),
    );
    mandat_testkit::register(&control, store.clone(), &master);
    let k = key(&control);
    registry().push(Accounts {
        control: k,
        addr: None,
        clock: clock.clone(),
    });
    // Every grant rests on a recent evaluation of the running model, recorded by an auditor of
    // its own (no test's role matrix counts it).
    let evaluator = mandat_law::Actor::new("evaluator", &[mandat_law::Role::Auditor]);
    provision(
        &control,
        &evaluator.user,
        "a long password",
        &evaluator.roles,
    )
    .await
    .unwrap();
    mandat_testkit::record_risk_analysis(&control, &evaluator).await;
    (dir, clock, control)
}

/// One test's control plane, found by its server's address: its clock (the accounts themselves
/// are `mandat_testkit`'s).
struct Accounts {
    control: u64,
    addr: Option<SocketAddr>,
    clock: Arc<FakeClock>,
}

fn registry() -> std::sync::MutexGuard<'static, Vec<Accounts>> {
    static R: Mutex<Vec<Accounts>> = Mutex::new(Vec::new());
    R.lock().unwrap_or_else(|e| e.into_inner())
}

fn key(control: &Control) -> u64 {
    mandat_testkit::account_key(control)
}

/// Provision a Polismyndigheten account (the key holder's path), logged in; its TOTP secret.
pub async fn provision(
    control: &Control,
    user: &str,
    password: &str,
    roles: &[mandat_law::Role],
) -> Result<String, mandat_control::ControlError> {
    mandat_testkit::provision(control, user, password, roles, Agency::Polismyndigheten).await
}

/// A fresh one-time code of `user` on the server at `addr`. The fake clock moves on one TOTP step
/// first, because a code is accepted only once.
pub fn otp(addr: SocketAddr, user: &str) -> String {
    let r = registry();
    let a = r
        .iter()
        .find(|a| a.addr == Some(addr))
        .expect("a server from common::serve");
    a.clock.advance(30_000);
    let secret = mandat_testkit::secret_by_key(a.control, user);
    mandat_store::totp::code(&secret, mandat_law::Clock::now(&*a.clock).unwrap()).unwrap()
}

/// The JSON body of an API login of `user` with `password` and a fresh code.
pub fn login_body(addr: SocketAddr, user: &str, password: &str) -> String {
    serde_json::json!({"user": user, "password": password, "totp": otp(addr, user)}).to_string()
}

/// The bearer token `/metrics` asks for on the test servers.
pub const METRICS_TOKEN: &str = "metrics-token-for-the-tests-only";

/// The server for `control` on a free loopback port. Tests log in many users from one address, so
/// the per-address login limit is lifted (the per-account back-off still applies).
pub async fn serve(control: &Arc<Control>) -> SocketAddr {
    serve_with(control, Arc::new(Vec::new)).await
}

/// [`serve`] with the engine's camera health coming from `health`.
pub async fn serve_with(control: &Arc<Control>, health: mandat_web::HealthSource) -> SocketAddr {
    serve_state(control, health, None).await
}

/// [`serve`] with `enroller` in place of the face pipeline that checks uploaded reference photos.
pub async fn serve_enrolling(control: &Arc<Control>, enroller: mandat_web::Enroller) -> SocketAddr {
    serve_state(control, Arc::new(Vec::new), Some(enroller)).await
}

async fn serve_state(
    control: &Arc<Control>,
    health: mandat_web::HealthSource,
    enroller: Option<mandat_web::Enroller>,
) -> SocketAddr {
    let mut state = mandat_web::AppState::new(control.clone(), health)
        .unwrap()
        .with_logins_per_minute(10_000)
        .with_metrics_token(METRICS_TOKEN);
    if let Some(e) = enroller {
        state = state.with_enroller(e);
    }
    let (addr, server) = mandat_web::bind("127.0.0.1:0".parse().unwrap(), state, None)
        .await
        .unwrap();
    tokio::spawn(server);
    let k = key(control);
    if let Some(a) = registry().iter_mut().find(|a| a.control == k) {
        a.addr = Some(addr);
    }
    addr
}

/// Register `cam-1` (Stockholm, a police camera at `rtsp://127.0.0.1/x`) as `admin`.
pub async fn camera_1(control: &Control, admin: &Actor) {
    let cam = Camera {
        id: "cam-1".into(),
        name: "c".into(),
        location: Some((59.33, 18.06)),
        owner: "police".into(),
        enabled: true,
        agreement: None,
    };
    control
        .add_camera(
            &mandat_testkit::session(control, admin),
            &cam,
            "rtsp://127.0.0.1/x",
            "t",
        )
        .await
        .unwrap();
}

/// Enrol the first photo of the first person of `permit`, as `applicant`.
pub async fn enrol_first_photo(control: &Control, applicant: &Actor, permit: &str) {
    let (person, photo) = person_of(control, permit).await;
    control
        .enrol(
            &mandat_testkit::session(control, applicant),
            permit,
            &person,
            &photo,
            b"photo",
            &[0.1; 128],
            &mandat_testkit::QUALITY,
            "t",
        )
        .await
        .unwrap();
}

/// Draft [`application`] as `applicant` and enrol its one photo: the permit's id.
pub async fn drafted(control: &Control, applicant: &Actor) -> String {
    let p = control
        .draft(
            &mandat_testkit::session(control, applicant),
            application(),
            "t",
        )
        .await
        .unwrap();
    enrol_first_photo(control, applicant, &p.id).await;
    // The team: every operator and reviewer of the agency who has an account now, and a
    // prosecutor (`pros` where it exists) as the decider. Accounts made later are outsiders.
    let users = mandat_testkit::store(control).users().await.unwrap();
    let mine = users.iter().filter(|u| {
        u.agency == applicant.agency && u.user != applicant.user && u.disabled_at.is_none()
    });
    let mut team: Vec<(String, Role)> = mine
        .clone()
        .flat_map(|u| {
            u.roles
                .iter()
                .filter(|r| matches!(r, Role::Operator | Role::Reviewer))
                .map(|r| (u.user.clone(), *r))
        })
        .collect();
    let decider = mine
        .filter(|u| u.roles.contains(&Role::Prosecutor))
        .min_by_key(|u| u.user != "pros");
    if let Some(d) = decider {
        team.push((d.user.clone(), Role::Prosecutor));
    }
    for (user, role) in team {
        control
            .assign_team(
                &mandat_testkit::session(control, applicant),
                &p.id,
                &user,
                Some(role),
                "t",
            )
            .await
            .unwrap();
    }
    p.id
}

/// A drafted permit, applied for and granted by `decider`: its id.
pub async fn granted(control: &Control, applicant: &Actor, decider: &Actor) -> String {
    let id = drafted(control, applicant).await;
    control
        .apply(&mandat_testkit::session(control, applicant), &id, "t")
        .await
        .unwrap();
    control
        .decide(
            &mandat_testkit::session(control, decider),
            &id,
            Outcome::Grant,
            "ok",
            "t",
        )
        .await
        .unwrap();
    id
}
