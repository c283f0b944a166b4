//! Sign-in with Google: the web app gets an ID token from Google Identity Services and sends
//! it here. It is verified against Google's published keys (RS256, by `kid`), its issuer,
//! its audience (`CHIEF_GOOGLE_CLIENT_ID`), its expiry and Google's word that the address is
//! verified; then the Google account (`sub`) signs in the user it is tied to, or is tied to
//! the account of that address, or gets a new one.

use super::{User, insert_user, sessions::Tokens};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::UserId;
use crate::keys;
use crate::model::{from_item, to_item};
use crate::ports::keys::{KeySet, KeySource, KeysError};
use crate::ports::table::{Condition, Key, TxOp};
use crate::ratelimit::Window;
use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::Deserialize;
use std::sync::Arc;

pub const ISSUERS: [&str; 2] = ["accounts.google.com", "https://accounts.google.com"];
/// Google's key set, which `CHIEF_GOOGLE_JWKS_URL` replaces (a stand-in in tests).
pub const JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";
/// How long a key set is used when its answer says nothing of caching.
const DEFAULT_MAX_AGE: chrono::Duration = chrono::Duration::hours(1);
/// An unknown `kid` fetches the set again, but not more often than this: a stream of
/// made-up ids must not become a stream of requests to Google.
const REFETCH_COOLDOWN: chrono::Duration = chrono::Duration::seconds(30);
/// Clock difference allowed between Google and us on `exp` and `iat`.
const LEEWAY_SECONDS: u64 = 60;
const MAX_TOKEN_LENGTH: usize = 8 * 1024;

/// The key set, cached for as long as its `Cache-Control` allows, fetched again when stale
/// or when a token names a key it does not hold (Google rotates its keys). One fetch at a
/// time: concurrent sign-ins wait for it rather than each fetching.
pub struct CachedKeys {
    source: Arc<dyn KeySource>,
    state: tokio::sync::Mutex<Cached>,
}

#[derive(Default)]
struct Cached {
    keys: Option<JwkSet>,
    fresh_until: Option<DateTime<Utc>>,
    fetched_at: Option<DateTime<Utc>>,
}

impl CachedKeys {
    pub fn new(source: Arc<dyn KeySource>) -> Self {
        CachedKeys {
            source,
            state: tokio::sync::Mutex::new(Cached::default()),
        }
    }
}

impl Cached {
    fn find(&self, kid: &str) -> Option<Jwk> {
        self.keys.as_ref().and_then(|set| set.find(kid)).cloned()
    }
}

#[async_trait::async_trait]
impl KeySet for CachedKeys {
    async fn key(&self, kid: &str, now: DateTime<Utc>) -> Result<Option<Jwk>, KeysError> {
        let mut cached = self.state.lock().await;
        let fresh = cached.fresh_until.is_some_and(|until| now < until);
        let found = cached.find(kid);
        let cooling = cached.fetched_at.is_some_and(|at| now < at + REFETCH_COOLDOWN);
        if (fresh && found.is_some()) || (found.is_none() && cooling) {
            return Ok(found);
        }
        match self.source.fetch().await {
            Ok(fetched) => {
                let set: JwkSet =
                    serde_json::from_str(&fetched.body).map_err(|e| KeysError::Unavailable(format!("the answer is not a key set: {e}")))?;
                let max_age = fetched
                    .max_age
                    .and_then(|age| chrono::Duration::from_std(age).ok())
                    .unwrap_or(DEFAULT_MAX_AGE);
                cached.keys = Some(set);
                cached.fresh_until = Some(now + max_age);
                cached.fetched_at = Some(now);
                Ok(cached.find(kid))
            }
            // A stale set still holds the keys Google signed with lately: better than none.
            Err(e) if found.is_some() => {
                tracing::warn!(error = %e, "Google's key set could not be fetched again: the cached one is used");
                Ok(found)
            }
            Err(e) => Err(e),
        }
    }
}

/// The claims of a Google ID token that matter here.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    email: Option<String>,
    /// A boolean, or in older tokens the string `"true"`.
    #[serde(default)]
    email_verified: serde_json::Value,
    name: Option<String>,
}

fn refused(why: &str) -> AppError {
    AppError::Unauthorized(format!("the Google ID token is not valid: {why}"))
}

impl From<KeysError> for AppError {
    fn from(e: KeysError) -> Self {
        match e {
            KeysError::NotConfigured(message) => AppError::Disabled {
                code: "GOOGLE_NOT_CONFIGURED",
                message,
            },
            KeysError::Unavailable(_) => AppError::unavailable("Google's signing keys could not be fetched", e),
        }
    }
}

