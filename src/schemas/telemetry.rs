//! Provider traces: the request a step sent to its model provider and the answer it got,
//! kept when the server is configured to (see `PROVIDER_TRACES`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::Timestamp;
use super::common::naive_utc;

/// Letta's internal representation of a provider trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderTrace {
    /// The id of the user that made this object.
    pub created_by_id: Option<String>,
    /// The id of the user that made this object.
    pub last_updated_by_id: Option<String>,
    /// The timestamp when the object was created.
    #[serde(with = "naive_utc")]
    #[schema(value_type = String, format = DateTime, required = false)]
    pub created_at: Timestamp,
    /// The timestamp when the object was last updated.
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub updated_at: Option<Timestamp>,
    /// The human-friendly ID of the Provider_trace
    #[schema(required = false, pattern = "^provider_trace-[a-fA-F0-9]{8}")]
    pub id: String,
    /// JSON content of the provider request
    #[schema(value_type = Object)]
    pub request_json: Map<String, Value>,
    /// JSON content of the provider response
    #[schema(value_type = Object)]
    pub response_json: Map<String, Value>,
    /// ID of the step that this trace is associated with
    pub step_id: Option<String>,
    /// The unique identifier of the organization.
    pub organization_id: String,
}
