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
use mandat_law::review::{AlertState, Verdict};
use mandat_law::{Actor, Outcome, Permit, Role, Status, Timestamp};
use mandat_store::alerts::AlertRecord;
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use crate::i18n::{Lang, t, t_dyn};
use crate::{ApiError, AppState, origin};

/// `__Host-`: the browser accepts the cookie only from this exact host, over a secure context
/// (HTTPS, or loopback), with `Path=/` and no `Domain`, so a sibling host cannot plant or shadow it.
pub(crate) const SESSION_COOKIE: &str = "__Host-mandat_session";
const LANG_COOKIE: &str = "mandat_lang";

pub(crate) const HTMX_JS: &[u8] = include_bytes!("../assets/htmx-2.0.8.min.js");
pub(crate) const HTMX_SSE_JS: &[u8] = include_bytes!("../assets/htmx-ext-sse-2.2.4.min.js");
pub(crate) const APP_CSS: &[u8] = include_bytes!("../assets/app.css");

/// The signed-in person looking at a page.
pub(crate) struct Viewer {
    pub actor: Actor,
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
        "admin.done",
        "imy.done",
        "subjects.updated",
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

// ---- login ----

async fn root(headers: HeaderMap, State(s): State<AppState>) -> Response {
    let Some(token) = cookie(&headers, SESSION_COOKIE) else {
        return see_other("/login");
    };
    match s.control.session(token).await {
        Ok(a) => {
            let home = NAV
                .iter()
                .find(|(_, _, need)| need.iter().any(|r| a.has(*r)))
                .map(|(h, _, _)| *h)
                // An account whose roles still wait for a second admin has only its own page.
                .unwrap_or("/password");
            see_other(home)
        }
        Err(_) => see_other("/login"),
    }
}

#[derive(Deserialize)]
struct LoginQuery {
    #[serde(default)]
    failed: Option<String>,
}

async fn login_page(headers: HeaderMap, Query(q): Query<LoginQuery>) -> Response {
    let l = lang_of(&headers);
    login_form(l, q.failed.as_deref())
}

fn login_form(l: Lang, error: Option<&str>) -> Response {
    public_page(
        l,
        t(l, "login.title"),
        html! {
            p.muted { (t(l, "app.tagline")) }
            @if let Some(e) = error {
                div.flash.error role="alert" { (e) }
            }
            form.panel method="post" action="/login" {
                label for="user" { (t(l, "login.user")) }
                input #user type="text" name="user" autocomplete="username" required autofocus;
                label for="password" { (t(l, "login.password")) }
                input #password type="password" name="password" autocomplete="current-password" required;
                label for="totp" { (t(l, "login.totp")) }
                input #totp type="text" name="totp" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" autocomplete="one-time-code" required;
                div.actions { button type="submit" { (t(l, "login.submit")) } }
            }
            p { a href="/enrol" { (t(l, "enrol.link")) } }
            p { a href={ "/lang/" (l.other().code()) "?back=/login" } { (t(l, "lang.switch")) } }
        },
    )
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
    #[serde(default)]
    totp: String,
}

async fn login_post(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let l = lang_of(&headers);
    if let Err(e) = crate::check_origin(&headers).and_then(|_| s.throttle_login(&peer)) {
        return (e.status, login_form(l, Some(&e.message))).into_response();
    }
    if f.user.len() > 128 || f.password.len() > 1024 || f.totp.len() > 16 {
        return (
            StatusCode::BAD_REQUEST,
            login_form(l, Some("user, password or code too long")),
        )
            .into_response();
    }
    match s
        .control
        .login(&f.user, &f.password, &f.totp, &origin(&peer))
        .await
    {
        Ok((_, token)) => {
            let mut r = see_other("/");
            let cookie = format!(
                "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age={}",
                mandat_control::SESSION_TTL_MS / 1000,
            );
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Err(e) => {
            let e: ApiError = e.into();
            (e.status, login_form(l, Some(&e.message))).into_response()
        }
    }
}

// ---- enrolment and password ----

fn enrol_form(l: Lang, error: Option<&str>) -> Response {
    public_page(
        l,
        t(l, "enrol.title"),
        html! {
            p.muted { (t(l, "enrol.intro")) }
            @if let Some(e) = error {
                div.flash.error role="alert" { (e) }
            }
            form.panel method="post" action="/enrol" {
                label for="user" { (t(l, "login.user")) }
                input #user type="text" name="user" autocomplete="username" required autofocus;
                label for="code" { (t(l, "enrol.code")) }
                input #code type="text" name="code" maxlength="64" autocomplete="off" required;
                label for="password" { (t(l, "enrol.password")) }
                input #password type="password" name="password" minlength="12" maxlength="1024" autocomplete="new-password" required;
                label for="again" { (t(l, "enrol.again")) }
                input #again type="password" name="again" minlength="12" maxlength="1024" autocomplete="new-password" required;
                div.actions { button type="submit" { (t(l, "enrol.submit")) } }
            }
            p { a href="/login" { (t(l, "login.title")) } }
        },
    )
}

async fn enrol_page(headers: HeaderMap) -> Response {
    enrol_form(lang_of(&headers), None)
}

#[derive(Deserialize)]
struct EnrolForm {
    user: String,
    code: String,
    password: String,
    again: String,
}

/// Set one's password with the enrolment code; the page that answers shows the second factor's
/// secret once.
async fn enrol_post(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<EnrolForm>,
) -> Response {
    let l = lang_of(&headers);
    let fail = |status: StatusCode, m: &str| (status, enrol_form(l, Some(m))).into_response();
    if let Err(e) = crate::check_origin(&headers).and_then(|_| s.throttle_login(&peer)) {
        return fail(e.status, &e.message);
    }
    if f.user.len() > 128 || f.code.len() > 64 || f.password.len() > 1024 {
        return fail(StatusCode::BAD_REQUEST, "a field is too long");
    }
    if f.password != f.again {
        return fail(StatusCode::BAD_REQUEST, t(l, "enrol.mismatch"));
    }
    match s
        .control
        .enrol_account(&f.user, &f.code, &f.password, &origin(&peer))
        .await
    {
        Ok(second) => public_page(
            l,
            t(l, "enrol.title"),
            html! {
                div.panel {
                    p { (t(l, "enrol.secret")) }
                    p.mono #totp-secret { (second.totp_secret) }
                    p { a href=(second.otpauth_url) { (t(l, "enrol.app_link")) } }
                    p.muted { (t(l, "enrol.once")) }
                }
                p { a href="/login" { (t(l, "login.title")) } }
            },
        ),
        Err(e) => {
            let e: ApiError = e.into();
            fail(e.status, &e.message)
        }
    }
}

async fn password_page(v: Viewer, Query(f): Query<Flash>) -> Page {
    let l = v.lang;
    Ok(layout(
        &v,
        "/password",
        t(l, "password.title"),
        f.ok.as_deref(),
        html! {
            @if v.actor.roles.is_empty() {
                p.muted { (t(l, "password.no_roles")) }
            }
            form.panel method="post" action="/password" {
                input type="hidden" name="csrf" value=(v.csrf);
                label for="current" { (t(l, "password.current")) }
                input #current type="password" name="current" maxlength="1024" autocomplete="current-password" required;
                label for="new" { (t(l, "enrol.password")) }
                input #new type="password" name="new" minlength="12" maxlength="1024" autocomplete="new-password" required;
                label for="again" { (t(l, "enrol.again")) }
                input #again type="password" name="again" minlength="12" maxlength="1024" autocomplete="new-password" required;
                div.actions { button type="submit" { (t(l, "password.submit")) } }
            }
        },
    ))
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    current: String,
    new: String,
    again: String,
}

/// Change one's own password; every session ends, so the answer is the login page.
async fn password_post(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    v: Viewer,
    Form(f): Form<PasswordForm>,
) -> Page {
    let l = v.lang;
    v.check_csrf(&s, &f.csrf)?;
    if f.current.len() > 1024 || f.new.len() > 1024 {
        return Err(UiError::bad_request(l, "a password is over 1024 bytes"));
    }
    if f.new != f.again {
        return Err(UiError::bad_request(l, t(l, "enrol.mismatch")));
    }
    s.control
        .change_password(&v.actor, &f.current, &f.new, &origin(&peer))
        .await
        .page(l)?;
    Ok(signed_out())
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(State(s): State<AppState>, v: Viewer, Form(f): Form<CsrfForm>) -> Page {
    v.check_csrf(&s, &f.csrf)?;
    s.control.logout(&v.token).await.page(v.lang)?;
    Ok(signed_out())
}

#[derive(Deserialize)]
struct Back {
    #[serde(default)]
    back: String,
}

async fn set_lang(Path(code): Path<String>, Query(b): Query<Back>) -> Response {
    let lang = Lang::parse(&code).unwrap_or(Lang::Sv);
    let back = if local_path(&b.back) {
        b.back
    } else {
        "/".to_string()
    };
    let mut r = see_other(&back);
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={}; Path=/; SameSite=Strict; Max-Age=31536000",
        lang.code()
    )) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// Whether `back` is a path on this server, so redirecting to it is never an open redirect.
/// Browsers drop tabs and newlines from URLs and read `\\` as `/`, so `/\t/evil.example` would
/// become `//evil.example`: only printable ASCII without backslashes, starting with one `/`.
fn local_path(back: &str) -> bool {
    back.starts_with('/')
        && !back.starts_with("//")
        && back.len() <= 2000
        && back.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
}

// ---- operator ----

async fn operator(State(s): State<AppState>, v: Viewer, Query(f): Query<Flash>) -> Page {
    v.require(&[Role::Operator])?;
    let l = v.lang;
    let alerts = alerts_table(&s, &v).await?;
    let cameras = cameras_table(&s, &v).await?;
    let map = map_svg(&s, &v).await?;
    Ok(layout(
        &v,
        "/operator",
        t(l, "nav.operator"),
        f.ok.as_deref(),
        html! {
            div.grid {
                section.panel hx-ext="sse" sse-connect="/ui/stream" {
                    h2 { (t(l, "alerts.live")) }
                    div #alerts hx-get="/ui/fragments/alerts" hx-trigger="sse:alert, every 5s" {
                        (alerts)
                    }
                }
                section.panel {
                    h2 { (t(l, "map")) }
                    div #map hx-get="/ui/fragments/map" hx-trigger="every 5s" { (map) }
                }
            }
            section.panel {
                h2 { (t(l, "cameras")) }
                div #cameras hx-get="/ui/fragments/cameras" hx-trigger="every 5s" { (cameras) }
            }
        },
    ))
}

async fn alerts_table(s: &AppState, v: &Viewer) -> Result<Markup, UiError> {
    let l = v.lang;
    // Newest first, as the store gives them.
    let alerts = s.control.alerts(&v.actor, 0, 50, &v.origin).await.page(l)?;
    Ok(html! {
        @if alerts.is_empty() {
            p.muted { (t(l, "alerts.none")) }
        } @else {
            table {
                thead { tr {
                    th { (t(l, "col.time")) } th { (t(l, "col.camera")) } th { (t(l, "col.permit")) }
                    th { (t(l, "col.person")) } th { (t(l, "col.score")) } th { (t(l, "col.state")) }
                    th { (t(l, "col.action")) }
                } }
                tbody {
                    @for a in &alerts {
                        tr #{ "alert-" (a.id) } {
                            td.num { (local(a.captured_at)) }
                            td { (a.camera) }
                            td.mono { (a.permit) }
                            td { (a.person) }
                            td.num { (format!("{:.3} / {:.3}", a.score, a.threshold)) }
                            td { (state_badge(l, a.state)) }
                            td {
                                @if a.state == AlertState::Verified && v.actor.has(Role::Operator) {
                                    form.inline method="post" action={ "/operator/alerts/" (a.id) "/dispatch" } {
                                        input type="hidden" name="csrf" value=(v.csrf);
                                        button.danger type="submit" { (t(l, "dispatch")) }
                                    }
                                } @else if a.state == AlertState::Candidate {
                                    span.muted { (t(l, "awaiting.review")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

async fn cameras_table(s: &AppState, v: &Viewer) -> Result<Markup, UiError> {
    let l = v.lang;
    let cams = s.control.cameras(&v.actor).await.page(l)?;
    let health: HashMap<String, mandat_engine::CameraHealth> = (s.health)()
        .into_iter()
        .map(|h| (h.camera.clone(), h))
        .collect();
    Ok(html! {
        @if cams.is_empty() {
            p.muted { (t(l, "cameras.none")) }
        } @else {
            @if health.is_empty() { p.muted { (t(l, "health.none")) } }
            table {
                thead { tr {
                    th { "Id" } th { (t(l, "col.name")) } th { (t(l, "col.owner")) }
                    th { (t(l, "col.state")) } th { (t(l, "col.fps")) } th { (t(l, "col.dropped")) }
                    th { (t(l, "col.fitness")) }
                } }
                tbody {
                    @for c in &cams {
                        @let h = health.get(&c.id);
                        tr {
                            td.mono { (c.id) }
                            td { (c.name) }
                            td { (c.owner) }
                            td {
                                @match h {
                                    Some(h) if h.connected => span.badge.st-ok { "online" },
                                    Some(_) => span.badge.st-down { "offline" },
                                    None => span.badge.st-idle { "—" },
                                }
                            }
                            td.num { (h.map(|h| format!("{:.1} / {:.1}", h.processed_fps, h.input_fps)).unwrap_or_default()) }
                            td.num { (h.map(|h| h.frames_dropped.to_string()).unwrap_or_default()) }
                            td {
                                @if let Some(h) = h {
                                    (format!("{:?}", h.fitness).to_lowercase())
                                    @if !h.reasons.is_empty() { br; small.muted { (h.reasons.join("; ")) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// Cameras and active permit areas, projected onto a plain SVG: no tiles, nothing fetched.
async fn map_svg(s: &AppState, v: &Viewer) -> Result<Markup, UiError> {
    let l = v.lang;
    let now = s.control.now().page(l)?;
    let cams = s.control.cameras(&v.actor).await.page(l)?;
    let permits = s.control.permits(&v.actor, &v.origin).await.page(l)?;
    let active: Vec<&Permit> = permits.iter().filter(|p| p.is_active_at(now)).collect();
    let mut pts: Vec<(f64, f64)> = cams.iter().filter_map(|c| c.location).collect();
    for p in &active {
        if let Some(poly) = &p.application.area.polygon {
            pts.extend(poly.iter().copied());
        }
    }
    if pts.is_empty() {
        return Ok(html! { p.muted { (t(l, "map.none")) } });
    }
    let (mut lat0, mut lat1, mut lon0, mut lon1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (la, lo) in &pts {
        lat0 = lat0.min(*la);
        lat1 = lat1.max(*la);
        lon0 = lon0.min(*lo);
        lon1 = lon1.max(*lo);
    }
    // Metres are shorter per degree of longitude away from the equator.
    let k = ((lat0 + lat1) / 2.0).to_radians().cos().max(0.1);
    let span = ((lat1 - lat0).max((lon1 - lon0) * k)).max(0.002) * 1.2;
    let (clat, clon) = ((lat0 + lat1) / 2.0, (lon0 + lon1) / 2.0);
    let (w, h) = (600.0_f64, 400.0_f64);
    let scale = w.min(h) / span;
    let xy = |(la, lo): (f64, f64)| {
        (
            w / 2.0 + (lo - clon) * k * scale,
            h / 2.0 - (la - clat) * scale,
        )
    };
    let scoped = |c: &mandat_store::Camera| {
        active
            .iter()
            .any(|p| p.application.area.covers(&c.id, c.location))
    };
    Ok(html! {
        svg.map viewBox="0 0 600 400" role="img" aria-label=(t(l, "map")) xmlns="http://www.w3.org/2000/svg" {
            @for p in &active {
                @if let Some(poly) = &p.application.area.polygon {
                    @let points: Vec<String> = poly.iter().map(|q| { let (x, y) = xy(*q); format!("{x:.1},{y:.1}") }).collect();
                    polygon.area points=(points.join(" ")) { title { (p.id) } }
                }
            }
            @for c in &cams {
                @if let Some(loc) = c.location {
                    @let (x, y) = xy(loc);
                    @let cls = if scoped(c) { "cam scoped" } else { "cam" };
                    circle class=(cls) cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="6" { title { (c.id) " · " (c.name) } }
                    text x=(format!("{:.1}", x + 9.0)) y=(format!("{:.1}", y + 4.0)) { (c.id) }
                }
            }
        }
        p.muted { small { (t(l, "map.legend")) } }
    })
}

async fn fragment_alerts(State(s): State<AppState>, v: Viewer) -> Page {
    v.require(&[Role::Operator])?;
    Ok(alerts_table(&s, &v).await?.into_response())
}

async fn fragment_map(State(s): State<AppState>, v: Viewer) -> Page {
    v.require(&[Role::Operator])?;
    Ok(map_svg(&s, &v).await?.into_response())
}

async fn fragment_cameras(State(s): State<AppState>, v: Viewer) -> Page {
    v.require(&[Role::Operator])?;
    Ok(cameras_table(&s, &v).await?.into_response())
}

async fn dispatch(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Page {
    v.check_csrf(&s, &f.csrf)?;
    s.control
        .dispatch(&v.actor, &id, "", &origin(&peer))
        .await
        .page(v.lang)?;
    Ok(see_other("/operator?ok=dispatch.done"))
}

/// Live events for the pages: only the alert id, which tells htmx to reload the part it shows.
async fn ui_stream(
    State(s): State<AppState>,
    v: Viewer,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, UiError> {
    v.require(&[Role::Operator, Role::Reviewer])?;
    let events = crate::alert_events(s.control.clone(), v.token.clone(), v.actor.clone(), |ev| {
        Event::default().event("alert").data(ev.id)
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

// ---- reviewer ----

async fn review_page(State(s): State<AppState>, v: Viewer, Query(f): Query<Flash>) -> Page {
    v.require(&[Role::Reviewer])?;
    let l = v.lang;
    let queue = review_queue(&s, &v).await?;
    Ok(layout(
        &v,
        "/review",
        t(l, "review.queue"),
        f.ok.as_deref(),
        html! {
            p.muted { (t(l, "review.blind")) }
            div hx-ext="sse" sse-connect="/ui/stream" {
                // Only a notice is live: swapping the queue would wipe a reason being typed.
                div #queue-news hx-get="/ui/fragments/review" hx-trigger="sse:alert, every 10s" {}
            }
            div #queue { (queue) }
        },
    ))
}

async fn review_queue(s: &AppState, v: &Viewer) -> Result<Markup, UiError> {
    let l = v.lang;
    let alerts = pending_for(s, v).await?;
    Ok(html! {
        @if alerts.is_empty() {
            p.muted { (t(l, "review.none")) }
        }
        @for a in &alerts {
            article.panel.review-card #{ "review-" (a.id) } {
                figure {
                    img src={ "/ui/alerts/" (a.id) "/reference" } alt=(t(l, "review.reference"));
                    figcaption { (t(l, "review.reference")) }
                }
                figure {
                    img src={ "/ui/alerts/" (a.id) "/crop" } alt=(t(l, "review.probe"));
                    figcaption { (t(l, "review.probe")) }
                }
                div {
                    dl.facts {
                        dt { (t(l, "col.score")) } dd.num { strong { (format!("{:.3}", a.score)) } " / " (threshold_text(l, a.threshold, a.fpir_target.zip(a.calibration.as_deref()))) }
                        dt { (t(l, "col.camera")) } dd { (a.camera) }
                        dt { (t(l, "col.time")) } dd { (local(a.captured_at)) }
                        dt { (t(l, "col.permit")) } dd.mono { (a.permit) }
                        dt { (t(l, "col.person")) } dd { (a.person) }
                    }
                    form method="post" action={ "/review/" (a.id) } {
                        input type="hidden" name="csrf" value=(v.csrf);
                        label for={ "reason-" (a.id) } { (t(l, "review.reason")) }
                        textarea id={ "reason-" (a.id) } name="reason" maxlength="4000" required {}
                        div.actions {
                            button.confirm type="submit" name="verdict" value="confirm" { (t(l, "review.confirm")) }
                            button.reject type="submit" name="verdict" value="reject" { (t(l, "review.reject")) }
                        }
                    }
                }
            }
        }
    })
}

/// How many alerts await this reviewer, with a link that reloads the queue.
async fn fragment_review(State(s): State<AppState>, v: Viewer) -> Page {
    v.require(&[Role::Reviewer])?;
    let l = v.lang;
    let n = pending_for(&s, &v).await?.len();
    Ok(html! {
        @if n > 0 {
            div.flash.ok role="status" {
                (n) " " (t(l, "review.pending")) " "
                a href="/review" { (t(l, "review.reload")) }
            }
        }
    }
    .into_response())
}

async fn pending_for(s: &AppState, v: &Viewer) -> Result<Vec<AlertRecord>, UiError> {
    Ok(s.control
        .alerts(&v.actor, 0, 10_000, &v.origin)
        .await
        .page(v.lang)?
        .into_iter()
        .filter(|a| a.state == AlertState::Candidate)
        .filter(|a| !a.reviews.iter().any(|r| r.reviewer == v.actor.user))
        .collect())
}

#[derive(Deserialize)]
struct ReviewForm {
    #[serde(default)]
    csrf: String,
    verdict: String,
    #[serde(default)]
    reason: String,
}

async fn review_post(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<ReviewForm>,
) -> Page {
    v.check_csrf(&s, &f.csrf)?;
    let bad = |m: &str| UiError::bad_request(v.lang, m);
    let verdict = Verdict::parse(&f.verdict).ok_or_else(|| bad("verdict is confirm or reject"))?;
    if f.reason.len() > 4000 {
        return Err(bad("reason over 4000 bytes"));
    }
    s.control
        .review(&v.actor, &id, verdict, &f.reason, &origin(&peer))
        .await
        .page(v.lang)?;
    Ok(see_other("/review?ok=review.done"))
}

async fn alert_image(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    v: Viewer,
    Path((id, which)): Path<(String, String)>,
) -> Page {
    let l = v.lang;
    let bytes = match which.as_str() {
        "crop" => {
            s.control
                .alert_media(&v.actor, &id, &origin(&peer))
                .await
                .page(l)?
                .0
        }
        "reference" => s
            .control
            .alert_reference(&v.actor, &id, &origin(&peer))
            .await
            .page(l)?,
        _ => {
            return Err(UiError::not_found(l, "image is `crop` or `reference`"));
        }
    };
    Ok(crate::biometric_jpeg(bytes))
}

// ---- applicant ----

async fn permits_page(State(s): State<AppState>, v: Viewer, Query(f): Query<Flash>) -> Page {
    v.require(&[Role::Applicant, Role::Prosecutor])?;
    let l = v.lang;
    let table = permits_table(&s, &v).await?;
    let cams = s.control.cameras(&v.actor).await.page(l)?;
    let calibration = s.control.calibration().await.page(l)?.map(|c| c.version);
    let tasks = open_tasks(&s, &v).await?;
    Ok(layout(
        &v,
        "/permits",
        t(l, "permits.title"),
        f.ok.as_deref(),
        html! {
            section.panel {
                div #permits hx-get="/ui/fragments/permits" hx-trigger="every 15s" { (table) }
            }
            // The applicant's own subject notifications, overdue first.
            (subjects_panel(&v, &tasks, true))
            @if v.actor.has(Role::Applicant) {
                section.panel { h2 { (t(l, "permits.new")) } (draft_form(&v, &cams, calibration.as_deref(), s.default_threshold)) }
            }
        },
    ))
}

fn countdown(l: Lang, now: Timestamp, deadline: Timestamp) -> Markup {
    let left = deadline.0 - now.0;
    html! {
        @if left <= 0 {
            span.countdown { (t(l, "permit.deadline.passed")) }
        } @else {
            (t(l, "permit.deadline")) " "
            span.countdown { (format!("{} h {:02} min", left / 3_600_000, (left / 60_000) % 60)) }
            br; small.muted { "(" (local(deadline)) ")" }
        }
    }
}

async fn permits_table(s: &AppState, v: &Viewer) -> Result<Markup, UiError> {
    let l = v.lang;
    let now = s.control.now().page(l)?;
    let mut permits = s.control.permits(&v.actor, &v.origin).await.page(l)?;
    permits.sort_by_key(|p| std::cmp::Reverse(p.created_at));
    Ok(html! {
        @if permits.is_empty() { p.muted { (t(l, "permits.none")) } }
        @else {
            table {
                thead { tr {
                    th { "Id" } th { (t(l, "col.purpose")) } th { (t(l, "col.period")) }
                    th { (t(l, "col.applicant")) } th { (t(l, "col.team")) } th { (t(l, "col.state")) } th { (t(l, "col.action")) }
                } }
                tbody {
                    @for p in &permits {
                        @let mine = p.applicant == v.actor.user;
                        tr {
                            td.mono { (p.id) }
                            td { (t_dyn(l, "purpose", p.application.purpose.as_str())) }
                            td.num { (local(p.application.period.start)) br; (local(p.application.period.end)) }
                            td { (p.applicant) }
                            td { (team_cell(v, p, mine)) }
                            td {
                                (status_badge(l, p.status))
                                @if let (Status::UrgentActive, Some(u)) = (p.status, &p.urgent) {
                                    br; (countdown(l, now, u.deadline))
                                }
                            }
                            td {
                                div.actions {
                                    @if mine && p.status == Status::Draft {
                                        (action_button(v, &p.id, "apply", t(l, "permit.apply"), ""))
                                        (action_button(v, &p.id, "urgent-start", t(l, "permit.urgent"), "danger"))
                                    }
                                    @if mine && p.status == Status::UrgentActive {
                                        (action_button(v, &p.id, "apply", t(l, "permit.apply"), ""))
                                    }
                                    @if p.is_active_at(now) || matches!(p.status, Status::UrgentActive | Status::UrgentApplied | Status::Granted) {
                                        form.inline method="post" action={ "/permits/" (p.id) "/stop" } {
                                            input type="hidden" name="csrf" value=(v.csrf);
                                            input type="text" name="reason" required placeholder=(t(l, "permit.stop.reason")) aria-label=(t(l, "permit.stop.reason"));
                                            button.secondary type="submit" { (t(l, "permit.stop")) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// A permit's team: who works on it, and for its applicant the forms that change it.
fn team_cell(v: &Viewer, p: &Permit, mine: bool) -> Markup {
    let l = v.lang;
    let open = !matches!(p.status, Status::Refused | Status::Stopped) && !p.purged;
    html! {
        @for m in &p.team {
            div {
                span.mono { (m.user) } " · " (m.role.as_str())
                @if mine && open {
                    form.inline method="post" action={ "/permits/" (p.id) "/team" } {
                        input type="hidden" name="csrf" value=(v.csrf);
                        input type="hidden" name="user" value=(m.user);
                        button.secondary type="submit" name="role" value="" { (t(l, "team.remove")) }
                    }
                }
            }
        }
        @if mine && open {
            form.inline method="post" action={ "/permits/" (p.id) "/team" } {
                input type="hidden" name="csrf" value=(v.csrf);
                input type="text" name="user" required maxlength="64" placeholder=(t(l, "team.user")) aria-label=(t(l, "team.user"));
                select name="role" aria-label=(t(l, "team.role")) {
                    @for r in [Role::Prosecutor, Role::Judge, Role::Reviewer, Role::Operator] {
                        option value=(r.as_str()) { (r.as_str()) }
                    }
                }
                button.secondary type="submit" { (t(l, "team.assign")) }
            }
        }
    }
}

fn action_button(v: &Viewer, id: &str, action: &str, label: &str, class: &str) -> Markup {
    html! {
        form.inline method="post" action={ "/permits/" (id) "/" (action) } {
            input type="hidden" name="csrf" value=(v.csrf);
            button class=(class) type="submit" { (label) }
        }
    }
}

fn draft_form(
    v: &Viewer,
    cams: &[mandat_store::Camera],
    calibration: Option<&str>,
    plain: f32,
) -> Markup {
    let l = v.lang;
    html! {
        form method="post" action="/permits" {
            input type="hidden" name="csrf" value=(v.csrf);
            div.grid {
                div {
                    label for="purpose" { (t(l, "f.purpose")) }
                    select #purpose name="purpose" {
                        @for p in ["victim_search", "imminent_threat", "suspect_location", "sentence_enforcement"] {
                            option value=(p) { (t_dyn(l, "purpose", p)) }
                        }
                    }
                    label for="offence" { (t(l, "f.offence")) }
                    input #offence type="text" name="offence" maxlength="500";
                    label for="annex" { (t(l, "f.annex")) }
                    select #annex name="annex" {
                        @for a in ANNEX_II { option value=(a) { (a.replace('_', " ")) } }
                    }
                    label for="penalty" { (t(l, "f.penalty")) }
                    input #penalty type="number" name="penalty" min="0" max="100" value="0";
                    label for="person" { (t(l, "f.person_label")) }
                    input #person type="text" name="person" maxlength="200" required;
                    label for="source" { (t(l, "f.photo_source")) }
                    input #source type="text" name="source" maxlength="200" required;
                }
                div {
                    label { (t(l, "f.area")) }
                    @for c in cams {
                        label.muted { input type="checkbox" name={ "cam_" (c.id) } value="on"; " " (c.id) " · " (c.name) }
                    }
                    label for="start" { (t(l, "f.start")) " (UTC)" }
                    input #start type="datetime-local" name="start" required;
                    label for="end" { (t(l, "f.end")) " (UTC)" }
                    input #end type="datetime-local" name="end" required;
                    label for="necessity" { (t(l, "f.necessity")) }
                    textarea #necessity name="necessity" maxlength="4000" required {}
                    label for="proportionality" { (t(l, "f.proportionality")) }
                    textarea #proportionality name="proportionality" maxlength="4000" required {}
                    label for="fria" { (t(l, "f.fria")) }
                    input #fria type="text" name="fria" maxlength="200" required;
                    label for="eudb" { (t(l, "f.eudb")) }
                    input #eudb type="text" name="eudb" maxlength="200" required;
                    // The threshold follows from a stated false-alert rate when a calibration is
                    // stored; without one the page says that the model's published cosine is used.
                    @if let Some(version) = calibration {
                        label for="fpir" { (t(l, "f.fpir")) }
                        select #fpir name="fpir" {
                            option value="0.001" { "1 / 1 000" }
                            option value="0.0001" selected { "1 / 10 000" }
                            option value="0.00001" { "1 / 100 000" }
                        }
                        p.muted { (t(l, "f.fpir_help")) " " span.mono { (version) } }
                    } @else {
                        p.muted #uncalibrated { (t(l, "f.uncalibrated")) " " (format!("{plain:.3}")) }
                    }
                }
            }
            div.actions { button type="submit" { (t(l, "permits.new")) } }
        }
    }
}

const ANNEX_II: [&str; 17] = [
    "terrorism",
    "trafficking_in_human_beings",
    "sexual_exploitation_of_children",
    "illicit_trafficking_in_narcotics",
    "illicit_trafficking_in_weapons",
    "murder",
    "grievous_bodily_injury",
    "illicit_trade_in_human_organs",
    "illicit_trafficking_in_nuclear_materials",
    "kidnapping_or_hostage_taking",
    "crimes_within_icc_jurisdiction",
    "unlawful_seizure_of_aircraft_or_ships",
    "rape",
    "environmental_crime",
    "organised_or_armed_robbery",
    "sabotage",
    "participation_in_criminal_organisation",
];

/// A threshold with the target it was derived from: `0.412 (FPIR 1.0e-4, calibration v)`, or
/// marked as a plain cosine.
fn threshold_text(l: Lang, threshold: f32, target: Option<(f64, &str)>) -> String {
    match target {
        Some((fpir, cal)) => format!(
            "{threshold:.3} (FPIR {fpir:.1e}, {} {cal})",
            t(l, "f.calibration")
        ),
        None => format!("{threshold:.3} ({})", t(l, "f.plain_cosine")),
    }
}

/// `datetime-local` gives `YYYY-MM-DDTHH:MM`; the form says it is UTC.
fn parse_local_utc(s: &str) -> Option<Timestamp> {
    Timestamp::parse_rfc3339(&format!("{s}Z"))
}

async fn draft_post(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    v: Viewer,
    Form(f): Form<HashMap<String, String>>,
) -> Page {
    let l = v.lang;
    v.check_csrf(&s, f.get("csrf").map(String::as_str).unwrap_or(""))?;
    let bad = |m: &str| UiError::bad_request(l, m);
    let get = |k: &str| f.get(k).map(|x| x.trim().to_string()).unwrap_or_default();
    if f.values().any(|x| x.len() > 4000) {
        return Err(bad("a field is over 4000 bytes"));
    }
    let purpose: mandat_law::permit::Purpose =
        serde_json::from_value(serde_json::Value::String(get("purpose")))
            .map_err(|_| bad("unknown purpose"))?;
    let offence = if get("offence").is_empty() {
        None
    } else {
        Some(mandat_law::permit::Offence {
            description: get("offence"),
            annex_ii: serde_json::from_value(serde_json::Value::String(get("annex")))
                .map_err(|_| bad("unknown Annex II category"))?,
            max_penalty_years: get("penalty")
                .parse()
                .map_err(|_| bad("maximum penalty is a whole number of years"))?,
            stage: mandat_law::permit::Stage::Completed,
        })
    };
    let start =
        parse_local_utc(&get("start")).ok_or_else(|| bad("start is not a date and time"))?;
    let end = parse_local_utc(&get("end")).ok_or_else(|| bad("end is not a date and time"))?;
    let cameras: Vec<String> = f
        .keys()
        .filter_map(|k| k.strip_prefix("cam_"))
        .map(str::to_string)
        .collect();
    let application = mandat_law::Application {
        // A user applies for their own agency.
        agency: v.actor.agency,
        purpose,
        offence,
        persons: vec![mandat_law::permit::DesignatedPerson {
            id: "person-1".into(),
            label: get("person"),
            photos: vec![mandat_law::permit::PhotoRef {
                id: "photo-1".into(),
                source: get("source"),
            }],
        }],
        area: mandat_law::permit::Area {
            cameras,
            polygon: None,
        },
        period: mandat_law::permit::Period { start, end },
        reasons: mandat_law::permit::Reasons {
            necessity: get("necessity"),
            proportionality: get("proportionality"),
            fria_ref: get("fria"),
            eu_db_ref: get("eudb"),
        },
        threshold: s.default_threshold,
        target: match get("fpir").as_str() {
            "" => None,
            x => Some(mandat_law::permit::Target {
                fpir: x
                    .parse()
                    .map_err(|_| bad("the false-alert rate is a number"))?,
                watchlist: 0,
                calibration: String::new(),
            }),
        },
    };
    s.control
        .draft(&v.actor, application, &origin(&peer))
        .await
        .page(l)?;
    Ok(see_other("/permits?ok=permit.created"))
}

async fn fragment_permits(State(s): State<AppState>, v: Viewer) -> Page {
    v.require(&[Role::Applicant, Role::Prosecutor])?;
    Ok(permits_table(&s, &v).await?.into_response())
}

#[derive(Deserialize)]
struct ReasonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    /// For `team`: the user, and their role on the team (empty: take them off).
    #[serde(default)]
    user: String,
    #[serde(default)]
    role: String,
}

async fn permit_action(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    v: Viewer,
    Path((id, action)): Path<(String, String)>,
    Form(f): Form<ReasonForm>,
) -> Page {
    let l = v.lang;
    v.check_csrf(&s, &f.csrf)?;
    let o = origin(&peer);
    match action.as_str() {
        "apply" => s.control.apply(&v.actor, &id, &o).await.page(l)?,
        "urgent-start" => s.control.urgent_start(&v.actor, &id, &o).await.page(l)?,
        "stop" => s.control.stop(&v.actor, &id, &f.reason, &o).await.page(l)?,
        "team" => {
            let role = match f.role.as_str() {
                "" => None,
                r => Some(Role::parse(r).ok_or_else(|| {
                    UiError::bad_request(l, "the role is operator, reviewer, judge or prosecutor")
                })?),
            };
            s.control
                .assign_team(&v.actor, &id, f.user.trim(), role, &o)
                .await
                .page(l)?
        }
        _ => {
            return Err(UiError::not_found(l, "no such permit action"));
        }
    };
    Ok(see_other("/permits?ok=permit.done"))
}

// ---- decider ----

async fn decide_page(State(s): State<AppState>, v: Viewer, Query(f): Query<Flash>) -> Page {
    v.require(&[Role::Prosecutor, Role::Judge])?;
    let l = v.lang;
    let now = s.control.now().page(l)?;
    let profile = s.control.profile();
    let queue: Vec<Permit> = s
        .control
        .permits(&v.actor, &v.origin)
        .await
        .page(l)?
        .into_iter()
        .filter(|p| matches!(p.status, Status::Applied | Status::UrgentApplied))
        .collect();
    Ok(layout(
        &v,
        "/decide",
        t(l, "decide.queue"),
        f.ok.as_deref(),
        html! {
            @if queue.is_empty() { p.muted { (t(l, "decide.none")) } }
            @for p in &queue {
                @let a = &p.application;
                @let decider = profile.rule(a.purpose).decider;
                article.panel {
                    h2 { span.mono { (p.id) } " " (status_badge(l, p.status)) }
                    dl.facts {
                        dt { (t(l, "f.purpose")) } dd { (t_dyn(l, "purpose", a.purpose.as_str())) }
                        dt { (t(l, "f.decider")) } dd { (t(l, match decider { mandat_law::Authority::Court => "authority.court", mandat_law::Authority::Prosecutor => "authority.prosecutor" })) }
                        dt { (t(l, "f.agency")) } dd { (format!("{:?}", a.agency)) }
                        dt { (t(l, "f.offence")) } dd {
                            @if let Some(o) = &a.offence {
                                (o.description) " · " (format!("{:?}", o.annex_ii)) " · " (t(l, "f.penalty")) ": " (o.max_penalty_years) " · " (t(l, "f.stage")) ": " (format!("{:?}", o.stage))
                            } @else { span.muted { (t(l, "f.none")) } }
                        }
                        dt { (t(l, "f.persons")) } dd {
                            @for person in &a.persons { (person.label) " (" (person.photos.len()) " " (t(l, "f.photos")) ")" br; }
                        }
                        dt { (t(l, "f.area")) } dd {
                            (a.area.cameras.join(", "))
                            @if let Some(poly) = &a.area.polygon { br; (t(l, "f.polygon")) ": " (poly.len()) }
                        }
                        dt { (t(l, "col.period")) } dd.num { (local(a.period.start)) " – " (local(a.period.end)) }
                        dt { (t(l, "f.necessity")) } dd { (a.reasons.necessity) }
                        dt { (t(l, "f.proportionality")) } dd { (a.reasons.proportionality) }
                        dt { (t(l, "f.fria")) } dd { (a.reasons.fria_ref) }
                        dt { (t(l, "f.eudb")) } dd { (a.reasons.eu_db_ref) }
                        dt { (t(l, "f.threshold")) } dd.num { (threshold_text(l, a.threshold, a.target.as_ref().map(|x| (x.fpir, x.calibration.as_str())))) }
                        dt { (t(l, "col.applicant")) } dd { (p.applicant) }
                        dt { (t(l, "f.applied")) } dd { (p.applied_at.map(local).unwrap_or_default()) }
                        @if let Some(u) = &p.urgent {
                            dt { (t(l, "f.urgent")) } dd { (local(u.started_at)) " (" (u.started_by) ")" br; (countdown(l, now, u.deadline)) }
                        }
                    }
                    form method="post" action={ "/decide/" (p.id) } {
                        input type="hidden" name="csrf" value=(v.csrf);
                        label for={ "reasons-" (p.id) } { (t(l, "decide.reasons")) }
                        textarea id={ "reasons-" (p.id) } name="reasons" maxlength="8000" required {}
                        div.actions {
                            button.confirm type="submit" name="outcome" value="grant" { (t(l, "decide.grant")) }
                            button.reject type="submit" name="outcome" value="refuse" { (t(l, "decide.refuse")) }
                        }
                    }
                }
            }
        },
    ))
}

#[derive(Deserialize)]
struct DecideForm {
    #[serde(default)]
    csrf: String,
    outcome: String,
    #[serde(default)]
    reasons: String,
}

async fn decide_post(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<DecideForm>,
) -> Page {
    let l = v.lang;
    v.check_csrf(&s, &f.csrf)?;
    let outcome = match f.outcome.as_str() {
        "grant" => Outcome::Grant,
        "refuse" => Outcome::Refuse,
        _ => {
            return Err(UiError::bad_request(l, "outcome is grant or refuse"));
        }
    };
    let (_, cert) = s
        .control
        .decide(&v.actor, &id, outcome, &f.reasons, &origin(&peer))
        .await
        .page(l)?;
    let Some(c) = cert else {
        return Ok(see_other("/decide?ok=decide.done"));
    };
    Ok(layout(
        &v,
        "/decide",
        t(l, "cert.title"),
        Some("decide.done"),
        html! {
            section.panel.cert #certificate {
                p { (t(l, "cert.intro")) }
                dl.facts {
                    dt { (t(l, "col.permit")) } dd.mono { (c.permit) }
                    dt { (t(l, "col.time")) } dd { (local(c.at)) }
                    dt { (t(l, "review.reason")) } dd { (c.reason) }
                    dt { (t(l, "cert.photos")) } dd.num { (c.photos.len()) }
                    dt { (t(l, "cert.templates")) } dd.num { (c.templates.len()) }
                    dt { (t(l, "cert.alerts")) } dd.num { (c.alerts.len()) }
                    dt { (t(l, "cert.reviews")) } dd.num { (c.reviews) }
                    dt { (t(l, "cert.key")) } dd { (if c.data_key_destroyed { t(l, "fit.yes") } else { t(l, "fit.no") }) }
                }
                details { summary { "JSON" } pre.mono { (serde_json::to_string_pretty(&c).unwrap_or_default()) } }
            }
        },
    ))
}

// ---- auditor ----

#[derive(Deserialize, Default)]
struct AuditFilter {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    permit: String,
    ok: Option<String>,
}

async fn audit_page(State(s): State<AppState>, v: Viewer, Query(q): Query<AuditFilter>) -> Page {
    v.require(&[Role::Auditor, Role::Admin])?;
    audit_view(&s, &v, &q, None).await
}

async fn audit_view(
    s: &AppState,
    v: &Viewer,
    q: &AuditFilter,
    verdict: Option<mandat_audit::Verdict>,
) -> Page {
    let l = v.lang;
    let entries = s.control.audit_log(&v.actor).await.page(l)?;
    let total = entries.len();
    let shown: Vec<&mandat_audit::Entry> = entries
        .iter()
        .rev()
        .filter(|e| q.actor.is_empty() || e.actor == q.actor)
        .filter(|e| q.action.is_empty() || e.action.starts_with(&q.action))
        .filter(|e| q.permit.is_empty() || e.permit.as_deref() == Some(q.permit.as_str()))
        .take(500)
        .collect();
    let reports = audit_reports(s, v).await?;
    Ok(layout(
        v,
        "/audit",
        t(l, "audit.title"),
        q.ok.as_deref(),
        html! {
            section.panel {
                div.actions {
                    form method="post" action="/audit/verify" {
                        input type="hidden" name="csrf" value=(v.csrf);
                        button type="submit" { (t(l, "audit.verify")) }
                    }
                    @match &verdict {
                        Some(mandat_audit::Verdict::Intact { entries, checkpoints, .. }) => {
                            span #verdict .badge.st-intact { (t(l, "audit.intact")) ": " (entries) " " (t(l, "audit.entries")) ", " (checkpoints) " " (t(l, "audit.checkpoints")) }
                        }
                        Some(mandat_audit::Verdict::Broken { seq, reason }) => {
                            span #verdict .badge.st-broken { (t(l, "audit.broken")) ": #" (seq) " " (reason) }
                        }
                        None => {}
                    }
                }
            }
            (reports)
            section.panel {
                form.filters method="get" action="/audit" {
                    div { label for="actor" { (t(l, "col.actor")) } input #actor type="text" name="actor" value=(q.actor); }
                    div { label for="action" { (t(l, "col.action_done")) } input #action type="text" name="action" value=(q.action) placeholder="permit."; }
                    div { label for="permit" { (t(l, "col.permit")) } input #permit type="text" name="permit" value=(q.permit); }
                    button.secondary type="submit" { (t(l, "audit.filter")) }
                    span.muted { (shown.len()) " " (t(l, "audit.shown")) " / " (total) }
                }
                table {
                    thead { tr {
                        th { "#" } th { (t(l, "col.time")) } th { (t(l, "col.actor")) } th { (t(l, "col.action_done")) }
                        th { (t(l, "col.permit")) } th { (t(l, "col.origin")) } th { (t(l, "col.details")) }
                    } }
                    tbody {
                        @for e in &shown {
                            tr {
                                td.num { (e.seq) }
                                td.num { (local_ms(e.at)) }
                                td { (e.actor) }
                                td.mono { (e.action) }
                                td.mono { (e.permit.as_deref().unwrap_or("")) }
                                td.mono { (e.origin) }
                                td.mono.details { (e.details.to_string()) }
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// The reports of the accountability issue on the auditor's page: the IMY register with its
/// downloads, the annual report, and subject notifications with the overdue ones first.
async fn audit_reports(s: &AppState, v: &Viewer) -> Result<Markup, UiError> {
    let l = v.lang;
    let register = s.control.imy_notifications(&v.actor).await.page(l)?;
    // Admins keep the register but never see whom a task concerns.
    let auditor = v.actor.has(Role::Auditor);
    let tasks = if auditor {
        open_tasks(s, v).await?
    } else {
        Vec::new()
    };
    let admin = v.actor.has(Role::Admin);
    let year = s.control.now().page(l)?.year();
    Ok(html! {
        section.panel #imy {
            h2 { (t(l, "imy.title")) }
            @if register.is_empty() {
                p.muted { (t(l, "imy.none")) }
            } @else {
                table {
                    thead { tr {
                        th { "Id" } th { (t(l, "imy.kind")) } th { (t(l, "f.purpose")) }
                        th { (t(l, "imy.created")) } th { (t(l, "imy.sent")) } th { (t(l, "imy.ack")) } th {}
                    } }
                    tbody {
                        @for r in register.iter().rev() {
                            tr {
                                td.mono { (r.id) }
                                td { (t_dyn(l, "imy", r.notification.kind.as_str())) }
                                td { (t_dyn(l, "purpose", r.notification.purpose.as_str())) }
                                td.num { (local(r.created_at)) }
                                td.num {
                                    @if let Some(at) = r.sent_at { (local(at)) }
                                    @else if admin {
                                        form.inline method="post" action={ "/audit/imy/" (r.id) "/sent" } {
                                            input type="hidden" name="csrf" value=(v.csrf);
                                            button.secondary type="submit" { (t(l, "imy.mark_sent")) }
                                        }
                                    } @else { span.badge.st-pending { (t(l, "imy.not_sent")) } }
                                }
                                td.num {
                                    @if let (Some(at), Some(reference)) = (r.acknowledged_at, &r.imy_reference) {
                                        (local(at)) " " span.mono { (reference) }
                                    } @else if admin && r.sent_at.is_some() {
                                        form.inline method="post" action={ "/audit/imy/" (r.id) "/acknowledged" } {
                                            input type="hidden" name="csrf" value=(v.csrf);
                                            input type="text" name="reference" maxlength="100" required placeholder=(t(l, "imy.reference"));
                                            button.secondary type="submit" { (t(l, "imy.mark_ack")) }
                                        }
                                    }
                                }
                                td {
                                    a href={ "/audit/imy/" (r.id) "/pdf" } { "PDF" } " · "
                                    a href={ "/audit/imy/" (r.id) "/json" } { "JSON" }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.panel #annual {
            h2 { (t(l, "annual.title")) }
            p.muted { (t(l, "annual.about")) }
            form.filters method="get" action="/audit/annual" {
                div { label for="year" { (t(l, "annual.year")) } input #year type="number" name="year" min="2000" max="9998" value=(year) required; }
                div { label for="format" { (t(l, "annual.format")) }
                    select #format name="format" {
                        option value="pdf" { "PDF" } option value="csv" { "CSV" } option value="json" { "JSON" }
                    }
                }
                button.secondary type="submit" { (t(l, "annual.download")) }
            }
        }
        @if auditor { (subjects_panel(v, &tasks, false)) }
    })
}

/// Open subject notifications the viewer may see, the overdue first.
async fn open_tasks(s: &AppState, v: &Viewer) -> Result<Vec<mandat_control::SubjectView>, UiError> {
    let mut tasks = s
        .control
        .subject_tasks(&v.actor, &v.origin)
        .await
        .page(v.lang)?;
    tasks.retain(|x| x.task.completed_at.is_none());
    tasks.sort_by_key(|x| (!x.overdue, x.task.due_at));
    Ok(tasks)
}

/// Subject notifications: the auditor reads them; the permit's applicant also defers them (with a
/// reason and a new date) or records that the person was notified.
fn subjects_panel(v: &Viewer, tasks: &[mandat_control::SubjectView], actions: bool) -> Markup {
    let l = v.lang;
    html! {
        section.panel #subjects {
            h2 { (t(l, "subjects.title")) }
            @if tasks.is_empty() {
                p.muted { (t(l, "subjects.none")) }
            } @else {
                table {
                    thead { tr {
                        th { "Id" } th { (t(l, "col.permit")) } th { (t(l, "col.person")) } th { (t(l, "subjects.due")) } th { (t(l, "subjects.deferrals")) } th {}
                        @if actions { th {} }
                    } }
                    tbody {
                        @for x in tasks {
                            tr {
                                td.mono { (x.task.id) }
                                td.mono { (x.task.permit) }
                                td { (x.task.person) }
                                td.num { (local(x.task.due_at)) }
                                td.num { (x.task.deferrals.len()) }
                                td { @if x.overdue { span.badge.st-broken { (t(l, "subjects.overdue")) } } }
                                @if actions {
                                    td {
                                        form.inline method="post" action={ "/subjects/" (x.task.id) "/done" } {
                                            input type="hidden" name="csrf" value=(v.csrf);
                                            button.secondary type="submit" { (t(l, "subjects.done")) }
                                        }
                                        form.inline method="post" action={ "/subjects/" (x.task.id) "/defer" } {
                                            input type="hidden" name="csrf" value=(v.csrf);
                                            input type="text" name="reason" maxlength="4000" required placeholder=(t(l, "subjects.reason"));
                                            input type="date" name="until" required aria-label=(t(l, "subjects.until"));
                                            button.secondary type="submit" { (t(l, "subjects.defer")) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The applicant defers a subject notification or records it done.
async fn subject_step_post(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    v: Viewer,
    Path((id, step)): Path<(String, String)>,
    Form(f): Form<HashMap<String, String>>,
) -> Page {
    let l = v.lang;
    v.check_csrf(&s, f.get("csrf").map(String::as_str).unwrap_or(""))?;
    let get = |k: &str| f.get(k).map(|x| x.trim().to_string()).unwrap_or_default();
    let step = match step.as_str() {
        "done" => mandat_store::subjects::SubjectStep::Complete,
        "defer" => {
            if get("reason").len() > 4000 {
                return Err(UiError::bad_request(l, "the reason is over 4000 bytes"));
            }
            let until = Timestamp::parse_rfc3339(&format!("{}T00:00:00Z", get("until")))
                .ok_or_else(|| UiError::bad_request(l, "the new date is a date (YYYY-MM-DD)"))?;
            mandat_store::subjects::SubjectStep::Defer {
                reason: get("reason"),
                until,
            }
        }
        _ => return Err(UiError::not_found(l, "the steps are defer and done")),
    };
    s.control
        .subject_step(&v.actor, &id, step, &origin(&peer))
        .await
        .page(l)?;
    Ok(see_other("/permits?ok=subjects.updated#subjects"))
}

#[derive(Deserialize)]
struct ImyPath {
    id: String,
    what: String,
}

/// A register entry as a download: the PDF sent to IMY, or its JSON.
async fn audit_imy_file(State(s): State<AppState>, v: Viewer, Path(p): Path<ImyPath>) -> Page {
    let l = v.lang;
    let rec = s.control.imy_notification(&v.actor, &p.id).await.page(l)?;
    match p.what.as_str() {
        "pdf" => Ok(crate::pdf_response(mandat_reports::imy_pdf(&rec), &rec.id)),
        "json" => Ok(crate::download(
            serde_json::to_vec_pretty(&rec).unwrap_or_default(),
            "application/json",
            &rec.id,
            "json",
        )),
        _ => Err(UiError::not_found(
            l,
            "a notification is downloaded as pdf or json",
        )),
    }
}

#[derive(Deserialize)]
struct AckForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reference: String,
}

/// An admin records that a notification was sent, or IMY's acknowledgement with its reference.
async fn audit_imy_step(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    v: Viewer,
    Path(p): Path<ImyPath>,
    Form(f): Form<AckForm>,
) -> Page {
    let l = v.lang;
    v.check_csrf(&s, &f.csrf)?;
    let step = match p.what.as_str() {
        "sent" => mandat_store::imy::ImyStep::Sent,
        "acknowledged" => mandat_store::imy::ImyStep::Acknowledged {
            reference: f.reference.trim().to_string(),
        },
        _ => return Err(UiError::not_found(l, "the steps are sent and acknowledged")),
    };
    s.control
        .imy_step(&v.actor, &p.id, step, &origin(&peer))
        .await
        .page(l)?;
    Ok(see_other("/audit?ok=imy.done#imy"))
}

#[derive(Deserialize)]
struct AnnualQuery {
    year: i32,
    #[serde(default)]
    format: String,
}

/// The annual report of a year as a download.
async fn audit_annual(State(s): State<AppState>, v: Viewer, Query(q): Query<AnnualQuery>) -> Page {
    let l = v.lang;
    let r = s.control.annual_report(&v.actor, q.year).await.page(l)?;
    let name = format!("annual-{}", q.year);
    match q.format.as_str() {
        "pdf" => {
            let pdf = mandat_reports::annual::pdf(&r).map_err(|e| {
                tracing::error!("annual report charts: {e}");
                UiError::new(
                    l,
                    ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "charts",
                        "the charts could not be drawn; see the server log (fonts: fontconfig and a sans-serif font)",
                    ),
                )
            })?;
            Ok(crate::pdf_response(pdf, &name))
        }
        "csv" => Ok(crate::download(
            mandat_reports::annual::csv(&r).into_bytes(),
            "text/csv; charset=utf-8",
            &name,
            "csv",
        )),
        "json" | "" => Ok(crate::download(
            serde_json::to_vec_pretty(&r).unwrap_or_default(),
            "application/json",
            &name,
            "json",
        )),
        _ => Err(UiError::bad_request(l, "the format is pdf, csv or json")),
    }
}

async fn audit_verify(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    v: Viewer,
    Form(f): Form<CsrfForm>,
) -> Page {
    v.check_csrf(&s, &f.csrf)?;
    let verdict = s
        .control
        .audit_verify(&v.actor, &origin(&peer))
        .await
        .page(v.lang)?;
    audit_view(&s, &v, &AuditFilter::default(), Some(verdict)).await
}

// ---- admin ----

async fn admin_page(State(s): State<AppState>, v: Viewer, Query(f): Query<Flash>) -> Page {
    v.require(&[Role::Admin])?;
    let l = v.lang;
    let users = s.control.users(&v.actor).await.page(l)?;
    let cams = s.control.cameras(&v.actor).await.page(l)?;
    let role_list = |roles: &[Role]| {
        roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ok(layout(
        &v,
        "/admin",
        t(l, "nav.admin"),
        f.ok.as_deref(),
        html! {
            p.muted { (t(l, "admin.nobio")) }
            div.grid {
                section.panel {
                    h2 { (t(l, "admin.users")) }
                    table {
                        thead { tr { th { (t(l, "col.user")) } th { (t(l, "col.roles")) } th {} } }
                        tbody { @for u in &users { tr id={ "user-" (u.user) } {
                            td { (u.user) }
                            td {
                                (role_list(&u.roles)) " · " (u.agency.as_str())
                                @if !u.enrolled { " · " span.badge { (t(l, "admin.not_enrolled")) } }
                                @if let Some(g) = &u.pending {
                                    br;
                                    span.muted { (t(l, "admin.pending")) ": " (role_list(&g.roles)) " (" (g.requested_by) ")" }
                                    @if g.requested_by != v.actor.user && g.user != v.actor.user {
                                        form.inline method="post" action={ "/admin/grants/" (g.id) "/approve" } {
                                            input type="hidden" name="csrf" value=(v.csrf);
                                            button type="submit" { (t(l, "admin.approve")) }
                                        }
                                    }
                                }
                            }
                            td {
                                @if u.disabled_at.is_some() {
                                    span.badge { (t(l, "admin.disabled")) }
                                } @else if u.user != v.actor.user {
                                    form.inline method="post" action={ "/admin/users/" (u.user) "/roles" } {
                                        input type="hidden" name="csrf" value=(v.csrf);
                                        input type="text" name="roles" aria-label=(t(l, "col.roles")) value=(role_list(&u.roles)) maxlength="200";
                                        button type="submit" { (t(l, "admin.set_roles")) }
                                    }
                                    form.inline method="post" action={ "/admin/users/" (u.user) "/enrolment" } {
                                        input type="hidden" name="csrf" value=(v.csrf);
                                        button type="submit" { (t(l, "admin.new_code")) }
                                    }
                                    form.inline method="post" action={ "/admin/users/" (u.user) "/disable" } {
                                        input type="hidden" name="csrf" value=(v.csrf);
                                        button type="submit" { (t(l, "admin.disable")) }
                                    }
                                    form.inline method="post" action={ "/admin/users/" (u.user) "/revoke" } {
                                        input type="hidden" name="csrf" value=(v.csrf);
                                        button type="submit" { (t(l, "admin.revoke")) }
                                    }
                                }
                            }
                        } } }
                    }
                    h2 { (t(l, "admin.add_user")) }
                    form method="post" action="/admin/users" {
                        input type="hidden" name="csrf" value=(v.csrf);
                        label for="uid" { (t(l, "login.user")) }
                        input #uid type="text" name="user" maxlength="64" required;
                        label for="uagency" { (t(l, "admin.agency")) }
                        select #uagency name="agency" {
                            @for a in mandat_law::permit::Agency::ALL {
                                option value=(a.as_str()) { (a.as_str()) }
                            }
                        }
                        label { (t(l, "col.roles")) }
                        @for r in Role::ALL {
                            label.muted { input type="checkbox" name={ "role_" (r.as_str()) } value="on"; " " (r.as_str()) }
                        }
                        div.actions { button type="submit" { (t(l, "admin.add_user")) } }
                    }
                }
                section.panel {
                    h2 { (t(l, "cameras")) }
                    table {
                        thead { tr { th { "Id" } th { (t(l, "col.name")) } th { (t(l, "col.owner")) } th { (t(l, "admin.lat")) ", " (t(l, "admin.lon")) } } }
                        tbody { @for c in &cams { tr {
                            td.mono { (c.id) } td { (c.name) } td { (c.owner) }
                            td.num { (c.location.map(|(a, b)| format!("{a:.5}, {b:.5}")).unwrap_or_default()) }
                        } } }
                    }
                    h2 { (t(l, "admin.add_camera")) }
                    form method="post" action="/admin/cameras" {
                        input type="hidden" name="csrf" value=(v.csrf);
                        label for="cid" { "Id" } input #cid type="text" name="id" maxlength="64" required;
                        label for="cname" { (t(l, "col.name")) } input #cname type="text" name="name" maxlength="200" required;
                        label for="cowner" { (t(l, "col.owner")) } input #cowner type="text" name="owner" maxlength="200" value="police" required;
                        label for="clat" { (t(l, "admin.lat")) } input #clat type="text" name="lat" inputmode="decimal";
                        label for="clon" { (t(l, "admin.lon")) } input #clon type="text" name="lon" inputmode="decimal";
                        label for="curl" { (t(l, "admin.stream")) } input #curl type="text" name="url" maxlength="2000" required;
                        div.actions { button type="submit" { (t(l, "admin.add_camera")) } }
                    }
                }
            }
        },
    ))
}

async fn admin_add_user(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    v: Viewer,
    Form(f): Form<HashMap<String, String>>,
) -> Page {
    let l = v.lang;
    v.check_csrf(&s, f.get("csrf").map(String::as_str).unwrap_or(""))?;
    let roles: Vec<Role> = Role::ALL
        .into_iter()
        .filter(|r| f.contains_key(&format!("role_{}", r.as_str())))
        .collect();
    let user = f.get("user").map(|x| x.trim()).unwrap_or("");
    if user.len() > 64 {
        return Err(UiError::bad_request(
            l,
            "user ids are at most 64 characters",
        ));
    }
    let agency = match f.get("agency") {
        None => mandat_law::permit::Agency::Polismyndigheten,
        Some(a) => mandat_law::permit::Agency::parse(a).ok_or_else(|| {
            UiError::bad_request(l, "the agency is polismyndigheten or sakerhetspolisen")
        })?,
    };
    let e = s
        .control
        .create_account(&v.actor, user, &roles, agency, &origin(&peer))
        .await
        .page(l)?;
    Ok(enrolment_code_page(&v, &e))
}

/// The enrolment code, shown once to the admin who hands it over (never stored in clear).
fn enrolment_code_page(v: &Viewer, e: &mandat_store::Enrolment) -> Response {
    let l = v.lang;
    layout(
        v,
        "/admin",
        t(l, "admin.code_title"),
        None,
        html! {
            div.panel {
                p { (t(l, "admin.code_for")) " " strong { (e.user) } }
                p.mono #enrolment-code { (e.enrolment_code) }
                p.muted { (t(l, "admin.code_once")) }
                @if e.grant.is_some() {
                    p.muted { (t(l, "admin.code_grant")) }
                }
                p { a href="/admin" { (t(l, "nav.admin")) } }
            }
        },
    )
}

/// Approve a role grant from the admin page.
async fn admin_approve(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Page {
    v.check_csrf(&s, &f.csrf)?;
    s.control
        .approve_grant(&v.actor, &id, &origin(&peer))
        .await
        .page(v.lang)?;
    Ok(see_other("/admin?ok=admin.done"))
}

/// Disable an account, or end its sessions, from the admin page.
async fn admin_user_step(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    v: Viewer,
    Path((id, step)): Path<(String, String)>,
    Form(f): Form<HashMap<String, String>>,
) -> Page {
    v.check_csrf(&s, f.get("csrf").map(String::as_str).unwrap_or(""))?;
    let o = origin(&peer);
    match step.as_str() {
        "roles" => {
            let text = f.get("roles").map(String::as_str).unwrap_or("");
            if text.len() > 200 {
                return Err(UiError::bad_request(
                    v.lang,
                    "the roles field is over 200 bytes",
                ));
            }
            let mut roles = Vec::new();
            for name in text.split([',', ' ']).filter(|x| !x.is_empty()) {
                roles.push(Role::parse(name).ok_or_else(|| {
                    UiError::bad_request(v.lang, format!("unknown role {name:?}"))
                })?);
            }
            s.control
                .request_roles(&v.actor, &id, &roles, &o)
                .await
                .page(v.lang)?;
        }
        "enrolment" => {
            let e = s
                .control
                .reset_enrolment(&v.actor, &id, &o)
                .await
                .page(v.lang)?;
            return Ok(enrolment_code_page(&v, &e));
        }
        "disable" => s
            .control
            .disable_user(&v.actor, &id, &o)
            .await
            .page(v.lang)?,
        "revoke" => {
            s.control
                .revoke_sessions(&v.actor, &id, &o)
                .await
                .page(v.lang)?;
        }
        _ => {
            return Err(UiError::not_found(
                v.lang,
                "the step is roles, enrolment, disable or revoke",
            ));
        }
    }
    Ok(see_other("/admin?ok=admin.done"))
}

async fn admin_add_camera(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    v: Viewer,
    Form(f): Form<HashMap<String, String>>,
) -> Page {
    let l = v.lang;
    v.check_csrf(&s, f.get("csrf").map(String::as_str).unwrap_or(""))?;
    let get = |k: &str| f.get(k).map(|x| x.trim().to_string()).unwrap_or_default();
    let bad = |m: &str| UiError::bad_request(l, m);
    if f.values().any(|x| x.len() > 2000) {
        return Err(bad("a field is over 2000 bytes"));
    }
    let location = match (get("lat"), get("lon")) {
        (a, b) if a.is_empty() && b.is_empty() => None,
        (a, b) => {
            let lat: f64 = a.parse().map_err(|_| bad("latitude is a decimal number"))?;
            let lon: f64 = b
                .parse()
                .map_err(|_| bad("longitude is a decimal number"))?;
            if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
                return Err(bad("latitude is within ±90 and longitude within ±180"));
            }
            Some((lat, lon))
        }
    };
    let cam = mandat_store::Camera {
        id: get("id"),
        name: get("name"),
        location,
        owner: get("owner"),
        enabled: true,
    };
    s.control
        .add_camera(&v.actor, &cam, &get("url"), &origin(&peer))
        .await
        .page(l)?;
    Ok(see_other("/admin?ok=admin.done"))
}

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
        ("GET", "/decide", get(decide_page)),
        ("POST", "/decide/{id}", post(decide_post)),
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
