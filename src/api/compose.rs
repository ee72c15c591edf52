//! The services a handler calls, each built from the state's fields it needs.

use crate::services::agents::AgentService;
use crate::services::archival::ArchivalService;
use crate::services::blocks::BlockService;
use crate::services::groups::GroupService;
use crate::services::identities::IdentityService;
use crate::services::mcp_servers::McpServerService;
use crate::services::messages::MessageService;
use crate::services::orgs::OrgService;
use crate::services::runs::RunService;
use crate::services::sandbox_configs::SandboxConfigService;
use crate::services::steps::StepService;
use crate::services::tools::ToolService;
use crate::state::AppState;

pub(super) fn agents(state: &AppState) -> AgentService<'_> {
    AgentService::new(&state.store, &state.config, &state.models)
}

pub(super) fn archival(state: &AppState) -> ArchivalService<'_> {
    ArchivalService::new(&state.store, &state.config, &state.models, &state.providers)
}

pub(super) fn blocks(state: &AppState) -> BlockService<'_> {
    BlockService::new(&state.store)
}

pub(super) fn groups(state: &AppState) -> GroupService<'_> {
    GroupService::new(&state.store)
}

pub(super) fn identities(state: &AppState) -> IdentityService<'_> {
    IdentityService::new(&state.store)
}

pub(super) fn messages(state: &AppState) -> MessageService<'_> {
    MessageService::new(&state.store, &state.config, &state.models)
}

pub(super) fn orgs(state: &AppState) -> OrgService<'_> {
    OrgService::new(&state.store)
}

pub(super) fn runs(state: &AppState) -> RunService<'_> {
    RunService::new(&state.store, &state.runs)
}

pub(super) fn sandbox_configs(state: &AppState) -> SandboxConfigService<'_> {
    SandboxConfigService::new(&state.store, &state.config)
}

pub(super) fn steps(state: &AppState) -> StepService<'_> {
    StepService::new(&state.store)
}

pub(super) fn tools(state: &AppState) -> ToolService<'_> {
    ToolService::new(&state.store, &state.sandbox)
}

pub(super) fn mcp_servers(state: &AppState) -> McpServerService<'_> {
    McpServerService::new(&state.store, &state.mcp)
}

// Sources and files (issue 13).

pub(super) fn sources(state: &AppState) -> crate::services::sources::SourceService<'_> {
    crate::services::sources::SourceService::new(state.store.as_ref(), &state.models)
}

pub(super) fn files(state: &AppState) -> crate::services::files::FileService<'_> {
    crate::services::files::FileService::new(
        &state.store,
        &state.providers,
        &state.replica,
        crate::ingest::job::IngestLimits::from_config(&state.config),
    )
}

pub(super) fn agent_files(state: &AppState) -> crate::services::agent_file::AgentFileService<'_> {
    crate::services::agent_file::AgentFileService::new(
        state.store.as_ref(),
        &state.sandbox,
        mcp_servers(state),
        files(state),
    )
}
