//! Message requests as runs: each request becomes a run executed by its own task, which
//! publishes the run's events to the hub; JSON answers await the task, SSE responses
//! subscribe to the events, async requests return at once. A client that goes away never
//! interrupts a run: it finishes (or is cancelled) and persists as if the client stayed.

mod sink;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::agent::{
    AgentLoop, RunContext, StreamMode, TurnOptions, TurnResult, response_messages, validate_inputs,
};
use crate::runs::{Frame, RemoteReader, RunHandle, frames};
use crate::schemas::common::{naive_utc, now};
use crate::schemas::letta_message::{
    LettaMessage, LettaRequest, LettaResponse, LettaStopReason, StopReasonType,
};
use crate::schemas::message::MessageCreate;
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::schemas::run::{JobStatus, JobType, LettaRequestConfig, Run};
use crate::services::{AppState, ServiceError, ServiceResult};
use crate::store::{Leftovers, Released};
use crate::tools::executor::AgentCaller;
use sink::RunSink;

/// Error recorded on runs whose process stopped before they ended.
const ABANDONED: &str = "The server executing this run stopped before it finished";

/// At start-up, before serving: releases at once what an earlier process of this replica left
/// (its agent leases, and its unfinished runs, marked failed). When this process is the only
/// replica (`alone`: no Redis to share runs through), everything unfinished is an orphan.
/// Other replicas' leftovers keep the timeout rule ([`recover_unfinished_runs`]).
pub async fn release_leftovers_at_start(state: &AppState, alone: bool) {
    let of = if alone {
        Leftovers::All
    } else {
        Leftovers::OlderIncarnations(&state.replica)
    };
    match state.store.release_leftovers(of, ABANDONED).await {
        Ok(Released { leases: 0, runs: 0 }) => {}
        Ok(released) => tracing::warn!(
            replica = %state.replica.name,
            leases = released.leases,
            runs = released.runs,
            "released the agent leases and failed the runs a stopped process of this replica left"
        ),
        Err(err) => {
            tracing::error!(error = %err, "could not release a stopped process's leftovers")
        }
    }
}

/// Marks runs abandoned by a crashed process as failed, now and periodically (a replica
/// that stays up also cleans up after one that crashed).
pub async fn recover_unfinished_runs(state: &AppState) {
    sweep_stale_runs(state).await;
    let state = state.clone();
    let every = state.config.run_stale_after() / 2;
    let hub = std::sync::Arc::downgrade(&state.runs);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every.max(Duration::from_millis(500))).await;
            if hub.upgrade().is_none() {
                return;
            }
            sweep_stale_runs(&state).await;
        }
    });
}

async fn sweep_stale_runs(state: &AppState) {
    let stale = chrono::Duration::from_std(state.config.run_stale_after())
        .unwrap_or_else(|_| chrono::Duration::seconds(60));
    match state
        .store
        .fail_unfinished_runs(now() - stale, ABANDONED)
        .await
    {
        Ok(0) => {}
        Ok(n) => {
            tracing::warn!(runs = n, "marked runs of a stopped process as failed");
            crate::meters::runs_finished(JobStatus::Failed.as_str(), n);
        }
        Err(err) => tracing::error!(error = %err, "could not recover unfinished runs"),
    }
}

/// At shutdown: cancels the runs still executing here and gives them a moment to record
/// their end.
pub async fn stop_local_runs(state: &AppState) {
    let n = state.runs.cancel_all_local();
    if n == 0 {
        return;
    }
    tracing::info!(runs = n, "cancelling runs in flight for shutdown");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while state.runs.running_here() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Message requests

/// The message routes' entry point: one run per request, executed by a task.
pub struct Dispatcher<'a> {
    state: &'a AppState,
}

/// What kind of message request a run serves (its `metadata.job_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RequestKind {
    Json,
    Stream,
    Async,
}

impl RequestKind {
    fn job_type(self) -> &'static str {
        match self {
            RequestKind::Json => "send_message",
            RequestKind::Stream => "send_message_streaming",
            RequestKind::Async => "send_message_async",
        }
    }
}

/// A subscription to a run's SSE frames.
pub struct RunStream {
    pub run_id: String,
    pub frames: futures_util::stream::BoxStream<'static, Frame>,
}

