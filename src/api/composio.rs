//! `/v1/tools/composio`: Composio's apps and actions, and an action added as a tool. Needs
//! `COMPOSIO_API_KEY` (else 400, as the original).

use axum::extract::State;
use serde::Serialize;
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiResult;
use super::extractors::Path;
use crate::schemas::org::Actor;
use crate::schemas::tool::Tool;
use crate::services::composio::{ComposioApi, ComposioService};
use crate::state::AppState;

fn service(state: &AppState) -> ComposioService<'_> {
    ComposioService::new(
        state.store.as_ref(),
        ComposioApi::from_config(&state.config),
    )
}

/// A Composio app, as Composio describes it (passed on as it answers).
#[derive(Serialize, ToSchema)]
#[expect(non_snake_case, reason = "Composio's field names")]
struct AppModel {
    name: String,
    key: String,
    appId: String,
    description: String,
    categories: Vec<String>,
    #[schema(value_type = Object)]
    meta: Value,
    logo: Option<String>,
    docs: Option<String>,
    group: Option<String>,
    status: Option<String>,
    enabled: Option<bool>,
    no_auth: Option<bool>,
}

/// A Composio action, as Composio describes it (passed on as it answers).
#[derive(Serialize, ToSchema)]
#[expect(non_snake_case, reason = "Composio's field names")]
struct ActionModel {
    name: String,
    description: String,
    #[schema(value_type = Object)]
    parameters: Value,
    #[schema(value_type = Object)]
    response: Value,
    appName: String,
    appId: String,
    version: String,
    available_versions: Vec<String>,
    tags: Vec<String>,
    logo: Option<String>,
    display_name: Option<String>,
    enabled: Option<bool>,
}

/// List Composio Apps
///
/// Get a list of all Composio apps
#[utoipa::path(get, path = "/v1/tools/composio/apps", operation_id = "list_composio_apps", tag = "tools",
    params(("user-id" = Option<String>, Header, description = "The acting user")),
    responses((status = 200, description = "Composio's apps", body = Vec<AppModel>),
        (status = 400, description = "No Composio API key, or Composio refused it"),
        (status = 502, description = "Composio could not be reached")))]
async fn list_composio_apps(State(state): State<AppState>) -> ApiResult<axum::Json<Vec<Value>>> {
    Ok(axum::Json(service(&state).list_apps().await?))
}

/// List Composio Actions By App
///
/// Get a list of all Composio actions for a specific app
#[utoipa::path(get, path = "/v1/tools/composio/apps/{composio_app_name}/actions",
    operation_id = "list_composio_actions_by_app", tag = "tools",
    params(("composio_app_name" = String, Path, description = "The app's name")),
    responses((status = 200, description = "The app's actions", body = Vec<ActionModel>),
        (status = 400, description = "No Composio API key, or Composio refused it"),
        (status = 502, description = "Composio could not be reached")))]
async fn list_composio_actions_by_app(
    State(state): State<AppState>,
    _actor: Actor,
    Path(composio_app_name): Path<String>,
) -> ApiResult<axum::Json<Vec<Value>>> {
    Ok(axum::Json(
        service(&state).list_actions(&composio_app_name).await?,
    ))
}

/// Add Composio Tool
///
/// Add a new Composio tool by action name (Composio refers to each tool as an `Action`)
#[utoipa::path(post, path = "/v1/tools/composio/{composio_action_name}",
    operation_id = "add_composio_tool", tag = "tools",
    params(("composio_action_name" = String, Path, description = "The action's name")),
    responses((status = 200, description = "The tool", body = Tool),
        (status = 400, description = "No Composio API key, or Composio refused it"),
        (status = 404, description = "Composio has no such action"),
        (status = 409, description = "A tool of another type has the action's name")))]
async fn add_composio_tool(
    State(state): State<AppState>,
    actor: Actor,
    Path(composio_action_name): Path<String>,
) -> ApiResult<axum::Json<Tool>> {
    Ok(axum::Json(
        service(&state)
            .add_tool(&actor, &composio_action_name)
            .await?,
    ))
}

#[derive(OpenApi)]
#[openapi(components(schemas(AppModel, ActionModel)))]
struct ComposioDoc;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ComposioDoc::openapi())
        .routes(routes!(list_composio_apps))
        .routes(routes!(list_composio_actions_by_app))
        .routes(routes!(add_composio_tool))
}
