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
                agreement: Some(mandat_testkit::agreement()),
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

        // Adding it takes an amendment, decided like the permit.
        let (officer, pros) = (e.act(&officer()), e.act(&pros()));
        let ask = |cams: Vec<&str>| {
            let cams: Vec<String> = cams.into_iter().map(String::from).collect();
            let (c, id, who) = (&e.control, p.id.clone(), officer.clone());
            async move {
                c.file_amendment(&who, &id, &cams, "she was seen further north", ORIGIN)
                    .await
            }
        };
        let err = ask(vec!["cam-9"]).await.unwrap_err();
        assert_eq!(err.code(), "unknown_camera", "{db:?}");
        ask(vec!["cam-new"]).await.unwrap();
        assert!(
            e.scope.watchlist("cam-new").is_empty(),
            "not before the decision"
        );
        // Its applicant never decides it; nor does a reviewer.
        for who in [&officer, &e.act(&reviewer())] {
            let err = e
                .control
                .decide_amendment(who, &p.id, 1, mandat_law::Outcome::Grant, "ok", ORIGIN)
                .await
                .unwrap_err();
            assert!(
                ["separation_of_duties", "not_permitted"].contains(&err.code()),
                "{}",
                err.code()
            );
        }
        e.control
            .decide_amendment(
                &pros,
                &p.id,
                1,
                mandat_law::Outcome::Grant,
                "needed",
                ORIGIN,
            )
            .await
            .unwrap();
        assert!(!e.scope.watchlist("cam-new").is_empty(), "{db:?}: granted");
        // A refused amendment covers nothing.
        add_camera(&e, "cam-far", (59.40, 18.10)).await;
        ask(vec!["cam-far"]).await.unwrap();
        e.control
            .decide_amendment(
                &pros,
                &p.id,
                2,
                mandat_law::Outcome::Refuse,
                "too far",
                ORIGIN,
            )
            .await
            .unwrap();
        assert!(e.scope.watchlist("cam-far").is_empty(), "{db:?}");
        // The log names each step, with its cameras and outcome, and none of the reasons.
        let (entries, _) = e.store.audit_log().await.unwrap();
        let amends: Vec<_> = entries
            .iter()
            .filter(|x| x.action.starts_with("permit.amend"))
            .map(|x| {
                (
                    x.action.as_str(),
                    x.details["amendment"]["cameras"][0].clone(),
                )
            })
            .collect();
        assert_eq!(
            amends,
            [
                ("permit.amend", "cam-new".into()),
                ("permit.amend_grant", "cam-new".into()),
                ("permit.amend", "cam-far".into()),
                ("permit.amend_refuse", "cam-far".into()),
            ]
        );
        let log = serde_json::to_string(&entries).unwrap();
        assert!(!log.contains("further north"), "reasons in the log");
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
        let (p1, p2) = (&p.application.persons[0], &p.application.persons[1]);
        e.control
            .enrol(
                &e.act(&officer()),
                &p.id,
                &p2.id,
                &p2.photos[0].id,
                PHOTO,
                &template(),
                &mandat_testkit::QUALITY,
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
                    persons: Some(vec![p1.id.clone()]),
                    until: Some(until),
                },
                ORIGIN,
            )
            .await
            .unwrap();
        let narrowed = granted.decision.unwrap().narrowed.unwrap();
        assert_eq!(narrowed.cameras_not_granted, ["cam-2"]);
        assert_eq!(narrowed.persons_not_granted, std::slice::from_ref(&p2.id));
        let list = e.scope.watchlist("cam-1").list;
        assert_eq!(list.entries.len(), 1, "{db:?}");
        assert_eq!(list.entries[0].person, p1.id);
        assert!(e.scope.watchlist("cam-2").is_empty(), "{db:?}: not granted");
        // The person not granted leaves nothing behind, at once.
        let ids = e.store.template_ids(&p.id).await.unwrap();
        assert_eq!(
            ids,
            [(p1.id.clone(), format!("{}.t", p1.photos[0].id))],
            "{db:?}"
        );
        let (entries, _) = e.store.audit_log().await.unwrap();
        let grant = entries.iter().find(|x| x.action == "permit.grant").unwrap();
        assert_eq!(grant.details["narrowed"]["cameras_not_granted"][0], "cam-2");
        let cert = entries
            .iter()
            .find(|x| x.action == "retention.erase")
            .expect("a certificate");
        assert_eq!(cert.details["photos"][0], p2.photos[0].id.as_str());
        // An amendment grants cam-2 after all: what it finds from then on is kept.
        e.control
            .file_amendment(
                &e.act(&officer()),
                &p.id,
                &["cam-2".into()],
                "seen there",
                ORIGIN,
            )
            .await
            .unwrap();
        e.control
            .decide_amendment(
                &e.act(&pros()),
                &p.id,
                1,
                mandat_law::Outcome::Grant,
                "now needed",
                ORIGIN,
            )
            .await
            .unwrap();
        let mut there = hit(&e, "A-cam-2", &p.id).await;
        there.camera = "cam-2".into();
        there.captured_at = e.control.now().unwrap();
        e.control.raise_alert(there).await.unwrap();
        e.control.tick(ORIGIN).await.unwrap();
        assert!(e.store.alert("A-cam-2").await.is_ok(), "{db:?}: kept");
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
            agreement: Some(mandat_testkit::agreement()),
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
            .urgent_start(&e.act(&officer()), &p.id, "the threat is now", ORIGIN)
            .await
            .unwrap();
        e.control
            .raise_alert(hit(&e, "A-in", &p.id).await)
            .await
            .unwrap();
        let mut outside = hit(&e, "A-out", &p.id).await;
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
        let mut late = hit(&e, "A-late", &p.id).await;
        late.camera = "cam-2".into();
        assert!(e.control.raise_alert(late).await.is_err());
    }
}
