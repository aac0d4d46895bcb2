//! mandat's HTTP API under `/api/v1`: login, alerts and their live event stream (SSE), the
//! two-person review, dispatch on verified alerts, camera health. Every request is checked on the
//! server against the caller's roles by `mandat-control`; errors are JSON with a stable `code`, a
//! `message` and, where one applies, the legal `rule`.
//!
//! The web pages for each role live in [`ui`]; both sets of routes are listed in one table
//! ([`endpoints`]) so the authorisation matrix test covers every one of them.
//!
//! Plain HTTP is served on loopback only; any other address needs TLS (rustls, [`Tls`]).

pub mod i18n;
pub mod internal;
mod openapi;
mod ui;

pub use openapi::openapi;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use futures::Stream;
use mandat_control::Session;
use mandat_control::{Control, ControlError};
use mandat_engine::CameraHealth;
use mandat_law::permit::{PhotoFault, PhotoQuality};
use mandat_law::review::Verdict;
use mandat_store::StoreError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

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
    /// Login attempts per client network (an IPv4 address, an IPv6 /64) in the current minute.
    login_attempts:
        Arc<std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, u32)>>>,
    logins_per_minute: u32,
    /// SHA-256 of the bearer token `/metrics` asks for; without one, metrics are off.
    metrics_token: Option<Arc<[u8; 32]>>,
    /// Makes reference templates from uploaded photos; `mandat serve` gives one.
    enroller: Option<Enroller>,
}

/// The face pipeline with the enrolment quality gate, as the server runs it on an uploaded
/// reference photo: what the gate found, or why the bytes are no usable image.
pub type Enroller = Arc<dyn Fn(&[u8]) -> Result<PhotoCheck, String> + Send + Sync>;

/// What the enrolment quality gate found in an uploaded reference photo.
pub struct PhotoCheck {
    /// Every face found, best detector score first.
    pub faces: Vec<PhotoQuality>,
    /// Why the photo is refused; empty when it passes. Exactly one face is needed (measure
    /// `faces`), and that face must pass every measure of the gate.
    pub faults: Vec<PhotoFault>,
    /// The one face's embedding, when the photo passes; stored encrypted, never answered.
    pub template: Option<Vec<f32>>,
}

impl PhotoCheck {
    /// The face the photo is enrolled with, and its template: only when nothing is wrong.
    pub fn passed(&self) -> Option<(&PhotoQuality, &[f32])> {
        match (self.faces.as_slice(), &self.template) {
            ([one], Some(t)) if self.faults.is_empty() => Some((one, t)),
            _ => None,
        }
    }

    /// Why the photo is refused, in words for the API; `None` when it passes.
    pub fn refusal(&self) -> Option<String> {
        if self.passed().is_some() {
            return None;
        }
        let reasons: Vec<String> = self.faults.iter().map(fault_text).collect();
        Some(if reasons.is_empty() {
            "the face pipeline found no usable face".to_string()
        } else {
            reasons.join("; ")
        })
    }
}

/// One reason of the gate, in words for the API.
pub(crate) fn fault_text(f: &PhotoFault) -> String {
    let (v, l) = (f.value, f.limit);
    match f.measure.as_str() {
        "faces" => format!(
            "the photo shows {v:.0} faces; a reference photo must show exactly one. Crop it to the designated person"
        ),
        "inter_eye_px" => format!("eyes are {v:.0} px apart, under the minimum of {l:.0} px"),
        "sharpness" => {
            format!("sharpness {v:.1} is under the minimum of {l:.1} (blurred or too small)")
        }
        "yaw" => format!("head turned too far (yaw {v:.2}, limit {l:.2})"),
        "detector_score" => format!("detector confidence {v:.2} under {l:.2}"),
        other => format!("{other} {v:.2} against the limit {l:.2}"),
    }
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
            metrics_token: None,
            enroller: None,
        })
    }

    /// Accept reference photos (`PUT /api/v1/permits/{id}/persons/{person}/photos/{photo}`).
    pub fn with_enroller(mut self, enroller: Enroller) -> Self {
        self.enroller = Some(enroller);
        self
    }

    /// Serve `/metrics` to callers that send `Authorization: Bearer <token>`.
    pub fn with_metrics_token(mut self, token: &str) -> Self {
        use sha2::Digest;
        self.metrics_token = Some(Arc::new(
            sha2::Sha256::digest(token.trim().as_bytes()).into(),
        ));
        self
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

    /// At most [`LOGINS_PER_MINUTE`] (by default) login attempts per client network and minute,
    /// so guessing across many accounts is slow too. IPv6 counts per /64: one host holds a whole
    /// /64 and could otherwise take a new address for every guess.
    pub(crate) fn throttle_login(&self, peer: &SocketAddr) -> Result<(), ApiError> {
        let network = mandat_store::client_network(&origin(peer));
        let now = std::time::Instant::now();
        let mut m = self
            .login_attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if m.len() > 10_000 {
            m.retain(|_, (t, _)| now.duration_since(*t) < Duration::from_secs(60));
        }
        let e = m.entry(network).or_insert((now, 0));
        if now.duration_since(e.0) >= Duration::from_secs(60) {
            *e = (now, 0);
        }
        e.1 += 1;
        if e.1 > self.logins_per_minute {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                "too many login attempts from this network; wait a minute and try again",
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
            ControlError::Store(StoreError::Throttled { .. }) => {
                (StatusCode::TOO_MANY_REQUESTS, None, e.to_string())
            }
            ControlError::Store(StoreError::ClockBehind { .. }) => {
                (StatusCode::SERVICE_UNAVAILABLE, None, e.to_string())
            }
            ControlError::Store(StoreError::NotFound(m)) => {
                (StatusCode::NOT_FOUND, None, m.clone())
            }
            ControlError::Store(StoreError::Refused(m)) => (StatusCode::FORBIDDEN, None, m.clone()),
            ControlError::Store(StoreError::Conflict(m)) => (StatusCode::CONFLICT, None, m.clone()),
            ControlError::Store(StoreError::Invalid(m)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, None, m.clone())
            }
            ControlError::ClockUnknown | ControlError::Unavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, None, e.to_string())
            }
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

/// Every error the API answers, as JSON.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// Stable, for programs: `forbidden`, `not_found`, `bad_request`, a legal refusal code, ...
    code: String,
    /// For people: what went wrong and what to do.
    message: String,
    /// The legal rule behind a refusal, such as `Lag 2026:806 3 §`.
    rule: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code,
            message: self.message,
            rule: self.rule,
        };
        (self.status, Json(body)).into_response()
    }
}

/// A JSON request body whose rejections (bad JSON, wrong fields, missing content type, too large)
/// are JSON errors like every other.
pub(crate) struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(v)| Body(v))
            .map_err(|r| rejected(r.status(), r.body_text()))
    }
}

/// Path parameters, with JSON errors.
pub(crate) struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Params(v))
            .map_err(|r| rejected(r.status(), r.body_text()))
    }
}

/// A query string, with JSON errors.
pub(crate) struct QueryArgs<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryArgs<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| QueryArgs(v))
            .map_err(|r| rejected(r.status(), r.body_text()))
    }
}

fn rejected(status: StatusCode, detail: String) -> ApiError {
    let code = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        _ => "bad_request",
    };
    // axum's rejections are all client errors; keep them so even if that changed.
    let status = if status.is_client_error() {
        status
    } else {
        StatusCode::BAD_REQUEST
    };
    ApiError::new(
        status,
        code,
        format!("{detail}; the request formats are in /api/v1/openapi.json"),
    )
}

type ApiResult<T> = Result<T, ApiError>;

/// The caller, from `Authorization: Bearer <session token>`.
async fn actor(s: &AppState, headers: &HeaderMap) -> ApiResult<Session> {
    let token = bearer(headers).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "log in first: POST /api/v1/login, then send Authorization: Bearer <token>",
        )
    })?;
    Ok(s.control.session(token).await?)
}

/// A login from a browser names the page it came from in `Origin`: it must be this server, so
/// another site cannot log a browser in under an account of its choosing (login CSRF). Programs
/// such as the CLI send no `Origin`, and are let through.
pub(crate) fn check_origin(headers: &HeaderMap) -> ApiResult<()> {
    let Some(given) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    // Behind a TLS-terminating proxy on loopback the page is https while this server speaks
    // http: the host decides, with either scheme.
    let same = |scheme: &str| {
        given
            .to_str()
            .is_ok_and(|g| g.eq_ignore_ascii_case(&format!("{scheme}://{host}")))
    };
    if !host.is_empty() && (same("https") || same("http")) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "cross_origin",
        "a login must come from this server's own page; open the login page on this server",
    ))
}

/// "From where" in the audit log: the peer's address as the socket saw it, never a header a client
/// could set.
pub(crate) fn origin(peer: &SocketAddr) -> String {
    format!("api:{}", peer.ip())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct LoginBody {
    user: String,
    password: String,
    /// The current 6-digit code of the account's authenticator app (RFC 6238). Every account needs
    /// it; a code is accepted once.
    #[serde(default)]
    #[schema(max_length = 16)]
    totp: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct LoginAnswer {
    /// Send as `Authorization: Bearer <token>`.
    token: String,
    user: String,
    roles: Vec<mandat_law::Role>,
}

/// Log in with a local account; answers a session token.
#[utoipa::path(post, path = "/api/v1/login", tag = "session", request_body = LoginBody,
    responses((status = 200, body = LoginAnswer),
        (status = "4XX", body = ErrorBody, description = "wrong credentials (401), locked or throttled (429)")))]
async fn login(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Body(b): Body<LoginBody>,
) -> ApiResult<Response> {
    check_origin(&headers)?;
    s.throttle_login(&peer)?;
    if b.user.len() > 128 || b.password.len() > 1024 || b.totp.len() > 16 {
        return Err(ApiError::bad_request("user, password or code too long"));
    }
    let (actor, token) = s
        .control
        .login(&b.user, &b.password, &b.totp, &origin(&peer))
        .await?;
    Ok(Json(LoginAnswer {
        token,
        user: actor.user.clone(),
        roles: actor.roles.clone(),
    })
    .into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AlertQuery {
    /// Only alerts created after this instant, in milliseconds since the Unix epoch.
    #[serde(default)]
    after: i64,
    /// At most this many (1 to 10,000), newest first.
    #[serde(default = "default_limit")]
    limit: i64,
}

fn default_limit() -> i64 {
    100
}

/// Alerts, newest first, without images. The second reviewer does not see the first's verdict.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertQuery),
    security(("session" = [])),
    responses((status = 200, body = Vec<mandat_store::alerts::AlertRecord>), (status = "4XX", body = ErrorBody)))]
async fn alerts(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    QueryArgs(q): QueryArgs<AlertQuery>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(
        s.control
            .alerts(&a, q.after, q.limit, &origin(&peer))
            .await?,
    )
    .into_response())
}

/// One alert, without images.
#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts", params(("id" = String, Path)),
    security(("session" = [])),
    responses((status = 200, body = mandat_store::alerts::AlertRecord), (status = "4XX", body = ErrorBody)))]
