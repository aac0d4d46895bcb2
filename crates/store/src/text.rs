//! A permit's free text, sealed under the permit's data key.
//!
//! Labels, photo sources, the offence description and every reason are what an applicant or a
//! decider wrote by hand, and may say who a person is. They are taken out of the permit's
//! document before it is stored and sealed under the data key, so the purge that shreds the key
//! shreds them too, and a database backup older than a key rotation cannot read them.

use std::collections::BTreeMap;

use mandat_law::Permit;
use serde::{Deserialize, Serialize};

/// What a purge leaves in every free-text field.
pub(crate) const PURGED: &str = "[purged]";
/// What a listing shows for text it cannot decrypt (the reason is logged).
pub(crate) const UNREADABLE: &str = "[cannot be decrypted]";

/// By position, not by id: the document and its sealed text are always written together from one
/// permit (the MAC binds them), and ids from before the server gave them may repeat.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct PermitText {
    /// Each person's label.
    labels: Vec<String>,
    /// Each person's photo sources.
    sources: Vec<Vec<String>>,
    offence: Option<String>,
    necessity: String,
    proportionality: String,
    fria_ref: String,
    eu_db_ref: String,
    decision: Option<String>,
    stop: Option<String>,
    hold: Option<String>,
    /// By amendment number: the request's reasons and the decision's.
    #[serde(default)]
    amendments: BTreeMap<u32, (String, Option<String>)>,
    /// Why use started before a decision.
    #[serde(default)]
    urgent: Option<String>,
    /// Why a threat is imminent.
    #[serde(default)]
    threat: Option<String>,
    /// The court and case number of the judgment enforced: together they find the person.
    #[serde(default)]
    judgment: Option<(String, String)>,
    /// The public counsel's opinion.
    #[serde(default)]
    opinion: Option<String>,
    /// The hearing: who was present, and its outcome.
    #[serde(default)]
    hearing: Option<(String, String)>,
    /// The appeal's grounds, and the higher instance's reasons.
    #[serde(default)]
    appeal: Option<(String, Option<String>)>,
}

impl PermitText {
    /// Move every free-text field out of `p`, leaving each empty.
    pub(crate) fn take(p: &mut Permit) -> Self {
        let a = &mut p.application;
        let mut t = PermitText::default();
        for person in a.persons.iter_mut() {
            t.labels.push(std::mem::take(&mut person.label));
            t.sources.push(
                person
                    .photos
                    .iter_mut()
                    .map(|photo| std::mem::take(&mut photo.source))
                    .collect(),
            );
        }
        t.offence = a
            .offence
            .as_mut()
            .map(|o| std::mem::take(&mut o.description));
        t.threat = a.threat.as_mut().map(|x| std::mem::take(&mut x.imminence));
        t.judgment = a.judgment.as_mut().map(|j| {
            (
                std::mem::take(&mut j.court),
                std::mem::take(&mut j.case_number),
            )
        });
        let r = &mut a.reasons;
        t.necessity = std::mem::take(&mut r.necessity);
        t.proportionality = std::mem::take(&mut r.proportionality);
        t.fria_ref = std::mem::take(&mut r.fria_ref);
        t.eu_db_ref = std::mem::take(&mut r.eu_db_ref);
        t.decision = p.decision.as_mut().map(|d| std::mem::take(&mut d.reasons));
        t.stop = p.stop.as_mut().map(|s| std::mem::take(&mut s.reason));
        t.hold = p.hold.as_mut().map(|h| std::mem::take(&mut h.reason));
        t.urgent = p.urgent.as_mut().map(|u| std::mem::take(&mut u.ground));
        for a in p.amendments.iter_mut() {
            let decided = a.decision.as_mut().map(|d| std::mem::take(&mut d.reasons));
            t.amendments
                .insert(a.number, (std::mem::take(&mut a.reasons), decided));
        }
        t.opinion = p
            .counsel
            .as_mut()
            .and_then(|c| c.opinion.as_mut())
            .map(|o| std::mem::take(&mut o.text));
        t.hearing = p.hearing.as_mut().map(|h| {
            (
                std::mem::take(&mut h.present),
                std::mem::take(&mut h.outcome),
            )
        });
        t.appeal = p.appeal.as_mut().map(|a| {
            let decided = a.decision.as_mut().map(|d| std::mem::take(&mut d.reasons));
            (std::mem::take(&mut a.grounds), decided)
        });
        t
    }

