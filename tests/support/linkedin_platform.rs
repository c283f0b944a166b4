//! A stand-in for LinkedIn as Chief calls it, at one address for `www.linkedin.com` and
//! `api.linkedin.com`: the consent page (no PKCE for a web app), the token endpoint (client
//! id and secret in the form), `/v2/userinfo`, the Pages the member administers,
//! `/rest/posts` (checks `LinkedIn-Version`, `X-Restli-Protocol-Version` and that the
//! commentary's reserved characters are escaped; 201 with `x-restli-id`; 422 naming the
//! duplicated URN; 401 `serviceErrorCode` 65601 once revoked; 426 for a version it does not
//! serve), the author's recent posts and share statistics.

use crate::stand_in::{Reply, Seen, field, serve};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

pub const CLIENT_ID: &str = "li-client-chief";
pub const CLIENT_SECRET: &str = "li-secret-chief";
pub const VERSION: &str = "202610";
pub const MEMBER: &str = "urn:li:person:782bbtaQ";
pub const PAGE: &str = "urn:li:organization:5515715";

#[derive(Default)]
struct State {
    codes: Vec<(String, String)>,
    access: Option<String>,
    issued: u32,
    revoked: bool,
    /// (urn, author, commentary)
    posts: Vec<(String, String, String)>,
    handed_out: Vec<String>,
}

pub struct LinkedinPlatform {
    pub base: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for LinkedinPlatform {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn error(status: u16, code: &str, service: Option<i64>, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"status": status, "serviceErrorCode": service, "code": code, "message": message}),
    )
}

/// Whether every reserved character of the little text format is escaped.
fn escaped(text: &str) -> bool {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if "|{}@[]()<>#*_~".contains(c) {
            return false;
        }
    }
    true
}

