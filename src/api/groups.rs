//! `/v1/groups`: groups of agents — creating and changing them, their messages — and
//! `GET /v1/agents/{agent_id}/groups`. Sending to a group is in `group_messages.rs`.

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiResult;
use super::extractors::{Json, Path, Query};
use super::messages::{ModifyMessageBody, parse_update};
use super::paging;
use crate::AppState;
use crate::schemas::group::{Group, GroupCreate, GroupUpdate, ManagerType};
use crate::schemas::letta_message::LettaMessage;
use crate::schemas::org::Actor;
use crate::services::groups::{GroupMessagesQuery, GroupService};
use crate::services::messages::ConvertOptions;
use crate::store::GroupFilter;

fn groups(state: &AppState) -> GroupService<'_> {
    GroupService::new(state.store.as_ref())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListGroupsQuery {
    /// Search groups by manager type
    manager_type: Option<ManagerType>,
    /// Cursor for pagination
    before: Option<String>,
    /// Cursor for pagination
    after: Option<String>,
    /// Limit for pagination
    limit: Option<i64>,
    /// Search groups by project id (groups belong to no project: refused)
    project_id: Option<String>,
}

/// Lists the organization's groups, oldest first.
#[utoipa::path(get, path = "/v1/groups/", operation_id = "list_groups", tag = "groups",
    params(ListGroupsQuery),
    responses((status = 200, description = "The matching groups", body = Vec<Group>),
        (status = 400, description = "project_id was given"),
        (status = 404, description = "A cursor names no group")))]
async fn list_groups(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<ListGroupsQuery>,
) -> ApiResult<axum::Json<Vec<Group>>> {
    let filter = GroupFilter {
        manager_type: q.manager_type,
        before: q.before,
        after: q.after,
        limit: paging::limit_or(q.limit, None)?,
    };
    Ok(axum::Json(
        groups(&state)
            .list(&actor, &filter, q.project_id.as_deref())
            .await?,
    ))
}

/// Creates a group: its participants in order, its manager, and blocks shared by all.
#[utoipa::path(post, path = "/v1/groups/", operation_id = "create_group", tag = "groups",
    params(("X-Project" = Option<String>, Header, description = "The project slug to associate with the group (cloud only).")),
    request_body = GroupCreate,
    responses((status = 200, description = "The new group", body = Group),
        (status = 400, description = "Duplicate participants or names, or the manager among them"),
        (status = 404, description = "An agent or block does not exist in the organization"),
        (status = 409, description = "A shared block's label is taken on an agent, or the manager already manages a group"),
        (status = 422, description = "Invalid manager settings")))]
async fn create_group(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<GroupCreate>,
) -> ApiResult<axum::Json<Group>> {
    Ok(axum::Json(groups(&state).create(&actor, body).await?))
}

/// Counts the organization's groups.
#[utoipa::path(get, path = "/v1/groups/count", operation_id = "count_groups", tag = "groups",
    responses((status = 200, description = "Number of groups", body = i64, content_type = "application/json")))]
async fn count_groups(State(state): State<AppState>, actor: Actor) -> ApiResult<axum::Json<i64>> {
    Ok(axum::Json(groups(&state).count(&actor).await?))
}

/// Returns one group.
#[utoipa::path(get, path = "/v1/groups/{group_id}", operation_id = "retrieve_group", tag = "groups",
    params(("group_id" = String, Path, description = "Id of the group")),
    responses((status = 200, description = "The group", body = Group),
        (status = 404, description = "No such group in the organization")))]
async fn retrieve_group(
    State(state): State<AppState>,
    actor: Actor,
    Path(group_id): Path<String>,
) -> ApiResult<axum::Json<Group>> {
    Ok(axum::Json(groups(&state).get(&actor, &group_id).await?))
}

/// Changes the values given (empty ones are ignored); `agent_ids` replaces the
/// participants. The manager type cannot change.
#[utoipa::path(patch, path = "/v1/groups/{group_id}", operation_id = "modify_group", tag = "groups",
    params(("group_id" = String, Path, description = "Id of the group"),
        ("X-Project" = Option<String>, Header, description = "The project slug to associate with the group (cloud only).")),
    request_body = GroupUpdate,
    responses((status = 200, description = "The changed group", body = Group),
        (status = 400, description = "Another manager type, or invalid participants"),
        (status = 404, description = "No such group, or an agent does not exist")))]
async fn modify_group(
    State(state): State<AppState>,
    actor: Actor,
    Path(group_id): Path<String>,
    Json(body): Json<GroupUpdate>,
) -> ApiResult<axum::Json<Group>> {
    Ok(axum::Json(
        groups(&state).modify(&actor, &group_id, body).await?,
    ))
}

/// Deletes a group; its agents, shared blocks and messages are kept.
#[utoipa::path(delete, path = "/v1/groups/{group_id}", operation_id = "delete_group", tag = "groups",
    params(("group_id" = String, Path, description = "Id of the group")),
    responses((status = 200, description = "Deleted", body = Object),
        (status = 404, description = "No such group in the organization")))]
