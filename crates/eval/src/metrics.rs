//! Verification metrics over similarity scores. A pair is accepted when its score is above the threshold.

use serde::{Deserialize, Serialize};

/// A scored pair: similarity, whether the two images show the same person, and its fold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub score: f32,
    pub same: bool,
    pub fold: usize,
}

/// Accuracy at threshold `t` (accept when `score > t`).
pub fn accuracy(pairs: &[&Scored], t: f32) -> f64 {
    if pairs.is_empty() {
        return 0.0;
    }
    let right = pairs.iter().filter(|p| (p.score > t) == p.same).count();
    right as f64 / pairs.len() as f64
}

/// The threshold that maximises accuracy on `pairs`. Candidates are midpoints between sorted scores;
/// ties go to the lowest such threshold, so the choice is deterministic.
pub fn best_threshold(pairs: &[&Scored]) -> f32 {
    let mut s: Vec<f32> = pairs.iter().map(|p| p.score).collect();
    s.sort_by(f32::total_cmp);
    s.dedup();
    let mut candidates = vec![s.first().map_or(0.0, |v| v - 1e-3)];
    candidates.extend(s.windows(2).map(|w| (w[0] + w[1]) / 2.0));
    let mut best = (f64::MIN, 0.0);
    for t in candidates {
        let a = accuracy(pairs, t);
        if a > best.0 {
            best = (a, t);
        }
    }
    best.1
}

#[derive(Debug, Clone, Serialize)]
pub struct KFold {
    pub fold_accuracies: Vec<f64>,
    pub fold_thresholds: Vec<f32>,
    pub mean: f64,
    /// Population standard deviation over folds, as the LFW literature reports it.
    pub std: f64,
}

/// k-fold accuracy: each fold is tested at the threshold chosen on the other folds. With a single fold
/// there are no other folds, and the threshold is chosen on the fold itself (a training accuracy).
pub fn kfold_accuracy(scored: &[Scored], folds: usize) -> KFold {
    let mut accs = Vec::with_capacity(folds);
    let mut thrs = Vec::with_capacity(folds);
    for k in 0..folds {
        let train: Vec<&Scored> = scored.iter().filter(|p| folds < 2 || p.fold != k).collect();
        let test: Vec<&Scored> = scored.iter().filter(|p| p.fold == k).collect();
        let t = best_threshold(&train);
        thrs.push(t);
        accs.push(accuracy(&test, t));
    }
    let n = accs.len().max(1) as f64;
    let mean = accs.iter().sum::<f64>() / n;
    let std = (accs.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n).sqrt();
    KFold {
        fold_accuracies: accs,
        fold_thresholds: thrs,
        mean,
        std,
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct TarAtFar {
    pub far_target: f64,
    /// The threshold: accept when the score is above it.
    pub threshold: f32,
    pub far: f64,
    pub tar: f64,
}

/// TAR at the largest acceptance whose FAR does not exceed `far_target`, over all pairs.
pub fn tar_at_far(genuine: &[f32], impostor: &[f32], far_target: f64) -> TarAtFar {
    let mut imp: Vec<f32> = impostor.to_vec();
    imp.sort_by(|a, b| b.total_cmp(a));
    // At most `allowed` impostors may score above the threshold.
    let allowed = (far_target * imp.len() as f64).floor() as usize;
    let threshold = imp.get(allowed).copied().unwrap_or(f32::NEG_INFINITY);
    let fa = imp.iter().filter(|&&s| s > threshold).count();
    let ta = genuine.iter().filter(|&&s| s > threshold).count();
    TarAtFar {
        far_target,
        threshold,
        far: fa as f64 / imp.len().max(1) as f64,
        tar: ta as f64 / genuine.len().max(1) as f64,
    }
}

/// One point of an ROC curve.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RocPoint {
    pub threshold: f32,
    pub far: f64,
    pub tar: f64,
}

/// ROC over every distinct score as threshold, FAR ascending.
pub fn roc(genuine: &[f32], impostor: &[f32]) -> Vec<RocPoint> {
    let mut all: Vec<(f32, bool)> = genuine
        .iter()
        .map(|&s| (s, true))
        .chain(impostor.iter().map(|&s| (s, false)))
        .collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (ng, ni) = (genuine.len().max(1) as f64, impostor.len().max(1) as f64);
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut out = vec![RocPoint {
        threshold: f32::INFINITY,
        far: 0.0,
        tar: 0.0,
    }];
    let mut i = 0;
    while i < all.len() {
        let t = all[i].0;
        while i < all.len() && all[i].0 == t {
            if all[i].1 {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        out.push(RocPoint {
            threshold: t,
            far: fp as f64 / ni,
            tar: tp as f64 / ng,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(score: f32, same: bool, fold: usize) -> Scored {
        Scored { score, same, fold }
    }

    #[test]
    fn accuracy_and_best_threshold_on_separable_data() {
        let v = [
            s(0.9, true, 0),
            s(0.8, true, 0),
            s(0.2, false, 0),
            s(0.1, false, 0),
        ];
        let r: Vec<&Scored> = v.iter().collect();
        let t = best_threshold(&r);
        assert!(t > 0.2 && t < 0.8, "{t}");
        assert_eq!(accuracy(&r, t), 1.0);
        assert_eq!(accuracy(&r, 0.85), 0.75);
    }

    #[test]
    fn kfold_uses_other_folds_threshold() {
        // Fold 0 is separable at 0.5, fold 1 puts a genuine pair at 0.4: trained on fold 0, fold 1 loses it.
        let v = [
            s(0.9, true, 0),
            s(0.6, true, 0),
            s(0.45, false, 0),
            s(0.1, false, 0),
            s(0.9, true, 1),
            s(0.4, true, 1),
            s(0.2, false, 1),
            s(0.1, false, 1),
        ];
        let k = kfold_accuracy(&v, 2);
        assert_eq!(k.fold_accuracies[1], 0.75);
        // Trained on fold 1 (threshold between 0.2 and 0.4), fold 0 misclassifies the 0.45 impostor.
        assert_eq!(k.fold_accuracies[0], 0.75);
        assert!((k.mean - 0.75).abs() < 1e-12);
        assert_eq!(k.std, 0.0);
    }

    #[test]
    fn tar_at_far_counts_allowed_impostors() {
        let imp: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect(); // 0.000 .. 0.999
        let genuine = [0.9995, 0.9975, 0.5, 0.9];
        let r = tar_at_far(&genuine, &imp, 1e-2);
        // 10 impostors (0.990..0.999) may pass: threshold is the 11th highest, 0.989.
        assert!((r.threshold - 0.989).abs() < 1e-6);
        assert!((r.far - 0.010).abs() < 1e-12);
        assert_eq!(r.tar, 0.5);
        let strict = tar_at_far(&genuine, &imp, 1e-3);
        assert!((strict.threshold - 0.998).abs() < 1e-6);
        assert_eq!(strict.tar, 0.25);
    }

    #[test]
    fn roc_is_monotone_and_complete() {
        let r = roc(&[0.9, 0.7, 0.5], &[0.6, 0.2]);
        assert_eq!(r.first().unwrap().tar, 0.0);
        let last = r.last().unwrap();
        assert_eq!((last.tar, last.far), (1.0, 1.0));
        for w in r.windows(2) {
            assert!(w[1].far >= w[0].far && w[1].tar >= w[0].tar);
        }
    }
}
