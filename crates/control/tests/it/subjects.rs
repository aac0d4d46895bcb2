//! Subject notifications (underrättelse) from the real review path: a verified identification under
//! a purpose the profile notifies becomes a task for the permit's applicant, deferrable with a
//! reason and completed once; auditors see every task and which are overdue; a purge takes the
//! tasks with everything else of the use. On SQLite and PostgreSQL.

use crate::common::*;
use mandat_law::review::Verdict;
use mandat_law::time::DAY;
use mandat_law::{Actor, Outcome, Purpose, Role};
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
async fn verified_identifications_become_notification_tasks_under_the_profile() {
    for db in databases() {
        let e = env(db).await;
        e.provision("rev2", &[Role::Reviewer]).await;
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

        let all = e
            .control
            .subject_tasks(&e.act(&auditor()), ORIGIN)
            .await
            .unwrap();
        assert_eq!(all.len(), 1, "{db:?}: only the suspect search is notified");
        let t = &all[0].task;
        assert_eq!(
            (
                t.id.as_str(),
                t.permit.as_str(),
                t.person.as_str(),
                t.alert.as_str()
            ),
            (
                "S-A-s",
                suspect.as_str(),
                person_of(&e, &suspect).await.0.as_str(),
                "A-s"
            )
        );
        assert_eq!(t.created_at, t0());
        assert_eq!(t.due_at.0, t0().0 + 30 * DAY);
        assert!(!all[0].overdue);
        // The applicant of the permit sees it; another applicant does not; reviewers may not look.
        assert_eq!(
            e.control
                .subject_tasks(&e.act(&pros()), ORIGIN)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(
            e.control
                .subject_tasks(&e.act(&officer()), ORIGIN)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            e.control
                .subject_tasks(&e.act(&reviewer()), ORIGIN)
                .await
                .is_err()
        );

        // Only the applicant defers, with a reason and a later date.
        let later = mandat_law::Timestamp(t0().0 + 90 * DAY);
        let defer = |reason: &str| SubjectStep::Defer {
            reason: reason.into(),
            until: later,
        };
        assert!(
            e.control
                .subject_step(&e.act(&officer()), "S-A-s", defer("x"), ORIGIN)
                .await
                .is_err()
        );
        assert!(
            e.control
                .subject_step(&e.act(&pros()), "S-A-s", defer(""), ORIGIN)
                .await
                .is_err()
        );
        let t = e
            .control
            .subject_step(
                &e.act(&pros()),
                "S-A-s",
                defer("förundersökningssekretess"),
                ORIGIN,
            )
            .await
            .unwrap();
        assert_eq!(t.due_at, later);
        assert_eq!(t.deferrals.len(), 1);
        // Past the new date it shows as overdue to the auditor and the applicant.
        e.clock.set(Some(mandat_law::Timestamp(later.0 + DAY)));
        assert!(
            e.control
                .subject_tasks(&e.act(&auditor()), ORIGIN)
                .await
                .unwrap()[0]
                .overdue
        );
        assert!(
            e.control
                .subject_tasks(&e.act(&pros()), ORIGIN)
                .await
                .unwrap()[0]
                .overdue
        );
        let t = e
            .control
            .subject_step(&e.act(&pros()), "S-A-s", SubjectStep::Complete, ORIGIN)
            .await
            .unwrap();
        assert_eq!(t.completed_by.as_deref(), Some("pros"));
        assert!(
            !e.control
                .subject_tasks(&e.act(&auditor()), ORIGIN)
                .await
                .unwrap()[0]
                .overdue
        );
        let log = e.control.audit_log(&e.act(&auditor())).await.unwrap();
        assert!(log.iter().any(|x| x.action == "subject.defer"));
        assert!(log.iter().any(|x| x.action == "subject.notified"));
        let text = serde_json::to_string(&log).unwrap();
        assert!(
            !text.contains("förundersökningssekretess"),
            "the reason stays out of the log"
        );

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
