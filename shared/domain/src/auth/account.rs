//! What a user changes of their own account: the password (knowing it, or by a mailed reset
//! link) and the proof that the address is theirs.

use super::links::{self, Link};
use super::{LoginAttempt, Principal, User, password, sessions};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ratelimit::Window;

/// Sets a new password for a user who knows the current one, and signs out every other
/// session (the one asking stays). Wrong guesses count as failed sign-ins do.
pub async fn change_password(app: &App, principal: &Principal, current: &str, new: &str, source: Option<&str>) -> AppResult<()> {
    password::check_strength(new)?;
    let (attempt, wait) = LoginAttempt::reserve(app, "LOGIN", principal.email(), source).await?;
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let user = super::user_by_id(app, principal.user_id()).await?;
    if !super::checks(user.as_ref(), current) {
        return Err(AppError::Unauthorized("the current password is wrong".into()));
    }
    attempt.give_back(app).await;
    let user = user.ok_or_else(|| AppError::Unauthorized("the account no longer exists".into()))?;
    let changed = User {
        password_hash: password::hash(new)?,
        ..user
    };
    sessions::end_all_with(app, &changed.id, Some(principal.session_id()), vec![changed.updated()?]).await
}

/// Mails a reset link when the address has an account; answers the same either way, so the
/// answer tells nobody whether an address is registered. Counted as sign-ins are (per
/// address and email), apart from them, so that nobody fills an inbox with links.
pub async fn request_reset(app: &App, email: &str, source: Option<&str>) -> AppResult<()> {
    let (_attempt, wait) = LoginAttempt::reserve(app, "RESET", email, source).await?;
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let user = match super::user_id_by_email(app, email).await? {
        Some(id) => super::user_by_id(app, &id).await?,
        None => None,
    };
    if let Some(user) = user
        && let Err(e) = links::send(app, &user, Link::PasswordReset).await
    {
        // Told to nobody but the log: an error here would say the address has an account.
        tracing::error!(detail = %e.chain(), user_id = %user.id, "the password reset mail could not be sent");
    }
    Ok(())
}

/// Sets the password a reset link allows, spends the link (and any other reset link of the
/// user) and signs out every session, in one transaction. A reset also proves the address.
pub async fn confirm_reset(app: &App, token: &str, new: &str, source: Option<&str>) -> AppResult<()> {
    password::check_strength(new)?;
    let guesses = Window::new(
        app,
        "RESET#CONFIRM",
        source.unwrap_or("unknown"),
        Some(app.settings.login_failures_per_address),
        app.settings.login_window_seconds,
    );
    guesses.take(app, super::TOO_MANY).await?;
    let (user, spend) = links::redeem(app, token, Link::PasswordReset).await?;
    guesses.give_back(app).await;
    let mut change = links::other_resets(app, &user.id, &spend).await?;
    let changed = User {
        password_hash: password::hash(new)?,
        email_verified: true,
        ..user
    };
    change.push(changed.updated()?);
    change.push(spend);
    match sessions::end_all_with(app, &changed.id, None, change).await {
        Err(AppError::Conflict { .. }) => Err(AppError::validation(
            "the password reset link is not valid or has expired: ask for a new one",
        )),
        other => other,
    }
}

/// Marks the address verified with the link mailed to it. The link is not spent: using it
/// again (a second click) answers the verified user again, until it expires.
pub async fn verify_email(app: &App, token: &str) -> AppResult<User> {
    let (user, _) = links::redeem(app, token, Link::VerifyEmail).await?;
    if user.email_verified {
        return Ok(user);
    }
    let verified = User {
        email_verified: true,
        ..user
    };
    app.table.transact(vec![verified.updated()?]).await?;
    Ok(verified)
}

/// Mails a new verification link to a signed-in user whose address is not verified yet;
/// at most a few an hour.
pub async fn resend_verification(app: &App, principal: &Principal) -> AppResult<()> {
    let user = super::user_by_id(app, principal.user_id())
        .await?
        .ok_or_else(|| AppError::Unauthorized("the account no longer exists".into()))?;
    if user.email_verified {
        return Ok(());
    }
    Window::new(
        app,
        "VERIFY#USER",
        &user.id,
        Some(VERIFICATION_MAILS_PER_HOUR),
        crate::ratelimit::HOUR,
    )
    .take(
        app,
        "a verification link was mailed a few times this hour: look for it, or try again later",
    )
    .await?;
    links::send(app, &user, Link::VerifyEmail).await
}

