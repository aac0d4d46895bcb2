//! The commands that touch mandat's files directly, and the argument types of the lawful-use
//! commands. Only four kinds of command open the database or the keys: `init` (creates them),
//! offline `audit verify` (reads the log, needs only the public key), `serve` and `demo` (the server
//! itself). Every other lawful-use command is a client of the server ([`crate::commands`]): it acts
//! as the user logged in with `mandat login`, and there is no flag to act as someone else.
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
use mandat_law::{Profile, Role, SystemClock};
use mandat_store::{SecretKey, Store};

/// Where mandat keeps its database and keys. The keys live apart from the data by default, so a copy
/// of the data directory (a backup, a stolen disk image) holds no key to open it.
#[derive(Args, Clone, Debug)]
pub struct Paths {
    /// Directory for the default database (made private, mode 700). Used by `init`, `serve`,
    /// `demo` and offline `audit verify` only.
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
    /// The CLI's login session file: server, CA and token, mode 600 (default:
    /// `$XDG_CONFIG_HOME/mandat/session`, never in the data or key directory).
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
    /// The wrapping key of the permits' data keys, in epochs (`mandat keys rotate`): always in
    /// the key directory, because a rotation replaces it.
    pub fn wrap_key(&self) -> PathBuf {
        self.keys().join("wrap.key")
    }
    pub fn audit_key(&self) -> PathBuf {
        self.audit_key
            .clone()
            .unwrap_or_else(|| self.keys().join("audit.key"))
    }
    /// The CLI's session (server, token): the user's own, outside the data and key directories,
    /// which a CLI user need not be able to read.
    pub fn session(&self) -> PathBuf {
        self.session.clone().unwrap_or_else(|| {
            std::env::var_os("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
                .unwrap_or_else(|| PathBuf::from("."))
                .join("mandat/session")
        })
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
    #[command(flatten)]
    pub server: crate::client::ServerArgs,
    #[arg(long)]
    pub user: String,
    /// Read the password from the first line of standard input, and the one-time code from the
    /// second, instead of prompts.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Args)]
pub struct EnrolArgs {
    #[command(flatten)]
    pub server: crate::client::ServerArgs,
    #[arg(long)]
    pub user: String,
    /// Read the enrolment code from the first line of standard input and the new password from the
    /// second, instead of prompts.
    #[arg(long)]
    pub stdin: bool,
}

#[derive(Args)]
pub struct PasswordArgs {
    /// Read the current password from the first line of standard input and the new one from the
    /// second, instead of prompts.
    #[arg(long)]
    pub stdin: bool,
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
pub enum KeysCommand {
    /// Start a new key epoch: re-wrap every live data key under a fresh wrapping key and destroy
    /// the old one, so no backup made before can unwrap what has been erased since (admins; the
    /// server also does this after every erasure and daily).
    Rotate,
}

/// A partner camera's agreement: a partner's camera is analysed only within its period.
#[derive(clap::Args, Default)]
pub struct AgreementArgs {
    /// The legal basis on which the partner lets the police use the camera.
    #[arg(long = "agreement-basis")]
    pub basis: Option<String>,
    /// The agreement's reference (diarienummer).
    #[arg(long = "agreement-ref")]
    pub reference: Option<String>,
    /// Its first day, `YYYY-MM-DD` (from 00:00 UTC), or an RFC 3339 instant.
    #[arg(long = "agreement-from")]
    pub from: Option<String>,
    /// Its last day, `YYYY-MM-DD` (through 24:00 UTC), or an RFC 3339 instant it ends at.
    #[arg(long = "agreement-until")]
    pub until: Option<String>,
    /// Whom the police call about the camera at the partner.
    #[arg(long = "agreement-contact")]
    pub contact: Option<String>,
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
        #[command(flatten)]
        agreement: AgreementArgs,
    },
    /// Record a partner camera's new or renewed agreement (admins; audited).
    Agreement {
        id: String,
        #[command(flatten)]
        agreement: AgreementArgs,
    },
    /// Stop analysing a camera (a partner withdrew it, or it is down for work); audited.
    Disable { id: String },
    /// Analyse a disabled camera again, where a decision covers it.
    Enable { id: String },
    /// Point a camera at a new stream; the URL comes from a file or standard input (`-`).
    SetUrl {
        id: String,
        #[arg(long)]
        url_file: Option<PathBuf>,
    },
    /// Remove a camera from the register; the permits that named it show it as removed.
    Remove { id: String },
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
    /// Put a user on the permit's team (its applicant only): the decider the application is
    /// filed to (`judge` or `prosecutor`, as the purpose requires), or an `operator` or a
    /// `reviewer` who works on its alerts. Only the team sees the permit.
    Assign {
        id: String,
        #[arg(long)]
        user: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// Take a user off the permit's team (the decider stays once the application is filed).
    Unassign {
        id: String,
        #[arg(long)]
        user: String,
    },
    /// File the application with the decider on the team.
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
        /// Grant only this camera (repeat): a partial grant, within those applied for.
        #[arg(long = "camera", requires = "grant")]
        cameras: Vec<String>,
        /// Grant only this person (repeat), within those named in the application.
        #[arg(long = "person", requires = "grant")]
        persons: Vec<String>,
        /// End the period earlier than applied for (RFC 3339).
        #[arg(long, requires = "grant")]
        until: Option<String>,
        /// The court's or prosecutor's own case number, registered before the decision.
        #[arg(long)]
        case_number: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Hand a permit the police drafted (perhaps started urgently) for a purpose a prosecutor
    /// applies for to that prosecutor, who becomes its applicant and files it.
    HandOver {
        id: String,
        /// The prosecutor's user name.
        #[arg(long)]
        to: String,
    },
    /// Confirm the offence an application describes by hand rather than from the catalogue
    /// (a prosecutor who applies or decides on the permit).
    ConfirmOffence { id: String },
    /// Appoint the application's public counsel (its court, where the profile requires one).
    Counsel {
        id: String,
        /// The counsel's user name: an account holding the counsel role alone.
        #[arg(long)]
        user: String,
    },
    /// File the public counsel's opinion on the application (the counsel appointed to it).
    Opinion {
        id: String,
        #[arg(
            long,
            conflicts_with = "no_objection",
            required_unless_present = "no_objection"
        )]
        opposes: bool,
        #[arg(long)]
        no_objection: bool,
        /// A file with the opinion, or `-` for standard input; asked for if absent.
        #[arg(long)]
        text_file: Option<PathBuf>,
    },
    /// Record the hearing the court held on the application (its court).
    Hearing {
        id: String,
        /// When it was held (RFC 3339); now, by the server's clock, if absent.
        #[arg(long)]
        held_at: Option<String>,
        /// Who was present.
        #[arg(long)]
        present: String,
        /// A file with what the hearing came to, or `-` for standard input; asked for if absent.
        #[arg(long)]
        outcome_file: Option<PathBuf>,
    },
    /// Appeal the decision, within the profile's period: the public counsel a grant, the
    /// applicant a refusal or a partial grant.
    Appeal {
        id: String,
        /// The higher instance: a judge (or prosecutor) who has had no part in the permit.
        #[arg(long)]
        to: String,
        /// A file with the grounds, or `-` for standard input; asked for if absent.
        #[arg(long)]
        grounds_file: Option<PathBuf>,
    },
    /// Decide the appeal filed to you. Overturning a grant stops the use and purges what it
    /// produced.
    DecideAppeal {
        id: String,
        #[arg(
            long,
            conflicts_with = "overturn",
            required_unless_present = "overturn"
        )]
        uphold: bool,
        #[arg(long)]
        overturn: bool,
        /// A file with the reasons, or `-` for standard input; asked for if absent.
        #[arg(long)]
        reasons_file: Option<PathBuf>,
    },
    /// The jurisdiction profile's catalogue of offences (their codes go in an application's
    /// `offence.code`).
    Offences {
        #[arg(long)]
        json: bool,
    },
    /// Ask to add registered cameras to a granted permit (its applicant). Nothing is analysed on
    /// them until the permit's court or prosecutor grants the amendment (`decide-amendment`).
    Amend {
        id: String,
        /// A camera to add (repeat).
        #[arg(long = "camera", required = true)]
        cameras: Vec<String>,
        /// A file with why the purpose needs them, or `-` for standard input; asked for if absent.
        #[arg(long)]
        reasons_file: Option<PathBuf>,
    },
    /// Grant or refuse a permit's open amendment (its court or prosecutor).
    DecideAmendment {
        id: String,
        /// The amendment's number, as `permit show` lists it.
        #[arg(long)]
        number: u32,
        #[arg(long, conflicts_with = "refuse", required_unless_present = "refuse")]
        grant: bool,
        #[arg(long)]
        refuse: bool,
        /// A file with the decision's reasons, or `-` for standard input; asked for if absent.
        #[arg(long)]
        reasons_file: Option<PathBuf>,
    },
    /// Start use at once, before a decision; the application must follow within 24 hours.
    UrgentStart {
        id: String,
        /// A file with the ground (why use cannot wait for a decision), or `-` for standard
        /// input; asked for if absent.
        #[arg(long)]
        ground_file: Option<PathBuf>,
    },
    /// Stop use now.
    Stop {
        id: String,
        /// A file with the reason, or `-` for standard input; asked for if absent.
        #[arg(long)]
        reason_file: Option<PathBuf>,
    },
    /// Put a legal hold on the permit's data (its prosecutor or judge): the retention schedule
    /// keeps it until the hold is lifted. A refusal's erasure is never held.
    Hold {
        id: String,
        /// A file with the reason, or `-` for standard input; asked for if absent.
        #[arg(long)]
        reason_file: Option<PathBuf>,
    },
    /// Lift the legal hold; what the schedule says is due is erased at once.
    ReleaseHold { id: String },
    /// Record what the use led to, once it has ended (its applicant), for the annual report's
    /// outcomes per purpose. Recording again corrects it; the audit log keeps both.
    Outcome {
        id: String,
        /// person_located, arrested, victim_found, false_identification_acted_on, or nothing
        /// (alone); repeat for several.
        #[arg(long = "result", required = true, value_parser = parse_use_result)]
        results: Vec<mandat_law::UseResult>,
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
        /// The image file (JPEG or PNG). The server runs the face pipeline on it.
        image: PathBuf,
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
    /// Persons to notify, one task per person and permit, due when the use ends: applicants see
    /// their permits' tasks, prosecutors and deciders those they have a part in, auditors all.
    /// Overdue tasks and requests waiting for a decision are marked.
    List {
        #[arg(long)]
        json: bool,
        /// Only overdue tasks.
        #[arg(long)]
        overdue: bool,
    },
    /// Put a notification off, with the reason notifying now would harm the purpose. The first
    /// deferral takes effect at once; a later one waits for a prosecutor of the permit.
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
    /// Approve or reject the deferral asked for (a prosecutor of the permit).
    DecideDeferral {
        id: String,
        /// Reject it rather than approve it.
        #[arg(long)]
        reject: bool,
    },
    /// Ask that the person not be notified at all; the permit's decider decides.
    Waive {
        id: String,
        /// A file with the reasons, or `-` for standard input; asked for if absent.
        #[arg(long)]
        reasons_file: Option<PathBuf>,
    },
    /// Decide a request not to notify, with reasons (the court or prosecutor who decided the
    /// permit).
    DecideWaiver {
        id: String,
        /// Refuse the request: the person is to be notified.
        #[arg(long)]
        refuse: bool,
        /// A file with the reasons, or `-` for standard input; asked for if absent.
        #[arg(long)]
        reasons_file: Option<PathBuf>,
    },
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
    /// A partner's cameras per day against 95 % availability, with their fitness (auditors):
    /// over a span of days, or over one permit's period and cameras.
    Sla {
        /// `municipality:NAME`, `region:NAME` or `private:NAME`.
        #[arg(long)]
        owner: String,
        /// First day, `YYYY-MM-DD`.
        #[arg(long, requires = "until", conflicts_with = "permit")]
        from: Option<String>,
        /// Last day, `YYYY-MM-DD`.
        #[arg(long, requires = "from")]
        until: Option<String>,
        /// The permit whose period and cameras to report.
        #[arg(long)]
        permit: Option<String>,
        /// `json`, `csv` or `pdf` (needs --out).
        #[arg(long, default_value = "csv")]
        format: String,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
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

fn parse_use_result(s: &str) -> Result<mandat_law::UseResult, String> {
    use mandat_law::UseResult;
    UseResult::parse(s).ok_or_else(|| {
        format!(
            "unknown result {s:?}: use one of {}",
            UseResult::ALL.map(|r| r.as_str()).join(", ")
        )
    })
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
pub(crate) fn read_line(from_stdin: bool, prompt: &str, secret: bool) -> Result<String> {
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

pub(crate) fn read_password(from_stdin: bool, prompt: &str) -> Result<String> {
    read_line(from_stdin, prompt, true)
}

pub(crate) async fn open_store(paths: &Paths) -> Result<Arc<Store>> {
    let master = SecretKey::master(&paths.master_key()).map_err(anyhow::Error::from)?;
    let audit = AuditKey::load(&paths.audit_key()).map_err(anyhow::Error::from)?;
    let wrap = mandat_store::WrapKeys::file(&paths.wrap_key()).map_err(anyhow::Error::from)?;
    let store = Store::open(&paths.db(), master, audit, wrap)
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
    let wk = paths.wrap_key();
    if !wk.exists() {
        private_dir(&paths.keys())?;
        mandat_store::WrapKeys::create(&wk)?;
        eprintln!("created wrapping key {} (key epoch 1)", wk.display());
    }
    crate::server::load_or_create_ca(&paths)?;
    if mk.starts_with(&home) || ak.starts_with(&home) || wk.starts_with(&home) {
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
        let holder = c.key_holder(&SecretKey::master(&paths.master_key())?)?;
        let secret = c
            .provision_user(&holder, first, &password, &[Role::Admin], &origin())
            .await?;
        println!(
            "initialised {} (profile {}) with admin {first}; keys in {}; audit public key {}",
            paths.db(),
            c.profile().name,
            paths.keys().display(),
            c.audit_public_key()
        );
        println!(
            "second factor of {first}: add this key to an authenticator app (TOTP), now; it is shown only once: {secret}"
        );
        for other in &args.admin[1..] {
            let e = c
                .provision_account(&holder, other, &[Role::Admin], &origin())
                .await?;
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
        AuditCommand::Export { out } => crate::commands::audit_export(paths, out.as_deref()),
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
