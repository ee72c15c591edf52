//! The messages contract (SQL in `sql/messages.rs`).

use async_trait::async_trait;

use super::StoreResult;
use crate::schemas::message::{Message, MessageRole};

#[async_trait]
pub trait MessageStore {
    async fn insert_messages(&self, messages: &[Message]) -> StoreResult<()>;
    /// The messages with these ids, in the order of `ids` (missing ones skipped).
    async fn get_messages(&self, org_id: &str, ids: &[String]) -> StoreResult<Vec<Message>>;
    /// Number of persisted messages of the agent.
    async fn count_agent_messages(&self, agent_id: &str) -> StoreResult<i64>;
    /// Rewrites a message's content and updated_at in place (same id, same created_at).
    async fn update_message_content(&self, message: &Message) -> StoreResult<()>;
    /// Rewrites every mutable field of a message (content, tool calls and returns, name,
    /// updated_at…), matched by id and organization. Returns false if absent.
    async fn update_message(&self, message: &Message) -> StoreResult<bool>;
    /// The position of a message in the global insertion order (any agent), if it exists.
    async fn message_sequence_id(&self, message_id: &str) -> StoreResult<Option<i64>>;
    /// The agent's persisted messages by insertion order, filtered and paged.
    async fn list_agent_messages(
        &self,
        agent_id: &str,
        filter: &MessageFilter,
    ) -> StoreResult<Vec<Message>>;
    /// The agent's messages of these roles (any role when `roles` is empty) whose text
    /// contains `query` (case-insensitive, `%` and `_` literal), oldest first, paged by
    /// `offset`/`limit`.
    async fn search_agent_messages(
        &self,
        agent_id: &str,
        query: &str,
        roles: &[MessageRole],
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<Message>>;
    /// Deletes the agent's messages except those listed; returns how many were deleted.
    async fn delete_agent_messages_except(
        &self,
        agent_id: &str,
        keep: &[String],
    ) -> StoreResult<u64>;
}

/// Paging of an agent's messages by insertion order.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    /// Only messages inserted after this sequence id.
    pub after_sequence: Option<i64>,
    /// Only messages inserted before this sequence id.
    pub before_sequence: Option<i64>,
    pub group_id: Option<String>,
    /// Newest first when false.
    pub ascending: bool,
    /// `None` means no limit.
    pub limit: Option<i64>,
}
