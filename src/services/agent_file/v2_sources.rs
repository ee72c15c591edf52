//! Planning the sources, files, agents' open files and MCP servers of a v2 file: every
//! reference checked and remapped to new ids before anything is written.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::plan::{PlannedFile, PlannedFileAgent, index_ids};
use super::{FileResult, invalid, parse_ts};
use crate::ingest::job::MAX_FILES_OPEN;
use crate::ingest::{file_types, lines};
use crate::schemas::agent_file::{FileAgentV2, FileV2, McpServerV2, SourceV2};
use crate::schemas::common::now;
use crate::schemas::file::{FileAgent, FileMetadata, FileProcessingStatus};
use crate::schemas::llm_config::EmbeddingConfig;
use crate::schemas::mcp::{McpServerConfig, McpServerType, RemoteServerConfig, StdioServerConfig};
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::schemas::source::Source;
use crate::services::files::sanitize_file_name;

/// Why a file imported without text is marked `error` at once: it can neither be searched
/// nor opened until it is uploaded again.
pub(super) const NO_TEXT: &str =
    "The agent file holds no text for this file; upload it again to search or open it";

/// The sources and files of a file, with new ids, and where each file-local id went.
pub(super) struct SourcesPlan {
    pub(super) sources: Vec<Source>,
    pub(super) files: Vec<PlannedFile>,
    source_index: HashMap<String, usize>,
    file_index: HashMap<String, usize>,
}

/// The file's sources and files as new ones. A source without an embedding configuration
/// gets `fallback` (the first agent's). Names are settled later, against the organization.
pub(super) fn plan_sources(
    actor: &Actor,
    sources: &[SourceV2],
    files: &[FileV2],
    fallback: &EmbeddingConfig,
) -> FileResult<SourcesPlan> {
    let source_index = index_ids("source", sources.iter().map(|s| s.id.as_str()))?;
    let file_index = index_ids("file", files.iter().map(|f| f.id.as_str()))?;
    let ts = now();
    let mut planned_sources = Vec::with_capacity(sources.len());
    for s in sources {
        if s.name.trim().is_empty() || s.name.contains('/') {
            return Err(invalid(format!(
                "source {:?} has the name {:?}; a source name must be non-empty and without '/'",
                s.id, s.name
            )));
        }
        planned_sources.push(Source {
            id: new_id("source"),
            name: s.name.clone(),
            description: s.description.clone(),
            instructions: s.instructions.clone(),
            embedding_config: s
                .embedding_config
                .clone()
                .unwrap_or_else(|| fallback.clone()),
            organization_id: Some(actor.organization_id.clone()),
            metadata: s.metadata.clone(),
            created_by_id: Some(actor.user_id.clone()),
            last_updated_by_id: Some(actor.user_id.clone()),
            created_at: Some(ts),
            updated_at: Some(ts),
        });
    }
    // Names are unique within a source, as uploads make them.
    let mut names_used: HashSet<(usize, String)> = HashSet::new();
    let mut planned_files = Vec::with_capacity(files.len());
    for f in files {
        let source = *source_index.get(&f.source_id).ok_or_else(|| {
            invalid(format!(
                "file {:?} belongs to source {:?}, which the file does not define",
                f.id, f.source_id
            ))
        })?;
        let given = f.file_name.as_deref().or(f.original_file_name.as_deref());
        let name = sanitize_file_name(given.unwrap_or_default());
        if name.is_empty() {
            return Err(invalid(format!("file {:?} has no file_name", f.id)));
        }
        let name = unique_file_name(&mut names_used, source, &name);
        let content = f.content.clone().filter(|t| !t.trim().is_empty());
        let (status, error_message) = match content {
            Some(_) => (FileProcessingStatus::Pending, None),
            None => (FileProcessingStatus::Error, Some(NO_TEXT.to_owned())),
        };
        planned_files.push(PlannedFile {
            file: FileMetadata {
                file_path: f.file_path.clone(),
                file_type: f.file_type.clone(),
                file_size: f
                    .file_size
                    .or_else(|| content.as_ref().map(|t| t.len() as i64)),
                file_creation_date: f.file_creation_date.clone(),
                file_last_modified_date: f.file_last_modified_date.clone(),
                processing_status: status,
                error_message,
                ..FileMetadata::pending(
                    &actor.organization_id,
                    &planned_sources[source].id,
                    name.clone(),
                    f.original_file_name
                        .as_deref()
                        .map(sanitize_file_name)
                        .filter(|n| !n.is_empty())
                        .unwrap_or(name),
                    ts,
                )
            },
            content,
            source,
        });
    }
    Ok(SourcesPlan {
        sources: planned_sources,
        files: planned_files,
        source_index,
        file_index,
    })
}

/// `name`, or `stem_(n).ext` when the source already has a file of that name.
fn unique_file_name(used: &mut HashSet<(usize, String)>, source: usize, name: &str) -> String {
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    let mut candidate = name.to_owned();
    let mut n = 0;
    while !used.insert((source, candidate.clone())) {
        n += 1;
        candidate = format!("{stem}_({n}){ext}");
    }
    candidate
}

