//! Groups of agents (spec groups-memory-tools §2.3, §2.5): creating, changing and deleting
//! them, with every rule checked before anything is written, and reading the messages sent
//! in them. Running a group's turn is the `groups` layer's.

use std::collections::HashSet;

use serde_json::json;

use super::messages::{ConvertOptions, convert};
use super::{ServiceError, ServiceResult};
use crate::schemas::group::{
    Group, GroupCreate, GroupUpdate, ManagerConfig, ManagerConfigUpdate, ManagerType,
};
use crate::schemas::letta_message::LettaMessage;
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::store::{AgentRow, GroupFilter, GroupMessageFilter, MessageFilter, Store};

pub struct GroupService<'a> {
    store: &'a dyn Store,
}

/// Paging and display options of `GET /v1/groups/{group_id}/messages`.
#[derive(Debug, Clone, Copy)]
pub struct GroupMessagesQuery<'a> {
    pub after: Option<&'a str>,
    pub before: Option<&'a str>,
    pub limit: Option<i64>,
    pub convert: ConvertOptions<'a>,
}

pub fn group_not_found(id: &str) -> ServiceError {
    ServiceError::NotFound(format!("Group not found with id='{id}'"))
}

/// Refuses an id of another kind of object (an agent id where a group id belongs, say):
/// such an id can never name what is asked for.
pub fn check_id_kind(id: &str, prefix: &str, loc: &[&str]) -> ServiceResult<()> {
    if id.starts_with(&format!("{prefix}-")) {
        return Ok(());
    }
    Err(ServiceError::value_error(
        loc,
        format!("'{id}' is not a {prefix} id (expected {prefix}-<uuid>)"),
        json!(id),
    ))
}

impl<'a> GroupService<'a> {
    pub fn new(store: &'a dyn Store) -> Self {
        GroupService { store }
    }

    /// The group, or 404.
    pub async fn get(&self, actor: &Actor, id: &str) -> ServiceResult<Group> {
        check_id_kind(id, "group", &["path", "group_id"])?;
        self.store
            .get_group(&actor.organization_id, id)
            .await?
            .ok_or_else(|| group_not_found(id))
    }

    pub async fn list(
        &self,
        actor: &Actor,
        filter: &GroupFilter,
        project_id: Option<&str>,
    ) -> ServiceResult<Vec<Group>> {
        if project_id.is_some() {
            // The original answers 500 here (it filters on a column groups do not have).
            return Err(ServiceError::BadRequest(
                "Groups belong to no project: the project_id filter is not supported".into(),
            ));
        }
        self.store
            .list_groups(&actor.organization_id, filter)
            .await?
            .ok_or_else(|| {
                let cursor = filter.after.as_deref().or(filter.before.as_deref());
                group_not_found(cursor.unwrap_or_default())
            })
    }

    pub async fn count(&self, actor: &Actor) -> ServiceResult<i64> {
        Ok(self.store.count_groups(&actor.organization_id).await?)
    }

    /// Creates a group after checking its participants, manager and shared blocks.
    pub async fn create(&self, actor: &Actor, req: GroupCreate) -> ServiceResult<Group> {
        let org = &actor.organization_id;
        let kind = req.manager_config.manager_type();
        let mut group = Group {
            id: new_id("group"),
            manager_type: kind,
            agent_ids: req.agent_ids,
            description: req.description,
            shared_block_ids: req.shared_block_ids,
            manager_agent_id: None,
            termination_token: None,
            max_turns: None,
            sleeptime_agent_frequency: None,
            turns_counter: None,
            last_processed_message_id: None,
            max_message_buffer_length: None,
            min_message_buffer_length: None,
            organization_id: org.clone(),
        };
        match req.manager_config {
            ManagerConfig::RoundRobin(c) => group.max_turns = c.max_turns,
            ManagerConfig::Supervisor(c) => group.manager_agent_id = Some(c.manager_agent_id),
            ManagerConfig::Dynamic(c) => {
                group.manager_agent_id = Some(c.manager_agent_id);
                group.termination_token = c.termination_token;
                group.max_turns = c.max_turns;
            }
            ManagerConfig::Sleeptime(c) => {
                group.manager_agent_id = Some(c.manager_agent_id);
                group.sleeptime_agent_frequency = c.sleeptime_agent_frequency;
                if c.sleeptime_agent_frequency.is_some() {
                    group.turns_counter = Some(-1);
                }
            }
            ManagerConfig::VoiceSleeptime(c) => {
                group.manager_agent_id = Some(c.manager_agent_id);
                group.max_message_buffer_length = c.max_message_buffer_length;
                group.min_message_buffer_length = c.min_message_buffer_length;
            }
        }
        self.check_settings(&group, "manager_config")?;
        self.check_manager(actor, &group).await?;
        self.check_participants(actor, &group).await?;
        self.check_blocks(org, &group.shared_block_ids).await?;
        self.store.create_group(&group).await?;
        self.get(actor, &group.id).await
    }

