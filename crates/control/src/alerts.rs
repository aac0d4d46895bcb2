//! Alerts through the control plane: the engine raises them through an [`AlertSink`], reviewers
//! decide them under the two-person rule, and live clients follow [`AlertEvent`]s. Events carry ids
//! and numbers only, never images.

use crate::Session;
use mandat_law::review::{AlertState, Verdict};
use mandat_law::{Actor, Permit, Role, rule};
use mandat_store::StoreError;
use mandat_store::alerts::{AlertRecord, NewAlert};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{Control, ControlError, Result, require};
use mandat_law::permissions::Action;

/// The engine's other door: where candidate alerts go. Synchronous, so engine threads can call it.
pub trait AlertSink: Send + Sync {
    fn raise(&self, alert: NewAlert);
}

/// An [`AlertSink`] that hands alerts to the control plane's async side. It blocks the caller when
/// the queue is full rather than lose an alert.
pub struct ChannelSink(pub tokio::sync::mpsc::Sender<NewAlert>);

impl AlertSink for ChannelSink {
    fn raise(&self, alert: NewAlert) {
        if self.0.blocking_send(alert).is_err() {
            tracing::error!("alert queue closed: the control plane has stopped");
        }
    }
}

/// What live clients (SSE, `mandat alerts watch`) see of an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertEvent {
    pub id: String,
    pub permit: String,
    pub person: String,
    pub camera: String,
    pub captured_at: i64,
    pub created_at: i64,
    pub score: f32,
    pub threshold: f32,
    pub state: AlertState,
    /// Further sightings folded into the candidate, and the last one's capture time.
    pub sightings: u64,
    pub last_seen_at: Option<i64>,
}

impl AlertEvent {
    pub fn from_record(a: &AlertRecord) -> Self {
        Self {
            id: a.id.clone(),
            permit: a.permit.clone(),
            person: a.person.clone(),
            camera: a.camera.clone(),
            captured_at: a.captured_at.0,
            created_at: a.created_at.0,
            score: a.score,
            threshold: a.threshold,
            state: a.state,
            sightings: a.sightings,
            last_seen_at: a.last_seen_at.map(|t| t.0),
        }
    }
}

/// While an alert awaits its reviewers, nobody sees another reviewer's verdict: each decides blind.
fn blind(actor: &Actor, mut a: AlertRecord) -> AlertRecord {
    if a.state == AlertState::Candidate {
        a.reviews.retain(|r| r.reviewer == actor.user);
    }
    a
}

/// Counts for monitoring: alerts by state and how long reviews took. Numbers only, no ids.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertStatistics {
    pub by_state: std::collections::BTreeMap<&'static str, u64>,
    /// Seconds from an alert to its last review, summed over decided alerts.
    pub review_latency_sum_s: f64,
    /// How many decided alerts that sum covers.
    pub reviewed: u64,
}

/// Who sees a permit's face images: its applicant, its reviewers and its decider, each as such
/// on the team.
const BIOMETRIC_ROLES: &[Role] = &[
    Role::Applicant,
    Role::Reviewer,
    Role::Prosecutor,
    Role::Judge,
];

impl Control {
    /// Monitoring counts over every stored alert, from one aggregate query.
    pub async fn alert_statistics(&self) -> Result<AlertStatistics> {
        let mut out = AlertStatistics::default();
        for st in [
            AlertState::Candidate,
            AlertState::Verified,
            AlertState::Rejected,
            AlertState::Expired,
        ] {
            out.by_state.insert(st.as_str(), 0);
        }
        for (state, n, latency_ms, decided) in self.store.alert_counts().await? {
            *out.by_state.entry(state.as_str()).or_default() += n.max(0) as u64;
            out.review_latency_sum_s += latency_ms.max(0) as f64 / 1000.0;
            out.reviewed += decided.max(0) as u64;
        }
        Ok(out)
    }

    /// Store a candidate alert from the engine and tell live clients; the event is of the
    /// candidate the hit is stored under, which is an earlier one when the hit was folded into it
    /// as a further sighting. The same hit sent again (a retry) is acknowledged with the stored
    /// alert and told to nobody twice; another hit under a used id is refused as a conflict.
    pub async fn raise_alert(&self, alert: NewAlert) -> Result<AlertEvent> {
        let now = self.now()?;
        let intake = self.store.insert_alert(&alert, now).await?;
        let rec = self.store.alert(&intake.alert).await?;
        let ev = AlertEvent::from_record(&rec);
        // A retry of a stored hit is acknowledged, and reviewers are not told of it twice.
        if intake.new {
            let _ = self.events.send(ev.clone());
        }
        Ok(ev)
    }

