//! `/v1/tools`: the organization's tool catalogue: built-in tools, and custom Python tools
//! written, run once from source, and their schemas generated.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::compose;
use super::error::ApiResult;
use super::extractors::{Json, Path, Query};
use super::paging;
use crate::schemas::letta_message::ToolReturnMessage;
use crate::schemas::org::Actor;
use crate::schemas::tool::{CodeInput, Tool, ToolCreate, ToolRunFromSource, ToolUpdate};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListToolsQuery {
    /// Return tools created after the tool with this id.
    #[serde(default)]
    pub after: Option<String>,
    /// Largest number of tools returned; `0` returns every tool.
    #[serde(default)]
    #[param(default = 50)]
    pub limit: Option<i64>,
    /// Only the tool with exactly this name.
    #[serde(default)]
    pub name: Option<String>,
}

/// Query of `count_tools`. Kept out of the OpenAPI document, whose reference has no
/// parameters for this route.
#[derive(Debug, Deserialize)]
pub struct CountToolsQuery {
    /// Also count the built-in tools.
    #[serde(default)]
    pub include_base_tools: bool,
}

/// List tools
///
/// The tools of the caller's organization, oldest first. A listing from the start (no
/// `after`) first adds any missing built-in tool to the organization.
#[utoipa::path(get, path = "/v1/tools/", operation_id = "list_tools", tag = "tools",
    params(ListToolsQuery),
    responses((status = 200, description = "A page of tools", body = Vec<Tool>)))]
async fn list_tools(
    State(state): State<AppState>,
    actor: Actor,
    Query(query): Query<ListToolsQuery>,
) -> ApiResult<axum::Json<Vec<Tool>>> {
    let limit = paging::limit(query.limit)?;
    let tools = compose::tools(&state)
        .list(&actor, query.after.as_deref(), limit, query.name.as_deref())
        .await?;
    Ok(axum::Json(tools))
}

/// Count tools
///
/// Number of tools in the caller's organization; built-in tools are left out unless the
/// (undocumented) query parameter `include_base_tools` is true.
#[utoipa::path(get, path = "/v1/tools/count", operation_id = "count_tools", tag = "tools",
    responses((status = 200, description = "Number of tools", body = i64, content_type = "application/json")))]
async fn count_tools(
    State(state): State<AppState>,
    actor: Actor,
    Query(query): Query<CountToolsQuery>,
) -> ApiResult<axum::Json<i64>> {
    Ok(axum::Json(
        compose::tools(&state)
            .count(&actor, query.include_base_tools)
            .await?,
    ))
}

/// Retrieve a tool
///
/// One tool of the caller's organization, by id.
#[utoipa::path(get, path = "/v1/tools/{tool_id}", operation_id = "retrieve_tool", tag = "tools",
    params(("tool_id" = String, Path, description = "Id of the tool")),
    responses(
        (status = 200, description = "The tool", body = Tool),
        (status = 404, description = "No such tool in the organization"),
    ))]
async fn retrieve_tool(
    State(state): State<AppState>,
    actor: Actor,
    Path(tool_id): Path<String>,
) -> ApiResult<axum::Json<Tool>> {
    Ok(axum::Json(
        compose::tools(&state).get(&actor, &tool_id).await?,
    ))
}

/// Add the built-in tools
///
/// Adds every built-in tool to the caller's organization, refreshing those already there,
/// and returns them.
#[utoipa::path(post, path = "/v1/tools/add-base-tools", operation_id = "add_base_tools", tag = "tools",
    responses((status = 200, description = "The built-in tools", body = Vec<Tool>)))]
async fn add_base_tools(
    State(state): State<AppState>,
    actor: Actor,
) -> ApiResult<axum::Json<Vec<Tool>>> {
    Ok(axum::Json(
        compose::tools(&state).upsert_base_tools(&actor).await?,
    ))
}

/// Create a tool
///
/// A custom Python tool from its source: its name and schema are derived from the last
/// top-level function (docstring and type annotations required).
#[utoipa::path(post, path = "/v1/tools/", operation_id = "create_tool", tag = "tools",
    request_body = ToolCreate,
    responses(
        (status = 200, description = "The new tool", body = Tool),
        (status = 400, description = "The source yields no tool (the problem is named)"),
        (status = 409, description = "The organization has a tool of that name"),
    ))]
