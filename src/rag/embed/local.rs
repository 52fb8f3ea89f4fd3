//! A sentence-transformers model (BERT family, such as all-MiniLM-L6-v2) run
//! in-process with candle: attention-masked mean pooling, then L2 normalisation.
//!
//! The model is loaded once and shared by dedicated threads, off the async
//! executor: `threads` of them take work from one queue, queries first, and one
//! more takes only queries, so a visitor's question never waits behind a large
//! upload being indexed. A full query queue answers [`EmbedError::Busy`] at once
//! rather than letting searches pile up.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use async_trait::async_trait;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};
use tokio::sync::oneshot;

use super::{EmbedError, Embedder, Purpose};

/// Files a model folder must hold.
const FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];
/// Texts run through the model together.
const BATCH: usize = 16;
/// Queries waiting at most; more are refused (search then uses keywords).
const MAX_WAITING_QUERIES: usize = 64;

pub fn model_present(dir: &Path) -> bool {
    FILES.iter().all(|f| dir.join(f).is_file())
}

/// The loaded model and its tokenizer, ready to embed.
struct Model {
    bert: BertModel,
    tokenizer: Tokenizer,
}

impl Model {
    fn load(dir: &Path, max_tokens: usize) -> Result<Self, EmbedError> {
        let read = |name: &str| {
            std::fs::read(dir.join(name))
                .map_err(|err| EmbedError::Model(format!("cannot read {}: {err}", dir.join(name).display())))
        };
        let config: BertConfig = serde_json::from_slice(&read("config.json")?)
            .map_err(|err| EmbedError::Model(format!("config.json is not a BERT configuration: {err}")))?;
        let mut tokenizer = Tokenizer::from_bytes(read("tokenizer.json")?)
            .map_err(|err| EmbedError::Model(format!("tokenizer.json: {err}")))?;
        // The file may fix padding and truncation (all-MiniLM-L6-v2 ships 128 for
        // both); pad to each batch's longest and cut at what we were asked for,
        // within the model's positions.
        let max_length = max_tokens.min(config.max_position_embeddings);
        tokenizer
            .with_truncation(Some(TruncationParams { max_length, ..TruncationParams::default() }))
            .map_err(|err| EmbedError::Model(format!("tokenizer truncation: {err}")))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..PaddingParams::default()
        }));
        // Read, not mmapped: mapping a file is `unsafe`, which this crate forbids.
        let weights =
            VarBuilder::from_buffered_safetensors(read("model.safetensors")?, DType::F32, &Device::Cpu)
                .map_err(|err| EmbedError::Model(format!("model.safetensors: {err}")))?;
        let bert = BertModel::load(weights, &config)
            .map_err(|err| EmbedError::Model(format!("model.safetensors does not fit config.json: {err}")))?;
        Ok(Self { bert, tokenizer })
    }

    /// Embeds texts of similar length together, so little is spent on padding.
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        for batch in order.chunks(BATCH) {
            let inputs: Vec<&str> = batch.iter().map(|&i| texts[i].as_str()).collect();
            let vectors = self.embed_batch(&inputs).map_err(|err| EmbedError::Model(err.to_string()))?;
            for (&i, vector) in batch.iter().zip(vectors) {
                out[i] = vector;
            }
        }
        Ok(out)
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Box<dyn std::error::Error + Send + Sync>> {
        let encodings = self.tokenizer.encode_batch(texts.to_vec(), true)?;
        let rows = encodings.len();
        let width = encodings.first().map_or(0, |e| e.get_ids().len());
        let ids: Vec<u32> = encodings.iter().flat_map(|e| e.get_ids().iter().copied()).collect();
        let mask: Vec<u32> = encodings.iter().flat_map(|e| e.get_attention_mask().iter().copied()).collect();
        let device = &self.bert.device;
        let ids = Tensor::from_vec(ids, (rows, width), device)?;
        let mask = Tensor::from_vec(mask, (rows, width), device)?;
        let types = ids.zeros_like()?;
        let hidden = self.bert.forward(&ids, &types, Some(&mask))?; // (rows, width, dims)
        // Mean over the real tokens only.
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1.0, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        Ok(mean.broadcast_div(&norms)?.to_vec2::<f32>()?)
    }
}

type Reply = oneshot::Sender<Result<Vec<Vec<f32>>, EmbedError>>;

#[derive(Default)]
struct Waiting {
    queries: VecDeque<(Vec<String>, Reply)>,
    passages: VecDeque<(Vec<String>, Reply)>,
    closed: bool,
}

struct Queue {
    waiting: Mutex<Waiting>,
    wake: Condvar,
}

impl Queue {
    /// The next piece of work, queries first (only queries when `queries_only`);
    /// `None` once closed.
    fn next(&self, queries_only: bool) -> Option<(Vec<String>, Reply)> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if waiting.closed {
                return None;
            }
            let work = match waiting.queries.pop_front() {
                Some(work) => Some(work),
                None if queries_only => None,
                None => waiting.passages.pop_front(),
            };
            if work.is_some() {
                return work;
            }
            waiting = self.wake.wait(waiting).unwrap_or_else(|p| p.into_inner());
        }
    }
}

