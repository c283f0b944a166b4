use super::{PublicUser, password, token};
use crate::api::router::Params;
use crate::api::{Reply, Req, RouteGroup, route};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::model;
use crate::ratelimit::{self, Window};
use serde::Deserialize;
use serde_json::json;

/// `api-auth`: sign-up, sign-in and the signed-in user.
pub const ROUTES: RouteGroup = RouteGroup {
    function: "api-auth",
    prefixes: &["/v1/auth"],
    body_limit: None,
    ports: &[],
    routes: &[
        route!(public POST "/v1/auth/signup" => signup),
        route!(public POST "/v1/auth/login" => login),
        route!(GET "/v1/auth/me" => me),
    ],
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignupInput {
    email: String,
    password: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginInput {
    email: String,
    password: String,
}

async fn signed_in(app: &App, user: super::User, status_created: bool) -> AppResult<Reply> {
    let issued = token::issue(app, &user.id, &user.email).await?;
    let data = json!({
        "user": PublicUser::from(user),
        "token": issued.token,
        "expiresAt": crate::clock::timestamp(issued.expires_at),
    });
    if status_created { Reply::created(data) } else { Reply::ok(data) }
}

async fn signup(app: &App, req: Req, _: Params) -> AppResult<Reply> {
    let input: SignupInput = req.json()?;
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
    signed_in(app, user, true).await
}

async fn login(app: &App, req: Req, _: Params) -> AppResult<Reply> {
    let input: LoginInput = req.json()?;
    let email = model::email("email", &input.email)?;
    if input.password.len() > password::MAX_LENGTH * 4 {
        return Err(AppError::validation("password is too long"));
    }
    let user = super::login(app, &email, &input.password, req.source_ip.as_deref()).await?;
    signed_in(app, user, false).await
}

async fn me(app: &App, req: Req, _: Params) -> AppResult<Reply> {
    let principal = req.principal()?;
    let user = super::user_by_id(app, principal.user_id())
        .await?
        .ok_or_else(|| AppError::Unauthorized("the account no longer exists".into()))?;
    Reply::ok(PublicUser::from(user))
}
