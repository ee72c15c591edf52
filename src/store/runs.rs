//! The runs contract: the `jobs` table (SQL in `sql/runs.rs`).

use async_trait::async_trait;

use super::StoreResult;
use crate::replica::ReplicaId;
use crate::schemas::Timestamp;
use crate::schemas::message::{Message, MessageRole};
use crate::schemas::run::{JobStatus, JobType, Run};

#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub agent_ids: Vec<String>,
    pub statuses: Vec<JobStatus>,
    /// Run-id cursors in (created_at, id) order, relative to the listing direction as in
    /// [`StepFilter`](super::StepFilter). An id that is not a run of the user filters nothing.
    pub before: Option<String>,
    pub after: Option<String>,
    pub limit: Option<i64>,
    pub ascending: bool,
    /// Only rows of this job type (any type when `None`).
    pub job_type: Option<JobType>,
    /// Only jobs whose `metadata.source_id` is this.
    pub source_id: Option<String>,
}

/// Which messages of a run `list_run_messages` returns.
#[derive(Debug, Clone, Default)]
pub struct RunMessageFilter {
    /// Message-id cursors, absolute positions in the insertion order whatever the direction:
    /// `before` keeps messages inserted before it, `after` those inserted after it (an id that
    /// is not a message filters nothing).
    pub before: Option<String>,
    pub after: Option<String>,
    pub limit: Option<i64>,
    /// Oldest first when true.
    pub ascending: bool,
    /// Only messages of this role.
    pub role: Option<MessageRole>,
}

#[async_trait]
pub trait RunStore {
    async fn create_run(&self, run: &Run) -> StoreResult<()>;
    /// Like `create_run`, recording the replica (and its process) that executes the run.
    async fn create_run_on(&self, run: &Run, replica: &ReplicaId) -> StoreResult<()>;
    /// Runs are scoped to their user.
    async fn get_run(&self, user_id: &str, run_id: &str) -> StoreResult<Option<Run>>;
    /// A run by id regardless of user (internal use: cancellation, callbacks).
    async fn get_run_any(&self, run_id: &str) -> StoreResult<Option<Run>>;
    /// Writes status, completed_at, metadata, callback fields and updated_at of `run`.
    /// A run already in a terminal status is left unchanged and false is returned, so a
    /// late writer never resurrects a finished run.
    async fn update_run(&self, run: &Run) -> StoreResult<bool>;
    async fn list_runs(&self, user_id: &str, filter: &RunFilter) -> StoreResult<Vec<Run>>;
    async fn delete_run(&self, user_id: &str, run_id: &str) -> StoreResult<bool>;
    /// Messages linked to the run, filtered and paged as `filter` says.
    async fn list_run_messages(
        &self,
        run_id: &str,
        filter: &RunMessageFilter,
    ) -> StoreResult<Vec<Message>>;
    /// Records the delivery of an async run's callback (allowed on a finished run).
    async fn record_callback(
        &self,
        run_id: &str,
        sent_at: Timestamp,
        status_code: Option<i64>,
        error: Option<&str>,
    ) -> StoreResult<()>;
    /// Records that the process executing the run is alive (its `updated_at` moves on);
    /// false when the run is no longer created/running.
    async fn touch_run(&self, run_id: &str) -> StoreResult<bool>;
    /// Marks every `created`/`running` run not touched since `stale_before` as failed with
    /// this error (recovery from a crashed process); returns how many were changed.
    async fn fail_unfinished_runs(&self, stale_before: Timestamp, error: &str) -> StoreResult<u64>;
}