async fn create_tool(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<ToolCreate>,
) -> ApiResult<axum::Json<Tool>> {
    Ok(axum::Json(
        compose::tools(&state).create(&actor, body).await?,
    ))
}

/// Create or update a tool
///
/// Like `create_tool`, but a custom tool of the derived name is overwritten in place.
#[utoipa::path(put, path = "/v1/tools/", operation_id = "upsert_tool", tag = "tools",
    request_body = ToolCreate,
    responses(
        (status = 200, description = "The stored tool", body = Tool),
        (status = 400, description = "The source yields no tool, or the name is a built-in tool's"),
    ))]
async fn upsert_tool(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<ToolCreate>,
) -> ApiResult<axum::Json<Tool>> {
    Ok(axum::Json(
        compose::tools(&state).upsert(&actor, body).await?,
    ))
}

/// Modify a tool
///
/// Applies the fields given. A new source re-derives the schema and renames the tool to
/// its function's name.
#[utoipa::path(patch, path = "/v1/tools/{tool_id}", operation_id = "modify_tool", tag = "tools",
    params(("tool_id" = String, Path, description = "Id of the tool")),
    request_body = ToolUpdate,
    responses(
        (status = 200, description = "The updated tool", body = Tool),
        (status = 400, description = "The new source yields no tool"),
        (status = 404, description = "No such tool in the organization"),
        (status = 409, description = "The new name is taken"),
    ))]
async fn modify_tool(
    State(state): State<AppState>,
    actor: Actor,
    Path(tool_id): Path<String>,
    Json(body): Json<ToolUpdate>,
) -> ApiResult<axum::Json<Tool>> {
    Ok(axum::Json(
        compose::tools(&state)
            .modify(&actor, &tool_id, body)
            .await?,
    ))
}

/// Delete a tool
///
/// Deletes the tool and detaches it from every agent; answers `null`.
#[utoipa::path(delete, path = "/v1/tools/{tool_id}", operation_id = "delete_tool", tag = "tools",
    params(("tool_id" = String, Path, description = "Id of the tool")),
    responses(
        (status = 200, description = "Deleted", body = serde_json::Value, content_type = "application/json"),
        (status = 400, description = "No such tool in the organization (the original's status)"),
    ))]
async fn delete_tool(
    State(state): State<AppState>,
    actor: Actor,
    Path(tool_id): Path<String>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    compose::tools(&state).delete(&actor, &tool_id).await?;
    Ok(axum::Json(serde_json::Value::Null))
}

/// Run a tool from source
///
/// Builds a tool from the source (not saved) and runs it once in the sandbox, with only
/// `env_vars` in its environment. A tool that fails answers 200 with `status: error`.
#[utoipa::path(post, path = "/v1/tools/run", operation_id = "run_tool_from_source", tag = "tools",
    request_body = ToolRunFromSource,
    responses(
        (status = 200, description = "What the tool returned and printed", body = ToolReturnMessage),
        (status = 400, description = "The source yields no tool"),
    ))]
async fn run_tool_from_source(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<ToolRunFromSource>,
) -> ApiResult<axum::Json<ToolReturnMessage>> {
    Ok(axum::Json(
        compose::tools(&state).run_from_source(&actor, body).await?,
    ))
}

/// Generate a JSON schema
///
/// The schema derived from Python source defining a function.
#[utoipa::path(post, path = "/v1/tools/generate-schema", operation_id = "generate_json_schema", tag = "tools",
    request_body = CodeInput,
    responses(
        (status = 200, description = "The derived schema", body = Object),
        (status = 400, description = "The source yields no schema (the problem is named)"),
    ))]
async fn generate_json_schema(
    State(state): State<AppState>,
    _actor: Actor,
    Json(body): Json<CodeInput>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    Ok(axum::Json(
        compose::tools(&state).generate_schema(&body.code).await?,
    ))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tools, create_tool, upsert_tool))
        .routes(routes!(count_tools))
        .routes(routes!(retrieve_tool, modify_tool, delete_tool))
        .routes(routes!(run_tool_from_source))
        .routes(routes!(generate_json_schema))
        .routes(routes!(add_base_tools))
}
