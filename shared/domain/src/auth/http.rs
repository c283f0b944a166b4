use super::{PublicUser, password, token};
use crate::api::router::Params;
use crate::api::{Created, Json, Reply, Req, route_group};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::model;
use crate::ratelimit::{self, Window};
use serde::{Deserialize, Serialize};

route_group! {
    function: "api-auth", tag: "Auth", prefixes: &["/v1/auth"], body_limit: None, ports: &[];
    /// Create an account; answers a token as sign-in does.
    POST "/v1/auth/signup" public => signup, errors [EMAIL_TAKEN, RATE_LIMITED];
    /// Sign in with email and password.
    POST "/v1/auth/login" public => login, errors [UNAUTHORIZED, RATE_LIMITED];
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

/// A signed-in user and the bearer token for their next requests.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct SignedIn {
    user: PublicUser,
    token: String,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    expires_at: chrono::DateTime<chrono::Utc>,
}

async fn signed_in(app: &App, user: super::User) -> AppResult<SignedIn> {
    let issued = token::issue(app, &user.id, &user.email).await?;
    Ok(SignedIn {
        user: PublicUser::from(user),
        token: issued.token,
        expires_at: issued.expires_at,
    })
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
    Reply::created(signed_in(app, user).await?)
}

async fn login(app: &App, req: Req<Json<LoginInput>>, _: Params) -> AppResult<Reply<SignedIn>> {
    let input = req.json()?;
    let email = model::email("email", &input.email)?;
    if input.password.len() > password::MAX_LENGTH * 4 {
        return Err(AppError::validation("password is too long"));
    }
    let user = super::login(app, &email, &input.password, req.source_ip.as_deref()).await?;
    Reply::ok(signed_in(app, user).await?)
}

async fn me(app: &App, req: Req, _: Params) -> AppResult<Reply<PublicUser>> {
    let principal = req.principal()?;
    let user = super::user_by_id(app, principal.user_id())
        .await?
        .ok_or_else(|| AppError::Unauthorized("the account no longer exists".into()))?;
    Reply::ok(PublicUser::from(user))
}
