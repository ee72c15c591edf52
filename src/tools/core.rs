//! Letta's built-in tools as the loop executes them: sending a message, searching the
//! conversation, and editing core memory (spec: agent-loop-and-messages §6.5).

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::executor::{ToolContext, ToolExecutor, ToolOutcome};
use crate::schemas::block::Block;
use crate::schemas::common::char_len;
use crate::schemas::message::MessageRole;
use crate::schemas::tool::Tool;
use crate::services::agents::AgentService;
use crate::services::archival::ArchivalService;

const SEARCH_PAGE_SIZE: i64 = 5;
const MEMORY_EDIT_DONE: &str = "The core memory block with label `{label}` has been edited. Review the changes and make sure they are as expected (correct indentation, no duplicate lines, etc). Edit the memory block again if necessary.";
const LINE_NUMBER_WARNING: &str = "# Line numbers are shown to help you edit";

pub(super) fn str_arg<'v>(args: &'v Map<String, Value>, name: &str) -> Result<&'v str, String> {
    match args.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("Argument {name} must be a string, got {other}")),
        None => Err(format!("Missing required argument: {name}")),
    }
}

fn int_arg(args: &Map<String, Value>, name: &str, default: i64) -> Result<i64, String> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| format!("Argument {name} must be an integer")),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("none") => Ok(default),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| format!("Argument {name} must be an integer, got '{s}'")),
        Some(other) => Err(format!("Argument {name} must be an integer, got {other}")),
    }
}

/// Runs a built-in tool. Failures are returned as error outcomes the model reads, never as
/// errors of the request.
/// Letta's built-in tools (`letta_core`, `letta_memory_core`, `letta_sleeptime_core`), run in
/// process against the agent's memory and history.
pub struct CoreTools;

#[async_trait]
impl ToolExecutor for CoreTools {
    async fn execute(
        &self,
        ctx: &ToolContext<'_>,
        tool: &Tool,
        args: &Map<String, Value>,
    ) -> ToolOutcome {
        run(ctx, tool.name(), args).await
    }
}

async fn run(ctx: &ToolContext<'_>, name: &str, args: &Map<String, Value>) -> ToolOutcome {
    let result = match name {
        "send_message" => str_arg(args, "message").map(|_| ToolOutcome::ok("Sent message successfully.")),
        "conversation_search" => conversation_search(ctx, args).await,
        "core_memory_append" => edit_block(ctx, args, |block, args| {
            let content = str_arg(args, "content")?;
            block.value = format!("{}\n{content}", block.value);
            Ok("None".to_owned())
        })
        .await,
        "core_memory_replace" => edit_block(ctx, args, |block, args| {
            let old = str_arg(args, "old_content")?;
            let new = str_arg(args, "new_content")?;
            if old.is_empty() || !block.value.contains(old) {
                return Err(format!("Old content '{old}' not found in memory block '{}'", block.label()));
            }
            block.value = block.value.replace(old, new);
            Ok("None".to_owned())
        })
        .await,
        "memory_replace" => edit_block(ctx, args, |block, args| {
            let old = str_arg(args, "old_str")?;
            let new = match args.get("new_str") {
                None | Some(Value::Null) => "",
                Some(Value::String(s)) => s.as_str(),
                Some(other) => return Err(format!("Argument new_str must be a string, got {other}")),
            };
            reject_line_numbers(old)?;
            reject_line_numbers(new)?;
            let old = old.replace('\t', "    ");
            let new = new.replace('\t', "    ");
            let value = block.value.replace('\t', "    ");
            match value.matches(old.as_str()).count() {
                0 => Err(format!(
                    "No replacement was performed, old_str `{old}` did not appear verbatim in memory block with label `{}`.",
                    block.label()
                )),
                1 => {
                    block.value = value.replacen(old.as_str(), &new, 1);
                    Ok(MEMORY_EDIT_DONE.replace("{label}", block.label()))
                }
                n => Err(format!(
                    "No replacement was performed. Multiple occurrences ({n}) of old_str `{old}` in memory block with label `{}`. Please ensure it is unique.",
                    block.label()
                )),
            }
        })
        .await,
        "memory_insert" => edit_block(ctx, args, |block, args| {
            let new = str_arg(args, "new_str")?;
            reject_line_numbers(new)?;
            let at = int_arg(args, "insert_line", -1)?;
            let value = block.value.replace('\t', "    ");
            let mut lines: Vec<&str> = if value.is_empty() { Vec::new() } else { value.split('\n').collect() };
            let count = lines.len() as i64;
            let index = if at == -1 { count } else { at };
            if index < 0 || index > count {
                return Err(format!(
                    "Invalid `insert_line` parameter: {at}. It should be within the range of lines of the memory block: [0, {count}], or -1 to append to the end."
                ));
            }
            let new = new.replace('\t', "    ");
            let insert: Vec<&str> = new.split('\n').collect();
            let tail = lines.split_off(index as usize);
            lines.extend(insert);
            lines.extend(tail);
            block.value = lines.join("\n");
            Ok(MEMORY_EDIT_DONE.replace("{label}", block.label()))
        })
        .await,
        "memory_rethink" => edit_block(ctx, args, |block, args| {
            let new = str_arg(args, "new_memory")?;
            reject_line_numbers(new)?;
            block.value = new.to_owned();
            Ok(MEMORY_EDIT_DONE.replace("{label}", block.label()))
        })
        .await,
        "memory_finish_edits" => Ok(ToolOutcome::ok("None")),
        "archival_memory_insert" => archival_insert(ctx, args).await,
        "archival_memory_search" => archival_search(ctx, args).await,
        other => Err(format!("Tool {other} cannot be executed by this server")),
    };
    result.unwrap_or_else(ToolOutcome::error)
}

