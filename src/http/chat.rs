//! `POST /widget/chat`: a visitor's message and the bot's reply, as JSON or
//! streamed as server-sent events (`Accept: text/event-stream`).
//!
//! The visitor's message is stored before anything else. The reply is made
//! by a task of its own, so a visitor who leaves mid-stream does not stop it:
//! the whole reply is stored and shows in the history after a reload. Errors
//! found before the reply starts (token, origin, input, session) are ordinary
//! JSON answers; once streaming, a failure is an `event: error` that ends it.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::Json;
use super::visitors::{VisitorAccess, active_session, limit};
use crate::chat::{self, Declines, Source};
use crate::clock::now_ms;
use crate::error::Code;
use crate::llm::{LlmError, ReplyOptions, Usage};
use crate::model::{DEFAULT_FALLBACK, NewMessage, WidgetBot};

/// Longest message a visitor may send, in characters.
const MAX_MESSAGE_CHARS: usize = 4000;
/// Words per `delta` event when a finished reply is streamed.
const WORDS_PER_DELTA: usize = 3;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(chat))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatInput {
    session_id: String,
    /// 1-4,000 characters after trimming; no control characters but line breaks and tabs.
    message: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatReply {
    session_id: String,
    /// The stored reply's id.
    message_id: i64,
    reply: String,
    sources: Vec<Source>,
}

/// Sends a visitor's message and answers it from the bot's documents. With
/// `Accept: text/event-stream` the answer streams: `delta` events
/// (`{"text"}`), one `sources` event, then `done` (`{message_id, reply}`), or
/// `error` (`{code, message}`) and the end of the stream.
#[utoipa::path(post, path = "/widget/chat", tag = "visitors", security(("bearer" = [])),
    request_body = ChatInput, responses(
        (status = 200, body = ChatReply, description = "The reply (or an SSE stream of it)"),
        (status = 401, description = "`session_expired`, or the token's errors", body = ErrorBody),
        (status = 403, description = "`origin_not_allowed` or `bot_inactive`", body = ErrorBody),
        (status = 404, description = "No such session of this bot", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "`rate_limited`: too many messages in this session, or the bot's daily budget", body = ErrorBody),
        (status = 502, description = "`llm_unavailable`: the language model failed", body = ErrorBody),
        (status = 504, description = "`llm_timeout`: the language model took too long", body = ErrorBody),
    ))]
