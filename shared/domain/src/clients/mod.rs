//! Client success: clients, the interactions logged with them (read by the AI for sentiment
//! and emotions), NPS surveys answered by public link, an explainable health score with its
//! history, alerts when a client slips, and a daily recompute so that silence and time move
//! scores without new data.
//!
//! A client's own fields (`CLIENT#`) are what people edit, under `version`; its health state
//! (`CLIENTHEALTH#`: the evidence, the last score and its factors) is written by the
//! recomputation alone, under its own version, so a job never makes a person's edit stale.

pub mod alerts;
pub mod daily;
pub mod health;
pub mod http;
pub mod interactions;
pub mod recompute;
pub mod sentiment;
pub mod surveys;

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::{ClientId, UserId};
use crate::keys;
use crate::model::{self, from_item, to_item};
use crate::ports::table::{Condition, Counter, Item, Key, Query, TableError, TxOp, delete_all, item_key, query_all};
use crate::tenancy::TenantCtx;
use crate::usage::Plan;
use chrono::{DateTime, NaiveDate, Utc};
use health::{Band, Stage, Trend};
use recompute::HealthState;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    pub company: Option<String>,
    pub email: Option<String>,
    pub owner_id: Option<UserId>,
    /// What the contract is worth, in `currency`.
    pub contract_value: Option<f64>,
    /// ISO 4217, upper case.
    pub currency: Option<String>,
    #[schemars(with = "Option<crate::clock::Date>")]
    pub renewal_date: Option<NaiveDate>,
    pub stage: Stage,
    pub tags: Vec<String>,
    pub created_by: String,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

/// The computed health a client is shown with.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthSummary {
    /// 0–100; `null` while nothing is known of the client.
    pub score: Option<u8>,
    pub band: Band,
    /// Against the score at least 7 days ago; `null` without one.
    pub trend: Option<Trend>,
    #[serde(with = "crate::clock::rfc3339::option")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub computed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientView {
    #[serde(flatten)]
    pub client: Client,
    pub health: HealthSummary,
}

impl ClientView {
    pub fn of(client: Client, state: Option<&HealthState>, now: DateTime<Utc>) -> ClientView {
        let health = match state {
            Some(state) => state.summary(now),
            None => HealthSummary {
                score: None,
                band: Band::Unknown,
                trend: None,
                computed_at: None,
            },
        };
        ClientView { client, health }
    }
}

/// The fields a person sets; every one optional in a patch, where `null` clears it.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientFields {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "model::nullable")]
    pub company: Option<Option<String>>,
    #[serde(default, deserialize_with = "model::nullable")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "model::nullable")]
    pub owner_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "model::nullable")]
    pub contract_value: Option<Option<f64>>,
    #[serde(default, deserialize_with = "model::nullable")]
    pub currency: Option<Option<String>>,
    /// `YYYY-MM-DD`.
    #[serde(default, deserialize_with = "model::nullable")]
    #[schemars(with = "Option<Option<crate::clock::Date>>")]
    pub renewal_date: Option<Option<NaiveDate>>,
    pub stage: Option<Stage>,
    pub tags: Option<Vec<String>>,
    /// Required on update (optimistic concurrency), refused on create.
    pub version: Option<u64>,
}

impl ClientFields {
    /// Applies these fields, checking each; answers the new owner to verify, if one is set.
    fn apply(self, client: &mut Client) -> AppResult<Option<UserId>> {
        if let Some(name) = self.name {
            client.name = model::text("name", &name, 200)?;
        }
        if let Some(company) = self.company {
            client.company = model::optional_text("company", company.as_deref(), 200)?;
        }
        if let Some(email) = self.email {
            client.email = match email.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(e) => Some(model::email("email", e)?),
            };
        }
        if let Some(value) = self.contract_value {
            if value.is_some_and(|v| !v.is_finite() || !(0.0..=1e12).contains(&v)) {
                return Err(AppError::validation("contractValue must be a number from 0 to 1e12"));
            }
            client.contract_value = value;
        }
        if let Some(currency) = self.currency {
            client.currency = match currency.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(c) if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_alphabetic()) => Some(c.to_ascii_uppercase()),
                Some(_) => return Err(AppError::validation("currency must be an ISO 4217 code, like EUR")),
            };
        }
        if let Some(date) = self.renewal_date {
            client.renewal_date = date;
        }
        if let Some(stage) = self.stage {
            client.stage = stage;
        }
        if let Some(tags) = self.tags {
            client.tags = model::tags("client", tags)?;
        }
        let mut new_owner = None;
        if let Some(owner) = self.owner_id {
            let owner = owner.map(|id| UserId::parse(&id, "ownerId")).transpose()?;
            new_owner.clone_from(&owner);
            client.owner_id = owner;
        }
        Ok(new_owner)
    }
}

