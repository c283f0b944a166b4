//! The HTTP surface: one request type, one response shape, one route table per group.
//! Requests and responses are plain `http` types; each front door (the Lambda glue, `local`)
//! converts at its own edge.

pub mod contract;
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
use std::marker::PhantomData;
use tracing::Instrument;

/// What answers a route once its handler is typed away: a named async function of its
/// capability, wrapped by `route_group!`.
pub type Handler = for<'a> fn(&'a App, Req, Params) -> BoxFuture<'a, AppResult<Answer>>;

/// One route: its handler, whether its caller must be signed in (the token is verified
/// before the handler runs, after the route is found: 404/405 come before 401), and what
/// the contract says of it beyond its types (see `openapi`).
#[derive(Clone, Copy)]
pub struct Endpoint {
    pub handler: Handler,
    pub signed_in: bool,
    /// Whether the handler reads a body (its `Req<B>`).
    pub takes_body: bool,
    /// The handler's name: the operation's id in the contract.
    pub name: &'static str,
    /// The row's doc comment: the operation's summary.
    pub summary: &'static str,
    /// The query parameters the handler reads; in debug builds reading another one panics.
    pub query: &'static [contract::QueryParam],
    /// The route's own error codes, beyond those every route of its shape can answer
    /// (`contract::ErrorCode::common`); in debug builds answering another one panics.
    pub errors: &'static [contract::ErrorCode],
    /// A status the route also answers with its data, unsuccessful (health's 503).
    pub also: Option<u16>,
}

/// A route group, declared once: the Lambda function that serves it, the path prefixes it
/// owns (a path goes to the group with the longest matching prefix), its body limit, the
/// ports it needs, and its routes as rows of `(method, pattern, endpoint)`. Dispatch, `local`'s
/// mounting, the contract and the checks against `template.yaml` and the README derive from it.
pub struct RouteGroup {
    pub function: &'static str,
    /// Its name in the contract (an OpenAPI tag).
    pub tag: &'static str,
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

/// Declares a group: `pub const ROUTES: RouteGroup` for dispatch and `pub fn schemas` for
/// the contract, from one list of rows. A row is
/// `/// Summary` then `METHOD "/v1/…" [public] => handler [, query [A, B]] [, errors [C]] [, also 503]`.
/// The request body and the answer's status and data come from the handler's own types
/// (`Req<Json<T>>`, `Reply<T, STATUS>`), so a route whose types have no schema does not build.
/// `schemas` is only linked where the contract is served: the other functions never name it.
macro_rules! route_group {
    (
        function: $function:literal, tag: $tag:literal, prefixes: $prefixes:expr, body_limit: $limit:expr, ports: $ports:expr;
        $(
            $(#[doc = $doc:literal])*
            $method:ident $pattern:literal $($public:ident)? => $handler:ident
            $(, query [$($query:ident),* $(,)?])?
            $(, errors [$($error:ident),* $(,)?])?
            $(, also $also:literal)?
        );* $(;)?
    ) => {
        pub const ROUTES: $crate::api::RouteGroup = $crate::api::RouteGroup {
            function: $function,
            tag: $tag,
            prefixes: $prefixes,
            body_limit: $limit,
            ports: $ports,
            routes: &[$(
                (
                    ::http::Method::$method,
                    $pattern,
                    $crate::api::Endpoint {
                        handler: |app, req, params| {
                            Box::pin(async move { $handler(app, req.typed(), params).await.and_then($crate::api::Reply::into_answer) })
                        },
                        signed_in: $crate::api::route_group!(@signed $($public)?),
                        takes_body: $crate::api::contract::takes_body(&$handler),
                        name: stringify!($handler),
                        summary: concat!($($doc),*),
                        query: &[$($($crate::api::contract::query::$query),*)?],
                        errors: &[$($($crate::api::contract::codes::$error),*)?],
                        also: $crate::api::route_group!(@also $($also)?),
                    },
                )
            ),*],
        };

        /// The schemas of each route's body and answer, in the order of `ROUTES`.
        pub fn schemas(generator: &mut ::schemars::SchemaGenerator) -> Vec<$crate::api::contract::RouteSchemas> {
            vec![$($crate::api::contract::RouteSchemas::of(generator, $handler)),*]
        }
    };
    (@signed) => { true };
    (@signed public) => { false };
    (@also) => { None };
    (@also $also:literal) => { Some($also) };
}
pub(crate) use route_group;

pub const WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;

/// A parsed request: what handlers read, already bounded in size. `B` is what its body is
/// (`NoBody`, `Json<T>`, `Optional<T>`, or a raw body the handler reads itself): the handler
/// names it in its signature, and the contract reads it from there.
pub struct Req<B = NoBody> {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub query: HashMap<String, String>,
    pub body: Vec<u8>,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
    /// The verified caller, on the routes that need one.
    principal: Option<crate::auth::Principal>,
    /// The query parameters the route declares (`None` outside a route, in tests).
    declared_query: Option<&'static [contract::QueryParam]>,
    body_type: PhantomData<fn() -> B>,
}

/// A route that takes no body.
pub struct NoBody;
/// A route whose body is required JSON of `T`.
pub struct Json<T>(PhantomData<T>);
/// A route whose body is JSON of `T` or nothing at all.
pub struct Optional<T>(PhantomData<T>);

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
            declared_query: None,
            body_type: PhantomData,
        }
    }

    /// Where the request came from and what the front door calls it, for limits and logs.
    pub fn from_source(mut self, source_ip: Option<String>, request_id: Option<String>) -> Req {
        self.source_ip = source_ip;
        self.request_id = request_id;
        self
    }

    /// The same request, its body typed as the handler that takes it says.
    pub fn typed<B>(self) -> Req<B> {
        Req {
            method: self.method,
            path: self.path,
            headers: self.headers,
            query: self.query,
            body: self.body,
            source_ip: self.source_ip,
            request_id: self.request_id,
            principal: self.principal,
            declared_query: self.declared_query,
            body_type: PhantomData,
        }
    }
}

