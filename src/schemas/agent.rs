use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::Timestamp;
use super::block::{CreateBlock, Memory};
use super::common::naive_utc;
use super::llm_config::{EmbeddingConfig, LlmConfig};
use super::message::MessageCreate;
use super::tool::Tool;
use super::tool_rule::ToolRule;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum AgentType {
    #[default]
    MemgptAgent,
    MemgptV2Agent,
    ReactAgent,
    WorkflowAgent,
    SplitThreadAgent,
    SleeptimeAgent,
    VoiceConvoAgent,
    VoiceSleeptimeAgent,
}

impl AgentType {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentType::MemgptAgent => "memgpt_agent",
            AgentType::MemgptV2Agent => "memgpt_v2_agent",
            AgentType::ReactAgent => "react_agent",
            AgentType::WorkflowAgent => "workflow_agent",
            AgentType::SplitThreadAgent => "split_thread_agent",
            AgentType::SleeptimeAgent => "sleeptime_agent",
            AgentType::VoiceConvoAgent => "voice_convo_agent",
            AgentType::VoiceSleeptimeAgent => "voice_sleeptime_agent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(Value::String(s.to_owned())).ok()
    }
}

/// An environment variable handed to an agent's custom tools.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentEnvironmentVariable {
    pub created_by_id: Option<String>,
    pub last_updated_by_id: Option<String>,
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub created_at: Option<Timestamp>,
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub updated_at: Option<Timestamp>,
    #[schema(required = false)]
    pub id: String,
    pub key: String,
    pub value: String,
    pub description: Option<String>,
    pub organization_id: Option<String>,
    pub agent_id: String,
}

/// The full view of an agent the API returns.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AgentState {
    pub created_by_id: Option<String>,
    pub last_updated_by_id: Option<String>,
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub created_at: Option<Timestamp>,
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub updated_at: Option<Timestamp>,
    pub id: String,
    pub name: String,
    pub tool_rules: Option<Vec<ToolRule>>,
    pub message_ids: Option<Vec<String>>,
    pub system: String,
    pub agent_type: AgentType,
    pub llm_config: LlmConfig,
    pub embedding_config: EmbeddingConfig,
    #[schema(value_type = Option<Object>)]
    pub response_format: Option<Value>,
    /// Always null, as the original renders it.
    pub organization_id: Option<String>,
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    pub memory: Memory,
    pub tools: Vec<Tool>,
    #[schema(value_type = Vec<Object>)]
    pub sources: Vec<Value>,
    pub tags: Vec<String>,
    #[schema(required = false)]
    pub tool_exec_environment_variables: Vec<AgentEnvironmentVariable>,
    pub project_id: Option<String>,
    pub template_id: Option<String>,
    pub base_template_id: Option<String>,
    #[schema(required = false)]
    pub identity_ids: Vec<String>,
    #[schema(required = false)]
    pub message_buffer_autoclear: bool,
    pub enable_sleeptime: Option<bool>,
    /// The group this agent manages, if any.
    pub multi_agent_group: Option<super::group::Group>,
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub last_run_completion: Option<Timestamp>,
    pub last_run_duration_ms: Option<i64>,
    pub timezone: Option<String>,
}

fn default_true() -> bool {
    true
}

/// Body of `POST /v1/agents/`. Unknown fields are ignored, as the original does.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[schema(as = CreateAgentRequest)]
pub struct CreateAgent {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub memory_blocks: Option<Vec<CreateBlock>>,
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    #[serde(default)]
    pub tool_ids: Option<Vec<String>>,
    #[serde(default)]
    pub source_ids: Option<Vec<String>>,
    #[serde(default)]
    pub block_ids: Option<Vec<String>>,
    #[serde(default)]
    pub tool_rules: Option<Vec<ToolRule>>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub agent_type: AgentType,
    #[serde(default)]
    pub llm_config: Option<LlmConfig>,
    #[serde(default)]
    pub embedding_config: Option<EmbeddingConfig>,
    #[serde(default)]
    pub initial_message_sequence: Option<Vec<MessageCreate>>,
    #[serde(default = "default_true")]
    #[schema(default = true)]
    pub include_base_tools: bool,
    #[serde(default)]
    pub include_multi_agent_tools: bool,
    #[serde(default = "default_true")]
    #[schema(default = true)]
    pub include_base_tool_rules: bool,
    #[serde(default)]
    pub include_default_source: bool,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub embedding: Option<String>,
    #[serde(default)]
    pub context_window_limit: Option<i64>,
    #[serde(default)]
    pub embedding_chunk_size: Option<i64>,
    #[serde(default)]
    pub max_tokens: Option<i64>,
    #[serde(default)]
    pub max_reasoning_tokens: Option<i64>,
    #[serde(default)]
    pub enable_reasoner: Option<bool>,
    #[serde(default)]
    pub from_template: Option<String>,
    #[serde(default)]
    pub template: bool,
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub tool_exec_environment_variables: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub memory_variables: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub template_id: Option<String>,
    #[serde(default)]
    pub base_template_id: Option<String>,
    #[serde(default)]
    pub identity_ids: Option<Vec<String>>,
    #[serde(default)]
    pub message_buffer_autoclear: bool,
    #[serde(default)]
    pub enable_sleeptime: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub response_format: Option<Value>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub actor_id: Option<String>,
}

/// Body of `PATCH /v1/agents/{agent_id}`: absent or null fields are left unchanged; list
/// fields replace the relationship.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct UpdateAgent {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tool_ids: Option<Vec<String>>,
    #[serde(default)]
    pub source_ids: Option<Vec<String>>,
    #[serde(default)]
    pub block_ids: Option<Vec<String>>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub tool_rules: Option<Vec<ToolRule>>,
    #[serde(default)]
    pub llm_config: Option<LlmConfig>,
    #[serde(default)]
    pub embedding_config: Option<EmbeddingConfig>,
    #[serde(default)]
    pub message_ids: Option<Vec<String>>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default)]
    pub tool_exec_environment_variables: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub template_id: Option<String>,
    #[serde(default)]
    pub base_template_id: Option<String>,
    #[serde(default)]
    pub identity_ids: Option<Vec<String>>,
    #[serde(default)]
    pub message_buffer_autoclear: Option<bool>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub embedding: Option<String>,
    #[serde(default)]
    pub enable_sleeptime: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub response_format: Option<Value>,
    #[serde(default, with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub last_run_completion: Option<Timestamp>,
    #[serde(default)]
    pub last_run_duration_ms: Option<i64>,
    #[serde(default)]
    pub timezone: Option<String>,
}
