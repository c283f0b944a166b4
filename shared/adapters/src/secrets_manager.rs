//! Secrets from AWS Secrets Manager, fetched on first use (never at start-up) and kept for a
//! TTL, so a warm container asks once per TTL and a rotated secret is picked up soon after.

use crate::aws::{AwsConfig, LazyClient};
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use chief::ports::secrets::{SecretName, Secrets, SecretsError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

pub struct SecretsManagerSecrets {
    client: LazyClient<Client>,
    ids: HashMap<SecretName, String>,
    ttl: Duration,
    cache: Mutex<HashMap<SecretName, (String, Instant)>>,
}

impl SecretsManagerSecrets {
    pub fn new(aws: Arc<AwsConfig>, ids: HashMap<SecretName, String>, ttl: Duration) -> Self {
        SecretsManagerSecrets {
            client: LazyClient::new(aws, Client::new),
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
        let out = self.client.get().await.get_secret_value().secret_id(id).send().await.map_err(|e| {
            let cause = aws_sdk_secretsmanager::error::DisplayErrorContext(&e);
            SecretsError::Unavailable(format!("reading the secret {} ({id}): {cause}", name.as_str()))
        })?;
        // A blank value is a secret not set yet (the template creates some that way).
        let value = out
            .secret_string
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .ok_or(SecretsError::Missing(name.as_str()))?;
        cache.insert(name, (value.clone(), Instant::now()));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    #[ignore = "needs moto on AWS_ENDPOINT_URL: scripts/test runs it"]
    async fn a_secret_is_fetched_once_per_ttl_and_a_rotation_is_seen_after_it() {
        assert!(std::env::var("AWS_ENDPOINT_URL").is_ok(), "AWS_ENDPOINT_URL must point at moto");
        let aws = crate::aws::load().await;
        let client = Client::new(&aws);
        let id = format!("chief-test-{}", ulid::Ulid::new());
        client.create_secret().name(&id).secret_string("first").send().await.unwrap();
        let secrets = SecretsManagerSecrets::new(
            AwsConfig::ready(aws),
            HashMap::from([(SecretName::JwtSigningKey, id.clone())]),
            Duration::from_millis(300),
        );
        assert_eq!(secrets.get(SecretName::JwtSigningKey).await.unwrap(), "first");
        client
            .put_secret_value()
            .secret_id(&id)
            .secret_string("second")
            .send()
            .await
            .unwrap();
        assert_eq!(
            secrets.get(SecretName::JwtSigningKey).await.unwrap(),
            "first",
            "cached within the TTL"
        );
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(secrets.get(SecretName::JwtSigningKey).await.unwrap(), "second");
        assert!(matches!(secrets.get(SecretName::SmtpUrl).await, Err(SecretsError::Missing(_))));
    }
}
