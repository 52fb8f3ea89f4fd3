//! What the widget calls on a visitor's behalf: `/widget/session/start` and
//! `/widget/session/{session_id}/messages` (and `/widget/refresh`, in
//! `widget_tokens`).
//!
//! Every request carries a widget token (`Authorization: Bearer`), checked on
//! each request. A browser's `Origin` must be one the bot allows, one of
//! `widget.allowed_origins`, or the server's own; anything else is 403
//! `origin_not_allowed` (an empty list allows only the server's own pages).
//! These routes alone answer CORS, naming the requesting origin, never `*`:
//! preflights are answered for any origin (they carry no token, so they grant
//! nothing), and a refusal carries the header too, so the widget on a refused
//! site can read why and say so instead of failing with a console error.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::bots::is_session_id;
use super::error::{ApiError, ErrorBody};
use super::extract::{ClientAddr, Json, Path, bearer, single_line};
use crate::auth::throttle_key_for_addr;
use crate::auth::tokens::random_token;
use crate::auth::widget::Visitor;
use crate::clock::now_ms;
use crate::error::Code;
use crate::model::{Message, NewChatSession, SessionState, WidgetBot};
use crate::validate::origin_allowed;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(start_session)).routes(routes!(session_messages))
}

/// Whether `path` is one of the routes a widget calls from a site's pages.
fn is_visitor_route(path: &str) -> bool {
    matches!(path, "/widget/refresh" | "/widget/chat") || path.starts_with("/widget/session/")
}

/// CORS for visitor routes (others pass untouched): preflights answered here,
/// before routing; the requesting origin named on every answer (the handlers
/// refuse origins that are not allowed).
pub(super) async fn cors(request: Request, next: Next) -> Response {
    if !is_visitor_route(request.uri().path()) {
        return next.run(request).await;
    }
    let origin = request.headers().get(header::ORIGIN).cloned();
    let mut response = if request.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST"));
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, accept"),
        );
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("retry-after"));
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    }
    response
}

/// Refuses a browser request from a site `bot` does not allow. A request
/// without `Origin` (a server, curl) is not a browser's and passes.
pub(super) fn check_origin(state: &AppState, bot: &WidgetBot, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
    let own = own_origins(&state.config.public_url);
    let bots = bot.origins();
    let allowed = bots.iter().chain(&state.config.widget.allowed_origins).chain(&own).map(String::as_str);
    if origin.to_str().is_ok_and(|origin| origin_allowed(origin, allowed)) {
        Ok(())
    } else {
        Err(origin_refused())
    }
}

/// The server's own origin, from `public_url`. On a loopback address the
/// other loopback names of the same port count as the same machine's, so the
/// demo page works at `localhost` as at `127.0.0.1`.
fn own_origins(public_url: &str) -> Vec<String> {
    let Ok(url) = url::Url::parse(public_url) else { return Vec::new() };
    let own = url.origin().ascii_serialization();
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if !loopback {
        return vec![own];
    }
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .map(|host| format!("{}://{host}{port}", url.scheme()))
        .collect()
}

pub(super) fn origin_refused() -> ApiError {
    ApiError::new(Code::OriginNotAllowed, "This assistant is not available on this website.")
}

/// Counts a hit on `key` and refuses it with 429 and `Retry-After` past `max`
/// in a window of `window_ms`. The count is in the database, so every node
/// shares it.
pub(super) async fn limit(state: &AppState, key: &str, window_ms: i64, max: u32) -> Result<(), ApiError> {
    let now = now_ms();
    let (hits, ends) = state.store.hit_rate_limit(key, now, window_ms).await?;
    if hits > i64::from(max) {
        let wait = u64::try_from((ends - now).max(0) / 1000 + 1).unwrap_or(1);
        return Err(ApiError::new(
            Code::RateLimited,
            "Too many requests. Please wait a moment and try again.",
        )
        .retry_after(wait));
    }
    Ok(())
}

/// The per-minute limit of visitor requests from one client address (an IPv6 /64).
pub(super) async fn limit_address(state: &AppState, client: &ClientAddr) -> Result<(), ApiError> {
    match client.0 {
        Some(ip) => {
            let key = format!("visit:{}", throttle_key_for_addr(ip));
            limit(state, &key, 60_000, state.config.widget.requests_per_address_per_minute).await
        }
        None => Ok(()),
    }
}

/// A visitor request: a valid widget token from an allowed origin, within the
/// client address's request limit.
pub struct VisitorAccess {
    pub visitor: Visitor,
    pub client: ClientAddr,
}

impl FromRequestParts<AppState> for VisitorAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let client = ClientAddr::from_request_parts(parts, state).await?;
        limit_address(state, &client).await?;
        let token = bearer(&parts.headers).ok_or_else(|| {
            ApiError::new(
                Code::Unauthorized,
                "Send the widget token: `Authorization: Bearer <widget token>`.",
            )
        })?;
        let visitor = state.auth.visitor(token).await?;
        check_origin(state, &visitor.bot, &parts.headers)?;
        Ok(Self { visitor, client })
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartInput {
    /// The site's own id for the visitor (set by `Docent.identify`), up to 200 characters.
    visitor_id: Option<String>,
}

