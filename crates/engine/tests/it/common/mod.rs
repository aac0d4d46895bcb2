//! Set-up shared by the engine's end-to-end tests: verified models, a store on SQLite in a temporary
//! directory, users, cameras that replay the test videos, and a permit for the ten watchlist persons
//! of `shared/data/synthetic`, enrolled through the real gate.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mandat_audit::AuditKey;
use mandat_control::{AlertSink, Control, ScopeCache};
use mandat_engine::Models;
use mandat_face::{DetectorConfig, InferenceConfig, Pipeline, QualityGate, Runtime};
use mandat_law::permit::*;
use mandat_law::time::FakeClock;
use mandat_law::{Actor, Application, Clock, Outcome, Role, SWEDEN, Timestamp};
use mandat_store::alerts::NewAlert;
use mandat_store::{Camera, SecretKey, Store};

pub const ORIGIN: &str = "test";

pub use mandat_testkit::{data, t0};

pub fn models() -> Models {
    let store = mandat_models::Store::from_env().unwrap();
    let path = |id| {
        store
            .verify(id)
            .expect("models missing: run `mandat models fetch`")
    };
    Models {
        runtime: Runtime::load(&path(mandat_models::ModelId::OnnxRuntime)).unwrap(),
        detector: path(mandat_models::ModelId::Yunet),
        embedder: path(mandat_models::ModelId::Sface),
    }
}

pub fn officer() -> Actor {
    Actor::new("officer", &[Role::Applicant])
}
pub fn pros() -> Actor {
    Actor::new("pros", &[Role::Prosecutor])
}

/// The ten watchlist identities of the synthetic video.
pub fn watchlist() -> Vec<String> {
    let gt: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data().join("synthetic/ground_truth.json")).unwrap(),
    )
    .unwrap();
    gt["watchlist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["identity"].as_str().unwrap().to_string())
        .collect()
}

pub struct World {
    pub dir: tempfile::TempDir,
    pub store: Arc<Store>,
    pub control: Arc<Control>,
    pub scope: Arc<ScopeCache>,
    pub clock: Arc<dyn Clock>,
    pub models: Models,
}

/// Store, control plane, users and cameras. `cam-1` and `cam-2` replay the synthetic video,
/// `street` replays the street clip.
pub async fn world(clock: Arc<dyn Clock>) -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("mandat.db").display());
    let master = SecretKey::random().unwrap();
    let store = Arc::new(
        Store::open(
            &url,
            SecretKey::from_hex(&master.to_hex(), "test key").unwrap(),
            AuditKey::from_bytes([3; 32]),
            {
                mandat_store::WrapKeys::create(&dir.path().join("wrap.key")).unwrap();
                mandat_store::WrapKeys::file(&dir.path().join("wrap.key")).unwrap()
            },
        )
        .await
        .unwrap(),
    );
    let scope = Arc::new(ScopeCache::new(clock.clone(), Duration::from_secs(3600)));
    let control =
        Arc::new(Control::new(store.clone(), clock.clone(), &SWEDEN).with_scope(scope.clone()));
    let admin = Actor::new("admin", &[Role::Admin]);
    mandat_testkit::register(&control, store.clone(), &master);
    let evaluator = Actor::new("evaluator", &[Role::Auditor]);
    for a in [admin.clone(), officer(), pros(), evaluator.clone()] {
        mandat_testkit::provision(
            &control,
            &a.user,
            "a long password",
            &a.roles,
            Agency::Polismyndigheten,
        )
        .await
        .unwrap();
    }
    // Every grant rests on a recent evaluation of the running model.
    mandat_testkit::record_risk_analysis(&control, &evaluator).await;
    let admin = mandat_testkit::session(&control, &admin);
    for (id, file) in [
        ("cam-1", "synthetic/synthetic_watchlist.mp4"),
        ("cam-2", "synthetic/synthetic_watchlist.mp4"),
        ("street", "video/street_1080p.mp4"),
    ] {
        control
            .add_camera(
                &mandat_testkit::session(&control, &admin),
                &Camera {
                    id: id.into(),
                    name: id.into(),
                    location: Some((59.33, 18.06)),
                    owner: "police".into(),
                    enabled: true,
                    agreement: None,
                },
                &data().join(file).display().to_string(),
                ORIGIN,
            )
            .await
            .unwrap();
    }
    World {
        dir,
        store,
        control,
        scope,
        clock,
        models: models(),
    }
}

