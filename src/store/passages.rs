//! Archival memory: passages and vector search (SQL in `sql/passages.rs`).

use async_trait::async_trait;

use super::StoreResult;
use crate::schemas::passage::Passage;

/// Which rows `list_passages` returns, and in what order.
#[derive(Debug, Clone, Default)]
pub struct PassageFilter {
    /// Rows strictly after this passage in (created_at, id) order, whatever the direction;
    /// an id that is not one of the agent's passages yields no rows.
    pub after: Option<String>,
    /// Rows strictly before this passage in (created_at, id) order, whatever the direction;
    /// an id that is not one of the agent's passages yields no rows.
    pub before: Option<String>,
    /// `None` means no limit.
    pub limit: Option<i64>,
    /// Case-insensitive substring of the text (`%`, `_` literal; SQLite folds ASCII case
    /// only).
    pub text_contains: Option<String>,
    /// (created_at, id) ascending when true; the exact reverse otherwise.
    pub ascending: bool,
}

/// Whose passages a similarity search ranks.
#[derive(Debug, Clone, Copy)]
pub enum PassageScope<'a> {
    /// An agent's archival memory.
    Agent(&'a str),
    /// The file passages of these sources (rows without an agent).
    Sources(&'a [String]),
}

/// A passage found by similarity, with its cosine distance to the query (0 = same
/// direction, 2 = opposite; NaN for a zero vector, which ranks last).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredPassage {
    pub passage: Passage,
    pub distance: f32,
}

#[async_trait]
pub trait PassageStore {
    /// Writes every passage or none (one transaction). Each passage carries its own
    /// embedding at its true dimension (an empty list is stored as none). `Rejected` when a
    /// passage lacks organization_id/agent_id or its embedding has a non-finite value or more
    /// than 16,000 dimensions; `Unique` on a duplicate id; `ForeignKey` for an unknown agent.
    async fn insert_passages(&self, passages: &[Passage]) -> StoreResult<()>;
    async fn get_passage(&self, org_id: &str, passage_id: &str) -> StoreResult<Option<Passage>>;
    /// The agent's passages within the organization, filtered and ordered as asked.
    async fn list_passages(
        &self,
        org_id: &str,
        agent_id: &str,
        filter: &PassageFilter,
    ) -> StoreResult<Vec<Passage>>;
    /// The agent's passages nearest to `query` by cosine distance, nearest first (ties by
    /// created_at, id); `offset` rows skipped, at most `limit` returned. Passages whose
    /// embedding has another dimension than the query, or none, are never returned. With
    /// pgvector the ranking comes from an HNSW index (approximate on large agents); the
    /// exact paths rank by a full scan of the agent's rows. `Rejected` for a non-finite
    /// query.
    async fn search_passages(
        &self,
        org_id: &str,
        agent_id: &str,
        query: &[f32],
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<ScoredPassage>>;
    /// Writes text, embedding, embedding_config, metadata, file fields, is_deleted and
    /// updated_at/last_updated_by_id of the stored row with this id and organization;
    /// false when there is none. The embedding is checked as on insert.
    async fn update_passage(&self, passage: &Passage) -> StoreResult<bool>;
    /// Deletes the passage and returns what it was.
    async fn delete_passage(&self, org_id: &str, passage_id: &str) -> StoreResult<Option<Passage>>;
    async fn count_agent_passages(&self, agent_id: &str) -> StoreResult<i64>;
    /// Bytes of text (UTF-8) and embeddings (4 per dimension) held for the organization's
    /// passages.
    async fn passages_storage_bytes(&self, org_id: &str) -> StoreResult<i64>;
    /// Whether vector search runs in the database with an index (pgvector) rather than
    /// by an exact scan.
    fn vector_index(&self) -> bool;
}
