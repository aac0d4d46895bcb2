//! The scope function: (camera, instant) -> watchlist. The only door through which the engine learns
//! whom it may look for. It fails closed: an unknown instant, an unreadable store or a disabled camera
//! give an empty watchlist, and an empty watchlist means no detection runs at all.

use serde::{Deserialize, Serialize};

use crate::lifecycle::Permit;
use crate::norm::Normed;
use crate::partner::{Agreement, OwnerKind};
use crate::permit::{CameraId, LatLon, PermitId, PersonId};
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraInfo {
    pub id: CameraId,
    pub location: Option<LatLon>,
    pub enabled: bool,
    pub owner: OwnerKind,
    /// A partner camera's agreement: it is analysed only within its period.
    pub agreement: Option<Agreement>,
}

impl CameraInfo {
    /// Whether the camera may be analysed at `t` at all, whatever the permits: enabled, and a
    /// police camera or a partner's within its agreement (rule `partner_agreement`).
    pub fn usable_at(&self, t: Timestamp) -> bool {
        self.enabled && crate::partner::may_analyse(self.owner, self.agreement.as_ref(), t)
    }
}

/// One template the engine may match, tagged with its permit and threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchEntry<T> {
    pub permit: PermitId,
    pub person: PersonId,
    pub threshold: f32,
    pub template: T,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Watchlist<T> {
    pub at: Option<Timestamp>,
    pub entries: Vec<WatchEntry<T>>,
}

