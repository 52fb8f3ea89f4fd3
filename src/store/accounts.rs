//! Accounts in the database: users, their logins (refresh tokens, rotated on
//! every use) and the login throttle that every node shares. SQL shared by
//! both databases, like `queries.rs`.

use async_trait::async_trait;

use super::StoreResult;
use crate::model::{NewRefreshToken, RotateOutcome, Throttle, User};

/// Users and their logins.
#[async_trait]
pub trait Accounts: Send + Sync {
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
}

/// Expands into `impl Accounts for $store`; needs the store's `begin_write`.
macro_rules! impl_accounts {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::Accounts for $store {
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
                .map_err(|e| $crate::store::queries::conflict(e, "A user with this name already exists."))
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
        }
    };
}
pub(super) use impl_accounts;
