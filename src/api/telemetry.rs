//! `/v1/telemetry/{step_id}` (a step's provider trace) and
//! `/v1/steps/{step_id}/transaction/{transaction_id}` (a step's transaction id).

use axum::extract::State;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiResult;
use super::extractors::Path;
use crate::schemas::org::Actor;
use crate::schemas::run::Step;
use crate::schemas::telemetry::ProviderTrace;
use crate::services::telemetry::{TelemetryService, TraceSettings};
use crate::state::AppState;

fn service(state: &AppState) -> TelemetryService<'_> {
    TelemetryService::new(
        state.store.as_ref(),
        TraceSettings::from(state.config.as_ref()),
    )
}

/// Retrieve Provider Trace By Step Id
///
/// The model request a step sent and the answer it got (keys redacted). Kept only while
/// `LETTA_PROVIDER_TRACES` is on, and at most `LETTA_PROVIDER_TRACE_RETENTION` per
/// organization.
#[utoipa::path(get, path = "/v1/telemetry/{step_id}", operation_id = "retrieve_provider_trace", tag = "telemetry",
    params(("step_id" = String, Path, description = "Id of the step"),
        ("user_id" = Option<String>, Header, description = "The acting user")),
    responses((status = 200, description = "The step's provider trace", body = ProviderTrace),
        (status = 404, description = "No trace of this step in the organization")))]
async fn retrieve_provider_trace(
    State(state): State<AppState>,
    actor: Actor,
    Path(step_id): Path<String>,
) -> ApiResult<axum::Json<ProviderTrace>> {
    Ok(axum::Json(
        service(&state).trace_for_step(&actor, &step_id).await?,
    ))
}

/// Update Step Transaction Id
///
/// Update the transaction ID for a step.
#[utoipa::path(patch, path = "/v1/steps/{step_id}/transaction/{transaction_id}",
    operation_id = "update_step_transaction_id", tag = "steps",
    params(("step_id" = String, Path, description = "Id of the step"),
        ("transaction_id" = String, Path, description = "The transaction id to record"),
        ("user_id" = Option<String>, Header, description = "The acting user")),
    responses((status = 200, description = "The updated step", body = Step),
        (status = 404, description = "No such step in the organization")))]
async fn update_step_transaction_id(
    State(state): State<AppState>,
    actor: Actor,
    Path((step_id, transaction_id)): Path<(String, String)>,
) -> ApiResult<axum::Json<Step>> {
    Ok(axum::Json(
        service(&state)
            .set_transaction_id(&actor, &step_id, &transaction_id)
            .await?,
    ))
}

#[derive(OpenApi)]
#[openapi(components(schemas(ProviderTrace)))]
struct TelemetryDoc;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(TelemetryDoc::openapi())
        .routes(routes!(retrieve_provider_trace))
        .routes(routes!(update_step_transaction_id))
}
