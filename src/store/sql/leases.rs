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

impl SqlStore {
    async fn take_lease(
        &self,
        agent_id: &str,
        holder: &str,
        ttl: std::time::Duration,
        replica: Option<&crate::replica::ReplicaId>,
    ) -> StoreResult<bool> {
        let at = now();
        // One atomic statement: insert a free lease, or take over an expired one (or extend
        // our own); a live lease of another holder leaves the row alone and returns nothing.
        let taken: Option<String> = sqlx::query_scalar(
            "INSERT INTO agent_leases (agent_id, holder, expires_at, replica_id, \
             replica_incarnation) VALUES ($1, $2, $3, $5, $6) \
             ON CONFLICT (agent_id) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at, replica_id = excluded.replica_id, \
             replica_incarnation = excluded.replica_incarnation \
             WHERE agent_leases.expires_at < $4 OR agent_leases.holder = excluded.holder \
             RETURNING holder",
        )
        .bind(agent_id)
        .bind(holder)
        .bind(lease_expiry(at, ttl))
        .bind(at)
        .bind(replica.map(|r| r.name.as_str()))
        .bind(replica.map(|r| r.incarnation.as_str()))
        .fetch_optional(&self.pool)
        .await?;
        Ok(taken.as_deref() == Some(holder))
    }
}

#[async_trait::async_trait]
impl super::LeaseStore for SqlStore {
    async fn try_acquire_agent_lease(
        &self,
        agent_id: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<bool> {
        self.take_lease(agent_id, holder, ttl, None).await
    }

    async fn try_acquire_agent_lease_on(
        &self,
        agent_id: &str,
        holder: &str,
        ttl: std::time::Duration,
        replica: &crate::replica::ReplicaId,
    ) -> StoreResult<bool> {
        self.take_lease(agent_id, holder, ttl, Some(replica)).await
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

    async fn release_leftovers(
        &self,
        of: super::Leftovers<'_>,
        error: &str,
    ) -> StoreResult<super::Released> {
        // `$1 = 1` selects everything; otherwise the rows of the replica's other processes.
        // (A row without a replica, written before replicas were recorded, is only released
        // by `All`.)
        const SCOPE: &str = "($1 = 1 OR (replica_id = $2 AND replica_incarnation <> $3))";
        let (all, name, incarnation) = match of {
            super::Leftovers::All => (1_i64, "", ""),
            super::Leftovers::OlderIncarnations(r) => {
                (0_i64, r.name.as_str(), r.incarnation.as_str())
            }
        };
        let ts = now();
        let mut tx = self.begin_write().await?;
        let leases = sqlx::query(&format!("DELETE FROM agent_leases WHERE {SCOPE}"))
            .bind(all)
            .bind(name)
            .bind(incarnation)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let rows = sqlx::query(&format!(
            "SELECT id, metadata FROM jobs WHERE status IN {UNFINISHED_RUN_STATUSES} \
             AND job_type = 'run' AND {SCOPE}"
        ))
        .bind(all)
        .bind(name)
        .bind(incarnation)
        .fetch_all(&mut *tx)
        .await?;
        let mut runs = 0;
        for row in rows {
            let id: String = row.try_get("id")?;
            let metadata: Option<String> = row.try_get("metadata")?;
            runs += sqlx::query(&format!(
                "UPDATE jobs SET status = 'failed', completed_at = $2, updated_at = $2, \
                 metadata = $3 WHERE id = $1 AND status IN {UNFINISHED_RUN_STATUSES}"
            ))
            .bind(&id)
            .bind(ts)
            .bind(metadata_with_error(metadata.as_deref(), error))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(super::Released { leases, runs })
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
