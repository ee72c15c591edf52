//! Converting stored messages into the LettaMessage union clients see (spec §4.4), and the
//! history routes built on it: listing, editing one message, resetting the history.

use serde_json::{Value, json};

use super::agents::AgentService;
use super::agents::Boot;
use super::{ServiceError, ServiceResult};
use crate::config::Config;
use crate::llm::catalog::ModelCatalog;
use crate::schemas::agent::AgentState;
use crate::schemas::common::{format_message_date, now};
use crate::schemas::letta_message::{
    AssistantMessage, HiddenReasoningMessage, LettaMessage, LettaMessageUpdate, ReasoningMessage,
    SystemMessage, ToolCallMessage, ToolReturnMessage, UserMessage,
};
use crate::schemas::message::{Message, MessageContent, MessageRole, text_part};
use crate::schemas::org::Actor;
use crate::store::DynStore;
use crate::store::{AgentPatch, MessageFilter, RelationSet};

/// How tool calls of the designated "assistant" tool are shown.
#[derive(Debug, Clone, Copy)]
pub struct ConvertOptions<'a> {
    pub use_assistant_message: bool,
    pub tool_name: &'a str,
    pub tool_kwarg: &'a str,
}

impl Default for ConvertOptions<'_> {
    fn default() -> Self {
        ConvertOptions {
            use_assistant_message: true,
            tool_name: "send_message",
            tool_kwarg: "message",
        }
    }
}

