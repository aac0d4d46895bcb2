//! The lawful-use core end to end through the control plane and a real database: every rule of
//! Lag (2026:806) that mandat enforces, on SQLite and (in `./test.sh`) on PostgreSQL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use mandat_audit::Verdict;
use mandat_control::{Control, ControlError, ScopeCache, ScopeSource};
use mandat_law::{Outcome, Purpose, SWEDEN, Status};
use mandat_store::StoreError;

fn code(e: ControlError) -> String {
    e.code().to_string()
}

async fn verify_log(e: &Env) -> Verdict {
    let (entries, cps) = mandat_store::read_audit_log(&e.url).await.unwrap();
    let key = mandat_audit::parse_public_key(&e.store.audit_public_key()).unwrap();
    mandat_audit::verify(&entries, &cps, &key)
}

#[tokio::test]
async fn granted_permit_scopes_the_watchlist_in_space_time_and_status() {
    for db in databases() {
        let e = env(db).await;
        let id = granted(&e).await;
        let w = e.scope.watchlist("cam-1");
        assert_eq!(w.list.entries.len(), 1, "{db:?}");
        assert_eq!(w.list.entries[0].permit, id);
        assert_eq!(w.list.entries[0].threshold, 0.4);
        assert_eq!(w.list.entries[0].template.values, template());
        assert!(e.scope.watchlist("cam-2").is_empty(), "outside the area");
        assert!(
            e.scope.watchlist("cam-unknown").is_empty(),
            "unregistered camera"
        );
        e.clock.set(Some(t0().plus_millis(-1)));
        assert!(e.scope.watchlist("cam-1").is_empty(), "before the period");
        e.clock.set(Some(t0().plus_hours(72)));
        assert!(e.scope.watchlist("cam-1").is_empty(), "period ended");
        e.clock.set(Some(t0().plus_hours(1)));
        let version = e.scope.watchlist("cam-1").version();
        assert_ne!(version, e.scope.watchlist("cam-2").version());

        // Writes that cannot change a watchlist (a login, here) do not make the engine reload.
        let g = e.store.generation().await.unwrap();
        e.control
            .login("officer", &password("officer"), &e.otp("officer"), ORIGIN)
            .await
            .unwrap();
        assert_eq!(e.store.generation().await.unwrap(), g);
        // Stopping takes effect at once for the engine.
        e.control
            .stop(&e.act(&officer()), &id, "person found", ORIGIN)
            .await
            .unwrap();
        assert!(e.scope.watchlist("cam-1").is_empty(), "stopped");
        assert!(matches!(verify_log(&e).await, Verdict::Intact { .. }));
        let (entries, _) = e.store.audit_log().await.unwrap();
        let actions: Vec<&str> = entries.iter().map(|x| x.action.as_str()).collect();
        for a in [
            "permit.draft",
            "person.enrol",
            "permit.apply",
            "permit.grant",
            "use.start",
            "permit.stop",
            "use.end",
        ] {
            assert!(
                actions.contains(&a),
                "{a} missing from the audit log: {actions:?}"
            );
        }
        let start = entries.iter().find(|x| x.action == "use.start").unwrap();
        assert_eq!(start.permit.as_deref(), Some(id.as_str()));
        assert_eq!(
            start.details["watchlist_version"].as_str().map(str::len),
            Some(64)
        );
    }
}

#[tokio::test]
async fn deciders_follow_the_purpose_and_applicants_never_decide() {
    for db in databases() {
        let e = env(db).await;
        // Victim search: the police apply, a prosecutor decides.
        let id = drafted(&e, Purpose::VictimSearch, &officer()).await;
        e.control
            .apply(&e.act(&officer()), &id, ORIGIN)
            .await
            .unwrap();
        // An officer decides nothing: the role is refused before the permit is read.
        let err = e
            .control
            .decide(&e.act(&officer()), &id, Outcome::Grant, "mine", ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "not_permitted", "{db:?}");
        // Whoever holds both roles still cannot decide what they applied for.
        let both = mandat_law::Actor::new(
            "both",
            &[mandat_law::Role::Applicant, mandat_law::Role::Prosecutor],
        );
        e.provision("both", &both.roles).await;
        let own = drafted(&e, Purpose::VictimSearch, &both).await;
        e.control.apply(&e.act(&both), &own, ORIGIN).await.unwrap();
        let err = e
            .control
            .decide(&e.act(&both), &own, Outcome::Grant, "mine", ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "separation_of_duties", "{db:?}");
        // A judge is not on the team (it is filed to the prosecutor): the permit is not there.
        let err = e
            .control
            .decide(&e.act(&judge()), &id, Outcome::Grant, "x", ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "not_found");
        let err = e
            .control
            .decide(&e.act(&pros()), &id, Outcome::Grant, " ", ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "decision_reasons_required");

        // Suspect location: a prosecutor applies, a court decides.
        let sid = drafted(&e, Purpose::SuspectLocation, &pros()).await;
        e.control
            .apply(&e.act(&pros()), &sid, ORIGIN)
            .await
            .unwrap();
        let other_pros = e.provision("pros2", &[mandat_law::Role::Prosecutor]).await;
        let err = e
            .control
            .decide(&other_pros, &sid, Outcome::Grant, "x", ORIGIN)
            .await
            .unwrap_err();
        // Another prosecutor is not on the team: the permit is not there for them.
        assert_eq!(code(err), "not_found");
        let (p, cert) = e
            .control
            .decide(&e.act(&judge()), &sid, Outcome::Grant, "necessary", ORIGIN)
            .await
            .unwrap();
        assert_eq!((p.status, cert), (Status::Granted, None));
        // The police cannot file a suspect-location application themselves.
        let pid = drafted(&e, Purpose::SuspectLocation, &officer()).await;
        let err = e
            .control
            .apply(&e.act(&officer()), &pid, ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "wrong_applicant");
    }
}

