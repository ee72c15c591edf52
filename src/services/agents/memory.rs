//! An agent's core memory: its blocks by label, attaching and detaching blocks, and the
//! system prompt rebuilt from them.

use crate::schemas::Timestamp;
use crate::schemas::agent::AgentState;
use crate::schemas::block::{Block, BlockUpdate, Memory};
use crate::schemas::common::now;
use crate::schemas::message::text_part;
use crate::schemas::org::Actor;
use crate::schemas::tool::Tool;
use crate::services::blocks::BlockService;
use crate::services::prompts::{self, PromptInputs};
use crate::services::{ServiceError, ServiceResult};
use crate::store::{AgentRow, RelationSet};

use super::AgentService;

impl AgentService<'_> {
    // ---------------------------------------------------------------------------------------
    // Core memory

    pub async fn memory(&self, actor: &Actor, agent_id: &str) -> ServiceResult<Memory> {
        let row = self.row(actor, agent_id).await?;
        let blocks = self.blocks_of(&row.id).await?;
        let ids = [row.id.clone()];
        let files = self
            .store()
            .file_agents_of(&ids)
            .await?
            .remove(&row.id)
            .unwrap_or_default();
        Ok(Memory {
            blocks,
            file_blocks: files.iter().map(super::sources::file_block).collect(),
            prompt_template: prompts::memory_prompt_template(row.agent_type).to_owned(),
        })
    }

    /// The blocks attached to an agent, in attachment order (the agent is not checked).
    pub async fn blocks_of(&self, agent_id: &str) -> ServiceResult<Vec<Block>> {
        let ids = [agent_id.to_owned()];
        let mut rel = self
            .store()
            .load_relations(&ids, RelationSet::MEMORY)
            .await?;
        Ok(rel.remove(agent_id).map(|r| r.blocks).unwrap_or_default())
    }

    /// The tools attached to an agent, ordered by id (the agent is not checked).
    pub async fn tools_of(&self, agent_id: &str) -> ServiceResult<Vec<Tool>> {
        let ids = [agent_id.to_owned()];
        let mut rel = self
            .store()
            .load_relations(&ids, RelationSet::TOOLS)
            .await?;
        Ok(rel.remove(agent_id).map(|r| r.tools).unwrap_or_default())
    }

    pub async fn blocks(&self, actor: &Actor, agent_id: &str) -> ServiceResult<Vec<Block>> {
        let row = self.row(actor, agent_id).await?;
        self.blocks_of(&row.id).await
    }

    pub async fn block_by_label(
        &self,
        actor: &Actor,
        agent_id: &str,
        label: &str,
    ) -> ServiceResult<Block> {
        let row = self.row(actor, agent_id).await?;
        self.store()
            .agent_block_by_label(&row.id, label)
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "No block with label '{label}' found for agent '{agent_id}'"
                ))
            })
    }

    /// Edits the agent's block with this label, then recompiles the agent's system prompt
    /// (the "last modified" time stays that of the system message).
    pub async fn modify_block_by_label(
        &self,
        actor: &Actor,
        agent_id: &str,
        label: &str,
        update: BlockUpdate,
    ) -> ServiceResult<Block> {
        let block = self.block_by_label(actor, agent_id, label).await?;
        let updated = BlockService::new(self.store)
            .modify(actor, &block.id, update)
            .await?;
        let row = self.row(actor, agent_id).await?;
        self.rebuild_system_prompt(&row, None).await?;
        Ok(updated)
    }

    /// Recompiles the system prompt and rewrites the system message in place. `edited_at`
    /// `None` keeps the system message's creation time as the memory edit time.
    pub async fn rebuild_system_prompt(
        &self,
        row: &AgentRow,
        edited_at: Option<Timestamp>,
    ) -> ServiceResult<()> {
        let Some(system_id) = row.message_ids.first() else {
            return Ok(());
        };
        let store = self.store();
        let Some(mut system) = store
            .get_messages(&row.organization_id, std::slice::from_ref(system_id))
            .await?
            .pop()
        else {
            return Ok(());
        };
        let blocks = self.blocks_of(&row.id).await?;
        let directories = self.directories_of(&row.id).await?;
        let total = store.count_agent_messages(&row.id).await?;
        let compiled = prompts::compile_system_prompt(&PromptInputs {
            base: &row.system,
            agent_type: row.agent_type,
            blocks: &blocks,
            tool_rules: Some(&row.tool_rules),
            timezone: row.timezone.as_deref(),
            memory_edited_at: edited_at.unwrap_or(system.created_at),
            previous_message_count: total - row.message_ids.len() as i64,
            archival_memory_size: store.count_agent_passages(&row.id).await?,
            directories: &directories,
        });
        if system.text() != Some(compiled.as_str()) {
            system.content = vec![text_part(compiled)];
            system.updated_at = now();
            store.update_message_content(&system).await?;
        }
        Ok(())
    }

    pub async fn attach_block(
        &self,
        actor: &Actor,
        agent_id: &str,
        block_id: &str,
    ) -> ServiceResult<AgentState> {
        let row = self.row(actor, agent_id).await?;
        let block = self
            .store()
            .get_block(&actor.organization_id, block_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("Block with id={block_id} not found")))?;
        match self.store().attach_block(&row.id, &block.id).await {
            Ok(()) => {}
            Err(crate::store::StoreError::Unique(_)) => {
                return Err(ServiceError::Conflict(format!(
                    "Agent '{agent_id}' already has a block with label '{}' or this block attached",
                    block.label()
                )));
            }
            Err(e) => return Err(e.into()),
        }
        self.get(actor, agent_id, RelationSet::ALL).await
    }

    pub async fn detach_block(
        &self,
        actor: &Actor,
        agent_id: &str,
        block_id: &str,
    ) -> ServiceResult<AgentState> {
        let row = self.row(actor, agent_id).await?;
        if !self.store().detach_block(&row.id, block_id).await? {
            return Err(ServiceError::NotFound(format!(
                "No block with id '{block_id}' found for agent '{agent_id}' with actor id: '{}'",
                actor.user_id
            )));
        }
        self.get(actor, agent_id, RelationSet::ALL).await
    }
}
