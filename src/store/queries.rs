//! The SQL both databases share, written once.
//!
//! SQLite and PostgreSQL agree on everything Docent needs so far: `$n`
//! placeholders, `RETURNING`, `ON CONFLICT`, expression indexes. [`impl_store!`]
//! expands the shared methods into a `Store` impl for each typed pool, so each
//! database gets its own fully typed sqlx implementation (no `Any` driver and its
//! decoding limits), while methods that must differ are written per database and
//! passed in. Rows are decoded into the `*Row` types below.

use crate::model::{Bot, BotStats, ChatSessionSummary, Message, SessionState};
use crate::store::StoreError;

/// Maps a unique-constraint violation to a conflict described by `what`.
pub(super) fn conflict(err: sqlx::Error, what: &str) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what.to_owned()),
        _ => StoreError::Database(err),
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct BotRow {
    id: i64,
    workspace_id: i64,
    name: String,
    system_prompt: String,
    welcome_message: String,
    is_active: bool,
    allowed_origins: String,
    theme: String,
    position: String,
    primary_color: String,
    bubble_icon: String,
    fallback_message: String,
    model: Option<String>,
    temperature: Option<f64>,
    created_at: i64,
    updated_at: i64,
    total_sessions: i64,
    active_sessions: i64,
    active_tokens: i64,
    total_messages: i64,
    last_activity_at: Option<i64>,
}

impl TryFrom<BotRow> for Bot {
    type Error = StoreError;

