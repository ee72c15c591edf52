//! The one error type at the HTTP edge: `{"detail": …}` bodies with the original's statuses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::services::ServiceError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            detail: Value::String(detail.into()),
        }
    }

    /// A FastAPI-shaped 422 with one or more `{"type","loc","msg","input"[,"ctx"]}` items.
    pub fn validation(items: Vec<Value>) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: Value::Array(items),
        }
    }

    pub fn validation_item(
        kind: &str,
        loc: Vec<Value>,
        msg: impl Into<String>,
        input: Value,
    ) -> Value {
        json!({"type": kind, "loc": loc, "msg": msg.into(), "input": input})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({ "detail": self.detail }))).into_response()
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::NotFound(msg) => ApiError::new(StatusCode::NOT_FOUND, msg),
            ServiceError::Conflict(msg) => ApiError::new(StatusCode::CONFLICT, msg),
            ServiceError::BadRequest(msg) => ApiError::new(StatusCode::BAD_REQUEST, msg),
            ServiceError::Validation { loc, msg, input } => {
                ApiError::validation(vec![ApiError::validation_item(
                    "value_error",
                    loc,
                    msg,
                    input,
                )])
            }
            ServiceError::Upstream(msg) => ApiError::new(StatusCode::BAD_GATEWAY, msg),
            ServiceError::Unavailable(msg) => {
                tracing::warn!(error = %msg, "database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The database is temporarily unavailable. Please try again later.",
                )
            }
            ServiceError::Internal(msg) => {
                tracing::error!(error = %msg, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "An internal server error occurred",
                )
            }
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        ApiError::from(ServiceError::from(err))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
