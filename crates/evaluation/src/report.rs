//! `mandat eval calibrate` and `mandat eval report`: the calibrated thresholds and the evaluation
//! report of issue 6, on the test data read in place (LFW with BLUFR, the UTKFace subset).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use mandat_eval::calibrate::{self, Calibration, HeldOut};
use mandat_eval::cohort::{self, Cohort, Norm, PerTemplate};
use mandat_eval::demographic::{self, Rate};
use mandat_eval::lfw::{Protocol, images_dir};
use mandat_eval::openset::{self, Blufr};
use mandat_eval::plot::{Axes, Curve, roc_det_axes};
use mandat_face::Embedding;
use mandat_models::{MANIFEST, ModelId, ModelSpec};
use mandat_reports::evaluation::*;

use crate::{ImageResult, embed_all, view2};
use mandat_options::{Models, PipelineArgs, data_dir};

/// The default operating point of the demographic tables: the example, at most one
/// false alert per 10,000 passers-by for a watchlist of 3.
pub const OPERATING_FPIR: f64 = 1e-4;
pub const OPERATING_WATCHLIST: u32 = 3;

/// Targets checked on held-out people: (FPIR, watchlist size).
const CHECKS: [(f64, u32); 6] = [
    (1e-2, 1),
    (1e-3, 1),
    (1e-3, 10),
    (1e-4, 1),
    (1e-4, 3),
    (1e-4, 10),
];

/// Images per person used for calibration, so that a few much-photographed people do not weigh
/// more than everyone else.
const PER_PERSON: usize = 4;

/// Embeddings of a list of images, `None` where no face was found.
pub struct Embedded {
    pub faces: Vec<Option<Embedding>>,
    pub unreadable: Vec<String>,
}

impl Embedded {
    fn from(results: Vec<ImageResult>, names: &[String]) -> Self {
        let mut unreadable = Vec::new();
        let faces = results
            .into_iter()
            .zip(names)
            .map(|(r, n)| match r {
                Ok(e) => e,
                Err(e) => {
                    unreadable.push(format!("{n}: {e}"));
                    None
                }
            })
            .collect();
        Self { faces, unreadable }
    }

    pub fn score(&self, a: usize, b: usize) -> Option<f32> {
        Some(self.faces[a].as_ref()?.cosine(self.faces[b].as_ref()?))
    }

    fn failures(&self) -> usize {
        self.faces.iter().filter(|f| f.is_none()).count()
    }
}

/// LFW as BLUFR lists it (all 13,233 images), optionally a deterministic sample.
pub struct LfwData {
    pub blufr: Blufr,
    pub dir: PathBuf,
    pub root: PathBuf,
}

fn load_lfw(data: &Path, sample: Option<usize>) -> Result<LfwData> {
    let root = data.join("lfw");
    let mut blufr = Blufr::load(&root.join("blufr"))?;
    if let Some(every) = sample {
        // Keep every n-th pair of classes (2k, 2k + 1), all their images, so calibration (even
        // classes) and its held-out check (odd) both keep people; trials keep what remains.
        let keep: Vec<bool> = blufr
            .labels
            .iter()
            .map(|l| (*l as usize / 2).is_multiple_of(every))
            .collect();
        let mut map = vec![usize::MAX; keep.len()];
        let mut images = Vec::new();
        let mut labels = Vec::new();
        for (i, k) in keep.iter().enumerate() {
            if *k {
                map[i] = images.len();
                images.push(blufr.images[i].clone());
                labels.push(blufr.labels[i]);
            }
        }
        for t in &mut blufr.trials {
            t.gallery = t
                .gallery
                .iter()
                .filter(|&&g| keep[g])
                .map(|&g| map[g])
                .collect();
            t.probes = t
                .probes
                .iter()
                .filter(|&&p| keep[p])
                .map(|&p| map[p])
                .collect();
        }
        blufr.images = images;
        blufr.labels = labels;
    }
    Ok(LfwData {
        dir: images_dir(&root),
        blufr,
        root,
    })
}

/// The main face of every LFW image of the protocol (or sample), in BLUFR order.
fn embed_lfw(
    lfw: &LfwData,
    models: &Models,
    pipeline: &PipelineArgs,
    workers: usize,
) -> Result<Embedded> {
    let paths: Vec<PathBuf> = lfw.blufr.images.iter().map(|r| lfw.dir.join(r)).collect();
    Ok(Embedded::from(
        embed_all(models, pipeline, workers, &paths, "LFW", true)?,
        &lfw.blufr.images,
    ))
}

pub(crate) fn workers(w: Option<usize>) -> usize {
    w.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 64)
}

fn sha(id: ModelId) -> Result<String> {
    Ok(ModelSpec::get(id).final_sha256()?.to_string())
}

fn now_utc() -> String {
    mandat_law::time::Clock::now(&mandat_law::time::SystemClock)
        .map_or_else(|| "unknown".into(), |t| t.to_rfc3339())
}

/// Each LFW person's first [`PER_PERSON`] images with a face, by BLUFR class.
fn lfw_people(lfw: &LfwData, e: &Embedded) -> BTreeMap<u32, Vec<usize>> {
    let mut by_person: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, l) in lfw.blufr.labels.iter().enumerate() {
        if e.faces[i].is_some() {
            let v = by_person.entry(*l).or_default();
            if v.len() < PER_PERSON {
                v.push(i);
            }
        }
    }
    by_person
}

/// What the per-template table was made with, for the report to reuse.
pub struct PerTemplateRun {
    /// LFW images (one per cohort person, see [`in_cohort`]) in the cohort.
    pub lfw_cohort: Vec<usize>,
    /// The [`Norm`] of every LFW image the table or its checks used.
    pub lfw_norms: Vec<Option<Norm>>,
    /// The cohort, to be stored with the table.
    pub cohort: Cohort,
}

/// Builds the calibration table from LFW people with even BLUFR class and checks it on the odd;
/// with `utk` (UTKFace faces, all in the cohort) it adds the per-template table.
pub fn build_calibration(
    lfw: &LfwData,
    e: &Embedded,
    utk: &Embedded,
    model: &str,
) -> Result<(Calibration, Option<PerTemplateRun>)> {
    let by_person = lfw_people(lfw, e);
    let (cal, held): (Vec<_>, Vec<_>) =
        by_person.clone().into_iter().partition(|(l, _)| l % 2 == 0);
    let mut cal_images: Vec<(u32, usize)> = Vec::new();
    for (l, imgs) in &cal {
        cal_images.extend(imgs.iter().map(|&i| (*l, i)));
    }
    let mut impostors = Vec::with_capacity(cal_images.len() * cal_images.len() / 2);
    for (k, (la, a)) in cal_images.iter().enumerate() {
        for (lb, b) in &cal_images[k + 1..] {
            if la != lb
                && let Some(s) = e.score(*a, *b)
            {
                impostors.push(s);
            }
        }
    }
    let pairs = impostors.len() as u64;
    let curve = calibrate::curve(&mut impostors);
    let model = model.to_string();
    let created_at = now_utc();
    let stamp: String = created_at
        .chars()
        .filter(|c| c.is_ascii_digit())
        .take(14)
        .collect();
    let mut table = Calibration {
        version: format!("{}-{stamp}", &model[..12]),
        model_sha256: model,
        detector_sha256: sha(ModelId::Yunet)?,
        created_at,
        data: format!(
            "LFW, the {} people of even BLUFR class, up to {PER_PERSON} images each ({} images); held out: the {} of odd class",
            cal.len(),
            cal_images.len(),
            held.len()
        ),
        impostor_pairs: pairs,
        curve,
        held_out: Vec::new(),
        per_template: None,
    };
    let people: Vec<Vec<usize>> = held.into_iter().map(|(_, v)| v).collect();
    let mut checks: Vec<HeldOut> = Vec::new();
    for (k, (fpir, n)) in CHECKS.iter().enumerate() {
        match calibrate::check(
            &table,
            &people,
            *fpir,
            *n,
            0x6d61_6e64 + k as u64,
            |a, b| e.score(a, b),
        ) {
            Ok(h) => checks.push(h),
            // A target beyond the data (a small sample) is left out of the check, and said.
            Err(err) => eprintln!("held-out check of FPIR {fpir} for {n}: {err}"),
        }
    }
    table.held_out = checks;
    let run = per_template_table(&mut table, &by_person, e, utk)?;
    Ok((table, run))
}

