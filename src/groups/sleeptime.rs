//! The sleeptime manager (spec: groups-memory-tools §2.6): the main agent answers as usual;
//! after every `sleeptime_agent_frequency`-th turn (the first one included) each sleeptime
//! agent of its group gets a transcript of what was said since it last looked, and works on
//! the blocks it shares with the main agent in a background run of its own.
//!
//! This module decides *what* runs (the group, the counter, the transcript); whoever runs
//! the main turn (the dispatcher) starts the background runs once that turn has ended, so
//! a sleeptime agent never works while the main agent is still answering.

use serde_json::Value;

use crate::agent::TurnResult;
use crate::schemas::agent::AgentType;
use crate::schemas::group::{Group, ManagerType};
use crate::schemas::message::{
    Message, MessageContent, MessageCreate, MessageCreateRole, MessageRole,
};
use crate::schemas::org::Actor;
use crate::services::{ServiceError, ServiceResult};
use crate::store::{MessageFilter, Store};

/// The `metadata.job_type` of a sleeptime agent's background run.
pub const SLEEPTIME_JOB_TYPE: &str = "sleeptime_agent_send_message_async";
/// At most this many earlier messages of the main agent go into one transcript.
const MAX_PRIOR_MESSAGES: i64 = 50;
/// How many times the group's bookkeeping is re-read when another turn changed it first.
const MAX_BOOKKEEPING_ATTEMPTS: usize = 20;

/// One background turn to start: a sleeptime agent and the transcript it reads.
#[derive(Debug, Clone)]
pub struct BackgroundSend {
    pub agent_id: String,
    pub messages: Vec<MessageCreate>,
}

/// The sleeptime group the agent manages, when its background agents should run: the
/// agent has `enable_sleeptime` and is not a voice agent (whose group is not run here).
pub async fn sleeptime_group_of(
    store: &dyn Store,
    actor: &Actor,
    agent_id: &str,
) -> ServiceResult<Option<Group>> {
    let Some(agent) = store.get_agent(&actor.organization_id, agent_id).await? else {
        return Ok(None);
    };
    if agent.enable_sleeptime != Some(true) || agent.agent_type == AgentType::VoiceConvoAgent {
        return Ok(None);
    }
    let groups = store.groups_managed_by(&[agent.id]).await?;
    Ok(groups
        .into_iter()
        .find(|g| g.manager_type == ManagerType::Sleeptime))
}

/// The main agent's input messages carry the group's id.
pub fn tag_inputs(group: &Group, inputs: &mut [MessageCreate]) {
    for input in inputs {
        input.group_id = Some(group.id.clone());
    }
}

/// After a finished main turn: counts it, and when the sleeptime agents are due, moves the
/// group's "processed up to" mark to the turn's last message and answers one background
/// send per sleeptime agent (in `agent_ids` order), each with the transcript of what the
/// main agent saw and said since the previous mark.
pub async fn after_main_turn(
    store: &dyn Store,
    actor: &Actor,
    group: &Group,
    main_agent_id: &str,
    turn: &TurnResult,
) -> ServiceResult<Vec<BackgroundSend>> {
    let Some(last) = turn.created.last() else {
        return Ok(Vec::new());
    };
    let Some(previous_mark) = advance(store, actor, group, &last.id).await? else {
        return Ok(Vec::new());
    };
    let transcript = transcript(store, main_agent_id, previous_mark.as_deref(), turn).await?;
    if transcript.trim().is_empty() {
        // Nothing a sleeptime agent could read (only system messages).
        return Ok(Vec::new());
    }
    Ok(group
        .agent_ids
        .iter()
        .map(|agent_id| BackgroundSend {
            agent_id: agent_id.clone(),
            messages: vec![MessageCreate {
                role: MessageCreateRole::User,
                content: MessageContent::Text(transcript.clone()),
                name: None,
                otid: None,
                sender_id: None,
                batch_item_id: None,
                group_id: Some(group.id.clone()),
            }],
        })
        .collect())
}

/// Counts the turn; when the sleeptime agents are due, sets the processed mark to `last_id`
/// and answers `Some(previous mark)`. Compare-and-set on the stored values, so concurrent
/// turns each count once and each transcript covers its own stretch.
async fn advance(
    store: &dyn Store,
    actor: &Actor,
    group: &Group,
    last_id: &str,
) -> ServiceResult<Option<Option<String>>> {
    for _ in 0..MAX_BOOKKEEPING_ATTEMPTS {
        let Some(current) = store.get_group(&actor.organization_id, &group.id).await? else {
            return Ok(None);
        };
        let frequency = current.sleeptime_agent_frequency;
        let counter = match frequency {
            Some(f) if f > 0 => Some((current.turns_counter.unwrap_or(-1) + 1).rem_euclid(f)),
            // Not a positive frequency: the group's settings forbid it; never count.
            Some(_) => return Ok(None),
            None => current.turns_counter,
        };
        let due = frequency.is_none() || counter == Some(0);
        let mark = if due {
            Some(last_id)
        } else {
            current.last_processed_message_id.as_deref()
        };
        let written = store
            .set_sleeptime_progress(
                &actor.organization_id,
                &group.id,
                (
                    current.turns_counter,
                    current.last_processed_message_id.as_deref(),
                ),
                (counter, mark),
            )
            .await?;
        if written {
            return Ok(due.then_some(current.last_processed_message_id));
        }
    }
    Err(ServiceError::Conflict(format!(
        "Group {} is being updated by too many turns at once; its sleeptime agents skip this turn",
        group.id
    )))
}

