//! Chat completions over the OpenAI protocol (`POST {base}/chat/completions`): OpenAI itself
//! and the compatible servers (Ollama's `/v1`, vLLM, Together, Groq, …).

use std::collections::HashMap;

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::{Map, Value, json};

use crate::config::Secret;
use crate::llm::chat::{
    ChatContent, ChatMessage, ChatModel, ChatRequest, ChatResponse, ChatStream, ChatStreamEvent,
    ChatToolCall, LlmError, LlmErrorKind, ReasoningPart, ToolChoice, Usage,
};
use crate::llm::join_url;
use crate::llm::sse::SseEvent;
use crate::llm::transport::{Decoded, HttpSettings, Transport, chat_stream};

/// The original truncates tool-call ids to this many characters when sending them (OpenAI
/// refuses ids longer than 40; Letta's own ids are longer).
pub const MAX_TOOL_CALL_ID_CHARS: usize = 29;

/// Quirks of the server behind the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// OpenAI and servers following its current API: `max_completion_tokens`.
    #[default]
    OpenAi,
    /// Ollama's `/v1`, which only reads the older `max_tokens`.
    Ollama,
}

/// A chat model reached over the OpenAI protocol.
#[derive(Debug, Clone)]
pub struct OpenAiChat {
    endpoint: Transport,
    url: String,
    dialect: Dialect,
}

