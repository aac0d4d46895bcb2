//! Open-set identification on LFW with the BLUFR protocol (Liao et al., IJCB 2014): 10 trials, each
//! a gallery of 1,000 people and probes that are either in the gallery (genuine) or not (impostor).
//!
//! The figure is the detection-and-identification rate (DIR) at rank 1 at a false-positive
//! identification rate (FPIR): the share of genuine probes whose best gallery match is the right
//! person and scores above the threshold at which only that share of impostor probes alarms.
//! BLUFR asks for the mean minus the standard deviation over the trials.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Serialize;

use crate::EvalError;
use crate::metrics::RocPoint;

/// The protocol: every LFW image with its class, and the trials' gallery and probe sets.
#[derive(Debug, Clone)]
pub struct Blufr {
    /// `Name/Name_0001.jpg`, in `image_list.txt` order.
    pub images: Vec<String>,
    /// Class of each image (1..=5749).
    pub labels: Vec<u32>,
    pub trials: Vec<Trial>,
}

/// One trial, as indexes into [`Blufr::images`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trial {
    pub gallery: Vec<usize>,
    pub probes: Vec<usize>,
}

fn read(path: &Path) -> Result<String, EvalError> {
    std::fs::read_to_string(path).map_err(|source| EvalError::Read {
        path: path.display().to_string(),
        source,
    })
}

impl Blufr {
    /// Reads `list/lfw/{image_list,labels,gallery_set,probe_set}.txt` under `dir` (the `blufr` folder).
    pub fn load(dir: &Path) -> Result<Self, EvalError> {
        let list = dir.join("list/lfw");
        let text = |f: &str| read(&list.join(f)).map(|t| (t, list.join(f).display().to_string()));
        let (images, _) = text("image_list.txt")?;
        let (labels, lp) = text("labels.txt")?;
        let (gallery, gp) = text("gallery_set.txt")?;
        let (probes, pp) = text("probe_set.txt")?;
        Self::parse(&images, (&labels, &lp), (&gallery, &gp), (&probes, &pp))
    }

    pub fn parse(
        image_list: &str,
        labels: (&str, &str),
        gallery: (&str, &str),
        probes: (&str, &str),
    ) -> Result<Self, EvalError> {
        let images: Vec<String> = image_list
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|f| {
                // Name_0001.jpg lives in Name/.
                let person = f.rsplit_once('_').map_or(f, |(p, _)| p);
                format!("{person}/{f}")
            })
            .collect();
        let lab: Vec<u32> = labels
            .0
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .enumerate()
            .map(|(i, l)| {
                l.parse().map_err(|e| EvalError::Parse {
                    path: labels.1.into(),
                    line: i + 1,
                    message: format!("label {l:?}: {e}"),
                })
            })
            .collect::<Result<_, _>>()?;
        if lab.len() != images.len() {
            return Err(EvalError::Parse {
                path: labels.1.into(),
                line: 0,
                message: format!("{} labels for {} images", lab.len(), images.len()),
            });
        }
        let index: HashMap<&str, usize> = images
            .iter()
            .enumerate()
            .map(|(i, p)| (p.rsplit('/').next().unwrap_or(p), i))
            .collect();
        let g = sets(gallery, &index)?;
        let p = sets(probes, &index)?;
        if g.len() != p.len() {
            return Err(EvalError::Parse {
                path: probes.1.into(),
                line: 0,
                message: format!("{} gallery trials but {} probe trials", g.len(), p.len()),
            });
        }
        let trials = g
            .into_iter()
            .zip(p)
            .map(|(gallery, probes)| Trial { gallery, probes })
            .collect();
        Ok(Self {
            images,
            labels: lab,
            trials,
        })
    }
}

/// A BLUFR set file: the number of trials, then per trial a count and `index, file` lines.
fn sets(
    (text, path): (&str, &str),
    index: &HashMap<&str, usize>,
) -> Result<Vec<Vec<usize>>, EvalError> {
    let err = |line: usize, message: String| EvalError::Parse {
        path: path.into(),
        line,
        message,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty());
    let (i, l) = lines.next().ok_or_else(|| err(1, "empty file".into()))?;
    let trials: usize = l
        .parse()
        .map_err(|e| err(i, format!("number of trials {l:?}: {e}")))?;
    let mut out = Vec::with_capacity(trials);
    for t in 0..trials {
        let (i, l) = lines
            .next()
            .ok_or_else(|| err(0, format!("file ends before trial {}", t + 1)))?;
        let n: usize = l
            .parse()
            .map_err(|e| err(i, format!("size of trial {}: {l:?}: {e}", t + 1)))?;
        let mut set = Vec::with_capacity(n);
        for _ in 0..n {
            let (i, l) = lines
                .next()
                .ok_or_else(|| err(0, format!("file ends inside trial {}", t + 1)))?;
            // `n, file`: the file's 1-based position in image_list.txt.
            let (num, file) = l
                .split_once(',')
                .ok_or_else(|| err(i, format!("expected `index, file`, got {l:?}")))?;
            let num: usize = num
                .trim()
                .parse()
                .map_err(|e| err(i, format!("image index {num:?}: {e}")))?;
            let &k = index
                .get(file.trim())
                .ok_or_else(|| err(i, format!("{} is not in image_list.txt", file.trim())))?;
            if k + 1 != num {
                return Err(err(
                    i,
                    format!(
                        "{} is image {} in image_list.txt, not {num}",
                        file.trim(),
                        k + 1
                    ),
                ));
            }
            set.push(k);
        }
        out.push(set);
    }
    Ok(out)
}

