//! Creating an agent: the defaults the original applies (model and embedding handles, base
//! tools and their rules per agent type), the checks that refuse bad input before anything
//! is written, and the initial message sequence.

use std::collections::BTreeSet;

use rand::seq::SliceRandom;
use serde_json::{Value, json};

use crate::llm::catalog::LlmResolveOptions;
use crate::schemas::Timestamp;
use crate::schemas::agent::{AgentEnvironmentVariable, AgentState, AgentType, CreateAgent};
use crate::schemas::block::Block;
use crate::schemas::common::now;
use crate::schemas::llm_config::{EmbeddingConfig, LlmConfig};
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::schemas::tool::Tool;
use crate::schemas::tool_rule::ToolRule;
use crate::services::prompts;
use crate::services::{ServiceError, ServiceResult};
use crate::store::{AgentRow, NewAgent, RelationSet};

use super::AgentService;
use super::boot::Boot;

/// Tools that end the agent's turn when called.
const TERMINAL_TOOLS: &[&str] = &[
    "send_message",
    "send_message_to_agent_async",
    "memory_finish_edits",
];
/// Tools after which the agent keeps stepping.
const CONTINUE_TOOLS: &[&str] = &[
    "conversation_search",
    "archival_memory_insert",
    "archival_memory_search",
    "core_memory_append",
    "core_memory_replace",
    "memory_replace",
    "memory_insert",
    "memory_rethink",
];
/// Attachable only by id: dropped from name-based tool sets.
const DEPRECATED_BY_NAME: &[&str] = &["archival_memory_insert", "archival_memory_search"];
const MULTI_AGENT_TOOLS: &[&str] = &[
    "send_message_to_agent_and_wait_for_reply",
    "send_message_to_agents_matching_tags",
    "send_message_to_agent_async",
];

/// The built-in tools creation gives an agent by name: the base tools of its type with
/// `include_base_tools`, the multi-agent tools with `include_multi_agent_tools` (tools only
/// attachable by id left out).
pub fn creation_tool_names(
    agent_type: AgentType,
    enable_sleeptime: bool,
    include_base_tools: bool,
    include_multi_agent_tools: bool,
) -> Vec<&'static str> {
    let mut names = Vec::new();
    if include_base_tools {
        names.extend(base_tool_names_for(agent_type, enable_sleeptime));
    }
    if include_multi_agent_tools {
        names.extend(MULTI_AGENT_TOOLS);
    }
    names.retain(|n| !DEPRECATED_BY_NAME.contains(n));
    names
}

/// Names of the base tools an agent of this type gets (spec §1.3 step 2).
pub fn base_tool_names_for(
    agent_type: AgentType,
    enable_sleeptime: bool,
) -> &'static [&'static str] {
    match agent_type {
        AgentType::VoiceSleeptimeAgent => &[
            "store_memories",
            "rethink_user_memory",
            "finish_rethinking_memory",
        ],
        AgentType::VoiceConvoAgent => &["send_message", "search_memory"],
        AgentType::SleeptimeAgent => &[
            "memory_replace",
            "memory_insert",
            "memory_rethink",
            "memory_finish_edits",
        ],
        _ if enable_sleeptime => &[
            "send_message",
            "conversation_search",
            "archival_memory_search",
        ],
        AgentType::MemgptV2Agent => &[
            "send_message",
            "conversation_search",
            "memory_replace",
            "memory_insert",
        ],
        AgentType::ReactAgent | AgentType::WorkflowAgent => &[],
        _ => &[
            "send_message",
            "conversation_search",
            "core_memory_append",
            "core_memory_replace",
        ],
    }
}

fn random_agent_name() -> String {
    const ADJECTIVES: &[&str] = &[
        "Quiet", "Bright", "Clever", "Gentle", "Swift", "Brave", "Calm", "Eager", "Lucky", "Witty",
        "Bold", "Kind", "Merry", "Noble", "Sunny", "Vivid",
    ];
    const NOUNS: &[&str] = &[
        "Falcon", "Otter", "Maple", "River", "Comet", "Harbor", "Lantern", "Meadow", "Pebble",
        "Sparrow", "Willow", "Beacon", "Canyon", "Ember", "Fjord", "Summit",
    ];
    let mut rng = rand::thread_rng();
    format!(
        "{}{}",
        ADJECTIVES.choose(&mut rng).copied().unwrap_or("Quiet"),
        NOUNS.choose(&mut rng).copied().unwrap_or("Falcon")
    )
}

