//! Error rates by demographic group, with 95 % confidence intervals and the ratio of the worst
//! group to the best, as NIST FRVT's demographic reports give them.
//!
//! Everything here counts `(group, error)` outcomes; the caller decides what an error is (a false
//! match above the threshold, a false non-match at or below it, a face not found).

use std::collections::BTreeMap;

use serde::Serialize;

/// One group's rate.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Rate {
    pub group: String,
    pub errors: u64,
    pub trials: u64,
    pub rate: f64,
    /// Wilson score interval, 95 %.
    pub ci95: (f64, f64),
}

/// The Wilson score interval at 95 %: sound at zero errors and tiny rates, where the normal
/// approximation gives nonsense.
pub fn wilson(errors: u64, trials: u64) -> (f64, f64) {
    if trials == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let n = trials as f64;
    let p = errors as f64 / n;
    let d = 1.0 + z * z / n;
    let c = (p + z * z / (2.0 * n)) / d;
    let h = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / d;
    // At 0 or n errors the bound is exactly 0 or 1; rounding would leave it a hair off.
    let lo = if errors == 0 { 0.0 } else { (c - h).max(0.0) };
    let hi = if errors == trials {
        1.0
    } else {
        (c + h).min(1.0)
    };
    (lo, hi)
}

/// Rates per group, groups in name order.
pub fn rates<'a>(outcomes: impl IntoIterator<Item = (&'a str, bool)>) -> Vec<Rate> {
    let mut by: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (g, err) in outcomes {
        let e = by.entry(g).or_default();
        e.0 += err as u64;
        e.1 += 1;
    }
    by.into_iter()
        .map(|(g, (errors, trials))| Rate {
            group: g.to_string(),
            errors,
            trials,
            rate: errors as f64 / trials.max(1) as f64,
            ci95: wilson(errors, trials),
        })
        .collect()
}

/// Worst group's rate over the best's.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Spread {
    pub worst: String,
    pub best: String,
    /// `None` when the best group had no errors: the ratio is then unbounded, and the intervals
    /// are what can be said.
    pub ratio: Option<f64>,
}

pub fn spread(rates: &[Rate]) -> Option<Spread> {
    let worst = rates.iter().max_by(|a, b| a.rate.total_cmp(&b.rate))?;
    let best = rates.iter().min_by(|a, b| a.rate.total_cmp(&b.rate))?;
    Some(Spread {
        worst: worst.group.clone(),
        best: best.group.clone(),
        ratio: (best.rate > 0.0).then(|| worst.rate / best.rate),
    })
}

/// False matches among impostor pairs within each group: every pair of items of the same group and
/// different identities, an error when the score is above `threshold`. Items are
/// `(group, identity, image)`; `score(a, b)` is `None` when either image has no face (no match).
pub fn fmr_within_groups(
    items: &[(String, String, usize)],
    threshold: f32,
    score: impl Fn(usize, usize) -> Option<f32>,
) -> Vec<Rate> {
    let mut by: BTreeMap<&str, Vec<(&str, usize)>> = BTreeMap::new();
    for (g, id, img) in items {
        by.entry(g).or_default().push((id, *img));
    }
    let mut out = Vec::new();
    for (g, members) in by {
        let (mut errors, mut trials) = (0u64, 0u64);
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                if a.0 == b.0 {
                    continue;
                }
                trials += 1;
                errors += score(a.1, b.1).is_some_and(|s| s > threshold) as u64;
            }
        }
        out.push(Rate {
            group: g.to_string(),
            errors,
            trials,
            rate: errors as f64 / trials.max(1) as f64,
            ci95: wilson(errors, trials),
        });
    }
    out
}

