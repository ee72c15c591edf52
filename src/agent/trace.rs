//! A turn's provider traces: the request captured before each model call, stored with the
//! step it produced (when the server keeps traces).

use serde_json::Value;

use crate::llm::ProviderKeys;
use crate::llm::chat::{ChatRequest, ChatResponse};
use crate::schemas::llm_config::LlmConfig;
use crate::services::telemetry::{TelemetryService, TraceSettings, request_json};
use crate::state::AppState;

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

/// The keys the agent's chats use (its brought provider's, else the server's).
pub(super) async fn chat_keys(
    state: &AppState,
    row: &crate::store::AgentRow,
) -> crate::services::ServiceResult<ProviderKeys> {
    crate::services::providers::chat_keys(
        state.store.as_ref(),
        &row.organization_id,
        &row.llm_config,
        &state.providers,
    )
    .await
}

/// Stores the captured request (with the acting user) and the answer as the step's trace.
pub(super) async fn record(
    state: &AppState,
    step: &crate::schemas::run::Step,
    (captured, actor_id): (Option<Captured>, &str),
    response: &ChatResponse,
) {
    let (Some((request, keys)), Some(org_id)) = (captured, step.organization_id.as_deref()) else {
        return;
    };
    telemetry(state)
        .record(org_id, actor_id, &step.id, request, response, &keys)
        .await;
}