async fn alert(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.alert(&a, &id, &origin(&peer)).await?).into_response())
}

/// Which image of an alert.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // documents the path parameter; the handler matches the text
pub(crate) enum MediaKind {
    /// The probe face as the camera saw it.
    Crop,
    /// The whole frame.
    Frame,
    /// The enrolled reference photo of the designated person.
    Reference,
}

/// An alert's image, for roles that may see biometric data; every view is in the audit log.
#[utoipa::path(get, path = "/api/v1/alerts/{id}/media/{which}", tag = "alerts",
    params(("id" = String, Path), ("which" = MediaKind, Path)),
    security(("session" = [])),
    responses((status = 200, description = "JPEG, never cached", content_type = "image/jpeg"),
        (status = "4XX", body = ErrorBody)))]
async fn alert_media(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params((id, which)): Params<(String, String)>,
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

/// An enrolled reference photo as uploaded (the gate takes JPEG and PNG), never cached.
pub(crate) fn biometric_image(body: Vec<u8>) -> Response {
    let png = body.starts_with(b"\x89PNG\r\n\x1a\n");
    let mut r = biometric_jpeg(body);
    if png {
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    }
    r
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct ReviewBody {
    verdict: Verdict,
    #[serde(default)]
    reason: String,
}

/// Confirm or reject an alert (one of the two reviews it needs). A rejection needs a reason.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/review", tag = "alerts", params(("id" = String, Path)),
    request_body = ReviewBody, security(("session" = [])),
    responses((status = 200, body = mandat_store::alerts::AlertRecord, links(
            ("dispatch" = (operation_id = "dispatch", parameters(("id" = "$response.body#/id")))),
        )),
        (status = "4XX", body = ErrorBody)))]
async fn review(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<ReviewBody>,
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

#[derive(Deserialize, ToSchema)]
pub(crate) struct DispatchBody {
    #[serde(default)]
    note: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Dispatched {
    dispatched: String,
}

/// Act on a verified alert (operators only).
#[utoipa::path(post, path = "/api/v1/alerts/{id}/dispatch", tag = "alerts", params(("id" = String, Path)),
    request_body = DispatchBody, security(("session" = [])),
    responses((status = 200, body = Dispatched), (status = "4XX", body = ErrorBody)))]
async fn dispatch(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<DispatchBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("note", &b.note, 4000)?;
    s.control.dispatch(&a, &id, &b.note, &origin(&peer)).await?;
    Ok(Json(Dispatched { dispatched: id }).into_response())
}

/// Export a verified alert to the case as a signed evidence package (the permit's applicant,
/// decider or reviewers). The export is recorded; once the package is written, confirm its receipt
/// (`/export/confirm`) and the images are erased here. Check a package offline with
/// `mandat evidence verify`.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/export", tag = "alerts", params(("id" = String, Path)),
    security(("session" = [])),
    responses((status = 200, description = "the signed evidence package (mandat-evidence/1)",
            content_type = "application/json"),
        (status = "4XX", body = ErrorBody)))]
async fn export_evidence(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    let e = s.control.export_evidence(&a, &id, &origin(&peer)).await?;
    Ok(([(axum::http::header::CACHE_CONTROL, "no-store")], Json(e)).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportReceipt {
    /// The sha256 (hex) of the package as written to the case file.
    package_sha256: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ExportConfirmed {
    confirmed: String,
}

/// Confirm that an exported package reached the case file whole: the receipt is recorded and the
/// images are erased here at once.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/export/confirm", tag = "alerts",
    params(("id" = String, Path)), request_body = ExportReceipt, security(("session" = [])),
    responses((status = 200, body = ExportConfirmed), (status = "4XX", body = ErrorBody)))]
async fn confirm_export(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<ExportReceipt>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("package_sha256", &b.package_sha256, 64)?;
    s.control
        .confirm_export(&a, &id, &b.package_sha256, &origin(&peer))
        .await?;
    Ok(Json(ExportConfirmed { confirmed: id }).into_response())
}

/// Live alerts as server-sent events: `alert` events carrying ids and numbers, never images;
/// `lagged` when a slow client missed some (reload the list then).
#[utoipa::path(get, path = "/api/v1/alerts/stream", tag = "alerts", security(("session" = [])),
    responses((status = 200, description = "`alert` events, each one AlertEvent as JSON",
            content_type = "text/event-stream", body = mandat_control::AlertEvent),
        (status = "4XX", body = ErrorBody)))]
async fn stream(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let a = actor(&s, &headers).await?;
    // The same check as listing alerts; opening the stream is recorded as a read.
    s.control.alerts(&a, i64::MAX, 1, &origin(&peer)).await?;
    let token = bearer(&headers).unwrap_or_default().to_string();
    let events = alert_events(s.control.clone(), token, a, |ev| {
        let data = serde_json::to_string(&ev).unwrap_or_default();
        Event::default().event("alert").id(ev.id.clone()).data(data)
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// How often an open event stream checks that its session still holds: a logout, a revoked
/// session or a disabled account ends the stream within this (and a database read).
pub const STREAM_SESSION_CHECK: Duration = Duration::from_millis(250);

/// Alert events for one session, as long as that session holds. `lagged` tells a slow client it
/// missed some (reload the list then) rather than pretend.
/// Only events of the viewer's agency's permits are sent (need-to-know).
pub(crate) fn alert_events(
    control: Arc<Control>,
    token: String,
    viewer: Session,
    draw: impl Fn(mandat_control::AlertEvent) -> Event + Send + 'static,
) -> impl Stream<Item = Result<Event, Infallible>> {
    use tokio::sync::broadcast::error::RecvError;
    let rx = control.subscribe();
    let mut check = tokio::time::interval(STREAM_SESSION_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    futures::stream::unfold(
        (rx, check, control, token, viewer, draw),
        |(mut rx, mut check, control, token, mut viewer, draw)| async move {
            loop {
                tokio::select! {
                    r = rx.recv() => {
                        let event = match r {
                            Ok(ev) if control.sees_event(&viewer, &ev).await => draw(ev),
                            Ok(_) => continue,
                            Err(RecvError::Lagged(n)) => Event::default().event("lagged").data(n.to_string()),
                            Err(RecvError::Closed) => return None,
                        };
                        return Some((Ok(event), (rx, check, control, token, viewer, draw)));
                    }
                    // The session as it is now: a role taken away or an account disabled takes
                    // effect on the open stream too, not only at the next request.
                    _ = check.tick() => {
                        match control.session(&token).await {
                            Ok(now) => viewer = now,
                            Err(_) => return None,
                        }
                    }
                }
            }
        },
    )
}

/// The bearer token of a request, if it has one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Each camera's health and fitness for identification, with reasons.
#[utoipa::path(get, path = "/api/v1/cameras/health", tag = "cameras", security(("session" = [])),
    responses((status = 200, body = Vec<mandat_engine::CameraHealth>), (status = "4XX", body = ErrorBody)))]
async fn camera_health(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(visible_health(&s, &a).await?).into_response())
}

/// The health of the cameras of the permits `actor` may know of, and of no other: only cameras a
/// permit covers are connected, so another camera's health would tell of a permit they may not
/// know of.
pub(crate) async fn visible_health(
    s: &AppState,
    actor: &mandat_control::Session,
) -> Result<Vec<mandat_engine::CameraHealth>, ControlError> {
    let mine = s.control.cameras_in_view(actor).await?;
    Ok((s.health)()
        .into_iter()
        .filter(|h| mine.contains(&h.camera))
        .collect())
}

#[derive(Serialize, ToSchema)]
pub(crate) struct LoggedOut {
    logged_out: bool,
}

/// End this session.
#[utoipa::path(post, path = "/api/v1/logout", tag = "session", security(("session" = [])),
    responses((status = 200, body = LoggedOut), (status = "4XX", body = ErrorBody)))]
async fn logout(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    actor(&s, &headers).await?;
    s.control
        .logout(bearer(&headers).unwrap_or_default())
        .await?;
    Ok(Json(LoggedOut { logged_out: true }).into_response())
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SessionInfo {
    user: String,
    roles: Vec<mandat_law::Role>,
    agency: mandat_law::permit::Agency,
}

/// Who this session acts as: the account, its roles in force and its agency.
#[utoipa::path(get, path = "/api/v1/session", tag = "session", security(("session" = [])),
    responses((status = 200, body = SessionInfo), (status = "4XX", body = ErrorBody)))]
async fn session_info(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(SessionInfo {
        user: a.user.clone(),
        roles: a.roles.clone(),
        agency: a.agency,
    })
    .into_response())
}

// ---- permits ----

/// Permits this caller may see.
#[utoipa::path(get, path = "/api/v1/permits", tag = "permits", security(("session" = [])),
    responses((status = 200, body = Vec<mandat_law::Permit>), (status = "4XX", body = ErrorBody)))]
async fn permits(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.permits(&a, &origin(&peer)).await?).into_response())
}

/// One permit.
#[utoipa::path(get, path = "/api/v1/permits/{id}", tag = "permits", params(("id" = String, Path)),
    security(("session" = [])),
    responses((status = 200, body = mandat_law::Permit), (status = "4XX", body = ErrorBody)))]
async fn permit(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.permit(&a, &id, &origin(&peer)).await?).into_response())
}

/// Draft a permit application (applicants). It is checked against the law when applied.
#[utoipa::path(post, path = "/api/v1/permits", tag = "permits", request_body = mandat_law::Application,
    security(("session" = [])),
    responses((status = 201, body = mandat_law::Permit, links(
            ("apply" = (operation_id = "apply", parameters(("id" = "$response.body#/id")))),
            ("urgent_start" = (operation_id = "urgent_start", parameters(("id" = "$response.body#/id")))),
            ("decide" = (operation_id = "decide", parameters(("id" = "$response.body#/id")))),
            ("stop" = (operation_id = "stop", parameters(("id" = "$response.body#/id")))),
        )),
        (status = "4XX", body = ErrorBody)))]
async fn draft(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Body(app): Body<mandat_law::Application>,
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

/// The largest reference photo the server takes.
pub const MAX_PHOTO_BYTES: usize = 16 << 20;

#[derive(Serialize, ToSchema)]
pub(crate) struct Enrolled {
    permit: String,
    person: String,
    photo: String,
    /// Pixels between the eyes, as the quality gate measured them.
    inter_eye_px: f32,
    sharpness: f32,
    /// Everything the gate measured: face box, pose, detector confidence.
    quality: PhotoQuality,
}

/// Run the enrolment quality gate on an uploaded photo, off the async workers (inference takes a
/// core for a while). An undecodable image is a 422 like a refused face.
pub(crate) async fn check_photo(s: &AppState, bytes: Vec<u8>) -> ApiResult<(PhotoCheck, Vec<u8>)> {
    let Some(enroller) = s.enroller.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_face_models",
            "this server runs without the face models, so it cannot enrol photos; use a server started with `mandat serve`",
        ));
    };
    let (check, bytes) = tokio::task::spawn_blocking(move || (enroller(&bytes), bytes))
        .await
        .map_err(|e| {
            tracing::error!("enrolment pipeline: {e}");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the face pipeline failed; see the server log",
            )
        })?;
    let check = check.map_err(|m| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            mandat_law::rule::PHOTO_QUALITY.code,
            format!("the photo cannot be enrolled: {m}"),
        )
    })?;
    Ok((check, bytes))
}

