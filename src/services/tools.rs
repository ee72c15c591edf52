//! The tools catalogue: Letta's built-in tools, seeded per organization, and tool lookups.

use serde_json::{Map, Value, json};

use super::{ServiceError, ServiceResult};
use crate::sandbox::SharedSandbox;
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::schemas::tool::{BASE_TOOL_RETURN_CHAR_LIMIT, Tool, ToolType};
use crate::store::{DynStore, Store};

/// A built-in tool: its name, type and function description. Its stored `json_schema` is
/// `{"name", "description", "parameters": {"type": "object", "properties", "required"}}`.
struct BaseTool {
    name: &'static str,
    tool_type: ToolType,
    description: &'static str,
    /// Parameters, in schema order.
    params: &'static [Param],
    required: &'static [&'static str],
}

struct Param {
    name: &'static str,
    kind: ParamKind,
    description: &'static str,
}

#[derive(Clone, Copy)]
enum ParamKind {
    String,
    Integer,
    Boolean,
    StringArray,
    /// Any other schema, as JSON text (objects, arrays of objects, enums).
    Json(&'static str),
}

const fn param(name: &'static str, kind: ParamKind, description: &'static str) -> Param {
    Param {
        name,
        kind,
        description,
    }
}

use ParamKind::{Boolean, Integer, Json, String as Str, StringArray};

const CONTENT: &str =
    "Content to write to the memory. All unicode (including emojis) are supported.";
const CORE_LABEL: &str = "Section of the memory to be edited (persona or human).";
const BLOCK_LABEL: &str = "Section of the memory to be edited, identified by its label.";
const PAGE: &str = "Allows you to page through results. Only use on a follow-up query. Defaults to 0 (first page).";
const QUERY: &str = "String to search for.";
const OUTGOING: &str =
    "The message to send to the other agent(s). All unicode (including emojis) are supported.";
const TARGET_AGENT: &str = "The id of the agent that receives the message.";

/// Every built-in tool this server seeds, in seeding order.
const BASE_TOOLS: &[BaseTool] = &[
    BaseTool {
        name: "send_message",
        tool_type: ToolType::LettaCore,
        description: "Sends a message to the human user.",
        params: &[param(
            "message",
            Str,
            "Message contents. All unicode (including emojis) are supported.",
        )],
        required: &["message"],
    },
    BaseTool {
        name: "conversation_search",
        tool_type: ToolType::LettaCore,
        description: "Search prior conversation history using case-insensitive string matching.",
        params: &[param("query", Str, QUERY), param("page", Integer, PAGE)],
        required: &["query"],
    },
    BaseTool {
        name: "archival_memory_insert",
        tool_type: ToolType::LettaCore,
        description: "Add to archival memory. Make sure to phrase the memory contents such that it can be easily queried later.",
        params: &[param("content", Str, CONTENT)],
        required: &["content"],
    },
    BaseTool {
        name: "archival_memory_search",
        tool_type: ToolType::LettaCore,
        description: "Search archival memory using semantic (embedding-based) search.",
        params: &[
            param("query", Str, QUERY),
            param("page", Integer, PAGE),
            param(
                "start",
                Integer,
                "Starting index for the search results. Defaults to 0.",
            ),
        ],
        required: &["query"],
    },
    BaseTool {
        name: "core_memory_append",
        tool_type: ToolType::LettaMemoryCore,
        description: "Append to the contents of core memory.",
        params: &[
            param("label", Str, CORE_LABEL),
            param("content", Str, CONTENT),
        ],
        required: &["label", "content"],
    },
    BaseTool {
        name: "core_memory_replace",
        tool_type: ToolType::LettaMemoryCore,
        description: "Replace the contents of core memory. To delete memories, use an empty string for new_content.",
        params: &[
            param("label", Str, CORE_LABEL),
            param(
                "old_content",
                Str,
                "String to replace. Must be an exact match.",
            ),
            param("new_content", Str, CONTENT),
        ],
        required: &["label", "old_content", "new_content"],
    },
    BaseTool {
        name: "memory_replace",
        tool_type: ToolType::LettaSleeptimeCore,
        description: "The memory_replace command allows you to replace a specific string in a memory block with a new string. This is used for making precise edits.",
        params: &[
            param("label", Str, BLOCK_LABEL),
            param(
                "old_str",
                Str,
                "The text to replace (must match exactly, including whitespace and indentation).",
            ),
            param(
                "new_str",
                Str,
                "The new text to insert in place of the old text. Omit this argument to delete the old_str.",
            ),
        ],
        required: &["label", "old_str"],
    },
    BaseTool {
        name: "memory_insert",
        tool_type: ToolType::LettaSleeptimeCore,
        description: "The memory_insert command allows you to insert text at a specific location in a memory block.",
        params: &[
            param("label", Str, BLOCK_LABEL),
            param("new_str", Str, "The text to insert."),
            param(
                "insert_line",
                Integer,
                "The line number after which to insert the text (0 for beginning of file). Defaults to -1 (end of the file).",
            ),
        ],
        required: &["label", "new_str"],
    },
    BaseTool {
        name: "memory_rethink",
        tool_type: ToolType::LettaSleeptimeCore,
        description: "Rewrite a memory block as a whole. Use it to reorganize a block, merge new facts into it or drop what is outdated; the new text fully replaces the old one.",
        params: &[
            param("label", Str, BLOCK_LABEL),
            param(
                "new_memory",
                Str,
                "The complete new contents of the block. All unicode (including emojis) are supported.",
            ),
        ],
        required: &["label", "new_memory"],
    },
    BaseTool {
        name: "memory_finish_edits",
        tool_type: ToolType::LettaSleeptimeCore,
        description: "Signal that you have finished editing memory for now.",
        params: &[],
        required: &[],
    },
    BaseTool {
        name: "send_message_to_agent_and_wait_for_reply",
        tool_type: ToolType::LettaMultiAgentCore,
        description: "Send a message to another agent and wait for its reply, which is returned as the result.",
        params: &[
            param("message", Str, OUTGOING),
            param("other_agent_id", Str, TARGET_AGENT),
        ],
        required: &["message", "other_agent_id"],
    },
    BaseTool {
        name: "send_message_to_agents_matching_tags",
        tool_type: ToolType::LettaMultiAgentCore,
        description: "Send a message to every agent whose tags match, and collect their replies. An agent matches when it has all the tags in match_all and, if match_some is not empty, at least one tag in match_some.",
        params: &[
            param("message", Str, OUTGOING),
            param(
                "match_all",
                StringArray,
                "Tags an agent must all have to receive the message.",
            ),
            param(
                "match_some",
                StringArray,
                "Tags of which an agent must have at least one to receive the message; an empty list adds no condition.",
            ),
        ],
        required: &["message", "match_all", "match_some"],
    },
    BaseTool {
        name: "send_message_to_agent_async",
        tool_type: ToolType::LettaMultiAgentCore,
        description: "Send a message to another agent without waiting for its reply. The other agent may answer later with a message of its own.",
        params: &[
            param("message", Str, OUTGOING),
            param("other_agent_id", Str, TARGET_AGENT),
        ],
        required: &["message", "other_agent_id"],
    },
    BaseTool {
        name: "store_memories",
        tool_type: ToolType::LettaVoiceSleeptimeCore,
        description: "Archive stretches of the conversation that are about to leave the context window, each with a short synopsis that makes it easy to find again.",
        params: &[param(
            "chunks",
            Json(
                r#"{"type":"array","items":{"type":"object","properties":{"start_index":{"type":"integer","description":"Zero-based index of the first line of the stretch."},"end_index":{"type":"integer","description":"Zero-based index of the last line of the stretch (inclusive)."},"context":{"type":"string","description":"One to three sentences on what the stretch says about the user: facts, preferences, goals."}},"required":["start_index","end_index","context"]}}"#,
            ),
            "The stretches to archive, each a range of transcript lines with its synopsis.",
        )],
        required: &["chunks"],
    },
    BaseTool {
        name: "rethink_user_memory",
        tool_type: ToolType::LettaVoiceSleeptimeCore,
        description: "Rewrite the main agent's memory of the user as a whole: keep what still holds, fold in what is new, drop what is outdated or contradicted.",
        params: &[param(
            "new_memory",
            Str,
            "The complete new text of the memory; the same text as before when nothing changed.",
        )],
        required: &["new_memory"],
    },
    BaseTool {
        name: "finish_rethinking_memory",
        tool_type: ToolType::LettaVoiceSleeptimeCore,
        description: "Signal that rewriting the memory is done.",
        params: &[],
        required: &[],
    },
    BaseTool {
        name: "search_memory",
        tool_type: ToolType::LettaVoiceSleeptimeCore,
        description: "Search long-term memory and earlier conversation, only when the user refers to something no longer in view. The user's latest message is the main query.",
        params: &[
            param(
                "convo_keyword_queries",
                StringArray,
                "Extra keywords to look for (an order number, a place); null when none apply.",
            ),
            param(
                "start_minutes_ago",
                Integer,
                "Newest end of the time window, in minutes before now; null for no bound.",
            ),
            param(
                "end_minutes_ago",
                Integer,
                "Oldest end of the time window, in minutes before now; null for no bound.",
            ),
        ],
        required: &[],
    },
    BaseTool {
        name: "run_code",
        tool_type: ToolType::LettaBuiltin,
        description: "Run a piece of code in a sandbox and get back what it printed and any error.",
        params: &[
            param("code", Str, "The code to run."),
            param(
                "language",
                Json(r#"{"type":"string","enum":["python","js","ts","r","java"]}"#),
                "The language the code is written in.",
            ),
        ],
        required: &["code", "language"],
    },
    BaseTool {
        name: "web_search",
        tool_type: ToolType::LettaBuiltin,
        description: "Search the web for each query and return the passages of the pages found that answer its question.",
        params: &[
            param(
                "tasks",
                Json(
                    r#"{"type":"array","items":{"type":"object","properties":{"query":{"type":"string","description":"What to search the web for."},"question":{"type":"string","description":"The question the results should answer, in the light of the conversation."}},"required":["query","question"]}}"#,
                ),
                "The searches to run, each a query and the question it should answer.",
            ),
            param(
                "limit",
                Integer,
                "How many pages to read per search (more than 0). Defaults to 3.",
            ),
            param(
                "return_raw",
                Boolean,
                "Return the pages' whole text instead of the passages; only when the user asks for it. Defaults to false.",
            ),
        ],
        required: &["tasks"],
    },
    BaseTool {
        name: "open_files",
        tool_type: ToolType::LettaFilesCore,
        description: "Open files of the attached sources (at most five at a time) and show their contents, or a range of their lines, in the files section of memory.",
        params: &[
            param(
                "file_requests",
                Json(
                    r#"{"type":"array","items":{"type":"object","properties":{"file_name":{"type":"string","description":"Name of the file to open."},"offset":{"type":"integer","description":"First line to show (1-based); the start of the file when omitted."},"length":{"type":"integer","description":"How many lines to show from offset; to the end of the file when omitted."}},"required":["file_name"]}}"#,
                ),
                "The files to open, each with an optional range of lines.",
            ),
            param(
                "close_all_others",
                Boolean,
                "Close every other open file first. Defaults to false.",
            ),
        ],
        required: &["file_requests"],
    },
    BaseTool {
        name: "grep_files",
        tool_type: ToolType::LettaFilesCore,
        description: "Search the contents of the attached files for a keyword or regular expression and show the matching lines with some context.",
        params: &[
            param("pattern", Str, "Keyword or regular expression to look for."),
            param(
                "include",
                Str,
                "Keyword or regular expression a file's name must match to be searched.",
            ),
            param(
                "context_lines",
                Integer,
                "Lines of context shown before and after each match. Defaults to 3.",
            ),
        ],
        required: &["pattern"],
    },
    BaseTool {
        name: "semantic_search_files",
        tool_type: ToolType::LettaFilesCore,
        description: "Find the passages of the attached files closest in meaning to a query (embedding search).",
        params: &[
            param("query", Str, "What to look for."),
            param(
                "limit",
                Integer,
                "Largest number of passages to return. Defaults to 5.",
            ),
        ],
        required: &["query"],
    },
];

impl BaseTool {
    fn json_schema(&self) -> Value {
        let mut properties = Map::new();
        for p in self.params {
            let schema = match p.kind {
                ParamKind::String => json!({"type": "string", "description": p.description}),
                ParamKind::Integer => json!({"type": "integer", "description": p.description}),
                ParamKind::Boolean => json!({"type": "boolean", "description": p.description}),
                ParamKind::StringArray => {
                    json!({"type": "array", "items": {"type": "string"}, "description": p.description})
                }
                ParamKind::Json(text) => {
                    let mut schema: Value =
                        serde_json::from_str(text).unwrap_or_else(|_| json!({}));
                    if let Some(obj) = schema.as_object_mut() {
                        obj.insert("description".into(), json!(p.description));
                    }
                    schema
                }
            };
            properties.insert(p.name.to_owned(), schema);
        }
        json!({
            "name": self.name,
            "description": self.description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": self.required,
            }
        })
    }

    fn to_tool(&self, actor: &Actor) -> Tool {
        Tool {
            id: new_id("tool"),
            tool_type: self.tool_type,
            description: Some(self.description.to_owned()),
            source_type: Some("python".to_owned()),
            organization_id: Some(actor.organization_id.clone()),
            name: Some(self.name.to_owned()),
            tags: vec![self.tool_type.as_str().to_owned()],
            source_code: None,
            json_schema: Some(self.json_schema()),
            args_json_schema: None,
            return_char_limit: Some(BASE_TOOL_RETURN_CHAR_LIMIT),
            pip_requirements: None,
            created_by_id: Some(actor.user_id.clone()),
            last_updated_by_id: Some(actor.user_id.clone()),
            metadata_: Some(Map::new()),
        }
    }
}

fn base_tool(name: &str) -> Option<&'static BaseTool> {
    BASE_TOOLS.iter().find(|t| t.name == name)
}

