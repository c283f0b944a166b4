//! `api-content`: posts and their calendar, their analytics, and content items (the profile
//! and the strategies are the AI CEO's, in `api-chat`). Each route reads the membership and
//! what it needs in one store call.

use super::accounts::account_from;
use super::items::{self, ContentFields, ContentFilter, ContentItem, ContentStatus, RepurposeRequest};
use super::posts::{self, NewPost, Post, PostChange, PostStatus, post_from};
use super::strategy::{self, Versions};
use super::writer::{self, GenerateRequest, OptimizeRequest};
use crate::api::router::Params;
use crate::api::{Created, Json, Reply, Req, route_group};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, ContentId, PostId};
use crate::keys;
use crate::model::{self, Deleted, PageOf};
use crate::orgs::org_from;
use crate::platforms::Platform;
use crate::ports::Port;
use crate::ports::table::Item;
use crate::tasks::autonomy::{Autonomy, AutonomyPolicy};
use crate::tasks::context::OrgContext;
use crate::tenancy::{Role, TenantCtx, authorize, authorize_with};
use serde::{Deserialize, Serialize};

route_group! {
    function: "api-content", tag: "Content",
    prefixes: &[
        "/v1/orgs/{orgId}/posts",
        "/v1/orgs/{orgId}/calendar",
        "/v1/orgs/{orgId}/content",
    ],
    body_limit: Some(CONTENT_BODY_LIMIT), ports: &[Port::Ai];
    /// The org's posts, newest first.
    GET "/v1/orgs/{orgId}/posts" => list_posts, query [POST_STATUS, PLATFORM, FROM, TO, LIMIT, CURSOR];
    /// Write a draft post by hand.
    POST "/v1/orgs/{orgId}/posts" => create_post, errors [CONFLICT];
    /// Drafts for one platform from the active strategy (one AI call for the batch).
    POST "/v1/orgs/{orgId}/posts/generate" => generate_posts,
        errors [NO_ACTIVE_STRATEGY, QUOTA_EXCEEDED, AI_BAD_OUTPUT, AI_PROVIDER_ERROR, AI_RATE_LIMITED, AI_UNAVAILABLE, AI_NOT_CONFIGURED];
    /// Read a post.
    GET "/v1/orgs/{orgId}/posts/{postId}" => read_post;
    /// Change a post; an edit of what goes out returns it to draft and voids its approval.
    PATCH "/v1/orgs/{orgId}/posts/{postId}" => update_post, errors [VERSION_CONFLICT, POST_NOT_EDITABLE, CONFLICT];
    /// Delete a post (not while it is going out).
    DELETE "/v1/orgs/{orgId}/posts/{postId}" => delete_post, errors [POST_NOT_EDITABLE, VERSION_CONFLICT];
    /// Rewrite a post from feedback (one AI call); it is a draft again after.
    POST "/v1/orgs/{orgId}/posts/{postId}/optimize" => optimize_post,
        errors [POST_NOT_EDITABLE, VERSION_CONFLICT, QUOTA_EXCEEDED, AI_BAD_OUTPUT, AI_PROVIDER_ERROR, AI_RATE_LIMITED, AI_UNAVAILABLE, AI_NOT_CONFIGURED];
    /// Approve these exact words (admin): any later edit voids it.
    POST "/v1/orgs/{orgId}/posts/{postId}/approve" => approve_post, errors [MEDIA_REQUIRED, POST_NOT_EDITABLE, VERSION_CONFLICT, CONFLICT];
    /// Put a post on the calendar through an account at a UTC or local time.
    POST "/v1/orgs/{orgId}/posts/{postId}/schedule" => schedule_post,
        errors [MEDIA_REQUIRED, POST_NOT_APPROVED, POST_NOT_EDITABLE, ACCOUNT_NEEDS_REAUTH, QUOTA_EXCEEDED, VERSION_CONFLICT, EXCLUSIVITY_CONFLICT];
    /// Take a post off the calendar; its quota goes back.
    POST "/v1/orgs/{orgId}/posts/{postId}/unschedule" => unschedule_post, errors [POST_NOT_SCHEDULED, VERSION_CONFLICT];
    /// Queue a failed post again (admin); it holds a post of the quota again.
    POST "/v1/orgs/{orgId}/posts/{postId}/retry" => retry_post,
        errors [MEDIA_REQUIRED, POST_NOT_FAILED, ACCOUNT_NEEDS_REAUTH, QUOTA_EXCEEDED, VERSION_CONFLICT, EXCLUSIVITY_CONFLICT];
    /// Scheduled and published posts between two times, with their local times.
    GET "/v1/orgs/{orgId}/calendar" => calendar, query [FROM, TO];
    /// The org's content items, newest first.
    GET "/v1/orgs/{orgId}/content" => list_content, query [CONTENT_STATUS, PLATFORM, DATE_FROM, DATE_TO, LIMIT, CURSOR];
    /// Plan a piece: a script, article or transcript (a body of up to 100,000 characters).
    POST "/v1/orgs/{orgId}/content" => create_content;
    /// Read a content item; its status follows its posts.
    GET "/v1/orgs/{orgId}/content/{contentId}" => read_content;
    /// Change a content item; `version` must be the current one.
    PATCH "/v1/orgs/{orgId}/content/{contentId}" => update_content, errors [VERSION_CONFLICT, CONFLICT];
    /// Delete a content item (its posts stay).
    DELETE "/v1/orgs/{orgId}/content/{contentId}" => delete_content, errors [VERSION_CONFLICT];
    /// One AI call writes a draft post per platform from the item, each within its rules.
    POST "/v1/orgs/{orgId}/content/{contentId}/repurpose" => repurpose_content,
        errors [QUOTA_EXCEEDED, AI_BAD_OUTPUT, AI_PROVIDER_ERROR, AI_RATE_LIMITED, AI_UNAVAILABLE, AI_NOT_CONFIGURED];
}

