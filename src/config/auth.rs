//! `[auth]`: token lifetimes, login throttling and the cost of password hashing.

use serde::Deserialize;

use super::{ConfigError, Kind, range};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub access_token_minutes: u32,
    pub refresh_token_days: u32,
    /// Failed logins for one username before it is locked for `lockout_minutes`.
    pub max_failed_logins_per_user: u32,
    /// Failed logins from one client address before it is locked for `lockout_minutes`.
    pub max_failed_logins_per_address: u32,
    pub lockout_minutes: u32,
    /// Argon2id memory cost in KiB, iterations and lanes.
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_token_minutes: 60,
            refresh_token_days: 30,
            max_failed_logins_per_user: 5,
            max_failed_logins_per_address: 20,
            lockout_minutes: 15,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
        }
    }
}

impl AuthConfig {
    pub(super) const SETTINGS: &[(&str, Kind)] = &[
        ("auth.access_token_minutes", Kind::Integer),
        ("auth.refresh_token_days", Kind::Integer),
        ("auth.max_failed_logins_per_user", Kind::Integer),
        ("auth.max_failed_logins_per_address", Kind::Integer),
        ("auth.lockout_minutes", Kind::Integer),
        ("auth.argon2_memory_kib", Kind::Integer),
        ("auth.argon2_iterations", Kind::Integer),
        ("auth.argon2_parallelism", Kind::Integer),
    ];

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        range("auth.access_token_minutes", self.access_token_minutes.into(), 1, 24 * 60)?;
        range("auth.refresh_token_days", self.refresh_token_days.into(), 1, 3650)?;
        range("auth.max_failed_logins_per_user", self.max_failed_logins_per_user.into(), 1, 10_000)?;
        range("auth.max_failed_logins_per_address", self.max_failed_logins_per_address.into(), 1, 100_000)?;
        range("auth.lockout_minutes", self.lockout_minutes.into(), 1, 24 * 60)?;
        range("auth.argon2_memory_kib", self.argon2_memory_kib.into(), 8, 4 * 1024 * 1024)?;
        range("auth.argon2_iterations", self.argon2_iterations.into(), 1, 100)?;
        range("auth.argon2_parallelism", self.argon2_parallelism.into(), 1, 64)
    }
}