    /// Put the text back into the permit it was taken from.
    pub(crate) fn put(mut self, p: &mut Permit) {
        let a = &mut p.application;
        let mut sources = self.sources.into_iter();
        for (person, label) in a.persons.iter_mut().zip(self.labels) {
            person.label = label;
            for (photo, source) in person
                .photos
                .iter_mut()
                .zip(sources.next().unwrap_or_default())
            {
                photo.source = source;
            }
        }
        if let (Some(o), Some(text)) = (a.offence.as_mut(), self.offence) {
            o.description = text;
        }
        if let (Some(x), Some(text)) = (a.threat.as_mut(), self.threat) {
            x.imminence = text;
        }
        if let (Some(j), Some((court, case))) = (a.judgment.as_mut(), self.judgment) {
            (j.court, j.case_number) = (court, case);
        }
        a.reasons.necessity = self.necessity;
        a.reasons.proportionality = self.proportionality;
        a.reasons.fria_ref = self.fria_ref;
        a.reasons.eu_db_ref = self.eu_db_ref;
        if let (Some(d), Some(text)) = (p.decision.as_mut(), self.decision) {
            d.reasons = text;
        }
        if let (Some(s), Some(text)) = (p.stop.as_mut(), self.stop) {
            s.reason = text;
        }
        if let (Some(h), Some(text)) = (p.hold.as_mut(), self.hold) {
            h.reason = text;
        }
        if let (Some(u), Some(text)) = (p.urgent.as_mut(), self.urgent) {
            u.ground = text;
        }
        for a in p.amendments.iter_mut() {
            if let Some((asked, decided)) = self.amendments.remove(&a.number) {
                a.reasons = asked;
                if let (Some(d), Some(text)) = (a.decision.as_mut(), decided) {
                    d.reasons = text;
                }
            }
        }
        if let (Some(o), Some(text)) = (
            p.counsel.as_mut().and_then(|c| c.opinion.as_mut()),
            self.opinion,
        ) {
            o.text = text;
        }
        if let (Some(h), Some((present, outcome))) = (p.hearing.as_mut(), self.hearing) {
            (h.present, h.outcome) = (present, outcome);
        }
        if let (Some(a), Some((grounds, decided))) = (p.appeal.as_mut(), self.appeal) {
            a.grounds = grounds;
            if let (Some(d), Some(text)) = (a.decision.as_mut(), decided) {
                d.reasons = text;
            }
        }
    }

