//! Agent files: the portable JSON form of agents (`export_agent_serialized`,
//! `import_agent_serialized`), in both formats Letta writes.
//!
//! - **v1** ([`AgentSchema`]): one agent with its blocks, tools, messages and rules inline, as
//!   Letta 0.8.12 (and the public agent-file examples) write it. Timestamps are strings.
//! - **v2** ([`AgentFileSchema`]): later Letta's multi-entity file: agents, groups, blocks,
//!   files, sources, tools and MCP servers side by side, referring to each other by file-local
//!   ids such as `agent-0` or `block-3`.
//!
//! The types here are the wire shapes only; the rules (what is required, what is remapped)
//! live in `services::agent_file`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::llm_config::{EmbeddingConfig, LlmConfig};
use super::tool::PipRequirement;
use super::tool_rule::ToolRule;

/// A v1 agent file (the original's `AgentSchema`), keys in the original's order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgentSchema {
    pub agent_type: String,
    pub core_memory: Vec<CoreMemoryBlockSchema>,
    pub created_at: String,
    #[schema(required = true)]
    pub description: Option<String>,
    pub embedding_config: EmbeddingConfig,
    pub llm_config: LlmConfig,
    pub message_buffer_autoclear: bool,
    pub in_context_message_indices: Vec<i64>,
    pub messages: Vec<MessageSchema>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata_: Option<Map<String, Value>>,
    #[schema(required = true, value_type = Option<Object>)]
    pub multi_agent_group: Option<Value>,
    pub name: String,
    pub system: String,
    pub tags: Vec<TagSchema>,
    pub tool_exec_environment_variables: Vec<ToolEnvVarSchema>,
    /// Reduced rules: `tool_name`, `type` and the type's own fields (no `prompt_template`).
    #[schema(value_type = Vec<Object>)]
    pub tool_rules: Vec<Value>,
    pub tools: Vec<ToolSchema>,
    pub updated_at: String,
    pub version: String,
}

/// A core-memory block of a v1 file (no id: each becomes a new block on import).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CoreMemoryBlockSchema {
    pub created_at: String,
    #[schema(required = true)]
    pub description: Option<String>,
    pub is_template: bool,
    pub label: String,
    pub limit: i64,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata_: Option<Map<String, Value>>,
    #[schema(required = true)]
    pub template_name: Option<String>,
    pub updated_at: String,
    pub value: String,
}

/// A message of a v1 file (no id: its position in `messages` identifies it).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessageSchema {
    pub created_at: String,
    #[schema(required = true)]
    pub group_id: Option<String>,
    #[schema(required = true)]
    pub model: Option<String>,
    #[schema(required = true)]
    pub name: Option<String>,
    pub role: String,
    #[schema(value_type = Vec<Object>)]
    pub content: Vec<Value>,
    #[schema(required = true)]
    pub tool_call_id: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub tool_calls: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub tool_returns: Vec<Value>,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TagSchema {
    pub tag: String,
}

/// An environment variable of a v1 file; exports blank the value.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ToolEnvVarSchema {
    pub created_at: String,
    #[schema(required = true)]
    pub description: Option<String>,
    pub key: String,
    pub updated_at: String,
    pub value: String,
}

/// A tool of a v1 file, with its source code.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ToolSchema {
    #[schema(required = true, value_type = Option<Object>)]
    pub args_json_schema: Option<Value>,
    pub created_at: String,
    pub description: String,
    #[schema(value_type = Object)]
    pub json_schema: Value,
    pub name: String,
    pub return_char_limit: i64,
    #[schema(required = true)]
    pub source_code: Option<String>,
    pub source_type: String,
    pub tags: Vec<String>,
    pub tool_type: String,
    pub updated_at: String,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata_: Option<Map<String, Value>>,
}

/// A v2 agent file: entities side by side, referring to each other by file-local ids.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentFileSchema {
    pub agents: Vec<AgentV2>,
    #[serde(default)]
    pub groups: Vec<GroupV2>,
    #[serde(default)]
    pub blocks: Vec<BlockV2>,
    #[serde(default)]
    pub files: Vec<FileV2>,
    #[serde(default)]
    pub sources: Vec<SourceV2>,
    #[serde(default)]
    pub tools: Vec<ToolV2>,
    #[serde(default)]
    pub mcp_servers: Vec<McpServerV2>,
    #[serde(default)]
    pub metadata: Map<String, Value>,
    #[serde(default)]
    pub created_at: Option<String>,
}

