//! The scenario set-up shared by the report tests: a control plane on SQLite with a fake clock,
//! one user per role, four cameras (one named in the applications, two inside their polygon, one
//! elsewhere), and applications for two designated persons.
#![allow(dead_code)]

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use mandat_audit::AuditKey;
use mandat_control::{Control, ScopeCache, Session};
use mandat_law::permit::*;
use mandat_law::time::FakeClock;
use mandat_law::{Actor, Application, Role, SWEDEN, Timestamp};
use mandat_store::{Camera, SecretKey, Store};

pub fn t0() -> Timestamp {
    Timestamp::parse_rfc3339("2026-08-03T08:00:00Z").unwrap()
}

pub fn application(purpose: Purpose) -> Application {
    mandat_testkit::with_grounds(Application {
        agency: Agency::Polismyndigheten,
        purpose,
        offence: None,
        victim: None,
        threat: None,
        judgment: None,
        persons: ["Anna Andersson", "Bo Berg"]
            .iter()
            .enumerate()
            .map(|(i, label)| DesignatedPerson {
                id: format!("p{i}"),
                label: label.to_string(),
                photos: vec![PhotoRef {
                    id: format!("ph{i}"),
                    source: "passregistret".into(),
                }],
            })
            .collect(),
        // One camera by name, and a polygon around Sergels torg that holds two more.
        area: Area {
            cameras: vec!["cam-1".into()],
            polygon: Some(vec![
                (59.33, 18.06),
                (59.33, 18.08),
                (59.34, 18.08),
                (59.34, 18.06),
            ]),
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

pub fn actor(u: &str, r: Role) -> Actor {
    Actor::new(u, &[r])
}

pub struct Scenario {
    pub c: Control,
    pub clock: Arc<FakeClock>,
    pub admin: Session,
    pub officer: Session,
    pub pros: Session,
    _dir: tempfile::TempDir,
}

/// The control plane at two hours before `t0`, with its users and cameras.
pub async fn scenario() -> Scenario {
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
    let clock = Arc::new(FakeClock::at(t0().plus_hours(-2)));
    let scope = Arc::new(ScopeCache::new(clock.clone(), Duration::from_secs(3600)));
    let c = Control::new(store.clone(), clock.clone(), &SWEDEN).with_scope(scope);
    mandat_testkit::register(&c, store.clone(), &master);
    for (u, r) in [
        ("admin", Role::Admin),
        ("officer", Role::Applicant),
        ("pros", Role::Prosecutor),
        ("imy", Role::Auditor),
        ("op", Role::Operator),
        ("rev1", Role::Reviewer),
        ("rev2", Role::Reviewer),
        ("judge", Role::Judge),
    ] {
        mandat_testkit::provision(&c, u, "a long password", &[r], Agency::Polismyndigheten)
            .await
            .unwrap();
    }
    // Every grant rests on a recent evaluation of the running model.
    mandat_testkit::record_risk_analysis(&c, &actor("imy", Role::Auditor)).await;
    let admin = mandat_testkit::session(&c, &actor("admin", Role::Admin));
    for (id, loc) in [
        ("cam-1", (59.0, 18.0)),
        ("cam-2", (59.335, 18.07)),
        ("cam-3", (59.336, 18.075)),
        ("cam-4", (57.7, 11.97)),
    ] {
        let cam = Camera {
            id: id.into(),
            name: id.into(),
            location: Some(loc),
            owner: "police".into(),
            enabled: true,
            agreement: None,
        };
        c.add_camera(&admin, &cam, "rtsp://127.0.0.1/x", "t")
            .await
            .unwrap();
    }
    let officer = mandat_testkit::session(&c, &actor("officer", Role::Applicant));
    let pros = mandat_testkit::session(&c, &actor("pros", Role::Prosecutor));
    Scenario {
        c,
        clock,
        admin,
        officer,
        pros,
        _dir: dir,
    }
}

impl Scenario {
    /// The session `who` logged in with.
    pub fn act(&self, who: &Actor) -> Session {
        mandat_testkit::session(&self.c, who)
    }

    /// Enrol both persons' photos of a permit drafted by `applicant`.
    /// The id the server gave the first person of `permit`.
    pub async fn person(&self, permit: &str) -> String {
        let p = mandat_testkit::store(&self.c).permit(permit).await.unwrap();
        p.application.persons[0].id.clone()
    }

    pub async fn enrol(&self, applicant: &Session, permit: &str) {
        let p = mandat_testkit::store(&self.c).permit(permit).await.unwrap();
        for person in &p.application.persons {
            self.c
                .enrol(
                    applicant,
                    permit,
                    &person.id,
                    &person.photos[0].id,
                    b"photo",
                    &[0.1; 128],
                    &mandat_testkit::QUALITY,
                    "t",
                )
                .await
                .unwrap();
        }
        // The team: the decider its purpose needs and every reviewer and operator there is.
        let p = mandat_testkit::store(&self.c).permit(permit).await.unwrap();
        let decider = match mandat_law::SWEDEN.rule(p.application.purpose).decider {
            mandat_law::Authority::Court => mandat_law::Role::Judge,
            mandat_law::Authority::Prosecutor => mandat_law::Role::Prosecutor,
        };
        for u in mandat_testkit::store(&self.c).users().await.unwrap() {
            let role = [
                decider,
                mandat_law::Role::Reviewer,
                mandat_law::Role::Operator,
            ]
            .into_iter()
            .find(|r| u.roles.contains(r));
            if let Some(role) = role
                && u.user != applicant.user
            {
                self.c
                    .assign_team(applicant, permit, &u.user, Some(role), "t")
                    .await
                    .unwrap();
            }
        }
    }
}

/// Render page 1 of a PDF with pdftoppm at 50 dpi and read its text with pdftotext: (grey pixels,
/// width, height, text).
pub fn render(pdf: &std::path::Path) -> (image::GrayImage, String) {
    let png = pdf.with_extension("");
    let st = Command::new("pdftoppm")
        .args(["-png", "-r", "50", "-singlefile"])
        .arg(pdf)
        .arg(&png)
        .status()
        .expect("pdftoppm (poppler-utils) is installed by scripts/test-deps.sh");
    assert!(st.success());
    let img = image::open(png.with_extension("png")).unwrap().to_luma8();
    let text = Command::new("pdftotext")
        .arg(pdf)
        .arg("-")
        .output()
        .unwrap();
    (img, String::from_utf8_lossy(&text.stdout).into_owned())
}

/// Where the tests leave their PDFs to look at.
pub fn artifacts() -> std::path::PathBuf {
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-artifacts");
    std::fs::create_dir_all(&out).unwrap();
    out
}
