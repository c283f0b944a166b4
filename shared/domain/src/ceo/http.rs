//! `api-chat`: the AI CEO: its config, the business profile it knows and the strategies it
//! writes, and the members' conversations with it.

use super::chat::{self, NewConversation, NewMessage};
use crate::ai_config::{self, AiConfig, ConfigChange};
use crate::api::router::Params;
use crate::api::{Created, Json, Optional, Reply, Req, route_group};
use crate::app::App;
use crate::content::strategy::{self, Strategy, Versions};
use crate::error::{AppError, AppResult};
use crate::ids::StrategyId;
use crate::keys;
use crate::model::{self, PageOf, from_item};
use crate::ports::Port;
use crate::profile::{self, BusinessProfile, ProfileChange};
use crate::tasks::context::OrgContext;
use crate::tenancy::{Role, TenantCtx, authorize, authorize_with};

route_group! {
    function: "api-chat", tag: "Chat",
    prefixes: &[
        "/v1/orgs/{orgId}/ai-config",
        "/v1/orgs/{orgId}/conversations",
        "/v1/orgs/{orgId}/profile",
        "/v1/orgs/{orgId}/strategies",
    ],
    body_limit: None, ports: &[Port::Ai];
    /// The AI CEO's config: its persona and what it knows of the business.
    GET "/v1/orgs/{orgId}/ai-config" => config;
    /// Change the AI CEO's config (admin).
    PUT "/v1/orgs/{orgId}/ai-config" => change_config, errors [VERSION_CONFLICT, CONFLICT];
    /// The signed-in member's conversations with the AI CEO, newest first.
    GET "/v1/orgs/{orgId}/conversations" => conversations, query [LIMIT, CURSOR];
    /// Start a conversation; the body (a title) may be left out.
    POST "/v1/orgs/{orgId}/conversations" => start_conversation;
    /// A conversation's messages, oldest first.
    GET "/v1/orgs/{orgId}/conversations/{conversationId}/messages" => messages, query [LIMIT, CURSOR];
    /// Send a message; answers the AI CEO's reply (one AI call).
    POST "/v1/orgs/{orgId}/conversations/{conversationId}/messages" => send,
        errors [QUOTA_EXCEEDED, CONFLICT, AI_PROVIDER_ERROR, AI_RATE_LIMITED, AI_UNAVAILABLE, AI_NOT_CONFIGURED];
    /// The business profile: who the org is, whom it serves, its goals and tone.
    GET "/v1/orgs/{orgId}/profile" => read_profile;
    /// Replace the business profile (admin); `version` must be the current one.
    PUT "/v1/orgs/{orgId}/profile" => change_profile, errors [VERSION_CONFLICT];
    /// Ask the strategy model for a new strategy version (admin; one AI call).
    POST "/v1/orgs/{orgId}/strategies/generate" => generate_strategy,
        errors [QUOTA_EXCEEDED, CONFLICT, AI_BAD_OUTPUT, AI_PROVIDER_ERROR, AI_RATE_LIMITED, AI_UNAVAILABLE, AI_NOT_CONFIGURED];
    /// The strategy versions, newest first.
    GET "/v1/orgs/{orgId}/strategies" => list_strategies, query [LIMIT, CURSOR];
    /// The active strategy (404 until one exists).
    GET "/v1/orgs/{orgId}/strategies/active" => active_strategy;
    /// Read a strategy version.
    GET "/v1/orgs/{orgId}/strategies/{strategyId}" => read_strategy;
    /// Make a version the active strategy (admin).
    POST "/v1/orgs/{orgId}/strategies/{strategyId}/activate" => activate_strategy, errors [CONFLICT];
}

/// The caller's conversation of the path: a conversation belongs to the member who started it.
fn conversation_sk<B>(req: &Req<B>, params: &Params) -> AppResult<String> {
    let id = params.get("conversationId");
    crate::ids::check(id, "the conversation id")?;
    Ok(keys::conversation_sk(req.principal()?.user_id(), id))
}

async fn config(app: &App, req: Req, params: Params) -> AppResult<Reply<AiConfig>> {
    let also = profile::KEYS.map(String::from);
    let (_, items) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, also).await?;
    let (_, config, business) = profile::read(items)?;
    Reply::ok(AiConfig::from_stored(config.as_ref(), &business)?)
}

async fn change_config(app: &App, req: Req<Json<ConfigChange>>, params: Params) -> AppResult<Reply<AiConfig>> {
    let change = req.json()?;
    let also = profile::KEYS.map(String::from);
    let (tenant, items) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Admin, also).await?;
    let (_, config, business) = profile::read(items)?;
    Reply::ok(ai_config::update(app, &tenant, config, business, change).await?)
}

async fn conversations(app: &App, req: Req, params: Params) -> AppResult<Reply<PageOf<chat::Conversation>>> {
    let limit = model::page_limit(req.query("limit"))?;
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Member).await?;
    let (items, next_cursor) = chat::list(app, &tenant, limit, req.query("cursor").map(str::to_string)).await?;
    Reply::ok(PageOf { items, next_cursor })
}

async fn start_conversation(app: &App, req: Req<Optional<NewConversation>>, params: Params) -> AppResult<Created<chat::Conversation>> {
    let input = req.json()?.unwrap_or(NewConversation { title: None });
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Member).await?;
    Reply::created(chat::start(app, &tenant, input).await?)
}

