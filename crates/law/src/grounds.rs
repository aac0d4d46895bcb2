//! The legal grounds of an application as structured data: the offence from the profile's
//! catalogue, the degree of suspicion, the victim's category, the threat, the judgment enforced.
//!
//! A court or a prosecutor decides on these, and IMY and the annual report count them, so they are
//! chosen from lists rather than typed: a typed offence is used only once a prosecutor has
//! confirmed it ([`crate::Permit::confirm_offence`]).

use serde::{Deserialize, Serialize};

use crate::permit::{AnnexII, Offence, Purpose};
use crate::time::Timestamp;
use crate::{Refusal, rule};

/// One offence of a jurisdiction's catalogue ([`crate::Profile::offences`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CatalogueOffence {
    /// Stable, from the provision: what an application names.
    pub code: &'static str,
    /// The offence as Swedish law names it.
    pub name: &'static str,
    pub provision: &'static str,
    /// The longest fixed term of the scale, in years.
    pub max_penalty_years: u32,
    /// Whether the scale reaches life imprisonment.
    pub life: bool,
    pub annex_ii: AnnexII,
}

impl CatalogueOffence {
    /// "mord (BrB 3 kap. 1 §)": the description an application carries.
    pub fn description(&self) -> String {
        format!("{} ({})", self.name, self.provision)
    }
}

const fn offence(
    code: &'static str,
    name: &'static str,
    provision: &'static str,
    max_penalty_years: u32,
    life: bool,
    annex_ii: AnnexII,
) -> CatalogueOffence {
    CatalogueOffence {
        code,
        name,
        provision,
        max_penalty_years,
        life,
        annex_ii,
    }
}

/// Swedish offences of Annex II whose scale reaches four years or more. The scales are as the
/// statutes read in 2026 to mandat's authors; the police's legal unit checks this table before
/// a production installation (README, "Legal data"). Attempt, preparation and conspiracy are the
/// application's [`crate::permit::Stage`], not entries of their own.
pub const SWEDISH_OFFENCES: &[CatalogueOffence] = {
    use AnnexII::*;
    &[
        offence("brb-3-1", "mord", "BrB 3 kap. 1 §", 18, true, Murder),
        offence("brb-3-2", "dråp", "BrB 3 kap. 2 §", 18, false, Murder),
        offence(
            "brb-3-6",
            "grov misshandel",
            "BrB 3 kap. 6 § första stycket",
            6,
            false,
            GrievousBodilyInjury,
        ),
        offence(
            "brb-3-6-2",
            "synnerligen grov misshandel",
            "BrB 3 kap. 6 § andra stycket",
            10,
            false,
            GrievousBodilyInjury,
        ),
        offence(
            "brb-4-1",
            "människorov",
            "BrB 4 kap. 1 §",
            18,
            true,
            KidnappingOrHostageTaking,
        ),
        offence(
            "brb-4-1a",
            "människohandel",
            "BrB 4 kap. 1 a §",
            10,
            false,
            TraffickingInHumanBeings,
        ),
        offence(
            "brb-4-2",
            "olaga frihetsberövande",
            "BrB 4 kap. 2 §",
            10,
            false,
            KidnappingOrHostageTaking,
        ),
        offence("brb-6-1", "våldtäkt", "BrB 6 kap. 1 §", 6, false, Rape),
        offence(
            "brb-6-1-4",
            "grov våldtäkt",
            "BrB 6 kap. 1 § fjärde stycket",
            10,
            false,
            Rape,
        ),
        offence(
            "brb-6-4",
            "våldtäkt mot barn",
            "BrB 6 kap. 4 §",
            6,
            false,
            SexualExploitationOfChildren,
        ),
        offence(
            "brb-6-4-3",
            "grov våldtäkt mot barn",
            "BrB 6 kap. 4 § tredje stycket",
            10,
            false,
            SexualExploitationOfChildren,
        ),
        offence(
            "brb-16-10a-3",
            "grovt barnpornografibrott",
            "BrB 16 kap. 10 a § tredje stycket",
            6,
            false,
            SexualExploitationOfChildren,
        ),
        offence(
            "brb-8-6",
            "grovt rån",
            "BrB 8 kap. 6 §",
            10,
            false,
            OrganisedOrArmedRobbery,
        ),
        offence(
            "nsl-3",
            "grovt narkotikabrott",
            "narkotikastrafflagen (1968:64) 3 §",
            7,
            false,
            IllicitTraffickingInNarcotics,
        ),
        offence(
            "nsl-3a",
            "synnerligen grovt narkotikabrott",
            "narkotikastrafflagen (1968:64) 3 a §",
            10,
            false,
            IllicitTraffickingInNarcotics,
        ),
        offence(
            "tbl-4",
            "terroristbrott",
            "terroristbrottslagen (2022:666) 4 §",
            18,
            true,
            Terrorism,
        ),
        offence(
            "brb-13-5",
            "grovt sabotage",
            "BrB 13 kap. 5 §",
            18,
            true,
            Sabotage,
        ),
        offence(
            "brb-13-5a",
            "kapning",
            "BrB 13 kap. 5 a §",
            18,
            true,
            UnlawfulSeizureOfAircraftOrShips,
        ),
        offence(
            "ifl-1",
            "folkmord",
            "lagen (2014:406) om straff för folkmord 1 §",
            18,
            true,
            CrimesWithinIccJurisdiction,
        ),
        offence(
            "mb-29-1-3",
            "grovt miljöbrott",
            "miljöbalken 29 kap. 1 § tredje stycket",
            6,
            false,
            EnvironmentalCrime,
        ),
    ]
};

