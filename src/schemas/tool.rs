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

fn default_source_type() -> String {
    "python".to_owned()
}

fn default_return_char_limit() -> i64 {
    CUSTOM_TOOL_RETURN_CHAR_LIMIT
}

/// Body of `create_tool` and `upsert_tool`: a custom tool from its Python source. The name is
/// not sent: it is the function's name, from the derived schema.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolCreate {
    /// The description of the tool.
    #[serde(default)]
    pub description: Option<String>,
    /// Metadata tags.
    #[serde(default)]
    #[schema(required = false, default = json!([]))]
    pub tags: Vec<String>,
    /// The source code of the function.
    pub source_code: String,
    /// The source type of the function.
    #[serde(default = "default_source_type")]
    #[schema(required = false, default = "python")]
    pub source_type: String,
    /// The JSON schema of the function (auto-generated from source_code if not provided)
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub json_schema: Option<Value>,
    /// The args JSON schema of the function.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub args_json_schema: Option<Value>,
    /// The maximum number of characters in the response.
    #[serde(default = "default_return_char_limit")]
    #[schema(required = false, default = 6000)]
    pub return_char_limit: i64,
    /// Optional list of pip packages required by this tool.
    #[serde(default)]
    pub pip_requirements: Option<Vec<PipRequirement>>,
}

/// Body of `modify_tool`: only the fields given (not null) change. Unknown fields are ignored,
/// as the original does.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, ToSchema)]
pub struct ToolUpdate {
    /// The description of the tool.
    #[serde(default)]
    pub description: Option<String>,
    /// Metadata tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// The source code of the function.
    #[serde(default)]
    pub source_code: Option<String>,
    /// The type of the source code.
    #[serde(default)]
    pub source_type: Option<String>,
    /// The JSON schema of the function (auto-generated from source_code if not provided)
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub json_schema: Option<Value>,
    /// The args JSON schema of the function.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub args_json_schema: Option<Value>,
    /// The maximum number of characters in the response.
    #[serde(default)]
    pub return_char_limit: Option<i64>,
    /// Optional list of pip packages required by this tool.
    #[serde(default)]
    pub pip_requirements: Option<Vec<PipRequirement>>,
}

/// Body of `run_tool_from_source`: a tool built from source, run once and not saved.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolRunFromSource {
    /// The source code of the function.
    pub source_code: String,
    /// The arguments to pass to the tool.
    #[schema(value_type = Object)]
    pub args: Map<String, Value>,
    /// The environment variables to pass to the tool.
    #[serde(default)]
    #[schema(required = false)]
    pub env_vars: std::collections::BTreeMap<String, String>,
    /// The name of the tool to run.
    #[serde(default)]
    pub name: Option<String>,
    /// The type of the source code.
    #[serde(default)]
    pub source_type: Option<String>,
    /// The args JSON schema of the function.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub args_json_schema: Option<Value>,
    /// The JSON schema of the function (auto-generated from source_code if not provided)
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub json_schema: Option<Value>,
    /// Optional list of pip packages required by this tool.
    #[serde(default)]
    pub pip_requirements: Option<Vec<PipRequirement>>,
}

/// Body of `generate_json_schema`.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
pub struct CodeInput {
    /// Python source code to parse for JSON schema
    pub code: String,
}
