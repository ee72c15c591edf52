//! The voice sleeptime tools (`letta_voice_sleeptime_core`): archiving stretches of the
//! conversation, rewriting the memory of the user, and searching what left the context.

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::core::{edit_block, str_arg};
use super::executor::{ToolContext, ToolExecutor, ToolOutcome};
use crate::schemas::common::now;
use crate::schemas::message::{Message, MessageRole};
use crate::schemas::tool::Tool;
use crate::services::agents::AgentService;
use crate::services::archival::ArchivalService;

/// The block `rethink_user_memory` rewrites, as in the original.
const USER_BLOCK: &str = "human";
/// Conversation hits shown per keyword.
const HITS_PER_KEYWORD: i64 = 5;

pub struct VoiceSleeptimeTools;

#[async_trait]
impl ToolExecutor for VoiceSleeptimeTools {
    async fn execute(
        &self,
        ctx: &ToolContext<'_>,
        tool: &Tool,
        args: &Map<String, Value>,
    ) -> ToolOutcome {
        let result = match tool.name() {
            "rethink_user_memory" => rethink_user_memory(ctx, args).await,
            "finish_rethinking_memory" => Ok(ToolOutcome::ok("None")),
            "store_memories" => store_memories(ctx, args).await,
            "search_memory" => search_memory(ctx, args).await,
            other => Err(format!("Tool {other} cannot be executed by this server")),
        };
        result.unwrap_or_else(ToolOutcome::error)
    }
}

async fn rethink_user_memory(
    ctx: &ToolContext<'_>,
    args: &Map<String, Value>,
) -> Result<ToolOutcome, String> {
    let mut with_label = args.clone();
    with_label.insert("label".into(), json!(USER_BLOCK));
    edit_block(ctx, &with_label, |block, args| {
        block.value = str_arg(args, "new_memory")?.to_owned();
        Ok("None".to_owned())
    })
    .await
}

/// The agent's in-context messages, the system message first.
async fn in_context(ctx: &ToolContext<'_>) -> Result<Vec<Message>, String> {
    let row = AgentService::new(&ctx.state.store, &ctx.state.config, &ctx.state.models)
        .row(ctx.actor, ctx.agent_id)
        .await
        .map_err(|e| e.to_string())?;
    ctx.state
        .store
        .get_messages(&row.organization_id, &row.message_ids)
        .await
        .map_err(|e| e.to_string())
}

/// The in-context conversation, one line per message with text (the system message left
/// out): the lines `store_memories` indexes into.
async fn transcript(ctx: &ToolContext<'_>) -> Result<Vec<String>, String> {
    Ok(in_context(ctx)
        .await?
        .iter()
        .filter(|m| m.role != MessageRole::System)
        .filter_map(|m| Some(format!("{}: {}", role_name(m), m.text()?)))
        .collect())
}

fn role_name(m: &Message) -> &'static str {
    match m.role {
        MessageRole::User => "user",
        MessageRole::Assistant => "assistant",
        MessageRole::Tool => "tool",
        MessageRole::System => "system",
    }
}

fn index_arg(chunk: &Map<String, Value>, name: &str) -> Result<usize, String> {
    chunk
        .get(name)
        .and_then(Value::as_u64)
        .map(|n| n as usize)
        .ok_or_else(|| format!("Each chunk needs a non-negative integer {name}"))
}

/// Each chunk becomes an archival passage: its synopsis, then the transcript lines it names.
async fn store_memories(
    ctx: &ToolContext<'_>,
    args: &Map<String, Value>,
) -> Result<ToolOutcome, String> {
    let chunks = match args.get("chunks") {
        Some(Value::Array(chunks)) => chunks,
        _ => return Err("Argument chunks must be a list of chunks".to_owned()),
    };
    let lines = transcript(ctx).await?;
    let mut passages = Vec::with_capacity(chunks.len());
    for chunk in chunks {
        let chunk = chunk
            .as_object()
            .ok_or_else(|| "Each chunk must be an object".to_owned())?;
        let start = index_arg(chunk, "start_index")?;
        let end = index_arg(chunk, "end_index")?;
        let context = str_arg(chunk, "context")?;
        if start > end || end >= lines.len() {
            return Err(format!(
                "Failed to store memory given start_index {start} and end_index {end}: the transcript has lines 0 to {}",
                lines.len().saturating_sub(1)
            ));
        }
        passages.push(format!(
            "{context}\n\nTranscript:\n{}",
            lines[start..=end].join("\n")
        ));
    }
    for text in passages {
        ArchivalService::new(
            &ctx.state.store,
            &ctx.state.config,
            &ctx.state.models,
            &ctx.state.providers,
        )
        .tool_insert(ctx.actor, ctx.agent_id, &text)
        .await
        .map_err(|e| e.to_string())?;
    }
    Ok(ToolOutcome::memory_edit("None"))
}

/// Archival passages near the keywords (or the user's latest message), and earlier
/// conversation lines holding a keyword within the time window.
async fn search_memory(
    ctx: &ToolContext<'_>,
    args: &Map<String, Value>,
) -> Result<ToolOutcome, String> {
    let keywords: Vec<String> = match args.get("convo_keyword_queries") {
        Some(Value::Array(words)) => words
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let minutes = |name: &str| args.get(name).and_then(Value::as_i64);
    let (newest, oldest) = (minutes("start_minutes_ago"), minutes("end_minutes_ago"));
    let query = if keywords.is_empty() {
        latest_user_text(ctx).await?
    } else {
        keywords.join(" ")
    };
    let mut sections = Vec::new();
    if !query.trim().is_empty() {
        let archival = ArchivalService::new(
            &ctx.state.store,
            &ctx.state.config,
            &ctx.state.models,
            &ctx.state.providers,
        )
        .tool_search(ctx.actor, ctx.agent_id, &query, 0)
        .await
        .map_err(|e| e.to_string())?;
        sections.push(format!("Archival memory: {archival}"));
    }
    let now = now();
    let mut lines = Vec::new();
    for word in &keywords {
        let hits = ctx
            .state
            .store
            .search_agent_messages(
                ctx.agent_id,
                word,
                &[MessageRole::User, MessageRole::Assistant],
                0,
                HITS_PER_KEYWORD,
            )
            .await
            .map_err(|e| e.to_string())?;
        for m in hits {
            let age = (now - m.created_at).num_minutes();
            if newest.is_some_and(|n| age < n) || oldest.is_some_and(|o| age > o) {
                continue;
            }
            if let Some(text) = m.text() {
                lines.push(format!("{}: {text}", role_name(&m)));
            }
        }
    }
    if !lines.is_empty() {
        sections.push(format!("Earlier conversation:\n{}", lines.join("\n")));
    }
    if sections.is_empty() {
        return Ok(ToolOutcome::ok("No results found."));
    }
    Ok(ToolOutcome::ok(sections.join("\n\n")))
}

async fn latest_user_text(ctx: &ToolContext<'_>) -> Result<String, String> {
    Ok(in_context(ctx)
        .await?
        .iter()
        .rev()
        .find(|m| m.role == MessageRole::User)
        .and_then(|m| m.text())
        .unwrap_or_default()
        .to_owned())
}