/// Whether an even-class LFW person goes to the cohort (else to the per-template table): by a hash
/// of the class, so that any `--sample`, which keeps classes by arithmetic, keeps both halves.
fn in_cohort(class: u32) -> bool {
    calibrate::SplitMix::new(u64::from(class))
        .next_u64()
        .is_multiple_of(2)
}

/// The per-template table: a cohort of half the even-class LFW people ([`in_cohort`]), one image
/// each, and every UTKFace face; normalised impostor scores among the other half; the checks on
/// the odd classes, the same held-out people as the global table's. `None` (and said) when the
/// cohort is too small to normalise against, as in a small sample.
fn per_template_table(
    table: &mut Calibration,
    by_person: &BTreeMap<u32, Vec<usize>>,
    e: &Embedded,
    utk: &Embedded,
) -> Result<Option<PerTemplateRun>> {
    let lfw_cohort: Vec<usize> = by_person
        .iter()
        .filter(|(l, _)| *l % 2 == 0 && in_cohort(**l))
        .map(|(_, v)| v[0])
        .collect();
    let members = lfw_cohort
        .iter()
        .filter_map(|&i| e.faces[i].as_ref())
        .chain(utk.faces.iter().flatten())
        .map(|f| f.as_slice().to_vec());
    let cohort = match Cohort::new(mandat_face::vector::EMBEDDING_DIM, members) {
        Ok(c) => c,
        Err(err) => {
            eprintln!("no per-template table: {err}");
            return Ok(None);
        }
    };
    let tabled: Vec<(u32, usize)> = by_person
        .iter()
        .filter(|(l, _)| *l % 2 == 0 && !in_cohort(**l))
        .flat_map(|(l, v)| v.iter().map(move |&i| (*l, i)))
        .collect();
    let held: Vec<Vec<usize>> = by_person
        .iter()
        .filter(|(l, _)| *l % 2 == 1)
        .map(|(_, v)| v.clone())
        .collect();
    let mut lfw_norms: Vec<Option<Norm>> = vec![None; e.faces.len()];
    for &i in tabled.iter().map(|(_, i)| i).chain(held.iter().flatten()) {
        if let Some(f) = &e.faces[i] {
            lfw_norms[i] = Some(cohort.norm(f.as_slice())?);
        }
    }
    let mut zs = Vec::with_capacity(tabled.len() * tabled.len());
    for (k, (la, a)) in tabled.iter().enumerate() {
        for (lb, b) in &tabled[k + 1..] {
            if la != lb
                && let (Some(s), Some(na), Some(nb)) =
                    (e.score(*a, *b), lfw_norms[*a], lfw_norms[*b])
            {
                // Both directions: each image is a template once and a passer-by once.
                zs.push(na.z(s));
                zs.push(nb.z(s));
            }
        }
    }
    let pairs = zs.len() as u64;
    let mut pt = PerTemplate {
        cohort: cohort.version(),
        cohort_size: cohort.len() as u32,
        top: cohort::TOP as u32,
        data: format!(
            "cohort: LFW, one image of each of half the people of even BLUFR class, chosen by a hash of the class ({}), and every UTKFace face ({}); table: the other half, up to {PER_PERSON} images each ({} images), each image a template against every other person's; held out: the odd classes",
            lfw_cohort.len(),
            cohort.len() - lfw_cohort.len(),
            tabled.len()
        ),
        impostor_pairs: pairs,
        curve: calibrate::curve(&mut zs),
        held_out: Vec::new(),
        templates: Default::default(),
    };
    let norm_of = |i: usize| lfw_norms[i];
    for (k, (fpir, n)) in CHECKS.iter().enumerate() {
        let Ok(floor) = cohort::floor(table, *fpir, *n) else {
            continue;
        };
        match cohort::check(
            &pt,
            &held,
            norm_of,
            floor,
            *fpir,
            *n,
            0x6d61_6e64 + k as u64,
            |a, b| e.score(a, b),
        ) {
            Ok(h) => pt.held_out.push(h),
            Err(err) => eprintln!("per-template held-out check of FPIR {fpir} for {n}: {err}"),
        }
    }
    if let (Ok(z), Ok(floor)) = (
        pt.z_threshold(cohort::TEMPLATE_CHECK_FMR, 1),
        cohort::floor(table, cohort::TEMPLATE_CHECK_FMR, 1),
    ) {
        pt.templates = cohort::template_spread(
            &held,
            &|i| Some(lfw_norms[i]?.cosine(z).max(floor)),
            cohort::TEMPLATE_CHECK_FMR,
            &|a, b| e.score(a, b),
        );
    }
    table.per_template = Some(pt);
    Ok(Some(PerTemplateRun {
        lfw_cohort,
        lfw_norms,
        cohort,
    }))
}

/// What an evaluation run reads and where it writes (`eval calibrate` and `eval report`).
#[derive(clap::Args, Clone)]
pub struct RunArgs {
    /// Test data directory (holds `lfw/` and `utkface/`); defaults to MANDAT_DATA, then
    /// ../shared/data.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Use every N-th pair of people (and UTKFace image) only: a quick, rough run, marked as such;
    /// a sampled calibration table is never stored.
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub sample: Option<u32>,
    /// Parallel workers, each with its own single-threaded sessions. Defaults to the CPU count.
    #[arg(long)]
    pub workers: Option<usize>,
    /// Where the report, its plots and the table go.
    #[arg(long, default_value = "out/eval")]
    pub out: PathBuf,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

impl RunArgs {
    fn sample(&self) -> Option<usize> {
        self.sample.map(|n| n as usize)
    }
}

/// Embeds LFW and UTKFace and builds the checked table, with the cohort of its per-template part.
pub fn calibration_run(a: &RunArgs) -> Result<(Calibration, Option<Cohort>)> {
    let data = data_dir(a.data.clone())?;
    let lfw = load_lfw(&data, a.sample())?;
    let models = Models::load(&a.pipeline)?;
    let e = embed_lfw(&lfw, &models, &a.pipeline, workers(a.workers))?;
    let (_, u) = embed_utk(&data, a.sample(), &models, &a.pipeline, workers(a.workers))?;
    if let Some(x) = e.unreadable.iter().chain(&u.unreadable).next() {
        bail!("an image could not be read: {x}; check the test data");
    }
    let (cal, run) = build_calibration(&lfw, &e, &u, &models.embedder_sha256)?;
    Ok((cal, run.map(|r| r.cohort)))
}

/// The UTKFace images (name order, every n-th in a sample) and their faces.
fn embed_utk(
    data: &Path,
    sample: Option<usize>,
    models: &Models,
    pipeline: &PipelineArgs,
    workers: usize,
) -> Result<(Vec<Utk>, Embedded)> {
    let utk_dir = data.join("utkface/images");
    let mut utk: Vec<Utk> = std::fs::read_dir(&utk_dir)
        .with_context(|| format!("reading {}; set --data or MANDAT_DATA", utk_dir.display()))?
        .filter_map(|d| d.ok()?.file_name().into_string().ok())
        .filter_map(|n| parse_utk(&n))
        .collect();
    utk.sort_by(|x, y| x.file.cmp(&y.file));
    if let Some(every) = sample {
        utk = utk.into_iter().step_by(every.max(1)).collect();
    }
    if utk.is_empty() {
        bail!("no UTKFace images in {}", utk_dir.display());
    }
    let names: Vec<String> = utk.iter().map(|u| u.file.clone()).collect();
    let paths: Vec<PathBuf> = names.iter().map(|n| utk_dir.join(n)).collect();
    let u = Embedded::from(
        embed_all(models, pipeline, workers, &paths, "UTKFace", true)?,
        &names,
    );
    Ok((utk, u))
}

#[derive(clap::Args, Clone)]
pub struct ReportArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// The operating point of the demographic tables: target FPIR ...
    #[arg(long, default_value_t = OPERATING_FPIR)]
    pub fpir: f64,
    /// ... for a watchlist of this many persons.
    #[arg(long, default_value_t = OPERATING_WATCHLIST)]
    pub watchlist: u32,
}

