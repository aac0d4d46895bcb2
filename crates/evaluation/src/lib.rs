//! The evaluation runs on the test data, read in place: LFW View 2 (10-fold accuracy, TAR at FAR,
//! ROC/DET plots), the threshold calibration, and the full report with BLUFR open-set
//! identification and demographic differentials ([`report`]). A crate of its own so that the
//! binary stays a thin client; the binary records the results through the server. Errors are
//! `anyhow`'s, as the binary reports them.

pub mod report;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use mandat_eval::lfw::{Protocol, images_dir};
use mandat_eval::metrics::{KFold, Scored, TarAtFar, kfold_accuracy, roc, tar_at_far};
use mandat_eval::plot::{Curve, roc_det};
use mandat_face::Embedding;
use mandat_options::{Models, PipelineArgs, data_dir, main_face};
use serde_json::json;

/// The main face's embedding, `None` when no face was found, or why the image could not be processed.
pub type ImageResult = Result<Option<Embedding>, String>;

/// The main face of every image, on `workers` threads each with its own single-threaded sessions,
/// in the order given, with a progress bar (on stderr when stdout carries JSON).
pub fn embed_all(
    models: &Models,
    pipeline: &PipelineArgs,
    workers: usize,
    paths: &[PathBuf],
    what: &str,
    bar_on_stderr: bool,
) -> Result<Vec<ImageResult>> {
    let bar = ProgressBar::new(paths.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} images, {per_sec}, eta {eta}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    if bar_on_stderr {
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<ImageResult>>> = Mutex::new(vec![None; paths.len()]);
    std::thread::scope(|s| -> Result<()> {
        let mut handles = Vec::new();
        for _ in 0..workers {
            let mut pipe = models.pipeline(pipeline)?;
            let (next, results, bar) = (&next, &results, &bar);
            handles.push(s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = paths.get(i) else { break };
                    let r = main_face(&mut pipe, path)
                        .map(|f| f.map(|f| f.embedding))
                        .map_err(|e| format!("{e:#}"));
                    results.lock().expect("no worker panics holding it")[i] = Some(r);
                    bar.inc(1);
                }
            }));
        }
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("an evaluation worker panicked"))?;
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    Ok(results
        .into_inner()
        .expect("workers done")
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("not processed".into())))
        .collect())
}

/// LFW View 2 scored: 10-fold accuracy, TAR at FAR 1e-2, 1e-3 and 1e-4, and the ROC/DET plot
/// written to `<out>/lfw_roc_det.{svg,png}`.
pub struct View2 {
    pub pairs: usize,
    pub kfold: KFold,
    pub tars: [TarAtFar; 3],
    pub stem: PathBuf,
}

/// Score every pair of `protocol` with `score(a, b)` (`None` when an image has no face: the pair
/// scores -1 and counts as a rejection, never silently dropped).
pub fn view2(
    protocol: &Protocol,
    score: impl Fn(&str, &str) -> Option<f32>,
    out: &Path,
) -> Result<View2> {
    let scored: Vec<Scored> = protocol
        .pairs
        .iter()
        .map(|p| Scored {
            score: score(&p.a, &p.b).unwrap_or(-1.0),
            same: p.same,
            fold: p.fold,
        })
        .collect();
    let genuine: Vec<f32> = scored.iter().filter(|s| s.same).map(|s| s.score).collect();
    let impostor: Vec<f32> = scored.iter().filter(|s| !s.same).map(|s| s.score).collect();
    let tars = [1e-2, 1e-3, 1e-4].map(|f| tar_at_far(&genuine, &impostor, f));
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let curve = roc(&genuine, &impostor);
    let stem = out.join("lfw_roc_det");
    roc_det(
        &stem,
        "LFW View 2",
        &[Curve {
            label: "YuNet + SFace",
            points: &curve,
        }],
    )?;
    Ok(View2 {
        pairs: scored.len(),
        kfold: kfold_accuracy(&scored, protocol.folds),
        tars,
        stem,
    })
}

pub fn lfw(
    data: Option<PathBuf>,
    as_json: bool,
    folds: usize,
    workers: Option<usize>,
    out: PathBuf,
    pipeline: PipelineArgs,
) -> Result<()> {
    let root = data_dir(data)?.join("lfw");
    let protocol = Protocol::load(&root.join("pairs.txt"))?.first_folds(folds);
    let images = protocol.images();
    let dir = images_dir(&root);
    let models = Models::load(&pipeline)?;
    let workers = report::workers(workers);

    let started = Instant::now();
    let paths: Vec<PathBuf> = images.iter().map(|rel| dir.join(rel)).collect();
    let results = embed_all(&models, &pipeline, workers, &paths, "LFW", as_json)?;
    let elapsed = started.elapsed().as_secs_f64();

    let mut by_name = std::collections::HashMap::new();
    let (mut no_face, mut unreadable) = (Vec::new(), Vec::new());
    for (rel, r) in images.iter().zip(results) {
        match r {
            Ok(Some(e)) => {
                by_name.insert(rel.as_str(), e);
            }
            Ok(None) => no_face.push(rel.clone()),
            Err(e) => unreadable.push(format!("{rel}: {e}")),
        }
    }
    let v = view2(
        &protocol,
        |a, b| Some(by_name.get(a)?.cosine(by_name.get(b)?)),
        &out,
    )?;
    let (kf, [t2, t3, t4], stem) = (&v.kfold, v.tars, &v.stem);

    let report = json!({
        "protocol": "LFW View 2 (pairs.txt)",
        "folds": protocol.folds,
        "pairs": v.pairs,
        "images": images.len(),
        "detection_failures": no_face.len(),
        "detection_failure_images": no_face,
        "unreadable_images": unreadable,
        "accuracy_mean": kf.mean,
        "accuracy_std": kf.std,
        "fold_accuracies": kf.fold_accuracies,
        "fold_thresholds": kf.fold_thresholds,
        "tar_at_far_1e-2": t2.tar,
        "tar_at_far_1e-3": t3.tar,
        "tar_at_far_1e-4": t4.tar,
        "threshold_at_far_1e-2": t2.threshold,
        "threshold_at_far_1e-3": t3.threshold,
        "threshold_at_far_1e-4": t4.threshold,
        "detect_size": format!("{:?}", pipeline.detect_size),
        "workers": workers,
        "seconds": elapsed,
        "plot_svg": stem.with_extension("svg"),
        "plot_png": stem.with_extension("png"),
    });
    std::fs::write(out.join("lfw.json"), serde_json::to_string_pretty(&report)?)?;
    if as_json {
        println!("{report}");
    } else {
        println!(
            "LFW View 2, {} folds, {} pairs, {} images in {elapsed:.0} s",
            protocol.folds,
            v.pairs,
            images.len()
        );
        println!(
            "  accuracy          {:.2} % ± {:.2}",
            kf.mean * 100.0,
            kf.std * 100.0
        );
        for t in [t2, t3, t4] {
            println!(
                "  TAR at FAR {:<6} {:.2} % (threshold {:.3})",
                t.far_target,
                t.tar * 100.0,
                t.threshold
            );
        }
        println!(
            "  detection failures {} (of {}), unreadable {}",
            no_face.len(),
            images.len(),
            unreadable.len()
        );
        println!("  plots             {}.{{svg,png}}", stem.display());
    }
    Ok(())
}
