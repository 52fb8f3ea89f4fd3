//! Background work of the knowledge base: processing queued documents (read,
//! chunk, embed, store) and embedding chunks that have no vector of the current
//! model yet (added while no model was available, or made by another model).

use std::sync::Arc;
use std::time::Duration;

use super::embed::{Purpose, passage_text};
use super::extract::{self, ExtractError, Kind};
use super::{FEED_POLL, KnowledgeBase, RagError, chunk, web};
use crate::clock::now_ms;
use crate::error::ErrorChain;
use crate::model::{FetchedPage, IndexedChunk, Job, JobInput, NewChunk};

/// A job that was claimed this many times without finishing fails for good.
const MAX_ATTEMPTS: i64 = 3;
/// Texts handed to the embedder at once: small enough that a query never waits long behind them.
const EMBED_GROUP: usize = 32;
/// How often the backfill looks for chunks without vectors when it found none.
const BACKFILL_IDLE: Duration = Duration::from_secs(5);
/// How often the backfill starts over from the first chunk.
const BACKFILL_RESCAN: Duration = Duration::from_secs(600);
/// How long the backfill waits after the embedder failed.
const BACKFILL_BACKOFF: Duration = Duration::from_secs(30);

/// A document read: its chunks, and for a web page what fetching found out.
struct Read {
    chunks: Vec<NewChunk>,
    page: Option<FetchedPage>,
}

