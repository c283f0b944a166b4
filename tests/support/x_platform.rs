//! A stand-in for X's API v2 as Chief calls it, at one address for both `x.com` and
//! `api.x.com` (as `CHIEF_X_BASE_URL` makes it): the consent page (`/i/oauth2/authorize`,
//! which grants at once and sends the browser back with a code), the token endpoint (Basic
//! auth, PKCE verifier checked against the challenge it saw, refresh tokens that rotate),
//! `/2/users/me`, `/2/tweets` (201 `{data:{id,text}}`, 403 on duplicate content, 401 once
//! revoked), a user's recent tweets and `public_metrics`. It records what it is sent.

use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{Value, json};
use sha2::Digest;
use std::sync::{Arc, Mutex};

pub const CLIENT_ID: &str = "x-client-chief";
pub const CLIENT_SECRET: &str = "x-secret-chief";
pub const USER_ID: &str = "2244994945";

#[derive(Default)]
struct State {
    /// code → (PKCE challenge, redirect_uri)
    codes: Vec<(String, String, String)>,
    access: Option<String>,
    refresh: Option<String>,
    issued: u32,
    revoked: bool,
    tweets: Vec<(String, String)>,
    /// Every token this stand-in handed out: none may show in Chief's answers or events.
    handed_out: Vec<String>,
    requests: Vec<String>,
}

