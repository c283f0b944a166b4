//! `GET /v1/health`: the table and the signing key, with how long each took, and whether the
//! AI provider, Stripe, the queues, the event bus and mail are set up (and reachable where a
//! check costs nothing: a secret read, never a call to a paid API).

use crate::api::router::Params;
use crate::api::{Reply, Req, RouteGroup, route};
use crate::app::App;
use crate::error::AppResult;
use crate::keys;
use crate::ports::queue::QueueName;
use crate::ports::secrets::{SecretName, SecretsError};
use crate::ports::table::{Key, Query};
use http::StatusCode;
use serde_json::{Value, json};
use std::time::Instant;

pub const ROUTES: RouteGroup = RouteGroup {
    function: "api-health",
    prefixes: &["/v1/health"],
    body_limit: None,
    ports: &[],
    routes: &[route!(public GET "/v1/health" => health)],
};

fn check<E: std::fmt::Display>(started: Instant, outcome: Result<(), E>) -> Value {
    let latency_ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    match outcome {
        Ok(()) => json!({"ok": true, "latencyMs": latency_ms}),
        Err(e) => {
            // The full error goes to the log; the public answer keeps its first words.
            tracing::warn!(error = %e, "health check failed");
            let summary: String = e.to_string().chars().take(120).collect();
            json!({"ok": false, "latencyMs": latency_ms, "error": summary})
        }
    }
}

/// Whether a secret is set, without using it: a read of the secret store, never a call to
/// the paid API it unlocks.
async fn secret_set(app: &App, name: SecretName) -> Value {
    let started = Instant::now();
    match app.secrets.get(name).await {
        Ok(_) => json!({"configured": true, "ok": true, "latencyMs": ms(started)}),
        Err(SecretsError::Missing(_)) => json!({"configured": false, "ok": true}),
        Err(e) => {
            tracing::warn!(error = %e, secret = name.as_str(), "health: secret store unreachable");
            json!({"configured": false, "ok": false, "error": "the secret store could not be reached"})
        }
    }
}

fn ms(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0
}

/// Stripe: the key set, both prices given, and no subscription seen at a price that maps to
/// no plan (those orgs are on free until it is mapped).
async fn stripe(app: &App) -> AppResult<Value> {
    let mut check = secret_set(app, SecretName::StripeSecretKey).await;
    let billing = &app.settings.billing;
    let prices = billing.price_pro.is_some() && billing.price_enterprise.is_some();
    let seen = app.table.query(Query::partition(keys::UNMAPPED_PRICES_PK).limit(20)).await?.items;
    let unmapped: Vec<&str> = seen
        .iter()
        .filter_map(|item| item.get("price").and_then(Value::as_str))
        .filter(|price| billing.plan_for_price(price).is_none())
        .collect();
    check["configured"] = (check["configured"] == true && prices).into();
    check["pricesSet"] = prices.into();
    check["unmappedPrices"] = json!(unmapped);
    if !unmapped.is_empty() {
        check["ok"] = false.into();
        check["error"] = "subscriptions pay prices that map to no plan: set STRIPE_PRICE_PRO and STRIPE_PRICE_ENTERPRISE".into();
    }
    Ok(check)
}

async fn health(app: &App, _: Req, _: Params) -> AppResult<Reply> {
    let started = Instant::now();
    let table = check(
        started,
        app.table
            .get(&Key::new(crate::keys::HEALTH_PK, crate::keys::HEALTH_PK))
            .await
            .map(|_| ()),
    );
    let started = Instant::now();
    let secrets = check(started, app.secrets.get(SecretName::JwtSigningKey).await.map(|_| ()));
    let healthy = table["ok"] == true && secrets["ok"] == true;
    let deps = &app.settings.dependencies;
    let mut ai = match deps.ai_provider.as_str() {
        crate::ports::ai::OFFLINE_PROVIDER => json!({"configured": true, "ok": true}),
        _ => secret_set(app, SecretName::AiApiKey).await,
    };
    ai["provider"] = deps.ai_provider.clone().into();
    let stripe = if healthy {
        stripe(app).await?
    } else {
        json!({"ok": false, "error": "the table is unreachable"})
    };
    let queues: serde_json::Map<String, Value> = QueueName::ALL
        .iter()
        .map(|q| (q.as_str().to_string(), deps.queues.contains(q).into()))
        .collect();
    let mut mail = match deps.mail.as_deref() {
        Some("smtp") => secret_set(app, SecretName::SmtpUrl).await,
        Some(_) => json!({"configured": true, "ok": true}),
        None => json!({"configured": false, "ok": true}),
    };
    mail["transport"] = json!(deps.mail);
    let checks = json!({
        "table": table,
        "secrets": secrets,
        "ai": ai,
        "stripe": stripe,
        "stripeWebhook": secret_set(app, SecretName::StripeWebhookSecret).await,
        "queues": queues,
        "eventBus": {"configured": deps.event_bus.is_some(), "target": deps.event_bus},
        "mail": mail,
    });
    let all_ok = checks
        .as_object()
        .into_iter()
        .flatten()
        .all(|(_, c)| c.get("ok").is_none_or(|ok| ok == true));
    Ok(Reply {
        // 503 when the API cannot work at all; a dependency that is off or wrong is reported.
        status: if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE },
        data: json!({
            "status": if !healthy { "unavailable" } else if all_ok { "ok" } else { "degraded" },
            "version": env!("CARGO_PKG_VERSION"),
            "checks": checks,
        }),
    })
}
