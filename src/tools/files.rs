//! The file tools (`letta_files_core`): `open_files`, `grep_files` and
//! `semantic_search_files`, over the files of the sources attached to the agent.

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::executor::{ToolContext, ToolExecutor, ToolOutcome};
use crate::ingest::file_types;
use crate::ingest::job::MAX_FILES_OPEN;
use crate::ingest::lines::{self, Window};
use crate::llm::embeddings::embedding_model_for;
use crate::schemas::file::FileAgent;
use crate::schemas::tool::Tool;
use crate::store::FileToOpen;

/// Longest regular expression accepted.
const MAX_PATTERN_CHARS: usize = 1000;
/// Largest file grep reads, and the most it reads in one call.
const MAX_GREP_FILE_BYTES: usize = 50 * 1024 * 1024;
const MAX_GREP_TOTAL_BYTES: usize = 200 * 1024 * 1024;
const MAX_MATCHES_PER_FILE: usize = 20;
const MAX_TOTAL_MATCHES: usize = 50;
/// Lines of a passage shown by the semantic search.
const MAX_PASSAGE_LINES: usize = 20;

pub struct FileTools;

#[async_trait]
impl ToolExecutor for FileTools {
    async fn execute(
        &self,
        ctx: &ToolContext<'_>,
        tool: &Tool,
        args: &Map<String, Value>,
    ) -> ToolOutcome {
        let result = match tool.name() {
            "open_files" => open_files(ctx, args).await.map(ToolOutcome::memory_edit),
            "grep_files" => grep_files(ctx, args).await.map(ToolOutcome::ok),
            "semantic_search_files" => semantic_search_files(ctx, args).await.map(ToolOutcome::ok),
            other => Err(format!("Unknown function: {other}")),
        };
        result.unwrap_or_else(ToolOutcome::error)
    }
}

fn str_arg<'v>(args: &'v Map<String, Value>, name: &str) -> Result<Option<&'v str>, String> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("Argument {name} must be a string, got {other}")),
    }
}

fn int_arg(args: &Map<String, Value>, name: &str) -> Result<Option<i64>, String> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("Argument {name} must be an integer")),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("Argument {name} must be an integer, got '{s}'")),
        Some(other) => Err(format!("Argument {name} must be an integer, got {other}")),
    }
}

fn bool_arg(args: &Map<String, Value>, name: &str) -> Result<bool, String> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(other) => Err(format!("Argument {name} must be a boolean, got {other}")),
    }
}

/// Python's repr of a list of strings, as the original's messages show names.
fn py_list(names: &[String]) -> String {
    let items: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    format!("[{}]", items.join(", "))
}

async fn agent_files(ctx: &ToolContext<'_>) -> Result<Vec<FileAgent>, String> {
    let ids = [ctx.agent_id.to_owned()];
    Ok(ctx
        .state
        .store
        .file_agents_of(&ids)
        .await
        .map_err(|e| e.to_string())?
        .remove(ctx.agent_id)
        .unwrap_or_default())
}

/// A file's text and the strategy its lines are cut by; `None` when it has no text yet.
async fn file_text(
    ctx: &ToolContext<'_>,
    file: &FileAgent,
) -> Result<Option<(String, file_types::ChunkingStrategy)>, String> {
    let found = ctx
        .state
        .store
        .get_file(&ctx.actor.organization_id, &file.file_id, true)
        .await
        .map_err(|e| e.to_string())?;
    Ok(found.and_then(|f| {
        let strategy = file_types::strategy_for(f.file_type.as_deref(), &file.file_name);
        f.content.map(|text| (text, strategy))
    }))
}

struct OpenRequest {
    file_name: String,
    offset: Option<i64>,
    length: Option<i64>,
}

fn open_requests(args: &Map<String, Value>) -> Result<Vec<OpenRequest>, String> {
    let raw = match args.get("file_requests") {
        Some(Value::Array(items)) => items.clone(),
        // Some models send the list as JSON text.
        Some(Value::String(s)) => serde_json::from_str::<Vec<Value>>(s)
            .map_err(|_| "Argument file_requests must be a list of file requests".to_owned())?,
        None | Some(Value::Null) => {
            return Err("Missing required argument: file_requests".to_owned());
        }
        Some(_) => return Err("Argument file_requests must be a list of file requests".to_owned()),
    };
    raw.iter()
        .map(|item| {
            let Value::Object(obj) = item else {
                return Err(format!(
                    "Invalid file request type: {item}. Expected an object with file_name"
                ));
            };
            Ok(OpenRequest {
                file_name: str_arg(obj, "file_name")?
                    .ok_or("Each file request needs a file_name")?
                    .to_owned(),
                offset: int_arg(obj, "offset")?,
                length: int_arg(obj, "length")?,
            })
        })
        .collect()
}