/// The lines the sleeptime agent reads: the main agent's messages after `after` and before
/// this turn (at most [`MAX_PRIOR_MESSAGES`]), then this turn's.
async fn transcript(
    store: &dyn Store,
    main_agent_id: &str,
    after: Option<&str>,
    turn: &TurnResult,
) -> ServiceResult<String> {
    let mut messages = Vec::new();
    if let Some(first) = turn.created.first() {
        let after_sequence = match after {
            Some(id) => store.message_sequence_id(id).await?,
            None => None,
        };
        let before_sequence = store.message_sequence_id(&first.id).await?;
        if before_sequence.is_some() {
            let filter = MessageFilter {
                after_sequence,
                before_sequence,
                group_id: None,
                ascending: true,
                limit: Some(MAX_PRIOR_MESSAGES),
            };
            messages = store.list_agent_messages(main_agent_id, &filter).await?;
        }
    }
    messages.extend(turn.created.iter().cloned());
    Ok(messages
        .iter()
        .filter_map(transcript_line)
        .collect::<Vec<_>>()
        .join("\n"))
}

/// One message as the transcript shows it; `None` for what it leaves out (system messages,
/// tool results that returned nothing).
pub fn transcript_line(message: &Message) -> Option<String> {
    match message.role {
        MessageRole::User => {
            let who = message.name.as_deref().unwrap_or("user");
            let lines: Vec<String> = message
                .content
                .iter()
                .filter_map(|part| match part.get("type").and_then(Value::as_str) {
                    Some("text") => part
                        .get("text")
                        .and_then(Value::as_str)
                        .map(|text| format!("{who}: {text}")),
                    Some("image") => Some(format!("{who}: [Image Here]")),
                    _ => None,
                })
                .collect();
            Some(lines.join("\n"))
        }
        MessageRole::Assistant => Some(match message.tool_calls.first() {
            Some(call) if call.function.name == "send_message" => {
                let said = serde_json::from_str::<Value>(&call.function.arguments)
                    .ok()
                    .and_then(|args| {
                        args.get("message")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .unwrap_or_default();
                format!("assistant: {said}")
            }
            Some(call) => format!("assistant: Calling tool {}", call.function.name),
            None => String::new(),
        }),
        MessageRole::Tool => {
            let text = message.content.first()?.get("text")?.as_str()?;
            let packaged: Value = serde_json::from_str(text).ok()?;
            let returned = match packaged.get("message") {
                None | Some(Value::Null) => return None,
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            (returned != "None").then(|| format!("assistant: Tool call returned {returned}"))
        }
        MessageRole::System => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schemas::common::now;
    use crate::schemas::message::{FunctionCall, ToolCall, text_part};

    fn message(role: MessageRole, content: Vec<Value>) -> Message {
        Message::new("org", "agent", "user", role, content, None, now())
    }

    fn call(name: &str, args: Value) -> ToolCall {
        ToolCall {
            id: "call-1".into(),
            kind: "function".into(),
            function: FunctionCall {
                name: name.into(),
                arguments: args.to_string(),
            },
        }
    }

    #[test]
    fn transcript_lines_as_the_original_renders_them() {
        let mut user = message(
            MessageRole::User,
            vec![text_part("hi"), json!({"type": "image", "source": {}})],
        );
        assert_eq!(
            transcript_line(&user).unwrap(),
            "user: hi\nuser: [Image Here]"
        );
        user.name = Some("ann".into());
        assert_eq!(
            transcript_line(&user).unwrap(),
            "ann: hi\nann: [Image Here]"
        );

        let mut said = message(MessageRole::Assistant, vec![]);
        said.tool_calls = vec![call("send_message", json!({"message": "hello"}))];
        assert_eq!(transcript_line(&said).unwrap(), "assistant: hello");
        said.tool_calls = vec![call("memory_insert", json!({}))];
        assert_eq!(
            transcript_line(&said).unwrap(),
            "assistant: Calling tool memory_insert"
        );
        said.tool_calls.clear();
        assert_eq!(transcript_line(&said).unwrap(), "");

        let packaged = |m: Value| {
            message(
                MessageRole::Tool,
                vec![text_part(json!({"status": "OK", "message": m}).to_string())],
            )
        };
        assert_eq!(
            transcript_line(&packaged(json!("found 2"))).unwrap(),
            "assistant: Tool call returned found 2"
        );
        assert!(transcript_line(&packaged(json!("None"))).is_none());
        assert!(transcript_line(&packaged(Value::Null)).is_none());
        assert!(transcript_line(&message(MessageRole::System, vec![text_part("sys")])).is_none());
    }
}
