//! User-defined Python tools through the agent loop, with a real interpreter: returns,
//! failures, truncation, `agent_state` memory edits, the tool environment (and what never
//! reaches it), timeouts, concurrent agents, and `run_code`.

use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use letta_rs::schemas::tool::{Tool, ToolType};
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

/// The tool return messages of a response.
fn returns(body: &Value) -> Vec<Value> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["message_type"] == "tool_return_message")
        .cloned()
        .collect()
}

/// Stores a custom tool of the test organization; `props` are its parameters' schemas.
async fn custom_tool(
    app: &TestApp,
    name: &str,
    source: &str,
    props: Value,
    return_char_limit: Option<i64>,
) -> String {
    let tool = Tool {
        id: format!("tool-{}", uuid::Uuid::new_v4()),
        tool_type: ToolType::Custom,
        description: Some(format!("The {name} test tool.")),
        source_type: Some("python".into()),
        organization_id: Some(app.org_id.clone()),
        name: Some(name.into()),
        tags: vec![],
        source_code: Some(source.into()),
        json_schema: Some(json!({
            "name": name,
            "description": format!("The {name} test tool."),
            "parameters": {"type": "object", "properties": props, "required": []},
        })),
        args_json_schema: None,
        return_char_limit,
        pip_requirements: None,
        created_by_id: None,
        last_updated_by_id: None,
        metadata_: None,
    };
    let stored = app.store.upsert_tools_by_name(&[tool]).await.unwrap();
    stored[0].id.clone()
}

const ADD: &str = "def add(a: int, b: int):\n    \"\"\"Adds.\"\"\"\n    print('adding', a, b)\n    return a + b\n";
const DIVIDE: &str = "def divide(a: int, b: int):\n    \"\"\"Divides.\"\"\"\n    return a / b\n";
const LONG: &str = "def long_text():\n    \"\"\"Long.\"\"\"\n    return 'x' * 50\n";

