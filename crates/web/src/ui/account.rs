//! Signing in and out, enrolment with a one-time code, one's own password, the language: pages every user has.

use super::*;

pub(super) async fn root(headers: HeaderMap, State(s): State<AppState>) -> Response {
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
pub(super) struct LoginQuery {
    #[serde(default)]
    failed: Option<String>,
}

pub(super) async fn login_page(headers: HeaderMap, Query(q): Query<LoginQuery>) -> Response {
    let l = lang_of(&headers);
    login_form(l, q.failed.as_deref())
}

pub(super) fn login_form(l: Lang, error: Option<&str>) -> Response {
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
pub(super) struct LoginForm {
    user: String,
    password: String,
    #[serde(default)]
    totp: String,
}

pub(super) async fn login_post(
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

pub(super) fn enrol_form(l: Lang, error: Option<&str>) -> Response {
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

pub(super) async fn enrol_page(headers: HeaderMap) -> Response {
    enrol_form(lang_of(&headers), None)
}

#[derive(Deserialize)]
pub(super) struct EnrolForm {
    user: String,
    code: String,
    password: String,
    again: String,
}

/// Set one's password with the enrolment code; the page that answers shows the second factor's
/// secret once.
pub(super) async fn enrol_post(
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

pub(super) async fn password_page(v: Viewer, Query(f): Query<Flash>) -> Page {
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
pub(super) struct PasswordForm {
    #[serde(default)]
    csrf: String,
    current: String,
    new: String,
    again: String,
}

/// Change one's own password; every session ends, so the answer is the login page.
pub(super) async fn password_post(
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
pub(super) struct CsrfForm {
    #[serde(default)]
    pub(super) csrf: String,
}

pub(super) async fn logout(State(s): State<AppState>, v: Viewer, Form(f): Form<CsrfForm>) -> Page {
    v.check_csrf(&s, &f.csrf)?;
    s.control.logout(&v.token).await.page(v.lang)?;
    Ok(signed_out())
}

#[derive(Deserialize)]
pub(super) struct Back {
    #[serde(default)]
    back: String,
}

pub(super) async fn set_lang(Path(code): Path<String>, Query(b): Query<Back>) -> Response {
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
pub(super) fn local_path(back: &str) -> bool {
    back.starts_with('/')
        && !back.starts_with("//")
        && back.len() <= 2000
        && back.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
}
