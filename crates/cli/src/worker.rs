//! `mandat worker`: a process that decodes and analyses cameras and holds no key, no database
//! account and no file of biometric data. It knows only its own key and certificate, the internal
//! CA's certificate and the control plane's addresses. Over mTLS it renews its camera leases every
//! second, pulls a scope grant for those cameras four times a second, and sends alerts from an
//! in-memory outbox until the control plane acknowledges them.
//!
//! It fails closed: a grant is valid for one second after its request was sent, less the age of
//! the snapshot it came from, and after that its cameras' watchlists are empty (no detection runs);
//! leases not renewed for five seconds drop every camera.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use mandat_control::workers::{
    AlertAck, AlertUpload, GrantAnswer, GrantRequest, LeaseAnswer, LeaseRequest, PROTOCOL,
};
use mandat_control::{AlertSink, ScopeSource, WatchlistView};
use mandat_engine::{CameraSpec, Engine, SourceSpec};
use mandat_law::{Clock, SystemClock, WatchEntry, Watchlist};
use mandat_store::Template;
use mandat_store::alerts::NewAlert;
use serde_json::{Value, json};

use crate::client::Client;
use crate::lawful::{Paths, private_dir, write_private};
use crate::{EngineArgs, Models, PipelineArgs};

#[derive(Subcommand)]
pub enum WorkerCommand {
    /// On the worker: make its private key and a certificate signing request in DIR. The key
    /// never leaves the machine; hand `worker.csr` to an admin for `mandat worker enrol`.
    Key {
        #[arg(long)]
        id: String,
        #[arg(long)]
        dir: PathBuf,
    },
    /// Enrol a worker (admins): the server's internal CA signs its request. Writes the worker's
    /// certificate and the CA's to OUT (give both to the worker).
    Enrol {
        id: String,
        #[arg(long)]
        csr: PathBuf,
        /// How many cameras it may run at once.
        #[arg(long, default_value_t = 8)]
        capacity: u32,
        #[arg(long)]
        out: PathBuf,
    },
    /// Approve a worker another admin enrolled (admins): only then does it get cameras.
    Approve { id: String },
    /// Disable a worker (admins): it is refused from its next request and its cameras move.
    Disable { id: String },
    /// List workers (admins).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Run a worker: lease cameras from the control plane and analyse them.
    Run(RunArgs),
}

#[derive(Args)]
pub struct RunArgs {
    /// The control plane's internal listeners (`https://HOST:PORT`), tried in turn.
    #[arg(
        long = "control",
        env = "MANDAT_CONTROL",
        value_delimiter = ',',
        required = true
    )]
    control: Vec<String>,
    /// The directory with this worker's `worker.key`, `worker.pem` and the CA's `ca.pem`.
    #[arg(long)]
    dir: PathBuf,
    /// Serve Prometheus metrics at http://ADDR/metrics (a loopback address: plain HTTP, for an
    /// agent on this host), to callers with the metrics token: the time since the last lease
    /// renewal and the outbox's length, with no personal data.
    #[arg(long, env = "MANDAT_METRICS_LISTEN", requires = "metrics_token_file")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// A file holding the bearer token `/metrics` asks for (mode 600, 16 characters or more).
    #[arg(long, env = "MANDAT_METRICS_TOKEN_FILE", requires = "metrics_listen")]
    metrics_token_file: Option<PathBuf>,
    /// Also show which cameras this worker leases and analyses (epochs, templates granted as a
    /// count, frame counters, when a frame last passed the scope gate) and its alerts. They tell
    /// when and where operations run: turn them on only for a scraper trusted with that.
    #[arg(
        long,
        env = "MANDAT_METRICS_CAMERA_SERIES",
        requires = "metrics_listen"
    )]
    metrics_camera_series: bool,
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    pipeline: PipelineArgs,
}