/// Names of every built-in tool this server seeds.
pub fn base_tool_names() -> Vec<&'static str> {
    BASE_TOOLS.iter().map(|t| t.name).collect()
}

/// The type of a built-in tool, or `None` for a name that is not built in.
pub fn base_tool_type(name: &str) -> Option<ToolType> {
    base_tool(name).map(|t| t.tool_type)
}

/// The stored JSON schema of a built-in tool.
pub fn base_tool_json_schema(name: &str) -> Option<Value> {
    base_tool(name).map(BaseTool::json_schema)
}

/// Inserts or refreshes every built-in tool in the actor's organization (idempotent).
pub async fn upsert_base_tools(store: &dyn Store, actor: &Actor) -> ServiceResult<Vec<Tool>> {
    let tools: Vec<Tool> = BASE_TOOLS.iter().map(|t| t.to_tool(actor)).collect();
    Ok(store.upsert_tools_by_name(&tools).await?)
}

pub struct ToolService<'a> {
    pub(super) store: &'a DynStore,
    /// Where custom tools' schemas are derived and their source runs.
    pub(super) sandbox: &'a SharedSandbox,
}

impl<'a> ToolService<'a> {
    pub fn new(store: &'a DynStore, sandbox: &'a SharedSandbox) -> Self {
        ToolService { store, sandbox }
    }

