//! Message batches, read side: a batch's status (derived from its item runs and recorded
//! once they have all ended, so a batch whose process stopped is never stuck), its items,
//! its messages.

use serde_json::{Map, Value, json};

use super::messages::{ConvertOptions, convert};
use super::{ServiceError, ServiceResult};
use crate::schemas::batch::{BatchJob, LettaBatchMessages};
use crate::schemas::common::now;
use crate::schemas::org::Actor;
use crate::schemas::run::{JobStatus, JobType, Run};
use crate::store::{BatchMessageFilter, Store};

pub fn batch_not_found() -> ServiceError {
    ServiceError::NotFound("Batch not found".to_owned())
}

pub struct BatchService<'a> {
    store: &'a dyn Store,
}

impl<'a> BatchService<'a> {
    pub fn new(store: &'a dyn Store) -> Self {
        BatchService { store }
    }

    /// The user's batch row, or a 404.
    pub async fn row(&self, actor: &Actor, batch_id: &str) -> ServiceResult<Run> {
        self.store
            .get_run(&actor.user_id, batch_id)
            .await?
            .filter(|run| run.job_type == JobType::Batch)
            .ok_or_else(batch_not_found)
    }

    /// The batch with its items and their counts in `metadata`; a batch whose items have all
    /// ended gets its final status recorded.
    pub async fn retrieve(&self, actor: &Actor, batch_id: &str) -> ServiceResult<BatchJob> {
        let batch = self.row(actor, batch_id).await?;
        self.settle(batch).await
    }

    /// The user's unfinished batches (as the original lists them), oldest first.
    pub async fn list_open(&self, actor: &Actor) -> ServiceResult<Vec<BatchJob>> {
        let mut out = Vec::new();
        for batch in self.store.list_open_batches(&actor.user_id).await? {
            let settled = self.settle(batch).await?;
            if !settled.status.is_terminal() {
                out.push(settled);
            }
        }
        Ok(out)
    }

    /// Records the batch's end when all its items have ended, and describes its items.
    pub async fn settle(&self, mut batch: Run) -> ServiceResult<BatchJob> {
        let items = self.store.batch_items(&batch.id).await?;
        if !batch.status.is_terminal() && items.iter().all(|i| i.status.is_terminal()) {
            let any_completed = items.iter().any(|i| i.status == JobStatus::Completed);
            let all_cancelled =
                !items.is_empty() && items.iter().all(|i| i.status == JobStatus::Cancelled);
            batch.status = if all_cancelled {
                JobStatus::Cancelled
            } else if any_completed || items.is_empty() {
                JobStatus::Completed
            } else {
                JobStatus::Failed
            };
            let ts = now();
            batch.completed_at = Some(ts);
            batch.updated_at = Some(ts);
            if !self.store.update_run(&batch).await? {
                // Ended meanwhile (a cancel): show what was recorded.
                if let Some(stored) = self.store.get_run_any(&batch.id).await? {
                    batch = stored;
                }
            }
        }
        let mut job = BatchJob::from(batch);
        let mut metadata = job.metadata.take().unwrap_or_default();
        describe_items(&mut metadata, &items);
        job.metadata = Some(metadata);
        Ok(job)
    }

    pub async fn messages(
        &self,
        actor: &Actor,
        batch_id: &str,
        filter: &BatchMessageFilter,
    ) -> ServiceResult<LettaBatchMessages> {
        self.row(actor, batch_id).await?;
        let stored = self.store.list_batch_messages(batch_id, filter).await?;
        let messages = convert(
            &stored,
            ConvertOptions {
                use_assistant_message: true,
                tool_name: "send_message",
                tool_kwarg: "message",
            },
        )?;
        Ok(LettaBatchMessages { messages })
    }
}

/// `items` (run id, agent id, status, error) and `counts` by status, in the metadata.
fn describe_items(metadata: &mut Map<String, Value>, items: &[Run]) {
    let mut counts = Map::new();
    let list: Vec<Value> = items
        .iter()
        .map(|item| {
            let status = item.status.as_str();
            let n = counts.get(status).and_then(Value::as_u64).unwrap_or(0);
            counts.insert(status.to_owned(), json!(n + 1));
            let mut entry = json!({
                "run_id": item.id,
                "agent_id": item.agent_id,
                "status": status,
            });
            if let Some(error) = item.metadata.as_ref().and_then(|m| m.get("error")) {
                entry["error"] = error.clone();
            }
            entry
        })
        .collect();
    metadata.insert("total".to_owned(), json!(items.len()));
    metadata.insert("counts".to_owned(), Value::Object(counts));
    metadata.insert("items".to_owned(), Value::Array(list));
}
