//! Billing with Stripe: Checkout to subscribe, the customer portal to manage, and the
//! webhook that keeps each org's subscription state and plan. Stripe is the source of truth;
//! Chief keeps the newest state it was told, by event time, under `ORG#<org>/SUBSCRIPTION`.

pub mod http;
pub mod signature;
pub mod webhook;

use crate::app::{App, BillingSettings};
use crate::error::{AppError, AppResult};
use crate::ids::OrgId;
use crate::keys;
use crate::model::{from_item, to_item};
use crate::orgs::Org;
use crate::ports::payments::{CheckoutRequest, NewCustomer};
use crate::ports::table::{Condition, Item, Key, TableError, TxOp};
use crate::tenancy::TenantCtx;
use crate::usage::{Plan, UsageReport};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

// The settings themselves live with the app's (`app::BillingSettings`); what they mean is here.
impl BillingSettings {
    pub fn price_for(&self, plan: Plan) -> Option<&str> {
        match plan {
            Plan::Pro => self.price_pro.as_deref(),
            Plan::Enterprise => self.price_enterprise.as_deref(),
            Plan::Free => None,
        }
    }

    pub fn plan_for_price(&self, price_id: &str) -> Option<Plan> {
        [Plan::Pro, Plan::Enterprise]
            .into_iter()
            .find(|plan| self.price_for(*plan) == Some(price_id))
    }
}

/// How long a `past_due` subscription keeps its plan, and Stripe's signature tolerance.
pub const GRACE_PERIOD_DAYS: i64 = 7;
pub const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;

