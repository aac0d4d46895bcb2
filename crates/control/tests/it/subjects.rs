//! Subject notifications (underrättelse) from the real review path, by the motion's rule: one task
//! per person and permit, due when the use ends; the applicant defers (a prosecutor's later
//! deferrals are their own), asks not to notify, and records the notification; only the decider
//! decides a waiver, with reasons; auditors see every task; a purge takes the tasks with
//! everything else of the use. On SQLite and PostgreSQL.

use crate::common::*;
use mandat_law::review::Verdict;
use mandat_law::subject::{Awaiting, Closed};
use mandat_law::time::DAY;
use mandat_law::{Actor, Outcome, Purpose, Role, Timestamp};
use mandat_store::subjects::SubjectStep;

async fn verify(e: &Env, alert: &str) {
    let rev2 = Actor::new("rev2", &[Role::Reviewer]);
    for r in [reviewer(), rev2] {
        e.control
            .review(&e.act(&r), alert, Verdict::Confirm, "", ORIGIN)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_identifications_become_one_task_per_person_due_when_the_use_ends() {
    for db in databases() {
        let e = env(db).await;
        e.provision("rev2", &[Role::Reviewer]).await;
        e.provision("judge2", &[Role::Judge]).await;
        // A suspect search (notified under se-2026) and a victim search (not notified).
        let suspect = drafted(&e, Purpose::SuspectLocation, &pros()).await;
        e.control
            .apply(&e.act(&pros()), &suspect, ORIGIN)
            .await
            .unwrap();
        e.control
            .decide(&e.act(&judge()), &suspect, Outcome::Grant, "ok", ORIGIN)
            .await
            .unwrap();
        let victim = granted(&e).await;
        e.control
            .raise_alert(hit(&e, "A-s", &suspect).await)
            .await
            .unwrap();
        e.control
            .raise_alert(hit(&e, "A-v", &victim).await)
            .await
            .unwrap();
        verify(&e, "A-s").await;
        verify(&e, "A-v").await;
        // The same person found again an hour later: the same task.
        e.clock.set(Some(t0().plus_hours(1)));
        e.control
            .raise_alert(hit(&e, "A-s2", &suspect).await)
            .await
            .unwrap();
        verify(&e, "A-s2").await;

        let all = e
            .control
            .subject_tasks(&e.act(&auditor()), ORIGIN)
            .await
            .unwrap();
        assert_eq!(all.len(), 1, "{db:?}: only the suspect search is notified");
        let person = person_of(&e, &suspect).await.0;
        let t = &all[0].task;
        assert_eq!(t.id, format!("S-{suspect}-{person}"));
        assert_eq!(
            (t.permit.as_str(), t.person.as_str()),
            (suspect.as_str(), person.as_str())
        );
        assert_eq!(t.alerts, ["A-s", "A-s2"]);
        assert_eq!(t.created_at, t0());
        // Due when the use ends: the end of the period granted.
        let end = e
            .store
            .permit(&suspect)
            .await
            .unwrap()
            .application
            .period
            .end;
        assert_eq!(all[0].due_at, end);
        assert!(!all[0].overdue);
        assert!(all[0].steps.is_empty(), "auditors only read");
        // The applicant and the deciding judge see it; another judge, another applicant and
        // reviewers do not.
        let mine = e
            .control
            .subject_tasks(&e.act(&pros()), ORIGIN)
            .await
            .unwrap();
        assert_eq!(
            mine[0].steps,
            ["defer", "waiver"],
            "notifying waits for the end of use"
        );
        let judges = e
            .control
            .subject_tasks(&e.act(&judge()), ORIGIN)
            .await
            .unwrap();
        assert_eq!((judges.len(), judges[0].steps.len()), (1, 0));
        let judge2 = Actor::new("judge2", &[Role::Judge]);
        for who in [judge2.clone(), officer()] {
            assert!(
                e.control
                    .subject_tasks(&e.act(&who), ORIGIN)
                    .await
                    .unwrap()
                    .is_empty()
            );
        }
        assert!(
            e.control
                .subject_tasks(&e.act(&reviewer()), ORIGIN)
                .await
                .is_err()
        );

        // Stopped early: due at the stop, and overdue from then.
        let stop_at = t0().plus_hours(2);
        e.clock.set(Some(stop_at));
        e.control
            .stop(&e.act(&pros()), &suspect, "the person is arrested", ORIGIN)
            .await
            .unwrap();
        let v = &e
            .control
            .subject_tasks(&e.act(&pros()), ORIGIN)
            .await
            .unwrap()[0];
        assert_eq!((v.due_at, v.overdue), (stop_at, true), "{db:?}");

        // Only the applicant defers, with a reason and a later date; outsiders learn nothing.
        let id = t.id.clone();
        let later = Timestamp(t0().0 + 90 * DAY);
        let defer = |reason: &str, until: Timestamp| SubjectStep::Defer {
            reason: reason.into(),
            until,
        };
        let err = e
            .control
            .subject_step(&e.act(&officer()), &id, defer("x", later), ORIGIN)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no subject notification"), "{err}");
        let err = e
            .control
            .subject_step(&e.act(&judge()), &id, defer("x", later), ORIGIN)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("may not"), "{err}");
        assert!(
            e.control
                .subject_step(&e.act(&pros()), &id, defer("", later), ORIGIN)
                .await
                .is_err()
        );
        let v = e
            .control
            .subject_step(
                &e.act(&pros()),
                &id,
                defer("förundersökningssekretess", later),
                ORIGIN,
            )
            .await
            .unwrap();
        assert_eq!(
            (v.due_at, v.awaiting, v.task.deferrals.len()),
            (later, None, 1)
        );
        // The applicant here is a prosecutor: a later deferral is a prosecutor's own.
        let later2 = Timestamp(later.0 + 30 * DAY);
        let v = e
            .control
            .subject_step(
                &e.act(&pros()),
                &id,
                defer("fortsatt sekretess", later2),
                ORIGIN,
            )
            .await
            .unwrap();
        assert_eq!(
            (v.due_at, v.awaiting, v.task.deferrals.len()),
            (later2, None, 2)
        );

        // Not notifying: asked for with reasons, decided by the deciding judge only.
        let waive = SubjectStep::RequestWaiver {
            reasons: "personen har avlidit".into(),
        };
        let v = e
            .control
            .subject_step(&e.act(&pros()), &id, waive, ORIGIN)
            .await
            .unwrap();
        assert_eq!(v.awaiting, Some(Awaiting::Decider));
        let asked = v.pending_at.expect("the request waits");
        let decide = |approve: bool, reasons: &str| SubjectStep::DecideWaiver {
            approve,
            reasons: reasons.into(),
            request_at: asked,
        };
        let err = e
            .control
            .subject_step(&e.act(&judge2), &id, decide(true, "ok"), ORIGIN)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no subject notification"), "{err}");
        // The applicant is no decider; the judge gives reasons and names the request shown.
        let stale = SubjectStep::DecideWaiver {
            approve: true,
            reasons: "ok".into(),
            request_at: Timestamp(asked.0 - 1),
        };
        for (who, step, code) in [
            (pros(), decide(true, "ok"), "subject_holder"),
            (judge(), decide(true, " "), "subject_waiver"),
            (judge(), stale, "subject_waiver"),
        ] {
            let err = e
                .control
                .subject_step(&e.act(&who), &id, step, ORIGIN)
                .await
                .unwrap_err();
            assert_eq!(err.code(), code, "{}: {err}", who.user);
        }
        let v = e
            .control
            .subject_step(
                &e.act(&judge()),
                &id,
                decide(false, "dödsboet underrättas"),
                ORIGIN,
            )
            .await
            .unwrap();
        assert_eq!((v.awaiting, v.closed), (None, None));
        // Past the deferral, overdue to the auditor and the applicant.
        e.clock.set(Some(Timestamp(later2.0 + DAY)));
        for who in [auditor(), pros()] {
            assert!(e.control.subject_tasks(&e.act(&who), ORIGIN).await.unwrap()[0].overdue);
        }
        let v = e
            .control
            .subject_step(&e.act(&pros()), &id, SubjectStep::Complete, ORIGIN)
            .await
            .unwrap();
        assert_eq!(
            (v.closed, v.task.completed_by.as_deref()),
            (Some(Closed::Notified), Some("pros"))
        );
        assert!(
            !e.control
                .subject_tasks(&e.act(&auditor()), ORIGIN)
                .await
                .unwrap()[0]
                .overdue
        );
        let log = e.control.audit_log(&e.act(&auditor())).await.unwrap();
        for action in [
            "subject.defer",
            "subject.waiver_requested",
            "subject.waiver_refused",
            "subject.notified",
        ] {
            assert!(log.iter().any(|x| x.action == action), "{action}");
        }
        let text = serde_json::to_string(&log).unwrap();
        for secret in ["förundersökningssekretess", "avlidit", "dödsboet"] {
            assert!(!text.contains(secret), "the reasons stay out of the log");
        }

        // A refused urgent use takes its tasks with it. In a fresh installation at t0: the server
        // refuses to act with its clock turned back past the newest audit entry.
        let e = env(db).await;
        e.provision("rev2", &[Role::Reviewer]).await;
        let urgent = drafted(&e, Purpose::SuspectLocation, &pros()).await;
        e.control
            .urgent_start(&e.act(&pros()), &urgent, "the threat is now", ORIGIN)
            .await
            .unwrap();
        e.control
            .raise_alert(hit(&e, "A-u", &urgent).await)
            .await
            .unwrap();
        verify(&e, "A-u").await;
        assert_eq!(
            e.control
                .subject_tasks(&e.act(&auditor()), ORIGIN)
                .await
                .unwrap()
                .len(),
            1
        );
        e.control
            .apply(&e.act(&pros()), &urgent, ORIGIN)
            .await
            .unwrap();
        e.control
            .decide(
                &e.act(&judge()),
                &urgent,
                Outcome::Refuse,
                "not necessary",
                ORIGIN,
            )
            .await
            .unwrap();
        let left = e
            .control
            .subject_tasks(&e.act(&auditor()), ORIGIN)
            .await
            .unwrap();
        assert!(left.is_empty(), "{db:?}: {left:?}");
    }
}

/// A person the decider leaves out of an urgent use is not notified on the strength of it: the
/// task goes with the alert and the person's reference data, at the decision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_grant_deletes_the_tasks_about_persons_left_out() {
    for db in databases() {
        let e = env(db).await;
        e.provision("rev2", &[Role::Reviewer]).await;
        let mut a = application(Purpose::SuspectLocation);
        a.persons.push(a.persons[0].clone());
        let id = drafted_with(&e, a, &pros()).await;
        let p = e.store.permit(&id).await.unwrap();
        let (kept, left) = (&p.application.persons[0], &p.application.persons[1]);
        e.control
            .enrol(
                &e.act(&pros()),
                &id,
                &left.id,
                &left.photos[0].id,
                PHOTO,
                &template(),
                &mandat_testkit::QUALITY,
                ORIGIN,
            )
            .await
            .unwrap();
        e.control
            .urgent_start(&e.act(&pros()), &id, "the threat is now", ORIGIN)
            .await
            .unwrap();
        for (alert, person) in [("A-kept", kept), ("A-left", left)] {
            let mut h = hit(&e, alert, &id).await;
            h.person = person.id.clone();
            e.control.raise_alert(h).await.unwrap();
            verify(&e, alert).await;
        }
        let tasks = || async {
            e.control
                .subject_tasks(&e.act(&auditor()), ORIGIN)
                .await
                .unwrap()
                .into_iter()
                .map(|t| t.task.person)
                .collect::<Vec<_>>()
        };
        assert_eq!(tasks().await.len(), 2, "{db:?}");
        e.control.apply(&e.act(&pros()), &id, ORIGIN).await.unwrap();
        e.control
            .grant_in_part(
                &e.act(&judge()),
                &id,
                "the second person is not shown to be involved",
                &mandat_law::Narrowing {
                    persons: Some(vec![kept.id.clone()]),
                    ..Default::default()
                },
                ORIGIN,
            )
            .await
            .unwrap();
        assert_eq!(tasks().await, std::slice::from_ref(&kept.id), "{db:?}");
        assert!(e.store.alert("A-left").await.is_err());
        let (entries, _) = e.store.audit_log().await.unwrap();
        let cert = entries
            .iter()
            .find(|x| x.action == "retention.erase")
            .expect("a certificate");
        assert_eq!(cert.details["subject_tasks"], 1);
        assert_eq!(cert.details["alerts"][0], "A-left");
    }
}

