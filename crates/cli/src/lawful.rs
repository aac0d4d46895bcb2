//! The lawful-use commands: `init`, `login`, `logout`, `whoami`, `user`, `session`, `camera`,
//! `permit`, `person`, `audit`, `imy`, `subjects`, `report`, `tick`. Every command that acts does so
//! as the user logged in with `mandat login`; there is no flag to act as someone else. Refusals name
//! the legal rule behind them.
//!
//! Secrets and free text never go on the command line, where `ps` and shell histories show them:
//! stream URLs, reasons and notes come from a file, standard input or a prompt.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use mandat_audit::{AuditKey, Verdict};
use mandat_control::Control;
use mandat_law::permit::Agency;
use mandat_law::{Actor, Application, Outcome, Permit, Profile, Role, SystemClock};
use mandat_store::{Camera, SecretKey, Store};
use serde_json::json;

use crate::{Models, PipelineArgs};

/// Where mandat keeps its database and keys. The keys live apart from the data by default, so a copy
/// of the data directory (a backup, a stolen disk image) holds no key to open it.
#[derive(Args, Clone, Debug)]
pub struct Paths {
    /// Directory for the default database and CLI session (made private, mode 700).
    #[arg(long, env = "MANDAT_HOME", global = true)]
    pub home: Option<PathBuf>,
    /// Directory of the master and audit keys (mode 700). Default: beside the data directory,
    /// `<home>-keys` when --home is given, else `$XDG_CONFIG_HOME/mandat/keys`.
    #[arg(long, env = "MANDAT_KEYS", global = true)]
    pub keys: Option<PathBuf>,
    /// Database URL: sqlite://FILE (the default, under --home) or postgres://...
    #[arg(long, env = "MANDAT_DB", global = true)]
    pub db: Option<String>,
    /// Master key file (32 bytes hex, mode 600) that wraps each permit's data key. MANDAT_MASTER_KEY
    /// may hold the key itself instead.
    #[arg(long, env = "MANDAT_MASTER_KEY_FILE", global = true)]
    pub master_key: Option<PathBuf>,
    /// Ed25519 key file (mode 600) that signs the audit log's checkpoints.
    #[arg(long, env = "MANDAT_AUDIT_KEY", global = true)]
    pub audit_key: Option<PathBuf>,
    /// The CLI's login session file (default: in the key directory, never in the data directory).
    #[arg(long, env = "MANDAT_SESSION", global = true)]
    pub session: Option<PathBuf>,
    /// Jurisdiction profile: se-2026 (Sweden as enacted) or se-court-for-all (the proposed reform).
    /// `init` stores it in the database; a process under another profile is refused.
    #[arg(
        long,
        env = "MANDAT_JURISDICTION",
        default_value = "se-2026",
        global = true
    )]
    pub profile: String,
}

impl Paths {
    pub fn home(&self) -> PathBuf {
        self.home.clone().unwrap_or_else(|| {
            std::env::var_os("XDG_DATA_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
                .unwrap_or_else(|| PathBuf::from("."))
                .join("mandat")
        })
    }
    pub fn db(&self) -> String {
        self.db
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.home().join("mandat.db").display()))
    }
    /// The key directory: never inside the data directory unless the operator says so.
    pub fn keys(&self) -> PathBuf {
        if let Some(k) = &self.keys {
            return k.clone();
        }
        let config = || {
            std::env::var_os("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
                .unwrap_or_else(|| PathBuf::from("."))
                .join("mandat/keys")
        };
        match &self.home {
            Some(h) => match (h.parent(), h.file_name()) {
                (Some(parent), Some(name)) => {
                    parent.join(format!("{}-keys", name.to_string_lossy()))
                }
                _ => config(),
            },
            None => config(),
        }
    }
    pub fn master_key(&self) -> PathBuf {
        self.master_key
            .clone()
            .unwrap_or_else(|| self.keys().join("master.key"))
    }
    pub fn audit_key(&self) -> PathBuf {
        self.audit_key
            .clone()
            .unwrap_or_else(|| self.keys().join("audit.key"))
    }
    /// The CLI's session token: with the keys, outside the data directory, so a copy of the data
    /// holds no live session.
    pub fn session(&self) -> PathBuf {
        self.session
            .clone()
            .unwrap_or_else(|| self.keys().join("session"))
    }
    pub fn profile(&self) -> Result<&'static Profile> {
        Profile::by_name(&self.profile).with_context(|| {
            format!(
                "unknown jurisdiction profile {:?}: use se-2026 or se-court-for-all",
                self.profile
            )
        })
    }
}

#[derive(Args)]
pub struct InitArgs {
    /// Id of an admin; give two or more (`--admin alice --admin bob`), because every role grant
    /// needs a second admin's approval. The first sets their password here; the others get
    /// one-time enrolment codes.
    #[arg(long, required = true)]
    admin: Vec<String>,
    /// Read the first admin's password from the first line of standard input instead of a prompt.
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Args)]
pub struct LoginArgs {
    #[arg(long)]
    user: String,
    /// Read the password from the first line of standard input, and the one-time code from the
    /// second, instead of prompts.
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Args)]
pub struct EnrolArgs {
    #[arg(long)]
    user: String,
    /// Read the enrolment code from the first line of standard input and the new password from the
    /// second, instead of prompts.
    #[arg(long)]
    stdin: bool,
}