/// One UTKFace image: `AGE_GENDER_RACE_DATETIME.jpg.chip.jpg`.
struct Utk {
    file: String,
    age: u32,
    gender: &'static str,
    race: &'static str,
}

fn parse_utk(name: &str) -> Option<Utk> {
    let mut it = name.split('_');
    let age: u32 = it.next()?.parse().ok()?;
    let gender = match it.next()? {
        "0" => "male",
        "1" => "female",
        _ => return None,
    };
    let race = match it.next()? {
        "0" => "White",
        "1" => "Black",
        "2" => "Asian",
        "3" => "Indian",
        "4" => "Others",
        _ => return None,
    };
    Some(Utk {
        file: name.to_string(),
        age,
        gender,
        race,
    })
}

fn age_band(age: u32) -> &'static str {
    match age {
        0..=17 => "0-17",
        18..=29 => "18-29",
        30..=44 => "30-44",
        45..=59 => "45-59",
        _ => "60+",
    }
}

/// Gender of each LFW image from `lfw_metadata.csv` (`M`, `F`, or unknown).
fn lfw_genders(root: &Path) -> Result<HashMap<String, &'static str>> {
    let path = root.join("lfw_metadata.csv");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {}; set --data or MANDAT_DATA", path.display()))?;
    let mut out = HashMap::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        if let (Some(img), Some(g)) = (cols.first(), cols.get(3)) {
            let g = match *g {
                "M" => "male",
                "F" => "female",
                _ => continue,
            };
            out.insert(img.to_string(), g);
        }
    }
    Ok(out)
}

fn table(
    title: &str,
    measure: &str,
    at: &str,
    threshold: Option<f32>,
    how: &str,
    rates: Vec<Rate>,
) -> GroupTable {
    GroupTable {
        title: title.into(),
        measure: measure.into(),
        at: at.into(),
        threshold,
        how: how.into(),
        spread: demographic::spread(&rates),
        rates,
    }
}

pub fn report(r: &ReportArgs) -> Result<EvaluationReport> {
    Ok(report_and_cohort(r)?.0)
}

