//! `/v1/blocks`: core-memory blocks as standalone resources.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::compose;
use super::error::ApiResult;
use super::extractors::{Json, Path, Query};
use super::paging;
use crate::schemas::agent::AgentState;
use crate::schemas::block::{Block, BlockUpdate, CreateBlock};
use crate::schemas::org::Actor;
use crate::state::AppState;
use crate::store::BlockFilter;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListBlocksQuery {
    /// Only blocks with exactly this label (e.g. `human`).
    label: Option<String>,
    /// `true`: only template blocks; `false`: only blocks that are not templates.
    #[serde(default)]
    #[param(default = false)]
    templates_only: bool,
    /// Only templates with exactly this name.
    name: Option<String>,
    /// Only blocks linked to this identity.
    identity_id: Option<String>,
    /// Only blocks linked to an identity with one of these identifier keys (repeatable).
    #[serde(default)]
    identifier_keys: Option<Vec<String>>,
    /// Page size; `0` returns every match.
    #[param(default = 50)]
    limit: Option<i64>,
}

/// Lists the organization's blocks, oldest first.
#[utoipa::path(get, path = "/v1/blocks/", operation_id = "list_blocks", tag = "blocks",
    params(ListBlocksQuery),
    responses((status = 200, description = "The matching blocks", body = Vec<Block>)))]
async fn list_blocks(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<ListBlocksQuery>,
) -> ApiResult<axum::Json<Vec<Block>>> {
    let limit = paging::limit(q.limit)?;
    let filter = BlockFilter {
        label: q.label,
        templates_only: q.templates_only,
        name: q.name,
        identity_id: q.identity_id,
        identifier_keys: q.identifier_keys.unwrap_or_default(),
        limit,
    };
    Ok(axum::Json(
        compose::blocks(&state).list(&actor, &filter).await?,
    ))
}

/// Creates a block; a value longer than the limit is refused with a 422.
#[utoipa::path(post, path = "/v1/blocks/", operation_id = "create_block", tag = "blocks",
    request_body = CreateBlock,
    responses((status = 200, description = "The new block", body = Block)))]
async fn create_block(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<CreateBlock>,
) -> ApiResult<axum::Json<Block>> {
    Ok(axum::Json(
        compose::blocks(&state).create(&actor, body).await?,
    ))
}

/// Counts the organization's blocks, templates included.
#[utoipa::path(get, path = "/v1/blocks/count", operation_id = "count_blocks", tag = "blocks",
    responses((status = 200, description = "Number of blocks", body = i64, content_type = "application/json")))]
async fn count_blocks(State(state): State<AppState>, actor: Actor) -> ApiResult<axum::Json<i64>> {
    Ok(axum::Json(compose::blocks(&state).count(&actor).await?))
}

/// Returns one block.
#[utoipa::path(get, path = "/v1/blocks/{block_id}", operation_id = "retrieve_block", tag = "blocks",
    params(("block_id" = String, Path, description = "Id of the block")),
    responses((status = 200, description = "The block", body = Block),
        (status = 404, description = "No such block in the organization")))]
async fn retrieve_block(
    State(state): State<AppState>,
    actor: Actor,
    Path(block_id): Path<String>,
) -> ApiResult<axum::Json<Block>> {
    Ok(axum::Json(
        compose::blocks(&state).get(&actor, &block_id).await?,
    ))
}

/// Changes the fields present (and not null) in the body.
#[utoipa::path(patch, path = "/v1/blocks/{block_id}", operation_id = "modify_block", tag = "blocks",
    params(("block_id" = String, Path, description = "Id of the block")),
    request_body = BlockUpdate,
    responses((status = 200, description = "The updated block", body = Block),
        (status = 400, description = "The new value would exceed the limit"),
        (status = 404, description = "No such block in the organization")))]
async fn modify_block(
    State(state): State<AppState>,
    actor: Actor,
    Path(block_id): Path<String>,
    Json(body): Json<BlockUpdate>,
) -> ApiResult<axum::Json<Block>> {
    Ok(axum::Json(
        compose::blocks(&state)
            .modify(&actor, &block_id, body)
            .await?,
    ))
}

/// Deletes a block, detaching it from every agent; returns the deleted block.
#[utoipa::path(delete, path = "/v1/blocks/{block_id}", operation_id = "delete_block", tag = "blocks",
    params(("block_id" = String, Path, description = "Id of the block")),
    responses((status = 200, description = "The deleted block", body = Block),
        (status = 404, description = "No such block in the organization")))]
async fn delete_block(
    State(state): State<AppState>,
    actor: Actor,
    Path(block_id): Path<String>,
) -> ApiResult<axum::Json<Block>> {
    Ok(axum::Json(
        compose::blocks(&state).delete(&actor, &block_id).await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AgentsForBlockQuery {
    /// Relationships to load on each agent (repeatable); all of them when omitted.
    #[serde(default)]
    include_relationships: Option<Vec<String>>,
}

/// Lists the agents a block is attached to.
#[utoipa::path(get, path = "/v1/blocks/{block_id}/agents", operation_id = "list_agents_for_block", tag = "blocks",
    params(("block_id" = String, Path, description = "Id of the block"), AgentsForBlockQuery),
    responses((status = 200, description = "Agents using the block", body = Vec<AgentState>),
        (status = 404, description = "No such block in the organization")))]
async fn list_agents_for_block(
    State(state): State<AppState>,
    actor: Actor,
    Path(block_id): Path<String>,
    Query(q): Query<AgentsForBlockQuery>,
) -> ApiResult<axum::Json<Vec<AgentState>>> {
    let include = q.include_relationships.as_deref();
    Ok(axum::Json(
        compose::agents(&state)
            .agents_with_block(&actor, &block_id, include)
            .await?,
    ))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_blocks, create_block))
        .routes(routes!(count_blocks))
        .routes(routes!(retrieve_block, modify_block, delete_block))
        .routes(routes!(list_agents_for_block))
}
