use super::chat::{self, NewConversation, NewMessage};
use super::{AiConfig, ConfigChange, OrgContext};
use crate::api::router::{self, RouteTable};
use crate::api::{Reply, Req};
use crate::app::App;
use crate::auth::token;
use crate::error::{AppError, AppResult};
use crate::keys;
use crate::model::{self, PageOf, from_item};
use crate::orgs::Role;
use crate::orgs::access::{authorize, authorize_with};
use lambda_http::http::Method;

#[derive(Clone, Copy)]
enum Route {
    Config,
    ChangeConfig,
    Conversations,
    StartConversation,
    Messages,
    Send,
}

const ROUTES: &RouteTable<Route> = &[
    (Method::GET, "/v1/orgs/{orgId}/ai-config", Route::Config),
    (Method::PUT, "/v1/orgs/{orgId}/ai-config", Route::ChangeConfig),
    (Method::GET, "/v1/orgs/{orgId}/conversations", Route::Conversations),
    (Method::POST, "/v1/orgs/{orgId}/conversations", Route::StartConversation),
    (
        Method::GET,
        "/v1/orgs/{orgId}/conversations/{conversationId}/messages",
        Route::Messages,
    ),
    (
        Method::POST,
        "/v1/orgs/{orgId}/conversations/{conversationId}/messages",
        Route::Send,
    ),
];

pub async fn route(app: &App, req: Req) -> AppResult<Reply> {
    let (route, params) = router::find(ROUTES, &req.method, &req.path)?;
    let principal = token::verify(app, req.bearer_token()).await?;
    let org_id = params.get("orgId");
    let conversation_id = params.get("conversationId");
    if !conversation_id.is_empty() {
        model::check_id(conversation_id, "the conversation id")?;
    }
    let conversation_sk = keys::conversation_sk(principal.user_id(), conversation_id);
    match route {
        Route::Config => {
            let (_, mut items) = authorize_with(app, &principal, org_id, Role::Member, &[keys::AI_CONFIG_SK.into()]).await?;
            Reply::ok(AiConfig::from_stored(items.remove(0))?)
        }
        Route::ChangeConfig => {
            let change: ConfigChange = req.json()?;
            let (tenant, mut items) = authorize_with(app, &principal, org_id, Role::Admin, &[keys::AI_CONFIG_SK.into()]).await?;
            let config = AiConfig::from_stored(items.remove(0))?;
            Reply::ok(super::update_config(app, &tenant, config, change).await?)
        }
        Route::Conversations => {
            let limit = model::page_limit(req.query("limit"))?;
            let tenant = authorize(app, &principal, org_id, Role::Member).await?;
            let (items, next_cursor) = chat::list(app, &tenant, limit, req.query("cursor").map(str::to_string)).await?;
            Reply::ok(PageOf { items, next_cursor })
        }
        Route::StartConversation => {
            let input: NewConversation = if req.body.iter().all(u8::is_ascii_whitespace) {
                NewConversation { title: None }
            } else {
                req.json()?
            };
            let tenant = authorize(app, &principal, org_id, Role::Member).await?;
            Reply::created(chat::start(app, &tenant, input).await?)
        }
        Route::Messages => {
            let limit = model::page_limit(req.query("limit"))?;
            let (tenant, mut items) = authorize_with(app, &principal, org_id, Role::Member, &[conversation_sk]).await?;
            items.remove(0).ok_or(AppError::NotFound("conversation"))?;
            let (items, next_cursor) =
                chat::messages(app, &tenant, conversation_id, limit, req.query("cursor").map(str::to_string)).await?;
            Reply::ok(PageOf { items, next_cursor })
        }
        Route::Send => {
            let input: NewMessage = req.json()?;
            let now = app.clock.now();
            let mut also = vec![conversation_sk];
            also.extend(OrgContext::sort_keys(now));
            let (tenant, mut items) = authorize_with(app, &principal, org_id, Role::Member, &also).await?;
            let conversation = from_item(items.remove(0).ok_or(AppError::NotFound("conversation"))?)?;
            let org = OrgContext::from_items(items, now)?;
            let exchange = chat::send(app, &tenant, &org, conversation, input).await?;
            Reply::created(exchange)
        }
    }
}
