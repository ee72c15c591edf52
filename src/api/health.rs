use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiResult;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Health {
    version: String,
    status: String,
    /// `ok`, or `degraded` while Redis is unreachable (this replica then serves its own runs
    /// only); absent when no Redis is configured. Not in the original.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    redis: Option<String>,
}

/// Reports the server version and the state of Redis; answers 503 when the database is
/// unreachable (a degraded Redis is reported, still with 200: the replica serves).
#[utoipa::path(get, path = "/v1/health/", operation_id = "health_check", tag = "health",
    responses((status = 200, description = "Server is healthy", body = Health)))]
async fn health_check(State(state): State<AppState>) -> ApiResult<axum::Json<Health>> {
    state
        .store
        .count_agents(crate::schemas::org::DEFAULT_ORG_ID)
        .await?;
    Ok(axum::Json(Health {
        version: crate::config::API_VERSION.to_owned(),
        status: "ok".to_owned(),
        redis: state.runs.redis_state().map(|s| s.as_str().to_owned()),
    }))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health_check))
}
