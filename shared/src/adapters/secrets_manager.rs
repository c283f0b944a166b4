//! Secrets from AWS Secrets Manager, fetched on first use (never at start-up) and kept for a
//! TTL, so a warm container asks once per TTL and a rotated secret is picked up soon after.

use crate::ports::secrets::{SecretName, Secrets, SecretsError};
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

pub struct SecretsManagerSecrets {
    client: Client,
    ids: HashMap<SecretName, String>,
    ttl: Duration,
    cache: Mutex<HashMap<SecretName, (String, Instant)>>,
}

impl SecretsManagerSecrets {
    pub fn new(client: Client, ids: HashMap<SecretName, String>, ttl: Duration) -> Self {
        SecretsManagerSecrets {
            client,
            ids,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl Secrets for SecretsManagerSecrets {
    async fn get(&self, name: SecretName) -> Result<String, SecretsError> {
        let id = self.ids.get(&name).ok_or(SecretsError::Missing(name.as_str()))?;
        // Held across the fetch so that concurrent first requests make one call, not many.
        let mut cache = self.cache.lock().await;
        if let Some((value, fetched)) = cache.get(&name)
            && fetched.elapsed() < self.ttl
        {
            return Ok(value.clone());
        }
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| SecretsError::Unavailable(aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string()))?;
        let value = out.secret_string.ok_or(SecretsError::Missing(name.as_str()))?;
        cache.insert(name, (value.clone(), Instant::now()));
        Ok(value)
    }
}