pub(super) fn validate_name(name: &str) -> ServiceResult<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ServiceError::value_error(
            &["body", "name"],
            "Name contains invalid characters.",
            Value::String(name.to_owned()),
        ))
    }
}

fn validate_handle(field: &str, handle: &str) -> ServiceResult<()> {
    match handle.split_once('/') {
        Some((p, m)) if !p.is_empty() && !m.is_empty() => Ok(()),
        _ => Err(ServiceError::value_error(
            &["body", field],
            format!("'{handle}' is not a handle of the form provider/model"),
            Value::String(handle.to_owned()),
        )),
    }
}

fn validate_timezone(tz: &str) -> ServiceResult<()> {
    if prompts::is_valid_timezone(tz) {
        Ok(())
    } else {
        Err(ServiceError::value_error(
            &["body", "timezone"],
            format!("'{tz}' is not a known IANA timezone"),
            Value::String(tz.to_owned()),
        ))
    }
}

fn validate_response_format(format: &Value) -> ServiceResult<()> {
    let kind = format.get("type").and_then(Value::as_str);
    let ok = match kind {
        Some("text") | Some("json_object") => true,
        Some("json_schema") => format
            .get("json_schema")
            .and_then(|s| s.get("schema"))
            .is_some_and(Value::is_object),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ServiceError::value_error(
            &["body", "response_format"],
            "response_format must be {\"type\": \"text\"}, {\"type\": \"json_object\"} or {\"type\": \"json_schema\", \"json_schema\": {\"schema\": {...}}}",
            format.clone(),
        ))
    }
}

/// Field checks shared by create and modify.
pub(super) fn validate_common_fields(
    model: Option<&str>,
    embedding: Option<&str>,
    timezone: Option<&str>,
    response_format: Option<&Value>,
) -> ServiceResult<()> {
    if let Some(model) = model {
        validate_handle("model", model)?;
    }
    if let Some(embedding) = embedding {
        validate_handle("embedding", embedding)?;
    }
    if let Some(tz) = timezone {
        validate_timezone(tz)?;
    }
    if let Some(format) = response_format {
        validate_response_format(format)?;
    }
    Ok(())
}

pub(super) fn env_vars_from_map(
    actor: &Actor,
    agent_id: &str,
    vars: &std::collections::BTreeMap<String, String>,
    ts: Timestamp,
) -> Vec<AgentEnvironmentVariable> {
    vars.iter()
        .map(|(key, value)| AgentEnvironmentVariable {
            created_by_id: Some(actor.user_id.clone()),
            last_updated_by_id: Some(actor.user_id.clone()),
            created_at: Some(ts),
            updated_at: Some(ts),
            id: new_id("agent-env"),
            key: key.clone(),
            value: value.clone(),
            description: None,
            organization_id: Some(actor.organization_id.clone()),
            agent_id: agent_id.to_owned(),
        })
        .collect()
}

