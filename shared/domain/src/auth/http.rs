use super::{PublicUser, User, account, google, password, sessions};
use crate::api::router::Params;
use crate::api::{Accepted, Created, Json, Reply, Req, route_group};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::model;
use crate::ports::Port;
use crate::ratelimit::{self, Window};
use serde::{Deserialize, Serialize};

route_group! {
    function: "api-auth", tag: "Auth", prefixes: &["/v1/auth"], body_limit: None, ports: &[Port::Mailer, Port::GoogleKeys];
    /// Create an account; answers tokens as sign-in does, and mails a link to verify the address.
    POST "/v1/auth/signup" public => signup, errors [EMAIL_TAKEN, RATE_LIMITED];
    /// Sign in with email and password.
    POST "/v1/auth/login" public => login, errors [UNAUTHORIZED, RATE_LIMITED];
    /// Sign in with the ID token Google Identity Services gave the web app.
    POST "/v1/auth/google" public => google_sign_in, errors [UNAUTHORIZED, RATE_LIMITED, GOOGLE_NOT_CONFIGURED, EMAIL_TAKEN, CONFLICT];
    /// Exchange a refresh token for new tokens; the one sent stops working. Sending one that
    /// was exchanged already ends its session (401 `SESSION_REVOKED`).
    POST "/v1/auth/refresh" public => refresh, errors [UNAUTHORIZED, SESSION_REVOKED, CONFLICT];
    /// Sign out this session: its access and refresh tokens stop working.
    POST "/v1/auth/logout" => logout, errors [CONFLICT];
    /// Sign out every session of the user, this one included.
    POST "/v1/auth/logout-all" => logout_all, errors [CONFLICT];
    /// Change the password, knowing the current one; every other session is signed out.
    POST "/v1/auth/password" => change_password, errors [RATE_LIMITED, CONFLICT];
    /// Mail a password reset link (valid 1 hour, once) if the address has an account; the
    /// answer is the same either way.
    POST "/v1/auth/password-reset" public => request_reset, errors [RATE_LIMITED];
    /// Set a new password with a reset link's token; every session is signed out.
    POST "/v1/auth/password-reset/confirm" public => confirm_reset, errors [RATE_LIMITED, CONFLICT];
    /// Verify the address with the token of the link mailed at sign-up.
    POST "/v1/auth/verify-email" public => verify_email, errors [CONFLICT];
    /// Mail a new verification link (a few an hour).
    POST "/v1/auth/verify-email/resend" => resend_verification, errors [RATE_LIMITED];
    /// The signed-in user.
    GET "/v1/auth/me" => me;
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SignupInput {
    email: String,
    password: String,
    name: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct LoginInput {
    email: String,
    password: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GoogleInput {
    id_token: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RefreshInput {
    refresh_token: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PasswordInput {
    current_password: String,
    new_password: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ResetInput {
    email: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConfirmInput {
    token: String,
    new_password: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct TokenInput {
    token: String,
}

/// A signed-in user and their tokens: `token` (the access token, for `Authorization:
/// Bearer`) until `expiresAt`; `refreshToken` for `/v1/auth/refresh` until `refreshExpiresAt`.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct SignedIn {
    user: PublicUser,
    token: String,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    expires_at: chrono::DateTime<chrono::Utc>,
    refresh_token: String,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    refresh_expires_at: chrono::DateTime<chrono::Utc>,
}

/// What a request that changes no data but the caller's own answers.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Done {
    message: &'static str,
}

fn answer(user: User, tokens: sessions::Tokens) -> SignedIn {
    SignedIn {
        user: PublicUser::from(user),
        token: tokens.access_token,
        expires_at: tokens.access_expires_at,
        refresh_token: tokens.refresh_token,
        refresh_expires_at: tokens.refresh_expires_at,
    }
}

async fn signed_in(app: &App, user: User) -> AppResult<SignedIn> {
    let tokens = sessions::start(app, &user).await?;
    Ok(answer(user, tokens))
}

async fn signup(app: &App, req: Req<Json<SignupInput>>, _: Params) -> AppResult<Created<SignedIn>> {
    let input = req.json()?;
    let email = model::email("email", &input.email)?;
    let name = model::name("name", &input.name, 100)?;
    password::check_strength(&input.password)?;
    // Each sign-up can lead to mail: a client address makes a bounded number an hour.
    let address = req.source_ip.as_deref().unwrap_or("unknown");
    Window::new(
        app,
        "SIGNUP#ADDRESS",
        address,
        Some(app.settings.signups_per_address_hour),
        ratelimit::HOUR,
    )
    .take(app, "too many sign-ups from this address: try again later")
    .await?;
    let user = super::create_user(app, &email, &name, &input.password).await?;
    tracing::info!(user_id = %user.id, "signed up");
    // The account works without it; a link can be asked for again (`verify-email/resend`).
    if let Err(e) = super::links::send(app, &user, super::links::Link::VerifyEmail).await {
        tracing::warn!(detail = %e.chain(), user_id = %user.id, "the verification mail could not be sent");
    }
    Reply::created(signed_in(app, user).await?)
}

async fn login(app: &App, req: Req<Json<LoginInput>>, _: Params) -> AppResult<Reply<SignedIn>> {
    let input = req.json()?;
    let email = model::email("email", &input.email)?;
    long_password(&input.password)?;
    let user = super::login(app, &email, &input.password, req.source_ip.as_deref()).await?;
    Reply::ok(signed_in(app, user).await?)
}

/// A password longer than any allowed is refused before any work is done on it.
fn long_password(password: &str) -> AppResult<()> {
    if password.len() > password::MAX_LENGTH * 4 {
        return Err(AppError::validation("password is too long"));
    }
    Ok(())
}

async fn google_sign_in(app: &App, req: Req<Json<GoogleInput>>, _: Params) -> AppResult<Reply<SignedIn>> {
    let input = req.json()?;
    let (user, tokens) = google::sign_in(app, &input.id_token, req.source_ip.as_deref()).await?;
    Reply::ok(answer(user, tokens))
}

async fn refresh(app: &App, req: Req<Json<RefreshInput>>, _: Params) -> AppResult<Reply<SignedIn>> {
    let input = req.json()?;
    if input.refresh_token.len() > 200 {
        return Err(AppError::Unauthorized("the refresh token is not valid: sign in again".into()));
    }
    let (user, tokens) = sessions::refresh(app, &input.refresh_token).await?;
    Reply::ok(answer(user, tokens))
}

async fn logout(app: &App, req: Req, _: Params) -> AppResult<Reply<Done>> {
    sessions::revoke(app, req.principal()?).await?;
    Reply::ok(Done { message: "signed out" })
}

async fn logout_all(app: &App, req: Req, _: Params) -> AppResult<Reply<Done>> {
    let principal = req.principal()?;
    sessions::end_all_with(app, principal.user_id(), None, Vec::new()).await?;
    Reply::ok(Done {
        message: "every session is signed out",
    })
}

async fn change_password(app: &App, req: Req<Json<PasswordInput>>, _: Params) -> AppResult<Reply<Done>> {
    let input = req.json()?;
    long_password(&input.current_password)?;
    account::change_password(
        app,
        req.principal()?,
        &input.current_password,
        &input.new_password,
        req.source_ip.as_deref(),
    )
    .await?;
    Reply::ok(Done {
        message: "password changed; every other session is signed out",
    })
}

async fn request_reset(app: &App, req: Req<Json<ResetInput>>, _: Params) -> AppResult<Accepted<Done>> {
    let input = req.json()?;
    let email = model::email("email", &input.email)?;
    account::request_reset(app, &email, req.source_ip.as_deref()).await?;
    Reply::accepted(Done {
        message: "if this address has an account, a link to reset its password is on its way",
    })
}

async fn confirm_reset(app: &App, req: Req<Json<ConfirmInput>>, _: Params) -> AppResult<Reply<Done>> {
    let input = req.json()?;
    if input.token.len() > 200 {
        return Err(AppError::validation(
            "the password reset link is not valid or has expired: ask for a new one",
        ));
    }
    account::confirm_reset(app, &input.token, &input.new_password, req.source_ip.as_deref()).await?;
    Reply::ok(Done {
        message: "password set; every session is signed out: sign in with the new password",
    })
}

async fn verify_email(app: &App, req: Req<Json<TokenInput>>, _: Params) -> AppResult<Reply<PublicUser>> {
    let input = req.json()?;
    if input.token.len() > 200 {
        return Err(AppError::validation(
            "the verification link is not valid or has expired: ask for a new one",
        ));
    }
    Reply::ok(PublicUser::from(account::verify_email(app, &input.token).await?))
}

async fn resend_verification(app: &App, req: Req, _: Params) -> AppResult<Accepted<Done>> {
    account::resend_verification(app, req.principal()?).await?;
    Reply::accepted(Done {
        message: "unless the address is verified already, a new link is on its way",
    })
}

async fn me(app: &App, req: Req, _: Params) -> AppResult<Reply<PublicUser>> {
    let principal = req.principal()?;
    let user = super::user_by_id(app, principal.user_id())
        .await?
        .ok_or_else(|| AppError::Unauthorized("the account no longer exists".into()))?;
    Reply::ok(PublicUser::from(user))
}