pub fn worker(paths: Paths, cmd: WorkerCommand) -> Result<()> {
    match cmd {
        WorkerCommand::Key { id, dir } => {
            private_dir(&dir)?;
            let key = dir.join("worker.key");
            if key.exists() {
                bail!(
                    "{} exists already; a worker keeps its key. Remove it only to start over with a new id",
                    key.display()
                );
            }
            let (k, csr) = mandat_control::pki::worker_request(&id)?;
            write_private(&key, k)?;
            std::fs::write(dir.join("worker.csr"), csr)?;
            println!(
                "made {} and {}; an admin enrols it with `mandat worker enrol {id} --csr worker.csr --out DIR`",
                key.display(),
                dir.join("worker.csr").display()
            );
        }
        WorkerCommand::Enrol {
            id,
            csr,
            capacity,
            out,
        } => {
            let c = Client::logged_in(&paths)?;
            let text = std::fs::read_to_string(&csr)
                .with_context(|| format!("reading {}", csr.display()))?;
            let e: Value = c.post(
                "/api/v1/workers",
                &json!({ "id": id, "csr": text, "capacity": capacity }),
            )?;
            std::fs::create_dir_all(&out)?;
            let field = |k: &str| e[k].as_str().map(str::to_string).context("answer lacks it");
            std::fs::write(out.join("worker.pem"), field("certificate")?)?;
            std::fs::write(out.join("ca.pem"), field("ca")?)?;
            println!(
                "enrolled worker {id} (certificate fingerprint {}); give {} and {} to it. It gets nothing until another admin runs `mandat worker approve {id}`",
                e["worker"]["fingerprint"].as_str().unwrap_or("?"),
                out.join("worker.pem").display(),
                out.join("ca.pem").display()
            );
        }
        WorkerCommand::Approve { id } => {
            let c = Client::logged_in(&paths)?;
            let _: Value = c.post(&format!("/api/v1/workers/{id}/approve"), &json!({}))?;
            println!("approved worker {id}; it gets cameras from its next lease request");
        }
        WorkerCommand::Disable { id } => {
            let c = Client::logged_in(&paths)?;
            let _: Value = c.post(&format!("/api/v1/workers/{id}/disable"), &json!({}))?;
            println!("disabled worker {id}; its cameras are released");
        }
        WorkerCommand::List { json } => {
            let c = Client::logged_in(&paths)?;
            let list: Vec<Value> = c.get("/api/v1/workers")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for w in list {
                    println!(
                        "{}\t{}\tcapacity {}\tlast seen {}",
                        w["id"].as_str().unwrap_or("?"),
                        if w["enabled"].as_bool() != Some(true) {
                            "disabled"
                        } else if w["approved_at"].is_null() {
                            "awaiting approval"
                        } else {
                            "enabled"
                        },
                        w["capacity"],
                        w["last_seen"]
                    );
                }
            }
        }
        WorkerCommand::Run(args) => run(args)?,
    }
    Ok(())
}

/// The worker's side of mTLS: its certificate and key, trusting the internal CA only.
struct Link {
    agent: ureq::Agent,
    bases: Vec<String>,
    /// The replica that answered last, tried first.
    current: Mutex<usize>,
}

/// What a control replica answered.
enum Answer<T> {
    Ok(T),
    /// A final refusal (4xx): retrying the same request will not help.
    Refused(u16, String),
}

