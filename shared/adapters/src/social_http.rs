//! The real social platforms over HTTPS (reqwest), behind the Social port: LinkedIn (members
//! and Pages, `/rest/posts`), X (`/2/tweets`, OAuth 2.0 with PKCE), Facebook Pages
//! (`/v{N}/{page}/feed`) and Instagram Business (media container, then `media_publish`).
//! The `sandbox` platform is handed to the sandbox adapter. Each platform's answers are
//! mapped to the pipeline's outcomes (facts and sources: `shared/reference/social-apis.md`).
//!
//! `CHIEF_LINKEDIN_BASE_URL`, `CHIEF_X_BASE_URL` and `CHIEF_META_BASE_URL` each replace every
//! host of their platform with one address, the paths kept as they are at the platform, so
//! that tests run the adapters against stand-ins.

use async_trait::async_trait;
use chief::app::PlatformVersions;
use chief::clock::Clock;
use chief::ports::secrets::{SecretName, Secrets, SecretsError};
use chief::ports::social::{
    AuthorizeRequest, Channel, Grant, Identity, Metrics, Outgoing, Published, SANDBOX_PLATFORM, Secret, Social, SocialError,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// Where each platform is reached: its real hosts, or one stand-in address for all of them.
#[derive(Debug, Clone, Default)]
pub struct Bases {
    pub linkedin: Option<String>,
    pub x: Option<String>,
    pub meta: Option<String>,
}

impl Bases {
    pub fn from_env() -> Bases {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .map(|v| v.trim_end_matches('/').to_string())
        };
        Bases {
            linkedin: var("CHIEF_LINKEDIN_BASE_URL"),
            x: var("CHIEF_X_BASE_URL"),
            meta: var("CHIEF_META_BASE_URL"),
        }
    }
}

/// How many times, and how often, an Instagram container's processing is checked.
const CONTAINER_CHECKS: u32 = 10;

pub struct HttpPlatforms {
    sandbox: Arc<dyn Social>,
    secrets: Arc<dyn Secrets>,
    clock: Arc<dyn Clock>,
    bases: Bases,
    versions: PlatformVersions,
    container_wait: std::time::Duration,
    client: OnceLock<reqwest::Client>,
}

/// A platform's app, from its secret.
struct AppKeys {
    client_id: String,
    client_secret: String,
}

/// An answer read whole: status, headers and the JSON body (`Null` when empty or not JSON).
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl HttpPlatforms {
    pub fn new(
        sandbox: Arc<dyn Social>,
        secrets: Arc<dyn Secrets>,
        clock: Arc<dyn Clock>,
        bases: Bases,
        versions: PlatformVersions,
    ) -> Self {
        HttpPlatforms {
            sandbox,
            secrets,
            clock,
            bases,
            versions,
            container_wait: std::time::Duration::from_secs(3),
            client: OnceLock::new(),
        }
    }

    /// How long to wait between checks of an Instagram container (3 s; tests wait less).
    pub fn with_container_wait(mut self, wait: std::time::Duration) -> Self {
        self.container_wait = wait;
        self
    }

    /// Built by the first call that needs it, not at start-up.
    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            crate::tls::install_default_provider();
            reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(20))
                .connect_timeout(std::time::Duration::from_secs(5))
                .build()
                .unwrap_or_default()
        })
    }

    fn linkedin_www(&self) -> String {
        self.bases.linkedin.clone().unwrap_or_else(|| "https://www.linkedin.com".into())
    }
    fn linkedin_api(&self) -> String {
        self.bases.linkedin.clone().unwrap_or_else(|| "https://api.linkedin.com".into())
    }
    fn x_www(&self) -> String {
        self.bases.x.clone().unwrap_or_else(|| "https://x.com".into())
    }
    fn x_api(&self) -> String {
        self.bases.x.clone().unwrap_or_else(|| "https://api.x.com".into())
    }
    fn facebook_www(&self) -> String {
        format!(
            "{}/{}",
            self.bases.meta.clone().unwrap_or_else(|| "https://www.facebook.com".into()),
            self.versions.graph
        )
    }
    fn graph(&self) -> String {
        format!(
            "{}/{}",
            self.bases.meta.clone().unwrap_or_else(|| "https://graph.facebook.com".into()),
            self.versions.graph
        )
    }

    async fn app(&self, platform: &str) -> Result<AppKeys, SocialError> {
        let (name, local, cloud) = match platform {
            "linkedin" => (
                SecretName::LinkedinApp,
                "CHIEF_LINKEDIN_CLIENT_ID and CHIEF_LINKEDIN_CLIENT_SECRET",
                "CHIEF_LINKEDIN_APP_SECRET_ID",
            ),
            "x" => (
                SecretName::XApp,
                "CHIEF_X_CLIENT_ID and CHIEF_X_CLIENT_SECRET",
                "CHIEF_X_APP_SECRET_ID",
            ),
            "facebook" | "instagram" => (
                SecretName::MetaApp,
                "CHIEF_META_APP_ID and CHIEF_META_APP_SECRET",
                "CHIEF_META_APP_SECRET_ID",
            ),
            other => return Err(SocialError::NotConnected(other.to_string())),
        };
        let text = match self.secrets.get(name).await {
            Ok(text) => text,
            Err(SecretsError::Missing(_)) => {
                return Err(SocialError::NotConfigured(format!(
                    "{platform} is not set up: set {local} (locally), or {cloud} to a secret {{\"clientId\", \"clientSecret\"}} (in the cloud)"
                )));
            }
            Err(SecretsError::Unavailable(e)) => return Err(SocialError::Unavailable(e)),
        };
        let value: Value = serde_json::from_str(&text).unwrap_or_default();
        match (value["clientId"].as_str(), value["clientSecret"].as_str()) {
            (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Ok(AppKeys {
                client_id: id.into(),
                client_secret: secret.into(),
            }),
            _ => Err(SocialError::NotConfigured(format!(
                "the {platform} app's secret is not {{\"clientId\", \"clientSecret\"}}"
            ))),
        }
    }

    /// Sends and reads the answer. A call that posts and got no answer is `Uncertain`: it may
    /// have reached the platform. One that could not connect never did.
    async fn send(&self, request: RequestBuilder, posting: bool) -> Result<Answer, SocialError> {
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) if posting && !e.is_connect() => return Err(SocialError::Uncertain(e.without_url().to_string())),
            Err(e) => return Err(SocialError::Unavailable(e.without_url().to_string())),
        };
        let status = response.status();
        let headers = response.headers().clone();
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) if posting => return Err(SocialError::Uncertain(e.without_url().to_string())),
            Err(e) => return Err(SocialError::Unavailable(e.without_url().to_string())),
        };
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Answer { status, headers, body })
    }

    /// A form-encoded POST.
    fn form_post(&self, url: String, form: &[(&str, &str)]) -> RequestBuilder {
        self.client()
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish())
    }

    fn token<'a>(channel: &'a Channel<'_>) -> Result<&'a str, SocialError> {
        channel
            .token
            .map(Secret::expose)
            .ok_or_else(|| SocialError::AuthRevoked("the account holds no token".into()))
    }

    fn grant(&self, body: &Value) -> Result<Grant, SocialError> {
        let access = body["access_token"]
            .as_str()
            .ok_or_else(|| SocialError::Invalid("the token answer holds no access_token".into()))?;
        let now = self.clock.now();
        let after = |field: &str| body[field].as_i64().map(|s| now + Duration::seconds(s));
        Ok(Grant {
            access_token: Secret::new(access),
            refresh_token: body["refresh_token"].as_str().map(Secret::new),
            expires_at: after("expires_in"),
            refresh_expires_at: after("refresh_token_expires_in"),
            scopes: body["scope"]
                .as_str()
                .map(|s| s.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_string).collect())
                .unwrap_or_default(),
        })
    }

    fn url(base: String, path: &str, query: &[(&str, &str)]) -> String {
        let mut url = format!("{base}{path}");
        if !query.is_empty() {
            url.push('?');
            url.push_str(&form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish());
        }
        url
    }
}

