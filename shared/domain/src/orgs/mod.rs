//! Organisations (the tenants), their members and roles, and invitations.

pub mod http;
pub mod invitations;
pub mod members;
pub mod notifications;

use crate::app::App;
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::ids::{OrgId, UserId};
use crate::keys;
use crate::model::{from_item, to_item};
use crate::ports::table::{Condition, Counter, Item, Key, Query, TxOp, delete_all, item_key, query_all};
use crate::tenancy::{Role, TenantCtx};
use crate::usage::Plan;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Org {
    pub id: OrgId,
    pub name: String,
    pub plan: Plan,
    /// Set while a past-due subscription is in its grace period: the plan lapses to free
    /// at this time unless a payment comes first.
    #[serde(default, with = "crate::clock::rfc3339::option", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub plan_until: Option<chrono::DateTime<chrono::Utc>>,
    pub time_zone: String,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub version: u64,
}

impl Org {
    /// The plan in force at `now`: the stored one, or free once its grace period is over.
    pub fn plan_at(&self, now: chrono::DateTime<chrono::Utc>) -> Plan {
        match self.plan_until {
            Some(until) if until <= now => Plan::Free,
            _ => self.plan,
        }
    }

    /// The org as callers see it at `now`, with a lapsed plan shown as free.
    pub fn as_of(mut self, now: chrono::DateTime<chrono::Utc>) -> Org {
        self.plan = self.plan_at(now);
        if self.plan == Plan::Free {
            self.plan_until = None;
        }
        self
    }

