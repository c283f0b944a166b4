//! One error type for every request, mapped in one place to the HTTP error shape
//! `{"success": false, "error": {"code", "message"}}`.

use crate::ports::table::TableError;
use lambda_http::http::StatusCode;

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
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{0}")]
    QuotaExceeded(String),
    /// Too many attempts; `retry_after` (seconds) goes out as the `Retry-After` header.
    #[error("{message}")]
    RateLimited { message: String, retry_after: u64 },
    /// A dependency briefly down: `plain words: detail`. Clients see the plain words (before
    /// the first `: `); the detail (AWS error context, a provider's answer) is logged only.
    #[error("{0}")]
    Unavailable(String),
    /// A capability that is off until configured (e.g. billing without a Stripe key).
    #[error("{message}")]
    Disabled { code: &'static str, message: String },
    /// A provider refused what we asked of it (a setting of ours is wrong, not the input).
    #[error("{message}")]
    Upstream { code: &'static str, message: String },
    #[error("internal error")]
    Internal(String),
}

pub type AppResult<T> = Result<T, AppError>;

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

    /// A dependency briefly down or rate limiting: worth trying again later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            AppError::Unavailable(_)
                | AppError::Disabled {
                    code: "AI_UNAVAILABLE" | "AI_RATE_LIMITED",
                    ..
                }
        )
    }

    /// What a client is told. A client error says what to fix; a failure on our side or a
    /// provider's says what failed in plain words only, as its details go to the log.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Internal(_) => "something went wrong on our side".into(),
            AppError::Unavailable(m) | AppError::Upstream { message: m, .. } => m.split(": ").next().unwrap_or(m).trim().to_string(),
            other => other.to_string(),
        }
    }

    pub fn rate_limited(message: impl Into<String>, retry_after: u64) -> Self {
        AppError::RateLimited {
            message: message.into(),
            retry_after,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Unauthorized(_) | AppError::TokenExpired => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::QuotaExceeded(_) => StatusCode::PAYMENT_REQUIRED,
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) | AppError::Disabled { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Upstream { .. } => StatusCode::BAD_GATEWAY,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest { code, .. }
            | AppError::Conflict { code, .. }
            | AppError::Disabled { code, .. }
            | AppError::Upstream { code, .. } => code,
            AppError::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            AppError::Unauthorized(_) => "UNAUTHORIZED",
            AppError::TokenExpired => "TOKEN_EXPIRED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            AppError::QuotaExceeded(_) => "QUOTA_EXCEEDED",
            AppError::RateLimited { .. } => "RATE_LIMITED",
            AppError::Unavailable(_) => "SERVICE_UNAVAILABLE",
            AppError::Internal(_) => "INTERNAL",
        }
    }
}

impl From<crate::ports::ai::AiError> for AppError {
    fn from(e: crate::ports::ai::AiError) -> Self {
        use crate::ports::ai::AiError;
        // The provider's own words can carry account details (a masked key): logged only.
        match e {
            AiError::NotConfigured(m) => AppError::Disabled {
                code: "AI_NOT_CONFIGURED",
                message: format!("the AI provider is not configured: {m}"),
            },
            AiError::RateLimited(m) => {
                tracing::warn!(detail = %m, "AI provider rate limiting");
                AppError::Disabled {
                    code: "AI_RATE_LIMITED",
                    message: "the AI provider is rate limiting; try again shortly".into(),
                }
            }
            AiError::Rejected(m) => AppError::Upstream {
                code: "AI_PROVIDER_ERROR",
                message: format!("the AI provider refused the request: {m}"),
            },
            AiError::Unavailable(m) => {
                tracing::warn!(detail = %m, "AI provider unavailable");
                AppError::Disabled {
                    code: "AI_UNAVAILABLE",
                    message: "the AI provider is unavailable; try again shortly".into(),
                }
            }
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
            TableError::Invalid(m) => AppError::Internal(m),
            TableError::Unavailable(m) => AppError::Unavailable(format!("the store is unavailable: {m}")),
        }
    }
}
