//! Persistence. Each resource has a small async trait; `postgres` and `sqlite` implement all
//! of them. All SQL lives below this module. A trait method is a unit of atomic persistence:
//! when it writes several rows it does so in one transaction.
//!
//! The two implementations share their SQL text where the dialects agree (see `sql/`), and
//! differ in migrations and where a dialect needs its own statement.

mod error;
pub mod postgres;
pub mod sqlite;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

pub use error::{StoreError, StoreResult};

use crate::replica::ReplicaId;
use crate::schemas::Timestamp;
use crate::schemas::agent::{AgentEnvironmentVariable, AgentType};
use crate::schemas::block::Block;
use crate::schemas::identity::{Identity, IdentityProperty, IdentityType};
use crate::schemas::llm_config::{EmbeddingConfig, LlmConfig};
use crate::schemas::message::{Message, MessageRole};
use crate::schemas::org::{Organization, User};
use crate::schemas::passage::Passage;
use crate::schemas::run::{FeedbackType, JobStatus, JobType, Run, Step};
use crate::schemas::tool::Tool;
use crate::schemas::tool_rule::ToolRule;

/// Every resource store, as one object the services hold.
pub trait Store:
    OrgStore
    + AgentStore
    + BlockStore
    + ToolStore
    + IdentityStore
    + MessageStore
    + StepStore
    + RunStore
    + LeaseStore
    + PassageStore
    + SandboxStore
    + Send
    + Sync
{
    /// Which backend this is, for logs and the health route.
    fn backend(&self) -> &'static str;
    /// Connections in the pool right now (for `/metrics`).
    fn pool_status(&self) -> PoolStatus;
}

pub type DynStore = Arc<dyn Store>;

/// How the connection pool is used, sampled when metrics are scraped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Open connections (in use or idle).
    pub size: u32,
    pub idle: usize,
    pub max: u32,
}

// ---------------------------------------------------------------------------------------------
// Organizations and users

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

// ---------------------------------------------------------------------------------------------
// Agents

/// The agents table row: scalar columns, without relationships.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRow {
    pub id: String,
    pub organization_id: String,
    pub agent_type: AgentType,
    pub name: String,
    pub description: Option<String>,
    pub system: String,
    pub message_ids: Vec<String>,
    pub response_format: Option<Value>,
    pub metadata: Option<Map<String, Value>>,
    pub llm_config: LlmConfig,
    pub embedding_config: EmbeddingConfig,
    pub tool_rules: Vec<ToolRule>,
    pub project_id: Option<String>,
    pub template_id: Option<String>,
    pub base_template_id: Option<String>,
    pub message_buffer_autoclear: bool,
    pub enable_sleeptime: Option<bool>,
    pub last_run_completion: Option<Timestamp>,
    pub last_run_duration_ms: Option<i64>,
    pub timezone: Option<String>,
    pub created_by_id: Option<String>,
    pub last_updated_by_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Everything written when an agent is created, in one transaction.
#[derive(Debug, Clone)]
pub struct NewAgent {
    pub row: AgentRow,
    /// Blocks created for this agent (inserted, then attached in this order).
    pub new_blocks: Vec<Block>,
    /// Existing blocks to attach after the new ones; a label already taken on the agent is
    /// skipped silently, as the original's insert-ignore does.
    pub block_ids: Vec<String>,
    pub tool_ids: Vec<String>,
    pub tags: Vec<String>,
    pub identity_ids: Vec<String>,
    pub env_vars: Vec<AgentEnvironmentVariable>,
    /// The initial message sequence; their ids are already in `row.message_ids`.
    pub messages: Vec<Message>,
}

/// A change to an agent, applied in one transaction. `None` leaves a field alone; a
/// relationship list given replaces the relationship.
#[derive(Debug, Clone, Default)]
pub struct AgentPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub system: Option<String>,
    pub message_ids: Option<Vec<String>>,
    pub response_format: Option<Value>,
    pub metadata: Option<Map<String, Value>>,
    pub llm_config: Option<LlmConfig>,
    pub embedding_config: Option<EmbeddingConfig>,
    pub tool_rules: Option<Vec<ToolRule>>,
    pub project_id: Option<String>,
    pub template_id: Option<String>,
    pub base_template_id: Option<String>,
    pub message_buffer_autoclear: Option<bool>,
    pub enable_sleeptime: Option<bool>,
    pub last_run_completion: Option<Timestamp>,
    pub last_run_duration_ms: Option<i64>,
    pub timezone: Option<String>,
    pub tool_ids: Option<Vec<String>>,
    pub block_ids: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub identity_ids: Option<Vec<String>>,
    /// Replaces all environment variables (new rows, new ids).
    pub env_vars: Option<Vec<AgentEnvironmentVariable>>,
    pub last_updated_by_id: Option<String>,
    pub updated_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AgentSort {
    #[default]
    CreatedAt,
    LastRunCompletion,
}