pub struct XPlatform {
    pub base: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for XPlatform {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn query(uri: &hyper::Uri) -> Vec<(String, String)> {
    form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn problem(status: u16, title: &str, detail: &str) -> (u16, Vec<(String, String)>, Value) {
    (
        status,
        vec![],
        json!({"title": title, "detail": detail, "type": "about:blank", "status": status}),
    )
}

fn answer(
    state: &mut State,
    method: &str,
    uri: &hyper::Uri,
    headers: &hyper::HeaderMap,
    body: &[u8],
) -> (u16, Vec<(String, String)>, Value) {
    let path = uri.path();
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let authorised = || !state.revoked && bearer.is_some() && bearer == state.access;
    match (method, path) {
        ("GET", "/i/oauth2/authorize") => {
            let q = query(uri);
            assert_eq!(field(&q, "code_challenge_method"), Some("S256"), "X requires PKCE S256");
            assert_eq!(field(&q, "client_id"), Some(CLIENT_ID));
            assert!(field(&q, "scope").unwrap_or_default().contains("offline.access"));
            let code = format!("code-{}", state.codes.len() + 1);
            let redirect = field(&q, "redirect_uri").unwrap().to_string();
            state
                .codes
                .push((code.clone(), field(&q, "code_challenge").unwrap().to_string(), redirect.clone()));
            // A new consent undoes a revocation, as reconnecting does at X.
            state.revoked = false;
            let location = format!("{redirect}?state={}&code={code}", field(&q, "state").unwrap());
            (302, vec![("location".into(), location)], Value::Null)
        }
        ("POST", "/2/oauth2/token") => {
            let expected = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
            );
            if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
                return (401, vec![], json!({"error": "unauthorized_client"}));
            }
            let form: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
            match field(&form, "grant_type") {
                Some("authorization_code") => {
                    let code = field(&form, "code").unwrap_or_default();
                    let Some(at) = state.codes.iter().position(|(c, _, _)| c == code) else {
                        return (
                            400,
                            vec![],
                            json!({"error": "invalid_request", "error_description": "Value passed for the authorization code was invalid."}),
                        );
                    };
                    let (_, challenge, redirect) = state.codes.remove(at);
                    let verifier = field(&form, "code_verifier").unwrap_or_default();
                    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
                    if computed != challenge || field(&form, "redirect_uri") != Some(redirect.as_str()) {
                        return (
                            400,
                            vec![],
                            json!({"error": "invalid_request", "error_description": "the verifier or redirect_uri does not match"}),
                        );
                    }
                }
                Some("refresh_token") => {
                    if state.revoked || field(&form, "refresh_token").map(str::to_string) != state.refresh {
                        return (
                            400,
                            vec![],
                            json!({"error": "invalid_request", "error_description": "Value passed for the token was invalid."}),
                        );
                    }
                }
                _ => return (400, vec![], json!({"error": "unsupported_grant_type"})),
            }
            state.issued += 1;
            let (access, refresh) = (format!("xat-{}-secret", state.issued), format!("xrt-{}-secret", state.issued));
            state.handed_out.extend([access.clone(), refresh.clone()]);
            state.access = Some(access.clone());
            state.refresh = Some(refresh.clone());
            (
                200,
                vec![],
                json!({"token_type": "bearer", "expires_in": 7200, "access_token": access, "refresh_token": refresh, "scope": "tweet.read tweet.write users.read offline.access"}),
            )
        }
        ("GET", "/2/users/me") if authorised() => (
            200,
            vec![],
            json!({"data": {"id": USER_ID, "name": "Chief Test", "username": "chieftest"}}),
        ),
        ("POST", "/2/tweets") if authorised() => {
            let text = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|b| b["text"].as_str().map(str::to_string));
            let Some(text) = text else {
                return problem(400, "Invalid Request", "One or more parameters to your request was invalid.");
            };
            if state.tweets.iter().any(|(_, t)| *t == text) {
                return problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content.");
            }
            let id = format!("18{:017}", state.tweets.len() + 1);
            state.tweets.push((id.clone(), text.clone()));
            (
                201,
                vec![],
                json!({"data": {"id": id, "text": text, "edit_history_tweet_ids": [id]}}),
            )
        }
        ("GET", p) if p == format!("/2/users/{USER_ID}/tweets") && authorised() => {
            let data: Vec<Value> = state
                .tweets
                .iter()
                .rev()
                .take(10)
                .map(|(id, text)| json!({"id": id, "text": text, "created_at": "2026-11-27T10:00:00.000Z"}))
                .collect();
            (200, vec![], json!({"data": data, "meta": {"result_count": data.len()}}))
        }
        ("GET", p) if p.starts_with("/2/tweets/") && authorised() => {
            let id = p.trim_start_matches("/2/tweets/");
            (
                200,
                vec![],
                json!({"data": {"id": id, "text": "…", "public_metrics": {"retweet_count": 2, "reply_count": 3, "like_count": 11, "quote_count": 1, "bookmark_count": 0, "impression_count": 480}}}),
            )
        }
        (_, p) if p.starts_with("/2/") => problem(401, "Unauthorized", "Unauthorized"),
        _ => problem(404, "Not Found", "no such route in the stand-in"),
    }
}

impl XPlatform {
    pub async fn start() -> XPlatform {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let state = state.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            let (status, headers, value) = {
                                let mut state = state.lock().unwrap();
                                state.requests.push(format!("{} {}", parts.method, parts.uri.path()));
                                answer(&mut state, parts.method.as_str(), &parts.uri, &parts.headers, &body)
                            };
                            let mut response = hyper::Response::builder().status(status).header("content-type", "application/json");
                            for (name, value) in headers {
                                response = response.header(name, value);
                            }
                            let text = if value.is_null() { String::new() } else { value.to_string() };
                            Ok::<_, std::convert::Infallible>(response.body(Full::new(Bytes::from(text))).unwrap())
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        XPlatform { base, state, server }
    }

    /// The user revokes the app: every call with its tokens answers 401, a refresh 400.
    pub fn revoke(&self) {
        self.state.lock().unwrap().revoked = true;
    }

    pub fn tweets_with(&self, text: &str) -> usize {
        self.state.lock().unwrap().tweets.iter().filter(|(_, t)| t == text).count()
    }

    pub fn tokens_handed_out(&self) -> Vec<String> {
        self.state.lock().unwrap().handed_out.clone()
    }

    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}
