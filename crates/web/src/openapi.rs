//! The OpenAPI document, generated from the handlers' annotations and the types they exchange, so
//! it cannot drift from the code. A test checks that it lists exactly the API routes the router
//! serves; an API fuzzer (schemathesis) checks the server against it.

use axum::Json;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "mandat",
        description = "Lawful, permit-scoped live facial recognition (Lag 2026:806). Every request is \
            checked on the server against the caller's roles and separation of duties. Errors are \
            JSON with a stable `code`, a `message` and, where one applies, the legal `rule`.",
        license(name = "EUPL-1.2", identifier = "EUPL-1.2"),
    ),
    paths(
        super::health,
        serve,
        super::metrics,
        super::login,
        super::logout,
        super::alerts,
        super::stream,
        super::alert,
        super::alert_media,
        super::review,
        super::dispatch,
        super::cameras,
        super::add_camera,
        super::camera_health,
        super::camera_notices,
        super::annual_owners,
        super::sla_report,
        super::permits,
        super::draft,
        super::permit,
        super::apply,
        super::urgent_start,
        super::stop,
        super::hold,
        super::record_outcome,
        super::confirm_offence,
        super::hand_over,
        super::register_case,
        super::appoint_counsel,
        super::file_opinion,
        super::record_hearing,
        super::appeal,
        super::decide_appeal,
        super::offences,
        super::release_hold,
        super::amend,
        super::decide_amendment,
        super::rotate_keys,
        super::change_camera,
        super::workers,
        super::enrol_worker,
        super::approve_worker,
        super::disable_worker,
        super::export_evidence,
        super::confirm_export,
        super::permit_team,
        super::decide,
        super::users,
        super::add_user,
        super::disable_user,
        super::user_roles,
        super::reset_enrolment,
        super::grants,
        super::approve_grant,
        super::enrol_account,
        super::change_password,
        super::revoke_sessions,
        super::session_info,
        super::enrol_photo,
        super::reference_photos,
        super::reference_photo,
        super::audit_log,
        super::audit_export,
        super::record_evaluation,
        super::record_tool_use,
        super::add_calibration,
        super::audit_verify,
        super::annual_report,
        super::subjects,
        super::subject_defer,
        super::subject_done,
        super::subject_defer_decision,
        super::subject_waiver,
        super::subject_waiver_decision,
        super::imy_notifications,
        super::imy_notification,
        super::imy_notification_pdf,
        super::imy_sent,
        super::imy_acknowledged,
    ),
    components(schemas(super::MediaKind, super::ReportFormat)),
    modifiers(&Session),
    tags(
        (name = "session", description = "Log in and out"),
        (name = "alerts", description = "Candidate alerts, two-person review, dispatch"),
        (name = "permits", description = "Applications, decisions, urgent start, stop"),
        (name = "procedure", description = "Public counsel, hearing and appeal around a court's decision"),
        (name = "cameras", description = "Cameras and their health"),
        (name = "workers", description = "Workers that decode and analyse cameras, with no key"),
        (name = "keys", description = "Key epochs"),
        (name = "users", description = "Accounts and roles"),
        (name = "audit", description = "The tamper-evident audit log"),
        (name = "reports", description = "The annual report"),
        (name = "subjects", description = "Notifying identified persons afterwards"),
        (name = "imy", description = "The register of notifications to IMY of every use"),
        (name = "monitoring", description = "Liveness and metrics, without personal data"),
    )
)]
struct Doc;

/// Declares the bearer session token that `security(("session" = []))` refers to.
struct Session;

impl Modify for Session {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "session",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("the token from POST /api/v1/login"))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "metrics",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "the metrics token the server was started with (--metrics-token-file)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = Doc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc
}

/// This document. Public, like the health check: it describes the API, not anything in it.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "monitoring",
    responses((status = 200, description = "OpenAPI 3.1", body = Object)))]
pub(crate) async fn serve() -> Response {
    Json(openapi()).into_response()
}
