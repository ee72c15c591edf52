//! The LettaMessage union (what clients see of the history), and the request/response
//! bodies of the message routes.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::message::{MessageContent, MessageCreate};

/// Fields every LettaMessage starts with, in the original's key order.
macro_rules! letta_message {
    ($(#[$doc:meta])* $name:ident, $tag:literal { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
        pub struct $name {
            pub id: String,
            pub date: String,
            pub name: Option<String>,
            #[schema(default = $tag, required = false)]
            pub message_type: String,
            pub otid: Option<String>,
            pub sender_id: Option<String>,
            pub step_id: Option<String>,
            $($(#[$fmeta])* pub $field: $ty),*
        }
    };
}

letta_message!(
    /// A system message (the system prompt or a system-role input).
    SystemMessage, "system_message" { pub content: String });
letta_message!(
/// A user message; content is the text, or the parts when there are several.
UserMessage, "user_message" {
    #[schema(value_type = Object)]
    pub content: Value,
});
letta_message!(
/// The agent's reasoning before a tool call.
ReasoningMessage, "reasoning_message" {
    #[schema(default = "non_reasoner_model", required = false)]
    pub source: String,
    pub reasoning: String,
    pub signature: Option<String>,
});
letta_message!(
/// Reasoning the provider did not reveal.
HiddenReasoningMessage, "hidden_reasoning_message" {
    pub state: String,
    pub hidden_reasoning: Option<String>,
});
letta_message!(
/// A tool call the agent made.
ToolCallMessage, "tool_call_message" {
    #[schema(value_type = ToolCall)]
    pub tool_call: Value,
});
letta_message!(
/// The result of a tool call.
ToolReturnMessage, "tool_return_message" {
    pub tool_return: String,
    pub status: String,
    pub tool_call_id: String,
    pub stdout: Option<Vec<String>>,
    pub stderr: Option<Vec<String>>,
});
letta_message!(
/// What the agent said to the user (a send_message call).
AssistantMessage, "assistant_message" {
    #[schema(value_type = Object)]
    pub content: Value,
});

/// A tool call inside a `tool_call_message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolCall {
    pub name: String,
    pub arguments: String,
    pub tool_call_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = LettaMessageUnion)]
pub enum LettaMessage {
    System(SystemMessage),
    User(UserMessage),
    Reasoning(ReasoningMessage),
    HiddenReasoning(HiddenReasoningMessage),
    ToolCall(ToolCallMessage),
    ToolReturn(ToolReturnMessage),
    Assistant(AssistantMessage),
}

impl LettaMessage {
    pub fn message_type(&self) -> &str {
        match self {
            LettaMessage::System(m) => &m.message_type,
            LettaMessage::User(m) => &m.message_type,
            LettaMessage::Reasoning(m) => &m.message_type,
            LettaMessage::HiddenReasoning(m) => &m.message_type,
            LettaMessage::ToolCall(m) => &m.message_type,
            LettaMessage::ToolReturn(m) => &m.message_type,
            LettaMessage::Assistant(m) => &m.message_type,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    SystemMessage,
    UserMessage,
    AssistantMessage,
    ReasoningMessage,
    HiddenReasoningMessage,
    ToolCallMessage,
    ToolReturnMessage,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::SystemMessage => "system_message",
            MessageType::UserMessage => "user_message",
            MessageType::AssistantMessage => "assistant_message",
            MessageType::ReasoningMessage => "reasoning_message",
            MessageType::HiddenReasoningMessage => "hidden_reasoning_message",
            MessageType::ToolCallMessage => "tool_call_message",
            MessageType::ToolReturnMessage => "tool_return_message",
        }
    }
}

fn default_max_steps() -> i64 {
    50
}
fn default_true() -> bool {
    true
}
fn default_tool_name() -> String {
    "send_message".to_owned()
}
fn default_tool_kwarg() -> String {
    "message".to_owned()
}

/// Body of `POST /v1/agents/{agent_id}/messages`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LettaRequest {
    pub messages: Vec<MessageCreate>,
    #[serde(default = "default_max_steps")]
    #[schema(default = 50)]
    pub max_steps: i64,
    #[serde(default = "default_true")]
    #[schema(default = true)]
    pub use_assistant_message: bool,
    #[serde(default = "default_tool_name")]
    #[schema(default = "send_message")]
    pub assistant_message_tool_name: String,
    #[serde(default = "default_tool_kwarg")]
    #[schema(default = "message")]
    pub assistant_message_tool_kwarg: String,
    #[serde(default)]
    pub include_return_message_types: Option<Vec<MessageType>>,
}

impl LettaRequest {
    /// A request with these messages and every option at its default.
    pub fn new(messages: Vec<MessageCreate>) -> Self {
        LettaRequest {
            messages,
            max_steps: default_max_steps(),
            use_assistant_message: true,
            assistant_message_tool_name: default_tool_name(),
            assistant_message_tool_kwarg: default_tool_kwarg(),
            include_return_message_types: None,
        }
    }
}