/// Enrol a reference photo of a designated person of a draft permit (applicants). The server runs
/// the face pipeline: the photo must show exactly one face that passes the enrolment quality
/// gate. Photo and template are encrypted at rest; the template is never answered.
#[utoipa::path(put, path = "/api/v1/permits/{id}/persons/{person}/photos/{photo}", tag = "permits",
    params(("id" = String, Path), ("person" = String, Path), ("photo" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "the photo, JPEG or PNG, at most 16 MiB"),
    security(("session" = [])),
    responses((status = 200, body = Enrolled),
        (status = "4XX", body = ErrorBody, description = "refused, or no usable face (422)"),
        (status = 503, body = ErrorBody, description = "this server runs without the face models")))]
async fn enrol_photo(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params((id, person, photo)): Params<(String, String, String)>,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    s.control.may_enrol(&a, &id, &person, &photo).await?;
    // The photo is read only now, after every check: nobody else makes the server buffer it.
    let body = axum::body::to_bytes(body, MAX_PHOTO_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "a reference photo is at most {} MiB; send a smaller JPEG or PNG",
                    MAX_PHOTO_BYTES >> 20
                ),
            )
        })?;
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "send the photo (JPEG or PNG) as the request body",
        ));
    }
    let (check, bytes) = check_photo(&s, body.to_vec()).await?;
    let Some((quality, template)) = check.passed() else {
        return Err(photo_refused(&check));
    };
    s.control
        .enrol(
            &a,
            &id,
            &person,
            &photo,
            &bytes,
            template,
            quality,
            &origin(&peer),
        )
        .await?;
    Ok(Json(Enrolled {
        permit: id,
        person,
        photo,
        inter_eye_px: quality.inter_eye_px,
        sharpness: quality.sharpness,
        quality: *quality,
    })
    .into_response())
}

/// The gate's refusal of a photo: 422 under rule `photo_quality`, with every reason.
pub(crate) fn photo_refused(check: &PhotoCheck) -> ApiError {
    let rule = mandat_law::rule::PHOTO_QUALITY;
    let mut e = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        rule.code,
        format!(
            "the photo cannot be enrolled: {}",
            check.refusal().unwrap_or_default()
        ),
    );
    e.rule = Some(rule.ground.to_string());
    e
}

/// The reference photos an application lists, whether each is enrolled, and what the quality
/// gate measured on it: for whoever applied for the permit and its decider (rule
/// `reference_photos`).
#[utoipa::path(get, path = "/api/v1/permits/{id}/photos", tag = "permits",
    params(("id" = String, Path)), security(("session" = [])),
    responses((status = 200, body = Vec<mandat_control::ReferencePhoto>),
        (status = "4XX", body = ErrorBody)))]
async fn reference_photos(
    State(s): State<AppState>,
    headers: HeaderMap,
    Params(id): Params<String>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.reference_photos(&a, &id).await?).into_response())
}

/// One enrolled reference photo, for whoever applied for the permit and its decider; every
/// viewing is in the audit log.
#[utoipa::path(get, path = "/api/v1/permits/{id}/photos/{photo}", tag = "permits",
    params(("id" = String, Path), ("photo" = String, Path)), security(("session" = [])),
    responses((status = 200, description = "the photo as enrolled, never cached",
            content_type = "application/octet-stream"),
        (status = "4XX", body = ErrorBody)))]
async fn reference_photo(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params((id, photo)): Params<(String, String)>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    let bytes = s
        .control
        .reference_photo(&a, &id, &photo, &origin(&peer))
        .await?;
    Ok(biometric_image(bytes))
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct TeamBody {
    #[schema(max_length = 64)]
    user: String,
    /// `operator`, `reviewer`, or the deciding `judge` or `prosecutor`; null takes the user off
    /// the team.
    role: Option<mandat_law::Role>,
}

/// Put a user on a permit's team, or take them off (its applicant only). Only the team sees the
/// permit, its alerts and their images; the decider is the one the application is filed to.
#[utoipa::path(post, path = "/api/v1/permits/{id}/team", tag = "permits", params(("id" = String, Path)),
    request_body = TeamBody, security(("session" = [])),
    responses((status = 200, body = mandat_law::Permit), (status = "4XX", body = ErrorBody)))]
async fn permit_team(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<TeamBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    if b.user.len() > 64 {
        return Err(ApiError::bad_request("a user id has at most 64 characters"));
    }
    let p = s
        .control
        .assign_team(&a, &id, &b.user, b.role, &origin(&peer))
        .await?;
    Ok(Json(p).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct StopBody {
    reason: String,
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct DecideBody {
    outcome: mandat_law::Outcome,
    reasons: String,
    /// Grant less than was applied for (a grant only).
    #[serde(default)]
    narrowing: Option<mandat_law::Narrowing>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Decided {
    permit: mandat_law::Permit,
    /// What was erased, when refusing an urgent use.
    deletion_certificate: Option<mandat_store::DeletionCertificate>,
}

/// File the application with the deciding authority.
#[utoipa::path(post, path = "/api/v1/permits/{id}/apply", tag = "permits", params(("id" = String, Path)),
    security(("session" = [])),
    responses((status = 200, body = mandat_law::Permit), (status = "4XX", body = ErrorBody)))]
async fn apply(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.apply(&a, &id, &origin(&peer)).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct UrgentBody {
    /// Why use cannot wait for a decision (fara i dröjsmål). Sealed with the permit's text.
    ground: String,
}

/// Start use before a decision (urgent cases), stating why it cannot wait; the application must
/// follow within 24 hours.
#[utoipa::path(post, path = "/api/v1/permits/{id}/urgent-start", tag = "permits",
    params(("id" = String, Path)), request_body = UrgentBody, security(("session" = [])),
    responses((status = 200, body = mandat_law::Permit), (status = "4XX", body = ErrorBody)))]
async fn urgent_start(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<UrgentBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    let p = s
        .control
        .urgent_start(&a, &id, &b.ground, &origin(&peer))
        .await?;
    Ok(Json(p).into_response())
}

/// Stop the use now, with a reason; matching stops within a second.
#[utoipa::path(post, path = "/api/v1/permits/{id}/stop", tag = "permits", params(("id" = String, Path)),
    request_body = StopBody, security(("session" = [])),
    responses((status = 200, body = mandat_law::Permit), (status = "4XX", body = ErrorBody)))]
async fn stop(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<StopBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("reason", &b.reason, 8000)?;
    Ok(Json(s.control.stop(&a, &id, &b.reason, &origin(&peer)).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct HoldBody {
    reason: String,
}

/// Put a legal hold on the permit's data (its prosecutor or judge, with reasons): the retention
/// schedule's holdable rules do not erase it until the hold is lifted. A refusal's erasure is
/// never held.
#[utoipa::path(post, path = "/api/v1/permits/{id}/hold", tag = "permits", params(("id" = String, Path)),
    request_body = HoldBody, security(("session" = [])),
    responses((status = 200, body = mandat_law::Permit), (status = "4XX", body = ErrorBody)))]
async fn hold(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<HoldBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("reason", &b.reason, 8000)?;
    Ok(Json(s.control.hold(&a, &id, &b.reason, &origin(&peer)).await?).into_response())
}

/// The jurisdiction profile's catalogue of offences an application chooses from (by `code`), with
/// each one's statutory maximum and Annex II category.
#[utoipa::path(get, path = "/api/v1/offences", tag = "permits", security(("session" = [])),
    responses((status = 200, body = Vec<mandat_law::grounds::CatalogueOffence>), (status = "4XX", body = ErrorBody)))]
async fn offences(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    actor(&s, &headers).await?;
    Ok(Json(s.control.profile().offences).into_response())
}

/// Confirm the offence described by hand (a prosecutor who applies or decides on the permit), so
/// the application can be filed; one chosen from the profile's catalogue needs no confirmation.
#[utoipa::path(post, path = "/api/v1/permits/{id}/offence/confirm", tag = "permits",
    params(("id" = String, Path)), security(("session" = [])),
    responses((status = 200, body = mandat_law::Permit), (status = "4XX", body = ErrorBody)))]
async fn confirm_offence(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.confirm_offence(&a, &id, &origin(&peer)).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct HandOverBody {
    /// The prosecutor who files the application: an active account of the permit's agency.
    #[schema(max_length = 200)]
    to: String,
}

/// Hand a permit the police drafted (and perhaps started urgently) for a purpose a prosecutor
/// applies for to that prosecutor, who becomes its applicant and files it.
#[utoipa::path(post, path = "/api/v1/permits/{id}/hand-over", tag = "permits",
    params(("id" = String, Path)), request_body = HandOverBody, security(("session" = [])),
    responses((status = 200, body = mandat_law::Permit), (status = "4XX", body = ErrorBody)))]