/// The offline-threading id of the `index`-th LettaMessage made from message `id`: the
/// message's UUID with its low 7 bits replaced by the index.
pub fn otid(id: &str, index: usize) -> Option<String> {
    let hex: String = id
        .strip_prefix("message-")
        .unwrap_or(id)
        .chars()
        .filter(|c| *c != '-')
        .collect();
    let value = u128::from_str_radix(&hex, 16).ok()?;
    let value = (value & !0x7f) | (index as u128 & 0x7f);
    let h = format!("{value:032x}");
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// Converts a list of stored messages, dropping the tool results of assistant-tool calls
/// in the same list when `use_assistant_message` is on.
pub fn convert(messages: &[Message], opts: ConvertOptions<'_>) -> ServiceResult<Vec<LettaMessage>> {
    let suppressed: Vec<&str> = if opts.use_assistant_message {
        messages
            .iter()
            .filter(|m| m.role == MessageRole::Assistant)
            .flat_map(|m| m.tool_calls.iter())
            .filter(|call| call.function.name == opts.tool_name)
            .map(|call| call.id.as_str())
            .collect()
    } else {
        Vec::new()
    };
    let mut out = Vec::new();
    for message in messages {
        if message.role == MessageRole::Tool
            && message
                .tool_call_id
                .as_deref()
                .is_some_and(|id| suppressed.contains(&id))
        {
            continue;
        }
        out.extend(convert_one(message, opts)?);
    }
    Ok(out)
}

struct Common {
    id: String,
    date: String,
    name: Option<String>,
    sender_id: Option<String>,
    step_id: Option<String>,
}

fn text_parts(message: &Message) -> Vec<&str> {
    message
        .content
        .iter()
        .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect()
}

/// One stored message as its LettaMessages.
pub fn convert_one(
    message: &Message,
    opts: ConvertOptions<'_>,
) -> ServiceResult<Vec<LettaMessage>> {
    let common = Common {
        id: message.id.clone(),
        date: format_message_date(&message.created_at),
        name: message.name.clone(),
        sender_id: message.sender_id.clone(),
        step_id: message.step_id.clone(),
    };
    Ok(match message.role {
        MessageRole::Assistant => convert_assistant(message, &common, opts)?,
        MessageRole::Tool => vec![convert_tool(message, &common)?],
        MessageRole::User => {
            let content = if message.content.len() == 1 && text_parts(message).len() == 1 {
                let text = text_parts(message)[0];
                Value::String(unpack_user_text(text))
            } else {
                Value::Array(message.content.clone())
            };
            vec![LettaMessage::User(UserMessage {
                id: common.id,
                date: common.date,
                name: common.name,
                message_type: "user_message".into(),
                otid: message.otid.clone(),
                sender_id: common.sender_id,
                step_id: common.step_id,
                content,
            })]
        }
        MessageRole::System => vec![LettaMessage::System(SystemMessage {
            id: common.id,
            date: common.date,
            name: common.name,
            message_type: "system_message".into(),
            otid: message.otid.clone(),
            sender_id: common.sender_id,
            step_id: common.step_id,
            content: text_parts(message).join(""),
        })],
    })
}

/// A user message wrapped as `{"type": "user_message", "message": …}` shows its message;
/// anything else (login events, heartbeats, summaries) shows as stored.
fn unpack_user_text(text: &str) -> String {
    if let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(text)
        && obj.get("type").and_then(Value::as_str) == Some("user_message")
        && let Some(inner) = obj.get("message")
    {
        return match inner {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
    }
    text.to_owned()
}

fn convert_assistant(
    message: &Message,
    c: &Common,
    opts: ConvertOptions<'_>,
) -> ServiceResult<Vec<LettaMessage>> {
    let mut out = Vec::new();
    let mut index = 0usize;
    let mut next_otid = || {
        let o = otid(&message.id, index);
        index += 1;
        o
    };
    let reasoning = |reasoning: String,
                     source: &str,
                     signature: Option<String>,
                     otid: Option<String>,
                     sender: Option<String>| {
        LettaMessage::Reasoning(ReasoningMessage {
            id: c.id.clone(),
            date: c.date.clone(),
            name: c.name.clone(),
            message_type: "reasoning_message".into(),
            otid,
            sender_id: sender,
            step_id: c.step_id.clone(),
            source: source.to_owned(),
            reasoning,
            signature,
        })
    };
    let single_text = message.content.len() == 1 && text_parts(message).len() == 1;
    if single_text {
        out.push(reasoning(
            text_parts(message)[0].to_owned(),
            "non_reasoner_model",
            None,
            next_otid(),
            c.sender_id.clone(),
        ));
    } else {
        for part in &message.content {
            let kind = part.get("type").and_then(Value::as_str).unwrap_or_default();
            let get = |k: &str| part.get(k).and_then(Value::as_str).map(str::to_owned);
            match kind {
                "text" => out.push(reasoning(
                    get("text").unwrap_or_default(),
                    "non_reasoner_model",
                    None,
                    next_otid(),
                    c.sender_id.clone(),
                )),
                "reasoning" => out.push(reasoning(
                    get("reasoning").unwrap_or_default(),
                    "reasoner_model",
                    get("signature"),
                    next_otid(),
                    None,
                )),
                "redacted_reasoning" | "omitted_reasoning" => {
                    out.push(LettaMessage::HiddenReasoning(HiddenReasoningMessage {
                        id: c.id.clone(),
                        date: c.date.clone(),
                        name: c.name.clone(),
                        message_type: "hidden_reasoning_message".into(),
                        otid: next_otid(),
                        sender_id: None,
                        step_id: c.step_id.clone(),
                        state: if kind == "redacted_reasoning" {
                            "redacted"
                        } else {
                            "omitted"
                        }
                        .to_owned(),
                        hidden_reasoning: get("data"),
                    }))
                }
                _ => {}
            }
        }
    }
    for call in &message.tool_calls {
        if opts.use_assistant_message && call.function.name == opts.tool_name {
            let args: Value = serde_json::from_str(&call.function.arguments).unwrap_or(Value::Null);
            let content = match args.get(opts.tool_kwarg) {
                Some(Value::String(s)) => Value::String(s.clone()),
                Some(other) => Value::String(other.to_string()),
                None => {
                    return Err(ServiceError::BadRequest(format!(
                        "Function call {} missing {} argument",
                        call.function.name, opts.tool_kwarg
                    )));
                }
            };
            out.push(LettaMessage::Assistant(AssistantMessage {
                id: c.id.clone(),
                date: c.date.clone(),
                name: c.name.clone(),
                message_type: "assistant_message".into(),
                otid: next_otid(),
                sender_id: c.sender_id.clone(),
                step_id: c.step_id.clone(),
                content,
            }));
        } else {
            out.push(LettaMessage::ToolCall(ToolCallMessage {
                id: c.id.clone(),
                date: c.date.clone(),
                name: c.name.clone(),
                message_type: "tool_call_message".into(),
                otid: next_otid(),
                sender_id: c.sender_id.clone(),
                step_id: c.step_id.clone(),
                tool_call: json!({
                    "name": call.function.name,
                    "arguments": call.function.arguments,
                    "tool_call_id": call.id,
                }),
            }));
        }
    }
    Ok(out)
}

fn convert_tool(message: &Message, c: &Common) -> ServiceResult<LettaMessage> {
    let texts = text_parts(message);
    let [text] = texts.as_slice() else {
        return Err(ServiceError::BadRequest(format!(
            "Tool message {} must have exactly one text part",
            message.id
        )));
    };
    let parsed: Value = serde_json::from_str(text).map_err(|e| {
        ServiceError::BadRequest(format!("Tool message {} is not JSON: {e}", message.id))
    })?;
    let tool_return = match parsed.get("message") {
        None | Some(Value::Null) => "None".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let first = message.tool_returns.first();
    let status = match first {
        Some(r) => r.status.clone(),
        None => match parsed.get("status").and_then(Value::as_str) {
            Some("Failed") => "error".to_owned(),
            _ => "success".to_owned(),
        },
    };
    Ok(LettaMessage::ToolReturn(ToolReturnMessage {
        id: c.id.clone(),
        date: c.date.clone(),
        name: c.name.clone(),
        message_type: "tool_return_message".into(),
        otid: otid(&message.id, 0),
        sender_id: c.sender_id.clone(),
        step_id: c.step_id.clone(),
        tool_return,
        status,
        tool_call_id: message.tool_call_id.clone().unwrap_or_default(),
        stdout: first.and_then(|r| r.stdout.clone()),
        stderr: first.and_then(|r| r.stderr.clone()),
    }))
}

/// Paging and display options of `GET /v1/agents/{agent_id}/messages`.
#[derive(Debug, Clone, Default)]
pub struct ListMessages<'a> {
    pub after: Option<&'a str>,
    pub before: Option<&'a str>,
    /// Stored messages to select; `None` means no limit.
    pub limit: Option<i64>,
    pub group_id: Option<&'a str>,
    pub convert: ConvertOptions<'a>,
}

/// The tool whose calls an `assistant_message` update rewrites, and its argument.
const ASSISTANT_TOOL: &str = "send_message";
const ASSISTANT_KWARG: &str = "message";

fn message_not_found(message_id: &str) -> ServiceError {
    ServiceError::NotFound(format!("Message not found with id='{message_id}'"))
}

/// Agents' histories. Holds what the agents it checks and resets need.
pub struct MessageService<'a> {
    store: &'a DynStore,
    agents: AgentService<'a>,
}

impl<'a> MessageService<'a> {
    pub fn new(store: &'a DynStore, config: &'a Config, models: &'a ModelCatalog) -> Self {
        MessageService {
            store,
            agents: AgentService::new(store, config, models),
        }
    }

    fn agents(&self) -> AgentService<'a> {
        self.agents
    }

    fn store(&self) -> &dyn crate::store::Store {
        self.store.as_ref()
    }

    /// The agent's stored history as LettaMessages (spec §4.6): the newest `limit` stored
    /// messages inside the cursors, converted in chronological order.
    pub async fn list(
        &self,
        actor: &Actor,
        agent_id: &str,
        params: &ListMessages<'_>,
    ) -> ServiceResult<Vec<LettaMessage>> {
        self.agents().row(actor, agent_id).await?;
        let filter = MessageFilter {
            after_sequence: self.cursor(agent_id, params.after).await?,
            before_sequence: self.cursor(agent_id, params.before).await?,
            group_id: params.group_id.map(str::to_owned),
            ascending: false,
            limit: params.limit,
        };
        let mut messages = self.store().list_agent_messages(agent_id, &filter).await?;
        // Selected newest first; shown oldest first. Converting after the reversal keeps
        // the LettaMessages of one stored message in their own order.
        messages.reverse();
        convert(&messages, params.convert)
    }

    /// The sequence position of a cursor message; it may belong to any agent, but it must
    /// exist.
    async fn cursor(&self, agent_id: &str, id: Option<&str>) -> ServiceResult<Option<i64>> {
        let Some(id) = id else { return Ok(None) };
        match self.store().message_sequence_id(id).await? {
            Some(seq) => Ok(Some(seq)),
            None => Err(ServiceError::NotFound(format!(
                "No message found with id '{id}' for agent '{agent_id}'."
            ))),
        }
    }

    /// Edits one stored message of the agent (spec §4.7) and returns the first LettaMessage
    /// of the requested type it now produces. Everything is checked before the write, so a
    /// refused edit changes nothing.
    pub async fn modify(
        &self,
        actor: &Actor,
        agent_id: &str,
        message_id: &str,
        update: LettaMessageUpdate,
    ) -> ServiceResult<LettaMessage> {
        let mut message = self
            .store()
            .get_messages(&actor.organization_id, &[message_id.to_owned()])
            .await?
            .pop()
            .filter(|m| m.agent_id == agent_id)
            .ok_or_else(|| message_not_found(message_id))?;
        let wanted = match &update {
            LettaMessageUpdate::System(_) => "system_message",
            LettaMessageUpdate::User(_) => "user_message",
            LettaMessageUpdate::Reasoning(_) => "reasoning_message",
            LettaMessageUpdate::Assistant(_) => "assistant_message",
        };
        match update {
            LettaMessageUpdate::System(u) => message.content = vec![text_part(u.content)],
            LettaMessageUpdate::User(u) => {
                message.content = match u.content {
                    MessageContent::Text(text) => vec![text_part(text)],
                    MessageContent::Parts(parts) => {
                        check_parts(&parts, &["text", "image"])?;
                        parts
                    }
                }
            }
            LettaMessageUpdate::Reasoning(u) => message.content = vec![text_part(u.reasoning)],
            LettaMessageUpdate::Assistant(u) => {
                let text = match u.content {
                    MessageContent::Text(text) => text,
                    MessageContent::Parts(parts) => {
                        check_parts(&parts, &["text"])?;
                        parts_text(&parts)
                    }
                };
                rewrite_assistant_call(&mut message, &text)?;
            }
        }
        message.updated_at = now();
        message.last_updated_by_id = Some(actor.user_id.clone());

        let shown = convert_one(&message, ConvertOptions::default())
            .unwrap_or_default()
            .into_iter()
            .find(|m| m.message_type() == wanted)
            .ok_or_else(|| {
                ServiceError::BadRequest(format!("Message type got modified: {wanted}"))
            })?;
        if !self.store().update_message(&message).await? {
            return Err(message_not_found(message_id));
        }
        Ok(shown)
    }

    /// Empties the agent's history down to its system message, optionally followed by a new
    /// default boot sequence, and recompiles the system prompt.
    pub async fn reset(
        &self,
        actor: &Actor,
        agent_id: &str,
        add_default_initial_messages: bool,
    ) -> ServiceResult<AgentState> {
        let agents = self.agents();
        let row = agents.row(actor, agent_id).await?;
        let Some(system_id) = row.message_ids.first().cloned() else {
            return Err(ServiceError::BadRequest(format!(
                "Agent {agent_id} has no message_ids - cannot preserve system message"
            )));
        };
        let ts = now();
        let mut keep = vec![system_id];
        if add_default_initial_messages {
            // The default sequence starts with a system message; the agent keeps its own.
            let boot: Vec<Message> = agents
                .initial_messages(
                    actor,
                    Boot {
                        agent_id,
                        agent_type: row.agent_type,
                        initial_sequence: None,
                        system: &row.system,
                        blocks: &[],
                        llm: &row.llm_config,
                        timezone: row.timezone.as_deref().unwrap_or("UTC"),
                        ts,
                    },
                )
                .into_iter()
                .skip(1)
                .collect();
            self.store().insert_messages(&boot).await?;
            keep.extend(boot.iter().map(|m| m.id.clone()));
        }
        // The context list moves first, so it never names a deleted message.
        let patch = AgentPatch {
            message_ids: Some(keep.clone()),
            last_updated_by_id: Some(actor.user_id.clone()),
            updated_at: Some(ts),
            ..AgentPatch::default()
        };
        if !self
            .store()
            .update_agent(&actor.organization_id, agent_id, &patch)
            .await?
        {
            return Err(ServiceError::NotFound(format!(
                "Agent not found with id='{agent_id}'"
            )));
        }
        self.store()
            .delete_agent_messages_except(agent_id, &keep)
            .await?;
        let row = agents.row(actor, agent_id).await?;
        agents.rebuild_system_prompt(&row, Some(now())).await?;
        agents.get(actor, agent_id, RelationSet::ALL).await
    }
}

