//! Per-template thresholds from an impostor cohort.
//!
//! One global cosine per permit lets a template in a dense region of face space (a child, a
//! group the model places close together) raise far more false alerts than the permit's target.
//! So each template is measured against a cohort of strangers' templates: `top`, the mean of its
//! [`TOP`] highest cohort scores, says how close its nearest strangers come; `mean`, the mean of
//! all its cohort scores, where the bulk lies. A score `s` becomes `z = (s − top) / (top − mean)`;
//! one table of `z` (impostor pairs of people outside the cohort) gives the `z*` of a per-pair
//! rate, and the template's cosine threshold is `top + z*·(top − mean)`. No demographic label is
//! used: only scores.
//!
//! Chosen by measurement on the full data (`docs/evaluation.md`): against whole-cohort z-norm and
//! a plain top-K shift, this gave the smallest spread between age bands and race × gender groups
//! with the single-template check nearest its goal. No threshold falls below [`floor`].

use serde::{Deserialize, Serialize};

pub use mandat_law::norm::Norm;

use crate::calibrate::{CalibrationError, Point};

/// How many of a template's highest cohort scores set its `top`. With a cohort of a few thousand
/// it is the template's nearest half a percent of strangers.
pub const TOP: usize = 20;

/// A stored table's cohort holds at least this many templates: fewer cannot say where a
/// template's nearest strangers lie at the rates permits ask for.
pub const MIN_COHORT: usize = 1000;

/// The fewest cohort scores a [`Norm`] is computed from at all (a sampled evaluation run, never
/// stored, goes down to this).
pub const MIN_SCORES: usize = 5 * TOP;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CohortError {
    #[error(
        "the cohort holds {0} templates; per-template thresholds need at least {MIN_SCORES}, and a stored table {MIN_COHORT}: build it from more people"
    )]
    TooSmall(usize),
    #[error("a cohort template has {got} values, the model's have {want}")]
    Dimension { got: usize, want: usize },
    #[error("a cohort score is not a number; the cohort or the template is corrupt")]
    NotANumber,
    #[error(
        "a cohort of {bytes} bytes is not whole templates of {dim} little-endian f32; send the cohort `mandat eval calibrate` made"
    )]
    Length { bytes: usize, dim: usize },
}

/// A template's [`Norm`] from its scores against every cohort member (reordered in place).
pub fn norm_of(scores: &mut [f32]) -> Result<Norm, CohortError> {
    if scores.len() < MIN_SCORES {
        return Err(CohortError::TooSmall(scores.len()));
    }
    if scores.iter().any(|s| !s.is_finite()) {
        return Err(CohortError::NotANumber);
    }
    let mean = (scores.iter().map(|&s| s as f64).sum::<f64>() / scores.len() as f64) as f32;
    // The TOP highest first, in any order; no full sort needed.
    scores.select_nth_unstable_by(TOP - 1, |a, b| b.total_cmp(a));
    let top = (scores[..TOP].iter().map(|&s| s as f64).sum::<f64>() / TOP as f64) as f32;
    Ok(Norm { top, mean })
}

/// The cohort: L2-normalised templates of consenting or public-dataset people, none of whom is
/// ever enrolled or used to evaluate the table. Held in memory only.
pub struct Cohort {
    dim: usize,
    values: Vec<f32>,
}

impl std::fmt::Debug for Cohort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cohort({} templates, redacted)", self.len())
    }
}

impl Drop for Cohort {
    fn drop(&mut self) {
        for v in self.values.iter_mut() {
            // SAFETY: valid exclusive reference; volatile so the wipe is not optimised away.
            unsafe { std::ptr::write_volatile(v, 0.0) };
        }
    }
}

