//! `/v1/runs`: the record of each message request — listing, reading and deleting runs, and
//! the messages, steps and token usage a run produced.

use axum::extract::State;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::compose;
use super::error::ApiResult;
use super::extractors::{Path, Query};
use super::paging;
use crate::schemas::letta_message::LettaMessage;
use crate::schemas::org::Actor;
use crate::schemas::run::{Run, Step};
use crate::services::runs::{RunMessagesParams, RunStepsParams, UsageStatistics};
use crate::state::AppState;

type JsonResponse<T> = ApiResult<axum::Json<T>>;

/// Page size of a run's messages and steps when `limit` is absent.
const RUN_PAGE: i64 = 100;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListRunsQuery {
    /// Only runs of these agents (repeat the parameter for several).
    #[serde(default)]
    agent_ids: Option<Vec<String>>,
}

/// The caller's runs, oldest first (at most 50).
#[utoipa::path(get, path = "/v1/runs/", operation_id = "list_runs", tag = "runs",
    params(ListRunsQuery),
    responses((status = 200, description = "Runs, oldest first", body = Vec<Run>)))]
async fn list_runs(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<ListRunsQuery>,
) -> JsonResponse<Vec<Run>> {
    let agent_ids = q.agent_ids.unwrap_or_default();
    Ok(axum::Json(
        compose::runs(&state)
            .list(&actor, &agent_ids, false)
            .await?,
    ))
}

/// The caller's runs still created or running, oldest first (at most 50).
#[utoipa::path(get, path = "/v1/runs/active", operation_id = "list_active_runs", tag = "runs",
    params(ListRunsQuery),
    responses((status = 200, description = "Active runs, oldest first", body = Vec<Run>)))]
async fn list_active_runs(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<ListRunsQuery>,
) -> JsonResponse<Vec<Run>> {
    let agent_ids = q.agent_ids.unwrap_or_default();
    Ok(axum::Json(
        compose::runs(&state).list(&actor, &agent_ids, true).await?,
    ))
}

/// One run.
#[utoipa::path(get, path = "/v1/runs/{run_id}", operation_id = "retrieve_run", tag = "runs",
    params(("run_id" = String, Path, description = "Run id")),
    responses((status = 200, description = "The run", body = Run)))]
async fn retrieve_run(
    State(state): State<AppState>,
    actor: Actor,
    Path(run_id): Path<String>,
) -> JsonResponse<Run> {
    Ok(axum::Json(
        compose::runs(&state).get(&actor, &run_id).await?,
    ))
}

/// Deletes a run; returns what it was.
#[utoipa::path(delete, path = "/v1/runs/{run_id}", operation_id = "delete_run", tag = "runs",
    params(("run_id" = String, Path, description = "Run id")),
    responses((status = 200, description = "The deleted run", body = Run)))]
async fn delete_run(
    State(state): State<AppState>,
    actor: Actor,
    Path(run_id): Path<String>,
) -> JsonResponse<Run> {
    Ok(axum::Json(
        compose::runs(&state).delete(&actor, &run_id).await?,
    ))
}

/// The `role` filter: a message role as the original's enum has it (`function` included,
/// which no stored message has).
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum RoleParam {
    Assistant,
    User,
    Tool,
    Function,
    System,
}

impl RoleParam {
    fn as_str(self) -> &'static str {
        match self {
            RoleParam::Assistant => "assistant",
            RoleParam::User => "user",
            RoleParam::Tool => "tool",
            RoleParam::Function => "function",
            RoleParam::System => "system",
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunMessagesQuery {
    /// Message id cursor: only messages stored before it.
    before: Option<String>,
    /// Message id cursor: only messages stored after it.
    after: Option<String>,
    /// How many stored messages to select (default 100; 0 means no limit).
    #[param(default = 100)]
    limit: Option<i64>,
    /// `asc` (oldest first, the default) or `desc`.
    #[param(default = "asc")]
    order: Option<String>,
    /// Only messages of this role.
    #[param(inline)]
    role: Option<RoleParam>,
}

/// The messages a run stored, shown as its request asked.
#[utoipa::path(get, path = "/v1/runs/{run_id}/messages", operation_id = "list_run_messages", tag = "runs",
    params(("run_id" = String, Path, description = "Run id"), RunMessagesQuery),
    responses((status = 200, description = "The run's messages", body = Vec<LettaMessage>),
        (status = 400, description = "`order` is neither asc nor desc")))]
async fn list_run_messages(
    State(state): State<AppState>,
    actor: Actor,
    Path(run_id): Path<String>,
    Query(q): Query<RunMessagesQuery>,
) -> JsonResponse<Vec<LettaMessage>> {
    let limit = paging::limit_or(q.limit, Some(RUN_PAGE))?;
    let params = RunMessagesParams {
        before: q.before.as_deref(),
        after: q.after.as_deref(),
        limit,
        order: q.order.as_deref(),
        role: q.role.map(RoleParam::as_str),
    };
    Ok(axum::Json(
        compose::runs(&state)
            .messages(&actor, &run_id, &params)
            .await?,
    ))
}

/// Token usage summed over a run's steps.
#[utoipa::path(get, path = "/v1/runs/{run_id}/usage", operation_id = "retrieve_run_usage", tag = "runs",
    params(("run_id" = String, Path, description = "Run id")),
    responses((status = 200, description = "The run's usage", body = UsageStatistics)))]
async fn retrieve_run_usage(
    State(state): State<AppState>,
    actor: Actor,
    Path(run_id): Path<String>,
) -> JsonResponse<UsageStatistics> {
    Ok(axum::Json(
        compose::runs(&state).usage(&actor, &run_id).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunStepsQuery {
    /// Step id cursor: only steps recorded before it.
    before: Option<String>,
    /// Step id cursor: only steps recorded after it.
    after: Option<String>,
    /// Page size (default 100; 0 means no limit).
    #[param(default = 100)]
    limit: Option<i64>,
    /// `desc` (newest first, the default) or `asc`.
    #[param(default = "desc")]
    order: Option<String>,
}

/// The steps (model calls) of a run.
#[utoipa::path(get, path = "/v1/runs/{run_id}/steps", operation_id = "list_run_steps", tag = "runs",
    params(("run_id" = String, Path, description = "Run id"), RunStepsQuery),
    responses((status = 200, description = "The run's steps", body = Vec<Step>),
        (status = 400, description = "`order` is neither asc nor desc")))]
async fn list_run_steps(
    State(state): State<AppState>,
    actor: Actor,
    Path(run_id): Path<String>,
    Query(q): Query<RunStepsQuery>,
) -> JsonResponse<Vec<Step>> {
    let limit = paging::limit_or(q.limit, Some(RUN_PAGE))?;
    let params = RunStepsParams {
        before: q.before.as_deref(),
        after: q.after.as_deref(),
        limit,
        order: q.order.as_deref(),
    };
    Ok(axum::Json(
        compose::runs(&state)
            .steps(&actor, &run_id, &params)
            .await?,
    ))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_runs))
        .routes(routes!(list_active_runs))
        .routes(routes!(retrieve_run, delete_run))
        .routes(routes!(list_run_messages))
        .routes(routes!(retrieve_run_usage))
        .routes(routes!(list_run_steps))
}
