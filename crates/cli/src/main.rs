//! `mandat`: the command line. Errors are reported with `anyhow` and say what to do next.

mod client;
mod commands;
mod eval;
mod face;
mod lawful;
mod models;
mod server;
mod worker;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};
pub use mandat_options::{EngineArgs, Models, PipelineArgs, data_dir};

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
    /// Detect faces in images and print them, with landmarks and quality (embeddings with
    /// `--embeddings`). In an installation: auditors and admins only, each use audited.
    Detect(face::DetectArgs),
    /// Compare the main faces of two images: cosine similarity and verdict. In an installation:
    /// auditors and admins only, each use audited.
    Compare(face::CompareArgs),
    /// Evaluate accuracy on the test data.
    Eval {
        #[command(subcommand)]
        command: eval::EvalCommand,
    },
    /// Measure the speed of each pipeline stage against plain ONNX Runtime time.
    Bench(mandat_bench::BenchArgs),
    /// Create the keys, the database and the first admins.
    Init(lawful::InitArgs),
    /// Log in with your password and your authenticator app's code; later commands act as this
    /// user until `mandat logout`.
    Login(lawful::LoginArgs),
    /// Set your password with the one-time enrolment code an admin gave you, and receive your
    /// second factor.
    Enrol(lawful::EnrolArgs),
    /// Change your own password.
    Password(lawful::PasswordArgs),
    /// End the CLI session.
    Logout,
    /// Show the logged-in user and roles.
    Whoami,
    /// Manage users (admins).
    User {
        #[command(subcommand)]
        command: lawful::UserCommand,
    },
    /// End sessions of an account (admins).
    Session {
        #[command(subcommand)]
        command: lawful::SessionCommand,
    },
    /// Key epochs: `mandat keys rotate`.
    Keys {
        #[command(subcommand)]
        command: lawful::KeysCommand,
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
    /// Evidence packages: `mandat evidence verify FILE --public-key HEX`, offline.
    Evidence {
        #[command(subcommand)]
        command: EvidenceCommand,
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
    /// Run mandat: control plane, live engine on the registered cameras, and the API.
    Serve(server::ServeArgs),
    /// Run a control process with no embedded worker: API, pages, review, deadlines, scope and
    /// placement; enrolled workers (`mandat worker run`) run the cameras. Needs --internal-listen.
    Control(server::ServeArgs),
    /// Workers: make a key, enrol, disable, list, run.
    Worker {
        #[command(subcommand)]
        command: worker::WorkerCommand,
    },
    /// A fresh demo: users, cameras replaying the test videos, a granted permit, then the server.
    Demo(server::DemoArgs),
    /// Alerts: list, show, review (two reviewers), dispatch, watch.
    Alerts {
        #[command(subcommand)]
        command: server::AlertsCommand,
    },
}

/// A database URL with a password (`postgres://user:password@host/db`) given as `--db` would be
/// shown by `ps` to every user of the host: refuse it, and say where it goes instead.
fn refuse_passwords_in_args(args: impl Iterator<Item = String>) -> Result<()> {
    let args: Vec<String> = args.collect();
    let values = args
        .iter()
        .enumerate()
        .filter_map(|(i, a)| match a.as_str() {
            "--db" => args.get(i + 1).map(String::as_str),
            _ => a.strip_prefix("--db="),
        });
    for url in values {
        let userinfo = url
            .split_once("://")
            .and_then(|(_, rest)| rest.split(['/', '?']).next())
            .and_then(|authority| authority.rsplit_once('@'))
            .map(|(userinfo, _)| userinfo);
        if userinfo.is_some_and(|u| u.contains(':')) || url.contains("password=") {
            bail!(
                "--db holds a password, which `ps` shows to every user of this host; put the URL in MANDAT_DB (or the password in ~/.pgpass) instead"
            );
        }
    }
    Ok(())
}

fn main() {
    // Whatever mandat writes (the database and its WAL, keys, exports, sessions) is its user's
    // alone, whatever umask the shell or the service manager left.
    // SAFETY: umask only changes this process's file-creation mask; no memory is involved.
    unsafe {
        libc::umask(0o077);
    }
    // No telemetry: ONNX Runtime's 1DS uploader (device id, event queue, uploads to Microsoft) is
    // off only when this is set before the library loads (see `mandat_face::Runtime::load`).
    // SAFETY: still single-threaded here; nothing else reads the environment concurrently.
    unsafe {
        std::env::set_var("ORT_DISABLE_TELEMETRY", "1");
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MANDAT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = refuse_passwords_in_args(std::env::args().skip(1)) {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Models { command } => models::run(command),
        Command::Detect(a) => face::detect(cli.paths, a),
        Command::Compare(a) => face::compare(cli.paths, a),
        Command::Eval { command } => eval::run(cli.paths, command),
        Command::Bench(a) => mandat_bench::run(a, &server::latency, &server::demand),
        Command::Init(a) => lawful::init(cli.paths, a),
        Command::Login(a) => commands::login(cli.paths, a),
        Command::Enrol(a) => commands::enrol(a),
        Command::Password(a) => commands::password(cli.paths, a),
        Command::Logout => commands::logout(cli.paths),
        Command::Whoami => commands::whoami(cli.paths),
        Command::User { command } => commands::user(cli.paths, command),
        Command::Session { command } => commands::session(cli.paths, command),
        Command::Keys { command } => commands::keys(cli.paths, command),
        Command::Camera { command } => commands::camera(cli.paths, command),
        Command::Permit { command } => commands::permit(cli.paths, command),
        Command::Person { command } => commands::person(cli.paths, command),
        Command::Evidence { command } => evidence(command),
        Command::Audit { command } => lawful::audit(cli.paths, command),
        Command::Imy { command } => commands::imy(cli.paths, command),
        Command::Subjects { command } => commands::subjects(cli.paths, command),
        Command::Report { command } => commands::report(cli.paths, command),
        Command::Serve(a) => server::serve(cli.paths, a),
        Command::Control(a) => server::control(cli.paths, a),
        Command::Worker { command } => worker::worker(cli.paths, command),
        Command::Demo(a) => server::demo(cli.paths, a),
        Command::Alerts { command } => commands::alerts(cli.paths, command),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        let code = if e.downcast_ref::<ConfigError>().is_some() {
            EXIT_CONFIG
        } else {
            1
        };
        std::process::exit(code);
    }
}

/// Exit status of a start refused for its configuration (sysexits' EX_CONFIG): the systemd units
/// do not restart on it (`RestartPreventExitStatus`), since a retry cannot succeed.
pub(crate) const EXIT_CONFIG: i32 = 78;

/// A configuration that cannot run on this machine, as `--decoder nvdec` without a GPU.
#[derive(Debug)]
pub(crate) struct ConfigError(pub(crate) String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use mandat_face::{DetectSize, Device};
    use mandat_options::{parse_detect_size, parse_device, parse_fps};

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_engine_options_default_to_the_engines_live_settings() {
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            engine: EngineArgs,
            #[command(flatten)]
            pipeline: PipelineArgs,
        }
        let t = T::parse_from(["t"]);
        let cfg = t.engine.config(&t.pipeline, 3);
        let live = mandat_engine::EngineConfig::live();
        assert_eq!(cfg.detector, live.detector);
        assert_eq!(cfg.analysis_gap, live.analysis_gap);
        assert_eq!(cfg.inference, live.inference);
        assert_eq!(cfg.workers, 3);
        assert_eq!(cfg.decoder, mandat_video::DecoderChoice::Auto);
        assert_eq!(cfg.match_gate, live.match_gate);
        let off = T::parse_from(["t", "--match-quality-gate", "off"]);
        assert_eq!(off.engine.config(&off.pipeline, 1).match_gate, None);
        assert!(T::try_parse_from(["t", "--match-quality-gate", "maybe"]).is_err());
        let nv = T::parse_from(["t", "--decoder", "nvdec"]);
        assert_eq!(
            nv.engine.config(&nv.pipeline, 1).decoder,
            mandat_video::DecoderChoice::Nvdec
        );
        assert!(T::try_parse_from(["t", "--decoder", "vaapi"]).is_err());
        let every = T::parse_from(["t", "--analysis-fps", "0", "--camera-detect-size", "640"]);
        let cfg = every.engine.config(&every.pipeline, 1);
        assert_eq!(cfg.analysis_gap, std::time::Duration::ZERO);
        assert_eq!(cfg.detector.size, DetectSize::Square(640));
        for bad in ["-1", "NaN", "inf", "1e9", "fast"] {
            assert!(parse_fps(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_fps("12.5"), Ok(12.5));
    }

    #[test]
    fn a_database_password_is_never_taken_from_the_command_line() {
        let args = |a: &[&str]| {
            a.iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .into_iter()
        };
        for bad in [
            &[
                "audit",
                "verify",
                "--db",
                "postgres://mandat:s3cret@db/mandat",
            ][..],
            &["--db=postgres://mandat:s3cret@db/mandat", "serve"],
            &[
                "--db",
                "postgres://db/mandat?user=m&password=s3cret",
                "serve",
            ],
        ] {
            assert!(refuse_passwords_in_args(args(bad)).is_err(), "{bad:?}");
        }
        for good in [
            &["audit", "verify", "--db", "postgres://mandat@db/mandat"][..],
            &["--db", "sqlite:///var/lib/mandat/mandat.db", "serve"],
            &["--db=postgres://db/mandat?user=mandat", "serve"],
            &["login", "--user", "a:b@c"],
        ] {
            assert!(refuse_passwords_in_args(args(good)).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn device_parses() {
        assert_eq!(parse_device("cpu"), Ok(Device::Cpu));
        assert_eq!(parse_device("cuda"), Ok(Device::Cuda(0)));
        assert_eq!(parse_device("cuda:3"), Ok(Device::Cuda(3)));
        for bad in ["gpu", "cuda:", "cuda:-1", "cuda:x", "CPU"] {
            assert!(parse_device(bad).is_err(), "{bad}");
        }
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

#[derive(clap::Subcommand)]
enum EvidenceCommand {
    /// Check an evidence package offline: its signature against the audit key you pin, the
    /// images against their hashes, two reviewers' confirmations, and every audit entry against
    /// the chain head signed with it. Exit status 2 when it fails.
    Verify {
        file: std::path::PathBuf,
        /// The audit log's public key (hex), as pinned for `mandat audit verify`.
        #[arg(long)]
        public_key: String,
    },
}

fn evidence(cmd: EvidenceCommand) -> anyhow::Result<()> {
    match cmd {
        EvidenceCommand::Verify { file, public_key } => {
            mandat_audit::parse_public_key(&public_key)
                .map_err(|e| anyhow::anyhow!("--public-key: {e}"))?;
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            match mandat_control::evidence::verify(&text, &public_key) {
                Ok(v) => {
                    println!(
                        "evidence package intact: alert {} of permit {}, verified by {}, {} audit entries under signed chain heads",
                        v.alert,
                        v.permit,
                        v.reviewers.join(" and "),
                        v.audit_entries
                    );
                    Ok(())
                }
                Err(e) => {
                    eprintln!("evidence package NOT intact: {e}");
                    std::process::exit(2);
                }
            }
        }
    }
}
