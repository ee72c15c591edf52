//! Operability at the HTTP edge: one access-log line and the request metrics per request,
//! and `GET /metrics` (Prometheus text; not a Letta operation, so not in the OpenAPI
//! document).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::meters;
use crate::state::AppState;

/// Route label of requests no route matched (raw paths would be unbounded).
const UNMATCHED: &str = "unmatched";

/// Logs `method route status latency request_id` at info once the response head is ready
/// (for a stream: when it starts) and records the same in the metrics.
pub async fn access_log(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let response = next.run(req).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    tracing::info!(
        method = %method,
        route = %route,
        status,
        latency_ms = elapsed.as_micros() as f64 / 1000.0,
        request_id = %request_id,
        "request"
    );
    meters::http_request(method.as_str(), &route, status, elapsed);
    response
}

/// `GET /metrics`: every metric in the Prometheus text format, with the database pool and
/// Redis state sampled now.
pub async fn metrics(State(state): State<AppState>) -> Response {
    // The hub probes Redis itself (every call has a deadline, a degraded one is retried
    // each second), so a scrape reads its state instead of pinging.
    let redis_up = state
        .runs
        .redis_state()
        .map(|s| s == crate::runs::RedisState::Ok);
    let sampled = meters::Sampled {
        pool: state.store.pool_status(),
        redis_up,
    };
    match meters::render(&sampled) {
        Some(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            )],
            text,
        )
            .into_response(),
        None => super::error::ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Metrics are not available: another metrics recorder is installed in this process",
        )
        .into_response(),
    }
}