/// How the widget shows the bot.
#[derive(Serialize, ToSchema)]
pub struct BotLook {
    name: String,
    welcome_message: String,
    theme: String,
    position: String,
    primary_color: String,
    bubble_icon: String,
}

#[derive(Serialize, ToSchema)]
pub struct Started {
    /// 256 random bits: whoever knows it (with a token of the bot) continues the conversation.
    session_id: String,
    bot: BotLook,
}

/// Starts a visitor session and tells the widget how the bot looks.
#[utoipa::path(post, path = "/widget/session/start", tag = "visitors", security(("bearer" = [])),
    request_body = StartInput, responses(
        (status = 201, body = Started),
        (status = 401, description = "`invalid_token`, `token_expired` or `token_revoked`", body = ErrorBody),
        (status = 403, description = "`origin_not_allowed` or `bot_inactive`", body = ErrorBody),
        (status = 429, description = "`session_limit` (the bot has `widget.max_sessions_per_bot` active sessions) or `rate_limited`", body = ErrorBody),
    ))]
async fn start_session(
    State(state): State<AppState>,
    VisitorAccess { visitor, client }: VisitorAccess,
    Json(input): Json<StartInput>,
) -> Result<(StatusCode, Json<Started>), ApiError> {
    let visitor_id = match input.visitor_id.as_deref() {
        Some(id) => Some(single_line("visitor_id", id, 200)?.to_owned()),
        None => None,
    };
    if let Some(ip) = client.0 {
        let key = format!("start:{}", throttle_key_for_addr(ip));
        limit(&state, &key, 3_600_000, state.config.widget.sessions_per_address_per_hour).await?;
    }
    let at = state.stats_at();
    let session = NewChatSession {
        session_id: random_token(),
        bot_id: visitor.bot.id,
        token_id: Some(visitor.token_id),
        visitor_id,
        started_at: at.now,
        metadata: serde_json::json!({}),
    };
    let widget = &state.config.widget;
    if !state.store.start_chat_session(&session, at.active_since, widget.max_sessions_per_bot.into()).await? {
        return Err(ApiError::new(
            Code::SessionLimit,
            "This assistant is talking with as many visitors as it can. Please try again in a minute.",
        )
        .retry_after(60));
    }
    let bot = visitor.bot;
    Ok((
        StatusCode::CREATED,
        Json(Started {
            session_id: session.session_id,
            bot: BotLook {
                name: bot.name,
                welcome_message: bot.welcome_message,
                theme: bot.theme,
                position: bot.position,
                primary_color: bot.primary_color,
                bubble_icon: bot.bubble_icon,
            },
        }),
    ))
}

/// The bot's session `session_id`: 404 when there is none (another bot's
/// included), 401 `session_expired` once it has timed out or ended.
pub(super) async fn active_session(
    state: &AppState,
    bot_id: i64,
    session_id: &str,
) -> Result<SessionState, ApiError> {
    if !is_session_id(session_id) {
        return Err(ApiError::not_found("Session"));
    }
    let session = state.store.session_state(bot_id, session_id, state.stats_at().active_since).await?;
    match session {
        None => Err(ApiError::not_found("Session")),
        Some(session) if !session.open => {
            Err(ApiError::new(Code::SessionExpired, "This conversation has ended; start a new one."))
        }
        Some(session) => Ok(session),
    }
}

#[derive(Serialize, ToSchema)]
pub struct History {
    session_id: String,
    messages: Vec<Message>,
}

/// A session's conversation, for the holder of its id and a token of its bot.
#[utoipa::path(get, path = "/widget/session/{session_id}/messages", tag = "visitors", security(("bearer" = [])),
    params(("session_id" = String, Path)), responses(
        (status = 200, body = History),
        (status = 401, description = "`session_expired`, or the token's errors", body = ErrorBody),
        (status = 404, description = "No such session of this bot", body = ErrorBody),
    ))]
async fn session_messages(
    State(state): State<AppState>,
    VisitorAccess { visitor, .. }: VisitorAccess,
    Path(session_id): Path<String>,
) -> Result<Json<History>, ApiError> {
    let bot_id = visitor.bot.id;
    active_session(&state, bot_id, &session_id).await?;
    let messages = state.store.session_messages(bot_id, &session_id).await?;
    Ok(Json(History { session_id, messages }))
}

#[cfg(test)]
mod tests {
    use super::own_origins;

    #[test]
    fn loopback_names_are_one_machine_and_others_stand_alone() {
        let local = own_origins("http://127.0.0.1:8000");
        assert!(local.contains(&"http://localhost:8000".to_owned()));
        assert!(local.contains(&"http://[::1]:8000".to_owned()));
        assert!(local.contains(&"http://127.0.0.1:8000".to_owned()));
        assert!(!local.iter().any(|o| o.ends_with(":8001")));
        assert_eq!(own_origins("https://docent.example.com/"), ["https://docent.example.com"]);
        assert!(own_origins("not a url").is_empty());
    }
}
