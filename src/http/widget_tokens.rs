//! `/widget/generate`, `/widget/refresh`, `/widget/revoke`, `/widget/tokens`:
//! the tokens a site owner embeds with the widget.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ClientAddr, CurrentUser, Json, Query};
use crate::auth::tokens::token_hash;
use crate::auth::widget::{IssuedWidgetToken, WidgetError};
use crate::bots::embed_code;
use crate::clock::now_ms;
use crate::error::Code;
use crate::model::{RevokeWidgetTokens, WidgetBot, WidgetTokenInfo};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(generate))
        .routes(routes!(refresh))
        .routes(routes!(revoke))
        .routes(routes!(list_tokens))
}

impl From<WidgetError> for ApiError {
    fn from(err: WidgetError) -> Self {
        match err {
            WidgetError::Invalid => Self::new(Code::InvalidToken, "The widget token is not valid."),
            WidgetError::Expired => Self::new(Code::TokenExpired, "The widget token has expired."),
            WidgetError::Revoked => {
                Self::new(Code::TokenRevoked, "The widget token was revoked by the site's owner.")
            }
            WidgetError::BotInactive => Self::new(Code::BotInactive, "This assistant is switched off."),
            WidgetError::OriginNotAllowed => super::visitors::origin_refused(),
            WidgetError::Store(err) => err.into(),
            WidgetError::Sign(err) => Self::internal(err),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateInput {
    bot_id: i64,
    /// 1-3650; default `widget.token_expire_days`.
    expires_in_days: Option<i64>,
}

/// A new token with the snippet that embeds the widget.
#[derive(Serialize, ToSchema)]
pub struct Generated {
    #[serde(flatten)]
    issued: IssuedWidgetToken,
    /// Ready to paste into a page: the script tag with the token and the bot's look.
    embed_code: String,
}

/// Generates a widget token for one of the caller's bots. The token is shown
/// this once; the server keeps only its hash.
#[utoipa::path(post, path = "/widget/generate", tag = "widget tokens", security(("bearer" = [])),
    request_body = GenerateInput, responses(
        (status = 201, body = Generated),
        (status = 404, description = "No such bot of yours", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn generate(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(input): Json<GenerateInput>,
) -> Result<(StatusCode, Json<Generated>), ApiError> {
    let days = input.expires_in_days.unwrap_or_else(|| state.config.widget.token_expire_days.into());
    if !(1..=3650).contains(&days) {
        return Err(ApiError::field("expires_in_days", "must be between 1 and 3650"));
    }
    let bot = state.visible_bot(&user, input.bot_id).await?;
    let issued = state.auth.generate_widget_token(bot.id, days, user.id).await?;
    let embed_code = embed_code(state.config.widget_base_url(), &issued.token, &bot.fields());
    Ok((StatusCode::CREATED, Json(Generated { issued, embed_code })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    token: String,
}

/// Gives a new token for a valid one, or one that expired less than
/// `widget.refresh_grace_days` ago; needs no other credential. The old token
/// keeps working until it expires (it is still in the site's page).
#[utoipa::path(post, path = "/widget/refresh", tag = "widget tokens", request_body = TokenInput, responses(
        (status = 200, body = IssuedWidgetToken),
        (status = 401, description = "`invalid_token`, `token_expired` or `token_revoked`", body = ErrorBody),
        (status = 403, description = "`bot_inactive` or `origin_not_allowed`", body = ErrorBody),
    ))]
async fn refresh(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    Json(input): Json<TokenInput>,
) -> Result<Json<IssuedWidgetToken>, ApiError> {
    super::visitors::limit_address(&state, &client).await?;
    let site_allowed = |bot: &WidgetBot| super::visitors::check_origin(&state, bot, &headers).is_ok();
    Ok(Json(state.auth.refresh_widget_token(input.token.trim(), site_allowed).await?))
}

/// Which tokens to revoke: exactly one of the three.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeInput {
    /// A raw token.
    token: Option<String>,
    /// A token by id; the tokens widgets refreshed from it go with it.
    token_id: Option<i64>,
    /// Every token of this bot.
    bot_id: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct Revoked {
    /// Tokens revoked by this request (ones already revoked are not counted).
    revoked: u64,
}

/// Revokes a token (with those refreshed from it), or all of a bot's tokens;
/// widgets using them are refused from their next request on.
#[utoipa::path(post, path = "/widget/revoke", tag = "widget tokens", security(("bearer" = [])),
    request_body = RevokeInput, responses(
        (status = 200, body = Revoked),
        (status = 404, body = ErrorBody),
        (status = 422, description = "Not exactly one of `token`, `token_id`, `bot_id`", body = ErrorBody),
    ))]
async fn revoke(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(input): Json<RevokeInput>,
) -> Result<Json<Revoked>, ApiError> {
    let which = match (input.token, input.token_id, input.bot_id) {
        (Some(token), None, None) => {
            let row = state.store.widget_token_by_hash(&token_hash(token.trim())).await?;
            RevokeWidgetTokens::Token(row.ok_or_else(|| ApiError::not_found("Token"))?.id)
        }
        (None, Some(id), None) => RevokeWidgetTokens::Token(id),
        (None, None, Some(bot_id)) => RevokeWidgetTokens::Bot(state.visible_bot(&user, bot_id).await?.id),
        _ => return Err(ApiError::field("body", "give exactly one of `token`, `token_id` or `bot_id`")),
    };
    if let RevokeWidgetTokens::Token(id) = which
        && !state.store.widget_token_visible(user.id, id).await?
    {
        return Err(ApiError::not_found("Token"));
    }
    Ok(Json(Revoked { revoked: state.store.revoke_widget_tokens(user.id, which, now_ms()).await? }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenFilter {
    bot_id: i64,
}

/// A bot's tokens, newest first: never the tokens themselves.
#[utoipa::path(get, path = "/widget/tokens", tag = "widget tokens", security(("bearer" = [])),
    params(TokenFilter), responses((status = 200, body = [WidgetTokenInfo]), (status = 404, body = ErrorBody)))]
async fn list_tokens(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(filter): Query<TokenFilter>,
) -> Result<Json<Vec<WidgetTokenInfo>>, ApiError> {
    let bot = state.visible_bot(&user, filter.bot_id).await?;
    Ok(Json(state.store.list_widget_tokens(user.id, bot.id).await?))
}
