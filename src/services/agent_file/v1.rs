//! Planning a v1 file (Letta 0.8.12's single-agent format).

use serde_json::{Map, Value};

use super::plan::*;
use super::{FileResult, invalid, parse_ts};
use crate::schemas::agent_file::AgentSchema;
use crate::schemas::block::Block;
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::store::NewAgent;

pub(super) fn plan_v1(actor: &Actor, doc: Map<String, Value>) -> FileResult<Plan> {
    check_version(doc.get("version"))?;
    let file: AgentSchema = typed(Value::Object(doc))?;
    let agent_id = new_id("agent");
    let tools = file
        .tools
        .into_iter()
        .map(|t| {
            Ok(FileTool {
                tool_type: parse_tool_type(&t.name, Some(&t.tool_type))?,
                description: Some(t.description),
                source_type: t.source_type,
                tags: t.tags,
                source_code: t.source_code,
                json_schema: Some(t.json_schema),
                args_json_schema: t.args_json_schema,
                return_char_limit: t.return_char_limit,
                pip_requirements: None,
                metadata: t.metadata_,
                name: t.name,
            })
        })
        .collect::<FileResult<Vec<_>>>()?;
    let tool_names = tools.iter().map(|t| t.name.clone()).collect();
    let mut blocks: Vec<Block> = Vec::new();
    for b in file.core_memory {
        if blocks.iter().any(|x| x.label() == b.label) {
            return Err(invalid(format!(
                "the agent has two blocks labelled {:?}",
                b.label
            )));
        }
        let mut block = new_block(
            actor,
            b.label,
            b.value,
            b.limit,
            b.template_name,
            b.description,
            b.metadata_,
        );
        block.is_template = b.is_template;
        check_block(&block)?;
        blocks.push(block);
    }
    let mut messages = Vec::with_capacity(file.messages.len());
    for (i, m) in file.messages.into_iter().enumerate() {
        let what = format!("messages[{i}]");
        let created_at = parse_ts(&format!("{what}.created_at"), &m.created_at)?;
        messages.push(message(
            actor,
            &agent_id,
            FileMessage {
                role: parse_role(&what, &m.role)?,
                content: m.content,
                model: m.model,
                name: m.name,
                tool_calls: parse_list(&format!("{what}.tool_calls"), m.tool_calls)?,
                tool_call_id: m.tool_call_id,
                tool_returns: parse_list(&format!("{what}.tool_returns"), m.tool_returns)?,
                otid: None,
                updated_at: parse_ts(&format!("{what}.updated_at"), &m.updated_at)
                    .unwrap_or(created_at),
                created_at,
            },
        ));
    }
    let mut in_context = Vec::with_capacity(file.in_context_message_indices.len());
    for (i, &index) in file.in_context_message_indices.iter().enumerate() {
        match usize::try_from(index).ok().filter(|&n| n < messages.len()) {
            Some(n) => in_context.push(n),
            None => {
                return Err(invalid(format!(
                    "in_context_message_indices[{i}] is {index}, but the file has {} messages",
                    messages.len()
                )));
            }
        }
    }
    let env_vars = file
        .tool_exec_environment_variables
        .into_iter()
        .map(|v| env_var(actor, &agent_id, v.key, v.value, v.description))
        .collect();
    let tool_rules = parse_list("tool_rules", file.tool_rules)?;
    let basics = AgentBasics {
        name: file.name,
        agent_type: parse_agent_type(Some(&file.agent_type))?,
        system: file.system,
        description: file.description,
        metadata: file.metadata_,
        llm_config: file.llm_config,
        embedding_config: file.embedding_config,
        tool_rules,
        message_buffer_autoclear: file.message_buffer_autoclear,
        enable_sleeptime: None,
        response_format: None,
        timezone: None,
        created_at: parse_ts("created_at", &file.created_at)?,
        updated_at: parse_ts("updated_at", &file.updated_at)?,
    };
    let row = agent_row(actor, agent_id, basics);
    Ok(Plan {
        mcp_servers: Vec::new(),
        groups: Vec::new(),
        tools,
        blocks: Vec::new(),
        sources: Vec::new(),
        files: Vec::new(),
        agents: vec![PlannedAgent {
            agent: NewAgent {
                row,
                new_blocks: blocks,
                block_ids: Vec::new(),
                tool_ids: Vec::new(),
                tags: file.tags.into_iter().map(|t| t.tag).collect(),
                identity_ids: Vec::new(),
                env_vars,
                messages,
            },
            tool_names,
            in_context,
            sources: Vec::new(),
            files: Vec::new(),
        }],
    })
}
