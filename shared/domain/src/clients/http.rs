//! `api-clients`: clients, their interactions and health, health settings, surveys (with
//! the public link pages) and alerts. Each org route reads the membership and what it needs
//! in one store call; the public survey routes reach only what their link's token names.

use super::alerts::{self, Alert, AlertFilter, AlertStatus, alert_from};
use super::health::{Band, Factor, Stage, Trend};
use super::interactions::{self, Interaction, NewInteraction, TicketChange, interaction_from};
use super::recompute::{self, Cause, HealthSettings, HistoryPoint, SettingsChange, state_from};
use super::surveys::{self, Answer, LinkFor, NewLink, NewSurvey, PublicSurvey, Received, Results, Summary, Survey, survey_from};
use super::{ClientFields, ClientFilter, ClientView, client_from};
use crate::api::router::Params;
use crate::api::{Created, Json, Reply, Req, route_group};
use crate::app::App;
use crate::error::AppResult;
use crate::ids::{AlertId, ClientId, SurveyId, UserId};
use crate::keys;
use crate::model::{self, Deleted, PageOf};
use crate::orgs::org_from;
use crate::ports::Port;
use crate::ports::queue::QueueName;
use crate::tenancy::{Role, authorize, authorize_reading, authorize_with};
use serde::Serialize;

route_group! {
    function: "api-clients", tag: "Clients",
    prefixes: &[
        "/v1/orgs/{orgId}/clients",
        "/v1/orgs/{orgId}/health-settings",
        "/v1/orgs/{orgId}/surveys",
        "/v1/orgs/{orgId}/alerts",
        "/v1/surveys",
    ],
    body_limit: None, ports: &[Port::Ai, Port::Queue(QueueName::Analysis)];
    /// The org's clients with their health, newest first.
    GET "/v1/orgs/{orgId}/clients" => list, query [CLIENT_BAND, CLIENT_OWNER, CLIENT_STAGE, CLIENT_TAG, LIMIT, CURSOR];
    /// Add a client (an active one counts against the plan's bound).
    POST "/v1/orgs/{orgId}/clients" => create, errors [QUOTA_EXCEEDED, CONFLICT];
    /// Read a client and its health.
    GET "/v1/orgs/{orgId}/clients/{clientId}" => read;
    /// Change a client's fields; `version` must be the current one.
    PATCH "/v1/orgs/{orgId}/clients/{clientId}" => update, errors [VERSION_CONFLICT, QUOTA_EXCEEDED, CONFLICT];
    /// Delete a client with its interactions, history and alerts (admin or its owner).
    DELETE "/v1/orgs/{orgId}/clients/{clientId}" => delete, errors [VERSION_CONFLICT, CONFLICT];
    /// A client's interactions, newest first.
    GET "/v1/orgs/{orgId}/clients/{clientId}/interactions" => list_interactions, query [LIMIT, CURSOR];
    /// Log an interaction; the AI reads its sentiment and emotions in the background.
    POST "/v1/orgs/{orgId}/clients/{clientId}/interactions" => log_interaction, errors [CONFLICT];
    /// Open or close a ticket; the client's health follows.
    PATCH "/v1/orgs/{orgId}/clients/{clientId}/interactions/{interactionId}" => change_ticket, errors [CONFLICT];
    /// The client's health: its score, band, trend and every factor.
    GET "/v1/orgs/{orgId}/clients/{clientId}/health" => read_health;
    /// The client's health history, newest first.
    GET "/v1/orgs/{orgId}/clients/{clientId}/health/history" => health_history, query [SINCE, UNTIL, LIMIT, CURSOR];
    /// How the org scores its clients.
    GET "/v1/orgs/{orgId}/health-settings" => read_settings;
    /// Change how the org scores its clients (admin); `version` must be the current one.
    PUT "/v1/orgs/{orgId}/health-settings" => change_settings, errors [VERSION_CONFLICT, CONFLICT];
    /// Write an NPS survey (admin).
    POST "/v1/orgs/{orgId}/surveys" => create_survey;
    /// The org's surveys, newest first.
    GET "/v1/orgs/{orgId}/surveys" => list_surveys, query [LIMIT, CURSOR];
    /// Read a survey.
    GET "/v1/orgs/{orgId}/surveys/{surveyId}" => read_survey;
    /// A public link for one client to answer the survey (its token is shown once).
    POST "/v1/orgs/{orgId}/surveys/{surveyId}/links" => create_link, errors [SURVEY_EXPIRED];
    /// The survey's answers in NPS terms.
    GET "/v1/orgs/{orgId}/surveys/{surveyId}/results" => survey_results;
    /// An AI summary of the survey's comments (one AI call).
    POST "/v1/orgs/{orgId}/surveys/{surveyId}/summary" => survey_summary,
        errors [QUOTA_EXCEEDED, AI_PROVIDER_ERROR, AI_RATE_LIMITED, AI_UNAVAILABLE, AI_NOT_CONFIGURED];
    /// Alerts about clients, newest first.
    GET "/v1/orgs/{orgId}/alerts" => list_alerts, query [ALERT_STATUS, CLIENT_ID, LIMIT, CURSOR];
    /// Mark an alert seen; it stays open until resolved.
    POST "/v1/orgs/{orgId}/alerts/{alertId}/acknowledge" => acknowledge_alert, errors [ALERT_RESOLVED, VERSION_CONFLICT];
    /// Resolve an alert: a new one may be raised for its reason.
    POST "/v1/orgs/{orgId}/alerts/{alertId}/resolve" => resolve_alert, errors [ALERT_RESOLVED, VERSION_CONFLICT];
    /// A survey as its link shows it, without signing in.
    GET "/v1/surveys/{token}" public => public_survey, errors [SURVEY_EXPIRED, RATE_LIMITED];
    /// Answer a survey by its link, without signing in.
    POST "/v1/surveys/{token}/responses" public => answer_survey, errors [ALREADY_ANSWERED, SURVEY_EXPIRED, RATE_LIMITED, CONFLICT];
}

