//! The Social port: posts out to an org's social accounts. The only platform for now is
//! `sandbox`, which records what it would post; real platforms come with their OAuth.

use crate::ids::OrgId;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// The platform that records what it would post instead of posting (the `sandbox` adapter).
pub const SANDBOX_PLATFORM: &str = "sandbox";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Published {
    /// The platform's id of the post.
    pub external_id: String,
    pub platform: String,
    pub url: Option<String>,
    pub text: String,
    #[serde(with = "crate::clock::rfc3339")]
    pub published_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum SocialError {
    #[error("platform {0} is not connected")]
    NotConnected(String),
    #[error("the platform refused the post: {0}")]
    Rejected(String),
    #[error("the platform is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Social: Send + Sync {
    /// Publishes once per `idempotency_key`: asked again with the same key, it answers the
    /// post made the first time and posts nothing.
    async fn publish(&self, org_id: &OrgId, platform: &str, text: &str, idempotency_key: &str) -> Result<Published, SocialError>;
}
