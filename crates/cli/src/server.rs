//! `mandat serve` (control plane, engine and API in one process), `mandat demo` (the same, on fresh
//! demo data made through the real lawful path) and `mandat alerts` (list, show, review, dispatch,
//! watch).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use mandat_control::{ChannelSink, Control, ScopeCache};
use mandat_engine::{CameraSpec, Engine, SourceSpec};
use mandat_law::permit::*;
use mandat_law::{Application, Clock, Outcome, Role, SystemClock};
use mandat_store::{Camera, SecretKey};

use crate::lawful::{Paths, open_store, runtime_multi, write_private};
use crate::{EngineArgs, Models, PipelineArgs};

#[derive(Args, Clone)]
pub struct ServeArgs {
    /// Address of the API and web app. Plain HTTP is served on loopback only; other addresses
    /// need --tls-cert and --tls-key.
    #[arg(long, env = "MANDAT_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// PEM certificate chain for HTTPS (leaf first).
    #[arg(long, env = "MANDAT_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of that certificate.
    #[arg(long, env = "MANDAT_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
    /// Minutes a candidate alert waits for its two reviewers before it expires.
    #[arg(long, default_value_t = 15)]
    alert_ttl_minutes: i64,
    /// A file holding the bearer token `/metrics` asks for (mode 600). Without it, metrics are off.
    #[arg(long, env = "MANDAT_METRICS_TOKEN_FILE")]
    metrics_token_file: Option<PathBuf>,
    /// Where the audit log's signed head is written, so it is kept outside the host:
    /// `file:PATH` (append-only storage elsewhere, such as a WORM share or a file with
    /// `chattr +a`) or `syslog` (the host's syslog, forwarded to the log server). Repeatable.
    #[arg(long = "witness", env = "MANDAT_WITNESS", value_delimiter = ',', value_parser = parse_witness)]
    witnesses: Vec<Witness>,
    /// Seconds between two witness writes (one is written at start and whenever the head moved).
    #[arg(long, default_value_t = 60)]
    witness_every: u64,
    /// Login attempts one client network may make per minute, on top of each account's back-off.
    /// Raise it only where many people log in from behind one address.
    #[arg(long, default_value_t = mandat_web::LOGINS_PER_MINUTE, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    logins_per_minute: u32,
    #[command(flatten)]
    pipeline: PipelineArgs,
    /// Address of the internal listener where workers (`mandat worker run`) reach this control
    /// process, over mTLS with certificates of the internal CA only. Off without it.
    #[arg(long, env = "MANDAT_INTERNAL_LISTEN")]
    internal_listen: Option<SocketAddr>,
    /// Host names or IP addresses workers use for the internal listener, put in its certificate
    /// (default: localhost and the listen address). Repeatable.
    #[arg(long = "internal-name", value_delimiter = ',')]
    internal_names: Vec<String>,
    /// Run no embedded worker: cameras go to enrolled workers only (what `mandat control` does).
    #[arg(long, env = "MANDAT_NO_EMBEDDED_WORKER")]
    no_embedded_worker: bool,
}

/// Where the audit log's head is anchored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Witness {
    File(PathBuf),
    Syslog,
}

fn parse_witness(s: &str) -> Result<Witness, String> {
    match s.split_once(':') {
        Some(("file", p)) if !p.is_empty() => Ok(Witness::File(PathBuf::from(p))),
        None if s == "syslog" => Ok(Witness::Syslog),
        _ => Err(format!("{s:?}: use file:PATH or syslog")),
    }
}

impl Witness {
    /// Append one anchor line. A file is opened for appending only, never through a symbolic
    /// link, and created readable by this user alone.
    fn write(&self, line: &str) -> Result<()> {
        match self {
            Witness::File(path) => {
                use std::io::Write;
                #[cfg(unix)]
                use std::os::unix::fs::OpenOptionsExt;
                let mut o = std::fs::OpenOptions::new();
                o.append(true).create(true);
                #[cfg(unix)]
                o.mode(0o600).custom_flags(libc::O_NOFOLLOW);
                let mut f = o
                    .open(path)
                    .with_context(|| format!("opening the witness file {}", path.display()))?;
                writeln!(f, "{line}")?;
                f.sync_all()?;
                Ok(())
            }
            Witness::Syslog => {
                let msg = std::ffi::CString::new(format!("mandat-audit-anchor {line}"))?;
                // SAFETY: both strings are NUL-terminated and live across the call; "%s" makes
                // syslog read exactly one string argument.
                unsafe {
                    libc::openlog(c"mandat".as_ptr(), libc::LOG_PID, libc::LOG_AUTHPRIV);
                    libc::syslog(libc::LOG_NOTICE, c"%s".as_ptr(), msg.as_ptr());
                }
                Ok(())
            }
        }
    }
}

