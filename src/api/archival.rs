//! Archival memory: `/v1/agents/{agent_id}/archival-memory` (an agent's passages) and
//! `/v1/embeddings/total_storage_size`.

use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::compose;
use super::error::{ApiError, ApiResult};
use super::extractors::{Json, Path, Query};
use super::paging;
use crate::schemas::org::Actor;
use crate::schemas::passage::Passage;
use crate::services::archival::{CreateArchivalMemory, PassageQuery, PassageUpdate};
use crate::state::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListPassagesQuery {
    /// Unique ID of the memory to start the query range at.
    after: Option<String>,
    /// Unique ID of the memory to end the query range at.
    before: Option<String>,
    /// How many results to include in the response.
    limit: Option<i64>,
    /// Search passages by text: ranks them by embedding similarity to it.
    search: Option<String>,
    /// Whether to sort passages oldest to newest (True, default) or newest to oldest (False)
    #[param(default = true)]
    ascending: Option<bool>,
}

/// Retrieve the memories in an agent's archival memory store (paginated query).
#[utoipa::path(get, path = "/v1/agents/{agent_id}/archival-memory", operation_id = "list_passages", tag = "agents",
    params(("agent_id" = String, Path, description = "Id of the agent"), ListPassagesQuery),
    responses((status = 200, description = "The agent's passages", body = Vec<Passage>),
        (status = 502, description = "The embedding provider failed (with `search`)")))]
async fn list_passages(
    State(state): State<AppState>,
    actor: Actor,
    Path(agent_id): Path<String>,
    Query(q): Query<ListPassagesQuery>,
) -> ApiResult<axum::Json<Vec<Passage>>> {
    let query = PassageQuery {
        after: q.after,
        before: q.before,
        limit: paging::limit_or(q.limit, None)?,
        search: q.search,
        ascending: q.ascending.unwrap_or(true),
    };
    Ok(axum::Json(
        compose::archival(&state)
            .list(&actor, &agent_id, &query)
            .await?,
    ))
}

/// Insert a memory into an agent's archival memory store: one passage per chunk of the text.
#[utoipa::path(post, path = "/v1/agents/{agent_id}/archival-memory", operation_id = "create_passage", tag = "agents",
    params(("agent_id" = String, Path, description = "Id of the agent")),
    request_body = CreateArchivalMemory,
    responses((status = 200, description = "The new passages", body = Vec<Passage>),
        (status = 400, description = "The agent's embedding configuration cannot be used"),
        (status = 404, description = "No such agent in the organization"),
        (status = 502, description = "The embedding provider failed; nothing was stored")))]
async fn create_passage(
    State(state): State<AppState>,
    actor: Actor,
    Path(agent_id): Path<String>,
    Json(body): Json<CreateArchivalMemory>,
) -> ApiResult<axum::Json<Vec<Passage>>> {
    Ok(axum::Json(
        compose::archival(&state)
            .insert(&actor, &agent_id, &body.text)
            .await?,
    ))
}

/// Modify a memory in the agent's archival memory store; returns `[passage]`.
#[utoipa::path(patch, path = "/v1/agents/{agent_id}/archival-memory/{memory_id}", operation_id = "modify_passage", tag = "agents",
    params(("agent_id" = String, Path, description = "Id of the agent"),
        ("memory_id" = String, Path, description = "Id of the passage")),
    request_body = PassageUpdate,
    responses((status = 200, description = "The updated passage", body = Vec<Passage>),
        (status = 400, description = "No such passage for this agent, or the body's id differs"),
        (status = 502, description = "The embedding provider failed; nothing was changed")))]
async fn modify_passage(
    State(state): State<AppState>,
    actor: Actor,
    Path((agent_id, memory_id)): Path<(String, String)>,
    Json(body): Json<PassageUpdate>,
) -> ApiResult<axum::Json<Vec<Passage>>> {
    Ok(axum::Json(
        compose::archival(&state)
            .modify(&actor, &agent_id, &memory_id, body)
            .await?,
    ))
}

/// Delete a memory from an agent's archival memory store.
#[utoipa::path(delete, path = "/v1/agents/{agent_id}/archival-memory/{memory_id}", operation_id = "delete_passage", tag = "agents",
    params(("agent_id" = String, Path, description = "Id of the agent"),
        ("memory_id" = String, Path, description = "Id of the passage")),
    responses((status = 200, description = "`{\"message\": \"Memory id=<id> successfully deleted\"}`", body = Object),
        (status = 404, description = "No such passage for this agent")))]
async fn delete_passage(
    State(state): State<AppState>,
    actor: Actor,
    Path((agent_id, memory_id)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let message = compose::archival(&state)
        .delete(&actor, &agent_id, &memory_id)
        .await?;
    Ok(axum::Json(json!({ "message": message })))
}

/// Get the total size of all embeddings in the database for a user in the storage unit given.
#[utoipa::path(get, path = "/v1/embeddings/total_storage_size", operation_id = "get_total_storage_size", tag = "embeddings",
    params(("storage-unit" = Option<String>, Header, description = "`B`, `KB`, `MB`, `GB` (default) or `TB`")),
    responses((status = 200, description = "Bytes of the organization's passages in the unit", body = f64, content_type = "application/json"),
        (status = 400, description = "Unknown storage unit")))]
async fn get_total_storage_size(
    State(state): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
) -> ApiResult<axum::Json<f64>> {
    let unit = match headers.get("storage-unit") {
        None => "GB".to_owned(),
        Some(value) => value
            .to_str()
            .map_err(|_| {
                ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "Invalid storage unit: not valid text",
                )
            })?
            .trim()
            .to_owned(),
    };
    Ok(axum::Json(
        compose::archival(&state)
            .storage_size(&actor, &unit)
            .await?,
    ))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_passages, create_passage))
        .routes(routes!(modify_passage, delete_passage))
        .routes(routes!(get_total_storage_size))
}
