//! The agent-file import contract (SQL in `sql/agent_files.rs`): everything an agent file
//! creates, written in one transaction so a file that fails half-way leaves nothing behind.

use async_trait::async_trait;

use super::{NewAgent, StoreResult};
use crate::schemas::block::Block;
use crate::schemas::group::Group;
use crate::schemas::tool::Tool;

/// One agent of an import: the agent as created, and the names of its tools (resolved to
/// ids inside the transaction, after the tools are written).
#[derive(Debug, Clone)]
pub struct ImportedAgent {
    /// `agent.tool_ids` is ignored: the tools are `tool_names`.
    pub agent: NewAgent,
    pub tool_names: Vec<String>,
}

/// What an agent file writes.
#[derive(Debug, Clone, Default)]
pub struct ImportBundle {
    pub organization_id: String,
    /// Tools to write: each creates the organization's tool of its name or overwrites it in
    /// place (keeping its id).
    pub tools: Vec<Tool>,
    /// Blocks shared by the agents (v2 files), created before the agents that attach them.
    pub blocks: Vec<Block>,
    pub agents: Vec<ImportedAgent>,
    /// Groups of the imported agents, written after them.
    pub groups: Vec<Group>,
}

#[async_trait]
pub trait AgentFileStore {
    /// Writes the bundle in one transaction: tools, blocks, each agent with its links, tags,
    /// variables and messages, then the groups. A tool name that resolves to no tool is `Rejected`.
    async fn import_bundle(&self, bundle: &ImportBundle) -> StoreResult<()>;
}