pub fn client_from(item: Option<Item>) -> AppResult<Client> {
    from_item(item.ok_or(AppError::NotFound("client"))?)
}

fn client_item(tenant: &TenantCtx, client: &Client) -> AppResult<Item> {
    to_item(&tenant.pk(), &keys::client_sk(&client.id), client)
}

fn count_key(tenant: &TenantCtx) -> Key {
    tenant.key(keys::CLIENT_COUNT_SK)
}

const ACTIVE: &str = "active";

/// The step that counts one more active client, refused past the plan's bound.
fn one_more_active(tenant: &TenantCtx, plan: Plan) -> TxOp {
    TxOp::Add {
        key: count_key(tenant),
        counter: Counter::new(ACTIVE, 1).at_most(plan.active_clients()),
    }
}

fn one_less_active(tenant: &TenantCtx) -> TxOp {
    TxOp::Add {
        key: count_key(tenant),
        counter: Counter::new(ACTIVE, -1).at_least(0),
    }
}

/// How many active clients a count item holds.
pub fn active_count(item: Option<&Item>) -> i64 {
    item.and_then(|i| i.get(ACTIVE)).and_then(|v| v.as_i64()).unwrap_or(0)
}

fn over_bound(plan: Plan) -> AppError {
    AppError::QuotaExceeded(format!(
        "the {} plan allows {} active clients at once: upgrade, or mark a client churned",
        plan.as_str(),
        plan.active_clients()
    ))
}

fn owner_must_be_member(owner: Option<&Item>, new_owner: &Option<UserId>) -> AppResult<()> {
    if new_owner.is_some() && owner.is_none() {
        return Err(AppError::validation("ownerId must be a member of the organisation"));
    }
    Ok(())
}

