//! Shared set-up for the control-plane tests: a fresh database on SQLite (always) and on PostgreSQL
//! (when `MANDAT_TEST_POSTGRES` holds an admin URL, as `./test.sh` sets it), users of every role, a
//! camera, and a fake clock.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mandat_audit::AuditKey;
use mandat_control::{Control, ScopeCache, Session};
use mandat_law::permit::*;
use mandat_law::time::FakeClock;
use mandat_law::{Actor, Application, Clock, Role, SWEDEN, Timestamp};
use mandat_store::alerts::NewAlert;
use mandat_store::{Camera, SecretKey, Store};
use sqlx::Row;

pub use mandat_testkit::{Db, ORIGIN, databases, fresh_url, password, raw_pool, t0};

pub struct Env {
    pub control: Control,
    pub store: Arc<Store>,
    pub scope: Arc<ScopeCache>,
    pub clock: Arc<FakeClock>,
    pub url: String,
    pub master_hex: String,
    pub audit_bytes: [u8; 32],
    pub dir: tempfile::TempDir,
    pub db: Db,
}

impl Env {
    /// A fresh one-time code of `user`: the clock moves on one TOTP step first, because a code is
    /// accepted only once.
    pub fn otp(&self, user: &str) -> String {
        self.clock.advance(30_000);
        self.otp_now(user)
    }

    /// The one-time code of `user` now, without moving the clock: for a login that must be
    /// refused for another reason (a back-off that must not run out meanwhile).
    pub fn otp_now(&self, user: &str) -> String {
        let secret = mandat_testkit::secret(&self.control, user);
        mandat_store::totp::code(&secret, self.clock.now().unwrap_or(Timestamp(0))).unwrap()
    }

    /// Provision `user` with `roles` in force (the key holder's path), logged in.
    pub async fn provision(&self, user: &str, roles: &[Role]) -> Session {
        mandat_testkit::provision(
            &self.control,
            user,
            &password(user),
            roles,
            Agency::Polismyndigheten,
        )
        .await
        .unwrap();
        mandat_testkit::session(&self.control, &Actor::new(user, roles))
    }

    /// Log `user` in with its password and a fresh code, as a person would; later calls of
    /// [`Env::act`] for that user use this session.
    pub async fn log_in(&self, user: &str) -> Session {
        let code = self.otp(user);
        let (session, _) = self
            .control
            .login(user, &password(user), &code, ORIGIN)
            .await
            .unwrap();
        mandat_testkit::keep(&self.control, &session);
        session
    }

    /// The key holder's proof: this database's master key.
    pub fn key_holder(&self) -> mandat_control::KeyHolder {
        self.control
            .key_holder(&SecretKey::from_hex(&self.master_hex, "test key").unwrap())
            .unwrap()
    }

    /// The session `who` logged in with: the control plane acts only for a logged-in user.
    pub fn act(&self, who: &Actor) -> Session {
        mandat_testkit::session(&self.control, who)
    }

    /// Remember the TOTP secret of an account a test made.
    pub fn remember(&self, user: &str, secret: String) {
        mandat_testkit::remember(&self.control, user, &secret);
    }
}

pub fn admin() -> Actor {
    Actor::new("admin", &[Role::Admin])
}
/// The second admin, who approves what the first asks for.
pub fn admin2() -> Actor {
    Actor::new("admin2", &[Role::Admin])
}
pub fn officer() -> Actor {
    Actor::new("officer", &[Role::Applicant])
}
pub fn pros() -> Actor {
    Actor::new("pros", &[Role::Prosecutor])
}
pub fn judge() -> Actor {
    Actor::new("judge", &[Role::Judge])
}
pub fn reviewer() -> Actor {
    Actor::new("rev", &[Role::Reviewer])
}
pub fn auditor() -> Actor {
    Actor::new("aud", &[Role::Auditor])
}