fn answer(state: &mut State, seen: &Seen) -> Reply {
    let authorised = !state.revoked && seen.bearer().is_some() && seen.bearer().map(str::to_string) == state.access;
    let path = seen.uri.path().to_string();
    match (seen.method.as_str(), path.as_str()) {
        ("GET", "/oauth/v2/authorization") => {
            let q = seen.query();
            assert_eq!(field(&q, "code_challenge"), None, "LinkedIn takes no PKCE from a web app");
            assert_eq!(field(&q, "client_id"), Some(CLIENT_ID));
            assert!(field(&q, "scope").unwrap_or_default().contains("w_organization_social"));
            let code = format!("li-code-{}", state.codes.len() + 1);
            let redirect = field(&q, "redirect_uri").unwrap().to_string();
            state.codes.push((code.clone(), redirect.clone()));
            state.revoked = false;
            Reply::found(format!("{redirect}?code={code}&state={}", field(&q, "state").unwrap()))
        }
        ("POST", "/oauth/v2/accessToken") => {
            let form = seen.form();
            if field(&form, "client_id") != Some(CLIENT_ID) || field(&form, "client_secret") != Some(CLIENT_SECRET) {
                return Reply::json(401, json!({"error": "invalid_client"}));
            }
            let code = field(&form, "code").unwrap_or_default();
            let Some(at) = state
                .codes
                .iter()
                .position(|(c, r)| c == code && Some(r.as_str()) == field(&form, "redirect_uri"))
            else {
                return Reply::json(
                    400,
                    json!({"error": "invalid_request", "error_description": "Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization code."}),
                );
            };
            state.codes.remove(at);
            state.issued += 1;
            let access = format!("li-at-{}-secret", state.issued);
            state.handed_out.push(access.clone());
            state.access = Some(access.clone());
            // No refresh token: programmatic refresh is for approved partners only.
            Reply::json(
                200,
                json!({"access_token": access, "expires_in": 5_184_000, "scope": "openid profile w_member_social w_organization_social"}),
            )
        }
        (_, p) if p.starts_with("/rest/") && seen.header("linkedin-version") != Some(VERSION) => error(
            426,
            "NONEXISTENT_VERSION",
            None,
            &format!("Requested version {} is not active", seen.header("linkedin-version").unwrap_or("")),
        ),
        (_, p) if p.starts_with("/rest/") && seen.header("x-restli-protocol-version") != Some("2.0.0") => {
            error(400, "BAD_REQUEST", None, "X-Restli-Protocol-Version 2.0.0 required")
        }
        ("GET", "/v2/userinfo") if authorised => Reply::json(200, json!({"sub": "782bbtaQ", "name": "Ada Chief", "email_verified": true})),
        ("GET", "/rest/organizationAcls") if authorised => Reply::json(
            200,
            json!({"elements": [{"organization": PAGE, "role": "ADMINISTRATOR", "state": "APPROVED", "roleAssignee": MEMBER}]}),
        ),
        ("GET", "/rest/organizations/5515715") if authorised => Reply::json(200, json!({"id": 5515715, "localizedName": "Chief Test Co"})),
        ("POST", "/rest/posts") if authorised => {
            let body = seen.json();
            let (Some(author), Some(commentary)) = (body["author"].as_str(), body["commentary"].as_str()) else {
                return error(422, "UNPROCESSABLE_ENTITY", None, "author and commentary are required");
            };
            assert!(escaped(commentary), "an unescaped reserved character in {commentary:?}");
            assert_eq!(body["lifecycleState"], "PUBLISHED");
            if let Some((urn, _, _)) = state.posts.iter().find(|(_, a, c)| a == author && c == commentary) {
                return error(422, "DUPLICATE_POST", None, &format!("Content is a duplicate of {urn}"));
            }
            let urn = format!("urn:li:share:70{:017}", state.posts.len() + 1);
            state.posts.push((urn.clone(), author.to_string(), commentary.to_string()));
            Reply::json(201, Value::Null).with_header("x-restli-id", &urn)
        }
        ("GET", "/rest/posts") if authorised => {
            let q = seen.query();
            let author = field(&q, "author").unwrap_or_default();
            let elements: Vec<Value> = state
                .posts
                .iter()
                .rev()
                .filter(|(_, a, _)| a == author)
                .map(|(urn, a, c)| json!({"id": urn, "author": a, "commentary": c, "lifecycleState": "PUBLISHED"}))
                .collect();
            Reply::json(200, json!({"elements": elements, "paging": {"count": 10, "start": 0}}))
        }
        ("GET", "/rest/organizationalEntityShareStatistics") if authorised => Reply::json(
            200,
            json!({"elements": [{"organizationalEntity": PAGE, "totalShareStatistics": {"impressionCount": 900, "uniqueImpressionsCount": 700, "clickCount": 25, "likeCount": 40, "commentCount": 6, "shareCount": 3, "engagement": 0.08}}]}),
        ),
        (_, p) if p.starts_with("/rest/") || p.starts_with("/v2/") => error(
            401,
            "REVOKED_ACCESS_TOKEN",
            Some(65601),
            "The token used in the request has been revoked by the user",
        ),
        _ => error(404, "NOT_FOUND", None, "no such route in the stand-in"),
    }
}

impl LinkedinPlatform {
    pub async fn start() -> LinkedinPlatform {
        let state = Arc::new(Mutex::new(State::default()));
        let (base, server) = serve(state.clone(), answer).await;
        LinkedinPlatform { base, state, server }
    }

    pub fn revoke(&self) {
        self.state.lock().unwrap().revoked = true;
    }

    /// The commentaries posted under `author`, as LinkedIn stored them.
    pub fn posts_by(&self, author: &str) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state
            .posts
            .iter()
            .filter(|(_, a, _)| a == author)
            .map(|(_, _, c)| c.clone())
            .collect()
    }

    pub fn tokens_handed_out(&self) -> Vec<String> {
        self.state.lock().unwrap().handed_out.clone()
    }
}