/// [`report`], with the impostor cohort its calibration table was made with (templates of the
/// evaluation's people, to be kept as private as the test data), for storing the table.
pub fn report_and_cohort(r: &ReportArgs) -> Result<(EvaluationReport, Option<Cohort>)> {
    let a = &r.run;
    let started = Instant::now();
    let data = data_dir(a.data.clone())?;
    let lfw = load_lfw(&data, a.sample())?;
    let models = Models::load(&a.pipeline)?;
    let w = workers(a.workers);
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;

    // ---- embeddings ----
    let e = embed_lfw(&lfw, &models, &a.pipeline, w)?;
    let (utk, u) = embed_utk(&data, a.sample(), &models, &a.pipeline, w)?;
    if let Some(x) = e.unreadable.iter().chain(&u.unreadable).next() {
        bail!("an image could not be read: {x}; check the test data");
    }

    // ---- LFW View 2 ----
    let index: HashMap<&str, usize> = lfw
        .blufr
        .images
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut protocol = Protocol::load(&lfw.root.join("pairs.txt"))?;
    protocol
        .pairs
        .retain(|p| index.contains_key(p.a.as_str()) && index.contains_key(p.b.as_str()));
    if protocol.pairs.is_empty() {
        bail!("no LFW View 2 pair has both images in this sample; use a smaller --sample");
    }
    let v = view2(&protocol, |a, b| e.score(index[a], index[b]), &a.out)?;

    // ---- BLUFR ----
    let fpirs = [1e-2, 1e-3];
    let mut per_trial: Vec<Vec<f64>> = vec![Vec::new(); fpirs.len()];
    let (mut gen_n, mut imp_n, mut gal_n) = (0, 0, 0);
    let mut first_curve = Vec::new();
    let trials: Vec<_> = lfw
        .blufr
        .trials
        .iter()
        .filter(|t| !t.gallery.is_empty() && !t.probes.is_empty())
        .collect();
    if trials.is_empty() {
        bail!("no BLUFR trial is left in this sample; use a smaller --sample");
    }
    for (k, t) in trials.iter().enumerate() {
        let r = openset::run_trial(t, &lfw.blufr.labels, &fpirs, |p, g| e.score(p, g));
        for (j, d) in r.dir.iter().enumerate() {
            per_trial[j].push(d.2);
        }
        gen_n += r.genuine_probes;
        imp_n += r.impostor_probes;
        gal_n += t.gallery.len();
        if k == 0 {
            first_curve = r.curve;
        }
    }
    let nt = trials.len();
    roc_det_axes(
        &a.out.join("blufr_dir"),
        "BLUFR trial 1, rank 1",
        &[Curve {
            label: "YuNet + SFace",
            points: &first_curve,
        }],
        Axes {
            false_rate: "false-positive identification rate",
            true_rate: "detection and identification rate",
            miss_rate: "1 - DIR",
        },
    )?;
    let dir: Vec<DirAtFpir> = fpirs
        .iter()
        .zip(per_trial)
        .map(|(f, v)| DirAtFpir {
            fpir: *f,
            summary: openset::mean_sd(&v),
            per_trial: v,
        })
        .collect();

    // ---- calibration and operating point ----
    let (cal, pt_run) = build_calibration(&lfw, &e, &u, &models.embedder_sha256)?;
    let operating = cal.threshold(r.fpir, r.watchlist).context(
        "the operating point is beyond this calibration; use the whole data set or a looser --fpir",
    )?;
    let reference = v.tars[1].threshold;

    // ---- demographics ----
    let genders = lfw_genders(&lfw.root)?;
    let mut by_person: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, l) in lfw.blufr.labels.iter().enumerate() {
        by_person.entry(*l).or_default().push(i);
    }
    let gender_of = |i: usize| genders.get(&lfw.blufr.images[i]).copied();
    // FNMR: mated pairs among each person's first 10 images; a failed detection is a non-match.
    let mut mated: Vec<(&str, bool)> = Vec::new();
    for imgs in by_person.values() {
        let imgs = &imgs[..imgs.len().min(10)];
        let Some(g) = gender_of(imgs[0]) else {
            continue;
        };
        for (k, &x) in imgs.iter().enumerate() {
            for &y in &imgs[k + 1..] {
                mated.push((g, e.score(x, y).is_none_or(|s| s <= operating)));
            }
        }
    }
    // FMR: one image per person, every pair of different people of the same gender.
    let lfw_items: Vec<(String, String, usize)> = by_person
        .iter()
        .filter_map(|(l, imgs)| Some((gender_of(imgs[0])?.to_string(), l.to_string(), imgs[0])))
        .collect();
    let utk_rg: Vec<(String, String, usize)> = utk
        .iter()
        .enumerate()
        .map(|(i, x)| (format!("{} {}", x.race, x.gender), i.to_string(), i))
        .collect();
    // Children match falsely far more often, and UTKFace's cells hold different shares of them
    // (Asian and Others about 30 %, Black 6 %): the adults-only table takes age out of the race gap.
    let utk_rg_adults: Vec<(String, String, usize)> = utk_rg
        .iter()
        .filter(|(_, _, i)| utk[*i].age >= 18)
        .cloned()
        .collect();
    let utk_age: Vec<(String, String, usize)> = utk
        .iter()
        .enumerate()
        .map(|(i, x)| (age_band(x.age).to_string(), i.to_string(), i))
        .collect();
    let op_at = "at the operating threshold";
    let ref_at = "at the reference threshold (LFW FAR 10⁻³)";
    let same_g = "Every pair of different people of the same gender, one image each.";
    let utk_pairs = "Every pair of images within the group; UTKFace has one image per person.";
    let lfw_score = |x: usize, y: usize| e.score(x, y);
    let utk_score = |x: usize, y: usize| u.score(x, y);
    let demographics = vec![
        table(
            "LFW, false non-match rate by gender",
            "FNMR",
            op_at,
            Some(operating),
            "Every pair of one person's images (up to the first 10); no face found counts as a non-match.",
            demographic::rates(mated.iter().copied()),
        ),
        table(
            "LFW, false match rate by gender (same-gender impostors)",
            "FMR",
            op_at,
            Some(operating),
            same_g,
            demographic::fmr_within_groups(&lfw_items, operating, lfw_score),
        ),
        table(
            "LFW, false match rate by gender (same-gender impostors)",
            "FMR",
            ref_at,
            Some(reference),
            same_g,
            demographic::fmr_within_groups(&lfw_items, reference, lfw_score),
        ),
        table(
            "UTKFace, false match rate by race and gender",
            "FMR",
            op_at,
            Some(operating),
            utk_pairs,
            demographic::fmr_within_groups(&utk_rg, operating, utk_score),
        ),
        table(
            "UTKFace, false match rate by race and gender",
            "FMR",
            ref_at,
            Some(reference),
            utk_pairs,
            demographic::fmr_within_groups(&utk_rg, reference, utk_score),
        ),
        table(
            "UTKFace, false match rate by race and gender, adults (18 and over)",
            "FMR",
            op_at,
            Some(operating),
            utk_pairs,
            demographic::fmr_within_groups(&utk_rg_adults, operating, utk_score),
        ),
        table(
            "UTKFace, false match rate by age band",
            "FMR",
            op_at,
            Some(operating),
            utk_pairs,
            demographic::fmr_within_groups(&utk_age, operating, utk_score),
        ),
        table(
            "UTKFace, false match rate by age band",
            "FMR",
            ref_at,
            Some(reference),
            utk_pairs,
            demographic::fmr_within_groups(&utk_age, reference, utk_score),
        ),
        table(
            "UTKFace, detection failures by race and gender",
            "detection failure rate",
            "(no face found by the detector)",
            None,
            "Each image once.",
            demographic::rates(
                utk_rg
                    .iter()
                    .map(|(g, _, i)| (g.as_str(), u.faces[*i].is_none())),
            ),
        ),
        table(
            "UTKFace, detection failures by age band",
            "detection failure rate",
            "(no face found by the detector)",
            None,
            "Each image once.",
            demographic::rates(
                utk_age
                    .iter()
                    .map(|(g, _, i)| (g.as_str(), u.faces[*i].is_none())),
            ),
        ),
    ];
    // The headline ratio: race × gender on UTKFace at the operating point when it is defined,
    // else at the reference point, and the report says which.
    let (ratio, of) = match (&demographics[3].spread, &demographics[4].spread) {
        (Some(s), _) if s.ratio.is_some() => {
            (s.ratio, "UTKFace race × gender, operating threshold")
        }
        (_, Some(s)) => (
            s.ratio,
            "UTKFace race × gender, reference threshold (at the operating threshold the best group had no false match)",
        ),
        _ => (None, "no groups"),
    };

    let mut per_template = match &pt_run {
        Some(run) => Some(per_template_report(
            r, &cal, run, &lfw, &e, &utk, &u, operating,
        )?),
        None => None,
    };

    let multi_photo = multi_photo_report(&lfw, &e, &u, &cal, pt_run.is_some())?;
    // The BLUFR goal of issue 17 counts "with multi-photo galleries where available".
    if let (Some(p), Some(m)) = (per_template.as_mut(), &multi_photo) {
        let at = |rule: &str| {
            m.blufr
                .iter()
                .find(|b| b.fpir == 1e-3 && b.rule == rule)
                .map(|b| b.summary.mean)
        };
        if let (Some(g), Some(t)) = (at("highest score"), at("each photo normalised (highest z)")) {
            p.goals.push(Goal {
                figure: format!(
                    "the same, with several photos where available (mean {:.2} per gallery person)",
                    m.blufr_photos
                ),
                global: format!("{:.1} %", g * 100.0),
                per_template: format!("{:.1} %", t * 100.0),
                goal: "≥ 85 %".into(),
                met: t >= 0.85,
            });
        }
    }

    let failures_lfw = e.failures();
    let report = EvaluationReport {
        created_at: now_utc(),
        mandat_version: env!("CARGO_PKG_VERSION").into(),
        seconds: started.elapsed().as_secs_f64(),
        pipeline: format!(
            "YuNet at {:?}, score threshold {}, main face nearest the centre, SFace, cosine{}",
            a.pipeline.detect_size,
            a.pipeline.score_threshold,
            a.sample.map_or(String::new(), |n| format!(
                "; SAMPLE: every {n}th person and image"
            ))
        ),
        sample: a.sample,
        model_card: model_card(
            &models,
            a.pipeline.device,
            lfw.blufr.images.len(),
            failures_lfw,
            utk.len(),
            u.failures(),
        )?,
        headline: Headline {
            lfw_accuracy: v.kfold.mean,
            tar_at_far_1e3: v.tars[1].tar,
            blufr_dir_at_fpir_1pc: dir[0].summary.mean_minus_sd,
            worst_best_fmr_ratio: ratio,
            worst_best_fmr_of: of.into(),
        },
        lfw: Lfw {
            folds: protocol.folds,
            pairs: v.pairs,
            accuracy_mean: v.kfold.mean,
            accuracy_sd: v.kfold.std,
            tar_at_far: v.tars.to_vec(),
            plot: "lfw_roc_det.png".into(),
        },
        blufr: Blufr_ {
            trials: nt,
            gallery_size: gal_n / nt,
            genuine_probes: gen_n / nt,
            impostor_probes: imp_n / nt,
            dir,
            plot: "blufr_dir.png".into(),
        },
        calibration: cal,
        operating: Operating {
            fpir: r.fpir,
            watchlist: r.watchlist,
            threshold: operating,
            reference_threshold: reference,
        },
        demographics,
        per_template,
        multi_photo,
        limits: limits(),
    };
    std::fs::write(
        a.out.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    std::fs::write(a.out.join("report.html"), html(&report))?;
    Ok((report, pt_run.map(|r| r.cohort)))
}

