//! `/v1/sandbox-config`: where and how custom tools run, and the environment variables they
//! get. The original documents the actor header of these routes as `user-id` (not
//! `user_id`); both are read here.

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::compose;
use super::error::{ApiError, ApiResult};
use super::extractors::{Json, Path, Query};
use super::paging;
use crate::schemas::org::Actor;
use crate::schemas::sandbox::{
    LocalSandboxConfig, SandboxConfig, SandboxConfigCreate, SandboxConfigUpdate,
    SandboxEnvironmentVariable, SandboxEnvironmentVariableCreate, SandboxEnvironmentVariableUpdate,
    SandboxType,
};
use crate::services::sandbox_configs::VenvError;
use crate::state::AppState;

/// Page size of these list routes when no `limit` is given, as the original.
const DEFAULT_LIMIT: i64 = 1000;

/// The acting user of a sandbox route: the `user-id` header, else `user_id`, else the
/// default user.
struct SandboxActor(Actor);

impl FromRequestParts<AppState> for SandboxActor {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = ["user-id", "user_id"]
            .iter()
            .find_map(|name| parts.headers.get(*name))
            .and_then(|v| v.to_str().ok());
        Ok(SandboxActor(
            compose::orgs(state).resolve_actor(header).await?,
        ))
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListSandboxConfigsQuery {
    /// Number of results to return
    #[param(default = 1000)]
    limit: Option<i64>,
    /// Pagination cursor to fetch the next set of results
    after: Option<String>,
    /// Filter for this specific sandbox type
    sandbox_type: Option<SandboxType>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListEnvVarsQuery {
    /// Number of results to return
    #[param(default = 1000)]
    limit: Option<i64>,
    /// Pagination cursor to fetch the next set of results
    after: Option<String>,
}

/// These routes default to 1000 rows, as the original's.
fn limit(value: Option<i64>) -> ApiResult<Option<i64>> {
    paging::limit_or(value, Some(DEFAULT_LIMIT))
}

/// Lists the organization's sandbox configs, oldest first.
#[utoipa::path(get, path = "/v1/sandbox-config/", operation_id = "list_sandbox_configs_v1_sandbox_config__get",
    tag = "sandbox-config",
    params(ListSandboxConfigsQuery, ("user-id" = Option<String>, Header, description = "The acting user")),
    responses((status = 200, description = "The configs", body = Vec<SandboxConfig>),
        (status = 404, description = "`after` names no config of the organization")))]
async fn list_sandbox_configs(
    State(state): State<AppState>,
    SandboxActor(actor): SandboxActor,
    Query(q): Query<ListSandboxConfigsQuery>,
) -> ApiResult<axum::Json<Vec<SandboxConfig>>> {
    let limit = limit(q.limit)?;
    Ok(axum::Json(
        compose::sandbox_configs(&state)
            .list(&actor, q.sandbox_type, q.after.as_deref(), limit)
            .await?,
    ))
}

/// Creates the config of the type the `config` shape says, or replaces the settings of the
/// organization's config of that type.
#[utoipa::path(post, path = "/v1/sandbox-config/", operation_id = "create_sandbox_config_v1_sandbox_config__post",
    tag = "sandbox-config",
    params(("user-id" = Option<String>, Header, description = "The acting user")),
    request_body = SandboxConfigCreate,
    responses((status = 200, description = "The created or updated config", body = SandboxConfig)))]
async fn create_sandbox_config(
    State(state): State<AppState>,
    SandboxActor(actor): SandboxActor,
    Json(body): Json<SandboxConfigCreate>,
) -> ApiResult<axum::Json<SandboxConfig>> {
    Ok(axum::Json(
        compose::sandbox_configs(&state)
            .create_or_update(&actor, &body.config)
            .await?,
    ))
}

/// Returns the organization's E2B config, created with the defaults if it has none.
#[utoipa::path(post, path = "/v1/sandbox-config/e2b/default",
    operation_id = "create_default_e2b_sandbox_config_v1_sandbox_config_e2b_default_post",
    tag = "sandbox-config",
    params(("user-id" = Option<String>, Header, description = "The acting user")),
    responses((status = 200, description = "The E2B config", body = SandboxConfig)))]
async fn create_default_e2b_sandbox_config(
    State(state): State<AppState>,
    SandboxActor(actor): SandboxActor,
) -> ApiResult<axum::Json<SandboxConfig>> {
    Ok(axum::Json(
        compose::sandbox_configs(&state)
            .get_or_create_default(&actor, SandboxType::E2b)
            .await?,
    ))
}

