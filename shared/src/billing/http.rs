//! `api-billing` (`/v1/orgs/{orgId}/billing…`) and `stripe-webhook` (`/v1/stripe/webhook`).

use super::webhook;
use crate::api::router::{self, RouteTable};
use crate::api::{Reply, Req};
use crate::app::App;
use crate::auth::token;
use crate::error::{AppError, AppResult};
use crate::keys;
use crate::orgs::Role;
use crate::orgs::access::authorize_with;
use crate::usage::Plan;
use lambda_http::http::Method;
use serde::Deserialize;
use serde_json::json;

#[derive(Clone, Copy)]
enum Route {
    Read,
    Checkout,
    Portal,
}

const ROUTES: &RouteTable<Route> = &[
    (Method::GET, "/v1/orgs/{orgId}/billing", Route::Read),
    (Method::POST, "/v1/orgs/{orgId}/billing/checkout", Route::Checkout),
    (Method::POST, "/v1/orgs/{orgId}/billing/portal", Route::Portal),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartCheckout {
    plan: String,
}

pub async fn route(app: &App, req: Req) -> AppResult<Reply> {
    let (route, params) = router::find(ROUTES, &req.method, &req.path)?;
    let principal = token::verify(app, req.bearer_token()).await?;
    let now = app.clock.now();
    // Who may do what is settled before the body, the settings or Stripe are looked at.
    let (min_role, also) = match route {
        Route::Read => (Role::Admin, vec![keys::usage_sk(&crate::usage::month(now))]),
        Route::Checkout | Route::Portal => (Role::Owner, vec![]),
    };
    let mut sks = vec![keys::ORG_SK.to_string(), keys::SUBSCRIPTION_SK.to_string()];
    sks.extend(also);
    let (tenant, items) = authorize_with(app, &principal, params.get("orgId"), min_role, &sks).await?;
    let mut items = items.into_iter();
    let org = crate::orgs::org_from(items.next().flatten())?;
    let subscription = super::subscription_from(items.next().flatten())?;
    if !matches!(route, Route::Read) {
        super::ensure_configured(app).await?;
    }
    match route {
        Route::Read => Reply::ok(super::view(&org, subscription, items.next().flatten().as_ref(), now)),
        Route::Checkout => {
            let input: StartCheckout = req.json()?;
            let plan = match input.plan.as_str() {
                "pro" => Plan::Pro,
                "enterprise" => Plan::Enterprise,
                _ => return Err(AppError::validation("plan must be \"pro\" or \"enterprise\"")),
            };
            Reply::created(super::checkout(app, &tenant, &org, subscription, plan).await?)
        }
        Route::Portal => Reply::created(super::portal(app, &org, subscription).await?),
    }
}

const WEBHOOK_ROUTES: &RouteTable<()> = &[(Method::POST, "/v1/stripe/webhook", ())];

/// Stripe signs; there is no bearer token. The raw body is verified before it is parsed.
pub async fn route_webhook(app: &App, req: Req) -> AppResult<Reply> {
    router::find(WEBHOOK_ROUTES, &req.method, &req.path)?;
    let header = req.headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    let outcome = webhook::receive(app, header, &req.body).await?;
    Reply::ok(json!({"received": true, "outcome": outcome}))
}
