//! The one error type at the HTTP edge: `{"detail": …}` bodies with the original's statuses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::services::ServiceError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: Value,
    /// Sent as `Retry-After` (seconds): a provider's rate limit passed on.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            detail: Value::String(detail.into()),
            retry_after: None,
        }
    }

    /// A FastAPI-shaped 422 with one or more `{"type","loc","msg","input"[,"ctx"]}` items.
    pub fn validation(items: Vec<Value>) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: Value::Array(items),
            retry_after: None,
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
        let mut response =
            (self.status, axum::Json(json!({ "detail": self.detail }))).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        let status =
            StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = err.retry_after_secs();
        let message = err.public_message();
        let mut api = match err {
            ServiceError::Validation { loc, msg, input } => {
                ApiError::validation(vec![ApiError::validation_item(
                    "value_error",
                    loc,
                    msg,
                    input,
                )])
            }
            ServiceError::Unavailable(msg) => {
                tracing::warn!(error = %msg, "database unavailable");
                ApiError::new(status, message)
            }
            ServiceError::Internal(msg) => {
                tracing::error!(error = %msg, "internal error");
                ApiError::new(status, message)
            }
            _ => ApiError::new(status, message),
        };
        api.retry_after = retry_after;
        api
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        ApiError::from(ServiceError::from(err))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
