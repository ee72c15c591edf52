// Provider traces and step transaction ids. Shared by both backends through `include!`.

use crate::schemas::telemetry::ProviderTrace;

/// Bigger than any retention, for the `LIMIT … OFFSET` both dialects accept.
const TRACE_PRUNE_WINDOW: i64 = 1_000_000_000;

fn provider_trace_from_row(row: &<Db as sqlx::Database>::Row) -> StoreResult<ProviderTrace> {
    Ok(ProviderTrace {
        created_by_id: row.try_get("created_by_id")?,
        last_updated_by_id: None,
        created_at: row.try_get("created_at")?,
        updated_at: None,
        id: row.try_get("id")?,
        request_json: json_col(row, "request_json")?,
        response_json: json_col(row, "response_json")?,
        step_id: row.try_get("step_id")?,
        organization_id: row.try_get("organization_id")?,
    })
}

#[async_trait::async_trait]
impl super::TelemetryStore for SqlStore {
    async fn insert_provider_trace(&self, trace: &ProviderTrace, keep: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO provider_traces (id, organization_id, step_id, request_json, \
             response_json, created_by_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&trace.id)
        .bind(&trace.organization_id)
        .bind(trace.step_id.as_deref())
        .bind(to_json(&trace.request_json))
        .bind(to_json(&trace.response_json))
        .bind(trace.created_by_id.as_deref())
        .bind(trace.created_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM provider_traces WHERE id IN (SELECT id FROM provider_traces \
             WHERE organization_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3)",
        )
        .bind(&trace.organization_id)
        .bind(TRACE_PRUNE_WINDOW)
        .bind(keep.max(0))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_provider_trace_by_step(
        &self,
        org_id: &str,
        step_id: &str,
    ) -> StoreResult<Option<ProviderTrace>> {
        sqlx::query(
            "SELECT * FROM provider_traces WHERE step_id = $1 AND organization_id = $2 \
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(step_id)
        .bind(org_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(provider_trace_from_row)
        .transpose()
    }

    async fn set_step_transaction_id(
        &self,
        org_id: &str,
        step_id: &str,
        transaction_id: &str,
    ) -> StoreResult<Option<Step>> {
        let done = sqlx::query("UPDATE steps SET tid = $1 WHERE id = $2 AND organization_id = $3")
            .bind(transaction_id)
            .bind(step_id)
            .bind(org_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        super::StepStore::get_step(self, org_id, step_id).await
    }
}
