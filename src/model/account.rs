//! Accounts: users, their logins and the workspaces they belong to.

use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::serde_rfc3339;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub is_admin: bool,
    /// Access tokens carry it; a password change bumps it and ends older ones.
    pub token_version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A refresh token to store; only its hash is kept.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub user_id: i64,
    /// All tokens of one login share a family; reuse of any revokes them all.
    pub family: String,
    pub token_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The token was good: it is now used, and the new one is stored.
    Rotated {
        user_id: i64,
    },
    /// The token was already used or revoked: its whole family is now revoked.
    Reused,
    Expired,
    Unknown,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Throttle {
    pub failures: i64,
    pub window_start: i64,
}

/// A workspace, with the caller's role in it.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Workspace {
    pub id: i64,
    pub name: String,
    pub owner_id: i64,
    /// The caller's role: `owner`, `editor` or `viewer`.
    pub role: String,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: i64,
}
