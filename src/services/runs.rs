//! Runs and jobs: the rows of the jobs table as `/v1/runs` and `/v1/jobs` show them —
//! listing, reading, deleting, cancelling — and what a run produced: its messages, its steps
//! and their token usage. Runs and jobs belong to the user who started them.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::messages::{ConvertOptions, convert};
use super::{ServiceError, ServiceResult};
use crate::runs::RunHub;
use crate::schemas::common::now;
use crate::schemas::letta_message::LettaMessage;
use crate::schemas::message::MessageRole;
use crate::schemas::org::Actor;
use crate::schemas::run::{JobStatus, JobType, LettaRequestConfig, Run, Step};
use crate::store::DynStore;
use crate::store::{RunFilter, RunMessageFilter};

/// How many runs `GET /v1/runs/` shows: the oldest ones, as the original's fixed page.
pub const RUN_LIST_LIMIT: i64 = 50;

/// The statuses of a run or job still in progress.
const ACTIVE: [JobStatus; 2] = [JobStatus::Created, JobStatus::Running];

/// Token usage summed over a run's steps, in the OpenAI usage shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UsageStatistics {
    #[schema(required = false)]
    pub completion_tokens: i64,
    #[schema(required = false)]
    pub prompt_tokens: i64,
    #[schema(required = false)]
    pub total_tokens: i64,
    /// Always null: steps keep no prompt-token breakdown.
    #[schema(value_type = Option<Object>)]
    pub prompt_tokens_details: Option<Value>,
    /// Always null, as in the original.
    #[schema(value_type = Option<Object>)]
    pub completion_tokens_details: Option<Value>,
}

/// Paging of a run's messages (`GET /v1/runs/{run_id}/messages`).
#[derive(Debug, Clone, Default)]
pub struct RunMessagesParams<'a> {
    /// Message-id cursors, positions in the order the messages were stored.
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
    /// Stored messages to select; `None` means no limit.
    pub limit: Option<i64>,
    /// `asc` (the default) or `desc`; anything else is a 400.
    pub order: Option<&'a str>,
    /// Only stored messages of this role (`function` is a role no message has).
    pub role: Option<&'a str>,
}

/// Paging of a run's steps (`GET /v1/runs/{run_id}/steps`).
#[derive(Debug, Clone, Default)]
pub struct RunStepsParams<'a> {
    /// Step-id cursors, positions in (created_at, id) order.
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
    /// `None` means no limit.
    pub limit: Option<i64>,
    /// `desc` (the default) or `asc`; anything else is a 400.
    pub order: Option<&'a str>,
}

/// Filters and paging of `GET /v1/jobs/`.
#[derive(Debug, Clone, Default)]
pub struct JobListParams<'a> {
    /// Only jobs whose metadata names this source.
    pub source_id: Option<&'a str>,
    /// Job-id cursors, positions in (created_at, id) order whatever the direction:
    /// `before` keeps older jobs, `after` newer ones.
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
    /// `None` means no limit.
    pub limit: Option<i64>,
    /// Oldest first when true.
    pub ascending: bool,
    /// Only jobs still created or running.
    pub active_only: bool,
}

/// `asc`/`desc` as a direction; `None` gives the route's default.
fn parse_order(order: Option<&str>, default_ascending: bool) -> ServiceResult<bool> {
    match order {
        None => Ok(default_ascending),
        Some("asc") => Ok(true),
        Some("desc") => Ok(false),
        Some(_) => Err(ServiceError::BadRequest(
            "Order must be 'asc' or 'desc'".to_owned(),
        )),
    }
}

fn cursors_crossed() -> ServiceError {
    ServiceError::BadRequest("'before' reference must be later than 'after' reference".to_owned())
}

pub struct RunService<'a> {
    store: &'a DynStore,
    /// Runs in flight, to cancel the ones a deletion or cancellation ends.
    runs: &'a RunHub,
}

impl<'a> RunService<'a> {
    pub fn new(store: &'a DynStore, runs: &'a RunHub) -> Self {
        RunService { store, runs }
    }

    fn store(&self) -> &dyn crate::store::Store {
        self.store.as_ref()
    }

