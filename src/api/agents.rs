//! `/v1/agents`: agents, their core memory and their tools.

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::compose;
use super::error::ApiResult;
use super::extractors::{Json, Path, Query};
use super::paging;
use crate::agent::AgentLoop;
use crate::agent::context_window::ContextWindowOverview;
use crate::dispatch::Dispatcher;
use crate::schemas::agent::{AgentState, CreateAgent, UpdateAgent};
use crate::schemas::block::{Block, BlockUpdate, Memory};
use crate::schemas::letta_message::{LettaRequest, LettaResponse};
use crate::schemas::org::Actor;
use crate::schemas::tool::Tool;
use crate::services::agents::{agent_sort, relation_set};
use crate::state::AppState;
use crate::store::AgentFilter;

type JsonResponse<T> = ApiResult<axum::Json<T>>;

/// Filters and paging of the agent list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListAgentsQuery {
    /// Exact agent name.
    name: Option<String>,
    /// Agents having any of these tags (all of them with `match_all_tags`).
    #[serde(default)]
    tags: Option<Vec<String>>,
    /// Require every tag in `tags`.
    #[serde(default)]
    match_all_tags: bool,
    /// Agent id cursor: entries before it in the current order.
    before: Option<String>,
    /// Agent id cursor: entries after it in the current order.
    after: Option<String>,
    /// Page size (default 50; 0 means no limit).
    limit: Option<i64>,
    /// Case-insensitive substring of the name.
    query_text: Option<String>,
    project_id: Option<String>,
    template_id: Option<String>,
    base_template_id: Option<String>,
    /// Agents linked to this identity.
    identity_id: Option<String>,
    /// Agents linked to an identity with one of these identifier keys.
    #[serde(default)]
    identifier_keys: Option<Vec<String>>,
    /// Relationships to load (tags, tools, sources, memory, identity_ids,
    /// multi_agent_group, tool_exec_environment_variables); all when absent.
    #[serde(default)]
    include_relationships: Option<Vec<String>>,
    /// Oldest first instead of newest first.
    #[serde(default)]
    ascending: bool,
    /// `created_at` (default) or `last_run_completion`.
    sort_by: Option<String>,
}

/// Lists the organization's agents, newest first unless `ascending`.
#[utoipa::path(get, path = "/v1/agents/", operation_id = "list_agents", tag = "agents",
    params(ListAgentsQuery),
    responses((status = 200, description = "Agents", body = Vec<AgentState>)))]
async fn list_agents(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<ListAgentsQuery>,
) -> JsonResponse<Vec<AgentState>> {
    let which = relation_set(q.include_relationships.as_deref());
    let filter = AgentFilter {
        name: q.name,
        tags: q.tags.unwrap_or_default(),
        match_all_tags: q.match_all_tags,
        query_text: q.query_text,
        project_id: q.project_id,
        template_id: q.template_id,
        base_template_id: q.base_template_id,
        identity_id: q.identity_id,
        identifier_keys: q.identifier_keys.unwrap_or_default(),
        before: q.before,
        after: q.after,
        limit: paging::limit(q.limit)?,
        ascending: q.ascending,
        sort_by: agent_sort(q.sort_by.as_deref()),
    };
    Ok(axum::Json(
        compose::agents(&state).list(&actor, &filter, which).await?,
    ))
}

/// Creates an agent with its memory blocks, tools, rules and initial messages.
#[utoipa::path(post, path = "/v1/agents/", operation_id = "create_agent", tag = "agents",
    params(("X-Project" = Option<String>, Header, description = "Accepted for compatibility; ignored.")),
    request_body = CreateAgent,
    responses((status = 200, description = "The new agent", body = AgentState),
        (status = 400, description = "Inconsistent input, e.g. no model or two blocks with one label")))]
async fn create_agent(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<CreateAgent>,
) -> JsonResponse<AgentState> {
    Ok(axum::Json(
        compose::agents(&state).create(&actor, body).await?,
    ))
}

/// Number of agents in the organization.
#[utoipa::path(get, path = "/v1/agents/count", operation_id = "count_agents", tag = "agents",
    responses((status = 200, description = "Agent count", body = i64, content_type = "application/json")))]
