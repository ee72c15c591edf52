//! Chat over the Anthropic Messages protocol (`POST {base}/messages`).

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value, json};

use super::API_VERSION;
use crate::config::Secret;
use crate::llm::chat::{
    ChatContent, ChatMessage, ChatModel, ChatRequest, ChatResponse, ChatStream, ChatStreamEvent,
    ChatToolCall, LlmError, LlmErrorKind, ReasoningPart, ToolChoice, Usage,
};
use crate::llm::join_url;
use crate::llm::sse::SseEvent;
use crate::llm::transport::{Decoded, HttpSettings, Transport, chat_stream};

/// `max_tokens` is required by the API; this is sent when the request has none.
pub const DEFAULT_MAX_TOKENS: i64 = 4096;

/// The smallest thinking budget the API accepts.
pub const MIN_THINKING_BUDGET: i64 = 1024;

/// The user turn put first when a conversation does not start with one (the API requires
/// it).
pub const FIRST_USER_PLACEHOLDER: &str = "(the conversation begins)";

/// A chat model reached over the Anthropic Messages protocol.
#[derive(Debug, Clone)]
pub struct AnthropicChat {
    endpoint: Transport,
    url: String,
}

impl AnthropicChat {
    pub fn new(
        client: reqwest::Client,
        settings: HttpSettings,
        provider: impl Into<String>,
        base_url: &str,
        api_key: Option<Secret>,
    ) -> Self {
        let api_key = api_key.filter(|k| !k.expose().is_empty());
        let mut headers = HeaderMap::new();
        if let Some(key) = &api_key
            && let Ok(mut value) = HeaderValue::from_str(key.expose())
        {
            value.set_sensitive(true);
            headers.insert(HeaderName::from_static("x-api-key"), value);
        }
        headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(API_VERSION),
        );
        AnthropicChat {
            endpoint: Transport {
                client,
                settings,
                provider: provider.into(),
                headers,
                secret: api_key,
                classify: classify_error,
            },
            url: join_url(base_url, "messages"),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

#[async_trait]
impl ChatModel for AnthropicChat {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let body = request_body(request, false);
        let answer = self.endpoint.post_json(&self.url, &body).await?;
        parse_response(&answer)
            .map_err(|(kind, message)| self.endpoint.error(kind, Some(200), &message))
    }

    async fn stream(&self, request: &ChatRequest) -> Result<ChatStream, LlmError> {
        let body = request_body(request, true);
        let events = self.endpoint.post_sse(&self.url, &body).await?;
        let mut decoder = StreamDecoder::default();
        Ok(chat_stream(
            events,
            move |event| decoder.decode(event),
            self.endpoint.clone(),
        ))
    }
}

/// The JSON body of a Messages call.
pub fn request_body(request: &ChatRequest, stream: bool) -> Value {
    let (system, messages) = translate_messages(&request.messages);
    let thinking = request.reasoning.enabled;
    let mut max_tokens = request
        .max_tokens
        .filter(|m| *m > 0)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    let budget = thinking.then(|| {
        let budget = request
            .reasoning
            .max_reasoning_tokens
            .unwrap_or(MIN_THINKING_BUDGET)
            .max(MIN_THINKING_BUDGET);
        // The budget must stay below max_tokens.
        if max_tokens <= budget {
            max_tokens = budget + DEFAULT_MAX_TOKENS;
        }
        budget
    });
    body.insert("max_tokens".into(), json!(max_tokens));
    if let Some(system) = system {
        body.insert("system".into(), json!(system));
    }
    body.insert("messages".into(), Value::Array(messages));
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                let mut tool = Map::new();
                tool.insert("name".into(), json!(t.name));
                if let Some(description) = &t.description {
                    tool.insert("description".into(), json!(description));
                }
                tool.insert("input_schema".into(), t.parameters.clone());
                Value::Object(tool)
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        // Thinking allows only automatic tool choice.
        let mut choice = match (&request.tool_choice, thinking) {
            (_, true) | (ToolChoice::Auto, _) => Some(json!({"type": "auto"})),
            (ToolChoice::Unset, _) => None,
            (ToolChoice::Required, _) => Some(json!({"type": "any"})),
            (ToolChoice::Named(name), _) => Some(json!({"type": "tool", "name": name})),
        };
        if request.parallel_tool_calls == Some(false) {
            let choice = choice.get_or_insert_with(|| json!({"type": "auto"}));
            choice["disable_parallel_tool_use"] = json!(true);
        }
        if let Some(choice) = choice {
            body.insert("tool_choice".into(), choice);
        }
    }
    match budget {
        Some(budget) => {
            body.insert(
                "thinking".into(),
                json!({"type": "enabled", "budget_tokens": budget}),
            );
        }
        None => {
            if let Some(temperature) = request.temperature {
                body.insert("temperature".into(), json!(temperature));
            }
        }
    }
    if let Some(user) = &request.user {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    if stream {
        body.insert("stream".into(), json!(true));
    }
    Value::Object(body)
}

/// Tool-use ids as the API accepts them (`[A-Za-z0-9_-]+`).
pub fn wire_tool_id(id: &str) -> String {
    let cleaned: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "toolu_missing".to_owned()
    } else {
        cleaned
    }
}