    /// Applies the given values (only non-empty ones, as the original: fields cannot be
    /// cleared); `agent_ids`, when non-empty, replaces the participants.
    pub async fn modify(&self, actor: &Actor, id: &str, req: GroupUpdate) -> ServiceResult<Group> {
        let mut group = self.get(actor, id).await?;
        if let Some(config) = req.manager_config {
            if config.manager_type() != group.manager_type {
                return Err(ServiceError::BadRequest(format!(
                    "Cannot change group pattern after creation (the group is {}, the update is {})",
                    group.manager_type.as_str(),
                    config.manager_type().as_str()
                )));
            }
            apply_config_update(&mut group, config);
        }
        if let Some(description) = req.description.filter(|d| !d.is_empty()) {
            group.description = description;
        }
        let replace_agents = match req.agent_ids.filter(|ids| !ids.is_empty()) {
            Some(ids) => {
                group.agent_ids = ids;
                true
            }
            None => false,
        };
        self.check_settings(&group, "manager_config")?;
        self.check_manager(actor, &group).await?;
        if replace_agents {
            self.check_participants(actor, &group).await?;
        }
        if !self
            .store
            .update_group(&actor.organization_id, &group, replace_agents)
            .await?
        {
            return Err(group_not_found(id));
        }
        self.get(actor, id).await
    }

    /// Deletes the group; its agents, shared blocks and messages stay.
    pub async fn delete(&self, actor: &Actor, id: &str) -> ServiceResult<()> {
        check_id_kind(id, "group", &["path", "group_id"])?;
        if !self.store.delete_group(&actor.organization_id, id).await? {
            return Err(ServiceError::NotFound(format!(
                "Group id={id} not found for user_id={}.",
                actor.user_id
            )));
        }
        Ok(())
    }

    /// The groups the agent takes part in (not the one it manages).
    pub async fn of_agent(
        &self,
        actor: &Actor,
        agent_id: &str,
        manager_type: Option<&str>,
    ) -> ServiceResult<Vec<Group>> {
        self.agent(actor, agent_id).await?;
        Ok(self.store.groups_of_agent(agent_id, manager_type).await?)
    }

    /// Messages sent in the group: the manager's (newest `limit`, oldest first) when it has
    /// one, else every participant's (oldest `limit` first), as the original selects them.
    pub async fn messages(
        &self,
        actor: &Actor,
        id: &str,
        q: GroupMessagesQuery<'_>,
    ) -> ServiceResult<Vec<LettaMessage>> {
        let group = self.get(actor, id).await?;
        let messages = match &group.manager_agent_id {
            Some(manager) => {
                let filter = MessageFilter {
                    after_sequence: self.sequence_of(manager, q.after).await?,
                    before_sequence: self.sequence_of(manager, q.before).await?,
                    group_id: Some(group.id.clone()),
                    ascending: false,
                    limit: q.limit,
                };
                let mut messages = self.store.list_agent_messages(manager, &filter).await?;
                messages.reverse();
                messages
            }
            None => {
                let filter = GroupMessageFilter {
                    after: q.after.map(str::to_owned),
                    before: q.before.map(str::to_owned),
                    limit: q.limit,
                };
                self.store
                    .list_group_messages(&actor.organization_id, &group.id, &filter)
                    .await?
                    .ok_or_else(|| {
                        let cursor = q.after.or(q.before).unwrap_or_default();
                        ServiceError::NotFound(format!("No Message found with id {cursor}"))
                    })?
            }
        };
        convert(&messages, q.convert)
    }

