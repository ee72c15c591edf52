//! Chat completions through `chat_model_for` against the mock LLM, in both wire protocols:
//! request bodies, answers, streaming assembly, retries and error mapping.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use letta_rs::llm::chat::{
    ChatContent, ChatMessage, ChatModel, ChatRequest, ChatStreamEvent, ChatToolCall, LlmErrorKind,
    ReasoningOptions, ReasoningPart, ToolChoice, ToolDefinition, Usage, collect_stream,
};
use letta_rs::llm::transport::RetryPolicy;
use letta_rs::llm::{ProviderKeys, chat_model_for};
use letta_rs::schemas::llm_config::LlmConfig;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::mock_llm::{MockEndpoint, MockLlm, MockReply};

const OPENAI_KEY: &str = "sk-test-openai-7f3a9c";
const ANTHROPIC_KEY: &str = "sk-ant-test-2b8e41";

/// Keys pointing every provider at the mock, with quick retries.
fn keys(llm: &MockLlm) -> ProviderKeys {
    ProviderKeys {
        openai_api_key: Some(OPENAI_KEY.parse().unwrap()),
        openai_api_base: llm.base_url(),
        anthropic_api_key: Some(ANTHROPIC_KEY.parse().unwrap()),
        anthropic_api_base: llm.base_url(),
        ollama_base_url: Some(llm.root_url()),
        ..ProviderKeys::default()
    }
    .with_retry(RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
    })
}

fn llm_config(endpoint_type: &str, model: &str, endpoint: Option<String>) -> LlmConfig {
    LlmConfig {
        model: model.to_owned(),
        model_endpoint_type: endpoint_type.to_owned(),
        model_endpoint: endpoint,
        provider_name: Some(endpoint_type.to_owned()),
        provider_category: None,
        model_wrapper: None,
        context_window: 128_000,
        put_inner_thoughts_in_kwargs: Some(true),
        handle: None,
        temperature: 0.7,
        max_tokens: Some(4096),
        enable_reasoner: false,
        reasoning_effort: None,
        max_reasoning_tokens: 0,
        frequency_penalty: None,
    }
}

fn openai(llm: &MockLlm) -> Box<dyn ChatModel> {
    chat_model_for(
        &llm_config("openai", "gpt-4o-mini", Some(llm.base_url())),
        &keys(llm),
    )
    .unwrap()
}

fn anthropic(llm: &MockLlm) -> Box<dyn ChatModel> {
    chat_model_for(
        &llm_config(
            "anthropic",
            "claude-3-5-sonnet-20241022",
            Some(llm.base_url()),
        ),
        &keys(llm),
    )
    .unwrap()
}

fn send_message_tool() -> ToolDefinition {
    ToolDefinition {
        name: "send_message".into(),
        description: Some("Sends a message to the human user.".into()),
        parameters: json!({
            "type": "object",
            "properties": {
                "inner_thoughts": {"type": "string", "description": "Deep inner monologue private to you only."},
                "message": {"type": "string", "description": "Message contents. All unicode (including emojis) are supported."}
            },
            "additionalProperties": false,
            "required": ["inner_thoughts", "message"]
        }),
        strict: true,
    }
}

fn core_memory_append_tool() -> ToolDefinition {
    ToolDefinition {
        name: "core_memory_append".into(),
        description: Some("Append to the contents of core memory.".into()),
        parameters: json!({
            "type": "object",
            "properties": {
                "inner_thoughts": {"type": "string", "description": "Deep inner monologue private to you only."},
                "label": {"type": "string", "description": "Section of the memory to be edited (persona or human)."},
                "content": {"type": "string", "description": "Content to write to the memory. All unicode (including emojis) are supported."},
                "request_heartbeat": {"type": "boolean", "description": "Request an immediate heartbeat after function execution. Set to `True` if you want to send a follow-up message or run a follow-up function."}
            },
            "additionalProperties": false,
            "required": ["inner_thoughts", "label", "content", "request_heartbeat"]
        }),
        strict: true,
    }
}

const BOOT_ARGS: &str = "{\n  \"inner_thoughts\": \"Bootup sequence complete. Persona activated. Testing messaging functionality.\",\n  \"message\": \"More human than human is our motto.\"\n}";

