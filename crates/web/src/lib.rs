//! mandat's HTTP API under `/api/v1`: login, alerts and their live event stream (SSE), the
//! two-person review, dispatch on verified alerts, camera health. Every request is checked on the
//! server against the caller's roles by `mandat-control`; errors are JSON with a stable `code`, a
//! `message` and, where one applies, the legal `rule`.
//!
//! The web pages for each role live in [`ui`]; both sets of routes are listed in one table
//! ([`endpoints`]) so the authorisation matrix test covers every one of them.
//!
//! Plain HTTP is served on loopback only; anything else is refused until TLS is configured.

pub mod i18n;
mod ui;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use futures::Stream;
use mandat_control::{Control, ControlError};
use mandat_engine::CameraHealth;
use mandat_law::Actor;
use mandat_law::review::Verdict;
use mandat_store::StoreError;
use serde::Deserialize;
use serde_json::json;

/// Where the engine's camera health comes from (the engine, or nothing when it is not running).
pub type HealthSource = Arc<dyn Fn() -> Vec<CameraHealth> + Send + Sync>;

#[derive(Clone)]
pub struct AppState {
    pub control: Arc<Control>,
    pub health: HealthSource,
    /// Cookies get `Secure` when the server speaks TLS.
    tls: bool,
    /// Threshold written into drafts made on the web form (the calibrated operating point).
    default_threshold: f32,
    /// Key for CSRF tokens; made at start-up, so a restart only asks users to reload a form.
    csrf_key: Arc<[u8; 32]>,
    login_attempts: Arc<
        std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, (std::time::Instant, u32)>>,
    >,
    logins_per_minute: u32,
}

/// Login attempts one address may make per minute, on top of the per-account lock-out.
pub const LOGINS_PER_MINUTE: u32 = 10;

impl AppState {
    pub fn new(control: Arc<Control>, health: HealthSource) -> Result<Self, ServeError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| ServeError::Random(e.to_string()))?;
        Ok(Self {
            control,
            health,
            tls: false,
            default_threshold: DEFAULT_THRESHOLD,
            csrf_key: Arc::new(key),
            login_attempts: Default::default(),
            logins_per_minute: LOGINS_PER_MINUTE,
        })
    }

    /// Login attempts allowed per address and minute (tests log in many users from one address).
    pub fn with_logins_per_minute(mut self, n: u32) -> Self {
        self.logins_per_minute = n;
        self
    }

    pub fn with_default_threshold(mut self, t: f32) -> Self {
        self.default_threshold = t;
        self
    }

    fn csrf_mac(&self, session_token: &str) -> hmac::Hmac<sha2::Sha256> {
        use hmac::Mac;
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.csrf_key[..])
            .expect("HMAC takes keys of any length");
        m.update(session_token.as_bytes());
        m
    }

    pub(crate) fn csrf_token(&self, session_token: &str) -> String {
        use hmac::Mac;
        hex::encode(self.csrf_mac(session_token).finalize().into_bytes())
    }

    pub(crate) fn csrf_ok(&self, session_token: &str, given: &str) -> bool {
        use hmac::Mac;
        let Ok(given) = hex::decode(given) else {
            return false;
        };
        // Constant-time comparison.
        self.csrf_mac(session_token).verify_slice(&given).is_ok()
    }

    /// At most [`LOGINS_PER_MINUTE`] (by default) login attempts per address and minute, so
    /// guessing across many accounts is slow too.
    pub(crate) fn throttle_login(&self, ip: std::net::IpAddr) -> Result<(), ApiError> {
        let now = std::time::Instant::now();
        let mut m = self
            .login_attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if m.len() > 10_000 {
            m.retain(|_, (t, _)| now.duration_since(*t) < Duration::from_secs(60));
        }
        let e = m.entry(ip).or_insert((now, 0));
        if now.duration_since(e.0) >= Duration::from_secs(60) {
            *e = (now, 0);
        }
        e.1 += 1;
        if e.1 > self.logins_per_minute {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                "too many login attempts from this address; wait a minute and try again",
            ));
        }
        Ok(())
    }
}

