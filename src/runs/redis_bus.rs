//! The Redis side of the run hub: the agent → active-run key (the original's format), a
//! cancellation channel every replica listens to, and one Redis stream of SSE frames per
//! run so that any replica can replay and follow a run executing elsewhere.

use std::sync::Weak;
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use redis::streams::{StreamReadOptions, StreamReadReply};
use tokio::sync::mpsc;

use super::{Frame, RunHub};

const CANCEL_CHANNEL: &str = "letta:run_cancel";
/// How long a run's events stay in Redis after its last event.
const EVENTS_TTL_SECS: i64 = 3600;

fn active_key(agent_id: &str) -> String {
    format!("agent:send_message:run_id:{agent_id}")
}

fn events_key(run_id: &str) -> String {
    format!("letta:run_events:{run_id}")
}

#[derive(Clone)]
pub struct RedisBus {
    client: redis::Client,
    conn: ConnectionManager,
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

impl RedisBus {
    pub async fn connect(url: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client.clone()).await?;
        Ok(RedisBus { client, conn })
    }

    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").query_async::<String>(&mut conn).await?;
        Ok(())
    }

    pub(super) async fn set_active(
        &self,
        agent_id: &str,
        run_id: &str,
    ) -> Result<(), redis::RedisError> {
        let mut conn = self.conn.clone();
        conn.set::<_, _, ()>(active_key(agent_id), run_id).await
    }

    pub(super) async fn active(&self, agent_id: &str) -> Result<Option<String>, redis::RedisError> {
        let mut conn = self.conn.clone();
        conn.get(active_key(agent_id)).await
    }

    pub(super) async fn publish_cancel(&self, run_id: &str) -> Result<(), redis::RedisError> {
        let mut conn = self.conn.clone();
        conn.publish::<_, _, ()>(CANCEL_CHANNEL, run_id).await
    }

    /// Follows the cancellation channel for as long as the hub lives, reconnecting after
    /// errors.
    pub(super) fn listen_for_cancels(&self, hub: Weak<RunHub>) {
        let client = self.client.clone();
        tokio::spawn(async move {
            use futures_util::StreamExt;
            let mut backoff = Duration::from_millis(200);
            loop {
                if hub.strong_count() == 0 {
                    return;
                }
                match client.get_async_pubsub().await {
                    Ok(mut pubsub) => {
                        if let Err(err) = pubsub.subscribe(CANCEL_CHANNEL).await {
                            tracing::warn!(error = %err, "could not subscribe to run cancellations");
                        } else {
                            backoff = Duration::from_millis(200);
                            let mut messages = pubsub.on_message();
                            while let Some(msg) = messages.next().await {
                                let Some(hub) = hub.upgrade() else { return };
                                if let Ok(run_id) = msg.get_payload::<String>() {
                                    hub.cancel_local(&run_id);
                                }
                            }
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot reach Redis for run cancellations");
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
    }

    /// Starts the writer of one run's Redis stream.
    pub(super) fn appender(&self, run_id: &str) -> Appender {
        let (tx, mut rx) = mpsc::unbounded_channel::<Op>();
        let key = events_key(run_id);
        let mut conn = self.conn.clone();
        tokio::spawn(async move {
            let mut first = true;
            while let Some(op) = rx.recv().await {
                // Everything already queued goes out in one round trip.
                let mut ops = vec![op];
                while let Ok(more) = rx.try_recv() {
                    ops.push(more);
                }
                let mut pipe = redis::pipe();
                let mut closed = false;
                for op in ops {
                    match op {
                        Op::Append(seq, frame) => {
                            pipe.cmd("XADD")
                                .arg(&key)
                                .arg(format!("0-{seq}"))
                                .arg("f")
                                .arg(frame.as_bytes())
                                .ignore();
                        }
                        Op::Close(seq) => {
                            pipe.cmd("XADD")
                                .arg(&key)
                                .arg(format!("0-{seq}"))
                                .arg("end")
                                .arg(1)
                                .ignore();
                            closed = true;
                        }
                    }
                }
                if first || closed {
                    pipe.cmd("EXPIRE").arg(&key).arg(EVENTS_TTL_SECS).ignore();
                    first = false;
                }
                if let Err(err) = pipe.query_async::<()>(&mut conn).await {
                    tracing::warn!(key = %key, error = %err, "could not append run events to Redis");
                }
                if closed {
                    return;
                }
            }
        });
        Appender { tx }
    }

    /// A dedicated connection for a reader that blocks on the stream.
    pub async fn reader(&self) -> Result<redis::aio::MultiplexedConnection, redis::RedisError> {
        self.client.get_multiplexed_async_connection().await
    }

    /// Whether Redis holds events for the run.
    pub async fn has_events(&self, run_id: &str) -> Result<bool, redis::RedisError> {
        let mut conn = self.conn.clone();
        conn.exists(events_key(run_id)).await
    }

    /// Frames after sequence number `after`, waiting up to `block` for some to arrive.
    pub async fn read_after(
        conn: &mut redis::aio::MultiplexedConnection,
        run_id: &str,
        after: u64,
        block: Duration,
    ) -> Result<RemoteBatch, redis::RedisError> {
        let opts = StreamReadOptions::default()
            .block(block.as_millis() as usize)
            .count(512);
        let reply: Option<StreamReadReply> = conn
            .xread_options(&[events_key(run_id)], &[format!("0-{after}")], &opts)
            .await?;
        let mut batch = RemoteBatch::default();
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in key.ids {
                let seq = entry
                    .id
                    .split_once('-')
                    .and_then(|(_, s)| s.parse::<u64>().ok())
                    .unwrap_or(0);
                if entry.map.contains_key("end") {
                    batch.ended = true;
                    continue;
                }
                if let Some(frame) = entry.get::<String>("f") {
                    batch.frames.push((seq, Frame::from(frame)));
                }
            }
        }
        Ok(batch)
    }
}
