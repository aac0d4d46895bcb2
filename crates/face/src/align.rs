//! Similarity alignment of 5 landmarks onto the ArcFace 112x112 template.

/// The ArcFace template for a 112x112 crop: left eye, right eye, nose tip, left and right mouth corners.
pub const ARCFACE_112: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// Least-squares similarity (rotation, uniform scale, translation; no reflection) mapping `src` onto
/// `dst`, as Umeyama (1991). Returns `[a, b, c, d, e, f]`: `x' = a x + b y + c`, `y' = d x + e y + f`.
///
/// In 2-D the proper similarities are the complex maps `z -> s z + t`, so Umeyama's SVD solution reduces
/// to `s = sum(dst_c * conj(src_c)) / sum(|src_c|^2)` over centred points. Returns `None` when the source
/// points coincide.
pub fn umeyama(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Option<[f32; 6]> {
    let n = src.len().min(dst.len());
    if n < 2 {
        return None;
    }
    let mean = |p: &[[f32; 2]]| {
        let (sx, sy) = p[..n].iter().fold((0.0f64, 0.0f64), |(x, y), q| {
            (x + q[0] as f64, y + q[1] as f64)
        });
        (sx / n as f64, sy / n as f64)
    };
    let (msx, msy) = mean(src);
    let (mdx, mdy) = mean(dst);
    let (mut re, mut im, mut var) = (0.0f64, 0.0f64, 0.0f64);
    for i in 0..n {
        let (sx, sy) = (src[i][0] as f64 - msx, src[i][1] as f64 - msy);
        let (dx, dy) = (dst[i][0] as f64 - mdx, dst[i][1] as f64 - mdy);
        // dst * conj(src)
        re += dx * sx + dy * sy;
        im += dy * sx - dx * sy;
        var += sx * sx + sy * sy;
    }
    if var < 1e-12 {
        return None;
    }
    let (a, b) = (re / var, im / var);
    // z' = (a + ib)(x + iy) + t  =>  x' = a x - b y + tx,  y' = b x + a y + ty
    let tx = mdx - (a * msx - b * msy);
    let ty = mdy - (b * msx + a * msy);
    Some([
        a as f32, -b as f32, tx as f32, b as f32, a as f32, ty as f32,
    ])
}

/// Apply an affine map to a point.
pub fn apply(m: &[f32; 6], p: [f32; 2]) -> [f32; 2] {
    [
        m[0] * p[0] + m[1] * p[1] + m[2],
        m[3] * p[0] + m[4] * p[1] + m[5],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn similarity(scale: f32, theta: f32, tx: f32, ty: f32) -> [f32; 6] {
        let (s, c) = theta.sin_cos();
        [scale * c, -scale * s, tx, scale * s, scale * c, ty]
    }

    #[test]
    fn recovers_a_known_transform() {
        let m = similarity(0.7, 0.3, 12.0, -4.0);
        let src = [
            [100.0, 120.0],
            [150.0, 118.0],
            [126.0, 150.0],
            [105.0, 175.0],
            [148.0, 176.0],
        ];
        let dst: Vec<[f32; 2]> = src.iter().map(|&p| apply(&m, p)).collect();
        let got = umeyama(&src, &dst).unwrap();
        for (g, w) in got.iter().zip(m.iter()) {
            assert!((g - w).abs() < 1e-3, "{got:?} vs {m:?}");
        }
    }

    #[test]
    fn template_onto_itself_is_identity() {
        let got = umeyama(&ARCFACE_112, &ARCFACE_112).unwrap();
        let id = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
        for (g, w) in got.iter().zip(id.iter()) {
            assert!((g - w).abs() < 1e-5);
        }
    }

    #[test]
    fn never_reflects() {
        // A mirrored template: the best proper similarity has positive determinant.
        let mirrored: Vec<[f32; 2]> = ARCFACE_112.iter().map(|p| [112.0 - p[0], p[1]]).collect();
        let m = umeyama(&mirrored, &ARCFACE_112).unwrap();
        assert!(m[0] * m[4] - m[1] * m[3] >= 0.0);
    }

    #[test]
    fn degenerate_points_give_none() {
        assert!(umeyama(&[[1.0, 1.0]; 5], &ARCFACE_112).is_none());
        assert!(umeyama(&[[1.0, 1.0]], &[[2.0, 2.0]]).is_none());
    }

    proptest! {
        #[test]
        fn recovers_random_similarities(
            scale in 0.05f32..5.0, theta in -3.1f32..3.1, tx in -500f32..500.0, ty in -500f32..500.0
        ) {
            let m = similarity(scale, theta, tx, ty);
            let dst: Vec<[f32; 2]> = ARCFACE_112.iter().map(|&p| apply(&m, p)).collect();
            let got = umeyama(&ARCFACE_112, &dst).unwrap();
            // f32 rounding grows with the coordinates' magnitude.
            let tol = 1e-4 * (1.0 + tx.abs() + ty.abs() + scale * 150.0);
            for p in ARCFACE_112 {
                let (a, b) = (apply(&got, p), apply(&m, p));
                prop_assert!((a[0] - b[0]).abs() < tol && (a[1] - b[1]).abs() < tol, "{:?} vs {:?}", a, b);
            }
        }
    }
}
