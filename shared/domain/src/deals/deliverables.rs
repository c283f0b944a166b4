//! What a deal promises: a post on a platform by a date. A deliverable may name the post that
//! delivers it, or the content item whose posts do; each such name is also a link item
//! (`DELIVLINK#<post or item>#…`), so that a published post finds its deliverables in one
//! query. When the last deliverable of a contracted (or in-progress) deal is delivered, the
//! deal moves to `delivered` and its owner gets an "invoice the sponsor" to-do.
//!
//! Idempotent under redelivery: a deliverable becomes `delivered` by a write conditional on
//! its version and on still being pending, so a second delivery of the same publish finds it
//! done; the deal's move is conditional on its version and the to-do's id is derived from the
//! deal, so neither happens twice.

use super::{ActivityKind, Deal, DealActivity, Stage, deal_from, emit, stage_events};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::{ContentId, DealId, DeliverableId, PostId, TaskId};
use crate::keys;
use crate::model::{self, from_item, to_item};
use crate::platforms::Platform;
use crate::ports::table::{Condition, Item, Key, Query, TableError, TxOp, query_all};
use crate::tasks::TaskType;
use crate::tenancy::TenantCtx;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Deliverables one deal may have.
pub const MAX_PER_DEAL: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliverableStatus {
    Pending,
    Delivered,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deliverable {
    pub id: DeliverableId,
    pub deal_id: DealId,
    pub description: String,
    pub platform: Platform,
    #[schemars(with = "crate::clock::Date")]
    pub due_date: NaiveDate,
    pub post_id: Option<PostId>,
    pub content_id: Option<ContentId>,
    pub status: DeliverableStatus,
    pub delivered_url: Option<String>,
    #[serde(default, with = "crate::clock::rfc3339::option")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub delivered_at: Option<DateTime<Utc>>,
    /// The published post that delivered it, when one did.
    #[serde(default)]
    pub delivered_by: Option<PostId>,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

/// What a link item holds: where the deliverable is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Link {
    deal_id: DealId,
    deliverable_id: DeliverableId,
}

impl Deliverable {
    fn linked_ids(&self) -> Vec<&str> {
        self.post_id
            .iter()
            .map(|p| p.as_str())
            .chain(self.content_id.iter().map(|c| c.as_str()))
            .collect()
    }

    /// The keys of its link items.
    pub fn link_keys(&self, tenant: &TenantCtx) -> Vec<Key> {
        self.linked_ids()
            .into_iter()
            .map(|linked| tenant.key(keys::deliverable_link_sk(linked, &self.deal_id, &self.id)))
            .collect()
    }

    fn item(&self, tenant: &TenantCtx) -> AppResult<Item> {
        to_item(&tenant.pk(), &keys::deliverable_sk(&self.deal_id, &self.id), self)
    }

    /// The steps that write it over `read` (0: new) with its links: those it no longer names
    /// go, those it names now are written.
    fn writes(&self, tenant: &TenantCtx, read: u64, before: Option<&Deliverable>) -> AppResult<Vec<TxOp>> {
        let mut ops = vec![TxOp::Put {
            item: self.item(tenant)?,
            condition: Some(if read == 0 {
                Condition::NotExists
            } else {
                Condition::VersionEquals(read)
            }),
        }];
        let now_linked = self.link_keys(tenant);
        if let Some(before) = before {
            for key in before.link_keys(tenant) {
                if !now_linked.contains(&key) {
                    ops.push(TxOp::Delete { key, condition: None });
                }
            }
        }
        let link = Link {
            deal_id: self.deal_id.clone(),
            deliverable_id: self.id.clone(),
        };
        for key in now_linked {
            ops.push(TxOp::Put {
                item: to_item(&key.pk, &key.sk, &link)?,
                condition: None,
            });
        }
        Ok(ops)
    }
}

pub fn deliverable_from(item: Option<Item>) -> AppResult<Deliverable> {
    from_item(item.ok_or(AppError::NotFound("deliverable"))?)
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewDeliverable {
    pub description: String,
    pub platform: Platform,
    /// `YYYY-MM-DD`.
    #[schemars(with = "crate::clock::Date")]
    pub due_date: NaiveDate,
    pub post_id: Option<String>,
    pub content_id: Option<String>,
    pub status: Option<DeliverableStatus>,
    pub delivered_url: Option<String>,
}

/// Every field optional but `version`; `null` unlinks a post or an item.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeliverableChange {
    pub description: Option<String>,
    pub platform: Option<Platform>,
    #[schemars(with = "Option<crate::clock::Date>")]
    pub due_date: Option<NaiveDate>,
    #[serde(default, deserialize_with = "model::nullable")]
    pub post_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "model::nullable")]
    pub content_id: Option<Option<String>>,
    pub status: Option<DeliverableStatus>,
    #[serde(default, deserialize_with = "model::nullable")]
    pub delivered_url: Option<Option<String>>,
    pub version: u64,
}

