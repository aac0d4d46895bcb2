//! Per-template thresholds: a permit whose target was derived with a per-template table holds each
//! designated person's template to its own cosine threshold, so that every template meets the
//! permit's target, not just the average one (AI Act art. 10(2)(f) and 15: bias and accuracy).
//!
//! A template's [`Norm`] is where it sits against an impostor cohort of strangers (computed by the
//! control plane); the permit's target records the normalised threshold `z`. The arithmetic is
//! here, once, for the scope function, the control plane and the evaluation.

use serde::{Deserialize, Serialize};

/// The smallest `top − mean` used as a scale, so a degenerate cohort cannot divide by zero.
const MIN_SPREAD: f32 = 1e-3;

/// A template's position against the cohort: two numbers, no face.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Norm {
    /// Mean of the template's highest cohort scores (its nearest strangers).
    pub top: f32,
    /// Mean of all its cohort scores.
    pub mean: f32,
}

impl Norm {
    fn spread(&self) -> f32 {
        (self.top - self.mean).max(MIN_SPREAD)
    }

    /// A cosine in the template's normalised units.
    pub fn z(&self, score: f32) -> f32 {
        (score - self.top) / self.spread()
    }

    /// The cosine threshold of normalised threshold `z`.
    pub fn cosine(&self, z: f32) -> f32 {
        self.top + z * self.spread()
    }
}

/// A template's norm against one cohort, named by the cohort's version.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateNorm {
    pub cohort: String,
    pub norm: Norm,
}

/// What the scope function asks of a template beyond carrying it: its norm, when it has one.
pub trait Normed {
    fn template_norm(&self) -> Option<&TemplateNorm>;
}

impl<T: Normed> Normed for std::sync::Arc<T> {
    fn template_norm(&self) -> Option<&TemplateNorm> {
        (**self).template_norm()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn z_and_cosine_invert_each_other() {
        let n = Norm {
            top: 0.45,
            mean: 0.05,
        };
        assert!((n.cosine(0.25) - 0.55).abs() < 1e-6);
        assert!((n.z(0.55) - 0.25).abs() < 1e-6);
        assert!((n.z(n.mean) + 1.0).abs() < 1e-6);
        // A cohort with no spread keeps z finite.
        let flat = Norm {
            top: 0.3,
            mean: 0.3,
        };
        assert!(flat.z(0.4).is_finite() && (flat.cosine(1.0) - 0.301).abs() < 1e-6);
    }
}