/// Checks an ID token: Google's signature, issuer, audience, expiry, a verified address.
async fn verified_claims(app: &App, client_id: &str, id_token: &str) -> AppResult<Claims> {
    if id_token.len() > MAX_TOKEN_LENGTH {
        return Err(AppError::validation("idToken is too long to be an ID token"));
    }
    let header = jsonwebtoken::decode_header(id_token).map_err(|_| refused("it is not a signed token"))?;
    if header.alg != Algorithm::RS256 {
        return Err(refused("it is not signed with RS256"));
    }
    let kid = header.kid.ok_or_else(|| refused("it names no key"))?;
    let jwk = app
        .google_keys
        .key(&kid, app.clock.now())
        .await?
        .ok_or_else(|| refused("it is signed by a key Google does not publish"))?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| refused("Google's key for it is not an RSA key"))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&ISSUERS);
    validation.set_audience(&[client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    // Expiry is checked against the app's clock below, so tests can move time.
    validation.validate_exp = false;
    let data = jsonwebtoken::decode::<serde_json::Value>(id_token, &key, &validation).map_err(|e| match e.kind() {
        ErrorKind::InvalidAudience => refused("it was issued for another app"),
        ErrorKind::InvalidIssuer => refused("it was not issued by Google"),
        ErrorKind::InvalidSignature => refused("its signature does not verify"),
        _ => refused("it could not be read"),
    })?;
    let now = app.clock.now().timestamp();
    let exp = data.claims.get("exp").and_then(serde_json::Value::as_i64).unwrap_or(0);
    if exp + (LEEWAY_SECONDS as i64) <= now {
        return Err(refused("it has expired"));
    }
    let claims: Claims = serde_json::from_value(data.claims).map_err(|_| refused("its claims are not Google's"))?;
    let verified = matches!(&claims.email_verified, serde_json::Value::Bool(true)) || claims.email_verified.as_str() == Some("true");
    if claims.email.is_none() || !verified {
        return Err(refused("Google has not verified its email address"));
    }
    Ok(claims)
}

fn google_claim_key(subject: &str) -> Key {
    Key::new(keys::google_pk(subject), keys::CLAIM_SK)
}

/// Signs in with a Google ID token: the user and a new session. Failed tokens count against
/// the client address as failed sign-ins do.
pub async fn sign_in(app: &App, id_token: &str, source: Option<&str>) -> AppResult<(User, Tokens)> {
    let client_id = app.settings.google_client_id.clone().ok_or_else(|| AppError::Disabled {
        code: "GOOGLE_NOT_CONFIGURED",
        message: "sign-in with Google is off here: set CHIEF_GOOGLE_CLIENT_ID".into(),
    })?;
    let attempts = Window::new(
        app,
        "GOOGLE#ADDRESS",
        source.unwrap_or("unknown"),
        Some(app.settings.login_failures_per_address),
        app.settings.login_window_seconds,
    );
    attempts.take(app, super::TOO_MANY).await?;
    let claims = verified_claims(app, &client_id, id_token).await?;
    attempts.give_back(app).await;
    let user = user_of(app, &claims).await?;
    let tokens = super::sessions::start(app, &user).await?;
    Ok((user, tokens))
}

/// The user a Google account is tied to; on its first sign-in, the account of its address
/// (tied to it now) or a new account.
async fn user_of(app: &App, claims: &Claims) -> AppResult<User> {
    let email = crate::model::email("email", claims.email.as_deref().unwrap_or_default())?;
    for _ in 0..2 {
        if let Some(claim) = app.table.get(&google_claim_key(&claims.sub)).await? {
            let id = claim.get("userId").and_then(|v| v.as_str()).unwrap_or_default();
            return super::user_by_id(app, &UserId::read(id)?.to_string())
                .await?
                .ok_or_else(|| AppError::Unauthorized("the account of this Google account no longer exists".into()));
        }
        let outcome = match super::user_id_by_email(app, &email).await? {
            Some(id) => tie_existing(app, &id, &claims.sub).await,
            None => create(app, &email, claims).await,
        };
        match outcome {
            // Another sign-in of this account (or a sign-up of this address) got there first.
            Err(AppError::Conflict { .. }) => continue,
            other => return other,
        }
    }
    Err(AppError::conflict("CONFLICT", "the account changed meanwhile: try again"))
}

fn tie_op(subject: &str, user_id: &UserId) -> AppResult<TxOp> {
    Ok(TxOp::Put {
        item: to_item(&keys::google_pk(subject), keys::CLAIM_SK, &serde_json::json!({"userId": user_id}))?,
        condition: Some(Condition::NotExists),
    })
}

/// Ties the Google account to the account of its address. Google vouches for the address;
/// if the account had not proved it, whoever made it may not be its owner, so its password
/// is cleared and its sessions end (the owner can set a password by a reset).
async fn tie_existing(app: &App, user_id: &UserId, subject: &str) -> AppResult<User> {
    let user: User = app
        .table
        .get(&Key::new(keys::user_pk(user_id), keys::PROFILE_SK))
        .await?
        .map(from_item)
        .transpose()?
        .ok_or_else(|| AppError::conflict("CONFLICT", "the account changed meanwhile"))?;
    let claimed_unproven = !user.email_verified;
    let tied = User {
        email_verified: true,
        password_hash: if claimed_unproven {
            String::new()
        } else {
            user.password_hash.clone()
        },
        ..user
    };
    let change = vec![tie_op(subject, &tied.id)?, tied.updated()?];
    if claimed_unproven {
        super::sessions::end_all_with(app, &tied.id, None, change).await?;
    } else {
        app.table.transact(change).await?;
    }
    Ok(User {
        version: tied.version + 1,
        ..tied
    })
}

async fn create(app: &App, email: &str, claims: &Claims) -> AppResult<User> {
    let name = claims
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| n.chars().take(100).collect())
        .unwrap_or_else(|| email.split('@').next().unwrap_or(email).to_string());
    let user = User {
        id: UserId::generate(),
        email: email.to_string(),
        name,
        password_hash: String::new(),
        email_verified: true,
        created_at: app.clock.now(),
        version: 1,
    };
    insert_user(app, &user, vec![tie_op(&claims.sub, &user.id)?]).await?;
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::keys::Fetched;
    use crate::testing::{self, GoogleSigner, TestApp};
    use std::sync::atomic::Ordering;

    const CLIENT: &str = "1234-web.apps.googleusercontent.com";

    /// A change to the claims of a good ID token.
    type ClaimChange = Box<dyn FnOnce(&mut serde_json::Value)>;

    fn app() -> TestApp {
        let mut t = testing::app();
        t.app.settings.google_client_id = Some(CLIENT.into());
        t
    }

    fn publish(t: &TestApp, signers: &[&GoogleSigner], max_age: u64) {
        *t.recorder.google_key_set.lock().unwrap() = Some(Fetched {
            body: GoogleSigner::key_set(signers),
            max_age: Some(std::time::Duration::from_secs(max_age)),
        });
    }

    fn token(t: &TestApp, signer: &GoogleSigner, change: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut claims = GoogleSigner::claims(CLIENT, "google-sub-1", "grace@example.com", t.app.clock.now().timestamp());
        change(&mut claims);
        signer.sign(&claims)
    }

    fn fetches(t: &TestApp) -> usize {
        t.recorder.google_fetches.load(Ordering::SeqCst)
    }

    fn refusal(outcome: AppResult<(User, Tokens)>) -> String {
        match outcome {
            Err(AppError::Unauthorized(why)) => why,
            other => panic!("expected 401, got {:?}", other.map(|(u, _)| u)),
        }
    }

    #[tokio::test]
    async fn a_first_sign_in_makes_a_verified_account_and_the_next_finds_it() {
        let t = app();
        let key = GoogleSigner::first();
        publish(&t, &[&key], 3600);
        let (user, _) = sign_in(&t.app, &token(&t, &key, |_| {}), Some("203.0.113.1")).await.unwrap();
        assert!(user.email_verified && user.password_hash.is_empty());
        assert_eq!((user.email.as_str(), user.name.as_str()), ("grace@example.com", "Grace Hopper"));
        let (again, _) = sign_in(&t.app, &token(&t, &key, |_| {}), None).await.unwrap();
        assert_eq!(again.id, user.id);
        assert_eq!(fetches(&t), 1, "the key set is cached");
    }

    #[tokio::test]
    async fn tokens_for_another_app_from_another_issuer_expired_or_unverified_are_refused() {
        let t = app();
        let key = GoogleSigner::first();
        publish(&t, &[&key], 3600);
        let cases: [(&str, ClaimChange); 5] = [
            (
                "another app",
                Box::new(|c| c["aud"] = "someone-else.apps.googleusercontent.com".into()),
            ),
            ("not issued by Google", Box::new(|c| c["iss"] = "https://evil.example".into())),
            ("expired", Box::new(|c| c["exp"] = (c["iat"].as_i64().unwrap() - 3600).into())),
            ("not verified", Box::new(|c| c["email_verified"] = false.into())),
            ("not verified", Box::new(|c| c["email_verified"] = "false".into())),
        ];
        for (why, change) in cases {
            let refused = refusal(sign_in(&t.app, &token(&t, &key, change), None).await);
            assert!(refused.contains(why.split(' ').next_back().unwrap()), "{why}: {refused}");
        }
        let forged = GoogleSigner::new(include_str!("../../../../tests/fixtures/google/second.pem"), "first-key");
        assert!(refusal(sign_in(&t.app, &token(&t, &forged, |_| {}), None).await).contains("signature"));
        let issuer_without_scheme = token(&t, &key, |c| c["iss"] = "accounts.google.com".into());
        assert!(sign_in(&t.app, &issuer_without_scheme, None).await.is_ok());
    }

    #[tokio::test]
    async fn an_unknown_key_fetches_the_set_again_but_not_more_than_every_thirty_seconds() {
        let t = app();
        let (first, second) = (GoogleSigner::first(), GoogleSigner::second());
        publish(&t, &[&first], 3600);
        sign_in(&t.app, &token(&t, &first, |_| {}), None).await.unwrap();
        // Google rotates: a token signed with the new key arrives before the cache is stale.
        publish(&t, &[&first, &second], 3600);
        let rotated = token(&t, &second, |_| {});
        assert!(refusal(sign_in(&t.app, &rotated, None).await).contains("does not publish"));
        assert_eq!(fetches(&t), 1, "within the cooldown of the first fetch");
        t.clock.advance(chrono::Duration::seconds(31));
        sign_in(&t.app, &token(&t, &second, |_| {}), None).await.unwrap();
        assert_eq!(fetches(&t), 2);
    }

    #[tokio::test]
    async fn the_set_is_kept_as_long_as_its_max_age_and_a_stale_one_serves_when_google_is_down() {
        let t = app();
        let key = GoogleSigner::first();
        publish(&t, &[&key], 600);
        sign_in(&t.app, &token(&t, &key, |_| {}), None).await.unwrap();
        t.clock.advance(chrono::Duration::seconds(599));
        sign_in(&t.app, &token(&t, &key, |_| {}), None).await.unwrap();
        assert_eq!(fetches(&t), 1);
        t.clock.advance(chrono::Duration::seconds(2));
        *t.recorder.google_key_set.lock().unwrap() = None;
        sign_in(&t.app, &token(&t, &key, |_| {}), None).await.unwrap();
        assert_eq!(fetches(&t), 2, "stale: fetched again, and the old set used when that failed");
    }

    #[tokio::test]
    async fn keys_that_cannot_be_fetched_are_unavailable_and_no_client_id_is_not_configured() {
        let t = app();
        let outcome = sign_in(&t.app, &token(&t, &GoogleSigner::first(), |_| {}), None).await;
        assert!(
            matches!(outcome, Err(AppError::Unavailable { .. })),
            "{:?}",
            outcome.map(|(u, _)| u)
        );
        let mut off = testing::app();
        off.app.settings.google_client_id = None;
        let outcome = sign_in(&off.app, "x.y.z", None).await;
        assert!(matches!(
            outcome,
            Err(AppError::Disabled {
                code: "GOOGLE_NOT_CONFIGURED",
                ..
            })
        ));
    }

    #[tokio::test]
    async fn a_first_sign_in_ties_to_the_account_of_its_address_and_an_unproven_one_loses_its_password() {
        let t = app();
        let key = GoogleSigner::first();
        publish(&t, &[&key], 3600);
        // Someone signed up with Grace's address before she ever came, and never proved it.
        let squatter = crate::auth::create_user(&t.app, "grace@example.com", "Not Grace", "squatter's password")
            .await
            .unwrap();
        let session = crate::auth::sessions::start(&t.app, &squatter).await.unwrap();
        let (user, _) = sign_in(&t.app, &token(&t, &key, |_| {}), None).await.unwrap();
        assert_eq!(user.id, squatter.id);
        assert!(user.email_verified && user.password_hash.is_empty());
        assert!(
            crate::auth::login(&t.app, "grace@example.com", "squatter's password", None)
                .await
                .is_err()
        );
        let principal = crate::auth::token::verify(&t.app, Some(&session.access_token)).await.unwrap();
        assert!(crate::auth::sessions::check(&t.app, &principal).await.is_err());
        // A verified account keeps its password when tied.
        let t = app();
        publish(&t, &[&key], 3600);
        let owner = crate::auth::create_user(&t.app, "grace@example.com", "Grace", "her own password")
            .await
            .unwrap();
        let verified = User {
            email_verified: true,
            ..owner
        };
        t.app.table.transact(vec![verified.updated().unwrap()]).await.unwrap();
        sign_in(&t.app, &token(&t, &key, |_| {}), None).await.unwrap();
        assert!(
            crate::auth::login(&t.app, "grace@example.com", "her own password", None)
                .await
                .is_ok()
        );
    }
}
