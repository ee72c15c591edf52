//! Agent files: `export_agent_serialized` and `import_agent_serialized` (v1 as Letta 0.8.12
//! and the public examples write it, v2 with file-local ids, the double-encoded variant),
//! the import flags, and every refused file leaving the database as it was.

use letta_rs::schemas::message::Message;
use letta_rs::store::{AgentRow, ImportBundle, ImportedAgent, NewAgent, RelationSet};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, create_agent, id_of};
use crate::mock_llm::MockLlm;
use crate::{both_backends, llm_test, store_test};

const ADD: &str = r#"def add_numbers(a: int, b: int) -> int:
    """
    Add two numbers.

    Args:
        a (int): The first number.
        b (int): The second number.

    Returns:
        int: The sum.
    """
    return a + b
"#;

/// The same function with another description, to see whether a file overwrote the tool.
const ADD_V2: &str = r#"def add_numbers(a: int, b: int) -> int:
    """
    Add two integers (from the agent file).

    Args:
        a (int): The first number.
        b (int): The second number.
    """
    return a + b
"#;

const ROLL: &str = r#"def roll_dice(sides: int) -> str:
    """
    Roll a die.

    Args:
        sides (int): How many sides the die has.
    """
    import random
    return str(random.randint(1, sides))
"#;

