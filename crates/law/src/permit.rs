//! The permit (tillstånd) and the rules a permit application must satisfy.

use serde::{Deserialize, Serialize};

use crate::profile::Profile;
use crate::time::Timestamp;
use crate::{Refusal, rule};

pub type PermitId = String;
pub type UserId = String;
pub type CameraId = String;
pub type PersonId = String;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Agency {
    Polismyndigheten,
    Sakerhetspolisen,
}

impl Agency {
    pub const ALL: [Agency; 2] = [Agency::Polismyndigheten, Agency::Sakerhetspolisen];

    pub fn as_str(self) -> &'static str {
        match self {
            Agency::Polismyndigheten => "polismyndigheten",
            Agency::Sakerhetspolisen => "sakerhetspolisen",
        }
    }

    pub fn parse(s: &str) -> Option<Agency> {
        Agency::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// The four purposes the law allows (AI Act art. 5(1)(h)(i)-(iii) as enacted in Lag 2026:806).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Targeted search for a victim of abduction, trafficking or sexual exploitation, or a missing person.
    VictimSearch,
    /// Preventing a specific, substantial and imminent threat to life or physical safety, or a
    /// genuine and present or foreseeable threat of a terrorist attack.
    ImminentThreat,
    /// Locating or identifying a person suspected of a crime, for investigation or prosecution.
    SuspectLocation,
    /// Enforcing a criminal sentence for such a crime.
    SentenceEnforcement,
}

impl Purpose {
    pub fn requires_offence(self) -> bool {
        matches!(
            self,
            Purpose::SuspectLocation | Purpose::SentenceEnforcement
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::VictimSearch => "victim_search",
            Purpose::ImminentThreat => "imminent_threat",
            Purpose::SuspectLocation => "suspect_location",
            Purpose::SentenceEnforcement => "sentence_enforcement",
        }
    }
}

/// The criminal offences of Annex II to the AI Act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnnexII {
    Terrorism,
    TraffickingInHumanBeings,
    SexualExploitationOfChildren,
    IllicitTraffickingInNarcotics,
    IllicitTraffickingInWeapons,
    Murder,
    GrievousBodilyInjury,
    IllicitTradeInHumanOrgans,
    IllicitTraffickingInNuclearMaterials,
    KidnappingOrHostageTaking,
    CrimesWithinIccJurisdiction,
    UnlawfulSeizureOfAircraftOrShips,
    Rape,
    EnvironmentalCrime,
    OrganisedOrArmedRobbery,
    Sabotage,
    ParticipationInCriminalOrganisation,
}

/// How far the conduct went. Attempt, preparation and conspiracy are included by the law when
/// the offence itself qualifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Completed,
    Attempt,
    Preparation,
    Conspiracy,
}

impl AnnexII {
    pub const ALL: [AnnexII; 17] = [
        AnnexII::Terrorism,
        AnnexII::TraffickingInHumanBeings,
        AnnexII::SexualExploitationOfChildren,
        AnnexII::IllicitTraffickingInNarcotics,
        AnnexII::IllicitTraffickingInWeapons,
        AnnexII::Murder,
        AnnexII::GrievousBodilyInjury,
        AnnexII::IllicitTradeInHumanOrgans,
        AnnexII::IllicitTraffickingInNuclearMaterials,
        AnnexII::KidnappingOrHostageTaking,
        AnnexII::CrimesWithinIccJurisdiction,
        AnnexII::UnlawfulSeizureOfAircraftOrShips,
        AnnexII::Rape,
        AnnexII::EnvironmentalCrime,
        AnnexII::OrganisedOrArmedRobbery,
        AnnexII::Sabotage,
        AnnexII::ParticipationInCriminalOrganisation,
    ];
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::Completed,
        Stage::Attempt,
        Stage::Preparation,
        Stage::Conspiracy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Completed => "completed",
            Stage::Attempt => "attempt",
            Stage::Preparation => "preparation",
            Stage::Conspiracy => "conspiracy",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The offence a suspect search or a sentence enforcement is for: an entry of the profile's
/// catalogue ([`crate::grounds`]) by its `code`, or, described by hand, confirmed by a prosecutor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Offence {
    /// The catalogue entry. When given, drafting fills `description`, `max_penalty_years` and
    /// `annex_ii` from it, replacing what was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "brb-3-1")]
    pub code: Option<String>,
    /// The offence as named in Swedish law, e.g. "mord (BrB 3 kap. 1 §)".
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub annex_ii: Option<AnnexII>,
    /// The maximum penalty of the offence in the statute, in years.
    #[serde(default)]
    #[schema(value_type = i64, minimum = 0, maximum = 4294967295_i64)]
    pub max_penalty_years: u32,
    pub stage: Stage,
    /// The degree of suspicion against the person sought; required for a suspect search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspicion: Option<crate::grounds::Suspicion>,
    /// Set by the server: the prosecutor who confirmed an offence described by hand (its
    /// drafter, or the one confirming it with [`crate::Permit::confirm_offence`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_by: Option<UserId>,
}

