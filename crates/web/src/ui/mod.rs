//! The web pages: rendered on the server with maud, live parts through htmx and server-sent events,
//! no JavaScript of our own. Every page and form goes through the same `Control` checks as the API;
//! the role gates here only choose which page to draw.
//!
//! Sessions are a `__Host-` cookie (HttpOnly, SameSite=Strict, Secure; plain HTTP is served on
//! loopback only, which browsers treat as a secure context) holding the session token.
//! Every form that changes state carries a CSRF token derived from the session (HMAC-SHA256 with a
//! key made at start-up), checked before anything else.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Form;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use futures::Stream;
use mandat_control::ControlError;
use mandat_control::Session;
use mandat_law::review::{AlertState, Verdict};
use mandat_law::{Outcome, Permit, Role, Status, Timestamp, UseResult};
use mandat_store::alerts::AlertRecord;
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use crate::i18n::{Lang, t, t_dyn};
use crate::{ApiError, AppState, origin};

/// `__Host-`: the browser accepts the cookie only from this exact host, over a secure context
/// (HTTPS, or loopback), with `Path=/` and no `Domain`, so a sibling host cannot plant or shadow it.
pub(crate) const SESSION_COOKIE: &str = "__Host-mandat_session";
const LANG_COOKIE: &str = "mandat_lang";

pub(crate) const HTMX_JS: &[u8] = include_bytes!("../../assets/htmx-2.0.8.min.js");
pub(crate) const HTMX_SSE_JS: &[u8] = include_bytes!("../../assets/htmx-ext-sse-2.2.4.min.js");
pub(crate) const APP_CSS: &[u8] = include_bytes!("../../assets/app.css");

/// The signed-in person looking at a page.
pub(crate) struct Viewer {
    pub actor: Session,
    pub token: String,
    pub lang: Lang,
    pub csrf: String,
    /// Where the request came from, for the audit log's records of reads.
    pub origin: String,
}

pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn lang_of(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE)
        .and_then(Lang::parse)
        .unwrap_or(Lang::Sv)
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Response> {
        let lang = lang_of(&parts.headers);
        let to_login = || {
            // htmx follows HX-Redirect; a plain browser follows the 303.
            if parts.headers.contains_key("hx-request") {
                let mut r = StatusCode::UNAUTHORIZED.into_response();
                r.headers_mut()
                    .insert("hx-redirect", HeaderValue::from_static("/login"));
                r
            } else {
                Redirect::to("/login").into_response()
            }
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login());
        };
        let actor = match s.control.session(token).await {
            Ok(a) => a,
            Err(ControlError::Store(mandat_store::StoreError::SessionInvalid)) => {
                return Err(to_login());
            }
            Err(e) => return Err(UiError::new(lang, e.into()).into_response()),
        };
        let origin = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| crate::origin(&c.0))
            .unwrap_or_else(|| "api:unknown".into());
        Ok(Viewer {
            csrf: s.csrf_token(token),
            token: token.to_string(),
            actor,
            lang,
            origin,
        })
    }
}

impl Viewer {
    /// Which page to draw is chosen by role; the data on it is still checked by `Control`.
    fn require(&self, any_of: &[Role]) -> Result<(), UiError> {
        if any_of.iter().any(|r| self.actor.has(*r)) {
            Ok(())
        } else {
            let names: Vec<&str> = any_of.iter().map(|r| r.as_str()).collect();
            Err(UiError::new(
                self.lang,
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    "not_permitted",
                    format!(
                        "{} may not open this page: it needs the role {}",
                        self.actor.user,
                        names.join(" or ")
                    ),
                ),
            ))
        }
    }

    fn check_csrf(&self, s: &AppState, token: &str) -> Result<(), UiError> {
        if s.csrf_ok(&self.token, token) {
            Ok(())
        } else {
            Err(UiError::new(
                self.lang,
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf",
                    "the form's security token is missing or stale; reload the page and try again",
                ),
            ))
        }
    }
}

/// An error drawn as a page: what went wrong, the legal ground where there is one, a way back.
pub(crate) struct UiError {
    lang: Lang,
    err: ApiError,
}

impl UiError {
    fn new(lang: Lang, err: ApiError) -> Self {
        Self { lang, err }
    }

    fn bad_request(lang: Lang, message: impl Into<String>) -> Self {
        Self::new(lang, ApiError::bad_request(message))
    }

