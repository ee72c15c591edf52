//! An MCP server for the tests and the MCP benchmark, built on rmcp's server side. Tools:
//! `echo(text)`, `add(a, b)`, `slow(ms)` (sleeps, then answers), `fail()` (answers a tool
//! error), `crash()` (the process exits mid-call), `env(name)` (the value of an environment
//! variable, or `<unset>`) and `pid()` (this process's id).
//!
//! Usage:
//!   mcp_test_server                 serve over stdin/stdout
//!   mcp_test_server --http ADDR     serve streamable HTTP at http://ADDR/mcp
//!   mcp_test_server --sse ADDR      serve the 2024-11-05 HTTP+SSE transport at http://ADDR/sse
//!   mcp_test_server --garbage       write lines that are not JSON-RPC on stdout, then wait
//! With an address, prints `MCP_TEST_SERVER_URL=<url>` once listening (port 0 picks one).

#![allow(
    clippy::unwrap_used,
    reason = "a test fixture, where a panic is a test failure"
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer, ServiceExt as _};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};

#[derive(Clone, Copy)]
struct TestServer;

fn schema(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn tools() -> Vec<Tool> {
    let none = || schema(json!({"type": "object", "properties": {}}));
    vec![
        Tool::new(
            "echo",
            "Answers the text it is given.",
            schema(json!({
                "type": "object",
                "properties": {"text": {"type": "string", "description": "What to echo."}},
                "required": ["text"],
            })),
        ),
        Tool::new(
            "add",
            "Adds two numbers.",
            schema(json!({
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                "required": ["a", "b"],
            })),
        ),
        Tool::new(
            "slow",
            "Sleeps for ms milliseconds, then answers.",
            schema(json!({
                "type": "object",
                "properties": {"ms": {"type": "integer"}},
                "required": ["ms"],
            })),
        ),
        Tool::new("fail", "Always answers a tool error.", none()),
        Tool::new("crash", "Exits the server process mid-call.", none()),
        Tool::new(
            "env",
            "The value of an environment variable.",
            schema(json!({
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"],
            })),
        ),
        Tool::new("pid", "The server's process id.", none()),
    ]
}

fn text(s: impl Into<String>) -> Vec<ContentBlock> {
    vec![ContentBlock::text(s)]
}

fn arg<'a>(args: &'a Map<String, Value>, name: &str) -> Result<&'a Value, ErrorData> {
    args.get(name)
        .ok_or_else(|| ErrorData::invalid_params(format!("missing argument {name}"), None))
}

async fn call(name: &str, args: Map<String, Value>) -> Result<CallToolResult, ErrorData> {
    Ok(match name {
        "echo" => CallToolResult::success(text(arg(&args, "text")?.as_str().unwrap_or_default())),
        "add" => {
            let a = arg(&args, "a")?.as_f64().unwrap_or_default();
            let b = arg(&args, "b")?.as_f64().unwrap_or_default();
            let sum = a + b;
            let shown = if sum.fract() == 0.0 {
                format!("{}", sum as i64)
            } else {
                sum.to_string()
            };
            CallToolResult::success(text(shown))
        }
        "slow" => {
            let ms = arg(&args, "ms")?.as_u64().unwrap_or_default();
            tokio::time::sleep(Duration::from_millis(ms)).await;
            CallToolResult::success(text(format!("slept {ms} ms")))
        }
        "fail" => CallToolResult::error(text("the fail tool failed, as it always does")),
        "crash" => std::process::exit(3),
        "env" => {
            let key = arg(&args, "name")?.as_str().unwrap_or_default();
            CallToolResult::success(text(
                std::env::var(key).unwrap_or_else(|_| "<unset>".to_owned()),
            ))
        }
        "pid" => CallToolResult::success(text(std::process::id().to_string())),
        other => {
            return Err(ErrorData::invalid_params(
                format!("no tool named {other}"),
                None,
            ));
        }
    })
}

impl rmcp::ServerHandler for TestServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        call(&request.name, args)
            .await
            .map(CallToolResponse::Complete)
    }
}

async fn listen(addr: &str, path: &str) -> tokio::net::TcpListener {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let local = listener.local_addr().unwrap();
    println!("MCP_TEST_SERVER_URL=http://{local}{path}");
    listener
}

async fn serve_http(addr: &str) {
    let service = StreamableHttpService::new(
        || Ok(TestServer),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new().nest_service("/mcp", service);
    let listener = listen(addr, "/mcp").await;
    axum::serve(listener, app).await.unwrap();
}

/// The legacy transport: each `GET /sse` is a session whose server side runs over an
/// in-memory pipe; `POST /message?session=…` writes into it, and every line the server
/// writes becomes a `message` event.
type Sessions = Arc<Mutex<HashMap<String, tokio::sync::mpsc::UnboundedSender<String>>>>;

async fn sse_open(State(sessions): State<Sessions>) -> impl IntoResponse {
    let (client_side, server_side) = tokio::io::duplex(1 << 20);
    let (server_read, server_write) = tokio::io::split(server_side);
    tokio::spawn(async move {
        if let Ok(running) = TestServer.serve((server_read, server_write)).await {
            let _ = running.waiting().await;
        }
    });
    let (client_read, mut client_write) = tokio::io::split(client_side);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            if client_write.write_all(line.as_bytes()).await.is_err()
                || client_write.write_all(b"\n").await.is_err()
            {
                break;
            }
        }
    });
    let id = format!("{:x}", rand_id());
    sessions.lock().unwrap().insert(id.clone(), tx);
    let first = format!("event: endpoint\ndata: /message?session={id}\n\n");
    let lines = tokio::io::BufReader::new(client_read).lines();
    let events = futures_util::stream::unfold(lines, |mut lines| async move {
        let line = lines.next_line().await.ok()??;
        Some((
            Ok::<_, std::convert::Infallible>(format!("event: message\ndata: {line}\n\n")),
            lines,
        ))
    });
    let stream = futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok(first) }),
        events,
    );
    (
        [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(stream),
    )
}

async fn sse_post(
    State(sessions): State<Sessions>,
    Query(query): Query<HashMap<String, String>>,
    body: String,
) -> StatusCode {
    let id = query.get("session").cloned().unwrap_or_default();
    let sender = sessions.lock().unwrap().get(&id).cloned();
    match sender {
        Some(tx) if tx.send(body).is_ok() => StatusCode::ACCEPTED,
        _ => StatusCode::NOT_FOUND,
    }
}

fn rand_id() -> u128 {
    use std::hash::{BuildHasher as _, RandomState};
    let a = RandomState::new().hash_one(std::time::SystemTime::now());
    let b = RandomState::new().hash_one(a);
    (u128::from(a) << 64) | u128::from(b)
}

async fn serve_sse(addr: &str) {
    let sessions: Sessions = Arc::default();
    let app = axum::Router::new()
        .route("/sse", axum::routing::get(sse_open))
        .route("/message", axum::routing::post(sse_post))
        .with_state(sessions);
    let listener = listen(addr, "/sse").await;
    axum::serve(listener, app).await.unwrap();
}

async fn garbage() {
    println!("this is not JSON-RPC");
    println!("{{\"neither\": \"is this\"}}");
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--http") => serve_http(args.get(1).map_or("127.0.0.1:0", String::as_str)).await,
        Some("--sse") => serve_sse(args.get(1).map_or("127.0.0.1:0", String::as_str)).await,
        Some("--garbage") => garbage().await,
        _ => {
            let running = TestServer.serve(rmcp::transport::stdio()).await.unwrap();
            let _ = running.waiting().await;
        }
    }
}
