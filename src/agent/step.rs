//! One step's record and stored messages, and whether the loop goes on after it
//! (spec: agent-loop-and-messages §6.4).

use serde_json::{Value, json};

use crate::llm::chat::{ChatResponse, ReasoningPart};
use crate::schemas::Timestamp;
use crate::schemas::common::now;
use crate::schemas::letta_message::StopReasonType;
use crate::schemas::llm_config::LlmConfig;
use crate::schemas::message::{
    FunctionCall, Message, MessageRole, ToolCall, ToolReturnRecord, text_part,
};
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::schemas::run::Step;
use crate::schemas::tool::Tool;
use crate::services::prompts;
use crate::services::pyfmt::{json_python_style, package_tool_response};
use crate::store::AgentRow;
use crate::tools::calls::ParsedCall;
use crate::tools::executor::ToolOutcome;
use crate::tools::rules::ToolRulesSolver;

const HEARTBEAT_PREFIX: &str = "[This is an automated system message hidden from the user] ";

/// Whether the loop continues after a step, why (the heartbeat's reason), and the stop
/// reason the step sets.
pub(super) struct Continuation {
    pub cont: bool,
    pub reason: Option<String>,
    pub stop: Option<StopReasonType>,
}

/// Decides the continuation after `call`: the model's heartbeat request, overridden by a
/// rule violation, terminal/child/continue rules, the step limit and tools still required
/// before exit.
pub(super) fn continuation(
    solver: &ToolRulesSolver,
    call: &ParsedCall,
    violation: bool,
    last_step: bool,
    attached: &[Tool],
) -> Continuation {
    let mut cont = call.request_heartbeat;
    let mut reason: Option<String> = None;
    let mut stop: Option<StopReasonType> = None;
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
    if last_step {
        cont = false;
        stop = Some(StopReasonType::MaxSteps);
    } else if !cont {
        let names: Vec<String> = attached.iter().map(|t| t.name().to_owned()).collect();
        let pending = solver.required_before_exit_pending(&names);
        if !pending.is_empty() {
            cont = true;
            reason = Some(format!(
                "Continuing, user expects these tools: [{}] to be called still.",
                pending.join(", ")
            ));
            stop = None;
        }
    }
    Continuation { cont, reason, stop }
}

/// Writes the records of one turn's steps: who the messages belong to, when they happen in
/// the agent's time zone, which run they are part of.
pub(super) struct StepWriter<'a> {
    pub row: &'a AgentRow,
    pub actor: &'a Actor,
    pub run_id: Option<&'a str>,
    /// The group the turn runs in (its messages are tagged with it).
    pub group_id: Option<&'a str>,
}

impl StepWriter<'_> {
    /// A message of the agent, by the actor, on the agent's model.
    pub fn message(&self, role: MessageRole, content: Vec<Value>, ts: Timestamp) -> Message {
        let mut m = Message::new(
            &self.row.organization_id,
            &self.row.id,
            &self.actor.user_id,
            role,
            content,
            Some(self.row.llm_config.model.clone()),
            ts,
        );
        if let Some(group_id) = self.group_id {
            m.group_id = Some(group_id.to_owned());
            if role == MessageRole::Assistant {
                // Who spoke, for the other members and the group's listing.
                m.name = Some(self.row.name.clone());
            }
        }
        m
    }

    /// Now, as the agent's prompts show time.
    fn time(&self) -> String {
        prompts::format_agent_time(now(), self.row.timezone.as_deref())
    }

    pub fn record(&self, response: &ChatResponse) -> Step {
        let llm: &LlmConfig = &self.row.llm_config;
        Step {
            id: new_id("step"),
            origin: None,
            organization_id: Some(self.row.organization_id.clone()),
            provider_id: None,
            job_id: self.run_id.map(str::to_owned),
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
    pub fn messages(
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