#[derive(Args)]
pub struct PasswordArgs {
    /// Read the current password from the first line of standard input and the new one from the
    /// second, instead of prompts.
    #[arg(long)]
    stdin: bool,
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user (admins only). Prints a one-time enrolment code to hand to the user in person:
    /// they set their own password with it (`mandat enrol`). The roles take effect when a second
    /// admin approves them (`mandat user approve`). Roles: operator, reviewer, applicant,
    /// prosecutor, judge, auditor, admin.
    Add {
        id: String,
        #[arg(long = "role", value_parser = parse_role)]
        roles: Vec<Role>,
        /// The agency the account works for: `polismyndigheten` (default) or `sakerhetspolisen`.
        /// Nobody sees another agency's permits.
        #[arg(long, default_value = "polismyndigheten", value_parser = parse_agency)]
        agency: Agency,
    },
    /// Set an account's roles (admins, not their own): all the roles it should hold. Removals
    /// take effect at once; additions when a second admin approves.
    Roles {
        id: String,
        #[arg(long = "role", value_parser = parse_role)]
        roles: Vec<Role>,
    },
    /// Role grants waiting for a second admin.
    Grants {
        #[arg(long)]
        json: bool,
    },
    /// Approve a role grant (another admin than the one who asked).
    Approve { grant: String },
    /// Issue a new enrolment code (a lost phone or password): the password and second factor are
    /// cleared, the sessions end, and the roles wait for a second admin again.
    Reset { id: String },
    /// List users, their roles and whether they are disabled (admins only).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Disable an account (admins, not their own): it cannot log in, and its sessions, open pages
    /// and event streams end within a second.
    Disable { id: String },
}

#[derive(Subcommand)]
pub enum SessionCommand {
    /// End every session of an account (admins, not their own), e.g. for a lost laptop.
    Revoke { user: String },
}

