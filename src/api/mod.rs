//! HTTP: axum routers with utoipa annotations, so each route and its OpenAPI entry are one
//! declaration. No SQL here; handlers call services, built from the state by [`compose`].

mod admin;
mod agent_files;
mod agents;
mod archival;
mod auth;
mod batches;
mod blocks;
mod body_limit;
mod compose;
mod composio;
pub mod error;
pub mod extractors;
mod group_messages;
mod groups;
mod health;
mod identities;
mod jobs;
mod mcp;
mod messages;
mod models;
mod observe;
mod openapi;
mod paging;
mod providers;
mod runs;
mod sandbox_configs;
pub mod security;
mod sources;
mod steps;
pub mod streams;
mod strict_json;
mod tags;
mod telemetry;
mod tools;
mod voice;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, Uri};
use tower::{Layer, ServiceBuilder};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub use openapi::ApiDoc;

/// Every route with its OpenAPI description.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(auth::router())
        .merge(agents::router())
        .merge(agent_files::router())
        .merge(archival::router())
        .merge(blocks::router())
        .merge(identities::router())
        .merge(tags::router())
        .merge(admin::router())
        .merge(models::router())
        .merge(tools::router())
        .merge(messages::router())
        .merge(steps::router())
        .merge(streams::router())
        .merge(runs::router())
        .merge(jobs::router())
        .merge(sandbox_configs::router())
        .merge(providers::router())
        .merge(telemetry::router())
        .merge(batches::router())
        .merge(voice::router())
        .merge(composio::router())
        .merge(sources::router())
        .merge(mcp::router())
        .merge(groups::router())
        .merge(group_messages::router())
}

/// The OpenAPI document this server serves at `/openapi.json`.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, api) = routes().split_for_parts();
    openapi::finish(api)
}

/// The router behind the path rewrite, ready for `axum::serve`.
pub type AppService =
    axum::routing::IntoMakeService<tower::util::MapRequest<Router, fn(Request) -> Request>>;

/// The complete HTTP service: routes, `/openapi.json`, `/docs`, and the cross-cutting layers.
pub fn app(state: AppState) -> AppService {
    let max_body = state.config.max_body_bytes;
    let access = std::sync::Arc::new(security::AccessPolicy::new(&state.config));
    let (router, api) = routes().split_for_parts();
    let api = openapi::finish(api);
    let request_id = HeaderName::from_static("x-request-id");
    let router = router
        .merge(utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi.json", api))
        .route("/metrics", axum::routing::get(observe::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|req: &Request| {
                        let id = req
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default();
                        tracing::info_span!("request", method = %req.method(), uri = %req.uri(), request_id = %id)
                    }),
                )
                .layer(axum::middleware::from_fn(observe::access_log))
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(access.cors())
                .layer(axum::middleware::from_fn_with_state(
                    access.clone(),
                    security::guard,
                ))
                .layer(axum::middleware::map_response(body_limit::close_after_413))
                .layer(axum::extract::DefaultBodyLimit::max(max_body)),
        )
        .with_state(state);
    let rewrite: fn(Request) -> Request = rewrite_path;
    axum::ServiceExt::<Request>::into_make_service(
        tower::util::MapRequestLayer::new(rewrite).layer(router),
    )
}

/// Collection routes are declared with a trailing slash; clients also call them without
/// one, and the original also serves every `/v1` route under `/latest`. Both forms are
/// answered directly instead of through a redirect.
fn rewrite_path(mut req: Request) -> Request {
    let path = req.uri().path();
    let mut new_path: Option<String> = None;
    if let Some(rest) = path.strip_prefix("/latest/") {
        new_path = Some(format!("/v1/{rest}"));
    }
    let current = new_path.as_deref().unwrap_or(path);
    if openapi::is_collection_without_slash(current) {
        new_path = Some(format!("{current}/"));
    }
    if let Some(p) = new_path {
        let pq = match req.uri().query() {
            Some(q) => format!("{p}?{q}"),
            None => p,
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = pq.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

/// An unknown path: FastAPI's JSON 404, so clients read every error the same way.
async fn not_found() -> error::ApiError {
    error::ApiError::new(axum::http::StatusCode::NOT_FOUND, "Not Found")
}

/// A known path with another method: FastAPI's JSON 405.
async fn method_not_allowed() -> error::ApiError {
    error::ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed",
    )
}
