//! Sending to a group: `POST /v1/groups/{group_id}/messages[/stream]`. Each request is a
//! run (listed, cancellable, resumable), as an agent's message request is.

use axum::extract::State;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiResult;
use super::extractors::{Json, Path};
use super::streams::sse_response;
use crate::dispatch::Dispatcher;
use crate::schemas::letta_message::{LettaRequest, LettaResponse, LettaStreamingRequest};
use crate::schemas::org::Actor;
use crate::state::AppState;

/// Sends messages to the group and runs its turn: every member's messages (each named by
/// its speaker), the true stop reason, and the usage summed over the members.
#[utoipa::path(post, path = "/v1/groups/{group_id}/messages", operation_id = "send_group_message", tag = "groups",
    params(("group_id" = String, Path, description = "Id of the group")),
    request_body = LettaRequest,
    responses((status = 200, description = "The group turn's messages", body = LettaResponse),
        (status = 400, description = "An empty group, or a type that cannot be sent messages"),
        (status = 404, description = "No such group in the organization"),
        (status = 409, description = "A member stayed busy in another turn")))]
async fn send_group_message(
    State(state): State<AppState>,
    actor: Actor,
    Path(group_id): Path<String>,
    Json(body): Json<LettaRequest>,
) -> ApiResult<axum::Json<LettaResponse>> {
    Ok(axum::Json(
        Dispatcher::new(&state)
            .send_group(&actor, &group_id, body)
            .await?,
    ))
}

/// Sends messages to the group and streams its turn as server-sent events: each member's
/// messages with its `name`, then the stop reason, the usage and `[DONE]`.
#[utoipa::path(post, path = "/v1/groups/{group_id}/messages/stream",
    operation_id = "send_group_message_streaming", tag = "groups",
    params(("group_id" = String, Path, description = "Id of the group")),
    request_body = LettaStreamingRequest,
    responses((status = 200, description = "Server-sent events of the group turn",
        content((Value = "application/json"), (String = "text/event-stream"))),
        (status = 400, description = "An empty group, or a type that cannot be sent messages"),
        (status = 404, description = "No such group in the organization")))]
async fn send_group_message_streaming(
    State(state): State<AppState>,
    actor: Actor,
    Path(group_id): Path<String>,
    Json(body): Json<LettaStreamingRequest>,
) -> ApiResult<Response> {
    let (req, stream_tokens) = body.split();
    let stream = Dispatcher::new(&state)
        .stream_group(&actor, &group_id, req, stream_tokens)
        .await?;
    Ok(sse_response(stream, state.config.stream_keepalive()).await)
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_group_message))
        .routes(routes!(send_group_message_streaming))
}
