//! `/v1/identities`: who agents and blocks belong to.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::compose;
use super::error::ApiResult;
use super::extractors::{Json, Path, Query};
use super::paging;
use crate::schemas::identity::{
    Identity, IdentityCreate, IdentityProperty, IdentityType, IdentityUpdate, IdentityUpsert,
};
use crate::schemas::org::Actor;
use crate::state::AppState;
use crate::store::IdentityFilter;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListIdentitiesQuery {
    /// Case-insensitive part of the name.
    name: Option<String>,
    /// Only identities of this project.
    project_id: Option<String>,
    /// Only the identity with this identifier key.
    identifier_key: Option<String>,
    /// Only identities of this type.
    identity_type: Option<IdentityType>,
    /// Only identities created before this one.
    before: Option<String>,
    /// Only identities created after this one.
    after: Option<String>,
    /// Page size.
    #[param(default = 50)]
    limit: Option<i64>,
}

/// Lists the organization's identities, oldest first.
#[utoipa::path(get, path = "/v1/identities/", operation_id = "list_identities", tag = "identities",
    params(ListIdentitiesQuery),
    responses((status = 200, description = "The matching identities", body = Vec<Identity>)))]
async fn list_identities(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<ListIdentitiesQuery>,
) -> ApiResult<axum::Json<Vec<Identity>>> {
    let filter = IdentityFilter {
        name: q.name,
        project_id: q.project_id,
        identifier_key: q.identifier_key,
        identity_type: q.identity_type,
        before: q.before,
        after: q.after,
        limit: paging::limit(q.limit)?,
    };
    Ok(axum::Json(
        compose::identities(&state).list(&actor, &filter).await?,
    ))
}

/// Creates an identity, optionally linked to agents and blocks of the organization.
#[utoipa::path(post, path = "/v1/identities/", operation_id = "create_identity", tag = "identities",
    params(("X-Project" = Option<String>, Header, description = "Project slug (accepted and ignored)")),
    request_body = IdentityCreate,
    responses((status = 200, description = "The new identity", body = Identity),
        (status = 404, description = "A linked agent or block does not exist"),
        (status = 409, description = "The identifier key is taken in this project")))]
async fn create_identity(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<IdentityCreate>,
) -> ApiResult<axum::Json<Identity>> {
    Ok(axum::Json(
        compose::identities(&state).create(&actor, body).await?,
    ))
}

/// Creates the identity, or replaces the one with the same identifier key and project.
#[utoipa::path(put, path = "/v1/identities/", operation_id = "upsert_identity", tag = "identities",
    params(("X-Project" = Option<String>, Header, description = "Project slug (accepted and ignored)")),
    request_body = IdentityUpsert,
    responses((status = 200, description = "The created or replaced identity", body = Identity),
        (status = 404, description = "A linked agent does not exist")))]
async fn upsert_identity(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<IdentityUpsert>,
) -> ApiResult<axum::Json<Identity>> {
    Ok(axum::Json(
        compose::identities(&state).upsert(&actor, body).await?,
    ))
}

/// Counts the organization's identities.
#[utoipa::path(get, path = "/v1/identities/count", operation_id = "count_identities", tag = "identities",
    responses((status = 200, description = "Number of identities", body = i64, content_type = "application/json")))]
async fn count_identities(
    State(state): State<AppState>,
    actor: Actor,
) -> ApiResult<axum::Json<i64>> {
    Ok(axum::Json(compose::identities(&state).count(&actor).await?))
}

/// Returns one identity.
#[utoipa::path(get, path = "/v1/identities/{identity_id}", operation_id = "retrieve_identity", tag = "identities",
    params(("identity_id" = String, Path, description = "Id of the identity")),
    responses((status = 200, description = "The identity", body = Identity),
        (status = 404, description = "No such identity in the organization")))]
async fn retrieve_identity(
    State(state): State<AppState>,
    actor: Actor,
    Path(identity_id): Path<String>,
) -> ApiResult<axum::Json<Identity>> {
    Ok(axum::Json(
        compose::identities(&state)
            .get(&actor, &identity_id)
            .await?,
    ))
}

/// Changes the fields given; agent and block ids are added to the existing links and
/// properties are merged by key.
#[utoipa::path(patch, path = "/v1/identities/{identity_id}", operation_id = "update_identity", tag = "identities",
    params(("identity_id" = String, Path, description = "Id of the identity")),
    request_body = IdentityUpdate,
    responses((status = 200, description = "The updated identity", body = Identity),
        (status = 404, description = "No such identity, or a linked agent or block does not exist"),
        (status = 409, description = "The new identifier key is taken in this project")))]
async fn update_identity(
    State(state): State<AppState>,
    actor: Actor,
    Path(identity_id): Path<String>,
    Json(body): Json<IdentityUpdate>,
) -> ApiResult<axum::Json<Identity>> {
    Ok(axum::Json(
        compose::identities(&state)
            .update(&actor, &identity_id, body)
            .await?,
    ))
}

/// Deletes an identity; its agents and blocks are kept.
#[utoipa::path(delete, path = "/v1/identities/{identity_id}", operation_id = "delete_identity", tag = "identities",
    params(("identity_id" = String, Path, description = "Id of the identity")),
    responses((status = 200, description = "Deleted (the body is null)"),
        (status = 404, description = "No such identity in the organization")))]
async fn delete_identity(
    State(state): State<AppState>,
    actor: Actor,
    Path(identity_id): Path<String>,
) -> ApiResult<axum::Json<()>> {
    compose::identities(&state)
        .delete(&actor, &identity_id)
        .await?;
    Ok(axum::Json(()))
}

/// Replaces all properties of an identity.
#[utoipa::path(put, path = "/v1/identities/{identity_id}/properties", operation_id = "upsert_identity_properties",
    tag = "identities",
    params(("identity_id" = String, Path, description = "Id of the identity")),
    request_body = Vec<IdentityProperty>,
    responses((status = 200, description = "The identity with its new properties", body = Identity),
        (status = 404, description = "No such identity in the organization")))]
async fn upsert_identity_properties(
    State(state): State<AppState>,
    actor: Actor,
    Path(identity_id): Path<String>,
    Json(body): Json<Vec<IdentityProperty>>,
) -> ApiResult<axum::Json<Identity>> {
    Ok(axum::Json(
        compose::identities(&state)
            .set_properties(&actor, &identity_id, body)
            .await?,
    ))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_identities, create_identity, upsert_identity))
        .routes(routes!(count_identities))
        .routes(routes!(retrieve_identity, update_identity, delete_identity))
        .routes(routes!(upsert_identity_properties))
}
