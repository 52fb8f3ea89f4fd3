//! Widget tokens in the database. Only a token's SHA-256 is kept: the raw token
//! is shown once, to whoever generated or refreshed it. SQL shared by both
//! databases, like `knowledge.rs`.

use super::StoreResult;
use crate::model::{
    ActivityScope, MessageStat, NewChatSession, NewWidgetToken, Page, RevokeWidgetTokens, TokenAndBot,
    UnansweredQuestion, WidgetTokenInfo, WidgetTokenRow,
};
use async_trait::async_trait;

#[async_trait]
pub trait WidgetTokens: Send + Sync {
    async fn insert_widget_token(&self, token: &NewWidgetToken) -> StoreResult<i64>;
    async fn set_widget_token_hash(&self, id: i64, token_hash: &str) -> StoreResult<()>;
    async fn widget_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<WidgetTokenRow>>;
    /// The token row with this hash and its bot, in one query.
    async fn widget_token_and_bot(&self, token_hash: &str) -> StoreResult<Option<TokenAndBot>>;
    /// Records a use, at most once a minute per token (`now - 60 s` is `stale_before`).
    async fn touch_widget_token(&self, id: i64, now: i64, stale_before: i64) -> StoreResult<()>;
    /// Stores a new visitor session unless the bot already has `max_active`
    /// sessions active since `active_since`; false when it has.
    async fn start_chat_session(
        &self,
        session: &NewChatSession,
        active_since: i64,
        max_active: i64,
    ) -> StoreResult<bool>;
    /// Counts one hit for `key` in its window of `window_ms` (a window that has
    /// ended starts over at `now`); returns the hits so far and when the window
    /// ends. On PostgreSQL the windows are rows every node shares; on SQLite,
    /// which one process uses, they are kept in memory.
    async fn hit_rate_limit(&self, key: &str, now: i64, window_ms: i64) -> StoreResult<(i64, i64)>;
    /// Deletes windows that ended before `now`; returns how many.
    async fn purge_rate_limits(&self, now: i64) -> StoreResult<u64>;
    /// Ends the sessions idle since before `idle_before` (at their last activity); returns how many.
    async fn end_idle_sessions(&self, idle_before: i64) -> StoreResult<u64>;
    /// Deletes widget tokens that expired before `expired_before`, but never a
    /// generated token while a token refreshed from it is still younger; returns how many.
    async fn delete_expired_widget_tokens(&self, expired_before: i64) -> StoreResult<u64>;
    /// Deletes up to `batch` sessions idle since before `idle_before`, with their
    /// messages; returns how many sessions.
    async fn delete_old_sessions(&self, idle_before: i64, batch: i64) -> StoreResult<u64>;
    /// Marks a visitor's message as a question the bot could not answer.
    async fn mark_unanswered(&self, message_id: i64) -> StoreResult<()>;
    /// The bot's unanswered questions, the same question (ignoring case and
    /// surrounding spaces) counted together, most asked first.
    async fn unanswered_questions(&self, bot_id: i64, page: Page) -> StoreResult<Vec<UnansweredQuestion>>;
    /// Start times of the sessions of the bots in `scope`, and their messages, in `[from, to)`.
    async fn activity(
        &self,
        scope: ActivityScope,
        from: i64,
        to: i64,
    ) -> StoreResult<(Vec<i64>, Vec<MessageStat>)>;
    /// Whether the token is of a bot in one of `user_id`'s workspaces.
    async fn widget_token_visible(&self, user_id: i64, token_id: i64) -> StoreResult<bool>;
    /// The tokens of a bot in one of `user_id`'s workspaces, newest first.
    async fn list_widget_tokens(&self, user_id: i64, bot_id: i64) -> StoreResult<Vec<WidgetTokenInfo>>;
    /// Revokes tokens of bots in `user_id`'s workspaces; returns how many were revoked now.
    async fn revoke_widget_tokens(
        &self,
        user_id: i64,
        which: RevokeWidgetTokens,
        now: i64,
    ) -> StoreResult<u64>;
}

/// Analytics' queries of sessions and messages in `[$2, $3)` of one bot (`$1`;
/// `$4` is unused but bound).
pub(super) const ONE_BOT: (&str, &str) = (
    "SELECT started_at FROM chat_sessions WHERE bot_id = $1 AND $4 IS NULL AND started_at >= $2 AND started_at < $3",
    "SELECT created_at, role, latency_ms, prompt_tokens, completion_tokens, unanswered
       FROM messages WHERE bot_id = $1 AND $4 IS NULL AND created_at >= $2 AND created_at < $3",
);
/// The same for every bot in user `$1`'s workspaces, or in workspace `$4` of theirs.
pub(super) const MEMBERS_BOTS: (&str, &str) = (
    "SELECT started_at FROM chat_sessions
      WHERE bot_id IN (SELECT b.id FROM bots b JOIN workspace_members m ON m.workspace_id = b.workspace_id
                        WHERE m.user_id = $1 AND ($4 IS NULL OR b.workspace_id = $4))
        AND started_at >= $2 AND started_at < $3",
    "SELECT created_at, role, latency_ms, prompt_tokens, completion_tokens, unanswered FROM messages
      WHERE bot_id IN (SELECT b.id FROM bots b JOIN workspace_members m ON m.workspace_id = b.workspace_id
                        WHERE m.user_id = $1 AND ($4 IS NULL OR b.workspace_id = $4))
        AND created_at >= $2 AND created_at < $3",
);

