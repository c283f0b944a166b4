//! `api-orgs`: organisations, members, invitations and usage.

use super::invitations::Invitation;
use super::notifications::Preferences;
use super::{Membership, OrgView, Role, invitations, members};
use crate::api::router::Params;
use crate::api::{Created, Json, Reply, Req, route_group};
use crate::app::App;
use crate::error::AppResult;
use crate::ids::UserId;
use crate::keys;
use crate::model::{self, Deleted, nullable};
use crate::ports::Port;
use crate::tasks::autonomy::{AutonomyPolicy, PolicyChange};
use crate::tenancy::{authorize, authorize_with};
use serde::{Deserialize, Serialize};

route_group! {
    function: "api-orgs", tag: "Orgs", prefixes: &["/v1/orgs", "/v1/invitations"], body_limit: None, ports: &[Port::Mailer, Port::Payments];
    /// Create an org; its creator is its owner.
    POST "/v1/orgs" => create, errors [FREE_ORG_LIMIT, RATE_LIMITED];
    /// The orgs the signed-in user belongs to, with their role in each.
    GET "/v1/orgs" => list_mine;
    /// Read an org.
    GET "/v1/orgs/{orgId}" => read;
    /// Rename an org or change its time zone (admin).
    PATCH "/v1/orgs/{orgId}" => update, errors [VERSION_CONFLICT, CONFLICT];
    /// Delete an org and everything in it, after ending its subscription (owner).
    DELETE "/v1/orgs/{orgId}" => delete, errors [PAYMENT_PROVIDER_ERROR, CONFLICT];
    /// The members, and the pending invitations for admins.
    GET "/v1/orgs/{orgId}/members" => members;
    /// Invite someone by email (admin); the invitation is mailed.
    POST "/v1/orgs/{orgId}/members" => invite, errors [ALREADY_MEMBER, RATE_LIMITED, CONFLICT];
    /// Change a member's role (admin; only an owner makes or unmakes owners).
    PATCH "/v1/orgs/{orgId}/members/{userId}" => change_role, errors [LAST_OWNER, CONFLICT];
    /// Remove a member (admin), or leave the org (any member, themselves).
    DELETE "/v1/orgs/{orgId}/members/{userId}" => remove_member, errors [LAST_OWNER, CONFLICT];
    /// Revoke a pending invitation (admin).
    DELETE "/v1/orgs/{orgId}/invitations/{email}" => revoke_invitation, errors [VALIDATION_ERROR, CONFLICT];
    /// Accept an invitation sent to the signed-in user's address.
    POST "/v1/invitations/{token}/accept" => accept, errors [FORBIDDEN, EMAIL_NOT_VERIFIED, ALREADY_MEMBER, CONFLICT];
    /// This month's usage against the plan's quotas.
    GET "/v1/orgs/{orgId}/usage" => usage;
    /// AI spend over a period (local days, `?from=&to=`, the last 30 by default, at most 90):
    /// calls, tokens and dollars in total, by day, by model, by use and by actor (admin).
    GET "/v1/orgs/{orgId}/ai-usage" => ai_usage, query [DATE_FROM, DATE_TO];
    /// The autonomy policy: what the AI may do alone, with approval, or not at all, and the
    /// agent's daily budget.
    GET "/v1/orgs/{orgId}/autonomy" => policy;
    /// Change the autonomy policy (admin).
    PUT "/v1/orgs/{orgId}/autonomy" => change_policy, errors [VERSION_CONFLICT, CONFLICT];
    /// The caller's notification preferences in the org: each kind of mail on or off.
    GET "/v1/orgs/{orgId}/notifications" => notifications;
    /// Turn kinds of mail on or off for the caller; `version` must be the one read.
    PUT "/v1/orgs/{orgId}/notifications" => change_notifications, errors [VERSION_CONFLICT, CONFLICT];
    /// The audit log, newest first (admin): who changed what, when and from where.
    GET "/v1/orgs/{orgId}/audit" => audit_log, query [AUDIT_ACTION, ACTOR_ID, SINCE, UNTIL, LIMIT, CURSOR];
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateOrg {
    name: String,
    time_zone: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UpdateOrg {
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    time_zone: Option<Option<String>>,
    version: Option<u64>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct InviteMember {
    email: String,
    role: Role,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ChangeRole {
    role: Role,
}

async fn create(app: &App, req: Req<Json<CreateOrg>>, _: Params) -> AppResult<Created<OrgView>> {
    let input = req.json()?;
    let name = model::name("name", &input.name, 100)?;
    let tz = super::time_zone(input.time_zone.as_deref())?;
    Reply::created(super::create(app, req.principal()?, name, tz).await?)
}

async fn list_mine(app: &App, req: Req, _: Params) -> AppResult<Reply<Vec<OrgView>>> {
    Reply::ok(super::list_mine(app, req.principal()?).await?)
}

async fn read(app: &App, req: Req, params: Params) -> AppResult<Reply<OrgView>> {
    let also = [keys::ORG_SK.into()];
    let (tenant, [org]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, also).await?;
    Reply::ok(super::OrgView {
        org: super::org_from(org)?.as_of(app.clock.now()),
        role: tenant.role(),
    })
}

async fn update(app: &App, req: Req<Json<UpdateOrg>>, params: Params) -> AppResult<Reply<OrgView>> {
    let input = req.json()?;
    let name = input.name.as_deref().map(|n| model::name("name", n, 100)).transpose()?;
    let tz = input.time_zone.map(|tz| super::time_zone(tz.as_deref())).transpose()?;
    let also = [keys::ORG_SK.into()];
    let (tenant, [org]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Admin, also).await?;
    let org = super::update(app, &tenant, super::org_from(org)?, name, tz, input.version).await?;
    Reply::ok(super::OrgView {
        org: org.as_of(app.clock.now()),
        role: tenant.role(),
    })
}

/// An org's people: its members, and for admins its pending invitations.
#[derive(Serialize, schemars::JsonSchema)]
struct Members {
    members: Vec<Membership>,
    invitations: Vec<Invitation>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Removed {
    removed: bool,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Revoked {
    revoked: bool,
    email: String,
}

/// The member's id from the path, checked.
fn user_id(params: &Params) -> AppResult<UserId> {
    Ok(UserId::parse(params.get("userId"), "the user id")?)
}

async fn delete(app: &App, req: Req, params: Params) -> AppResult<Reply<Deleted>> {
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Owner).await?;
    // Nothing is deleted until the org has stopped being charged: when Stripe cannot be
    // reached this answers 503 and the org stays whole.
    crate::billing::close(app, &tenant).await?;
    super::delete(app, &tenant).await?;
    Reply::ok(Deleted::yes())
}

async fn members(app: &App, req: Req, params: Params) -> AppResult<Reply<Members>> {
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Member).await?;
    let members = members::list(app, &tenant).await?;
    // Pending invitations are for those who can act on them.
    let invitations = if tenant.role() >= Role::Admin {
        invitations::pending(app, &tenant).await?
    } else {
        Vec::new()
    };
    Reply::ok(Members { members, invitations })
}

async fn invite(app: &App, req: Req<Json<InviteMember>>, params: Params) -> AppResult<Created<Invitation>> {
    let input = req.json()?;
    let email = model::email("email", &input.email)?;
    let also = [keys::ORG_SK.into(), keys::org_invite_sk(&email)];
    let (tenant, [org, previous]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Admin, also).await?;
    let org = super::org_from(org)?;
    Reply::created(invitations::invite(app, &tenant, &org.name, email, input.role, previous.as_ref()).await?)
}

async fn change_role(app: &App, req: Req<Json<ChangeRole>>, params: Params) -> AppResult<Reply<Membership>> {
    let input = req.json()?;
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Admin).await?;
    Reply::ok(members::change_role(app, &tenant, &user_id(&params)?, input.role).await?)
}

async fn remove_member(app: &App, req: Req, params: Params) -> AppResult<Reply<Removed>> {
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Member).await?;
    members::remove(app, &tenant, &user_id(&params)?).await?;
    Reply::ok(Removed { removed: true })
}

async fn revoke_invitation(app: &App, req: Req, params: Params) -> AppResult<Reply<Revoked>> {
    let email = model::email("the email in the path", params.get("email"))?;
    let also = [keys::org_invite_sk(&email)];
    let (tenant, [pending]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Admin, also).await?;
    invitations::revoke(app, &tenant, pending).await?;
    Reply::ok(Revoked { revoked: true, email })
}

async fn accept(app: &App, req: Req, params: Params) -> AppResult<Reply<Membership>> {
    Reply::ok(invitations::accept(app, req.principal()?, params.get("token")).await?)
}

async fn policy(app: &App, req: Req, params: Params) -> AppResult<Reply<AutonomyPolicy>> {
    let also = [keys::AUTONOMY_SK.into()];
    let (_, [policy]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, also).await?;
    Reply::ok(AutonomyPolicy::from_stored(policy)?)
}

async fn change_policy(app: &App, req: Req<Json<PolicyChange>>, params: Params) -> AppResult<Reply<AutonomyPolicy>> {
    let change = req.json()?;
    let also = [keys::AUTONOMY_SK.into(), keys::ORG_SK.into()];
    let (tenant, [policy, org]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Admin, also).await?;
    let policy = AutonomyPolicy::from_stored(policy)?;
    let plan = super::org_from(org)?.plan_at(app.clock.now());
    Reply::ok(crate::tasks::autonomy::update(app, &tenant, plan, policy, change).await?)
}

/// The caller's membership and their own preferences, in one store call.
async fn own_preferences<B>(app: &App, req: &Req<B>, params: &Params) -> AppResult<(crate::tenancy::TenantCtx, Preferences)> {
    let principal = req.principal()?;
    let mine = [keys::notify_sk(principal.user_id())];
    let (tenant, [stored]) = authorize_with(app, principal, params.get("orgId"), Role::Member, mine).await?;
    Ok((tenant, Preferences::from_stored(stored)?))
}

async fn notifications(app: &App, req: Req, params: Params) -> AppResult<Reply<Preferences>> {
    Reply::ok(own_preferences(app, &req, &params).await?.1)
}

async fn change_notifications(app: &App, req: Req<Json<super::notifications::Change>>, params: Params) -> AppResult<Reply<Preferences>> {
    let change = req.json()?;
    let (tenant, preferences) = own_preferences(app, &req, &params).await?;
    Reply::ok(super::notifications::change(app, &tenant, preferences, change).await?)
}

async fn audit_log(app: &App, req: Req, params: Params) -> AppResult<Reply<model::PageOf<crate::audit::AuditEntry>>> {
    let limit = model::page_limit(req.query("limit"))?;
    let filter = crate::audit::Filter {
        action: req.query("action").map(str::to_string),
        actor: req.query("actorId").map(str::to_string),
        from: crate::audit::time("from", req.query("from"))?,
        to: crate::audit::time("to", req.query("to"))?,
    };
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Admin).await?;
    let cursor = req.query("cursor").map(str::to_string);
    let (items, next_cursor) = crate::audit::list(app, &tenant, &filter, limit, cursor).await?;
    Reply::ok(model::PageOf { items, next_cursor })
}

async fn ai_usage(app: &App, req: Req, params: Params) -> AppResult<Reply<crate::usage::spend::AiUsage>> {
    let (tenant, [org]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Admin, [keys::ORG_SK.into()]).await?;
    let org = super::org_from(org)?;
    Reply::ok(crate::usage::spend::report(app, &tenant, &org.time_zone, req.query("from"), req.query("to")).await?)
}

async fn usage(app: &App, req: Req, params: Params) -> AppResult<Reply<crate::usage::UsageReport>> {
    let now = app.clock.now();
    let also = [keys::ORG_SK.into(), keys::usage_sk(&crate::usage::month(now))];
    let (_, [org, usage]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, also).await?;
    let org = super::org_from(org)?;
    Reply::ok(crate::usage::report(org.plan_at(now), usage.as_ref(), now))
}
