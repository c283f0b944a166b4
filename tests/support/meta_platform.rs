//! A stand-in for Meta's Graph API as Chief calls it, at one address for `www.facebook.com`
//! and `graph.facebook.com`, under `/v24.0/`: the login dialog, the code's exchange and the
//! long-lived `fb_exchange_token`, the user's Pages with their tokens and Instagram Business
//! accounts, a Page's feed (code 506 on a duplicate, 190 once revoked, 32 when throttled),
//! permalinks and insights; Instagram's publishing limit, media containers whose
//! `status_code` is `IN_PROGRESS` on the first check and then `FINISHED` (or `ERROR` for an
//! image it cannot fetch), `media_publish`, the account's media and their insights (empty
//! until asked otherwise, as for a post whose figures lag).

use crate::stand_in::{Reply, Seen, field, serve};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

pub const APP_ID: &str = "meta-app-chief";
pub const APP_SECRET: &str = "meta-secret-chief";
pub const GRAPH: &str = "/v24.0";
pub const PAGE: &str = "104570932";
pub const INSTAGRAM: &str = "17841405822304914";
/// An image URL the stand-in's Instagram cannot fetch: its container ends in `ERROR`.
pub const BROKEN_IMAGE: &str = "https://images.example/broken.jpg";

#[derive(Default)]
struct State {
    codes: Vec<(String, String)>,
    user_tokens: Vec<String>,
    /// Page tokens do not expire, and a new one does not end the old.
    page_tokens: Vec<String>,
    revoked: bool,
    throttled: bool,
    /// (id, message)
    feed: Vec<(String, String)>,
    /// container id → (image, caption, checks so far)
    containers: Vec<(String, String, String, u32)>,
    /// (media id, caption)
    media: Vec<(String, String)>,
    publishing_quota_used: u64,
    instagram_insights: bool,
    handed_out: Vec<String>,
}

