//! Persistence: the `Store` trait and its two implementations.
//!
//! The database is the source of truth for everything Docent knows. Handlers and
//! domain code talk to `Arc<dyn Store>`; [`connect`] picks SQLite or PostgreSQL
//! from the URL's scheme and runs the embedded migrations. Times are unix
//! milliseconds; lists and objects are JSON text.

mod accounts;
mod conversations;
mod group_commit;
mod inline_reads;
mod knowledge;
mod postgres;
mod queries;
mod sqlite;
mod vectors;
mod widget;
mod windows;
mod workspaces;

use std::sync::Arc;

use async_trait::async_trait;

pub use accounts::Accounts;
pub use conversations::Conversations;
pub use knowledge::Knowledge;
pub use vectors::Vectors;
pub use widget::WidgetTokens;
pub use workspaces::Workspaces;

use crate::config::{Config, DatabaseKind};

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

/// Everything Docent reads and writes, independent of the database behind it:
/// one trait per area (each in its own file, with the SQL both databases
/// share), and here what concerns the database as a whole.
#[async_trait]
pub trait Store:
    Accounts + Workspaces + Conversations + Knowledge + Vectors + WidgetTokens + Send + Sync + 'static
{
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
