//! Connecting real social accounts by OAuth 2.0: `connect` makes a single-use `state` (256
//! random bits, stored only as its SHA-256, bound to the org, the admin and the platform, 10
//! minutes) and, for X, a PKCE S256 verifier (sealed beside it); the platform sends the user
//! back to `callback`, which consumes the state, exchanges the code, reads whom the grant may
//! post as and stores one account per identity, its tokens sealed (`content::credentials`).
//! Reconnecting an account the org has renews its tokens and resumes its paused posts.

pub mod http;
pub mod refresh;

use crate::app::App;
use crate::content::accounts::{self, AccountHealth, SocialAccount};
use crate::content::credentials::{self, Vault};
use crate::content::posts::{Post, PostStatus};
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, OrgId, UserId};
use crate::keys;
use crate::model::{from_item, sha256_hex, to_item};
use crate::platforms::Platform;
use crate::ports::social::{AuthorizeRequest, Grant, Identity, Secret, SocialError};
use crate::ports::table::{Condition, Key, Query, TableError, TxOp, query_all};
use crate::tenancy::{Role, TenantCtx};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// How long a connection may take from `connect` to the callback.
pub const STATE_MINUTES: i64 = 10;
/// A paused post whose time passed less than this long ago goes out at once on reconnection;
/// an older one waits for a new time.
pub const RESUME_GRACE_MINUTES: i64 = 60;

/// The platforms that connect by OAuth.
pub const OAUTH_PLATFORMS: [Platform; 4] = [Platform::Linkedin, Platform::X, Platform::Facebook, Platform::Instagram];

pub fn oauth_platform(name: &str) -> AppResult<Platform> {
    OAUTH_PLATFORMS
        .into_iter()
        .find(|p| p.as_str() == name)
        .ok_or_else(|| AppError::validation("platform must be one of linkedin, x, facebook, instagram"))
}

/// Whether the platform takes PKCE from a web app: X requires it; LinkedIn offers it to
/// native apps only and Meta only in a flow it calls still in testing.
pub fn uses_pkce(platform: Platform) -> bool {
    platform == Platform::X
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// Where to send the user's browser.
    pub authorization_url: String,
    pub state: String,
}

/// A connection under way, found by its state's hash.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PendingConnection {
    org_id: OrgId,
    user_id: UserId,
    platform: Platform,
    /// The PKCE verifier, sealed with the state's hash as its context.
    verifier: Option<String>,
    #[serde(with = "crate::clock::rfc3339")]
    expires_at: DateTime<Utc>,
}

fn random_token() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

fn state_key(state: &str) -> Key {
    Key::new(keys::oauth_state_pk(&sha256_hex(state.as_bytes())), keys::CLAIM_SK)
}

/// The OAuth callback's address, which each platform's app lists as its redirect URI.
pub fn redirect_uri(app: &App, platform: Platform) -> String {
    format!(
        "{}/v1/social/callback/{}",
        app.settings.api_url.trim_end_matches('/'),
        platform.as_str()
    )
}

fn platform_error(e: SocialError) -> AppError {
    match e {
        SocialError::NotConfigured(message) => AppError::Disabled {
            code: "PLATFORM_NOT_CONFIGURED",
            message,
        },
        other => AppError::unavailable("the platform", other),
    }
}

/// Starts a connection (admin): the consent page's address and its state.
pub async fn connect(app: &App, tenant: &TenantCtx, platform: Platform) -> AppResult<Connection> {
    tenant.require(Role::Admin)?;
    let vault = Vault::open(app).await?;
    let state = random_token();
    let verifier = uses_pkce(platform).then(random_token);
    let challenge = verifier
        .as_ref()
        .map(|v| URL_SAFE_NO_PAD.encode(<sha2::Sha256 as sha2::Digest>::digest(v.as_bytes())));
    let redirect = redirect_uri(app, platform);
    let authorization_url = app
        .social
        .authorization_url(
            platform.as_str(),
            &AuthorizeRequest {
                state: &state,
                code_challenge: challenge.as_deref(),
                redirect_uri: &redirect,
            },
        )
        .await
        .map_err(platform_error)?;
    let key = state_key(&state);
    let now = app.clock.now();
    let pending = PendingConnection {
        org_id: tenant.org_id().clone(),
        user_id: tenant.user_id().clone(),
        platform,
        verifier: verifier.map(|v| vault.seal(&key.pk, &Secret::new(v))).transpose()?,
        expires_at: now + Duration::minutes(STATE_MINUTES),
    };
    let mut item = to_item(&key.pk, &key.sk, &pending)?;
    item.insert("ttl".into(), (pending.expires_at.timestamp() + 3600).into());
    app.table.put(item, Some(Condition::NotExists)).await?;
    Ok(Connection { authorization_url, state })
}

