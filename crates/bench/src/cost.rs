//! How cost grows with the work: faces per frame (1, 5, 20 LFW faces pasted on a 1080p frame) and
//! watchlist size (1 to 100,000 templates, the engine's own matching scan).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use mandat_engine::best_per_permit;
use mandat_engine::stages::thread_cpu_time;
use mandat_face::embedder::CROP;
use mandat_face::vector::{EMBEDDING_DIM, dot, l2_normalize};
use mandat_face::{AlignedFace, RgbImage, align, read_image};
use mandat_law::{WatchEntry, Watchlist};
use mandat_store::Template;
use serde_json::{Value, json};

use crate::e2e::THRESHOLD;
use mandat_options::{Models, PipelineArgs};

/// A deterministic generator for backgrounds and random templates.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// A 1920x1080 noise frame with `n` LFW photos (250x250, the face about 110 px) on a grid.
fn frame_with_faces(data: &Path, n: usize) -> Result<RgbImage> {
    let (w, h) = (1920usize, 1080usize);
    let mut rng = SplitMix(7);
    let mut px: Vec<u8> = (0..w * h * 3)
        .map(|_| 96 + (rng.next() % 64) as u8)
        .collect();
    let lfw = data.join("lfw/lfw-deepfunneled");
    let mut people: Vec<_> = std::fs::read_dir(&lfw)
        .with_context(|| format!("reading {}", lfw.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    people.sort();
    // Well-known faces the reference detector finds: people with many photos.
    people.retain(|p| std::fs::read_dir(p).map_or(0, |d| d.count()) >= 20);
    if people.len() < n {
        bail!("{} has fewer than {n} people with 20 photos", lfw.display());
    }
    let (cols, rows) = (5, 4);
    for (k, person) in people.iter().take(n).enumerate() {
        let name = person
            .file_name()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let tile = read_image(&person.join(format!("{name}_0001.jpg")))?;
        let (x0, y0) = (
            (k % cols) * (w / cols) + 60,
            (k / cols % rows) * (h / rows) + 10,
        );
        for y in 0..tile.height.min(h - y0) {
            let src = &tile.data[y * tile.width * 3..(y * tile.width + tile.width) * 3];
            let dst = ((y0 + y) * w + x0) * 3;
            px[dst..dst + src.len()].copy_from_slice(src);
        }
    }
    Ok(RgbImage::new(w, h, px)?)
}

/// Median thread CPU time of `f` over `iters` runs, in ms.
fn median_ms(iters: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut t = Vec::with_capacity(iters);
    for _ in 0..iters {
        let c = thread_cpu_time();
        f()?;
        t.push(thread_cpu_time().saturating_sub(c).as_secs_f64() * 1e3);
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

fn random_watchlist(n: usize, rng: &mut SplitMix) -> Watchlist<Arc<Template>> {
    Watchlist {
        at: None,
        entries: (0..n)
            .map(|i| {
                let mut v: Vec<f32> = (0..EMBEDDING_DIM).map(|_| rng.unit()).collect();
                l2_normalize(&mut v);
                WatchEntry {
                    permit: "bench".into(),
                    person: format!("p{i}"),
                    threshold: THRESHOLD,
                    template: Arc::new(Template {
                        id: format!("p{i}.t"),
                        values: v,
                        norm: None,
                    }),
                }
            })
            .collect(),
    }
}

/// A dot product as one would write it first: one accumulator, which the compiler may not reorder,
/// so it stays scalar. The baseline the engine's scan is measured against.
fn naive_dot(a: &[f32], b: &[f32]) -> f32 {
    let mut s = 0.0f32;
    for i in 0..a.len().min(b.len()) {
        s += a[i] * b[i];
    }
    s
}

pub fn report(models: &Models, data: &Path, pipeline: &PipelineArgs) -> Result<Value> {
    // The engine's camera settings: full resolution.
    let mut pipe = models.pipeline(&PipelineArgs {
        detect_size: mandat_face::DetectSize::Native { max_side: 1920 },
        ..pipeline.clone()
    })?;
    let mut rng = SplitMix(42);
    let ten = random_watchlist(10, &mut rng);
    let mut faces_rows = Vec::new();
    for n in [1usize, 5, 20] {
        let img = frame_with_faces(data, n)?;
        let dets = pipe.detector.detect(&img)?;
        let detect = median_ms(5, || {
            pipe.detector.detect(&img)?;
            Ok(())
        })?;
        let aligned: Vec<AlignedFace> = dets
            .iter()
            .filter_map(|d| align(&img, &d.landmarks).ok())
            .collect();
        let align_ms = median_ms(5, || {
            for d in &dets {
                std::hint::black_box(align(&img, &d.landmarks).ok());
            }
            Ok(())
        })?;
        let refs: Vec<&AlignedFace> = aligned.iter().collect();
        let embed = median_ms(5, || {
            for b in refs.chunks(mandat_engine::MAX_EMBED_BATCH) {
                pipe.embedder.embed(b)?;
            }
            Ok(())
        })?;
        let probes: Vec<_> = refs
            .chunks(mandat_engine::MAX_EMBED_BATCH)
            .map(|b| pipe.embedder.embed(b))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        let matching = median_ms(5, || {
            for p in &probes {
                std::hint::black_box(best_per_permit(p.as_slice(), &ten));
            }
            Ok(())
        })?;
        faces_rows.push(json!({
            "faces_placed": n,
            "faces_detected": dets.len(),
            "detect_ms": detect,
            "align_ms": align_ms,
            "embed_ms": embed,
            "match_ms": matching,
            "total_ms": detect + align_ms + embed + matching,
            "embed_ms_per_face": embed / aligned.len().max(1) as f64,
        }));
    }

    let probe = {
        let mut v: Vec<f32> = (0..EMBEDDING_DIM).map(|_| rng.unit()).collect();
        l2_normalize(&mut v);
        v
    };
    let mut wl_rows = Vec::new();
    for n in [1usize, 10, 1_000, 100_000] {
        let wl = random_watchlist(n, &mut rng);
        // Enough repetitions for at least ~20 ms of scanning.
        let reps = (2_000_000 / n).clamp(1, 100_000);
        let t = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(best_per_permit(std::hint::black_box(&probe), &wl));
        }
        let per_probe = t.elapsed().as_secs_f64() / reps as f64;
        let t = Instant::now();
        for _ in 0..reps {
            for e in &wl.entries {
                std::hint::black_box(naive_dot(std::hint::black_box(&probe), &e.template.values));
            }
        }
        let naive = t.elapsed().as_secs_f64() / reps as f64;
        let t = Instant::now();
        for _ in 0..reps {
            for e in &wl.entries {
                std::hint::black_box(dot(std::hint::black_box(&probe), &e.template.values));
            }
        }
        let simd = t.elapsed().as_secs_f64() / reps as f64;
        wl_rows.push(json!({
            "templates": n,
            "match_us_per_face": per_probe * 1e6,
            "ns_per_template": per_probe * 1e9 / n as f64,
            "dot_ns_per_template": simd * 1e9 / n as f64,
            "naive_dot_ns_per_template": naive * 1e9 / n as f64,
        }));
    }
    let embed_per_face = faces_rows
        .iter()
        .filter_map(|r| r["embed_ms_per_face"].as_f64())
        .fold(f64::INFINITY, f64::min);
    Ok(json!({
        "faces_per_frame": faces_rows,
        "watchlist": wl_rows,
        "embed_ms_per_face": embed_per_face,
        "crop": CROP,
        "note": "faces per frame: one 1920x1080 frame, YuNet at full resolution, every face aligned and embedded (a face seen for the first time; tracking embeds later frames of the same face only when they are better), matched against 10 templates. Watchlist: one probe against N random unit templates, the engine's own scan (best_per_permit); dot = the engine's 8-accumulator dot product, naive = one accumulator.",
    }))
}

/// The two cost tables as markdown.
pub fn table(c: &Value) -> String {
    let f = |v: &Value, d: usize| super::f(v, d);
    let mut out = String::from(
        "### Cost against faces per frame (1920x1080, YuNet at full resolution, CPU ms)\n\n| faces placed | detected | detect | align | embed | match | total | embed per face |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in c["faces_per_frame"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r["faces_placed"],
            r["faces_detected"],
            f(&r["detect_ms"], 1),
            f(&r["align_ms"], 2),
            f(&r["embed_ms"], 1),
            f(&r["match_ms"], 4),
            f(&r["total_ms"], 1),
            f(&r["embed_ms_per_face"], 2),
        ));
    }
    out.push_str("\n### Cost against watchlist size (one face)\n\n| templates | match µs per face | ns per template | engine dot ns | one-accumulator dot ns |\n|---|---|---|---|---|\n");
    for r in c["watchlist"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            r["templates"],
            f(&r["match_us_per_face"], 2),
            f(&r["ns_per_template"], 1),
            f(&r["dot_ns_per_template"], 1),
            f(&r["naive_dot_ns_per_template"], 1),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_naive_and_the_engine_dot_products_agree() {
        let mut rng = SplitMix(1);
        for _ in 0..50 {
            let a: Vec<f32> = (0..EMBEDDING_DIM).map(|_| rng.unit()).collect();
            let b: Vec<f32> = (0..EMBEDDING_DIM).map(|_| rng.unit()).collect();
            assert!((naive_dot(&a, &b) - dot(&a, &b)).abs() < 1e-4);
        }
        let x = rng.unit();
        assert!((-1.0..1.0).contains(&x));
    }
}
