//! The annual report (AI Act art. 5(6)): per year and per purpose, what was applied for and decided,
//! how much was used, what the machine flagged and what the reviewers made of it, and how the
//! persons found were notified. Computed from records alone (a pure function), exported as CSV,
//! JSON and PDF with charts drawn by plotters.

use mandat_law::appeal::Position;
use mandat_law::permit::Purpose;
use mandat_law::review::AlertState;
use mandat_law::subject::SubjectTask;
use mandat_law::time::HOUR;
use mandat_law::{Outcome, Permit, Timestamp, UseResult};
use mandat_store::Camera;
use mandat_store::alerts::AlertRecord;
use mandat_store::camera_days::CameraDay;
use serde::Serialize;

/// What the report is computed from.
pub struct AnnualInputs<'a> {
    pub year: i32,
    /// When the report is made: uses still running count up to this instant.
    pub now: Timestamp,
    pub permits: &'a [Permit],
    /// Stored alerts captured in the year.
    pub alerts: &'a [AlertRecord],
    /// Alerts deleted by purges in the year: (permit, how many), from the deletion certificates.
    pub purged_alerts: &'a [(String, usize)],
    pub tasks: &'a [SubjectTask],
    pub cameras: &'a [Camera],
    /// The cameras' days of the year (`mandat_store::camera_days`).
    pub days: &'a [CameraDay],
}

/// The cameras of one owner kind (police, municipality, region, private) over the year.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OwnerLine {
    pub owner_kind: String,
    /// Registered now.
    pub cameras_registered: u64,
    /// Covered by a use that started in the year.
    pub cameras_used: u64,
    /// Camera-hours of the year's uses on these cameras.
    pub camera_hours: f64,
    /// Hours an engine ran them, from the days measured, and the share of it they were available.
    pub observed_hours: f64,
    pub availability_pct: Option<f64>,
    /// Camera-days whose verdict was unfit.
    pub unfit_days: u64,
}

/// One line of the report: one purpose, or the total.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Row {
    pub purpose: String,
    pub applications: u64,
    pub grants: u64,
    pub refusals: u64,
    pub urgent_starts: u64,
    pub urgent_then_granted: u64,
    pub urgent_then_refused: u64,
    /// No application within the deadline: stopped and purged by mandat.
    pub urgent_lapsed: u64,
    pub urgent_pending: u64,
    /// Hours from an urgent start to its application, over the urgent starts of the year that
    /// were applied for: the mean and the longest. None when there were none.
    pub urgent_hours_to_application_mean: Option<f64>,
    pub urgent_hours_to_application_max: Option<f64>,
    pub uses: u64,
    pub camera_hours: f64,
    pub persons_designated: u64,
    /// Candidate alerts raised, purged ones included.
    pub alerts: u64,
    pub alerts_verified: u64,
    pub alerts_rejected: u64,
    pub alerts_expired: u64,
    pub alerts_purged: u64,
    /// Rejected over all reviewed (verified or rejected); none when nothing was reviewed.
    pub false_alert_rate: Option<f64>,
    pub subjects_notified: u64,
    pub subjects_deferred: u64,
    /// Persons the decider approved not to notify, with reasons.
    pub subjects_waived: u64,
    /// Of the uses counted in `uses`, those whose applicant recorded what they led to, and what:
    /// a use may lead to several results (located, then arrested).
    pub outcomes_recorded: u64,
    pub outcome_person_located: u64,
    pub outcome_arrested: u64,
    pub outcome_victim_found: u64,
    pub outcome_nothing: u64,
    pub outcome_false_identification: u64,
    /// The court's procedure, where the profile has one: opinions of a public counsel that
    /// opposed the application, appeals filed, and grants overturned on appeal.
    pub counsel_opposed: u64,
    pub appeals: u64,
    pub overturned: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AnnualReport {
    pub year: i32,
    pub generated_at: Timestamp,
    pub rows: Vec<Row>,
    pub total: Row,
    /// Per owner kind: police cameras and the partners' (counts only).
    pub owners: Vec<OwnerLine>,
    /// What the figures cannot show.
    pub notes: Vec<String>,
}

