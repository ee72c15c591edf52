//! Planning a v2 file: several agents, shared blocks, tools and groups (sources, files and
//! MCP servers in `v2_sources`), referring to each other by file-local ids that are checked
//! and remapped to new ids here.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::plan::*;
use super::v2_sources::{plan_agent_files, plan_mcp_servers, plan_sources};
use super::{FileResult, invalid, parse_ts};
use crate::schemas::agent_file::{AgentFileSchema, GroupV2, MessageContentV2};
use crate::schemas::common::now;
use crate::schemas::group::{Group, ManagerType};
use crate::schemas::message::text_part;
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::schemas::tool::CUSTOM_TOOL_RETURN_CHAR_LIMIT;
use crate::services::agents::creation_tool_names;
use crate::services::agents::sources::FILE_TOOLS;
use crate::store::NewAgent;

pub(super) fn plan_v2(actor: &Actor, doc: Map<String, Value>) -> FileResult<Plan> {
    let file: AgentFileSchema = typed(Value::Object(doc))?;
    if file.agents.is_empty() {
        return Err(invalid("the file has no agents"));
    }
    index_ids("agent", file.agents.iter().map(|a| a.id.as_str()))?;
    let mcp_servers = plan_mcp_servers(&file.mcp_servers)?;
    let sources_plan = plan_sources(
        actor,
        &file.sources,
        &file.files,
        &file.agents[0].embedding_config,
    )?;
    let tool_index = index_ids("tool", file.tools.iter().map(|t| t.id.as_str()))?;
    let block_index = index_ids("block", file.blocks.iter().map(|b| b.id.as_str()))?;
    let mut seen_names = HashSet::new();
    let mut tools = Vec::with_capacity(file.tools.len());
    for t in &file.tools {
        if !seen_names.insert(t.name.clone()) {
            return Err(invalid(format!("two tools are named {:?}", t.name)));
        }
        tools.push(FileTool {
            name: t.name.clone(),
            tool_type: parse_tool_type(&t.name, t.tool_type.as_deref())?,
            description: t.description.clone(),
            source_type: t.source_type.clone().unwrap_or_else(|| "python".into()),
            tags: t.tags.clone(),
            source_code: t.source_code.clone(),
            json_schema: t.json_schema.clone(),
            args_json_schema: t.args_json_schema.clone(),
            return_char_limit: t.return_char_limit.unwrap_or(CUSTOM_TOOL_RETURN_CHAR_LIMIT),
            pip_requirements: t.pip_requirements.clone(),
            metadata: t.metadata_.clone(),
        });
    }
    let mut blocks = Vec::with_capacity(file.blocks.len());
    for b in &file.blocks {
        let mut block = new_block(
            actor,
            b.label.clone(),
            b.value.clone(),
            b.limit,
            b.template_name.clone(),
            b.description.clone(),
            b.metadata.clone(),
        );
        block.is_template = b.is_template;
        block.preserve_on_migration = b.preserve_on_migration;
        block.read_only = b.read_only;
        check_block(&block)?;
        blocks.push(block);
    }
    let group_index = index_ids("group", file.groups.iter().map(|g| g.id.as_str()))?;
    // New group ids up front: messages name their group.
    let group_ids: HashMap<String, String> = file
        .groups
        .iter()
        .map(|g| (g.id.clone(), new_id("group")))
        .collect();
    let mut message_ids_seen = HashSet::new();
    let mut agents = Vec::with_capacity(file.agents.len());
    let mut agent_ids = HashMap::new();
    for a in file.agents {
        let agent_id = new_id("agent");
        agent_ids.insert(a.id.clone(), agent_id.clone());
        if let Some(g) = a.group_ids.iter().find(|g| !group_index.contains_key(*g)) {
            return Err(invalid(format!(
                "agent {:?} refers to group {g:?}, which the file does not define",
                a.id
            )));
        }
        let agent_type = parse_agent_type(a.agent_type.as_deref())?;
        let mut tool_names = Vec::new();
        for local in a.tool_ids.unwrap_or_default() {
            let i = *tool_index.get(&local).ok_or_else(|| {
                invalid(format!(
                    "agent {:?} refers to tool {local:?}, which the file does not define",
                    a.id
                ))
            })?;
            tool_names.push(tools[i].name.clone());
        }
        let (sources, files) = plan_agent_files(
            actor,
            &a.id,
            &agent_id,
            a.source_ids.as_deref().unwrap_or_default(),
            &a.files_agents,
            &sources_plan,
        )?;
        // Built-in tools the agent gets besides the file's list: those `include_*` asks
        // for, as creation gives them, and the file tools an agent with sources has.
        let mut extra = creation_tool_names(
            agent_type,
            a.enable_sleeptime == Some(true),
            a.include_base_tools == Some(true),
            a.include_multi_agent_tools == Some(true),
        );
        if !sources.is_empty() {
            extra.extend(FILE_TOOLS.iter().copied());
        }
        for name in extra {
            if !tool_names.iter().any(|n| n == name) {
                tool_names.push(name.to_owned());
            }
        }
        let mut block_ids = Vec::new();
        let mut labels = HashSet::new();
        for local in a.block_ids.unwrap_or_default() {
            let i = *block_index.get(&local).ok_or_else(|| {
                invalid(format!(
                    "agent {:?} refers to block {local:?}, which the file does not define",
                    a.id
                ))
            })?;
            if !labels.insert(blocks[i].label().to_owned()) {
                return Err(invalid(format!(
                    "agent {:?} has two blocks labelled {:?}",
                    a.id,
                    blocks[i].label()
                )));
            }
            block_ids.push(blocks[i].id.clone());
        }
        let mut local_messages = HashMap::new();
        let mut messages = Vec::with_capacity(a.messages.len());
        for (i, m) in a.messages.into_iter().enumerate() {
            let what = format!("agent {:?} message {:?}", a.id, m.id);
            if !message_ids_seen.insert(m.id.clone()) {
                return Err(invalid(format!("the message id {:?} is used twice", m.id)));
            }
            local_messages.insert(m.id.clone(), i);
            let created_at = match &m.created_at {
                Some(ts) => parse_ts(&format!("{what}: created_at"), ts)?,
                None => now(),
            };
            let group_id = m.group_id.as_ref().and_then(|g| group_ids.get(g)).cloned();
            let mut msg = message(
                actor,
                &agent_id,
                FileMessage {
                    role: parse_role(&what, &m.role)?,
                    content: match m.content {
                        MessageContentV2::Parts(parts) => parts,
                        MessageContentV2::Text(text) => vec![text_part(text)],
                    },
                    model: m.model,
                    name: m.name,
                    tool_calls: parse_list(
                        &format!("{what}: tool_calls"),
                        m.tool_calls.unwrap_or_default(),
                    )?,
                    tool_call_id: m.tool_call_id,
                    tool_returns: parse_list(
                        &format!("{what}: tool_returns"),
                        m.tool_returns.unwrap_or_default(),
                    )?,
                    otid: m.otid,
                    created_at,
                    updated_at: created_at,
                },
            );
            msg.group_id = group_id;
            messages.push(msg);
        }
        let mut in_context = Vec::with_capacity(a.in_context_message_ids.len());
        for local in &a.in_context_message_ids {
            in_context.push(*local_messages.get(local).ok_or_else(|| {
                invalid(format!(
                    "agent {:?} has message {local:?} in context, but none of its messages has that id",
                    a.id
                ))
            })?);
        }
        let env_vars = a
            .tool_exec_environment_variables
            .unwrap_or_default()
            .into_iter()
            .map(|(key, value)| {
                let value = match value {
                    Value::String(s) => s,
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                env_var(actor, &agent_id, key, value, None)
            })
            .collect();
        let ts = now();
        let basics = AgentBasics {
            name: a.name,
            agent_type,
            system: a.system.unwrap_or_default(),
            description: a.description,
            metadata: a.metadata,
            llm_config: a.llm_config,
            embedding_config: a.embedding_config,
            tool_rules: a.tool_rules.unwrap_or_default(),
            message_buffer_autoclear: a.message_buffer_autoclear,
            enable_sleeptime: a.enable_sleeptime,
            response_format: a.response_format,
            timezone: a.timezone,
            created_at: ts,
            updated_at: ts,
        };
        let mut row = agent_row(actor, agent_id, basics);
        row.project_id = a.project_id;
        agents.push(PlannedAgent {
            agent: NewAgent {
                row,
                new_blocks: Vec::new(),
                block_ids,
                tool_ids: Vec::new(),
                tags: a.tags.unwrap_or_default(),
                // Server ids: the import keeps those of the organization's identities.
                identity_ids: a.identity_ids.unwrap_or_default(),
                env_vars,
                messages,
            },
            tool_names,
            in_context,
            sources,
            files,
        });
    }
    let groups = file
        .groups
        .iter()
        .map(|g| plan_group(actor, g, &group_ids, &agent_ids, &block_index, &blocks))
        .collect::<FileResult<Vec<_>>>()?;
    Ok(Plan {
        mcp_servers,
        tools,
        blocks,
        sources: sources_plan.sources,
        files: sources_plan.files,
        agents,
        groups,
    })
}

/// A group of the file with its agents and shared blocks remapped to their new ids.
fn plan_group(
    actor: &Actor,
    g: &GroupV2,
    group_ids: &HashMap<String, String>,
    agent_ids: &HashMap<String, String>,
    block_index: &HashMap<String, usize>,
    blocks: &[crate::schemas::block::Block],
) -> FileResult<Group> {
    let agent = |local: &str| {
        agent_ids.get(local).cloned().ok_or_else(|| {
            invalid(format!(
                "group {:?} refers to agent {local:?}, which the file does not define",
                g.id
            ))
        })
    };
    let config = g.manager_config.clone().unwrap_or(Value::Null);
    let field = |key: &str| config.get(key).filter(|v| !v.is_null());
    let int = |key: &str| field(key).and_then(Value::as_i64);
    let kind = field("manager_type")
        .and_then(Value::as_str)
        .unwrap_or("round_robin");
    let manager_type = ManagerType::parse(kind)
        .filter(|t| *t != ManagerType::Swarm)
        .ok_or_else(|| {
            invalid(format!(
                "group {:?} has an unknown manager_type {kind:?}",
                g.id
            ))
        })?;
    let manager_agent_id = match field("manager_agent_id").and_then(Value::as_str) {
        Some(local) => Some(agent(local)?),
        None if manager_type == ManagerType::RoundRobin => None,
        None => {
            return Err(invalid(format!(
                "group {:?} ({kind}) has no manager_agent_id",
                g.id
            )));
        }
    };
    let shared_block_ids = g
        .shared_block_ids
        .iter()
        .map(|local| {
            block_index
                .get(local)
                .map(|&i| blocks[i].id.clone())
                .ok_or_else(|| {
                    invalid(format!(
                        "group {:?} shares block {local:?}, which the file does not define",
                        g.id
                    ))
                })
        })
        .collect::<FileResult<Vec<_>>>()?;
    let participants: Vec<String> = g
        .agent_ids
        .iter()
        .map(|a| agent(a))
        .collect::<FileResult<_>>()?;
    if participants.iter().collect::<HashSet<_>>().len() != participants.len() {
        return Err(invalid(format!("group {:?} lists an agent twice", g.id)));
    }
    if manager_agent_id
        .as_ref()
        .is_some_and(|m| participants.contains(m))
    {
        return Err(invalid(format!(
            "group {:?}: the manager is also one of its participants",
            g.id
        )));
    }
    for key in ["max_turns", "sleeptime_agent_frequency"] {
        if int(key).is_some_and(|n| n < 1) {
            return Err(invalid(format!(
                "group {:?}: {key} must be at least 1",
                g.id
            )));
        }
    }
    Ok(Group {
        id: group_ids
            .get(&g.id)
            .cloned()
            .unwrap_or_else(|| new_id("group")),
        manager_type,
        agent_ids: participants,
        description: g.description.clone().unwrap_or_default(),
        shared_block_ids,
        manager_agent_id,
        termination_token: field("termination_token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| (manager_type == ManagerType::Dynamic).then(|| "DONE!".to_owned())),
        max_turns: int("max_turns"),
        sleeptime_agent_frequency: int("sleeptime_agent_frequency"),
        turns_counter: (manager_type == ManagerType::Sleeptime
            && int("sleeptime_agent_frequency").is_some())
        .then_some(-1),
        last_processed_message_id: None,
        max_message_buffer_length: int("max_message_buffer_length"),
        min_message_buffer_length: int("min_message_buffer_length"),
        organization_id: actor.organization_id.clone(),
    })
}