/// What the platform sent back to the callback.
#[derive(Debug, Default)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    /// The platform's `error` (the user said no).
    pub error: Option<String>,
}

/// Why a connection did not happen, as the web app is told (`?error=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    InvalidState,
    Denied,
    ExchangeFailed,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::InvalidState => "invalid_state",
            Refusal::Denied => "denied",
            Refusal::ExchangeFailed => "exchange_failed",
        }
    }
}

/// Where the callback sends the browser: the web app's social page of the org, told what
/// happened. A state that is unknown, spent, expired or for another platform changes
/// nothing and names no org.
pub async fn callback(app: &App, platform: &str, input: Callback) -> AppResult<String> {
    let base = app.settings.app_url.trim_end_matches('/');
    let refused_plainly = |why: Refusal| Ok(format!("{base}/social?error={}", why.as_str()));
    let (Ok(platform), Some(state)) = (oauth_platform(platform), input.state.as_deref()) else {
        return refused_plainly(Refusal::InvalidState);
    };
    if state.len() > 200 {
        return refused_plainly(Refusal::InvalidState);
    }
    let key = state_key(state);
    let Some(item) = app.table.get(&key).await? else {
        return refused_plainly(Refusal::InvalidState);
    };
    let pending: PendingConnection = from_item(item)?;
    let now = app.clock.now();
    if pending.platform != platform || pending.expires_at <= now {
        return refused_plainly(Refusal::InvalidState);
    }
    // Consumed before anything else: of two callbacks with one state, one goes on.
    match app.table.delete(&key, Some(Condition::Exists)).await {
        Ok(()) => {}
        Err(TableError::ConditionFailed { .. }) => return refused_plainly(Refusal::InvalidState),
        Err(e) => return Err(e.into()),
    }
    let org_page = format!("{base}/orgs/{}/social", pending.org_id);
    let refused = |why: Refusal| Ok(format!("{org_page}?error={}", why.as_str()));
    // The admin who started it must still be one.
    let Ok(tenant) = crate::tenancy::authorize_member(app, &pending.org_id, &pending.user_id, Role::Admin).await else {
        return refused(Refusal::InvalidState);
    };
    if input.error.is_some() {
        return refused(Refusal::Denied);
    }
    let Some(code) = input.code.as_deref().filter(|c| !c.is_empty() && c.len() <= 2_000) else {
        return refused(Refusal::Denied);
    };
    let vault = Vault::open(app).await?;
    let verifier = pending.verifier.as_deref().map(|v| vault.unseal(&key.pk, v)).transpose()?;
    let redirect = redirect_uri(app, platform);
    let grant = match app
        .social
        .exchange_code(platform.as_str(), code, verifier.as_ref(), &redirect)
        .await
    {
        Ok(grant) => grant,
        Err(e) => {
            tracing::warn!(platform = platform.as_str(), error = %e, "the code was not exchanged");
            return refused(Refusal::ExchangeFailed);
        }
    };
    let identities = match app.social.identities(platform.as_str(), &grant).await {
        Ok(found) => found.into_iter().filter(|i| i.platform == platform.as_str()).collect::<Vec<_>>(),
        Err(e) => {
            tracing::warn!(platform = platform.as_str(), error = %e, "the grant's identities were not read");
            return refused(Refusal::ExchangeFailed);
        }
    };
    if identities.is_empty() {
        tracing::warn!(platform = platform.as_str(), "the grant may post as no one");
        return refused(Refusal::ExchangeFailed);
    }
    let connected = store_identities(app, &vault, &tenant, &grant, identities).await?;
    tracing::info!(platform = platform.as_str(), accounts = connected, "accounts connected");
    Ok(format!("{org_page}?connected={}", platform.as_str()))
}

