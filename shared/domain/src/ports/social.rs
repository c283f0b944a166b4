//! The Social port: what the publishing pipeline asks of a platform through one of an org's
//! accounts: publish, find a recent post by its text (after an answer that never came),
//! fetch a post's figures; and what connecting an account asks: where to send the user,
//! the code's exchange for tokens, the identities those tokens may post as, a refresh.
//! The `sandbox` platform (`content::sandbox`) answers in the store and can be told to fail
//! in each way a real platform does; the real platforms are `chief_adapters::social_http`.

use crate::ids::{AccountId, OrgId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The platform of accounts that publish nowhere (the `sandbox` adapter).
pub const SANDBOX_PLATFORM: &str = "sandbox";

/// A token or verifier: shown by no `Debug`, `Display` or serialisation, so it cannot reach
/// a log line, an answer or an event by accident; `expose` is the one way to its text.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// The account a call goes through.
#[derive(Debug, Clone)]
pub struct Channel<'a> {
    pub org_id: &'a OrgId,
    pub account_id: &'a AccountId,
    /// The account's platform (`sandbox`, or a real one).
    pub platform: &'a str,
    /// The platform's own id of the account (a page, a member, a user).
    pub external_id: &'a str,
    /// The access token it posts with (none for the sandbox).
    pub token: Option<&'a Secret>,
}

/// What a platform granted: tokens and when they end.
#[derive(Debug, Clone)]
pub struct Grant {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    pub expires_at: Option<DateTime<Utc>>,
    pub refresh_expires_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
}

/// One identity a grant may post as: a LinkedIn member or Page, an X user, a Facebook Page,
/// an Instagram Business account.
#[derive(Debug, Clone)]
pub struct Identity {
    /// `linkedin`, `x`, `facebook` or `instagram`.
    pub platform: String,
    /// The platform's id of it (a URN for LinkedIn).
    pub external_id: String,
    pub name: String,
    /// `member`, `organization`, `user`, `page` or `instagram_business`.
    pub kind: String,
    /// Its own token where it has one (a Facebook Page's), else the grant's.
    pub token: Option<Secret>,
}

/// Where to send the user to grant access.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest<'a> {
    pub state: &'a str,
    /// PKCE S256 challenge, where the platform takes one.
    pub code_challenge: Option<&'a str>,
    pub redirect_uri: &'a str,
}

/// A post as it goes out.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// The platform whose rules the post was written to (`x`, `linkedin`, …).
    pub platform: &'a str,
    /// The text with its hashtags, as it will read.
    pub text: &'a str,
    pub media_urls: &'a [String],
    /// Ours, unique per (post, account, part): the platforms have none, the sandbox honours it.
    pub idempotency_key: &'a str,
    /// The platform's id of the post this one replies to: the part before it in an X thread.
    pub reply_to: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Published {
    /// The platform's id of the post.
    pub external_id: String,
    pub url: Option<String>,
    #[serde(with = "crate::clock::rfc3339")]
    pub published_at: DateTime<Utc>,
}

/// A post's figures: ours, and the platform's own names for them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    pub impressions: u64,
    pub reactions: u64,
    pub comments: u64,
    pub shares: u64,
    pub clicks: u64,
    /// What the platform called each figure, as it answered (`{"like_count": 3}`).
    pub platform_metrics: std::collections::BTreeMap<String, u64>,
    /// Who measured: the platform's name, with `sandbox` figures labelled as made up.
    pub source: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SocialError {
    /// Not posted; try again at `retry_at`.
    #[error("the platform is rate limiting until {retry_at}")]
    RateLimited { retry_at: DateTime<Utc> },
    /// The call may have reached the platform and no answer came: whether the post exists
    /// is unknown until `find_recent` says.
    #[error("no answer from the platform: {0}")]
    Uncertain(String),
    /// The account's authorisation is gone: it must be connected again.
    #[error("the platform revoked the account's authorisation: {0}")]
    AuthRevoked(String),
    /// The platform says this post exists already.
    #[error("the platform refused a duplicate: {0}")]
    Duplicate(String),
    /// The platform refused the post itself; trying again changes nothing.
    #[error("the platform refused the post: {0}")]
    Invalid(String),
    /// The call did not reach the platform (or it answered that it failed): try again.
    #[error("the platform is unavailable: {0}")]
    Unavailable(String),
    /// No adapter serves this platform here.
    #[error("platform {0} is not connected")]
    NotConnected(String),
    /// The platform's app is not set up here: the text names what to set.
    #[error("{0}")]
    NotConfigured(String),
}

fn no_oauth(platform: &str) -> SocialError {
    SocialError::NotConnected(format!("{platform} connects without OAuth here"))
}

#[async_trait]
pub trait Social: Send + Sync {
    async fn publish(&self, channel: &Channel<'_>, post: &Outgoing<'_>) -> Result<Published, SocialError>;
    /// The account's post with this key or text, published lately, if there is one.
    async fn find_recent(&self, channel: &Channel<'_>, idempotency_key: &str, text: &str) -> Result<Option<Published>, SocialError>;
    /// A published post's figures now; `None` while the platform has none to give (an empty
    /// answer is "not available", never zeros).
    async fn metrics(&self, channel: &Channel<'_>, post: &Published) -> Result<Option<Metrics>, SocialError>;

    /// The platform's consent page for this request.
    async fn authorization_url(&self, platform: &str, _request: &AuthorizeRequest<'_>) -> Result<String, SocialError> {
        Err(no_oauth(platform))
    }
    /// The authorization code's exchange for tokens.
    async fn exchange_code(
        &self,
        platform: &str,
        _code: &str,
        _verifier: Option<&Secret>,
        _redirect_uri: &str,
    ) -> Result<Grant, SocialError> {
        Err(no_oauth(platform))
    }
    /// Whom the grant may post as.
    async fn identities(&self, platform: &str, _grant: &Grant) -> Result<Vec<Identity>, SocialError> {
        Err(no_oauth(platform))
    }
    /// A fresh grant from the refresh token (or the long-lived token, where the platform
    /// exchanges that instead); `AuthRevoked` when the platform refuses it.
    async fn refresh(&self, platform: &str, _grant: &Grant) -> Result<Grant, SocialError> {
        Err(no_oauth(platform))
    }
}