/// Where a reference photo came from, recorded for each photo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PhotoRef {
    /// Set by the server when the application is drafted: opaque and random. What a client
    /// sends is replaced, so no name chosen by hand reaches a photo, template or log row.
    #[serde(default)]
    pub id: String,
    pub source: String,
}

/// What the enrolment quality gate measured on a reference photo. Kept with the photo, sealed
/// like it, so the applicant and the decider see why it was taken.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PhotoQuality {
    /// The photo's size in pixels.
    pub width: u32,
    pub height: u32,
    /// The face's box in pixels: left, top, right, bottom.
    pub face_box: [f32; 4],
    /// Pixels between the eye centres.
    pub inter_eye_px: f32,
    /// Variance of the Laplacian of the aligned face; larger is sharper.
    pub sharpness: f32,
    /// Head roll in degrees.
    pub roll_deg: f32,
    /// Nose offset from the eye midpoint in inter-eye distances; about 0 when frontal.
    pub yaw: f32,
    /// Nose height between eye line (0) and mouth line (1); about 0.5 when frontal.
    pub pitch: f32,
    pub detector_score: f32,
}

/// One reason the enrolment gate refused a photo, with what it measured and the limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PhotoFault {
    /// `faces` (how many were found; exactly one is needed), `inter_eye_px`, `sharpness`,
    /// `yaw` (absolute, at most the limit) or `detector_score`.
    pub measure: String,
    pub value: f32,
    pub limit: f32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DesignatedPerson {
    /// Set by the server when the application is drafted: opaque and random (`P-` and 16 hex
    /// digits). It is copied into alerts, tasks and the audit log, so it must say nothing about
    /// who the person is; what a client sends is replaced.
    #[serde(default)]
    pub id: PersonId,
    /// A case label, not necessarily a name. Sealed under the permit's key at rest.
    pub label: String,
    pub photos: Vec<PhotoRef>,
}

/// A point as (latitude, longitude) in degrees (WGS 84).
pub type LatLon = (f64, f64);

/// [`LatLon`] in the OpenAPI document: `[latitude, longitude]` in degrees (WGS 84).
pub struct LatLonSchema;

impl utoipa::PartialSchema for LatLonSchema {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
        ArrayBuilder::new()
            .items(ObjectBuilder::new().schema_type(Type::Number))
            .min_items(Some(2))
            .max_items(Some(2))
            .description(Some("[latitude, longitude] in degrees (WGS 84)"))
            .into()
    }
}

impl utoipa::ToSchema for LatLonSchema {
    fn name() -> std::borrow::Cow<'static, str> {
        "LatLon".into()
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Area {
    /// Cameras named one by one.
    pub cameras: Vec<CameraId>,
    /// A polygon that helped choose the cameras: when the application is drafted, the cameras
    /// registered inside it are added to `cameras`. It is shown to the decider; it covers nothing.
    #[schema(value_type = Option<Vec<LatLonSchema>>)]
    pub polygon: Option<Vec<LatLon>>,
}

impl Area {
    /// The polygon's area in km² (spherical excess is negligible at a city's scale: the
    /// polygon is projected on the plane tangent at its first point). `None` without a polygon
    /// of at least three points.
    pub fn polygon_km2(&self) -> Option<f64> {
        let p = self.polygon.as_ref().filter(|p| p.len() >= 3)?;
        const R_KM: f64 = 6371.0088;
        let (lat0, lon0) = p[0];
        let xy: Vec<(f64, f64)> = p
            .iter()
            .map(|(lat, lon)| {
                (
                    (lon - lon0).to_radians() * R_KM * lat0.to_radians().cos(),
                    (lat - lat0).to_radians() * R_KM,
                )
            })
            .collect();
        let twice: f64 = (0..xy.len())
            .map(|i| {
                let (a, b) = (xy[i], xy[(i + 1) % xy.len()]);
                a.0 * b.1 - b.0 * a.1
            })
            .sum();
        Some(twice.abs() / 2.0)
    }