// ---------------------------------------------------------------- LinkedIn

/// LinkedIn's little text format: these characters are markup, and a commentary that holds
/// one unescaped is cut short silently.
pub fn linkedin_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\|{}@[]()<>#*_~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl HttpPlatforms {
    fn linkedin(&self, request: RequestBuilder, token: &str) -> RequestBuilder {
        request
            .bearer_auth(token)
            .header("LinkedIn-Version", &self.versions.linkedin)
            .header("X-Restli-Protocol-Version", "2.0.0")
    }

    fn linkedin_error(&self, answer: &Answer, posting: bool) -> SocialError {
        let message = answer.body["message"].as_str().unwrap_or("").to_string();
        let code = answer.body["serviceErrorCode"].as_i64();
        match answer.status.as_u16() {
            401 if matches!(code, Some(65600) | Some(65601)) || answer.status == StatusCode::UNAUTHORIZED => {
                SocialError::AuthRevoked(format!("LinkedIn: {message}"))
            }
            422 if message.contains("duplicate") || message.contains("DUPLICATE") => SocialError::Duplicate(format!("LinkedIn: {message}")),
            426 => SocialError::NotConfigured(format!(
                "LinkedIn no longer serves LinkedIn-Version {} (426): set CHIEF_LINKEDIN_VERSION to a current month",
                self.versions.linkedin
            )),
            // No reset is given: LinkedIn's daily quotas start again at midnight UTC.
            429 => SocialError::RateLimited {
                retry_at: (self.clock.now() + Duration::days(1))
                    .date_naive()
                    .and_hms_opt(0, 0, 5)
                    .map(|t| Utc.from_utc_datetime(&t))
                    .unwrap_or_else(|| self.clock.now() + Duration::hours(1)),
            },
            s if s >= 500 && posting => SocialError::Uncertain(format!("LinkedIn answered {s}")),
            s if s >= 500 => SocialError::Unavailable(format!("LinkedIn answered {s}")),
            s => SocialError::Invalid(format!("LinkedIn answered {s}: {message}")),
        }
    }

    async fn linkedin_publish(&self, channel: &Channel<'_>, post: &Outgoing<'_>) -> Result<Published, SocialError> {
        if !post.media_urls.is_empty() {
            return Err(SocialError::Invalid(
                "images on LinkedIn posts are not supported yet: remove the image or post it elsewhere".into(),
            ));
        }
        let body = json!({
            "author": channel.external_id,
            "commentary": linkedin_escape(post.text),
            "visibility": "PUBLIC",
            "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []},
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": false,
        });
        let request = self.linkedin(
            self.client().post(format!("{}/rest/posts", self.linkedin_api())),
            Self::token(channel)?,
        );
        let answer = self.send(request.json(&body), true).await?;
        if answer.status != StatusCode::CREATED {
            let error = self.linkedin_error(&answer, true);
            // A duplicate names the post it repeats: that post is this one.
            if let SocialError::Duplicate(why) = &error
                && let Some(urn) = why.split_whitespace().find(|w| w.starts_with("urn:li:"))
            {
                return Ok(self.linkedin_published(urn.trim_end_matches(['.', ','])));
            }
            return Err(error);
        }
        let urn = answer
            .headers
            .get("x-restli-id")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| SocialError::Uncertain("LinkedIn answered 201 without x-restli-id".into()))?;
        Ok(self.linkedin_published(urn))
    }

    /// LinkedIn's token endpoint, the app's id and secret in the form.
    async fn linkedin_token(&self, form: &[(&str, &str)]) -> Result<Answer, SocialError> {
        let keys = self.app("linkedin").await?;
        let mut form = form.to_vec();
        form.extend([
            ("client_id", keys.client_id.as_str()),
            ("client_secret", keys.client_secret.as_str()),
        ]);
        let request = self.form_post(format!("{}/oauth/v2/accessToken", self.linkedin_www()), &form);
        self.send(request, false).await
    }

    fn linkedin_published(&self, urn: &str) -> Published {
        Published {
            external_id: urn.to_string(),
            url: Some(format!("https://www.linkedin.com/feed/update/{urn}")),
            published_at: self.clock.now(),
        }
    }

    async fn linkedin_find(&self, channel: &Channel<'_>, text: &str) -> Result<Option<Published>, SocialError> {
        let url = Self::url(
            self.linkedin_api(),
            "/rest/posts",
            &[
                ("q", "author"),
                ("author", channel.external_id),
                ("count", "10"),
                ("sortBy", "LAST_MODIFIED"),
            ],
        );
        let answer = self
            .send(self.linkedin(self.client().get(url), Self::token(channel)?), false)
            .await?;
        if !answer.status.is_success() {
            return Err(self.linkedin_error(&answer, false));
        }
        let wanted = linkedin_escape(text);
        Ok(answer.body["elements"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["commentary"].as_str() == Some(wanted.as_str()) || p["commentary"].as_str() == Some(text))
            .and_then(|p| p["id"].as_str())
            .map(|urn| self.linkedin_published(urn)))
    }

    async fn linkedin_metrics(&self, channel: &Channel<'_>, post: &Published) -> Result<Option<Metrics>, SocialError> {
        let token = Self::token(channel)?;
        let mut figures = BTreeMap::new();
        if channel.external_id.starts_with("urn:li:organization:") {
            let list = if post.external_id.starts_with("urn:li:ugcPost:") {
                "ugcPosts"
            } else {
                "shares"
            };
            let encoded: String = form_urlencoded::byte_serialize(post.external_id.as_bytes()).collect();
            let organization: String = form_urlencoded::byte_serialize(channel.external_id.as_bytes()).collect();
            let url = format!(
                "{}/rest/organizationalEntityShareStatistics?q=organizationalEntity&organizationalEntity={organization}&{list}=List({encoded})",
                self.linkedin_api()
            );
            let answer = self.send(self.linkedin(self.client().get(url), token), false).await?;
            if !answer.status.is_success() {
                return Err(self.linkedin_error(&answer, false));
            }
            let Some(stats) = answer.body["elements"][0]["totalShareStatistics"].as_object() else {
                return Ok(None);
            };
            for (name, value) in stats {
                if let Some(n) = value.as_u64() {
                    figures.insert(name.clone(), n);
                }
            }
            return Ok(Some(metrics_from(
                "linkedin",
                figures,
                &["impressionCount"],
                &["likeCount"],
                &["commentCount"],
                &["shareCount"],
                &["clickCount"],
            )));
        }
        let entity: String = form_urlencoded::byte_serialize(post.external_id.as_bytes()).collect();
        for kind in ["IMPRESSION", "REACTION", "COMMENT", "RESHARE"] {
            let url = format!(
                "{}/rest/memberCreatorPostAnalytics?q=entity&entity=(share:{entity})&queryType={kind}&aggregation=TOTAL",
                self.linkedin_api()
            );
            let answer = self.send(self.linkedin(self.client().get(url), token), false).await?;
            if !answer.status.is_success() {
                return Err(self.linkedin_error(&answer, false));
            }
            if let Some(n) = answer.body["elements"][0]["count"].as_u64() {
                figures.insert(kind.to_string(), n);
            }
        }
        if figures.is_empty() {
            return Ok(None);
        }
        Ok(Some(metrics_from(
            "linkedin",
            figures,
            &["IMPRESSION"],
            &["REACTION"],
            &["COMMENT"],
            &["RESHARE"],
            &[],
        )))
    }

    async fn linkedin_identities(&self, grant: &Grant) -> Result<Vec<Identity>, SocialError> {
        let token = grant.access_token.expose();
        let me = self
            .send(
                self.client().get(format!("{}/v2/userinfo", self.linkedin_api())).bearer_auth(token),
                false,
            )
            .await?;
        if !me.status.is_success() {
            return Err(self.linkedin_error(&me, false));
        }
        let id = me.body["sub"]
            .as_str()
            .ok_or_else(|| SocialError::Invalid("LinkedIn's userinfo holds no sub".into()))?;
        let mut found = vec![Identity {
            platform: "linkedin".into(),
            external_id: format!("urn:li:person:{id}"),
            name: me.body["name"].as_str().unwrap_or("LinkedIn member").to_string(),
            kind: "member".into(),
            token: None,
        }];
        let url = Self::url(
            self.linkedin_api(),
            "/rest/organizationAcls",
            &[("q", "roleAssignee"), ("role", "ADMINISTRATOR"), ("state", "APPROVED")],
        );
        let acls = self.send(self.linkedin(self.client().get(url), token), false).await?;
        if acls.status.is_success() {
            for acl in acls.body["elements"].as_array().into_iter().flatten() {
                let Some(urn) = acl["organization"].as_str() else { continue };
                let number = urn.rsplit(':').next().unwrap_or_default();
                let org = self
                    .send(
                        self.linkedin(
                            self.client().get(format!("{}/rest/organizations/{number}", self.linkedin_api())),
                            token,
                        ),
                        false,
                    )
                    .await?;
                found.push(Identity {
                    platform: "linkedin".into(),
                    external_id: urn.to_string(),
                    name: org.body["localizedName"].as_str().unwrap_or(urn).to_string(),
                    kind: "organization".into(),
                    token: None,
                });
            }
        }
        Ok(found)
    }
}

