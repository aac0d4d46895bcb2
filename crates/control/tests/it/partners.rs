//! Partner cameras (issue 18 part 5): analysed only under a recorded agreement and within its
//! period, which an insider cannot stretch in the database; each camera's health per day, the
//! notice to a permit's team when a covered camera goes unfit, the SLA report, the IMY
//! notification and the annual report's lines per owner.

use mandat_control::ScopeSource;
use mandat_law::imy::NotificationKind;
use mandat_law::time::HOUR;
use mandat_law::{Agreement, Period, Purpose};
use mandat_store::camera_days::HealthSample;
use mandat_store::{Camera, CameraChange};
use mandat_testkit::{ORIGIN, databases, raw_pool, t0};

use crate::common::*;

fn partner(id: &str, agreement: Option<Agreement>) -> Camera {
    Camera {
        id: id.into(),
        name: format!("camera {id}"),
        location: Some((59.3327, 18.065)),
        owner: "municipality:Stockholm".into(),
        enabled: true,
        agreement,
    }
}

fn agreement(from_h: i64, until_h: i64) -> Agreement {
    Agreement {
        period: Period {
            start: t0().plus_hours(from_h),
            end: t0().plus_hours(until_h),
        },
        ..mandat_testkit::agreement()
    }
}

/// A granted victim search over `cameras`, t0 .. t0+72h.
async fn granted_on(e: &Env, cameras: &[&str]) -> String {
    let mut a = application(Purpose::VictimSearch);
    a.area.cameras = cameras.iter().map(|c| c.to_string()).collect();
    let id = drafted_with(e, a, &officer()).await;
    e.control
        .apply(&e.act(&officer()), &id, ORIGIN)
        .await
        .unwrap();
    e.control
        .decide(
            &e.act(&pros()),
            &id,
            mandat_law::Outcome::Grant,
            "ok",
            ORIGIN,
        )
        .await
        .unwrap();
    id
}

async fn terms_of(pool: &sqlx::AnyPool, id: &str) -> Vec<u8> {
    use sqlx::Row;
    sqlx::query("SELECT terms_sealed FROM cameras WHERE id = $1")
        .bind(id.to_string())
        .fetch_one(pool)
        .await
        .unwrap()
        .get("terms_sealed")
}

