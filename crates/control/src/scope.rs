//! The scope cache: the engine's one door. It holds a snapshot of permits, decrypted templates and
//! cameras, and answers (camera, now) -> watchlist through [`mandat_law::watchlist`], so the legal
//! rules are applied on every call with the clock's current time.
//!
//! It fails closed: no snapshot, a snapshot older than `max_staleness` (the store could not be read),
//! an unknown camera or an unknown time all give an empty watchlist, and an empty watchlist means the
//! engine runs no detection at all. A change made through [`crate::Control`] reloads the cache at
//! once; a change made by another process is seen by [`ScopeCache::run`] within its poll interval.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use mandat_eval::cohort::Cohort;
use mandat_law::permit::PersonId;
use mandat_law::{CameraInfo, Clock, Norm, Permit, TemplateNorm, Watchlist};
use mandat_store::{Store, Template};
use sha2::{Digest, Sha256};

/// What the engine asks. One method, so the engine can later run in another process behind an RPC.
pub trait ScopeSource: Send + Sync {
    /// The watchlist of `camera` now. Empty means: do not analyse this camera at all.
    fn watchlist(&self, camera: &str) -> WatchlistView;
}

/// A watchlist as the engine gets it for one frame.
#[derive(Debug, Clone)]
pub struct WatchlistView {
    pub list: Watchlist<Arc<Template>>,
}

impl WatchlistView {
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Its version: a hash over which templates of which permits it holds, recorded with every
    /// alert (AI Act art. 12(3)(b), the reference database). Computed on demand, not per frame.
    pub fn version(&self) -> String {
        version_of(&self.list)
    }
}

/// The version hash of a list of entries; the empty list has a fixed version.
pub fn version_of(list: &Watchlist<Arc<Template>>) -> String {
    version_of_parts(list.entries.iter().map(|e| {
        (
            e.permit.as_str(),
            e.person.as_str(),
            e.template.id.as_str(),
            e.threshold,
        )
    }))
}

/// The version hash over (permit, person, template id, threshold) items, in any order. Ids only:
/// it can be computed without decrypting a template.
pub fn version_of_parts<'a>(
    parts: impl Iterator<Item = (&'a str, &'a str, &'a str, f32)>,
) -> String {
    let mut lines: Vec<String> = parts
        .map(|(permit, person, template, threshold)| {
            format!("{permit}|{person}|{template}|{threshold}")
        })
        .collect();
    lines.sort();
    hex::encode(Sha256::digest(lines.join("\n").as_bytes()))
}

/// A permit with the templates of its designated persons.
type PermitTemplates = (Permit, Vec<(PersonId, Arc<Template>)>);

struct Snapshot {
    permits: Vec<PermitTemplates>,
    cameras: HashMap<String, CameraInfo>,
    generation: i64,
    loaded: Instant,
    /// The newest audit entry's time: a clock behind it was set back, and nothing is matched.
    high_water: Arc<AtomicI64>,
}

pub struct ScopeCache {
    clock: Arc<dyn Clock>,
    snapshot: RwLock<Option<Snapshot>>,
    /// Older than this, the snapshot is not trusted and every watchlist is empty.
    max_staleness: Duration,
    /// Cohorts of per-template permits and the norms computed against them.
    norms: tokio::sync::Mutex<NormCache>,
    /// The embedder the engine runs: permits drafted for another model are not in scope, since
    /// their thresholds and templates are that model's.
    embedder: mandat_law::risk::ModelRef,
    /// Permits already reported as left out for their model, so the log says it once.
    other_model: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// Cohorts by (table, version), opened, in memory only, and each template's norm by (permit,
/// template id, cohort), so a reload normalises only templates it has not seen.
#[derive(Default)]
struct NormCache {
    cohorts: HashMap<(String, String), Arc<Cohort>>,
    norms: HashMap<(String, String, String), Norm>,
}

impl ScopeCache {
    pub fn new(clock: Arc<dyn Clock>, max_staleness: Duration) -> Self {
        Self {
            clock,
            snapshot: RwLock::new(None),
            max_staleness,
            norms: Default::default(),
            embedder: crate::calibration::pinned_embedder(),
            other_model: Default::default(),
        }
    }

    /// The engine runs another embedder than the pinned one (`--embedder`).
    pub fn with_embedder(mut self, embedder: mandat_law::risk::ModelRef) -> Self {
        self.embedder = embedder;
        self
    }

    /// Keep the permits drafted for the running embedder; say once of each other one why it is
    /// left out.
    fn of_running_model(
        &self,
        permits: Vec<(Permit, Vec<(PersonId, Template)>)>,
    ) -> Vec<(Permit, Vec<(PersonId, Template)>)> {
        let mut told = self.other_model.lock().unwrap_or_else(|e| e.into_inner());
        permits
            .into_iter()
            .filter(|(p, _)| {
                match crate::calibration::check_drafted_model(&p.application, &self.embedder) {
                    Ok(()) => true,
                    Err(r) => {
                        if told.insert(p.id.clone()) {
                            tracing::warn!(permit = %p.id, "not matched here: {r}");
                        }
                        false
                    }
                }
            })
            .collect()
    }

