//! `[http]` and `[database]`: the request limits and the connection pool.

use serde::Deserialize;

use super::{ConfigError, Kind, range};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest JSON request body accepted, in bytes.
    pub json_limit_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { json_limit_bytes: 1024 * 1024 }
    }
}

impl HttpConfig {
    pub(super) const SETTINGS: &[(&str, Kind)] = &[("http.json_limit_bytes", Kind::Integer)];

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        range("http.json_limit_bytes", self.json_limit_bytes as u64, 1024, 1024 * 1024 * 1024)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    pub max_connections: u32,
    /// How long a request waits for a free connection, in seconds.
    pub acquire_timeout_seconds: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { max_connections: 10, acquire_timeout_seconds: 5 }
    }
}

impl DatabaseConfig {
    pub(super) const SETTINGS: &[(&str, Kind)] =
        &[("database.max_connections", Kind::Integer), ("database.acquire_timeout_seconds", Kind::Integer)];

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        range("database.max_connections", self.max_connections.into(), 1, 1000)?;
        range("database.acquire_timeout_seconds", self.acquire_timeout_seconds, 1, 600)
    }
}