async fn set(pool: &sqlx::AnyPool, sql: &'static str, id: &str) {
    sqlx::query(sql)
        .bind(id.to_string())
        .execute(pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_partner_camera_is_analysed_only_within_its_agreement_which_a_dba_cannot_stretch() {
    for db in databases() {
        let e = env(db).await;
        let admin = e.act(&admin());
        // No agreement, no registration.
        let err = e
            .control
            .add_camera(&admin, &partner("cam-3", None), "rtsp://10.0.0.9/3", ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid", "{db:?}");
        assert!(err.to_string().contains("only under an agreement"), "{err}");
        // cam-3's agreement starts an hour into the permit and ends after a day; cam-4's runs
        // for years.
        for (id, a) in [
            ("cam-3", agreement(1, 24)),
            ("cam-4", mandat_testkit::agreement()),
        ] {
            e.control
                .add_camera(&admin, &partner(id, Some(a)), "rtsp://10.0.0.9/x", ORIGIN)
                .await
                .unwrap();
        }
        let id = granted_on(&e, &["cam-1", "cam-3", "cam-4"]).await;
        e.scope.reload(&e.store).await;
        assert!(e.scope.watchlist("cam-3").is_empty(), "{db:?}: before it");
        assert!(!e.scope.watchlist("cam-4").is_empty(), "{db:?}");
        // IMY is told which partner cameras the use runs on, and under which agreement.
        e.control.tick(ORIGIN).await.unwrap();
        let started = e
            .control
            .imy_notifications(&e.act(&auditor()))
            .await
            .unwrap()
            .into_iter()
            .find(|r| {
                r.notification.permit == id && r.notification.kind == NotificationKind::UseStarted
            })
            .expect("a notification of the use's start");
        let n = &started.notification;
        assert_eq!(n.cameras, 3);
        let named: Vec<(&str, &str, Option<&str>)> = n
            .partner_cameras
            .iter()
            .map(|c| (c.camera.as_str(), c.owner.as_str(), c.agreement.as_deref()))
            .collect();
        assert_eq!(
            named,
            [
                ("cam-3", "municipality:Stockholm", Some("KS 2025/123")),
                ("cam-4", "municipality:Stockholm", Some("KS 2025/123"))
            ]
        );
        e.clock.advance(2 * HOUR);
        e.scope.reload(&e.store).await;
        assert!(!e.scope.watchlist("cam-3").is_empty(), "{db:?}: within it");
        // A hit on cam-3 captured now is kept; one captured before the agreement is not, even
        // sent by whoever holds the camera's lease.
        let mut within = hit(&e, "A-partner-within", &id).await;
        within.camera = "cam-3".into();
        e.store
            .insert_alert(&within, e.control.now().unwrap())
            .await
            .unwrap();
        let mut early = hit(&e, "A-partner-early", &id).await;
        early.camera = "cam-3".into();
        early.captured_at = t0().plus_millis(30 * 60_000);
        let err = e
            .store
            .insert_alert(&early, e.control.now().unwrap())
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("not to be analysed at the hit's capture time"),
            "{db:?}: {err}"
        );

        let pool = raw_pool(&e.url).await;
        let cam3 = terms_of(&pool, "cam-3").await;
        // The DBA lends cam-3 the terms of cam-4, whose agreement runs for years.
        sqlx::query("UPDATE cameras SET terms_sealed = $1 WHERE id = 'cam-3'")
            .bind(terms_of(&pool, "cam-4").await)
            .execute(&pool)
            .await
            .unwrap();
        e.scope.reload(&e.store).await;
        assert!(
            e.scope.watchlist("cam-3").is_empty(),
            "{db:?}: borrowed terms"
        );
        // ... and makes it a police camera, which needs no agreement.
        sqlx::query("UPDATE cameras SET terms_sealed = $1, owner = 'police' WHERE id = 'cam-3'")
            .bind(cam3.clone())
            .execute(&pool)
            .await
            .unwrap();
        e.scope.reload(&e.store).await;
        assert!(
            e.scope.watchlist("cam-3").is_empty(),
            "{db:?}: owner edited"
        );
        let listed = e.control.cameras(&admin).await.unwrap();
        let c3 = listed.iter().find(|c| c.id == "cam-3").unwrap();
        assert!(!c3.enabled && c3.agreement.is_none(), "{db:?}: {c3:?}");
        // An admin cannot build on a record that does not verify.
        let err = e
            .control
            .change_camera(
                &admin,
                "cam-3",
                &CameraChange::Agreement(agreement(0, 72)),
                ORIGIN,
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "conflict", "{db:?}");
        set(
            &pool,
            "UPDATE cameras SET owner = 'municipality:Stockholm' WHERE id = $1",
            "cam-3",
        )
        .await;
        e.scope.reload(&e.store).await;
        assert!(!e.scope.watchlist("cam-3").is_empty(), "{db:?}: restored");
        // A camera an admin disabled is not re-enabled in the database.
        e.control
            .change_camera(&admin, "cam-4", &CameraChange::Disable, ORIGIN)
            .await
            .unwrap();
        set(
            &pool,
            "UPDATE cameras SET enabled = 1 WHERE id = $1",
            "cam-4",
        )
        .await;
        e.scope.reload(&e.store).await;
        assert!(
            e.scope.watchlist("cam-4").is_empty(),
            "{db:?}: re-enabled by the DBA"
        );

        // The agreement ends after a day: the camera stops though the permit runs on.
        e.clock.advance(23 * HOUR);
        e.scope.reload(&e.store).await;
        assert!(e.scope.watchlist("cam-3").is_empty(), "{db:?}: after it");
        assert!(!e.scope.watchlist("cam-1").is_empty(), "{db:?}");
        // A renewal, by an admin, audited with its reference and period.
        for who in [officer(), pros(), auditor()] {
            let err = e
                .control
                .change_camera(
                    &e.act(&who),
                    "cam-3",
                    &CameraChange::Agreement(agreement(0, 72)),
                    ORIGIN,
                )
                .await
                .unwrap_err();
            assert_eq!(err.code(), "not_permitted", "{who:?}");
        }
        let mut bad = agreement(0, 72);
        bad.basis = " ".into();
        let err = e
            .control
            .change_camera(&admin, "cam-3", &CameraChange::Agreement(bad), ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid", "{db:?}");
        e.control
            .change_camera(
                &admin,
                "cam-3",
                &CameraChange::Agreement(agreement(0, 72)),
                ORIGIN,
            )
            .await
            .unwrap();
        e.scope.reload(&e.store).await;
        assert!(!e.scope.watchlist("cam-3").is_empty(), "{db:?}: renewed");
        let log = e.control.audit_log(&e.act(&auditor())).await.unwrap();
        // A DBA clears terms so that the next start seals the row as it stands: they are sealed
        // from the audit log instead. cam-4 made a police camera stays unsealed and unanalysed;
        // cam-3, cleared only, is sealed as registered (a partner, with no agreement yet).
        sqlx::query("UPDATE cameras SET terms_sealed = NULL, owner = 'police' WHERE id = 'cam-4'")
            .execute(&pool)
            .await
            .unwrap();
        set(
            &pool,
            "UPDATE cameras SET terms_sealed = NULL WHERE id = $1",
            "cam-3",
        )
        .await;
        let reopened = open(&e.url, &e.master_hex, e.audit_bytes, e.dir.path()).await;
        let cams = reopened.cameras().await.unwrap();
        let c4 = cams.iter().find(|c| c.id == "cam-4").unwrap();
        assert!(
            !c4.enabled && !c4.info().usable_at(e.control.now().unwrap()),
            "{db:?}"
        );
        let c3 = cams.iter().find(|c| c.id == "cam-3").unwrap();
        assert!(c3.enabled && c3.agreement.is_none(), "{db:?}: {c3:?}");
        assert!(
            !c3.info().usable_at(e.control.now().unwrap()),
            "{db:?}: no agreement"
        );
        let (entries, _) = reopened.audit_log().await.unwrap();
        let sealed = entries
            .iter()
            .rfind(|x| x.action == "camera.terms_sealed")
            .unwrap();
        assert_eq!(sealed.details["cameras"], serde_json::json!(["cam-3"]));
        assert_eq!(
            sealed.details["not_registered_as_they_are"],
            serde_json::json!(["cam-4"])
        );
        let renewal = log.iter().find(|x| x.action == "camera.agreement").unwrap();
        assert_eq!(renewal.details["reference"], "KS 2025/123");
        assert_eq!(renewal.details["until"], t0().plus_hours(72).0);
    }
}

fn sample(camera: &str, connected: bool, fitness: &str) -> HealthSample {
    HealthSample {
        camera: camera.into(),
        connected,
        frames_in: 1500,
        faces_seen: 10,
        faces_identifiable: 8,
        passers_by: 6,
        fitness: fitness.into(),
        reasons: if fitness == "unfit" {
            vec!["resolution 640x480 is under 1280x720".into()]
        } else {
            vec![]
        },
    }
}

#[tokio::test]
async fn camera_days_raise_a_notice_when_a_covered_camera_goes_unfit_and_feed_the_sla_and_annual_reports()
 {
    for db in databases() {
        let e = env(db).await;
        let admin = e.act(&admin());
        e.control
            .add_camera(
                &admin,
                &partner("cam-3", Some(mandat_testkit::agreement())),
                "rtsp://10.0.0.9/3",
                ORIGIN,
            )
            .await
            .unwrap();
        let id = granted_on(&e, &["cam-1", "cam-3"]).await;
        e.control.tick(ORIGIN).await.unwrap();
        let minute = 60_000;
        e.clock.advance(minute);
        let none = e
            .control
            .record_health(
                &[sample("cam-1", true, "fit"), sample("cam-3", true, "fit")],
                minute,
                "engine",
            )
            .await
            .unwrap();
        assert!(none.is_empty(), "{db:?}");
        // cam-3 goes unfit: one notice to the permit covering it; a camera no permit covers
        // raises none, and staying unfit raises no more.
        e.clock.advance(minute);
        let raised = e
            .control
            .record_health(
                &[
                    sample("cam-3", true, "unfit"),
                    sample("cam-2", true, "unfit"),
                ],
                minute,
                "engine",
            )
            .await
            .unwrap();
        assert_eq!(raised.len(), 1, "{db:?}: {raised:?}");
        assert_eq!(
            (raised[0].permit.as_str(), raised[0].camera.as_str()),
            (id.as_str(), "cam-3")
        );
        e.clock.advance(minute);
        let again = e
            .control
            .record_health(&[sample("cam-3", false, "unfit")], minute, "engine")
            .await
            .unwrap();
        assert!(again.is_empty(), "{db:?}");
        // A sender that posts more often than it samples credits no more time than has passed.
        let flood = e
            .control
            .record_health(&[sample("cam-3", false, "unfit")], minute, "engine")
            .await
            .unwrap();
        assert!(flood.is_empty());
        // The team sees it; an admin, who knows of no permit, does not.
        for who in [officer(), reviewer(), pros()] {
            let seen = e.control.camera_notices(&e.act(&who)).await.unwrap();
            assert_eq!(seen.len(), 1, "{who:?}");
            assert!(seen[0].reasons[0].contains("640x480"));
        }
        assert!(e.control.camera_notices(&admin).await.unwrap().is_empty());
        let log = e.control.audit_log(&e.act(&auditor())).await.unwrap();
        assert!(
            log.iter()
                .any(|x| x.action == "camera.unfit" && x.permit.as_deref() == Some(id.as_str()))
        );
        // A sample longer than five minutes counts as five.
        e.clock.advance(10 * minute);
        e.control
            .record_health(&[sample("cam-1", true, "fit")], 3_600_000, "engine")
            .await
            .unwrap();

        let day = t0().stockholm_date();
        let days = e
            .control
            .camera_days(&e.act(&auditor()), &day, &day)
            .await
            .unwrap();
        let c3 = days.iter().find(|d| d.camera == "cam-3").unwrap();
        assert_eq!(
            (c3.observed_ms, c3.available_ms),
            (3 * minute, 2 * minute),
            "{db:?}"
        );
        assert_eq!((c3.fit_ms, c3.unfit_ms), (minute, 2 * minute));
        assert_eq!(
            (c3.frames_in, c3.faces_seen, c3.faces_identifiable),
            (4500, 30, 24)
        );
        assert_eq!(c3.passers_by, 18);
        assert_eq!(c3.verdict(), "unfit");
        let c1 = days.iter().find(|d| d.camera == "cam-1").unwrap();
        assert_eq!(c1.observed_ms, minute + 5 * minute, "{db:?}: clamped");
        for who in [officer(), reviewer()] {
            let err = e
                .control
                .camera_days(&e.act(&who), &day, &day)
                .await
                .unwrap_err();
            assert_eq!(err.code(), "not_permitted");
        }

        // The SLA report: over a span of days, or over the permit's period.
        let owner = "municipality:Stockholm";
        let r = e
            .control
            .sla_report(&e.act(&auditor()), owner, Some((&day, &day)), None)
            .await
            .unwrap();
        assert_eq!(r.cameras.len(), 1);
        let c = &r.cameras[0];
        assert_eq!(c.camera, "cam-3");
        assert!(
            (c.availability_pct.unwrap() - 200.0 / 3.0).abs() < 1e-6,
            "{c:?}"
        );
        assert_eq!((c.met, c.unfit_days), (Some(false), 1));
        assert_eq!(c.agreement.as_deref(), Some("KS 2025/123"));
        let csv = mandat_reports::sla::sla_csv(&r);
        assert!(
            csv.contains(&format!(
                "\"cam-3\",\"KS 2025/123\",\"{day}\",0.05,66.7,95,false,\"unfit\",30,"
            )),
            "{csv}"
        );
        let by_permit = e
            .control
            .sla_report(&e.act(&auditor()), owner, None, Some(&id))
            .await
            .unwrap();
        assert_eq!(by_permit.permit.as_deref(), Some(id.as_str()));
        assert_eq!(
            (by_permit.from.as_str(), by_permit.until.as_str()),
            ("2026-08-03", "2026-08-06")
        );
        assert_eq!(by_permit.cameras.len(), 1);
        // Nobody else: an admin, who sees no permit, would learn from the days where and when
        // permits ran.
        for span in [Some((day.as_str(), day.as_str())), None] {
            let err = e
                .control
                .sla_report(&admin, owner, span, span.is_none().then_some(id.as_str()))
                .await
                .unwrap_err();
            assert_eq!(err.code(), "not_permitted", "{db:?}");
        }
        let err = e
            .control
            .sla_report(&e.act(&officer()), owner, Some((&day, &day)), None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "not_permitted");
        for (o, span) in [
            ("police", Some(("2026-08-01", "2026-08-02"))),
            (owner, Some(("2026-08-02", "2026-08-01"))),
            (owner, Some(("2026-01-01", "2027-06-01"))),
            (owner, Some(("2026-8-1", "2026-08-02"))),
            (owner, None),
        ] {
            let err = e
                .control
                .sla_report(&e.act(&auditor()), o, span, None)
                .await
                .unwrap_err();
            assert_eq!(err.code(), "invalid", "{o} {span:?}");
        }

        // The annual report's lines per owner.
        let year = e
            .control
            .annual_report(&e.act(&auditor()), 2026)
            .await
            .unwrap();
        let line = |k: &str| {
            year.owners
                .iter()
                .find(|o| o.owner_kind == k)
                .unwrap()
                .clone()
        };
        let police = line("police");
        assert_eq!(
            (police.cameras_registered, police.cameras_used),
            (2, 1),
            "{db:?}"
        );
        let muni = line("municipality");
        assert_eq!(
            (muni.cameras_registered, muni.cameras_used, muni.unfit_days),
            (1, 1, 1)
        );
        assert!((muni.observed_hours - 0.05).abs() < 1e-9);
        assert!((muni.availability_pct.unwrap() - 200.0 / 3.0).abs() < 1e-6);
        assert_eq!(line("region").cameras_registered, 0);
        let csv = mandat_reports::annual::owners_csv(&year);
        assert!(csv.contains("2026,municipality,1,1,"), "{csv}");
    }
}
