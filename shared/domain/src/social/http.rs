//! `api-social`: an org's social accounts, connecting real ones by OAuth, the platforms'
//! callback, and what the posts did there (their figures, an overview, the CSV export). Its own function because it links the platforms' HTTP clients, which the other
//! groups never call.

use super::{Callback, Connection, oauth_platform};
use crate::api::router::Params;
use crate::api::{Bare, Created, Csv, Found, Json, Reply, Req, route_group};
use crate::app::App;
use crate::content::accounts::{self, NewAccount, SocialAccount, account_from};
use crate::content::analytics::{self, Overview};
use crate::content::posts::post_from;
use crate::content::publish::PublishedRecord;
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, PostId};
use crate::keys;
use crate::model::{self, Deleted, PageOf};
use crate::ports::Port;
use crate::tenancy::{Role, authorize, authorize_with};

route_group! {
    function: "api-social", tag: "Social",
    prefixes: &[
        "/v1/orgs/{orgId}/social",
        "/v1/social",
        "/v1/orgs/{orgId}/analytics",
        "/v1/orgs/{orgId}/posts/{postId}/analytics",
    ],
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
    /// A published post's latest figures.
    GET "/v1/orgs/{orgId}/posts/{postId}/analytics" => post_analytics, errors [POST_NOT_PUBLISHED];
    /// Figures per platform over a period, beside the period before.
    GET "/v1/orgs/{orgId}/analytics/overview" => analytics_overview, query [PERIOD];
    /// One CSV row per post published between two times (default: the last 30 days).
    GET "/v1/orgs/{orgId}/analytics/export" => analytics_export, query [FROM, TO];
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

async fn post_analytics(app: &App, req: Req, params: Params) -> AppResult<Reply<PublishedRecord>> {
    let sk = keys::post_sk(&PostId::parse(params.get("postId"), "the post id")?);
    let (tenant, [post]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [sk]).await?;
    let post = post_from(post)?;
    let published = post
        .published
        .ok_or_else(|| AppError::conflict("POST_NOT_PUBLISHED", "the post has not gone out yet, so it has no figures"))?;
    let record = app.table.get(&tenant.key(keys::published_sk(&published.at, &post.id))).await?;
    Reply::ok(model::from_item(record.ok_or(AppError::NotFound("analytics of this post"))?)?)
}

async fn analytics_overview(app: &App, req: Req, params: Params) -> AppResult<Reply<Overview>> {
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Member).await?;
    Reply::ok(analytics::overview(app, &tenant, req.query("period")).await?)
}

async fn analytics_export(app: &App, req: Req, params: Params) -> AppResult<Bare<Csv>> {
    let now = app.clock.now();
    let time = |name: &str| req.query(name).map(|v| model::timestamp_param(name, v)).transpose();
    let to = time("to")?.unwrap_or(now);
    let from = time("from")?.unwrap_or(to - chrono::Duration::days(30));
    if to <= from || to - from > chrono::Duration::days(366) {
        return Err(AppError::validation("to must be after from, within 366 days"));
    }
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Member).await?;
    let records = analytics::published_between(app, &tenant, from, to).await?;
    Reply::bare(Csv(analytics::csv(&records)))
}
