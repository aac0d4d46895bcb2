//! Thresholds from a target, not raw cosines: a permit states the false-positive identification
//! rate (FPIR) it accepts, the share of passers-by not on the watchlist who would raise an alert,
//! for its watchlist size; the cosine threshold follows from the impostor score distribution.
//!
//! A passer-by raises a false alert when any of the N templates scores above the threshold. With
//! per-pair false match rate f, FPIR = 1 − (1 − f)^N, so f = 1 − (1 − FPIR)^(1/N). The table holds
//! the threshold for per-pair rates from 10⁻¹ down to where the data still has at least
//! [`MIN_ERRORS`] impostor scores above it; a target beyond that is refused, never extrapolated.
//! The held-out check draws watchlists and passers-by from people the table never saw.

use serde::{Deserialize, Serialize};

/// A point of the table needs this many impostor scores above its threshold.
pub const MIN_ERRORS: f64 = 10.0;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Point {
    /// Per-pair false match rate.
    pub fmr: f64,
    /// Accept when the cosine is above this.
    pub threshold: f32,
}

/// A calibration table, versioned with the embedding model it was made for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Calibration {
    /// `<first 12 hex of the model hash>-<UTC time of the run>`.
    pub version: String,
    /// sha256 of the embedding model (SFace).
    pub model_sha256: String,
    /// sha256 of the detector, which chose the faces.
    pub detector_sha256: String,
    pub created_at: String,
    /// What the impostor scores came from.
    pub data: String,
    pub impostor_pairs: u64,
    /// FMR descending, threshold ascending.
    pub curve: Vec<Point>,
    /// The check on held-out people.
    pub held_out: Vec<HeldOut>,
    /// Per-template thresholds from an impostor cohort; absent in tables made before them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_template: Option<crate::cohort::PerTemplate>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct HeldOut {
    pub fpir_target: f64,
    pub watchlist: u32,
    pub threshold: f32,
    pub false_alarms: u64,
    pub trials: u64,
    pub fpir_realised: f64,
    /// Realised over target: the check passes within a factor of 2 either way.
    pub ratio: f64,
    pub within_2x: bool,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CalibrationError {
    #[error(
        "an FPIR target of {0} is not a rate: give a number above 0 and at most 0.1 (for example 0.0001 for 1 in 10,000 passers-by)"
    )]
    Target(f64),
    #[error("a watchlist of 0 persons cannot alert; designate at least one person")]
    EmptyWatchlist,
    #[error(
        "the held-out check of a watchlist of {n} needs more than {n} held-out people; it had {people}"
    )]
    TooFewPeople { n: u32, people: usize },
    #[error(
        "FPIR {fpir} for {n} templates (reference photos) needs a per-pair false match rate of {per_pair:.2e}, below the {lowest:.2e} that calibration {version} can vouch for; choose a looser target or calibrate on more data"
    )]
    BeyondData {
        fpir: f64,
        n: u32,
        per_pair: f64,
        lowest: f64,
        version: String,
    },
}

/// The per-pair false match rate that gives `fpir` over a watchlist of `n`.
pub fn per_pair(fpir: f64, n: u32) -> f64 {
    // 1 − (1 − FPIR)^(1/N), without the cancellation of the naive form at tiny rates.
    -(((-fpir).ln_1p()) / n as f64).exp_m1()
}

/// The table's points from impostor scores: per-pair rates 10^(−k/10) for k = 10..=70, kept while
/// at least [`MIN_ERRORS`] scores lie above the threshold. Sorts `impostors`, highest first.
pub fn curve(impostors: &mut [f32]) -> Vec<Point> {
    impostors.sort_unstable_by(|a, b| b.total_cmp(a));
    let n = impostors.len() as f64;
    (10..=70)
        .map(|k| 10f64.powf(-(k as f64) / 10.0))
        .filter(|f| f * n >= MIN_ERRORS)
        .map(|fmr| Point {
            fmr,
            threshold: impostors[(fmr * n).floor() as usize],
        })
        .collect()
}

impl Calibration {
    /// The cosine threshold for a target FPIR over a watchlist of `n` templates' persons,
    /// interpolated linearly in log10 of the per-pair rate between the table's points.
    pub fn threshold(&self, fpir: f64, n: u32) -> Result<f32, CalibrationError> {
        interpolate(&self.curve, fpir, n, &self.version)
    }
}

/// What a table says of the false-positive identification rate at a cosine threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FpirAt {
    /// Interpolated between the table's points.
    About(f64),
    /// The threshold is stricter than the table reaches: the rate is below this.
    Below(f64),
    /// The threshold is looser than the table's first point: the rate is above this.
    Above(f64),
}

