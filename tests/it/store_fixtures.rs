//! Builders shared by the store conformance tests (`store_*.rs`).

use chrono::{Duration, TimeZone, Utc};
use letta_rs::schemas::Timestamp;
use letta_rs::schemas::agent::{AgentEnvironmentVariable, AgentType};
use letta_rs::schemas::block::Block;
use letta_rs::schemas::identity::{Identity, IdentityProperty, IdentityPropertyType, IdentityType};
use letta_rs::schemas::llm_config::{EmbeddingConfig, LlmConfig};
use letta_rs::schemas::message::{Message, MessageRole, text_part};
use letta_rs::schemas::new_id;
use letta_rs::schemas::tool::{Tool, ToolType};
use letta_rs::store::{AgentRow, DynStore, NewAgent, RelationSet, RunMessageFilter};
use serde_json::json;

/// A fixed instant plus `secs` seconds, so tests control `created_at` ordering.
pub fn ts(secs: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap() + Duration::seconds(secs)
}

pub fn llm_config() -> LlmConfig {
    LlmConfig {
        model: "gpt-4o-mini".to_owned(),
        model_endpoint_type: "openai".to_owned(),
        model_endpoint: Some("https://api.openai.com/v1".to_owned()),
        provider_name: None,
        provider_category: None,
        model_wrapper: None,
        context_window: 128_000,
        put_inner_thoughts_in_kwargs: Some(true),
        handle: Some("openai/gpt-4o-mini".to_owned()),
        temperature: 0.7,
        max_tokens: Some(4096),
        enable_reasoner: false,
        reasoning_effort: None,
        max_reasoning_tokens: 0,
        frequency_penalty: None,
    }
}

pub fn embedding_config() -> EmbeddingConfig {
    EmbeddingConfig {
        embedding_endpoint_type: "openai".to_owned(),
        embedding_endpoint: Some("https://api.openai.com/v1".to_owned()),
        embedding_model: "text-embedding-3-small".to_owned(),
        embedding_dim: 1536,
        embedding_chunk_size: Some(300),
        handle: Some("openai/text-embedding-3-small".to_owned()),
        batch_size: 32,
        azure_endpoint: None,
        azure_version: None,
        azure_deployment: None,
    }
}

/// A minimal agent row created at `ts(created_secs)`.
pub fn agent_row(org: &str, name: &str, created_secs: i64) -> AgentRow {
    AgentRow {
        id: new_id("agent"),
        organization_id: org.to_owned(),
        agent_type: AgentType::MemgptAgent,
        name: name.to_owned(),
        description: None,
        system: "You are a test agent.".to_owned(),
        message_ids: Vec::new(),
        response_format: None,
        metadata: None,
        llm_config: llm_config(),
        embedding_config: embedding_config(),
        tool_rules: Vec::new(),
        project_id: None,
        template_id: None,
        base_template_id: None,
        message_buffer_autoclear: false,
        enable_sleeptime: None,
        last_run_completion: None,
        last_run_duration_ms: None,
        timezone: Some("UTC".to_owned()),
        created_by_id: None,
        last_updated_by_id: None,
        created_at: ts(created_secs),
        updated_at: ts(created_secs),
    }
}

/// An agent with no relationships.
pub fn bare(row: AgentRow) -> NewAgent {
    NewAgent {
        row,
        new_blocks: Vec::new(),
        block_ids: Vec::new(),
        tool_ids: Vec::new(),
        tags: Vec::new(),
        identity_ids: Vec::new(),
        env_vars: Vec::new(),
        messages: Vec::new(),
    }
}

/// Creates an agent without relationships and returns its row.
pub async fn make_agent(store: &DynStore, org: &str, name: &str, created_secs: i64) -> AgentRow {
    let row = agent_row(org, name, created_secs);
    store
        .create_agent(&bare(row.clone()))
        .await
        .expect("create agent");
    row
}

pub fn block(org: &str, label: &str, value: &str) -> Block {
    Block {
        value: value.to_owned(),
        limit: 5000,
        name: None,
        is_template: false,
        preserve_on_migration: Some(false),
        label: Some(label.to_owned()),
        read_only: false,
        description: None,
        metadata: Some(serde_json::Map::new()),
        id: new_id("block"),
        organization_id: Some(org.to_owned()),
        created_by_id: None,
        last_updated_by_id: None,
    }
}