impl<'a> Dispatcher<'a> {
    pub fn new(state: &'a AppState) -> Self {
        Dispatcher { state }
    }

    /// `POST …/messages`: runs the turn and answers with what it produced.
    pub async fn send(
        &self,
        actor: &Actor,
        agent_id: &str,
        req: LettaRequest,
    ) -> ServiceResult<LettaResponse> {
        let opts = TurnOptions::from(&req);
        let (run, handle) = self
            .begin(
                actor,
                agent_id,
                &req.messages,
                &opts,
                RequestKind::Json,
                None,
            )
            .await?;
        let task = tokio::spawn(execute(RunTask {
            state: self.state.clone(),
            actor: actor.clone(),
            agent_id: agent_id.to_owned(),
            inputs: req.messages,
            opts: opts.clone(),
            run,
            handle,
            kind: RequestKind::Json,
            mode: StreamMode::Off,
        }));
        let turn = task
            .await
            .map_err(|e| ServiceError::Internal(format!("the run's task failed: {e}")))??;
        turn_response(&turn, &opts)
    }

    /// `POST …/messages/stream`: starts the run and subscribes to its events.
    pub async fn stream(
        &self,
        actor: &Actor,
        agent_id: &str,
        req: LettaRequest,
        stream_tokens: bool,
    ) -> ServiceResult<RunStream> {
        let opts = TurnOptions::from(&req);
        let (run, handle) = self
            .begin(
                actor,
                agent_id,
                &req.messages,
                &opts,
                RequestKind::Stream,
                None,
            )
            .await?;
        let run_id = run.id.clone();
        let log = self
            .state
            .runs
            .local_log(&run_id)
            .ok_or_else(|| ServiceError::Internal("the run's event log vanished".into()))?;
        let mode = if stream_tokens {
            StreamMode::Tokens
        } else {
            StreamMode::Steps
        };
        tokio::spawn(execute(RunTask {
            state: self.state.clone(),
            actor: actor.clone(),
            agent_id: agent_id.to_owned(),
            inputs: req.messages,
            opts,
            run,
            handle,
            kind: RequestKind::Stream,
            mode,
        }));
        Ok(RunStream {
            run_id,
            frames: local_frames(log, 0),
        })
    }

    /// `POST …/messages/async`: starts the run and returns it at once.
    pub async fn send_async(
        &self,
        actor: &Actor,
        agent_id: &str,
        req: LettaRequest,
        callback_url: Option<String>,
    ) -> ServiceResult<Run> {
        if let Some(url) = &callback_url {
            let valid = reqwest::Url::parse(url)
                .is_ok_and(|parsed| matches!(parsed.scheme(), "http" | "https"));
            if !valid {
                return Err(ServiceError::value_error(
                    &["body", "callback_url"],
                    "callback_url must be an absolute http or https URL",
                    json!(url),
                ));
            }
        }
        let opts = TurnOptions::from(&req);
        let (run, handle) = self
            .begin(
                actor,
                agent_id,
                &req.messages,
                &opts,
                RequestKind::Async,
                callback_url,
            )
            .await?;
        let answer = run.clone();
        tokio::spawn(execute(RunTask {
            state: self.state.clone(),
            actor: actor.clone(),
            agent_id: agent_id.to_owned(),
            inputs: req.messages,
            opts,
            run,
            handle,
            kind: RequestKind::Async,
            mode: StreamMode::Off,
        }));
        Ok(answer)
    }

    /// `POST …/messages/cancel`: cancels the given runs, or the agent's latest message run.
    pub async fn cancel(
        &self,
        actor: &Actor,
        agent_id: &str,
        run_ids: Option<Vec<String>>,
    ) -> ServiceResult<Map<String, Value>> {
        let ids = match run_ids.filter(|ids| !ids.is_empty()) {
            Some(ids) => ids,
            None => match self.state.runs.active_run(agent_id).await {
                Some(id) => vec![id],
                None => return Ok(Map::new()),
            },
        };
        let mut results = Map::new();
        for id in ids {
            let outcome = match self.state.runs().cancel(actor, &id).await {
                Ok(_) => "cancelled",
                Err(err) => {
                    tracing::debug!(run_id = %id, error = %err, "run not cancelled");
                    "failed"
                }
            };
            results.insert(id, json!(outcome));
        }
        Ok(results)
    }

