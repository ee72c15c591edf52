//! The tools contract (SQL in `sql/tools.rs`).

use async_trait::async_trait;

use super::StoreResult;
use crate::schemas::tool::Tool;

#[async_trait]
pub trait ToolStore {
    /// Inserts each tool, or updates the organization's tool of the same name in place
    /// (keeping its id). Returns the stored tools in input order.
    async fn upsert_tools_by_name(&self, tools: &[Tool]) -> StoreResult<Vec<Tool>>;
    async fn get_tool(&self, org_id: &str, tool_id: &str) -> StoreResult<Option<Tool>>;
    /// Ordered by (created_at, id), strictly after the `after` tool when given.
    async fn list_tools(
        &self,
        org_id: &str,
        after: Option<&str>,
        limit: Option<i64>,
        name: Option<&str>,
    ) -> StoreResult<Vec<Tool>>;
    /// Tools of the organization, excluding those whose name is in `exclude_names`.
    async fn count_tools(&self, org_id: &str, exclude_names: &[&str]) -> StoreResult<i64>;
    async fn tools_by_names(&self, org_id: &str, names: &[String]) -> StoreResult<Vec<Tool>>;
    async fn tools_by_ids(&self, org_id: &str, ids: &[String]) -> StoreResult<Vec<Tool>>;
    /// Idempotent.
    async fn attach_tool(&self, agent_id: &str, tool_id: &str) -> StoreResult<()>;
    /// Detaching a tool that is not attached is a no-op.
    async fn detach_tool(&self, agent_id: &str, tool_id: &str) -> StoreResult<()>;
    /// Inserts a new tool; `Unique` when the organization already has a tool of that name.
    async fn create_tool(&self, tool: &Tool) -> StoreResult<Tool>;
    /// Overwrites the mutable fields (name, description, tags, source, schemas, limits,
    /// requirements, last editor) of the organization's tool with `tool.id`; `None` when
    /// there is none. `Unique` when the new name is taken.
    async fn update_tool(&self, tool: &Tool) -> StoreResult<Option<Tool>>;
    /// Hard-deletes the tool (its agent attachments go with it); false when there is none.
    async fn delete_tool(&self, org_id: &str, tool_id: &str) -> StoreResult<bool>;
}
