//! The deciders (prosecutor or court): the applications filed to them, decided with reasons.

use super::*;

pub(super) async fn decide_page(
    State(s): State<AppState>,
    v: Viewer,
    Query(f): Query<Flash>,
) -> Page {
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
    // The decision binds these cameras: the decider sees whose each is, and any gone since.
    let cameras = s.control.cameras(&v.actor).await.page(l)?;
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
                            ul.cameras {
                                @for id in &a.area.cameras {
                                    @let cam = cameras.iter().find(|c| &c.id == id);
                                    li {
                                        span.mono { (id) }
                                        @match cam {
                                            Some(c) => {
                                                " · " (c.name) " · " (c.owner)
                                                @if c.owner != "police" { " · " strong { (t(l, "cam.partner")) } }
                                                @if !c.enabled { " · " (t(l, "cam.disabled")) }
                                            }
                                            None => { " · " strong { (t(l, "cam.removed")) } }
                                        }
                                    }
                                }
                            }
                            @if let Some(poly) = &a.area.polygon { (t(l, "f.polygon")) ": " (poly.len()) }
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
pub(super) struct DecideForm {
    #[serde(default)]
    csrf: String,
    outcome: String,
    #[serde(default)]
    reasons: String,
}

pub(super) async fn decide_post(
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
                    dt { (t(l, "cert.key")) } dd { (if c.wrapped_key_deleted { t(l, "fit.yes") } else { t(l, "fit.no") }) }
                    dt { (t(l, "cert.backups")) } dd { (match c.key_rotated_to { Some(e) => format!("{} ({e})", t(l, "cert.rotated")), None => t(l, "cert.not_rotated").to_string() }) }
                }
                details { summary { "JSON" } pre.mono { (serde_json::to_string_pretty(&c).unwrap_or_default()) } }
            }
        },
    ))
}