/// The sort keys of the post and the content item a body names, to read with the membership:
/// a deliverable may name only the org's own.
pub fn to_read(post_id: Option<&str>, content_id: Option<&str>) -> AppResult<Vec<String>> {
    let mut read = Vec::new();
    if let Some(post) = post_id {
        read.push(keys::post_sk(&PostId::parse(post, "postId")?));
    }
    if let Some(content) = content_id {
        read.push(keys::content_sk(&ContentId::parse(content, "contentId")?));
    }
    Ok(read)
}

fn url(value: Option<&str>) -> AppResult<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(u) if u.len() <= 2_000 && u.contains("://") && !u.contains(char::is_whitespace) => Ok(Some(u.to_string())),
        Some(_) => Err(AppError::validation("deliveredUrl must be a URL of at most 2,000 characters")),
    }
}

/// The post and item a body names, checked against what was read (`found`: in `to_read`'s
/// order).
fn links(post_id: Option<String>, content_id: Option<String>, found: &[Option<Item>]) -> AppResult<(Option<PostId>, Option<ContentId>)> {
    let mut found = found.iter();
    let post = post_id
        .map(|p| {
            found
                .next()
                .and_then(Option::as_ref)
                .ok_or_else(|| AppError::validation("postId: no such post in this organisation"))?;
            Ok::<_, AppError>(PostId::parse(&p, "postId")?)
        })
        .transpose()?;
    let content = content_id
        .map(|c| {
            found
                .next()
                .and_then(Option::as_ref)
                .ok_or_else(|| AppError::validation("contentId: no such content item in this organisation"))?;
            Ok::<_, AppError>(ContentId::parse(&c, "contentId")?)
        })
        .transpose()?;
    Ok((post, content))
}

pub async fn of_deal(app: &App, tenant: &TenantCtx, deal_id: &DealId) -> AppResult<Vec<Deliverable>> {
    query_all(&*app.table, Query::partition(tenant.pk()).prefix(keys::deliverable_prefix(deal_id)))
        .await?
        .into_iter()
        .map(from_item)
        .collect()
}

