//! `/widget/bots`: bots of the caller's workspaces, and their visitors' sessions.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{CurrentUser, Json, Path, Query, time_param};
use crate::bots::{BotInput, validate};
use crate::clock::now_ms;
use crate::error::FieldErrors;
use crate::model::{
    Bot, BotFields, ChatSessionSummary, Message, Page, SessionFilter, StatsAt, UnansweredQuestion,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_bots, create_bot))
        .routes(routes!(get_bot, update_bot, delete_bot))
        .routes(routes!(list_sessions))
        .routes(routes!(get_session))
        .routes(routes!(list_unanswered))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BotFilter {
    /// Only the bots of this workspace.
    workspace_id: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// At most this many (1-500, default 50).
    limit: Option<i64>,
    /// Skip this many, newest first.
    offset: Option<i64>,
}

impl Paging {
    /// The page asked for (`limit` 1-500, by default `default_limit`; `offset` ≥ 0).
    fn page(&self, default_limit: i64) -> Result<Page, ApiError> {
        let limit = self.limit.unwrap_or(default_limit);
        let offset = self.offset.unwrap_or(0);
        if !(1..=500).contains(&limit) {
            return Err(ApiError::field("limit", "must be between 1 and 500"));
        }
        if offset < 0 {
            return Err(ApiError::field("offset", "must not be negative"));
        }
        Ok(Page { limit, offset })
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionQuery {
    /// RFC 3339: only sessions active at or after this time.
    from: Option<String>,
    /// RFC 3339: only sessions started before this time.
    to: Option<String>,
    /// `true`: only sessions with a question the bot could not answer.
    unanswered: Option<bool>,
}

impl SessionQuery {
    fn filter(&self) -> Result<SessionFilter, ApiError> {
        let filter = SessionFilter {
            from: time_param("from", self.from.as_deref())?,
            to: time_param("to", self.to.as_deref())?,
            unanswered: self.unanswered.unwrap_or(false),
        };
        if let (Some(from), Some(to)) = (filter.from, filter.to)
            && from >= to
        {
            return Err(ApiError::field("from", "must be before `to`"));
        }
        Ok(filter)
    }
}

/// A session with its whole conversation.
#[derive(Serialize, ToSchema)]
pub struct SessionTranscript {
    #[serde(flatten)]
    session: ChatSessionSummary,
    messages: Vec<Message>,
}

impl AppState {
    /// Now, and the start of "active" (`widget.session_timeout_minutes` ago).
    pub(super) fn stats_at(&self) -> StatsAt {
        let now = now_ms();
        StatsAt { now, active_since: now - i64::from(self.config.widget.session_timeout_minutes) * 60_000 }
    }

    pub(super) async fn visible_bot(&self, user: &CurrentUser, id: i64) -> Result<Bot, ApiError> {
        self.store.bot(user.id, id, self.stats_at()).await?.ok_or_else(|| ApiError::not_found("Bot"))
    }

    /// Validates the merged fields, including that the workspace is the caller's,
    /// and reports them together with `missing` ones.
    async fn checked(
        &self,
        user: &CurrentUser,
        mut fields: BotFields,
        missing: FieldErrors,
    ) -> Result<BotFields, ApiError> {
        let mut errors = validate(&mut fields).err().unwrap_or_default();
        if !missing.contains_key("workspace_id")
            && self.store.workspace(user.id, fields.workspace_id).await?.is_none()
        {
            errors.insert("workspace_id".into(), "is not one of your workspaces".into());
        }
        errors.extend(missing);
        if errors.is_empty() { Ok(fields) } else { Err(ApiError::validation(errors)) }
    }
}

/// The bots of the caller's workspaces, with usage figures.
#[utoipa::path(get, path = "/widget/bots", tag = "bots", security(("bearer" = [])), params(BotFilter),
    responses((status = 200, body = [Bot]), (status = 401, body = ErrorBody)))]
async fn list_bots(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(filter): Query<BotFilter>,
) -> Result<Json<Vec<Bot>>, ApiError> {
    Ok(Json(state.store.list_bots(user.id, filter.workspace_id, state.stats_at()).await?))
}

/// Creates a bot; only `name` and `workspace_id` are required.
#[utoipa::path(post, path = "/widget/bots", tag = "bots", security(("bearer" = [])), request_body = BotInput,
    responses(
        (status = 201, body = Bot),
        (status = 422, description = "`fields` names each bad field", body = ErrorBody),
    ))]
