//! The only way to a tenant: the verified caller must be a member of the org in the path.
//! [`TenantCtx`] has private fields and is made here alone, and every tenant repository
//! takes one, so no code path reaches an org's data on an id it did not check.

use crate::app::App;
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::ids::{OrgId, UserId};
use crate::keys;
use crate::ports::table::{Item, Key};
use serde::{Deserialize, Serialize};

/// owner (3) > admin (2) > member (1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member = 1,
    Admin = 2,
    Owner = 3,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

#[derive(Debug, Clone)]
pub struct TenantCtx {
    org_id: OrgId,
    user_id: UserId,
    role: Role,
    /// Who acts and from where, for the audit log.
    origin: Origin,
}

/// Who a change is made by, as the audit log names them: a member (with the request's client
/// address and id), `agent` (background work) or `stripe` (its webhook).
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub actor: String,
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

impl Origin {
    /// A signed-in caller, and where their request came from.
    fn of(principal: &Principal) -> Origin {
        Origin {
            actor: principal.user_id().to_string(),
            ip: principal.source_ip.clone(),
            request_id: principal.request_id.clone(),
        }
    }
}

impl TenantCtx {
    pub fn org_id(&self) -> &OrgId {
        &self.org_id
    }
    pub fn user_id(&self) -> &UserId {
        &self.user_id
    }
    pub fn role(&self) -> Role {
        self.role
    }
    pub fn origin(&self) -> &Origin {
        &self.origin
    }
    pub fn pk(&self) -> String {
        keys::org_pk(&self.org_id)
    }
    pub fn key(&self, sk: impl Into<String>) -> Key {
        Key::new(self.pk(), sk)
    }

    /// The context of a background job (executor, task runner, agent) for an org whose id it
    /// read back from the store or from the app's own queues, never from a request.
    pub(crate) fn background(org_id: &OrgId) -> TenantCtx {
        TenantCtx {
            org_id: org_id.clone(),
            user_id: UserId::background(),
            role: Role::Owner,
            origin: Origin {
                actor: crate::ids::BACKGROUND_USER.into(),
                ..Origin::default()
            },
        }
    }

    /// The context of a user who joins an org by accepting its invitation, for the record of
    /// that acceptance (written in the transaction that makes the membership).
    pub(crate) fn joined(org_id: &OrgId, principal: &Principal, role: Role) -> TenantCtx {
        TenantCtx {
            org_id: org_id.clone(),
            user_id: principal.user_id().clone(),
            role,
            origin: Origin::of(principal),
        }
    }

    /// The context of a verified Stripe event for the org whose customer it names.
    pub(crate) fn stripe(org_id: &OrgId) -> TenantCtx {
        TenantCtx {
            origin: Origin {
                actor: "stripe".into(),
                ..Origin::default()
            },
            ..TenantCtx::background(org_id)
        }
    }

    pub fn require(&self, role: Role) -> AppResult<()> {
        if self.role >= role {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!("this needs the {} role or higher", role.as_str())))
        }
    }
}

/// Checks membership and role, reading the membership and the org-partition items named by
/// `also` (sort keys) in the same store call, answered in the order asked. A non-member
/// learns nothing: 404, as if the org did not exist; a member short of the role gets 403.
pub async fn authorize_with<const N: usize>(
    app: &App,
    principal: &Principal,
    org_id: &str,
    min_role: Role,
    also: [String; N],
) -> AppResult<(TenantCtx, [Option<Item>; N])> {
    let (tenant, items, _) = authorize_reading(app, principal, org_id, min_role, also, None).await?;
    Ok((tenant, items))
}

/// As [`authorize_with`], with one more item read when `maybe` names one (an owner's
/// membership when a body names an owner, this month's usage for one view).
pub async fn authorize_reading<const N: usize>(
    app: &App,
    principal: &Principal,
    org_id: &str,
    min_role: Role,
    also: [String; N],
    maybe: Option<String>,
) -> AppResult<(TenantCtx, [Option<Item>; N], Option<Item>)> {
    let asked_maybe = maybe.is_some();
    let (tenant, items) = authorize_listed(app, principal, org_id, min_role, also.into_iter().chain(maybe).collect()).await?;
    let mut read = items.into_iter();
    let items: [Option<Item>; N] = std::array::from_fn(|_| read.next().flatten());
    let maybe = if asked_maybe { read.next().flatten() } else { None };
    Ok((tenant, items, maybe))
}

/// As [`authorize_with`], for a number of items known only at run time (the sponsor and the
/// owner a body names, say): answered in the order asked, in the same store call.
pub async fn authorize_listed(
    app: &App,
    principal: &Principal,
    org_id: &str,
    min_role: Role,
    also: Vec<String>,
) -> AppResult<(TenantCtx, Vec<Option<Item>>)> {
    let org_id = OrgId::parse(org_id, "the organisation id")?;
    let pk = keys::org_pk(&org_id);
    let member = Key::new(pk.clone(), keys::member_sk(principal.user_id()));
    // The token's session rides along: a signed-out token is refused at no extra call.
    let asked: Vec<Key> = [crate::auth::sessions::key_of(principal), member]
        .into_iter()
        .chain(also.into_iter().map(|sk| Key::new(pk.clone(), sk)))
        .collect();
    let mut read = app.table.get_many(&asked).await?.into_iter();
    crate::auth::sessions::check_read(principal, read.next().flatten(), app.clock.now())?;
    let membership = read.next().flatten().ok_or(AppError::NotFound("organisation"))?;
    let role = membership
        .get("role")
        .and_then(|r| serde_json::from_value::<Role>(r.clone()).ok())
        .ok_or_else(|| AppError::internal("membership without a role"))?;
    tracing::Span::current().record("org_id", org_id.as_str());
    let tenant = TenantCtx {
        org_id,
        user_id: principal.user_id().clone(),
        role,
        origin: Origin::of(principal),
    };
    tenant.require(min_role)?;
    Ok((tenant, read.collect()))
}

/// The context of a user proven not by a token but by a single-use secret that an authorised
/// call of theirs made and bound to the org (an OAuth `state`): their membership and role
/// are checked again now, as a token's would be.
pub async fn authorize_member(app: &App, org_id: &OrgId, user_id: &UserId, min_role: Role) -> AppResult<TenantCtx> {
    let membership = app
        .table
        .get(&Key::new(keys::org_pk(org_id), keys::member_sk(user_id)))
        .await?
        .ok_or(AppError::NotFound("organisation"))?;
    let role = membership
        .get("role")
        .and_then(|r| serde_json::from_value::<Role>(r.clone()).ok())
        .ok_or_else(|| AppError::internal("membership without a role"))?;
    let tenant = TenantCtx {
        org_id: org_id.clone(),
        user_id: user_id.clone(),
        role,
        origin: Origin {
            actor: user_id.to_string(),
            ..Origin::default()
        },
    };
    tenant.require(min_role)?;
    Ok(tenant)
}

pub async fn authorize(app: &App, principal: &Principal, org_id: &str, min_role: Role) -> AppResult<TenantCtx> {
    Ok(authorize_with(app, principal, org_id, min_role, []).await?.0)
}
