//! The agent loop: one request to an agent runs steps until the agent yields. Each step
//! refreshes the system prompt, asks the model for one tool call, executes it, persists the
//! step's messages, and decides whether to continue (spec: agent-loop-and-messages §6).

use serde_json::{Map, Value, json};

use super::agents::{json_python_style, package_tool_response};
use super::core_tools::{self, ToolContext, ToolOutcome};
use super::messages::{ConvertOptions, convert, convert_one};
use super::prompts::{self, PromptInputs};
use super::stream_deltas::{DeltaOptions, StepDeltas};
use super::summarizer;
use super::tool_rules::ToolRulesSolver;
use super::{AppState, ServiceError, ServiceResult};
use crate::llm::chat::{
    ChatContent, ChatMessage, ChatModel, ChatRequest, ChatResponse, ChatToolCall, LlmError,
    LlmErrorKind, ReasoningOptions, ReasoningPart, StreamCollector, ToolChoice, ToolDefinition,
};
use crate::runs::{RunHandle, frames};
use crate::schemas::Timestamp;
use crate::schemas::agent::AgentState;
use crate::schemas::common::now;
use crate::schemas::letta_message::{
    LettaMessage, LettaRequest, LettaStopReason, LettaUsageStatistics, StopReasonType,
};
use crate::schemas::llm_config::LlmConfig;
use crate::schemas::message::{
    FunctionCall, Message, MessageCreate, MessageCreateRole, MessageRole, ToolCall,
    ToolReturnRecord, text_part,
};
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::schemas::run::{JobStatus, Step};
use crate::schemas::tool::{Tool, ToolType};
use crate::store::{AgentPatch, AgentRow, RelationSet};

const HEARTBEAT_PREFIX: &str = "[This is an automated system message hidden from the user] ";
const INNER_THOUGHTS_DESCRIPTION: &str = "Deep inner monologue private to you only.";
const HEARTBEAT_DESCRIPTION: &str = "Request an immediate heartbeat after function execution. Set to `True` if you want to send a follow-up message or run a follow-up function.";
/// Tools whose output is already paged and is never cut to the return limit.
const UNTRUNCATED_TOOLS: &[&str] = &[
    "conversation_search",
    "conversation_search_date",
    "archival_memory_search",
];
/// How many times a context overflow is summarized away and the call retried.
const MAX_OVERFLOW_RETRIES: usize = 3;

/// Tool types the loop offers to the model.
fn is_callable(tool: &Tool) -> bool {
    !matches!(tool.tool_type, ToolType::ExternalLangchain)
}

pub struct AgentLoop<'a> {
    state: &'a AppState,
}

/// Options of one turn beyond the input messages.
#[derive(Debug, Clone)]
pub struct TurnOptions {
    pub max_steps: i64,
    pub use_assistant_message: bool,
    pub assistant_message_tool_name: String,
    pub assistant_message_tool_kwarg: String,
    pub include_return_message_types: Option<Vec<String>>,
}

/// How a turn shows its progress while it runs (spec §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamMode {
    /// Nothing is published; the caller answers with the finished turn.
    Off,
    /// Each step's messages are published once the step is persisted.
    Steps,
    /// The model's answer is published token by token, then each tool's result.
    Tokens,
}

/// The run a turn executes under: its record's id and the hub handle that carries its
/// events and its cancellation.
pub struct RunContext {
    pub run_id: String,
    pub handle: RunHandle,
    pub mode: StreamMode,
}

impl From<&LettaRequest> for TurnOptions {
    fn from(req: &LettaRequest) -> Self {
        TurnOptions {
            max_steps: req.max_steps,
            use_assistant_message: req.use_assistant_message,
            assistant_message_tool_name: req.assistant_message_tool_name.clone(),
            assistant_message_tool_kwarg: req.assistant_message_tool_kwarg.clone(),
            include_return_message_types: req
                .include_return_message_types
                .as_ref()
                .map(|types| types.iter().map(|t| t.as_str().to_owned()).collect()),
        }
    }
}

/// What a finished turn produced.
#[derive(Debug, Clone)]
pub struct TurnResult {
    /// Every message the turn created (inputs included), in creation order.
    pub created: Vec<Message>,
    pub stop_reason: StopReasonType,
    pub usage: LettaUsageStatistics,
}