/// Tasks made before one task per person (one per alert, `S-<alert>`) are merged when the store
/// opens: one task of the person with both identifications and both deferrals, the later one
/// current, and still open because one of them was never notified. Merged once, and audited. On
/// SQLite and PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_from_before_one_task_per_person_are_merged_once() {
    for db in databases() {
        let e = env(db).await;
        let permit = granted(&e).await;
        let person = person_of(&e, &permit).await.0;
        let pool = mandat_testkit::raw_pool(&e.url).await;
        for (alert, days, done) in [("A-1", 40, true), ("A-2", 50, false)] {
            let completed = done.then_some(t0().0 + 1);
            let doc = serde_json::json!({
                "id": format!("S-{alert}"), "permit": permit, "person": person, "alert": alert,
                "created_at": t0().0, "due_at": t0().0 + 30 * DAY,
                "deferrals": [{"at": t0().0, "by": "officer", "reason": "sekretess", "until": t0().0 + days * DAY}],
                "completed_at": completed, "completed_by": done.then_some("officer"),
            });
            sqlx::query("INSERT INTO subject_notifications (id, permit_id, due_at, completed_at, doc) VALUES ($1, $2, $3, $4, $5)")
                .bind(format!("S-{alert}"))
                .bind(permit.clone())
                .bind(t0().0 + 30 * DAY)
                .bind(completed)
                .bind(doc.to_string())
                .execute(&pool)
                .await
                .unwrap();
        }
        assert_eq!(
            e.store.merge_legacy_subject_tasks().await.unwrap(),
            2,
            "{db:?}"
        );
        assert_eq!(
            e.store.merge_legacy_subject_tasks().await.unwrap(),
            0,
            "once"
        );
        let tasks = e
            .control
            .subject_tasks(&e.act(&auditor()), ORIGIN)
            .await
            .unwrap();
        assert_eq!(tasks.len(), 1, "{db:?}: {tasks:?}");
        let v = &tasks[0];
        assert_eq!(v.task.id, mandat_law::subject::task_id(&permit, &person));
        assert_eq!(v.task.alerts, ["A-1", "A-2"]);
        assert_eq!(v.task.deferrals.len(), 2);
        assert_eq!(v.due_at, Timestamp(t0().0 + 50 * DAY));
        assert_eq!(v.closed, None, "one identification was never notified");
        let log = e.control.audit_log(&e.act(&auditor())).await.unwrap();
        let m = log
            .iter()
            .find(|x| x.action == "subject.merged")
            .expect("audited");
        assert_eq!(m.details["from"], serde_json::json!(["S-A-1", "S-A-2"]));
    }
}
