//! The memory blocks contract (SQL in `sql/blocks.rs`).

use async_trait::async_trait;

use super::StoreResult;
use crate::schemas::block::Block;

#[derive(Debug, Clone, Default)]
pub struct BlockFilter {
    pub label: Option<String>,
    /// true: only templates; false: only non-templates.
    pub templates_only: bool,
    /// Exact template name.
    pub name: Option<String>,
    pub identity_id: Option<String>,
    pub identifier_keys: Vec<String>,
    /// `None` means no limit.
    pub limit: Option<i64>,
}

/// A change applied to the freshly read block inside the store's write; an `Err` aborts
/// the write with [`StoreError::Rejected`](super::StoreError::Rejected).
pub type BlockEdit<'a> = &'a (dyn Fn(&mut Block) -> Result<(), String> + Send + Sync);

#[async_trait]
pub trait BlockStore {
    async fn create_block(&self, block: &Block) -> StoreResult<()>;
    async fn get_block(&self, org_id: &str, block_id: &str) -> StoreResult<Option<Block>>;
    /// Ordered by (created_at, id).
    async fn list_blocks(&self, org_id: &str, filter: &BlockFilter) -> StoreResult<Vec<Block>>;
    async fn count_blocks(&self, org_id: &str) -> StoreResult<i64>;
    /// Applies `edit` to the block as currently stored and writes the result, as one
    /// read-modify-write guarded by the row version (retried when a concurrent writer got
    /// in between, so no edit is ever lost). Id, organization and creator cannot change; a
    /// label change is carried to every agent link. `None` when the block is absent.
    async fn edit_block(
        &self,
        org_id: &str,
        block_id: &str,
        edit: BlockEdit<'_>,
    ) -> StoreResult<Option<Block>>;
    /// Deletes the block and its links; returns the deleted block.
    async fn delete_block(&self, org_id: &str, block_id: &str) -> StoreResult<Option<Block>>;
    /// Attaches a block to an agent after the agent's existing blocks.
    /// `Unique` when the label or block is already attached to the agent.
    async fn attach_block(&self, agent_id: &str, block_id: &str) -> StoreResult<()>;
    async fn detach_block(&self, agent_id: &str, block_id: &str) -> StoreResult<bool>;
    async fn agent_block_by_label(&self, agent_id: &str, label: &str)
    -> StoreResult<Option<Block>>;
    /// Which of these block ids exist in the organization.
    async fn existing_block_ids(&self, org_id: &str, ids: &[String]) -> StoreResult<Vec<String>>;
}