const PURPOSES: [Purpose; 4] = [
    Purpose::VictimSearch,
    Purpose::ImminentThreat,
    Purpose::SuspectLocation,
    Purpose::SentenceEnforcement,
];

fn idx(p: Purpose) -> usize {
    PURPOSES
        .iter()
        .position(|x| *x == p)
        .expect("every purpose has a row")
}

fn year_of(t: Timestamp) -> i32 {
    t.to_rfc3339()[..4].parse().unwrap_or(0)
}

/// Compute the report.
pub fn annual(i: &AnnualInputs) -> AnnualReport {
    let in_year = |t: Option<Timestamp>| t.is_some_and(|t| year_of(t) == i.year);
    let purpose_of = |permit: &str| {
        i.permits
            .iter()
            .find(|p| p.id == permit)
            .map(|p| p.application.purpose)
    };
    let mut rows: Vec<Row> = PURPOSES
        .iter()
        .map(|p| Row {
            purpose: p.as_str().to_string(),
            ..Row::default()
        })
        .collect();
    // Hours from urgent start to application, per purpose.
    let mut delays: Vec<Vec<f64>> = vec![Vec::new(); PURPOSES.len()];
    for p in i.permits {
        let r = &mut rows[idx(p.application.purpose)];
        if in_year(p.applied_at) {
            r.applications += 1;
        }
        if let Some(d) = &p.decision
            && in_year(Some(d.at))
        {
            match d.outcome {
                Outcome::Grant => r.grants += 1,
                Outcome::Refuse => r.refusals += 1,
            }
        }
        if let Some(u) = &p.urgent
            && in_year(Some(u.started_at))
        {
            r.urgent_starts += 1;
            if let Some(applied) = p.applied_at {
                delays[idx(p.application.purpose)]
                    .push((applied.0 - u.started_at.0).max(0) as f64 / HOUR as f64);
            }
            match (&p.decision, &p.stop) {
                (Some(d), _) if d.outcome == Outcome::Grant => r.urgent_then_granted += 1,
                (Some(_), _) => r.urgent_then_refused += 1,
                (None, Some(s)) if s.by.is_none() => r.urgent_lapsed += 1,
                _ => r.urgent_pending += 1,
            }
        }
        if p.counsel
            .as_ref()
            .and_then(|c| c.opinion.as_ref())
            .is_some_and(|o| o.position == Position::Opposes && in_year(Some(o.at)))
        {
            r.counsel_opposed += 1;
        }
        if let Some(a) = &p.appeal {
            if in_year(Some(a.at)) {
                r.appeals += 1;
            }
            if p.status == mandat_law::Status::Overturned
                && a.decision.as_ref().is_some_and(|d| in_year(Some(d.at)))
            {
                r.overturned += 1;
            }
        }
        if let Some(start) = p.use_started_at
            && in_year(Some(start))
        {
            r.uses += 1;
            r.persons_designated += p.application.persons.len() as u64;
            let end = use_end(p, i.now);
            let cams = i
                .cameras
                .iter()
                .filter(|c| p.application.area.covers(&c.id))
                .count();
            r.camera_hours += (end.0 - start.0).max(0) as f64 / HOUR as f64 * cams as f64;
            if let Some(o) = &p.use_outcome {
                r.outcomes_recorded += 1;
                for x in &o.results {
                    *match x {
                        UseResult::PersonLocated => &mut r.outcome_person_located,
                        UseResult::Arrested => &mut r.outcome_arrested,
                        UseResult::VictimFound => &mut r.outcome_victim_found,
                        UseResult::Nothing => &mut r.outcome_nothing,
                        UseResult::FalseIdentificationActedOn => {
                            &mut r.outcome_false_identification
                        }
                    } += 1;
                }
            }
        }
    }
    for a in i.alerts.iter().filter(|a| year_of(a.captured_at) == i.year) {
        let Some(p) = purpose_of(&a.permit) else {
            continue;
        };
        let r = &mut rows[idx(p)];
        r.alerts += 1;
        match a.state {
            AlertState::Verified => r.alerts_verified += 1,
            AlertState::Rejected => r.alerts_rejected += 1,
            AlertState::Expired => r.alerts_expired += 1,
            AlertState::Candidate => {}
        }
    }
    for (permit, n) in i.purged_alerts {
        if let Some(p) = purpose_of(permit) {
            let r = &mut rows[idx(p)];
            r.alerts += *n as u64;
            r.alerts_purged += *n as u64;
        }
    }
    for t in i.tasks {
        let Some(p) = purpose_of(&t.permit) else {
            continue;
        };
        let r = &mut rows[idx(p)];
        if in_year(t.completed_at) {
            r.subjects_notified += 1;
        }
        if t.deferrals.iter().any(|d| in_year(Some(d.at))) {
            r.subjects_deferred += 1;
        }
        let waived = t.waivers.last().and_then(|w| w.decision.as_ref());
        if waived.is_some_and(|d| d.approved && in_year(Some(d.at))) {
            r.subjects_waived += 1;
        }
    }
    let mut total = Row {
        purpose: "total".into(),
        ..Row::default()
    };
    let mean_max = |d: &[f64]| {
        (
            (!d.is_empty()).then(|| d.iter().sum::<f64>() / d.len() as f64),
            d.iter().copied().reduce(f64::max),
        )
    };
    for (r, d) in rows.iter_mut().zip(&delays) {
        (
            r.urgent_hours_to_application_mean,
            r.urgent_hours_to_application_max,
        ) = mean_max(d);
    }
    let all: Vec<f64> = delays.concat();
    (
        total.urgent_hours_to_application_mean,
        total.urgent_hours_to_application_max,
    ) = mean_max(&all);
    for r in rows.iter_mut() {
        r.false_alert_rate = rate(r);
        total.applications += r.applications;
        total.grants += r.grants;
        total.refusals += r.refusals;
        total.urgent_starts += r.urgent_starts;
        total.urgent_then_granted += r.urgent_then_granted;
        total.urgent_then_refused += r.urgent_then_refused;
        total.urgent_lapsed += r.urgent_lapsed;
        total.urgent_pending += r.urgent_pending;
        total.uses += r.uses;
        total.camera_hours += r.camera_hours;
        total.persons_designated += r.persons_designated;
        total.alerts += r.alerts;
        total.alerts_verified += r.alerts_verified;
        total.alerts_rejected += r.alerts_rejected;
        total.alerts_expired += r.alerts_expired;
        total.alerts_purged += r.alerts_purged;
        total.subjects_notified += r.subjects_notified;
        total.subjects_deferred += r.subjects_deferred;
        total.subjects_waived += r.subjects_waived;
        total.outcomes_recorded += r.outcomes_recorded;
        total.outcome_person_located += r.outcome_person_located;
        total.outcome_arrested += r.outcome_arrested;
        total.outcome_victim_found += r.outcome_victim_found;
        total.outcome_nothing += r.outcome_nothing;
        total.outcome_false_identification += r.outcome_false_identification;
        total.counsel_opposed += r.counsel_opposed;
        total.appeals += r.appeals;
        total.overturned += r.overturned;
    }
    total.false_alert_rate = rate(&total);
    let owners = owner_lines(i, &in_year);
    AnnualReport {
        year: i.year,
        generated_at: i.now,
        rows,
        total,
        owners,
        notes: vec![
            "Purged alerts (of refused or lapsed urgent uses) are counted from their deletion \
             certificates; how they were reviewed was deleted with them."
                .into(),
            "Camera-hours count the cameras an area covers today, over the time each use ran."
                .into(),
            "The false-alert rate counts what reviewers rejected; an alert that expired \
             unreviewed is not in it."
                .into(),
            "Outcomes are what each use's applicant recorded after it ended; a use without one \
             is counted in uses but not in outcomes_recorded."
                .into(),
            "Hours from urgent start to application count the urgent starts that were applied \
             for; a lapsed one (no application in time) is counted in urgent_lapsed only."
                .into(),
            "Cameras per owner count the cameras registered when the report is made; observed \
             hours and availability come from the days the engines measured, which a camera has \
             only while a permit covers it."
                .into(),
        ],
    }
}

