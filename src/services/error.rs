use thiserror::Error;

use crate::store::StoreError;

/// What went wrong in a service, in terms the HTTP edge maps to statuses.
#[derive(Debug, Error)]
pub enum ServiceError {
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 400: the request is well-formed but the rules refuse it.
    #[error("{0}")]
    BadRequest(String),
    /// 422 with a FastAPI-shaped body: a field-level validation failure.
    #[error("{msg}")]
    Validation {
        loc: Vec<serde_json::Value>,
        msg: String,
        input: serde_json::Value,
    },
    /// 502: a model provider failed or could not be reached.
    #[error("{0}")]
    Upstream(String),
    /// 503: the database could not be reached.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// 500: a bug or a corrupt row; the detail is logged, not returned.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unique(msg) => ServiceError::Conflict(format!(
                "A unique constraint was violated. Check your input for duplicates: {msg}"
            )),
            StoreError::ForeignKey(msg) => ServiceError::Conflict(format!(
                "A foreign key constraint was violated. Check your input for missing or invalid references: {msg}"
            )),
            StoreError::Rejected(msg) => ServiceError::BadRequest(msg),
            StoreError::Unavailable(msg) => ServiceError::Unavailable(msg),
            StoreError::Database(msg) | StoreError::Corrupt(msg) => ServiceError::Internal(msg),
        }
    }
}

impl ServiceError {
    /// A body-validation failure at `loc` (e.g. `["body", "name"]`) with a pydantic-style
    /// "Value error, …" message.
    pub fn value_error(loc: &[&str], msg: impl Into<String>, input: serde_json::Value) -> Self {
        ServiceError::Validation {
            loc: loc
                .iter()
                .map(|s| serde_json::Value::String((*s).to_owned()))
                .collect(),
            msg: format!("Value error, {}", msg.into()),
            input,
        }
    }
}
