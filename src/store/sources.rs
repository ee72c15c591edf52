//! Sources, their files and the files agents have in context (SQL in `sql/sources.rs` and
//! `sql/files.rs`). A file's chunks are passages (`agent_passages` rows without an agent).

use std::collections::HashMap;

use async_trait::async_trait;

use super::{Leftovers, ScoredPassage, StoreResult};
use crate::replica::ReplicaId;
use crate::schemas::Timestamp;
use crate::schemas::file::{FileAgent, FileMetadata, FileProcessingStatus};
use crate::schemas::passage::Passage;
use crate::schemas::source::{OrganizationSourcesStats, Source};

/// What deleting a source or a file removed, for the callers that must refresh agents.
#[derive(Debug, Clone, PartialEq)]
pub struct Removed<T> {
    pub item: T,
    /// Agents that had the source attached or the file in context.
    pub agent_ids: Vec<String>,
}

#[async_trait]
pub trait SourceStore {
    /// `Unique` when the organization has a source of that name.
    async fn create_source(&self, source: &Source) -> StoreResult<()>;
    async fn get_source(&self, org_id: &str, source_id: &str) -> StoreResult<Option<Source>>;
    async fn get_source_by_name(&self, org_id: &str, name: &str) -> StoreResult<Option<Source>>;
    /// The organization's sources, oldest first.
    async fn list_sources(&self, org_id: &str) -> StoreResult<Vec<Source>>;
    async fn count_sources(&self, org_id: &str) -> StoreResult<i64>;
    /// Writes name, description, instructions, metadata, embedding_config and the update
    /// stamp; false when there is no such source. `Unique` on a name clash.
    async fn update_source(&self, source: &Source) -> StoreResult<bool>;
    /// Deletes the source with its files, their text and passages, and detaches it from every
    /// agent (their file rows too), in one transaction.
    async fn delete_source(
        &self,
        org_id: &str,
        source_id: &str,
    ) -> StoreResult<Option<Removed<Source>>>;
    async fn sources_metadata(&self, org_id: &str) -> StoreResult<OrganizationSourcesStats>;
    /// Attaches (idempotent).
    async fn attach_source(&self, agent_id: &str, source_id: &str) -> StoreResult<()>;
    /// Detaches the source and removes the agent's file rows of it; false when it was not
    /// attached.
    async fn detach_source(&self, agent_id: &str, source_id: &str) -> StoreResult<bool>;
    /// The sources attached to each of these agents, in attachment order.
    async fn sources_of_agents(
        &self,
        agent_ids: &[String],
    ) -> StoreResult<HashMap<String, Vec<Source>>>;
    /// The agents a source is attached to.
    async fn agents_of_source(&self, source_id: &str) -> StoreResult<Vec<String>>;
}

/// How far a file's ingestion got.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FileProgress {
    pub status: Option<FileProcessingStatus>,
    pub error_message: Option<String>,
    pub total_chunks: Option<i64>,
    pub chunks_embedded: Option<i64>,
}

#[async_trait]
pub trait FileStore {
    /// Inserts the file row, recording the replica that will ingest it. `ForeignKey` for an
    /// unknown source.
    async fn create_file(&self, file: &FileMetadata, replica: &ReplicaId) -> StoreResult<()>;
    async fn get_file(
        &self,
        org_id: &str,
        file_id: &str,
        include_content: bool,
    ) -> StoreResult<Option<FileMetadata>>;
    /// The source's files in (created_at, id) order after the cursor file.
    async fn list_files(
        &self,
        org_id: &str,
        source_id: &str,
        after: Option<&str>,
        limit: Option<i64>,
        include_content: bool,
    ) -> StoreResult<Vec<FileMetadata>>;
    /// Files of the source uploaded under this original name.
    async fn count_files_named(
        &self,
        source_id: &str,
        original_file_name: &str,
    ) -> StoreResult<i64>;
    /// Records progress of a file still being ingested; false when the file is gone or has
    /// already ended (completed or error), so the job stops. Every call moves `updated_at`
    /// (an empty progress is the job's heartbeat).
    async fn update_file_progress(
        &self,
        file_id: &str,
        progress: &FileProgress,
    ) -> StoreResult<bool>;
    /// Stores the file's text; false when the file is gone.
    async fn set_file_content(&self, file_id: &str, text: &str) -> StoreResult<bool>;
    /// Writes passages of the file (each with `source_id`, `file_id`, no agent) and adds them
    /// to `chunks_embedded`, in one transaction; false (nothing written) when the file is
    /// gone or has ended.
    async fn insert_file_passages(&self, file_id: &str, passages: &[Passage]) -> StoreResult<bool>;
    /// Deletes the file, its text, passages and agents' rows of it, in one transaction.
    async fn delete_file(
        &self,
        org_id: &str,
        file_id: &str,
    ) -> StoreResult<Option<Removed<FileMetadata>>>;
    /// Passages of a source (or one file of it), in (created_at, id) order between cursors.
    async fn list_source_passages(
        &self,
        org_id: &str,
        source_id: &str,
        after: Option<&str>,
        before: Option<&str>,
        limit: Option<i64>,
    ) -> StoreResult<Vec<Passage>>;
    /// Passages of these sources nearest to `query`, nearest first, as
    /// `PassageStore::search_passages` ranks an agent's.
    async fn search_source_passages(
        &self,
        org_id: &str,
        source_ids: &[String],
        query: &[f32],
        limit: i64,
    ) -> StoreResult<Vec<ScoredPassage>>;
    /// Marks as `error` (with `error`) the unfinished files that stopped processes were
    /// ingesting; returns how many.
    async fn fail_unfinished_files(&self, of: Leftovers<'_>, error: &str) -> StoreResult<u64>;
    /// Marks as `error` (with `error`) the unfinished files whose ingestion has shown no sign
    /// of life (`updated_at`, moved by every progress write and the job's heartbeat) since
    /// `stale_before`: their process stopped, whichever replica it was; returns how many.
    async fn fail_stale_files(&self, stale_before: Timestamp, error: &str) -> StoreResult<u64>;
}

/// A file to put in an agent's context.
#[derive(Debug, Clone, PartialEq)]
pub struct FileToOpen {
    pub file_id: String,
    pub source_id: String,
    pub file_name: String,
    /// What the agent sees while the file is open.
    pub visible_content: String,
}

#[async_trait]
pub trait FileAgentStore {
    /// The files in the agents' contexts, by agent, ordered by file name.
    async fn file_agents_of(
        &self,
        agent_ids: &[String],
    ) -> StoreResult<HashMap<String, Vec<FileAgent>>>;
    /// Puts the files in the agent's context, open, with at most `max_open` open files: the
    /// given files first (the first `max_open` of them), then the most recently accessed of
    /// the already open ones; the rest are closed. Returns the names closed. One transaction.
    async fn open_files(
        &self,
        org_id: &str,
        agent_id: &str,
        files: &[FileToOpen],
        max_open: usize,
    ) -> StoreResult<Vec<String>>;
    /// Closes the agent's open files except those named in `keep`; returns the names closed.
    async fn close_files(&self, agent_id: &str, keep: &[String]) -> StoreResult<Vec<String>>;
    /// Sets `last_accessed_at` of the named files to now.
    async fn mark_files_accessed(&self, agent_id: &str, file_names: &[String]) -> StoreResult<()>;
}