/// The conversation of the reference's first send-message call (06_send_message), with the
/// full-length tool-call id the server keeps internally.
fn sample_request(model: &str) -> ChatRequest {
    let call_id = "953b606c-98b0-434c-bcf3-3e0c3a1f2b7d";
    ChatRequest {
        model: model.into(),
        messages: vec![
            ChatMessage::System {
                content: "<base_instructions>\nYou are Letta.\n</base_instructions>".into(),
            },
            ChatMessage::Assistant {
                content: None,
                tool_calls: vec![ChatToolCall {
                    id: call_id.into(),
                    name: "send_message".into(),
                    arguments: BOOT_ARGS.into(),
                }],
                reasoning: vec![],
            },
            ChatMessage::Tool {
                tool_call_id: call_id.into(),
                name: Some("send_message".into()),
                content: "{\n  \"status\": \"OK\",\n  \"message\": null,\n  \"time\": \"2026-11-22 12:56:20 AM UTC+0000\"\n}".into(),
            },
            ChatMessage::User {
                content: ChatContent::Text(
                    "{\n  \"type\": \"login\",\n  \"last_login\": \"Never (first login)\",\n  \"time\": \"2026-11-22 12:56:20 AM UTC+0000\"\n}".into(),
                ),
            },
            ChatMessage::User {
                content: ChatContent::Text("hello".into()),
            },
        ],
        tools: vec![send_message_tool(), core_memory_append_tool()],
        tool_choice: ToolChoice::Required,
        temperature: Some(0.7),
        max_tokens: Some(4096),
        frequency_penalty: Some(1.0),
        user: Some("user-00000000-0000-4000-8000-000000000000".into()),
        parallel_tool_calls: Some(false),
        reasoning: ReasoningOptions::default(),
    }
}

fn hi_args() -> Value {
    json!({"inner_thoughts": "The user said hello.", "message": "Hi there!"})
}

/// The OpenAI body the reference sends for `sample_request` (06_send_message.llm_request.json,
/// system prompt shortened).
fn expected_openai_body() -> Value {
    json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "<base_instructions>\nYou are Letta.\n</base_instructions>"},
            {"role": "assistant", "content": null, "tool_calls": [{
                "id": "953b606c-98b0-434c-bcf3-3e0c3",
                "type": "function",
                "function": {"name": "send_message", "arguments": BOOT_ARGS}
            }]},
            {"role": "tool", "tool_call_id": "953b606c-98b0-434c-bcf3-3e0c3",
             "content": "{\n  \"status\": \"OK\",\n  \"message\": null,\n  \"time\": \"2026-11-22 12:56:20 AM UTC+0000\"\n}"},
            {"role": "user", "content": "{\n  \"type\": \"login\",\n  \"last_login\": \"Never (first login)\",\n  \"time\": \"2026-11-22 12:56:20 AM UTC+0000\"\n}"},
            {"role": "user", "content": "hello"}
        ],
        "tools": [
            {"type": "function", "function": {
                "name": "send_message",
                "description": "Sends a message to the human user.",
                "parameters": send_message_tool().parameters,
                "strict": true
            }},
            {"type": "function", "function": {
                "name": "core_memory_append",
                "description": "Append to the contents of core memory.",
                "parameters": core_memory_append_tool().parameters,
                "strict": true
            }}
        ],
        "tool_choice": "required",
        "parallel_tool_calls": false,
        "user": "user-00000000-0000-4000-8000-000000000000",
        "max_completion_tokens": 4096,
        "temperature": 0.7,
        "frequency_penalty": 1.0
    })
}

#[tokio::test]
async fn openai_completion_sends_the_reference_body() {
    let llm = MockLlm::start().await;
    llm.push(
        MockReply::tool_call("send_message", hi_args())
            .with_call_id("call_abc")
            .usage(2140, 48),
    );
    let response = openai(&llm)
        .complete(&sample_request("gpt-4o-mini"))
        .await
        .unwrap();

    assert_eq!(response.content, None);
    assert_eq!(
        response.tool_calls,
        vec![ChatToolCall {
            id: "call_abc".into(),
            name: "send_message".into(),
            arguments: hi_args().to_string(),
        }]
    );
    assert_eq!(
        response.usage,
        Usage {
            prompt_tokens: 2140,
            completion_tokens: 48,
            total_tokens: 2188
        }
    );
    assert_eq!(response.finish_reason.as_deref(), Some("tool_calls"));

    let sent = llm.chat_requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].endpoint, MockEndpoint::ChatCompletions);
    assert_eq!(sent[0].path, "/v1/chat/completions");
    assert_eq!(sent[0].body, expected_openai_body());
    let tools = &sent[0].body["tools"];
    assert!(tools[0]["function"]["parameters"]["properties"]["inner_thoughts"].is_object());
    assert!(tools[1]["function"]["parameters"]["properties"]["request_heartbeat"].is_object());
    assert_eq!(
        sent[0].header("authorization"),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );
}