    /// Inserts or refreshes every built-in tool in the actor's organization (idempotent).
    pub async fn upsert_base_tools(&self, actor: &Actor) -> ServiceResult<Vec<Tool>> {
        upsert_base_tools(self.store.as_ref(), actor).await
    }

    /// Seeds the built-in tools when any of them is missing from the actor's organization
    /// (one indexed lookup when nothing is missing).
    pub async fn ensure_base_tools(&self, actor: &Actor) -> ServiceResult<()> {
        let names: Vec<String> = BASE_TOOLS.iter().map(|t| t.name.to_owned()).collect();
        let present = self
            .store
            .tools_by_names(&actor.organization_id, &names)
            .await?;
        if present.len() < names.len() {
            tracing::info!(org = %actor.organization_id, "seeding built-in tools");
            self.upsert_base_tools(actor).await?;
        }
        Ok(())
    }

    /// A page of the organization's tools, oldest first (`limit: None` = all of them);
    /// with `name`, the tool of that name (or nothing). A listing from the start seeds
    /// missing built-in tools first.
    pub async fn list(
        &self,
        actor: &Actor,
        after: Option<&str>,
        limit: Option<i64>,
        name: Option<&str>,
    ) -> ServiceResult<Vec<Tool>> {
        if after.is_none() {
            self.ensure_base_tools(actor).await?;
        }
        Ok(self
            .store
            .list_tools(&actor.organization_id, after, limit, name)
            .await?)
    }

