//! A client's health state and its recomputation: the evidence kept for the score (each
//! analysed sentiment of the last 90 days, the client's survey answers, the last interaction,
//! open tickets), the last score with its factors, the trail the trend reads, and which
//! subject last raised each kind of alert.
//!
//! Idempotent and safe under races: the state is written over the version read (a lost race
//! reads again and recomputes), evidence is added by its id (an answer or a sentiment added
//! twice counts once), an alert is raised only for a subject that has not raised its reason
//! before, and only one is open per (client, reason) (see `alerts`). A history point is
//! written with the state, in the same transaction, whenever the score changes.

use super::alerts::{Alert, AlertReason, AlertStatus};
use super::health::{self, AnswerPoint, Band, Bands, Evidence, Factor, ScorePoint, SentimentPoint, Weights};
use super::{Client, HealthSummary};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::{AlertId, ClientId};
use crate::keys;
use crate::model::{self, from_item, to_item};
use crate::ports::events::DomainEvent;
use crate::ports::table::{Condition, Item, Query, TableError, TxOp};
use crate::tenancy::TenantCtx;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Sentiments kept on the state (the newest, within the window).
const MAX_SENTIMENTS: usize = 200;
/// Answers kept on the state (the newest, within a year).
const MAX_ANSWERS: usize = 50;
/// A renewal this near, with the client at risk, raises an alert.
pub const RENEWAL_ALERT_DAYS: i64 = 30;
/// Falling sentiments in a row that raise an alert.
pub const FALLING_IN_A_ROW: usize = 3;
/// Attempts at writing the state over a concurrent change.
const ATTEMPTS: usize = 5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthState {
    pub client_id: ClientId,
    pub score: Option<u8>,
    pub band: Band,
    pub factors: Vec<Factor>,
    #[serde(default, with = "crate::clock::rfc3339::option")]
    pub computed_at: Option<DateTime<Utc>>,
    pub sentiments: Vec<SentimentPoint>,
    pub answers: Vec<AnswerPoint>,
    #[serde(default, with = "crate::clock::rfc3339::option")]
    pub last_interaction_at: Option<DateTime<Utc>>,
    /// The ids of the ticket interactions still open.
    pub open_tickets: Vec<String>,
    pub tickets_ever: u32,
    pub trail: Vec<ScorePoint>,
    /// Per alert reason, the subject that last raised it (a transition, a silence since a
    /// given time, an answer, an interaction, a renewal date).
    pub alerted: BTreeMap<String, String>,
    pub version: u64,
}

impl HealthState {
    pub fn new(client_id: &ClientId) -> HealthState {
        HealthState {
            client_id: client_id.clone(),
            score: None,
            band: Band::Unknown,
            factors: Vec::new(),
            computed_at: None,
            sentiments: Vec::new(),
            answers: Vec::new(),
            last_interaction_at: None,
            open_tickets: Vec::new(),
            tickets_ever: 0,
            trail: Vec::new(),
            alerted: BTreeMap::new(),
            version: 0,
        }
    }

    pub fn to_item(&self, tenant: &TenantCtx) -> AppResult<Item> {
        self.to_item_for(tenant.org_id())
    }

    /// The item under an org's partition (for loading a store, as the benchmark does).
    pub fn to_item_for(&self, org_id: &crate::ids::OrgId) -> AppResult<Item> {
        to_item(&keys::org_pk(org_id), &keys::client_health_sk(&self.client_id), self)
    }

    pub fn summary(&self, now: DateTime<Utc>) -> HealthSummary {
        HealthSummary {
            score: self.score,
            band: self.band,
            trend: health::trend(&self.trail, self.score, now),
            computed_at: self.computed_at,
        }
    }

    /// Evidence that an interaction was logged (when it happened, whether a ticket is open).
    pub fn saw_interaction(&mut self, id: &str, at: DateTime<Utc>, ticket_open: Option<bool>) {
        self.last_interaction_at = Some(self.last_interaction_at.map_or(at, |last| last.max(at)));
        if let Some(open) = ticket_open
            && !self.open_tickets.iter().any(|t| t == id)
        {
            self.tickets_ever += 1;
            if open {
                self.open_tickets.push(id.to_string());
            }
        }
    }