pub struct MetaPlatform {
    pub base: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for MetaPlatform {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn graph_error(code: i64, subcode: Option<i64>, message: &str) -> Reply {
    Reply::json(
        400,
        json!({"error": {"message": message, "type": "OAuthException", "code": code, "error_subcode": subcode, "fbtrace_id": "AbCdEf"}}),
    )
}

fn answer(state: &mut State, seen: &Seen) -> Reply {
    let Some(path) = seen.uri.path().strip_prefix(GRAPH).map(str::to_string) else {
        return graph_error(2635, None, "unversioned call: the Graph API wants /vNN.0/");
    };
    let pairs = if seen.method == "POST" { seen.form() } else { seen.query() };
    let token = field(&pairs, "access_token").map(str::to_string);
    let page_ok = !state.revoked && token.as_ref().is_some_and(|t| state.page_tokens.contains(t));
    let user_ok = !state.revoked && token.as_ref().is_some_and(|t| state.user_tokens.contains(t));
    match (seen.method.as_str(), path.as_str()) {
        ("GET", "/dialog/oauth") => {
            assert_eq!(field(&pairs, "client_id"), Some(APP_ID));
            assert!(field(&pairs, "scope").is_some());
            let code = format!("fb-code-{}", state.codes.len() + 1);
            let redirect = field(&pairs, "redirect_uri").unwrap().to_string();
            state.codes.push((code.clone(), redirect.clone()));
            state.revoked = false;
            Reply::found(format!("{redirect}?code={code}&state={}#_=_", field(&pairs, "state").unwrap()))
        }
        ("GET", "/oauth/access_token") => {
            if field(&pairs, "client_id") != Some(APP_ID) || field(&pairs, "client_secret") != Some(APP_SECRET) {
                return graph_error(1, None, "Error validating client secret.");
            }
            let issued = state.user_tokens.len() + 1;
            if field(&pairs, "grant_type") == Some("fb_exchange_token") {
                if !field(&pairs, "fb_exchange_token").is_some_and(|t| state.user_tokens.iter().any(|u| u == t)) {
                    return graph_error(190, None, "Invalid OAuth access token.");
                }
                let long = format!("fb-long-{issued}-secret");
                state.user_tokens.push(long.clone());
                state.handed_out.push(long.clone());
                let page = format!("fb-page-{issued}-secret");
                state.page_tokens.push(page.clone());
                state.handed_out.push(page);
                return Reply::json(200, json!({"access_token": long, "token_type": "bearer", "expires_in": 5_183_944}));
            }
            let code = field(&pairs, "code").unwrap_or_default();
            let Some(at) = state
                .codes
                .iter()
                .position(|(c, r)| c == code && Some(r.as_str()) == field(&pairs, "redirect_uri"))
            else {
                return graph_error(100, Some(36007), "Invalid verification code format.");
            };
            state.codes.remove(at);
            let short = format!("fb-short-{issued}-secret");
            state.user_tokens.push(short.clone());
            state.handed_out.push(short.clone());
            Reply::json(200, json!({"access_token": short, "token_type": "bearer", "expires_in": 5_400}))
        }
        ("GET", "/me/accounts") if user_ok => Reply::json(
            200,
            json!({"data": [{"id": PAGE, "name": "Chief Bakery", "access_token": state.page_tokens.last(), "category": "Bakery",
                "instagram_business_account": {"id": INSTAGRAM, "username": "chiefbakery"}}],
                "paging": {"cursors": {"before": "b", "after": "a"}}}),
        ),
        (_, _) if state.revoked => graph_error(
            190,
            Some(460),
            "Error validating access token: The session has been invalidated because the user changed their password.",
        ),
        ("POST", p) if p == format!("/{PAGE}/feed") && page_ok => {
            if state.throttled {
                state.throttled = false;
                return Reply::json(
                    400,
                    json!({"error": {"message": "(#32) Page request limit reached", "type": "OAuthException", "code": 32, "error_data": {"estimated_time_to_regain_access": 3}, "fbtrace_id": "x"}}),
                );
            }
            let message = field(&pairs, "message").unwrap_or_default().to_string();
            if state.feed.iter().any(|(_, m)| *m == message) {
                return graph_error(506, None, "Duplicate status message");
            }
            let id = format!("{PAGE}_{}", 900 + state.feed.len());
            state.feed.push((id.clone(), message));
            Reply::json(200, json!({"id": id}))
        }
        ("GET", p) if p == format!("/{PAGE}/feed") && page_ok => {
            let data: Vec<Value> = state
                .feed
                .iter()
                .rev()
                .map(|(id, m)| json!({"id": id, "message": m, "created_time": "2026-11-27T10:00:00+0000", "permalink_url": format!("https://www.facebook.com/{id}")}))
                .collect();
            Reply::json(200, json!({"data": data}))
        }
        ("GET", p) if p == format!("/{INSTAGRAM}/content_publishing_limit") && page_ok => Reply::json(
            200,
            json!({"data": [{"quota_usage": state.publishing_quota_used, "config": {"quota_total": 50, "quota_duration": 86400}}]}),
        ),
        ("POST", p) if p == format!("/{INSTAGRAM}/media") && page_ok => {
            let (Some(image), Some(caption)) = (field(&pairs, "image_url"), field(&pairs, "caption")) else {
                return graph_error(100, None, "The parameter image_url is required");
            };
            let id = format!("1790000000{}", state.containers.len() + 1);
            state.containers.push((id.clone(), image.to_string(), caption.to_string(), 0));
            Reply::json(200, json!({"id": id}))
        }
        ("POST", p) if p == format!("/{INSTAGRAM}/media_publish") && page_ok => {
            let creation = field(&pairs, "creation_id").unwrap_or_default();
            let Some(container) = state.containers.iter().find(|c| c.0 == creation && c.3 >= 2) else {
                return graph_error(9007, Some(2207027), "Media ID is not available");
            };
            let caption = container.2.clone();
            let id = format!("1800000000{}", state.media.len() + 1);
            state.media.push((id.clone(), caption));
            state.publishing_quota_used += 1;
            Reply::json(200, json!({"id": id}))
        }
        ("GET", p) if p == format!("/{INSTAGRAM}/media") && page_ok => {
            let data: Vec<Value> = state
                .media
                .iter()
                .rev()
                .map(|(id, c)| json!({"id": id, "caption": c, "permalink": format!("https://www.instagram.com/p/{id}/"), "timestamp": "2026-11-27T10:00:00+0000"}))
                .collect();
            Reply::json(200, json!({"data": data}))
        }
        ("GET", p) if p.ends_with("/insights") && page_ok => {
            let id = p.trim_start_matches('/').trim_end_matches("/insights");
            if id.starts_with(PAGE) {
                Reply::json(
                    200,
                    json!({"data": [
                        {"name": "post_total_media_view_unique", "period": "lifetime", "values": [{"value": 321}]},
                        {"name": "post_reactions_by_type_total", "period": "lifetime", "values": [{"value": {"like": 12, "love": 3}}]},
                        {"name": "post_clicks", "period": "lifetime", "values": [{"value": 9}]}
                    ]}),
                )
            } else if state.instagram_insights {
                let metric = |name: &str, value: u64| json!({"name": name, "period": "lifetime", "values": [{"value": value}]});
                Reply::json(
                    200,
                    json!({"data": [metric("views", 640), metric("reach", 500), metric("likes", 44), metric("comments", 5), metric("shares", 2), metric("saved", 7), metric("total_interactions", 58)]}),
                )
            } else {
                Reply::json(200, json!({"data": []}))
            }
        }
        ("GET", p) if page_ok => {
            let id = p.trim_start_matches('/').to_string();
            if let Some(container) = state.containers.iter_mut().find(|c| c.0 == id) {
                container.3 += 1;
                let status = if container.1 == BROKEN_IMAGE {
                    "ERROR"
                } else if container.3 < 2 {
                    "IN_PROGRESS"
                } else {
                    "FINISHED"
                };
                return Reply::json(200, json!({"id": id, "status_code": status}));
            }
            if state.media.iter().any(|(m, _)| *m == id) {
                return Reply::json(200, json!({"id": id, "permalink": format!("https://www.instagram.com/p/{id}/")}));
            }
            if state.feed.iter().any(|(f, _)| *f == id) {
                return Reply::json(200, json!({"id": id, "permalink_url": format!("https://www.facebook.com/{id}")}));
            }
            graph_error(100, Some(33), "Unsupported get request.")
        }
        _ => graph_error(190, None, "Invalid OAuth access token."),
    }
}

impl MetaPlatform {
    pub async fn start() -> MetaPlatform {
        let state = Arc::new(Mutex::new(State::default()));
        let (base, server) = serve(state.clone(), answer).await;
        MetaPlatform { base, state, server }
    }

    pub fn revoke(&self) {
        self.state.lock().unwrap().revoked = true;
    }

    /// The next Page post is refused with code 32 (throttled, 3 minutes).
    pub fn throttle_once(&self) {
        self.state.lock().unwrap().throttled = true;
    }

    /// Instagram's insights answer figures from now on (empty before).
    pub fn instagram_figures_ready(&self) {
        self.state.lock().unwrap().instagram_insights = true;
    }

    pub fn page_posts_with(&self, message: &str) -> usize {
        self.state.lock().unwrap().feed.iter().filter(|(_, m)| m == message).count()
    }

    pub fn instagram_media_with(&self, caption: &str) -> usize {
        self.state.lock().unwrap().media.iter().filter(|(_, c)| c == caption).count()
    }

    /// How many times each container's `status_code` was read.
    pub fn container_checks(&self) -> Vec<u32> {
        self.state.lock().unwrap().containers.iter().map(|c| c.3).collect()
    }

    pub fn tokens_handed_out(&self) -> Vec<String> {
        self.state.lock().unwrap().handed_out.clone()
    }
}