/// SFace's cosine threshold at the LFW operating point, until `mandat eval calibrate` gives one.
pub const DEFAULT_THRESHOLD: f32 = 0.363;

/// A JSON error: HTTP status, stable code, message, legal rule.
pub struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) rule: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            rule: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        let code = e.code().to_string();
        let (status, rule, message) = match &e {
            ControlError::Law(r) | ControlError::Store(StoreError::Law(r)) => (
                if r.forbids_actor() {
                    StatusCode::FORBIDDEN
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                },
                Some(r.rule.clone()),
                r.message.clone(),
            ),
            ControlError::Store(StoreError::Auth | StoreError::SessionInvalid) => {
                (StatusCode::UNAUTHORIZED, None, e.to_string())
            }
            ControlError::Store(StoreError::Locked { .. }) => {
                (StatusCode::TOO_MANY_REQUESTS, None, e.to_string())
            }
            ControlError::Store(StoreError::NotFound(m)) => {
                (StatusCode::NOT_FOUND, None, m.clone())
            }
            ControlError::Store(StoreError::Refused(m)) => (StatusCode::FORBIDDEN, None, m.clone()),
            ControlError::ClockUnknown => (StatusCode::SERVICE_UNAVAILABLE, None, e.to_string()),
            ControlError::Store(_) => {
                // Internal detail stays in the server's log, not in the answer.
                tracing::error!("request failed: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    "the server could not complete the request; see its log".into(),
                )
            }
        };
        Self {
            status,
            code,
            message,
            rule,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"code": self.code, "message": self.message, "rule": self.rule});
        (self.status, Json(body)).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// The caller, from `Authorization: Bearer <session token>`.
async fn actor(s: &AppState, headers: &HeaderMap) -> ApiResult<Actor> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "log in first: POST /api/v1/login, then send Authorization: Bearer <token>",
            )
        })?;
    Ok(s.control.session(token.trim()).await?)
}

/// "From where" in the audit log: the peer's address as the socket saw it, never a header a client
/// could set.
pub(crate) fn origin(peer: &SocketAddr) -> String {
    format!("api:{}", peer.ip())
}

#[derive(Deserialize)]
struct LoginBody {
    user: String,
    password: String,
}

async fn login(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(b): Json<LoginBody>,
) -> ApiResult<Response> {
    s.throttle_login(peer.ip())?;
    if b.user.len() > 128 || b.password.len() > 1024 {
        return Err(ApiError::bad_request("user or password too long"));
    }
    let (actor, token) = s
        .control
        .login(&b.user, &b.password, &origin(&peer))
        .await?;
    Ok(Json(json!({"token": token, "user": actor.user, "roles": actor.roles})).into_response())
}

#[derive(Deserialize)]
struct AlertQuery {
    #[serde(default)]
    after: i64,
    #[serde(default = "default_limit")]
    limit: i64,
}

fn default_limit() -> i64 {
    100
}

async fn alerts(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AlertQuery>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.alerts(&a, q.after, q.limit).await?).into_response())
}

async fn alert(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.alert(&a, &id).await?).into_response())
}

async fn alert_media(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((id, which)): Path<(String, String)>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    let o = origin(&peer);
    let body = match which.as_str() {
        "crop" => s.control.alert_media(&a, &id, &o).await?.0,
        "frame" => s.control.alert_media(&a, &id, &o).await?.1,
        "reference" => s.control.alert_reference(&a, &id, &o).await?,
        _ => {
            return Err(ApiError::not_found(
                "media is `crop`, `frame` or `reference`",
            ));
        }
    };
    Ok(biometric_jpeg(body))
}

/// A face image: JPEG, never cached by a browser or a proxy.
pub(crate) fn biometric_jpeg(body: Vec<u8>) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[derive(Deserialize)]
struct ReviewBody {
    verdict: Verdict,
    #[serde(default)]
    reason: String,
}

async fn review(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<ReviewBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("reason", &b.reason, 4000)?;
    Ok(Json(
        s.control
            .review(&a, &id, b.verdict, &b.reason, &origin(&peer))
            .await?,
    )
    .into_response())
}