async fn open_files(ctx: &ToolContext<'_>, args: &Map<String, Value>) -> Result<String, String> {
    let requests = open_requests(args)?;
    let close_all_others = bool_arg(args, "close_all_others")?;
    if requests.len() > MAX_FILES_OPEN {
        return Err(format!(
            "Cannot open {} files: exceeds maximum limit of {MAX_FILES_OPEN} files",
            requests.len()
        ));
    }
    if requests.is_empty() {
        return Err("No file requests provided".to_owned());
    }
    let store = &ctx.state.store;
    let attached = agent_files(ctx).await?;
    let attached_names: Vec<String> = attached.iter().map(|f| f.file_name.clone()).collect();
    let names: Vec<String> = requests.iter().map(|r| r.file_name.clone()).collect();
    // Check every request before changing anything.
    let mut views = Vec::with_capacity(requests.len());
    for req in &requests {
        let Some(file) = attached.iter().find(|f| f.file_name == req.file_name) else {
            return Err(format!(
                "{} not attached - did you get the filename correct? Currently you have the following files attached: {}",
                req.file_name,
                py_list(&attached_names)
            ));
        };
        if let Some(offset) = req.offset
            && offset < 1
        {
            return Err(format!(
                "Offset for file {} must be >= 1 (1-indexed), got {offset}",
                req.file_name
            ));
        }
        if let Some(length) = req.length
            && length < 1
        {
            return Err(format!(
                "Length for file {} must be >= 1, got {length}",
                req.file_name
            ));
        }
        let start = req.offset.map(|o| (o - 1) as usize);
        let end = match (start, req.length) {
            (Some(s), Some(l)) => Some(s + l as usize),
            (None, Some(l)) => Some(l as usize),
            _ => None,
        };
        let (text, strategy) = file_text(ctx, file).await?.ok_or_else(|| {
            format!(
                "{} has no text yet: it is still being processed",
                file.file_name
            )
        })?;
        let view = lines::render(
            &file.file_name,
            &text,
            strategy,
            Window { start, end },
            true,
        )?;
        views.push(FileToOpen {
            file_id: file.file_id.clone(),
            source_id: file.source_id.clone(),
            file_name: file.file_name.clone(),
            visible_content: view.join("\n"),
        });
    }
    let mut closed_by_request = Vec::new();
    if close_all_others {
        closed_by_request = store
            .close_files(ctx.agent_id, &names)
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut closed_by_limit = Vec::new();
    for view in views {
        let closed = store
            .open_files(
                &ctx.actor.organization_id,
                ctx.agent_id,
                std::slice::from_ref(&view),
                MAX_FILES_OPEN,
            )
            .await
            .map_err(|e| e.to_string())?;
        closed_by_limit.extend(closed);
    }
    store
        .mark_files_accessed(ctx.agent_id, &names)
        .await
        .map_err(|e| e.to_string())?;

    let range = |r: &OpenRequest| match (r.offset, r.length) {
        (Some(o), Some(l)) => Some((o, Some(o + l - 1))),
        (Some(o), None) => Some((o, None)),
        _ => None,
    };
    let mut msg = if let [only] = requests.as_slice() {
        let name = &only.file_name;
        match range(only) {
            Some((o, Some(e))) => format!(
                "Successfully opened file {name}, lines {o} to {e} are now visible in memory block <{name}>"
            ),
            Some((o, None)) => format!(
                "Successfully opened file {name}, lines {o} to end are now visible in memory block <{name}>"
            ),
            None => format!(
                "Successfully opened file {name}, entire file is now visible in memory block <{name}>"
            ),
        }
    } else {
        let parts: Vec<String> = requests
            .iter()
            .map(|r| match range(r) {
                Some((o, Some(e))) => format!("{} (lines {o}-{e})", r.file_name),
                Some((o, None)) => format!("{} (lines {o}-end)", r.file_name),
                None => r.file_name.clone(),
            })
            .collect();
        format!(
            "Successfully opened {} files: {}",
            requests.len(),
            parts.join(", ")
        )
    };
    if !closed_by_request.is_empty() {
        msg.push_str(&format!(
            "\nNote: Closed {} file(s) due to close_all_others=True: {}",
            closed_by_request.len(),
            closed_by_request.join(", ")
        ));
    }
    if !closed_by_limit.is_empty() {
        msg.push_str(&format!(
            "\nNote: Closed {} least recently used file(s) due to open file limit: {}",
            closed_by_limit.len(),
            closed_by_limit.join(", ")
        ));
    }
    Ok(msg)
}

fn compile(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.chars().count() > MAX_PATTERN_CHARS {
        return Err(format!(
            "Pattern too complex: {} chars > {MAX_PATTERN_CHARS} limit",
            pattern.chars().count()
        ));
    }
    regex::RegexBuilder::new(pattern)
        .case_insensitive(true)
        .multi_line(true)
        .size_limit(10 * 1024 * 1024)
        .build()
        .map_err(|e| format!("Invalid regex pattern: {e}"))
}

/// A file-name filter: a simple glob (`*.py`) or a regular expression.
fn include_regex(include: &str) -> Result<regex::Regex, String> {
    const REGEX_CHARS: &[char] = &['^', '$', '(', ')', '[', ']', '{', '}', '\\', '+'];
    let pattern = if include.contains('*') && !include.contains(REGEX_CHARS) {
        let mut p = include
            .replace('.', r"\.")
            .replace('*', ".*")
            .replace('?', ".");
        if !p.ends_with('$') {
            p.push('$');
        }
        p
    } else {
        include.to_owned()
    };
    compile(&pattern)
}

async fn grep_files(ctx: &ToolContext<'_>, args: &Map<String, Value>) -> Result<String, String> {
    let pattern = str_arg(args, "pattern")?
        .unwrap_or_default()
        .trim()
        .to_owned();
    if pattern.is_empty() {
        return Err("Empty search pattern provided".to_owned());
    }
    let regex = compile(&pattern)?;
    let include = str_arg(args, "include")?
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .map(str::to_owned);
    let context = int_arg(args, "context_lines")?.unwrap_or(3).max(0) as usize;
    let mut files = agent_files(ctx).await?;
    if files.is_empty() {
        return Ok("No files are currently attached to search".to_owned());
    }
    if let Some(include) = &include {
        let filter = include_regex(include)?;
        let before = files.len();
        files.retain(|f| filter.is_match(&f.file_name));
        if files.is_empty() {
            return Ok(format!(
                "No files match the filename pattern '{include}' (filtered {before} files)"
            ));
        }
    }
    let mut results: Vec<String> = Vec::new();
    let (mut total, mut processed, mut skipped, mut total_bytes) = (0usize, 0usize, 0usize, 0usize);
    let mut matched_files: Vec<String> = Vec::new();
    'files: for file in &files {
        let Some((text, strategy)) = file_text(ctx, file).await? else {
            skipped += 1;
            continue;
        };
        if text.len() > MAX_GREP_FILE_BYTES {
            skipped += 1;
            results.push(format!(
                "[SKIPPED] {}: File too large ({} bytes)",
                file.file_name,
                text.len()
            ));
            continue;
        }
        total_bytes += text.len();
        if total_bytes > MAX_GREP_TOTAL_BYTES {
            skipped += 1;
            results.push(format!(
                "[SKIPPED] {}: Total content size limit exceeded",
                file.file_name
            ));
            break;
        }
        processed += 1;
        let units = lines::units(&text, strategy);
        let mut in_file = 0;
        for (i, line) in units.iter().enumerate() {
            if total >= MAX_TOTAL_MATCHES {
                results.push(format!(
                    "[TRUNCATED] Maximum total matches ({MAX_TOTAL_MATCHES}) reached"
                ));
                break 'files;
            }
            if in_file >= MAX_MATCHES_PER_FILE {
                results.push(format!(
                    "[TRUNCATED] {}: Maximum matches per file ({MAX_MATCHES_PER_FILE}) reached",
                    file.file_name
                ));
                break;
            }
            if !regex.is_match(line.trim()) {
                continue;
            }
            if !matched_files.contains(&file.file_name) {
                matched_files.push(file.file_name.clone());
            }
            let from = i.saturating_sub(context);
            let to = (i + context + 1).min(units.len());
            let shown: Vec<String> = (from..to)
                .map(|j| {
                    let mark = if j == i { ">" } else { " " };
                    format!("{mark} {}: {}", j + 1, units[j])
                })
                .collect();
            results.push(format!(
                "\n=== {}:{} ===\n{}",
                file.file_name,
                i + 1,
                shown.join("\n")
            ));
            in_file += 1;
            total += 1;
        }
    }
    if !matched_files.is_empty() {
        ctx.state
            .store
            .mark_files_accessed(ctx.agent_id, &matched_files)
            .await
            .map_err(|e| e.to_string())?;
    }
    if total == 0 {
        let mut summary = format!("No matches found for pattern: '{pattern}'");
        if let Some(include) = &include {
            summary.push_str(&format!(" in files matching '{include}'"));
        }
        if skipped > 0 {
            summary.push_str(&format!(" (searched {processed} files, skipped {skipped})"));
        }
        return Ok(summary);
    }
    let mut summary = format!("Found {total} matches");
    if processed > 0 {
        summary.push_str(&format!(" in {processed} files"));
    }
    if skipped > 0 {
        summary.push_str(&format!(" ({skipped} files skipped)"));
    }
    summary.push_str(&format!(" for pattern: '{pattern}'"));
    if let Some(include) = &include {
        summary.push_str(&format!(" in files matching '{include}'"));
    }
    let rule = "=".repeat(summary.chars().count());
    let mut out = vec![summary, rule];
    out.extend(results);
    Ok(out.join("\n"))
}

