//! The court procedure around a decision, where the profile requires it: the court appoints a
//! public counsel and records its hearing; the counsel reads the application and files an
//! opinion; the party a decision went against appeals it; the higher instance decides the appeal.
//! Each viewer sees only the steps open to them.

use super::*;
use mandat_law::appeal::{AppealOutcome, Party, Position};

/// What `me` may do on `p` now, as this page offers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The court appoints counsel and records the hearing.
    Court,
    /// The counsel files an opinion.
    Opinion,
    /// The party the decision went against appeals.
    Appeal,
    /// The higher instance decides the appeal.
    DecideAppeal,
}

fn steps(p: &Permit, profile: &mandat_law::Profile, me: &str, now: Timestamp) -> Vec<Step> {
    let mut v = Vec::new();
    let pending = matches!(p.status, Status::Applied | Status::UrgentApplied);
    let court = profile.rule(p.application.purpose).decider == mandat_law::Authority::Court;
    let proc = profile.procedure;
    if pending
        && court
        && (proc.counsel || proc.hearing)
        && p.decider(profile).is_some_and(|m| m.user == me)
    {
        v.push(Step::Court);
    }
    if pending && p.counsel.as_ref().is_some_and(|c| c.user == me) {
        v.push(Step::Opinion);
    }
    if let (Some(d), Some(hours), None) = (&p.decision, proc.appeal_hours, &p.appeal) {
        let open = now < d.at.plus_hours(i64::from(hours));
        let counsel = p.counsel.as_ref().is_some_and(|c| c.user == me);
        let against = match d.outcome {
            Outcome::Grant => counsel,
            Outcome::Refuse => p.applicant == me && !p.purged,
        };
        if open && against {
            v.push(Step::Appeal);
        }
    }
    if p.appeal
        .as_ref()
        .is_some_and(|a| a.to == me && a.decision.is_none())
    {
        v.push(Step::DecideAppeal);
    }
    v
}

