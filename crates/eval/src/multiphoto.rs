//! Several reference photos of one person: how a face is matched against all of them.
//!
//! Three rules, compared at the same false-positive rate: the **highest** score over the photos
//! (each photo a template of its own), the **mean of the scores**, and the score against the
//! **mean template** (the photos' templates averaged and normalised again). Each rule's threshold
//! is set from the same impostors at the same rate, so a rule that lets strangers through more
//! often pays for it with a stricter threshold, and the genuine rate (TPIR) at that threshold is
//! the figure to compare. The caller supplies L2-normalised templates; nothing here runs a model.

use serde::{Deserialize, Serialize};

use crate::demographic::wilson;

/// How one face is scored against a person's photos.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fusion {
    /// The highest of the photos' scores: what matching each photo as its own template gives.
    Max,
    /// The mean of the photos' scores.
    MeanScore,
    /// The score against the normalised mean of the photos' templates.
    MeanTemplate,
}

impl Fusion {
    pub const ALL: [Fusion; 3] = [Fusion::Max, Fusion::MeanScore, Fusion::MeanTemplate];

    pub fn as_str(self) -> &'static str {
        match self {
            Fusion::Max => "highest score",
            Fusion::MeanScore => "mean of scores",
            Fusion::MeanTemplate => "mean template",
        }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The normalised mean of `templates` (all of one length); `None` for none, or when they cancel
/// out.
pub fn mean_template(templates: &[&[f32]]) -> Option<Vec<f32>> {
    let first = templates.first()?;
    let mut sum = vec![0f32; first.len()];
    for t in templates {
        if t.len() != sum.len() {
            return None;
        }
        for (s, v) in sum.iter_mut().zip(t.iter()) {
            *s += v;
        }
    }
    let norm = dot(&sum, &sum).sqrt();
    (norm.is_finite() && norm > 1e-6).then(|| sum.iter().map(|v| v / norm).collect())
}

/// A person's photos as one gallery entry, ready to score faces against under any rule.
pub struct Gallery<'a> {
    photos: Vec<&'a [f32]>,
    mean: Vec<f32>,
}

impl<'a> Gallery<'a> {
    /// `None` without photos or when their mean is degenerate.
    pub fn new(photos: Vec<&'a [f32]>) -> Option<Self> {
        let mean = mean_template(&photos)?;
        Some(Self { photos, mean })
    }

    pub fn score(&self, fusion: Fusion, probe: &[f32]) -> f32 {
        match fusion {
            Fusion::Max => self
                .photos
                .iter()
                .map(|p| dot(p, probe))
                .fold(f32::NEG_INFINITY, f32::max),
            Fusion::MeanScore => {
                self.photos.iter().map(|p| dot(p, probe)).sum::<f32>() / self.photos.len() as f32
            }
            Fusion::MeanTemplate => dot(&self.mean, probe),
        }
    }
}

/// One enrolled person of the comparison: photos to enrol (at least as many as the largest
/// gallery compared) and other photos of the same person as genuine probes.
#[derive(Debug, Clone)]
pub struct Person {
    pub photos: Vec<usize>,
    pub probes: Vec<usize>,
}

/// A person's photos and genuine probes, as templates.
type PhotosAndProbes<'a> = (Vec<&'a [f32]>, Vec<&'a [f32]>);

/// One rule with `photos` photos per person, at one rate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FusionPoint {
    pub photos: u32,
    pub fusion: Fusion,
    /// Target false match rate per (person, stranger) pair: a watchlist of one.
    pub fpir: f64,
    /// The threshold at which the impostors alarm at `fpir`.
    pub threshold: f32,
    pub genuine: u64,
    pub hits: u64,
    pub tpir: f64,
    /// Wilson score interval, 95 %.
    pub ci95: (f64, f64),
}

