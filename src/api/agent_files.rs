//! Agent files: `GET /v1/agents/{agent_id}/export` and `POST /v1/agents/import`.

use axum::extract::{Multipart, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult};
use super::extractors::{Path, Query};
use crate::schemas::agent::AgentState;
use crate::schemas::agent_file::AgentSchema;
use crate::schemas::org::Actor;
use crate::services::agent_file::{AgentFileError, ImportOptions};
use crate::state::AppState;
use crate::store::RelationSet;

impl From<AgentFileError> for ApiError {
    fn from(err: AgentFileError) -> Self {
        match err {
            AgentFileError::Invalid(msg) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, msg),
            AgentFileError::Service(err) => err.into(),
        }
    }
}

/// Writes the agent as an agent file: v1 (Letta 0.8.12's single-agent format) unless the
/// agent is in a group, reads sources or uses MCP tools, which only the v2 format carries.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/export", operation_id = "export_agent_serialized", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id")),
    request_body(content = Option<AgentSchema>, description = "Not read: documents the file's format"),
    responses((status = 200, description = "The agent file, indented JSON", body = serde_json::Value, content_type = "application/json"),
        (status = 404, description = "No such agent")))]
async fn export_agent_serialized(
    State(state): State<AppState>,
    actor: Actor,
    Path(agent_id): Path<String>,
) -> ApiResult<Response> {
    let file = super::compose::agent_files(&state)
        .export(&actor, &agent_id)
        .await?;
    let body = serde_json::to_vec_pretty(&file)
        .map_err(|e| ApiError::from(crate::services::ServiceError::Internal(e.to_string())))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The query flags of an import; multipart form fields of the same names (as later Letta
/// clients send them) take precedence.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// If set to True, appends "_copy" to the end of the agent name.
    #[serde(default)]
    #[param(default = true)]
    append_copy_suffix: Option<bool>,
    /// If set to True, existing tools can get their source code overwritten by the uploaded
    /// tool definitions. Note that Letta core tools can never be updated externally.
    #[serde(default)]
    #[param(default = true)]
    override_existing_tools: Option<bool>,
    /// The project ID to associate the uploaded agent with.
    #[serde(default)]
    project_id: Option<String>,
    /// If set to True, strips all messages from the agent before importing.
    #[serde(default)]
    #[param(default = false)]
    strip_messages: Option<bool>,
}

/// The multipart body of an import.
#[derive(ToSchema)]
#[schema(as = Body_import_agent_serialized)]
#[expect(
    dead_code,
    reason = "documents the multipart body; read field by field"
)]
pub struct ImportBody {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

fn missing_file() -> ApiError {
    ApiError::validation(vec![ApiError::validation_item(
        "missing",
        vec!["body".into(), "file".into()],
        "Field required",
        Value::Null,
    )])
}

fn bad_flag(name: &str, value: &str) -> ApiError {
    ApiError::validation(vec![ApiError::validation_item(
        "bool_parsing",
        vec!["body".into(), name.into()],
        "Input should be a valid boolean, unable to interpret input",
        Value::String(value.to_owned()),
    )])
}

/// pydantic's lax booleans.
fn parse_flag(name: &str, value: &str) -> Result<bool, ApiError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
        _ => Err(bad_flag(name, value)),
    }
}

/// Reads the upload and any flags sent as form fields.
async fn read_form(mut form: Multipart, options: &mut ImportOptions) -> Result<Vec<u8>, ApiError> {
    let bad_form = |e: axum::extract::multipart::MultipartError| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("Malformed multipart body: {}", e.body_text()),
        )
    };
    let mut file = None;
    while let Some(field) = form.next_field().await.map_err(bad_form)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" => file = Some(field.bytes().await.map_err(bad_form)?.to_vec()),
            "append_copy_suffix" | "override_existing_tools" | "strip_messages" => {
                let text = field.text().await.map_err(bad_form)?;
                let value = parse_flag(&name, &text)?;
                match name.as_str() {
                    "append_copy_suffix" => options.append_copy_suffix = value,
                    "override_existing_tools" => options.override_existing_tools = value,
                    _ => options.strip_messages = value,
                }
            }
            "project_id" => {
                let text = field.text().await.map_err(bad_form)?;
                options.project_id = Some(text).filter(|t| !t.is_empty());
            }
            _ => {}
        }
    }
    file.ok_or_else(missing_file)
}

/// Creates the agent(s) an agent file describes (v1, or v2 with several agents) with new
/// ids, and answers with the (first) new agent. Nothing is written when the file is refused.
#[utoipa::path(post, path = "/v1/agents/import", operation_id = "import_agent_serialized", tag = "agents",
    params(ImportQuery),
    request_body(content = ImportBody, content_type = "multipart/form-data"),
    responses((status = 200, description = "The imported agent", body = AgentState),
        (status = 400, description = "Not JSON, or a tool source that does not parse"),
        (status = 422, description = "Not an agent file, an unknown version, or a dangling reference")))]
async fn import_agent_serialized(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<ImportQuery>,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<axum::Json<AgentState>> {
    let form = form.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let mut options = ImportOptions {
        append_copy_suffix: q.append_copy_suffix.unwrap_or(true),
        override_existing_tools: q.override_existing_tools.unwrap_or(true),
        project_id: q.project_id,
        strip_messages: q.strip_messages.unwrap_or(false),
    };
    let bytes = read_form(form, &mut options).await?;
    // A file's core tools are matched to the organization's built-ins, which must exist
    // (seeding is idempotent and happens on any tool listing anyway).
    crate::services::tools::ToolService::new(&state.store, &state.sandbox)
        .ensure_base_tools(&actor)
        .await?;
    let ids = super::compose::agent_files(&state)
        .import(&actor, &bytes, &options)
        .await?;
    let first = ids.first().ok_or_else(|| {
        ApiError::from(crate::services::ServiceError::Internal(
            "an import created no agent".into(),
        ))
    })?;
    Ok(axum::Json(
        super::compose::agents(&state)
            .get(&actor, first, RelationSet::ALL)
            .await?,
    ))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export_agent_serialized))
        .routes(routes!(import_agent_serialized))
}
