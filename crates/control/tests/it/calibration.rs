//! Calibrated thresholds through the control plane: only admins store a table, only one for the
//! model mandat runs and only one that passed its held-out check; a draft that states a target
//! FPIR gets its threshold from the newest table for its number of persons, the permit records
//! target and table, and so does every alert under it. On SQLite and PostgreSQL.

use std::time::Duration;

use mandat_control::ScopeSource;

use crate::common::*;
use mandat_eval::calibrate::{Calibration, Point};
use mandat_law::permit::Target;
use mandat_law::{Outcome, Purpose};

/// A table with per-pair rates 1e-1 .. 1e-6 at thresholds 0.25 .. 0.50 and a passing check.
fn table(version: &str) -> Calibration {
    mandat_testkit::calibration_table(version)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stated_target_becomes_the_threshold_of_the_permit_and_its_alerts() {
    for db in databases() {
        let e = env(db).await;
        let mut app = application(Purpose::VictimSearch);
        app.target = Some(Target::stated(1e-4));
        // No table yet: a target cannot be met, and the draft says what to do.
        let err = e
            .control
            .draft(&e.act(&officer()), app.clone(), ORIGIN)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("mandat eval calibrate"), "{err}");

        // Only admins store tables; a failed check, another model or a bare table are refused.
        assert!(
            e.control
                .add_calibration(&e.act(&auditor()), &table("v1"), None, ORIGIN)
                .await
                .is_err()
        );
        let mut failed = table("v-bad");
        failed.held_out[0].within_2x = false;
        failed.held_out[0].ratio = 2.6;
        let err = e
            .control
            .add_calibration(&e.act(&admin()), &failed, None, ORIGIN)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("held-out check"), "{err}");
        // A per-template table that missed its check, or with a toy cohort, is refused too.
        let per_template = |cohort_size: u32, within_2x: bool| {
            let mut t = table("v-pt");
            let mut check = t.held_out[0];
            check.within_2x = within_2x;
            t.per_template = Some(mandat_eval::cohort::PerTemplate {
                cohort: "c".into(),
                cohort_size,
                top: 20,
                data: "synthetic".into(),
                impostor_pairs: 1_000_000,
                curve: t.curve.clone(),
                held_out: vec![check],
                templates: Default::default(),
            });
            t
        };
        for (size, ok, says) in [
            (5_000, false, "per-template held-out"),
            (300, true, "cohort of 300"),
        ] {
            let err = e
                .control
                .add_calibration(&e.act(&admin()), &per_template(size, ok), None, ORIGIN)
                .await
                .unwrap_err();
            assert!(err.to_string().contains(says), "{err}");
        }
        let mut other = table("v-other");
        other.model_sha256 = "0".repeat(64);
        assert!(
            e.control
                .add_calibration(&e.act(&admin()), &other, None, ORIGIN)
                .await
                .is_err()
        );
        let mut bare = table("v-bare");
        bare.held_out.clear();
        assert!(
            e.control
                .add_calibration(&e.act(&admin()), &bare, None, ORIGIN)
                .await
                .is_err()
        );
        e.control
            .add_calibration(&e.act(&admin()), &table("v1"), None, ORIGIN)
            .await
            .unwrap();
        // A version is stored once.
        assert!(
            e.control
                .add_calibration(&e.act(&admin()), &table("v1"), None, ORIGIN)
                .await
                .is_err()
        );

        // One person, FPIR 1e-4: per-pair 1e-4, the table's point at 0.40; any threshold the
        // applicant typed is replaced.
        let p = e
            .control
            .draft(&e.act(&officer()), app.clone(), ORIGIN)
            .await
            .unwrap();
        assert!(
            (p.application.threshold - 0.40).abs() < 1e-6,
            "{}",
            p.application.threshold
        );
        let t = p.application.target.clone().unwrap();
        assert_eq!(
            (t.watchlist, t.templates, t.calibration.as_str()),
            (1, 1, "v1")
        );
        // Three photos of the one person are three templates, each matched on its own: the
        // threshold is the table's for three, stricter than for one.
        let mut three = app.clone();
        // What a client sends for the counts is replaced.
        three.target.as_mut().unwrap().templates = 1;
        let photo = three.persons[0].photos[0].clone();
        for k in 2..=3 {
            let mut ph = photo.clone();
            ph.id = format!("{}-{k}", photo.id);
            three.persons[0].photos.push(ph);
        }
        let p3 = e
            .control
            .draft(&e.act(&officer()), three, ORIGIN)
            .await
            .unwrap();
        let want = table("v1").threshold(1e-4, 3).unwrap();
        assert!(want > 0.40 + 1e-3, "{want}");
        assert_eq!(p3.application.threshold, want);
        let t3 = p3.application.target.clone().unwrap();
        assert_eq!((t3.watchlist, t3.templates), (1, 3));
        // A target beyond the table is refused with the reason.
        let mut strict = app.clone();
        strict.target.as_mut().unwrap().fpir = 1e-7;
        let err = e
            .control
            .draft(&e.act(&officer()), strict, ORIGIN)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("can vouch for"), "{err}");

        // The permit goes through the law as usual, and its alerts carry the target.
        enrol_photo(&e, &officer(), &p.id).await;
        put_team(&e, &officer(), &p.id).await;
        e.control
            .apply(&e.act(&officer()), &p.id, ORIGIN)
            .await
            .unwrap();
        e.control
            .decide(&e.act(&pros()), &p.id, Outcome::Grant, "necessary", ORIGIN)
            .await
            .unwrap();
        let mut alert = hit(&e, "A-1", &p.id).await;
        alert.threshold = p.application.threshold;
        e.control.raise_alert(alert).await.unwrap();
        let a = e
            .control
            .alert(&e.act(&auditor()), "A-1", ORIGIN)
            .await
            .unwrap();
        assert_eq!(a.fpir_target, Some(1e-4));
        assert_eq!(a.calibration.as_deref(), Some("v1"));
        let log = e.control.audit_log(&e.act(&auditor())).await.unwrap();
        let cand = log.iter().find(|x| x.action == "alert.candidate").unwrap();
        assert_eq!(cand.details["fpir_target"], 1e-4);
        let add = log.iter().find(|x| x.action == "calibration.add").unwrap();
        assert_eq!(
            (add.actor.as_str(), add.details["version"].as_str()),
            ("admin", Some("v1"))
        );

        // Evaluation runs are recorded by auditors only: not an officer, and not the admin who
        // stores the calibration the analysis rests on.
        let fixture = mandat_testkit::risk_analysis(&e.control);
        for who in [officer(), admin()] {
            let err = e
                .control
                .record_evaluation(&e.act(&who), &fixture, ORIGIN)
                .await
                .unwrap_err();
            assert_eq!(err.code(), "not_permitted", "{}", who.user);
        }
        e.control
            .record_evaluation(&e.act(&auditor()), &fixture, ORIGIN)
            .await
            .unwrap();
    }
}