#[tokio::test]
async fn openai_stream_assembles_tool_calls_from_deltas() {
    let llm = MockLlm::start().await;
    llm.push(
        MockReply::tool_call("send_message", hi_args())
            .with_call_id("call_stream_1")
            .and_tool_call(
                "core_memory_append",
                json!({"label": "human", "content": "Likes tea.", "request_heartbeat": true}),
            )
            .with_text("Thinking out loud.")
            .usage(300, 40)
            .chunk_chars(3),
    );
    let stream = openai(&llm)
        .stream(&sample_request("gpt-4o-mini"))
        .await
        .unwrap();
    let events: Vec<_> = stream.collect().await;
    let events: Vec<ChatStreamEvent> = events.into_iter().map(Result::unwrap).collect();
    // Arguments arrive in several pieces, the name only once per call.
    let pieces = events
        .iter()
        .filter(|e| matches!(e, ChatStreamEvent::ToolCallDelta { index: 0, .. }))
        .count();
    assert!(pieces > 5, "{events:?}");
    let names = events
        .iter()
        .filter(|e| matches!(e, ChatStreamEvent::ToolCallDelta { name: Some(_), .. }))
        .count();
    assert_eq!(names, 2);

    llm.push(
        MockReply::tool_call("send_message", hi_args())
            .with_call_id("call_stream_1")
            .and_tool_call(
                "core_memory_append",
                json!({"label": "human", "content": "Likes tea.", "request_heartbeat": true}),
            )
            .with_text("Thinking out loud.")
            .usage(300, 40)
            .chunk_chars(3),
    );
    let stream = openai(&llm)
        .stream(&sample_request("gpt-4o-mini"))
        .await
        .unwrap();
    let response = collect_stream(stream).await.unwrap();
    assert_eq!(response.content.as_deref(), Some("Thinking out loud."));
    assert_eq!(response.tool_calls.len(), 2);
    assert_eq!(response.tool_calls[0].id, "call_stream_1");
    assert_eq!(response.tool_calls[0].name, "send_message");
    assert_eq!(
        serde_json::from_str::<Value>(&response.tool_calls[0].arguments).unwrap(),
        hi_args()
    );
    assert_eq!(response.tool_calls[1].name, "core_memory_append");
    assert_eq!(
        serde_json::from_str::<Value>(&response.tool_calls[1].arguments).unwrap()["request_heartbeat"],
        true
    );
    assert_eq!(
        response.usage,
        Usage {
            prompt_tokens: 300,
            completion_tokens: 40,
            total_tokens: 340
        }
    );
    assert_eq!(response.finish_reason.as_deref(), Some("tool_calls"));

    let mut expected = expected_openai_body();
    expected["stream"] = json!(true);
    expected["stream_options"] = json!({"include_usage": true});
    assert_eq!(llm.requests()[1], expected);
}

#[tokio::test]
async fn openai_reasoning_content_is_streamed_as_reasoning() {
    let llm = MockLlm::start().await;
    llm.push(MockReply::text("42").with_reasoning("Let me think.", None));
    let stream = openai(&llm)
        .stream(&sample_request("gpt-4o-mini"))
        .await
        .unwrap();
    let response = collect_stream(stream).await.unwrap();
    assert_eq!(response.content.as_deref(), Some("42"));
    assert_eq!(
        response.reasoning,
        vec![ReasoningPart::Reasoning {
            text: "Let me think.".into(),
            signature: None
        }]
    );
    assert_eq!(response.finish_reason.as_deref(), Some("stop"));
}