async fn hand_over(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<HandOverBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("to", &b.to, 200)?;
    Ok(Json(s.control.hand_over(&a, &id, &b.to, &origin(&peer)).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct CaseBody {
    /// The deciding court's or prosecutor's own case number, e.g. `B 1234-26` or `AM-12345-26`.
    #[schema(max_length = 40)]
    case_number: String,
}

/// Register the filed application under the deciding court's or prosecutor's own case number
/// (its decider). It may be corrected until the decision, and added after it if left out.
#[utoipa::path(post, path = "/api/v1/permits/{id}/case", tag = "permits",
    params(("id" = String, Path)), request_body = CaseBody, security(("session" = [])),
    responses((status = 200, body = mandat_law::Permit), (status = "4XX", body = ErrorBody)))]
async fn register_case(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<CaseBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("case_number", &b.case_number, 40)?;
    let p = s
        .control
        .register_case(&a, &id, &b.case_number, &origin(&peer))
        .await?;
    Ok(Json(p).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct CounselBody {
    /// The public counsel: an active account of the permit's agency holding the counsel role alone.
    #[schema(max_length = 200)]
    user: String,
}

/// The court the application is filed to appoints its public counsel (offentligt ombud), where
/// the profile requires one; they may be replaced until they file an opinion.
#[utoipa::path(post, path = "/api/v1/permits/{id}/counsel", tag = "procedure",
    params(("id" = String, Path)), request_body = CounselBody, security(("session" = [])),
    responses((status = 200, body = mandat_law::Permit), (status = "4XX", body = ErrorBody)))]
async fn appoint_counsel(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<CounselBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("user", &b.user, 200)?;
    let p = s
        .control
        .appoint_counsel(&a, &id, &b.user, &origin(&peer))
        .await?;
    Ok(Json(p).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct OpinionBody {
    position: mandat_law::appeal::Position,
    /// The opinion (sealed with the permit's other text).
    #[schema(max_length = 4000)]
    text: String,
}

/// The public counsel files their opinion on the application before the court decides; filing
/// again replaces it.
#[utoipa::path(post, path = "/api/v1/permits/{id}/opinion", tag = "procedure",
    params(("id" = String, Path)), request_body = OpinionBody, security(("session" = [])),
    responses((status = 200, body = mandat_law::Permit), (status = "4XX", body = ErrorBody)))]
async fn file_opinion(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<OpinionBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("text", &b.text, 16_000)?;
    let p = s
        .control
        .file_opinion(&a, &id, b.position, &b.text, &origin(&peer))
        .await?;
    Ok(Json(p).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct HearingBody {
    /// When the hearing was held (ms since the epoch): after the filing, not in the future. Now,
    /// if left out.
    #[serde(default)]
    held_at: Option<mandat_law::Timestamp>,
    /// Who was present (sealed).
    #[schema(max_length = 4000)]
    present: String,
    /// What the hearing came to (sealed).
    #[schema(max_length = 4000)]
    outcome: String,
}

/// The court records the hearing it held on the application, where the profile requires one.
#[utoipa::path(post, path = "/api/v1/permits/{id}/hearing", tag = "procedure",
    params(("id" = String, Path)), request_body = HearingBody, security(("session" = [])),
    responses((status = 200, body = mandat_law::Permit), (status = "4XX", body = ErrorBody)))]
async fn record_hearing(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<HearingBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("present", &b.present, 16_000)?;
    too_long("outcome", &b.outcome, 16_000)?;
    let p = s
        .control
        .record_hearing(&a, &id, b.held_at, &b.present, &b.outcome, &origin(&peer))
        .await?;
    Ok(Json(p).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct AppealBody {
    /// The higher instance: a judge (or prosecutor, for a prosecutor's decision) of the permit's
    /// agency who has had no part in it.
    #[schema(max_length = 200)]
    to: String,
    /// Why the decision should not stand (sealed).
    #[schema(max_length = 4000)]
    grounds: String,
}

/// The party a decision went against appeals it, within the profile's period: the public counsel
/// a grant (in whole or in part), the applicant a refusal.
#[utoipa::path(post, path = "/api/v1/permits/{id}/appeal", tag = "procedure",
    params(("id" = String, Path)), request_body = AppealBody, security(("session" = [])),
    responses((status = 200, body = mandat_law::Permit), (status = "4XX", body = ErrorBody)))]
async fn appeal(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<AppealBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("to", &b.to, 200)?;
    too_long("grounds", &b.grounds, 16_000)?;
    let p = s
        .control
        .appeal(&a, &id, &b.to, &b.grounds, &origin(&peer))
        .await?;
    Ok(Json(p).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct AppealDecisionBody {
    outcome: mandat_law::appeal::AppealOutcome,
    /// The higher instance's reasons (sealed).
    #[schema(max_length = 4000)]
    reasons: String,
}

/// The higher instance decides the appeal filed to it. A grant overturned stops the use at once
/// and purges everything it produced; the deletion certificate comes back.
#[utoipa::path(post, path = "/api/v1/permits/{id}/appeal/decision", tag = "procedure",
    params(("id" = String, Path)), request_body = AppealDecisionBody, security(("session" = [])),
    responses((status = 200, body = Decided), (status = "4XX", body = ErrorBody)))]
async fn decide_appeal(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<AppealDecisionBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("reasons", &b.reasons, 16_000)?;
    let (p, cert) = s
        .control
        .decide_appeal(&a, &id, b.outcome, &b.reasons, &origin(&peer))
        .await?;
    Ok(Json(Decided {
        permit: p,
        deletion_certificate: cert,
    })
    .into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct OutcomeBody {
    /// What the use led to: one or more results, or `nothing` alone.
    #[schema(max_items = 5)]
    results: Vec<mandat_law::UseResult>,
}

/// Record what the use led to (its applicant, once the use has ended), for the annual report's
/// outcomes per purpose. Recording again corrects it; the audit log keeps both.
#[utoipa::path(post, path = "/api/v1/permits/{id}/outcome", tag = "permits", params(("id" = String, Path)),
    request_body = OutcomeBody, security(("session" = [])),
    responses((status = 200, body = mandat_law::Permit), (status = "4XX", body = ErrorBody)))]
async fn record_outcome(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<OutcomeBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    let p = s
        .control
        .record_outcome(&a, &id, &b.results, &origin(&peer))
        .await?;
    Ok(Json(p).into_response())
}

/// Lift the legal hold; what the schedule says is due is erased at once.
#[utoipa::path(post, path = "/api/v1/permits/{id}/hold/release", tag = "permits",
    params(("id" = String, Path)), security(("session" = [])),
    responses((status = 200, body = mandat_law::Permit), (status = "4XX", body = ErrorBody)))]
async fn release_hold(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.release_hold(&a, &id, &origin(&peer)).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct AmendBody {
    /// Registered cameras to add to the permit's area.
    cameras: Vec<String>,
    /// Why the permit's purpose needs them.
    reasons: String,
}

/// Ask to add cameras to a granted permit (its applicant). Nothing is analysed on them until the
/// permit's court or prosecutor grants the amendment.
#[utoipa::path(post, path = "/api/v1/permits/{id}/amendments", tag = "permits",
    params(("id" = String, Path)), request_body = AmendBody, security(("session" = [])),
    responses((status = 200, body = mandat_law::Permit), (status = "4XX", body = ErrorBody)))]
async fn amend(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<AmendBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("reasons", &b.reasons, 8000)?;
    if b.cameras.len() > 1000 {
        return Err(ApiError::bad_request(
            "an amendment names at most 1000 cameras",
        ));
    }
    let p = s
        .control
        .file_amendment(&a, &id, &b.cameras, &b.reasons, &origin(&peer))
        .await?;
    Ok(Json(p).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct AmendmentDecisionBody {
    /// The amendment decided, as the decider saw it: a stale or replayed decision never lands on
    /// a later one.
    number: u32,
    outcome: mandat_law::Outcome,
    reasons: String,
}

/// Decide the permit's open amendment (its court or prosecutor). A grant covers the cameras from
/// now on; a refusal leaves the area as it was.
#[utoipa::path(post, path = "/api/v1/permits/{id}/amendments/decide", tag = "permits",
    params(("id" = String, Path)), request_body = AmendmentDecisionBody, security(("session" = [])),
    responses((status = 200, body = mandat_law::Permit), (status = "4XX", body = ErrorBody)))]
async fn decide_amendment(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<AmendmentDecisionBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("reasons", &b.reasons, 8000)?;
    let p = s
        .control
        .decide_amendment(&a, &id, b.number, b.outcome, &b.reasons, &origin(&peer))
        .await?;
    Ok(Json(p).into_response())
}

/// Start a new key epoch: every live data key is wrapped again under a fresh wrapping key and the
/// old one is destroyed, so no copy of the database made before can unwrap what was erased since.
/// Admins only; mandat also rotates after every erasure and daily.
#[utoipa::path(post, path = "/api/v1/keys/rotate", tag = "keys", security(("session" = [])),
    responses((status = 200, body = mandat_store::KeyRotation), (status = "4XX", body = ErrorBody)))]
async fn rotate_keys(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.rotate_keys(&a, &origin(&peer)).await?).into_response())
}

/// Grant or refuse an application (the court or prosecutor the law names). Refusing an urgent
/// use erases everything it produced and answers the deletion certificate.
#[utoipa::path(post, path = "/api/v1/permits/{id}/decide", tag = "permits", params(("id" = String, Path)),
    request_body = DecideBody, security(("session" = [])),
    responses((status = 200, body = Decided), (status = "4XX", body = ErrorBody)))]
async fn decide(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<DecideBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("reasons", &b.reasons, 8000)?;
    let (p, cert) = match (b.outcome, &b.narrowing) {
        (mandat_law::Outcome::Grant, Some(n)) => (
            s.control
                .grant_in_part(&a, &id, &b.reasons, n, &origin(&peer))
                .await?,
            None,
        ),
        (mandat_law::Outcome::Refuse, Some(_)) => {
            return Err(ApiError::bad_request(
                "a refusal grants nothing to narrow; leave out `narrowing`",
            ));
        }
        (outcome, None) => {
            s.control
                .decide(&a, &id, outcome, &b.reasons, &origin(&peer))
                .await?
        }
    };
    Ok(Json(Decided {
        permit: p,
        deletion_certificate: cert,
    })
    .into_response())
}

fn too_long(what: &str, v: &str, max: usize) -> ApiResult<()> {
    if v.len() > max {
        return Err(ApiError::bad_request(format!("{what} over {max} bytes")));
    }
    Ok(())
}

// ---- cameras, users, audit ----

/// Registered cameras (never their stream URLs).
#[utoipa::path(get, path = "/api/v1/cameras", tag = "cameras", security(("session" = [])),
    responses((status = 200, body = Vec<mandat_store::Camera>), (status = "4XX", body = ErrorBody)))]
async fn cameras(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.cameras(&a).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct CameraBody {
    #[serde(flatten)]
    camera: mandat_store::Camera,
    /// RTSP or file URL; may carry credentials, so it is sealed at rest and never shown again.
    stream_url: String,
}

/// Register a camera (admins).
#[utoipa::path(post, path = "/api/v1/cameras", tag = "cameras", request_body = CameraBody,
    security(("session" = [])),
    responses((status = 201, body = mandat_store::Camera), (status = "4XX", body = ErrorBody)))]
async fn add_camera(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Body(b): Body<CameraBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("stream_url", &b.stream_url, 2000)?;
    too_long("name", &b.camera.name, 200)?;
    s.control
        .add_camera(&a, &b.camera, &b.stream_url, &origin(&peer))
        .await?;
    Ok((StatusCode::CREATED, Json(b.camera)).into_response())
}

// ---- workers ----

/// Enrolled and embedded workers (admins).
#[utoipa::path(get, path = "/api/v1/workers", tag = "workers", security(("session" = [])),
    responses((status = 200, body = Vec<mandat_store::workers::WorkerRecord>), (status = "4XX", body = ErrorBody)))]
async fn workers(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.workers(&a).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnrolWorkerBody {
    id: String,
    /// The worker's certificate signing request (PEM), made on the worker by `mandat worker key`:
    /// its private key never leaves it.
    csr: String,
    /// How many cameras it may run at once.
    capacity: u32,
}

/// Enrol a worker (admins): the internal CA signs its request; the answer holds its certificate
/// and the CA's.
#[utoipa::path(post, path = "/api/v1/workers", tag = "workers", request_body = EnrolWorkerBody,
    security(("session" = [])),
    responses((status = 201, body = mandat_control::workers::Enrolled), (status = "4XX", body = ErrorBody)))]
async fn enrol_worker(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Body(b): Body<EnrolWorkerBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("csr", &b.csr, 16_000)?;
    too_long("id", &b.id, 64)?;
    let e = s
        .control
        .enrol_worker(&a, &b.id, &b.csr, b.capacity, &origin(&peer))
        .await?;
    Ok((StatusCode::CREATED, Json(e)).into_response())
}

