//! Reference photos: the applicant uploads each photo the draft lists and sees the quality gate's
//! verdict before filing (the face box, inter-eye distance, sharpness, pose, and why a photo is
//! refused); the decider sees the enrolled photos beside the application. Who may see them is the
//! law's rule `reference_photos`, checked by `Control`; every image shown is in the audit log.

use axum::extract::Multipart;
use axum::extract::multipart::MultipartRejection;
use mandat_control::ReferencePhoto;
use mandat_law::permit::{PhotoFault, PhotoQuality};

use super::*;

/// What the gate found in an upload it refused, drawn above the photos.
struct Refused {
    photo: String,
    faces: Vec<PhotoQuality>,
    faults: Vec<PhotoFault>,
}

pub(super) async fn photos_page(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Query(f): Query<Flash>,
) -> Page {
    let body = photos_body(&s, &v, &id, None).await?;
    Ok(layout(
        &v,
        "/permits",
        &format!("{} {id}", t(v.lang, "photos.title")),
        f.ok.as_deref(),
        body,
    ))
}

async fn photos_body(
    s: &AppState,
    v: &Viewer,
    id: &str,
    refused: Option<&Refused>,
) -> Result<Markup, UiError> {
    let l = v.lang;
    let photos = s.control.reference_photos(&v.actor, id).await.page(l)?;
    let p = s.control.permit(&v.actor, id, &v.origin).await.page(l)?;
    let uploads = p.status == Status::Draft && p.applicant == v.actor.user;
    let mut persons: Vec<&str> = Vec::new();
    for ph in &photos {
        if !persons.contains(&ph.person.as_str()) {
            persons.push(&ph.person);
        }
    }
    Ok(html! {
        p { a href="/permits" { "← " (t(l, "nav.permits")) } " · " (status_badge(l, p.status)) }
        @if let Some(r) = refused {
            div.flash.error role="alert" {
                strong { (t(l, "photos.refused")) " " span.mono { (r.photo) } }
                ul { @for f in &r.faults { li { (fault_text(l, f)) } } }
            }
            @if !r.faces.is_empty() {
                div.photos {
                    @for q in &r.faces {
                        figure { (face_svg(None, q, true)) figcaption { (measures(l, q)) } }
                    }
                }
            }
        }
        @if uploads { p.muted { (t(l, "photos.hint")) } }
        @for person in &persons {
            section.panel {
                @let mine: Vec<&ReferencePhoto> = photos.iter().filter(|x| x.person == *person).collect();
                h2 { (mine[0].label) " " small.muted.mono { (person) } }
                div.photos {
                    @for ph in &mine {
                        figure id={ "photo-" (ph.photo) } {
                            @let href = format!("/ui/permits/{id}/photos/{}", ph.photo);
                            @if ph.enrolled {
                                @match &ph.quality {
                                    Some(q) => (face_svg(Some(&href), q, false)),
                                    None => img.photo src=(href) alt=(t(l, "photos.photo"));,
                                }
                            }
                            figcaption {
                                p.muted { small { (t(l, "photos.source")) ": " (ph.source) } }
                                @if ph.enrolled {
                                    span class="badge st-granted" { (t(l, "photos.enrolled")) }
                                    @if let Some(q) = &ph.quality { (measures(l, q)) }
                                } @else {
                                    span class="badge st-draft" { (t(l, "photos.missing")) }
                                    @if uploads {
                                        form method="post" enctype="multipart/form-data"
                                            action={ "/permits/" (id) "/photos/" (ph.photo) } {
                                            // First, so that a forged form is refused before the photo is read.
                                            input type="hidden" name="csrf" value=(v.csrf);
                                            label for={ "file-" (ph.photo) } { (t(l, "photos.choose")) }
                                            input id={ "file-" (ph.photo) } type="file" name="photo"
                                                accept="image/jpeg,image/png" required;
                                            button type="submit" { (t(l, "photos.upload")) }
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

/// The photo (when `href` names it) with the face's box drawn over it, in the photo's pixels.
pub(super) fn face_svg(href: Option<&str>, q: &PhotoQuality, refused: bool) -> Markup {
    let (w, h) = (q.width.max(1), q.height.max(1));
    let [x1, y1, x2, y2] = q.face_box;
    html! {
        svg.photo viewBox={ "0 0 " (w) " " (h) } role="img" {
            @if let Some(href) = href {
                image href=(href) x="0" y="0" width=(w) height=(h) {}
            }
            rect.face.refused[refused] x=(format!("{x1:.0}")) y=(format!("{y1:.0}"))
                width=(format!("{:.0}", (x2 - x1).max(1.0))) height=(format!("{:.0}", (y2 - y1).max(1.0))) {}
        }
    }
}

/// What the gate measured on one face.
pub(super) fn measures(l: Lang, q: &PhotoQuality) -> Markup {
    let [x1, y1, x2, y2] = q.face_box;
    html! {
        dl.facts {
            dt { (t(l, "photos.inter_eye")) } dd.num { (format!("{:.0} px", q.inter_eye_px)) }
            dt { (t(l, "photos.sharpness")) } dd.num { (format!("{:.1}", q.sharpness)) }
            dt { (t(l, "photos.pose")) } dd.num {
                (format!("yaw {:.2} · roll {:.1}° · pitch {:.2}", q.yaw, q.roll_deg, q.pitch))
            }
            dt { (t(l, "photos.detector")) } dd.num { (format!("{:.2}", q.detector_score)) }
            dt { (t(l, "photos.box")) } dd.num {
                (format!("{x1:.0},{y1:.0} – {x2:.0},{y2:.0} ({} × {} px)", q.width, q.height))
            }
        }
    }
}

/// One reason of the gate, in the page's language.
fn fault_text(l: Lang, f: &PhotoFault) -> String {
    let key = match f.measure.as_str() {
        "faces" => "photos.fault.faces",
        "inter_eye_px" => "photos.fault.inter_eye_px",
        "sharpness" => "photos.fault.sharpness",
        "yaw" => "photos.fault.yaw",
        "detector_score" => "photos.fault.detector_score",
        _ => return crate::fault_text(f),
    };
    let digits = if f.measure == "yaw" || f.measure == "detector_score" {
        2
    } else {
        0
    };
    t(l, key)
        .replace("{v}", &format!("{:.digits$}", f.value))
        .replace("{l}", &format!("{:.digits$}", f.limit))
}

/// An upload from the photos page: the gate's verdict, and the photo enrolled if it passes.
pub(super) async fn photo_upload(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    v: Viewer,
    Path((id, photo)): Path<(String, String)>,
    form: Result<Multipart, MultipartRejection>,
) -> Page {
    let l = v.lang;
    // Who before what, and every check before the photo is read: nobody else makes the server
    // buffer it. The checks only read, so they may come before the form's token.
    let person = s
        .control
        .may_enrol_photo(&v.actor, &id, &photo)
        .await
        .page(l)?;
    let mut form = form.map_err(|e| {
        UiError::bad_request(
            l,
            format!("send the photo from the permit's photos page (a multipart form): {e}"),
        )
    })?;
    let token = match form.next_field().await {
        Ok(Some(f)) if f.name() == Some("csrf") => f.text().await.ok(),
        _ => None,
    };
    v.check_csrf(&s, token.as_deref().unwrap_or_default())?;
    let bytes = match form.next_field().await {
        Ok(Some(f)) if f.name() == Some("photo") => f.bytes().await.map_err(|e| {
            UiError::new(
                l,
                ApiError::new(
                    e.status(),
                    "bad_request",
                    format!(
                        "the photo was not received ({}); send a JPEG or PNG of at most {} MiB",
                        e.body_text(),
                        crate::MAX_PHOTO_BYTES >> 20
                    ),
                ),
            )
        })?,
        _ => {
            return Err(UiError::bad_request(
                l,
                "the form sends the photo after its security token; reload the page",
            ));
        }
    };
    if bytes.is_empty() {
        return Err(UiError::bad_request(
            l,
            "choose a photo (JPEG or PNG) to upload",
        ));
    }
    let (check, bytes) = crate::check_photo(&s, bytes.to_vec())
        .await
        .map_err(|e| UiError::new(l, e))?;
    if let Some((q, template)) = check.passed() {
        s.control
            .enrol(
                &v.actor,
                &id,
                &person,
                &photo,
                &bytes,
                template,
                q,
                &origin(&peer),
            )
            .await
            .page(l)?;
        // `id` named a permit the store found: one of the server's own ids.
        return Ok(see_other(&format!(
            "/permits/{id}/photos?ok=photo.enrolled"
        )));
    }
    let refused = Refused {
        photo,
        faces: check.faces,
        faults: check.faults,
    };
    let body = photos_body(&s, &v, &id, Some(&refused)).await?;
    let mut r = layout(
        &v,
        "/permits",
        &format!("{} {id}", t(l, "photos.title")),
        None,
        body,
    );
    *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(r)
}

/// An enrolled reference photo for the photos page; the viewing is in the audit log.
pub(super) async fn photo_image(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    v: Viewer,
    Path((id, photo)): Path<(String, String)>,
) -> Page {
    let bytes = s
        .control
        .reference_photo(&v.actor, &id, &photo, &origin(&peer))
        .await
        .page(v.lang)?;
    Ok(crate::biometric_image(bytes))
}
