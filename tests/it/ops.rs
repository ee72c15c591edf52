//! Errors that keep their cause, and operability (issue 9): provider failures keep their
//! kind down to the HTTP status and the stream's error frame; start-up failures name what
//! failed and where; `/metrics`, the access log, JSON logs and colour-free output.
//!
//! Start-up and logging tests run the server binary, as an operator would.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, create_agent, id_of};
use crate::mock_llm::MockReply;
use crate::sse::{Frame, SseStream};

/// An agent with a `human` block only.
fn only_human() -> Value {
    json!({"memory_blocks": [{"label": "human", "value": "Name: unknown"}]})
}

fn say(text: &str) -> MockReply {
    MockReply::tool_call(
        "send_message",
        json!({"inner_thoughts": "replying", "message": text}),
    )
}

fn request(text: &str) -> Value {
    json!({"messages": [{"role": "user", "content": text}]})
}

/// A JSON send: status, `Retry-After`, body.
async fn send(app: &TestApp, agent: &str) -> (StatusCode, Option<String>, Value) {
    let resp = app
        .client
        .post(app.url(&format!("/v1/agents/{agent}/messages")))
        .header("user_id", &app.user_id)
        .json(&request("hi"))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        status,
        retry_after,
        resp.json().await.unwrap_or(Value::Null),
    )
}

/// A stream that fails before its first event: its status, `Retry-After` and the error
/// object of its only frame.
async fn failed_stream(
    app: &TestApp,
    agent: &str,
    tokens: bool,
) -> (StatusCode, Option<String>, Value) {
    let mut body = request("hi");
    body["stream_tokens"] = json!(tokens);
    let mut stream = SseStream::open(
        &app.client,
        &app.url(&format!("/v1/agents/{agent}/messages/stream")),
        &app.user_id,
        Some(&body),
    )
    .await;
    let frames = stream.rest().await;
    let [Frame::Event { name, data }] = frames.as_slice() else {
        panic!("one error frame expected: {frames:?}");
    };
    assert_eq!(name, "error");
    assert!(
        stream.raw[0].starts_with("event: error\ndata: {\"error\": {\"message\": "),
        "the original's frame shape: {:?}",
        stream.raw[0]
    );
    let error: Value = serde_json::from_str(data).unwrap();
    let retry_after = stream
        .headers
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (stream.status, retry_after, error["error"].clone())
}

