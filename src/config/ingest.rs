//! `[ingest]` and `[embeddings]`: how documents are read, fetched and chunked,
//! and which embedder makes their vectors.

use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, Kind, base_url, range};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Largest file accepted for upload, in MiB.
    pub max_file_mb: u32,
    /// Target chunk size and the overlap between neighbours, in characters.
    pub chunk_size: usize,
    pub chunk_overlap: usize,
    /// Documents processed at once on this node.
    pub workers: u8,
    /// How long a claimed job stays a worker's without a heartbeat; a job whose
    /// worker died is taken up again after this.
    pub job_lease_seconds: u32,
    /// A document whose reading takes longer fails (its reader is abandoned).
    pub processing_timeout_seconds: u32,
    /// Fetching one page or sitemap (connecting, redirects, the whole body) may take this long.
    pub fetch_timeout_seconds: u32,
    /// Pages a sitemap may add at once; the rest are left out.
    pub max_sitemap_pages: u32,
    /// Allow fetching from loopback, private and link-local addresses (off: a
    /// server on an internal network must not become a way into it).
    pub allow_private_urls: bool,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_file_mb: 50,
            chunk_size: 1000,
            chunk_overlap: 150,
            workers: 1,
            job_lease_seconds: 30,
            processing_timeout_seconds: 300,
            fetch_timeout_seconds: 20,
            max_sitemap_pages: 200,
            allow_private_urls: false,
        }
    }
}

impl IngestConfig {
    pub(super) const SETTINGS: &[(&str, Kind)] = &[
        ("ingest.max_file_mb", Kind::Integer),
        ("ingest.chunk_size", Kind::Integer),
        ("ingest.chunk_overlap", Kind::Integer),
        ("ingest.workers", Kind::Integer),
        ("ingest.job_lease_seconds", Kind::Integer),
        ("ingest.processing_timeout_seconds", Kind::Integer),
        ("ingest.fetch_timeout_seconds", Kind::Integer),
        ("ingest.max_sitemap_pages", Kind::Integer),
        ("ingest.allow_private_urls", Kind::Boolean),
    ];

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        range("ingest.max_file_mb", self.max_file_mb.into(), 1, 1024)?;
        range("ingest.chunk_size", self.chunk_size as u64, 100, 20_000)?;
        range("ingest.chunk_overlap", self.chunk_overlap as u64, 0, (self.chunk_size / 2) as u64)?;
        range("ingest.workers", self.workers.into(), 1, 16)?;
        range("ingest.job_lease_seconds", self.job_lease_seconds.into(), 2, 3600)?;
        range("ingest.processing_timeout_seconds", self.processing_timeout_seconds.into(), 1, 86_400)?;
        range("ingest.fetch_timeout_seconds", self.fetch_timeout_seconds.into(), 1, 600)?;
        range("ingest.max_sitemap_pages", self.max_sitemap_pages.into(), 1, 50_000)
    }
}

/// Which embedder makes vectors for dense search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingProvider {
    /// A sentence-transformers model run in-process.
    Local,
    /// An OpenAI-compatible `/v1/embeddings` endpoint.
    Openai,
    /// No vectors: keyword search only.
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddingsConfig {
    pub provider: EmbeddingProvider,
    /// The model's name: recorded with every vector, so changing it re-embeds.
    pub model: String,
    /// `local`: the folder with `config.json`, `tokenizer.json` and
    /// `model.safetensors`; empty means `<data_dir>/models/<model>`.
    pub model_dir: PathBuf,
    /// `local`: tokens of a text the model reads; the rest is cut.
    pub max_tokens: usize,
    /// `local`: threads that embed passages (one more embeds queries).
    pub threads: u8,
    /// `openai`: base address, such as `https://api.openai.com/v1`.
    pub base_url: String,
    /// `openai`: texts sent in one request.
    pub batch_size: u16,
    /// `openai`: time allowed for one request, in seconds.
    pub timeout_seconds: u32,
}

impl Default for EmbeddingsConfig {
    fn default() -> Self {
        Self {
            provider: EmbeddingProvider::Local,
            model: "all-MiniLM-L6-v2".to_owned(),
            model_dir: PathBuf::new(),
            max_tokens: 256,
            threads: 1,
            base_url: String::new(),
            batch_size: 64,
            timeout_seconds: 30,
        }
    }
}

impl EmbeddingsConfig {
    pub(super) const SETTINGS: &[(&str, Kind)] = &[
        ("embeddings.provider", Kind::Text),
        ("embeddings.model", Kind::Text),
        ("embeddings.model_dir", Kind::Text),
        ("embeddings.max_tokens", Kind::Integer),
        ("embeddings.threads", Kind::Integer),
        ("embeddings.base_url", Kind::Text),
        ("embeddings.batch_size", Kind::Integer),
        ("embeddings.timeout_seconds", Kind::Integer),
    ];

    /// Checks the ranges and, for `openai`, normalises the base address.
    pub(super) fn validate(&mut self) -> Result<(), ConfigError> {
        range("embeddings.max_tokens", self.max_tokens as u64, 16, 8192)?;
        range("embeddings.threads", self.threads.into(), 1, 64)?;
        range("embeddings.batch_size", self.batch_size.into(), 1, 2048)?;
        range("embeddings.timeout_seconds", self.timeout_seconds.into(), 1, 600)?;
        if self.model.trim().is_empty() || self.model.len() > 200 || self.model.chars().any(char::is_control)
        {
            return Err(ConfigError::new("embeddings.model", "must be a model name of 1-200 characters"));
        }
        if self.provider == EmbeddingProvider::Openai {
            if self.base_url.is_empty() {
                return Err(ConfigError::new(
                    "embeddings.base_url",
                    "is required with provider \"openai\", e.g. https://api.openai.com/v1",
                ));
            }
            self.base_url = base_url("embeddings.base_url", &self.base_url)?;
        }
        Ok(())
    }
}