/// False matches within each group with a threshold per template: every ordered pair (template
/// `a`, probe `b`) of the same group, different identities and `comparable(a, b)`, an error when
/// the score is above `a`'s own threshold. Each unordered pair is two trials, one per template.
pub fn fmr_within_groups_per_template(
    items: &[(String, String, usize)],
    threshold_of: impl Fn(usize) -> Option<f32>,
    comparable: impl Fn(usize, usize) -> bool,
    score: impl Fn(usize, usize) -> Option<f32>,
) -> Vec<Rate> {
    let mut by: BTreeMap<&str, Vec<(&str, usize)>> = BTreeMap::new();
    for (g, id, img) in items {
        by.entry(g).or_default().push((id, *img));
    }
    let mut out = Vec::new();
    for (g, members) in by {
        let (mut errors, mut trials) = (0u64, 0u64);
        for a in &members {
            let t = threshold_of(a.1);
            for b in &members {
                if a.0 == b.0 || !comparable(a.1, b.1) {
                    continue;
                }
                trials += 1;
                errors += t.is_some_and(|t| score(a.1, b.1).is_some_and(|s| s > t)) as u64;
            }
        }
        out.push(Rate {
            group: g.to_string(),
            errors,
            trials,
            rate: errors as f64 / trials.max(1) as f64,
            ci95: wilson(errors, trials),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_published_values() {
        // 0 of 100: upper bound about 3.7 %; 10 of 100: 5.5 % to 17.4 % (Newcombe 1998).
        let (lo, hi) = wilson(0, 100);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.0370).abs() < 1e-3, "{hi}");
        let (lo, hi) = wilson(10, 100);
        assert!(
            (lo - 0.0552).abs() < 1e-3 && (hi - 0.1744).abs() < 1e-3,
            "{lo} {hi}"
        );
    }

    #[test]
    fn rates_and_spread() {
        let r = rates([
            ("b", true),
            ("b", false),
            ("a", false),
            ("a", false),
            ("a", true),
            ("a", false),
        ]);
        assert_eq!(r[0].group, "a");
        assert_eq!((r[0].errors, r[0].trials, r[0].rate), (1, 4, 0.25));
        assert_eq!(r[1].rate, 0.5);
        let s = spread(&r).unwrap();
        assert_eq!(
            (s.worst.as_str(), s.best.as_str(), s.ratio),
            ("b", "a", Some(2.0))
        );
        let zero = rates([("a", false), ("b", true)]);
        assert_eq!(spread(&zero).unwrap().ratio, None);
    }

    #[test]
    fn fmr_counts_cross_identity_pairs_within_each_group() {
        let items: Vec<(String, String, usize)> = [
            ("F", "ann", 0),
            ("F", "ann", 1), // same identity as 0: not an impostor pair
            ("F", "eve", 2),
            ("M", "bob", 3),
            ("M", "dan", 4),
        ]
        .iter()
        .map(|(g, i, k)| (g.to_string(), i.to_string(), *k))
        .collect();
        // Images 0 and 2 look alike; image 1 has no face.
        let score = |a: usize, b: usize| match (a.min(b), a.max(b)) {
            (1, _) | (_, 1) => None,
            (0, 2) => Some(0.9),
            _ => Some(0.1),
        };
        let r = fmr_within_groups(&items, 0.5, score);
        assert_eq!((r[0].group.as_str(), r[0].errors, r[0].trials), ("F", 1, 2));
        assert_eq!((r[1].group.as_str(), r[1].errors, r[1].trials), ("M", 0, 1));
    }

    #[test]
    fn per_template_fmr_uses_each_templates_own_threshold() {
        let items: Vec<(String, String, usize)> =
            [("F", "ann", 0), ("F", "eve", 1), ("F", "liv", 2)]
                .iter()
                .map(|(g, i, k)| (g.to_string(), i.to_string(), *k))
                .collect();
        // Every pair scores 0.6; template 0 is strict (0.7), the others lax (0.5).
        let threshold = |t: usize| Some(if t == 0 { 0.7 } else { 0.5 });
        let r = fmr_within_groups_per_template(&items, threshold, |_, _| true, |_, _| Some(0.6));
        // Six ordered pairs; the two with template 0 do not match.
        assert_eq!((r[0].errors, r[0].trials), (4, 6));
        // Pairs that are not comparable (another fold) are not trials.
        let r =
            fmr_within_groups_per_template(&items, threshold, |a, b| a + b != 3, |_, _| Some(0.6));
        assert_eq!((r[0].errors, r[0].trials), (2, 4));
    }
}
