//! The multi-agent tools (`letta_multi_agent_core`, spec: groups-memory-tools §2.7): an agent
//! sends a message to another agent (and waits for its reply, or not), or to every agent
//! with some tags (a supervisor's group broadcast is [`super::group_broadcast`]'s). Other agents are reached only through the [`AgentCaller`] the run
//! provides, so their turns are runs of their own with their own turn locks; this file
//! never imports the runtime.

use async_trait::async_trait;
use futures_util::future::join_all;
use serde_json::{Map, Value, json};

use super::core::str_arg;
use super::executor::{AgentCaller, ToolContext, ToolExecutor, ToolOutcome};
use super::group_broadcast::{BROADCAST_TOOL, GroupBroadcast};
use crate::schemas::letta_message::LettaMessage;
use crate::schemas::message::{MessageContent, MessageCreate, MessageCreateRole};
use crate::schemas::tool::Tool;
use crate::services::ServiceError;
use crate::services::pyfmt::python_literal;

/// At most this many agents receive one `send_message_to_agents_matching_tags` call.
const MAX_TAG_TARGETS: i64 = 50;
const NO_RESPONSE: &str = "<no response>";

/// Executes the three multi-agent tools.
pub struct MultiAgentTools;

#[async_trait]
impl ToolExecutor for MultiAgentTools {
    async fn execute(
        &self,
        ctx: &ToolContext<'_>,
        tool: &Tool,
        args: &Map<String, Value>,
    ) -> ToolOutcome {
        if tool.name() == BROADCAST_TOOL {
            // A supervisor's broadcast to its group: served beside the group managers.
            return GroupBroadcast.execute(ctx, tool, args).await;
        }
        let Some(caller) = ctx.caller else {
            return ToolOutcome::error(format!(
                "Tool {} can only run inside a message request to the agent",
                tool.name()
            ));
        };
        let result = match tool.name() {
            "send_message_to_agent_and_wait_for_reply" => wait_for_reply(ctx, caller, args).await,
            "send_message_to_agent_async" => send_async(ctx, caller, args).await,
            "send_message_to_agents_matching_tags" => matching_tags(ctx, caller, args).await,
            other => Err(format!("Unknown multi-agent tool: {other}")),
        };
        result.unwrap_or_else(ToolOutcome::error)
    }
}

fn system_message(text: String) -> Vec<MessageCreate> {
    vec![MessageCreate {
        role: MessageCreateRole::System,
        content: MessageContent::Text(text),
        name: None,
        otid: None,
        sender_id: None,
        batch_item_id: None,
        group_id: None,
    }]
}

async fn wait_for_reply(
    ctx: &ToolContext<'_>,
    caller: &dyn AgentCaller,
    args: &Map<String, Value>,
) -> Result<ToolOutcome, String> {
    let message = str_arg(args, "message")?;
    let target = str_arg(args, "other_agent_id")?;
    let text = format!(
        "[Incoming message from agent with ID '{}' - to reply to this message, make sure to use the 'send_message' at the end, and the system will notify the sender of your response] {message}",
        ctx.agent_id
    );
    let (ok, answer) = ask(ctx, caller, target, text).await;
    let literal = python_literal(&answer);
    Ok(if ok {
        ToolOutcome::ok(literal)
    } else {
        ToolOutcome::error(literal)
    })
}

async fn send_async(
    ctx: &ToolContext<'_>,
    caller: &dyn AgentCaller,
    args: &Map<String, Value>,
) -> Result<ToolOutcome, String> {
    let message = str_arg(args, "message")?;
    let target = str_arg(args, "other_agent_id")?;
    let text = format!(
        "[Incoming message from agent with ID '{}' - to reply to this message, make sure to use the 'send_message_to_agent_async' tool, or the agent will not receive your message] {message}",
        ctx.agent_id
    );
    caller
        .send_message_async(ctx.actor, target, system_message(text))
        .await
        .map_err(|err| err.to_string())?;
    Ok(ToolOutcome::ok("Successfully sent message"))
}

async fn matching_tags(
    ctx: &ToolContext<'_>,
    caller: &dyn AgentCaller,
    args: &Map<String, Value>,
) -> Result<ToolOutcome, String> {
    let message = str_arg(args, "message")?;
    let match_all = tag_list(args, "match_all")?;
    let match_some = tag_list(args, "match_some")?;
    let targets = ctx
        .state
        .store
        .agents_matching_tags(
            &ctx.actor.organization_id,
            &match_all,
            &match_some,
            MAX_TAG_TARGETS,
        )
        .await
        .map_err(|err| format!("Could not look up the agents with these tags: {err}"))?;
    let text = format!(
        "[Incoming message from external Letta agent - to reply to this message, make sure to use the 'send_message' at the end, and the system will notify the sender of your response] {message}"
    );
    let answers = join_all(
        targets
            .iter()
            .map(|agent| ask(ctx, caller, &agent.id, text.clone())),
    )
    .await;
    let all_failed = !answers.is_empty() && answers.iter().all(|(ok, _)| !ok);
    let literal = python_literal(&Value::Array(
        answers.into_iter().map(|(_, answer)| answer).collect(),
    ));
    Ok(if all_failed {
        ToolOutcome::error(literal)
    } else {
        ToolOutcome::ok(literal)
    })
}

/// A list-of-strings argument (a JSON array, or its text as some models send it).
fn tag_list(args: &Map<String, Value>, name: &str) -> Result<Vec<String>, String> {
    let value = match args.get(name) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(text)) => serde_json::from_str::<Value>(text)
            .map_err(|_| format!("Argument {name} must be a list of strings, got '{text}'"))?,
        Some(other) => other.clone(),
    };
    let Value::Array(items) = value else {
        return Err(format!(
            "Argument {name} must be a list of strings, got {value}"
        ));
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::String(tag) => Ok(tag),
            other => Err(format!(
                "Argument {name} must be a list of strings, got {other}"
            )),
        })
        .collect()
}

/// Runs one turn of `target` on `text` and answers the original's per-agent dict:
/// `{agent_id, response}` with what the agent said, or `{agent_id, error, type}`.
async fn ask(
    ctx: &ToolContext<'_>,
    caller: &dyn AgentCaller,
    target: &str,
    text: String,
) -> (bool, Value) {
    match caller
        .send_message(ctx.actor, target, system_message(text))
        .await
    {
        Ok(messages) => {
            let said: Vec<Value> = messages
                .into_iter()
                .filter_map(|m| match m {
                    LettaMessage::Assistant(a) => Some(a.content),
                    _ => None,
                })
                .collect();
            let response = if said.is_empty() {
                vec![json!(NO_RESPONSE)]
            } else {
                said
            };
            (true, json!({"agent_id": target, "response": response}))
        }
        Err(err) => (
            false,
            json!({"agent_id": target, "error": err.to_string(), "type": error_type(&err)}),
        ),
    }
}

/// The Python exception name the original reports for a failure of this kind.
fn error_type(err: &ServiceError) -> &'static str {
    match err {
        ServiceError::NotFound(_) => "NoResultFound",
        ServiceError::BadRequest(_) | ServiceError::Validation { .. } => "ValueError",
        ServiceError::Conflict(_) => "RuntimeError",
        ServiceError::Upstream(_) => "LLMError",
        ServiceError::Unavailable(_) | ServiceError::Internal(_) => "Exception",
    }
}
