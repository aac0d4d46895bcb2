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
                    Answer::Ok(ack) => tracing::info!(
                        alert = %ack.alert,
                        new = ack.new,
                        folded = ack.folded,
                        "alert acknowledged"
                    ),
                    Answer::Refused(status, why) => {
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
    });
    let models = Models::load(&args.pipeline)?;
    let cfg = args.engine.config(
        &args.pipeline,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
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
    {
        let (link, outbox) = (link.clone(), outbox.clone());
        std::thread::Builder::new()
            .name("outbox".into())
            .spawn(move || send_alerts(link, outbox))?;
    }
    {
        let (link, scope, outbox) = (link.clone(), scope.clone(), outbox.clone());
        std::thread::Builder::new()
            .name("grants".into())
            .spawn(move || pull_grants(link, scope, outbox))?;
    }
    eprintln!(
        "mandat worker running, leasing cameras from {}",
        args.control.join(", ")
    );
    // When the last successful renewal was sent. A watchdog drops every camera 5 s after it,
    // however long a request to an unreachable replica takes.
    let last_renewed: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    // Held while deciding and applying the camera set, by the watchdog and the lease loop alike,
    // so one never undoes the other halfway.
    let apply = Arc::new(Mutex::new(()));
    let engine = Arc::new(engine);
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
fn pull_grants(link: Arc<Link>, scope: Arc<RemoteScope>, outbox: Arc<Outbox>) {
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
