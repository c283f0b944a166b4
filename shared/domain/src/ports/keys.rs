//! Published signing keys (a JSON Web Key Set) of an identity provider: Google's, for its ID
//! tokens. The adapter fetches; the domain caches (see `auth::google`).

use async_trait::async_trait;
pub use jsonwebtoken::jwk::Jwk;

/// A key set as published, and how long its publisher says it may be cached
/// (`Cache-Control: max-age`).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub body: String,
    pub max_age: Option<std::time::Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("{0}")]
    NotConfigured(String),
    #[error("the key set could not be fetched: {0}")]
    Unavailable(String),
}

/// Fetches the key set, every call.
#[async_trait]
pub trait KeySource: Send + Sync {
    async fn fetch(&self) -> Result<Fetched, KeysError>;
}

/// One key of the set by its id (`kid`): a parsed JSON Web Key, or none by that id.
#[async_trait]
pub trait KeySet: Send + Sync {
    async fn key(&self, kid: &str, now: chrono::DateTime<chrono::Utc>) -> Result<Option<Jwk>, KeysError>;
}