    /// Give the templates of per-template permits their norm against the permit's cohort. A
    /// template left without one (its cohort is not stored with the permit's table, or does not
    /// open) is not matched: the scope function fails closed on it, and this says why. A store
    /// that cannot be read fails the whole reload, so the next poll tries again.
    async fn attach_norms(
        &self,
        store: &Store,
        permits: &mut [(Permit, Vec<(PersonId, Template)>)],
    ) -> Result<(), mandat_store::StoreError> {
        // (table, cohort) of a per-template permit.
        let cohort_of = |p: &Permit| -> Option<(String, String)> {
            let t = p.application.target.as_ref()?;
            p.application
                .per_template()
                .then(|| Some((t.calibration.clone(), t.cohort.clone()?)))?
        };
        let mut cache = self.norms.lock().await;
        let wanted: std::collections::BTreeSet<(String, String)> =
            permits.iter().filter_map(|(p, _)| cohort_of(p)).collect();
        cache.cohorts.retain(|k, _| wanted.contains(k));
        let mut seen = std::collections::HashSet::new();
        for (p, templates) in permits.iter_mut() {
            let Some(key) = cohort_of(p) else {
                continue;
            };
            let Some(dim) = templates.first().map(|(_, t)| t.values.len()) else {
                continue;
            };
            if !cache.cohorts.contains_key(&key) {
                let (table, version) = &key;
                match store.cohort(table, version).await {
                    Ok(Some(mut bytes)) => {
                        let c = Cohort::from_le_bytes(dim, &bytes);
                        mandat_store::crypto::wipe(&mut bytes);
                        match c {
                            Ok(c) if &c.version() == version => {
                                cache.cohorts.insert(key.clone(), Arc::new(c));
                            }
                            Ok(c) => tracing::error!(
                                "scope: cohort {version} of table {table} hashes to {}; permit {}'s templates are not matched",
                                c.version(),
                                p.id
                            ),
                            Err(e) => tracing::error!(
                                "scope: cohort {version} of table {table} is unusable ({e}); permit {}'s templates are not matched",
                                p.id
                            ),
                        }
                    }
                    Ok(None) => tracing::error!(
                        "scope: table {table} holds no cohort {version}; permit {}'s templates are not matched",
                        p.id
                    ),
                    // A sealed cohort that does not open was moved or edited: refused, not retried.
                    Err(e @ mandat_store::StoreError::Crypto(_)) => tracing::error!(
                        "scope: cohort {version} of table {table} does not open ({e}); permit {}'s templates are not matched",
                        p.id
                    ),
                    Err(e) => return Err(e),
                }
            }
            let Some(cohort) = cache.cohorts.get(&key).cloned() else {
                continue;
            };
            let version = &key.1;
            for (_, t) in templates.iter_mut() {
                let memo = (p.id.clone(), t.id.clone(), version.clone());
                let norm = match cache.norms.get(&memo) {
                    Some(n) => *n,
                    None => match cohort.norm(&t.values) {
                        Ok(n) => {
                            cache.norms.insert(memo.clone(), n);
                            n
                        }
                        Err(e) => {
                            tracing::error!(
                                "scope: template {} of permit {} cannot be normalised ({e}); it is not matched",
                                t.id,
                                p.id
                            );
                            continue;
                        }
                    },
                };
                seen.insert(memo);
                t.norm = Some(TemplateNorm {
                    cohort: version.clone(),
                    norm,
                });
            }
        }
        cache.norms.retain(|k, _| seen.contains(k));
        Ok(())
    }

    /// The lowest threshold any template of `person` has under `permit` in the snapshot held:
    /// the floor an alert's threshold is checked against. `None` when none is in scope.
    pub fn threshold_floor(&self, permit: &str, person: &str) -> Option<f32> {
        let guard = self.snapshot.read().unwrap_or_else(|e| e.into_inner());
        let (p, templates) = guard
            .as_ref()?
            .permits
            .iter()
            .find(|(p, _)| p.id == permit)?;
        templates
            .iter()
            .filter(|(who, _)| who == person)
            .filter_map(|(_, t)| p.application.threshold_for(t.norm.as_ref()))
            .min_by(|a, b| a.total_cmp(b))
    }

