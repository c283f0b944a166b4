//! A stand-in for X's API v2 as Chief calls it, at one address for both `x.com` and
//! `api.x.com` (as `CHIEF_X_BASE_URL` makes it): the consent page (`/i/oauth2/authorize`,
//! which grants at once and sends the browser back with a code), the token endpoint (Basic
//! auth, PKCE verifier checked against the challenge it saw, refresh tokens that rotate),
//! `/2/users/me`, `/2/tweets` (201 `{data:{id,text}}`, 403 on duplicate content, 401 once
//! revoked), a user's recent tweets and `public_metrics`. It records what it is sent.

use crate::stand_in::{Reply, Seen, field, serve};
use base64::Engine;
use serde_json::{Value, json};
use sha2::Digest;
use std::sync::{Arc, Mutex};

pub const CLIENT_ID: &str = "x-client-chief";
pub const CLIENT_SECRET: &str = "x-secret-chief";
pub const USER_ID: &str = "2244994945";

/// How the stand-in answers the next `POST /2/tweets`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Next {
    #[default]
    Normal,
    /// 429 with `x-rate-limit-reset` at this Unix time.
    RateLimited(i64),
    /// 503, the tweet not made.
    ServerError,
    /// The tweet is made, then the connection closes with no answer.
    AcceptThenDrop,
}

#[derive(Default)]
struct State {
    next: Next,
    /// code → (PKCE challenge, redirect_uri)
    codes: Vec<(String, String, String)>,
    access: Option<String>,
    refresh: Option<String>,
    issued: u32,
    revoked: bool,
    tweets: Vec<(String, String)>,
    /// (reply, the tweet it answers), for threads.
    replies: Vec<(String, String)>,
    /// Every token this stand-in handed out: none may show in Chief's answers or events.
    handed_out: Vec<String>,
    requests: Vec<String>,
    dropping: bool,
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

fn problem(status: u16, title: &str, detail: &str) -> Reply {
    Reply::json(
        status,
        json!({"title": title, "detail": detail, "type": "about:blank", "status": status}),
    )
}

fn answer(state: &mut State, seen: &Seen) -> Reply {
    state.requests.push(format!("{} {}", seen.method, seen.uri.path()));
    let bearer = seen.bearer().map(str::to_string);
    let authorised = !state.revoked && bearer.is_some() && bearer == state.access;
    match (seen.method.as_str(), seen.uri.path()) {
        ("GET", "/i/oauth2/authorize") => {
            let q = seen.query();
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
            Reply::found(format!("{redirect}?state={}&code={code}", field(&q, "state").unwrap()))
        }
        ("POST", "/2/oauth2/token") => {
            let expected = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
            );
            if seen.header("authorization") != Some(expected.as_str()) {
                return Reply::json(401, json!({"error": "unauthorized_client"}));
            }
            let form = seen.form();
            let invalid = |why: &str| Reply::json(400, json!({"error": "invalid_request", "error_description": why}));
            match field(&form, "grant_type") {
                Some("authorization_code") => {
                    let code = field(&form, "code").unwrap_or_default();
                    let Some(at) = state.codes.iter().position(|(c, _, _)| c == code) else {
                        return invalid("Value passed for the authorization code was invalid.");
                    };
                    let (_, challenge, redirect) = state.codes.remove(at);
                    let verifier = field(&form, "code_verifier").unwrap_or_default();
                    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
                    if computed != challenge || field(&form, "redirect_uri") != Some(redirect.as_str()) {
                        return invalid("the verifier or redirect_uri does not match");
                    }
                }
                Some("refresh_token") => {
                    if state.revoked || field(&form, "refresh_token").map(str::to_string) != state.refresh {
                        return invalid("Value passed for the token was invalid.");
                    }
                }
                _ => return Reply::json(400, json!({"error": "unsupported_grant_type"})),
            }
            state.issued += 1;
            let (access, refresh) = (format!("xat-{}-secret", state.issued), format!("xrt-{}-secret", state.issued));
            state.handed_out.extend([access.clone(), refresh.clone()]);
            state.access = Some(access.clone());
            state.refresh = Some(refresh.clone());
            Reply::json(
                200,
                json!({"token_type": "bearer", "expires_in": 7200, "access_token": access, "refresh_token": refresh, "scope": "tweet.read tweet.write users.read offline.access"}),
            )
        }
        ("GET", "/2/users/me") if authorised => {
            Reply::json(200, json!({"data": {"id": USER_ID, "name": "Chief Test", "username": "chieftest"}}))
        }
        ("POST", "/2/tweets") if authorised => {
            let Some(text) = seen.json()["text"].as_str().map(str::to_string) else {
                return problem(400, "Invalid Request", "One or more parameters to your request was invalid.");
            };
            match std::mem::take(&mut state.next) {
                Next::RateLimited(reset) => {
                    return problem(429, "Too Many Requests", "Too Many Requests")
                        .with_header("x-rate-limit-limit", "100")
                        .with_header("x-rate-limit-remaining", "0")
                        .with_header("x-rate-limit-reset", &reset.to_string());
                }
                Next::ServerError => return problem(503, "Service Unavailable", "Service Unavailable"),
                Next::AcceptThenDrop | Next::Normal => {}
            }
            // A thread's part answers a post that exists.
            if let Some(previous) = seen.json()["reply"]["in_reply_to_tweet_id"].as_str() {
                if !state.tweets.iter().any(|(id, _)| id == previous) {
                    return problem(400, "Invalid Request", "The Tweet you are replying to does not exist.");
                }
                state
                    .replies
                    .push((format!("18{:017}", state.tweets.len() + 1), previous.to_string()));
            }
            if state.tweets.iter().any(|(_, t)| *t == text) {
                return problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content.");
            }
            let id = format!("18{:017}", state.tweets.len() + 1);
            state.tweets.push((id.clone(), text.clone()));
            if std::mem::take(&mut state.dropping) {
                return Reply::Drop;
            }
            Reply::json(201, json!({"data": {"id": id, "text": text, "edit_history_tweet_ids": [id]}}))
        }
        ("GET", p) if p == format!("/2/users/{USER_ID}/tweets") && authorised => {
            let data: Vec<Value> = state
                .tweets
                .iter()
                .rev()
                .take(10)
                .map(|(id, text)| json!({"id": id, "text": text, "created_at": "2026-11-27T10:00:00.000Z"}))
                .collect();
            Reply::json(200, json!({"data": data, "meta": {"result_count": data.len()}}))
        }
        ("GET", p) if p.starts_with("/2/tweets/") && authorised => {
            let id = p.trim_start_matches("/2/tweets/");
            Reply::json(
                200,
                json!({"data": {"id": id, "text": "…", "public_metrics": {"retweet_count": 2, "reply_count": 3, "like_count": 11, "quote_count": 1, "bookmark_count": 0, "impression_count": 480}}}),
            )
        }
        (_, p) if p.starts_with("/2/") => problem(401, "Unauthorized", "Unauthorized"),
        _ => problem(404, "Not Found", "no such route in the stand-in"),
    }
}