async fn count_agents(State(state): State<AppState>, actor: Actor) -> JsonResponse<i64> {
    Ok(axum::Json(compose::agents(&state).count(&actor).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RetrieveAgentQuery {
    /// Relationships to load; all when absent.
    #[serde(default)]
    include_relationships: Option<Vec<String>>,
}

/// One agent.
#[utoipa::path(get, path = "/v1/agents/{agent_id}", operation_id = "retrieve_agent", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id"), RetrieveAgentQuery),
    responses((status = 200, description = "The agent", body = AgentState)))]
async fn retrieve_agent(
    State(state): State<AppState>,
    actor: Actor,
    Path(agent_id): Path<String>,
    Query(q): Query<RetrieveAgentQuery>,
) -> JsonResponse<AgentState> {
    let which = relation_set(q.include_relationships.as_deref());
    Ok(axum::Json(
        compose::agents(&state)
            .get(&actor, &agent_id, which)
            .await?,
    ))
}

/// Changes an agent; absent fields are left alone, given lists replace relationships.
#[utoipa::path(patch, path = "/v1/agents/{agent_id}", operation_id = "modify_agent", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id")),
    request_body = UpdateAgent,
    responses((status = 200, description = "The updated agent", body = AgentState),
        (status = 400, description = "Inconsistent input, e.g. two blocks with one label")))]
async fn modify_agent(
    State(state): State<AppState>,
    actor: Actor,
    Path(agent_id): Path<String>,
    Json(body): Json<UpdateAgent>,
) -> JsonResponse<AgentState> {
    Ok(axum::Json(
        compose::agents(&state)
            .modify(&actor, &agent_id, body)
            .await?,
    ))
}

/// Deletes an agent with its messages; blocks and tools it used are kept.
#[utoipa::path(delete, path = "/v1/agents/{agent_id}", operation_id = "delete_agent", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id")),
    responses((status = 200, description = "Deleted")))]
async fn delete_agent(
    State(state): State<AppState>,
    actor: Actor,
    Path(agent_id): Path<String>,
) -> JsonResponse<Value> {
    compose::agents(&state).delete(&actor, &agent_id).await?;
    Ok(axum::Json(
        json!({ "message": format!("Agent id={agent_id} successfully deleted") }),
    ))
}

/// The tools attached to an agent.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/tools", operation_id = "list_agent_tools", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id")),
    responses((status = 200, description = "Tools", body = Vec<Tool>)))]
async fn list_agent_tools(
    State(state): State<AppState>,
    actor: Actor,
    Path(agent_id): Path<String>,
) -> JsonResponse<Vec<Tool>> {
    Ok(axum::Json(
        compose::agents(&state).tools(&actor, &agent_id).await?,
    ))
}

/// Attaches a tool to an agent (idempotent).
#[utoipa::path(patch, path = "/v1/agents/{agent_id}/tools/attach/{tool_id}", operation_id = "attach_tool", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id"), ("tool_id" = String, Path, description = "Tool id")),
    responses((status = 200, description = "The agent", body = AgentState)))]
async fn attach_tool(
    State(state): State<AppState>,
    actor: Actor,
    Path((agent_id, tool_id)): Path<(String, String)>,
) -> JsonResponse<AgentState> {
    Ok(axum::Json(
        compose::agents(&state)
            .attach_tool(&actor, &agent_id, &tool_id)
            .await?,
    ))
}

/// Detaches a tool from an agent; detaching a tool that is not attached changes nothing.
#[utoipa::path(patch, path = "/v1/agents/{agent_id}/tools/detach/{tool_id}", operation_id = "detach_tool", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id"), ("tool_id" = String, Path, description = "Tool id")),
    responses((status = 200, description = "The agent", body = AgentState)))]
async fn detach_tool(
    State(state): State<AppState>,
    actor: Actor,
    Path((agent_id, tool_id)): Path<(String, String)>,
) -> JsonResponse<AgentState> {
    Ok(axum::Json(
        compose::agents(&state)
            .detach_tool(&actor, &agent_id, &tool_id)
            .await?,
    ))
}

/// The agent's core memory.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/core-memory", operation_id = "retrieve_agent_memory", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id")),
    responses((status = 200, description = "Memory", body = Memory)))]
async fn retrieve_agent_memory(
    State(state): State<AppState>,
    actor: Actor,
    Path(agent_id): Path<String>,
) -> JsonResponse<Memory> {
    Ok(axum::Json(
        compose::agents(&state).memory(&actor, &agent_id).await?,
    ))
}

/// The blocks attached to the agent.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/core-memory/blocks", operation_id = "list_core_memory_blocks", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id")),
    responses((status = 200, description = "Blocks", body = Vec<Block>)))]
