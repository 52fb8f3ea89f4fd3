//! `/auth/*`: sign in, refresh, sign out, who am I.

use axum::extract::State;
use axum::http::StatusCode;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{ClientAddr, CurrentUser, Json};
use crate::auth::{AuthError, HashError, TokenPair, validate_password};
use crate::clock::serde_rfc3339;
use crate::error::{ApiError, Code, ErrorBody};
use crate::state::AppState;
use crate::workers::WorkerError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    access_token: String,
    refresh_token: String,
    /// Always `bearer`.
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: u64,
}

impl From<TokenPair> for TokenResponse {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            token_type: "bearer",
            expires_in: pair.expires_in,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    id: i64,
    username: String,
    is_admin: bool,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: i64,
}

/// Signs in. Wrong username and wrong password answer alike; repeated failures
/// for one username or from one address are refused for a while (429).
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 401, description = "Wrong username or password", body = ErrorBody),
    (status = 422, body = ErrorBody),
    (status = 429, description = "Too many failed logins; see Retry-After", body = ErrorBody),
))]
async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Json(body): Json<LoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    if body.password.chars().count() > 1024 {
        validate_password(&body.password).map_err(|m| ApiError::field("password", m))?;
    }
    let pair = state.auth.login(&body.username, SecretString::from(body.password), client).await?;
    Ok(Json(pair.into()))
}

/// Trades a refresh token for a new pair. Each refresh token works once;
/// presenting a used one again ends that whole login.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 401, description = "`invalid_token`, `token_expired` or `token_revoked`", body = ErrorBody),
))]
async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    Ok(Json(state.auth.refresh(&body.refresh_token).await?.into()))
}

/// Signs out: the login the refresh token belongs to stops working.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", request_body = RefreshRequest, responses(
    (status = 204, description = "Signed out"),
    (status = 401, body = ErrorBody),
))]
async fn logout(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    state.auth.logout(&body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
#[utoipa::path(get, path = "/auth/me", tag = "auth", security(("bearer" = [])), responses(
    (status = 200, body = Me),
    (status = 401, body = ErrorBody),
))]
async fn me(CurrentUser { user, .. }: CurrentUser) -> Json<Me> {
    Json(Me { id: user.id, username: user.username, is_admin: user.is_admin, created_at: user.created_at })
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::InvalidCredentials => {
                Self::new(Code::InvalidCredentials, "Wrong username or password.")
            }
            AuthError::Throttled(secs) => Self::rate_limited(secs),
            AuthError::InvalidToken => Self::new(Code::InvalidToken, "The token is not valid."),
            AuthError::TokenExpired => Self::new(Code::TokenExpired, "The token has expired."),
            AuthError::TokenRevoked => Self::new(Code::TokenRevoked, "The token was revoked; sign in again."),
            AuthError::BadInput(message) => Self::new(Code::ValidationFailed, message),
            AuthError::UsernameTaken => Self::new(Code::Conflict, "A user with this name already exists."),
            AuthError::Store(err) => err.into(),
            AuthError::Hash(HashError::Worker(WorkerError::Busy)) => {
                Self::new(Code::Unavailable, "The server is busy; try again in a moment.").retry_after(1)
            }
            other => Self::internal(other),
        }
    }
}