impl World {
    /// The session `who` logged in with: the control plane acts only for a logged-in user.
    pub fn act(&self, who: &Actor) -> mandat_control::Session {
        mandat_testkit::session(&self.control, who)
    }

    /// Provision `who` (the key holder's path) and log them in.
    pub async fn provision(&self, who: &Actor) -> Result<String, mandat_control::ControlError> {
        mandat_testkit::provision(
            &self.control,
            &who.user,
            "a long password",
            &who.roles,
            Agency::Polismyndigheten,
        )
        .await
    }
}

pub fn application(purpose: Purpose, cameras: &[&str], start: Timestamp) -> Application {
    mandat_testkit::with_grounds(Application {
        agency: Agency::Polismyndigheten,
        purpose,
        offence: None,
        victim: None,
        threat: None,
        judgment: None,
        persons: watchlist()
            .into_iter()
            .map(|name| DesignatedPerson {
                // The server gives the ids; the label keeps the name the ground truth uses.
                id: String::new(),
                label: name.clone(),
                photos: vec![PhotoRef {
                    id: String::new(),
                    source: "LFW image _0001".into(),
                }],
            })
            .collect(),
        area: Area {
            cameras: cameras.iter().map(|c| c.to_string()).collect(),
            polygon: None,
        },
        period: Period {
            start,
            end: start.plus_hours(72),
        },
        reasons: Reasons {
            necessity: "n".into(),
            proportionality: "p".into(),
            fria_ref: "FRIA-1".into(),
            eu_db_ref: "EU-1".into(),
        },
        threshold: 0.363,
        target: None,
        case_number: "K-123456-26".into(),
        embedder: None,
    })
}

/// A camera replaying a test video in a loop at real-time pace, as a live camera would.
pub fn live(id: &str, file: &str) -> mandat_engine::CameraSpec {
    mandat_engine::CameraSpec {
        id: id.into(),
        source: mandat_engine::SourceSpec::File {
            path: data().join(file),
            pace: mandat_video::Pace::RealTime,
            looping: true,
        },
    }
}

/// A face pipeline of the test's own, with the reference settings.
pub fn pipeline(models: &Models) -> Pipeline {
    Pipeline::new(
        &models.runtime,
        &models.detector,
        &models.embedder,
        DetectorConfig::default(),
        InferenceConfig::default(),
    )
    .unwrap()
}

/// Draft and enrol every watchlist photo through the enrolment gate.
pub async fn drafted(w: &World, app: Application) -> String {
    drafted_by(w, app, &officer()).await
}

/// [`drafted`] by another applicant (a prosecutor applies to the court for an investigation).
pub async fn drafted_by(w: &World, app: Application, applicant: &Actor) -> String {
    let p = w
        .control
        .draft(&w.act(applicant), app, ORIGIN)
        .await
        .unwrap();
    let mut pipe = pipeline(&w.models);
    for person in &p.application.persons {
        let name = &person.label;
        let mut bytes =
            std::fs::read(data().join(format!("synthetic/watchlist/{name}.jpg"))).unwrap();
        let mut img = mandat_face::decode(&bytes, Default::default()).unwrap();
        // Some LFW photos show a second face in the background: crop to the person, as an
        // applicant would (`mandat person enrol --crop`), and enrol the crop.
        if matches!(
            pipe.reference_template(&img, &QualityGate::ENROLMENT),
            Err(mandat_face::EnrolError::FaceCount(_))
        ) {
            img = img.crop(50, 50, 200, 200).unwrap();
            bytes = img.to_jpeg(95).unwrap();
        }
        let face = pipe
            .reference_template(&img, &QualityGate::ENROLMENT)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        w.control
            .enrol(
                &w.act(applicant),
                &p.id,
                &person.id,
                &person.photos[0].id,
                &bytes,
                face.embedding.as_slice(),
                &mandat_testkit::QUALITY,
                ORIGIN,
            )
            .await
            .unwrap();
    }
    // The team: the decider the purpose needs and every operator and reviewer there is now.
    let court =
        mandat_law::SWEDEN.rule(p.application.purpose).decider == mandat_law::Authority::Court;
    let decider = if court { Role::Judge } else { Role::Prosecutor };
    for u in w.store.users().await.unwrap() {
        let role = [decider, Role::Reviewer, Role::Operator]
            .into_iter()
            .find(|r| u.roles.contains(r));
        if let Some(role) = role
            && u.user != applicant.user
        {
            w.control
                .assign_team(&w.act(applicant), &p.id, &u.user, Some(role), ORIGIN)
                .await
                .unwrap();
        }
    }
    p.id
}