    /// No camera named: a polygon alone covers nothing (it selects cameras when drafting).
    pub fn is_empty(&self) -> bool {
        self.cameras.is_empty()
    }

    /// Whether the decision covers a camera: only the cameras named, one by one. The polygon
    /// helped choose them when the application was drafted; a camera registered later inside it
    /// is not covered until an amendment names it.
    pub fn covers(&self, camera: &str) -> bool {
        self.cameras.iter().any(|c| c == camera)
    }

    /// Whether a camera at `location` lies inside the polygon (for choosing cameras only).
    pub fn polygon_holds(&self, location: Option<LatLon>) -> bool {
        match (&self.polygon, location) {
            (Some(poly), Some(p)) if poly.len() >= 3 => point_in_polygon(p, poly),
            _ => false,
        }
    }
}

/// Even-odd ray casting; a point exactly on an edge may fall either way, so areas should be drawn
/// with margin.
pub fn point_in_polygon(p: LatLon, poly: &[LatLon]) -> bool {
    let (y, x) = p;
    let mut inside = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let (yi, xi) = poly[i];
        let (yj, xj) = poly[j];
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Period {
    pub start: Timestamp,
    /// Exclusive.
    pub end: Timestamp,
}

impl Period {
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reasons {
    pub necessity: String,
    pub proportionality: String,
    /// Fundamental rights impact assessment (AI Act art. 27) reference.
    pub fria_ref: String,
    /// EU database registration (AI Act art. 49) reference.
    pub eu_db_ref: String,
}

/// Everything an applicant states. Validated by [`Application::check`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Application {
    pub agency: Agency,
    pub purpose: Purpose,
    /// The applying authority's own case number: the police's (the K-number) or, when a
    /// prosecutor applies, the prosecutor's. Every use belongs to a case ([`check_case_number`]).
    #[serde(default)]
    #[schema(example = "5000-K123456-26", max_length = 40)]
    pub case_number: String,
    pub offence: Option<Offence>,
    /// A victim search: whom it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub victim: Option<crate::grounds::VictimCategory>,
    /// An imminent-threat search: what is threatened and why it is imminent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threat: Option<crate::grounds::Threat>,
    /// A sentence enforcement: the judgment enforced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judgment: Option<crate::grounds::Judgment>,
    pub persons: Vec<DesignatedPerson>,
    pub area: Area,
    pub period: Period,
    pub reasons: Reasons,
    /// Cosine threshold for matches under this permit. With a [`Target`] the control plane derives
    /// it from the calibration table and any value given here is replaced.
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub threshold: f32,
    /// The false-alert rate the permit accepts, from which the threshold was derived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// Set by the control plane when the permit is drafted: the embedding model its threshold,
    /// calibration and templates belong to. Absent in permits drafted before it was recorded,
    /// which were drafted for the pinned embedder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedder: Option<crate::risk::ModelRef>,
}

/// A permit's stated target: at most `fpir` of the passers-by who are not on the watchlist raise a
/// false alert (for example 0.0001: one in 10,000), for a watchlist of `watchlist` persons with
/// `templates` reference photos among them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Target {
    #[schema(exclusive_minimum = 0.0, maximum = 0.1)]
    pub fpir: f64,
    /// Set by the control plane: the number of designated persons the threshold was derived for.
    #[serde(default)]
    pub watchlist: u32,
    /// Set by the control plane: their reference photos. Each photo is a template matched on its
    /// own (a face alarms on its best photo), so the threshold is derived for this many templates:
    /// a person with three photos has three chances to match a stranger.
    #[serde(default)]
    pub templates: u32,
    /// Set by the control plane: the calibration table's version.
    #[serde(default)]
    pub calibration: String,
    /// Set by the control plane when the table has per-template thresholds: the normalised
    /// threshold each template's own cosine is derived from ([`crate::norm::Norm::cosine`]) ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub z: Option<f32>,
    /// ... the version of the impostor cohort the templates are normalised against ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cohort: Option<String>,
    /// ... and the cosine no template's threshold falls below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<f32>,
}

impl Target {
    /// A target as an applicant states it: the rate only; the control plane derives the rest
    /// from the calibration when the permit is drafted.
    pub fn stated(fpir: f64) -> Self {
        Target {
            fpir,
            watchlist: 0,
            templates: 0,
            calibration: String::new(),
            z: None,
            cohort: None,
            floor: None,
        }
    }
}

/// The longest case number mandat takes.
pub const MAX_CASE_NUMBER: usize = 40;

/// A case number as authorities write them ("5000-K123456-26", "AM-12345-26", "B 1234-26"): at
/// most [`MAX_CASE_NUMBER`] characters of digits (two or more), letters (four at most), one space
/// and `- / : .`. The field is not sealed, so it is held to that shape: a sentence or a full name
/// does not fit in it.
pub fn check_case_number(s: &str) -> Result<(), String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("is missing: give the case the use belongs to (the police's K-number, or the prosecutor's)".into());
    }
    if s.chars().count() > MAX_CASE_NUMBER {
        return Err(format!("is longer than {MAX_CASE_NUMBER} characters"));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, ' ' | '-' | '/' | ':' | '.')))
    {
        return Err(format!(
            "holds {c:?}: use letters, digits, spaces and - / : . only"
        ));
    }
    let count = |f: fn(&char) -> bool| s.chars().filter(f).count();
    if count(|c| c.is_ascii_digit()) < 2
        || count(|c| c.is_alphabetic()) > 4
        || count(|c| *c == ' ') > 1
    {
        return Err(
            "is not shaped like one: two or more digits, at most four letters and one space".into(),
        );
    }
    Ok(())
}