type Blufr_ = mandat_reports::evaluation::Blufr;

/// The per-template section: every figure of the global threshold again, on the same trials, with
/// each template's own threshold, and the goals.
#[allow(clippy::too_many_arguments)]
fn per_template_report(
    r: &ReportArgs,
    cal: &Calibration,
    run: &PerTemplateRun,
    lfw: &LfwData,
    e: &Embedded,
    utk: &[Utk],
    u: &Embedded,
    operating: f32,
) -> Result<PerTemplateReport> {
    let table = cal
        .per_template
        .as_ref()
        .context("the per-template table is missing")?;
    let z = table
        .z_threshold(r.fpir, r.watchlist)
        .context("the operating point is beyond the per-template table; use a looser --fpir")?;
    let target = calibrate::per_pair(r.fpir, r.watchlist);
    let dim = mandat_face::vector::EMBEDDING_DIM;
    let lfw_members = || {
        run.lfw_cohort
            .iter()
            .filter_map(|&i| e.faces[i].as_ref())
            .map(|f| f.as_slice().to_vec())
    };
    // UTKFace in two folds (alternate images in name order): a fold's templates are normalised
    // against the LFW cohort and the other fold, and meet only their own fold's faces, so no face
    // is both in a template's cohort and among its impostors.
    let fold = |i: usize| i % 2;
    let mut utk_norms: Vec<Option<Norm>> = vec![None; utk.len()];
    for k in 0..2 {
        let members = lfw_members().chain(
            u.faces
                .iter()
                .enumerate()
                .filter(|(i, f)| fold(*i) != k && f.is_some())
                .map(|(_, f)| f.as_ref().expect("filtered").as_slice().to_vec()),
        );
        let c = Cohort::new(dim, members)?;
        for (i, f) in u.faces.iter().enumerate() {
            if fold(i) == k
                && let Some(f) = f
            {
                utk_norms[i] = Some(c.norm(f.as_slice())?);
            }
        }
    }
    let floor = cohort::floor(cal, r.fpir, r.watchlist)
        .context("the operating point is beyond the calibration; use a looser --fpir")?;
    let own = |i: usize| Some(utk_norms[i]?.cosine(z).max(floor));
    let global = |i: usize| u.faces[i].as_ref().map(|_| operating);
    let same_fold = |a: usize, b: usize| fold(a) == fold(b);
    let score = |a: usize, b: usize| u.score(a, b);
    let items = |f: &dyn Fn(&Utk) -> Option<String>| -> Vec<(String, String, usize)> {
        utk.iter()
            .enumerate()
            .filter_map(|(i, x)| Some((f(x)?, i.to_string(), i)))
            .collect()
    };
    let how = "Every ordered pair (template, probe) within the group and the fold; each unordered pair is two trials, one per template.";
    let mut demographics = Vec::new();
    for (title, its) in [
        (
            "UTKFace, false match rate by race and gender",
            items(&|x| Some(format!("{} {}", x.race, x.gender))),
        ),
        (
            "UTKFace, false match rate by race and gender, adults (18 and over)",
            items(&|x| (x.age >= 18).then(|| format!("{} {}", x.race, x.gender))),
        ),
        (
            "UTKFace, false match rate by age band",
            items(&|x| Some(age_band(x.age).to_string())),
        ),
    ] {
        let at = "at the operating target";
        demographics.push((
            table_of(
                title,
                at,
                Some(operating),
                how,
                demographic::fmr_within_groups_per_template(&its, global, same_fold, score),
            ),
            table_of(
                title,
                at,
                None,
                how,
                demographic::fmr_within_groups_per_template(&its, own, same_fold, score),
            ),
        ));
    }
    // Children's and adults' templates against every other face of their fold.
    let mut against_all = Vec::new();
    let band = |i: usize| {
        if utk[i].age < 18 {
            "children's templates (0-17)"
        } else {
            "adults' templates (18+)"
        }
    };
    for threshold_of in [&global as &dyn Fn(usize) -> Option<f32>, &own] {
        let mut outcomes: Vec<(&str, bool)> = Vec::new();
        for a in 0..utk.len() {
            let t = threshold_of(a);
            for b in 0..utk.len() {
                if a != b && same_fold(a, b) {
                    outcomes.push((
                        band(a),
                        t.is_some_and(|t| score(a, b).is_some_and(|s| s > t)),
                    ));
                }
            }
        }
        against_all.push(demographic::rates(outcomes));
    }
    let against_all: Vec<(Rate, Rate)> = against_all[0]
        .clone()
        .into_iter()
        .zip(against_all[1].clone())
        .collect();

    // LFW held-out people: genuine pairs kept, impostor pairs let through.
    let by_person = lfw_people(lfw, e);
    let held: Vec<Vec<usize>> = by_person
        .iter()
        .filter(|(l, _)| *l % 2 == 1)
        .map(|(_, v)| v.clone())
        .collect();
    let lfw_own = |i: usize| Some(run.lfw_norms[i]?.cosine(z).max(floor));
    let (mut gen_n, mut gen_g, mut gen_t, mut imp_n, mut imp_g, mut imp_t) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    for (k, p) in held.iter().enumerate() {
        let t = p[0];
        let Some(own_t) = lfw_own(t) else { continue };
        for &g in &p[1..] {
            if let Some(s) = e.score(t, g) {
                gen_n += 1;
                gen_g += (s > operating) as u64;
                gen_t += (s > own_t) as u64;
            }
        }
        for (j, q) in held.iter().enumerate() {
            if j != k
                && let Some(s) = e.score(t, q[0])
            {
                imp_n += 1;
                imp_g += (s > operating) as u64;
                imp_t += (s > own_t) as u64;
            }
        }
    }
    let frac = |a: u64, n: u64| a as f64 / n.max(1) as f64;
    let tpir = TpirComparison {
        genuine_pairs: gen_n,
        tpir_global: frac(gen_g, gen_n),
        tpir_per_template: frac(gen_t, gen_n),
        impostor_pairs: imp_n,
        fmr_global: frac(imp_g, imp_n),
        fmr_per_template: frac(imp_t, imp_n),
    };
    let check = cohort::TEMPLATE_CHECK_FMR;
    let global_check = cal.threshold(check, 1).ok();
    let templates = (
        cohort::template_spread(&held, &|_| global_check, check, &|a, b| e.score(a, b)),
        table.templates,
    );

    // BLUFR with each gallery template normalised against UTKFace (no LFW person in its cohort).
    let c = Cohort::new(dim, u.faces.iter().flatten().map(|f| f.as_slice().to_vec()))?;
    let mut gallery_norms: HashMap<usize, Norm> = HashMap::new();
    let fpirs = [1e-2, 1e-3];
    let (mut g_trials, mut t_trials) = (vec![Vec::new(); 2], vec![Vec::new(); 2]);
    for t in lfw
        .blufr
        .trials
        .iter()
        .filter(|t| !t.gallery.is_empty() && !t.probes.is_empty())
    {
        for &g in &t.gallery {
            if let (std::collections::hash_map::Entry::Vacant(v), Some(f)) =
                (gallery_norms.entry(g), &e.faces[g])
            {
                v.insert(c.norm(f.as_slice())?);
            }
        }
        let plain = openset::run_trial(t, &lfw.blufr.labels, &fpirs, |p, g| e.score(p, g));
        // A missing face never wins a rank (-1 would be an ordinary z).
        let normed = openset::run_trial(t, &lfw.blufr.labels, &fpirs, |p, g| {
            Some(match (e.score(p, g), gallery_norms.get(&g)) {
                (Some(s), Some(n)) => n.z(s),
                _ => -1e6,
            })
        });
        for j in 0..2 {
            g_trials[j].push(plain.dir[j].2);
            t_trials[j].push(normed.dir[j].2);
        }
    }
    let blufr: Vec<(f64, openset::MeanSd, openset::MeanSd)> = (0..2)
        .map(|j| {
            (
                fpirs[j],
                openset::mean_sd(&g_trials[j]),
                openset::mean_sd(&t_trials[j]),
            )
        })
        .collect();

    // The goals of issue 17.
    let ratio = |t: &GroupTable| t.spread.as_ref().and_then(|s| s.ratio);
    let x = |v: Option<f64>| v.map_or("unbounded".to_string(), |v| format!("{v:.1}×"));
    let mut goals = Vec::new();
    let (all_g, all_t) = (ratio(&demographics[0].0), ratio(&demographics[0].1));
    let (ad_g, ad_t) = (ratio(&demographics[1].0), ratio(&demographics[1].1));
    goals.push(Goal {
        figure: "worst/best FMR, UTKFace race × gender, adults".into(),
        global: x(ad_g),
        per_template: x(ad_t),
        goal: "≤ 3×".into(),
        met: ad_t.is_some_and(|v| v <= 3.0),
    });
    goals.push(Goal {
        figure: "the same, all ages".into(),
        global: x(all_g),
        per_template: x(all_t),
        goal: "≤ 5×".into(),
        met: all_t.is_some_and(|v| v <= 5.0),
    });
    let child = |rates: &Rate| rates.rate / target;
    if let Some((g, t)) = against_all
        .iter()
        .find(|(g, _)| g.group.starts_with("children"))
    {
        goals.push(Goal {
            figure: "children's templates' false match rate against every face, over the per-pair target".into(),
            global: format!("{:.1}×", child(g)),
            per_template: format!("{:.2}×", child(t)),
            goal: "within 2×".into(),
            met: (0.5..=2.0).contains(&child(t)),
        });
    }
    goals.push(Goal {
        figure: format!(
            "single templates within 2× of the target (held-out LFW, per-pair {})",
            check
        ),
        global: format!(
            "{:.1} % (median {:.2}, 90th pct {:.2})",
            templates.0.within_2x * 100.0,
            templates.0.median_ratio,
            templates.0.p90_ratio
        ),
        per_template: format!(
            "{:.1} % (median {:.2}, 90th pct {:.2})",
            templates.1.within_2x * 100.0,
            templates.1.median_ratio,
            templates.1.p90_ratio
        ),
        goal: "≥ 90 % of templates".into(),
        met: templates.1.within_2x >= 0.9,
    });
    let loss = (tpir.tpir_global - tpir.tpir_per_template) * 100.0;
    goals.push(Goal {
        figure: "TPIR loss against the global threshold (held-out LFW)".into(),
        global: format!("{:.2} %", tpir.tpir_global * 100.0),
        per_template: format!(
            "{:.2} % ({:+.2} points)",
            tpir.tpir_per_template * 100.0,
            -loss
        ),
        goal: "≤ 1 point lost".into(),
        met: loss <= 1.0,
    });
    if let Some((_, g, t)) = blufr.iter().find(|(f, _, _)| *f == 1e-3) {
        goals.push(Goal {
            figure: "BLUFR DIR at FPIR 0.1 %, mean over trials".into(),
            global: format!("{:.1} %", g.mean * 100.0),
            per_template: format!("{:.1} %", t.mean * 100.0),
            goal: "≥ 85 %".into(),
            met: t.mean >= 0.85,
        });
    }
    Ok(PerTemplateReport {
        z_threshold: z,
        per_pair_target: target,
        how: format!(
            "Cohort of a UTKFace template: the {} LFW cohort images and the other UTKFace fold. The global threshold is the operating threshold {operating:.4}, on the same trials.",
            run.lfw_cohort.len()
        ),
        demographics,
        against_all,
        tpir,
        templates,
        blufr,
        goals,
    })
}

