//! Sources on agents: attaching and detaching them (with the file tools and the files in
//! context), the agent's files as blocks, and the `<directories>` of its system prompt.

use serde_json::{Map, Value, json};

use crate::ingest::file_types;
use crate::ingest::job::MAX_FILES_OPEN;
use crate::ingest::lines;
use crate::schemas::agent::AgentState;
use crate::schemas::block::Block;
use crate::schemas::file::FileAgent;
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::schemas::source::Source;
use crate::schemas::tool::ToolType;
use crate::services::prompts::{self, Directory};
use crate::services::{ServiceError, ServiceResult};
use crate::store::{FileToOpen, RelationSet};

use super::AgentService;

/// The tools attached with a first source and detached with the last.
pub const FILE_TOOLS: &[&str] = &["open_files", "grep_files", "semantic_search_files"];

/// An agent's file as a read-only block (`label` = file name, empty while closed).
pub fn file_block(file: &FileAgent) -> Block {
    let value = match (&file.visible_content, file.is_open) {
        (Some(v), true) => prompts::file_block_value(v),
        _ => String::new(),
    };
    let mut metadata = Map::new();
    metadata.insert(
        "source_id".to_owned(),
        Value::String(file.source_id.clone()),
    );
    Block {
        value,
        limit: prompts::FILE_BLOCK_CHAR_LIMIT as i64,
        name: None,
        is_template: false,
        preserve_on_migration: Some(false),
        label: Some(file.file_name.clone()),
        read_only: true,
        description: None,
        metadata: Some(metadata),
        id: new_id("block"),
        organization_id: Some(file.organization_id.clone()),
        created_by_id: None,
        last_updated_by_id: None,
    }
}

/// The `<directories>` of an agent from its sources (attachment order) and files.
pub fn directories(sources: &[Source], files: &[FileAgent]) -> Vec<Directory> {
    sources
        .iter()
        .map(|s| Directory {
            name: s.name.clone(),
            description: s.description.clone(),
            instructions: s.instructions.clone(),
            files: files
                .iter()
                .filter(|f| f.source_id == s.id)
                .map(|f| {
                    let value = match (&f.visible_content, f.is_open) {
                        (Some(v), true) => v.clone(),
                        _ => String::new(),
                    };
                    (f.file_name.clone(), value)
                })
                .collect(),
        })
        .collect()
}

fn source_not_found(source_id: &str) -> ServiceError {
    ServiceError::NotFound(format!("Items not found in sources: {{'{source_id}'}}"))
}

