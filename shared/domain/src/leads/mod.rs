//! The leads CRM: leads, the activities logged on them, and meetings.

pub mod activities;
pub mod http;
pub mod score;

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::{LeadId, UserId};
use crate::keys;
use crate::model::{self, from_item, to_item};
use crate::ports::table::{Condition, Item, Query, TableError, TxOp, delete_all, item_key, query_all};
use crate::tenancy::TenantCtx;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LeadStatus {
    #[default]
    New,
    Contacted,
    Qualified,
    Won,
    Lost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    #[default]
    Medium,
    High,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Lead {
    pub id: LeadId,
    pub name: String,
    pub email: Option<String>,
    pub company: Option<String>,
    pub title: Option<String>,
    pub source: Option<String>,
    pub status: LeadStatus,
    pub priority: Priority,
    pub tags: Vec<String>,
    pub notes: Option<String>,
    pub owner_id: Option<UserId>,
    pub value: Option<f64>,
    #[serde(default, with = "crate::clock::rfc3339::option")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub last_activity_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When someone (or the agent) means to follow up next.
    #[serde(default, with = "crate::clock::rfc3339::option")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub next_follow_up_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The last computed score, stored when it changes.
    #[serde(default)]
    pub score: Option<score::StoredScore>,
    pub created_by: String,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub version: u64,
}

/// The fields a client sets; every one optional in a patch, where `null` clears it.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LeadFields {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "model::nullable")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "model::nullable")]
    pub company: Option<Option<String>>,
    #[serde(default, deserialize_with = "model::nullable")]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "model::nullable")]
    pub source: Option<Option<String>>,
    pub status: Option<LeadStatus>,
    pub priority: Option<Priority>,
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "model::nullable")]
    pub notes: Option<Option<String>>,
    #[serde(default, deserialize_with = "model::nullable")]
    pub owner_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "model::nullable")]
    pub value: Option<Option<f64>>,
    /// When to follow up next (RFC 3339); `null` clears it.
    #[serde(default, deserialize_with = "model::nullable")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub next_follow_up_at: Option<Option<String>>,
    /// Required on update (optimistic concurrency), refused on create.
    pub version: Option<u64>,
}

impl LeadFields {
    /// Applies these fields to a lead, checking each; answers the owner id to verify, if set.
    pub fn apply(self, lead: &mut Lead) -> AppResult<Option<UserId>> {
        fn opt(field: &str, value: Option<Option<String>>, max: usize, target: &mut Option<String>) -> AppResult<()> {
            if let Some(v) = value {
                *target = model::optional_text(field, v.as_deref(), max)?;
            }
            Ok(())
        }
        if let Some(name) = self.name {
            lead.name = model::text("name", &name, 200)?;
        }
        if let Some(email) = self.email {
            lead.email = match email.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(e) => Some(model::email("email", e)?),
            };
        }
        opt("company", self.company, 200, &mut lead.company)?;
        opt("title", self.title, 200, &mut lead.title)?;
        opt("source", self.source, 100, &mut lead.source)?;
        opt("notes", self.notes, 5_000, &mut lead.notes)?;
        if let Some(status) = self.status {
            lead.status = status;
        }
        if let Some(priority) = self.priority {
            lead.priority = priority;
        }
        if let Some(tags) = self.tags {
            lead.tags = model::tags("lead", tags)?;
        }
        if let Some(value) = self.value {
            if value.is_some_and(|v| !v.is_finite() || !(0.0..=1e12).contains(&v)) {
                return Err(AppError::validation("value must be a number from 0 to 1e12"));
            }
            lead.value = value;
        }
        if let Some(next) = self.next_follow_up_at {
            lead.next_follow_up_at = next
                .map(|at| {
                    crate::clock::parse(&at).ok_or_else(|| AppError::validation("nextFollowUpAt must be a time like 2026-12-01T09:00:00Z"))
                })
                .transpose()?;
        }
        let mut new_owner = None;
        if let Some(owner) = self.owner_id {
            let owner = owner.map(|id| UserId::parse(&id, "ownerId")).transpose()?;
            new_owner.clone_from(&owner);
            lead.owner_id = owner;
        }
        Ok(new_owner)
    }
}

fn lead_item(tenant: &TenantCtx, lead: &Lead) -> AppResult<Item> {
    to_item(&tenant.pk(), &keys::lead_sk(&lead.id), lead)
}

pub fn lead_from(item: Option<Item>) -> AppResult<Lead> {
    from_item(item.ok_or(AppError::NotFound("lead"))?)
}

fn owner_must_be_member(owner: Option<&Item>, new_owner: &Option<UserId>) -> AppResult<()> {
    if new_owner.is_some() && owner.is_none() {
        return Err(AppError::validation("ownerId must be a member of the organisation"));
    }
    Ok(())
}

