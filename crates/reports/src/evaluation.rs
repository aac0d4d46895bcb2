//! The evaluation report (`mandat eval report`): verification on LFW, open-set identification on
//! BLUFR, the calibrated thresholds with their held-out check, demographic differentials with
//! confidence intervals, and the model card. The command fills [`EvaluationReport`]; this module
//! renders it as one self-contained HTML page (plots referenced next to it, no script, no fonts
//! or styles fetched from anywhere).

use maud::{DOCTYPE, Markup, html};
use serde::{Deserialize, Serialize};

use mandat_eval::calibrate::Calibration;
use mandat_eval::demographic::{Rate, Spread};
use mandat_eval::metrics::TarAtFar;
use mandat_eval::openset::MeanSd;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvaluationReport {
    pub created_at: String,
    pub mandat_version: String,
    pub seconds: f64,
    pub pipeline: String,
    /// `Some(n)`: every n-th person and image only, a trial run.
    #[serde(default)]
    pub sample: Option<u32>,
    pub model_card: ModelCard,
    pub headline: Headline,
    pub lfw: Lfw,
    pub blufr: Blufr,
    pub calibration: Calibration,
    pub operating: Operating,
    pub demographics: Vec<GroupTable>,
    /// Per-template thresholds against the global one; absent when the cohort was too small.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_template: Option<PerTemplateReport>,
    /// Several photos per person: the matching rules compared; absent when no person has enough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_photo: Option<MultiPhotoReport>,
    /// What the data cannot show, said plainly.
    pub limits: Vec<String>,
}

/// Per-template thresholds (each template's own cosine from the impostor cohort) against the one
/// global threshold, at the same operating point and on the same trials.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PerTemplateReport {
    /// The normalised threshold `z` of the operating point, and the per-pair rate it stands for.
    pub z_threshold: f32,
    pub per_pair_target: f64,
    /// How the cohort and the UTKFace trials were formed.
    pub how: String,
    /// Side by side: (global, per-template) tables on the same trials.
    pub demographics: Vec<(GroupTable, GroupTable)>,
    /// Templates of each age (children, adults) against every other UTKFace face of their fold.
    pub against_all: Vec<(Rate, Rate)>,
    /// Genuine acceptance of LFW held-out people (first image enrolled, the others as probes) and
    /// the false match rate against the other held-out people, global and per template.
    pub tpir: TpirComparison,
    /// Single templates' realised rate over the target, global and per template.
    pub templates: (
        mandat_eval::cohort::TemplateSpread,
        mandat_eval::cohort::TemplateSpread,
    ),
    /// BLUFR DIR at rank 1 with each gallery template's own normalisation (cohort: UTKFace).
    pub blufr: Vec<(f64, MeanSd, MeanSd)>,
    pub goals: Vec<Goal>,
}

/// Several reference photos per person: the rules of [`mandat_eval::multiphoto`] at the same
/// false-positive rates, on LFW people with enough images and on BLUFR.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MultiPhotoReport {
    /// Who was enrolled, probed and used as impostors.
    pub how: String,
    pub persons: u32,
    pub impostors: u32,
    pub points: Vec<mandat_eval::multiphoto::FusionPoint>,
    /// How the BLUFR galleries gained photos.
    pub blufr_how: String,
    /// Mean photos per BLUFR gallery person, over the trials.
    pub blufr_photos: f64,
    pub blufr: Vec<BlufrMultiRow>,
    /// Why a permit's threshold counts photos, not persons: the realised rate of persons with
    /// several photos at the global table's threshold for one template and for as many as photos.
    pub counted: Vec<CountedCheck>,
    /// The rule mandat matches with, and why.
    pub chosen: String,
}

/// Persons enrolled with `photos` photos each (highest score), held-out people only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CountedCheck {
    pub fpir: f64,
    pub photos: u32,
    pub trials: u64,
    /// The table's threshold for one template, the rate realised with it and the share of the
    /// persons' genuine probes found.
    pub threshold_one: f32,
    pub realised_one: f64,
    pub tpir_one: f64,
    /// The same for the table's threshold for `photos` templates.
    pub threshold_counted: f32,
    pub realised_counted: f64,
    pub tpir_counted: f64,
}

