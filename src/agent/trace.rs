//! A turn's provider traces: the request captured before each model call, stored with the
//! step it produced (when the server keeps traces).

use serde_json::Value;

use crate::llm::ProviderKeys;
use crate::llm::chat::{ChatRequest, ChatResponse};
use crate::schemas::llm_config::LlmConfig;
use crate::services::AppState;
use crate::services::telemetry::{TelemetryService, TraceSettings, request_json};

/// A request waiting for its step: the wire body and the keys to redact from it.
pub(super) type Captured = (Value, ProviderKeys);

fn telemetry(state: &AppState) -> TelemetryService<'_> {
    TelemetryService::new(
        state.store.as_ref(),
        TraceSettings::from(state.config.as_ref()),
    )
}

/// The request's wire body, when traces are kept.
pub(super) fn capture(
    state: &AppState,
    llm_config: &LlmConfig,
    request: &ChatRequest,
    stream: bool,
    keys: &ProviderKeys,
) -> Option<Captured> {
    state
        .config
        .provider_traces
        .then(|| (request_json(llm_config, request, stream), keys.clone()))
}

/// Stores the captured request and the answer as the step's trace.
pub(super) async fn record(
    state: &AppState,
    org_id: &str,
    actor_id: &str,
    step_id: &str,
    captured: Option<Captured>,
    response: &ChatResponse,
) {
    if let Some((request, keys)) = captured {
        telemetry(state)
            .record(org_id, actor_id, step_id, request, response, &keys)
            .await;
    }
}
