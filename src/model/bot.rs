//! A bot: the fields an owner edits, their defaults, and its usage figures.

use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::serde_rfc3339;

/// What a bot says when its documents hold nothing relevant enough.
pub const DEFAULT_FALLBACK: &str = "I'm sorry, I couldn't find that in the documentation I have. \
     Could you rephrase your question, or ask about something else?";

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
    pub answer_threshold: Option<f32>,
}

impl BotFields {
    /// The defaults of a new bot in a workspace.
    pub fn new(workspace_id: i64, name: String) -> Self {
        Self {
            workspace_id,
            name,
            system_prompt: String::new(),
            welcome_message: "Hi! Ask me anything about our documentation.".to_owned(),
            is_active: true,
            allowed_origins: Vec::new(),
            theme: "auto".to_owned(),
            position: "bottom-right".to_owned(),
            primary_color: "#2563eb".to_owned(),
            bubble_icon: "💬".to_owned(),
            fallback_message: DEFAULT_FALLBACK.to_owned(),
            model: None,
            temperature: None,
            answer_threshold: None,
        }
    }
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
    /// 0-1: how sure the bot must be that its documents answer a question
    /// before it answers; `null`: Docent's default.
    pub answer_threshold: Option<f32>,
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
            answer_threshold: self.answer_threshold,
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

/// The moments that bot stats are computed against.
#[derive(Debug, Clone, Copy)]
pub struct StatsAt {
    pub now: i64,
    /// Sessions with activity since this moment count as active.
    pub active_since: i64,
}
