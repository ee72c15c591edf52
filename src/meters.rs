//! Prometheus metrics: every metric's name and labels are defined here, recorded with the
//! `metrics` macros and rendered by `metrics-exporter-prometheus` at `GET /metrics`.
//!
//! Labels are bounded: routes are the matched path templates (`/v1/agents/{agent_id}`),
//! never raw URIs; providers are endpoint types (`openai`, `anthropic`, …).

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::store::PoolStatus;

const HTTP_REQUESTS: &str = "letta_http_requests_total";
const HTTP_DURATION: &str = "letta_http_request_duration_seconds";
const RUNS_FINISHED: &str = "letta_runs_finished_total";
const ACTIVE_STREAMS: &str = "letta_active_streams";
const LLM_CALLS: &str = "letta_llm_calls_total";
const LLM_DURATION: &str = "letta_llm_call_duration_seconds";
const LLM_TOKENS: &str = "letta_llm_tokens_total";
const DB_POOL: &str = "letta_db_pool_connections";
const REDIS_UP: &str = "letta_redis_up";

/// Seconds: from a cached read to a long model turn.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// How often recorded histogram samples are folded in when nobody scrapes (bounds memory).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Installs the process-wide recorder on first use and returns its handle; `None` when
/// another recorder was installed first (the server is embedded in a program with its
/// own), in which case `/metrics` says so.
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS);
            let installed = builder.and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(handle) => {
                    describe();
                    // Present from the start, so a dashboard sees 0 rather than nothing.
                    gauge!(ACTIVE_STREAMS).set(0.0);
                    Some(handle)
                }
                Err(err) => {
                    tracing::warn!(error = %err, "metrics recorder not installed; /metrics is empty");
                    None
                }
            }
        })
        .as_ref()
}

/// Installs the recorder and keeps histograms folded in the background (inside a Tokio
/// runtime; once per process). Should that runtime end first (tests build a runtime per
/// test), nothing is lost: [`render`] folds them too.
pub fn start() {
    static STARTED: OnceLock<()> = OnceLock::new();
    let Some(handle) = handle() else {
        return;
    };
    STARTED.get_or_init(|| {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(UPKEEP_EVERY).await;
                handle.run_upkeep();
            }
        });
    });
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(HTTP_REQUESTS, "HTTP requests by method, route and status");
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to the response head by method and route"
    );
    describe_counter!(RUNS_FINISHED, "Runs that ended, by terminal status");
    describe_gauge!(ACTIVE_STREAMS, "SSE message streams open now");
    describe_counter!(LLM_CALLS, "Model calls by provider and outcome");
    describe_histogram!(
        LLM_DURATION,
        Unit::Seconds,
        "Model call duration by provider"
    );
    describe_counter!(LLM_TOKENS, "Tokens reported by providers, by kind");
    describe_gauge!(DB_POOL, "Database pool connections by state");
    describe_gauge!(
        REDIS_UP,
        "1 when Redis answers a ping, 0 when not (absent without Redis)"
    );
}

/// One answered HTTP request. `route` is the matched template.
pub fn http_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    let (method, route) = (method.to_owned(), route.to_owned());
    counter!(HTTP_REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    histogram!(HTTP_DURATION, "method" => method, "route" => route).record(elapsed.as_secs_f64());
}

/// A run reached a terminal status (`completed`, `failed`, `cancelled`, …).
pub fn runs_finished(status: &str, n: u64) {
    counter!(RUNS_FINISHED, "status" => status.to_owned()).increment(n);
}

/// Counts an open SSE stream until dropped.
pub struct StreamGauge(());

impl StreamGauge {
    pub fn open() -> Self {
        gauge!(ACTIVE_STREAMS).increment(1.0);
        StreamGauge(())
    }
}

impl Drop for StreamGauge {
    fn drop(&mut self) {
        gauge!(ACTIVE_STREAMS).decrement(1.0);
    }
}

/// One finished model call; `tokens` are its (prompt, completion) tokens when it answered.
pub fn llm_call(provider: &str, outcome: &str, elapsed: Duration, tokens: Option<(i64, i64)>) {
    let provider = provider.to_owned();
    counter!(LLM_CALLS, "provider" => provider.clone(), "outcome" => outcome.to_owned())
        .increment(1);
    histogram!(LLM_DURATION, "provider" => provider.clone()).record(elapsed.as_secs_f64());
    if let Some((prompt, completion)) = tokens {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        counter!(LLM_TOKENS, "provider" => provider.clone(), "kind" => "prompt")
            .increment(count(prompt));
        counter!(LLM_TOKENS, "provider" => provider, "kind" => "completion")
            .increment(count(completion));
    }
}

/// What is sampled at scrape time rather than counted as it happens.
pub struct Sampled {
    pub pool: PoolStatus,
    /// `None` without Redis; otherwise whether it answered a ping.
    pub redis_up: Option<bool>,
}

/// The Prometheus text of every metric, with the sampled gauges set first.
pub fn render(sampled: &Sampled) -> Option<String> {
    let handle = handle()?;
    let pool = sampled.pool;
    let idle = u32::try_from(pool.idle).unwrap_or(u32::MAX);
    gauge!(DB_POOL, "state" => "idle").set(f64::from(idle));
    gauge!(DB_POOL, "state" => "in_use").set(f64::from(pool.size.saturating_sub(idle)));
    gauge!(DB_POOL, "state" => "max").set(f64::from(pool.max));
    if let Some(up) = sampled.redis_up {
        gauge!(REDIS_UP).set(if up { 1.0 } else { 0.0 });
    }
    handle.run_upkeep();
    Some(handle.render())
}