async fn grant(e: &Env, id: &str) -> Result<(), mandat_control::ControlError> {
    e.control
        .decide(&e.act(&pros()), id, Outcome::Grant, "necessary", ORIGIN)
        .await
        .map(|_| ())
}

const DAY_MS: i64 = 24 * 3600 * 1000;

/// The auditor records a report made half a year and two days ago: newest, and too old.
async fn record_stale_analysis(e: &Env) {
    let mut old = mandat_testkit::risk_analysis(&e.control);
    old.run_at = old.run_at.plus_millis(-185 * DAY_MS);
    e.control
        .record_evaluation(&e.act(&auditor()), &old, ORIGIN)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_grant_needs_a_recent_full_evaluation_of_the_running_model() {
    for db in databases() {
        // The environment recorded one at t0; half a year and two days later it is too old.
        let e = env(db).await;
        e.clock.advance(185 * DAY_MS);
        let id = applied(&e).await;
        let err = grant(&e, &id).await.unwrap_err();
        assert_eq!(err.code(), "risk_analysis", "{db:?}: {err}");
        assert!(err.to_string().contains("at most 183 days"), "{err}");
        // Nothing changed: the permit still waits.
        let p = e
            .control
            .permit(&e.act(&pros()), &id, ORIGIN)
            .await
            .unwrap();
        assert_eq!(p.status, mandat_law::Status::Applied);

        // A sampled run, a run of another model and a record of a future run do not count.
        let mut sampled = mandat_testkit::risk_analysis(&e.control);
        sampled.sample = Some(10);
        let mut other = mandat_testkit::risk_analysis(&e.control);
        other.embedder_sha256 = "0".repeat(64);
        for a in [&sampled, &other] {
            e.control
                .record_evaluation(&e.act(&auditor()), a, ORIGIN)
                .await
                .unwrap();
        }
        assert_eq!(grant(&e, &id).await.unwrap_err().code(), "risk_analysis");
        let mut future = mandat_testkit::risk_analysis(&e.control);
        future.run_at = future.run_at.plus_hours(1);
        let err = e
            .control
            .record_evaluation(&e.act(&auditor()), &future, ORIGIN)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("after now"), "{err}");
        // Figures of no report's form are refused, naming the field.
        let mut bad = mandat_testkit::risk_analysis(&e.control);
        bad.tar_at_far_1e3 = 98.87;
        let err = e
            .control
            .record_evaluation(&e.act(&auditor()), &bad, ORIGIN)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("tar_at_far_1e3"), "{err}");

        // A full run of the running model, recorded now: the grant goes through.
        mandat_testkit::record_risk_analysis(&e.control, &auditor()).await;
        grant(&e, &id).await.unwrap();
        assert_eq!(
            e.control
                .risk_analysis(&e.act(&pros()))
                .await
                .unwrap()
                .unwrap()
                .run_at,
            e.control.now().unwrap()
        );
    }
}