/// The top-level system prompt and the alternating user/assistant turns.
///
/// System messages before the first turn form the system prompt; later ones become user
/// text. Tool results become `tool_result` blocks of a user turn (results of an unknown
/// call become plain text); consecutive turns of one role are merged, with tool results
/// first in a user turn. A conversation that does not start with a user turn gets
/// [`FIRST_USER_PLACEHOLDER`] first.
pub fn translate_messages(messages: &[ChatMessage]) -> (Option<String>, Vec<Value>) {
    let mut system: Vec<&str> = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    let mut tool_ids: HashSet<String> = HashSet::new();
    fn push(turns: &mut Vec<(&'static str, Vec<Value>)>, role: &'static str, blocks: Vec<Value>) {
        if blocks.is_empty() {
            return;
        }
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    for message in messages {
        match message {
            ChatMessage::System { content } if turns.is_empty() => {
                if !content.trim().is_empty() {
                    system.push(content);
                }
            }
            ChatMessage::System { content } => push(&mut turns, "user", text_block(content)),
            ChatMessage::User { content } => {
                let blocks = match content {
                    ChatContent::Text(text) => text_block(text),
                    ChatContent::Parts(parts) => parts.iter().filter_map(user_part).collect(),
                };
                push(&mut turns, "user", blocks);
            }
            ChatMessage::Assistant {
                content,
                tool_calls,
                reasoning,
            } => {
                let mut blocks: Vec<Value> = reasoning
                    .iter()
                    .filter_map(|part| match part {
                        ReasoningPart::Reasoning {
                            text,
                            signature: Some(signature),
                        } => Some(
                            json!({"type": "thinking", "thinking": text, "signature": signature}),
                        ),
                        // Unsigned reasoning (from another provider) cannot be replayed.
                        ReasoningPart::Reasoning {
                            signature: None, ..
                        } => None,
                        ReasoningPart::Redacted { data } => {
                            Some(json!({"type": "redacted_thinking", "data": data}))
                        }
                    })
                    .collect();
                if let Some(text) = content {
                    blocks.extend(text_block(text));
                }
                for call in tool_calls {
                    let id = wire_tool_id(&call.id);
                    tool_ids.insert(id.clone());
                    blocks.push(json!({
                        "type": "tool_use",
                        "id": id,
                        "name": call.name,
                        "input": arguments_object(&call.arguments)
                    }));
                }
                push(&mut turns, "assistant", blocks);
            }
            ChatMessage::Tool {
                tool_call_id,
                name,
                content,
            } => {
                let id = wire_tool_id(tool_call_id);
                let block = if tool_ids.contains(&id) {
                    json!({"type": "tool_result", "tool_use_id": id, "content": content})
                } else {
                    let label = name.as_deref().unwrap_or(tool_call_id);
                    json!({"type": "text", "text": format!("[tool result of {label}] {content}")})
                };
                push(&mut turns, "user", vec![block]);
            }
        }
    }
    if turns.first().is_none_or(|(role, _)| *role != "user") {
        turns.insert(0, ("user", text_block(FIRST_USER_PLACEHOLDER)));
    }
    let messages = turns
        .into_iter()
        .map(|(role, mut blocks)| {
            if role == "user" {
                // Tool results come first in a user turn.
                blocks.sort_by_key(|b| b["type"] != "tool_result");
                if let [only] = blocks.as_slice()
                    && only["type"] == "text"
                {
                    return json!({"role": role, "content": only["text"]});
                }
            }
            json!({"role": role, "content": blocks})
        })
        .collect();
    let system = (!system.is_empty()).then(|| system.join("\n\n"));
    (system, messages)
}

/// A text block, or none for blank text (the API refuses empty text blocks).
fn text_block(text: &str) -> Vec<Value> {
    if text.trim().is_empty() {
        Vec::new()
    } else {
        vec![json!({"type": "text", "text": text})]
    }
}

/// An OpenAI content part as an Anthropic block.
fn user_part(part: &Value) -> Option<Value> {
    match part["type"].as_str() {
        Some("text") => {
            let text = part["text"].as_str().unwrap_or_default();
            text_block(text).pop()
        }
        Some("image_url") => {
            let url = part["image_url"]["url"]
                .as_str()
                .or(part["image_url"].as_str())?;
            let source = match url
                .strip_prefix("data:")
                .and_then(|rest| rest.split_once(";base64,"))
            {
                Some((media_type, data)) => {
                    json!({"type": "base64", "media_type": media_type, "data": data})
                }
                None => json!({"type": "url", "url": url}),
            };
            Some(json!({"type": "image", "source": source}))
        }
        // Already an Anthropic block, or something the API will judge.
        _ => Some(part.clone()),
    }
}

/// Tool-call arguments as the object `tool_use.input` must be (`{}` when unreadable).
fn arguments_object(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(map)) => Value::Object(map),
        _ => json!({}),
    }
}

