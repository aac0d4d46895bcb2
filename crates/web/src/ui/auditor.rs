//! The auditors (IMY): the audit log and its verification, the IMY register, subject tasks, the annual report.

use super::*;

#[derive(Deserialize, Default)]
pub(super) struct AuditFilter {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    permit: String,
    ok: Option<String>,
}

pub(super) async fn audit_page(
    State(s): State<AppState>,
    v: Viewer,
    Query(q): Query<AuditFilter>,
) -> Page {
    v.require(&[Role::Auditor, Role::Admin])?;
    audit_view(&s, &v, &q, None).await
}

pub(super) async fn audit_view(
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
pub(super) async fn audit_reports(s: &AppState, v: &Viewer) -> Result<Markup, UiError> {
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
        @if auditor { (subjects_panel(v, &tasks)) }
    })
}

/// Open subject notifications the viewer may see, the overdue first.
pub(super) async fn open_tasks(
    s: &AppState,
    v: &Viewer,
) -> Result<Vec<mandat_control::SubjectView>, UiError> {
    let mut tasks = s
        .control
        .subject_tasks(&v.actor, &v.origin)
        .await
        .page(v.lang)?;
    tasks.retain(|x| x.closed.is_none());
    tasks.sort_by_key(|x| (!x.overdue, x.due_at));
    Ok(tasks)
}

