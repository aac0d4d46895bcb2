//! Placement: which worker runs which camera. A pure function of its inputs, free of I/O and of
//! time, so every control replica that runs it gets the same answer, and its properties are held
//! by tests (no worker over capacity, one worker per camera, labels respected, a camera moves only
//! when it must).
//!
//! Cameras move only when their worker is gone, draining, no longer eligible or over capacity, or
//! when no permit wants them any more: a worker that joins takes new cameras and moves none.
//! Where a camera goes is chosen by rendezvous hashing over the eligible workers with room, so the
//! choice changes little as workers come and go; workers at their fair share (the demand spread
//! over the live workers in proportion to their capacity) are passed over while another has room,
//! so six cameras on three equal workers land two on each (bounded-load consistent hashing). Only
//! new placements are balanced: a worker that returns empty takes new cameras, it takes none back.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

/// A worker as placement sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker {
    pub id: String,
    /// What it offers, such as `gpu` or `region:stockholm`.
    pub labels: BTreeSet<String>,
    /// Capacity units (a camera costs [`Demand::cost`] of them).
    pub capacity: u32,
    /// Renewing its lease: a worker that stopped renewing is gone.
    pub live: bool,
    /// Being drained (an upgrade, or disabled): it keeps nothing and takes nothing.
    pub draining: bool,
}

/// A camera some permit covers now or soon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Demand {
    pub camera: String,
    /// Labels its worker must offer.
    pub needs: BTreeSet<String>,
    pub cost: u32,
}

/// Why a camera leaves its worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// No permit wants the camera now or within the pre-warm margin, or it was disabled or
    /// removed.
    NoDemand,
    /// The worker stopped renewing its lease.
    WorkerGone,
    /// The worker is being drained or was disabled.
    Drained,
    /// The worker no longer offers what the camera needs.
    Ineligible,
    /// The worker has more cameras than its capacity.
    Overloaded,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NoDemand => "not-in-demand",
            Reason::WorkerGone => "lease-expired",
            Reason::Drained => "drained",
            Reason::Ineligible => "ineligible",
            Reason::Overloaded => "overloaded",
        }
    }
}

/// One change to the assignments, in the order to apply them: releases first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    Release {
        camera: String,
        worker: String,
        reason: Reason,
    },
    Assign {
        camera: String,
        worker: String,
    },
}

/// The plan, and the demanded cameras no worker can take now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub unplaced: Vec<String>,
}

/// Whether gone workers' cameras may be taken from them now. The caller says no during a recovery
/// grace (its own database connection came back less than a lease ago, so silence may be its
/// own); this function also says no when more than half of the workers look gone at once, which
/// points at the control side rather than at the workers.
pub fn may_expire(workers: &[Worker], in_recovery: bool) -> bool {
    let gone = workers.iter().filter(|w| !w.live).count();
    !in_recovery && gone * 2 <= workers.len()
}

