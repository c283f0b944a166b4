//! Configuration the domain reads from the environment the same way in every front door
//! (the Lambda glue and `local`), and the one error a bad configuration gives.

use crate::app::{BillingSettings, PlatformVersions};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing configuration: set {0}")]
    Missing(String),
    #[error("bad configuration: {0}")]
    Invalid(String),
}

/// A variable's trimmed value, unless unset or blank.
pub fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// A variable that is `on` or `off`, with `default` when unset.
pub fn on_off(name: &str, default: bool) -> Result<bool, ConfigError> {
    match optional(name).as_deref() {
        None => Ok(default),
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(other) => Err(ConfigError::Invalid(format!("{name}={other}: use on or off"))),
    }
}

/// `CHIEF_ACCESS_TOKEN_MINUTES` (default 15): an access token's lifetime, 1 to 1440 minutes.
pub fn access_token_ttl_from_env() -> Result<chrono::Duration, ConfigError> {
    match optional("CHIEF_ACCESS_TOKEN_MINUTES") {
        None => Ok(chrono::Duration::minutes(15)),
        Some(v) => match v.parse::<i64>() {
            Ok(minutes) if (1..=1440).contains(&minutes) => Ok(chrono::Duration::minutes(minutes)),
            _ => Err(ConfigError::Invalid(format!(
                "CHIEF_ACCESS_TOKEN_MINUTES={v}: a number of minutes from 1 to 1440"
            ))),
        },
    }
}

/// The AI price table: the defaults, with `CHIEF_AI_PRICES` (a JSON object of model to
/// `{"input", "output"}` dollars per million tokens) over them.
pub fn ai_prices_from_env() -> Result<crate::ports::ai_pricing::Prices, ConfigError> {
    match optional("CHIEF_AI_PRICES") {
        None => Ok(crate::ports::ai_pricing::Prices::default()),
        Some(v) => crate::ports::ai_pricing::Prices::with_overrides(&v).map_err(ConfigError::Invalid),
    }
}

/// Where Google's signing keys are fetched: `CHIEF_GOOGLE_JWKS_URL`, or Google's own.
pub fn google_jwks_url() -> String {
    optional("CHIEF_GOOGLE_JWKS_URL").unwrap_or_else(|| crate::auth::google::JWKS_URL.into())
}

/// Billing settings both front doors read from the environment: `STRIPE_PRICE_PRO`,
/// `STRIPE_PRICE_ENTERPRISE`, and optionally `CHIEF_BILLING_SUCCESS_URL`,
/// `CHIEF_BILLING_CANCEL_URL`, `CHIEF_BILLING_PORTAL_RETURN_URL`.
pub fn billing_from_env() -> BillingSettings {
    BillingSettings {
        price_pro: optional("STRIPE_PRICE_PRO"),
        price_enterprise: optional("STRIPE_PRICE_ENTERPRISE"),
        success_url: optional("CHIEF_BILLING_SUCCESS_URL"),
        cancel_url: optional("CHIEF_BILLING_CANCEL_URL"),
        portal_return_url: optional("CHIEF_BILLING_PORTAL_RETURN_URL"),
    }
}

/// The platforms' API versions from `CHIEF_LINKEDIN_VERSION` and `CHIEF_META_GRAPH_VERSION`,
/// each checked for its shape (`YYYYMM`, `vNN.0`); unset, the defaults.
pub fn platform_versions_from_env() -> Result<PlatformVersions, ConfigError> {
    let defaults = PlatformVersions::default();
    let versions = PlatformVersions {
        linkedin: optional("CHIEF_LINKEDIN_VERSION").unwrap_or(defaults.linkedin),
        graph: optional("CHIEF_META_GRAPH_VERSION").unwrap_or(defaults.graph),
    };
    versions.check().map_err(ConfigError::Invalid)?;
    Ok(versions)
}
