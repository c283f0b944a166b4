//! One error type for every request and job, and every port's error turned into it here, in
//! one place, keeping its cause. A client sees `public_message` (what failed, in plain words);
//! the log sees the cause chain. The HTTP status of each is the API layer's (`api::status`).

use crate::ports::ai::AiError;
use crate::ports::events::EventBusError;
use crate::ports::mailer::MailError;
use crate::ports::payments::PaymentsError;
use crate::ports::queue::QueueError;
use crate::ports::secrets::SecretsError;
use crate::ports::social::SocialError;
use crate::ports::table::TableError;

/// The cause of a failure on our side or a provider's: logged, never shown.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("the request body is over {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    Unauthorized(String),
    #[error("the token has expired: sign in again")]
    TokenExpired,
    /// The session the token belongs to was signed out (or its refresh token reused).
    #[error("{0}")]
    SessionRevoked(String),
    #[error("{0}")]
    Forbidden(String),
    /// Forbidden for a reason the caller can fix, named by `code` (an unverified address).
    #[error("{message}")]
    ForbiddenUntil { code: &'static str, message: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The path is served, by the methods in `allow` (`GET, POST`), which go out as `Allow`.
    #[error("method not allowed: this path takes {allow}")]
    MethodNotAllowed { allow: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// What the request names existed and has ended (an expired survey link).
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    #[error("{0}")]
    QuotaExceeded(String),
    /// Too many attempts; `retry_after` (seconds) goes out as the `Retry-After` header.
    #[error("{message}")]
    RateLimited { message: String, retry_after: u64 },
    /// A dependency briefly down: worth trying again later.
    #[error("{what}")]
    Unavailable {
        what: String,
        #[source]
        cause: Option<Cause>,
    },
    /// A capability that is off until configured (e.g. billing without a Stripe key).
    #[error("{message}")]
    Disabled { code: &'static str, message: String },
    #[error("the AI provider is rate limiting; try again shortly")]
    AiRateLimited(#[source] Cause),
    #[error("the AI provider is unavailable; try again shortly")]
    AiUnavailable(#[source] Cause),
    /// A provider refused what we asked of it (a setting of ours is wrong, not the input).
    #[error("{what}")]
    Upstream {
        code: &'static str,
        what: &'static str,
        #[source]
        cause: Cause,
    },
    #[error("{what}")]
    Internal {
        what: String,
        #[source]
        cause: Option<Cause>,
    },
}

pub type AppResult<T> = Result<T, AppError>;

/// A store, queue or secret briefly down has usually recovered within a second or two,
/// after the SDK's own bounded retries have been spent.
const UNAVAILABLE_RETRY_AFTER_SECONDS: u64 = 2;
/// AI providers' rate windows are counted in tens of seconds.
const AI_RETRY_AFTER_SECONDS: u64 = 20;

impl AppError {
    pub fn validation(message: impl Into<String>) -> Self {
        AppError::BadRequest {
            code: "VALIDATION_ERROR",
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn rate_limited(message: impl Into<String>, retry_after: u64) -> Self {
        AppError::RateLimited {
            message: message.into(),
            retry_after,
        }
    }

    /// `what` failed, in plain words, because of `cause`.
    pub fn unavailable(what: impl Into<String>, cause: impl Into<Cause>) -> Self {
        AppError::Unavailable {
            what: what.into(),
            cause: Some(cause.into()),
        }
    }

    /// A state our own code should never reach.
    pub fn internal(what: impl Into<String>) -> Self {
        AppError::Internal {
            what: what.into(),
            cause: None,
        }
    }

    /// A dependency briefly down or rate limiting: worth trying again later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            AppError::Unavailable { .. } | AppError::AiRateLimited(_) | AppError::AiUnavailable(_)
        )
    }

    /// How many seconds a client should wait before trying again (`Retry-After`), for the
    /// errors worth trying again: a limit's own figure, a brief outage's short pause.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            AppError::RateLimited { retry_after, .. } => Some(*retry_after),
            AppError::Unavailable { .. } => Some(UNAVAILABLE_RETRY_AFTER_SECONDS),
            AppError::AiRateLimited(_) | AppError::AiUnavailable(_) => Some(AI_RETRY_AFTER_SECONDS),
            _ => None,
        }
    }

    /// A failure on our side or a provider's, whose details belong in the log.
    pub fn is_ours(&self) -> bool {
        matches!(
            self,
            AppError::Unavailable { .. }
                | AppError::AiRateLimited(_)
                | AppError::AiUnavailable(_)
                | AppError::Upstream { .. }
                | AppError::Internal { .. }
        )
    }

    /// What a client is told. A client error says what to fix; a failure on our side or a
    /// provider's says what failed in plain words only.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Internal { .. } => "something went wrong on our side".into(),
            other => other.to_string(),
        }
    }

    /// The error and its causes, for the log.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest { code, .. }
            | AppError::Conflict { code, .. }
            | AppError::Gone { code, .. }
            | AppError::Disabled { code, .. }
            | AppError::ForbiddenUntil { code, .. }
            | AppError::Upstream { code, .. } => code,
            AppError::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            AppError::Unauthorized(_) => "UNAUTHORIZED",
            AppError::TokenExpired => "TOKEN_EXPIRED",
            AppError::SessionRevoked(_) => "SESSION_REVOKED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            AppError::QuotaExceeded(_) => "QUOTA_EXCEEDED",
            AppError::RateLimited { .. } => "RATE_LIMITED",
            AppError::Unavailable { .. } => "UNAVAILABLE",
            AppError::AiRateLimited(_) => "AI_RATE_LIMITED",
            AppError::AiUnavailable(_) => "AI_UNAVAILABLE",
            AppError::Internal { .. } => "INTERNAL",
        }
    }
}

