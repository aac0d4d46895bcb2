//! LFW View 2: `pairs.txt`, 10 folds of 300 matched and 300 mismatched pairs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::EvalError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub fold: usize,
    pub a: String,
    pub b: String,
    pub same: bool,
}

#[derive(Debug, Clone)]
pub struct Protocol {
    pub folds: usize,
    pub pairs: Vec<Pair>,
}

/// `Name_0004.jpg` under `Name/`.
pub fn image_rel(name: &str, n: u32) -> String {
    format!("{name}/{name}_{n:04}.jpg")
}

impl Protocol {
    pub fn parse(text: &str, path: &str) -> Result<Self, EvalError> {
        let err = |line: usize, message: String| EvalError::Parse {
            path: path.to_string(),
            line,
            message,
        };
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let (_, head) = lines.next().ok_or_else(|| err(1, "empty file".into()))?;
        let nums: Vec<usize> = head
            .split_whitespace()
            .map(|t| t.parse::<usize>())
            .collect::<Result<_, _>>()
            .map_err(|e| err(1, format!("header: {e}")))?;
        let [folds, per] = nums[..] else {
            return Err(err(1, "header must be `<folds> <pairs per class>`".into()));
        };
        let mut pairs = Vec::with_capacity(folds * per * 2);
        for fold in 0..folds {
            for same in [true, false] {
                for _ in 0..per {
                    let (i, l) = lines
                        .next()
                        .ok_or_else(|| err(0, format!("file ends inside fold {fold}")))?;
                    let t: Vec<&str> = l.split_whitespace().collect();
                    let num = |s: &str| {
                        s.parse::<u32>()
                            .map_err(|e| err(i + 1, format!("image number {s:?}: {e}")))
                    };
                    let pair = match (same, t.as_slice()) {
                        (true, [name, n1, n2]) => Pair {
                            fold,
                            a: image_rel(name, num(n1)?),
                            b: image_rel(name, num(n2)?),
                            same,
                        },
                        (false, [n1, i1, n2, i2]) => Pair {
                            fold,
                            a: image_rel(n1, num(i1)?),
                            b: image_rel(n2, num(i2)?),
                            same,
                        },
                        _ => {
                            return Err(err(
                                i + 1,
                                format!(
                                    "expected a {} pair, got {l:?}",
                                    if same { "matched" } else { "mismatched" }
                                ),
                            ));
                        }
                    };
                    pairs.push(pair);
                }
            }
        }
        Ok(Self { folds, pairs })
    }

    pub fn load(path: &Path) -> Result<Self, EvalError> {
        let text = std::fs::read_to_string(path).map_err(|source| EvalError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Keep only the first `n` folds (for quick CI runs).
    pub fn first_folds(mut self, n: usize) -> Self {
        self.pairs.retain(|p| p.fold < n);
        self.folds = self.folds.min(n);
        self
    }

    /// Every image the pairs name, sorted, each once.
    pub fn images(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self
            .pairs
            .iter()
            .flat_map(|p| [p.a.as_str(), p.b.as_str()])
            .collect();
        set.into_iter().map(str::to_string).collect()
    }
}

/// Layout of the LFW data directory.
pub fn images_dir(lfw_root: &Path) -> PathBuf {
    lfw_root.join("lfw-deepfunneled")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "2\t1\nAbel\t1\t4\nAbel\t1\tBob\t2\nCarl\t2\t3\nDan\t1\tEve\t1\n";

    #[test]
    fn parses_folds_and_pairs() {
        let p = Protocol::parse(SMALL, "pairs.txt").unwrap();
        assert_eq!(p.folds, 2);
        assert_eq!(p.pairs.len(), 4);
        assert_eq!(
            p.pairs[0],
            Pair {
                fold: 0,
                a: "Abel/Abel_0001.jpg".into(),
                b: "Abel/Abel_0004.jpg".into(),
                same: true
            }
        );
        assert!(!p.pairs[1].same);
        assert_eq!(p.pairs[1].b, "Bob/Bob_0002.jpg");
        assert_eq!(p.pairs[3].fold, 1);
        assert_eq!(p.images().len(), 7);
        assert_eq!(p.clone().first_folds(1).pairs.len(), 2);
    }

    #[test]
    fn rejects_malformed() {
        assert!(Protocol::parse("", "x").is_err());
        assert!(Protocol::parse("1\t1\nAbel\t1\n", "x").is_err());
        let e = Protocol::parse("1\t1\nAbel\tone\t2\nA\t1\tB\t1\n", "x").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        assert!(Protocol::parse("1\t1\nAbel\t1\t2\n", "x").is_err());
    }
}