/// Content routes take a transcript: bodies up to 256 KiB (the app's default is 64 KiB).
pub const CONTENT_BODY_LIMIT: usize = 256 * 1024;

/// The org's context for an AI call, and the item `also` names, with the membership.
async fn context_with<B>(
    app: &App,
    req: &Req<B>,
    params: &Params,
    role: Role,
    also: String,
) -> AppResult<(TenantCtx, OrgContext, Option<Item>)> {
    OrgContext::authorized(app, req.principal()?, params.get("orgId"), role, also).await
}

#[derive(Debug, Default)]
struct PostFilter {
    status: Option<PostStatus>,
    platform: Option<Platform>,
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
}

/// When a post sits on the calendar: when it went out, or when it is to.
fn calendar_time(post: &Post) -> Option<chrono::DateTime<chrono::Utc>> {
    post.published.as_ref().map(|p| p.at).or(post.scheduled_at)
}

impl PostFilter {
    fn read(req: &Req) -> AppResult<PostFilter> {
        let time = |name: &str| req.query(name).map(|v| model::timestamp_param(name, v)).transpose();
        Ok(PostFilter {
            status: model::enum_param("status", req.query("status"), PostStatus::NAMES)?,
            platform: req.query("platform").map(Platform::parse).transpose()?,
            from: time("from")?,
            to: time("to")?,
        })
    }

    fn is_set(&self) -> bool {
        self.status.is_some() || self.platform.is_some() || self.from.is_some() || self.to.is_some()
    }

    /// `from` and `to` bound the post's calendar time (published, else scheduled).
    fn keeps(&self, post: &Post) -> bool {
        let at = calendar_time(post);
        self.status.is_none_or(|s| s == post.status)
            && self.platform.is_none_or(|p| p == post.platform)
            && self.from.is_none_or(|from| at.is_some_and(|at| at >= from))
            && self.to.is_none_or(|to| at.is_some_and(|at| at < to))
    }
}

async fn list_posts(app: &App, req: Req, params: Params) -> AppResult<Reply<PageOf<Post>>> {
    let filter = PostFilter::read(&req)?;
    member_page(app, &req, &params, keys::POST_PREFIX, filter.is_set(), |p: &Post| filter.keeps(p)).await
}

