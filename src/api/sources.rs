//! `/v1/sources`: sources, their files (multipart upload, ingested in the background) and
//! passages.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult};
use super::extractors::{Json, Path, Query};
use super::paging;
use crate::AppState;
use crate::ingest::job::IngestLimits;
use crate::schemas::file::FileMetadata;
use crate::schemas::org::Actor;
use crate::schemas::passage::Passage;
use crate::schemas::source::{OrganizationSourcesStats, Source, SourceCreate, SourceUpdate};
use crate::services::files::{FileService, UploadRefused, accepted_media_type};
use crate::services::sources::SourceService;

fn sources(state: &AppState) -> SourceService<'_> {
    SourceService::new(state.store.as_ref(), &state.models)
}

fn files(state: &AppState) -> FileService<'_> {
    FileService::new(
        &state.store,
        &state.providers,
        &state.replica,
        IngestLimits {
            max_text_chars: state.config.max_file_text_chars,
        },
    )
}

/// Count all data sources created by a user.
#[utoipa::path(get, path = "/v1/sources/count", operation_id = "count_sources", tag = "sources",
    responses((status = 200, description = "Number of sources in the organization", body = i64, content_type = "application/json")))]
async fn count_sources(State(state): State<AppState>, actor: Actor) -> ApiResult<axum::Json<i64>> {
    Ok(axum::Json(sources(&state).count(&actor).await?))
}

/// Get a source by id.
#[utoipa::path(get, path = "/v1/sources/{source_id}", operation_id = "retrieve_source", tag = "sources",
    params(("source_id" = String, Path, description = "Source id")),
    responses((status = 200, description = "The source", body = Source),
        (status = 404, description = "No such source in the organization")))]
async fn retrieve_source(
    State(state): State<AppState>,
    actor: Actor,
    Path(source_id): Path<String>,
) -> ApiResult<axum::Json<Source>> {
    Ok(axum::Json(sources(&state).get(&actor, &source_id).await?))
}

/// Update the name or documentation of an existing data source.
#[utoipa::path(patch, path = "/v1/sources/{source_id}", operation_id = "modify_source", tag = "sources",
    params(("source_id" = String, Path, description = "Source id")),
    request_body = SourceUpdate,
    responses((status = 200, description = "The updated source", body = Source),
        (status = 404, description = "No such source in the organization"),
        (status = 409, description = "Another source has that name")))]
async fn modify_source(
    State(state): State<AppState>,
    actor: Actor,
    Path(source_id): Path<String>,
    Json(update): Json<SourceUpdate>,
) -> ApiResult<axum::Json<Source>> {
    Ok(axum::Json(
        sources(&state).modify(&actor, &source_id, update).await?,
    ))
}

/// Delete a data source with its files and passages; it is detached from every agent.
#[utoipa::path(delete, path = "/v1/sources/{source_id}", operation_id = "delete_source", tag = "sources",
    params(("source_id" = String, Path, description = "Source id")),
    responses((status = 200, description = "Deleted (body null)", body = Value, content_type = "application/json"),
        (status = 404, description = "No such source in the organization")))]
async fn delete_source(
    State(state): State<AppState>,
    actor: Actor,
    Path(source_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let removed = sources(&state).delete(&actor, &source_id).await?;
    super::compose::agents(&state)
        .refresh_prompts(&actor.organization_id, &removed.agent_ids)
        .await?;
    Ok(axum::Json(Value::Null))
}

/// Get a source's id by its name.
#[utoipa::path(get, path = "/v1/sources/name/{source_name}", operation_id = "get_source_id_by_name", tag = "sources",
    params(("source_name" = String, Path, description = "Source name")),
    responses((status = 200, description = "The source's id", body = String, content_type = "application/json"),
        (status = 404, description = "No source of that name in the organization")))]
async fn get_source_id_by_name(
    State(state): State<AppState>,
    actor: Actor,
    Path(source_name): Path<String>,
) -> ApiResult<axum::Json<String>> {
    Ok(axum::Json(
        sources(&state).id_by_name(&actor, &source_name).await?,
    ))
}

/// Get aggregated metadata for all sources in an organization: counts and sizes of their
/// files, per source.
#[utoipa::path(get, path = "/v1/sources/metadata", operation_id = "get_sources_metadata", tag = "sources",
    responses((status = 200, description = "Sources, files and sizes", body = OrganizationSourcesStats)))]