impl<T> Watchlist<T> {
    pub fn empty(at: Option<Timestamp>) -> Self {
        Self {
            at,
            entries: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The watchlist of `camera` at `now`, from a snapshot of permits and their templates.
///
/// `snapshot` is `Err` when the store could not be read: the result is then empty, as it is when
/// `now` is unknown or the camera is disabled. Only templates of persons designated in a permit that
/// is active at `now` and whose area covers the camera are returned, each with its own threshold
/// ([`crate::Application::threshold_for`]).
pub fn watchlist<'a, T: Clone + Normed + 'a, E>(
    camera: &CameraInfo,
    now: Option<Timestamp>,
    snapshot: Result<impl IntoIterator<Item = (&'a Permit, &'a [(PersonId, T)])>, E>,
) -> Watchlist<T> {
    let (Some(t), Ok(snapshot)) = (now, snapshot) else {
        return Watchlist::empty(now);
    };
    if !camera.usable_at(t) {
        return Watchlist::empty(now);
    }
    let mut entries = Vec::new();
    for (permit, templates) in snapshot {
        if permit.purged || !permit.is_active_at(t) || !permit.application.area.covers(&camera.id) {
            continue;
        }
        let designated = &permit.application.persons;
        // A threshold derived from a target holds for the templates it was derived for: more
        // templates than that (a permit drafted before photos were counted) match nothing.
        if let Some(t) = &permit.application.target {
            let derived_for = if t.templates == 0 {
                t.watchlist
            } else {
                t.templates
            };
            let held = templates
                .iter()
                .filter(|(p, _)| designated.iter().any(|d| &d.id == p))
                .count();
            if held > derived_for as usize {
                continue;
            }
        }
        for (person, template) in templates {
            // Only persons named in the permit, never anything else the store may hold.
            // With per-template thresholds, a template without its norm is not matched.
            if designated.iter().any(|p| &p.id == person)
                && let Some(threshold) = permit.application.threshold_for(template.template_norm())
            {
                entries.push(WatchEntry {
                    permit: permit.id.clone(),
                    person: person.clone(),
                    threshold,
                    template: template.clone(),
                });
            }
        }
    }
    Watchlist { at: now, entries }
}

/// Whether `camera` is in demand over `[from, until]`: some permit could give it a non-empty
/// watchlist at some instant of that span. Only such cameras are connected at all; the span's end
/// is a pre-warm margin, so a camera is up when its permit starts. It needs permits and camera ids
/// only, never a template, and like [`watchlist`] it is false for a disabled camera.
pub fn in_demand<'a>(
    camera: &CameraInfo,
    from: Timestamp,
    until: Timestamp,
    permits: impl IntoIterator<Item = &'a Permit>,
) -> bool {
    if !camera.enabled {
        return false;
    }
    // A partner camera's agreement narrows each permit's window (rule `partner_agreement`).
    let agreement = if camera.owner.is_partner() {
        match camera.agreement.as_ref().filter(|a| a.check().is_ok()) {
            Some(a) => Some(a.period),
            None => return false,
        }
    } else {
        None
    };
    permits.into_iter().any(|p| {
        !p.purged
            && p.application.area.covers(&camera.id)
            && p.active_window().is_some_and(|(start, end)| {
                let (start, end) = match agreement {
                    Some(a) => (start.max(a.start), end.min(a.end)),
                    None => (start, end),
                };
                start < end && start <= until && from < end
            })
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::lifecycle::tests::{application, t0};
    use crate::lifecycle::{Effect, Outcome};
    use crate::permit::Purpose;
    use crate::profile::SWEDEN;
    use crate::roles::{Actor, Role};
    use crate::time::{HOUR, MINUTE};

    // The tests' templates are plain numbers without a norm.
    impl Normed for u8 {
        fn template_norm(&self) -> Option<&crate::norm::TemplateNorm> {
            None
        }
    }
    impl Normed for u32 {
        fn template_norm(&self) -> Option<&crate::norm::TemplateNorm> {
            None
        }
    }

    fn cam(id: &str, loc: Option<LatLon>) -> CameraInfo {
        CameraInfo {
            id: id.into(),
            location: loc,
            enabled: true,
            owner: OwnerKind::Police,
            agreement: None,
        }
    }

    fn granted(purpose: Purpose) -> Permit {
        let police = Actor::new("officer", &[Role::Applicant]);
        let pros = Actor::new("prosecutor", &[Role::Prosecutor]);
        let judge = Actor::new("judge", &[Role::Judge]);
        let applicant = if purpose == Purpose::SuspectLocation {
            &pros
        } else {
            &police
        };
        let decider = if purpose == Purpose::SuspectLocation {
            &judge
        } else {
            &pros
        };
        let mut p =
            Permit::draft("1".into(), &SWEDEN, application(purpose), applicant, t0()).unwrap();
        crate::lifecycle::name_decider(&mut p, decider);
        p.apply(applicant, &SWEDEN, t0()).unwrap();
        p.decide(decider, &SWEDEN, Outcome::Grant, "ok", t0())
            .unwrap();
        p
    }

    #[test]
    fn only_active_covered_designated_templates() {
        let p = granted(Purpose::VictimSearch);
        let templates = vec![("p1".to_string(), 1u8), ("stranger".to_string(), 2u8)];
        let snap = || Ok::<_, ()>(vec![(&p, templates.as_slice())]);
        let w = watchlist(&cam("cam-1", None), Some(t0()), snap());
        assert_eq!(w.entries.len(), 1);
        assert_eq!(
            (w.entries[0].person.as_str(), w.entries[0].template),
            ("p1", 1)
        );
        assert_eq!(w.entries[0].threshold, 0.4);
        assert!(watchlist(&cam("cam-2", None), Some(t0()), snap()).is_empty());
        assert!(watchlist(&cam("cam-1", None), Some(t0().plus_millis(-1)), snap()).is_empty());
        assert!(watchlist(&cam("cam-1", None), Some(t0().plus_hours(72)), snap()).is_empty());
    }

    #[derive(Clone, Debug, PartialEq)]
    struct Normalised(Option<crate::norm::TemplateNorm>);

    impl Normed for Normalised {
        fn template_norm(&self) -> Option<&crate::norm::TemplateNorm> {
            self.0.as_ref()
        }
    }

    #[test]
    fn per_template_thresholds_come_from_each_templates_norm_against_the_permits_cohort() {
        use crate::norm::{Norm, TemplateNorm};
        let mut p = granted(Purpose::VictimSearch);
        p.application.target = Some(crate::permit::Target {
            fpir: 1e-4,
            watchlist: 2,
            templates: 6,
            calibration: "v1".into(),
            z: Some(0.5),
            cohort: Some("c1".into()),
            floor: Some(0.44),
        });
        p.application.persons.push(crate::permit::DesignatedPerson {
            id: "p2".into(),
            ..p.application.persons[0].clone()
        });
        let norm = |cohort: &str, top: f32, mean: f32| {
            Normalised(Some(TemplateNorm {
                cohort: cohort.into(),
                norm: Norm { top, mean },
            }))
        };
        let templates = vec![
            // A dense template: near strangers, a strict threshold (0.5 + 0.5 · 0.4 = 0.7).
            ("p1".to_string(), norm("c1", 0.5, 0.1)),
            // A sparse one: 0.3 + 0.5 · 0.3 = 0.45.
            ("p2".to_string(), norm("c1", 0.3, 0.0)),
            // Normalised against another cohort, or not at all: not matched (fail closed).
            ("p1".to_string(), norm("c0", 0.3, 0.0)),
            ("p2".to_string(), Normalised(None)),
            // A norm that would give no cosine in (0, 1): not matched.
            ("p1".to_string(), norm("c1", 0.95, 0.0)),
            // An outlier with few close strangers (0.2 + 0.5 · 0.2 = 0.3) is held to the floor.
            ("p2".to_string(), norm("c1", 0.2, 0.0)),
        ];
        let w = watchlist(
            &cam("cam-1", None),
            Some(t0()),
            Ok::<_, ()>(vec![(&p, templates.as_slice())]),
        );
        let got: Vec<(&str, f32)> = w
            .entries
            .iter()
            .map(|e| (e.person.as_str(), e.threshold))
            .collect();
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].0 == "p1" && (got[0].1 - 0.7).abs() < 1e-6, "{got:?}");
        assert!(
            got[1].0 == "p2" && (got[1].1 - 0.45).abs() < 1e-6,
            "{got:?}"
        );
        assert!(
            got[2].0 == "p2" && (got[2].1 - 0.44).abs() < 1e-6,
            "{got:?}"
        );
        // More templates than the threshold was derived for (a target from before photos were
        // counted: persons only) match nothing.
        for (templates_field, watchlist_field) in [(5, 2), (0, 2)] {
            let mut q = p.clone();
            let t = q.application.target.as_mut().unwrap();
            (t.templates, t.watchlist) = (templates_field, watchlist_field);
            let w = watchlist(
                &cam("cam-1", None),
                Some(t0()),
                Ok::<_, ()>(vec![(&q, templates.as_slice())]),
            );
            assert!(w.is_empty(), "derived for {templates_field}");
        }
        // Partly set per-template fields (an edited record) match nothing, not the global one.
        let run = |p: &Permit| {
            watchlist(
                &cam("cam-1", None),
                Some(t0()),
                Ok::<_, ()>(vec![(p, templates.as_slice())]),
            )
        };
        for k in 0..3 {
            let mut partial = p.clone();
            let t = partial.application.target.as_mut().unwrap();
            match k {
                0 => t.z = None,
                1 => t.cohort = None,
                _ => t.floor = None,
            }
            assert!(run(&partial).is_empty(), "{k}");
        }
        // A target without a per-template table keeps the permit's one threshold for all.
        let t = p.application.target.as_mut().unwrap();
        (t.z, t.cohort, t.floor) = (None, None, None);
        let w = run(&p);
        assert_eq!(w.entries.len(), 6);
        assert!(w.entries.iter().all(|e| e.threshold == 0.4));
    }

    #[test]
    fn a_camera_is_in_demand_while_a_permit_covers_it_or_is_about_to() {
        let mut p = granted(Purpose::VictimSearch);
        let start = p.application.period.start;
        let end = p.application.period.end;
        let minute = start.plus_millis(MINUTE);
        let c = cam("cam-1", None);
        assert!(in_demand(&c, start, minute, [&p]));
        // A minute ahead: connected before the period starts, so the first frame is analysed.
        assert!(in_demand(&c, start.plus_millis(-MINUTE), start, [&p]));
        assert!(!in_demand(
            &c,
            start.plus_millis(-2 * MINUTE),
            start.plus_millis(-MINUTE - 1),
            [&p]
        ));
        assert!(!in_demand(&c, end, end.plus_millis(MINUTE), [&p]), "ended");
        assert!(
            !in_demand(&cam("cam-2", None), start, minute, [&p]),
            "not covered"
        );
        let mut off = c.clone();
        off.enabled = false;
        assert!(!in_demand(&off, start, minute, [&p]), "disabled");
        p.status = crate::lifecycle::Status::Stopped;
        assert!(!in_demand(&c, start, minute, [&p]), "stopped");
        p.status = crate::lifecycle::Status::Granted;
        p.purged = true;
        assert!(!in_demand(&c, start, minute, [&p]), "purged");
    }

    #[test]
    fn a_partner_camera_is_matched_and_connected_only_within_its_agreement() {
        let p = granted(Purpose::VictimSearch);
        let templates = vec![("p1".to_string(), 1u8)];
        let snap = || Ok::<_, ()>(vec![(&p, templates.as_slice())]);
        let (start, end) = (p.application.period.start, p.application.period.end);
        let mid = start.plus_hours(1);
        let mut c = cam("cam-1", None);
        c.owner = OwnerKind::Municipality;
        assert!(watchlist(&c, Some(mid), snap()).is_empty(), "no agreement");
        assert!(!in_demand(&c, start, mid, [&p]), "no agreement");
        c.agreement = Some(Agreement {
            basis: "avtal".into(),
            reference: "KS 1".into(),
            period: crate::permit::Period { start: mid, end },
            contact: "trygghetscentralen".into(),
        });
        assert!(watchlist(&c, Some(start), snap()).is_empty(), "before it");
        assert!(!in_demand(&c, start, start.plus_millis(MINUTE), [&p]));
        assert_eq!(watchlist(&c, Some(mid), snap()).entries.len(), 1);
        assert!(in_demand(&c, mid.plus_millis(-MINUTE), mid, [&p]));
        // Ended: an agreement that ended mid-permit stops the camera even though the permit runs.
        c.agreement.as_mut().unwrap().period.end = mid.plus_hours(1);
        assert!(watchlist(&c, Some(mid.plus_hours(1)), snap()).is_empty());
        assert!(!in_demand(&c, mid.plus_hours(1), mid.plus_hours(2), [&p]));
    }

    #[test]
    fn fails_closed() {
        let p = granted(Purpose::VictimSearch);
        let templates = vec![("p1".to_string(), 1u8)];
        let snap = || Ok::<_, ()>(vec![(&p, templates.as_slice())]);
        assert!(
            watchlist(&cam("cam-1", None), None, snap()).is_empty(),
            "unknown time"
        );
        type Snapshot<'a> = Vec<(&'a Permit, &'a [(String, u8)])>;
        let err: Result<Snapshot, &str> = Err("database locked");
        assert!(
            watchlist(&cam("cam-1", None), Some(t0()), err).is_empty(),
            "unreadable store"
        );
        let mut off = cam("cam-1", None);
        off.enabled = false;
        assert!(
            watchlist(&off, Some(t0()), snap()).is_empty(),
            "disabled camera"
        );
    }

    #[test]
    fn only_the_cameras_named_are_covered_never_the_polygon() {
        let mut p = granted(Purpose::VictimSearch);
        p.application.area.cameras = vec!["x".into()];
        // A square around Sergels torg, Stockholm.
        p.application.area.polygon = Some(vec![
            (59.330, 18.060),
            (59.330, 18.070),
            (59.336, 18.070),
            (59.336, 18.060),
        ]);
        let templates = vec![("p1".to_string(), 1u8)];
        let snap = || Ok::<_, ()>(vec![(&p, templates.as_slice())]);
        assert_eq!(
            watchlist(&cam("x", Some((59.332, 18.064))), Some(t0()), snap())
                .entries
                .len(),
            1
        );
        // Inside the polygon but not named: a camera added after the decision is not analysed.
        let later = cam("later", Some((59.333, 18.065)));
        assert!(p.application.area.polygon_holds(later.location));
        assert!(watchlist(&later, Some(t0()), snap()).is_empty());
        assert!(!p.application.area.polygon_holds(Some((59.340, 18.064))));
        assert!(!p.application.area.polygon_holds(None));
    }

    // ---- Property test: random histories never leak a template out of scope. ----

    /// A minimal in-memory store: permits, templates, alerts and photos per permit. Purging deletes
    /// everything of the permit, as the real store must.
    #[derive(Default)]
    struct Store {
        permits: BTreeMap<String, Permit>,
        templates: BTreeMap<String, Vec<(String, u32)>>,
        alerts: BTreeMap<String, u32>,
        photos: BTreeMap<String, u32>,
    }

    impl Store {
        fn apply(&mut self, id: &str, e: Effect) {
            if let Effect::Purge { .. } = e {
                self.templates.remove(id);
                self.alerts.remove(id);
                self.photos.remove(id);
                if let Some(p) = self.permits.get_mut(id) {
                    p.purged = true;
                }
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Draft { purpose: u8, camera: u8, hours: i64 },
        Apply(u8),
        HandOver(u8),
        Urgent(u8),
        Decide(u8, bool, bool),
        Stop(u8),
        Alert(u8),
        Advance(i64),
        Tick,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..3, 0u8..3, 1i64..800).prop_map(|(u, c, h)| Op::Draft {
                purpose: u,
                camera: c,
                hours: h
            }),
            (0u8..6).prop_map(Op::Apply),
            (0u8..6).prop_map(Op::HandOver),
            (0u8..6).prop_map(Op::Urgent),
            (0u8..6, any::<bool>(), any::<bool>()).prop_map(|(i, g, self_decide)| Op::Decide(
                i,
                g,
                self_decide
            )),
            (0u8..6).prop_map(Op::Stop),
            (0u8..6).prop_map(Op::Alert),
            (-2 * HOUR..30 * HOUR).prop_map(Op::Advance),
            Just(Op::Tick),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn no_template_outside_scope_and_refusal_leaves_nothing(ops in prop::collection::vec(op(), 1..40)) {
            let police = Actor::new("officer", &[Role::Applicant]);
            let pros = Actor::new("prosecutor", &[Role::Prosecutor]);
            // Suspect searches: the police may start them urgently and hand them to the
            // prosecutor who files them to the court.
            let filer = Actor::new("prosecutor2", &[Role::Prosecutor]);
            let judge = Actor::new("judge", &[Role::Judge]);
            let court = |p: &Permit| p.application.purpose == Purpose::SuspectLocation;
            let mut store = Store::default();
            let mut now = t0();
            let mut refused_urgent: Vec<String> = Vec::new();
            let id_of = |i: u8, s: &Store| s.permits.keys().nth(i as usize % s.permits.len().max(1)).cloned();
            for op in ops {
                match op {
                    Op::Draft { purpose, camera, hours } => {
                        let purpose = [Purpose::ImminentThreat, Purpose::VictimSearch, Purpose::SuspectLocation][purpose as usize];
                        let mut a = application(purpose);
                        a.area.cameras = vec![format!("cam-{camera}")];
                        a.period.start = now.plus_millis(-HOUR);
                        a.period.end = a.period.start.plus_hours(hours);
                        let id = format!("p{:03}", store.permits.len());
                        if let Ok(mut p) = Permit::draft(id.clone(), &SWEDEN, a, &police, now) {
                            let decider = if court(&p) { &judge } else { &pros };
                            crate::lifecycle::name_decider(&mut p, decider);
                            store.templates.insert(id.clone(), vec![("p1".into(), store.permits.len() as u32), ("other".into(), 999)]);
                            store.photos.insert(id.clone(), 1);
                            store.permits.insert(id, p);
                        }
                    }
                    Op::Apply(i) => if let Some(id) = id_of(i, &store) {
                        let p = store.permits.get_mut(&id).unwrap();
                        if p.apply(&police, &SWEDEN, now).is_ok() {
                            prop_assert!(!court(p), "the police filed to a court");
                        } else if p.apply(&filer, &SWEDEN, now).is_ok() {
                            prop_assert!(court(p) && p.handed_over.is_some());
                        }
                    },
                    Op::HandOver(i) => if let Some(id) = id_of(i, &store) {
                        let p = store.permits.get_mut(&id).unwrap();
                        let before = p.applicant.clone();
                        if p.hand_over(&police, &SWEDEN, &filer.user, &filer.roles, now).is_ok() {
                            prop_assert!(court(p) && before == police.user && p.applicant == filer.user);
                        }
                    },
                    Op::Urgent(i) => if let Some(id) = id_of(i, &store)
                        && let Ok(e) = store.permits.get_mut(&id).unwrap().urgent_start(&police, &SWEDEN, "the threat is now", now) {
                        store.apply(&id, e)
                    },
                    Op::Decide(i, grant, self_decide) => if let Some(id) = id_of(i, &store) {
                        let decider = if court(&store.permits[&id]) { &judge } else { &pros };
                        let who = if self_decide { &police } else { decider };
                        let outcome = if grant { Outcome::Grant } else { Outcome::Refuse };
                        let p = store.permits.get_mut(&id).unwrap();
                        let was_urgent = p.urgent.is_some();
                        if let Ok(e) = p.decide(who, &SWEDEN, outcome, "reasons", now) {
                            prop_assert!(!self_decide, "an applicant decided their own permit");
                            if !grant && was_urgent { refused_urgent.push(id.clone()); }
                            store.apply(&id, e);
                        }
                    },
                    Op::Stop(i) => if let Some(id) = id_of(i, &store)
                        && let Ok(e) = store.permits.get_mut(&id).unwrap().stop(&police, "done", now) {
                        store.apply(&id, e)
                    },
                    Op::Alert(i) => if let Some(id) = id_of(i, &store) {
                        let snapshot: Vec<(&Permit, &[(String, u32)])> = store.permits.iter()
                            .map(|(k, p)| (p, store.templates.get(k).map_or(&[][..], |v| v.as_slice()))).collect();
                        let cam_id = store.permits[&id].application.area.cameras[0].clone();
                        let w = watchlist(&cam(&cam_id, None), Some(now), Ok::<_, ()>(snapshot));
                        if w.entries.iter().any(|e| e.permit == id) { *store.alerts.entry(id).or_default() += 1; }
                    },
                    Op::Advance(ms) => now = now.plus_millis(ms.max(MINUTE)),
                    Op::Tick => {
                        let ids: Vec<String> = store.permits.keys().cloned().collect();
                        for id in ids {
                            let e = store.permits.get_mut(&id).unwrap().tick(now);
                            store.apply(&id, e);
                        }
                    }
                }
                // Invariant 1: every template returned, on any camera, is in scope.
                let snapshot: Vec<(&Permit, &[(String, u32)])> = store.permits.iter()
                    .map(|(k, p)| (p, store.templates.get(k).map_or(&[][..], |v| v.as_slice()))).collect();
                for c in 0..4u8 {
                    let camera = cam(&format!("cam-{c}"), None);
                    let w = watchlist(&camera, Some(now), Ok::<_, ()>(snapshot.clone()));
                    for e in &w.entries {
                        let p = &store.permits[&e.permit];
                        prop_assert!(p.application.area.cameras.contains(&camera.id));
                        prop_assert!(p.application.period.contains(now) || p.urgent.is_some());
                        prop_assert!(now < p.application.period.end);
                        prop_assert!(p.is_active_at(now) && !p.purged);
                        prop_assert_eq!(e.person.as_str(), "p1", "a non-designated template leaked");
                        if let Some(u) = &p.urgent {
                            prop_assert!(u.started_at <= now);
                            if p.status == crate::lifecycle::Status::UrgentActive { prop_assert!(now < u.deadline); }
                        }
                    }
                }
                // Invariant 3: the window a permit is active in is exactly where it allows
                // matching, and a camera with a watchlist now is in demand now; one a minute from
                // now is in demand over the pre-warm minute before.
                for p in store.permits.values() {
                    for t in [now.plus_millis(-1), now, now.plus_millis(1), now.plus_millis(MINUTE)] {
                        prop_assert_eq!(
                            p.is_active_at(t),
                            p.active_window().is_some_and(|(s, e)| s <= t && t < e)
                        );
                    }
                }
                for c in 0..4u8 {
                    let camera = cam(&format!("cam-{c}"), None);
                    let soon = now.plus_millis(MINUTE);
                    for (t, from) in [(now, now), (soon, now)] {
                        if !watchlist(&camera, Some(t), Ok::<_, ()>(snapshot.clone())).is_empty() {
                            prop_assert!(in_demand(&camera, from, soon, store.permits.values()));
                        }
                    }
                    // Demand needs a permit that covers the camera and is, or will be, active.
                    if in_demand(&camera, now, soon, store.permits.values()) {
                        prop_assert!(store.permits.values().any(|p| !p.purged
                            && p.application.area.cameras.contains(&camera.id)
                            && ((now.0..=soon.0).step_by(1000).any(|t| p.is_active_at(Timestamp(t))))));
                    }
                }
                // Invariant 4: a court purpose is filed and decided only by a prosecutor's
                // application, whoever started it.
                for p in store.permits.values().filter(|p| court(p)) {
                    if p.applied_at.is_some() {
                        prop_assert_eq!(p.applicant.as_str(), filer.user.as_str());
                    }
                    if let Some(d) = &p.decision {
                        prop_assert_eq!(d.by.as_str(), judge.user.as_str());
                    }
                }
                // Invariant 2: after a refusal of urgent use, nothing linked to it remains.
                for id in &refused_urgent {
                    prop_assert!(!store.templates.contains_key(id));
                    prop_assert!(!store.alerts.contains_key(id));
                    prop_assert!(!store.photos.contains_key(id));
                }
            }
        }
    }
}