    fn not_found(lang: Lang, message: impl Into<String>) -> Self {
        Self::new(lang, ApiError::not_found(message))
    }
}

trait OrPage<T> {
    fn page(self, lang: Lang) -> Result<T, UiError>;
}

impl<T> OrPage<T> for Result<T, ControlError> {
    fn page(self, lang: Lang) -> Result<T, UiError> {
        self.map_err(|e| UiError::new(lang, e.into()))
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let l = self.lang;
        let body = public_page(
            l,
            t(l, "error.title"),
            html! {
                div.flash.error role="alert" {
                    strong { (t(l, "error.title")) ": " }
                    (self.err.message)
                    @if let Some(rule) = &self.err.rule {
                        span.rule { (t(l, "error.rule")) ": " (rule) }
                    }
                    span.rule.mono { (self.err.code) }
                }
                a href="/" { "← " (t(l, "error.back")) }
            },
        );
        (self.err.status, body).into_response()
    }
}

type Page = Result<Response, UiError>;

/// A page for someone not signed in (login, enrolment, errors): the brand and `body`, no
/// navigation.
fn public_page(l: Lang, title: &str, body: Markup) -> Response {
    html! {
        (DOCTYPE)
        html lang=(l.code()) {
            (head(title))
            body {
                main.login {
                    div.brand { "mandat" }
                    (body)
                }
            }
        }
    }
    .into_response()
}

/// To the login page, with the session cookie cleared: after logout or a password change.
fn signed_out() -> Response {
    let mut r = see_other("/login");
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "__Host-mandat_session=; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=0",
        ),
    );
    r
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            // No eval and no injected styles: the CSP allows neither.
            meta name="htmx-config" content=r#"{"allowEval":false,"includeIndicatorStyles":false,"allowScriptTags":false}"#;
            title { (title) " · mandat" }
            link rel="stylesheet" href="/static/app.css";
            script src="/static/htmx.min.js" {}
            script src="/static/htmx-ext-sse.min.js" {}
        }
    }
}

/// Pages in the navigation, each with the roles that open it.
const NAV: &[(&str, &str, &[Role])] = &[
    ("/operator", "nav.operator", &[Role::Operator]),
    ("/review", "nav.review", &[Role::Reviewer]),
    (
        "/permits",
        "nav.permits",
        &[Role::Applicant, Role::Prosecutor],
    ),
    ("/decide", "nav.decide", &[Role::Prosecutor, Role::Judge]),
    ("/procedure", "nav.procedure", procedure::PROCEDURE_ROLES),
    ("/audit", "nav.audit", &[Role::Auditor, Role::Admin]),
    ("/admin", "nav.admin", &[Role::Admin]),
];

fn layout(v: &Viewer, here: &str, title: &str, flash: Option<&str>, body: Markup) -> Response {
    let l = v.lang;
    let roles: Vec<&str> = v.actor.roles.iter().map(|r| r.as_str()).collect();
    html! {
        (DOCTYPE)
        html lang=(l.code()) {
            (head(title))
            body {
                header.top {
                    span.brand { "mandat" }
                    nav {
                        @for (href, key, need) in NAV {
                            @if need.iter().any(|r| v.actor.has(*r)) {
                                a href=(href) class=[(*href == here).then_some("active")] { (t(l, key)) }
                            }
                        }
                    }
                    div.who {
                        a href="/password" { (v.actor.user) } span { " · " (roles.join(", ")) }
                        a href={ "/lang/" (l.other().code()) "?back=" (here) } { (t(l, "lang.switch")) }
                        form.inline method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(v.csrf);
                            button type="submit" { (t(l, "logout")) }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    @if let Some(key) = flash.and_then(flash_key) {
                        div.flash.ok role="status" { (t(l, key)) }
                    }
                    (body)
                    p.muted { small { (t(l, "time.note")) } }
                }
            }
        }
    }
    .into_response()
}

/// Flash messages come as `?ok=<key>` after a redirect; only known keys are shown.
fn flash_key(k: &str) -> Option<&'static str> {
    [
        "review.done",
        "dispatch.done",
        "permit.done",
        "permit.created",
        "decide.done",
        "proc.done",
        "admin.done",
        "imy.done",
        "subjects.updated",
        "photo.enrolled",
    ]
    .into_iter()
    .find(|x| *x == k)
}

