// Shared by both backends through `include!`.

#[async_trait::async_trait]
impl super::ToolStore for SqlStore {
    async fn upsert_tools_by_name(&self, tools: &[Tool]) -> StoreResult<Vec<Tool>> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn get_tool(&self, org_id: &str, tool_id: &str) -> StoreResult<Option<Tool>> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn list_tools(
        &self,
        org_id: &str,
        after: Option<&str>,
        limit: Option<i64>,
        name: Option<&str>,
    ) -> StoreResult<Vec<Tool>> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn count_tools(&self, org_id: &str, exclude_names: &[&str]) -> StoreResult<i64> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn tools_by_names(&self, org_id: &str, names: &[String]) -> StoreResult<Vec<Tool>> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn tools_by_ids(&self, org_id: &str, ids: &[String]) -> StoreResult<Vec<Tool>> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn attach_tool(&self, agent_id: &str, tool_id: &str) -> StoreResult<()> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn detach_tool(&self, agent_id: &str, tool_id: &str) -> StoreResult<()> {
        Err(StoreError::Database("not implemented yet".into()))
    }
}
