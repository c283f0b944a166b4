//! `api-leads`: leads, their activities, meetings and score. Every lead route reads the
//! membership and what it needs (the lead, an owner's membership) in one store call.

use super::activities::{self, Activity, Meeting, NewActivity, NewMeeting};
use super::score::LeadScore;
use super::{Lead, LeadFields, LeadFilter};
use crate::api::router::Params;
use crate::api::{Created, Json, Reply, Req, route_group};
use crate::app::App;
use crate::error::AppResult;
use crate::ids::LeadId;
use crate::ids::UserId;
use crate::keys;
use crate::model::{self, Deleted, PageOf};
use crate::ports::Port;
use crate::tenancy::Role;
use crate::tenancy::{authorize, authorize_reading, authorize_with};

route_group! {
    function: "api-leads", tag: "Leads", prefixes: &["/v1/orgs/{orgId}/leads"], body_limit: None, ports: &[Port::Events];
    /// List the org's leads, newest first, a page at a time.
    GET "/v1/orgs/{orgId}/leads" => list, query [LEAD_STATUS, OWNER, TAG, LIMIT, CURSOR];
    /// Add a lead (spends one lead of the plan's monthly quota).
    POST "/v1/orgs/{orgId}/leads" => create, errors [QUOTA_EXCEEDED];
    /// Read a lead.
    GET "/v1/orgs/{orgId}/leads/{leadId}" => read;
    /// Change a lead's fields; `version` must be the current one.
    PATCH "/v1/orgs/{orgId}/leads/{leadId}" => update, errors [VERSION_CONFLICT, CONFLICT];
    /// Delete a lead with its activities and meetings.
    DELETE "/v1/orgs/{orgId}/leads/{leadId}" => delete, errors [CONFLICT];
    /// List a lead's activities, newest first.
    GET "/v1/orgs/{orgId}/leads/{leadId}/activities" => list_activities, query [LIMIT, CURSOR];
    /// Log an activity (a call, an email, a note…) on a lead.
    POST "/v1/orgs/{orgId}/leads/{leadId}/activities" => log_activity, errors [CONFLICT];
    /// List a lead's meetings.
    GET "/v1/orgs/{orgId}/leads/{leadId}/meetings" => list_meetings, query [LIMIT, CURSOR];
    /// Plan a meeting with a lead.
    POST "/v1/orgs/{orgId}/leads/{leadId}/meetings" => plan_meeting, errors [CONFLICT];
    /// The lead's score, with the factors that make it.
    GET "/v1/orgs/{orgId}/leads/{leadId}/score" => score, errors [CONFLICT];
}

/// The lead's id from the path, checked.
fn lead_id(params: &Params) -> AppResult<LeadId> {
    Ok(LeadId::parse(params.get("leadId"), "the lead id")?)
}

/// The lead's key, from its checked id in the path.
fn lead_sk(params: &Params) -> AppResult<String> {
    Ok(keys::lead_sk(&lead_id(params)?))
}

async fn list(app: &App, req: Req, params: Params) -> AppResult<Reply<PageOf<Lead>>> {
    let filter = LeadFilter {
        status: model::enum_param("status", req.query("status"), "new, contacted, qualified, won, lost")?,
        owner_id: req.query("owner").map(str::to_string),
        tag: req.query("tag").map(str::to_lowercase),
    };
    let limit = model::page_limit(req.query("limit"))?;
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Member).await?;
    let (items, next_cursor) = super::list(app, &tenant, &filter, limit, req.query("cursor").map(str::to_string)).await?;
    Reply::ok(PageOf { items, next_cursor })
}

async fn create(app: &App, req: Req<Json<LeadFields>>, params: Params) -> AppResult<Created<Lead>> {
    let fields = req.json()?;
    let owner_sk = owner_sk(&fields);
    let (tenant, [], owner) = authorize_reading(app, req.principal()?, params.get("orgId"), Role::Member, [], owner_sk).await?;
    let lead = super::new_lead(app, &tenant, fields, owner.as_ref())?;
    super::insert(app, &tenant, &lead).await?;
    Reply::created(lead)
}

