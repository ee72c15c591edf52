//! MCP servers of an organization (SQL in `sql/mcp_servers.rs`).

use async_trait::async_trait;

use super::StoreResult;
use crate::schemas::mcp::McpServer;

#[async_trait]
pub trait McpServerStore {
    /// Inserts the server; `Unique` when its organization has a server of that name.
    async fn create_mcp_server(&self, server: &McpServer) -> StoreResult<McpServer>;
    async fn get_mcp_server_by_name(
        &self,
        org_id: &str,
        server_name: &str,
    ) -> StoreResult<Option<McpServer>>;
    /// The organization's servers ordered by (created_at, id).
    async fn list_mcp_servers(&self, org_id: &str) -> StoreResult<Vec<McpServer>>;
    /// Overwrites name, URL, authentication, headers, stdio settings and last editor of the
    /// organization's server with `server.id` (`updated_at` moves); `None` when there is
    /// none. `Unique` when the new name is taken.
    async fn update_mcp_server(&self, server: &McpServer) -> StoreResult<Option<McpServer>>;
    /// False when the organization has no such server.
    async fn delete_mcp_server(&self, org_id: &str, id: &str) -> StoreResult<bool>;
}
