//! Tool execution dispatched by tool type. Each kind of tool (Letta's built-ins, sandboxed
//! Python, multi-agent, files, MCP) is one [`ToolExecutor`] in a file of its own; the loop
//! only asks [`executor_for`] and never matches on tool names.

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::builtin::BuiltinTools;
use super::core::CoreTools;
use super::custom::CustomTools;
use super::executor::{ToolContext, ToolExecutor, ToolOutcome};
use super::files::FileTools;
use super::mcp::McpTools;
use super::voice::VoiceSleeptimeTools;
use crate::schemas::tool::{Tool, ToolType};

/// The executor for a type of tool.
pub fn executor_for(tool_type: ToolType) -> &'static dyn ToolExecutor {
    match tool_type {
        ToolType::LettaCore | ToolType::LettaMemoryCore | ToolType::LettaSleeptimeCore => {
            &CoreTools
        }
        ToolType::LettaVoiceSleeptimeCore => &VoiceSleeptimeTools,
        ToolType::LettaBuiltin => &BuiltinTools,
        ToolType::LettaFilesCore => &FileTools,
        ToolType::LettaMultiAgentCore => &NotExecutable("multi-agent tools are not served yet"),
        ToolType::Custom => &CustomTools,
        ToolType::ExternalMcp => &McpTools,
        ToolType::ExternalComposio | ToolType::ExternalLangchain => {
            &NotExecutable("this server cannot run tools of its type yet")
        }
    }
}

/// Kinds of tools this server cannot run (yet), with the reason: the call is a tool error
/// the model reads, never a failed request.
struct NotExecutable(&'static str);

#[async_trait]
impl ToolExecutor for NotExecutable {
    async fn execute(
        &self,
        _ctx: &ToolContext<'_>,
        tool: &Tool,
        _args: &Map<String, Value>,
    ) -> ToolOutcome {
        ToolOutcome::error(format!(
            "Tool {} cannot be executed by this server: {}",
            tool.name(),
            self.0
        ))
    }
}
