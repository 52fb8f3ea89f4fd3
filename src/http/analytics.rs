//! `GET /widget/bots/{id}/analytics` and `GET /widget/analytics` (every bot of
//! the caller's workspaces, or of one): how bots are used over time, in buckets
//! of a day or an hour: sessions, messages, unanswered questions, reply
//! latency (mean and p95) and tokens.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{CurrentUser, Json, Path, Query, time_param};
use crate::clock::{now_ms, serde_rfc3339};
use crate::model::{ActivityScope, MessageStat};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Buckets one answer may have.
const MAX_BUCKETS: i64 = 1000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(analytics)).routes(routes!(overall))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Range {
    /// RFC 3339; default 30 days before `to`. Rounded down to the bucket.
    from: Option<String>,
    /// RFC 3339, excluded; default now.
    to: Option<String>,
    /// `day` (default) or `hour`; buckets are in UTC.
    interval: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Overall {
    /// Only the bots of this workspace; default: every workspace of the caller.
    workspace_id: Option<i64>,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Bucket {
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    start: i64,
    /// Sessions started.
    sessions: i64,
    /// Visitors' messages.
    messages: i64,
    /// Replies.
    replies: i64,
    /// Visitors' questions answered with the fallback.
    unanswered: i64,
    /// Reply latency in milliseconds; `null` without replies.
    latency_ms_mean: Option<f64>,
    latency_ms_p95: Option<f64>,
    /// Prompt and completion tokens the language model reported.
    tokens: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Analytics {
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    from: i64,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    to: i64,
    interval: String,
    series: Vec<Bucket>,
    /// The whole range in one bucket.
    totals: Bucket,
}

/// A bot's use over time, bucketed by day or hour.
#[utoipa::path(get, path = "/widget/bots/{id}/analytics", tag = "bots", security(("bearer" = [])),
    params(("id" = i64, Path), Range), responses(
        (status = 200, body = Analytics),
        (status = 404, body = ErrorBody),
        (status = 422, description = "A bad `from`, `to` or `interval`, or more than 1,000 buckets", body = ErrorBody),
    ))]
async fn analytics(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(range): Query<Range>,
) -> Result<Json<Analytics>, ApiError> {
    let bot = state.visible_bot(&user, id).await?;
    Ok(Json(count(&state, ActivityScope::Bot(bot.id), &range).await?))
}

/// The use of every bot in the caller's workspaces (or in `workspace_id`), together.
#[utoipa::path(get, path = "/widget/analytics", tag = "bots", security(("bearer" = [])),
    params(Overall, Range), responses(
        (status = 200, body = Analytics),
        (status = 404, description = "No such workspace of the caller", body = ErrorBody),
        (status = 422, description = "A bad `from`, `to` or `interval`, or more than 1,000 buckets", body = ErrorBody),
    ))]
async fn overall(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(range): Query<Range>,
    Query(only): Query<Overall>,
) -> Result<Json<Analytics>, ApiError> {
    if let Some(id) = only.workspace_id
        && state.store.workspace(user.id, id).await?.is_none()
    {
        return Err(ApiError::not_found("Workspace"));
    }
    let scope = ActivityScope::Member { user_id: user.id, workspace_id: only.workspace_id };
    Ok(Json(count(&state, scope, &range).await?))
}

/// The buckets of `range` for the bots of `scope`.
async fn count(state: &AppState, scope: ActivityScope, range: &Range) -> Result<Analytics, ApiError> {
    let (interval, step) = match range.interval.as_deref().unwrap_or("day") {
        "day" => ("day", DAY_MS),
        "hour" => ("hour", HOUR_MS),
        _ => return Err(ApiError::field("interval", "must be day or hour")),
    };
    let to = time_param("to", range.to.as_deref())?.unwrap_or_else(now_ms);
    let from = time_param("from", range.from.as_deref())?.unwrap_or(to - 30 * DAY_MS).div_euclid(step) * step;
    if from >= to {
        return Err(ApiError::field("from", "must be before `to`"));
    }
    let buckets = (to - from + step - 1) / step;
    if buckets > MAX_BUCKETS {
        return Err(ApiError::field("from", format!("makes {buckets} buckets; at most {MAX_BUCKETS}")));
    }
    let (sessions, messages) = state.store.activity(scope, from, to).await?;
    let bucket_of = |t: i64| usize::try_from((t - from) / step).unwrap_or(0);
    let mut series: Vec<Tally> = (0..buckets).map(|i| Tally::new(from + i * step)).collect();
    let mut totals = Tally::new(from);
    for started in sessions {
        series[bucket_of(started)].bucket.sessions += 1;
        totals.bucket.sessions += 1;
    }
    for message in &messages {
        series[bucket_of(message.created_at)].add(message);
        totals.add(message);
    }
    Ok(Analytics {
        from,
        to,
        interval: interval.to_owned(),
        series: series.into_iter().map(Tally::finish).collect(),
        totals: totals.finish(),
    })
}

/// A bucket being counted.
struct Tally {
    bucket: Bucket,
    latencies: Vec<i64>,
}

impl Tally {
    fn new(start: i64) -> Self {
        Self { bucket: Bucket { start, ..Bucket::default() }, latencies: Vec::new() }
    }

    fn add(&mut self, m: &MessageStat) {
        let b = &mut self.bucket;
        if m.role == "user" {
            b.messages += 1;
            b.unanswered += i64::from(m.unanswered);
        } else {
            b.replies += 1;
            b.tokens += m.prompt_tokens.unwrap_or(0) + m.completion_tokens.unwrap_or(0);
            self.latencies.extend(m.latency_ms);
        }
    }

    fn finish(mut self) -> Bucket {
        let n = self.latencies.len();
        if n > 0 {
            self.latencies.sort_unstable();
            self.bucket.latency_ms_mean = Some(self.latencies.iter().sum::<i64>() as f64 / n as f64);
            // Nearest rank.
            let rank = (n * 95).div_ceil(100).clamp(1, n);
            self.bucket.latency_ms_p95 = Some(self.latencies[rank - 1] as f64);
        }
        self.bucket
    }
}