impl XPlatform {
    pub async fn start() -> XPlatform {
        let state = Arc::new(Mutex::new(State::default()));
        let (base, server) = serve(state.clone(), answer).await;
        XPlatform { base, state, server }
    }

    /// How the next `POST /2/tweets` is answered.
    pub fn next(&self, next: Next) {
        let mut state = self.state.lock().unwrap();
        state.dropping = next == Next::AcceptThenDrop;
        state.next = next;
    }

    /// The user revokes the app: every call with its tokens answers 401, a refresh 400.
    pub fn revoke(&self) {
        self.state.lock().unwrap().revoked = true;
    }

    pub fn tweets_with(&self, text: &str) -> usize {
        self.state.lock().unwrap().tweets.iter().filter(|(_, t)| t == text).count()
    }

    /// The tweets in order, each with the tweet it replies to.
    pub fn thread_of(&self, first_text: &str) -> Vec<(String, Option<String>)> {
        let state = self.state.lock().unwrap();
        let Some((mut id, text)) = state.tweets.iter().find(|(_, t)| t == first_text).cloned() else {
            return Vec::new();
        };
        let mut thread = vec![(text, None)];
        while let Some((reply, _)) = state.replies.iter().find(|(_, to)| *to == id).cloned() {
            let text = state
                .tweets
                .iter()
                .find(|(i, _)| *i == reply)
                .map(|(_, t)| t.clone())
                .unwrap_or_default();
            thread.push((text, Some(id.clone())));
            id = reply;
        }
        thread
    }

    pub fn tokens_handed_out(&self) -> Vec<String> {
        self.state.lock().unwrap().handed_out.clone()
    }

    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}