impl AgentService<'_> {
    pub async fn create(&self, actor: &Actor, req: CreateAgent) -> ServiceResult<AgentState> {
        let sleeptime = req.enable_sleeptime == Some(true);
        let agent_id = self.insert_agent(actor, req).await?;
        if sleeptime {
            let row = self.row(actor, &agent_id).await?;
            if let Err(err) = self.add_sleeptime_companion(actor, &row).await {
                self.store()
                    .delete_agent(&actor.organization_id, &agent_id)
                    .await?;
                return Err(err);
            }
        }
        self.get(actor, &agent_id, RelationSet::ALL).await
    }

    /// Checks the request and writes the agent; answers its id.
    pub(super) async fn insert_agent(
        &self,
        actor: &Actor,
        req: CreateAgent,
    ) -> ServiceResult<String> {
        let org = actor.organization_id.as_str();
        let ts = now();

        // Validation first: bad input writes nothing.
        let name = match &req.name {
            Some(name) => {
                validate_name(name)?;
                name.clone()
            }
            None => random_agent_name(),
        };
        validate_common_fields(
            req.model.as_deref(),
            req.embedding.as_deref(),
            req.timezone.as_deref(),
            req.response_format.as_ref(),
        )?;
        if req.agent_type == AgentType::VoiceConvoAgent && req.enable_sleeptime != Some(true) {
            return Err(ServiceError::value_error(
                &["body", "enable_sleeptime"],
                "voice_convo_agent requires enable_sleeptime to be true",
                json!(req.enable_sleeptime),
            ));
        }
        if let (Some(max_reasoning), max_tokens) = (req.max_reasoning_tokens, req.max_tokens) {
            match max_tokens {
                Some(max) if max_reasoning < max => {}
                _ => {
                    return Err(ServiceError::BadRequest(
                        "max_reasoning_tokens requires max_tokens, and must be smaller than it"
                            .into(),
                    ));
                }
            }
        }
        let mut new_blocks = Vec::new();
        for create in req.memory_blocks.clone().unwrap_or_default() {
            new_blocks.push(crate::services::blocks::BlockService::new_block(
                actor, create, None,
            )?);
        }
        require_distinct_labels(&new_blocks)?;
        let system = match &req.system {
            Some(s) => s.clone(),
            None => prompts::base_system_prompt(req.agent_type)
                .ok_or_else(|| {
                    ServiceError::BadRequest(format!(
                        "Invalid agent type: {}",
                        req.agent_type.as_str()
                    ))
                })?
                .to_owned(),
        };

        // Configurations.
        let llm_config = self.llm_config_for_create(actor, &req).await?;
        let embedding_config = self.embedding_config_for_create(actor, &req).await?;

        // Relationships that must exist.
        let block_ids = req.block_ids.clone().unwrap_or_default();
        let attached = self.require_blocks(org, &block_ids).await?;
        // The blocks the agent will show, in attachment order, for the first system prompt.
        let mut prompt_blocks = new_blocks.clone();
        prompt_blocks.extend(attached);
        require_distinct_labels(&prompt_blocks)?;
        let identity_ids = req.identity_ids.clone().unwrap_or_default();
        self.require_identities(actor, &identity_ids).await?;
        let source_ids = req.source_ids.clone().unwrap_or_default();
        self.require_sources(org, &source_ids).await?;
        let tools = self.tools_for_create(actor, &req).await?;
        let tool_rules = self.tool_rules_for_create(&req, &tools, &llm_config)?;

        let agent_id = new_id("agent");
        let timezone = req.timezone.clone().unwrap_or_else(|| "UTC".to_owned());
        let message_buffer_autoclear =
            req.message_buffer_autoclear || req.agent_type == AgentType::WorkflowAgent;

        let messages = self.initial_messages(
            actor,
            Boot {
                agent_id: &agent_id,
                agent_type: req.agent_type,
                initial_sequence: req.initial_message_sequence.as_deref(),
                system: &system,
                blocks: &prompt_blocks,
                llm: &llm_config,
                timezone: &timezone,
                ts,
            },
        );

        let row = AgentRow {
            id: agent_id.clone(),
            organization_id: org.to_owned(),
            agent_type: req.agent_type,
            name,
            description: req.description.clone(),
            system,
            message_ids: messages.iter().map(|m| m.id.clone()).collect(),
            response_format: req.response_format.clone(),
            metadata: req.metadata.clone(),
            llm_config,
            embedding_config,
            tool_rules,
            project_id: req.project_id.clone(),
            template_id: req.template_id.clone(),
            base_template_id: req.base_template_id.clone(),
            message_buffer_autoclear,
            enable_sleeptime: req.enable_sleeptime,
            last_run_completion: None,
            last_run_duration_ms: None,
            timezone: Some(timezone),
            created_by_id: Some(actor.user_id.clone()),
            last_updated_by_id: Some(actor.user_id.clone()),
            created_at: ts,
            updated_at: ts,
        };
        let env_vars = req
            .tool_exec_environment_variables
            .as_ref()
            .map(|vars| env_vars_from_map(actor, &agent_id, vars, ts))
            .unwrap_or_default();
        let mut tags: Vec<String> = req.tags.clone().unwrap_or_default();
        tags.sort();
        tags.dedup();
        let new_agent = NewAgent {
            row,
            new_blocks,
            block_ids,
            tool_ids: tools.iter().map(|t| t.id.clone()).collect(),
            tags,
            identity_ids,
            env_vars,
            messages,
        };
        self.store().create_agent(&new_agent).await?;
        // Sources attach like the attach route: file tools, files opened.
        for source_id in &source_ids {
            self.attach_source(actor, &agent_id, source_id).await?;
        }
        Ok(agent_id)
    }

    async fn llm_config_for_create(
        &self,
        actor: &Actor,
        req: &CreateAgent,
    ) -> ServiceResult<LlmConfig> {
        if let Some(config) = &req.llm_config {
            let mut config = config.clone();
            config.normalize();
            return Ok(config);
        }
        let handle = req
            .model
            .clone()
            .or_else(|| self.config.default_llm_handle.clone())
            .ok_or_else(|| {
                ServiceError::BadRequest(
                    "Must specify either model or llm_config in request".into(),
                )
            })?;
        let opts = LlmResolveOptions {
            context_window_limit: req.context_window_limit,
            max_tokens: req.max_tokens,
            max_reasoning_tokens: req.max_reasoning_tokens,
            enable_reasoner: req.enable_reasoner,
        };
        self.byok().resolve_llm(actor, &handle, &opts).await
    }

    async fn embedding_config_for_create(
        &self,
        actor: &Actor,
        req: &CreateAgent,
    ) -> ServiceResult<EmbeddingConfig> {
        if let Some(config) = &req.embedding_config {
            return Ok(config.clone());
        }
        let handle = req
            .embedding
            .clone()
            .or_else(|| self.config.default_embedding_handle.clone())
            .ok_or_else(|| {
                ServiceError::BadRequest(
                    "Must specify either embedding or embedding_config in request".into(),
                )
            })?;
        self.byok()
            .resolve_embedding(
                actor,
                &handle,
                Some(req.embedding_chunk_size.unwrap_or(300)),
            )
            .await
    }

    /// The blocks of `ids` (each once, in order of first mention), or 404 naming the missing.
    pub(super) async fn require_blocks(
        &self,
        org: &str,
        ids: &[String],
    ) -> ServiceResult<Vec<Block>> {
        let mut blocks: Vec<Block> = Vec::with_capacity(ids.len());
        let mut missing: BTreeSet<&String> = BTreeSet::new();
        for id in ids {
            if blocks.iter().any(|b| &b.id == id) || missing.contains(id) {
                continue;
            }
            match self.store().get_block(org, id).await? {
                Some(block) => blocks.push(block),
                None => {
                    missing.insert(id);
                }
            }
        }
        if !missing.is_empty() {
            return Err(ServiceError::NotFound(format!(
                "Items not found in blocks: {missing:?}"
            )));
        }
        Ok(blocks)
    }

    pub(super) async fn require_identities(
        &self,
        actor: &Actor,
        ids: &[String],
    ) -> ServiceResult<()> {
        for id in ids {
            if self
                .store()
                .get_identity(&actor.organization_id, id)
                .await?
                .is_none()
            {
                return Err(ServiceError::NotFound(format!(
                    "Items not found in identities: {{'{id}'}}"
                )));
            }
        }
        Ok(())
    }

    pub(super) async fn require_tools_by_id(
        &self,
        actor: &Actor,
        ids: &[String],
    ) -> ServiceResult<Vec<Tool>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let tools = self
            .store()
            .tools_by_ids(&actor.organization_id, ids)
            .await?;
        let missing: BTreeSet<&String> = ids
            .iter()
            .filter(|id| !tools.iter().any(|t| &t.id == *id))
            .collect();
        if missing.is_empty() {
            Ok(tools)
        } else {
            Err(ServiceError::NotFound(format!(
                "Tools not found by id: {missing:?}"
            )))
        }
    }

    /// The tools an agent starts with: named tools, base tools for its type, multi-agent
    /// tools, and tools by id (spec §1.3 step 2).
    async fn tools_for_create(&self, actor: &Actor, req: &CreateAgent) -> ServiceResult<Vec<Tool>> {
        let mut names: BTreeSet<String> =
            req.tools.clone().unwrap_or_default().into_iter().collect();
        for deprecated in DEPRECATED_BY_NAME {
            names.remove(*deprecated);
        }
        names.extend(
            creation_tool_names(
                req.agent_type,
                req.enable_sleeptime == Some(true),
                req.include_base_tools,
                req.include_multi_agent_tools,
            )
            .into_iter()
            .map(str::to_owned),
        );
        let names: Vec<String> = names.into_iter().collect();
        let mut tools = if names.is_empty() {
            Vec::new()
        } else {
            let mut found = self
                .store()
                .tools_by_names(&actor.organization_id, &names)
                .await?;
            let missing_base: Vec<&String> = names
                .iter()
                .filter(|n| !found.iter().any(|t| t.name() == n.as_str()))
                .collect();
            if !missing_base.is_empty() {
                // An organization created after start-up gets the base tools on first use.
                crate::services::tools::upsert_base_tools(self.store(), actor).await?;
                found = self
                    .store()
                    .tools_by_names(&actor.organization_id, &names)
                    .await?;
            }
            let missing: BTreeSet<&String> = names
                .iter()
                .filter(|n| !found.iter().any(|t| t.name() == n.as_str()))
                .collect();
            if !missing.is_empty() {
                return Err(ServiceError::NotFound(format!(
                    "Tools not found by name: {missing:?}"
                )));
            }
            found
        };
        let by_id = self
            .require_tools_by_id(actor, req.tool_ids.as_deref().unwrap_or_default())
            .await?;
        for tool in by_id {
            if !tools.iter().any(|t| t.id == tool.id) {
                tools.push(tool);
            }
        }
        tools.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(tools)
    }

    fn tool_rules_for_create(
        &self,
        req: &CreateAgent,
        tools: &[Tool],
        llm: &LlmConfig,
    ) -> ServiceResult<Vec<ToolRule>> {
        let mut rules: Vec<ToolRule> = req
            .tool_rules
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(ToolRule::with_default_template)
            .collect();
        if req.include_base_tool_rules {
            let mut names: Vec<&str> = tools.iter().map(Tool::name).collect();
            names.sort_unstable();
            let mut base: Vec<ToolRule> = Vec::new();
            for name in &names {
                if TERMINAL_TOOLS.contains(name) {
                    base.push(ToolRule::terminal(name));
                }
            }
            for name in &names {
                if CONTINUE_TOOLS.contains(name) {
                    base.push(ToolRule::continue_loop(name));
                }
            }
            for rule in base {
                let duplicate = rules.iter().any(|r| {
                    r.tool_name() == rule.tool_name() && r.type_name() == rule.type_name()
                });
                if !duplicate {
                    rules.push(rule);
                }
            }
        }
        let run_first = rules
            .iter()
            .filter(|r| matches!(r, ToolRule::Init(_)))
            .count();
        if run_first > 1 && !matches!(llm.model.as_str(), "gpt-4o" | "gpt-4o-mini") {
            return Err(ServiceError::BadRequest(
                "Only one run_first tool rule is supported for this model".into(),
            ));
        }
        Ok(rules)
    }
}

/// A label names one block of an agent (the store keeps `(agent_id, block_label)` unique, and
/// would silently drop the second block), so a request giving an agent two different blocks
/// with one label is a 400 naming it, before anything is written. The original drops the
/// second block on create; see docs/compatibility.md.
pub(super) fn require_distinct_labels(blocks: &[Block]) -> ServiceResult<()> {
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for block in blocks {
        if !seen.insert(block.label()) {
            return Err(ServiceError::BadRequest(format!(
                "Duplicate block label '{}': an agent's blocks must have distinct labels \
                 (memory_blocks and block_ids together)",
                block.label()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert!(validate_name("ok name_1-2").is_ok());
        assert!(validate_name("bad/name").is_err());
        assert!(validate_name("").is_err());
    }
}
