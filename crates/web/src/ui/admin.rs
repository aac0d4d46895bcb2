//! The administrators: accounts (two admins for every role), sessions and cameras; never a permit or an alert.

use super::*;

pub(super) async fn admin_page(
    State(s): State<AppState>,
    v: Viewer,
    Query(f): Query<Flash>,
) -> Page {
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
                        thead { tr { th { "Id" } th { (t(l, "col.name")) } th { (t(l, "col.owner")) } th { (t(l, "cam.agreement")) } th { (t(l, "admin.lat")) ", " (t(l, "admin.lon")) } } }
                        tbody { @for c in &cams { tr {
                            td.mono { (c.id) } td { (c.name) } td { (c.owner) }
                            td { (super::decider::agreement_text(l, c)) }
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
                        fieldset {
                            legend { (t(l, "cam.agreement")) } p.muted { (t(l, "admin.agreement_help")) }
                            label for="abasis" { (t(l, "agreement.basis")) } input #abasis type="text" name="agreement_basis" maxlength="500";
                            label for="aref" { (t(l, "agreement.reference")) } input #aref type="text" name="agreement_ref" maxlength="100";
                            label for="afrom" { (t(l, "agreement.from")) } input #afrom type="date" name="agreement_from";
                            label for="auntil" { (t(l, "agreement.until")) } input #auntil type="date" name="agreement_until";
                            label for="acontact" { (t(l, "agreement.contact")) } input #acontact type="text" name="agreement_contact" maxlength="200";
                        }
                        div.actions { button type="submit" { (t(l, "admin.add_camera")) } }
                    }
                }
            }
        },
    ))
}

pub(super) async fn admin_add_user(
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
pub(super) fn enrolment_code_page(v: &Viewer, e: &mandat_store::Enrolment) -> Response {
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
pub(super) async fn admin_approve(
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
pub(super) async fn admin_user_step(
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

pub(super) async fn admin_add_camera(
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
    let fields = [
        "agreement_basis",
        "agreement_ref",
        "agreement_from",
        "agreement_until",
        "agreement_contact",
    ]
    .map(get);
    let agreement = if fields.iter().all(String::is_empty) {
        None
    } else {
        // A day is a whole Swedish day: from its start to the end of the last one.
        let day = |s: &str, last: bool| {
            mandat_law::partner::day_bound(s, last)
                .ok_or_else(|| bad("the agreement's days are dates (YYYY-MM-DD)"))
        };
        let [basis, reference, from, until, contact] = fields;
        Some(mandat_law::Agreement {
            basis,
            reference,
            period: mandat_law::Period {
                start: day(&from, false)?,
                end: day(&until, true)?,
            },
            contact,
        })
    };
    let cam = mandat_store::Camera {
        id: get("id"),
        name: get("name"),
        location,
        owner: get("owner"),
        enabled: true,
        agreement,
    };
    s.control
        .add_camera(&v.actor, &cam, &get("url"), &origin(&peer))
        .await
        .page(l)?;
    Ok(see_other("/admin?ok=admin.done"))
}