fn reject_line_numbers(text: &str) -> Result<(), String> {
    let has_prefix = text.lines().any(|l| {
        l.strip_prefix("Line ")
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    });
    if has_prefix || text.contains(LINE_NUMBER_WARNING) {
        Err("The text contains line-number prefixes (e.g. `Line 1:`), which are only shown to help you locate lines; do not include them in memory edits.".to_owned())
    } else {
        Ok(())
    }
}

/// Applies `edit` to the agent's block named by the `label` argument and saves it; the
/// block's limit and read-only flag are enforced.
pub(super) async fn edit_block(
    ctx: &ToolContext<'_>,
    args: &Map<String, Value>,
    edit: impl Fn(&mut Block, &Map<String, Value>) -> Result<String, String> + Send + Sync,
) -> Result<ToolOutcome, String> {
    let label = str_arg(args, "label")?;
    let store = &ctx.state.store;
    let block = store
        .agent_block_by_label(ctx.agent_id, label)
        .await
        .map_err(|e| e.to_string())?;
    let Some(block) = block else {
        let labels: Vec<String> =
            AgentService::new(&ctx.state.store, &ctx.state.config, &ctx.state.models)
                .blocks_of(ctx.agent_id)
                .await
                .map_err(|e| e.to_string())?
                .iter()
                .map(|b| b.label().to_owned())
                .collect();
        return Err(format!(
            "'Block field {label} does not exist (available sections = {})'",
            labels.join(", ")
        ));
    };
    if block.read_only {
        return Err("Error This block is read-only and cannot be edited.".to_owned());
    }
    // The edit runs on the block as stored, inside the store's versioned write, so an
    // edit made meanwhile through the API is never overwritten.
    let message = std::sync::Mutex::new(String::new());
    let editor = ctx.actor.user_id.clone();
    let apply = |stored: &mut Block| {
        if stored.read_only {
            return Err("Error This block is read-only and cannot be edited.".to_owned());
        }
        let text = edit(stored, args)?;
        let len = char_len(&stored.value);
        if len as i64 > stored.limit {
            return Err(format!(
                "Edit failed: Exceeds {} character limit (requested {len}) - the block labelled '{}'.",
                stored.limit,
                stored.label()
            ));
        }
        stored.last_updated_by_id = Some(editor.clone());
        *message.lock().unwrap_or_else(|e| e.into_inner()) = text;
        Ok(())
    };
    let saved = store
        .edit_block(&ctx.actor.organization_id, &block.id, &apply)
        .await;
    match saved {
        Ok(Some(_)) => {}
        Ok(None) => return Err(format!("Block {label} no longer exists")),
        Err(crate::store::StoreError::Rejected(msg)) => return Err(msg),
        Err(err) => return Err(err.to_string()),
    }
    let message = message.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(ToolOutcome::memory_edit(message))
}