/// Stops the job's heartbeat however processing ends.
struct Heartbeat(tokio::task::JoinHandle<()>);

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl KnowledgeBase {
    pub(super) async fn work_loop(self: Arc<Self>) {
        loop {
            let notified = self.work.notified();
            match self.store.claim_job(now_ms(), self.lease_ms()).await {
                Ok(Some(job)) => {
                    if let Err(err) = self.process(&job).await {
                        // The lease runs out and the job is tried again.
                        tracing::warn!(error = %ErrorChain(&err), job = job.id, "processing failed");
                    }
                }
                Ok(None) => {
                    let _ = tokio::time::timeout(FEED_POLL, notified).await;
                }
                Err(err) => {
                    tracing::warn!(error = %ErrorChain(&err), "cannot claim a job");
                    tokio::time::sleep(FEED_POLL).await;
                }
            }
        }
    }

    /// Processes one claimed job: (fetch,) extract, chunk, embed, store, index.
    pub async fn process(&self, job: &Job) -> Result<(), RagError> {
        let Some(input) = self.store.start_job(job, now_ms()).await? else {
            return Ok(()); // deleted meanwhile
        };
        if job.attempts > MAX_ATTEMPTS {
            let message = "Processing was interrupted too many times; delete the document and add it again.";
            self.store.fail_job(job, message, now_ms()).await?;
            return Ok(());
        }
        let _heartbeat = self.heartbeat(job);
        let title = input.title.clone();
        match self.read(input).await? {
            Ok(mut read) => {
                let title = read.page.as_ref().map_or(title, |page| page.title.clone());
                self.embed_new_chunks(&title, &mut read.chunks).await;
                let model = self.embedding_model().unwrap_or_default();
                self.store.finish_job(job, &read.chunks, model, read.page.as_ref(), now_ms()).await?;
            }
            Err(message) => self.store.fail_job(job, &message, now_ms()).await?,
        }
        self.sync().await
    }

    /// Renews the job's lease every third of it until dropped.
    fn heartbeat(&self, job: &Job) -> Heartbeat {
        let store = Arc::clone(&self.store);
        let (job_id, lease_ms) = (job.id, self.lease_ms());
        Heartbeat(tokio::spawn(async move {
            let every = Duration::from_millis(lease_ms.unsigned_abs() / 3);
            loop {
                tokio::time::sleep(every).await;
                let _ = store.renew_job(job_id, now_ms() + lease_ms).await;
            }
        }))
    }

    /// Fetches a web page, then extracts and chunks the document; `Err(reason)`
    /// when it cannot be read, for the document's `error`.
    async fn read(&self, input: JobInput) -> Result<Result<Read, String>, RagError> {
        let (mut kind, mut content, mut fetched_url) =
            (Kind::parse(&input.kind).unwrap_or(Kind::Text), input.content, None);
        if kind == Kind::Webpage {
            let address = String::from_utf8_lossy(&content).into_owned();
            match web::fetch_page(&self.fetcher, &address).await {
                Ok(page) => (kind, content, fetched_url) = (page.kind, page.body, Some(page.url)),
                Err(err) => return Ok(Err(err.to_string())),
            }
        }
        let size_bytes = i64::try_from(content.len()).unwrap_or(i64::MAX);
        let (size, overlap) = (self.config.ingest.chunk_size, self.config.ingest.chunk_overlap);
        let deadline = Duration::from_secs(self.config.ingest.processing_timeout_seconds.into());
        let outcome = run_with_deadline(deadline, move || {
            // A reader that panics on a hostile file fails that document, not the job queue.
            std::panic::catch_unwind(|| {
                extract::extract(kind, &content)
                    .map(|doc| (doc.title, chunk::chunk(kind, &doc.sections, size, overlap)))
            })
            .unwrap_or_else(|_| Err(ExtractError::Unreadable("The document could not be read.".into())))
        })
        .await;
        let Ok(outcome) = outcome else {
            return Ok(Err(format!(
                "Reading the document took longer than {} s (ingest.processing_timeout_seconds); \
                 it may be damaged or too complex.",
                deadline.as_secs()
            )));
        };
        let (title, chunks) = match outcome? {
            Ok((_, chunks)) if chunks.is_empty() => return Ok(Err(ExtractError::Empty.to_string())),
            Ok(read) => read,
            Err(err) => return Ok(Err(err.to_string())),
        };
        let page = fetched_url.map(|url| FetchedPage {
            title: title
                .as_deref()
                .and_then(web::page_title)
                .unwrap_or_else(|| web::title_for_url(url.as_str())),
            placeholder_title: web::title_for_url(&input.source),
            url: url.into(),
            size_bytes,
        });
        Ok(Ok(Read { chunks, page }))
    }

    /// Gives each chunk its vector. When the embedder fails the chunks are
    /// stored without, searchable by keyword, and the backfill embeds them later.
    async fn embed_new_chunks(&self, title: &str, chunks: &mut [NewChunk]) {
        let Some(embedder) = &self.embedder else { return };
        for group in chunks.chunks_mut(EMBED_GROUP) {
            let texts = group.iter().map(|c| passage_text(title, &c.heading_path, &c.text)).collect();
            match embedder.embed(texts, Purpose::Passage).await {
                Ok(vectors) => {
                    for (chunk, vector) in group.iter_mut().zip(vectors) {
                        chunk.vector = Some(vector);
                    }
                }
                Err(err) => {
                    // The rest is stored without vectors: searchable by keyword now,
                    // embedded by the backfill later.
                    tracing::warn!(error = %err, "embedding failed; the document is stored and embedded later");
                    return;
                }
            }
        }
    }

    /// Embeds chunks that have no vector of the current model, a group at a
    /// time, until there are none; then looks again now and then. It walks the
    /// chunks in id order from where it stopped (new chunks have higher ids) and
    /// starts over from the first now and then, for anything it could not embed.
    pub(super) async fn backfill_loop(self: Arc<Self>) {
        let Some(embedder) = self.embedder.clone() else { return };
        let model = embedder.model().to_owned();
        let mut after = 0;
        let mut rescan = tokio::time::Instant::now() + BACKFILL_RESCAN;
        loop {
            let wait = match self.backfill_once(&model, after).await {
                Ok(Some(last)) => {
                    after = last;
                    Duration::ZERO
                }
                Ok(None) if after == 0 => {
                    // Every chunk has a vector of this model: older models' can go.
                    match self.store.delete_other_vectors(&model).await {
                        Ok(0) => {}
                        Ok(rows) => tracing::info!(rows, "deleted the vectors of earlier embedding models"),
                        Err(err) => tracing::warn!(error = %err, "cannot delete old vectors"),
                    }
                    BACKFILL_IDLE
                }
                Ok(None) => BACKFILL_IDLE,
                Err(err) => {
                    tracing::warn!(error = %err, "embedding stored chunks failed; trying again later");
                    BACKFILL_BACKOFF
                }
            };
            if tokio::time::Instant::now() >= rescan
                || self.rescan.swap(false, std::sync::atomic::Ordering::AcqRel)
            {
                (after, rescan) = (0, tokio::time::Instant::now() + BACKFILL_RESCAN);
            }
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// Embeds one group of chunks with `id > after` that have no vector yet;
    /// returns the last chunk id it dealt with, or `None` when there was none.
    /// When the provider refuses the group, its chunks are tried one by one and
    /// those it refuses alone are skipped (keyword search still finds them), so
    /// one bad chunk never holds up the rest.
    pub async fn backfill_once(
        &self,
        model: &str,
        after: i64,
    ) -> Result<Option<i64>, Box<dyn std::error::Error + Send + Sync>> {
        let Some(embedder) = &self.embedder else { return Ok(None) };
        let chunks: Vec<IndexedChunk> = self.store.chunks_to_embed(model, after, EMBED_GROUP as i64).await?;
        let Some(last) = chunks.last().map(|c| c.id) else { return Ok(None) };
        let text = |c: &IndexedChunk| passage_text(&c.title, &c.heading_path, &c.text);
        let pairs: Vec<(IndexedChunk, Vec<f32>)> = match embedder
            .embed(chunks.iter().map(text).collect(), Purpose::Passage)
            .await
        {
            Ok(vectors) => chunks.into_iter().zip(vectors).collect(),
            Err(err) if err.is_permanent() => {
                let mut pairs = Vec::new();
                for chunk in chunks {
                    match embedder.embed(vec![text(&chunk)], Purpose::Passage).await {
                        Ok(mut v) if !v.is_empty() => pairs.push((chunk, v.swap_remove(0))),
                        Ok(_) => {}
                        Err(err) if err.is_permanent() => {
                            tracing::warn!(error = %err, chunk = chunk.id, "chunk cannot be embedded; skipped");
                        }
                        Err(err) => return Err(err.into()),
                    }
                }
                pairs
            }
            Err(err) => return Err(err.into()),
        };
        self.store.put_vectors(model, &pairs, now_ms()).await?;
        self.sync().await?;
        Ok(Some(last))
    }
}

/// The deadline passed; the work itself may still be running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadlinePassed;

/// Runs CPU-bound `work` off the executor and stops waiting for it after
/// `deadline`. A thread cannot be killed, so work that overruns finishes in the
/// background and its result is dropped; the caller moves on.
pub async fn run_with_deadline<T: Send + 'static>(
    deadline: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<Result<T, tokio::task::JoinError>, DeadlinePassed> {
    tokio::time::timeout(deadline, tokio::task::spawn_blocking(work)).await.map_err(|_| DeadlinePassed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_past_its_deadline_is_left_behind() {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let stuck = run_with_deadline(Duration::from_millis(50), move || wait.recv()).await;
        assert_eq!(stuck.err(), Some(DeadlinePassed));
        drop(release); // lets the abandoned thread end
        let quick = run_with_deadline(Duration::from_secs(60), || 7).await;
        assert_eq!(quick.unwrap().unwrap(), 7);
    }
}