#[derive(Debug, Clone, Default)]
pub struct AgentFilter {
    pub name: Option<String>,
    pub tags: Vec<String>,
    pub match_all_tags: bool,
    /// Case-insensitive substring of the name.
    pub query_text: Option<String>,
    pub project_id: Option<String>,
    pub template_id: Option<String>,
    pub base_template_id: Option<String>,
    pub identity_id: Option<String>,
    pub identifier_keys: Vec<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    /// `None` means no limit.
    pub limit: Option<i64>,
    pub ascending: bool,
    pub sort_by: AgentSort,
}

/// Which relationships to load for a set of agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelationSet {
    pub tags: bool,
    pub tools: bool,
    pub memory: bool,
    pub identity_ids: bool,
    pub env_vars: bool,
}

impl RelationSet {
    pub const NONE: RelationSet = RelationSet {
        tags: false,
        tools: false,
        memory: false,
        identity_ids: false,
        env_vars: false,
    };
    /// Only the attached blocks.
    pub const MEMORY: RelationSet = RelationSet {
        tags: false,
        tools: false,
        memory: true,
        identity_ids: false,
        env_vars: false,
    };
    /// Only the attached tools.
    pub const TOOLS: RelationSet = RelationSet {
        tags: false,
        tools: true,
        memory: false,
        identity_ids: false,
        env_vars: false,
    };
    pub const ALL: RelationSet = RelationSet {
        tags: true,
        tools: true,
        memory: true,
        identity_ids: true,
        env_vars: true,
    };
}

/// The loaded relationships of one agent (empty where not requested).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentRelations {
    pub tags: Vec<String>,
    /// Ordered by tool id.
    pub tools: Vec<Tool>,
    /// Ordered by attachment order.
    pub blocks: Vec<Block>,
    pub identity_ids: Vec<String>,
    pub env_vars: Vec<AgentEnvironmentVariable>,
}

#[async_trait]
pub trait AgentStore {
    async fn create_agent(&self, agent: &NewAgent) -> StoreResult<()>;
    async fn get_agent(&self, org_id: &str, agent_id: &str) -> StoreResult<Option<AgentRow>>;
    async fn list_agents(&self, org_id: &str, filter: &AgentFilter) -> StoreResult<Vec<AgentRow>>;
    async fn count_agents(&self, org_id: &str) -> StoreResult<i64>;
    /// Relationships of several agents, with one query per relationship kind.
    async fn load_relations(
        &self,
        agent_ids: &[String],
        which: RelationSet,
    ) -> StoreResult<HashMap<String, AgentRelations>>;
    /// Returns false when the agent does not exist in the organization.
    async fn update_agent(
        &self,
        org_id: &str,
        agent_id: &str,
        patch: &AgentPatch,
    ) -> StoreResult<bool>;
    /// Deletes the agent and its messages, tags, env vars and links. Returns false if absent.
    async fn delete_agent(&self, org_id: &str, agent_id: &str) -> StoreResult<bool>;
    /// Agents a block is attached to, oldest first.
    async fn agents_for_block(&self, org_id: &str, block_id: &str) -> StoreResult<Vec<AgentRow>>;
    /// Distinct tags of the organization's agents, ascending, strictly after `after`.
    async fn list_tags(
        &self,
        org_id: &str,
        after: Option<&str>,
        limit: Option<i64>,
        query_text: Option<&str>,
    ) -> StoreResult<Vec<String>>;
    /// Which of these agent ids exist in the organization.
    async fn existing_agent_ids(&self, org_id: &str, ids: &[String]) -> StoreResult<Vec<String>>;
}

// ---------------------------------------------------------------------------------------------
// Blocks

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

