//! The groups contract (SQL in `sql/groups.rs`): groups, their ordered participants, their
//! shared blocks, and the messages sent in them.

use async_trait::async_trait;

use super::StoreResult;
use crate::schemas::group::{Group, ManagerType};
use crate::schemas::message::Message;

#[derive(Debug, Clone, Default)]
pub struct GroupFilter {
    pub manager_type: Option<ManagerType>,
    /// Group id cursors on `(created_at, id)`.
    pub before: Option<String>,
    pub after: Option<String>,
    pub limit: Option<i64>,
}

/// Paging of the messages sent in a group, by `(created_at, id)`, oldest first.
#[derive(Debug, Clone, Default)]
pub struct GroupMessageFilter {
    /// Message id cursors.
    pub after: Option<String>,
    pub before: Option<String>,
    pub limit: Option<i64>,
}

#[async_trait]
pub trait GroupStore {
    /// Writes the group, its participants (in `agent_ids` order) and its shared blocks, and
    /// attaches each shared block to every participant and to the manager (a block already
    /// attached stays; another block with the same label is a `Unique` error), in one
    /// transaction.
    async fn create_group(&self, group: &Group) -> StoreResult<()>;
    async fn get_group(&self, org_id: &str, id: &str) -> StoreResult<Option<Group>>;
    /// Ordered by `(created_at, id)`; `None` when a cursor names no group of the org.
    async fn list_groups(
        &self,
        org_id: &str,
        filter: &GroupFilter,
    ) -> StoreResult<Option<Vec<Group>>>;
    async fn count_groups(&self, org_id: &str) -> StoreResult<i64>;
    /// Writes the scalar fields of `group`; with `replace_agents`, its participants become
    /// `group.agent_ids` in that order. Shared blocks are not touched. False if absent.
    async fn update_group(
        &self,
        org_id: &str,
        group: &Group,
        replace_agents: bool,
    ) -> StoreResult<bool>;
    async fn delete_group(&self, org_id: &str, id: &str) -> StoreResult<bool>;
    /// Deletes the groups, then the agents (with everything `delete_agent` removes), in one
    /// transaction: an agent and the sleeptime companions and groups that go with it are
    /// deleted together or not at all. Returns how many agents were deleted.
    async fn delete_groups_and_agents(
        &self,
        org_id: &str,
        group_ids: &[String],
        agent_ids: &[String],
    ) -> StoreResult<u64>;
    /// Groups the agent takes part in (not those it manages), optionally of one type.
    async fn groups_of_agent(
        &self,
        agent_id: &str,
        manager_type: Option<&str>,
    ) -> StoreResult<Vec<Group>>;
    /// The group each of these agents manages (at most one each).
    async fn groups_managed_by(&self, agent_ids: &[String]) -> StoreResult<Vec<Group>>;
    /// Messages of the org carrying this group id, by `(created_at, id)`; `None` when a
    /// cursor names no message of the org.
    async fn list_group_messages(
        &self,
        org_id: &str,
        group_id: &str,
        filter: &GroupMessageFilter,
    ) -> StoreResult<Option<Vec<Message>>>;
    /// Deletes every message of the org carrying this group id, and removes them from the
    /// agents' in-context lists; returns how many were deleted.
    async fn delete_group_messages(&self, org_id: &str, group_id: &str) -> StoreResult<u64>;
}
