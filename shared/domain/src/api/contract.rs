//! What a route promises beyond its handler's types: its query parameters with their
//! limits, its error codes with their statuses, and its body's kind. Rows name these in
//! `route_group!`; the `openapi` module writes the document from them and the handlers' types.
//! This is plain static data; the schema code lives behind `RouteSchemas`, which only the
//! functions that serve the contract link.

use super::{Json, NoBody, Optional, Params, Reply, Req};
use crate::app::App;
use crate::error::AppResult;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::Value;
use std::future::Future;

/// A query parameter a route reads, with the limits it enforces.
#[derive(Debug, Clone, Copy)]
pub struct QueryParam {
    pub name: &'static str,
    pub description: &'static str,
    pub kind: QueryKind,
}

#[derive(Debug, Clone, Copy)]
pub enum QueryKind {
    /// A whole number within bounds, with its default.
    Integer { min: u64, max: u64, default: u64 },
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// Text, at most this many characters.
    Text { max_length: u64 },
}

/// The query parameters of the routes, each declared once.
pub mod query {
    use super::{QueryKind, QueryParam};

    pub const LIMIT: QueryParam = QueryParam {
        name: "limit",
        description: "Items per page.",
        kind: QueryKind::Integer {
            min: 1,
            max: 100,
            default: 50,
        },
    };
    pub const CURSOR: QueryParam = QueryParam {
        name: "cursor",
        description: "The `nextCursor` of the previous page; absent for the first page.",
        kind: QueryKind::Text { max_length: 2048 },
    };
    pub const LEAD_STATUS: QueryParam = QueryParam {
        name: "status",
        description: "Only leads with this status.",
        kind: QueryKind::OneOf(&["new", "contacted", "qualified", "won", "lost"]),
    };
    pub const OWNER: QueryParam = QueryParam {
        name: "owner",
        description: "Only leads this member owns (a user id).",
        kind: QueryKind::Text { max_length: 64 },
    };
    pub const TAG: QueryParam = QueryParam {
        name: "tag",
        description: "Only leads with this tag (any case).",
        kind: QueryKind::Text { max_length: 40 },
    };
    pub const TASK_STATUS: QueryParam = QueryParam {
        name: "status",
        description: "Only tasks with this status.",
        kind: QueryKind::OneOf(&["PENDING", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED"]),
    };
    pub const POST_STATUS: QueryParam = QueryParam {
        name: "status",
        description: "Only posts with this status.",
        kind: QueryKind::OneOf(&["draft", "approved", "scheduled", "publishing", "published", "failed", "paused"]),
    };
    pub const PLATFORM: QueryParam = QueryParam {
        name: "platform",
        description: "Only posts for this platform.",
        kind: QueryKind::OneOf(&["linkedin", "x", "facebook", "instagram", "sandbox"]),
    };
    pub const FROM: QueryParam = QueryParam {
        name: "from",
        description: "From this time (RFC 3339), inclusive: when a post went out, or is to.",
        kind: QueryKind::Text { max_length: 40 },
    };
    pub const TO: QueryParam = QueryParam {
        name: "to",
        description: "Up to this time (RFC 3339), exclusive.",
        kind: QueryKind::Text { max_length: 40 },
    };
    pub const OAUTH_CODE: QueryParam = QueryParam {
        name: "code",
        description: "The platform's authorization code.",
        kind: QueryKind::Text { max_length: 4096 },
    };
    pub const OAUTH_STATE: QueryParam = QueryParam {
        name: "state",
        description: "The `state` that `connect` answered, as the platform hands it back.",
        kind: QueryKind::Text { max_length: 512 },
    };
    pub const OAUTH_ERROR: QueryParam = QueryParam {
        name: "error",
        description: "The platform's error code when the user declined (`access_denied`).",
        kind: QueryKind::Text { max_length: 512 },
    };
    pub const PERIOD: QueryParam = QueryParam {
        name: "period",
        description: "The period: the last 7, 30 or 90 days (default 30).",
        kind: QueryKind::OneOf(&["7d", "30d", "90d"]),
    };
    pub const TASK_TYPE: QueryParam = QueryParam {
        name: "type",
        description: "Only tasks of this type.",
        kind: QueryKind::OneOf(&[
            "social_media_post",
            "email_campaign",
            "lead_followup",
            "reconnect_account",
            "client_followup",
            "sponsor_followup",
            "invoice_sponsor",
        ]),
    };
    pub const CLIENT_BAND: QueryParam = QueryParam {
        name: "band",
        description: "Only clients whose health is in this band.",
        kind: QueryKind::OneOf(&["healthy", "at_risk", "critical", "unknown"]),
    };
    pub const CLIENT_OWNER: QueryParam = QueryParam {
        name: "ownerId",
        description: "Only clients this member owns (a user id).",
        kind: QueryKind::Text { max_length: 64 },
    };
    pub const CLIENT_STAGE: QueryParam = QueryParam {
        name: "stage",
        description: "Only clients at this stage.",
        kind: QueryKind::OneOf(&["onboarding", "active", "renewal", "churned"]),
    };
    pub const CLIENT_TAG: QueryParam = QueryParam {
        name: "tag",
        description: "Only clients with this tag (any case).",
        kind: QueryKind::Text { max_length: 40 },
    };
    pub const ALERT_STATUS: QueryParam = QueryParam {
        name: "status",
        description: "Only alerts with this status.",
        kind: QueryKind::OneOf(&["open", "acknowledged", "resolved"]),
    };
    pub const CLIENT_ID: QueryParam = QueryParam {
        name: "clientId",
        description: "Only alerts about this client.",
        kind: QueryKind::Text { max_length: 64 },
    };
    pub const DEAL_STAGE: QueryParam = QueryParam {
        name: "stage",
        description: "Only deals at this stage.",
        kind: QueryKind::OneOf(&[
            "inquiry",
            "negotiating",
            "contracted",
            "in_progress",
            "delivered",
            "invoiced",
            "paid",
            "lost",
        ]),
    };
    pub const SPONSOR_ID: QueryParam = QueryParam {
        name: "sponsorId",
        description: "Only deals with this sponsor.",
        kind: QueryKind::Text { max_length: 64 },
    };
    pub const DEAL_OWNER: QueryParam = QueryParam {
        name: "ownerId",
        description: "Only deals this member owns (a user id).",
        kind: QueryKind::Text { max_length: 64 },
    };
    pub const DATE_FROM: QueryParam = QueryParam {
        name: "from",
        description: "From this day (`YYYY-MM-DD`), inclusive.",
        kind: QueryKind::Text { max_length: 10 },
    };
    pub const DATE_TO: QueryParam = QueryParam {
        name: "to",
        description: "Up to this day (`YYYY-MM-DD`), inclusive.",
        kind: QueryKind::Text { max_length: 10 },
    };
    pub const CONTENT_STATUS: QueryParam = QueryParam {
        name: "status",
        description: "Only content items with this status.",
        kind: QueryKind::OneOf(&["idea", "drafting", "ready", "scheduled", "published"]),
    };
    pub const AUDIT_ACTION: QueryParam = QueryParam {
        name: "action",
        description: "Only entries of this action (`member.role_changed`), or of this family (`member`).",
        kind: QueryKind::Text { max_length: 100 },
    };
    pub const ACTOR_ID: QueryParam = QueryParam {
        name: "actorId",
        description: "Only entries by this actor: a user id, `agent` or `stripe`.",
        kind: QueryKind::Text { max_length: 40 },
    };
    pub const SINCE: QueryParam = QueryParam {
        name: "from",
        description: "From this time (RFC 3339), inclusive.",
        kind: QueryKind::Text { max_length: 40 },
    };
    pub const UNTIL: QueryParam = QueryParam {
        name: "to",
        description: "Up to this time (RFC 3339), exclusive.",
        kind: QueryKind::Text { max_length: 40 },
    };
}

/// The declared query parameters, held to their limits before the handler reads them: the
/// contract states them, so the API keeps them (400 `VALIDATION_ERROR` naming the parameter).
pub fn check_query(declared: &[QueryParam], query: &std::collections::HashMap<String, String>) -> AppResult<()> {
    for param in declared {
        let Some(value) = query.get(param.name).filter(|v| !v.is_empty()) else {
            continue;
        };
        let fits = match param.kind {
            QueryKind::Integer { min, max, .. } => value.parse::<u64>().is_ok_and(|n| (min..=max).contains(&n)),
            QueryKind::OneOf(words) => words.contains(&value.as_str()),
            QueryKind::Text { max_length } => value.chars().count() as u64 <= max_length,
        };
        if !fits {
            return Err(crate::error::AppError::validation(match param.kind {
                QueryKind::Integer { min, max, .. } => format!("{} must be a whole number from {min} to {max}", param.name),
                QueryKind::OneOf(words) => format!("{} must be one of {}", param.name, words.join(", ")),
                QueryKind::Text { max_length } => format!("{} must be at most {max_length} characters", param.name),
            }));
        }
    }
    Ok(())
}

/// An error code a route can answer, and its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode {
    pub code: &'static str,
    pub status: u16,
    pub meaning: &'static str,
}

/// Every error code of the API, each with the one status it goes out with.
pub mod codes {
    use super::ErrorCode;

