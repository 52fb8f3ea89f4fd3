//! The PostgreSQL store, for several stateless nodes sharing one database.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};

use super::queries::{self, impl_store};
use super::*;
use crate::config::{DatabaseConfig, DatabaseKind};

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