/// A gallery person's photos, each with its norm; and their mean template with its norm.
type NormedPhoto<'a> = (&'a [f32], Norm);
type NormedPhotos<'a> = Vec<NormedPhoto<'a>>;
type NormedMean = (Vec<f32>, Norm);

/// Photos enrolled per person in the multi-photo comparison, and the most genuine probes taken
/// from one person (so a few much-photographed people do not decide it).
const MULTI_PHOTOS: usize = 3;
const MULTI_PROBES: usize = 10;

/// Several photos per person: the rules on LFW people with at least [`MULTI_PHOTOS`] + 1 images
/// with a face, against LFW people with one image and every UTKFace face; then BLUFR with extra
/// photos where a trial holds them, plain and (with `normalised`) with per-template norms against
/// UTKFace, as the run time would match.
fn multi_photo_report(
    lfw: &LfwData,
    e: &Embedded,
    u: &Embedded,
    cal: &Calibration,
    normalised: bool,
) -> Result<Option<MultiPhotoReport>> {
    use mandat_eval::multiphoto::{self, Fusion, Gallery, Person};
    let faces: Vec<Option<&[f32]>> = e
        .faces
        .iter()
        .map(|f| f.as_ref().map(|f| f.as_slice()))
        .collect();
    let mut by_class: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, l) in lfw.blufr.labels.iter().enumerate() {
        if faces[i].is_some() {
            by_class.entry(*l).or_default().push(i);
        }
    }
    let persons: Vec<Person> = by_class
        .values()
        .filter(|v| v.len() > MULTI_PHOTOS)
        .map(|v| Person {
            photos: v[..MULTI_PHOTOS].to_vec(),
            probes: v[MULTI_PHOTOS..v.len().min(MULTI_PHOTOS + MULTI_PROBES)].to_vec(),
        })
        .collect();
    if persons.is_empty() {
        return Ok(None);
    }
    // Impostors: LFW people with a single image, then every UTKFace face, in one index space.
    let mut all = faces.clone();
    let mut impostors: Vec<usize> = by_class
        .values()
        .filter(|v| v.len() == 1)
        .map(|v| v[0])
        .collect();
    let lfw_singles = impostors.len();
    for f in u.faces.iter().flatten() {
        impostors.push(all.len());
        all.push(Some(f.as_slice()));
    }
    let fpirs = [1e-3, 1e-4];
    let points = multiphoto::compare(&persons, &impostors, &all, MULTI_PHOTOS, &fpirs);
    let genuine = points.first().map_or(0, |p| p.genuine);

    // Held-out people (odd classes, as the table's own check) with all their photos, against
    // held-out strangers: the table's threshold for one template, and for one per photo.
    let held = |i: &usize| i >= &faces.len() || lfw.blufr.labels[*i] % 2 == 1;
    let held_imp: Vec<&[f32]> = impostors
        .iter()
        .filter(|i| held(i))
        .filter_map(|&i| all[i])
        .collect();
    let mut counted = Vec::new();
    for k in 1..=MULTI_PHOTOS {
        // Each held-out person's gallery with its genuine probes, kept together.
        let galleries: Vec<(Gallery, Vec<&[f32]>)> = persons
            .iter()
            .filter(|p| held(&p.photos[0]))
            .filter_map(|p| {
                let g = Gallery::new(p.photos[..k].iter().filter_map(|&i| faces[i]).collect())?;
                Some((g, p.probes.iter().filter_map(|&i| faces[i]).collect()))
            })
            .collect();
        let trials = (galleries.len() * held_imp.len()) as u64;
        let rate = |t: f32| {
            let hits: usize = galleries
                .iter()
                .map(|(g, _)| {
                    held_imp
                        .iter()
                        .filter(|q| g.score(Fusion::Max, q) > t)
                        .count()
                })
                .sum();
            hits as f64 / trials.max(1) as f64
        };
        // The same persons' genuine probes at those thresholds: what counting costs.
        let tpir = |t: f32| {
            let (hits, n) = galleries
                .iter()
                .fold((0usize, 0usize), |(h, n), (g, probes)| {
                    let found = probes
                        .iter()
                        .filter(|q| g.score(Fusion::Max, q) > t)
                        .count();
                    (h + found, n + probes.len())
                });
            hits as f64 / n.max(1) as f64
        };
        for f in fpirs {
            let (Ok(one), Ok(all_k)) = (cal.threshold(f, 1), cal.threshold(f, k as u32)) else {
                continue;
            };
            counted.push(CountedCheck {
                fpir: f,
                photos: k as u32,
                trials,
                threshold_one: one,
                realised_one: rate(one),
                tpir_one: tpir(one),
                threshold_counted: all_k,
                realised_counted: rate(all_k),
                tpir_counted: tpir(all_k),
            });
        }
    }

    // BLUFR: each gallery person takes up to two more of its trial's genuine probes as photos.
    let extra = MULTI_PHOTOS - 1;
    // A sample too small for a UTKFace-only cohort leaves the normalised rows out, and says why.
    let mut no_cohort = (!normalised).then(|| "this run had no per-template table".to_string());
    let cohort = if normalised {
        match Cohort::new(
            mandat_face::vector::EMBEDDING_DIM,
            u.faces.iter().flatten().map(|f| f.as_slice().to_vec()),
        ) {
            Ok(c) => Some(c),
            Err(e) => {
                no_cohort = Some(format!("the UTKFace faces of this run make no cohort: {e}"));
                None
            }
        }
    } else {
        None
    };
    let bfpirs = [1e-2, 1e-3];
    let mut rules: Vec<(String, Vec<Vec<f64>>)> = Vec::new();
    let mut photos = (0usize, 0usize);
    let mut push = |k: usize, name: &str, r: &openset::TrialResult| {
        if rules.len() <= k {
            rules.push((name.to_string(), vec![Vec::new(); bfpirs.len()]));
        }
        for (j, d) in r.dir.iter().enumerate() {
            rules[k].1[j].push(d.2);
        }
    };
    let labels = &lfw.blufr.labels;
    for t in lfw
        .blufr
        .trials
        .iter()
        .filter(|t| !t.gallery.is_empty() && !t.probes.is_empty())
    {
        let (groups, probes) = openset::multi_photo(t, labels, extra);
        photos.0 += groups.iter().map(|(_, g)| g.len()).sum::<usize>();
        photos.1 += groups.len();
        let single: Vec<(u32, usize)> = groups.iter().map(|(l, g)| (*l, g[0])).collect();
        push(
            0,
            "one photo",
            &openset::run_grouped(&single, &probes, labels, &bfpirs, |p, &g| e.score(p, g)),
        );
        let galleries: Vec<(u32, Option<Gallery>)> = groups
            .iter()
            .map(|(l, g)| {
                (
                    *l,
                    Gallery::new(g.iter().filter_map(|&i| faces[i]).collect()),
                )
            })
            .collect();
        for (k, rule) in Fusion::ALL.iter().enumerate() {
            let r = openset::run_grouped(&galleries, &probes, labels, &bfpirs, |p, g| {
                Some(g.as_ref()?.score(*rule, faces[p]?))
            });
            push(k + 1, rule.as_str(), &r);
        }
        if let Some(c) = &cohort {
            // Each photo with its own norm (the highest normalised score alarms), and the mean
            // template with its norm; a photo whose norm cannot be computed never wins.
            let normed: Vec<(u32, NormedPhotos, Option<NormedMean>)> = groups
                .iter()
                .map(|(l, g)| {
                    let ph: Vec<&[f32]> = g.iter().filter_map(|&i| faces[i]).collect();
                    let each = ph
                        .iter()
                        .filter_map(|p| Some((*p, c.norm(p).ok()?)))
                        .collect();
                    let mean = multiphoto::mean_template(&ph)
                        .and_then(|m| c.norm(&m).ok().map(|n| (m, n)));
                    (*l, each, mean)
                })
                .collect();
            let dot = mandat_face::vector::dot;
            let each: Vec<(u32, &NormedPhotos)> = normed.iter().map(|(l, e, _)| (*l, e)).collect();
            // An entry with nothing to score never wins a rank (-1 would be an ordinary z).
            let r = openset::run_grouped(&each, &probes, labels, &bfpirs, |p, g| {
                let q = faces[p]?;
                Some(
                    g.iter()
                        .map(|(t, n)| n.z(dot(t, q)))
                        .max_by(|a, b| a.total_cmp(b))
                        .unwrap_or(-1e6),
                )
            });
            push(4, "each photo normalised (highest z)", &r);
            let mean: Vec<(u32, &Option<NormedMean>)> =
                normed.iter().map(|(l, _, m)| (*l, m)).collect();
            let r = openset::run_grouped(&mean, &probes, labels, &bfpirs, |p, g| {
                let q = faces[p]?;
                Some(g.as_ref().map_or(-1e6, |(m, n)| n.z(dot(m, q))))
            });
            push(5, "mean template normalised", &r);
            // The baseline on the same probes and cohort: the first photo alone, normalised.
            let first: Vec<(u32, Option<NormedPhoto>)> = groups
                .iter()
                .map(|(l, g)| (*l, faces[g[0]].and_then(|f| Some((f, c.norm(f).ok()?)))))
                .collect();
            let r = openset::run_grouped(&first, &probes, labels, &bfpirs, |p, g| {
                let q = faces[p]?;
                Some(g.map_or(-1e6, |(t, n)| n.z(dot(t, q))))
            });
            push(6, "one photo normalised", &r);
        }
    }
    let blufr: Vec<BlufrMultiRow> = rules
        .iter()
        .flat_map(|(name, per)| {
            bfpirs.iter().zip(per).map(move |(f, v)| BlufrMultiRow {
                fpir: *f,
                rule: name.clone(),
                summary: openset::mean_sd(v),
            })
        })
        .collect();
    let at = |rule: &str| {
        blufr
            .iter()
            .find(|b| b.fpir == 1e-3 && b.rule == rule)
            .map(|b| b.summary.mean)
    };
    let chosen = match (
        at("each photo normalised (highest z)"),
        at("mean template normalised"),
        at("one photo normalised"),
    ) {
        (Some(each), Some(mean), Some(one)) => format!(
            "each photo stays a template of its own with its own threshold, and a face alarms on its best photo; a permit's threshold is derived for as many templates as its persons have photos. With per-template thresholds, BLUFR DIR at FPIR 0.1 % on the same probes is {:.1} % this way, {:.1} % with the mean template and {:.1} % with one photo.",
            each * 100.0,
            mean * 100.0,
            one * 100.0
        ),
        _ => format!(
            "each photo stays a template of its own with its own threshold, and a face alarms on its best photo; a permit's threshold is derived for as many templates as its persons have photos (the normalised rules were not compared: {}).",
            no_cohort
                .as_deref()
                .unwrap_or("a normalised row is missing")
        ),
    };
    Ok(Some(MultiPhotoReport {
        how: format!(
            "{} LFW people with more than {MULTI_PHOTOS} images with a face: the first 1 to {MULTI_PHOTOS} enrolled, up to the next {MULTI_PROBES} as genuine probes ({genuine} in all, the same for every row). Impostors: the {lfw_singles} LFW people with one image and {} UTKFace faces, each against every enrolled person; each row's threshold lets through that share of them.",
            persons.len(),
            impostors.len() - lfw_singles
        ),
        persons: persons.len() as u32,
        impostors: impostors.len() as u32,
        points,
        blufr_how: format!(
            "Each BLUFR trial's gallery person takes up to {extra} more of its genuine probes as photos; they leave the probes, and every row meets the probes left. Normalised rows use UTKFace as the cohort."
        ),
        blufr_photos: photos.0 as f64 / photos.1.max(1) as f64,
        blufr,
        counted,
        chosen,
    }))
}