    macro_rules! codes {
        ($($name:ident $status:literal $meaning:literal;)*) => {
            $(pub const $name: ErrorCode = ErrorCode { code: stringify!($name), status: $status, meaning: $meaning };)*
        };
    }

    codes! {
        INVALID_JSON 400 "The body is missing or is not JSON.";
        VALIDATION_ERROR 400 "A field or parameter is missing, of the wrong type or out of bounds; the message names it.";
        INVALID_ID 400 "An id in the path is not an id.";
        INVALID_CURSOR 400 "The cursor is not one this API gave.";
        INVALID_SIGNATURE 400 "The Stripe-Signature header does not verify.";
        INVALID_EVENT 400 "The signed body is not a Stripe event.";
        MEDIA_REQUIRED 400 "The platform (Instagram) posts only with an image: add one to the post.";
        UNAUTHORIZED 401 "No valid bearer token, or the account is gone.";
        TOKEN_EXPIRED 401 "The token has expired: sign in again.";
        SESSION_REVOKED 401 "The token's session was signed out (or its refresh token was used twice): sign in again.";
        QUOTA_EXCEEDED 402 "The plan's monthly quota is spent.";
        FORBIDDEN 403 "Not a member of the org, or the role is too low.";
        EMAIL_NOT_VERIFIED 403 "Verify the account's email address first (the link mailed at sign-up).";
        NOT_FOUND 404 "The org or the item in the path does not exist.";
        CONFLICT 409 "The item changed meanwhile: read it again.";
        VERSION_CONFLICT 409 "The version sent is not the current one.";
        EMAIL_TAKEN 409 "An account with this address exists.";
        ALREADY_MEMBER 409 "The address belongs to a member already.";
        LAST_OWNER 409 "An org keeps at least one owner.";
        FREE_ORG_LIMIT 409 "The user owns as many free orgs as allowed.";
        ALREADY_SUBSCRIBED 409 "The org has a live subscription: manage it in the portal.";
        NO_BILLING_ACCOUNT 409 "The org has never subscribed.";
        TASK_NOT_PENDING 409 "The task is no longer pending.";
        TASK_NOT_AWAITING_APPROVAL 409 "The task is not waiting for approval.";
        AUTONOMY_OFF 409 "The autonomy policy forbids this kind of task.";
        NO_ACTIVE_STRATEGY 409 "Generate (or activate) a strategy first.";
        POST_NOT_EDITABLE 409 "The post is going out or out already, or past this step.";
        POST_NOT_APPROVED 409 "Only an approved post can be scheduled (unless the policy for posts is auto).";
        POST_NOT_SCHEDULED 409 "The post is not on the calendar.";
        POST_NOT_FAILED 409 "Only a failed post can be retried.";
        POST_NOT_PUBLISHED 409 "The post has not gone out yet, so it has no figures.";
        ACCOUNT_NEEDS_REAUTH 409 "The social account must be connected again before it can post.";
        ALREADY_ANSWERED 409 "This survey link takes one answer, and has it.";
        ALERT_RESOLVED 409 "The alert is resolved already.";
        INVALID_STAGE_CHANGE 409 "A deal moves forward only (lost from any open stage; back from lost only by an admin).";
        EXCLUSIVITY_CONFLICT 409 "Another sponsor's deal holds exclusivity for this post's category then; the message names the deal.";
        SURVEY_EXPIRED 410 "The survey link has expired.";
        PAYLOAD_TOO_LARGE 413 "The body is over the route's limit.";
        RATE_LIMITED 429 "Too many attempts; the Retry-After header says when to try again.";
        INTERNAL 500 "A failure on our side; the message names the request.";
        AI_PROVIDER_ERROR 502 "The AI provider refused the request.";
        AI_BAD_OUTPUT 502 "The AI answered twice in a shape other than the one asked for; nothing was stored.";
        PAYMENT_PROVIDER_ERROR 502 "Stripe refused the request.";
        UNAVAILABLE 503 "A dependency is briefly unavailable; the Retry-After header says when to try again.";
        AI_RATE_LIMITED 503 "The AI provider is rate limiting; Retry-After says when to try again.";
        AI_UNAVAILABLE 503 "The AI provider is unavailable; Retry-After says when to try again.";
        AI_NOT_CONFIGURED 503 "No AI provider is configured.";
        BILLING_NOT_CONFIGURED 503 "Billing is off until Stripe is configured.";
        WEBHOOK_NOT_CONFIGURED 503 "No webhook signing secret is configured.";
        GOOGLE_NOT_CONFIGURED 503 "Sign-in with Google is off until CHIEF_GOOGLE_CLIENT_ID is set.";
        PLATFORM_NOT_CONFIGURED 503 "The social platform's app (or the token key) is not set up here; the message names what to set.";
    }
}

/// Every error a route can answer: those of every route of its shape, then its own.
pub fn errors_of(pattern: &str, endpoint: &super::Endpoint) -> Vec<ErrorCode> {
    use codes::*;
    let mut errors = vec![PAYLOAD_TOO_LARGE, INTERNAL, UNAVAILABLE];
    if endpoint.signed_in {
        errors.extend([UNAUTHORIZED, TOKEN_EXPIRED, SESSION_REVOKED]);
    }
    if pattern.contains('{') {
        errors.extend([INVALID_ID, NOT_FOUND]);
    }
    if pattern.contains("{orgId}") {
        errors.push(FORBIDDEN);
    }
    if endpoint.takes_body {
        errors.extend([INVALID_JSON, VALIDATION_ERROR]);
    }
    if !endpoint.query.is_empty() {
        errors.push(VALIDATION_ERROR);
    }
    if endpoint.query.iter().any(|q| q.name == "cursor") {
        errors.push(INVALID_CURSOR);
    }
    errors.extend(endpoint.errors.iter().copied());
    let mut seen = Vec::new();
    errors.retain(|e| {
        let new = !seen.contains(&e.code);
        seen.push(e.code);
        new
    });
    errors.sort_by_key(|e| (e.status, e.code));
    errors
}

/// What a route's body is, for the contract.
pub trait RequestBody {
    const TAKES_BODY: bool;
    /// The body's schema and whether it is required; `None` for no body.
    fn schema(generator: &mut SchemaGenerator) -> Option<(Schema, bool)>;
}

impl RequestBody for NoBody {
    const TAKES_BODY: bool = false;
    fn schema(_: &mut SchemaGenerator) -> Option<(Schema, bool)> {
        None
    }
}

impl<T: JsonSchema> RequestBody for Json<T> {
    const TAKES_BODY: bool = true;
    fn schema(generator: &mut SchemaGenerator) -> Option<(Schema, bool)> {
        Some((generator.subschema_for::<T>(), true))
    }
}

impl<T: JsonSchema> RequestBody for Optional<T> {
    const TAKES_BODY: bool = true;
    fn schema(generator: &mut SchemaGenerator) -> Option<(Schema, bool)> {
        Some((generator.subschema_for::<T>(), false))
    }
}

/// A Stripe event as Stripe signs it: the handler reads the raw bytes to verify them.
pub struct StripeEvent;

impl RequestBody for StripeEvent {
    const TAKES_BODY: bool = true;
    fn schema(_: &mut SchemaGenerator) -> Option<(Schema, bool)> {
        Some((
            json_schema!({
                "type": "object",
                "description": "A Stripe event (https://docs.stripe.com/api/events/object), verified against the Stripe-Signature header before it is read.",
                "required": ["id", "type", "data"],
                "properties": {
                    "id": {"type": "string"},
                    "type": {"type": "string"},
                    "created": {"type": "integer"},
                    "data": {"type": "object"}
                }
            }),
            true,
        ))
    }
}

/// Whether a handler takes a body, read from its signature.
pub const fn takes_body<B: RequestBody, F, Fut>(_: &F) -> bool
where
    F: Fn(&'static App, Req<B>, Params) -> Fut,
{
    B::TAKES_BODY
}

/// Writes the schemas of a group's routes (each group's `schemas`).
pub type SchemasOf = fn(&mut SchemaGenerator) -> Vec<RouteSchemas>;

/// A route's body and answer, as schemas read from its handler's types.
pub struct RouteSchemas {
    pub body: Option<(Schema, bool)>,
    pub status: u16,
    pub data: Schema,
    /// Whether the answer is in the envelope (the contract's own is not).
    pub enveloped: bool,
    /// `application/json`, or `text/csv` for an export.
    pub media_type: &'static str,
}

impl RouteSchemas {
    pub fn of<B, T, const STATUS: u16, const ENVELOPED: bool, F, Fut>(generator: &mut SchemaGenerator, _handler: F) -> RouteSchemas
    where
        B: RequestBody,
        T: JsonSchema + 'static,
        F: Fn(&'static App, Req<B>, Params) -> Fut,
        Fut: Future<Output = AppResult<Reply<T, STATUS, ENVELOPED>>>,
    {
        RouteSchemas {
            body: B::schema(generator),
            status: STATUS,
            data: generator.subschema_for::<T>(),
            enveloped: ENVELOPED,
            media_type: super::media_type::<T>(),
        }
    }
}

/// The schema of a query parameter.
pub fn query_schema(kind: &QueryKind) -> Value {
    match kind {
        QueryKind::Integer { min, max, default } => {
            serde_json::json!({"type": "integer", "minimum": min, "maximum": max, "default": default})
        }
        QueryKind::OneOf(values) => serde_json::json!({"type": "string", "enum": values}),
        QueryKind::Text { max_length } => serde_json::json!({"type": "string", "maxLength": max_length}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn query_parameters_are_held_to_their_declared_limits_and_an_empty_one_is_absent() {
        let declared = [query::LIMIT, query::LEAD_STATUS, query::TAG];
        assert!(check_query(&declared, &query(&[("limit", "100"), ("status", "won"), ("tag", "vip")])).is_ok());
        assert!(check_query(&declared, &query(&[("limit", ""), ("status", ""), ("other", "anything")])).is_ok());
        for (name, value) in [
            ("limit", "0"),
            ("limit", "101"),
            ("limit", "5,"),
            ("status", "WON"),
            ("tag", &"x".repeat(41)),
        ] {
            let err = check_query(&declared, &query(&[(name, value)])).unwrap_err();
            assert!(err.to_string().starts_with(name), "{name}={value}: {err}");
        }
    }

    #[test]
    fn a_routes_errors_are_those_of_its_shape_then_its_own_each_once_by_status() {
        let endpoint = crate::leads::http::ROUTES
            .routes
            .iter()
            .find(|(m, p, _)| m == http::Method::POST && *p == "/v1/orgs/{orgId}/leads")
            .unwrap()
            .2;
        let codes: Vec<&str> = errors_of("/v1/orgs/{orgId}/leads", &endpoint).iter().map(|e| e.code).collect();
        assert_eq!(
            codes,
            [
                "INVALID_ID",
                "INVALID_JSON",
                "VALIDATION_ERROR",
                "SESSION_REVOKED",
                "TOKEN_EXPIRED",
                "UNAUTHORIZED",
                "QUOTA_EXCEEDED",
                "FORBIDDEN",
                "NOT_FOUND",
                "PAYLOAD_TOO_LARGE",
                "INTERNAL",
                "UNAVAILABLE"
            ]
        );
    }
}
