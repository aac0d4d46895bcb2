//! Documents mandat owes its supervisors, built from the register and the permit records and
//! returned as bytes (no file or network I/O here): the notification to IMY of every use, as JSON
//! and as PDF; the annual report of art. 5(6) as CSV, JSON and PDF with charts; the evaluation
//! report (accuracy, open-set identification, calibration, demographic differentials) as HTML.

pub mod annual;
pub mod evaluation;
mod pdf;
pub mod sla;

use mandat_law::imy::{NotificationKind, UseEnd};
use mandat_law::permit::AnnexII;
use mandat_store::imy::ImyRecord;

pub use pdf::Pdf;

/// The notification as JSON, as it is sent: the notification itself and its register status.
pub fn imy_json(rec: &ImyRecord) -> String {
    serde_json::to_string_pretty(rec).expect("records serialise")
}

/// The notification as a one-page PDF, in Swedish with the field names IMY's form uses.
pub fn imy_pdf(rec: &ImyRecord) -> Vec<u8> {
    let n = &rec.notification;
    let title = match n.kind {
        NotificationKind::UseStarted => "Underrättelse till IMY: användning påbörjad",
        NotificationKind::UseEnded => "Underrättelse till IMY: användning avslutad (uppföljning)",
    };
    let t = |v: Option<mandat_law::Timestamp>| v.map_or("–".to_string(), |t| t.to_rfc3339());
    let mut d = Pdf::new(title);
    d.heading(title);
    d.small(&format!(
        "Notification of use of real-time remote biometric identification · {} · register id {}",
        n.legal_basis, rec.id
    ));
    d.gap();
    d.section("Tillstånd / permit");
    d.field("Tillstånd", &n.permit);
    d.field("Rättslig grund", &format!("{}; {}", n.statute, n.profile));
    d.field("Ändamål", purpose_sv(n.purpose));
    d.field(
        "Brottskategori",
        &n.offence_category
            .map_or("– (ändamålet kräver inget brott)".into(), |c| {
                format!(
                    "{} ({:?})",
                    annex_ii_sv(c),
                    n.offence_stage
                        .unwrap_or(mandat_law::permit::Stage::Completed)
                )
            }),
    );
    if let Some(v) = n.victim_category {
        d.field(
            "Brottsoffer",
            match v {
                mandat_law::grounds::VictimCategory::Abduction => "bortförande",
                mandat_law::grounds::VictimCategory::TraffickingInHumanBeings => "människohandel",
                mandat_law::grounds::VictimCategory::SexualExploitation => "sexuellt utnyttjande",
                mandat_law::grounds::VictimCategory::MissingPerson => "försvunnen person",
            },
        );
    }
    if let Some(k) = n.threat_kind {
        d.field(
            "Hotet gäller",
            match k {
                mandat_law::grounds::ThreatKind::Life => "liv",
                mandat_law::grounds::ThreatKind::PhysicalSafety => "fysisk säkerhet",
                mandat_law::grounds::ThreatKind::TerroristAttack => "terroristattack",
            },
        );
    }
    d.field(
        "Beslutande",
        match n.decider {
            mandat_law::Authority::Court => "domstol",
            mandat_law::Authority::Prosecutor => "åklagare",
        },
    );
    d.field(
        "Beslut",
        &match (n.decision, n.decided_at) {
            (Some(o), Some(at)) => format!(
                "{} {}",
                match o {
                    mandat_law::Outcome::Grant => "beviljat",
                    mandat_law::Outcome::Refuse => "avslaget",
                },
                at.to_rfc3339()
            ),
            _ => "inget beslut ännu".into(),
        },
    );
    d.field("Brådskande start", &t(n.urgent_started_at));
    d.gap();
    d.section("Omfattning / scope");
    d.field(
        "Period",
        &format!(
            "{} – {}",
            n.period.start.to_rfc3339(),
            n.period.end.to_rfc3339()
        ),
    );
    d.field("Kameror i området", &n.cameras.to_string());
    if !n.partner_cameras.is_empty() {
        d.field(
            "Varav partnerkameror",
            &n.partner_cameras
                .iter()
                .map(|c| {
                    format!(
                        "{} ({}, avtal {})",
                        c.camera,
                        c.owner,
                        c.agreement.as_deref().unwrap_or("saknas")
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        );
    }
    d.field(
        "Polygon",
        &n.polygon.as_ref().map_or("–".into(), |p| {
            p.iter()
                .map(|(la, lo)| format!("{la:.5} {lo:.5}"))
                .collect::<Vec<_>>()
                .join(", ")
        }),
    );
    d.field(
        "Utpekade personer (antal)",
        &n.designated_persons.to_string(),
    );
    d.gap();
    d.section("Användning / use");
    d.field("Påbörjad", &t(n.use_started_at));
    d.field("Avslutad", &t(n.use_ended_at));
    if let Some(e) = n.ended_by {
        d.field(
            "Hur den avslutades",
            match e {
                UseEnd::PeriodEnded => "perioden löpte ut",
                UseEnd::Stopped => "stoppad",
                UseEnd::Refused => "avslaget; allt som användningen gav raderat",
                UseEnd::Overturned => {
                    "upphävt efter överklagande; allt som användningen gav raderat"
                }
                UseEnd::UrgentDeadlineMissed => {
                    "ingen ansökan inom 24 timmar; stoppad och raderad av mandat"
                }
            },
        );
    }
    d.gap();
    d.section("Register");
    d.field("Skapad", &rec.created_at.to_rfc3339());
    d.field(
        "Skickad",
        &rec.sent_at.map_or("ej skickad".into(), |s| {
            format!(
                "{} av {}",
                s.to_rfc3339(),
                rec.sent_by.as_deref().unwrap_or("?")
            )
        }),
    );
    d.field(
        "Kvitterad av IMY",
        &rec.acknowledged_at.map_or("nej".into(), |a| {
            format!(
                "{} ({})",
                a.to_rfc3339(),
                rec.imy_reference.as_deref().unwrap_or("")
            )
        }),
    );
    if let Some(a) = &n.audit_anchor {
        d.gap();
        d.section("Loggankare / audit anchor");
        d.field("Post", &format!("{} ({})", a.seq, a.at));
        d.field("Hash", &a.hash);
        // Hex without spaces would not wrap: 64 digits a line.
        let sig: Vec<&str> = a
            .signature
            .as_bytes()
            .chunks(64)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .collect();
        d.field("Signatur", &sig.join(" "));
        d.field("Nyckel", &a.key);
    }
    d.gap();
    d.small("Innehåller inga personuppgifter: inga namn, bilder eller biometriska data, endast antal och kategorier.");
    d.finish()
}

fn purpose_sv(p: mandat_law::Purpose) -> &'static str {
    use mandat_law::Purpose::*;
    match p {
        VictimSearch => "söka brottsoffer eller försvunnen person",
        ImminentThreat => "avvärja överhängande hot mot liv eller säkerhet",
        SuspectLocation => "lokalisera misstänkt för brott (minst 4 år)",
        SentenceEnforcement => "verkställa straff för sådant brott",
    }
}

fn annex_ii_sv(c: AnnexII) -> String {
    // The category's stable name, readable: `grievous_bodily_injury` -> `grievous bodily injury`.
    serde_json::to_value(c)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
        .unwrap_or_default()
}