fn owner_lines(i: &AnnualInputs, in_year: &dyn Fn(Option<Timestamp>) -> bool) -> Vec<OwnerLine> {
    use mandat_law::OwnerKind;
    let kinds: std::collections::HashMap<&str, OwnerKind> = i
        .cameras
        .iter()
        .filter_map(|c| Some((c.id.as_str(), c.owner_kind()?)))
        .collect();
    let kind_of = |id: &str| kinds.get(id).copied();
    OwnerKind::ALL
        .iter()
        .map(|&k| {
            let mine: Vec<&Camera> = i
                .cameras
                .iter()
                .filter(|c| c.owner_kind() == Some(k))
                .collect();
            let mut used = std::collections::BTreeSet::new();
            let mut camera_hours = 0.0;
            for p in i.permits.iter() {
                let Some(start) = p.use_started_at.filter(|&s| in_year(Some(s))) else {
                    continue;
                };
                let end = use_end(p, i.now);
                for c in mine.iter().filter(|c| p.application.area.covers(&c.id)) {
                    used.insert(c.id.clone());
                    // A partner camera ran only within its agreement.
                    if let Some((s, e)) =
                        mandat_law::partner::usable_within(k, c.agreement.as_ref(), start, end)
                    {
                        camera_hours += (e.0 - s.0) as f64 / HOUR as f64;
                    }
                }
            }
            let days: Vec<&CameraDay> = i
                .days
                .iter()
                .filter(|d| kind_of(&d.camera) == Some(k) && d.day.starts_with(&i.year.to_string()))
                .collect();
            let observed: i64 = days.iter().map(|d| d.observed_ms).sum();
            let available: i64 = days.iter().map(|d| d.available_ms).sum();
            OwnerLine {
                owner_kind: k.as_str().into(),
                cameras_registered: mine.len() as u64,
                cameras_used: used.len() as u64,
                camera_hours,
                observed_hours: observed as f64 / HOUR as f64,
                availability_pct: (observed > 0)
                    .then(|| 100.0 * available as f64 / observed as f64),
                unfit_days: days.iter().filter(|d| d.verdict() == "unfit").count() as u64,
            }
        })
        .collect()
}