    /// Number of tools in the organization; built-in tools only count when
    /// `include_base_tools` is set.
    pub async fn count(&self, actor: &Actor, include_base_tools: bool) -> ServiceResult<i64> {
        let excluded: Vec<&str> = if include_base_tools {
            Vec::new()
        } else {
            base_tool_names()
        };
        Ok(self
            .store
            .count_tools(&actor.organization_id, &excluded)
            .await?)
    }

    pub async fn get(&self, actor: &Actor, tool_id: &str) -> ServiceResult<Tool> {
        self.store
            .get_tool(&actor.organization_id, tool_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("Tool with id {tool_id} not found")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_lookups_work() {
        let names = base_tool_names();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        assert_eq!(names.len(), 22);
        assert_eq!(base_tool_type("send_message"), Some(ToolType::LettaCore));
        assert_eq!(
            base_tool_type("core_memory_replace"),
            Some(ToolType::LettaMemoryCore)
        );
        assert_eq!(
            base_tool_type("memory_finish_edits"),
            Some(ToolType::LettaSleeptimeCore)
        );
        assert_eq!(
            base_tool_type("send_message_to_agent_async"),
            Some(ToolType::LettaMultiAgentCore)
        );
        assert_eq!(base_tool_type("my_tool"), None);
    }

    #[test]
    fn schemas_match_the_reference() {
        assert_eq!(
            base_tool_json_schema("send_message").unwrap(),
            json!({"name":"send_message","description":"Sends a message to the human user.",
                "parameters":{"type":"object","properties":{"message":{"type":"string",
                "description":"Message contents. All unicode (including emojis) are supported."}},
                "required":["message"]}})
        );
        let schema = base_tool_json_schema("archival_memory_search").unwrap();
        assert_eq!(
            serde_json::to_string(&schema).unwrap(),
            r#"{"name":"archival_memory_search","description":"Search archival memory using semantic (embedding-based) search.","parameters":{"type":"object","properties":{"query":{"type":"string","description":"String to search for."},"page":{"type":"integer","description":"Allows you to page through results. Only use on a follow-up query. Defaults to 0 (first page)."},"start":{"type":"integer","description":"Starting index for the search results. Defaults to 0."}},"required":["query"]}}"#
        );
        assert_eq!(
            base_tool_json_schema("memory_finish_edits").unwrap()["parameters"],
            json!({"type":"object","properties":{},"required":[]})
        );
        assert_eq!(
            base_tool_json_schema("send_message_to_agents_matching_tags").unwrap()["parameters"]["properties"]
                ["match_all"]["items"],
            json!({"type":"string"})
        );
    }

    #[test]
    fn every_required_parameter_is_declared() {
        for tool in BASE_TOOLS {
            for r in tool.required {
                assert!(
                    tool.params.iter().any(|p| p.name == *r),
                    "{}: {r}",
                    tool.name
                );
            }
        }
    }

    #[test]
    fn seeded_tool_fields() {
        let actor = Actor {
            user_id: "user-1".into(),
            organization_id: "org-1".into(),
        };
        let tool = base_tool("core_memory_append").unwrap().to_tool(&actor);
        let value = serde_json::to_value(&tool).unwrap();
        assert!(tool.id.starts_with("tool-"));
        assert_eq!(value["tags"], json!(["letta_memory_core"]));
        assert_eq!(value["tool_type"], "letta_memory_core");
        assert_eq!(value["source_type"], "python");
        assert_eq!(value["source_code"], Value::Null);
        assert_eq!(value["return_char_limit"], 1_000_000);
        assert_eq!(value["metadata_"], json!({}));
        assert_eq!(value["created_by_id"], "user-1");
        assert_eq!(value["organization_id"], "org-1");
    }
}
