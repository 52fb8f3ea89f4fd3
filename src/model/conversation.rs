//! Visitor sessions, their messages, and what the owner reads of them.

use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::serde_rfc3339;

#[derive(Debug, Clone)]
pub struct NewChatSession {
    pub session_id: String,
    pub bot_id: i64,
    pub token_id: Option<i64>,
    pub visitor_id: Option<String>,
    pub started_at: i64,
    pub metadata: serde_json::Value,
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub session_id: String,
    pub bot_id: i64,
    pub role: &'static str,
    pub content: String,
    /// The sources as JSON text: `[]` for none.
    pub sources: String,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub latency_ms: Option<i64>,
    pub created_at: i64,
}

impl NewMessage {
    /// A message with no sources, token counts or latency.
    pub fn text(session_id: &str, bot_id: i64, role: &'static str, content: &str, created_at: i64) -> Self {
        Self {
            session_id: session_id.to_owned(),
            bot_id,
            role,
            content: content.to_owned(),
            sources: "[]".to_owned(),
            prompt_tokens: None,
            completion_tokens: None,
            latency_ms: None,
            created_at,
        }
    }
}

/// A visitor session as the bot's owner sees it in lists.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatSessionSummary {
    pub session_id: String,
    pub visitor_id: Option<String>,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub started_at: i64,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_activity_at: i64,
    #[serde(with = "serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<i64>,
    pub message_count: i64,
    /// The visitor's questions in it that the bot could not answer.
    pub unanswered_count: i64,
    /// The start of the visitor's first message (at most 160 characters).
    pub first_message: Option<String>,
    pub duration_seconds: i64,
    /// `active`, `expired` (no activity within the timeout) or `ended`.
    pub status: String,
}

/// One message of a conversation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Message {
    pub id: i64,
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    /// Passages the answer drew on: `[{title, source, url, snippet}]`.
    #[schema(value_type = Vec<Object>)]
    pub sources: serde_json::Value,
}

/// Which of a bot's sessions to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionFilter {
    /// Only sessions active at or after this time (unix ms).
    pub from: Option<i64>,
    /// Only sessions started before this time (unix ms).
    pub to: Option<i64>,
    /// Only sessions with at least one unanswered question.
    pub unanswered: bool,
}

/// A visitor session as a new message needs it.
#[derive(Debug, Clone)]
pub struct SessionState {
    /// Neither ended nor timed out.
    pub open: bool,
    /// The session's newest message when it is the visitor's: a question still
    /// without its reply (id, text).
    pub unanswered: Option<(i64, String)>,
}

/// What analytics need of one message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageStat {
    pub created_at: i64,
    pub role: String,
    pub latency_ms: Option<i64>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub unanswered: bool,
}

/// Whose use analytics count.
#[derive(Debug, Clone, Copy)]
pub enum ActivityScope {
    /// One bot.
    Bot(i64),
    /// Every bot in the user's workspaces, or in one of them.
    Member { user_id: i64, workspace_id: Option<i64> },
}

/// A question visitors asked that the documents did not answer.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct UnansweredQuestion {
    pub question: String,
    /// How many times it was asked.
    pub count: i64,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_asked_at: i64,
}
