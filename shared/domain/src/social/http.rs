//! `api-social`: an org's social accounts, connecting real ones by OAuth, and the platforms'
//! callback. Its own function because it links the platforms' HTTP clients, which the other
//! groups never call.

use super::{Callback, Connection, oauth_platform};
use crate::api::router::Params;
use crate::api::{Created, Found, Json, Reply, Req, route_group};
use crate::app::App;
use crate::content::accounts::{self, NewAccount, SocialAccount, account_from};
use crate::error::AppResult;
use crate::ids::AccountId;
use crate::keys;
use crate::model::{Deleted, PageOf};
use crate::ports::Port;
use crate::tenancy::{Role, authorize, authorize_with};

route_group! {
    function: "api-social", tag: "Social",
    prefixes: &["/v1/orgs/{orgId}/social", "/v1/social"],
    body_limit: None, ports: &[Port::Social];
    /// The org's social accounts and their health.
    GET "/v1/orgs/{orgId}/social/accounts" => list_accounts;
    /// Add a sandbox account (admin; real platforms connect by OAuth).
    POST "/v1/orgs/{orgId}/social/accounts" => create_account;
    /// Remove an account (admin); its scheduled posts become paused and its tokens are deleted.
    DELETE "/v1/orgs/{orgId}/social/accounts/{accountId}" => delete_account, errors [CONFLICT];
    /// Start connecting a real account (admin): the platform's consent page and the single-use
    /// state (10 minutes) that its callback must bring back.
    POST "/v1/orgs/{orgId}/social/connect/{platform}" => connect, errors [VALIDATION_ERROR, PLATFORM_NOT_CONFIGURED];
    /// Where the platform sends the browser back: checks and spends the state, stores the
    /// accounts, and sends the browser to the web app's social page (`?connected=` or `?error=`).
    GET "/v1/social/callback/{platform}" public => callback, query [OAUTH_CODE, OAUTH_STATE, OAUTH_ERROR],
        errors [PLATFORM_NOT_CONFIGURED];
}

async fn list_accounts(app: &App, req: Req, params: Params) -> AppResult<Reply<PageOf<SocialAccount>>> {
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Member).await?;
    Reply::ok(PageOf {
        items: accounts::list(app, &tenant).await?,
        next_cursor: None,
    })
}

async fn create_account(app: &App, req: Req<Json<NewAccount>>, params: Params) -> AppResult<Created<SocialAccount>> {
    let input = req.json()?;
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Admin).await?;
    Reply::created(accounts::create(app, &tenant, input).await?)
}

async fn delete_account(app: &App, req: Req, params: Params) -> AppResult<Reply<Deleted>> {
    let id = AccountId::parse(params.get("accountId"), "the account id")?;
    let (tenant, [account]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Admin, [keys::account_sk(&id)]).await?;
    accounts::delete(app, &tenant, account_from(account)?).await?;
    Reply::ok(Deleted::yes())
}

async fn connect(app: &App, req: Req, params: Params) -> AppResult<Created<Connection>> {
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Admin).await?;
    let platform = oauth_platform(params.get("platform"))?;
    Reply::created(super::connect(app, &tenant, platform).await?)
}

async fn callback(app: &App, req: Req, params: Params) -> AppResult<Found> {
    // No platform sends a browser to a path of one that does not exist.
    oauth_platform(params.get("platform"))?;
    let input = Callback {
        code: req.query("code").map(str::to_string),
        state: req.query("state").map(str::to_string),
        error: req.query("error").map(str::to_string),
    };
    Reply::found(super::callback(app, params.get("platform"), input).await?)
}