    /// `GET /v1/runs/{run_id}/stream`: the run's events after the first `after` ones,
    /// then the live ones, wherever the run executes.
    pub async fn resume(
        &self,
        actor: &Actor,
        run_id: &str,
        after: u64,
    ) -> ServiceResult<RunStream> {
        let run = self
            .state
            .store
            .get_run(&actor.user_id, run_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound("Run not found".into()))?;
        let streamed = run
            .metadata
            .as_ref()
            .and_then(|m| m.get("job_type"))
            .is_some_and(|t| t == RequestKind::Stream.job_type());
        if !streamed {
            return Err(ServiceError::NotFound(format!(
                "Run {run_id} has no stream to resume: it was not a streaming run"
            )));
        }
        if let Some(log) = self.state.runs.local_log(run_id) {
            return Ok(RunStream {
                run_id: run.id,
                frames: local_frames(log, after as usize),
            });
        }
        // Not here: another replica's, read through Redis (a 503 while Redis is down).
        let reader = self.state.runs.remote_reader(run_id).await.map_err(|e| {
            ServiceError::Unavailable(format!(
                "Run {run_id} executes on another replica and cannot be followed now: {e}"
            ))
        })?;
        if let Some(reader) = reader {
            return Ok(RunStream {
                run_id: run.id.clone(),
                frames: remote_frames(self.state.clone(), reader, run.id, after),
            });
        }
        Err(ServiceError::NotFound(format!(
            "Run {run_id} has no stream to resume: its events are no longer kept"
        )))
    }

    /// Checks the request, records the run and registers it with the hub.
    async fn begin(
        &self,
        actor: &Actor,
        agent_id: &str,
        inputs: &[MessageCreate],
        opts: &TurnOptions,
        kind: RequestKind,
        callback_url: Option<String>,
    ) -> ServiceResult<(Run, RunHandle)> {
        validate_inputs(inputs)?;
        self.state.agents().row(actor, agent_id).await?;
        let ts = now();
        let mut metadata = Map::new();
        metadata.insert("job_type".into(), json!(kind.job_type()));
        metadata.insert("agent_id".into(), json!(agent_id));
        let run = Run {
            created_by_id: Some(actor.user_id.clone()),
            last_updated_by_id: Some(actor.user_id.clone()),
            created_at: Some(ts),
            updated_at: Some(ts),
            status: JobStatus::Created,
            completed_at: None,
            metadata: Some(metadata),
            job_type: JobType::Run,
            callback_url,
            callback_sent_at: None,
            callback_status_code: None,
            callback_error: None,
            id: new_id("run"),
            user_id: Some(actor.user_id.clone()),
            request_config: Some(LettaRequestConfig {
                use_assistant_message: opts.use_assistant_message,
                assistant_message_tool_name: opts.assistant_message_tool_name.clone(),
                assistant_message_tool_kwarg: opts.assistant_message_tool_kwarg.clone(),
                include_return_message_types: opts.include_return_message_types.clone(),
            }),
            agent_id: Some(agent_id.to_owned()),
            organization_id: actor.organization_id.clone(),
        };
        self.state
            .store
            .create_run_on(&run, &self.state.replica)
            .await?;
        if kind != RequestKind::Async {
            self.state.runs.set_active(agent_id, &run.id).await;
        }
        let handle = self.state.runs.start(&run.id);
        Ok((run, handle))
    }
}

fn turn_response(turn: &TurnResult, opts: &TurnOptions) -> ServiceResult<LettaResponse> {
    Ok(LettaResponse {
        messages: response_messages(&turn.created, opts)?,
        stop_reason: LettaStopReason::new(turn.stop_reason),
        usage: turn.usage.clone(),
    })
}

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
struct RunTask {
    state: AppState,
    actor: Actor,
    agent_id: String,
    inputs: Vec<MessageCreate>,
    opts: TurnOptions,
    run: Run,
    handle: RunHandle,
    kind: RequestKind,
    mode: StreamMode,
}