#[derive(Subcommand)]
pub enum CameraCommand {
    /// Register a camera (admins only). The stream URL is encrypted at rest.
    Add {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long, allow_negative_numbers = true)]
        lat: Option<f64>,
        #[arg(long, allow_negative_numbers = true)]
        lon: Option<f64>,
        /// `police`, or a partner: `municipality:NAME`, `region:NAME`, `private:NAME`.
        #[arg(long, default_value = "police")]
        owner: String,
        /// A file holding the stream URL (rtsp://USER:PASSWORD@HOST/..., or a video file to replay
        /// as a camera), or `-` for standard input. Without it the URL is asked for. Never on the
        /// command line, where `ps` would show its password.
        #[arg(long)]
        url_file: Option<PathBuf>,
        /// Register it switched off.
        #[arg(long)]
        disabled: bool,
    },
    /// List cameras (without their stream URLs).
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum PermitCommand {
    /// Store a new draft from an application file (JSON; see `docs/application.example.json`).
    Draft {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// File the application with the decider the purpose requires.
    Apply { id: String },
    /// Grant or refuse an application (court or prosecutor, as the purpose requires).
    Decide {
        id: String,
        #[arg(long, conflicts_with = "refuse", required_unless_present = "refuse")]
        grant: bool,
        #[arg(long)]
        refuse: bool,
        /// A file with the decision's reasons, or `-` for standard input; asked for if absent.
        #[arg(long)]
        reasons_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Start use at once, before a decision; the application must follow within 24 hours.
    UrgentStart { id: String },
    /// Stop use now.
    Stop {
        id: String,
        /// A file with the reason, or `-` for standard input; asked for if absent.
        #[arg(long)]
        reason_file: Option<PathBuf>,
    },
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum PersonCommand {
    /// Enrol a reference photo of a designated person of a draft permit. The photo must show exactly
    /// one face that passes the enrolment quality gate; it and its template are encrypted at rest.
    Enrol {
        #[arg(long)]
        permit: String,
        #[arg(long)]
        person: String,
        /// The photo's id as listed in the application.
        #[arg(long)]
        photo_id: String,
        /// The image file (JPEG or PNG).
        image: PathBuf,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
}

#[derive(Subcommand)]
pub enum ImyCommand {
    /// The register of notifications to IMY (auditors and admins).
    List {
        #[arg(long)]
        json: bool,
    },
    /// One notification: as JSON on stdout, or as the PDF that is sent.
    Show {
        id: String,
        /// Write the PDF here.
        #[arg(long)]
        pdf: Option<PathBuf>,
    },
    /// Record that the notification was sent to IMY (admins).
    Sent { id: String },
    /// Record IMY's acknowledgement, with IMY's reference (admins).
    Acknowledged {
        id: String,
        #[arg(long)]
        reference: String,
    },
}

#[derive(Subcommand)]
pub enum SubjectsCommand {
    /// Persons to notify after verified identifications: applicants see their permits' tasks,
    /// auditors all. Overdue tasks are marked.
    List {
        #[arg(long)]
        json: bool,
        /// Only overdue tasks.
        #[arg(long)]
        overdue: bool,
    },
    /// Put a notification off, with the reason notifying now would harm the purpose.
    Defer {
        id: String,
        /// A file with the reason notifying now would harm the purpose, or `-` for standard
        /// input; asked for if absent.
        #[arg(long)]
        reason_file: Option<PathBuf>,
        /// New due date, UTC (2026-12-01T00:00:00Z).
        #[arg(long)]
        until: String,
    },
    /// Record that the person was notified.
    Done { id: String },
}

pub fn subjects(paths: Paths, cmd: SubjectsCommand) -> Result<()> {
    use mandat_store::subjects::SubjectStep;
    runtime()?.block_on(async {
        let c = control(&paths).await?;
        let actor = logged_in(&c, &paths).await?;
        match cmd {
            SubjectsCommand::List { json, overdue } => {
                let tasks: Vec<_> = c
                    .subject_tasks(&actor)
                    .await?
                    .into_iter()
                    .filter(|v| !overdue || v.overdue)
                    .collect();
                if json {
                    println!("{}", serde_json::to_string_pretty(&tasks)?);
                    return Ok(());
                }
                for v in tasks {
                    let t = &v.task;
                    let state = match (&t.completed_at, v.overdue) {
                        (Some(at), _) => format!("notified {at}"),
                        (None, true) => format!("OVERDUE since {}", t.due_at),
                        (None, false) => format!("due {}", t.due_at),
                    };
                    println!(
                        "{}  permit {}  person {}  {state}{}",
                        t.id,
                        t.permit,
                        t.person,
                        if t.deferrals.is_empty() {
                            String::new()
                        } else {
                            format!("  (deferred {} times)", t.deferrals.len())
                        }
                    );
                }
            }
            SubjectsCommand::Defer {
                id,
                reason_file,
                until,
            } => {
                let reason = read_text(reason_file.as_deref(), "the reason for deferring")?;
                let until = mandat_law::Timestamp::parse_rfc3339(&until).with_context(|| {
                    format!("--until {until:?}: give a UTC time such as 2026-12-01T00:00:00Z")
                })?;
                let t = c
                    .subject_step(&actor, &id, SubjectStep::Defer { reason, until }, &origin())
                    .await?;
                println!("{} deferred to {}", t.id, t.due_at);
            }
            SubjectsCommand::Done { id } => {
                let t = c
                    .subject_step(&actor, &id, SubjectStep::Complete, &origin())
                    .await?;
                println!("{} notified", t.id);
            }
        }
        Ok(())
    })
}

#[derive(Subcommand)]
pub enum ReportCommand {
    /// The annual report of a year (AI Act art. 5(6)), per purpose (auditors and admins).
    Annual {
        #[arg(long)]
        year: i32,
        /// `json`, `csv` or `pdf` (with charts; needs --out).
        #[arg(long, default_value = "json")]
        format: String,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub fn report(paths: Paths, cmd: ReportCommand) -> Result<()> {
    let ReportCommand::Annual { year, format, out } = cmd;
    runtime()?.block_on(async {
        let c = control(&paths).await?;
        let actor = logged_in(&c, &paths).await?;
        let r = c.annual_report(&actor, year).await?;
        let bytes = match format.as_str() {
            "json" => serde_json::to_vec_pretty(&r)?,
            "csv" => mandat_reports::annual::csv(&r).into_bytes(),
            "pdf" => mandat_reports::annual::pdf(&r).map_err(|e| {
                anyhow::anyhow!("drawing the charts: {e}; check fontconfig and a sans-serif font")
            })?,
            other => anyhow::bail!("--format {other:?}: use json, csv or pdf"),
        };
        match out {
            Some(path) => {
                write_private(&path, &bytes)?;
                eprintln!("wrote {}", path.display());
            }
            None if format == "pdf" => anyhow::bail!("a PDF needs --out FILE"),
            None => std::io::stdout().write_all(&bytes)?,
        }
        Ok(())
    })
}

pub fn imy(paths: Paths, cmd: ImyCommand) -> Result<()> {
    use mandat_store::imy::ImyStep;
    runtime()?.block_on(async {
        let c = control(&paths).await?;
        let actor = logged_in(&c, &paths).await?;
        match cmd {
            ImyCommand::List { json } => {
                let reg = c.imy_notifications(&actor).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&reg)?);
                    return Ok(());
                }
                if reg.is_empty() {
                    println!("no notifications: a use is notified when it starts and when it ends");
                }
                for r in reg {
                    let status = match (r.sent_at, r.acknowledged_at) {
                        (_, Some(_)) => format!(
                            "acknowledged ({})",
                            r.imy_reference.as_deref().unwrap_or_default()
                        ),
                        (Some(s), None) => format!("sent {s}"),
                        (None, None) => "NOT SENT".to_string(),
                    };
                    println!("{}  {}  {status}", r.id, r.created_at);
                }
            }
            ImyCommand::Show { id, pdf } => {
                let rec = c.imy_notification(&actor, &id).await?;
                match pdf {
                    Some(path) => {
                        write_private(&path, mandat_reports::imy_pdf(&rec))?;
                        eprintln!("wrote {}", path.display());
                    }
                    None => println!("{}", mandat_reports::imy_json(&rec)),
                }
            }
            ImyCommand::Sent { id } => {
                let r = c.imy_step(&actor, &id, ImyStep::Sent, &origin()).await?;
                println!("{} marked sent", r.id);
            }
            ImyCommand::Acknowledged { id, reference } => {
                let r = c
                    .imy_step(&actor, &id, ImyStep::Acknowledged { reference }, &origin())
                    .await?;
                println!("{} acknowledged by IMY", r.id);
            }
        }
        Ok(())
    })
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Verify the audit log offline: the hash chain, the signed checkpoints, time never going
    /// backwards, and the newest anchor kept outside the host. Reads files only; no server, no key
    /// but the public one.
    Verify {
        /// An export written by `mandat audit export` (instead of the database).
        #[arg(long, conflicts_with = "db")]
        export: Option<PathBuf>,
        /// Database URL to read (read-only). Defaults to the configured database.
        #[arg(long)]
        db: Option<String>,
        /// The trusted public key (hex), as `mandat init` printed it and IMY holds it. Never taken
        /// from the log or the host: whoever can rewrite the log can also sign with a key of
        /// their own.
        #[arg(long, required = true)]
        public_key: String,
        /// The anchors: the witness file (`mandat serve --witness file:PATH`), syslog lines from
        /// `--witness syslog`, or an IMY notification as `mandat imy show` prints it. Every anchor in
        /// it is checked; entries cut off after the newest are caught.
        #[arg(long, required = true)]
        anchor: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Write the log for IMY as JSON lines: a header with the public key, entries, checkpoints.
    /// Auditors and admins only.
    Export {
        /// Output file; standard output if absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn parse_agency(s: &str) -> Result<Agency, String> {
    Agency::parse(s)
        .ok_or_else(|| format!("unknown agency {s:?}: use polismyndigheten or sakerhetspolisen"))
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| {
        format!(
            "unknown role {s:?}: use one of {}",
            Role::ALL.map(|r| r.as_str()).join(", ")
        )
    })
}

pub(crate) fn runtime_multi() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The origin recorded in the audit log for CLI actions: the OS user and host.
pub(crate) fn origin() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    format!("cli:{user}@{}", host.trim())
}

/// One line from standard input (with `from_stdin`, or when it is not a terminal), else from a
/// prompt on the terminal. A `secret` is not echoed and keeps its spaces; other input is trimmed.
fn read_line(from_stdin: bool, prompt: &str, secret: bool) -> Result<String> {
    let what = prompt.trim_end_matches([':', ' ']);
    let line = if from_stdin || !std::io::stdin().is_terminal() || !secret {
        if !from_stdin && std::io::stdin().is_terminal() {
            eprint!("{prompt}");
            std::io::stderr().flush()?;
        }
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .with_context(|| format!("reading the {what}"))?;
        line
    } else {
        rpassword::prompt_password(prompt).with_context(|| format!("reading the {what}"))?
    };
    let line = if secret {
        line.trim_end_matches(['\n', '\r']).to_string()
    } else {
        line.trim().to_string()
    };
    if line.is_empty() {
        bail!("the {what} is empty");
    }
    Ok(line)
}

fn read_password(from_stdin: bool, prompt: &str) -> Result<String> {
    read_line(from_stdin, prompt, true)
}

pub(crate) async fn open_store(paths: &Paths) -> Result<Arc<Store>> {
    let master = SecretKey::master(&paths.master_key()).map_err(anyhow::Error::from)?;
    let audit = AuditKey::load(&paths.audit_key()).map_err(anyhow::Error::from)?;
    let store = Store::open(&paths.db(), master, audit)
        .await
        .with_context(|| format!("opening the database {}", paths.db()))?;
    Ok(Arc::new(store))
}

pub(crate) async fn control(paths: &Paths) -> Result<Control> {
    let store = open_store(paths).await?;
    let profile = paths.profile()?;
    // A process under another profile than the one `init` chose is refused.
    store.bind_profile(profile.name).await?;
    let c = Control::new(store, Arc::new(SystemClock), profile);
    // Deadlines act before anything else is done, even when no server runs.
    c.tick(&origin()).await?;
    Ok(c)
}

pub(crate) async fn logged_in(c: &Control, paths: &Paths) -> Result<Actor> {
    let file = paths.session();
    let token = std::fs::read_to_string(&file).map_err(|_| {
        anyhow::anyhow!(
            "not logged in ({} not found): run `mandat login --user ID`",
            file.display()
        )
    })?;
    Ok(c.session(token.trim()).await?)
}

/// Write a file only its owner can read (mode 600, also when it existed before), never through a
/// symbolic link: an export cannot be redirected into a place others read.
pub(crate) fn write_private(path: &Path, text: impl AsRef<[u8]>) -> Result<()> {
    #[cfg(unix)]
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    let mut f = opts.open(path).with_context(|| {
        format!(
            "writing {} (mandat never writes through a symbolic link)",
            path.display()
        )
    })?;
    #[cfg(unix)]
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("making {} private", path.display()))?;
    f.write_all(text.as_ref())?;
    f.sync_all()?;
    Ok(())
}

/// Make a directory of mandat's own private (mode 700), creating it if needed.
pub(crate) fn private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private (mode 700)", dir.display()))?;
    }
    Ok(())
}

