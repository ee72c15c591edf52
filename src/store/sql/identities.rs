// Shared by both backends through `include!`.

#[async_trait::async_trait]
impl super::IdentityStore for SqlStore {
    async fn create_identity(&self, identity: &Identity) -> StoreResult<()> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn get_identity(&self, org_id: &str, id: &str) -> StoreResult<Option<Identity>> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn find_identity_by_key(
        &self,
        org_id: &str,
        identifier_key: &str,
        project_id: Option<&str>,
    ) -> StoreResult<Option<Identity>> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn list_identities(&self, org_id: &str, filter: &IdentityFilter) -> StoreResult<Vec<Identity>> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn count_identities(&self, org_id: &str) -> StoreResult<i64> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn update_identity(&self, org_id: &str, identity: &Identity, links: &IdentityLinks) -> StoreResult<bool> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn set_identity_properties(
        &self,
        org_id: &str,
        id: &str,
        properties: &[IdentityProperty],
    ) -> StoreResult<bool> {
        Err(StoreError::Database("not implemented yet".into()))
    }

    async fn delete_identity(&self, org_id: &str, id: &str) -> StoreResult<bool> {
        Err(StoreError::Database("not implemented yet".into()))
    }
}
