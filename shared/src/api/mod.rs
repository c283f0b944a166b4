//! The HTTP surface: one request type, one response shape, one route table per group.
//! Requests and responses stay `lambda_http` types; `local` converts at its own edge.

pub mod router;

use crate::app::App;
use crate::error::{AppError, AppResult};
use lambda_http::http::{HeaderMap, Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::HashMap;
use tracing::Instrument;

/// The route groups; each is one Lambda function (and one prefix in `local`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Auth,
    Orgs,
    Leads,
    Billing,
    /// The AI CEO: its config and conversations.
    Chat,
    /// Tasks, approvals, the autonomy policy and the agent's insights.
    Tasks,
    Health,
    /// Stripe's deliveries, on a function URL of their own.
    StripeWebhook,
}

impl Group {
    /// The group that serves a path, as API Gateway's routes send it.
    pub fn for_path(path: &str) -> Option<Group> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match segments.as_slice() {
            ["v1", "auth", ..] => Some(Group::Auth),
            ["v1", "health"] => Some(Group::Health),
            ["v1", "orgs", _, "leads", ..] => Some(Group::Leads),
            ["v1", "orgs", _, "billing", ..] => Some(Group::Billing),
            ["v1", "orgs", _, "ai-config" | "conversations", ..] => Some(Group::Chat),
            ["v1", "orgs", _, "tasks" | "autonomy" | "insights" | "agent", ..] => Some(Group::Tasks),
            ["v1", "stripe", "webhook"] => Some(Group::StripeWebhook),
            ["v1", "orgs", ..] | ["v1", "invitations", ..] => Some(Group::Orgs),
            _ => None,
        }
    }

    /// The largest body the group reads: Stripe's events (an invoice with many lines) can
    /// be larger than any request the app's own routes take.
    pub fn body_limit(self, settings: &crate::app::Settings) -> usize {
        match self {
            Group::StripeWebhook => settings.body_limit.max(WEBHOOK_BODY_LIMIT),
            _ => settings.body_limit,
        }
    }
}

pub const WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;

/// A parsed request: what handlers read, already bounded in size.
pub struct Req {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub query: HashMap<String, String>,
    pub body: Vec<u8>,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
}

impl Req {
    pub fn from_lambda(req: Request, body_limit: usize) -> AppResult<Req> {
        let query = req
            .query_string_parameters()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (source_ip, request_id) = match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => (ctx.http.source_ip.clone(), ctx.request_id.clone()),
            _ => (None, None),
        };
        let (parts, body) = req.into_parts();
        let body = match body {
            Body::Empty => Vec::new(),
            Body::Text(text) => text.into_bytes(),
            Body::Binary(bytes) => bytes,
            _ => Vec::new(),
        };
        if body.len() > body_limit {
            return Err(AppError::PayloadTooLarge { limit: body_limit });
        }
        Ok(Req {
            method: parts.method,
            path: parts.uri.path().to_string(),
            headers: parts.headers,
            query,
            body,
            source_ip,
            request_id,
        })
    }

    /// The JSON body as `T`, with serde's complaint turned into a 400 that names the problem.
    pub fn json<T: DeserializeOwned>(&self) -> AppResult<T> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(AppError::BadRequest {
                code: "INVALID_JSON",
                message: "a JSON body is required".into(),
            });
        }
        // Syntax first, then shape: `[1, 2` is malformed JSON, `[1, 2]` the wrong type.
        let value: Value = serde_json::from_slice(&self.body).map_err(|e| AppError::BadRequest {
            code: "INVALID_JSON",
            message: format!("the body is not valid JSON: {e}"),
        })?;
        serde_json::from_value(value).map_err(|e| AppError::validation(e.to_string()))
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    pub fn bearer_token(&self) -> Option<&str> {
        bearer_token(&self.headers)
    }
}

/// The token of an `Authorization: Bearer …` header (the scheme in any case).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// A successful answer: a status and the `data` of the envelope.
pub struct Reply {
    pub status: StatusCode,
    pub data: Value,
}

impl Reply {
    pub fn ok(data: impl Serialize) -> AppResult<Reply> {
        Self::with(StatusCode::OK, data)
    }
    pub fn created(data: impl Serialize) -> AppResult<Reply> {
        Self::with(StatusCode::CREATED, data)
    }
    fn with(status: StatusCode, data: impl Serialize) -> AppResult<Reply> {
        let data = serde_json::to_value(data).map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(Reply { status, data })
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::Text(body.to_string()))
        .unwrap_or_default()
}