#[tokio::test]
async fn an_evaluation_edited_or_inserted_in_the_database_is_not_believed() {
    for db in databases() {
        // A DBA makes the old record look new, to let a grant through without an analysis.
        let e = env(db).await;
        e.clock.advance(200 * DAY_MS);
        let id = applied(&e).await;
        let pool = raw_pool(&e.url).await;
        let details: String =
            sqlx::query_scalar("SELECT details FROM audit_log WHERE action = 'eval.report'")
                .fetch_one(&pool)
                .await
                .unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&details).unwrap();
        v["run_at"] = e.control.now().unwrap().to_rfc3339().into();
        sqlx::query("UPDATE audit_log SET details = $1 WHERE action = 'eval.report'")
            .bind(v.to_string())
            .execute(&pool)
            .await
            .unwrap();
        let err = grant(&e, &id).await.unwrap_err();
        assert_eq!(err.code(), "tampered", "{db:?}: {err}");

        // Nor a row inserted with a hash the DBA computed: no audit key signed it.
        sqlx::query("UPDATE audit_log SET details = $1 WHERE action = 'eval.report'")
            .bind(details.clone())
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(grant(&e, &id).await.unwrap_err().code(), "risk_analysis");
        let head: (i64, String) =
            sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_one(&pool)
                .await
                .unwrap();
        let forged = mandat_audit::Entry::next(
            Some(&mandat_audit::Entry {
                seq: head.0 as u64,
                at: 0,
                actor: String::new(),
                action: String::new(),
                permit: None,
                origin: String::new(),
                details: serde_json::Value::Null,
                prev_hash: String::new(),
                hash: head.1,
            }),
            mandat_audit::Record {
                at: e.control.now().unwrap().0,
                actor: "auditor".into(),
                action: "eval.report".into(),
                permit: None,
                origin: "test".into(),
                details: v.clone(),
            },
        );
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor, action, permit, origin, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(forged.seq as i64)
        .bind(forged.at)
        .bind(forged.actor.clone())
        .bind(forged.action.clone())
        .bind(forged.permit.clone())
        .bind(forged.origin.clone())
        .bind(forged.details.to_string())
        .bind(forged.prev_hash.clone())
        .bind(forged.hash.clone())
        .execute(&pool)
        .await
        .unwrap();
        let err = grant(&e, &id).await.unwrap_err();
        assert_eq!(err.code(), "tampered", "{db:?}: {err}");
    }
}