pub async fn create(app: &App, tenant: &TenantCtx, deal: Deal, input: NewDeliverable, found: &[Option<Item>]) -> AppResult<Deliverable> {
    let now = app.clock.now();
    let (post_id, content_id) = links(input.post_id, input.content_id, found)?;
    let status = input.status.unwrap_or(DeliverableStatus::Pending);
    let delivered_url = url(input.delivered_url.as_deref())?;
    let deliverable = Deliverable {
        id: DeliverableId::generate(),
        deal_id: deal.id.clone(),
        description: model::text("description", &input.description, 1_000)?,
        platform: input.platform,
        due_date: input.due_date,
        post_id,
        content_id,
        status,
        delivered_url,
        delivered_at: (status == DeliverableStatus::Delivered).then_some(now),
        delivered_by: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    if of_deal(app, tenant, &deal.id).await?.len() >= MAX_PER_DEAL {
        return Err(AppError::validation(format!("a deal has at most {MAX_PER_DEAL} deliverables")));
    }
    app.table.transact(deliverable.writes(tenant, 0, None)?).await?;
    if status == DeliverableStatus::Delivered {
        deal_delivered_if_done(app, tenant, &deal.id).await?;
    }
    Ok(deliverable)
}

pub async fn update(
    app: &App,
    tenant: &TenantCtx,
    mut deliverable: Deliverable,
    change: DeliverableChange,
    found: &[Option<Item>],
) -> AppResult<Deliverable> {
    if change.version != deliverable.version {
        return Err(model::stale_version("deliverable", deliverable.version));
    }
    let before = deliverable.clone();
    let (post_id, content_id) = links(change.post_id.clone().flatten(), change.content_id.clone().flatten(), found)?;
    if change.post_id.is_some() {
        deliverable.post_id = post_id;
    }
    if change.content_id.is_some() {
        deliverable.content_id = content_id;
    }
    if let Some(description) = change.description {
        deliverable.description = model::text("description", &description, 1_000)?;
    }
    if let Some(platform) = change.platform {
        deliverable.platform = platform;
    }
    if let Some(date) = change.due_date {
        deliverable.due_date = date;
    }
    if let Some(delivered_url) = change.delivered_url {
        deliverable.delivered_url = url(delivered_url.as_deref())?;
    }
    let now = app.clock.now();
    if let Some(status) = change.status {
        if status != deliverable.status {
            deliverable.delivered_at = (status == DeliverableStatus::Delivered).then_some(now);
            if status == DeliverableStatus::Pending {
                deliverable.delivered_by = None;
            }
        }
        deliverable.status = status;
    }
    deliverable.version += 1;
    deliverable.updated_at = now;
    app.table
        .transact(deliverable.writes(tenant, change.version, Some(&before))?)
        .await
        .map_err(|e| match e {
            TableError::ConditionFailed { .. } => model::stale_version("deliverable", change.version),
            other => other.into(),
        })?;
    if deliverable.status == DeliverableStatus::Delivered && before.status != DeliverableStatus::Delivered {
        deal_delivered_if_done(app, tenant, &deliverable.deal_id).await?;
    }
    Ok(deliverable)
}

pub async fn delete(app: &App, tenant: &TenantCtx, deliverable: Deliverable) -> AppResult<()> {
    let mut ops = vec![TxOp::Delete {
        key: tenant.key(keys::deliverable_sk(&deliverable.deal_id, &deliverable.id)),
        condition: Some(Condition::VersionEquals(deliverable.version)),
    }];
    ops.extend(
        deliverable
            .link_keys(tenant)
            .into_iter()
            .map(|key| TxOp::Delete { key, condition: None }),
    );
    let target = format!("deliverable:{}", deliverable.id);
    let details = serde_json::json!({"dealId": deliverable.deal_id});
    ops.push(crate::audit::entry(
        tenant,
        app.clock.now(),
        "deliverable.deleted",
        target,
        details,
    )?);
    app.table.transact(ops).await.map_err(|e| match e {
        TableError::ConditionFailed { .. } => model::stale_version("deliverable", deliverable.version),
        other => other.into(),
    })
}

/// The links of the deliverables a post names, directly or through its content item.
async fn links_of(app: &App, tenant: &TenantCtx, ids: &[&str]) -> AppResult<Vec<Link>> {
    let mut links: Vec<Link> = Vec::new();
    for id in ids {
        for item in query_all(&*app.table, Query::partition(tenant.pk()).prefix(keys::deliverable_link_prefix(id))).await? {
            let link: Link = from_item(item)?;
            if !links.iter().any(|l| l.deliverable_id == link.deliverable_id) {
                links.push(link);
            }
        }
    }
    Ok(links)
}

/// The deliverables a post names, directly or through its content item.
async fn linked_to(app: &App, tenant: &TenantCtx, ids: &[&str]) -> AppResult<Vec<Deliverable>> {
    let keys: Vec<Key> = links_of(app, tenant, ids)
        .await?
        .into_iter()
        .map(|link| tenant.key(keys::deliverable_sk(&link.deal_id, &link.deliverable_id)))
        .collect();
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    app.table.get_many(&keys).await?.into_iter().flatten().map(from_item).collect()
}

/// The deals whose deliverables a post (or its content item) belongs to: their sponsors are
/// the post's sponsors, for exclusivity. Read from the links alone.
pub async fn deals_of_post(app: &App, tenant: &TenantCtx, post_id: &str, content_id: Option<&str>) -> AppResult<Vec<DealId>> {
    let ids: Vec<&str> = std::iter::once(post_id).chain(content_id).collect();
    let mut deals: Vec<DealId> = links_of(app, tenant, &ids).await?.into_iter().map(|l| l.deal_id).collect();
    deals.sort();
    deals.dedup();
    Ok(deals)
}

/// A post went out: each pending deliverable it delivers becomes `delivered` with its URL,
/// and each deal whose deliverables are now all delivered moves on. Answers how many
/// deliverables this call delivered (none when an earlier delivery of the job did).
pub async fn post_published(
    app: &App,
    tenant: &TenantCtx,
    post_id: &PostId,
    content_id: Option<&str>,
    url: Option<&str>,
) -> AppResult<usize> {
    let ids: Vec<&str> = std::iter::once(post_id.as_str()).chain(content_id).collect();
    let now = app.clock.now();
    let mut delivered = 0;
    let mut deals: Vec<DealId> = Vec::new();
    for mut deliverable in linked_to(app, tenant, &ids).await? {
        if deliverable.status == DeliverableStatus::Delivered {
            continue;
        }
        let read = deliverable.version;
        deliverable.status = DeliverableStatus::Delivered;
        deliverable.delivered_url = url.map(str::to_string);
        deliverable.delivered_at = Some(now);
        deliverable.delivered_by = Some(post_id.clone());
        deliverable.version += 1;
        deliverable.updated_at = now;
        let deal_key = tenant.key(keys::deal_sk(&deliverable.deal_id));
        let Some(deal_item) = app.table.get(&deal_key).await? else {
            continue;
        };
        let deal = deal_from(Some(deal_item))?;
        let activity = DealActivity::new(
            &deal,
            ActivityKind::DeliverableDelivered,
            format!(
                "Delivered \"{}\" on {} by post {post_id}{}",
                deliverable.description,
                deliverable.platform.as_str(),
                url.map(|u| format!(": {u}")).unwrap_or_default()
            ),
            crate::ids::BACKGROUND_USER,
            now,
        );
        let ops = vec![
            TxOp::Put {
                item: deliverable.item(tenant)?,
                condition: Some(Condition::VersionEquals(read)),
            },
            activity.write(tenant)?,
        ];
        match app.table.transact(ops).await {
            Ok(()) => delivered += 1,
            // Delivered (or changed) by another delivery meanwhile: theirs stands.
            Err(TableError::ConditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        if !deals.contains(&deliverable.deal_id) {
            deals.push(deliverable.deal_id.clone());
        }
    }
    for deal_id in deals {
        deal_delivered_if_done(app, tenant, &deal_id).await?;
    }
    Ok(delivered)
}

/// The id of a deal's "invoice the sponsor" to-do: derived from the deal, so never two.
pub fn invoice_task_id(deal_id: &DealId) -> TaskId {
    crate::tasks::derived_id("invoice_sponsor", deal_id)
}

/// Moves a contracted or in-progress deal whose deliverables are all delivered to `delivered`,
/// with the activity, the events and the owner's to-do. Retried a few times when the deal
/// changes meanwhile.
pub async fn deal_delivered_if_done(app: &App, tenant: &TenantCtx, deal_id: &DealId) -> AppResult<bool> {
    for _ in 0..3 {
        let Some(item) = app.table.get(&tenant.key(keys::deal_sk(deal_id))).await? else {
            return Ok(false);
        };
        let mut deal = deal_from(Some(item))?;
        if !matches!(deal.stage, Stage::Contracted | Stage::InProgress) {
            return Ok(false);
        }
        let all = of_deal(app, tenant, deal_id).await?;
        if all.is_empty() || all.iter().any(|d| d.status != DeliverableStatus::Delivered) {
            return Ok(false);
        }
        let now = app.clock.now();
        let from = deal.stage;
        let read = deal.version;
        let activity = super::moved(
            &mut deal,
            Stage::Delivered,
            Some("every deliverable is delivered".into()),
            crate::ids::BACKGROUND_USER,
            now,
        );
        deal.version += 1;
        deal.updated_at = now;
        let owner = deal
            .owner_id
            .clone()
            .unwrap_or_else(|| crate::ids::UserId::read(&deal.created_by).unwrap_or_else(|_| crate::ids::UserId::background()));
        let mut todo = crate::tasks::made_by_chief(
            TaskType::InvoiceSponsor,
            now,
            &owner,
            json!({"dealId": deal.id, "title": deal.title, "value": deal.value, "currency": deal.currency, "sponsorId": deal.sponsor_id}),
        )?;
        todo.id = invoice_task_id(&deal.id);
        let deal_op = deal.write(tenant, read)?;
        let todo_op = TxOp::Put {
            item: todo.to_item(tenant.org_id())?,
            condition: Some(Condition::NotExists),
        };
        let result = app.table.transact(vec![deal_op.clone(), activity.write(tenant)?, todo_op]).await;
        let result = match result {
            // The to-do exists from an earlier delivery of this deal (brought back from lost):
            // the deal still moves, without a second one.
            Err(TableError::ConditionFailed { op: Some(2) }) => app.table.transact(vec![deal_op, activity.write(tenant)?]).await,
            other => other,
        };
        match result {
            Ok(()) => {
                emit(app, stage_events(tenant, &deal, Some(from), &activity)).await;
                return Ok(true);
            }
            Err(TableError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(super::changed_meanwhile())
}