/// Approve a worker another admin enrolled (admins): only then does it get cameras.
#[utoipa::path(post, path = "/api/v1/workers/{id}/approve", tag = "workers",
    params(("id" = String, Path)), security(("session" = [])),
    responses((status = 200, body = WorkerApproved), (status = "4XX", body = ErrorBody)))]
async fn approve_worker(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    s.control.approve_worker(&a, &id, &origin(&peer)).await?;
    Ok(Json(WorkerApproved {
        worker: id,
        approved: true,
    })
    .into_response())
}

#[derive(Serialize, ToSchema)]
pub(crate) struct WorkerApproved {
    worker: String,
    approved: bool,
}

/// Disable a worker (admins): its certificate is refused from its next request, and its cameras
/// are released at once.
#[utoipa::path(post, path = "/api/v1/workers/{id}/disable", tag = "workers",
    params(("id" = String, Path)), security(("session" = [])),
    responses((status = 200, body = WorkerDisabled), (status = "4XX", body = ErrorBody)))]
async fn disable_worker(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    s.control.disable_worker(&a, &id, &origin(&peer)).await?;
    Ok(Json(WorkerDisabled {
        worker: id,
        disabled: true,
    })
    .into_response())
}

#[derive(Serialize, ToSchema)]
pub(crate) struct WorkerDisabled {
    worker: String,
    disabled: bool,
}

/// A change to a registered camera.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "change", deny_unknown_fields)]
pub(crate) enum CameraChangeBody {
    Enable,
    Disable,
    /// Gone from the register; the permits that named it show it as removed.
    Remove,
    /// A new stream URL; sealed at rest and never shown again.
    Url {
        stream_url: String,
    },
    /// A partner camera's new or renewed agreement (rule `partner_agreement`).
    Agreement {
        agreement: mandat_law::Agreement,
    },
}

#[derive(Serialize, ToSchema)]
pub(crate) struct CameraChanged {
    camera: String,
    change: String,
}

/// Enable, disable, re-point or remove a camera (admins, audited). The scope follows a disable,
/// enable or removal within a second; a new stream URL is used from the server's next start, and
/// is refused for a camera a decided or running permit covers.
#[utoipa::path(post, path = "/api/v1/cameras/{id}/change", tag = "cameras",
    params(("id" = String, Path)), request_body = CameraChangeBody, security(("session" = [])),
    responses((status = 200, body = CameraChanged), (status = "4XX", body = ErrorBody)))]
async fn change_camera(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<CameraChangeBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    let (change, name) = match b {
        CameraChangeBody::Enable => (mandat_store::CameraChange::Enable, "enable"),
        CameraChangeBody::Disable => (mandat_store::CameraChange::Disable, "disable"),
        CameraChangeBody::Remove => (mandat_store::CameraChange::Remove, "remove"),
        CameraChangeBody::Url { stream_url } => {
            too_long("stream_url", &stream_url, 2000)?;
            (mandat_store::CameraChange::Url(stream_url), "url")
        }
        CameraChangeBody::Agreement { agreement } => (
            mandat_store::CameraChange::Agreement(agreement),
            "agreement",
        ),
    };
    s.control
        .change_camera(&a, &id, &change, &origin(&peer))
        .await?;
    Ok(Json(CameraChanged {
        camera: id,
        change: name.into(),
    })
    .into_response())
}

/// Accounts, their roles and whether they are disabled (admins).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("session" = [])),
    responses((status = 200, body = Vec<mandat_store::UserInfo>), (status = "4XX", body = ErrorBody)))]
async fn users(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.users(&a).await?).into_response())
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Disabled {
    disabled: String,
}

/// Disable an account (admins, not their own): it cannot log in, and its sessions, open pages and
/// event streams end within a second.
#[utoipa::path(post, path = "/api/v1/users/{id}/disable", tag = "users", params(("id" = String, Path)),
    security(("session" = [])),
    responses((status = 200, body = Disabled), (status = "4XX", body = ErrorBody)))]
async fn disable_user(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    s.control.disable_user(&a, &id, &origin(&peer)).await?;
    Ok(Json(Disabled { disabled: id }).into_response())
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Revoked {
    user: String,
    sessions_ended: u64,
}

/// End every session of an account (admins, not their own); the account stays usable.
#[utoipa::path(post, path = "/api/v1/users/{id}/sessions/revoke", tag = "users",
    params(("id" = String, Path)), security(("session" = [])),
    responses((status = 200, body = Revoked), (status = "4XX", body = ErrorBody)))]
async fn revoke_sessions(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    let n = s.control.revoke_sessions(&a, &id, &origin(&peer)).await?;
    Ok(Json(Revoked {
        user: id,
        sessions_ended: n,
    })
    .into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct UserBody {
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    user: String,
    /// The roles to request; they take effect when a second admin approves.
    roles: Vec<mandat_law::Role>,
    /// The agency the account works for; Polismyndigheten if not given.
    #[serde(default)]
    agency: Option<mandat_law::permit::Agency>,
}

/// Create an account (admins). It has no password: the answer holds a one-time enrolment code to
/// hand to the user, who sets their own password with it. The roles wait for a second admin.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = UserBody,
    security(("session" = [])),
    responses((status = 201, body = mandat_store::Enrolment), (status = "4XX", body = ErrorBody)))]
async fn add_user(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Body(b): Body<UserBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("user", &b.user, 64)?;
    let e = s
        .control
        .create_account(
            &a,
            &b.user,
            &b.roles,
            b.agency
                .unwrap_or(mandat_law::permit::Agency::Polismyndigheten),
            &origin(&peer),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(e)).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct RolesBody {
    /// Every role the account should hold. Removals take effect at once; additions when a second
    /// admin approves.
    roles: Vec<mandat_law::Role>,
}

/// Set an account's roles (admins, not their own).
#[utoipa::path(post, path = "/api/v1/users/{id}/roles", tag = "users", params(("id" = String, Path)),
    request_body = RolesBody, security(("session" = [])),
    responses((status = 200, body = mandat_store::RoleChange), (status = "4XX", body = ErrorBody)))]
async fn user_roles(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<RolesBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(
        s.control
            .request_roles(&a, &id, &b.roles, &origin(&peer))
            .await?,
    )
    .into_response())
}

/// Issue a new enrolment code (admins, not their own account): password and second factor are
/// cleared, sessions end, and the account's roles wait for a second admin again.
#[utoipa::path(post, path = "/api/v1/users/{id}/enrolment", tag = "users", params(("id" = String, Path)),
    security(("session" = [])),
    responses((status = 200, body = mandat_store::Enrolment), (status = "4XX", body = ErrorBody)))]
async fn reset_enrolment(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.reset_enrolment(&a, &id, &origin(&peer)).await?).into_response())
}

/// Role grants waiting for a second admin (admins).
#[utoipa::path(get, path = "/api/v1/grants", tag = "users", security(("session" = [])),
    responses((status = 200, body = Vec<mandat_store::Grant>), (status = "4XX", body = ErrorBody)))]
async fn grants(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.grants(&a).await?).into_response())
}

/// Approve a role grant (an admin other than the one who asked, and not the account's owner).
#[utoipa::path(post, path = "/api/v1/grants/{id}/approve", tag = "users", params(("id" = String, Path)),
    security(("session" = [])),
    responses((status = 200, body = mandat_store::Grant), (status = "4XX", body = ErrorBody)))]
async fn approve_grant(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.approve_grant(&a, &id, &origin(&peer)).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct EnrolBody {
    user: String,
    /// The one-time code the admin handed over.
    #[schema(max_length = 64)]
    code: String,
    /// The password the user chooses.
    #[schema(min_length = 12, max_length = 1024)]
    password: String,
}

/// Enrol with a one-time code (no session): set your password and receive your second factor.
/// Attempts are backed off like logins; a wrong code answers like an unknown user.
#[utoipa::path(post, path = "/api/v1/enrol", tag = "session", request_body = EnrolBody,
    responses((status = 200, body = mandat_store::SecondFactor), (status = "4XX", body = ErrorBody)))]
async fn enrol_account(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Body(b): Body<EnrolBody>,
) -> ApiResult<Response> {
    check_origin(&headers)?;
    s.throttle_login(&peer)?;
    too_long("user", &b.user, 128)?;
    too_long("code", &b.code, 64)?;
    too_long("password", &b.password, 1024)?;
    Ok(Json(
        s.control
            .enrol_account(&b.user, &b.code, &b.password, &origin(&peer))
            .await?,
    )
    .into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct PasswordBody {
    #[schema(max_length = 1024)]
    current: String,
    #[schema(min_length = 12, max_length = 1024)]
    new: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct PasswordChanged {
    /// Every session of the account ended, this one too: log in again.
    sessions_ended: bool,
}

/// Change your own password. Every session of the account ends.
#[utoipa::path(post, path = "/api/v1/password", tag = "session", request_body = PasswordBody,
    security(("session" = [])),
    responses((status = 200, body = PasswordChanged), (status = "4XX", body = ErrorBody)))]
async fn change_password(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Body(b): Body<PasswordBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("password", &b.current, 1024)?;
    too_long("password", &b.new, 1024)?;
    s.control
        .change_password(&a, &b.current, &b.new, &origin(&peer))
        .await?;
    Ok(Json(PasswordChanged {
        sessions_ended: true,
    })
    .into_response())
}

/// The whole audit log (auditors).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("session" = [])),
    responses((status = 200, body = Vec<mandat_audit::Entry>), (status = "4XX", body = ErrorBody)))]
async fn audit_log(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.audit_log(&a).await?).into_response())
}

/// The whole log for IMY as JSON lines (`mandat-audit-export/v1`: a header with the public key,
/// every entry, every checkpoint), for auditors and admins. The export itself is recorded first.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", security(("session" = [])),
    responses((status = 200, description = "JSON lines", content_type = "application/jsonl"),
        (status = "4XX", body = ErrorBody)))]
async fn audit_export(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    let (entries, cps, key) = s.control.audit_export(&a, None, &origin(&peer)).await?;
    let at = s.control.now()?.0;
    Ok(download(
        mandat_audit::export_lines(&entries, &cps, &key, at).into_bytes(),
        "application/jsonl",
        "audit-export",
        "jsonl",
    ))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Recorded {
    recorded: String,
}

/// A JSON body of at most `limit` bytes, read only once `a` may take `action`: a refused caller
/// learns nothing of its form.
async fn allowed_json<T: serde::de::DeserializeOwned>(
    a: &Session,
    action: mandat_law::permissions::Action,
    body: axum::body::Body,
    limit: usize,
    too_large: &str,
    not_it: &str,
) -> Result<T, ApiError> {
    mandat_law::permissions::require(a, action)
        .map_err(|r| ApiError::from(ControlError::from(r)))?;
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", too_large))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_request",
            format!("{not_it}: {e}"),
        )
    })
}

/// Record an evaluation report (`mandat eval report`, or `mandat eval record` of one made
/// elsewhere) in the audit log, for auditors only: the models, the calibration, the
/// headline figures and the demographic spread. A grant needs a recent full one of the running
/// model (the jurisdiction profile's limit).
#[utoipa::path(post, path = "/api/v1/evaluations", tag = "audit", request_body = mandat_law::risk::RiskAnalysis,
    security(("session" = [])),
    responses((status = 200, body = Recorded), (status = "4XX", body = ErrorBody)))]