#[test]
fn a_changed_watchlist_needs_a_new_threshold() {
    // The law refuses to file an application whose target was derived for another list.
    let mut app = application(Purpose::VictimSearch);
    app.target = Some(Target {
        fpir: 1e-4,
        watchlist: 2,
        templates: 2,
        calibration: "v1".into(),
        z: None,
        cohort: None,
        floor: None,
    });
    let profile = mandat_law::SWEDEN;
    let refusals = app.check(&profile);
    assert!(
        refusals
            .iter()
            .any(|r| r.message.contains("draft it again")),
        "{refusals:?}"
    );
    app.target.as_mut().unwrap().watchlist = 1;
    // The right number of persons, but derived for more photos than they have: refused too.
    assert_eq!(app.template_count(), 1);
    assert!(!app.check(&profile).is_empty());
    app.target.as_mut().unwrap().templates = 1;
    assert!(app.check(&profile).is_empty());
    // A target stored before photos were counted holds while each person has one photo.
    app.target.as_mut().unwrap().templates = 0;
    assert!(app.check(&profile).is_empty());
    // A second photo of the same person is a second chance to match a stranger: recalibrate.
    let photo = app.persons[0].photos[0].clone();
    app.persons[0].photos.push(photo);
    assert!(!app.check(&profile).is_empty(), "an old target, two photos");
    app.target.as_mut().unwrap().templates = 1;
    let refusals = app.check(&profile);
    assert!(
        refusals.iter().any(|r| r
            .message
            .contains("1 reference photo(s) of 1 person(s) but the permit has 2 of 1")),
        "{refusals:?}"
    );
}