    /// The actor's row of the jobs table (any job type); `what` names it in the 404.
    async fn find(&self, actor: &Actor, id: &str, what: &str) -> ServiceResult<Run> {
        self.store()
            .get_run(&actor.user_id, id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("{what} not found")))
    }

    /// The actor's runs, oldest first, at most [`RUN_LIST_LIMIT`]; only those of the given
    /// agents when any are given, only created/running ones when `active_only`.
    pub async fn list(
        &self,
        actor: &Actor,
        agent_ids: &[String],
        active_only: bool,
    ) -> ServiceResult<Vec<Run>> {
        let filter = RunFilter {
            agent_ids: agent_ids.to_vec(),
            statuses: if active_only {
                ACTIVE.to_vec()
            } else {
                Vec::new()
            },
            limit: Some(RUN_LIST_LIMIT),
            ascending: true,
            job_type: Some(JobType::Run),
            ..RunFilter::default()
        };
        Ok(self.store().list_runs(&actor.user_id, &filter).await?)
    }

    /// One of the actor's runs.
    pub async fn get(&self, actor: &Actor, run_id: &str) -> ServiceResult<Run> {
        self.find(actor, run_id, "Run").await
    }

    /// Deletes one of the actor's runs (with its message links); returns what it was.
    pub async fn delete(&self, actor: &Actor, run_id: &str) -> ServiceResult<Run> {
        self.delete_as(actor, run_id, "Run").await
    }

    /// Moves one of the actor's unfinished runs to `cancelled` (with `completed_at`), as one
    /// guarded write: a run that is already completed, failed, cancelled or expired — even
    /// one that finished a moment ago — is left alone and the answer is a conflict.
    pub async fn cancel(&self, actor: &Actor, run_id: &str) -> ServiceResult<Run> {
        self.cancel_as(actor, run_id, "Run").await
    }

    async fn delete_as(&self, actor: &Actor, id: &str, what: &str) -> ServiceResult<Run> {
        let run = self.find(actor, id, what).await?;
        if !self.store().delete_run(&actor.user_id, id).await? {
            return Err(ServiceError::NotFound(format!("{what} not found")));
        }
        if !run.status.is_terminal() {
            // A deleted run stops too, rather than failing on its next write.
            self.runs.cancel(id).await;
        }
        Ok(run)
    }

    async fn cancel_as(&self, actor: &Actor, id: &str, what: &str) -> ServiceResult<Run> {
        let already = |status: JobStatus| {
            ServiceError::Conflict(format!("{what} {id} is already {}", status.as_str()))
        };
        let mut run = self.find(actor, id, what).await?;
        if run.status.is_terminal() {
            return Err(already(run.status));
        }
        let ts = now();
        run.status = JobStatus::Cancelled;
        run.completed_at = Some(ts);
        run.updated_at = Some(ts);
        run.last_updated_by_id = Some(actor.user_id.clone());
        if self.store().update_run(&run).await? {
            // The record says cancelled; now stop the task, on whichever replica runs it.
            self.runs.cancel(id).await;
            return Ok(run);
        }
        // It finished (or went away) between the read and the write.
        let current = self.find(actor, id, what).await?;
        Err(already(current.status))
    }

    /// The messages stored by one of the actor's runs, as LettaMessages shown the way the
    /// run's request asked (assistant-message tool, returned message types). `limit` counts
    /// stored messages; with `desc` the LettaMessages come newest first.
    pub async fn messages(
        &self,
        actor: &Actor,
        run_id: &str,
        params: &RunMessagesParams<'_>,
    ) -> ServiceResult<Vec<LettaMessage>> {
        let ascending = parse_order(params.order, true)?;
        let run = self.get(actor, run_id).await?;
        let mut positions = [None, None];
        for (slot, cursor) in positions.iter_mut().zip([params.before, params.after]) {
            if let Some(id) = cursor {
                let seq = self.store().message_sequence_id(id).await?.ok_or_else(|| {
                    ServiceError::NotFound(format!("No message found with id '{id}'"))
                })?;
                *slot = Some(seq);
            }
        }
        if let [Some(before), Some(after)] = positions
            && before < after
        {
            return Err(cursors_crossed());
        }
        let role = match params.role {
            None => None,
            Some(role) => match MessageRole::parse(role) {
                Some(role) => Some(role),
                // A role no stored message has.
                None => return Ok(Vec::new()),
            },
        };
        let filter = RunMessageFilter {
            before: params.before.map(str::to_owned),
            after: params.after.map(str::to_owned),
            limit: params.limit,
            ascending,
            role,
        };
        let mut messages = self.store().list_run_messages(run_id, &filter).await?;
        // Converted in stored order, so the LettaMessages of one stored message keep theirs;
        // a descending page is then shown reversed as a whole.
        if !ascending {
            messages.reverse();
        }
        let config = run.request_config.unwrap_or_else(|| LettaRequestConfig {
            use_assistant_message: true,
            assistant_message_tool_name: "send_message".to_owned(),
            assistant_message_tool_kwarg: "message".to_owned(),
            include_return_message_types: None,
        });
        let mut out = convert(
            &messages,
            ConvertOptions {
                use_assistant_message: config.use_assistant_message,
                tool_name: &config.assistant_message_tool_name,
                tool_kwarg: &config.assistant_message_tool_kwarg,
            },
        )?;
        if !ascending {
            out.reverse();
        }
        if let Some(types) = &config.include_return_message_types {
            out.retain(|m| types.iter().any(|t| t == m.message_type()));
        }
        Ok(out)
    }

    /// Token counts summed over the steps of one of the actor's runs (zeros without steps).
    pub async fn usage(&self, actor: &Actor, run_id: &str) -> ServiceResult<UsageStatistics> {
        if self
            .store()
            .get_run(&actor.user_id, run_id)
            .await?
            .is_none()
        {
            return Err(ServiceError::NotFound(format!("Run '{run_id}' not found")));
        }
        let steps = self.store().steps_for_run(run_id).await?;
        let sum = |f: fn(&Step) -> Option<i64>| steps.iter().map(|s| f(s).unwrap_or(0)).sum();
        Ok(UsageStatistics {
            completion_tokens: sum(|s| s.completion_tokens),
            prompt_tokens: sum(|s| s.prompt_tokens),
            total_tokens: sum(|s| s.total_tokens),
            prompt_tokens_details: None,
            completion_tokens_details: None,
        })
    }

    /// The steps of one of the actor's runs, newest first unless `asc`. A run the actor does
    /// not have has no steps (an empty list, as the original answers).
    pub async fn steps(
        &self,
        actor: &Actor,
        run_id: &str,
        params: &RunStepsParams<'_>,
    ) -> ServiceResult<Vec<Step>> {
        let ascending = parse_order(params.order, false)?;
        let mut positions = [None, None];
        for (slot, cursor) in positions.iter_mut().zip([params.before, params.after]) {
            if let Some(id) = cursor {
                let step = self
                    .store()
                    .get_step(&actor.organization_id, id)
                    .await?
                    .ok_or_else(|| {
                        ServiceError::NotFound(format!("No step found with id '{id}'"))
                    })?;
                *slot = Some((step.created_at, step.id));
            }
        }
        if let [Some(before), Some(after)] = &positions
            && before < after
        {
            return Err(cursors_crossed());
        }
        if self
            .store()
            .get_run(&actor.user_id, run_id)
            .await?
            .is_none()
        {
            return Ok(Vec::new());
        }
        Ok(self
            .store()
            .list_run_steps(
                &actor.organization_id,
                run_id,
                params.before,
                params.after,
                params.limit,
                ascending,
            )
            .await?)
    }

    /// The actor's plain jobs (job type `job`, not runs), filtered and paged. A cursor must
    /// be one of the actor's jobs (400 otherwise, as the original).
    pub async fn list_jobs(
        &self,
        actor: &Actor,
        params: &JobListParams<'_>,
    ) -> ServiceResult<Vec<Run>> {
        let mut positions = [None, None];
        for (slot, cursor) in positions.iter_mut().zip([params.before, params.after]) {
            if let Some(id) = cursor {
                let job = self
                    .store()
                    .get_run(&actor.user_id, id)
                    .await?
                    .ok_or_else(|| {
                        ServiceError::BadRequest(format!("Job with id {id} not found"))
                    })?;
                *slot = Some((job.created_at, job.id));
            }
        }
        if let [Some(before), Some(after)] = &positions
            && before < after
        {
            return Err(cursors_crossed());
        }
        // The store's cursors follow the listing direction; ours are absolute.
        let (before, after) = if params.ascending {
            (params.before, params.after)
        } else {
            (params.after, params.before)
        };
        let filter = RunFilter {
            statuses: if params.active_only {
                ACTIVE.to_vec()
            } else {
                Vec::new()
            },
            before: before.map(str::to_owned),
            after: after.map(str::to_owned),
            limit: params.limit,
            ascending: params.ascending,
            job_type: Some(JobType::Job),
            source_id: params.source_id.map(str::to_owned),
            ..RunFilter::default()
        };
        Ok(self.store().list_runs(&actor.user_id, &filter).await?)
    }

    /// One of the actor's jobs (of any type, runs included).
    pub async fn get_job(&self, actor: &Actor, job_id: &str) -> ServiceResult<Run> {
        self.find(actor, job_id, "Job").await
    }

    pub async fn delete_job(&self, actor: &Actor, job_id: &str) -> ServiceResult<Run> {
        self.delete_as(actor, job_id, "Job").await
    }

    /// As [`RunService::cancel`], for any of the actor's jobs.
    pub async fn cancel_job(&self, actor: &Actor, job_id: &str) -> ServiceResult<Run> {
        self.cancel_as(actor, job_id, "Job").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_defaults_and_rejects_other_words() {
        assert!(parse_order(None, true).unwrap());
        assert!(!parse_order(None, false).unwrap());
        assert!(parse_order(Some("asc"), false).unwrap());
        assert!(!parse_order(Some("desc"), true).unwrap());
        let err = parse_order(Some("ASC"), true).unwrap_err();
        assert!(
            matches!(&err, ServiceError::BadRequest(m) if m == "Order must be 'asc' or 'desc'"),
            "{err:?}"
        );
    }
}