async fn record_evaluation(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    let analysis: mandat_law::risk::RiskAnalysis = allowed_json(
        &a,
        mandat_law::permissions::Action::RecordEvaluation,
        body,
        64 * 1024,
        "an evaluation record holds at most 64 KiB: the summary, not the raw scores",
        "not an evaluation record as `mandat eval report` makes it",
    )
    .await?;
    s.control
        .record_evaluation(&a, &analysis, &origin(&peer))
        .await?;
    Ok(Json(Recorded {
        recorded: "eval.report".into(),
    })
    .into_response())
}

/// Record a use of `mandat detect` or `mandat compare` in an installation (auditors and admins),
/// before the CLI runs it: the tool, the images' sha256 and whether embeddings are printed.
#[utoipa::path(post, path = "/api/v1/tools/use", tag = "audit", request_body = mandat_control::tools::ToolUse,
    security(("session" = [])),
    responses((status = 200, body = Recorded), (status = "4XX", body = ErrorBody)))]
async fn record_tool_use(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    let u: mandat_control::tools::ToolUse = allowed_json(
        &a,
        mandat_law::permissions::Action::UseFaceTool,
        body,
        128 * 1024,
        "a tool use names at most 1000 images by their sha256",
        "not a tool use (tool, files, embeddings)",
    )
    .await?;
    s.control.record_tool_use(&a, &u, &origin(&peer)).await?;
    Ok(Json(Recorded {
        recorded: format!("tool.{}", u.tool),
    })
    .into_response())
}

/// The largest calibration upload: a table with its impostor cohort (a few thousand templates,
/// base64), which a per-template table must bring.
pub const MAX_CALIBRATION_BYTES: usize = 32 << 20;

/// Store a threshold calibration table (`mandat eval calibrate`), for admins. It must be for the
/// model this server runs and must have passed its held-out check; a per-template table brings
/// its cohort in `cohort` (little-endian f32, base64).
#[utoipa::path(post, path = "/api/v1/calibrations", tag = "audit", request_body = Object,
    security(("session" = [])),
    responses((status = 200, body = Recorded), (status = "4XX", body = ErrorBody)))]
async fn add_calibration(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    // The role first, before the body is read: a refused caller learns nothing about what a
    // table must hold, and cannot make the server buffer tens of megabytes.
    mandat_law::permissions::require(&a, mandat_law::permissions::Action::StoreCalibration)
        .map_err(|r| ApiError::from(ControlError::from(r)))?;
    let bad = |what: String| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_request",
            format!("not a calibration table as `mandat eval calibrate` writes it: {what}"),
        )
    };
    let bytes = axum::body::to_bytes(body, MAX_CALIBRATION_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("a calibration upload is at most {MAX_CALIBRATION_BYTES} bytes"),
            )
        })?;
    /// The table, and its cohort as little-endian f32 in base64 when it has a per-template part.
    #[derive(serde::Deserialize)]
    struct Upload {
        #[serde(flatten)]
        calibration: mandat_control::Calibration,
        cohort: Option<String>,
    }
    let Upload {
        calibration: cal,
        cohort,
    } = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    let cohort = match cohort {
        None => None,
        Some(b64) => {
            use base64::Engine as _;
            let mut raw = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| bad(format!("the cohort is not base64: {e}")))?;
            let c = mandat_eval::cohort::Cohort::from_le_bytes(
                mandat_face::vector::EMBEDDING_DIM,
                &raw,
            );
            mandat_store::crypto::wipe(&mut raw);
            Some(c.map_err(|e| bad(format!("the cohort: {e}")))?)
        }
    };
    s.control
        .add_calibration(&a, &cal, cohort.as_ref(), &origin(&peer))
        .await?;
    Ok(Json(Recorded {
        recorded: cal.version,
    })
    .into_response())
}

/// Verify the hash chain and its signed checkpoints (auditors); the check itself is recorded.
#[utoipa::path(post, path = "/api/v1/audit/verify", tag = "audit", security(("session" = [])),
    responses((status = 200, body = mandat_audit::Verdict), (status = "4XX", body = ErrorBody)))]
async fn audit_verify(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.audit_verify(&a, &origin(&peer)).await?).into_response())
}

// ---- subject notifications ----

use mandat_law::subject::MAX_REASON;

/// Take `step` on task `id` and answer the task as it now stands.
async fn subject_reply(
    s: &AppState,
    a: &Session,
    id: &str,
    step: mandat_store::subjects::SubjectStep,
    peer: &SocketAddr,
) -> ApiResult<Response> {
    Ok(Json(s.control.subject_step(a, id, step, &origin(peer)).await?).into_response())
}

/// Persons to notify after verified identifications, one task per person and permit: for the
/// permit's applicant, its prosecutor and its decider, or every task of the agency for auditors;
/// each with its due date (the end of use, or the current deferral's date), overdue ones flagged.
#[utoipa::path(get, path = "/api/v1/subjects", tag = "subjects", security(("session" = [])),
    responses((status = 200, body = Vec<mandat_control::SubjectView>), (status = "4XX", body = ErrorBody)))]
async fn subjects(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.subject_tasks(&a, &origin(&peer)).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct DeferBody {
    /// Why notifying now would harm the purpose.
    #[schema(max_length = 4000)]
    reason: String,
    until: mandat_law::Timestamp,
}

/// Put a notification off to a later date, with the reason (the permit's applicant). The first
/// deferral takes effect at once; a later one waits for a prosecutor of the permit (`awaiting`).
#[utoipa::path(post, path = "/api/v1/subjects/{id}/defer", tag = "subjects", params(("id" = String, Path)),
    request_body = DeferBody, security(("session" = [])),
    responses((status = 200, body = mandat_control::SubjectView), (status = "4XX", body = ErrorBody)))]
async fn subject_defer(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<DeferBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("reason", &b.reason, MAX_REASON)?;
    let step = mandat_store::subjects::SubjectStep::Defer {
        reason: b.reason,
        until: b.until,
    };
    subject_reply(&s, &a, &id, step, &peer).await
}

/// Record that the person was notified (the permit's applicant).
#[utoipa::path(post, path = "/api/v1/subjects/{id}/done", tag = "subjects", params(("id" = String, Path)),
    security(("session" = [])),
    responses((status = 200, body = mandat_control::SubjectView), (status = "4XX", body = ErrorBody)))]
async fn subject_done(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    let step = mandat_store::subjects::SubjectStep::Complete;
    subject_reply(&s, &a, &id, step, &peer).await
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct ApproveBody {
    approve: bool,
    /// The `pending_at` of the request decided, as listed: a newer request is not decided on
    /// the strength of an older page.
    request_at: mandat_law::Timestamp,
}

/// Approve or reject the deferral asked for (a prosecutor of the permit, not the one who asked).
#[utoipa::path(post, path = "/api/v1/subjects/{id}/defer/decision", tag = "subjects", params(("id" = String, Path)),
    request_body = ApproveBody, security(("session" = [])),
    responses((status = 200, body = mandat_control::SubjectView), (status = "4XX", body = ErrorBody)))]
async fn subject_defer_decision(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<ApproveBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    let step = mandat_store::subjects::SubjectStep::DecideDeferral {
        approve: b.approve,
        request_at: b.request_at,
    };
    subject_reply(&s, &a, &id, step, &peer).await
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct WaiverBody {
    /// Why the person should not be notified at all.
    #[schema(max_length = 4000)]
    reasons: String,
}

/// Ask that the person not be notified, with reasons (the permit's applicant); the decider
/// decides.
#[utoipa::path(post, path = "/api/v1/subjects/{id}/waiver", tag = "subjects", params(("id" = String, Path)),
    request_body = WaiverBody, security(("session" = [])),
    responses((status = 200, body = mandat_control::SubjectView), (status = "4XX", body = ErrorBody)))]
async fn subject_waiver(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<WaiverBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("reasons", &b.reasons, MAX_REASON)?;
    let step = mandat_store::subjects::SubjectStep::RequestWaiver { reasons: b.reasons };
    subject_reply(&s, &a, &id, step, &peer).await
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct WaiverDecisionBody {
    /// Whether the person will not be notified.
    approve: bool,
    #[schema(max_length = 4000)]
    reasons: String,
    /// The `pending_at` of the request decided, as listed.
    request_at: mandat_law::Timestamp,
}

/// Decide a request not to notify, with reasons either way (the court or prosecutor who decided
/// the permit).
#[utoipa::path(post, path = "/api/v1/subjects/{id}/waiver/decision", tag = "subjects", params(("id" = String, Path)),
    request_body = WaiverDecisionBody, security(("session" = [])),
    responses((status = 200, body = mandat_control::SubjectView), (status = "4XX", body = ErrorBody)))]
async fn subject_waiver_decision(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<WaiverDecisionBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("reasons", &b.reasons, MAX_REASON)?;
    let step = mandat_store::subjects::SubjectStep::DecideWaiver {
        approve: b.approve,
        reasons: b.reasons,
        request_at: b.request_at,
    };
    subject_reply(&s, &a, &id, step, &peer).await
}

// ---- annual report ----

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReportQuery {
    /// `json` (default), `csv` or `pdf`.
    #[serde(default)]
    format: ReportFormat,
}

#[derive(Deserialize, Default, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ReportFormat {
    #[default]
    Json,
    Csv,
    Pdf,
}

/// The annual report of a year (AI Act art. 5(6)), per purpose, for auditors and admins: JSON, CSV,
/// or PDF with charts. Counts only.
#[utoipa::path(get, path = "/api/v1/reports/annual/{year}", tag = "reports",
    params(("year" = i32, Path, minimum = 2000, maximum = 9998), ReportQuery), security(("session" = [])),
    responses((status = 200, description = "the report in the format asked for", content(
            (mandat_reports::annual::AnnualReport = "application/json"),
            (String = "text/csv"),
            (String = "application/pdf"))),
        (status = "4XX", body = ErrorBody)))]
async fn annual_report(
    State(s): State<AppState>,
    headers: HeaderMap,
    Params(year): Params<i32>,
    QueryArgs(q): QueryArgs<ReportQuery>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    let r = s.control.annual_report(&a, year).await?;
    Ok(match q.format {
        ReportFormat::Json => Json(r).into_response(),
        ReportFormat::Csv => download(
            mandat_reports::annual::csv(&r).into_bytes(),
            "text/csv; charset=utf-8",
            &format!("annual-{year}"),
            "csv",
        ),
        ReportFormat::Pdf => {
            let pdf = mandat_reports::annual::pdf(&r).map_err(|e| {
                tracing::error!("annual report charts: {e}");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "charts",
                    "the charts could not be drawn; see the server log (fonts: fontconfig and a sans-serif font)",
                )
            })?;
            pdf_response(pdf, &format!("annual-{year}"))
        }
    })
}

