//! Search: keyword (BM25), dense (cosine over embeddings) and hybrid, which
//! fuses the two rankings by reciprocal rank: each passage scores
//! Σ 1 / (K + rank) over the rankings it appears in. Rank fusion needs no
//! calibration between BM25's unbounded scores and cosines, and a passage that
//! both retrievers like rises above one that only one of them likes.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use super::embed::{Embedder, Purpose};
use super::index::{KeywordIndex, QueryTerms, StopWords};
use super::vectors::VectorIndex;
use super::{KnowledgeBase, Passage, RagError, copy_chunks, copy_vectors};
use crate::model::ChunkHit;
use crate::store::Store;

/// The rank-fusion constant; 60 is the value of Cormack et al., and `eval/` found no better.
const RRF_K: f32 = 60.0;
/// Candidates taken from each retriever before fusing.
const CANDIDATES: usize = 50;
/// A query's embedding may take this long; past it, search goes on by keyword.
const QUERY_EMBED_TIMEOUT: Duration = Duration::from_secs(5);
/// Results of each retriever kept as evidence of how well they agree.
pub const HEAD: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchMode {
    /// Both retrievers, fused (keyword alone when there are no vectors).
    #[default]
    Hybrid,
    Keyword,
    /// Vectors alone (nothing when there are none).
    Dense,
}

impl FromStr for SearchMode {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "hybrid" => Ok(Self::Hybrid),
            "keyword" => Ok(Self::Keyword),
            "dense" => Ok(Self::Dense),
            _ => Err(()),
        }
    }
}

/// A chunk id with its ranking score and, when dense search saw it, its cosine.
#[derive(Debug, Clone, Copy)]
struct Ranked {
    chunk_id: i64,
    score: f32,
    similarity: Option<f32>,
}

/// What a search saw besides its ranking, for judging whether the workspace
/// answers the query at all (`chat::answerable`).
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// The query's salient words as the workspace uses them (none in dense mode).
    pub terms: QueryTerms,
    /// The first chunks by keyword, best first.
    pub keyword_head: Vec<i64>,
    /// The first chunks by cosine, with their cosines, best first (none
    /// without an embedding model).
    pub dense_head: Vec<(i64, f32)>,
}

/// A search's passages and what it saw.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub passages: Vec<Passage>,
    pub evidence: Evidence,
}

/// The indexes and embedder one search needs.
struct Retrievers<'a> {
    keywords: &'a Arc<KeywordIndex>,
    vectors: &'a Arc<VectorIndex>,
    embedder: Option<&'a Arc<dyn Embedder>>,
}

impl Retrievers<'_> {
    async fn rank(
        &self,
        workspace_id: i64,
        query: &str,
        want: usize,
        mode: SearchMode,
    ) -> Result<(Vec<Ranked>, Evidence), RagError> {
        let n = want.max(CANDIDATES);
        // Alone, BM25 does better without stop words; beside dense search, with
        // them (eval/: see index::QUERY_STOP_WORDS).
        let with_dense =
            mode != SearchMode::Keyword && self.embedder.is_some() && self.vectors.count(workspace_id) > 0;
        let stop_words = if with_dense { StopWords::Keep } else { StopWords::Skip };
        // Both retrievers at once: BM25 runs on a blocking thread while the query
        // is embedded, so hybrid costs the slower of the two, not their sum.
        let keyword = async {
            if mode == SearchMode::Dense {
                return Ok::<_, RagError>((Vec::new(), QueryTerms::default()));
            }
            let (index, query) = (Arc::clone(self.keywords), query.to_owned());
            tokio::task::spawn_blocking(move || {
                Ok::<_, RagError>((
                    index.search(workspace_id, &query, n, stop_words)?,
                    index.term_use(workspace_id, &query)?,
                ))
            })
            .await?
        };
        let dense = async {
            match mode {
                SearchMode::Keyword => Vec::new(),
                _ => self.dense(workspace_id, query, n).await,
            }
        };
        let (keyword, dense) = tokio::join!(keyword, dense);
        let (keyword, terms) = keyword?;
        let evidence = Evidence {
            terms,
            keyword_head: keyword.iter().take(HEAD).map(|&(id, _)| id).collect(),
            dense_head: dense.iter().take(HEAD).copied().collect(),
        };
        let ranked = match mode {
            SearchMode::Keyword => plain(keyword, false),
            SearchMode::Dense => plain(dense, true),
            SearchMode::Hybrid if dense.is_empty() => plain(keyword, false),
            SearchMode::Hybrid => fuse(&keyword, &dense),
        };
        Ok((ranked, evidence))
    }

    /// Nearest chunks by cosine, or none when there is no embedder, no vector
    /// in the workspace, or the query could not be embedded in time.
    async fn dense(&self, workspace_id: i64, query: &str, n: usize) -> Vec<(i64, f32)> {
        let Some(embedder) = self.embedder else { return Vec::new() };
        if self.vectors.count(workspace_id) == 0 {
            return Vec::new();
        }
        let embedded =
            tokio::time::timeout(QUERY_EMBED_TIMEOUT, embedder.embed(vec![query.to_owned()], Purpose::Query))
                .await;
        match embedded {
            Ok(Ok(mut vectors)) if !vectors.is_empty() => {
                // An exact scan: CPU work, off the executor.
                let (index, query) = (Arc::clone(self.vectors), vectors.swap_remove(0));
                tokio::task::spawn_blocking(move || index.search(workspace_id, &query, n))
                    .await
                    .unwrap_or_default()
            }
            Ok(Ok(_)) => Vec::new(),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "query embedding failed; searching by keyword only");
                Vec::new()
            }
            Err(_) => {
                tracing::warn!("query embedding timed out; searching by keyword only");
                Vec::new()
            }
        }
    }
}

