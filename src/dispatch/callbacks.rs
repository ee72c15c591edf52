//! Async runs' callbacks: the run's outcome POSTed to the caller's URL, retried on
//! connection errors and 5xx, and the delivery recorded on the run.

use std::time::Duration;

use serde_json::json;

use crate::schemas::common::{naive_utc, now};
use crate::schemas::run::Run;
use crate::state::AppState;

fn callback_client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new)
}

/// POSTs the finished run to its callback URL; retries connection failures and 5xx
/// answers, then records what happened on the run.
pub(super) async fn deliver_callback(state: &AppState, run: &Run) {
    let Some(url) = run.callback_url.as_deref() else {
        return;
    };
    let body = json!({
        "job_id": run.id,
        "status": run.status.as_str(),
        "completed_at": run.completed_at.as_ref().map(naive_utc::format),
        "metadata": run.metadata,
    });
    let timeout = Duration::from_secs(state.config.callback_timeout_secs.max(1));
    let attempts = state.config.callback_attempts.max(1);
    let mut outcome: Result<u16, String> = Err("not attempted".into());
    for attempt in 0..attempts {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(250 * 2u64.pow(attempt - 1))).await;
        }
        outcome = callback_client()
            .post(url)
            .json(&body)
            .timeout(timeout)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string());
        match &outcome {
            Ok(code) if *code < 500 => break,
            _ => {}
        }
    }
    let (code, error) = match outcome {
        Ok(code) => (Some(i64::from(code)), None),
        Err(err) => (
            None,
            Some(format!(
                "Failed to dispatch callback for job {} to {url}: {err}",
                run.id
            )),
        ),
    };
    if let Some(error) = &error {
        tracing::warn!(run_id = %run.id, error = %error, "callback failed");
    }
    if let Err(err) = state
        .store
        .record_callback(&run.id, now(), code, error.as_deref())
        .await
    {
        tracing::error!(run_id = %run.id, error = %err, "could not record the callback");
    }
}