fn client_id(params: &Params) -> AppResult<ClientId> {
    Ok(ClientId::parse(params.get("clientId"), "the client id")?)
}

fn survey_id(params: &Params) -> AppResult<SurveyId> {
    Ok(SurveyId::parse(params.get("surveyId"), "the survey id")?)
}

fn alert_id(params: &Params) -> AppResult<AlertId> {
    Ok(AlertId::parse(params.get("alertId"), "the alert id")?)
}

/// The owner's membership to read alongside, when the body names an owner.
fn owner_sk(fields: &ClientFields) -> Option<String> {
    match &fields.owner_id {
        Some(Some(owner)) => UserId::parse(owner, "ownerId").ok().map(|owner| keys::member_sk(&owner)),
        _ => None,
    }
}

async fn list(app: &App, req: Req, params: Params) -> AppResult<Reply<PageOf<ClientView>>> {
    let filter = ClientFilter {
        band: model::enum_param::<Band>("band", req.query("band"), "healthy, at_risk, critical, unknown")?,
        owner_id: req.query("ownerId").map(str::to_string),
        stage: model::enum_param::<Stage>("stage", req.query("stage"), "onboarding, active, renewal, churned")?,
        tag: req.query("tag").map(str::to_lowercase),
    };
    let limit = model::page_limit(req.query("limit"))?;
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Member).await?;
    let (items, next_cursor) = super::list(app, &tenant, &filter, limit, req.query("cursor").map(str::to_string)).await?;
    Reply::ok(PageOf { items, next_cursor })
}

async fn create(app: &App, req: Req<Json<ClientFields>>, params: Params) -> AppResult<Created<ClientView>> {
    let fields = req.json()?;
    let also = [keys::ORG_SK.to_string(), keys::HEALTH_SETTINGS_SK.to_string()];
    let (tenant, [org, settings], owner) =
        authorize_reading(app, req.principal()?, params.get("orgId"), Role::Member, also, owner_sk(&fields)).await?;
    let plan = org_from(org)?.plan_at(app.clock.now());
    let settings = HealthSettings::from_stored(settings)?;
    Reply::created(super::create(app, &tenant, plan, &settings, fields, owner.as_ref()).await?)
}

async fn read(app: &App, req: Req, params: Params) -> AppResult<Reply<ClientView>> {
    let id = client_id(&params)?;
    let also = [keys::client_sk(&id), keys::client_health_sk(&id)];
    let (_, [client, state]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, also).await?;
    let client = client_from(client)?;
    let state = state_from(state, &client.id)?;
    Reply::ok(ClientView::of(client, Some(&state), app.clock.now()))
}

/// A change of the client queues its recomputation (its stage and renewal are factors).
async fn update(app: &App, req: Req<Json<ClientFields>>, params: Params) -> AppResult<Reply<ClientView>> {
    let id = client_id(&params)?;
    let fields = req.json()?;
    let also = [keys::client_sk(&id), keys::client_health_sk(&id), keys::ORG_SK.to_string()];
    let (tenant, [client, state, org], owner) =
        authorize_reading(app, req.principal()?, params.get("orgId"), Role::Member, also, owner_sk(&fields)).await?;
    let client = client_from(client)?;
    let plan = org_from(org)?.plan_at(app.clock.now());
    let client = super::update(app, &tenant, plan, client, fields, owner.as_ref()).await?;
    super::daily::queue_recompute(app, &tenant, &client.id, Cause::ClientUpdated).await;
    let state = state_from(state, &client.id)?;
    Reply::ok(ClientView::of(client, Some(&state), app.clock.now()))
}