/// The model's tool call after lenient parsing.
struct ParsedCall {
    id: String,
    name: String,
    args: Map<String, Value>,
    request_heartbeat: bool,
    inner_thoughts: Option<String>,
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
                guard = acquire => guard?,
                // Cancelled while queued behind another turn: nothing was written.
                () = run.handle.cancel.cancelled() => return Ok(TurnResult {
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
        self.state
            .agents()
            .get(actor, agent_id, RelationSet::ALL)
            .await
    }
}

/// Checks the inputs before anything is written.
pub fn validate_inputs(messages: &[MessageCreate]) -> ServiceResult<()> {
    for (i, m) in messages.iter().enumerate() {
        if m.role == MessageCreateRole::Assistant {
            return Err(ServiceError::value_error(
                &["body", "messages", &i.to_string(), "role"],
                "assistant messages cannot be sent to an agent; send user or system messages",
                json!("assistant"),
            ));
        }
        if m.content.to_text().is_empty()
            && matches!(m.content, crate::schemas::message::MessageContent::Text(_))
        {
            return Err(ServiceError::value_error(
                &["body", "messages", &i.to_string(), "content"],
                "message content must not be empty",
                json!(""),
            ));
        }
    }
    Ok(())
}

/// The LettaMessages a turn answers with: everything it created but user messages,
/// filtered by the requested types.
pub fn response_messages(
    created: &[Message],
    opts: &TurnOptions,
) -> ServiceResult<Vec<LettaMessage>> {
    let shown: Vec<Message> = created
        .iter()
        .filter(|m| m.role != MessageRole::User)
        .cloned()
        .collect();
    let mut out = convert(
        &shown,
        ConvertOptions {
            use_assistant_message: opts.use_assistant_message,
            tool_name: &opts.assistant_message_tool_name,
            tool_kwarg: &opts.assistant_message_tool_kwarg,
        },
    )?;
    if let Some(types) = &opts.include_return_message_types {
        out.retain(|m| types.iter().any(|t| t == m.message_type()));
    }
    Ok(out)
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
}

impl<'a> Turn<'a> {
    async fn load(
        state: &'a AppState,
        actor: &'a Actor,
        agent_id: &str,
        run: Option<&'a RunContext>,
    ) -> ServiceResult<Turn<'a>> {
        let row = state.agents().row(actor, agent_id).await?;
        let tools = state.agents().tools_of(&row.id).await?;
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
        })
    }

    fn message(&self, role: MessageRole, content: Vec<Value>, ts: Timestamp) -> Message {
        Message::new(
            &self.row.organization_id,
            &self.row.id,
            &self.actor.user_id,
            role,
            content,
            Some(self.row.llm_config.model.clone()),
            ts,
        )
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
                let mut m =
                    self.message(role, content, ts + chrono::Duration::microseconds(i as i64));
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

    fn time(&self) -> String {
        prompts::format_agent_time(now(), self.row.timezone.as_deref())
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
                let outcome = if violation {
                    ToolOutcome::error(solver.violation_message(&call.name, &allowed))
                } else {
                    solver.record_call(&call.name);
                    let ctx = ToolContext {
                        state: self.state,
                        actor: self.actor,
                        agent_id: &self.row.id,
                    };
                    let mut outcome = core_tools::execute(&ctx, &call.name, &call.args).await;
                    if let Some(tool) = &attached {
                        outcome.message =
                            truncate_output(&call.name, outcome.message, tool.return_char_limit);
                    }
                    outcome
                };

                // Continuation (§6.4).
                let mut cont = call.request_heartbeat;
                let mut reason: Option<String> = None;
                if violation {
                    cont = true;
                    reason = Some("Continuing: tool rule violation.".into());
                } else if solver.is_terminal(&call.name) {
                    if cont {
                        stop = Some(StopReasonType::ToolRule);
                    }
                    cont = false;
                } else if solver.has_children_rule(&call.name) {
                    cont = true;
                    reason = Some("Continuing: child tool rule.".into());
                } else if solver.is_continue(&call.name) {
                    cont = true;
                    reason = Some("Continuing: continue tool rule.".into());
                }
                if step_index == max_steps - 1 {
                    cont = false;
                    stop = Some(StopReasonType::MaxSteps);
                } else if !cont {
                    let attached_names: Vec<String> =
                        self.tools.iter().map(|t| t.name().to_owned()).collect();
                    let pending = solver.required_before_exit_pending(&attached_names);
                    if !pending.is_empty() {
                        cont = true;
                        reason = Some(format!(
                            "Continuing, user expects these tools: [{}] to be called still.",
                            pending.join(", ")
                        ));
                        stop = None;
                    }
                }

                let step = self.step_record(&response);
                let messages = self.step_messages(
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
        let blocks = self.state.agents().blocks_of(&self.row.id).await?;
        let memory =
            prompts::render_memory(self.row.agent_type, &blocks, Some(&self.row.tool_rules));
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
        let cancel = run.handle.cancel.clone();
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
        let model = crate::llm::chat_model_for(&self.row.llm_config, &self.state.providers)
            .map_err(upstream)?;
        let streaming = self.mode() == StreamMode::Tokens;
        let mut retries = 0;
        loop {
            let request = self.chat_request(allowed);
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
            self.emit(deltas.on_event(&event), opts);
            collector.push(&event);
        }
        self.emit(deltas.finish(), opts);
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
        if run.handle.cancel.is_cancelled() {
            return Ok(true);
        }
        let record = self.state.store.get_run_any(&run.run_id).await?;
        Ok(record.is_some_and(|r| r.status == JobStatus::Cancelled))
    }

    /// Publishes messages to the run's subscribers, filtered by the requested types.
    fn emit(&self, messages: Vec<LettaMessage>, opts: &TurnOptions) {
        let Some(run) = self.run.filter(|r| r.mode != StreamMode::Off) else {
            return;
        };
        for message in messages {
            if let Some(types) = &opts.include_return_message_types
                && !types.iter().any(|t| t == message.message_type())
            {
                continue;
            }
            run.handle.publish(frames::data(&message));
        }
    }

    /// Publishes a stop reason (never filtered).
    fn emit_stop(&self, reason: StopReasonType) {
        if let Some(run) = self.run.filter(|r| r.mode != StreamMode::Off) {
            run.handle
                .publish(frames::data(&LettaStopReason::new(reason)));
        }
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
            StreamMode::Steps => self.emit(response_messages(persisted, opts)?, opts),
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
                    self.emit(convert_one(message, convert_opts)?, opts);
                }
            }
        }
        Ok(())
    }

    fn chat_request(&self, allowed: &[String]) -> ChatRequest {
        let llm = &self.row.llm_config;
        let kwargs_thoughts = llm.put_inner_thoughts_in_kwargs.unwrap_or(true);
        let tools: Vec<ToolDefinition> = self
            .tools
            .iter()
            .filter(|t| allowed.iter().any(|a| a == t.name()))
            .filter_map(|t| tool_definition(t, kwargs_thoughts, self.row.response_format.as_ref()))
            .collect();
        let tool_choice = if tools.is_empty() {
            ToolChoice::Unset
        } else if tools.len() == 1 {
            ToolChoice::Named(tools[0].name.clone())
        } else if matches!(llm.model_endpoint_type.as_str(), "together" | "vllm") {
            ToolChoice::Auto
        } else {
            ToolChoice::Required
        };
        ChatRequest {
            model: llm.model.clone(),
            messages: self
                .context
                .iter()
                .filter_map(|m| to_chat_message(m, kwargs_thoughts))
                .collect(),
            tools,
            tool_choice,
            temperature: Some(llm.temperature),
            max_tokens: llm.max_tokens,
            frequency_penalty: llm.frequency_penalty,
            user: Some(self.actor.user_id.clone()),
            parallel_tool_calls: Some(false),
            reasoning: ReasoningOptions {
                enabled: llm.enable_reasoner,
                max_reasoning_tokens: (llm.max_reasoning_tokens > 0)
                    .then_some(llm.max_reasoning_tokens),
                effort: llm.reasoning_effort.clone(),
            },
        }
    }

    fn step_record(&self, response: &ChatResponse) -> Step {
        let llm: &LlmConfig = &self.row.llm_config;
        Step {
            id: new_id("step"),
            origin: None,
            organization_id: Some(self.row.organization_id.clone()),
            provider_id: None,
            job_id: self.run_id().map(str::to_owned),
            agent_id: Some(self.row.id.clone()),
            provider_name: Some(llm.model_endpoint_type.clone()),
            provider_category: Some(
                llm.provider_category
                    .map(|c| {
                        if c == crate::schemas::llm_config::ProviderCategory::Byok {
                            "byok"
                        } else {
                            "base"
                        }
                    })
                    .unwrap_or("base")
                    .to_owned(),
            ),
            model: Some(llm.model.clone()),
            model_endpoint: llm.model_endpoint.clone(),
            context_window_limit: Some(llm.context_window),
            completion_tokens: Some(response.usage.completion_tokens),
            prompt_tokens: Some(response.usage.prompt_tokens),
            total_tokens: Some(response.usage.total_tokens),
            completion_tokens_details: None,
            tags: Vec::new(),
            tid: None,
            trace_id: None,
            messages: Vec::new(),
            feedback: None,
            project_id: self.row.project_id.clone(),
            created_at: Some(now()),
        }
    }

    /// The assistant message, the tool result and, when continuing, a heartbeat.
    fn step_messages(
        &self,
        step_id: &str,
        assistant_id: &str,
        call: &ParsedCall,
        response: &ChatResponse,
        outcome: &ToolOutcome,
        heartbeat_reason: Option<String>,
    ) -> Vec<Message> {
        let ts = now();
        let time = self.time();
        let mut content: Vec<Value> = Vec::new();
        if !response.reasoning.is_empty() {
            for part in &response.reasoning {
                content.push(match part {
                    ReasoningPart::Reasoning { text, signature } => {
                        json!({"type": "reasoning", "is_native": true, "reasoning": text, "signature": signature})
                    }
                    ReasoningPart::Redacted { data } => json!({"type": "redacted_reasoning", "data": data}),
                });
            }
        } else if let Some(thoughts) = call.inner_thoughts.as_ref().or(response.content.as_ref())
            && !thoughts.is_empty()
        {
            content.push(text_part(thoughts.clone()));
        }
        let mut stored_args = call.args.clone();
        stored_args.insert(
            "request_heartbeat".into(),
            Value::Bool(heartbeat_reason.is_some()),
        );
        let mut assistant = self.message(MessageRole::Assistant, content, ts);
        assistant.id = assistant_id.to_owned();
        assistant.tool_calls = vec![ToolCall {
            id: call.id.clone(),
            kind: "function".into(),
            function: FunctionCall {
                name: call.name.clone(),
                arguments: json_python_style(&Value::Object(stored_args)),
            },
        }];
        assistant.tool_call_id = Some(call.id.clone());
        assistant.step_id = Some(step_id.to_owned());

        let mut tool = self.message(
            MessageRole::Tool,
            vec![text_part(package_tool_response(
                outcome.ok,
                Some(&outcome.message),
                &time,
            ))],
            ts + chrono::Duration::microseconds(1),
        );
        tool.name = Some(call.name.clone());
        tool.tool_call_id = Some(call.id.clone());
        tool.step_id = Some(step_id.to_owned());
        tool.tool_returns = vec![ToolReturnRecord {
            status: if outcome.ok { "success" } else { "error" }.into(),
            stdout: outcome.stdout.clone(),
            stderr: outcome.stderr.clone(),
        }];
        let mut out = vec![assistant, tool];
        if let Some(reason) = heartbeat_reason {
            let body = serde_json::to_string_pretty(&json!({
                "type": "heartbeat",
                "reason": format!("{HEARTBEAT_PREFIX}{reason}"),
                "time": time,
            }))
            .unwrap_or_default();
            let mut heartbeat = self.message(
                MessageRole::User,
                vec![text_part(body)],
                ts + chrono::Duration::microseconds(2),
            );
            heartbeat.model = None;
            heartbeat.step_id = Some(step_id.to_owned());
            out.push(heartbeat);
        }
        out
    }
}