/// Free text (a reason, a stream URL) from a file, from standard input (`-`), or, with neither,
/// from a prompt on a terminal or else standard input. Never from the command line, which `ps`
/// shows to every user of the host.
pub(crate) fn read_text(file: Option<&Path>, what: &str) -> Result<String> {
    let text = match file {
        Some(p) if p == Path::new("-") => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut s)
                .with_context(|| format!("reading {what} from standard input"))?;
            s
        }
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("reading {what} from {}", p.display()))?,
        None if std::io::stdin().is_terminal() => {
            eprint!("{what} (one line): ");
            std::io::stderr().flush()?;
            let mut s = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut s)
                .with_context(|| format!("reading {what}"))?;
            s
        }
        None => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut s)
                .with_context(|| format!("reading {what} from standard input"))?;
            s
        }
    };
    let text = text.trim().to_string();
    if text.is_empty() {
        bail!(
            "{what} is empty: give it in a file (--…-file FILE), on standard input, or at the prompt"
        );
    }
    Ok(text)
}

/// `mandat init` touches files directly: it makes the data directory, the keys (apart from the
/// data) and the database with its first admin and its jurisdiction profile.
pub fn init(paths: Paths, args: InitArgs) -> Result<()> {
    let home = paths.home();
    private_dir(&home)?;
    let mk = paths.master_key();
    if std::env::var("MANDAT_MASTER_KEY").is_err() && !mk.exists() {
        if mk.parent() == Some(paths.keys().as_path()) {
            private_dir(&paths.keys())?;
        }
        write_private(&mk, SecretKey::random()?.to_hex())?;
        eprintln!("created master key {}", mk.display());
    }
    let ak = paths.audit_key();
    if !ak.exists() {
        if ak.parent() == Some(paths.keys().as_path()) {
            private_dir(&paths.keys())?;
        } else if let Some(dir) = ak.parent() {
            std::fs::create_dir_all(dir)?;
        }
        AuditKey::create(&ak)?;
        eprintln!("created audit signing key {}", ak.display());
    }
    if mk.starts_with(&home) || ak.starts_with(&home) {
        eprintln!(
            "warning: a key lies inside the data directory {}: a copy of that directory then holds what it needs to undo a purge. Keep the keys apart (--keys DIR)",
            home.display()
        );
    }
    let first = &args.admin[0];
    let password = read_password(
        args.password_stdin,
        &format!("password for the first admin {first}: "),
    )?;
    runtime()?.block_on(async {
        let c = control(&paths).await?;
        let secret = c
            .provision_user(first, &password, &[Role::Admin], &origin())
            .await?;
        println!(
            "initialised {} (profile {}) with admin {first}; keys in {}; audit public key {}",
            paths.db(),
            c.profile().name,
            paths.keys().display(),
            c.store().audit_public_key()
        );
        println!(
            "second factor of {first}: add this key to an authenticator app (TOTP), now; it is shown only once: {secret}"
        );
        for other in &args.admin[1..] {
            let e = c.provision_account(other, &[Role::Admin], &origin()).await?;
            println!(
                "enrolment code of admin {other} (hand it over in person; valid until {}): {}",
                e.expires_at, e.enrolment_code
            );
        }
        if args.admin.len() < 2 {
            eprintln!(
                "warning: only one admin: role grants need a second admin's approval, so no other account can get a role. Run `mandat init --admin {first} --admin OTHER` on a fresh database"
            );
        }
        println!(
            "keep the audit public key where the host cannot change it (IMY has it in every notification); `mandat audit verify` needs it"
        );
        Ok(())
    })
}