#[derive(Deserialize)]
struct DispatchBody {
    #[serde(default)]
    note: String,
}

async fn dispatch(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<DispatchBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    s.control.dispatch(&a, &id, &b.note, &origin(&peer)).await?;
    Ok(Json(json!({"dispatched": id})).into_response())
}

/// Live alerts as server-sent events: `alert` events carrying ids and numbers, never images.
async fn stream(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let a = actor(&s, &headers).await?;
    // The same check as listing alerts.
    s.control.alerts(&a, i64::MAX, 1).await?;
    let rx = s.control.subscribe();
    let events = futures::stream::unfold(rx, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(ev) => {
                let data = serde_json::to_string(&ev).unwrap_or_default();
                Event::default().event("alert").id(ev.id.clone()).data(data)
            }
            // A slow client missed events: tell it to reload rather than pretend.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                Event::default().event("lagged").data(n.to_string())
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(event), rx))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

async fn camera_health(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    // Camera health is aggregate numbers: every role may see it.
    let _ = a;
    Ok(Json((s.health)()).into_response())
}

async fn logout(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    actor(&s, &headers).await?;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    s.control.logout(token.trim()).await?;
    Ok(Json(json!({"logged_out": true})).into_response())
}

// ---- permits ----

async fn permits(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.permits(&a).await?).into_response())
}

async fn permit(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.permit(&a, &id).await?).into_response())
}

async fn draft(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(app): Json<mandat_law::Application>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    let text_bytes: usize = app
        .persons
        .iter()
        .map(|p| p.label.len() + p.photos.len() * 64)
        .sum::<usize>()
        + app.reasons.necessity.len()
        + app.reasons.proportionality.len();
    if text_bytes > 64 * 1024 || app.persons.len() > 50 || app.area.cameras.len() > 10_000 {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "application too large: at most 50 persons, 10,000 cameras and 64 KiB of text",
        ));
    }
    let p = s.control.draft(&a, app, &origin(&peer)).await?;
    Ok((StatusCode::CREATED, Json(p)).into_response())
}

#[derive(Deserialize)]
struct StopBody {
    reason: String,
}

#[derive(Deserialize)]
struct DecideBody {
    outcome: mandat_law::Outcome,
    reasons: String,
}

async fn apply(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.apply(&a, &id, &origin(&peer)).await?).into_response())
}

async fn urgent_start(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.urgent_start(&a, &id, &origin(&peer)).await?).into_response())
}

async fn stop(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<StopBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("reason", &b.reason, 8000)?;
    Ok(Json(s.control.stop(&a, &id, &b.reason, &origin(&peer)).await?).into_response())
}

async fn decide(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<DecideBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("reasons", &b.reasons, 8000)?;
    let (p, cert) = s
        .control
        .decide(&a, &id, b.outcome, &b.reasons, &origin(&peer))
        .await?;
    Ok(Json(json!({"permit": p, "deletion_certificate": cert})).into_response())
}

fn too_long(what: &str, v: &str, max: usize) -> ApiResult<()> {
    if v.len() > max {
        return Err(ApiError::bad_request(format!("{what} over {max} bytes")));
    }
    Ok(())
}

// ---- cameras, users, audit ----

async fn cameras(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.cameras(&a).await?).into_response())
}

#[derive(Deserialize)]
struct CameraBody {
    #[serde(flatten)]
    camera: mandat_store::Camera,
    stream_url: String,
}

async fn add_camera(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(b): Json<CameraBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("stream_url", &b.stream_url, 2000)?;
    too_long("name", &b.camera.name, 200)?;
    s.control
        .add_camera(&a, &b.camera, &b.stream_url, &origin(&peer))
        .await?;
    Ok((StatusCode::CREATED, Json(b.camera)).into_response())
}

async fn users(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    let list: Vec<_> = s
        .control
        .users(&a)
        .await?
        .into_iter()
        .map(|(u, roles)| json!({"user": u, "roles": roles}))
        .collect();
    Ok(Json(list).into_response())
}

