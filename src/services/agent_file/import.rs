//! Import: reads a v1 or v2 agent file into a plan (new ids for everything, every reference
//! checked and remapped), resolves it against the organization (MCP servers, tools, source
//! names, identities: `resolve.rs`), writes it all with one store call (one transaction),
//! and then starts the ingestion of the imported files.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::plan::{FileTool, PlannedAgent, is_core};
use super::{AgentFileError, AgentFileService, FileResult, invalid};
use crate::sandbox::SchemaErrorKind;
use crate::schemas::block::Block;
use crate::schemas::common::now;
use crate::schemas::file::FileAgent;
use crate::schemas::message::{Message, MessageRole, text_part};
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::schemas::source::Source;
use crate::schemas::tool::{Tool, ToolType};
use crate::services::ServiceError;
use crate::services::agents::sources::directories;
use crate::services::prompts::{PromptInputs, compile_system_prompt};
use crate::store::{ImportBundle, ImportedAgent, ImportedFile};

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

/// Sets `message_ids` from the in-context positions; an agent with no system message in
/// context first gets one, compiled from its prompt, blocks and files as at creation.
fn settle_context(
    planned: &mut PlannedAgent,
    shared_blocks: &[Block],
    sources: &[Source],
    strip: bool,
) {
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
        let agent_sources: Vec<Source> = planned
            .sources
            .iter()
            .map(|&i| sources[i].clone())
            .collect();
        let files: Vec<FileAgent> = planned.files.iter().map(|f| f.row.clone()).collect();
        let directories = directories(&agent_sources, &files);
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
            directories: &directories,
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
            super::v2::plan_v2(actor, doc)?
        } else if doc.contains_key("version") || doc.contains_key("core_memory") {
            super::v1::plan_v1(actor, doc)?
        } else {
            return Err(invalid(
                "the file is neither a v1 agent file (with \"version\" and \"core_memory\") nor a v2 agent file (with an \"agents\" list)",
            ));
        };
        let servers = self.resolve_mcp_servers(actor, &mut plan).await?;
        self.check_mcp_tools(actor, &mut plan.tools, &servers)
            .await?;
        self.settle_source_names(actor, &mut plan).await?;
        self.keep_known_identities(actor, &mut plan).await?;
        for planned in &mut plan.agents {
            let row = &mut planned.agent.row;
            if options.append_copy_suffix {
                row.name.push_str("_copy");
            }
            if let Some(project) = &options.project_id {
                row.project_id = Some(project.clone());
            }
            settle_context(planned, &plan.blocks, &plan.sources, options.strip_messages);
        }
        let tools = self
            .tools_to_write(actor, plan.tools, options.override_existing_tools)
            .await?;
        let ids = plan.agents.iter().map(|a| a.agent.row.id.clone()).collect();
        let sources = plan.sources;
        let bundle = ImportBundle {
            organization_id: actor.organization_id.clone(),
            mcp_servers: servers,
            tools,
            blocks: plan.blocks,
            files: plan
                .files
                .into_iter()
                .map(|f| ImportedFile {
                    file: f.file,
                    content: f.content,
                })
                .collect(),
            sources: sources.clone(),
            // Files are recorded with the replica that ingests them.
            replica: Some(self.files.replica().clone()),
            groups: plan.groups,
            agents: plan
                .agents
                .into_iter()
                .map(|p| ImportedAgent {
                    agent: p.agent,
                    tool_names: p.tool_names,
                    source_ids: p.sources.iter().map(|&i| sources[i].id.clone()).collect(),
                    files: p.files.into_iter().map(|f| f.row).collect(),
                })
                .collect(),
        };
        self.store.import_bundle(&bundle).await?;
        // Committed: servers whose settings changed reconnect, files are ingested.
        for server in &bundle.mcp_servers {
            self.mcp.forget_session(server).await;
        }
        for imported in bundle.files {
            let Some(text) = imported.content else {
                continue;
            };
            let Some(source) = sources.iter().find(|s| s.id == imported.file.source_id) else {
                continue;
            };
            self.files
                .ingest_text(imported.file, source.clone(), text, actor.user_id.clone());
        }
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
            if let Some(current) = current
                && t.tool_type == ToolType::ExternalMcp
            {
                // As registering an MCP tool refuses to replace a tool of another kind.
                return Err(ServiceError::Conflict(format!(
                    "A tool named {} already exists and is not an MCP tool",
                    current.name()
                ))
                .into());
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
