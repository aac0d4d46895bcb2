//! `mandat`: the command line. Errors are reported with `anyhow` and say what to do next.

mod bench;
mod eval;
mod evaluation;
mod face;
mod lawful;
mod models;
mod server;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use mandat_face::{DetectSize, DetectorConfig, InferenceConfig, Pipeline, Runtime};
use mandat_models::{ModelId, Store};

/// mandat: permit-scoped live facial recognition under Lag (2026:806) and AI Act art. 5.
#[derive(Parser)]
#[command(name = "mandat", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    paths: lawful::Paths,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fetch, verify and list the pinned models (the only step that uses the network).
    Models {
        #[command(subcommand)]
        command: models::ModelsCommand,
    },
    /// Detect faces in images and print them, with landmarks, quality and embeddings.
    Detect(face::DetectArgs),
    /// Compare the main faces of two images: cosine similarity and verdict.
    Compare(face::CompareArgs),
    /// Evaluate accuracy on the test data.
    Eval {
        #[command(subcommand)]
        command: eval::EvalCommand,
    },
    /// Measure the speed of each pipeline stage against plain ONNX Runtime time.
    Bench(bench::BenchArgs),
    /// Create the keys, the database and the first admin.
    Init(lawful::InitArgs),
    /// Log in; later commands act as this user until `mandat logout`.
    Login(lawful::LoginArgs),
    /// End the CLI session.
    Logout,
    /// Show the logged-in user and roles.
    Whoami,
    /// Manage users (admins).
    User {
        #[command(subcommand)]
        command: lawful::UserCommand,
    },
    /// Register and list cameras.
    Camera {
        #[command(subcommand)]
        command: lawful::CameraCommand,
    },
    /// Permits: draft, apply, decide, urgent-start, stop, show, list.
    Permit {
        #[command(subcommand)]
        command: lawful::PermitCommand,
    },
    /// Designated persons: enrol reference photos.
    Person {
        #[command(subcommand)]
        command: lawful::PersonCommand,
    },
    /// The tamper-evident audit log: verify offline, export for IMY.
    Audit {
        #[command(subcommand)]
        command: lawful::AuditCommand,
    },
    /// The register of notifications to IMY: list, show (JSON or PDF), sent, acknowledged.
    Imy {
        #[command(subcommand)]
        command: lawful::ImyCommand,
    },
    /// Persons to notify after verified identifications: list, defer, done.
    Subjects {
        #[command(subcommand)]
        command: lawful::SubjectsCommand,
    },
    /// Reports: the annual report (JSON, CSV, PDF with charts).
    Report {
        #[command(subcommand)]
        command: lawful::ReportCommand,
    },
    /// Enforce deadlines now (urgent uses without an application are stopped and purged).
    Tick,
    /// Run mandat: control plane, live engine on the registered cameras, and the API.
    Serve(server::ServeArgs),
    /// A fresh demo: users, cameras replaying the test videos, a granted permit, then the server.
    Demo(server::DemoArgs),
    /// Alerts: list, show, review (two reviewers), dispatch, watch.
    Alerts {
        #[command(subcommand)]
        command: server::AlertsCommand,
    },
}

