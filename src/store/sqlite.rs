//! The SQLite store: one file in the data folder, WAL, busy timeout, foreign keys on.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::accounts::impl_accounts;
use super::conversations::{self, impl_conversations};
use super::group_commit::TurnWriter;
use super::inline_reads::InlineReads;
use super::knowledge::{self, impl_knowledge};
use super::queries::impl_store;
use super::vectors::impl_vectors;
use super::widget::{self, impl_widget_tokens};
use super::windows::Windows;
use super::workspaces::impl_workspaces;
use super::*;
use crate::config::{DatabaseConfig, DatabaseKind};
use crate::model::*;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A rusqlite connection to the store's file, beside sqlx's (see
/// `inline_reads` and `group_commit`): the file must exist, and the caller
/// sets the per-connection pragmas it needs.
pub(super) fn open_beside(path: &std::path::Path) -> rusqlite::Result<rusqlite::Connection> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = rusqlite::Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    Ok(connection)
}

pub struct SqliteStore {
    pool: SqlitePool,
    /// The chat turn's hot reads, without sqlx's thread hop.
    reads: InlineReads,
    windows: Windows,
    turns: TurnWriter,
}

impl SqliteStore {
    pub async fn connect(options: SqliteConnectOptions, config: &DatabaseConfig) -> StoreResult<Self> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            // No `mmap_size`: a connection that sees another's commit unmaps
            // the whole file, and under load each unmapping stopped both cores
            // to flush their TLBs (cheaper to copy the few pages it reads).
            .foreign_keys(true);
        if sqlx::ConnectOptions::to_url_lossy(&options)
            .query_pairs()
            .any(|(k, v)| k == "mode" && v == "memory")
        {
            return Err(sqlx::Error::Configuration(
                "an in-memory SQLite database would lose everything at exit: name a file".into(),
            )
            .into());
        }
        if let Some(parent) = options.get_filename().parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(sqlx::Error::Io)?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(config.max_connections)
            // A connection to a file in this process cannot go stale, and
            // checking it would cost a round trip to its worker thread on
            // every statement.
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(config.acquire_timeout_seconds))
            .connect_with(options.clone())
            .await?;
        // Both open the file sqlx has just created (and, before use, migrated).
        let reads = InlineReads::new(options.get_filename());
        let turns = TurnWriter::start(options.get_filename())?;
        Ok(Self { pool, reads, windows: Windows::default(), turns })
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
});
impl_accounts!(SqliteStore);
impl_workspaces!(SqliteStore);
impl_conversations!(SqliteStore, {
    async fn recent_turns(&self, bot_id: i64, session_id: &str) -> StoreResult<Vec<(String, String)>> {
        let mut turns = self
            .reads
            .all(conversations::RECENT_TURNS, (bot_id, session_id), |r| Ok((r.get(0)?, r.get(1)?)))?;
        turns.reverse();
        Ok(turns)
    }

    async fn session_state(
        &self,
        bot_id: i64,
        session_id: &str,
        active_since: i64,
    ) -> StoreResult<Option<SessionState>> {
        let row = self.reads.first(conversations::SESSION_STATE, (bot_id, session_id), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
        Ok(row.map(|row| conversations::session_state(row, active_since)))
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

    async fn last_index_change(&self) -> StoreResult<i64> {
        let seq: Option<Option<i64>> = self.reads.first(knowledge::LAST_INDEX_CHANGE, (), |r| r.get(0))?;
        Ok(seq.flatten().unwrap_or(0))
    }

    async fn chunk_hits(&self, workspace_id: i64, ids: &[i64]) -> StoreResult<Vec<ChunkHit>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.reads.all(
            "SELECT c.id, c.document_id, d.title, d.source, d.url, c.heading_path, c.anchor, c.text
               FROM chunks c JOIN documents d ON d.id = c.document_id
              WHERE c.workspace_id = $1 AND d.status = 'ready'
                AND c.id IN (SELECT value FROM json_each($2))",
            (workspace_id, serde_json::to_string(ids)?),
            |r| {
                Ok(ChunkHit {
                    chunk_id: r.get(0)?,
                    document_id: r.get(1)?,
                    title: r.get(2)?,
                    source: r.get(3)?,
                    url: r.get(4)?,
                    heading_path: r.get(5)?,
                    anchor: r.get(6)?,
                    text: r.get(7)?,
                })
            },
        )
    }
});

impl_vectors!(SqliteStore);
impl_widget_tokens!(SqliteStore, {
    async fn widget_token_and_bot(&self, token_hash: &str) -> StoreResult<Option<TokenAndBot>> {
        self.reads.first(widget::TOKEN_AND_BOT, (token_hash,), token_and_bot)
    }

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

/// A row of [`widget::TOKEN_AND_BOT`].
fn token_and_bot(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenAndBot> {
    Ok(TokenAndBot {
        token: WidgetTokenRow {
            id: r.get("id")?,
            bot_id: r.get("bot_id")?,
            family_id: r.get("family_id")?,
            created_at: r.get("created_at")?,
            expires_at: r.get("expires_at")?,
            revoked_at: r.get("revoked_at")?,
            last_used_at: r.get("last_used_at")?,
        },
        bot: WidgetBot {
            id: r.get("bot_id")?,
            workspace_id: r.get("workspace_id")?,
            name: r.get("name")?,
            system_prompt: r.get("system_prompt")?,
            welcome_message: r.get("welcome_message")?,
            is_active: r.get("is_active")?,
            allowed_origins: r.get("allowed_origins")?,
            theme: r.get("theme")?,
            position: r.get("position")?,
            primary_color: r.get("primary_color")?,
            bubble_icon: r.get("bubble_icon")?,
            fallback_message: r.get("fallback_message")?,
            model: r.get("model")?,
            temperature: r.get("temperature")?,
            answer_threshold: r.get("answer_threshold")?,
        },
    })
}
