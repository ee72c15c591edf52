//! Agent files with sources, files, agents' open files and MCP servers (v2): an exported
//! agent's sources and files imported back (new ids, clashing names suffixed, files ingested
//! anew, open files restored), a hand-written file with all of them, MCP servers written
//! without their secrets and updated by name on import, the v2 agent fields (identities,
//! base tools, response format, message groups), and every dangling reference refused with
//! nothing written.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::agent_files::{export, import, import_raw, v1_file, v2_file};
use crate::helpers::{TestApp, create_agent, id_of};
use crate::mcp::{HttpServer, add_server, add_tools, call, returns, say, send, server_bin};
use crate::mock_llm::MockLlm;
use crate::sources::{create_source, embedding_config, upload, wait_for_file};
use crate::{both_backends, llm_test};

/// What an organization holds of everything an agent file may write.
#[derive(Debug, PartialEq)]
struct Counts {
    agents: usize,
    blocks: usize,
    tools: usize,
    sources: usize,
    files: usize,
    mcp_servers: usize,
    identities: usize,
}

async fn counts(app: &TestApp) -> Counts {
    // Listing seeds the built-in tools (as an import does), so they are never the difference.
    app.get("/v1/tools/?limit=1").await;
    let (_, agents) = app.get("/v1/agents/?limit=1000").await;
    let (_, blocks) = app.get("/v1/blocks/?limit=1000").await;
    let (_, identities) = app.get("/v1/identities/?limit=1000").await;
    let store = &app.store;
    let sources = store.list_sources(&app.org_id).await.unwrap();
    let mut files = 0;
    for s in &sources {
        files += store
            .list_files(&app.org_id, &s.id, None, None, false)
            .await
            .unwrap()
            .len();
    }
    Counts {
        agents: agents.as_array().unwrap().len(),
        blocks: blocks.as_array().unwrap().len(),
        tools: store
            .list_tools(&app.org_id, None, None, None)
            .await
            .unwrap()
            .len(),
        sources: sources.len(),
        files,
        mcp_servers: store.list_mcp_servers(&app.org_id).await.unwrap().len(),
        identities: identities.as_array().unwrap().len(),
    }
}

/// Posts `file`, expects `status` with a detail containing `needle`, and nothing written.
async fn refused(app: &TestApp, file: &Value, status: StatusCode, needle: &str) {
    let before = counts(app).await;
    let (got, body) = import_raw(app, "", file.to_string().as_bytes(), &[]).await;
    assert_eq!(got, status, "{needle}: {body}");
    let detail = body["detail"].to_string();
    assert!(detail.contains(needle), "{needle:?} not in {detail}");
    assert_eq!(counts(app).await, before, "{needle}: nothing written");
}

/// The agent's files in context by bare file name: (open, visible content, last access).
async fn file_views(app: &TestApp, agent_id: &str) -> BTreeMap<String, Value> {
    app.store
        .file_agents_of(&[agent_id.to_owned()])
        .await
        .unwrap()
        .remove(agent_id)
        .unwrap_or_default()
        .into_iter()
        .map(|fa| {
            let bare = fa.file_name.split_once('/').unwrap().1.to_owned();
            let view = json!([
                fa.is_open,
                fa.visible_content,
                fa.last_accessed_at.to_rfc3339()
            ]);
            (bare, view)
        })
        .collect()
}

/// The source passages nearest to `query` (the mock's embedding of it).
async fn search(app: &TestApp, source_id: &str, query: &str) -> Vec<String> {
    let vector = MockLlm::embedding_for(query, 1536);
    app.store
        .search_source_passages(&app.org_id, &[source_id.to_owned()], &vector, 3)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.passage.text)
        .collect()
}

