//! Members and their roles. An admin manages members and admins; only an owner touches an
//! owner or makes one; anyone may leave; the last owner may neither leave nor step down.

use super::{Membership, Role, owners_change};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::UserId;
use crate::keys;
use crate::model::from_item;
use crate::ports::table::{Condition, Query, TableError, TxOp, query_all};
use crate::tenancy::TenantCtx;

pub async fn list(app: &App, tenant: &TenantCtx) -> AppResult<Vec<Membership>> {
    query_all(&*app.table, Query::partition(tenant.pk()).prefix(keys::MEMBER_PREFIX))
        .await?
        .into_iter()
        .map(from_item)
        .collect()
}

/// Where a notice about something a member owns goes: that member's address while they are
/// a member, else the org's owners'.
pub async fn notice_to(app: &App, tenant: &TenantCtx, owner: Option<&str>) -> AppResult<Vec<String>> {
    if let Some(owner) = owner.map(UserId::read).transpose()?
        && let Some(item) = app.table.get(&tenant.key(keys::member_sk(&owner))).await?
    {
        let member: Membership = from_item(item)?;
        return Ok(vec![member.email]);
    }
    Ok(list(app, tenant)
        .await?
        .into_iter()
        .filter(|m| m.role == Role::Owner)
        .map(|m| m.email)
        .collect())
}

async fn target(app: &App, tenant: &TenantCtx, user_id: &UserId) -> AppResult<Membership> {
    let item = app
        .table
        .get(&tenant.key(keys::member_sk(user_id)))
        .await?
        .ok_or(AppError::NotFound("member"))?;
    from_item(item)
}

fn last_owner() -> AppError {
    AppError::conflict(
        "LAST_OWNER",
        "an organisation keeps at least one owner: make another member owner first",
    )
}

fn owner_failure(err: TableError, owners_op: Option<usize>) -> AppError {
    match err {
        TableError::ConditionFailed { op } if op.is_some() && op == owners_op => last_owner(),
        TableError::ConditionFailed { .. } => AppError::conflict("VERSION_CONFLICT", "the member changed meanwhile: read it again"),
        other => other.into(),
    }
}

pub async fn change_role(app: &App, tenant: &TenantCtx, user_id: &UserId, role: Role) -> AppResult<Membership> {
    tenant.require(Role::Admin)?;
    let mut member = target(app, tenant, user_id).await?;
    if member.role == Role::Owner || role == Role::Owner {
        tenant.require(Role::Owner)?;
    }
    if member.role == role {
        return Ok(member);
    }
    let read_version = member.version;
    let owners_delta = match (member.role, role) {
        (Role::Owner, _) => -1,
        (_, Role::Owner) => 1,
        _ => 0,
    };
    let details = serde_json::json!({"from": member.role, "to": role});
    member.role = role;
    member.version += 1;
    let mut ops = vec![TxOp::Put {
        item: member.to_item()?,
        condition: Some(Condition::VersionEquals(read_version)),
    }];
    if owners_delta != 0 {
        ops.push(owners_change(tenant.org_id(), owners_delta));
    }
    let owners_op = (owners_delta != 0).then_some(1);
    ops.push(crate::audit::entry(
        tenant,
        app.clock.now(),
        "member.role_changed",
        format!("member:{user_id}"),
        details,
    )?);
    app.table.transact(ops).await.map_err(|e| owner_failure(e, owners_op))?;
    Ok(member)
}

pub async fn remove(app: &App, tenant: &TenantCtx, user_id: &UserId) -> AppResult<()> {
    let member = target(app, tenant, user_id).await?;
    if user_id != tenant.user_id() {
        tenant.require(Role::Admin)?;
        if member.role == Role::Owner {
            tenant.require(Role::Owner)?;
        }
    }
    let mut ops = vec![TxOp::Delete {
        key: tenant.key(keys::member_sk(user_id)),
        condition: Some(Condition::VersionEquals(member.version)),
    }];
    let owners_op = (member.role == Role::Owner).then(|| {
        ops.push(owners_change(tenant.org_id(), -1));
        1
    });
    let action = if user_id == tenant.user_id() {
        "member.left"
    } else {
        "member.removed"
    };
    let details = serde_json::json!({"role": member.role, "email": member.email});
    ops.push(crate::audit::entry(
        tenant,
        app.clock.now(),
        action,
        format!("member:{user_id}"),
        details,
    )?);
    app.table.transact(ops).await.map_err(|e| owner_failure(e, owners_op))?;
    tracing::info!(org_id = %tenant.org_id(), "member removed");
    Ok(())
}