/// A store on `url`; its wrapping key lives in `keys` (every store a test opens on one database
/// shares that directory, as processes on one machine share the key directory).
pub async fn open(url: &str, master_hex: &str, audit: [u8; 32], keys: &Path) -> Arc<Store> {
    Arc::new(
        Store::open(
            url,
            SecretKey::from_hex(master_hex, "test key").unwrap(),
            AuditKey::from_bytes(audit),
            {
                let file = keys.join("wrap.key");
                if !file.exists() {
                    mandat_store::WrapKeys::create(&file).unwrap();
                }
                mandat_store::WrapKeys::file(&file).unwrap()
            },
        )
        .await
        .unwrap(),
    )
}

pub async fn env(db: Db) -> Env {
    env_with(db, mandat_control::calibration::pinned_embedder()).await
}

/// [`env`] whose control plane and scope run `embedder`. The risk analysis recorded is still
/// the pinned embedder's.
pub async fn env_with(db: Db, embedder: mandat_law::risk::ModelRef) -> Env {
    env_full(db, embedder, &SWEDEN).await
}

/// [`env`] under another jurisdiction profile.
pub async fn env_in(db: Db, profile: &'static mandat_law::Profile) -> Env {
    env_full(db, mandat_control::calibration::pinned_embedder(), profile).await
}

async fn env_full(
    db: Db,
    embedder: mandat_law::risk::ModelRef,
    profile: &'static mandat_law::Profile,
) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_url(db, dir.path()).await;
    let master_hex = SecretKey::random().unwrap().to_hex();
    let audit_bytes = [7u8; 32];
    let store = open(&url, &master_hex, audit_bytes, dir.path()).await;
    let clock = Arc::new(FakeClock::at(t0()));
    let scope = Arc::new(
        ScopeCache::new(clock.clone(), Duration::from_secs(3600)).with_embedder(embedder.clone()),
    );
    let (ca_cert, ca_key) = mandat_control::pki::create_ca("test").unwrap();
    let control = Control::new(store.clone(), clock.clone(), profile)
        .with_embedder(embedder)
        .with_scope(scope.clone())
        .with_ca(Arc::new(
            mandat_control::pki::Ca::from_pem(&ca_cert, &ca_key).unwrap(),
        ));
    mandat_testkit::register(
        &control,
        store.clone(),
        &SecretKey::from_hex(&master_hex, "test key").unwrap(),
    );
    for a in [
        admin(),
        admin2(),
        officer(),
        pros(),
        judge(),
        reviewer(),
        auditor(),
    ] {
        mandat_testkit::provision(
            &control,
            &a.user,
            &password(&a.user),
            &a.roles,
            Agency::Polismyndigheten,
        )
        .await
        .unwrap();
    }
    // Every grant rests on a recent evaluation of the running model.
    mandat_testkit::record_risk_analysis(&control, &auditor()).await;
    for (id, loc) in [("cam-1", (59.3326, 18.0649)), ("cam-2", (57.7, 11.97))] {
        control
            .add_camera(
                &mandat_testkit::session(&control, &admin()),
                &Camera {
                    id: id.into(),
                    name: format!("camera {id}"),
                    location: Some(loc),
                    owner: "police".into(),
                    enabled: true,
                    agreement: None,
                },
                &format!("rtsp://user:secret@10.0.0.1/{id}"),
                ORIGIN,
            )
            .await
            .unwrap();
    }
    Env {
        control,
        store,
        scope,
        clock,
        url,
        master_hex,
        audit_bytes,
        dir,
        db,
    }
}

pub fn application(purpose: Purpose) -> Application {
    mandat_testkit::with_grounds(Application {
        agency: Agency::Polismyndigheten,
        purpose,
        offence: None,
        victim: None,
        threat: None,
        judgment: None,
        persons: vec![DesignatedPerson {
            id: "p1".into(),
            label: "Person One".into(),
            photos: vec![PhotoRef {
                id: "ph1".into(),
                source: "passport register".into(),
            }],
        }],
        area: Area {
            cameras: vec!["cam-1".into()],
            polygon: None,
        },
        period: Period {
            start: t0(),
            end: t0().plus_hours(72),
        },
        reasons: Reasons {
            necessity: "n".into(),
            proportionality: "p".into(),
            fria_ref: "FRIA-1".into(),
            eu_db_ref: "EU-1".into(),
        },
        threshold: 0.4,
        target: None,
        case_number: "K-123456-26".into(),
        embedder: None,
    })
}