/// Stores `content` as archival passages; returns `None` like the original. The loop
/// recompiles the system prompt (the archival count changed).
async fn archival_insert(
    ctx: &ToolContext<'_>,
    args: &Map<String, Value>,
) -> Result<ToolOutcome, String> {
    let content = str_arg(args, "content")?;
    let text = ArchivalService::new(
        &ctx.state.store,
        &ctx.state.config,
        &ctx.state.models,
        &ctx.state.providers,
    )
    .tool_insert(ctx.actor, ctx.agent_id, content)
    .await
    .map_err(|e| e.to_string())?;
    Ok(ToolOutcome::memory_edit(text))
}

/// The five archival passages nearest to `query` from `start` on; `page` must be an integer
/// but does not page (as in the original).
async fn archival_search(
    ctx: &ToolContext<'_>,
    args: &Map<String, Value>,
) -> Result<ToolOutcome, String> {
    let query = str_arg(args, "query")?;
    int_arg(args, "page", 0)?;
    let start = int_arg(args, "start", 0)?;
    let text = ArchivalService::new(
        &ctx.state.store,
        &ctx.state.config,
        &ctx.state.models,
        &ctx.state.providers,
    )
    .tool_search(ctx.actor, ctx.agent_id, query, start)
    .await
    .map_err(|e| e.to_string())?;
    Ok(ToolOutcome::ok(text))
}

/// Case-insensitive search over the agent's user messages, five per page.
async fn conversation_search(
    ctx: &ToolContext<'_>,
    args: &Map<String, Value>,
) -> Result<ToolOutcome, String> {
    let query = str_arg(args, "query")?;
    let page = int_arg(args, "page", 0)?.max(0);
    let hits = ctx
        .state
        .store
        .search_agent_messages(
            ctx.agent_id,
            query,
            &[MessageRole::User],
            page * SEARCH_PAGE_SIZE,
            SEARCH_PAGE_SIZE + 1,
        )
        .await
        .map_err(|e| e.to_string())?;
    if hits.is_empty() {
        return Ok(ToolOutcome::ok("No results found."));
    }
    let shown: Vec<Value> = hits
        .iter()
        .take(SEARCH_PAGE_SIZE as usize)
        .map(|m| json!(m.text().unwrap_or_default()))
        .collect();
    let more = if hits.len() as i64 > SEARCH_PAGE_SIZE {
        ", more on the next page"
    } else {
        ""
    };
    let body = serde_json::to_string_pretty(&Value::Array(shown.clone())).unwrap_or_default();
    Ok(ToolOutcome::ok(format!(
        "Showing {} results (page {page}{more}): {body}",
        shown.len()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_number_prefixes_are_rejected() {
        assert!(reject_line_numbers("Line 1: hello").is_err());
        assert!(reject_line_numbers("Lines of text").is_ok());
        assert!(reject_line_numbers("plain").is_ok());
    }

    #[test]
    fn int_args_accept_strings_and_none() {
        let mut args = Map::new();
        args.insert("page".into(), json!("2"));
        assert_eq!(int_arg(&args, "page", 0), Ok(2));
        args.insert("page".into(), json!("none"));
        assert_eq!(int_arg(&args, "page", 0), Ok(0));
        args.insert("page".into(), json!("x"));
        assert!(int_arg(&args, "page", 0).is_err());
    }
}