fn rate_limited() -> MockReply {
    MockReply::error(429, "Rate limit reached for gpt-4o-mini: slow down").retry_after(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_rate_limit_is_429_with_retry_after() {
    let (app, llm) = TestApp::spawn_with_llm(Backend::Sqlite, |_| {}).await;
    let agent = id_of(&create_agent(&app, only_human()).await);

    // Three attempts (honouring the provider's Retry-After between them), then a 429.
    llm.push_repeated(rate_limited(), 3);
    let (status, retry_after, body) = send(&app, &agent).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("slow down") && detail.contains("HTTP 429"),
        "{detail}"
    );
    assert!(!detail.contains("sk-test-ops"));

    for tokens in [false, true] {
        llm.push_repeated(rate_limited(), 3);
        let (status, retry_after, error) = failed_stream(&app, &agent, tokens).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{error}");
        assert_eq!(retry_after.as_deref(), Some("1"));
        assert_eq!(error["message"], detail, "the JSON path's words");
        assert_eq!(error["type"], "llm_rate_limit");
        assert_eq!(error["status_code"], 429);
        assert_eq!(error["retry_after"], 1);
    }
    // The agent answers again once the provider does.
    llm.push(say("back"));
    assert_eq!(send(&app, &agent).await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_auth_error_keeps_its_kind() {
    let (app, llm) = TestApp::spawn_with_llm(Backend::Sqlite, |_| {}).await;
    let agent = id_of(&create_agent(&app, only_human()).await);
    llm.push(MockReply::error(
        401,
        "Incorrect API key provided: sk-test-ops.",
    ));
    let (status, retry_after, body) = send(&app, &agent).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(retry_after, None);
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("Incorrect API key provided"), "{detail}");
    assert!(
        !detail.contains("sk-test-ops"),
        "the key is scrubbed: {detail}"
    );

    llm.push(MockReply::error(
        401,
        "Incorrect API key provided: sk-test-ops.",
    ));
    let (status, _, error) = failed_stream(&app, &agent, true).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{error}");
    assert_eq!(error["type"], "llm_authentication");
    assert_eq!(error["message"], detail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_timeout_is_504() {
    let (app, llm) = TestApp::spawn_with_llm(Backend::Sqlite, |cfg| cfg.llm_timeout_secs = 1).await;
    let agent = id_of(&create_agent(&app, only_human()).await);
    // Timeouts are not retried: one slow answer is enough.
    llm.push(say("too late").delay(Duration::from_secs(3)));
    let started = Instant::now();
    let (status, _, body) = send(&app, &agent).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("timed out"), "{detail}");

    for tokens in [false, true] {
        llm.push(say("too late").delay(Duration::from_secs(3)));
        let (status, _, error) = failed_stream(&app, &agent, tokens).await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{error}");
        assert_eq!(error["type"], "llm_timeout");
        assert!(
            error["message"].as_str().unwrap().contains("timed out"),
            "{error}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_model_calls_and_runs() {
    let (app, llm) = TestApp::spawn_with_llm(Backend::Sqlite, |_| {}).await;
    let agent = id_of(&create_agent(&app, only_human()).await);
    llm.push(say("hello").usage(120, 30));
    assert_eq!(send(&app, &agent).await.0, StatusCode::OK);

    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = resp.text().await.unwrap();
    for expected in [
        // The route template, not the agent's id.
        "letta_http_requests_total{method=\"POST\",route=\"/v1/agents/{agent_id}/messages\",status=\"200\"}",
        "letta_http_request_duration_seconds_bucket{method=\"POST\",route=\"/v1/agents/{agent_id}/messages\",le=\"0.5\"}",
        "letta_llm_calls_total{provider=\"openai\",outcome=\"success\"}",
        "letta_llm_call_duration_seconds_count{provider=\"openai\"}",
        "letta_llm_tokens_total{provider=\"openai\",kind=\"prompt\"}",
        "letta_llm_tokens_total{provider=\"openai\",kind=\"completion\"}",
        "letta_runs_finished_total{status=\"completed\"}",
        "letta_db_pool_connections{state=\"idle\"}",
        "# TYPE letta_active_streams gauge",
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
    assert!(!text.contains(&agent), "no raw paths as labels");

    // A failed model call is counted by its kind.
    llm.push(MockReply::error(401, "bad key"));
    assert_eq!(send(&app, &agent).await.0, StatusCode::UNAUTHORIZED);
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("letta_llm_calls_total{provider=\"openai\",outcome=\"auth\"}"));
    assert!(text.contains("letta_runs_finished_total{status=\"failed\"}"));

    // Not a Letta operation: absent from the OpenAPI document.
    let (_, doc) = app.get("/openapi.json").await;
    assert!(doc["paths"].get("/metrics").is_none());
}

// ---------------------------------------------------------------------------------------
// The binary: start-up failures and logs

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The server binary with a clean environment, run in `dir` (so no stray `.env` is read).
fn server(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_letta-rs"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("LETTA_HOST", "127.0.0.1")
        .env("LETTA_DIR", dir.join("data"))
        .current_dir(dir)
        .stdin(Stdio::null());
    cmd
}

/// Runs a server expected to stop by itself; fails the test if it still runs after
/// `limit`.
fn run_to_failure(mut cmd: Command, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = cmd
        .env("LETTA_PORT", free_port().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "still running after {limit:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let elapsed = started.elapsed();
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success(), "it should fail");
    (output, elapsed)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn closed_postgres_port_fails_fast_naming_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = server(dir.path());
    cmd.env(
        "LETTA_PG_URI",
        format!("postgres://postgres:hunter2@127.0.0.1:{port}/letta"),
    );
    let (output, elapsed) = run_to_failure(cmd, Duration::from_secs(8));
    let text = stderr(&output);
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}: {text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.contains("connection refused"), "{text}");
    assert!(
        !text.contains("hunter2"),
        "the password is redacted: {text}"
    );
}

#[test]
fn unopenable_sqlite_database_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the database file should be: SQLite cannot open it (whoever
    // runs the test, root included).
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("letta.db")).unwrap();
    let (output, _) = run_to_failure(server(dir.path()), Duration::from_secs(10));
    let text = stderr(&output);
    assert!(
        text.contains(&data.join("letta.db").display().to_string()),
        "{text}"
    );
    assert!(text.contains("unable to open database file"), "{text}");

    // A data directory that cannot be created names it too.
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let mut cmd = server(dir.path());
    cmd.env("LETTA_DIR", blocker.join("data"));
    let (output, _) = run_to_failure(cmd, Duration::from_secs(10));
    let text = stderr(&output);
    assert!(
        text.contains(&blocker.join("data").display().to_string()),
        "{text}"
    );
}

#[test]
fn malformed_dotenv_stops_start_up_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "LETTA_PORT=1\nOPENAI_API_KEY=\"sk-secret-value\nLETTA_HOST=0.0.0.0\n",
    )
    .unwrap();
    let (output, elapsed) = run_to_failure(server(dir.path()), Duration::from_secs(5));
    let text = stderr(&output);
    assert!(elapsed < Duration::from_secs(3), "{text}");
    assert!(text.contains(".env: line 2"), "{text}");
    assert!(text.contains("OPENAI_API_KEY"), "{text}");
    assert!(!text.contains("sk-secret-value"), "never the value: {text}");
}

#[test]
fn invalid_log_filter_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = server(dir.path());
    cmd.env("RUST_LOG", "info,letta_rs=loud");
    let (output, _) = run_to_failure(cmd, Duration::from_secs(5));
    let text = stderr(&output);
    assert!(text.contains("\"letta_rs=loud\""), "{text}");
}

