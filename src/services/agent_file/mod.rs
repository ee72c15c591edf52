//! Agent files (spec §8): export an agent as a portable JSON file and import such files.
//!
//! Export writes the v1 format Letta 0.8.12 writes (one agent, everything inline) unless the
//! agent belongs with entities v1 cannot carry (groups, sources, MCP servers: see
//! [`export`]); import reads v1 and the later multi-entity v2 format, sources, files, open
//! files and MCP servers included. An import is checked completely first (JSON, schema,
//! references, tool sources, MCP servers) and then written by one store call in one
//! transaction, so a bad file changes nothing; the imported files are ingested (chunked,
//! embedded) in the background after that commit.

mod export;
mod import;
mod plan;
mod resolve;
mod v1;
mod v2;
mod v2_sources;

use chrono::SecondsFormat;

pub use import::ImportOptions;

use super::ServiceError;
use super::files::FileService;
use super::mcp_servers::McpServerService;
use crate::sandbox::SharedSandbox;
use crate::schemas::Timestamp;
use crate::store::Store;

/// The version string written into v1 files: the Letta release whose format this is.
pub const AGENT_FILE_VERSION: &str = "0.8.12";

/// Exports and imports agent files for one organization's actor.
pub struct AgentFileService<'a> {
    store: &'a dyn Store,
    /// Derives and checks the schema of imported custom tools.
    sandbox: &'a SharedSandbox,
    /// Checks imported MCP servers as `add_mcp_server` does and drops the sessions of those
    /// an import changed.
    mcp: McpServerService<'a>,
    /// Records the replica on imported files and ingests them once they are written.
    files: FileService<'a>,
}

impl<'a> AgentFileService<'a> {
    pub fn new(
        store: &'a dyn Store,
        sandbox: &'a SharedSandbox,
        mcp: McpServerService<'a>,
        files: FileService<'a>,
    ) -> Self {
        AgentFileService {
            store,
            sandbox,
            mcp,
            files,
        }
    }
}

/// A timestamp as Python's `isoformat()` writes an aware UTC datetime (`+00:00`, microseconds
/// only when non-zero), the form agent files carry.
fn iso(ts: &Timestamp) -> String {
    let s = ts.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    // AutoSi writes nanosecond groups as needed; stored instants have at most microseconds.
    s.trim_end_matches('Z').to_owned() + "+00:00"
}

/// A timestamp read from a file: RFC 3339 or a naive ISO time taken as UTC.
fn parse_ts(what: &str, s: &str) -> FileResult<Timestamp> {
    crate::schemas::common::naive_utc::parse(s)
        .ok_or_else(|| invalid(format!("{what}: {s:?} is not an ISO 8601 timestamp")))
}

/// Why an agent file was refused or could not be written.
#[derive(Debug)]
pub enum AgentFileError {
    /// 422 `Invalid agent schema: …`: the file does not match the agent-file schema or
    /// refers to something it does not contain.
    Invalid(String),
    /// Any other failure, with its own status (400 for a tool source that does not parse,
    /// 404 for an unknown agent, 409 for a clash, …).
    Service(ServiceError),
}

impl From<ServiceError> for AgentFileError {
    fn from(err: ServiceError) -> Self {
        AgentFileError::Service(err)
    }
}

impl From<crate::store::StoreError> for AgentFileError {
    fn from(err: crate::store::StoreError) -> Self {
        AgentFileError::Service(err.into())
    }
}

pub type FileResult<T> = Result<T, AgentFileError>;

/// The 422 of a file that does not match the agent-file schema.
fn invalid(msg: impl std::fmt::Display) -> AgentFileError {
    AgentFileError::Invalid(format!("Invalid agent schema: {msg}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_writes_python_isoformat() {
        let ts = crate::schemas::common::naive_utc::parse("2025-07-01T10:00:00.123456Z").unwrap();
        assert_eq!(iso(&ts), "2025-07-01T10:00:00.123456+00:00");
        let ts = crate::schemas::common::naive_utc::parse("2025-07-01T10:00:00Z").unwrap();
        assert_eq!(iso(&ts), "2025-07-01T10:00:00+00:00");
        assert_eq!(parse_ts("x", "2025-07-01T10:00:00+00:00").unwrap(), ts);
        assert_eq!(parse_ts("x", "2025-07-01T10:00:00").unwrap(), ts);
        assert!(parse_ts("x", "yesterday").is_err());
    }
}
