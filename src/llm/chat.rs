//! The chat-completion contract the agent loop uses. Provider-neutral and shaped after the
//! OpenAI chat format; each wire protocol module (`openai`, `anthropic`) implements
//! [`ChatModel`] by translating to and from its own format.

use std::pin::Pin;

use async_trait::async_trait;
use futures_util::Stream;
use serde_json::Value;

/// One message of the conversation sent to the model.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatMessage {
    System {
        content: String,
    },
    User {
        /// Plain text, or OpenAI-style content parts (text and images).
        content: ChatContent,
    },
    Assistant {
        content: Option<String>,
        tool_calls: Vec<ChatToolCall>,
        /// Native reasoning to replay (Anthropic thinking blocks need their signature).
        reasoning: Vec<ReasoningPart>,
    },
    Tool {
        tool_call_id: String,
        /// The tool's name (Anthropic and some OpenAI-compatible servers want it).
        name: Option<String>,
        content: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum ChatContent {
    Text(String),
    /// OpenAI content parts (`{"type":"text",…}`, `{"type":"image_url",…}`).
    Parts(Vec<Value>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as the model produced them (a JSON object in text form).
    pub arguments: String,
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDefinition {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments (`{"type":"object","properties":…,"required":…}`).
    pub parameters: Value,
    /// OpenAI structured-output strictness.
    pub strict: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub enum ToolChoice {
    /// Send no tool_choice.
    #[default]
    Unset,
    Auto,
    /// The model must call some tool.
    Required,
    /// The model must call this tool.
    Named(String),
}

/// Extended reasoning settings (Anthropic thinking, OpenAI reasoning effort).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReasoningOptions {
    pub enabled: bool,
    pub max_reasoning_tokens: Option<i64>,
    pub effort: Option<String>,
}

/// One request to a chat model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub tools: Vec<ToolDefinition>,
    pub tool_choice: ToolChoice,
    pub temperature: Option<f64>,
    pub max_tokens: Option<i64>,
    pub frequency_penalty: Option<f64>,
    /// The acting user id, passed on as OpenAI's `user`.
    pub user: Option<String>,
    /// `Some(false)` asks for at most one tool call per response.
    pub parallel_tool_calls: Option<bool>,
    pub reasoning: ReasoningOptions,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ReasoningPart {
    /// Visible reasoning with the provider's signature, if any.
    Reasoning {
        text: String,
        signature: Option<String>,
    },
    /// Reasoning the provider returned encrypted.
    Redacted { data: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
}

/// A complete (non-streamed) model answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatResponse {
    /// Plain assistant text, if any.
    pub content: Option<String>,
    pub reasoning: Vec<ReasoningPart>,
    pub tool_calls: Vec<ChatToolCall>,
    pub usage: Usage,
    pub finish_reason: Option<String>,
}

/// An increment of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatStreamEvent {
    ContentDelta(String),
    ReasoningDelta {
        text: String,
        signature: Option<String>,
    },
    RedactedReasoning {
        data: String,
    },
    /// Part of tool call number `index`: its id and name arrive once, its arguments in
    /// pieces to be concatenated.
    ToolCallDelta {
        index: usize,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
    Usage(Usage),
    Finish(Option<String>),
}

pub type ChatStream = Pin<Box<dyn Stream<Item = Result<ChatStreamEvent, LlmError>> + Send>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LlmErrorKind {
    /// The provider could not be reached or the connection dropped.
    Connection,
    Timeout,
    /// 429 after the retries ran out.
    RateLimited,
    /// 401/403.
    Auth,
    /// The prompt is longer than the model's context window.
    ContextLength,
    /// Another 4xx: the request was refused.
    BadRequest,
    /// 5xx after the retries ran out.
    Server,
    /// The answer could not be understood.
    InvalidResponse,
}

impl LlmErrorKind {
    /// A stable name for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            LlmErrorKind::Connection => "connection",
            LlmErrorKind::Timeout => "timeout",
            LlmErrorKind::RateLimited => "rate_limited",
            LlmErrorKind::Auth => "auth",
            LlmErrorKind::ContextLength => "context_length",
            LlmErrorKind::BadRequest => "bad_request",
            LlmErrorKind::Server => "server_error",
            LlmErrorKind::InvalidResponse => "invalid_response",
        }
    }
}

/// A failed model call: which provider, what status it gave, what it said. Never holds an
/// API key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{provider} error{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
pub struct LlmError {
    pub kind: LlmErrorKind,
    pub provider: String,
    pub status: Option<u16>,
    pub message: String,
    /// How long the provider asked callers to wait (its `Retry-After`), when it said so;
    /// passed on to our own clients with a 429.
    pub retry_after: Option<std::time::Duration>,
}

/// A chat model behind one wire protocol.
#[async_trait]
pub trait ChatModel: Send + Sync {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError>;
    /// Opens a streamed answer; errors while opening are returned here, errors later come
    /// through the stream.
    async fn stream(&self, request: &ChatRequest) -> Result<ChatStream, LlmError>;
}

/// Folds streamed events into the answer a non-streamed call would have given.
pub async fn collect_stream(mut stream: ChatStream) -> Result<ChatResponse, LlmError> {
    use futures_util::StreamExt;
    let mut collector = StreamCollector::default();
    while let Some(event) = stream.next().await {
        collector.push(&event?);
    }
    Ok(collector.finish())
}

/// Accumulates streamed events one at a time (for callers that also act on each event).
#[derive(Debug, Default)]
pub struct StreamCollector {
    response: ChatResponse,
    calls: Vec<ChatToolCall>,
}

impl StreamCollector {
    pub fn push(&mut self, event: &ChatStreamEvent) {
        let response = &mut self.response;
        match event {
            ChatStreamEvent::ContentDelta(text) => response
                .content
                .get_or_insert_with(String::new)
                .push_str(text),
            ChatStreamEvent::ReasoningDelta { text, signature } => {
                match response.reasoning.last_mut() {
                    Some(ReasoningPart::Reasoning {
                        text: t,
                        signature: s,
                    }) => {
                        t.push_str(text);
                        if signature.is_some() {
                            *s = signature.clone();
                        }
                    }
                    _ => response.reasoning.push(ReasoningPart::Reasoning {
                        text: text.clone(),
                        signature: signature.clone(),
                    }),
                }
            }
            ChatStreamEvent::RedactedReasoning { data } => response
                .reasoning
                .push(ReasoningPart::Redacted { data: data.clone() }),
            ChatStreamEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            } => {
                while self.calls.len() <= *index {
                    self.calls.push(ChatToolCall {
                        id: String::new(),
                        name: String::new(),
                        arguments: String::new(),
                    });
                }
                let call = &mut self.calls[*index];
                if let Some(id) = id {
                    call.id = id.clone();
                }
                if let Some(name) = name {
                    call.name.push_str(name);
                }
                call.arguments.push_str(arguments);
            }
            ChatStreamEvent::Usage(usage) => response.usage = *usage,
            ChatStreamEvent::Finish(reason) => response.finish_reason = reason.clone(),
        }
    }

    pub fn finish(self) -> ChatResponse {
        let mut response = self.response;
        response.tool_calls = self
            .calls
            .into_iter()
            .filter(|c| !c.name.is_empty())
            .collect();
        response
    }
}