impl Link {
    fn new(dir: &Path, bases: Vec<String>) -> Result<Self> {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).with_context(|| {
                format!(
                    "reading {}; make the key with `mandat worker key` and get the certificates from `mandat worker enrol`",
                    dir.join(name).display()
                )
            })
        };
        mandat_audit::check_private(&dir.join("worker.key"))
            .map_err(|e| anyhow::anyhow!("{}", e.to_string().replace("audit key", "worker key")))?;
        let ca = crate::client::pem_certificates(&read("ca.pem")?);
        let chain = crate::client::pem_certificates(&read("worker.pem")?);
        let key = ureq::tls::parse_pem(&read("worker.key")?)
            .find_map(|i| match i {
                Ok(ureq::tls::PemItem::PrivateKey(k)) => Some(k),
                _ => None,
            })
            .context("worker.key holds no private key")?;
        if ca.is_empty() || chain.is_empty() {
            bail!("ca.pem or worker.pem holds no certificate");
        }
        for b in &bases {
            if !b.starts_with("https://") {
                bail!(
                    "{b}: workers reach the control plane over mTLS only; give https://HOST:PORT"
                );
            }
        }
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::Specific(Arc::new(ca)))
            .client_cert(Some(ureq::tls::ClientCert::new_with_certs(&chain, key)))
            .build();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_millis(500)))
            .timeout_global(Some(Duration::from_secs(5)))
            .tls_config(tls)
            .build()
            .into();
        Ok(Self {
            agent,
            bases: bases
                .into_iter()
                .map(|b| b.trim_end_matches('/').to_string())
                .collect(),
            current: Mutex::new(0),
        })
    }

    /// POST to the replica that answered last, then to the others; an error when none answered.
    fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
        timeout: Duration,
    ) -> Result<Answer<T>> {
        let start = *self.current.lock().unwrap_or_else(|e| e.into_inner());
        let mut last = None;
        for k in 0..self.bases.len() {
            let i = (start + k) % self.bases.len();
            let r = self
                .agent
                .post(&format!("{}{path}", self.bases[i]))
                .config()
                .timeout_global(Some(timeout))
                .build()
                .send_json(body);
            match r {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    if status >= 500 {
                        last = Some(anyhow::anyhow!(
                            "{}: {}",
                            self.bases[i],
                            resp.body_mut().read_to_string().unwrap_or_default()
                        ));
                        continue;
                    }
                    *self.current.lock().unwrap_or_else(|e| e.into_inner()) = i;
                    if status >= 400 {
                        let text = resp.body_mut().read_to_string().unwrap_or_default();
                        return Ok(Answer::Refused(status, text));
                    }
                    return Ok(Answer::Ok(resp.body_mut().read_json()?));
                }
                Err(e) => last = Some(anyhow::anyhow!("{}: {e}", self.bases[i])),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no control plane address")))
    }
}

/// Grants per camera: until when they hold (monotonic) and the list.
type Grants = HashMap<String, (Instant, Watchlist<Arc<Template>>)>;

/// The cameras' health to the control plane every [`HEALTH_SAMPLE`], for the days the SLA report
/// and the unfit notices come from. A sample that is not delivered is lost, not queued: health is
/// a measurement, and the next interval is measured afresh.
fn send_health(link: Arc<Link>, engine: Arc<Engine>) {
    let mut sampler = mandat_engine::HealthSampler::default();
    let mut last = Instant::now();
    loop {
        std::thread::sleep(mandat_control::workers::HEALTH_SAMPLE);
        let samples = sampler.sample(&engine.health());
        let interval_ms = last.elapsed().as_millis() as i64;
        last = Instant::now();
        if samples.is_empty() {
            continue;
        }
        let upload = mandat_control::workers::HealthUpload {
            protocol: PROTOCOL,
            interval_ms,
            samples,
        };
        match link.post::<Value>("/internal/v1/health", &upload, Duration::from_secs(10)) {
            Ok(Answer::Ok(_)) => {}
            Ok(Answer::Refused(status, why)) => {
                tracing::warn!(status, "camera health not recorded: {why}")
            }
            Err(e) => tracing::warn!("camera health not delivered: {e}"),
        }
    }
}

/// The engine's scope on a worker: the last grant, while it holds. Nothing else.
struct RemoteScope {
    clock: Arc<dyn Clock>,
    grants: RwLock<Grants>,
}

