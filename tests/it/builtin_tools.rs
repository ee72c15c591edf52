//! The base tools beyond memory and messages, through the loop: the voice sleeptime tools,
//! `web_search` (against a local stand-in for Firecrawl), and the kinds not served yet.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, create_agent};
use crate::llm_test;
use crate::mock_llm::{MockLlm, MockReply};

fn call(name: &str, mut args: Value) -> MockReply {
    args["request_heartbeat"] = json!(true);
    MockReply::tool_call(name, args)
}

fn say(text: &str) -> MockReply {
    MockReply::tool_call("send_message", json!({"message": text}))
}

async fn send(app: &TestApp, agent_id: &str, text: &str) -> Value {
    let (status, body) = app
        .post(
            &format!("/v1/agents/{agent_id}/messages"),
            &json!({"messages": [{"role": "user", "content": text}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The tool returns of a response, as (status, text).
fn returns(body: &Value) -> Vec<(String, String)> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["message_type"] == "tool_return_message")
        .map(|m| {
            (
                m["status"].as_str().unwrap().to_owned(),
                m["tool_return"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

llm_test!(
    every_base_tool_is_listed,
    |app: TestApp, _llm: MockLlm| async move {
        let (status, tools) = app.get("/v1/tools/?limit=100").await;
        assert_eq!(status, StatusCode::OK);
        let names: Vec<&str> = tools
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        for (name, tool_type) in [
            ("store_memories", "letta_voice_sleeptime_core"),
            ("rethink_user_memory", "letta_voice_sleeptime_core"),
            ("finish_rethinking_memory", "letta_voice_sleeptime_core"),
            ("search_memory", "letta_voice_sleeptime_core"),
            ("run_code", "letta_builtin"),
            ("web_search", "letta_builtin"),
            ("open_files", "letta_files_core"),
            ("grep_files", "letta_files_core"),
            ("semantic_search_files", "letta_files_core"),
        ] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
            let (_, found) = app.get(&format!("/v1/tools/?name={name}")).await;
            assert_eq!(found[0]["tool_type"], tool_type, "{name}");
        }
        let (_, run_code) = app.get("/v1/tools/?name=run_code").await;
        assert_eq!(
            run_code[0]["json_schema"]["parameters"]["properties"]["language"]["enum"],
            json!(["python", "js", "ts", "r", "java"])
        );
        let (_, web) = app.get("/v1/tools/?name=web_search").await;
        assert_eq!(
            web[0]["json_schema"]["parameters"]["properties"]["tasks"]["items"]["required"],
            json!(["query", "question"])
        );
    }
);

llm_test!(
    voice_sleeptime_tools_edit_archive_and_search,
    |app: TestApp, llm: MockLlm| async move {
        let agent = create_agent(
        &app,
        json!({"tools": ["rethink_user_memory", "finish_rethinking_memory", "store_memories", "search_memory"]}),
    )
    .await;
        let id = agent["id"].as_str().unwrap();
        llm.push(call(
            "rethink_user_memory",
            json!({"new_memory": "Name: Ada\nLikes: tea"}),
        ));
        llm.push(call(
        "store_memories",
        json!({"chunks": [{"start_index": 0, "end_index": 0, "context": "The first thing said."}]}),
    ));
        llm.push(call(
            "search_memory",
            json!({"convo_keyword_queries": ["lighthouse"]}),
        ));
        llm.push(call(
            "store_memories",
            json!({"chunks": [{"start_index": 5, "end_index": 900, "context": "x"}]}),
        ));
        llm.push(call("finish_rethinking_memory", json!({})));
        llm.push(say("done"));
        let body = send(&app, id, "tell me about the lighthouse").await;
        let returns = returns(&body);
        assert_eq!(returns.len(), 5, "{body}");
        assert_eq!(returns[0], ("success".to_owned(), "None".to_owned()));
        assert_eq!(returns[1], ("success".to_owned(), "None".to_owned()));
        assert_eq!(returns[2].0, "success");
        assert!(returns[2].1.contains("lighthouse"), "{}", returns[2].1);
        assert_eq!(returns[3].0, "error");
        assert!(returns[3].1.contains("end_index 900"), "{}", returns[3].1);
        assert_eq!(returns[4].0, "success");

        let (_, human) = app
            .get(&format!("/v1/agents/{id}/core-memory/blocks/human"))
            .await;
        assert_eq!(human["value"], "Name: Ada\nLikes: tea");
        let (_, passages) = app.get(&format!("/v1/agents/{id}/archival-memory")).await;
        let passages = passages.as_array().unwrap();
        assert_eq!(passages.len(), 1, "{passages:?}");
        let text = passages[0]["text"].as_str().unwrap();
        assert!(
            text.starts_with("The first thing said.\n\nTranscript:\n"),
            "{text}"
        );
    }
);

llm_test!(
    file_and_multi_agent_tools_answer_what_they_cannot_do,
    |app: TestApp, llm: MockLlm| async move {
        let agent = create_agent(
            &app,
            json!({"tools": ["grep_files"], "include_multi_agent_tools": true}),
        )
        .await;
        let id = agent["id"].as_str().unwrap();
        llm.push(call("grep_files", json!({"pattern": "x"})));
        llm.push(call(
            "send_message_to_agent_and_wait_for_reply",
            json!({"message": "hi", "other_agent_id": id}),
        ));
        llm.push(say("ok"));
        let body = send(&app, id, "go").await;
        let returns = returns(&body);
        assert_eq!(returns.len(), 2, "{body}");
        // The file tools are served (tests/it/file_tools.rs): with no source attached there is
        // nothing to search.
        assert_eq!(
            returns[0],
            (
                "success".to_owned(),
                "No files are currently attached to search".to_owned()
            )
        );
        // The multi-agent tools are served (tests/it/multi_agent_tools.rs): an agent waiting on
        // its own reply is refused instead of deadlocking.
        let (status, text) = &returns[1];
        assert_eq!(status, "error");
        assert!(text.contains("cannot send a message to itself"), "{text}");
    }
);

/// What the stand-in for Firecrawl saw: the bearer key and the body of each search.
type Seen = Arc<Mutex<Vec<(String, Value)>>>;

async fn fake_firecrawl() -> (String, Seen) {
    async fn search(
        State(seen): State<Seen>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> Json<Value> {
        let key = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let query = body["query"].as_str().unwrap_or_default().to_owned();
        seen.lock().unwrap().push((key, body));
        Json(json!({"success": true, "data": [
            {"url": "https://example.org/a", "title": format!("About {query}"), "description": "A page.", "markdown": "# Page"}
        ]}))
    }
    let seen: Seen = Arc::default();
    let router = axum::Router::new()
        .route("/v1/search", axum::routing::post(search))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_search_needs_a_key_and_uses_the_agents_own() {
    let (firecrawl, seen) = fake_firecrawl().await;
    let (app, llm) = TestApp::spawn_with_llm(Backend::Sqlite, |cfg| {
        cfg.firecrawl_api_base = firecrawl;
    })
    .await;
    let bare = create_agent(&app, json!({"tools": ["web_search"]})).await;
    let task = json!({"tasks": [{"query": "rust", "question": "what is it?"}]});
    llm.push(call("web_search", task.clone()));
    llm.push(say("ok"));
    let body = send(&app, bare["id"].as_str().unwrap(), "search").await;
    let r = returns(&body);
    assert_eq!(r[0].0, "error");
    assert!(r[0].1.contains("FIRECRAWL_API_KEY"), "{}", r[0].1);
    assert!(seen.lock().unwrap().is_empty());

    let keyed = create_agent(
        &app,
        json!({"tools": ["web_search"], "tool_exec_environment_variables": {"FIRECRAWL_API_KEY": "fc-agent"}}),
    )
    .await;
    let mut raw = task.clone();
    raw["return_raw"] = json!(true);
    llm.push(call("web_search", raw));
    llm.push(say("ok"));
    let body = send(&app, keyed["id"].as_str().unwrap(), "search").await;
    let r = returns(&body);
    assert_eq!(r[0].0, "success", "{}", r[0].1);
    let result: Value = serde_json::from_str(&r[0].1).unwrap();
    assert_eq!(result["api_key_source"], "agent_environment");
    assert_eq!(result["results"]["rust"]["question"], "what is it?");
    assert_eq!(
        result["results"]["rust"]["sources"][0]["url"],
        "https://example.org/a"
    );
    assert_eq!(result["results"]["rust"]["sources"][0]["content"], "# Page");
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].0, "Bearer fc-agent");
    assert_eq!(seen[0].1["query"], "rust");
    assert_eq!(seen[0].1["limit"], 3);
}
