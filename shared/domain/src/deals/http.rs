//! `api-deals`: sponsors, deals and their stages, activities, deliverables and follow-ups, and
//! the pipeline view. Each route reads the membership and what it needs (the deal, the sponsor
//! and owner a body names) in one store call.

use super::deliverables::{self, Deliverable, DeliverableChange, NewDeliverable, deliverable_from};
use super::pipeline::{self, Pipeline};
use super::{Deal, DealActivity, DealFields, DealFilter, Sponsor, SponsorFields, StageChange, deal_from, sponsor_from};
use crate::api::router::Params;
use crate::api::{Created, Json, Reply, Req, route_group};
use crate::app::App;
use crate::error::AppResult;
use crate::ids::{DealId, DeliverableId, SponsorId};
use crate::keys;
use crate::model::{self, Deleted, PageOf};
use crate::ports::Port;
use crate::tasks::Task;
use crate::tasks::context::OrgContext;
use crate::tenancy::{Role, TenantCtx, authorize, authorize_listed, authorize_with};

route_group! {
    function: "api-deals", tag: "Deals",
    prefixes: &["/v1/orgs/{orgId}/sponsors", "/v1/orgs/{orgId}/deals"],
    body_limit: None, ports: &[Port::Ai, Port::Events];
    /// The org's sponsors, newest first.
    GET "/v1/orgs/{orgId}/sponsors" => list_sponsors, query [LIMIT, CURSOR];
    /// Add a sponsor.
    POST "/v1/orgs/{orgId}/sponsors" => create_sponsor;
    /// Read a sponsor.
    GET "/v1/orgs/{orgId}/sponsors/{sponsorId}" => read_sponsor;
    /// Change a sponsor; `version` must be the current one.
    PATCH "/v1/orgs/{orgId}/sponsors/{sponsorId}" => update_sponsor, errors [VERSION_CONFLICT, CONFLICT];
    /// Delete a sponsor without deals (admin).
    DELETE "/v1/orgs/{orgId}/sponsors/{sponsorId}" => delete_sponsor, errors [VERSION_CONFLICT, CONFLICT];
    /// The org's deals, newest first.
    GET "/v1/orgs/{orgId}/deals" => list_deals, query [DEAL_STAGE, SPONSOR_ID, DEAL_OWNER, LIMIT, CURSOR];
    /// Open a deal with a sponsor.
    POST "/v1/orgs/{orgId}/deals" => create_deal, errors [CONFLICT];
    /// Per stage, the deals in it now and their value per currency; the win rate of a period.
    GET "/v1/orgs/{orgId}/deals/pipeline" => deal_pipeline, query [DATE_FROM, DATE_TO];
    /// Read a deal.
    GET "/v1/orgs/{orgId}/deals/{dealId}" => read_deal;
    /// Change a deal's fields (its stage moves by `…/stage`); `version` must be the current one.
    PATCH "/v1/orgs/{orgId}/deals/{dealId}" => update_deal, errors [VERSION_CONFLICT, CONFLICT];
    /// Delete a deal with its activities and deliverables (admin, its owner or its creator).
    DELETE "/v1/orgs/{orgId}/deals/{dealId}" => delete_deal, errors [VERSION_CONFLICT, CONFLICT];
    /// Move a deal to another stage (forward; lost with a reason).
    POST "/v1/orgs/{orgId}/deals/{dealId}/stage" => change_stage, errors [INVALID_STAGE_CHANGE, VERSION_CONFLICT, CONFLICT];
    /// The deal's activities, newest first.
    GET "/v1/orgs/{orgId}/deals/{dealId}/activities" => list_activities, query [LIMIT, CURSOR];
    /// The deal's deliverables.
    GET "/v1/orgs/{orgId}/deals/{dealId}/deliverables" => list_deliverables;
    /// Add a deliverable, optionally naming the post or content item that delivers it.
    POST "/v1/orgs/{orgId}/deals/{dealId}/deliverables" => create_deliverable, errors [CONFLICT];
    /// Change a deliverable; `version` must be the current one.
    PATCH "/v1/orgs/{orgId}/deals/{dealId}/deliverables/{deliverableId}" => update_deliverable, errors [VERSION_CONFLICT, CONFLICT];
    /// Delete a deliverable.
    DELETE "/v1/orgs/{orgId}/deals/{dealId}/deliverables/{deliverableId}" => delete_deliverable, errors [VERSION_CONFLICT];
    /// Have the AI write a follow-up to the sponsor's first contact (one AI call); it waits
    /// as a task for an admin to approve.
    POST "/v1/orgs/{orgId}/deals/{dealId}/follow-up" => draft_follow_up,
        errors [QUOTA_EXCEEDED, CONFLICT, AI_PROVIDER_ERROR, AI_RATE_LIMITED, AI_UNAVAILABLE, AI_NOT_CONFIGURED];
}