pub fn reply_response(reply: Reply) -> Response<Body> {
    json_response(reply.status, &json!({"success": reply.status.is_success(), "data": reply.data}))
}

/// The error envelope. A failure on our side or a provider's names the request, whose log
/// lines hold the details.
pub fn error_response(err: &AppError, request_id: Option<&str>) -> Response<Body> {
    let mut message = err.public_message();
    if let Some(id) = request_id.filter(|_| err.status().is_server_error() || matches!(err, AppError::Upstream { .. })) {
        message.push_str(&format!(" (request id {id})"));
    }
    let mut response = json_response(
        err.status(),
        &json!({"success": false, "error": {"code": err.code(), "message": message}}),
    );
    if let AppError::RateLimited { retry_after, .. } = err
        && let Ok(value) = header::HeaderValue::from_str(&retry_after.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Serves one request of a group: parse, route, answer in the envelope, log the outcome.
pub async fn serve(app: &App, group: Group, req: Request) -> Response<Body> {
    let started = std::time::Instant::now();
    let request_id = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    };
    let outcome = match Req::from_lambda(req, group.body_limit(&app.settings)) {
        Ok(req) => {
            let span = tracing::info_span!("request", request_id = req.request_id.as_deref().unwrap_or("-"), method = %req.method, path = %req.path, org_id = tracing::field::Empty);
            // Attached to the future, not entered across its awaits: under `local`'s
            // concurrency a guard held over an await puts log lines on the wrong request.
            dispatch(app, group, req).instrument(span).await
        }
        Err(e) => Err(e),
    };
    let response = match outcome {
        Ok(reply) => reply_response(reply),
        Err(err) => {
            match &err {
                AppError::Internal(detail) => tracing::error!(%detail, "request failed"),
                AppError::Unavailable(detail) | AppError::Upstream { message: detail, .. } => {
                    tracing::warn!(%detail, "dependency unavailable")
                }
                _ => {}
            }
            error_response(&err, request_id.as_deref())
        }
    };
    tracing::info!(
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "answered"
    );
    response
}

async fn dispatch(app: &App, group: Group, req: Req) -> AppResult<Reply> {
    match group {
        Group::Auth => crate::auth::http::route(app, req).await,
        Group::Orgs => crate::orgs::http::route(app, req).await,
        Group::Leads => crate::leads::http::route(app, req).await,
        Group::Billing => crate::billing::http::route(app, req).await,
        Group::Chat => crate::ceo::http::route(app, req).await,
        Group::Tasks => crate::tasks::http::route(app, req).await,
        Group::StripeWebhook => crate::billing::http::route_webhook(app, req).await,
        Group::Health => crate::health::route(app, req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_go_to_their_group() {
        assert_eq!(Group::for_path("/v1/auth/login"), Some(Group::Auth));
        assert_eq!(Group::for_path("/v1/orgs"), Some(Group::Orgs));
        assert_eq!(Group::for_path("/v1/orgs/abc/members"), Some(Group::Orgs));
        assert_eq!(Group::for_path("/v1/orgs/abc/leads/x/activities"), Some(Group::Leads));
        assert_eq!(Group::for_path("/v1/invitations/t/accept"), Some(Group::Orgs));
        assert_eq!(Group::for_path("/v1/health"), Some(Group::Health));
        assert_eq!(Group::for_path("/v1/orgs/abc/billing/checkout"), Some(Group::Billing));
        assert_eq!(Group::for_path("/v1/stripe/webhook"), Some(Group::StripeWebhook));
        assert_eq!(Group::for_path("/v1/orgs/abc/conversations/c/messages"), Some(Group::Chat));
        assert_eq!(Group::for_path("/v1/orgs/abc/ai-config"), Some(Group::Chat));
        assert_eq!(Group::for_path("/v1/orgs/abc/tasks/t/approve"), Some(Group::Tasks));
        assert_eq!(Group::for_path("/v1/orgs/abc/agent/analyze"), Some(Group::Tasks));
        assert_eq!(Group::for_path("/v1/orgs/abc/insights"), Some(Group::Tasks));
        assert_eq!(Group::for_path("/v1/orgs/abc/leads/l/score"), Some(Group::Leads));
        assert_eq!(Group::for_path("/v2/x"), None);
    }
}