/// Content parts given in an update must be of these kinds.
fn check_parts(parts: &[Value], kinds: &[&str]) -> ServiceResult<()> {
    for (i, part) in parts.iter().enumerate() {
        let kind = part.get("type").and_then(Value::as_str);
        let ok = match kind {
            Some("text") if kinds.contains(&"text") => {
                part.get("text").is_some_and(Value::is_string)
            }
            Some(k) => kinds.contains(&k),
            None => false,
        };
        if !ok {
            return Err(ServiceError::Validation {
                loc: vec![json!("body"), json!("content"), json!(i)],
                msg: format!(
                    "Input should be a content part of type {}",
                    kinds
                        .iter()
                        .map(|k| format!("'{k}'"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
                input: part.clone(),
            });
        }
    }
    Ok(())
}

/// The text of text parts, joined.
fn parts_text(parts: &[Value]) -> String {
    parts
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("")
}

/// Replaces the message argument of the message's first tool call, which must be the
/// assistant tool; the other arguments keep their values and order.
fn rewrite_assistant_call(message: &mut Message, text: &str) -> ServiceResult<()> {
    let Some(call) = message
        .tool_calls
        .first_mut()
        .filter(|c| c.function.name == ASSISTANT_TOOL)
    else {
        return Err(ServiceError::BadRequest(format!(
            "Message {} is not a {ASSISTANT_TOOL} call; only those can be edited as assistant_message",
            message.id
        )));
    };
    let mut args = match serde_json::from_str::<Value>(&call.function.arguments) {
        Ok(Value::Object(map)) => map,
        _ => {
            return Err(ServiceError::BadRequest(format!(
                "The arguments of tool call {} are not a JSON object",
                call.id
            )));
        }
    };
    args.insert(ASSISTANT_KWARG.to_owned(), Value::String(text.to_owned()));
    call.function.arguments = super::pyfmt::json_python_style(&Value::Object(args));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otid_replaces_the_low_seven_bits() {
        let id = "message-51042df4-a8a1-4e21-a95e-78cc01f0a01c";
        assert_eq!(otid(id, 0).unwrap(), "51042df4-a8a1-4e21-a95e-78cc01f0a000");
        assert_eq!(otid(id, 1).unwrap(), "51042df4-a8a1-4e21-a95e-78cc01f0a001");
        assert_eq!(
            otid("message-b11b002c-1f17-487c-898e-2480dcec684d", 0).unwrap(),
            "b11b002c-1f17-487c-898e-2480dcec6800"
        );
    }

    #[test]
    fn wrapped_user_messages_unpack() {
        assert_eq!(
            unpack_user_text(r#"{"type": "user_message", "message": "hi", "time": "t"}"#),
            "hi"
        );
        let login = r#"{"type": "login", "last_login": "Never"}"#;
        assert_eq!(unpack_user_text(login), login);
        assert_eq!(unpack_user_text("plain"), "plain");
    }
}
