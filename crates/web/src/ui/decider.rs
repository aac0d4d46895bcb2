//! The deciders (prosecutor or court): the applications filed to them, decided with reasons,
//! in whole or in part; and the amendments that ask to add cameras to a granted permit.

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
    let mine = s.control.permits(&v.actor, &v.origin).await.page(l)?;
    let queue: Vec<&Permit> = mine
        .iter()
        .filter(|p| matches!(p.status, Status::Applied | Status::UrgentApplied))
        .filter(|p| p.decider(profile).is_some_and(|m| m.user == v.actor.user))
        .collect();
    let amendments: Vec<&Permit> = mine
        .iter()
        .filter(|p| p.status == Status::Granted && p.open_amendment().is_some())
        .filter(|p| p.decider(profile).is_some_and(|m| m.user == v.actor.user))
        .collect();
    // The decision binds these cameras: the decider sees whose each is, and any gone since.
    let cameras = s.control.cameras(&v.actor).await.page(l)?;
    // What the measured days say of each camera asked for: fit or not, and passers-by per day.
    let asked: Vec<String> = queue
        .iter()
        .flat_map(|p| p.application.area.cameras.iter().cloned())
        .chain(amendments.iter().flat_map(|p| {
            p.application.area.cameras.iter().cloned().chain(
                p.open_amendment()
                    .map(|a| a.cameras.clone())
                    .unwrap_or_default(),
            )
        }))
        .collect();
    let fitness = s.control.camera_evidence(&v.actor, &asked).await.page(l)?;
    // The recurring risk analysis a grant rests on, and what each application's threshold means
    // in false alerts. A tampered record shows as such, not as a broken page.
    let risk = s.control.risk_analysis(&v.actor).await;
    let mut expected = Vec::with_capacity(queue.len());
    for p in &queue {
        expected.push(
            s.control
                .expected_false_alerts(&v.actor, &p.application)
                .await
                .page(l)?,
        );
    }
    let risk_row = risk_markup(l, &risk, profile, &s.control.embedder().sha256, now);
    // The enrolled photos beside each application (each image's viewing is logged).
    let mut photos = Vec::with_capacity(queue.len());
    for p in &queue {
        photos.push(s.control.reference_photos(&v.actor, &p.id).await.page(l)?);
    }
    // Subject notifications waiting for this decider's (or prosecutor's) decision.
    let mut tasks = open_tasks(&s, &v).await?;
    tasks.retain(|x| x.steps.iter().any(|s| s.ends_with("_decision")));
    Ok(layout(
        &v,
        "/decide",
        t(l, "decide.queue"),
        f.ok.as_deref(),
        html! {
            @if queue.is_empty() && amendments.is_empty() { p.muted { (t(l, "decide.none")) } }
            @if !tasks.is_empty() { (subjects_panel(&v, &tasks)) }
            @for ((p, expected), photos) in queue.iter().zip(&expected).zip(&photos) {
                @let a = &p.application;
                @let decider = profile.rule(a.purpose).decider;
                article.panel {
                    h2 { span.mono { (p.id) } " " (status_badge(l, p.status)) }
                    dl.facts {
                        dt { (t(l, "f.purpose")) } dd { (t_dyn(l, "purpose", a.purpose.as_str())) }
                        dt { (t(l, "f.decider")) } dd { (t(l, match decider { mandat_law::Authority::Court => "authority.court", mandat_law::Authority::Prosecutor => "authority.prosecutor" })) }
                        dt { (t(l, "f.agency")) } dd { (format!("{:?}", a.agency)) }
                        dt { (t(l, "f.case_number")) } dd.mono { (a.case_number) }
                        dt { (t(l, "f.grounds")) } dd { (super::applicant::grounds_markup(l, a)) }
                        @let per_template = a.target.as_ref().and_then(|x| Some((x.z?, x.cohort.as_deref()?)));
                        dt { (t(l, "f.persons")) } dd {
                            div.photos {
                                @for ph in photos.iter().filter(|ph| ph.enrolled) {
                                    figure {
                                        @let href = format!("/ui/permits/{}/photos/{}", p.id, ph.photo);
                                        @match &ph.quality {
                                            Some(q) => (super::photos::face_svg(Some(&href), q, false)),
                                            None => img.photo src=(href) alt=(t(l, "photos.photo"));,
                                        }
                                        figcaption { (ph.label) br; small.muted { (ph.source) } }
                                    }
                                }
                            }
                            a href={ "/permits/" (p.id) "/photos" } { (t(l, "photos.link")) }
                            br;
                            @for person in &a.persons {
                                (person.label) " (" (person.photos.len()) " " (t(l, "f.photos")) ")"
                                // Each person's own threshold, so the decider sees who is held stricter.
                                @if per_template.is_some() {
                                    " · " (t(l, "f.threshold")) " "
                                    @match s.control.threshold_floor(&p.id, &person.id) {
                                        Some(x) => span.num { (format!("{x:.3}")) },
                                        None => span.muted { (t(l, "f.no_threshold")) },
                                    }
                                }
                                br;
                            }
                        }
                        dt { (t(l, "f.area")) } dd {
                            (camera_list(l, &a.area.cameras, &cameras, &a.period, &fitness))
                            (area_map(l, &a.area, &cameras))
                        }
                        dt { (t(l, "f.limits")) } dd { (limits_markup(l, a, &profile.limits, &fitness)) }
                        dt { (t(l, "col.period")) } dd.num { (local(a.period.start)) " – " (local(a.period.end)) }
                        dt { (t(l, "f.necessity")) } dd { (a.reasons.necessity) }
                        dt { (t(l, "f.proportionality")) } dd { (a.reasons.proportionality) }
                        dt { (t(l, "f.fria")) } dd { (a.reasons.fria_ref) }
                        dt { (t(l, "f.eudb")) } dd { (a.reasons.eu_db_ref) }
                        dt { (t(l, "f.threshold")) } dd.num {
                            (threshold_text(l, a.threshold, a.target.as_ref().map(|x| (x.fpir, x.calibration.as_str()))))
                            @if let Some((z, cohort)) = per_template {
                                br; (t(l, "f.per_template")) " " span.mono { (cohort) } " (z " (format!("{z:.3}")) ")"
                            }
                        }
                        // The model its threshold and templates belong to; a grant under another is refused.
                        dt { (t(l, "f.model")) } dd {
                            @match mandat_control::calibration::check_drafted_model(a, s.control.embedder()) {
                                Ok(()) => { (s.control.embedder().name) " " span.mono { (s.control.embedder().short()) } }
                                Err(r) => span.bad { (t(l, "risk.refused")) " " (r.to_string()) },
                            }
                        }
                        dt { (t(l, "risk.false_alerts")) } dd.num { (expected_markup(l, expected)) }
                        (risk_row)
                        dt { (t(l, "col.applicant")) } dd {
                            (p.applicant)
                            @if let Some(h) = &p.handed_over { " · " (t(l, "permit.handed_over")) " " (h.from) }
                        }
                        dt { (t(l, "f.applied")) } dd { (p.applied_at.map(local).unwrap_or_default()) }
                        @if let Some(u) = &p.urgent {
                            dt { (t(l, "f.urgent")) } dd { (local(u.started_at)) " (" (u.started_by) ")" br; (countdown(l, now, u.deadline)) }
                            dt { (t(l, "permit.urgent.ground")) } dd { (super::applicant::ground_text(l, &u.ground)) }
                        }
                    }
                    form method="post" action={ "/decide/" (p.id) } {
                        input type="hidden" name="csrf" value=(v.csrf);
                        // A grant covers what stays ticked: the decider may grant less than
                        // was applied for, never more.
                        input type="hidden" name="scope" value="1";
                        fieldset {
                            legend { (t(l, "decide.scope")) }
                            // By position: ids from before the server gave them may repeat.
                            @for (i, id) in a.area.cameras.iter().enumerate() {
                                label.muted { input type="checkbox" name={ "cam_" (i) } value="on" checked; " " span.mono { (id) } }
                            }
                            @for (i, person) in a.persons.iter().enumerate() {
                                label.muted { input type="checkbox" name={ "person_" (i) } value="on" checked; " " (person.label) }
                            }
                            label for={ "until-" (p.id) } { (t(l, "decide.until")) " (UTC)" }
                            input id={ "until-" (p.id) } type="datetime-local" name="until" value=(utc_input(a.period.end));
                        }
                        label for={ "case-" (p.id) } { (t(l, "f.decider_case")) }
                        input id={ "case-" (p.id) } type="text" name="decider_case" maxlength="40" placeholder="B 1234-26"
                            value=(p.decider_case.as_ref().map(|c| c.number.as_str()).unwrap_or(""));
                        label for={ "reasons-" (p.id) } { (t(l, "decide.reasons")) }
                        textarea id={ "reasons-" (p.id) } name="reasons" maxlength="8000" required {}
                        div.actions {
                            button.confirm type="submit" name="outcome" value="grant" { (t(l, "decide.grant")) }
                            button.reject type="submit" name="outcome" value="refuse" { (t(l, "decide.refuse")) }
                        }
                    }
                }
            }
            @for p in &amendments {
                @if let Some(am) = p.open_amendment() {
                    article.panel {
                        h2 { (t(l, "amend.title")) " " (am.number) " · " span.mono { (p.id) } }
                        dl.facts {
                            dt { (t(l, "f.purpose")) } dd { (t_dyn(l, "purpose", p.application.purpose.as_str())) }
                            dt { (t(l, "amend.covered")) } dd { (camera_list(l, &p.application.area.cameras, &cameras, &p.application.period, &fitness)) }
                            dt { (t(l, "amend.asked")) } dd {
                                (camera_list(l, &am.cameras, &cameras, &p.application.period, &fitness))
                                (area_map(l, &mandat_law::Area { cameras: p.application.area.cameras.iter().chain(&am.cameras).cloned().collect(), polygon: p.application.area.polygon.clone() }, &cameras))
                            }
                            dt { (t(l, "amend.reasons")) } dd { (am.reasons) }
                            dt { (t(l, "col.applicant")) } dd { (am.filed_by) " · " (local(am.filed_at)) }
                            dt { (t(l, "col.period")) } dd.num { (local(p.application.period.start)) " – " (local(p.application.period.end)) }
                        }
                        form method="post" action={ "/decide/" (p.id) "/amendment" } {
                            input type="hidden" name="csrf" value=(v.csrf);
                            input type="hidden" name="number" value=(am.number);
                            label for={ "am-reasons-" (p.id) } { (t(l, "decide.reasons")) }
                            textarea id={ "am-reasons-" (p.id) } name="reasons" maxlength="8000" required {}
                            div.actions {
                                button.confirm type="submit" name="outcome" value="grant" { (t(l, "decide.grant")) }
                                button.reject type="submit" name="outcome" value="refuse" { (t(l, "decide.refuse")) }
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// Passers-by not sought per 10,000 who would raise a false alert, and where the figure comes from.
fn expected_markup(l: Lang, e: &mandat_control::calibration::ExpectedFalseAlerts) -> Markup {
    use mandat_control::calibration::ExpectedFalseAlerts as E;
    use mandat_eval::calibrate::FpirAt;
    let per_10k = |x: f64| format!("{:.2}", x * 1e4);
    html! {
        @match e {
            E::Target { fpir, held_out } => {
                (per_10k(*fpir)) " " (t(l, "risk.per_10k")) " (" (t(l, "risk.target")) ")"
                @if let Some(h) = held_out {
                    br; span.muted { (t(l, "risk.held_out")) ": " (per_10k(h.fpir_realised)) " (" (h.false_alarms) " / " (h.trials) ", " (format!("{:.2}×", h.ratio)) ")" }
                }
            }
            E::FromTable { at, calibration } => {
                @match at {
                    FpirAt::About(x) => { (per_10k(*x)) }
                    FpirAt::Below(x) => { (t(l, "risk.below")) " " (per_10k(*x)) }
                    FpirAt::Above(x) => { (t(l, "risk.above")) " " (per_10k(*x)) }
                }
                " " (t(l, "risk.per_10k")) " (" (t(l, "f.calibration")) " " span.mono { (calibration) } ")"
            }
            E::Unknown => span.bad { (t(l, "risk.unknown")) },
        }
    }
}

/// The recurring risk analysis: its date and age against the profile's limit (or why a grant is
/// refused now), and the demographic spread it measured.
fn risk_markup(
    l: Lang,
    risk: &Result<Option<mandat_law::risk::RiskAnalysis>, mandat_control::ControlError>,
    profile: &mandat_law::Profile,
    sha: &str,
    now: Timestamp,
) -> Markup {
    let ratio = |s: &Option<mandat_law::risk::Spread>| match s {
        Some(mandat_law::risk::Spread { ratio: Some(r), .. }) => format!("{r:.1}×"),
        Some(_) => t(l, "risk.unbounded").to_string(),
        None => "–".to_string(),
    };
    html! {
        dt { (t(l, "risk.analysis")) }
        dd {
            @match risk {
                // A tampered record says so; anything else is the database's business, not the page's.
                Err(e) if e.code() == "tampered" => span.bad { (t(l, "risk.refused")) " " (e.to_string()) },
                Err(_) => span.bad { (t(l, "risk.refused")) " " (t(l, "risk.unreadable")) },
                Ok(a) => {
                    @if let Err(r) = mandat_law::risk::check_current(profile, sha, a.as_ref(), now) {
                        span.bad { (t(l, "risk.refused")) " " (r.to_string()) }
                    } @else if let Some(a) = a {
                        (t(l, "risk.evaluated")) " " span.num { (local(a.run_at)) } " ("
                        (a.age_days(now)) " " (t(l, "risk.days_ago")) " " (profile.risk_analysis_max_days) " " (t(l, "risk.days_allowed")) "), "
                        (t(l, "f.calibration")) " " span.mono { (a.calibration) }
                    }
                }
            }
        }
        @if let Ok(Some(a)) = risk {
            dt { (t(l, "risk.spread")) }
            dd {
                @if let Some(s) = &a.spread_per_template {
                    (t(l, "risk.spread_per_template")) ": " span.num { (ratio(&a.spread_per_template)) } " (" (s.worst) " / " (s.best) "); "
                }
                (t(l, "risk.spread_global")) ": " span.num { (ratio(&a.spread_global)) }
                @if let Some(s) = &a.spread_global { " (" (s.worst) " / " (s.best) ")" }
                br; span.muted { (t(l, "risk.spread_where")) " (FPIR " (format!("{:.0e}", a.operating_fpir)) ", " (a.operating_watchlist) " " (t(l, "f.persons")) ")" }
            }
        }
    }
}

/// The size of the application against the profile's caps, each exceeded one marked.
fn limits_markup(
    l: Lang,
    a: &mandat_law::Application,
    caps: &mandat_law::profile::Limits,
    evidence: &std::collections::HashMap<String, mandat_control::CameraEvidence>,
) -> Markup {
    // Passers-by per day over the cameras measured; those not measured are named as such.
    let (mut per_day, mut unmeasured) = (0.0, 0usize);
    for c in &a.area.cameras {
        match evidence.get(c).and_then(|e| e.passers_by_per_day) {
            Some(n) => per_day += n,
            None => unmeasured += 1,
        }
    }
    let measured = a.area.cameras.len() - unmeasured;
    let cap = |n: f64, max: Option<f64>, shown: String| {
        html! {
            @match max {
                Some(m) if n > m => span.bad { (shown) " (" (t(l, "limits.max")) " " (m) ")" },
                Some(m) => { (shown) " (" (t(l, "limits.max")) " " (m) ")" },
                None => { (shown) " (" (t(l, "limits.none")) ")" },
            }
        }
    };
    html! {
        (t(l, "f.persons")) " " (cap(a.persons.len() as f64, caps.max_persons.map(f64::from), a.persons.len().to_string()))
        " · " (t(l, "cameras")) " " (cap(a.area.cameras.len() as f64, caps.max_cameras.map(f64::from), a.area.cameras.len().to_string()))
        @if let Some(km2) = a.area.polygon_km2() {
            " · " (t(l, "f.area")) " " (cap(km2, caps.max_area_km2, format!("{km2:.2} km²")))
        }
        br;
        @if measured > 0 {
            (t(l, "limits.passers_by")) " " strong.num { (format!("{per_day:.0}")) }
            " " span.muted { "(" (measured) " " (t(l, "limits.passers_by_measured")) ", " (mandat_control::PASSERS_BY_DAYS) " " (t(l, "limits.passers_by_days")) ")" }
        } @else {
            span.muted { (t(l, "limits.passers_by")) " " (t(l, "limits.passers_by_none")) }
        }
        @if measured > 0 && unmeasured > 0 {
            " · " span.muted { (unmeasured) " " (t(l, "limits.passers_by_unmeasured")) }
        }
    }
}

/// A camera's agreement in a line: its reference and period, or that it has none.
pub(crate) fn agreement_text(l: Lang, c: &mandat_store::Camera) -> Markup {
    html! {
        @match (&c.agreement, c.owner == "police") {
            (_, true) => span.muted { "–" },
            (Some(a), _) => {
                (a.reference) " · " (a.period.start.stockholm_date()) " – "
                (a.period.end.plus_millis(-1).stockholm_date())
                br; span.muted { (a.basis) " · " (a.contact) }
            }
            (None, false) => strong.warn { (t(l, "cam.no_agreement")) },
        }
    }
}

/// The cameras named, each with its owner (partner cameras marked, with their agreement and how
/// it stands against the permit's period), its last fitness verdict, and any disabled or removed.
fn camera_list(
    l: Lang,
    ids: &[String],
    cameras: &[mandat_store::Camera],
    period: &mandat_law::Period,
    fitness: &std::collections::HashMap<String, mandat_control::CameraEvidence>,
) -> Markup {
    use mandat_law::partner::{Coverage, coverage};
    html! {
        ul.cameras {
            @for id in ids {
                @let cam = cameras.iter().find(|c| &c.id == id);
                li {
                    span.mono { (id) }
                    @match cam {
                        Some(c) => {
                            " · " (c.name) " · " (c.owner)
                            @if c.owner != "police" {
                                " · " strong { (t(l, "cam.partner")) }
                                @let cov = coverage(c.owner_kind().unwrap_or(mandat_law::OwnerKind::Private), c.agreement.as_ref(), period);
                                br; span.agreement { (t(l, "cam.agreement")) ": " (agreement_text(l, c)) }
                                @match cov {
                                    Coverage::Whole => { br; span.ok { (t(l, "cam.agreement_whole")) } }
                                    Coverage::Part => { br; strong.warn { (t(l, "cam.agreement_part")) } }
                                    Coverage::None => { br; strong.warn { (t(l, "cam.agreement_none")) } }
                                    Coverage::NotNeeded => {}
                                }
                            }
                            @if !c.enabled { " · " (t(l, "cam.disabled")) }
                            br; span.fitness {
                                (t(l, "cam.fitness")) ": "
                                @match fitness.get(&c.id).and_then(|e| e.latest.as_ref()) {
                                    Some(d) => {
                                        @let v = d.verdict();
                                        strong class={ "fit-" (v) } { (t_dyn(l, "fitness", v)) }
                                        " (" (d.day)
                                        @if let Some(p) = d.availability_pct() { ", " (format!("{p:.1}")) " % " (t(l, "cam.available")) }
                                        ")"
                                        @if v != "fit" && !d.reasons.is_empty() { " · " span.muted { (d.reasons.join("; ")) } }
                                    }
                                    None => span.muted { (t(l, "cam.fitness_unmeasured")) },
                                }
                            }
                        }
                        None => { " · " strong { (t(l, "cam.removed")) } }
                    }
                }
            }
        }
    }
}

/// The area on a plain map drawn here (see [`Projection`]): the polygon that helped choose the
/// cameras, each camera named (partner cameras as rings), and registered cameras nearby that the
/// application does not name, in grey.
pub(super) fn area_map(
    l: Lang,
    area: &mandat_law::Area,
    cameras: &[mandat_store::Camera],
) -> Markup {
    let mut points: Vec<(f64, f64)> = cameras
        .iter()
        .filter(|c| area.covers(&c.id))
        .filter_map(|c| c.location)
        .collect();
    points.extend(area.polygon.iter().flatten().copied());
    let Some(map) = Projection::fit(&points, 480.0, 320.0) else {
        return html! { p.muted { (t(l, "map.none")) } };
    };
    html! {
        svg.map viewBox="0 0 480 320" role="img" aria-label=(t(l, "map.area")) xmlns="http://www.w3.org/2000/svg" {
            @if let Some(poly) = &area.polygon { polygon.area points=(map.points(poly)) {} }
            @for c in cameras {
                @if let Some(loc) = c.location.filter(|p| map.shows(*p)) {
                    @let ((x, y), (tx, ty)) = (map.xy(loc), map.label_xy(loc));
                    @let cls = match (area.covers(&c.id), c.owner != "police") {
                        (false, _) => "cam",
                        (true, true) => "cam partner",
                        (true, false) => "cam scoped",
                    };
                    circle class=(cls) cx=(x) cy=(y) r="6" { title { (c.id) " · " (c.name) " · " (c.owner) } }
                    text x=(tx) y=(ty) { (c.id) }
                }
            }
        }
        p.muted { small { (t(l, "map.area_legend")) } }
    }
}

/// A timestamp as a `datetime-local` value, in UTC as the form says.
fn utc_input(t: Timestamp) -> String {
    t.to_rfc3339().chars().take(16).collect()
}

pub(super) async fn decide_post(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Page {
    let l = v.lang;
    let (outcome, reasons) = decision_form(&s, &v, &f)?;
    let o = origin(&peer);
    // The decider's own case number is registered first, so a bad one stops the decision.
    if let Some(n) = f
        .get("decider_case")
        .map(|x| x.trim())
        .filter(|x| !x.is_empty())
    {
        // The form shows the number registered; sent back unchanged, it is not registered again.
        let p = s.control.permit(&v.actor, &id, &o).await.page(l)?;
        if p.decider_case.as_ref().is_none_or(|c| c.number != n) {
            s.control
                .register_case(&v.actor, &id, n, &o)
                .await
                .page(l)?;
        }
    }
    // The page's form says what stays ticked (`scope`); a grant of less is a partial grant.
    if outcome == Outcome::Grant && f.contains_key("scope") {
        let p = s.control.permit(&v.actor, &id, &o).await.page(l)?;
        let narrowing = narrowing_of(l, &p, &f)?;
        if narrowing != mandat_law::Narrowing::default() {
            s.control
                .grant_in_part(&v.actor, &id, reasons, &narrowing, &o)
                .await
                .page(l)?;
            return Ok(see_other("/decide?ok=decide.done"));
        }
    }
    let (_, cert) = s
        .control
        .decide(&v.actor, &id, outcome, reasons, &o)
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

/// What every decision form carries, checked: its CSRF token, the outcome and the reasons.
fn decision_form<'f>(
    s: &AppState,
    v: &Viewer,
    f: &'f HashMap<String, String>,
) -> Result<(Outcome, &'f str), UiError> {
    let l = v.lang;
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    v.check_csrf(s, get("csrf"))?;
    let outcome = match get("outcome") {
        "grant" => Outcome::Grant,
        "refuse" => Outcome::Refuse,
        _ => return Err(UiError::bad_request(l, "outcome is grant or refuse")),
    };
    let reasons = get("reasons");
    if reasons.len() > 8000 {
        return Err(UiError::bad_request(l, "the reasons are over 8000 bytes"));
    }
    Ok((outcome, reasons))
}

/// What the decider left unticked, or moved earlier, as a [`mandat_law::Narrowing`]: empty when
/// the grant is of everything applied for.
fn narrowing_of(
    l: Lang,
    p: &Permit,
    f: &HashMap<String, String>,
) -> Result<mandat_law::Narrowing, UiError> {
    let a = &p.application;
    // Boxes by position; only what was applied for can be ticked, a box for anything else is
    // ignored. An id that repeats (from before the server gave ids) cannot be granted in part.
    let ticked = |prefix: &str, ids: Vec<&String>| -> Result<Option<Vec<String>>, UiError> {
        let all = ids.len();
        let (kept, left): (Vec<_>, Vec<_>) = ids
            .into_iter()
            .enumerate()
            .partition(|(i, _)| f.contains_key(&format!("{prefix}{i}")));
        if left.iter().any(|(_, id)| kept.iter().any(|(_, k)| k == id)) {
            return Err(UiError::bad_request(
                l,
                "two entries of the application share an id, so one cannot be granted without the other; grant both or refuse",
            ));
        }
        let kept: Vec<String> = kept.into_iter().map(|(_, id)| id.clone()).collect();
        Ok((kept.len() < all).then_some(kept))
    };
    let cameras = ticked("cam_", a.area.cameras.iter().collect())?;
    let persons = ticked("person_", a.persons.iter().map(|d| &d.id).collect())?;
    let until = match f.get("until").map(|x| x.trim()) {
        None | Some("") => None,
        Some(x) if x == utc_input(a.period.end) => None,
        Some(x) => Some(
            parse_local_utc(x)
                .ok_or_else(|| UiError::bad_request(l, "the end is not a date and time"))?,
        ),
    };
    Ok(mandat_law::Narrowing {
        cameras,
        persons,
        until,
    })
}

pub(super) async fn amendment_post(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Page {
    let l = v.lang;
    let (outcome, reasons) = decision_form(&s, &v, &f)?;
    let number = f
        .get("number")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| UiError::bad_request(l, "the amendment's number is missing"))?;
    s.control
        .decide_amendment(&v.actor, &id, number, outcome, reasons, &origin(&peer))
        .await
        .page(l)?;
    Ok(see_other("/decide?ok=decide.done"))
}