pub(super) async fn procedure_page(
    State(s): State<AppState>,
    v: Viewer,
    Query(f): Query<Flash>,
) -> Page {
    v.require(PROCEDURE_ROLES)?;
    let l = v.lang;
    let now = s.control.now().page(l)?;
    let mine = s.control.permits(&v.actor, &v.origin).await.page(l)?;
    // Each permit follows the profile it was drafted under, as the law does.
    let open: Vec<(&Permit, Vec<Step>)> = mine
        .iter()
        .filter_map(|p| Some((p, mandat_law::Profile::by_name(&p.profile)?)))
        .map(|(p, profile)| (p, steps(p, profile, &v.actor.user, now)))
        .filter(|(_, s)| !s.is_empty())
        .collect();
    let csrf = || html! { input type="hidden" name="csrf" value=(v.csrf); };
    Ok(layout(
        &v,
        "/procedure",
        t(l, "proc.title"),
        f.ok.as_deref(),
        html! {
            p.muted { (t(l, "proc.intro")) }
            @if open.is_empty() { p.muted { (t(l, "proc.none")) } }
            @for (p, steps) in &open {
                @let a = &p.application;
                article.panel {
                    h2 { span.mono { (p.id) } " " (status_badge(l, p.status)) }
                    dl.facts {
                        dt { (t(l, "f.purpose")) } dd { (t_dyn(l, "purpose", a.purpose.as_str())) }
                        dt { (t(l, "f.case_number")) } dd.mono { (a.case_number) }
                        dt { (t(l, "f.grounds")) } dd { (super::applicant::grounds_markup(l, a)) }
                        dt { (t(l, "col.period")) } dd.num { (local(a.period.start)) " – " (local(a.period.end)) }
                        dt { (t(l, "f.area")) } dd.mono { (a.area.cameras.join(", ")) }
                        dt { (t(l, "f.necessity")) } dd { (a.reasons.necessity) }
                        dt { (t(l, "f.proportionality")) } dd { (a.reasons.proportionality) }
                        dt { (t(l, "col.applicant")) } dd { (p.applicant) }
                        @if let Some(u) = &p.urgent {
                            dt { (t(l, "permit.urgent.ground")) } dd { (super::applicant::ground_text(l, &u.ground)) }
                        }
                        (record_markup(l, p))
                    }
                    @for step in steps {
                        @match step {
                            Step::Court => {
                                form method="post" action={ "/procedure/" (p.id) "/counsel" } {
                                    (csrf())
                                    label for={ "counsel-" (p.id) } { (t(l, "proc.appoint")) }
                                    input id={ "counsel-" (p.id) } type="text" name="user" maxlength="200" required;
                                    div.actions { button type="submit" { (t(l, "proc.appoint.button")) } }
                                }
                                form method="post" action={ "/procedure/" (p.id) "/hearing" } {
                                    (csrf())
                                    label for={ "present-" (p.id) } { (t(l, "proc.present")) }
                                    input id={ "present-" (p.id) } type="text" name="present" maxlength="4000" required;
                                    label for={ "houtcome-" (p.id) } { (t(l, "proc.hearing.outcome")) }
                                    textarea id={ "houtcome-" (p.id) } name="outcome" maxlength="4000" required {}
                                    div.actions { button type="submit" { (t(l, "proc.hearing.button")) } }
                                }
                            }
                            Step::Opinion => {
                                form method="post" action={ "/procedure/" (p.id) "/opinion" } {
                                    (csrf())
                                    label for={ "opinion-" (p.id) } { (t(l, "proc.opinion")) }
                                    textarea id={ "opinion-" (p.id) } name="text" maxlength="4000" required {}
                                    div.actions {
                                        button.reject type="submit" name="position" value="opposes" { (t(l, "proc.opposes")) }
                                        button type="submit" name="position" value="no_objection" { (t(l, "proc.no_objection")) }
                                    }
                                }
                            }
                            Step::Appeal => {
                                form method="post" action={ "/procedure/" (p.id) "/appeal" } {
                                    (csrf())
                                    label for={ "to-" (p.id) } { (t(l, "proc.appeal.to")) }
                                    input id={ "to-" (p.id) } type="text" name="to" maxlength="200" required;
                                    label for={ "grounds-" (p.id) } { (t(l, "proc.appeal.grounds")) }
                                    textarea id={ "grounds-" (p.id) } name="grounds" maxlength="4000" required {}
                                    div.actions { button.reject type="submit" { (t(l, "proc.appeal.button")) } }
                                }
                            }
                            Step::DecideAppeal => {
                                form method="post" action={ "/procedure/" (p.id) "/appeal-decision" } {
                                    (csrf())
                                    label for={ "areasons-" (p.id) } { (t(l, "decide.reasons")) }
                                    textarea id={ "areasons-" (p.id) } name="reasons" maxlength="4000" required {}
                                    div.actions {
                                        button.confirm type="submit" name="outcome" value="upheld" { (t(l, "proc.uphold")) }
                                        button.reject type="submit" name="outcome" value="overturned" { (t(l, "proc.overturn")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// The procedure so far: counsel and opinion, hearing, decision, appeal.
pub(super) fn record_markup(l: Lang, p: &Permit) -> Markup {
    html! {
        @if let Some(c) = &p.counsel {
            dt { (t(l, "proc.counsel")) } dd {
                (c.user)
                @if let Some(o) = &c.opinion {
                    " · " (t_dyn(l, "proc.position", o.position.as_str())) " · " (local(o.at))
                    br; (o.text)
                }
            }
        }
        @if let Some(h) = &p.hearing {
            dt { (t(l, "proc.hearing")) } dd { (local(h.held_at)) " · " (h.present) br; (h.outcome) }
        }
        @if let Some(d) = &p.decision {
            dt { (t(l, "proc.decision")) } dd {
                (t_dyn(l, "status", match d.outcome { Outcome::Grant => "granted", Outcome::Refuse => "refused" }))
                " · " (d.by) " · " (local(d.at)) br; (d.reasons)
            }
        }
        @if let Some(a) = &p.appeal {
            dt { (t(l, "proc.appeal")) } dd {
                (a.by) " (" (t(l, match a.party { Party::Applicant => "col.applicant", Party::Counsel => "proc.counsel" })) ") → " (a.to) " · " (local(a.at))
                br; (a.grounds)
                @if let Some(d) = &a.decision {
                    br; strong { (t_dyn(l, "proc.result", d.outcome.as_str())) } " · " (local(d.at)) br; (d.reasons)
                }
            }
        }
    }
}

/// Who opens the page: the court, the counsel, and the parties who may appeal.
pub(super) const PROCEDURE_ROLES: &[Role] = &[
    Role::Judge,
    Role::Counsel,
    Role::Applicant,
    Role::Prosecutor,
];

pub(super) async fn procedure_post(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    v: Viewer,
    Path((id, action)): Path<(String, String)>,
    Form(f): Form<HashMap<String, String>>,
) -> Page {
    let l = v.lang;
    v.require(PROCEDURE_ROLES)?;
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    v.check_csrf(&s, get("csrf"))?;
    for k in [
        "user", "to", "present", "text", "outcome", "grounds", "reasons",
    ] {
        if get(k).len() > 16_000 {
            return Err(UiError::bad_request(l, format!("{k} is over 16000 bytes")));
        }
    }
    let o = origin(&peer);
    let c = &s.control;
    match action.as_str() {
        "counsel" => {
            c.appoint_counsel(&v.actor, &id, get("user"), &o)
                .await
                .page(l)?;
        }
        "hearing" => {
            c.record_hearing(&v.actor, &id, None, get("present"), get("outcome"), &o)
                .await
                .page(l)?;
        }
        "opinion" => {
            let position = Position::parse(get("position"))
                .ok_or_else(|| UiError::bad_request(l, "position is opposes or no_objection"))?;
            c.file_opinion(&v.actor, &id, position, get("text"), &o)
                .await
                .page(l)?;
        }
        "appeal" => {
            c.appeal(&v.actor, &id, get("to"), get("grounds"), &o)
                .await
                .page(l)?;
        }
        "appeal-decision" => {
            let outcome = AppealOutcome::parse(get("outcome"))
                .ok_or_else(|| UiError::bad_request(l, "outcome is upheld or overturned"))?;
            c.decide_appeal(&v.actor, &id, outcome, get("reasons"), &o)
                .await
                .page(l)?;
        }
        _ => {
            return Err(UiError::bad_request(
                l,
                "the step is counsel, hearing, opinion, appeal or appeal-decision",
            ));
        }
    }
    Ok(see_other("/procedure?ok=proc.done"))
}
