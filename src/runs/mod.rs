//! Runs in flight: which run each agent has active, cancellation signals, and each run's
//! event log, which SSE responses subscribe to.
//!
//! A run executes as a task on one replica. Its events are kept in process (so a stream on
//! the same replica is served from memory) and, when Redis is configured, also appended to
//! a Redis stream so another replica can replay and follow them. Cancellation reaches the
//! task through its [`CancellationToken`]; a cancel arriving at another replica is
//! published on a Redis channel that every replica listens to.
//!
//! Redis may fail at any time: the hub then serves from what this process knows (its runs,
//! its logs, the last run it started per agent) and never waits on Redis for longer than a
//! call's deadline; see [`redis_bus`].

mod bus;
pub mod frames;
mod redis_bus;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use bus::SharedBus;
pub use redis_bus::{BusError, RedisBus, RemoteBatch, RemoteReader};

/// How long a finished run's events stay in memory for clients that re-attach.
const KEEP_FINISHED: Duration = Duration::from_secs(120);

/// One SSE event as sent on the wire (`data: …\n\n`), shared by every subscriber.
pub type Frame = Arc<str>;

/// The registry of runs this replica executes, plus the shared (Redis) view when there is one.
pub struct RunHub {
    local: Mutex<HashMap<String, Arc<LocalRun>>>,
    /// Agent id → latest message run started here (with Redis, the fallback while it is
    /// down).
    active: Mutex<HashMap<String, String>>,
    bus: SharedBus,
}

struct LocalRun {
    cancel: CancellationToken,
    log: Arc<EventLog>,
}

/// What the health route reports about Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisState {
    Ok,
    /// Unreachable: this replica serves its own runs without it, and retries.
    Degraded,
}

impl RedisState {
    pub fn as_str(self) -> &'static str {
        match self {
            RedisState::Ok => "ok",
            RedisState::Degraded => "degraded",
        }
    }
}

/// What the task executing a run holds: its cancellation token and the log it publishes to.
#[derive(Clone)]
pub struct RunHandle {
    pub run_id: String,
    pub cancel: CancellationToken,
    log: Arc<EventLog>,
}

/// The events of one run, in order, and a wake-up for subscribers waiting on more.
pub struct EventLog {
    state: Mutex<LogState>,
    notify: Notify,
    remote: Option<redis_bus::Appender>,
}

#[derive(Default)]
struct LogState {
    frames: Vec<Frame>,
    done: bool,
}

impl RunHub {
    /// A hub shared with the other replicas through `bus` (alone with
    /// [`SharedBus::InProcess`]).
    pub fn new(bus: SharedBus) -> Arc<Self> {
        let hub = Arc::new(RunHub {
            local: Mutex::default(),
            active: Mutex::default(),
            bus,
        });
        hub.bus.attach(Arc::downgrade(&hub));
        hub
    }

    /// The state of Redis for the health route: `None` when none is configured.
    pub fn redis_state(&self) -> Option<RedisState> {
        self.bus.state()
    }

    /// A reader of the events of a run executing on another replica; `Ok(None)` when no
    /// replica shares them or none are kept for the run.
    pub async fn remote_reader(&self, run_id: &str) -> Result<Option<RemoteReader>, BusError> {
        self.bus.remote_reader(run_id).await
    }

    /// Registers a run about to execute on this replica.
    pub fn start(&self, run_id: &str) -> RunHandle {
        let remote = self.bus.appender(run_id);
        let log = Arc::new(EventLog {
            state: Mutex::default(),
            notify: Notify::new(),
            remote,
        });
        let cancel = CancellationToken::new();
        self.local_map().insert(
            run_id.to_owned(),
            Arc::new(LocalRun {
                cancel: cancel.clone(),
                log: log.clone(),
            }),
        );
        RunHandle {
            run_id: run_id.to_owned(),
            cancel,
            log,
        }
    }

