//! User-defined Python tools (`custom`), run out of process by [`crate::sandbox`]
//! (spec: groups-memory-tools §5.6).
//!
//! The tool's environment is composed here and nowhere else: the organization's local
//! sandbox config variables, then the agent's `tool_exec_environment_variables` (the agent
//! wins). The server's own environment never reaches a tool, unlike the original, which
//! copies it (provider keys included) into every tool process. Values are secrets: nothing
//! here logs them.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::executor::{ToolContext, ToolExecutor, ToolOutcome};
use crate::sandbox::{PipRequirement, ToolExecution, ToolRun, ToolStatus};
use crate::schemas::block::Block;
use crate::schemas::common::char_len;
use crate::schemas::sandbox::SandboxType;
use crate::schemas::tool::Tool;
use crate::services::agents::AgentService;
use crate::store::RelationSet;

pub struct CustomTools;

#[async_trait]
impl ToolExecutor for CustomTools {
    async fn execute(
        &self,
        ctx: &ToolContext<'_>,
        tool: &Tool,
        args: &Map<String, Value>,
    ) -> ToolOutcome {
        let function = function_name(tool);
        match run(ctx, tool, &function, args).await {
            Ok(outcome) => outcome,
            // Setting the call up failed (the agent's state or variables could not be
            // read): the model reads it as the tool's error, the request goes on.
            Err(message) => from_execution(ToolExecution::error(
                &function,
                "SandboxError",
                &message,
                vec![message.clone()],
            )),
        }
    }
}