impl Application {
    /// The cosine threshold of one template under this application: the permit's own, or with
    /// per-template thresholds the template's, from its norm against the target's cohort and never
    /// below the target's floor. `None` (the template is not matched at all) when a per-template
    /// permit's template has no norm against that cohort, the per-template fields are only partly
    /// set, or the result is not a cosine in (0, 1): fail closed.
    pub fn threshold_for(&self, norm: Option<&crate::norm::TemplateNorm>) -> Option<f32> {
        match self
            .target
            .as_ref()
            .map(|t| (t.z, t.cohort.as_deref(), t.floor))
        {
            None | Some((None, None, None)) => Some(self.threshold),
            Some((Some(z), Some(cohort), Some(floor))) => norm
                .filter(|n| n.cohort == cohort)
                .map(|n| n.norm.cosine(z).max(floor))
                .filter(|t| t.is_finite() && *t > 0.0 && *t < 1.0),
            Some(_) => None,
        }
    }

    /// The reference photos of all designated persons: the templates a threshold is derived for.
    pub fn template_count(&self) -> u32 {
        let n: usize = self.persons.iter().map(|p| p.photos.len()).sum();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Whether this application's templates each have their own threshold.
    pub fn per_template(&self) -> bool {
        self.target
            .as_ref()
            .is_some_and(|t| t.z.is_some() || t.cohort.is_some() || t.floor.is_some())
    }

    /// The caps of `limits` the application exceeds, each a refusal that names the cap.
    pub fn over_limits(&self, limits: &crate::profile::Limits) -> Vec<Refusal> {
        let mut out = Vec::new();
        let over = |what: &str, n: String, max: String| {
            rule::LIMITS.refusal(format!(
                "the application names {n} {what}; the jurisdiction profile allows at most {max} per permit"
            ))
        };
        if let Some(m) = limits.max_persons
            && self.persons.len() > m as usize
        {
            out.push(over(
                "designated persons",
                self.persons.len().to_string(),
                m.to_string(),
            ));
        }
        if let Some(m) = limits.max_cameras
            && self.area.cameras.len() > m as usize
        {
            out.push(over(
                "cameras",
                self.area.cameras.len().to_string(),
                m.to_string(),
            ));
        }
        if let (Some(m), Some(km2)) = (limits.max_area_km2, self.area.polygon_km2())
            && km2 > m
        {
            out.push(over("km² of area", format!("{km2:.2}"), format!("{m}")));
        }
        out
    }

    /// Every rule the application breaks, each with its legal ground. Empty when it may be decided on.
    pub fn check(&self, profile: &Profile) -> Vec<Refusal> {
        let mut out = Vec::new();
        if let Err(why) = check_case_number(&self.case_number) {
            out.push(rule::CASE_NUMBER.refusal(format!("the application's case number {why}")));
        }
        if self.purpose.requires_offence() {
            match &self.offence {
                None => out.push(rule::OFFENCE_REQUIRED.refusal(format!(
                    "purpose {} requires an offence",
                    self.purpose.as_str()
                ))),
                Some(o) if o.max_penalty_years < profile.min_penalty_years => {
                    out.push(rule::PENALTY_TOO_LOW.refusal(format!(
                        "offence carries at most {} years; the law requires at least {} years",
                        o.max_penalty_years, profile.min_penalty_years
                    )))
                }
                Some(o) if o.description.trim().is_empty() => out.push(
                    rule::OFFENCE_REQUIRED.refusal("the offence is not described".to_string()),
                ),
                Some(_) => {}
            }
        }
        out.extend(crate::grounds::check(
            self.purpose,
            self.offence.as_ref(),
            self.victim,
            self.threat.as_ref(),
            self.judgment.as_ref(),
            self.period.start,
            profile.offences,
        ));
        if self.persons.is_empty() {
            out.push(rule::PERSON_REQUIRED.refusal("no designated person".to_string()));
        }
        for p in &self.persons {
            if p.photos.is_empty() {
                out.push(
                    rule::PHOTO_REQUIRED
                        .refusal(format!("designated person {} has no reference photo", p.id)),
                );
            }
            if p.photos.iter().any(|ph| ph.source.trim().is_empty()) {
                out.push(rule::PHOTO_REQUIRED.refusal(format!(
                    "a photo of designated person {} has no recorded source",
                    p.id
                )));
            }
        }
        if self.area.is_empty() {
            out.push(rule::AREA_REQUIRED.refusal(
                "the area names no camera (a polygon selects the registered cameras inside it when the application is drafted)".into(),
            ));
        }
        out.extend(self.over_limits(&profile.limits));
        if self.period.end <= self.period.start {
            out.push(rule::PERIOD_INVALID.refusal("the period ends before it starts".into()));
        } else if self.period.end > self.period.start.plus_months(profile.max_period_months) {
            out.push(rule::PERIOD_TOO_LONG.refusal(format!(
                "period exceeds {} month(s)",
                profile.max_period_months
            )));
        }
        // A period reaching outside the statute's time in force could not be used there.
        let v = profile.validity;
        if self.period.start < v.in_force || v.sunset.is_some_and(|s| self.period.end > s) {
            out.push(rule::VALIDITY.refusal(format!(
                "the period {} to {} reaches outside the statute: {}",
                self.period.start,
                self.period.end,
                profile.window_text()
            )));
        }
        let r = &self.reasons;
        for (field, v) in [
            ("necessity", &r.necessity),
            ("proportionality", &r.proportionality),
            ("FRIA reference", &r.fria_ref),
            ("EU database registration", &r.eu_db_ref),
        ] {
            if v.trim().is_empty() {
                out.push(rule::REASONS_REQUIRED.refusal(format!("{field} is missing")));
            }
        }
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            out.push(rule::THRESHOLD_INVALID.refusal(format!(
                "match threshold {} is outside (0, 1)",
                self.threshold
            )));
        }
        if let Some(t) = &self.target {
            // The threshold holds for the watchlist it was derived for; a changed list needs a new one.
            // A target derived before photos were counted (`templates` 0) holds only where every
            // person has one photo, so the two counts agree.
            let templates = match t.templates {
                0 => t.watchlist,
                n => n,
            };
            if t.calibration.is_empty()
                || t.watchlist as usize != self.persons.len()
                || templates != self.template_count()
            {
                out.push(rule::THRESHOLD_INVALID.refusal(format!(
                    "the threshold was derived for {} reference photo(s) of {} person(s) but the permit has {} of {}; draft it again so the threshold is recalibrated",
                    templates,
                    t.watchlist,
                    self.template_count(),
                    self.persons.len()
                )));
            }
        }
        out
    }
}
