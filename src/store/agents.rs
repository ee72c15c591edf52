//! The agents contract: the row, creation, patch and filter types (SQL in `sql/agents.rs`).

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::StoreResult;
use crate::schemas::Timestamp;
use crate::schemas::agent::{AgentEnvironmentVariable, AgentType};
use crate::schemas::block::Block;
use crate::schemas::llm_config::{EmbeddingConfig, LlmConfig};
use crate::schemas::message::Message;
use crate::schemas::tool::Tool;
use crate::schemas::tool_rule::ToolRule;

/// The agents table row: scalar columns, without relationships.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRow {
    pub id: String,
    pub organization_id: String,
    pub agent_type: AgentType,
    pub name: String,
    pub description: Option<String>,
    pub system: String,
    pub message_ids: Vec<String>,
    pub response_format: Option<Value>,
    pub metadata: Option<Map<String, Value>>,
    pub llm_config: LlmConfig,
    pub embedding_config: EmbeddingConfig,
    pub tool_rules: Vec<ToolRule>,
    pub project_id: Option<String>,
    pub template_id: Option<String>,
    pub base_template_id: Option<String>,
    pub message_buffer_autoclear: bool,
    pub enable_sleeptime: Option<bool>,
    pub last_run_completion: Option<Timestamp>,
    pub last_run_duration_ms: Option<i64>,
    pub timezone: Option<String>,
    pub created_by_id: Option<String>,
    pub last_updated_by_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Everything written when an agent is created, in one transaction.
#[derive(Debug, Clone)]
pub struct NewAgent {
    pub row: AgentRow,
    /// Blocks created for this agent (inserted, then attached in this order).
    pub new_blocks: Vec<Block>,
    /// Existing blocks to attach after the new ones; a label already taken on the agent is
    /// skipped silently, as the original's insert-ignore does.
    pub block_ids: Vec<String>,
    pub tool_ids: Vec<String>,
    pub tags: Vec<String>,
    pub identity_ids: Vec<String>,
    pub env_vars: Vec<AgentEnvironmentVariable>,
    /// The initial message sequence; their ids are already in `row.message_ids`.
    pub messages: Vec<Message>,
}

/// A change to an agent, applied in one transaction. `None` leaves a field alone; a
/// relationship list given replaces the relationship.
#[derive(Debug, Clone, Default)]
pub struct AgentPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub system: Option<String>,
    pub message_ids: Option<Vec<String>>,
    pub response_format: Option<Value>,
    pub metadata: Option<Map<String, Value>>,
    pub llm_config: Option<LlmConfig>,
    pub embedding_config: Option<EmbeddingConfig>,
    pub tool_rules: Option<Vec<ToolRule>>,
    pub project_id: Option<String>,
    pub template_id: Option<String>,
    pub base_template_id: Option<String>,
    pub message_buffer_autoclear: Option<bool>,
    pub enable_sleeptime: Option<bool>,
    pub last_run_completion: Option<Timestamp>,
    pub last_run_duration_ms: Option<i64>,
    pub timezone: Option<String>,
    pub tool_ids: Option<Vec<String>>,
    pub block_ids: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub identity_ids: Option<Vec<String>>,
    /// Replaces all environment variables (new rows, new ids).
    pub env_vars: Option<Vec<AgentEnvironmentVariable>>,
    pub last_updated_by_id: Option<String>,
    pub updated_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AgentSort {
    #[default]
    CreatedAt,
    LastRunCompletion,
}

#[derive(Debug, Clone, Default)]
pub struct AgentFilter {
    pub name: Option<String>,
    pub tags: Vec<String>,
    pub match_all_tags: bool,
    /// Case-insensitive substring of the name.
    pub query_text: Option<String>,
    pub project_id: Option<String>,
    pub template_id: Option<String>,
    pub base_template_id: Option<String>,
    pub identity_id: Option<String>,
    pub identifier_keys: Vec<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    /// `None` means no limit.
    pub limit: Option<i64>,
    pub ascending: bool,
    pub sort_by: AgentSort,
}

/// Which relationships to load for a set of agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelationSet {
    pub tags: bool,
    pub tools: bool,
    pub memory: bool,
    pub identity_ids: bool,
    pub env_vars: bool,
}

impl RelationSet {
    pub const NONE: RelationSet = RelationSet {
        tags: false,
        tools: false,
        memory: false,
        identity_ids: false,
        env_vars: false,
    };
    /// Only the attached blocks.
    pub const MEMORY: RelationSet = RelationSet {
        tags: false,
        tools: false,
        memory: true,
        identity_ids: false,
        env_vars: false,
    };
    /// Only the attached tools.
    pub const TOOLS: RelationSet = RelationSet {
        tags: false,
        tools: true,
        memory: false,
        identity_ids: false,
        env_vars: false,
    };
    pub const ALL: RelationSet = RelationSet {
        tags: true,
        tools: true,
        memory: true,
        identity_ids: true,
        env_vars: true,
    };
}

/// The loaded relationships of one agent (empty where not requested).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentRelations {
    pub tags: Vec<String>,
    /// Ordered by tool id.
    pub tools: Vec<Tool>,
    /// Ordered by attachment order.
    pub blocks: Vec<Block>,
    pub identity_ids: Vec<String>,
    pub env_vars: Vec<AgentEnvironmentVariable>,
}

#[async_trait]
pub trait AgentStore {
    async fn create_agent(&self, agent: &NewAgent) -> StoreResult<()>;
    async fn get_agent(&self, org_id: &str, agent_id: &str) -> StoreResult<Option<AgentRow>>;
    async fn list_agents(&self, org_id: &str, filter: &AgentFilter) -> StoreResult<Vec<AgentRow>>;
    async fn count_agents(&self, org_id: &str) -> StoreResult<i64>;
    /// Relationships of several agents, with one query per relationship kind.
    async fn load_relations(
        &self,
        agent_ids: &[String],
        which: RelationSet,
    ) -> StoreResult<HashMap<String, AgentRelations>>;
    /// Returns false when the agent does not exist in the organization.
    async fn update_agent(
        &self,
        org_id: &str,
        agent_id: &str,
        patch: &AgentPatch,
    ) -> StoreResult<bool>;
    /// Deletes the agent and its messages, tags, env vars and links. Returns false if absent.
    async fn delete_agent(&self, org_id: &str, agent_id: &str) -> StoreResult<bool>;
    /// Agents a block is attached to, oldest first.
    async fn agents_for_block(&self, org_id: &str, block_id: &str) -> StoreResult<Vec<AgentRow>>;
    /// Distinct tags of the organization's agents, ascending, strictly after `after`.
    async fn list_tags(
        &self,
        org_id: &str,
        after: Option<&str>,
        limit: Option<i64>,
        query_text: Option<&str>,
    ) -> StoreResult<Vec<String>>;
    /// Which of these agent ids exist in the organization.
    async fn existing_agent_ids(&self, org_id: &str, ids: &[String]) -> StoreResult<Vec<String>>;
    /// Agents of the organization with every tag of `all` and, unless `some` is empty, at
    /// least one tag of `some`; ordered by id, at most `limit`.
    async fn agents_matching_tags(
        &self,
        org_id: &str,
        all: &[String],
        some: &[String],
        limit: i64,
    ) -> StoreResult<Vec<AgentRow>>;
}