fn table_of(
    title: &str,
    at: &str,
    threshold: Option<f32>,
    how: &str,
    rates: Vec<Rate>,
) -> GroupTable {
    table(title, "FMR", at, threshold, how, rates)
}

/// The model card's line for the embedder that ran: the manifest's for the pinned one, the
/// registry's for one registered by hand.
fn embedder_entry(running: &Models) -> Result<ModelEntry> {
    let spec = ModelSpec::get(ModelId::Sface);
    if running.embedder_sha256 == spec.final_sha256()? {
        return Ok(ModelEntry {
            id: spec.id.as_str().into(),
            role: spec.role.into(),
            source: spec.source.requirement.into(),
            licence: spec.licence.into(),
            sha256: running.embedder_sha256.clone(),
        });
    }
    let r = mandat_models::Store::from_env()?
        .registered()?
        .into_iter()
        .find(|r| r.sha256 == running.embedder_sha256)
        .context("the embedder that ran is neither pinned nor registered")?;
    Ok(ModelEntry {
        id: r.name,
        role: "face embedder (registered by hand)".into(),
        source: "registered with `mandat models register`".into(),
        licence: r.licence_title,
        sha256: r.sha256,
    })
}

fn model_card(
    running: &Models,
    device: mandat_face::Device,
    lfw_images: usize,
    lfw_failures: usize,
    utk_images: usize,
    utk_failures: usize,
) -> Result<ModelCard> {
    // The runtime that ran: the GPU build only for --device cuda.
    let gpu = matches!(device, mandat_face::Device::Cuda(_));
    let models = MANIFEST
        .iter()
        .filter(|m| match m.id {
            ModelId::OnnxRuntime => !gpu,
            ModelId::OnnxRuntimeGpu => gpu,
            // The embedder that ran, pinned or registered, is listed below.
            ModelId::Sface => false,
            _ => true,
        })
        .map(|m| {
            Ok(ModelEntry {
                id: m.id.as_str().into(),
                role: m.role.into(),
                source: m.source.requirement.into(),
                licence: m.licence.into(),
                sha256: m.final_sha256()?.into(),
            })
        })
        .chain(std::iter::once(Ok(embedder_entry(running)?)))
        .collect::<Result<Vec<_>>>()?;
    let embedder = &running.embedder_name;
    let registered = embedder != mandat_models::BUILT_IN_EMBEDDER;
    Ok(ModelCard {
        models,
        data: vec![
            DataEntry {
                name: "LFW deep-funneled (Huang et al. 2007), with BLUFR lists (Liao et al. 2014) and gender labels (Afifi and Abdelhamed)".into(),
                images: lfw_images,
                detection_failures: lfw_failures,
                use_: "verification, open-set identification, calibration, FMR/FNMR by gender".into(),
            },
            DataEntry {
                name: "UTKFace subset (Zhang et al. 2017), 400 images per race × gender cell".into(),
                images: utk_images,
                detection_failures: utk_failures,
                use_: "FMR and detection failures by race × gender and age band".into(),
            },
        ],
        known_limits: vec![
            if registered {
                format!("The embedder {embedder} was registered by hand; it runs with SFace's interface (112x112 aligned face, 128-d output), so a model with another interface could not be evaluated here.")
            } else {
                "SFace (2021) is a small 128-d model; current large models are markedly more accurate, especially at low false match rates.".into()
            },
            "Trained and tested on photographs, mostly frontal and well lit. Street cameras give smaller, blurred, off-angle faces: expect lower identification rates there; the quality gate refuses reference photos that are too poor.".into(),
            if registered {
                "The model was not trained by us; its training data and its demographic make-up are as its supplier states and were not audited here.".into()
            } else {
                "The model was not trained by us; its training data and its demographic make-up are as published by its authors (OpenCV Zoo) and were not audited here.".into()
            },
            "No decision rests on a score: every hit is verified by two officers.".into(),
        ],
    })
}

