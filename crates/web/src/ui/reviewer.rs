//! The reviewers: the queue of candidate alerts, each checked by two officers before anyone acts.

use super::*;

pub(super) async fn review_page(
    State(s): State<AppState>,
    v: Viewer,
    Query(f): Query<Flash>,
) -> Page {
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

pub(super) async fn review_queue(s: &AppState, v: &Viewer) -> Result<Markup, UiError> {
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
                        @if let Some(last) = a.last_seen_at.filter(|_| a.sightings > 0) {
                            dt { (t(l, "review.sightings")) }
                            dd { (a.sightings + 1) " · " (t(l, "review.last_seen")) " " (local(last)) }
                        }
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
pub(super) async fn fragment_review(State(s): State<AppState>, v: Viewer) -> Page {
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

pub(super) async fn pending_for(s: &AppState, v: &Viewer) -> Result<Vec<AlertRecord>, UiError> {
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
pub(super) struct ReviewForm {
    #[serde(default)]
    csrf: String,
    verdict: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn review_post(
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

pub(super) async fn alert_image(
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
