//! Widget tokens and the bot as its visitors' requests see it.

use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::serde_rfc3339;

/// A token row, as a visitor request checks it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WidgetTokenRow {
    pub id: i64,
    pub bot_id: i64,
    /// The generated token this one was refreshed from (itself: `None`).
    pub family_id: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// A bot as its visitors' requests need it, whoever owns it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WidgetBot {
    #[sqlx(rename = "bot_id")]
    pub id: i64,
    pub workspace_id: i64,
    pub name: String,
    pub system_prompt: String,
    pub welcome_message: String,
    pub is_active: bool,
    /// JSON list of origins, as stored (see [`WidgetBot::origins`]).
    pub allowed_origins: String,
    pub theme: String,
    pub position: String,
    pub primary_color: String,
    pub bubble_icon: String,
    pub fallback_message: String,
    pub model: Option<String>,
    pub temperature: Option<f64>,
    pub answer_threshold: Option<f64>,
}

impl WidgetBot {
    /// The bot's own allowed origins (an unreadable list allows none).
    pub fn origins(&self) -> Vec<String> {
        serde_json::from_str(&self.allowed_origins).unwrap_or_default()
    }
}

/// A token row and its bot, read together.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenAndBot {
    #[sqlx(flatten)]
    pub token: WidgetTokenRow,
    #[sqlx(flatten)]
    pub bot: WidgetBot,
}

/// What the owner sees of a token: never the token itself.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct WidgetTokenInfo {
    pub token_id: i64,
    pub bot_id: i64,
    /// The generated token this one was refreshed from by a widget; `null` for
    /// one the owner generated.
    pub refreshed_from: Option<i64>,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: i64,
    pub revoked: bool,
    #[serde(with = "serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<i64>,
}

/// A token to store; `token_hash` may be a placeholder until the token is signed.
#[derive(Debug, Clone)]
pub struct NewWidgetToken {
    pub bot_id: i64,
    pub family_id: Option<i64>,
    pub created_by: Option<i64>,
    pub token_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Which tokens to revoke.
#[derive(Debug, Clone, Copy)]
pub enum RevokeWidgetTokens {
    /// One token, and every token refreshed from it.
    Token(i64),
    /// Every token of a bot.
    Bot(i64),
}
