//! `/v1/models`: the chat and embedding models the configured providers offer.

use axum::extract::State;
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiResult;
use super::extractors::Query;
use crate::llm::ProviderType;
use crate::llm::catalog::ModelFilter;
use crate::schemas::llm_config::{EmbeddingConfig, LlmConfig, ProviderCategory};
use crate::schemas::org::Actor;
use crate::services::ServiceError;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListModelsQuery {
    /// Only providers of these categories (repeatable).
    #[serde(default)]
    pub provider_category: Option<Vec<ProviderCategory>>,
    /// Only the provider with this name (`openai`, `anthropic`, `ollama`).
    #[serde(default)]
    pub provider_name: Option<String>,
    /// Only providers of this type.
    #[serde(default)]
    pub provider_type: Option<ProviderType>,
}

/// List chat models
///
/// The chat models of the configured providers, each as a ready-to-use LLM configuration
/// with the model's full context window. Answers 502 when a selected provider cannot be
/// listed.
#[utoipa::path(get, path = "/v1/models/", operation_id = "list_models", tag = "models",
    params(ListModelsQuery),
    responses(
        (status = 200, description = "The available chat models", body = Vec<LlmConfig>),
        (status = 502, description = "A provider could not be listed"),
    ))]
async fn list_models(
    State(state): State<AppState>,
    _actor: Actor,
    Query(query): Query<ListModelsQuery>,
) -> ApiResult<axum::Json<Vec<LlmConfig>>> {
    let filter = ModelFilter {
        provider_categories: query.provider_category,
        provider_name: query.provider_name,
        provider_type: query.provider_type,
    };
    Ok(axum::Json(
        state
            .models
            .list_llm_models(&filter)
            .await
            .map_err(ServiceError::from)?,
    ))
}

/// List embedding models
///
/// The embedding models of the configured providers, as embedding configurations.
#[utoipa::path(get, path = "/v1/models/embedding", operation_id = "list_embedding_models", tag = "models",
    responses(
        (status = 200, description = "The available embedding models", body = Vec<EmbeddingConfig>),
        (status = 502, description = "A provider could not be listed"),
    ))]
async fn list_embedding_models(
    State(state): State<AppState>,
    _actor: Actor,
) -> ApiResult<axum::Json<Vec<EmbeddingConfig>>> {
    Ok(axum::Json(
        state
            .models
            .list_embedding_models()
            .await
            .map_err(ServiceError::from)?,
    ))
}

/// Components the query parameters refer to (parameters do not register their schemas).
#[derive(OpenApi)]
#[openapi(components(schemas(ProviderType, ProviderCategory)))]
struct ModelsDoc;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ModelsDoc::openapi())
        .routes(routes!(list_models))
        .routes(routes!(list_embedding_models))
}
