// Shared by both backends through `include!`.

#[async_trait::async_trait]
impl super::BlockStore for SqlStore {
    async fn create_block(&self, block: &Block) -> StoreResult<()> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn get_block(&self, org_id: &str, block_id: &str) -> StoreResult<Option<Block>> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn list_blocks(&self, org_id: &str, filter: &BlockFilter) -> StoreResult<Vec<Block>> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn count_blocks(&self, org_id: &str) -> StoreResult<i64> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn update_block(&self, org_id: &str, block: &Block, check: BlockCheck<'_>) -> StoreResult<bool> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn delete_block(&self, org_id: &str, block_id: &str) -> StoreResult<Option<Block>> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn attach_block(&self, agent_id: &str, block_id: &str) -> StoreResult<()> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn detach_block(&self, agent_id: &str, block_id: &str) -> StoreResult<bool> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn agent_block_by_label(&self, agent_id: &str, label: &str) -> StoreResult<Option<Block>> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn existing_block_ids(&self, org_id: &str, ids: &[String]) -> StoreResult<Vec<String>> {
        Err(StoreError::Database("not implemented yet".into()))
    }
}
