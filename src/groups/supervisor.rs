//! `supervisor`: the manager answers the request; it is given
//! `send_message_to_all_agents_in_group` (created in the organization if missing, attached
//! every time) and, for this request only, rules that make it broadcast first and answer
//! right after. The broadcast reaches the workers through [`GroupCaller`]: their turns run
//! concurrently under this run (its cancellation stops them), each within the configured
//! worker timeout, and their usage is added to the group's.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{GroupManager, GroupRun, Tally};
use crate::agent::{
    AgentLoop, NullSink, RunContext, StreamMode, TurnOptions, TurnResult, response_messages,
};
use crate::schemas::letta_message::{LettaMessage, LettaUsageStatistics};
use crate::schemas::message::MessageCreate;
use crate::schemas::org::Actor;
use crate::schemas::tool_rule::{ChildToolRule, InitToolRule, TerminalToolRule, ToolRule};
use crate::services::{ServiceError, ServiceResult};
use crate::state::AppState;
use crate::tools::executor::AgentCaller;
use crate::tools::group_broadcast::{BROADCAST_TOOL, broadcast_tool};

pub(super) struct Supervisor;

#[async_trait]
impl GroupManager for Supervisor {
    async fn run(&self, g: &GroupRun<'_>) -> ServiceResult<TurnResult> {
        let manager = g.manager_named().await?;
        ensure_broadcast_tool(g.state, g.actor, &manager.id).await?;
        let reply_tool = g.opts.assistant_message_tool_name.clone();
        let caller = Arc::new(GroupCaller {
            state: g.state.clone(),
            run_id: g.run.run_id.clone(),
            cancel: g.run.cancel.clone(),
            group_id: g.group.id.clone(),
            own_turn: manager.id.clone(),
            outer: g.run.caller.clone(),
            lock_wait: g.state.config.group_member_wait(),
            // The workers' replies are read whole, whatever the client filters out.
            opts: TurnOptions {
                include_return_message_types: None,
                ..g.opts.clone()
            },
            usage: Mutex::default(),
        });
        let mut ctx = g.member_context(&manager);
        ctx.caller = Some(caller.clone());
        ctx.tool_rules = Some(vec![
            ToolRule::Init(InitToolRule {
                tool_name: BROADCAST_TOOL.into(),
                prompt_template: None,
            }),
            ToolRule::Terminal(TerminalToolRule {
                tool_name: reply_tool.clone(),
                prompt_template: None,
            }),
            ToolRule::Child(ChildToolRule {
                tool_name: BROADCAST_TOOL.into(),
                prompt_template: None,
                children: vec![reply_tool],
            }),
        ]);
        let mut tally = Tally::new(g.opts.max_steps);
        let turn = g.turn_in(&manager, g.inputs.clone(), &tally, &ctx).await?;
        let ended = tally.add(&turn);
        let workers = caller
            .usage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        // Workers' steps are counted in the usage, not against the manager's budget.
        let steps_left = tally.steps_left;
        tally.add_usage(&workers);
        tally.steps_left = steps_left;
        Ok(tally.finish(ended.unwrap_or(turn.stop_reason)))
    }
}

/// Creates the broadcast tool in the organization when missing and attaches it to the
/// manager when it lacks it.
async fn ensure_broadcast_tool(
    state: &AppState,
    actor: &Actor,
    manager_id: &str,
) -> ServiceResult<()> {
    let store = &state.store;
    let tool = match store
        .tools_by_names(&actor.organization_id, &[BROADCAST_TOOL.to_owned()])
        .await?
        .pop()
    {
        Some(tool) => tool,
        None => store
            .upsert_tools_by_name(&[broadcast_tool(actor)])
            .await?
            .pop()
            .ok_or_else(|| ServiceError::Internal("the broadcast tool was not stored".into()))?,
    };
    let agents =
        crate::services::agents::AgentService::new(&state.store, &state.config, &state.models);
    let attached = agents.tools_of(manager_id).await?;
    if !attached.iter().any(|t| t.id == tool.id) {
        store.attach_tool(manager_id, &tool.id).await?;
    }
    Ok(())
}

/// Runs the workers' turns for the supervisor's broadcast, under the group's run.
struct GroupCaller {
    state: AppState,
    run_id: String,
    cancel: tokio_util::sync::CancellationToken,
    group_id: String,
    /// The agent whose turn is calling (its lock is held: messaging it would wait forever).
    own_turn: String,
    /// How the workers' own tools reach other agents.
    outer: Option<Arc<dyn AgentCaller>>,
    lock_wait: std::time::Duration,
    opts: TurnOptions,
    usage: Mutex<LettaUsageStatistics>,
}

#[async_trait]
impl AgentCaller for GroupCaller {
    async fn send_message(
        &self,
        actor: &Actor,
        agent_id: &str,
        messages: Vec<MessageCreate>,
    ) -> ServiceResult<Vec<LettaMessage>> {
        if agent_id == self.own_turn {
            return Err(ServiceError::BadRequest(format!(
                "Agent {agent_id} is the one calling: it cannot be sent a message from its own turn"
            )));
        }
        let mut ctx = RunContext::new(
            self.run_id.clone(),
            self.cancel.clone(),
            StreamMode::Off,
            Arc::new(NullSink),
            self.outer.clone(),
        );
        ctx.group_id = Some(self.group_id.clone());
        ctx.lock_wait = Some(self.lock_wait);
        let turn = AgentLoop::new(&self.state)
            .run_turn(actor, agent_id, &messages, &self.opts, Some(&ctx))
            .await?;
        {
            let mut usage = self.usage.lock().unwrap_or_else(|e| e.into_inner());
            usage.prompt_tokens += turn.usage.prompt_tokens;
            usage.completion_tokens += turn.usage.completion_tokens;
            usage.total_tokens += turn.usage.total_tokens;
            usage.step_count += turn.usage.step_count;
        }
        response_messages(&turn.created, &self.opts)
    }

    /// A background send from the manager's turn is an ordinary background run.
    async fn send_message_async(
        &self,
        actor: &Actor,
        agent_id: &str,
        messages: Vec<MessageCreate>,
    ) -> ServiceResult<String> {
        match &self.outer {
            Some(outer) => outer.send_message_async(actor, agent_id, messages).await,
            None => Err(ServiceError::BadRequest(
                "Background sends are not available in this turn".into(),
            )),
        }
    }
}