/// A check run on the modified block inside the store's write; an `Err` aborts the write
/// with [`StoreError::Rejected`].
pub type BlockCheck<'a> = &'a (dyn Fn(&Block) -> Result<(), String> + Send + Sync);

/// A change applied to the freshly read block inside the store's write; an `Err` aborts
/// the write with [`StoreError::Rejected`].
pub type BlockEdit<'a> = &'a (dyn Fn(&mut Block) -> Result<(), String> + Send + Sync);

#[async_trait]
pub trait BlockStore {
    async fn create_block(&self, block: &Block) -> StoreResult<()>;
    async fn get_block(&self, org_id: &str, block_id: &str) -> StoreResult<Option<Block>>;
    /// Ordered by (created_at, id).
    async fn list_blocks(&self, org_id: &str, filter: &BlockFilter) -> StoreResult<Vec<Block>>;
    async fn count_blocks(&self, org_id: &str) -> StoreResult<i64>;
    /// Replaces the block's fields with `block`'s (matched by id and org) after `check`
    /// accepts it; a label change is carried to every agent link. Returns false if absent.
    /// Guarded by the row version, so a concurrent writer is never overwritten silently.
    async fn update_block(
        &self,
        org_id: &str,
        block: &Block,
        check: BlockCheck<'_>,
    ) -> StoreResult<bool>;
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

// ---------------------------------------------------------------------------------------------
// Tools

#[async_trait]
pub trait ToolStore {
    /// Inserts each tool, or updates the organization's tool of the same name in place
    /// (keeping its id). Returns the stored tools in input order.
    async fn upsert_tools_by_name(&self, tools: &[Tool]) -> StoreResult<Vec<Tool>>;
    async fn get_tool(&self, org_id: &str, tool_id: &str) -> StoreResult<Option<Tool>>;
    /// Ordered by (created_at, id), strictly after the `after` tool when given.
    async fn list_tools(
        &self,
        org_id: &str,
        after: Option<&str>,
        limit: Option<i64>,
        name: Option<&str>,
    ) -> StoreResult<Vec<Tool>>;
    /// Tools of the organization, excluding those whose name is in `exclude_names`.
    async fn count_tools(&self, org_id: &str, exclude_names: &[&str]) -> StoreResult<i64>;
    async fn tools_by_names(&self, org_id: &str, names: &[String]) -> StoreResult<Vec<Tool>>;
    async fn tools_by_ids(&self, org_id: &str, ids: &[String]) -> StoreResult<Vec<Tool>>;
    /// Idempotent.
    async fn attach_tool(&self, agent_id: &str, tool_id: &str) -> StoreResult<()>;
    /// Detaching a tool that is not attached is a no-op.
    async fn detach_tool(&self, agent_id: &str, tool_id: &str) -> StoreResult<()>;
    /// Inserts a new tool; `Unique` when the organization already has a tool of that name.
    async fn create_tool(&self, tool: &Tool) -> StoreResult<Tool>;
    /// Overwrites the mutable fields (name, description, tags, source, schemas, limits,
    /// requirements, last editor) of the organization's tool with `tool.id`; `None` when
    /// there is none. `Unique` when the new name is taken.
    async fn update_tool(&self, tool: &Tool) -> StoreResult<Option<Tool>>;
    /// Hard-deletes the tool (its agent attachments go with it); false when there is none.
    async fn delete_tool(&self, org_id: &str, tool_id: &str) -> StoreResult<bool>;
}

// ---------------------------------------------------------------------------------------------
// Identities

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

// ---------------------------------------------------------------------------------------------
// Messages

#[async_trait]
pub trait MessageStore {
    async fn insert_messages(&self, messages: &[Message]) -> StoreResult<()>;
    /// The messages with these ids, in the order of `ids` (missing ones skipped).
    async fn get_messages(&self, org_id: &str, ids: &[String]) -> StoreResult<Vec<Message>>;
    /// Number of persisted messages of the agent.
    async fn count_agent_messages(&self, agent_id: &str) -> StoreResult<i64>;
    /// Rewrites a message's content and updated_at in place (same id, same created_at).
    async fn update_message_content(&self, message: &Message) -> StoreResult<()>;
    /// Rewrites every mutable field of a message (content, tool calls and returns, name,
    /// updated_at…), matched by id and organization. Returns false if absent.
    async fn update_message(&self, message: &Message) -> StoreResult<bool>;
    /// The position of a message in the global insertion order (any agent), if it exists.
    async fn message_sequence_id(&self, message_id: &str) -> StoreResult<Option<i64>>;
    /// The agent's persisted messages by insertion order, filtered and paged.
    async fn list_agent_messages(
        &self,
        agent_id: &str,
        filter: &MessageFilter,
    ) -> StoreResult<Vec<Message>>;
    /// The agent's messages of these roles (any role when `roles` is empty) whose text
    /// contains `query` (case-insensitive, `%` and `_` literal), oldest first, paged by
    /// `offset`/`limit`.
    async fn search_agent_messages(
        &self,
        agent_id: &str,
        query: &str,
        roles: &[MessageRole],
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<Message>>;
    /// Deletes the agent's messages except those listed; returns how many were deleted.
    async fn delete_agent_messages_except(
        &self,
        agent_id: &str,
        keep: &[String],
    ) -> StoreResult<u64>;
}

/// Paging of an agent's messages by insertion order.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    /// Only messages inserted after this sequence id.
    pub after_sequence: Option<i64>,
    /// Only messages inserted before this sequence id.
    pub before_sequence: Option<i64>,
    pub group_id: Option<String>,
    /// Newest first when false.
    pub ascending: bool,
    /// `None` means no limit.
    pub limit: Option<i64>,
}

// ---------------------------------------------------------------------------------------------
// Steps

#[derive(Debug, Clone, Default)]
pub struct StepFilter {
    /// Step-id cursors, relative to the listing direction: `after` continues the listing,
    /// `before` goes back. An id that is not a step of the organization filters nothing.
    pub before: Option<String>,
    pub after: Option<String>,
    pub limit: Option<i64>,
    /// Oldest first when true.
    pub ascending: bool,
    /// Exclusive bounds on `created_at`.
    pub start_date: Option<Timestamp>,
    pub end_date: Option<Timestamp>,
    pub model: Option<String>,
    pub agent_id: Option<String>,
    pub trace_ids: Vec<String>,
    pub feedback: Option<FeedbackType>,
    pub has_feedback: Option<bool>,
    /// Steps having all these tags.
    pub tags: Vec<String>,
    pub project_id: Option<String>,
}

#[async_trait]
pub trait StepStore {
    /// Records a step and the messages it produced in one transaction; when `run_id` is
    /// given the messages are also linked to that run.
    async fn persist_step(
        &self,
        step: Option<&Step>,
        messages: &[Message],
        run_id: Option<&str>,
    ) -> StoreResult<()>;
    async fn get_step(&self, org_id: &str, step_id: &str) -> StoreResult<Option<Step>>;
    /// Ordered by (created_at, id), newest first unless `ascending`.
    async fn list_steps(&self, org_id: &str, filter: &StepFilter) -> StoreResult<Vec<Step>>;
    async fn set_step_feedback(
        &self,
        org_id: &str,
        step_id: &str,
        feedback: Option<FeedbackType>,
    ) -> StoreResult<Option<Step>>;
    /// Steps of a run, oldest first.
    async fn steps_for_run(&self, run_id: &str) -> StoreResult<Vec<Step>>;
    /// The organization's steps of a run, ordered by (created_at, id) — oldest first when
    /// `ascending` — at most `limit`. The cursors are step ids and absolute positions whatever
    /// the direction: `before` keeps steps older than it, `after` newer ones (an id that is not
    /// a step of the organization filters nothing).
    async fn list_run_steps(
        &self,
        org_id: &str,
        run_id: &str,
        before: Option<&str>,
        after: Option<&str>,
        limit: Option<i64>,
        ascending: bool,
    ) -> StoreResult<Vec<Step>>;
}

// ---------------------------------------------------------------------------------------------
// Runs (the jobs table)

#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub agent_ids: Vec<String>,
    pub statuses: Vec<JobStatus>,
    /// Run-id cursors in (created_at, id) order, relative to the listing direction as in
    /// [`StepFilter`]. An id that is not a run of the user filters nothing.
    pub before: Option<String>,
    pub after: Option<String>,
    pub limit: Option<i64>,
    pub ascending: bool,
    /// Only rows of this job type (any type when `None`).
    pub job_type: Option<JobType>,
    /// Only jobs whose `metadata.source_id` is this.
    pub source_id: Option<String>,
}