impl OpenAiChat {
    /// `api_key: None` sends no `Authorization` header (local servers such as Ollama).
    pub fn new(
        client: reqwest::Client,
        settings: HttpSettings,
        provider: impl Into<String>,
        base_url: &str,
        api_key: Option<Secret>,
        dialect: Dialect,
    ) -> Self {
        let api_key = api_key.filter(|k| !k.expose().is_empty());
        let mut headers = HeaderMap::new();
        if let Some(key) = &api_key
            && let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
        {
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        OpenAiChat {
            endpoint: Transport {
                client,
                settings,
                provider: provider.into(),
                headers,
                secret: api_key,
                classify: classify_error,
            },
            url: join_url(base_url, "chat/completions"),
            dialect,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

#[async_trait]
impl ChatModel for OpenAiChat {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let body = request_body(request, false, self.dialect);
        let answer = self.endpoint.post_json(&self.url, &body).await?;
        parse_response(&answer)
            .map_err(|(kind, message)| self.endpoint.error(kind, Some(200), &message))
    }

    async fn stream(&self, request: &ChatRequest) -> Result<ChatStream, LlmError> {
        let body = request_body(request, true, self.dialect);
        let events = self.endpoint.post_sse(&self.url, &body).await?;
        let mut decoder = StreamDecoder::default();
        Ok(chat_stream(
            events,
            move |event| decoder.decode(event),
            self.endpoint.clone(),
        ))
    }
}

/// Per-stream state: which tool calls already had their name sent.
#[derive(Debug, Default)]
struct StreamDecoder {
    names: HashMap<usize, String>,
}

impl StreamDecoder {
    fn decode(&mut self, event: &SseEvent) -> Result<Vec<Decoded>, (LlmErrorKind, String)> {
        let data = event.data.trim();
        if data == "[DONE]" {
            return Ok(vec![Decoded::Done]);
        }
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let chunk: Value = serde_json::from_str(data).map_err(|err| {
            (
                LlmErrorKind::InvalidResponse,
                format!("a stream chunk is not valid JSON: {err}"),
            )
        })?;
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            return Err(in_stream_error(error));
        }
        let mut out = Vec::new();
        for choice in chunk["choices"].as_array().into_iter().flatten() {
            if choice["index"].as_u64().unwrap_or(0) != 0 {
                continue;
            }
            let delta = &choice["delta"];
            for key in ["reasoning_content", "reasoning"] {
                if let Some(text) = delta[key].as_str().filter(|t| !t.is_empty()) {
                    out.push(Decoded::Event(ChatStreamEvent::ReasoningDelta {
                        text: text.to_owned(),
                        signature: None,
                    }));
                    break;
                }
            }
            if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
                out.push(Decoded::Event(ChatStreamEvent::ContentDelta(
                    text.to_owned(),
                )));
            }
            for (position, call) in delta["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                let index = call["index"].as_u64().map_or(position, |i| i as usize);
                let id = call["id"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned);
                // Some servers repeat the name in every delta; it is sent on once.
                let name = call["function"]["name"]
                    .as_str()
                    .filter(|n| !n.is_empty())
                    .and_then(|n| match self.names.get(&index) {
                        Some(seen) if seen == n => None,
                        _ => {
                            self.names.entry(index).or_default().push_str(n);
                            Some(n.to_owned())
                        }
                    });
                let arguments = arguments_text(&call["function"]["arguments"]);
                if id.is_some() || name.is_some() || !arguments.is_empty() {
                    out.push(Decoded::Event(ChatStreamEvent::ToolCallDelta {
                        index,
                        id,
                        name,
                        arguments,
                    }));
                }
            }
            if let Some(reason) = choice["finish_reason"].as_str() {
                out.push(Decoded::Event(ChatStreamEvent::Finish(Some(
                    reason.to_owned(),
                ))));
            }
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            out.push(Decoded::Event(ChatStreamEvent::Usage(parse_usage(usage))));
        }
        Ok(out)
    }
}

fn in_stream_error(error: &Value) -> (LlmErrorKind, String) {
    let message = error["message"]
        .as_str()
        .or(error.as_str())
        .unwrap_or("the provider reported an error mid-stream")
        .to_owned();
    let code = error["code"]
        .as_str()
        .or(error["type"].as_str())
        .unwrap_or_default();
    let kind = if is_context_length(code, &message) {
        LlmErrorKind::ContextLength
    } else if code.contains("rate_limit") {
        LlmErrorKind::RateLimited
    } else {
        LlmErrorKind::Server
    };
    (kind, message)
}

/// Tool-call arguments as text (a few servers send an object instead of a string).
fn arguments_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// o1/o3/o4 models: `developer` prompts (except the o1 previews), no parallel tool calls,
/// no sampling settings.
pub fn is_reasoning_model(model: &str) -> bool {
    ["o1", "o3", "o4"].iter().any(|p| model.starts_with(p))
}

fn supports_developer_role(model: &str) -> bool {
    is_reasoning_model(model) && !model.starts_with("o1-mini") && !model.starts_with("o1-preview")
}

/// The id as sent: at most [`MAX_TOOL_CALL_ID_CHARS`] characters.
pub fn wire_tool_call_id(id: &str) -> String {
    id.chars().take(MAX_TOOL_CALL_ID_CHARS).collect()
}

/// The JSON body of a chat-completions call.
pub fn request_body(request: &ChatRequest, stream: bool, dialect: Dialect) -> Value {
    let reasoning_model = is_reasoning_model(&request.model);
    let system_role = if supports_developer_role(&request.model) {
        "developer"
    } else {
        "system"
    };
    let messages: Vec<Value> = request
        .messages
        .iter()
        .map(|m| message_json(m, system_role))
        .collect();
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert("messages".into(), Value::Array(messages));
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                let mut function = Map::new();
                function.insert("name".into(), json!(t.name));
                if let Some(description) = &t.description {
                    function.insert("description".into(), json!(description));
                }
                function.insert("parameters".into(), t.parameters.clone());
                function.insert("strict".into(), json!(t.strict));
                json!({"type": "function", "function": function})
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        match &request.tool_choice {
            ToolChoice::Unset => {}
            ToolChoice::Auto => {
                body.insert("tool_choice".into(), json!("auto"));
            }
            ToolChoice::Required => {
                body.insert("tool_choice".into(), json!("required"));
            }
            ToolChoice::Named(name) => {
                body.insert(
                    "tool_choice".into(),
                    json!({"type": "function", "function": {"name": name}}),
                );
            }
        }
        if let (Some(parallel), false) = (request.parallel_tool_calls, reasoning_model) {
            body.insert("parallel_tool_calls".into(), json!(parallel));
        }
    }
    if let Some(user) = &request.user {
        body.insert("user".into(), json!(user));
    }
    if let Some(max_tokens) = request.max_tokens {
        let key = match dialect {
            Dialect::OpenAi => "max_completion_tokens",
            Dialect::Ollama => "max_tokens",
        };
        body.insert(key.into(), json!(max_tokens));
    }
    if reasoning_model {
        body.insert("temperature".into(), json!(1.0));
        if let Some(effort) = &request.reasoning.effort {
            body.insert("reasoning_effort".into(), json!(effort));
        }
    } else {
        if let Some(temperature) = request.temperature {
            body.insert("temperature".into(), json!(temperature));
        }
        if let Some(penalty) = request.frequency_penalty {
            body.insert("frequency_penalty".into(), json!(penalty));
        }
    }
    if stream {
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Value::Object(body)
}

fn message_json(message: &ChatMessage, system_role: &str) -> Value {
    match message {
        ChatMessage::System { content } => json!({"role": system_role, "content": content}),
        ChatMessage::User { content } => {
            let content = match content {
                ChatContent::Text(text) => json!(text),
                ChatContent::Parts(parts) => Value::Array(parts.clone()),
            };
            json!({"role": "user", "content": content})
        }
        ChatMessage::Assistant {
            content,
            tool_calls,
            reasoning: _,
        } => {
            let content = match content {
                Some(text) => json!(text),
                None if tool_calls.is_empty() => json!(""),
                None => Value::Null,
            };
            let mut m = json!({"role": "assistant", "content": content});
            if !tool_calls.is_empty() {
                m["tool_calls"] = Value::Array(
                    tool_calls
                        .iter()
                        .map(|c| {
                            json!({
                                "id": wire_tool_call_id(&c.id),
                                "type": "function",
                                "function": {"name": c.name, "arguments": c.arguments}
                            })
                        })
                        .collect(),
                );
            }
            m
        }
        ChatMessage::Tool {
            tool_call_id,
            name: _,
            content,
        } => json!({
            "role": "tool",
            "tool_call_id": wire_tool_call_id(tool_call_id),
            "content": content
        }),
    }
}

/// A non-streamed answer.
pub fn parse_response(answer: &Value) -> Result<ChatResponse, (LlmErrorKind, String)> {
    if let Some(error) = answer.get("error").filter(|e| !e.is_null()) {
        return Err(in_stream_error(error));
    }
    let choice = answer["choices"]
        .as_array()
        .and_then(|c| c.first())
        .ok_or_else(|| {
            (
                LlmErrorKind::InvalidResponse,
                "the answer has no choices".to_owned(),
            )
        })?;
    let message = &choice["message"];
    if !message.is_object() {
        return Err((
            LlmErrorKind::InvalidResponse,
            "the answer's choice has no message".to_owned(),
        ));
    }
    let content = match &message["content"] {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let text: String = parts.iter().filter_map(|p| p["text"].as_str()).collect();
            Some(text)
        }
        _ => None,
    }
    .filter(|s| !s.is_empty());
    let reasoning = message["reasoning_content"]
        .as_str()
        .or(message["reasoning"].as_str())
        .filter(|t| !t.is_empty())
        .map(|text| {
            vec![ReasoningPart::Reasoning {
                text: text.to_owned(),
                signature: None,
            }]
        })
        .unwrap_or_default();
    let mut tool_calls = Vec::new();
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        let name = call["function"]["name"].as_str().unwrap_or_default();
        if name.is_empty() {
            return Err((
                LlmErrorKind::InvalidResponse,
                "a tool call has no function name".to_owned(),
            ));
        }
        let id = call["id"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(generated_call_id);
        tool_calls.push(ChatToolCall {
            id,
            name: name.to_owned(),
            arguments: arguments_text(&call["function"]["arguments"]),
        });
    }
    Ok(ChatResponse {
        content,
        reasoning,
        tool_calls,
        usage: answer.get("usage").map(parse_usage).unwrap_or_default(),
        finish_reason: choice["finish_reason"].as_str().map(str::to_owned),
    })
}

