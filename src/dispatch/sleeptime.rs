//! The sleeptime hook of a run (spec: groups-memory-tools §2.6): when the agent manages a
//! sleeptime group, its inputs carry the group's id, and once its turn has ended (never
//! while it is still answering) each due sleeptime agent starts a background run of its
//! own, listed with the runs; a failure there is recorded on that run.

use super::{Dispatcher, RequestKind};
use crate::agent::TurnResult;
use crate::groups::sleeptime::{self, BackgroundSend};
use crate::schemas::group::Group;
use crate::schemas::letta_message::{LettaRequest, StopReasonType};
use crate::schemas::message::MessageCreate;
use crate::schemas::org::Actor;
use crate::state::AppState;

/// The sleeptime group the agent's runs feed, if any; inputs are tagged with its id. A
/// failure to look it up is logged and the turn runs as an ordinary one.
pub(super) async fn prepare(
    state: &AppState,
    actor: &Actor,
    agent_id: &str,
    inputs: &mut [MessageCreate],
) -> Option<Group> {
    match sleeptime::sleeptime_group_of(state.store.as_ref(), actor, agent_id).await {
        Ok(Some(group)) => {
            sleeptime::tag_inputs(&group, inputs);
            Some(group)
        }
        Ok(None) => None,
        Err(err) => {
            tracing::warn!(%agent_id, error = %err, "could not look up the agent's sleeptime group");
            None
        }
    }
}

/// After the main turn: starts the due sleeptime agents' runs and notes their ids in the
/// turn's usage. A cancelled turn starts nothing.
pub(super) async fn after_turn(
    state: &AppState,
    actor: &Actor,
    group: &Group,
    agent_id: &str,
    turn: &mut TurnResult,
) {
    if turn.stop_reason == StopReasonType::Cancelled {
        return;
    }
    let sends = match sleeptime::after_main_turn(state.store.as_ref(), actor, group, agent_id, turn)
        .await
    {
        Ok(sends) => sends,
        Err(err) => {
            tracing::warn!(%agent_id, group_id = %group.id, error = %err, "sleeptime agents not started");
            return;
        }
    };
    let mut run_ids = Vec::new();
    for BackgroundSend { agent_id, messages } in sends {
        let req = LettaRequest::new(messages);
        match Dispatcher::new(state)
            .start_own_turn(actor, &agent_id, req, RequestKind::Sleeptime)
            .await
        {
            Ok(run) => run_ids.push(run.id),
            Err(err) => {
                tracing::warn!(%agent_id, group_id = %group.id, error = %err, "could not start a sleeptime agent's run")
            }
        }
    }
    if !run_ids.is_empty() {
        turn.usage.run_ids = Some(run_ids);
    }
}