    /// Load a fresh snapshot, or drop the current one if the store cannot be read (fail closed).
    pub async fn reload(&self, store: &Store) {
        let loaded = async {
            let generation = store.generation().await?;
            let mut permits = self.of_running_model(store.snapshot().await?);
            self.attach_norms(store, &mut permits).await?;
            let cameras = store.cameras().await?;
            Ok::<_, mandat_store::StoreError>(Snapshot {
                permits: permits
                    .into_iter()
                    .map(|(p, t)| (p, t.into_iter().map(|(k, v)| (k, Arc::new(v))).collect()))
                    .collect(),
                cameras: cameras
                    .into_iter()
                    .map(|c| (c.id.clone(), c.info()))
                    .collect(),
                generation,
                loaded: Instant::now(),
                high_water: store.clock_high_water(),
            })
        }
        .await;
        let mut slot = self.snapshot.write().unwrap_or_else(|e| e.into_inner());
        match loaded {
            // Reloads run from the poll, a push and local changes at once: one that read an older
            // generation never replaces a newer snapshot (a stopped permit would match again).
            Ok(s)
                if slot
                    .as_ref()
                    .is_some_and(|cur| cur.generation > s.generation) => {}
            Ok(s) => *slot = Some(s),
            Err(e) => {
                tracing::error!("scope: cannot read the store, all watchlists are empty: {e}");
                *slot = None;
            }
        }
    }

    /// Check the store's generation and reload when it moved; mark the snapshot fresh otherwise.
    pub async fn refresh(&self, store: &Store) {
        let current = self
            .snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|s| s.generation);
        match store.generation().await {
            Ok(g) if Some(g) == current => {
                if let Some(s) = self
                    .snapshot
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_mut()
                {
                    s.loaded = Instant::now();
                }
            }
            Ok(_) => self.reload(store).await,
            Err(e) => {
                tracing::error!("scope: cannot read the store, all watchlists are empty: {e}");
                *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = None;
            }
        }
    }

    /// Poll the store every `every` until the task is dropped.
    pub async fn run(self: Arc<Self>, store: Arc<Store>, every: Duration) {
        loop {
            self.refresh(&store).await;
            tokio::time::sleep(every).await;
        }
    }
}

impl ScopeCache {
    /// The cameras in demand now: enabled, registered cameras that some permit could scope at
    /// some instant of the next `pre_warm` (see [`mandat_law::in_demand`]). `None` when there is
    /// no fresh snapshot or the clock was set back: the caller keeps what runs for a short grace
    /// and then disconnects everything (fail closed; matching already stopped at the scope gate).
    pub fn demand(&self, pre_warm: Duration) -> Option<Vec<String>> {
        let now = self.clock.now()?;
        let guard = self.snapshot.read().unwrap_or_else(|e| e.into_inner());
        let s = guard.as_ref()?;
        if clock_set_back(Some(now), &s.high_water) || s.loaded.elapsed() > self.max_staleness {
            return None;
        }
        let until = now.plus_millis(pre_warm.as_millis().min(i64::MAX as u128) as i64);
        let mut ids: Vec<String> = s
            .cameras
            .values()
            .filter(|c| mandat_law::in_demand(c, now, until, s.permits.iter().map(|(p, _)| p)))
            .map(|c| c.id.clone())
            .collect();
        ids.sort();
        Some(ids)
    }

    /// How long ago the snapshot held was last confirmed current by a read of the store; `None`
    /// without one, or when the clock was set back (nothing may be matched then).
    pub fn age(&self) -> Option<Duration> {
        let now = self.clock.now();
        let guard = self.snapshot.read().unwrap_or_else(|e| e.into_inner());
        let s = guard.as_ref()?;
        if clock_set_back(now, &s.high_water) {
            return None;
        }
        Some(s.loaded.elapsed())
    }

    /// The generation of the snapshot held, if any: it moves whenever a permit or camera changed.
    pub fn generation(&self) -> Option<i64> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|s| s.generation)
    }
}

fn clock_set_back(now: Option<mandat_law::Timestamp>, high_water: &AtomicI64) -> bool {
    now.is_some_and(|n| {
        n.0.saturating_add(mandat_store::CLOCK_TOLERANCE_MS) < high_water.load(Ordering::SeqCst)
    })
}

impl ScopeSource for ScopeCache {
    fn watchlist(&self, camera: &str) -> WatchlistView {
        let now = self.clock.now();
        let guard = self.snapshot.read().unwrap_or_else(|e| e.into_inner());
        let list = match guard.as_ref() {
            // Per frame, so not logged here: `tick` fails and logs it every second.
            Some(s) if clock_set_back(now, &s.high_water) => Watchlist::empty(now),
            Some(s) if s.loaded.elapsed() <= self.max_staleness => match s.cameras.get(camera) {
                Some(cam) => mandat_law::watchlist(
                    cam,
                    now,
                    Ok::<_, ()>(s.permits.iter().map(|(p, t)| (p, t.as_slice()))),
                ),
                // A camera the registry does not know is never analysed.
                None => Watchlist::empty(now),
            },
            _ => Watchlist::empty(now),
        };
        WatchlistView { list }
    }
}