impl From<AiError> for AppError {
    fn from(e: AiError) -> Self {
        match e {
            AiError::NotConfigured(m) => AppError::Disabled {
                code: "AI_NOT_CONFIGURED",
                message: format!("the AI provider is not configured: {m}"),
            },
            AiError::RateLimited(_) => AppError::AiRateLimited(e.into()),
            AiError::Rejected(_) => AppError::Upstream {
                code: "AI_PROVIDER_ERROR",
                what: "the AI provider refused the request",
                cause: e.into(),
            },
            AiError::Unavailable(_) => AppError::AiUnavailable(e.into()),
        }
    }
}

impl From<TableError> for AppError {
    fn from(e: TableError) -> Self {
        match e {
            TableError::ConditionFailed { .. } => AppError::conflict("CONFLICT", "the item changed meanwhile: read it again"),
            TableError::BadCursor => AppError::BadRequest {
                code: "INVALID_CURSOR",
                message: "the cursor is not one this API gave".into(),
            },
            TableError::Invalid(_) => AppError::Internal {
                what: "a request to the store was invalid".into(),
                cause: Some(e.into()),
            },
            TableError::Unavailable(_) => AppError::unavailable("the store is unavailable", e),
        }
    }
}

impl From<QueueError> for AppError {
    fn from(e: QueueError) -> Self {
        AppError::unavailable("the job queue is unavailable", e)
    }
}

impl From<EventBusError> for AppError {
    fn from(e: EventBusError) -> Self {
        AppError::unavailable("the event bus is unavailable", e)
    }
}

impl From<SecretsError> for AppError {
    fn from(e: SecretsError) -> Self {
        match e {
            SecretsError::Missing(_) => AppError::Internal {
                what: "a secret this function needs is not configured".into(),
                cause: Some(e.into()),
            },
            SecretsError::Unavailable(_) => AppError::unavailable("the secret store is unavailable", e),
        }
    }
}

impl From<MailError> for AppError {
    fn from(e: MailError) -> Self {
        AppError::unavailable("the mail could not be sent", e)
    }
}

impl From<SocialError> for AppError {
    fn from(e: SocialError) -> Self {
        match e {
            SocialError::Unavailable(_) => AppError::unavailable("the social platform is unavailable", e),
            other => AppError::validation(other.to_string()),
        }
    }
}

impl From<PaymentsError> for AppError {
    fn from(e: PaymentsError) -> Self {
        match e {
            PaymentsError::NotConfigured(message) => AppError::Disabled {
                code: "BILLING_NOT_CONFIGURED",
                message,
            },
            PaymentsError::Rejected(_) => AppError::Upstream {
                code: "PAYMENT_PROVIDER_ERROR",
                what: "Stripe refused the request",
                cause: e.into(),
            },
            PaymentsError::Unavailable(_) => AppError::unavailable("Stripe is unavailable", e),
        }
    }
}

impl From<crate::ids::InvalidId> for AppError {
    fn from(e: crate::ids::InvalidId) -> Self {
        if e.stored {
            AppError::Internal {
                what: "a stored id could not be read".into(),
                cause: Some(e.into()),
            }
        } else {
            AppError::BadRequest {
                code: "INVALID_ID",
                message: e.to_string(),
            }
        }
    }
}

/// Our own values that would not serialise, or stored ones that would not read.
impl From<serde_json::Error> for AppError {
    fn from(e: serde_json::Error) -> Self {
        AppError::Internal {
            what: "a value could not be read or written".into(),
            cause: Some(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_error_shows_what_failed_and_keeps_its_cause_for_the_log() {
        let refused = AppError::from(PaymentsError::Rejected("No such price: 'price_x'".into()));
        assert_eq!(
            (refused.code(), refused.public_message().as_str()),
            ("PAYMENT_PROVIDER_ERROR", "Stripe refused the request")
        );
        assert!(refused.chain().contains("No such price"), "{}", refused.chain());
        let down = AppError::from(TableError::Unavailable("dispatch failure: connection refused (10.0.0.5)".into()));
        assert_eq!(down.public_message(), "the store is unavailable");
        assert!(down.is_transient() && down.chain().contains("10.0.0.5"));
        let internal = AppError::from(serde_json::from_str::<u8>("x").unwrap_err());
        assert_eq!(internal.public_message(), "something went wrong on our side");
    }

    #[test]
    fn the_ai_providers_limits_and_outages_are_their_own_transient_variants() {
        let limited = AppError::from(AiError::RateLimited("sk-...abcd over its limit".into()));
        assert!(matches!(limited, AppError::AiRateLimited(_)) && limited.is_transient());
        assert!(!limited.public_message().contains("sk-"));
        assert!(AppError::from(AiError::Unavailable("503".into())).is_transient());
        let rejected = AppError::from(AiError::Rejected("bad model".into()));
        assert!(!rejected.is_transient() && rejected.is_ours());
        assert!(!AppError::validation("x").is_ours());
    }
}