/// An agent's sources (indices into the plan's) and files in context. A file in context
/// whose source the agent does not list attaches that source too (an agent only sees files
/// of its sources). At most [`MAX_FILES_OPEN`] files stay open: the most recently accessed.
pub(super) fn plan_agent_files(
    actor: &Actor,
    agent_local: &str,
    agent_id: &str,
    source_ids: &[String],
    files_agents: &[FileAgentV2],
    plan: &SourcesPlan,
) -> FileResult<(Vec<usize>, Vec<PlannedFileAgent>)> {
    let mut sources = Vec::new();
    for local in source_ids {
        let i = *plan.source_index.get(local).ok_or_else(|| {
            invalid(format!(
                "agent {agent_local:?} refers to source {local:?}, which the file does not define"
            ))
        })?;
        if !sources.contains(&i) {
            sources.push(i);
        }
    }
    let mut seen = HashSet::new();
    let mut files = Vec::with_capacity(files_agents.len());
    for fa in files_agents {
        let i = *plan.file_index.get(&fa.file_id).ok_or_else(|| {
            invalid(format!(
                "agent {agent_local:?} has file {:?} in context, which the file does not define",
                fa.file_id
            ))
        })?;
        if !seen.insert(i) {
            return Err(invalid(format!(
                "agent {agent_local:?} lists file {:?} in context twice",
                fa.file_id
            )));
        }
        if let Some(owner) = fa.agent_id.as_deref().filter(|a| *a != agent_local) {
            return Err(invalid(format!(
                "file-agent {:?} of agent {agent_local:?} names agent {owner:?}",
                fa.id
            )));
        }
        let planned = &plan.files[i];
        if let Some(local) = &fa.source_id
            && plan.source_index.get(local) != Some(&planned.source)
        {
            return Err(invalid(format!(
                "file-agent {:?} of agent {agent_local:?} puts file {:?} in source {local:?}, which is not the file's source",
                fa.id, fa.file_id
            )));
        }
        if !sources.contains(&planned.source) {
            sources.push(planned.source);
        }
        let last_accessed_at = match &fa.last_accessed_at {
            Some(ts) => parse_ts(
                &format!(
                    "agent {agent_local:?} file {:?}: last_accessed_at",
                    fa.file_id
                ),
                ts,
            )?,
            None => now(),
        };
        let visible_content = fa.visible_content.clone().or_else(|| {
            let text = planned.content.as_deref()?;
            let name = planned.file.file_name.as_deref().unwrap_or_default();
            let strategy = file_types::strategy_for(planned.file.file_type.as_deref(), name);
            Some(lines::full_view(name, text, strategy))
        });
        files.push(PlannedFileAgent {
            row: FileAgent {
                id: new_id("file_agent"),
                organization_id: actor.organization_id.clone(),
                agent_id: agent_id.to_owned(),
                file_id: planned.file.id.clone(),
                source_id: planned.file.source_id.clone(),
                file_name: String::new(),
                is_open: fa.is_open && visible_content.is_some(),
                visible_content,
                last_accessed_at,
            },
            file: i,
        });
    }
    // The open-file limit: the most recently accessed stay open.
    let mut open: Vec<usize> = (0..files.len()).filter(|&i| files[i].row.is_open).collect();
    open.sort_by(|&a, &b| {
        files[b]
            .row
            .last_accessed_at
            .cmp(&files[a].row.last_accessed_at)
    });
    for &i in open.iter().skip(MAX_FILES_OPEN) {
        files[i].row.is_open = false;
    }
    for f in &mut files {
        if !f.row.is_open {
            // A closed file shows nothing (as closing one does).
            f.row.visible_content = None;
        }
    }
    Ok((sources, files))
}

/// The file's MCP servers as configurations (their checks, and whether each is created or
/// updated, happen against the organization later).
pub(super) fn plan_mcp_servers(servers: &[McpServerV2]) -> FileResult<Vec<McpServerConfig>> {
    index_ids("MCP server", servers.iter().map(|s| s.id.as_str()))?;
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(servers.len());
    for s in servers {
        if !names.insert(s.server_name.as_str()) {
            return Err(invalid(format!(
                "two MCP servers are named {:?}",
                s.server_name
            )));
        }
        let what = format!("MCP server {:?}", s.id);
        let kind = McpServerType::parse(&s.server_type).ok_or_else(|| {
            invalid(format!(
                "{what} has an unknown server_type {:?} (expected sse, stdio or streamable_http)",
                s.server_type
            ))
        })?;
        out.push(match kind {
            McpServerType::Stdio => {
                let mut config = s.stdio_config.clone().unwrap_or(Value::Null);
                let Some(map) = config.as_object_mut() else {
                    return Err(invalid(format!("{what} (stdio) has no stdio_config")));
                };
                map.insert("server_name".into(), Value::String(s.server_name.clone()));
                map.insert("type".into(), Value::String("stdio".into()));
                map.entry("args")
                    .or_insert_with(|| Value::Array(Vec::new()));
                let stdio: StdioServerConfig = serde_json::from_value(config)
                    .map_err(|e| invalid(format!("{what}: stdio_config: {e}")))?;
                McpServerConfig::Stdio(stdio)
            }
            _ => {
                let url = s.server_url.clone().ok_or_else(|| {
                    invalid(format!("{what} ({}) has no server_url", s.server_type))
                })?;
                McpServerConfig::Remote(RemoteServerConfig {
                    server_name: s.server_name.clone(),
                    kind,
                    server_url: url,
                    auth_header: None,
                    auth_token: None,
                    custom_headers: None,
                })
            }
        });
    }
    Ok(out)
}
