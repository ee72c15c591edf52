// A sleeptime group's progress. Shared by both backends through `include!`.

#[async_trait::async_trait]
impl super::SleeptimeStore for SqlStore {
    async fn set_sleeptime_progress(
        &self,
        org_id: &str,
        group_id: &str,
        expected: (Option<i64>, Option<&str>),
        new: (Option<i64>, Option<&str>),
    ) -> StoreResult<bool> {
        // NULLs compare through sentinels no real value takes (counters are >= -1, ids are
        // never empty), so one statement checks and writes on both dialects.
        let done = sqlx::query(
            "UPDATE groups SET turns_counter = $3, last_processed_message_id = $4, updated_at = $5 \
             WHERE id = $1 AND organization_id = $2 \
             AND COALESCE(turns_counter, -2) = COALESCE($6, -2) \
             AND COALESCE(last_processed_message_id, '') = COALESCE($7, '')",
        )
        .bind(group_id)
        .bind(org_id)
        .bind(new.0)
        .bind(new.1)
        .bind(now())
        .bind(expected.0)
        .bind(expected.1)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
