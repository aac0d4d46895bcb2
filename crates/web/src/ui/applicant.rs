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
    let notices = s.control.camera_notices(&v.actor).await.page(l)?;
    Ok(layout(
        &v,
        "/permits",
        t(l, "permits.title"),
        f.ok.as_deref(),
        html! {
            section.panel {
                div #permits hx-get="/ui/fragments/permits" hx-trigger="every 15s" { (table) }
                (super::operator::notices_panel(l, &notices))
            }
            // The applicant's own subject notifications, overdue first.
            (subjects_panel(&v, &tasks))
            @if v.actor.has(Role::Applicant) {
                section.panel { h2 { (t(l, "permits.new")) } (draft_form(&v, &cams, calibration.as_deref(), s.default_threshold, s.control.profile().offences)) }
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
                            td { (t_dyn(l, "purpose", p.application.purpose.as_str())) small { (grounds_markup(l, &p.application)) } }
                            td.num { (local(p.application.period.start)) br; (local(p.application.period.end)) }
                            td {
                                (p.applicant)
                                @if let Some(h) = &p.handed_over { br; small.muted { (t(l, "permit.handed_over")) " " (h.from) } }
                            }
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
                                    @if mandat_law::Profile::by_name(&p.profile).is_some_and(|pr| p.may_see_photos(&v.actor, pr).is_ok()) {
                                        a href={ "/permits/" (p.id) "/photos" } { (t(l, "photos.link")) }
                                    }
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
                                    @let open = matches!(p.status, Status::Draft | Status::UrgentActive);
                                    // The police hand a permit a prosecutor applies for to that prosecutor.
                                    @if mine && open && p.handed_over.is_none() && !v.actor.has(Role::Prosecutor)
                                        && mandat_law::Profile::by_name(&p.profile).is_some_and(|pr| pr.rule(p.application.purpose).applicant == mandat_law::profile::Applicant::Prosecutor) {
                                        form.inline method="post" action={ "/permits/" (p.id) "/hand-over" } {
                                            input type="hidden" name="csrf" value=(v.csrf);
                                            input type="text" name="user" required maxlength="64" placeholder=(t(l, "team.user")) aria-label=(t(l, "team.user"));
                                            button.secondary type="submit" { (t(l, "permit.hand_over")) }
                                        }
                                    }
                                    // Also when another prosecutor confirmed it who no longer files or decides it.
                                    @if open && v.actor.has(Role::Prosecutor)
                                        && p.application.offence.as_ref().is_some_and(|o| o.code.is_none() && o.confirmed_by.as_deref() != Some(v.actor.user.as_str())) {
                                        (action_button(v, &p.id, "confirm-offence", t(l, "permit.confirm_offence"), "secondary"))
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
    let open = !matches!(
        p.status,
        Status::Refused | Status::Stopped | Status::Overturned
    ) && !p.purged;
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

/// The grounds an application states, as the decider and the team read them.
pub(super) fn grounds_markup(l: Lang, a: &mandat_law::Application) -> Markup {
    html! {
        @if let Some(o) = &a.offence {
            div {
                (o.description)
                @if let Some(c) = &o.code { " " span.mono { "[" (c) "]" } }
                " · " (o.annex_ii.map(|x| format!("{x:?}")).unwrap_or_default())
                " · " (t(l, "f.penalty")) ": " (o.max_penalty_years)
                " · " (t(l, "f.stage")) ": " (t_dyn(l, "stage", o.stage.as_str()))
                @if let Some(s) = o.suspicion { " · " (t(l, "f.suspicion")) ": " (t_dyn(l, "suspicion", s.as_str())) }
                @if o.code.is_none() {
                    br;
                    @match &o.confirmed_by {
                        Some(by) => span.muted { (t(l, "f.offence_confirmed")) " " (by) },
                        None => span.bad { (t(l, "f.offence_unconfirmed")) },
                    }
                }
            }
        }
        @if let Some(c) = a.victim { div { (t(l, "f.victim")) ": " (t_dyn(l, "victim", c.as_str())) } }
        @if let Some(th) = &a.threat {
            div { (t(l, "f.threat")) ": " (t_dyn(l, "threat", th.kind.as_str())) br; (th.imminence) }
        }
        @if let Some(j) = &a.judgment {
            div { (t(l, "f.judgment")) ": " (j.court) " " span.mono { (j.case_number) } " · " (t(l, "f.legal_force")) " " (local(j.legal_force)) }
        }
        @if a.offence.is_none() && a.victim.is_none() && a.threat.is_none() && a.judgment.is_none() {
            span.muted { (t(l, "f.none")) }
        }
    }
}

pub(super) fn draft_form(
    v: &Viewer,
    cams: &[mandat_store::Camera],
    calibration: Option<&str>,
    plain: f32,
    offences: &[mandat_law::grounds::CatalogueOffence],
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
                    // Each purpose's own ground; what belongs to another purpose is dropped.
                    fieldset {
                        legend { (t(l, "f.grounds")) }
                        label for="offence_code" { (t(l, "f.offence")) }
                        select #offence_code name="offence_code" {
                            option value="" { (t(l, "f.none")) }
                            @for o in offences {
                                option value=(o.code) {
                                    (o.description()) " · " (o.max_penalty_years) " " (t(l, "f.years"))
                                    @if o.life { " / " (t(l, "f.life")) }
                                }
                            }
                            option value="typed" { (t(l, "f.offence_typed")) }
                        }
                        label for="offence" { (t(l, "f.offence_text")) }
                        input #offence type="text" name="offence" maxlength="500";
                        label for="annex" { (t(l, "f.annex")) }
                        select #annex name="annex" {
                            @for a in ANNEX_II { option value=(a) { (a.replace('_', " ")) } }
                        }
                        label for="penalty" { (t(l, "f.penalty")) }
                        input #penalty type="number" name="penalty" min="0" max="100" value="0";
                        label for="stage" { (t(l, "f.stage")) }
                        select #stage name="stage" {
                            @for s in mandat_law::permit::Stage::ALL { option value=(s.as_str()) { (t_dyn(l, "stage", s.as_str())) } }
                        }
                        label for="suspicion" { (t(l, "f.suspicion")) }
                        select #suspicion name="suspicion" {
                            option value="" { (t(l, "f.none")) }
                            @for s in mandat_law::grounds::Suspicion::ALL { option value=(s.as_str()) { (t_dyn(l, "suspicion", s.as_str())) } }
                        }
                        label for="victim" { (t(l, "f.victim")) }
                        select #victim name="victim" {
                            option value="" { (t(l, "f.none")) }
                            @for c in mandat_law::grounds::VictimCategory::ALL { option value=(c.as_str()) { (t_dyn(l, "victim", c.as_str())) } }
                        }
                        label for="threat" { (t(l, "f.threat")) }
                        select #threat name="threat" {
                            option value="" { (t(l, "f.none")) }
                            @for k in mandat_law::grounds::ThreatKind::ALL { option value=(k.as_str()) { (t_dyn(l, "threat", k.as_str())) } }
                        }
                        label for="imminence" { (t(l, "f.imminence")) }
                        textarea #imminence name="imminence" maxlength="4000" {}
                        label for="judgment_court" { (t(l, "f.judgment")) ": " (t(l, "f.judgment_court")) }
                        input #judgment_court type="text" name="judgment_court" maxlength="100" placeholder="Stockholms tingsrätt";
                        label for="judgment_case" { (t(l, "f.judgment_case")) }
                        input #judgment_case type="text" name="judgment_case" maxlength="40" placeholder="B 1234-26";
                        label for="legal_force" { (t(l, "f.legal_force")) " (UTC)" }
                        input #legal_force type="date" name="legal_force";
                    }
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

