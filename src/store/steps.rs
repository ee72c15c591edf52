//! The steps contract (SQL in `sql/steps.rs`).

use async_trait::async_trait;

use super::StoreResult;
use crate::schemas::Timestamp;
use crate::schemas::message::Message;
use crate::schemas::run::{FeedbackType, Step};

#[derive(Debug, Clone, Default)]
pub struct StepFilter {
    /// Step-id cursors, relative to the listing direction: `after` continues the listing,
    /// `before` goes back. An id that is not a step of the organization filters nothing.
    pub before: Option<String>,
    pub after: Option<String>,
    pub limit: Option<i64>,
    /// Oldest first when true.
    pub ascending: bool,
    /// Exclusive bounds on `created_at`.
    pub start_date: Option<Timestamp>,
    pub end_date: Option<Timestamp>,
    pub model: Option<String>,
    pub agent_id: Option<String>,
    pub trace_ids: Vec<String>,
    pub feedback: Option<FeedbackType>,
    pub has_feedback: Option<bool>,
    /// Steps having all these tags.
    pub tags: Vec<String>,
    pub project_id: Option<String>,
}

#[async_trait]
pub trait StepStore {
    /// Records a step and the messages it produced in one transaction; when `run_id` is
    /// given the messages are also linked to that run.
    async fn persist_step(
        &self,
        step: Option<&Step>,
        messages: &[Message],
        run_id: Option<&str>,
    ) -> StoreResult<()>;
    async fn get_step(&self, org_id: &str, step_id: &str) -> StoreResult<Option<Step>>;
    /// Ordered by (created_at, id), newest first unless `ascending`.
    async fn list_steps(&self, org_id: &str, filter: &StepFilter) -> StoreResult<Vec<Step>>;
    async fn set_step_feedback(
        &self,
        org_id: &str,
        step_id: &str,
        feedback: Option<FeedbackType>,
    ) -> StoreResult<Option<Step>>;
    /// Steps of a run, oldest first.
    async fn steps_for_run(&self, run_id: &str) -> StoreResult<Vec<Step>>;
    /// The organization's steps of a run, ordered by (created_at, id) — oldest first when
    /// `ascending` — at most `limit`. The cursors are step ids and absolute positions whatever
    /// the direction: `before` keeps steps older than it, `after` newer ones (an id that is not
    /// a step of the organization filters nothing).
    async fn list_run_steps(
        &self,
        org_id: &str,
        run_id: &str,
        before: Option<&str>,
        after: Option<&str>,
        limit: Option<i64>,
        ascending: bool,
    ) -> StoreResult<Vec<Step>>;
}