/// Which messages of a run `list_run_messages` returns.
#[derive(Debug, Clone, Default)]
pub struct RunMessageFilter {
    /// Message-id cursors, absolute positions in the insertion order whatever the direction:
    /// `before` keeps messages inserted before it, `after` those inserted after it (an id that
    /// is not a message filters nothing).
    pub before: Option<String>,
    pub after: Option<String>,
    pub limit: Option<i64>,
    /// Oldest first when true.
    pub ascending: bool,
    /// Only messages of this role.
    pub role: Option<MessageRole>,
}

#[async_trait]
pub trait RunStore {
    async fn create_run(&self, run: &Run) -> StoreResult<()>;
    /// Like `create_run`, recording the replica (and its process) that executes the run.
    async fn create_run_on(&self, run: &Run, replica: &ReplicaId) -> StoreResult<()>;
    /// Runs are scoped to their user.
    async fn get_run(&self, user_id: &str, run_id: &str) -> StoreResult<Option<Run>>;
    /// A run by id regardless of user (internal use: cancellation, callbacks).
    async fn get_run_any(&self, run_id: &str) -> StoreResult<Option<Run>>;
    /// Writes status, completed_at, metadata, callback fields and updated_at of `run`.
    /// A run already in a terminal status is left unchanged and false is returned, so a
    /// late writer never resurrects a finished run.
    async fn update_run(&self, run: &Run) -> StoreResult<bool>;
    async fn list_runs(&self, user_id: &str, filter: &RunFilter) -> StoreResult<Vec<Run>>;
    async fn delete_run(&self, user_id: &str, run_id: &str) -> StoreResult<bool>;
    /// Messages linked to the run, in insertion order, paged by message-id cursors:
    /// `after`/`before` keep messages inserted after/before that message whatever the
    /// direction (an unknown id filters nothing).
    async fn run_messages(
        &self,
        run_id: &str,
        before: Option<&str>,
        after: Option<&str>,
        limit: Option<i64>,
        ascending: bool,
    ) -> StoreResult<Vec<Message>>;
    /// Messages linked to the run, filtered and paged as `filter` says.
    async fn list_run_messages(
        &self,
        run_id: &str,
        filter: &RunMessageFilter,
    ) -> StoreResult<Vec<Message>>;
    /// Records the delivery of an async run's callback (allowed on a finished run).
    async fn record_callback(
        &self,
        run_id: &str,
        sent_at: Timestamp,
        status_code: Option<i64>,
        error: Option<&str>,
    ) -> StoreResult<()>;
    /// Records that the process executing the run is alive (its `updated_at` moves on);
    /// false when the run is no longer created/running.
    async fn touch_run(&self, run_id: &str) -> StoreResult<bool>;
    /// Marks every `created`/`running` run not touched since `stale_before` as failed with
    /// this error (recovery from a crashed process); returns how many were changed.
    async fn fail_unfinished_runs(&self, stale_before: Timestamp, error: &str) -> StoreResult<u64>;
}

