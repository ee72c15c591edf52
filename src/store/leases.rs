//! Agent leases: one turn at a time per agent, across processes (SQL in `sql/leases.rs`).

use async_trait::async_trait;

use super::StoreResult;
use crate::replica::ReplicaId;

#[async_trait]
pub trait LeaseStore {
    /// Takes the agent's lease for `holder` if it is free or expired; true when taken.
    async fn try_acquire_agent_lease(
        &self,
        agent_id: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<bool>;
    /// Extends a lease this holder still owns; false if it was lost.
    async fn renew_agent_lease(
        &self,
        agent_id: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<bool>;
    async fn release_agent_lease(&self, agent_id: &str, holder: &str) -> StoreResult<()>;
    /// Like `try_acquire_agent_lease`, recording the replica (and its process) that holds it.
    async fn try_acquire_agent_lease_on(
        &self,
        agent_id: &str,
        holder: &str,
        ttl: std::time::Duration,
        replica: &ReplicaId,
    ) -> StoreResult<bool>;
    /// Releases what stopped processes left: their agent leases are deleted and their
    /// `created`/`running` runs marked failed with `error`, in one transaction.
    async fn release_leftovers(&self, of: Leftovers<'_>, error: &str) -> StoreResult<Released>;
}

/// Whose leftovers a starting process may release at once.
#[derive(Debug, Clone, Copy)]
pub enum Leftovers<'a> {
    /// Every lease and unfinished run: the starting process is the only replica.
    All,
    /// Those of this replica's other incarnations (its earlier processes); other replicas'
    /// keep the timeout rule.
    OlderIncarnations(&'a ReplicaId),
}

/// What `release_leftovers` released.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Released {
    pub leases: u64,
    pub runs: u64,
}
