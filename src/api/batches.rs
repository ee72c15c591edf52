//! `/v1/messages/batches`: many agents' message requests in one call, run server-side as
//! runs of their own.

use axum::extract::State;
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiResult;
use super::extractors::{Json, Path, Query};
use super::paging;
use crate::schemas::batch::{BatchJob, CreateBatch, LettaBatchMessages, LettaBatchRequest};
use crate::schemas::org::Actor;
use crate::services::batches::BatchService;
use crate::state::AppState;
use crate::store::BatchMessageFilter;

/// Page size of `list_batch_messages` when no `limit` is given, as the original.
const DEFAULT_LIMIT: i64 = 100;

/// Create Messages Batch
///
/// Submit a batch of agent messages for asynchronous processing.
/// Creates a job that will fan out messages to all listed agents and process them in parallel.
#[utoipa::path(post, path = "/v1/messages/batches", operation_id = "create_messages_batch", tag = "messages",
    params(("user_id" = Option<String>, Header, description = "The acting user")),
    request_body = CreateBatch,
    responses((status = 200, description = "The batch, running", body = BatchJob),
        (status = 400, description = "More requests than the batch limit"),
        (status = 404, description = "A request names an agent the organization does not have")))]
async fn create_messages_batch(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<CreateBatch>,
) -> ApiResult<axum::Json<BatchJob>> {
    Ok(axum::Json(
        crate::dispatch::create_batch(&state, &actor, body).await?,
    ))
}

/// List Batch Runs
///
/// List the user's batches that have not finished.
#[utoipa::path(get, path = "/v1/messages/batches", operation_id = "list_batch_runs", tag = "messages",
    params(("user_id" = Option<String>, Header, description = "The acting user")),
    responses((status = 200, description = "The unfinished batches", body = Vec<BatchJob>)))]
async fn list_batch_runs(
    State(state): State<AppState>,
    actor: Actor,
) -> ApiResult<axum::Json<Vec<BatchJob>>> {
    Ok(axum::Json(
        BatchService::new(state.store.as_ref())
            .list_open(&actor)
            .await?,
    ))
}

/// Retrieve Batch Run
///
/// Get the status of a batch run, with its requests' runs and their statuses.
#[utoipa::path(get, path = "/v1/messages/batches/{batch_id}", operation_id = "retrieve_batch_run", tag = "messages",
    params(("batch_id" = String, Path, description = "Id of the batch"),
        ("user_id" = Option<String>, Header, description = "The acting user")),
    responses((status = 200, description = "The batch", body = BatchJob),
        (status = 404, description = "No such batch of the user")))]
async fn retrieve_batch_run(
    State(state): State<AppState>,
    actor: Actor,
    Path(batch_id): Path<String>,
) -> ApiResult<axum::Json<BatchJob>> {
    Ok(axum::Json(
        BatchService::new(state.store.as_ref())
            .retrieve(&actor, &batch_id)
            .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct BatchMessagesQuery {
    /// Maximum number of messages to return
    #[param(default = 100)]
    limit: Option<i64>,
    /// Message ID to use as pagination cursor (get messages before/after this ID) depending on sort_descending.
    cursor: Option<String>,
    /// Filter messages by agent ID
    agent_id: Option<String>,
    /// Sort messages by creation time (true=newest first)
    #[param(default = true)]
    sort_descending: Option<bool>,
}

/// List Batch Messages
///
/// Get messages for a specific batch job, newest first unless `sort_descending=false`; the
/// cursor is the last message id of the previous page.
#[utoipa::path(get, path = "/v1/messages/batches/{batch_id}/messages", operation_id = "list_batch_messages", tag = "messages",
    params(("batch_id" = String, Path, description = "Id of the batch"), BatchMessagesQuery,
        ("user_id" = Option<String>, Header, description = "The acting user")),
    responses((status = 200, description = "The batch's messages", body = LettaBatchMessages),
        (status = 404, description = "No such batch of the user")))]
async fn list_batch_messages(
    State(state): State<AppState>,
    actor: Actor,
    Path(batch_id): Path<String>,
    Query(q): Query<BatchMessagesQuery>,
) -> ApiResult<axum::Json<LettaBatchMessages>> {
    let filter = BatchMessageFilter {
        agent_id: q.agent_id,
        cursor: q.cursor,
        descending: q.sort_descending.unwrap_or(true),
        limit: paging::limit_or(q.limit, Some(DEFAULT_LIMIT))?,
    };
    Ok(axum::Json(
        BatchService::new(state.store.as_ref())
            .messages(&actor, &batch_id, &filter)
            .await?,
    ))
}

/// Cancel Batch Run
///
/// Cancel a batch run: requests not started never start, running ones are cancelled.
/// Answers the batch.
#[utoipa::path(patch, path = "/v1/messages/batches/{batch_id}/cancel", operation_id = "cancel_batch_run", tag = "messages",
    params(("batch_id" = String, Path, description = "Id of the batch"),
        ("user_id" = Option<String>, Header, description = "The acting user")),
    responses((status = 200, description = "The cancelled batch", body = BatchJob),
        (status = 404, description = "No such batch of the user")))]
async fn cancel_batch_run(
    State(state): State<AppState>,
    actor: Actor,
    Path(batch_id): Path<String>,
) -> ApiResult<axum::Json<BatchJob>> {
    Ok(axum::Json(
        crate::dispatch::cancel_batch(&state, &actor, &batch_id).await?,
    ))
}

#[derive(OpenApi)]
#[openapi(components(schemas(BatchJob, CreateBatch, LettaBatchRequest, LettaBatchMessages)))]
struct BatchesDoc;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(BatchesDoc::openapi())
        .routes(routes!(create_messages_batch, list_batch_runs))
        .routes(routes!(retrieve_batch_run))
        .routes(routes!(list_batch_messages))
        .routes(routes!(cancel_batch_run))
}
