//! Knowledge in the database: documents, their chunks, the processing queue and
//! the change feed. The database is the source of truth; each node's search
//! index is derived from it (see `rag::index`).
//!
//! Like `queries.rs`, the SQL both databases share is written once in
//! [`impl_knowledge!`]; claiming a job and fetching chunks by id differ per
//! database and are passed in.

use super::StoreResult;
use crate::model::{
    AddOutcome, ChunkHit, Document, FetchedPage, IndexChange, IndexedChunk, Job, JobInput, NewChunk,
    NewDocument,
};
use async_trait::async_trait;

#[async_trait]
pub trait Knowledge: Send + Sync {
    /// Stores a document and queues it, or finds the same content already there.
    async fn add_document(&self, doc: &NewDocument, now: i64) -> StoreResult<AddOutcome>;
    async fn list_documents(&self, user_id: i64, workspace_id: i64) -> StoreResult<Vec<Document>>;
    async fn document(&self, user_id: i64, workspace_id: i64, id: i64) -> StoreResult<Option<Document>>;
    async fn update_document(
        &self,
        workspace_id: i64,
        id: i64,
        title: &str,
        url: Option<&str>,
        now: i64,
    ) -> StoreResult<()>;
    /// Deletes a document and its chunks, and tells the change feed.
    async fn delete_document(&self, workspace_id: i64, id: i64, now: i64) -> StoreResult<bool>;

    /// Takes the oldest job that is pending or whose lease ran out, for `lease_ms`.
    async fn claim_job(&self, now: i64, lease_ms: i64) -> StoreResult<Option<Job>>;
    async fn renew_job(&self, job_id: i64, until: i64) -> StoreResult<()>;
    /// Marks the document `processing` and returns what is needed to process it;
    /// `None` when the document is gone or the job is no longer this worker's.
    async fn start_job(&self, job: &Job, now: i64) -> StoreResult<Option<JobInput>>;
    /// Replaces the document's chunks (and the vectors they carry, made by
    /// `model`), marks it `ready` and the job done; for a web page, also stores
    /// what fetching it found out.
    async fn finish_job(
        &self,
        job: &Job,
        chunks: &[NewChunk],
        model: &str,
        page: Option<&FetchedPage>,
        now: i64,
    ) -> StoreResult<()>;
    /// Marks the document `failed` with a reason and the job failed.
    async fn fail_job(&self, job: &Job, error: &str, now: i64) -> StoreResult<()>;