/// One trial's result.
#[derive(Debug, Clone, Serialize)]
pub struct TrialResult {
    pub genuine_probes: usize,
    pub impostor_probes: usize,
    /// (FPIR target, threshold, DIR at rank 1), one per target asked for.
    pub dir: Vec<(f64, f32, f64)>,
    /// DIR against FPIR over every threshold, for the plot (FPIR in `far`, DIR in `tar`).
    #[serde(skip)]
    pub curve: Vec<RocPoint>,
}

/// Runs one trial. `score(probe, gallery)` is the similarity of two images, `None` when either
/// has no face; a probe without a face is never detected (it scores -1 against everyone).
pub fn run_trial(
    trial: &Trial,
    labels: &[u32],
    fpirs: &[f64],
    score: impl Fn(usize, usize) -> Option<f32> + Sync,
) -> TrialResult {
    let gallery: Vec<(u32, usize)> = trial.gallery.iter().map(|&g| (labels[g], g)).collect();
    run_grouped(&gallery, &trial.probes, labels, fpirs, |p, &g| score(p, g))
}

/// A trial whose gallery persons have several photos where the trial holds them: each gallery
/// image's class takes up to `extra` of its genuine probes (in trial order) into its gallery
/// entry, and they leave the probes. Returns the entries (class, photos) and the probes left.
pub fn multi_photo(
    trial: &Trial,
    labels: &[u32],
    extra: usize,
) -> (Vec<(u32, Vec<usize>)>, Vec<usize>) {
    let mut gallery: Vec<(u32, Vec<usize>)> = trial
        .gallery
        .iter()
        .map(|&g| (labels[g], vec![g]))
        .collect();
    let at: HashMap<u32, usize> = gallery
        .iter()
        .enumerate()
        .map(|(k, (l, _))| (*l, k))
        .collect();
    let mut probes = Vec::with_capacity(trial.probes.len());
    for &p in &trial.probes {
        match at.get(&labels[p]) {
            Some(&k) if gallery[k].1.len() <= extra => gallery[k].1.push(p),
            _ => probes.push(p),
        }
    }
    (gallery, probes)
}

/// Runs one trial with any gallery entries: `gallery[k]` is (class, entry), `score(probe, entry)`
/// the probe's similarity to the entry, `None` when it cannot be scored (scores -1).
pub fn run_grouped<G>(
    gallery: &[(u32, G)],
    probes: &[usize],
    labels: &[u32],
    fpirs: &[f64],
    score: impl Fn(usize, &G) -> Option<f32>,
) -> TrialResult {
    let in_gallery: HashSet<u32> = gallery.iter().map(|(l, _)| *l).collect();
    let mut genuine: Vec<(f32, bool)> = Vec::new(); // best score, and whether rank 1 is right
    let mut impostor: Vec<f32> = Vec::new();
    for &p in probes {
        let best = gallery
            .iter()
            .map(|(l, g)| (score(p, g).unwrap_or(-1.0), *l))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let (s, l) = best.unwrap_or((-1.0, 0));
        if in_gallery.contains(&labels[p]) {
            genuine.push((s, l == labels[p]));
        } else {
            impostor.push(s);
        }
    }
    impostor.sort_by(|a, b| b.total_cmp(a));
    let dir_at = |t: f32| {
        genuine.iter().filter(|(s, right)| *right && *s > t).count() as f64
            / genuine.len().max(1) as f64
    };
    let dir = fpirs
        .iter()
        .map(|&f| {
            let allowed = (f * impostor.len() as f64).floor() as usize;
            let t = impostor.get(allowed).copied().unwrap_or(f32::NEG_INFINITY);
            (f, t, dir_at(t))
        })
        .collect();
    // The curve: one point per distinct impostor score, FPIR ascending.
    let mut curve = Vec::new();
    let n = impostor.len().max(1) as f64;
    let mut i = 0;
    while i < impostor.len() {
        let t = impostor[i];
        while i < impostor.len() && impostor[i] >= t {
            i += 1;
        }
        curve.push(RocPoint {
            threshold: t,
            far: (i - 1) as f64 / n,
            tar: dir_at(t),
        });
    }
    TrialResult {
        genuine_probes: genuine.len(),
        impostor_probes: impostor.len(),
        dir,
        curve,
    }
}

