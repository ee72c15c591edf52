//! Message requests as runs: each request becomes a run executed by its own task, which
//! publishes the run's events to the hub; JSON answers await the task, SSE responses
//! subscribe to the events, async requests return at once. A client that goes away never
//! interrupts a run: it finishes (or is cancelled) and persists as if the client stayed.
//!
//! Every entry point says two things: whose turn the run executes ([`target`]: an agent's
//! own, or a group's) and how it is answered ([`Delivery`]); recording the run and starting
//! its task are shared.

mod batch;
mod callbacks;
mod execute;
mod recovery;
mod sink;
mod sleeptime;
mod target;

pub use batch::{cancel_batch, create_batch};
pub use recovery::{recover_unfinished_runs, release_leftovers_at_start, stop_local_runs};

use serde_json::{Map, Value, json};

use crate::agent::{StreamMode, TurnOptions, TurnResult, response_messages, validate_inputs};
use crate::runs::{Frame, RemoteReader, frames};
use crate::schemas::common::now;
use crate::schemas::letta_message::{LettaRequest, LettaResponse, LettaStopReason};
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::schemas::run::{JobStatus, JobType, LettaRequestConfig, Run};
use crate::services::agents::AgentService;
use crate::services::runs::RunService;
use crate::services::{ServiceError, ServiceResult};
use crate::state::AppState;
use execute::{CallChain, RunTask, execute};
use target::Target;

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
    /// A sleeptime agent's background run after its main agent's turn.
    Sleeptime,
}

impl RequestKind {
    fn job_type(self) -> &'static str {
        match self {
            RequestKind::Json => "send_message",
            RequestKind::Stream => "send_message_streaming",
            RequestKind::Async => "send_message_async",
            RequestKind::Sleeptime => crate::groups::sleeptime::SLEEPTIME_JOB_TYPE,
        }
    }
}

/// A subscription to a run's SSE frames.
pub struct RunStream {
    pub run_id: String,
    pub frames: futures_util::stream::BoxStream<'static, Frame>,
}

/// How a run is answered: the kind of request (its job type), what its task streams, who
/// waits on it and where its outcome is posted.
struct Delivery {
    kind: RequestKind,
    mode: StreamMode,
    chain: CallChain,
    callback_url: Option<String>,
}

impl Delivery {
    /// A JSON answer awaited by the caller (a client, or a tool up `chain`).
    fn json(chain: CallChain) -> Self {
        Delivery {
            kind: RequestKind::Json,
            mode: StreamMode::Off,
            chain,
            callback_url: None,
        }
    }

    /// Server-sent events: every step's messages, or the model's tokens as they come.
    fn stream(stream_tokens: bool) -> Self {
        Delivery {
            kind: RequestKind::Stream,
            mode: if stream_tokens {
                StreamMode::Tokens
            } else {
                StreamMode::Steps
            },
            chain: CallChain::default(),
            callback_url: None,
        }
    }

    /// A run nobody waits on (its callback, if any, gets the outcome).
    fn background(kind: RequestKind, callback_url: Option<String>) -> Self {
        Delivery {
            kind,
            mode: StreamMode::Off,
            chain: CallChain::default(),
            callback_url,
        }
    }
}

impl<'a> Dispatcher<'a> {
    pub fn new(state: &'a AppState) -> Self {
        Dispatcher { state }
    }

    /// `POST /v1/agents/{agent_id}/messages`: runs the turn (or the group the agent
    /// manages, see [`target`]) and answers with what it produced.
    pub async fn send(
        &self,
        actor: &Actor,
        agent_id: &str,
        req: LettaRequest,
    ) -> ServiceResult<LettaResponse> {
        let target = self.agent_target(actor, agent_id).await?;
        self.answer(actor, target, req, CallChain::default()).await
    }

    /// `POST /v1/groups/{group_id}/messages`: runs the group's turn as one run and answers
    /// with every member's messages.
    pub async fn send_group(
        &self,
        actor: &Actor,
        group_id: &str,
        req: LettaRequest,
    ) -> ServiceResult<LettaResponse> {
        let target = self.group_target(actor, group_id).await?;
        self.answer(actor, target, req, CallChain::default()).await
    }

    /// A multi-agent tool's call, which waits for the reply: the target agent's own turn
    /// (as Letta's tools run it), a run other runs up `chain` wait on.
    async fn send_chained(
        &self,
        actor: &Actor,
        agent_id: &str,
        req: LettaRequest,
        chain: CallChain,
    ) -> ServiceResult<LettaResponse> {
        self.answer(actor, Target::own_turn(agent_id), req, chain)
            .await
    }

    /// `POST /v1/agents/{agent_id}/messages/stream`: starts the run (the agent's turn, or
    /// the group it manages) and subscribes to its events.
    pub async fn stream(
        &self,
        actor: &Actor,
        agent_id: &str,
        req: LettaRequest,
        stream_tokens: bool,
    ) -> ServiceResult<RunStream> {
        let target = self.agent_target(actor, agent_id).await?;
        self.subscribe(actor, target, req, stream_tokens).await
    }

