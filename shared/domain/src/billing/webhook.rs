//! Stripe's webhook. Idempotent by event id: the id is stored (expiring after 30 days) in
//! the same transaction as the event's effect, so a replay or a concurrent second delivery
//! finds it and changes nothing. Out-of-order delivery is handled by event time: subscription
//! state is applied only when the event is newer than the state stored.

use super::signature::{self, SignatureError};
use super::{Invoice, SIGNATURE_TOLERANCE_SECONDS, Subscription, customer_key, subscription_from};
use crate::app::{App, BillingSettings};
use crate::error::{AppError, AppResult};
use crate::ids::OrgId;
use crate::keys;
use crate::model::{from_item, to_item};
use crate::orgs::Org;
use crate::ports::events::DomainEvent;
use crate::ports::secrets::{SecretName, SecretsError};
use crate::ports::table::{Condition, Item, Key, TableError, TxOp};
use crate::usage::Plan;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Stripe retries for up to three days; ids are kept well past that.
const EVENT_ID_DAYS: i64 = 30;
/// Read-decide-write rounds before giving up (Stripe then retries the delivery).
const ATTEMPTS: usize = 5;

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: Value,
}

/// What a delivery came to, in the answer and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Applied,
    /// Recorded, but older than the stored state (or about another subscription).
    Stale,
    Duplicate,
    /// A type Chief does not handle: logged, not stored.
    Ignored,
    /// No org has this customer: logged, not stored.
    UnknownCustomer,
    /// The customer's org was deleted (its subscription cancelled with it): logged, not stored.
    OrgDeleted,
    /// A second live subscription for the org: recorded, logged as an error and raised to its
    /// owners (`billing.conflicting_subscription`, and the billing view).
    ConflictingSubscription,
}

/// How long an unmapped price stays reported after it was last seen.
const UNMAPPED_PRICE_DAYS: i64 = 30;

fn unmapped_price_alert(app: &App, price: &str, org_id: &str) -> AppResult<Item> {
    let now = app.clock.now();
    let mut item = to_item(
        keys::UNMAPPED_PRICES_PK,
        &keys::unmapped_price_sk(price),
        &serde_json::json!({"price": price, "orgId": org_id, "seenAt": crate::clock::timestamp(now)}),
    )?;
    item.insert(
        crate::ports::table::TTL.into(),
        (now + chrono::Duration::days(UNMAPPED_PRICE_DAYS)).timestamp().into(),
    );
    Ok(item)
}

const HANDLED: [&str; 6] = [
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_failed",
];

fn invalid_signature(e: SignatureError) -> AppError {
    AppError::BadRequest {
        code: "INVALID_SIGNATURE",
        message: e.to_string(),
    }
}

