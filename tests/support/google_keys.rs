//! A stand-in for Google's published signing keys (`/oauth2/v3/certs`), as
//! `CHIEF_GOOGLE_JWKS_URL` points at it: the key set the test publishes, with Google's
//! `Cache-Control: public, max-age=…`, counting the fetches. Tokens are signed by the test
//! with the same keys (`chief::testing::GoogleSigner`).

use crate::stand_in::{Reply, Seen, serve};
use chief::testing::GoogleSigner;
use serde_json::Value;
use std::sync::{Arc, Mutex};

struct Published {
    key_set: Value,
    fetches: usize,
}

pub struct GoogleKeys {
    /// The key set's address.
    pub url: String,
    state: Arc<Mutex<Published>>,
    _server: tokio::task::JoinHandle<()>,
}

fn answer(published: &mut Published, seen: &Seen) -> Reply {
    if seen.method != "GET" || seen.uri.path() != "/oauth2/v3/certs" {
        return Reply::json(404, Value::Null);
    }
    published.fetches += 1;
    Reply::json(200, published.key_set.clone()).with_header("cache-control", "public, max-age=21600, must-revalidate, no-transform")
}

impl GoogleKeys {
    pub async fn start(signers: &[&GoogleSigner]) -> GoogleKeys {
        let state = Arc::new(Mutex::new(Published {
            key_set: serde_json::from_str(&GoogleSigner::key_set(signers)).unwrap(),
            fetches: 0,
        }));
        let (base, server) = serve(state.clone(), answer).await;
        GoogleKeys {
            url: format!("{base}/oauth2/v3/certs"),
            state,
            _server: server,
        }
    }

    /// Publishes another key set (Google rotating its keys).
    pub fn publish(&self, signers: &[&GoogleSigner]) {
        self.state.lock().unwrap().key_set = serde_json::from_str(&GoogleSigner::key_set(signers)).unwrap();
    }

    pub fn fetches(&self) -> usize {
        self.state.lock().unwrap().fetches
    }
}
