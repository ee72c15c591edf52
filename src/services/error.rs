use std::time::Duration;

use thiserror::Error;

use crate::llm::ProviderError;
use crate::llm::catalog::CatalogError;
use crate::llm::chat::{LlmError, LlmErrorKind};
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
    /// A model provider failed or could not be reached; its kind picks the status
    /// (see [`UpstreamError::status`]).
    #[error("{0}")]
    Upstream(UpstreamError),
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

/// A provider failure with its kind kept, so a rate limit stays a 429 (with the provider's
/// `Retry-After`), a timeout a 504, and so on, on the JSON path and in stream error frames.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{message}")]
pub struct UpstreamError {
    pub kind: LlmErrorKind,
    /// Names the provider, its HTTP status and its own words (never a key).
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl UpstreamError {
    pub fn new(kind: LlmErrorKind, message: impl Into<String>) -> Self {
        UpstreamError {
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The HTTP status our client gets: the kinds a client can act on keep their own
    /// status (as later Letta versions answer); the rest are a bad gateway.
    pub fn status(&self) -> u16 {
        match self.kind {
            LlmErrorKind::RateLimited => 429,
            // The provider refused the server's key: the operator must fix it.
            LlmErrorKind::Auth => 401,
            LlmErrorKind::Timeout => 504,
            // Only reaches a client when summarizing could not make the prompt fit.
            LlmErrorKind::ContextLength => 400,
            LlmErrorKind::Connection
            | LlmErrorKind::BadRequest
            | LlmErrorKind::Server
            | LlmErrorKind::InvalidResponse => 502,
        }
    }

    /// The error's `type` in stream error frames (later Letta versions' names).
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            LlmErrorKind::RateLimited => "llm_rate_limit",
            LlmErrorKind::Auth => "llm_authentication",
            LlmErrorKind::Timeout => "llm_timeout",
            LlmErrorKind::ContextLength => "llm_context_window_exceeded",
            LlmErrorKind::BadRequest => "llm_bad_request",
            LlmErrorKind::Connection => "llm_connection_error",
            LlmErrorKind::Server | LlmErrorKind::InvalidResponse => "llm_error",
        }
    }
}

impl From<LlmError> for UpstreamError {
    fn from(err: LlmError) -> Self {
        UpstreamError {
            kind: err.kind,
            retry_after: err.retry_after,
            message: err.to_string(),
        }
    }
}

impl From<LlmError> for ServiceError {
    fn from(err: LlmError) -> Self {
        ServiceError::Upstream(err.into())
    }
}

impl From<ProviderError> for ServiceError {
    fn from(err: ProviderError) -> Self {
        let kind = match &err {
            ProviderError::Unreachable { .. } => LlmErrorKind::Connection,
            ProviderError::Status { status: 429, .. } => LlmErrorKind::RateLimited,
            ProviderError::Status {
                status: 401 | 403, ..
            } => LlmErrorKind::Auth,
            ProviderError::Status { .. } | ProviderError::Decode { .. } => LlmErrorKind::Server,
        };
        ServiceError::Upstream(UpstreamError::new(kind, err.to_string()))
    }
}

impl From<CatalogError> for ServiceError {
    fn from(err: CatalogError) -> Self {
        match err {
            CatalogError::BadRequest(message) => ServiceError::BadRequest(message),
            CatalogError::Provider(err) => err.into(),
            CatalogError::Internal(message) => ServiceError::Internal(message),
        }
    }
}

impl ServiceError {
    /// A provider failure of this kind (for failures found by our own checks).
    pub fn upstream(kind: LlmErrorKind, message: impl Into<String>) -> Self {
        ServiceError::Upstream(UpstreamError::new(kind, message))
    }

    /// The HTTP status this error answers with. The JSON edge and the error frames of
    /// message streams both use it, so the two paths agree.
    pub fn status(&self) -> u16 {
        match self {
            ServiceError::NotFound(_) => 404,
            ServiceError::Conflict(_) => 409,
            ServiceError::BadRequest(_) => 400,
            ServiceError::Validation { .. } => 422,
            ServiceError::Upstream(err) => err.status(),
            ServiceError::Unavailable(_) => 503,
            ServiceError::Internal(_) => 500,
        }
    }

    /// What a client is told. Database and internal details are logged, not returned.
    pub fn public_message(&self) -> String {
        match self {
            ServiceError::Unavailable(_) => {
                "The database is temporarily unavailable. Please try again later.".to_owned()
            }
            ServiceError::Internal(_) => "An internal server error occurred".to_owned(),
            other => other.to_string(),
        }
    }

    /// The error's `type` in stream error frames.
    pub fn type_name(&self) -> &'static str {
        match self {
            ServiceError::NotFound(_) => "not_found",
            ServiceError::Conflict(_) => "conflict",
            ServiceError::BadRequest(_) => "bad_request",
            ServiceError::Validation { .. } => "validation_error",
            ServiceError::Upstream(err) => err.type_name(),
            ServiceError::Unavailable(_) => "database_unavailable",
            ServiceError::Internal(_) => "internal_error",
        }
    }

    /// Whole seconds the client should wait before trying again, when the provider said;
    /// rounded up so a client never comes back too early.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ServiceError::Upstream(UpstreamError {
                retry_after: Some(wait),
                ..
            }) => Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)),
            _ => None,
        }
    }

    /// What a message stream's error frame says about this error: what the JSON path
    /// would answer.
    pub fn frame_error(&self) -> crate::runs::frames::FrameError {
        crate::runs::frames::FrameError {
            message: self.public_message(),
            kind: self.type_name().to_owned(),
            status: self.status(),
            retry_after: self.retry_after_secs(),
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_failures_keep_their_kind() {
        let cases = [
            (LlmErrorKind::RateLimited, 429, "llm_rate_limit"),
            (LlmErrorKind::Auth, 401, "llm_authentication"),
            (LlmErrorKind::Timeout, 504, "llm_timeout"),
            (
                LlmErrorKind::ContextLength,
                400,
                "llm_context_window_exceeded",
            ),
            (LlmErrorKind::BadRequest, 502, "llm_bad_request"),
            (LlmErrorKind::Server, 502, "llm_error"),
            (LlmErrorKind::Connection, 502, "llm_connection_error"),
            (LlmErrorKind::InvalidResponse, 502, "llm_error"),
        ];
        for (kind, status, name) in cases {
            let err = ServiceError::upstream(kind, "openai error: boom");
            assert_eq!((err.status(), err.type_name()), (status, name), "{kind:?}");
            assert_eq!(err.public_message(), "openai error: boom");
        }
    }

    #[test]
    fn retry_after_is_rounded_up_and_framed() {
        let err = ServiceError::from(LlmError {
            kind: LlmErrorKind::RateLimited,
            provider: "openai".into(),
            status: Some(429),
            message: "slow down".into(),
            retry_after: Some(Duration::from_millis(1500)),
        });
        assert_eq!(err.retry_after_secs(), Some(2));
        let frame = err.frame_error();
        assert_eq!(frame.status, 429);
        assert_eq!(frame.message, "openai error (HTTP 429): slow down");
        assert_eq!(
            ServiceError::Internal("secret detail".into())
                .frame_error()
                .message,
            "An internal server error occurred"
        );
    }
}