fn sponsor_sk(params: &Params) -> AppResult<String> {
    Ok(keys::sponsor_sk(&SponsorId::parse(params.get("sponsorId"), "the sponsor id")?))
}

fn deal_sk(params: &Params) -> AppResult<String> {
    Ok(keys::deal_sk(&DealId::parse(params.get("dealId"), "the deal id")?))
}

fn deliverable_sk(params: &Params) -> AppResult<String> {
    let deal = DealId::parse(params.get("dealId"), "the deal id")?;
    let id = DeliverableId::parse(params.get("deliverableId"), "the deliverable id")?;
    Ok(keys::deliverable_sk(&deal, &id))
}

async fn list_sponsors(app: &App, req: Req, params: Params) -> AppResult<Reply<PageOf<Sponsor>>> {
    let limit = model::page_limit(req.query("limit"))?;
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Member).await?;
    let cursor = req.query("cursor").map(str::to_string);
    let (items, next_cursor) = model::newest_first(&*app.table, tenant.pk(), keys::SPONSOR_PREFIX.into(), limit, cursor).await?;
    Reply::ok(PageOf { items, next_cursor })
}

async fn create_sponsor(app: &App, req: Req<Json<SponsorFields>>, params: Params) -> AppResult<Created<Sponsor>> {
    let fields = req.json()?;
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Member).await?;
    Reply::created(super::create_sponsor(app, &tenant, fields).await?)
}

async fn read_sponsor(app: &App, req: Req, params: Params) -> AppResult<Reply<Sponsor>> {
    let sk = sponsor_sk(&params)?;
    let (_, [sponsor]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [sk]).await?;
    Reply::ok(sponsor_from(sponsor)?)
}

async fn update_sponsor(app: &App, req: Req<Json<SponsorFields>>, params: Params) -> AppResult<Reply<Sponsor>> {
    let sk = sponsor_sk(&params)?;
    let fields = req.json()?;
    let (tenant, [sponsor]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [sk]).await?;
    Reply::ok(super::update_sponsor(app, &tenant, sponsor_from(sponsor)?, fields).await?)
}

async fn delete_sponsor(app: &App, req: Req, params: Params) -> AppResult<Reply<Deleted>> {
    let sk = sponsor_sk(&params)?;
    let (tenant, [sponsor]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Admin, [sk]).await?;
    super::delete_sponsor(app, &tenant, sponsor_from(sponsor)?).await?;
    Reply::ok(Deleted::yes())
}

async fn list_deals(app: &App, req: Req, params: Params) -> AppResult<Reply<PageOf<Deal>>> {
    let filter = DealFilter {
        stage: model::enum_param("stage", req.query("stage"), super::Stage::NAMES)?,
        sponsor_id: req.query("sponsorId").map(str::to_string),
        owner_id: req.query("ownerId").map(str::to_string),
    };
    let limit = model::page_limit(req.query("limit"))?;
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Member).await?;
    let (items, next_cursor) = super::list_deals(app, &tenant, &filter, limit, req.query("cursor").map(str::to_string)).await?;
    Reply::ok(PageOf { items, next_cursor })
}

async fn create_deal(app: &App, req: Req<Json<DealFields>>, params: Params) -> AppResult<Created<Deal>> {
    let fields = req.json()?;
    let (tenant, read) = authorize_listed(app, req.principal()?, params.get("orgId"), Role::Member, fields.to_read()?).await?;
    let named = fields.named(read);
    Reply::created(super::create_deal(app, &tenant, fields, named).await?)
}

async fn deal_pipeline(app: &App, req: Req, params: Params) -> AppResult<Reply<Pipeline>> {
    let (from, to) = pipeline::period(req.query("from"), req.query("to"), app.clock.now().date_naive())?;
    let tenant = authorize(app, req.principal()?, params.get("orgId"), Role::Member).await?;
    Reply::ok(pipeline::view(app, &tenant, from, to).await?)
}

async fn read_deal(app: &App, req: Req, params: Params) -> AppResult<Reply<Deal>> {
    let sk = deal_sk(&params)?;
    let (_, [deal]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [sk]).await?;
    Reply::ok(deal_from(deal)?)
}

async fn update_deal(app: &App, req: Req<Json<DealFields>>, params: Params) -> AppResult<Reply<Deal>> {
    let sk = deal_sk(&params)?;
    let fields = req.json()?;
    let mut wanted = vec![sk];
    wanted.extend(fields.to_read()?);
    let (tenant, mut read) = authorize_listed(app, req.principal()?, params.get("orgId"), Role::Member, wanted).await?;
    let deal = deal_from(read.remove(0))?;
    let named = fields.named(read);
    Reply::ok(super::update_deal(app, &tenant, deal, fields, named).await?)
}

