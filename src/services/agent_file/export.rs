//! Export: an agent as a v1 file (Letta 0.8.12's format) or as a v2 file.
//!
//! `export_agent_serialized` writes v1, as 0.8.12 does, whenever v1 can carry the agent. An
//! agent that belongs to a group, reads sources or uses MCP tools cannot be carried by v1
//! (it has no place for groups, sources or MCP servers), so such an agent is written as v2
//! (see `docs/compatibility.md`). A v2 file holds the MCP servers the agents' MCP tools use,
//! without their secrets (no token, no custom headers, no stdio environment).

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::{AGENT_FILE_VERSION, AgentFileService, FileResult, iso};
use crate::schemas::Timestamp;
use crate::schemas::agent_file::{
    AgentFileSchema, AgentSchema, AgentV2, BlockV2, CoreMemoryBlockSchema, FileAgentV2, FileV2,
    GroupV2, McpServerV2, MessageContentV2, MessageSchema, MessageV2, SourceV2, TagSchema,
    ToolEnvVarSchema, ToolSchema, ToolV2,
};
use crate::schemas::common::now;
use crate::schemas::file::{FileAgent, FileMetadata};
use crate::schemas::group::{Group, ManagerType};
use crate::schemas::mcp::{McpServer, McpServerType};
use crate::schemas::message::Message;
use crate::schemas::org::Actor;
use crate::schemas::source::Source;
use crate::schemas::tool::{Tool, ToolType};
use crate::services::ServiceError;
use crate::services::mcp_servers::tool_server_name;
use crate::store::{AgentRelations, AgentRow, MessageFilter, RelationSet};

/// Everything an export reads about one agent.
struct Loaded {
    row: AgentRow,
    rel: AgentRelations,
    /// All the agent's messages, oldest first.
    messages: Vec<Message>,
    /// Attached sources, in attachment order, and the agent's files of them.
    sources: Vec<Source>,
    files_agents: Vec<FileAgent>,
}

/// A rule as v1 writes it: `tool_name`, `type` and the type's own fields.
fn reduced_rule(rule: &crate::schemas::tool_rule::ToolRule) -> Value {
    let mut value = serde_json::to_value(rule).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.remove("prompt_template");
    }
    value
}