impl<B> Req<B> {
    /// The verified caller (set by the dispatcher on routes that need one).
    pub fn principal(&self) -> AppResult<&crate::auth::Principal> {
        self.principal
            .as_ref()
            .ok_or_else(|| AppError::Unauthorized("sign in first".into()))
    }

    /// A query parameter, empty counting as absent. Only those the route declares are read:
    /// a debug build panics on another, so the contract cannot miss one a test reaches.
    pub fn query(&self, name: &str) -> Option<&str> {
        if let Some(declared) = self.declared_query {
            debug_assert!(
                declared.iter().any(|q| q.name == name),
                "{} {} reads the query parameter {name:?}, which its route does not declare",
                self.method,
                self.path
            );
        }
        self.query.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    pub fn bearer_token(&self) -> Option<&str> {
        bearer_token(&self.headers)
    }

    fn body_is_empty(&self) -> bool {
        self.body.iter().all(u8::is_ascii_whitespace)
    }

    /// The body as `T`, with serde's complaint turned into a 400 that names the problem.
    fn parse<T: DeserializeOwned>(&self) -> AppResult<T> {
        // Syntax first, then shape: `[1, 2` is malformed JSON, `[1, 2]` the wrong type.
        let value: Value = serde_json::from_slice(&self.body).map_err(|e| AppError::BadRequest {
            code: "INVALID_JSON",
            message: format!("the body is not valid JSON: {e}"),
        })?;
        // Every body of the API is an object: serde would read a struct from an array too,
        // field by field in order (`["shorter"]` as `{"feedback": "shorter"}`).
        if !value.is_object() {
            return Err(AppError::validation("the body must be a JSON object"));
        }
        serde_json::from_value(value).map_err(|e| AppError::validation(e.to_string()))
    }
}

impl<T: DeserializeOwned> Req<Json<T>> {
    /// The JSON body, which must be there.
    pub fn json(&self) -> AppResult<T> {
        if self.body_is_empty() {
            return Err(AppError::BadRequest {
                code: "INVALID_JSON",
                message: "a JSON body is required".into(),
            });
        }
        self.parse()
    }
}

impl<T: DeserializeOwned> Req<Optional<T>> {
    /// The JSON body, or `None` when there is none.
    pub fn json(&self) -> AppResult<Option<T>> {
        if self.body_is_empty() { Ok(None) } else { self.parse().map(Some) }
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

/// A handler's successful answer: `T` as the `data` of the envelope, with `STATUS` (200 or
/// 201) as the contract states it. Health alone answers another status at run time. A
/// document for tools (the contract) goes out as it is, without the envelope.
pub struct Reply<T, const STATUS: u16 = 200, const ENVELOPED: bool = true> {
    status: StatusCode,
    data: T,
}

/// A handler's answer that made something: 201.
pub type Created<T> = Reply<T, 201>;

/// A handler's answer to work it took on and does not report on (a mail sent or not): 202.
pub type Accepted<T> = Reply<T, 202>;

impl<T: Serialize> Reply<T, 202> {
    pub fn accepted(data: T) -> AppResult<Self> {
        Ok(Reply {
            status: StatusCode::ACCEPTED,
            data,
        })
    }
}

/// A handler's answer that is a document read by tools as it is: no envelope.
pub type Bare<T> = Reply<T, 200, false>;

impl<T: Serialize> Reply<T, 200, false> {
    pub fn bare(data: T) -> AppResult<Self> {
        Ok(Reply {
            status: StatusCode::OK,
            data,
        })
    }
}

impl<T: Serialize> Reply<T, 200> {
    pub fn ok(data: T) -> AppResult<Self> {
        Ok(Reply {
            status: StatusCode::OK,
            data,
        })
    }

    /// The same data under another status, unsuccessful (a route's `also`).
    pub fn with_status(data: T, status: StatusCode) -> AppResult<Self> {
        Ok(Reply { status, data })
    }
}

impl<T: Serialize> Reply<T, 201> {
    pub fn created(data: T) -> AppResult<Self> {
        Ok(Reply {
            status: StatusCode::CREATED,
            data,
        })
    }
}

/// A CSV document (RFC 4180), answered as it is with `text/csv`: an export.
pub struct Csv(pub String);

impl Serialize for Csv {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl schemars::JsonSchema for Csv {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Csv".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "description": "CSV (RFC 4180): a header row, then one row per item; lines end in CRLF."})
    }
}

const CSV_MEDIA_TYPE: &str = "text/csv; charset=utf-8";

/// Where to send the browser: answered as 302 with `Location` and no body (the OAuth
/// callback, which a browser reaches, not the web app's code).
pub struct Redirect(pub String);

/// A handler's answer that sends the browser on: 302.
pub type Found = Reply<Redirect, 302, false>;

impl Serialize for Redirect {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl schemars::JsonSchema for Redirect {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Redirect".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "format": "uri", "description": "The Location header's address."})
    }
}

impl Reply<Redirect, 302, false> {
    pub fn found(location: String) -> AppResult<Self> {
        Ok(Reply {
            status: StatusCode::FOUND,
            data: Redirect(location),
        })
    }
}

/// A redirect's "media type": it has no body, only its `Location`.
pub const REDIRECT: &str = "redirect";

/// The media type a handler's data goes out as.
pub fn media_type<T: 'static>() -> &'static str {
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<Csv>() {
        "text/csv"
    } else if std::any::TypeId::of::<T>() == std::any::TypeId::of::<Redirect>() {
        REDIRECT
    } else {
        "application/json"
    }
}

/// `{success, data}`, written straight from the handler's data.
#[derive(Serialize)]
struct Envelope<'a, T> {
    success: bool,
    data: &'a T,
}

impl<T: Serialize + 'static, const STATUS: u16, const ENVELOPED: bool> Reply<T, STATUS, ENVELOPED> {
    /// The answer as text, serialised once from the handler's own types (not through a
    /// `Value` tree first: a page of 50 leads spent a fifth of its time building one).
    pub fn into_answer(self) -> AppResult<Answer> {
        if let Some(Csv(text)) = (&self.data as &dyn std::any::Any).downcast_ref::<Csv>() {
            return Ok(Answer {
                status: self.status,
                body: text.clone(),
                content_type: CSV_MEDIA_TYPE,
                location: None,
            });
        }
        if let Some(Redirect(location)) = (&self.data as &dyn std::any::Any).downcast_ref::<Redirect>() {
            return Ok(Answer {
                status: self.status,
                body: String::new(),
                content_type: "text/plain; charset=utf-8",
                location: Some(location.clone()),
            });
        }
        let body = if ENVELOPED {
            serde_json::to_string(&Envelope {
                success: self.status.is_success(),
                data: &self.data,
            })?
        } else {
            serde_json::to_string(&self.data)?
        };
        Ok(Answer {
            status: self.status,
            body,
            content_type: "application/json",
            location: None,
        })
    }
}

/// A successful answer, its body written: what a front door sends.
pub struct Answer {
    pub status: StatusCode,
    pub body: String,
    pub content_type: &'static str,
    /// A redirect's `Location`.
    pub location: Option<String>,
}

impl Answer {
    pub fn ok(data: impl Serialize + 'static) -> AppResult<Answer> {
        Reply::ok(data)?.into_answer()
    }
}

/// What every route answers: a JSON envelope, as text.
pub type Response = http::Response<String>;

fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    response
}

