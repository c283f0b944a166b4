//! Secrets for local runs: an environment variable (`CHIEF_SECRET_<NAME>`, e.g.
//! `CHIEF_SECRET_JWT_SIGNING_KEY`; Stripe's under the names Stripe's own tools use,
//! `STRIPE_SECRET_KEY` and `STRIPE_WEBHOOK_SECRET`; the AI key as `OPENAI_API_KEY`; a social
//! platform's app as its pair, e.g. `CHIEF_X_CLIENT_ID` and `CHIEF_X_CLIENT_SECRET`), else a
//! file `<dir>/<name>`.

use async_trait::async_trait;
use chief::ports::secrets::{SecretName, Secrets, SecretsError};
use std::path::PathBuf;

pub struct LocalSecrets {
    dir: Option<PathBuf>,
}

impl LocalSecrets {
    pub fn new(dir: Option<PathBuf>) -> Self {
        LocalSecrets { dir }
    }

    pub fn env_var(name: SecretName) -> String {
        match name {
            SecretName::StripeSecretKey => return "STRIPE_SECRET_KEY".into(),
            SecretName::StripeWebhookSecret => return "STRIPE_WEBHOOK_SECRET".into(),
            SecretName::AiApiKey => return "OPENAI_API_KEY".into(),
            _ => {}
        }
        format!("CHIEF_SECRET_{}", name.as_str().to_uppercase().replace('-', "_"))
    }

    /// A social platform's app id and secret variables (`None` for other secrets).
    pub fn app_vars(name: SecretName) -> Option<(&'static str, &'static str)> {
        match name {
            SecretName::LinkedinApp => Some(("CHIEF_LINKEDIN_CLIENT_ID", "CHIEF_LINKEDIN_CLIENT_SECRET")),
            SecretName::XApp => Some(("CHIEF_X_CLIENT_ID", "CHIEF_X_CLIENT_SECRET")),
            SecretName::MetaApp => Some(("CHIEF_META_APP_ID", "CHIEF_META_APP_SECRET")),
            _ => None,
        }
    }
}

fn set(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

#[async_trait]
impl Secrets for LocalSecrets {
    async fn get(&self, name: SecretName) -> Result<String, SecretsError> {
        if let Some((id_var, secret_var)) = Self::app_vars(name)
            && let (Some(id), Some(secret)) = (set(id_var), set(secret_var))
        {
            return Ok(serde_json::json!({"clientId": id, "clientSecret": secret}).to_string());
        }
        if let Ok(value) = std::env::var(Self::env_var(name))
            && !value.is_empty()
        {
            return Ok(value);
        }
        let Some(dir) = &self.dir else {
            return Err(SecretsError::Missing(name.as_str()));
        };
        match tokio::fs::read_to_string(dir.join(name.as_str())).await {
            Ok(value) if !value.trim().is_empty() => Ok(value.trim().to_string()),
            Ok(_) => Err(SecretsError::Missing(name.as_str())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(SecretsError::Missing(name.as_str())),
            Err(e) => Err(SecretsError::Unavailable(e.to_string())),
        }
    }
}
