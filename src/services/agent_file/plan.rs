//! The plan of an import: what a file creates, with new ids, checked, in a form both file
//! formats share; and the helpers that build it.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{AgentFileError, FileResult, invalid};
use crate::schemas::Timestamp;
use crate::schemas::agent::{AgentEnvironmentVariable, AgentType};
use crate::schemas::block::Block;
use crate::schemas::file::{FileAgent, FileMetadata};
use crate::schemas::llm_config::{EmbeddingConfig, LlmConfig};
use crate::schemas::mcp::McpServerConfig;
use crate::schemas::message::{Message, MessageRole, ToolCall, ToolReturnRecord};
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::schemas::source::Source;
use crate::schemas::tool::{PipRequirement, ToolType};
use crate::schemas::tool_rule::ToolRule;
use crate::store::{AgentRow, NewAgent};

/// A tool as the file describes it, before it is matched against the organization's.
#[derive(Debug, Clone)]
pub(super) struct FileTool {
    pub(super) name: String,
    pub(super) tool_type: ToolType,
    pub(super) description: Option<String>,
    pub(super) source_type: String,
    pub(super) tags: Vec<String>,
    pub(super) source_code: Option<String>,
    pub(super) json_schema: Option<Value>,
    pub(super) args_json_schema: Option<Value>,
    pub(super) return_char_limit: i64,
    pub(super) pip_requirements: Option<Vec<PipRequirement>>,
    pub(super) metadata: Option<Map<String, Value>>,
}

/// One agent of the plan: its creation (new ids throughout), tools by name, which of its
/// messages are in context (indices into `agent.messages`), its sources (indices into
/// `Plan::sources`) and its files in context.
pub(super) struct PlannedAgent {
    pub(super) agent: NewAgent,
    pub(super) tool_names: Vec<String>,
    pub(super) in_context: Vec<usize>,
    pub(super) sources: Vec<usize>,
    pub(super) files: Vec<PlannedFileAgent>,
}

/// A file of the plan: the new file (its `file_name` the bare name, without the source
/// directory, until the source's name is settled) and its text.
pub(super) struct PlannedFile {
    pub(super) file: FileMetadata,
    pub(super) content: Option<String>,
    /// Index into `Plan::sources`.
    pub(super) source: usize,
}

/// A file in an agent's context; `row.file_name` is set once the file's name is settled.
pub(super) struct PlannedFileAgent {
    pub(super) row: FileAgent,
    /// Index into `Plan::files`.
    pub(super) file: usize,
}

/// Everything a file creates, checked, before tools are matched and anything is written.
pub(super) struct Plan {
    /// MCP servers (v2), as configurations to check and create or update by name.
    pub(super) mcp_servers: Vec<McpServerConfig>,
    pub(super) tools: Vec<FileTool>,
    /// Blocks shared by several agents (v2), with their new ids.
    pub(super) blocks: Vec<Block>,
    /// Sources (v2) with new ids; their names are made unique in the organization later.
    pub(super) sources: Vec<Source>,
    pub(super) files: Vec<PlannedFile>,
    pub(super) agents: Vec<PlannedAgent>,
    /// Groups of the planned agents (v2), with their new ids.
    pub(super) groups: Vec<crate::schemas::group::Group>,
}

/// Letta core tools are never overwritten by a file, whatever `override_existing_tools` says.
pub(super) fn is_core(tool_type: ToolType) -> bool {
    matches!(
        tool_type,
        ToolType::LettaCore | ToolType::LettaMemoryCore | ToolType::LettaMultiAgentCore
    )
}

/// Deserializes `value`, naming the path of the first field that does not fit.
pub(super) fn typed<T: DeserializeOwned>(value: Value) -> FileResult<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            invalid(inner)
        } else {
            invalid(format!("{path}: {inner}"))
        }
    })
}

/// v1 files carry the Letta version that wrote them; every 0.x release wrote this format.
pub(super) fn check_version(version: Option<&Value>) -> FileResult<()> {
    let Some(version) = version else {
        return Err(invalid(
            "missing \"version\" (a v1 agent file names the Letta version that wrote it)",
        ));
    };
    let ok = version.as_str().is_some_and(|v| {
        let parts: Vec<&str> = v.split('.').collect();
        parts.len() >= 2
            && parts[0] == "0"
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    });
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "unknown agent file version {version}: this server reads v1 files written by Letta 0.x and v2 files (with an \"agents\" list)"
        )))
    }
}

pub(super) fn parse_agent_type(s: Option<&str>) -> FileResult<AgentType> {
    let s = s.unwrap_or("memgpt_agent");
    AgentType::parse(s).ok_or_else(|| invalid(format!("unknown agent_type {s:?}")))
}

pub(super) fn parse_tool_type(name: &str, s: Option<&str>) -> FileResult<ToolType> {
    let s = s.unwrap_or("custom");
    ToolType::parse(s)
        .ok_or_else(|| invalid(format!("tool {name:?} has an unknown tool_type {s:?}")))
}

pub(super) fn parse_role(what: &str, s: &str) -> FileResult<MessageRole> {
    MessageRole::parse(s).ok_or_else(|| invalid(format!("{what}: unknown role {s:?}")))
}

pub(super) fn parse_list<T: DeserializeOwned>(what: &str, items: Vec<Value>) -> FileResult<Vec<T>> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| typed::<T>(v).map_err(|e| prefix(e, &format!("{what}[{i}]"))))
        .collect()
}

