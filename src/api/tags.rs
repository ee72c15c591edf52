//! `/v1/tags`: the tags in use on the organization's agents.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiResult;
use super::extractors::Query;
use super::paging;
use crate::schemas::org::Actor;
use crate::state::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListTagsQuery {
    /// Only tags sorting strictly after this one.
    after: Option<String>,
    /// Page size.
    #[param(default = 50)]
    limit: Option<i64>,
    /// Case-insensitive part of the tag.
    query_text: Option<String>,
}

/// Lists the distinct tags of the organization's agents, in ascending order.
#[utoipa::path(get, path = "/v1/tags/", operation_id = "list_tags", tags = ["tag", "admin"],
    params(ListTagsQuery),
    responses((status = 200, description = "Distinct tags", body = Vec<String>)))]
async fn list_tags(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<ListTagsQuery>,
) -> ApiResult<axum::Json<Vec<String>>> {
    let limit = paging::limit(q.limit)?;
    let tags = state
        .store
        .list_tags(
            &actor.organization_id,
            q.after.as_deref(),
            limit,
            q.query_text.as_deref(),
        )
        .await?;
    Ok(axum::Json(tags))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_tags))
}
