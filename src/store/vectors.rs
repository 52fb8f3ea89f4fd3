//! Embedding vectors of chunks in the database, the source of truth for every
//! node's in-memory vector index (see `rag::vectors`).
//!
//! A vector is stored as little-endian `f32` bytes with the name of the model
//! that made it; a chunk without a vector of the configured model is embedded
//! (again) in the background. SQL shared by both databases, like `knowledge.rs`.

use async_trait::async_trait;

use super::StoreResult;
use crate::model::{IndexedChunk, StoredVector};

#[async_trait]
pub trait Vectors: Send + Sync {
    /// Chunks of ready documents with `id > after` that have no vector made by
    /// `model`, in id order.
    async fn chunks_to_embed(&self, model: &str, after: i64, limit: i64) -> StoreResult<Vec<IndexedChunk>>;
    /// Stores vectors made by `model`, replacing older ones, and tells the change
    /// feed about each document touched. Chunks deleted meanwhile are skipped.
    async fn put_vectors(
        &self,
        model: &str,
        vectors: &[(IndexedChunk, Vec<f32>)],
        now: i64,
    ) -> StoreResult<()>;
    /// The vectors of one ready document made by `model`.
    async fn document_vectors(&self, document_id: i64, model: &str) -> StoreResult<Vec<StoredVector>>;
    /// Every vector made by `model` of ready documents (of one workspace, or
    /// all) with `chunk_id > after`, in chunk order.
    async fn all_vectors(
        &self,
        model: &str,
        workspace_id: Option<i64>,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<StoredVector>>;
    /// Deletes the vectors made by any model but `model` (once every chunk has one of `model`).
    async fn delete_other_vectors(&self, model: &str) -> StoreResult<u64>;
    /// Deletes a document's vectors (its title changed: they are made again).
    async fn delete_document_vectors(&self, document_id: i64) -> StoreResult<()>;
    /// How many chunks of ready documents have a vector made by `model`, and how many chunks there are.
    async fn vector_coverage(&self, model: &str) -> StoreResult<(i64, i64)>;
}

/// Expands into `impl Vectors for $store`; needs the `record_change` and
/// `begin_write` helpers that `impl_knowledge!` and the store define.
macro_rules! impl_vectors {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::Vectors for $store {
            async fn chunks_to_embed(&self, model: &str, after: i64, limit: i64) -> StoreResult<Vec<IndexedChunk>> {
                Ok(sqlx::query_as(
                    "SELECT c.id, c.workspace_id, c.document_id, d.title, c.heading_path, c.text
                       FROM chunks c
                       JOIN documents d ON d.id = c.document_id AND d.status = 'ready'
                      WHERE c.id > $2
                        AND NOT EXISTS (SELECT 1 FROM chunk_vectors v WHERE v.chunk_id = c.id AND v.model = $1)
                      ORDER BY c.id LIMIT $3",
                )
                .bind(model)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn put_vectors(
                &self,
                model: &str,
                vectors: &[(IndexedChunk, Vec<f32>)],
                now: i64,
            ) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                let mut documents = std::collections::BTreeMap::new();
                for (chunk, vector) in vectors {
                    // INSERT ... SELECT: nothing is written for a chunk deleted meanwhile.
                    let written = sqlx::query(
                        "INSERT INTO chunk_vectors (chunk_id, workspace_id, document_id, model, vector)
                         SELECT id, workspace_id, document_id, $2, $3 FROM chunks WHERE id = $1
                         ON CONFLICT (chunk_id, model) DO UPDATE SET vector = excluded.vector",
                    )
                    .bind(chunk.id)
                    .bind(model)
                    .bind($crate::model::encode_vector(vector))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if written > 0 {
                        documents.insert(chunk.document_id, chunk.workspace_id);
                    }
                }
                for (document_id, workspace_id) in documents {
                    self.record_change(&mut tx, workspace_id, document_id, now).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn document_vectors(&self, document_id: i64, model: &str) -> StoreResult<Vec<StoredVector>> {
                Ok(sqlx::query_as(
                    "SELECT v.chunk_id, v.workspace_id, v.document_id, v.vector
                       FROM chunk_vectors v JOIN documents d ON d.id = v.document_id
                      WHERE v.document_id = $1 AND v.model = $2 AND d.status = 'ready'
                      ORDER BY v.chunk_id",
                )
                .bind(document_id)
                .bind(model)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn all_vectors(
                &self,
                model: &str,
                workspace_id: Option<i64>,
                after: i64,
                limit: i64,
            ) -> StoreResult<Vec<StoredVector>> {
                Ok(sqlx::query_as(
                    "SELECT v.chunk_id, v.workspace_id, v.document_id, v.vector
                       FROM chunk_vectors v JOIN documents d ON d.id = v.document_id
                      WHERE v.model = $1 AND v.chunk_id > $2 AND d.status = 'ready'
                        AND (CAST($4 AS BIGINT) IS NULL OR v.workspace_id = $4)
                      ORDER BY v.chunk_id LIMIT $3",
                )
                .bind(model)
                .bind(after)
                .bind(limit)
                .bind(workspace_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn delete_other_vectors(&self, model: &str) -> StoreResult<u64> {
                Ok(sqlx::query("DELETE FROM chunk_vectors WHERE model <> $1")
                    .bind(model)
                    .execute(&self.pool)
                    .await?
                    .rows_affected())
            }

            async fn delete_document_vectors(&self, document_id: i64) -> StoreResult<()> {
                sqlx::query("DELETE FROM chunk_vectors WHERE document_id = $1")
                    .bind(document_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn vector_coverage(&self, model: &str) -> StoreResult<(i64, i64)> {
                Ok(sqlx::query_as(
                    "SELECT CAST(COUNT(v.chunk_id) AS BIGINT), CAST(COUNT(*) AS BIGINT)
                       FROM chunks c
                       JOIN documents d ON d.id = c.document_id AND d.status = 'ready'
                       LEFT JOIN chunk_vectors v ON v.chunk_id = c.id AND v.model = $1",
                )
                .bind(model)
                .fetch_one(&self.pool)
                .await?)
            }
        }
    };
}
pub(super) use impl_vectors;
