//! `api-chat`: the AI CEO's config and the members' conversations with it.

use super::chat::{self, NewConversation, NewMessage};
use crate::ai_config::{self, AiConfig, ConfigChange};
use crate::api::router::Params;
use crate::api::{Created, Json, Optional, Reply, Req, route_group};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::keys;
use crate::model::{self, PageOf, from_item};
use crate::ports::Port;
use crate::profile;
use crate::tasks::context::OrgContext;
use crate::tenancy::Role;
use crate::tenancy::{authorize, authorize_with};

route_group! {
    function: "api-chat", tag: "Chat", prefixes: &["/v1/orgs/{orgId}/ai-config", "/v1/orgs/{orgId}/conversations"],
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
