//! `/v1/providers`: providers an organization brings with its own key (BYOK).

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiResult;
use super::extractors::{Json, Path, Query};
use super::paging;
use crate::llm::ProviderType;
use crate::schemas::org::Actor;
use crate::schemas::provider::{Provider, ProviderCheck, ProviderCreate, ProviderUpdate};
use crate::services::providers::ProviderService;
use crate::state::AppState;

/// Page size of the listing when no `limit` is given, as the original.
const DEFAULT_LIMIT: i64 = 50;

fn service(state: &AppState) -> ProviderService<'_> {
    ProviderService::new(
        state.store.as_ref(),
        state.config.global_max_context_window_limit,
    )
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListProvidersQuery {
    /// Only the provider of this name
    name: Option<String>,
    /// Only providers of this type
    provider_type: Option<ProviderType>,
    /// Pagination cursor: the id of the last provider of the previous page
    after: Option<String>,
    /// Number of results to return
    #[param(default = 50)]
    limit: Option<i64>,
}

/// List Providers
///
/// Get a list of all custom providers in the database
#[utoipa::path(get, path = "/v1/providers/", operation_id = "list_providers", tag = "providers",
    params(ListProvidersQuery, ("user_id" = Option<String>, Header, description = "The acting user")),
    responses((status = 200, description = "The organization's providers, oldest first (keys masked)", body = Vec<Provider>)))]
async fn list_providers(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<ListProvidersQuery>,
) -> ApiResult<axum::Json<Vec<Provider>>> {
    let limit = paging::limit_or(q.limit, Some(DEFAULT_LIMIT))?;
    Ok(axum::Json(
        service(&state)
            .list(
                &actor,
                q.name.as_deref(),
                q.provider_type,
                q.after.as_deref(),
                limit,
            )
            .await?,
    ))
}

/// Create Provider
///
/// Create a new custom provider
#[utoipa::path(post, path = "/v1/providers/", operation_id = "create_provider", tag = "providers",
    params(("user_id" = Option<String>, Header, description = "The acting user")),
    request_body = ProviderCreate,
    responses((status = 200, description = "The created provider (key masked)", body = Provider),
        (status = 400, description = "A provider type this server cannot use, or a reserved name"),
        (status = 409, description = "The organization already has a provider of this name")))]
async fn create_provider(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<ProviderCreate>,
) -> ApiResult<axum::Json<Provider>> {
    Ok(axum::Json(service(&state).create(&actor, body).await?))
}

/// Modify Provider
///
/// Update an existing custom provider
#[utoipa::path(patch, path = "/v1/providers/{provider_id}", operation_id = "modify_provider", tag = "providers",
    params(("provider_id" = String, Path, description = "Id of the provider"),
        ("user_id" = Option<String>, Header, description = "The acting user")),
    request_body = ProviderUpdate,
    responses((status = 200, description = "The updated provider (key masked)", body = Provider),
        (status = 404, description = "No such provider in the organization")))]
async fn modify_provider(
    State(state): State<AppState>,
    actor: Actor,
    Path(provider_id): Path<String>,
    Json(body): Json<ProviderUpdate>,
) -> ApiResult<axum::Json<Provider>> {
    Ok(axum::Json(
        service(&state).update(&actor, &provider_id, body).await?,
    ))
}

/// Check Provider
///
/// Lists the provider's models with the given key: 200 when the key is accepted, 401 when
/// the provider refuses it. A GET with a JSON body, as the original.
#[utoipa::path(get, path = "/v1/providers/check", operation_id = "check_provider", tag = "providers",
    request_body = ProviderCheck,
    responses((status = 200, description = "The key is valid", body = Value),
        (status = 401, description = "The provider refused the key"),
        (status = 502, description = "The provider could not be reached")))]
async fn check_provider(
    State(state): State<AppState>,
    Json(body): Json<ProviderCheck>,
) -> ApiResult<axum::Json<Value>> {
    let message = service(&state).check(&body).await?;
    Ok(axum::Json(json!({ "message": message })))
}

/// Delete Provider
///
/// Delete an existing custom provider. Refused (409) while an agent of the organization
/// chats through it.
#[utoipa::path(delete, path = "/v1/providers/{provider_id}", operation_id = "delete_provider", tag = "providers",
    params(("provider_id" = String, Path, description = "Id of the provider"),
        ("user_id" = Option<String>, Header, description = "The acting user")),
    responses((status = 200, description = "Deleted", body = Value),
        (status = 404, description = "No such provider in the organization"),
        (status = 409, description = "Agents use the provider")))]
async fn delete_provider(
    State(state): State<AppState>,
    actor: Actor,
    Path(provider_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    service(&state).delete(&actor, &provider_id).await?;
    Ok(axum::Json(
        json!({ "message": format!("Provider id={provider_id} successfully deleted") }),
    ))
}

/// Components the bodies refer to by name.
#[derive(OpenApi)]
#[openapi(components(schemas(
    ProviderType,
    Provider,
    ProviderCreate,
    ProviderUpdate,
    ProviderCheck
)))]
struct ProvidersDoc;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ProvidersDoc::openapi())
        .routes(routes!(list_providers, create_provider))
        .routes(routes!(check_provider))
        .routes(routes!(modify_provider, delete_provider))
}