pub async fn granted(w: &World, cameras: &[&str], start: Timestamp) -> String {
    granted_app(w, application(Purpose::VictimSearch, cameras, start)).await
}

/// `app` drafted by the officer with its photos enrolled, applied for and granted.
pub async fn granted_app(w: &World, app: Application) -> String {
    let id = drafted(w, app).await;
    w.control
        .apply(&w.act(&officer()), &id, ORIGIN)
        .await
        .unwrap();
    w.control
        .decide(&w.act(&pros()), &id, Outcome::Grant, "necessary", ORIGIN)
        .await
        .unwrap();
    id
}

/// The ground-truth name of each person of `permit`, by the opaque id the server gave them.
pub async fn identities(w: &World, permit: &str) -> std::collections::HashMap<String, String> {
    let p = w.store.permit(permit).await.unwrap();
    p.application
        .persons
        .into_iter()
        .map(|d| (d.id, d.label))
        .collect()
}

/// A sink that stores each alert through the control plane, as the server does, and keeps a list
/// of what the engine raised (ids, persons, frames), with the wall time it arrived.
pub struct Sink {
    pub control: Arc<Control>,
    pub handle: tokio::runtime::Handle,
    pub raised: Mutex<Vec<(String, String, u64, std::time::Instant)>>,
    /// Every hit as the engine raised it, without its images: what recall is measured on, since
    /// the store folds a person seen again into one candidate.
    pub hits: Mutex<Vec<NewAlert>>,
}

impl AlertSink for Sink {
    fn raise(&self, alert: NewAlert) {
        let arrived = std::time::Instant::now();
        let raised = (
            alert.id.clone(),
            alert.person.clone(),
            alert.frame_index,
            arrived,
        );
        let mut copy = alert.clone();
        copy.crop_jpeg.clear();
        copy.frame_jpeg.clear();
        self.hits.lock().unwrap().push(copy);
        let c = self.control.clone();
        // The engine's threads are not async; hand over and wait, as ChannelSink does.
        let _ = self
            .handle
            .block_on(async move { c.raise_alert(alert).await });
        // Listed once the store has had it, so a test that sees it listed finds it stored.
        self.raised.lock().unwrap().push(raised);
    }
}

pub fn fake_clock() -> Arc<FakeClock> {
    Arc::new(FakeClock::at(t0().plus_hours(1)))
}

/// Start the engine on `cams` with a [`Sink`] that stores alerts through the control plane.
pub fn start(
    w: &World,
    rt: &tokio::runtime::Runtime,
    cams: Vec<mandat_engine::CameraSpec>,
    workers: usize,
) -> (mandat_engine::Engine, Arc<Sink>) {
    start_with(
        w,
        rt,
        cams,
        mandat_engine::EngineConfig {
            workers,
            ..mandat_engine::EngineConfig::default()
        },
    )
}

/// [`start`] with a whole engine configuration.
pub fn start_with(
    w: &World,
    rt: &tokio::runtime::Runtime,
    cams: Vec<mandat_engine::CameraSpec>,
    cfg: mandat_engine::EngineConfig,
) -> (mandat_engine::Engine, Arc<Sink>) {
    let sink = Arc::new(Sink {
        control: w.control.clone(),
        handle: rt.handle().clone(),
        raised: Mutex::new(Vec::new()),
        hits: Mutex::new(Vec::new()),
    });
    let engine = mandat_engine::Engine::start(
        cfg,
        &w.models,
        cams,
        w.scope.clone(),
        sink.clone(),
        w.clock.clone(),
    )
    .unwrap();
    (engine, sink)
}

/// Hits the store kept: candidates and the further sightings folded into them. Every hit the
/// engine raised is one or the other.
pub async fn stored_hits(w: &World) -> usize {
    w.store
        .alerts(0, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|a| 1 + a.sightings as usize)
        .sum()
}