#[tokio::test]
async fn least_privilege_for_every_role() {
    for db in databases() {
        let e = env(db).await;
        let id = granted(&e).await;
        // Admins manage users and cameras but never read permits (they name people).
        assert_eq!(
            code(
                e.control
                    .permit(&e.act(&admin()), &id, ORIGIN)
                    .await
                    .unwrap_err()
            ),
            "not_permitted"
        );
        assert_eq!(
            code(
                e.control
                    .permits(&e.act(&admin()), ORIGIN)
                    .await
                    .unwrap_err()
            ),
            "not_permitted"
        );
        // Nobody else adds users or cameras.
        let err = e
            .control
            .create_account(
                &e.act(&officer()),
                "x",
                &[mandat_law::Role::Admin],
                mandat_law::permit::Agency::Polismyndigheten,
                ORIGIN,
            )
            .await
            .unwrap_err();
        assert_eq!(code(err), "not_permitted");
        // Admins and auditors cannot draft; reviewers cannot stop.
        for a in [admin(), auditor(), reviewer()] {
            let err = e
                .control
                .draft(&e.act(&a), application(Purpose::VictimSearch), ORIGIN)
                .await
                .unwrap_err();
            assert_eq!(code(err), "not_permitted", "{db:?} {a:?}");
        }
        assert_eq!(
            code(
                e.control
                    .stop(&e.act(&reviewer()), &id, "x", ORIGIN)
                    .await
                    .unwrap_err()
            ),
            "not_permitted"
        );
        // Only the applicant enrols, and only while the permit is a draft.
        let d = e
            .control
            .draft(
                &e.act(&officer()),
                application(Purpose::VictimSearch),
                ORIGIN,
            )
            .await
            .unwrap();
        put_team(&e, &officer(), &d.id).await;
        let (person, photo) = person_of(&e, &d.id).await;
        let err = e
            .control
            .enrol(
                &e.act(&pros()),
                &d.id,
                &person,
                &photo,
                PHOTO,
                &template(),
                &mandat_testkit::QUALITY,
                ORIGIN,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, ControlError::Store(StoreError::Refused(_))),
            "{err}"
        );
        let err = e
            .control
            .enrol(
                &e.act(&officer()),
                &id,
                &person_of(&e, &id).await.0,
                "ph2",
                PHOTO,
                &template(),
                &mandat_testkit::QUALITY,
                ORIGIN,
            )
            .await
            .unwrap_err();
        assert_eq!(code(err), "wrong_state", "no enrolment after the decision");
        // A person or photo the application does not name cannot be enrolled.
        let err = e
            .control
            .enrol(
                &e.act(&officer()),
                &d.id,
                &"stranger".into(),
                &photo,
                PHOTO,
                &template(),
                &mandat_testkit::QUALITY,
                ORIGIN,
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not a designated person"), "{err}");
    }
}

#[tokio::test]
async fn applications_that_fall_short_are_refused_with_their_rule() {
    for db in databases() {
        let e = env(db).await;
        // A camera nobody registered cannot be named: the decision binds the cameras named.
        let mut ghost = application(Purpose::VictimSearch);
        ghost.area.cameras.push("cam-9".into());
        let err = e
            .control
            .draft(&e.act(&officer()), ghost, ORIGIN)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("cam-9"), "{err}");
        assert_eq!(code(err), "unknown_camera", "{db:?}");
        let mut app = application(Purpose::SuspectLocation);
        // Described by hand (the prosecutor drafting it confirms it): its scale is theirs to state.
        app.offence.as_mut().unwrap().code = None;
        app.offence.as_mut().unwrap().max_penalty_years = 2;
        app.period.end = app.period.start.plus_months(1).plus_millis(1);
        let p = e.control.draft(&e.act(&pros()), app, ORIGIN).await.unwrap();
        // Not enrolled: refused before anything else.
        let err = e
            .control
            .apply(&e.act(&pros()), &p.id, ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "photo_required", "{db:?}");
        enrol_photo(&e, &pros(), &p.id).await;
        put_team(&e, &pros(), &p.id).await;
        let err = e
            .control
            .apply(&e.act(&pros()), &p.id, ORIGIN)
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("penalty_too_low") && text.contains("period_too_long"),
            "{text}"
        );
        assert!(text.contains("Lag 2026:806"), "{text}");
        assert_eq!(
            e.store.permit(&p.id).await.unwrap().status,
            Status::Draft,
            "nothing changed"
        );
    }
}