/// The degree of suspicion against the person sought (RB 23 and 24 kap.).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Suspicion {
    /// "Kan misstänkas": the lowest degree.
    Suspected,
    /// "Skäligen misstänkt".
    ReasonablySuspected,
    /// "På sannolika skäl misstänkt".
    ProbableCause,
}

impl Suspicion {
    pub const ALL: [Suspicion; 3] = [
        Suspicion::Suspected,
        Suspicion::ReasonablySuspected,
        Suspicion::ProbableCause,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Suspicion::Suspected => "suspected",
            Suspicion::ReasonablySuspected => "reasonably_suspected",
            Suspicion::ProbableCause => "probable_cause",
        }
    }

    pub fn parse(s: &str) -> Option<Suspicion> {
        Suspicion::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Whom a victim search is for (AI Act art. 5(1)(h)(i)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VictimCategory {
    Abduction,
    TraffickingInHumanBeings,
    SexualExploitation,
    MissingPerson,
}

impl VictimCategory {
    pub const ALL: [VictimCategory; 4] = [
        VictimCategory::Abduction,
        VictimCategory::TraffickingInHumanBeings,
        VictimCategory::SexualExploitation,
        VictimCategory::MissingPerson,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VictimCategory::Abduction => "abduction",
            VictimCategory::TraffickingInHumanBeings => "trafficking_in_human_beings",
            VictimCategory::SexualExploitation => "sexual_exploitation",
            VictimCategory::MissingPerson => "missing_person",
        }
    }

    pub fn parse(s: &str) -> Option<VictimCategory> {
        VictimCategory::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// What an imminent threat threatens (AI Act art. 5(1)(h)(ii)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ThreatKind {
    Life,
    PhysicalSafety,
    /// A genuine and present or foreseeable threat of a terrorist attack.
    TerroristAttack,
}

impl ThreatKind {
    pub const ALL: [ThreatKind; 3] = [
        ThreatKind::Life,
        ThreatKind::PhysicalSafety,
        ThreatKind::TerroristAttack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ThreatKind::Life => "life",
            ThreatKind::PhysicalSafety => "physical_safety",
            ThreatKind::TerroristAttack => "terrorist_attack",
        }
    }

    pub fn parse(s: &str) -> Option<ThreatKind> {
        ThreatKind::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The threat an imminent-threat search is to prevent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Threat {
    pub kind: ThreatKind,
    /// Why it is specific, substantial and imminent (or, for terrorism, genuine and present or
    /// foreseeable). Free text: sealed with the permit's other text.
    #[schema(max_length = 4000)]
    pub imminence: String,
}

/// The judgment a sentence-enforcement search enforces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Judgment {
    #[schema(example = "Stockholms tingsrätt", max_length = 100)]
    pub court: String,
    /// The court's case number. Sealed with the permit's text: with the court it finds the person.
    #[schema(example = "B 1234-26", max_length = 40)]
    pub case_number: String,
    /// When the judgment gained legal force (laga kraft).
    pub legal_force: Timestamp,
}

/// The longest free text of a ground (the threat's imminence), in characters.
pub const MAX_GROUND_TEXT: usize = 4_000;
/// The longest court name, in characters.
pub const MAX_COURT: usize = 100;

/// The catalogue entry `code` names in `catalogue`.
pub fn find(catalogue: &[CatalogueOffence], code: &str) -> Option<CatalogueOffence> {
    catalogue.iter().copied().find(|o| o.code == code)
}

/// Fill an offence from the catalogue entry its code names (what a client sent for description,
/// scale and category is replaced), and record who confirms a typed offence: its drafter when a
/// prosecutor, nobody otherwise. A client never sets the confirmation.
pub fn resolve_offence(
    offence: &mut Offence,
    catalogue: &[CatalogueOffence],
    drafter_is_prosecutor: Option<&str>,
) -> Result<(), Refusal> {
    offence.confirmed_by = None;
    // An empty code is no code: the offence is described by hand.
    offence.code = offence
        .code
        .take()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    match offence.code.as_deref() {
        Some(code) => {
            let Some(entry) = find(catalogue, code) else {
                return Err(rule::OFFENCE_CATALOGUE.refusal(format!(
                    "offence code {code:?} is not in the jurisdiction's catalogue: choose one of {}, or describe the offence and have a prosecutor confirm it",
                    catalogue.iter().map(|o| o.code).collect::<Vec<_>>().join(", ")
                )));
            };
            offence.code = Some(entry.code.to_string());
            offence.description = entry.description();
            offence.max_penalty_years = entry.max_penalty_years;
            offence.annex_ii = Some(entry.annex_ii);
        }
        None => offence.confirmed_by = drafter_is_prosecutor.map(str::to_string),
    }
    Ok(())
}

/// The grounds' free text within its bounds, checked when drafting: what is stored must be what
/// the API document allows (the rest waits for filing, so a draft can be completed step by step).
pub fn check_bounds(threat: Option<&Threat>, judgment: Option<&Judgment>) -> Result<(), Refusal> {
    if threat.is_some_and(|t| t.imminence.chars().count() > MAX_GROUND_TEXT) {
        return Err(rule::THREAT_RECORD.refusal(format!(
            "the threat's imminence is longer than {MAX_GROUND_TEXT} characters: state it briefly"
        )));
    }
    if judgment.is_some_and(|j| {
        j.court.chars().count() > MAX_COURT
            || j.case_number.chars().count() > crate::permit::MAX_CASE_NUMBER
    }) {
        return Err(rule::JUDGMENT_RECORD.refusal(format!(
            "the judgment's court is longer than {MAX_COURT} characters or its case number than {}",
            crate::permit::MAX_CASE_NUMBER
        )));
    }
    Ok(())
}

/// Every rule the grounds of an application break, for `purpose`.
pub(crate) fn check(
    purpose: Purpose,
    offence: Option<&Offence>,
    victim: Option<VictimCategory>,
    threat: Option<&Threat>,
    judgment: Option<&Judgment>,
    period_start: Timestamp,
    catalogue: &[CatalogueOffence],
) -> Vec<Refusal> {
    let mut out = Vec::new();
    if let Some(o) = offence {
        match o.code.as_deref() {
            Some(code) => match find(catalogue, code) {
                // Drafting filled these from the entry: a stored document that disagrees was
                // edited after.
                Some(e)
                    if o.description == e.description()
                        && o.max_penalty_years == e.max_penalty_years
                        && o.annex_ii == Some(e.annex_ii) => {}
                Some(_) => out.push(rule::OFFENCE_CATALOGUE.refusal(format!(
                    "the offence differs from catalogue entry {code}: draft the application again"
                ))),
                None => out.push(rule::OFFENCE_CATALOGUE.refusal(format!(
                    "offence code {code:?} is not in the jurisdiction's catalogue"
                ))),
            },
            None => {
                if o.annex_ii.is_none() {
                    out.push(rule::OFFENCE_CATALOGUE.refusal(
                        "an offence described by hand names its Annex II category".into(),
                    ));
                }
                if o.confirmed_by.is_none() {
                    out.push(rule::OFFENCE_CATALOGUE.refusal(
                        "the offence is described by hand, not chosen from the catalogue: a prosecutor confirms it before the application is filed".into(),
                    ));
                }
            }
        }
    }
    if purpose != Purpose::SuspectLocation && offence.is_some_and(|o| o.suspicion.is_some()) {
        out.push(rule::SUSPICION.refusal(format!(
            "the degree of suspicion belongs to a suspect_location application only, not a {} one",
            purpose.as_str()
        )));
    }
    if purpose == Purpose::SuspectLocation && offence.is_some_and(|o| o.suspicion.is_none()) {
        out.push(
            rule::SUSPICION.refusal(
                "state the degree of suspicion: suspected, reasonably_suspected or probable_cause"
                    .into(),
            ),
        );
    }
    // A ground of another purpose would be shown to the decider and counted as if it applied.
    for (given, belongs, r, what) in [
        (
            victim.is_some(),
            Purpose::VictimSearch,
            rule::VICTIM_CATEGORY,
            "a victim category",
        ),
        (
            threat.is_some(),
            Purpose::ImminentThreat,
            rule::THREAT_RECORD,
            "a threat",
        ),
        (
            judgment.is_some(),
            Purpose::SentenceEnforcement,
            rule::JUDGMENT_RECORD,
            "a judgment",
        ),
    ] {
        if given && purpose != belongs {
            out.push(r.refusal(format!(
                "{what} belongs to a {} application only, not a {} one",
                belongs.as_str(),
                purpose.as_str()
            )));
        }
    }
    if purpose == Purpose::VictimSearch && victim.is_none() {
        out.push(rule::VICTIM_CATEGORY.refusal(
            "a victim search states whom it is for: abduction, trafficking_in_human_beings, sexual_exploitation or missing_person".into(),
        ));
    }
    if purpose == Purpose::ImminentThreat {
        match threat {
            None => out.push(rule::THREAT_RECORD.refusal(
                "an imminent-threat search states what is threatened (life, physical_safety or terrorist_attack) and why it is imminent".into(),
            )),
            Some(t) if t.imminence.trim().is_empty() => out.push(rule::THREAT_RECORD.refusal(
                "state why the threat is imminent (or, for a terrorist attack, genuine and present or foreseeable)".into(),
            )),
            Some(t) if t.imminence.chars().count() > MAX_GROUND_TEXT => {
                out.push(rule::THREAT_RECORD.refusal(format!(
                    "the threat's imminence is longer than {MAX_GROUND_TEXT} characters: state it briefly"
                )))
            }
            Some(_) => {}
        }
    }
    if purpose == Purpose::SentenceEnforcement {
        match judgment {
            None => out.push(rule::JUDGMENT_RECORD.refusal(
                "a sentence-enforcement search names the judgment: court, case number and date of legal force".into(),
            )),
            Some(j) => {
                let court = j.court.trim();
                if court.is_empty() || court.chars().count() > MAX_COURT {
                    out.push(rule::JUDGMENT_RECORD.refusal(format!(
                        "name the court that gave the judgment, in at most {MAX_COURT} characters"
                    )));
                }
                if let Err(why) = crate::permit::check_case_number(&j.case_number) {
                    out.push(
                        rule::JUDGMENT_RECORD
                            .refusal(format!("the judgment's case number {why}")),
                    );
                }
                if j.legal_force > period_start {
                    out.push(rule::JUDGMENT_RECORD.refusal(format!(
                        "the judgment gained legal force {}, after the period starts ({period_start}): only a judgment in force is enforced",
                        j.legal_force
                    )));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_holds_only_offences_that_can_ground_a_permit() {
        let mut codes: Vec<_> = SWEDISH_OFFENCES.iter().map(|o| o.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), SWEDISH_OFFENCES.len(), "codes are unique");
        for o in SWEDISH_OFFENCES {
            assert!(o.max_penalty_years >= 4, "{o:?}");
            assert!(!o.life || o.max_penalty_years == 18, "{o:?}");
            assert!(
                o.code
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{o:?}"
            );
        }
    }

    #[test]
    fn a_code_fills_the_offence_and_a_typed_one_waits_for_a_prosecutor() {
        let mut o = Offence {
            code: Some(" brb-3-1 ".into()),
            description: "anything the client says".into(),
            annex_ii: Some(AnnexII::Sabotage),
            max_penalty_years: 2,
            stage: crate::permit::Stage::Attempt,
            suspicion: Some(Suspicion::ReasonablySuspected),
            confirmed_by: Some("forged".into()),
        };
        resolve_offence(&mut o, SWEDISH_OFFENCES, None).unwrap();
        assert_eq!(o.code.as_deref(), Some("brb-3-1"));
        assert_eq!(o.description, "mord (BrB 3 kap. 1 §)");
        assert_eq!(
            (o.max_penalty_years, o.annex_ii),
            (18, Some(AnnexII::Murder))
        );
        assert_eq!(o.confirmed_by, None);
        let t0 = Timestamp(0);
        let check1 = |o: &Offence| {
            check(
                Purpose::SuspectLocation,
                Some(o),
                None,
                None,
                None,
                t0,
                SWEDISH_OFFENCES,
            )
        };
        assert!(check1(&o).is_empty());
        // A stored document edited after drafting no longer matches its entry.
        let mut edited = o.clone();
        edited.max_penalty_years = 99;
        assert_eq!(check1(&edited)[0].code, "offence_catalogue");
        let mut unknown = o.clone();
        unknown.code = Some("brb-99-1".into());
        assert_eq!(
            resolve_offence(&mut unknown, SWEDISH_OFFENCES, None)
                .unwrap_err()
                .code,
            "offence_catalogue"
        );
        // Typed by the police: not confirmed. Typed by a prosecutor: confirmed by them.
        let mut typed = o.clone();
        typed.code = None;
        resolve_offence(&mut typed, SWEDISH_OFFENCES, None).unwrap();
        assert_eq!(check1(&typed)[0].code, "offence_catalogue");
        resolve_offence(&mut typed, SWEDISH_OFFENCES, Some("pros-1")).unwrap();
        assert_eq!(typed.confirmed_by.as_deref(), Some("pros-1"));
        assert!(check1(&typed).is_empty());
        typed.suspicion = None;
        assert_eq!(check1(&typed)[0].code, "suspicion_degree");
    }

    /// The example the README drafts from chooses its offence from the catalogue.
    #[test]
    fn the_documented_example_uses_the_catalogue() {
        let a: crate::Application =
            serde_json::from_str(include_str!("../../../docs/application.example.json")).unwrap();
        let police = crate::Actor::new("officer", &[crate::Role::Applicant]);
        let p = crate::Permit::draft("p".into(), &crate::SWEDEN, a, &police, Timestamp(0)).unwrap();
        let a = &p.application;
        let o = a.offence.as_ref().unwrap();
        assert_eq!(o.description, "människorov (BrB 4 kap. 1 §)");
        assert_eq!(o.annex_ii, Some(AnnexII::KidnappingOrHostageTaking));
        assert_eq!(a.victim, Some(VictimCategory::Abduction));
        assert!(
            a.check(&crate::SWEDEN).is_empty(),
            "{:?}",
            a.check(&crate::SWEDEN)
        );
    }

    #[test]
    fn each_purpose_records_its_own_ground() {
        let t0 = Timestamp(1_000_000);
        let codes = |p, v, t: Option<&Threat>, j: Option<&Judgment>| -> Vec<String> {
            check(p, None, v, t, j, t0, SWEDISH_OFFENCES)
                .into_iter()
                .map(|r| r.code)
                .collect()
        };
        assert_eq!(
            codes(Purpose::VictimSearch, None, None, None),
            ["victim_category"]
        );
        assert!(
            codes(
                Purpose::VictimSearch,
                Some(VictimCategory::MissingPerson),
                None,
                None
            )
            .is_empty()
        );
        assert_eq!(
            codes(Purpose::ImminentThreat, None, None, None),
            ["threat_record"]
        );
        let mut threat = Threat {
            kind: ThreatKind::TerroristAttack,
            imminence: "  ".into(),
        };
        assert_eq!(
            codes(Purpose::ImminentThreat, None, Some(&threat), None),
            ["threat_record"]
        );
        threat.imminence = "x".repeat(MAX_GROUND_TEXT + 1);
        assert_eq!(
            codes(Purpose::ImminentThreat, None, Some(&threat), None),
            ["threat_record"]
        );
        // Not even stored as a draft: the API document bounds it.
        assert_eq!(
            check_bounds(Some(&threat), None).unwrap_err().code,
            "threat_record"
        );
        threat.imminence = "a named attack planned for tonight".into();
        assert!(codes(Purpose::ImminentThreat, None, Some(&threat), None).is_empty());
        assert_eq!(
            codes(Purpose::SentenceEnforcement, None, None, None),
            ["judgment_record"]
        );
        let mut j = Judgment {
            court: "Stockholms tingsrätt".into(),
            case_number: "B 1234-26".into(),
            legal_force: Timestamp(t0.0 - 1),
        };
        assert!(codes(Purpose::SentenceEnforcement, None, None, Some(&j)).is_empty());
        assert!(check_bounds(None, Some(&j)).is_ok());
        let mut long = j.clone();
        long.court = "x".repeat(MAX_COURT + 1);
        assert_eq!(
            check_bounds(None, Some(&long)).unwrap_err().code,
            "judgment_record"
        );
        // Not yet in force, no court, a sentence for a case number: each refused.
        j.legal_force = Timestamp(t0.0 + 1);
        j.court = " ".into();
        j.case_number = "the man from Solna".into();
        assert_eq!(
            codes(Purpose::SentenceEnforcement, None, None, Some(&j)),
            ["judgment_record"; 3]
        );
        // Grounds of other purposes are not asked for, and not taken.
        assert!(codes(Purpose::SuspectLocation, None, None, None).is_empty());
        j.court = "Solna tingsrätt".into();
        j.case_number = "B 1-26".into();
        j.legal_force = t0;
        assert_eq!(
            codes(
                Purpose::SuspectLocation,
                Some(VictimCategory::Abduction),
                Some(&threat),
                Some(&j)
            ),
            ["victim_category", "threat_record", "judgment_record"]
        );
    }
}
