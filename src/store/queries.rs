//! The SQL both databases share, written once.
//!
//! SQLite and PostgreSQL agree on everything Docent needs so far: `$n`
//! placeholders, `RETURNING`, `ON CONFLICT`, expression indexes. [`impl_store!`]
//! expands the shared methods into a `Store` impl for each typed pool, so each
//! database gets its own fully typed sqlx implementation (no `Any` driver and its
//! decoding limits), while methods that must differ are written per database and
//! passed in. Each area's file (`accounts.rs`, `workspaces.rs`,
//! `conversations.rs`, `knowledge.rs`, `vectors.rs`, `widget.rs`) does the same
//! for its own trait; this one holds the `Store` trait's own methods and what
//! the areas share.

use super::StoreError;

/// Maps a unique-constraint violation to a conflict described by `what`.
pub(super) fn conflict(err: sqlx::Error, what: &str) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what.to_owned()),
        _ => StoreError::Database(err),
    }
}

/// Expands into `impl Store for $store` with the shared methods plus `$extra`
/// (`kind` and `migrate`).
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
        }
    };
}
pub(super) use impl_store;