async fn messages(app: &App, req: Req, params: Params) -> AppResult<Reply<PageOf<chat::ChatMessage>>> {
    let conversation_sk = conversation_sk(&req, &params)?;
    let limit = model::page_limit(req.query("limit"))?;
    let (tenant, [conversation]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [conversation_sk]).await?;
    conversation.ok_or(AppError::NotFound("conversation"))?;
    let cursor = req.query("cursor").map(str::to_string);
    let (items, next_cursor) = chat::messages(app, &tenant, params.get("conversationId"), limit, cursor).await?;
    Reply::ok(PageOf { items, next_cursor })
}

async fn send(app: &App, req: Req<Json<NewMessage>>, params: Params) -> AppResult<Created<chat::Exchange>> {
    let conversation_sk = conversation_sk(&req, &params)?;
    let input = req.json()?;
    let now = app.clock.now();
    let [org, config, policy, usage, profile] = OrgContext::sort_keys(now);
    let also = [conversation_sk, org, config, policy, usage, profile];
    let (tenant, [conversation, org, config, policy, usage, profile]) =
        authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, also).await?;
    let conversation = from_item(conversation.ok_or(AppError::NotFound("conversation"))?)?;
    let org = OrgContext::from_items([org, config, policy, usage, profile], now)?;
    Reply::created(chat::send(app, &tenant, &org, conversation, input).await?)
}

async fn read_profile(app: &App, req: Req, params: Params) -> AppResult<Reply<BusinessProfile>> {
    let also = profile::KEYS.map(String::from);
    let (_, items) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, also).await?;
    Reply::ok(profile::read(items)?.2)
}

async fn change_profile(app: &App, req: Req<Json<ProfileChange>>, params: Params) -> AppResult<Reply<BusinessProfile>> {
    let change = req.json()?;
    let also = profile::KEYS.map(String::from);
    let (tenant, items) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Admin, also).await?;
    let (org, config, current) = profile::read(items)?;
    Reply::ok(profile::update(app, &tenant, org, config.as_ref(), current, change).await?)
}

async fn generate_strategy(app: &App, req: Req, params: Params) -> AppResult<Created<Strategy>> {
    let (tenant, org, versions) =
        OrgContext::authorized(app, req.principal()?, params.get("orgId"), Role::Admin, keys::STRATEGIES_SK.into()).await?;
    Reply::created(strategy::generate(app, &tenant, &org, Versions::from_stored(versions)?).await?)
}

/// A member's view of the org's strategy versions, read with the membership.
async fn versions_of(app: &App, req: &Req, params: &Params) -> AppResult<(TenantCtx, Versions)> {
    let also = [keys::STRATEGIES_SK.into()];
    let (tenant, [versions]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, also).await?;
    Ok((tenant, Versions::from_stored(versions)?))
}

async fn list_strategies(app: &App, req: Req, params: Params) -> AppResult<Reply<PageOf<Strategy>>> {
    let limit = model::page_limit(req.query("limit"))?;
    let (tenant, versions) = versions_of(app, &req, &params).await?;
    let cursor = req.query("cursor").map(str::to_string);
    let (mut items, next_cursor) =
        model::newest_first::<Strategy>(&*app.table, tenant.pk(), keys::STRATEGY_PREFIX.into(), limit, cursor).await?;
    for s in &mut items {
        s.active = versions.active_id.as_ref() == Some(&s.id);
    }
    Reply::ok(PageOf { items, next_cursor })
}

fn strategy_sk(params: &Params) -> AppResult<String> {
    Ok(keys::strategy_sk(&StrategyId::parse(params.get("strategyId"), "the strategy id")?))
}

async fn active_strategy(app: &App, req: Req, params: Params) -> AppResult<Reply<Strategy>> {
    let (tenant, versions) = versions_of(app, &req, &params).await?;
    let id = versions.active_id.clone().ok_or(AppError::NotFound("active strategy"))?;
    let item = app.table.get(&tenant.key(keys::strategy_sk(&id))).await?;
    Reply::ok(strategy::strategy_from(item, &versions)?)
}

/// The strategy the path names, with the org's versions, read with the membership.
async fn strategy_in_path(app: &App, req: &Req, params: &Params, role: Role) -> AppResult<(TenantCtx, Strategy, Versions)> {
    let also = [keys::STRATEGIES_SK.into(), strategy_sk(params)?];
    let (tenant, [versions, item]) = authorize_with(app, req.principal()?, params.get("orgId"), role, also).await?;
    let versions = Versions::from_stored(versions)?;
    let found = strategy::strategy_from(item, &versions)?;
    Ok((tenant, found, versions))
}

async fn read_strategy(app: &App, req: Req, params: Params) -> AppResult<Reply<Strategy>> {
    let (_, found, _) = strategy_in_path(app, &req, &params, Role::Member).await?;
    Reply::ok(found)
}

async fn activate_strategy(app: &App, req: Req, params: Params) -> AppResult<Reply<Strategy>> {
    let (tenant, found, versions) = strategy_in_path(app, &req, &params, Role::Admin).await?;
    Reply::ok(strategy::activate(app, &tenant, found, versions).await?)
}
