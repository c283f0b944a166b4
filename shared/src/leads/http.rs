use super::activities::{self, NewActivity, NewMeeting};
use super::{LeadFields, LeadFilter};
use crate::api::router::{self, RouteTable};
use crate::api::{Reply, Req};
use crate::app::App;
use crate::auth::token;
use crate::error::AppResult;
use crate::keys;
use crate::model::{self, PageOf};
use crate::orgs::Role;
use crate::orgs::access::{authorize, authorize_with};
use lambda_http::http::Method;
use serde_json::json;

#[derive(Clone, Copy)]
enum Route {
    List,
    Create,
    Read,
    Update,
    Delete,
    Activities,
    LogActivity,
    Meetings,
    PlanMeeting,
    Score,
}

const ROUTES: &RouteTable<Route> = &[
    (Method::GET, "/v1/orgs/{orgId}/leads", Route::List),
    (Method::POST, "/v1/orgs/{orgId}/leads", Route::Create),
    (Method::GET, "/v1/orgs/{orgId}/leads/{leadId}", Route::Read),
    (Method::PATCH, "/v1/orgs/{orgId}/leads/{leadId}", Route::Update),
    (Method::DELETE, "/v1/orgs/{orgId}/leads/{leadId}", Route::Delete),
    (Method::GET, "/v1/orgs/{orgId}/leads/{leadId}/activities", Route::Activities),
    (Method::POST, "/v1/orgs/{orgId}/leads/{leadId}/activities", Route::LogActivity),
    (Method::GET, "/v1/orgs/{orgId}/leads/{leadId}/meetings", Route::Meetings),
    (Method::POST, "/v1/orgs/{orgId}/leads/{leadId}/meetings", Route::PlanMeeting),
    (Method::GET, "/v1/orgs/{orgId}/leads/{leadId}/score", Route::Score),
];

/// Every lead route reads the membership and what it needs (the lead, an owner's
/// membership) in one store call.
pub async fn route(app: &App, req: Req) -> AppResult<Reply> {
    let (route, params) = router::find(ROUTES, &req.method, &req.path)?;
    let principal = token::verify(app, req.bearer_token()).await?;
    let org_id = params.get("orgId");
    let lead_id = params.get("leadId");
    if !lead_id.is_empty() {
        model::check_id(lead_id, "the lead id")?;
    }
    let lead_sk = keys::lead_sk(lead_id);
    match route {
        Route::List => {
            let filter = LeadFilter {
                status: model::enum_param("status", req.query("status"), "new, contacted, qualified, won, lost")?,
                owner_id: req.query("owner").map(str::to_string),
                tag: req.query("tag").map(str::to_lowercase),
            };
            let limit = model::page_limit(req.query("limit"))?;
            let tenant = authorize(app, &principal, org_id, Role::Member).await?;
            let (items, next_cursor) = super::list(app, &tenant, &filter, limit, req.query("cursor").map(str::to_string)).await?;
            Reply::ok(PageOf { items, next_cursor })
        }
        Route::Create => {
            let fields: LeadFields = req.json()?;
            let owner_sk = owner_sk(&fields);
            let (tenant, items) = authorize_with(app, &principal, org_id, Role::Member, &owner_sk).await?;
            let lead = super::new_lead(app, &tenant, fields, items.first().and_then(Option::as_ref))?;
            super::insert(app, &tenant, &lead).await?;
            Reply::created(lead)
        }
        Route::Read => {
            let (_, mut items) = authorize_with(app, &principal, org_id, Role::Member, &[lead_sk]).await?;
            Reply::ok(super::lead_from(items.remove(0))?)
        }
        Route::Update => {
            let fields: LeadFields = req.json()?;
            let mut also = vec![lead_sk];
            also.extend(owner_sk(&fields));
            let (tenant, mut items) = authorize_with(app, &principal, org_id, Role::Member, &also).await?;
            let lead = super::lead_from(items.remove(0))?;
            let lead = super::update(app, &tenant, lead, fields, items.first().and_then(Option::as_ref)).await?;
            Reply::ok(lead)
        }
        Route::Delete => {
            let (tenant, mut items) = authorize_with(app, &principal, org_id, Role::Member, &[lead_sk]).await?;
            let lead = super::lead_from(items.remove(0))?;
            super::delete(app, &tenant, lead).await?;
            Reply::ok(json!({"deleted": true}))
        }
        Route::Activities | Route::Meetings => {
            let limit = model::page_limit(req.query("limit"))?;
            let cursor = req.query("cursor").map(str::to_string);
            let (tenant, mut items) = authorize_with(app, &principal, org_id, Role::Member, &[lead_sk]).await?;
            super::lead_from(items.remove(0))?;
            if matches!(route, Route::Activities) {
                let (items, next_cursor) = activities::list_activities(app, &tenant, lead_id, limit, cursor).await?;
                Reply::ok(PageOf { items, next_cursor })
            } else {
                let (items, next_cursor) = activities::list_meetings(app, &tenant, lead_id, limit, cursor).await?;
                Reply::ok(PageOf { items, next_cursor })
            }
        }
        Route::LogActivity => {
            let input: NewActivity = req.json()?;
            let (tenant, mut items) = authorize_with(app, &principal, org_id, Role::Member, &[lead_sk]).await?;
            let lead = super::lead_from(items.remove(0))?;
            Reply::created(activities::log(app, &tenant, lead, input).await?)
        }
        Route::Score => {
            let (tenant, mut items) = authorize_with(app, &principal, org_id, Role::Member, &[lead_sk]).await?;
            let lead = super::lead_from(items.remove(0))?;
            Reply::ok(super::score::score_lead(app, &tenant, lead).await?)
        }
        Route::PlanMeeting => {
            let input: NewMeeting = req.json()?;
            let tenant = authorize(app, &principal, org_id, Role::Member).await?;
            Reply::created(activities::plan_meeting(app, &tenant, lead_id, input).await?)
        }
    }
}

/// The owner's membership to read alongside, when the body names an owner.
fn owner_sk(fields: &LeadFields) -> Vec<String> {
    match &fields.owner_id {
        Some(Some(owner)) if model::check_id(owner, "ownerId").is_ok() => vec![keys::member_sk(owner)],
        _ => Vec::new(),
    }
}