/// Mean, sample standard deviation (n − 1, as BLUFR's MATLAB code) and mean − sd.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, PartialEq)]
pub struct MeanSd {
    pub mean: f64,
    pub sd: f64,
    pub mean_minus_sd: f64,
}

pub fn mean_sd(v: &[f64]) -> MeanSd {
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = if v.len() > 1 {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    MeanSd {
        mean,
        sd,
        mean_minus_sd: mean - sd,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGES: &str =
        "Ann_0001.jpg\nAnn_0002.jpg\nBob_0001.jpg\nCid_0001.jpg\nDee_Dee_0001.jpg\n";
    const LABELS: &str = "1\n1\n2\n3\n4\n";

    #[test]
    fn parses_the_lists() {
        let b = Blufr::parse(
            IMAGES,
            (LABELS, "labels.txt"),
            ("1\n2\n1, Ann_0001.jpg\n3, Bob_0001.jpg\n", "g"),
            (
                "1\n3\n2, Ann_0002.jpg\n4, Cid_0001.jpg\n5, Dee_Dee_0001.jpg\n",
                "p",
            ),
        )
        .unwrap();
        assert_eq!(b.images[4], "Dee_Dee/Dee_Dee_0001.jpg");
        assert_eq!(
            b.trials,
            vec![Trial {
                gallery: vec![0, 2],
                probes: vec![1, 3, 4]
            }]
        );
        // An index that disagrees with image_list.txt, an unknown file and a short file are errors.
        let bad = |g: &str| Blufr::parse(IMAGES, (LABELS, "l"), (g, "g"), ("1\n0\n", "p"));
        assert!(bad("1\n1\n2, Ann_0001.jpg\n").is_err());
        assert!(bad("1\n1\n1, Zed_0001.jpg\n").is_err());
        assert!(bad("2\n1\n1, Ann_0001.jpg\n").is_err());
    }

    #[test]
    fn dir_at_fpir_counts_right_rank_one_above_the_impostor_threshold() {
        // Gallery: classes 1 and 2 (images 0, 1). Probes: three genuine (2, 3, 4), four impostors.
        let labels = [1, 2, 1, 2, 1, 9, 9, 9, 9];
        let trial = Trial {
            gallery: vec![0, 1],
            probes: vec![2, 3, 4, 5, 6, 7, 8],
        };
        // Best gallery score of each probe, and the class it points at.
        let best: HashMap<usize, (f32, usize)> = [
            (2, (0.9, 0)), // right
            (3, (0.8, 0)), // wrong person at rank 1
            (4, (0.5, 0)), // right, but low
            (5, (0.7, 1)),
            (6, (0.4, 1)),
            (7, (0.3, 0)),
            (8, (0.2, 0)),
        ]
        .into();
        let score = |p: usize, g: usize| {
            let (s, at) = best[&p];
            Some(if g == at { s } else { s - 0.1 })
        };
        let r = run_trial(&trial, &labels, &[0.0, 0.25, 0.5], score);
        assert_eq!((r.genuine_probes, r.impostor_probes), (3, 4));
        // FPIR 0: threshold at the top impostor (0.7): only probe 2 counts.
        assert_eq!(r.dir[0], (0.0, 0.7, 1.0 / 3.0));
        // FPIR 0.25: one impostor may alarm, threshold 0.4: probes 2 and 4.
        assert_eq!(r.dir[1], (0.25, 0.4, 2.0 / 3.0));
        assert_eq!(r.dir[2].1, 0.3);
        assert!(r.curve.windows(2).all(|w| w[1].far >= w[0].far));
        // The same trial with each gallery person's next genuine probe enrolled too: probe 2
        // (class 1) and 3 (class 2) move into the gallery and leave the probes.
        let (gallery, probes) = multi_photo(&trial, &labels, 1);
        assert_eq!(gallery, vec![(1, vec![0, 2]), (2, vec![1, 3])]);
        assert_eq!(probes, vec![4, 5, 6, 7, 8]);
        let r = run_grouped(&gallery, &probes, &labels, &[0.0], |p, g| {
            g.iter()
                .map(|&g| score(p, g))
                .max_by(|a, b| a.unwrap().total_cmp(&b.unwrap()))?
        });
        assert_eq!((r.genuine_probes, r.impostor_probes), (1, 4));
        let m = mean_sd(&[0.8, 0.9, 1.0]);
        assert!((m.mean - 0.9).abs() < 1e-12 && (m.sd - 0.1).abs() < 1e-12);
        assert!((m.mean_minus_sd - 0.8).abs() < 1e-12);
    }
}