pub fn reply_response(reply: Answer) -> Response {
    let mut response = json_response(reply.status, reply.body);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(reply.content_type));
    if let Some(location) = reply.location.and_then(|l| header::HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// The HTTP status of an error.
pub fn status(err: &AppError) -> StatusCode {
    match err {
        AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
        AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        AppError::Unauthorized(_) | AppError::TokenExpired | AppError::SessionRevoked(_) => StatusCode::UNAUTHORIZED,
        AppError::Forbidden(_) | AppError::ForbiddenUntil { .. } => StatusCode::FORBIDDEN,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
        AppError::Conflict { .. } => StatusCode::CONFLICT,
        AppError::Gone { .. } => StatusCode::GONE,
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
        json!({"success": false, "error": {"code": err.code(), "message": message}}).to_string(),
    );
    if let Some(retry_after) = err.retry_after()
        && let Ok(value) = header::HeaderValue::from_str(&retry_after.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    if let AppError::MethodNotAllowed { allow } = err
        && let Ok(value) = header::HeaderValue::from_str(allow)
    {
        response.headers_mut().insert(header::ALLOW, value);
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
async fn dispatch(app: &App, group: &RouteGroup, mut req: Req) -> AppResult<Answer> {
    let (endpoint, params) = router::find(group.routes, &req.method, &req.path)?;
    let pattern = group
        .routes
        .iter()
        .find(|(m, _, e)| *m == req.method && e.name == endpoint.name)
        .map(|(_, p, _)| *p);
    // An org's route reads the membership, and the session with it in one store call
    // (`tenancy::authorize_listed`); any other signed-in route reads the session here.
    let in_org = pattern.is_some_and(|p| p.contains("{orgId}"));
    if endpoint.signed_in {
        let principal = crate::auth::token::verify(app, req.bearer_token())
            .await?
            .from_request(req.source_ip.clone(), req.request_id.clone());
        if !in_org {
            crate::auth::sessions::check(app, &principal).await?;
        }
        req.principal = Some(principal);
    }
    let principal = req.principal.clone();
    contract::check_query(endpoint.query, &req.query)?;
    req.declared_query = Some(endpoint.query);
    let method = req.method.clone();
    let outcome = (endpoint.handler)(app, req, params).await;
    if cfg!(debug_assertions)
        && outcome.is_ok()
        && let Some(principal) = &principal
    {
        assert!(
            principal.is_session_checked(),
            "{} {} answered without checking the session",
            endpoint.name,
            pattern.unwrap_or_default()
        );
    }
    if cfg!(debug_assertions)
        && let Err(err) = &outcome
        && let Some((_, pattern, _)) = group.routes.iter().find(|(m, _, e)| *m == method && e.name == endpoint.name)
    {
        let documented = contract::errors_of(pattern, &endpoint);
        assert!(
            documented.iter().any(|e| e.code == err.code() && e.status == status(err).as_u16()),
            "{} {pattern} answered {} {}, which its route does not document",
            method,
            status(err).as_u16(),
            err.code()
        );
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Feedback {
        feedback: String,
    }

    fn body(text: &str) -> Req<Json<Feedback>> {
        Req::new(Method::POST, "/".into(), HeaderMap::new(), HashMap::new(), text.as_bytes().to_vec()).typed()
    }

    #[test]
    fn a_body_is_an_object_never_an_array_read_field_by_field() {
        assert_eq!(body(r#"{"feedback": "shorter"}"#).json().unwrap().feedback, "shorter");
        for bad in [r#"["shorter"]"#, r#""shorter""#, "7", "null"] {
            let err = body(bad).json().unwrap_err();
            assert_eq!(err.code(), "VALIDATION_ERROR", "{bad}");
        }
        assert_eq!(body("[1, 2").json().unwrap_err().code(), "INVALID_JSON");
    }
}