/// A tool's description for v1, which requires a string: its own, else its schema's.
fn tool_description(tool: &Tool) -> String {
    tool.description
        .clone()
        .or_else(|| {
            tool.json_schema
                .as_ref()
                .and_then(|s| s.get("description"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

fn to_values<T: serde::Serialize>(items: &[T]) -> Vec<Value> {
    items
        .iter()
        .map(|i| serde_json::to_value(i).unwrap_or(Value::Null))
        .collect()
}

impl AgentFileService<'_> {
    async fn load(&self, actor: &Actor, agent_id: &str) -> FileResult<Loaded> {
        let row = self
            .store
            .get_agent(&actor.organization_id, agent_id)
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "Agent with id={agent_id} not found for user_id={}.",
                    actor.user_id
                ))
            })?;
        let rel = self
            .store
            .load_relations(std::slice::from_ref(&row.id), RelationSet::ALL)
            .await?
            .remove(&row.id)
            .unwrap_or_default();
        let filter = MessageFilter {
            ascending: true,
            ..MessageFilter::default()
        };
        let messages = self.store.list_agent_messages(&row.id, &filter).await?;
        let id = std::slice::from_ref(&row.id);
        let sources = self
            .store
            .sources_of_agents(id)
            .await?
            .remove(&row.id)
            .unwrap_or_default();
        let files_agents = self
            .store
            .file_agents_of(id)
            .await?
            .remove(&row.id)
            .unwrap_or_default();
        Ok(Loaded {
            row,
            rel,
            messages,
            sources,
            files_agents,
        })
    }

    /// `export_agent_serialized`: the agent file of one agent, in the format that can carry
    /// it (v1 unless the agent is in a group or reads sources).
    pub async fn export(&self, actor: &Actor, agent_id: &str) -> FileResult<Value> {
        let loaded = self.load(actor, agent_id).await?;
        let id = std::slice::from_ref(&loaded.row.id);
        let mut groups = self.store.groups_managed_by(id).await?;
        groups.extend(self.store.groups_of_agent(&loaded.row.id, None).await?);
        let uses_mcp = loaded
            .rel
            .tools
            .iter()
            .any(|t| t.tool_type == ToolType::ExternalMcp);
        if groups.is_empty() && loaded.sources.is_empty() && !uses_mcp {
            return Ok(serde_json::to_value(v1(loaded, now())).unwrap_or(Value::Null));
        }
        // The groups with every agent they involve, the exported agent first.
        let mut seen = HashSet::new();
        groups.retain(|g| seen.insert(g.id.clone()));
        let mut ids = vec![loaded.row.id.clone()];
        for g in &groups {
            for a in g.manager_agent_id.iter().chain(&g.agent_ids) {
                if !ids.contains(a) {
                    ids.push(a.clone());
                }
            }
        }
        let mut all = vec![loaded];
        for id in &ids[1..] {
            all.push(self.load(actor, id).await?);
        }
        self.v2_value(actor, all, groups).await
    }

    /// The v2 document, with the files (and their text) of every source the agents read
    /// and the MCP servers their MCP tools use.
    async fn v2_value(
        &self,
        actor: &Actor,
        all: Vec<Loaded>,
        groups: Vec<Group>,
    ) -> FileResult<Value> {
        let mut files = HashMap::new();
        for source in all.iter().flat_map(|l| &l.sources) {
            if !files.contains_key(&source.id) {
                let list = self
                    .store
                    .list_files(&actor.organization_id, &source.id, None, None, true)
                    .await?;
                files.insert(source.id.clone(), list);
            }
        }
        let mut servers: Vec<McpServer> = Vec::new();
        for tool in all.iter().flat_map(|l| &l.rel.tools) {
            if tool.tool_type != ToolType::ExternalMcp {
                continue;
            }
            let Some(name) = tool_server_name(tool) else {
                continue;
            };
            if servers.iter().any(|s| s.server_name == name) {
                continue;
            }
            // A server deleted since its tool was registered is left out; importing the
            // file then needs a server of that name.
            if let Some(server) = self
                .store
                .get_mcp_server_by_name(&actor.organization_id, &name)
                .await?
            {
                servers.push(server);
            }
        }
        Ok(serde_json::to_value(v2(all, groups, &files, &servers)).unwrap_or(Value::Null))
    }

    /// The agents as one v2 file, ids replaced by file-local ones (`agent-0`, `tool-0`, …),
    pub async fn export_v2(&self, actor: &Actor, agent_ids: &[String]) -> FileResult<Value> {
        let mut all = Vec::with_capacity(agent_ids.len());
        for id in agent_ids {
            all.push(self.load(actor, id).await?);
        }
        self.v2_value(actor, all, Vec::new()).await
    }
}

