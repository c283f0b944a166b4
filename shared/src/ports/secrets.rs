use async_trait::async_trait;

/// The secrets Chief reads by name; each adapter maps a name to where it is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretName {
    /// The HS256 key that signs session tokens.
    JwtSigningKey,
    /// `smtp://user:password@host:port` (or `smtps://`) for outgoing mail.
    SmtpUrl,
}

impl SecretName {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretName::JwtSigningKey => "jwt-signing-key",
            SecretName::SmtpUrl => "smtp-url",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("secret {0} is not configured")]
    Missing(&'static str),
    #[error("secret store unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Secrets: Send + Sync {
    async fn get(&self, name: SecretName) -> Result<String, SecretsError>;
}
