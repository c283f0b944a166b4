//! Users, passwords and session tokens.

pub mod account;
pub mod google;
pub mod http;
pub mod links;
pub mod password;
pub mod sessions;
pub mod token;

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::{SessionId, UserId};
use crate::keys;
use crate::model::{from_item, to_item};
use crate::ports::table::{Condition, Key, TableError, TxOp};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    /// Empty for an account made by a Google sign-in until its owner sets a password.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub password_hash: String,
    /// Proven by a link mailed to the address, or by Google saying so.
    #[serde(default)]
    pub email_verified: bool,
    #[serde(with = "crate::clock::rfc3339")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// 0 for an account stored before users had versions.
    #[serde(default)]
    pub version: u64,
}

impl User {
    pub fn to_item(&self) -> AppResult<crate::ports::table::Item> {
        to_item(&keys::user_pk(&self.id), keys::PROFILE_SK, self)
    }

    /// The write of this user's next state, over the state it was read in.
    pub fn updated(&self) -> AppResult<TxOp> {
        let condition = match self.version {
            0 => Condition::Exists,
            v => Condition::VersionEquals(v),
        };
        let next = User {
            version: self.version + 1,
            ..self.clone()
        };
        Ok(TxOp::Put {
            item: next.to_item()?,
            condition: Some(condition),
        })
    }
}

/// What a client sees of a user: never the hash.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicUser {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub email_verified: bool,
    /// Whether the account can sign in with a password (one made by Google has none yet).
    pub has_password: bool,
    #[serde(serialize_with = "crate::clock::rfc3339::serialize")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<User> for PublicUser {
    fn from(u: User) -> Self {
        PublicUser {
            has_password: !u.password_hash.is_empty(),
            id: u.id,
            email: u.email,
            name: u.name,
            email_verified: u.email_verified,
            created_at: u.created_at,
        }
    }
}

/// The verified caller of a request: made only by [`token::verify`]. Its session is checked
/// by the read that serves the request (see [`sessions::check_read`]).
#[derive(Debug, Clone)]
pub struct Principal {
    user_id: UserId,
    email: String,
    session_id: SessionId,
    /// Set once the session was found live; shared with the dispatcher, which in debug
    /// builds refuses an answer given on an unchecked session.
    session_checked: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Where the request came from, for the audit log.
    pub(crate) source_ip: Option<String>,
    pub(crate) request_id: Option<String>,
}

impl Principal {
    pub(crate) fn verified(user_id: UserId, email: String, session_id: SessionId) -> Self {
        Principal {
            user_id,
            email,
            session_id,
            session_checked: Default::default(),
            source_ip: None,
            request_id: None,
        }
    }
    /// The same caller, with where the request came from.
    pub fn from_request(self, source_ip: Option<String>, request_id: Option<String>) -> Self {
        Principal {
            source_ip,
            request_id,
            ..self
        }
    }
    pub fn session_id(&self) -> &SessionId {
        &self.session_id
    }
    fn session_checked(&self) {
        self.session_checked.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    /// Whether this request found its session live.
    pub fn is_session_checked(&self) -> bool {
        self.session_checked.load(std::sync::atomic::Ordering::Relaxed)
    }
    pub fn user_id(&self) -> &UserId {
        &self.user_id
    }
    pub fn email(&self) -> &str {
        &self.email
    }
}

/// Creates a user with a password (unverified until the mailed link is used).
pub async fn create_user(app: &App, email: &str, name: &str, password: &str) -> AppResult<User> {
    let user = User {
        id: UserId::generate(),
        email: email.to_string(),
        name: name.to_string(),
        password_hash: password::hash(password)?,
        email_verified: false,
        created_at: app.clock.now(),
        version: 1,
    };
    insert_user(app, &user, Vec::new()).await?;
    Ok(user)
}

/// Stores a new user and claims its email in one transaction with `also`: two sign-ups with
/// one address (in any case) leave one user.
pub(crate) async fn insert_user(app: &App, user: &User, also: Vec<TxOp>) -> AppResult<()> {
    let claim = to_item(
        &keys::email_pk(&user.email),
        keys::CLAIM_SK,
        &serde_json::json!({"userId": user.id}),
    )?;
    let mut ops = vec![
        TxOp::Put {
            item: claim,
            condition: Some(Condition::NotExists),
        },
        TxOp::Put {
            item: user.to_item()?,
            condition: Some(Condition::NotExists),
        },
    ];
    ops.extend(also);
    match app.table.transact(ops).await {
        Ok(()) => Ok(()),
        Err(TableError::ConditionFailed { .. }) => Err(AppError::conflict(
            "EMAIL_TAKEN",
            "an account with this email exists: sign in instead",
        )),
        Err(e) => Err(e.into()),
    }
}

pub async fn user_by_id(app: &App, user_id: &str) -> AppResult<Option<User>> {
    app.table
        .get(&Key::new(keys::user_pk(user_id), keys::PROFILE_SK))
        .await?
        .map(from_item)
        .transpose()
}

pub async fn user_id_by_email(app: &App, email: &str) -> AppResult<Option<UserId>> {
    let claim = app.table.get(&Key::new(keys::email_pk(email), keys::CLAIM_SK)).await?;
    Ok(claim
        .and_then(|c| c.get("userId").and_then(|v| v.as_str()).map(UserId::read))
        .transpose()?)
}

/// The sign-in attempts of one (email, client address), reserved before the password is
/// checked so that concurrent guesses cannot pass the limit together:
/// - per email and address: `login_failures_per_pair` in a window, then 429 (only that
///   address is stopped: the owner signs in from any other);
/// - per address across emails: `login_failures_per_address`, then 429;
/// - per email across addresses: no lock-out, but each attempt past
///   `login_slowdown_after` waits longer before it is answered (see [`slowdown`]).
///
/// A sign-in that succeeds gives its reservation back; a failed one keeps it as the failure.
pub(crate) struct LoginAttempt {
    windows: Vec<crate::ratelimit::Window>,
}

const TOO_MANY: &str = "too many failed sign-ins: wait a few minutes and try again";

impl LoginAttempt {
    /// `kind` keeps apart what is counted: sign-ins (`LOGIN`), password-reset mails (`RESET`).
    pub(crate) async fn reserve(
        app: &App,
        kind: &str,
        email: &str,
        address: Option<&str>,
    ) -> AppResult<(LoginAttempt, std::time::Duration)> {
        use crate::ratelimit::Window;
        let s = &app.settings;
        let seconds = s.login_window_seconds;
        let address = address.unwrap_or("unknown");
        let pair = Window::new(
            app,
            &format!("{kind}#PAIR"),
            &format!("{email}#{address}"),
            Some(s.login_failures_per_pair),
            seconds,
        );
        pair.take(app, TOO_MANY).await?;
        let mut attempt = LoginAttempt { windows: vec![pair] };
        let by_address = Window::new(
            app,
            &format!("{kind}#ADDRESS"),
            address,
            Some(s.login_failures_per_address),
            seconds,
        );
        if let Err(e) = by_address.take(app, TOO_MANY).await {
            attempt.give_back(app).await;
            return Err(e);
        }
        attempt.windows.push(by_address);
        let by_email = Window::new(app, &format!("{kind}#EMAIL"), email, None, seconds);
        let tries = by_email.take(app, TOO_MANY).await?;
        attempt.windows.push(by_email);
        Ok((attempt, slowdown(tries, s.login_slowdown_after)))
    }

