//! api-tasks: tasks, their approval, and the agent's insights and analysis (the autonomy policy is served by api-orgs, with the org's other settings).

use super::autonomy::{Autonomy, AutonomyPolicy};
use super::{NewTask, Origin, Task, TaskFilter, TaskStatus, TaskType};
use crate::api::router::Params;
use crate::api::{Created, Json, Reply, Req, route_group};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::TaskId;
use crate::keys;
use crate::model::{self, PageOf};
use crate::orgs::Org;
use crate::ports::Port;
use crate::tasks::context::OrgContext;
use crate::tenancy::Role;
use crate::tenancy::{authorize, authorize_with};
use crate::usage;

route_group! {
    function: "api-tasks", tag: "Tasks",
    prefixes: &["/v1/orgs/{orgId}/tasks", "/v1/orgs/{orgId}/insights", "/v1/orgs/{orgId}/agent"],
    body_limit: None, ports: &[Port::Ai, Port::Events];
    /// List the org's tasks, soonest due first.
    GET "/v1/orgs/{orgId}/tasks" => list, query [TASK_STATUS, TASK_TYPE, LIMIT, CURSOR];
    /// Schedule a task for the executor; what it will send is checked against the quotas now.
    POST "/v1/orgs/{orgId}/tasks" => create, errors [AUTONOMY_OFF, QUOTA_EXCEEDED, CONFLICT];
    /// Read a task.
    GET "/v1/orgs/{orgId}/tasks/{taskId}" => read;
    /// Cancel a pending task (its creator, or an admin).
    POST "/v1/orgs/{orgId}/tasks/{taskId}/cancel" => cancel, errors [TASK_NOT_PENDING, CONFLICT];
    /// Approve a task that waits for approval (admin).
    POST "/v1/orgs/{orgId}/tasks/{taskId}/approve" => approve, errors [MEDIA_REQUIRED, TASK_NOT_AWAITING_APPROVAL, CONFLICT];
    /// Reject a task that waits for approval (admin).
    POST "/v1/orgs/{orgId}/tasks/{taskId}/reject" => reject, errors [TASK_NOT_AWAITING_APPROVAL, CONFLICT];
    /// The agent's insights, newest first.
    GET "/v1/orgs/{orgId}/insights" => insights, query [LIMIT, CURSOR];
    /// Run the agent's analysis for the org now (one AI call).
    POST "/v1/orgs/{orgId}/agent/analyze" => analyze,
        errors [QUOTA_EXCEEDED, RATE_LIMITED, CONFLICT, AI_PROVIDER_ERROR, AI_RATE_LIMITED, AI_UNAVAILABLE, AI_NOT_CONFIGURED];
}

/// The task's id from the path, checked, and its key.
fn task_sk(params: &Params) -> AppResult<String> {
    Ok(keys::task_sk(&TaskId::parse(params.get("taskId"), "the task id")?))
}

async fn list(app: &App, req: Req, params: Params) -> AppResult<Reply<PageOf<Task>>> {
    let filter = TaskFilter {
        status: model::enum_param::<TaskStatus>("status", req.query("status"), "PENDING, IN_PROGRESS, COMPLETED, FAILED, CANCELLED")?,
        kind: model::enum_param::<TaskType>(
            "type",
            req.query("type"),
            "social_media_post, email_campaign, lead_followup, reconnect_account",
        )?,
    };
    let limit = model::page_limit(req.query("limit"))?;
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Member).await?;
    let (items, next_cursor) = super::list(app, &tenant, &filter, limit, req.query("cursor").map(str::to_string)).await?;
    Reply::ok(PageOf { items, next_cursor })
}

async fn create(app: &App, req: Req<Json<NewTask>>, params: Params) -> AppResult<Created<Task>> {
    let input = req.json()?;
    let now = app.clock.now();
    let also = [keys::ORG_SK.into(), keys::usage_sk(&usage::month(now)), keys::AUTONOMY_SK.into()];
    let (tenant, [org, used, policy]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, also).await?;
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

async fn read(app: &App, req: Req, params: Params) -> AppResult<Reply<Task>> {
    let task_sk = task_sk(&params)?;
    let (_, [task]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [task_sk]).await?;
    Reply::ok(super::task_from(task)?)
}

async fn cancel(app: &App, req: Req, params: Params) -> AppResult<Reply<Task>> {
    let task_sk = task_sk(&params)?;
    let (tenant, [task]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [task_sk]).await?;
    let task = super::task_from(task)?;
    // A member cancels their own tasks; the agent's and others' take an admin.
    if task.created_by != tenant.user_id() {
        tenant.require(Role::Admin)?;
    }
    Reply::ok(super::cancel(app, &tenant, task).await?)
}

async fn approve(app: &App, req: Req, params: Params) -> AppResult<Reply<Task>> {
    decide(app, req, params, true).await
}

async fn reject(app: &App, req: Req, params: Params) -> AppResult<Reply<Task>> {
    decide(app, req, params, false).await
}

async fn decide(app: &App, req: Req, params: Params, approve: bool) -> AppResult<Reply<Task>> {
    let task_sk = task_sk(&params)?;
    let (tenant, [task]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Admin, [task_sk]).await?;
    let task = super::task_from(task)?;
    Reply::ok(crate::runner::decide(app, &tenant, task, approve).await?)
}

async fn insights(app: &App, req: Req, params: Params) -> AppResult<Reply<PageOf<crate::agent::Insight>>> {
    let limit = model::page_limit(req.query("limit"))?;
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Member).await?;
    let (items, next_cursor) = crate::agent::insights(app, &tenant, limit, req.query("cursor").map(str::to_string)).await?;
    Reply::ok(PageOf { items, next_cursor })
}

async fn analyze(app: &App, req: Req, params: Params) -> AppResult<Reply<crate::agent::AnalysisReport>> {
    let now = app.clock.now();
    let (tenant, items) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, OrgContext::sort_keys(now)).await?;
    let org = OrgContext::from_items(items, now)?;
    Reply::ok(crate::agent::analyze(app, &tenant, &org, crate::agent::Trigger::Member).await?)
}