/// The v1 document of one agent; `exported_at` stamps the blocks and tools, whose own
/// timestamps are not kept in their views.
fn v1(loaded: Loaded, exported_at: Timestamp) -> AgentSchema {
    let Loaded {
        row, rel, messages, ..
    } = loaded;
    let stamp = iso(&exported_at);
    let index: HashMap<&str, i64> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.as_str(), i as i64))
        .collect();
    let in_context = row
        .message_ids
        .iter()
        .filter_map(|id| index.get(id.as_str()).copied())
        .collect();
    AgentSchema {
        agent_type: row.agent_type.as_str().to_owned(),
        core_memory: rel
            .blocks
            .iter()
            .map(|b| CoreMemoryBlockSchema {
                created_at: stamp.clone(),
                description: b.description.clone(),
                is_template: b.is_template,
                label: b.label().to_owned(),
                limit: b.limit,
                metadata_: Some(b.metadata.clone().unwrap_or_default()),
                template_name: b.name.clone(),
                updated_at: stamp.clone(),
                value: b.value.clone(),
            })
            .collect(),
        created_at: iso(&row.created_at),
        description: row.description.clone(),
        embedding_config: row.embedding_config.clone(),
        llm_config: row.llm_config.clone(),
        message_buffer_autoclear: row.message_buffer_autoclear,
        in_context_message_indices: in_context,
        messages: messages
            .iter()
            .map(|m| MessageSchema {
                created_at: iso(&m.created_at),
                group_id: m.group_id.clone(),
                model: m.model.clone(),
                name: m.name.clone(),
                role: m.role.as_str().to_owned(),
                content: m.content.clone(),
                tool_call_id: m.tool_call_id.clone(),
                tool_calls: to_values(&m.tool_calls),
                tool_returns: to_values(&m.tool_returns),
                updated_at: iso(&m.updated_at),
            })
            .collect(),
        metadata_: row.metadata.clone(),
        multi_agent_group: None,
        name: row.name.clone(),
        system: row.system.clone(),
        tags: rel
            .tags
            .iter()
            .map(|t| TagSchema { tag: t.clone() })
            .collect(),
        tool_exec_environment_variables: rel
            .env_vars
            .iter()
            .map(|v| ToolEnvVarSchema {
                created_at: v.created_at.as_ref().map_or_else(|| stamp.clone(), iso),
                description: v.description.clone(),
                key: v.key.clone(),
                updated_at: v.updated_at.as_ref().map_or_else(|| stamp.clone(), iso),
                // Secrets never leave the server.
                value: String::new(),
            })
            .collect(),
        tool_rules: row.tool_rules.iter().map(reduced_rule).collect(),
        tools: rel
            .tools
            .iter()
            .map(|t| ToolSchema {
                args_json_schema: t.args_json_schema.clone(),
                created_at: stamp.clone(),
                description: tool_description(t),
                json_schema: t.json_schema.clone().unwrap_or_else(|| json!({})),
                name: t.name().to_owned(),
                return_char_limit: t
                    .return_char_limit
                    .unwrap_or(crate::schemas::tool::CUSTOM_TOOL_RETURN_CHAR_LIMIT),
                source_code: t.source_code.clone(),
                source_type: t.source_type.clone().unwrap_or_else(|| "python".into()),
                tags: t.tags.clone(),
                tool_type: t.tool_type.as_str().to_owned(),
                updated_at: stamp.clone(),
                metadata_: t.metadata_.clone(),
            })
            .collect(),
        updated_at: iso(&row.updated_at),
        version: AGENT_FILE_VERSION.to_owned(),
    }
}

/// Hands out file-local ids (`<kind>-<n>`), one per distinct server id.
#[derive(Default)]
struct LocalIds {
    ids: HashMap<String, String>,
    next: HashMap<&'static str, usize>,
}

impl LocalIds {
    /// The local id of `server_id`, and whether it is new.
    fn map(&mut self, kind: &'static str, server_id: &str) -> (String, bool) {
        if let Some(id) = self.ids.get(server_id) {
            return (id.clone(), false);
        }
        let n = self.next.entry(kind).or_default();
        let id = format!("{kind}-{n}");
        *n += 1;
        self.ids.insert(server_id.to_owned(), id.clone());
        (id, true)
    }
}

/// A group's manager settings as a v2 file writes them (`manager_type` first).
fn manager_config(g: &Group, ids: &LocalIds) -> Value {
    let mut config = Map::new();
    config.insert("manager_type".into(), json!(g.manager_type.as_str()));
    let local = |id: &Option<String>| id.as_ref().and_then(|i| ids.ids.get(i)).cloned();
    match g.manager_type {
        ManagerType::RoundRobin => {
            config.insert("max_turns".into(), json!(g.max_turns));
        }
        ManagerType::Supervisor => {
            config.insert("manager_agent_id".into(), json!(local(&g.manager_agent_id)));
        }
        ManagerType::Dynamic => {
            config.insert("manager_agent_id".into(), json!(local(&g.manager_agent_id)));
            config.insert("termination_token".into(), json!(g.termination_token));
            config.insert("max_turns".into(), json!(g.max_turns));
        }
        ManagerType::Sleeptime => {
            config.insert("manager_agent_id".into(), json!(local(&g.manager_agent_id)));
            config.insert(
                "sleeptime_agent_frequency".into(),
                json!(g.sleeptime_agent_frequency),
            );
        }
        ManagerType::VoiceSleeptime | ManagerType::Swarm => {
            config.insert("manager_agent_id".into(), json!(local(&g.manager_agent_id)));
            config.insert(
                "max_message_buffer_length".into(),
                json!(g.max_message_buffer_length),
            );
            config.insert(
                "min_message_buffer_length".into(),
                json!(g.min_message_buffer_length),
            );
        }
    }
    Value::Object(config)
}

