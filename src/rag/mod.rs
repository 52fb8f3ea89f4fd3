//! The knowledge base: documents in, passages out.
//!
//! Adding a document stores it with a job in the database (so the work survives a
//! crash and any node may do it); background workers claim jobs, extract sections,
//! chunk them, embed the chunks and store both; every change is written to a
//! change feed that each node follows to keep its own indexes current: a keyword
//! index (BM25, tantivy, in the data folder) and a vector index (in memory).
//! Search fuses both rankings and reads the chunks back from the database, so a
//! deleted document's chunks leave the results at once on every node. Pages
//! added by URL are fetched by the worker that processes them (`web`, `fetch`).

pub mod chunk;
pub mod embed;
pub mod extract;
pub mod fetch;
pub mod index;
mod jobs;
mod office;
mod search;
pub mod vectors;
pub mod web;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use self::embed::Embedder;
use self::fetch::Fetcher;
use self::index::{IndexError, KeywordIndex};
use self::vectors::VectorIndex;
use crate::config::Config;
use crate::error::ErrorChain;
use crate::model::ChunkHit;
use crate::store::{Store, StoreError};

pub use jobs::{DeadlinePassed, run_with_deadline};
pub use search::{Evidence, Found, HEAD, SearchMode, search_database};

/// How often each node looks at the change feed for other nodes' work.
const FEED_POLL: Duration = Duration::from_secs(1);
/// Rows read from the database at a time when an index is rebuilt.
const COPY_BATCH: i64 = 2000;

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
    /// The ranking score: BM25 (keyword), cosine (dense) or the fused score (hybrid).
    pub score: f32,
    /// Cosine similarity of the passage to the query, when dense search ran and
    /// ranked it: an absolute measure of relevance, unlike the fused score.
    pub similarity: Option<f32>,
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
    vectors: Arc<VectorIndex>,
    embedder: Option<Arc<dyn Embedder>>,
    /// The last change-feed sequence applied to both indexes.
    applied: AtomicI64,
    /// One sync at a time.
    syncing: tokio::sync::Mutex<()>,
    /// Wakes idle workers when a job is added on this node.
    work: Notify,
    /// Asks the embedding backfill to start over from the first chunk.
    rescan: std::sync::atomic::AtomicBool,
    fetcher: Fetcher,
}

impl KnowledgeBase {
    /// Opens this node's keyword index and brings it up to date with the
    /// database, rebuilding it when it is new or belongs to another database,
    /// and loads the vectors of `embedder`'s model into memory.
    pub async fn open(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        embedder: Option<Arc<dyn Embedder>>,
    ) -> Result<Arc<Self>, RagError> {
        let dir = config.data_dir.join("index");
        let index = tokio::task::spawn_blocking(move || KeywordIndex::open(&dir)).await??;
        let applied = index.applied();
        let fetcher = Fetcher::new(&config.ingest).map_err(RagError::WebClient)?;
        let kb = Arc::new(Self {
            store,
            config,
            index: Arc::new(index),
            vectors: Arc::new(VectorIndex::new()),
            embedder,
            applied: AtomicI64::new(applied),
            syncing: tokio::sync::Mutex::new(()),
            work: Notify::new(),
            rescan: std::sync::atomic::AtomicBool::new(false),
            fetcher,
        });
        let last = kb.store.last_index_change().await?;
        if applied == 0 || applied > last {
            kb.rebuild().await?;
        } else {
            // Changes after `applied` are applied again by the sync: harmless.
            let started = std::time::Instant::now();
            let loaded = kb.copy_vectors(None).await?;
            if loaded > 0 {
                tracing::info!(
                    vectors = loaded,
                    ms = started.elapsed().as_millis() as u64,
                    "vector index loaded"
                );
            }
            kb.sync().await?;
        }
        Ok(kb)
    }

    /// The model whose vectors are searched, if any.
    pub fn embedding_model(&self) -> Option<&str> {
        self.embedder.as_deref().map(|e| e.model())
    }

    /// Rebuilds both indexes from every ready chunk in the database, or only
    /// those of one workspace; returns the chunks indexed.
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
        match workspace_id {
            None => self.vectors.clear(),
            Some(ws) => self.vectors.remove_workspace(ws),
        }
        let total = copy_chunks(self.store.as_ref(), &self.index, workspace_id).await?;
        let vectors = self.copy_vectors(workspace_id).await?;
        self.commit(seq).await?;
        tracing::info!(chunks = total, vectors, seq, "search indexes rebuilt");
        Ok(total)
    }

    /// Loads the vectors of the embedder's model (of one workspace, or all).
    async fn copy_vectors(&self, workspace_id: Option<i64>) -> Result<usize, RagError> {
        let Some(model) = self.embedding_model() else { return Ok(0) };
        copy_vectors(self.store.as_ref(), &self.vectors, model, workspace_id).await
    }

    /// Applies the change feed since the last sync.
    pub async fn sync(&self) -> Result<(), RagError> {
        let _guard = self.syncing.lock().await;
        loop {
            let after = self.applied.load(Ordering::Acquire);
            let changes = self.store.index_changes_after(after, 500).await?;
            let Some(last) = changes.last().map(|c| c.seq) else { return Ok(()) };
            let documents: BTreeMap<i64, i64> =
                changes.iter().map(|c| (c.document_id, c.workspace_id)).collect();
            for (document_id, workspace_id) in documents {
                let chunks = self.store.chunks_to_index(document_id).await?;
                let index = Arc::clone(&self.index);
                tokio::task::spawn_blocking(move || index.replace_document(document_id, &chunks)).await??;
                if let Some(model) = self.embedding_model() {
                    let vectors = self.store.document_vectors(document_id, model).await?;
                    let index = Arc::clone(&self.vectors);
                    tokio::task::spawn_blocking(move || {
                        index.replace_document(workspace_id, document_id, &vectors)
                    })
                    .await?;
                }
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

    /// A document's title changed: its vectors (which embed the title) are made again.
    pub async fn title_changed(&self, document_id: i64) -> Result<(), RagError> {
        if self.embedder.is_some() {
            self.store.delete_document_vectors(document_id).await?;
            self.rescan.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Tells this node's workers there is work.
    pub fn job_added(&self) {
        self.work.notify_waiters();
    }

    /// Runs the job workers, the embedding backfill and the change-feed
    /// follower until `stop`.
    pub async fn run_background(self: Arc<Self>, stop: impl Future<Output = ()> + Send) {
        let workers = usize::from(self.config.ingest.workers.max(1));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..workers {
            tasks.spawn(Arc::clone(&self).work_loop());
        }
        if self.embedder.is_some() {
            tasks.spawn(Arc::clone(&self).backfill_loop());
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
                tracing::warn!(error = %ErrorChain(&err), "search index sync failed");
            }
        }
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
        let batch = store.all_chunks_to_index(workspace_id, after, COPY_BATCH).await?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        total += batch.len();
        let index = Arc::clone(index);
        tokio::task::spawn_blocking(move || index.add_chunks(&batch)).await??;
    }
    Ok(total)
}

/// Adds every vector of `model` (of one workspace, or all) from the database to `vectors`.
async fn copy_vectors(
    store: &dyn Store,
    vectors: &VectorIndex,
    model: &str,
    workspace_id: Option<i64>,
) -> Result<usize, RagError> {
    let (mut after, mut total) = (0, 0);
    loop {
        let batch = store.all_vectors(model, workspace_id, after, COPY_BATCH).await?;
        let Some(last) = batch.last() else { break };
        after = last.chunk_id;
        total += batch.len();
        vectors.add(&batch);
    }
    Ok(total)
}