/// The org's Stripe state: its customer, and the newest subscription state applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Subscription {
    pub org_id: String,
    pub customer_id: String,
    pub subscription_id: Option<String>,
    /// Stripe's status: `active`, `trialing`, `past_due`, `canceled`, `unpaid`, …
    pub status: Option<String>,
    pub price_id: Option<String>,
    /// The plan the subscription pays for.
    pub plan: Plan,
    #[serde(default, with = "crate::clock::rfc3339::option")]
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    /// When the subscription fell `past_due`; the plan lapses a grace period later.
    #[serde(default, with = "crate::clock::rfc3339::option")]
    pub past_due_since: Option<DateTime<Utc>>,
    /// `created` (Unix seconds) of the newest Stripe event applied to the state above.
    pub state_at: i64,
    pub last_invoice: Option<Invoice>,
    /// The org's Checkout Session that nobody has paid through yet: another checkout for the
    /// same plan answers it rather than opening a second way to subscribe.
    pub open_checkout: Option<OpenCheckout>,
    /// Other live subscriptions Stripe reported for this customer (a second checkout paid
    /// for twice): each is charging, so the billing view shows them to the owners.
    pub conflicting_subscriptions: Vec<String>,
    #[serde(with = "crate::clock::rfc3339")]
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub version: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OpenCheckout {
    pub session_id: String,
    pub url: String,
    pub plan: Plan,
    /// Unix seconds; Stripe closes the session then.
    pub expires_at: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Invoice {
    pub id: String,
    /// `paid` or `payment_failed`.
    pub status: String,
    /// In the currency's smallest unit, as Stripe gives it.
    pub amount: i64,
    pub currency: String,
    pub hosted_invoice_url: Option<String>,
    /// `created` (Unix seconds) of the event that said so.
    pub event_at: i64,
}

impl Subscription {
    pub fn to_item(&self) -> AppResult<Item> {
        to_item(&keys::org_pk(&OrgId::read(&self.org_id)?), keys::SUBSCRIPTION_SK, self)
    }

    /// A subscription that is paying or trying to: another Checkout would double-charge.
    pub fn is_live(&self) -> bool {
        matches!(self.status.as_deref(), Some("active" | "trialing" | "past_due"))
    }

    /// The plan this state grants the org, and until when (a past-due grace period).
    pub fn grant(&self) -> (Plan, Option<DateTime<Utc>>) {
        match self.status.as_deref() {
            Some("active" | "trialing") => (self.plan, None),
            Some("past_due") => {
                let since = self
                    .past_due_since
                    .unwrap_or_else(|| DateTime::from_timestamp(self.state_at, 0).unwrap_or_default());
                (self.plan, Some(since + chrono::Duration::days(GRACE_PERIOD_DAYS)))
            }
            _ => (Plan::Free, None),
        }
    }
}

pub fn customer_key(customer_id: &str) -> Key {
    Key::new(keys::stripe_customer_pk(customer_id), keys::CLAIM_SK)
}

/// The lookup from a Stripe customer to its org, which webhook deliveries start from.
pub fn customer_claim(customer_id: &str, org_id: &str) -> Item {
    let mut claim = Item::new();
    claim.insert(crate::ports::table::PK.into(), keys::stripe_customer_pk(customer_id).into());
    claim.insert(crate::ports::table::SK.into(), keys::CLAIM_SK.into());
    claim.insert("orgId".into(), org_id.into());
    claim
}

/// The lookup of a customer whose org was deleted: kept so that Stripe's later events about
/// it are told apart from events about customers Chief never had.
fn deleted_org_claim(customer_id: &str, org_id: &str, deleted_at: &str) -> Item {
    let mut claim = customer_claim(customer_id, org_id);
    claim.insert(ORG_DELETED_AT.into(), deleted_at.into());
    claim
}

/// The attribute of a customer lookup whose org is gone.
pub const ORG_DELETED_AT: &str = "orgDeletedAt";

/// Before an org is deleted: its billing is closed ([`stop_charging`]), and its Stripe
/// customer's lookup becomes a tombstone, so Stripe's later events about that customer are
/// answered `org_deleted` rather than taken for a customer Chief never had. Asked again (a
/// delete interrupted and retried), it does the same again.
pub async fn close(app: &App, tenant: &TenantCtx) -> AppResult<()> {
    let Some(subscription) = subscription_from(app.table.get(&tenant.key(keys::SUBSCRIPTION_SK)).await?)? else {
        return Ok(());
    };
    stop_charging(app, &subscription).await?;
    if !subscription.customer_id.is_empty() {
        let deleted_at = crate::clock::timestamp(app.clock.now());
        app.table
            .put(deleted_org_claim(&subscription.customer_id, tenant.org_id(), &deleted_at), None)
            .await?;
    }
    Ok(())
}

/// Its live subscription is cancelled at once (no further invoice) and its open Checkout
/// Session expired, so nothing charges a customer who can no longer reach the portal. An
/// error here (Stripe unreachable: 503) stops the delete before it starts.
async fn stop_charging(app: &App, subscription: &Subscription) -> AppResult<()> {
    if let Some(open) = &subscription.open_checkout {
        app.payments.expire_checkout(&open.session_id).await.map_err(AppError::from)?;
    }
    if subscription.is_live()
        && let Some(id) = &subscription.subscription_id
    {
        app.payments.cancel_subscription(id).await.map_err(AppError::from)?;
        tracing::info!(org_id = %subscription.org_id, subscription = %id, "subscription cancelled with its org");
    }
    Ok(())
}

fn not_configured(what: &str) -> AppError {
    AppError::Disabled {
        code: "BILLING_NOT_CONFIGURED",
        message: format!("billing is not configured: set {what} to the Stripe price of the plan"),
    }
}

/// The first check after authorisation: without a key nothing else is looked at.
pub async fn ensure_configured(app: &App) -> AppResult<()> {
    app.payments.ready().await.map_err(AppError::from)
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BillingView {
    pub plan: Plan,
    /// When a past-due subscription's plan lapses to free, if it is in its grace period.
    #[serde(serialize_with = "crate::clock::rfc3339::option::serialize")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub plan_lapses_at: Option<chrono::DateTime<chrono::Utc>>,
    pub status: Option<String>,
    #[serde(serialize_with = "crate::clock::rfc3339::option::serialize")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub customer: bool,
    pub last_invoice: Option<Invoice>,
    /// Other live subscriptions of the customer, each charging: cancel them in the portal.
    pub conflicting_subscriptions: Vec<String>,
    pub usage: UsageReport,
}

pub fn view(org: &Org, subscription: Option<Subscription>, usage: Option<&Item>, now: DateTime<Utc>) -> BillingView {
    let plan = org.plan_at(now);
    let subscription = subscription.unwrap_or_default();
    BillingView {
        plan,
        plan_lapses_at: org.plan_until.filter(|_| plan != Plan::Free),
        status: subscription.status,
        current_period_end: subscription.current_period_end,
        cancel_at_period_end: subscription.cancel_at_period_end,
        customer: !subscription.customer_id.is_empty(),
        last_invoice: subscription.last_invoice,
        conflicting_subscriptions: subscription.conflicting_subscriptions,
        usage: crate::usage::report(plan, usage, now),
    }
}

pub fn subscription_from(item: Option<Item>) -> AppResult<Option<Subscription>> {
    item.map(from_item).transpose()
}

/// The org's Stripe customer: the stored one, else a new one stored with its lookup.
async fn customer(app: &App, tenant: &TenantCtx, org: &Org, stored: Option<Subscription>) -> AppResult<String> {
    if let Some(s) = stored.filter(|s| !s.customer_id.is_empty()) {
        return Ok(s.customer_id);
    }
    let email = crate::auth::user_by_id(app, tenant.user_id())
        .await?
        .map(|u| u.email)
        .unwrap_or_default();
    let customer_id = app
        .payments
        .create_customer(NewCustomer {
            org_id: &org.id,
            org_name: &org.name,
            email: &email,
        })
        .await
        .map_err(AppError::from)?;
    let subscription = Subscription {
        org_id: org.id.to_string(),
        customer_id: customer_id.clone(),
        updated_at: app.clock.now(),
        version: 1,
        ..Subscription::default()
    };
    let claim = customer_claim(&customer_id, &org.id);
    let stored = app
        .table
        .transact(vec![
            TxOp::Put {
                item: subscription.to_item()?,
                condition: Some(Condition::NotExists),
            },
            TxOp::Put {
                item: claim,
                condition: None,
            },
        ])
        .await;
    match stored {
        Ok(()) => Ok(customer_id),
        // A concurrent first checkout stored its customer first (the same one: the
        // customer is created with an idempotency key per org); use what is stored.
        Err(TableError::ConditionFailed { .. }) => {
            let item = app.table.get(&tenant.key(keys::SUBSCRIPTION_SK)).await?;
            Ok(subscription_from(item)?
                .map(|s| s.customer_id)
                .ok_or_else(|| AppError::internal("subscription vanished"))?)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub url: String,
    pub session_id: String,
}

pub async fn checkout(app: &App, tenant: &TenantCtx, org: &Org, stored: Option<Subscription>, plan: Plan) -> AppResult<SessionView> {
    let billing = &app.settings.billing;
    let price = billing.price_for(plan).ok_or_else(|| {
        not_configured(match plan {
            Plan::Enterprise => "STRIPE_PRICE_ENTERPRISE",
            _ => "STRIPE_PRICE_PRO",
        })
    })?;
    if stored.as_ref().is_some_and(Subscription::is_live) {
        return Err(AppError::conflict(
            "ALREADY_SUBSCRIBED",
            "the organisation already has a subscription: change or cancel it in the billing portal",
        ));
    }
    // One way to subscribe at a time: the open session for this plan is the answer; one for
    // another plan is closed before a new one opens.
    let now = app.clock.now().timestamp();
    if let Some(open) = stored
        .as_ref()
        .and_then(|s| s.open_checkout.as_ref())
        .filter(|o| o.expires_at > now + OPEN_MARGIN_SECONDS)
    {
        if open.plan == plan {
            return Ok(SessionView {
                url: open.url.clone(),
                session_id: open.session_id.clone(),
            });
        }
        app.payments.expire_checkout(&open.session_id).await.map_err(AppError::from)?;
    }
    let customer_id = customer(app, tenant, org, stored).await?;
    let app_url = app.settings.app_url.trim_end_matches('/');
    let success = billing.success_url.clone().unwrap_or_else(|| {
        format!(
            "{app_url}/orgs/{}/billing?checkout=success&session_id={{CHECKOUT_SESSION_ID}}",
            org.id
        )
    });
    let cancel = billing
        .cancel_url
        .clone()
        .unwrap_or_else(|| format!("{app_url}/orgs/{}/billing?checkout=cancelled", org.id));
    let session = app
        .payments
        .checkout(CheckoutRequest {
            customer_id: &customer_id,
            price_id: price,
            org_id: &org.id,
            plan: plan.as_str(),
            success_url: &success,
            cancel_url: &cancel,
        })
        .await
        .map_err(AppError::from)?;
    let opened = OpenCheckout {
        session_id: session.id,
        url: session.url,
        plan,
        expires_at: session.expires_at.unwrap_or(now + DEFAULT_SESSION_SECONDS),
    };
    let open = keep_one_open(app, tenant, opened).await?;
    tracing::info!(org_id = %org.id, plan = plan.as_str(), session = %open.session_id, "checkout started");
    Ok(SessionView {
        url: open.url,
        session_id: open.session_id,
    })
}

/// A session closer to its end than this is not handed out again.
const OPEN_MARGIN_SECONDS: i64 = 600;
/// How long Stripe keeps a Checkout Session open by default.
const DEFAULT_SESSION_SECONDS: i64 = 24 * 3600;
const RECORD_TRIES: usize = 5;

/// Records `opened` as the org's open session, unless a concurrent checkout recorded one for
/// the same plan first: then `opened` is expired in Stripe and the recorded one answered.
async fn keep_one_open(app: &App, tenant: &TenantCtx, opened: OpenCheckout) -> AppResult<OpenCheckout> {
    for _ in 0..RECORD_TRIES {
        let Some(mut current) = subscription_from(app.table.get(&tenant.key(keys::SUBSCRIPTION_SK)).await?)? else {
            return Err(AppError::internal(
                "the subscription record is missing after its customer was stored",
            ));
        };
        let now = app.clock.now().timestamp();
        if let Some(other) = current
            .open_checkout
            .clone()
            .filter(|o| o.session_id != opened.session_id && o.plan == opened.plan && o.expires_at > now + OPEN_MARGIN_SECONDS)
        {
            app.payments.expire_checkout(&opened.session_id).await.map_err(AppError::from)?;
            return Ok(other);
        }
        let read = current.version;
        current.open_checkout = Some(opened.clone());
        current.version += 1;
        current.updated_at = app.clock.now();
        let put = TxOp::Put {
            item: current.to_item()?,
            condition: Some(Condition::VersionEquals(read)),
        };
        // The session's id names it in Stripe; its URL (a bearer link to pay) is not kept here.
        let details = serde_json::json!({"plan": opened.plan, "checkoutSession": opened.session_id});
        let record = crate::audit::entry(
            tenant,
            current.updated_at,
            "billing.checkout_started",
            format!("org:{}", tenant.org_id()),
            details,
        )?;
        match app.table.transact(vec![put, record]).await {
            Ok(()) => return Ok(opened),
            Err(TableError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Unavailable {
        what: "the billing record kept changing: try again".into(),
        cause: None,
    })
}

/// A billing-portal session. What the owner then does in the portal comes back as Stripe's
/// events (a plan change is recorded with them); the opening is recorded here, once Stripe
/// made the session.
pub async fn portal(app: &App, tenant: &TenantCtx, org: &Org, stored: Option<Subscription>) -> AppResult<SessionView> {
    let Some(customer_id) = stored.map(|s| s.customer_id).filter(|c| !c.is_empty()) else {
        return Err(AppError::conflict(
            "NO_BILLING_ACCOUNT",
            "the organisation has no billing account yet: start a subscription with checkout first",
        ));
    };
    let app_url = app.settings.app_url.trim_end_matches('/');
    let return_url = app
        .settings
        .billing
        .portal_return_url
        .clone()
        .unwrap_or_else(|| format!("{app_url}/orgs/{}/billing", org.id));
    let session = app.payments.portal(&customer_id, &return_url).await.map_err(AppError::from)?;
    let details = serde_json::json!({"portalSession": session.id});
    let record = crate::audit::entry(tenant, app.clock.now(), "billing.portal_opened", format!("org:{}", org.id), details)?;
    app.table.transact(vec![record]).await?;
    Ok(SessionView {
        url: session.url,
        session_id: session.id,
    })
}