/// A member's page of the org's models under `prefix`, newest first, those `keep` accepts.
async fn member_page<T: serde::de::DeserializeOwned + Serialize>(
    app: &App,
    req: &Req,
    params: &Params,
    prefix: &str,
    filtered: bool,
    keep: impl Fn(&T) -> bool,
) -> AppResult<Reply<PageOf<T>>> {
    let limit = model::page_limit(req.query("limit"))?;
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Member).await?;
    let cursor = req.query("cursor").map(str::to_string);
    let (items, next_cursor) = model::newest_matching(&*app.table, tenant.pk(), prefix, limit, cursor, filtered, keep).await?;
    Reply::ok(PageOf { items, next_cursor })
}

async fn create_post(app: &App, req: Req<Json<NewPost>>, params: Params) -> AppResult<Created<Post>> {
    let input = req.json()?;
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Member).await?;
    let post = posts::new_post(app.clock.now(), tenant.user_id(), input)?;
    posts::insert(app, &tenant, &post).await?;
    Reply::created(post)
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct GeneratedPosts {
    pub items: Vec<Post>,
}

async fn generate_posts(app: &App, req: Req<Json<GenerateRequest>>, params: Params) -> AppResult<Created<GeneratedPosts>> {
    let input = req.json()?;
    let (tenant, org, versions) = context_with(app, &req, &params, Role::Member, keys::STRATEGIES_SK.into()).await?;
    let versions = Versions::from_stored(versions)?;
    let Some(active) = versions.active_id.clone() else {
        return Err(AppError::conflict(
            "NO_ACTIVE_STRATEGY",
            "generate a strategy first: posts are written from the active one",
        ));
    };
    let strategy = strategy::strategy_from(app.table.get(&tenant.key(keys::strategy_sk(&active))).await?, &versions)?;
    let items = writer::generate(app, &tenant, &org, &strategy, input).await?;
    Reply::created(GeneratedPosts { items })
}

fn post_sk(params: &Params) -> AppResult<String> {
    Ok(keys::post_sk(&PostId::parse(params.get("postId"), "the post id")?))
}

async fn read_post(app: &App, req: Req, params: Params) -> AppResult<Reply<Post>> {
    let sk = post_sk(&params)?;
    let (_, [post]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [sk]).await?;
    Reply::ok(post_from(post)?)
}

async fn update_post(app: &App, req: Req<Json<PostChange>>, params: Params) -> AppResult<Reply<Post>> {
    let sk = post_sk(&params)?;
    let change = req.json()?;
    let (tenant, [post]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [sk]).await?;
    Reply::ok(posts::update(app, &tenant, post_from(post)?, change).await?)
}

async fn delete_post(app: &App, req: Req, params: Params) -> AppResult<Reply<Deleted>> {
    let sk = post_sk(&params)?;
    let (tenant, [post]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [sk]).await?;
    posts::delete(app, &tenant, post_from(post)?).await?;
    Reply::ok(Deleted::yes())
}

async fn optimize_post(app: &App, req: Req<Json<OptimizeRequest>>, params: Params) -> AppResult<Reply<Post>> {
    let sk = post_sk(&params)?;
    let input = req.json()?;
    let (tenant, org, post) = context_with(app, &req, &params, Role::Member, sk).await?;
    Reply::ok(writer::optimize(app, &tenant, &org, post_from(post)?, input).await?)
}

/// `{version}`: the version of the post that was read (approving binds to what was read).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approve {
    pub version: Option<u64>,
}