/// Puts `what` in front of an Invalid error's text.
pub(super) fn prefix(err: AgentFileError, what: &str) -> AgentFileError {
    match err {
        AgentFileError::Invalid(msg) => AgentFileError::Invalid(msg.replacen(
            "Invalid agent schema: ",
            &format!("Invalid agent schema: {what}: "),
            1,
        )),
        other => other,
    }
}

pub(super) fn check_block(block: &Block) -> FileResult<()> {
    let n = block.value.chars().count() as i64;
    if n > block.limit {
        return Err(invalid(format!(
            "block {:?} holds {n} characters, over its limit of {}",
            block.label(),
            block.limit
        )));
    }
    Ok(())
}

pub(super) fn new_block(
    actor: &Actor,
    label: String,
    value: String,
    limit: i64,
    template_name: Option<String>,
    description: Option<String>,
    metadata: Option<Map<String, Value>>,
) -> Block {
    Block {
        value,
        limit,
        name: template_name,
        is_template: false,
        preserve_on_migration: None,
        label: Some(label),
        read_only: false,
        description,
        metadata: Some(metadata.unwrap_or_default()),
        id: new_id("block"),
        organization_id: Some(actor.organization_id.clone()),
        created_by_id: Some(actor.user_id.clone()),
        last_updated_by_id: Some(actor.user_id.clone()),
    }
}

/// The columns of a new agent; the caller fills what the format carries.
pub(super) struct AgentBasics {
    pub(super) name: String,
    pub(super) agent_type: AgentType,
    pub(super) system: String,
    pub(super) description: Option<String>,
    pub(super) metadata: Option<Map<String, Value>>,
    pub(super) llm_config: LlmConfig,
    pub(super) embedding_config: EmbeddingConfig,
    pub(super) tool_rules: Vec<ToolRule>,
    pub(super) message_buffer_autoclear: bool,
    pub(super) enable_sleeptime: Option<bool>,
    pub(super) response_format: Option<Value>,
    pub(super) timezone: Option<String>,
    pub(super) created_at: Timestamp,
    pub(super) updated_at: Timestamp,
}

pub(super) fn agent_row(actor: &Actor, id: String, b: AgentBasics) -> AgentRow {
    AgentRow {
        id,
        organization_id: actor.organization_id.clone(),
        agent_type: b.agent_type,
        name: b.name,
        description: b.description,
        system: b.system,
        message_ids: Vec::new(),
        response_format: b.response_format,
        metadata: b.metadata,
        llm_config: b.llm_config,
        embedding_config: b.embedding_config,
        tool_rules: b
            .tool_rules
            .into_iter()
            .map(ToolRule::with_default_template)
            .collect(),
        project_id: None,
        template_id: None,
        base_template_id: None,
        message_buffer_autoclear: b.message_buffer_autoclear,
        enable_sleeptime: b.enable_sleeptime,
        last_run_completion: None,
        last_run_duration_ms: None,
        timezone: b.timezone,
        created_by_id: Some(actor.user_id.clone()),
        last_updated_by_id: Some(actor.user_id.clone()),
        created_at: b.created_at,
        updated_at: b.updated_at,
    }
}

pub(super) fn env_var(
    actor: &Actor,
    agent_id: &str,
    key: String,
    value: String,
    description: Option<String>,
) -> AgentEnvironmentVariable {
    AgentEnvironmentVariable {
        created_by_id: Some(actor.user_id.clone()),
        last_updated_by_id: Some(actor.user_id.clone()),
        created_at: None,
        updated_at: None,
        id: new_id("agent-env"),
        key,
        value,
        description,
        organization_id: Some(actor.organization_id.clone()),
        agent_id: agent_id.to_owned(),
    }
}

/// A file message as a new message of `agent_id`.
pub(super) struct FileMessage {
    pub(super) role: MessageRole,
    pub(super) content: Vec<Value>,
    pub(super) model: Option<String>,
    pub(super) name: Option<String>,
    pub(super) tool_calls: Vec<ToolCall>,
    pub(super) tool_call_id: Option<String>,
    pub(super) tool_returns: Vec<ToolReturnRecord>,
    pub(super) otid: Option<String>,
    pub(super) created_at: Timestamp,
    pub(super) updated_at: Timestamp,
}

pub(super) fn message(actor: &Actor, agent_id: &str, m: FileMessage) -> Message {
    let mut msg = Message::new(
        &actor.organization_id,
        agent_id,
        &actor.user_id,
        m.role,
        m.content,
        m.model,
        m.created_at,
    );
    msg.name = m.name;
    msg.tool_calls = m.tool_calls;
    msg.tool_call_id = m.tool_call_id;
    msg.tool_returns = m.tool_returns;
    msg.otid = m.otid;
    msg.updated_at = m.updated_at;
    msg
}

/// Checks that the ids of one kind are unique and returns their positions.
pub(super) fn index_ids<'a>(
    kind: &str,
    ids: impl Iterator<Item = &'a str>,
) -> FileResult<HashMap<String, usize>> {
    let mut index = HashMap::new();
    for (i, id) in ids.enumerate() {
        if index.insert(id.to_owned(), i).is_some() {
            return Err(invalid(format!("the {kind} id {id:?} is used twice")));
        }
    }
    Ok(index)
}