/// Unit vectors from a seed: `near` pulls them towards the first axis (a dense region of face
/// space), 0 leaves them spread out.
fn unit(seed: u64, near: f32) -> Vec<f32> {
    let mut r = mandat_eval::calibrate::SplitMix::new(seed);
    let mut v: Vec<f32> = (0..128)
        .map(|_| (r.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
        .collect();
    v[0] += near;
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

/// A cohort of 1,200: 200 strangers in the dense region, 1,000 spread out.
fn cohort() -> mandat_eval::cohort::Cohort {
    mandat_eval::cohort::Cohort::new(
        128,
        (0..1200u64).map(|i| unit(1000 + i, if i < 200 { 4.0 } else { 0.0 })),
    )
    .unwrap()
}

fn per_template_table(version: &str, c: &mandat_eval::cohort::Cohort) -> Calibration {
    let mut t = table(version);
    t.per_template = Some(mandat_eval::cohort::PerTemplate {
        cohort: c.version(),
        cohort_size: c.len() as u32,
        top: mandat_eval::cohort::TOP as u32,
        data: "synthetic".into(),
        impostor_pairs: 1_000_000,
        curve: (1..=6)
            .map(|k| Point {
                fmr: 10f64.powi(-k),
                threshold: 0.1 * k as f32,
            })
            .collect(),
        held_out: t.held_out.clone(),
        templates: Default::default(),
    });
    t
}

/// A permit with a per-template table: the draft records the normalised threshold and the cohort;
/// each designated person's template gets its own threshold from its norm against the stored
/// cohort (a template near many strangers a stricter one); a worker cannot claim a lower one; and
/// a cohort a DBA damaged or renamed opens nowhere, so those templates are not matched at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_template_gets_its_own_threshold_from_the_stored_cohort() {
    for db in databases() {
        let e = env(db).await;
        let c = cohort();
        // The table must come with its own cohort, and a cohort only with a per-template table.
        let refusals = [
            (per_template_table("v-pt", &c), None, "without its cohort"),
            (
                per_template_table("v-pt", &c),
                Some(
                    mandat_eval::cohort::Cohort::new(128, (0..1000u64).map(|i| unit(i, 0.0)))
                        .unwrap(),
                ),
                "was made with",
            ),
            (table("v-plain"), Some(cohort()), "never be used"),
        ];
        for (t, sent, says) in refusals {
            let err = e
                .control
                .add_calibration(&e.act(&admin()), &t, sent.as_ref(), ORIGIN)
                .await
                .unwrap_err();
            assert!(err.to_string().contains(says), "{err}");
        }
        e.control
            .add_calibration(
                &e.act(&admin()),
                &per_template_table("v-pt", &c),
                Some(&c),
                ORIGIN,
            )
            .await
            .unwrap();
        // The cohort is sealed at rest: none of its values is in the database file in the clear.
        if db == Db::Sqlite {
            let needle: Vec<u8> = unit(1000, 4.0)[..4]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            for f in ["mandat.db", "mandat.db-wal"] {
                let raw = std::fs::read(e.dir.path().join(f)).unwrap_or_default();
                assert!(
                    !raw.windows(needle.len()).any(|w| w == needle.as_slice()),
                    "{f}"
                );
            }
        }

        let mut app = application(Purpose::VictimSearch);
        app.persons.push(mandat_law::permit::DesignatedPerson {
            id: "p2".into(),
            label: "Person Two".into(),
            photos: vec![mandat_law::permit::PhotoRef {
                id: "ph2".into(),
                source: "passport register".into(),
            }],
        });
        app.target = Some(Target {
            fpir: 1e-4,
            watchlist: 0,
            templates: 0,
            calibration: String::new(),
            // What a client sends here is replaced.
            z: Some(-5.0),
            cohort: Some("mine".into()),
            floor: Some(0.0),
        });
        let p = e
            .control
            .draft(&e.act(&officer()), app, ORIGIN)
            .await
            .unwrap();
        let t = p.application.target.clone().unwrap();
        let z = t.z.unwrap();
        assert_eq!(t.cohort.as_deref(), Some(c.version().as_str()));
        // Two persons: per-pair 5e-5, between the points 1e-4 (z 0.4) and 1e-5 (z 0.5).
        assert!((z - 0.4301).abs() < 1e-3, "{z}");
        // Person 1 looks like the 200 dense strangers, person 2 like nobody.
        let (dense, sparse) = (unit(7, 4.0), unit(8, 0.0));
        for (k, tpl) in [&dense, &sparse].into_iter().enumerate() {
            let d = &p.application.persons[k];
            e.control
                .enrol(
                    &e.act(&officer()),
                    &p.id,
                    &d.id,
                    &d.photos[0].id,
                    PHOTO,
                    tpl,
                    &mandat_testkit::QUALITY,
                    ORIGIN,
                )
                .await
                .unwrap();
        }
        put_team(&e, &officer(), &p.id).await;
        e.control
            .apply(&e.act(&officer()), &p.id, ORIGIN)
            .await
            .unwrap();
        e.control
            .decide(&e.act(&pros()), &p.id, Outcome::Grant, "necessary", ORIGIN)
            .await
            .unwrap();

        e.scope.reload(&e.store).await;
        let w = e.scope.watchlist("cam-1");
        // The floor: the global table's threshold for a 10× looser target (FPIR 1e-3 for two,
        // per-pair 5e-4: between 0.35 and 0.40).
        let floor = t.floor.unwrap();
        assert!((floor - 0.365).abs() < 1e-3, "{floor}");
        let want = |tpl: &[f32]| c.norm(tpl).unwrap().cosine(z).max(floor);
        let got: Vec<(String, f32)> = w
            .list
            .entries
            .iter()
            .map(|x| (x.person.as_str().to_string(), x.threshold))
            .collect();
        assert_eq!(got.len(), 2, "{got:?}");
        let of = |k: usize| {
            got.iter()
                .find(|(who, _)| *who == p.application.persons[k].id)
                .unwrap()
                .1
        };
        assert!((of(0) - want(&dense)).abs() < 1e-5, "{got:?}");
        assert!((of(1) - want(&sparse)).abs() < 1e-5, "{got:?}");
        // The sparse template's own threshold (about 0.30) is below the floor: it is held to it.
        assert!(c.norm(&sparse).unwrap().cosine(z) < floor && of(1) == floor);
        assert!(of(0) > of(1) + 0.1, "dense {} sparse {}", of(0), of(1));
        let p1 = &p.application.persons[0].id;
        assert_eq!(e.scope.threshold_floor(&p.id, p1), Some(of(0)));

        // A worker may not claim the sparse template's threshold for the dense one's person.
        let worker = crate::workers::enrol(&e, "w-pt").await;
        let mut low = hit(&e, "A-pt", &p.id).await;
        low.person = p1.clone();
        low.threshold = of(1);
        low.score = of(1) + 0.01;
        let err = e
            .control
            .worker_alert(&worker, mandat_control::workers::AlertUpload::new(&low, 1))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("is below permit"), "{err}");
        // A cohort of scaled (not normalised) templates would drag every norm down: refused.
        let scaled = mandat_eval::cohort::Cohort::new(
            128,
            (0..1200u64).map(|i| unit(1000 + i, 0.0).iter().map(|v| v * 0.1).collect()),
        )
        .unwrap();
        let err = e
            .control
            .add_calibration(
                &e.act(&admin()),
                &per_template_table("v-scaled", &scaled),
                Some(&scaled),
                ORIGIN,
            )
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("not a normalised template"),
            "{err}"
        );

        // A DBA who damages the sealed cohort, or renames it, leaves those templates unmatched
        // after a restart (a fresh cache): fail closed, never the global threshold instead.
        let pool = raw_pool(&e.url).await;
        for (tamper, undo) in [
            (
                "UPDATE calibrations SET cohort_version = 'other' WHERE version = 'v-pt'",
                format!(
                    "UPDATE calibrations SET cohort_version = '{}' WHERE version = 'v-pt'",
                    c.version()
                ),
            ),
            (
                "UPDATE calibrations SET version = 'v-moved' WHERE version = 'v-pt'",
                "UPDATE calibrations SET version = 'v-pt' WHERE version = 'v-moved'".to_string(),
            ),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(tamper))
                .execute(&pool)
                .await
                .unwrap();
            let fresh = mandat_control::ScopeCache::new(e.clock.clone(), Duration::from_secs(3600));
            fresh.reload(&e.store).await;
            assert!(fresh.watchlist("cam-1").is_empty(), "{tamper}");
            sqlx::query(sqlx::AssertSqlSafe(undo))
                .execute(&pool)
                .await
                .unwrap();
        }
        let fresh = mandat_control::ScopeCache::new(e.clock.clone(), Duration::from_secs(3600));
        fresh.reload(&e.store).await;
        assert_eq!(fresh.watchlist("cam-1").list.entries.len(), 2);
    }
}

