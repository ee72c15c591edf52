//! The agent loop: one request to an agent runs steps until the agent yields. Each step
//! refreshes the system prompt, asks the model for one tool call, executes it, persists the
//! step's messages, and decides whether to continue (spec: agent-loop-and-messages §6).

use serde_json::Value;

use super::deltas::{DeltaOptions, StepDeltas};
use super::events::{RunContext, StreamMode, TurnEvent};
use super::exchange::{TurnOptions, TurnResult, response_messages};
use super::request::{chat_request, is_callable};
use super::step::{Continuation, StepWriter, continuation};
use super::summarizer;
use crate::llm::chat::{
    ChatModel, ChatRequest, ChatResponse, LlmError, LlmErrorKind, StreamCollector,
};
use crate::schemas::agent::AgentState;
use crate::schemas::common::now;
use crate::schemas::letta_message::{LettaMessage, LettaUsageStatistics, StopReasonType};
use crate::schemas::message::{Message, MessageCreate, MessageCreateRole, MessageRole, text_part};
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::schemas::run::JobStatus;
use crate::schemas::tool::Tool;
use crate::services::agents::AgentService;
use crate::services::messages::{ConvertOptions, convert_one};
use crate::services::prompts::{self, PromptInputs};
use crate::services::{ServiceError, ServiceResult};
use crate::state::AppState;
use crate::store::{AgentPatch, AgentRow, RelationSet};
use crate::tools::calls::{ParsedCall, parse_tool_call, truncate_output};
use crate::tools::executor::{ToolContext, ToolOutcome};
use crate::tools::registry::executor_for;
use crate::tools::rules::ToolRulesSolver;

/// How many times a context overflow is summarized away and the call retried.
const MAX_OVERFLOW_RETRIES: usize = 3;

pub struct AgentLoop<'a> {
    state: &'a AppState,
}

impl<'a> AgentLoop<'a> {
    pub fn new(state: &'a AppState) -> Self {
        AgentLoop { state }
    }

    /// Runs one turn while holding the agent's turn lock.
    pub async fn run_turn(
        &self,
        actor: &Actor,
        agent_id: &str,
        inputs: &[MessageCreate],
        opts: &TurnOptions,
        run: Option<&RunContext>,
    ) -> ServiceResult<TurnResult> {
        let acquire = self.state.turns.acquire(&self.state.store, agent_id);
        let _turn = match run {
            Some(run) => tokio::select! {
                guard = bounded(acquire, run.lock_wait, agent_id) => guard?,
                // Cancelled while queued behind another turn: nothing was written.
                () = run.cancel.cancelled() => return Ok(TurnResult {
                    created: Vec::new(),
                    stop_reason: StopReasonType::Cancelled,
                    usage: LettaUsageStatistics::default(),
                }),
            },
            None => acquire.await?,
        };
        let mut turn = Turn::load(self.state, actor, agent_id, run).await?;
        let inputs = turn.input_messages(inputs);
        turn.run(inputs, opts).await
    }

    /// `POST /v1/agents/{agent_id}/summarize`: summarizes the in-context messages now.
    pub async fn summarize(&self, actor: &Actor, agent_id: &str) -> ServiceResult<AgentState> {
        {
            let _turn = self
                .state
                .turns
                .acquire(&self.state.store, agent_id)
                .await?;
            let mut turn = Turn::load(self.state, actor, agent_id, None).await?;
            let context = std::mem::take(&mut turn.context);
            turn.context =
                summarizer::summarize_partial(self.state, actor, &turn.row, context).await?;
            turn.save_context_ids().await?;
        }
        AgentService::new(&self.state.store, &self.state.config, &self.state.models)
            .get(actor, agent_id, RelationSet::ALL)
            .await
    }
}

/// Waits for a turn lock, at most `wait` when given: past it the agent is reported busy.
async fn bounded<T>(
    acquire: impl std::future::Future<Output = ServiceResult<T>>,
    wait: Option<std::time::Duration>,
    agent_id: &str,
) -> ServiceResult<T> {
    let Some(wait) = wait else {
        return acquire.await;
    };
    match tokio::time::timeout(wait, acquire).await {
        Ok(guard) => guard,
        Err(_) => Err(ServiceError::Conflict(format!(
            "Agent {agent_id} is busy in another turn (waited {}s)",
            wait.as_secs()
        ))),
    }
}

