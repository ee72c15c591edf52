// Agent leases: one turn at a time per agent, across processes. Shared by both backends
// through `include!`. Times come from the application's clock (bound, never SQL `now()`), so
// both dialects compare the same values.

/// `now + ttl`, to the microsecond (the precision both databases keep), with the ttl capped
/// at a century so the instant stays within both databases' range and text order.
fn lease_expiry(
    now: crate::schemas::Timestamp,
    ttl: std::time::Duration,
) -> crate::schemas::Timestamp {
    const MAX_TTL_MICROS: u128 = 100 * 366 * 24 * 3600 * 1_000_000;
    let micros = ttl.as_micros().min(MAX_TTL_MICROS) as i64;
    now + chrono::Duration::microseconds(micros)
}

#[async_trait::async_trait]
impl super::LeaseStore for SqlStore {
    async fn try_acquire_agent_lease(
        &self,
        agent_id: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<bool> {
        let at = now();
        // One atomic statement: insert a free lease, or take over an expired one (or extend
        // our own); a live lease of another holder leaves the row alone and returns nothing.
        let taken: Option<String> = sqlx::query_scalar(
            "INSERT INTO agent_leases (agent_id, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (agent_id) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE agent_leases.expires_at < $4 OR agent_leases.holder = excluded.holder \
             RETURNING holder",
        )
        .bind(agent_id)
        .bind(holder)
        .bind(lease_expiry(at, ttl))
        .bind(at)
        .fetch_optional(&self.pool)
        .await?;
        Ok(taken.as_deref() == Some(holder))
    }

    async fn renew_agent_lease(
        &self,
        agent_id: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<bool> {
        // Still ours as long as no other holder took it over, even if it expired meanwhile.
        let done = sqlx::query(
            "UPDATE agent_leases SET expires_at = $3 WHERE agent_id = $1 AND holder = $2",
        )
        .bind(agent_id)
        .bind(holder)
        .bind(lease_expiry(now(), ttl))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn release_agent_lease(&self, agent_id: &str, holder: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM agent_leases WHERE agent_id = $1 AND holder = $2")
            .bind(agent_id)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
