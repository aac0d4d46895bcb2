//! The frozen camera set: a decision binds a list of camera ids; a polygon only helps choose them
//! when the application is drafted; a decider may grant less than was applied for.

use mandat_control::ScopeSource;
use mandat_law::permit::{DesignatedPerson, PhotoRef};
use mandat_law::{Narrowing, Purpose};
use mandat_store::{Camera, CameraChange};
use mandat_testkit::{ORIGIN, databases};

use crate::common::*;

async fn add_camera(e: &Env, id: &str, at: (f64, f64)) {
    e.control
        .add_camera(
            &e.act(&admin()),
            &Camera {
                id: id.into(),
                name: format!("camera {id}"),
                location: Some(at),
                owner: "municipality:Stockholm".into(),
                enabled: true,
            },
            &format!("rtsp://10.0.0.9/{id}"),
            ORIGIN,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_camera_added_inside_the_polygon_after_the_decision_is_not_analysed() {
    for db in databases() {
        let e = env(db).await;
        let mut a = application(Purpose::VictimSearch);
        // A square around Sergels torg, where cam-1 is; no camera named one by one.
        a.area.cameras.clear();
        a.area.polygon = Some(vec![
            (59.330, 18.060),
            (59.330, 18.070),
            (59.336, 18.070),
            (59.336, 18.060),
        ]);
        let p = e
            .store
            .permit(&drafted_with(&e, a, &officer()).await)
            .await
            .unwrap();
        assert_eq!(
            p.application.area.cameras,
            ["cam-1"],
            "{db:?}: bound at draft"
        );
        e.control
            .apply(&e.act(&officer()), &p.id, ORIGIN)
            .await
            .unwrap();
        e.control
            .decide(
                &e.act(&pros()),
                &p.id,
                mandat_law::Outcome::Grant,
                "necessary",
                ORIGIN,
            )
            .await
            .unwrap();
        // A partner camera put up inside the polygon after the grant.
        add_camera(&e, "cam-new", (59.333, 18.065)).await;
        assert!(!e.scope.watchlist("cam-1").is_empty());
        assert!(
            e.scope.watchlist("cam-new").is_empty(),
            "{db:?}: no decision covers it"
        );
    }
}

#[tokio::test]
async fn a_partial_grant_scopes_only_what_was_granted() {
    for db in databases() {
        let e = env(db).await;
        let mut a = application(Purpose::VictimSearch);
        a.area.cameras = vec!["cam-1".into(), "cam-2".into()];
        a.persons.push(DesignatedPerson {
            id: "p2".into(),
            label: "Person Two".into(),
            photos: vec![PhotoRef {
                id: "ph2".into(),
                source: "passport register".into(),
            }],
        });
        let p = e
            .store
            .permit(&drafted_with(&e, a, &officer()).await)
            .await
            .unwrap();
        e.control
            .enrol(
                &e.act(&officer()),
                &p.id,
                &"p2".to_string(),
                "ph2",
                PHOTO,
                &template(),
                ORIGIN,
            )
            .await
            .unwrap();
        e.control
            .apply(&e.act(&officer()), &p.id, ORIGIN)
            .await
            .unwrap();
        // More than applied for is refused, and changes nothing.
        let err = e
            .control
            .grant_in_part(
                &e.act(&pros()),
                &p.id,
                "ok",
                &Narrowing {
                    cameras: Some(vec!["cam-9".into()]),
                    ..Default::default()
                },
                ORIGIN,
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "narrowing");
        let until = mandat_testkit::t0().plus_hours(24);
        let granted = e
            .control
            .grant_in_part(
                &e.act(&pros()),
                &p.id,
                "one camera, one person, one day is enough",
                &Narrowing {
                    cameras: Some(vec!["cam-1".into()]),
                    persons: Some(vec!["p1".into()]),
                    until: Some(until),
                },
                ORIGIN,
            )
            .await
            .unwrap();
        let narrowed = granted.decision.unwrap().narrowed.unwrap();
        assert_eq!(narrowed.cameras_not_granted, ["cam-2"]);
        assert_eq!(narrowed.persons_not_granted, ["p2"]);
        let list = e.scope.watchlist("cam-1").list;
        assert_eq!(list.entries.len(), 1, "{db:?}");
        assert_eq!(list.entries[0].person, "p1");
        assert!(e.scope.watchlist("cam-2").is_empty(), "{db:?}: not granted");
        // The person not granted leaves nothing behind, at once.
        let ids = e.store.template_ids(&p.id).await.unwrap();
        assert_eq!(ids, [("p1".to_string(), "ph1.t".to_string())], "{db:?}");
        let (entries, _) = e.store.audit_log().await.unwrap();
        let grant = entries.iter().find(|x| x.action == "permit.grant").unwrap();
        assert_eq!(grant.details["narrowed"]["cameras_not_granted"][0], "cam-2");
        let cert = entries
            .iter()
            .find(|x| x.action == "retention.erase")
            .expect("a certificate");
        assert_eq!(cert.details["photos"][0], "ph2");
        // The period ends where the decision said.
        e.clock.advance(24 * 3_600_000);
        assert!(e.scope.watchlist("cam-1").is_empty(), "{db:?}: ended early");
    }
}

#[tokio::test]
async fn admins_disable_repoint_and_remove_cameras_and_the_scope_follows() {
    for db in databases() {
        let e = env(db).await;
        let id = granted(&e).await;
        assert!(!e.scope.watchlist("cam-1").is_empty());
        let admin = e.act(&admin());
        // Nobody else changes a camera; an unknown one is not found.
        for who in [officer(), pros(), reviewer(), auditor()] {
            let err = e
                .control
                .change_camera(&e.act(&who), "cam-1", &CameraChange::Disable, ORIGIN)
                .await
                .unwrap_err();
            assert_eq!(err.code(), "not_permitted", "{who:?}");
        }
        assert!(
            e.control
                .change_camera(&admin, "cam-9", &CameraChange::Disable, ORIGIN)
                .await
                .is_err()
        );
        e.control
            .change_camera(&admin, "cam-1", &CameraChange::Disable, ORIGIN)
            .await
            .unwrap();
        assert!(e.scope.watchlist("cam-1").is_empty(), "{db:?}: disabled");
        e.control
            .change_camera(&admin, "cam-1", &CameraChange::Enable, ORIGIN)
            .await
            .unwrap();
        assert!(!e.scope.watchlist("cam-1").is_empty(), "{db:?}: enabled");
        // A decided permit covers cam-1 as its decider saw it: no new stream under its id.
        let url = "rtsp://user:new-secret@10.0.0.2/cam";
        let err = e
            .control
            .change_camera(&admin, "cam-1", &CameraChange::Url(url.into()), ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "conflict", "{db:?}");
        e.control
            .change_camera(&admin, "cam-2", &CameraChange::Url(url.into()), ORIGIN)
            .await
            .unwrap();
        assert_eq!(e.store.camera_url("cam-2").await.unwrap(), url);
        e.control
            .change_camera(&admin, "cam-1", &CameraChange::Remove, ORIGIN)
            .await
            .unwrap();
        assert!(e.scope.watchlist("cam-1").is_empty(), "{db:?}: removed");
        let (entries, _) = e.store.audit_log().await.unwrap();
        let log = serde_json::to_string(&entries).unwrap();
        assert!(!log.contains("new-secret"), "a stream URL in the log");
        for action in ["camera.disable", "camera.enable", "camera.url"] {
            assert!(
                entries
                    .iter()
                    .any(|x| x.action == action && x.actor == "admin")
            );
        }
        let removed = entries
            .iter()
            .find(|x| x.action == "camera.remove")
            .unwrap();
        assert_eq!(removed.details["permits_covering"][0], id.as_str());
        // Its id is never given to another camera: the decision would cover what nobody decided.
        let again = Camera {
            id: "cam-1".into(),
            name: "another camera".into(),
            location: Some((59.0, 18.0)),
            owner: "private:shop".into(),
            enabled: true,
        };
        let err = e
            .control
            .add_camera(&admin, &again, "rtsp://10.0.0.3/x", ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "conflict", "{db:?}");
        assert!(e.scope.watchlist("cam-1").is_empty());
    }
}

#[tokio::test]
async fn a_partial_grant_of_an_urgent_use_deletes_what_it_found_outside_the_grant() {
    for db in databases() {
        let e = env(db).await;
        let mut a = application(Purpose::ImminentThreat);
        a.area.cameras = vec!["cam-1".into(), "cam-2".into()];
        let p = e
            .store
            .permit(&drafted_with(&e, a, &officer()).await)
            .await
            .unwrap();
        e.control
            .urgent_start(&e.act(&officer()), &p.id, ORIGIN)
            .await
            .unwrap();
        e.control.raise_alert(hit("A-in", &p.id)).await.unwrap();
        let mut outside = hit("A-out", &p.id);
        outside.camera = "cam-2".into();
        e.control.raise_alert(outside).await.unwrap();
        e.control
            .apply(&e.act(&officer()), &p.id, ORIGIN)
            .await
            .unwrap();
        e.control
            .grant_in_part(
                &e.act(&pros()),
                &p.id,
                "cam-1 only",
                &Narrowing {
                    cameras: Some(vec!["cam-1".into()]),
                    ..Default::default()
                },
                ORIGIN,
            )
            .await
            .unwrap();
        assert!(e.store.alert("A-in").await.is_ok(), "{db:?}");
        assert!(e.store.alert("A-out").await.is_err(), "{db:?}: deleted");
        let (entries, _) = e.store.audit_log().await.unwrap();
        let cert = entries
            .iter()
            .find(|x| x.action == "retention.erase")
            .unwrap();
        assert_eq!(cert.details["alerts"][0], "A-out");
        // And a hit from the camera left out is not kept from now on.
        let mut late = hit("A-late", &p.id);
        late.camera = "cam-2".into();
        assert!(e.control.raise_alert(late).await.is_err());
    }
}
