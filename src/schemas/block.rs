use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

pub const DEFAULT_BLOCK_LIMIT: i64 = 5000;

/// A core-memory block. One row may be attached to many agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Block {
    pub value: String,
    #[schema(required = false)]
    pub limit: i64,
    /// The block's template name (stored as `template_name`).
    pub name: Option<String>,
    #[schema(required = false)]
    pub is_template: bool,
    pub preserve_on_migration: Option<bool>,
    pub label: Option<String>,
    #[schema(required = false)]
    pub read_only: bool,
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    #[schema(required = false)]
    pub id: String,
    pub organization_id: Option<String>,
    pub created_by_id: Option<String>,
    pub last_updated_by_id: Option<String>,
}

impl Block {
    pub fn label(&self) -> &str {
        self.label.as_deref().unwrap_or_default()
    }
}

/// Body of `POST /v1/blocks/` and of each `memory_blocks` entry of an agent.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateBlock {
    pub value: String,
    #[serde(default = "default_limit")]
    pub limit: i64,
    #[serde(default, alias = "template_name")]
    pub name: Option<String>,
    #[serde(default)]
    pub is_template: bool,
    #[serde(default)]
    pub preserve_on_migration: Option<bool>,
    pub label: String,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
}

fn default_limit() -> i64 {
    DEFAULT_BLOCK_LIMIT
}

/// Body of the block PATCH routes: only fields present and non-null are written.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct BlockUpdate {
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default, alias = "template_name")]
    pub name: Option<String>,
    #[serde(default)]
    pub is_template: Option<bool>,
    #[serde(default)]
    pub preserve_on_migration: Option<bool>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub read_only: Option<bool>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
}

/// An agent's core memory as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Memory {
    pub blocks: Vec<Block>,
    #[schema(required = false)]
    pub file_blocks: Vec<Block>,
    #[schema(required = false)]
    pub prompt_template: String,
}