/// The owner lines as CSV, one per owner kind.
pub fn owners_csv(r: &AnnualReport) -> String {
    let mut out = String::from(
        "year,owner_kind,cameras_registered,cameras_used,camera_hours,observed_hours,availability_pct,unfit_days\n",
    );
    for o in &r.owners {
        out.push_str(&format!(
            "{},{},{},{},{:.1},{:.1},{},{}\n",
            r.year,
            o.owner_kind,
            o.cameras_registered,
            o.cameras_used,
            o.camera_hours,
            o.observed_hours,
            o.availability_pct
                .map_or(String::new(), |v| format!("{v:.1}")),
            o.unfit_days
        ));
    }
    out
}

/// When a use ended, for its camera-hours: its end, or `now` while it runs, never past what the
/// decision allowed.
fn use_end(p: &Permit, now: Timestamp) -> Timestamp {
    p.use_ended_at.unwrap_or(now).min(p.end_in_force())
}

fn rate(r: &Row) -> Option<f64> {
    let reviewed = r.alerts_verified + r.alerts_rejected;
    (reviewed > 0).then(|| r.alerts_rejected as f64 / reviewed as f64)
}

/// Hours with one decimal, or empty when there is no figure.
fn hours(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v:.1}"))
}

/// The report as CSV: one line per purpose and the total.
pub fn csv(r: &AnnualReport) -> String {
    let mut out = String::from(
        "year,purpose,applications,grants,refusals,urgent_starts,urgent_then_granted,urgent_then_refused,urgent_lapsed,urgent_pending,uses,camera_hours,persons_designated,alerts,alerts_verified,alerts_rejected,alerts_expired,alerts_purged,false_alert_rate,subjects_notified,subjects_deferred,outcomes_recorded,outcome_person_located,outcome_arrested,outcome_victim_found,outcome_nothing,outcome_false_identification,urgent_hours_to_application_mean,urgent_hours_to_application_max,counsel_opposed,appeals,overturned,subjects_waived\n",
    );
    for x in r.rows.iter().chain([&r.total]) {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{:.1},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            r.year,
            x.purpose,
            x.applications,
            x.grants,
            x.refusals,
            x.urgent_starts,
            x.urgent_then_granted,
            x.urgent_then_refused,
            x.urgent_lapsed,
            x.urgent_pending,
            x.uses,
            x.camera_hours,
            x.persons_designated,
            x.alerts,
            x.alerts_verified,
            x.alerts_rejected,
            x.alerts_expired,
            x.alerts_purged,
            x.false_alert_rate
                .map_or(String::new(), |v| format!("{v:.4}")),
            x.subjects_notified,
            x.subjects_deferred,
            x.outcomes_recorded,
            x.outcome_person_located,
            x.outcome_arrested,
            x.outcome_victim_found,
            x.outcome_nothing,
            x.outcome_false_identification,
            hours(x.urgent_hours_to_application_mean),
            hours(x.urgent_hours_to_application_max),
            x.counsel_opposed,
            x.appeals,
            x.overturned,
            x.subjects_waived,
        ));
    }
    out
}