impl AgentService<'_> {
    /// The agent's sources and files as the system prompt shows them.
    pub async fn directories_of(&self, agent_id: &str) -> ServiceResult<Vec<Directory>> {
        let ids = [agent_id.to_owned()];
        let sources = self
            .store()
            .sources_of_agents(&ids)
            .await?
            .remove(agent_id)
            .unwrap_or_default();
        if sources.is_empty() {
            return Ok(Vec::new());
        }
        let files = self
            .store()
            .file_agents_of(&ids)
            .await?
            .remove(agent_id)
            .unwrap_or_default();
        Ok(directories(&sources, &files))
    }

    /// `GET /v1/agents/{agent_id}/sources`.
    pub async fn sources(&self, actor: &Actor, agent_id: &str) -> ServiceResult<Vec<Source>> {
        let row = self.row(actor, agent_id).await?;
        let ids = [row.id.clone()];
        Ok(self
            .store()
            .sources_of_agents(&ids)
            .await?
            .remove(&row.id)
            .unwrap_or_default())
    }

    /// `PATCH …/sources/attach/{source_id}`: attaches the source, recompiles the system
    /// prompt, attaches the file tools and opens the source's files (at most five open).
    /// Returns the agent as it was before its files were opened, as the original does.
    pub async fn attach_source(
        &self,
        actor: &Actor,
        agent_id: &str,
        source_id: &str,
    ) -> ServiceResult<AgentState> {
        let row = self.row(actor, agent_id).await?;
        let store = self.store();
        let source = store
            .get_source(&actor.organization_id, source_id)
            .await?
            .ok_or_else(|| source_not_found(source_id))?;
        store.attach_source(&row.id, &source.id).await?;
        self.rebuild_system_prompt(&row, None).await?;
        let base: Vec<String> = crate::services::tools::base_tool_names()
            .into_iter()
            .map(str::to_owned)
            .collect();
        if store
            .tools_by_names(&actor.organization_id, &base)
            .await?
            .len()
            < base.len()
        {
            crate::services::tools::upsert_base_tools(store, actor).await?;
        }
        let names: Vec<String> = FILE_TOOLS.iter().map(|n| (*n).to_owned()).collect();
        for tool in store.tools_by_names(&actor.organization_id, &names).await? {
            store.attach_tool(&row.id, &tool.id).await?;
        }
        let state = self.get(actor, agent_id, RelationSet::ALL).await?;
        // Open the source's files that have their text.
        let files = store
            .list_files(&actor.organization_id, &source.id, None, None, true)
            .await?;
        let open: Vec<FileToOpen> = files
            .into_iter()
            .filter_map(|f| {
                let text = f.content?;
                let name = f.file_name?;
                let strategy = file_types::strategy_for(f.file_type.as_deref(), &name);
                Some(FileToOpen {
                    file_id: f.id,
                    source_id: f.source_id,
                    visible_content: lines::full_view(&name, &text, strategy),
                    file_name: name,
                })
            })
            .collect();
        if !open.is_empty() {
            store
                .open_files(&actor.organization_id, &row.id, &open, MAX_FILES_OPEN)
                .await?;
            self.rebuild_system_prompt(&row, None).await?;
        }
        Ok(state)
    }

    /// `PATCH …/sources/detach/{source_id}`: detaches the source and closes its files (their
    /// rows go); with no source left the file tools are detached too. Detaching a source
    /// that is not attached changes nothing.
    pub async fn detach_source(
        &self,
        actor: &Actor,
        agent_id: &str,
        source_id: &str,
    ) -> ServiceResult<AgentState> {
        let row = self.row(actor, agent_id).await?;
        let store = self.store();
        store.detach_source(&row.id, source_id).await?;
        let ids = [row.id.clone()];
        let left = store
            .sources_of_agents(&ids)
            .await?
            .remove(&row.id)
            .unwrap_or_default();
        if left.is_empty() {
            for tool in self.tools_of(&row.id).await? {
                if tool.tool_type == ToolType::LettaFilesCore {
                    store.detach_tool(&row.id, &tool.id).await?;
                }
            }
        }
        self.rebuild_system_prompt(&row, None).await?;
        self.get(actor, agent_id, RelationSet::ALL).await
    }

    /// `PATCH /v1/agents/{agent_id}/files/close-all`: closes every open file of the agent;
    /// returns their names.
    pub async fn close_all_files(
        &self,
        actor: &Actor,
        agent_id: &str,
    ) -> ServiceResult<Vec<String>> {
        let row = self.row(actor, agent_id).await?;
        let closed = self.store().close_files(&row.id, &[]).await?;
        if !closed.is_empty() {
            self.rebuild_system_prompt(&row, None).await?;
        }
        Ok(closed)
    }

    /// Recompiles the system prompts of these agents (after their files changed); agents
    /// gone meanwhile are skipped.
    pub async fn refresh_prompts(&self, org_id: &str, agent_ids: &[String]) -> ServiceResult<()> {
        for id in agent_ids {
            if let Some(row) = self.store().get_agent(org_id, id).await? {
                self.rebuild_system_prompt(&row, None).await?;
            }
        }
        Ok(())
    }
}

/// A JSON view of sources for `AgentState.sources`.
pub fn sources_json(sources: Vec<Source>) -> Vec<Value> {
    sources
        .into_iter()
        .map(|s| serde_json::to_value(s).unwrap_or_else(|_| json!({})))
        .collect()
}