/// The sources of the agents and their files, as v2 writes them; returns (sources, files).
fn sources_and_files(
    all: &[Loaded],
    files: &HashMap<String, Vec<FileMetadata>>,
    ids: &mut LocalIds,
) -> (Vec<SourceV2>, Vec<FileV2>) {
    let (mut sources, mut out_files) = (Vec::new(), Vec::new());
    for source in all.iter().flat_map(|l| &l.sources) {
        let (id, new) = ids.map("source", &source.id);
        if !new {
            continue;
        }
        sources.push(SourceV2 {
            id: id.clone(),
            name: source.name.clone(),
            description: source.description.clone(),
            instructions: source.instructions.clone(),
            metadata: source.metadata.clone(),
            embedding_config: Some(source.embedding_config.clone()),
        });
        for f in files.get(&source.id).into_iter().flatten() {
            let file_id = ids.map("file", &f.id).0;
            let f = f.clone().strip_directory_prefix();
            out_files.push(FileV2 {
                id: file_id,
                source_id: id.clone(),
                file_name: f.file_name,
                original_file_name: f.original_file_name,
                file_path: f.file_path,
                file_type: f.file_type,
                file_size: f.file_size,
                file_creation_date: f.file_creation_date,
                file_last_modified_date: f.file_last_modified_date,
                processing_status: Some(f.processing_status.as_str().to_owned()),
                error_message: f.error_message,
                total_chunks: f.total_chunks,
                chunks_embedded: f.chunks_embedded,
                content: f.content,
            });
        }
    }
    (sources, out_files)
}

/// An MCP server as v2 writes it: file-local id, no token, no headers, no stdio environment.
fn mcp_server_v2(server: &McpServer, ids: &mut LocalIds) -> McpServerV2 {
    let stdio_config = server
        .stdio_config
        .as_ref()
        .filter(|_| server.server_type == McpServerType::Stdio)
        .map(|c| {
            json!({
                "server_name": server.server_name, "type": "stdio",
                "command": c.command, "args": c.args,
            })
        });
    McpServerV2 {
        id: ids.map("mcp_server", &server.id).0,
        server_type: server.server_type.as_str().to_owned(),
        server_name: server.server_name.clone(),
        server_url: server.server_url.clone(),
        stdio_config,
        metadata_: None,
    }
}