#[derive(Deserialize)]
struct UserBody {
    user: String,
    password: String,
    roles: Vec<mandat_law::Role>,
}

async fn add_user(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(b): Json<UserBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("user", &b.user, 64)?;
    too_long("password", &b.password, 1024)?;
    s.control
        .add_user(Some(&a), &b.user, &b.password, &b.roles, &origin(&peer))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"user": b.user, "roles": b.roles})),
    )
        .into_response())
}

async fn audit_log(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.audit_log(&a).await?).into_response())
}

async fn audit_verify(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.audit_verify(&a, &origin(&peer)).await?).into_response())
}

/// Prometheus text format: cameras, frame rates, dropped frames, alerts by state and review
/// latency. Labels are camera ids and states only: no permit, person or user.
async fn metrics(State(s): State<AppState>) -> ApiResult<Response> {
    use std::fmt::Write;
    let health = (s.health)();
    let stats = s.control.alert_statistics().await?;
    let mut m = String::new();
    let head = |m: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(m, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    head(
        &mut m,
        "mandat_cameras",
        "gauge",
        "Cameras run by the engine.",
    );
    let _ = writeln!(m, "mandat_cameras {}", health.len());
    head(
        &mut m,
        "mandat_camera_connected",
        "gauge",
        "1 when the camera delivers frames.",
    );
    for h in &health {
        let _ = writeln!(
            m,
            "mandat_camera_connected{{camera=\"{}\"}} {}",
            label(&h.camera),
            u8::from(h.connected)
        );
    }
    head(
        &mut m,
        "mandat_camera_fps",
        "gauge",
        "Frames per second in from the camera and analysed.",
    );
    for h in &health {
        let c = label(&h.camera);
        let _ = writeln!(
            m,
            "mandat_camera_fps{{camera=\"{c}\",stage=\"input\"}} {}",
            h.input_fps
        );
        let _ = writeln!(
            m,
            "mandat_camera_fps{{camera=\"{c}\",stage=\"processed\"}} {}",
            h.processed_fps
        );
    }
    head(
        &mut m,
        "mandat_camera_frames_total",
        "counter",
        "Frames by what became of them: analysed, dropped under load, or not analysed because no permit covers the camera.",
    );
    for h in &health {
        let c = label(&h.camera);
        for (outcome, n) in [
            ("in", h.frames_in),
            ("processed", h.frames_processed),
            ("dropped", h.frames_dropped),
            ("unscoped", h.frames_unscoped),
        ] {
            let _ = writeln!(
                m,
                "mandat_camera_frames_total{{camera=\"{c}\",outcome=\"{outcome}\"}} {n}"
            );
        }
    }
    head(
        &mut m,
        "mandat_camera_alerts_total",
        "counter",
        "Candidate alerts raised on the camera.",
    );
    for h in &health {
        let _ = writeln!(
            m,
            "mandat_camera_alerts_total{{camera=\"{}\"}} {}",
            label(&h.camera),
            h.alerts
        );
    }
    head(
        &mut m,
        "mandat_alerts",
        "gauge",
        "Stored alerts by state (the newest 10,000).",
    );
    for (state, n) in &stats.by_state {
        let _ = writeln!(m, "mandat_alerts{{state=\"{state}\"}} {n}");
    }
    head(
        &mut m,
        "mandat_review_latency_seconds",
        "summary",
        "From an alert to its last review, for decided alerts.",
    );
    let mut lat = stats.review_latency_s.clone();
    lat.sort_by(f64::total_cmp);
    for q in [0.5, 0.95] {
        if !lat.is_empty() {
            let i = ((lat.len() - 1) as f64 * q).round() as usize;
            let _ = writeln!(
                m,
                "mandat_review_latency_seconds{{quantile=\"{q}\"}} {}",
                lat[i]
            );
        }
    }
    let _ = writeln!(
        m,
        "mandat_review_latency_seconds_sum {}",
        lat.iter().sum::<f64>() + 0.0
    );
    let _ = writeln!(m, "mandat_review_latency_seconds_count {}", lat.len());
    let mut r = m.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(r)
}

/// A Prometheus label value, escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

async fn health() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see /api/v1")
}

