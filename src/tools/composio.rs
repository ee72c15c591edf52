//! Tools of type `external_composio`: the call is executed by Composio (its API key from the
//! agent's `COMPOSIO_API_KEY` tool variable, else the server's); its error, or a missing
//! key, is the tool's error.

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::executor::{ToolContext, ToolExecutor, ToolOutcome};
use crate::config::Secret;
use crate::schemas::tool::Tool;
use crate::services::composio::{ComposioApi, action_of};

pub struct ComposioTools;

#[async_trait]
impl ToolExecutor for ComposioTools {
    async fn execute(
        &self,
        ctx: &ToolContext<'_>,
        tool: &Tool,
        args: &Map<String, Value>,
    ) -> ToolOutcome {
        let agent_key = match ctx.environment().await {
            Ok(env) => env
                .get("COMPOSIO_API_KEY")
                .filter(|k| !k.trim().is_empty())
                .map(|k| Secret::new(k.clone())),
            Err(err) => return ToolOutcome::error(err.public_message()),
        };
        let api = ComposioApi::from_config(&ctx.state.config).with_key(agent_key);
        match api.execute(&action_of(tool), args).await {
            Ok(data) => ToolOutcome::ok(match data {
                Value::String(s) => s,
                other => other.to_string(),
            }),
            Err(message) => ToolOutcome::error(message),
        }
    }
}
