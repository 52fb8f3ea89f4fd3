//! The SQLite store: one file in the data folder, WAL, busy timeout, foreign keys on.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::group_commit::TurnWriter;
use super::knowledge::{self, impl_knowledge};
use super::queries::{self, impl_store};
use super::vectors::impl_vectors;
use super::widget::impl_widget_tokens;
use super::windows::Windows;
use super::*;
use crate::config::{DatabaseConfig, DatabaseKind};

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    pool: SqlitePool,
    windows: Windows,
    turns: TurnWriter,
}

impl SqliteStore {
    pub async fn connect(
        options: SqliteConnectOptions,
        config: &DatabaseConfig,
    ) -> Result<Self, sqlx::Error> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Reads map the file instead of copying pages out of the kernel:
            // under load a connection re-reads every page another one changed.
            .pragma("mmap_size", "268435456");
        if let Some(parent) = options.get_filename().parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(config.max_connections)
            // A connection to a file in this process cannot go stale, and
            // checking it would cost a round trip to its worker thread on
            // every statement (a third of a chat turn's hops).
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(config.acquire_timeout_seconds))
            .connect_with(options)
            .await?;
        let turns = TurnWriter::start(pool.clone());
        Ok(Self { pool, windows: Windows::default(), turns })
    }
}

impl SqliteStore {
    /// A transaction that takes the write lock at once. A deferred one that reads
    /// first cannot upgrade once another connection has written (SQLITE_BUSY
    /// without waiting); an immediate one waits its turn under the busy timeout.
    /// The change feed needs no lock here: SQLite has one writer at a time, so
    /// sequence numbers are committed in order.
    async fn lock_feed(&self, _tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>) -> Result<(), sqlx::Error> {
        Ok(())
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// Nothing to lock: an immediate transaction already has the one writer's place.
    async fn lock_bot_sessions(
        &self,
        _tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
        _bot_id: i64,
    ) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

impl_store!(SqliteStore, {
    fn kind(&self) -> DatabaseKind {
        DatabaseKind::Sqlite
    }

    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    // Committed in groups: see `group_commit`.
    async fn add_message(&self, message: &NewMessage) -> StoreResult<i64> {
        self.turns.add_message(message.clone()).await
    }
});

impl_knowledge!(SqliteStore, sqlx::Sqlite, {
    async fn claim_job(&self, now: i64, lease_ms: i64) -> StoreResult<Option<Job>> {
        // SQLite has one writer at a time, so the UPDATE claims atomically.
        Ok(sqlx::query_as(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_until = $2, updated_at = $1
              WHERE id = (SELECT id FROM jobs
                           WHERE status = 'pending' OR (status = 'running' AND locked_until < $1)
                           ORDER BY id LIMIT 1)
              RETURNING id, document_id, attempts",
        )
        .bind(now)
        .bind(now + lease_ms)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn chunk_hits(&self, workspace_id: i64, ids: &[i64]) -> StoreResult<Vec<ChunkHit>> {
        Ok(sqlx::query_as(
            "SELECT c.id AS chunk_id, c.document_id, d.title, d.source, d.url, c.heading_path, c.anchor, c.text
               FROM chunks c JOIN documents d ON d.id = c.document_id
              WHERE c.workspace_id = $1 AND d.status = 'ready'
                AND c.id IN (SELECT value FROM json_each($2))",
        )
        .bind(workspace_id)
        .bind(serde_json::to_string(ids)?)
        .fetch_all(&self.pool)
        .await?)
    }
});

impl_vectors!(SqliteStore);
impl_widget_tokens!(SqliteStore, {
    // One process uses a SQLite database, so its abuse-limit windows can live
    // in memory: no write transaction per visitor request.
    async fn hit_rate_limit(&self, key: &str, now: i64, window_ms: i64) -> StoreResult<(i64, i64)> {
        Ok(self.windows.hit(key, now, window_ms))
    }

    async fn purge_rate_limits(&self, now: i64) -> StoreResult<u64> {
        Ok(self.windows.purge(now))
    }

    // Committed in groups with the turn's messages: see `group_commit`.
    async fn mark_unanswered(&self, message_id: i64) -> StoreResult<()> {
        self.turns.mark_unanswered(message_id).await
    }
});
