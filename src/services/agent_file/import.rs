//! Import: reads a v1 or v2 agent file into a plan (new ids for everything, every reference
//! checked and remapped), resolves its tools against the organization's, and writes it all
//! with one store call (one transaction).

use std::collections::{HashMap, HashSet};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{AgentFileError, AgentFileService, FileResult, invalid, parse_ts};
use crate::sandbox::SchemaErrorKind;
use crate::schemas::Timestamp;
use crate::schemas::agent::{AgentEnvironmentVariable, AgentType};
use crate::schemas::agent_file::{AgentFileSchema, AgentSchema, MessageContentV2};
use crate::schemas::block::Block;
use crate::schemas::common::now;
use crate::schemas::llm_config::{EmbeddingConfig, LlmConfig};
use crate::schemas::message::{Message, MessageRole, ToolCall, ToolReturnRecord, text_part};
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::schemas::tool::{CUSTOM_TOOL_RETURN_CHAR_LIMIT, PipRequirement, Tool, ToolType};
use crate::schemas::tool_rule::ToolRule;
use crate::services::ServiceError;
use crate::services::prompts::{PromptInputs, compile_system_prompt};
use crate::store::{AgentRow, ImportBundle, ImportedAgent, NewAgent};

/// The query flags of `import_agent_serialized`.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Append `_copy` to every imported agent's name.
    pub append_copy_suffix: bool,
    /// Let the file's custom tools overwrite the organization's tools of the same name.
    pub override_existing_tools: bool,
    /// Put every imported agent in this project.
    pub project_id: Option<String>,
    /// Keep only the system message in context (the history is still imported).
    pub strip_messages: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            append_copy_suffix: true,
            override_existing_tools: true,
            project_id: None,
            strip_messages: false,
        }
    }
}

/// A tool as the file describes it, before it is matched against the organization's.
#[derive(Debug, Clone)]
struct FileTool {
    name: String,
    tool_type: ToolType,
    description: Option<String>,
    source_type: String,
    tags: Vec<String>,
    source_code: Option<String>,
    json_schema: Option<Value>,
    args_json_schema: Option<Value>,
    return_char_limit: i64,
    pip_requirements: Option<Vec<PipRequirement>>,
    metadata: Option<Map<String, Value>>,
}

/// One agent of the plan: its creation (new ids throughout), tools by name, and which of its
/// messages are in context (indices into `agent.messages`).
struct PlannedAgent {
    agent: NewAgent,
    tool_names: Vec<String>,
    in_context: Vec<usize>,
}

/// Everything a file creates, checked, before tools are matched and anything is written.
struct Plan {
    tools: Vec<FileTool>,
    /// Blocks shared by several agents (v2), with their new ids.
    blocks: Vec<Block>,
    agents: Vec<PlannedAgent>,
}

/// Letta core tools are never overwritten by a file, whatever `override_existing_tools` says.
fn is_core(tool_type: ToolType) -> bool {
    matches!(
        tool_type,
        ToolType::LettaCore | ToolType::LettaMemoryCore | ToolType::LettaMultiAgentCore
    )
}