/// Options shared by every command that runs the face pipeline.
#[derive(Args, Clone, Debug)]
pub struct PipelineArgs {
    /// Detector input: `640` (letterbox into 640x640, the reference), `native` (the image's own size,
    /// finds small faces in camera frames) or `native:MAX` (own size, longer side capped at MAX).
    #[arg(long, default_value = "640", value_parser = parse_detect_size)]
    pub detect_size: DetectSize,
    /// Detector score threshold.
    #[arg(long, default_value_t = 0.5)]
    pub score_threshold: f32,
    /// ONNX Runtime intra-op threads per session.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

fn parse_detect_size(s: &str) -> Result<DetectSize, String> {
    let bad = || format!("{s:?}: expected a size such as 640, `native` or `native:1920`");
    match s.split_once(':') {
        None if s == "native" => Ok(DetectSize::Native { max_side: 4096 }),
        Some(("native", max)) => max
            .parse()
            .ok()
            .filter(|&m: &usize| (32..=8192).contains(&m))
            .map(|max_side| DetectSize::Native { max_side })
            .ok_or_else(bad),
        None => s
            .parse()
            .ok()
            .filter(|n: &usize| (32..=4096).contains(n) && n.is_multiple_of(32))
            .map(DetectSize::Square)
            .ok_or_else(bad),
        _ => Err(bad()),
    }
}

impl PipelineArgs {
    pub fn detector_config(&self) -> DetectorConfig {
        DetectorConfig {
            size: self.detect_size,
            score_threshold: self.score_threshold,
            ..DetectorConfig::default()
        }
    }
}

/// Verified model paths and a loaded runtime. Refuses to run with a missing or altered file.
pub struct Models {
    pub runtime: Runtime,
    pub detector: PathBuf,
    pub embedder: PathBuf,
}

impl Models {
    pub fn load() -> Result<Self> {
        let store = Store::from_env()?;
        let ort = store.verify(ModelId::OnnxRuntime)?;
        let detector = store.verify(ModelId::Yunet)?;
        let embedder = store.verify(ModelId::Sface)?;
        let runtime = Runtime::load(&ort)?;
        Ok(Self {
            runtime,
            detector,
            embedder,
        })
    }

    pub fn pipeline(&self, args: &PipelineArgs) -> Result<Pipeline> {
        Pipeline::new(
            &self.runtime,
            &self.detector,
            &self.embedder,
            args.detector_config(),
            InferenceConfig {
                threads: args.threads,
            },
        )
        .context("loading the face models")
    }
}

/// The test-data directory: `--data`, else `MANDAT_DATA`, else `../shared/data`.
pub fn data_dir(flag: Option<PathBuf>) -> Result<PathBuf> {
    let dir = flag
        .or_else(|| std::env::var_os("MANDAT_DATA").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("../shared/data"));
    if !dir.is_dir() {
        bail!(
            "test data directory {} not found; pass --data DIR or set MANDAT_DATA",
            dir.display()
        );
    }
    Ok(dir)
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MANDAT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Models { command } => models::run(command),
        Command::Detect(a) => face::detect(a),
        Command::Compare(a) => face::compare(a),
        Command::Eval { command } => eval::run(cli.paths, command),
        Command::Bench(a) => bench::run(a),
        Command::Init(a) => lawful::init(cli.paths, a),
        Command::Login(a) => lawful::login(cli.paths, a),
        Command::Logout => lawful::logout(cli.paths),
        Command::Whoami => lawful::whoami(cli.paths),
        Command::User { command } => lawful::user(cli.paths, command),
        Command::Camera { command } => lawful::camera(cli.paths, command),
        Command::Permit { command } => lawful::permit(cli.paths, command),
        Command::Person { command } => lawful::person(cli.paths, command),
        Command::Audit { command } => lawful::audit(cli.paths, command),
        Command::Imy { command } => lawful::imy(cli.paths, command),
        Command::Subjects { command } => lawful::subjects(cli.paths, command),
        Command::Report { command } => lawful::report(cli.paths, command),
        Command::Tick => lawful::tick(cli.paths),
        Command::Serve(a) => server::serve(cli.paths, a),
        Command::Demo(a) => server::demo(cli.paths, a),
        Command::Alerts { command } => server::alerts(cli.paths, command),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn detect_size_parses() {
        assert_eq!(parse_detect_size("640"), Ok(DetectSize::Square(640)));
        assert_eq!(
            parse_detect_size("native"),
            Ok(DetectSize::Native { max_side: 4096 })
        );
        assert_eq!(
            parse_detect_size("native:1920"),
            Ok(DetectSize::Native { max_side: 1920 })
        );
        for bad in ["0", "641", "native:x", "big", "99999"] {
            assert!(parse_detect_size(bad).is_err(), "{bad}");
        }
    }
}