/// Starts the binary with these extra variables, makes a few requests, stops it and
/// returns its stderr.
async fn serve_and_log(vars: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = dir.path().join("stderr.log");
    let mut cmd = server(dir.path());
    cmd.env("LETTA_PORT", port.to_string())
        .env("OPENAI_API_KEY", "sk-never-logged")
        .env("OPENAI_API_BASE", "http://127.0.0.1:9/v1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(resp) = client.get(format!("{base}/v1/health/")).send().await
            && resp.status() == StatusCode::OK
        {
            break;
        }
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let resp = client
        .get(format!("{base}/v1/agents/"))
        .header("x-request-id", "req-ops-test-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // The line is written once the response is; give it a moment to reach the file.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = child.kill();
    let _ = child.wait();
    std::fs::read_to_string(&log).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banner_and_access_log_without_colours() {
    for vars in [&[][..], &[("NO_COLOR", "1")][..]] {
        let text = serve_and_log(vars).await;
        assert!(
            !text.contains('\u{1b}'),
            "no ANSI codes off a terminal: {text}"
        );
        for expected in [
            "Letta API 0.8.12",
            env!("CARGO_PKG_VERSION"),
            "sqlite ",
            "redis      off",
            "openai (http://127.0.0.1:9/v1)",
            "/docs",
            "https://app.letta.com/development-servers/local/dashboard",
        ] {
            assert!(text.contains(expected), "banner lacks {expected}: {text}");
        }
        let line = text
            .lines()
            .find(|l| l.contains("route=/v1/agents/ "))
            .unwrap_or_else(|| panic!("no access line: {text}"));
        for expected in [
            " INFO ",
            "method=GET",
            "status=200",
            "latency_ms=",
            "request_id=req-ops-test-1",
        ] {
            assert!(line.contains(expected), "{expected} in {line}");
        }
        assert!(!text.contains("sk-never-logged"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_format_writes_json_lines() {
    let text = serve_and_log(&[("LETTA_LOG_FORMAT", "json")]).await;
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access = lines
        .iter()
        .find(|l| l["route"] == "/v1/agents/")
        .unwrap_or_else(|| panic!("no access line: {text}"));
    assert_eq!(access["level"], "INFO");
    assert_eq!(access["message"], "request");
    assert_eq!(access["method"], "GET");
    assert_eq!(access["status"], 200);
    assert_eq!(access["request_id"], "req-ops-test-1");
    assert!(access["latency_ms"].is_number());
    assert!(lines.iter().any(|l| {
        l["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Letta API 0.8.12")
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_report_redis_state() {
    let app = TestApp::spawn_with(Backend::Sqlite, |cfg| {
        cfg.redis_url = Some("redis://127.0.0.1:6379".parse().unwrap());
    })
    .await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("letta_redis_up 1"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_overflow_that_cannot_be_cured_is_400() {
    let (app, llm) = TestApp::spawn_with_llm(Backend::Sqlite, |_| {}).await;
    let agent = id_of(&create_agent(&app, only_human()).await);
    // A first turn, so there is something to summarize.
    llm.push(say("first"));
    assert_eq!(send(&app, &agent).await.0, StatusCode::OK);
    // From now on every call (the turn's and the summarizer's) is too long.
    llm.set_rule(|_| MockReply::context_length_exceeded());
    let (status, _, body) = send(&app, &agent).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let detail = body["detail"].as_str().unwrap().to_owned();
    let (status, _, error) = failed_stream(&app, &agent, false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    // Too little history to summarize: the overflow surfaces, the same on both paths.
    assert_eq!(error["message"], detail);
    // The failed turns left the context whole: the agent answers once the model does.
    llm.clear_rule();
    llm.push(say("fits again"));
    let (status, _, body) = send(&app, &agent).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