/// The function to call: the schema's name (what the model called), else the tool's name.
fn function_name(tool: &Tool) -> String {
    tool.json_schema
        .as_ref()
        .and_then(|s| s.get("name"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| tool.name())
        .to_owned()
}

/// Whether the tool's function may take `agent_state`. The worker passes it only to a
/// function with that parameter; loading the agent's memory is skipped when the source
/// cannot have one (the schema never lists it: the original leaves it out).
fn wants_agent_state(source: &str) -> bool {
    source.contains("agent_state")
}

async fn run(
    ctx: &ToolContext<'_>,
    tool: &Tool,
    function: &str,
    args: &Map<String, Value>,
) -> Result<ToolOutcome, String> {
    let Some(source) = tool.source_code.as_deref().filter(|s| !s.trim().is_empty()) else {
        return Err(format!("tool {} has no source code", tool.name()));
    };
    let (mut env, mut pip_requirements) = sandbox_config_env(ctx).await?;
    pip_requirements.extend(
        tool.pip_requirements
            .iter()
            .flatten()
            .map(|r| PipRequirement {
                name: r.name.clone(),
                version: r.version.clone(),
            }),
    );
    // The agent's variables win over the config's.
    env.extend(
        ctx.environment()
            .await
            .map_err(|e| e.to_string())?
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );

    let blocks = if wants_agent_state(source) {
        Some(agent_blocks(ctx).await?)
    } else {
        None
    };
    let agent_state = blocks.as_ref().map(|(name, blocks)| {
        json!({
            "id": ctx.agent_id,
            "name": name,
            "memory": {"blocks": blocks},
        })
    });

    let run = ToolRun {
        source_code: source.to_owned(),
        function: function.to_owned(),
        args: args.clone(),
        json_schema: tool.json_schema.clone(),
        agent_state,
        env,
        pip_requirements,
    };
    let execution = match ctx.state.sandbox.get().await {
        Ok(sandbox) => sandbox.run_tool(&run).await,
        Err(err) => Err(err),
    };
    let execution = execution.unwrap_or_else(|err| {
        tracing::warn!(tool = %tool.name(), error = %err, "the tool sandbox failed");
        ToolExecution::from_sandbox_error(function, &err)
    });

    let changed = match (&blocks, &execution.agent_state) {
        (Some((_, before)), Some(after)) => changed_blocks(before, after),
        _ => Vec::new(),
    };
    let mut outcome = from_execution(execution);
    if !changed.is_empty() {
        let saved = save_blocks(ctx, &changed).await;
        outcome.memory_changed = saved.any_saved;
        if let Some(err) = saved.error {
            outcome.ok = false;
            outcome.message = err;
        }
    }
    Ok(outcome)
}

fn from_execution(execution: ToolExecution) -> ToolOutcome {
    ToolOutcome {
        ok: execution.status == ToolStatus::Success,
        message: execution.func_return,
        stdout: Some(execution.stdout),
        stderr: Some(execution.stderr),
        memory_changed: false,
    }
}

/// The variables of the organization's local sandbox config and its requirements (only
/// with `use_venv`, as the original). A config is never created here: an organization
/// without one has no variables.
async fn sandbox_config_env(
    ctx: &ToolContext<'_>,
) -> Result<(BTreeMap<String, String>, Vec<PipRequirement>), String> {
    let store = &ctx.state.store;
    let org = &ctx.actor.organization_id;
    let config = store
        .get_sandbox_config_by_type(org, SandboxType::Local)
        .await
        .map_err(|e| e.to_string())?;
    let Some(config) = config else {
        return Ok((BTreeMap::new(), Vec::new()));
    };
    let vars = store
        .list_sandbox_env_vars(org, &config.id, None, None)
        .await
        .map_err(|e| e.to_string())?;
    let env = vars.into_iter().map(|v| (v.key, v.value)).collect();
    let reqs = match config.local_config() {
        Ok(local) if local.use_venv => local
            .pip_requirements
            .into_iter()
            .map(|r| PipRequirement {
                name: r.name,
                version: r.version,
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok((env, reqs))
}

/// The agent's name and its core memory blocks as the tool sees them.
async fn agent_blocks(ctx: &ToolContext<'_>) -> Result<(String, Vec<Value>), String> {
    let agent = AgentService::new(&ctx.state.store, &ctx.state.config, &ctx.state.models)
        .get(ctx.actor, ctx.agent_id, RelationSet::MEMORY)
        .await
        .map_err(|e| e.to_string())?;
    let blocks = agent
        .memory
        .blocks
        .iter()
        .map(|b| serde_json::to_value(b).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((agent.name.clone(), blocks))
}

/// (block id, label, new value) of each block whose value the tool changed. Blocks are
/// matched by label, as the original writes them back; blocks the tool added or renamed
/// are ignored (only values are written back).
fn changed_blocks(before: &[Value], after: &Value) -> Vec<(String, String, String)> {
    let Some(after) = after.pointer("/memory/blocks").and_then(Value::as_array) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for old in before {
        let (Some(id), Some(label), Some(value)) = (
            old.get("id").and_then(Value::as_str),
            old.get("label").and_then(Value::as_str),
            old.get("value").and_then(Value::as_str),
        ) else {
            continue;
        };
        let new = after
            .iter()
            .find(|b| b.get("label").and_then(Value::as_str) == Some(label))
            .and_then(|b| b.get("value"))
            .and_then(Value::as_str);
        if let Some(new) = new
            && new != value
        {
            out.push((id.to_owned(), label.to_owned(), new.to_owned()));
        }
    }
    out
}

struct Saved {
    any_saved: bool,
    error: Option<String>,
}

/// Writes the tool's block changes as a core-memory edit does: through the store's
/// versioned write, refusing read-only blocks and values over the block's limit.
async fn save_blocks(ctx: &ToolContext<'_>, changed: &[(String, String, String)]) -> Saved {
    let mut saved = Saved {
        any_saved: false,
        error: None,
    };
    let editor = ctx.actor.user_id.clone();
    for (id, label, value) in changed {
        let apply = |stored: &mut Block| {
            if stored.read_only {
                return Err(format!(
                    "Error The block labelled '{label}' is read-only and cannot be edited."
                ));
            }
            let len = char_len(value);
            if len as i64 > stored.limit {
                return Err(format!(
                    "Edit failed: Exceeds {} character limit (requested {len}) - the block labelled '{label}'.",
                    stored.limit
                ));
            }
            stored.value = value.clone();
            stored.last_updated_by_id = Some(editor.clone());
            Ok(())
        };
        let result = ctx
            .state
            .store
            .edit_block(&ctx.actor.organization_id, id, &apply)
            .await;
        match result {
            Ok(Some(_)) => saved.any_saved = true,
            Ok(None) => {}
            Err(crate::store::StoreError::Rejected(msg)) => {
                saved.error.get_or_insert(msg);
            }
            Err(err) => {
                saved.error.get_or_insert(err.to_string());
            }
        }
    }
    saved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_values_are_written_back() {
        let before = vec![
            json!({"id": "block-1", "label": "human", "value": "a"}),
            json!({"id": "block-2", "label": "persona", "value": "b"}),
        ];
        let after = json!({"memory": {"blocks": [
            {"id": "block-1", "label": "human", "value": "a"},
            {"id": "block-2", "label": "persona", "value": "c"},
            {"label": "new", "value": "x"},
        ]}});
        assert_eq!(
            changed_blocks(&before, &after),
            vec![("block-2".into(), "persona".into(), "c".into())]
        );
        assert!(changed_blocks(&before, &json!({})).is_empty());
    }
}