/// One account per identity: a new one, or the org's existing one renewed (its tokens
/// replaced, its health back to ok, its paused posts resumed). Answers how many.
async fn store_identities(app: &App, vault: &Vault, tenant: &TenantCtx, grant: &Grant, identities: Vec<Identity>) -> AppResult<usize> {
    let existing = accounts::list(app, tenant).await?;
    let now = app.clock.now();
    let mut count = existing.len();
    let mut stored = 0;
    for identity in identities {
        let own = Grant {
            access_token: identity.token.clone().unwrap_or_else(|| grant.access_token.clone()),
            ..grant.clone()
        };
        let ends = own.refresh_expires_at.or(own.expires_at);
        let found = existing
            .iter()
            .find(|a| a.platform == identity.platform && a.external_id == identity.external_id);
        let (account, read) = match found {
            Some(account) => {
                let read = account.version;
                let mut account = account.clone();
                account.name = identity.name.clone();
                account.health = AccountHealth::Ok;
                account.authorization_ends_at = ends;
                account.updated_at = now;
                account.version += 1;
                (account, read)
            }
            None => {
                if count >= accounts::MAX_ACCOUNTS {
                    tracing::warn!("the org holds as many social accounts as allowed; an identity was not added");
                    continue;
                }
                count += 1;
                let account = SocialAccount {
                    id: AccountId::generate(),
                    platform: identity.platform.clone(),
                    name: identity.name.clone(),
                    external_id: identity.external_id.clone(),
                    kind: Some(identity.kind.clone()),
                    health: AccountHealth::Ok,
                    authorization_ends_at: ends,
                    connected_by: tenant.user_id().clone(),
                    created_at: now,
                    updated_at: now,
                    version: 1,
                };
                (account, 0)
            }
        };
        let tokens_version = match credentials::read(app, tenant, &account.id).await? {
            Some(item) => credentials::held_from(vault, tenant, &account.id, item).map_or(0, |h| h.version),
            None => 0,
        };
        let ops = vec![
            TxOp::Put {
                item: account.to_item(tenant)?,
                condition: Some(if read == 0 {
                    Condition::NotExists
                } else {
                    Condition::VersionEquals(read)
                }),
            },
            TxOp::Put {
                item: credentials::tokens_item(vault, tenant, &account.id, &own, tokens_version + 1)?,
                condition: None,
            },
            crate::audit::entry(
                tenant,
                now,
                if read == 0 {
                    "social_account.connected"
                } else {
                    "social_account.reconnected"
                },
                format!("social_account:{}", account.id),
                serde_json::json!({"platform": account.platform, "name": account.name}),
            )?,
        ];
        app.table.transact(ops).await.map_err(|e| match e {
            TableError::ConditionFailed { .. } => AppError::conflict("CONFLICT", "the account changed meanwhile: connect again"),
            other => other.into(),
        })?;
        if read != 0 {
            resume_posts(app, tenant, &account.id).await?;
        }
        stored += 1;
    }
    Ok(stored)
}

/// The account's paused posts go back on the calendar: at their own time if it is still
/// ahead, at once if it passed less than an hour ago; an older one stays paused, to be given
/// a new time. Each keeps its approval and the quota it held. Answers how many resumed.
pub async fn resume_posts(app: &App, tenant: &TenantCtx, account_id: &AccountId) -> AppResult<usize> {
    let now = app.clock.now();
    let posts: Vec<Post> = query_all(&*app.table, Query::partition(tenant.pk()).prefix(keys::POST_PREFIX))
        .await?
        .into_iter()
        .map(from_item::<Post>)
        .collect::<AppResult<_>>()?;
    let mut steps = Vec::new();
    let mut resumed = 0;
    for mut post in posts
        .into_iter()
        .filter(|p| p.account_id.as_ref() == Some(account_id) && p.status == PostStatus::Paused)
    {
        let Some(at) = post.scheduled_at else { continue };
        let read = post.version;
        if at > now {
            post.next_attempt_at = None;
        } else if now - at < Duration::minutes(RESUME_GRACE_MINUTES) {
            post.next_attempt_at = Some(now);
        } else {
            if post.error.as_deref() != Some(MISSED) {
                post.error = Some(MISSED.into());
                post.version += 1;
                post.updated_at = now;
                steps.push(post.write(tenant, read)?);
            }
            continue;
        }
        post.status = PostStatus::Scheduled;
        post.error = None;
        post.version += 1;
        post.updated_at = now;
        steps.push(post.write(tenant, read)?);
        resumed += 1;
    }
    for chunk in steps.chunks(crate::ports::table::MAX_TRANSACTION_OPS) {
        if let Err(e) = app.table.transact(chunk.to_vec()).await {
            tracing::warn!(error = %e, "some paused posts changed meanwhile and were left as they are");
        }
    }
    Ok(resumed)
}

/// A paused post's error once its time has gone by.
pub const MISSED: &str = "its time passed while its account was disconnected: schedule it again";