async fn approve_post(app: &App, req: Req<crate::api::Optional<Approve>>, params: Params) -> AppResult<Reply<Post>> {
    let sk = post_sk(&params)?;
    let input = req.json()?;
    let (tenant, [post]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Admin, [sk]).await?;
    let mut post = post_from(post)?;
    if let Some(version) = input.and_then(|a| a.version)
        && version != post.version
    {
        return Err(model::stale_version("post", post.version));
    }
    posts::approve_now(&mut post, tenant.user_id(), app.clock.now())?;
    let post = posts::save(app, &tenant, post, Vec::new()).await?;
    // Approving a task's post approves the task: it runs again and hands the post on.
    if let Some(task_id) = &post.task_id {
        crate::runner::approve_with_post(app, &tenant, task_id).await?;
    }
    Reply::ok(post)
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScheduleRequest {
    pub account_id: String,
    /// UTC (`2026-12-01T09:00:00Z`) or a local time in the org's zone (`2026-12-01T09:00:00`).
    pub at: String,
    /// An admin schedules a sponsored post inside another sponsor's exclusivity anyway; the
    /// post records who did.
    #[serde(default, rename = "override")]
    pub override_exclusivity: bool,
}

async fn schedule_post(app: &App, req: Req<Json<ScheduleRequest>>, params: Params) -> AppResult<Reply<Post>> {
    let sk = post_sk(&params)?;
    let input = req.json()?;
    let account_id = AccountId::parse(&input.account_id, "accountId")?;
    let also = [sk, keys::account_sk(&account_id), keys::ORG_SK.into(), keys::AUTONOMY_SK.into()];
    let (tenant, [post, account, org, policy]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, also).await?;
    let post = post_from(post)?;
    let account = account_from(account).map_err(|_| AppError::validation("accountId: no such account in this organisation"))?;
    let org = org_from(org)?;
    let at = posts::parse_at("at", &input.at, &org.time_zone)?;
    let auto = AutonomyPolicy::from_stored(policy)?.post == Autonomy::Auto;
    let plan = org.plan_at(app.clock.now());
    let override_by = if input.override_exclusivity {
        tenant
            .require(Role::Admin)
            .map_err(|_| AppError::Forbidden("only an admin can override an exclusivity".into()))?;
        Some(tenant.user_id().to_string())
    } else {
        None
    };
    Reply::ok(posts::schedule(app, &tenant, plan, post, &account, at, auto, override_by.as_deref()).await?)
}

async fn unschedule_post(app: &App, req: Req, params: Params) -> AppResult<Reply<Post>> {
    let sk = post_sk(&params)?;
    let (tenant, [post]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [sk]).await?;
    Reply::ok(posts::unschedule(app, &tenant, post_from(post)?).await?)
}

async fn retry_post(app: &App, req: Req, params: Params) -> AppResult<Reply<Post>> {
    let sk = post_sk(&params)?;
    let (tenant, [post, org]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Admin, [sk, keys::ORG_SK.into()]).await?;
    let mut post = post_from(post)?;
    if post.status != PostStatus::Failed {
        return Err(AppError::conflict("POST_NOT_FAILED", "only a failed post can be retried"));
    }
    let account_id = post
        .account_id
        .clone()
        .ok_or_else(|| AppError::validation("the post has no account: schedule it instead"))?;
    let account = account_from(app.table.get(&tenant.key(keys::account_sk(&account_id))).await?)
        .map_err(|_| AppError::validation("the post's account was removed: schedule it through another"))?;
    let org = org_from(org)?;
    let now = app.clock.now();
    post.status = PostStatus::Approved;
    post.attempts = 0;
    // The admin who retries it approves it again, if an approval no longer covers it.
    if !post.is_approved() {
        posts::approve_now(&mut post, tenant.user_id(), now)?;
    }
    Reply::ok(posts::schedule(app, &tenant, org.plan_at(now), post, &account, now, false, None).await?)
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CalendarEntry {
    #[serde(flatten)]
    pub post: Post,
    /// When it is (or was) out, in the org's time zone, without offset.
    pub local_time: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Calendar {
    pub time_zone: String,
    pub items: Vec<CalendarEntry>,
}

/// Posts an org's calendar reads at most; past it the answer says so by being cut.
const CALENDAR_READ: usize = 2_000;

async fn calendar(app: &App, req: Req, params: Params) -> AppResult<Reply<Calendar>> {
    let now = app.clock.now();
    let time = |name: &str| req.query(name).map(|v| model::timestamp_param(name, v)).transpose();
    let from = time("from")?.unwrap_or(now - chrono::Duration::days(7));
    let to = time("to")?.unwrap_or(from + chrono::Duration::days(35));
    if to <= from || to - from > chrono::Duration::days(366) {
        return Err(AppError::validation("to must be after from, within 366 days"));
    }
    let (tenant, [org]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [keys::ORG_SK.into()]).await?;
    let org = org_from(org)?;
    let page = app
        .table
        .query(
            crate::ports::table::Query::partition(tenant.pk())
                .prefix(keys::POST_PREFIX)
                .descending()
                .limit(CALENDAR_READ),
        )
        .await?;
    let mut items: Vec<CalendarEntry> = page
        .items
        .into_iter()
        .map(model::from_item::<Post>)
        .collect::<AppResult<Vec<_>>>()?
        .into_iter()
        .filter(|p| matches!(p.status, PostStatus::Scheduled | PostStatus::Publishing | PostStatus::Published))
        .filter_map(|post| {
            let at = calendar_time(&post)?;
            (at >= from && at < to).then(|| CalendarEntry {
                local_time: posts::local_time(at, &org.time_zone),
                post,
            })
        })
        .collect();
    items.sort_by_key(|e| calendar_time(&e.post));
    Reply::ok(Calendar {
        time_zone: org.time_zone,
        items,
    })
}

fn content_sk(params: &Params) -> AppResult<String> {
    Ok(keys::content_sk(&ContentId::parse(params.get("contentId"), "the content item id")?))
}

async fn list_content(app: &App, req: Req, params: Params) -> AppResult<Reply<PageOf<ContentItem>>> {
    let date = |name: &str| {
        req.query(name)
            .map(|v| {
                chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                    .map_err(|_| AppError::validation(format!("{name} must be a date like 2026-11-27")))
            })
            .transpose()
    };
    let filter = ContentFilter {
        status: model::enum_param("status", req.query("status"), ContentStatus::NAMES)?,
        platform: req.query("platform").map(Platform::parse).transpose()?,
        from: date("from")?,
        to: date("to")?,
    };
    member_page(app, &req, &params, keys::CONTENT_PREFIX, filter.is_set(), |c: &ContentItem| {
        filter.keeps(c)
    })
    .await
}

async fn create_content(app: &App, req: Req<Json<ContentFields>>, params: Params) -> AppResult<Created<ContentItem>> {
    let fields = req.json()?;
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Member).await?;
    Reply::created(items::create(app, &tenant, fields).await?)
}

async fn read_content(app: &App, req: Req, params: Params) -> AppResult<Reply<ContentItem>> {
    let sk = content_sk(&params)?;
    let (tenant, [item]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [sk]).await?;
    Reply::ok(items::fresh(app, &tenant, items::item_from(item)?).await?)
}

async fn update_content(app: &App, req: Req<Json<ContentFields>>, params: Params) -> AppResult<Reply<ContentItem>> {
    let sk = content_sk(&params)?;
    let fields = req.json()?;
    let (tenant, [item]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [sk]).await?;
    Reply::ok(items::update(app, &tenant, items::item_from(item)?, fields).await?)
}

async fn delete_content(app: &App, req: Req, params: Params) -> AppResult<Reply<Deleted>> {
    let sk = content_sk(&params)?;
    let (tenant, [item]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [sk]).await?;
    items::delete(app, &tenant, items::item_from(item)?).await?;
    Reply::ok(Deleted::yes())
}

/// The drafts a repurpose wrote, one per platform asked, in that order.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Repurposed {
    pub posts: Vec<Post>,
}

async fn repurpose_content(app: &App, req: Req<Json<RepurposeRequest>>, params: Params) -> AppResult<Created<Repurposed>> {
    let sk = content_sk(&params)?;
    let input = req.json()?;
    let (tenant, org, item) = context_with(app, &req, &params, Role::Member, sk).await?;
    let item = items::item_from(item)?;
    Reply::created(Repurposed {
        posts: items::repurpose(app, &tenant, &org, &item, input).await?,
    })
}