fn upstream(err: LlmError) -> ServiceError {
    ServiceError::from(err)
}

/// A stored message as the model sees it. Inner thoughts go back into the tool-call
/// arguments when the agent keeps them there.
pub fn to_chat_message(m: &Message, kwargs_thoughts: bool) -> Option<ChatMessage> {
    let texts: Vec<&str> = m
        .content
        .iter()
        .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect();
    let text = texts.join("\n");
    Some(match m.role {
        MessageRole::System => ChatMessage::System { content: text },
        MessageRole::User => {
            let has_images = m
                .content
                .iter()
                .any(|p| p.get("type").and_then(Value::as_str) == Some("image"));
            if has_images {
                let parts = m
                    .content
                    .iter()
                    .filter_map(|p| match p.get("type").and_then(Value::as_str) {
                        Some("text") => Some(json!({"type": "text", "text": p.get("text")})),
                        Some("image") => image_part(p),
                        _ => None,
                    })
                    .collect();
                ChatMessage::User {
                    content: ChatContent::Parts(parts),
                }
            } else {
                ChatMessage::User {
                    content: ChatContent::Text(text),
                }
            }
        }
        MessageRole::Assistant => {
            let reasoning: Vec<ReasoningPart> = m
                .content
                .iter()
                .filter_map(|p| match p.get("type").and_then(Value::as_str) {
                    Some("reasoning") => Some(ReasoningPart::Reasoning {
                        text: p
                            .get("reasoning")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        signature: p
                            .get("signature")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    }),
                    Some("redacted_reasoning") => Some(ReasoningPart::Redacted {
                        data: p
                            .get("data")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                    }),
                    _ => None,
                })
                .collect();
            let thoughts = (!text.is_empty()).then(|| text.clone());
            let tool_calls: Vec<ChatToolCall> = m
                .tool_calls
                .iter()
                .map(|call| {
                    let arguments = match (&thoughts, kwargs_thoughts) {
                        (Some(t), true) => {
                            let parsed: Map<String, Value> =
                                serde_json::from_str(&call.function.arguments).unwrap_or_default();
                            let mut with = Map::new();
                            with.insert("inner_thoughts".into(), json!(t));
                            with.extend(parsed);
                            serde_json::to_string_pretty(&Value::Object(with)).unwrap_or_default()
                        }
                        _ => call.function.arguments.clone(),
                    };
                    ChatToolCall {
                        id: call.id.clone(),
                        name: call.function.name.clone(),
                        arguments,
                    }
                })
                .collect();
            let content = if tool_calls.is_empty() || !kwargs_thoughts {
                thoughts
            } else {
                None
            };
            ChatMessage::Assistant {
                content,
                tool_calls,
                reasoning,
            }
        }
        MessageRole::Tool => ChatMessage::Tool {
            tool_call_id: m.tool_call_id.clone().unwrap_or_default(),
            name: m.name.clone(),
            content: text,
        },
    })
}

