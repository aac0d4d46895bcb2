//! `mandat eval`: the evaluation runs of `mandat-evaluation` (LFW View 2, calibration, the
//! report), recorded through the server: the calibration and the record of a run go in by the
//! API, as the logged-in user.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;

use crate::PipelineArgs;
use crate::client::Client;
use crate::lawful::Paths;
use mandat_evaluation::{lfw, report as evaluation};

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
            let (cal, cohort) = evaluation::calibration_run(&run)?;
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
                println!("{}", held_out_line(h, "threshold"));
            }
            if let Some(pt) = &cal.per_template {
                println!(
                    "per-template thresholds against cohort {} ({} templates), {} normalised impostor scores",
                    pt.cohort, pt.cohort_size, pt.impostor_pairs
                );
                for h in &pt.held_out {
                    println!("{}", held_out_line(h, "z"));
                }
            }
            match session {
                Some((c, _)) => {
                    // The cohort goes to the server only, which seals it: never to a file here.
                    let mut body = serde_json::to_value(&cal)?;
                    if let Some(cohort) = &cohort {
                        use base64::Engine as _;
                        let mut bytes = cohort.to_le_bytes();
                        body["cohort"] = base64::engine::general_purpose::STANDARD
                            .encode(&bytes)
                            .into();
                        mandat_store::crypto::wipe(&mut bytes);
                    }
                    let _: serde_json::Value = c.post("/api/v1/calibrations", &body)?;
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

/// One held-out check as a line; `what` names its threshold (a cosine, or a normalised `z`).
fn held_out_line(h: &mandat_eval::calibrate::HeldOut, what: &str) -> String {
    format!(
        "  FPIR {:<7} watchlist {:<3} {what} {:.4}  held out: {} / {} = {:.2e} ({:.2}×) {}",
        h.fpir_target,
        h.watchlist,
        h.threshold,
        h.false_alarms,
        h.trials,
        h.fpir_realised,
        h.ratio,
        if h.within_2x { "ok" } else { "OUTSIDE 2×" }
    )
}