// ---------------------------------------------------------------- X

/// X rewrites links (t.co) in what it stores: texts are compared without them.
fn without_links(text: &str) -> String {
    text.split_whitespace()
        .filter(|w| !w.starts_with("http"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl HttpPlatforms {
    fn x_error(&self, answer: &Answer, posting: bool) -> SocialError {
        let detail = answer.body["detail"]
            .as_str()
            .or(answer.body["title"].as_str())
            .or(answer.body["errors"][0]["message"].as_str())
            .unwrap_or("")
            .to_string();
        match answer.status.as_u16() {
            401 => SocialError::AuthRevoked(format!("X: {detail}")),
            403 if detail.to_lowercase().contains("duplicate") => SocialError::Duplicate(format!("X: {detail}")),
            429 => {
                let reset = answer
                    .headers
                    .get("x-rate-limit-reset")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i64>().ok())
                    .and_then(|s| Utc.timestamp_opt(s, 0).single());
                SocialError::RateLimited {
                    retry_at: reset.unwrap_or_else(|| self.clock.now() + Duration::minutes(15)),
                }
            }
            s if s >= 500 && posting => SocialError::Uncertain(format!("X answered {s}")),
            s if s >= 500 => SocialError::Unavailable(format!("X answered {s}")),
            s => SocialError::Invalid(format!("X answered {s}: {detail}")),
        }
    }

    fn x_published(&self, id: &str, at: DateTime<Utc>) -> Published {
        Published {
            external_id: id.to_string(),
            url: Some(format!("https://x.com/i/web/status/{id}")),
            published_at: at,
        }
    }

    async fn x_publish(&self, channel: &Channel<'_>, post: &Outgoing<'_>) -> Result<Published, SocialError> {
        if !post.media_urls.is_empty() {
            return Err(SocialError::Invalid(
                "images on X posts are not supported yet: remove the image".into(),
            ));
        }
        let request = self
            .client()
            .post(format!("{}/2/tweets", self.x_api()))
            .bearer_auth(Self::token(channel)?);
        // A thread's later part answers the part before it (`reply.in_reply_to_tweet_id`).
        let body = match post.reply_to {
            Some(previous) => json!({"text": post.text, "reply": {"in_reply_to_tweet_id": previous}}),
            None => json!({"text": post.text}),
        };
        let answer = self.send(request.json(&body), true).await?;
        if answer.status != StatusCode::CREATED && answer.status != StatusCode::OK {
            return Err(self.x_error(&answer, true));
        }
        let id = answer.body["data"]["id"]
            .as_str()
            .ok_or_else(|| SocialError::Uncertain("X answered without data.id".into()))?;
        Ok(self.x_published(id, self.clock.now()))
    }

    async fn x_find(&self, channel: &Channel<'_>, text: &str) -> Result<Option<Published>, SocialError> {
        let url = Self::url(
            self.x_api(),
            &format!("/2/users/{}/tweets", channel.external_id),
            &[("max_results", "10"), ("tweet.fields", "created_at")],
        );
        let answer = self.send(self.client().get(url).bearer_auth(Self::token(channel)?), false).await?;
        if !answer.status.is_success() {
            return Err(self.x_error(&answer, false));
        }
        let wanted = without_links(text);
        Ok(answer.body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["text"].as_str().map(without_links).as_deref() == Some(wanted.as_str()))
            .and_then(|t| {
                let at = t["created_at"]
                    .as_str()
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map_or_else(|| self.clock.now(), |d| d.with_timezone(&Utc));
                t["id"].as_str().map(|id| self.x_published(id, at))
            }))
    }

    async fn x_metrics(&self, channel: &Channel<'_>, post: &Published) -> Result<Option<Metrics>, SocialError> {
        let url = Self::url(
            self.x_api(),
            &format!("/2/tweets/{}", post.external_id),
            &[("tweet.fields", "public_metrics")],
        );
        let answer = self.send(self.client().get(url).bearer_auth(Self::token(channel)?), false).await?;
        if !answer.status.is_success() {
            return Err(self.x_error(&answer, false));
        }
        let Some(public) = answer.body["data"]["public_metrics"].as_object() else {
            return Ok(None);
        };
        let figures = public.iter().filter_map(|(k, v)| v.as_u64().map(|n| (k.clone(), n))).collect();
        Ok(Some(metrics_from(
            "x",
            figures,
            &["impression_count"],
            &["like_count"],
            &["reply_count"],
            &["retweet_count", "quote_count"],
            &[],
        )))
    }

    async fn x_token(&self, form: &[(&str, &str)]) -> Result<Grant, SocialError> {
        let keys = self.app("x").await?;
        let mut form = form.to_vec();
        form.push(("client_id", &keys.client_id));
        let request = self
            .form_post(format!("{}/2/oauth2/token", self.x_api()), &form)
            .basic_auth(&keys.client_id, Some(&keys.client_secret));
        let answer = self.send(request, false).await?;
        match answer.status.as_u16() {
            200 => self.grant(&answer.body),
            400 | 401 => Err(SocialError::AuthRevoked(format!(
                "X refused the grant: {}",
                answer.body["error_description"]
                    .as_str()
                    .or(answer.body["error"].as_str())
                    .unwrap_or("")
            ))),
            _ => Err(self.x_error(&answer, false)),
        }
    }
}

// ---------------------------------------------------------------- Facebook and Instagram

impl HttpPlatforms {
    fn meta_error(&self, answer: &Answer, posting: bool) -> SocialError {
        let error = &answer.body["error"];
        let message = error["message"].as_str().unwrap_or("").to_string();
        match error["code"].as_i64() {
            Some(190) => SocialError::AuthRevoked(format!("Meta: {message}")),
            Some(4 | 17 | 32 | 613) => {
                let minutes = error["error_data"]["estimated_time_to_regain_access"].as_i64().unwrap_or(60);
                SocialError::RateLimited {
                    retry_at: self.clock.now() + Duration::minutes(minutes.clamp(1, 24 * 60)),
                }
            }
            Some(506) => SocialError::Duplicate(format!("Meta: {message}")),
            Some(1 | 2) if posting => SocialError::Uncertain(format!("Meta: {message}")),
            Some(1 | 2) => SocialError::Unavailable(format!("Meta: {message}")),
            Some(code) => SocialError::Invalid(format!("Meta ({code}): {message}")),
            None if answer.status.is_server_error() && posting => SocialError::Uncertain(format!("Meta answered {}", answer.status)),
            None => SocialError::Unavailable(format!("Meta answered {}", answer.status)),
        }
    }

    async fn graph_get(&self, path: &str, token: &str, query: &[(&str, &str)]) -> Result<Value, SocialError> {
        let mut query = query.to_vec();
        query.push(("access_token", token));
        let answer = self.send(self.client().get(Self::url(self.graph(), path, &query)), false).await?;
        if !answer.status.is_success() {
            return Err(self.meta_error(&answer, false));
        }
        Ok(answer.body)
    }

    async fn graph_post(&self, path: &str, token: &str, form: &[(&str, &str)]) -> Result<Value, SocialError> {
        let mut form = form.to_vec();
        form.push(("access_token", token));
        let request = self.form_post(format!("{}{path}", self.graph()), &form);
        let answer = self.send(request, true).await?;
        if !answer.status.is_success() {
            return Err(self.meta_error(&answer, true));
        }
        Ok(answer.body)
    }

    async fn facebook_publish(&self, channel: &Channel<'_>, post: &Outgoing<'_>) -> Result<Published, SocialError> {
        let token = Self::token(channel)?;
        let page = channel.external_id;
        let answer = match post.media_urls.first() {
            Some(image) => {
                self.graph_post(&format!("/{page}/photos"), token, &[("url", image), ("caption", post.text)])
                    .await?
            }
            None => self.graph_post(&format!("/{page}/feed"), token, &[("message", post.text)]).await?,
        };
        let id = answer["post_id"]
            .as_str()
            .or(answer["id"].as_str())
            .ok_or_else(|| SocialError::Uncertain("Facebook answered without an id".into()))?
            .to_string();
        let mut published = self.meta_published(id, token, "permalink_url").await;
        if published.url.is_none() {
            published.url = Some(format!("https://www.facebook.com/{}", published.external_id));
        }
        Ok(published)
    }

    async fn facebook_find(&self, channel: &Channel<'_>, text: &str) -> Result<Option<Published>, SocialError> {
        self.meta_find(channel, "feed", ["message", "permalink_url", "created_time"], text)
            .await
    }

    /// The account's latest ten posts on `edge` (a Page's `feed`, an Instagram account's
    /// `media`), the one whose text (its `fields[0]`) is `text`; `fields[1]` is its link and
    /// `fields[2]` its time.
    async fn meta_find(&self, channel: &Channel<'_>, edge: &str, fields: [&str; 3], text: &str) -> Result<Option<Published>, SocialError> {
        let [text_field, link_field, time_field] = fields;
        let asked = format!("id,{text_field},{link_field},{time_field}");
        let found = self
            .graph_get(
                &format!("/{}/{edge}", channel.external_id),
                Self::token(channel)?,
                &[("fields", asked.as_str()), ("limit", "10")],
            )
            .await?;
        Ok(found["data"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p[text_field].as_str() == Some(text))
            .and_then(|p| {
                Some(Published {
                    external_id: p["id"].as_str()?.to_string(),
                    url: p[link_field].as_str().map(str::to_string),
                    published_at: meta_time(p[time_field].as_str()).unwrap_or_else(|| self.clock.now()),
                })
            }))
    }

    /// A post just made, with its link asked for (`field`): the post stands without it.
    async fn meta_published(&self, id: String, token: &str, field: &str) -> Published {
        let url = self
            .graph_get(&format!("/{id}"), token, &[("fields", field)])
            .await
            .ok()
            .and_then(|v| v[field].as_str().map(str::to_string));
        Published {
            external_id: id,
            url,
            published_at: self.clock.now(),
        }
    }

    async fn insights(&self, channel: &Channel<'_>, id: &str, metrics: &str) -> Result<BTreeMap<String, u64>, SocialError> {
        let answer = self
            .graph_get(&format!("/{id}/insights"), Self::token(channel)?, &[("metric", metrics)])
            .await?;
        let mut figures = BTreeMap::new();
        for metric in answer["data"].as_array().into_iter().flatten() {
            let Some(name) = metric["name"].as_str() else { continue };
            let value = &metric["values"][0]["value"];
            // Reactions by type come as an object: their sum.
            let n = value
                .as_u64()
                .or_else(|| value.as_object().map(|o| o.values().filter_map(Value::as_u64).sum()))
                .or(metric["total_value"]["value"].as_u64());
            if let Some(n) = n {
                figures.insert(name.to_string(), n);
            }
        }
        Ok(figures)
    }

    async fn instagram_publish(&self, channel: &Channel<'_>, post: &Outgoing<'_>) -> Result<Published, SocialError> {
        let token = Self::token(channel)?;
        let ig = channel.external_id;
        let Some(image) = post.media_urls.first() else {
            return Err(SocialError::Invalid("Instagram posts only with an image".into()));
        };
        let limit = self
            .graph_get(
                &format!("/{ig}/content_publishing_limit"),
                token,
                &[("fields", "config,quota_usage")],
            )
            .await?;
        let used = limit["data"][0]["quota_usage"].as_u64().unwrap_or(0);
        let total = limit["data"][0]["config"]["quota_total"].as_u64().unwrap_or(u64::MAX);
        if used >= total {
            return Err(SocialError::RateLimited {
                retry_at: self.clock.now() + Duration::hours(1),
            });
        }
        // Making a container posts nothing: a failure here is not uncertain.
        let container = match self
            .graph_post(&format!("/{ig}/media"), token, &[("image_url", image), ("caption", post.text)])
            .await
        {
            Err(SocialError::Uncertain(why)) => return Err(SocialError::Unavailable(why)),
            other => other?,
        };
        let container = container["id"]
            .as_str()
            .ok_or_else(|| SocialError::Unavailable("Instagram answered without a container id".into()))?
            .to_string();
        let mut ready = false;
        for check in 0..CONTAINER_CHECKS {
            let state = self
                .graph_get(&format!("/{container}"), token, &[("fields", "status_code")])
                .await?;
            match state["status_code"].as_str().unwrap_or("") {
                "FINISHED" => {
                    ready = true;
                    break;
                }
                "PUBLISHED" => {
                    return match self.instagram_find(channel, post.text).await? {
                        Some(found) => Ok(found),
                        None => Err(SocialError::Uncertain(
                            "the container is published; its media is not listed yet".into(),
                        )),
                    };
                }
                "ERROR" => return Err(SocialError::Invalid("Instagram could not process the image".into())),
                "EXPIRED" => return Err(SocialError::Unavailable("the container expired before it was published".into())),
                _ if check + 1 < CONTAINER_CHECKS => tokio::time::sleep(self.container_wait).await,
                _ => {}
            }
        }
        if !ready {
            return Err(SocialError::Unavailable("Instagram is still processing the image".into()));
        }
        let media = self
            .graph_post(&format!("/{ig}/media_publish"), token, &[("creation_id", &container)])
            .await?;
        let id = media["id"]
            .as_str()
            .ok_or_else(|| SocialError::Uncertain("Instagram answered without a media id".into()))?
            .to_string();
        Ok(self.meta_published(id, token, "permalink").await)
    }

    async fn instagram_find(&self, channel: &Channel<'_>, text: &str) -> Result<Option<Published>, SocialError> {
        self.meta_find(channel, "media", ["caption", "permalink", "timestamp"], text).await
    }

    async fn meta_token(&self, query: &[(&str, &str)]) -> Result<Value, SocialError> {
        let keys = self.app("facebook").await?;
        let mut query = query.to_vec();
        query.push(("client_id", &keys.client_id));
        query.push(("client_secret", &keys.client_secret));
        let answer = self
            .send(self.client().get(Self::url(self.graph(), "/oauth/access_token", &query)), false)
            .await?;
        if !answer.status.is_success() {
            return Err(self.meta_error(&answer, false));
        }
        Ok(answer.body)
    }
}

/// Meta writes times as `2026-11-27T10:00:00+0000`.
fn meta_time(text: Option<&str>) -> Option<DateTime<Utc>> {
    let text = text?;
    DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%z")
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Our five figures from the platform's own, named as the platform names them.
fn metrics_from(
    source: &str,
    figures: BTreeMap<String, u64>,
    impressions: &[&str],
    reactions: &[&str],
    comments: &[&str],
    shares: &[&str],
    clicks: &[&str],
) -> Metrics {
    let sum = |names: &[&str]| names.iter().filter_map(|n| figures.get(*n)).sum();
    Metrics {
        impressions: sum(impressions),
        reactions: sum(reactions),
        comments: sum(comments),
        shares: sum(shares),
        clicks: sum(clicks),
        source: source.to_string(),
        platform_metrics: figures,
    }
}

#[async_trait]
impl Social for HttpPlatforms {
    async fn publish(&self, channel: &Channel<'_>, post: &Outgoing<'_>) -> Result<Published, SocialError> {
        if post.reply_to.is_some() && !matches!(channel.platform, SANDBOX_PLATFORM | "x") {
            return Err(SocialError::Invalid(format!(
                "{} takes no threads: only X posts reply to one another here",
                channel.platform
            )));
        }
        match channel.platform {
            SANDBOX_PLATFORM => self.sandbox.publish(channel, post).await,
            "linkedin" => self.linkedin_publish(channel, post).await,
            "x" => self.x_publish(channel, post).await,
            "facebook" => self.facebook_publish(channel, post).await,
            "instagram" => self.instagram_publish(channel, post).await,
            other => Err(SocialError::NotConnected(other.to_string())),
        }
    }

    async fn find_recent(&self, channel: &Channel<'_>, key: &str, text: &str) -> Result<Option<Published>, SocialError> {
        match channel.platform {
            SANDBOX_PLATFORM => self.sandbox.find_recent(channel, key, text).await,
            "linkedin" => self.linkedin_find(channel, text).await,
            "x" => self.x_find(channel, text).await,
            "facebook" => self.facebook_find(channel, text).await,
            "instagram" => self.instagram_find(channel, text).await,
            other => Err(SocialError::NotConnected(other.to_string())),
        }
    }

    async fn metrics(&self, channel: &Channel<'_>, post: &Published) -> Result<Option<Metrics>, SocialError> {
        match channel.platform {
            SANDBOX_PLATFORM => self.sandbox.metrics(channel, post).await,
            "linkedin" => self.linkedin_metrics(channel, post).await,
            "x" => self.x_metrics(channel, post).await,
            "facebook" => {
                let figures = self
                    .insights(
                        channel,
                        &post.external_id,
                        "post_total_media_view_unique,post_reactions_by_type_total,post_clicks",
                    )
                    .await?;
                Ok((!figures.is_empty()).then(|| {
                    metrics_from(
                        "facebook",
                        figures,
                        &["post_total_media_view_unique"],
                        &["post_reactions_by_type_total"],
                        &[],
                        &[],
                        &["post_clicks"],
                    )
                }))
            }
            "instagram" => {
                let figures = self
                    .insights(
                        channel,
                        &post.external_id,
                        "views,reach,likes,comments,shares,saved,total_interactions",
                    )
                    .await?;
                Ok((!figures.is_empty())
                    .then(|| metrics_from("instagram", figures, &["views"], &["likes"], &["comments"], &["shares"], &[])))
            }
            other => Err(SocialError::NotConnected(other.to_string())),
        }
    }

    async fn authorization_url(&self, platform: &str, request: &AuthorizeRequest<'_>) -> Result<String, SocialError> {
        let keys = self.app(platform).await?;
        let mut query = vec![
            ("response_type", "code"),
            ("client_id", keys.client_id.as_str()),
            ("redirect_uri", request.redirect_uri),
            ("state", request.state),
        ];
        if let Some(challenge) = request.code_challenge {
            query.extend([("code_challenge", challenge), ("code_challenge_method", "S256")]);
        }
        Ok(match platform {
            "linkedin" => {
                query.push(("scope", "openid profile w_member_social w_organization_social r_organization_social rw_organization_admin r_member_postAnalytics"));
                Self::url(self.linkedin_www(), "/oauth/v2/authorization", &query)
            }
            "x" => {
                query.push(("scope", "tweet.read tweet.write users.read offline.access"));
                Self::url(self.x_www(), "/i/oauth2/authorize", &query)
            }
            "facebook" => {
                query.push(("scope", "pages_manage_posts,pages_read_engagement,pages_show_list,read_insights"));
                Self::url(self.facebook_www(), "/dialog/oauth", &query)
            }
            "instagram" => {
                query.push((
                    "scope",
                    "instagram_basic,instagram_content_publish,instagram_manage_insights,pages_read_engagement,pages_show_list",
                ));
                Self::url(self.facebook_www(), "/dialog/oauth", &query)
            }
            other => return Err(SocialError::NotConnected(other.to_string())),
        })
    }

    async fn exchange_code(&self, platform: &str, code: &str, verifier: Option<&Secret>, redirect_uri: &str) -> Result<Grant, SocialError> {
        match platform {
            "linkedin" => {
                let answer = self
                    .linkedin_token(&[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect_uri)])
                    .await?;
                if !answer.status.is_success() {
                    return Err(SocialError::Invalid(format!("LinkedIn refused the code ({})", answer.status)));
                }
                self.grant(&answer.body)
            }
            "x" => {
                let verifier = verifier.ok_or_else(|| SocialError::Invalid("X needs the PKCE verifier".into()))?;
                self.x_token(&[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", redirect_uri),
                    ("code_verifier", verifier.expose()),
                ])
                .await
            }
            "facebook" | "instagram" => {
                let short = self.meta_token(&[("redirect_uri", redirect_uri), ("code", code)]).await?;
                let short = short["access_token"]
                    .as_str()
                    .ok_or_else(|| SocialError::Invalid("Meta's token answer holds no access_token".into()))?;
                let long = self
                    .meta_token(&[("grant_type", "fb_exchange_token"), ("fb_exchange_token", short)])
                    .await?;
                let user = self.grant(&long)?;
                // The Pages' own tokens, taken from this long-lived user token, do not expire;
                // the user's grant does (about 60 days): it is when the connection ends.
                Ok(Grant {
                    expires_at: None,
                    refresh_expires_at: Some(user.expires_at.unwrap_or_else(|| self.clock.now() + Duration::days(60))),
                    ..user
                })
            }
            other => Err(SocialError::NotConnected(other.to_string())),
        }
    }

    async fn identities(&self, platform: &str, grant: &Grant) -> Result<Vec<Identity>, SocialError> {
        match platform {
            "linkedin" => self.linkedin_identities(grant).await,
            "x" => {
                let answer = self
                    .send(
                        self.client()
                            .get(format!("{}/2/users/me", self.x_api()))
                            .bearer_auth(grant.access_token.expose()),
                        false,
                    )
                    .await?;
                if !answer.status.is_success() {
                    return Err(self.x_error(&answer, false));
                }
                let user = &answer.body["data"];
                let id = user["id"]
                    .as_str()
                    .ok_or_else(|| SocialError::Invalid("X's user holds no id".into()))?;
                Ok(vec![Identity {
                    platform: "x".into(),
                    external_id: id.to_string(),
                    name: user["username"].as_str().map_or_else(|| "X user".into(), |u| format!("@{u}")),
                    kind: "user".into(),
                    token: None,
                }])
            }
            "facebook" | "instagram" => {
                let pages = self
                    .graph_get(
                        "/me/accounts",
                        grant.access_token.expose(),
                        &[("fields", "id,name,access_token,instagram_business_account{id,username}")],
                    )
                    .await?;
                let mut found = Vec::new();
                for page in pages["data"].as_array().into_iter().flatten() {
                    let (Some(id), Some(token)) = (page["id"].as_str(), page["access_token"].as_str()) else {
                        continue;
                    };
                    found.push(Identity {
                        platform: "facebook".into(),
                        external_id: id.to_string(),
                        name: page["name"].as_str().unwrap_or(id).to_string(),
                        kind: "page".into(),
                        token: Some(Secret::new(token)),
                    });
                    if let Some(ig) = page["instagram_business_account"]["id"].as_str() {
                        found.push(Identity {
                            platform: "instagram".into(),
                            external_id: ig.to_string(),
                            name: page["instagram_business_account"]["username"]
                                .as_str()
                                .map_or_else(|| ig.to_string(), |u| format!("@{u}")),
                            kind: "instagram_business".into(),
                            token: Some(Secret::new(token)),
                        });
                    }
                }
                Ok(found)
            }
            other => Err(SocialError::NotConnected(other.to_string())),
        }
    }

    async fn refresh(&self, platform: &str, grant: &Grant) -> Result<Grant, SocialError> {
        let refresh = grant
            .refresh_token
            .as_ref()
            .ok_or_else(|| SocialError::AuthRevoked("no refresh token".into()))?;
        match platform {
            "x" => {
                self.x_token(&[("grant_type", "refresh_token"), ("refresh_token", refresh.expose())])
                    .await
            }
            "linkedin" => {
                let answer = self
                    .linkedin_token(&[("grant_type", "refresh_token"), ("refresh_token", refresh.expose())])
                    .await?;
                match answer.status.as_u16() {
                    200 => self.grant(&answer.body),
                    400 | 401 => Err(SocialError::AuthRevoked("LinkedIn refused the refresh token".into())),
                    _ => Err(self.linkedin_error(&answer, false)),
                }
            }
            other => Err(SocialError::AuthRevoked(format!("{other} tokens are not refreshed"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linkedin_markup_is_escaped_so_the_text_is_not_cut_short() {
        assert_eq!(linkedin_escape("Hi (all) @team #news_1"), "Hi \\(all\\) \\@team \\#news\\_1");
        assert_eq!(linkedin_escape("plain text."), "plain text.");
    }

    #[test]
    fn x_texts_match_without_their_rewritten_links() {
        assert_eq!(
            without_links("Read https://t.co/abc now"),
            without_links("Read https://example.com/x now")
        );
    }

    #[test]
    fn meta_times_read_with_their_offset() {
        let at = meta_time(Some("2026-11-27T10:00:00+0000")).unwrap();
        assert_eq!(at.to_rfc3339(), "2026-11-27T10:00:00+00:00");
    }
}