/// BLUFR DIR at one FPIR with one gallery rule, on the probes left after the extra photos moved.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlufrMultiRow {
    pub fpir: f64,
    pub rule: String,
    pub summary: MeanSd,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TpirComparison {
    pub genuine_pairs: u64,
    pub tpir_global: f64,
    pub tpir_per_template: f64,
    pub impostor_pairs: u64,
    pub fmr_global: f64,
    pub fmr_per_template: f64,
}

/// One figure of the goals: the global threshold's value, the per-template one, the goal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Goal {
    pub figure: String,
    pub global: String,
    pub per_template: String,
    pub goal: String,
    pub met: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelCard {
    pub models: Vec<ModelEntry>,
    pub data: Vec<DataEntry>,
    pub known_limits: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelEntry {
    pub id: String,
    pub role: String,
    pub source: String,
    pub licence: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DataEntry {
    pub name: String,
    pub images: usize,
    pub detection_failures: usize,
    pub use_: String,
}

/// The four figures the README quotes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Headline {
    pub lfw_accuracy: f64,
    pub tar_at_far_1e3: f64,
    /// Mean − sd over the 10 trials.
    pub blufr_dir_at_fpir_1pc: f64,
    pub worst_best_fmr_ratio: Option<f64>,
    /// Which table and threshold the ratio comes from.
    pub worst_best_fmr_of: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Lfw {
    pub folds: usize,
    pub pairs: usize,
    pub accuracy_mean: f64,
    pub accuracy_sd: f64,
    pub tar_at_far: Vec<TarAtFar>,
    pub plot: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Blufr {
    pub trials: usize,
    pub gallery_size: usize,
    pub genuine_probes: usize,
    pub impostor_probes: usize,
    pub dir: Vec<DirAtFpir>,
    pub plot: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DirAtFpir {
    pub fpir: f64,
    pub per_trial: Vec<f64>,
    pub summary: MeanSd,
}

/// The operating point the demographic tables use.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Operating {
    pub fpir: f64,
    pub watchlist: u32,
    pub threshold: f32,
    /// The LFW threshold at FAR 10⁻³, a looser reference at which more errors occur and group
    /// differences are better resolved.
    pub reference_threshold: f32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupTable {
    pub title: String,
    /// `FMR`, `FNMR` or `detection failure rate`.
    pub measure: String,
    /// Which threshold, in words, and its value (none for detection failures).
    pub at: String,
    pub threshold: Option<f32>,
    /// How the trials were formed.
    pub how: String,
    pub rates: Vec<Rate>,
    pub spread: Option<Spread>,
}

fn pct(x: f64) -> String {
    format!("{:.2} %", x * 100.0)
}

/// A rate small enough to need scientific notation.
fn sci(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x >= 1e-2 {
        format!("{:.2} %", x * 100.0)
    } else {
        format!("{x:.2e}")
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1a1f2b;line-height:1.45}\
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #d5dae3;padding-bottom:.2em}\
table{border-collapse:collapse;margin:.6em 0 1.2em}td,th{border:1px solid #d5dae3;padding:.3em .6em;text-align:left}\
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f1f3f7}\
.head{display:grid;grid-template-columns:repeat(4,1fr);gap:1em}.head div{background:#f1f3f7;padding:.8em;border-radius:6px}\
.head b{display:block;font-size:1.5em}.bad{color:#a4161a}.ok{color:#1b6e3a}img{max-width:100%}code{font-size:.9em}";

impl EvaluationReport {
    /// What the audit log records of this report, as the recurring risk analysis: the models,
    /// the headline figures and the demographic spread (adults, race × gender) at the operating
    /// point. An error when the report names no embedder or detector, or has no run time.
    pub fn risk_analysis(&self) -> Result<mandat_law::risk::RiskAnalysis, String> {
        let model = |role: &str| {
            self.model_card
                .models
                .iter()
                .find(|m| m.role.starts_with(role))
                .map(|m| m.sha256.clone())
                .ok_or_else(|| format!("the report's model card names no {role}"))
        };
        let spread = |t: &GroupTable| {
            t.spread.as_ref().map(|s| mandat_law::risk::Spread {
                ratio: s.ratio,
                worst: s.worst.clone(),
                best: s.best.clone(),
            })
        };
        // Adults, race × gender: the per-template section's table, which holds both thresholds.
        let adults = self
            .per_template
            .as_ref()
            .and_then(|p| p.demographics.get(1));
        Ok(mandat_law::risk::RiskAnalysis {
            run_at: mandat_law::Timestamp::parse_rfc3339(&self.created_at)
                .ok_or_else(|| format!("the report's time {:?} is not a time", self.created_at))?,
            mandat_version: self.mandat_version.clone(),
            embedder_sha256: model("face embedder")?,
            detector_sha256: model("face detector")?,
            calibration: self.calibration.version.clone(),
            sample: self.sample,
            lfw_accuracy: self.headline.lfw_accuracy,
            tar_at_far_1e3: self.headline.tar_at_far_1e3,
            blufr_dir_at_fpir_1pc: self.headline.blufr_dir_at_fpir_1pc,
            operating_fpir: self.operating.fpir,
            operating_watchlist: self.operating.watchlist,
            operating_threshold: self.operating.threshold,
            spread_global: match adults {
                Some((g, _)) => spread(g),
                None => self.demographics.get(3).and_then(spread),
            },
            spread_per_template: adults.and_then(|(_, t)| spread(t)),
            calibration_within_2x: {
                let c = &self.calibration;
                let per_template = c.per_template.as_ref().map(|p| &p.held_out);
                !c.held_out.is_empty()
                    && c.held_out.iter().all(|h| h.within_2x)
                    && per_template.is_none_or(|h| !h.is_empty() && h.iter().all(|h| h.within_2x))
            },
        })
    }
}

/// The report as one HTML page; plots are the PNG files named in the report, beside it.
pub fn html(r: &EvaluationReport) -> String {
    let h = &r.headline;
    let page: Markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "mandat evaluation report " (r.created_at) }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                h1 { "mandat evaluation report" }
                p { "Run " (r.created_at) " with mandat " (r.mandat_version) " in " (format!("{:.0}", r.seconds)) " s. Pipeline: " code { (r.pipeline) } ". "
                    "Run again whenever the model or the threshold changes; each run is recorded in the audit log." }
                div.head {
                    div { "LFW accuracy (10-fold)" b { (pct(h.lfw_accuracy)) } }
                    div { "TAR at FAR 10⁻³ (LFW)" b { (pct(h.tar_at_far_1e3)) } }
                    div { "BLUFR DIR at FPIR 1 % (mean − sd)" b { (pct(h.blufr_dir_at_fpir_1pc)) } }
                    div { "Worst / best FMR" b { (h.worst_best_fmr_ratio.map_or("unbounded".to_string(), |x| format!("{x:.1}×"))) } small { (h.worst_best_fmr_of) } }
                }

                h2 { "Verification on LFW" }
                p { "LFW View 2: " (r.lfw.pairs) " pairs in " (r.lfw.folds) " folds; each fold is tested at the threshold chosen on the other nine." }
                table {
                    tr { th { "accuracy" } td.n { (pct(r.lfw.accuracy_mean)) " ± " (pct(r.lfw.accuracy_sd)) } }
                    @for t in &r.lfw.tar_at_far {
                        tr { th { "TAR at FAR " (format!("{:e}", t.far_target)) } td.n { (pct(t.tar)) " (threshold " (format!("{:.3}", t.threshold)) ")" } }
                    }
                }
                img src=(r.lfw.plot) alt="ROC and DET curves on LFW";

                h2 { "Open-set identification on LFW BLUFR" }
                p { (r.blufr.trials) " trials; each a gallery of " (r.blufr.gallery_size) " people, about " (r.blufr.genuine_probes)
                    " probes of gallery people and " (r.blufr.impostor_probes) " of others per trial. DIR at rank 1; BLUFR asks for mean − sd over the trials." }
                table {
                    tr { th { "FPIR" } th { "mean − sd" } th { "mean" } th { "sd" } th { "per trial" } }
                    @for d in &r.blufr.dir {
                        tr {
                            td.n { (sci(d.fpir)) }
                            td.n { b { (pct(d.summary.mean_minus_sd)) } }
                            td.n { (pct(d.summary.mean)) }
                            td.n { (pct(d.summary.sd)) }
                            td { (d.per_trial.iter().map(|x| format!("{:.1}", x * 100.0)).collect::<Vec<_>>().join(" · ")) }
                        }
                    }
                }
                img src=(r.blufr.plot) alt="DIR against FPIR, BLUFR trial 1";

                h2 { "Calibrated thresholds" }
                p { "Version " code { (r.calibration.version) } ", embedding model sha256 " code { (r.calibration.model_sha256) } ". "
                    (r.calibration.impostor_pairs) " impostor pairs: " (r.calibration.data) ". "
                    "A permit states its target FPIR (false alerts per passer-by not on the watchlist) for its watchlist size; "
                    "the threshold follows from the per-pair rate 1 − (1 − FPIR)^(1/N). Targets beyond what the data can vouch for are refused." }
                table {
                    tr { th { "per-pair FMR" } th { "cosine threshold" } }
                    // Every half decade; the JSON holds every point.
                    @for p in r.calibration.curve.iter().filter(|p| ((-p.fmr.log10() * 10.0).round() as i64) % 5 == 0) {
                        tr { td.n { (sci(p.fmr)) } td.n { (format!("{:.4}", p.threshold)) } }
                    }
                }
                h3 { "Held-out check" }
                p { "Watchlists and passers-by drawn from people the table never saw; the realised FPIR must be within a factor of 2 of the target." }
                table {
                    tr { th { "target FPIR" } th { "watchlist" } th { "threshold" } th { "false alerts / trials" } th { "realised" } th { "ratio" } th { "" } }
                    @for c in &r.calibration.held_out {
                        tr {
                            td.n { (sci(c.fpir_target)) } td.n { (c.watchlist) } td.n { (format!("{:.4}", c.threshold)) }
                            td.n { (c.false_alarms) " / " (c.trials) } td.n { (sci(c.fpir_realised)) } td.n { (format!("{:.2}", c.ratio)) }
                            td { @if c.within_2x { span.ok { "within 2×" } } @else { span.bad { "outside 2×" } } }
                        }
                    }
                }

                h2 { "Demographic differentials (AI Act art. 10)" }
                p { "Operating point: FPIR " (sci(r.operating.fpir)) " for a watchlist of " (r.operating.watchlist) ", cosine threshold "
                    (format!("{:.4}", r.operating.threshold)) ". Reference point: the LFW threshold at FAR 10⁻³, "
                    (format!("{:.4}", r.operating.reference_threshold)) ", where more errors occur and differences are better resolved. "
                    "Intervals are Wilson 95 %. The ratio is the worst group's rate over the best's, as NIST FRVT reports it." }
                @for t in &r.demographics {
                    h3 { (t.title) }
                    p { (t.measure) " " (t.at) @if let Some(x) = t.threshold { " (" (format!("{x:.4}")) ")" } ". " (t.how) }
                    table {
                        tr { th { "group" } th { "errors" } th { "trials" } th { (t.measure) } th { "95 % interval" } }
                        @for g in &t.rates {
                            tr { td { (g.group) } td.n { (g.errors) } td.n { (g.trials) } td.n { (sci(g.rate)) } td.n { (sci(g.ci95.0)) " – " (sci(g.ci95.1)) } }
                        }
                    }
                    @if let Some(s) = &t.spread {
                        p { "Worst " b { (s.worst) } ", best " b { (s.best) } ": "
                            @match s.ratio { Some(x) => { b { (format!("{x:.2}×")) } } None => { "ratio unbounded (the best group had no errors at this threshold; read the intervals)" } } }
                    }
                }

                @if let Some(p) = &r.per_template {
                    h2 { "Per-template thresholds" }
                    p { "Each enrolled template gets its own cosine threshold from its scores against an impostor cohort (the mean of its 20 highest cohort scores and the mean of all), "
                        "so that a template in a dense region of face space is held to the same per-pair rate as any other. No demographic label is used. "
                        "Operating point: normalised threshold " (format!("{:.4}", p.z_threshold)) " for the per-pair rate " (sci(p.per_pair_target)) ". " (p.how) }
                    h3 { "Goals" }
                    table {
                        tr { th { "figure" } th { "global threshold" } th { "per-template" } th { "goal" } th { "" } }
                        @for g in &p.goals {
                            tr { td { (g.figure) } td.n { (g.global) } td.n { b { (g.per_template) } } td { (g.goal) }
                                 td { @if g.met { span.ok { "met" } } @else { span.bad { "missed" } } } }
                        }
                    }
                    @if let Some(c) = &r.calibration.per_template {
                        h3 { "Held-out check with per-template thresholds" }
                        p { "Cohort " code { (c.cohort) } ", " (c.cohort_size) " templates; table from " (c.impostor_pairs) " normalised impostor scores: " (c.data) "." }
                        table {
                            tr { th { "target FPIR" } th { "watchlist" } th { "z" } th { "false alerts / trials" } th { "realised" } th { "ratio" } th { "" } }
                            @for c in &c.held_out {
                                tr {
                                    td.n { (sci(c.fpir_target)) } td.n { (c.watchlist) } td.n { (format!("{:.4}", c.threshold)) }
                                    td.n { (c.false_alarms) " / " (c.trials) } td.n { (sci(c.fpir_realised)) } td.n { (format!("{:.2}", c.ratio)) }
                                    td { @if c.within_2x { span.ok { "within 2×" } } @else { span.bad { "outside 2×" } } }
                                }
                            }
                        }
                    }
                    h3 { "Single templates against the target" }
                    table {
                        tr { th { "" } th { "templates" } th { "probes each" } th { "median" } th { "10th pct" } th { "90th pct" } th { "within 2×" } }
                        @for (name, t) in [("global", &p.templates.0), ("per-template", &p.templates.1)] {
                            tr { td { (name) } td.n { (t.templates) } td.n { (t.probes_each) } td.n { (format!("{:.2}", t.median_ratio)) }
                                 td.n { (format!("{:.2}", t.p10_ratio)) } td.n { (format!("{:.2}", t.p90_ratio)) } td.n { (pct(t.within_2x)) } }
                        }
                    }
                    h3 { "Genuine matches kept" }
                    p { "LFW held-out people: " (p.tpir.genuine_pairs) " genuine pairs, " (p.tpir.impostor_pairs) " impostor pairs." }
                    table {
                        tr { th { "" } th { "TPIR" } th { "FMR" } }
                        tr { td { "global" } td.n { (pct(p.tpir.tpir_global)) } td.n { (sci(p.tpir.fmr_global)) } }
                        tr { td { "per-template" } td.n { (pct(p.tpir.tpir_per_template)) } td.n { (sci(p.tpir.fmr_per_template)) } }
                    }
                    h3 { "BLUFR open-set identification, normalised" }
                    table {
                        tr { th { "FPIR" } th { "global mean (mean − sd)" } th { "per-template mean (mean − sd)" } }
                        @for (f, g, t) in &p.blufr {
                            tr { td.n { (sci(*f)) } td.n { (pct(g.mean)) " (" (pct(g.mean_minus_sd)) ")" } td.n { (pct(t.mean)) " (" (pct(t.mean_minus_sd)) ")" } }
                        }
                    }
                    h3 { "Templates against every face of their fold" }
                    table {
                        tr { th { "templates" } th { "global" } th { "per-template" } th { "target" } }
                        @for (g, t) in &p.against_all {
                            tr { td { (g.group) } td.n { (sci(g.rate)) " (" (g.errors) " / " (g.trials) ")" } td.n { (sci(t.rate)) " (" (t.errors) " / " (t.trials) ")" } td.n { (sci(p.per_pair_target)) } }
                        }
                    }
                    @for (g, t) in &p.demographics {
                        h3 { (t.title) }
                        p { (t.how) }
                        table {
                            tr { th { "group" } th { "global FMR" } th { "95 %" } th { "per-template FMR" } th { "95 %" } }
                            @for (a, b) in g.rates.iter().zip(&t.rates) {
                                tr { td { (a.group) } td.n { (sci(a.rate)) } td.n { (sci(a.ci95.0)) " – " (sci(a.ci95.1)) }
                                     td.n { (sci(b.rate)) } td.n { (sci(b.ci95.0)) " – " (sci(b.ci95.1)) } }
                            }
                        }
                        @for (name, s) in [("global", &g.spread), ("per-template", &t.spread)] {
                            @if let Some(s) = s {
                                p { (name) ": worst " (s.worst) ", best " (s.best) ", "
                                    @match s.ratio { Some(x) => { b { (format!("{x:.2}×")) } } None => { "unbounded" } } }
                            }
                        }
                    }
                }

                @if let Some(m) = &r.multi_photo {
                    h2 { "Several photos per person" }
                    p { (m.how) }
                    table {
                        tr { th { "photos" } th { "rule" } th { "FPIR" } th { "threshold" } th { "TPIR" } th { "95 % interval" } th { "found / probes" } }
                        @for x in &m.points {
                            tr { td.n { (x.photos) } td { (x.fusion.as_str()) } td.n { (sci(x.fpir)) } td.n { (format!("{:.4}", x.threshold)) }
                                 td.n { (pct(x.tpir)) } td.n { (pct(x.ci95.0)) " – " (pct(x.ci95.1)) } td.n { (x.hits) " / " (x.genuine) } }
                        }
                    }
                    h3 { "BLUFR with several photos where available" }
                    p { (m.blufr_how) " Mean photos per gallery person: " (format!("{:.2}", m.blufr_photos)) "." }
                    table {
                        tr { th { "FPIR" } th { "gallery" } th { "DIR mean" } th { "mean − sd" } }
                        @for b in &m.blufr {
                            tr { td.n { (sci(b.fpir)) } td { (b.rule) } td.n { (pct(b.summary.mean)) } td.n { (pct(b.summary.mean_minus_sd)) } }
                        }
                    }
                    h3 { "A threshold for photos, not persons" }
                    p { "Held-out LFW people enrolled with 1 to 3 photos (a face alarms on its best photo) against held-out strangers (LFW people with one image, UTKFace), at the calibration table's threshold for one template and for as many templates as photos. These strangers are easier than the table's own impostors, so compare the rows with each other: each photo adds chances to match a stranger, and counting photos takes them back." }
                    table {
                        tr { th { "target" } th { "photos" } th { "trials" } th { "threshold for 1" } th { "realised" } th { "TPIR" } th { "threshold for all photos" } th { "realised" } th { "TPIR" } }
                        @for c in &m.counted {
                            tr { td.n { (sci(c.fpir)) } td.n { (c.photos) } td.n { (c.trials) } td.n { (format!("{:.4}", c.threshold_one)) } td.n { (sci(c.realised_one)) } td.n { (pct(c.tpir_one)) }
                                 td.n { (format!("{:.4}", c.threshold_counted)) } td.n { (sci(c.realised_counted)) } td.n { (pct(c.tpir_counted)) } }
                        }
                    }
                    p { b { "Chosen: " } (m.chosen) }
                }

                h2 { "What the data cannot show" }
                ul { @for l in &r.limits { li { (l) } } }

                h2 { "Model card" }
                table {
                    tr { th { "model" } th { "role" } th { "source" } th { "licence" } th { "sha256" } }
                    @for m in &r.model_card.models {
                        tr { td { (m.id) } td { (m.role) } td { code { (m.source) } } td { (m.licence) } td { code { (m.sha256) } } }
                    }
                }
                table {
                    tr { th { "data" } th { "images" } th { "no face found" } th { "used for" } }
                    @for d in &r.model_card.data {
                        tr { td { (d.name) } td.n { (d.images) } td.n { (d.detection_failures) } td { (d.use_) } }
                    }
                }
                h3 { "Known limits" }
                ul { @for l in &r.model_card.known_limits { li { (l) } } }
            }
        }
    };
    page.into_string()
}