async fn list_core_memory_blocks(
    State(state): State<AppState>,
    actor: Actor,
    Path(agent_id): Path<String>,
) -> JsonResponse<Vec<Block>> {
    Ok(axum::Json(
        compose::agents(&state).blocks(&actor, &agent_id).await?,
    ))
}

/// The agent's block with this label.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/core-memory/blocks/{block_label}", operation_id = "retrieve_core_memory_block", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id"), ("block_label" = String, Path, description = "Block label")),
    responses((status = 200, description = "The block", body = Block)))]
async fn retrieve_core_memory_block(
    State(state): State<AppState>,
    actor: Actor,
    Path((agent_id, label)): Path<(String, String)>,
) -> JsonResponse<Block> {
    Ok(axum::Json(
        compose::agents(&state)
            .block_by_label(&actor, &agent_id, &label)
            .await?,
    ))
}

/// Edits the agent's block with this label; the agent's system prompt is recompiled.
#[utoipa::path(patch, path = "/v1/agents/{agent_id}/core-memory/blocks/{block_label}", operation_id = "modify_core_memory_block", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id"), ("block_label" = String, Path, description = "Block label")),
    request_body = BlockUpdate,
    responses((status = 200, description = "The updated block", body = Block)))]
async fn modify_core_memory_block(
    State(state): State<AppState>,
    actor: Actor,
    Path((agent_id, label)): Path<(String, String)>,
    Json(body): Json<BlockUpdate>,
) -> JsonResponse<Block> {
    Ok(axum::Json(
        compose::agents(&state)
            .modify_block_by_label(&actor, &agent_id, &label, body)
            .await?,
    ))
}

/// Attaches an existing block to the agent.
#[utoipa::path(patch, path = "/v1/agents/{agent_id}/core-memory/blocks/attach/{block_id}", operation_id = "attach_core_memory_block", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id"), ("block_id" = String, Path, description = "Block id")),
    responses((status = 200, description = "The agent", body = AgentState),
        (status = 409, description = "The agent already has this block or a block with its label")))]
async fn attach_core_memory_block(
    State(state): State<AppState>,
    actor: Actor,
    Path((agent_id, block_id)): Path<(String, String)>,
) -> JsonResponse<AgentState> {
    Ok(axum::Json(
        compose::agents(&state)
            .attach_block(&actor, &agent_id, &block_id)
            .await?,
    ))
}

/// Detaches a block from the agent; the block itself is kept.
#[utoipa::path(patch, path = "/v1/agents/{agent_id}/core-memory/blocks/detach/{block_id}", operation_id = "detach_core_memory_block", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id"), ("block_id" = String, Path, description = "Block id")),
    responses((status = 200, description = "The agent", body = AgentState)))]
async fn detach_core_memory_block(
    State(state): State<AppState>,
    actor: Actor,
    Path((agent_id, block_id)): Path<(String, String)>,
) -> JsonResponse<AgentState> {
    Ok(axum::Json(
        compose::agents(&state)
            .detach_block(&actor, &agent_id, &block_id)
            .await?,
    ))
}

/// Sends messages to the agent and runs its turn until it yields; answers with the messages
/// the turn produced, why it stopped, and the tokens it used.
#[utoipa::path(post, path = "/v1/agents/{agent_id}/messages", operation_id = "send_message", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id")),
    request_body = LettaRequest,
    responses((status = 200, description = "The turn's messages", body = LettaResponse)))]
async fn send_message(
    State(state): State<AppState>,
    actor: Actor,
    Path(agent_id): Path<String>,
    Json(body): Json<LettaRequest>,
) -> JsonResponse<LettaResponse> {
    Ok(axum::Json(
        Dispatcher::new(&state)
            .send(&actor, &agent_id, body)
            .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SummarizeQuery {
    /// Accepted for compatibility; the summary length is chosen by the server.
    #[expect(dead_code, reason = "accepted and validated, never read")]
    max_message_length: i64,
}

/// Summarizes the oldest in-context messages now, freeing context space.
#[utoipa::path(post, path = "/v1/agents/{agent_id}/summarize", operation_id = "summarize_agent_conversation", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id"), SummarizeQuery),
    responses((status = 200, description = "The agent", body = AgentState)))]
async fn summarize_agent_conversation(
    State(state): State<AppState>,
    actor: Actor,
    Path(agent_id): Path<String>,
    Query(_q): Query<SummarizeQuery>,
) -> JsonResponse<AgentState> {
    Ok(axum::Json(
        AgentLoop::new(&state).summarize(&actor, &agent_id).await?,
    ))
}

/// How the agent's context window is used, in tokens, with the in-context messages.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/context", operation_id = "retrieve_agent_context_window", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id")),
    responses((status = 200, description = "Context window overview", body = ContextWindowOverview)))]
