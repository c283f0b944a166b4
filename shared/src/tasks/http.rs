//! api-tasks: tasks, their approval, the autonomy policy, and the agent's insights.

use super::autonomy::{Autonomy, AutonomyPolicy, PolicyChange};
use super::{NewTask, Origin, TaskFilter, TaskStatus, TaskType};
use crate::api::router::{self, RouteTable};
use crate::api::{Reply, Req};
use crate::app::App;
use crate::auth::token;
use crate::ceo::OrgContext;
use crate::error::{AppError, AppResult};
use crate::keys;
use crate::model::{self, PageOf};
use crate::orgs::access::{authorize, authorize_with};
use crate::orgs::{Org, Role};
use crate::usage;
use lambda_http::http::Method;

#[derive(Clone, Copy)]
enum Route {
    List,
    Create,
    Read,
    Cancel,
    Approve,
    Reject,
    Policy,
    ChangePolicy,
    Insights,
    Analyze,
}

const ROUTES: &RouteTable<Route> = &[
    (Method::GET, "/v1/orgs/{orgId}/tasks", Route::List),
    (Method::POST, "/v1/orgs/{orgId}/tasks", Route::Create),
    (Method::GET, "/v1/orgs/{orgId}/tasks/{taskId}", Route::Read),
    (Method::POST, "/v1/orgs/{orgId}/tasks/{taskId}/cancel", Route::Cancel),
    (Method::POST, "/v1/orgs/{orgId}/tasks/{taskId}/approve", Route::Approve),
    (Method::POST, "/v1/orgs/{orgId}/tasks/{taskId}/reject", Route::Reject),
    (Method::GET, "/v1/orgs/{orgId}/autonomy", Route::Policy),
    (Method::PUT, "/v1/orgs/{orgId}/autonomy", Route::ChangePolicy),
    (Method::GET, "/v1/orgs/{orgId}/insights", Route::Insights),
    (Method::POST, "/v1/orgs/{orgId}/agent/analyze", Route::Analyze),
];

pub async fn route(app: &App, req: Req) -> AppResult<Reply> {
    let (route, params) = router::find(ROUTES, &req.method, &req.path)?;
    let principal = token::verify(app, req.bearer_token()).await?;
    let org_id = params.get("orgId");
    let task_id = params.get("taskId");
    if !task_id.is_empty() {
        model::check_id(task_id, "the task id")?;
    }
    let task_sk = keys::task_sk(task_id);
    match route {
        Route::List => {
            let filter = TaskFilter {
                status: model::enum_param::<TaskStatus>(
                    "status",
                    req.query("status"),
                    "PENDING, IN_PROGRESS, COMPLETED, FAILED, CANCELLED",
                )?,
                kind: model::enum_param::<TaskType>("type", req.query("type"), "social_media_post, email_campaign, lead_followup")?,
            };
            let limit = model::page_limit(req.query("limit"))?;
            let tenant = authorize(app, &principal, org_id, Role::Member).await?;
            let (items, next_cursor) = super::list(app, &tenant, &filter, limit, req.query("cursor").map(str::to_string)).await?;
            Reply::ok(PageOf { items, next_cursor })
        }
        Route::Create => {
            let input: NewTask = req.json()?;
            let now = app.clock.now();
            let also = [keys::ORG_SK.into(), keys::usage_sk(&usage::month(now)), keys::AUTONOMY_SK.into()];
            let (tenant, items) = authorize_with(app, &principal, org_id, Role::Member, &also).await?;
            let [org, used, policy]: [_; 3] = items.try_into().map_err(|_| AppError::Internal("three items asked".into()))?;
            let org: Org = model::from_item(org.ok_or(AppError::NotFound("organisation"))?)?;
            let plan = org.plan_at(now);
            let mut task = super::new_task(now, tenant.user_id(), Origin::Member, input)?;
            // The policy governs what the AI writes, whoever asks for it.
            if task.kind.sends() && AutonomyPolicy::from_stored(policy)?.for_kind(task.kind) == Autonomy::Off {
                return Err(AppError::conflict(
                    "AUTONOMY_OFF",
                    format!("the autonomy policy has {} off: an admin can change it", task.kind.as_str()),
                ));
            }
            super::campaign_need(app, &tenant, &mut task).await?;
            if let Some((metric, need, left)) = task.need.shortfall(plan, used.as_ref()) {
                return Err(usage::need_exceeds(metric, need, left, plan));
            }
            super::insert(app, &tenant, plan, &task).await?;
            Reply::created(task)
        }
        Route::Read => {
            let (_, mut items) = authorize_with(app, &principal, org_id, Role::Member, &[task_sk]).await?;
            Reply::ok(super::task_from(items.remove(0))?)
        }
        Route::Cancel => {
            let (tenant, mut items) = authorize_with(app, &principal, org_id, Role::Member, &[task_sk]).await?;
            let task = super::task_from(items.remove(0))?;
            // A member cancels their own tasks; the agent's and others' take an admin.
            if task.created_by != tenant.user_id() {
                tenant.require(Role::Admin)?;
            }
            Reply::ok(super::cancel(app, &tenant, task).await?)
        }
        Route::Approve | Route::Reject => {
            let (tenant, mut items) = authorize_with(app, &principal, org_id, Role::Admin, &[task_sk]).await?;
            let task = super::task_from(items.remove(0))?;
            Reply::ok(super::decide(app, &tenant, task, matches!(route, Route::Approve)).await?)
        }
        Route::Policy => {
            let (_, mut items) = authorize_with(app, &principal, org_id, Role::Member, &[keys::AUTONOMY_SK.into()]).await?;
            Reply::ok(AutonomyPolicy::from_stored(items.remove(0))?)
        }
        Route::ChangePolicy => {
            let change: PolicyChange = req.json()?;
            let (tenant, mut items) = authorize_with(app, &principal, org_id, Role::Admin, &[keys::AUTONOMY_SK.into()]).await?;
            let policy = AutonomyPolicy::from_stored(items.remove(0))?;
            Reply::ok(super::autonomy::update(app, &tenant, policy, change).await?)
        }
        Route::Insights => {
            let limit = model::page_limit(req.query("limit"))?;
            let tenant = authorize(app, &principal, org_id, Role::Member).await?;
            let (items, next_cursor) = crate::agent::insights(app, &tenant, limit, req.query("cursor").map(str::to_string)).await?;
            Reply::ok(PageOf { items, next_cursor })
        }
        Route::Analyze => {
            let now = app.clock.now();
            let (tenant, items) = authorize_with(app, &principal, org_id, Role::Member, &OrgContext::sort_keys(now)).await?;
            let org = OrgContext::from_items(items, now)?;
            Reply::ok(crate::agent::analyze(app, &tenant, &org, crate::agent::Trigger::Member).await?)
        }
    }
}
