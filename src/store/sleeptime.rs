//! A sleeptime group's progress (SQL in `sql/sleeptime.rs`): how many main turns it has
//! counted and up to which message its sleeptime agents have read.

use async_trait::async_trait;

use super::StoreResult;

#[async_trait]
pub trait SleeptimeStore {
    /// Sets the group's `turns_counter` and `last_processed_message_id` to `new` if they
    /// still hold `expected` (compare and set: concurrent turns never lose a count). False
    /// when they changed meanwhile (read the group again) or the group is gone.
    async fn set_sleeptime_progress(
        &self,
        org_id: &str,
        group_id: &str,
        expected: (Option<i64>, Option<&str>),
        new: (Option<i64>, Option<&str>),
    ) -> StoreResult<bool>;
}