    pub fn set_ticket(&mut self, id: &str, open: bool) {
        self.open_tickets.retain(|t| t != id);
        if open {
            self.open_tickets.push(id.to_string());
        }
    }

    /// An analysed sentiment, once per interaction.
    pub fn add_sentiment(&mut self, point: SentimentPoint) {
        if !self.sentiments.iter().any(|s| s.interaction_id == point.interaction_id) {
            self.sentiments.push(point);
        }
    }

    pub fn has_sentiment(&self, interaction_id: &str) -> bool {
        self.sentiments.iter().any(|s| s.interaction_id == interaction_id)
    }

    /// A survey answer, once per response.
    pub fn add_answer(&mut self, point: AnswerPoint) {
        if !self.answers.iter().any(|a| a.response_id == point.response_id) {
            self.answers.push(point);
        }
    }

    fn prune(&mut self, now: DateTime<Utc>) {
        self.sentiments.sort_by_key(|s| s.at);
        self.sentiments.retain(|s| (now - s.at).num_days() < health::SENTIMENT_WINDOW_DAYS);
        let extra = self.sentiments.len().saturating_sub(MAX_SENTIMENTS);
        self.sentiments.drain(..extra);
        self.answers.sort_by_key(|a| a.at);
        self.answers.retain(|a| (now - a.at).num_days() < health::ANSWER_WINDOW_DAYS);
        let extra = self.answers.len().saturating_sub(MAX_ANSWERS);
        self.answers.drain(..extra);
    }

    fn evidence<'a>(&'a self, client: &Client) -> Evidence<'a> {
        Evidence {
            sentiments: &self.sentiments,
            answers: &self.answers,
            last_interaction_at: self.last_interaction_at,
            open_tickets: self.open_tickets.len(),
            tickets_ever: self.tickets_ever as usize,
            renewal_date: client.renewal_date,
            stage: client.stage,
        }
    }
}

/// The condition of writing a state over the one read: absent when none was stored.
pub fn over(state: &HealthState) -> Condition {
    if state.version == 0 {
        Condition::NotExists
    } else {
        Condition::VersionEquals(state.version)
    }
}

pub fn state_from(item: Option<Item>, client_id: &ClientId) -> AppResult<HealthState> {
    item.map(from_item)
        .transpose()
        .map(|state| state.unwrap_or_else(|| HealthState::new(client_id)))
}

/// The health states of these clients, in their order (one batch read per 100).
pub async fn states_of<'a>(app: &App, tenant: &TenantCtx, ids: impl Iterator<Item = &'a ClientId>) -> AppResult<Vec<Option<HealthState>>> {
    let keys: Vec<_> = ids.map(|id| tenant.key(keys::client_health_sk(id))).collect();
    let mut states = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(crate::ports::table::MAX_BATCH_GET) {
        for item in app.table.get_many(chunk).await? {
            states.push(item.map(from_item).transpose()?);
        }
    }
    Ok(states)
}

/// How the org scores its clients (`GET|PUT …/health-settings`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthSettings {
    pub weights: Weights,
    pub bands: Bands,
    /// Days without an interaction that raise a `silent` alert.
    pub alert_after_days_silent: u32,
    pub updated_by: Option<String>,
    #[serde(default, with = "crate::clock::rfc3339::option")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub updated_at: Option<DateTime<Utc>>,
    /// 0 until the first change.
    pub version: u64,
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings {
            weights: Weights::default(),
            bands: Bands::default(),
            alert_after_days_silent: 30,
            updated_by: None,
            updated_at: None,
            version: 0,
        }
    }
}