/// The police start a suspect search (a court's purpose, on a prosecutor's application) urgently,
/// as the motion reads the act, and hand it to the prosecutor, who files it; the court registers
/// it under its own number and decides. Nobody else can take any of these steps for them.
#[tokio::test]
async fn the_police_start_a_court_purpose_urgently_and_a_prosecutor_files_it() {
    for db in databases() {
        let e = env(db).await;
        let id = drafted(&e, Purpose::SuspectLocation, &officer()).await;
        // Filing to the court is the prosecutor's, even for the officer who drafted it.
        let err = e
            .control
            .apply(&e.act(&officer()), &id, ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "wrong_applicant", "{db:?}");
        e.control
            .urgent_start(
                &e.act(&officer()),
                &id,
                "he is armed and on the move",
                ORIGIN,
            )
            .await
            .unwrap();
        assert_eq!(e.scope.watchlist("cam-1").list.entries.len(), 1);
        // Only to an active prosecutor of the permit's agency; an unknown name, a judge and the
        // reviewer are refused alike, and only the applicant hands over.
        for to in ["nobody", "judge", "rev"] {
            let err = e
                .control
                .hand_over(&e.act(&officer()), &id, to, ORIGIN)
                .await
                .unwrap_err();
            assert_eq!(code(err), "urgent_hand_over", "{db:?}: {to}");
        }
        let err = e
            .control
            .hand_over(&e.act(&pros()), &id, "pros", ORIGIN)
            .await
            .unwrap_err();
        assert!(
            ["not_applicant", "not_found"].contains(&code(err).as_str()),
            "{db:?}"
        );
        let p = e
            .control
            .hand_over(&e.act(&officer()), &id, "pros", ORIGIN)
            .await
            .unwrap();
        assert_eq!(p.applicant, "pros");
        // The officer still sees it; the prosecutor files it within the deadline.
        e.control
            .permit(&e.act(&officer()), &id, ORIGIN)
            .await
            .unwrap();
        let err = e
            .control
            .apply(&e.act(&officer()), &id, ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "wrong_applicant", "{db:?}");
        e.control.apply(&e.act(&pros()), &id, ORIGIN).await.unwrap();
        // The court's own case number: by the court named, in the shape of one.
        let err = e
            .control
            .register_case(&e.act(&pros()), &id, "B 1234-26", ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "wrong_decider", "{db:?}");
        let err = e
            .control
            .register_case(&e.act(&judge()), &id, "the suspect's name", ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "decider_case_number", "{db:?}");
        e.control
            .register_case(&e.act(&judge()), &id, "B 1234-26", ORIGIN)
            .await
            .unwrap();
        // Whoever started it cannot decide it.
        let err = e
            .control
            .decide(&e.act(&officer()), &id, Outcome::Grant, "necessary", ORIGIN)
            .await
            .unwrap_err();
        assert!(
            ["separation_of_duties", "not_permitted"].contains(&code(err).as_str()),
            "{db:?}"
        );
        let (p, _) = e
            .control
            .decide(&e.act(&judge()), &id, Outcome::Grant, "necessary", ORIGIN)
            .await
            .unwrap();
        assert_eq!(p.status, Status::Granted);
        let stored = e.store.permit(&id).await.unwrap();
        assert_eq!(stored.decider_case.unwrap().number, "B 1234-26");
        assert_eq!(stored.handed_over.unwrap().from, "officer");
        let (entries, _) = e.store.audit_log().await.unwrap();
        for action in ["permit.handed_over", "permit.case_registered"] {
            assert_eq!(
                entries.iter().filter(|x| x.action == action).count(),
                1,
                "{db:?}: {action}"
            );
        }
        assert!(matches!(verify_log(&e).await, Verdict::Intact { .. }));
    }
}

