//! Embeddings: L2 normalisation and cosine similarity.

use serde::{Serialize, Serializer};

pub const EMBEDDING_DIM: usize = 128;

/// A unit-length face embedding. It is biometric data: `Debug` hides it and `Drop` wipes it.
#[derive(Clone, PartialEq)]
pub struct Embedding(Box<[f32; EMBEDDING_DIM]>);

impl std::fmt::Debug for Embedding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Embedding(128-d, redacted)")
    }
}

impl Drop for Embedding {
    fn drop(&mut self) {
        wipe_f32(&mut self.0[..]);
    }
}

impl Serialize for Embedding {
    // Only the `detect --json` tool and tests serialise embeddings; nothing writes them to logs.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0[..].serialize(s)
    }
}

impl Embedding {
    /// Normalise a raw model output. A zero or non-finite vector becomes all zeros, which matches nothing.
    pub fn from_raw(raw: &[f32]) -> Self {
        let mut v = Box::new([0.0f32; EMBEDDING_DIM]);
        let n = raw.len().min(EMBEDDING_DIM);
        v[..n].copy_from_slice(&raw[..n]);
        l2_normalize(&mut v[..]);
        Embedding(v)
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.0[..]
    }

    /// Cosine similarity; both sides are unit length, so this is a dot product.
    pub fn cosine(&self, other: &Embedding) -> f32 {
        dot(self.as_slice(), other.as_slice())
    }
}

/// Scale `v` to unit length in place. Leaves a zero or non-finite vector as zeros.
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm.is_finite() && norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    } else {
        v.iter_mut().for_each(|x| *x = 0.0);
    }
}

/// Dot product, written so the compiler vectorises it: eight independent accumulators over exact
/// chunks of eight, so there are no bounds checks in the loop and the additions need no reordering.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

/// Cosine similarity of two arbitrary vectors (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (na, nb) = (dot(a, a).sqrt(), dot(b, b).sqrt());
    if na > 0.0 && nb > 0.0 && na.is_finite() && nb.is_finite() {
        dot(a, b) / (na * nb)
    } else {
        0.0
    }
}

/// Overwrite a buffer with zeros in a way the optimiser cannot remove.
pub fn wipe_f32(v: &mut [f32]) {
    for x in v.iter_mut() {
        // SAFETY: `x` is a valid, aligned, exclusive reference.
        unsafe { std::ptr::write_volatile(x, 0.0) };
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_known_vectors() {
        let mut v = [3.0, 4.0];
        l2_normalize(&mut v);
        assert_eq!(v, [0.6, 0.8]);
        let mut z = [0.0, 0.0];
        l2_normalize(&mut z);
        assert_eq!(z, [0.0, 0.0]);
        let mut bad = [f32::NAN, 1.0];
        l2_normalize(&mut bad);
        assert_eq!(bad, [0.0, 0.0]);
    }

    #[test]
    fn cosine_of_known_vectors() {
        assert!((cosine(&[1.0, 0.0], &[0.0, 1.0])).abs() < 1e-7);
        assert!((cosine(&[1.0, 1.0], &[2.0, 2.0]) - 1.0).abs() < 1e-6);
        assert!((cosine(&[1.0, 0.0], &[-3.0, 0.0]) + 1.0).abs() < 1e-6);
        assert!((cosine(&[1.0, 0.0], &[1.0, 1.0]) - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
    }

    #[test]
    fn dot_matches_naive_on_odd_lengths() {
        for n in [0usize, 1, 7, 8, 9, 128, 131] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - naive).abs() < 1e-4, "n={n}");
        }
    }

    #[test]
    fn embedding_is_unit_and_redacted_in_debug() {
        let raw: Vec<f32> = (0..EMBEDDING_DIM).map(|i| i as f32 - 60.0).collect();
        let e = Embedding::from_raw(&raw);
        assert!((e.cosine(&e) - 1.0).abs() < 1e-5);
        assert_eq!(format!("{e:?}"), "Embedding(128-d, redacted)");
    }
}
