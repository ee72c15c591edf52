//! The organizations and users contract (SQL in `sql/orgs.rs`).

use async_trait::async_trait;

use super::StoreResult;
use crate::schemas::org::{Organization, User};

#[async_trait]
pub trait OrgStore {
    /// Creates the default organization and user if missing (idempotent).
    async fn ensure_defaults(&self) -> StoreResult<()>;
    async fn create_org(&self, org: &Organization) -> StoreResult<()>;
    async fn get_org(&self, id: &str) -> StoreResult<Option<Organization>>;
    /// Organizations ordered by (created_at, id), strictly after the `after` id when given.
    async fn list_orgs(
        &self,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> StoreResult<Vec<Organization>>;
    async fn update_org(&self, org: &Organization) -> StoreResult<bool>;
    /// Deletes the organization and everything it owns.
    async fn delete_org(&self, id: &str) -> StoreResult<bool>;
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    async fn get_user(&self, id: &str) -> StoreResult<Option<User>>;
    async fn list_users(&self, after: Option<&str>, limit: Option<i64>) -> StoreResult<Vec<User>>;
    async fn update_user(&self, user: &User) -> StoreResult<bool>;
    async fn delete_user(&self, id: &str) -> StoreResult<bool>;
}
