//! The PostgreSQL store, for several stateless nodes sharing one database.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};

use super::accounts::impl_accounts;
use super::conversations::{self, impl_conversations};
use super::knowledge::{self, impl_knowledge};
use super::queries::impl_store;
use super::vectors::impl_vectors;
use super::widget::{self, impl_widget_tokens};
use super::workspaces::impl_workspaces;
use super::*;
use crate::config::{DatabaseConfig, DatabaseKind};
use crate::model::*;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str, config: &DatabaseConfig) -> Result<Self, sqlx::Error> {
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(Duration::from_secs(config.acquire_timeout_seconds))
            .connect(url)
            .await?;
        Ok(Self { pool })
    }
}

impl PgStore {
    /// Serialises writers of the change feed until commit. Sequence numbers are
    /// taken at insert but become visible at commit; without the lock a reader
    /// could see 11 before 10 commits, move past 10 and never apply it.
    async fn lock_feed(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_advisory_xact_lock(7355608)").execute(&mut **tx).await?;
        Ok(())
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    /// Serialises the session starts of one bot until commit, so that counting
    /// its active sessions and adding one is atomic across nodes. (Two-key
    /// advisory locks are apart from the feed's one-key lock.)
    async fn lock_bot_sessions(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        bot_id: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_advisory_xact_lock(1, CAST($1 % 2147483647 AS INTEGER))")
            .bind(bot_id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

impl_store!(PgStore, {
    fn kind(&self) -> DatabaseKind {
        DatabaseKind::Postgres
    }

    async fn migrate(&self) -> StoreResult<()> {
        // sqlx holds an advisory lock while migrating, so nodes starting together are safe.
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }
});
impl_accounts!(PgStore);
impl_workspaces!(PgStore);
impl_conversations!(PgStore, {
    async fn recent_turns(&self, bot_id: i64, session_id: &str) -> StoreResult<Vec<(String, String)>> {
        let mut turns: Vec<(String, String)> = sqlx::query_as(conversations::RECENT_TURNS)
            .bind(bot_id)
            .bind(session_id)
            .fetch_all(&self.pool)
            .await?;
        turns.reverse();
        Ok(turns)
    }

    async fn session_state(
        &self,
        bot_id: i64,
        session_id: &str,
        active_since: i64,
    ) -> StoreResult<Option<SessionState>> {
        let row: Option<conversations::SessionStateRow> = sqlx::query_as(conversations::SESSION_STATE)
            .bind(bot_id)
            .bind(session_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| conversations::session_state(row, active_since)))
    }

    /// The session is named by its public id. A visitor's message moves the
    /// session's last activity forward, by a trigger (migration 8).
    async fn add_message(&self, message: &NewMessage) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO messages (session_id, bot_id, role, content, sources, prompt_tokens,
                                   completion_tokens, latency_ms, created_at)
             SELECT s.id, s.bot_id, $2, $3, $4, $5, $6, $7, $8
               FROM chat_sessions s WHERE s.session_id = $1
             RETURNING id",
        )
        .bind(&message.session_id)
        .bind(message.role)
        .bind(&message.content)
        .bind(&message.sources)
        .bind(message.prompt_tokens)
        .bind(message.completion_tokens)
        .bind(message.latency_ms)
        .bind(message.created_at)
        .fetch_one(&self.pool)
        .await?)
    }
});

impl_knowledge!(PgStore, sqlx::Postgres, {
    async fn last_index_change(&self) -> StoreResult<i64> {
        let seq: Option<i64> = sqlx::query_scalar(knowledge::LAST_INDEX_CHANGE).fetch_one(&self.pool).await?;
        Ok(seq.unwrap_or(0))
    }

    async fn claim_job(&self, now: i64, lease_ms: i64) -> StoreResult<Option<Job>> {
        // SKIP LOCKED: nodes claiming at the same moment take different jobs.
        Ok(sqlx::query_as(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_until = $2, updated_at = $1
              WHERE id = (SELECT id FROM jobs
                           WHERE status = 'pending' OR (status = 'running' AND locked_until < $1)
                           ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
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
              WHERE c.workspace_id = $1 AND d.status = 'ready' AND c.id = ANY($2)",
        )
        .bind(workspace_id)
        .bind(ids)
        .fetch_all(&self.pool)
        .await?)
    }
});

impl_vectors!(PgStore);
impl_widget_tokens!(PgStore, {
    async fn widget_token_and_bot(&self, token_hash: &str) -> StoreResult<Option<TokenAndBot>> {
        Ok(sqlx::query_as(widget::TOKEN_AND_BOT).bind(token_hash).fetch_optional(&self.pool).await?)
    }

    async fn mark_unanswered(&self, message_id: i64) -> StoreResult<()> {
        sqlx::query("UPDATE messages SET unanswered = TRUE WHERE id = $1")
            .bind(message_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn hit_rate_limit(&self, key: &str, now: i64, window_ms: i64) -> StoreResult<(i64, i64)> {
        // One statement: concurrent hits on any node are each counted once.
        Ok(sqlx::query_as(
            "INSERT INTO rate_limits (key, hits, window_start, expires_at) VALUES ($1, 1, $2, $2 + $3)
                     ON CONFLICT (key) DO UPDATE SET
                       hits = CASE WHEN rate_limits.expires_at <= $2 THEN 1 ELSE rate_limits.hits + 1 END,
                       window_start = CASE WHEN rate_limits.expires_at <= $2 THEN $2
                                           ELSE rate_limits.window_start END,
                       expires_at = CASE WHEN rate_limits.expires_at <= $2 THEN $2 + $3
                                         ELSE rate_limits.expires_at END
                     RETURNING hits, expires_at",
        )
        .bind(key)
        .bind(now)
        .bind(window_ms)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn purge_rate_limits(&self, now: i64) -> StoreResult<u64> {
        Ok(sqlx::query("DELETE FROM rate_limits WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
});