/// The rendezvous weight of `camera` on `worker`: the highest eligible weight wins.
fn weight(camera: &str, worker: &str) -> u64 {
    let mut h = Sha256::new();
    h.update((camera.len() as u64).to_le_bytes());
    h.update(camera.as_bytes());
    h.update(worker.as_bytes());
    let d = h.finalize();
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

/// Changes that take `current` (camera → worker) to an assignment of `demand` over `workers`.
/// With `expire` false, cameras of gone workers stay where they are (see [`may_expire`]).
pub fn plan(
    demand: &[Demand],
    workers: &[Worker],
    current: &BTreeMap<String, String>,
    expire: bool,
) -> Plan {
    let by_id: BTreeMap<&str, &Worker> = workers.iter().map(|w| (w.id.as_str(), w)).collect();
    let wanted: BTreeMap<&str, &Demand> = demand.iter().map(|d| (d.camera.as_str(), d)).collect();
    let eligible = |w: &Worker, d: &Demand| d.needs.is_subset(&w.labels);
    let mut changes = Vec::new();
    let mut kept: BTreeMap<&str, &str> = BTreeMap::new();
    let mut load: BTreeMap<&str, u32> = BTreeMap::new();
    for (camera, worker) in current {
        let release = |reason| Change::Release {
            camera: camera.clone(),
            worker: worker.clone(),
            reason,
        };
        let Some(d) = wanted.get(camera.as_str()) else {
            changes.push(release(Reason::NoDemand));
            continue;
        };
        match by_id.get(worker.as_str()) {
            None => changes.push(release(Reason::WorkerGone)),
            Some(w) if !w.live && expire => changes.push(release(Reason::WorkerGone)),
            Some(w) if w.draining => changes.push(release(Reason::Drained)),
            Some(w) if !eligible(w, d) => changes.push(release(Reason::Ineligible)),
            Some(w) => {
                kept.insert(camera, &w.id);
                *load.entry(&w.id).or_default() += d.cost;
            }
        }
    }
    // Over capacity: the cameras that weigh least on the worker leave first.
    for w in workers {
        let mut mine: Vec<&str> = kept
            .iter()
            .filter(|(_, k)| **k == w.id)
            .map(|(c, _)| *c)
            .collect();
        mine.sort_by_key(|c| (weight(c, &w.id), *c));
        for c in mine {
            let l = load.get(w.id.as_str()).copied().unwrap_or(0);
            if l <= w.capacity {
                break;
            }
            kept.remove(c);
            *load.entry(&w.id).or_default() -= wanted[c].cost;
            changes.push(Change::Release {
                camera: c.to_string(),
                worker: w.id.clone(),
                reason: Reason::Overloaded,
            });
        }
    }
    // Each worker's fair share, by capacity: new cameras go to workers under theirs while one
    // is, so load stays even.
    let total: u64 = wanted.values().map(|d| u64::from(d.cost)).sum();
    let room: u64 = workers
        .iter()
        .filter(|w| w.live && !w.draining)
        .map(|w| u64::from(w.capacity))
        .sum();
    let fair = |w: &Worker| -> u32 {
        let share = (total * u64::from(w.capacity)).div_ceil(room.max(1));
        u32::try_from(share).unwrap_or(u32::MAX).min(w.capacity)
    };
    let mut unplaced = Vec::new();
    // In camera order, whatever order the caller listed them in: the plan is the same on every
    // replica.
    let mut order: Vec<&Demand> = wanted.values().copied().collect();
    order.sort_by(|a, b| a.camera.cmp(&b.camera));
    for d in order {
        if kept.contains_key(d.camera.as_str()) {
            continue;
        }
        let pick = |limit: &dyn Fn(&Worker) -> u32| {
            workers
                .iter()
                .filter(|w| w.live && !w.draining && eligible(w, d))
                .filter(|w| load.get(w.id.as_str()).copied().unwrap_or(0) + d.cost <= limit(w))
                .max_by_key(|w| (weight(&d.camera, &w.id), w.id.as_str()))
        };
        let choice = pick(&fair).or_else(|| pick(&|w| w.capacity));
        match choice {
            Some(w) => {
                *load.entry(&w.id).or_default() += d.cost;
                kept.insert(&d.camera, &w.id);
                changes.push(Change::Assign {
                    camera: d.camera.clone(),
                    worker: w.id.clone(),
                });
            }
            None => unplaced.push(d.camera.clone()),
        }
    }
    changes.sort();
    unplaced.sort();
    unplaced.dedup();
    Plan { changes, unplaced }
}

/// `current` with `plan`'s changes applied.
pub fn apply(current: &BTreeMap<String, String>, plan: &Plan) -> BTreeMap<String, String> {
    let mut next = current.clone();
    for c in &plan.changes {
        match c {
            Change::Release { camera, .. } => {
                next.remove(camera);
            }
            Change::Assign { camera, worker } => {
                next.insert(camera.clone(), worker.clone());
            }
        }
    }
    next
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn worker(id: &str, capacity: u32, labels: &[&str]) -> Worker {
        Worker {
            id: id.into(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            capacity,
            live: true,
            draining: false,
        }
    }

    fn cam(id: &str, needs: &[&str]) -> Demand {
        Demand {
            camera: id.into(),
            needs: needs.iter().map(|l| l.to_string()).collect(),
            cost: 1,
        }
    }

    #[test]
    fn cameras_leave_for_a_reason_and_a_joining_worker_moves_nothing() {
        let workers = vec![worker("w1", 10, &[]), worker("w2", 10, &["gpu"])];
        let demand = vec![cam("a", &[]), cam("b", &["gpu"]), cam("c", &[])];
        let first = plan(&demand, &workers, &BTreeMap::new(), true);
        let cur = apply(&BTreeMap::new(), &first);
        assert_eq!(cur["b"], "w2", "labels respected");
        assert_eq!(cur.len(), 3);
        // A fixpoint: planning again changes nothing.
        assert_eq!(plan(&demand, &workers, &cur, true), Plan::default());
        // A third worker joins: nothing moves.
        let mut more = workers.clone();
        more.push(worker("w3", 10, &["gpu"]));
        assert!(plan(&demand, &more, &cur, true).changes.is_empty());
        // "c" is no longer wanted; w2 is drained: its camera needs a GPU and none is left.
        let mut drained = workers.clone();
        drained[1].draining = true;
        let p = plan(&demand[..2], &drained, &cur, true);
        assert!(p.changes.contains(&Change::Release {
            camera: "c".into(),
            worker: cur["c"].clone(),
            reason: Reason::NoDemand
        }));
        assert!(p.changes.contains(&Change::Release {
            camera: "b".into(),
            worker: "w2".into(),
            reason: Reason::Drained
        }));
        assert_eq!(p.unplaced, ["b"]);
    }

    #[test]
    fn cameras_spread_evenly_and_a_gone_workers_cameras_spread_too() {
        let mut workers = vec![
            worker("w1", 10, &[]),
            worker("w2", 10, &[]),
            worker("w3", 10, &[]),
        ];
        let demand: Vec<Demand> = (1..=6).map(|i| cam(&format!("c{i}"), &[])).collect();
        let cur = apply(
            &BTreeMap::new(),
            &plan(&demand, &workers, &BTreeMap::new(), true),
        );
        let load =
            |cur: &BTreeMap<String, String>, w: &str| cur.values().filter(|x| *x == w).count();
        for w in ["w1", "w2", "w3"] {
            assert_eq!(load(&cur, w), 2, "{cur:?}");
        }
        workers[0].live = false;
        let next = apply(&cur, &plan(&demand, &workers, &cur, true));
        assert_eq!((load(&next, "w2"), load(&next, "w3")), (3, 3), "{next:?}");
        // By capacity: a worker twice the size takes up to twice the share (6 × 4/8 = 3).
        let workers = vec![
            worker("s1", 2, &[]),
            worker("s2", 2, &[]),
            worker("big", 4, &[]),
        ];
        let cur = apply(
            &BTreeMap::new(),
            &plan(&demand, &workers, &BTreeMap::new(), true),
        );
        assert_eq!(cur.len(), 6);
        assert!(
            load(&cur, "s1") <= 2 && load(&cur, "s2") <= 2 && load(&cur, "big") <= 3,
            "{cur:?}"
        );
        let demand: Vec<Demand> = (1..=8).map(|i| cam(&format!("c{i}"), &[])).collect();
        let cur = apply(
            &BTreeMap::new(),
            &plan(&demand, &workers, &BTreeMap::new(), true),
        );
        assert_eq!(
            (load(&cur, "s1"), load(&cur, "s2"), load(&cur, "big")),
            (2, 2, 4),
            "{cur:?}"
        );
    }

    #[test]
    fn gone_workers_keep_their_cameras_while_expiry_is_held_back() {
        let mut workers = vec![
            worker("w1", 10, &[]),
            worker("w2", 10, &[]),
            worker("w3", 10, &[]),
        ];
        let cur: BTreeMap<String, String> = [("a", "w1"), ("b", "w2"), ("c", "w3")]
            .into_iter()
            .map(|(c, w)| (c.to_string(), w.to_string()))
            .collect();
        let demand = vec![cam("a", &[]), cam("b", &[]), cam("c", &[])];
        workers[0].live = false;
        assert!(may_expire(&workers, false));
        assert!(!may_expire(&workers, true), "recovery grace");
        let p = plan(&demand, &workers, &cur, true);
        let next = apply(&cur, &p);
        assert_ne!(next["a"], "w1");
        assert_eq!((next["b"].as_str(), next["c"].as_str()), ("w2", "w3"));
        // Two of three gone at once: suspect the control side, move nothing.
        workers[1].live = false;
        assert!(!may_expire(&workers, false));
        assert!(plan(&demand, &workers, &cur, false).changes.is_empty());
    }

    fn arb_world() -> impl Strategy<Value = (Vec<Demand>, Vec<Worker>, BTreeMap<String, String>)> {
        let labels = prop::sample::subsequence(vec!["gpu", "north"], 0..=2);
        let workers = prop::collection::vec(
            (
                0u32..6,
                labels.clone(),
                prop::bool::weighted(0.8),
                prop::bool::weighted(0.1),
            ),
            1..6,
        );
        let demand = prop::collection::vec((labels, 1u32..3), 0..20);
        let current = prop::collection::vec((0usize..25, 0usize..7), 0..20);
        (workers, demand, current).prop_map(|(ws, ds, cur)| {
            let workers: Vec<Worker> = ws
                .into_iter()
                .enumerate()
                .map(|(i, (capacity, labels, live, draining))| Worker {
                    id: format!("w{i}"),
                    labels: labels.into_iter().map(str::to_string).collect(),
                    capacity,
                    live,
                    draining,
                })
                .collect();
            let demand: Vec<Demand> = ds
                .into_iter()
                .enumerate()
                .map(|(i, (needs, cost))| Demand {
                    camera: format!("c{i:02}"),
                    // Needs are a subset of one label so some cameras need nothing.
                    needs: needs.into_iter().take(i % 2).map(str::to_string).collect(),
                    cost,
                })
                .collect();
            // Current assignments may name cameras no longer wanted and workers that left.
            let current = cur
                .into_iter()
                .map(|(c, w)| (format!("c{c:02}"), format!("w{w}")))
                .collect();
            (demand, workers, current)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn placement_keeps_its_promises((demand, workers, current) in arb_world(), expire in any::<bool>()) {
            let p = plan(&demand, &workers, &current, expire);
            let next = apply(&current, &p);
            let wanted: BTreeMap<&str, &Demand> = demand.iter().map(|d| (d.camera.as_str(), d)).collect();
            // Only demanded cameras are held; each by one worker (a map), that offers its labels
            // and, when newly assigned, is live and not draining.
            for (c, w) in &next {
                let d = wanted.get(c.as_str());
                prop_assert!(d.is_some(), "{c} held without demand");
                let Some(worker) = workers.iter().find(|x| &x.id == w) else {
                    // Only a gone worker's camera kept while expiry is held back.
                    prop_assert!(!expire);
                    continue;
                };
                prop_assert!(d.unwrap().needs.is_subset(&worker.labels));
                prop_assert!(!worker.draining);
                if current.get(c) != Some(w) {
                    prop_assert!(worker.live);
                }
            }
            // No worker over capacity.
            for w in &workers {
                let load: u32 = next.iter().filter(|(_, x)| **x == w.id).map(|(c, _)| wanted[c.as_str()].cost).sum();
                prop_assert!(load <= w.capacity, "{} carries {load} > {}", w.id, w.capacity);
            }
            // Every demanded camera is held or reported unplaced.
            for d in &demand {
                prop_assert!(next.contains_key(&d.camera) ^ p.unplaced.contains(&d.camera));
            }
            // A camera that stays wanted and whose worker is fine does not move.
            for (c, w) in &current {
                if let (Some(_), Some(worker)) = (wanted.get(c.as_str()), workers.iter().find(|x| &x.id == w))
                    && worker.live && !worker.draining
                    && !p.changes.iter().any(|ch| matches!(ch, Change::Release { camera, reason: Reason::Overloaded | Reason::Ineligible, .. } if camera == c))
                {
                    prop_assert_eq!(next.get(c), Some(w), "{} moved", c);
                }
            }
            // Planning again from the result changes nothing but what could not be placed.
            let again = plan(&demand, &workers, &next, expire);
            prop_assert_eq!(again.changes, Vec::<Change>::new());
            // The order workers and cameras are listed in does not matter.
            let mut rw = workers.clone();
            rw.reverse();
            let mut rd = demand.clone();
            rd.reverse();
            prop_assert_eq!(apply(&current, &plan(&rd, &rw, &current, expire)), next);
        }

        #[test]
        fn a_worker_that_leaves_moves_only_its_own_cameras((demand, workers, _) in arb_world(), gone in 0usize..6) {
            let settled = apply(&BTreeMap::new(), &plan(&demand, &workers, &BTreeMap::new(), true));
            let mut after = workers.clone();
            let gone = gone % after.len();
            after[gone].live = false;
            let next = apply(&settled, &plan(&demand, &after, &settled, true));
            for (c, w) in &settled {
                if *w != after[gone].id {
                    prop_assert_eq!(next.get(c), Some(w));
                }
            }
        }
    }
}