async fn delete_group(
    State(state): State<AppState>,
    actor: Actor,
    Path(group_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    groups(&state).delete(&actor, &group_id).await?;
    Ok(axum::Json(
        json!({ "message": format!("Group id={group_id} successfully deleted") }),
    ))
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListGroupMessagesQuery {
    /// Message after which to retrieve the returned messages.
    after: Option<String>,
    /// Message before which to retrieve the returned messages.
    before: Option<String>,
    /// Maximum number of messages to retrieve.
    #[param(default = 10)]
    limit: Option<i64>,
    /// Whether to use assistant messages
    #[serde(default = "default_true")]
    #[param(default = true)]
    use_assistant_message: bool,
    /// The name of the designated message tool.
    #[serde(default = "default_tool_name")]
    #[param(default = "send_message")]
    assistant_message_tool_name: String,
    /// The name of the message argument.
    #[serde(default = "default_tool_kwarg")]
    #[param(default = "message")]
    assistant_message_tool_kwarg: String,
}

/// The messages sent in the group: with a manager, the manager's newest ones (oldest
/// first); otherwise every participant's, oldest first.
#[utoipa::path(get, path = "/v1/groups/{group_id}/messages", operation_id = "list_group_messages", tag = "groups",
    params(("group_id" = String, Path, description = "Id of the group"), ListGroupMessagesQuery),
    responses((status = 200, description = "Messages, oldest first", body = Vec<LettaMessage>),
        (status = 404, description = "No such group, or a cursor names no message")))]
async fn list_group_messages(
    State(state): State<AppState>,
    actor: Actor,
    Path(group_id): Path<String>,
    Query(q): Query<ListGroupMessagesQuery>,
) -> ApiResult<axum::Json<Vec<LettaMessage>>> {
    let query = GroupMessagesQuery {
        after: q.after.as_deref(),
        before: q.before.as_deref(),
        limit: paging::limit_or(q.limit, Some(10))?,
        convert: ConvertOptions {
            use_assistant_message: q.use_assistant_message,
            tool_name: &q.assistant_message_tool_name,
            tool_kwarg: &q.assistant_message_tool_kwarg,
        },
    };
    Ok(axum::Json(
        groups(&state).messages(&actor, &group_id, query).await?,
    ))
}

/// Edits a message sent in the group; returns it as the requested message type.
#[utoipa::path(patch, path = "/v1/groups/{group_id}/messages/{message_id}", operation_id = "modify_group_message", tag = "groups",
    params(("group_id" = String, Path, description = "Id of the group"), ("message_id" = String, Path, description = "Id of the message")),
    request_body = inline(ModifyMessageBody),
    responses((status = 200, description = "The edited message", body = inline(LettaMessage)),
        (status = 404, description = "No such group, or no such message in it")))]
async fn modify_group_message(
    State(state): State<AppState>,
    actor: Actor,
    Path((group_id, message_id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<LettaMessage>> {
    let update = parse_update(body)?;
    let agent_id = groups(&state)
        .message_owner(&actor, &group_id, &message_id)
        .await?;
    Ok(axum::Json(
        super::compose::messages(&state)
            .modify(&actor, &agent_id, &message_id, update)
            .await?,
    ))
}

/// Deletes every message sent in the group, from all its agents' histories.
#[utoipa::path(patch, path = "/v1/groups/{group_id}/reset-messages", operation_id = "reset_group_messages", tag = "groups",
    params(("group_id" = String, Path, description = "Id of the group")),
    responses((status = 200, description = "Done (the body is null)"),
        (status = 404, description = "No such group in the organization")))]
async fn reset_group_messages(
    State(state): State<AppState>,
    actor: Actor,
    Path(group_id): Path<String>,
) -> ApiResult<axum::Json<()>> {
    groups(&state).reset_messages(&actor, &group_id).await?;
    Ok(axum::Json(()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListAgentGroupsQuery {
    /// Manager type to filter groups by
    manager_type: Option<String>,
}

/// The groups the agent takes part in (not the one it manages).
#[utoipa::path(get, path = "/v1/agents/{agent_id}/groups", operation_id = "list_agent_groups", tag = "agents",
    params(("agent_id" = String, Path, description = "Id of the agent"), ListAgentGroupsQuery),
    responses((status = 200, description = "The agent's groups", body = Vec<Group>),
        (status = 404, description = "No such agent in the organization")))]
async fn list_agent_groups(
    State(state): State<AppState>,
    actor: Actor,
    Path(agent_id): Path<String>,
    Query(q): Query<ListAgentGroupsQuery>,
) -> ApiResult<axum::Json<Vec<Group>>> {
    Ok(axum::Json(
        groups(&state)
            .of_agent(&actor, &agent_id, q.manager_type.as_deref())
            .await?,
    ))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_groups, create_group))
        .routes(routes!(count_groups))
        .routes(routes!(retrieve_group, modify_group, delete_group))
        .routes(routes!(list_group_messages))
        .routes(routes!(modify_group_message))
        .routes(routes!(reset_group_messages))
        .routes(routes!(list_agent_groups))
}