#[derive(Deserialize, Default)]
struct Flash {
    ok: Option<String>,
}

fn local(ts: Timestamp) -> String {
    ts.in_stockholm()
}

fn local_ms(ms: i64) -> String {
    Timestamp(ms).in_stockholm()
}

fn state_badge(l: Lang, st: AlertState) -> Markup {
    html! { span class={ "badge st-" (st.as_str()) } { (t_dyn(l, "state", st.as_str())) } }
}

fn status_str(s: Status) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn status_badge(l: Lang, s: Status) -> Markup {
    let k = status_str(s);
    html! { span class={ "badge st-" (k) } { (t_dyn(l, "status", &k)) } }
}

fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

mod account;
mod admin;
mod applicant;
mod auditor;
mod decider;
mod operator;
mod photos;
mod procedure;
mod reviewer;

use account::*;
use admin::*;
use applicant::*;
use auditor::*;
use decider::*;
use operator::*;
use photos::*;
use procedure::*;
use reviewer::*;

// ---- static ----

fn asset(bytes: &'static [u8], ctype: &'static str) -> Response {
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}

type RouteRow = (&'static str, &'static str, MethodRouter<AppState>);

/// The page routes; [`crate::routes`] adds them to the one table of routes.
pub(crate) fn routes() -> Vec<RouteRow> {
    vec![
        ("GET", "/", get(root)),
        ("GET", "/login", get(login_page)),
        ("POST", "/login", post(login_post)),
        ("POST", "/logout", post(logout)),
        ("GET", "/lang/{code}", get(set_lang)),
        ("GET", "/operator", get(operator)),
        ("POST", "/operator/alerts/{id}/dispatch", post(dispatch)),
        ("GET", "/ui/stream", get(ui_stream)),
        ("GET", "/ui/fragments/alerts", get(fragment_alerts)),
        ("GET", "/ui/fragments/cameras", get(fragment_cameras)),
        ("GET", "/ui/fragments/map", get(fragment_map)),
        ("GET", "/ui/fragments/review", get(fragment_review)),
        ("GET", "/ui/fragments/permits", get(fragment_permits)),
        ("GET", "/ui/alerts/{id}/{which}", get(alert_image)),
        ("GET", "/review", get(review_page)),
        ("POST", "/review/{id}", post(review_post)),
        ("GET", "/permits", get(permits_page)),
        ("POST", "/permits", post(draft_post)),
        ("POST", "/permits/{id}/{action}", post(permit_action)),
        ("GET", "/permits/{id}/photos", get(photos_page)),
        (
            "POST",
            "/permits/{id}/photos/{photo}",
            // The photo and the form's few other bytes.
            post(photo_upload).layer(axum::extract::DefaultBodyLimit::max(
                crate::MAX_PHOTO_BYTES + (64 << 10),
            )),
        ),
        ("GET", "/ui/permits/{id}/photos/{photo}", get(photo_image)),
        ("GET", "/decide", get(decide_page)),
        ("POST", "/decide/{id}", post(decide_post)),
        ("POST", "/decide/{id}/amendment", post(amendment_post)),
        ("GET", "/procedure", get(procedure_page)),
        ("POST", "/procedure/{id}/{action}", post(procedure_post)),
        ("GET", "/audit", get(audit_page)),
        ("POST", "/audit/verify", post(audit_verify)),
        ("GET", "/audit/imy/{id}/{what}", get(audit_imy_file)),
        ("POST", "/audit/imy/{id}/{what}", post(audit_imy_step)),
        ("GET", "/audit/annual", get(audit_annual)),
        ("POST", "/subjects/{id}/{step}", post(subject_step_post)),
        ("GET", "/admin", get(admin_page)),
        ("POST", "/admin/users", post(admin_add_user)),
        ("POST", "/admin/users/{id}/{step}", post(admin_user_step)),
        ("POST", "/admin/grants/{id}/approve", post(admin_approve)),
        ("GET", "/enrol", get(enrol_page)),
        ("POST", "/enrol", post(enrol_post)),
        ("GET", "/password", get(password_page)),
        ("POST", "/password", post(password_post)),
        ("POST", "/admin/cameras", post(admin_add_camera)),
        (
            "GET",
            "/static/app.css",
            get(|| async { asset(APP_CSS, "text/css; charset=utf-8") }),
        ),
        (
            "GET",
            "/static/htmx.min.js",
            get(|| async { asset(HTMX_JS, "text/javascript") }),
        ),
        (
            "GET",
            "/static/htmx-ext-sse.min.js",
            get(|| async { asset(HTMX_SSE_JS, "text/javascript") }),
        ),
    ]
}