/// The body of a run's task: runs the turn, records the end, publishes the last frames.
async fn execute(task: RunTask) -> ServiceResult<TurnResult> {
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

fn callback_client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new)
}

/// POSTs the finished run to its callback URL; retries connection failures and 5xx
/// answers, then records what happened on the run.
async fn deliver_callback(state: &AppState, run: &Run) {
    let Some(url) = run.callback_url.as_deref() else {
        return;
    };
    let body = json!({
        "job_id": run.id,
        "status": run.status.as_str(),
        "completed_at": run.completed_at.as_ref().map(naive_utc::format),
        "metadata": run.metadata,
    });
    let timeout = Duration::from_secs(state.config.callback_timeout_secs.max(1));
    let attempts = state.config.callback_attempts.max(1);
    let mut outcome: Result<u16, String> = Err("not attempted".into());
    for attempt in 0..attempts {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(250 * 2u64.pow(attempt - 1))).await;
        }
        outcome = callback_client()
            .post(url)
            .json(&body)
            .timeout(timeout)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string());
        match &outcome {
            Ok(code) if *code < 500 => break,
            _ => {}
        }
    }
    let (code, error) = match outcome {
        Ok(code) => (Some(i64::from(code)), None),
        Err(err) => (
            None,
            Some(format!(
                "Failed to dispatch callback for job {} to {url}: {err}",
                run.id
            )),
        ),
    };
    if let Some(error) = &error {
        tracing::warn!(run_id = %run.id, error = %error, "callback failed");
    }
    if let Err(err) = state
        .store
        .record_callback(&run.id, now(), code, error.as_deref())
        .await
    {
        tracing::error!(run_id = %run.id, error = %err, "could not record the callback");
    }
}

/// Frames of a run executing (or just finished) on this replica.
fn local_frames(
    log: std::sync::Arc<crate::runs::EventLog>,
    after: usize,
) -> futures_util::stream::BoxStream<'static, Frame> {
    use futures_util::StreamExt;
    futures_util::stream::unfold((log, after), |(log, pos)| async move {
        let batch = log.read_after(pos).await;
        if batch.is_empty() {
            return None;
        }
        let next = pos + batch.len();
        Some((futures_util::stream::iter(batch), (log, next)))
    })
    .flatten()
    .fuse()
    .boxed()
}

/// Frames of a run executing on another replica, read from Redis. If that replica stops
/// before the run's log ends, the stream ends with an error frame once the run is
/// recorded as finished; if Redis fails, it ends with an error frame at once.
fn remote_frames(
    state: AppState,
    reader: RemoteReader,
    run_id: String,
    after: u64,
) -> futures_util::stream::BoxStream<'static, Frame> {
    use futures_util::StreamExt;
    struct Cursor {
        state: AppState,
        reader: RemoteReader,
        run_id: String,
        last: u64,
        done: bool,
    }
    let cursor = Cursor {
        state,
        reader,
        run_id,
        last: after,
        done: false,
    };
    futures_util::stream::unfold(cursor, |mut c| async move {
        if c.done {
            return None;
        }
        loop {
            let batch = match c.reader.read_after(c.last).await {
                Ok(batch) => batch,
                Err(err) => {
                    tracing::warn!(run_id = %c.run_id, error = %err, "lost the run's Redis stream");
                    c.done = true;
                    return Some((vec![Frame::from(frames::ERROR)], c));
                }
            };
            if let Some((seq, _)) = batch.frames.last() {
                c.last = *seq;
            }
            let got: Vec<Frame> = batch.frames.into_iter().map(|(_, f)| f).collect();
            if batch.ended {
                c.done = true;
                return (!got.is_empty()).then_some((got, c));
            }
            if !got.is_empty() {
                return Some((got, c));
            }
            // Nothing new: has the run ended without its log being closed (its replica
            // died)?
            let finished = match c.state.store.get_run_any(&c.run_id).await {
                Ok(Some(run)) => run.status.is_terminal(),
                Ok(None) => true,
                Err(_) => false,
            };
            if finished {
                c.done = true;
                return Some((vec![Frame::from(frames::ERROR)], c));
            }
        }
    })
    .flat_map(futures_util::stream::iter)
    .fuse()
    .boxed()
}
