// Shared by both backends through `include!`.

#[async_trait::async_trait]
impl super::MessageStore for SqlStore {
    async fn insert_messages(&self, messages: &[Message]) -> StoreResult<()> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn get_messages(&self, org_id: &str, ids: &[String]) -> StoreResult<Vec<Message>> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn count_agent_messages(&self, agent_id: &str) -> StoreResult<i64> {
        Err(StoreError::Database("not implemented yet".into()))
    }
}