    /// Every free-text field of `p` set to `marker`: what a purge leaves.
    pub(crate) fn mark(p: &mut Permit, marker: &str) {
        let mut t = PermitText::take(p);
        let fill = |s: &mut String| *s = marker.to_string();
        t.labels.iter_mut().for_each(fill);
        t.sources.iter_mut().flatten().for_each(fill);
        for s in [
            &mut t.necessity,
            &mut t.proportionality,
            &mut t.fria_ref,
            &mut t.eu_db_ref,
        ] {
            fill(s);
        }
        for s in [
            &mut t.offence,
            &mut t.decision,
            &mut t.stop,
            &mut t.hold,
            &mut t.urgent,
            &mut t.threat,
            &mut t.opinion,
        ]
        .into_iter()
        .flatten()
        {
            fill(s);
        }
        for (a, b) in t.judgment.iter_mut().chain(t.hearing.iter_mut()) {
            fill(a);
            fill(b);
        }
        if let Some((grounds, decided)) = t.appeal.as_mut() {
            fill(grounds);
            decided.iter_mut().for_each(fill);
        }
        for (asked, decided) in t.amendments.values_mut() {
            fill(asked);
            decided.iter_mut().for_each(fill);
        }
        t.put(p);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use mandat_law::amendment::{Amendment, AmendmentDecision};
    use mandat_law::appeal::{
        Appeal, AppealDecision, AppealOutcome, Counsel, Hearing, Opinion, Party, Position,
    };
    use mandat_law::lifecycle::{Decision, Outcome, Stop, Urgent};
    use mandat_law::{Actor, Authority, Role, SWEDEN, Timestamp};

    pub(crate) const TEXT: [&str; 18] = [
        "counsel thinks it too wide",
        "present: the prosecutor",
        "the hearing found",
        "appealed because",
        "overturned because",
        "Solna tingsrätt",
        "an attack planned for tonight",
        "B 9876-26",
        "she moved north",
        "she is in danger now",
        "the court agrees",
        "Person One",
        "passport register",
        "mord (BrB 3:1)",
        "necessary because",
        "FRIA-7",
        "granted because",
        "the person was found",
    ];

    /// A permit with text in every free-text field.
    pub(crate) fn permit() -> Permit {
        let application = serde_json::from_value(serde_json::json!({
            "agency": "polismyndigheten",
            "purpose": "suspect_location",
            "case_number": "5000-K123456-26",
            "offence": {"description": "mord (BrB 3:1)", "annex_ii": "murder",
                        "max_penalty_years": 18, "stage": "completed"},
            "persons": [{"id": "P-1", "label": "Person One",
                         "photos": [{"id": "ph-1", "source": "passport register"}]}],
            "area": {"cameras": ["cam-1"], "polygon": null},
            "period": {"start": 0, "end": 1000},
            "reasons": {"necessity": "necessary because", "proportionality": "p",
                        "fria_ref": "FRIA-7", "eu_db_ref": "EU-1"},
            "threat": {"kind": "life", "imminence": "an attack planned for tonight"},
            "judgment": {"court": "Solna tingsrätt", "case_number": "B 9876-26", "legal_force": 0},
            "threshold": 0.4
        }))
        .unwrap();
        let officer = Actor::new("officer", &[Role::Applicant]);
        let mut p =
            Permit::draft("P-x".into(), &SWEDEN, application, &officer, Timestamp(0)).unwrap();
        p.decision = Some(Decision {
            by: "judge".into(),
            authority: Authority::Court,
            at: Timestamp(1),
            reasons: "granted because".into(),
            outcome: Outcome::Grant,
            narrowed: None,
        });
        p.urgent = Some(Urgent {
            started_at: Timestamp(0),
            started_by: "officer".into(),
            deadline: Timestamp(24),
            ground: "she is in danger now".into(),
        });
        p.stop = Some(Stop {
            at: Timestamp(2),
            by: Some("officer".into()),
            reason: "the person was found".into(),
        });
        p.counsel = Some(Counsel {
            user: "counsel".into(),
            appointed_by: "judge".into(),
            at: Timestamp(1),
            opinion: Some(Opinion {
                position: Position::Opposes,
                text: "counsel thinks it too wide".into(),
                at: Timestamp(1),
            }),
        });
        p.hearing = Some(Hearing {
            held_at: Timestamp(1),
            present: "present: the prosecutor".into(),
            outcome: "the hearing found".into(),
            by: "judge".into(),
            at: Timestamp(1),
        });
        p.appeal = Some(Appeal {
            by: "counsel".into(),
            party: Party::Counsel,
            at: Timestamp(2),
            grounds: "appealed because".into(),
            to: "higher".into(),
            decision: Some(AppealDecision {
                by: "higher".into(),
                at: Timestamp(3),
                outcome: AppealOutcome::Overturned,
                reasons: "overturned because".into(),
            }),
        });
        p.amendments.push(Amendment {
            number: 1,
            cameras: vec!["cam-2".into()],
            reasons: "she moved north".into(),
            filed_by: "officer".into(),
            filed_at: Timestamp(1),
            decision: Some(AmendmentDecision {
                by: "judge".into(),
                authority: Authority::Court,
                at: Timestamp(1),
                outcome: Outcome::Grant,
                reasons: "the court agrees".into(),
            }),
        });
        p
    }

    #[test]
    fn take_leaves_no_text_put_restores_it_and_mark_replaces_it() {
        let original = permit();
        let mut p = original.clone();
        let text = PermitText::take(&mut p);
        let doc = serde_json::to_string(&p).unwrap();
        for s in TEXT {
            assert!(!doc.contains(s), "{s} left in {doc}");
        }
        text.put(&mut p);
        assert_eq!(p, original);
        // Ids from before the server gave them may repeat: the text goes back by position.
        let mut twins = original.clone();
        let mut second = twins.application.persons[0].clone();
        second.label = "Person Two".into();
        twins.application.persons.push(second);
        let mut p2 = twins.clone();
        PermitText::take(&mut p2).put(&mut p2);
        assert_eq!(p2, twins);
        PermitText::mark(&mut p, PURGED);
        let doc = serde_json::to_string(&p).unwrap();
        for s in TEXT {
            assert!(!doc.contains(s), "{s} left in {doc}");
        }
        assert_eq!(p.application.persons[0].label, PURGED);
        assert_eq!(p.stop.unwrap().reason, PURGED);
    }
}
