//! `/v1/admin`: organizations and users. Like the original's, these routes act on the whole
//! server, not on the caller's organization.

use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::extract::State;

use super::compose;
use super::error::ApiResult;
use super::extractors::{Json, Query};
use super::paging;
use crate::schemas::org::{
    Organization, OrganizationCreate, OrganizationUpdate, User, UserCreate, UserUpdate,
};
use crate::state::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// Only entries created after the one with this id.
    after: Option<String>,
    /// Page size.
    #[param(default = 50)]
    limit: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct OrgIdQuery {
    /// Id of the organization.
    org_id: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct UserIdQuery {
    /// Id of the user.
    user_id: String,
}

/// Lists organizations, oldest first.
#[utoipa::path(get, path = "/v1/admin/orgs/", operation_id = "list_orgs", tags = ["organization", "admin"],
    params(PageQuery),
    responses((status = 200, description = "Organizations", body = Vec<Organization>)))]
async fn list_orgs(
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Vec<Organization>>> {
    let limit = paging::limit(q.limit)?;
    Ok(axum::Json(
        compose::orgs(&state)
            .list_orgs(q.after.as_deref(), limit)
            .await?,
    ))
}

/// Creates an organization; without a name it gets a generated one.
#[utoipa::path(post, path = "/v1/admin/orgs/", operation_id = "create_organization", tags = ["organization", "admin"],
    request_body = OrganizationCreate,
    responses((status = 200, description = "The new organization", body = Organization)))]
async fn create_organization(
    State(state): State<AppState>,
    Json(body): Json<OrganizationCreate>,
) -> ApiResult<axum::Json<Organization>> {
    Ok(axum::Json(compose::orgs(&state).create_org(body).await?))
}

/// Renames an organization or changes its access to privileged tools.
#[utoipa::path(patch, path = "/v1/admin/orgs/", operation_id = "update_organization", tags = ["organization", "admin"],
    params(OrgIdQuery),
    request_body = OrganizationUpdate,
    responses((status = 200, description = "The updated organization", body = Organization),
        (status = 404, description = "No such organization")))]
async fn update_organization(
    State(state): State<AppState>,
    Query(q): Query<OrgIdQuery>,
    Json(body): Json<OrganizationUpdate>,
) -> ApiResult<axum::Json<Organization>> {
    Ok(axum::Json(
        compose::orgs(&state).update_org(&q.org_id, body).await?,
    ))
}

/// Deletes an organization with everything it owns; returns the deleted organization.
#[utoipa::path(delete, path = "/v1/admin/orgs/", operation_id = "delete_organization_by_id",
    tags = ["organization", "admin"],
    params(OrgIdQuery),
    responses((status = 200, description = "The deleted organization", body = Organization),
        (status = 400, description = "The default organization cannot be deleted"),
        (status = 404, description = "No such organization")))]
async fn delete_organization_by_id(
    State(state): State<AppState>,
    Query(q): Query<OrgIdQuery>,
) -> ApiResult<axum::Json<Organization>> {
    Ok(axum::Json(
        compose::orgs(&state).delete_org(&q.org_id).await?,
    ))
}

/// Lists users of every organization, oldest first.
#[utoipa::path(get, path = "/v1/admin/users/", operation_id = "list_users", tags = ["users", "admin"],
    params(PageQuery),
    responses((status = 200, description = "Users", body = Vec<User>)))]
async fn list_users(
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Vec<User>>> {
    let limit = paging::limit(q.limit)?;
    Ok(axum::Json(
        compose::orgs(&state)
            .list_users(q.after.as_deref(), limit)
            .await?,
    ))
}

/// Creates a user in an existing organization.
#[utoipa::path(post, path = "/v1/admin/users/", operation_id = "create_user", tags = ["users", "admin"],
    request_body = UserCreate,
    responses((status = 200, description = "The new user", body = User),
        (status = 404, description = "No such organization")))]
async fn create_user(
    State(state): State<AppState>,
    Json(body): Json<UserCreate>,
) -> ApiResult<axum::Json<User>> {
    Ok(axum::Json(compose::orgs(&state).create_user(body).await?))
}

/// Renames a user or moves it to another organization.
#[utoipa::path(put, path = "/v1/admin/users/", operation_id = "update_user", tags = ["users", "admin"],
    request_body = UserUpdate,
    responses((status = 200, description = "The updated user", body = User),
        (status = 404, description = "No such user or organization")))]
async fn update_user(
    State(state): State<AppState>,
    Json(body): Json<UserUpdate>,
) -> ApiResult<axum::Json<User>> {
    Ok(axum::Json(compose::orgs(&state).update_user(body).await?))
}

/// Deletes a user; returns the deleted user.
#[utoipa::path(delete, path = "/v1/admin/users/", operation_id = "delete_user", tags = ["users", "admin"],
    params(UserIdQuery),
    responses((status = 200, description = "The deleted user", body = User),
        (status = 400, description = "The default user cannot be deleted"),
        (status = 404, description = "No such user")))]
async fn delete_user(
    State(state): State<AppState>,
    Query(q): Query<UserIdQuery>,
) -> ApiResult<axum::Json<User>> {
    Ok(axum::Json(
        compose::orgs(&state).delete_user(&q.user_id).await?,
    ))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            list_orgs,
            create_organization,
            update_organization,
            delete_organization_by_id
        ))
        .routes(routes!(list_users, create_user, update_user, delete_user))
}
