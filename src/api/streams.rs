//! The message routes that outlive their request: SSE streams, async runs, cancellation,
//! and re-attaching to a run's stream.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiResult;
use super::extractors::{Json, Path, Query, parse_json_body, require_json_content_type};
use crate::dispatch::{Dispatcher, RunStream};
use crate::runs::{Frame, frames};
use crate::schemas::letta_message::{LettaAsyncRequest, LettaStreamingRequest};
use crate::schemas::org::Actor;
use crate::schemas::run::Run;
use crate::state::AppState;

/// The response header naming the run a stream belongs to (for re-attaching).
pub const RUN_ID_HEADER: &str = "letta-run-id";

/// Sends messages to the agent and streams the turn as server-sent events: each step's
/// messages (or, with `stream_tokens`, the model's answer as it is generated), then the
/// stop reason, the usage and `[DONE]`.
#[utoipa::path(post, path = "/v1/agents/{agent_id}/messages/stream",
    operation_id = "create_agent_message_stream", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id")),
    request_body = LettaStreamingRequest,
    responses((status = 200, description = "Server-sent events of the turn",
        content((Value = "application/json"), (String = "text/event-stream")))))]
async fn create_agent_message_stream(
    State(state): State<AppState>,
    actor: Actor,
    Path(agent_id): Path<String>,
    Json(body): Json<LettaStreamingRequest>,
) -> ApiResult<Response> {
    let (req, stream_tokens) = body.split();
    let stream = Dispatcher::new(&state)
        .stream(&actor, &agent_id, req, stream_tokens)
        .await?;
    Ok(sse_response(stream, state.config.stream_keepalive()).await)
}

/// Starts the turn in the background and answers at once with its run; the run's
/// `callback_url` receives the finished run.
#[utoipa::path(post, path = "/v1/agents/{agent_id}/messages/async",
    operation_id = "create_agent_message_async", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id")),
    request_body = LettaAsyncRequest,
    responses((status = 200, description = "The run executing the turn", body = Run)))]
async fn create_agent_message_async(
    State(state): State<AppState>,
    actor: Actor,
    Path(agent_id): Path<String>,
    Json(body): Json<LettaAsyncRequest>,
) -> ApiResult<axum::Json<Run>> {
    let (req, callback_url) = body.split();
    Ok(axum::Json(
        Dispatcher::new(&state)
            .send_async(&actor, &agent_id, req, callback_url)
            .await?,
    ))
}

/// Cancels the listed runs, or without a list the agent's latest message run; answers
/// with `"cancelled"` or `"failed"` per run id.
#[utoipa::path(post, path = "/v1/agents/{agent_id}/messages/cancel",
    operation_id = "cancel_agent_run", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id")),
    request_body(content = Option<Vec<String>>, description = "Run ids"),
    responses((status = 200, description = "Outcome per run", body = Object)))]
async fn cancel_agent_run(
    State(state): State<AppState>,
    actor: Actor,
    Path(agent_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<Map<String, Value>>> {
    let run_ids: Option<Vec<String>> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        require_json_content_type(&headers)?;
        parse_json_body(&body)?
    };
    Ok(axum::Json(
        Dispatcher::new(&state)
            .cancel(&actor, &agent_id, run_ids)
            .await?,
    ))
}

/// Where to resume a run's stream.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResumeQuery {
    /// How many of the run's events the client already has (`data:` events counted from
    /// the start of the stream); only later ones are sent.
    #[serde(default)]
    starting_after: u64,
}

/// Re-attaches to a streaming run: the events after `starting_after`, then the live ones
/// until the run ends. Works from any replica when Redis is configured.
#[utoipa::path(get, path = "/v1/runs/{run_id}/stream", operation_id = "retrieve_run_stream",
    tag = "runs",
    params(("run_id" = String, Path, description = "Run id"), ResumeQuery),
    responses((status = 200, description = "Server-sent events of the run",
        content((String = "text/event-stream")))))]
async fn retrieve_run_stream(
    State(state): State<AppState>,
    actor: Actor,
    Path(run_id): Path<String>,
    Query(query): Query<ResumeQuery>,
) -> ApiResult<Response> {
    let stream = Dispatcher::new(&state)
        .resume(&actor, &run_id, query.starting_after)
        .await?;
    Ok(sse_response(stream, state.config.stream_keepalive()).await)
}

/// Answers with the run's frames. The status waits for the first frame (as the original
/// does): a run failing before any event gives a 500 with the error frame. Silences longer
/// than `keepalive` are filled with SSE comments.
pub(super) async fn sse_response(stream: RunStream, keepalive: Duration) -> Response {
    let RunStream { run_id, mut frames } = stream;
    let mut retry_after = None;
    let (status, first) = match tokio::time::timeout(keepalive, frames.next()).await {
        Ok(Some(frame)) if frames::is_error(&frame) => {
            // The status a JSON request would have got (a provider's 429 stays a 429).
            let error = frames::parse_error(&frame);
            retry_after = error.as_ref().and_then(|e| e.retry_after);
            let status = error
                .and_then(|e| StatusCode::from_u16(e.status).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, Some(frame))
        }
        Ok(Some(frame)) => (StatusCode::OK, Some(frame)),
        Ok(None) => (StatusCode::OK, None),
        Err(_) => (StatusCode::OK, Some(Frame::from(frames::KEEP_ALIVE))),
    };
    let rest = if status == StatusCode::OK {
        with_keepalive(frames, keepalive)
    } else {
        futures_util::stream::empty().boxed()
    };
    // Counted as active until the body is dropped (finished, or the client went away).
    let open = crate::meters::StreamGauge::open();
    let body = futures_util::stream::iter(first)
        .chain(rest)
        .map(move |frame| {
            let _counted = &open;
            Ok::<_, Infallible>(Bytes::copy_from_slice(frame.as_bytes()))
        });
    let mut response = (status, Body::from_stream(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    if let Ok(value) = HeaderValue::from_str(&run_id) {
        headers.insert(RUN_ID_HEADER, value);
    }
    if let Some(secs) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn with_keepalive(
    frames: futures_util::stream::BoxStream<'static, Frame>,
    keepalive: Duration,
) -> futures_util::stream::BoxStream<'static, Frame> {
    futures_util::stream::unfold(frames, move |mut frames| async move {
        match tokio::time::timeout(keepalive, frames.next()).await {
            Ok(Some(frame)) => Some((frame, frames)),
            Ok(None) => None,
            Err(_) => Some((Frame::from(frames::KEEP_ALIVE), frames)),
        }
    })
    .boxed()
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_agent_message_stream))
        .routes(routes!(create_agent_message_async))
        .routes(routes!(cancel_agent_run))
        .routes(routes!(retrieve_run_stream))
}