/// Anthropic's stop reasons in the OpenAI terms of the chat contract.
pub fn finish_reason(stop_reason: &str) -> String {
    match stop_reason {
        "end_turn" | "stop_sequence" => "stop",
        "tool_use" => "tool_calls",
        "max_tokens" => "length",
        "refusal" => "content_filter",
        other => other,
    }
    .to_owned()
}

fn input_tokens(usage: &Value) -> i64 {
    [
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ]
    .iter()
    .filter_map(|k| usage[*k].as_i64())
    .sum()
}

/// A non-streamed answer.
pub fn parse_response(answer: &Value) -> Result<ChatResponse, (LlmErrorKind, String)> {
    if answer["type"] == "error" {
        return Err(error_event(&answer["error"]));
    }
    let blocks = answer["content"].as_array().ok_or_else(|| {
        (
            LlmErrorKind::InvalidResponse,
            "the answer has no content".to_owned(),
        )
    })?;
    let mut response = ChatResponse::default();
    for block in blocks {
        match block["type"].as_str() {
            Some("text") => response
                .content
                .get_or_insert_with(String::new)
                .push_str(block["text"].as_str().unwrap_or_default()),
            Some("tool_use") => {
                let name = block["name"].as_str().unwrap_or_default();
                let id = block["id"].as_str().unwrap_or_default();
                if name.is_empty() || id.is_empty() {
                    return Err((
                        LlmErrorKind::InvalidResponse,
                        "a tool_use block has no id or name".to_owned(),
                    ));
                }
                let input = match &block["input"] {
                    Value::Null => json!({}),
                    other => other.clone(),
                };
                response.tool_calls.push(ChatToolCall {
                    id: id.to_owned(),
                    name: name.to_owned(),
                    arguments: input.to_string(),
                });
            }
            Some("thinking") => response.reasoning.push(ReasoningPart::Reasoning {
                text: block["thinking"].as_str().unwrap_or_default().to_owned(),
                signature: block["signature"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            }),
            Some("redacted_thinking") => response.reasoning.push(ReasoningPart::Redacted {
                data: block["data"].as_str().unwrap_or_default().to_owned(),
            }),
            _ => {}
        }
    }
    response.content = response.content.filter(|c| !c.is_empty());
    let prompt = input_tokens(&answer["usage"]);
    let completion = answer["usage"]["output_tokens"].as_i64().unwrap_or(0);
    response.usage = Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
    };
    response.finish_reason = answer["stop_reason"].as_str().map(finish_reason);
    Ok(response)
}

