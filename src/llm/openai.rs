//! Replies from any OpenAI-compatible `/v1/chat/completions` (OpenAI, Ollama,
//! vLLM, llama.cpp's server, LM Studio), streamed.
//!
//! The stream is read leniently: servers differ in which fields a chunk has, so
//! only `choices[0].delta.content`, `choices[0].finish_reason` and `usage` are
//! looked at. A stream that ends without `[DONE]` or a finish reason was cut,
//! and is an error. One retry, before the first token only, on a connection
//! error or a 429.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{ChatMessage, LlmError, LlmProvider, ReplyOptions, Usage};
use crate::config::Config;

/// Wait before the one retry.
const RETRY_AFTER: Duration = Duration::from_millis(500);
/// Longest line of the event stream accepted (a chunk is far shorter).
const MAX_LINE_BYTES: usize = 1 << 20;

pub struct OpenAiProvider {
    client: reqwest::Client,
    endpoint: String,
    model: String,
    temperature: f32,
    max_tokens: u32,
    key: Option<SecretString>,
    first_token: Duration,
    total: Duration,
}

/// The request's body, written straight from the borrowed messages.
#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    temperature: f32,
    max_tokens: u32,
    stream: bool,
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<ChunkUsage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct ChunkUsage {
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
}

impl OpenAiProvider {
    pub fn new(config: &Config) -> Result<Self, LlmError> {
        let l = &config.llm;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(l.connect_timeout_seconds.into()))
            .user_agent(concat!("docent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| LlmError::Unavailable(format!("cannot build an HTTP client: {err}")))?;
        Ok(Self {
            client,
            endpoint: format!("{}/chat/completions", l.base_url.trim_end_matches('/')),
            model: l.model.clone(),
            temperature: l.temperature,
            max_tokens: l.max_tokens,
            key: config.secrets.llm_api_key.clone(),
            first_token: Duration::from_secs(l.first_token_timeout_seconds.into()),
            total: Duration::from_secs(l.timeout_seconds.into()),
        })
    }

    /// Sends the request, retrying once on a connection error or a 429.
    async fn open(
        &self,
        messages: &[ChatMessage],
        options: &ReplyOptions,
        deadline: Instant,
    ) -> Result<reqwest::Response, LlmError> {
        let body = serde_json::to_vec(&Request {
            model: options.model.as_deref().unwrap_or(&self.model),
            messages,
            temperature: options.temperature.unwrap_or(self.temperature),
            max_tokens: self.max_tokens,
            stream: true,
        })
        .map_err(|err| LlmError::Unavailable(format!("cannot encode the request: {err}")))?;
        let body = bytes::Bytes::from(body);
        let mut retried = false;
        loop {
            let mut request = self
                .client
                .post(&self.endpoint)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            if let Some(key) = &self.key {
                request = request.bearer_auth(key.expose_secret());
            }
            let sent = tokio::time::timeout_at(deadline, request.send())
                .await
                .map_err(|_| LlmError::Timeout("no answer from the language model in time"))?;
            let retry = match sent {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) if response.status().as_u16() == 429 => {
                    format!("{} answered 429", self.endpoint)
                }
                Ok(response) => {
                    return Err(LlmError::Unavailable(format!(
                        "{} answered {}",
                        self.endpoint,
                        response.status()
                    )));
                }
                Err(err) if err.is_connect() => format!("cannot reach {}: {err}", self.endpoint),
                Err(err) => return Err(LlmError::Unavailable(format!("{}: {err}", self.endpoint))),
            };
            if retried {
                return Err(LlmError::Unavailable(retry));
            }
            tracing::warn!(reason = %retry, "retrying the language model once");
            retried = true;
            tokio::time::sleep(RETRY_AFTER).await;
        }
    }
}

#[async_trait]
impl LlmProvider for OpenAiProvider {
    async fn reply(
        &self,
        messages: &[ChatMessage],
        options: &ReplyOptions,
        deltas: mpsc::Sender<String>,
    ) -> Result<Usage, LlmError> {
        let started = Instant::now();
        let end = started + self.total;
        let first_deadline = (started + self.first_token).min(end);
        let response = self.open(messages, options, first_deadline).await?;
        let mut body = response.bytes_stream();
        let mut buffer: Vec<u8> = Vec::new();
        let mut usage = Usage::default();
        let mut got_token = false;
        let mut finished = false;
        loop {
            let deadline = if got_token { end } else { first_deadline };
            let next = tokio::time::timeout_at(deadline, body.next()).await.map_err(|_| {
                LlmError::Timeout(if got_token {
                    "the reply did not end in time"
                } else {
                    "no first token in time"
                })
            })?;
            let Some(bytes) = next else {
                // Some servers close after the finish reason without `[DONE]`.
                return if finished {
                    Ok(usage)
                } else {
                    Err(LlmError::Unavailable("the reply stream was cut short".into()))
                };
            };
            let bytes = bytes.map_err(|err| LlmError::Unavailable(format!("reading the reply: {err}")))?;
            buffer.extend_from_slice(&bytes);
            while let Some(newline) = buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=newline).collect();
                let line = String::from_utf8_lossy(&line);
                let Some(data) = line.trim().strip_prefix("data:").map(str::trim) else { continue };
                if data == "[DONE]" {
                    return Ok(usage);
                }
                let chunk: Chunk = serde_json::from_str(data)
                    .map_err(|err| LlmError::Unavailable(format!("a reply chunk is not valid: {err}")))?;
                if let Some(u) = chunk.usage {
                    usage = Usage { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens };
                }
                for choice in chunk.choices.into_iter().take(1) {
                    if let Some(text) = choice.delta.and_then(|d| d.content).filter(|t| !t.is_empty()) {
                        got_token = true;
                        // A visitor who left does not stop the reply.
                        let _ = deltas.send(text).await;
                    }
                    finished |= choice.finish_reason.is_some();
                }
                if finished && !got_token {
                    return Err(LlmError::Unavailable("the language model returned an empty reply".into()));
                }
            }
            if buffer.len() > MAX_LINE_BYTES {
                return Err(LlmError::Unavailable("the reply stream is not an event stream".into()));
            }
        }
    }
}