impl HealthSettings {
    pub fn from_stored(item: Option<Item>) -> AppResult<Self> {
        item.map(from_item).transpose().map(Option::unwrap_or_default)
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SettingsChange {
    pub weights: Option<Weights>,
    pub bands: Option<Bands>,
    pub alert_after_days_silent: Option<u32>,
    /// The version read (0 before the first change).
    pub version: u64,
}

/// Changes the settings over the version read. Scores move to them at each client's next
/// recomputation (the daily one at the latest).
pub async fn change_settings(
    app: &App,
    tenant: &TenantCtx,
    mut settings: HealthSettings,
    change: SettingsChange,
) -> AppResult<HealthSettings> {
    if change.version != settings.version {
        return Err(model::stale_version("health settings", settings.version));
    }
    if let Some(weights) = change.weights {
        weights.check()?;
        settings.weights = weights;
    }
    if let Some(bands) = change.bands {
        bands.check()?;
        settings.bands = bands;
    }
    if let Some(days) = change.alert_after_days_silent {
        if !(1..=365).contains(&days) {
            return Err(AppError::validation("alertAfterDaysSilent must be from 1 to 365"));
        }
        settings.alert_after_days_silent = days;
    }
    let now = app.clock.now();
    settings.updated_by = Some(tenant.user_id().to_string());
    settings.updated_at = Some(now);
    settings.version += 1;
    let details = serde_json::to_value(&settings)?;
    let record = crate::audit::entry(tenant, now, "settings.health_changed", format!("org:{}", tenant.org_id()), details)?;
    model::put_versioned_with(
        &*app.table,
        &tenant.pk(),
        keys::HEALTH_SETTINGS_SK,
        &settings,
        change.version,
        "health settings",
        Some(record),
    )
    .await?;
    Ok(settings)
}

/// Why a score was computed again, kept on its history point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    ClientCreated,
    InteractionAnalysed,
    TicketChanged,
    SurveyAnswered,
    ClientUpdated,
    Daily,
}

/// A point of a client's health history: written when the score changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPoint {
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub at: DateTime<Utc>,
    pub score: Option<u8>,
    pub band: Band,
    pub factors: Vec<Factor>,
    pub cause: Cause,
}

/// A new client's state, scored from what it starts with (a renewal date is evidence), and
/// the history point of that first score, if there is one.
pub fn first_state(
    tenant: &TenantCtx,
    client: &Client,
    settings: &HealthSettings,
    now: DateTime<Utc>,
) -> AppResult<(HealthState, Option<TxOp>)> {
    let unscored = HealthState::new(&client.id);
    let mut state = HealthState {
        version: 1,
        ..unscored.clone()
    };
    let point = rescore(tenant, &unscored, &mut state, client, settings, now, Cause::ClientCreated)?;
    Ok((state, point))
}

/// Scores `after` from its evidence at `now`: its score, band, factors and time, and its
/// trail when the score moved from `before`'s; answers the history point to write with it
/// when the score or band changed.
fn rescore(
    tenant: &TenantCtx,
    before: &HealthState,
    after: &mut HealthState,
    client: &Client,
    settings: &HealthSettings,
    now: DateTime<Utc>,
    cause: Cause,
) -> AppResult<Option<TxOp>> {
    let assessed = health::assess(&after.evidence(client), &settings.weights, &settings.bands, now);
    let changed = assessed.score != before.score || assessed.band != before.band;
    after.score = assessed.score;
    after.band = assessed.band;
    after.factors = assessed.factors;
    after.computed_at = Some(now);
    if changed && let Some(score) = after.score {
        after.trail.push(ScorePoint { at: now, score });
    }
    health::trim_trail(&mut after.trail, now);
    if !changed {
        return Ok(None);
    }
    let point = HistoryPoint {
        at: now,
        score: after.score,
        band: after.band,
        factors: after.factors.clone(),
        cause,
    };
    let item = to_item(&tenant.pk(), &keys::health_history_sk(&client.id, &now, &model::new_id()), &point)?;
    Ok(Some(TxOp::Put { item, condition: None }))
}

/// What a recomputation did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recomputed {
    pub changed: bool,
    pub alerts_raised: usize,
}

