//! The `sandbox` platform: publishes into the store instead of a network, once per
//! idempotency key, and answers deterministic figures that are labelled as made up. A marker
//! in a post's text makes it fail the way real platforms do, so the whole pipeline is tested
//! end to end offline:
//!
//! - `[sandbox:rate_limited]`: the first attempt is refused until 30 seconds later;
//! - `[sandbox:timeout_after_accept]`: the first attempt posts, then no answer comes;
//! - `[sandbox:auth_revoked]`: the account's authorisation is gone (every attempt);
//! - `[sandbox:duplicate]`: the platform calls it a duplicate of a post it never had;
//! - `[sandbox:invalid]`: the platform refuses the post.

use crate::clock::Clock;
use crate::keys;
use crate::model::{from_item, to_item};
use crate::ports::social::{Channel, Metrics, Outgoing, Published, Social, SocialError};
use crate::ports::table::{Condition, Counter, Key, Table, TableError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How long the sandbox asks a rate-limited caller to wait.
pub const RATE_LIMIT_SECONDS: i64 = 30;

pub struct SandboxSocial {
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
}

impl SandboxSocial {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>) -> Self {
        SandboxSocial { table, clock }
    }
}

/// What the sandbox keeps of a post it published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxPost {
    #[serde(flatten)]
    pub published: Published,
    pub account_id: String,
    pub platform: String,
    pub text: String,
    /// The sandbox id of the post it answers (a thread's part before it).
    #[serde(default)]
    pub reply_to: Option<String>,
}

fn unavailable(e: impl std::fmt::Display) -> SocialError {
    SocialError::Unavailable(e.to_string())
}

fn marked(text: &str, mode: &str) -> bool {
    text.contains(&format!("[sandbox:{mode}]"))
}

impl SandboxSocial {
    fn key(channel: &Channel<'_>, idempotency_key: &str) -> Key {
        Key::new(keys::org_pk(channel.org_id), keys::sandbox_post_sk(idempotency_key))
    }

    /// Which attempt this is for the key, counted in the store.
    async fn attempt(&self, channel: &Channel<'_>, idempotency_key: &str) -> Result<i64, SocialError> {
        let key = Key::new(keys::org_pk(channel.org_id), format!("SANDBOXTRY#{idempotency_key}"));
        self.table.add(&key, Counter::new("attempts", 1)).await.map_err(unavailable)
    }

    /// Posts once per key: asked again, answers the first post.
    async fn post(&self, channel: &Channel<'_>, post: &Outgoing<'_>) -> Result<Published, SocialError> {
        let id = ulid::Ulid::new().to_string();
        let stored = SandboxPost {
            published: Published {
                external_id: format!("sandbox_{id}"),
                url: Some(format!("sandbox://{}/posts/{id}", channel.account_id)),
                published_at: self.clock.now(),
            },
            account_id: channel.account_id.to_string(),
            platform: post.platform.into(),
            text: post.text.to_string(),
            reply_to: post.reply_to.map(str::to_string),
        };
        let key = Self::key(channel, post.idempotency_key);
        let item = to_item(&key.pk, &key.sk, &stored).map_err(unavailable)?;
        match self.table.put(item, Some(Condition::NotExists)).await {
            Ok(()) => Ok(stored.published),
            Err(TableError::ConditionFailed { .. }) => {
                let existing = self.table.get(&key).await.map_err(unavailable)?;
                let existing: SandboxPost = from_item(existing.ok_or_else(|| unavailable("post vanished"))?).map_err(unavailable)?;
                Ok(existing.published)
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl Social for SandboxSocial {
    async fn publish(&self, channel: &Channel<'_>, post: &Outgoing<'_>) -> Result<Published, SocialError> {
        let text = post.text;
        if marked(text, "auth_revoked") {
            return Err(SocialError::AuthRevoked(
                "sandbox: the account's token was revoked ([sandbox:auth_revoked])".into(),
            ));
        }
        if marked(text, "invalid") {
            return Err(SocialError::Invalid(
                "sandbox: the post was refused as invalid ([sandbox:invalid])".into(),
            ));
        }
        if marked(text, "duplicate") {
            return Err(SocialError::Duplicate(
                "sandbox: the platform says this post exists ([sandbox:duplicate])".into(),
            ));
        }
        let first = self.attempt(channel, post.idempotency_key).await? == 1;
        if first && marked(text, "rate_limited") {
            return Err(SocialError::RateLimited {
                retry_at: self.clock.now() + chrono::Duration::seconds(RATE_LIMIT_SECONDS),
            });
        }
        let published = self.post(channel, post).await?;
        if first && marked(text, "timeout_after_accept") {
            return Err(SocialError::Uncertain(
                "sandbox: posted, then the answer timed out ([sandbox:timeout_after_accept])".into(),
            ));
        }
        Ok(published)
    }

    async fn find_recent(&self, channel: &Channel<'_>, idempotency_key: &str, text: &str) -> Result<Option<Published>, SocialError> {
        let item = self.table.get(&Self::key(channel, idempotency_key)).await.map_err(unavailable)?;
        let post: Option<SandboxPost> = item.map(from_item).transpose().map_err(unavailable)?;
        Ok(post.filter(|p| p.text == text).map(|p| p.published))
    }

    /// Made-up figures, the same for the same post and age: above zero from publication,
    /// growing with each hour of the post's age.
    async fn metrics(&self, _: &Channel<'_>, post: &Published) -> Result<Option<Metrics>, SocialError> {
        let hours = (self.clock.now() - post.published_at).num_hours().max(0) as u64;
        let seed = post
            .external_id
            .bytes()
            .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
            % 40;
        let impressions = (hours + 1) * (20 + seed);
        let figures = Metrics {
            impressions,
            reactions: impressions / 20 + 1,
            comments: impressions / 100 + 1,
            shares: impressions / 200 + 1,
            clicks: impressions / 50 + 1,
            platform_metrics: Default::default(),
            source: "sandbox (made-up figures)".into(),
        };
        Ok(Some(Metrics {
            platform_metrics: [
                ("sandbox_views", figures.impressions),
                ("sandbox_likes", figures.reactions),
                ("sandbox_replies", figures.comments),
                ("sandbox_reposts", figures.shares),
                ("sandbox_link_clicks", figures.clicks),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
            ..figures
        }))
    }
}
