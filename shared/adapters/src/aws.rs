//! AWS SDK clients made on first use. Loading the SDK's configuration reads `~/.aws/config`
//! and `~/.aws/credentials`, and building a client builds its HTTPS connector, which loads
//! the platform's root certificates from `/etc/ssl`: done at start-up, that is most of a cold
//! start before the first poll of the Lambda Runtime API. Here each is done once, by the first
//! request that calls AWS, and reused by every later one.

use aws_config::SdkConfig;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// The SDK's configuration (region, credentials, endpoint), shared by a function's clients.
pub struct AwsConfig(OnceCell<SdkConfig>);

impl AwsConfig {
    /// Loaded from the environment when a client first needs it.
    pub fn from_env() -> Arc<Self> {
        Arc::new(AwsConfig(OnceCell::new()))
    }

    /// Already loaded (tests that make their resources with it first).
    pub fn ready(config: SdkConfig) -> Arc<Self> {
        Arc::new(AwsConfig(OnceCell::new_with(Some(config))))
    }

    pub async fn get(&self) -> &SdkConfig {
        self.0.get_or_init(aws_config::load_from_env).await
    }
}

/// One service's client, made from the shared configuration on first use.
pub struct LazyClient<C> {
    config: Arc<AwsConfig>,
    client: OnceCell<C>,
    make: fn(&SdkConfig) -> C,
}

impl<C> LazyClient<C> {
    pub fn new(config: Arc<AwsConfig>, make: fn(&SdkConfig) -> C) -> Self {
        LazyClient {
            config,
            client: OnceCell::new(),
            make,
        }
    }

    pub async fn get(&self) -> &C {
        self.client.get_or_init(|| async { (self.make)(self.config.get().await) }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static MADE: AtomicUsize = AtomicUsize::new(0);

    fn count(_: &SdkConfig) -> usize {
        MADE.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Nothing is made before a request asks; then once, however many ask at once.
    #[tokio::test]
    async fn a_client_is_made_once_by_the_first_request_that_needs_it() {
        let config = AwsConfig::ready(SdkConfig::builder().build());
        let lazy = Arc::new(LazyClient::new(config, count));
        assert_eq!(MADE.load(Ordering::SeqCst), 0);
        let asks = (0..8).map(|_| {
            let lazy = lazy.clone();
            tokio::spawn(async move { *lazy.get().await })
        });
        for made in futures::future::join_all(asks).await {
            assert_eq!(made.unwrap(), 1);
        }
        assert_eq!(MADE.load(Ordering::SeqCst), 1);
    }
}