    /// The newest change's sequence number (0 when none).
    async fn last_index_change(&self) -> StoreResult<i64>;
    async fn index_changes_after(&self, seq: i64, limit: i64) -> StoreResult<Vec<IndexChange>>;
    /// The chunks of a ready document (none when it is gone or not ready).
    async fn chunks_to_index(&self, document_id: i64) -> StoreResult<Vec<IndexedChunk>>;
    /// Every chunk of every ready document (of one workspace, or all) with
    /// `id > after`, in id order.
    async fn all_chunks_to_index(
        &self,
        workspace_id: Option<i64>,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<IndexedChunk>>;
    /// A document by id alone, for the command line (no membership check).
    async fn document_by_id(&self, id: i64) -> StoreResult<Option<Document>>;
    /// A workspace's name by id alone, for the command line.
    async fn workspace_name(&self, id: i64) -> StoreResult<Option<String>>;
    /// How many documents of a workspace are still `pending` or `processing`.
    async fn unsettled_documents(&self, workspace_id: i64) -> StoreResult<i64>;
    /// Chunks by id, only those in the workspace whose documents are ready, in any order.
    async fn chunk_hits(&self, workspace_id: i64, ids: &[i64]) -> StoreResult<Vec<ChunkHit>>;
}

/// Columns of [`Document`], on table alias `d`.
macro_rules! document_columns {
    () => {
        "d.id, d.workspace_id, d.title, d.source, d.url, d.kind, d.status, d.error, d.chunk_count,
         d.size_bytes, d.created_at, d.updated_at"
    };
}
pub(super) use document_columns;

/// The change feed's newest sequence number (NULL when it is empty).
pub(super) const LAST_INDEX_CHANGE: &str = "SELECT MAX(seq) FROM index_changes";

/// Expands into `impl Knowledge for $store` with the shared methods plus `$extra`.
macro_rules! impl_knowledge {
    ($store:ty, $db:ty, { $($extra:tt)* }) => {
        impl $store {
            /// Adds a change-feed entry inside `tx`, after taking the feed lock.
            async fn record_change(
                &self,
                tx: &mut sqlx::Transaction<'static, $db>,
                workspace_id: i64,
                document_id: i64,
                now: i64,
            ) -> Result<(), sqlx::Error> {
                self.lock_feed(tx).await?;
                sqlx::query("INSERT INTO index_changes (workspace_id, document_id, created_at) VALUES ($1, $2, $3)")
                    .bind(workspace_id)
                    .bind(document_id)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            /// Ends a job with `status`, only if `job` still holds it (running, same
            /// attempt): a worker whose lease was taken over must write nothing.
            async fn end_job(
                &self,
                tx: &mut sqlx::Transaction<'static, $db>,
                job: &Job,
                status: &str,
                now: i64,
            ) -> Result<bool, sqlx::Error> {
                let owned = sqlx::query(
                    "UPDATE jobs SET status = $4, locked_until = NULL, updated_at = $3
                      WHERE id = $1 AND status = 'running' AND attempts = $2",
                )
                .bind(job.id)
                .bind(job.attempts)
                .bind(now)
                .bind(status)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                Ok(owned == 1)
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::Knowledge for $store {
            $($extra)*

            async fn add_document(&self, doc: &NewDocument, now: i64) -> StoreResult<AddOutcome> {
                let mut tx = self.begin_write().await?;
                let inserted: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO documents (workspace_id, title, source, url, kind, content_hash, size_bytes,
                                            status, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $8)
                     ON CONFLICT (workspace_id, kind, content_hash) DO NOTHING
                     RETURNING id",
                )
                .bind(doc.workspace_id)
                .bind(&doc.title)
                .bind(&doc.source)
                .bind(&doc.url)
                .bind(&doc.kind)
                .bind(&doc.content_hash)
                .bind(i64::try_from(doc.content.len()).unwrap_or(i64::MAX))
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(id) = inserted else {
                    tx.rollback().await?;
                    let existing: Document = sqlx::query_as(concat!(
                        "SELECT ", knowledge::document_columns!(),
                        " FROM documents d WHERE d.workspace_id = $1 AND d.content_hash = $2 AND d.kind = $3"
                    ))
                    .bind(doc.workspace_id)
                    .bind(&doc.content_hash)
                    .bind(&doc.kind)
                    .fetch_one(&self.pool)
                    .await?;
                    return Ok(AddOutcome::Duplicate(existing));
                };
                sqlx::query("INSERT INTO document_contents (document_id, content) VALUES ($1, $2)")
                    .bind(id)
                    .bind(&doc.content)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO jobs (document_id, status, created_at, updated_at) VALUES ($1, 'pending', $2, $2)",
                )
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let added: Document = sqlx::query_as(concat!(
                    "SELECT ", knowledge::document_columns!(), " FROM documents d WHERE d.id = $1"
                ))
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(AddOutcome::Added(added))
            }

            async fn list_documents(&self, user_id: i64, workspace_id: i64) -> StoreResult<Vec<Document>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ", knowledge::document_columns!(), " FROM documents d
                       JOIN workspace_members m ON m.workspace_id = d.workspace_id AND m.user_id = $1
                      WHERE d.workspace_id = $2 ORDER BY d.id"
                ))
                .bind(user_id)
                .bind(workspace_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn document(&self, user_id: i64, workspace_id: i64, id: i64) -> StoreResult<Option<Document>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ", knowledge::document_columns!(), " FROM documents d
                       JOIN workspace_members m ON m.workspace_id = d.workspace_id AND m.user_id = $1
                      WHERE d.workspace_id = $2 AND d.id = $3"
                ))
                .bind(user_id)
                .bind(workspace_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn update_document(
                &self,
                workspace_id: i64,
                id: i64,
                title: &str,
                url: Option<&str>,
                now: i64,
            ) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query("UPDATE documents SET title = $3, url = $4, updated_at = $5 WHERE workspace_id = $1 AND id = $2")
                    .bind(workspace_id)
                    .bind(id)
                    .bind(title)
                    .bind(url)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                // The title is indexed with every chunk.
                self.record_change(&mut tx, workspace_id, id, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_document(&self, workspace_id: i64, id: i64, now: i64) -> StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                let gone = sqlx::query("DELETE FROM documents WHERE workspace_id = $1 AND id = $2")
                    .bind(workspace_id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if gone == 1 {
                    self.record_change(&mut tx, workspace_id, id, now).await?;
                }
                tx.commit().await?;
                Ok(gone == 1)
            }

            async fn renew_job(&self, job_id: i64, until: i64) -> StoreResult<()> {
                sqlx::query("UPDATE jobs SET locked_until = $2 WHERE id = $1 AND status = 'running'")
                    .bind(job_id)
                    .bind(until)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn start_job(&self, job: &Job, now: i64) -> StoreResult<Option<JobInput>> {
                // Only while the job is still this worker's (not taken over after its lease).
                let owned = sqlx::query(
                    "UPDATE documents SET status = 'processing', updated_at = $2
                      WHERE id = $1 AND EXISTS (
                        SELECT 1 FROM jobs j WHERE j.id = $3 AND j.status = 'running' AND j.attempts = $4)",
                )
                .bind(job.document_id)
                .bind(now)
                .bind(job.id)
                .bind(job.attempts)
                .execute(&self.pool)
                .await?
                .rows_affected();
                if owned == 0 {
                    return Ok(None);
                }
                Ok(sqlx::query_as(
                    "SELECT d.workspace_id, d.title, d.source, d.kind, c.content
                       FROM documents d JOIN document_contents c ON c.document_id = d.id WHERE d.id = $1",
                )
                .bind(job.document_id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn finish_job(
                &self,
                job: &Job,
                chunks: &[NewChunk],
                model: &str,
                page: Option<&FetchedPage>,
                now: i64,
            ) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                // Only the worker that holds the job may finish it: one whose lease ran
                // out and was taken over must not write a second set of chunks.
                if !self.end_job(&mut tx, job, "done", now).await? {
                    tx.rollback().await?;
                    return Ok(());
                }
                let workspace_id: Option<i64> =
                    sqlx::query_scalar("SELECT workspace_id FROM documents WHERE id = $1")
                        .bind(job.document_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some(workspace_id) = workspace_id else {
                    // Deleted while it was being processed: nothing to store.
                    tx.rollback().await?;
                    return Ok(());
                };
                sqlx::query("DELETE FROM chunks WHERE document_id = $1")
                    .bind(job.document_id)
                    .execute(&mut *tx)
                    .await?;
                for (ordinal, chunk) in chunks.iter().enumerate() {
                    let chunk_id: i64 = sqlx::query_scalar(
                        "INSERT INTO chunks (document_id, workspace_id, ordinal, heading_path, anchor, text)
                         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    )
                    .bind(job.document_id)
                    .bind(workspace_id)
                    .bind(i64::try_from(ordinal).unwrap_or(i64::MAX))
                    .bind(&chunk.heading_path)
                    .bind(&chunk.anchor)
                    .bind(&chunk.text)
                    .fetch_one(&mut *tx)
                    .await?;
                    if let Some(vector) = &chunk.vector {
                        sqlx::query(
                            "INSERT INTO chunk_vectors (chunk_id, workspace_id, document_id, model, vector)
                             VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(chunk_id)
                        .bind(workspace_id)
                        .bind(job.document_id)
                        .bind(model)
                        .bind($crate::model::encode_vector(vector))
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                sqlx::query(
                    "UPDATE documents SET status = 'ready', error = NULL, chunk_count = $2, updated_at = $3
                      WHERE id = $1",
                )
                .bind(job.document_id)
                .bind(i64::try_from(chunks.len()).unwrap_or(i64::MAX))
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if let Some(page) = page {
                    // Right-hand sides see the row as it was: `url = source` means
                    // the owner has not changed the URL.
                    sqlx::query(
                        "UPDATE documents SET source = $2,
                                url = CASE WHEN url = source THEN $2 ELSE url END,
                                title = CASE WHEN title = $4 THEN $3 ELSE title END,
                                size_bytes = $5
                          WHERE id = $1",
                    )
                    .bind(job.document_id)
                    .bind(&page.url)
                    .bind(&page.title)
                    .bind(&page.placeholder_title)
                    .bind(page.size_bytes)
                    .execute(&mut *tx)
                    .await?;
                }
                self.record_change(&mut tx, workspace_id, job.document_id, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn fail_job(&self, job: &Job, error: &str, now: i64) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                if !self.end_job(&mut tx, job, "failed", now).await? {
                    tx.rollback().await?;
                    return Ok(());
                }
                sqlx::query("UPDATE documents SET status = 'failed', error = $2, chunk_count = 0, updated_at = $3 WHERE id = $1")
                    .bind(job.document_id)
                    .bind(error)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn index_changes_after(&self, seq: i64, limit: i64) -> StoreResult<Vec<IndexChange>> {
                Ok(sqlx::query_as(
                    "SELECT seq, workspace_id, document_id FROM index_changes WHERE seq > $1 ORDER BY seq LIMIT $2",
                )
                .bind(seq)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn chunks_to_index(&self, document_id: i64) -> StoreResult<Vec<IndexedChunk>> {
                Ok(sqlx::query_as(
                    "SELECT c.id, c.workspace_id, c.document_id, d.title, c.heading_path, c.text
                       FROM chunks c JOIN documents d ON d.id = c.document_id
                      WHERE c.document_id = $1 AND d.status = 'ready' ORDER BY c.ordinal",
                )
                .bind(document_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn all_chunks_to_index(
                &self,
                workspace_id: Option<i64>,
                after: i64,
                limit: i64,
            ) -> StoreResult<Vec<IndexedChunk>> {
                Ok(sqlx::query_as(
                    "SELECT c.id, c.workspace_id, c.document_id, d.title, c.heading_path, c.text
                       FROM chunks c JOIN documents d ON d.id = c.document_id
                      WHERE c.id > $1 AND d.status = 'ready'
                        AND (CAST($3 AS BIGINT) IS NULL OR c.workspace_id = $3)
                      ORDER BY c.id LIMIT $2",
                )
                .bind(after)
                .bind(limit)
                .bind(workspace_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn document_by_id(&self, id: i64) -> StoreResult<Option<Document>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ", knowledge::document_columns!(), " FROM documents d WHERE d.id = $1"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn workspace_name(&self, id: i64) -> StoreResult<Option<String>> {
                Ok(sqlx::query_scalar("SELECT name FROM workspaces WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn unsettled_documents(&self, workspace_id: i64) -> StoreResult<i64> {
                Ok(sqlx::query_scalar(
                    "SELECT COUNT(*) FROM documents WHERE workspace_id = $1 AND status IN ('pending', 'processing')",
                )
                .bind(workspace_id)
                .fetch_one(&self.pool)
                .await?)
            }
        }
    };
}
pub(super) use impl_knowledge;