impl Calibration {
    /// The FPIR a cosine `threshold` gives over `n` templates, interpolated linearly in log10 of
    /// the per-pair rate between the table's points (the inverse of [`Calibration::threshold`]).
    pub fn fpir_at(&self, threshold: f32, n: u32) -> Option<FpirAt> {
        let fpir = |f: f64| -((n as f64) * (-f).ln_1p()).exp_m1();
        let (first, last) = (self.curve.first()?, self.curve.last()?);
        if threshold <= first.threshold {
            return Some(FpirAt::Above(fpir(first.fmr)));
        }
        if threshold > last.threshold {
            return Some(FpirAt::Below(fpir(last.fmr)));
        }
        self.curve.windows(2).find_map(|w| {
            let (hi, lo) = (w[0], w[1]);
            (threshold >= hi.threshold && threshold <= lo.threshold).then(|| {
                let span = lo.threshold - hi.threshold;
                let x = if span > 0.0 {
                    f64::from((threshold - hi.threshold) / span)
                } else {
                    0.0
                };
                let log = hi.fmr.log10() + (lo.fmr.log10() - hi.fmr.log10()) * x;
                FpirAt::About(fpir(10f64.powf(log)))
            })
        })
    }
}

/// The threshold of `curve` for a target FPIR over `n` persons; `version` names the table in errors.
pub(crate) fn interpolate(
    curve: &[Point],
    fpir: f64,
    n: u32,
    version: &str,
) -> Result<f32, CalibrationError> {
    if !(fpir > 0.0 && fpir <= 0.1) {
        return Err(CalibrationError::Target(fpir));
    }
    if n == 0 {
        return Err(CalibrationError::EmptyWatchlist);
    }
    let f = per_pair(fpir, n);
    let beyond = || CalibrationError::BeyondData {
        fpir,
        n,
        per_pair: f,
        lowest: curve.last().map_or(1.0, |p| p.fmr),
        version: version.to_string(),
    };
    let first = curve.first().ok_or_else(beyond)?;
    if f >= first.fmr {
        return Ok(first.threshold);
    }
    for w in curve.windows(2) {
        let (hi, lo) = (w[0], w[1]);
        if f <= hi.fmr && f >= lo.fmr {
            let x = (f.log10() - hi.fmr.log10()) / (lo.fmr.log10() - hi.fmr.log10());
            return Ok(hi.threshold + (lo.threshold - hi.threshold) * x as f32);
        }
    }
    Err(beyond())
}

/// A small deterministic generator (SplitMix64): the same draws on every run and machine.
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

/// Realised FPIR on held-out people: `trials` times, a passer-by (a random probe image) meets a
/// watchlist of `n` people drawn at random from the others (one image each); a false alert is any
/// watchlist score above `threshold`. `people[i]` lists person i's images; `score` is `None` when
/// an image has no face (no alert).
pub fn realised_fpir(
    people: &[Vec<usize>],
    n: u32,
    threshold: f32,
    trials: u64,
    seed: u64,
    score: impl Fn(usize, usize) -> Option<f32>,
) -> (u64, u64) {
    draw_trials(people, n, trials, seed, |rng, probe, p| {
        let g = people[p][rng.below(people[p].len())];
        score(probe, g).is_some_and(|s| s > threshold)
    })
}

/// The draws of a held-out check: `trials` times a passer-by (a random image of a random person)
/// meets a watchlist of `n` other people; `alarm(rng, probe, person)` says whether one watchlist
/// person alarms. `(0, 0)` when no watchlist without the passer-by can be drawn.
pub(crate) fn draw_trials(
    people: &[Vec<usize>],
    n: u32,
    trials: u64,
    seed: u64,
    mut alarm: impl FnMut(&mut SplitMix, usize, usize) -> bool,
) -> (u64, u64) {
    let mut rng = SplitMix::new(seed);
    let mut alarms = 0;
    let mut list: Vec<usize> = Vec::with_capacity(n as usize);
    if people.len() <= n as usize {
        return (0, 0);
    }
    for _ in 0..trials {
        let who = rng.below(people.len());
        let probe = people[who][rng.below(people[who].len())];
        list.clear();
        while list.len() < n as usize {
            let p = rng.below(people.len());
            if p != who && !list.contains(&p) {
                list.push(p);
            }
        }
        let alarmed = list.iter().any(|&p| alarm(&mut rng, probe, p));
        alarms += alarmed as u64;
    }
    (alarms, trials)
}

