//! Context-window bookkeeping: when the in-context messages outgrow the model's window, the
//! oldest ones are summarized by the model into one message and leave the context. Nothing
//! leaves the history (spec: agent-loop-and-messages §6.7, partial eviction).

use serde_json::{Value, json};

use crate::llm::chat::{ChatContent, ChatMessage, ChatRequest, ToolChoice};
use crate::schemas::common::now;
use crate::schemas::message::{Message, MessageRole, text_part};
use crate::schemas::org::Actor;
use crate::services::pyfmt::json_python_style;
use crate::services::{ServiceError, ServiceResult};
use crate::state::AppState;
use crate::store::AgentRow;

/// Text every summary message carries, by which the context overview recognises it.
pub const SUMMARY_MARKER: &str = "earlier messages were moved out of your context window";

/// Share of the in-context messages that is kept (the oldest 30% are summarized).
const KEEP_FRACTION: f64 = 0.7;

const SUMMARIZER_PROMPT: &str = "You condense conversations. You will receive the earlier part of a \
conversation between an AI agent and a user, including the agent's tool calls and their results. \
Write a summary of it from the agent's point of view, in the first person (\"I\"), that keeps what \
the agent needs to continue the conversation well: who the user is, what they asked for, what was \
decided or promised, facts learned, and anything left unresolved. Leave out greetings and \
small talk. Use plain prose, at most 100 words, and answer with the summary only.";
const SUMMARIZER_ACK: &str =
    "Ready. Send the conversation and I will reply with the summary alone.";

/// Python's round(): halves go to the even neighbour.
fn round_half_even(x: f64) -> usize {
    let floor = x.floor();
    let diff = x - floor;
    let n = if (diff - 0.5).abs() < f64::EPSILON {
        if (floor as i64) % 2 == 0 {
            floor
        } else {
            floor + 1.0
        }
    } else {
        x.round()
    };
    n.max(0.0) as usize
}

/// Where the context is cut: the first assistant message at or after 70% of it.
pub fn cut_index(context: &[Message]) -> Option<usize> {
    let target = round_half_even(KEEP_FRACTION * context.len() as f64).max(1);
    (target..context.len()).find(|&i| context[i].role == MessageRole::Assistant)
}

/// One message in the transcript the summarizer reads.
fn transcript_line(m: &Message) -> String {
    let text: String = m
        .content
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("\n");
    let mut obj = serde_json::Map::new();
    obj.insert(
        "content".into(),
        if text.is_empty() {
            Value::Null
        } else {
            json!(text)
        },
    );
    obj.insert("role".into(), json!(m.role.as_str()));
    if !m.tool_calls.is_empty() {
        obj.insert(
            "tool_calls".into(),
            serde_json::to_value(&m.tool_calls).unwrap_or(Value::Null),
        );
    }
    if let Some(id) = &m.tool_call_id
        && m.role == MessageRole::Tool
    {
        obj.insert("tool_call_id".into(), json!(id));
    }
    if let Some(name) = &m.name {
        obj.insert("name".into(), json!(name));
    }
    json_python_style(&Value::Object(obj))
}

/// Summarizes the oldest part of `context` (system message first) with the agent's model,
/// persists the summary as a user message, and returns the new context:
/// `[system, summary] + context[cut..]`.
pub async fn summarize_partial(
    state: &AppState,
    actor: &Actor,
    row: &AgentRow,
    context: Vec<Message>,
) -> ServiceResult<Vec<Message>> {
    let cut = cut_index(&context).ok_or_else(|| {
        ServiceError::BadRequest(
            "The conversation cannot be summarized yet: there is no assistant message to cut at"
                .into(),
        )
    })?;
    let transcript: Vec<String> = context[1..cut]
        .iter()
        .filter(|m| m.role != MessageRole::System)
        .map(transcript_line)
        .collect();
    let model = crate::llm::chat_model_for(&row.llm_config, &state.providers)
        .map_err(ServiceError::from)?;
    let request = ChatRequest {
        model: row.llm_config.model.clone(),
        messages: vec![
            ChatMessage::System {
                content: SUMMARIZER_PROMPT.to_owned(),
            },
            ChatMessage::Assistant {
                content: Some(SUMMARIZER_ACK.to_owned()),
                tool_calls: Vec::new(),
                reasoning: Vec::new(),
            },
            ChatMessage::User {
                content: ChatContent::Text(transcript.join("\n")),
            },
        ],
        tools: Vec::new(),
        tool_choice: ToolChoice::Unset,
        temperature: Some(row.llm_config.temperature),
        max_tokens: row.llm_config.max_tokens,
        user: Some(actor.user_id.clone()),
        ..ChatRequest::default()
    };
    let response = model.complete(&request).await.map_err(ServiceError::from)?;
    let summary = response
        .content
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            ServiceError::upstream(
                crate::llm::chat::LlmErrorKind::InvalidResponse,
                "The model returned an empty summary",
            )
        })?;
    let ts = now();
    let body = serde_json::to_string_pretty(&json!({
        "type": "system_alert",
        "message": format!(
            "Note: {} {SUMMARY_MARKER} to save space; they remain searchable in recall memory. Summary of them:\n{summary}",
            cut - 1
        ),
        "time": crate::services::prompts::format_agent_time(ts, row.timezone.as_deref()),
    }))
    .unwrap_or_default();
    let message = Message::new(
        &row.organization_id,
        &row.id,
        &actor.user_id,
        MessageRole::User,
        vec![text_part(body)],
        Some(row.llm_config.model.clone()),
        ts,
    );
    state
        .store
        .insert_messages(std::slice::from_ref(&message))
        .await?;
    let mut out = Vec::with_capacity(context.len() - cut + 2);
    let mut iter = context.into_iter();
    out.extend(iter.next());
    out.push(message);
    out.extend(iter.skip(cut - 1));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_matches_python() {
        assert_eq!(round_half_even(13.3), 13);
        assert_eq!(round_half_even(2.5), 2);
        assert_eq!(round_half_even(3.5), 4);
    }
}