/// An id for a tool call the server sent without one.
fn generated_call_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("call_{}", &hex[..24])
}

fn parse_usage(usage: &Value) -> Usage {
    let prompt = usage["prompt_tokens"].as_i64().unwrap_or(0);
    let completion = usage["completion_tokens"].as_i64().unwrap_or(0);
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: usage["total_tokens"]
            .as_i64()
            .unwrap_or(prompt + completion),
    }
}

fn is_context_length(code: &str, message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    code == "context_length_exceeded"
        || lower.contains("maximum context length")
        || lower.contains("context_length_exceeded")
        || lower.contains("context length exceeded")
        || lower.contains("context window")
}

/// Kind and message of an OpenAI error answer: `{"error": {"message", "type", "code"}}`.
pub fn classify_error(status: u16, body: &str) -> (LlmErrorKind, String) {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let error = parsed.as_ref().map(|v| &v["error"]);
    let message = error
        .and_then(|e| e["message"].as_str().or(e.as_str()))
        .or_else(|| {
            parsed
                .as_ref()
                .and_then(|v| v["message"].as_str().or(v["detail"].as_str()))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| body.trim().to_owned());
    let code = error
        .and_then(|e| e["code"].as_str().or(e["type"].as_str()))
        .unwrap_or_default();
    let kind = match status {
        401 | 403 => LlmErrorKind::Auth,
        429 => LlmErrorKind::RateLimited,
        400 | 413 if is_context_length(code, &message) => LlmErrorKind::ContextLength,
        500..=599 => LlmErrorKind::Server,
        _ => LlmErrorKind::BadRequest,
    };
    (kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::chat::{ReasoningOptions, ToolDefinition};

    fn sample_request() -> ChatRequest {
        ChatRequest {
            model: "gpt-4o-mini".into(),
            messages: vec![
                ChatMessage::System {
                    content: "be nice".into(),
                },
                ChatMessage::Assistant {
                    content: None,
                    tool_calls: vec![ChatToolCall {
                        id: "51aeada4-bd8e-4653-9681-c74efa2b35a0".into(),
                        name: "send_message".into(),
                        arguments: "{\"message\":\"hi\"}".into(),
                    }],
                    reasoning: vec![],
                },
                ChatMessage::Tool {
                    tool_call_id: "51aeada4-bd8e-4653-9681-c74efa2b35a0".into(),
                    name: Some("send_message".into()),
                    content: "{\"status\":\"OK\"}".into(),
                },
                ChatMessage::User {
                    content: ChatContent::Text("hello".into()),
                },
            ],
            tools: vec![ToolDefinition {
                name: "send_message".into(),
                description: Some("Sends a message".into()),
                parameters: json!({"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}),
                strict: true,
            }],
            tool_choice: ToolChoice::Required,
            temperature: Some(0.7),
            max_tokens: Some(4096),
            frequency_penalty: Some(1.0),
            user: Some("user-1".into()),
            parallel_tool_calls: Some(false),
            reasoning: ReasoningOptions::default(),
        }
    }

    #[test]
    fn body_has_the_reference_shape() {
        let body = request_body(&sample_request(), false, Dialect::OpenAi);
        assert_eq!(
            body,
            json!({
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": "be nice"},
                    {"role": "assistant", "content": null, "tool_calls": [{
                        "id": "51aeada4-bd8e-4653-9681-c74ef",
                        "type": "function",
                        "function": {"name": "send_message", "arguments": "{\"message\":\"hi\"}"}
                    }]},
                    {"role": "tool", "tool_call_id": "51aeada4-bd8e-4653-9681-c74ef", "content": "{\"status\":\"OK\"}"},
                    {"role": "user", "content": "hello"}
                ],
                "tools": [{"type": "function", "function": {
                    "name": "send_message",
                    "description": "Sends a message",
                    "parameters": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]},
                    "strict": true
                }}],
                "tool_choice": "required",
                "parallel_tool_calls": false,
                "user": "user-1",
                "max_completion_tokens": 4096,
                "temperature": 0.7,
                "frequency_penalty": 1.0
            })
        );
        let streamed = request_body(&sample_request(), true, Dialect::OpenAi);
        assert_eq!(streamed["stream"], true);
        assert_eq!(streamed["stream_options"], json!({"include_usage": true}));
    }

    #[test]
    fn tool_choice_variants_and_no_tools() {
        let mut request = sample_request();
        request.tool_choice = ToolChoice::Named("send_message".into());
        assert_eq!(
            request_body(&request, false, Dialect::OpenAi)["tool_choice"],
            json!({"type": "function", "function": {"name": "send_message"}})
        );
        request.tool_choice = ToolChoice::Auto;
        assert_eq!(
            request_body(&request, false, Dialect::OpenAi)["tool_choice"],
            "auto"
        );
        request.tool_choice = ToolChoice::Unset;
        request.parallel_tool_calls = None;
        let body = request_body(&request, false, Dialect::OpenAi);
        assert!(body.get("tool_choice").is_none());
        assert!(body.get("parallel_tool_calls").is_none());
        request.tools.clear();
        request.tool_choice = ToolChoice::Required;
        request.parallel_tool_calls = Some(false);
        let body = request_body(&request, false, Dialect::OpenAi);
        assert!(body.get("tools").is_none() && body.get("tool_choice").is_none());
        assert!(body.get("parallel_tool_calls").is_none());
    }

    #[test]
    fn reasoning_models_get_developer_prompts_and_fixed_temperature() {
        let mut request = sample_request();
        request.model = "o3-mini".into();
        request.reasoning.effort = Some("high".into());
        let body = request_body(&request, false, Dialect::OpenAi);
        assert_eq!(body["messages"][0]["role"], "developer");
        assert_eq!(body["temperature"], 1.0);
        assert_eq!(body["reasoning_effort"], "high");
        assert!(body.get("parallel_tool_calls").is_none());
        assert!(body.get("frequency_penalty").is_none());
        request.model = "o1-mini".into();
        assert_eq!(
            request_body(&request, false, Dialect::OpenAi)["messages"][0]["role"],
            "system"
        );
        request.model = "gpt-4o".into();
        let body = request_body(&request, false, Dialect::OpenAi);
        assert!(body.get("reasoning_effort").is_none());
    }

    #[test]
    fn ollama_gets_max_tokens() {
        let body = request_body(&sample_request(), false, Dialect::Ollama);
        assert_eq!(body["max_tokens"], 4096);
        assert!(body.get("max_completion_tokens").is_none());
    }

    #[test]
    fn assistant_text_with_or_without_calls() {
        let text = message_json(
            &ChatMessage::Assistant {
                content: Some("thinking".into()),
                tool_calls: vec![],
                reasoning: vec![ReasoningPart::Redacted { data: "x".into() }],
            },
            "system",
        );
        assert_eq!(text, json!({"role": "assistant", "content": "thinking"}));
        let empty = message_json(
            &ChatMessage::Assistant {
                content: None,
                tool_calls: vec![],
                reasoning: vec![],
            },
            "system",
        );
        assert_eq!(empty["content"], "");
        let parts = message_json(
            &ChatMessage::User {
                content: ChatContent::Parts(vec![json!({"type": "text", "text": "look"})]),
            },
            "system",
        );
        assert_eq!(parts["content"][0]["text"], "look");
    }

    #[test]
    fn parses_a_tool_call_answer() {
        let answer = json!({
            "id": "chatcmpl-1",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null, "reasoning_content": "hmm",
                "tool_calls": [{"id": "call_a", "type": "function", "function": {"name": "send_message", "arguments": "{\"message\":\"hi\"}"}},
                               {"type": "function", "function": {"name": "other", "arguments": {"x": 1}}}]
            }}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        });
        let response = parse_response(&answer).unwrap();
        assert_eq!(response.content, None);
        assert_eq!(response.tool_calls[0].id, "call_a");
        assert_eq!(response.tool_calls[0].arguments, "{\"message\":\"hi\"}");
        assert!(response.tool_calls[1].id.starts_with("call_"));
        assert_eq!(response.tool_calls[1].arguments, "{\"x\":1}");
        assert_eq!(
            response.reasoning,
            vec![ReasoningPart::Reasoning {
                text: "hmm".into(),
                signature: None
            }]
        );
        assert_eq!(
            response.usage,
            Usage {
                prompt_tokens: 10,
                completion_tokens: 5,
                total_tokens: 15
            }
        );
        assert_eq!(response.finish_reason.as_deref(), Some("tool_calls"));
    }

    #[test]
    fn answers_without_choices_are_invalid() {
        assert_eq!(
            parse_response(&json!({"id": "x"})).unwrap_err().0,
            LlmErrorKind::InvalidResponse
        );
        assert_eq!(
            parse_response(&json!({"choices": [{"message": {"tool_calls": [{"function": {}}]}}]}))
                .unwrap_err()
                .0,
            LlmErrorKind::InvalidResponse
        );
        let text = parse_response(
            &json!({"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]}),
        )
        .unwrap();
        assert_eq!(text.content.as_deref(), Some("hi"));
        assert_eq!(text.usage, Usage::default());
    }

    fn sse(data: &str) -> SseEvent {
        SseEvent {
            event: None,
            data: data.to_owned(),
            id: None,
        }
    }

    fn events(decoder: &mut StreamDecoder, data: &str) -> Vec<ChatStreamEvent> {
        decoder
            .decode(&sse(data))
            .unwrap()
            .into_iter()
            .filter_map(|d| match d {
                Decoded::Event(e) => Some(e),
                Decoded::Done => None,
            })
            .collect()
    }

    #[test]
    fn decodes_stream_chunks() {
        let mut d = StreamDecoder::default();
        assert!(
            events(
                &mut d,
                r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":null}}]}"#
            )
            .is_empty()
        );
        assert_eq!(
            events(
                &mut d,
                r#"{"choices":[{"index":0,"delta":{"content":"Hel"}}]}"#
            ),
            vec![ChatStreamEvent::ContentDelta("Hel".into())]
        );
        assert_eq!(
            events(
                &mut d,
                r#"{"choices":[{"index":0,"delta":{"reasoning_content":"why"}}]}"#
            ),
            vec![ChatStreamEvent::ReasoningDelta {
                text: "why".into(),
                signature: None
            }]
        );
        assert_eq!(
            events(
                &mut d,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_x","type":"function","function":{"name":"f","arguments":""}}]}}]}"#
            ),
            vec![ChatStreamEvent::ToolCallDelta {
                index: 1,
                id: Some("call_x".into()),
                name: Some("f".into()),
                arguments: String::new()
            }]
        );
        // A repeated name is not sent again.
        assert_eq!(
            events(
                &mut d,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"name":"f","arguments":"{\"a\""}}]}}]}"#
            ),
            vec![ChatStreamEvent::ToolCallDelta {
                index: 1,
                id: None,
                name: None,
                arguments: "{\"a\"".into()
            }]
        );
        assert_eq!(
            events(
                &mut d,
                r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":null}"#
            ),
            vec![ChatStreamEvent::Finish(Some("tool_calls".into()))]
        );
        assert_eq!(
            events(
                &mut d,
                r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#
            ),
            vec![ChatStreamEvent::Usage(Usage {
                prompt_tokens: 3,
                completion_tokens: 4,
                total_tokens: 7
            })]
        );
        assert_eq!(d.decode(&sse("[DONE]")).unwrap(), vec![Decoded::Done]);
    }

    #[test]
    fn stream_errors_and_garbage() {
        let mut d = StreamDecoder::default();
        assert_eq!(
            d.decode(&sse("{nope")).unwrap_err().0,
            LlmErrorKind::InvalidResponse
        );
        let (kind, message) = d
            .decode(&sse(
                r#"{"error":{"message":"overloaded","type":"server_error"}}"#,
            ))
            .unwrap_err();
        assert_eq!(kind, LlmErrorKind::Server);
        assert_eq!(message, "overloaded");
    }

    #[test]
    fn error_classification() {
        let ctx = r#"{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","code":"context_length_exceeded"}}"#;
        assert_eq!(classify_error(400, ctx).0, LlmErrorKind::ContextLength);
        assert_eq!(
            classify_error(400, r#"{"error":{"message":"bad param"}}"#),
            (LlmErrorKind::BadRequest, "bad param".to_owned())
        );
        assert_eq!(classify_error(401, "{}").0, LlmErrorKind::Auth);
        assert_eq!(classify_error(403, "").0, LlmErrorKind::Auth);
        assert_eq!(classify_error(429, "").0, LlmErrorKind::RateLimited);
        assert_eq!(
            classify_error(502, "<html>bad gateway</html>"),
            (LlmErrorKind::Server, "<html>bad gateway</html>".to_owned())
        );
        assert_eq!(
            classify_error(404, r#"{"error":"model 'x' not found"}"#),
            (LlmErrorKind::BadRequest, "model 'x' not found".to_owned())
        );
    }

    #[test]
    fn ids_are_truncated_on_the_wire() {
        assert_eq!(
            wire_tool_call_id("call_16e8edd02505812658b18863"),
            "call_16e8edd02505812658b18863"
        );
        assert_eq!(
            wire_tool_call_id("0123456789012345678901234567890123"),
            "01234567890123456789012345678"
        );
    }
}