impl Cohort {
    /// The cohort from its stored form: `dim` little-endian f32 per template.
    pub fn from_le_bytes(dim: usize, bytes: &[u8]) -> Result<Self, CohortError> {
        if dim == 0 || !bytes.len().is_multiple_of(4 * dim) {
            return Err(CohortError::Length {
                bytes: bytes.len(),
                dim,
            });
        }
        let values: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(CohortError::NotANumber);
        }
        let c = Self { dim, values };
        if c.len() < MIN_SCORES {
            return Err(CohortError::TooSmall(c.len()));
        }
        Ok(c)
    }

    /// Its stored form (the caller seals and wipes it).
    pub fn to_le_bytes(&self) -> Vec<u8> {
        self.values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    pub fn new(
        dim: usize,
        templates: impl IntoIterator<Item = Vec<f32>>,
    ) -> Result<Self, CohortError> {
        let mut values = Vec::new();
        for t in templates {
            if t.len() != dim {
                return Err(CohortError::Dimension {
                    got: t.len(),
                    want: dim,
                });
            }
            values.extend_from_slice(&t);
        }
        let c = Self { dim, values };
        if c.len() < MIN_SCORES {
            return Err(CohortError::TooSmall(c.len()));
        }
        Ok(c)
    }

    pub fn len(&self) -> usize {
        self.values.len() / self.dim.max(1)
    }

    /// The sha256 of its values, in hex: a table names the cohort it holds for.
    pub fn version(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for v in &self.values {
            h.update(v.to_le_bytes());
        }
        hex::encode(h.finalize())
    }

    /// The first member that is not an L2-normalised template (a zero or scaled vector would
    /// drag every norm down, and every threshold with it), if any.
    pub fn first_not_unit(&self) -> Option<usize> {
        self.values
            .chunks_exact(self.dim)
            .position(|c| (c.iter().map(|v| v * v).sum::<f32>().sqrt() - 1.0).abs() > 1e-3)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The template's [`Norm`] against every member.
    pub fn norm(&self, template: &[f32]) -> Result<Norm, CohortError> {
        if template.len() != self.dim {
            return Err(CohortError::Dimension {
                got: template.len(),
                want: self.dim,
            });
        }
        let mut scores: Vec<f32> = self
            .values
            .chunks_exact(self.dim)
            .map(|c| c.iter().zip(template).map(|(a, b)| a * b).sum())
            .collect();
        norm_of(&mut scores)
    }
}

/// The per-template table: normalised impostor scores `z` against the per-pair rate, with the
/// cohort it holds for and its checks on held-out people.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PerTemplate {
    /// The cohort's version: the sha256 of its values.
    pub cohort: String,
    pub cohort_size: u32,
    /// [`TOP`] when the table was made.
    pub top: u32,
    /// Who the cohort and the table's impostors are.
    pub data: String,
    pub impostor_pairs: u64,
    /// FMR descending, `threshold` is `z`, ascending.
    pub curve: Vec<Point>,
    /// Realised FPIR of watchlists with per-template thresholds on held-out people.
    pub held_out: Vec<crate::calibrate::HeldOut>,
    /// Each held-out template's own realised false match rate against held-out strangers, over
    /// the target, at [`TEMPLATE_CHECK_FMR`].
    pub templates: TemplateSpread,
}

/// A per-template threshold never falls below the global table's threshold for a target this
/// many times looser: an outlying reference photo (blurred, odd) has few close strangers and would
/// otherwise get a threshold that lets almost anyone through.
pub const FLOOR_FACTOR: f64 = 10.0;

/// The floor of per-template thresholds for a target FPIR over `n` persons: the global table's
/// threshold at [`FLOOR_FACTOR`] times the target (at most 0.1).
pub fn floor(
    cal: &crate::calibrate::Calibration,
    fpir: f64,
    n: u32,
) -> Result<f32, CalibrationError> {
    cal.threshold((fpir * FLOOR_FACTOR).min(0.1), n)
}

/// The per-pair rate at which each template's own false match rate is checked: the lowest the
/// held-out people can measure per template (about 30 false matches expected per template).
pub const TEMPLATE_CHECK_FMR: f64 = 1e-2;

