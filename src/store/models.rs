//! Rows as the rest of Docent sees them. Types that the API returns as they are
//! derive `Serialize` and `ToSchema` here, times shown as RFC 3339.

use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::serde_rfc3339;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub is_admin: bool,
    /// Access tokens carry it; a password change bumps it and ends older ones.
    pub token_version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A refresh token to store; only its hash is kept.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub user_id: i64,
    /// All tokens of one login share a family; reuse of any revokes them all.
    pub family: String,
    pub token_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The token was good: it is now used, and the new one is stored.
    Rotated {
        user_id: i64,
    },
    /// The token was already used or revoked: its whole family is now revoked.
    Reused,
    Expired,
    Unknown,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Throttle {
    pub failures: i64,
    pub window_start: i64,
}

/// A workspace, with the caller's role in it.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Workspace {
    pub id: i64,
    pub name: String,
    pub owner_id: i64,
    /// The caller's role: `owner`, `editor` or `viewer`.
    pub role: String,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: i64,
}

/// The editable fields of a bot, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct BotFields {
    pub workspace_id: i64,
    pub name: String,
    pub system_prompt: String,
    pub welcome_message: String,
    pub is_active: bool,
    pub allowed_origins: Vec<String>,
    pub theme: String,
    pub position: String,
    pub primary_color: String,
    pub bubble_icon: String,
    pub fallback_message: String,
    pub model: Option<String>,
    pub temperature: Option<f32>,
}

/// A bot with its usage figures.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Bot {
    pub id: i64,
    pub name: String,
    pub workspace_id: i64,
    pub system_prompt: String,
    pub welcome_message: String,
    pub is_active: bool,
    /// Sites allowed to embed the bot, as `scheme://host[:port]`; `*.` matches subdomains.
    pub allowed_origins: Vec<String>,
    /// `light`, `dark` or `auto`.
    pub theme: String,
    /// `bottom-right`, `bottom-left`, `top-right` or `top-left`.
    pub position: String,
    /// `#rrggbb`.
    pub primary_color: String,
    /// A short text or emoji, or an `https://` image URL.
    pub bubble_icon: String,
    /// What the bot says when its documents hold nothing relevant.
    pub fallback_message: String,
    /// The language model it asks for; `null`: the server's `llm.model`.
    pub model: Option<String>,
    /// 0-2; `null`: the server's `llm.temperature`.
    pub temperature: Option<f32>,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: i64,
    pub stats: BotStats,
}

impl Bot {
    pub fn fields(&self) -> BotFields {
        BotFields {
            workspace_id: self.workspace_id,
            name: self.name.clone(),
            system_prompt: self.system_prompt.clone(),
            welcome_message: self.welcome_message.clone(),
            is_active: self.is_active,
            allowed_origins: self.allowed_origins.clone(),
            theme: self.theme.clone(),
            position: self.position.clone(),
            primary_color: self.primary_color.clone(),
            bubble_icon: self.bubble_icon.clone(),
            fallback_message: self.fallback_message.clone(),
            model: self.model.clone(),
            temperature: self.temperature,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct BotStats {
    pub total_sessions: i64,
    /// Sessions with activity within `widget.session_timeout_minutes`.
    pub active_sessions: i64,
    /// Widget tokens neither revoked nor expired.
    pub active_tokens: i64,
    pub total_messages: i64,
    #[serde(with = "serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_activity_at: Option<i64>,
}

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

/// The moments that bot stats are computed against.
#[derive(Debug, Clone, Copy)]
pub struct StatsAt {
    pub now: i64,
    /// Sessions with activity since this moment count as active.
    pub active_since: i64,
}

/// One page of a list.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
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