const VERIFICATION_MAILS_PER_HOUR: i64 = 5;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{sessions, token};
    use crate::testing::{self, TestApp};

    async fn user(t: &TestApp) -> User {
        super::super::create_user(&t.app, "ada@example.com", "Ada", "the old password")
            .await
            .unwrap()
    }

    async fn session(t: &TestApp, user: &User) -> Principal {
        let tokens = sessions::start(&t.app, user).await.unwrap();
        token::verify(&t.app, Some(&tokens.access_token)).await.unwrap()
    }

    async fn live(t: &TestApp, principal: &Principal) -> bool {
        sessions::check(&t.app, principal).await.is_ok()
    }

    /// The token in the newest mail to `to` (its own line, after "with this token:").
    fn mailed_token(t: &TestApp, to: &str) -> String {
        let mails = t.recorder.emails.lock().unwrap();
        let mail = mails.iter().rev().find(|m| m.to == to).expect("a mail");
        let mut lines = mail.text.lines().skip_while(|l| !l.ends_with("with this token:"));
        lines.nth(1).expect("the token line").to_string()
    }

    #[tokio::test]
    async fn a_new_password_signs_out_every_other_session_and_a_wrong_current_one_changes_nothing() {
        let t = testing::app();
        let ada = user(&t).await;
        let (here, elsewhere) = (session(&t, &ada).await, session(&t, &ada).await);
        let wrong = change_password(&t.app, &here, "not the password", "a brand new password", None).await;
        assert!(matches!(wrong, Err(AppError::Unauthorized(_))));
        assert!(live(&t, &elsewhere).await);
        change_password(&t.app, &here, "the old password", "a brand new password", None)
            .await
            .unwrap();
        assert!(live(&t, &here).await && !live(&t, &elsewhere).await);
        assert!(
            super::super::login(&t.app, "ada@example.com", "a brand new password", None)
                .await
                .is_ok()
        );
        assert!(
            super::super::login(&t.app, "ada@example.com", "the old password", None)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_reset_link_is_mailed_only_to_an_account_works_once_and_ends_every_session() {
        let t = testing::app();
        let ada = user(&t).await;
        let before = session(&t, &ada).await;
        request_reset(&t.app, "nobody@example.com", None).await.unwrap();
        assert!(t.recorder.emails.lock().unwrap().iter().all(|m| m.to != "nobody@example.com"));
        request_reset(&t.app, "ada@example.com", None).await.unwrap();
        let first = mailed_token(&t, "ada@example.com");
        request_reset(&t.app, "ada@example.com", None).await.unwrap();
        let second = mailed_token(&t, "ada@example.com");
        confirm_reset(&t.app, &second, "the reset password", None).await.unwrap();
        assert!(!live(&t, &before).await);
        let user = super::super::login(&t.app, "ada@example.com", "the reset password", None)
            .await
            .unwrap();
        assert!(user.email_verified, "the link proved the address");
        for spent in [&second, &first] {
            let again = confirm_reset(&t.app, spent, "yet another password", None).await;
            assert!(matches!(again, Err(AppError::BadRequest { .. })), "{again:?}");
        }
    }

    #[tokio::test]
    async fn a_reset_link_expires_after_an_hour() {
        let t = testing::app();
        user(&t).await;
        request_reset(&t.app, "ada@example.com", None).await.unwrap();
        let token = mailed_token(&t, "ada@example.com");
        t.clock.advance(chrono::Duration::minutes(61));
        assert!(confirm_reset(&t.app, &token, "the reset password", None).await.is_err());
        assert!(confirm_reset(&t.app, "nonsense", "the reset password", None).await.is_err());
    }

    #[tokio::test]
    async fn a_verification_link_verifies_the_address_and_a_second_click_answers_the_same() {
        let t = testing::app();
        let ada = user(&t).await;
        assert!(!ada.email_verified);
        let principal = session(&t, &ada).await;
        resend_verification(&t.app, &principal).await.unwrap();
        let token = mailed_token(&t, "ada@example.com");
        assert!(verify_email(&t.app, &token).await.unwrap().email_verified);
        assert!(verify_email(&t.app, &token).await.unwrap().email_verified);
        let mails = t.recorder.emails.lock().unwrap().len();
        resend_verification(&t.app, &principal).await.unwrap();
        assert_eq!(t.recorder.emails.lock().unwrap().len(), mails, "nothing to send once verified");
        t.clock.advance(chrono::Duration::days(8));
        assert!(verify_email(&t.app, &token).await.is_err(), "expired");
    }
}
