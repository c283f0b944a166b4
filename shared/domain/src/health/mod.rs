//! `GET /v1/health`: the table and the signing key, with how long each took, and whether the
//! AI provider, Stripe, the queues, the event bus and mail are set up (and reachable where a
//! check costs nothing: a secret read, never a call to a paid API).

use crate::api::router::Params;
use crate::api::{Reply, Req};
use crate::app::App;
use crate::error::AppResult;
use crate::keys;
use crate::ports::queue::QueueName;
use crate::ports::secrets::{SecretName, SecretsError};
use crate::ports::table::{Key, Query};
use http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use std::time::Instant;

/// One dependency's state: whether it is set up, whether it answered, how fast.
#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Check {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    configured: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_ms: Option<f64>,
    /// What failed, in a few words (the log has the rest).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// The AI provider in use (`offline` answers without a network).
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<String>,
    /// How mail leaves (`smtp`, `outbox`), if at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    transport: Option<String>,
    /// Stripe: both plan prices are set.
    #[serde(skip_serializing_if = "Option::is_none")]
    prices_set: Option<bool>,
    /// Stripe: prices of live subscriptions that map to no plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    unmapped_prices: Option<Vec<String>>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct EventBusCheck {
    configured: bool,
    target: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Checks {
    table: Check,
    secrets: Check,
    ai: Check,
    stripe: Check,
    stripe_webhook: Check,
    /// Each queue, and whether this function may send to it.
    queues: std::collections::BTreeMap<String, bool>,
    event_bus: EventBusCheck,
    mail: Check,
    /// The social platforms' API versions in use and how old each is.
    platforms: PlatformChecks,
}

/// An API version: a platform serves each for a while (LinkedIn at least 365 days from its
/// month, Meta's Graph about 730 from its release), then refuses it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct VersionCheck {
    ok: bool,
    version: String,
    /// Days since the version came out (`null`: a version this build does not know).
    age_days: Option<i64>,
    supported_days: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct PlatformChecks {
    linkedin: VersionCheck,
    meta_graph: VersionCheck,
}

/// A version is moved on a month before the platform drops it; one the platform refused
/// (LinkedIn's 426, recorded by the publishing pipeline) is wrong until the setting changes.
fn version_check(version: &str, age_days: Option<i64>, supported_days: i64, refused: Option<String>) -> VersionCheck {
    let ageing = age_days.is_some_and(|age| age > supported_days - 30);
    let error = refused.or_else(|| ageing.then(|| format!("{version} is near the end of its support: move to a newer version")));
    VersionCheck {
        ok: error.is_none(),
        version: version.to_string(),
        age_days,
        supported_days,
        error,
    }
}

