//! The applicant: drafting, the team, applying, urgent start and stop, with the deadlines the law sets.

use super::*;

/// Reference photos one person may have on the draft form; each is a template of its own.
const MAX_PHOTOS: usize = 10;

pub(super) async fn permits_page(
    State(s): State<AppState>,
    v: Viewer,
    Query(f): Query<Flash>,
) -> Page {
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

pub(super) fn countdown(l: Lang, now: Timestamp, deadline: Timestamp) -> Markup {
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

pub(super) async fn permits_table(s: &AppState, v: &Viewer) -> Result<Markup, UiError> {
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
                                @if let Some(u) = &p.urgent {
                                    br; span.muted { (t(l, "permit.urgent.ground")) ": " (ground_text(l, &u.ground)) }
                                }
                            }
                            td {
                                div.actions {
                                    @if mine && p.status == Status::Draft {
                                        (action_button(v, &p.id, "apply", t(l, "permit.apply"), ""))
                                        form.inline method="post" action={ "/permits/" (p.id) "/urgent-start" } {
                                            input type="hidden" name="csrf" value=(v.csrf);
                                            input type="text" name="ground" required maxlength="4000" placeholder=(t(l, "permit.urgent.ground")) aria-label=(t(l, "permit.urgent.ground"));
                                            button.danger type="submit" { (t(l, "permit.urgent")) }
                                        }
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
                                    @if let Some(o) = &p.use_outcome {
                                        span.muted { (t(l, "permit.outcome.short")) ": "
                                            (o.results.iter().map(|r| t_dyn(l, "outcome", r.as_str())).collect::<Vec<_>>().join(", ")) }
                                    }
                                    @if mine && p.use_has_ended(now) {
                                        form.inline method="post" action={ "/permits/" (p.id) "/outcome" } {
                                            input type="hidden" name="csrf" value=(v.csrf);
                                            @for r in UseResult::ALL {
                                                @let checked = p.use_outcome.as_ref().is_some_and(|o| o.results.contains(&r));
                                                label { input type="checkbox" name={ "result_" (r.as_str()) } checked[checked]; " " (t_dyn(l, "outcome", r.as_str())) }
                                            }
                                            button.secondary type="submit" { (t(l, "permit.outcome")) }
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
pub(super) fn team_cell(v: &Viewer, p: &Permit, mine: bool) -> Markup {
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

/// An urgent start's ground, or a note that it started before grounds were recorded.
pub(super) fn ground_text(l: Lang, ground: &str) -> String {
    if ground.is_empty() {
        t(l, "permit.urgent.no_ground").to_string()
    } else {
        ground.to_string()
    }
}

pub(super) fn action_button(
    v: &Viewer,
    id: &str,
    action: &str,
    label: &str,
    class: &str,
) -> Markup {
    html! {
        form.inline method="post" action={ "/permits/" (id) "/" (action) } {
            input type="hidden" name="csrf" value=(v.csrf);
            button class=(class) type="submit" { (label) }
        }
    }
}

pub(super) fn draft_form(
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
                    label for="case" { (t(l, "f.case_number")) }
                    input #case type="text" name="case" maxlength="40" required placeholder="5000-K123456-26";
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
                    textarea #source name="source" rows="3" maxlength="2000" required {}
                    p.muted { (t(l, "f.photo_source_hint")) }
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

pub(super) const ANNEX_II: [&str; 17] = [
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
pub(super) fn threshold_text(l: Lang, threshold: f32, target: Option<(f64, &str)>) -> String {
    match target {
        Some((fpir, cal)) => format!(
            "{threshold:.3} (FPIR {fpir:.1e}, {} {cal})",
            t(l, "f.calibration")
        ),
        None => format!("{threshold:.3} ({})", t(l, "f.plain_cosine")),
    }
}

/// `datetime-local` gives `YYYY-MM-DDTHH:MM`; the form says it is UTC.
pub(super) fn parse_local_utc(s: &str) -> Option<Timestamp> {
    Timestamp::parse_rfc3339(&format!("{s}Z"))
}

pub(super) async fn draft_post(
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
    // One line per reference photo: each becomes a template of its own (the server names them).
    let photos: Vec<mandat_law::permit::PhotoRef> = get("source")
        .lines()
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|source| mandat_law::permit::PhotoRef {
            id: String::new(),
            source: source.to_string(),
        })
        .collect();
    if photos.is_empty() {
        return Err(bad("name the source of at least one reference photo"));
    }
    if photos.len() > MAX_PHOTOS {
        return Err(bad(&format!(
            "at most {MAX_PHOTOS} reference photos per person; name the best ones"
        )));
    }
    let application = mandat_law::Application {
        // A user applies for their own agency.
        agency: v.actor.agency,
        purpose,
        case_number: get("case"),
        offence,
        persons: vec![mandat_law::permit::DesignatedPerson {
            id: "person-1".into(),
            label: get("person"),
            photos,
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
            x => Some(mandat_law::permit::Target::stated(
                x.parse()
                    .map_err(|_| bad("the false-alert rate is a number"))?,
            )),
        },
        embedder: None,
    };
    s.control
        .draft(&v.actor, application, &origin(&peer))
        .await
        .page(l)?;
    Ok(see_other("/permits?ok=permit.created"))
}

pub(super) async fn fragment_permits(State(s): State<AppState>, v: Viewer) -> Page {
    v.require(&[Role::Applicant, Role::Prosecutor])?;
    Ok(permits_table(&s, &v).await?.into_response())
}

#[derive(Deserialize)]
pub(super) struct ReasonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    /// For `team`: the user, and their role on the team (empty: take them off).
    #[serde(default)]
    user: String,
    #[serde(default)]
    role: String,
    /// For `urgent-start`: why use cannot wait for a decision.
    #[serde(default)]
    ground: String,
    /// For `outcome`: a box for each result ticked (named fields, so a form full of made-up
    /// names costs nothing to read).
    result_person_located: Option<String>,
    result_arrested: Option<String>,
    result_victim_found: Option<String>,
    result_nothing: Option<String>,
    result_false_identification_acted_on: Option<String>,
}

pub(super) async fn permit_action(
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
        "urgent-start" => s
            .control
            .urgent_start(&v.actor, &id, &f.ground, &o)
            .await
            .page(l)?,
        "stop" => s.control.stop(&v.actor, &id, &f.reason, &o).await.page(l)?,
        "outcome" => {
            let results: Vec<UseResult> = [
                (UseResult::PersonLocated, &f.result_person_located),
                (UseResult::Arrested, &f.result_arrested),
                (UseResult::VictimFound, &f.result_victim_found),
                (UseResult::Nothing, &f.result_nothing),
                (
                    UseResult::FalseIdentificationActedOn,
                    &f.result_false_identification_acted_on,
                ),
            ]
            .into_iter()
            .filter_map(|(r, ticked)| ticked.is_some().then_some(r))
            .collect();
            s.control
                .record_outcome(&v.actor, &id, &results, &o)
                .await
                .page(l)?
        }
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