/// The state of one turn in progress.
struct Turn<'a> {
    state: &'a AppState,
    actor: &'a Actor,
    row: AgentRow,
    tools: Vec<Tool>,
    /// The in-context messages, the system message first; grows as the turn runs.
    context: Vec<Message>,
    /// Persisted messages of the agent when the turn started.
    total_before: i64,
    run: Option<&'a RunContext>,
    /// The last model request, kept for the step's provider trace.
    trace: Option<super::trace::Captured>,
}

impl<'a> Turn<'a> {
    async fn load(
        state: &'a AppState,
        actor: &'a Actor,
        agent_id: &str,
        run: Option<&'a RunContext>,
    ) -> ServiceResult<Turn<'a>> {
        let agents = AgentService::new(&state.store, &state.config, &state.models);
        let mut row = agents.row(actor, agent_id).await?;
        if let Some(rules) = run.and_then(|r| r.tool_rules.clone()) {
            row.tool_rules = rules;
        }
        let tools = agents.tools_of(&row.id).await?;
        let context_ids: Vec<String> = if row.message_buffer_autoclear {
            row.message_ids.iter().take(1).cloned().collect()
        } else {
            row.message_ids.clone()
        };
        let context = state
            .store
            .get_messages(&row.organization_id, &context_ids)
            .await?;
        if context.first().map(|m| m.role) != Some(MessageRole::System) {
            return Err(ServiceError::BadRequest(format!(
                "Agent {agent_id} has no system message in context"
            )));
        }
        let total_before = state.store.count_agent_messages(&row.id).await?;
        Ok(Turn {
            state,
            actor,
            row,
            tools,
            context,
            total_before,
            run,
            trace: None,
        })
    }

    /// What writes this turn's steps: the agent, the actor, the run.
    fn writer(&self) -> StepWriter<'_> {
        StepWriter {
            row: &self.row,
            actor: self.actor,
            run_id: self.run_id(),
            group_id: self.run.and_then(|r| r.group_id.as_deref()),
        }
    }

    /// The request's messages as stored messages (not yet persisted): content as given.
    fn input_messages(&self, inputs: &[MessageCreate]) -> Vec<Message> {
        let ts = now();
        inputs
            .iter()
            .enumerate()
            .map(|(i, input)| {
                let role = match input.role {
                    MessageCreateRole::System => MessageRole::System,
                    _ => MessageRole::User,
                };
                let content = match &input.content {
                    crate::schemas::message::MessageContent::Text(t) => vec![text_part(t.clone())],
                    crate::schemas::message::MessageContent::Parts(parts) => parts.clone(),
                };
                let mut m = self.writer().message(
                    role,
                    content,
                    ts + chrono::Duration::microseconds(i as i64),
                );
                m.model = None;
                m.name = input.name.clone();
                m.otid = input.otid.clone();
                m.sender_id = input.sender_id.clone();
                m.group_id = input.group_id.clone();
                m.batch_item_id = input.batch_item_id.clone();
                m
            })
            .collect()
    }

    async fn run(&mut self, inputs: Vec<Message>, opts: &TurnOptions) -> ServiceResult<TurnResult> {
        let mut usage = LettaUsageStatistics::default();
        let mut created: Vec<Message> = Vec::new();
        let mut stop: Option<StopReasonType> = None;
        let mut pending_inputs = inputs.clone();
        self.context.extend(inputs.iter().cloned());
        let mut solver = ToolRulesSolver::new(&self.row.tool_rules);
        let max_steps = opts.max_steps.max(0);
        let outcome: ServiceResult<()> = async {
            for step_index in 0..max_steps {
                if self.is_cancelled().await? {
                    stop = Some(StopReasonType::Cancelled);
                    break;
                }
                self.refresh_system_prompt(false).await?;
                let candidates: Vec<String> = self
                    .tools
                    .iter()
                    .filter(|t| is_callable(t))
                    .map(|t| t.name().to_owned())
                    .collect();
                let last_output = self.last_tool_output();
                let allowed = solver.allowed_tools(&candidates, last_output.as_deref());
                let assistant_id = new_id("message");
                let Some(response) = self
                    .call_model_unless_cancelled(
                        &allowed,
                        &mut pending_inputs,
                        &mut created,
                        &assistant_id,
                        opts,
                    )
                    .await?
                else {
                    stop = Some(StopReasonType::Cancelled);
                    break;
                };
                usage.step_count += 1;
                usage.prompt_tokens += response.usage.prompt_tokens;
                usage.completion_tokens += response.usage.completion_tokens;
                usage.total_tokens += response.usage.total_tokens;
                let call = match parse_tool_call(&response) {
                    Ok(call) => call,
                    Err(err) => {
                        if self.mode() == StreamMode::Tokens {
                            self.emit_stop(if response.tool_calls.is_empty() {
                                StopReasonType::NoToolCall
                            } else {
                                StopReasonType::InvalidToolCall
                            });
                        }
                        return Err(err);
                    }
                };

                let attached = self.tools.iter().find(|t| t.name() == call.name).cloned();
                let violation = attached.is_none() || !allowed.contains(&call.name);
                let outcome = match attached.as_ref().filter(|_| !violation) {
                    None => ToolOutcome::error(solver.violation_message(&call.name, &allowed)),
                    Some(tool) => {
                        solver.record_call(&call.name);
                        self.execute_tool(tool, &call.args).await
                    }
                };

                let Continuation {
                    cont,
                    reason,
                    stop: step_stop,
                } = continuation(
                    &solver,
                    &call,
                    violation,
                    step_index == max_steps - 1,
                    &self.tools,
                );
                stop = step_stop;
                let writer = self.writer();
                let step = writer.record(&response);
                let messages = writer.messages(
                    &step.id,
                    &assistant_id,
                    &call,
                    &response,
                    &outcome,
                    cont.then(|| {
                        reason.clone().unwrap_or_else(|| {
                            if outcome.ok {
                                "Function called using request_heartbeat=true, returning control"
                                    .into()
                            } else {
                                "Function call failed, returning control".into()
                            }
                        })
                    }),
                );
                let mut batch = std::mem::take(&mut pending_inputs);
                created.extend(batch.iter().cloned());
                batch.extend(messages.iter().cloned());
                self.state
                    .store
                    .persist_step(Some(&step), &batch, self.run_id())
                    .await?;
                let captured = (self.trace.take(), self.actor.user_id.as_str());
                super::trace::record(self.state, &step, captured, &response).await;
                self.emit_step(&batch, &call, opts)?;
                self.context.extend(messages.iter().cloned());
                created.extend(messages);
                if outcome.memory_changed {
                    self.refresh_system_prompt(true).await?;
                }
                if !cont {
                    break;
                }
            }
            Ok(())
        }
        .await;

        if let Err(err) = outcome {
            // What completed steps persisted stays in context, so context and history agree;
            // inputs never persisted (the first model call failed) are dropped.
            if !self.row.message_buffer_autoclear {
                let unpersisted: Vec<String> =
                    pending_inputs.iter().map(|m| m.id.clone()).collect();
                self.context.retain(|m| !unpersisted.contains(&m.id));
                if let Err(save_err) = self.save_context_ids().await {
                    tracing::error!(agent_id = %self.row.id, error = %save_err, "could not save context after a failed turn");
                }
            }
            return Err(err);
        }
        if !pending_inputs.is_empty() {
            // No step completed (none allowed, or cancelled during the first): the input is
            // persisted so nothing the client sent is lost.
            self.state.store.insert_messages(&pending_inputs).await?;
            created.append(&mut pending_inputs);
        }
        if !self.row.message_buffer_autoclear {
            if usage.total_tokens > self.row.llm_config.context_window {
                let context = std::mem::take(&mut self.context);
                let summarized = summarizer::summarize_partial(
                    self.state,
                    self.actor,
                    &self.row,
                    context.clone(),
                )
                .await;
                self.context = match summarized {
                    Ok(list) => list,
                    Err(err) => {
                        tracing::warn!(agent_id = %self.row.id, error = %err, "summarization failed; keeping the full context");
                        context
                    }
                };
            }
            self.save_context_ids().await?;
        }
        Ok(TurnResult {
            created,
            stop_reason: stop.unwrap_or(StopReasonType::EndTurn),
            usage,
        })
    }

    async fn save_context_ids(&mut self) -> ServiceResult<()> {
        let ids: Vec<String> = self.context.iter().map(|m| m.id.clone()).collect();
        let patch = AgentPatch {
            message_ids: Some(ids.clone()),
            ..AgentPatch::default()
        };
        self.state
            .store
            .update_agent(&self.row.organization_id, &self.row.id, &patch)
            .await?;
        self.row.message_ids = ids;
        Ok(())
    }

    /// The `message` of the latest tool result in context (conditional rules read it).
    fn last_tool_output(&self) -> Option<String> {
        let m = self
            .context
            .iter()
            .rev()
            .find(|m| m.role == MessageRole::Tool)?;
        let parsed: Value = serde_json::from_str(m.text()?).ok()?;
        match parsed.get("message")? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// Recompiles the system prompt when the memory section changed (or always when
    /// `force`), and rewrites the system message in place.
    async fn refresh_system_prompt(&mut self, force: bool) -> ServiceResult<()> {
        let agents = AgentService::new(&self.state.store, &self.state.config, &self.state.models);
        let blocks = agents.blocks_of(&self.row.id).await?;
        let directories = agents.directories_of(&self.row.id).await?;
        let memory = prompts::render_memory(
            self.row.agent_type,
            &blocks,
            Some(&self.row.tool_rules),
            &directories,
        );
        let current = self.context[0].text().unwrap_or_default().to_owned();
        if !force && current.contains(&memory) {
            return Ok(());
        }
        let previous = (self.total_before - self.context.len() as i64).max(0);
        let archival = self.state.store.count_agent_passages(&self.row.id).await?;
        let compiled = prompts::compile_system_prompt(&PromptInputs {
            base: &self.row.system,
            agent_type: self.row.agent_type,
            blocks: &blocks,
            tool_rules: Some(&self.row.tool_rules),
            timezone: self.row.timezone.as_deref(),
            memory_edited_at: now(),
            previous_message_count: previous,
            archival_memory_size: archival,
            directories: &directories,
        });
        if compiled != current {
            let system = &mut self.context[0];
            system.content = vec![text_part(compiled)];
            system.updated_at = now();
            self.state.store.update_message_content(system).await?;
        }
        Ok(())
    }

    /// Calls the model unless the run is cancelled first or meanwhile; an in-flight request
    /// or stream is dropped (aborted) at once when the cancellation arrives.
    async fn call_model_unless_cancelled(
        &mut self,
        allowed: &[String],
        pending_inputs: &mut Vec<Message>,
        created: &mut Vec<Message>,
        assistant_id: &str,
        opts: &TurnOptions,
    ) -> ServiceResult<Option<ChatResponse>> {
        let Some(run) = self.run else {
            return self
                .call_model(allowed, pending_inputs, created, assistant_id, opts)
                .await
                .map(Some);
        };
        let cancel = run.cancel.clone();
        tokio::select! {
            biased;
            () = cancel.cancelled() => Ok(None),
            response = self.call_model(allowed, pending_inputs, created, assistant_id, opts) => {
                response.map(Some)
            }
        }
    }

    /// Calls the model; a context overflow is summarized away and retried.
    async fn call_model(
        &mut self,
        allowed: &[String],
        pending_inputs: &mut Vec<Message>,
        created: &mut Vec<Message>,
        assistant_id: &str,
        opts: &TurnOptions,
    ) -> ServiceResult<ChatResponse> {
        let keys = super::trace::chat_keys(self.state, &self.row).await?;
        let model = crate::llm::chat_model_for(&self.row.llm_config, &keys).map_err(upstream)?;
        let streaming = self.mode() == StreamMode::Tokens;
        let mut retries = 0;
        loop {
            let request = chat_request(&self.row, &self.tools, &self.context, self.actor, allowed);
            self.trace =
                super::trace::capture(self.state, &self.row.llm_config, &request, streaming, &keys);
            let answer = if streaming {
                self.stream_answer(model.as_ref(), &request, assistant_id, opts)
                    .await
            } else {
                model.complete(&request).await
            };
            match answer {
                Ok(response) => return Ok(response),
                Err(err)
                    if err.kind == LlmErrorKind::ContextLength
                        && retries < MAX_OVERFLOW_RETRIES =>
                {
                    retries += 1;
                    // Inputs are part of the context being summarized: persist them first.
                    if !pending_inputs.is_empty() {
                        self.state.store.insert_messages(pending_inputs).await?;
                        created.append(pending_inputs);
                    }
                    // On failure the context stays as it was: the turn's error path saves
                    // it, and an emptied one would lose the system message.
                    self.context = summarizer::summarize_partial(
                        self.state,
                        self.actor,
                        &self.row,
                        self.context.clone(),
                    )
                    .await?;
                    self.save_context_ids().await?;
                }
                Err(err) => return Err(upstream(err)),
            }
        }
    }

    /// Streams the model's answer, publishing each increment as it arrives.
    async fn stream_answer(
        &self,
        model: &dyn ChatModel,
        request: &ChatRequest,
        assistant_id: &str,
        opts: &TurnOptions,
    ) -> Result<ChatResponse, LlmError> {
        use futures_util::StreamExt;
        let mut stream = model.stream(request).await?;
        let endpoint = self.row.llm_config.model_endpoint_type.as_str();
        let mut deltas = StepDeltas::new(
            assistant_id.to_owned(),
            DeltaOptions {
                use_assistant_message: opts.use_assistant_message,
                assistant_tool: opts.assistant_message_tool_name.clone(),
                assistant_kwarg: opts.assistant_message_tool_kwarg.clone(),
                content_as_parts: matches!(endpoint, "anthropic" | "bedrock"),
            },
        );
        let mut collector = StreamCollector::default();
        while let Some(event) = stream.next().await {
            let event = match event {
                Ok(event) => event,
                Err(err) => {
                    // A failure once the stream is open is announced as a stop reason
                    // (unless the client filtered the types); one while opening is not.
                    if opts.include_return_message_types.is_none() {
                        self.emit_stop(StopReasonType::Error);
                    }
                    return Err(err);
                }
            };
            self.emit(deltas.on_event(&event));
            collector.push(&event);
        }
        self.emit(deltas.finish());
        Ok(collector.finish())
    }

    fn run_id(&self) -> Option<&str> {
        self.run.map(|r| r.run_id.as_str())
    }

    fn mode(&self) -> StreamMode {
        self.run.map_or(StreamMode::Off, |r| r.mode)
    }

    /// Whether the run was cancelled: by a signal to this task, or in the database (a
    /// cancel recorded by a replica whose signal did not arrive).
    async fn is_cancelled(&self) -> ServiceResult<bool> {
        let Some(run) = self.run else {
            return Ok(false);
        };
        if run.cancel.is_cancelled() {
            return Ok(true);
        }
        let record = self.state.store.get_run_any(&run.run_id).await?;
        Ok(record.is_some_and(|r| r.status == JobStatus::Cancelled))
    }

    /// Hands messages to the run's sink (a turn without a stream has none).
    fn emit(&self, messages: Vec<LettaMessage>) {
        let Some(run) = self.run.filter(|r| r.mode != StreamMode::Off) else {
            return;
        };
        for message in messages {
            run.sink.emit(TurnEvent::Message(message));
        }
    }

    /// Announces a stop reason mid-stream.
    fn emit_stop(&self, reason: StopReasonType) {
        if let Some(run) = self.run.filter(|r| r.mode != StreamMode::Off) {
            run.sink.emit(TurnEvent::Stop(reason));
        }
    }

    /// Runs one attached tool through the executor of its type and cuts its output to the
    /// tool's return limit.
    async fn execute_tool(
        &self,
        tool: &Tool,
        args: &serde_json::Map<String, Value>,
    ) -> ToolOutcome {
        let caller = self.run.and_then(|r| r.caller.as_deref());
        let ctx = ToolContext::new(self.state, self.actor, &self.row.id, caller);
        let mut outcome = executor_for(tool.tool_type).execute(&ctx, tool, args).await;
        outcome.message = truncate_output(tool.name(), outcome.message, tool.return_char_limit);
        outcome
    }

    /// After a step is persisted: step streaming shows all its messages but user ones;
    /// token streaming (which already showed the model's answer) shows the tool's result,
    /// unless the tool was the assistant tool.
    fn emit_step(
        &self,
        persisted: &[Message],
        call: &ParsedCall,
        opts: &TurnOptions,
    ) -> ServiceResult<()> {
        match self.mode() {
            StreamMode::Off => {}
            StreamMode::Steps => self.emit(response_messages(persisted, opts)?),
            StreamMode::Tokens => {
                if opts.use_assistant_message && call.name == opts.assistant_message_tool_name {
                    return Ok(());
                }
                let convert_opts = ConvertOptions {
                    use_assistant_message: opts.use_assistant_message,
                    tool_name: &opts.assistant_message_tool_name,
                    tool_kwarg: &opts.assistant_message_tool_kwarg,
                };
                for message in persisted.iter().filter(|m| m.role == MessageRole::Tool) {
                    self.emit(convert_one(message, convert_opts)?);
                }
            }
        }
        Ok(())
    }
}

fn upstream(err: LlmError) -> ServiceError {
    ServiceError::from(err)
}