    pub fn to_item(&self) -> AppResult<Item> {
        let mut item = to_item(&keys::org_pk(&self.id), keys::ORG_SK, self)?;
        // The plan index lists orgs by plan for the hourly agent's fan-out.
        item.insert("planPK".into(), keys::plan_index_pk(self.plan.as_str()).into());
        item.insert("planSK".into(), keys::org_pk(&self.id).into());
        Ok(item)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    pub org_id: OrgId,
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub joined_at: chrono::DateTime<chrono::Utc>,
    pub version: u64,
}

impl Membership {
    pub fn to_item(&self) -> AppResult<Item> {
        let mut item = to_item(&keys::org_pk(&self.org_id), &keys::member_sk(&self.user_id), self)?;
        // The user index answers "my organisations".
        item.insert("userPK".into(), keys::user_index_pk(&self.user_id).into());
        item.insert("userSK".into(), keys::org_pk(&self.org_id).into());
        Ok(item)
    }
}

/// How many owners an org has, kept apart from the org item so that renames and role
/// changes never overwrite each other; it never drops below one.
/// Every org, through the plan index (the daily and six-hourly sweeps of background jobs).
pub async fn all_orgs(app: &crate::app::App) -> AppResult<Vec<Org>> {
    let mut orgs = Vec::new();
    for plan in [crate::usage::Plan::Free, crate::usage::Plan::Pro, crate::usage::Plan::Enterprise] {
        let mut cursor = None;
        loop {
            let (page, next) = orgs_on_plan(app, plan, 1_000, cursor).await?;
            orgs.extend(page);
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(orgs)
}

/// A page of the orgs on a plan, from the plan index, and the cursor of the next page (the
/// fan-outs read the index page by page).
pub async fn orgs_on_plan(
    app: &crate::app::App,
    plan: crate::usage::Plan,
    limit: usize,
    cursor: Option<String>,
) -> AppResult<(Vec<Org>, Option<String>)> {
    let query = crate::ports::table::Query::partition(keys::plan_index_pk(plan.as_str()))
        .on(crate::ports::table::Index::Plan)
        .limit(limit)
        .after(cursor);
    let page = app.table.query(query).await?;
    let orgs = page.items.into_iter().map(from_item).collect::<AppResult<_>>()?;
    Ok((orgs, page.cursor))
}

pub fn owners_key(org_id: &OrgId) -> Key {
    Key::new(keys::org_pk(org_id), "OWNERS")
}

pub fn owners_change(org_id: &OrgId, delta: i64) -> TxOp {
    TxOp::Add {
        key: owners_key(org_id),
        counter: Counter::new("count", delta).at_least(1),
    }
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgView {
    #[serde(flatten)]
    pub org: Org,
    pub role: Role,
}

/// An IANA time zone name, as the time zone database spells it (`europe/paris` is
/// `Europe/Paris`); UTC when none is given.
pub fn time_zone(value: Option<&str>) -> AppResult<String> {
    match value {
        None => Ok("UTC".into()),
        Some(tz) => jiff::tz::TimeZone::get(tz)
            .ok()
            .and_then(|tz| tz.iana_name().map(str::to_string))
            .ok_or_else(|| AppError::validation("timeZone must be an IANA time zone name, like Europe/Paris")),
    }
}

/// Creates an org on the free plan with the caller as its owner. A user creates at most
/// `orgs_per_user_day` a day and owns at most `free_orgs_per_owner` free orgs (each has its
/// own free AI quota). The second bound is read, then written: two creations at the same
/// instant may both pass it, which the daily bound still caps.
pub async fn create(app: &App, principal: &Principal, name: String, time_zone: String) -> AppResult<OrgView> {
    let user = crate::auth::user_by_id(app, principal.user_id())
        .await?
        .ok_or_else(|| AppError::Unauthorized("the account no longer exists".into()))?;
    let free_owned = list_mine(app, principal)
        .await?
        .iter()
        .filter(|view| view.role == Role::Owner && view.org.plan == Plan::Free)
        .count();
    if free_owned >= app.settings.free_orgs_per_owner {
        return Err(AppError::conflict(
            "FREE_ORG_LIMIT",
            format!("you own {free_owned} organisations on the free plan, the most one person may: upgrade one or delete one first"),
        ));
    }
    crate::ratelimit::Window::new(
        app,
        "ORGCREATE#USER",
        principal.user_id(),
        Some(app.settings.orgs_per_user_day),
        crate::ratelimit::DAY,
    )
    .take(app, "too many organisations created today: try again tomorrow")
    .await?;
    let now = app.clock.now();
    let org = Org {
        id: OrgId::generate(),
        name,
        plan: Plan::Free,
        plan_until: None,
        time_zone,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let membership = Membership {
        org_id: org.id.clone(),
        user_id: user.id,
        email: user.email,
        name: user.name,
        role: Role::Owner,
        joined_at: now,
        version: 1,
    };
    app.table
        .transact(vec![
            TxOp::Put {
                item: org.to_item()?,
                condition: Some(Condition::NotExists),
            },
            TxOp::Put {
                item: membership.to_item()?,
                condition: Some(Condition::NotExists),
            },
            owners_change(&org.id, 1),
        ])
        .await?;
    tracing::info!(org_id = %org.id, "organisation created");
    Ok(OrgView { org, role: Role::Owner })
}

pub async fn list_mine(app: &App, principal: &Principal) -> AppResult<Vec<OrgView>> {
    let page = app
        .table
        .query(
            Query::partition(keys::user_index_pk(principal.user_id()))
                .on(crate::ports::table::Index::User)
                .limit(100),
        )
        .await?;
    let memberships: Vec<Membership> = page.items.into_iter().map(from_item).collect::<AppResult<_>>()?;
    if memberships.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<Key> = memberships
        .iter()
        .map(|m| Key::new(keys::org_pk(&m.org_id), keys::ORG_SK))
        .collect();
    let orgs = app.table.get_many(&keys).await?;
    let mut views = Vec::with_capacity(memberships.len());
    for (membership, org) in memberships.into_iter().zip(orgs) {
        if let Some(org) = org {
            views.push(OrgView {
                org: from_item::<Org>(org)?.as_of(app.clock.now()),
                role: membership.role,
            });
        }
    }
    views.sort_by_key(|a| a.org.name.to_lowercase());
    Ok(views)
}

pub fn org_from(item: Option<Item>) -> AppResult<Org> {
    from_item(item.ok_or(AppError::NotFound("organisation"))?)
}

/// Renames or moves the org to another time zone; a stale `version`, when given, is 409.
pub async fn update(
    app: &App,
    tenant: &TenantCtx,
    mut org: Org,
    name: Option<String>,
    time_zone: Option<String>,
    version: Option<u64>,
) -> AppResult<Org> {
    if version.is_some_and(|v| v != org.version) {
        return Err(AppError::conflict(
            "VERSION_CONFLICT",
            format!("the organisation is at version {}: read it again", org.version),
        ));
    }
    let read_version = org.version;
    let mut changed = serde_json::Map::new();
    if let Some(name) = name {
        changed.insert("name".into(), serde_json::json!({"from": org.name, "to": name}));
        org.name = name;
    }
    if let Some(tz) = time_zone {
        changed.insert("timeZone".into(), serde_json::json!({"from": org.time_zone, "to": tz}));
        org.time_zone = tz;
    }
    org.version += 1;
    org.updated_at = app.clock.now();
    debug_assert_eq!(org.id, tenant.org_id());
    let change = TxOp::Put {
        item: org.to_item()?,
        condition: Some(Condition::VersionEquals(read_version)),
    };
    let record = crate::audit::entry(tenant, org.updated_at, "org.updated", format!("org:{}", org.id), changed.into())?;
    crate::audit::with_entry(app, change, record).await.map_err(|e| match e {
        AppError::Conflict { .. } => AppError::conflict("VERSION_CONFLICT", "the organisation changed meanwhile: read it again"),
        other => other,
    })?;
    Ok(org)
}

/// Deletes every item of the org, the invitation links it sent, and last the org itself and
/// the caller's membership (so an interrupted delete can be asked again by the same owner).
/// Billing is closed first, by the caller (`billing::close`).
pub async fn delete(app: &App, tenant: &TenantCtx) -> AppResult<()> {
    let pk = tenant.pk();
    let last = [keys::ORG_SK.to_string(), keys::member_sk(tenant.user_id())];
    let mut doomed = Vec::new();
    for item in query_all(&*app.table, Query::partition(pk.clone())).await? {
        let key = item_key(&item)?;
        if last.contains(&key.sk) {
            continue;
        }
        if let Some(hash) = item.get("tokenHash").and_then(|v| v.as_str()) {
            doomed.push(Key::new(keys::invitation_pk(hash), keys::CLAIM_SK));
        }
        doomed.push(key);
    }
    delete_all(&*app.table, doomed).await?;
    delete_all(&*app.table, last.iter().map(|sk| Key::new(pk.clone(), sk.clone())).collect()).await?;
    tracing::info!(org_id = %tenant.org_id(), "organisation deleted");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn time_zones_are_iana_names_spelled_as_the_database_does() {
        assert_eq!(super::time_zone(None).unwrap(), "UTC");
        assert_eq!(super::time_zone(Some("Europe/Paris")).unwrap(), "Europe/Paris");
        assert_eq!(super::time_zone(Some("america/new_york")).unwrap(), "America/New_York");
        for wrong in ["Mars/Olympus", "", "+02:00", "../etc/passwd"] {
            assert!(super::time_zone(Some(wrong)).is_err(), "{wrong}");
        }
    }
}
