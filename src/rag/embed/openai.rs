//! Embeddings from any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI,
//! Ollama, vLLM, llama.cpp, LM Studio, ...), in batches, retried with backoff
//! when the provider is busy (429) or failing (5xx, connection errors).

use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{EmbedError, Embedder, Purpose, normalize};
use crate::config::Config;

/// Longest wait between tries, whatever `Retry-After` says.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

pub struct OpenAiEmbedder {
    client: reqwest::Client,
    endpoint: String,
    /// The model name sent to the provider.
    remote_model: String,
    name: String,
    key: Option<SecretString>,
    batch: usize,
}

#[derive(Deserialize)]
struct Response {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    embedding: Vec<f32>,
    #[serde(default)]
    index: Option<usize>,
}

impl OpenAiEmbedder {
    pub fn new(config: &Config) -> Result<Self, EmbedError> {
        let e = &config.embeddings;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(e.timeout_seconds.into()))
            .user_agent(concat!("docent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| EmbedError::Provider(format!("cannot build an HTTP client: {err}")))?;
        Ok(Self {
            client,
            endpoint: format!("{}/embeddings", e.base_url.trim_end_matches('/')),
            remote_model: e.model.clone(),
            name: format!("openai/{}", e.model),
            key: config.secrets.embeddings_api_key.clone(),
            batch: e.batch_size.into(),
        })
    }

    /// One request for one batch, tried up to `tries` times.
    async fn request(&self, texts: &[String], tries: u32) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut backoff = Duration::from_millis(500);
        let mut attempt = 1;
        loop {
            let mut request = self
                .client
                .post(&self.endpoint)
                .json(&serde_json::json!({"model": self.remote_model, "input": texts}));
            if let Some(key) = &self.key {
                request = request.bearer_auth(key.expose_secret());
            }
            let wait = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    return self.parse(response, texts.len()).await;
                }
                Ok(response) => {
                    let status = response.status();
                    let answer = format!("{} answered {status}", self.endpoint);
                    if status.is_client_error() && status.as_u16() != 429 {
                        return Err(EmbedError::Refused(answer));
                    }
                    if attempt >= tries {
                        return Err(EmbedError::Provider(answer));
                    }
                    retry_after(&response).unwrap_or(backoff)
                }
                Err(err) if attempt < tries && (err.is_connect() || err.is_timeout() || err.is_request()) => {
                    backoff
                }
                Err(err) => return Err(EmbedError::Provider(format!("{}: {err}", self.endpoint))),
            };
            tracing::debug!(
                attempt,
                wait_ms = wait.as_millis() as u64,
                "embedding provider busy; trying again"
            );
            tokio::time::sleep(wait.min(MAX_BACKOFF)).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            attempt += 1;
        }
    }

    async fn parse(&self, response: reqwest::Response, expected: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
        let body: Response = response.json().await.map_err(|err| {
            EmbedError::Provider(format!("{} sent an unreadable answer: {err}", self.endpoint))
        })?;
        if body.data.len() != expected {
            return Err(EmbedError::Provider(format!(
                "{} sent {} vectors for {expected} texts",
                self.endpoint,
                body.data.len()
            )));
        }
        let mut items = body.data;
        if items.iter().any(|i| i.index.is_some()) {
            items.sort_by_key(|i| i.index);
            if !items.iter().enumerate().all(|(n, i)| i.index == Some(n)) {
                return Err(EmbedError::Provider(format!("{} numbered its vectors wrongly", self.endpoint)));
            }
        }
        let dims = items[0].embedding.len();
        if dims == 0
            || items.iter().any(|i| i.embedding.len() != dims || i.embedding.iter().any(|x| !x.is_finite()))
        {
            return Err(EmbedError::Provider(format!(
                "{} sent vectors of uneven or invalid size",
                self.endpoint
            )));
        }
        Ok(items
            .into_iter()
            .map(|mut i| {
                normalize(&mut i.embedding);
                i.embedding
            })
            .collect())
    }
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn model(&self) -> &str {
        &self.name
    }

    async fn embed(&self, texts: Vec<String>, purpose: Purpose) -> Result<Vec<Vec<f32>>, EmbedError> {
        // A visitor is waiting on a query: one retry at most.
        let tries = match purpose {
            Purpose::Query => 2,
            Purpose::Passage => 5,
        };
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.batch.max(1)) {
            out.extend(self.request(batch, tries).await?);
        }
        Ok(out)
    }
}
