// Shared by both backends through `include!`.

#[async_trait::async_trait]
impl super::AgentStore for SqlStore {
    async fn create_agent(&self, agent: &NewAgent) -> StoreResult<()> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn get_agent(&self, org_id: &str, agent_id: &str) -> StoreResult<Option<AgentRow>> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn list_agents(&self, org_id: &str, filter: &AgentFilter) -> StoreResult<Vec<AgentRow>> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn count_agents(&self, org_id: &str) -> StoreResult<i64> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn load_relations(
        &self,
        agent_ids: &[String],
        which: RelationSet,
    ) -> StoreResult<HashMap<String, AgentRelations>> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn update_agent(&self, org_id: &str, agent_id: &str, patch: &AgentPatch) -> StoreResult<bool> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn delete_agent(&self, org_id: &str, agent_id: &str) -> StoreResult<bool> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn agents_for_block(&self, org_id: &str, block_id: &str) -> StoreResult<Vec<AgentRow>> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn list_tags(
        &self,
        org_id: &str,
        after: Option<&str>,
        limit: Option<i64>,
        query_text: Option<&str>,
    ) -> StoreResult<Vec<String>> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn existing_agent_ids(&self, org_id: &str, ids: &[String]) -> StoreResult<Vec<String>> {
        Err(StoreError::Database("not implemented yet".into()))
    }
}