    /// Checks that the message was sent in the group, and names the agent it belongs to.
    pub async fn message_owner(
        &self,
        actor: &Actor,
        group_id: &str,
        message_id: &str,
    ) -> ServiceResult<String> {
        self.get(actor, group_id).await?;
        let message = self
            .store
            .get_messages(&actor.organization_id, &[message_id.to_owned()])
            .await?
            .pop()
            .filter(|m| m.group_id.as_deref() == Some(group_id))
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "Message not found with id='{message_id}' in group {group_id}"
                ))
            })?;
        Ok(message.agent_id)
    }

    /// Deletes every message sent in the group, from every agent's history.
    pub async fn reset_messages(&self, actor: &Actor, id: &str) -> ServiceResult<()> {
        self.get(actor, id).await?;
        self.store
            .delete_group_messages(&actor.organization_id, id)
            .await?;
        Ok(())
    }

    /// The insertion position of a cursor message (404 when there is none).
    async fn sequence_of(&self, agent_id: &str, id: Option<&str>) -> ServiceResult<Option<i64>> {
        let Some(id) = id else { return Ok(None) };
        match self.store.message_sequence_id(id).await? {
            Some(seq) => Ok(Some(seq)),
            None => Err(ServiceError::NotFound(format!(
                "No message found with id '{id}' for agent '{agent_id}'."
            ))),
        }
    }

    async fn agent(&self, actor: &Actor, agent_id: &str) -> ServiceResult<AgentRow> {
        self.store
            .get_agent(&actor.organization_id, agent_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("Agent not found with id='{agent_id}'")))
    }

    /// The settings each manager type needs, and their ranges.
    fn check_settings(&self, group: &Group, at: &str) -> ServiceResult<()> {
        let loc = |field: &'static str| ["body", at, field];
        let bad = |field: &'static str, msg: String, input: serde_json::Value| {
            Err(ServiceError::value_error(&loc(field), msg, input))
        };
        if let Some(n) = group.max_turns.filter(|n| *n < 1) {
            return bad("max_turns", "max_turns must be at least 1".into(), json!(n));
        }
        if let Some(n) = group.sleeptime_agent_frequency.filter(|n| *n < 1) {
            return bad(
                "sleeptime_agent_frequency",
                "sleeptime_agent_frequency must be at least 1".into(),
                json!(n),
            );
        }
        if group.manager_type == ManagerType::VoiceSleeptime {
            let (max, min) = (
                group.max_message_buffer_length,
                group.min_message_buffer_length,
            );
            let shown =
                format!("max_message_buffer_length={max:?}, min_message_buffer_length={min:?}");
            match (max, min) {
                (None, None) => {}
                (Some(max), Some(min)) => {
                    if max <= 4 || min <= 4 {
                        return bad(
                            "max_message_buffer_length",
                            format!("Both buffer lengths must be greater than 4 ({shown})"),
                            json!(max),
                        );
                    }
                    if max <= min {
                        return bad(
                            "max_message_buffer_length",
                            format!(
                                "'max_message_buffer_length' must be greater than 'min_message_buffer_length' ({shown})"
                            ),
                            json!(max),
                        );
                    }
                }
                _ => {
                    return bad(
                        "max_message_buffer_length",
                        format!(
                            "Both 'max_message_buffer_length' and 'min_message_buffer_length' must be provided together ({shown})"
                        ),
                        json!(max),
                    );
                }
            }
        }
        Ok(())
    }

    /// The manager, when the type has one: an agent of the organization, not a participant.
    async fn check_manager(&self, actor: &Actor, group: &Group) -> ServiceResult<()> {
        let Some(manager) = &group.manager_agent_id else {
            return Ok(());
        };
        check_id_kind(
            manager,
            "agent",
            &["body", "manager_config", "manager_agent_id"],
        )?;
        self.agent(actor, manager).await?;
        if let Some(other) = self
            .store
            .groups_managed_by(std::slice::from_ref(manager))
            .await?
            .first()
            && other.id != group.id
        {
            return Err(ServiceError::Conflict(format!(
                "Agent {manager} already manages group {}: an agent manages at most one group",
                other.id
            )));
        }
        Ok(())
    }

    /// Participants: agents of the organization, each once, never the manager; for dynamic
    /// groups, with distinct names (the manager picks speakers by name).
    async fn check_participants(&self, actor: &Actor, group: &Group) -> ServiceResult<()> {
        let mut seen = HashSet::new();
        for (i, id) in group.agent_ids.iter().enumerate() {
            check_id_kind(id, "agent", &["body", "agent_ids", &i.to_string()])?;
            if !seen.insert(id.as_str()) {
                return Err(ServiceError::BadRequest(format!(
                    "Duplicate agent ids found in list: {id}"
                )));
            }
            if group.manager_agent_id.as_deref() == Some(id.as_str()) {
                return Err(ServiceError::BadRequest(format!(
                    "Agent {id} is the group's manager and cannot also be a participant"
                )));
            }
        }
        let mut missing = Vec::new();
        let mut names = HashSet::new();
        for id in &group.agent_ids {
            match self.store.get_agent(&actor.organization_id, id).await? {
                None => missing.push(format!("'{id}'")),
                Some(row) => {
                    if group.manager_type == ManagerType::Dynamic
                        && !names.insert(row.name.to_lowercase())
                    {
                        return Err(ServiceError::BadRequest(format!(
                            "Duplicate agent names found in the provided agent IDs: {}",
                            row.name
                        )));
                    }
                }
            }
        }
        if !missing.is_empty() {
            return Err(ServiceError::NotFound(format!(
                "Items not found in agents: {{{}}}",
                missing.join(", ")
            )));
        }
        Ok(())
    }

    async fn check_blocks(&self, org: &str, ids: &[String]) -> ServiceResult<()> {
        let found = self.store.existing_block_ids(org, ids).await?;
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !found.contains(id))
            .map(|id| format!("'{id}'"))
            .collect();
        if !missing.is_empty() {
            return Err(ServiceError::NotFound(format!(
                "Items not found in blocks: {{{}}}",
                missing.join(", ")
            )));
        }
        Ok(())
    }
}