/// The reform's court procedure end to end: the court appoints a public counsel, who alone files
/// an opinion; the court grants only after it and a hearing; the counsel appeals the grant to a
/// higher judge who had no part in it, who overturns it: use stops at once, and what it produced
/// is erased to the byte, with a certificate, as for a refusal.
#[tokio::test]
async fn under_the_reform_an_overturned_grant_stops_and_leaves_nothing_but_a_certificate() {
    use mandat_law::appeal::{AppealOutcome, Position};
    use mandat_law::{Actor, Role, SWEDEN_COURT_FOR_ALL};
    for db in databases() {
        let e = env_in(db, &SWEDEN_COURT_FOR_ALL).await;
        let counsel = Actor::new("counsel", &[Role::Counsel]);
        let higher = Actor::new("higher", &[Role::Judge]);
        e.provision(&counsel.user, &counsel.roles).await;
        e.provision(&higher.user, &higher.roles).await;
        let id = drafted(&e, Purpose::VictimSearch, &pros()).await;
        e.control.apply(&e.act(&pros()), &id, ORIGIN).await.unwrap();
        let grant = |who: Actor| {
            let (e, id) = (&e, &id);
            async move {
                e.control
                    .decide(&e.act(&who), id, Outcome::Grant, "necessary", ORIGIN)
                    .await
            }
        };
        assert_eq!(code(grant(judge()).await.unwrap_err()), "public_counsel");
        // Counsel is not on the permit until appointed, and only its court appoints.
        let err = e
            .control
            .permit(&e.act(&counsel), &id, ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "not_found", "{db:?}");
        let err = e
            .control
            .appoint_counsel(&e.act(&pros()), &id, "counsel", ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "not_permitted", "{db:?}");
        for who in ["rev", "nobody"] {
            let err = e
                .control
                .appoint_counsel(&e.act(&judge()), &id, who, ORIGIN)
                .await
                .unwrap_err();
            assert_eq!(code(err), "public_counsel", "{db:?}: {who}");
        }
        e.control
            .appoint_counsel(&e.act(&judge()), &id, "counsel", ORIGIN)
            .await
            .unwrap();
        e.control
            .permit(&e.act(&counsel), &id, ORIGIN)
            .await
            .unwrap();
        let err = e
            .control
            .file_opinion(&e.act(&judge()), &id, Position::Opposes, "x", ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "not_permitted", "{db:?}");
        e.control
            .file_opinion(
                &e.act(&counsel),
                &id,
                Position::Opposes,
                "COUNSEL-OPINION-MARKER the area is too wide",
                ORIGIN,
            )
            .await
            .unwrap();
        assert_eq!(code(grant(judge()).await.unwrap_err()), "hearing_record");
        e.control
            .record_hearing(
                &e.act(&judge()),
                &id,
                None,
                "the prosecutor and the public counsel",
                "HEARING-OUTCOME-MARKER heard both",
                ORIGIN,
            )
            .await
            .unwrap();
        let (p, _) = grant(judge()).await.unwrap();
        assert_eq!(p.status, Status::Granted);
        assert_eq!(e.scope.watchlist("cam-1").list.entries.len(), 1);
        e.clock.advance(3_600_000);
        e.control
            .raise_alert(hit(&e, "A-1", &id).await)
            .await
            .unwrap();
        let erased = sealed(&e, &id).await;
        // The prosecutor won and does not appeal; the higher instance had no part in the permit.
        let err = e
            .control
            .appeal(&e.act(&pros()), &id, "higher", "g", ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "appeal", "{db:?}");
        for to in ["judge", "pros", "nobody"] {
            let err = e
                .control
                .appeal(&e.act(&counsel), &id, to, "g", ORIGIN)
                .await
                .unwrap_err();
            assert_eq!(code(err), "higher_instance", "{db:?}: {to}");
        }
        e.control
            .appeal(
                &e.act(&counsel),
                &id,
                "higher",
                "APPEAL-GROUNDS-MARKER disproportionate",
                ORIGIN,
            )
            .await
            .unwrap();
        let err = e
            .control
            .decide_appeal(
                &e.act(&judge()),
                &id,
                AppealOutcome::Overturned,
                "r",
                ORIGIN,
            )
            .await
            .unwrap_err();
        assert_eq!(code(err), "appeal_instance", "{db:?}");
        // The higher instance reads the record, never the alerts, and joins no team.
        e.control
            .permit(&e.act(&higher), &id, ORIGIN)
            .await
            .unwrap();
        let alerts = |who: Actor| {
            let e = &e;
            async move {
                e.control
                    .alerts(&e.act(&who), 0, 100, ORIGIN)
                    .await
                    .unwrap()
                    .len()
            }
        };
        assert_eq!(alerts(judge()).await, 1, "{db:?}");
        assert_eq!(
            alerts(higher.clone()).await,
            0,
            "{db:?}: the higher instance saw alerts"
        );
        let err = e
            .control
            .assign_team(&e.act(&pros()), &id, "higher", Some(Role::Reviewer), ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "separation_of_duties", "{db:?}");
        let (p, cert) = e
            .control
            .decide_appeal(
                &e.act(&higher),
                &id,
                AppealOutcome::Overturned,
                "not proportionate",
                ORIGIN,
            )
            .await
            .unwrap();
        assert_eq!(p.status, Status::Overturned);
        assert!(p.purged);
        assert!(
            cert.expect("an overturned grant purges")
                .wrapped_key_deleted
        );
        assert!(e.scope.watchlist("cam-1").is_empty(), "{db:?}: use stops");
        assert_gone(&e, &erased, "overturned grant").await;
        assert_eq!(e.store.biometric_rows(&id).await.unwrap(), 0);
        // The record of the procedure stays, its texts purged with the rest.
        let kept = e.store.permit(&id).await.unwrap();
        assert_eq!(kept.counsel.as_ref().unwrap().user, "counsel");
        assert_eq!(kept.appeal.as_ref().unwrap().grounds, "[purged]");
        let (entries, _) = e.store.audit_log().await.unwrap();
        for action in [
            "permit.counsel_appointed",
            "permit.opinion_filed",
            "permit.hearing_recorded",
            "permit.appeal",
            "permit.appeal_decided",
            "permit.purge",
        ] {
            assert_eq!(
                entries.iter().filter(|x| x.action == action).count(),
                1,
                "{db:?}: {action}"
            );
        }
        let decided = entries
            .iter()
            .find(|x| x.action == "permit.appeal_decided")
            .unwrap();
        assert_eq!(decided.details["appeal"]["outcome"], "overturned");
        assert_eq!(decided.details["to"], "Overturned");
        let log = serde_json::to_string(&entries).unwrap();
        assert!(!log.contains("MARKER"), "procedure text in the log");
        assert!(matches!(verify_log(&e).await, Verdict::Intact { .. }));
    }
}

#[tokio::test]
async fn refused_urgent_use_stops_and_leaves_nothing_but_a_certificate() {
    for db in databases() {
        let e = env(db).await;
        let id = drafted(&e, Purpose::ImminentThreat, &officer()).await;
        // No ground, no urgent use: nothing starts.
        let err = e
            .control
            .urgent_start(&e.act(&officer()), &id, " ", ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "urgent_ground", "{err}");
        assert!(e.scope.watchlist("cam-1").list.entries.is_empty());
        e.control
            .urgent_start(&e.act(&officer()), &id, "the threat is now", ORIGIN)
            .await
            .unwrap();
        assert_eq!(
            e.scope.watchlist("cam-1").list.entries.len(),
            1,
            "urgent use runs at once"
        );
        e.clock.advance(2 * 3_600_000);
        e.control
            .raise_alert(hit(&e, "A-1", &id).await)
            .await
            .unwrap();
        // What the erasure must take away, as stored: the wrapped data key and every sealed blob.
        let erased = sealed(&e, &id).await;
        assert_eq!(
            erased.len(),
            6,
            "key, text, photo, template, crop and frame"
        );
        e.control
            .apply(&e.act(&officer()), &id, ORIGIN)
            .await
            .unwrap();
        let (p, cert) = e
            .control
            .decide(
                &e.act(&pros()),
                &id,
                Outcome::Refuse,
                "not necessary",
                ORIGIN,
            )
            .await
            .unwrap();
        let cert = cert.expect("a refusal of urgent use purges");
        // The erasure reached the disk: not a byte of it in the database, its WAL or shared
        // memory (SQLite), nor in any blob PostgreSQL holds after the vacuum.
        assert_gone(&e, &erased, "refused urgent use").await;
        assert_eq!(p.status, Status::Refused);
        assert!(p.purged);
        let photo = person_of(&e, &id).await.1;
        assert_eq!(cert.photos, std::slice::from_ref(&photo));
        assert_eq!(cert.templates, [format!("{photo}.t")]);
        assert!(cert.wrapped_key_deleted);
        assert!(
            e.scope.watchlist("cam-1").is_empty(),
            "{db:?}: use stops at once"
        );
        assert_eq!(e.store.biometric_rows(&id).await.unwrap(), 0);
        // The record stays, without who the person was.
        let kept = e.store.permit(&id).await.unwrap();
        assert_eq!(kept.application.persons[0].label, "[purged]");
        // The certificate is in the log as counts and ids, never content.
        let (entries, _) = e.store.audit_log().await.unwrap();
        let purge = entries.iter().find(|x| x.action == "permit.purge").unwrap();
        assert_eq!(purge.details["photos"][0], photo.as_str());
        let log = serde_json::to_string(&entries).unwrap();
        assert!(
            !log.contains("Person One"),
            "a designated person's name in the log"
        );
        assert!(!log.contains("PHOTO-PLAINTEXT"), "photo content in the log");
        assert!(matches!(verify_log(&e).await, Verdict::Intact { .. }));
        // Nothing can decrypt what a backup might still hold: the data key is gone.
        assert!(
            e.store
                .snapshot()
                .await
                .unwrap()
                .iter()
                .all(|(p, t)| p.id != id || t.is_empty())
        );
    }
}

