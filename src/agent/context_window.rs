//! Token accounting of an agent's context window: `GET /v1/agents/{agent_id}/context`.

use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::request::to_chat_message;
use crate::llm::chat::{ChatContent, ChatMessage};
use crate::schemas::common::naive_utc;
use crate::schemas::message::Message;
use crate::schemas::org::Actor;
use crate::services::ServiceResult;
use crate::services::agents::AgentService;
use crate::state::AppState;

/// Counts tokens the way the agent's model does: tiktoken for OpenAI-family models, about
/// four characters per token otherwise.
pub struct TokenCounter {
    bpe: Option<&'static tiktoken_rs::CoreBPE>,
}

impl TokenCounter {
    pub fn for_model(endpoint_type: &str, model: &str) -> Self {
        let openai_family = matches!(
            endpoint_type,
            "openai" | "azure" | "together" | "groq" | "vllm" | "ollama"
        );
        let bpe = openai_family.then(|| {
            tiktoken_rs::bpe_for_model(model)
                .unwrap_or_else(|_| tiktoken_rs::cl100k_base_singleton())
        });
        TokenCounter { bpe }
    }

    pub fn text(&self, text: &str) -> i64 {
        match self.bpe {
            Some(bpe) => bpe.encode_ordinary(text).len() as i64,
            None => (text.chars().count() as i64 + 3) / 4,
        }
    }

    /// OpenAI's per-message estimate: content and role tokens plus a fixed overhead.
    pub fn messages(&self, messages: &[ChatMessage]) -> i64 {
        let mut total = 3;
        for m in messages {
            total += 3;
            total += match m {
                ChatMessage::System { content } => self.text(content) + 1,
                ChatMessage::User {
                    content: ChatContent::Text(t),
                } => self.text(t) + 1,
                ChatMessage::User {
                    content: ChatContent::Parts(parts),
                } => parts.iter().map(|p| self.text(&p.to_string())).sum::<i64>() + 1,
                ChatMessage::Assistant {
                    content,
                    tool_calls,
                    ..
                } => {
                    content.as_deref().map_or(0, |c| self.text(c))
                        + tool_calls
                            .iter()
                            .map(|c| self.text(&c.name) + self.text(&c.arguments) + 3)
                            .sum::<i64>()
                        + 1
                }
                ChatMessage::Tool { content, name, .. } => {
                    self.text(content) + name.as_deref().map_or(0, |n| self.text(n) + 1) + 1
                }
            };
        }
        total
    }
}

/// A stored message in full, as the context overview lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Message)]
pub struct MessageView {
    pub created_by_id: Option<String>,
    pub last_updated_by_id: Option<String>,
    #[schema(value_type = Option<String>)]
    pub created_at: String,
    #[schema(value_type = Option<String>)]
    pub updated_at: Option<String>,
    #[schema(required = false)]
    pub id: String,
    pub organization_id: Option<String>,
    pub agent_id: Option<String>,
    pub model: Option<String>,
    pub role: String,
    #[schema(value_type = Option<Vec<Object>>)]
    pub content: Option<Vec<Value>>,
    pub name: Option<String>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub tool_calls: Option<Value>,
    pub tool_call_id: Option<String>,
    pub step_id: Option<String>,
    pub otid: Option<String>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub tool_returns: Option<Value>,
    pub group_id: Option<String>,
    pub sender_id: Option<String>,
    pub batch_item_id: Option<String>,
}

impl From<&Message> for MessageView {
    fn from(m: &Message) -> Self {
        MessageView {
            created_by_id: m.created_by_id.clone(),
            last_updated_by_id: m.last_updated_by_id.clone(),
            created_at: naive_utc::format(&m.created_at),
            updated_at: Some(naive_utc::format(&m.updated_at)),
            id: m.id.clone(),
            organization_id: Some(m.organization_id.clone()),
            agent_id: Some(m.agent_id.clone()),
            model: m.model.clone(),
            role: m.role.as_str().to_owned(),
            content: Some(m.content.clone()),
            name: m.name.clone(),
            tool_calls: (!m.tool_calls.is_empty())
                .then(|| serde_json::to_value(&m.tool_calls).unwrap_or(Value::Null)),
            tool_call_id: m.tool_call_id.clone(),
            step_id: m.step_id.clone(),
            otid: m.otid.clone(),
            tool_returns: Some(serde_json::to_value(&m.tool_returns).unwrap_or(Value::Null)),
            group_id: m.group_id.clone(),
            sender_id: m.sender_id.clone(),
            batch_item_id: m.batch_item_id.clone(),
        }
    }
}