#[tokio::test]
async fn every_kind_of_grant_rests_on_the_newest_analysis_and_the_law_speaks_first() {
    for db in databases() {
        let e = env(db).await;
        // Granted at t0 on the fresh analysis; its applicant asks for cam-2.
        let granted = granted(&e).await;
        e.control
            .file_amendment(
                &e.act(&officer()),
                &granted,
                &["cam-2".into()],
                "she went west",
                ORIGIN,
            )
            .await
            .unwrap();
        let waiting = applied(&e).await;
        // The auditor's newest record is a report made half a year and two days ago.
        record_stale_analysis(&e).await;
        let err = e
            .control
            .decide_amendment(
                &e.act(&pros()),
                &granted,
                1,
                Outcome::Grant,
                "needed",
                ORIGIN,
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "risk_analysis", "{db:?}: {err}");
        let err = e
            .control
            .grant_in_part(
                &e.act(&pros()),
                &waiting,
                "one camera",
                &mandat_law::Narrowing {
                    cameras: Some(vec!["cam-1".into()]),
                    ..Default::default()
                },
                ORIGIN,
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "risk_analysis", "{db:?}: {err}");
        // A refusal needs no analysis; and the law's own refusal (a decided permit is not decided
        // again) is said before the analysis.
        e.control
            .decide(
                &e.act(&pros()),
                &waiting,
                Outcome::Refuse,
                "not needed",
                ORIGIN,
            )
            .await
            .unwrap();
        let err = grant(&e, &waiting).await.unwrap_err();
        assert_eq!(err.code(), "wrong_state", "{db:?}: {err}");
    }
}