llm_test!(
    custom_tools_return_fail_and_truncate,
    |app: TestApp, llm: MockLlm| async move {
        let ints = json!({"a": {"type": "integer"}, "b": {"type": "integer"}});
        let add = custom_tool(&app, "add", ADD, ints.clone(), None).await;
        let divide = custom_tool(&app, "divide", DIVIDE, ints, None).await;
        let long = custom_tool(&app, "long_text", LONG, json!({}), Some(10)).await;
        let agent = create_agent(&app, json!({"tool_ids": [add, divide, long]})).await;
        let id = agent["id"].as_str().unwrap();

        llm.push(call("add", json!({"a": 2, "b": "3"})));
        llm.push(call("divide", json!({"a": 1, "b": 0})));
        llm.push(call("long_text", json!({})));
        llm.push(say("done"));
        let body = send(&app, id, "go").await;
        let r = returns(&body);
        assert_eq!(r.len(), 3, "{body}");

        assert_eq!(r[0]["status"], "success", "{body}");
        assert_eq!(r[0]["tool_return"], "5");
        assert_eq!(r[0]["stdout"], json!(["adding 2 3\n"]));

        assert_eq!(r[1]["status"], "error");
        assert_eq!(
            r[1]["tool_return"],
            "Error executing function divide: ZeroDivisionError: division by zero"
        );
        let stderr = r[1]["stderr"][0].as_str().unwrap();
        assert!(stderr.contains("ZeroDivisionError"), "{stderr}");

        // Both stages of §5.6: 50 chars + the first note, cut to 10 with the second note.
        let first = "... [NOTE: function output was truncated since it exceeded the character limit: 50 > 10]";
        let total = 50 + first.len();
        assert_eq!(r[2]["status"], "success");
        assert_eq!(
            r[2]["tool_return"],
            format!(
                "xxxxxxxxxx... [NOTE: function output was truncated since it exceeded the character limit ({total} > 10)]"
            )
        );

        // The model read the returns back.
        let sent = llm.chat_requests()[2].body.clone();
        let tool_msgs: Vec<String> = sent["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "tool")
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect();
        // The last two: the boot messages hold a tool message of their own.
        let [.., added, divided] = tool_msgs.as_slice() else {
            panic!("{tool_msgs:?}");
        };
        assert!(added.contains("\"message\": \"5\""), "{tool_msgs:?}");
        assert!(divided.contains("ZeroDivisionError"), "{tool_msgs:?}");
    }
);

const REMEMBER: &str = "def remember(agent_state: \"AgentState\", name: str):\n    \"\"\"Remembers.\"\"\"\n    old = agent_state.memory.get_block('human').value\n    agent_state.memory.update_block_value('human', 'Name: ' + name)\n    return 'was ' + old + ' / agent ' + agent_state.name\n";

llm_test!(
    agent_state_edits_are_persisted,
    |app: TestApp, llm: MockLlm| async move {
        let props = json!({"name": {"type": "string"}});
        let remember = custom_tool(&app, "remember", REMEMBER, props, None).await;
        let agent = create_agent(&app, json!({"name": "rememberer", "tool_ids": [remember]})).await;
        let id = agent["id"].as_str().unwrap();

        llm.push(call("remember", json!({"name": "Ada"})));
        llm.push(say("ok"));
        // Over the block's limit: refused as a core-memory edit is, nothing saved.
        llm.push(call("remember", json!({"name": "y".repeat(6000)})));
        llm.push(say("ok"));
        let body = send(&app, id, "my name is Ada").await;
        let r = returns(&body);
        assert_eq!(r[0]["status"], "success", "{body}");
        assert_eq!(r[0]["tool_return"], "was Name: unknown / agent rememberer");

        let (status, block) = app
            .get(&format!("/v1/agents/{id}/core-memory/blocks/human"))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(block["value"], "Name: Ada");
        // The next request's system prompt shows the new value.
        let system = llm.chat_requests()[1].body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(system.contains("Name: Ada"), "{system}");

        let body = send(&app, id, "again").await;
        let r = returns(&body);
        assert_eq!(r[0]["status"], "error", "{body}");
        let text = r[0]["tool_return"].as_str().unwrap();
        assert!(text.contains("Edit failed: Exceeds"), "{text}");
        let (_, block) = app
            .get(&format!("/v1/agents/{id}/core-memory/blocks/human"))
            .await;
        assert_eq!(block["value"], "Name: Ada");

        // A read-only block is not written either.
        let locked = create_agent(
            &app,
            json!({"tool_ids": [remember], "memory_blocks": [{"label": "human", "value": "Name: Bo", "read_only": true}]}),
        )
        .await;
        let locked_id = locked["id"].as_str().unwrap();
        llm.push(call("remember", json!({"name": "Eve"})));
        llm.push(say("ok"));
        let body = send(&app, locked_id, "I am Eve").await;
        let r = returns(&body);
        assert_eq!(r[0]["status"], "error", "{body}");
        let text = r[0]["tool_return"].as_str().unwrap();
        assert!(text.contains("read-only"), "{text}");
        let (_, block) = app
            .get(&format!("/v1/agents/{locked_id}/core-memory/blocks/human"))
            .await;
        assert_eq!(block["value"], "Name: Bo");
    }
);

static SERVER_KEY: Once = Once::new();

/// The server process's own provider key, which no tool may see.
fn server_key() -> String {
    SERVER_KEY.call_once(|| {
        if std::env::var_os("OPENAI_API_KEY").is_none() {
            // SAFETY: set once, before this test's server starts; the sandbox tests set
            // the same variable the same way.
            unsafe { std::env::set_var("OPENAI_API_KEY", "sk-server-secret-must-not-leak") };
        }
    });
    std::env::var("OPENAI_API_KEY").unwrap()
}

const SHOW_ENV: &str =
    "def show_env():\n    \"\"\"Env.\"\"\"\n    import os\n    return dict(os.environ)\n";

llm_test!(
    the_tool_environment_is_the_configs_and_the_agents_only,
    |app: TestApp, llm: MockLlm| async move {
        let server_key = server_key();
        let (status, config) = app
            .post(
                "/v1/sandbox-config/",
                &json!({"config": {"use_venv": false}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{config}");
        let config_id = config["id"].as_str().unwrap();
        for (key, value) in [("ORG_VAR", "from-org"), ("SHARED", "org")] {
            let (status, var) = app
                .post(
                    &format!("/v1/sandbox-config/{config_id}/environment-variable"),
                    &json!({"key": key, "value": value}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{var}");
        }
        let tool = custom_tool(&app, "show_env", SHOW_ENV, json!({}), None).await;
        let agent = create_agent(
            &app,
            json!({"tool_ids": [tool], "tool_exec_environment_variables": {"AGENT_VAR": "from-agent", "SHARED": "agent"}}),
        )
        .await;
        let id = agent["id"].as_str().unwrap();
        llm.push(call("show_env", json!({})));
        llm.push(say("ok"));
        let body = send(&app, id, "env?").await;
        let r = returns(&body);
        assert_eq!(r[0]["status"], "success", "{body}");
        let env: Value = serde_json::from_str(r[0]["tool_return"].as_str().unwrap()).unwrap();
        assert_eq!(env["ORG_VAR"], "from-org");
        assert_eq!(env["AGENT_VAR"], "from-agent");
        assert_eq!(env["SHARED"], "agent", "the agent's variables win");
        assert!(env.get("OPENAI_API_KEY").is_none(), "{env}");
        for value in env.as_object().unwrap().values() {
            let value = value.as_str().unwrap();
            assert_ne!(value, server_key);
            assert_ne!(value, "sk-test", "the configured provider key leaked");
        }
        // Nothing else from the server: only the sandbox's own variables and the call's.
        let allowed = [
            "PATH",
            "LANG",
            "HOME",
            "PYTHONUNBUFFERED",
            "PYTHONWARNINGS",
            "PYTHONDONTWRITEBYTECODE",
            "NO_COLOR",
            "TERM",
            "VIRTUAL_ENV",
            "ORG_VAR",
            "AGENT_VAR",
            "SHARED",
            "LC_CTYPE",
        ];
        for key in env.as_object().unwrap().keys() {
            assert!(allowed.contains(&key.as_str()), "unexpected variable {key}");
        }
    }
);

const SLEEP: &str =
    "def nap():\n    \"\"\"Sleeps.\"\"\"\n    import time\n    time.sleep(30)\n    return 'woke'\n";

/// The slow agent's tool times out while other agents' calls go on; several agents call
/// tools at once.
async fn timeout_and_concurrency(backend: Backend) {
    let (app, llm) = TestApp::spawn_with_llm(backend, |cfg| cfg.tool_sandbox_timeout = 5).await;
    let ints = json!({"a": {"type": "integer"}, "b": {"type": "integer"}});
    let add = custom_tool(&app, "add", ADD, ints, None).await;
    let nap = custom_tool(&app, "nap", SLEEP, json!({}), None).await;
    // Each turn is one request: the tool is called without a heartbeat, chosen by the
    // user's text, so concurrent agents need no shared script.
    llm.set_rule(|req| {
        let text = req.last_user_text().unwrap_or_default();
        if text == "nap" {
            MockReply::tool_call("nap", json!({}))
        } else {
            let n: i64 = text.parse().unwrap_or(0);
            MockReply::tool_call("add", json!({"a": n, "b": 1}))
        }
    });
    let slow = create_agent(&app, json!({"tool_ids": [nap]})).await;
    let slow_id = slow["id"].as_str().unwrap().to_owned();
    let mut fast_ids = Vec::new();
    for _ in 0..4 {
        let agent = create_agent(&app, json!({"tool_ids": [add.clone()]})).await;
        fast_ids.push(agent["id"].as_str().unwrap().to_owned());
    }

    let app = Arc::new(app);
    let started = Instant::now();
    let slow_turn = {
        let app = Arc::clone(&app);
        tokio::spawn(async move { send(&app, &slow_id, "nap").await })
    };
    let fast_turns: Vec<_> = fast_ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let app = Arc::clone(&app);
            let id = id.clone();
            tokio::spawn(async move { (i, send(&app, &id, &i.to_string()).await) })
        })
        .collect();
    for turn in fast_turns {
        let (i, body) = turn.await.unwrap();
        let r = returns(&body);
        assert_eq!(r[0]["status"], "success", "{body}");
        assert_eq!(r[0]["tool_return"], (i as i64 + 1).to_string());
    }
    // The other agents' calls ended while the slow one was still running.
    assert!(
        !slow_turn.is_finished(),
        "the fast turns waited for the slow tool"
    );
    let body = slow_turn.await.unwrap();
    let elapsed = started.elapsed();
    let r = returns(&body);
    assert_eq!(r[0]["status"], "error", "{body}");
    assert_eq!(
        r[0]["tool_return"],
        "Error executing function nap: TimeoutError: Executing tool nap timed out after 5 seconds."
    );
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_tool_leaves_other_agents_alone_sqlite() {
    timeout_and_concurrency(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_tool_leaves_other_agents_alone_postgres() {
    timeout_and_concurrency(Backend::Postgres).await;
}

llm_test!(
    run_code_runs_python_and_refuses_other_languages,
    |app: TestApp, llm: MockLlm| async move {
        let agent = create_agent(&app, json!({"tools": ["run_code"]})).await;
        let id = agent["id"].as_str().unwrap();
        llm.push(call(
            "run_code",
            json!({"code": "print('hello')\n6 * 7", "language": "python"}),
        ));
        llm.push(call(
            "run_code",
            json!({"code": "console.log(1)", "language": "js"}),
        ));
        llm.push(say("ok"));
        let body = send(&app, id, "run").await;
        let r = returns(&body);
        assert_eq!(r.len(), 2, "{body}");
        assert_eq!(r[0]["status"], "success", "{body}");
        let doc: Value = serde_json::from_str(r[0]["tool_return"].as_str().unwrap()).unwrap();
        assert_eq!(doc["results"], json!(["42"]));
        assert_eq!(doc["logs"]["stdout"], json!(["hello\n"]));
        assert_eq!(r[1]["status"], "error");
        let text = r[1]["tool_return"].as_str().unwrap();
        assert!(text.contains("language 'js' is not supported"), "{text}");
    }
);

/// A sandbox that cannot start (no interpreter) is the tool's error, not the request's.
async fn sandbox_failure(backend: Backend) {
    let (app, llm) = TestApp::spawn_with_llm(backend, |cfg| {
        cfg.tool_python = Some("/nonexistent/python3".into());
    })
    .await;
    let ints = json!({"a": {"type": "integer"}, "b": {"type": "integer"}});
    let add = custom_tool(&app, "add", ADD, ints, None).await;
    let agent = create_agent(&app, json!({"tool_ids": [add]})).await;
    let id = agent["id"].as_str().unwrap();
    llm.push(call("add", json!({"a": 1, "b": 2})));
    llm.push(say("ok"));
    let body = send(&app, id, "add").await;
    let r = returns(&body);
    assert_eq!(r[0]["status"], "error", "{body}");
    let text = r[0]["tool_return"].as_str().unwrap();
    assert!(
        text.starts_with("Error executing function add: SandboxError: no Python interpreter"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_that_cannot_start_is_a_tool_error_sqlite() {
    sandbox_failure(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_that_cannot_start_is_a_tool_error_postgres() {
    sandbox_failure(Backend::Postgres).await;
}
