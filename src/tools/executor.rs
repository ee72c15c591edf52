//! What executing a tool means: the [`ToolExecutor`] each kind of tool implements, the
//! [`ToolContext`] a call gets, its [`ToolOutcome`], and the [`AgentCaller`] seam through
//! which a tool reaches another agent.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use crate::schemas::letta_message::LettaMessage;
use crate::schemas::message::MessageCreate;
use crate::schemas::org::Actor;
use crate::schemas::tool::Tool;
use crate::services::ServiceResult;
use crate::state::AppState;
use crate::store::RelationSet;

/// What a tool call produced: the text the model reads back, and whether it succeeded.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutcome {
    pub ok: bool,
    pub message: String,
    pub stdout: Option<Vec<String>>,
    pub stderr: Option<Vec<String>>,
    /// The call changed a memory block (the system prompt must be rebuilt).
    pub memory_changed: bool,
}

impl ToolOutcome {
    pub fn ok(message: impl Into<String>) -> Self {
        ToolOutcome {
            ok: true,
            message: message.into(),
            stdout: None,
            stderr: None,
            memory_changed: false,
        }
    }

    pub fn error(message: impl Into<String>) -> Self {
        ToolOutcome {
            ok: false,
            ..ToolOutcome::ok(message)
        }
    }

    pub fn memory_edit(message: impl Into<String>) -> Self {
        ToolOutcome {
            memory_changed: true,
            ..ToolOutcome::ok(message)
        }
    }
}

/// Runs another agent's turn for a tool (the multi-agent tools) without the tools layer
/// importing the runtime: the dispatcher implements it, so the callee's turn is a run of
/// its own with its own turn lock.
#[async_trait]
pub trait AgentCaller: Send + Sync {
    /// Sends `messages` to `agent_id` and waits for its turn to end; answers with the
    /// messages the turn produced.
    async fn send_message(
        &self,
        actor: &Actor,
        agent_id: &str,
        messages: Vec<MessageCreate>,
    ) -> ServiceResult<Vec<LettaMessage>>;
}

/// Everything a tool call may need: the resources, who acts, on which agent, the agent's
/// tool environment (loaded on first use) and a way to call other agents.
pub struct ToolContext<'a> {
    pub state: &'a AppState,
    pub actor: &'a Actor,
    pub agent_id: &'a str,
    pub caller: Option<&'a dyn AgentCaller>,
    env: OnceCell<BTreeMap<String, String>>,
}

impl<'a> ToolContext<'a> {
    pub fn new(
        state: &'a AppState,
        actor: &'a Actor,
        agent_id: &'a str,
        caller: Option<&'a dyn AgentCaller>,
    ) -> Self {
        ToolContext {
            state,
            actor,
            agent_id,
            caller,
            env: OnceCell::new(),
        }
    }

    /// The agent's `tool_exec_environment_variables`, read once per context: only tools
    /// that run user code need them, so a turn of built-in tools never loads them.
    pub async fn environment(&self) -> ServiceResult<&BTreeMap<String, String>> {
        self.env
            .get_or_try_init(|| async {
                let ids = [self.agent_id.to_owned()];
                let which = RelationSet {
                    env_vars: true,
                    ..RelationSet::NONE
                };
                let mut relations = self.state.store.load_relations(&ids, which).await?;
                let vars = relations
                    .remove(self.agent_id)
                    .map(|r| r.env_vars)
                    .unwrap_or_default();
                Ok(vars.into_iter().map(|v| (v.key, v.value)).collect())
            })
            .await
    }
}

/// Executes the tools of one kind.
#[async_trait]
pub trait ToolExecutor: Send + Sync {
    async fn execute(
        &self,
        ctx: &ToolContext<'_>,
        tool: &Tool,
        args: &Map<String, Value>,
    ) -> ToolOutcome;
}