#[tokio::test]
async fn deleting_the_newest_record_does_not_bring_back_an_older_one() {
    for db in databases() {
        // The auditor's newest record is a report too old for a grant; a DBA deletes that row
        // and its checkpoint, so that the fresh one recorded at t0 would count again.
        let e = env(db).await;
        let id = applied(&e).await;
        record_stale_analysis(&e).await;
        assert_eq!(grant(&e, &id).await.unwrap_err().code(), "risk_analysis");
        // Life goes on: more entries follow the record. (Cutting off the whole tail is caught by
        // the anchors kept off the host, which `mandat audit verify` checks.)
        e.log_in("officer").await;
        let pool = raw_pool(&e.url).await;
        let seq: i64 =
            sqlx::query_scalar("SELECT MAX(seq) FROM audit_log WHERE action = 'eval.report'")
                .fetch_one(&pool)
                .await
                .unwrap();
        for sql in [
            "DELETE FROM audit_log WHERE seq = $1",
            "DELETE FROM audit_checkpoints WHERE seq = $1",
        ] {
            sqlx::query(sql).bind(seq).execute(&pool).await.unwrap();
        }
        let err = grant(&e, &id).await.unwrap_err();
        assert_eq!(err.code(), "tampered", "{db:?}: {err}");
    }
}

/// A registered embedder: a second model with its own hash (the fp16 SFace setup registers).
fn procured() -> mandat_law::risk::ModelRef {
    mandat_law::risk::ModelRef {
        name: "sface-fp16".into(),
        sha256: "9d47a5e84516dc3723b254f66654b790de388243b9bff80c4fddf84239df7d0c".into(),
    }
}

/// An evaluation of the procured model that passes every gate, as an auditor records it.
fn procured_analysis(e: &Env) -> mandat_law::risk::RiskAnalysis {
    let mut a = mandat_testkit::risk_analysis(&e.control);
    a.embedder_sha256 = procured().sha256;
    a.lfw_accuracy = 0.9937;
    a
}

