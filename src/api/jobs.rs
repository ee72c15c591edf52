//! `/v1/jobs`: the caller's background jobs — listing them (plain jobs, not runs), and reading,
//! cancelling or deleting any job, runs included.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiResult;
use super::extractors::{Path, Query};
use super::paging;
use crate::schemas::Timestamp;
use crate::schemas::common::naive_utc;
use crate::schemas::org::Actor;
use crate::schemas::run::{JobStatus, JobType, Run};
use crate::services::AppState;
use crate::services::runs::JobListParams;

type JsonResponse<T> = ApiResult<axum::Json<T>>;

/// A row of the jobs table as `/v1/jobs` shows it: a run without its request config.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Job {
    pub created_by_id: Option<String>,
    pub last_updated_by_id: Option<String>,
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub created_at: Option<Timestamp>,
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub updated_at: Option<Timestamp>,
    #[schema(required = false)]
    pub status: JobStatus,
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub completed_at: Option<Timestamp>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    #[schema(required = false)]
    pub job_type: JobType,
    pub callback_url: Option<String>,
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub callback_sent_at: Option<Timestamp>,
    pub callback_status_code: Option<i64>,
    pub callback_error: Option<String>,
    #[schema(required = false)]
    pub id: String,
    pub user_id: Option<String>,
}

impl From<Run> for Job {
    fn from(run: Run) -> Self {
        Job {
            created_by_id: run.created_by_id,
            last_updated_by_id: run.last_updated_by_id,
            created_at: run.created_at,
            updated_at: run.updated_at,
            status: run.status,
            completed_at: run.completed_at,
            metadata: run.metadata,
            job_type: run.job_type,
            callback_url: run.callback_url,
            callback_sent_at: run.callback_sent_at,
            callback_status_code: run.callback_status_code,
            callback_error: run.callback_error,
            id: run.id,
            user_id: run.user_id,
        }
    }
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListJobsQuery {
    /// Only jobs whose metadata names this source.
    source_id: Option<String>,
    /// Job id cursor: only jobs created before it.
    before: Option<String>,
    /// Job id cursor: only jobs created after it.
    after: Option<String>,
    /// Page size (default 50; 0 means no limit).
    #[param(default = 50)]
    limit: Option<i64>,
    /// Oldest first (true, the default) or newest first (false).
    #[serde(default = "default_true")]
    #[param(default = true)]
    ascending: bool,
}

impl ListJobsQuery {
    fn params(&self, active_only: bool) -> ApiResult<JobListParams<'_>> {
        let limit = paging::limit(self.limit)?;
        Ok(JobListParams {
            source_id: self.source_id.as_deref(),
            before: self.before.as_deref(),
            after: self.after.as_deref(),
            limit,
            ascending: self.ascending,
            active_only,
        })
    }
}

/// The caller's jobs (not runs), oldest first unless `ascending=false`.
#[utoipa::path(get, path = "/v1/jobs/", operation_id = "list_jobs", tag = "jobs",
    params(ListJobsQuery),
    responses((status = 200, description = "Jobs", body = Vec<Job>),
        (status = 400, description = "The cursor is not one of the caller's jobs")))]
async fn list_jobs(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<ListJobsQuery>,
) -> JsonResponse<Vec<Job>> {
    let jobs = state.runs().list_jobs(&actor, &q.params(false)?).await?;
    Ok(axum::Json(jobs.into_iter().map(Job::from).collect()))
}

/// The caller's jobs (not runs) still created or running.
#[utoipa::path(get, path = "/v1/jobs/active", operation_id = "list_active_jobs", tag = "jobs",
    params(ListJobsQuery),
    responses((status = 200, description = "Active jobs", body = Vec<Job>),
        (status = 400, description = "The cursor is not one of the caller's jobs")))]
async fn list_active_jobs(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<ListJobsQuery>,
) -> JsonResponse<Vec<Job>> {
    let jobs = state.runs().list_jobs(&actor, &q.params(true)?).await?;
    Ok(axum::Json(jobs.into_iter().map(Job::from).collect()))
}

/// One job (a run too).
#[utoipa::path(get, path = "/v1/jobs/{job_id}", operation_id = "retrieve_job", tag = "jobs",
    params(("job_id" = String, Path, description = "Job id")),
    responses((status = 200, description = "The job", body = Job)))]
async fn retrieve_job(
    State(state): State<AppState>,
    actor: Actor,
    Path(job_id): Path<String>,
) -> JsonResponse<Job> {
    Ok(axum::Json(
        state.runs().get_job(&actor, &job_id).await?.into(),
    ))
}

/// Deletes a job; returns what it was.
#[utoipa::path(delete, path = "/v1/jobs/{job_id}", operation_id = "delete_job", tag = "jobs",
    params(("job_id" = String, Path, description = "Job id")),
    responses((status = 200, description = "The deleted job", body = Job)))]
async fn delete_job(
    State(state): State<AppState>,
    actor: Actor,
    Path(job_id): Path<String>,
) -> JsonResponse<Job> {
    Ok(axum::Json(
        state.runs().delete_job(&actor, &job_id).await?.into(),
    ))
}

/// Marks an unfinished job cancelled; a finished one is a 409.
#[utoipa::path(patch, path = "/v1/jobs/{job_id}/cancel", operation_id = "cancel_job", tag = "jobs",
    params(("job_id" = String, Path, description = "Job id")),
    responses((status = 200, description = "The cancelled job", body = Job),
        (status = 409, description = "The job has already finished")))]
async fn cancel_job(
    State(state): State<AppState>,
    actor: Actor,
    Path(job_id): Path<String>,
) -> JsonResponse<Job> {
    Ok(axum::Json(
        state.runs().cancel_job(&actor, &job_id).await?.into(),
    ))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(list_active_jobs))
        .routes(routes!(retrieve_job, delete_job))
        .routes(routes!(cancel_job))
}