impl ScopeSource for RemoteScope {
    fn watchlist(&self, camera: &str) -> WatchlistView {
        let now = self.clock.now();
        let g = self.grants.read().unwrap_or_else(|e| e.into_inner());
        let list = match g.get(camera) {
            Some((until, list)) if Instant::now() < *until => Watchlist {
                at: now,
                entries: list.entries.clone(),
            },
            _ => Watchlist::empty(now),
        };
        WatchlistView { list }
    }
}

/// The outbox: alerts wait here, in memory only, until a control replica acknowledges them.
struct Outbox {
    queue: Mutex<VecDeque<(NewAlert, i64)>>,
    ready: Condvar,
    /// The epoch of each camera's lease now, for grants.
    epochs: RwLock<BTreeMap<String, i64>>,
    /// Each camera's recent leases: (epoch, when this worker first ran it, wall ms). An alert
    /// carries the epoch of the lease it was captured under, which may have ended by the time the
    /// pipeline raises it.
    history: Mutex<BTreeMap<String, Vec<(i64, i64)>>>,
    /// Alerts a replica acknowledged, and alerts finally refused.
    acknowledged: AtomicU64,
    refused: AtomicU64,
}

impl Outbox {
    /// Note the leases run from now on.
    fn leased(&self, running: &BTreeMap<String, i64>) {
        let now = wall_ms();
        let mut h = self.history.lock().unwrap_or_else(|e| e.into_inner());
        for (camera, epoch) in running {
            let spans = h.entry(camera.clone()).or_default();
            if spans.last().is_none_or(|(e, _)| e != epoch) {
                spans.push((*epoch, now));
                if spans.len() > 8 {
                    spans.remove(0);
                }
            }
        }
        *self.epochs.write().unwrap_or_else(|e| e.into_inner()) = running.clone();
    }

