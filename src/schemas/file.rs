//! Files uploaded to a source: their metadata and processing state, and which agents have
//! them in context.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Timestamp;
use super::common::naive_utc;

/// Where a file's ingestion stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileProcessingStatus {
    Pending,
    Parsing,
    Embedding,
    Completed,
    Error,
}

impl FileProcessingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FileProcessingStatus::Pending => "pending",
            FileProcessingStatus::Parsing => "parsing",
            FileProcessingStatus::Embedding => "embedding",
            FileProcessingStatus::Completed => "completed",
            FileProcessingStatus::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => FileProcessingStatus::Pending,
            "parsing" => FileProcessingStatus::Parsing,
            "embedding" => FileProcessingStatus::Embedding,
            "completed" => FileProcessingStatus::Completed,
            "error" => FileProcessingStatus::Error,
            _ => return None,
        })
    }

    /// Completed or error: nothing more will happen to the file.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            FileProcessingStatus::Completed | FileProcessingStatus::Error
        )
    }
}

/// Representation of a single FileMetadata
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FileMetadata {
    /// The human-friendly ID of the File
    #[schema(required = false)]
    pub id: String,
    /// The unique identifier of the organization associated with the document.
    pub organization_id: Option<String>,
    /// The unique identifier of the source associated with the document.
    pub source_id: String,
    /// The name of the file.
    pub file_name: Option<String>,
    /// The original name of the file as uploaded.
    pub original_file_name: Option<String>,
    /// The path to the file.
    pub file_path: Option<String>,
    /// The type of the file (MIME type).
    pub file_type: Option<String>,
    /// The size of the file in bytes.
    pub file_size: Option<i64>,
    /// The creation date of the file.
    pub file_creation_date: Option<String>,
    /// The last modified date of the file.
    pub file_last_modified_date: Option<String>,
    /// The current processing status of the file (e.g. pending, parsing, embedding, completed, error).
    #[schema(required = false)]
    pub processing_status: FileProcessingStatus,
    /// Optional error message if the file failed processing.
    pub error_message: Option<String>,
    /// Total number of chunks for the file.
    pub total_chunks: Option<i64>,
    /// Number of chunks that have been embedded.
    pub chunks_embedded: Option<i64>,
    /// The creation date of the file.
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub created_at: Option<Timestamp>,
    /// The update date of the file.
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub updated_at: Option<Timestamp>,
    /// Whether this file is deleted or not.
    #[schema(required = false)]
    pub is_deleted: bool,
    /// Optional full-text content of the file; only populated on demand due to its size.
    pub content: Option<String>,
}

impl FileMetadata {
    /// A new file of a source, `pending` ingestion, created at `ts`, with nothing known of it
    /// but its names: the caller adds its type, size and what else it knows.
    pub fn pending(
        organization_id: &str,
        source_id: &str,
        file_name: String,
        original_file_name: String,
        ts: Timestamp,
    ) -> Self {
        FileMetadata {
            id: super::new_id("file"),
            organization_id: Some(organization_id.to_owned()),
            source_id: source_id.to_owned(),
            file_name: Some(file_name),
            original_file_name: Some(original_file_name),
            file_path: None,
            file_type: None,
            file_size: None,
            file_creation_date: None,
            file_last_modified_date: None,
            processing_status: FileProcessingStatus::Pending,
            error_message: None,
            total_chunks: None,
            chunks_embedded: None,
            created_at: Some(ts),
            updated_at: Some(ts),
            is_deleted: false,
            content: None,
        }
    }

    /// The file name without its `<source name>/` directory prefix, as the routes show it.
    pub fn strip_directory_prefix(mut self) -> Self {
        if let Some(name) = &self.file_name
            && let Some((_, rest)) = name.split_once('/')
        {
            self.file_name = Some(rest.to_owned());
        }
        self
    }
}

/// A file in an agent's context (`files_agents`): open with a visible window, or closed.
#[derive(Debug, Clone, PartialEq)]
pub struct FileAgent {
    pub id: String,
    pub organization_id: String,
    pub agent_id: String,
    pub file_id: String,
    pub source_id: String,
    /// `<source name>/<file name>`, the label the agent knows the file by.
    pub file_name: String,
    pub is_open: bool,
    pub visible_content: Option<String>,
    pub last_accessed_at: Timestamp,
}
