//! AWS SDK clients made on first use. Loading the SDK's configuration reads `~/.aws/config`
//! and `~/.aws/credentials`, and building a client builds its HTTPS connector: done at
//! start-up, that was most of a cold start before the first poll of the Lambda Runtime API.
//! Here each is done once, by the first request that calls AWS, and reused by every later one.
//!
//! The connector is rustls on ring with the roots of Amazon Trust Services compiled in
//! (`aws-roots.pem`), not the SDK's default (aws-lc, and the platform's certificate store read
//! from `/etc/ssl`, 146 files here): every AWS endpoint's certificate chains to one of those
//! roots, ring is the smaller library, and nothing is read from disk even on the first request.

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use std::sync::Arc;
use tokio::sync::OnceCell;

const AWS_ROOTS: &str = include_str!("aws-roots.pem");

/// The SDK's configuration from the environment Lambda gives a function: the region
/// (`AWS_REGION`), the function role's credentials (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) and, for moto or another stand-in,
/// `AWS_ENDPOINT_URL`; with the HTTPS client described above. Not aws-config's default chain:
/// its profile files, SSO, web identity (STS), ECS and IMDS providers are never used by a
/// function and were 0.6 MiB of each one (run one on a laptop with `aws configure
/// export-credentials --format env` for real AWS). Retries, timeouts, the sleep and the clock
/// are the SDK's defaults for this behaviour version. Tests that make their own AWS
/// resources load it here too, since the SDK crates are built without a default client.
pub async fn load() -> SdkConfig {
    let roots = TrustStore::empty().with_native_roots(false).with_pem_certificate(AWS_ROOTS);
    let builder = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring));
    // `build` only holds the trust store and cannot fail in this version of the client; were
    // it to, the SDK's default trust store (the platform's) would serve.
    let https = match TlsContext::builder().with_trust_store(roots).build() {
        Ok(context) => builder.tls_context(context).build_https(),
        Err(_) => builder.build_https(),
    };
    let setting = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https)
        .credentials_provider(SharedCredentialsProvider::new(EnvironmentVariableCredentialsProvider::new()))
        .region(setting("AWS_REGION").or_else(|| setting("AWS_DEFAULT_REGION")).map(Region::new));
    if let Some(endpoint) = setting("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(endpoint);
    }
    config.build()
}

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
        self.0.get_or_init(load).await
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

    /// The compiled-in roots are the five of Amazon Trust Services, and the HTTPS client takes
    /// them (it panics on a certificate it cannot parse, when it is built).
    #[tokio::test]
    async fn the_bundled_roots_are_amazons_and_the_client_takes_them() {
        assert_eq!(AWS_ROOTS.matches("-----BEGIN CERTIFICATE-----").count(), 5);
        for root in ["Amazon_Root_CA_1", "Amazon_Root_CA_4", "Starfield_Services_Root"] {
            assert!(AWS_ROOTS.contains(root), "{root}");
        }
        let config = load().await;
        assert!(config.http_client().is_some());
    }

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
