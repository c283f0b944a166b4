//! Access tokens: JWT, HS256 only (the algorithm is pinned, so `none` or RS/HS confusion is
//! refused), with issuer and expiry checked and no leeway. Each names its session (`sid`),
//! which the request checks is still live (see `sessions`).

use super::Principal;
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::{SessionId, UserId};
use crate::ports::secrets::SecretName;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

const ISSUER: &str = "chief";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    email: String,
    sid: String,
    iss: String,
    iat: i64,
    exp: i64,
}

async fn signing_key(app: &App) -> AppResult<String> {
    Ok(app.secrets.get(SecretName::JwtSigningKey).await?)
}

pub struct Issued {
    pub token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

pub async fn issue(app: &App, user_id: &str, email: &str, session_id: &SessionId) -> AppResult<Issued> {
    let now = app.clock.now();
    let expires_at = now + app.settings.access_token_ttl;
    let claims = Claims {
        sub: user_id.into(),
        email: email.into(),
        sid: session_id.to_string(),
        iss: ISSUER.into(),
        iat: now.timestamp(),
        exp: expires_at.timestamp(),
    };
    let key = signing_key(app).await?;
    let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(key.as_bytes())).map_err(|e| {
        AppError::Internal {
            what: "the token could not be signed".into(),
            cause: Some(e.into()),
        }
    })?;
    Ok(Issued { token, expires_at })
}

pub async fn verify(app: &App, token: Option<&str>) -> AppResult<Principal> {
    let token = token.ok_or_else(|| AppError::Unauthorized("sign in first: send Authorization: Bearer <token>".into()))?;
    let key = signing_key(app).await?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    // A token without `sid` (issued before sessions) does not decode: its holder signs in again.
    validation.set_required_spec_claims(&["exp", "sub", "iss"]);
    validation.leeway = 0;
    // Expiry is checked against the app's clock below, so tests can move time.
    validation.validate_exp = false;
    let data =
        jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(key.as_bytes()), &validation).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => AppError::TokenExpired,
            _ => AppError::Unauthorized("the token is not valid: sign in again".into()),
        })?;
    if data.claims.exp <= app.clock.now().timestamp() {
        return Err(AppError::TokenExpired);
    }
    // Signed by this app, but checked as any id from outside: a token is a way in.
    let invalid = |_| AppError::Unauthorized("the token is not valid: sign in again".into());
    let user_id = UserId::parse(&data.claims.sub, "the token's subject").map_err(invalid)?;
    let session_id = SessionId::parse(&data.claims.sid, "the token's session").map_err(invalid)?;
    Ok(Principal::verified(user_id, data.claims.email, session_id))
}
