//! mandat's HTTP API under `/api/v1`: login, alerts and their live event stream (SSE), the
//! two-person review, dispatch on verified alerts, camera health. Every request is checked on the
//! server against the caller's roles by `mandat-control`; errors are JSON with a stable `code`, a
//! `message` and, where one applies, the legal `rule`.
//!
//! Plain HTTP is served on loopback only; anything else is refused until TLS is configured.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
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
}

/// A JSON error: HTTP status, stable code, message, legal rule.
pub struct ApiError {
    status: StatusCode,
    code: String,
    message: String,
    rule: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            rule: None,
        }
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        let code = e.code().to_string();
        let (status, rule, message) = match &e {
            ControlError::Law(r) | ControlError::Store(StoreError::Law(r)) => (
                if r.code == "not_permitted" {
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
fn origin(peer: &SocketAddr) -> String {
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
    if b.user.len() > 128 || b.password.len() > 1024 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "user or password too long",
        ));
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
    if which != "crop" && which != "frame" {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "media is `crop` or `frame`",
        ));
    }
    let (crop, frame) = s.control.alert_media(&a, &id, &origin(&peer)).await?;
    let body = if which == "crop" { crop } else { frame };
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    // Biometric images are never cached by a browser or a proxy.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
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
    if b.reason.len() > 4000 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "reason over 4000 bytes",
        ));
    }
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

async fn health() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; see /api/v1",
    )
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/login", post(login))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/alerts/stream", get(stream))
        .route("/api/v1/alerts/{id}", get(alert))
        .route("/api/v1/alerts/{id}/media/{which}", get(alert_media))
        .route("/api/v1/alerts/{id}/review", post(review))
        .route("/api/v1/alerts/{id}/dispatch", post(dispatch))
        .route("/api/v1/cameras/health", get(camera_health))
        .fallback(not_found)
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
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
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
