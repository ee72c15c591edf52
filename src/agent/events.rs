//! What a turn tells whoever runs it while it runs: messages as they are produced, stop
//! reasons, usage. The turn knows nothing of SSE or of who listens; the dispatcher's sink
//! renders frames for a client, a group manager can tag and forward, a test can collect.

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::schemas::letta_message::{LettaMessage, LettaUsageStatistics, StopReasonType};
use crate::tools::executor::AgentCaller;

/// One thing a turn reports.
#[derive(Debug, Clone)]
pub enum TurnEvent {
    /// A message (or a token-streaming increment of one).
    Message(LettaMessage),
    /// Why the turn stopped, announced mid-stream (a failed or invalid model answer).
    Stop(StopReasonType),
    /// Token usage so far.
    Usage(LettaUsageStatistics),
}

/// Where a turn's events go.
pub trait TurnSink: Send + Sync {
    fn emit(&self, event: TurnEvent);
}

/// A sink that keeps every event (tests, background runs that only need the outcome).
#[derive(Debug, Default)]
pub struct CollectingSink {
    events: Mutex<Vec<TurnEvent>>,
}

impl CollectingSink {
    pub fn events(&self) -> Vec<TurnEvent> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl TurnSink for CollectingSink {
    fn emit(&self, event: TurnEvent) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event);
    }
}

/// How a turn shows its progress while it runs (spec §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamMode {
    /// Nothing is emitted; the caller answers with the finished turn.
    Off,
    /// Each step's messages are emitted once the step is persisted.
    Steps,
    /// The model's answer is emitted token by token, then each tool's result.
    Tokens,
}

/// The run a turn executes under: the run record's id (steps point at it, and a cancel
/// recorded there stops the turn), its cancellation signal, and where its events go.
pub struct RunContext {
    pub run_id: String,
    pub cancel: CancellationToken,
    pub mode: StreamMode,
    pub sink: Arc<dyn TurnSink>,
    /// How the turn's tools reach other agents.
    pub caller: Option<Arc<dyn AgentCaller>>,
    /// The group the turn runs in: its messages carry this `group_id`, and its assistant
    /// messages the agent's name.
    pub group_id: Option<String>,
    /// How long to wait for the agent's turn lock before answering that it is busy (`None`:
    /// wait as long as it takes).
    pub lock_wait: Option<std::time::Duration>,
    /// Tool rules replacing the agent's own for this turn only (a supervisor's).
    pub tool_rules: Option<Vec<crate::schemas::tool_rule::ToolRule>>,
}

impl RunContext {
    /// A context with no group, no bounded wait and the agent's own rules.
    pub fn new(
        run_id: String,
        cancel: CancellationToken,
        mode: StreamMode,
        sink: Arc<dyn TurnSink>,
        caller: Option<Arc<dyn AgentCaller>>,
    ) -> Self {
        RunContext {
            run_id,
            cancel,
            mode,
            sink,
            caller,
            group_id: None,
            lock_wait: None,
            tool_rules: None,
        }
    }
}

/// A sink that forgets everything (turns whose events nobody follows).
#[derive(Debug, Default)]
pub struct NullSink;

impl TurnSink for NullSink {
    fn emit(&self, _event: TurnEvent) {}
}