async fn retrieve_agent_context_window(
    State(state): State<AppState>,
    actor: Actor,
    Path(agent_id): Path<String>,
) -> JsonResponse<ContextWindowOverview> {
    Ok(axum::Json(
        crate::agent::context_window::overview(&state, &actor, &agent_id).await?,
    ))
}

/// Get the sources associated with an agent.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/sources", operation_id = "list_agent_sources", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id")),
    responses((status = 200, description = "The agent's sources", body = Vec<crate::schemas::source::Source>),
        (status = 404, description = "No such agent")))]
async fn list_agent_sources(
    State(state): State<AppState>,
    actor: Actor,
    Path(agent_id): Path<String>,
) -> JsonResponse<Vec<crate::schemas::source::Source>> {
    Ok(axum::Json(
        super::compose::agents(&state)
            .sources(&actor, &agent_id)
            .await?,
    ))
}

/// Attach a source to an agent: its files enter the agent's context (at most five open)
/// and the file tools are attached. Answers the agent as it was before its files opened.
#[utoipa::path(patch, path = "/v1/agents/{agent_id}/sources/attach/{source_id}", operation_id = "attach_source_to_agent", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id"), ("source_id" = String, Path, description = "Source id")),
    responses((status = 200, description = "The agent", body = AgentState),
        (status = 404, description = "No such agent or source")))]
async fn attach_source_to_agent(
    State(state): State<AppState>,
    actor: Actor,
    Path((agent_id, source_id)): Path<(String, String)>,
) -> JsonResponse<AgentState> {
    Ok(axum::Json(
        super::compose::agents(&state)
            .attach_source(&actor, &agent_id, &source_id)
            .await?,
    ))
}

/// Detach a source from an agent: its files leave the agent's context; with no source left
/// the file tools are detached. Detaching a source that is not attached changes nothing.
#[utoipa::path(patch, path = "/v1/agents/{agent_id}/sources/detach/{source_id}", operation_id = "detach_source_from_agent", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id"), ("source_id" = String, Path, description = "Source id")),
    responses((status = 200, description = "The agent", body = AgentState),
        (status = 404, description = "No such agent")))]
async fn detach_source_from_agent(
    State(state): State<AppState>,
    actor: Actor,
    Path((agent_id, source_id)): Path<(String, String)>,
) -> JsonResponse<AgentState> {
    Ok(axum::Json(
        super::compose::agents(&state)
            .detach_source(&actor, &agent_id, &source_id)
            .await?,
    ))
}

/// Close all open files of an agent; answers the names of the files closed.
#[utoipa::path(patch, path = "/v1/agents/{agent_id}/files/close-all", operation_id = "close_all_open_files", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id")),
    responses((status = 200, description = "Names of the files closed", body = Vec<String>),
        (status = 404, description = "No such agent")))]
async fn close_all_open_files(
    State(state): State<AppState>,
    actor: Actor,
    Path(agent_id): Path<String>,
) -> JsonResponse<Vec<String>> {
    Ok(axum::Json(
        super::compose::agents(&state)
            .close_all_files(&actor, &agent_id)
            .await?,
    ))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_agents, create_agent))
        .routes(routes!(count_agents))
        .routes(routes!(retrieve_agent, modify_agent, delete_agent))
        .routes(routes!(list_agent_tools))
        .routes(routes!(attach_tool))
        .routes(routes!(detach_tool))
        .routes(routes!(retrieve_agent_memory))
        .routes(routes!(list_core_memory_blocks))
        .routes(routes!(
            retrieve_core_memory_block,
            modify_core_memory_block
        ))
        .routes(routes!(attach_core_memory_block))
        .routes(routes!(detach_core_memory_block))
        .routes(routes!(send_message))
        .routes(routes!(summarize_agent_conversation))
        .routes(routes!(retrieve_agent_context_window))
        .routes(routes!(list_agent_sources))
        .routes(routes!(attach_source_to_agent))
        .routes(routes!(detach_source_from_agent))
        .routes(routes!(close_all_open_files))
}
