//! `/v1/steps`: the model calls agents made, with their token counts and feedback.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::compose;
use super::error::{ApiError, ApiResult};
use super::extractors::{Path, Query};
use super::paging;
use crate::schemas::Timestamp;
use crate::schemas::org::Actor;
use crate::schemas::run::{FeedbackType, Step};
use crate::state::AppState;
use crate::store::StepFilter;

type JsonResponse<T> = ApiResult<axum::Json<T>>;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListStepsQuery {
    /// Step id cursor: steps before it in the current order.
    before: Option<String>,
    /// Step id cursor: steps after it in the current order.
    after: Option<String>,
    /// Page size (default 50; 0 means no limit).
    #[param(default = 50)]
    limit: Option<i64>,
    /// `asc` for oldest first; anything else is newest first (the default).
    #[param(default = "desc")]
    order: Option<String>,
    /// Only steps recorded at or after this ISO date or datetime.
    start_date: Option<String>,
    /// Only steps recorded before this ISO date or datetime.
    end_date: Option<String>,
    /// Only steps that used this model.
    model: Option<String>,
    /// Only steps of this agent.
    agent_id: Option<String>,
    /// Only steps with one of these trace ids.
    #[serde(default)]
    trace_ids: Option<Vec<String>>,
    /// Only steps with this feedback.
    feedback: Option<FeedbackType>,
    /// Only steps with (true) or without (false) feedback.
    has_feedback: Option<bool>,
    /// Only steps having all these tags.
    #[serde(default)]
    tags: Option<Vec<String>>,
    /// Only steps of this project.
    project_id: Option<String>,
}

/// An ISO 8601 date or datetime as Python's `datetime.fromisoformat` reads it; a value
/// without a zone is UTC. Anything else is a 400, as the original's `ValueError`.
fn parse_iso(value: &str) -> ApiResult<Timestamp> {
    let value = value.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(value) {
        return Ok(dt.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%:z"] {
        if let Ok(dt) = DateTime::parse_from_str(value, format) {
            return Ok(dt.with_timezone(&Utc));
        }
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(value, format) {
            return Ok(dt.and_utc());
        }
    }
    if let Some(dt) = NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
    {
        return Ok(dt.and_utc());
    }
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        format!("Invalid isoformat string: '{value}'"),
    ))
}

/// The organization's steps, newest first unless `order=asc`.
#[utoipa::path(get, path = "/v1/steps/", operation_id = "list_steps", tag = "steps",
    params(ListStepsQuery,
        ("X-Project" = Option<String>, Header, description = "Accepted for compatibility; ignored.")),
    responses((status = 200, description = "Steps", body = Vec<Step>),
        (status = 400, description = "A date bound is not an ISO 8601 timestamp")))]
async fn list_steps(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<ListStepsQuery>,
) -> JsonResponse<Vec<Step>> {
    let limit = paging::limit(q.limit)?;
    let filter = StepFilter {
        before: q.before,
        after: q.after,
        limit,
        ascending: q.order.as_deref() == Some("asc"),
        start_date: q.start_date.as_deref().map(parse_iso).transpose()?,
        end_date: q.end_date.as_deref().map(parse_iso).transpose()?,
        model: q.model,
        agent_id: q.agent_id,
        trace_ids: q.trace_ids.unwrap_or_default(),
        feedback: q.feedback,
        has_feedback: q.has_feedback,
        tags: q.tags.unwrap_or_default(),
        project_id: q.project_id,
    };
    Ok(axum::Json(
        compose::steps(&state).list(&actor, &filter).await?,
    ))
}

/// One step.
#[utoipa::path(get, path = "/v1/steps/{step_id}", operation_id = "retrieve_step", tag = "steps",
    params(("step_id" = String, Path, description = "Step id")),
    responses((status = 200, description = "The step", body = Step)))]
async fn retrieve_step(
    State(state): State<AppState>,
    actor: Actor,
    Path(step_id): Path<String>,
) -> JsonResponse<Step> {
    Ok(axum::Json(
        compose::steps(&state).get(&actor, &step_id).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedbackQuery {
    /// `positive` or `negative`; absent or empty clears the feedback.
    #[serde(default, deserialize_with = "empty_as_none")]
    #[param(value_type = Option<FeedbackType>)]
    feedback: Option<FeedbackType>,
}

/// `?feedback=` (empty) reads as no feedback.
fn empty_as_none<'de, D: serde::Deserializer<'de>>(
    de: D,
) -> Result<Option<FeedbackType>, D::Error> {
    let raw: Option<String> = Option::deserialize(de)?;
    match raw.as_deref() {
        None | Some("") => Ok(None),
        Some(s) => FeedbackType::parse(s)
            .map(Some)
            .ok_or_else(|| serde::de::Error::unknown_variant(s, &["positive", "negative"])),
    }
}

/// Sets or clears the feedback of a step.
#[utoipa::path(patch, path = "/v1/steps/{step_id}/feedback", operation_id = "add_feedback", tag = "steps",
    params(("step_id" = String, Path, description = "Step id"), FeedbackQuery),
    responses((status = 200, description = "The step", body = Step)))]
async fn add_feedback(
    State(state): State<AppState>,
    actor: Actor,
    Path(step_id): Path<String>,
    Query(q): Query<FeedbackQuery>,
) -> JsonResponse<Step> {
    Ok(axum::Json(
        compose::steps(&state)
            .set_feedback(&actor, &step_id, q.feedback)
            .await?,
    ))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_steps))
        .routes(routes!(retrieve_step))
        .routes(routes!(add_feedback))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_and_datetimes_parse() {
        let utc = |s: &str| parse_iso(s).unwrap().to_rfc3339();
        assert_eq!(utc("2025-01-29"), "2025-01-29T00:00:00+00:00");
        assert_eq!(utc("2025-01-29T15:01:19"), "2025-01-29T15:01:19+00:00");
        assert_eq!(
            utc("2025-01-29T15:01:19-08:00"),
            "2025-01-29T23:01:19+00:00"
        );
        assert_eq!(utc("2025-01-29T15:01:19Z"), "2025-01-29T15:01:19+00:00");
        assert_eq!(
            utc("2025-01-29 15:01:19.5+00:00"),
            "2025-01-29T15:01:19.500+00:00"
        );
        assert_eq!(
            parse_iso("yesterday").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }
}