/// Body of `POST /v1/agents/{agent_id}/messages/stream`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LettaStreamingRequest {
    pub messages: Vec<MessageCreate>,
    #[serde(default = "default_max_steps")]
    #[schema(default = 50)]
    pub max_steps: i64,
    #[serde(default = "default_true")]
    #[schema(default = true)]
    pub use_assistant_message: bool,
    #[serde(default = "default_tool_name")]
    #[schema(default = "send_message")]
    pub assistant_message_tool_name: String,
    #[serde(default = "default_tool_kwarg")]
    #[schema(default = "message")]
    pub assistant_message_tool_kwarg: String,
    #[serde(default)]
    pub include_return_message_types: Option<Vec<MessageType>>,
    /// Stream the model's answer token by token rather than step by step.
    #[serde(default)]
    #[schema(default = false)]
    pub stream_tokens: bool,
}

/// Body of `POST /v1/agents/{agent_id}/messages/async`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LettaAsyncRequest {
    pub messages: Vec<MessageCreate>,
    #[serde(default = "default_max_steps")]
    #[schema(default = 50)]
    pub max_steps: i64,
    #[serde(default = "default_true")]
    #[schema(default = true)]
    pub use_assistant_message: bool,
    #[serde(default = "default_tool_name")]
    #[schema(default = "send_message")]
    pub assistant_message_tool_name: String,
    #[serde(default = "default_tool_kwarg")]
    #[schema(default = "message")]
    pub assistant_message_tool_kwarg: String,
    #[serde(default)]
    pub include_return_message_types: Option<Vec<MessageType>>,
    /// URL that receives a POST with the run when it ends.
    #[serde(default)]
    pub callback_url: Option<String>,
}

impl LettaStreamingRequest {
    /// The plain request and whether tokens are streamed.
    pub fn split(self) -> (LettaRequest, bool) {
        (
            LettaRequest {
                messages: self.messages,
                max_steps: self.max_steps,
                use_assistant_message: self.use_assistant_message,
                assistant_message_tool_name: self.assistant_message_tool_name,
                assistant_message_tool_kwarg: self.assistant_message_tool_kwarg,
                include_return_message_types: self.include_return_message_types,
            },
            self.stream_tokens,
        )
    }
}

impl LettaAsyncRequest {
    /// The plain request and the callback URL.
    pub fn split(self) -> (LettaRequest, Option<String>) {
        (
            LettaRequest {
                messages: self.messages,
                max_steps: self.max_steps,
                use_assistant_message: self.use_assistant_message,
                assistant_message_tool_name: self.assistant_message_tool_name,
                assistant_message_tool_kwarg: self.assistant_message_tool_kwarg,
                include_return_message_types: self.include_return_message_types,
            },
            self.callback_url,
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StopReasonType {
    EndTurn,
    Error,
    InvalidToolCall,
    MaxSteps,
    NoToolCall,
    ToolRule,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LettaStopReason {
    #[schema(default = "stop_reason")]
    pub message_type: String,
    pub stop_reason: StopReasonType,
}

impl LettaStopReason {
    pub fn new(stop_reason: StopReasonType) -> Self {
        LettaStopReason {
            message_type: "stop_reason".to_owned(),
            stop_reason,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LettaUsageStatistics {
    #[schema(default = "usage_statistics")]
    pub message_type: String,
    pub completion_tokens: i64,
    pub prompt_tokens: i64,
    pub total_tokens: i64,
    pub step_count: i64,
    #[schema(value_type = Option<Vec<Object>>)]
    pub steps_messages: Option<Value>,
    pub run_ids: Option<Vec<String>>,
}

impl Default for LettaUsageStatistics {
    fn default() -> Self {
        LettaUsageStatistics {
            message_type: "usage_statistics".to_owned(),
            completion_tokens: 0,
            prompt_tokens: 0,
            total_tokens: 0,
            step_count: 0,
            steps_messages: None,
            run_ids: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LettaResponse {
    pub messages: Vec<LettaMessage>,
    pub stop_reason: LettaStopReason,
    pub usage: LettaUsageStatistics,
}

/// Body of `PATCH …/messages/{message_id}`, discriminated by `message_type`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "message_type")]
pub enum LettaMessageUpdate {
    #[serde(rename = "system_message")]
    System(UpdateSystemMessage),
    #[serde(rename = "user_message")]
    User(UpdateUserMessage),
    #[serde(rename = "reasoning_message")]
    Reasoning(UpdateReasoningMessage),
    #[serde(rename = "assistant_message")]
    Assistant(UpdateAssistantMessage),
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct UpdateSystemMessage {
    pub content: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct UpdateUserMessage {
    pub content: MessageContent,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct UpdateReasoningMessage {
    pub reasoning: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct UpdateAssistantMessage {
    pub content: MessageContent,
}
