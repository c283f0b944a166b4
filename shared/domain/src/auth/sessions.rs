//! Sessions: one per sign-in. An access token (short-lived, signed) names its session; a
//! refresh token (opaque, 256 random bits, stored only as its SHA-256) renews it and is
//! rotated on each use. A rotated token presented again means it was copied: the whole
//! session (the token's family) is revoked, so the thief and the owner both sign in again.
//!
//! Items, all in the user's partition (`USER#<id>`): `SESSION#<id>` and `REFRESH#<hash>`.
//! The refresh token reads `<userId>.<sessionId>.<secret>`, so its refresh reads both items
//! in one store call; the hash of the whole string is what proves it.

use super::{Principal, User, token};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::{SessionId, UserId};
use crate::keys;
use crate::model::{from_item, sha256_hex, to_item};
use crate::ports::table::{Condition, Item, Key, MAX_TRANSACTION_OPS, Query, TableError, TxOp, query_all};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A refresh token lives 30 days from its issue; each refresh issues the next.
pub const REFRESH_DAYS: i64 = 30;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    #[serde(with = "crate::clock::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// When its current refresh token expires: the session ends then unless refreshed.
    #[serde(with = "crate::clock::rfc3339")]
    pub expires_at: DateTime<Utc>,
    #[serde(default, with = "crate::clock::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    pub version: u64,
}

impl Session {
    fn to_item(&self) -> AppResult<Item> {
        let mut item = to_item(&keys::user_pk(&self.user_id), &keys::session_sk(&self.id), self)?;
        item.insert("ttl".into(), self.expires_at.timestamp().into());
        Ok(item)
    }

    fn live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }

    fn revoked(&self, now: DateTime<Utc>) -> Session {
        Session {
            revoked_at: Some(now),
            version: self.version + 1,
            ..self.clone()
        }
    }
}

/// A refresh token as stored: its hash is in its key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefreshToken {
    session_id: SessionId,
    #[serde(with = "crate::clock::rfc3339")]
    expires_at: DateTime<Utc>,
    /// Set when it was exchanged for the next one: from then on, presenting it is theft.
    #[serde(default, with = "crate::clock::rfc3339::option", skip_serializing_if = "Option::is_none")]
    rotated_at: Option<DateTime<Utc>>,
    version: u64,
}

fn session_key(user_id: &str, session_id: &str) -> Key {
    Key::new(keys::user_pk(user_id), keys::session_sk(session_id))
}

fn refresh_key(user_id: &str, hash: &str) -> Key {
    Key::new(keys::user_pk(user_id), keys::refresh_sk(hash))
}

fn refresh_item(user_id: &UserId, hash: &str, token: &RefreshToken) -> AppResult<Item> {
    let mut item = to_item(&keys::user_pk(user_id), &keys::refresh_sk(hash), token)?;
    item.insert("ttl".into(), token.expires_at.timestamp().into());
    Ok(item)
}

/// What a sign-in or a refresh hands the client.
#[derive(Debug)]
pub struct Tokens {
    pub access_token: String,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_token: String,
    pub refresh_expires_at: DateTime<Utc>,
}

/// A fresh refresh token of a session: the string the client keeps, and its hash.
fn new_refresh(user_id: &UserId, session_id: &SessionId) -> (String, String) {
    let token = format!("{user_id}.{session_id}.{}", crate::model::secret_token());
    let hash = sha256_hex(token.as_bytes());
    (token, hash)
}

/// Starts a session for a user who just proved who they are.
pub async fn start(app: &App, user: &User) -> AppResult<Tokens> {
    let now = app.clock.now();
    let session = Session {
        id: SessionId::generate(),
        user_id: user.id.clone(),
        created_at: now,
        expires_at: now + chrono::Duration::days(REFRESH_DAYS),
        revoked_at: None,
        version: 1,
    };
    let (refresh, hash) = new_refresh(&user.id, &session.id);
    let stored = RefreshToken {
        session_id: session.id.clone(),
        expires_at: session.expires_at,
        rotated_at: None,
        version: 1,
    };
    app.table
        .transact(vec![
            TxOp::Put {
                item: session.to_item()?,
                condition: Some(Condition::NotExists),
            },
            TxOp::Put {
                item: refresh_item(&user.id, &hash, &stored)?,
                condition: Some(Condition::NotExists),
            },
        ])
        .await?;
    tokens(app, user, &session, refresh).await
}