/// `widget_tokens` rows whose bot is in one of `$1`'s workspaces.
macro_rules! members_tokens {
    () => {
        "SELECT t.id FROM widget_tokens t
           JOIN bots b ON b.id = t.bot_id
           JOIN workspace_members m ON m.workspace_id = b.workspace_id AND m.user_id = $1"
    };
}
pub(super) use members_tokens;

/// A widget token's row and its bot, by the token's hash (`$1`). A bot's
/// tokens go with it, so a token always has its bot.
pub(super) const TOKEN_AND_BOT: &str =
    "SELECT t.id, t.bot_id, t.family_id, t.created_at, t.expires_at, t.revoked_at, t.last_used_at,
            b.workspace_id, b.name, b.system_prompt, b.welcome_message, b.is_active,
            b.allowed_origins, b.theme, b.position, b.primary_color, b.bubble_icon,
            b.fallback_message, b.model, b.temperature, b.answer_threshold
       FROM widget_tokens t JOIN bots b ON b.id = t.bot_id
      WHERE t.token_hash = $1";

/// Expands into `impl WidgetTokens for $store`, with `$own` the methods each
/// database does its own way (the abuse-limit windows, marking unanswered
/// questions, the token lookup).
macro_rules! impl_widget_tokens {
    ($store:ty, { $($own:tt)* }) => {
        #[async_trait::async_trait]
        impl $crate::store::WidgetTokens for $store {
            $($own)*

            async fn insert_widget_token(&self, token: &NewWidgetToken) -> StoreResult<i64> {
                Ok(sqlx::query_scalar(
                    "INSERT INTO widget_tokens (bot_id, family_id, created_by, token_hash, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(token.bot_id)
                .bind(token.family_id)
                .bind(token.created_by)
                .bind(&token.token_hash)
                .bind(token.created_at)
                .bind(token.expires_at)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn set_widget_token_hash(&self, id: i64, token_hash: &str) -> StoreResult<()> {
                sqlx::query("UPDATE widget_tokens SET token_hash = $2 WHERE id = $1")
                    .bind(id)
                    .bind(token_hash)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn widget_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<WidgetTokenRow>> {
                Ok(sqlx::query_as(
                    "SELECT id, bot_id, family_id, created_at, expires_at, revoked_at, last_used_at
                       FROM widget_tokens WHERE token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn touch_widget_token(&self, id: i64, now: i64, stale_before: i64) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE widget_tokens SET last_used_at = $2
                      WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)",
                )
                .bind(id)
                .bind(now)
                .bind(stale_before)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn start_chat_session(
                &self,
                session: &NewChatSession,
                active_since: i64,
                max_active: i64,
            ) -> StoreResult<bool> {
                // The count and the insert under the bot's lock, so concurrent
                // starts on any node never pass the cap.
                let mut tx = self.begin_write().await?;
                self.lock_bot_sessions(&mut tx, session.bot_id).await?;
                let done = sqlx::query(
                    "INSERT INTO chat_sessions (session_id, bot_id, token_id, visitor_id, started_at,
                                                last_activity_at, metadata)
                     SELECT $1, $2, $3, $4, $5, $5, $6
                      WHERE (SELECT COUNT(*) FROM chat_sessions
                              WHERE bot_id = $2 AND ended_at IS NULL AND last_activity_at >= $7) < $8",
                )
                .bind(&session.session_id)
                .bind(session.bot_id)
                .bind(session.token_id)
                .bind(&session.visitor_id)
                .bind(session.started_at)
                .bind(session.metadata.to_string())
                .bind(active_since)
                .bind(max_active)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn end_idle_sessions(&self, idle_before: i64) -> StoreResult<u64> {
                Ok(sqlx::query(
                    "UPDATE chat_sessions SET ended_at = last_activity_at
                      WHERE ended_at IS NULL AND last_activity_at < $1",
                )
                .bind(idle_before)
                .execute(&self.pool)
                .await?
                .rows_affected())
            }

            async fn delete_expired_widget_tokens(&self, expired_before: i64) -> StoreResult<u64> {
                // Refreshed tokens first; then generated ones none of whose
                // refreshed tokens is left (deleting one deletes its family).
                let refreshed = sqlx::query(
                    "DELETE FROM widget_tokens WHERE family_id IS NOT NULL AND expires_at < $1",
                )
                .bind(expired_before)
                .execute(&self.pool)
                .await?
                .rows_affected();
                let generated = sqlx::query(
                    "DELETE FROM widget_tokens WHERE family_id IS NULL AND expires_at < $1
                        AND NOT EXISTS (SELECT 1 FROM widget_tokens r WHERE r.family_id = widget_tokens.id)",
                )
                .bind(expired_before)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(refreshed + generated)
            }

            async fn delete_old_sessions(&self, idle_before: i64, batch: i64) -> StoreResult<u64> {
                Ok(sqlx::query(
                    "DELETE FROM chat_sessions WHERE id IN (
                        SELECT id FROM chat_sessions WHERE last_activity_at < $1 ORDER BY last_activity_at LIMIT $2)",
                )
                .bind(idle_before)
                .bind(batch)
                .execute(&self.pool)
                .await?
                .rows_affected())
            }

            async fn unanswered_questions(&self, bot_id: i64, page: Page) -> StoreResult<Vec<UnansweredQuestion>> {
                Ok(sqlx::query_as(
                    "SELECT MIN(content) AS question, COUNT(*) AS count, MAX(created_at) AS last_asked_at
                       FROM messages WHERE bot_id = $1 AND unanswered = TRUE
                      GROUP BY lower(trim(content))
                      ORDER BY COUNT(*) DESC, MAX(created_at) DESC LIMIT $2 OFFSET $3",
                )
                .bind(bot_id)
                .bind(page.limit)
                .bind(page.offset)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn activity(
                &self,
                scope: ActivityScope,
                from: i64,
                to: i64,
            ) -> StoreResult<(Vec<i64>, Vec<MessageStat>)> {
                // Both filters take the same four parameters; a bot's ignores $4.
                let (bots, id, workspace) = match scope {
                    ActivityScope::Bot(id) => ($crate::store::widget::ONE_BOT, id, None),
                    ActivityScope::Member { user_id, workspace_id } => {
                        ($crate::store::widget::MEMBERS_BOTS, user_id, workspace_id)
                    }
                };
                let sessions: Vec<i64> = sqlx::query_scalar(bots.0)
                    .bind(id)
                    .bind(from)
                    .bind(to)
                    .bind(workspace)
                    .fetch_all(&self.pool)
                    .await?;
                let messages = sqlx::query_as(bots.1)
                    .bind(id)
                    .bind(from)
                    .bind(to)
                    .bind(workspace)
                    .fetch_all(&self.pool)
                    .await?;
                Ok((sessions, messages))
            }

            async fn widget_token_visible(&self, user_id: i64, token_id: i64) -> StoreResult<bool> {
                let found: Option<i64> = sqlx::query_scalar(concat!(
                    $crate::store::widget::members_tokens!(),
                    " WHERE t.id = $2"
                ))
                .bind(user_id)
                .bind(token_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(found.is_some())
            }

            async fn list_widget_tokens(&self, user_id: i64, bot_id: i64) -> StoreResult<Vec<WidgetTokenInfo>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT t.id AS token_id, t.bot_id, t.family_id AS refreshed_from, t.created_at, t.expires_at,
                            t.revoked_at IS NOT NULL AS revoked, t.last_used_at
                       FROM widget_tokens t
                      WHERE t.bot_id = $2 AND t.id IN (",
                    $crate::store::widget::members_tokens!(),
                    ") ORDER BY t.id DESC"
                ))
                .bind(user_id)
                .bind(bot_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn revoke_widget_tokens(
                &self,
                user_id: i64,
                which: RevokeWidgetTokens,
                now: i64,
            ) -> StoreResult<u64> {
                let (sql, id) = match which {
                    RevokeWidgetTokens::Token(id) => (concat!(
                        "UPDATE widget_tokens SET revoked_at = $2
                          WHERE (id = $3 OR family_id = $3) AND revoked_at IS NULL AND id IN (",
                        $crate::store::widget::members_tokens!(),
                        ")"
                    ), id),
                    RevokeWidgetTokens::Bot(id) => (concat!(
                        "UPDATE widget_tokens SET revoked_at = $2
                          WHERE bot_id = $3 AND revoked_at IS NULL AND id IN (",
                        $crate::store::widget::members_tokens!(),
                        ")"
                    ), id),
                };
                Ok(sqlx::query(sql).bind(user_id).bind(now).bind(id).execute(&self.pool).await?.rows_affected())
            }
        }
    };
}
pub(super) use impl_widget_tokens;
