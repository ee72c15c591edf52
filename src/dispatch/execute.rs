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
use crate::services::ServiceResult;
use crate::state::AppState;
use crate::tools::executor::AgentCaller;

/// Runs another agent's turn for a tool, as a JSON request of its own (its own run and
/// turn lock).
struct DispatchCaller {
    state: AppState,
}

#[async_trait::async_trait]
impl AgentCaller for DispatchCaller {
    async fn send_message(
        &self,
        actor: &Actor,
        agent_id: &str,
        messages: Vec<MessageCreate>,
    ) -> ServiceResult<Vec<LettaMessage>> {
        let req = LettaRequest::new(messages);
        let response = Dispatcher::new(&self.state)
            .send(actor, agent_id, req)
            .await?;
        Ok(response.messages)
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
    } = task;
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
    let ctx = RunContext {
        run_id: run.id.clone(),
        cancel: handle.cancel.clone(),
        mode,
        sink: sink.clone(),
        caller: Some(Arc::new(DispatchCaller {
            state: state.clone(),
        })),
    };
    let result = AgentLoop::new(&state)
        .run_turn(&actor, &agent_id, &inputs, &opts, Some(&ctx))
        .await;
    drop(heartbeat);
    if let Err(err) = &result {
        tracing::warn!(run_id = %run.id, %agent_id, error = %err, "run failed");
    }

    // The run's end is recorded before the last frame goes out, so a client that reads
    // the run after `[DONE]` sees it finished.
    record_end(&state, &mut run, &result, &opts, kind == RequestKind::Async).await;
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
async fn record_end(
    state: &AppState,
    run: &mut Run,
    result: &ServiceResult<TurnResult>,
    opts: &TurnOptions,
    is_async: bool,
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
            if is_async {
                let mut usage = turn.usage.clone();
                usage.run_ids = Some(vec![run.id.clone()]);
                let answer = turn_response(turn, opts).map(|mut r| {
                    r.usage = usage;
                    r
                });
                if let Ok(answer) = answer {
                    let mut metadata = Map::new();
                    metadata.insert("result".into(), json!(answer));
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
