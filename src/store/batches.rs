//! Message batches (SQL in `sql/batches.rs`): a batch is a job of type `batch`, its requests
//! runs carrying its id (`jobs.batch_id`).

use async_trait::async_trait;

use super::StoreResult;
use crate::replica::ReplicaId;
use crate::schemas::message::Message;
use crate::schemas::run::Run;

/// Which of a batch's messages to list.
#[derive(Debug, Clone, Default)]
pub struct BatchMessageFilter {
    pub agent_id: Option<String>,
    /// A message id: the listing continues past it in its direction.
    pub cursor: Option<String>,
    pub descending: bool,
    pub limit: Option<i64>,
}

#[async_trait]
pub trait BatchStore {
    /// Writes the batch and its item runs (executed by `replica`) in one transaction.
    async fn create_batch(
        &self,
        batch: &Run,
        items: &[Run],
        replica: &ReplicaId,
    ) -> StoreResult<()>;
    /// The item runs of the batch, in creation order.
    async fn batch_items(&self, batch_id: &str) -> StoreResult<Vec<Run>>;
    /// The user's batches that are not finished, oldest first.
    async fn list_open_batches(&self, user_id: &str) -> StoreResult<Vec<Run>>;
    /// Marks the batch's items that have not started as cancelled; returns how many.
    async fn cancel_waiting_batch_items(&self, batch_id: &str) -> StoreResult<u64>;
    /// Records that the batch's unfinished items are alive (waiting items are not abandoned).
    async fn touch_batch_items(&self, batch_id: &str) -> StoreResult<u64>;
    /// Messages of the batch's runs, in insertion order (reversed when `descending`).
    async fn list_batch_messages(
        &self,
        batch_id: &str,
        filter: &BatchMessageFilter,
    ) -> StoreResult<Vec<Message>>;
}