fn image_part(p: &Value) -> Option<Value> {
    let source = p.get("source")?;
    let url = match source.get("type").and_then(Value::as_str)? {
        "url" => source.get("url")?.as_str()?.to_owned(),
        _ => format!(
            "data:{};base64,{}",
            source
                .get("media_type")
                .and_then(Value::as_str)
                .unwrap_or("image/png"),
            source.get("data").and_then(Value::as_str)?
        ),
    };
    let detail = source
        .get("detail")
        .and_then(Value::as_str)
        .unwrap_or("auto");
    Some(json!({"type": "image_url", "image_url": {"url": url, "detail": detail}}))
}

/// The schema sent for a tool: strict structured-output form, `request_heartbeat` on every
/// tool but send_message, and `inner_thoughts` first when thoughts travel in arguments.
pub fn tool_definition(
    tool: &Tool,
    kwargs_thoughts: bool,
    response_format: Option<&Value>,
) -> Option<ToolDefinition> {
    let schema = tool.json_schema.as_ref()?;
    let name = schema
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or(tool.name())
        .to_owned();
    let description = schema
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or(tool.description.clone());
    let params = schema
        .get("parameters")
        .cloned()
        .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
    let mut properties: Map<String, Value> = params
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if name == "send_message"
        && let Some(format) = response_format
    {
        match format.get("type").and_then(Value::as_str) {
            Some("json_schema") => {
                if let Some(schema) = format.get("json_schema").and_then(|s| s.get("schema")) {
                    properties.insert("message".into(), schema.clone());
                }
            }
            Some("json_object") => {
                properties.insert(
                    "message".into(),
                    json!({"type": "object", "description": "Message contents as a JSON object."}),
                );
            }
            _ => {}
        }
    }
    if name != "send_message" {
        properties.insert(
            "request_heartbeat".into(),
            json!({"type": "boolean", "description": HEARTBEAT_DESCRIPTION}),
        );
    }
    let mut ordered = Map::new();
    if kwargs_thoughts {
        ordered.insert(
            "inner_thoughts".into(),
            json!({"type": "string", "description": INNER_THOUGHTS_DESCRIPTION}),
        );
    }
    ordered.extend(properties);
    for value in ordered.values_mut() {
        close_objects(value);
    }
    let required: Vec<Value> = ordered.keys().map(|k| json!(k)).collect();
    let parameters = json!({
        "type": "object",
        "properties": Value::Object(ordered),
        "additionalProperties": false,
        "required": required,
    });
    Some(ToolDefinition {
        name,
        description,
        parameters,
        strict: true,
    })
}

