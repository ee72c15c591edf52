//! The identities contract (SQL in `sql/identities.rs`).

use async_trait::async_trait;

use super::StoreResult;
use crate::schemas::identity::{Identity, IdentityProperty, IdentityType};

#[derive(Debug, Clone, Default)]
pub struct IdentityFilter {
    /// Case-insensitive substring of the name.
    pub name: Option<String>,
    pub project_id: Option<String>,
    pub identifier_key: Option<String>,
    pub identity_type: Option<IdentityType>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub limit: Option<i64>,
}

/// How a write treats an identity's links.
#[derive(Debug, Clone, Default)]
pub struct IdentityLinks {
    pub agent_ids: Option<Vec<String>>,
    pub block_ids: Option<Vec<String>>,
    /// true: the given lists replace the links; false: they are added to them.
    pub replace: bool,
}

#[async_trait]
pub trait IdentityStore {
    /// `identity.agent_ids`/`block_ids` are written as its links.
    async fn create_identity(&self, identity: &Identity) -> StoreResult<()>;
    async fn get_identity(&self, org_id: &str, id: &str) -> StoreResult<Option<Identity>>;
    async fn find_identity_by_key(
        &self,
        org_id: &str,
        identifier_key: &str,
        project_id: Option<&str>,
    ) -> StoreResult<Option<Identity>>;
    /// Ordered by (created_at, id).
    async fn list_identities(
        &self,
        org_id: &str,
        filter: &IdentityFilter,
    ) -> StoreResult<Vec<Identity>>;
    async fn count_identities(&self, org_id: &str) -> StoreResult<i64>;
    /// Writes the scalar fields and properties of `identity`, and its links per `links`.
    async fn update_identity(
        &self,
        org_id: &str,
        identity: &Identity,
        links: &IdentityLinks,
    ) -> StoreResult<bool>;
    async fn set_identity_properties(
        &self,
        org_id: &str,
        id: &str,
        properties: &[IdentityProperty],
    ) -> StoreResult<bool>;
    async fn delete_identity(&self, org_id: &str, id: &str) -> StoreResult<bool>;
}