pub fn login(paths: Paths, args: LoginArgs) -> Result<()> {
    let password = read_password(
        args.password_stdin,
        &format!("password for {}: ", args.user),
    )?;
    let code = read_line(args.password_stdin, "one-time code from your app: ", false)?;
    // Whoever logs in stops acting as the previous user, even if this login fails.
    let _ = std::fs::remove_file(paths.session());
    runtime()?.block_on(async {
        let c = control(&paths).await?;
        let (actor, token) = c.login(&args.user, &password, &code, &origin()).await?;
        write_private(&paths.session(), &token)?;
        println!(
            "logged in as {} ({})",
            actor.user,
            actor
                .roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(())
    })
}

/// Enrol with the one-time code an admin handed over: set the password, print the second factor.
pub fn enrol(paths: Paths, args: EnrolArgs) -> Result<()> {
    let code = read_line(args.stdin, "enrolment code: ", false)?;
    let password = read_password(args.stdin, "choose a password (at least 12 characters): ")?;
    if !args.stdin && std::io::stdin().is_terminal() {
        let again = read_password(false, "the same password again: ")?;
        if again != password {
            bail!("the passwords differ; run `mandat enrol` again");
        }
    }
    runtime()?.block_on(async {
        let c = control(&paths).await?;
        let f = c
            .enrol_account(&args.user, &code, &password, &origin())
            .await?;
        println!(
            "enrolled {}. Add this key to your authenticator app (TOTP) now; it is shown only once: {}",
            args.user, f.totp_secret
        );
        println!("as a link: {}", f.otpauth_url);
        Ok(())
    })
}

/// Change one's own password; every session ends, so log in again.
pub fn password(paths: Paths, args: PasswordArgs) -> Result<()> {
    let current = read_password(args.stdin, "current password: ")?;
    let new = read_password(args.stdin, "new password (at least 12 characters): ")?;
    runtime()?.block_on(async {
        let c = control(&paths).await?;
        let a = logged_in(&c, &paths).await?;
        c.change_password(&a, &current, &new, &origin()).await?;
        let _ = std::fs::remove_file(paths.session());
        println!(
            "password changed; every session of {} ended: log in again",
            a.user
        );
        Ok(())
    })
}

pub fn logout(paths: Paths) -> Result<()> {
    runtime()?.block_on(async {
        let file = paths.session();
        if let Ok(token) = std::fs::read_to_string(&file) {
            let c = control(&paths).await?;
            c.logout(token.trim()).await?;
            std::fs::remove_file(&file)?;
        }
        println!("logged out");
        Ok(())
    })
}

pub fn whoami(paths: Paths) -> Result<()> {
    runtime()?.block_on(async {
        let c = control(&paths).await?;
        let a = logged_in(&c, &paths).await?;
        println!(
            "{} ({})",
            a.user,
            a.roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(())
    })
}

pub fn user(paths: Paths, cmd: UserCommand) -> Result<()> {
    runtime()?.block_on(async {
        let c = control(&paths).await?;
        let actor = logged_in(&c, &paths).await?;
        match cmd {
            UserCommand::Add { id, roles, agency } => {
                let e = c
                    .create_account(&actor, &id, &roles, agency, &origin())
                    .await?;
                println!(
                    "added user {id}; enrolment code (hand it over in person; valid until {}): {}",
                    e.expires_at, e.enrolment_code
                );
                if let Some(g) = e.grant {
                    println!(
                        "the roles take effect when another admin runs `mandat user approve {g}`"
                    );
                }
            }
            UserCommand::Roles { id, roles } => {
                match c.request_roles(&actor, &id, &roles, &origin()).await? {
                    mandat_store::RoleChange::Applied => println!("roles of {id} set"),
                    mandat_store::RoleChange::Pending { grant } => println!(
                        "requested; the roles take effect when another admin runs `mandat user approve {grant}`"
                    ),
                }
            }
            UserCommand::Grants { json } => {
                let grants = c.grants(&actor).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&grants)?);
                } else {
                    for g in grants {
                        println!(
                            "{}\t{}\t{}\trequested by {} at {}",
                            g.id,
                            g.user,
                            g.roles
                                .iter()
                                .map(|r| r.as_str())
                                .collect::<Vec<_>>()
                                .join(","),
                            g.requested_by,
                            g.requested_at
                        );
                    }
                }
            }
            UserCommand::Approve { grant } => {
                let g = c.approve_grant(&actor, &grant, &origin()).await?;
                println!(
                    "approved: {} now holds {}",
                    g.user,
                    g.roles
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                );
            }
            UserCommand::Reset { id } => {
                let e = c.reset_enrolment(&actor, &id, &origin()).await?;
                println!(
                    "new enrolment code for {id} (hand it over in person; valid until {}): {}",
                    e.expires_at, e.enrolment_code
                );
                if let Some(g) = e.grant {
                    println!(
                        "its roles take effect again when another admin runs `mandat user approve {g}`"
                    );
                }
            }
            UserCommand::List { json } => {
                let users = c.users(&actor).await?;
                if json {
                    let v: Vec<_> = users
                        .iter()
                        .map(|u| json!({"id": u.user, "roles": u.roles, "agency": u.agency, "disabled_at": u.disabled_at, "enrolled": u.enrolled, "pending": u.pending}))
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&v)?);
                } else {
                    for u in users {
                        println!(
                            "{}\t{}\t{}{}",
                            u.user,
                            u.agency.as_str(),
                            u.roles
                                .iter()
                                .map(|r| r.as_str())
                                .collect::<Vec<_>>()
                                .join(","),
                            u.disabled_at
                                .map(|t| format!("\tdisabled {t}"))
                                .unwrap_or_default()
                        );
                    }
                }
            }
            UserCommand::Disable { id } => {
                c.disable_user(&actor, &id, &origin()).await?;
                println!("disabled {id}; its sessions are ended");
            }
        }
        Ok(())
    })
}