#[tokio::test]
async fn urgent_use_without_an_application_is_stopped_and_purged_by_itself() {
    for db in databases() {
        let e = env(db).await;
        let id = drafted(&e, Purpose::ImminentThreat, &officer()).await;
        let p = e
            .control
            .urgent_start(&e.act(&officer()), &id, "the threat is now", ORIGIN)
            .await
            .unwrap();
        assert_eq!(p.urgent.unwrap().deadline, t0().plus_hours(24));
        e.clock.advance(24 * 3_600_000 - 1);
        assert!(e.control.tick(ORIGIN).await.unwrap().is_empty());
        assert!(!e.scope.watchlist("cam-1").is_empty());
        e.clock.advance(1);
        // Fail closed: past the deadline the use is off even before the tick has run.
        assert!(e.scope.watchlist("cam-1").is_empty(), "{db:?}");
        let certs = e.control.tick(ORIGIN).await.unwrap();
        assert_eq!(certs.len(), 1);
        assert_eq!(certs[0].permit, id);
        let p = e.store.permit(&id).await.unwrap();
        assert_eq!(p.status, Status::Stopped);
        assert!(p.purged);
        assert_eq!(e.store.biometric_rows(&id).await.unwrap(), 0);
        let err = e
            .control
            .apply(&e.act(&officer()), &id, ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "wrong_state");
    }
}

#[tokio::test]
async fn scope_fails_closed() {
    for db in databases() {
        let e = env(db).await;
        granted(&e).await;
        assert!(!e.scope.watchlist("cam-1").is_empty());
        e.clock.set(None);
        assert!(
            e.scope.watchlist("cam-1").is_empty(),
            "{db:?}: unknown time"
        );
        assert_eq!(
            code(e.control.tick(ORIGIN).await.unwrap_err()),
            "clock_unknown"
        );
        e.clock.set(Some(t0()));
        // A cache that has never loaded, or could not refresh in time, answers nothing.
        let cold = ScopeCache::new(e.clock.clone(), Duration::from_millis(50));
        assert!(cold.watchlist("cam-1").is_empty(), "no snapshot");
        cold.reload(&e.store).await;
        assert!(!cold.watchlist("cam-1").is_empty());
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(cold.watchlist("cam-1").is_empty(), "stale snapshot");
        // An unreadable store empties the cache.
        e.store.close().await;
        cold.refresh(&e.store).await;
        assert!(cold.watchlist("cam-1").is_empty(), "store unreadable");
    }
}

