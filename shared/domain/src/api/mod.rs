//! The HTTP surface: one request type, one response shape, one route table per group.
//! Requests and responses are plain `http` types; each front door (the Lambda glue, `local`)
//! converts at its own edge.

pub mod router;

use crate::app::App;
use crate::error::{AppError, AppResult};
use futures::future::BoxFuture;
use http::{HeaderMap, Method, StatusCode, header};
use router::{Params, RouteTable};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::HashMap;
use tracing::Instrument;

/// What answers a route: a named async function of its capability.
pub type Handler = for<'a> fn(&'a App, Req, Params) -> BoxFuture<'a, AppResult<Reply>>;

/// One route's handler, and whether its caller must be signed in (the token is verified
/// before the handler runs, after the route is found: 404/405 come before 401).
#[derive(Clone, Copy)]
pub struct Endpoint {
    pub handler: Handler,
    pub signed_in: bool,
}

/// A route group, declared once: the Lambda function that serves it, the path prefixes it
/// owns (a path goes to the group with the longest matching prefix), its body limit, the
/// ports it needs, and its routes as rows of `(method, pattern, handler)`. Dispatch, `local`'s
/// mounting and the checks against `template.yaml` and the README derive from it.
pub struct RouteGroup {
    pub function: &'static str,
    pub prefixes: &'static [&'static str],
    /// Request bodies above this many bytes get 413 (`None`: the app's setting).
    pub body_limit: Option<usize>,
    pub ports: &'static [crate::ports::Port],
    pub routes: &'static RouteTable<Endpoint>,
}

impl RouteGroup {
    pub fn body_limit(&self, settings: &crate::app::Settings) -> usize {
        self.body_limit.unwrap_or(settings.body_limit)
    }

    /// How many leading segments of `path` one of the group's prefixes matches, if any.
    pub fn claims(&self, path: &str) -> Option<usize> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.prefixes
            .iter()
            .filter_map(|prefix| {
                let wanted: Vec<&str> = prefix.trim_matches('/').split('/').collect();
                let fits = wanted.len() <= segments.len()
                    && wanted
                        .iter()
                        .zip(&segments)
                        .all(|(w, s)| *w == *s || (w.starts_with('{') && !s.is_empty()));
                fits.then_some(wanted.len())
            })
            .max()
    }
}

/// A route row: `route!(GET "/v1/…" => handler)`, or `route!(public POST "/v1/…" => handler)`
/// for one that takes no token.
macro_rules! route {
    ($method:ident $pattern:literal => $handler:path) => {
        $crate::api::route!(@row $method $pattern, $handler, true)
    };
    (public $method:ident $pattern:literal => $handler:path) => {
        $crate::api::route!(@row $method $pattern, $handler, false)
    };
    (@row $method:ident $pattern:literal, $handler:path, $signed_in:expr) => {
        (
            ::http::Method::$method,
            $pattern,
            $crate::api::Endpoint {
                handler: |app, req, params| Box::pin($handler(app, req, params)),
                signed_in: $signed_in,
            },
        )
    };
}
pub(crate) use route;

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
    /// The verified caller, on the routes that need one.
    principal: Option<crate::auth::Principal>,
}

impl Req {
    /// A request as a front door received it; `serve` bounds its body.
    pub fn new(method: Method, path: String, headers: HeaderMap, query: HashMap<String, String>, body: Vec<u8>) -> Req {
        Req {
            method,
            path,
            headers,
            query,
            body,
            source_ip: None,
            request_id: None,
            principal: None,
        }
    }

    /// Where the request came from and what the front door calls it, for limits and logs.
    pub fn from_source(mut self, source_ip: Option<String>, request_id: Option<String>) -> Req {
        self.source_ip = source_ip;
        self.request_id = request_id;
        self
    }

    /// The verified caller (set by the dispatcher on routes that need one).
    pub fn principal(&self) -> AppResult<&crate::auth::Principal> {
        self.principal
            .as_ref()
            .ok_or_else(|| AppError::Unauthorized("sign in first".into()))
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
        let data = serde_json::to_value(data)?;
        Ok(Reply { status, data })
    }
}

/// What every route answers: a JSON envelope, as text.
pub type Response = http::Response<String>;

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(body.to_string());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    response
}

pub fn reply_response(reply: Reply) -> Response {
    json_response(reply.status, &json!({"success": reply.status.is_success(), "data": reply.data}))
}

/// The HTTP status of an error.
pub fn status(err: &AppError) -> StatusCode {
    match err {
        AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
        AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        AppError::Unauthorized(_) | AppError::TokenExpired => StatusCode::UNAUTHORIZED,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        AppError::Conflict { .. } => StatusCode::CONFLICT,
        AppError::QuotaExceeded(_) => StatusCode::PAYMENT_REQUIRED,
        AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        AppError::Unavailable { .. } | AppError::Disabled { .. } | AppError::AiRateLimited(_) | AppError::AiUnavailable(_) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        AppError::Upstream { .. } => StatusCode::BAD_GATEWAY,
        AppError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The error envelope. A failure on our side or a provider's names the request, whose log
/// lines hold the details.
pub fn error_response(err: &AppError, request_id: Option<&str>) -> Response {
    let mut message = err.public_message();
    if let Some(id) = request_id.filter(|_| err.is_ours()) {
        message.push_str(&format!(" (request id {id})"));
    }
    let mut response = json_response(
        status(err),
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
pub async fn serve(app: &App, group: &RouteGroup, req: Req) -> Response {
    let started = std::time::Instant::now();
    let request_id = req.request_id.clone();
    let limit = group.body_limit(&app.settings);
    let outcome = match req {
        req if req.body.len() > limit => Err(AppError::PayloadTooLarge { limit }),
        req => {
            let span = tracing::info_span!("request", request_id = req.request_id.as_deref().unwrap_or("-"), method = %req.method, path = %req.path, org_id = tracing::field::Empty);
            // Attached to the future, not entered across its awaits: under `local`'s
            // concurrency a guard held over an await puts log lines on the wrong request.
            dispatch(app, group, req).instrument(span).await
        }
    };
    let response = match outcome {
        Ok(reply) => reply_response(reply),
        Err(err) => {
            match &err {
                AppError::Internal { .. } => tracing::error!(detail = %err.chain(), "request failed"),
                _ if err.is_ours() => tracing::warn!(detail = %err.chain(), "dependency failed"),
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

/// Finds the route (404, 405), verifies the caller where the route needs one (401), then
/// hands the request to the route's handler.
async fn dispatch(app: &App, group: &RouteGroup, mut req: Req) -> AppResult<Reply> {
    let (endpoint, params) = router::find(group.routes, &req.method, &req.path)?;
    if endpoint.signed_in {
        req.principal = Some(crate::auth::token::verify(app, req.bearer_token()).await?);
    }
    (endpoint.handler)(app, req, params).await
}