pub fn session(paths: Paths, cmd: SessionCommand) -> Result<()> {
    let SessionCommand::Revoke { user } = cmd;
    runtime()?.block_on(async {
        let c = control(&paths).await?;
        let actor = logged_in(&c, &paths).await?;
        let n = c.revoke_sessions(&actor, &user, &origin()).await?;
        println!("ended {n} session(s) of {user}");
        Ok(())
    })
}

pub fn camera(paths: Paths, cmd: CameraCommand) -> Result<()> {
    runtime()?.block_on(async {
        let c = control(&paths).await?;
        let actor = logged_in(&c, &paths).await?;
        match cmd {
            CameraCommand::Add {
                id,
                name,
                lat,
                lon,
                owner,
                url_file,
                disabled,
            } => {
                if lat.is_some() != lon.is_some() {
                    bail!("give both --lat and --lon, or neither");
                }
                let url = read_text(url_file.as_deref(), "the stream URL")?;
                check_stream_url(&url)?;
                let cam = Camera {
                    id: id.clone(),
                    name,
                    location: lat.zip(lon),
                    owner,
                    enabled: !disabled,
                };
                c.add_camera(&actor, &cam, &url, &origin()).await?;
                println!("added camera {id}");
            }
            CameraCommand::List { json } => {
                let cams = c.cameras(&actor).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&cams)?);
                } else {
                    for cam in cams {
                        let loc = cam
                            .location
                            .map(|(a, b)| format!("{a:.5},{b:.5}"))
                            .unwrap_or_else(|| "-".into());
                        println!(
                            "{}\t{}\t{}\t{}\t{}",
                            cam.id,
                            cam.name,
                            loc,
                            cam.owner,
                            if cam.enabled { "enabled" } else { "disabled" }
                        );
                    }
                }
            }
        }
        Ok(())
    })
}

/// A camera is an RTSP stream or a recorded MP4 file replayed as one.
fn check_stream_url(url: &str) -> Result<()> {
    if url.starts_with("rtsp://") || url.starts_with("rtsps://") {
        return Ok(());
    }
    let path = Path::new(url.strip_prefix("file://").unwrap_or(url));
    if path.is_file() {
        return Ok(());
    }
    bail!(
        "stream URL must be rtsp://HOST[:PORT]/PATH (credentials may be given as rtsp://USER:PASSWORD@HOST/...) or an existing MP4 file to replay as a camera"
    )
}