    /// `POST /v1/groups/{group_id}/messages/stream`: starts the group's run and subscribes
    /// to its events (every member's messages, named).
    pub async fn stream_group(
        &self,
        actor: &Actor,
        group_id: &str,
        req: LettaRequest,
        stream_tokens: bool,
    ) -> ServiceResult<RunStream> {
        let target = self.group_target(actor, group_id).await?;
        self.subscribe(actor, target, req, stream_tokens).await
    }

    /// The voice route: the agent's own turn, token-streamed, whatever group it manages
    /// (Letta's voice loop never runs a group).
    pub async fn stream_own_turn(
        &self,
        actor: &Actor,
        agent_id: &str,
        req: LettaRequest,
    ) -> ServiceResult<RunStream> {
        self.subscribe(actor, Target::own_turn(agent_id), req, true)
            .await
    }

    /// `POST /v1/agents/{agent_id}/messages/async`: starts the run (the agent's turn, or
    /// the group it manages) and returns it at once.
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
        let target = self.agent_target(actor, agent_id).await?;
        let delivery = Delivery::background(RequestKind::Async, callback_url);
        Ok(spawn_detached(
            self.begin(actor, target, req, delivery).await?,
        ))
    }

    /// A run of the agent's own turn that nobody waits on: a multi-agent tool's
    /// background send, or a sleeptime agent's turn after its main agent's.
    async fn start_own_turn(
        &self,
        actor: &Actor,
        agent_id: &str,
        req: LettaRequest,
        kind: RequestKind,
    ) -> ServiceResult<Run> {
        let delivery = Delivery::background(kind, None);
        let task = self
            .begin(actor, Target::own_turn(agent_id), req, delivery)
            .await?;
        Ok(spawn_detached(task))
    }

    /// Records the run, executes it and answers with what it produced.
    async fn answer(
        &self,
        actor: &Actor,
        target: Target,
        req: LettaRequest,
        chain: CallChain,
    ) -> ServiceResult<LettaResponse> {
        let task = self
            .begin(actor, target, req, Delivery::json(chain))
            .await?;
        let opts = task.opts.clone();
        let turn = tokio::spawn(execute(task))
            .await
            .map_err(|e| ServiceError::Internal(format!("the run's task failed: {e}")))??;
        turn_response(&turn, &opts)
    }

    /// Records the run, starts it and subscribes to its events from the first.
    async fn subscribe(
        &self,
        actor: &Actor,
        target: Target,
        req: LettaRequest,
        stream_tokens: bool,
    ) -> ServiceResult<RunStream> {
        let task = self
            .begin(actor, target, req, Delivery::stream(stream_tokens))
            .await?;
        let run_id = task.run.id.clone();
        let log = self
            .state
            .runs
            .local_log(&run_id)
            .ok_or_else(|| ServiceError::Internal("the run's event log vanished".into()))?;
        tokio::spawn(execute(task));
        Ok(RunStream {
            run_id,
            frames: local_frames(log, 0),
        })
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
            let outcome = match RunService::new(&self.state.store, &self.state.runs)
                .cancel(actor, &id)
                .await
            {
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

    /// Checks the request, records the run (a group's with its `group_id`), registers it
    /// with the hub and describes the task that executes it.
    async fn begin(
        &self,
        actor: &Actor,
        target: Target,
        req: LettaRequest,
        delivery: Delivery,
    ) -> ServiceResult<RunTask> {
        let Delivery {
            kind,
            mode,
            chain,
            callback_url,
        } = delivery;
        let Target { agent_id, group } = target;
        validate_inputs(&req.messages)?;
        AgentService::new(&self.state.store, &self.state.config, &self.state.models)
            .row(actor, &agent_id)
            .await?;
        let opts = TurnOptions::from(&req);
        let ts = now();
        let mut metadata = Map::new();
        metadata.insert("job_type".into(), json!(kind.job_type()));
        metadata.insert("agent_id".into(), json!(agent_id));
        if let Some(group) = &group {
            metadata.insert("group_id".into(), json!(group.id));
        }
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
            agent_id: Some(agent_id.clone()),
            organization_id: actor.organization_id.clone(),
        };
        self.state
            .store
            .create_run_on(&run, &self.state.replica)
            .await?;
        if !matches!(kind, RequestKind::Async | RequestKind::Sleeptime) {
            self.state.runs.set_active(&agent_id, &run.id).await;
        }
        let handle = self.state.runs.start(&run.id);
        Ok(RunTask {
            state: self.state.clone(),
            actor: actor.clone(),
            agent_id,
            inputs: req.messages,
            opts,
            run,
            handle,
            kind,
            mode,
            chain,
            group,
        })
    }
}

/// Starts a run's task that nobody awaits and answers its run. Not async on purpose: a
/// run's task starts background runs itself (sleeptime agents), and a plain function keeps
/// the task's future from containing its own type.
fn spawn_detached(task: RunTask) -> Run {
    let run = task.run.clone();
    tokio::spawn(execute(task));
    run
}

pub(super) fn turn_response(turn: &TurnResult, opts: &TurnOptions) -> ServiceResult<LettaResponse> {
    Ok(LettaResponse {
        messages: response_messages(&turn.created, opts)?,
        stop_reason: LettaStopReason::new(turn.stop_reason),
        usage: turn.usage.clone(),
    })
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
