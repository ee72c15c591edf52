//! What a request handler, a run and a tool call share: plain data, cheap to clone. The
//! layers above services (api, dispatch, agent, tools) build the services they need from
//! these fields; services and the layers below never see this struct.

use std::sync::Arc;

use crate::config::Config;
use crate::llm::ProviderKeys;
use crate::llm::catalog::ModelCatalog;
use crate::replica::ReplicaId;
use crate::runs::RunHub;
use crate::sandbox::{SandboxSettings, SharedSandbox};
use crate::services::turns::TurnLocks;
use crate::store::DynStore;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: DynStore,
    /// Which models the configured providers offer; resolves `provider/model` handles.
    pub models: Arc<ModelCatalog>,
    /// Credentials and HTTP settings for chat calls.
    pub providers: Arc<ProviderKeys>,
    pub turns: Arc<TurnLocks>,
    /// Runs executing here, their events and cancellation (shared through Redis if set).
    pub runs: Arc<RunHub>,
    /// Who this process is, as recorded on the runs it executes and the leases it holds.
    pub replica: Arc<ReplicaId>,
    /// Where user code (custom tools, `run_code`) runs, started on first use.
    pub sandbox: Arc<SharedSandbox>,
    /// Warm sessions with the organizations' MCP servers.
    pub mcp: Arc<crate::mcp::McpPool>,
}

impl AppState {
    /// Assembles the state from the configuration, an opened store and the run hub. Seeds
    /// nothing: see [`crate::services::seed_defaults`].
    pub fn new(config: Arc<Config>, store: DynStore, runs: Arc<RunHub>) -> Self {
        let models = Arc::new(ModelCatalog::from_config(&config));
        let providers = Arc::new(ProviderKeys::from(config.as_ref()));
        let lease_ttl = std::time::Duration::from_secs(config.agent_lease_ttl_secs);
        let replica = Arc::new(ReplicaId::for_process(&config));
        let sandbox = Arc::new(SharedSandbox::new(SandboxSettings::from_config(&config)));
        let mcp = Arc::new(crate::mcp::McpPool::new(
            crate::mcp::pool::McpSettings::from_config(&config),
        ));
        AppState {
            sandbox,
            mcp,
            config,
            store,
            models,
            providers,
            turns: Arc::new(TurnLocks::new(lease_ttl, replica.clone())),
            runs,
            replica,
        }
    }
}
