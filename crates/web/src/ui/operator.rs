//! The camera centre's operator: live alerts, the camera map and health, dispatch after two reviews.

use super::*;

pub(super) async fn operator(State(s): State<AppState>, v: Viewer, Query(f): Query<Flash>) -> Page {
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

pub(super) async fn alerts_table(s: &AppState, v: &Viewer) -> Result<Markup, UiError> {
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
                            td.num {
                                (local(a.captured_at))
                                @if a.sightings > 0 { br; small.muted { "×" (a.sightings + 1) } }
                            }
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

/// The latest notices of covered cameras that became unfit (at most 20), or nothing.
pub(super) fn notices_panel(
    l: Lang,
    notices: &[mandat_store::camera_days::CameraNotice],
) -> Markup {
    html! {
        @if !notices.is_empty() {
            div.notices role="status" {
                h3 { (t(l, "notices.title")) }
                p.muted { (t(l, "notices.help")) }
                ul {
                    @for n in notices.iter().take(20) {
                        li {
                            (n.raised_at.in_stockholm()) " · " span.mono { (n.camera) } " · "
                            span.mono { (n.permit) } " · " (n.reasons.join("; "))
                        }
                    }
                }
            }
        }
    }
}

pub(super) async fn cameras_table(s: &AppState, v: &Viewer) -> Result<Markup, UiError> {
    let l = v.lang;
    let cams = s.control.cameras(&v.actor).await.page(l)?;
    let health: HashMap<String, mandat_engine::CameraHealth> = crate::visible_health(s, &v.actor)
        .await
        .page(l)?
        .into_iter()
        .map(|h| (h.camera.clone(), h))
        .collect();
    let notices = s.control.camera_notices(&v.actor).await.page(l)?;
    Ok(html! {
        (notices_panel(l, &notices))
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
                                    None => span.badge.st-idle { (t(l, "health.idle")) },
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
pub(super) async fn map_svg(s: &AppState, v: &Viewer) -> Result<Markup, UiError> {
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
    let Some(map) = Projection::fit(&pts, 600.0, 400.0) else {
        return Ok(html! { p.muted { (t(l, "map.none")) } });
    };
    let scoped = |c: &mandat_store::Camera| active.iter().any(|p| p.application.area.covers(&c.id));
    Ok(html! {
        svg.map viewBox="0 0 600 400" role="img" aria-label=(t(l, "map")) xmlns="http://www.w3.org/2000/svg" {
            @for p in &active {
                @if let Some(poly) = &p.application.area.polygon {
                    polygon.area points=(map.points(poly)) { title { (p.id) } }
                }
            }
            @for c in &cams {
                @if let Some(loc) = c.location {
                    @let ((x, y), (tx, ty)) = (map.xy(loc), map.label_xy(loc));
                    @let cls = if scoped(c) { "cam scoped" } else { "cam" };
                    circle class=(cls) cx=(x) cy=(y) r="6" { title { (c.id) " · " (c.name) } }
                    text x=(tx) y=(ty) { (c.id) }
                }
            }
        }
        p.muted { small { (t(l, "map.legend")) } }
    })
}

pub(super) async fn fragment_alerts(State(s): State<AppState>, v: Viewer) -> Page {
    v.require(&[Role::Operator])?;
    Ok(alerts_table(&s, &v).await?.into_response())
}

pub(super) async fn fragment_map(State(s): State<AppState>, v: Viewer) -> Page {
    v.require(&[Role::Operator])?;
    Ok(map_svg(&s, &v).await?.into_response())
}

pub(super) async fn fragment_cameras(State(s): State<AppState>, v: Viewer) -> Page {
    v.require(&[Role::Operator])?;
    Ok(cameras_table(&s, &v).await?.into_response())
}

pub(super) async fn dispatch(
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
pub(super) async fn ui_stream(
    State(s): State<AppState>,
    v: Viewer,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, UiError> {
    v.require(&[Role::Operator, Role::Reviewer])?;
    let events = crate::alert_events(s.control.clone(), v.token.clone(), v.actor.clone(), |ev| {
        Event::default().event("alert").data(ev.id)
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