async fn semantic_search_files(
    ctx: &ToolContext<'_>,
    args: &Map<String, Value>,
) -> Result<String, String> {
    let query = str_arg(args, "query")?
        .unwrap_or_default()
        .trim()
        .to_owned();
    if query.is_empty() {
        return Err("Empty search query provided".to_owned());
    }
    let limit = int_arg(args, "limit")?
        .unwrap_or(5)
        .clamp(1, MAX_TOTAL_MATCHES as i64);
    let store = &ctx.state.store;
    let org = &ctx.actor.organization_id;
    let ids = [ctx.agent_id.to_owned()];
    let sources = store
        .sources_of_agents(&ids)
        .await
        .map_err(|e| e.to_string())?
        .remove(ctx.agent_id)
        .unwrap_or_default();
    let source_ids: Vec<String> = sources.iter().map(|s| s.id.clone()).collect();
    let row = store
        .get_agent(org, ctx.agent_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("Agent {} not found", ctx.agent_id))?;
    let model = embedding_model_for(&row.embedding_config, &ctx.state.providers)
        .map_err(|e| e.to_string())?;
    let vector = model
        .embed_one(&query)
        .await
        .map_err(|e| format!("Embedding the query failed: {}", e.message))?;
    let hits = store
        .search_source_passages(org, &source_ids, &vector, limit)
        .await
        .map_err(|e| e.to_string())?;
    if hits.is_empty() {
        return Ok(format!("No semantic matches found for query: '{query}'"));
    }
    // Grouped by file, files in order of their best passage.
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for hit in hits {
        let name = hit
            .passage
            .file_name
            .clone()
            .unwrap_or_else(|| "Unknown File".to_owned());
        match groups.iter_mut().find(|(n, _)| *n == name) {
            Some((_, texts)) => texts.push(hit.passage.text),
            None => groups.push((name, vec![hit.passage.text])),
        }
    }
    let mut results = Vec::new();
    let mut n = 0;
    for (name, texts) in &groups {
        for text in texts {
            n += 1;
            let all: Vec<&str> = text.trim().lines().collect();
            let mut shown: Vec<String> = all
                .iter()
                .take(MAX_PASSAGE_LINES)
                .map(|l| format!("  {l}"))
                .collect();
            if all.len() > MAX_PASSAGE_LINES {
                shown.push(format!(
                    "  ... [truncated {} more lines]",
                    all.len() - MAX_PASSAGE_LINES
                ));
            }
            results.push(format!(
                "\n=== {name} (passage #{n}) ===\n{}",
                shown.join("\n")
            ));
        }
    }
    let matched: Vec<String> = groups
        .iter()
        .map(|(n, _)| n.clone())
        .filter(|n| n != "Unknown File")
        .collect();
    store
        .mark_files_accessed(ctx.agent_id, &matched)
        .await
        .map_err(|e| e.to_string())?;
    let count = groups.len();
    let summary = format!(
        "Found {n} semantic matches in {count} file{} for query: '{query}'",
        if count == 1 { "" } else { "s" }
    );
    let rule = "=".repeat(summary.chars().count());
    let mut out = vec![summary, rule];
    out.extend(results);
    Ok(out.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_become_anchored_regexes() {
        let r = include_regex("*.py").unwrap();
        assert!(r.is_match("src/main.py"));
        assert!(!r.is_match("src/main.pyc"));
        assert!(include_regex("ma(in").is_err());
    }

    #[test]
    fn long_patterns_are_refused() {
        let err = compile(&"a".repeat(1001)).unwrap_err();
        assert!(err.starts_with("Pattern too complex"), "{err}");
    }
}
