//! The knowledge base: documents in, passages out.
//!
//! Adding a document stores it with a job in the database (so the work survives a
//! crash and any node may do it); background workers claim jobs, extract sections,
//! chunk them and store the chunks; every change is written to a change feed that
//! each node follows to keep its own keyword index current. Search asks the index
//! for chunk ids and the database for the chunks, so a deleted document's chunks
//! leave the results at once on every node. Pages added by URL are fetched by
//! the worker that processes them (`web`, `fetch`).

pub mod chunk;
pub mod extract;
pub mod fetch;
pub mod index;
mod office;
pub mod web;

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use self::extract::{ExtractError, Kind};
use self::fetch::Fetcher;
use self::index::{IndexError, KeywordIndex};
use crate::clock::now_ms;
use crate::config::Config;
use crate::store::{ChunkHit, FetchedPage, Job, JobInput, NewChunk, Store, StoreError};

/// A job that was claimed this many times without finishing fails for good.
const MAX_ATTEMPTS: i64 = 3;
/// How often each node looks at the change feed for other nodes' work.
const FEED_POLL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum RagError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("a background task failed")]
    Join(#[from] tokio::task::JoinError),
    #[error("cannot build the HTTP client that fetches web pages")]
    WebClient(#[source] reqwest::Error),
}

impl RagError {
    /// True when another process (a running server) holds this data folder's index.
    pub fn is_index_locked(&self) -> bool {
        matches!(
            self,
            Self::Index(IndexError::Tantivy(tantivy::TantivyError::LockFailure(
                tantivy::directory::error::LockError::LockBusy,
                _
            )))
        )
    }
}

/// One search result.
#[derive(Debug, Clone)]
pub struct Passage {
    pub hit: ChunkHit,
    pub score: f32,
}

impl Passage {
    /// Where to cite: the document's URL, with the heading's fragment when known.
    pub fn citation_url(&self) -> Option<String> {
        let url = self.hit.url.as_deref()?;
        let base = url.split_once('#').map_or(url, |(base, _)| base);
        Some(match &self.hit.anchor {
            Some(anchor) => format!("{base}#{anchor}"),
            None => url.to_owned(),
        })
    }
}

pub struct KnowledgeBase {
    store: Arc<dyn Store>,
    config: Arc<Config>,
    index: Arc<KeywordIndex>,
    /// The last change-feed sequence applied to `index`.
    applied: AtomicI64,
    /// One sync at a time.
    syncing: tokio::sync::Mutex<()>,
    /// Wakes idle workers when a job is added on this node.
    work: Notify,
    fetcher: Fetcher,
}

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
    /// Opens this node's index and brings it up to date with the database,
    /// rebuilding it when it is new or belongs to another database.
    pub async fn open(config: Arc<Config>, store: Arc<dyn Store>) -> Result<Arc<Self>, RagError> {
        let dir = config.data_dir.join("index");
        let index = tokio::task::spawn_blocking(move || KeywordIndex::open(&dir)).await??;
        let applied = index.applied();
        let fetcher = Fetcher::new(&config.ingest).map_err(RagError::WebClient)?;
        let kb = Arc::new(Self {
            store,
            config,
            index: Arc::new(index),
            applied: AtomicI64::new(applied),
            syncing: tokio::sync::Mutex::new(()),
            work: Notify::new(),
            fetcher,
        });
        let last = kb.store.last_index_change().await?;
        if applied == 0 || applied > last {
            kb.rebuild().await?;
        } else {
            kb.sync().await?;
        }
        Ok(kb)
    }

    /// Rebuilds the index from every ready chunk in the database, or only those
    /// of one workspace.
    pub async fn rebuild(&self) -> Result<usize, RagError> {
        self.rebuild_scope(None).await
    }

    pub async fn rebuild_workspace(&self, workspace_id: i64) -> Result<usize, RagError> {
        self.rebuild_scope(Some(workspace_id)).await
    }

    async fn rebuild_scope(&self, workspace_id: Option<i64>) -> Result<usize, RagError> {
        let _guard = self.syncing.lock().await;
        // Changes made while we copy are applied again by the next sync: harmless,
        // as applying a change replaces the document's chunks.
        let seq = match workspace_id {
            None => self.store.last_index_change().await?,
            Some(_) => self.applied.load(Ordering::Acquire),
        };
        let index = Arc::clone(&self.index);
        tokio::task::spawn_blocking(move || match workspace_id {
            None => index.clear(),
            Some(ws) => index.remove_workspace(ws),
        })
        .await??;
        let total = copy_chunks(self.store.as_ref(), &self.index, workspace_id).await?;
        self.commit(seq).await?;
        tracing::info!(chunks = total, seq, "search index rebuilt");
        Ok(total)
    }

    /// Applies the change feed since the last sync.
    pub async fn sync(&self) -> Result<(), RagError> {
        let _guard = self.syncing.lock().await;
        loop {
            let after = self.applied.load(Ordering::Acquire);
            let changes = self.store.index_changes_after(after, 500).await?;
            let Some(last) = changes.last().map(|c| c.seq) else { return Ok(()) };
            let documents: BTreeSet<i64> = changes.iter().map(|c| c.document_id).collect();
            for document_id in documents {
                let chunks = self.store.chunks_to_index(document_id).await?;
                let index = Arc::clone(&self.index);
                tokio::task::spawn_blocking(move || index.replace_document(document_id, &chunks)).await??;
            }
            self.commit(last).await?;
            if changes.len() < 500 {
                return Ok(());
            }
        }
    }

    async fn commit(&self, seq: i64) -> Result<(), RagError> {
        let index = Arc::clone(&self.index);
        tokio::task::spawn_blocking(move || index.commit(seq)).await??;
        self.applied.store(seq, Ordering::Release);
        Ok(())
    }

    /// The client that fetches web pages, with this node's address policy.
    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// How long a claimed job is ours without a heartbeat.
    pub fn lease_ms(&self) -> i64 {
        i64::from(self.config.ingest.job_lease_seconds) * 1000
    }

    /// Tells this node's workers there is work.
    pub fn job_added(&self) {
        self.work.notify_waiters();
    }

    /// The best passages of a workspace for `query`, best first.
    ///
    /// When the change feed is ahead of this node's index (a document became
    /// ready a moment ago, here or on another node) the index catches up first,
    /// so a search never misses what the database already shows as ready.
    pub async fn search(
        &self,
        workspace_id: i64,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Passage>, RagError> {
        if self.store.last_index_change().await? > self.applied.load(Ordering::Acquire) {
            self.sync().await?;
        }
        let index = Arc::clone(&self.index);
        let query = query.to_owned();
        // Ask for a few more than needed: some may belong to documents deleted
        // a moment ago, which the database no longer returns.
        let want = limit + 10;
        let ranked = tokio::task::spawn_blocking(move || index.search(workspace_id, &query, want)).await??;
        passages(self.store.as_ref(), workspace_id, ranked, limit).await
    }

    /// Runs `workers` job workers and the change-feed follower until `stop`.
    pub async fn run_background(self: Arc<Self>, stop: impl Future<Output = ()> + Send) {
        let workers = usize::from(self.config.ingest.workers.max(1));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..workers {
            tasks.spawn(Arc::clone(&self).work_loop());
        }
        tasks.spawn(Arc::clone(&self).follow_feed());
        stop.await;
        tasks.abort_all();
    }

    async fn follow_feed(self: Arc<Self>) {
        let mut tick = tokio::time::interval(FEED_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = self.sync().await {
                tracing::warn!(error = %crate::error::ErrorChain(&err), "search index sync failed");
            }
        }
    }

    async fn work_loop(self: Arc<Self>) {
        loop {
            let notified = self.work.notified();
            match self.store.claim_job(now_ms(), self.lease_ms()).await {
                Ok(Some(job)) => {
                    if let Err(err) = self.process(&job).await {
                        // The lease runs out and the job is tried again.
                        tracing::warn!(error = %crate::error::ErrorChain(&err), job = job.id, "processing failed");
                    }
                }
                Ok(None) => {
                    let _ = tokio::time::timeout(FEED_POLL, notified).await;
                }
                Err(err) => {
                    tracing::warn!(error = %crate::error::ErrorChain(&err), "cannot claim a job");
                    tokio::time::sleep(FEED_POLL).await;
                }
            }
        }
    }

    /// Processes one claimed job: (fetch,) extract, chunk, store, index.
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
        match self.read(input).await? {
            Ok(read) => self.store.finish_job(job, &read.chunks, read.page.as_ref(), now_ms()).await?,
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
}

/// Adds every ready chunk (of one workspace, or all) from the database to `index`.
async fn copy_chunks(
    store: &dyn Store,
    index: &Arc<KeywordIndex>,
    workspace_id: Option<i64>,
) -> Result<usize, RagError> {
    let (mut after, mut total) = (0, 0);
    loop {
        let batch = store.all_chunks_to_index(workspace_id, after, 2000).await?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        total += batch.len();
        let index = Arc::clone(index);
        tokio::task::spawn_blocking(move || index.add_chunks(&batch)).await??;
    }
    Ok(total)
}

/// Searches one workspace straight from the database, with a throwaway index in
/// memory: always current and needs no data folder, so `docent search` works
/// beside a running server. Fine for debugging, too slow for serving.
pub async fn search_database(
    store: Arc<dyn Store>,
    workspace_id: i64,
    query: &str,
    limit: usize,
) -> Result<Vec<Passage>, RagError> {
    let index = Arc::new(tokio::task::spawn_blocking(KeywordIndex::in_memory).await??);
    copy_chunks(store.as_ref(), &index, Some(workspace_id)).await?;
    let committed = Arc::clone(&index);
    tokio::task::spawn_blocking(move || committed.commit(0)).await??;
    let query = query.to_owned();
    let ranked = tokio::task::spawn_blocking(move || index.search(workspace_id, &query, limit)).await??;
    passages(store.as_ref(), workspace_id, ranked, limit).await
}

/// The chunks behind ranked ids, from the database, in rank order; ids whose
/// chunks are gone (a document deleted a moment ago) are skipped.
async fn passages(
    store: &dyn Store,
    workspace_id: i64,
    ranked: Vec<(i64, f32)>,
    limit: usize,
) -> Result<Vec<Passage>, RagError> {
    let ids: Vec<i64> = ranked.iter().map(|(id, _)| *id).collect();
    let mut hits: HashMap<i64, ChunkHit> =
        store.chunk_hits(workspace_id, &ids).await?.into_iter().map(|h| (h.chunk_id, h)).collect();
    Ok(ranked
        .into_iter()
        .filter_map(|(id, score)| hits.remove(&id).map(|hit| Passage { hit, score }))
        .take(limit)
        .collect())
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