/// Structured outputs: nested objects allow no extra keys and require all their keys.
fn close_objects(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    if obj.get("type").and_then(Value::as_str) == Some("object") {
        if let Some(props) = obj.get_mut("properties").and_then(Value::as_object_mut) {
            for v in props.values_mut() {
                close_objects(v);
            }
            let keys: Vec<Value> = props.keys().map(|k| json!(k)).collect();
            obj.insert("required".into(), Value::Array(keys));
        }
        obj.insert("additionalProperties".into(), Value::Bool(false));
    }
    if let Some(items) = obj.get_mut("items") {
        close_objects(items);
    }
}

/// The first tool call, with lenient argument parsing; no tool call is a 400.
fn parse_tool_call(response: &ChatResponse) -> ServiceResult<ParsedCall> {
    let call = response.tool_calls.first().ok_or_else(|| {
        ServiceError::BadRequest(
            "No tool calls found in response, model must make a tool call".into(),
        )
    })?;
    let mut args = parse_arguments(&call.arguments);
    let request_heartbeat = match args.remove("request_heartbeat") {
        Some(Value::Bool(b)) => b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::Null) | None => false,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    };
    let inner_thoughts = match args.remove("inner_thoughts") {
        Some(Value::String(s)) => Some(s),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    let id = if call.id.is_empty() {
        format!("call_{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
    } else {
        call.id.clone()
    };
    Ok(ParsedCall {
        id,
        name: call.name.clone(),
        args,
        request_heartbeat,
        inner_thoughts,
    })
}

/// Model-produced arguments: concatenated objects are cut to the first, a JSON string
/// holding JSON is decoded twice, a truncated object is closed, anything else is `{}`.
pub fn parse_arguments(raw: &str) -> Map<String, Value> {
    let text = raw.trim();
    let text = match text.find("}{") {
        Some(i) => &text[..=i],
        None => text,
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => return map,
        Ok(Value::String(inner)) => {
            if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&inner) {
                return map;
            }
        }
        _ => {}
    }
    for suffix in ["}", "\"}", "\"]}", "]}"] {
        if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&format!("{text}{suffix}")) {
            return map;
        }
    }
    Map::new()
}