/// The held-out check of one target.
pub fn check(
    cal: &Calibration,
    people: &[Vec<usize>],
    fpir: f64,
    n: u32,
    seed: u64,
    score: impl Fn(usize, usize) -> Option<f32>,
) -> Result<HeldOut, CalibrationError> {
    let threshold = cal.threshold(fpir, n)?;
    if people.len() <= n as usize {
        return Err(CalibrationError::TooFewPeople {
            n,
            people: people.len(),
        });
    }
    // Enough trials to expect 200 false alarms at the target: the count's own noise is then ±15 %.
    let trials = ((200.0 / fpir).ceil() as u64).clamp(10_000, 4_000_000);
    let (false_alarms, trials) = realised_fpir(people, n, threshold, trials, seed, score);
    let fpir_realised = false_alarms as f64 / trials.max(1) as f64;
    let ratio = fpir_realised / fpir;
    Ok(HeldOut {
        fpir_target: fpir,
        watchlist: n,
        threshold,
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

    fn table(scores: &mut [f32]) -> Calibration {
        Calibration {
            version: "v".into(),
            model_sha256: "m".into(),
            detector_sha256: "d".into(),
            created_at: "t".into(),
            data: "synthetic".into(),
            impostor_pairs: scores.len() as u64,
            curve: curve(scores),
            held_out: vec![],
            per_template: None,
        }
    }

    #[test]
    fn per_pair_inverts_the_watchlist_union() {
        for (fpir, n) in [(1e-4, 3), (1e-2, 1), (1e-3, 1000)] {
            let f = per_pair(fpir, n);
            let back = 1.0 - (1.0 - f).powi(n as i32);
            assert!((back - fpir).abs() / fpir < 1e-9, "{fpir} {n}: {back}");
        }
        assert_eq!(per_pair(1e-3, 1), 1e-3);
    }

    #[test]
    fn uniform_scores_give_the_quantiles() {
        // 100,000 impostor scores uniform on [0, 1): the threshold for per-pair rate f is about 1 − f.
        let mut s: Vec<f32> = (0..100_000).map(|i| i as f32 / 100_000.0).collect();
        let c = table(&mut s);
        assert_eq!(c.curve.first().unwrap().fmr, 0.1);
        // Down to 1e-4 (10 scores above), not below.
        assert!((c.curve.last().unwrap().fmr - 1e-4).abs() < 1e-12);
        let t = c.threshold(1e-3, 1).unwrap();
        assert!((t - 0.999).abs() < 1e-4, "{t}");
        // Between table points the interpolation stays between their thresholds.
        let t = c.threshold(5e-3, 1).unwrap();
        assert!(t > 0.99 && t < 0.999, "{t}");
        // A watchlist of 10 at FPIR 1e-2 needs per-pair about 1e-3.
        assert!((c.threshold(1e-2, 10).unwrap() - 0.999).abs() < 2e-4);
        assert!(matches!(
            c.threshold(1e-5, 3),
            Err(CalibrationError::BeyondData { .. })
        ));
        assert_eq!(c.threshold(0.0, 3), Err(CalibrationError::Target(0.0)));
        assert_eq!(c.threshold(0.5, 3), Err(CalibrationError::Target(0.5)));
        assert_eq!(c.threshold(1e-3, 0), Err(CalibrationError::EmptyWatchlist));
    }

    #[test]
    fn the_rate_at_a_threshold_inverts_the_threshold_of_a_rate() {
        let mut s: Vec<f32> = (0..100_000).map(|i| i as f32 / 100_000.0).collect();
        let c = table(&mut s);
        for (fpir, n) in [(1e-3, 1), (5e-3, 1), (1e-2, 10), (1e-3, 3)] {
            let t = c.threshold(fpir, n).unwrap();
            let Some(FpirAt::About(back)) = c.fpir_at(t, n) else {
                panic!("{fpir} {n}: no rate at {t}");
            };
            assert!((back - fpir).abs() / fpir < 0.02, "{fpir} {n}: {back}");
        }
        // Beyond the table's ends it says only on which side the rate lies.
        assert!(matches!(c.fpir_at(0.99999, 1), Some(FpirAt::Below(f)) if (f - 1e-4).abs() < 1e-9));
        assert!(matches!(c.fpir_at(0.5, 1), Some(FpirAt::Above(f)) if (f - 0.1).abs() < 1e-9));
        assert_eq!(table(&mut []).fpir_at(0.5, 1), None);
    }

    #[test]
    fn held_out_check_on_a_known_distribution() {
        // 400 people, 3 images each; scores are a hash of the pair, uniform on [0, 1): a fresh
        // sample of the same distribution, so the realised rate must land near the target.
        let people: Vec<Vec<usize>> = (0..400)
            .map(|p| vec![3 * p, 3 * p + 1, 3 * p + 2])
            .collect();
        let score = |a: usize, b: usize| {
            let (a, b) = (a.min(b) as u64, a.max(b) as u64);
            let mut r = SplitMix::new(a * 1_000_003 + b);
            Some((r.next_u64() >> 40) as f32 / (1u64 << 24) as f32)
        };
        let mut s: Vec<f32> = {
            let mut r = SplitMix::new(7);
            (0..1_000_000)
                .map(|_| (r.next_u64() >> 40) as f32 / (1u64 << 24) as f32)
                .collect()
        };
        let c = table(&mut s);
        let h = check(&c, &people, 1e-3, 3, 1, score).unwrap();
        assert!(h.within_2x, "{h:?}");
        assert!(h.trials >= 200_000);
    }
}
