//! Persistence. Each resource has a small async trait in its own file (`agents.rs`,
//! `blocks.rs`, …), beside its row, patch and filter types; `postgres` and `sqlite` implement
//! all of them. All SQL lives below this module. A trait method is a unit of atomic
//! persistence: when it writes several rows it does so in one transaction.
//!
//! Both backends run the same SQL text (`sql/`, one file per resource, mirroring the trait
//! files), pulled in by [`store_sql!`]; that single text is why both behave the same. Where
//! the dialects differ the shared SQL calls a hook of [`dialect::Dialect`] or
//! [`dialect::SqlBackend`], which each backend implements.

/// Implements every resource trait for `$store` (a type implementing
/// [`dialect::SqlBackend`], with a `pool` field, in a module defining `Db` as its dialect's
/// database) from the shared SQL in `sql/`. Expanded once
/// in each backend module: this is the one list of SQL files. The hooks are bound to the free
/// names the SQL text uses (`Db`, `SqlStore`, `LOCK_FOR_UPDATE`, `push_in_list`, …) so the
/// text reads as plain SQL-building code.
macro_rules! store_sql {
    ($store:ty) => {
        type SqlStore = $store;
        type D = <$store as $crate::store::dialect::SqlBackend>::Dialect;

        const LOCK_FOR_UPDATE: &str = D::LOCK_FOR_UPDATE;
        const JSON_ARRAY_AGG: &str = D::JSON_ARRAY_AGG;
        const JSON_OBJECT: &str = D::JSON_OBJECT;
        const PASSAGE_TEXT_BYTES: &str = D::PASSAGE_TEXT_BYTES;

        fn json_bool(col: &str) -> String {
            D::json_bool(col)
        }

        fn json_embed(col: &str) -> String {
            D::json_embed(col)
        }

        fn push_in_list<S: AsRef<str>>(
            qb: &mut sqlx::QueryBuilder<'_, Db>,
            col: &str,
            values: &[S],
        ) {
            D::push_in_list(qb, col, values)
        }

        fn push_json_array_contains_all<S: AsRef<str>>(
            qb: &mut sqlx::QueryBuilder<'_, Db>,
            col: &str,
            values: &[S],
        ) {
            D::push_json_array_contains_all(qb, col, values)
        }

        fn read_passage_embedding(
            row: &<Db as sqlx::Database>::Row,
        ) -> StoreResult<Option<Vec<f32>>> {
            D::read_passage_embedding(row)
        }

        include!("sql/common.rs");
        include!("sql/orgs.rs");
        include!("sql/agents.rs");
        include!("sql/blocks.rs");
        include!("sql/tools.rs");
        include!("sql/identities.rs");
        include!("sql/messages.rs");
        include!("sql/steps.rs");
        include!("sql/runs.rs");
        include!("sql/leases.rs");
        include!("sql/sandbox.rs");
        include!("sql/passages.rs");
        include!("sql/providers.rs");
        include!("sql/telemetry.rs");
        include!("sql/batches.rs");
        include!("sql/sources.rs");
        include!("sql/files.rs");
        include!("sql/mcp_servers.rs");
        include!("sql/groups.rs");
        include!("sql/sleeptime.rs");
        include!("sql/agent_files.rs");
    };
}

mod agent_files;
mod agents;
mod batches;
mod blocks;
pub mod dialect;
mod error;
mod groups;
mod identities;
mod leases;
mod mcp_servers;
mod messages;
mod orgs;
mod passages;
pub mod postgres;
mod providers;
mod runs;
mod sandbox;
mod sleeptime;
mod sources;
pub mod sqlite;
mod steps;
mod telemetry;
mod tools;

use std::sync::Arc;

pub use agent_files::*;
pub use agents::*;
pub use batches::*;
pub use blocks::*;
pub use error::{StoreError, StoreResult};
pub use groups::*;
pub use identities::*;
pub use leases::*;
pub use mcp_servers::*;
pub use messages::*;
pub use orgs::*;
pub use passages::*;
pub use providers::*;
pub use runs::*;
pub use sandbox::*;
pub use sleeptime::*;
pub use sources::*;
pub use steps::*;
pub use telemetry::*;
pub use tools::*;

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
    + ProviderStore
    + TelemetryStore
    + BatchStore
    + GroupStore
    + AgentFileStore
    + SourceStore
    + FileStore
    + FileAgentStore
    + McpServerStore
    + SleeptimeStore
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