fn limits() -> Vec<String> {
    vec![
        "False non-match rates by race: neither data set allows them. UTKFace has one image per person, and LFW's race labels cover 866 people, 672 of them labelled caucasian. Only FNMR by gender (LFW) is reported.".into(),
        "UTKFace labels (age, binary gender, five race categories including \"Others\") were assigned by annotators, not self-reported; the categories are coarse and say nothing about skin tone.".into(),
        "Race and age are entangled in the UTKFace subset: about 30 % of the Asian and Others images are of children against 6 % of the Black ones, and children match falsely far more often. The adults-only table separates the two; it has fewer pairs.".into(),
        "At the operating threshold false matches are rare events: several groups show none, so their rate is bounded by the interval, not known. The worst-to-best ratio is then unbounded; the reference threshold, where errors occur, resolves the differences better.".into(),
        "LFW people are mostly public figures in press photographs; they are not a sample of the Swedish population or of people passing a camera.".into(),
        "The calibration assumes a passer-by's scores against the watchlist persons are independent; the held-out check measures the realised rate with real people, not that assumption.".into(),
        "Image quality, camera angle and lighting in the field are not represented; accuracy on live video is measured separately (the synthetic watchlist video and the street clip).".into(),
    ]
}

/// The headline figures in one line, for the terminal.
pub fn headline_line(r: &EvaluationReport) -> String {
    format!(
        "LFW accuracy {:.2} %, TAR at FAR 1e-3 {:.2} %, BLUFR DIR at FPIR 1 % {:.2} % (mean − sd), worst/best FMR {}",
        r.headline.lfw_accuracy * 100.0,
        r.headline.tar_at_far_1e3 * 100.0,
        r.headline.blufr_dir_at_fpir_1pc * 100.0,
        r.headline
            .worst_best_fmr_ratio
            .map_or("unbounded".into(), |x| format!(
                "{x:.2}× ({})",
                r.headline.worst_best_fmr_of
            ))
    )
}
