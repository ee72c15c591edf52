//! `/v1/agents/{agent_id}/messages…`: an agent's stored history — listing it, editing one
//! message, resetting it.

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::compose;
use super::error::{ApiError, ApiResult};
use super::extractors::{Json, Path, Query, from_value_at};
use super::paging;
use crate::schemas::agent::AgentState;
use crate::schemas::letta_message::{
    LettaMessage, LettaMessageUpdate, UpdateAssistantMessage, UpdateReasoningMessage,
    UpdateSystemMessage, UpdateUserMessage,
};
use crate::schemas::org::Actor;
use crate::services::messages::{ConvertOptions, ListMessages};
use crate::state::AppState;

type JsonResponse<T> = ApiResult<axum::Json<T>>;

fn default_true() -> bool {
    true
}

fn default_tool_name() -> String {
    "send_message".to_owned()
}

fn default_tool_kwarg() -> String {
    "message".to_owned()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListMessagesQuery {
    /// Message id cursor: only messages stored after it.
    after: Option<String>,
    /// Message id cursor: only messages stored before it.
    before: Option<String>,
    /// How many stored messages to select, newest first (default 10).
    #[param(default = 10)]
    limit: Option<i64>,
    /// Only messages of this group.
    group_id: Option<String>,
    /// Show calls of the assistant tool as `assistant_message` (default true).
    #[serde(default = "default_true")]
    #[param(default = true)]
    use_assistant_message: bool,
    /// The tool whose calls are shown as `assistant_message`.
    #[serde(default = "default_tool_name")]
    #[param(default = "send_message")]
    assistant_message_tool_name: String,
    /// The argument of that tool holding the text.
    #[serde(default = "default_tool_kwarg")]
    #[param(default = "message")]
    assistant_message_tool_kwarg: String,
}

/// The agent's stored messages as LettaMessages: the newest `limit` stored messages within
/// the cursors, in chronological order.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/messages", operation_id = "list_messages", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id"), ListMessagesQuery),
    responses((status = 200, description = "Messages, oldest first", body = Vec<LettaMessage>),
        (status = 400, description = "A message cannot be shown with the given assistant-message options")))]
async fn list_messages(
    State(state): State<AppState>,
    actor: Actor,
    Path(agent_id): Path<String>,
    Query(q): Query<ListMessagesQuery>,
) -> JsonResponse<Vec<LettaMessage>> {
    let limit = paging::limit_or(q.limit, Some(10))?;
    let params = ListMessages {
        after: q.after.as_deref(),
        before: q.before.as_deref(),
        limit,
        group_id: q.group_id.as_deref(),
        convert: ConvertOptions {
            use_assistant_message: q.use_assistant_message,
            tool_name: &q.assistant_message_tool_name,
            tool_kwarg: &q.assistant_message_tool_kwarg,
        },
    };
    Ok(axum::Json(
        compose::messages(&state)
            .list(&actor, &agent_id, &params)
            .await?,
    ))
}

/// One of the four update shapes, told apart by `message_type`.
#[expect(
    dead_code,
    reason = "the modify body as the document shows it; the handler reads `LettaMessageUpdate`"
)]
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub(super) enum ModifyMessageBody {
    System(UpdateSystemMessage),
    User(UpdateUserMessage),
    Reasoning(UpdateReasoningMessage),
    Assistant(UpdateAssistantMessage),
}

/// Edits one of the agent's messages; returns it as the requested message type.
#[utoipa::path(patch, path = "/v1/agents/{agent_id}/messages/{message_id}", operation_id = "modify_message", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id"), ("message_id" = String, Path, description = "Message id")),
    request_body = inline(ModifyMessageBody),
    responses((status = 200, description = "The edited message", body = inline(LettaMessage))))]
async fn modify_message(
    State(state): State<AppState>,
    actor: Actor,
    Path((agent_id, message_id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> JsonResponse<LettaMessage> {
    let update = parse_update(body)?;
    Ok(axum::Json(
        compose::messages(&state)
            .modify(&actor, &agent_id, &message_id, update)
            .await?,
    ))
}

const UPDATE_TAGS: [&str; 4] = [
    "system_message",
    "user_message",
    "reasoning_message",
    "assistant_message",
];

/// Reads the modify body, with pydantic's errors for a missing or unknown `message_type`.
pub(super) fn parse_update(body: Value) -> ApiResult<LettaMessageUpdate> {
    let tag = body.get("message_type");
    if body.is_object() {
        let known = tag
            .and_then(Value::as_str)
            .is_some_and(|t| UPDATE_TAGS.contains(&t));
        if !known {
            let discriminator = json!("'message_type'");
            let item = match tag {
                None => {
                    let mut item = ApiError::validation_item(
                        "union_tag_not_found",
                        vec![json!("body")],
                        "Unable to extract tag using discriminator 'message_type'",
                        body.clone(),
                    );
                    item["ctx"] = json!({ "discriminator": discriminator });
                    item
                }
                Some(tag) => {
                    let shown = match tag {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let expected = UPDATE_TAGS
                        .iter()
                        .map(|t| format!("'{t}'"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let mut item = ApiError::validation_item(
                        "union_tag_invalid",
                        vec![json!("body")],
                        format!(
                            "Input tag '{shown}' found using 'message_type' does not match any of the expected tags: {expected}"
                        ),
                        body.clone(),
                    );
                    item["ctx"] = json!({
                        "discriminator": discriminator,
                        "tag": shown,
                        "expected_tags": expected,
                    });
                    item
                }
            };
            return Err(ApiError::validation(vec![item]));
        }
    }
    from_value_at(body, "body")
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResetMessagesQuery {
    /// Append a fresh default boot sequence after the system message.
    #[serde(default)]
    #[param(default = false)]
    add_default_initial_messages: bool,
}

/// Deletes the agent's history except its system message.
#[utoipa::path(patch, path = "/v1/agents/{agent_id}/reset-messages", operation_id = "reset_messages", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id"), ResetMessagesQuery),
    responses((status = 200, description = "The agent", body = AgentState),
        (status = 400, description = "The agent has no system message to keep")))]
async fn reset_messages(
    State(state): State<AppState>,
    actor: Actor,
    Path(agent_id): Path<String>,
    Query(q): Query<ResetMessagesQuery>,
) -> JsonResponse<AgentState> {
    Ok(axum::Json(
        compose::messages(&state)
            .reset(&actor, &agent_id, q.add_default_initial_messages)
            .await?,
    ))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_messages))
        .routes(routes!(modify_message))
        .routes(routes!(reset_messages))
}