fn print_permit(p: &Permit, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(p)?);
        return Ok(());
    }
    let now = wall_now();
    let a = &p.application;
    println!("permit {}  [{}]", p.id, p.phase_at(now));
    println!("  purpose     {}", a.purpose.as_str());
    if let Some(o) = &a.offence {
        println!(
            "  offence     {} ({:?}, max {} years, {:?})",
            o.description, o.annex_ii, o.max_penalty_years, o.stage
        );
    }
    println!("  applicant   {} ({:?})", p.applicant, a.agency);
    println!("  period      {} .. {}", a.period.start, a.period.end);
    println!(
        "  area        cameras [{}]{}",
        a.area.cameras.join(", "),
        a.area
            .polygon
            .as_ref()
            .map(|poly| format!(" + polygon of {} points", poly.len()))
            .unwrap_or_default()
    );
    println!("  persons     {}", a.persons.len());
    match &a.target {
        Some(t) => println!(
            "  threshold   {:.4} (target FPIR {} for {} person(s), calibration {})",
            a.threshold, t.fpir, t.watchlist, t.calibration
        ),
        None => println!(
            "  threshold   {:.4} (a plain cosine, not calibrated)",
            a.threshold
        ),
    }
    if let Some(u) = &p.urgent {
        println!(
            "  urgent      started {} by {}, application due {}",
            u.started_at, u.started_by, u.deadline
        );
    }
    if let Some(d) = &p.decision {
        println!(
            "  decision    {:?} by {} ({:?}) at {}: {}",
            d.outcome, d.by, d.authority, d.at, d.reasons
        );
    }
    if let Some(s) = &p.stop {
        println!(
            "  stopped     {} by {}: {}",
            s.at,
            s.by.as_deref().unwrap_or("mandat"),
            s.reason
        );
    }
    if p.purged {
        println!("  purged      all data of this use deleted; its key destroyed");
    }
    Ok(())
}

fn wall_now() -> mandat_law::Timestamp {
    use mandat_law::Clock;
    SystemClock.now().unwrap_or(mandat_law::Timestamp(0))
}

pub fn permit(paths: Paths, cmd: PermitCommand) -> Result<()> {
    runtime()?.block_on(async {
        let c = control(&paths).await?;
        let actor = logged_in(&c, &paths).await?;
        let o = origin();
        match cmd {
            PermitCommand::Draft { file, json } => {
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?;
                let app: Application = serde_json::from_str(&text).with_context(|| {
                    format!(
                        "{} is not a valid application; see docs/application.example.json",
                        file.display()
                    )
                })?;
                let p = c.draft(&actor, app, &o).await?;
                if json {
                    print_permit(&p, true)?;
                } else {
                    println!("drafted permit {}", p.id);
                    let problems = p.application.check(c.profile());
                    for r in problems {
                        println!("  to fix before applying: {r}");
                    }
                }
            }
            PermitCommand::Apply { id } => {
                let p = c.apply(&actor, &id, &o).await?;
                println!("permit {} applied for; now {:?}", p.id, p.status);
            }
            PermitCommand::Decide {
                id,
                grant,
                reasons_file,
                json,
                ..
            } => {
                let reasons = read_text(reasons_file.as_deref(), "the decision's reasons")?;
                let outcome = if grant { Outcome::Grant } else { Outcome::Refuse };
                let (p, cert) = c.decide(&actor, &id, outcome, &reasons, &o).await?;
                if json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&json!({"permit": p, "deletion_certificate": cert}))?
                    );
                } else {
                    println!("permit {} {:?}", p.id, p.status);
                    if let Some(cert) = cert {
                        println!(
                            "urgent use refused: deleted {} photo(s), {} template(s), {} alert(s); data key destroyed: {}",
                            cert.photos.len(),
                            cert.templates.len(),
                            cert.alerts.len(),
                            cert.data_key_destroyed
                        );
                    }
                }
            }
            PermitCommand::UrgentStart { id } => {
                let p = c.urgent_start(&actor, &id, &o).await?;
                let due = p.urgent.as_ref().map(|u| u.deadline.to_string()).unwrap_or_default();
                println!("urgent use of permit {} started; file the application by {due}", p.id);
            }
            PermitCommand::Stop { id, reason_file } => {
                let reason = read_text(reason_file.as_deref(), "the reason for stopping")?;
                let p = c.stop(&actor, &id, &reason, &o).await?;
                println!("permit {} stopped", p.id);
            }
            PermitCommand::Show { id, json } => {
                let p = c.permit(&actor, &id).await?;
                print_permit(&p, json)?;
            }
            PermitCommand::List { json } => {
                let ps = c.permits(&actor).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&ps)?);
                } else {
                    let now = wall_now();
                    for p in ps {
                        println!(
                            "{}\t{}\t{}\t{} .. {}",
                            p.id,
                            p.phase_at(now),
                            p.application.purpose.as_str(),
                            p.application.period.start,
                            p.application.period.end
                        );
                    }
                }
            }
        }
        Ok(())
    })
}

