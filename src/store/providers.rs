//! Providers brought by organizations (BYOK); SQL in `sql/providers.rs`. Rows carry the
//! API key in clear: nothing here logs a row.

use async_trait::async_trait;

use super::StoreResult;
use crate::schemas::provider::ProviderRow;

/// The changeable fields of a provider; `None` keeps the stored value.
#[derive(Clone, Default)]
pub struct ProviderPatch {
    pub api_key: Option<String>,
    pub access_key: Option<String>,
    pub region: Option<String>,
    pub base_url: Option<String>,
    pub updated_by: Option<String>,
}

/// What deleting a provider found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderDeletion {
    Deleted,
    NotFound,
    /// Not deleted: these agents (at most a few ids) chat through it.
    InUse(Vec<String>),
}

#[async_trait]
pub trait ProviderStore {
    /// Inserts the provider; `Unique` when its organization already has one of that name.
    async fn insert_provider(&self, row: &ProviderRow) -> StoreResult<()>;
    async fn get_provider(&self, org_id: &str, id: &str) -> StoreResult<Option<ProviderRow>>;
    async fn get_provider_by_name(
        &self,
        org_id: &str,
        name: &str,
    ) -> StoreResult<Option<ProviderRow>>;
    /// The organization's providers ordered by (created_at, id), strictly after the `after`
    /// provider, filtered by name and type when given; `None` means no limit.
    async fn list_providers(
        &self,
        org_id: &str,
        name: Option<&str>,
        provider_type: Option<&str>,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> StoreResult<Vec<ProviderRow>>;
    /// Applies the patch (`updated_at` moves); `None` when there is no such provider.
    async fn update_provider(
        &self,
        org_id: &str,
        id: &str,
        patch: &ProviderPatch,
    ) -> StoreResult<Option<ProviderRow>>;
    /// Deletes the provider unless an agent of its organization has an `llm_config` naming
    /// it (`provider_name` equal to its name, category `byok`); checked and deleted in one
    /// transaction.
    async fn delete_provider(&self, org_id: &str, id: &str) -> StoreResult<ProviderDeletion>;
}