/// Swedish names of the purposes, for the PDF.
fn purpose_short(p: &str) -> &str {
    match p {
        "victim_search" => "brottsoffer",
        "imminent_threat" => "hot",
        "suspect_location" => "misstänkt",
        "sentence_enforcement" => "verkställighet",
        other => other,
    }
}

/// A chart as RGB pixels: (title, width, height, pixels).
pub struct Chart {
    pub title: String,
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

/// Grouped bars: for each purpose, one bar per series.
fn grouped_bars(
    title: &str,
    series: &[(&str, plotters::style::RGBColor, Vec<u64>)],
    groups: &[String],
) -> Result<Chart, String> {
    use plotters::prelude::*;
    let (w, h) = (1200u32, 520u32);
    let mut rgb = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let max = series
            .iter()
            .flat_map(|s| s.2.iter().copied())
            .max()
            .unwrap_or(0)
            .max(1);
        let n = groups.len();
        let k = series.len();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 30))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..n as f64, 0f64..(max as f64 * 1.15))
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                if (x - i as f64 - 0.5).abs() < 0.01 && i < n {
                    groups[i].clone()
                } else {
                    String::new()
                }
            })
            .y_desc("count")
            .label_style(("sans-serif", 20))
            .draw()
            .map_err(|e| e.to_string())?;
        let bar = 0.8 / k as f64;
        for (si, (name, color, values)) in series.iter().enumerate() {
            let color = *color;
            chart
                .draw_series(values.iter().enumerate().map(|(gi, v)| {
                    let x0 = gi as f64 + 0.1 + si as f64 * bar;
                    Rectangle::new([(x0, 0.0), (x0 + bar * 0.92, *v as f64)], color.filled())
                }))
                .map_err(|e| e.to_string())?
                .label(*name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 20))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(Chart {
        title: title.to_string(),
        width: w as usize,
        height: h as usize,
        rgb,
    })
}

