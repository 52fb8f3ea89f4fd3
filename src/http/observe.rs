//! One middleware for what every request gets: an id, a span, a log line and metrics.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::AppState;

const REQUEST_ID: &str = "x-request-id";

/// Takes the client's `x-request-id` when it is sane (1-128 visible ASCII
/// characters), else makes one; echoes it on the response. The span names the
/// route template, never the raw path, which may carry session ids.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| (1..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(new_request_id, str::to_owned);
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let method = request.method().as_str().to_owned();
    let span =
        tracing::info_span!("request", %method, %route, request_id = %id, status = tracing::field::Empty);

    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    span.record("status", status);
    let millis = (elapsed.as_secs_f64() * 100_000.0).round() / 100.0;
    if route == "/healthz" || route == "/metrics" {
        tracing::debug!(parent: &span, status, millis, "answered");
    } else {
        tracing::info!(parent: &span, status, millis, "answered");
    }
    // Label values must come from a fixed set: a client can send any method it likes.
    let method_label = match method.as_str() {
        "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS" => method.as_str(),
        _ => "other",
    };
    state.metrics.observe_request(method_label, &route, status, elapsed.as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

fn new_request_id() -> String {
    let mut bytes = [0u8; 12];
    rand::fill(&mut bytes);
    hex::encode(bytes)
}
