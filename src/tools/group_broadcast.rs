//! `send_message_to_all_agents_in_group` (`letta_multi_agent_core`): a supervisor's message
//! to every worker of the group it manages, concurrently, each reply (or the failure) in the
//! tool's result. Workers are reached through the turn's [`AgentCaller`]: under a group run
//! that is the group's own caller (same run, same cancellation, bounded waits).
//!
//! Sleeptime branch: the other multi-agent tools are served by their own executor; this one
//! only answers the group broadcast (see `registry.rs`).

use async_trait::async_trait;
use futures_util::StreamExt;
use serde_json::{Map, Value, json};

use super::executor::{ToolContext, ToolExecutor, ToolOutcome};
use crate::schemas::group::ManagerType;
use crate::schemas::letta_message::LettaMessage;
use crate::schemas::message::{MessageContent, MessageCreate, MessageCreateRole};
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::schemas::tool::{Tool, ToolType};

pub const BROADCAST_TOOL: &str = "send_message_to_all_agents_in_group";

/// Workers messaged at once, at most (the original's bound).
const IN_FLIGHT: usize = 50;

/// The tool as stored in an organization (created on a supervisor's first send).
pub fn broadcast_tool(actor: &Actor) -> Tool {
    Tool {
        id: new_id("tool"),
        tool_type: ToolType::LettaMultiAgentCore,
        description: Some(
            "Send a message to every agent of the group you supervise and collect their replies."
                .into(),
        ),
        source_type: Some("python".into()),
        organization_id: Some(actor.organization_id.clone()),
        name: Some(BROADCAST_TOOL.into()),
        tags: vec![ToolType::LettaMultiAgentCore.as_str().to_owned()],
        source_code: None,
        json_schema: Some(json!({
            "name": BROADCAST_TOOL,
            "description": "Send a message to every agent of the group you supervise and collect their replies.",
            "parameters": {
                "type": "object",
                "properties": {
                    "message": {
                        "type": "string",
                        "description": "The message to send to every agent of the group."
                    }
                },
                "required": ["message"]
            }
        })),
        args_json_schema: None,
        return_char_limit: Some(6000),
        pip_requirements: None,
        created_by_id: Some(actor.user_id.clone()),
        last_updated_by_id: Some(actor.user_id.clone()),
        metadata_: Some(Map::new()),
    }
}

pub struct GroupBroadcast;

#[async_trait]
impl ToolExecutor for GroupBroadcast {
    async fn execute(
        &self,
        ctx: &ToolContext<'_>,
        tool: &Tool,
        args: &Map<String, Value>,
    ) -> ToolOutcome {
        if tool.name() != BROADCAST_TOOL {
            return ToolOutcome::error(format!(
                "Tool {} cannot be executed by this server: multi-agent tools are not served yet",
                tool.name()
            ));
        }
        broadcast(ctx, args)
            .await
            .unwrap_or_else(ToolOutcome::error)
    }
}

async fn broadcast(
    ctx: &ToolContext<'_>,
    args: &Map<String, Value>,
) -> Result<ToolOutcome, String> {
    let message = super::core::str_arg(args, "message")?;
    let caller = ctx
        .caller
        .ok_or("This turn cannot reach other agents (it runs without a caller)")?;
    let store = &ctx.state.store;
    let group = store
        .groups_managed_by(&[ctx.agent_id.to_owned()])
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|g| g.manager_type == ManagerType::Supervisor)
        .ok_or_else(|| format!("Agent {} supervises no group", ctx.agent_id))?;
    let manager_name = store
        .get_agent(&ctx.actor.organization_id, ctx.agent_id)
        .await
        .map_err(|e| e.to_string())?
        .map(|row| row.name);
    let text = format!(
        "[Incoming message from agent with ID '{}' - to reply to this message, make sure to use the \
         'send_message' at the end, and the system will notify the sender of your response] {message}",
        ctx.agent_id
    );
    let timeout = ctx.state.config.group_worker_timeout();
    let calls: Vec<_> = group
        .agent_ids
        .iter()
        .map(|worker| {
            let worker = worker.clone();
            let input = MessageCreate {
                role: MessageCreateRole::System,
                content: MessageContent::Text(text.clone()),
                name: manager_name.clone(),
                otid: None,
                sender_id: Some(ctx.agent_id.to_owned()),
                batch_item_id: None,
                group_id: Some(group.id.clone()),
            };
            async move {
                match tokio::time::timeout(
                    timeout,
                    caller.send_message(ctx.actor, &worker, vec![input]),
                )
                .await
                {
                    Ok(Ok(messages)) => reply_of(&worker, &messages),
                    Ok(Err(err)) => format!("(Error for agent {worker}: {err})"),
                    Err(_) => format!(
                        "(Timed out for agent {worker}: no reply within {}s)",
                        timeout.as_secs()
                    ),
                }
            }
        })
        .collect();
    let replies: Vec<String> = futures_util::stream::iter(calls)
        .buffered(IN_FLIGHT)
        .collect()
        .await;
    Ok(ToolOutcome::ok(py_str_list(&replies)))
}

/// `"<id> said: '<texts>'"`, or `"No response from <id>"`.
fn reply_of(worker: &str, messages: &[LettaMessage]) -> String {
    let texts: Vec<String> = messages
        .iter()
        .filter_map(|m| match m {
            LettaMessage::Assistant(a) => Some(match &a.content {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
            _ => None,
        })
        .collect();
    if texts.is_empty() {
        format!("No response from {worker}")
    } else {
        format!("{worker} said: '{}'", texts.join("\n"))
    }
}

/// A list of strings as Python's `repr` shows it.
fn py_str_list(items: &[String]) -> String {
    let shown: Vec<String> = items.iter().map(|s| py_str(s)).collect();
    format!("[{}]", shown.join(", "))
}

fn py_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_repr_of_replies() {
        assert_eq!(
            py_str_list(&[
                "agent-x said: 'hi'".into(),
                "No response from agent-y".into()
            ]),
            r#"["agent-x said: 'hi'", 'No response from agent-y']"#
        );
        assert_eq!(py_str("a\nb 'c' \"d\""), r#"'a\nb \'c\' "d"'"#);
        assert_eq!(py_str_list(&[]), "[]");
    }
}
