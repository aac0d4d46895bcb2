//! The internal listener: where workers reach the control plane, and nothing else does. It speaks
//! mTLS only: a client must present a certificate from the internal CA (checked by rustls before
//! any request is read), and that certificate must belong to an enrolled, enabled worker (checked
//! in the store on every request, so `mandat worker disable` cuts a worker off at its next one).
//! No page, no login and no user API is served here; the user API is not served to workers.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use axum_server::tls::TlsInfo;
use mandat_control::workers::{AlertUpload, GrantRequest, LeaseRequest};
use mandat_control::{Control, ControlError};
use mandat_store::StoreError;
use mandat_store::workers::WorkerRecord;

use crate::{ApiError, ApiResult, Body, ServeError};

/// The largest request: an alert with its two JPEG images, in base64.
const MAX_REQUEST: usize = 32 << 20;

/// The internal listener's TLS: its certificate, and the CA whose client certificates it accepts.
#[derive(Clone)]
pub struct InternalTls(Arc<rustls::ServerConfig>);

impl InternalTls {
    /// From PEM text: the CA that signs workers' certificates, and this listener's own
    /// certificate chain and key.
    pub fn from_pem(ca: &str, cert: &str, key: &str) -> Result<Self, ServeError> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let bad = |e: &dyn std::fmt::Display| ServeError::Tls(format!("internal listener: {e}"));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
            roots.add(c.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(|e| bad(&e))?;
        let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(&e))?;
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| bad(&e))?;
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(&e))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|e| bad(&e))?;
        Ok(Self(Arc::new(config)))
    }
}

/// The worker behind a request, from its client certificate, checked before the body is read:
/// a certificate of the CA that names no enabled, approved worker gets nothing further.
async fn identify(
    State(c): State<Arc<Control>>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(tls) = req.extensions().get::<Arc<TlsInfo>>().cloned() else {
        return ApiError::from(ControlError::Store(StoreError::Refused(
            "no client certificate".into(),
        )))
        .into_response();
    };
    let Some(leaf) = tls.peer_certificates.first() else {
        return ApiError::from(ControlError::Store(StoreError::Refused(
            "no client certificate".into(),
        )))
        .into_response();
    };
    match c.worker_by_certificate(leaf).await {
        Ok(w) => {
            req.extensions_mut().insert(Arc::new(w));
            next.run(req).await
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn lease(
    State(c): State<Arc<Control>>,
    Extension(w): Extension<Arc<WorkerRecord>>,
    Body(req): Body<LeaseRequest>,
) -> ApiResult<Response> {
    Ok(Json(c.lease(&w, &req).await?).into_response())
}

async fn grant(
    State(c): State<Arc<Control>>,
    Extension(w): Extension<Arc<WorkerRecord>>,
    Body(req): Body<GrantRequest>,
) -> ApiResult<Response> {
    if req.cameras.len() > 100_000 {
        return Err(ApiError::bad_request(
            "too many cameras in one grant request",
        ));
    }
    Ok(Json(c.grant(&w, &req).await?).into_response())
}

async fn alert(
    State(c): State<Arc<Control>>,
    Extension(w): Extension<Arc<WorkerRecord>>,
    Body(upload): Body<AlertUpload>,
) -> ApiResult<Response> {
    let ack = c.worker_alert(&w, upload).await?;
    let status = if ack.new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(ack)).into_response())
}

async fn health(
    State(c): State<Arc<Control>>,
    Extension(w): Extension<Arc<WorkerRecord>>,
    Body(upload): Body<mandat_control::workers::HealthUpload>,
) -> ApiResult<Response> {
    mandat_control::workers::check_protocol(upload.protocol)?;
    if upload.samples.len() > 10_000 {
        return Err(ApiError::bad_request(
            "too many cameras in one health sample",
        ));
    }
    let recorded = c
        .worker_health(&w, &upload.samples, upload.interval_ms)
        .await?;
    Ok(Json(serde_json::json!({ "recorded": recorded })).into_response())
}

/// The internal API's routes.
pub fn router(control: Arc<Control>) -> Router {
    Router::new()
        .route("/internal/v1/lease", post(lease))
        .route("/internal/v1/scope", post(grant))
        .route("/internal/v1/alerts", post(alert))
        .route("/internal/v1/health", post(health))
        .layer(DefaultBodyLimit::max(MAX_REQUEST))
        .route_layer(axum::middleware::from_fn_with_state(
            control.clone(),
            identify,
        ))
        .fallback(|| async { ApiError::not_found("no such internal route") })
        .with_state(control)
}

/// Swaps the internal listener's certificate while it runs (it is made afresh every day).
#[derive(Clone)]
pub struct Reloader(axum_server::tls_rustls::RustlsConfig);

impl Reloader {
    pub fn reload(&self, tls: InternalTls) {
        self.0.reload_from_config(tls.0);
    }
}

/// Bind the internal listener (port 0 for any free one): the bound address, the serving future,
/// and the handle that replaces its certificate.
pub async fn bind(
    addr: SocketAddr,
    control: Arc<Control>,
    tls: InternalTls,
) -> Result<
    (
        SocketAddr,
        impl std::future::Future<Output = Result<(), ServeError>>,
        Reloader,
    ),
    ServeError,
> {
    let listener = std::net::TcpListener::bind(addr).map_err(|e| ServeError::Bind(addr, e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| ServeError::Bind(addr, e))?;
    let local = listener
        .local_addr()
        .map_err(|e| ServeError::Bind(addr, e))?;
    let app = router(control).into_make_service();
    let config = axum_server::tls_rustls::RustlsConfig::from_config(tls.0);
    let reloader = Reloader(config.clone());
    let fut = async move {
        axum_server::from_tcp_rustls(listener, config)
            .map_err(ServeError::Serve)?
            .serve(app)
            .await
            .map_err(ServeError::Serve)
    };
    Ok((local, fut, reloader))
}
