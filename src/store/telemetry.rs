//! Provider traces and step transaction ids (SQL in `sql/telemetry.rs`).

use async_trait::async_trait;

use super::StoreResult;
use crate::schemas::run::Step;
use crate::schemas::telemetry::ProviderTrace;

#[async_trait]
pub trait TelemetryStore {
    /// Inserts the trace, then deletes its organization's traces beyond the newest `keep`.
    async fn insert_provider_trace(&self, trace: &ProviderTrace, keep: i64) -> StoreResult<()>;
    /// The newest trace of the organization's step.
    async fn get_provider_trace_by_step(
        &self,
        org_id: &str,
        step_id: &str,
    ) -> StoreResult<Option<ProviderTrace>>;
    /// Sets the step's transaction id (`tid`); `None` when the organization has no such step.
    async fn set_step_transaction_id(
        &self,
        org_id: &str,
        step_id: &str,
        transaction_id: &str,
    ) -> StoreResult<Option<Step>>;
}