/// Cuts a tool's output to its return limit, noting the cut.
fn truncate_output(tool: &str, output: String, limit: Option<i64>) -> String {
    let Some(limit) = limit.filter(|l| *l >= 0) else {
        return output;
    };
    if UNTRUNCATED_TOOLS.contains(&tool) {
        return output;
    }
    let len = output.chars().count();
    if len as i64 <= limit {
        return output;
    }
    let kept: String = output.chars().take(limit as usize).collect();
    format!(
        "{kept}... [NOTE: function output was truncated since it exceeded the character limit ({len} > {limit})]"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_parsed_leniently() {
        assert_eq!(
            parse_arguments(r#"{"a": 1}{"b": 2}"#).get("a"),
            Some(&json!(1))
        );
        assert_eq!(parse_arguments(r#""{\"a\": 1}""#).get("a"), Some(&json!(1)));
        assert_eq!(
            parse_arguments(r#"{"message": "hi"#).get("message"),
            Some(&json!("hi"))
        );
        assert!(parse_arguments("not json").is_empty());
    }

    #[test]
    fn outputs_over_the_limit_are_cut() {
        let out = truncate_output("custom", "abcdef".into(), Some(3));
        assert_eq!(
            out,
            "abc... [NOTE: function output was truncated since it exceeded the character limit (6 > 3)]"
        );
        assert_eq!(
            truncate_output("conversation_search", "abcdef".into(), Some(3)),
            "abcdef"
        );
    }
}