/// Write the audit log's head to every witness now and then, when it moved since the last write.
async fn anchor_loop(store: Arc<mandat_store::Store>, witnesses: Vec<Witness>, every: Duration) {
    let mut last: Option<(u64, String)> = None;
    loop {
        // What was anchored last must still be there: a cut that regrows past it is an attack.
        if let Some((seq, hash)) = &last
            && !matches!(store.audit_hash_at(*seq).await, Ok(Some(h)) if h == *hash)
        {
            tracing::error!(
                "the audit log no longer holds entry {seq} as anchored: it was cut or rewritten; `mandat audit verify` with the witness will fail"
            );
        }
        match store.audit_head().await {
            Ok(Some(head)) if last.as_ref().is_none_or(|(seq, _)| head.seq > *seq) => {
                let line = serde_json::to_string(&head).unwrap_or_default();
                let mut all = true;
                for w in &witnesses {
                    if let Err(e) = w.write(&line) {
                        tracing::error!("audit anchor not written to {w:?}: {e:#}");
                        all = false;
                    }
                }
                if all {
                    last = Some((head.seq, head.hash.clone()));
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!("audit anchor: cannot read the log's head: {e}"),
        }
        tokio::time::sleep(every).await;
    }
}

#[derive(Args, Clone)]
pub struct DemoArgs {
    /// Test data with the videos and watchlist photos (default: MANDAT_DATA, else ../shared/data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// How far the demo permit goes before the server starts: `granted` (alerts at once),
    /// `draft` (photos enrolled; the officer applies and the prosecutor decides in the web app),
    /// or `upload` (a draft whose first person's photo the officer uploads in the web app; the
    /// demo prints the file to upload).
    #[arg(long, value_enum, default_value_t = PermitStage::Granted)]
    permit_stage: PermitStage,
    /// The evaluation report of the running models, with its calibration and cohort
    /// (`mandat eval report --write-cohort --out DIR`; setup makes one in the model cache's
    /// `evaluation/`). The demo records it as its risk analysis and its permit states a target.
    #[arg(long)]
    evaluation: Option<PathBuf>,
    #[command(flatten)]
    serve: ServeArgs,
}

/// The demo permit's stated target: at most 2 false alerts per 1,000 passers-by not sought, the
/// strictest of 10⁻², 5·10⁻³, 2·10⁻³ and 10⁻³ that finds every appearance in the synthetic video
/// (`engine/tests/it/e2e.rs::per_person_thresholds_from_a_target_in_the_live_settings`).
pub const DEMO_FPIR: f64 = 2e-3;

/// Where setup leaves the evaluation report of the pinned models (the model cache's
/// `evaluation/`).
pub fn evaluation_dir() -> Result<PathBuf> {
    Ok(mandat_models::Store::from_env()?.root().join("evaluation"))
}

/// The evaluation in `dir`, if it is of the running embedder; else an error that says how to
/// make one.
fn demo_evaluation(
    dir: &Path,
    profile: &mandat_law::Profile,
    sha: &str,
) -> Result<crate::eval::Bundle> {
    let remake = format!(
        "run `scripts/setup.sh` (it makes one in about 5 minutes when the test data is there), or `mandat eval report --no-record --write-cohort --out {}`",
        dir.display()
    );
    let b = crate::eval::Bundle::read(dir).with_context(|| {
        format!("the demo needs an evaluation report of the running models: {remake}")
    })?;
    let short = |s: &str| s.chars().take(12).collect::<String>();
    if b.report.calibration.model_sha256 != sha {
        bail!(
            "the evaluation report in {} is of embedder {}, but mandat runs {}: {remake}",
            dir.display(),
            short(&b.report.calibration.model_sha256),
            short(sha)
        );
    }
    if b.report.sample.is_some() {
        bail!(
            "the evaluation report in {} is a sample, which is no risk analysis: {remake}",
            dir.display()
        );
    }
    // A grant would be refused on an analysis older than the profile allows: say so first.
    let analysis = b.report.risk_analysis().map_err(anyhow::Error::msg)?;
    let now = SystemClock.now().context("the system clock is unknown")?;
    if let Err(r) = mandat_law::risk::check_current(profile, sha, Some(&analysis), now) {
        bail!("{r}: delete {} and {remake}", dir.display());
    }
    Ok(b)
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PermitStage {
    Draft,
    Upload,
    Granted,
}

#[derive(Subcommand)]
pub enum AlertsCommand {
    /// Recent alerts, newest first.
    List {
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// One alert, without its images: reviewers see those in the web app, where each viewing is
    /// recorded and no plaintext copy is left on a disk that no erasure reaches.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Confirm or reject an alert. Two different reviewers must confirm before anyone acts.
    Review {
        id: String,
        #[arg(long, conflicts_with = "reject", required_unless_present = "reject")]
        confirm: bool,
        #[arg(long)]
        reject: bool,
        /// A file with the reason (needed to reject), or `-` for standard input; with --reject and
        /// no file it is asked for.
        #[arg(long)]
        reason_file: Option<PathBuf>,
    },
    /// Export a verified alert to the case as a signed evidence package (a new file, mode 600):
    /// the images, score, threshold, model hashes, verdicts and the audit entries with their
    /// signed checkpoints. Once the file is written, its receipt is confirmed and the images are
    /// erased on the server. Check the package with `mandat evidence verify`.
    Export {
        id: String,
        /// A new file: an existing one is never overwritten.
        #[arg(long)]
        out: PathBuf,
    },
    /// Act on a verified alert (operators).
    Dispatch {
        id: String,
        /// A file with a note for the record, or `-` for standard input.
        #[arg(long)]
        note_file: Option<PathBuf>,
    },
    /// Follow new alerts and changes as they happen (reads the database; no server needed).
    Watch {
        #[arg(long)]
        json: bool,
    },
}

/// How long the embedded engine keeps its cameras while the scope cannot be read or its leases
/// cannot be renewed. Matching stopped at once (the scope gate is empty); this only spares a
/// reconnect storm after a brief database hiccup, and stays under the lease's 6 s.
const DEMAND_GRACE: Duration = Duration::from_secs(5);
/// The engine of `mandat serve`, as named in the log's `camera.assigned` entries: `embedded@`
/// and the host's name, so the log says which machine processed which camera.
fn embedded_worker() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("embedded@{}", host.trim())
}

/// Keep cameras to those in demand, through leases: every round, place the cameras some permit
/// covers now or within the pre-warm minute on live workers (this process's embedded one, if any,
/// and enrolled workers) and take them from workers that left, each change in the audit log; then
/// run, in the embedded engine, exactly the cameras this process's worker leases. A camera is
/// connected only once its assignment is committed.
///
/// A process that cannot read its scope places nothing (it must not release other workers'
/// cameras for its own trouble) and stops renewing its embedded worker's leases, whose cameras
/// then go to other workers; after [`DEMAND_GRACE`] without a renewal, its engine drops every
/// camera on its own (fail closed).
async fn follow_demand(
    control: Arc<Control>,
    scope: Arc<ScopeCache>,
    store: Arc<mandat_store::Store>,
    embedded: Option<(String, Arc<Engine>)>,
) {
    use mandat_control::workers::{LEASE_MS, PRE_WARM};
    let mut urls: std::collections::BTreeMap<(String, i64), String> = Default::default();
    let mut generation = None;
    // The (camera, epoch) leases the embedded engine runs.
    let mut running: Vec<(String, i64)> = Vec::new();
    let mut last_fresh = std::time::Instant::now();
    // When the last successful renewal was sent: the embedded engine's own lease clock. A
    // watchdog drops every camera 5 s after it, however long a database call below hangs.
    let last_renewed: Arc<std::sync::Mutex<Option<std::time::Instant>>> = Arc::default();
    if let Some((_, engine)) = &embedded {
        let (last, engine) = (last_renewed.clone(), engine.clone());
        tokio::spawn(async move {
            loop {
                let lapsed = last
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .is_none_or(|t| t.elapsed() > DEMAND_GRACE);
                if lapsed
                    && !engine.cameras().is_empty()
                    && let Err(e) = engine.set_cameras(Vec::new())
                {
                    tracing::error!("cameras not stopped: {e}");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }
    // Expiry of other workers' leases waits until this process has had the database for a lease.
    let mut db_up_since: Option<std::time::Instant> = None;
    let step = Duration::from_secs(1);
    loop {
        let demand = scope.demand(PRE_WARM);
        if demand.is_some() {
            last_fresh = std::time::Instant::now();
        } else {
            // An unreadable scope is most often an unreachable database: count it as one, so
            // the first round after it does not expire workers that could not renew either.
            db_up_since = None;
        }
        if let Some((me, _)) = &embedded
            && last_fresh.elapsed() <= DEMAND_GRACE
        {
            let sent = std::time::Instant::now();
            match tokio::time::timeout(step, control.renew_embedded(me)).await {
                Ok(Ok(held)) => {
                    *last_renewed.lock().unwrap_or_else(|e| e.into_inner()) = Some(sent);
                    running = held;
                }
                Ok(Err(e)) => {
                    db_up_since = None;
                    tracing::error!("the embedded worker's leases were not renewed: {e}")
                }
                Err(_) => {
                    db_up_since = None;
                    tracing::error!("renewing the embedded worker's leases took over 1 s")
                }
            }
        }
        if let Some(ids) = demand {
            let in_recovery =
                db_up_since.is_none_or(|t| t.elapsed() < Duration::from_millis(LEASE_MS as u64));
            match tokio::time::timeout(2 * step, control.place(&ids, in_recovery)).await {
                Ok(Ok(())) => {
                    db_up_since.get_or_insert_with(std::time::Instant::now);
                }
                Ok(Err(e)) => {
                    db_up_since = None;
                    tracing::error!("placement failed: {e}");
                }
                Err(_) => {
                    db_up_since = None;
                    tracing::error!("placement took over 2 s; tried again next round");
                }
            }
        }
        if let Some((_, engine)) = &embedded {
            // A camera changed (a new stream URL, say): its URL is read again.
            let g = scope.generation();
            let mut before = Default::default();
            if g != generation {
                before = std::mem::take(&mut urls);
                generation = g;
            }
            let held = &running;
            let mut specs = Vec::new();
            for (camera, epoch) in held {
                let key = (camera.clone(), *epoch);
                let url = match urls.get(&key) {
                    Some(u) => u.clone(),
                    None => match tokio::time::timeout(step, store.camera_url(camera))
                        .await
                        .unwrap_or_else(|_| {
                            Err(mandat_store::StoreError::Config(
                                "reading it took over 1 s".into(),
                            ))
                        }) {
                        Ok(u) => {
                            urls.insert(key, u.clone());
                            u
                        }
                        Err(e) => match before.get(&key) {
                            Some(u) => {
                                tracing::warn!(camera = %camera, "its URL cannot be read again, it runs on: {e}");
                                urls.insert(key, u.clone());
                                u.clone()
                            }
                            None => {
                                tracing::error!(camera = %camera, "assigned but not connected: {e}");
                                continue;
                            }
                        },
                    },
                };
                specs.push(CameraSpec {
                    id: camera.clone(),
                    source: SourceSpec::from_url(&url),
                });
            }
            urls.retain(|k, _| held.contains(k));
            // Leases not renewed for the grace may be someone else's by now: run nothing (the
            // watchdog has stopped what ran).
            let lapsed = last_renewed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_none_or(|t| t.elapsed() > DEMAND_GRACE);
            if lapsed {
                running.clear();
                specs.clear();
            }
            if let Err(e) = engine.set_cameras(specs) {
                tracing::error!("cameras not started: {e}");
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The internal CA's certificate and key files, in the key directory: the CA key signs worker
/// certificates, so it lives with the control plane's other keys and never on a worker.
pub fn worker_ca_files(paths: &Paths) -> (PathBuf, PathBuf) {
    let dir = paths.keys();
    (dir.join("worker-ca.pem"), dir.join("worker-ca.key"))
}

/// Load the internal CA, making it first if there is none (`mandat init` makes it; older
/// installations get it at their next start). Made with `O_EXCL`, so two processes starting at
/// once cannot end with a certificate and a key that do not belong together.
pub fn load_or_create_ca(paths: &Paths) -> Result<mandat_control::pki::Ca> {
    let (cert, key) = worker_ca_files(paths);
    if !cert.exists() && !key.exists() {
        crate::lawful::private_dir(&paths.keys())?;
        let (c, k) = mandat_control::pki::create_ca(&paths.profile)?;
        let made = create_private(&key, &k).and_then(|()| create_private(&cert, &c));
        match made {
            Ok(()) => eprintln!("created the internal CA for workers {}", cert.display()),
            // Another process made it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("writing the internal CA {}", key.display()));
            }
        }
    }
    mandat_audit::check_private(&key).map_err(|e| {
        anyhow::anyhow!("{}", e.to_string().replace("audit key", "internal CA key"))
    })?;
    let c = std::fs::read_to_string(&cert)
        .with_context(|| format!("reading the internal CA {}", cert.display()))?;
    let k = std::fs::read_to_string(&key)
        .with_context(|| format!("reading the internal CA key {}", key.display()))?;
    mandat_control::pki::Ca::from_pem(&c, &k)
        .with_context(|| format!("the internal CA in {} is not usable", cert.display()))
}

/// Write a new private file (mode 600), failing if it exists.
fn create_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Run control plane, engine and API until Ctrl-C. `on_ready` runs once everything is up.
/// The embedder `--embedder` names, its file verified: what the control plane keys
/// calibrations, evaluations and permits by.
fn running_embedder(pipeline: &PipelineArgs) -> Result<mandat_law::risk::ModelRef> {
    let e = mandat_models::Store::from_env()?.embedder(&pipeline.embedder)?;
    Ok(mandat_law::risk::ModelRef {
        name: e.name,
        sha256: e.sha256,
    })
}

async fn run_server(
    paths: &Paths,
    args: &ServeArgs,
    on_ready: impl FnOnce(&str, &Arc<Control>),
    stop: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let store = open_store(paths).await?;
    // The profile `init` chose; a server started under another one is refused.
    store.bind_profile(paths.profile()?.name).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // Loaded once: the hash the control plane keys permits by is the file's that runs.
    let models = Models::load(&args.pipeline)?;
    let embedder = models.embedder_ref();
    let scope = Arc::new(
        ScopeCache::new(clock.clone(), Duration::from_secs(1)).with_embedder(embedder.clone()),
    );
    scope.reload(&store).await;
    let ca = match load_or_create_ca(paths) {
        Ok(ca) => {
            // Every control process on this database must share the one CA.
            store.pin_worker_ca(&ca.fingerprint()).await?;
            Some(Arc::new(ca))
        }
        Err(e) if args.internal_listen.is_none() => {
            eprintln!("warning: no internal CA, so no worker can be enrolled here: {e:#}");
            None
        }
        Err(e) => return Err(e),
    };
    let mut control = Control::new(store.clone(), clock.clone(), paths.profile()?)
        .with_embedder(embedder)
        .with_scope(scope.clone())
        .with_alert_ttl(args.alert_ttl_minutes.max(1) * 60_000);
    if let Some(ca) = &ca {
        control = control.with_ca(ca.clone());
    }
    let control = Arc::new(control);
    // Another process (the CLI) may change permits: poll for it, so a stop reaches the engine
    // within a second.
    tokio::spawn(scope.clone().run(store.clone(), Duration::from_millis(200)));
    // Other replicas on the same PostgreSQL database push their changes (nothing on SQLite).
    tokio::spawn(control.clone().follow_replicas());
    let ticker = control.clone();
    tokio::spawn(async move {
        loop {
            if let Err(e) = ticker.tick("server").await {
                tracing::error!("deadline enforcement failed: {e}");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    if !args.witnesses.is_empty() {
        tokio::spawn(anchor_loop(
            store.clone(),
            args.witnesses.clone(),
            Duration::from_secs(args.witness_every.max(1)),
        ));
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let raiser = control.clone();
    tokio::spawn(async move {
        while let Some(alert) = rx.recv().await {
            if let Err(e) = raiser.raise_alert(alert).await {
                tracing::warn!("alert not kept: {e}");
            }
        }
    });
    let cfg = args.engine.config(
        &args.pipeline,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    // A decoder that cannot run (NVDEC without a GPU) stops the start, not each camera later.
    let decoders = mandat_video::probe_decoders(cfg.decoder)
        .map_err(|e| crate::ConfigError(format!("--decoder {}: {e}", cfg.decoder)))?;
    tracing::info!(
        "video decoders: {decoders}; match-time quality gate {}",
        cfg.match_gate_state()
    );
    let engine_models = models.engine();
    // No camera at first: `follow_demand` connects those this process's worker leases.
    let engine = if args.no_embedded_worker {
        None
    } else {
        Some(Arc::new(
            Engine::start(
                cfg,
                &engine_models,
                Vec::new(),
                scope.clone(),
                Arc::new(ChannelSink(tx)),
                clock.clone(),
            )
            .context("starting the engine")?,
        ))
    };
    let me = embedded_worker();
    if engine.is_some() {
        store
            .register_embedded_worker(&me, control.now()?)
            .await
            .context("registering the embedded worker")?;
    }
    let n_cams = store.cameras().await?.len();
    // The embedded engine's camera health into the days, as a worker sends its own.
    if let Some(engine) = engine.clone() {
        let control = control.clone();
        tokio::spawn(async move {
            let mut sampler = mandat_engine::HealthSampler::default();
            let mut last = std::time::Instant::now();
            loop {
                tokio::time::sleep(mandat_control::workers::HEALTH_SAMPLE).await;
                let samples = sampler.sample(&engine.health());
                let interval_ms = last.elapsed().as_millis() as i64;
                last = std::time::Instant::now();
                if let Err(e) = control.record_health(&samples, interval_ms, "engine").await {
                    tracing::error!("camera health not recorded: {e}");
                }
            }
        });
    }
    let demand = tokio::spawn(follow_demand(
        control.clone(),
        scope.clone(),
        store.clone(),
        engine.clone().map(|e| (me.clone(), e)),
    ));
    let internal = match args.internal_listen {
        Some(addr) => {
            let ca = ca
                .as_ref()
                .context("the internal listener needs the internal CA")?;
            let mut names = args.internal_names.clone();
            if names.is_empty() {
                names.push("localhost".into());
                if !addr.ip().is_unspecified() {
                    names.push(addr.ip().to_string());
                }
            }
            let make = {
                let ca = ca.clone();
                move || -> Result<mandat_web::internal::InternalTls> {
                    let (cert, key) = ca.server_cert(&names)?;
                    Ok(mandat_web::internal::InternalTls::from_pem(
                        ca.cert_pem(),
                        &cert,
                        &key,
                    )?)
                }
            };
            let (bound, fut, reloader) =
                mandat_web::internal::bind(addr, control.clone(), make()?).await?;
            // A new certificate every day, so a long-running process never serves an expired one.
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(mandat_control::pki::SERVER_CERT_RENEW).await;
                    match make() {
                        Ok(tls) => reloader.reload(tls),
                        Err(e) => tracing::error!(
                            "the internal listener's certificate was not renewed: {e:#}"
                        ),
                    }
                }
            });
            eprintln!(
                "workers reach this control process at https://{bound}/ (mTLS, internal CA {})",
                worker_ca_files(paths).0.display()
            );
            Some(tokio::spawn(fut))
        }
        None => None,
    };
    let health_engine = engine.clone();
    let mut state = mandat_web::AppState::new(
        control.clone(),
        Arc::new(move || {
            health_engine
                .as_ref()
                .map(|e| e.health())
                .unwrap_or_default()
        }),
    )?
    .with_default_threshold(crate::face::DEFAULT_THRESHOLD)
    .with_enroller(enroller(&models)?)
    .with_logins_per_minute(args.logins_per_minute);
    if let Some(file) = &args.metrics_token_file {
        state = state.with_metrics_token(&read_metrics_token(file)?);
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some(mandat_web::Tls::from_pem_files(c, k)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let (addr, server) = mandat_web::bind(args.listen, state, tls).await?;
    eprintln!(
        "mandat serving {scheme}://{addr}/ (API under /api/v1) with {n_cams} camera(s) registered, connected while a permit covers them, and {}",
        if engine.is_some() {
            format!("{} analysis worker(s) embedded", cfg.workers)
        } else {
            "no embedded worker: enrolled workers run the cameras".into()
        }
    );
    on_ready(&format!("{scheme}://{addr}"), &control);
    tokio::select! {
        r = server => r?,
        _ = tokio::signal::ctrl_c() => eprintln!("stopping"),
        _ = stop => {}
    }
    demand.abort();
    // Its last `set_cameras` lands before the engine is stopped below.
    let _ = demand.await;
    if let Some(i) = internal {
        i.abort();
    }
    // The log says when each camera stopped, here as everywhere: after it stopped.
    if let Some(e) = &engine {
        if let Err(e) = e.set_cameras(Vec::new()) {
            tracing::warn!("cameras not stopped: {e}");
        }
        if let Err(e) = control.release_all(&me, "shutdown").await {
            tracing::warn!("shutdown releases not in the log: {e}");
        }
    }
    drop(engine);
    Ok(())
}

/// The largest reference photo decoded, in pixels (a 6000 x 4000 camera photo).
const REFERENCE_MAX_PIXELS: u64 = 24_000_000;

/// Reference photos are enrolled here, in the server, with the reference pipeline (640 px
/// letterbox, one thread) and the enrolment quality gate: the photo never needs a key outside it.
fn enroller(models: &Models) -> Result<mandat_web::Enroller> {
    let pipe = std::sync::Mutex::new(models.pipeline(&PipelineArgs::reference())?);
    Ok(Arc::new(move |bytes: &[u8]| {
        // One enrolment at a time, decoding included: they are rare, each uses a core fully, and
        // parallel uploads must not each hold a decoded image in memory.
        let mut pipe = pipe.lock().unwrap_or_else(|e| e.into_inner());
        let limits = mandat_face::DecodeLimits {
            max_pixels: REFERENCE_MAX_PIXELS,
            ..Default::default()
        };
        let img = mandat_face::decode(bytes, limits)
            .map_err(|e| format!("not a usable image (JPEG or PNG, at most 24 megapixels): {e}"))?;
        let check = pipe
            .enrolment_check(&img, &mandat_face::QualityGate::ENROLMENT)
            .map_err(|e| e.to_string())?;
        Ok(photo_check(&check, &img))
    }))
}

/// The gate's findings as the web layer shows and stores them.
fn photo_check(
    check: &mandat_face::EnrolmentCheck,
    img: &mandat_face::RgbImage,
) -> mandat_web::PhotoCheck {
    let faces: Vec<_> = check.faces.iter().map(|f| photo_quality(f, img)).collect();
    let mut faults: Vec<mandat_law::permit::PhotoFault> = check
        .faults
        .iter()
        .map(|f| mandat_law::permit::PhotoFault {
            measure: f.measure.as_str().into(),
            value: f.value,
            limit: f.limit,
        })
        .collect();
    if faces.len() != 1 {
        faults.insert(
            0,
            mandat_law::permit::PhotoFault {
                measure: "faces".into(),
                value: faces.len() as f32,
                limit: 1.0,
            },
        );
    }
    mandat_web::PhotoCheck {
        faces,
        faults,
        template: check.passed().map(|f| f.embedding.as_slice().to_vec()),
    }
}

/// What the enrolment gate measured on one face of `img`.
fn photo_quality(
    face: &mandat_face::Face,
    img: &mandat_face::RgbImage,
) -> mandat_law::permit::PhotoQuality {
    let q = &face.quality;
    mandat_law::permit::PhotoQuality {
        width: u32::try_from(img.width).unwrap_or(u32::MAX),
        height: u32::try_from(img.height).unwrap_or(u32::MAX),
        face_box: face.bbox,
        inter_eye_px: q.inter_eye_px,
        sharpness: q.sharpness,
        roll_deg: q.roll_deg,
        yaw: q.yaw,
        pitch: q.pitch,
        detector_score: q.detector_score,
    }
}

pub fn serve(paths: Paths, args: ServeArgs) -> Result<()> {
    runtime_multi()?.block_on(run_server(&paths, &args, |_, _| {}, std::future::pending()))
}

/// `mandat control`: `serve` without the embedded worker; workers come in on the internal listener.
pub fn control(paths: Paths, mut args: ServeArgs) -> Result<()> {
    if args.internal_listen.is_none() {
        bail!(
            "a control process with no embedded worker needs --internal-listen ADDR, where workers reach it"
        );
    }
    args.no_embedded_worker = true;
    serve(paths, args)
}

fn random_password() -> Result<String> {
    let mut b = [0u8; 9];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
    Ok(format!("demo-{}", hex::encode(b)))
}

fn demo_data(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| std::env::var_os("MANDAT_DATA").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("../shared/data"))
}

/// A fresh demo: keys, database, users, cameras replaying the test videos, and a permit for the
/// synthetic watchlist made through the real path (draft, enrolment through the quality gate,
/// application by an officer, decision by a prosecutor). Then the server, printing alerts.
/// The demo's world, made through the real lawful path in a fresh directory `home`: keys, database,
/// one user per role with a random password, cameras replaying the test videos (the second one only
/// with `street`), and a granted permit for the synthetic watchlist on the first camera. Returns
/// the paths, the logins, and the permit id with its number of persons (none without test data).
type Seeded = (Paths, Vec<Login>, Option<(String, usize)>);

/// A demo account: user, password, TOTP secret (base32).
type Login = (String, String, String);

// Each argument is one of the demo's and the bench's differences; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
async fn seed(
    home: &Path,
    profile: &str,
    data: &Path,
    pipeline: &PipelineArgs,
    street: bool,
    stage: PermitStage,
    extra: usize,
    evaluation: &Path,
) -> Result<Seeded> {
    let paths = Paths {
        home: Some(home.to_path_buf()),
        keys: None,
        db: None,
        master_key: None,
        audit_key: None,
        session: None,
        profile: profile.to_string(),
    };
    // The demo's keys live beside its data directory, as every installation's do by default.
    let keys = paths.keys();
    for dir in [home, keys.as_path()] {
        if dir.exists() {
            // Demo data only: each run starts from nothing.
            if !dir.join("DEMO").is_file() {
                bail!(
                    "{} exists and is not a demo directory; pass --home to a new directory",
                    dir.display()
                );
            }
            std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        crate::lawful::private_dir(dir)?;
        std::fs::write(
            dir.join("DEMO"),
            "made by `mandat demo`; deleted by the next run\n",
        )?;
    }
    write_private(
        &paths.master_key(),
        mandat_store::SecretKey::random()?.to_hex(),
    )?;
    mandat_audit::AuditKey::create(&paths.audit_key())?;
    mandat_store::WrapKeys::create(&paths.wrap_key())?;
    let video = data.join("synthetic/synthetic_watchlist.mp4");
    let street_video = data.join("video/street_1080p.mp4");
    let have_data = video.is_file() && data.join("synthetic/watchlist").is_dir();
    let profile = paths.profile()?;
    // A profile with the court's procedure also gets its public counsel and a higher instance.
    let procedure = profile.procedure.counsel || profile.procedure.appeal_hours.is_some();
    let mut users = vec![
        ("admin", Role::Admin),
        ("admin2", Role::Admin),
        ("officer", Role::Applicant),
        ("prosecutor", Role::Prosecutor),
        ("judge", Role::Judge),
        ("operator", Role::Operator),
        ("reviewer1", Role::Reviewer),
        ("reviewer2", Role::Reviewer),
        ("auditor", Role::Auditor),
    ];
    if procedure {
        users.extend([("counsel", Role::Counsel), ("judge2", Role::Judge)]);
    }
    let store = open_store(&paths).await?;
    store.bind_profile(paths.profile()?.name).await?;
    let control = Control::new(store.clone(), Arc::new(SystemClock), paths.profile()?)
        .with_embedder(running_embedder(pipeline)?);
    let o = "demo";
    // The demo is its own key holder: it provisions every account with its roles in force.
    let holder = control.key_holder(&SecretKey::master(&paths.master_key())?)?;
    let mut logins = Vec::new();
    for (u, r) in &users {
        let pw = random_password()?;
        let secret = control.provision_user(&holder, u, &pw, &[*r], o).await?;
        logins.push((u.to_string(), pw, secret));
    }
    // It then acts as its users only after logging in as them, like anyone else. It uses the
    // previous step's one-time code (still accepted), so that the user's own login in this step
    // is not refused as a code used twice.
    let log_in = |user: &str| {
        let (_, pw, secret) = logins
            .iter()
            .find(|(u, _, _)| u == user)
            .expect("a demo account")
            .clone();
        let control = &control;
        let user = user.to_string();
        async move {
            let earlier = mandat_law::Timestamp(control.now()?.0 - 30_000);
            let code = mandat_store::totp::code(&secret, earlier)?;
            anyhow::Ok(control.login(&user, &pw, &code, o).await?.0)
        }
    };
    let admin = log_in("admin").await?;
    if !have_data {
        store.close().await;
        return Ok((paths, logins, None));
    }
    // The risk analysis and the thresholds, as an installation gets them: an admin stores the
    // calibration with its cohort, an auditor records the evaluation report.
    let bundle = demo_evaluation(evaluation, paths.profile()?, &control.embedder().sha256)?;
    control
        .add_calibration(
            &admin,
            &bundle.report.calibration,
            bundle.cohort.as_ref(),
            o,
        )
        .await?;
    let analysis = bundle.report.risk_analysis().map_err(anyhow::Error::msg)?;
    control
        .record_evaluation(&log_in("auditor").await?, &analysis, o)
        .await?;
    let mut cams = vec![(
        "sergel-1",
        "Sergels torg, north",
        &video,
        (59.3326, 18.0649),
        "police",
    )];
    if street {
        cams.push((
            "slussen-2",
            "Slussen, bus terminal",
            &street_video,
            (59.3195, 18.0719),
            "municipality:Stockholm",
        ));
    }
    // More cameras replaying the synthetic video (`mandat bench`): the first is covered by the
    // permit too, the others by nothing.
    let extra_ids: Vec<String> = (0..extra)
        .map(|i| {
            if i == 0 {
                "sergel-2".to_string()
            } else {
                format!("idle-{i:03}")
            }
        })
        .collect();
    for id in &extra_ids {
        cams.push((id, id, &video, (59.3326, 18.0649), "police"));
    }
    // The demo's partner camera is used under an agreement of a year from today.
    let today = control.now()?;
    for (id, name, file, loc, owner) in cams {
        let agreement = (owner != "police").then(|| mandat_law::Agreement {
            basis: "Kamerabevakningstillstånd (demo), avtal om polisens användning §3".into(),
            reference: "KS 2026/0001 (demo)".into(),
            period: mandat_law::Period {
                start: today.plus_hours(-24),
                end: today.plus_months(12),
            },
            contact: "Trygghetscentralen, vakthavande (demo)".into(),
        });
        control
            .add_camera(
                &admin,
                &Camera {
                    id: id.into(),
                    name: name.into(),
                    location: Some(loc),
                    owner: owner.into(),
                    enabled: true,
                    agreement,
                },
                &file.display().to_string(),
                o,
            )
            .await?;
    }
    // The demo's permit: a victim search the police apply for, or, under a profile with the
    // court's procedure, a suspect search a prosecutor applies for to the court.
    let purpose = if procedure {
        Purpose::SuspectLocation
    } else {
        Purpose::VictimSearch
    };
    let rule = profile.rule(purpose);
    let drafter = match rule.applicant {
        mandat_law::profile::Applicant::Police => "officer",
        mandat_law::profile::Applicant::Prosecutor => "prosecutor",
    };
    let (decider, decider_role) = match rule.decider {
        mandat_law::Authority::Court => ("judge", Role::Judge),
        mandat_law::Authority::Prosecutor => ("prosecutor", Role::Prosecutor),
    };
    let officer = log_in(drafter).await?;
    let now = control.now()?;
    let mut names: Vec<String> = std::fs::read_dir(data.join("synthetic/watchlist"))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.ends_with(".jpg"))
        .map(|n| n.trim_end_matches(".jpg").to_string())
        .collect();
    names.sort();
    let app = Application {
        agency: Agency::Polismyndigheten,
        purpose,
        // From the profile's catalogue: drafting fills in the rest.
        offence: purpose.requires_offence().then(|| Offence {
            code: Some("brb-3-1".into()),
            description: String::new(),
            annex_ii: None,
            max_penalty_years: 0,
            stage: Stage::Completed,
            suspicion: Some(mandat_law::grounds::Suspicion::ReasonablySuspected),
            confirmed_by: None,
        }),
        victim: (purpose == Purpose::VictimSearch)
            .then_some(mandat_law::grounds::VictimCategory::MissingPerson),
        threat: None,
        judgment: None,
        // The server gives the ids, opaque and random; who a person is stays in the label,
        // sealed under the permit's key, which erasure reaches.
        persons: names
            .iter()
            .map(|n| DesignatedPerson {
                id: String::new(),
                label: format!("demo person {n}"),
                photos: vec![PhotoRef {
                    id: String::new(),
                    source: "LFW test data, image _0001".into(),
                }],
            })
            .collect(),
        area: Area {
            cameras: std::iter::once("sergel-1".to_string())
                .chain(extra_ids.iter().take(1).cloned())
                .collect(),
            polygon: None,
        },
        period: Period {
            start: now.plus_hours(-1),
            end: now.plus_hours(24 * 7),
        },
        reasons: Reasons {
            necessity: match purpose {
                Purpose::SuspectLocation => "demo: suspects last seen at Sergels torg",
                _ => "demo: missing persons last seen at Sergels torg",
            }
            .into(),
            proportionality: "one camera, one week, the named persons only".into(),
            fria_ref: "FRIA-DEMO-1".into(),
            eu_db_ref: "EU-DB-DEMO-1".into(),
        },
        // Replaced by each person's own threshold, derived from the target.
        threshold: crate::face::DEFAULT_THRESHOLD,
        target: Some(Target::stated(DEMO_FPIR)),
        case_number: "K-123456-26".into(),
        embedder: None,
    };
    let p = control.draft(&officer, app, o).await?;
    let models = Models::load(pipeline)?;
    let mut pipe = models.pipeline(pipeline)?;
    let mut waiting = None;
    for (n, person) in names.iter().zip(&p.application.persons) {
        let path = data.join(format!("synthetic/watchlist/{n}.jpg"));
        let (bytes, face, quality, cropped) = enrolment_photo(&mut pipe, &path)?;
        // The first photo the gate takes as it is waits for the officer's upload.
        if stage == PermitStage::Upload && waiting.is_none() && !cropped {
            waiting = Some((person.label.clone(), path));
            continue;
        }
        control
            .enrol(
                &officer,
                &p.id,
                &person.id,
                &person.photos[0].id,
                &bytes,
                face.embedding.as_slice(),
                &quality,
                o,
            )
            .await?;
    }
    if let Some((label, path)) = &waiting {
        println!("upload {} for {label}", path.display());
    }
    // The applicant's team: the decider the application is filed to, the operator and the two
    // reviewers. Nobody else sees the permit (the auditor oversees it).
    for (user, role) in [
        (decider, decider_role),
        ("operator", Role::Operator),
        ("reviewer1", Role::Reviewer),
        ("reviewer2", Role::Reviewer),
    ] {
        control
            .assign_team(&officer, &p.id, user, Some(role), o)
            .await?;
    }
    if matches!(stage, PermitStage::Draft | PermitStage::Upload) {
        store.close().await;
        return Ok((paths, logins, Some((p.id, names.len()))));
    }
    control.apply(&officer, &p.id, o).await?;
    let decider = log_in(decider).await?;
    // The court's procedure before a grant, where the profile requires it.
    if rule.decider == mandat_law::Authority::Court {
        if profile.procedure.counsel {
            control
                .appoint_counsel(&decider, &p.id, "counsel", o)
                .await?;
            control
                .file_opinion(
                    &log_in("counsel").await?,
                    &p.id,
                    mandat_law::appeal::Position::NoObjection,
                    "demo: no objection",
                    o,
                )
                .await?;
        }
        if profile.procedure.hearing {
            control
                .record_hearing(
                    &decider,
                    &p.id,
                    None,
                    "demo: the prosecutor and the public counsel",
                    "demo: both heard",
                    o,
                )
                .await?;
        }
    }
    control
        .decide(
            &decider,
            &p.id,
            Outcome::Grant,
            "demo: necessary and proportionate",
            o,
        )
        .await?;
    store.close().await;
    Ok((paths, logins, Some((p.id, names.len()))))
}

/// What the demo's permit is, as its messages name it.
fn permit_kind(paths: &Paths) -> &'static str {
    match paths.profile() {
        Ok(p) if p.procedure.counsel || p.procedure.appeal_hours.is_some() => {
            "suspect search, applied for by `prosecutor` to `judge`, with `counsel` and the higher instance `judge2`"
        }
        _ => "victim search, applied for by `officer` to `prosecutor`",
    }
}

pub fn demo(paths: Paths, args: DemoArgs) -> Result<()> {
    let home = paths
        .home
        .clone()
        .unwrap_or_else(|| paths.home().join("demo"));
    let data = demo_data(args.data.clone());
    let rt = runtime_multi()?;
    let evaluation = match &args.evaluation {
        Some(d) => d.clone(),
        None => evaluation_dir()?,
    };
    let (paths, logins, permit) = rt.block_on(seed(
        &home,
        &paths.profile,
        &data,
        &args.serve.pipeline,
        true,
        args.permit_stage,
        0,
        &evaluation,
    ))?;
    let home = paths.home();
    rt.block_on(run_server(
        &paths,
        &args.serve,
        |url, control| {
        println!();
        println!(
            "mandat demo  {url}/  (API {url}/api/v1; data in {})",
            home.display()
        );
        println!(
            "logins (user / password / TOTP key: add it to an authenticator app, or `oathtool --totp -b KEY`):"
        );
        for (u, pw, totp) in &logins {
            println!("  {u:<11} {pw}  {totp}");
        }
        match &permit {
            Some((id, n)) if args.permit_stage == PermitStage::Draft => println!(
                "permit {id}: a draft ({}) for {n} persons on camera sergel-1, photos enrolled.\n\
                 Log in as its applicant to apply (or start urgent use), then as its decider to decide.",
                permit_kind(&paths)
            ),
            Some((id, n)) if args.permit_stage == PermitStage::Upload => println!(
                "permit {id}: a draft ({}) for {n} persons on camera sergel-1, one photo still to upload\n\
                 (the file named above). Log in as its applicant, upload it on the permit's photos page,\n\
                 and apply; then log in as its decider to decide.",
                permit_kind(&paths)
            ),
            Some((id, n)) => println!(
                "permit {id}: {} for {n} persons on camera sergel-1, granted;\n\
                 each person's threshold derived from a target of {DEMO_FPIR} (2 false alerts per 1,000 passers-by\n\
                 not sought), from the calibration and cohort of the evaluation report in {};\n\
                 camera slussen-2 is outside the permit and is not analysed.\n\
                 alerts as they arrive (review them: MANDAT_HOME={} mandat login --user reviewer1; mandat alerts review ID --confirm):",
                permit_kind(&paths),
                evaluation.display(),
                home.display()
            ),
            None => println!(
                "no test data at {}: mandat runs with no camera. Set MANDAT_DATA or --data to the\n\
                 directory with synthetic/ and video/, or add a camera of your own:\n\
                 MANDAT_HOME={} mandat login --user admin\n\
                 echo rtsp://HOST/stream | MANDAT_HOME={} mandat camera add --id cam-1 --name NAME --lat 59.33 --lon 18.06 --url-file -\n\
                 then restart `mandat serve --home {}`.",
                data.display(),
                home.display(),
                home.display(),
                home.display()
            ),
        }
        let mut rx = control.subscribe();
        tokio::spawn(async move {
            while let Ok(ev) = rx.recv().await {
                println!(
                    "  {}  {:<9} camera {:<10} person {:<26} score {:.3} (threshold {:.3})",
                    ev.id,
                    ev.state.as_str(),
                    ev.camera,
                    ev.person,
                    ev.score,
                    ev.threshold
                );
            }
        });
        },
        std::future::pending(),
    ))
}

/// A reference photo through the enrolment gate; a photo with a second face in the background is
/// cropped to its centre, where LFW puts the person.
/// A demo photo's bytes as enrolled, its face, what the gate measured, and whether it had to be
/// cropped to its middle first (some show more than one face).
type DemoPhoto = (
    Vec<u8>,
    mandat_face::Face,
    mandat_law::permit::PhotoQuality,
    bool,
);

fn enrolment_photo(pipe: &mut mandat_face::Pipeline, path: &Path) -> Result<DemoPhoto> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let img = mandat_face::decode(&bytes, Default::default())?;
    match pipe.reference_template(&img, &mandat_face::QualityGate::ENROLMENT) {
        Ok(face) => {
            let q = photo_quality(&face, &img);
            Ok((bytes, face, q, false))
        }
        Err(mandat_face::EnrolError::FaceCount(_)) => {
            let (w, h) = (img.width, img.height);
            let crop = img.crop(w / 5, h / 5, w - w / 5, h - h / 5)?;
            let face = pipe
                .reference_template(&crop, &mandat_face::QualityGate::ENROLMENT)
                .with_context(|| format!("{} cannot be enrolled", path.display()))?;
            let q = photo_quality(&face, &crop);
            Ok((crop.to_jpeg(95)?, face, q, true))
        }
        Err(e) => Err(e).with_context(|| format!("{} cannot be enrolled", path.display())),
    }
}

/// The demo's world seeded in a fresh temporary home, for a measurement through the whole server
/// (`mandat bench`'s latency and demand sections); removed when dropped.
struct BenchServer {
    rt: tokio::runtime::Runtime,
    home: PathBuf,
    paths: Paths,
    args: ServeArgs,
}

impl BenchServer {
    /// Seed with `extra` cameras beyond the demo's (see [`seed`]); refused without test data.
    fn seed(
        name: &str,
        data: &Path,
        pipeline: &PipelineArgs,
        engine: &EngineArgs,
        extra: usize,
    ) -> Result<Self> {
        let home = std::env::temp_dir().join(format!("mandat-{name}-{}", std::process::id()));
        let rt = runtime_multi()?;
        let (paths, _, permit) = rt.block_on(seed(
            &home,
            "se-2026",
            data,
            pipeline,
            false,
            PermitStage::Granted,
            extra,
            &evaluation_dir()?,
        ))?;
        let args = ServeArgs {
            listen: "127.0.0.1:0".parse().expect("address"),
            tls_cert: None,
            tls_key: None,
            engine: engine.clone(),
            alert_ttl_minutes: 15,
            metrics_token_file: None,
            witnesses: Vec::new(),
            witness_every: 60,
            logins_per_minute: mandat_web::LOGINS_PER_MINUTE,
            pipeline: pipeline.clone(),
            internal_listen: None,
            internal_names: Vec::new(),
            no_embedded_worker: false,
        };
        let server = Self {
            rt,
            home,
            paths,
            args,
        };
        if permit.is_none() {
            bail!("no synthetic test data under {}", data.display());
        }
        Ok(server)
    }

    /// Run the whole server for `seconds`.
    fn run_for(&self, seconds: u64) -> Result<()> {
        self.rt
            .block_on(run_server(&self.paths, &self.args, |_, _| {}, async move {
                tokio::time::sleep(Duration::from_secs(seconds)).await
            }))
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
        let _ = std::fs::remove_dir_all(self.paths.keys());
    }
}

/// Latency from capture to an alert a reviewer can see, on one camera replaying the synthetic
/// 720p25 video at real-time pace, through the whole server (engine, control plane, database).
pub fn latency(
    data: &Path,
    seconds: u64,
    pipeline: &PipelineArgs,
    engine: &EngineArgs,
) -> Result<serde_json::Value> {
    let server = BenchServer::seed("latency", data, pipeline, engine, 0)?;
    server.run_for(seconds)?;
    let alerts = server.rt.block_on(async {
        let store = open_store(&server.paths).await?;
        let a = store.alerts(0, 100_000).await?;
        store.close().await;
        Ok::<_, anyhow::Error>(a)
    })?;
    drop(server);
    let mut lat: Vec<i64> = alerts
        .iter()
        .map(|a| a.created_at.0 - a.captured_at.0)
        .collect();
    lat.sort_unstable();
    let pct = |p: f64| -> Option<i64> {
        (!lat.is_empty())
            .then(|| lat[((p * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1])
    };
    Ok(serde_json::json!({
        "scenario": "one camera, synthetic_watchlist.mp4 (1280x720, 25 fps) replayed at real-time pace, 10 watchlist persons",
        "seconds": seconds,
        "alerts": alerts.len(),
        "latency_ms": {"p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99), "max": lat.last()},
        "measured": "capture (frame decoded) to alert stored and published to reviewers",
    }))
}

/// Registered cameras in the demand measurement, and how many of them a permit covers.
const DEMAND_REGISTERED: usize = 100;
const DEMAND_COVERED: usize = 2;

/// What this process has running, sampled: camera source threads and open files of `video`.
fn sources_and_files(video: &Path) -> (usize, usize) {
    let sources = std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .filter(|c| c.starts_with("source-"))
                .count()
        })
        .unwrap_or(0);
    let files = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|f| std::fs::read_link(f.ok()?.path()).ok())
                .filter(|p| p == video)
                .count()
        })
        .unwrap_or(0);
    (sources, files)
}

/// Cameras in demand only: the whole server with 100 registered cameras replaying the synthetic
/// video, 2 of them under a granted permit, for `seconds`. The process is sampled for camera
/// source threads and open video files; its CPU time is measured over the run.
pub fn demand(
    data: &Path,
    seconds: u64,
    pipeline: &PipelineArgs,
    engine: &EngineArgs,
) -> Result<serde_json::Value> {
    let server = BenchServer::seed("demand", data, pipeline, engine, DEMAND_REGISTERED - 1)?;
    let video = std::fs::canonicalize(data.join("synthetic/synthetic_watchlist.mp4"))?;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        let video = video.clone();
        std::thread::spawn(move || {
            let (mut sources, mut files) = (0, 0);
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                let (s, f) = sources_and_files(&video);
                sources = sources.max(s);
                files = files.max(f);
                std::thread::sleep(Duration::from_millis(250));
            }
            (sources, files)
        })
    };
    let cpu = mandat_bench::cpu_time();
    let wall = std::time::Instant::now();
    let result = server.run_for(seconds);
    let cores = (mandat_bench::cpu_time() - cpu) / wall.elapsed().as_secs_f64();
    done.store(true, std::sync::atomic::Ordering::Release);
    let (sources, files) = sampler
        .join()
        .map_err(|_| anyhow::anyhow!("the demand sampler failed"))?;
    drop(server);
    result?;
    let per_camera = cores / DEMAND_COVERED as f64;
    let decode = decode_cores(&video)?;
    Ok(serde_json::json!({
        "scenario": format!("{DEMAND_REGISTERED} registered cameras replaying synthetic_watchlist.mp4 (1280x720, 25 fps) at real-time pace, {DEMAND_COVERED} of them under a granted permit, through the whole server"),
        "seconds": seconds,
        "registered": DEMAND_REGISTERED,
        "in_demand": DEMAND_COVERED,
        "registered_not_in_demand": DEMAND_REGISTERED - DEMAND_COVERED,
        "max_sources_running": sources,
        "max_video_files_open": files,
        "cores_used": cores,
        "cores_per_camera_in_demand": per_camera,
        "decode_cores_per_camera": decode,
        // A connected camera is decoded in full, analysed or not: what the others would cost.
        "cores_saved_estimate": decode * (DEMAND_REGISTERED - DEMAND_COVERED) as f64,
    }))
}

/// Cores one camera replaying `video` at its own frame rate costs to decode alone (the default
/// decoder), measured on its first 250 frames in this thread.
fn decode_cores(video: &Path) -> Result<f64> {
    use mandat_video::FrameSource;
    let mut cam = mandat_video::Mp4Camera::open(
        video,
        mandat_video::Pace::Fast,
        false,
        mandat_video::DecoderChoice::Auto,
    )?;
    let fps = cam.fps().unwrap_or(25.0);
    let t = mandat_face::runtime::thread_cpu_time();
    let mut n = 0u32;
    while n < 250 && cam.next_frame()?.is_some() {
        n += 1;
    }
    let per_frame = (mandat_face::runtime::thread_cpu_time().saturating_sub(t)).as_secs_f64()
        / f64::from(n.max(1));
    Ok(per_frame * fps)
}

/// The metrics token in `file`: private (mode 600) and at least 16 characters.
pub(crate) fn read_metrics_token(file: &Path) -> Result<String> {
    mandat_audit::check_private(file)
        .map_err(|e| anyhow::anyhow!("{}", e.to_string().replace("audit key", "metrics token")))?;
    let token = std::fs::read_to_string(file)
        .with_context(|| format!("reading the metrics token {}", file.display()))?;
    if token.trim().len() < 16 {
        bail!(
            "the metrics token in {} is shorter than 16 characters; make a long random one",
            file.display()
        );
    }
    Ok(token)
}
