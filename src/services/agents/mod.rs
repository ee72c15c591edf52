//! Agents: listing, reading, modifying and deleting them, the AgentState view, and the
//! tools attached to them. Creation (defaults, checks) is in [`create`], the initial message
//! sequence in [`boot`], core memory in [`memory`].

mod boot;
mod create;
mod memory;
mod sleeptime;
pub mod sources;

pub(crate) use boot::Boot;
pub use create::{base_tool_names_for, creation_tool_names};
use create::{env_vars_from_map, require_distinct_labels, validate_common_fields, validate_name};

use super::prompts::{self};
use super::{ServiceError, ServiceResult};
use crate::config::Config;
use crate::llm::catalog::LlmResolveOptions;
use crate::llm::catalog::ModelCatalog;
use crate::schemas::agent::{AgentState, UpdateAgent};
use crate::schemas::block::Memory;
use crate::schemas::common::now;
use crate::schemas::org::Actor;
use crate::schemas::tool::Tool;
use crate::schemas::tool_rule::ToolRule;
use crate::store::DynStore;
use crate::store::{AgentFilter, AgentPatch, AgentRelations, AgentRow, AgentSort, RelationSet};

/// Parses `include_relationships`: absent means all; present means only those named.
pub fn relation_set(include: Option<&[String]>) -> RelationSet {
    match include {
        None => RelationSet::ALL,
        Some(names) => {
            let has = |n: &str| names.iter().any(|x| x == n);
            RelationSet {
                tags: has("tags"),
                tools: has("tools"),
                memory: has("memory"),
                identity_ids: has("identity_ids"),
                env_vars: has("tool_exec_environment_variables"),
            }
        }
    }
}

fn agent_not_found(agent_id: &str) -> ServiceError {
    ServiceError::NotFound(format!("Agent not found with id='{agent_id}'"))
}

/// Agents' rules. Holds the store, the configuration (default handles) and the model
/// catalogue (resolving `model` and `embedding` handles).
#[derive(Clone, Copy)]
pub struct AgentService<'a> {
    store: &'a DynStore,
    config: &'a Config,
    models: &'a ModelCatalog,
}

impl<'a> AgentService<'a> {
    pub fn new(store: &'a DynStore, config: &'a Config, models: &'a ModelCatalog) -> Self {
        AgentService {
            store,
            config,
            models,
        }
    }

    fn store(&self) -> &dyn crate::store::Store {
        self.store.as_ref()
    }