/// The report's charts: decisions and alerts by purpose.
pub fn charts(r: &AnnualReport) -> Result<Vec<Chart>, String> {
    use plotters::style::RGBColor;
    let groups: Vec<String> = r
        .rows
        .iter()
        .map(|x| purpose_short(&x.purpose).to_string())
        .collect();
    let col = |f: fn(&Row) -> u64| r.rows.iter().map(f).collect::<Vec<_>>();
    Ok(vec![
        grouped_bars(
            &format!("Ansökningar och beslut {}", r.year),
            &[
                (
                    "ansökningar",
                    RGBColor(90, 110, 140),
                    col(|x| x.applications),
                ),
                ("beviljade", RGBColor(46, 125, 50), col(|x| x.grants)),
                ("avslagna", RGBColor(198, 40, 40), col(|x| x.refusals)),
                (
                    "brådskande starter",
                    RGBColor(239, 108, 0),
                    col(|x| x.urgent_starts),
                ),
            ],
            &groups,
        )?,
        grouped_bars(
            &format!("Larm och granskning {}", r.year),
            &[
                (
                    "verifierade",
                    RGBColor(46, 125, 50),
                    col(|x| x.alerts_verified),
                ),
                (
                    "avvisade",
                    RGBColor(198, 40, 40),
                    col(|x| x.alerts_rejected),
                ),
                (
                    "utgångna",
                    RGBColor(120, 120, 120),
                    col(|x| x.alerts_expired),
                ),
                ("raderade", RGBColor(106, 27, 154), col(|x| x.alerts_purged)),
            ],
            &groups,
        )?,
    ])
}

fn owner_sv(kind: &str) -> &str {
    match kind {
        "police" => "polisen",
        "municipality" => "kommun",
        "region" => "region",
        "private" => "privat",
        other => other,
    }
}

