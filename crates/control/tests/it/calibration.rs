//! Calibrated thresholds through the control plane: only admins store a table, only one for the
//! model mandat runs and only one that passed its held-out check; a draft that states a target
//! FPIR gets its threshold from the newest table for its number of persons, the permit records
//! target and table, and so does every alert under it. On SQLite and PostgreSQL.

use crate::common::*;
use mandat_control::calibration::model_sha256;
use mandat_eval::calibrate::{Calibration, HeldOut, Point};
use mandat_law::permit::Target;
use mandat_law::{Outcome, Purpose};

/// A table with per-pair rates 1e-1 .. 1e-6 at thresholds 0.25 .. 0.50 and a passing check.
fn table(version: &str) -> Calibration {
    Calibration {
        version: version.into(),
        model_sha256: model_sha256().into(),
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
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stated_target_becomes_the_threshold_of_the_permit_and_its_alerts() {
    for db in databases() {
        let e = env(db).await;
        let mut app = application(Purpose::VictimSearch);
        app.target = Some(Target {
            fpir: 1e-4,
            watchlist: 0,
            calibration: String::new(),
        });
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
                .add_calibration(&e.act(&auditor()), &table("v1"), ORIGIN)
                .await
                .is_err()
        );
        let mut failed = table("v-bad");
        failed.held_out[0].within_2x = false;
        failed.held_out[0].ratio = 2.6;
        let err = e
            .control
            .add_calibration(&e.act(&admin()), &failed, ORIGIN)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("held-out check"), "{err}");
        let mut other = table("v-other");
        other.model_sha256 = "0".repeat(64);
        assert!(
            e.control
                .add_calibration(&e.act(&admin()), &other, ORIGIN)
                .await
                .is_err()
        );
        let mut bare = table("v-bare");
        bare.held_out.clear();
        assert!(
            e.control
                .add_calibration(&e.act(&admin()), &bare, ORIGIN)
                .await
                .is_err()
        );
        e.control
            .add_calibration(&e.act(&admin()), &table("v1"), ORIGIN)
            .await
            .unwrap();
        // A version is stored once.
        assert!(
            e.control
                .add_calibration(&e.act(&admin()), &table("v1"), ORIGIN)
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
        assert_eq!((t.watchlist, t.calibration.as_str()), (1, "v1"));
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

        // Evaluation runs are recorded by auditors and admins only.
        assert!(
            e.control
                .record_evaluation(&e.act(&officer()), serde_json::json!({}), ORIGIN)
                .await
                .is_err()
        );
        e.control
            .record_evaluation(
                &e.act(&auditor()),
                serde_json::json!({"lfw_accuracy": 0.99}),
                ORIGIN,
            )
            .await
            .unwrap();
    }
}

#[test]
fn a_changed_watchlist_needs_a_new_threshold() {
    // The law refuses to file an application whose target was derived for another list.
    let mut app = application(Purpose::VictimSearch);
    app.target = Some(Target {
        fpir: 1e-4,
        watchlist: 2,
        calibration: "v1".into(),
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
    assert!(app.check(&profile).is_empty());
}