/// Returns the organization's local config, created with the defaults if it has none.
#[utoipa::path(post, path = "/v1/sandbox-config/local/default",
    operation_id = "create_default_local_sandbox_config_v1_sandbox_config_local_default_post",
    tag = "sandbox-config",
    params(("user-id" = Option<String>, Header, description = "The acting user")),
    responses((status = 200, description = "The local config", body = SandboxConfig)))]
async fn create_default_local_sandbox_config(
    State(state): State<AppState>,
    SandboxActor(actor): SandboxActor,
) -> ApiResult<axum::Json<SandboxConfig>> {
    Ok(axum::Json(
        compose::sandbox_configs(&state)
            .get_or_create_default(&actor, SandboxType::Local)
            .await?,
    ))
}

/// Create or update a custom LocalSandboxConfig, including pip_requirements.
#[utoipa::path(post, path = "/v1/sandbox-config/local",
    operation_id = "create_custom_local_sandbox_config_v1_sandbox_config_local_post",
    tag = "sandbox-config",
    params(("user-id" = Option<String>, Header, description = "The acting user")),
    request_body = LocalSandboxConfig,
    responses((status = 200, description = "The created or updated local config", body = SandboxConfig)))]
async fn create_custom_local_sandbox_config(
    State(state): State<AppState>,
    SandboxActor(actor): SandboxActor,
    Json(body): Json<LocalSandboxConfig>,
) -> ApiResult<axum::Json<SandboxConfig>> {
    Ok(axum::Json(
        compose::sandbox_configs(&state)
            .create_or_update_local(&actor, body)
            .await?,
    ))
}

/// Replaces the settings of a config (with settings of the same type).
#[utoipa::path(patch, path = "/v1/sandbox-config/{sandbox_config_id}",
    operation_id = "update_sandbox_config_v1_sandbox_config__sandbox_config_id__patch",
    tag = "sandbox-config",
    params(("sandbox_config_id" = String, Path, description = "Id of the sandbox config"),
        ("user-id" = Option<String>, Header, description = "The acting user")),
    request_body = SandboxConfigUpdate,
    responses((status = 200, description = "The updated config", body = SandboxConfig),
        (status = 400, description = "The settings are of another type than the config"),
        (status = 404, description = "No such config in the organization")))]
async fn update_sandbox_config(
    State(state): State<AppState>,
    SandboxActor(actor): SandboxActor,
    Path(sandbox_config_id): Path<String>,
    Json(body): Json<SandboxConfigUpdate>,
) -> ApiResult<axum::Json<SandboxConfig>> {
    Ok(axum::Json(
        compose::sandbox_configs(&state)
            .update(&actor, &sandbox_config_id, &body)
            .await?,
    ))
}

/// Deletes a config and its environment variables.
#[utoipa::path(delete, path = "/v1/sandbox-config/{sandbox_config_id}",
    operation_id = "delete_sandbox_config_v1_sandbox_config__sandbox_config_id__delete",
    tag = "sandbox-config",
    params(("sandbox_config_id" = String, Path, description = "Id of the sandbox config"),
        ("user-id" = Option<String>, Header, description = "The acting user")),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such config in the organization")))]
async fn delete_sandbox_config(
    State(state): State<AppState>,
    SandboxActor(actor): SandboxActor,
    Path(sandbox_config_id): Path<String>,
) -> ApiResult<StatusCode> {
    compose::sandbox_configs(&state)
        .delete(&actor, &sandbox_config_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Forcefully recreate the virtual environment for the local sandbox.
/// Deletes and recreates the venv, then reinstalls required dependencies.
#[utoipa::path(post, path = "/v1/sandbox-config/local/recreate-venv",
    operation_id = "force_recreate_local_sandbox_venv_v1_sandbox_config_local_recreate_venv_post",
    tag = "sandbox-config",
    params(("user-id" = Option<String>, Header, description = "The acting user")),
    responses((status = 200, description = "The local config whose venv was recreated", body = SandboxConfig),
        (status = 400, description = "The config does not use a venv, or its directory is missing"),
        (status = 409, description = "Something that is not a venv is in the venv's place"),
        (status = 500, description = "Creating the venv or installing the requirements failed")))]
async fn force_recreate_local_sandbox_venv(
    State(state): State<AppState>,
    SandboxActor(actor): SandboxActor,
) -> ApiResult<axum::Json<SandboxConfig>> {
    match compose::sandbox_configs(&state)
        .recreate_local_venv(&actor)
        .await
    {
        Ok(config) => Ok(axum::Json(config)),
        Err(VenvError::Service(err)) => Err(err.into()),
        // The original answers a 500 carrying what failed; so does this.
        Err(VenvError::Failed(msg)) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, msg)),
    }
}

