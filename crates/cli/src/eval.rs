//! `mandat eval lfw`: the LFW View 2 protocol, 6,000 pairs in 10 folds.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use mandat_eval::lfw::{Protocol, images_dir};
use mandat_eval::metrics::{Scored, kfold_accuracy, roc, tar_at_far};
use mandat_eval::plot::{Curve, roc_det};
use mandat_face::Embedding;
use serde_json::json;

use crate::face::main_face;
use crate::{Models, PipelineArgs, data_dir};

#[derive(Subcommand)]
pub enum EvalCommand {
    /// LFW View 2 verification: 10-fold accuracy, TAR at FAR, detection failures, ROC/DET plots.
    Lfw {
        /// Test data directory (holds `lfw/`); defaults to MANDAT_DATA, then ../shared/data.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Print the figures as one JSON object.
        #[arg(long)]
        json: bool,
        /// Use only the first N folds (a quicker subset; the full protocol is 10).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10))]
        folds: u32,
        /// Parallel workers, each with its own single-threaded sessions. Defaults to the CPU count.
        #[arg(long)]
        workers: Option<usize>,
        /// Where the plots and the JSON report go.
        #[arg(long, default_value = "out/eval")]
        out: PathBuf,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
}

/// The main face's embedding, `None` when no face was found, or why the image could not be processed.
type ImageResult = Result<Option<Embedding>, String>;

pub fn run(cmd: EvalCommand) -> Result<()> {
    match cmd {
        EvalCommand::Lfw {
            data,
            json,
            folds,
            workers,
            out,
            pipeline,
        } => lfw(data, json, folds as usize, workers, out, pipeline),
    }
}

fn lfw(
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
    let models = Models::load()?;
    let workers = workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 64);

    let bar = ProgressBar::new(images.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} images, {per_sec}, eta {eta}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_message("LFW");
    if as_json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    }
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<ImageResult>>> = Mutex::new(vec![None; images.len()]);
    std::thread::scope(|s| -> Result<()> {
        let mut handles = Vec::new();
        for _ in 0..workers {
            let mut pipe = models.pipeline(&pipeline)?;
            let (next, results, bar, images, dir) = (&next, &results, &bar, &images, &dir);
            handles.push(s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(rel) = images.get(i) else { break };
                    let r = main_face(&mut pipe, &dir.join(rel))
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
    let elapsed = started.elapsed().as_secs_f64();

    let results = results.into_inner().expect("workers done");
    let mut by_name = std::collections::HashMap::new();
    let (mut no_face, mut unreadable) = (Vec::new(), Vec::new());
    for (rel, r) in images.iter().zip(results) {
        match r {
            Some(Ok(Some(e))) => {
                by_name.insert(rel.as_str(), e);
            }
            Some(Ok(None)) => no_face.push(rel.clone()),
            Some(Err(e)) => unreadable.push(format!("{rel}: {e}")),
            None => unreadable.push(format!("{rel}: not processed")),
        }
    }
    // A pair with a failed image scores -1: it counts as a rejection, never silently dropped.
    let scored: Vec<Scored> = protocol
        .pairs
        .iter()
        .map(|p| Scored {
            score: match (by_name.get(p.a.as_str()), by_name.get(p.b.as_str())) {
                (Some(a), Some(b)) => a.cosine(b),
                _ => -1.0,
            },
            same: p.same,
            fold: p.fold,
        })
        .collect();
    let genuine: Vec<f32> = scored.iter().filter(|s| s.same).map(|s| s.score).collect();
    let impostor: Vec<f32> = scored.iter().filter(|s| !s.same).map(|s| s.score).collect();
    let kf = kfold_accuracy(&scored, protocol.folds);
    let t2 = tar_at_far(&genuine, &impostor, 1e-2);
    let t3 = tar_at_far(&genuine, &impostor, 1e-3);
    let t4 = tar_at_far(&genuine, &impostor, 1e-4);

    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
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

    let report = json!({
        "protocol": "LFW View 2 (pairs.txt)",
        "folds": protocol.folds,
        "pairs": scored.len(),
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
            scored.len(),
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
