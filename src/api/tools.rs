//! `/v1/tools`: the organization's tool catalogue (built-in tools; custom tool authoring is
//! not served).

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiResult;
use super::extractors::{Path, Query};
use super::paging;
use crate::schemas::org::Actor;
use crate::schemas::tool::Tool;
use crate::services::AppState;

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
    let tools = state
        .tools()
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
        state
            .tools()
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
    Ok(axum::Json(state.tools().get(&actor, &tool_id).await?))
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
    Ok(axum::Json(state.tools().upsert_base_tools(&actor).await?))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tools))
        .routes(routes!(count_tools))
        .routes(routes!(retrieve_tool))
        .routes(routes!(add_base_tools))
}