async fn create_bot(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(input): Json<BotInput>,
) -> Result<(StatusCode, Json<Bot>), ApiError> {
    let mut missing = FieldErrors::new();
    if input.name.is_none() {
        missing.insert("name".into(), "is required".into());
    }
    if input.workspace_id.is_none() {
        missing.insert("workspace_id".into(), "is required".into());
    }
    // Stand-ins for what is missing, so that every other field is still checked
    // and reported in the same answer.
    let base = BotFields::new(input.workspace_id.unwrap_or(0), "-".into());
    let fields = state.checked(&user, input.apply(base), missing).await?;
    let id = state.store.create_bot(&fields, now_ms()).await?;
    Ok((StatusCode::CREATED, Json(state.visible_bot(&user, id).await?)))
}

/// One bot.
#[utoipa::path(get, path = "/widget/bots/{id}", tag = "bots", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Bot), (status = 404, body = ErrorBody)))]
async fn get_bot(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<Bot>, ApiError> {
    Ok(Json(state.visible_bot(&user, id).await?))
}

/// Changes any subset of a bot's fields.
#[utoipa::path(put, path = "/widget/bots/{id}", tag = "bots", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = BotInput, responses(
        (status = 200, body = Bot),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn update_bot(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Json(input): Json<BotInput>,
) -> Result<Json<Bot>, ApiError> {
    let bot = state.visible_bot(&user, id).await?;
    let fields = state.checked(&user, input.apply(bot.fields()), FieldErrors::new()).await?;
    if fields != bot.fields() {
        state.store.update_bot(id, &fields, now_ms()).await?;
    }
    Ok(Json(state.visible_bot(&user, id).await?))
}

/// Deletes a bot with its tokens and conversations; its widget stops at once.
#[utoipa::path(delete, path = "/widget/bots/{id}", tag = "bots", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
async fn delete_bot(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_bot(user.id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("Bot"))
    }
}

/// The bot's visitor sessions, most recently active first; optionally only
/// those active in a time range, or only those with unanswered questions.
#[utoipa::path(get, path = "/widget/bots/{id}/sessions", tag = "bots", security(("bearer" = [])),
    params(("id" = i64, Path), Paging, SessionQuery), responses(
        (status = 200, body = [ChatSessionSummary]),
        (status = 404, body = ErrorBody),
    ))]
async fn list_sessions(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(paging): Query<Paging>,
    Query(query): Query<SessionQuery>,
) -> Result<Json<Vec<ChatSessionSummary>>, ApiError> {
    let bot = state.visible_bot(&user, id).await?;
    let page = paging.page(50)?;
    let filter = query.filter()?;
    Ok(Json(state.store.list_chat_sessions(bot.id, state.stats_at().active_since, &filter, page).await?))
}

/// One session with its messages and the sources each answer used.
#[utoipa::path(get, path = "/widget/bots/{id}/sessions/{session_id}", tag = "bots", security(("bearer" = [])),
    params(("id" = i64, Path), ("session_id" = String, Path)), responses(
        (status = 200, body = SessionTranscript),
        (status = 404, body = ErrorBody),
    ))]
async fn get_session(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, session_id)): Path<(i64, String)>,
) -> Result<Json<SessionTranscript>, ApiError> {
    let bot = state.visible_bot(&user, id).await?;
    if !is_session_id(&session_id) {
        return Err(ApiError::not_found("Session"));
    }
    let at = state.stats_at();
    let session = state
        .store
        .chat_session(bot.id, &session_id, at.active_since)
        .await?
        .ok_or_else(|| ApiError::not_found("Session"))?;
    let messages = state.store.session_messages(bot.id, &session_id).await?;
    Ok(Json(SessionTranscript { session, messages }))
}

/// The questions the bot could not answer from its documents, the same
/// question counted together, most asked first: what to write documents about.
#[utoipa::path(get, path = "/widget/bots/{id}/unanswered", tag = "bots", security(("bearer" = [])),
    params(("id" = i64, Path), Paging), responses(
        (status = 200, body = [UnansweredQuestion]),
        (status = 404, body = ErrorBody),
    ))]
async fn list_unanswered(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(paging): Query<Paging>,
) -> Result<Json<Vec<UnansweredQuestion>>, ApiError> {
    let bot = state.visible_bot(&user, id).await?;
    Ok(Json(state.store.unanswered_questions(bot.id, paging.page(100)?).await?))
}

/// Session ids are URL-safe tokens; anything else names no session (and is never
/// sent to the database).
pub(super) fn is_session_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