#[tokio::test]
async fn anthropic_completion_translates_both_ways() {
    let llm = MockLlm::start().await;
    llm.push(
        MockReply::tool_call("send_message", hi_args())
            .with_call_id("toolu_01abc")
            .with_reasoning("The user greets me.", Some("sig-1"))
            .usage(900, 60),
    );
    let response = anthropic(&llm)
        .complete(&sample_request("claude-3-5-sonnet-20241022"))
        .await
        .unwrap();
    assert_eq!(response.tool_calls.len(), 1);
    assert_eq!(response.tool_calls[0].id, "toolu_01abc");
    assert_eq!(
        serde_json::from_str::<Value>(&response.tool_calls[0].arguments).unwrap(),
        hi_args()
    );
    assert_eq!(
        response.reasoning,
        vec![ReasoningPart::Reasoning {
            text: "The user greets me.".into(),
            signature: Some("sig-1".into())
        }]
    );
    assert_eq!(
        response.usage,
        Usage {
            prompt_tokens: 900,
            completion_tokens: 60,
            total_tokens: 960
        }
    );
    assert_eq!(response.finish_reason.as_deref(), Some("tool_calls"));

    let sent = &llm.chat_requests()[0];
    assert_eq!(sent.endpoint, MockEndpoint::Messages);
    assert_eq!(sent.header("x-api-key"), Some(ANTHROPIC_KEY));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("authorization"), None);
    let body = &sent.body;
    assert_eq!(
        body["system"],
        "<base_instructions>\nYou are Letta.\n</base_instructions>"
    );
    assert_eq!(body["max_tokens"], 4096);
    assert_eq!(
        body["tool_choice"],
        json!({"type": "any", "disable_parallel_tool_use": true})
    );
    assert_eq!(body["tools"][1]["name"], "core_memory_append");
    assert_eq!(
        body["tools"][1]["input_schema"],
        core_memory_append_tool().parameters
    );
    assert!(body.get("frequency_penalty").is_none());
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(
        messages[1]["content"][0],
        json!({
            "type": "tool_use",
            "id": "953b606c-98b0-434c-bcf3-3e0c3a1f2b7d",
            "name": "send_message",
            "input": serde_json::from_str::<Value>(BOOT_ARGS).unwrap()
        })
    );
    assert_eq!(messages[2]["role"], "user");
    let blocks = messages[2]["content"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "tool_result");
    assert_eq!(
        blocks[0]["tool_use_id"],
        "953b606c-98b0-434c-bcf3-3e0c3a1f2b7d"
    );
    assert_eq!(blocks[2], json!({"type": "text", "text": "hello"}));
}

#[tokio::test]
async fn anthropic_stream_assembles_thinking_text_and_tools() {
    let llm = MockLlm::start().await;
    llm.push(
        MockReply::tool_call("send_message", hi_args())
            .and_tool_call("core_memory_append", json!({}))
            .with_text("Hello!")
            .with_reasoning("Greeting back.", Some("sig-xyz"))
            .with_redacted_reasoning("ENCRYPTED")
            .usage(120, 33)
            .chunk_chars(4),
    );
    let mut request = sample_request("claude-3-7-sonnet-20250219");
    request.reasoning = ReasoningOptions {
        enabled: true,
        max_reasoning_tokens: Some(2048),
        effort: None,
    };
    let stream = anthropic(&llm).stream(&request).await.unwrap();
    let response = collect_stream(stream).await.unwrap();
    assert_eq!(response.content.as_deref(), Some("Hello!"));
    assert_eq!(
        response.reasoning,
        vec![
            ReasoningPart::Reasoning {
                text: "Greeting back.".into(),
                signature: Some("sig-xyz".into())
            },
            ReasoningPart::Redacted {
                data: "ENCRYPTED".into()
            }
        ]
    );
    assert_eq!(response.tool_calls.len(), 2);
    assert!(response.tool_calls[0].id.starts_with("toolu_"));
    assert_eq!(
        serde_json::from_str::<Value>(&response.tool_calls[0].arguments).unwrap(),
        hi_args()
    );
    assert_eq!(response.tool_calls[1].arguments, "{}");
    assert_eq!(
        response.usage,
        Usage {
            prompt_tokens: 120,
            completion_tokens: 33,
            total_tokens: 153
        }
    );
    let body = llm.last_request().unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    assert_eq!(body["tool_choice"]["type"], "auto");
    assert!(body.get("temperature").is_none());
}