fn platforms(app: &App, linkedin_refusal: Option<crate::ports::table::Item>) -> PlatformChecks {
    let versions = &app.settings.platforms;
    let (linkedin_age, graph_age) = versions.ages(app.clock.now().date_naive());
    let refused = linkedin_refusal
        .and_then(|item| crate::model::from_item::<crate::content::publish::PlatformError>(item).ok())
        .filter(|seen| seen.version == versions.linkedin)
        .map(|seen| seen.error);
    PlatformChecks {
        linkedin: version_check(&versions.linkedin, linkedin_age, 365, refused),
        meta_graph: version_check(&versions.graph, graph_age, 730, None),
    }
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    /// Working, with a dependency off or wrong.
    Degraded,
    /// The table or the signing key cannot be reached.
    Unavailable,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Health {
    status: Status,
    version: &'static str,
    checks: Checks,
}

fn check<E: std::fmt::Display>(started: Instant, outcome: Result<(), E>) -> Check {
    let latency_ms = Some(ms(started));
    match outcome {
        Ok(()) => Check {
            ok: true,
            latency_ms,
            ..Check::default()
        },
        Err(e) => {
            // The full error goes to the log; the public answer keeps its first words.
            tracing::warn!(error = %e, "health check failed");
            Check {
                latency_ms,
                error: Some(e.to_string().chars().take(120).collect()),
                ..Check::default()
            }
        }
    }
}

/// Set up or not, with nothing to reach.
fn configured(configured: bool) -> Check {
    Check {
        ok: true,
        configured: Some(configured),
        ..Check::default()
    }
}

/// Whether a secret is set, without using it: a read of the secret store, never a call to
/// the paid API it unlocks.
async fn secret_set(app: &App, name: SecretName) -> Check {
    let started = Instant::now();
    match app.secrets.get(name).await {
        Ok(_) => Check {
            latency_ms: Some(ms(started)),
            ..configured(true)
        },
        Err(SecretsError::Missing(_)) => configured(false),
        Err(e) => {
            tracing::warn!(error = %e, secret = name.as_str(), "health: secret store unreachable");
            Check {
                configured: Some(false),
                error: Some("the secret store could not be reached".into()),
                ..Check::default()
            }
        }
    }
}

fn ms(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0
}

/// Stripe: the key set, both prices given, and no subscription seen at a price that maps to
/// no plan (those orgs are on free until it is mapped).
async fn stripe(app: &App) -> AppResult<Check> {
    let mut check = secret_set(app, SecretName::StripeSecretKey).await;
    let billing = &app.settings.billing;
    let prices = billing.price_pro.is_some() && billing.price_enterprise.is_some();
    let seen = app.table.query(Query::partition(keys::UNMAPPED_PRICES_PK).limit(20)).await?.items;
    let unmapped: Vec<String> = seen
        .iter()
        .filter_map(|item| item.get("price").and_then(Value::as_str))
        .filter(|price| billing.plan_for_price(price).is_none())
        .map(str::to_string)
        .collect();
    check.configured = Some(check.configured == Some(true) && prices);
    check.prices_set = Some(prices);
    if !unmapped.is_empty() {
        check.ok = false;
        check.error = Some("subscriptions pay prices that map to no plan: set STRIPE_PRICE_PRO and STRIPE_PRICE_ENTERPRISE".into());
    }
    check.unmapped_prices = Some(unmapped);
    Ok(check)
}

/// `GET /v1/health` (its row is in `routes::api_health`, beside the contract's).
pub async fn health(app: &App, _: Req, _: Params) -> AppResult<Reply<Health>> {
    let started = Instant::now();
    let read = app
        .table
        .get_many(&[
            Key::new(keys::HEALTH_PK, keys::HEALTH_PK),
            Key::new(keys::HEALTH_PK, keys::platform_error_sk("linkedin")),
        ])
        .await;
    let linkedin_refusal = read.as_ref().ok().and_then(|items| items.get(1).cloned().flatten());
    let table = check(started, read.map(|_| ()));
    let started = Instant::now();
    let secrets = check(started, app.secrets.get(SecretName::JwtSigningKey).await.map(|_| ()));
    let healthy = table.ok && secrets.ok;
    let deps = &app.settings.dependencies;
    let ai = match deps.ai_provider.as_str() {
        crate::ports::ai::OFFLINE_PROVIDER => configured(true),
        _ => secret_set(app, SecretName::AiApiKey).await,
    };
    let stripe = if healthy {
        stripe(app).await?
    } else {
        Check {
            error: Some("the table is unreachable".into()),
            ..Check::default()
        }
    };
    let mail = match deps.mail.as_deref() {
        Some("smtp") => secret_set(app, SecretName::SmtpUrl).await,
        Some(_) => configured(true),
        None => configured(false),
    };
    let checks = Checks {
        table,
        secrets,
        ai: Check {
            provider: Some(deps.ai_provider.clone()),
            ..ai
        },
        stripe,
        stripe_webhook: secret_set(app, SecretName::StripeWebhookSecret).await,
        queues: QueueName::ALL
            .iter()
            .map(|q| (q.as_str().to_string(), deps.queues.contains(q)))
            .collect(),
        event_bus: EventBusCheck {
            configured: deps.event_bus.is_some(),
            target: deps.event_bus.clone(),
        },
        mail: Check {
            transport: deps.mail.clone(),
            ..mail
        },
        platforms: platforms(app, linkedin_refusal),
    };
    let all_ok = [&checks.ai, &checks.stripe, &checks.stripe_webhook, &checks.mail]
        .iter()
        .all(|c| c.ok)
        && checks.platforms.linkedin.ok
        && checks.platforms.meta_graph.ok;
    let health = Health {
        status: if !healthy {
            Status::Unavailable
        } else if all_ok {
            Status::Ok
        } else {
            Status::Degraded
        },
        version: env!("CARGO_PKG_VERSION"),
        checks,
    };
    // 503 when the API cannot work at all; a dependency that is off or wrong is reported.
    Reply::with_status(health, if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE })
}