async fn delete(app: &App, req: Req, params: Params) -> AppResult<Reply<Deleted>> {
    let id = client_id(&params)?;
    let (tenant, [client]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [keys::client_sk(&id)]).await?;
    super::delete(app, &tenant, client_from(client)?).await?;
    Reply::ok(Deleted::yes())
}

async fn list_interactions(app: &App, req: Req, params: Params) -> AppResult<Reply<PageOf<Interaction>>> {
    let id = client_id(&params)?;
    let limit = model::page_limit(req.query("limit"))?;
    let (tenant, [client]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [keys::client_sk(&id)]).await?;
    let client = client_from(client)?;
    let (items, next_cursor) = interactions::list(app, &tenant, &client.id, limit, req.query("cursor").map(str::to_string)).await?;
    Reply::ok(PageOf { items, next_cursor })
}

async fn log_interaction(app: &App, req: Req<Json<NewInteraction>>, params: Params) -> AppResult<Created<Interaction>> {
    let id = client_id(&params)?;
    let input = req.json()?;
    let also = [keys::client_sk(&id), keys::client_health_sk(&id)];
    let (tenant, [client, state]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, also).await?;
    let client = client_from(client)?;
    let state = state_from(state, &client.id)?;
    Reply::created(interactions::log(app, &tenant, &client, state, input).await?)
}

async fn change_ticket(app: &App, req: Req<Json<TicketChange>>, params: Params) -> AppResult<Reply<Interaction>> {
    let id = client_id(&params)?;
    let interaction_id = params.get("interactionId");
    crate::ids::check(interaction_id, "the interaction id")?;
    let change = req.json()?;
    let also = [
        keys::client_sk(&id),
        keys::client_health_sk(&id),
        keys::interaction_sk(&id, interaction_id),
    ];
    let (tenant, [client, state, interaction]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, also).await?;
    let client = client_from(client)?;
    let interaction = interaction_from(interaction)?;
    let state = state_from(state, &client.id)?;
    Reply::ok(interactions::change_ticket(app, &tenant, state, interaction, change).await?)
}

/// A client's health as the API explains it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthView {
    pub client_id: ClientId,
    pub score: Option<u8>,
    pub band: Band,
    pub trend: Option<Trend>,
    #[serde(with = "crate::clock::rfc3339::option")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub computed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Every factor, with its weight, value and points (the points add up to the score).
    pub factors: Vec<Factor>,
}

async fn read_health(app: &App, req: Req, params: Params) -> AppResult<Reply<HealthView>> {
    let id = client_id(&params)?;
    let also = [keys::client_sk(&id), keys::client_health_sk(&id)];
    let (_, [client, state]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, also).await?;
    let client = client_from(client)?;
    let state = state_from(state, &client.id)?;
    let summary = state.summary(app.clock.now());
    Reply::ok(HealthView {
        client_id: client.id,
        score: summary.score,
        band: summary.band,
        trend: summary.trend,
        computed_at: summary.computed_at,
        factors: state.factors,
    })
}

async fn health_history(app: &App, req: Req, params: Params) -> AppResult<Reply<PageOf<HistoryPoint>>> {
    let id = client_id(&params)?;
    let from = req.query("from").map(|v| model::timestamp_param("from", v)).transpose()?;
    let to = req.query("to").map(|v| model::timestamp_param("to", v)).transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        return Err(crate::error::AppError::validation("from must be before to"));
    }
    let limit = model::page_limit(req.query("limit"))?;
    let (tenant, [client]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [keys::client_sk(&id)]).await?;
    let client = client_from(client)?;
    let cursor = req.query("cursor").map(str::to_string);
    let (items, next_cursor) = recompute::history(app, &tenant, &client.id, from, to, limit, cursor).await?;
    Reply::ok(PageOf { items, next_cursor })
}

async fn read_settings(app: &App, req: Req, params: Params) -> AppResult<Reply<HealthSettings>> {
    let also = [keys::HEALTH_SETTINGS_SK.to_string()];
    let (_, [settings]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, also).await?;
    Reply::ok(HealthSettings::from_stored(settings)?)
}

async fn change_settings(app: &App, req: Req<Json<SettingsChange>>, params: Params) -> AppResult<Reply<HealthSettings>> {
    let change = req.json()?;
    let also = [keys::HEALTH_SETTINGS_SK.to_string()];
    let (tenant, [settings]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Admin, also).await?;
    Reply::ok(recompute::change_settings(app, &tenant, HealthSettings::from_stored(settings)?, change).await?)
}