async fn chat(
    State(state): State<AppState>,
    VisitorAccess { visitor, .. }: VisitorAccess,
    headers: HeaderMap,
    Json(input): Json<ChatInput>,
) -> Result<Response, ApiError> {
    let message = valid_message(&input.message)?.to_owned();
    let session_id = input.session_id;
    let bot = visitor.bot;
    let session = active_session(&state, bot.id, &session_id).await?;
    let limits = &state.config.widget;
    limit(&state, &format!("chat:{session_id}"), 60_000, limits.messages_per_session_per_minute).await?;
    if limits.daily_messages_per_bot > 0 {
        limit(&state, &format!("day:{}", bot.id), 86_400_000, limits.daily_messages_per_bot).await?;
    }
    let started = Instant::now();
    // The same question again right after it went unanswered (the reply
    // failed, and the widget's "Try again" resends it) is answered, not stored twice.
    let question_id = match session.unanswered {
        Some((id, asked)) if asked == message => id,
        _ => {
            state
                .store
                .add_message(&NewMessage::text(&session_id, bot.id, "user", &message, now_ms()))
                .await?
        }
    };

    let streaming = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/event-stream"));
    let (events, receiver) = if streaming {
        let (tx, rx) = mpsc::channel(64);
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let turn = tokio::spawn(turn(state, bot, session_id, (question_id, message), started, events));
    if let Some(receiver) = receiver {
        return Ok(stream(receiver));
    }
    turn.await.map_err(ApiError::internal)?.map(|reply| Json(reply).into_response())
}

/// Trimmed, 1-4,000 characters, and no control characters but `\n`, `\r`, `\t`.
fn valid_message(message: &str) -> Result<&str, ApiError> {
    let message = message.trim();
    match message.chars().count() {
        0 => Err(ApiError::field("message", "must not be empty")),
        n if n > MAX_MESSAGE_CHARS => {
            Err(ApiError::field("message", format!("must be at most {MAX_MESSAGE_CHARS} characters")))
        }
        _ if crate::validate::has_stray_control(message) => {
            Err(ApiError::field("message", "must not contain control characters"))
        }
        _ => Ok(message),
    }
}

/// Makes the reply, streams it when `events` is given, and stores it (even when
/// the visitor has gone).
async fn turn(
    state: AppState,
    bot: WidgetBot,
    session_id: String,
    (question_id, question): (i64, String),
    started: Instant,
    events: Option<mpsc::Sender<Event>>,
) -> Result<ChatReply, ApiError> {
    let events = Events(events);
    let result = async {
        // The conversation so far, read only when the question leans on it
        // (a follow-up is searched for with the questions it continues) or a
        // language model will see it. Its last message is this question.
        let mut history = None;
        let query = if chat::leans_on_history(&question) {
            let turns = state.store.recent_turns(bot.id, &session_id).await?;
            let query = chat::search_query(&turns[..turns.len().saturating_sub(1)], &question);
            history = Some(turns);
            query
        } else {
            question.clone()
        };
        let found =
            chat::passages(&state.knowledge, bot.workspace_id, &query).await.map_err(ApiError::internal)?;
        let judged = chat::judge(&found);
        #[allow(clippy::cast_possible_truncation)]
        let answers = judged.answers(bot.answer_threshold.map(|t| t as f32));
        tracing::debug!(score = judged.score, signals = ?judged.signals, answers, "answerability");
        let passages = found.passages;
        let fallback = if bot.fallback_message.is_empty() { DEFAULT_FALLBACK } else { &bot.fallback_message };
        let (text, sources, usage, answered) = match &state.llm {
            Some(llm) if answers => {
                let mut history = match history {
                    Some(turns) => turns,
                    None => state.store.recent_turns(bot.id, &session_id).await?,
                };
                history.pop(); // the question, stored a moment ago, goes last on its own
                let budget = usize::try_from(state.config.llm.context_tokens).unwrap_or(usize::MAX);
                let messages =
                    chat::prompt(&bot.system_prompt, &passages, &history, &question, fallback, budget);
                let (pieces, mut received) = mpsc::channel::<String>(64);
                // The visitor never sees the model's "no answer" marker.
                let forward = async {
                    let mut reply = Declines::default();
                    while let Some(piece) = received.recv().await {
                        let visible = reply.push(&piece);
                        if !visible.is_empty() {
                            events.send("delta", &Delta { text: &visible }).await;
                        }
                    }
                    let rest = reply.flush();
                    if !rest.is_empty() {
                        events.send("delta", &Delta { text: &rest }).await;
                    }
                    reply
                };
                #[allow(clippy::cast_possible_truncation)]
                let options =
                    ReplyOptions { model: bot.model.clone(), temperature: bot.temperature.map(|t| t as f32) };
                let (usage, reply) = tokio::join!(llm.reply(&messages, &options, pieces), forward);
                let usage = usage.map_err(llm_error)?;
                let (text, answered) = reply.finish(fallback);
                // A reply that does not answer cites nothing.
                let sources = if answered { chat::sources(&passages) } else { Vec::new() };
                (text, sources, usage, answered)
            }
            _ => {
                let reply = if answers {
                    chat::extractive_reply(&question, &passages, fallback)
                } else {
                    chat::Reply::fallback(fallback)
                };
                if events.streaming() {
                    for delta in deltas(&reply.text) {
                        events.send("delta", &Delta { text: &delta }).await;
                    }
                }
                (reply.text, reply.sources, Usage::default(), reply.answered)
            }
        };
        if !answered {
            state.store.mark_unanswered(question_id).await?;
        }
        events.send("sources", &sources).await;
        let latency = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let mut stored = NewMessage::text(&session_id, bot.id, "assistant", &text, now_ms());
        stored.sources = serde_json::to_string(&sources).map_err(ApiError::internal)?;
        stored.latency_ms = Some(latency);
        stored.prompt_tokens = usage.prompt_tokens;
        stored.completion_tokens = usage.completion_tokens;
        let message_id = state.store.add_message(&stored).await?;
        Ok::<_, ApiError>(ChatReply { session_id, message_id, reply: text, sources })
    }
    .await;
    match &result {
        Ok(reply) => {
            events.send("done", &Done { message_id: reply.message_id, reply: &reply.reply }).await;
        }
        Err(err) => {
            tracing::error!(error = %err, "the chat turn failed");
            events
                .send("error", &serde_json::json!({"code": err.code().as_str(), "message": err.message()}))
                .await;
        }
    }
    result
}

fn llm_error(err: LlmError) -> ApiError {
    tracing::warn!(error = %err, "the language model failed");
    match err {
        LlmError::Timeout(_) => {
            ApiError::new(Code::LlmTimeout, "The assistant took too long to answer. Please try again.")
        }
        LlmError::Unavailable(_) => {
            ApiError::new(Code::LlmUnavailable, "The assistant cannot answer right now. Please try again.")
        }
    }
}

/// Where a streamed turn's events go. Without a stream (a JSON answer), no
/// event is made at all.
struct Events(Option<mpsc::Sender<Event>>);

impl Events {
    fn streaming(&self) -> bool {
        self.0.is_some()
    }

    async fn send(&self, name: &str, data: &impl Serialize) {
        if let Some(events) = &self.0 {
            let data = serde_json::to_string(data).unwrap_or_else(|_| "null".into());
            // A visitor who left no longer reads; the reply is stored all the same.
            let _ = events.send(Event::default().event(name).data(data)).await;
        }
    }
}

/// A `delta` event's data.
#[derive(Serialize)]
struct Delta<'a> {
    text: &'a str,
}

/// The `done` event's data.
#[derive(Serialize)]
struct Done<'a> {
    message_id: i64,
    reply: &'a str,
}

/// A finished reply in small pieces that join back into it exactly.
fn deltas(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut words = 0;
    for part in text.split_inclusive(char::is_whitespace) {
        current.push_str(part);
        if part.ends_with(char::is_whitespace) {
            words += 1;
        }
        if words == WORDS_PER_DELTA {
            pieces.push(std::mem::take(&mut current));
            words = 0;
        }
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// The SSE answer over the turn's events, with keep-alive comments; proxies are
/// asked not to buffer it.
fn stream(receiver: mpsc::Receiver<Event>) -> Response {
    let events = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok::<_, Infallible>(event), receiver))
    });
    let mut response =
        Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response();
    response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_join_back_into_the_reply() {
        let text = "From **Guide**:\n\n“Open  Settings, then Security.” Done";
        let pieces = deltas(text);
        assert!(pieces.len() > 2);
        assert_eq!(pieces.concat(), text);
        assert!(deltas("").is_empty());
    }

    #[test]
    fn messages_are_checked() {
        assert_eq!(valid_message("  hello\nthere\t ").unwrap(), "hello\nthere");
        assert!(valid_message("   ").is_err());
        assert!(valid_message("a\u{0}b").is_err());
        assert!(valid_message(&"x".repeat(4001)).is_err());
        assert!(valid_message(&"é".repeat(4000)).is_ok(), "characters, not bytes");
    }
}