    /// Model handles: the organization's own providers (BYOK) first, then the catalogue.
    fn byok(&self) -> crate::services::providers::HandleResolver<'_> {
        crate::services::providers::HandleResolver::new(
            self.store.as_ref(),
            self.models,
            self.config.global_max_context_window_limit,
        )
    }

    // ---------------------------------------------------------------------------------------
    // Reading

    /// The agent row, or a 404.
    pub async fn row(&self, actor: &Actor, agent_id: &str) -> ServiceResult<AgentRow> {
        self.store()
            .get_agent(&actor.organization_id, agent_id)
            .await?
            .ok_or_else(|| agent_not_found(agent_id))
    }

    pub async fn get(
        &self,
        actor: &Actor,
        agent_id: &str,
        which: RelationSet,
    ) -> ServiceResult<AgentState> {
        let row = self.row(actor, agent_id).await?;
        Ok(self.states(actor, vec![row], which).await?.remove(0))
    }

    /// AgentState views of these rows, loading relationships in one query per kind.
    pub async fn states(
        &self,
        _actor: &Actor,
        rows: Vec<AgentRow>,
        which: RelationSet,
    ) -> ServiceResult<Vec<AgentState>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let mut relations = self.store().load_relations(&ids, which).await?;
        let mut managed: std::collections::HashMap<String, crate::schemas::group::Group> = self
            .store()
            .groups_managed_by(&ids)
            .await?
            .into_iter()
            .filter_map(|g| Some((g.manager_agent_id.clone()?, g)))
            .collect();
        let mut sources = self.store().sources_of_agents(&ids).await?;
        let mut files = self.store().file_agents_of(&ids).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let rel = relations.remove(&row.id).unwrap_or_default();
                let group = managed.remove(&row.id);
                let agent_sources = sources.remove(&row.id).unwrap_or_default();
                let agent_files = files.remove(&row.id).unwrap_or_default();
                let mut state = to_state(row, rel);
                state.multi_agent_group = group;
                state.memory.file_blocks = agent_files.iter().map(sources::file_block).collect();
                state.sources = sources::sources_json(agent_sources);
                state
            })
            .collect())
    }

    pub async fn list(
        &self,
        actor: &Actor,
        filter: &AgentFilter,
        which: RelationSet,
    ) -> ServiceResult<Vec<AgentState>> {
        let rows = self
            .store()
            .list_agents(&actor.organization_id, filter)
            .await?;
        self.states(actor, rows, which).await
    }

    pub async fn count(&self, actor: &Actor) -> ServiceResult<i64> {
        Ok(self.store().count_agents(&actor.organization_id).await?)
    }

    // ---------------------------------------------------------------------------------------
    // Modify and delete

    pub async fn modify(
        &self,
        actor: &Actor,
        agent_id: &str,
        req: UpdateAgent,
    ) -> ServiceResult<AgentState> {
        let org = actor.organization_id.as_str();
        if let Some(name) = &req.name {
            validate_name(name)?;
        }
        validate_common_fields(
            req.model.as_deref(),
            req.embedding.as_deref(),
            req.timezone.as_deref(),
            req.response_format.as_ref(),
        )?;
        let row = self.row(actor, agent_id).await?;
        if let Some(ids) = &req.block_ids {
            require_distinct_labels(&self.require_blocks(org, ids).await?)?;
        }
        if let Some(ids) = &req.identity_ids {
            self.require_identities(actor, ids).await?;
        }
        if let Some(ids) = &req.tool_ids {
            self.require_tools_by_id(actor, ids).await?;
        }
        let source_ids = req.source_ids.clone();
        if let Some(ids) = &source_ids {
            self.require_sources(org, ids).await?;
        }
        let llm_config = match (&req.llm_config, &req.model) {
            (Some(config), _) => {
                let mut config = config.clone();
                config.normalize();
                Some(config)
            }
            (None, Some(handle)) => Some(
                self.byok()
                    .resolve_llm(actor, handle, &LlmResolveOptions::default())
                    .await?,
            ),
            (None, None) => None,
        };
        let embedding_config = match (&req.embedding_config, &req.embedding) {
            (Some(config), _) => Some(config.clone()),
            (None, Some(handle)) => Some(self.byok().resolve_embedding(actor, handle, None).await?),
            (None, None) => None,
        };
        if req.enable_sleeptime == Some(true) {
            self.add_sleeptime_companion(actor, &row).await?;
        }
        let ts = now();
        let patch = AgentPatch {
            name: req.name,
            description: req.description,
            system: req.system,
            message_ids: req.message_ids,
            response_format: req.response_format,
            metadata: req.metadata,
            llm_config,
            embedding_config,
            tool_rules: req.tool_rules.map(|rules| {
                rules
                    .into_iter()
                    .map(ToolRule::with_default_template)
                    .collect()
            }),
            project_id: req.project_id,
            template_id: req.template_id,
            base_template_id: req.base_template_id,
            message_buffer_autoclear: req.message_buffer_autoclear,
            enable_sleeptime: req.enable_sleeptime,
            last_run_completion: req.last_run_completion,
            last_run_duration_ms: req.last_run_duration_ms,
            timezone: req.timezone,
            tool_ids: req.tool_ids,
            block_ids: req.block_ids,
            tags: req.tags.map(|mut tags| {
                tags.sort();
                tags.dedup();
                tags
            }),
            identity_ids: req.identity_ids,
            env_vars: req
                .tool_exec_environment_variables
                .as_ref()
                .map(|vars| env_vars_from_map(actor, agent_id, vars, ts)),
            last_updated_by_id: Some(actor.user_id.clone()),
            updated_at: Some(ts),
        };
        if !self.store().update_agent(org, agent_id, &patch).await? {
            return Err(agent_not_found(agent_id));
        }
        if let Some(ids) = source_ids {
            self.replace_sources(actor, agent_id, &ids).await?;
        }
        self.get(actor, agent_id, RelationSet::ALL).await
    }

    /// Deletes the agent with its sleeptime companions and their groups, all in one
    /// transaction. An agent that manages any other group is refused (409) before anything
    /// is deleted.
    pub async fn delete(&self, actor: &Actor, agent_id: &str) -> ServiceResult<()> {
        let org = actor.organization_id.as_str();
        let not_found = || {
            ServiceError::NotFound(format!(
                "Agent agent_id={agent_id} not found for user_id={}.",
                actor.user_id
            ))
        };
        if self.store().get_agent(org, agent_id).await?.is_none() {
            return Err(not_found());
        }
        let (group_ids, mut agent_ids) = self.sleeptime_cascade(actor, agent_id).await?;
        agent_ids.push(agent_id.to_owned());
        let deleted = self
            .store()
            .delete_groups_and_agents(org, &group_ids, &agent_ids)
            .await?;
        if deleted == 0 {
            return Err(not_found());
        }
        Ok(())
    }

    // ---------------------------------------------------------------------------------------
    // Tools

    pub async fn tools(&self, actor: &Actor, agent_id: &str) -> ServiceResult<Vec<Tool>> {
        let row = self.row(actor, agent_id).await?;
        self.tools_of(&row.id).await
    }

    pub async fn attach_tool(
        &self,
        actor: &Actor,
        agent_id: &str,
        tool_id: &str,
    ) -> ServiceResult<AgentState> {
        let row = self.row(actor, agent_id).await?;
        if self
            .store()
            .get_tool(&actor.organization_id, tool_id)
            .await?
            .is_none()
        {
            return Err(ServiceError::NotFound(format!(
                "Items not found in tools: {{'{tool_id}'}}"
            )));
        }
        self.store().attach_tool(&row.id, tool_id).await?;
        self.get(actor, agent_id, RelationSet::ALL).await
    }

    pub async fn detach_tool(
        &self,
        actor: &Actor,
        agent_id: &str,
        tool_id: &str,
    ) -> ServiceResult<AgentState> {
        let row = self.row(actor, agent_id).await?;
        self.store().detach_tool(&row.id, tool_id).await?;
        self.get(actor, agent_id, RelationSet::ALL).await
    }

    /// The agents the block is attached to, oldest first, with the requested relationships
    /// (all of them when `include` is `None`).
    pub async fn agents_with_block(
        &self,
        actor: &Actor,
        block_id: &str,
        include: Option<&[String]>,
    ) -> ServiceResult<Vec<AgentState>> {
        let org = &actor.organization_id;
        if self.store.get_block(org, block_id).await?.is_none() {
            return Err(ServiceError::NotFound(format!(
                "Block with id={block_id} not found"
            )));
        }
        let rows = self.store.agents_for_block(org, block_id).await?;
        self.states(actor, rows, relation_set(include)).await
    }
}

