//! Persistence: the `Store` trait and its two implementations.
//!
//! The database is the source of truth for everything Docent knows. Handlers and
//! domain code talk to `Arc<dyn Store>`; [`connect`] picks SQLite or PostgreSQL
//! from the URL's scheme and runs the embedded migrations. Times are unix
//! milliseconds; lists and objects are JSON text.

mod group_commit;
mod inline_reads;
mod knowledge;
mod postgres;
mod queries;
mod sqlite;
mod vectors;
mod widget;
mod windows;

use std::sync::Arc;

use async_trait::async_trait;

pub use knowledge::Knowledge;
pub use vectors::Vectors;
pub use widget::WidgetTokens;

use crate::config::{Config, DatabaseKind};
use crate::model::{
    Bot, BotFields, ChatSessionSummary, Message, NewChatSession, NewMessage, NewRefreshToken, Page,
    RotateOutcome, SessionFilter, SessionState, StatsAt, Throttle, User, Workspace,
};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; the text says what clashed.
    #[error("{0}")]
    Conflict(String),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// A read made without sqlx (see `inline_reads`).
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored JSON is not valid")]
    Json(#[from] serde_json::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything Docent reads and writes, independent of the database behind it.
///
/// Workspace and bot lookups take the caller's user id and see only what that user
/// is a member of: another tenant's rows are simply absent (`None`).
#[async_trait]
pub trait Store: Knowledge + Vectors + WidgetTokens + Send + Sync + 'static {
    /// Which database this is.
    fn kind(&self) -> DatabaseKind;
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// Names of the migrations applied, oldest first.
    async fn applied_migrations(&self) -> StoreResult<Vec<String>>;
    /// Cheap round trip, for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
    async fn close(&self);

    /// Returns the stored setting, storing `value` first if there was none (first writer wins).
    async fn setting_or_insert(&self, key: &str, value: &str) -> StoreResult<String>;

    // Users and their logins.
    async fn count_users(&self) -> StoreResult<i64>;
    async fn create_user(&self, username: &str, password_hash: &str, is_admin: bool) -> StoreResult<User>;
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>>;
    /// The oldest administrator, if any.
    async fn first_admin(&self) -> StoreResult<Option<User>>;
    /// Sets a new password hash and ends every login of that user. False if no such user.
    async fn set_password(&self, user_id: i64, password_hash: &str) -> StoreResult<bool>;
    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> StoreResult<()>;
    /// Marks the token with `old_hash` used and stores `next` in its family, atomically.
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        next: &NewRefreshToken,
        now: i64,
    ) -> StoreResult<RotateOutcome>;
    /// Revokes the whole login (family) the token belongs to. False if the token is unknown.
    async fn revoke_refresh_family(&self, token_hash: &str, now: i64) -> StoreResult<bool>;

    // Login throttling, shared by every node.
    /// Counts one attempt for `key` and returns the count; a window that began
    /// before `since` starts over at `now`. Counting before the password is checked
    /// means concurrent attempts cannot slip past the limit.
    async fn count_login_attempt(&self, key: &str, now: i64, since: i64) -> StoreResult<Throttle>;
    /// Takes back one counted attempt (it succeeded).
    async fn forgive_login_attempt(&self, key: &str) -> StoreResult<()>;
    async fn clear_login_failures(&self, key: &str) -> StoreResult<()>;
    /// Deletes refresh tokens that expired before `refresh_before` and throttle
    /// windows older than `throttle_before`; returns the rows removed.
    async fn purge_expired(&self, refresh_before: i64, throttle_before: i64) -> StoreResult<u64>;

    // Workspaces.
    async fn list_workspaces(&self, user_id: i64) -> StoreResult<Vec<Workspace>>;
    async fn workspace(&self, user_id: i64, id: i64) -> StoreResult<Option<Workspace>>;
    /// Creates a workspace owned by `owner_id`; a duplicate name (any case) is a conflict.
    async fn create_workspace(&self, owner_id: i64, name: &str) -> StoreResult<Workspace>;
    async fn rename_workspace(&self, user_id: i64, id: i64, name: &str) -> StoreResult<Option<Workspace>>;
    /// Deletes a workspace the user owns, and everything in it. False if there is none.
    async fn delete_workspace(&self, user_id: i64, id: i64) -> StoreResult<bool>;

    // Bots.
    async fn list_bots(&self, user_id: i64, workspace_id: Option<i64>, at: StatsAt) -> StoreResult<Vec<Bot>>;
    async fn bot(&self, user_id: i64, id: i64, at: StatsAt) -> StoreResult<Option<Bot>>;
    async fn create_bot(&self, bot: &BotFields, now: i64) -> StoreResult<i64>;
    async fn update_bot(&self, id: i64, bot: &BotFields, now: i64) -> StoreResult<()>;
    async fn delete_bot(&self, user_id: i64, id: i64) -> StoreResult<bool>;

    // Visitor sessions and their messages.
    async fn create_chat_session(&self, session: &NewChatSession) -> StoreResult<()>;
    async fn add_message(&self, message: &NewMessage) -> StoreResult<i64>;
    async fn list_chat_sessions(
        &self,
        bot_id: i64,
        active_since: i64,
        filter: &SessionFilter,
        page: Page,
    ) -> StoreResult<Vec<ChatSessionSummary>>;
    async fn chat_session(
        &self,
        bot_id: i64,
        session_id: &str,
        active_since: i64,
    ) -> StoreResult<Option<ChatSessionSummary>>;
    async fn session_messages(&self, bot_id: i64, session_id: &str) -> StoreResult<Vec<Message>>;
    /// The role and text of the last [`RECENT_TURNS`] messages of a session,
    /// oldest first (what a language model is shown of the conversation).
    async fn recent_turns(&self, bot_id: i64, session_id: &str) -> StoreResult<Vec<(String, String)>>;
    /// The bot's session `session_id` as a new message needs it: `None` when
    /// there is none; not `open` once it ended or was idle since before `active_since`.
    async fn session_state(
        &self,
        bot_id: i64,
        session_id: &str,
        active_since: i64,
    ) -> StoreResult<Option<SessionState>>;
}