/// The annual report's cameras per owner kind (police, municipality, region, private): JSON or
/// CSV, for auditors and admins. Counts only.
#[utoipa::path(get, path = "/api/v1/reports/annual/{year}/owners", tag = "reports",
    params(("year" = i32, Path), ReportQuery), security(("session" = [])),
    responses((status = 200, content(
            (Vec<mandat_reports::annual::OwnerLine> = "application/json"),
            (String = "text/csv"))),
        (status = "4XX", body = ErrorBody)))]
async fn annual_owners(
    State(s): State<AppState>,
    headers: HeaderMap,
    Params(year): Params<i32>,
    QueryArgs(q): QueryArgs<ReportQuery>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    let r = s.control.annual_report(&a, year).await?;
    Ok(match q.format {
        ReportFormat::Json => Json(r.owners).into_response(),
        ReportFormat::Csv => download(
            mandat_reports::annual::owners_csv(&r).into_bytes(),
            "text/csv; charset=utf-8",
            &format!("annual-{year}-owners"),
            "csv",
        ),
        ReportFormat::Pdf => {
            return Err(ApiError::bad_request(
                "the owner lines are in the annual report's PDF: ask /api/v1/reports/annual/{year}?format=pdf",
            ));
        }
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct SlaQuery {
    /// The partner: `municipality:NAME`, `region:NAME` or `private:NAME`.
    owner: String,
    /// First and last day (`YYYY-MM-DD`), or a permit whose period and cameras to report.
    from: Option<String>,
    until: Option<String>,
    permit: Option<String>,
    /// `json` (default), `csv` or `pdf`.
    #[serde(default)]
    format: ReportFormat,
}

/// The service level of a partner's cameras per camera and day (availability against 95 %,
/// fitness), over a span of days or one permit's period: JSON, CSV or PDF. Auditors only: the
/// days tell where and when permits ran.
#[utoipa::path(get, path = "/api/v1/reports/sla", tag = "reports",
    params(SlaQuery), security(("session" = [])),
    responses((status = 200, content(
            (mandat_reports::sla::SlaReport = "application/json"),
            (String = "text/csv"),
            (Vec<u8> = "application/pdf"))),
        (status = "4XX", body = ErrorBody)))]
async fn sla_report(
    State(s): State<AppState>,
    headers: HeaderMap,
    QueryArgs(q): QueryArgs<SlaQuery>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    too_long("owner", &q.owner, 210)?;
    let span = match (&q.from, &q.until) {
        (Some(f), Some(u)) => Some((f.as_str(), u.as_str())),
        (None, None) => None,
        _ => {
            return Err(ApiError::bad_request(
                "give both from and until, or neither",
            ));
        }
    };
    let r = s
        .control
        .sla_report(&a, &q.owner, span, q.permit.as_deref())
        .await?;
    let name = format!("sla-{}-{}", r.from, r.until);
    Ok(match q.format {
        ReportFormat::Json => Json(r).into_response(),
        ReportFormat::Csv => download(
            mandat_reports::sla::sla_csv(&r).into_bytes(),
            "text/csv; charset=utf-8",
            &name,
            "csv",
        ),
        ReportFormat::Pdf => pdf_response(mandat_reports::sla::sla_pdf(&r), &name),
    })
}

/// Notices of covered cameras that became unfit, for the permits the caller may know of.
#[utoipa::path(get, path = "/api/v1/cameras/notices", tag = "cameras", security(("session" = [])),
    responses((status = 200, body = Vec<mandat_store::camera_days::CameraNotice>), (status = "4XX", body = ErrorBody)))]
async fn camera_notices(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.camera_notices(&a).await?).into_response())
}

// ---- IMY register ----

/// The register of notifications to IMY, oldest first (auditors and admins). No personal data.
#[utoipa::path(get, path = "/api/v1/imy/notifications", tag = "imy", security(("session" = [])),
    responses((status = 200, body = Vec<mandat_store::imy::ImyRecord>), (status = "4XX", body = ErrorBody)))]
async fn imy_notifications(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.imy_notifications(&a).await?).into_response())
}

/// One notification and its register status.
#[utoipa::path(get, path = "/api/v1/imy/notifications/{id}", tag = "imy", params(("id" = String, Path)),
    security(("session" = [])),
    responses((status = 200, body = mandat_store::imy::ImyRecord), (status = "4XX", body = ErrorBody)))]
async fn imy_notification(
    State(s): State<AppState>,
    headers: HeaderMap,
    Params(id): Params<String>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    Ok(Json(s.control.imy_notification(&a, &id).await?).into_response())
}

/// The notification as the PDF that is sent to IMY.
#[utoipa::path(get, path = "/api/v1/imy/notifications/{id}/pdf", tag = "imy",
    params(("id" = String, Path)), security(("session" = [])),
    responses((status = 200, description = "PDF, one page", content_type = "application/pdf"),
        (status = "4XX", body = ErrorBody)))]
async fn imy_notification_pdf(
    State(s): State<AppState>,
    headers: HeaderMap,
    Params(id): Params<String>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    let rec = s.control.imy_notification(&a, &id).await?;
    Ok(pdf_response(mandat_reports::imy_pdf(&rec), &rec.id))
}

/// A PDF download, kept out of caches.
pub(crate) fn pdf_response(body: Vec<u8>, name: &str) -> Response {
    download(body, "application/pdf", name, "pdf")
}

/// A file download, kept out of caches. `name` is a register id or `annual-<year>`.
pub(crate) fn download(body: Vec<u8>, ctype: &'static str, name: &str, ext: &str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Register ids are [A-Za-z0-9_-]; anything else is dropped from the file name.
    let safe: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_".contains(*c))
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}.{ext}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// Record that the notification was sent to IMY (admins).
#[utoipa::path(post, path = "/api/v1/imy/notifications/{id}/sent", tag = "imy",
    params(("id" = String, Path)), security(("session" = [])),
    responses((status = 200, body = mandat_store::imy::ImyRecord), (status = "4XX", body = ErrorBody)))]
async fn imy_sent(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    let rec = s
        .control
        .imy_step(&a, &id, mandat_store::imy::ImyStep::Sent, &origin(&peer))
        .await?;
    Ok(Json(rec).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct AckBody {
    /// IMY's reference (diarienummer) from its acknowledgement.
    #[schema(min_length = 1, max_length = 100)]
    reference: String,
}

/// Record IMY's acknowledgement of a sent notification, with IMY's reference (admins).
#[utoipa::path(post, path = "/api/v1/imy/notifications/{id}/acknowledged", tag = "imy",
    params(("id" = String, Path)), request_body = AckBody, security(("session" = [])),
    responses((status = 200, body = mandat_store::imy::ImyRecord), (status = "4XX", body = ErrorBody)))]
async fn imy_acknowledged(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(b): Body<AckBody>,
) -> ApiResult<Response> {
    let a = actor(&s, &headers).await?;
    let step = mandat_store::imy::ImyStep::Acknowledged {
        reference: b.reference,
    };
    Ok(Json(s.control.imy_step(&a, &id, step, &origin(&peer)).await?).into_response())
}

/// Prometheus text format: cameras, frame rates, dropped frames, alerts by state and review
/// latency. Labels are camera ids and states only: no permit, person or user. Needs the metrics
/// token; the per-camera series that show which cameras are under a permit (frames analysed or
/// skipped as unscoped, alerts) only go to a scraper on this host.
#[utoipa::path(get, path = "/metrics", tag = "monitoring", security(("metrics" = [])),
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = "4XX", body = ErrorBody, description = "no or a wrong metrics token (401, 403), or metrics are off (404)"),
        (status = "5XX", body = ErrorBody, description = "the store could not be read")))]
async fn metrics(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    check_metrics_token(s.metrics_token.as_deref(), &headers)?;
    let stats = s.control.alert_statistics().await?;
    let mut r = metrics_text(&(s.health)(), &stats, peer.ip().is_loopback()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(r)
}

/// `/metrics` needs the metrics token, compared in constant time; no token set: metrics are off.
fn check_metrics_token(want: Option<&[u8; 32]>, headers: &HeaderMap) -> ApiResult<()> {
    let Some(want) = want else {
        return Err(ApiError::not_found(
            "metrics are off: start the server with --metrics-token-file FILE and scrape with that token",
        ));
    };
    let Some(given) = bearer(headers) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send the metrics token: Authorization: Bearer <token>",
        ));
    };
    use sha2::Digest;
    let given: [u8; 32] = sha2::Sha256::digest(given.as_bytes()).into();
    // Constant time: compare every byte whatever the first difference.
    if given
        .iter()
        .zip(want.iter())
        .fold(0u8, |d, (a, b)| d | (a ^ b))
        != 0
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "that is not the metrics token (a session token is not one)",
        ));
    }
    Ok(())
}

/// A router serving only `/metrics`, behind the metrics token, with the text `render` makes. For
/// processes that serve no API, such as a worker.
pub fn metrics_router(token: &str, render: Arc<dyn Fn() -> String + Send + Sync>) -> axum::Router {
    use sha2::Digest;
    let want: Arc<[u8; 32]> = Arc::new(sha2::Sha256::digest(token.trim().as_bytes()).into());
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move |headers: HeaderMap| async move {
            check_metrics_token(Some(&want), &headers)?;
            let mut r = render().into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            ApiResult::Ok(r)
        }),
    )
}

/// Serve [`metrics_router`] on `listener` until the process ends.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    router: axum::Router,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