/// How the agent's context window is used, in tokens.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContextWindowOverview {
    pub context_window_size_max: i64,
    pub context_window_size_current: i64,
    pub num_messages: i64,
    pub num_archival_memory: i64,
    pub num_recall_memory: i64,
    pub num_tokens_external_memory_summary: i64,
    pub external_memory_summary: String,
    pub num_tokens_system: i64,
    pub system_prompt: String,
    pub num_tokens_core_memory: i64,
    pub core_memory: String,
    pub num_tokens_summary_memory: i64,
    pub summary_memory: Option<String>,
    pub num_tokens_functions_definitions: i64,
    #[schema(value_type = Option<Vec<Object>>, required = true)]
    pub functions_definitions: Option<Vec<Value>>,
    pub num_tokens_messages: i64,
    pub messages: Vec<MessageView>,
}

fn section<'t>(text: &'t str, start: &str, end: Option<&str>) -> Option<&'t str> {
    let from = text.find(start)?;
    let rest = &text[from..];
    Some(match end {
        Some(end) => &rest[..rest.find(end)?],
        None => rest,
    })
}

pub async fn overview(
    state: &AppState,
    actor: &Actor,
    agent_id: &str,
) -> ServiceResult<ContextWindowOverview> {
    let agents = AgentService::new(&state.store, &state.config, &state.models);
    let row = agents.row(actor, agent_id).await?;
    agents
        .rebuild_system_prompt(&row, Some(crate::schemas::common::now()))
        .await?;
    let messages = state
        .store
        .get_messages(&row.organization_id, &row.message_ids)
        .await?;
    let total = state.store.count_agent_messages(&row.id).await?;
    let tools = agents.tools_of(&row.id).await?;

    let counter =
        TokenCounter::for_model(&row.llm_config.model_endpoint_type, &row.llm_config.model);
    let system_text = messages.first().and_then(Message::text).unwrap_or_default();
    let system_prompt = match (
        system_text.find("<base_instructions>"),
        system_text.find("<memory_blocks>"),
    ) {
        (Some(a), Some(b)) if a < b => system_text[a..b].trim().to_owned(),
        _ => row.system.clone(),
    };
    let core_memory = section(system_text, "<memory_blocks>", Some("<memory_metadata>"))
        .unwrap_or_default()
        .trim()
        .to_owned();
    let external = section(system_text, "<memory_metadata>", None)
        .unwrap_or_default()
        .trim()
        .to_owned();
    let summary_memory = messages
        .get(1)
        .filter(|m| m.role == crate::schemas::message::MessageRole::User)
        .and_then(Message::text)
        .filter(|t| t.contains(super::summarizer::SUMMARY_MARKER))
        .map(str::to_owned);
    let functions: Vec<Value> = tools
        .iter()
        .filter_map(|t| t.json_schema.as_ref())
        .map(|s| {
            json!({"function": {"name": s.get("name"), "description": s.get("description"), "parameters": s.get("parameters"), "strict": null}, "type": "function"})
        })
        .collect();
    let functions_tokens = if functions.is_empty() {
        0
    } else {
        counter.text(&Value::Array(functions.clone()).to_string())
    };
    let skip = 1 + usize::from(summary_memory.is_some());
    let kwargs = row.llm_config.put_inner_thoughts_in_kwargs.unwrap_or(true);
    let chat: Vec<ChatMessage> = messages
        .iter()
        .skip(skip)
        .filter_map(|m| to_chat_message(m, kwargs))
        .collect();
    let num_tokens_messages = if chat.is_empty() {
        0
    } else {
        counter.messages(&chat)
    };

    let num_tokens_system = counter.text(&system_prompt);
    let num_tokens_core_memory = counter.text(&core_memory);
    let num_tokens_external = counter.text(&external);
    let num_tokens_summary = summary_memory.as_deref().map_or(0, |s| counter.text(s));
    Ok(ContextWindowOverview {
        context_window_size_max: row.llm_config.context_window,
        context_window_size_current: num_tokens_system
            + num_tokens_core_memory
            + num_tokens_external
            + num_tokens_summary
            + functions_tokens
            + num_tokens_messages,
        num_messages: messages.len() as i64,
        num_archival_memory: state.store.count_agent_passages(&row.id).await?,
        num_recall_memory: total,
        num_tokens_external_memory_summary: num_tokens_external,
        external_memory_summary: external,
        num_tokens_system,
        system_prompt,
        num_tokens_core_memory,
        core_memory,
        num_tokens_summary_memory: num_tokens_summary,
        summary_memory,
        num_tokens_functions_definitions: functions_tokens,
        functions_definitions: Some(functions),
        num_tokens_messages,
        messages: messages.iter().map(MessageView::from).collect(),
    })
}