async fn get_sources_metadata(
    State(state): State<AppState>,
    actor: Actor,
) -> ApiResult<axum::Json<OrganizationSourcesStats>> {
    Ok(axum::Json(sources(&state).metadata(&actor).await?))
}

/// List all data sources created by a user.
#[utoipa::path(get, path = "/v1/sources/", operation_id = "list_sources", tag = "sources",
    responses((status = 200, description = "The organization's sources, oldest first", body = Vec<Source>)))]
async fn list_sources(
    State(state): State<AppState>,
    actor: Actor,
) -> ApiResult<axum::Json<Vec<Source>>> {
    Ok(axum::Json(sources(&state).list(&actor).await?))
}

/// Create a new data source.
#[utoipa::path(post, path = "/v1/sources/", operation_id = "create_source", tag = "sources",
    request_body = SourceCreate,
    responses((status = 200, description = "The new source", body = Source),
        (status = 400, description = "No embedding or embedding_config, or a bad name"),
        (status = 409, description = "A source of that name exists")))]
async fn create_source(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<SourceCreate>,
) -> ApiResult<axum::Json<Source>> {
    Ok(axum::Json(sources(&state).create(&actor, body).await?))
}

/// The multipart body of an upload.
#[derive(ToSchema)]
#[schema(as = Body_upload_file_to_source)]
#[expect(
    dead_code,
    reason = "documents the multipart form; the body is streamed by hand"
)]
struct BodyUploadFileToSource {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

fn refused(r: UploadRefused) -> ApiError {
    match r {
        UploadRefused::UnsupportedMediaType(m) => {
            ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, m)
        }
        UploadRefused::TooLarge(m) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, m),
        UploadRefused::Bad(m) => ApiError::new(StatusCode::BAD_REQUEST, m),
    }
}

/// The `file` part of a multipart upload: its name, declared type and bytes (at most
/// `max` bytes, else 413).
async fn read_upload(
    headers: &HeaderMap,
    body: Body,
    max: usize,
) -> Result<(String, Option<String>, Vec<u8>), UploadRefused> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        UploadRefused::Bad("The upload must be multipart/form-data with a `file` part".to_owned())
    })?;
    let too_large = || {
        UploadRefused::TooLarge(format!(
            "The file is larger than {max} bytes (LETTA_MAX_UPLOAD_BYTES)"
        ))
    };
    let limits = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(max as u64 + 1024 * 1024)
            .per_field(max as u64 + 1),
    );
    let mut form = multer::Multipart::with_constraints(body.into_data_stream(), boundary, limits);
    let map_err = |e: multer::Error| match e {
        multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => {
            too_large()
        }
        other => UploadRefused::Bad(format!("Malformed multipart body: {other}")),
    };
    while let Some(mut field) = form.next_field().await.map_err(map_err)? {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or_default().to_owned();
        let declared = field.content_type().map(|m| m.to_string());
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(map_err)? {
            if bytes.len() + chunk.len() > max {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        return Ok((name, declared, bytes));
    }
    Err(UploadRefused::Bad(
        "The multipart body has no `file` part".to_owned(),
    ))
}

/// Upload a file to a data source. Answers at once with the file's metadata
/// (`processing_status` pending); the file is parsed, chunked and embedded in the
/// background, its progress visible through `get_file_metadata`.
#[utoipa::path(post, path = "/v1/sources/{source_id}/upload", operation_id = "upload_file_to_source", tag = "sources",
    params(("source_id" = String, Path, description = "Source id")),
    request_body(content = BodyUploadFileToSource, content_type = "multipart/form-data"),
    responses((status = 200, description = "The file, pending ingestion", body = FileMetadata),
        (status = 400, description = "Not a multipart body with a non-empty `file`"),
        (status = 404, description = "No such source in the organization"),
        (status = 413, description = "The file is larger than LETTA_MAX_UPLOAD_BYTES"),
        (status = 415, description = "The file type is not supported")))]
