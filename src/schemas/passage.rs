//! Archival memory: passages of text with their embedding, owned by an agent.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::Timestamp;
use super::common::naive_utc;
use super::llm_config::EmbeddingConfig;

/// One archival-memory passage. `embedding` holds the vector at its true dimension (the
/// original pads to 4096; see docs/compatibility.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Passage {
    pub created_by_id: Option<String>,
    pub last_updated_by_id: Option<String>,
    // Naive UTC (no offset), which JSON Schema's `date-time` format does not admit; documented
    // as a plain string like every other timestamp (see docs/compatibility.md).
    #[serde(with = "naive_utc")]
    #[schema(value_type = String, required = false)]
    pub created_at: Timestamp,
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub updated_at: Option<Timestamp>,
    #[schema(required = false)]
    pub is_deleted: bool,
    pub organization_id: Option<String>,
    pub agent_id: Option<String>,
    pub source_id: Option<String>,
    pub file_id: Option<String>,
    pub file_name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    #[schema(required = false)]
    pub id: String,
    pub text: String,
    #[schema(required = true)]
    pub embedding: Option<Vec<f32>>,
    #[schema(required = true)]
    pub embedding_config: Option<EmbeddingConfig>,
}