/// The comparison: for 1..=`max_photos` photos and each rule (one photo: one rule), the threshold
/// at each rate in `fpirs` from the scores of every person against every impostor, and the share
/// of the person's genuine probes above it. Every setting meets the same probes and impostors.
/// `faces[i]` is image i's normalised template, `None` when it has none; persons with too few
/// photos with a face (or whose photos cancel out) are left out, and so are probes and impostors
/// without one. Empty without impostors or persons.
pub fn compare(
    persons: &[Person],
    impostors: &[usize],
    faces: &[Option<&[f32]>],
    max_photos: usize,
    fpirs: &[f64],
) -> Vec<FusionPoint> {
    let face = |i: usize| faces.get(i).copied().flatten();
    let persons: Vec<PhotosAndProbes> = persons
        .iter()
        .filter_map(|p| {
            let photos: Vec<&[f32]> = p.photos.iter().filter_map(|&i| face(i)).collect();
            let probes: Vec<&[f32]> = p.probes.iter().filter_map(|&i| face(i)).collect();
            // Only persons whose gallery builds for every count, so every row meets them all.
            let builds = (1..=max_photos).all(|k| {
                photos
                    .get(..k)
                    .is_some_and(|p| Gallery::new(p.to_vec()).is_some())
            });
            (builds && !probes.is_empty()).then_some((photos, probes))
        })
        .collect();
    let impostors: Vec<&[f32]> = impostors.iter().filter_map(|&i| face(i)).collect();
    let mut out = Vec::new();
    if impostors.is_empty() || persons.is_empty() {
        // No rate can be set without strangers, and nothing found without persons.
        return out;
    }
    for k in 1..=max_photos {
        let rules: &[Fusion] = if k == 1 { &[Fusion::Max] } else { &Fusion::ALL };
        let galleries: Vec<Gallery> = persons
            .iter()
            .map(|(photos, _)| Gallery::new(photos[..k].to_vec()).expect("checked above"))
            .collect();
        for &fusion in rules {
            let mut imp: Vec<f32> = galleries
                .iter()
                .flat_map(|g| impostors.iter().map(move |p| g.score(fusion, p)))
                .collect();
            imp.sort_by(|a, b| b.total_cmp(a));
            let genuine: Vec<f32> = galleries
                .iter()
                .zip(&persons)
                .flat_map(|(g, (_, probes))| probes.iter().map(move |p| g.score(fusion, p)))
                .collect();
            for &fpir in fpirs {
                let allowed = (fpir * imp.len() as f64).floor() as usize;
                let threshold = imp.get(allowed).copied().unwrap_or(f32::NEG_INFINITY);
                let hits = genuine.iter().filter(|&&s| s > threshold).count() as u64;
                let n = genuine.len() as u64;
                out.push(FusionPoint {
                    photos: k as u32,
                    fusion,
                    fpir,
                    threshold,
                    genuine: n,
                    hits,
                    tpir: hits as f64 / n.max(1) as f64,
                    ci95: wilson(hits, n),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = dot(v, v).sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn the_three_rules_on_known_vectors() {
        let a = unit(&[1.0, 0.0, 0.0]);
        let b = unit(&[0.0, 1.0, 0.0]);
        let g = Gallery::new(vec![&a, &b]).unwrap();
        let probe = unit(&[1.0, 1.0, 0.0]);
        let h = std::f32::consts::FRAC_1_SQRT_2;
        assert!((g.score(Fusion::Max, &probe) - h).abs() < 1e-6);
        assert!((g.score(Fusion::MeanScore, &probe) - h).abs() < 1e-6);
        // The mean template points at the probe.
        assert!((g.score(Fusion::MeanTemplate, &probe) - 1.0).abs() < 1e-6);
        let only_a = unit(&[1.0, 0.0, 0.0]);
        assert!((g.score(Fusion::Max, &only_a) - 1.0).abs() < 1e-6);
        assert!((g.score(Fusion::MeanScore, &only_a) - 0.5).abs() < 1e-6);
        assert!((g.score(Fusion::MeanTemplate, &only_a) - h).abs() < 1e-6);
        // Opposite photos cancel out: no gallery rather than a zero vector that matches nothing.
        let minus_a = unit(&[-1.0, 0.0, 0.0]);
        assert!(Gallery::new(vec![&a, &minus_a]).is_none());
        assert!(Gallery::new(vec![]).is_none());
        assert_eq!(mean_template(&[&a, &[1.0, 0.0][..]]), None);
    }

    #[test]
    fn each_rule_gets_its_threshold_from_the_same_impostors() {
        // Two persons, two photos each, in 2-d: a person's photos lie either side of its probe.
        let ang = |deg: f32| vec![deg.to_radians().cos(), deg.to_radians().sin()];
        let faces: Vec<Vec<f32>> = vec![
            ang(0.0),   // 0: person 1, photo
            ang(20.0),  // 1: person 1, photo
            ang(10.0),  // 2: person 1, probe
            ang(90.0),  // 3: person 2, photo
            ang(110.0), // 4: person 2, photo
            ang(100.0), // 5: person 2, probe
            ang(-30.0), // 6..: impostors
            ang(200.0),
            ang(50.0),
            ang(300.0),
        ];
        let refs: Vec<Option<&[f32]>> = faces.iter().map(|f| Some(f.as_slice())).collect();
        let persons = vec![
            Person {
                photos: vec![0, 1],
                probes: vec![2],
            },
            Person {
                photos: vec![3, 4],
                probes: vec![5],
            },
        ];
        let out = compare(&persons, &[6, 7, 8, 9], &refs, 2, &[0.0, 0.5]);
        // One photo: one rule; two photos: three; two rates each.
        assert_eq!(out.len(), 2 * (1 + 3));
        let at = |k: u32, f: Fusion, fpir: f64| {
            out.iter()
                .find(|p| p.photos == k && p.fusion == f && p.fpir == fpir)
                .unwrap()
                .clone()
        };
        // FPIR 0: the threshold is the highest impostor score. One photo: person 1's photo at 0°
        // meets the impostor at -30° (cos 30°), person 2's at 90° the one at 50° (cos 40°).
        let single = at(1, Fusion::Max, 0.0);
        assert!((single.threshold - 30f32.to_radians().cos()).abs() < 1e-6);
        // Both probes lie 10° off (cos 10° > cos 30°): both found.
        assert_eq!((single.hits, single.genuine), (2, 2));
        // The mean template of two photos 20° apart lies on the probe: score 1. Its nearest
        // impostor: person 1's mean (10°) against -30° (cos 40°), person 2's (100°) against 50°
        // (cos 50°): the threshold is cos 40°.
        let mean = at(2, Fusion::MeanTemplate, 0.0);
        assert!((mean.threshold - 40f32.to_radians().cos()).abs() < 1e-6);
        assert_eq!(mean.hits, 2);
        // Max over two photos: the nearest impostor (-30°) meets photo 0° at cos 30°.
        let max = at(2, Fusion::Max, 0.0);
        assert!((max.threshold - 30f32.to_radians().cos()).abs() < 1e-6);
        // 8 impostor pairs at FPIR 0.5: the threshold is the 5th highest score, so 4 are above.
        let half = at(2, Fusion::MeanScore, 0.5);
        assert!(half.threshold < max.threshold);
        assert!((half.tpir - 1.0).abs() < 1e-12 && half.ci95.1 == 1.0);
    }

    #[test]
    fn persons_without_enough_photos_with_a_face_are_left_out() {
        let a = vec![1.0f32, 0.0];
        let b = vec![0.0f32, 1.0];
        let faces: Vec<Option<&[f32]>> = vec![Some(&a), None, Some(&a), Some(&b)];
        let persons = vec![Person {
            photos: vec![0, 1],
            probes: vec![2],
        }];
        // Photo 1 has no face: with two photos asked for, nobody is compared.
        assert!(compare(&persons, &[3], &faces, 2, &[0.0]).is_empty());
        // Photos that cancel out leave that person out, not another person's probes misread.
        let minus_a = vec![-1.0f32, 0.0];
        let faces: Vec<Option<&[f32]>> = vec![
            Some(&a),
            Some(&minus_a),
            Some(&a),
            Some(&b),
            Some(&b),
            Some(&a),
            Some(&b),
        ];
        let persons = vec![
            Person {
                photos: vec![0, 1],
                probes: vec![2],
            },
            Person {
                photos: vec![3, 4],
                probes: vec![6],
            },
        ];
        let out = compare(&persons, &[5], &faces, 2, &[0.0]);
        assert!(out.iter().all(|p| p.genuine == 1), "{out:?}");
        // Person 2's probe is its own photo: found by every rule above the stranger's score 0.
        assert!(out.iter().all(|p| p.hits == 1), "{out:?}");
        // No strangers, no rate.
        assert!(compare(&persons, &[], &faces, 2, &[0.0]).is_empty());
    }
}
