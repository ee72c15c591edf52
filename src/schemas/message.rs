//! Stored messages (the internal `Message`) and the `MessageCreate` input.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    System,
    User,
    Assistant,
    Tool,
}

impl MessageRole {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageRole::System => "system",
            MessageRole::User => "user",
            MessageRole::Assistant => "assistant",
            MessageRole::Tool => "tool",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "system" => Some(MessageRole::System),
            "user" => Some(MessageRole::User),
            "assistant" => Some(MessageRole::Assistant),
            "tool" => Some(MessageRole::Tool),
            _ => None,
        }
    }
}

/// One content part of a message (`{"type": "text", "text": …}` and the other part kinds,
/// kept as JSON so parts this server does not interpret survive a round trip).
pub type ContentPart = Value;

pub fn text_part(text: impl Into<String>) -> ContentPart {
    serde_json::json!({"type": "text", "text": text.into()})
}

/// A tool call as the OpenAI wire format spells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub function: FunctionCall,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    pub arguments: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolReturnRecord {
    pub status: String,
    pub stdout: Option<Vec<String>>,
    pub stderr: Option<Vec<String>>,
}

/// A message as stored in an agent's history.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: String,
    pub organization_id: String,
    pub agent_id: String,
    pub role: MessageRole,
    pub content: Vec<ContentPart>,
    pub model: Option<String>,
    pub name: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    pub tool_call_id: Option<String>,
    pub tool_returns: Vec<ToolReturnRecord>,
    pub step_id: Option<String>,
    pub otid: Option<String>,
    pub group_id: Option<String>,
    pub sender_id: Option<String>,
    pub batch_item_id: Option<String>,
    pub created_by_id: Option<String>,
    pub last_updated_by_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Message {
    /// A new message of an agent with a fresh id, written by `author` at `ts`; the other
    /// fields start empty.
    pub fn new(
        organization_id: &str,
        agent_id: &str,
        author: &str,
        role: MessageRole,
        content: Vec<ContentPart>,
        model: Option<String>,
        ts: Timestamp,
    ) -> Self {
        Message {
            id: super::new_id("message"),
            organization_id: organization_id.to_owned(),
            agent_id: agent_id.to_owned(),
            role,
            content,
            model,
            name: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
            tool_returns: Vec::new(),
            step_id: None,
            otid: None,
            group_id: None,
            sender_id: None,
            batch_item_id: None,
            created_by_id: Some(author.to_owned()),
            last_updated_by_id: Some(author.to_owned()),
            created_at: ts,
            updated_at: ts,
        }
    }

    /// The text of the first text part, if any.
    pub fn text(&self) -> Option<&str> {
        self.content
            .iter()
            .find(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .and_then(|p| p.get("text"))
            .and_then(Value::as_str)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageCreateRole {
    User,
    System,
    Assistant,
}

/// Message content given as a plain string or as a list of parts.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    #[schema(value_type = Vec<Object>)]
    Parts(Vec<Value>),
}

impl MessageContent {
    /// The text a client meant: the string, or the text parts joined.
    pub fn to_text(&self) -> String {
        match self {
            MessageContent::Text(s) => s.clone(),
            MessageContent::Parts(parts) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct MessageCreate {
    pub role: MessageCreateRole,
    pub content: MessageContent,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub otid: Option<String>,
    #[serde(default)]
    pub sender_id: Option<String>,
    #[serde(default)]
    pub batch_item_id: Option<String>,
    #[serde(default)]
    pub group_id: Option<String>,
}