/// Latitude and longitude onto a plain SVG of `w` × `h` (no tiles: nothing is fetched): fitted
/// around `points` with a margin, at least ~200 m across, equirectangular and scaled by the
/// cosine of the latitude, which is true enough at the scale of a city. `None` with no points.
pub(super) struct Projection {
    k: f64,
    scale: f64,
    centre: (f64, f64),
    w: f64,
    h: f64,
}

impl Projection {
    pub(super) fn fit(points: &[(f64, f64)], w: f64, h: f64) -> Option<Projection> {
        if points.is_empty() {
            return None;
        }
        let (mut lat0, mut lat1, mut lon0, mut lon1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for (la, lo) in points {
            lat0 = lat0.min(*la);
            lat1 = lat1.max(*la);
            lon0 = lon0.min(*lo);
            lon1 = lon1.max(*lo);
        }
        // Metres are shorter per degree of longitude away from the equator.
        let k = ((lat0 + lat1) / 2.0).to_radians().cos().max(0.1);
        let span = ((lat1 - lat0).max((lon1 - lon0) * k)).max(0.002) * 1.2;
        Some(Projection {
            k,
            scale: w.min(h) / span,
            centre: ((lat0 + lat1) / 2.0, (lon0 + lon1) / 2.0),
            w,
            h,
        })
    }

    fn at(&self, (la, lo): (f64, f64)) -> (f64, f64) {
        (
            self.w / 2.0 + (lo - self.centre.1) * self.k * self.scale,
            self.h / 2.0 - (la - self.centre.0) * self.scale,
        )
    }

    /// (x, y) in the SVG, formatted to one decimal.
    pub(super) fn xy(&self, p: (f64, f64)) -> (String, String) {
        let (x, y) = self.at(p);
        (format!("{x:.1}"), format!("{y:.1}"))
    }

    /// (x, y) of a label beside the point.
    pub(super) fn label_xy(&self, p: (f64, f64)) -> (String, String) {
        let (x, y) = self.at(p);
        (format!("{:.1}", x + 9.0), format!("{:.1}", y + 4.0))
    }

    /// Whether a point falls inside the drawing.
    pub(super) fn shows(&self, p: (f64, f64)) -> bool {
        let (x, y) = self.at(p);
        (0.0..=self.w).contains(&x) && (0.0..=self.h).contains(&y)
    }

    /// A polygon's `points` attribute.
    pub(super) fn points(&self, poly: &[(f64, f64)]) -> String {
        poly.iter()
            .map(|q| {
                let (x, y) = self.xy(*q);
                format!("{x},{y}")
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn vendored_scripts_are_the_published_ones() {
        // The hashes in assets/README.md: a changed file is a deliberate update, not an accident.
        assert_eq!(
            hex::encode(Sha256::digest(HTMX_JS)),
            "22283ef68cb7545914f0a88a1bdedc7256a703d1d580c1d255217d0a50d31313"
        );
        assert_eq!(
            hex::encode(Sha256::digest(HTMX_SSE_JS)),
            "98a46496de0c3605fbffdce9167ba427bdd9553184f83f149c261891a92c0136"
        );
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static(
                "x__Host-mandat_session=evil; __Host-mandat_session=tok; mandat_lang=en",
            ),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("tok"));
        assert_eq!(lang_of(&h), Lang::En);
    }

    #[test]
    fn only_local_paths_are_redirect_targets() {
        for ok in ["/", "/login", "/permits?ok=1"] {
            assert!(local_path(ok), "{ok}");
        }
        for bad in [
            "//evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /evil.example",
            "/\\evil.example",
            "https://evil.example",
            "evil",
            "",
            "/\u{00a0}/x",
        ] {
            assert!(!local_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn datetime_local_is_read_as_utc() {
        assert_eq!(
            parse_local_utc("2026-11-23T10:30").unwrap().to_rfc3339(),
            "2026-11-23T10:30:00Z"
        );
        assert!(parse_local_utc("tomorrow").is_none());
    }
}