/// Every route the server answers: method, path, handler. One table, read by [`router`] and by
/// the authorisation matrix test, so a route cannot exist without an entry there.
pub(crate) fn routes() -> Vec<(&'static str, &'static str, MethodRouter<AppState>)> {
    let mut v: Vec<(&'static str, &'static str, MethodRouter<AppState>)> = vec![
        ("GET", "/api/v1/health", get(health)),
        // Numbers only, for the monitoring on the same host (the server listens on loopback).
        ("GET", "/metrics", get(metrics)),
        ("POST", "/api/v1/login", post(login)),
        ("POST", "/api/v1/logout", post(logout)),
        ("GET", "/api/v1/alerts", get(alerts)),
        ("GET", "/api/v1/alerts/stream", get(stream)),
        ("GET", "/api/v1/alerts/{id}", get(alert)),
        ("GET", "/api/v1/alerts/{id}/media/{which}", get(alert_media)),
        ("POST", "/api/v1/alerts/{id}/review", post(review)),
        ("POST", "/api/v1/alerts/{id}/dispatch", post(dispatch)),
        ("GET", "/api/v1/cameras", get(cameras)),
        ("POST", "/api/v1/cameras", post(add_camera)),
        ("GET", "/api/v1/cameras/health", get(camera_health)),
        ("GET", "/api/v1/permits", get(permits)),
        ("POST", "/api/v1/permits", post(draft)),
        ("GET", "/api/v1/permits/{id}", get(permit)),
        ("POST", "/api/v1/permits/{id}/apply", post(apply)),
        (
            "POST",
            "/api/v1/permits/{id}/urgent-start",
            post(urgent_start),
        ),
        ("POST", "/api/v1/permits/{id}/stop", post(stop)),
        ("POST", "/api/v1/permits/{id}/decide", post(decide)),
        ("GET", "/api/v1/users", get(users)),
        ("POST", "/api/v1/users", post(add_user)),
        ("GET", "/api/v1/audit", get(audit_log)),
        ("POST", "/api/v1/audit/verify", post(audit_verify)),
    ];
    v.extend(ui::routes());
    v
}

/// Method and path of every route, for the authorisation matrix test.
pub fn endpoints() -> Vec<(&'static str, &'static str)> {
    routes().into_iter().map(|(m, p, _)| (m, p)).collect()
}

pub fn router(state: AppState) -> Router {
    let mut r = Router::new();
    for (_, path, handler) in routes() {
        // Routes on the same path with other methods are merged by axum.
        r = r.route(path, handler);
    }
    r.fallback(not_found)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "content-security-policy",
        // Scripts, styles and images from this server only; no inline script, no eval.
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    r
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "refusing to serve plain HTTP on {0}: without TLS mandat listens on loopback only (127.0.0.1 or ::1)"
    )]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("the server stopped: {0}")]
    Serve(std::io::Error),
    #[error("no random numbers for the CSRF key: {0}; check the operating system's entropy source")]
    Random(String),
}

/// Bind (loopback only) and serve until the future `shutdown` completes.
pub async fn serve(
    addr: SocketAddr,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    if !addr.ip().is_loopback() {
        return Err(ServeError::NotLoopback(addr));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ServeError::Bind(addr, e))?;
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(ServeError::Serve)
}

/// Bind to an address (port 0 for any free one) and return the bound address and the serving
/// future, for tests and the demo.
pub async fn bind(
    addr: SocketAddr,
    state: AppState,
) -> Result<
    (
        SocketAddr,
        impl std::future::Future<Output = Result<(), ServeError>>,
    ),
    ServeError,
> {
    if !addr.ip().is_loopback() {
        return Err(ServeError::NotLoopback(addr));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ServeError::Bind(addr, e))?;
    let local = listener
        .local_addr()
        .map_err(|e| ServeError::Bind(addr, e))?;
    let fut = async move {
        axum::serve(
            listener,
            router(state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .map_err(ServeError::Serve)
    };
    Ok((local, fut))
}
