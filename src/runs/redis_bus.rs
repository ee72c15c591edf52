//! The Redis side of the run hub: the agent → active-run key (the original's format), a
//! cancellation channel every replica listens to, and one Redis stream of SSE frames per
//! run so that any replica can replay and follow a run executing elsewhere.
//!
//! Redis is a helper, never a dependency of a request: every call has a deadline, and once a
//! call fails for want of Redis the bus is *degraded* — calls are skipped at once (the hub
//! falls back to what this process knows) until a background probe gets an answer again.
//! The outage and the recovery are each logged once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::streams::{StreamRangeReply, StreamReadOptions, StreamReadReply};
use tokio::sync::{mpsc, watch};

use super::{Frame, RunHub};

const CANCEL_CHANNEL: &str = "letta:run_cancel";
/// How long a run's events stay in Redis after its last event.
const EVENTS_TTL_SECS: i64 = 3600;
/// How often the health of Redis is probed (and, when degraded, a reconnection tried).
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How long a run's unsent events wait for Redis to come back before they are dropped.
const APPEND_GIVE_UP: Duration = Duration::from_secs(300);
/// How long a remote reader blocks on a run's stream per call.
pub const READ_BLOCK: Duration = Duration::from_secs(2);

fn active_key(agent_id: &str) -> String {
    format!("agent:send_message:run_id:{agent_id}")
}

fn events_key(run_id: &str) -> String {
    format!("letta:run_events:{run_id}")
}

/// Why a Redis call gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("not a valid Redis URL: {0}")]
    InvalidUrl(redis::RedisError),
    /// Skipped: Redis failed recently and has not answered a probe since.
    #[error("Redis is unavailable (this replica is running without it)")]
    Degraded,
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Redis(#[from] redis::RedisError),
}

/// Whether a failure means Redis is out of reach (rather than a command being refused).
fn is_outage(err: &redis::RedisError) -> bool {
    err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_unrecoverable_error()
}

/// A handle on Redis shared by the hub and its background tasks; cheap to clone.
#[derive(Clone)]
pub struct RedisBus {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    /// The connection, replaced by the probe after an outage; `None` until a first success
    /// when started degraded.
    conn: Mutex<Option<ConnectionManager>>,
    timeout: Duration,
    redacted_url: String,
    up: AtomicBool,
    /// Counts recoveries: listeners re-subscribe on a fresh connection when it moves.
    recoveries: watch::Sender<u64>,
    /// Active-run keys that could not be written while Redis was down; written on recovery
    /// so other replicas cancel the right run.
    unsent_active: Mutex<HashMap<String, String>>,
}

/// Frames a remote reader got, and whether the run's log has ended.
#[derive(Debug, Default)]
pub struct RemoteBatch {
    pub frames: Vec<(u64, Frame)>,
    pub ended: bool,
}

enum Op {
    Append(u64, Frame),
    Close(u64),
}

impl Op {
    fn seq(&self) -> u64 {
        match self {
            Op::Append(seq, _) | Op::Close(seq) => *seq,
        }
    }
}

/// Appends one run's frames to its Redis stream, in order, from a background task.
pub struct Appender {
    tx: mpsc::UnboundedSender<Op>,
}

impl Appender {
    pub(super) fn append(&self, seq: u64, frame: Frame) {
        let _ = self.tx.send(Op::Append(seq, frame));
    }

    pub(super) fn close(&self, seq: u64) {
        let _ = self.tx.send(Op::Close(seq));
    }
}

fn manager_config(timeout: Duration) -> ConnectionManagerConfig {
    // One attempt per (re)connection: the probe retries, on its own schedule, so no caller
    // ever waits on a reconnection loop.
    ConnectionManagerConfig::new()
        .set_connection_timeout(timeout)
        .set_response_timeout(timeout)
        .set_number_of_retries(0)
}

async fn open_manager(
    client: &redis::Client,
    timeout: Duration,
) -> Result<ConnectionManager, BusError> {
    // The outer deadline also covers what the connection timeout does not (DNS, handshake).
    match tokio::time::timeout(
        timeout,
        ConnectionManager::new_with_config(client.clone(), manager_config(timeout)),
    )
    .await
    {
        Ok(conn) => Ok(conn?),
        Err(_) => Err(BusError::Timeout(timeout)),
    }
}

