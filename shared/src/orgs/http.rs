use super::access::{authorize, authorize_with};
use super::{Role, invitations, members};
use crate::api::router::{self, RouteTable};
use crate::api::{Reply, Req};
use crate::app::App;
use crate::auth::token;
use crate::error::AppResult;
use crate::keys;
use crate::model::{self, nullable};
use lambda_http::http::Method;
use serde::Deserialize;
use serde_json::json;

#[derive(Clone, Copy)]
enum Route {
    Create,
    ListMine,
    Read,
    Update,
    Delete,
    Members,
    Invite,
    ChangeRole,
    RemoveMember,
    RevokeInvitation,
    Accept,
    Usage,
}

const ROUTES: &RouteTable<Route> = &[
    (Method::POST, "/v1/orgs", Route::Create),
    (Method::GET, "/v1/orgs", Route::ListMine),
    (Method::GET, "/v1/orgs/{orgId}", Route::Read),
    (Method::PATCH, "/v1/orgs/{orgId}", Route::Update),
    (Method::DELETE, "/v1/orgs/{orgId}", Route::Delete),
    (Method::GET, "/v1/orgs/{orgId}/members", Route::Members),
    (Method::POST, "/v1/orgs/{orgId}/members", Route::Invite),
    (Method::PATCH, "/v1/orgs/{orgId}/members/{userId}", Route::ChangeRole),
    (Method::DELETE, "/v1/orgs/{orgId}/members/{userId}", Route::RemoveMember),
    (Method::DELETE, "/v1/orgs/{orgId}/invitations/{email}", Route::RevokeInvitation),
    (Method::POST, "/v1/invitations/{token}/accept", Route::Accept),
    (Method::GET, "/v1/orgs/{orgId}/usage", Route::Usage),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateOrg {
    name: String,
    time_zone: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UpdateOrg {
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    time_zone: Option<Option<String>>,
    version: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteMember {
    email: String,
    role: Role,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeRole {
    role: Role,
}

pub async fn route(app: &App, req: Req) -> AppResult<Reply> {
    let (route, params) = router::find(ROUTES, &req.method, &req.path)?;
    let principal = token::verify(app, req.bearer_token()).await?;
    let org_id = params.get("orgId");
    match route {
        Route::Create => {
            let input: CreateOrg = req.json()?;
            let name = model::name("name", &input.name, 100)?;
            let tz = super::time_zone(input.time_zone.as_deref())?;
            Reply::created(super::create(app, &principal, name, tz).await?)
        }
        Route::ListMine => Reply::ok(super::list_mine(app, &principal).await?),
        Route::Read => {
            let (tenant, mut items) = authorize_with(app, &principal, org_id, Role::Member, &[keys::ORG_SK.into()]).await?;
            Reply::ok(super::OrgView {
                org: super::org_from(items.remove(0))?.as_of(app.clock.now()),
                role: tenant.role(),
            })
        }
        Route::Update => {
            let input: UpdateOrg = req.json()?;
            let name = input.name.as_deref().map(|n| model::name("name", n, 100)).transpose()?;
            let tz = input.time_zone.map(|tz| super::time_zone(tz.as_deref())).transpose()?;
            let (tenant, mut items) = authorize_with(app, &principal, org_id, Role::Admin, &[keys::ORG_SK.into()]).await?;
            let org = super::update(app, &tenant, super::org_from(items.remove(0))?, name, tz, input.version).await?;
            Reply::ok(super::OrgView {
                org: org.as_of(app.clock.now()),
                role: tenant.role(),
            })
        }
        Route::Delete => {
            let tenant = authorize(app, &principal, org_id, Role::Owner).await?;
            super::delete(app, &tenant).await?;
            Reply::ok(json!({"deleted": true}))
        }
        Route::Members => {
            let tenant = authorize(app, &principal, org_id, Role::Member).await?;
            let members = members::list(app, &tenant).await?;
            // Pending invitations are for those who can act on them.
            let invitations = if tenant.role() >= Role::Admin {
                invitations::pending(app, &tenant).await?
            } else {
                Vec::new()
            };
            Reply::ok(json!({"members": members, "invitations": invitations}))
        }
        Route::Invite => {
            let input: InviteMember = req.json()?;
            let email = model::email("email", &input.email)?;
            let also = [keys::ORG_SK.into(), keys::org_invite_sk(&email)];
            let (tenant, mut items) = authorize_with(app, &principal, org_id, Role::Admin, &also).await?;
            let org = super::org_from(items.remove(0))?;
            let previous = items.remove(0);
            Reply::created(invitations::invite(app, &tenant, &org.name, email, input.role, previous.as_ref()).await?)
        }
        Route::ChangeRole => {
            let input: ChangeRole = req.json()?;
            let tenant = authorize(app, &principal, org_id, Role::Admin).await?;
            Reply::ok(members::change_role(app, &tenant, params.get("userId"), input.role).await?)
        }
        Route::RemoveMember => {
            let tenant = authorize(app, &principal, org_id, Role::Member).await?;
            members::remove(app, &tenant, params.get("userId")).await?;
            Reply::ok(json!({"removed": true}))
        }
        Route::RevokeInvitation => {
            let email = model::email("the email in the path", params.get("email"))?;
            let also = [keys::org_invite_sk(&email)];
            let (tenant, mut items) = authorize_with(app, &principal, org_id, Role::Admin, &also).await?;
            invitations::revoke(app, &tenant, items.remove(0)).await?;
            Reply::ok(json!({"revoked": true, "email": email}))
        }
        Route::Accept => {
            let membership = invitations::accept(app, &principal, params.get("token")).await?;
            Reply::ok(membership)
        }
        Route::Usage => {
            let now = app.clock.now();
            let (_, items) = authorize_with(
                app,
                &principal,
                org_id,
                Role::Member,
                &[keys::ORG_SK.into(), keys::usage_sk(&crate::usage::month(now))],
            )
            .await?;
            let mut items = items.into_iter();
            let org = super::org_from(items.next().flatten())?;
            let usage = items.next().flatten();
            Reply::ok(crate::usage::report(org.plan_at(now), usage.as_ref(), now))
        }
    }
}