async fn tokens(app: &App, user: &User, session: &Session, refresh_token: String) -> AppResult<Tokens> {
    let access = token::issue(app, &user.id, &user.email, &session.id).await?;
    Ok(Tokens {
        access_token: access.token,
        access_expires_at: access.expires_at,
        refresh_token,
        refresh_expires_at: session.expires_at,
    })
}

fn not_valid() -> AppError {
    AppError::Unauthorized("the refresh token is not valid: sign in again".into())
}

fn ended() -> AppError {
    AppError::SessionRevoked("this session has ended: sign in again".into())
}

/// Exchanges a refresh token for the next one and a new access token. The old token stops
/// working in the same transaction that stores the new one; a token already exchanged (or
/// exchanged by a concurrent call a moment earlier) revokes its session.
pub async fn refresh(app: &App, presented: &str) -> AppResult<(User, Tokens)> {
    let mut parts = presented.splitn(3, '.');
    let (Some(user_id), Some(session_id), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(not_valid());
    };
    let (Ok(user_id), Ok(session_id)) = (UserId::parse(user_id, "user"), SessionId::parse(session_id, "session")) else {
        return Err(not_valid());
    };
    let hash = sha256_hex(presented.as_bytes());
    let keys = [
        refresh_key(&user_id, &hash),
        session_key(&user_id, &session_id),
        Key::new(keys::user_pk(&user_id), keys::PROFILE_SK),
    ];
    let mut read = app.table.get_many(&keys).await?.into_iter();
    let stored: RefreshToken = read.next().flatten().map(from_item).transpose()?.ok_or_else(not_valid)?;
    let session: Option<Session> = read.next().flatten().map(from_item).transpose()?;
    let user: Option<User> = read.next().flatten().map(from_item).transpose()?;
    let now = app.clock.now();
    // The key holds the hash of the whole token, so only the ids it was issued with match.
    if stored.session_id != session_id || stored.expires_at <= now {
        return Err(not_valid());
    }
    let (Some(session), Some(user)) = (session, user) else {
        return Err(ended());
    };
    if stored.rotated_at.is_some() {
        revoke_reused(app, &session, now).await?;
        return Err(reused());
    }
    if !session.live(now) {
        return Err(ended());
    }
    let renewed = Session {
        expires_at: now + chrono::Duration::days(REFRESH_DAYS),
        version: session.version + 1,
        ..session.clone()
    };
    let (next, next_hash) = new_refresh(&user.id, &session.id);
    let rotated = RefreshToken {
        rotated_at: Some(now),
        version: stored.version + 1,
        ..stored.clone()
    };
    let fresh = RefreshToken {
        session_id: session.id.clone(),
        expires_at: renewed.expires_at,
        rotated_at: None,
        version: 1,
    };
    let ops = vec![
        TxOp::Put {
            item: refresh_item(&user.id, &hash, &rotated)?,
            condition: Some(Condition::VersionEquals(stored.version)),
        },
        TxOp::Put {
            item: refresh_item(&user.id, &next_hash, &fresh)?,
            condition: Some(Condition::NotExists),
        },
        TxOp::Put {
            item: renewed.to_item()?,
            condition: Some(Condition::VersionEquals(session.version)),
        },
    ];
    match app.table.transact(ops).await {
        Ok(()) => {
            let tokens = tokens(app, &user, &renewed, next).await?;
            Ok((user, tokens))
        }
        // Another call exchanged this token first: two holders of one token.
        Err(TableError::ConditionFailed { op: Some(0) }) => {
            let current = read_session(app, &user.id, &session.id).await?;
            if let Some(current) = current {
                revoke_reused(app, &current, now).await?;
            }
            Err(reused())
        }
        Err(TableError::ConditionFailed { .. }) => Err(ended()),
        Err(e) => Err(e.into()),
    }
}

fn reused() -> AppError {
    AppError::SessionRevoked("this refresh token was used already, so its session has been ended: sign in again".into())
}

/// Revokes a session whose refresh token came back after its rotation.
async fn revoke_reused(app: &App, session: &Session, now: DateTime<Utc>) -> AppResult<()> {
    tracing::warn!(user_id = %session.user_id, session_id = %session.id, "a rotated refresh token was presented: session revoked");
    end(app, session.clone(), now).await
}

