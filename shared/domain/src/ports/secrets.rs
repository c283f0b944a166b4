use async_trait::async_trait;

/// The secrets Chief reads by name; each adapter maps a name to where it is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretName {
    /// The HS256 key that signs session tokens.
    JwtSigningKey,
    /// `smtp://user:password@host:port` (or `smtps://`) for outgoing mail.
    SmtpUrl,
    /// Stripe's secret API key (`sk_…`); without it checkout and portal are off.
    StripeSecretKey,
    /// The webhook signing secret (`whsec_…`); two, comma-separated, during a rotation.
    StripeWebhookSecret,
    /// The API key of the OpenAI-compatible endpoint the Ai port calls.
    AiApiKey,
    /// 32 bytes, base64: the AES-256-GCM key that seals social accounts' tokens.
    SocialTokenKey,
    /// A platform's app: `{"clientId": "…", "clientSecret": "…"}`.
    LinkedinApp,
    XApp,
    MetaApp,
}

impl SecretName {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretName::JwtSigningKey => "jwt-signing-key",
            SecretName::SmtpUrl => "smtp-url",
            SecretName::StripeSecretKey => "stripe-secret-key",
            SecretName::StripeWebhookSecret => "stripe-webhook-secret",
            SecretName::AiApiKey => "ai-api-key",
            SecretName::SocialTokenKey => "social-token-key",
            SecretName::LinkedinApp => "linkedin-app",
            SecretName::XApp => "x-app",
            SecretName::MetaApp => "meta-app",
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
