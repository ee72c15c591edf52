//! The task that executes a run: status and heartbeat, the turn with its sink, the end
//! recorded before the last frame; and the `AgentCaller` that lets a tool run another
//! agent's turn as a run of its own.

use std::sync::Arc;

use serde_json::{Map, json};

use super::callbacks::deliver_callback;
use super::sink::RunSink;
use super::{Dispatcher, RequestKind, turn_response};
use crate::agent::{AgentLoop, RunContext, StreamMode, TurnOptions, TurnResult};
use crate::runs::RunHandle;
use crate::schemas::common::now;
use crate::schemas::letta_message::{LettaMessage, LettaRequest, StopReasonType};
use crate::schemas::message::MessageCreate;
use crate::schemas::org::Actor;
use crate::schemas::run::{JobStatus, Run};
use crate::services::{ServiceError, ServiceResult};
use crate::state::AppState;
use crate::tools::executor::AgentCaller;
use tokio_util::sync::CancellationToken;

/// Who waits on a run: the agents whose turns are blocked on it further up a chain of
/// multi-agent calls, and the calling run's cancellation (a cancel there reaches here).
#[derive(Clone, Default)]
pub(super) struct CallChain {
    pub(super) waiting: Vec<String>,
    pub(super) cancel: Option<CancellationToken>,
}

/// Runs another agent's turn for a tool, as a JSON request of its own (its own run and
/// turn lock), chained to the calling run.
struct DispatchCaller {
    state: AppState,
    /// The agents holding a turn up the chain, the calling agent last.
    chain: Vec<String>,
    /// The calling run's cancellation.
    cancel: CancellationToken,
}

#[async_trait::async_trait]
impl AgentCaller for DispatchCaller {
    async fn send_message(
        &self,
        actor: &Actor,
        agent_id: &str,
        messages: Vec<MessageCreate>,
    ) -> ServiceResult<Vec<LettaMessage>> {
        if self.chain.last().is_some_and(|me| me == agent_id) {
            return Err(ServiceError::Conflict(format!(
                "Agent {agent_id} cannot send a message to itself and wait for the reply: \
                 its own turn is still running"
            )));
        }
        if self.chain.iter().any(|held| held == agent_id) {
            return Err(ServiceError::Conflict(format!(
                "Agent {agent_id} is waiting for this agent's reply further up the call chain; \
                 calling it back and waiting would never end"
            )));
        }
        let chain = CallChain {
            waiting: self.chain.clone(),
            cancel: Some(self.cancel.clone()),
        };
        let req = LettaRequest::new(messages);
        let response = Dispatcher::new(&self.state)
            .send_chained(actor, agent_id, req, chain)
            .await?;
        Ok(response.messages)
    }

    async fn send_message_async(
        &self,
        actor: &Actor,
        agent_id: &str,
        messages: Vec<MessageCreate>,
    ) -> ServiceResult<String> {
        let req = LettaRequest::new(messages);
        let run = Dispatcher::new(&self.state)
            .start_own_turn(actor, agent_id, req, RequestKind::Async)
            .await?;
        Ok(run.id)
    }
}

/// What a run's task owns: the request it answers, the run it records and how it answers.
pub(super) struct RunTask {
    pub(super) state: AppState,
    pub(super) actor: Actor,
    pub(super) agent_id: String,
    pub(super) inputs: Vec<MessageCreate>,
    pub(super) opts: TurnOptions,
    pub(super) run: Run,
    pub(super) handle: RunHandle,
    pub(super) kind: RequestKind,
    pub(super) mode: StreamMode,
    pub(super) chain: CallChain,
    /// A group's request: the group's turn runs instead of `agent_id`'s (the run's agent).
    pub(super) group: Option<crate::schemas::group::Group>,
}