    pub(crate) async fn give_back(&self, app: &App) {
        for window in &self.windows {
            window.give_back(app).await;
        }
    }
}

/// How long the `tries`-th attempt on one email in a window waits before it is answered:
/// nothing up to `after`, then 100 ms doubling with each further attempt, at most 5 s.
pub fn slowdown(tries: i64, after: i64) -> std::time::Duration {
    let over = tries - after;
    if over <= 0 {
        return std::time::Duration::ZERO;
    }
    let ms = 100u64.saturating_mul(1u64 << (over - 1).min(20) as u32);
    std::time::Duration::from_millis(ms.min(5_000))
}

/// Checks the password; answers the user. Unknown emails, accounts without a password and
/// wrong passwords look alike, in message and in time (a hash is verified either way).
pub async fn login(app: &App, email: &str, password: &str, source: Option<&str>) -> AppResult<User> {
    let (attempt, wait) = LoginAttempt::reserve(app, "LOGIN", email, source).await?;
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let user = match user_id_by_email(app, email).await? {
        Some(id) => user_by_id(app, &id).await?,
        None => None,
    };
    let valid = checks(user.as_ref(), password);
    match user {
        Some(user) if valid => {
            attempt.give_back(app).await;
            Ok(user)
        }
        _ => Err(AppError::Unauthorized("wrong email or password".into())),
    }
}

/// Whether `password` is the user's (`None`: no such user), in the time a hash takes.
pub(crate) fn checks(user: Option<&User>, password: &str) -> bool {
    match user.map(|u| u.password_hash.as_str()) {
        Some(hash) if !hash.is_empty() => password::verify(password, hash),
        _ => {
            password::verify(password, password::decoy_hash());
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn attempts_past_the_soft_limit_wait_longer_each_time_up_to_a_cap() {
        assert_eq!(slowdown(10, 10), Duration::ZERO);
        assert_eq!(slowdown(11, 10), Duration::from_millis(100));
        assert_eq!(slowdown(13, 10), Duration::from_millis(400));
        assert_eq!(slowdown(200, 10), Duration::from_secs(5));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_wrong_logins_for_one_address_pass_the_limit_at_most_five_times() {
        let t = crate::testing::app();
        create_user(&t.app, "owner@acme.io", "Owner", "the right password").await.unwrap();
        let guesses = (0..50).map(|_| {
            let app = t.app.clone();
            tokio::spawn(async move { login(&app, "owner@acme.io", "a wrong guess!", Some("203.0.113.9")).await })
        });
        let mut not_limited = 0;
        for guess in guesses {
            match guess.await.unwrap() {
                Err(AppError::RateLimited { .. }) => {}
                Err(AppError::Unauthorized(_)) => not_limited += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(not_limited <= 5, "{not_limited} guesses were checked");
        assert!(matches!(
            login(&t.app, "owner@acme.io", "the right password", Some("203.0.113.9")).await,
            Err(AppError::RateLimited { .. })
        ));
        let owner = login(&t.app, "owner@acme.io", "the right password", Some("198.51.100.7")).await;
        assert!(owner.is_ok(), "another address is not locked out: {owner:?}");
    }
}
