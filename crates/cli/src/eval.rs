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
    /// JSON with plots; the run is recorded in the audit log as the risk analysis (auditors;
    /// `mandat login`).
    Report {
        #[command(flatten)]
        args: evaluation::ReportArgs,
        /// Do not record the run in the audit log (a run outside an installation).
        #[arg(long)]
        no_record: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Also write the calibration's impostor cohort to `cohort.bin` in --out (owner-only),
        /// so `mandat eval record --calibration` can store the table on another installation.
        /// The cohort is templates of the evaluation's people: keep it as private as the data.
        #[arg(long)]
        write_cohort: bool,
    },
    /// Record a report made earlier (its --out directory, with `report.json`) as the recurring
    /// risk analysis (auditors), or with --calibration store its threshold table and cohort
    /// instead (admins). For a report run on another machine, or by setup.
    Record {
        /// The directory `mandat eval report --out` wrote.
        dir: PathBuf,
        /// Store the report's calibration table (with `cohort.bin` when it has per-template
        /// thresholds) instead of recording the analysis: an admin stores tables, an auditor
        /// vouches for the analysis, never one person both.
        #[arg(long)]
        calibration: bool,
    },
}

/// A report directory: the report and, when it was written, the cohort of its calibration.
pub struct Bundle {
    pub report: mandat_reports::evaluation::EvaluationReport,
    pub cohort: Option<mandat_eval::cohort::Cohort>,
}

impl Bundle {
    /// Read `dir/report.json` and `dir/cohort.bin` (if there).
    pub fn read(dir: &std::path::Path) -> Result<Bundle> {
        let file = dir.join("report.json");
        let text = std::fs::read_to_string(&file).with_context(|| {
            format!(
                "reading {}; run `mandat eval report --out {}` first",
                file.display(),
                dir.display()
            )
        })?;
        let report: mandat_reports::evaluation::EvaluationReport = serde_json::from_str(&text)
            .with_context(|| format!("{} is not an evaluation report", file.display()))?;
        let cohort_file = dir.join("cohort.bin");
        // Templates of real people: refused when others may read them, as a key file would be.
        if let Ok(m) = std::fs::symlink_metadata(&cohort_file) {
            use std::os::unix::fs::PermissionsExt as _;
            if !m.file_type().is_file() || m.permissions().mode() & 0o077 != 0 {
                anyhow::bail!(
                    "{} is not a private file (mode {:o}); it holds templates of real people: chmod 600 it, or make it again",
                    cohort_file.display(),
                    m.permissions().mode() & 0o777
                );
            }
        }
        let cohort = match std::fs::read(&cohort_file) {
            Ok(mut bytes) => {
                let c = mandat_eval::cohort::Cohort::from_le_bytes(
                    mandat_face::vector::EMBEDDING_DIM,
                    &bytes,
                )
                .with_context(|| format!("{} is not a cohort", cohort_file.display()));
                mandat_store::crypto::wipe(&mut bytes);
                Some(c?)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", cohort_file.display())),
        };
        Ok(Bundle { report, cohort })
    }
}

/// Write the cohort beside a report, readable by its owner only: a fresh file (never through a
/// link planted there, never an old file's looser mode) renamed into place.
fn write_cohort(dir: &std::path::Path, c: &mandat_eval::cohort::Cohort) -> Result<PathBuf> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = dir.join("cohort.bin");
    let tmp = dir.join(".cohort.bin.new");
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing {}", tmp.display()));
        }
        _ => {}
    }
    let mut bytes = c.to_le_bytes();
    let r = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(&bytes).and_then(|()| f.sync_all()));
    mandat_store::crypto::wipe(&mut bytes);
    r.with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &file).with_context(|| format!("writing {}", file.display()))?;
    Ok(file)
}

/// The calibration upload: the table, and its cohort in base64 when it has one.
fn calibration_body(
    cal: &mandat_eval::calibrate::Calibration,
    cohort: Option<&mandat_eval::cohort::Cohort>,
) -> Result<serde_json::Value> {
    let mut body = serde_json::to_value(cal)?;
    if let Some(cohort) = cohort {
        use base64::Engine as _;
        let mut bytes = cohort.to_le_bytes();
        body["cohort"] = base64::engine::general_purpose::STANDARD
            .encode(&bytes)
            .into();
        mandat_store::crypto::wipe(&mut bytes);
    }
    Ok(body)
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
                    let body = calibration_body(&cal, cohort.as_ref())?;
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
            write_cohort: keep_cohort,
        } => {
            let session = (!no_record).then(|| session(&paths)).transpose()?;
            // The server checks the role again when it records; this only spares a long run.
            if let Some((c, roles)) = &session {
                may_record(c, roles)?;
            }
            let (r, cohort) = evaluation::report_and_cohort(&args)?;
            let analysis = r.risk_analysis().map_err(anyhow::Error::msg)?;
            if let Some((c, _)) = session {
                let _: serde_json::Value = c.post("/api/v1/evaluations", &analysis)?;
            }
            if keep_cohort {
                match &cohort {
                    Some(c) => {
                        let f = write_cohort(&args.run.out, c)?;
                        eprintln!("  cohort      {} (owner-only)", f.display());
                    }
                    None => eprintln!(
                        "  cohort      none: this run's calibration has no per-template table"
                    ),
                }
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
        EvalCommand::Record { dir, calibration } => {
            let (c, roles) = session(&paths)?;
            if calibration && !roles.contains(&mandat_law::Role::Admin) {
                anyhow::bail!(
                    "{} may not store a calibration: it needs the admin role",
                    c.user
                );
            }
            if !calibration {
                may_record(&c, &roles)?;
            }
            let b = Bundle::read(&dir)?;
            let analysis = b.report.risk_analysis().map_err(anyhow::Error::msg)?;
            if calibration {
                let body = calibration_body(&b.report.calibration, b.cohort.as_ref())?;
                let _: serde_json::Value = c.post("/api/v1/calibrations", &body)?;
                println!(
                    "calibration {} stored; permits that state a target FPIR now get their threshold from it (an auditor records the report: mandat eval record {})",
                    b.report.calibration.version,
                    dir.display()
                );
                return Ok(());
            }
            let _: serde_json::Value = c.post("/api/v1/evaluations", &analysis)?;
            println!(
                "evaluation of {} recorded as eval.report (made {}{})",
                analysis
                    .embedder_sha256
                    .chars()
                    .take(12)
                    .collect::<String>(),
                analysis.run_at.to_rfc3339(),
                analysis.sample.map_or(String::new(), |n| format!(
                    ", a sample of every {n}th: it does not count as the risk analysis"
                ))
            );
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

/// Only auditors record evaluations (the server checks again).
fn may_record(c: &Client, roles: &[mandat_law::Role]) -> Result<()> {
    if !roles.contains(&mandat_law::Role::Auditor) {
        anyhow::bail!(
            "{} may not record an evaluation: it needs the auditor role (or --no-record)",
            c.user
        );
    }
    Ok(())
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
