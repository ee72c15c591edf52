//! Sandbox configurations and their environment variables (SQL in `sql/sandbox.rs`).

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::StoreResult;

#[async_trait]
pub trait SandboxStore {
    /// Inserts the config, or when its organization already has one of that type, writes
    /// the new settings into that one (keeping its id, creator and created_at; `updated_at`
    /// and `last_updated_by_id` move only when the settings differ). Returns the stored row.
    async fn upsert_sandbox_config(
        &self,
        config: &crate::schemas::sandbox::SandboxConfig,
    ) -> StoreResult<crate::schemas::sandbox::SandboxConfig>;
    /// Inserts the config unless its organization already has one of that type; returns
    /// the stored row either way (concurrent callers all get the same row).
    async fn get_or_create_sandbox_config(
        &self,
        config: &crate::schemas::sandbox::SandboxConfig,
    ) -> StoreResult<crate::schemas::sandbox::SandboxConfig>;
    async fn get_sandbox_config(
        &self,
        org_id: &str,
        id: &str,
    ) -> StoreResult<Option<crate::schemas::sandbox::SandboxConfig>>;
    async fn get_sandbox_config_by_type(
        &self,
        org_id: &str,
        kind: crate::schemas::sandbox::SandboxType,
    ) -> StoreResult<Option<crate::schemas::sandbox::SandboxConfig>>;
    /// The organization's configs ordered by (created_at, id), of one type when `kind` is
    /// given, strictly after the `after` config (an id that is not a config of the
    /// organization yields no rows); `None` means no limit.
    async fn list_sandbox_configs(
        &self,
        org_id: &str,
        kind: Option<crate::schemas::sandbox::SandboxType>,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> StoreResult<Vec<crate::schemas::sandbox::SandboxConfig>>;
    /// Replaces the settings of the organization's config `id` if it is of type `kind`;
    /// `updated_at` and `last_updated_by_id` move only when the settings differ. `None`
    /// when there is no such config.
    async fn update_sandbox_config(
        &self,
        org_id: &str,
        id: &str,
        kind: crate::schemas::sandbox::SandboxType,
        config: &Map<String, Value>,
        updated_by: Option<&str>,
    ) -> StoreResult<Option<crate::schemas::sandbox::SandboxConfig>>;
    /// Deletes the config and its environment variables; false when absent.
    async fn delete_sandbox_config(&self, org_id: &str, id: &str) -> StoreResult<bool>;

    /// Inserts the variable, or when its config already has one with this key, sets that
    /// one's value (and description, when given). Returns the stored row; `None` when the
    /// config is not one of the variable's organization.
    async fn upsert_sandbox_env_var(
        &self,
        var: &crate::schemas::sandbox::SandboxEnvironmentVariable,
    ) -> StoreResult<Option<crate::schemas::sandbox::SandboxEnvironmentVariable>>;
    async fn get_sandbox_env_var(
        &self,
        org_id: &str,
        id: &str,
    ) -> StoreResult<Option<crate::schemas::sandbox::SandboxEnvironmentVariable>>;
    /// The config's variables ordered by (created_at, id), strictly after the `after`
    /// variable (an id that is not one of them yields no rows); `None` means no limit.
    async fn list_sandbox_env_vars(
        &self,
        org_id: &str,
        sandbox_config_id: &str,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> StoreResult<Vec<crate::schemas::sandbox::SandboxEnvironmentVariable>>;
    /// Writes key, value, description and `last_updated_by_id` of the stored variable with
    /// this id and organization (`updated_at` moves); false when there is none. `Unique`
    /// when the key is taken in its config.
    async fn update_sandbox_env_var(
        &self,
        var: &crate::schemas::sandbox::SandboxEnvironmentVariable,
    ) -> StoreResult<bool>;
    async fn delete_sandbox_env_var(&self, org_id: &str, id: &str) -> StoreResult<bool>;
}