/// How the realised rate of single templates spreads around the target.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct TemplateSpread {
    pub target: f64,
    pub templates: u32,
    /// Probes each template met.
    pub probes_each: u32,
    pub median_ratio: f64,
    /// The 10th and 90th percentile of realised / target.
    pub p10_ratio: f64,
    pub p90_ratio: f64,
    /// Share of templates whose ratio lies within 0.5–2.
    pub within_2x: f64,
}

impl PerTemplate {
    /// The normalised threshold for a target FPIR over `n` persons.
    pub fn z_threshold(&self, fpir: f64, n: u32) -> Result<f32, CalibrationError> {
        crate::calibrate::interpolate(&self.curve, fpir, n, "(its per-template part)")
    }
}

/// Each template's realised false match rate against every other person's first image, over the
/// per-pair `target`: how far single templates stray from it. `people[i]` lists person i's
/// images; the first is the template; `threshold_of(template)` is its threshold (`None`: no face).
pub fn template_spread(
    people: &[Vec<usize>],
    threshold_of: &dyn Fn(usize) -> Option<f32>,
    target: f64,
    score: &dyn Fn(usize, usize) -> Option<f32>,
) -> TemplateSpread {
    let mut ratios: Vec<f64> = Vec::new();
    let mut probes_each = 0;
    for (i, p) in people.iter().enumerate() {
        let Some(threshold) = threshold_of(p[0]) else {
            continue;
        };
        let (mut hits, mut n) = (0u64, 0u64);
        for (j, q) in people.iter().enumerate() {
            if i == j {
                continue;
            }
            if let Some(s) = score(p[0], q[0]) {
                n += 1;
                hits += (s > threshold) as u64;
            }
        }
        if n > 0 {
            probes_each = probes_each.max(n as u32);
            ratios.push(hits as f64 / n as f64 / target);
        }
    }
    ratios.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| {
        ratios
            .get(((q * ratios.len() as f64) as usize).min(ratios.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let within = ratios.iter().filter(|r| (0.5..=2.0).contains(*r)).count();
    TemplateSpread {
        target,
        templates: ratios.len() as u32,
        probes_each,
        median_ratio: at(0.5),
        p10_ratio: at(0.1),
        p90_ratio: at(0.9),
        within_2x: within as f64 / ratios.len().max(1) as f64,
    }
}

/// Realised FPIR with per-template thresholds, as [`crate::calibrate::realised_fpir`] draws it:
/// a passer-by meets a watchlist of `n` others; an alarm is any score above that template's own
/// threshold.
pub fn realised_fpir(
    people: &[Vec<usize>],
    n: u32,
    threshold_of: impl Fn(usize) -> Option<f32>,
    trials: u64,
    seed: u64,
    score: impl Fn(usize, usize) -> Option<f32>,
) -> (u64, u64) {
    // The watchlist's templates are each person's first image, as enrolled.
    crate::calibrate::draw_trials(people, n, trials, seed, |_, probe, p| {
        let g = people[p][0];
        matches!((score(probe, g), threshold_of(g)), (Some(s), Some(t)) if s > t)
    })
}

/// The held-out check of one target with per-template thresholds.
#[allow(clippy::too_many_arguments)]
pub fn check(
    table: &PerTemplate,
    people: &[Vec<usize>],
    norms: impl Fn(usize) -> Option<Norm>,
    floor: f32,
    fpir: f64,
    n: u32,
    seed: u64,
    score: impl Fn(usize, usize) -> Option<f32>,
) -> Result<crate::calibrate::HeldOut, CalibrationError> {
    let z = table.z_threshold(fpir, n)?;
    if people.len() <= n as usize {
        return Err(CalibrationError::TooFewPeople {
            n,
            people: people.len(),
        });
    }
    let trials = ((200.0 / fpir).ceil() as u64).clamp(10_000, 4_000_000);
    let (false_alarms, trials) = realised_fpir(
        people,
        n,
        |g| Some(norms(g)?.cosine(z).max(floor)),
        trials,
        seed,
        score,
    );
    let fpir_realised = false_alarms as f64 / trials.max(1) as f64;
    let ratio = fpir_realised / fpir;
    Ok(crate::calibrate::HeldOut {
        fpir_target: fpir,
        watchlist: n,
        threshold: z,
        false_alarms,
        trials,
        fpir_realised,
        ratio,
        within_2x: (0.5..=2.0).contains(&ratio),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::{SplitMix, curve, per_pair};

    fn uniform(r: &mut SplitMix) -> f64 {
        ((r.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal draws (Box–Muller), deterministic.
    fn normal(r: &mut SplitMix) -> f32 {
        let (u, v) = (uniform(r), uniform(r));
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }

    #[test]
    fn norm_of_known_scores() {
        // 0, 1/2000, ..., 1999/2000: the mean is 0.49975, the top 20 average 1989.5/2000.
        let mut s: Vec<f32> = (0..2000).map(|i| i as f32 / 2000.0).collect();
        let n = norm_of(&mut s).unwrap();
        assert!((n.mean - 0.49975).abs() < 1e-6, "{n:?}");
        assert!((n.top - 0.99475).abs() < 1e-6, "{n:?}");
        // z and cosine invert each other; the top itself is z = 0, the mean z = −1.
        assert!(n.z(n.top).abs() < 1e-6);
        assert!((n.z(n.mean) + 1.0).abs() < 1e-5);
        for c in [0.1f32, 0.4, 0.9] {
            assert!((n.cosine(n.z(c)) - c).abs() < 1e-5);
        }
        // Location and scale carry through: scores a·x + b give thresholds a·t + b.
        let mut s2: Vec<f32> = (0..2000).map(|i| 0.5 * (i as f32 / 2000.0) - 0.1).collect();
        let m = norm_of(&mut s2).unwrap();
        for z in [-1.0f32, 0.0, 0.7] {
            assert!((m.cosine(z) - (0.5 * n.cosine(z) - 0.1)).abs() < 1e-5);
        }
    }

    #[test]
    fn a_small_or_corrupt_cohort_is_refused() {
        let mut s = vec![0.1f32; MIN_SCORES - 1];
        assert_eq!(norm_of(&mut s), Err(CohortError::TooSmall(MIN_SCORES - 1)));
        let mut s = vec![0.1f32; MIN_SCORES];
        s[7] = f32::NAN;
        assert_eq!(norm_of(&mut s), Err(CohortError::NotANumber));
        assert!(matches!(
            Cohort::new(
                4,
                (0..MIN_SCORES).map(|_| vec![0.5; 4]).chain([vec![0.5; 3]])
            ),
            Err(CohortError::Dimension { got: 3, want: 4 })
        ));
        let c = Cohort::new(
            2,
            (0..MIN_SCORES).map(|i| vec![(i as f32).cos(), (i as f32).sin()]),
        )
        .unwrap();
        assert_eq!(c.len(), MIN_SCORES);
        // The stored form round-trips, and keeps its version.
        let back = Cohort::from_le_bytes(2, &c.to_le_bytes()).unwrap();
        assert_eq!((back.len(), back.version()), (c.len(), c.version()));
        assert!(Cohort::from_le_bytes(2, &c.to_le_bytes()[..12]).is_err());
        assert!(matches!(
            Cohort::from_le_bytes(2, &[0u8; 8 * 10]),
            Err(CohortError::TooSmall(10))
        ));
        assert!(matches!(
            c.norm(&[1.0]),
            Err(CohortError::Dimension { got: 1, want: 2 })
        ));
    }

    /// Two kinds of template whose strangers score very differently (a dense group: N(0.20, 0.10);
    /// a sparse one: N(0.00, 0.06)). With the global threshold the dense group's false match rate
    /// is many times the target; with per-template thresholds each meets it on fresh impostors.
    #[test]
    fn dense_and_sparse_templates_each_meet_the_target() {
        let mut r = SplitMix::new(42);
        let groups = [(0.20f32, 0.10f32), (0.00, 0.06)];
        let cohort_size = 2000;
        let draw = |r: &mut SplitMix, (mu, sd): (f32, f32)| mu + sd * normal(r);
        // The tables: 400 calibration templates, one in ten of the dense kind (a minority, as in
        // the data), each with its cohort scores and 2,000 impostor scores of people outside
        // the cohort.
        let (mut zs, mut raw) = (Vec::new(), Vec::new());
        for k in 0..400 {
            let g = groups[(k % 10 != 0) as usize];
            let mut cohort: Vec<f32> = (0..cohort_size).map(|_| draw(&mut r, g)).collect();
            let n = norm_of(&mut cohort).unwrap();
            for _ in 0..2000 {
                let s = draw(&mut r, g);
                zs.push(n.z(s));
                raw.push(s);
            }
        }
        let z_curve = curve(&mut zs);
        let global_curve = curve(&mut raw);
        let table = PerTemplate {
            cohort: "synthetic".into(),
            cohort_size: cohort_size as u32,
            top: TOP as u32,
            data: "synthetic".into(),
            impostor_pairs: 800_000,
            curve: z_curve,
            held_out: vec![],
            templates: TemplateSpread::default(),
        };
        let fpir = 1e-3;
        let z = table.z_threshold(fpir, 1).unwrap();
        let global = crate::calibrate::interpolate(&global_curve, fpir, 1, "synthetic").unwrap();
        let target = per_pair(fpir, 1);
        // Fresh enrolled templates: 20 of each kind, 100,000 fresh impostors each.
        let mut thresholds = [Vec::new(), Vec::new()];
        for (gi, g) in groups.iter().enumerate() {
            let (mut own, mut glob, mut n_all) = (0u64, 0u64, 0u64);
            for _ in 0..20 {
                let mut cohort: Vec<f32> = (0..cohort_size).map(|_| draw(&mut r, *g)).collect();
                let t = norm_of(&mut cohort).unwrap().cosine(z);
                thresholds[gi].push(t);
                for _ in 0..100_000 {
                    let s = draw(&mut r, *g);
                    own += (s > t) as u64;
                    glob += (s > global) as u64;
                    n_all += 1;
                }
            }
            let own_ratio = own as f64 / n_all as f64 / target;
            let global_ratio = glob as f64 / n_all as f64 / target;
            assert!(
                (0.5..=2.0).contains(&own_ratio),
                "group {gi}: per-template realised {own_ratio:.2}× the target"
            );
            if gi == 0 {
                assert!(
                    global_ratio > 3.0,
                    "dense group, global: {global_ratio:.2}×"
                );
            } else {
                assert!(
                    global_ratio < 0.1,
                    "sparse group, global: {global_ratio:.2}×"
                );
            }
        }
        // The dense group's templates get stricter thresholds than every sparse one.
        let dense_min = thresholds[0].iter().copied().fold(f32::INFINITY, f32::min);
        let sparse_max = thresholds[1]
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max);
        assert!(dense_min > sparse_max, "{dense_min} vs {sparse_max}");
    }

    #[test]
    fn template_spread_counts_each_template_against_the_others() {
        // 3 people; scores: 0↔1 high, everything else low. Per-pair target 0.5 at threshold 0.5:
        // person 0 and 1 each match one of 2 others (rate 0.5, ratio 1), person 2 none (ratio 0).
        let people = vec![vec![0], vec![1], vec![2]];
        let score = |a: usize, b: usize| Some(if a + b == 1 { 0.9 } else { 0.1 });
        let s = template_spread(&people, &|_| Some(0.5), 0.5, &score);
        assert_eq!(s.templates, 3);
        assert_eq!(s.probes_each, 2);
        assert_eq!(s.median_ratio, 1.0);
        assert!((s.within_2x - 2.0 / 3.0).abs() < 1e-12);
    }
}
