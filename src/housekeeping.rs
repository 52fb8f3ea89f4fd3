//! The periodic clean-up every node runs: the database holds no timers, so
//! whatever expires is tidied here. Each step is one idempotent statement (or a
//! few batches), so nodes running it at the same time do not get in each
//! other's way.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::now_ms;
use crate::config::Config;
use crate::error::ErrorChain;
use crate::store::{Store, StoreResult};

/// How often a node tidies up.
pub const EVERY: Duration = Duration::from_secs(600);
const DAY_MS: i64 = 86_400_000;
/// Days a widget token is kept after it can no longer be refreshed, so the
/// owner's token list still shows why an old embed stopped working.
pub const EXPIRED_TOKEN_KEEP_DAYS: i64 = 30;
/// Conversations deleted per statement, so a large purge never holds the
/// database's write lock for long.
const DELETE_BATCH: i64 = 500;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tidied {
    /// Refresh tokens, login-throttle and rate-limit windows deleted.
    pub expired_logins: u64,
    /// Visitor sessions ended after `widget.session_timeout_minutes` idle.
    pub ended_sessions: u64,
    /// Widget tokens deleted, [`EXPIRED_TOKEN_KEEP_DAYS`] past their refresh grace.
    pub deleted_tokens: u64,
    /// Conversations deleted under `widget.retention_days`.
    pub deleted_sessions: u64,
}

/// Runs [`tidy`] every [`EVERY`] until `stop` completes.
pub async fn run(config: Arc<Config>, store: Arc<dyn Store>, stop: impl Future<Output = ()>) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = &mut stop => return,
        }
        match tidy(&config, store.as_ref(), now_ms()).await {
            Ok(done) if done == Tidied::default() => {}
            Ok(done) => tracing::info!(?done, "housekeeping"),
            Err(err) => tracing::warn!(error = %ErrorChain(&err), "housekeeping failed"),
        }
    }
}

/// One pass as of `now`: forgets refresh tokens expired over a day ago and
/// throttle windows that are over; ends idle visitor sessions; deletes widget
/// tokens long past refreshing; and with `widget.retention_days` deletes the
/// conversations idle for longer.
pub async fn tidy(config: &Config, store: &dyn Store, now: i64) -> StoreResult<Tidied> {
    let lockout = i64::from(config.auth.lockout_minutes) * 60_000;
    let mut done = Tidied {
        expired_logins: store.purge_expired(now - DAY_MS, now - lockout).await?
            + store.purge_rate_limits(now).await?,
        ..Tidied::default()
    };
    let widget = &config.widget;
    done.ended_sessions =
        store.end_idle_sessions(now - i64::from(widget.session_timeout_minutes) * 60_000).await?;
    let keep = i64::from(widget.refresh_grace_days) + EXPIRED_TOKEN_KEEP_DAYS;
    done.deleted_tokens = store.delete_expired_widget_tokens(now - keep * DAY_MS).await?;
    if widget.retention_days > 0 {
        let before = now - i64::from(widget.retention_days) * DAY_MS;
        loop {
            let deleted = store.delete_old_sessions(before, DELETE_BATCH).await?;
            done.deleted_sessions += deleted;
            if deleted < u64::try_from(DELETE_BATCH).unwrap_or(u64::MAX) {
                break;
            }
        }
    }
    Ok(done)
}