/// What a content block of a streamed answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    Tool { ordinal: usize, has_arguments: bool },
    Other,
}

/// Per-stream state: the open blocks and the token counts so far.
#[derive(Debug, Default)]
struct StreamDecoder {
    blocks: HashMap<u64, Block>,
    tools: usize,
    input_tokens: i64,
    output_tokens: i64,
}

impl StreamDecoder {
    fn decode(&mut self, event: &SseEvent) -> Result<Vec<Decoded>, (LlmErrorKind, String)> {
        if event.data.trim().is_empty() {
            return Ok(Vec::new());
        }
        let data: Value = serde_json::from_str(&event.data).map_err(|err| {
            (
                LlmErrorKind::InvalidResponse,
                format!("a stream event is not valid JSON: {err}"),
            )
        })?;
        let kind = data["type"]
            .as_str()
            .or(event.event.as_deref())
            .unwrap_or_default();
        let index = data["index"].as_u64().unwrap_or(0);
        let mut out = Vec::new();
        let mut emit = |e: ChatStreamEvent| out.push(Decoded::Event(e));
        match kind {
            "message_start" => {
                let usage = &data["message"]["usage"];
                self.input_tokens = input_tokens(usage);
                self.output_tokens = usage["output_tokens"].as_i64().unwrap_or(0);
            }
            "content_block_start" => {
                let block = &data["content_block"];
                match block["type"].as_str() {
                    Some("text") => {
                        self.blocks.insert(index, Block::Text);
                        if let Some(text) = block["text"].as_str().filter(|t| !t.is_empty()) {
                            emit(ChatStreamEvent::ContentDelta(text.to_owned()));
                        }
                    }
                    Some("tool_use") => {
                        let ordinal = self.tools;
                        self.tools += 1;
                        // The start carries `input: {}`; the arguments follow as deltas.
                        let initial = match &block["input"] {
                            Value::Object(map) if !map.is_empty() => block["input"].to_string(),
                            _ => String::new(),
                        };
                        self.blocks.insert(
                            index,
                            Block::Tool {
                                ordinal,
                                has_arguments: !initial.is_empty(),
                            },
                        );
                        emit(ChatStreamEvent::ToolCallDelta {
                            index: ordinal,
                            id: block["id"].as_str().map(str::to_owned),
                            name: block["name"].as_str().map(str::to_owned),
                            arguments: initial,
                        });
                    }
                    Some("thinking") => {
                        self.blocks.insert(index, Block::Thinking);
                        if let Some(text) = block["thinking"].as_str().filter(|t| !t.is_empty()) {
                            emit(ChatStreamEvent::ReasoningDelta {
                                text: text.to_owned(),
                                signature: None,
                            });
                        }
                    }
                    Some("redacted_thinking") => {
                        self.blocks.insert(index, Block::Other);
                        emit(ChatStreamEvent::RedactedReasoning {
                            data: block["data"].as_str().unwrap_or_default().to_owned(),
                        });
                    }
                    _ => {
                        self.blocks.insert(index, Block::Other);
                    }
                }
            }
            "content_block_delta" => {
                let delta = &data["delta"];
                let text = |key: &str| delta[key].as_str().unwrap_or_default().to_owned();
                match delta["type"].as_str() {
                    Some("text_delta") => {
                        let piece = text("text");
                        if !piece.is_empty() {
                            emit(ChatStreamEvent::ContentDelta(piece));
                        }
                    }
                    Some("input_json_delta") => {
                        let piece = text("partial_json");
                        match self.blocks.get_mut(&index) {
                            Some(Block::Tool {
                                ordinal,
                                has_arguments,
                            }) => {
                                if !piece.is_empty() {
                                    *has_arguments = true;
                                    emit(ChatStreamEvent::ToolCallDelta {
                                        index: *ordinal,
                                        id: None,
                                        name: None,
                                        arguments: piece,
                                    });
                                }
                            }
                            _ => {
                                return Err((
                                    LlmErrorKind::InvalidResponse,
                                    format!(
                                        "tool arguments for block {index}, which is not a tool call"
                                    ),
                                ));
                            }
                        }
                    }
                    Some("thinking_delta") => emit(ChatStreamEvent::ReasoningDelta {
                        text: text("thinking"),
                        signature: None,
                    }),
                    Some("signature_delta") => emit(ChatStreamEvent::ReasoningDelta {
                        text: String::new(),
                        signature: Some(text("signature")),
                    }),
                    _ => {}
                }
            }
            "content_block_stop" => {
                if let Some(Block::Tool {
                    ordinal,
                    has_arguments: false,
                }) = self.blocks.get(&index).copied()
                {
                    // A call without arguments still has an (empty) object of them.
                    emit(ChatStreamEvent::ToolCallDelta {
                        index: ordinal,
                        id: None,
                        name: None,
                        arguments: "{}".to_owned(),
                    });
                }
            }
            "message_delta" => {
                let usage = &data["usage"];
                if let Some(output) = usage["output_tokens"].as_i64() {
                    self.output_tokens = output;
                }
                let input = input_tokens(usage);
                if input > 0 {
                    self.input_tokens = input;
                }
                emit(ChatStreamEvent::Usage(Usage {
                    prompt_tokens: self.input_tokens,
                    completion_tokens: self.output_tokens,
                    total_tokens: self.input_tokens + self.output_tokens,
                }));
                if let Some(reason) = data["delta"]["stop_reason"].as_str() {
                    emit(ChatStreamEvent::Finish(Some(finish_reason(reason))));
                }
            }
            "message_stop" => out.push(Decoded::Done),
            "error" => return Err(error_event(&data["error"])),
            // `ping` and event types added later.
            _ => {}
        }
        Ok(out)
    }
}

