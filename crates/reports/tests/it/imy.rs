//! The IMY register from a scenario through the real lawful core (control plane on SQLite): a
//! granted use and its stop, an urgent start and its refusal. Each notification is checked field by
//! field, the register steps by role, and the PDFs are rendered with pdftoppm and read back with
//! pdftotext.

use mandat_control::ControlError;
use mandat_law::imy::{NotificationKind, UseEnd};
use mandat_law::permit::Purpose;
use mandat_law::time::HOUR;
use mandat_law::{Authority, Outcome, Role};
use mandat_store::StoreError;
use mandat_store::imy::ImyStep;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_imy_register_follows_every_use_and_its_pdfs_render() {
    let s = scenario().await;
    let (c, clock, admin) = (&s.c, &s.clock, &s.admin);
    let (officer, pros) = (&s.officer, &s.pros);
    // A victim search, granted, starts at its period's start and is stopped a day later.
    let p = c
        .draft(officer, application(Purpose::VictimSearch), "t")
        .await
        .unwrap();
    s.enrol(officer, &p.id).await;
    c.apply(officer, &p.id, "t").await.unwrap();
    c.decide(pros, &p.id, Outcome::Grant, "ok", "t")
        .await
        .unwrap();
    let decided_at = t0().plus_hours(-2);
    c.tick("t").await.unwrap();
    assert!(
        c.imy_notifications(admin).await.unwrap().is_empty(),
        "not in use yet"
    );
    clock.set(Some(t0()));
    c.tick("t").await.unwrap();
    let reg = c.imy_notifications(admin).await.unwrap();
    assert_eq!(reg.len(), 1);
    let start = &reg[0];
    let n = &start.notification;
    assert_eq!(start.id, format!("N-{}-use_started", p.id));
    assert_eq!(start.created_at, t0());
    assert_eq!(n.kind, NotificationKind::UseStarted);
    assert_eq!(n.permit, p.id);
    assert_eq!(n.profile, "se-2026");
    assert_eq!(n.statute, "Lag (2026:806)");
    assert!(n.legal_basis.contains("5(4)") && n.legal_basis.contains("2026:815"));
    assert_eq!(n.purpose, Purpose::VictimSearch);
    assert_eq!((n.offence_category, n.offence_stage), (None, None));
    // The victim's category, as a category: nothing that says who.
    assert_eq!(
        (n.victim_category, n.threat_kind),
        (
            Some(mandat_law::grounds::VictimCategory::MissingPerson),
            None
        )
    );
    assert_eq!(n.decider, Authority::Prosecutor);
    assert_eq!(n.decision, Some(Outcome::Grant));
    assert_eq!(n.decided_at, Some(decided_at));
    assert_eq!(n.urgent_started_at, None);
    assert_eq!(n.period, application(Purpose::VictimSearch).period);
    assert_eq!(
        n.cameras, 3,
        "cam-1 by name, cam-2 and cam-3 in the polygon"
    );
    assert_eq!(n.polygon.as_ref().map(Vec::len), Some(4));
    assert_eq!(n.designated_persons, 2);
    assert_eq!(n.use_started_at, Some(t0()));
    assert_eq!((n.use_ended_at, n.ended_by), (None, None));
    assert_eq!((start.sent_at, start.acknowledged_at), (None, None));

    clock.set(Some(t0().plus_hours(24)));
    c.stop(officer, &p.id, "found", "t").await.unwrap();
    c.tick("t").await.unwrap();
    let reg = c.imy_notifications(admin).await.unwrap();
    assert_eq!(reg.len(), 2);
    let end = &reg[1].notification;
    assert_eq!(end.kind, NotificationKind::UseEnded);
    assert_eq!(end.use_started_at, Some(t0()));
    assert_eq!(end.use_ended_at, Some(t0().plus_hours(24)));
    assert_eq!(end.ended_by, Some(UseEnd::Stopped));

    // An urgent start is notified at once; its refusal purges the use but not the register.
    let u = c
        .draft(officer, application(Purpose::ImminentThreat), "t")
        .await
        .unwrap();
    s.enrol(officer, &u.id).await;
    clock.advance(HOUR);
    let urgent_at = t0().plus_hours(25);
    c.urgent_start(officer, &u.id, "the threat is now", "t")
        .await
        .unwrap();
    c.tick("t").await.unwrap();
    c.apply(officer, &u.id, "t").await.unwrap();
    clock.advance(HOUR);
    let (_, cert) = c
        .decide(pros, &u.id, Outcome::Refuse, "no", "t")
        .await
        .unwrap();
    assert!(cert.is_some());
    c.tick("t").await.unwrap();
    let reg = c.imy_notifications(admin).await.unwrap();
    let of_u: Vec<_> = reg
        .iter()
        .filter(|r| r.notification.permit == u.id)
        .collect();
    assert_eq!(of_u.len(), 2);
    assert_eq!(of_u[0].notification.urgent_started_at, Some(urgent_at));
    assert_eq!(of_u[0].notification.use_started_at, Some(urgent_at));
    assert_eq!(of_u[0].notification.decision, None);
    assert_eq!(of_u[1].notification.ended_by, Some(UseEnd::Refused));
    assert_eq!(of_u[1].notification.decision, Some(Outcome::Refuse));
    assert_eq!(
        of_u[1].notification.use_ended_at,
        Some(urgent_at.plus_hours(1))
    );

    // Nothing personal in the register.
    let json = serde_json::to_string(&reg).unwrap();
    for secret in ["Anna", "Bo Berg", "passregistret", "officer", "pros\""] {
        assert!(!json.contains(secret), "{secret} in the register");
    }
    // Nor the opaque ids of the persons and photos.
    let drafted = mandat_testkit::store(c).permit(&p.id).await.unwrap();
    for person in &drafted.application.persons {
        assert!(!json.contains(&person.id), "a person id in the register");
        assert!(
            !json.contains(&person.photos[0].id),
            "a photo id in the register"
        );
    }

    // Roles: auditors read, admins record; others neither.
    let imy = s.act(&actor("imy", Role::Auditor));
    assert_eq!(c.imy_notifications(&imy).await.unwrap().len(), 4);
    let op = s.act(&actor("op", Role::Operator));
    assert!(c.imy_notifications(&op).await.is_err());
    assert!(
        c.imy_step(&imy, &start.id, ImyStep::Sent, "t")
            .await
            .is_err(),
        "auditors do not send"
    );
    let early = c
        .imy_step(
            admin,
            &start.id,
            ImyStep::Acknowledged {
                reference: "DI-2026-1".into(),
            },
            "t",
        )
        .await
        .unwrap_err();
    assert!(
        matches!(early, ControlError::Store(StoreError::Invalid(_))),
        "{early}"
    );
    let sent = c
        .imy_step(admin, &start.id, ImyStep::Sent, "t")
        .await
        .unwrap();
    assert_eq!(sent.sent_at, Some(t0().plus_hours(26)));
    assert_eq!(sent.sent_by.as_deref(), Some("admin"));
    let acked = c
        .imy_step(
            admin,
            &start.id,
            ImyStep::Acknowledged {
                reference: "DI-2026-1".into(),
            },
            "t",
        )
        .await
        .unwrap();
    assert_eq!(acked.imy_reference.as_deref(), Some("DI-2026-1"));
    let again = c
        .imy_step(admin, &start.id, ImyStep::Sent, "t")
        .await
        .unwrap_err();
    assert!(
        matches!(again, ControlError::Store(StoreError::Conflict(_))),
        "{again}"
    );
    let log = c.audit_log(&imy).await.unwrap();
    for action in ["use.start", "use.end", "imy.sent", "imy.acknowledged"] {
        assert!(
            log.iter().any(|e| e.action == action),
            "{action} not logged"
        );
    }
    let use_start = log.iter().find(|e| e.action == "use.start").unwrap();
    assert_eq!(use_start.details["imy_notification"], start.id.as_str());

    // JSON and PDF exports.
    let exported: serde_json::Value =
        serde_json::from_str(&mandat_reports::imy_json(&acked)).unwrap();
    assert_eq!(exported["notification"]["cameras"], 3);
    assert_eq!(exported["imy_reference"], "DI-2026-1");
    let out = artifacts();
    for (name, rec) in [("imy-start", &acked), ("imy-refused-end", of_u[1])] {
        let pdf = mandat_reports::imy_pdf(rec);
        assert!(pdf.starts_with(b"%PDF-"));
        let path = out.join(format!("{name}.pdf"));
        std::fs::write(&path, &pdf).unwrap();
        let (img, text) = render(&path);
        assert_eq!((img.width(), img.height()), (414, 585), "A4 at 50 dpi");
        let dark = img.pixels().filter(|p| p.0[0] < 128).count();
        assert!(dark > 2_000, "the page has text ({dark} dark pixels)");
        assert!(text.contains("Underrättelse till IMY"), "{text}");
        assert!(text.contains(&rec.notification.permit), "{text}");
        assert!(text.contains("Kameror i området"), "{text}");
        assert!(!text.contains("Anna"), "{text}");
    }
    let (_, text) = render(&out.join("imy-refused-end.pdf"));
    assert!(
        text.contains("avslaget; allt som användningen gav raderat"),
        "{text}"
    );
}