fn tool_names(agent: &Value) -> Vec<String> {
    let mut names: Vec<String> = agent["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

async fn agent_sources(app: &TestApp, agent_id: &str) -> Vec<Value> {
    let (status, sources) = app.get(&format!("/v1/agents/{agent_id}/sources")).await;
    assert_eq!(status, StatusCode::OK, "{sources}");
    sources.as_array().unwrap().clone()
}

async fn files_of(app: &TestApp, source_id: &str) -> Vec<Value> {
    let (status, files) = app.get(&format!("/v1/sources/{source_id}/files")).await;
    assert_eq!(status, StatusCode::OK, "{files}");
    files.as_array().unwrap().clone()
}

llm_test!(
    an_agent_with_sources_and_open_files_round_trips,
    |app: TestApp, llm: MockLlm| async move {
        let source = id_of(&create_source(&app, "handbook", &llm.base_url()).await);
        let mut texts = vec![(
            "rules.md".to_owned(),
            "# Rules\nThe zeppelin crew is always kind.\n".to_owned(),
        )];
        for i in 1..=5 {
            texts.push((
                format!("note{i}.txt"),
                format!("Note number {i} about lighthouses."),
            ));
        }
        for (name, text) in &texts {
            let (status, file) = upload(&app, &source, name, None, text.as_bytes()).await;
            assert_eq!(status, StatusCode::OK, "{file}");
            let done = wait_for_file(&app, &source, &id_of(&file)).await;
            assert_eq!(done["processing_status"], "completed", "{done}");
        }
        let agent = create_agent(&app, json!({"name": "reader"})).await;
        let (status, body) = app
            .patch(
                &format!("/v1/agents/{}/sources/attach/{source}", id_of(&agent)),
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let before = file_views(&app, &id_of(&agent)).await;
        let open = before.values().filter(|v| v[0] == true).count();
        assert_eq!((before.len(), open), (6, 5), "five of six open: {before:?}");

        let (file, _) = export(&app, &id_of(&agent)).await;
        assert_eq!(file["files"].as_array().unwrap().len(), 6);
        let copy = import(&app, "", &file).await;
        let copy_id = id_of(&copy);
        assert_eq!(copy["name"], "reader_copy");

        // A new source; its name clashed with the original's, so it got a suffix.
        let sources = agent_sources(&app, &copy_id).await;
        assert_eq!(sources.len(), 1);
        let new_source = id_of(&sources[0]);
        assert_ne!(new_source, source);
        let name = sources[0]["name"].as_str().unwrap();
        let suffix = name.strip_prefix("handbook_").expect(name);
        assert!(
            suffix.len() == 8 && suffix.chars().all(|c| c.is_ascii_hexdigit()),
            "{name}"
        );
        assert_eq!(sources[0]["instructions"], "Read them.");

        // New files of the same names, ingested anew into searchable passages.
        let files = files_of(&app, &new_source).await;
        let mut names: Vec<&str> = files
            .iter()
            .map(|f| f["file_name"].as_str().unwrap())
            .collect();
        names.sort();
        let mut expected: Vec<&str> = texts.iter().map(|(n, _)| n.as_str()).collect();
        expected.sort();
        assert_eq!(names, expected);
        for f in &files {
            let done = wait_for_file(&app, &new_source, &id_of(f)).await;
            assert_eq!(done["processing_status"], "completed", "{done}");
            assert_eq!(done["total_chunks"], done["chunks_embedded"], "{done}");
        }
        let hits = search(&app, &new_source, "zeppelin crew kind").await;
        assert!(hits[0].contains("zeppelin"), "{hits:?}");
        // The original's passages are untouched and separate.
        let old_hits = search(&app, &source, "zeppelin crew kind").await;
        assert_eq!(old_hits.len(), 3);

        // The agent's file blocks are as they were: open state, view, last access.
        assert_eq!(file_views(&app, &copy_id).await, before);
        for tool in ["open_files", "grep_files", "semantic_search_files"] {
            assert!(tool_names(&copy).contains(&tool.to_owned()), "{tool}");
        }

        // With the original source gone, the same file imports under the plain name.
        let (status, _) = app.delete(&format!("/v1/sources/{source}")).await;
        assert_eq!(status, StatusCode::OK);
        let again = import(&app, "", &file).await;
        assert_eq!(
            agent_sources(&app, &id_of(&again)).await[0]["name"],
            "handbook"
        );
    }
);

/// A hand-written v2 file: one agent reading a source of two files (one without text) with
/// an MCP server (the stdio test server running `command`) and one of its tools.
fn library_file(agent: &Value, source_embedding: Value, command: &str) -> Value {
    json!({
        "agents": [{
            "id": "agent-0", "name": "librarian", "agent_type": "memgpt_agent",
            "system": "You keep books.",
            "llm_config": agent["llm_config"], "embedding_config": agent["embedding_config"],
            "tool_ids": ["tool-0"], "source_ids": ["source-0"], "block_ids": [],
            "include_base_tools": true,
            "files_agents": [
                {"id": "file_agent-0", "agent_id": "agent-0", "file_id": "file-0",
                 "source_id": "source-0", "file_name": "elsewhere/zeppelins.md", "is_open": true,
                 "visible_content": null, "last_accessed_at": "2025-10-10T07:14:29+00:00"},
                {"id": "file_agent-1", "agent_id": "agent-0", "file_id": "file-1",
                 "source_id": "source-0", "is_open": false}
            ],
            "messages": [], "in_context_message_ids": [], "group_ids": []
        }],
        "groups": [], "blocks": [],
        "sources": [{"id": "source-0", "name": "library", "description": "Books",
                     "instructions": "Cite them.", "metadata": {"shelf": 3},
                     "embedding_config": source_embedding}],
        "files": [
            {"id": "file-0", "source_id": "source-0", "file_name": "zeppelins.md",
             "file_type": "text/markdown", "processing_status": "completed",
             "content": "# Zeppelins\nThe zeppelin hangar stands in Friedrichshafen.\n"},
            {"id": "file-1", "source_id": "source-0", "file_name": "empty.txt", "content": null}
        ],
        "tools": [{
            "id": "tool-0", "name": "echo", "tool_type": "external_mcp",
            "description": "Answers the text it is given.", "source_type": "python",
            "tags": ["mcp:kit"],
            "json_schema": {"name": "echo", "description": "Answers the text it is given.",
                "parameters": {"type": "object",
                    "properties": {"text": {"type": "string"}, "request_heartbeat": {"type": "boolean"}},
                    "required": ["text", "request_heartbeat"]}},
            "return_char_limit": 6000, "metadata_": {"mcp": {"server_name": "kit", "server_id": "mcp_server-0"}}
        }],
        "mcp_servers": [{
            "id": "mcp_server-0", "server_type": "stdio", "server_name": "kit", "server_url": null,
            "stdio_config": {"server_name": "kit", "type": "stdio", "command": command, "args": []},
            "metadata_": null
        }],
        "metadata": {}
    })
}

llm_test!(
    a_hand_written_file_with_sources_files_and_an_mcp_server_imports,
    |app: TestApp, llm: MockLlm| async move {
        let template = create_agent(&app, json!({"name": "template"})).await;
        let (status, identity) = app
            .post(
                "/v1/identities/",
                &json!({"identifier_key": "ada", "name": "Ada", "identity_type": "user"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{identity}");
        let bin = server_bin().to_string_lossy().into_owned();
        let mut file = library_file(&template, embedding_config(&llm.base_url()), &bin);
        file["agents"][0]["identity_ids"] = json!([id_of(&identity), "identity-of-another-server"]);
        file["agents"][0]["response_format"] = json!({"type": "json_object"});

        let agent = import(&app, "", &file).await;
        let agent_id = id_of(&agent);
        assert_eq!(agent["name"], "librarian_copy");
        // Only the importing organization's identity is kept.
        assert_eq!(agent["identity_ids"], json!([id_of(&identity)]));
        assert_eq!(agent["response_format"], json!({"type": "json_object"}));
        // The file's tool, the base tools (include_base_tools) and the file tools.
        assert_eq!(
            tool_names(&agent),
            [
                "conversation_search",
                "core_memory_append",
                "core_memory_replace",
                "echo",
                "grep_files",
                "open_files",
                "semantic_search_files",
                "send_message"
            ]
        );
        let echo = agent["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "echo")
            .unwrap();
        assert_eq!(echo["tool_type"], "external_mcp");
        assert_eq!(echo["tags"], json!(["mcp:kit"]));
        assert_eq!(echo["metadata_"]["mcp"]["server_name"], "kit");
        let (_, servers) = app.get("/v1/tools/mcp/servers").await;
        assert_eq!(servers["kit"]["command"], bin.as_str(), "{servers}");

        // The source under its own name, its files ingested (or failed for want of text).
        let sources = agent_sources(&app, &agent_id).await;
        assert_eq!(sources[0]["name"], "library");
        assert_eq!(sources[0]["metadata"], json!({"shelf": 3}));
        let source = id_of(&sources[0]);
        let files = files_of(&app, &source).await;
        let by_name = |n: &str| files.iter().find(|f| f["file_name"] == n).unwrap().clone();
        let zeppelins = wait_for_file(&app, &source, &id_of(&by_name("zeppelins.md"))).await;
        assert_eq!(zeppelins["processing_status"], "completed", "{zeppelins}");
        let empty = by_name("empty.txt");
        assert_eq!(empty["processing_status"], "error", "{empty}");
        assert!(
            empty["error_message"].as_str().unwrap().contains("no text"),
            "{empty}"
        );
        let hits = search(&app, &source, "zeppelin hangar").await;
        assert!(hits[0].contains("Friedrichshafen"), "{hits:?}");

        // The open file shows its text (computed, the file gave none), the closed one nothing.
        let views = file_views(&app, &agent_id).await;
        assert_eq!(views["zeppelins.md"][0], true);
        assert!(
            views["zeppelins.md"][1]
                .as_str()
                .unwrap()
                .contains("Friedrichshafen"),
            "{views:?}"
        );
        assert_eq!(views["zeppelins.md"][2], "2025-10-10T07:14:29+00:00");
        assert_eq!(
            views["empty.txt"],
            json!([false, null, views["empty.txt"][2]])
        );
        // The compiled system prompt lists the source and its open file.
        let system_id = agent["message_ids"][0].as_str().unwrap().to_owned();
        let system = app
            .store
            .get_messages(&app.org_id, &[system_id])
            .await
            .unwrap()
            .remove(0);
        let text = system.text().unwrap_or_default();
        assert!(
            text.contains("library") && text.contains("Friedrichshafen"),
            "{text}"
        );

        // The imported MCP tool works through the imported server.
        llm.push(call("echo", json!({"text": "from the file"})));
        llm.push(say("done"));
        let body = send(&app, &agent_id, "go").await;
        assert_eq!(returns(&body)[0]["tool_return"], "from the file", "{body}");
    }
);

both_backends!(
    dangling_references_are_refused_and_write_nothing,
    |app: TestApp| async move {
        let agent = v1_file();
        let base = library_file(&agent, agent["embedding_config"].clone(), "/bin/true");
        let bad = |edit: &dyn Fn(&mut Value)| {
            let mut f = base.clone();
            edit(&mut f);
            f
        };
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        let cases: Vec<(Value, &str)> = vec![
            (
                bad(&|f| f["files"][0]["source_id"] = json!("source-9")),
                "source-9",
            ),
            (
                bad(&|f| f["agents"][0]["source_ids"] = json!(["source-7"])),
                "source-7",
            ),
            (
                bad(&|f| f["agents"][0]["files_agents"][0]["file_id"] = json!("file-8")),
                "file-8",
            ),
            (
                bad(&|f| f["agents"][0]["files_agents"][0]["source_id"] = json!("source-3")),
                "not the file's source",
            ),
            (
                bad(&|f| f["agents"][0]["files_agents"][1]["file_id"] = json!("file-0")),
                "twice",
            ),
            (
                bad(&|f| f["agents"][0]["files_agents"][0]["agent_id"] = json!("agent-5")),
                "agent-5",
            ),
            (
                bad(&|f| f["files"][1]["id"] = json!("file-0")),
                "used twice",
            ),
            (bad(&|f| f["sources"][0]["name"] = json!("a/b")), "'/'"),
            (
                bad(&|f| {
                    f["tools"][0]["tags"] = json!(["mcp:nowhere"]);
                    f["tools"][0]["metadata_"] = Value::Null;
                }),
                "nowhere",
            ),
            (
                bad(&|f| {
                    f["tools"][0]["tags"] = json!([]);
                    f["tools"][0]["metadata_"] = Value::Null;
                }),
                "names no MCP server",
            ),
            (
                bad(&|f| f["mcp_servers"][0]["server_type"] = json!("carrier_pigeon")),
                "carrier_pigeon",
            ),
            (
                bad(&|f| f["mcp_servers"][0]["stdio_config"] = Value::Null),
                "no stdio_config",
            ),
            (
                bad(&|f| f["mcp_servers"][0]["stdio_config"]["command"] = json!(" ")),
                "command cannot be empty",
            ),
            (
                bad(&|f| {
                    f["mcp_servers"][0]["server_type"] = json!("streamable_http");
                    f["mcp_servers"][0]["server_url"] = json!("ftp://x");
                }),
                "server_url",
            ),
        ];
        for (file, needle) in &cases {
            refused(&app, file, unprocessable, needle).await;
        }
        // A tool that fails late (its source does not parse) leaves no server, source or file.
        let late = bad(&|f| {
            f["tools"].as_array_mut().unwrap().push(json!({
                "id": "tool-1", "name": "broken", "tool_type": "custom",
                "source_code": "def broken(:\n  pass"}));
            f["agents"][0]["tool_ids"] = json!(["tool-0", "tool-1"]);
        });
        refused(&app, &late, StatusCode::BAD_REQUEST, "broken").await;
    }
);

llm_test!(
    stdio_servers_are_refused_while_disabled,
    config = |cfg: &mut letta_rs::config::Config| cfg.mcp_disable_stdio = true,
    |app: TestApp, llm: MockLlm| async move {
        let agent = v1_file();
        let file = library_file(&agent, embedding_config(&llm.base_url()), "/bin/true");
        refused(&app, &file, StatusCode::BAD_REQUEST, "MCP_DISABLE_STDIO").await;
    }
);

llm_test!(
    mcp_servers_are_exported_without_secrets_and_updated_by_name,
    |app: TestApp, llm: MockLlm| async move {
        let bin = server_bin().to_string_lossy().into_owned();
        add_server(
            &app,
            &json!({"server_name": "kit", "type": "stdio", "command": bin, "args": [],
                    "env": {"GREETING": "env-SECRET-1"}}),
        )
        .await;
        let http = HttpServer::start("--http", "127.0.0.1:0").await;
        add_server(
            &app,
            &json!({"server_name": "remote", "type": "streamable_http", "server_url": http.url,
                    "auth_token": "tok-SECRET-2", "custom_headers": {"X-Extra": "hdr-SECRET-3"}}),
        )
        .await;
        let mut ids = add_tools(&app, "kit", &["echo", "env"]).await;
        ids.extend(add_tools(&app, "remote", &["add"]).await);
        let agent = create_agent(&app, json!({"name": "mcp_user", "tool_ids": ids})).await;

        // v2 (v1 has no place for servers), with the two servers and nothing secret.
        let (file, text) = export(&app, &id_of(&agent)).await;
        assert!(file.get("version").is_none(), "v2, not v1");
        for secret in ["SECRET", "GREETING", "X-Extra", "Bearer"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        let servers = file["mcp_servers"].as_array().unwrap();
        let mut local: Vec<&str> = servers.iter().map(|s| s["id"].as_str().unwrap()).collect();
        local.sort();
        assert_eq!(local, ["mcp_server-0", "mcp_server-1"]);
        let kit = servers.iter().find(|s| s["server_name"] == "kit").unwrap();
        assert_eq!(kit["server_type"], "stdio");
        assert_eq!(
            kit["stdio_config"],
            json!({"server_name": "kit", "type": "stdio", "command": bin, "args": []})
        );
        let remote = servers
            .iter()
            .find(|s| s["server_name"] == "remote")
            .unwrap();
        assert_eq!(remote["server_type"], "streamable_http");
        assert_eq!(remote["server_url"], http.url.as_str());
        assert_eq!(remote["stdio_config"], Value::Null);
        for s in servers {
            let keys: Vec<&String> = s.as_object().unwrap().keys().collect();
            assert!(
                keys.iter().all(|k| [
                    "id",
                    "server_type",
                    "server_name",
                    "server_url",
                    "stdio_config",
                    "metadata_"
                ]
                .contains(&k.as_str())),
                "{s}"
            );
        }
        let echo = file["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "echo")
            .unwrap();
        assert_eq!(echo["tool_type"], "external_mcp");
        assert_eq!(echo["tags"], json!(["mcp:kit"]));

        // Importing it back updates the servers by name: the same servers, secrets kept.
        let before = app.store.list_mcp_servers(&app.org_id).await.unwrap();
        let copy = import(&app, "", &file).await;
        let after = app.store.list_mcp_servers(&app.org_id).await.unwrap();
        let ids = |s: &[letta_rs::schemas::mcp::McpServer]| {
            s.iter().map(|s| s.id.clone()).collect::<Vec<_>>()
        };
        assert_eq!(ids(&after), ids(&before));
        let (_, shown) = app.get("/v1/tools/mcp/servers").await;
        assert_eq!(shown["kit"]["env"]["GREETING"], "env-SECRET-1", "{shown}");
        assert!(
            shown["remote"]["auth_token"]
                .as_str()
                .unwrap()
                .contains("tok-SECRET-2"),
            "{shown}"
        );
        assert_eq!(shown["remote"]["custom_headers"]["X-Extra"], "hdr-SECRET-3");
        assert_eq!(tool_names(&copy), tool_names(&agent));

        // The copy calls both servers' tools; the stdio server still has its environment.
        llm.push(call("env", json!({"name": "GREETING"})));
        llm.push(call("add", json!({"a": 2, "b": 3})));
        llm.push(say("done"));
        let body = send(&app, &id_of(&copy), "go").await;
        let r = returns(&body);
        assert_eq!(r[0]["tool_return"], "env-SECRET-1", "{body}");
        assert_eq!(r[1]["tool_return"], "5", "{body}");
        http.stop().await;
    }
);

both_backends!(
    message_groups_are_remapped_to_the_new_groups,
    |app: TestApp| async move {
        let mut f = v2_file();
        f["groups"] = json!([{"id": "group-0", "agent_ids": ["agent-0", "agent-1"],
                              "description": "pair",
                              "manager_config": {"manager_type": "round_robin"}}]);
        f["agents"][0]["messages"][1]["group_id"] = json!("group-0");
        f["agents"][0]["messages"][2]["group_id"] = json!("group-of-another-server");
        let planner = import(&app, "", &f).await;
        let (_, groups) = app.get("/v1/groups/").await;
        let group_id = id_of(&groups[0]);
        let messages = app
            .store
            .list_agent_messages(&id_of(&planner), &letta_rs::store::MessageFilter::default())
            .await
            .unwrap();
        let group_of = |text: &str| {
            messages
                .iter()
                .find(|m| m.text() == Some(text))
                .unwrap()
                .group_id
                .clone()
        };
        assert_eq!(group_of("old"), Some(group_id));
        assert_eq!(group_of("hello"), None);
    }
);