/// The body of a run's task: runs the turn, records the end, publishes the last frames.
pub(super) async fn execute(task: RunTask) -> ServiceResult<TurnResult> {
    let RunTask {
        state,
        actor,
        agent_id,
        inputs,
        opts,
        mut run,
        handle,
        kind,
        mode,
        chain,
        group,
    } = task;
    let mut inputs = inputs;
    // The agent's own turns, and its sleeptime group's sends, feed its sleeptime agents.
    let feeds_sleeptime = group
        .as_ref()
        .is_none_or(|g| g.manager_type == crate::schemas::group::ManagerType::Sleeptime);
    let sleeptime_group = if feeds_sleeptime {
        super::sleeptime::prepare(&state, &actor, &agent_id, &mut inputs).await
    } else {
        None
    };
    run.status = JobStatus::Running;
    run.updated_at = Some(now());
    if let Err(err) = state.store.update_run(&run).await {
        tracing::warn!(run_id = %run.id, error = %err, "could not mark the run running");
    }
    // Should the task die (a panic), subscribers still get an end and the heartbeat stops,
    // so the run is then recovered as abandoned.
    let sink = Arc::new(RunSink::new(
        handle.clone(),
        opts.include_return_message_types.clone(),
    ));
    let mut ending = EndGuard {
        hub: state.runs.clone(),
        handle: handle.clone(),
        sink: sink.clone(),
        published: false,
    };
    let heartbeat = AbortOnDrop({
        let store = state.store.clone();
        let run_id = run.id.clone();
        let cancel = handle.cancel.clone();
        let every = state.config.run_stale_after() / 3;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match store.touch_run(&run_id).await {
                    Ok(true) => {}
                    // Ended by someone else — a cancel whose Redis message never arrived
                    // (Redis down) or a delete: stop working on it.
                    Ok(false) => {
                        cancel.cancel();
                        return;
                    }
                    Err(err) => {
                        tracing::warn!(%run_id, error = %err, "could not record that the run is alive")
                    }
                }
            }
        })
    });
    // A run called by another run's tool stops when the caller is cancelled.
    let _follow_caller = chain.cancel.clone().map(|parent| {
        let own = handle.cancel.clone();
        AbortOnDrop(tokio::spawn(async move {
            tokio::select! {
                () = parent.cancelled() => own.cancel(),
                () = own.cancelled() => {}
            }
        }))
    });
    let chained = chain.cancel.is_some();
    let mut held = chain.waiting;
    held.push(agent_id.clone());
    let mut ctx = RunContext::new(
        run.id.clone(),
        handle.cancel.clone(),
        mode,
        sink.clone(),
        Some(Arc::new(DispatchCaller {
            state: state.clone(),
            chain: held,
            cancel: handle.cancel.clone(),
        })),
    );
    if chained {
        // A tool waits on this turn: a target busy elsewhere is reported busy in time.
        ctx.lock_wait = Some(state.config.group_member_wait());
    }
    let mut result = match &group {
        None => {
            AgentLoop::new(&state)
                .run_turn(&actor, &agent_id, &inputs, &opts, Some(&ctx))
                .await
        }
        Some(group) => crate::groups::run_group(&state, &actor, group, &inputs, &opts, &ctx).await,
    };
    if let (Some(group), Ok(turn)) = (&sleeptime_group, &mut result) {
        super::sleeptime::after_turn(&state, &actor, group, &agent_id, turn).await;
    }
    drop(heartbeat);
    if let Err(err) = &result {
        tracing::warn!(run_id = %run.id, %agent_id, error = %err, "run failed");
    }

    // The run's end is recorded before the last frame goes out, so a client that reads
    // the run after `[DONE]` sees it finished.
    record_end(&state, &mut run, &result, &opts, kind).await;
    if mode != StreamMode::Off {
        sink.end(&result);
    }
    ending.published = true;
    state.runs.finish(&handle);
    if run.callback_url.is_some() && run.status.is_terminal() {
        deliver_callback(&state, &run).await;
    }
    result
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Ends a run's event log with an error frame if its task stops without doing so.
struct EndGuard {
    hub: Arc<crate::runs::RunHub>,
    handle: RunHandle,
    sink: Arc<RunSink>,
    published: bool,
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        if !self.published {
            self.sink.fail();
            self.hub.finish(&self.handle);
        }
    }
}

/// Writes the run's terminal status. Async runs keep their result (or error) as metadata.
pub(super) async fn record_end(
    state: &AppState,
    run: &mut Run,
    result: &ServiceResult<TurnResult>,
    opts: &TurnOptions,
    kind: RequestKind,
) {
    let ts = now();
    run.completed_at = Some(ts);
    run.updated_at = Some(ts);
    match result {
        Ok(turn) => {
            run.status = if turn.stop_reason == StopReasonType::Cancelled {
                JobStatus::Cancelled
            } else {
                JobStatus::Completed
            };
            if matches!(kind, RequestKind::Async | RequestKind::Sleeptime) {
                let mut usage = turn.usage.clone();
                usage.run_ids = Some(vec![run.id.clone()]);
                let answer = turn_response(turn, opts).map(|mut r| {
                    r.usage = usage;
                    r
                });
                if let Ok(answer) = answer {
                    let mut metadata = Map::new();
                    metadata.insert("result".into(), json!(answer));
                    if kind == RequestKind::Sleeptime {
                        metadata.insert("agent_id".into(), json!(run.agent_id));
                    }
                    run.metadata = Some(metadata);
                }
            }
        }
        Err(err) => {
            run.status = JobStatus::Failed;
            let mut metadata = Map::new();
            metadata.insert("error".into(), json!(err.to_string()));
            run.metadata = Some(metadata);
        }
    }
    match state.store.update_run(run).await {
        Ok(true) => {}
        Ok(false) => {
            // Someone ended it first (a cancel): report what the record says.
            if let Ok(Some(current)) = state.store.get_run_any(&run.id).await {
                *run = current;
            }
        }
        Err(err) => {
            tracing::error!(run_id = %run.id, error = %err, "could not record the run's end")
        }
    }
    crate::meters::runs_finished(run.status.as_str(), 1);
}