/// Sends `file` as the multipart field `file` (plus extra text fields) to the import route.
pub(crate) async fn import_raw(
    app: &TestApp,
    query: &str,
    file: &[u8],
    fields: &[(&str, &str)],
) -> (StatusCode, Value) {
    let boundary = "----letta-rs-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"agent.af\"\r\nContent-Type: application/json\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let resp = app
        .client
        .post(app.url(&format!("/v1/agents/import{query}")))
        .header("user_id", &app.user_id)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

pub(crate) async fn import(app: &TestApp, query: &str, file: &Value) -> Value {
    let (status, agent) = import_raw(app, query, file.to_string().as_bytes(), &[]).await;
    assert_eq!(status, StatusCode::OK, "{agent}");
    agent
}

pub(crate) async fn export(app: &TestApp, agent_id: &str) -> (Value, String) {
    let resp = app
        .client
        .get(app.url(&format!("/v1/agents/{agent_id}/export")))
        .header("user_id", &app.user_id)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    (serde_json::from_str(&text).unwrap(), text)
}

async fn create_tool(app: &TestApp, source: &str) -> Value {
    let (status, tool) = app
        .post("/v1/tools/", &json!({"source_code": source}))
        .await;
    assert_eq!(status, StatusCode::OK, "{tool}");
    tool
}

/// The in-context messages of an agent, as (role, content, tool calls, tool call id, name).
async fn in_context(app: &TestApp, agent: &Value) -> Vec<Value> {
    let ids: Vec<String> = agent["message_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let messages = app.store.get_messages(&app.org_id, &ids).await.unwrap();
    assert_eq!(messages.len(), ids.len(), "every in-context message exists");
    messages.iter().map(message_view).collect()
}

fn message_view(m: &Message) -> Value {
    json!({
        "role": m.role.as_str(),
        "content": m.content,
        "tool_calls": serde_json::to_value(&m.tool_calls).unwrap(),
        "tool_call_id": m.tool_call_id,
        "name": m.name,
    })
}

/// What must survive a round trip: blocks (without ids), tools, rules, tags, variables.
fn agent_view(agent: &Value) -> Value {
    let mut blocks: Vec<Value> = agent["memory"]["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| json!([b["label"], b["value"], b["limit"], b["description"]]))
        .collect();
    blocks.sort_by_key(|b| b.to_string());
    let mut tools: Vec<String> = agent["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    tools.sort();
    let mut tags = agent["tags"].as_array().unwrap().clone();
    tags.sort_by_key(|t| t.to_string());
    let vars: Vec<Value> = agent["tool_exec_environment_variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["key"].clone())
        .collect();
    json!({
        "blocks": blocks, "tools": tools, "tool_rules": agent["tool_rules"], "tags": tags,
        "vars": vars, "system": agent["system"], "agent_type": agent["agent_type"],
        "llm_config": agent["llm_config"], "embedding_config": agent["embedding_config"],
        "description": agent["description"], "metadata": agent["metadata"],
    })
}

/// How much this test's organization holds, to show a refused file wrote nothing.
async fn counts(app: &TestApp) -> (usize, usize, usize) {
    // Listing seeds the built-in tools (as an import does), so they are never the difference.
    app.get("/v1/tools/?limit=1").await;
    let (_, agents) = app.get("/v1/agents/?limit=1000").await;
    let (_, blocks) = app.get("/v1/blocks/?limit=1000").await;
    let tools = app
        .store
        .list_tools(&app.org_id, None, None, None)
        .await
        .unwrap();
    (
        agents.as_array().unwrap().len(),
        blocks.as_array().unwrap().len(),
        tools.len(),
    )
}

/// A rich agent: a custom tool, rules, tags, a variable, a description, metadata.
async fn rich_agent(app: &TestApp) -> Value {
    create_tool(app, ADD).await;
    create_agent(
        app,
        json!({
            "name": "exporter",
            "description": "an agent to move",
            "metadata": {"team": "blue"},
            "tools": ["add_numbers"],
            "tags": ["alpha", "beta"],
            "tool_exec_environment_variables": {"API_KEY": "secret-value"},
            "tool_rules": [
                {"type": "constrain_child_tools", "tool_name": "add_numbers", "children": ["send_message"]},
                {"type": "max_count_per_step", "tool_name": "add_numbers", "max_count_limit": 2},
                {"type": "conditional", "tool_name": "conversation_search", "default_child": "send_message",
                 "child_output_mapping": {"True": "send_message"}, "require_output_mapping": false}
            ],
        }),
    )
    .await
}

llm_test!(
    export_writes_the_v1_file,
    |app: TestApp, _llm: MockLlm| async move {
        let agent = rich_agent(&app).await;
        let (file, text) = export(&app, &id_of(&agent)).await;
        assert!(text.starts_with("{\n  \""), "indented with two spaces");
        let keys: Vec<&str> = file
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "agent_type",
                "core_memory",
                "created_at",
                "description",
                "embedding_config",
                "llm_config",
                "message_buffer_autoclear",
                "in_context_message_indices",
                "messages",
                "metadata_",
                "multi_agent_group",
                "name",
                "system",
                "tags",
                "tool_exec_environment_variables",
                "tool_rules",
                "tools",
                "updated_at",
                "version"
            ]
        );
        assert_eq!(file["version"], "0.8.12");
        assert_eq!(file["name"], "exporter");
        assert_eq!(file["metadata_"], json!({"team": "blue"}));
        assert_eq!(file["multi_agent_group"], Value::Null);
        assert!(file["created_at"].as_str().unwrap().ends_with("+00:00"));
        assert_eq!(file["tags"], json!([{"tag": "alpha"}, {"tag": "beta"}]));
        // Values never leave the server.
        let vars = file["tool_exec_environment_variables"].as_array().unwrap();
        assert_eq!(vars.len(), 1);
        assert_eq!(vars[0]["key"], "API_KEY");
        assert_eq!(vars[0]["value"], "");
        assert!(!text.contains("secret-value"));
        // Blocks without ids; tools with their source; rules without prompt templates.
        let human = file["core_memory"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["label"] == "human")
            .unwrap();
        assert_eq!(human["value"], "Name: unknown");
        assert!(human.get("id").is_none());
        let add = file["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "add_numbers")
            .unwrap();
        assert_eq!(add["source_code"], ADD);
        assert_eq!(add["tool_type"], "custom");
        assert_eq!(add["json_schema"]["name"], "add_numbers");
        assert!(
            file["tool_rules"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r.get("prompt_template").is_none())
        );
        assert!(file["tool_rules"].as_array().unwrap().contains(
            &json!({"tool_name": "add_numbers", "type": "max_count_per_step", "max_count_limit": 2})
        ));
        // Every message; the in-context ones by index, the system message first.
        let messages = file["messages"].as_array().unwrap();
        let indices = file["in_context_message_indices"].as_array().unwrap();
        assert_eq!(
            indices.len(),
            agent["message_ids"].as_array().unwrap().len()
        );
        assert_eq!(
            messages[indices[0].as_u64().unwrap() as usize]["role"],
            "system"
        );
        assert!(messages.iter().all(|m| m.get("id").is_none()));

        // Unknown and foreign agents are a 404.
        let (status, body) = app
            .get("/v1/agents/agent-00000000-0000-4000-8000-000000000000/export")
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(
            body["detail"].as_str().unwrap().contains("not found"),
            "{body}"
        );
        let other = app.other_org_user().await;
        let (status, _) = app
            .request_as(
                &other,
                reqwest::Method::GET,
                &format!("/v1/agents/{}/export", id_of(&agent)),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
);

llm_test!(
    export_import_round_trip,
    |app: TestApp, _llm: MockLlm| async move {
        let agent = rich_agent(&app).await;
        let (file, _) = export(&app, &id_of(&agent)).await;
        let before = counts(&app).await;
        let copy = import(&app, "", &file).await;
        assert_ne!(copy["id"], agent["id"]);
        assert_eq!(copy["name"], "exporter_copy");
        assert_eq!(agent_view(&copy), agent_view(&agent));
        // New blocks, the same tool rows (matched by name).
        let block_ids = |a: &Value| -> Vec<Value> {
            a["memory"]["blocks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["id"].clone())
                .collect()
        };
        assert!(
            block_ids(&copy)
                .iter()
                .all(|id| !block_ids(&agent).contains(id))
        );
        let tool_ids = |a: &Value| -> Vec<Value> {
            let mut ids: Vec<Value> = a["tools"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].clone())
                .collect();
            ids.sort_by_key(|v| v.to_string());
            ids
        };
        assert_eq!(tool_ids(&copy), tool_ids(&agent));
        assert_eq!(
            in_context(&app, &copy).await,
            in_context(&app, &agent).await
        );
        // Variables come back blank.
        assert_eq!(copy["tool_exec_environment_variables"][0]["value"], "");
        let after = counts(&app).await;
        assert_eq!(after.0, before.0 + 1);
        assert_eq!(after.1, before.1 + 2);
        assert_eq!(after.2, before.2, "no tool was added");

        // The copy is a working agent: it exports to the same file (but for its name and times).
        let (again, _) = export(&app, &id_of(&copy)).await;
        for key in [
            "core_memory",
            "tools",
            "tool_rules",
            "tags",
            "in_context_message_indices",
        ] {
            let strip = |v: &Value| {
                let mut v = v.clone();
                for item in v.as_array_mut().into_iter().flatten() {
                    if let Some(o) = item.as_object_mut() {
                        o.remove("created_at");
                        o.remove("updated_at");
                    }
                }
                v
            };
            assert_eq!(strip(&again[key]), strip(&file[key]), "{key}");
        }
    }
);

/// A v1 file as Letta 0.6/0.8 and the public agent-file examples write it (naive
/// timestamps, a conditional rule, a blank variable, a custom tool with its source).
pub(crate) fn v1_file() -> Value {
    let ts = "2025-04-02T04:01:36";
    json!({
        "agent_type": "memgpt_agent",
        "core_memory": [
            {"created_at": ts, "description": "About the user.", "is_template": false, "label": "human",
             "limit": 5000, "metadata_": {}, "template_name": null, "updated_at": ts, "value": "Name: Ada"},
            {"created_at": ts, "description": null, "is_template": false, "label": "persona",
             "limit": 2000, "metadata_": {}, "template_name": "sam", "updated_at": ts, "value": "I roll dice."}
        ],
        "created_at": "2025-04-02T04:01:35.123456+00:00",
        "description": "A dice agent",
        "embedding_config": {"embedding_endpoint_type": "openai", "embedding_endpoint": "https://api.openai.com/v1",
            "embedding_model": "text-embedding-3-small", "embedding_dim": 1536, "embedding_chunk_size": 300,
            "handle": "openai/text-embedding-3-small", "azure_endpoint": null, "azure_version": null, "azure_deployment": null},
        "llm_config": {"model": "gpt-4o-mini", "model_endpoint_type": "openai", "model_endpoint": "https://api.openai.com/v1",
            "model_wrapper": null, "context_window": 32000, "put_inner_thoughts_in_kwargs": true,
            "handle": "openai/gpt-4o-mini", "temperature": 0.7, "max_tokens": 4096, "enable_reasoner": false,
            "reasoning_effort": null, "max_reasoning_tokens": 0},
        "message_buffer_autoclear": false,
        "in_context_message_indices": [0, 1, 2, 3],
        "messages": [
            {"created_at": ts, "group_id": null, "model": "gpt-4o-mini", "name": null, "role": "system",
             "content": [{"type": "text", "text": "You are a dice agent."}], "tool_call_id": null,
             "tool_calls": [], "tool_returns": [], "updated_at": ts},
            {"created_at": ts, "group_id": null, "model": "gpt-4o-mini", "name": null, "role": "assistant",
             "content": [{"type": "text", "text": "Bootup sequence complete."}], "tool_call_id": null,
             "tool_calls": [{"id": "call-1", "type": "function",
                             "function": {"name": "send_message", "arguments": "{\"message\": \"Hi\"}"}}],
             "tool_returns": [], "updated_at": ts},
            {"created_at": ts, "group_id": null, "model": "gpt-4o-mini", "name": "send_message", "role": "tool",
             "content": [{"type": "text", "text": "{\"status\": \"OK\", \"message\": null}"}],
             "tool_call_id": "call-1", "tool_calls": [], "tool_returns": [], "updated_at": ts},
            {"created_at": ts, "group_id": null, "model": null, "name": null, "role": "user",
             "content": [{"type": "text", "text": "{\"type\": \"login\"}"}], "tool_call_id": null,
             "tool_calls": [], "tool_returns": [], "updated_at": ts}
        ],
        "metadata_": null,
        "multi_agent_group": null,
        "name": "dice",
        "system": "You are a dice agent.",
        "tags": [{"tag": "games"}],
        "tool_exec_environment_variables": [
            {"created_at": ts, "description": null, "key": "DICE_SEED", "updated_at": ts, "value": ""}
        ],
        "tool_rules": [
            {"tool_name": "roll_dice", "type": "conditional", "default_child": "send_message",
             "child_output_mapping": {"6": "roll_dice"}, "require_output_mapping": false},
            {"tool_name": "send_message", "type": "exit_loop"}
        ],
        "tools": [
            {"args_json_schema": null, "created_at": ts, "description": "Roll a die.",
             "json_schema": {"name": "roll_dice", "description": "Roll a die.",
                 "parameters": {"type": "object", "properties": {"sides": {"type": "integer", "description": "How many sides the die has."}},
                 "required": ["sides"]}, "type": null, "required": []},
             "name": "roll_dice", "return_char_limit": 6000, "source_code": ROLL, "source_type": "python",
             "tags": [], "tool_type": "custom", "updated_at": ts, "metadata_": {}},
            {"args_json_schema": null, "created_at": ts, "description": "Sends a message to the human user.",
             "json_schema": {"name": "send_message", "description": "Sends a message to the human user.",
                 "parameters": {"type": "object", "properties": {"message": {"type": "string", "description": "Message contents."}},
                 "required": ["message"]}, "type": null, "required": []},
             "name": "send_message", "return_char_limit": 1000000, "source_code": null, "source_type": "python",
             "tags": ["letta_core"], "tool_type": "letta_core", "updated_at": ts, "metadata_": {}}
        ],
        "updated_at": "2025-04-02T04:05:00+00:00",
        "version": "0.6.47"
    })
}

both_backends!(imports_a_v1_file, |app: TestApp| async move {
    let (_, core) = app.get("/v1/tools/?name=send_message").await;
    let agent = import(
        &app,
        "?append_copy_suffix=false&project_id=proj-7",
        &v1_file(),
    )
    .await;
    assert_eq!(agent["name"], "dice");
    assert_eq!(agent["project_id"], "proj-7");
    assert_eq!(agent["description"], "A dice agent");
    assert_eq!(agent["created_at"], "2025-04-02T04:01:35.123456");
    assert_eq!(agent["tags"], json!(["games"]));
    assert_eq!(agent["llm_config"]["model"], "gpt-4o-mini");
    assert_eq!(
        agent["tool_exec_environment_variables"][0]["key"],
        "DICE_SEED"
    );
    let persona = agent["memory"]["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["label"] == "persona")
        .unwrap();
    assert_eq!(persona["value"], "I roll dice.");
    assert_eq!(persona["limit"], 2000);
    assert_eq!(persona["name"], "sam");
    // Rules as given, with the default templates stored rules carry.
    let rules = agent["tool_rules"].as_array().unwrap();
    assert_eq!(rules[0]["type"], "conditional");
    assert_eq!(rules[0]["child_output_mapping"], json!({"6": "roll_dice"}));
    assert_eq!(rules[1]["type"], "exit_loop");
    // The custom tool was created from its source; the core tool is the organization's own.
    let roll = agent["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "roll_dice")
        .unwrap();
    assert_eq!(roll["source_code"], ROLL);
    assert_eq!(
        roll["json_schema"]["parameters"]["properties"]["sides"]["type"],
        "integer"
    );
    let send = agent["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "send_message")
        .unwrap();
    assert_eq!(send["id"], core[0]["id"]);
    // The messages in order, in context as the file says.
    let msgs = in_context(&app, &agent).await;
    let roles: Vec<&str> = msgs.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "assistant", "tool", "user"]);
    assert_eq!(msgs[1]["tool_calls"][0]["function"]["name"], "send_message");
    assert_eq!(msgs[2]["tool_call_id"], "call-1");
    assert_eq!(msgs[0]["content"][0]["text"], "You are a dice agent.");
});

/// A v2 file: two agents sharing a block, a custom and a core tool, file-local ids.
pub(crate) fn v2_file() -> Value {
    let llm = v1_file()["llm_config"].clone();
    let emb = v1_file()["embedding_config"].clone();
    let msg = |id: &str, agent: &str, role: &str, text: &str| {
        json!({"type": "message", "id": id, "agent_id": agent, "role": role,
               "content": [{"type": "text", "text": text, "signature": null}], "name": null, "otid": null,
               "sender_id": null, "batch_item_id": null, "group_id": null, "model": "gpt-4o-mini",
               "tool_calls": null, "tool_call_id": null, "tool_returns": [],
               "created_at": "2025-10-10T07:14:29.912336+00:00", "approve": null})
    };
    json!({
        "agents": [
            {"id": "agent-0", "name": "planner", "memory_blocks": [], "tools": [],
             "tool_ids": ["tool-0", "tool-1"], "source_ids": [], "block_ids": ["block-0", "block-1"],
             "tool_rules": [{"tool_name": "send_message", "type": "exit_loop", "prompt_template": null}],
             "tags": ["team"], "system": "You plan.", "agent_type": "memgpt_v2_agent",
             "llm_config": llm, "embedding_config": emb, "include_base_tools": false,
             "description": "plans", "metadata": {"k": "v"},
             "tool_exec_environment_variables": {"TOKEN": ""}, "timezone": "Europe/Paris",
             "message_buffer_autoclear": false, "enable_sleeptime": false,
             "in_context_message_ids": ["message-0", "message-2"],
             "messages": [msg("message-0", "agent-0", "system", "You plan."),
                          msg("message-1", "agent-0", "user", "old"),
                          msg("message-2", "agent-0", "user", "hello")],
             "files_agents": [], "group_ids": []},
            {"id": "agent-1", "name": "doer", "tool_ids": ["tool-1"], "block_ids": ["block-0", "block-2"],
             "tags": [], "system": "You do.", "agent_type": "memgpt_agent",
             "llm_config": llm, "embedding_config": emb,
             "in_context_message_ids": ["message-3"],
             "messages": [msg("message-3", "agent-1", "system", "You do.")]}
        ],
        "groups": [],
        "blocks": [
            {"id": "block-0", "label": "project", "value": "Shared plan", "limit": 4000, "template_name": null,
             "is_template": false, "preserve_on_migration": false, "read_only": false, "description": "shared",
             "metadata": {}},
            {"id": "block-1", "label": "persona", "value": "Planner", "limit": 5000, "metadata": {}},
            {"id": "block-2", "label": "persona", "value": "Doer", "limit": 5000, "metadata": {}}
        ],
        "files": [], "sources": [],
        "tools": [
            {"id": "tool-0", "tool_type": "custom", "name": "roll_dice", "description": null, "source_type": "python",
             "tags": [], "source_code": ROLL, "json_schema": null, "args_json_schema": null,
             "return_char_limit": 6000, "pip_requirements": null, "metadata_": {}},
            {"id": "tool-1", "tool_type": "letta_core", "name": "send_message", "description": "Sends a message.",
             "source_type": "python", "tags": ["letta_core"], "source_code": null,
             "json_schema": {"name": "send_message"}, "return_char_limit": 1000000}
        ],
        "mcp_servers": [],
        "metadata": {"revision_id": "abc123"},
        "created_at": "2025-10-10T07:14:31.000000+00:00"
    })
}

async fn check_v2_import(app: &TestApp, planner: &Value) {
    assert_eq!(planner["name"], "planner_copy");
    assert_eq!(planner["agent_type"], "memgpt_v2_agent");
    assert_eq!(planner["timezone"], "Europe/Paris");
    assert_eq!(planner["metadata"], json!({"k": "v"}));
    let (_, found) = app.get("/v1/agents/?name=doer_copy").await;
    let doer = &found[0];
    let (_, doer) = app.get(&format!("/v1/agents/{}", id_of(doer))).await;
    let block = |a: &Value, label: &str| -> Value {
        a["memory"]["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["label"] == label)
            .unwrap()
            .clone()
    };
    // The shared block is one block attached to both.
    assert_eq!(
        block(planner, "project")["id"],
        block(&doer, "project")["id"]
    );
    assert_eq!(block(planner, "persona")["value"], "Planner");
    assert_eq!(block(&doer, "persona")["value"], "Doer");
    let names = |a: &Value| -> Vec<String> {
        let mut n: Vec<String> = a["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(planner), ["roll_dice", "send_message"]);
    assert_eq!(names(&doer), ["send_message"]);
    let msgs = in_context(app, planner).await;
    let texts: Vec<&str> = msgs
        .iter()
        .map(|m| m["content"][0]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["You plan.", "hello"]);
    assert_eq!(
        planner["tool_exec_environment_variables"][0]["key"],
        "TOKEN"
    );
    assert_eq!(in_context(app, &doer).await.len(), 1);
}

both_backends!(
    imports_a_v2_file_and_its_double_encoded_form,
    |app: TestApp| async move {
        let before = counts(&app).await;
        let planner = import(&app, "", &v2_file()).await;
        check_v2_import(&app, &planner).await;
        let after = counts(&app).await;
        assert_eq!(
            (after.0, after.1, after.2),
            (before.0 + 2, before.1 + 3, before.2 + 1)
        );

        // The same file as JSON text inside a JSON string; the tool now exists and is reused
        // (overwritten in place by the file's custom tool: same id).
        let (_, roll) = app.get("/v1/tools/?name=roll_dice").await;
        let encoded = Value::String(v2_file().to_string());
        for (_, a) in app
            .get("/v1/agents/?limit=100")
            .await
            .1
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (0, a))
        {
            app.delete(&format!("/v1/agents/{}", id_of(a))).await;
        }
        let planner = import(&app, "", &encoded).await;
        check_v2_import(&app, &planner).await;
        let (_, roll_again) = app.get("/v1/tools/?name=roll_dice").await;
        assert_eq!(roll_again[0]["id"], roll[0]["id"]);
    }
);

llm_test!(
    v2_export_round_trip,
    |app: TestApp, _llm: MockLlm| async move {
        let agent = rich_agent(&app).await;
        let config = crate::helpers::test_config();
        let sandbox = letta_rs::sandbox::SharedSandbox::new(
            letta_rs::sandbox::SandboxSettings::from_config(&config),
        );
        let actor = letta_rs::schemas::org::Actor {
            user_id: app.user_id.clone(),
            organization_id: app.org_id.clone(),
        };
        let keys = std::sync::Arc::new(letta_rs::llm::ProviderKeys::from(&config));
        let replica = letta_rs::replica::ReplicaId::for_process(&config);
        let pool =
            letta_rs::mcp::McpPool::new(letta_rs::mcp::pool::McpSettings::from_config(&config));
        let limits = letta_rs::ingest::job::IngestLimits::from_config(&config);
        let file = letta_rs::services::agent_file::AgentFileService::new(
            app.store.as_ref(),
            &sandbox,
            letta_rs::services::mcp_servers::McpServerService::new(&app.store, &pool),
            letta_rs::services::files::FileService::new(&app.store, &keys, &replica, limits),
        )
        .export_v2(&actor, &[id_of(&agent)])
        .await
        .map_err(|e| format!("{e:?}"))
        .unwrap();
        assert_eq!(file["agents"][0]["id"], "agent-0");
        assert!(
            file["tools"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["id"].as_str().unwrap().starts_with("tool-"))
        );
        assert_eq!(file["agents"][0]["in_context_message_ids"][0], "message-0");
        assert_eq!(
            file["agents"][0]["tool_exec_environment_variables"],
            json!({"API_KEY": ""})
        );
        let copy = import(&app, "?append_copy_suffix=false", &file).await;
        assert_eq!(copy["name"], "exporter");
        assert_eq!(agent_view(&copy), agent_view(&agent));
        assert_eq!(
            in_context(&app, &copy).await,
            in_context(&app, &agent).await
        );
    }
);

both_backends!(override_existing_tools_flag, |app: TestApp| async move {
    let original = create_tool(&app, ADD).await;
    let mut file = v1_file();
    file["tools"][0]["name"] = json!("add_numbers");
    file["tools"][0]["source_code"] = json!(ADD_V2);
    file["tools"][0]["json_schema"]["name"] = json!("add_numbers");
    file["tool_rules"] = json!([]);

    // Not overriding: the organization's tool is used as it is.
    let agent = import(&app, "?override_existing_tools=false", &file).await;
    let (_, tool) = app.get(&format!("/v1/tools/{}", id_of(&original))).await;
    assert_eq!(tool["source_code"], ADD);
    assert!(
        agent["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == original["id"])
    );

    // Overriding (the default): the same tool row takes the file's source.
    let agent = import(&app, "", &file).await;
    let (_, tool) = app.get(&format!("/v1/tools/{}", id_of(&original))).await;
    assert_eq!(tool["source_code"], ADD_V2);
    assert_eq!(
        tool["json_schema"]["description"],
        "Add two integers (from the agent file)."
    );
    assert!(
        agent["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == original["id"])
    );

    // Flags may come as form fields too (later clients send them so).
    let (status, agent) = import_raw(
        &app,
        "",
        file.to_string().as_bytes(),
        &[("append_copy_suffix", "false"), ("project_id", "p-form")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{agent}");
    assert_eq!(agent["name"], "dice");
    assert_eq!(agent["project_id"], "p-form");
});

both_backends!(
    strip_messages_keeps_only_the_system_message,
    |app: TestApp| async move {
        let agent = import(&app, "?strip_messages=true", &v1_file()).await;
        let ids = agent["message_ids"].as_array().unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(in_context(&app, &agent).await[0]["role"], "system");
        // The history is still there, out of context.
        assert_eq!(
            app.store
                .count_agent_messages(&id_of(&agent))
                .await
                .unwrap(),
            4
        );

        // A file with no messages at all gets a compiled system message.
        let mut file = v1_file();
        file["messages"] = json!([]);
        file["in_context_message_indices"] = json!([]);
        let agent = import(&app, "", &file).await;
        let msgs = in_context(&app, &agent).await;
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0]["role"], "system");
        assert!(
            msgs[0]["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("I roll dice.")
        );
    }
);

/// Posts `file`, expects `status` with a detail containing `needle`, and nothing written.
async fn refused(app: &TestApp, file: &[u8], status: StatusCode, needle: &str) {
    let before = counts(app).await;
    let (got, body) = import_raw(app, "", file, &[]).await;
    assert_eq!(got, status, "{needle}: {body}");
    let detail = body["detail"].to_string();
    assert!(detail.contains(needle), "{needle:?} not in {detail}");
    assert_eq!(counts(app).await, before, "{needle}: nothing written");
}

both_backends!(
    bad_files_are_refused_and_write_nothing,
    |app: TestApp| async move {
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        refused(
            &app,
            b"{not json",
            StatusCode::BAD_REQUEST,
            "Corrupted agent file format",
        )
        .await;
        refused(
            &app,
            b"\"[1, 2\"",
            StatusCode::BAD_REQUEST,
            "Corrupted agent file format",
        )
        .await;
        refused(&app, b"[1, 2]", unprocessable, "JSON object").await;
        refused(
            &app,
            br#"{"hello": "world"}"#,
            unprocessable,
            "neither a v1",
        )
        .await;

        let bad_v1 = |edit: &dyn Fn(&mut Value)| {
            let mut f = v1_file();
            edit(&mut f);
            f.to_string().into_bytes()
        };
        refused(
            &app,
            &bad_v1(&|f| f["version"] = json!("7.1.0")),
            unprocessable,
            "unknown agent file version",
        )
        .await;
        refused(
            &app,
            &bad_v1(&|f| f["version"] = json!(12)),
            unprocessable,
            "unknown agent file version",
        )
        .await;
        refused(
            &app,
            &bad_v1(&|f| {
                f.as_object_mut().unwrap().remove("system");
            }),
            unprocessable,
            "system",
        )
        .await;
        refused(
            &app,
            &bad_v1(&|f| f["llm_config"] = json!("gpt")),
            unprocessable,
            "llm_config",
        )
        .await;
        refused(
            &app,
            &bad_v1(&|f| f["agent_type"] = json!("robot")),
            unprocessable,
            "agent_type",
        )
        .await;
        refused(
            &app,
            &bad_v1(&|f| f["in_context_message_indices"] = json!([0, 9])),
            unprocessable,
            "in_context_message_indices[1]",
        )
        .await;
        refused(
            &app,
            &bad_v1(&|f| f["messages"][1]["role"] = json!("wizard")),
            unprocessable,
            "messages[1]",
        )
        .await;
        refused(
            &app,
            &bad_v1(&|f| f["messages"][0]["created_at"] = json!("yesterday")),
            unprocessable,
            "messages[0].created_at",
        )
        .await;
        refused(
            &app,
            &bad_v1(&|f| f["tool_rules"][0]["type"] = json!("teleport")),
            unprocessable,
            "tool_rules[0]",
        )
        .await;
        refused(
            &app,
            &bad_v1(&|f| f["core_memory"][1]["label"] = json!("human")),
            unprocessable,
            "two blocks labelled",
        )
        .await;
        refused(
            &app,
            &bad_v1(&|f| f["core_memory"][0]["limit"] = json!(3)),
            unprocessable,
            "over its limit",
        )
        .await;
        refused(
            &app,
            &bad_v1(&|f| f["tools"][0]["tool_type"] = json!("external_mcp")),
            unprocessable,
            "names no MCP server",
        )
        .await;
        // A custom tool whose source does not parse: a 400 naming the tool; the other tool and
        // the agent are not written either.
        refused(
            &app,
            &bad_v1(&|f| f["tools"][0]["source_code"] = json!("def roll_dice(:\n  pass")),
            StatusCode::BAD_REQUEST,
            "roll_dice",
        )
        .await;

        let bad_v2 = |edit: &dyn Fn(&mut Value)| {
            let mut f = v2_file();
            edit(&mut f);
            f.to_string().into_bytes()
        };
        refused(
            &app,
            &bad_v2(&|f| f["agents"][0]["tool_ids"][0] = json!("tool-9")),
            unprocessable,
            "tool-9",
        )
        .await;
        refused(
            &app,
            &bad_v2(&|f| f["agents"][1]["block_ids"][1] = json!("block-7")),
            unprocessable,
            "block-7",
        )
        .await;
        refused(
            &app,
            &bad_v2(&|f| f["agents"][0]["in_context_message_ids"][1] = json!("message-3")),
            unprocessable,
            "message-3",
        )
        .await;
        refused(
            &app,
            &bad_v2(&|f| f["agents"][1]["id"] = json!("agent-0")),
            unprocessable,
            "used twice",
        )
        .await;
        refused(
            &app,
            &bad_v2(&|f| f["agents"] = json!([])),
            unprocessable,
            "no agents",
        )
        .await;
        refused(
            &app,
            &bad_v2(&|f| f["agents"][0]["block_ids"] = json!(["block-1", "block-2"])),
            unprocessable,
            "two blocks labelled",
        )
        .await;
        refused(
            &app,
            &bad_v2(&|f| f["mcp_servers"] = json!([{"id": "mcp_server-0"}])),
            unprocessable,
            "mcp_servers[0]",
        )
        .await;
        refused(
            &app,
            &bad_v2(&|f| f["tools"][0]["source_code"] = json!("def roll_dice(:")),
            StatusCode::BAD_REQUEST,
            "roll_dice",
        )
        .await;

        // No file field at all.
        let resp = app
            .client
            .post(app.url("/v1/agents/import"))
            .header("user_id", &app.user_id)
            .header("content-type", "multipart/form-data; boundary=xyz")
            .body("--xyz\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\n1\r\n--xyz--\r\n")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        // Not multipart.
        let (status, _) = app.post("/v1/agents/import", &v1_file()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        // A bad flag.
        let (status, _) = import_raw(&app, "?strip_messages=maybe", &bad_v1(&|_| {}), &[]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
);

fn bare_agent(org_id: &str, user: &str, name: &str) -> NewAgent {
    let now = letta_rs::schemas::common::now();
    let llm: letta_rs::schemas::llm_config::LlmConfig =
        serde_json::from_value(v1_file()["llm_config"].clone()).unwrap();
    let emb: letta_rs::schemas::llm_config::EmbeddingConfig =
        serde_json::from_value(v1_file()["embedding_config"].clone()).unwrap();
    NewAgent {
        row: AgentRow {
            id: letta_rs::schemas::new_id("agent"),
            organization_id: org_id.to_owned(),
            agent_type: letta_rs::schemas::agent::AgentType::MemgptAgent,
            name: name.to_owned(),
            description: None,
            system: "sys".into(),
            message_ids: Vec::new(),
            response_format: None,
            metadata: None,
            llm_config: llm,
            embedding_config: emb,
            tool_rules: Vec::new(),
            project_id: None,
            template_id: None,
            base_template_id: None,
            message_buffer_autoclear: false,
            enable_sleeptime: None,
            last_run_completion: None,
            last_run_duration_ms: None,
            timezone: None,
            created_by_id: Some(user.to_owned()),
            last_updated_by_id: None,
            created_at: now,
            updated_at: now,
        },
        new_blocks: Vec::new(),
        block_ids: Vec::new(),
        tool_ids: Vec::new(),
        tags: vec!["t".into()],
        identity_ids: Vec::new(),
        env_vars: Vec::new(),
        messages: Vec::new(),
    }
}

store_test!(
    import_bundle_is_one_transaction,
    |store: letta_rs::store::DynStore, org_id: String| async move {
        let tool = letta_rs::schemas::tool::Tool {
            id: letta_rs::schemas::new_id("tool"),
            tool_type: letta_rs::schemas::tool::ToolType::Custom,
            description: None,
            source_type: Some("python".into()),
            organization_id: Some(org_id.clone()),
            name: Some("bundle_tool".into()),
            tags: Vec::new(),
            source_code: Some(ROLL.into()),
            json_schema: None,
            args_json_schema: None,
            return_char_limit: Some(6000),
            pip_requirements: None,
            created_by_id: None,
            last_updated_by_id: None,
            metadata_: None,
        };
        let first = bare_agent(&org_id, "user-x", "first");
        let mut second = bare_agent(&org_id, "user-x", "second");
        // The second agent reuses the first's id: its insert fails after the first is written.
        second.row.id = first.row.id.clone();
        let mut bundle = ImportBundle {
            organization_id: org_id.clone(),
            tools: vec![tool],
            blocks: Vec::new(),
            groups: Vec::new(),
            agents: vec![
                ImportedAgent {
                    agent: first.clone(),
                    tool_names: vec!["bundle_tool".into()],
                    source_ids: Vec::new(),
                    files: Vec::new(),
                },
                ImportedAgent {
                    agent: second,
                    tool_names: Vec::new(),
                    source_ids: Vec::new(),
                    files: Vec::new(),
                },
            ],
            ..ImportBundle::default()
        };
        assert!(store.import_bundle(&bundle).await.is_err());
        assert!(
            store
                .get_agent(&org_id, &first.row.id)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .tools_by_names(&org_id, &["bundle_tool".into()])
                .await
                .unwrap()
                .is_empty()
        );

        // A tool name that resolves to nothing is refused, also without a trace.
        bundle.agents = vec![ImportedAgent {
            agent: first.clone(),
            tool_names: vec!["missing".into()],
            source_ids: Vec::new(),
            files: Vec::new(),
        }];
        assert!(store.import_bundle(&bundle).await.is_err());
        assert!(
            store
                .get_agent(&org_id, &first.row.id)
                .await
                .unwrap()
                .is_none()
        );

        // The good bundle writes the agent linked to the tool by name.
        bundle.agents = vec![ImportedAgent {
            agent: first.clone(),
            tool_names: vec!["bundle_tool".into()],
            source_ids: Vec::new(),
            files: Vec::new(),
        }];
        store.import_bundle(&bundle).await.unwrap();
        let rel = store
            .load_relations(std::slice::from_ref(&first.row.id), RelationSet::ALL)
            .await
            .unwrap()
            .remove(&first.row.id)
            .unwrap();
        assert_eq!(rel.tools.len(), 1);
        assert_eq!(rel.tools[0].name(), "bundle_tool");
        assert_eq!(rel.tags, ["t"]);
    }
);

llm_test!(
    export_of_a_group_member_writes_v2_and_imports_back,
    |app: TestApp, _llm: MockLlm| async move {
        let boss = create_agent(&app, json!({"name": "boss"})).await;
        let worker = create_agent(&app, json!({"name": "worker"})).await;
        let helper = create_agent(&app, json!({"name": "helper"})).await;
        let (status, block) = app
            .post("/v1/blocks/", &json!({"label": "team", "value": "we ship"}))
            .await;
        assert_eq!(status, StatusCode::OK, "{block}");
        let (status, group) = app
            .post(
                "/v1/groups/",
                &json!({"agent_ids": [id_of(&worker), id_of(&helper)], "description": "crew",
                        "shared_block_ids": [id_of(&block)],
                        "manager_config": {"manager_type": "supervisor", "manager_agent_id": id_of(&boss)}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{group}");

        // A participant's export carries the group and every agent in it.
        let (file, _) = export(&app, &id_of(&worker)).await;
        assert!(file.get("version").is_none(), "v2, not v1");
        let names: Vec<&str> = file["agents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["worker", "boss", "helper"]);
        let g = &file["groups"][0];
        assert_eq!(g["id"], "group-0");
        assert_eq!(g["agent_ids"], json!(["agent-0", "agent-2"]));
        assert_eq!(g["manager_config"]["manager_type"], "supervisor");
        assert_eq!(g["manager_config"]["manager_agent_id"], "agent-1");
        assert_eq!(file["agents"][1]["group_ids"], json!(["group-0"]));
        let shared = g["shared_block_ids"][0].as_str().unwrap();
        assert!(
            file["blocks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|b| b["id"] == shared && b["value"] == "we ship")
        );

        // Imported: three new agents and a new group linking them, sharing one new block.
        let (_, before) = app.get("/v1/groups/").await;
        let copy = import(&app, "", &file).await;
        assert_eq!(copy["name"], "worker_copy");
        let (_, after) = app.get("/v1/groups/").await;
        assert_eq!(
            after.as_array().unwrap().len(),
            before.as_array().unwrap().len() + 1
        );
        let new_group = after
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["id"] != group["id"])
            .unwrap();
        assert_eq!(new_group["manager_type"], "supervisor");
        assert_eq!(new_group["description"], "crew");
        assert_eq!(new_group["agent_ids"][0], copy["id"]);
        let (_, boss_copy) = app
            .get(&format!(
                "/v1/agents/{}",
                new_group["manager_agent_id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(boss_copy["name"], "boss_copy");
        assert_eq!(boss_copy["multi_agent_group"]["id"], new_group["id"]);
        let team = |a: &Value| {
            a["memory"]["blocks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["label"] == "team")
                .unwrap()["id"]
                .clone()
        };
        assert_eq!(team(&copy), team(&boss_copy));
        assert_eq!(new_group["shared_block_ids"], json!([team(&copy)]));
        assert_ne!(team(&copy), block["id"]);
        assert_eq!(agent_view(&copy)["tools"], agent_view(&worker)["tools"]);
        assert_eq!(
            in_context(&app, &copy).await,
            in_context(&app, &worker).await
        );

        // The manager's export is v2 as well.
        let (file, _) = export(&app, &id_of(&boss)).await;
        assert_eq!(file["agents"][0]["name"], "boss");
        assert_eq!(file["groups"].as_array().unwrap().len(), 1);
    }
);

both_backends!(bad_groups_are_refused, |app: TestApp| async move {
    let with_group = |group: Value| {
        let mut f = v2_file();
        f["groups"] = json!([group]);
        f.to_string().into_bytes()
    };
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    refused(
        &app,
        &with_group(json!({"id": "group-0", "agent_ids": ["agent-5"]})),
        unprocessable,
        "agent-5",
    )
    .await;
    refused(
        &app,
        &with_group(
            json!({"id": "group-0", "agent_ids": ["agent-0"], "shared_block_ids": ["block-9"]}),
        ),
        unprocessable,
        "block-9",
    )
    .await;
    refused(
        &app,
        &with_group(json!({"id": "group-0", "agent_ids": ["agent-0"],
        "manager_config": {"manager_type": "supervisor"}})),
        unprocessable,
        "manager_agent_id",
    )
    .await;
    refused(
        &app,
        &with_group(json!({"id": "group-0", "agent_ids": ["agent-0"],
        "manager_config": {"manager_type": "swarm"}})),
        unprocessable,
        "manager_type",
    )
    .await;
    refused(
        &app,
        &with_group(json!({"id": "group-0", "agent_ids": ["agent-0", "agent-0"]})),
        unprocessable,
        "twice",
    )
    .await;
    refused(
        &app,
        &with_group(json!({"id": "group-0", "agent_ids": ["agent-0", "agent-1"],
        "manager_config": {"manager_type": "supervisor", "manager_agent_id": "agent-1"}})),
        unprocessable,
        "manager",
    )
    .await;
    refused(
        &app,
        &with_group(json!({"id": "group-0", "agent_ids": ["agent-0"],
        "manager_config": {"manager_type": "round_robin", "max_turns": 0}})),
        unprocessable,
        "max_turns",
    )
    .await;
    refused(
        &app,
        &with_group(json!({"id": "group-0", "agent_ids": ["agent-0", "agent-0"]})),
        unprocessable,
        "twice",
    )
    .await;
    refused(
        &app,
        &with_group(json!({"id": "group-0", "agent_ids": ["agent-0", "agent-1"],
        "manager_config": {"manager_type": "supervisor", "manager_agent_id": "agent-1"}})),
        unprocessable,
        "manager",
    )
    .await;
    refused(
        &app,
        &with_group(json!({"id": "group-0", "agent_ids": ["agent-0"],
        "manager_config": {"manager_type": "round_robin", "max_turns": 0}})),
        unprocessable,
        "max_turns",
    )
    .await;
    let mut f = v2_file();
    f["agents"][0]["group_ids"] = json!(["group-4"]);
    refused(&app, f.to_string().as_bytes(), unprocessable, "group-4").await;

    // A round-robin group of both agents imports.
    let mut f = v2_file();
    f["groups"] = json!([{"id": "group-0", "agent_ids": ["agent-1", "agent-0"], "description": "pair",
                          "manager_config": {"manager_type": "round_robin", "max_turns": 3}}]);
    import(&app, "", &f).await;
    let (_, groups) = app.get("/v1/groups/").await;
    assert_eq!(groups[0]["max_turns"], 3);
    assert_eq!(groups[0]["agent_ids"].as_array().unwrap().len(), 2);
});

llm_test!(
    export_of_an_agent_with_sources_writes_v2,
    |app: TestApp, llm: MockLlm| async move {
        let source = id_of(&crate::sources::create_source(&app, "handbook", &llm.base_url()).await);
        let (status, file) =
            crate::sources::upload(&app, &source, "rules.md", None, b"# Rules\nBe kind.\n").await;
        assert_eq!(status, StatusCode::OK, "{file}");
        let done = crate::sources::wait_for_file(&app, &source, &id_of(&file)).await;
        assert_eq!(done["processing_status"], "completed", "{done}");
        let agent = create_agent(&app, json!({"name": "reader"})).await;
        let (status, body) = app
            .patch(
                &format!("/v1/agents/{}/sources/attach/{source}", id_of(&agent)),
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");

        let (file, _) = export(&app, &id_of(&agent)).await;
        assert!(file.get("version").is_none(), "v2, not v1");
        assert_eq!(file["sources"][0]["id"], "source-0");
        assert_eq!(file["sources"][0]["name"], "handbook");
        assert_eq!(file["files"][0]["id"], "file-0");
        assert_eq!(file["files"][0]["source_id"], "source-0");
        assert_eq!(file["files"][0]["file_name"], "rules.md");
        assert_eq!(file["files"][0]["content"], "# Rules\nBe kind.\n");
        let a = &file["agents"][0];
        assert_eq!(a["source_ids"], json!(["source-0"]));
        assert_eq!(a["files_agents"][0]["file_id"], "file-0");
        assert_eq!(a["files_agents"][0]["agent_id"], "agent-0");
        assert!(
            file["tools"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["name"] == "open_files")
        );

        // The import side is in `agent_file_sources.rs`.
    }
);