/// The alerts the new state calls for, each with the subject that raises it: those whose
/// subject has not raised their reason before.
fn called_for(
    before: &HealthState,
    after: &HealthState,
    client: &Client,
    settings: &HealthSettings,
    now: DateTime<Utc>,
) -> Vec<(AlertReason, String, String)> {
    let mut calls = Vec::new();
    if after.band.is_worse_than(before.band) {
        calls.push((
            AlertReason::BandWorsened,
            format!("{}>{}@{}", before.band.as_str(), after.band.as_str(), after.version),
            format!("{} moved from {} to {}", client.name, before.band.as_str(), after.band.as_str()),
        ));
    }
    if let Some(last) = after.last_interaction_at {
        let days = (now - last).num_days();
        if days >= i64::from(settings.alert_after_days_silent) {
            calls.push((
                AlertReason::Silent,
                crate::clock::timestamp(last),
                format!("no interaction with {} for {days} days", client.name),
            ));
        }
    }
    let recent: Vec<&SentimentPoint> = after.sentiments.iter().rev().take(FALLING_IN_A_ROW + 1).collect();
    if recent.len() == FALLING_IN_A_ROW + 1 && recent.windows(2).all(|w| w[0].score < w[1].score) {
        calls.push((
            AlertReason::FallingSentiment,
            recent[0].interaction_id.clone(),
            format!("{} sentiments in a row have fallen for {}", FALLING_IN_A_ROW, client.name),
        ));
    }
    if let Some(answer) = after.answers.iter().max_by_key(|a| a.at)
        && answer.score <= 6
    {
        calls.push((
            AlertReason::Detractor,
            answer.response_id.clone(),
            format!("{} answered {} out of 10", client.name, answer.score),
        ));
    }
    if let Some(date) = client.renewal_date {
        let days = (date - now.date_naive()).num_days();
        if after.band.is_at_risk() && (0..=RENEWAL_ALERT_DAYS).contains(&days) {
            calls.push((
                AlertReason::RenewalAtRisk,
                date.to_string(),
                format!("{} is {} and renews in {days} days", client.name, after.band.as_str()),
            ));
        }
    }
    calls.retain(|(reason, subject, _)| before.alerted.get(reason.as_str()) != Some(subject));
    calls
}

