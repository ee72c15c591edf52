//! `/v1/jobs`: the caller's background jobs — listing them (plain jobs, not runs), and reading,
//! cancelling or deleting any job, runs included.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::compose;
use super::error::ApiResult;
use super::extractors::{Path, Query};
use super::paging;
use crate::schemas::org::Actor;
use crate::schemas::run::Job;
use crate::services::runs::JobListParams;
use crate::state::AppState;

type JsonResponse<T> = ApiResult<axum::Json<T>>;

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
    let jobs = compose::runs(&state)
        .list_jobs(&actor, &q.params(false)?)
        .await?;
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
    let jobs = compose::runs(&state)
        .list_jobs(&actor, &q.params(true)?)
        .await?;
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
        compose::runs(&state).get_job(&actor, &job_id).await?.into(),
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
        compose::runs(&state)
            .delete_job(&actor, &job_id)
            .await?
            .into(),
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
        compose::runs(&state)
            .cancel_job(&actor, &job_id)
            .await?
            .into(),
    ))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(list_active_jobs))
        .routes(routes!(retrieve_job, delete_job))
        .routes(routes!(cancel_job))
}