async fn upload_file_to_source(
    State(state): State<AppState>,
    actor: Actor,
    Path(source_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<axum::Json<FileMetadata>> {
    let (name, declared, bytes) = read_upload(&headers, body, state.config.max_upload_bytes)
        .await
        .map_err(refused)?;
    let media_type = accepted_media_type(declared.as_deref(), &name).map_err(refused)?;
    Ok(axum::Json(
        files(&state)
            .upload(&actor, &source_id, &name, media_type, bytes)
            .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListSourcePassagesQuery {
    /// Message after which to retrieve the returned messages.
    after: Option<String>,
    /// Message before which to retrieve the returned messages.
    before: Option<String>,
    /// Maximum number of messages to retrieve.
    #[param(default = 100)]
    limit: Option<i64>,
}

/// List all passages associated with a data source, oldest first.
#[utoipa::path(get, path = "/v1/sources/{source_id}/passages", operation_id = "list_source_passages", tag = "sources",
    params(("source_id" = String, Path, description = "Source id"), ListSourcePassagesQuery),
    responses((status = 200, description = "The source's passages", body = Vec<Passage>),
        (status = 404, description = "No such source in the organization")))]
async fn list_source_passages(
    State(state): State<AppState>,
    actor: Actor,
    Path(source_id): Path<String>,
    Query(q): Query<ListSourcePassagesQuery>,
) -> ApiResult<axum::Json<Vec<Passage>>> {
    let limit = paging::limit_or(q.limit, Some(100))?;
    Ok(axum::Json(
        sources(&state)
            .passages(
                &actor,
                &source_id,
                q.after.as_deref(),
                q.before.as_deref(),
                limit,
            )
            .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListSourceFilesQuery {
    /// Number of files to return
    #[param(default = 1000)]
    limit: Option<i64>,
    /// Pagination cursor to fetch the next set of results
    after: Option<String>,
    /// Whether to include full file content
    #[param(default = false)]
    include_content: Option<bool>,
}

/// List paginated files associated with a data source.
#[utoipa::path(get, path = "/v1/sources/{source_id}/files", operation_id = "list_source_files", tag = "sources",
    params(("source_id" = String, Path, description = "Source id"), ListSourceFilesQuery),
    responses((status = 200, description = "The source's files, oldest first", body = Vec<FileMetadata>),
        (status = 404, description = "No such source in the organization")))]
async fn list_source_files(
    State(state): State<AppState>,
    actor: Actor,
    Path(source_id): Path<String>,
    Query(q): Query<ListSourceFilesQuery>,
) -> ApiResult<axum::Json<Vec<FileMetadata>>> {
    let limit = paging::limit_or(q.limit, Some(1000))?;
    Ok(axum::Json(
        files(&state)
            .list(
                &actor,
                &source_id,
                q.after.as_deref(),
                limit,
                q.include_content.unwrap_or(false),
            )
            .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct FileMetadataQuery {
    /// Whether to include full file content
    #[param(default = false)]
    include_content: Option<bool>,
}

/// Retrieve metadata for a specific file by its ID: its processing status and progress.
#[utoipa::path(get, path = "/v1/sources/{source_id}/files/{file_id}", operation_id = "get_file_metadata", tag = "sources",
    params(("source_id" = String, Path, description = "Source id"), ("file_id" = String, Path, description = "File id"), FileMetadataQuery),
    responses((status = 200, description = "The file", body = FileMetadata),
        (status = 404, description = "No such file in the source")))]
async fn get_file_metadata(
    State(state): State<AppState>,
    actor: Actor,
    Path((source_id, file_id)): Path<(String, String)>,
    Query(q): Query<FileMetadataQuery>,
) -> ApiResult<axum::Json<FileMetadata>> {
    Ok(axum::Json(
        files(&state)
            .get(
                &actor,
                &source_id,
                &file_id,
                q.include_content.unwrap_or(false),
            )
            .await?,
    ))
}

/// Delete a file from a source, with its passages; agents lose it from their context.
#[utoipa::path(delete, path = "/v1/sources/{source_id}/{file_id}", operation_id = "delete_file_from_source", tag = "sources",
    params(("source_id" = String, Path, description = "Source id"), ("file_id" = String, Path, description = "File id")),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such file in the source")))]
async fn delete_file_from_source(
    State(state): State<AppState>,
    actor: Actor,
    Path((source_id, file_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let removed = files(&state).delete(&actor, &source_id, &file_id).await?;
    super::compose::agents(&state)
        .refresh_prompts(&actor.organization_id, &removed.agent_ids)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(count_sources))
        .routes(routes!(get_sources_metadata))
        .routes(routes!(get_source_id_by_name))
        .routes(routes!(list_sources, create_source))
        .routes(routes!(retrieve_source, modify_source, delete_source))
        .routes(routes!(upload_file_to_source))
        .routes(routes!(list_source_passages))
        .routes(routes!(list_source_files))
        .routes(routes!(get_file_metadata))
        .routes(routes!(delete_file_from_source))
}
