//! What replicas share about runs in flight, behind one seam: nothing when this process is
//! alone (the hub's own maps and logs are then the whole truth), or Redis. The hub above
//! never names Redis; a new shared backend is a new variant here.

use std::sync::Weak;

use super::redis_bus::{Appender, BusError, RedisBus, RemoteReader};
use super::{RedisState, RunHub};

/// The shared side of the run hub.
pub enum SharedBus {
    /// One process serves everything: there is nobody to tell.
    InProcess,
    Redis(RedisBus),
}

impl SharedBus {
    /// Starts whatever the bus needs to hear from other replicas (their cancellations).
    pub(super) fn attach(&self, hub: Weak<RunHub>) {
        match self {
            SharedBus::InProcess => {}
            SharedBus::Redis(bus) => bus.listen_for_cancels(hub),
        }
    }

    /// The shared backend's health: `None` when there is none.
    pub(super) fn state(&self) -> Option<RedisState> {
        match self {
            SharedBus::InProcess => None,
            SharedBus::Redis(bus) if bus.is_up() => Some(RedisState::Ok),
            SharedBus::Redis(_) => Some(RedisState::Degraded),
        }
    }

    /// Where a run's frames are copied for other replicas, if anywhere.
    pub(super) fn appender(&self, run_id: &str) -> Option<Appender> {
        match self {
            SharedBus::InProcess => None,
            SharedBus::Redis(bus) => Some(bus.appender(run_id)),
        }
    }

    /// A reader of the frames of a run executing on another replica, if the bus has any.
    pub(super) async fn remote_reader(
        &self,
        run_id: &str,
    ) -> Result<Option<RemoteReader>, BusError> {
        match self {
            SharedBus::InProcess => Ok(None),
            SharedBus::Redis(bus) => {
                if !bus.has_events(run_id).await? {
                    return Ok(None);
                }
                Ok(Some(bus.reader(run_id).await?))
            }
        }
    }

    /// Tells the other replicas to cancel the run.
    pub(super) async fn publish_cancel(&self, run_id: &str) -> Result<(), BusError> {
        match self {
            SharedBus::InProcess => Ok(()),
            SharedBus::Redis(bus) => bus.publish_cancel(run_id).await,
        }
    }

    /// Records the agent's latest message run for every replica.
    pub(super) async fn set_active(&self, agent_id: &str, run_id: &str) -> Result<(), BusError> {
        match self {
            SharedBus::InProcess => Ok(()),
            SharedBus::Redis(bus) => bus.set_active(agent_id, run_id).await,
        }
    }

    /// The agent's latest message run as every replica knows it; `None` from a bus that
    /// keeps nothing.
    pub(super) async fn active(&self, agent_id: &str) -> Result<Option<String>, BusError> {
        match self {
            SharedBus::InProcess => Ok(None),
            SharedBus::Redis(bus) => bus.active(agent_id).await,
        }
    }
}

impl From<Option<RedisBus>> for SharedBus {
    fn from(redis: Option<RedisBus>) -> Self {
        redis.map_or(SharedBus::InProcess, SharedBus::Redis)
    }
}
