//! Interactions with a client (an email, a call, a meeting, a chat, a ticket), each read by
//! the AI for sentiment and emotions on the analysis queue, then fed to the client's health.

use super::recompute::{self, Cause, HealthSettings, HealthState};
use super::sentiment::{self, Emotions, Sentiment};
use super::{Client, client_from};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::{ClientId, OrgId};
use crate::keys;
use crate::model::{self, from_item, to_item};
use crate::ports::ai::{AiUse, Prompt};
use crate::ports::queue::QueueName;
use crate::ports::table::{Condition, Item, TableError, TxOp};
use crate::tasks::context::OrgContext;
use crate::tenancy::TenantCtx;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Call,
    Meeting,
    Chat,
    Ticket,
}

impl Channel {
    fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Call => "call",
            Channel::Meeting => "meeting",
            Channel::Chat => "chat",
            Channel::Ticket => "ticket",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Analysis {
    /// Queued for the AI.
    Pending,
    Done,
    /// No AI call was left this month: stored, and left out of the sentiment.
    SkippedQuota,
    /// The AI could not read it (not configured, or it answered outside the schema twice).
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Interaction {
    /// A ULID of when it happened, so interactions sort by time.
    pub id: String,
    pub client_id: ClientId,
    pub channel: Channel,
    pub direction: Direction,
    pub text: String,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub occurred_at: DateTime<Utc>,
    /// For a ticket: whether it is still open.
    pub ticket_open: Option<bool>,
    pub analysis: Analysis,
    pub sentiment: Option<Sentiment>,
    pub emotions: Option<Emotions>,
    /// Who read it: `openai` or `offline` (no model was called).
    pub provider: Option<String>,
    pub model: Option<String>,
    #[serde(default, with = "crate::clock::rfc3339::option")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub analysed_at: Option<DateTime<Utc>>,
    /// While a job reads it: when another delivery may take it over.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::clock::rfc3339::option")]
    #[schemars(skip)]
    pub lease_until: Option<DateTime<Utc>>,
    pub logged_by: String,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub created_at: DateTime<Utc>,
    pub version: u64,
}

impl Interaction {
    fn item(&self, tenant: &TenantCtx) -> AppResult<Item> {
        to_item(&tenant.pk(), &keys::interaction_sk(&self.client_id, &self.id), self)
    }
}

pub const MAX_TEXT: usize = 20_000;
/// How long one delivery holds an interaction while the AI reads it.
const LEASE: Duration = Duration::minutes(3);
/// How far back an interaction may be dated.
const MAX_AGE_DAYS: i64 = 5 * 365;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewInteraction {
    pub channel: Channel,
    pub direction: Direction,
    /// At most 20,000 characters.
    pub text: String,
    /// RFC 3339; now by default.
    pub occurred_at: Option<String>,
    /// For a ticket (open by default); not for other channels.
    pub ticket_open: Option<bool>,
}

/// Opens or closes a ticket. No `version`: it sets one fact, whatever the reading of the
/// text (which a job writes meanwhile) has done to the interaction.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TicketChange {
    pub ticket_open: bool,
}

/// The analysis queue's message for one interaction.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AnalyseInteraction {
    pub org_id: OrgId,
    pub client_id: ClientId,
    pub interaction_id: String,
    #[serde(with = "crate::clock::rfc3339")]
    pub logged_at: DateTime<Utc>,
}

/// A job that finds no interaction this soon after it was logged waits for its write.
const WRITE_GRACE: Duration = Duration::minutes(5);
/// Reads, 200 ms apart, of an interaction not written yet before its job comes back.
const WRITE_WAITS: usize = 3;

fn interaction_id(at: DateTime<Utc>) -> String {
    ulid::Ulid::from_parts(at.timestamp_millis().max(0) as u64, rand::random::<u128>()).to_string()
}

