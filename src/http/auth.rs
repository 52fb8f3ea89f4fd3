//! `/auth/*`: sign in, refresh, sign out, who am I.
//!
//! Scripts use `/auth/login`, `/auth/refresh` and `/auth/logout`, which carry
//! the refresh token in JSON. The admin console uses `/auth/console/*`, which
//! keep it in an `HttpOnly` cookie that the page's own script cannot read: a
//! script injected into the console could use the short-lived access token it
//! holds in memory, but not take away a login that lasts for weeks. The cookie
//! is `SameSite=Strict`, sent only to `/auth/console`, and those routes also
//! want the `X-Docent-Console` header, which no other site can add to a
//! request without a CORS preflight that platform routes never grant.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ClientAddr, CurrentUser, Json};
use crate::auth::{AuthError, HashError, TokenPair};
use crate::clock::serde_rfc3339;
use crate::error::Code;
use crate::validate;
use crate::workers::WorkerError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(console_login))
        .routes(routes!(console_refresh))
        .routes(routes!(console_logout))
}

/// The console's refresh cookie, and the one path it is sent to.
const COOKIE: &str = "docent_refresh";
const COOKIE_PATH: &str = "/auth/console";
/// The header the console's requests carry (any value).
const CONSOLE_HEADER: &str = "x-docent-console";

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
        validate::password(&body.password).map_err(|m| ApiError::field("password", m))?;
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

/// What the console gets: the access token only (the refresh token is a cookie).
#[derive(Serialize, ToSchema)]
pub struct ConsoleToken {
    access_token: String,
    /// Always `bearer`.
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: u64,
}

/// Signs in to the admin console: as `/auth/login`, but the refresh token is
/// set as an `HttpOnly` cookie for `/auth/console` instead of being returned.
/// Requests need the `X-Docent-Console` header.
#[utoipa::path(post, path = "/auth/console/login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = ConsoleToken, description = "Signed in; `Set-Cookie` holds the refresh token"),
    (status = 401, description = "Wrong username or password", body = ErrorBody),
    (status = 403, description = "The `X-Docent-Console` header is missing", body = ErrorBody),
    (status = 422, body = ErrorBody),
    (status = 429, description = "Too many failed logins; see Retry-After", body = ErrorBody),
))]
async fn console_login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Json(body): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    from_console(&headers)?;
    let Json(pair) = login(State(state.clone()), ClientAddr(client), Json(body)).await?;
    Ok(console_session(&state, pair))
}

/// Trades the console's refresh cookie for a new access token (and a new cookie).
#[utoipa::path(post, path = "/auth/console/refresh", tag = "auth", responses(
    (status = 200, body = ConsoleToken),
    (status = 401, description = "No cookie, or `invalid_token`, `token_expired`, `token_revoked`", body = ErrorBody),
    (status = 403, description = "The `X-Docent-Console` header is missing", body = ErrorBody),
))]
async fn console_refresh(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    from_console(&headers)?;
    let token =
        refresh_cookie(&headers).ok_or_else(|| ApiError::new(Code::Unauthorized, "Not signed in."))?;
    match state.auth.refresh(token).await {
        Ok(pair) => Ok(console_session(&state, pair.into())),
        // A cookie that no longer works is cleared with the error.
        Err(err) => Ok(with_cookie(ApiError::from(err).into_response(), &cookie(&state, "", 0))),
    }
}

/// Signs out of the console: the login ends and the cookie is cleared.
#[utoipa::path(post, path = "/auth/console/logout", tag = "auth", responses(
    (status = 204, description = "Signed out (also when there was no login)"),
    (status = 403, description = "The `X-Docent-Console` header is missing", body = ErrorBody),
))]
async fn console_logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    from_console(&headers)?;
    if let Some(token) = refresh_cookie(&headers) {
        match state.auth.logout(token).await {
            Ok(()) | Err(AuthError::InvalidToken) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(with_cookie(StatusCode::NO_CONTENT.into_response(), &cookie(&state, "", 0)))
}

fn from_console(headers: &HeaderMap) -> Result<(), ApiError> {
    if headers.contains_key(CONSOLE_HEADER) {
        Ok(())
    } else {
        Err(ApiError::new(Code::Forbidden, "Console routes need the X-Docent-Console header."))
    }
}

/// The refresh token in the request's cookies, if any.
fn refresh_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

fn console_session(state: &AppState, pair: TokenResponse) -> Response {
    let max_age = u64::from(state.config.auth.refresh_token_days) * 86_400;
    let body =
        ConsoleToken { access_token: pair.access_token, token_type: "bearer", expires_in: pair.expires_in };
    with_cookie(Json(body).into_response(), &cookie(state, &pair.refresh_token, max_age))
}

/// `Set-Cookie` for the refresh token (`max_age` 0 clears it). `Secure` when
/// the server's public address is HTTPS.
fn cookie(state: &AppState, value: &str, max_age: u64) -> String {
    let secure = if state.config.public_url.starts_with("https://") { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Path={COOKIE_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
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