#[tokio::test]
async fn reasoning_is_replayed_to_anthropic_with_signatures() {
    let llm = MockLlm::start().await;
    llm.push(MockReply::text("ok"));
    let mut request = sample_request("claude-3-7-sonnet-20250219");
    if let ChatMessage::Assistant { reasoning, .. } = &mut request.messages[1] {
        reasoning.push(ReasoningPart::Reasoning {
            text: "booting".into(),
            signature: Some("sig-boot".into()),
        });
        reasoning.push(ReasoningPart::Redacted { data: "xx".into() });
    }
    anthropic(&llm).complete(&request).await.unwrap();
    let body = llm.last_request().unwrap();
    let assistant = &body["messages"][1]["content"];
    assert_eq!(
        assistant[0],
        json!({"type": "thinking", "thinking": "booting", "signature": "sig-boot"})
    );
    assert_eq!(
        assistant[1],
        json!({"type": "redacted_thinking", "data": "xx"})
    );
    assert_eq!(assistant[2]["type"], "tool_use");
}

#[tokio::test]
async fn rate_limits_are_retried_after_retry_after() {
    let llm = MockLlm::start().await;
    llm.push(MockReply::status(429).retry_after(1));
    llm.push(MockReply::tool_call("send_message", hi_args()));
    let started = Instant::now();
    let response = openai(&llm)
        .complete(&sample_request("gpt-4o-mini"))
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(response.tool_calls[0].name, "send_message");
    assert_eq!(llm.request_count(), 2);
    assert_eq!(llm.requests()[0], llm.requests()[1]);

    // Anthropic too, and when opening a stream.
    llm.push(MockReply::status(429).retry_after(1));
    llm.push(MockReply::text("later"));
    let started = Instant::now();
    let stream = anthropic(&llm)
        .stream(&sample_request("claude-3-5-sonnet-20241022"))
        .await
        .unwrap();
    let response = collect_stream(stream).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_eq!(response.content.as_deref(), Some("later"));
    assert_eq!(llm.request_count(), 4);
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed() {
    let llm = MockLlm::start().await;
    llm.push(MockReply::status(500));
    llm.push(MockReply::status(503));
    llm.push(MockReply::text("third time lucky"));
    let response = openai(&llm)
        .complete(&sample_request("gpt-4o-mini"))
        .await
        .unwrap();
    assert_eq!(response.content.as_deref(), Some("third time lucky"));
    assert_eq!(llm.request_count(), 3);

    llm.push(MockReply::status(529));
    llm.push(MockReply::text("recovered"));
    let response = anthropic(&llm)
        .complete(&sample_request("claude-3-5-sonnet-20241022"))
        .await
        .unwrap();
    assert_eq!(response.content.as_deref(), Some("recovered"));
    assert_eq!(llm.request_count(), 5);
}

#[tokio::test]
async fn persistent_server_errors_fail_with_the_provider_message() {
    let llm = MockLlm::start().await;
    llm.push_repeated(MockReply::error(500, "The engine is on fire."), 3);
    let err = openai(&llm)
        .complete(&sample_request("gpt-4o-mini"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, LlmErrorKind::Server);
    assert_eq!(err.status, Some(500));
    assert_eq!(err.provider, "openai");
    assert_eq!(err.message, "The engine is on fire.");
    assert_eq!(
        err.to_string(),
        "openai error (HTTP 500): The engine is on fire."
    );
    assert_eq!(llm.request_count(), 3, "attempts are bounded");

    llm.push_repeated(MockReply::error(500, "Internal server error"), 3);
    let err = anthropic(&llm)
        .stream(&sample_request("claude-3-5-sonnet-20241022"))
        .await
        .err()
        .unwrap();
    assert_eq!((err.kind, err.status), (LlmErrorKind::Server, Some(500)));
    assert_eq!(err.message, "Internal server error");
    assert_eq!(llm.request_count(), 6);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let llm = MockLlm::start().await;
    llm.push(MockReply::error(
        400,
        "Invalid schema for function 'send_message'.",
    ));
    let err = openai(&llm)
        .complete(&sample_request("gpt-4o-mini"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, LlmErrorKind::BadRequest);
    assert_eq!(err.status, Some(400));
    assert_eq!(err.message, "Invalid schema for function 'send_message'.");
    assert_eq!(llm.request_count(), 1);
}

#[tokio::test]
async fn rate_limits_that_persist_are_rate_limited_errors() {
    let llm = MockLlm::start().await;
    llm.push_repeated(MockReply::status(429).retry_after_raw("0"), 3);
    let err = anthropic(&llm)
        .complete(&sample_request("claude-3-5-sonnet-20241022"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, LlmErrorKind::RateLimited);
    assert_eq!(err.status, Some(429));
    assert!(err.message.contains("rate limit"), "{}", err.message);
    assert_eq!(llm.request_count(), 3);
}

#[tokio::test]
async fn malformed_answers_are_invalid_responses() {
    let llm = MockLlm::start().await;
    llm.push(MockReply::malformed());
    let err = openai(&llm)
        .complete(&sample_request("gpt-4o-mini"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, LlmErrorKind::InvalidResponse);
    assert_eq!(llm.request_count(), 1, "a malformed answer is not retried");

    llm.push(MockReply::malformed());
    let err = anthropic(&llm)
        .complete(&sample_request("claude-3-5-sonnet-20241022"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, LlmErrorKind::InvalidResponse);

    for model in [openai(&llm), anthropic(&llm)] {
        llm.push(MockReply::malformed());
        let stream = model.stream(&sample_request("gpt-4o-mini")).await.unwrap();
        let err = collect_stream(stream).await.unwrap_err();
        assert_eq!(err.kind, LlmErrorKind::InvalidResponse);
    }

    // Valid JSON of the wrong shape.
    llm.push(MockReply::raw(
        200,
        "application/json",
        r#"{"id": "chatcmpl-1", "object": "chat.completion"}"#,
    ));
    let err = openai(&llm)
        .complete(&sample_request("gpt-4o-mini"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, LlmErrorKind::InvalidResponse);
    assert!(err.message.contains("no choices"), "{}", err.message);
}

#[tokio::test]
async fn dropped_stream_ends_with_an_error_item() {
    let llm = MockLlm::start().await;
    llm.push(
        MockReply::text("This answer will be cut short.")
            .chunk_chars(5)
            .drop_after(3),
    );
    let stream = openai(&llm)
        .stream(&sample_request("gpt-4o-mini"))
        .await
        .unwrap();
    let items: Vec<_> = stream.collect().await;
    let (last, first) = items.split_last().unwrap();
    assert!(first.iter().all(Result::is_ok), "{items:?}");
    assert!(
        first
            .iter()
            .any(|e| matches!(e, Ok(ChatStreamEvent::ContentDelta(t)) if t == "This ")),
        "{items:?}"
    );
    let err = last.as_ref().unwrap_err();
    assert_eq!(err.kind, LlmErrorKind::Connection);
    assert_eq!(err.provider, "openai");

    llm.push(MockReply::tool_call("send_message", hi_args()).drop_after(4));
    let stream = anthropic(&llm)
        .stream(&sample_request("claude-3-5-sonnet-20241022"))
        .await
        .unwrap();
    let err = collect_stream(stream).await.unwrap_err();
    assert_eq!(err.kind, LlmErrorKind::Connection);
    assert_eq!(llm.request_count(), 2, "a stream that broke is not retried");
}

#[tokio::test]
async fn in_stream_provider_errors_surface() {
    let llm = MockLlm::start().await;
    llm.push(MockReply::text("partial answer").stream_error_after(
        3,
        "overloaded_error",
        "Overloaded",
    ));
    let stream = anthropic(&llm)
        .stream(&sample_request("claude-3-5-sonnet-20241022"))
        .await
        .unwrap();
    let err = collect_stream(stream).await.unwrap_err();
    assert_eq!(
        (err.kind, err.message.as_str()),
        (LlmErrorKind::Server, "Overloaded")
    );

    llm.push(MockReply::text("partial answer").stream_error_after(
        2,
        "server_error",
        "Something broke",
    ));
    let stream = openai(&llm)
        .stream(&sample_request("gpt-4o-mini"))
        .await
        .unwrap();
    let err = collect_stream(stream).await.unwrap_err();
    assert_eq!(
        (err.kind, err.message.as_str()),
        (LlmErrorKind::Server, "Something broke")
    );
}

#[tokio::test]
async fn context_length_errors_are_recognised() {
    let llm = MockLlm::start().await;
    llm.push(MockReply::context_length_exceeded());
    let err = openai(&llm)
        .complete(&sample_request("gpt-4o-mini"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, LlmErrorKind::ContextLength);
    assert_eq!(err.status, Some(400));
    assert!(
        err.message.contains("maximum context length"),
        "{}",
        err.message
    );

    llm.push(MockReply::context_length_exceeded());
    let err = anthropic(&llm)
        .stream(&sample_request("claude-3-5-sonnet-20241022"))
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind, LlmErrorKind::ContextLength);
    assert!(
        err.message.starts_with("prompt is too long"),
        "{}",
        err.message
    );
    assert_eq!(llm.request_count(), 2);
}

#[tokio::test]
async fn keys_never_appear_in_errors() {
    let llm = MockLlm::start().await;
    llm.push(MockReply::error(
        401,
        format!("Incorrect API key provided: {OPENAI_KEY}."),
    ));
    let model = openai(&llm);
    let err = model
        .complete(&sample_request("gpt-4o-mini"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, LlmErrorKind::Auth);
    assert_eq!(err.status, Some(401));
    assert_eq!(err.message, "Incorrect API key provided: ***.");
    for text in [
        err.to_string(),
        format!("{err:?}"),
        format!("{:?}", keys(&llm)),
    ] {
        assert!(
            !text.contains(OPENAI_KEY) && !text.contains(ANTHROPIC_KEY),
            "{text}"
        );
    }

    llm.push(MockReply::error(
        403,
        format!("key {ANTHROPIC_KEY} may not use this model"),
    ));
    let err = anthropic(&llm)
        .complete(&sample_request("claude-3-5-sonnet-20241022"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, LlmErrorKind::Auth);
    assert!(!err.to_string().contains(ANTHROPIC_KEY), "{err}");
    assert_eq!(llm.request_count(), 2, "auth failures are not retried");
}

#[tokio::test]
async fn unreachable_provider_is_a_connection_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let llm = MockLlm::start().await;
    let config = llm_config("openai", "gpt-4o-mini", Some(format!("http://{addr}/v1")));
    let err = chat_model_for(&config, &keys(&llm))
        .unwrap()
        .complete(&sample_request("gpt-4o-mini"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, LlmErrorKind::Connection);
    assert_eq!(err.status, None);
}

#[tokio::test]
async fn connection_cut_before_the_body_is_retried() {
    let llm = MockLlm::start().await;
    llm.push(MockReply::disconnect());
    llm.push(MockReply::text("second try"));
    let response = openai(&llm)
        .complete(&sample_request("gpt-4o-mini"))
        .await
        .unwrap();
    assert_eq!(response.content.as_deref(), Some("second try"));
    assert_eq!(llm.request_count(), 2);
}

#[tokio::test]
async fn slow_answers_time_out() {
    let llm = MockLlm::start().await;
    let keys = keys(&llm).with_timeouts(Duration::from_millis(300), Duration::from_secs(1));
    let model = chat_model_for(
        &llm_config("openai", "gpt-4o-mini", Some(llm.base_url())),
        &keys,
    )
    .unwrap();

    llm.push(MockReply::text("too late").delay(Duration::from_secs(3)));
    let started = Instant::now();
    let err = model
        .complete(&sample_request("gpt-4o-mini"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, LlmErrorKind::Timeout);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(llm.request_count(), 1, "a timed-out call is not repeated");

    // A stream whose chunks keep coming is not bound by the request timeout…
    llm.push(
        MockReply::text("a slow but steady answer")
            .chunk_chars(3)
            .chunk_delay(Duration::from_millis(50)),
    );
    let started = Instant::now();
    let stream = model.stream(&sample_request("gpt-4o-mini")).await.unwrap();
    let response = collect_stream(stream).await.unwrap();
    assert_eq!(
        response.content.as_deref(),
        Some("a slow but steady answer")
    );
    assert!(started.elapsed() > Duration::from_millis(300));

    // …but one that goes silent for longer than the idle timeout fails.
    llm.push(MockReply::text("stalls").chunk_delay(Duration::from_secs(4)));
    let started = Instant::now();
    let err = match model.stream(&sample_request("gpt-4o-mini")).await {
        Ok(stream) => collect_stream(stream).await.unwrap_err(),
        Err(err) => err,
    };
    assert_eq!(err.kind, LlmErrorKind::Timeout);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// The path the agent loop takes: an agent created from an `openai/…` handle served by the
/// mock, its stored `llm_config` handed to the factory with keys from the server config.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_created_from_mock_handles_reach_the_mock() {
    let llm = MockLlm::start().await;
    let base = llm.base_url();
    let app = TestApp::spawn_with(Backend::Sqlite, |cfg| {
        cfg.openai_api_key = Some(OPENAI_KEY.parse().unwrap());
        cfg.openai_api_base = base;
    })
    .await;
    let (status, agent) = app
        .post(
            "/v1/agents/",
            &json!({"name": "mocked", "model": "openai/gpt-4o-mini", "embedding": "openai/text-embedding-3-small"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{agent}");
    let config: LlmConfig = serde_json::from_value(agent["llm_config"].clone()).unwrap();
    assert_eq!(
        config.model_endpoint.as_deref(),
        Some(llm.base_url().as_str())
    );

    let mut server_config = crate::helpers::test_config();
    server_config.openai_api_key = Some(OPENAI_KEY.parse().unwrap());
    server_config.openai_api_base = llm.base_url();
    let model = chat_model_for(&config, &ProviderKeys::from(&server_config)).unwrap();
    llm.push(MockReply::tool_call("send_message", hi_args()));
    let response = model
        .complete(&sample_request(&config.model))
        .await
        .unwrap();
    assert_eq!(response.tool_calls[0].name, "send_message");
    let sent = llm.chat_requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["model"], "gpt-4o-mini");
    assert_eq!(
        sent[0].header("authorization"),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );
}

#[tokio::test]
async fn unknown_tools_pass_through_for_the_agent_to_handle() {
    let llm = MockLlm::start().await;
    llm.push(MockReply::tool_call("does_not_exist", json!({"x": 1})));
    let response = openai(&llm)
        .complete(&sample_request("gpt-4o-mini"))
        .await
        .unwrap();
    assert_eq!(response.tool_calls[0].name, "does_not_exist");
}

#[tokio::test]
async fn ollama_uses_the_openai_protocol_without_a_key() {
    let llm = MockLlm::start().await;
    llm.push(MockReply::text("local answer"));
    let config = llm_config("ollama", "llama3.2:latest", Some(llm.root_url()));
    let model = chat_model_for(&config, &keys(&llm)).unwrap();
    let response = model
        .complete(&sample_request("llama3.2:latest"))
        .await
        .unwrap();
    assert_eq!(response.content.as_deref(), Some("local answer"));
    let sent = &llm.chat_requests()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(sent.body["max_tokens"], 4096);

    // Without an endpoint in the config, the configured Ollama base is used.
    llm.push(MockReply::text("again"));
    let config = llm_config("ollama", "llama3.2:latest", None);
    let model = chat_model_for(&config, &keys(&llm)).unwrap();
    assert_eq!(
        model
            .complete(&sample_request("llama3.2:latest"))
            .await
            .unwrap()
            .content
            .as_deref(),
        Some("again")
    );
}

#[tokio::test]
async fn endpoints_fall_back_to_the_configured_bases_and_keys_stay_home() {
    let llm = MockLlm::start().await;
    llm.set_rule(|req| {
        MockReply::text(format!(
            "you said {}",
            req.last_user_text().unwrap_or_default()
        ))
    });

    let model = chat_model_for(&llm_config("openai", "gpt-4o-mini", None), &keys(&llm)).unwrap();
    let response = model
        .complete(&sample_request("gpt-4o-mini"))
        .await
        .unwrap();
    assert_eq!(response.content.as_deref(), Some("you said hello"));
    let model = chat_model_for(
        &llm_config("anthropic", "claude-3-5-haiku", None),
        &keys(&llm),
    )
    .unwrap();
    model
        .complete(&sample_request("claude-3-5-haiku"))
        .await
        .unwrap();

    // A Together endpoint elsewhere does not receive the OpenAI key.
    let other = MockLlm::start().await;
    other.push(MockReply::text("from together"));
    let config = llm_config("together", "meta-llama/Llama-3-70b", Some(other.base_url()));
    let model = chat_model_for(&config, &keys(&llm)).unwrap();
    model
        .complete(&sample_request("meta-llama/Llama-3-70b"))
        .await
        .unwrap();
    assert_eq!(other.chat_requests()[0].header("authorization"), None);

    let sent = llm.chat_requests();
    assert_eq!(sent[0].endpoint, MockEndpoint::ChatCompletions);
    assert_eq!(sent[1].endpoint, MockEndpoint::Messages);
    assert_eq!(sent[1].header("x-api-key"), Some(ANTHROPIC_KEY));
}