/// Creates a lead. `owner` is the membership item of the chosen owner, read by the caller
/// in its authorisation call.
pub fn new_lead(app: &App, tenant: &TenantCtx, fields: LeadFields, owner: Option<&Item>) -> AppResult<Lead> {
    model::creating(fields.version, &[("name", fields.name.is_some())])?;
    let now = app.clock.now();
    let mut lead = Lead {
        id: LeadId::generate(),
        name: String::new(),
        email: None,
        company: None,
        title: None,
        source: None,
        status: LeadStatus::New,
        priority: Priority::Medium,
        tags: Vec::new(),
        notes: None,
        owner_id: None,
        value: None,
        last_activity_at: None,
        next_follow_up_at: None,
        score: None,
        created_by: tenant.user_id().to_string(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let new_owner = fields.apply(&mut lead)?;
    owner_must_be_member(owner, &new_owner)?;
    Ok(lead)
}

pub async fn insert(app: &App, tenant: &TenantCtx, lead: &Lead) -> AppResult<()> {
    app.table.put(lead_item(tenant, lead)?, Some(Condition::NotExists)).await?;
    Ok(())
}

fn stale(current: u64) -> AppError {
    model::stale_version("lead", current)
}

/// Applies a patch to a lead read in the authorisation call; a stale `version` is 409.
pub async fn update(app: &App, tenant: &TenantCtx, mut lead: Lead, fields: LeadFields, owner: Option<&Item>) -> AppResult<Lead> {
    let version = model::updating(fields.version, "lead", lead.version)?;
    let new_owner = fields.apply(&mut lead)?;
    owner_must_be_member(owner, &new_owner)?;
    lead.version += 1;
    lead.updated_at = app.clock.now();
    app.table
        .put(lead_item(tenant, &lead)?, Some(Condition::VersionEquals(version)))
        .await
        .map_err(|e| match e {
            TableError::ConditionFailed { .. } => stale(version),
            other => other.into(),
        })?;
    Ok(lead)
}

/// Deletes the lead, then its activities and meetings. Asked again after a failure, it
/// finishes the clean-up of what is left.
/// Deletes a lead with its activities and meetings. That is for admins and for the lead's
/// owner (or, for a lead nobody owns, the member who created it): a member cannot wipe out
/// a colleague's pipeline.
pub async fn delete(app: &App, tenant: &TenantCtx, lead: Lead) -> AppResult<()> {
    let own = match &lead.owner_id {
        Some(owner) => owner == tenant.user_id(),
        None => lead.created_by == tenant.user_id(),
    };
    if !own {
        tenant
            .require(crate::tenancy::Role::Admin)
            .map_err(|_| AppError::Forbidden("only an admin or the lead's owner can delete a lead".into()))?;
    }
    let lead_id = &lead.id;
    let delete = TxOp::Delete {
        key: tenant.key(keys::lead_sk(lead_id)),
        condition: Some(Condition::VersionEquals(lead.version)),
    };
    let record = crate::audit::entry(
        tenant,
        app.clock.now(),
        "lead.deleted",
        format!("lead:{lead_id}"),
        serde_json::json!({"name": lead.name}),
    )?;
    app.table.transact(vec![delete, record]).await.map_err(|e| match e {
        TableError::ConditionFailed { .. } => AppError::conflict("VERSION_CONFLICT", "the lead changed meanwhile: read it again"),
        other => other.into(),
    })?;
    let mut children = Vec::new();
    for prefix in [keys::activity_prefix(lead_id), keys::meeting_prefix(lead_id)] {
        for item in query_all(&*app.table, Query::partition(tenant.pk()).prefix(prefix)).await? {
            children.push(item_key(&item)?);
        }
    }
    delete_all(&*app.table, children).await?;
    Ok(())
}

#[derive(Debug, Default)]
pub struct LeadFilter {
    pub status: Option<LeadStatus>,
    pub owner_id: Option<String>,
    pub tag: Option<String>,
}

impl LeadFilter {
    fn is_empty(&self) -> bool {
        self.status.is_none() && self.owner_id.is_none() && self.tag.is_none()
    }
    fn matches(&self, lead: &Lead) -> bool {
        self.status.is_none_or(|s| s == lead.status)
            && self
                .owner_id
                .as_ref()
                .is_none_or(|o| lead.owner_id.as_ref().is_some_and(|id| id.as_str() == o))
            && self.tag.as_ref().is_none_or(|t| lead.tags.contains(t))
    }
}

/// Newest first, filtered (see `model::newest_matching`).
pub async fn list(
    app: &App,
    tenant: &TenantCtx,
    filter: &LeadFilter,
    limit: usize,
    cursor: Option<String>,
) -> AppResult<(Vec<Lead>, Option<String>)> {
    model::newest_matching(
        &*app.table,
        tenant.pk(),
        keys::LEAD_PREFIX,
        limit,
        cursor,
        !filter.is_empty(),
        |lead| filter.matches(lead),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_follow_up_time_is_set_cleared_and_refused_when_it_is_no_time() {
        let t = crate::testing::app();
        let tenant = crate::executor::tests::org(&t, crate::usage::Plan::Pro).await;
        let fields = |json: serde_json::Value| serde_json::from_value::<LeadFields>(json).unwrap();
        let mut lead = new_lead(&t.app, &tenant, fields(serde_json::json!({"name": "Ada"})), None).unwrap();
        fields(serde_json::json!({"nextFollowUpAt": "2026-12-01T09:00:00+01:00"}))
            .apply(&mut lead)
            .unwrap();
        assert_eq!(lead.next_follow_up_at, crate::clock::parse("2026-12-01T08:00:00Z"));
        fields(serde_json::json!({"nextFollowUpAt": null})).apply(&mut lead).unwrap();
        assert_eq!(lead.next_follow_up_at, None);
        assert!(fields(serde_json::json!({"nextFollowUpAt": "next week"})).apply(&mut lead).is_err());
    }
}
