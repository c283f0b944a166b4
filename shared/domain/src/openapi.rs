//! The API's contract, OpenAPI 3.1, written from the route groups: each row's method, path,
//! summary, query parameters and error codes (`api::contract`), and the schemas of its
//! handler's own body and answer types (schemars, JSON Schema 2020-12). Nothing here is kept
//! by hand, so a route cannot be served without being in it.

use crate::api::contract::{self, ErrorCode, RouteSchemas, SchemasOf};
use crate::api::{Endpoint, RouteGroup};
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

/// The document as `GET /v1/openapi.json` answers it: its text, written once.
#[derive(Debug, serde::Serialize)]
#[serde(transparent)]
pub struct Served(pub &'static serde_json::value::RawValue);

impl schemars::JsonSchema for Served {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "OpenApiDocument".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "description": "An OpenAPI 3.1 document: https://spec.openapis.org/oas/v3.1.1",
            "required": ["openapi", "info", "paths"]
        })
    }
}

/// What each path parameter is, by its name in the patterns.
fn path_parameter(name: &str) -> Value {
    let ulid = |what: &str| json!({"description": format!("The {what}'s id (a ULID)."), "schema": {"type": "string", "pattern": crate::ids::ULID_PATTERN}});
    match name {
        "orgId" => ulid("org"),
        "leadId" => ulid("lead"),
        "taskId" => ulid("task"),
        "postId" => ulid("post"),
        "strategyId" => ulid("strategy"),
        "accountId" => ulid("social account"),
        "conversationId" => ulid("conversation"),
        "userId" => ulid("member"),
        "clientId" => ulid("client"),
        "interactionId" => ulid("interaction"),
        "surveyId" => ulid("survey"),
        "alertId" => ulid("alert"),
        "contentId" => ulid("content item"),
        "sponsorId" => ulid("sponsor"),
        "dealId" => ulid("deal"),
        "deliverableId" => ulid("deliverable"),
        "email" => {
            json!({"description": "The invited address (percent-encoded: `@` as `%40`).", "schema": {"type": "string", "minLength": 3, "maxLength": 254}})
        }
        "platform" => {
            json!({"description": "A platform that connects by OAuth.", "schema": {"type": "string", "enum": ["linkedin", "x", "facebook", "instagram"]}})
        }
        "token" => {
            json!({"description": "The secret of the link: an invitation's, from its mail, or a survey link's, as `POST …/surveys/{surveyId}/links` answered it.", "schema": {"type": "string", "minLength": 1, "maxLength": 200}})
        }
        other => panic!("the path parameter {{{other}}} has no description in openapi::path_parameter"),
    }
}

/// `list_activities` → "List activities", for a row without a summary.
fn humanised(name: &str) -> String {
    let words = name.replace('_', " ");
    let mut chars = words.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn summary(endpoint: &Endpoint) -> String {
    let text = endpoint.summary.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() { humanised(endpoint.name) } else { text }
}

fn envelope(data: &schemars::Schema, success: bool) -> Value {
    json!({
        "type": "object",
        "required": ["success", "data"],
        "properties": {"success": {"const": success}, "data": data},
        "additionalProperties": false
    })
}

/// The error answers of a route, one per status, each naming the codes it can carry.
fn error_responses(errors: &[ErrorCode], responses: &mut Map<String, Value>) {
    let mut statuses: Vec<u16> = errors.iter().map(|e| e.status).collect();
    statuses.dedup();
    for status in statuses {
        let mine: Vec<&ErrorCode> = errors.iter().filter(|e| e.status == status).collect();
        let codes: Vec<&str> = mine.iter().map(|e| e.code).collect();
        let description = mine
            .iter()
            .map(|e| format!("`{}`: {}", e.code, e.meaning))
            .collect::<Vec<_>>()
            .join(" ");
        let mut response = json!({
            "description": description,
            "content": {"application/json": {"schema": {
                "allOf": [{"$ref": "#/components/schemas/Error"}],
                "properties": {"error": {"properties": {"code": {"enum": codes}}}}
            }}}
        });
        if mine
            .iter()
            .any(|e| matches!(e.code, "RATE_LIMITED" | "UNAVAILABLE" | "AI_RATE_LIMITED" | "AI_UNAVAILABLE"))
        {
            response["headers"] = json!({"Retry-After": {
                "description": "Seconds to wait before trying again (with the codes that say so).",
                "schema": {"type": "integer", "minimum": 0}
            }});
        }
        responses.insert(status.to_string(), response);
    }
}

fn operation(group: &RouteGroup, pattern: &str, endpoint: &Endpoint, schemas: RouteSchemas) -> Value {
    let mut parameters: Vec<Value> = pattern
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            let mut p = path_parameter(name);
            p["name"] = name.into();
            p["in"] = "path".into();
            p["required"] = true.into();
            p
        })
        .collect();
    parameters.extend(endpoint.query.iter().map(|q| {
        // An empty value reads as an absent one (`?status=` lists them all), as a form sends it.
        json!({"name": q.name, "in": "query", "required": false, "allowEmptyValue": true, "description": q.description, "schema": contract::query_schema(&q.kind)})
    }));
    let mut responses = Map::new();
    let done = if schemas.media_type == crate::api::REDIRECT {
        json!({"description": "Sent on: the browser goes to `Location`.", "headers": {"Location": {"required": true, "schema": schemas.data.clone().to_value()}}})
    } else {
        json!({"description": "Done.", "content": {schemas.media_type: {"schema": if schemas.enveloped {
            envelope(&schemas.data, true)
        } else {
            schemas.data.clone().to_value()
        }}}})
    };
    responses.insert(schemas.status.to_string(), done);
    if let Some(status) = endpoint.also {
        responses.insert(
            status.to_string(),
            json!({"description": "The same report, unsuccessful.", "content": {"application/json": {"schema": envelope(&schemas.data, false)}}}),
        );
    }
    error_responses(&contract::errors_of(pattern, endpoint), &mut responses);
    let mut operation = json!({
        "operationId": format!("{}.{}", group.function.trim_start_matches("api-"), endpoint.name),
        "summary": summary(endpoint),
        "tags": [group.tag],
        "parameters": parameters,
        "responses": responses,
        "security": if endpoint.signed_in { json!([{"bearerAuth": []}]) } else { json!([]) },
    });
    if let Some((schema, required)) = schemas.body {
        operation["requestBody"] = json!({
            "required": required,
            "content": {"application/json": {"schema": schema}}
        });
    }
    operation
}