pub struct LocalEmbedder {
    name: String,
    queue: Arc<Queue>,
}

impl LocalEmbedder {
    /// Loads the model in `dir` and starts `threads` threads to run it, plus one for queries.
    pub fn load(dir: &Path, name: &str, max_tokens: usize, threads: usize) -> Result<Self, EmbedError> {
        let started = std::time::Instant::now();
        let model = Arc::new(Model::load(dir, max_tokens)?);
        tracing::info!(model = name, ms = started.elapsed().as_millis() as u64, "embedding model loaded");
        let queue = Arc::new(Queue { waiting: Mutex::new(Waiting::default()), wake: Condvar::new() });
        for n in 0..=threads.max(1) {
            let (model, queue) = (Arc::clone(&model), Arc::clone(&queue));
            let queries_only = n == 0;
            std::thread::Builder::new()
                .name(if queries_only {
                    "docent-embed-query".to_owned()
                } else {
                    format!("docent-embed-{n}")
                })
                .spawn(move || {
                    while let Some((texts, reply)) = queue.next(queries_only) {
                        if reply.is_closed() {
                            continue; // the caller gave up waiting (a search timed out)
                        }
                        let result =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.embed(&texts)))
                                .unwrap_or_else(|_| {
                                    Err(EmbedError::Model("the model failed on this input".into()))
                                });
                        let _ = reply.send(result);
                    }
                })
                .map_err(|err| EmbedError::Model(format!("cannot start an embedding thread: {err}")))?;
        }
        Ok(Self { name: format!("local/{name}"), queue })
    }
}

impl Drop for LocalEmbedder {
    fn drop(&mut self) {
        let mut waiting = self.queue.waiting.lock().unwrap_or_else(|p| p.into_inner());
        waiting.closed = true;
        self.queue.wake.notify_all();
    }
}

#[async_trait]
impl Embedder for LocalEmbedder {
    fn model(&self) -> &str {
        &self.name
    }

    async fn embed(&self, texts: Vec<String>, purpose: Purpose) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        {
            let mut waiting = self.queue.waiting.lock().unwrap_or_else(|p| p.into_inner());
            match purpose {
                Purpose::Query if waiting.queries.len() >= MAX_WAITING_QUERIES => {
                    return Err(EmbedError::Busy);
                }
                Purpose::Query => waiting.queries.push_back((texts, reply)),
                Purpose::Passage => waiting.passages.push_back((texts, reply)),
            }
        }
        // Every thread, so that one that may take this work wakes.
        self.queue.wake.notify_all();
        answer.await.map_err(|_| EmbedError::Stopped)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real model, from scripts/fetch-model (which scripts/test runs).
    fn model_dir() -> Option<std::path::PathBuf> {
        let dir = std::env::var_os("DOCENT_TEST_MODEL_DIR").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/models/all-MiniLM-L6-v2"),
            std::path::PathBuf::from,
        );
        if model_present(&dir) {
            return Some(dir);
        }
        assert!(
            std::env::var_os("DOCENT_TEST_REQUIRE_MODEL").is_none(),
            "no model in {}: run scripts/fetch-model {0}",
            dir.display()
        );
        eprintln!("skipped: no embedding model in {} (scripts/fetch-model installs it)", dir.display());
        None
    }

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[tokio::test]
    async fn the_real_model_puts_paraphrases_close_together() {
        let Some(dir) = model_dir() else { return };
        let embedder = LocalEmbedder::load(&dir, "all-MiniLM-L6-v2", 256, 1).unwrap();
        assert_eq!(embedder.model(), "local/all-MiniLM-L6-v2");
        let texts = [
            "How do I get my money back?",
            "Refunds are paid within five working days.",
            "The installer needs administrator rights on Linux.",
            // Longer than the model reads: cut, not refused.
            &"Docent answers questions from your documents. ".repeat(100),
        ];
        let vectors =
            embedder.embed(texts.iter().map(|t| (*t).to_owned()).collect(), Purpose::Passage).await.unwrap();
        assert_eq!(vectors.len(), 4);
        for v in &vectors {
            assert_eq!(v.len(), 384);
            assert!((cosine(v, v) - 1.0).abs() < 1e-4, "normalised");
        }
        let (related, unrelated) = (cosine(&vectors[0], &vectors[1]), cosine(&vectors[0], &vectors[2]));
        assert!(
            related > unrelated + 0.2,
            "refund question: {related} to refunds, {unrelated} to installing"
        );

        // The same text alone or in a padded batch embeds the same.
        let alone = embedder.embed(vec![texts[0].to_owned()], Purpose::Query).await.unwrap();
        assert!(cosine(&alone[0], &vectors[0]) > 0.9999, "padding changed the vector");
    }

    #[test]
    fn a_folder_without_the_files_is_not_a_model() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!model_present(dir.path()));
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        std::fs::write(dir.path().join("tokenizer.json"), "{}").unwrap();
        std::fs::write(dir.path().join("model.safetensors"), "not weights").unwrap();
        assert!(model_present(dir.path()));
        assert!(matches!(LocalEmbedder::load(dir.path(), "broken", 256, 1), Err(EmbedError::Model(_))));
    }
}