/// Verifies, parses and applies one delivery.
pub async fn receive(app: &App, signature_header: Option<&str>, body: &[u8]) -> AppResult<Outcome> {
    let secrets = match app.secrets.get(SecretName::StripeWebhookSecret).await {
        Ok(value) => value
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>(),
        Err(SecretsError::Missing(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    if secrets.is_empty() {
        return Err(AppError::Disabled {
            code: "WEBHOOK_NOT_CONFIGURED",
            message: "the webhook is not configured: set STRIPE_WEBHOOK_SECRET (locally) or the webhook secret (in the cloud)".into(),
        });
    }
    let now = app.clock.now();
    signature::verify(signature_header, body, &secrets, now.timestamp(), SIGNATURE_TOLERANCE_SECONDS).map_err(invalid_signature)?;
    let event: Event = serde_json::from_slice(body).map_err(|e| AppError::BadRequest {
        code: "INVALID_EVENT",
        message: format!("the body is not a Stripe event: {e}"),
    })?;
    if !HANDLED.contains(&event.kind.as_str()) {
        tracing::info!(event_id = %event.id, event_type = %event.kind, "Stripe event type not handled: ignored");
        return Ok(Outcome::Ignored);
    }
    let Some(customer) = id_at(&event.data.object, "customer") else {
        tracing::warn!(event_id = %event.id, event_type = %event.kind, "Stripe event without a customer: ignored");
        return Ok(Outcome::UnknownCustomer);
    };
    let claim = app.table.get(&customer_key(&customer)).await?;
    if let Some(deleted_at) = claim.as_ref().and_then(|c| c.get(super::ORG_DELETED_AT)).and_then(Value::as_str) {
        tracing::warn!(event_id = %event.id, event_type = %event.kind, %customer, %deleted_at, "Stripe event for a customer whose org was deleted: ignored");
        return Ok(Outcome::OrgDeleted);
    }
    let Some(org_id) = claim
        .as_ref()
        .and_then(|c| c.get("orgId"))
        .and_then(Value::as_str)
        .map(OrgId::read)
        .transpose()?
    else {
        tracing::warn!(event_id = %event.id, event_type = %event.kind, %customer, "Stripe event for a customer no org has: ignored");
        return Ok(Outcome::UnknownCustomer);
    };
    tracing::Span::current().record("org_id", org_id.as_str());
    let outcome = apply(app, &org_id, &event).await?;
    tracing::info!(event_id = %event.id, event_type = %event.kind, outcome = ?outcome, "Stripe event");
    Ok(outcome)
}

/// An id at `field`, whether Stripe sent the id or the expanded object.
fn id_at(object: &Value, field: &str) -> Option<String> {
    match object.get(field)? {
        Value::String(id) => Some(id.clone()),
        Value::Object(expanded) => expanded.get("id")?.as_str().map(str::to_string),
        _ => None,
    }
}

fn text_at<'a>(object: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(object, |v, key| v.get(key))?.as_str()
}

fn int_at(object: &Value, path: &[&str]) -> Option<i64> {
    path.iter().try_fold(object, |v, key| v.get(key))?.as_i64()
}

fn first_item(object: &Value) -> Option<&Value> {
    object.get("items")?.get("data")?.get(0)
}

fn time(seconds: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(seconds, 0)
}

/// How far along a subscription is, to order two states Stripe stamped in the same second.
fn progress(status: Option<&str>) -> u8 {
    match status {
        None => 0,
        Some("incomplete") => 1,
        Some("canceled" | "incomplete_expired") => 3,
        Some(_) => 2,
    }
}

/// The new stored state for `event`, or `None` when it is stale for this state.
fn next_state(billing: &BillingSettings, current: &Subscription, event: &Event) -> Option<Subscription> {
    let object = &event.data.object;
    let mut next = current.clone();
    match event.kind.as_str() {
        "invoice.paid" | "invoice.payment_failed" => {
            if current.last_invoice.as_ref().is_some_and(|i| i.event_at > event.created) {
                return None;
            }
            next.last_invoice = Some(Invoice {
                id: id_at(object, "id").unwrap_or_default(),
                status: if event.kind == "invoice.paid" { "paid" } else { "payment_failed" }.into(),
                amount: int_at(object, &["amount_paid"])
                    .filter(|_| event.kind == "invoice.paid")
                    .or_else(|| int_at(object, &["amount_due"]))
                    .unwrap_or(0),
                currency: text_at(object, &["currency"]).unwrap_or_default().into(),
                hosted_invoice_url: text_at(object, &["hosted_invoice_url"]).map(str::to_string),
                event_at: event.created,
            });
            return Some(next);
        }
        "checkout.session.completed" => {
            let subscription_id = id_at(object, "subscription")?;
            let paid = matches!(text_at(object, &["payment_status"]), Some("paid" | "no_payment_required"));
            if !paid || !is_newer(current, event.created, Some("active")) || !same_or_replacing(current, &subscription_id) {
                return None;
            }
            next.subscription_id = Some(subscription_id);
            next.status = Some("active".into());
            // The plan Checkout was started for (our own metadata, under Stripe's signature).
            if let Some(plan) = text_at(object, &["metadata", "plan"]).and_then(|p| serde_json::from_value(Value::from(p)).ok()) {
                next.plan = plan;
            }
            next.past_due_since = None;
        }
        _ => {
            let subscription_id = id_at(object, "id")?;
            let deleted = event.kind == "customer.subscription.deleted";
            let status = if deleted {
                "canceled".to_string()
            } else {
                text_at(object, &["status"])?.to_string()
            };
            if !is_newer(current, event.created, Some(&status)) || !same_or_replacing(current, &subscription_id) {
                return None;
            }
            let item = first_item(object);
            let price = item.and_then(|i| id_at(i, "price"));
            match price.as_deref().map(|p| billing.plan_for_price(p)) {
                Some(Some(plan)) => next.plan = plan,
                // The plan never stays above what the customer pays for: a price Chief cannot
                // name grants the free plan until the configuration maps it.
                Some(None) => {
                    tracing::error!(price = ?price, subscription = %subscription_id, "a subscription's price matches no plan: set STRIPE_PRICE_PRO and STRIPE_PRICE_ENTERPRISE; the org is on free meanwhile");
                    next.plan = Plan::Free;
                }
                None => {}
            }
            next.price_id = price.or(next.price_id);
            next.subscription_id = Some(subscription_id);
            // Newer API versions keep the period on the item, older ones on the subscription.
            next.current_period_end = int_at(object, &["current_period_end"])
                .or_else(|| item.and_then(|i| int_at(i, &["current_period_end"])))
                .and_then(time)
                .or(next.current_period_end);
            next.cancel_at_period_end = object.get("cancel_at_period_end").and_then(Value::as_bool).unwrap_or(false);
            next.past_due_since = match (status.as_str(), current.status.as_deref()) {
                ("past_due", Some("past_due")) => current.past_due_since,
                ("past_due", _) => time(event.created),
                _ => None,
            };
            next.status = Some(status);
        }
    }
    next.state_at = event.created;
    if next.is_live() {
        next.open_checkout = None;
    }
    Some(next)
}

/// What an event about another subscription of the customer changes: a second live one
/// (paid for twice) is recorded and raised, never just stale; its end is recorded too.
/// Answers the changed state and whether it raises a conflict.
fn other_subscription(current: &Subscription, event: &Event) -> Option<(Subscription, bool)> {
    let object = &event.data.object;
    let (id, live) = match event.kind.as_str() {
        "checkout.session.completed" => (
            id_at(object, "subscription")?,
            matches!(text_at(object, &["payment_status"]), Some("paid" | "no_payment_required")),
        ),
        "customer.subscription.deleted" => (id_at(object, "id")?, false),
        "customer.subscription.created" | "customer.subscription.updated" => (
            id_at(object, "id")?,
            matches!(text_at(object, &["status"]), Some("active" | "trialing" | "past_due")),
        ),
        _ => return None,
    };
    if current.subscription_id.as_deref().is_none_or(|c| c == id) {
        return None;
    }
    let known = current.conflicting_subscriptions.contains(&id);
    let mut next = current.clone();
    match (live && current.is_live(), known) {
        (true, false) => next.conflicting_subscriptions.push(id),
        (false, true) => next.conflicting_subscriptions.retain(|c| *c != id),
        _ => return None,
    }
    Some((next, live))
}

fn conflict_raised(event: &Event, org_id: &OrgId, next: &Subscription, now: DateTime<Utc>) -> DomainEvent {
    DomainEvent {
        id: format!("stripe-conflict-{}", event.id),
        source: "chief.billing".into(),
        detail_type: "billing.conflicting_subscription".into(),
        org_id: org_id.clone(),
        at: now,
        detail: serde_json::json!({
            "subscriptionId": next.subscription_id,
            "conflictingSubscriptions": next.conflicting_subscriptions,
            "stripeEventId": event.id,
            "message": "the customer has more than one live subscription: each is charged; cancel the extra one in the billing portal",
        }),
    }
}

fn is_newer(current: &Subscription, created: i64, status: Option<&str>) -> bool {
    created > current.state_at || (created == current.state_at && progress(status) >= progress(current.status.as_deref()))
}

/// Events about an old subscription never touch a live newer one.
fn same_or_replacing(current: &Subscription, subscription_id: &str) -> bool {
    match &current.subscription_id {
        Some(id) if id != subscription_id => !current.is_live(),
        _ => true,
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct SeenEvent {
    event_type: String,
    org_id: String,
    /// Domain events stored with the effect and cleared once published, so that a
    /// delivery that stored its effect but failed to publish publishes on the retry.
    pending: Vec<DomainEvent>,
}

fn seen_key(event_id: &str) -> Key {
    Key::new(keys::stripe_event_pk(event_id), keys::CLAIM_SK)
}

fn seen_item(app: &App, event: &Event, org_id: &str, pending: Vec<DomainEvent>) -> AppResult<Item> {
    let seen = SeenEvent {
        event_type: event.kind.clone(),
        org_id: org_id.into(),
        pending,
    };
    let mut item = to_item(&keys::stripe_event_pk(&event.id), keys::CLAIM_SK, &seen)?;
    let expires = app.clock.now() + chrono::Duration::days(EVENT_ID_DAYS);
    item.insert(crate::ports::table::TTL.into(), expires.timestamp().into());
    Ok(item)
}

async fn apply(app: &App, org_id: &OrgId, event: &Event) -> AppResult<Outcome> {
    let pk = keys::org_pk(org_id);
    for _ in 0..ATTEMPTS {
        let keys = [
            seen_key(&event.id),
            Key::new(pk.clone(), keys::ORG_SK),
            Key::new(pk.clone(), keys::SUBSCRIPTION_SK),
        ];
        let mut items = app.table.get_many(&keys).await?.into_iter();
        if let Some(seen) = items.next().flatten() {
            publish_pending(app, event, from_item(seen)?).await?;
            return Ok(Outcome::Duplicate);
        }
        let Some(org) = items.next().flatten().map(from_item::<Org>).transpose()? else {
            tracing::warn!(event_id = %event.id, %org_id, "Stripe event for an org that no longer exists: ignored");
            return Ok(Outcome::UnknownCustomer);
        };
        let stored = subscription_from(items.next().flatten())?;
        let current = stored.clone().unwrap_or_else(|| Subscription {
            org_id: org_id.to_string(),
            customer_id: id_at(&event.data.object, "customer").unwrap_or_default(),
            ..Subscription::default()
        });
        let now = app.clock.now();
        let mut pending = Vec::new();
        let mut outcome = Outcome::Applied;
        let next = match next_state(&app.settings.billing, &current, event) {
            Some(next) => Some(next),
            None => match other_subscription(&current, event) {
                Some((next, true)) => {
                    tracing::error!(event_id = %event.id, %org_id, subscriptions = ?next.conflicting_subscriptions, "a second live subscription for one org: both are charged; raised to its owners");
                    pending.push(conflict_raised(event, org_id, &next, now));
                    outcome = Outcome::ConflictingSubscription;
                    Some(next)
                }
                Some((next, false)) => Some(next),
                None => None,
            },
        };
        let mut ops = Vec::new();
        if let Some(price) = next
            .as_ref()
            .and_then(|n| n.price_id.as_deref())
            .filter(|p| app.settings.billing.plan_for_price(p).is_none())
        {
            ops.push(TxOp::Put {
                item: unmapped_price_alert(app, price, org_id)?,
                condition: None,
            });
        }
        if let Some(mut next) = next.clone() {
            next.version = current.version + 1;
            next.updated_at = now;
            let (plan, until) = next.grant();
            if plan != org.plan || until != org.plan_until {
                let mut changed = org.clone();
                changed.plan = plan;
                changed.plan_until = until;
                changed.version += 1;
                changed.updated_at = now;
                if plan != org.plan {
                    pending.push(plan_changed(event, &org, &next, plan, now));
                }
                ops.push(TxOp::Put {
                    item: changed.to_item()?,
                    condition: Some(Condition::VersionEquals(org.version)),
                });
                let details = serde_json::json!({
                    "from": {"plan": org.plan, "until": org.plan_until.map(crate::clock::timestamp)},
                    "to": {"plan": plan, "until": until.map(crate::clock::timestamp)},
                    "stripeEvent": event.id,
                    "eventType": event.kind,
                });
                let stripe = crate::tenancy::TenantCtx::stripe(org_id);
                ops.push(crate::audit::entry(
                    &stripe,
                    now,
                    "billing.plan_changed",
                    format!("org:{org_id}"),
                    details,
                )?);
            }
            ops.push(TxOp::Put {
                item: next.to_item()?,
                condition: Some(match stored {
                    Some(_) => Condition::VersionEquals(current.version),
                    None => Condition::NotExists,
                }),
            });
        }
        ops.insert(
            0,
            TxOp::Put {
                item: seen_item(app, event, org_id, pending.clone())?,
                condition: Some(Condition::NotExists),
            },
        );
        match app.table.transact(ops).await {
            Ok(()) => {
                publish(app, event, org_id, pending).await?;
                return Ok(if next.is_some() { outcome } else { Outcome::Stale });
            }
            // Another delivery of this event got there first.
            Err(TableError::ConditionFailed { op: Some(0) }) => {
                let seen = app.table.get(&seen_key(&event.id)).await?;
                if let Some(seen) = seen {
                    publish_pending(app, event, from_item(seen)?).await?;
                }
                return Ok(Outcome::Duplicate);
            }
            // The org or its subscription changed meanwhile: read again and decide again.
            Err(TableError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Unavailable {
        what: format!(
            "Stripe event {} kept conflicting with concurrent changes; Stripe will deliver it again",
            event.id
        ),
        cause: None,
    })
}

fn plan_changed(event: &Event, org: &Org, next: &Subscription, plan: Plan, now: DateTime<Utc>) -> DomainEvent {
    DomainEvent {
        id: format!("stripe-{}", event.id),
        source: "chief.billing".into(),
        detail_type: "billing.plan_changed".into(),
        org_id: org.id.clone(),
        at: now,
        detail: serde_json::json!({
            "from": org.plan,
            "to": plan,
            "status": next.status,
            "subscriptionId": next.subscription_id,
            "stripeEventId": event.id,
            "stripeEventType": event.kind,
        }),
    }
}

async fn publish_pending(app: &App, event: &Event, seen: SeenEvent) -> AppResult<()> {
    if seen.pending.is_empty() {
        return Ok(());
    }
    publish(app, event, &seen.org_id, seen.pending).await
}

/// Publishes, then clears the pending list. A failure is a 503, so Stripe delivers again
/// and the duplicate path publishes what is still pending.
async fn publish(app: &App, event: &Event, org_id: &str, pending: Vec<DomainEvent>) -> AppResult<()> {
    if pending.is_empty() {
        return Ok(());
    }
    app.events.publish(&pending).await?;
    let cleared = seen_item(app, event, org_id, Vec::new())?;
    match app.table.put(cleared, Some(Condition::Exists)).await {
        Ok(()) | Err(TableError::ConditionFailed { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::GRACE_PERIOD_DAYS;

    fn event(kind: &str, created: i64, object: Value) -> Event {
        Event {
            id: format!("evt_{created}"),
            kind: kind.into(),
            created,
            data: EventData { object },
        }
    }

    fn app() -> BillingSettings {
        BillingSettings {
            price_pro: Some("price_pro".into()),
            price_enterprise: Some("price_ent".into()),
            ..BillingSettings::default()
        }
    }

    fn subscription(status: &str, price: &str) -> Value {
        serde_json::json!({"id": "sub_1", "customer": "cus_1", "status": status, "cancel_at_period_end": false,
            "items": {"data": [{"price": {"id": price}, "current_period_end": 1_800_000_000}]}})
    }

    #[test]
    fn an_older_event_does_not_undo_a_newer_state() {
        let app = app();
        let active = next_state(
            &app,
            &Subscription::default(),
            &event("customer.subscription.updated", 200, subscription("active", "price_pro")),
        )
        .unwrap();
        assert_eq!((active.status.as_deref(), active.plan), (Some("active"), Plan::Pro));
        assert!(
            next_state(
                &app,
                &active,
                &event("customer.subscription.created", 100, subscription("incomplete", "price_pro"))
            )
            .is_none()
        );
        // The same second: a state further along wins, one behind does not.
        assert!(
            next_state(
                &app,
                &active,
                &event("customer.subscription.created", 200, subscription("incomplete", "price_pro"))
            )
            .is_none()
        );
        assert!(
            next_state(
                &app,
                &active,
                &event("customer.subscription.deleted", 200, subscription("canceled", "price_pro"))
            )
            .is_some()
        );
    }

    #[test]
    fn prices_map_to_plans_and_an_unknown_price_never_keeps_a_higher_plan() {
        let app = app();
        let ent = next_state(
            &app,
            &Subscription::default(),
            &event("customer.subscription.updated", 1, subscription("active", "price_ent")),
        )
        .unwrap();
        assert_eq!(ent.plan, Plan::Enterprise);
        let unknown = next_state(
            &app,
            &ent,
            &event("customer.subscription.updated", 2, subscription("active", "price_zzz")),
        )
        .unwrap();
        assert_eq!(unknown.plan, Plan::Free);
        assert_eq!(unknown.grant().0, Plan::Free);
        assert_eq!(unknown.price_id.as_deref(), Some("price_zzz"));
        assert_eq!(
            unknown.current_period_end.map(crate::clock::timestamp).as_deref(),
            Some("2027-01-15T08:00:00.000Z")
        );
    }

    #[test]
    fn past_due_keeps_the_plan_for_the_grace_period_and_deleted_drops_it_at_once() {
        let app = app();
        let active = next_state(
            &app,
            &Subscription::default(),
            &event("customer.subscription.updated", 1_000, subscription("active", "price_pro")),
        )
        .unwrap();
        let past_due = next_state(
            &app,
            &active,
            &event("customer.subscription.updated", 2_000, subscription("past_due", "price_pro")),
        )
        .unwrap();
        let (plan, until) = past_due.grant();
        assert_eq!(plan, Plan::Pro);
        assert_eq!(until.unwrap().timestamp(), 2_000 + GRACE_PERIOD_DAYS * 86_400);
        // Still past due later: the grace runs from when it first fell due.
        let still = next_state(
            &app,
            &past_due,
            &event("customer.subscription.updated", 3_000, subscription("past_due", "price_pro")),
        )
        .unwrap();
        assert_eq!(still.grant().1, until);
        let deleted = next_state(
            &app,
            &still,
            &event("customer.subscription.deleted", 4_000, subscription("canceled", "price_pro")),
        )
        .unwrap();
        assert_eq!(deleted.grant(), (Plan::Free, None));
    }

    #[test]
    fn events_about_an_old_subscription_leave_a_live_one_alone() {
        let app = app();
        let mut live = next_state(
            &app,
            &Subscription::default(),
            &event("customer.subscription.updated", 1, subscription("active", "price_pro")),
        )
        .unwrap();
        live.subscription_id = Some("sub_new".into());
        assert!(
            next_state(
                &app,
                &live,
                &event("customer.subscription.deleted", 5, subscription("canceled", "price_pro"))
            )
            .is_none()
        );
    }
}