async fn delete_deal(app: &App, req: Req, params: Params) -> AppResult<Reply<Deleted>> {
    let sk = deal_sk(&params)?;
    let (tenant, [deal]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [sk]).await?;
    super::delete_deal(app, &tenant, deal_from(deal)?).await?;
    Reply::ok(Deleted::yes())
}

async fn change_stage(app: &App, req: Req<Json<StageChange>>, params: Params) -> AppResult<Reply<Deal>> {
    let sk = deal_sk(&params)?;
    let change = req.json()?;
    let (tenant, [deal]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [sk]).await?;
    Reply::ok(super::change_stage(app, &tenant, deal_from(deal)?, change).await?)
}

/// The deal in the path, read with the membership.
async fn deal_in_path<B>(app: &App, req: &Req<B>, params: &Params) -> AppResult<(TenantCtx, Deal)> {
    let sk = deal_sk(params)?;
    let (tenant, [deal]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [sk]).await?;
    Ok((tenant, deal_from(deal)?))
}

async fn list_activities(app: &App, req: Req, params: Params) -> AppResult<Reply<PageOf<DealActivity>>> {
    let limit = model::page_limit(req.query("limit"))?;
    let (tenant, deal) = deal_in_path(app, &req, &params).await?;
    let cursor = req.query("cursor").map(str::to_string);
    let (items, next_cursor) = model::newest_first(&*app.table, tenant.pk(), keys::deal_activity_prefix(&deal.id), limit, cursor).await?;
    Reply::ok(PageOf { items, next_cursor })
}

#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Deliverables {
    pub items: Vec<Deliverable>,
}

async fn list_deliverables(app: &App, req: Req, params: Params) -> AppResult<Reply<Deliverables>> {
    let (tenant, deal) = deal_in_path(app, &req, &params).await?;
    let mut items = deliverables::of_deal(app, &tenant, &deal.id).await?;
    items.sort_by(|a, b| (a.due_date, &a.id).cmp(&(b.due_date, &b.id)));
    Reply::ok(Deliverables { items })
}

async fn create_deliverable(app: &App, req: Req<Json<NewDeliverable>>, params: Params) -> AppResult<Created<Deliverable>> {
    let sk = deal_sk(&params)?;
    let input = req.json()?;
    let mut wanted = vec![sk];
    wanted.extend(deliverables::to_read(input.post_id.as_deref(), input.content_id.as_deref())?);
    let (tenant, read) = authorize_listed(app, req.principal()?, params.get("orgId"), Role::Member, wanted).await?;
    let mut read = read.into_iter();
    let deal = deal_from(read.next().flatten())?;
    let found: Vec<_> = read.collect();
    Reply::created(deliverables::create(app, &tenant, deal, input, &found).await?)
}

async fn update_deliverable(app: &App, req: Req<Json<DeliverableChange>>, params: Params) -> AppResult<Reply<Deliverable>> {
    let sk = deliverable_sk(&params)?;
    let change = req.json()?;
    let mut wanted = vec![sk];
    wanted.extend(deliverables::to_read(
        change.post_id.clone().flatten().as_deref(),
        change.content_id.clone().flatten().as_deref(),
    )?);
    let (tenant, read) = authorize_listed(app, req.principal()?, params.get("orgId"), Role::Member, wanted).await?;
    let mut read = read.into_iter();
    let deliverable = deliverable_from(read.next().flatten())?;
    let found: Vec<_> = read.collect();
    Reply::ok(deliverables::update(app, &tenant, deliverable, change, &found).await?)
}

async fn delete_deliverable(app: &App, req: Req, params: Params) -> AppResult<Reply<Deleted>> {
    let sk = deliverable_sk(&params)?;
    let (tenant, [deliverable]) = authorize_with(app, req.principal()?, params.get("orgId"), Role::Member, [sk]).await?;
    deliverables::delete(app, &tenant, deliverable_from(deliverable)?).await?;
    Reply::ok(Deleted::yes())
}

async fn draft_follow_up(app: &App, req: Req, params: Params) -> AppResult<Created<Task>> {
    let sk = deal_sk(&params)?;
    let now = app.clock.now();
    let mut wanted = vec![sk];
    wanted.extend(OrgContext::sort_keys(now));
    let (tenant, read) = authorize_listed(app, req.principal()?, params.get("orgId"), Role::Member, wanted).await?;
    let mut read = read.into_iter();
    let deal = deal_from(read.next().flatten())?;
    let org = OrgContext::from_items(read, now)?;
    let sponsor = sponsor_from(app.table.get(&tenant.key(keys::sponsor_sk(&deal.sponsor_id))).await?)?;
    Reply::created(super::followups::draft_now(app, &tenant, &org, &deal, &sponsor).await?)
}