#[tokio::test]
async fn a_registered_model_serves_no_permit_until_its_evaluation_passes_the_gates() {
    for db in databases() {
        // The deployment switched to the procured model; only the pinned one was evaluated.
        let e = env_with(db, procured()).await;
        let pinned =
            mandat_control::Control::new(e.store.clone(), e.clock.clone(), &mandat_law::SWEDEN);

        // A permit granted under the pinned model before the switch: not matched under the
        // procured one, since its threshold and template are the pinned model's.
        let mut old = application(Purpose::VictimSearch);
        // Whatever a client says, the control plane records its own model.
        old.embedder = Some(procured());
        let old = pinned.draft(&e.act(&officer()), old, ORIGIN).await.unwrap();
        assert_eq!(
            old.application.embedder,
            Some(mandat_control::calibration::pinned_embedder())
        );
        // The procured model's control plane does not enrol a template into it ...
        let err = enrol_photo_on(&e.control, &e, &officer(), &old.id)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "model_gates", "{db:?}: {err}");
        assert!(
            err.to_string().contains("--embedder sface-2021dec"),
            "{err}"
        );
        // ... the pinned one does, and grants it on the pinned model's evaluation.
        enrol_photo_on(&pinned, &e, &officer(), &old.id)
            .await
            .unwrap();
        put_team(&e, &officer(), &old.id).await;
        pinned
            .apply(&e.act(&officer()), &old.id, ORIGIN)
            .await
            .unwrap();
        pinned
            .decide(&e.act(&pros()), &old.id, Outcome::Grant, "needed", ORIGIN)
            .await
            .unwrap();
        e.scope.reload(&e.store).await;
        assert!(e.scope.watchlist("cam-1").is_empty(), "{db:?}");
        let pinned_scope =
            mandat_control::ScopeCache::new(e.clock.clone(), Duration::from_secs(3600));
        pinned_scope.reload(&e.store).await;
        assert_eq!(pinned_scope.watchlist("cam-1").list.entries.len(), 1);

        // Under the procured model a draft records it, and cannot state a target: no table of
        // this model is stored, and the pinned model's is refused.
        let mut with_target = application(Purpose::VictimSearch);
        with_target.target = Some(Target::stated(1e-4));
        let err = e
            .control
            .draft(&e.act(&officer()), with_target, ORIGIN)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("mandat eval calibrate"), "{err}");
        let err = e
            .control
            .add_calibration(&e.act(&admin()), &table("pinned"), None, ORIGIN)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("--embedder sface-fp16"), "{err}");
        // A plain cosine is the pinned model's scale: refused under this one.
        let err = e
            .control
            .draft(
                &e.act(&officer()),
                application(Purpose::VictimSearch),
                ORIGIN,
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "model_gates", "{db:?}: {err}");
        // The admin stores the procured model's own table; targets are met from it.
        let mut own = table("procured-v1");
        own.model_sha256 = procured().sha256;
        e.control
            .add_calibration(&e.act(&admin()), &own, None, ORIGIN)
            .await
            .unwrap();
        let with_target = |purpose| {
            let mut a = application(purpose);
            a.target = Some(Target::stated(1e-4));
            a
        };
        let id = drafted_with(&e, with_target(Purpose::VictimSearch), &officer()).await;
        e.control
            .apply(&e.act(&officer()), &id, ORIGIN)
            .await
            .unwrap();
        let drafted_app = e.store.permit(&id).await.unwrap().application;
        assert_eq!(drafted_app.embedder, Some(procured()));
        assert_eq!(drafted_app.target.unwrap().calibration, "procured-v1");
        // No evaluation of it: no grant, and no urgent start either.
        assert_eq!(grant(&e, &id).await.unwrap_err().code(), "risk_analysis");
        let urgent = drafted_with(&e, with_target(Purpose::ImminentThreat), &officer()).await;
        let err = e
            .control
            .urgent_start(&e.act(&officer()), &urgent, "the threat is now", ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "risk_analysis", "{db:?}: {err}");
        // The pinned model's control plane neither grants nor starts them: they were drafted
        // for another model.
        let err = pinned
            .decide(&e.act(&pros()), &id, Outcome::Grant, "needed", ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "model_gates", "{db:?}: {err}");
        let err = pinned
            .urgent_start(&e.act(&officer()), &urgent, "the threat is now", ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "model_gates", "{db:?}: {err}");

        // Evaluations below a gate are recorded (they are the risk analysis) but grant nothing.
        let mut weak = procured_analysis(&e);
        weak.lfw_accuracy = 0.9912;
        let mut uncalibrated = procured_analysis(&e);
        uncalibrated.calibration_within_2x = false;
        let mut no_table = procured_analysis(&e);
        no_table.spread_global = None;
        for (a, says) in [
            (&weak, "99.12 %"),
            (&uncalibrated, "within 2x"),
            (&no_table, "demographic"),
        ] {
            e.control
                .record_evaluation(&e.act(&auditor()), a, ORIGIN)
                .await
                .unwrap();
            let err = grant(&e, &id).await.unwrap_err();
            assert_eq!(err.code(), "model_gates", "{db:?}: {err}");
            assert!(err.to_string().contains(says), "{err}");
        }
        // One that passes: the grant goes through, and the procured scope matches that permit
        // alone.
        e.control
            .record_evaluation(&e.act(&auditor()), &procured_analysis(&e), ORIGIN)
            .await
            .unwrap();
        grant(&e, &id).await.unwrap();
        e.scope.reload(&e.store).await;
        let list = e.scope.watchlist("cam-1").list;
        assert_eq!(list.entries.len(), 1);
        assert_eq!(list.entries[0].permit.as_str(), id);
        // In depth: a control plane of the pinned model takes no worker's alert for it.
        let w = crate::workers::enrol(&e, "w-model").await;
        let upload = mandat_control::workers::AlertUpload::new(&hit(&e, "A-model-1", &id).await, 1);
        let err = pinned.worker_alert(&w, upload).await.unwrap_err();
        assert_eq!(err.code(), "model_gates", "{db:?}: {err}");
    }
}
