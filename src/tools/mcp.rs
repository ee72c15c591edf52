//! Tools of an MCP server (`external_mcp`): called through the warm session the pool keeps
//! for the server the tool's `mcp:<server>` tag names. The server's error (a tool error,
//! a JSON-RPC error, a crash, a timeout) is the call's `error` status; the turn goes on.

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::executor::{ToolContext, ToolExecutor, ToolOutcome};
use crate::mcp::McpTarget;
use crate::schemas::tool::Tool;
use crate::services::mcp_servers::{pool_key, tool_server_name};

pub struct McpTools;

#[async_trait]
impl ToolExecutor for McpTools {
    async fn execute(
        &self,
        ctx: &ToolContext<'_>,
        tool: &Tool,
        args: &Map<String, Value>,
    ) -> ToolOutcome {
        let Some(server_name) = tool_server_name(tool) else {
            return ToolOutcome::error(format!(
                "Tool {} does not name its MCP server (no mcp:<server> tag)",
                tool.name()
            ));
        };
        let server = match ctx
            .state
            .store
            .get_mcp_server_by_name(&ctx.actor.organization_id, &server_name)
            .await
        {
            Ok(Some(server)) => server,
            Ok(None) => {
                return ToolOutcome::error(format!(
                    "MCP server {server_name} of tool {} not found",
                    tool.name()
                ));
            }
            Err(err) => return ToolOutcome::error(err.to_string()),
        };
        let outcome = ctx
            .state
            .mcp
            .call_tool(
                &pool_key(&server),
                &McpTarget::from_server(&server),
                tool.name(),
                args,
            )
            .await;
        match outcome {
            Ok(result) if result.is_error => ToolOutcome::error(result.text),
            Ok(result) => ToolOutcome::ok(result.text),
            Err(err) => {
                tracing::warn!(server = %server_name, tool = %tool.name(), error = %err, "an MCP tool call failed");
                ToolOutcome::error(format!("Error calling MCP tool {}: {err}", tool.name()))
            }
        }
    }
}