/// Adds a client with its (empty) health state; an active one counts against the plan's
/// bound in the same transaction (402, nothing stored, past it).
pub async fn create(
    app: &App,
    tenant: &TenantCtx,
    plan: Plan,
    settings: &recompute::HealthSettings,
    fields: ClientFields,
    owner: Option<&Item>,
) -> AppResult<ClientView> {
    model::creating(fields.version, &[("name", fields.name.is_some())])?;
    let now = app.clock.now();
    let mut client = Client {
        id: ClientId::generate(),
        name: String::new(),
        company: None,
        email: None,
        owner_id: None,
        contract_value: None,
        currency: None,
        renewal_date: None,
        stage: Stage::Onboarding,
        tags: Vec::new(),
        created_by: tenant.user_id().to_string(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let new_owner = fields.apply(&mut client)?;
    owner_must_be_member(owner, &new_owner)?;
    let (state, first_point) = recompute::first_state(tenant, &client, settings, now)?;
    let mut ops = vec![
        TxOp::Put {
            item: client_item(tenant, &client)?,
            condition: Some(Condition::NotExists),
        },
        TxOp::Put {
            item: state.to_item(tenant)?,
            condition: Some(Condition::NotExists),
        },
    ];
    let counted = client.stage != Stage::Churned;
    if counted {
        ops.push(one_more_active(tenant, plan));
    }
    ops.extend(first_point);
    app.table.transact(ops).await.map_err(|e| match e {
        TableError::ConditionFailed { op: Some(2) } if counted => over_bound(plan),
        other => other.into(),
    })?;
    Ok(ClientView::of(client, Some(&state), now))
}

fn stale(current: u64) -> AppError {
    model::stale_version("client", current)
}

/// Applies a patch over the version read. Moving in or out of `churned` changes the active
/// count in the same write (402 when un-churning past the bound).
pub async fn update(
    app: &App,
    tenant: &TenantCtx,
    plan: Plan,
    mut client: Client,
    fields: ClientFields,
    owner: Option<&Item>,
) -> AppResult<Client> {
    let version = model::updating(fields.version, "client", client.version)?;
    let was_churned = client.stage == Stage::Churned;
    let new_owner = fields.apply(&mut client)?;
    owner_must_be_member(owner, &new_owner)?;
    client.version += 1;
    client.updated_at = app.clock.now();
    let mut ops = vec![TxOp::Put {
        item: client_item(tenant, &client)?,
        condition: Some(Condition::VersionEquals(version)),
    }];
    match (was_churned, client.stage == Stage::Churned) {
        (true, false) => ops.push(one_more_active(tenant, plan)),
        (false, true) => ops.push(one_less_active(tenant)),
        _ => {}
    }
    app.table.transact(ops).await.map_err(|e| match e {
        TableError::ConditionFailed { op: Some(1) } => over_bound(plan),
        TableError::ConditionFailed { .. } => stale(version),
        other => other.into(),
    })?;
    Ok(client)
}

/// Deletes a client (admin or its owner) with its health state, then its interactions,
/// history and alerts. Asked again after a failure, the clean-up finishes what is left.
pub async fn delete(app: &App, tenant: &TenantCtx, client: Client) -> AppResult<()> {
    let own = match &client.owner_id {
        Some(owner) => owner == tenant.user_id(),
        None => client.created_by == tenant.user_id(),
    };
    if !own {
        tenant
            .require(crate::tenancy::Role::Admin)
            .map_err(|_| AppError::Forbidden("only an admin or the client's owner can delete a client".into()))?;
    }
    let mut ops = vec![
        TxOp::Delete {
            key: tenant.key(keys::client_sk(&client.id)),
            condition: Some(Condition::VersionEquals(client.version)),
        },
        TxOp::Delete {
            key: tenant.key(keys::client_health_sk(&client.id)),
            condition: None,
        },
    ];
    if client.stage != Stage::Churned {
        ops.push(one_less_active(tenant));
    }
    let details = serde_json::json!({"name": client.name});
    ops.push(crate::audit::entry(
        tenant,
        app.clock.now(),
        "client.deleted",
        format!("client:{}", client.id),
        details,
    )?);
    app.table.transact(ops).await.map_err(|e| match e {
        TableError::ConditionFailed { .. } => stale(client.version),
        other => other.into(),
    })?;
    let mut children = Vec::new();
    for prefix in [keys::interaction_prefix(&client.id), keys::health_history_prefix(&client.id)] {
        for item in query_all(&*app.table, Query::partition(tenant.pk()).prefix(prefix)).await? {
            children.push(item_key(&item)?);
        }
    }
    for alert in alerts::of_client(app, tenant, &client.id).await? {
        children.push(tenant.key(keys::alert_sk(&alert.id)));
        children.push(tenant.key(keys::open_alert_sk(&client.id, alert.reason.as_str())));
    }
    delete_all(&*app.table, children).await?;
    Ok(())
}

#[derive(Debug, Default)]
pub struct ClientFilter {
    pub band: Option<Band>,
    pub owner_id: Option<String>,
    pub stage: Option<Stage>,
    pub tag: Option<String>,
}

impl ClientFilter {
    fn is_empty(&self) -> bool {
        self.band.is_none() && self.owner_id.is_none() && self.stage.is_none() && self.tag.is_none()
    }

    fn matches(&self, view: &ClientView) -> bool {
        let c = &view.client;
        self.band.is_none_or(|b| b == view.health.band)
            && self.stage.is_none_or(|s| s == c.stage)
            && self
                .owner_id
                .as_ref()
                .is_none_or(|o| c.owner_id.as_ref().is_some_and(|id| id.as_str() == o))
            && self.tag.as_ref().is_none_or(|t| c.tags.contains(t))
    }
}

/// Store reads one filtered page may make before it answers with what it found and a cursor.
const MAX_FILTER_READS: usize = 5;

/// Clients, newest first, each with its health (read in one batch per page), filtered.
pub async fn list(
    app: &App,
    tenant: &TenantCtx,
    filter: &ClientFilter,
    limit: usize,
    cursor: Option<String>,
) -> AppResult<(Vec<ClientView>, Option<String>)> {
    let now = app.clock.now();
    let read_size = if filter.is_empty() { limit } else { 100 };
    let mut kept = Vec::new();
    let mut cursor_at = cursor;
    for _ in 0..MAX_FILTER_READS {
        let page = app
            .table
            .query(
                Query::partition(tenant.pk())
                    .prefix(keys::CLIENT_PREFIX)
                    .descending()
                    .limit(read_size)
                    .after(cursor_at.clone()),
            )
            .await?;
        let more = page.cursor.is_some();
        let clients: Vec<(String, Client)> = page
            .items
            .into_iter()
            .map(|item| Ok((crate::ports::cursor::encode(&item, None), from_item(item)?)))
            .collect::<AppResult<_>>()?;
        let states = recompute::states_of(app, tenant, clients.iter().map(|(_, c)| &c.id)).await?;
        let read = clients.len();
        let mut taken = 0;
        for ((position, client), state) in clients.into_iter().zip(states) {
            taken += 1;
            let view = ClientView::of(client, state.as_ref(), now);
            if filter.matches(&view) {
                kept.push(view);
            }
            cursor_at = Some(position);
            if kept.len() == limit {
                break;
            }
        }
        if taken == read && !more {
            return Ok((kept, None));
        }
        if kept.len() == limit {
            return Ok((kept, cursor_at));
        }
    }
    Ok((kept, cursor_at))
}

#[cfg(test)]
mod tests;
