//! One agent, one turn at a time. Requests to the same agent queue on an in-process mutex
//! (no polling, fair), and the holder also takes the agent's lease in the database so that
//! replicas sharing the database serialize too. Requests to different agents never wait on
//! each other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::OwnedMutexGuard;
use tokio::task::JoinHandle;

use super::{ServiceError, ServiceResult};
use crate::replica::ReplicaId;
use crate::store::DynStore;

/// How long a request waits for another replica's turn before giving up.
const MAX_WAIT: Duration = Duration::from_secs(600);

pub struct TurnLocks {
    local: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
    lease_ttl: Duration,
    /// Recorded on every lease, so a restart of this replica releases them at once.
    replica: Arc<ReplicaId>,
}

/// Held for the duration of a turn; releases the lease when dropped.
pub struct TurnGuard {
    _local: OwnedMutexGuard<()>,
    store: DynStore,
    agent_id: String,
    holder: String,
    renew: JoinHandle<()>,
}

impl Drop for TurnGuard {
    fn drop(&mut self) {
        self.renew.abort();
        let store = self.store.clone();
        let agent_id = std::mem::take(&mut self.agent_id);
        let holder = std::mem::take(&mut self.holder);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Err(err) = store.release_agent_lease(&agent_id, &holder).await {
                    tracing::warn!(%agent_id, error = %err, "could not release agent lease; it will expire");
                }
            });
        }
    }
}

impl TurnLocks {
    pub fn new(lease_ttl: Duration, replica: Arc<ReplicaId>) -> Self {
        TurnLocks {
            local: Mutex::default(),
            lease_ttl: lease_ttl.max(Duration::from_secs(1)),
            replica,
        }
    }

    fn local_mutex(&self, agent_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.local.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = map.get(agent_id).and_then(Weak::upgrade) {
            return existing;
        }
        // Forget mutexes nobody holds any more, so the map stays as small as the set of
        // agents with turns in flight.
        map.retain(|_, weak| weak.strong_count() > 0);
        let mutex = Arc::new(tokio::sync::Mutex::new(()));
        map.insert(agent_id.to_owned(), Arc::downgrade(&mutex));
        mutex
    }

    /// Waits for the agent's turn.
    pub async fn acquire(&self, store: &DynStore, agent_id: &str) -> ServiceResult<TurnGuard> {
        let local = self.local_mutex(agent_id).lock_owned().await;
        let holder = uuid::Uuid::new_v4().to_string();
        let ttl = self.lease_ttl;
        let renew_every = ttl / 3;
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_millis(5);
        while !store
            .try_acquire_agent_lease_on(agent_id, &holder, ttl, &self.replica)
            .await?
        {
            if started.elapsed() > MAX_WAIT {
                return Err(ServiceError::Conflict(format!(
                    "Agent {agent_id} is busy with another request; try again later"
                )));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(200));
        }
        let renew = {
            let store = store.clone();
            let agent_id = agent_id.to_owned();
            let holder = holder.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(renew_every).await;
                    match store.renew_agent_lease(&agent_id, &holder, ttl).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(%agent_id, "agent lease lost");
                            break;
                        }
                        Err(err) => {
                            tracing::warn!(%agent_id, error = %err, "could not renew agent lease")
                        }
                    }
                }
            })
        };
        Ok(TurnGuard {
            _local: local,
            store: store.clone(),
            agent_id: agent_id.to_owned(),
            holder,
            renew,
        })
    }
}