fn error_event(error: &Value) -> (LlmErrorKind, String) {
    let error_type = error["type"].as_str().unwrap_or_default();
    let message = error["message"]
        .as_str()
        .unwrap_or("the provider reported an error")
        .to_owned();
    let kind = match error_type {
        "rate_limit_error" => LlmErrorKind::RateLimited,
        "authentication_error" | "permission_error" => LlmErrorKind::Auth,
        "invalid_request_error" if is_context_length(&message) => LlmErrorKind::ContextLength,
        "invalid_request_error" | "not_found_error" | "request_too_large" => {
            LlmErrorKind::BadRequest
        }
        _ => LlmErrorKind::Server,
    };
    (kind, message)
}

fn is_context_length(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("prompt is too long") || lower.contains("context window")
}

/// Kind and message of an Anthropic error answer:
/// `{"type": "error", "error": {"type", "message"}}`.
pub fn classify_error(status: u16, body: &str) -> (LlmErrorKind, String) {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v["error"]["message"].as_str().or(v["message"].as_str()))
        .map(str::to_owned)
        .unwrap_or_else(|| body.trim().to_owned());
    let kind = match status {
        401 | 403 => LlmErrorKind::Auth,
        429 => LlmErrorKind::RateLimited,
        400 | 413 if is_context_length(&message) => LlmErrorKind::ContextLength,
        500..=599 => LlmErrorKind::Server,
        _ => LlmErrorKind::BadRequest,
    };
    (kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::chat::{ReasoningOptions, ToolDefinition};

    fn call(id: &str, name: &str, args: &str) -> ChatToolCall {
        ChatToolCall {
            id: id.into(),
            name: name.into(),
            arguments: args.into(),
        }
    }

    fn request() -> ChatRequest {
        ChatRequest {
            model: "claude-3-5-sonnet-20241022".into(),
            messages: vec![
                ChatMessage::System {
                    content: "be brief".into(),
                },
                ChatMessage::Assistant {
                    content: None,
                    tool_calls: vec![call("call.1", "send_message", r#"{"message":"hi"}"#)],
                    reasoning: vec![],
                },
                ChatMessage::Tool {
                    tool_call_id: "call.1".into(),
                    name: Some("send_message".into()),
                    content: "OK".into(),
                },
                ChatMessage::User {
                    content: ChatContent::Text("hello".into()),
                },
            ],
            tools: vec![ToolDefinition {
                name: "send_message".into(),
                description: Some("Sends".into()),
                parameters: json!({"type": "object", "properties": {}}),
                strict: true,
            }],
            tool_choice: ToolChoice::Required,
            temperature: Some(0.7),
            max_tokens: None,
            frequency_penalty: Some(1.0),
            user: Some("user-1".into()),
            parallel_tool_calls: Some(false),
            reasoning: ReasoningOptions::default(),
        }
    }

    #[test]
    fn body_shape() {
        let body = request_body(&request(), false);
        assert_eq!(
            body,
            json!({
                "model": "claude-3-5-sonnet-20241022",
                "max_tokens": 4096,
                "system": "be brief",
                "messages": [
                    {"role": "user", "content": FIRST_USER_PLACEHOLDER},
                    {"role": "assistant", "content": [
                        {"type": "tool_use", "id": "call_1", "name": "send_message", "input": {"message": "hi"}}
                    ]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "call_1", "content": "OK"},
                        {"type": "text", "text": "hello"}
                    ]}
                ],
                "tools": [{"name": "send_message", "description": "Sends", "input_schema": {"type": "object", "properties": {}}}],
                "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
                "temperature": 0.7,
                "metadata": {"user_id": "user-1"}
            })
        );
        assert_eq!(request_body(&request(), true)["stream"], true);
    }

    #[test]
    fn tool_choice_variants() {
        let mut r = request();
        r.parallel_tool_calls = None;
        r.tool_choice = ToolChoice::Named("send_message".into());
        assert_eq!(
            request_body(&r, false)["tool_choice"],
            json!({"type": "tool", "name": "send_message"})
        );
        r.tool_choice = ToolChoice::Auto;
        assert_eq!(
            request_body(&r, false)["tool_choice"],
            json!({"type": "auto"})
        );
        r.tool_choice = ToolChoice::Unset;
        assert!(request_body(&r, false).get("tool_choice").is_none());
        r.parallel_tool_calls = Some(false);
        assert_eq!(
            request_body(&r, false)["tool_choice"],
            json!({"type": "auto", "disable_parallel_tool_use": true})
        );
        r.tools.clear();
        assert!(request_body(&r, false).get("tool_choice").is_none());
    }

    #[test]
    fn thinking_forces_auto_and_drops_temperature() {
        let mut r = request();
        r.reasoning = ReasoningOptions {
            enabled: true,
            max_reasoning_tokens: Some(2048),
            effort: None,
        };
        r.max_tokens = Some(1000);
        let body = request_body(&r, false);
        assert_eq!(
            body["thinking"],
            json!({"type": "enabled", "budget_tokens": 2048})
        );
        assert_eq!(
            body["tool_choice"],
            json!({"type": "auto", "disable_parallel_tool_use": true})
        );
        assert!(body.get("temperature").is_none());
        assert!(body["max_tokens"].as_i64().unwrap() > 2048);
        r.reasoning.max_reasoning_tokens = Some(10);
        assert_eq!(
            request_body(&r, false)["thinking"]["budget_tokens"],
            MIN_THINKING_BUDGET
        );
    }

    #[test]
    fn history_translation() {
        let messages = vec![
            ChatMessage::System {
                content: "sys".into(),
            },
            ChatMessage::User {
                content: ChatContent::Text("first".into()),
            },
            ChatMessage::Assistant {
                content: Some("let me look".into()),
                tool_calls: vec![call("a", "f", "{}"), call("b", "g", "not json")],
                reasoning: vec![
                    ReasoningPart::Reasoning {
                        text: "hmm".into(),
                        signature: Some("sig".into()),
                    },
                    ReasoningPart::Reasoning {
                        text: "unsigned".into(),
                        signature: None,
                    },
                    ReasoningPart::Redacted { data: "enc".into() },
                ],
            },
            ChatMessage::Tool {
                tool_call_id: "a".into(),
                name: Some("f".into()),
                content: "ra".into(),
            },
            ChatMessage::Tool {
                tool_call_id: "b".into(),
                name: Some("g".into()),
                content: "rb".into(),
            },
            ChatMessage::Tool {
                tool_call_id: "zzz".into(),
                name: Some("h".into()),
                content: "orphan".into(),
            },
            ChatMessage::System {
                content: "note".into(),
            },
            ChatMessage::User {
                content: ChatContent::Parts(vec![
                    json!({"type": "text", "text": "see"}),
                    json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}),
                    json!({"type": "image_url", "image_url": {"url": "https://x/y.png"}}),
                ]),
            },
        ];
        let (system, turns) = translate_messages(&messages);
        assert_eq!(system.as_deref(), Some("sys"));
        assert_eq!(turns.len(), 3);
        assert_eq!(turns[0], json!({"role": "user", "content": "first"}));
        assert_eq!(
            turns[1]["content"],
            json!([
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "redacted_thinking", "data": "enc"},
                {"type": "text", "text": "let me look"},
                {"type": "tool_use", "id": "a", "name": "f", "input": {}},
                {"type": "tool_use", "id": "b", "name": "g", "input": {}}
            ])
        );
        assert_eq!(
            turns[2]["content"],
            json!([
                {"type": "tool_result", "tool_use_id": "a", "content": "ra"},
                {"type": "tool_result", "tool_use_id": "b", "content": "rb"},
                {"type": "text", "text": "[tool result of h] orphan"},
                {"type": "text", "text": "note"},
                {"type": "text", "text": "see"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
                {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}
            ])
        );
        let (system, turns) = translate_messages(&[]);
        assert_eq!(system, None);
        assert_eq!(
            turns,
            vec![json!({"role": "user", "content": FIRST_USER_PLACEHOLDER})]
        );
    }

    #[test]
    fn parses_an_answer() {
        let answer = json!({
            "id": "msg_1", "type": "message", "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "redacted_thinking", "data": "enc"},
                {"type": "text", "text": "Hi"},
                {"type": "tool_use", "id": "toolu_1", "name": "send_message", "input": {"message": "hi"}}
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 12, "output_tokens": 8}
        });
        let response = parse_response(&answer).unwrap();
        assert_eq!(response.content.as_deref(), Some("Hi"));
        assert_eq!(
            response.tool_calls,
            vec![call("toolu_1", "send_message", r#"{"message":"hi"}"#)]
        );
        assert_eq!(
            response.reasoning,
            vec![
                ReasoningPart::Reasoning {
                    text: "hmm".into(),
                    signature: Some("sig".into())
                },
                ReasoningPart::Redacted { data: "enc".into() }
            ]
        );
        assert_eq!(
            response.usage,
            Usage {
                prompt_tokens: 12,
                completion_tokens: 8,
                total_tokens: 20
            }
        );
        assert_eq!(response.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(
            parse_response(&json!({"id": "x"})).unwrap_err().0,
            LlmErrorKind::InvalidResponse
        );
    }

    fn ev(name: &str, data: Value) -> SseEvent {
        SseEvent {
            event: Some(name.into()),
            data: data.to_string(),
            id: None,
        }
    }

    fn decode_all(events: &[SseEvent]) -> Vec<Decoded> {
        let mut d = StreamDecoder::default();
        events.iter().flat_map(|e| d.decode(e).unwrap()).collect()
    }

    #[test]
    fn decodes_a_stream() {
        let events = [
            ev(
                "message_start",
                json!({"type": "message_start", "message": {"usage": {"input_tokens": 25, "output_tokens": 1}}}),
            ),
            ev(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
            ),
            ev("ping", json!({"type": "ping"})),
            ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hm"}}),
            ),
            ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig"}}),
            ),
            ev(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ),
            ev(
                "content_block_start",
                json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
            ),
            ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi"}}),
            ),
            ev(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 1}),
            ),
            ev(
                "content_block_start",
                json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}}),
            ),
            ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{\"a\":"}}),
            ),
            ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "1}"}}),
            ),
            ev(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 2}),
            ),
            ev(
                "content_block_start",
                json!({"type": "content_block_start", "index": 3, "content_block": {"type": "tool_use", "id": "toolu_2", "name": "g", "input": {}}}),
            ),
            ev(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 3}),
            ),
            ev(
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 30}}),
            ),
            ev("message_stop", json!({"type": "message_stop"})),
        ];
        assert_eq!(
            decode_all(&events),
            vec![
                Decoded::Event(ChatStreamEvent::ReasoningDelta {
                    text: "hm".into(),
                    signature: None
                }),
                Decoded::Event(ChatStreamEvent::ReasoningDelta {
                    text: String::new(),
                    signature: Some("sig".into())
                }),
                Decoded::Event(ChatStreamEvent::ContentDelta("Hi".into())),
                Decoded::Event(ChatStreamEvent::ToolCallDelta {
                    index: 0,
                    id: Some("toolu_1".into()),
                    name: Some("f".into()),
                    arguments: String::new()
                }),
                Decoded::Event(ChatStreamEvent::ToolCallDelta {
                    index: 0,
                    id: None,
                    name: None,
                    arguments: "{\"a\":".into()
                }),
                Decoded::Event(ChatStreamEvent::ToolCallDelta {
                    index: 0,
                    id: None,
                    name: None,
                    arguments: "1}".into()
                }),
                Decoded::Event(ChatStreamEvent::ToolCallDelta {
                    index: 1,
                    id: Some("toolu_2".into()),
                    name: Some("g".into()),
                    arguments: String::new()
                }),
                Decoded::Event(ChatStreamEvent::ToolCallDelta {
                    index: 1,
                    id: None,
                    name: None,
                    arguments: "{}".into()
                }),
                Decoded::Event(ChatStreamEvent::Usage(Usage {
                    prompt_tokens: 25,
                    completion_tokens: 30,
                    total_tokens: 55
                })),
                Decoded::Event(ChatStreamEvent::Finish(Some("tool_calls".into()))),
                Decoded::Done,
            ]
        );
    }

    #[test]
    fn stream_errors() {
        let mut d = StreamDecoder::default();
        let (kind, message) = d
            .decode(&ev("error", json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})))
            .unwrap_err();
        assert_eq!(
            (kind, message.as_str()),
            (LlmErrorKind::Server, "Overloaded")
        );
        let bad = SseEvent {
            event: Some("message_start".into()),
            data: "{oops".into(),
            id: None,
        };
        assert_eq!(d.decode(&bad).unwrap_err().0, LlmErrorKind::InvalidResponse);
    }

    #[test]
    fn error_classification() {
        let too_long = r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 215000 tokens > 200000 maximum"}}"#;
        assert_eq!(
            classify_error(400, too_long),
            (
                LlmErrorKind::ContextLength,
                "prompt is too long: 215000 tokens > 200000 maximum".to_owned()
            )
        );
        assert_eq!(classify_error(401, r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#).0, LlmErrorKind::Auth);
        assert_eq!(
            classify_error(
                529,
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
            ),
            (LlmErrorKind::Server, "Overloaded".to_owned())
        );
        assert_eq!(classify_error(429, "").0, LlmErrorKind::RateLimited);
        assert_eq!(
            classify_error(
                400,
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}"#
            )
            .0,
            LlmErrorKind::BadRequest
        );
    }

    #[test]
    fn tool_ids_are_sanitized() {
        assert_eq!(wire_tool_id("toolu_01A-b"), "toolu_01A-b");
        assert_eq!(wire_tool_id("call.1:x"), "call_1_x");
        assert_eq!(wire_tool_id(""), "toolu_missing");
    }
}