fn plain(ranking: Vec<(i64, f32)>, dense: bool) -> Vec<Ranked> {
    ranking
        .into_iter()
        .map(|(chunk_id, score)| Ranked { chunk_id, score, similarity: dense.then_some(score) })
        .collect()
}

/// Reciprocal-rank fusion of a keyword and a dense ranking, best first.
fn fuse(keyword: &[(i64, f32)], dense: &[(i64, f32)]) -> Vec<Ranked> {
    let mut fused: HashMap<i64, Ranked> = HashMap::with_capacity(keyword.len() + dense.len());
    let contribution = |rank: usize| 1.0 / (RRF_K + rank as f32 + 1.0);
    for (rank, &(chunk_id, _)) in keyword.iter().enumerate() {
        fused.entry(chunk_id).or_insert(Ranked { chunk_id, score: 0.0, similarity: None }).score +=
            contribution(rank);
    }
    for (rank, &(chunk_id, cosine)) in dense.iter().enumerate() {
        let entry = fused.entry(chunk_id).or_insert(Ranked { chunk_id, score: 0.0, similarity: None });
        entry.score += contribution(rank);
        entry.similarity = Some(cosine);
    }
    let mut ranked: Vec<Ranked> = fused.into_values().collect();
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.chunk_id.cmp(&b.chunk_id)));
    ranked
}

impl KnowledgeBase {
    /// The best passages of a workspace for `query`, best first.
    ///
    /// When the change feed is ahead of this node's indexes (a document became
    /// ready a moment ago, here or on another node) they catch up first, so a
    /// search never misses what the database already shows as ready.
    pub async fn search(
        &self,
        workspace_id: i64,
        query: &str,
        limit: usize,
        mode: SearchMode,
    ) -> Result<Vec<Passage>, RagError> {
        Ok(self.find(workspace_id, query, limit, mode).await?.passages)
    }

    /// [`search`](Self::search), with what the search saw.
    pub async fn find(
        &self,
        workspace_id: i64,
        query: &str,
        limit: usize,
        mode: SearchMode,
    ) -> Result<Found, RagError> {
        if self.store.last_index_change().await? > self.applied.load(std::sync::atomic::Ordering::Acquire) {
            self.sync().await?;
        }
        let retrievers =
            Retrievers { keywords: &self.index, vectors: &self.vectors, embedder: self.embedder.as_ref() };
        // A few more than needed: some may belong to documents deleted a moment
        // ago, which the database no longer returns.
        let (ranked, evidence) = retrievers.rank(workspace_id, query, limit + 10, mode).await?;
        let passages = passages(self.store.as_ref(), workspace_id, ranked, limit).await?;
        Ok(Found { passages, evidence })
    }
}

/// Searches one workspace straight from the database, with throwaway indexes in
/// memory: always current and needs no data folder, so `docent search` works
/// beside a running server. Fine for debugging, too slow for serving.
pub async fn search_database(
    store: Arc<dyn Store>,
    embedder: Option<Arc<dyn Embedder>>,
    workspace_id: i64,
    query: &str,
    limit: usize,
    mode: SearchMode,
) -> Result<Vec<Passage>, RagError> {
    let keywords = Arc::new(tokio::task::spawn_blocking(KeywordIndex::in_memory).await??);
    copy_chunks(store.as_ref(), &keywords, Some(workspace_id)).await?;
    let committed = Arc::clone(&keywords);
    tokio::task::spawn_blocking(move || committed.commit(0)).await??;
    let vectors = Arc::new(VectorIndex::new());
    if let Some(embedder) = &embedder {
        copy_vectors(store.as_ref(), &vectors, embedder.model(), Some(workspace_id)).await?;
    }
    let retrievers = Retrievers { keywords: &keywords, vectors: &vectors, embedder: embedder.as_ref() };
    let (ranked, _) = retrievers.rank(workspace_id, query, limit, mode).await?;
    passages(store.as_ref(), workspace_id, ranked, limit).await
}

/// The chunks behind ranked ids, from the database, in rank order; ids whose
/// chunks are gone (a document deleted a moment ago) are skipped.
async fn passages(
    store: &dyn Store,
    workspace_id: i64,
    ranked: Vec<Ranked>,
    limit: usize,
) -> Result<Vec<Passage>, RagError> {
    let ids: Vec<i64> = ranked.iter().take(limit + 10).map(|r| r.chunk_id).collect();
    let mut hits: HashMap<i64, ChunkHit> =
        store.chunk_hits(workspace_id, &ids).await?.into_iter().map(|h| (h.chunk_id, h)).collect();
    Ok(ranked
        .into_iter()
        .filter_map(|r| {
            hits.remove(&r.chunk_id).map(|hit| Passage { hit, score: r.score, similarity: r.similarity })
        })
        .take(limit)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fusion_prefers_what_both_retrievers_rank_well() {
        let keyword = [(1, 9.0), (2, 8.0), (3, 7.0)];
        let dense = [(3, 0.9), (4, 0.8), (1, 0.7)];
        let fused = fuse(&keyword, &dense);
        let order: Vec<i64> = fused.iter().map(|r| r.chunk_id).collect();
        assert_eq!(order, [1, 3, 2, 4]);
        assert_eq!(fused[1].similarity, Some(0.9));
        assert_eq!(fused[2].similarity, None, "only keyword search saw chunk 2");
    }
}