impl RedisBus {
    /// Connects within `connect_timeout`. With `optional`, a failure is logged and the bus
    /// starts degraded, reconnecting in the background. Calls while serving take at most
    /// `timeout`.
    pub async fn connect(
        url: &str,
        connect_timeout: Duration,
        timeout: Duration,
        optional: bool,
    ) -> Result<Self, BusError> {
        let redacted_url = crate::config::redact_url(url);
        tracing::info!(url = %redacted_url, timeout = ?connect_timeout, "connecting to Redis");
        let client = redis::Client::open(url).map_err(BusError::InvalidUrl)?;
        let conn = match open_manager(&client, connect_timeout).await {
            Ok(conn) => {
                let mut probe = conn.clone();
                match tokio::time::timeout(connect_timeout, ping(&mut probe)).await {
                    Ok(Ok(())) => Some(conn),
                    Ok(Err(err)) if !optional => return Err(err.into()),
                    Err(_) if !optional => return Err(BusError::Timeout(connect_timeout)),
                    _ => None,
                }
            }
            Err(err) if !optional => return Err(err),
            Err(err) => {
                tracing::warn!(url = %redacted_url, error = %err,
                    "Redis is unreachable: starting degraded (runs tracked in this process only); retrying in the background");
                None
            }
        };
        let up = conn.is_some();
        let bus = RedisBus {
            inner: Arc::new(Inner {
                client,
                conn: Mutex::new(conn),
                timeout,
                redacted_url,
                up: AtomicBool::new(up),
                recoveries: watch::channel(0).0,
                unsent_active: Mutex::default(),
            }),
        };
        bus.spawn_probe();
        Ok(bus)
    }

    /// Whether Redis answered its last call or probe.
    pub fn is_up(&self) -> bool {
        self.inner.up.load(Ordering::Acquire)
    }

    fn conn(&self) -> Option<ConnectionManager> {
        self.inner
            .conn
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn mark_down(&self, cause: &dyn std::fmt::Display) {
        if self.inner.up.swap(false, Ordering::AcqRel) {
            tracing::warn!(url = %self.inner.redacted_url, error = %cause,
                "Redis is unreachable: degraded, runs are tracked and cancelled on this replica only until it answers again");
        }
    }

    fn mark_up(&self, conn: Option<ConnectionManager>) {
        if let Some(conn) = conn {
            *self.inner.conn.lock().unwrap_or_else(|e| e.into_inner()) = Some(conn);
        }
        if !self.inner.up.swap(true, Ordering::AcqRel) {
            tracing::info!(url = %self.inner.redacted_url,
                "Redis answers again: runs are shared across replicas again");
            self.inner.recoveries.send_modify(|n| *n += 1);
            self.resend_active();
        }
    }

    /// One Redis call with a deadline; skipped at once while degraded. A failure for want
    /// of Redis degrades the bus.
    async fn call<T, F, Fut>(&self, op: F) -> Result<T, BusError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let conn = match self.conn() {
            Some(conn) if self.is_up() => conn,
            _ => return Err(BusError::Degraded),
        };
        match tokio::time::timeout(self.inner.timeout, op(conn)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => {
                if is_outage(&err) {
                    self.mark_down(&err);
                }
                Err(err.into())
            }
            Err(_) => {
                let err = BusError::Timeout(self.inner.timeout);
                self.mark_down(&err);
                Err(err)
            }
        }
    }

