//! `mandat eval lfw`: the LFW View 2 protocol, 6,000 pairs in 10 folds.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use mandat_eval::lfw::{Protocol, images_dir};
use mandat_eval::metrics::{KFold, Scored, TarAtFar, kfold_accuracy, roc, tar_at_far};
use mandat_eval::plot::{Curve, roc_det};
use mandat_face::Embedding;
use serde_json::json;

use crate::client::Client;
use crate::face::main_face;
use crate::lawful::Paths;
use crate::{Models, PipelineArgs, data_dir, evaluation};

/// The logged-in user and the roles the server says it holds, asked before a long run starts.
fn session(paths: &Paths) -> Result<(Client, Vec<mandat_law::Role>)> {
    let c = Client::logged_in(paths)?;
    let info: serde_json::Value = c.get("/api/v1/session")?;
    let roles = serde_json::from_value(info["roles"].clone())
        .context("the server's answer to /api/v1/session lists no roles")?;
    Ok((c, roles))
}

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
    /// Build the threshold table (target FPIR → cosine) from LFW impostor scores, check it on
    /// held-out people, and store it for the model mandat runs (admins; needs `mandat login`).
    Calibrate {
        #[command(flatten)]
        run: evaluation::RunArgs,
        /// Write the table but do not store it in the database.
        #[arg(long)]
        no_store: bool,
    },
    /// The evaluation report: LFW verification, BLUFR open-set identification, calibrated
    /// thresholds, demographic differentials with confidence intervals, model card. HTML and
    /// JSON with plots; the run is recorded in the audit log (auditors and admins; `mandat login`).
    Report {
        #[command(flatten)]
        args: evaluation::ReportArgs,
        /// Do not record the run in the audit log (a run outside an installation).
        #[arg(long)]
        no_record: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The main face's embedding, `None` when no face was found, or why the image could not be processed.
pub(crate) type ImageResult = Result<Option<Embedding>, String>;

/// The main face of every image, on `workers` threads each with its own single-threaded sessions,
/// in the order given, with a progress bar (on stderr when stdout carries JSON).
pub(crate) fn embed_all(
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

pub fn run(paths: Paths, cmd: EvalCommand) -> Result<()> {
    match cmd {
        EvalCommand::Calibrate { run, no_store } => {
            // Log in first, so a long run does not end in "not logged in".
            let session = (!no_store && run.sample.is_none())
                .then(|| session(&paths))
                .transpose()?;
            if let Some((c, roles)) = &session
                && !roles.contains(&mandat_law::Role::Admin)
            {
                anyhow::bail!(
                    "{} may not store a calibration: it needs the admin role (or --no-store)",
                    c.user
                );
            }
            let cal = evaluation::calibration_run(&run)?;
            let out = &run.out;
            std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
            let file = out.join(format!("calibration-{}.json", cal.version));
            std::fs::write(&file, serde_json::to_string_pretty(&cal)?)?;
            println!(
                "calibration {} from {} impostor pairs, written to {}",
                cal.version,
                cal.impostor_pairs,
                file.display()
            );
            for h in &cal.held_out {
                println!(
                    "  FPIR {:<7} watchlist {:<3} threshold {:.4}  held out: {} / {} = {:.2e} ({:.2}×) {}",
                    h.fpir_target,
                    h.watchlist,
                    h.threshold,
                    h.false_alarms,
                    h.trials,
                    h.fpir_realised,
                    h.ratio,
                    if h.within_2x { "ok" } else { "OUTSIDE 2×" }
                );
            }
            match session {
                Some((c, _)) => {
                    let _: serde_json::Value = c.post("/api/v1/calibrations", &cal)?;
                    println!(
                        "stored; permits that state a target FPIR now get their threshold from it"
                    );
                }
                None if run.sample.is_some() => {
                    println!("not stored: a sampled table is for trying only")
                }
                None => println!("not stored (--no-store)"),
            }
            Ok(())
        }
        EvalCommand::Report {
            args,
            no_record,
            json,
        } => {
            let session = (!no_record).then(|| session(&paths)).transpose()?;
            // The server checks the role again when it records; this only spares a long run.
            if let Some((c, roles)) = &session
                && !(roles.contains(&mandat_law::Role::Auditor)
                    || roles.contains(&mandat_law::Role::Admin))
            {
                anyhow::bail!(
                    "{} may not record an evaluation: it needs the auditor or admin role (or --no-record)",
                    c.user
                );
            }
            let r = evaluation::report(&args)?;
            let details = serde_json::json!({
                "models": r.model_card.models.iter().map(|m| (m.id.clone(), m.sha256.clone())).collect::<std::collections::BTreeMap<_, _>>(),
                "calibration": r.calibration.version,
                "operating_threshold": r.operating.threshold,
                "lfw_accuracy": r.headline.lfw_accuracy,
                "tar_at_far_1e-3": r.headline.tar_at_far_1e3,
                "blufr_dir_at_fpir_1pc": r.headline.blufr_dir_at_fpir_1pc,
                "worst_best_fmr_ratio": r.headline.worst_best_fmr_ratio,
                "sample": args.run.sample,
            });
            if let Some((c, _)) = session {
                let _: serde_json::Value = c.post("/api/v1/evaluations", &details)?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!("{}", evaluation::headline_line(&r));
                println!(
                    "  report      {}",
                    args.run.out.join("report.html").display()
                );
                println!(
                    "  audit log   {}",
                    if no_record {
                        "not recorded (--no-record)"
                    } else {
                        "recorded as eval.report"
                    }
                );
            }
            Ok(())
        }
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

/// LFW View 2 scored: 10-fold accuracy, TAR at FAR 1e-2, 1e-3 and 1e-4, and the ROC/DET plot
/// written to `<out>/lfw_roc_det.{svg,png}`.
pub(crate) struct View2 {
    pub pairs: usize,
    pub kfold: KFold,
    pub tars: [TarAtFar; 3],
    pub stem: PathBuf,
}

/// Score every pair of `protocol` with `score(a, b)` (`None` when an image has no face: the pair
/// scores -1 and counts as a rejection, never silently dropped).
pub(crate) fn view2(
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
    let models = Models::load(&pipeline)?;
    let workers = evaluation::workers(workers);

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