    /// Live alert events (new alerts and changes of state).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<AlertEvent> {
        self.events.subscribe()
    }

    /// Alerts of the permits the actor may know of, newest first; the read, with the ids it
    /// gave, is recorded.
    pub async fn alerts(
        &self,
        actor: &Session,
        after: i64,
        limit: i64,
        origin: &str,
    ) -> Result<Vec<AlertRecord>> {
        require(actor, Action::ReadAlerts)?;
        let mine: std::collections::HashSet<String> = self
            .known_permits(actor)
            .await?
            .into_iter()
            .filter(|p| crate::knows_alerts(actor, p))
            .map(|p| p.id)
            .collect();
        let list: Vec<AlertRecord> = self
            .store
            .alerts(after, limit)
            .await?
            .into_iter()
            .filter(|a| mine.contains(&a.permit))
            .map(|a| blind(actor, a))
            .collect();
        let ids: Vec<&str> = list.iter().map(|a| a.id.as_str()).collect();
        self.record_read(actor, "read.alerts", None, json!({ "ids": ids }), origin)
            .await?;
        Ok(list)
    }

    /// An alert of a permit the actor may know of, and that permit; any other answers as one
    /// that does not exist.
    async fn visible_alert(&self, actor: &Session, id: &str) -> Result<(AlertRecord, Permit)> {
        let a = self.store.alert(id).await?;
        match self.store.permit(&a.permit).await {
            Ok(p) if crate::knows_alerts(actor, &p) => Ok((a, p)),
            _ => Err(ControlError::Store(StoreError::NotFound(format!(
                "no alert {id}"
            )))),
        }
    }

    /// The alert `id`, for someone who works on its permit in one of `roles` (knowing the permit
    /// is not enough: an operator on the team does not review there, an auditor sees no image).
    pub(crate) async fn alert_as(
        &self,
        actor: &Session,
        id: &str,
        roles: &[Role],
        what: &str,
    ) -> Result<AlertRecord> {
        let (a, p) = self.visible_alert(actor, id).await?;
        if roles.iter().any(|r| p.acts_as(actor, *r)) {
            Ok(a)
        } else {
            Err(ControlError::Law(rule::TEAM.refusal(format!(
                "{} does not {what} on permit {}: it needs its applicant, or a {} on its team",
                actor.user,
                p.id,
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ))))
        }
    }

    /// Whether a live event may go to this actor: the roles that read alerts, and only for the
    /// permits they may know of (their team's, within their agency).
    pub async fn sees_event(&self, actor: &Session, ev: &AlertEvent) -> bool {
        mandat_law::permissions::may(actor, Action::ReadAlerts)
            && self
                .store
                .permit(&ev.permit)
                .await
                .is_ok_and(|p| crate::knows_alerts(actor, &p))
    }

    /// One alert; the read is recorded.
    pub async fn alert(&self, actor: &Session, id: &str, origin: &str) -> Result<AlertRecord> {
        require(actor, Action::ReadAlerts)?;
        let a = blind(actor, self.visible_alert(actor, id).await?.0);
        self.record_read(
            actor,
            "read.alert",
            Some(&a.permit),
            json!({ "alert": a.id }),
            origin,
        )
        .await?;
        Ok(a)
    }

    /// The probe crop and frame of an alert, for roles that may see biometric data; every viewing is
    /// logged.
    pub async fn alert_media(
        &self,
        actor: &Session,
        id: &str,
        origin: &str,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        require(actor, Action::SeeBiometrics)?;
        let a = self
            .alert_as(actor, id, BIOMETRIC_ROLES, "see the images")
            .await?;
        let media = self.store.alert_media(id).await?;
        self.store
            .record(mandat_audit::Record {
                at: self.now()?.0,
                actor: actor.user.clone(),
                action: "alert.view_media".into(),
                permit: Some(a.permit),
                origin: origin.into(),
                details: json!({"alert": id}),
            })
            .await?;
        Ok(media)
    }

    /// The enrolled reference photo of the alert's person, shown beside the probe crop to reviewers;
    /// same roles as [`Control::alert_media`], and every viewing is logged.
    pub async fn alert_reference(
        &self,
        actor: &Session,
        id: &str,
        origin: &str,
    ) -> Result<Vec<u8>> {
        require(actor, Action::SeeBiometrics)?;
        let a = self
            .alert_as(actor, id, BIOMETRIC_ROLES, "see the images")
            .await?;
        let photo = self.store.reference_photo(&a.permit, &a.person).await?;
        self.store
            .record(mandat_audit::Record {
                at: self.now()?.0,
                actor: actor.user.clone(),
                action: "alert.view_reference".into(),
                permit: Some(a.permit),
                origin: origin.into(),
                details: json!({"alert": id}),
            })
            .await?;
        Ok(photo)
    }

    pub async fn review(
        &self,
        actor: &Session,
        id: &str,
        verdict: Verdict,
        reason: &str,
        origin: &str,
    ) -> Result<AlertRecord> {
        // Who before what: a refused role learns nothing about which alerts exist.
        require(actor, Action::ReviewAlert)?;
        self.alert_as(actor, id, &[Role::Reviewer], "review")
            .await?;
        let now = self.now()?;
        let a = self
            .store
            .review_alert(actor, id, verdict, reason, now, origin)
            .await?;
        // A rejected face is a passer-by's: its images go at the rejection, not at the next tick.
        // The review stands either way; a failed erasure is logged and the next tick retries.
        if a.state == AlertState::Rejected {
            self.retain(std::slice::from_ref(&a.permit), now, origin)
                .await;
        }
        let _ = self.events.send(AlertEvent::from_record(&a));
        Ok(blind(actor, a))
    }

    /// Act on a hit (dispatch a unit). Only operators, and only once two reviewers verified it.
    pub async fn dispatch(
        &self,
        actor: &Session,
        id: &str,
        note: &str,
        origin: &str,
    ) -> Result<()> {
        require(actor, Action::Dispatch)?;
        let a = self
            .alert_as(actor, id, &[Role::Operator], "dispatch")
            .await?;
        if a.state != AlertState::Verified {
            return Err(ControlError::Law(rule::NOT_VERIFIED.refusal(format!(
                "alert {id} is {}; it must be verified by two reviewers first",
                a.state.as_str()
            ))));
        }
        self.store
            .record(mandat_audit::Record {
                at: self.now()?.0,
                actor: actor.user.clone(),
                action: "alert.dispatch".into(),
                permit: Some(a.permit),
                origin: origin.into(),
                details: json!({"alert": id, "note_chars": note.chars().count()}),
            })
            .await?;
        Ok(())
    }
}