/// The document for these groups' routes, each with what writes its schemas.
pub fn document(groups: &[(&RouteGroup, SchemasOf)]) -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator();
    let mut paths = Map::new();
    let mut tags = Vec::new();
    for (spec, schemas) in groups {
        tags.push(json!({"name": spec.tag, "description": format!("Served by the `{}` function.", spec.function)}));
        let schemas = schemas(&mut generator);
        assert_eq!(schemas.len(), spec.routes.len(), "{}: a schema per route", spec.function);
        for ((method, pattern, endpoint), schemas) in spec.routes.iter().zip(schemas) {
            let item = paths.entry(pattern.to_string()).or_insert_with(|| json!({}));
            item[method.as_str().to_lowercase()] = operation(spec, pattern, endpoint, schemas);
        }
    }
    let mut schemas = generator.take_definitions(true);
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "description": "Every failure: `success` false and an error whose `code` a client can branch on.",
            "required": ["success", "error"],
            "properties": {
                "success": {"const": false},
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "description": "One of the route's documented codes."},
                        "message": {"type": "string", "description": "What to fix, or what failed, in plain words."}
                    }
                }
            }
        }),
    );
    json!({
        "openapi": "3.1.1",
        "info": {
            "title": "Chief API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Chief: the AI operator for a small business's growth. Every answer is a JSON envelope: `{success: true, data}` or `{success: false, error: {code, message}}`. Routes under `/v1/orgs/{orgId}` act for a member of that org, with the rights of their role (owner, admin, member)."
        },
        "servers": [{"url": "/"}],
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "The token that sign-up and login answer."
            }}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::{Group, contract as document};
    use std::collections::BTreeSet;

    fn operations(document: &Value) -> BTreeSet<(String, String)> {
        document["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), path.clone())))
            .collect()
    }

    #[test]
    fn every_route_in_the_registry_has_an_operation_and_every_operation_a_route() {
        let document = document();
        let routes: BTreeSet<(String, String)> = Group::ALL
            .iter()
            .flat_map(|g| g.spec().routes.iter())
            .map(|(method, pattern, _)| (method.to_string(), pattern.to_string()))
            .collect();
        let operations = operations(&document);
        assert_eq!(
            routes.difference(&operations).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "routes without an operation"
        );
        assert_eq!(
            operations.difference(&routes).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "operations without a route"
        );
    }

    /// Every `$ref` points at a schema the document holds.
    #[test]
    fn every_reference_resolves() {
        let document = document();
        fn refs(value: &Value, out: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(r)) = map.get("$ref") {
                        out.push(r.clone());
                    }
                    map.values().for_each(|v| refs(v, out));
                }
                Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        refs(&document, &mut found);
        assert!(!found.is_empty());
        for reference in found {
            let pointer = reference.strip_prefix('#').unwrap_or_else(|| panic!("{reference} is not local"));
            assert!(document.pointer(pointer).is_some(), "{reference} does not resolve");
        }
    }

    #[test]
    fn each_operation_states_its_envelope_security_parameters_and_errors() {
        let document = document();
        let lead = &document["paths"]["/v1/orgs/{orgId}/leads"]["post"];
        assert_eq!(lead["security"], json!([{"bearerAuth": []}]));
        assert_eq!(lead["requestBody"]["required"], true);
        assert_eq!(
            lead["responses"]["201"]["content"]["application/json"]["schema"]["properties"]["success"],
            json!({"const": true})
        );
        let codes = |op: &Value, status: &str| {
            op["responses"][status]["content"]["application/json"]["schema"]["properties"]["error"]["properties"]["code"]["enum"].clone()
        };
        assert_eq!(codes(lead, "402"), json!(["QUOTA_EXCEEDED"]));
        assert_eq!(codes(lead, "401"), json!(["SESSION_REVOKED", "TOKEN_EXPIRED", "UNAUTHORIZED"]));
        assert!(lead["responses"]["503"]["headers"]["Retry-After"].is_object());
        let list = &document["paths"]["/v1/orgs/{orgId}/leads"]["get"];
        let limit = list["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap();
        assert_eq!(
            limit["schema"],
            json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 50})
        );
        assert_eq!(list["parameters"][0]["name"], "orgId");
        assert!(list.get("requestBody").is_none());
        let signup = &document["paths"]["/v1/auth/signup"]["post"];
        assert_eq!(signup["security"], json!([]));
        assert!(signup["responses"].get("401").is_none());
        let conversation = &document["paths"]["/v1/orgs/{orgId}/conversations"]["post"];
        assert_eq!(conversation["requestBody"]["required"], false);
        assert!(document["paths"]["/v1/health"]["get"]["responses"]["503"].is_object());
    }
}
