//! Sources: named collections of uploaded files whose text agents can open, grep and search.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::Timestamp;
use super::common::naive_utc;
use super::llm_config::EmbeddingConfig;

/// A source (`source-<uuid>`): a collection of files and their passages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Source {
    /// The human-friendly ID of the Source
    #[schema(required = false)]
    pub id: String,
    /// The name of the source.
    pub name: String,
    /// The description of the source.
    pub description: Option<String>,
    /// Instructions for how to use the source.
    pub instructions: Option<String>,
    /// The embedding configuration used by the source.
    pub embedding_config: EmbeddingConfig,
    /// The ID of the organization that created the source.
    pub organization_id: Option<String>,
    /// Metadata associated with the source.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// The id of the user that made this Tool.
    pub created_by_id: Option<String>,
    /// The id of the user that made this Tool.
    pub last_updated_by_id: Option<String>,
    /// The timestamp when the source was created.
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub created_at: Option<Timestamp>,
    /// The timestamp when the source was last updated.
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub updated_at: Option<Timestamp>,
}

/// `POST /v1/sources/`. Unknown fields are refused, as the original's model forbids them.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceCreate {
    /// The name of the source.
    pub name: String,
    /// The hande for the embedding config used by the source.
    #[serde(default)]
    pub embedding: Option<String>,
    /// The chunk size of the embedding.
    #[serde(default)]
    pub embedding_chunk_size: Option<i64>,
    /// (Legacy) The embedding configuration used by the source.
    #[serde(default)]
    pub embedding_config: Option<EmbeddingConfig>,
    /// The description of the source.
    #[serde(default)]
    pub description: Option<String>,
    /// Instructions for how to use the source.
    #[serde(default)]
    pub instructions: Option<String>,
    /// Metadata associated with the source.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
}

/// `PATCH /v1/sources/{source_id}`: the fields given (and not null) are written.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceUpdate {
    /// The name of the source.
    #[serde(default)]
    pub name: Option<String>,
    /// The description of the source.
    #[serde(default)]
    pub description: Option<String>,
    /// Instructions for how to use the source.
    #[serde(default)]
    pub instructions: Option<String>,
    /// Metadata associated with the source.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// The embedding configuration used by the source.
    #[serde(default)]
    pub embedding_config: Option<EmbeddingConfig>,
}

/// One file in [`SourceStats`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FileStats {
    /// Unique identifier of the file
    pub file_id: String,
    /// Name of the file
    pub file_name: String,
    /// Size of the file in bytes
    pub file_size: Option<i64>,
}

/// Aggregated metadata for a source
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SourceStats {
    /// Unique identifier of the source
    pub source_id: String,
    /// Name of the source
    pub source_name: String,
    /// Number of files in the source
    #[schema(required = false)]
    pub file_count: i64,
    /// Total size of all files in bytes
    #[schema(required = false)]
    pub total_size: i64,
    /// List of file statistics
    #[schema(required = false)]
    pub files: Vec<FileStats>,
}

/// Complete metadata response for organization sources
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct OrganizationSourcesStats {
    /// Total number of sources
    #[schema(required = false)]
    pub total_sources: i64,
    /// Total number of files across all sources
    #[schema(required = false)]
    pub total_files: i64,
    /// Total size of all files in bytes
    #[schema(required = false)]
    pub total_size: i64,
    /// List of source metadata
    #[schema(required = false)]
    pub sources: Vec<SourceStats>,
}
