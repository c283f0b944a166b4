//! Google's published signing keys over HTTPS (`CHIEF_GOOGLE_JWKS_URL` for a stand-in). The
//! domain caches the set for as long as the answer's `Cache-Control: max-age` says.

use async_trait::async_trait;
use chief::ports::keys::{Fetched, KeySource, KeysError};
use std::sync::OnceLock;

pub struct HttpKeys {
    url: String,
    client: OnceLock<reqwest::Client>,
}

impl HttpKeys {
    pub fn new(url: String) -> Self {
        HttpKeys {
            url,
            client: OnceLock::new(),
        }
    }

    /// Built by the first sign-in with Google, not at start-up.
    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            crate::tls::install_default_provider();
            reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .connect_timeout(std::time::Duration::from_secs(3))
                .build()
                .unwrap_or_default()
        })
    }
}

/// `max-age` of a `Cache-Control` value (`public, max-age=19800, must-revalidate, …`).
pub fn max_age(cache_control: &str) -> Option<std::time::Duration> {
    cache_control.split(',').find_map(|directive| {
        let (name, value) = directive.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| value.trim().trim_matches('"').parse::<u64>().ok())
            .flatten()
            .map(std::time::Duration::from_secs)
    })
}

#[async_trait]
impl KeySource for HttpKeys {
    async fn fetch(&self) -> Result<Fetched, KeysError> {
        let unavailable = |e: reqwest::Error| KeysError::Unavailable(format!("{}: {e}", self.url));
        let response = self.client().get(&self.url).send().await.map_err(unavailable)?;
        let status = response.status();
        if !status.is_success() {
            return Err(KeysError::Unavailable(format!("{} answered {status}", self.url)));
        }
        let max_age = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age);
        let body = response.text().await.map_err(unavailable)?;
        Ok(Fetched { body, max_age })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_among_other_directives() {
        assert_eq!(
            max_age("public, max-age=19800, must-revalidate, no-transform"),
            Some(std::time::Duration::from_secs(19800))
        );
        assert_eq!(max_age("no-cache"), None);
        assert_eq!(max_age("Max-Age = 60"), Some(std::time::Duration::from_secs(60)));
    }
}
