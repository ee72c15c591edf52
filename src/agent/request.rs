//! The request one step sends to the model: the in-context messages as chat messages and
//! the allowed tools as definitions.

use serde_json::{Map, Value, json};

use crate::llm::chat::{
    ChatContent, ChatMessage, ChatRequest, ChatToolCall, ReasoningOptions, ReasoningPart,
    ToolChoice, ToolDefinition,
};
use crate::schemas::message::{Message, MessageRole};
use crate::schemas::org::Actor;
use crate::schemas::tool::{Tool, ToolType};
use crate::store::AgentRow;

const INNER_THOUGHTS_DESCRIPTION: &str = "Deep inner monologue private to you only.";
const HEARTBEAT_DESCRIPTION: &str = "Request an immediate heartbeat after function execution. Set to `True` if you want to send a follow-up message or run a follow-up function.";

/// Tool types the loop offers to the model.
pub fn is_callable(tool: &Tool) -> bool {
    !matches!(tool.tool_type, ToolType::ExternalLangchain)
}

/// The request for one step: the context as chat messages and the allowed tools.
pub fn chat_request(
    row: &AgentRow,
    tools: &[Tool],
    context: &[Message],
    actor: &Actor,
    allowed: &[String],
) -> ChatRequest {
    let llm = &row.llm_config;
    let kwargs_thoughts = llm.put_inner_thoughts_in_kwargs.unwrap_or(true);
    let tools: Vec<ToolDefinition> = tools
        .iter()
        .filter(|t| allowed.iter().any(|a| a == t.name()))
        .filter_map(|t| tool_definition(t, kwargs_thoughts, row.response_format.as_ref()))
        .collect();
    let tool_choice = if tools.is_empty() {
        ToolChoice::Unset
    } else if tools.len() == 1 {
        ToolChoice::Named(tools[0].name.clone())
    } else if matches!(llm.model_endpoint_type.as_str(), "together" | "vllm") {
        ToolChoice::Auto
    } else {
        ToolChoice::Required
    };
    ChatRequest {
        model: llm.model.clone(),
        messages: context
            .iter()
            .filter_map(|m| to_chat_message(m, kwargs_thoughts))
            .collect(),
        tools,
        tool_choice,
        temperature: Some(llm.temperature),
        max_tokens: llm.max_tokens,
        frequency_penalty: llm.frequency_penalty,
        user: Some(actor.user_id.clone()),
        parallel_tool_calls: Some(false),
        reasoning: ReasoningOptions {
            enabled: llm.enable_reasoner,
            max_reasoning_tokens: (llm.max_reasoning_tokens > 0)
                .then_some(llm.max_reasoning_tokens),
            effort: llm.reasoning_effort.clone(),
        },
    }
}

/// A stored message as the model sees it. Inner thoughts go back into the tool-call
/// arguments when the agent keeps them there.
pub fn to_chat_message(m: &Message, kwargs_thoughts: bool) -> Option<ChatMessage> {
    let texts: Vec<&str> = m
        .content
        .iter()
        .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect();
    let text = texts.join("\n");
    Some(match m.role {
        MessageRole::System => ChatMessage::System { content: text },
        MessageRole::User => {
            let has_images = m
                .content
                .iter()
                .any(|p| p.get("type").and_then(Value::as_str) == Some("image"));
            if has_images {
                let parts = m
                    .content
                    .iter()
                    .filter_map(|p| match p.get("type").and_then(Value::as_str) {
                        Some("text") => Some(json!({"type": "text", "text": p.get("text")})),
                        Some("image") => image_part(p),
                        _ => None,
                    })
                    .collect();
                ChatMessage::User {
                    content: ChatContent::Parts(parts),
                }
            } else {
                ChatMessage::User {
                    content: ChatContent::Text(text),
                }
            }
        }
        MessageRole::Assistant => {
            let reasoning: Vec<ReasoningPart> = m
                .content
                .iter()
                .filter_map(|p| match p.get("type").and_then(Value::as_str) {
                    Some("reasoning") => Some(ReasoningPart::Reasoning {
                        text: p
                            .get("reasoning")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        signature: p
                            .get("signature")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    }),
                    Some("redacted_reasoning") => Some(ReasoningPart::Redacted {
                        data: p
                            .get("data")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                    }),
                    _ => None,
                })
                .collect();
            let thoughts = (!text.is_empty()).then(|| text.clone());
            let tool_calls: Vec<ChatToolCall> = m
                .tool_calls
                .iter()
                .map(|call| {
                    let arguments = match (&thoughts, kwargs_thoughts) {
                        (Some(t), true) => {
                            let parsed: Map<String, Value> =
                                serde_json::from_str(&call.function.arguments).unwrap_or_default();
                            let mut with = Map::new();
                            with.insert("inner_thoughts".into(), json!(t));
                            with.extend(parsed);
                            serde_json::to_string_pretty(&Value::Object(with)).unwrap_or_default()
                        }
                        _ => call.function.arguments.clone(),
                    };
                    ChatToolCall {
                        id: call.id.clone(),
                        name: call.function.name.clone(),
                        arguments,
                    }
                })
                .collect();
            let content = if tool_calls.is_empty() || !kwargs_thoughts {
                thoughts
            } else {
                None
            };
            ChatMessage::Assistant {
                content,
                tool_calls,
                reasoning,
            }
        }
        MessageRole::Tool => ChatMessage::Tool {
            tool_call_id: m.tool_call_id.clone().unwrap_or_default(),
            name: m.name.clone(),
            content: text,
        },
    })
}