/// Parses the upload: JSON, or JSON text inside a JSON string (files some clients write
/// double-encoded), which must be an object.
fn parse_document(bytes: &[u8]) -> FileResult<Map<String, Value>> {
    let corrupt = |e: serde_json::Error| {
        AgentFileError::Service(ServiceError::BadRequest(format!(
            "Corrupted agent file format: the file is not JSON ({e})."
        )))
    };
    let mut doc: Value = serde_json::from_slice(bytes).map_err(corrupt)?;
    if let Value::String(inner) = &doc {
        doc = serde_json::from_str(inner).map_err(corrupt)?;
    }
    match doc {
        Value::Object(map) => Ok(map),
        other => Err(invalid(format!(
            "the file must hold a JSON object, not {}",
            json_kind(&other)
        ))),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Deserializes `value`, naming the path of the first field that does not fit.
fn typed<T: DeserializeOwned>(value: Value) -> FileResult<T> {
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
fn check_version(version: Option<&Value>) -> FileResult<()> {
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

fn parse_agent_type(s: Option<&str>) -> FileResult<AgentType> {
    let s = s.unwrap_or("memgpt_agent");
    AgentType::parse(s).ok_or_else(|| invalid(format!("unknown agent_type {s:?}")))
}

fn parse_tool_type(name: &str, s: Option<&str>) -> FileResult<ToolType> {
    let s = s.unwrap_or("custom");
    let tool_type = ToolType::parse(s)
        .ok_or_else(|| invalid(format!("tool {name:?} has an unknown tool_type {s:?}")))?;
    if tool_type == ToolType::ExternalMcp {
        return Err(invalid(format!(
            "tool {name:?} is an MCP tool; MCP servers are not supported by this server"
        )));
    }
    Ok(tool_type)
}

fn parse_role(what: &str, s: &str) -> FileResult<MessageRole> {
    MessageRole::parse(s).ok_or_else(|| invalid(format!("{what}: unknown role {s:?}")))
}

fn parse_list<T: DeserializeOwned>(what: &str, items: Vec<Value>) -> FileResult<Vec<T>> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| typed::<T>(v).map_err(|e| prefix(e, &format!("{what}[{i}]"))))
        .collect()
}

/// Puts `what` in front of an Invalid error's text.
fn prefix(err: AgentFileError, what: &str) -> AgentFileError {
    match err {
        AgentFileError::Invalid(msg) => AgentFileError::Invalid(msg.replacen(
            "Invalid agent schema: ",
            &format!("Invalid agent schema: {what}: "),
            1,
        )),
        other => other,
    }
}

fn check_block(block: &Block) -> FileResult<()> {
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

fn new_block(
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
struct AgentBasics {
    name: String,
    agent_type: AgentType,
    system: String,
    description: Option<String>,
    metadata: Option<Map<String, Value>>,
    llm_config: LlmConfig,
    embedding_config: EmbeddingConfig,
    tool_rules: Vec<ToolRule>,
    message_buffer_autoclear: bool,
    enable_sleeptime: Option<bool>,
    response_format: Option<Value>,
    timezone: Option<String>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

fn agent_row(actor: &Actor, id: String, b: AgentBasics) -> AgentRow {
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

fn env_var(
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
struct FileMessage {
    role: MessageRole,
    content: Vec<Value>,
    model: Option<String>,
    name: Option<String>,
    tool_calls: Vec<ToolCall>,
    tool_call_id: Option<String>,
    tool_returns: Vec<ToolReturnRecord>,
    otid: Option<String>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

fn message(actor: &Actor, agent_id: &str, m: FileMessage) -> Message {
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

fn plan_v1(actor: &Actor, doc: Map<String, Value>) -> FileResult<Plan> {
    check_version(doc.get("version"))?;
    let file: AgentSchema = typed(Value::Object(doc))?;
    let agent_id = new_id("agent");
    let tools = file
        .tools
        .into_iter()
        .map(|t| {
            Ok(FileTool {
                tool_type: parse_tool_type(&t.name, Some(&t.tool_type))?,
                description: Some(t.description),
                source_type: t.source_type,
                tags: t.tags,
                source_code: t.source_code,
                json_schema: Some(t.json_schema),
                args_json_schema: t.args_json_schema,
                return_char_limit: t.return_char_limit,
                pip_requirements: None,
                metadata: t.metadata_,
                name: t.name,
            })
        })
        .collect::<FileResult<Vec<_>>>()?;
    let tool_names = tools.iter().map(|t| t.name.clone()).collect();
    let mut blocks: Vec<Block> = Vec::new();
    for b in file.core_memory {
        if blocks.iter().any(|x| x.label() == b.label) {
            return Err(invalid(format!(
                "the agent has two blocks labelled {:?}",
                b.label
            )));
        }
        let mut block = new_block(
            actor,
            b.label,
            b.value,
            b.limit,
            b.template_name,
            b.description,
            b.metadata_,
        );
        block.is_template = b.is_template;
        check_block(&block)?;
        blocks.push(block);
    }
    let mut messages = Vec::with_capacity(file.messages.len());
    for (i, m) in file.messages.into_iter().enumerate() {
        let what = format!("messages[{i}]");
        let created_at = parse_ts(&format!("{what}.created_at"), &m.created_at)?;
        messages.push(message(
            actor,
            &agent_id,
            FileMessage {
                role: parse_role(&what, &m.role)?,
                content: m.content,
                model: m.model,
                name: m.name,
                tool_calls: parse_list(&format!("{what}.tool_calls"), m.tool_calls)?,
                tool_call_id: m.tool_call_id,
                tool_returns: parse_list(&format!("{what}.tool_returns"), m.tool_returns)?,
                otid: None,
                updated_at: parse_ts(&format!("{what}.updated_at"), &m.updated_at)
                    .unwrap_or(created_at),
                created_at,
            },
        ));
    }
    let mut in_context = Vec::with_capacity(file.in_context_message_indices.len());
    for (i, &index) in file.in_context_message_indices.iter().enumerate() {
        match usize::try_from(index).ok().filter(|&n| n < messages.len()) {
            Some(n) => in_context.push(n),
            None => {
                return Err(invalid(format!(
                    "in_context_message_indices[{i}] is {index}, but the file has {} messages",
                    messages.len()
                )));
            }
        }
    }
    let env_vars = file
        .tool_exec_environment_variables
        .into_iter()
        .map(|v| env_var(actor, &agent_id, v.key, v.value, v.description))
        .collect();
    let tool_rules = parse_list("tool_rules", file.tool_rules)?;
    let basics = AgentBasics {
        name: file.name,
        agent_type: parse_agent_type(Some(&file.agent_type))?,
        system: file.system,
        description: file.description,
        metadata: file.metadata_,
        llm_config: file.llm_config,
        embedding_config: file.embedding_config,
        tool_rules,
        message_buffer_autoclear: file.message_buffer_autoclear,
        enable_sleeptime: None,
        response_format: None,
        timezone: None,
        created_at: parse_ts("created_at", &file.created_at)?,
        updated_at: parse_ts("updated_at", &file.updated_at)?,
    };
    let row = agent_row(actor, agent_id, basics);
    Ok(Plan {
        tools,
        blocks: Vec::new(),
        agents: vec![PlannedAgent {
            agent: NewAgent {
                row,
                new_blocks: blocks,
                block_ids: Vec::new(),
                tool_ids: Vec::new(),
                tags: file.tags.into_iter().map(|t| t.tag).collect(),
                identity_ids: Vec::new(),
                env_vars,
                messages,
            },
            tool_names,
            in_context,
        }],
    })
}

/// Checks that the ids of one kind are unique and returns their positions.
fn index_ids<'a>(
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

/// What v2 files may hold that this server cannot import yet.
fn refuse_unsupported(file: &AgentFileSchema) -> FileResult<()> {
    let unsupported = |what: &str| {
        Err(invalid(format!(
            "{what} are not supported by this server's agent-file import yet"
        )))
    };
    if !file.mcp_servers.is_empty() {
        return unsupported("MCP servers");
    }
    if !file.groups.is_empty() || file.agents.iter().any(|a| !a.group_ids.is_empty()) {
        return unsupported("groups");
    }
    if !file.sources.is_empty()
        || !file.files.is_empty()
        || file.agents.iter().any(|a| {
            !a.files_agents.is_empty() || a.source_ids.as_ref().is_some_and(|s| !s.is_empty())
        })
    {
        return unsupported("sources and files");
    }
    Ok(())
}

fn plan_v2(actor: &Actor, doc: Map<String, Value>) -> FileResult<Plan> {
    let file: AgentFileSchema = typed(Value::Object(doc))?;
    if file.agents.is_empty() {
        return Err(invalid("the file has no agents"));
    }
    refuse_unsupported(&file)?;
    index_ids("agent", file.agents.iter().map(|a| a.id.as_str()))?;
    let tool_index = index_ids("tool", file.tools.iter().map(|t| t.id.as_str()))?;
    let block_index = index_ids("block", file.blocks.iter().map(|b| b.id.as_str()))?;
    let mut seen_names = HashSet::new();
    let mut tools = Vec::with_capacity(file.tools.len());
    for t in &file.tools {
        if !seen_names.insert(t.name.clone()) {
            return Err(invalid(format!("two tools are named {:?}", t.name)));
        }
        tools.push(FileTool {
            name: t.name.clone(),
            tool_type: parse_tool_type(&t.name, t.tool_type.as_deref())?,
            description: t.description.clone(),
            source_type: t.source_type.clone().unwrap_or_else(|| "python".into()),
            tags: t.tags.clone(),
            source_code: t.source_code.clone(),
            json_schema: t.json_schema.clone(),
            args_json_schema: t.args_json_schema.clone(),
            return_char_limit: t.return_char_limit.unwrap_or(CUSTOM_TOOL_RETURN_CHAR_LIMIT),
            pip_requirements: t.pip_requirements.clone(),
            metadata: t.metadata_.clone(),
        });
    }
    let mut blocks = Vec::with_capacity(file.blocks.len());
    for b in &file.blocks {
        let mut block = new_block(
            actor,
            b.label.clone(),
            b.value.clone(),
            b.limit,
            b.template_name.clone(),
            b.description.clone(),
            b.metadata.clone(),
        );
        block.is_template = b.is_template;
        block.preserve_on_migration = b.preserve_on_migration;
        block.read_only = b.read_only;
        check_block(&block)?;
        blocks.push(block);
    }
    let mut message_ids_seen = HashSet::new();
    let mut agents = Vec::with_capacity(file.agents.len());
    for a in file.agents {
        let agent_id = new_id("agent");
        let mut tool_names = Vec::new();
        for local in a.tool_ids.unwrap_or_default() {
            let i = *tool_index.get(&local).ok_or_else(|| {
                invalid(format!(
                    "agent {:?} refers to tool {local:?}, which the file does not define",
                    a.id
                ))
            })?;
            tool_names.push(tools[i].name.clone());
        }
        let mut block_ids = Vec::new();
        let mut labels = HashSet::new();
        for local in a.block_ids.unwrap_or_default() {
            let i = *block_index.get(&local).ok_or_else(|| {
                invalid(format!(
                    "agent {:?} refers to block {local:?}, which the file does not define",
                    a.id
                ))
            })?;
            if !labels.insert(blocks[i].label().to_owned()) {
                return Err(invalid(format!(
                    "agent {:?} has two blocks labelled {:?}",
                    a.id,
                    blocks[i].label()
                )));
            }
            block_ids.push(blocks[i].id.clone());
        }
        let mut local_messages = HashMap::new();
        let mut messages = Vec::with_capacity(a.messages.len());
        for (i, m) in a.messages.into_iter().enumerate() {
            let what = format!("agent {:?} message {:?}", a.id, m.id);
            if !message_ids_seen.insert(m.id.clone()) {
                return Err(invalid(format!("the message id {:?} is used twice", m.id)));
            }
            local_messages.insert(m.id.clone(), i);
            let created_at = match &m.created_at {
                Some(ts) => parse_ts(&format!("{what}: created_at"), ts)?,
                None => now(),
            };
            messages.push(message(
                actor,
                &agent_id,
                FileMessage {
                    role: parse_role(&what, &m.role)?,
                    content: match m.content {
                        MessageContentV2::Parts(parts) => parts,
                        MessageContentV2::Text(text) => vec![text_part(text)],
                    },
                    model: m.model,
                    name: m.name,
                    tool_calls: parse_list(
                        &format!("{what}: tool_calls"),
                        m.tool_calls.unwrap_or_default(),
                    )?,
                    tool_call_id: m.tool_call_id,
                    tool_returns: parse_list(
                        &format!("{what}: tool_returns"),
                        m.tool_returns.unwrap_or_default(),
                    )?,
                    otid: m.otid,
                    created_at,
                    updated_at: created_at,
                },
            ));
        }
        let mut in_context = Vec::with_capacity(a.in_context_message_ids.len());
        for local in &a.in_context_message_ids {
            in_context.push(*local_messages.get(local).ok_or_else(|| {
                invalid(format!(
                    "agent {:?} has message {local:?} in context, but none of its messages has that id",
                    a.id
                ))
            })?);
        }
        let env_vars = a
            .tool_exec_environment_variables
            .unwrap_or_default()
            .into_iter()
            .map(|(key, value)| {
                let value = match value {
                    Value::String(s) => s,
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                env_var(actor, &agent_id, key, value, None)
            })
            .collect();
        let ts = now();
        let basics = AgentBasics {
            name: a.name,
            agent_type: parse_agent_type(a.agent_type.as_deref())?,
            system: a.system.unwrap_or_default(),
            description: a.description,
            metadata: a.metadata,
            llm_config: a.llm_config,
            embedding_config: a.embedding_config,
            tool_rules: a.tool_rules.unwrap_or_default(),
            message_buffer_autoclear: a.message_buffer_autoclear,
            enable_sleeptime: a.enable_sleeptime,
            response_format: a.response_format,
            timezone: a.timezone,
            created_at: ts,
            updated_at: ts,
        };
        let mut row = agent_row(actor, agent_id, basics);
        row.project_id = a.project_id;
        agents.push(PlannedAgent {
            agent: NewAgent {
                row,
                new_blocks: Vec::new(),
                block_ids,
                tool_ids: Vec::new(),
                tags: a.tags.unwrap_or_default(),
                identity_ids: Vec::new(),
                env_vars,
                messages,
            },
            tool_names,
            in_context,
        });
    }
    Ok(Plan {
        tools,
        blocks,
        agents,
    })
}

/// Sets `message_ids` from the in-context positions; an agent with no system message in
/// context first gets one, compiled from its prompt and blocks as at creation.
fn settle_context(planned: &mut PlannedAgent, shared_blocks: &[Block], strip: bool) {
    let agent = &mut planned.agent;
    let mut in_context = std::mem::take(&mut planned.in_context);
    if strip {
        in_context.truncate(1);
    }
    let starts_with_system = in_context
        .first()
        .is_some_and(|&i| agent.messages[i].role == MessageRole::System);
    let mut ids: Vec<String> = in_context
        .iter()
        .map(|&i| agent.messages[i].id.clone())
        .collect();
    if !starts_with_system {
        let mut blocks = agent.new_blocks.clone();
        blocks.extend(
            shared_blocks
                .iter()
                .filter(|b| agent.block_ids.contains(&b.id))
                .cloned(),
        );
        let row = &agent.row;
        let ts = now();
        let compiled = compile_system_prompt(&PromptInputs {
            base: &row.system,
            agent_type: row.agent_type,
            blocks: &blocks,
            tool_rules: None,
            timezone: row.timezone.as_deref(),
            memory_edited_at: ts,
            previous_message_count: agent.messages.len() as i64,
            archival_memory_size: 0,
        });
        let system = Message::new(
            &row.organization_id,
            &row.id,
            row.created_by_id.as_deref().unwrap_or_default(),
            MessageRole::System,
            vec![text_part(compiled)],
            Some(row.llm_config.model.clone()),
            ts,
        );
        ids.insert(0, system.id.clone());
        agent.messages.insert(0, system);
    }
    agent.row.message_ids = ids;
}

impl AgentFileService<'_> {
    /// `import_agent_serialized`: creates everything the file holds; returns the new agents'
    /// ids in file order.
    pub async fn import(
        &self,
        actor: &Actor,
        bytes: &[u8],
        options: &ImportOptions,
    ) -> FileResult<Vec<String>> {
        let doc = parse_document(bytes)?;
        let mut plan = if doc.get("agents").is_some_and(Value::is_array) {
            plan_v2(actor, doc)?
        } else if doc.contains_key("version") || doc.contains_key("core_memory") {
            plan_v1(actor, doc)?
        } else {
            return Err(invalid(
                "the file is neither a v1 agent file (with \"version\" and \"core_memory\") nor a v2 agent file (with an \"agents\" list)",
            ));
        };
        for planned in &mut plan.agents {
            let row = &mut planned.agent.row;
            if options.append_copy_suffix {
                row.name.push_str("_copy");
            }
            if let Some(project) = &options.project_id {
                row.project_id = Some(project.clone());
            }
            settle_context(planned, &plan.blocks, options.strip_messages);
        }
        let tools = self
            .tools_to_write(actor, plan.tools, options.override_existing_tools)
            .await?;
        let ids = plan.agents.iter().map(|a| a.agent.row.id.clone()).collect();
        let bundle = ImportBundle {
            organization_id: actor.organization_id.clone(),
            tools,
            blocks: plan.blocks,
            agents: plan
                .agents
                .into_iter()
                .map(|p| ImportedAgent {
                    agent: p.agent,
                    tool_names: p.tool_names,
                })
                .collect(),
        };
        self.store.import_bundle(&bundle).await?;
        Ok(ids)
    }

    /// The file's tools that must be written: a tool of a name the organization lacks, or
    /// one whose custom tool it may overwrite. Existing built-in tools, core tools and
    /// (without `override_existing_tools`) every existing tool are used as they are.
    async fn tools_to_write(
        &self,
        actor: &Actor,
        tools: Vec<FileTool>,
        override_existing: bool,
    ) -> FileResult<Vec<Tool>> {
        let names: Vec<String> = tools.iter().map(|t| t.name.clone()).collect();
        let existing: HashMap<String, Tool> = self
            .store
            .tools_by_names(&actor.organization_id, &names)
            .await?
            .into_iter()
            .map(|t| (t.name().to_owned(), t))
            .collect();
        let mut out = Vec::new();
        for t in tools {
            let current = existing.get(&t.name);
            if let Some(current) = current
                && (current.tool_type != ToolType::Custom
                    || is_core(t.tool_type)
                    || !override_existing)
            {
                continue;
            }
            let json_schema = self.checked_schema(&t).await?;
            out.push(Tool {
                id: current.map_or_else(|| new_id("tool"), |c| c.id.clone()),
                tool_type: t.tool_type,
                description: t.description,
                source_type: Some(t.source_type),
                organization_id: Some(actor.organization_id.clone()),
                name: Some(t.name),
                tags: t.tags,
                source_code: t.source_code,
                json_schema,
                args_json_schema: t.args_json_schema,
                return_char_limit: Some(t.return_char_limit),
                pip_requirements: t.pip_requirements,
                created_by_id: Some(actor.user_id.clone()),
                last_updated_by_id: Some(actor.user_id.clone()),
                metadata_: Some(t.metadata.unwrap_or_default()),
            });
        }
        Ok(out)
    }

    /// The schema to store for a tool written from a file. A custom Python tool's source is
    /// checked and its schema derived, as on `create_tool`: a source that does not parse is
    /// a 400; the derived schema wins when it names the same function, else the file's.
    async fn checked_schema(&self, t: &FileTool) -> FileResult<Option<Value>> {
        let source = t.source_code.as_deref().unwrap_or_default();
        if t.tool_type != ToolType::Custom || t.source_type != "python" || source.trim().is_empty()
        {
            if t.tool_type == ToolType::Custom && t.source_type != "python" {
                return Err(AgentFileError::Service(ServiceError::BadRequest(format!(
                    "Tool {:?} in the agent file: only Python source code is supported (source_type {:?})",
                    t.name, t.source_type
                ))));
            }
            return Ok(t.json_schema.clone());
        }
        let sandbox = self
            .sandbox
            .get()
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        match sandbox
            .derive_schema(source, t.args_json_schema.as_ref(), Some(&t.name))
            .await
        {
            Ok(derived) if derived.get("name").and_then(Value::as_str) == Some(t.name.as_str()) => {
                Ok(Some(derived))
            }
            Ok(derived) => Ok(t.json_schema.clone().or(Some(derived))),
            Err(e) if e.kind == SchemaErrorKind::Interpreter => {
                Err(ServiceError::Internal(e.message).into())
            }
            Err(e) if e.kind == SchemaErrorKind::Syntax || t.json_schema.is_none() => {
                Err(AgentFileError::Service(ServiceError::BadRequest(format!(
                    "Tool {:?} in the agent file: its source code is not a usable tool: {}",
                    t.name, e.message
                ))))
            }
            Err(_) => Ok(t.json_schema.clone()),
        }
    }
}
