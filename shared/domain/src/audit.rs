//! The audit log: who did what to which record, when and from where. An entry is one more
//! write in the transaction of the change it records ([`entry`]), so a change is never
//! recorded without having happened, nor happens without its record. Entries are never
//! changed; each is kept a year (`ttl`). Details hold names, roles and ids, never a secret,
//! token or password: each call site passes only what it names here.
//!
//! Items: `AUDIT#<ulid of when>` in the org's partition, so a period is one range of keys,
//! newest first.

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::keys;
use crate::model::{from_item, to_item};
use crate::ports::table::{Condition, Query, TxOp};
use crate::tenancy::TenantCtx;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How long an entry is kept.
pub const KEPT_DAYS: i64 = 366;

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: String,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub at: DateTime<Utc>,
    /// A member's user id, `agent` or `stripe`.
    pub actor: String,
    /// What was done: `member.role_changed`, `lead.deleted`, `task.approved`…
    pub action: String,
    /// What it was done to: `<kind>:<id>` (`member:01J…`, `invitation:ada@example.com`).
    pub target: String,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub details: Value,
}

/// The write that records `action` on `target` by the tenant's actor, for the transaction of
/// the change. `details` must hold no secret.
pub fn entry(tenant: &TenantCtx, now: DateTime<Utc>, action: &str, target: String, details: Value) -> AppResult<TxOp> {
    let id = ulid::Ulid::from_parts(now.timestamp_millis().max(0) as u64, rand::random()).to_string();
    let origin = tenant.origin();
    let entry = AuditEntry {
        id: id.clone(),
        at: now,
        actor: origin.actor.clone(),
        action: action.to_string(),
        target,
        ip: origin.ip.clone(),
        request_id: origin.request_id.clone(),
        details,
    };
    let mut item = to_item(&tenant.pk(), &keys::audit_sk(&id), &entry)?;
    item.insert("ttl".into(), (now + chrono::Duration::days(KEPT_DAYS)).timestamp().into());
    Ok(TxOp::Put {
        item,
        condition: Some(Condition::NotExists),
    })
}

/// Records a change that is one write of its own (a put that was alone) with its entry.
pub async fn with_entry(app: &App, change: TxOp, record: TxOp) -> AppResult<()> {
    app.table.transact(vec![change, record]).await.map_err(Into::into)
}

/// Which entries to list.
#[derive(Debug, Default)]
pub struct Filter {
    pub action: Option<String>,
    pub actor: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// A page of entries, newest first. Filters on action and actor are applied to each page of
/// the period read, so a page may hold fewer than `limit` entries and still have a next one.
pub async fn list(
    app: &App,
    tenant: &TenantCtx,
    filter: &Filter,
    limit: usize,
    cursor: Option<String>,
) -> AppResult<(Vec<AuditEntry>, Option<String>)> {
    let bound =
        |at: DateTime<Utc>, random: u128| keys::audit_sk(&ulid::Ulid::from_parts(at.timestamp_millis().max(0) as u64, random).to_string());
    let from = filter.from.map_or_else(|| keys::audit_sk(""), |at| bound(at, 0));
    let to = filter.to.map_or_else(
        || keys::audit_sk("~"),
        |at| bound(at - chrono::Duration::milliseconds(1), u128::MAX),
    );
    let page = app
        .table
        .query(
            Query::partition(tenant.pk())
                .between(from, to)
                .descending()
                .limit(limit)
                .after(cursor),
        )
        .await?;
    let entries = page
        .items
        .into_iter()
        .map(from_item::<AuditEntry>)
        .filter(|e| {
            e.as_ref().map_or(true, |e| {
                filter
                    .action
                    .as_ref()
                    .is_none_or(|a| e.action == *a || e.action.starts_with(&format!("{a}.")))
                    && filter.actor.as_ref().is_none_or(|a| e.actor == *a)
            })
        })
        .collect::<AppResult<_>>()?;
    Ok((entries, page.cursor))
}

/// A time of the query (`from`, `to`): RFC 3339.
pub fn time(name: &str, value: Option<&str>) -> AppResult<Option<DateTime<Utc>>> {
    value
        .map(|v| crate::clock::parse(v).ok_or_else(|| AppError::validation(format!("{name} must be a time like 2026-11-27T09:00:00Z"))))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leads::LeadFields;
    use crate::testing;
    use crate::usage::Plan;

    #[tokio::test]
    async fn a_change_and_its_entry_land_together_or_not_at_all_and_the_log_filters_by_action_actor_and_time() {
        let t = testing::app();
        let tenant = crate::executor::tests::org(&t, Plan::Pro).await;
        let fields = LeadFields {
            name: Some("Ada".into()),
            ..LeadFields::default()
        };
        let lead = crate::leads::new_lead(&t.app, &tenant, fields, None).unwrap();
        crate::leads::insert(&t.app, &tenant, &lead).await.unwrap();
        let before = t.app.clock.now();
        t.clock.advance(chrono::Duration::minutes(5));
        crate::leads::delete(&t.app, &tenant, lead.clone()).await.unwrap();
        // The same delete again fails its condition: no second entry.
        assert!(crate::leads::delete(&t.app, &tenant, lead.clone()).await.is_err());
        let (app, tenant) = (&t.app, &tenant);
        let all = |filter: Filter| async move { list(app, tenant, &filter, 50, None).await.unwrap().0 };
        let entries = all(Filter::default()).await;
        let deleted: Vec<_> = entries.iter().filter(|e| e.action == "lead.deleted").collect();
        assert_eq!(deleted.len(), 1);
        assert_eq!(
            (deleted[0].actor.as_str(), deleted[0].target.clone()),
            ("agent", format!("lead:{}", lead.id))
        );
        assert_eq!(deleted[0].details["name"], "Ada");
        let family = all(Filter {
            action: Some("lead".into()),
            ..Filter::default()
        })
        .await;
        assert_eq!(family.len(), 1);
        let nobody = all(Filter {
            actor: Some("01JD3Z5Q1T6N8WQ4S0F9V7C2XA".into()),
            ..Filter::default()
        })
        .await;
        assert!(nobody.is_empty());
        let earlier = all(Filter {
            to: Some(before),
            ..Filter::default()
        })
        .await;
        assert!(earlier.iter().all(|e| e.action != "lead.deleted"));
        let later = all(Filter {
            from: Some(before),
            ..Filter::default()
        })
        .await;
        assert!(later.iter().any(|e| e.action == "lead.deleted"));
    }
}
