//! The service-level report of a partner's cameras: per camera and day, how long an engine ran it,
//! how much of that it was available, and whether it was fit for identification, against the 95 %
//! availability the police demand (`mandat_engine::health::judge`). For a partner and a span of
//! days, or for the period of one permit. CSV and PDF; counts and durations only.

use mandat_law::Timestamp;
use mandat_law::time::HOUR;
use mandat_store::Camera;
use mandat_store::camera_days::CameraDay;
use serde::Serialize;

/// The availability a camera must reach, in percent.
pub const TARGET_PCT: f64 = 95.0;

pub struct SlaInputs<'a> {
    /// The partner: `municipality:NAME`, `region:NAME` or `private:NAME`.
    pub owner: &'a str,
    /// First and last day, `YYYY-MM-DD` (Swedish civil dates), inclusive.
    pub from: &'a str,
    pub until: &'a str,
    /// The permit whose period and cameras the report covers, if it is one permit's.
    pub permit: Option<(&'a str, &'a [String])>,
    pub cameras: &'a [Camera],
    pub days: &'a [CameraDay],
    pub now: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SlaDay {
    pub day: String,
    pub observed_hours: f64,
    pub availability_pct: Option<f64>,
    pub verdict: String,
    pub reasons: Vec<String>,
    pub faces_seen: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SlaCamera {
    pub camera: String,
    pub name: String,
    /// The agreement's reference; none means the camera was not to be analysed at all.
    pub agreement: Option<String>,
    pub days: Vec<SlaDay>,
    pub observed_hours: f64,
    pub availability_pct: Option<f64>,
    /// Whether it met [`TARGET_PCT`] over the span; none when it never ran.
    pub met: Option<bool>,
    pub unfit_days: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SlaReport {
    pub owner: String,
    pub from: String,
    pub until: String,
    pub permit: Option<String>,
    pub target_pct: f64,
    pub generated_at: Timestamp,
    pub cameras: Vec<SlaCamera>,
    pub observed_hours: f64,
    pub availability_pct: Option<f64>,
    /// Cameras that met the target, of those that ran.
    pub cameras_met: u64,
    pub cameras_ran: u64,
}

fn pct(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| 100.0 * part as f64 / whole as f64)
}

pub fn sla(i: &SlaInputs) -> SlaReport {
    let in_span = |d: &CameraDay| i.from <= d.day.as_str() && d.day.as_str() <= i.until;
    let mut cameras = Vec::new();
    let (mut observed, mut available) = (0i64, 0i64);
    for c in i.cameras.iter().filter(|c| {
        c.owner == i.owner && i.permit.is_none_or(|(_, covered)| covered.contains(&c.id))
    }) {
        let days: Vec<&CameraDay> = i
            .days
            .iter()
            .filter(|d| d.camera == c.id && in_span(d))
            .collect();
        let obs: i64 = days.iter().map(|d| d.observed_ms).sum();
        let avail: i64 = days.iter().map(|d| d.available_ms).sum();
        observed += obs;
        available += avail;
        let availability_pct = pct(avail, obs);
        cameras.push(SlaCamera {
            camera: c.id.clone(),
            name: c.name.clone(),
            agreement: c.agreement.as_ref().map(|a| a.reference.clone()),
            days: days
                .iter()
                .map(|d| SlaDay {
                    day: d.day.clone(),
                    observed_hours: d.observed_ms as f64 / HOUR as f64,
                    availability_pct: d.availability_pct(),
                    verdict: d.verdict().into(),
                    reasons: d.reasons.clone(),
                    faces_seen: d.faces_seen,
                })
                .collect(),
            observed_hours: obs as f64 / HOUR as f64,
            availability_pct,
            met: availability_pct.map(|p| p >= TARGET_PCT),
            unfit_days: days.iter().filter(|d| d.verdict() == "unfit").count() as u64,
        });
    }
    SlaReport {
        owner: i.owner.into(),
        from: i.from.into(),
        until: i.until.into(),
        permit: i.permit.map(|(p, _)| p.to_string()),
        target_pct: TARGET_PCT,
        generated_at: i.now,
        observed_hours: observed as f64 / HOUR as f64,
        availability_pct: pct(available, observed),
        cameras_met: cameras.iter().filter(|c| c.met == Some(true)).count() as u64,
        cameras_ran: cameras.iter().filter(|c| c.met.is_some()).count() as u64,
        cameras,
    }
}

/// One quoted CSV field: the partner's names and reasons may hold commas and quotes.
fn q(s: &str) -> String {
    // A leading formula character is defused for spreadsheets.
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn num(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v:.1}"))
}

/// One line per camera and day, then one per camera over the span (`day` = `total`).
pub fn sla_csv(r: &SlaReport) -> String {
    let mut out = String::from(
        "owner,permit,camera,agreement,day,observed_hours,availability_pct,target_pct,met,verdict,faces_seen,reasons\n",
    );
    let permit = r.permit.as_deref().unwrap_or("");
    for c in &r.cameras {
        let agreement = c.agreement.as_deref().unwrap_or("");
        for d in &c.days {
            out.push_str(&format!(
                "{},{},{},{},{},{:.2},{},{},{},{},{},{}\n",
                q(&r.owner),
                q(permit),
                q(&c.camera),
                q(agreement),
                q(&d.day),
                d.observed_hours,
                num(d.availability_pct),
                r.target_pct,
                d.availability_pct
                    .map_or(String::new(), |p| (p >= r.target_pct).to_string()),
                q(&d.verdict),
                d.faces_seen,
                q(&d.reasons.join("; ")),
            ));
        }
        out.push_str(&format!(
            "{},{},{},{},\"total\",{:.2},{},{},{},{},,{}\n",
            q(&r.owner),
            q(permit),
            q(&c.camera),
            q(agreement),
            c.observed_hours,
            num(c.availability_pct),
            r.target_pct,
            c.met.map_or(String::new(), |m| m.to_string()),
            if c.unfit_days > 0 { "\"unfit\"" } else { "" },
            q(&format!("{} unfit day(s)", c.unfit_days)),
        ));
    }
    out
}

/// The report as PDF, in Swedish: the totals, then each camera's days.
pub fn sla_pdf(r: &SlaReport) -> Vec<u8> {
    let title = format!("Servicenivå för partnerkameror: {}", r.owner);
    let mut d = crate::Pdf::new(&title);
    d.heading(&title);
    d.small(&format!(
        "Service level of a partner's cameras, {} to {}{}. Generated {}. Counts and durations only.",
        r.from,
        r.until,
        r.permit
            .as_deref()
            .map_or(String::new(), |p| format!(", permit {p}")),
        r.generated_at.to_rfc3339()
    ));
    d.gap();
    d.section("Sammanfattning / summary");
    d.field("Ägare", &r.owner);
    d.field("Period", &format!("{} – {}", r.from, r.until));
    if let Some(p) = &r.permit {
        d.field("Tillstånd", p);
    }
    d.field("Krav på tillgänglighet", &format!("{:.0} %", r.target_pct));
    d.field("Drifttimmar", &format!("{:.1}", r.observed_hours));
    d.field(
        "Tillgänglighet",
        &r.availability_pct
            .map_or("–".into(), |v| format!("{v:.1} %")),
    );
    d.field(
        "Kameror som nådde kravet",
        &format!("{} av {} som var i drift", r.cameras_met, r.cameras_ran),
    );
    for c in &r.cameras {
        d.gap();
        d.section(&format!("{} · {}", c.camera, c.name));
        d.field(
            "Avtal",
            c.agreement
                .as_deref()
                .unwrap_or("saknas: kameran analyseras inte"),
        );
        d.field(
            "Tillgänglighet",
            &format!(
                "{} över {:.1} drifttimmar; {} olämpliga dagar",
                c.availability_pct
                    .map_or("–".into(), |v| format!("{v:.1} %")),
                c.observed_hours,
                c.unfit_days
            ),
        );
        d.table_row(
            &[
                "dag".into(),
                "drifttimmar".into(),
                "tillgänglighet".into(),
                "bedömning".into(),
                "ansikten".into(),
            ],
            true,
        );
        for x in &c.days {
            d.table_row(
                &[
                    x.day.clone(),
                    format!("{:.1}", x.observed_hours),
                    x.availability_pct
                        .map_or("–".into(), |v| format!("{v:.1} %")),
                    match x.verdict.as_str() {
                        "fit" => "lämplig".into(),
                        "unfit" => "olämplig".into(),
                        _ => "okänd".into(),
                    },
                    x.faces_seen.to_string(),
                ],
                false,
            );
            if x.verdict == "unfit" && !x.reasons.is_empty() {
                d.small(&x.reasons.join("; "));
            }
        }
    }
    d.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(camera: &str, day: &str, observed_h: i64, available_h: i64, unfit_h: i64) -> CameraDay {
        CameraDay {
            camera: camera.into(),
            day: day.into(),
            observed_ms: observed_h * HOUR,
            available_ms: available_h * HOUR,
            frames_in: 0,
            faces_seen: 7,
            faces_identifiable: 3,
            passers_by: 2,
            fit_ms: (observed_h - unfit_h) * HOUR,
            unfit_ms: unfit_h * HOUR,
            unknown_ms: 0,
            fitness: if unfit_h > 0 { "unfit" } else { "fit" }.into(),
            reasons: if unfit_h > 0 {
                vec!["resolution 640x480 is under 1280x720".into()]
            } else {
                vec![]
            },
        }
    }

    fn cam(id: &str, owner: &str) -> Camera {
        Camera {
            id: id.into(),
            name: format!("camera {id}, \"east\""),
            location: None,
            owner: owner.into(),
            enabled: true,
            agreement: None,
        }
    }

    #[test]
    fn figures_per_camera_and_day_against_the_target() {
        let cameras = [
            cam("m-1", "municipality:Stockholm"),
            cam("m-2", "municipality:Stockholm"),
            cam("r-1", "region:Jönköping"),
        ];
        let days = [
            day("m-1", "2026-08-01", 24, 24, 0),
            day("m-1", "2026-08-02", 24, 20, 2),
            day("m-1", "2026-08-09", 24, 24, 0), // outside the span
            day("m-2", "2026-08-01", 10, 10, 0),
            day("r-1", "2026-08-01", 24, 0, 0), // another owner
        ];
        let r = sla(&SlaInputs {
            owner: "municipality:Stockholm",
            from: "2026-08-01",
            until: "2026-08-07",
            permit: None,
            cameras: &cameras,
            days: &days,
            now: Timestamp(0),
        });
        assert_eq!(r.cameras.len(), 2);
        let m1 = &r.cameras[0];
        assert_eq!(m1.days.len(), 2);
        assert_eq!(m1.observed_hours, 48.0);
        assert!((m1.availability_pct.unwrap() - 44.0 / 48.0 * 100.0).abs() < 1e-9);
        assert_eq!(m1.met, Some(false));
        assert_eq!(m1.unfit_days, 1);
        assert_eq!(r.cameras[1].met, Some(true));
        assert_eq!((r.cameras_met, r.cameras_ran), (1, 2));
        assert!((r.availability_pct.unwrap() - 54.0 / 58.0 * 100.0).abs() < 1e-9);
        let csv = sla_csv(&r);
        assert_eq!(csv.lines().count(), 1 + 3 + 2, "{csv}");
        assert!(csv.contains("\"m-1\",\"\",\"2026-08-02\",24.00,83.3,95,false,\"unfit\",7,"));
        // One permit's cameras only.
        let covered = vec!["m-2".to_string()];
        let r = sla(&SlaInputs {
            permit: Some(("P-1", &covered)),
            owner: "municipality:Stockholm",
            from: "2026-08-01",
            until: "2026-08-07",
            cameras: &cameras,
            days: &days,
            now: Timestamp(0),
        });
        assert_eq!(r.cameras.len(), 1);
        assert_eq!(r.permit.as_deref(), Some("P-1"));
        let pdf = sla_pdf(&r);
        assert!(pdf.starts_with(b"%PDF"));
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(q("a,\"b\""), "\"a,\"\"b\"\"\"");
        assert_eq!(q("=cmd()"), "\"'=cmd()\"");
        assert_eq!(q("\t=cmd()"), "\"'\t=cmd()\"");
    }
}
