//! Whose turn a message request runs: the one place that decides where a message sent to an
//! agent goes (spec groups-memory-tools §2.5). A client's message to an agent that manages a
//! `supervisor` or `dynamic` group runs that group's pattern, recorded on the agent, exactly
//! as a send to the group would; any other agent (a participant, a `sleeptime` or
//! `voice_sleeptime` manager, an agent in no group) takes its own turn, and a sleeptime
//! manager's companions then run in the background (src/dispatch/sleeptime.rs).

use super::Dispatcher;
use crate::schemas::group::{Group, ManagerType};
use crate::schemas::org::Actor;
use crate::services::ServiceResult;
use crate::services::groups::GroupService;

/// What a run executes, and the agent it is recorded on (its active run, listed with its
/// runs).
#[derive(Debug, Clone)]
pub(super) struct Target {
    /// The agent the run is recorded on: the one messaged, or the group's driving agent.
    pub(super) agent_id: String,
    /// The group whose turn runs instead of the agent's own.
    pub(super) group: Option<Group>,
}

impl Target {
    /// The agent's own turn, whatever group it manages.
    pub(super) fn own_turn(agent_id: &str) -> Self {
        Target {
            agent_id: agent_id.to_owned(),
            group: None,
        }
    }
}

/// Whether a message sent to a group's manager runs the group's pattern. Round robin groups
/// have no manager; a sleeptime main agent answers with its own turn (its companions follow
/// in the background) and a voice agent's group is never run by the message routes.
fn manager_runs_the_group(kind: ManagerType) -> bool {
    match kind {
        ManagerType::Supervisor | ManagerType::Dynamic => true,
        ManagerType::RoundRobin
        | ManagerType::Sleeptime
        | ManagerType::VoiceSleeptime
        | ManagerType::Swarm => false,
    }
}

impl Dispatcher<'_> {
    /// Where a client's message to `agent_id` goes: the supervisor or dynamic group it
    /// manages (checked as a send to that group is, before any run is recorded), else its
    /// own turn. An unknown agent is its own turn here; recording the run answers the 404.
    pub(super) async fn agent_target(
        &self,
        actor: &Actor,
        agent_id: &str,
    ) -> ServiceResult<Target> {
        let managed = self
            .state
            .store
            .groups_managed_by(&[agent_id.to_owned()])
            .await?
            .into_iter()
            .find(|g| {
                g.organization_id == actor.organization_id && manager_runs_the_group(g.manager_type)
            });
        match managed {
            Some(group) => {
                crate::groups::driver_of(&group)?;
                Ok(Target {
                    agent_id: agent_id.to_owned(),
                    group: Some(group),
                })
            }
            None => Ok(Target::own_turn(agent_id)),
        }
    }

    /// A send to the group: its turn, recorded on the agent that drives it (the manager,
    /// else the first participant).
    pub(super) async fn group_target(
        &self,
        actor: &Actor,
        group_id: &str,
    ) -> ServiceResult<Target> {
        let group = GroupService::new(&self.state.store)
            .get(actor, group_id)
            .await?;
        let driver = crate::groups::driver_of(&group)?;
        Ok(Target {
            agent_id: driver,
            group: Some(group),
        })
    }
}