    /// Ends a run's log; its events stay available for a while for late subscribers.
    pub fn finish(self: &Arc<Self>, handle: &RunHandle) {
        handle.log.close();
        let hub = Arc::downgrade(self);
        let run_id = handle.run_id.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                tokio::time::sleep(KEEP_FINISHED).await;
                if let Some(hub) = hub.upgrade() {
                    hub.local_map().remove(&run_id);
                }
            });
        }
    }

    /// The in-process log of a run executing (or recently finished) here.
    pub fn local_log(&self, run_id: &str) -> Option<Arc<EventLog>> {
        self.local_map().get(run_id).map(|run| run.log.clone())
    }

    /// Signals the run's task, here and (through Redis) on every other replica.
    pub async fn cancel(&self, run_id: &str) {
        self.cancel_local(run_id);
        // While Redis is down a run on another replica is not reached at once; its task
        // notices the cancelled record at its next heartbeat.
        if let Err(err) = self.bus.publish_cancel(run_id).await {
            tracing::debug!(%run_id, error = %err, "cancellation not published to Redis");
        }
    }

    fn cancel_local(&self, run_id: &str) -> bool {
        match self.local_map().get(run_id) {
            Some(run) => {
                run.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Cancels every run executing here (shutdown).
    pub fn cancel_all_local(&self) -> usize {
        let map = self.local_map();
        let mut n = 0;
        for run in map.values() {
            if !run.log.is_done() {
                run.cancel.cancel();
                n += 1;
            }
        }
        n
    }

    /// How many runs execute here right now.
    pub fn running_here(&self) -> usize {
        self.local_map()
            .values()
            .filter(|run| !run.log.is_done())
            .count()
    }

    /// Remembers the agent's latest message run (the run `…/messages/cancel` cancels when
    /// no ids are given), here and, when configured, in Redis under the original's key.
    pub async fn set_active(&self, agent_id: &str, run_id: &str) {
        self.active_map()
            .insert(agent_id.to_owned(), run_id.to_owned());
        if let Err(err) = self.bus.set_active(agent_id, run_id).await {
            tracing::debug!(%agent_id, error = %err, "active run not recorded in Redis");
        }
    }

    /// The agent's latest message run: Redis knows those of every replica; while it is down
    /// (or knows none), the one started here. A run still executing here wins over an older
    /// one Redis may show from before an outage.
    pub async fn active_run(&self, agent_id: &str) -> Option<String> {
        let here = self.active_map().get(agent_id).cloned();
        if let Some(run_id) = &here
            && self.local_log(run_id).is_some_and(|log| !log.is_done())
        {
            return here;
        }
        match self.bus.active(agent_id).await {
            Ok(Some(run_id)) => Some(run_id),
            Ok(None) => here,
            Err(err) => {
                tracing::debug!(%agent_id, error = %err, "active run not read from Redis");
                here
            }
        }
    }

    fn active_map(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn local_map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LocalRun>>> {
        self.local.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl RunHandle {
    /// Appends one event for every subscriber.
    pub fn publish(&self, frame: String) {
        self.log.push(frame.into());
    }
}

impl EventLog {
    fn push(&self, frame: Frame) {
        {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if state.done {
                return;
            }
            state.frames.push(frame.clone());
            if let Some(remote) = &self.remote {
                remote.append(state.frames.len() as u64, frame);
            }
        }
        self.notify.notify_waiters();
    }

    fn close(&self) {
        {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if state.done {
                return;
            }
            state.done = true;
            if let Some(remote) = &self.remote {
                remote.close(state.frames.len() as u64 + 1);
            }
        }
        self.notify.notify_waiters();
    }

    pub fn is_done(&self) -> bool {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).done
    }

    /// Frames after the first `after` ones; waits for more while the run goes on. Returns
    /// an empty list once the run is over and everything was read.
    pub async fn read_after(&self, after: usize) -> Vec<Frame> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                if state.frames.len() > after {
                    return state.frames[after..].to_vec();
                }
                if state.done {
                    return Vec::new();
                }
            }
            notified.await;
        }
    }
}