async fn read(app: &App, req: Req, params: Params) -> AppResult<Reply<Lead>> {
    let lead_sk = lead_sk(&params)?;
    let (_, [lead]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [lead_sk]).await?;
    Reply::ok(super::lead_from(lead)?)
}

async fn update(app: &App, req: Req<Json<LeadFields>>, params: Params) -> AppResult<Reply<Lead>> {
    let lead_sk = lead_sk(&params)?;
    let fields = req.json()?;
    let owner_sk = owner_sk(&fields);
    let (tenant, [lead], owner) = authorize_reading(app, req.principal()?, params.get("orgId"), Role::Member, [lead_sk], owner_sk).await?;
    let lead = super::update(app, &tenant, super::lead_from(lead)?, fields, owner.as_ref()).await?;
    Reply::ok(lead)
}

async fn delete(app: &App, req: Req, params: Params) -> AppResult<Reply<Deleted>> {
    let lead_sk = lead_sk(&params)?;
    let (tenant, [lead]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [lead_sk]).await?;
    let lead = super::lead_from(lead)?;
    super::delete(app, &tenant, lead).await?;
    Reply::ok(Deleted::yes())
}

async fn list_activities(app: &App, req: Req, params: Params) -> AppResult<Reply<PageOf<Activity>>> {
    let lead_sk = lead_sk(&params)?;
    let limit = model::page_limit(req.query("limit"))?;
    let (tenant, [lead]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [lead_sk]).await?;
    let lead = super::lead_from(lead)?;
    let cursor = req.query("cursor").map(str::to_string);
    let (items, next_cursor) = activities::list_activities(app, &tenant, &lead.id, limit, cursor).await?;
    Reply::ok(PageOf { items, next_cursor })
}

async fn list_meetings(app: &App, req: Req, params: Params) -> AppResult<Reply<PageOf<Meeting>>> {
    let lead_sk = lead_sk(&params)?;
    let limit = model::page_limit(req.query("limit"))?;
    let (tenant, [lead]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [lead_sk]).await?;
    let lead = super::lead_from(lead)?;
    let cursor = req.query("cursor").map(str::to_string);
    let (items, next_cursor) = activities::list_meetings(app, &tenant, &lead.id, limit, cursor).await?;
    Reply::ok(PageOf { items, next_cursor })
}

async fn log_activity(app: &App, req: Req<Json<NewActivity>>, params: Params) -> AppResult<Created<Activity>> {
    let lead_sk = lead_sk(&params)?;
    let input = req.json()?;
    let (tenant, [lead]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [lead_sk]).await?;
    let lead = super::lead_from(lead)?;
    Reply::created(activities::log(app, &tenant, lead, input).await?)
}

async fn plan_meeting(app: &App, req: Req<Json<NewMeeting>>, params: Params) -> AppResult<Created<Meeting>> {
    let lead_id = lead_id(&params)?;
    let input = req.json()?;
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Member).await?;
    Reply::created(activities::plan_meeting(app, &tenant, &lead_id, input).await?)
}

async fn score(app: &App, req: Req, params: Params) -> AppResult<Reply<LeadScore>> {
    let lead_sk = lead_sk(&params)?;
    let (tenant, [lead]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [lead_sk]).await?;
    let lead = super::lead_from(lead)?;
    Reply::ok(super::score::score_lead(app, &tenant, lead).await?)
}

/// The owner's membership to read alongside, when the body names an owner.
fn owner_sk(fields: &LeadFields) -> Option<String> {
    match &fields.owner_id {
        Some(Some(owner)) => UserId::parse(owner, "ownerId").ok().map(|owner| keys::member_sk(&owner)),
        _ => None,
    }
}