/// Copies the non-empty values of a manager update into the group.
fn apply_config_update(group: &mut Group, config: ManagerConfigUpdate) {
    fn set<T>(slot: &mut Option<T>, value: Option<T>, truthy: impl Fn(&T) -> bool) {
        if let Some(v) = value.filter(|v| truthy(v)) {
            *slot = Some(v);
        }
    }
    let text = |s: &String| !s.is_empty();
    let number = |n: &i64| *n != 0;
    match config {
        ManagerConfigUpdate::RoundRobin(c) => set(&mut group.max_turns, c.max_turns, number),
        ManagerConfigUpdate::Supervisor(c) => {
            set(&mut group.manager_agent_id, c.manager_agent_id, text)
        }
        ManagerConfigUpdate::Dynamic(c) => {
            set(&mut group.manager_agent_id, c.manager_agent_id, text);
            set(&mut group.termination_token, c.termination_token, text);
            set(&mut group.max_turns, c.max_turns, number);
        }
        ManagerConfigUpdate::Sleeptime(c) => {
            set(&mut group.manager_agent_id, c.manager_agent_id, text);
            let given = c.sleeptime_agent_frequency.is_some_and(|n| n != 0);
            set(
                &mut group.sleeptime_agent_frequency,
                c.sleeptime_agent_frequency,
                number,
            );
            if given && group.turns_counter.is_none() {
                group.turns_counter = Some(-1);
            }
        }
        ManagerConfigUpdate::VoiceSleeptime(c) => {
            set(&mut group.manager_agent_id, c.manager_agent_id, text);
            set(
                &mut group.max_message_buffer_length,
                c.max_message_buffer_length,
                number,
            );
            set(
                &mut group.min_message_buffer_length,
                c.min_message_buffer_length,
                number,
            );
        }
    }
}
