//! `POST /v1/auth`: checks a password against the server's, as the original's ADE login does.

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult};
use super::extractors::Json;
use super::security::constant_time_eq;
use crate::schemas::org::{AuthRequest, AuthResponse, DEFAULT_USER_ID};
use crate::state::AppState;

/// Answers who the password makes the caller: the default user, as an administrator. Only a
/// server in secure mode has a password; anything else is a 401, which is also the answer
/// to a wrong one.
#[utoipa::path(post, path = "/v1/auth", operation_id = "authenticate_user_v1_auth_post", tag = "auth",
    request_body = AuthRequest,
    responses((status = 200, description = "The password is the server's", body = AuthResponse),
        (status = 401, description = "Wrong password, or no password mode")))]
async fn authenticate_user(
    State(state): State<AppState>,
    Json(body): Json<AuthRequest>,
) -> ApiResult<axum::Json<AuthResponse>> {
    let given = body.password.unwrap_or_default();
    match state.config.required_password() {
        Some(password) if constant_time_eq(password.expose().as_bytes(), given.as_bytes()) => {
            Ok(axum::Json(AuthResponse {
                uuid: DEFAULT_USER_ID
                    .strip_prefix("user-")
                    .unwrap_or(DEFAULT_USER_ID)
                    .to_owned(),
                is_admin: Some(true),
            }))
        }
        _ => Err(ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized")),
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(authenticate_user))
}
