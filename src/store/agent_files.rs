//! The agent-file import contract (SQL in `sql/agent_files.rs`): everything an agent file
//! creates, written in one transaction so a file that fails half-way leaves nothing behind.

use async_trait::async_trait;

use super::{NewAgent, StoreResult};
use crate::replica::ReplicaId;
use crate::schemas::block::Block;
use crate::schemas::file::{FileAgent, FileMetadata};
use crate::schemas::group::Group;
use crate::schemas::mcp::McpServer;
use crate::schemas::source::Source;
use crate::schemas::tool::Tool;

/// One agent of an import: the agent as created, the names of its tools (resolved to ids
/// inside the transaction, after the tools are written), its sources and its files.
#[derive(Debug, Clone)]
pub struct ImportedAgent {
    /// `agent.tool_ids` is ignored: the tools are `tool_names`.
    pub agent: NewAgent,
    pub tool_names: Vec<String>,
    /// Sources to attach (ids of the bundle's or the organization's sources), in order.
    pub source_ids: Vec<String>,
    /// The agent's files in context (rows of `files_agents`), written as they are.
    pub files: Vec<FileAgent>,
}

/// A file of an import with its text (`None`: the file has none).
#[derive(Debug, Clone)]
pub struct ImportedFile {
    pub file: FileMetadata,
    pub content: Option<String>,
}

/// What an agent file writes.
#[derive(Debug, Clone, Default)]
pub struct ImportBundle {
    pub organization_id: String,
    /// MCP servers, written first: each creates the organization's server of its name, or
    /// overwrites that server's settings in place (keeping its id).
    pub mcp_servers: Vec<McpServer>,
    /// Tools to write: each creates the organization's tool of its name or overwrites it in
    /// place (keeping its id).
    pub tools: Vec<Tool>,
    /// Blocks shared by the agents (v2 files), created before the agents that attach them.
    pub blocks: Vec<Block>,
    /// New sources; a name the organization already uses is `Unique`.
    pub sources: Vec<Source>,
    /// New files of `sources`, with their text.
    pub files: Vec<ImportedFile>,
    /// The replica that will ingest `files` (recorded on them, as on an upload).
    pub replica: Option<ReplicaId>,
    pub agents: Vec<ImportedAgent>,
    /// Groups of the imported agents, written after them.
    pub groups: Vec<Group>,
}

#[async_trait]
pub trait AgentFileStore {
    /// Writes the bundle in one transaction: MCP servers, tools, blocks, sources, files,
    /// each agent with its links, tags, variables, messages, sources and files in context,
    /// then the groups. A tool name that resolves to no tool is `Rejected`.
    async fn import_bundle(&self, bundle: &ImportBundle) -> StoreResult<()>;
}
