//! Per-face quality: size, detector confidence, sharpness and pose. Gates enrolment and best-frame choice.

use serde::{Deserialize, Serialize};

use crate::detector::Detection;
use crate::embedder::{AlignedFace, CROP};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// Distance between the eye centres in original pixels. ISO/IEC 19794-5 asks 60+ for enrolment;
    /// identification degrades fast under about 30.
    pub inter_eye_px: f32,
    pub detector_score: f32,
    /// Variance of the Laplacian of the aligned 112x112 grey crop. Larger is sharper; an upscaled tiny or
    /// blurred face scores low, because the crop is at a fixed scale.
    pub sharpness: f32,
    /// Head roll in degrees (eye line against the horizontal).
    pub roll_deg: f32,
    /// Horizontal offset of the nose from the eye midpoint, in inter-eye distances, roll removed.
    /// About 0 when frontal; |yaw| over ~0.35 is a strong profile.
    pub yaw: f32,
    /// Nose height between the eye line (0) and the mouth line (1), roll removed. About 0.5 when frontal.
    pub pitch: f32,
}

/// Limits used to gate enrolment and matching.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QualityGate {
    pub min_inter_eye_px: f32,
    pub min_sharpness: f32,
    pub max_abs_yaw: f32,
    pub min_detector_score: f32,
}

impl QualityGate {
    /// For reference photos: a clear, near-frontal face of useful size.
    pub const ENROLMENT: QualityGate = QualityGate {
        min_inter_eye_px: 30.0,
        min_sharpness: 20.0,
        max_abs_yaw: 0.35,
        min_detector_score: 0.7,
    };

    /// For faces in live video, before they are embedded: below it a face is a small, blurred,
    /// turned or uncertain view whose score says more about the view than the person, so it is not
    /// matched at all. Checked by `mandat bench --only quality` (`docs/benchmarks.md`): on both
    /// videos it keeps every watchlist appearance with 25-70 % fewer faces embedded, and at a
    /// looser threshold it removes half to two thirds of the false alerts. Size, pose and
    /// confidence are looser than for enrolment; in one-off runs a size floor of 24 px lost 2 of
    /// 13 appearances on the synthetic video.
    pub const MATCH: QualityGate = QualityGate {
        min_inter_eye_px: 16.0,
        min_sharpness: 20.0,
        max_abs_yaw: 0.5,
        min_detector_score: 0.7,
    };

    /// Whether the face passes: exactly when [`QualityGate::failures`] is empty.
    pub fn passes(&self, q: &Quality) -> bool {
        self.failures(q).is_empty()
    }

    /// Reasons the face fails this gate, in words; empty when it passes.
    pub fn failures(&self, q: &Quality) -> Vec<String> {
        self.faults(q).iter().map(GateFault::to_string).collect()
    }

    /// Each measure that fails this gate, with its value and limit; empty when it passes.
    pub fn faults(&self, q: &Quality) -> Vec<GateFault> {
        let mut out = Vec::new();
        let mut check = |ok: bool, measure, value, limit| {
            if !ok {
                out.push(GateFault {
                    measure,
                    value,
                    limit,
                });
            }
        };
        // Negated so that a value that is not a number fails with a reason, never passes.
        check(
            at_least(q.inter_eye_px, self.min_inter_eye_px),
            Measure::InterEyePx,
            q.inter_eye_px,
            self.min_inter_eye_px,
        );
        check(
            at_least(q.sharpness, self.min_sharpness),
            Measure::Sharpness,
            q.sharpness,
            self.min_sharpness,
        );
        check(
            at_least(self.max_abs_yaw, q.yaw.abs()),
            Measure::Yaw,
            q.yaw,
            self.max_abs_yaw,
        );
        check(
            at_least(q.detector_score, self.min_detector_score),
            Measure::DetectorScore,
            q.detector_score,
            self.min_detector_score,
        );
        out
    }
}

/// A measure the quality gate checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    InterEyePx,
    Sharpness,
    /// Checked as an absolute value against the limit.
    Yaw,
    DetectorScore,
}

impl Measure {
    /// The measure's stable name, as the API and the pages give it.
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::InterEyePx => "inter_eye_px",
            Measure::Sharpness => "sharpness",
            Measure::Yaw => "yaw",
            Measure::DetectorScore => "detector_score",
        }
    }
}

/// One measure that failed the gate: its value and the limit it missed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateFault {
    pub measure: Measure,
    pub value: f32,
    pub limit: f32,
}

impl std::fmt::Display for GateFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (v, l) = (self.value, self.limit);
        match self.measure {
            Measure::InterEyePx => {
                write!(
                    f,
                    "eyes are {v:.0} px apart, under the minimum of {l:.0} px"
                )
            }
            Measure::Sharpness => write!(
                f,
                "sharpness {v:.1} is under the minimum of {l:.1} (blurred or too small)"
            ),
            Measure::Yaw => write!(f, "head turned too far (yaw {v:.2}, limit {l:.2})"),
            Measure::DetectorScore => write!(f, "detector confidence {v:.2} under {l:.2}"),
        }
    }
}

/// `v >= min`, false when either is not a number.
fn at_least(v: f32, min: f32) -> bool {
    v >= min
}