/// An agent of a v2 file (the creation body plus its file-local id, messages and links).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentV2 {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub agent_type: Option<String>,
    #[serde(default)]
    pub system: Option<String>,
    pub llm_config: LlmConfig,
    pub embedding_config: EmbeddingConfig,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default)]
    pub tool_ids: Option<Vec<String>>,
    #[serde(default)]
    pub block_ids: Option<Vec<String>>,
    #[serde(default)]
    pub source_ids: Option<Vec<String>>,
    #[serde(default)]
    pub tool_rules: Option<Vec<ToolRule>>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Identities of the server the file was written on (server ids, not file-local ones):
    /// an import keeps those that name identities of the importing organization.
    #[serde(default)]
    pub identity_ids: Option<Vec<String>>,
    /// Key to value (the values are usually blank in an exported file).
    #[serde(default)]
    pub tool_exec_environment_variables: Option<Map<String, Value>>,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub message_buffer_autoclear: bool,
    #[serde(default)]
    pub enable_sleeptime: Option<bool>,
    #[serde(default)]
    pub response_format: Option<Value>,
    #[serde(default)]
    pub timezone: Option<String>,
    /// Written `false` (the file lists every tool the agent has); `true` on import gives the
    /// agent the base tools of its type it lacks, as creation does.
    #[serde(default)]
    pub include_base_tools: Option<bool>,
    #[serde(default)]
    pub include_base_tool_rules: Option<bool>,
    #[serde(default)]
    pub include_multi_agent_tools: Option<bool>,
    #[serde(default)]
    pub include_default_source: Option<bool>,
    #[serde(default)]
    pub in_context_message_ids: Vec<String>,
    #[serde(default)]
    pub messages: Vec<MessageV2>,
    #[serde(default)]
    pub files_agents: Vec<FileAgentV2>,
    #[serde(default)]
    pub group_ids: Vec<String>,
}

/// A source of a v2 file, with its file-local id (`source-<n>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceV2 {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
    /// Absent in some hand-written files: the import then uses the first agent's.
    #[serde(default)]
    pub embedding_config: Option<EmbeddingConfig>,
}

/// A file of a source in a v2 file (`file-<n>`), with its extracted text.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileV2 {
    pub id: String,
    /// The file-local id of its source.
    pub source_id: String,
    #[serde(default)]
    pub file_name: Option<String>,
    #[serde(default)]
    pub original_file_name: Option<String>,
    #[serde(default)]
    pub file_path: Option<String>,
    #[serde(default)]
    pub file_type: Option<String>,
    #[serde(default)]
    pub file_size: Option<i64>,
    #[serde(default)]
    pub file_creation_date: Option<String>,
    #[serde(default)]
    pub file_last_modified_date: Option<String>,
    /// The status on the exporting server (informative: an import ingests the file anew).
    #[serde(default)]
    pub processing_status: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub total_chunks: Option<i64>,
    #[serde(default)]
    pub chunks_embedded: Option<i64>,
    /// The file's extracted text.
    #[serde(default)]
    pub content: Option<String>,
}

/// A file in an agent's context (`file_agent-<n>`), by file-local ids.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileAgentV2 {
    pub id: String,
    #[serde(default)]
    pub agent_id: Option<String>,
    pub file_id: String,
    #[serde(default)]
    pub source_id: Option<String>,
    /// `<source name>/<file name>` on the exporting server; an import names the file anew.
    #[serde(default)]
    pub file_name: Option<String>,
    #[serde(default = "default_true")]
    pub is_open: bool,
    #[serde(default)]
    pub visible_content: Option<String>,
    #[serde(default)]
    pub last_accessed_at: Option<String>,
}

fn default_true() -> bool {
    true
}

/// An MCP server of a v2 file (`mcp_server-<n>`), without its secrets: no token, no custom
/// headers, no stdio environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct McpServerV2 {
    pub id: String,
    /// `sse`, `stdio` or `streamable_http`.
    pub server_type: String,
    pub server_name: String,
    #[serde(default)]
    pub server_url: Option<String>,
    /// `command` and `args` (and, in a hand-written file, possibly `env`).
    #[serde(default)]
    pub stdio_config: Option<Value>,
    #[serde(default)]
    pub metadata_: Option<Map<String, Value>>,
}

/// A message of a v2 file, with its file-local id (`message-<n>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageV2 {
    pub id: String,
    pub role: String,
    pub content: MessageContentV2,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub otid: Option<String>,
    #[serde(default)]
    pub sender_id: Option<String>,
    #[serde(default)]
    pub batch_item_id: Option<String>,
    #[serde(default)]
    pub group_id: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<Value>>,
    #[serde(default)]
    pub tool_call_id: Option<String>,
    #[serde(default)]
    pub tool_returns: Option<Vec<Value>>,
    #[serde(default)]
    pub created_at: Option<String>,
}

/// Message content: a list of parts, or (as `MessageCreate` allows) a plain string.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContentV2 {
    Parts(Vec<Value>),
    Text(String),
}

/// A block of a v2 file, with its file-local id (`block-<n>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockV2 {
    pub id: String,
    pub label: String,
    pub value: String,
    #[serde(default = "default_block_limit")]
    pub limit: i64,
    #[serde(default, alias = "name")]
    pub template_name: Option<String>,
    #[serde(default)]
    pub is_template: bool,
    #[serde(default)]
    pub preserve_on_migration: Option<bool>,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
}

fn default_block_limit() -> i64 {
    super::block::DEFAULT_BLOCK_LIMIT
}

/// A tool of a v2 file, with its file-local id (`tool-<n>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolV2 {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub tool_type: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub source_type: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub source_code: Option<String>,
    #[serde(default)]
    pub json_schema: Option<Value>,
    #[serde(default)]
    pub args_json_schema: Option<Value>,
    #[serde(default)]
    pub return_char_limit: Option<i64>,
    #[serde(default)]
    pub pip_requirements: Option<Vec<PipRequirement>>,
    #[serde(default)]
    pub metadata_: Option<Map<String, Value>>,
}

/// A group of a v2 file: its participants and manager by file-local agent id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupV2 {
    pub id: String,
    pub agent_ids: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub manager_config: Option<Value>,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub shared_block_ids: Vec<String>,
}