    fn try_from(row: BotRow) -> Result<Self, StoreError> {
        Ok(Bot {
            id: row.id,
            name: row.name,
            workspace_id: row.workspace_id,
            system_prompt: row.system_prompt,
            welcome_message: row.welcome_message,
            is_active: row.is_active,
            allowed_origins: serde_json::from_str(&row.allowed_origins)?,
            theme: row.theme,
            position: row.position,
            primary_color: row.primary_color,
            bubble_icon: row.bubble_icon,
            fallback_message: row.fallback_message,
            model: row.model,
            #[allow(clippy::cast_possible_truncation)]
            temperature: row.temperature.map(|t| t as f32),
            created_at: row.created_at,
            updated_at: row.updated_at,
            stats: BotStats {
                total_sessions: row.total_sessions,
                active_sessions: row.active_sessions,
                active_tokens: row.active_tokens,
                total_messages: row.total_messages,
                last_activity_at: row.last_activity_at,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct SessionRow {
    session_id: String,
    visitor_id: Option<String>,
    started_at: i64,
    last_activity_at: i64,
    ended_at: Option<i64>,
    message_count: i64,
    unanswered_count: i64,
    first_message: Option<String>,
}

impl SessionRow {
    pub(super) fn summary(self, active_since: i64) -> ChatSessionSummary {
        let status = if self.ended_at.is_some() {
            "ended"
        } else if self.last_activity_at < active_since {
            "expired"
        } else {
            "active"
        };
        let end = self.ended_at.unwrap_or(self.last_activity_at);
        ChatSessionSummary {
            session_id: self.session_id,
            visitor_id: self.visitor_id,
            started_at: self.started_at,
            last_activity_at: self.last_activity_at,
            ended_at: self.ended_at,
            message_count: self.message_count,
            unanswered_count: self.unanswered_count,
            first_message: self.first_message,
            duration_seconds: (end - self.started_at).max(0) / 1000,
            status: status.to_owned(),
        }
    }
}

/// The columns of a [`SessionRow`], from `chat_sessions s`; a `WHERE` follows.
macro_rules! session_summary {
    () => {
        "SELECT s.session_id, s.visitor_id, s.started_at, s.last_activity_at, s.ended_at,
                (SELECT COUNT(*) FROM messages g WHERE g.session_id = s.id) AS message_count,
                (SELECT COUNT(*) FROM messages u
                  WHERE u.session_id = s.id AND u.unanswered = TRUE) AS unanswered_count,
                (SELECT substr(f.content, 1, 160) FROM messages f
                  WHERE f.session_id = s.id AND f.role = 'user' ORDER BY f.id LIMIT 1) AS first_message
           FROM chat_sessions s"
    };
}
pub(super) use session_summary;

#[derive(sqlx::FromRow)]
pub(super) struct MessageRow {
    id: i64,
    role: String,
    content: String,
    created_at: i64,
    sources: String,
}

impl TryFrom<MessageRow> for Message {
    type Error = StoreError;

    fn try_from(row: MessageRow) -> Result<Self, StoreError> {
        Ok(Message {
            id: row.id,
            role: row.role,
            content: row.content,
            created_at: row.created_at,
            sources: serde_json::from_str(&row.sources)?,
        })
    }
}

/// A bot with its stats; `$1` is the caller, `$2` the start of "active", `$3` now.
macro_rules! bot_select {
    () => {
        "SELECT b.id, b.workspace_id, b.name, b.system_prompt, b.welcome_message, b.is_active,
                b.allowed_origins, b.theme, b.position, b.primary_color, b.bubble_icon,
                b.fallback_message, b.model, b.temperature, b.created_at, b.updated_at,
                (SELECT COUNT(*) FROM chat_sessions s WHERE s.bot_id = b.id) AS total_sessions,
                (SELECT COUNT(*) FROM chat_sessions s
                  WHERE s.bot_id = b.id AND s.ended_at IS NULL AND s.last_activity_at >= $2) AS active_sessions,
                (SELECT COUNT(*) FROM widget_tokens t
                  WHERE t.bot_id = b.id AND t.revoked_at IS NULL AND t.expires_at > $3) AS active_tokens,
                (SELECT COUNT(*) FROM messages g WHERE g.bot_id = b.id) AS total_messages,
                (SELECT MAX(s.last_activity_at) FROM chat_sessions s WHERE s.bot_id = b.id) AS last_activity_at
           FROM bots b
           JOIN workspace_members m ON m.workspace_id = b.workspace_id AND m.user_id = $1"
    };
}
pub(super) use bot_select;

/// A session's latest messages, newest first, as `(role, content)`: `$1` the
/// bot, `$2` the session id.
pub(super) const RECENT_TURNS: &str = concat!(
    "SELECT g.role, g.content
       FROM messages g JOIN chat_sessions s ON s.id = g.session_id
      WHERE s.bot_id = $1 AND s.session_id = $2 ORDER BY g.id DESC LIMIT ",
    super::recent_turns!()
);

/// A session's times and its newest message when that is the visitor's: `$1`
/// the bot, `$2` the session id. Read into [`session_state`].
pub(super) const SESSION_STATE: &str = "SELECT s.last_activity_at, s.ended_at, g.id, g.role,
            CASE WHEN g.role = 'user' THEN g.content END
       FROM chat_sessions s
       LEFT JOIN messages g ON g.id = (SELECT MAX(l.id) FROM messages l WHERE l.session_id = s.id)
      WHERE s.bot_id = $1 AND s.session_id = $2";

/// A row of [`SESSION_STATE`].
pub(super) type SessionStateRow = (i64, Option<i64>, Option<i64>, Option<String>, Option<String>);

pub(super) fn session_state(row: SessionStateRow, active_since: i64) -> SessionState {
    let (last, ended, id, role, content) = row;
    SessionState {
        open: ended.is_none() && last >= active_since,
        unanswered: match (id, role.as_deref(), content) {
            (Some(id), Some("user"), Some(content)) => Some((id, content)),
            _ => None,
        },
    }
}

/// Expands into `impl Store for $store` with the shared methods plus `$extra`.
macro_rules! impl_store {
    ($store:ty, { $($extra:tt)* }) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            $($extra)*

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn close(&self) {
                self.pool.close().await;
            }

            async fn applied_migrations(&self) -> StoreResult<Vec<String>> {
                let rows: Vec<(i64, String)> = sqlx::query_as(
                    "SELECT version, description FROM _sqlx_migrations WHERE success ORDER BY version",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|(v, d)| format!("{v}_{d}")).collect())
            }

            async fn setting_or_insert(&self, key: &str, value: &str) -> StoreResult<String> {
                sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                    .bind(key)
                    .bind(value)
                    .execute(&self.pool)
                    .await?;
                Ok(sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                    .bind(key)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn count_users(&self) -> StoreResult<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await?)
            }

            async fn create_user(&self, username: &str, password_hash: &str, is_admin: bool) -> StoreResult<User> {
                let now = $crate::clock::now_ms();
                sqlx::query_as(
                    "INSERT INTO users (username, password_hash, is_admin, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $4)
                     RETURNING id, username, password_hash, is_admin, token_version, created_at, updated_at",
                )
                .bind(username)
                .bind(password_hash)
                .bind(is_admin)
                .bind(now)
                .fetch_one(&self.pool)
                .await
                .map_err(|e| queries::conflict(e, "A user with this name already exists."))
            }

            async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
                Ok(sqlx::query_as(
                    "SELECT id, username, password_hash, is_admin, token_version, created_at, updated_at
                       FROM users WHERE lower(username) = lower($1)",
                )
                .bind(username)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>> {
                Ok(sqlx::query_as(
                    "SELECT id, username, password_hash, is_admin, token_version, created_at, updated_at FROM users WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn first_admin(&self) -> StoreResult<Option<User>> {
                Ok(sqlx::query_as(
                    "SELECT id, username, password_hash, is_admin, token_version, created_at, updated_at
                       FROM users WHERE is_admin = $1 ORDER BY id LIMIT 1",
                )
                .bind(true)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn set_password(&self, user_id: i64, password_hash: &str) -> StoreResult<bool> {
                let now = $crate::clock::now_ms();
                let mut tx = self.begin_write().await?;
                let changed = sqlx::query(
                    "UPDATE users SET password_hash = $2, updated_at = $3, token_version = token_version + 1
                      WHERE id = $1",
                )
                    .bind(user_id)
                    .bind(password_hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
                    .bind(user_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(changed == 1)
            }

            async fn insert_refresh_token(&self, token: &NewRefreshToken) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO refresh_tokens (user_id, family, token_hash, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(token.user_id)
                .bind(&token.family)
                .bind(&token.token_hash)
                .bind(token.created_at)
                .bind(token.expires_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn rotate_refresh_token(
                &self,
                old_hash: &str,
                next: &NewRefreshToken,
                now: i64,
            ) -> StoreResult<RotateOutcome> {
                let mut tx = self.begin_write().await?;
                // Write first: the conditional update both claims the token and takes
                // the write lock, so two concurrent uses cannot both succeed.
                let claimed: Option<(i64, String)> = sqlx::query_as(
                    "UPDATE refresh_tokens SET used_at = $2
                      WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2
                      RETURNING user_id, family",
                )
                .bind(old_hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((user_id, family)) = claimed {
                    sqlx::query(
                        "INSERT INTO refresh_tokens (user_id, family, token_hash, created_at, expires_at)
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(user_id)
                    .bind(&family)
                    .bind(&next.token_hash)
                    .bind(next.created_at)
                    .bind(next.expires_at)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    return Ok(RotateOutcome::Rotated { user_id });
                }
                let found: Option<(String, i64, Option<i64>, Option<i64>)> = sqlx::query_as(
                    "SELECT family, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1",
                )
                .bind(old_hash)
                .fetch_optional(&mut *tx)
                .await?;
                let outcome = match found {
                    None => RotateOutcome::Unknown,
                    Some((_, _, None, None)) => RotateOutcome::Expired,
                    Some((family, ..)) => {
                        sqlx::query(
                            "UPDATE refresh_tokens SET revoked_at = $2 WHERE family = $1 AND revoked_at IS NULL",
                        )
                        .bind(family)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                        RotateOutcome::Reused
                    }
                };
                tx.commit().await?;
                Ok(outcome)
            }

            async fn revoke_refresh_family(&self, token_hash: &str, now: i64) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE refresh_tokens SET revoked_at = $2
                      WHERE revoked_at IS NULL
                        AND family = (SELECT family FROM refresh_tokens WHERE token_hash = $1)",
                )
                .bind(token_hash)
                .bind(now)
                .execute(&self.pool)
                .await?;
                if done.rows_affected() > 0 {
                    return Ok(true);
                }
                let known: Option<i64> = sqlx::query_scalar("SELECT id FROM refresh_tokens WHERE token_hash = $1")
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(known.is_some())
            }

            async fn count_login_attempt(&self, key: &str, now: i64, since: i64) -> StoreResult<Throttle> {
                Ok(sqlx::query_as(
                    "INSERT INTO login_throttle (key, failures, window_start) VALUES ($1, 1, $2)
                     ON CONFLICT (key) DO UPDATE SET
                       failures = CASE WHEN login_throttle.window_start < $3 THEN 1
                                       ELSE login_throttle.failures + 1 END,
                       window_start = CASE WHEN login_throttle.window_start < $3 THEN $2
                                           ELSE login_throttle.window_start END
                     RETURNING failures, window_start",
                )
                .bind(key)
                .bind(now)
                .bind(since)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn forgive_login_attempt(&self, key: &str) -> StoreResult<()> {
                sqlx::query("UPDATE login_throttle SET failures = failures - 1 WHERE key = $1 AND failures > 0")
                    .bind(key)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM login_throttle WHERE key = $1").bind(key).execute(&self.pool).await?;
                Ok(())
            }

            async fn purge_expired(&self, refresh_before: i64, throttle_before: i64) -> StoreResult<u64> {
                let tokens = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
                    .bind(refresh_before)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                let windows = sqlx::query("DELETE FROM login_throttle WHERE window_start < $1")
                    .bind(throttle_before)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                Ok(tokens + windows)
            }

            async fn list_workspaces(&self, user_id: i64) -> StoreResult<Vec<Workspace>> {
                Ok(sqlx::query_as(
                    "SELECT w.id, w.name, w.owner_id, m.role, w.created_at, w.updated_at
                       FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id
                      WHERE m.user_id = $1 ORDER BY w.id",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn workspace(&self, user_id: i64, id: i64) -> StoreResult<Option<Workspace>> {
                Ok(sqlx::query_as(
                    "SELECT w.id, w.name, w.owner_id, m.role, w.created_at, w.updated_at
                       FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id
                      WHERE m.user_id = $1 AND w.id = $2",
                )
                .bind(user_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn create_workspace(&self, owner_id: i64, name: &str) -> StoreResult<Workspace> {
                let now = $crate::clock::now_ms();
                let mut tx = self.begin_write().await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO workspaces (owner_id, name, name_key, created_at, updated_at)
                     VALUES ($1, $2, $4, $3, $3)
                     RETURNING id",
                )
                .bind(owner_id)
                .bind(name)
                .bind(now)
                .bind(name.to_lowercase())
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| queries::conflict(e, queries::WORKSPACE_NAME_TAKEN))?;
                sqlx::query(
                    "INSERT INTO workspace_members (workspace_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)",
                )
                .bind(id)
                .bind(owner_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                let role = "owner".to_owned();
                Ok(Workspace { id, name: name.to_owned(), owner_id, role, created_at: now, updated_at: now })
            }

            async fn rename_workspace(&self, user_id: i64, id: i64, name: &str) -> StoreResult<Option<Workspace>> {
                let now = $crate::clock::now_ms();
                let changed = sqlx::query(
                    "UPDATE workspaces SET name = $3, name_key = $5, updated_at = $4
                      WHERE id = $2 AND EXISTS (
                        SELECT 1 FROM workspace_members m
                         WHERE m.workspace_id = workspaces.id AND m.user_id = $1 AND m.role IN ('owner', 'editor'))",
                )
                .bind(user_id)
                .bind(id)
                .bind(name)
                .bind(now)
                .bind(name.to_lowercase())
                .execute(&self.pool)
                .await
                .map_err(|e| queries::conflict(e, queries::WORKSPACE_NAME_TAKEN))?
                .rows_affected();
                if changed == 0 {
                    return Ok(None);
                }
                self.workspace(user_id, id).await
            }

            async fn delete_workspace(&self, user_id: i64, id: i64) -> StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                // Tell every node's search index that these documents are gone.
                self.lock_feed(&mut tx).await?;
                sqlx::query(
                    "INSERT INTO index_changes (workspace_id, document_id, created_at)
                     SELECT d.workspace_id, d.id, $3 FROM documents d
                       JOIN workspaces w ON w.id = d.workspace_id
                      WHERE w.id = $2 AND w.owner_id = $1",
                )
                .bind(user_id)
                .bind(id)
                .bind($crate::clock::now_ms())
                .execute(&mut *tx)
                .await?;
                let done = sqlx::query("DELETE FROM workspaces WHERE id = $2 AND owner_id = $1")
                    .bind(user_id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn list_bots(
                &self,
                user_id: i64,
                workspace_id: Option<i64>,
                at: StatsAt,
            ) -> StoreResult<Vec<Bot>> {
                let rows: Vec<queries::BotRow> = sqlx::query_as(concat!(
                    queries::bot_select!(),
                    " WHERE CAST($4 AS BIGINT) IS NULL OR b.workspace_id = $4 ORDER BY b.id"
                ))
                .bind(user_id)
                .bind(at.active_since)
                .bind(at.now)
                .bind(workspace_id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(Bot::try_from).collect()
            }

            async fn bot(&self, user_id: i64, id: i64, at: StatsAt) -> StoreResult<Option<Bot>> {
                let row: Option<queries::BotRow> =
                    sqlx::query_as(concat!(queries::bot_select!(), " WHERE b.id = $4"))
                        .bind(user_id)
                        .bind(at.active_since)
                        .bind(at.now)
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?;
                row.map(Bot::try_from).transpose()
            }

            async fn create_bot(&self, bot: &BotFields, now: i64) -> StoreResult<i64> {
                Ok(sqlx::query_scalar(
                    "INSERT INTO bots (workspace_id, name, system_prompt, welcome_message, is_active,
                                       allowed_origins, theme, position, primary_color, bubble_icon,
                                       created_at, updated_at, fallback_message, model, temperature)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13, $14)
                     RETURNING id",
                )
                .bind(bot.workspace_id)
                .bind(&bot.name)
                .bind(&bot.system_prompt)
                .bind(&bot.welcome_message)
                .bind(bot.is_active)
                .bind(serde_json::to_string(&bot.allowed_origins)?)
                .bind(&bot.theme)
                .bind(&bot.position)
                .bind(&bot.primary_color)
                .bind(&bot.bubble_icon)
                .bind(now)
                .bind(&bot.fallback_message)
                .bind(&bot.model)
                .bind(bot.temperature.map(f64::from))
                .fetch_one(&self.pool)
                .await?)
            }

            async fn update_bot(&self, id: i64, bot: &BotFields, now: i64) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE bots SET workspace_id = $2, name = $3, system_prompt = $4, welcome_message = $5,
                                     is_active = $6, allowed_origins = $7, theme = $8, position = $9,
                                     primary_color = $10, bubble_icon = $11, updated_at = $12,
                                     fallback_message = $13, model = $14, temperature = $15
                      WHERE id = $1",
                )
                .bind(id)
                .bind(bot.workspace_id)
                .bind(&bot.name)
                .bind(&bot.system_prompt)
                .bind(&bot.welcome_message)
                .bind(bot.is_active)
                .bind(serde_json::to_string(&bot.allowed_origins)?)
                .bind(&bot.theme)
                .bind(&bot.position)
                .bind(&bot.primary_color)
                .bind(&bot.bubble_icon)
                .bind(now)
                .bind(&bot.fallback_message)
                .bind(&bot.model)
                .bind(bot.temperature.map(f64::from))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn delete_bot(&self, user_id: i64, id: i64) -> StoreResult<bool> {
                let done = sqlx::query(
                    "DELETE FROM bots WHERE id = $2 AND workspace_id IN (
                        SELECT workspace_id FROM workspace_members WHERE user_id = $1 AND role IN ('owner', 'editor'))",
                )
                .bind(user_id)
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn create_chat_session(&self, session: &NewChatSession) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO chat_sessions (session_id, bot_id, token_id, visitor_id, started_at,
                                                last_activity_at, metadata)
                     VALUES ($1, $2, $3, $4, $5, $5, $6)",
                )
                .bind(&session.session_id)
                .bind(session.bot_id)
                .bind(session.token_id)
                .bind(&session.visitor_id)
                .bind(session.started_at)
                .bind(session.metadata.to_string())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn list_chat_sessions(
                &self,
                bot_id: i64,
                active_since: i64,
                filter: &SessionFilter,
                page: Page,
            ) -> StoreResult<Vec<ChatSessionSummary>> {
                let rows: Vec<queries::SessionRow> = sqlx::query_as(concat!(
                    queries::session_summary!(),
                    " WHERE s.bot_id = $1
                        AND ($4 IS NULL OR s.last_activity_at >= $4)
                        AND ($5 IS NULL OR s.started_at < $5)
                        AND ($6 = FALSE OR EXISTS (SELECT 1 FROM messages u
                                                    WHERE u.session_id = s.id AND u.unanswered = TRUE))
                      ORDER BY s.last_activity_at DESC, s.id DESC LIMIT $2 OFFSET $3",
                ))
                .bind(bot_id)
                .bind(page.limit)
                .bind(page.offset)
                .bind(filter.from)
                .bind(filter.to)
                .bind(filter.unanswered)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|row| row.summary(active_since)).collect())
            }

            async fn chat_session(
                &self,
                bot_id: i64,
                session_id: &str,
                active_since: i64,
            ) -> StoreResult<Option<ChatSessionSummary>> {
                let row: Option<queries::SessionRow> =
                    sqlx::query_as(concat!(queries::session_summary!(), " WHERE s.bot_id = $1 AND s.session_id = $2"))
                        .bind(bot_id)
                        .bind(session_id)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(|row| row.summary(active_since)))
            }

            async fn session_messages(&self, bot_id: i64, session_id: &str) -> StoreResult<Vec<Message>> {
                let rows: Vec<queries::MessageRow> = sqlx::query_as(
                    "SELECT g.id, g.role, g.content, g.created_at, g.sources
                       FROM messages g JOIN chat_sessions s ON s.id = g.session_id
                      WHERE s.bot_id = $1 AND s.session_id = $2 ORDER BY g.id",
                )
                .bind(bot_id)
                .bind(session_id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(Message::try_from).collect()
            }
        }
    };
}
pub(super) use impl_store;

pub(super) const WORKSPACE_NAME_TAKEN: &str = "You already have a workspace with this name.";
