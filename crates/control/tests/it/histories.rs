//! Property test on the real store (SQLite): random histories of drafts, enrolments, applications,
//! urgent starts, decisions, stops, deadlines and clock moves. After every step, no template reaches
//! the engine outside its permit's cameras, period and status, and after a refusal of urgent use (or
//! a lapsed deadline) nothing linked to that use remains in the store.

use crate::common::*;
use mandat_control::ScopeSource;
use mandat_law::{Outcome, Purpose, Status};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Draft {
        urgent: bool,
        camera: u8,
        hours: i64,
    },
    Apply(u8),
    Urgent(u8),
    Decide {
        which: u8,
        grant: bool,
        by_applicant: bool,
    },
    Stop(u8),
    Advance(i64),
    Tick,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<bool>(), 1u8..3, 1i64..400).prop_map(|(urgent, camera, hours)| Op::Draft {
            urgent,
            camera,
            hours
        }),
        (0u8..4).prop_map(Op::Apply),
        (0u8..4).prop_map(Op::Urgent),
        (0u8..4, any::<bool>(), any::<bool>()).prop_map(|(which, grant, by_applicant)| {
            Op::Decide {
                which,
                grant,
                by_applicant,
            }
        }),
        (0u8..4).prop_map(Op::Stop),
        (1i64..30).prop_map(Op::Advance),
        Just(Op::Tick),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn histories_never_leak_a_template_and_purges_leave_nothing(ops in prop::collection::vec(op(), 1..25)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let e = env(Db::Sqlite).await;
            let mut ids: Vec<String> = Vec::new();
            let pick = |ids: &[String], i: u8| (!ids.is_empty()).then(|| ids[i as usize % ids.len()].clone());
            for op in ops {
                match op {
                    Op::Draft { urgent, camera, hours } => {
                        let purpose = if urgent { Purpose::ImminentThreat } else { Purpose::VictimSearch };
                        let mut app = application(purpose);
                        app.area.cameras = vec![format!("cam-{camera}")];
                        let now = e.control.now().unwrap();
                        app.period.start = now.plus_hours(-1);
                        app.period.end = now.plus_hours(hours);
                        let p = e.control.draft(&e.act(&officer()), app, ORIGIN).await.unwrap();
                        enrol_photo(&e, &officer(), &p.id).await;
                        put_team(&e, &officer(), &p.id).await;
                        ids.push(p.id);
                    }
                    Op::Apply(i) => if let Some(id) = pick(&ids, i) {
                        let _ = e.control.apply(&e.act(&officer()), &id, ORIGIN).await;
                    },
                    Op::Urgent(i) => if let Some(id) = pick(&ids, i) {
                        let _ = e.control.urgent_start(&e.act(&officer()), &id, "the threat is now", ORIGIN).await;
                    },
                    Op::Decide { which, grant, by_applicant } => if let Some(id) = pick(&ids, which) {
                        let who = if by_applicant { officer() } else { pros() };
                        let outcome = if grant { Outcome::Grant } else { Outcome::Refuse };
                        let r = e.control.decide(&e.act(&who), &id, outcome, "reasons", ORIGIN).await;
                        prop_assert!(!(by_applicant && r.is_ok()), "the applicant decided their own permit");
                    },
                    Op::Stop(i) => if let Some(id) = pick(&ids, i) {
                        let _ = e.control.stop(&e.act(&officer()), &id, "done", ORIGIN).await;
                    },
                    Op::Advance(h) => e.clock.advance(h * 3_600_000),
                    Op::Tick => { e.control.tick(ORIGIN).await.unwrap(); }
                }
                let now = e.control.now().unwrap();
                for cam in ["cam-1", "cam-2"] {
                    for entry in e.scope.watchlist(cam).list.entries {
                        let p = e.store.permit(&entry.permit).await.unwrap();
                        prop_assert!(p.is_active_at(now), "{} matched while not active", p.id);
                        prop_assert!(!p.purged);
                        prop_assert!(p.application.area.cameras.iter().any(|c| c == cam), "{} matched outside its area", p.id);
                        prop_assert!(matches!(p.status, Status::Granted | Status::UrgentActive | Status::UrgentApplied));
                        prop_assert_eq!(&entry.person, &p.application.persons[0].id);
                    }
                }
                for id in &ids {
                    let p = e.store.permit(id).await.unwrap();
                    let refused_urgent = p.status == Status::Refused && p.urgent.is_some();
                    let lapsed = p.status == Status::Stopped && p.stop.as_ref().is_some_and(|s| s.by.is_none());
                    if refused_urgent || lapsed {
                        prop_assert!(p.purged, "{id} not purged");
                        prop_assert_eq!(e.store.biometric_rows(id).await.unwrap(), 0, "{} left data behind", id);
                    }
                }
            }
            Ok(())
        })?;
    }
}
