//! The annual report from a scenario through the real lawful core: five permits over every path a
//! use can take (granted and stopped, granted and running, urgent and refused, urgent and lapsed,
//! refused), alerts raised through the engine's door into the control plane (`raise_alert`) and
//! reviewed by two officers, a subject notification deferred. Every figure is checked, and the CSV,
//! JSON and PDF (with its plotters charts) are read back.

use mandat_law::permit::Purpose;
use mandat_law::review::Verdict;
use mandat_law::{Outcome, Role, UseResult};
use mandat_store::alerts::NewAlert;
use mandat_store::subjects::SubjectStep;

use crate::common::*;

fn hit(id: &str, permit: &str, person: String, at: mandat_law::Timestamp) -> NewAlert {
    NewAlert {
        id: id.into(),
        permit: permit.into(),
        person,
        camera: "cam-1".into(),
        captured_at: at,
        frame_index: 1,
        score: 0.7,
        threshold: 0.4,
        watchlist_version: "v".repeat(64),
        crop_jpeg: b"\xFF\xD8crop".to_vec(),
        frame_jpeg: b"\xFF\xD8frame".to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_annual_report_counts_every_path_of_a_use() {
    let s = scenario().await;
    let (c, clock) = (&s.c, &s.clock);
    let (officer, pros) = (&s.officer, &s.pros);
    let judge = s.act(&actor("judge", Role::Judge));
    let (rev1, rev2) = (
        s.act(&actor("rev1", Role::Reviewer)),
        s.act(&actor("rev2", Role::Reviewer)),
    );
    let review = async |id: &str, v: Verdict| {
        for r in [&rev1, &rev2] {
            c.review(r, id, v, "checked", "t").await.unwrap();
            if v == Verdict::Reject {
                break;
            }
        }
    };
    let now = || clock_now(clock);

    // 1. A victim search (prosecutor decides): granted, used for 24 h on 3 cameras, stopped.
    let victim = c
        .draft(officer, application(Purpose::VictimSearch), "t")
        .await
        .unwrap()
        .id;
    s.enrol(officer, &victim).await;
    c.apply(officer, &victim, "t").await.unwrap();
    c.decide(pros, &victim, Outcome::Grant, "ok", "t")
        .await
        .unwrap();
    // 2. A suspect search (court decides, on the prosecutor's application): granted, still running.
    let suspect = c
        .draft(pros, application(Purpose::SuspectLocation), "t")
        .await
        .unwrap()
        .id;
    s.enrol(pros, &suspect).await;
    c.apply(pros, &suspect, "t").await.unwrap();
    c.decide(&judge, &suspect, Outcome::Grant, "ok", "t")
        .await
        .unwrap();
    // 3. A sentence enforcement application, refused.
    let refused = c
        .draft(officer, application(Purpose::SentenceEnforcement), "t")
        .await
        .unwrap()
        .id;
    s.enrol(officer, &refused).await;
    c.apply(officer, &refused, "t").await.unwrap();
    c.decide(pros, &refused, Outcome::Refuse, "not proportionate", "t")
        .await
        .unwrap();

    clock.set(Some(t0()));
    c.tick("t").await.unwrap();
    // Alerts: victim search 2 verified, 1 rejected; suspect search 1 verified, 1 left to expire.
    for (id, permit) in [
        ("A1", &victim),
        ("A2", &victim),
        ("A3", &victim),
        ("B1", &suspect),
        ("B2", &suspect),
    ] {
        // Seen apart: separate candidates, not sightings of one.
        clock.advance(mandat_store::alerts::FOLD_WINDOW_MS + 1);
        c.raise_alert(hit(id, permit, s.person(permit).await, now()))
            .await
            .unwrap();
    }
    review("A1", Verdict::Confirm).await;
    review("A2", Verdict::Confirm).await;
    review("A3", Verdict::Reject).await;
    review("B1", Verdict::Confirm).await;
    clock.set(Some(t0().plus_hours(1)));
    c.tick("t").await.unwrap(); // B2 expires unreviewed
    // The suspect found through B1 is notified later: the prosecutor defers it once, then asks
    // not to notify at all, and the court that granted agrees.
    let task = mandat_law::subject::task_id(&suspect, &s.person(&suspect).await);
    c.subject_step(
        pros,
        &task,
        SubjectStep::Defer {
            reason: "sekretess".into(),
            until: t0().plus_hours(24 * 60),
        },
        "t",
    )
    .await
    .unwrap();
    let reasons = "personen har avlidit".to_string();
    c.subject_step(pros, &task, SubjectStep::RequestWaiver { reasons }, "t")
        .await
        .unwrap();
    let (approve, reasons) = (true, "styrkt genom dödsbevis".to_string());
    let request_at = c.subject_tasks(&judge, "t").await.unwrap()[0]
        .pending_at
        .unwrap();
    c.subject_step(
        &judge,
        &task,
        SubjectStep::DecideWaiver {
            approve,
            reasons,
            request_at,
        },
        "t",
    )
    .await
    .unwrap();
    clock.set(Some(t0().plus_hours(24)));
    c.stop(officer, &victim, "found", "t").await.unwrap();
    c.tick("t").await.unwrap();
    // What the victim search led to: its applicant records it once the use has ended.
    let outcome = |who, id, results: &'static [UseResult]| c.record_outcome(who, id, results, "t");
    let refused_with = |e: mandat_control::ControlError| e.to_string();
    let located = &[UseResult::VictimFound, UseResult::PersonLocated];
    // The running suspect search (the prosecutor applied) has no outcome yet; the prosecutor is
    // not the victim search's applicant; `nothing` goes with no result; an empty list says nothing.
    let e = refused_with(outcome(pros, &suspect, located).await.unwrap_err());
    assert!(e.contains("once its use has ended"), "{e}");
    let e = refused_with(outcome(pros, &victim, located).await.unwrap_err());
    assert!(e.contains("only its applicant"), "{e}");
    let e = refused_with(
        outcome(officer, &victim, &[UseResult::Nothing, UseResult::Arrested])
            .await
            .unwrap_err(),
    );
    assert!(e.contains("cannot be recorded together"), "{e}");
    assert!(outcome(officer, &victim, &[]).await.is_err());
    // A first record, then a correction: the permit keeps the last, the log both.
    outcome(officer, &victim, &[UseResult::Nothing])
        .await
        .unwrap();
    let p = outcome(officer, &victim, located).await.unwrap();
    let o = p.use_outcome.unwrap();
    assert_eq!(
        o.results,
        vec![UseResult::PersonLocated, UseResult::VictimFound],
        "sorted"
    );
    assert_eq!(o.by.as_str(), "officer");
    let recorded: Vec<serde_json::Value> = c
        .audit_log(&s.act(&actor("imy", Role::Auditor)))
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "permit.outcome")
        .map(|e| e.details["outcome"].clone())
        .collect();
    assert_eq!(
        recorded,
        vec![
            serde_json::json!(["nothing"]),
            serde_json::json!(["person_located", "victim_found"])
        ]
    );

    // 4. An imminent threat, urgent start, one alert, refused: purged.
    let urgent = c
        .draft(officer, application(Purpose::ImminentThreat), "t")
        .await
        .unwrap()
        .id;
    s.enrol(officer, &urgent).await;
    c.urgent_start(officer, &urgent, "the threat is now", "t")
        .await
        .unwrap();
    c.tick("t").await.unwrap();
    c.raise_alert(hit("C1", &urgent, s.person(&urgent).await, now()))
        .await
        .unwrap();
    // The application follows 3 hours after the urgent start.
    clock.set(Some(t0().plus_hours(27)));
    c.apply(officer, &urgent, "t").await.unwrap();
    c.decide(pros, &urgent, Outcome::Refuse, "no threat", "t")
        .await
        .unwrap();
    c.tick("t").await.unwrap();
    // 5. Another urgent start, no application within 24 h: stopped and purged by mandat.
    let lapsed = c
        .draft(officer, application(Purpose::ImminentThreat), "t")
        .await
        .unwrap()
        .id;
    s.enrol(officer, &lapsed).await;
    c.urgent_start(officer, &lapsed, "the threat is now", "t")
        .await
        .unwrap();
    c.tick("t").await.unwrap();
    clock.set(Some(t0().plus_hours(52)));
    c.tick("t").await.unwrap();

    let auditor = s.act(&actor("imy", Role::Auditor));
    assert!(
        c.annual_report(&s.act(&actor("op", Role::Operator)), 2026)
            .await
            .is_err()
    );
    assert!(c.annual_report(&auditor, 1999).await.is_err());
    let r = c.annual_report(&auditor, 2026).await.unwrap();
    assert_eq!(r.year, 2026);
    let row = |p: &str| r.rows.iter().find(|x| x.purpose == p).unwrap();
    let v = row("victim_search");
    assert_eq!(
        (v.applications, v.grants, v.refusals, v.urgent_starts),
        (1, 1, 0, 0)
    );
    assert_eq!((v.uses, v.persons_designated), (1, 2));
    assert!(
        (v.camera_hours - 72.0).abs() < 1e-9,
        "24 h on 3 cameras: {}",
        v.camera_hours
    );
    assert_eq!(
        (
            v.alerts,
            v.alerts_verified,
            v.alerts_rejected,
            v.alerts_expired
        ),
        (3, 2, 1, 0)
    );
    assert_eq!(v.false_alert_rate, Some(1.0 / 3.0));
    assert_eq!(
        (
            v.outcomes_recorded,
            v.outcome_person_located,
            v.outcome_victim_found,
            v.outcome_arrested,
            v.outcome_nothing
        ),
        (1, 1, 1, 0, 0),
        "the correction counts, not the first record"
    );
    let sl = row("suspect_location");
    assert_eq!((sl.applications, sl.grants, sl.uses), (1, 1, 1));
    // Still running at the report: 52 h so far, on 3 cameras.
    assert!(
        (sl.camera_hours - 156.0).abs() < 1e-9,
        "{}",
        sl.camera_hours
    );
    assert_eq!(
        (sl.alerts, sl.alerts_verified, sl.alerts_expired),
        (2, 1, 1)
    );
    assert_eq!(sl.false_alert_rate, Some(0.0));
    assert_eq!(
        (
            sl.subjects_notified,
            sl.subjects_deferred,
            sl.subjects_waived
        ),
        (0, 1, 1)
    );
    let it = row("imminent_threat");
    assert_eq!((it.applications, it.refusals, it.urgent_starts), (1, 1, 2));
    assert_eq!(
        (
            it.urgent_then_refused,
            it.urgent_lapsed,
            it.urgent_then_granted
        ),
        (1, 1, 0)
    );
    assert_eq!((it.uses, it.alerts, it.alerts_purged), (2, 1, 1));
    // Of the two urgent starts one was applied for, 3 hours after it began; the lapsed one is not
    // in the figure.
    assert_eq!(
        (
            it.urgent_hours_to_application_mean,
            it.urgent_hours_to_application_max
        ),
        (Some(3.0), Some(3.0))
    );
    assert_eq!(v.urgent_hours_to_application_mean, None, "no urgent start");
    assert_eq!(r.total.urgent_hours_to_application_max, Some(3.0));
    assert_eq!(it.false_alert_rate, None, "nothing reviewed");
    let se = row("sentence_enforcement");
    assert_eq!(
        (se.applications, se.grants, se.refusals, se.uses),
        (1, 0, 1, 0)
    );
    let t = &r.total;
    assert_eq!(
        (t.applications, t.grants, t.refusals, t.urgent_starts),
        (4, 2, 2, 2)
    );
    assert_eq!((t.alerts, t.alerts_verified, t.alerts_rejected), (6, 3, 1));
    assert_eq!(t.false_alert_rate, Some(0.25));
    assert_eq!(
        (t.outcomes_recorded, t.outcome_false_identification),
        (1, 0)
    );
    assert_eq!(
        c.annual_report(&auditor, 2025)
            .await
            .unwrap()
            .total
            .applications,
        0
    );

    // CSV, JSON, PDF.
    let csv = mandat_reports::annual::csv(&r);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 6, "header, four purposes, total");
    assert!(lines[0].starts_with("year,purpose,applications,grants,refusals"));
    assert!(
        lines[1].starts_with("2026,victim_search,1,1,0,0,"),
        "{}",
        lines[1]
    );
    assert!(lines[5].starts_with("2026,total,4,2,2,2,"), "{}", lines[5]);
    assert!(lines[5].contains(",0.2500,"), "{}", lines[5]);
    assert!(
        lines[0].ends_with(",outcomes_recorded,outcome_person_located,outcome_arrested,outcome_victim_found,outcome_nothing,outcome_false_identification,urgent_hours_to_application_mean,urgent_hours_to_application_max,counsel_opposed,appeals,overturned,subjects_waived"),
        "{}",
        lines[0]
    );
    // No court procedure under se-2026: no opinion, appeal or overturn.
    assert!(lines[1].ends_with(",1,1,0,1,0,0,,,0,0,0,0"), "{}", lines[1]);
    let threat = lines
        .iter()
        .find(|l| l.contains(",imminent_threat,"))
        .unwrap();
    assert!(threat.ends_with(",3.0,3.0,0,0,0,0"), "{threat}");
    let json: serde_json::Value = serde_json::to_value(&r).unwrap();
    assert_eq!(json["total"]["alerts_purged"], 1);
    let pdf = mandat_reports::annual::pdf(&r).unwrap();
    let path = artifacts().join("annual-2026.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let (img, text) = render(&path);
    assert!(text.contains("Årsrapport 2026"), "{text}");
    assert!(
        text.contains("Andel falsklarm") && text.contains("25.0 %"),
        "{text}"
    );
    assert!(
        text.contains("timmar till ansökan") && text.contains("3.0 / 3.0"),
        "{text}"
    );
    assert!(text.contains("Användningar med utfall"), "{text}");
    // The charts are drawn: many coloured pixels (bars) on page 1.
    let coloured = img.pixels().filter(|p| (60..200).contains(&p.0[0])).count();
    assert!(coloured > 3_000, "{coloured}");
    // Nothing personal.
    for secret in ["Anna", "Bo Berg", "mord", "sekretess"] {
        assert!(!text.contains(secret) && !csv.contains(secret), "{secret}");
    }
}

fn clock_now(clock: &mandat_law::time::FakeClock) -> mandat_law::Timestamp {
    use mandat_law::Clock;
    clock.now().unwrap()
}