    /// Checks Redis every [`PROBE_EVERY`] for as long as the bus lives: a failed check
    /// degrades it (so an idle replica notices an outage too), a successful one after an
    /// outage restores it — on a fresh connection, never waiting on a dead one.
    fn spawn_probe(&self) {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                let Some(inner) = weak.upgrade() else { return };
                let bus = RedisBus { inner };
                if bus.is_up() {
                    let _ = bus.call(|mut c| async move { ping(&mut c).await }).await;
                    continue;
                }
                let timeout = bus.inner.timeout;
                let fresh = match open_manager(&bus.inner.client, timeout).await {
                    Ok(conn) => conn,
                    Err(err) => {
                        tracing::debug!(error = %err, "Redis still unreachable");
                        continue;
                    }
                };
                let mut probe = fresh.clone();
                if let Ok(Ok(())) = tokio::time::timeout(timeout, ping(&mut probe)).await {
                    bus.mark_up(Some(fresh));
                }
            }
        });
    }

    /// Writes the active-run keys recorded while Redis was down.
    fn resend_active(&self) {
        let unsent = std::mem::take(
            &mut *self
                .inner
                .unsent_active
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        if unsent.is_empty() {
            return;
        }
        let bus = self.clone();
        tokio::spawn(async move {
            for (agent_id, run_id) in unsent {
                if let Err(err) = bus.set_active(&agent_id, &run_id).await {
                    tracing::debug!(%agent_id, error = %err, "active run not written to Redis");
                }
            }
        });
    }

    pub(super) async fn set_active(&self, agent_id: &str, run_id: &str) -> Result<(), BusError> {
        let key = active_key(agent_id);
        let value = run_id.to_owned();
        let result = self
            .call(|mut c| async move { c.set::<_, _, ()>(key, value).await })
            .await;
        if result.is_err() {
            self.inner
                .unsent_active
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(agent_id.to_owned(), run_id.to_owned());
        }
        result
    }

    pub(super) async fn active(&self, agent_id: &str) -> Result<Option<String>, BusError> {
        let key = active_key(agent_id);
        self.call(|mut c| async move { c.get(key).await }).await
    }

    pub(super) async fn publish_cancel(&self, run_id: &str) -> Result<(), BusError> {
        let run_id = run_id.to_owned();
        self.call(|mut c| async move { c.publish::<_, _, ()>(CANCEL_CHANNEL, run_id).await })
            .await
    }

    /// Follows the cancellation channel for as long as the hub lives: reconnects after
    /// errors, and re-subscribes on a fresh connection after every outage (a connection that
    /// lived through one may be silently dead).
    pub(super) fn listen_for_cancels(&self, hub: Weak<RunHub>) {
        let weak = Arc::downgrade(&self.inner);
        let mut recoveries = self.inner.recoveries.subscribe();
        tokio::spawn(async move {
            use futures_util::StreamExt;
            let mut backoff = Duration::from_millis(200);
            loop {
                if hub.strong_count() == 0 {
                    return;
                }
                let Some(inner) = weak.upgrade() else { return };
                let (client, timeout) = (inner.client.clone(), inner.timeout);
                drop(inner);
                recoveries.mark_unchanged();
                let subscribed = tokio::time::timeout(timeout, async {
                    let mut pubsub = client.get_async_pubsub().await?;
                    pubsub.subscribe(CANCEL_CHANNEL).await?;
                    Ok::<_, redis::RedisError>(pubsub)
                })
                .await;
                match subscribed {
                    Ok(Ok(mut pubsub)) => {
                        backoff = Duration::from_millis(200);
                        let mut messages = pubsub.on_message();
                        loop {
                            tokio::select! {
                                msg = messages.next() => {
                                    let Some(msg) = msg else { break };
                                    let Some(hub) = hub.upgrade() else { return };
                                    if let Ok(run_id) = msg.get_payload::<String>() {
                                        hub.cancel_local(&run_id);
                                    }
                                }
                                changed = recoveries.changed() => {
                                    if changed.is_err() {
                                        return;
                                    }
                                    break;
                                }
                            }
                        }
                    }
                    Ok(Err(err)) => {
                        tracing::debug!(error = %err, "cannot subscribe to run cancellations");
                    }
                    Err(_) => tracing::debug!("subscribing to run cancellations timed out"),
                }
                // Back off, but come back at once when Redis recovers.
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    changed = recoveries.changed() => {
                        if changed.is_err() {
                            return;
                        }
                    }
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
    }

    /// Starts the writer of one run's Redis stream. Frames that cannot be written while
    /// Redis is down are kept and written, in order, when it answers again, so a reader on
    /// another replica gets the whole run.
    pub(super) fn appender(&self, run_id: &str) -> Appender {
        let (tx, rx) = mpsc::unbounded_channel::<Op>();
        tokio::spawn(run_appender(self.clone(), events_key(run_id), rx));
        Appender { tx }
    }

    /// Writes `ops` to the stream `key` in one round trip.
    async fn append(&self, key: &str, ops: &[Op], set_expiry: bool) -> Result<(), BusError> {
        let mut pipe = redis::pipe();
        for op in ops {
            let cmd = pipe.cmd("XADD").arg(key).arg(format!("0-{}", op.seq()));
            match op {
                Op::Append(_, frame) => cmd.arg("f").arg(frame.as_bytes()).ignore(),
                Op::Close(_) => cmd.arg("end").arg(1).ignore(),
            };
        }
        if set_expiry {
            pipe.cmd("EXPIRE").arg(key).arg(EVENTS_TTL_SECS).ignore();
        }
        self.call(|mut c| async move { pipe.query_async::<()>(&mut c).await })
            .await
    }

    /// The sequence number of the last entry of the stream `key` (0 when there is none).
    async fn last_seq(&self, key: &str) -> Result<u64, BusError> {
        let key = key.to_owned();
        let reply: StreamRangeReply = self
            .call(|mut c| async move { c.xrevrange_count(key, "+", "-", 1).await })
            .await?;
        Ok(reply.ids.first().map_or(0, |entry| seq_of(&entry.id)))
    }

    /// Whether Redis holds events for the run.
    pub(super) async fn has_events(&self, run_id: &str) -> Result<bool, BusError> {
        let key = events_key(run_id);
        self.call(|mut c| async move { c.exists(key).await }).await
    }

    /// A reader of a run's stream, on a connection of its own (it blocks on the stream).
    pub(super) async fn reader(&self, run_id: &str) -> Result<RemoteReader, BusError> {
        if !self.is_up() {
            return Err(BusError::Degraded);
        }
        let timeout = self.inner.timeout;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(READ_BLOCK + timeout);
        let conn = match tokio::time::timeout(
            timeout,
            self.inner
                .client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await
        {
            Ok(Ok(conn)) => conn,
            Ok(Err(err)) => {
                if is_outage(&err) {
                    self.mark_down(&err);
                }
                return Err(err.into());
            }
            Err(_) => {
                let err = BusError::Timeout(timeout);
                self.mark_down(&err);
                return Err(err);
            }
        };
        Ok(RemoteReader {
            bus: self.clone(),
            conn,
            key: events_key(run_id),
        })
    }
}

async fn ping(conn: &mut ConnectionManager) -> redis::RedisResult<()> {
    redis::cmd("PING").query_async::<String>(conn).await?;
    Ok(())
}

fn seq_of(id: &str) -> u64 {
    id.split_once('-')
        .and_then(|(_, s)| s.parse::<u64>().ok())
        .unwrap_or(0)
}

async fn run_appender(bus: RedisBus, key: String, mut rx: mpsc::UnboundedReceiver<Op>) {
    let mut pending: Vec<Op> = Vec::new();
    let mut expiry_set = false;
    // Set while writes fail: when they resume, what Redis already has is skipped (a batch
    // may have been written just before its answer was lost).
    let mut failing_since: Option<tokio::time::Instant> = None;
    loop {
        if pending.is_empty() {
            match rx.recv().await {
                Some(op) => pending.push(op),
                None => return,
            }
        }
        // Everything already queued goes out in one round trip.
        while let Ok(more) = rx.try_recv() {
            pending.push(more);
        }
        if let Some(since) = failing_since {
            if since.elapsed() > APPEND_GIVE_UP {
                tracing::warn!(key = %key, frames = pending.len(),
                    "Redis stayed unavailable: this run's events are not shared with other replicas");
                return;
            }
            if !bus.is_up() {
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            match bus.last_seq(&key).await {
                Ok(last) => pending.retain(|op| op.seq() > last),
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
            }
        }
        let closes = pending.iter().any(|op| matches!(op, Op::Close(_)));
        match bus.append(&key, &pending, !expiry_set || closes).await {
            Ok(()) => {
                pending.clear();
                expiry_set = true;
                failing_since = None;
                if closes {
                    return;
                }
            }
            Err(err) => {
                if failing_since.is_none() {
                    tracing::debug!(key = %key, error = %err, "run events not appended to Redis yet");
                    failing_since = Some(tokio::time::Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

/// Reads one run's Redis stream from another replica.
pub struct RemoteReader {
    bus: RedisBus,
    conn: MultiplexedConnection,
    key: String,
}

impl RemoteReader {
    /// Frames after sequence number `after`, waiting up to [`READ_BLOCK`] for some.
    pub async fn read_after(&mut self, after: u64) -> Result<RemoteBatch, BusError> {
        if !self.bus.is_up() {
            return Err(BusError::Degraded);
        }
        let opts = StreamReadOptions::default()
            .block(READ_BLOCK.as_millis() as usize)
            .count(512);
        let deadline = READ_BLOCK + self.bus.inner.timeout;
        let read = tokio::time::timeout(
            deadline,
            self.conn.xread_options::<_, _, Option<StreamReadReply>>(
                &[&self.key],
                &[format!("0-{after}")],
                &opts,
            ),
        )
        .await;
        let reply = match read {
            Ok(Ok(reply)) => reply,
            Ok(Err(err)) => {
                if is_outage(&err) {
                    self.bus.mark_down(&err);
                }
                return Err(err.into());
            }
            Err(_) => {
                let err = BusError::Timeout(deadline);
                self.bus.mark_down(&err);
                return Err(err);
            }
        };
        let mut batch = RemoteBatch::default();
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in key.ids {
                if entry.map.contains_key("end") {
                    batch.ended = true;
                    continue;
                }
                let seq = seq_of(&entry.id);
                if let Some(frame) = entry.get::<String>("f") {
                    batch.frames.push((seq, Frame::from(frame)));
                }
            }
        }
        Ok(batch)
    }
}