#[tokio::test]
async fn a_stop_by_another_process_reaches_the_engine_within_a_second() {
    for db in databases() {
        let e = env(db).await;
        let id = granted(&e).await;
        // The engine's side: its own connection and a cache polling it.
        let engine_store = open(&e.url, &e.master_hex, e.audit_bytes, e.dir.path()).await;
        let cache = Arc::new(ScopeCache::new(e.clock.clone(), Duration::from_secs(1)));
        cache.reload(&engine_store).await;
        let task = tokio::spawn(cache.clone().run(engine_store, Duration::from_millis(200)));
        assert!(!cache.watchlist("cam-1").is_empty());
        // The applicant's side: another connection, another control plane.
        let other = Control::new(
            open(&e.url, &e.master_hex, e.audit_bytes, e.dir.path()).await,
            e.clock.clone(),
            &SWEDEN,
        );
        other
            .stop(&e.act(&officer()), &id, "found", ORIGIN)
            .await
            .unwrap();
        let t = Instant::now();
        while !cache.watchlist("cam-1").is_empty() {
            assert!(
                t.elapsed() < Duration::from_secs(1),
                "{db:?}: the engine still matched for a stopped permit after 1 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        task.abort();
    }
}

#[tokio::test]
async fn biometric_data_is_encrypted_at_rest() {
    for db in databases() {
        let e = env(db).await;
        let id = granted(&e).await;
        let tpl = template_bytes();
        let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
        match db {
            Db::Sqlite => {
                // Every byte SQLite wrote: the database, its WAL and shared memory.
                let mut all = Vec::new();
                for f in std::fs::read_dir(e.dir.path()).unwrap() {
                    all.extend(std::fs::read(f.unwrap().path()).unwrap());
                }
                assert!(!all.is_empty());
                assert!(!contains(&all, PHOTO), "photo in clear on disk");
                assert!(!contains(&all, &tpl[..64]), "template in clear on disk");
                assert!(
                    !contains(&all, b"user:secret@"),
                    "camera credentials in clear"
                );
            }
            Db::Postgres => {
                let raw = raw_pool(&e.url).await;
                let mut n = 0;
                for q in [
                    "SELECT sealed AS b FROM photos WHERE permit_id = $1",
                    "SELECT sealed AS b FROM templates WHERE permit_id = $1",
                ] {
                    for row in sqlx::query(q)
                        .bind(id.clone())
                        .fetch_all(&raw)
                        .await
                        .unwrap()
                    {
                        let blob: Vec<u8> = sqlx::Row::get(&row, "b");
                        assert!(!contains(&blob, PHOTO) && !contains(&blob, &tpl[..64]));
                        n += 1;
                    }
                }
                assert_eq!(n, 2);
            }
        }
        // And they decrypt with the right keys.
        assert_eq!(
            e.store.camera_url("cam-1").await.unwrap(),
            "rtsp://user:secret@10.0.0.1/cam-1"
        );
    }
}

#[tokio::test]
async fn audit_log_in_the_database_detects_tampering() {
    for db in databases() {
        let e = env(db).await;
        granted(&e).await;
        assert!(matches!(
            verify_log(&e).await,
            Verdict::Intact {
                unsigned_tail: 0,
                ..
            }
        ));
        let raw = raw_pool(&e.url).await;
        // Edit one entry.
        sqlx::query("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 5")
            .execute(&raw)
            .await
            .unwrap();
        assert!(
            matches!(verify_log(&e).await, Verdict::Broken { seq: 5, .. }),
            "{db:?}: edit"
        );
        // Delete the tail: caught against the last signed checkpoint.
        let e = env(db).await;
        granted(&e).await;
        let raw = raw_pool(&e.url).await;
        let (entries, _) = e.store.audit_log().await.unwrap();
        let last = entries.len() as i64;
        sqlx::query("DELETE FROM audit_log WHERE seq >= $1")
            .bind(last - 1)
            .execute(&raw)
            .await
            .unwrap();
        match verify_log(&e).await {
            Verdict::Broken { reason, .. } => assert!(reason.contains("truncated"), "{reason}"),
            v => panic!("{db:?}: truncation unnoticed: {v:?}"),
        }
        // Delete one in the middle.
        let e = env(db).await;
        granted(&e).await;
        sqlx::query("DELETE FROM audit_log WHERE seq = 3")
            .execute(&raw_pool(&e.url).await)
            .await
            .unwrap();
        assert!(matches!(
            verify_log(&e).await,
            Verdict::Broken { seq: 3, .. }
        ));
    }
}

#[tokio::test]
async fn logins_back_off_and_sessions_expire() {
    for db in databases() {
        let e = env(db).await;
        let (actor, token) = e
            .control
            .login("officer", &password("officer"), &e.otp("officer"), ORIGIN)
            .await
            .unwrap();
        assert_eq!(actor.actor(), &officer());
        assert_eq!(e.control.session(&token).await.unwrap().actor(), &officer());
        for _ in 0..=mandat_store::FREE_LOGIN_FAILURES {
            let err = e
                .control
                .login("officer", "wrong", "000000", ORIGIN)
                .await
                .unwrap_err();
            assert_eq!(code(err), "unauthenticated", "{db:?}");
        }
        let err = e
            .control
            .login(
                "officer",
                &password("officer"),
                &e.otp_now("officer"),
                ORIGIN,
            )
            .await
            .unwrap_err();
        assert_eq!(
            code(err),
            "throttled",
            "the right password waits out the back-off too"
        );
        e.clock.advance(mandat_store::backoff_ms(
            mandat_store::FREE_LOGIN_FAILURES + 1,
        ));
        e.control
            .login("officer", &password("officer"), &e.otp("officer"), ORIGIN)
            .await
            .unwrap();
        // Sessions end.
        e.clock.advance(mandat_control::SESSION_TTL_MS);
        assert_eq!(
            code(e.control.session(&token).await.unwrap_err()),
            "unauthenticated"
        );
        let (_, t2) = e
            .control
            .login("pros", &password("pros"), &e.otp("pros"), ORIGIN)
            .await
            .unwrap();
        e.control.logout(&t2).await.unwrap();
        assert!(e.control.session(&t2).await.is_err());
        // The log shows who tried, never a password.
        let (entries, _) = e.store.audit_log().await.unwrap();
        assert!(entries.iter().any(|x| x.action == "auth.throttled"));
        let log = serde_json::to_string(&entries).unwrap();
        assert!(!log.contains("battery"), "a password in the log");
    }
}

#[tokio::test]
async fn unreviewed_alerts_expire_and_purges_take_their_reviews() {
    for db in databases() {
        let e = env(db).await;
        e.provision("rev2", &[mandat_law::Role::Reviewer]).await;
        let id = drafted(&e, Purpose::ImminentThreat, &officer()).await;
        e.control
            .urgent_start(&e.act(&officer()), &id, "the threat is now", ORIGIN)
            .await
            .unwrap();
        let template = hit(&e, "", &id).await;
        let alert = |n: &str| {
            let mut a = template.clone();
            a.id = n.into();
            a
        };
        e.control.raise_alert(alert("A-old")).await.unwrap();
        e.control
            .review(
                &e.act(&reviewer()),
                "A-old",
                mandat_law::review::Verdict::Confirm,
                "",
                ORIGIN,
            )
            .await
            .unwrap();
        e.clock.advance(mandat_control::DEFAULT_ALERT_TTL_MS);
        let mut new = alert("A-new");
        new.captured_at = e.control.now().unwrap();
        e.control.raise_alert(new).await.unwrap();
        e.control.tick(ORIGIN).await.unwrap();
        assert_eq!(
            e.store.alert("A-old").await.unwrap().state.as_str(),
            "expired",
            "{db:?}"
        );
        assert_eq!(
            e.store.alert("A-new").await.unwrap().state.as_str(),
            "candidate"
        );
        let second = mandat_law::Actor::new("rev2", &[mandat_law::Role::Reviewer]);
        let err = e
            .control
            .review(
                &e.act(&second),
                "A-old",
                mandat_law::review::Verdict::Confirm,
                "",
                ORIGIN,
            )
            .await
            .unwrap_err();
        assert_eq!(code(err), "review_closed");
        // The refusal purges the alerts and their reviews.
        e.control
            .apply(&e.act(&officer()), &id, ORIGIN)
            .await
            .unwrap();
        let (_, cert) = e
            .control
            .decide(&e.act(&pros()), &id, Outcome::Refuse, "no", ORIGIN)
            .await
            .unwrap();
        let cert = cert.unwrap();
        assert_eq!(cert.alerts, ["A-new", "A-old"]);
        assert_eq!(cert.reviews, 1);
        assert!(e.store.alert("A-old").await.is_err());
    }
}

/// The engine (later a worker with an outbox) may send a hit more than once. Stored once, logged
/// once, told to reviewers once, and acknowledged even after the use has ended; a different hit
/// under a used id, as a replay with edited content would be, is refused.
#[tokio::test]
async fn a_hit_sent_again_is_stored_once_and_another_under_its_id_is_refused() {
    for db in databases() {
        let e = env(db).await;
        let id = granted(&e).await;
        let hit1 = hit(&e, "A-1", &id).await;
        let mut events = e.control.subscribe();
        e.control.raise_alert(hit1.clone()).await.unwrap();
        e.control.raise_alert(hit1.clone()).await.unwrap();
        assert_eq!(events.try_recv().unwrap().id, "A-1");
        assert!(events.try_recv().is_err(), "{db:?}: told once");
        let (entries, _) = e.store.audit_log().await.unwrap();
        let logged = entries
            .iter()
            .filter(|x| x.action == "alert.candidate")
            .count();
        assert_eq!(logged, 1, "{db:?}");
        assert_eq!(e.store.alerts(0, 100).await.unwrap().len(), 1);
        // Other content under the same id: refused, and the stored alert is unchanged.
        let mut edited = hit1.clone();
        edited.score = 0.99;
        let err = e.control.raise_alert(edited).await.unwrap_err();
        assert_eq!(err.code(), "conflict", "{db:?}");
        let mut other_image = hit1.clone();
        other_image.crop_jpeg = b"\xFF\xD8another face".to_vec();
        assert!(e.control.raise_alert(other_image).await.is_err());
        assert_eq!(e.store.alert("A-1").await.unwrap().score, 0.7);
        // After a stop a new hit is refused, but the retry of one stored before is acknowledged.
        e.control
            .stop(&e.act(&officer()), &id, "found", ORIGIN)
            .await
            .unwrap();
        e.control.raise_alert(hit1.clone()).await.unwrap();
        let mut late = hit1;
        late.id = "A-2".into();
        assert!(e.control.raise_alert(late).await.is_err(), "{db:?}");
    }
}

/// One person, one candidate: the same person on the same camera again within 30 s of a candidate
/// still under review is a further sighting of it, never a second candidate for the reviewers. A
/// sighting is as idempotent as an alert, ends with the review, and goes with a purge.
#[tokio::test]
async fn a_person_seen_again_within_30_s_is_a_sighting_of_the_open_candidate() {
    use sqlx::Row;
    const FOLD: i64 = mandat_store::alerts::FOLD_WINDOW_MS;
    for db in databases() {
        let e = env(db).await;
        let id = drafted(&e, Purpose::ImminentThreat, &officer()).await;
        e.control
            .urgent_start(&e.act(&officer()), &id, "the threat is now", ORIGIN)
            .await
            .unwrap();
        let mut events = e.control.subscribe();
        e.control
            .raise_alert(hit(&e, "A-1", &id).await)
            .await
            .unwrap();
        assert_eq!(events.try_recv().unwrap().sightings, 0);
        // The tracker lost the face and found it again, 10 s on.
        e.clock.advance(10_000);
        let again = hit(&e, "A-2", &id).await;
        let ev = e.control.raise_alert(again.clone()).await.unwrap();
        assert_eq!((ev.id.as_str(), ev.sightings), ("A-1", 1), "{db:?}");
        assert_eq!(ev.last_seen_at, Some(again.captured_at.0));
        assert_eq!(events.try_recv().unwrap().sightings, 1, "reviewers see it");
        assert!(e.store.alert("A-2").await.is_err(), "no second candidate");
        // Sent again: acknowledged, nothing written; edited under its id: refused.
        let ev = e.control.raise_alert(again.clone()).await.unwrap();
        assert_eq!((ev.id.as_str(), ev.sightings), ("A-1", 1));
        assert!(events.try_recv().is_err(), "{db:?}: told once");
        let mut edited = again.clone();
        edited.score = 0.99;
        assert_eq!(
            e.control.raise_alert(edited).await.unwrap_err().code(),
            "conflict"
        );
        // 25 s after the last sighting (35 s after the first): still the same candidate.
        e.clock.advance(25_000);
        let ev = e
            .control
            .raise_alert(hit(&e, "A-3", &id).await)
            .await
            .unwrap();
        assert_eq!((ev.id.as_str(), ev.sightings), ("A-1", 2), "{db:?}");
        // A better view is a candidate of its own, with its images: a sighting keeps none.
        let mut better = hit(&e, "A-3b", &id).await;
        better.score = 0.8;
        let ev = e.control.raise_alert(better).await.unwrap();
        assert_eq!((ev.id.as_str(), ev.sightings), ("A-3b", 0), "{db:?}");
        // More than 30 s after the last sighting: a new candidate.
        e.clock.advance(FOLD + 1);
        let ev = e
            .control
            .raise_alert(hit(&e, "A-4", &id).await)
            .await
            .unwrap();
        assert_eq!((ev.id.as_str(), ev.sightings), ("A-4", 0), "{db:?}");
        // Once a reviewer has judged it (here, the first of two confirmations), a candidate
        // takes no more sightings: nobody is asked to vouch for what they did not see.
        e.control
            .review(
                &e.act(&reviewer()),
                "A-4",
                mandat_law::review::Verdict::Confirm,
                "",
                ORIGIN,
            )
            .await
            .unwrap();
        assert_eq!(
            e.store.alert("A-4").await.unwrap().state,
            mandat_law::review::AlertState::Candidate
        );
        e.clock.advance(5_000);
        let ev = e
            .control
            .raise_alert(hit(&e, "A-5", &id).await)
            .await
            .unwrap();
        assert_eq!(ev.id, "A-5", "{db:?}");
        // The log names the candidate and each sighting once, and no time or place.
        let (entries, _) = e.store.audit_log().await.unwrap();
        let sightings: Vec<_> = entries
            .iter()
            .filter(|x| x.action == "alert.sighting")
            .map(|x| x.details.clone())
            .collect();
        let logged = |s: &str| {
            serde_json::json!({"alert": "A-1", "sighting": s, "threshold": 0.4f32 as f64,
                "watchlist_version": "v".repeat(64)})
        };
        assert_eq!(sightings, [logged("A-2"), logged("A-3")], "{db:?}");
        assert_eq!(e.store.alerts(0, 100).await.unwrap().len(), 4);
        // A sighting sent again after its candidate was judged is still only acknowledged.
        let ev = e.control.raise_alert(again.clone()).await.unwrap();
        assert_eq!((ev.id.as_str(), ev.sightings), ("A-1", 2), "{db:?}");
        // A refusal purges the sightings with their candidates.
        e.control
            .apply(&e.act(&officer()), &id, ORIGIN)
            .await
            .unwrap();
        e.control
            .decide(&e.act(&pros()), &id, Outcome::Refuse, "no", ORIGIN)
            .await
            .unwrap();
        assert_eq!(e.store.biometric_rows(&id).await.unwrap(), 0, "{db:?}");
        let raw = mandat_testkit::raw_pool(&e.url).await;
        let left: i64 = sqlx::query("SELECT COUNT(*) AS n FROM alert_sightings")
            .fetch_one(&raw)
            .await
            .unwrap()
            .get("n");
        assert_eq!(left, 0, "{db:?}");
        raw.close().await;
        // A resent sighting of a purged use is not stored again.
        assert!(e.control.raise_alert(again).await.is_err(), "{db:?}");
    }
}

/// Two control replicas on one PostgreSQL database. Replica B never polls: only the pushes of
/// replica A's transactions (NOTIFY) can tell it anything. A stop through A ends B's watchlist,
/// and A's alerts and reviews reach B's live clients; B's own alert is told to them once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_and_an_alert_through_one_replica_reach_another_by_push() {
    use mandat_law::review::{AlertState, Verdict};
    if !databases().contains(&Db::Postgres) {
        eprintln!("skipped here: replicas share PostgreSQL (CI sets MANDAT_TEST_POSTGRES)");
        return;
    }
    let a = env(Db::Postgres).await;
    let store_b = open(&a.url, &a.master_hex, a.audit_bytes, a.dir.path()).await;
    let scope_b = Arc::new(ScopeCache::new(a.clock.clone(), Duration::from_secs(3600)));
    let b = Arc::new(
        Control::new(store_b.clone(), a.clock.clone(), &SWEDEN).with_scope(scope_b.clone()),
    );
    let id = granted(&a).await;
    scope_b.reload(&store_b).await;
    assert!(!scope_b.watchlist("cam-1").is_empty());
    let mut events_b = b.subscribe();
    async fn next(
        rx: &mut tokio::sync::broadcast::Receiver<mandat_control::AlertEvent>,
    ) -> mandat_control::AlertEvent {
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("pushed within 5 s")
            .unwrap()
    }
    tokio::spawn(b.clone().follow_replicas());
    // The listening connection is made in the background.
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.control
        .raise_alert(hit(&a, "A-1", &id).await)
        .await
        .unwrap();
    let ev = next(&mut events_b).await;
    assert_eq!((ev.id.as_str(), ev.state), ("A-1", AlertState::Candidate));
    a.control
        .review(
            &a.act(&reviewer()),
            "A-1",
            Verdict::Reject,
            "not the person sought",
            ORIGIN,
        )
        .await
        .unwrap();
    let ev = next(&mut events_b).await;
    assert_eq!((ev.id.as_str(), ev.state), ("A-1", AlertState::Rejected));
    // B's own alert: told to B's clients by B, and not a second time by its own notification.
    a.clock.advance(mandat_store::alerts::FOLD_WINDOW_MS + 1);
    b.raise_alert(hit(&a, "A-2", &id).await).await.unwrap();
    assert_eq!(next(&mut events_b).await.id, "A-2");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(events_b.try_recv().is_err(), "told twice");
    // A stop through A: B stops matching by push, with no poll.
    a.control
        .stop(&a.act(&officer()), &id, "found", ORIGIN)
        .await
        .unwrap();
    let t = Instant::now();
    while !scope_b.watchlist("cam-1").is_empty() {
        assert!(t.elapsed() < Duration::from_secs(2), "B still matches");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