pub fn person(paths: Paths, cmd: PersonCommand) -> Result<()> {
    let PersonCommand::Enrol {
        permit,
        person,
        photo_id,
        image,
        pipeline,
    } = cmd;
    let bytes = std::fs::read(&image).with_context(|| format!("reading {}", image.display()))?;
    let img = mandat_face::decode(&bytes, mandat_face::DecodeLimits::default())
        .with_context(|| format!("{} is not a usable image", image.display()))?;
    let models = Models::load(&pipeline)?;
    let mut pipe = models.pipeline(&pipeline)?;
    let face = pipe
        .reference_template(&img, &mandat_face::QualityGate::ENROLMENT)
        .with_context(|| format!("{} cannot be enrolled", image.display()))?;
    runtime()?.block_on(async {
        let c = control(&paths).await?;
        let actor = logged_in(&c, &paths).await?;
        c.enrol(
            &actor,
            &permit,
            &person,
            &photo_id,
            &bytes,
            face.embedding.as_slice(),
            &origin(),
        )
        .await?;
        println!(
            "enrolled photo {photo_id} of {person} in permit {permit} (eyes {:.0} px apart, sharpness {:.0})",
            face.quality.inter_eye_px, face.quality.sharpness
        );
        Ok(())
    })
}

pub fn tick(paths: Paths) -> Result<()> {
    runtime()?.block_on(async {
        let c = control(&paths).await?;
        // `control` has ticked already; report what is pending.
        let now = c.now()?;
        let n = c
            .store()
            .permits()
            .await?
            .iter()
            .filter(|p| p.is_active_at(now))
            .count();
        println!("deadlines enforced; {n} permit(s) in use");
        Ok(())
    })
}

pub fn audit(paths: Paths, cmd: AuditCommand) -> Result<()> {
    match cmd {
        AuditCommand::Verify {
            export,
            db,
            public_key,
            anchor,
            json,
        } => {
            let (entries, cps) = match export {
                Some(file) => {
                    let (e, c, _) = read_export(&file)?;
                    (e, c)
                }
                None => {
                    let url = db.unwrap_or_else(|| paths.db());
                    runtime()?
                        .block_on(mandat_store::read_audit_log(&url))
                        .with_context(|| format!("reading the audit log of {url}"))?
                }
            };
            let key = mandat_audit::parse_public_key(&public_key)?;
            let text = std::fs::read_to_string(&anchor)
                .with_context(|| format!("reading the anchor file {}", anchor.display()))?;
            let anchors = mandat_audit::anchors_in(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", anchor.display()))?;
            let newest = anchors.iter().map(|a| a.seq).max().with_context(|| {
                format!(
                    "{} holds no anchor: give the witness file, the syslog lines or an IMY notification",
                    anchor.display()
                )
            })?;
            let verdict = mandat_audit::verify_anchored(&entries, &cps, &key, &anchors);
            if json {
                println!("{}", serde_json::to_string(&verdict)?);
            } else {
                match &verdict {
                    Verdict::Intact {
                        entries,
                        checkpoints,
                        unsigned_tail,
                    } => println!(
                        "intact: {entries} entries, {checkpoints} signed checkpoints, {unsigned_tail} entries after the last checkpoint; {} anchor(s) match, the newest at entry {newest}",
                        anchors.len()
                    ),
                    Verdict::Broken { seq, reason } => {
                        println!("BROKEN at entry {seq}: {reason}")
                    }
                }
            }
            if matches!(verdict, Verdict::Broken { .. }) {
                std::process::exit(2);
            }
            Ok(())
        }
        AuditCommand::Export { out } => runtime()?.block_on(async {
            let c = control(&paths).await?;
            let actor = logged_in(&c, &paths).await?;
            let to = out.as_ref().map(|p| p.display().to_string());
            let (entries, cps, public_key) =
                c.audit_export(&actor, to.as_deref(), &origin()).await?;
            let mut text = String::new();
            text.push_str(&serde_json::to_string(&json!({
                "type": "header",
                "format": "mandat-audit-export/v1",
                "public_key": public_key,
                "entries": entries.len(),
                "checkpoints": cps.len(),
                "exported_at": c.now()?.0,
            }))?);
            text.push('\n');
            for e in &entries {
                let mut v = serde_json::to_value(e)?;
                v["type"] = json!("entry");
                text.push_str(&v.to_string());
                text.push('\n');
            }
            for cp in &cps {
                let mut v = serde_json::to_value(cp)?;
                v["type"] = json!("checkpoint");
                text.push_str(&v.to_string());
                text.push('\n');
            }
            match out {
                Some(path) => {
                    write_private(&path, text)?;
                    eprintln!("wrote {} entries to {}", entries.len(), path.display());
                }
                None => std::io::stdout().write_all(text.as_bytes())?,
            }
            Ok(())
        }),
    }
}

type Export = (
    Vec<mandat_audit::Entry>,
    Vec<mandat_audit::Checkpoint>,
    Option<String>,
);

fn read_export(file: &Path) -> Result<Export> {
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let (mut entries, mut cps, mut key) = (Vec::new(), Vec::new(), None);
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let mut v: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("{} line {}: not JSON", file.display(), i + 1))?;
        let kind = v["type"].as_str().unwrap_or_default().to_string();
        if let Some(o) = v.as_object_mut() {
            o.remove("type");
        }
        match kind.as_str() {
            "header" => key = v["public_key"].as_str().map(str::to_string),
            "entry" => entries.push(
                serde_json::from_value(v)
                    .with_context(|| format!("{} line {}: bad entry", file.display(), i + 1))?,
            ),
            "checkpoint" => {
                cps.push(serde_json::from_value(v).with_context(|| {
                    format!("{} line {}: bad checkpoint", file.display(), i + 1)
                })?)
            }
            other => bail!(
                "{} line {}: unknown record type {other:?}",
                file.display(),
                i + 1
            ),
        }
    }
    Ok((entries, cps, key))
}
