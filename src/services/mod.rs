//! Managers: the rules of each resource, and the transactions they need. No HTTP types here.
//!
//! Each service is a small struct of borrowed dependencies (the store, and only where needed
//! the configuration, the model catalogue, the run hub or the sandbox), built with an
//! explicit `new(...)`. A service that needs another builds it from its own fields. The
//! layers above assemble services from the fields of the shared state (`src/state.rs`);
//! nothing here knows that struct.

pub mod agent_file;
pub mod agents;
pub mod archival;
pub mod batches;
pub mod blocks;
pub mod composio;

mod custom_tools;
mod error;
pub mod groups;
pub mod identities;
pub mod mcp_servers;
pub mod messages;
pub mod orgs;
pub mod prompts;
pub mod providers;
pub mod pyfmt;
pub mod runs;
pub mod sandbox_configs;
pub mod steps;
pub mod telemetry;
pub mod tools;
pub mod turns;
// Sources and files (issue 13).
pub mod files;
pub mod sources;

pub use error::{ServiceError, ServiceResult, UpstreamError};

use crate::schemas::org::Actor;
use crate::store::{DynStore, StoreError};

/// Start-up seeding: the default organization and user, and the built-in tools of the
/// default organization.
pub async fn seed_defaults(store: &DynStore) -> Result<(), StoreError> {
    store.ensure_defaults().await?;
    tools::upsert_base_tools(store.as_ref(), &Actor::default_user())
        .await
        .map_err(|e| StoreError::Database(e.to_string()))?;
    Ok(())
}
