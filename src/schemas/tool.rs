use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// Output limit of Letta's built-in tools.
pub const BASE_TOOL_RETURN_CHAR_LIMIT: i64 = 1_000_000;
/// Output limit of user-defined tools.
pub const CUSTOM_TOOL_RETURN_CHAR_LIMIT: i64 = 6000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToolType {
    Custom,
    LettaCore,
    LettaMemoryCore,
    LettaMultiAgentCore,
    LettaSleeptimeCore,
    LettaVoiceSleeptimeCore,
    LettaBuiltin,
    LettaFilesCore,
    ExternalComposio,
    ExternalLangchain,
    ExternalMcp,
}

impl ToolType {
    pub fn as_str(self) -> &'static str {
        match self {
            ToolType::Custom => "custom",
            ToolType::LettaCore => "letta_core",
            ToolType::LettaMemoryCore => "letta_memory_core",
            ToolType::LettaMultiAgentCore => "letta_multi_agent_core",
            ToolType::LettaSleeptimeCore => "letta_sleeptime_core",
            ToolType::LettaVoiceSleeptimeCore => "letta_voice_sleeptime_core",
            ToolType::LettaBuiltin => "letta_builtin",
            ToolType::LettaFilesCore => "letta_files_core",
            ToolType::ExternalComposio => "external_composio",
            ToolType::ExternalLangchain => "external_langchain",
            ToolType::ExternalMcp => "external_mcp",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(Value::String(s.to_owned())).ok()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PipRequirement {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
}

/// A tool an agent can call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Tool {
    #[schema(required = false)]
    pub id: String,
    #[schema(required = false)]
    pub tool_type: ToolType,
    pub description: Option<String>,
    pub source_type: Option<String>,
    pub organization_id: Option<String>,
    pub name: Option<String>,
    #[schema(required = false)]
    pub tags: Vec<String>,
    pub source_code: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub json_schema: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub args_json_schema: Option<Value>,
    pub return_char_limit: Option<i64>,
    pub pip_requirements: Option<Vec<PipRequirement>>,
    pub created_by_id: Option<String>,
    pub last_updated_by_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata_: Option<Map<String, Value>>,
}

impl Tool {
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }
}
