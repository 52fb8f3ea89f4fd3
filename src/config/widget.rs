//! `[widget]`: widget tokens, visitor sessions, the sites allowed to embed
//! every bot, the abuse limits and how long conversations are kept.

use serde::Deserialize;

use super::{ConfigError, Kind, range};
use crate::validate;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WidgetConfig {
    /// Base address of `widget.js` in embed codes; empty means `public_url`.
    pub base_url: String,
    pub token_expire_days: u32,
    /// How long an expired widget token can still be refreshed.
    pub refresh_grace_days: u32,
    pub session_timeout_minutes: u32,
    pub max_sessions_per_bot: u32,
    /// Origins allowed for every bot, besides each bot's own list.
    pub allowed_origins: Vec<String>,
    /// Visitor requests from one client address (an IPv6 /64) per minute.
    pub requests_per_address_per_minute: u32,
    /// Sessions one client address may start per hour.
    pub sessions_per_address_per_hour: u32,
    /// Messages a visitor may send in one session per minute.
    pub messages_per_session_per_minute: u32,
    /// Messages all of one bot's visitors may send per day; 0: no limit.
    pub daily_messages_per_bot: u32,
    /// Conversations idle for longer than this many days are deleted, with
    /// their messages; 0: kept for ever.
    pub retention_days: u32,
}

impl Default for WidgetConfig {
    fn default() -> Self {
        Self {
            base_url: String::new(),
            token_expire_days: 7,
            refresh_grace_days: 7,
            session_timeout_minutes: 30,
            max_sessions_per_bot: 1000,
            allowed_origins: Vec::new(),
            requests_per_address_per_minute: 120,
            sessions_per_address_per_hour: 60,
            messages_per_session_per_minute: 12,
            daily_messages_per_bot: 0,
            retention_days: 0,
        }
    }
}

impl WidgetConfig {
    pub(super) const SETTINGS: &[(&str, Kind)] = &[
        ("widget.base_url", Kind::Text),
        ("widget.token_expire_days", Kind::Integer),
        ("widget.refresh_grace_days", Kind::Integer),
        ("widget.session_timeout_minutes", Kind::Integer),
        ("widget.max_sessions_per_bot", Kind::Integer),
        ("widget.allowed_origins", Kind::List),
        ("widget.requests_per_address_per_minute", Kind::Integer),
        ("widget.sessions_per_address_per_hour", Kind::Integer),
        ("widget.messages_per_session_per_minute", Kind::Integer),
        ("widget.daily_messages_per_bot", Kind::Integer),
        ("widget.retention_days", Kind::Integer),
    ];

    /// Checks the ranges and normalises the allowed origins (`base_url` is
    /// checked with the other addresses).
    pub(super) fn validate(&mut self) -> Result<(), ConfigError> {
        range("widget.token_expire_days", self.token_expire_days.into(), 1, 3650)?;
        range("widget.refresh_grace_days", self.refresh_grace_days.into(), 0, 3650)?;
        range("widget.session_timeout_minutes", self.session_timeout_minutes.into(), 1, 7 * 24 * 60)?;
        range("widget.max_sessions_per_bot", self.max_sessions_per_bot.into(), 1, 100_000_000)?;
        range(
            "widget.requests_per_address_per_minute",
            self.requests_per_address_per_minute.into(),
            1,
            1_000_000,
        )?;
        range(
            "widget.sessions_per_address_per_hour",
            self.sessions_per_address_per_hour.into(),
            1,
            1_000_000,
        )?;
        range(
            "widget.messages_per_session_per_minute",
            self.messages_per_session_per_minute.into(),
            1,
            10_000,
        )?;
        range("widget.daily_messages_per_bot", self.daily_messages_per_bot.into(), 0, 1_000_000_000)?;
        range("widget.retention_days", self.retention_days.into(), 0, 36_500)?;
        let mut origins = Vec::with_capacity(self.allowed_origins.len());
        for origin in &self.allowed_origins {
            origins.push(
                validate::normalize_origin(origin).map_err(|msg| {
                    ConfigError::new("widget.allowed_origins", format!("{origin:?}: {msg}"))
                })?,
            );
        }
        self.allowed_origins = origins;
        Ok(())
    }
}
