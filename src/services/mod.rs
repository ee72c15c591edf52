//! Managers: the rules of each resource, and the transactions they need. No HTTP types here.

pub mod agent_file;
pub mod agents;
pub mod archival;
pub mod blocks;

mod custom_tools;
mod error;
pub mod groups;
pub mod identities;
pub mod messages;
pub mod models;
pub mod orgs;
pub mod prompts;
pub mod pyfmt;
pub mod runs;
pub mod sandbox_configs;
pub mod steps;
pub mod tools;
pub mod turns;
// Sources and files (issue 13).
pub mod files;
pub mod sources;

use std::sync::Arc;

pub use error::{ServiceError, ServiceResult, UpstreamError};

use crate::config::Config;
use crate::schemas::org::Actor;
use crate::store::{DynStore, StoreError};

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: DynStore,
    pub models: Arc<models::ModelCatalog>,
    /// Credentials and HTTP settings for chat calls.
    pub providers: Arc<crate::llm::ProviderKeys>,
    pub turns: Arc<turns::TurnLocks>,
    /// Runs executing here, their events and cancellation (shared through Redis if set).
    pub runs: Arc<crate::runs::RunHub>,
    /// Who this process is, as recorded on the runs it executes and the leases it holds.
    pub replica: Arc<crate::replica::ReplicaId>,
    /// Where user code (custom tools, `run_code`) runs, started on first use.
    pub sandbox: Arc<crate::sandbox::SharedSandbox>,
}

impl AppState {
    /// Seeds the default organization, user and base tools.
    pub async fn new(
        config: Arc<Config>,
        store: DynStore,
        runs: Arc<crate::runs::RunHub>,
    ) -> Result<Self, StoreError> {
        store.ensure_defaults().await?;
        let models = Arc::new(models::ModelCatalog::from_config(&config));
        let providers = Arc::new(crate::llm::ProviderKeys::from(config.as_ref()));
        let lease_ttl = std::time::Duration::from_secs(config.agent_lease_ttl_secs);
        let replica = Arc::new(crate::replica::ReplicaId::for_process(&config));
        let sandbox = Arc::new(crate::sandbox::SharedSandbox::new(
            crate::sandbox::SandboxSettings::from_config(&config),
        ));
        let state = AppState {
            sandbox,
            config,
            store,
            models,
            providers,
            turns: Arc::new(turns::TurnLocks::new(lease_ttl, replica.clone())),
            runs,
            replica,
        };
        state
            .tools()
            .upsert_base_tools(&Actor::default_user())
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?;
        Ok(state)
    }

    /// The user named by a `user_id` header, or the default user when there is none. A
    /// header naming no known user is a 404.
    pub async fn resolve_actor(&self, user_id: Option<&str>) -> ServiceResult<Actor> {
        let Some(user_id) = user_id.filter(|id| !id.is_empty()) else {
            return Ok(Actor::default_user());
        };
        if user_id == crate::schemas::org::DEFAULT_USER_ID {
            return Ok(Actor::default_user());
        }
        Ok(match self.store.get_user(user_id).await? {
            Some(user) => Actor {
                user_id: user.id,
                organization_id: user
                    .organization_id
                    .unwrap_or_else(|| crate::schemas::org::DEFAULT_ORG_ID.to_owned()),
            },
            // The original falls back to the default user here, so a typo (or a guess)
            // silently acts on someone else's data: refuse instead.
            None => {
                return Err(ServiceError::NotFound(format!(
                    "User not found: the user_id header names no user ({user_id})"
                )));
            }
        })
    }

    pub fn agents(&self) -> agents::AgentService<'_> {
        agents::AgentService::new(self)
    }

    pub fn archival(&self) -> archival::ArchivalService<'_> {
        archival::ArchivalService::new(self)
    }

    pub fn blocks(&self) -> blocks::BlockService<'_> {
        blocks::BlockService::new(self)
    }

    pub fn tools(&self) -> tools::ToolService<'_> {
        tools::ToolService::new(self)
    }

    pub fn identities(&self) -> identities::IdentityService<'_> {
        identities::IdentityService::new(self)
    }

    pub fn orgs(&self) -> orgs::OrgService<'_> {
        orgs::OrgService::new(self)
    }

    pub fn messages(&self) -> messages::MessageService<'_> {
        messages::MessageService::new(self)
    }

    pub fn steps(&self) -> steps::StepService<'_> {
        steps::StepService::new(self)
    }

    pub fn runs(&self) -> runs::RunService<'_> {
        runs::RunService::new(self)
    }
}