/// Revokes a session, read again and retried when it was refreshed meanwhile: a refresh
/// writes only over the version it read, so a revocation that lands is never undone.
async fn end(app: &App, mut session: Session, now: DateTime<Utc>) -> AppResult<()> {
    for _ in 0..3 {
        if session.revoked_at.is_some() {
            return Ok(());
        }
        match app
            .table
            .put(session.revoked(now).to_item()?, Some(Condition::VersionEquals(session.version)))
            .await
        {
            Ok(()) => return Ok(()),
            Err(TableError::ConditionFailed { .. }) => match read_session(app, &session.user_id, &session.id).await? {
                Some(current) => session = current,
                None => return Ok(()),
            },
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::conflict("CONFLICT", "the session changed meanwhile: try again"))
}

async fn read_session(app: &App, user_id: &UserId, session_id: &SessionId) -> AppResult<Option<Session>> {
    app.table.get(&session_key(user_id, session_id)).await?.map(from_item).transpose()
}

/// Signs one session out. Signing out a session that has ended already changes nothing.
pub async fn revoke(app: &App, principal: &Principal) -> AppResult<()> {
    match read_session(app, principal.user_id(), principal.session_id()).await? {
        Some(session) => end(app, session, app.clock.now()).await,
        None => Ok(()),
    }
}

/// The writes that revoke every live session of a user but `keep`.
async fn revocations(app: &App, user_id: &UserId, keep: Option<&SessionId>) -> AppResult<Vec<TxOp>> {
    let now = app.clock.now();
    let items = query_all(&*app.table, Query::partition(keys::user_pk(user_id)).prefix(keys::SESSION_PREFIX)).await?;
    let mut ops = Vec::new();
    for item in items {
        let session: Session = from_item(item)?;
        if session.live(now) && Some(&session.id) != keep {
            ops.push(TxOp::Put {
                item: session.revoked(now).to_item()?,
                condition: Some(Condition::VersionEquals(session.version)),
            });
        }
    }
    Ok(ops)
}

/// Signs out every session of a user but `keep`, in the transaction of `change` (a new
/// password), so that neither happens without the other. A session refreshed meanwhile
/// fails the transaction, which is read and tried again; `change`'s own condition failing
/// is the caller's conflict. Past one transaction's room (some 95 live sessions), the rest
/// are revoked right after.
pub async fn end_all_with(app: &App, user_id: &UserId, keep: Option<&SessionId>, change: Vec<TxOp>) -> AppResult<()> {
    for _ in 0..3 {
        let mut ops = change.clone();
        let room = MAX_TRANSACTION_OPS - ops.len();
        let mut revocations = revocations(app, user_id, keep).await?.into_iter();
        ops.extend(revocations.by_ref().take(room));
        match app.table.transact(ops).await {
            Ok(()) => {
                let rest: Vec<TxOp> = revocations.collect();
                for chunk in rest.chunks(MAX_TRANSACTION_OPS) {
                    app.table.transact(chunk.to_vec()).await?;
                }
                return Ok(());
            }
            Err(TableError::ConditionFailed { op: Some(i) }) if i >= change.len() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::conflict(
        "CONFLICT",
        "the account's sessions changed meanwhile: try again",
    ))
}

/// Whether the session an access token names is still live: 401 `SESSION_REVOKED` when it
/// was signed out, ended by a new password, or has expired. `item` is the session as read.
/// Read from its attributes as stored (no revocation; `ttl`, its expiry, ahead), not as a
/// whole [`Session`]: every function checks sessions, and only api-auth needs the model.
pub fn check_read(principal: &Principal, item: Option<Item>, now: DateTime<Utc>) -> AppResult<()> {
    let live = item.is_some_and(|item| {
        item.get("revokedAt").is_none_or(serde_json::Value::is_null)
            && item
                .get("ttl")
                .and_then(serde_json::Value::as_i64)
                .is_some_and(|ttl| ttl > now.timestamp())
    });
    if !live {
        return Err(AppError::SessionRevoked("this session was signed out: sign in again".into()));
    }
    principal.session_checked();
    Ok(())
}

/// The session's key, for a caller that reads it with other items in one store call.
pub fn key_of(principal: &Principal) -> Key {
    session_key(principal.user_id(), principal.session_id())
}

/// [`check_read`] with a read of its own, for the routes that read no membership.
pub async fn check(app: &App, principal: &Principal) -> AppResult<()> {
    let item = app.table.get(&key_of(principal)).await?;
    check_read(principal, item, app.clock.now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, TestApp};

    async fn signed_in(t: &TestApp) -> (User, Tokens) {
        let user = crate::auth::create_user(&t.app, "ada@example.com", "Ada", "a long password")
            .await
            .unwrap();
        let tokens = start(&t.app, &user).await.unwrap();
        (user, tokens)
    }

    async fn principal(t: &TestApp, tokens: &Tokens) -> Principal {
        token::verify(&t.app, Some(&tokens.access_token)).await.unwrap()
    }

    fn is_revoked<T: std::fmt::Debug>(outcome: AppResult<T>) -> bool {
        matches!(outcome, Err(AppError::SessionRevoked(_)))
    }

    #[tokio::test]
    async fn a_refresh_token_works_once_and_its_successor_takes_over() {
        let t = testing::app();
        let (_, first) = signed_in(&t).await;
        assert!(first.refresh_token.len() > 43 + 2 * 26, "256 random bits after the ids");
        let (_, second) = refresh(&t.app, &first.refresh_token).await.unwrap();
        assert_ne!(second.refresh_token, first.refresh_token);
        let (_, third) = refresh(&t.app, &second.refresh_token).await.unwrap();
        check(&t.app, &principal(&t, &third).await).await.unwrap();
        assert!(matches!(refresh(&t.app, "not.a.token").await, Err(AppError::Unauthorized(_))));
    }

    #[tokio::test]
    async fn a_rotated_token_presented_again_ends_the_whole_session() {
        let t = testing::app();
        let (_, stolen) = signed_in(&t).await;
        let (_, owners) = refresh(&t.app, &stolen.refresh_token).await.unwrap();
        let access = principal(&t, &owners).await;
        check(&t.app, &access).await.unwrap();
        assert!(is_revoked(refresh(&t.app, &stolen.refresh_token).await));
        assert!(
            is_revoked(check(&t.app, &access).await),
            "the owner's access token of that session stops"
        );
        assert!(
            is_revoked(refresh(&t.app, &owners.refresh_token).await),
            "and so does the newest refresh token"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_refreshes_of_one_token_at_once_leave_at_most_one_and_then_none() {
        let t = testing::app();
        let (_, tokens) = signed_in(&t).await;
        let calls = (0..2).map(|_| {
            let app = t.app.clone();
            let token = tokens.refresh_token.clone();
            tokio::spawn(async move { refresh(&app, &token).await })
        });
        let outcomes = futures::future::join_all(calls).await;
        let won: Vec<Tokens> = outcomes.into_iter().filter_map(|o| o.unwrap().ok().map(|(_, t)| t)).collect();
        assert!(won.len() <= 1);
        // Either the second call saw the first's rotation (reuse: the session ends) or it
        // lost the race in the transaction (the same); no holder keeps going.
        for tokens in won {
            assert!(is_revoked(refresh(&t.app, &tokens.refresh_token).await));
        }
    }

    #[tokio::test]
    async fn signing_out_ends_one_session_and_signing_out_everywhere_ends_all() {
        let t = testing::app();
        let (user, first) = signed_in(&t).await;
        let second = start(&t.app, &user).await.unwrap();
        let third = start(&t.app, &user).await.unwrap();
        revoke(&t.app, &principal(&t, &first).await).await.unwrap();
        assert!(is_revoked(check(&t.app, &principal(&t, &first).await).await));
        assert!(is_revoked(refresh(&t.app, &first.refresh_token).await));
        check(&t.app, &principal(&t, &second).await).await.unwrap();
        let keep = principal(&t, &third).await;
        end_all_with(&t.app, &user.id, Some(keep.session_id()), Vec::new()).await.unwrap();
        assert!(is_revoked(check(&t.app, &principal(&t, &second).await).await));
        check(&t.app, &keep).await.unwrap();
        end_all_with(&t.app, &user.id, None, Vec::new()).await.unwrap();
        assert!(is_revoked(check(&t.app, &keep).await));
    }

    #[tokio::test]
    async fn a_session_ends_thirty_days_after_its_last_refresh() {
        let t = testing::app();
        let (_, tokens) = signed_in(&t).await;
        t.clock.advance(chrono::Duration::days(29));
        let (_, renewed) = refresh(&t.app, &tokens.refresh_token).await.unwrap();
        t.clock.advance(chrono::Duration::days(29));
        let (_, again) = refresh(&t.app, &renewed.refresh_token).await.unwrap();
        t.clock.advance(chrono::Duration::days(31));
        assert!(refresh(&t.app, &again.refresh_token).await.is_err());
    }
}
