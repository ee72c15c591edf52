//! Sleeptime companions (spec: groups-memory-tools §2.6): an agent created or modified with
//! `enable_sleeptime: true` gets a `<name>-sleeptime` agent that shares its memory blocks,
//! and a `sleeptime` group it manages; blocks attached later reach the companion too, and
//! deleting the main agent deletes the companions and the group.

use serde_json::json;

use super::AgentService;
use crate::schemas::agent::{AgentType, CreateAgent};
use crate::schemas::block::Block;
use crate::schemas::group::{Group, ManagerType};
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::services::{ServiceError, ServiceResult};
use crate::store::{AgentRow, StoreError};

/// How many main turns pass between two runs of the sleeptime agents, by default.
const DEFAULT_FREQUENCY: i64 = 5;

/// The persona a sleeptime agent starts with (its own block, `memory_persona`).
const MEMORY_PERSONA: &str = "I look after the memory of another agent while it talks with its \
user. After some turns of that conversation I receive a transcript of what was said. I read it \
for facts, preferences and changes worth keeping, and I record them in the memory blocks I share \
with that agent: I add what is new, correct what is outdated, merge duplicates and keep each block \
tidy and within its limit. I never talk to the user. When the memory is up to date I call \
memory_finish_edits.";

/// The voice companion's persona (`voice_sleeptime_agent`).
const VOICE_MEMORY_PERSONA: &str = "I keep the memory of a voice assistant while it talks. I \
receive the parts of the conversation that no longer fit its short buffer, store what is worth \
recalling later, and rewrite what it knows about the user when something new or different \
comes up. I never speak to the user.";
const VOICE_GROUP_DESCRIPTION: &str = "Low latency voice chat with async memory management.";
const VOICE_MAX_BUFFER: i64 = 30;
const VOICE_MIN_BUFFER: i64 = 15;

impl AgentService<'_> {
    /// Creates the sleeptime companion of `main` (a voice one for a `voice_convo_agent`) and
    /// the group that ties them, unless the agent already manages a group. Nothing stays
    /// written if a step fails.
    pub(super) async fn add_sleeptime_companion(
        &self,
        actor: &Actor,
        main: &AgentRow,
    ) -> ServiceResult<()> {
        let voice = match main.agent_type {
            AgentType::SleeptimeAgent | AgentType::VoiceSleeptimeAgent => return Ok(()),
            AgentType::VoiceConvoAgent => true,
            _ => false,
        };
        if !self
            .store()
            .groups_managed_by(std::slice::from_ref(&main.id))
            .await?
            .is_empty()
        {
            return Ok(());
        }
        let shared: Vec<String> = self
            .blocks_of(&main.id)
            .await?
            .into_iter()
            .map(|b| b.id)
            .collect();
        let (agent_type, persona) = if voice {
            (AgentType::VoiceSleeptimeAgent, VOICE_MEMORY_PERSONA)
        } else {
            (AgentType::SleeptimeAgent, MEMORY_PERSONA)
        };
        let req: CreateAgent = serde_json::from_value(json!({
            "name": format!("{}-sleeptime", main.name),
            "agent_type": agent_type.as_str(),
            "memory_blocks": [{"label": "memory_persona", "value": persona}],
            "block_ids": shared,
            "llm_config": main.llm_config,
            "embedding_config": main.embedding_config,
            "project_id": main.project_id,
        }))
        .map_err(|e| ServiceError::Internal(format!("sleeptime agent request: {e}")))?;
        let companion = self.insert_agent(actor, req).await?;
        let mut group = Group {
            id: new_id("group"),
            manager_type: ManagerType::Sleeptime,
            agent_ids: vec![companion.clone()],
            description: String::new(),
            shared_block_ids: Vec::new(),
            manager_agent_id: Some(main.id.clone()),
            termination_token: None,
            max_turns: None,
            sleeptime_agent_frequency: Some(DEFAULT_FREQUENCY),
            turns_counter: Some(-1),
            last_processed_message_id: None,
            max_message_buffer_length: None,
            min_message_buffer_length: None,
            organization_id: actor.organization_id.clone(),
        };
        if voice {
            group.manager_type = ManagerType::VoiceSleeptime;
            group.description = VOICE_GROUP_DESCRIPTION.to_owned();
            group.sleeptime_agent_frequency = None;
            group.turns_counter = None;
            group.max_message_buffer_length = Some(VOICE_MAX_BUFFER);
            group.min_message_buffer_length = Some(VOICE_MIN_BUFFER);
        }
        if let Err(err) = self.store().create_group(&group).await {
            if let Err(cleanup) = self
                .store()
                .delete_agent(&actor.organization_id, &companion)
                .await
            {
                tracing::warn!(agent_id = %companion, error = %cleanup, "could not remove a half-made sleeptime agent");
            }
            return Err(err.into());
        }
        Ok(())
    }

    /// Attaches `block` to the sleeptime agents of the `sleeptime` group `main_id` manages
    /// (a companion that already has it, or a block with its label, keeps what it has).
    pub(super) async fn share_block_with_sleeptime(
        &self,
        actor: &Actor,
        main_id: &str,
        block: &Block,
    ) -> ServiceResult<()> {
        let groups = self
            .store()
            .groups_managed_by(&[main_id.to_owned()])
            .await?;
        for group in groups
            .iter()
            .filter(|g| g.manager_type == ManagerType::Sleeptime)
        {
            for member in group.agent_ids.iter().filter(|id| *id != main_id) {
                let Some(agent) = self
                    .store()
                    .get_agent(&actor.organization_id, member)
                    .await?
                else {
                    continue;
                };
                if agent.agent_type != AgentType::SleeptimeAgent {
                    continue;
                }
                match self.store().attach_block(&agent.id, &block.id).await {
                    Ok(()) | Err(StoreError::Unique(_)) => {}
                    Err(err) => return Err(err.into()),
                }
            }
        }
        Ok(())
    }

    /// What goes with an agent that is deleted: the `sleeptime` and `voice_sleeptime` groups
    /// it manages and their participants, as (group ids, agent ids). Managing any other
    /// group is a conflict: that group must be deleted first.
    pub(super) async fn sleeptime_cascade(
        &self,
        actor: &Actor,
        main_id: &str,
    ) -> ServiceResult<(Vec<String>, Vec<String>)> {
        let groups = self
            .store()
            .groups_managed_by(&[main_id.to_owned()])
            .await?;
        let (mut group_ids, mut agent_ids) = (Vec::new(), Vec::new());
        for group in groups
            .iter()
            .filter(|g| g.organization_id == actor.organization_id)
        {
            if !matches!(
                group.manager_type,
                ManagerType::Sleeptime | ManagerType::VoiceSleeptime
            ) {
                return Err(ServiceError::Conflict(format!(
                    "Agent {main_id} manages group {}: delete the group first",
                    group.id
                )));
            }
            group_ids.push(group.id.clone());
            agent_ids.extend(group.agent_ids.iter().filter(|id| *id != main_id).cloned());
        }
        Ok((group_ids, agent_ids))
    }
}
