//! MCP servers (`/v1/tools/mcp/servers`) and their tools through the agent loop, against
//! the test server shipped as `examples/mcp_test_server.rs` over stdio, streamable HTTP and
//! HTTP+SSE: every route's success, 404 and bad input; tool calls with a warm session; a
//! server that crashes mid-call, restarts, hangs or answers garbage.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;

use crate::helpers::{TestApp, create_agent};
use crate::mock_llm::{MockLlm, MockReply};
use crate::{both_backends, llm_test};

const SERVERS: &str = "/v1/tools/mcp/servers";

/// The test server binary, built on first use when the test run did not build examples.
pub(crate) fn server_bin() -> PathBuf {
    static BUILT: Mutex<bool> = Mutex::new(false);
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let bin = profile_dir.join("examples").join("mcp_test_server");
    let mut built = BUILT.lock().unwrap();
    if !*built && !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = std::process::Command::new(cargo);
        cmd.args(["build", "--example", "mcp_test_server"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().unwrap();
        assert!(status.success(), "cannot build the MCP test server");
    }
    *built = true;
    bin
}

fn stdio_config(name: &str) -> Value {
    json!({
        "server_name": name,
        "type": "stdio",
        "command": server_bin().to_string_lossy(),
        "args": [],
        "env": {"GREETING": "hello"},
    })
}

/// A test server listening on HTTP (`--http` or `--sse`), killed on drop.
pub(crate) struct HttpServer {
    child: tokio::process::Child,
    pub(crate) url: String,
}

impl HttpServer {
    pub(crate) async fn start(mode: &str, addr: &str) -> HttpServer {
        let mut child = tokio::process::Command::new(server_bin())
            .args([mode, addr])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the MCP test server did not start")
            .unwrap()
            .unwrap();
        let url = line
            .strip_prefix("MCP_TEST_SERVER_URL=")
            .unwrap()
            .to_owned();
        HttpServer { child, url }
    }

    /// `host:port` it listens on.
    fn addr(&self) -> String {
        let rest = self.url.strip_prefix("http://").unwrap();
        rest.split('/').next().unwrap().to_owned()
    }

    pub(crate) async fn stop(mut self) {
        self.child.kill().await.unwrap();
        self.child.wait().await.unwrap();
    }
}

pub(crate) fn call(name: &str, mut args: Value) -> MockReply {
    args["request_heartbeat"] = json!(true);
    MockReply::tool_call(name, args)
}

pub(crate) fn say(text: &str) -> MockReply {
    MockReply::tool_call("send_message", json!({"message": text}))
}

pub(crate) async fn send(app: &TestApp, agent_id: &str, text: &str) -> Value {
    let (status, body) = app
        .post(
            &format!("/v1/agents/{agent_id}/messages"),
            &json!({"messages": [{"role": "user", "content": text}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

pub(crate) fn returns(body: &Value) -> Vec<Value> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["message_type"] == "tool_return_message")
        .cloned()
        .collect()
}

pub(crate) async fn add_server(app: &TestApp, config: &Value) {
    let (status, body) = app.put(SERVERS, config).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Registers the server's tools named and answers their ids.
pub(crate) async fn add_tools(app: &TestApp, server: &str, names: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for name in names {
        let (status, tool) = app
            .post(&format!("{SERVERS}/{server}/{name}"), &json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{tool}");
        ids.push(tool["id"].as_str().unwrap().to_owned());
    }
    ids
}

both_backends!(
    servers_are_stored_per_organization,
    |app: TestApp| async move {
        let (status, body) = app.get(SERVERS).await;
        assert_eq!((status, body), (StatusCode::OK, json!({})));

        let (status, body) = app.put(SERVERS, &stdio_config("local")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body.as_array().unwrap().len(), 1);
        assert_eq!(body[0]["type"], "stdio");
        assert_eq!(body[0]["env"], json!({"GREETING": "hello"}));

        // No type and a URL: an SSE server; a bare token goes in Authorization as a bearer.
        let remote = json!({"server_name": "remote", "server_url": "http://127.0.0.1:9/sse", "auth_token": "abc"});
        let (status, body) = app.put(SERVERS, &remote).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body[1]["type"], "sse");
        assert_eq!(body[1]["auth_header"], "Authorization");
        assert_eq!(body[1]["auth_token"], "Bearer abc");

        let http = json!({"server_name": "web", "type": "streamable_http", "server_url": "http://127.0.0.1:9/mcp",
        "auth_header": "X-Api-Key", "auth_token": "k", "custom_headers": {"X-Team": "a"}});
        let (status, body) = app.put(SERVERS, &http).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body[2]["auth_header"], "X-Api-Key");
        assert_eq!(body[2]["auth_token"], "k");

        // Duplicate names and bad shapes: 4xx, nothing written.
        let (status, body) = app.put(SERVERS, &stdio_config("local")).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        for bad in [
            json!({"command": "x", "args": []}),
            json!({"server_name": "x", "command": "", "args": []}),
            json!({"server_name": "x", "command": "x"}),
            json!({"server_name": "x", "server_url": "ftp://h/x"}),
            json!({"server_name": "x", "server_url": "not a url", "type": "streamable_http"}),
            json!({"server_name": "a/b", "server_url": "http://h/x"}),
            json!({"server_name": "x", "server_url": "http://h/x", "type": "carrier_pigeon"}),
            json!(["not", "an", "object"]),
        ] {
            let (status, body) = app.put(SERVERS, &bad).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        }

        let (status, body) = app.get(SERVERS).await;
        assert_eq!(status, StatusCode::OK);
        let names: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(names, ["local", "remote", "web"]);
        assert_eq!(body["local"]["command"], stdio_config("local")["command"]);

        // Another organization sees none of them.
        let other = app.other_org_user().await;
        let (status, body) = app
            .request_as(&other, reqwest::Method::GET, SERVERS, None)
            .await;
        assert_eq!((status, body), (StatusCode::OK, json!({})));

        // Updates: the SSE shape (token), the streamable HTTP shape, a rename.
        let (status, body) = app
            .patch(
                &format!("{SERVERS}/remote"),
                &json!({"server_url": "http://127.0.0.1:9/v2", "token": "t2"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["server_url"], "http://127.0.0.1:9/v2");
        assert_eq!(body["auth_token"], "Bearer t2");
        let (status, body) = app
            .patch(
                &format!("{SERVERS}/web"),
                &json!({"server_name": "web2", "custom_headers": null}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["server_name"], "web2");
        assert_eq!(body["custom_headers"], Value::Null);
        assert_eq!(body["auth_token"], "k");

        let (status, _) = app
            .patch(
                &format!("{SERVERS}/nope"),
                &json!({"server_url": "http://h/x"}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = app
            .patch(&format!("{SERVERS}/remote"), &json!({"bogus": 1}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, _) = app
            .patch(
                &format!("{SERVERS}/remote"),
                &json!({"server_url": "gopher://x"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, body) = app
            .patch(
                &format!("{SERVERS}/local"),
                &json!({"server_url": "http://h/x"}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, _) = app
            .patch(
                &format!("{SERVERS}/remote"),
                &json!({"server_name": "local"}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (_, body) = app.get(SERVERS).await;
        assert_eq!(body["remote"]["server_url"], "http://127.0.0.1:9/v2");

        let (status, _) = app.delete(&format!("{SERVERS}/nope")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = app.delete(&format!("{SERVERS}/remote")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let names: Vec<&str> = body
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["server_name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["local", "web2"]);
    }
);

both_backends!(
    stdio_server_tools_are_listed_and_registered,
    |app: TestApp| async move {
        add_server(&app, &stdio_config("kit")).await;

        let (status, tools) = app.get(&format!("{SERVERS}/kit/tools")).await;
        assert_eq!(status, StatusCode::OK, "{tools}");
        let names: Vec<&str> = tools
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"echo") && names.contains(&"crash"),
            "{names:?}"
        );
        let echo = tools
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "echo")
            .unwrap();
        assert_eq!(echo["inputSchema"]["properties"]["text"]["type"], "string");

        let (status, tool) = app.post(&format!("{SERVERS}/kit/echo"), &json!({})).await;
        assert_eq!(status, StatusCode::OK, "{tool}");
        assert_eq!(tool["tool_type"], "external_mcp");
        assert_eq!(tool["name"], "echo");
        assert_eq!(tool["tags"], json!(["mcp:kit"]));
        assert_eq!(tool["metadata_"]["mcp"]["server_name"], "kit");
        assert_eq!(tool["json_schema"]["name"], "echo");
        assert_eq!(
            tool["json_schema"]["parameters"]["required"],
            json!(["text", "request_heartbeat"])
        );
        // Registering again refreshes the same tool.
        let (status, again) = app.post(&format!("{SERVERS}/kit/echo"), &json!({})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(again["id"], tool["id"]);
        let (status, stored) = app
            .get(&format!("/v1/tools/{}", tool["id"].as_str().unwrap()))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(stored["tool_type"], "external_mcp");

        let (status, body) = app
            .post(&format!("{SERVERS}/kit/no_such_tool"), &json!({}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert!(body["detail"].as_str().unwrap().contains("echo"), "{body}");
        let (status, _) = app.post(&format!("{SERVERS}/nope/echo"), &json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = app.get(&format!("{SERVERS}/nope/tools")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // A server that cannot start: a 400 naming the problem.
        let broken =
            json!({"server_name": "broken", "command": "/nonexistent/mcp-server", "args": []});
        add_server(&app, &broken).await;
        let (status, body) = app.get(&format!("{SERVERS}/broken/tools")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains("cannot start"),
            "{body}"
        );
    }
);

both_backends!(
    test_route_connects_without_storing,
    |app: TestApp| async move {
        let (status, tools) = app
            .post(&format!("{SERVERS}/test"), &stdio_config("probe"))
            .await;
        assert_eq!(status, StatusCode::OK, "{tools}");
        assert!(tools.as_array().unwrap().iter().any(|t| t["name"] == "add"));
        let (_, servers) = app.get(SERVERS).await;
        assert_eq!(servers, json!({}));

        let http = HttpServer::start("--http", "127.0.0.1:0").await;
        let config = json!({"server_name": "h", "type": "streamable_http", "server_url": http.url});
        let (status, tools) = app.post(&format!("{SERVERS}/test"), &config).await;
        assert_eq!(status, StatusCode::OK, "{tools}");
        assert!(
            tools
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["name"] == "echo")
        );

        let sse = HttpServer::start("--sse", "127.0.0.1:0").await;
        let config = json!({"server_name": "s", "type": "sse", "server_url": sse.url});
        let (status, tools) = app.post(&format!("{SERVERS}/test"), &config).await;
        assert_eq!(status, StatusCode::OK, "{tools}");
        assert!(
            tools
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["name"] == "echo")
        );

        // Unreachable, not an MCP server, garbage on stdout, no such command: a bounded 400.
        let started = Instant::now();
        let garbage = json!({"server_name": "g", "command": server_bin().to_string_lossy(), "args": ["--garbage"]});
        for bad in [
            json!({"server_name": "u", "type": "streamable_http", "server_url": "http://127.0.0.1:1/mcp"}),
            json!({"server_name": "u", "type": "sse", "server_url": "http://127.0.0.1:1/sse"}),
            json!({"server_name": "n", "type": "streamable_http", "server_url": app.url("/v1/health/")}),
            json!({"server_name": "n", "type": "sse", "server_url": app.url("/v1/health/")}),
            garbage,
            json!({"server_name": "c", "command": "/nonexistent/mcp-server", "args": []}),
        ] {
            let (status, body) = app.post(&format!("{SERVERS}/test"), &bad).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
            assert!(body["detail"].is_string(), "{body}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "{:?}",
            started.elapsed()
        );
        let (status, _) = app
            .post(&format!("{SERVERS}/test"), &json!({"server_name": "x"}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        http.stop().await;
        sse.stop().await;
    }
);

llm_test!(
    an_agent_calls_mcp_tools_over_stdio,
    |app: TestApp, llm: MockLlm| async move {
        add_server(&app, &stdio_config("kit")).await;
        let ids = add_tools(&app, "kit", &["echo", "fail", "env", "pid"]).await;
        let agent = create_agent(&app, json!({"tool_ids": ids})).await;
        let id = agent["id"].as_str().unwrap();

        llm.push(call("echo", json!({"text": "hi there"})));
        llm.push(call("fail", json!({})));
        llm.push(call("env", json!({"name": "GREETING"})));
        llm.push(call("env", json!({"name": "PATH"})));
        llm.push(call("env", json!({"name": "CARGO_MANIFEST_DIR"})));
        llm.push(call("pid", json!({})));
        llm.push(call("pid", json!({})));
        llm.push(say("done"));
        let body = send(&app, id, "go").await;
        let r = returns(&body);
        assert_eq!(r.len(), 7, "{body}");
        assert_eq!(
            (r[0]["status"].as_str(), r[0]["tool_return"].as_str()),
            (Some("success"), Some("hi there"))
        );
        assert_eq!(r[1]["status"], "error", "{body}");
        assert!(
            r[1]["tool_return"]
                .as_str()
                .unwrap()
                .contains("the fail tool failed"),
            "{body}"
        );
        // Only the configured variables and a minimal PATH reach the server.
        assert_eq!(r[2]["tool_return"], "hello");
        assert_eq!(r[3]["tool_return"], "/usr/local/bin:/usr/bin:/bin");
        assert_eq!(r[4]["tool_return"], "<unset>");
        // One warm session: both calls reach the same process.
        assert_eq!(r[5]["tool_return"], r[6]["tool_return"], "{body}");
    }
);

llm_test!(
    an_agent_calls_mcp_tools_over_streamable_http_across_a_restart,
    |app: TestApp, llm: MockLlm| async move {
        let server = HttpServer::start("--http", "127.0.0.1:0").await;
        let addr = server.addr();
        add_server(
            &app,
            &json!({"server_name": "web", "type": "streamable_http", "server_url": server.url,
                "auth_token": "secret"}),
        )
        .await;
        let ids = add_tools(&app, "web", &["add", "pid"]).await;
        let agent = create_agent(&app, json!({"tool_ids": ids})).await;
        let id = agent["id"].as_str().unwrap();

        llm.push(call("add", json!({"a": 2, "b": 3})));
        llm.push(call("pid", json!({})));
        llm.push(say("done"));
        let body = send(&app, id, "go").await;
        let r = returns(&body);
        assert_eq!(r[0]["status"], "success", "{body}");
        assert_eq!(r[0]["tool_return"], "5");
        let first_pid = r[1]["tool_return"].clone();

        // The server restarts (its sessions are gone): the next call connects again.
        server.stop().await;
        let restarted = HttpServer::start("--http", &addr).await;
        llm.push(call("pid", json!({})));
        llm.push(say("done"));
        let body = send(&app, id, "again").await;
        let r = returns(&body);
        assert_eq!(r[0]["status"], "success", "{body}");
        assert_ne!(r[0]["tool_return"], first_pid);
        restarted.stop().await;
    }
);

llm_test!(
    an_agent_calls_mcp_tools_over_sse,
    |app: TestApp, llm: MockLlm| async move {
        let server = HttpServer::start("--sse", "127.0.0.1:0").await;
        add_server(
            &app,
            &json!({"server_name": "legacy", "type": "sse", "server_url": server.url}),
        )
        .await;
        let ids = add_tools(&app, "legacy", &["echo"]).await;
        let agent = create_agent(&app, json!({"tool_ids": ids})).await;
        llm.push(call("echo", json!({"text": "over sse"})));
        llm.push(say("done"));
        let body = send(&app, agent["id"].as_str().unwrap(), "go").await;
        let r = returns(&body);
        assert_eq!(
            (r[0]["status"].as_str(), r[0]["tool_return"].as_str()),
            (Some("success"), Some("over sse")),
            "{body}"
        );
        server.stop().await;
    }
);

llm_test!(
    a_server_that_crashes_mid_call_works_again_on_the_next_call,
    |app: TestApp, llm: MockLlm| async move {
        add_server(&app, &stdio_config("kit")).await;
        let ids = add_tools(&app, "kit", &["pid", "crash", "echo"]).await;
        let agent = create_agent(&app, json!({"tool_ids": ids})).await;
        let id = agent["id"].as_str().unwrap();

        llm.push(call("pid", json!({})));
        llm.push(call("crash", json!({})));
        llm.push(call("pid", json!({})));
        llm.push(call("echo", json!({"text": "still here"})));
        llm.push(say("done"));
        let body = send(&app, id, "go").await;
        let r = returns(&body);
        assert_eq!(r.len(), 4, "{body}");
        assert_eq!(r[0]["status"], "success");
        assert_eq!(r[1]["status"], "error", "{body}");
        assert!(
            r[1]["tool_return"].as_str().unwrap().contains("crash"),
            "{body}"
        );
        assert_eq!(r[2]["status"], "success", "{body}");
        assert_ne!(
            r[2]["tool_return"], r[0]["tool_return"],
            "a new process serves"
        );
        assert_eq!(r[3]["tool_return"], "still here");
    }
);

llm_test!(
    a_hanging_server_hits_the_timeout,
    config = |cfg: &mut letta_rs::config::Config| cfg.mcp_execute_tool_timeout = 2.0,
    |app: TestApp, llm: MockLlm| async move {
        add_server(&app, &stdio_config("kit")).await;
        let ids = add_tools(&app, "kit", &["slow", "pid"]).await;
        let agent = create_agent(&app, json!({"tool_ids": ids})).await;
        let id = agent["id"].as_str().unwrap();

        llm.push(call("pid", json!({})));
        llm.push(call("slow", json!({"ms": 600_000})));
        llm.push(call("slow", json!({"ms": 10})));
        llm.push(say("done"));
        let started = Instant::now();
        let body = send(&app, id, "go").await;
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
        let r = returns(&body);
        assert_eq!(r[1]["status"], "error", "{body}");
        assert!(
            r[1]["tool_return"].as_str().unwrap().contains("within 2s"),
            "{body}"
        );
        assert_eq!(r[2]["status"], "success", "{body}");
        assert_eq!(r[2]["tool_return"], "slept 10 ms");
        // The stuck server was killed with its session.
        let stuck = format!("/proc/{}", r[0]["tool_return"].as_str().unwrap());
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::path::Path::new(&stuck).exists() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!std::path::Path::new(&stuck).exists(), "{stuck} still runs");
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_servers_can_be_disabled() {
    let app = TestApp::spawn_with(crate::helpers::Backend::Sqlite, |cfg| {
        cfg.mcp_disable_stdio = true;
    })
    .await;
    for route in [SERVERS.to_owned(), format!("{SERVERS}/test")] {
        let method = if route == SERVERS {
            reqwest::Method::PUT
        } else {
            reqwest::Method::POST
        };
        let (status, body) = app
            .request(method, &route, Some(&stdio_config("kit")))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("MCP_DISABLE_STDIO"),
            "{body}"
        );
    }
    let (_, servers) = app.get(SERVERS).await;
    assert_eq!(servers, json!({}));
}