fn image_part(p: &Value) -> Option<Value> {
    let source = p.get("source")?;
    let url = match source.get("type").and_then(Value::as_str)? {
        "url" => source.get("url")?.as_str()?.to_owned(),
        _ => format!(
            "data:{};base64,{}",
            source
                .get("media_type")
                .and_then(Value::as_str)
                .unwrap_or("image/png"),
            source.get("data").and_then(Value::as_str)?
        ),
    };
    let detail = source
        .get("detail")
        .and_then(Value::as_str)
        .unwrap_or("auto");
    Some(json!({"type": "image_url", "image_url": {"url": url, "detail": detail}}))
}

/// The schema sent for a tool: strict structured-output form, `request_heartbeat` on every
/// tool but send_message, and `inner_thoughts` first when thoughts travel in arguments.
pub fn tool_definition(
    tool: &Tool,
    kwargs_thoughts: bool,
    response_format: Option<&Value>,
) -> Option<ToolDefinition> {
    let schema = tool.json_schema.as_ref()?;
    let name = schema
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or(tool.name())
        .to_owned();
    let description = schema
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or(tool.description.clone());
    let params = schema
        .get("parameters")
        .cloned()
        .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
    let mut properties: Map<String, Value> = params
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if name == "send_message"
        && let Some(format) = response_format
    {
        match format.get("type").and_then(Value::as_str) {
            Some("json_schema") => {
                if let Some(schema) = format.get("json_schema").and_then(|s| s.get("schema")) {
                    properties.insert("message".into(), schema.clone());
                }
            }
            Some("json_object") => {
                properties.insert(
                    "message".into(),
                    json!({"type": "object", "description": "Message contents as a JSON object."}),
                );
            }
            _ => {}
        }
    }
    if name != "send_message" {
        properties.insert(
            "request_heartbeat".into(),
            json!({"type": "boolean", "description": HEARTBEAT_DESCRIPTION}),
        );
    }
    let mut ordered = Map::new();
    if kwargs_thoughts {
        ordered.insert(
            "inner_thoughts".into(),
            json!({"type": "string", "description": INNER_THOUGHTS_DESCRIPTION}),
        );
    }
    ordered.extend(properties);
    for value in ordered.values_mut() {
        close_objects(value);
    }
    let required: Vec<Value> = ordered.keys().map(|k| json!(k)).collect();
    let parameters = json!({
        "type": "object",
        "properties": Value::Object(ordered),
        "additionalProperties": false,
        "required": required,
    });
    Some(ToolDefinition {
        name,
        description,
        parameters,
        strict: true,
    })
}

/// Structured outputs: nested objects allow no extra keys and require all their keys.
fn close_objects(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    if obj.get("type").and_then(Value::as_str) == Some("object") {
        if let Some(props) = obj.get_mut("properties").and_then(Value::as_object_mut) {
            for v in props.values_mut() {
                close_objects(v);
            }
            let keys: Vec<Value> = props.keys().map(|k| json!(k)).collect();
            obj.insert("required".into(), Value::Array(keys));
        }
        obj.insert("additionalProperties".into(), Value::Bool(false));
    }
    if let Some(items) = obj.get_mut("items") {
        close_objects(items);
    }
}
