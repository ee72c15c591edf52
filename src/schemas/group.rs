//! Groups of agents (spec groups-memory-tools §2.1): the group as stored and shown, the
//! create and update bodies, and the manager configurations, one per manager type,
//! discriminated by `manager_type`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How a group's turn is organised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ManagerType {
    RoundRobin,
    Supervisor,
    Dynamic,
    Sleeptime,
    VoiceSleeptime,
    /// A filter value only: no group of this type can be created.
    Swarm,
}

impl ManagerType {
    pub fn as_str(self) -> &'static str {
        match self {
            ManagerType::RoundRobin => "round_robin",
            ManagerType::Supervisor => "supervisor",
            ManagerType::Dynamic => "dynamic",
            ManagerType::Sleeptime => "sleeptime",
            ManagerType::VoiceSleeptime => "voice_sleeptime",
            ManagerType::Swarm => "swarm",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "round_robin" => ManagerType::RoundRobin,
            "supervisor" => ManagerType::Supervisor,
            "dynamic" => ManagerType::Dynamic,
            "sleeptime" => ManagerType::Sleeptime,
            "voice_sleeptime" => ManagerType::VoiceSleeptime,
            "swarm" => ManagerType::Swarm,
            _ => return None,
        })
    }
}

/// A group of agents: its participants in speaking order and its manager's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Group {
    /// The id of the group. Assigned by the database.
    pub id: String,
    pub manager_type: ManagerType,
    /// The participants, in order (round robin speaks in this order).
    pub agent_ids: Vec<String>,
    pub description: String,
    /// Blocks attached to every participant and to the manager.
    #[serde(default)]
    pub shared_block_ids: Vec<String>,
    pub manager_agent_id: Option<String>,
    pub termination_token: Option<String>,
    pub max_turns: Option<i64>,
    pub sleeptime_agent_frequency: Option<i64>,
    pub turns_counter: Option<i64>,
    pub last_processed_message_id: Option<String>,
    /// The desired maximum length of messages in the context window of the convo agent.
    /// This is a best effort, and may be off slightly due to user/assistant interleaving.
    pub max_message_buffer_length: Option<i64>,
    /// The desired minimum length of messages in the context window of the convo agent.
    /// This is a best effort, and may be off-by-one due to user/assistant interleaving.
    pub min_message_buffer_length: Option<i64>,
    /// The organization (not shown: the original's Group has no such field).
    #[serde(skip)]
    pub organization_id: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