fn v2(
    all: Vec<Loaded>,
    groups: Vec<Group>,
    files: &HashMap<String, Vec<FileMetadata>>,
    servers: &[McpServer],
) -> AgentFileSchema {
    let mut ids = LocalIds::default();
    // Agents and groups first, so they are agent-0, agent-1, … in the order asked.
    for loaded in &all {
        ids.map("agent", &loaded.row.id);
    }
    for g in &groups {
        ids.map("group", &g.id);
    }
    let (sources, source_files) = sources_and_files(&all, files, &mut ids);
    let mcp_servers = servers.iter().map(|s| mcp_server_v2(s, &mut ids)).collect();
    let mut tools = Vec::new();
    let mut blocks = Vec::new();
    let mut agents = Vec::new();
    for Loaded {
        row,
        rel,
        messages,
        sources: agent_sources,
        files_agents,
    } in all
    {
        let mut tool_ids = Vec::new();
        for t in &rel.tools {
            let (id, new) = ids.map("tool", &t.id);
            if new {
                tools.push(ToolV2 {
                    id: id.clone(),
                    name: t.name().to_owned(),
                    tool_type: Some(t.tool_type.as_str().to_owned()),
                    description: t.description.clone(),
                    source_type: t.source_type.clone(),
                    tags: t.tags.clone(),
                    source_code: t.source_code.clone(),
                    json_schema: t.json_schema.clone(),
                    args_json_schema: t.args_json_schema.clone(),
                    return_char_limit: t.return_char_limit,
                    pip_requirements: t.pip_requirements.clone(),
                    metadata_: t.metadata_.clone(),
                });
            }
            tool_ids.push(id);
        }
        let mut block_ids = Vec::new();
        for b in &rel.blocks {
            let (id, new) = ids.map("block", &b.id);
            if new {
                blocks.push(BlockV2 {
                    id: id.clone(),
                    label: b.label().to_owned(),
                    value: b.value.clone(),
                    limit: b.limit,
                    template_name: b.name.clone(),
                    is_template: b.is_template,
                    preserve_on_migration: b.preserve_on_migration,
                    read_only: b.read_only,
                    description: b.description.clone(),
                    metadata: Some(b.metadata.clone().unwrap_or_default()),
                });
            }
            block_ids.push(id);
        }
        let agent_id = ids.map("agent", &row.id).0;
        let messages: Vec<MessageV2> = messages
            .iter()
            .map(|m| MessageV2 {
                id: ids.map("message", &m.id).0,
                role: m.role.as_str().to_owned(),
                content: MessageContentV2::Parts(m.content.clone()),
                name: m.name.clone(),
                otid: m.otid.clone(),
                sender_id: m.sender_id.clone(),
                batch_item_id: m.batch_item_id.clone(),
                group_id: m.group_id.as_ref().and_then(|g| ids.ids.get(g)).cloned(),
                model: m.model.clone(),
                agent_id: Some(agent_id.clone()),
                tool_calls: (!m.tool_calls.is_empty()).then(|| to_values(&m.tool_calls)),
                tool_call_id: m.tool_call_id.clone(),
                tool_returns: Some(to_values(&m.tool_returns)),
                created_at: Some(iso(&m.created_at)),
            })
            .collect();
        let in_context_message_ids = row
            .message_ids
            .iter()
            .filter_map(|id| ids.ids.get(id).cloned())
            .collect();
        let env: Map<String, Value> = rel
            .env_vars
            .iter()
            .map(|v| (v.key.clone(), Value::String(String::new())))
            .collect();
        agents.push(AgentV2 {
            id: agent_id,
            name: row.name,
            agent_type: Some(row.agent_type.as_str().to_owned()),
            system: Some(row.system),
            llm_config: row.llm_config,
            embedding_config: row.embedding_config,
            description: row.description,
            metadata: row.metadata,
            tool_ids: Some(tool_ids),
            block_ids: Some(block_ids),
            source_ids: Some(
                agent_sources
                    .iter()
                    .filter_map(|s| ids.ids.get(&s.id).cloned())
                    .collect(),
            ),
            tool_rules: Some(row.tool_rules),
            tags: Some(rel.tags),
            identity_ids: Some(rel.identity_ids),
            tool_exec_environment_variables: Some(env),
            project_id: None,
            message_buffer_autoclear: row.message_buffer_autoclear,
            enable_sleeptime: row.enable_sleeptime,
            response_format: row.response_format,
            timezone: row.timezone,
            include_base_tools: Some(false),
            include_base_tool_rules: Some(false),
            include_multi_agent_tools: Some(false),
            include_default_source: Some(false),
            in_context_message_ids,
            messages,
            files_agents: files_agents
                .iter()
                .filter_map(|fa| {
                    Some(FileAgentV2 {
                        id: ids.map("file_agent", &fa.id).0,
                        agent_id: Some(ids.ids.get(&row.id)?.clone()),
                        file_id: ids.ids.get(&fa.file_id)?.clone(),
                        source_id: Some(ids.ids.get(&fa.source_id)?.clone()),
                        file_name: Some(fa.file_name.clone()),
                        is_open: fa.is_open,
                        visible_content: fa.visible_content.clone(),
                        last_accessed_at: Some(iso(&fa.last_accessed_at)),
                    })
                })
                .collect(),
            group_ids: groups
                .iter()
                .filter(|g| g.manager_agent_id.as_deref() == Some(row.id.as_str()))
                .filter_map(|g| ids.ids.get(&g.id).cloned())
                .collect(),
        });
    }
    let groups = groups
        .iter()
        .map(|g| GroupV2 {
            id: ids.map("group", &g.id).0,
            agent_ids: g
                .agent_ids
                .iter()
                .filter_map(|a| ids.ids.get(a).cloned())
                .collect(),
            description: Some(g.description.clone()),
            manager_config: Some(manager_config(g, &ids)),
            project_id: None,
            shared_block_ids: g
                .shared_block_ids
                .iter()
                .filter_map(|b| ids.ids.get(b).cloned())
                .collect(),
        })
        .collect();
    AgentFileSchema {
        agents,
        groups,
        blocks,
        files: source_files,
        sources,
        tools,
        mcp_servers,
        metadata: Map::new(),
        created_at: Some(iso(&now())),
    }
}