/// The report as PDF: the table (metrics down, purposes across) and the charts.
pub fn pdf(r: &AnnualReport) -> Result<Vec<u8>, String> {
    let title = format!("Årsrapport {}: realtidsbiometrisk identifiering", r.year);
    let mut d = crate::Pdf::new(&title);
    d.heading(&title);
    d.small(&format!(
        "Annual report under AI Act art. 5(6), per purpose. Generated {}. No personal data: counts only.",
        r.generated_at.to_rfc3339()
    ));
    d.gap();
    let mut head = vec![String::new()];
    head.extend(r.rows.iter().map(|x| purpose_short(&x.purpose).to_string()));
    head.push("totalt".into());
    d.table_row(&head, true);
    let fmt_rate = |v: Option<f64>| v.map_or("–".into(), |v| format!("{:.1} %", v * 100.0));
    type Get = fn(&Row) -> String;
    let lines: [(&str, Get); 30] = [
        ("Ansökningar", |x| x.applications.to_string()),
        ("Beviljade", |x| x.grants.to_string()),
        ("Avslagna", |x| x.refusals.to_string()),
        ("Brådskande starter", |x| x.urgent_starts.to_string()),
        ("  därefter beviljade", |x| {
            x.urgent_then_granted.to_string()
        }),
        ("  därefter avslagna", |x| {
            x.urgent_then_refused.to_string()
        }),
        ("  utan ansökan i tid", |x| x.urgent_lapsed.to_string()),
        ("  inte avgjorda", |x| x.urgent_pending.to_string()),
        ("  timmar till ansökan, medel / längst", |x| {
            match (
                x.urgent_hours_to_application_mean,
                x.urgent_hours_to_application_max,
            ) {
                (Some(m), Some(l)) => format!("{m:.1} / {l:.1}"),
                _ => "–".into(),
            }
        }),
        ("Användningar", |x| x.uses.to_string()),
        ("Kameratimmar", |x| format!("{:.1}", x.camera_hours)),
        ("Utpekade personer", |x| x.persons_designated.to_string()),
        ("Larm", |x| x.alerts.to_string()),
        ("  verifierade", |x| x.alerts_verified.to_string()),
        ("  avvisade", |x| x.alerts_rejected.to_string()),
        ("  utgångna", |x| x.alerts_expired.to_string()),
        ("  raderade", |x| x.alerts_purged.to_string()),
        ("Andel falsklarm", |_| String::new()),
        ("Underrättade personer", |x| {
            x.subjects_notified.to_string()
        }),
        ("Uppskjutna underrättelser", |x| {
            x.subjects_deferred.to_string()
        }),
        ("Underrättelser som inte ska ske", |x| {
            x.subjects_waived.to_string()
        }),
        ("Användningar med utfall", |x| {
            x.outcomes_recorded.to_string()
        }),
        ("  person lokaliserad", |x| {
            x.outcome_person_located.to_string()
        }),
        ("  gripande", |x| x.outcome_arrested.to_string()),
        ("  brottsoffer påträffat", |x| {
            x.outcome_victim_found.to_string()
        }),
        ("  inget resultat", |x| x.outcome_nothing.to_string()),
        ("  felidentifiering som lett till åtgärd", |x| {
            x.outcome_false_identification.to_string()
        }),
        ("Offentligt ombud emot", |x| x.counsel_opposed.to_string()),
        ("Överklaganden", |x| x.appeals.to_string()),
        ("  upphävda tillstånd", |x| x.overturned.to_string()),
    ];
    for (label, get) in lines {
        if label.is_empty() {
            continue;
        }
        let mut cells = vec![label.to_string()];
        for x in r.rows.iter().chain([&r.total]) {
            cells.push(if label == "Andel falsklarm" {
                fmt_rate(x.false_alert_rate)
            } else {
                get(x)
            });
        }
        d.table_row(&cells, false);
    }
    d.gap();
    d.section("Kameror per ägare / cameras per owner");
    d.table_row(
        &[
            "ägare".into(),
            "registrerade".into(),
            "använda".into(),
            "kameratimmar".into(),
            "drifttimmar".into(),
            "tillgänglighet".into(),
            "olämpliga dagar".into(),
        ],
        true,
    );
    for o in &r.owners {
        d.table_row(
            &[
                owner_sv(&o.owner_kind).into(),
                o.cameras_registered.to_string(),
                o.cameras_used.to_string(),
                format!("{:.1}", o.camera_hours),
                format!("{:.1}", o.observed_hours),
                o.availability_pct
                    .map_or("–".into(), |v| format!("{v:.1} %")),
                o.unfit_days.to_string(),
            ],
            false,
        );
    }
    d.gap();
    for n in &r.notes {
        d.small(n);
    }
    for c in charts(r)? {
        d.gap();
        d.image(c.rgb, c.width, c.height, 170.0);
    }
    Ok(d.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mandat_law::lifecycle::Member;
    use mandat_law::{Actor, Role, SWEDEN};

    /// An urgent use of `purpose` started at `start` and applied for `hours` later.
    fn urgent(id: &str, purpose: &str, start: Timestamp, hours: i64) -> Permit {
        let a: mandat_law::Application = serde_json::from_value(serde_json::json!({
            "agency": "polismyndigheten",
            "purpose": purpose,
            "case_number": "5000-K1-26",
            "offence": null,
            "victim": (purpose == "victim_search").then_some("missing_person"),
            "threat": (purpose == "imminent_threat")
                .then(|| serde_json::json!({"kind": "life", "imminence": "now"})),
            "persons": [{"id": "p", "label": "l", "photos": [{"id": "ph", "source": "s"}]}],
            "area": {"cameras": ["cam-1"], "polygon": null},
            "period": {"start": start.0, "end": start.plus_hours(72).0},
            "reasons": {"necessity": "n", "proportionality": "p", "fria_ref": "f", "eu_db_ref": "e"},
            "threshold": 0.4
        }))
        .unwrap();
        let officer = Actor::new("officer", &[Role::Applicant]);
        let mut p = Permit::draft(id.into(), &SWEDEN, a, &officer, start).unwrap();
        p.team.push(Member {
            user: "pros".into(),
            role: Role::Prosecutor,
            assigned_by: "officer".into(),
            assigned_at: start,
        });
        p.urgent_start(&officer, &SWEDEN, "now", start).unwrap();
        if hours >= 0 {
            p.apply(&officer, &SWEDEN, start.plus_hours(hours)).unwrap();
        }
        p
    }

    /// Opposing opinions, appeals and overturns count in the year they were made, per purpose.
    #[test]
    fn the_court_procedure_is_counted_per_purpose() {
        use mandat_law::appeal::{
            Appeal, AppealDecision, AppealOutcome, Counsel, Opinion, Party, Position,
        };
        let t = Timestamp::parse_rfc3339("2026-08-03T08:00:00Z").unwrap();
        let next_year = Timestamp::parse_rfc3339("2027-01-02T08:00:00Z").unwrap();
        let opinion = |position| Counsel {
            user: "counsel".into(),
            appointed_by: "judge".into(),
            at: t,
            opinion: Some(Opinion {
                position,
                text: String::new(),
                at: t,
            }),
        };
        let appeal = |decided: Option<(AppealOutcome, Timestamp)>| Appeal {
            by: "counsel".into(),
            party: Party::Counsel,
            at: t,
            grounds: String::new(),
            to: "higher".into(),
            decision: decided.map(|(outcome, at)| AppealDecision {
                by: "higher".into(),
                at,
                outcome,
                reasons: String::new(),
            }),
        };
        let mut a = urgent("a", "imminent_threat", t, 1);
        a.counsel = Some(opinion(Position::Opposes));
        a.appeal = Some(appeal(Some((AppealOutcome::Overturned, t))));
        a.status = mandat_law::Status::Overturned;
        let mut b = urgent("b", "imminent_threat", t, 1);
        b.counsel = Some(opinion(Position::NoObjection));
        b.appeal = Some(appeal(Some((AppealOutcome::Upheld, t))));
        let mut c = urgent("c", "victim_search", t, 1);
        c.counsel = Some(opinion(Position::Opposes));
        // Overturned next year: an appeal of this year, an overturn of the next.
        c.appeal = Some(appeal(Some((AppealOutcome::Overturned, next_year))));
        c.status = mandat_law::Status::Overturned;
        let r = annual(&AnnualInputs {
            year: 2026,
            now: t.plus_hours(30),
            permits: &[a, b, c],
            alerts: &[],
            purged_alerts: &[],
            tasks: &[],
            cameras: &[],
            days: &[],
        });
        let row = |p: &str| r.rows.iter().find(|x| x.purpose == p).unwrap();
        let it = row("imminent_threat");
        assert_eq!((it.counsel_opposed, it.appeals, it.overturned), (1, 2, 1));
        let vs = row("victim_search");
        assert_eq!((vs.counsel_opposed, vs.appeals, vs.overturned), (1, 1, 0));
        let tot = &r.total;
        assert_eq!(
            (tot.counsel_opposed, tot.appeals, tot.overturned),
            (2, 3, 1)
        );
        let csv = csv(&r);
        assert!(
            csv.lines()
                .next()
                .unwrap()
                .ends_with(",counsel_opposed,appeals,overturned,subjects_waived")
        );
        assert!(csv.lines().last().unwrap().ends_with(",2,3,1,0"), "{csv}");
    }

    #[test]
    fn hours_to_application_are_a_mean_and_a_longest_per_purpose_and_pooled() {
        let t = Timestamp::parse_rfc3339("2026-08-03T08:00:00Z").unwrap();
        let permits = [
            urgent("a", "imminent_threat", t, 1),
            urgent("b", "imminent_threat", t, 5),
            urgent("c", "victim_search", t, 12),
            // Never applied for: not in the figure.
            urgent("d", "imminent_threat", t, -1),
        ];
        let r = annual(&AnnualInputs {
            year: 2026,
            now: t.plus_hours(30),
            permits: &permits,
            alerts: &[],
            purged_alerts: &[],
            tasks: &[],
            cameras: &[],
            days: &[],
        });
        let row = |p: &str| r.rows.iter().find(|x| x.purpose == p).unwrap();
        let it = row("imminent_threat");
        assert_eq!(it.urgent_starts, 3);
        assert_eq!(
            (
                it.urgent_hours_to_application_mean,
                it.urgent_hours_to_application_max
            ),
            (Some(3.0), Some(5.0))
        );
        // Pooled over every urgent start, not a mean of the purposes' means (which would be 7.5).
        assert_eq!(
            (
                r.total.urgent_hours_to_application_mean,
                r.total.urgent_hours_to_application_max
            ),
            (Some(6.0), Some(12.0))
        );
        assert_eq!(
            row("suspect_location").urgent_hours_to_application_mean,
            None
        );
    }
}