/// The metrics page. `per_camera_scope`: include the camera series, which tell which cameras are
/// analysed (only cameras a permit covers are connected at all); off for scrapers on another
/// host, who get the alert and review figures only.
pub fn metrics_text(
    health: &[CameraHealth],
    stats: &mandat_control::AlertStatistics,
    per_camera_scope: bool,
) -> String {
    use std::fmt::Write;
    let mut m = String::new();
    let head = |m: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(m, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    // Only cameras in demand are connected, so camera series (even their count) tell which
    // cameras permits cover and when: they are for this host only.
    if per_camera_scope {
        m.push_str(&camera_series(health));
    }
    head(&mut m, "mandat_alerts", "gauge", "Stored alerts by state.");
    for (state, n) in &stats.by_state {
        let _ = writeln!(m, "mandat_alerts{{state=\"{state}\"}} {n}");
    }
    head(
        &mut m,
        "mandat_review_latency_seconds",
        "summary",
        "From an alert to its last review, for decided alerts.",
    );
    let _ = writeln!(
        m,
        "mandat_review_latency_seconds_sum {}",
        stats.review_latency_sum_s + 0.0
    );
    let _ = writeln!(m, "mandat_review_latency_seconds_count {}", stats.reviewed);
    m
}

/// The per-camera series (for a scraper on this host only: they tell which cameras permits
/// cover).
pub fn camera_series(health: &[CameraHealth]) -> String {
    use std::fmt::Write;
    let mut m = String::new();
    let head = |m: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(m, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    head(
        &mut m,
        "mandat_cameras",
        "gauge",
        "Cameras the engine runs: only those a permit covers now or within a minute.",
    );
    let _ = writeln!(m, "mandat_cameras {}", health.len());
    head(
        &mut m,
        "mandat_camera_connected",
        "gauge",
        "1 when the camera delivers frames.",
    );
    for h in health {
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
    for h in health {
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
    for h in health {
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
    for h in health {
        let _ = writeln!(
            m,
            "mandat_camera_alerts_total{{camera=\"{}\"}} {}",
            label(&h.camera),
            h.alerts
        );
    }
    head(
        &mut m,
        "mandat_camera_faces_below_quality_total",
        "counter",
        "Face views picked for matching that fell below the match-time quality gate and were not matched.",
    );
    for h in health {
        let _ = writeln!(
            m,
            "mandat_camera_faces_below_quality_total{{camera=\"{}\"}} {}",
            label(&h.camera),
            h.faces_below_quality
        );
    }

    head(
        &mut m,
        "mandat_camera_last_analysed_timestamp_ms",
        "gauge",
        "When a frame of the camera last passed the scope gate (ms since the epoch); 0: never.",
    );
    for h in health {
        let _ = writeln!(
            m,
            "mandat_camera_last_analysed_timestamp_ms{{camera=\"{}\"}} {}",
            label(&h.camera),
            h.last_analysed_at.unwrap_or(0)
        );
    }
    m
}

/// A Prometheus label value, escaped.
pub fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    status: String,
}

/// Liveness, without a session.
#[utoipa::path(get, path = "/api/v1/health", tag = "monitoring", responses((status = 200, body = Health)))]
async fn health() -> Response {
    Json(Health {
        status: "ok".into(),
    })
    .into_response()
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see /api/v1")
}

/// Every route the server answers: method, path, handler. One table, read by [`router`] and by
/// the authorisation matrix test, so a route cannot exist without an entry there.
pub(crate) fn routes() -> Vec<(&'static str, &'static str, MethodRouter<AppState>)> {
    let mut v: Vec<(&'static str, &'static str, MethodRouter<AppState>)> = vec![
        ("GET", "/api/v1/health", get(health)),
        ("GET", "/api/v1/openapi.json", get(openapi::serve)),
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
        ("POST", "/api/v1/alerts/{id}/export", post(export_evidence)),
        (
            "POST",
            "/api/v1/alerts/{id}/export/confirm",
            post(confirm_export),
        ),
        ("GET", "/api/v1/cameras", get(cameras)),
        ("POST", "/api/v1/cameras", post(add_camera)),
        ("POST", "/api/v1/cameras/{id}/change", post(change_camera)),
        ("GET", "/api/v1/cameras/health", get(camera_health)),
        ("GET", "/api/v1/cameras/notices", get(camera_notices)),
        ("GET", "/api/v1/workers", get(workers)),
        ("POST", "/api/v1/workers", post(enrol_worker)),
        ("POST", "/api/v1/workers/{id}/approve", post(approve_worker)),
        ("POST", "/api/v1/workers/{id}/disable", post(disable_worker)),
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
        ("POST", "/api/v1/permits/{id}/hold", post(hold)),
        ("POST", "/api/v1/permits/{id}/outcome", post(record_outcome)),
        (
            "POST",
            "/api/v1/permits/{id}/offence/confirm",
            post(confirm_offence),
        ),
        ("POST", "/api/v1/permits/{id}/hand-over", post(hand_over)),
        ("GET", "/api/v1/offences", get(offences)),
        ("POST", "/api/v1/permits/{id}/case", post(register_case)),
        (
            "POST",
            "/api/v1/permits/{id}/counsel",
            post(appoint_counsel),
        ),
        ("POST", "/api/v1/permits/{id}/opinion", post(file_opinion)),
        ("POST", "/api/v1/permits/{id}/hearing", post(record_hearing)),
        ("POST", "/api/v1/permits/{id}/appeal", post(appeal)),
        (
            "POST",
            "/api/v1/permits/{id}/appeal/decision",
            post(decide_appeal),
        ),
        ("POST", "/api/v1/permits/{id}/amendments", post(amend)),
        (
            "POST",
            "/api/v1/permits/{id}/amendments/decide",
            post(decide_amendment),
        ),
        (
            "POST",
            "/api/v1/permits/{id}/hold/release",
            post(release_hold),
        ),
        ("POST", "/api/v1/keys/rotate", post(rotate_keys)),
        ("POST", "/api/v1/permits/{id}/team", post(permit_team)),
        ("POST", "/api/v1/permits/{id}/decide", post(decide)),
        ("GET", "/api/v1/users", get(users)),
        ("POST", "/api/v1/users", post(add_user)),
        ("POST", "/api/v1/users/{id}/disable", post(disable_user)),
        ("POST", "/api/v1/users/{id}/roles", post(user_roles)),
        (
            "POST",
            "/api/v1/users/{id}/enrolment",
            post(reset_enrolment),
        ),
        ("GET", "/api/v1/grants", get(grants)),
        ("POST", "/api/v1/grants/{id}/approve", post(approve_grant)),
        ("POST", "/api/v1/enrol", post(enrol_account)),
        ("POST", "/api/v1/password", post(change_password)),
        (
            "POST",
            "/api/v1/users/{id}/sessions/revoke",
            post(revoke_sessions),
        ),
        ("GET", "/api/v1/session", get(session_info)),
        ("GET", "/api/v1/permits/{id}/photos", get(reference_photos)),
        (
            "GET",
            "/api/v1/permits/{id}/photos/{photo}",
            get(reference_photo),
        ),
        (
            "PUT",
            "/api/v1/permits/{id}/persons/{person}/photos/{photo}",
            axum::routing::put(enrol_photo)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_PHOTO_BYTES)),
        ),
        ("GET", "/api/v1/audit", get(audit_log)),
        ("GET", "/api/v1/audit/export", get(audit_export)),
        ("POST", "/api/v1/evaluations", post(record_evaluation)),
        ("POST", "/api/v1/tools/use", post(record_tool_use)),
        (
            "POST",
            "/api/v1/calibrations",
            post(add_calibration)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_CALIBRATION_BYTES)),
        ),
        ("POST", "/api/v1/audit/verify", post(audit_verify)),
        ("GET", "/api/v1/reports/annual/{year}", get(annual_report)),
        (
            "GET",
            "/api/v1/reports/annual/{year}/owners",
            get(annual_owners),
        ),
        ("GET", "/api/v1/reports/sla", get(sla_report)),
        ("GET", "/api/v1/subjects", get(subjects)),
        ("POST", "/api/v1/subjects/{id}/defer", post(subject_defer)),
        ("POST", "/api/v1/subjects/{id}/done", post(subject_done)),
        (
            "POST",
            "/api/v1/subjects/{id}/defer/decision",
            post(subject_defer_decision),
        ),
        ("POST", "/api/v1/subjects/{id}/waiver", post(subject_waiver)),
        (
            "POST",
            "/api/v1/subjects/{id}/waiver/decision",
            post(subject_waiver_decision),
        ),
        ("GET", "/api/v1/imy/notifications", get(imy_notifications)),
        (
            "GET",
            "/api/v1/imy/notifications/{id}",
            get(imy_notification),
        ),
        (
            "GET",
            "/api/v1/imy/notifications/{id}/pdf",
            get(imy_notification_pdf),
        ),
        (
            "POST",
            "/api/v1/imy/notifications/{id}/sent",
            post(imy_sent),
        ),
        (
            "POST",
            "/api/v1/imy/notifications/{id}/acknowledged",
            post(imy_acknowledged),
        ),
    ];
    v.extend(ui::routes());
    v
}

/// Method and path of every route, for the authorisation matrix test.
pub fn endpoints() -> Vec<(&'static str, &'static str)> {
    routes().into_iter().map(|(m, p, _)| (m, p)).collect()
}

pub fn router(state: AppState) -> Router {
    let tls = state.tls;
    let mut r = Router::new();
    for (_, path, handler) in routes() {
        // Routes on the same path with other methods are merged by axum.
        r = r.route(path, handler);
    }
    let r = r
        .fallback(not_found)
        .layer(axum::middleware::map_response(security_headers));
    // Over TLS, browsers are told to use nothing else for a year.
    let r = if tls {
        r.layer(axum::middleware::map_response(hsts))
    } else {
        r
    };
    r.with_state(state)
}

async fn hsts(mut r: Response) -> Response {
    r.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    r
}

async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    // Pages and API answers name permits, people and alerts: no browser or proxy keeps them.
    // Only the static assets set their own caching.
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    // Nothing leaves for another site; `no-referrer` would also make browsers send `Origin: null`
    // on this site's own forms, and the login form's origin check needs the real one.
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
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
    #[error(
        "cannot use the TLS certificate or key: {0}; give a PEM certificate chain and the PEM private key that belongs to it"
    )]
    Tls(String),
}

/// The server's certificate and key, read once at start-up.
#[derive(Clone)]
pub struct Tls(Arc<rustls::ServerConfig>);

impl Tls {
    /// A PEM certificate chain (leaf first) and its PEM private key (PKCS#8, PKCS#1 or SEC1).
    /// TLS 1.2 and 1.3 only, with rustls' safe defaults; HTTP/1.1.
    pub fn from_pem_files(
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> Result<Self, ServeError> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let bad = |what: &std::path::Path, e: &dyn std::fmt::Display| {
            ServeError::Tls(format!("{}: {e}", what.display()))
        };
        let chain = CertificateDer::pem_file_iter(cert)
            .map_err(|e| bad(cert, &e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(cert, &e))?;
        if chain.is_empty() {
            return Err(bad(cert, &"no certificate in the file"));
        }
        let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, &e))?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?
        .with_no_client_auth()
        // Checks that the key belongs to the certificate.
        .with_single_cert(chain, key_der)
        .map_err(|e| ServeError::Tls(format!("{} with {}: {e}", cert.display(), key.display())))?;
        Ok(Self(Arc::new(config)))
    }
}

/// Bind to an address (port 0 for any free one) and return the bound address and the serving
/// future. Without TLS only loopback is allowed: sessions and face images never cross a network
/// in clear text. With TLS, cookies are `Secure` and browsers are told to stay on HTTPS.
pub async fn bind(
    addr: SocketAddr,
    mut state: AppState,
    tls: Option<Tls>,
) -> Result<
    (
        SocketAddr,
        impl std::future::Future<Output = Result<(), ServeError>>,
    ),
    ServeError,
> {
    if tls.is_none() && !addr.ip().is_loopback() {
        return Err(ServeError::NotLoopback(addr));
    }
    state.tls = tls.is_some();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ServeError::Bind(addr, e))?;
    let local = listener
        .local_addr()
        .map_err(|e| ServeError::Bind(addr, e))?;
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let fut = async move {
        match tls {
            None => axum::serve(listener, app).await.map_err(ServeError::Serve),
            Some(Tls(config)) => {
                let std_listener = listener.into_std().map_err(ServeError::Serve)?;
                axum_server::from_tcp_rustls(
                    std_listener,
                    axum_server::tls_rustls::RustlsConfig::from_config(config),
                )
                .map_err(ServeError::Serve)?
                .serve(app)
                .await
                .map_err(ServeError::Serve)
            }
        }
    };
    Ok((local, fut))
}