/// Sets a variable of the config: a new one, or a new value for the one with this key.
#[utoipa::path(post, path = "/v1/sandbox-config/{sandbox_config_id}/environment-variable",
    operation_id = "create_sandbox_env_var_v1_sandbox_config__sandbox_config_id__environment_variable_post",
    tag = "sandbox-config",
    params(("sandbox_config_id" = String, Path, description = "Id of the sandbox config"),
        ("user-id" = Option<String>, Header, description = "The acting user")),
    request_body = SandboxEnvironmentVariableCreate,
    responses((status = 200, description = "The variable", body = SandboxEnvironmentVariable),
        (status = 404, description = "No such config in the organization")))]
async fn create_sandbox_env_var(
    State(state): State<AppState>,
    SandboxActor(actor): SandboxActor,
    Path(sandbox_config_id): Path<String>,
    Json(body): Json<SandboxEnvironmentVariableCreate>,
) -> ApiResult<axum::Json<SandboxEnvironmentVariable>> {
    Ok(axum::Json(
        compose::sandbox_configs(&state)
            .create_env_var(&actor, &sandbox_config_id, body)
            .await?,
    ))
}

/// Lists the config's variables, oldest first (values included, as the original).
#[utoipa::path(get, path = "/v1/sandbox-config/{sandbox_config_id}/environment-variable",
    operation_id = "list_sandbox_env_vars_v1_sandbox_config__sandbox_config_id__environment_variable_get",
    tag = "sandbox-config",
    params(("sandbox_config_id" = String, Path, description = "Id of the sandbox config"),
        ListEnvVarsQuery,
        ("user-id" = Option<String>, Header, description = "The acting user")),
    responses((status = 200, description = "The variables", body = Vec<SandboxEnvironmentVariable>),
        (status = 404, description = "No such config, or `after` is not one of its variables")))]
async fn list_sandbox_env_vars(
    State(state): State<AppState>,
    SandboxActor(actor): SandboxActor,
    Path(sandbox_config_id): Path<String>,
    Query(q): Query<ListEnvVarsQuery>,
) -> ApiResult<axum::Json<Vec<SandboxEnvironmentVariable>>> {
    let limit = limit(q.limit)?;
    Ok(axum::Json(
        compose::sandbox_configs(&state)
            .list_env_vars(&actor, &sandbox_config_id, q.after.as_deref(), limit)
            .await?,
    ))
}

/// Changes the given fields of a variable.
#[utoipa::path(patch, path = "/v1/sandbox-config/environment-variable/{env_var_id}",
    operation_id = "update_sandbox_env_var_v1_sandbox_config_environment_variable__env_var_id__patch",
    tag = "sandbox-config",
    params(("env_var_id" = String, Path, description = "Id of the variable"),
        ("user-id" = Option<String>, Header, description = "The acting user")),
    request_body = SandboxEnvironmentVariableUpdate,
    responses((status = 200, description = "The updated variable", body = SandboxEnvironmentVariable),
        (status = 404, description = "No such variable in the organization"),
        (status = 409, description = "The new key is taken in the config")))]
async fn update_sandbox_env_var(
    State(state): State<AppState>,
    SandboxActor(actor): SandboxActor,
    Path(env_var_id): Path<String>,
    Json(body): Json<SandboxEnvironmentVariableUpdate>,
) -> ApiResult<axum::Json<SandboxEnvironmentVariable>> {
    Ok(axum::Json(
        compose::sandbox_configs(&state)
            .update_env_var(&actor, &env_var_id, body)
            .await?,
    ))
}

/// Deletes a variable.
#[utoipa::path(delete, path = "/v1/sandbox-config/environment-variable/{env_var_id}",
    operation_id = "delete_sandbox_env_var_v1_sandbox_config_environment_variable__env_var_id__delete",
    tag = "sandbox-config",
    params(("env_var_id" = String, Path, description = "Id of the variable"),
        ("user-id" = Option<String>, Header, description = "The acting user")),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such variable in the organization")))]
async fn delete_sandbox_env_var(
    State(state): State<AppState>,
    SandboxActor(actor): SandboxActor,
    Path(env_var_id): Path<String>,
) -> ApiResult<StatusCode> {
    compose::sandbox_configs(&state)
        .delete_env_var(&actor, &env_var_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sandbox_configs, create_sandbox_config))
        .routes(routes!(create_default_e2b_sandbox_config))
        .routes(routes!(create_default_local_sandbox_config))
        .routes(routes!(create_custom_local_sandbox_config))
        .routes(routes!(update_sandbox_config, delete_sandbox_config))
        .routes(routes!(force_recreate_local_sandbox_venv))
        .routes(routes!(list_sandbox_env_vars, create_sandbox_env_var))
        .routes(routes!(update_sandbox_env_var, delete_sandbox_env_var))
}