    /// The epoch `camera` was leased under at `captured_at`.
    fn epoch_at(&self, camera: &str, captured_at: i64) -> i64 {
        let h = self.history.lock().unwrap_or_else(|e| e.into_inner());
        h.get(camera)
            .and_then(|spans| {
                spans
                    .iter()
                    .rev()
                    .find(|(_, since)| *since <= captured_at)
                    .or(spans.first())
            })
            .map_or(-1, |(e, _)| *e)
    }
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// At most this many alerts wait; beyond it the engine's thread waits (an alert is never dropped
/// for want of room). Alerts are rare, and the scope closes within a second without the control
/// plane, so the queue stays short.
const OUTBOX_MAX: usize = 256;

impl AlertSink for Outbox {
    fn raise(&self, alert: NewAlert) {
        let epoch = self.epoch_at(&alert.camera, alert.captured_at.0);
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        while q.len() >= OUTBOX_MAX {
            q = self.ready.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        q.push_back((alert, epoch));
        self.ready.notify_all();
    }
}

/// Send alerts until each is acknowledged (stored, or already stored) or finally refused.
fn send_alerts(link: Arc<Link>, outbox: Arc<Outbox>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let next = {
            let mut q = outbox.queue.lock().unwrap_or_else(|e| e.into_inner());
            while q.is_empty() {
                q = outbox.ready.wait(q).unwrap_or_else(|e| e.into_inner());
            }
            q.front().map(|(a, e)| AlertUpload::new(a, *e))
        };
        let Some(upload) = next else { continue };
        match link.post::<AlertAck>("/internal/v1/alerts", &upload, Duration::from_secs(10)) {
            Ok(answer) => {
                match answer {
                    Answer::Ok(ack) => {
                        outbox.acknowledged.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(
                            alert = %ack.alert,
                            new = ack.new,
                            folded = ack.folded,
                            "alert acknowledged"
                        )
                    }
                    Answer::Refused(status, why) => {
                        outbox.refused.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(alert = %upload.id, status, "alert refused, not resent: {why}")
                    }
                }
                let mut q = outbox.queue.lock().unwrap_or_else(|e| e.into_inner());
                q.pop_front();
                outbox.ready.notify_all();
                backoff = Duration::from_millis(100);
            }
            Err(e) => {
                tracing::warn!(alert = %upload.id, "alert not yet acknowledged, retrying: {e}");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Stop decoding this long after the last successful lease renewal was sent.
const DECODE_WITHOUT_LEASE: Duration = Duration::from_secs(5);
/// A grant holds this long after its request was sent, less its snapshot's age.
const GRANT_VALIDITY: Duration = Duration::from_secs(1);
/// A worker whose clock differs from the database's by more than this (plus the round trip)
/// fails closed: capture times are evidence.
const MAX_SKEW_MS: i64 = 500;

fn run(args: RunArgs) -> Result<()> {
    let link = Arc::new(Link::new(&args.dir, args.control.clone())?);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let scope = Arc::new(RemoteScope {
        clock: clock.clone(),
        grants: RwLock::new(HashMap::new()),
    });
    let outbox = Arc::new(Outbox {
        queue: Mutex::new(VecDeque::new()),
        ready: Condvar::new(),
        epochs: RwLock::new(BTreeMap::new()),
        history: Mutex::new(BTreeMap::new()),
        acknowledged: AtomicU64::new(0),
        refused: AtomicU64::new(0),
    });
    let models = Models::load(&args.pipeline)?;
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
    let engine = Engine::start(
        cfg,
        &models.engine(),
        Vec::new(),
        scope.clone(),
        outbox.clone(),
        clock.clone(),
    )
    .context("starting the engine")?;
    let engine = Arc::new(engine);
    // When the last successful renewal was sent. A watchdog drops every camera 5 s after it,
    // however long a request to an unreachable replica takes.
    let last_renewed: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    if let Some(addr) = args.metrics_listen {
        if !addr.ip().is_loopback() {
            bail!(
                "--metrics-listen {addr}: metrics are plain HTTP, so they are served on a loopback address only; scrape them with an agent on this host"
            );
        }
        let token = crate::server::read_metrics_token(
            args.metrics_token_file
                .as_deref()
                .context("--metrics-listen needs --metrics-token-file")?,
        )?;
        let status = Status {
            engine: engine.clone(),
            scope: scope.clone(),
            outbox: outbox.clone(),
            last_renewed: last_renewed.clone(),
            camera_series: args.metrics_camera_series,
        };
        serve_metrics(addr, &token, status)?;
    }
    {
        let (link, outbox) = (link.clone(), outbox.clone());
        std::thread::Builder::new()
            .name("outbox".into())
            .spawn(move || send_alerts(link, outbox))?;
    }
    {
        let (link, scope, outbox) = (link.clone(), scope.clone(), outbox.clone());
        let embedder = models.embedder_ref();
        std::thread::Builder::new()
            .name("grants".into())
            .spawn(move || pull_grants(link, scope, outbox, embedder))?;
    }
    {
        let (link, engine) = (link.clone(), engine.clone());
        std::thread::Builder::new()
            .name("health".into())
            .spawn(move || send_health(link, engine))?;
    }
    eprintln!(
        "mandat worker running, leasing cameras from {}",
        args.control.join(", ")
    );
    // Held while deciding and applying the camera set, by the watchdog and the lease loop alike,
    // so one never undoes the other halfway.
    let apply = Arc::new(Mutex::new(()));
    {
        let (last, engine, outbox, apply) = (
            last_renewed.clone(),
            engine.clone(),
            outbox.clone(),
            apply.clone(),
        );
        std::thread::Builder::new()
            .name("lease-watchdog".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_millis(100));
                    let _applying = apply.lock().unwrap_or_else(|e| e.into_inner());
                    let lapsed = last
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .is_none_or(|t| t.elapsed() > DECODE_WITHOUT_LEASE);
                    if lapsed && !engine.cameras().is_empty() {
                        tracing::error!("no lease renewed for 5 s: every camera is dropped");
                        outbox
                            .epochs
                            .write()
                            .unwrap_or_else(|e| e.into_inner())
                            .clear();
                        if let Err(e) = engine.set_cameras(Vec::new()) {
                            tracing::error!("cameras not stopped: {e}");
                        }
                    }
                }
            })?;
    }
    // Leases, every second; the engine runs exactly the cameras leased.
    loop {
        let sent = Instant::now();
        let running: Option<BTreeMap<String, (i64, String)>> = match link.post::<LeaseAnswer>(
            "/internal/v1/lease",
            &LeaseRequest { protocol: PROTOCOL },
            Duration::from_millis(900),
        ) {
            Ok(Answer::Ok(a)) => {
                *last_renewed.lock().unwrap_or_else(|e| e.into_inner()) = Some(sent);
                Some(
                    a.cameras
                        .into_iter()
                        .map(|c| (c.camera, (c.epoch, c.url)))
                        .collect(),
                )
            }
            Ok(Answer::Refused(status, why)) => {
                // Disabled, not approved or unknown: nothing is run.
                tracing::error!(status, "the control plane refuses this worker: {why}");
                *last_renewed.lock().unwrap_or_else(|e| e.into_inner()) = None;
                Some(BTreeMap::new())
            }
            Err(e) => {
                tracing::warn!("no control replica answered the lease renewal: {e}");
                None
            }
        };
        // Only after a renewal (or a refusal), and only while it is fresh: otherwise the
        // watchdog decides.
        let _applying = apply.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(running) = running.filter(|_| sent.elapsed() <= DECODE_WITHOUT_LEASE) {
            outbox.leased(&running.iter().map(|(c, (e, _))| (c.clone(), *e)).collect());
            let specs = running
                .iter()
                .map(|(c, (_, url))| CameraSpec {
                    id: c.clone(),
                    source: SourceSpec::from_url(url),
                })
                .collect();
            if let Err(e) = engine.set_cameras(specs) {
                tracing::error!("cameras not started: {e}");
            }
        }
        drop(_applying);
        std::thread::sleep(Duration::from_secs(1).saturating_sub(sent.elapsed()));
    }
}

/// Pull the scope grant for the leased cameras four times a second.
fn pull_grants(
    link: Arc<Link>,
    scope: Arc<RemoteScope>,
    outbox: Arc<Outbox>,
    embedder: mandat_law::risk::ModelRef,
) {
    loop {
        let sent = Instant::now();
        let cameras: Vec<(String, i64)> = outbox
            .epochs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(c, e)| (c.clone(), *e))
            .collect();
        let wall_sent = wall_ms();
        let answer = link.post::<GrantAnswer>(
            "/internal/v1/scope",
            &GrantRequest {
                protocol: PROTOCOL,
                cameras,
                embedder: Some(embedder.clone()),
            },
            Duration::from_millis(900),
        );
        let mut grants = Grants::new();
        match answer {
            Ok(Answer::Ok(g)) => {
                let rtt = sent.elapsed();
                let skew = g.db_now - wall_sent;
                if skew.abs() > MAX_SKEW_MS + rtt.as_millis() as i64 {
                    tracing::error!(
                        skew_ms = skew,
                        "clock-skew: this host's clock differs from the database's; nothing is analysed until chrony/NTP fixes it"
                    );
                } else {
                    let until = sent
                        + GRANT_VALIDITY.saturating_sub(Duration::from_millis(g.snapshot_age_ms));
                    for mut c in g.cameras {
                        let entries = c
                            .entries
                            .iter_mut()
                            .map(|e| WatchEntry {
                                permit: e.permit.clone(),
                                person: e.person.clone(),
                                threshold: e.threshold,
                                template: Arc::new(Template {
                                    id: e.template_id.clone(),
                                    values: std::mem::take(&mut e.values),
                                    norm: None,
                                }),
                            })
                            .collect();
                        grants.insert(c.camera.clone(), (until, Watchlist { at: None, entries }));
                    }
                }
            }
            Ok(Answer::Refused(status, why)) => {
                tracing::error!(status, "scope grant refused, nothing is analysed: {why}")
            }
            Err(e) => tracing::warn!("no scope grant (analysis stops within a second): {e}"),
        }
        // Replaced whole: a camera the grant left out, or a failed request, leaves the old grant
        // to run out on its own time, never extended.
        {
            let mut g = scope.grants.write().unwrap_or_else(|e| e.into_inner());
            for (camera, new) in grants {
                g.insert(camera, new);
            }
            g.retain(|_, (until, _)| Instant::now() < *until);
        }
        std::thread::sleep(Duration::from_millis(250).saturating_sub(sent.elapsed()));
    }
}

/// What the worker's metrics read.
struct Status {
    engine: Arc<Engine>,
    scope: Arc<RemoteScope>,
    outbox: Arc<Outbox>,
    last_renewed: Arc<Mutex<Option<Instant>>>,
    camera_series: bool,
}

/// The figures of one scrape.
#[derive(Default)]
struct Snapshot {
    renewal_age_s: Option<f64>,
    outbox: usize,
    /// Camera → lease epoch.
    leases: BTreeMap<String, i64>,
    /// Camera → templates in its valid grant.
    grants: BTreeMap<String, usize>,
    acknowledged: u64,
    refused: u64,
    last_analysed_ms: Option<i64>,
    health: Vec<mandat_engine::CameraHealth>,
}

impl Status {
    fn snapshot(&self) -> Snapshot {
        let now = Instant::now();
        Snapshot {
            renewal_age_s: self
                .last_renewed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .map(|t| t.elapsed().as_secs_f64()),
            outbox: self
                .outbox
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .len(),
            leases: self
                .outbox
                .epochs
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            grants: self
                .scope
                .grants
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .filter(|(_, (until, _))| now < *until)
                .map(|(c, (_, list))| (c.clone(), list.entries.len()))
                .collect(),
            acknowledged: self.outbox.acknowledged.load(Ordering::Relaxed),
            refused: self.outbox.refused.load(Ordering::Relaxed),
            last_analysed_ms: self.engine.last_analysed_at(),
            health: if self.camera_series {
                self.engine.health()
            } else {
                Vec::new()
            },
        }
    }
}

/// The Prometheus text. Without `camera_series`, only what tells nothing of operations: the
/// renewal age and the outbox's length (a lease count, a scoped count or an alert count would tell
/// when permits run, and placement is public arithmetic on camera ids). No permit, person or
/// template appears either way.
fn render_metrics(s: &Snapshot, camera_series: bool) -> String {
    use std::fmt::Write;
    let mut m = String::new();
    let head = |m: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(m, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    head(
        &mut m,
        "mandat_worker_lease_renewal_age_seconds",
        "gauge",
        "Since the last successful lease renewal was sent; -1: none yet or refused.",
    );
    let _ = writeln!(
        m,
        "mandat_worker_lease_renewal_age_seconds {}",
        s.renewal_age_s.unwrap_or(-1.0)
    );
    head(
        &mut m,
        "mandat_worker_outbox",
        "gauge",
        "Alerts waiting for acknowledgement.",
    );
    let _ = writeln!(m, "mandat_worker_outbox {}", s.outbox);
    if !camera_series {
        return m;
    }
    head(
        &mut m,
        "mandat_worker_leases",
        "gauge",
        "Cameras this worker leases now.",
    );
    let _ = writeln!(m, "mandat_worker_leases {}", s.leases.len());
    head(
        &mut m,
        "mandat_worker_scoped_cameras",
        "gauge",
        "Leased cameras with a valid scope grant that names someone: only they are matched.",
    );
    let scoped = s.grants.values().filter(|n| **n > 0).count();
    let _ = writeln!(m, "mandat_worker_scoped_cameras {scoped}");
    head(
        &mut m,
        "mandat_worker_last_analysed_timestamp_ms",
        "gauge",
        "When a frame of any camera last passed the scope gate (ms since the epoch); 0: never.",
    );
    let _ = writeln!(
        m,
        "mandat_worker_last_analysed_timestamp_ms {}",
        s.last_analysed_ms.unwrap_or(0)
    );
    head(
        &mut m,
        "mandat_worker_alerts_total",
        "counter",
        "Alerts sent to the control plane, by outcome.",
    );
    for (outcome, n) in [("acknowledged", s.acknowledged), ("refused", s.refused)] {
        let _ = writeln!(m, "mandat_worker_alerts_total{{outcome=\"{outcome}\"}} {n}");
    }
    head(
        &mut m,
        "mandat_worker_lease_epoch",
        "gauge",
        "The epoch of each camera's lease.",
    );
    for (c, e) in &s.leases {
        let _ = writeln!(
            m,
            "mandat_worker_lease_epoch{{camera=\"{}\"}} {e}",
            mandat_web::label(c)
        );
    }
    head(
        &mut m,
        "mandat_worker_scope_templates",
        "gauge",
        "Templates in each camera's valid grant (a count only).",
    );
    for (c, n) in &s.grants {
        let _ = writeln!(
            m,
            "mandat_worker_scope_templates{{camera=\"{}\"}} {n}",
            mandat_web::label(c)
        );
    }
    m.push_str(&mandat_web::camera_series(&s.health));
    m
}

/// Serve the metrics on `addr` from a thread of their own; the address is bound before this
/// returns, so a taken port stops the worker at start.
fn serve_metrics(addr: std::net::SocketAddr, token: &str, status: Status) -> Result<()> {
    let listener = std::net::TcpListener::bind(addr)
        .with_context(|| format!("listening for metrics on {addr}"))?;
    listener.set_nonblocking(true)?;
    let status = Arc::new(status);
    let router = mandat_web::metrics_router(
        token,
        Arc::new(move || render_metrics(&status.snapshot(), status.camera_series)),
    );
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return tracing::error!("metrics not served: {e}"),
            };
            rt.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => {
                        if let Err(e) = mandat_web::serve_metrics(l, router).await {
                            tracing::error!("metrics not served: {e}");
                        }
                    }
                    Err(e) => tracing::error!("metrics not served: {e}"),
                }
            });
        })?;
    eprintln!("mandat worker metrics at http://{addr}/metrics");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_tell_nothing_of_operations_unless_camera_series_are_asked_for() {
        let mut health = mandat_engine::CameraStats::default().snapshot("cam-sergels-torg", 1);
        health.alerts = 3;
        let s = Snapshot {
            renewal_age_s: Some(0.4),
            outbox: 1,
            leases: [("cam-sergels-torg".to_string(), 7)].into(),
            grants: [("cam-sergels-torg".to_string(), 2)].into(),
            acknowledged: 3,
            refused: 0,
            last_analysed_ms: Some(1_790_000_000_000),
            health: vec![health],
        };
        let off = render_metrics(&s, false);
        assert!(
            off.contains("mandat_worker_lease_renewal_age_seconds 0.4"),
            "{off}"
        );
        assert!(off.contains("mandat_worker_outbox 1"), "{off}");
        for telling in [
            "sergels", "leases", "scoped", "analysed", "alerts", "epoch", "frames",
        ] {
            assert!(
                !off.contains(telling),
                "{telling} without camera series: {off}"
            );
        }
        let on = render_metrics(&s, true);
        assert!(
            on.contains("mandat_worker_lease_epoch{camera=\"cam-sergels-torg\"} 7"),
            "{on}"
        );
        assert!(on.contains("mandat_worker_scoped_cameras 1"), "{on}");
        assert!(
            on.contains("mandat_worker_last_analysed_timestamp_ms 1790000000000"),
            "{on}"
        );
    }
}