/// A recognisable photo payload and template, so tests can search raw storage for them.
pub const PHOTO: &[u8] = b"PHOTO-PLAINTEXT-MARKER-0123456789";

pub fn template() -> Vec<f32> {
    (0..128).map(|i| 0.001 * i as f32 + 0.5).collect()
}

pub fn template_bytes() -> Vec<u8> {
    template().iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The first designated person of `permit` and their first photo, by the ids the server gave them.
pub async fn person_of(e: &Env, permit: &str) -> (String, String) {
    let p = e.store.permit(permit).await.unwrap();
    let d = &p.application.persons[0];
    (d.id.clone(), d.photos[0].id.clone())
}

/// Enrol the application's one photo in draft `id`, as `applicant`.
pub async fn enrol_photo(e: &Env, applicant: &Actor, id: &str) {
    enrol_photo_on(&e.control, e, applicant, id).await.unwrap();
}

/// [`enrol_photo`] through `control`, another control plane on the same database.
pub async fn enrol_photo_on(
    control: &Control,
    e: &Env,
    applicant: &Actor,
    id: &str,
) -> Result<(), mandat_control::ControlError> {
    let (person, photo) = person_of(e, id).await;
    control
        .enrol(
            &e.act(applicant),
            id,
            &person,
            &photo,
            PHOTO,
            &template(),
            &mandat_testkit::QUALITY,
            ORIGIN,
        )
        .await
}

/// Draft by `applicant`, enrol the one photo, and put the team on it: the decider the purpose
/// needs (the judge when a prosecutor applies, else the prosecutor) and the reviewer.
pub async fn drafted(e: &Env, purpose: Purpose, applicant: &Actor) -> String {
    drafted_with(e, application(purpose), applicant).await
}

/// [`drafted`] for an application of the test's own.
pub async fn drafted_with(e: &Env, a: Application, applicant: &Actor) -> String {
    let p = e.control.draft(&e.act(applicant), a, ORIGIN).await.unwrap();
    enrol_photo(e, applicant, &p.id).await;
    put_team(e, applicant, &p.id).await;
    p.id
}

/// The team of `id`: the decider its purpose needs (the judge for a court, else the prosecutor),
/// the reviewer, and `rev2` where the test made that account.
pub async fn put_team(e: &Env, applicant: &Actor, id: &str) {
    let p = e.store.permit(id).await.unwrap();
    let decider = match e.control.profile().rule(p.application.purpose).decider {
        mandat_law::Authority::Court => judge(),
        mandat_law::Authority::Prosecutor => pros(),
    };
    let mut team = vec![
        (decider.user, decider.roles[0]),
        (reviewer().user, Role::Reviewer),
    ];
    if e.store
        .users()
        .await
        .unwrap()
        .iter()
        .any(|u| u.user == "rev2")
    {
        team.push(("rev2".into(), Role::Reviewer));
    }
    for (user, role) in team {
        if user != applicant.user {
            e.control
                .assign_team(&e.act(applicant), id, &user, Some(role), ORIGIN)
                .await
                .unwrap();
        }
    }
}

/// A candidate alert for the permit's first person on `cam-1`, as the engine raises one.
pub async fn hit(e: &Env, id: &str, permit: &str) -> NewAlert {
    NewAlert {
        id: id.into(),
        permit: permit.into(),
        person: person_of(e, permit).await.0,
        camera: "cam-1".into(),
        // Now on the test clock: hits for one person and camera less than
        // `mandat_store::alerts::FOLD_WINDOW_MS` apart are one candidate.
        captured_at: e.control.now().unwrap(),
        frame_index: 1,
        score: 0.7,
        threshold: 0.4,
        watchlist_version: "v".repeat(64),
        crop_jpeg: b"\xFF\xD8crop".to_vec(),
        frame_jpeg: b"\xFF\xD8frame".to_vec(),
    }
}

/// A victim-search permit on cam-1 for t0 .. t0+72h, applied for, waiting for the prosecutor.
pub async fn applied(e: &Env) -> String {
    let id = drafted(e, Purpose::VictimSearch, &officer()).await;
    e.control
        .apply(&e.act(&officer()), &id, ORIGIN)
        .await
        .unwrap();
    id
}

/// A granted victim-search permit on cam-1 for t0 .. t0+72h.
pub async fn granted(e: &Env) -> String {
    let id = applied(e).await;
    e.control
        .decide(
            &e.act(&pros()),
            &id,
            mandat_law::Outcome::Grant,
            "necessary",
            ORIGIN,
        )
        .await
        .unwrap();
    id
}

/// Every sealed blob and wrapped key of `permit` as stored now.
pub async fn sealed(e: &Env, permit: &str) -> Vec<Vec<u8>> {
    let raw = raw_pool(&e.url).await;
    let mut v = Vec::new();
    for q in [
        "SELECT wrapped AS b FROM permit_keys WHERE permit_id = $1",
        "SELECT sealed AS b FROM permits WHERE id = $1",
        "SELECT sealed AS b FROM photos WHERE permit_id = $1",
        "SELECT sealed AS b FROM templates WHERE permit_id = $1",
        "SELECT crop_sealed AS b FROM alerts WHERE permit_id = $1",
        "SELECT frame_sealed AS b FROM alerts WHERE permit_id = $1",
    ] {
        for r in sqlx::query(q)
            .bind(permit.to_string())
            .fetch_all(&raw)
            .await
            .unwrap()
        {
            if let Some(b) = r.get::<Option<Vec<u8>>, _>("b") {
                v.push(b);
            }
        }
    }
    raw.close().await;
    v
}

/// None of `blobs` is anywhere the database keeps bytes: on SQLite, in any file of its directory
/// (database, WAL, shared memory); on PostgreSQL, in any blob column read back, and the tables
/// were vacuumed, so no dead tuple holds them.
pub async fn assert_gone(e: &Env, blobs: &[Vec<u8>], what: &str) {
    assert!(!blobs.is_empty(), "{what}: nothing to look for");
    let mut all = Vec::new();
    match e.db {
        Db::Sqlite => {
            for f in std::fs::read_dir(e.dir.path()).unwrap() {
                all.extend(std::fs::read(f.unwrap().path()).unwrap());
            }
        }
        Db::Postgres => {
            let raw = raw_pool(&e.url).await;
            for q in [
                "SELECT wrapped AS b FROM permit_keys",
                "SELECT sealed AS b FROM permits",
                "SELECT sealed AS b FROM photos",
                "SELECT sealed AS b FROM templates",
                "SELECT crop_sealed AS b FROM alerts",
                "SELECT frame_sealed AS b FROM alerts",
            ] {
                for r in sqlx::query(q).fetch_all(&raw).await.unwrap() {
                    all.extend(r.get::<Option<Vec<u8>>, _>("b").unwrap_or_default());
                }
            }
            for table in ["permit_keys", "permits", "photos", "templates", "alerts"] {
                let n: i64 = sqlx::query(
                    "SELECT COUNT(*) AS n FROM pg_stat_user_tables WHERE relname = $1 AND last_vacuum IS NOT NULL",
                )
                .bind(table)
                .fetch_one(&raw)
                .await
                .unwrap()
                .get("n");
                assert_eq!(n, 1, "{what}: {table} vacuumed");
            }
            raw.close().await;
        }
    }
    for b in blobs {
        assert!(b.len() >= 32);
        assert!(
            !all.windows(32).any(|w| w == &b[..32]),
            "{:?}, {what}: erased bytes still stored",
            e.db
        );
    }
}