// ---------------------------------------------------------------------------------------------
// Agent leases: one turn at a time per agent, across processes

#[async_trait]
pub trait LeaseStore {
    /// Takes the agent's lease for `holder` if it is free or expired; true when taken.
    async fn try_acquire_agent_lease(
        &self,
        agent_id: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<bool>;
    /// Extends a lease this holder still owns; false if it was lost.
    async fn renew_agent_lease(
        &self,
        agent_id: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<bool>;
    async fn release_agent_lease(&self, agent_id: &str, holder: &str) -> StoreResult<()>;
    /// Like `try_acquire_agent_lease`, recording the replica (and its process) that holds it.
    async fn try_acquire_agent_lease_on(
        &self,
        agent_id: &str,
        holder: &str,
        ttl: std::time::Duration,
        replica: &ReplicaId,
    ) -> StoreResult<bool>;
    /// Releases what stopped processes left: their agent leases are deleted and their
    /// `created`/`running` runs marked failed with `error`, in one transaction.
    async fn release_leftovers(&self, of: Leftovers<'_>, error: &str) -> StoreResult<Released>;
}

/// Whose leftovers a starting process may release at once.
#[derive(Debug, Clone, Copy)]
pub enum Leftovers<'a> {
    /// Every lease and unfinished run: the starting process is the only replica.
    All,
    /// Those of this replica's other incarnations (its earlier processes); other replicas'
    /// keep the timeout rule.
    OlderIncarnations(&'a ReplicaId),
}

/// What `release_leftovers` released.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Released {
    pub leases: u64,
    pub runs: u64,
}

/// Connects to the configured database and runs its migrations.
pub async fn connect(
    target: &crate::config::DatabaseTarget,
    pool_size: u32,
) -> StoreResult<DynStore> {
    use crate::config::DatabaseTarget;
    Ok(match target {
        DatabaseTarget::Postgres(url) => {
            Arc::new(postgres::PgStore::connect(url, pool_size).await?)
        }
        DatabaseTarget::SqliteFile(path) => Arc::new(sqlite::SqliteStore::open_file(path).await?),
        DatabaseTarget::SqliteUrl(url) => Arc::new(sqlite::SqliteStore::open_url(url).await?),
    })
}

// ---------------------------------------------------------------------------------------------
// Archival memory: passages and vector search

/// Which rows `list_passages` returns, and in what order.
#[derive(Debug, Clone, Default)]
pub struct PassageFilter {
    /// Rows strictly after this passage in (created_at, id) order, whatever the direction;
    /// an id that is not one of the agent's passages yields no rows.
    pub after: Option<String>,
    /// Rows strictly before this passage in (created_at, id) order, whatever the direction;
    /// an id that is not one of the agent's passages yields no rows.
    pub before: Option<String>,
    /// `None` means no limit.
    pub limit: Option<i64>,
    /// Case-insensitive substring of the text (`%`, `_` literal; SQLite folds ASCII case
    /// only).
    pub text_contains: Option<String>,
    /// (created_at, id) ascending when true; the exact reverse otherwise.
    pub ascending: bool,
}

/// A passage found by similarity, with its cosine distance to the query (0 = same
/// direction, 2 = opposite; NaN for a zero vector, which ranks last).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredPassage {
    pub passage: Passage,
    pub distance: f32,
}

#[async_trait]
pub trait PassageStore {
    /// Writes every passage or none (one transaction). Each passage carries its own
    /// embedding at its true dimension (an empty list is stored as none). `Rejected` when a
    /// passage lacks organization_id/agent_id or its embedding has a non-finite value or more
    /// than 16,000 dimensions; `Unique` on a duplicate id; `ForeignKey` for an unknown agent.
    async fn insert_passages(&self, passages: &[Passage]) -> StoreResult<()>;
    async fn get_passage(&self, org_id: &str, passage_id: &str) -> StoreResult<Option<Passage>>;
    /// The agent's passages within the organization, filtered and ordered as asked.
    async fn list_passages(
        &self,
        org_id: &str,
        agent_id: &str,
        filter: &PassageFilter,
    ) -> StoreResult<Vec<Passage>>;
    /// The agent's passages nearest to `query` by cosine distance, nearest first (ties by
    /// created_at, id); `offset` rows skipped, at most `limit` returned. Passages whose
    /// embedding has another dimension than the query, or none, are never returned. With
    /// pgvector the ranking comes from an HNSW index (approximate on large agents); the
    /// exact paths rank by a full scan of the agent's rows. `Rejected` for a non-finite
    /// query.
    async fn search_passages(
        &self,
        org_id: &str,
        agent_id: &str,
        query: &[f32],
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<ScoredPassage>>;
    /// Writes text, embedding, embedding_config, metadata, file fields, is_deleted and
    /// updated_at/last_updated_by_id of the stored row with this id and organization;
    /// false when there is none. The embedding is checked as on insert.
    async fn update_passage(&self, passage: &Passage) -> StoreResult<bool>;
    /// Deletes the passage and returns what it was.
    async fn delete_passage(&self, org_id: &str, passage_id: &str) -> StoreResult<Option<Passage>>;
    async fn count_agent_passages(&self, agent_id: &str) -> StoreResult<i64>;
    /// Bytes of text (UTF-8) and embeddings (4 per dimension) held for the organization's
    /// passages.
    async fn passages_storage_bytes(&self, org_id: &str) -> StoreResult<i64>;
    /// Whether vector search runs in the database with an index (pgvector) rather than
    /// by an exact scan.
    fn vector_index(&self) -> bool;
}

// ---------------------------------------------------------------------------------------------
// Sandbox configurations and their environment variables (see sql/sandbox.rs)

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
