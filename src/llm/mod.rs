//! Language models behind the [`LlmProvider`] trait, chosen by `llm.provider`:
//! `openai` streams from any OpenAI-compatible `/v1/chat/completions`;
//! `extractive` (the default) means no model, and replies quote passages
//! (`chat::extractive`).

mod openai;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use tokio::sync::mpsc;

pub use openai::OpenAiProvider;

use crate::config::{Config, LlmProviderKind};

#[derive(Debug, Clone, Serialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: &'static str,
    pub content: String,
}

/// A bot's own choices, over the server's `llm.model` and `llm.temperature`.
#[derive(Debug, Clone, Default)]
pub struct ReplyOptions {
    pub model: Option<String>,
    pub temperature: Option<f32>,
}

/// How many tokens a reply took, as the provider counted them (when it says).
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// Unreachable, refused, failed, or answered something that is not a reply.
    #[error("the language model is unavailable: {0}")]
    Unavailable(String),
    /// No first token, or no end of the reply, in time.
    #[error("the language model took too long: {0}")]
    Timeout(&'static str),
}

#[async_trait]
pub trait LlmProvider: Send + Sync {
    /// Streams the reply to `messages` into `deltas`, piece by piece, and returns
    /// the usage. A receiver that went away does not stop the reply.
    async fn reply(
        &self,
        messages: &[ChatMessage],
        options: &ReplyOptions,
        deltas: mpsc::Sender<String>,
    ) -> Result<Usage, LlmError>;
}

/// The configured provider, or `None` for extractive replies.
pub fn from_config(config: &Config) -> Result<Option<Arc<dyn LlmProvider>>, LlmError> {
    match config.llm.provider {
        LlmProviderKind::Extractive => Ok(None),
        LlmProviderKind::Openai => Ok(Some(Arc::new(OpenAiProvider::new(config)?))),
    }
}