/// Recomputes a client's score from its state after `add` (evidence to add, by id), writes
/// the state (and a history point when the score changed, and any alert called for), then
/// tells the owner and the bus. `state` and `client` are as read; a lost race reads again.
pub async fn recompute(
    app: &App,
    tenant: &TenantCtx,
    mut client: Client,
    mut state: HealthState,
    settings: &HealthSettings,
    cause: Cause,
    add: impl Fn(&mut HealthState),
) -> AppResult<Recomputed> {
    for _ in 0..ATTEMPTS {
        let now = app.clock.now();
        let mut after = state.clone();
        add(&mut after);
        after.prune(now);
        after.version = state.version + 1;
        let point = rescore(tenant, &state, &mut after, &client, settings, now, cause)?;
        let score_changed = point.is_some();
        let mut calls = called_for(&state, &after, &client, settings, now);
        for (reason, subject, _) in &calls {
            after.alerted.insert(reason.as_str().to_string(), subject.clone());
        }
        let raised: Vec<Alert> = calls
            .drain(..)
            .map(|(reason, _, message)| Alert {
                id: AlertId::generate(),
                client_id: client.id.clone(),
                client_name: client.name.clone(),
                reason,
                status: AlertStatus::Open,
                message,
                score: after.score,
                band: after.band,
                owner_id: client.owner_id.as_ref().map(ToString::to_string),
                raised_at: now,
                acknowledged_by: None,
                acknowledged_at: None,
                resolved_by: None,
                resolved_at: None,
                mailed_at: None,
                version: 1,
            })
            .collect();
        let mut ops = vec![TxOp::Put {
            item: after.to_item(tenant)?,
            condition: Some(over(&state)),
        }];
        ops.extend(point);
        let alerts_from = ops.len();
        for alert in &raised {
            ops.extend(alert.raising(tenant)?);
        }
        match app.table.transact(ops).await {
            Ok(()) => {
                announce(app, tenant, &client, &state, &after, &raised).await;
                return Ok(Recomputed {
                    changed: score_changed,
                    alerts_raised: raised.len(),
                });
            }
            Err(TableError::ConditionFailed { op: Some(op) }) if op >= alerts_from => {
                // An alert for that reason is open already: raising it again changes
                // nothing, but its subject is spent; the state is written without it.
                let taken = raised[(op - alerts_from) / 2].reason;
                tracing::debug!(reason = taken.as_str(), "an alert for this reason is open already");
                let subject = after.alerted.get(taken.as_str()).cloned().unwrap_or_default();
                state.alerted.insert(taken.as_str().to_string(), subject);
            }
            Err(TableError::ConditionFailed { .. }) => {
                let keys = [
                    tenant.key(keys::client_sk(&client.id)),
                    tenant.key(keys::client_health_sk(&client.id)),
                ];
                let [client_item, state_item]: [Option<Item>; 2] = app
                    .table
                    .get_many(&keys)
                    .await?
                    .try_into()
                    .map_err(|_| AppError::internal("the store answered another count of items"))?;
                let Some(client_item) = client_item else {
                    return Ok(Recomputed::default());
                };
                client = from_item(client_item)?;
                state = state_from(state_item, &client.id)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::conflict(
        "CONFLICT",
        "the client's health kept changing meanwhile: try again",
    ))
}

/// Tells the bus of a band change and each raised alert, and mails each alert (see
/// `alerts::mail`). Written already, so a failure here is logged: a mail that did not go is
/// sent by the daily recompute.
async fn announce(app: &App, tenant: &TenantCtx, client: &Client, before: &HealthState, after: &HealthState, raised: &[Alert]) {
    let mut events = Vec::new();
    if after.band != before.band {
        events.push(DomainEvent {
            id: format!("client.health_changed:{}:{}", client.id, after.version),
            source: "chief.clients".into(),
            detail_type: "client.health_changed".into(),
            org_id: tenant.org_id().clone(),
            at: after.computed_at.unwrap_or_else(|| app.clock.now()),
            detail: serde_json::json!({"clientId": client.id, "from": before.band, "to": after.band, "score": after.score}),
        });
    }
    for alert in raised {
        events.push(DomainEvent {
            id: format!("client.alert_raised:{}", alert.id),
            source: "chief.clients".into(),
            detail_type: "client.alert_raised".into(),
            org_id: tenant.org_id().clone(),
            at: alert.raised_at,
            detail: serde_json::json!({"alertId": alert.id, "clientId": client.id, "reason": alert.reason, "band": alert.band, "score": alert.score}),
        });
    }
    if !events.is_empty()
        && let Err(e) = app.events.publish(&events).await
    {
        tracing::warn!(error = %e, "client events not published");
    }
    for alert in raised {
        if let Err(e) = super::alerts::mail(app, tenant, alert.clone()).await {
            tracing::warn!(error = %e, "an alert mail was not sent; the daily recompute sends it again");
        }
    }
}

/// A client's history, newest first, between `from` (inclusive) and `to` (exclusive).
pub async fn history(
    app: &App,
    tenant: &TenantCtx,
    client_id: &ClientId,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: usize,
    cursor: Option<String>,
) -> AppResult<(Vec<HistoryPoint>, Option<String>)> {
    let prefix = keys::health_history_prefix(client_id);
    let low = from.map_or(prefix.clone(), |at| format!("{prefix}{}", crate::clock::timestamp(at)));
    // `to` is exclusive: the last key before it sorts below its timestamp.
    let high = match to {
        Some(at) => format!("{prefix}{}", crate::clock::timestamp(at - Duration::milliseconds(1))) + "#\u{10FFFF}",
        None => format!("{prefix}\u{10FFFF}"),
    };
    let page = app
        .table
        .query(
            Query::partition(tenant.pk())
                .between(low, high)
                .descending()
                .limit(limit)
                .after(cursor),
        )
        .await?;
    Ok((page.items.into_iter().map(from_item).collect::<AppResult<_>>()?, page.cursor))
}
