//! Links mailed to an address to prove it is the user's: a password reset (valid 1 hour) and
//! an email verification (valid 7 days). Each works once; only its SHA-256 is stored, in the
//! user's partition, and the token reads `<userId>.<secret>` so that its one read needs no
//! index.

use super::User;
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::UserId;
use crate::keys;
use crate::model::{from_item, sha256_hex, to_item};
use crate::ports::mailer::Email;
use crate::ports::table::{Condition, Key, TxOp};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    PasswordReset,
    VerifyEmail,
}

impl Link {
    fn lifetime(self) -> chrono::Duration {
        match self {
            Link::PasswordReset => chrono::Duration::hours(1),
            Link::VerifyEmail => chrono::Duration::days(7),
        }
    }

    fn sk(self, hash: &str) -> String {
        match self {
            Link::PasswordReset => keys::reset_sk(hash),
            Link::VerifyEmail => keys::verify_sk(hash),
        }
    }

    fn page(self) -> &'static str {
        match self {
            Link::PasswordReset => "reset-password",
            Link::VerifyEmail => "verify-email",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Link::PasswordReset => "password reset link",
            Link::VerifyEmail => "verification link",
        }
    }
}

/// A link as stored: for the address it was sent to, which must still be the user's.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    email: String,
    #[serde(with = "crate::clock::rfc3339")]
    expires_at: DateTime<Utc>,
}

/// Stores a fresh link for the user's address and mails it.
pub async fn send(app: &App, user: &User, link: Link) -> AppResult<()> {
    let token = format!("{}.{}", user.id, crate::model::secret_token());
    let hash = sha256_hex(token.as_bytes());
    let expires_at = app.clock.now() + link.lifetime();
    let mut item = to_item(
        &keys::user_pk(&user.id),
        &link.sk(&hash),
        &Stored {
            email: user.email.clone(),
            expires_at,
        },
    )?;
    item.insert("ttl".into(), expires_at.timestamp().into());
    app.table.put(item, Some(Condition::NotExists)).await?;
    // The token is URL-safe as it is (a ULID, a dot and base64url).
    let url = format!("{}/{}?token={token}", app.settings.app_url.trim_end_matches('/'), link.page());
    let (subject, text) = match link {
        Link::PasswordReset => (
            "Reset your Chief password".to_string(),
            format!(
                "Someone (we hope you) asked to reset the password of your Chief account.\n\nChoose a new password:\n{url}\n\nOr reset it through the API with this token:\n{token}\n\nThe link works once, until {}. If you did not ask, ignore this mail: your password stays as it is.\n",
                crate::clock::timestamp(expires_at)
            ),
        ),
        Link::VerifyEmail => (
            "Verify your email address for Chief".to_string(),
            format!(
                "Welcome to Chief, {}.\n\nVerify your address:\n{url}\n\nOr verify it through the API with this token:\n{token}\n\nThe link works until {}.\n",
                user.name,
                crate::clock::timestamp(expires_at)
            ),
        ),
    };
    app.mailer
        .send(Email {
            to: user.email.clone(),
            subject,
            text,
        })
        .await?;
    Ok(())
}

/// The user a presented link belongs to, and the write that uses the link up (for the
/// caller's transaction: the link is spent by the change it allows, or not at all).
pub async fn redeem(app: &App, token: &str, link: Link) -> AppResult<(User, TxOp)> {
    let invalid = || AppError::validation(format!("the {} is not valid or has expired: ask for a new one", link.what()));
    let (user_id, _) = token.split_once('.').ok_or_else(invalid)?;
    let user_id = UserId::parse(user_id, "user").map_err(|_| invalid())?;
    let hash = sha256_hex(token.as_bytes());
    let key = Key::new(keys::user_pk(&user_id), link.sk(&hash));
    let mut read = app
        .table
        .get_many(&[key.clone(), Key::new(keys::user_pk(&user_id), keys::PROFILE_SK)])
        .await?
        .into_iter();
    let stored: Stored = read.next().flatten().map(from_item).transpose()?.ok_or_else(invalid)?;
    let user: User = read.next().flatten().map(from_item).transpose()?.ok_or_else(invalid)?;
    if stored.expires_at <= app.clock.now() || !stored.email.eq_ignore_ascii_case(&user.email) {
        return Err(invalid());
    }
    Ok((
        user,
        TxOp::Delete {
            key,
            condition: Some(Condition::Exists),
        },
    ))
}

/// The writes that spend every other outstanding reset link of a user (after a reset).
pub async fn other_resets(app: &App, user_id: &UserId, spent: &TxOp) -> AppResult<Vec<TxOp>> {
    let query = crate::ports::table::Query::partition(keys::user_pk(user_id)).prefix(keys::RESET_PREFIX);
    let items = crate::ports::table::query_all(&*app.table, query).await?;
    let spent = match spent {
        TxOp::Delete { key, .. } => Some(key),
        _ => None,
    };
    Ok(items
        .iter()
        .filter_map(|item| crate::ports::table::item_key(item).ok())
        .filter(|key| Some(key) != spent)
        .map(|key| TxOp::Delete { key, condition: None })
        .collect())
}
