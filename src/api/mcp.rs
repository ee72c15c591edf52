//! `/v1/tools/mcp/servers`: the organization's MCP servers (stdio, SSE, streamable HTTP),
//! their tools, and registering one of those tools as a Letta tool.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::compose;
use super::error::{ApiError, ApiResult};
use super::extractors::{Json, Path};
use crate::schemas::mcp::{
    McpServerConfig, McpServerConfigList, McpServerConfigMap, McpServerUpdate, McpTool,
};
use crate::schemas::org::Actor;
use crate::schemas::tool::Tool;
use crate::state::AppState;

/// The acting user: the `user_id` header, else `user-id` (the name `list_mcp_servers`
/// documents), else the default user.
struct McpActor(Actor);

impl FromRequestParts<AppState> for McpActor {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = ["user_id", "user-id"]
            .iter()
            .find_map(|name| parts.headers.get(*name))
            .and_then(|v| v.to_str().ok());
        Ok(McpActor(compose::orgs(state).resolve_actor(header).await?))
    }
}

fn service(state: &AppState) -> crate::services::mcp_servers::McpServerService<'_> {
    compose::mcp_servers(state)
}

/// List Mcp Servers
///
/// Get a list of all configured MCP servers
#[utoipa::path(get, path = "/v1/tools/mcp/servers", operation_id = "list_mcp_servers", tag = "tools",
    params(("user-id" = Option<String>, Header, description = "The acting user")),
    responses((status = 200, description = "The servers by name", body = inline(McpServerConfigMap))))]
async fn list_mcp_servers(
    State(state): State<AppState>,
    McpActor(actor): McpActor,
) -> ApiResult<axum::Json<McpServerConfigMap>> {
    Ok(axum::Json(service(&state).list(&actor).await?))
}

/// Add Mcp Server To Config
///
/// Add a new MCP server to the Letta MCP server config. Nothing is started or reached;
/// answers every server of the organization.
#[utoipa::path(put, path = "/v1/tools/mcp/servers", operation_id = "add_mcp_server", tag = "tools",
    request_body = inline(McpServerConfig),
    responses(
        (status = 200, description = "Every server of the organization", body = inline(McpServerConfigList)),
        (status = 409, description = "The organization has a server of that name"),
    ))]
async fn add_mcp_server(
    State(state): State<AppState>,
    McpActor(actor): McpActor,
    Json(body): Json<McpServerConfig>,
) -> ApiResult<axum::Json<McpServerConfigList>> {
    Ok(axum::Json(service(&state).add(&actor, body).await?))
}

/// Update Mcp Server
///
/// Update an existing MCP server configuration
#[utoipa::path(patch, path = "/v1/tools/mcp/servers/{mcp_server_name}", operation_id = "update_mcp_server", tag = "tools",
    params(("mcp_server_name" = String, Path, description = "The server's name")),
    request_body = inline(McpServerUpdate),
    responses(
        (status = 200, description = "The updated server", body = inline(McpServerConfig)),
        (status = 400, description = "A field the server's transport does not have"),
        (status = 404, description = "No such server in the organization"),
        (status = 409, description = "The new name is taken"),
    ))]
async fn update_mcp_server(
    State(state): State<AppState>,
    McpActor(actor): McpActor,
    Path(name): Path<String>,
    Json(body): Json<McpServerUpdate>,
) -> ApiResult<axum::Json<McpServerConfig>> {
    Ok(axum::Json(
        service(&state).update(&actor, &name, body).await?,
    ))
}

/// Delete Mcp Server From Config
///
/// Deletes the MCP server (closing its session); answers the remaining servers. Tools
/// registered from it stay, and fail when called.
#[utoipa::path(delete, path = "/v1/tools/mcp/servers/{mcp_server_name}", operation_id = "delete_mcp_server", tag = "tools",
    params(("mcp_server_name" = String, Path, description = "The server's name")),
    responses(
        (status = 200, description = "Every remaining server", body = inline(McpServerConfigList)),
        (status = 404, description = "No such server in the organization"),
    ))]
async fn delete_mcp_server(
    State(state): State<AppState>,
    McpActor(actor): McpActor,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<McpServerConfigList>> {
    Ok(axum::Json(service(&state).delete(&actor, &name).await?))
}

/// Test Mcp Server
///
/// Test connection to an MCP server without adding it.
/// Returns the list of available tools if successful.
#[utoipa::path(post, path = "/v1/tools/mcp/servers/test", operation_id = "test_mcp_server", tag = "tools",
    request_body = inline(McpServerConfig),
    responses(
        (status = 200, description = "The server's tools", body = Vec<McpTool>),
        (status = 400, description = "The server cannot be started or reached, or misbehaves"),
    ))]
async fn test_mcp_server(
    State(state): State<AppState>,
    Json(body): Json<McpServerConfig>,
) -> ApiResult<axum::Json<Vec<McpTool>>> {
    Ok(axum::Json(service(&state).test(body).await?))
}

/// List Mcp Tools By Server
///
/// Get a list of all tools for a specific MCP server
#[utoipa::path(get, path = "/v1/tools/mcp/servers/{mcp_server_name}/tools", operation_id = "list_mcp_tools_by_server", tag = "tools",
    params(("mcp_server_name" = String, Path, description = "The server's name")),
    responses(
        (status = 200, description = "The server's tools", body = Vec<McpTool>),
        (status = 400, description = "The server cannot be started or reached, or misbehaves"),
        (status = 404, description = "No such server in the organization"),
    ))]
async fn list_mcp_tools_by_server(
    State(state): State<AppState>,
    McpActor(actor): McpActor,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Vec<McpTool>>> {
    Ok(axum::Json(service(&state).list_tools(&actor, &name).await?))
}

/// Add Mcp Tool
///
/// Register a new MCP tool as a Letta server by MCP server + tool name
#[utoipa::path(post, path = "/v1/tools/mcp/servers/{mcp_server_name}/{mcp_tool_name}", operation_id = "add_mcp_tool", tag = "tools",
    params(
        ("mcp_server_name" = String, Path, description = "The server's name"),
        ("mcp_tool_name" = String, Path, description = "The name of one of its tools"),
    ),
    responses(
        (status = 200, description = "The registered tool", body = Tool),
        (status = 400, description = "The server cannot be started or reached, or misbehaves"),
        (status = 404, description = "No such server in the organization, or no such tool on it"),
        (status = 409, description = "A tool of that name exists and is not an MCP tool"),
    ))]
async fn add_mcp_tool(
    State(state): State<AppState>,
    McpActor(actor): McpActor,
    Path((server, tool)): Path<(String, String)>,
) -> ApiResult<axum::Json<Tool>> {
    Ok(axum::Json(
        service(&state).add_tool(&actor, &server, &tool).await?,
    ))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_mcp_servers, add_mcp_server))
        .routes(routes!(update_mcp_server, delete_mcp_server))
        .routes(routes!(test_mcp_server))
        .routes(routes!(list_mcp_tools_by_server))
        .routes(routes!(add_mcp_tool))
}
