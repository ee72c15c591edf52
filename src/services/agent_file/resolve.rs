//! The steps of an import that read the organization, between planning and writing: MCP
//! servers (created or updated by name), the servers of MCP tools, unique source names, and
//! the identities an agent may keep. Nothing here writes.

use std::collections::{HashMap, HashSet};

use serde_json::Map;

use super::plan::{FileTool, Plan};
use super::{AgentFileService, FileResult, invalid};
use crate::schemas::mcp::{McpServer, mcp_tool_server};
use crate::schemas::org::Actor;
use crate::schemas::tool::ToolType;
use crate::services::ServiceError;
use crate::services::mcp_servers::label_mcp_tool;

/// The server an MCP tool of a file names: its `mcp:<server>` tag, else its metadata.
fn file_tool_server(tool: &FileTool) -> Option<String> {
    mcp_tool_server(&tool.tags, tool.metadata.as_ref())
}

/// A source name that is not taken: `name`, else `name_` and eight random hex digits (as
/// later Letta renames a clashing source).
fn suffixed(name: &str) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{name}_{}", &hex[..8])
}

impl AgentFileService<'_> {
    /// The file's MCP servers as they will be written: each checked as `add_mcp_server`
    /// checks (a 422 naming the server, or the route's 400 while stdio is disabled), new or
    /// taking the place of the organization's server of its name.
    pub(super) async fn resolve_mcp_servers(
        &self,
        actor: &Actor,
        plan: &mut Plan,
    ) -> FileResult<Vec<McpServer>> {
        let mut servers = Vec::with_capacity(plan.mcp_servers.len());
        if plan.mcp_servers.is_empty() {
            return Ok(servers);
        }
        let mcp = &self.mcp;
        for config in std::mem::take(&mut plan.mcp_servers) {
            let name = config.server_name().to_owned();
            let server = mcp.for_import(actor, config).await.map_err(|e| match e {
                ServiceError::Validation { msg, .. } => {
                    invalid(format!("MCP server {name:?}: {msg}"))
                }
                other => other.into(),
            })?;
            servers.push(server);
        }
        Ok(servers)
    }

    /// Every MCP tool must name a server the file or the organization has (a 422 naming the
    /// tool and server otherwise); each is labelled as its server's tool.
    pub(super) async fn check_mcp_tools(
        &self,
        actor: &Actor,
        tools: &mut [FileTool],
        servers: &[McpServer],
    ) -> FileResult<()> {
        let mut known: HashSet<String> = servers.iter().map(|s| s.server_name.clone()).collect();
        for tool in tools.iter_mut() {
            if tool.tool_type != ToolType::ExternalMcp {
                continue;
            }
            let server = file_tool_server(tool).ok_or_else(|| {
                invalid(format!(
                    "tool {:?} is an MCP tool but names no MCP server (no \"mcp:<server>\" tag, no metadata_.mcp.server_name)",
                    tool.name
                ))
            })?;
            if !known.contains(&server) {
                if self
                    .store
                    .get_mcp_server_by_name(&actor.organization_id, &server)
                    .await?
                    .is_none()
                {
                    return Err(invalid(format!(
                        "tool {:?} uses MCP server {server:?}, which neither the file nor this organization has",
                        tool.name
                    )));
                }
                known.insert(server.clone());
            }
            let metadata = tool.metadata.get_or_insert_with(Map::new);
            label_mcp_tool(&mut tool.tags, metadata, &server);
        }
        Ok(())
    }

    /// Gives every source a name its organization does not use (a clash gets a random
    /// suffix), then names the files `<source>/<file>` and the agents' files likewise.
    pub(super) async fn settle_source_names(
        &self,
        actor: &Actor,
        plan: &mut Plan,
    ) -> FileResult<()> {
        let mut taken = HashSet::new();
        for source in &mut plan.sources {
            loop {
                let clash = taken.contains(&source.name)
                    || self
                        .store
                        .get_source_by_name(&actor.organization_id, &source.name)
                        .await?
                        .is_some();
                if !clash {
                    break;
                }
                source.name = suffixed(&source.name);
            }
            taken.insert(source.name.clone());
        }
        for planned in &mut plan.files {
            let bare = planned.file.file_name.take().unwrap_or_default();
            planned.file.file_name = Some(format!("{}/{bare}", plan.sources[planned.source].name));
        }
        for agent in &mut plan.agents {
            for fa in &mut agent.files {
                fa.row.file_name = plan.files[fa.file]
                    .file
                    .file_name
                    .clone()
                    .unwrap_or_default();
            }
        }
        Ok(())
    }

    /// Keeps the identity ids that name identities of the importing organization; the others
    /// (another server's, another organization's) are dropped.
    pub(super) async fn keep_known_identities(
        &self,
        actor: &Actor,
        plan: &mut Plan,
    ) -> FileResult<()> {
        let mut known: HashMap<String, bool> = HashMap::new();
        for planned in &mut plan.agents {
            let mut kept = Vec::new();
            for id in std::mem::take(&mut planned.agent.identity_ids) {
                let exists = match known.get(&id) {
                    Some(&exists) => exists,
                    None => {
                        let exists = self
                            .store
                            .get_identity(&actor.organization_id, &id)
                            .await?
                            .is_some();
                        known.insert(id.clone(), exists);
                        exists
                    }
                };
                if exists && !kept.contains(&id) {
                    kept.push(id);
                }
            }
            planned.agent.identity_ids = kept;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clashing_name_gets_eight_hex_digits() {
        let name = suffixed("handbook");
        let (base, hex) = name.split_at("handbook_".len());
        assert_eq!(base, "handbook_");
        assert_eq!(hex.len(), 8);
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
