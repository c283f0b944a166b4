//! `api-billing` (`/v1/orgs/{orgId}/billing…`) and `stripe-webhook` (`/v1/stripe/webhook`).

use super::webhook;
use crate::api::contract::StripeEvent;
use crate::api::router::Params;
use crate::api::{Created, Json, Reply, Req, route_group};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::keys;
use crate::ports::Port;
use crate::tenancy::Role;
use crate::tenancy::authorize_reading;
use crate::usage::Plan;
use serde::{Deserialize, Serialize};

route_group! {
    function: "api-billing", tag: "Billing", prefixes: &["/v1/orgs/{orgId}/billing"], body_limit: None, ports: &[Port::Payments];
    /// The org's plan, subscription, invoices and this month's usage (admin).
    GET "/v1/orgs/{orgId}/billing" => read;
    /// Open a Stripe Checkout session for a paid plan (owner).
    POST "/v1/orgs/{orgId}/billing/checkout" => checkout,
        errors [ALREADY_SUBSCRIBED, BILLING_NOT_CONFIGURED, PAYMENT_PROVIDER_ERROR, CONFLICT];
    /// Open a Stripe billing portal session (owner).
    POST "/v1/orgs/{orgId}/billing/portal" => portal, errors [NO_BILLING_ACCOUNT, BILLING_NOT_CONFIGURED, PAYMENT_PROVIDER_ERROR];
}

/// Stripe signs its deliveries; there is no bearer token. Stripe's events (an invoice with
/// many lines) can be larger than any request the app's own routes take.
pub mod stripe_webhook {
    use super::*;

    route_group! {
        function: "stripe-webhook", tag: "Stripe webhook", prefixes: &["/v1/stripe/webhook"],
        body_limit: Some(crate::api::WEBHOOK_BODY_LIMIT), ports: &[Port::Events];
        /// Stripe's event deliveries, verified by their signature; a replay changes nothing.
        POST "/v1/stripe/webhook" public => webhook, errors [INVALID_SIGNATURE, INVALID_EVENT, WEBHOOK_NOT_CONFIGURED, CONFLICT];
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct StartCheckout {
    #[schemars(extend("enum" = ["pro", "enterprise"]))]
    plan: String,
}

/// Who may do what is settled before the body, the settings or Stripe are looked at: the
/// membership, with the org, its subscription and `also`, in one read.
async fn billing_context<B>(app: &App, req: &Req<B>, params: &Params, min_role: Role, also: Option<String>) -> AppResult<Context> {
    let sks = [keys::ORG_SK.to_string(), keys::SUBSCRIPTION_SK.to_string()];
    let (tenant, [org, subscription], also) = authorize_reading(app, req.principal()?, params.get("orgId"), min_role, sks, also).await?;
    Ok(Context {
        org: crate::orgs::org_from(org)?,
        subscription: super::subscription_from(subscription)?,
        also,
        tenant,
    })
}

struct Context {
    tenant: crate::tenancy::TenantCtx,
    org: crate::orgs::Org,
    subscription: Option<super::Subscription>,
    also: Option<crate::ports::table::Item>,
}

async fn read(app: &App, req: Req, params: Params) -> AppResult<Reply<super::BillingView>> {
    let now = app.clock.now();
    let usage = keys::usage_sk(&crate::usage::month(now));
    let c = billing_context(app, &req, &params, Role::Admin, Some(usage)).await?;
    Reply::ok(super::view(&c.org, c.subscription, c.also.as_ref(), now))
}

async fn checkout(app: &App, req: Req<Json<StartCheckout>>, params: Params) -> AppResult<Created<super::SessionView>> {
    let c = billing_context(app, &req, &params, Role::Owner, None).await?;
    super::ensure_configured(app).await?;
    let input = req.json()?;
    let plan = match input.plan.as_str() {
        "pro" => Plan::Pro,
        "enterprise" => Plan::Enterprise,
        _ => return Err(AppError::validation("plan must be \"pro\" or \"enterprise\"")),
    };
    Reply::created(super::checkout(app, &c.tenant, &c.org, c.subscription, plan).await?)
}

async fn portal(app: &App, req: Req, params: Params) -> AppResult<Created<super::SessionView>> {
    let c = billing_context(app, &req, &params, Role::Owner, None).await?;
    super::ensure_configured(app).await?;
    Reply::created(super::portal(app, &c.tenant, &c.org, c.subscription).await?)
}

/// What a delivery did.
#[derive(Serialize, schemars::JsonSchema)]
struct Received {
    received: bool,
    outcome: webhook::Outcome,
}

/// The raw body is verified before it is parsed.
async fn webhook(app: &App, req: Req<StripeEvent>, _: Params) -> AppResult<Reply<Received>> {
    let header = req.headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    let outcome = webhook::receive(app, header, &req.body).await?;
    Reply::ok(Received { received: true, outcome })
}