/// Geometry-only quality (no pixels): size and pose.
pub fn pose(det: &Detection) -> (f32, f32, f32, f32) {
    let [le, re, nose, ml, mr] = det.landmarks;
    let (dx, dy) = (re[0] - le[0], re[1] - le[1]);
    let ied = (dx * dx + dy * dy).sqrt();
    let roll = dy.atan2(dx);
    // Rotate into the eye-line frame.
    let (s, c) = (-roll).sin_cos();
    let rot = |p: [f32; 2]| [p[0] * c - p[1] * s, p[0] * s + p[1] * c];
    let (le, re, nose) = (rot(le), rot(re), rot(nose));
    let mouth = {
        let (a, b) = (rot(ml), rot(mr));
        [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0]
    };
    let eye_mid = [(le[0] + re[0]) / 2.0, (le[1] + re[1]) / 2.0];
    let yaw = if ied > 0.0 {
        (nose[0] - eye_mid[0]) / ied
    } else {
        0.0
    };
    let span = mouth[1] - eye_mid[1];
    let pitch = if span.abs() > 1e-6 {
        (nose[1] - eye_mid[1]) / span
    } else {
        0.5
    };
    (ied, roll.to_degrees(), yaw, pitch)
}

/// Variance of the 4-neighbour Laplacian over the grey aligned crop (interior pixels).
pub fn sharpness(face: &AlignedFace) -> f32 {
    let plane = CROP * CROP;
    let p = &face.pixels;
    let grey = |i: usize| 0.299 * p[i] + 0.587 * p[plane + i] + 0.114 * p[2 * plane + i];
    let (mut sum, mut sum2, mut n) = (0.0f64, 0.0f64, 0.0f64);
    for y in 1..CROP - 1 {
        for x in 1..CROP - 1 {
            let i = y * CROP + x;
            let l = grey(i - 1) + grey(i + 1) + grey(i - CROP) + grey(i + CROP) - 4.0 * grey(i);
            sum += l as f64;
            sum2 += (l as f64) * (l as f64);
            n += 1.0;
        }
    }
    let mean = sum / n;
    (sum2 / n - mean * mean).max(0.0) as f32
}

pub fn assess(det: &Detection, face: &AlignedFace) -> Quality {
    let (inter_eye_px, roll_deg, yaw, pitch) = pose(det);
    Quality {
        inter_eye_px,
        detector_score: det.score,
        sharpness: sharpness(face),
        roll_deg,
        yaw,
        pitch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::align::ARCFACE_112;
    use crate::geometry::BBox;

    #[test]
    fn a_face_passes_exactly_when_it_has_no_failure() {
        let good = Quality {
            inter_eye_px: 30.0,
            detector_score: 0.9,
            sharpness: 40.0,
            roll_deg: 0.0,
            yaw: 0.1,
            pitch: 0.5,
        };
        let g = QualityGate::MATCH;
        assert!(g.passes(&good) && g.failures(&good).is_empty());
        for bad in [
            Quality {
                inter_eye_px: 15.0,
                ..good
            },
            Quality {
                sharpness: 19.0,
                ..good
            },
            Quality { yaw: -0.6, ..good },
            Quality {
                detector_score: 0.5,
                ..good
            },
            // Not a number never passes, and says why.
            Quality {
                sharpness: f32::NAN,
                ..good
            },
            Quality {
                yaw: f32::NAN,
                ..good
            },
        ] {
            assert!(!g.passes(&bad), "{bad:?}");
            assert_eq!(g.failures(&bad).len(), 1, "{bad:?}");
        }
        // The live gate is looser than enrolment's in size and pose.
        let e = QualityGate::ENROLMENT;
        assert!(g.min_inter_eye_px < e.min_inter_eye_px && g.max_abs_yaw > e.max_abs_yaw);
    }

    fn det(landmarks: [[f32; 2]; 5]) -> Detection {
        Detection {
            bbox: BBox {
                x1: 0.0,
                y1: 0.0,
                x2: 112.0,
                y2: 112.0,
            },
            score: 0.9,
            landmarks,
        }
    }

    #[test]
    fn template_is_frontal() {
        let (ied, roll, yaw, pitch) = pose(&det(ARCFACE_112));
        assert!((ied - 35.24).abs() < 0.01, "{ied}");
        assert!(roll.abs() < 0.5);
        assert!(yaw.abs() < 0.05, "{yaw}");
        assert!((pitch - 0.5).abs() < 0.1, "{pitch}");
    }

    #[test]
    fn rotation_changes_roll_not_yaw() {
        let a = 30f32.to_radians();
        let (s, c) = a.sin_cos();
        let rotated = ARCFACE_112.map(|p| [p[0] * c - p[1] * s, p[0] * s + p[1] * c]);
        let (ied, roll, yaw, _) = pose(&det(rotated));
        assert!((roll - 30.0).abs() < 0.5, "{roll}");
        assert!(yaw.abs() < 0.05);
        assert!((ied - 35.24).abs() < 0.01);
    }

    #[test]
    fn turned_head_has_yaw() {
        let mut lm = ARCFACE_112;
        lm[2][0] += 15.0; // nose far to the right
        let (_, _, yaw, _) = pose(&det(lm));
        assert!(yaw > 0.35);
        let q = Quality {
            inter_eye_px: 80.0,
            detector_score: 0.9,
            sharpness: 100.0,
            roll_deg: 0.0,
            yaw,
            pitch: 0.5,
        };
        let f = QualityGate::ENROLMENT.failures(&q);
        assert_eq!(f.len(), 1);
        assert!(f[0].contains("turned"));
    }

    #[test]
    fn flat_crop_has_zero_sharpness_and_edges_score() {
        let flat = AlignedFace {
            pixels: vec![128.0; 3 * CROP * CROP],
            transform: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        };
        assert_eq!(sharpness(&flat), 0.0);
        let mut checker = vec![0.0; 3 * CROP * CROP];
        for (i, v) in checker.iter_mut().enumerate() {
            let (x, y) = (i % CROP, (i / CROP) % CROP);
            *v = if (x + y) % 2 == 0 { 255.0 } else { 0.0 };
        }
        let sharp = AlignedFace {
            pixels: checker,
            transform: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        };
        assert!(sharpness(&sharp) > 1000.0);
    }
}