/// The grounds as the draft form states them.
struct Grounds {
    offence: Option<mandat_law::permit::Offence>,
    victim: Option<mandat_law::grounds::VictimCategory>,
    threat: Option<mandat_law::grounds::Threat>,
    judgment: Option<mandat_law::grounds::Judgment>,
}

/// Read the draft form's grounds, keeping only those of `purpose` (a field filled in before the
/// purpose was changed is dropped, not refused). What is missing the law refuses when filing.
fn draft_grounds(
    purpose: mandat_law::permit::Purpose,
    get: &dyn Fn(&str) -> String,
) -> Result<Grounds, String> {
    use mandat_law::grounds::{Judgment, Suspicion, Threat, ThreatKind, VictimCategory};
    use mandat_law::permit::{Offence, Purpose, Stage};
    let stage = match get("stage").as_str() {
        "" => Stage::Completed,
        s => Stage::parse(s).ok_or("unknown stage of the offence")?,
    };
    let suspicion = match get("suspicion").as_str() {
        "" => None,
        s => Some(Suspicion::parse(s).ok_or("unknown degree of suspicion")?),
    };
    let code = get("offence_code");
    let offence = if code.is_empty() {
        None
    } else if code != "typed" {
        Some(Offence {
            code: Some(code),
            description: String::new(),
            annex_ii: None,
            max_penalty_years: 0,
            stage,
            suspicion,
            confirmed_by: None,
        })
    } else {
        Some(Offence {
            code: None,
            description: get("offence"),
            annex_ii: Some(
                serde_json::from_value(serde_json::Value::String(get("annex")))
                    .map_err(|_| "unknown Annex II category")?,
            ),
            max_penalty_years: get("penalty")
                .parse()
                .map_err(|_| "maximum penalty is a whole number of years")?,
            stage,
            suspicion,
            confirmed_by: None,
        })
    };
    // Only the purpose's own ground is read: a field left from another purpose is dropped.
    let victim = match get("victim").as_str() {
        _ if purpose != Purpose::VictimSearch => None,
        "" => None,
        v => Some(VictimCategory::parse(v).ok_or("unknown victim category")?),
    };
    let threat = match get("threat").as_str() {
        _ if purpose != Purpose::ImminentThreat => None,
        "" => None,
        k => Some(Threat {
            kind: ThreatKind::parse(k).ok_or("unknown kind of threat")?,
            imminence: get("imminence"),
        }),
    };
    let judgment = if purpose != Purpose::SentenceEnforcement
        || (get("judgment_court").is_empty() && get("judgment_case").is_empty())
    {
        None
    } else {
        Some(Judgment {
            court: get("judgment_court"),
            case_number: get("judgment_case"),
            legal_force: Timestamp::parse_rfc3339(&format!("{}T00:00:00Z", get("legal_force")))
                .ok_or("the judgment's date of legal force is not a date")?,
        })
    };
    Ok(Grounds {
        // The degree of suspicion belongs to a suspect search only.
        offence: offence.map(|mut o| {
            if purpose != Purpose::SuspectLocation {
                o.suspicion = None;
            }
            o
        }),
        victim,
        threat,
        judgment,
    })
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
    let grounds = draft_grounds(purpose, &get).map_err(|m| bad(&m))?;
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
        offence: grounds.offence,
        victim: grounds.victim,
        threat: grounds.threat,
        judgment: grounds.judgment,
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
        "hand-over" => s
            .control
            .hand_over(&v.actor, &id, f.user.trim(), &o)
            .await
            .page(l)?,
        "confirm-offence" => s.control.confirm_offence(&v.actor, &id, &o).await.page(l)?,
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
