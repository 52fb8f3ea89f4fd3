//! Workspaces and their bots in the database. SQL shared by both databases,
//! like `queries.rs`.

use async_trait::async_trait;

use super::{StoreError, StoreResult};
use crate::model::{Bot, BotFields, BotStats, StatsAt, Workspace};

/// Workspaces and bots, as their members see them: a lookup takes the
/// caller's user id and sees only what that user is a member of, so another
/// tenant's rows are simply absent (`None`).
#[async_trait]
pub trait Workspaces: Send + Sync {
    async fn list_workspaces(&self, user_id: i64) -> StoreResult<Vec<Workspace>>;
    async fn workspace(&self, user_id: i64, id: i64) -> StoreResult<Option<Workspace>>;
    /// Creates a workspace owned by `owner_id`; a duplicate name (any case) is a conflict.
    async fn create_workspace(&self, owner_id: i64, name: &str) -> StoreResult<Workspace>;
    async fn rename_workspace(&self, user_id: i64, id: i64, name: &str) -> StoreResult<Option<Workspace>>;
    /// Deletes a workspace the user owns, and everything in it. False if there is none.
    async fn delete_workspace(&self, user_id: i64, id: i64) -> StoreResult<bool>;

    async fn list_bots(&self, user_id: i64, workspace_id: Option<i64>, at: StatsAt) -> StoreResult<Vec<Bot>>;
    async fn bot(&self, user_id: i64, id: i64, at: StatsAt) -> StoreResult<Option<Bot>>;
    async fn create_bot(&self, bot: &BotFields, now: i64) -> StoreResult<i64>;
    async fn update_bot(&self, id: i64, bot: &BotFields, now: i64) -> StoreResult<()>;
    async fn delete_bot(&self, user_id: i64, id: i64) -> StoreResult<bool>;
}

pub(super) const WORKSPACE_NAME_TAKEN: &str = "You already have a workspace with this name.";

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
    answer_threshold: Option<f64>,
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
            #[allow(clippy::cast_possible_truncation)]
            answer_threshold: row.answer_threshold.map(|t| t as f32),
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

/// A bot with its stats; `$1` is the caller, `$2` the start of "active", `$3` now.
macro_rules! bot_select {
    () => {
        "SELECT b.id, b.workspace_id, b.name, b.system_prompt, b.welcome_message, b.is_active,
                b.allowed_origins, b.theme, b.position, b.primary_color, b.bubble_icon,
                b.fallback_message, b.model, b.temperature, b.answer_threshold, b.created_at, b.updated_at,
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

/// Expands into `impl Workspaces for $store`; needs the store's `begin_write`,
/// `lock_feed` and `lock_bot_sessions`.
macro_rules! impl_workspaces {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::Workspaces for $store {
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
                .map_err(|e| $crate::store::queries::conflict(e, $crate::store::workspaces::WORKSPACE_NAME_TAKEN))?;
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
                .map_err(|e| $crate::store::queries::conflict(e, $crate::store::workspaces::WORKSPACE_NAME_TAKEN))?
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
                let rows: Vec<$crate::store::workspaces::BotRow> = sqlx::query_as(concat!(
                    $crate::store::workspaces::bot_select!(),
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
                let row: Option<$crate::store::workspaces::BotRow> =
                    sqlx::query_as(concat!($crate::store::workspaces::bot_select!(), " WHERE b.id = $4"))
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
                                       created_at, updated_at, fallback_message, model, temperature,
                                       answer_threshold)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13, $14, $15)
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
                .bind(bot.answer_threshold.map(f64::from))
                .fetch_one(&self.pool)
                .await?)
            }

            async fn update_bot(&self, id: i64, bot: &BotFields, now: i64) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE bots SET workspace_id = $2, name = $3, system_prompt = $4, welcome_message = $5,
                                     is_active = $6, allowed_origins = $7, theme = $8, position = $9,
                                     primary_color = $10, bubble_icon = $11, updated_at = $12,
                                     fallback_message = $13, model = $14, temperature = $15,
                                     answer_threshold = $16
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
                .bind(bot.answer_threshold.map(f64::from))
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
        }
    };
}
pub(super) use impl_workspaces;