async fn create_survey(app: &App, req: Req<Json<NewSurvey>>, params: Params) -> AppResult<Created<Survey>> {
    let input = req.json()?;
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Admin).await?;
    Reply::created(surveys::create(app, &tenant, input).await?)
}

async fn list_surveys(app: &App, req: Req, params: Params) -> AppResult<Reply<PageOf<Survey>>> {
    let limit = model::page_limit(req.query("limit"))?;
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Member).await?;
    let (items, next_cursor) = surveys::list(app, &tenant, limit, req.query("cursor").map(str::to_string)).await?;
    Reply::ok(PageOf { items, next_cursor })
}

async fn read_survey(app: &App, req: Req, params: Params) -> AppResult<Reply<Survey>> {
    let id = survey_id(&params)?;
    let (_, [survey]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [keys::survey_sk(&id)]).await?;
    Reply::ok(survey_from(survey)?)
}

async fn create_link(app: &App, req: Req<Json<LinkFor>>, params: Params) -> AppResult<Created<NewLink>> {
    let id = survey_id(&params)?;
    let input = req.json()?;
    let client = ClientId::parse(&input.client_id, "clientId")?;
    let also = [keys::survey_sk(&id), keys::client_sk(&client)];
    let (tenant, [survey, client]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, also).await?;
    let survey = survey_from(survey)?;
    let client = client
        .map(|c| client_from(Some(c)))
        .transpose()?
        .ok_or_else(|| crate::error::AppError::validation("clientId must be a client of the organisation"))?;
    Reply::created(surveys::link(app, &tenant, &survey, &client).await?)
}

async fn survey_results(app: &App, req: Req, params: Params) -> AppResult<Reply<Results>> {
    let id = survey_id(&params)?;
    let (tenant, [survey]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [keys::survey_sk(&id)]).await?;
    Reply::ok(surveys::results(app, &tenant, &survey_from(survey)?).await?)
}

async fn survey_summary(app: &App, req: Req, params: Params) -> AppResult<Reply<Summary>> {
    let id = survey_id(&params)?;
    let also = [keys::survey_sk(&id), keys::ORG_SK.to_string()];
    let (tenant, [survey, org]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, also).await?;
    let survey = survey_from(survey)?;
    let plan = org_from(org)?.plan_at(app.clock.now());
    Reply::ok(surveys::summary(app, &tenant, plan, &survey).await?)
}

async fn list_alerts(app: &App, req: Req, params: Params) -> AppResult<Reply<PageOf<Alert>>> {
    let filter = AlertFilter {
        status: model::enum_param::<AlertStatus>("status", req.query("status"), "open, acknowledged, resolved")?,
        client_id: req.query("clientId").map(str::to_string),
    };
    let limit = model::page_limit(req.query("limit"))?;
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Member).await?;
    let (items, next_cursor) = alerts::list(app, &tenant, &filter, limit, req.query("cursor").map(str::to_string)).await?;
    Reply::ok(PageOf { items, next_cursor })
}

async fn acknowledge_alert(app: &App, req: Req, params: Params) -> AppResult<Reply<Alert>> {
    let id = alert_id(&params)?;
    let (tenant, [alert]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [keys::alert_sk(&id)]).await?;
    Reply::ok(alerts::acknowledge(app, &tenant, alert_from(alert)?).await?)
}

async fn resolve_alert(app: &App, req: Req, params: Params) -> AppResult<Reply<Alert>> {
    let id = alert_id(&params)?;
    let (tenant, [alert]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [keys::alert_sk(&id)]).await?;
    Reply::ok(alerts::resolve(app, &tenant, alert_from(alert)?).await?)
}

/// Each public route allows this many requests a minute per client address.
pub const PUBLIC_PER_MINUTE: i64 = 30;

async fn throttle(app: &App, req: &Req<impl Sized>, route: &str) -> AppResult<()> {
    let address = req.source_ip.as_deref().unwrap_or("unknown");
    crate::ratelimit::Window::new(app, route, address, Some(PUBLIC_PER_MINUTE), 60)
        .take(app, "too many requests from this address: wait a minute")
        .await?;
    Ok(())
}

async fn public_survey(app: &App, req: Req, params: Params) -> AppResult<Reply<PublicSurvey>> {
    throttle(app, &req, "survey-read").await?;
    Reply::ok(surveys::public(app, params.get("token")).await?)
}

async fn answer_survey(app: &App, req: Req<Json<Answer>>, params: Params) -> AppResult<Created<Received>> {
    throttle(app, &req, "survey-answer").await?;
    let answer = req.json()?;
    Reply::created(surveys::answer(app, params.get("token"), answer).await?)
}