pub async fn make_block(store: &DynStore, org: &str, label: &str, value: &str) -> Block {
    let b = block(org, label, value);
    store.create_block(&b).await.expect("create block");
    b
}

pub fn tool(org: &str, name: &str) -> Tool {
    Tool {
        id: new_id("tool"),
        tool_type: ToolType::Custom,
        description: Some(format!("The {name} tool")),
        source_type: Some("python".to_owned()),
        organization_id: Some(org.to_owned()),
        name: Some(name.to_owned()),
        tags: vec!["test".to_owned()],
        source_code: Some(format!(
            "def {name}():\n    \"\"\"Does nothing.\"\"\"\n    return None\n"
        )),
        json_schema: Some(
            json!({"name": name, "description": "Does nothing.", "parameters": {"type": "object", "properties": {}, "required": []}}),
        ),
        args_json_schema: None,
        return_char_limit: Some(6000),
        pip_requirements: None,
        created_by_id: None,
        last_updated_by_id: None,
        metadata_: Some(serde_json::Map::new()),
    }
}

/// Upserts one tool and returns it as stored.
pub async fn make_tool(store: &DynStore, org: &str, name: &str) -> Tool {
    let mut stored = store
        .upsert_tools_by_name(&[tool(org, name)])
        .await
        .expect("upsert tool");
    stored.remove(0)
}

pub fn identity(org: &str, key: &str, name: &str, project: Option<&str>) -> Identity {
    Identity {
        id: new_id("identity"),
        identifier_key: key.to_owned(),
        name: name.to_owned(),
        identity_type: IdentityType::User,
        project_id: project.map(str::to_owned),
        agent_ids: Vec::new(),
        block_ids: Vec::new(),
        organization_id: Some(org.to_owned()),
        properties: vec![IdentityProperty {
            key: "email".to_owned(),
            value: json!(format!("{key}@example.com")),
            kind: IdentityPropertyType::String,
        }],
    }
}

pub async fn make_identity(
    store: &DynStore,
    org: &str,
    key: &str,
    name: &str,
    project: Option<&str>,
) -> Identity {
    let i = identity(org, key, name, project);
    store.create_identity(&i).await.expect("create identity");
    i
}

pub fn message(org: &str, agent_id: &str, role: MessageRole, text: &str) -> Message {
    let at = letta_rs::schemas::common::now();
    Message {
        id: new_id("message"),
        organization_id: org.to_owned(),
        agent_id: agent_id.to_owned(),
        role,
        content: vec![text_part(text)],
        model: None,
        name: None,
        tool_calls: Vec::new(),
        tool_call_id: None,
        tool_returns: Vec::new(),
        step_id: None,
        otid: None,
        group_id: None,
        sender_id: None,
        batch_item_id: None,
        created_by_id: None,
        last_updated_by_id: None,
        created_at: at,
        updated_at: at,
    }
}

pub fn env_var(org: &str, agent_id: &str, key: &str, value: &str) -> AgentEnvironmentVariable {
    AgentEnvironmentVariable {
        created_by_id: None,
        last_updated_by_id: None,
        created_at: Some(ts(0)),
        updated_at: Some(ts(0)),
        id: new_id("agent-env"),
        key: key.to_owned(),
        value: value.to_owned(),
        description: Some(format!("{key} variable")),
        organization_id: Some(org.to_owned()),
        agent_id: agent_id.to_owned(),
    }
}

pub fn ids_of(rows: &[AgentRow]) -> Vec<String> {
    rows.iter().map(|r| r.id.clone()).collect()
}

pub fn block_ids_of(blocks: &[Block]) -> Vec<String> {
    blocks.iter().map(|b| b.id.clone()).collect()
}

pub fn tool_ids_of(tools: &[Tool]) -> Vec<String> {
    tools.iter().map(|t| t.id.clone()).collect()
}

/// The sorted copy of a list of strings.
pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

pub const ONLY_MEMORY: RelationSet = RelationSet {
    tags: false,
    tools: false,
    memory: true,
    identity_ids: false,
    env_vars: false,
};

/// A page of a run's messages of any role: message-id cursors, limit and direction.
pub fn run_page(
    before: Option<&str>,
    after: Option<&str>,
    limit: Option<i64>,
    ascending: bool,
) -> RunMessageFilter {
    RunMessageFilter {
        before: before.map(str::to_owned),
        after: after.map(str::to_owned),
        limit,
        ascending,
        role: None,
    }
}