/// Earlier messages a language model may see (those that fit its budget).
/// Written into the query as a literal: SQLite re-prepares a statement whose
/// `LIMIT` is a bound parameter every time it is bound again.
macro_rules! recent_turns {
    () => {
        40
    };
}
pub(crate) use recent_turns;
pub const RECENT_TURNS: usize = recent_turns!();

/// Opens the database named by the configuration and applies migrations.
pub async fn connect(config: &Config) -> StoreResult<Arc<dyn Store>> {
    let url = &config.database_url;
    let store: Arc<dyn Store> = if url.is_empty() {
        // A path, not a URL: no escaping pitfalls with `?` or `%` in folder names.
        let file = config.data_dir.join("docent.db");
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(file);
        Arc::new(sqlite::SqliteStore::connect(options, &config.database).await?)
    } else {
        match DatabaseKind::of(url) {
            Ok(DatabaseKind::Sqlite) => {
                let options = url.parse()?;
                Arc::new(sqlite::SqliteStore::connect(options, &config.database).await?)
            }
            Ok(DatabaseKind::Postgres) => Arc::new(postgres::PgStore::connect(url, &config.database).await?),
            Err(err) => return Err(StoreError::Database(sqlx::Error::Configuration(err.into()))),
        }
    };
    store.migrate().await?;
    Ok(store)
}

/// Names of the migrations embedded for each database, for the test that keeps them in step.
pub fn embedded_migrations() -> (Vec<String>, Vec<String>) {
    let names = |m: &sqlx::migrate::Migrator| {
        m.iter().map(|m| format!("{}_{}", m.version, m.description)).collect::<Vec<_>>()
    };
    (names(&sqlite::MIGRATOR), names(&postgres::MIGRATOR))
}