pub struct RoundRobinManager {
    #[serde(default)]
    pub max_turns: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
pub struct SupervisorManager {
    pub manager_agent_id: String,
}

fn default_termination_token() -> Option<String> {
    Some("DONE!".to_owned())
}

#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
pub struct DynamicManager {
    pub manager_agent_id: String,
    #[serde(default = "default_termination_token")]
    #[schema(default = "DONE!")]
    pub termination_token: Option<String>,
    #[serde(default)]
    pub max_turns: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
pub struct SleeptimeManager {
    pub manager_agent_id: String,
    #[serde(default)]
    pub sleeptime_agent_frequency: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
pub struct VoiceSleeptimeManager {
    pub manager_agent_id: String,
    /// The desired maximum length of messages in the context window of the convo agent.
    /// This is a best effort, and may be off slightly due to user/assistant interleaving.
    #[serde(default)]
    pub max_message_buffer_length: Option<i64>,
    /// The desired minimum length of messages in the context window of the convo agent.
    /// This is a best effort, and may be off-by-one due to user/assistant interleaving.
    #[serde(default)]
    pub min_message_buffer_length: Option<i64>,
}

/// The manager of a new group, by `manager_type`.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(tag = "manager_type", rename_all = "snake_case")]
pub enum ManagerConfig {
    RoundRobin(RoundRobinManager),
    Supervisor(SupervisorManager),
    Dynamic(DynamicManager),
    Sleeptime(SleeptimeManager),
    VoiceSleeptime(VoiceSleeptimeManager),
}

impl Default for ManagerConfig {
    fn default() -> Self {
        ManagerConfig::RoundRobin(RoundRobinManager { max_turns: None })
    }
}

impl ManagerConfig {
    pub fn manager_type(&self) -> ManagerType {
        match self {
            ManagerConfig::RoundRobin(_) => ManagerType::RoundRobin,
            ManagerConfig::Supervisor(_) => ManagerType::Supervisor,
            ManagerConfig::Dynamic(_) => ManagerType::Dynamic,
            ManagerConfig::Sleeptime(_) => ManagerType::Sleeptime,
            ManagerConfig::VoiceSleeptime(_) => ManagerType::VoiceSleeptime,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
pub struct RoundRobinManagerUpdate {
    #[serde(default)]
    pub max_turns: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
pub struct SupervisorManagerUpdate {
    #[serde(default)]
    pub manager_agent_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
pub struct DynamicManagerUpdate {
    #[serde(default)]
    pub manager_agent_id: Option<String>,
    #[serde(default)]
    pub termination_token: Option<String>,
    #[serde(default)]
    pub max_turns: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
pub struct SleeptimeManagerUpdate {
    #[serde(default)]
    pub manager_agent_id: Option<String>,
    #[serde(default)]
    pub sleeptime_agent_frequency: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
pub struct VoiceSleeptimeManagerUpdate {
    #[serde(default)]
    pub manager_agent_id: Option<String>,
    #[serde(default)]
    pub max_message_buffer_length: Option<i64>,
    #[serde(default)]
    pub min_message_buffer_length: Option<i64>,
}

/// Changes to a group's manager, by `manager_type` (which cannot change).
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(tag = "manager_type", rename_all = "snake_case")]
pub enum ManagerConfigUpdate {
    RoundRobin(RoundRobinManagerUpdate),
    Supervisor(SupervisorManagerUpdate),
    Dynamic(DynamicManagerUpdate),
    Sleeptime(SleeptimeManagerUpdate),
    VoiceSleeptime(VoiceSleeptimeManagerUpdate),
}

impl ManagerConfigUpdate {
    pub fn manager_type(&self) -> ManagerType {
        match self {
            ManagerConfigUpdate::RoundRobin(_) => ManagerType::RoundRobin,
            ManagerConfigUpdate::Supervisor(_) => ManagerType::Supervisor,
            ManagerConfigUpdate::Dynamic(_) => ManagerType::Dynamic,
            ManagerConfigUpdate::Sleeptime(_) => ManagerType::Sleeptime,
            ManagerConfigUpdate::VoiceSleeptime(_) => ManagerType::VoiceSleeptime,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
pub struct GroupCreate {
    /// The participants, in order.
    pub agent_ids: Vec<String>,
    pub description: String,
    #[serde(default)]
    #[schema(default = json!({"manager_type": "round_robin"}))]
    pub manager_config: ManagerConfig,
    /// Blocks to attach to every participant and to the manager.
    #[serde(default)]
    pub shared_block_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, ToSchema)]
pub struct GroupUpdate {
    #[serde(default)]
    pub agent_ids: Option<Vec<String>>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub manager_config: Option<ManagerConfigUpdate>,
    /// Accepted and ignored, as by the original: attach blocks to the agents instead.
    #[serde(default)]
    pub shared_block_ids: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manager_config_is_discriminated_by_manager_type() {
        let c: ManagerConfig = serde_json::from_str(
            r#"{"manager_type":"dynamic","manager_agent_id":"agent-1","extra":1}"#,
        )
        .unwrap();
        assert_eq!(
            c,
            ManagerConfig::Dynamic(DynamicManager {
                manager_agent_id: "agent-1".into(),
                termination_token: Some("DONE!".into()),
                max_turns: None,
            })
        );
        assert!(serde_json::from_str::<ManagerConfig>(r#"{"max_turns":3}"#).is_err());
        assert!(serde_json::from_str::<ManagerConfig>(r#"{"manager_type":"swarm"}"#).is_err());
        let g: GroupCreate = serde_json::from_str(r#"{"agent_ids":[],"description":""}"#).unwrap();
        assert_eq!(g.manager_config.manager_type(), ManagerType::RoundRobin);
    }
}
