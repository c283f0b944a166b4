//! Users, passwords and session tokens.

pub mod http;
pub mod password;
pub mod token;

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::keys;
use crate::model::{from_item, to_item};
use crate::ports::table::{Condition, Counter, Key, TableError, TxOp};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub password_hash: String,
    pub created_at: String,
}

/// What a client sees of a user: never the hash.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicUser {
    pub id: String,
    pub email: String,
    pub name: String,
    pub created_at: String,
}

impl From<User> for PublicUser {
    fn from(u: User) -> Self {
        PublicUser {
            id: u.id,
            email: u.email,
            name: u.name,
            created_at: u.created_at,
        }
    }
}

/// The verified caller of a request: made only by [`token::verify`].
#[derive(Debug, Clone)]
pub struct Principal {
    user_id: String,
    email: String,
}

impl Principal {
    pub(crate) fn verified(user_id: String, email: String) -> Self {
        Principal { user_id, email }
    }
    pub fn user_id(&self) -> &str {
        &self.user_id
    }
    pub fn email(&self) -> &str {
        &self.email
    }
}

/// Creates the user and claims its email in one transaction: two signups with one address
/// (in any case) leave one user.
pub async fn create_user(app: &App, email: &str, name: &str, password: &str) -> AppResult<User> {
    let user = User {
        id: crate::model::new_id(),
        email: email.to_string(),
        name: name.to_string(),
        password_hash: password::hash(password)?,
        created_at: crate::clock::timestamp(app.clock.now()),
    };
    let claim = to_item(&keys::email_pk(email), keys::CLAIM_SK, &serde_json::json!({"userId": user.id}))?;
    let ops = vec![
        TxOp::Put {
            item: claim,
            condition: Some(Condition::NotExists),
        },
        TxOp::Put {
            item: to_item(&keys::user_pk(&user.id), keys::PROFILE_SK, &user)?,
            condition: Some(Condition::NotExists),
        },
    ];
    match app.table.transact(ops).await {
        Ok(()) => Ok(user),
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

pub async fn user_id_by_email(app: &App, email: &str) -> AppResult<Option<String>> {
    let claim = app.table.get(&Key::new(keys::email_pk(email), keys::CLAIM_SK)).await?;
    Ok(claim.and_then(|c| c.get("userId").and_then(|v| v.as_str()).map(str::to_string)))
}

/// Failed-login counters: fixed windows per email and per source address, each its own
/// item that expires after its window.
struct Throttle {
    email: Key,
    address: Option<Key>,
    expires: i64,
}

impl Throttle {
    fn new(app: &App, email: &str, address: Option<&str>) -> Self {
        let window_len = app.settings.login_window_seconds;
        let window = app.clock.now().timestamp() / window_len;
        let key = |kind: &str, subject: &str| Key::new(keys::login_throttle_pk(kind, subject), keys::window_sk(window));
        Throttle {
            email: key("EMAIL", email),
            address: address.map(|a| key("ADDRESS", a)),
            expires: (window + 1) * window_len + 60,
        }
    }

    async fn check(&self, app: &App) -> AppResult<()> {
        let mut keys = vec![self.email.clone()];
        keys.extend(self.address.clone());
        let counts = app.table.get_many(&keys).await?;
        let count = |i: usize| {
            counts
                .get(i)
                .and_then(|c| c.as_ref())
                .and_then(|c| c.get("failures"))
                .and_then(|v| v.as_i64())
                .unwrap_or(0)
        };
        if count(0) >= app.settings.login_failures_per_email || count(1) >= app.settings.login_failures_per_address {
            return Err(AppError::RateLimited(
                "too many failed sign-ins: wait a few minutes and try again".into(),
            ));
        }
        Ok(())
    }

    async fn record_failure(&self, app: &App) -> AppResult<()> {
        let counter = Counter::new("failures", 1).expiring(self.expires);
        let mut ops = vec![TxOp::Add {
            key: self.email.clone(),
            counter: counter.clone(),
        }];
        ops.extend(self.address.clone().map(|key| TxOp::Add {
            key,
            counter: counter.clone(),
        }));
        Ok(app.table.transact(ops).await?)
    }
}

/// Checks the password; answers the user. Unknown emails and wrong passwords look alike,
/// in message and in time (a hash is verified either way).
pub async fn login(app: &App, email: &str, password: &str, source: Option<&str>) -> AppResult<User> {
    let throttle = Throttle::new(app, email, source);
    throttle.check(app).await?;
    let user = match user_id_by_email(app, email).await? {
        Some(id) => user_by_id(app, &id).await?,
        None => None,
    };
    let valid = match &user {
        Some(u) => password::verify(password, &u.password_hash),
        None => {
            password::verify(password, password::decoy_hash());
            false
        }
    };
    match user {
        Some(user) if valid => Ok(user),
        _ => {
            throttle.record_failure(app).await?;
            Err(AppError::Unauthorized("wrong email or password".into()))
        }
    }
}
