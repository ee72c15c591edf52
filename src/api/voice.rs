//! `/v1/voice-beta/{agent_id}/chat/completions`: an OpenAI-compatible streaming chat
//! completion for voice front-ends (VAPI and the like). The last user message of the
//! request is sent to the agent as a token-streamed turn; the agent's words come back as
//! `chat.completion.chunk` events ending with `data: [DONE]`.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult};
use super::extractors::{Json, Path};
use crate::dispatch::Dispatcher;
use crate::runs::frames;
use crate::schemas::letta_message::LettaRequest;
use crate::schemas::message::MessageCreate;
use crate::schemas::org::Actor;
use crate::state::AppState;

/// The acting user: the `user-id` header (as the original documents it), else `user_id`,
/// else the default user.
struct VoiceActor(Actor);

impl axum::extract::FromRequestParts<AppState> for VoiceActor {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = ["user-id", "user_id"]
            .iter()
            .find_map(|name| parts.headers.get(*name))
            .and_then(|v| v.to_str().ok());
        Ok(VoiceActor(
            super::compose::orgs(state).resolve_actor(header).await?,
        ))
    }
}

fn bad_request(detail: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, detail)
}

/// The user message the completion request asks about: the last message, which must be the
/// user's, with string content (as the original reads it).
fn user_message(body: &Value) -> ApiResult<MessageCreate> {
    let messages = match body.get("messages") {
        None => {
            return Err(bad_request(
                "The 'messages' field is missing in the request.",
            ));
        }
        Some(Value::Array(messages)) if !messages.is_empty() => messages,
        Some(_) => {
            return Err(bad_request(
                "The 'messages' field must be a non-empty list of messages.",
            ));
        }
    };
    let last = &messages[messages.len() - 1];
    if last.get("role").and_then(Value::as_str) != Some("user") {
        return Err(bad_request("'messages[-1].role' must be a 'user'"));
    }
    let Some(text) = last.get("content").and_then(Value::as_str) else {
        return Err(bad_request("'messages[-1].content' must be a 'string'"));
    };
    serde_json::from_value(json!({"role": "user", "content": text}))
        .map_err(|e| bad_request(&format!("invalid user message: {e}")))
}

/// One `chat.completion.chunk` event.
fn chunk(id: &str, created: i64, model: &str, delta: Value, finish: Option<&str>) -> String {
    let body = json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    });
    format!("data: {body}\n\n")
}

/// What a run frame becomes in the completion stream: the assistant's words as content
/// deltas, errors as they are, the end as the final chunk; everything else (reasoning, tool
/// calls and returns, usage) is left out.
fn translate(frame: &str, id: &str, created: i64, model: &str) -> Option<String> {
    if frames::is_error(frame) {
        return Some(frame.to_owned());
    }
    let data = frame.strip_prefix("data: ")?.trim_end();
    if data == "[DONE]" {
        return Some(format!(
            "{}data: [DONE]\n\n",
            chunk(id, created, model, json!({}), Some("stop"))
        ));
    }
    let event: Value = serde_json::from_str(data).ok()?;
    if event.get("message_type").and_then(Value::as_str) != Some("assistant_message") {
        return None;
    }
    let text = match event.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => return None,
    };
    (!text.is_empty()).then(|| chunk(id, created, model, json!({"content": text}), None))
}

/// Create Voice Chat Completions
///
/// Streams the agent's answer to the request's last user message as OpenAI
/// `chat.completion.chunk` events (any other field of the request is ignored).
#[utoipa::path(post, path = "/v1/voice-beta/{agent_id}/chat/completions",
    operation_id = "create_voice_chat_completions", tag = "voice",
    params(("agent_id" = String, Path, description = "Id of the agent"),
        ("user-id" = Option<String>, Header, description = "The acting user (`user_id` is read too)")),
    request_body = Object,
    responses((status = 200, description = "Successful response", content((String = "text/event-stream"))),
        (status = 400, description = "No last user message with text content"),
        (status = 404, description = "No such agent")))]
async fn create_voice_chat_completions(
    State(state): State<AppState>,
    VoiceActor(actor): VoiceActor,
    Path(agent_id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let input = user_message(&body)?;
    let row = super::compose::agents(&state)
        .row(&actor, &agent_id)
        .await?;
    let model = row.llm_config.model.clone();
    let stream = Dispatcher::new(&state)
        .stream_own_turn(&actor, &agent_id, LettaRequest::new(vec![input]))
        .await?;
    let id = format!("chatcmpl-{}", stream.run_id);
    let created = crate::schemas::common::now().timestamp();
    let first = chunk(
        &id,
        created,
        &model,
        json!({"role": "assistant", "content": ""}),
        None,
    );
    let rest = stream.frames.filter_map(move |frame| {
        let out = translate(&frame, &id, created, &model);
        async move { out }
    });
    let body = futures_util::stream::iter([first])
        .chain(rest)
        .map(|text| Ok::<_, Infallible>(Bytes::from(text)));
    let mut response = (StatusCode::OK, Body::from_stream(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_voice_chat_completions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_become_completion_chunks() {
        let out = translate(
            "data: {\"message_type\":\"assistant_message\",\"content\":\"Hi\"}\n\n",
            "c",
            1,
            "m",
        )
        .unwrap();
        assert!(out.contains("\"delta\":{\"content\":\"Hi\"}"), "{out}");
        assert!(
            translate(
                "data: {\"message_type\":\"reasoning_message\"}\n\n",
                "c",
                1,
                "m"
            )
            .is_none()
        );
        let end = translate("data: [DONE]\n\n", "c", 1, "m").unwrap();
        assert!(end.contains("\"finish_reason\":\"stop\"") && end.ends_with("data: [DONE]\n\n"));
    }
}