/// Builds the API view of an agent from its row and loaded relationships.
fn to_state(row: AgentRow, rel: AgentRelations) -> AgentState {
    AgentState {
        created_by_id: row.created_by_id,
        last_updated_by_id: row.last_updated_by_id,
        created_at: Some(row.created_at),
        updated_at: Some(row.updated_at),
        id: row.id,
        name: row.name,
        tool_rules: Some(row.tool_rules),
        message_ids: Some(row.message_ids),
        system: row.system,
        agent_type: row.agent_type,
        llm_config: row.llm_config,
        embedding_config: row.embedding_config,
        response_format: row.response_format,
        organization_id: None,
        description: row.description,
        metadata: row.metadata,
        memory: Memory {
            blocks: rel.blocks,
            file_blocks: Vec::new(),
            prompt_template: prompts::memory_prompt_template(row.agent_type).to_owned(),
        },
        tools: rel.tools,
        sources: Vec::new(),
        tags: rel.tags,
        tool_exec_environment_variables: rel.env_vars,
        project_id: row.project_id,
        template_id: row.template_id,
        base_template_id: row.base_template_id,
        identity_ids: rel.identity_ids,
        message_buffer_autoclear: row.message_buffer_autoclear,
        enable_sleeptime: row.enable_sleeptime,
        multi_agent_group: None,
        last_run_completion: row.last_run_completion,
        last_run_duration_ms: row.last_run_duration_ms,
        timezone: row.timezone,
    }
}

/// The store order `sort_by` of `GET /v1/agents/` names (`created_at` when absent or unknown).
pub fn agent_sort(sort_by: Option<&str>) -> AgentSort {
    match sort_by {
        Some("last_run_completion") => AgentSort::LastRunCompletion,
        _ => AgentSort::CreatedAt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relation_set_from_include() {
        assert_eq!(relation_set(None), RelationSet::ALL);
        let only_tags = relation_set(Some(&["tags".to_owned(), "bogus".to_owned()]));
        assert!(only_tags.tags && !only_tags.tools && !only_tags.memory);
    }
}