/// Subject notifications: auditors read them; each other viewer gets the forms for the steps the
/// law lets them take now (`SubjectView::steps`): the applicant notifies, defers or asks not to
/// notify; a prosecutor of the permit decides a later deferral; the decider a waiver.
pub(super) fn subjects_panel(v: &Viewer, tasks: &[mandat_control::SubjectView]) -> Markup {
    let l = v.lang;
    let actions = tasks.iter().any(|x| !x.steps.is_empty());
    let has = |x: &mandat_control::SubjectView, step: &str| x.steps.iter().any(|s| s == step);
    html! {
        section.panel #subjects {
            h2 { (t(l, "subjects.title")) }
            p.muted { (t(l, "subjects.about")) }
            @if tasks.is_empty() {
                p.muted { (t(l, "subjects.none")) }
            } @else {
                table {
                    thead { tr {
                        th { "Id" } th { (t(l, "col.permit")) } th { (t(l, "col.person")) } th { (t(l, "subjects.identifications")) } th { (t(l, "subjects.due")) } th { (t(l, "subjects.deferrals")) } th {}
                        @if actions { th {} }
                    } }
                    tbody {
                        @for x in tasks {
                            tr {
                                td.mono { (x.task.id) }
                                td.mono { (x.task.permit) }
                                td { (x.task.person) }
                                td.num { (x.task.alerts.len()) }
                                td.num { (local(x.due_at)) }
                                td.num { (x.task.deferrals.len()) }
                                td {
                                    @if x.overdue { span.badge.st-broken { (t(l, "subjects.overdue")) } " " }
                                    @match x.awaiting {
                                        Some(mandat_law::subject::Awaiting::Prosecutor) => span.badge { (t(l, "subjects.awaiting.prosecutor")) },
                                        Some(mandat_law::subject::Awaiting::Decider) => span.badge { (t(l, "subjects.awaiting.decider")) },
                                        None => {},
                                    }
                                }
                                @if actions {
                                    td {
                                        @if has(x, "done") {
                                            form.inline method="post" action={ "/subjects/" (x.task.id) "/done" } {
                                                input type="hidden" name="csrf" value=(v.csrf);
                                                button.secondary type="submit" { (t(l, "subjects.done")) }
                                            }
                                        }
                                        @if has(x, "defer") {
                                            form.inline method="post" action={ "/subjects/" (x.task.id) "/defer" } {
                                                input type="hidden" name="csrf" value=(v.csrf);
                                                input type="text" name="reason" maxlength="4000" required placeholder=(t(l, "subjects.reason"));
                                                input type="date" name="until" required aria-label=(t(l, "subjects.until"));
                                                button.secondary type="submit" { (t(l, "subjects.defer")) }
                                            }
                                        }
                                        @if has(x, "waiver") {
                                            form.inline method="post" action={ "/subjects/" (x.task.id) "/waiver" } {
                                                input type="hidden" name="csrf" value=(v.csrf);
                                                input type="text" name="reasons" maxlength="4000" required placeholder=(t(l, "subjects.waiver.reasons"));
                                                button.secondary type="submit" { (t(l, "subjects.waiver")) }
                                            }
                                        }
                                        // Each decision names the request shown (`request_at`), and approving
                                        // and rejecting are separate forms: Enter in a text box never approves.
                                        @if let (true, Some(d), Some(at)) = (has(x, "defer_decision"), x.task.requested.as_ref(), x.pending_at) {
                                            p { (t(l, "subjects.requested")) " " (local(d.until)) ": " (d.reason) }
                                            @for (approve, label) in [("true", "subjects.approve"), ("false", "subjects.reject")] {
                                                form.inline method="post" action={ "/subjects/" (x.task.id) "/defer_decision" } {
                                                    input type="hidden" name="csrf" value=(v.csrf);
                                                    input type="hidden" name="request_at" value=(at.0);
                                                    input type="hidden" name="approve" value=(approve);
                                                    button.reject[approve == "false"] type="submit" { (t(l, label)) }
                                                }
                                            }
                                        }
                                        @if let (true, Some(w), Some(at)) = (has(x, "waiver_decision"), x.task.waivers.last(), x.pending_at) {
                                            p { (t(l, "subjects.waiver.asked")) ": " (w.reasons) }
                                            @for (approve, label) in [("true", "subjects.waiver.approve"), ("false", "subjects.waiver.refuse")] {
                                                form.inline method="post" action={ "/subjects/" (x.task.id) "/waiver_decision" } {
                                                    input type="hidden" name="csrf" value=(v.csrf);
                                                    input type="hidden" name="request_at" value=(at.0);
                                                    input type="hidden" name="approve" value=(approve);
                                                    input type="text" name="reasons" maxlength="4000" required placeholder=(t(l, "subjects.decision.reasons"));
                                                    button.reject[approve == "false"] type="submit" { (t(l, label)) }
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
    }
}

/// A step on a subject notification, from the forms of [`subjects_panel`].
pub(super) async fn subject_step_post(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    v: Viewer,
    Path((id, step)): Path<(String, String)>,
    Form(f): Form<HashMap<String, String>>,
) -> Page {
    let l = v.lang;
    v.check_csrf(&s, f.get("csrf").map(String::as_str).unwrap_or(""))?;
    let step_name = step.clone();
    let get = |k: &str| f.get(k).map(|x| x.trim().to_string()).unwrap_or_default();
    // A decision says which way, and which request: nothing is assumed.
    let approve = |s: &str| match s {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(UiError::bad_request(l, "approve is true or false")),
    };
    let request_at = |s: &str| {
        s.parse::<i64>()
            .ok()
            .filter(|ms| *ms >= 0)
            .map(Timestamp)
            .ok_or_else(|| {
                UiError::bad_request(l, "request_at names the request shown (milliseconds)")
            })
    };
    let step = match step.as_str() {
        "done" => mandat_store::subjects::SubjectStep::Complete,
        "waiver" => {
            if get("reasons").len() > mandat_law::subject::MAX_REASON {
                return Err(UiError::bad_request(l, "the reasons are over 4000 bytes"));
            }
            mandat_store::subjects::SubjectStep::RequestWaiver {
                reasons: get("reasons"),
            }
        }
        "defer_decision" => mandat_store::subjects::SubjectStep::DecideDeferral {
            approve: approve(&get("approve"))?,
            request_at: request_at(&get("request_at"))?,
        },
        "waiver_decision" => {
            if get("reasons").len() > mandat_law::subject::MAX_REASON {
                return Err(UiError::bad_request(l, "the reasons are over 4000 bytes"));
            }
            mandat_store::subjects::SubjectStep::DecideWaiver {
                approve: approve(&get("approve"))?,
                reasons: get("reasons"),
                request_at: request_at(&get("request_at"))?,
            }
        }
        "defer" => {
            if get("reason").len() > mandat_law::subject::MAX_REASON {
                return Err(UiError::bad_request(l, "the reason is over 4000 bytes"));
            }
            let until = Timestamp::parse_rfc3339(&format!("{}T00:00:00Z", get("until")))
                .ok_or_else(|| UiError::bad_request(l, "the new date is a date (YYYY-MM-DD)"))?;
            mandat_store::subjects::SubjectStep::Defer {
                reason: get("reason"),
                until,
            }
        }
        _ => {
            return Err(UiError::not_found(
                l,
                "the steps are done, defer, waiver, defer_decision and waiver_decision",
            ));
        }
    };
    s.control
        .subject_step(&v.actor, &id, step, &origin(&peer))
        .await
        .page(l)?;
    // Decisions come back to the decision page, the applicant's steps to the permits page.
    let back = if step_name.ends_with("_decision") {
        "/decide"
    } else {
        "/permits"
    };
    Ok(see_other(&format!("{back}?ok=subjects.updated#subjects")))
}

#[derive(Deserialize)]
pub(super) struct ImyPath {
    id: String,
    what: String,
}

/// A register entry as a download: the PDF sent to IMY, or its JSON.
pub(super) async fn audit_imy_file(
    State(s): State<AppState>,
    v: Viewer,
    Path(p): Path<ImyPath>,
) -> Page {
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
pub(super) struct AckForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reference: String,
}

/// An admin records that a notification was sent, or IMY's acknowledgement with its reference.
pub(super) async fn audit_imy_step(
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
pub(super) struct AnnualQuery {
    year: i32,
    #[serde(default)]
    format: String,
}

/// The annual report of a year as a download.
pub(super) async fn audit_annual(
    State(s): State<AppState>,
    v: Viewer,
    Query(q): Query<AnnualQuery>,
) -> Page {
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

pub(super) async fn audit_verify(
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