/// Logs an interaction (`analysis: pending`) and queues its reading. The job is queued
/// first: a request that fails after it leaves a job that finds nothing and ends; one that
/// fails before it stores nothing.
pub async fn log(app: &App, tenant: &TenantCtx, client: &Client, mut state: HealthState, input: NewInteraction) -> AppResult<Interaction> {
    let now = app.clock.now();
    let text = model::text("text", &input.text, MAX_TEXT)?;
    let occurred_at = match input.occurred_at.as_deref() {
        None => now,
        Some(at) => model::timestamp_param("occurredAt", at)?,
    };
    if occurred_at > now + Duration::minutes(5) || now - occurred_at > Duration::days(MAX_AGE_DAYS) {
        return Err(AppError::validation("occurredAt must be in the last five years, not in the future"));
    }
    let ticket_open = match (input.channel, input.ticket_open) {
        (Channel::Ticket, open) => Some(open.unwrap_or(true)),
        (_, None) => None,
        (_, Some(_)) => return Err(AppError::validation("ticketOpen is for a ticket only")),
    };
    let interaction = Interaction {
        id: interaction_id(occurred_at),
        client_id: client.id.clone(),
        channel: input.channel,
        direction: input.direction,
        text,
        occurred_at,
        ticket_open,
        analysis: Analysis::Pending,
        sentiment: None,
        emotions: None,
        provider: None,
        model: None,
        analysed_at: None,
        lease_until: None,
        logged_by: tenant.user_id().to_string(),
        created_at: now,
        version: 1,
    };
    let job = AnalyseInteraction {
        org_id: tenant.org_id().clone(),
        client_id: client.id.clone(),
        interaction_id: interaction.id.clone(),
        logged_at: now,
    };
    app.queue
        .send(
            QueueName::Analysis,
            &[serde_json::to_string(&crate::clients::daily::ClientJob::Interaction(job))?],
        )
        .await?;
    for _ in 0..3 {
        let mut after = state.clone();
        after.saw_interaction(&interaction.id, occurred_at, ticket_open);
        after.version = state.version + 1;
        let ops = vec![
            TxOp::Put {
                item: interaction.item(tenant)?,
                condition: Some(Condition::NotExists),
            },
            TxOp::Put {
                item: after.to_item(tenant)?,
                condition: Some(recompute::over(&state)),
            },
        ];
        match app.table.transact(ops).await {
            Ok(()) => return Ok(interaction),
            Err(TableError::ConditionFailed { op: Some(1) }) => {
                let item = app.table.get(&tenant.key(keys::client_health_sk(&client.id))).await?;
                state = recompute::state_from(item, &client.id)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::conflict(
        "CONFLICT",
        "the client's health kept changing meanwhile: try again",
    ))
}

pub fn interaction_from(item: Option<Item>) -> AppResult<Interaction> {
    from_item(item.ok_or(AppError::NotFound("interaction"))?)
}

/// A client's interactions, newest first.
pub async fn list(
    app: &App,
    tenant: &TenantCtx,
    client_id: &ClientId,
    limit: usize,
    cursor: Option<String>,
) -> AppResult<(Vec<Interaction>, Option<String>)> {
    model::newest_first(&*app.table, tenant.pk(), keys::interaction_prefix(client_id), limit, cursor).await
}

/// Opens or closes a ticket: the interaction and the client's open tickets in one
/// transaction (each over the version read, read again when a job wrote meanwhile), then the
/// client's recomputation is queued.
pub async fn change_ticket(
    app: &App,
    tenant: &TenantCtx,
    mut state: HealthState,
    mut interaction: Interaction,
    change: TicketChange,
) -> AppResult<Interaction> {
    if interaction.channel != Channel::Ticket {
        return Err(AppError::validation("ticketOpen is for a ticket only"));
    }
    let client_id = interaction.client_id.clone();
    for _ in 0..3 {
        let mut changed = interaction.clone();
        changed.ticket_open = Some(change.ticket_open);
        changed.version += 1;
        let mut after = state.clone();
        after.set_ticket(&changed.id, change.ticket_open);
        after.version = state.version + 1;
        let ops = vec![
            TxOp::Put {
                item: changed.item(tenant)?,
                condition: Some(Condition::VersionEquals(interaction.version)),
            },
            TxOp::Put {
                item: after.to_item(tenant)?,
                condition: Some(recompute::over(&state)),
            },
        ];
        match app.table.transact(ops).await {
            Ok(()) => {
                super::daily::queue_recompute(app, tenant, &client_id, Cause::TicketChanged).await;
                return Ok(changed);
            }
            Err(TableError::ConditionFailed { .. }) => {
                let keys = [
                    tenant.key(keys::interaction_sk(&client_id, &interaction.id)),
                    tenant.key(keys::client_health_sk(&client_id)),
                ];
                let mut read = app.table.get_many(&keys).await?.into_iter();
                interaction = interaction_from(read.next().flatten())?;
                state = recompute::state_from(read.next().flatten(), &client_id)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::conflict("CONFLICT", "the interaction kept changing meanwhile: try again"))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum AnalysisOutcome {
    Analysed {
        interaction_id: String,
        score: f64,
    },
    SkippedQuota {
        interaction_id: String,
    },
    Failed {
        interaction_id: String,
        error: String,
    },
    /// A redelivery, or an interaction or client gone.
    Skipped {
        reason: &'static str,
    },
}

/// `job-analyze`, for one interaction: one AI call reads it, the reading is stored on it,
/// and the client's health is recomputed with it.
///
/// Idempotent: a delivery takes the interaction with a lease (a conditional write) before
/// the AI is asked, so two deliveries never both ask; one that finds it read already only
/// makes sure the reading reached the health state (which adds it by the interaction's id).
pub async fn analyse(app: &App, job: AnalyseInteraction) -> AppResult<AnalysisOutcome> {
    crate::ids::check(&job.org_id, "orgId")?;
    crate::ids::check(&job.client_id, "clientId")?;
    crate::ids::check(&job.interaction_id, "interactionId")?;
    let tenant = TenantCtx::background(&job.org_id);
    let now = app.clock.now();
    let mut wanted = vec![
        keys::interaction_sk(&job.client_id, &job.interaction_id),
        keys::client_sk(&job.client_id),
        keys::client_health_sk(&job.client_id),
        keys::HEALTH_SETTINGS_SK.to_string(),
    ];
    wanted.extend(OrgContext::sort_keys(now));
    let keys: Vec<_> = wanted.into_iter().map(|sk| tenant.key(sk)).collect();
    let mut read = app.table.get_many(&keys).await?;
    // The job is queued just before its interaction is written: one that overtakes the
    // write waits for it a moment rather than coming back at once.
    for _ in 0..WRITE_WAITS {
        if read[0].is_some() || now - job.logged_at >= WRITE_GRACE {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        read = app.table.get_many(&keys).await?;
    }
    let mut items = read.into_iter();
    let [interaction, client, state, settings] = std::array::from_fn(|_| items.next().flatten());
    let Some(interaction) = interaction else {
        if now - job.logged_at < WRITE_GRACE {
            return Err(AppError::unavailable(
                "the interaction is not written yet",
                std::io::Error::other("deliver the job again"),
            ));
        }
        return Ok(AnalysisOutcome::Skipped {
            reason: "the interaction is gone",
        });
    };
    let (Some(client), org_items) = (client, items.collect::<Vec<_>>()) else {
        return Ok(AnalysisOutcome::Skipped {
            reason: "the client is gone",
        });
    };
    if org_items.first().is_none_or(Option::is_none) {
        return Ok(AnalysisOutcome::Skipped {
            reason: "the organisation is gone",
        });
    }
    let mut interaction: Interaction = from_item(interaction)?;
    let client: Client = client_from(Some(client))?;
    let state = recompute::state_from(state, &client.id)?;
    let settings = HealthSettings::from_stored(settings)?;
    match interaction.analysis {
        Analysis::Done if state.has_sentiment(&interaction.id) || now - interaction.occurred_at > Duration::days(90) => {
            return Ok(AnalysisOutcome::Skipped {
                reason: "the interaction was analysed already",
            });
        }
        Analysis::Done => {
            // Read, but the health did not take it (a failure after the reading was stored).
            feed(app, &tenant, client, state, &settings, &interaction).await?;
            return Ok(AnalysisOutcome::Analysed {
                interaction_id: interaction.id.clone(),
                score: interaction.sentiment.map_or(0.0, |s| s.score),
            });
        }
        Analysis::SkippedQuota | Analysis::Failed => {
            return Ok(AnalysisOutcome::Skipped {
                reason: "the interaction was handled already",
            });
        }
        Analysis::Pending if interaction.lease_until.is_some_and(|until| until > now) => {
            return Err(AppError::unavailable(
                "another delivery is reading this interaction",
                std::io::Error::other("deliver the job again"),
            ));
        }
        Analysis::Pending => {}
    }
    let org = OrgContext::from_items(org_items, now)?;
    let read = interaction.version;
    interaction.lease_until = Some(now + LEASE);
    interaction.version += 1;
    match app
        .table
        .put(interaction.item(&tenant)?, Some(Condition::VersionEquals(read)))
        .await
    {
        Ok(()) => {}
        Err(TableError::ConditionFailed { .. }) => {
            return Ok(AnalysisOutcome::Skipped {
                reason: "another delivery took the interaction",
            });
        }
        Err(e) => return Err(e.into()),
    }
    let prompt = Prompt::new(
        AiUse::Routine,
        sentiment::SYSTEM,
        sentiment::ask(
            interaction.channel.as_str(),
            &format!("{:?}", interaction.direction).to_lowercase(),
            &interaction.text,
        ),
    )
    .structured(sentiment::SCHEMA_NAME, sentiment::schema(), 300)
    .answered_offline_by(sentiment::offline_reading);
    let outcome = match crate::usage::structured_call(app, &tenant, org.plan, prompt, "client_sentiment", sentiment::parse).await {
        Ok((reading, completion)) => {
            interaction.analysis = Analysis::Done;
            interaction.sentiment = Some(reading.sentiment);
            interaction.emotions = Some(reading.emotions);
            interaction.provider = Some(completion.provider);
            interaction.model = Some(completion.model);
            interaction.analysed_at = Some(app.clock.now());
            AnalysisOutcome::Analysed {
                interaction_id: interaction.id.clone(),
                score: interaction.sentiment.as_ref().map_or(0.0, |s| s.score),
            }
        }
        Err(AppError::QuotaExceeded(_)) => {
            interaction.analysis = Analysis::SkippedQuota;
            AnalysisOutcome::SkippedQuota {
                interaction_id: interaction.id.clone(),
            }
        }
        Err(e) if e.is_transient() => return Err(e),
        Err(e) => {
            interaction.analysis = Analysis::Failed;
            AnalysisOutcome::Failed {
                interaction_id: interaction.id.clone(),
                error: e.public_message(),
            }
        }
    };
    let read = interaction.version;
    interaction.lease_until = None;
    interaction.version += 1;
    app.table
        .put(interaction.item(&tenant)?, Some(Condition::VersionEquals(read)))
        .await?;
    feed(app, &tenant, client, state, &settings, &interaction).await?;
    Ok(outcome)
}

/// Recomputes the client's health with an interaction's reading (if it has one).
async fn feed(
    app: &App,
    tenant: &TenantCtx,
    client: Client,
    state: HealthState,
    settings: &HealthSettings,
    interaction: &Interaction,
) -> AppResult<()> {
    let point = interaction.sentiment.as_ref().map(|s| super::health::SentimentPoint {
        interaction_id: interaction.id.clone(),
        at: interaction.occurred_at,
        score: s.score,
    });
    recompute::recompute(app, tenant, client, state, settings, Cause::InteractionAnalysed, |s| {
        if let Some(point) = &point {
            s.add_sentiment(point.clone());
        }
    })
    .await?;
    Ok(())
}
