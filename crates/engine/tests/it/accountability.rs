//! The accountability outputs of one real use, field by field. A prosecutor applies to the court to
//! locate a murder suspect among the ten watchlist persons on `cam-1`; the judge grants it; the live
//! engine replays the synthetic video and raises its alerts through the control plane; two reviewers
//! verify two alerts and one is rejected; the applicant defers one subject notification and records the
//! other as done; the use is stopped an hour after it began. The IMY register, the subject
//! notifications and the annual report must then say exactly that, and name nobody.

use std::time::Duration;

use crate::common::*;
use mandat_engine::{CameraSpec, SourceSpec};
use mandat_law::imy::{NotificationKind, UseEnd};
use mandat_law::permit::{AnnexII, Offence, Purpose, Stage};
use mandat_law::review::Verdict;
use mandat_law::{Actor, Authority, Outcome, Role};
use mandat_store::subjects::SubjectStep;
use mandat_video::Pace;

#[test]
fn the_imy_register_subject_tasks_and_annual_report_follow_a_real_use() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let clock = fake_clock(); // t0 + 1 h
    let w = rt.block_on(world(clock.clone()));
    let now = || mandat_law::Clock::now(clock.as_ref()).unwrap();
    let judge = Actor::new("judge", &[Role::Judge]);
    let revs = [
        Actor::new("rev1", &[Role::Reviewer]),
        Actor::new("rev2", &[Role::Reviewer]),
    ];
    let aud = Actor::new("aud", &[Role::Auditor]);
    for a in [&judge, &revs[0], &revs[1], &aud] {
        rt.block_on(w.provision(a)).unwrap();
    }

    // The use: applied for by the prosecutor, granted by the court.
    let mut app = application(Purpose::SuspectLocation, &["cam-1"], t0());
    // Described by hand (the prosecutor who drafts it confirms it), so its text is the
    // applicant's own and must not reach IMY.
    app.offence = Some(Offence {
        code: None,
        description: "mord (BrB 3:1), Sergels torg".into(),
        annex_ii: Some(AnnexII::Murder),
        max_penalty_years: 18,
        stage: Stage::Completed,
        suspicion: Some(mandat_law::grounds::Suspicion::ReasonablySuspected),
        confirmed_by: None,
    });
    let period = app.period;
    let permit = rt.block_on(drafted_by(&w, app, &pros()));
    rt.block_on(w.control.apply(&w.act(&pros()), &permit, ORIGIN))
        .unwrap();
    let granted_at = now();
    rt.block_on(
        w.control
            .decide(&w.act(&judge), &permit, Outcome::Grant, "necessary", ORIGIN),
    )
    .unwrap();

    // The engine raises what it finds.
    let (engine, _) = start(
        &w,
        &rt,
        vec![CameraSpec {
            id: "cam-1".into(),
            source: SourceSpec::File {
                path: data().join("synthetic/synthetic_watchlist.mp4"),
                pace: Pace::Fast,
                looping: false,
            },
        }],
        2,
    );
    assert!(engine.wait_done(Duration::from_secs(600)));
    engine.stop();
    let alerts = rt
        .block_on(w.control.alerts(&w.act(&aud), 0, 10_000, "t"))
        .unwrap();
    // The fake clock stands still, so hits of one person fold into one candidate.
    let hits = rt.block_on(stored_hits(&w));
    assert!(
        hits >= 13 && alerts.len() >= 3,
        "the engine found the watchlist: {hits} hits, {} candidates",
        alerts.len()
    );

    // Two verified by both reviewers; one rejected (one rejection closes an alert).
    for a in [&alerts[0], &alerts[1]] {
        for r in &revs {
            rt.block_on(
                w.control
                    .review(&w.act(r), &a.id, Verdict::Confirm, "", ORIGIN),
            )
            .unwrap();
        }
    }
    rt.block_on(w.control.review(
        &w.act(&revs[0]),
        &alerts[2].id,
        Verdict::Reject,
        "another person",
        ORIGIN,
    ))
    .unwrap();
    let verified_at = now();

    // Subject notifications: one task per person verified, for the permit's applicant.
    let tasks = rt
        .block_on(w.control.subject_tasks(&w.act(&aud), "t"))
        .unwrap();
    assert_eq!(tasks.len(), 2);
    for t in &tasks {
        assert_eq!(t.task.permit, permit);
        assert!(!t.overdue);
        assert_eq!(t.task.created_at, verified_at);
        // Due when the use ends: the end of the period, while it runs.
        assert_eq!(t.due_at, period.end);
        assert_eq!(t.task.alerts.len(), 1);
    }
    let mut ids: Vec<&str> = tasks.iter().map(|t| t.task.alerts[0].as_str()).collect();
    ids.sort();
    let mut want = vec![alerts[0].id.as_str(), alerts[1].id.as_str()];
    want.sort();
    assert_eq!(ids, want);
    for t in &tasks {
        let a = alerts.iter().find(|a| a.id == t.task.alerts[0]).unwrap();
        assert_eq!(t.task.person, a.person);
    }
    rt.block_on(w.control.subject_step(
        &w.act(&pros()),
        &tasks[0].task.id,
        SubjectStep::Defer {
            reason: "the investigation is ongoing".into(),
            until: verified_at.plus_hours(60 * 24),
        },
        ORIGIN,
    ))
    .unwrap();
    // Notifying waits for the end of the use.
    let notify = || {
        rt.block_on(w.control.subject_step(
            &w.act(&pros()),
            &tasks[1].task.id,
            SubjectStep::Complete,
            ORIGIN,
        ))
    };
    assert_eq!(notify().unwrap_err().code(), "subject_notification");

    // The use ends an hour after it began; then the other person is notified.
    clock.advance(3_600_000);
    let stopped_at = now();
    rt.block_on(
        w.control
            .stop(&w.act(&pros()), &permit, "suspect found", ORIGIN),
    )
    .unwrap();
    notify().unwrap();

    // IMY: one notification when the use started, one when it ended.
    let reg = rt
        .block_on(w.control.imy_notifications(&w.act(&aud)))
        .unwrap();
    let mine: Vec<_> = reg
        .iter()
        .filter(|r| r.notification.permit == permit)
        .collect();
    assert_eq!(mine.len(), 2);
    let (start_n, end_n) = (&mine[0].notification, &mine[1].notification);
    assert_eq!(start_n.kind, NotificationKind::UseStarted);
    assert_eq!(end_n.kind, NotificationKind::UseEnded);
    for n in [start_n, end_n] {
        assert_eq!(n.purpose, Purpose::SuspectLocation);
        assert_eq!(n.offence_category, Some(AnnexII::Murder));
        assert_eq!(n.offence_stage, Some(Stage::Completed));
        assert_eq!(n.decider, Authority::Court);
        assert_eq!(n.decision, Some(Outcome::Grant));
        assert_eq!(n.decided_at, Some(granted_at));
        assert_eq!(n.urgent_started_at, None);
        assert_eq!(n.period, period);
        assert_eq!(n.cameras, 1);
        assert_eq!(n.designated_persons, 10);
        assert_eq!(n.use_started_at, Some(granted_at));
        assert_eq!(n.statute, "Lag (2026:806)");
    }
    assert_eq!(start_n.use_ended_at, None);
    assert_eq!(end_n.use_ended_at, Some(stopped_at));
    assert_eq!(end_n.ended_by, Some(UseEnd::Stopped));
    // Counts and categories only: no name, no offence text, no photo.
    let json = serde_json::to_string(&mine).unwrap();
    for name in watchlist() {
        assert!(!json.contains(&name), "{name} in the register");
    }
    assert!(!json.contains("Sergels") && !json.contains(".jpg"));

    // The annual report, purpose by purpose.
    let rep = rt
        .block_on(w.control.annual_report(&w.act(&aud), 2026))
        .unwrap();
    let row = rep
        .rows
        .iter()
        .find(|r| r.purpose == "suspect_location")
        .unwrap();
    assert_eq!(
        (
            row.applications,
            row.grants,
            row.refusals,
            row.urgent_starts
        ),
        (1, 1, 0, 0)
    );
    assert_eq!(row.uses, 1);
    assert!(
        (row.camera_hours - 1.0).abs() < 1e-9,
        "{}",
        row.camera_hours
    );
    assert_eq!(row.persons_designated, 10);
    assert_eq!(row.alerts, alerts.len() as u64);
    assert_eq!(
        (row.alerts_verified, row.alerts_rejected, row.alerts_purged),
        (2, 1, 0)
    );
    assert_eq!(row.false_alert_rate, Some(1.0 / 3.0));
    assert_eq!((row.subjects_notified, row.subjects_deferred), (1, 1));
    assert_eq!(rep.total.alerts, alerts.len() as u64);
    assert!(
        mandat_reports::annual::pdf(&rep)
            .unwrap()
            .starts_with(b"%PDF")
    );
    assert!(mandat_reports::imy_pdf(mine[1]).starts_with(b"%PDF"));
}
