//! `[llm]`: the language model that writes replies, if any, and its limits.

use serde::Deserialize;

use super::{ConfigError, Kind, base_url, range};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmProviderKind {
    /// No language model: replies quote the best passages.
    Extractive,
    /// An OpenAI-compatible `/v1/chat/completions` endpoint, streamed.
    Openai,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    pub provider: LlmProviderKind,
    /// `openai`: base address, such as `https://api.openai.com/v1` or `http://localhost:11434/v1`.
    pub base_url: String,
    /// `openai`: the model asked for.
    pub model: String,
    pub temperature: f32,
    /// Most tokens a reply may have.
    pub max_tokens: u32,
    /// Tokens of prompt (instructions, passages, recent conversation) at most.
    pub context_tokens: u32,
    pub connect_timeout_seconds: u32,
    /// From the request to the first token of the reply.
    pub first_token_timeout_seconds: u32,
    /// The whole reply.
    pub timeout_seconds: u32,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            provider: LlmProviderKind::Extractive,
            base_url: String::new(),
            model: String::new(),
            temperature: 0.2,
            max_tokens: 700,
            context_tokens: 6000,
            connect_timeout_seconds: 5,
            first_token_timeout_seconds: 30,
            timeout_seconds: 120,
        }
    }
}

impl LlmConfig {
    pub(super) const SETTINGS: &[(&str, Kind)] = &[
        ("llm.provider", Kind::Text),
        ("llm.base_url", Kind::Text),
        ("llm.model", Kind::Text),
        ("llm.temperature", Kind::Float),
        ("llm.max_tokens", Kind::Integer),
        ("llm.context_tokens", Kind::Integer),
        ("llm.connect_timeout_seconds", Kind::Integer),
        ("llm.first_token_timeout_seconds", Kind::Integer),
        ("llm.timeout_seconds", Kind::Integer),
    ];

    /// Checks the ranges and, for `openai`, the address and model.
    pub(super) fn validate(&mut self) -> Result<(), ConfigError> {
        range("llm.max_tokens", self.max_tokens.into(), 16, 32_768)?;
        range("llm.context_tokens", self.context_tokens.into(), 512, 1_000_000)?;
        range("llm.connect_timeout_seconds", self.connect_timeout_seconds.into(), 1, 120)?;
        range("llm.first_token_timeout_seconds", self.first_token_timeout_seconds.into(), 1, 600)?;
        range("llm.timeout_seconds", self.timeout_seconds.into(), 1, 3600)?;
        if !(0.0..=2.0).contains(&self.temperature) {
            return Err(ConfigError::new("llm.temperature", "must be between 0 and 2"));
        }
        if self.provider == LlmProviderKind::Openai {
            if self.base_url.is_empty() || self.model.trim().is_empty() {
                return Err(ConfigError::new(
                    if self.base_url.is_empty() { "llm.base_url" } else { "llm.model" },
                    "is required with provider \"openai\" (e.g. base_url http://localhost:11434/v1, model llama3.2)",
                ));
            }
            self.base_url = base_url("llm.base_url", &self.base_url)?;
        }
        Ok(())
    }
}
