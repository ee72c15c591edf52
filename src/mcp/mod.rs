//! The MCP client (Model Context Protocol, through the `rmcp` SDK): where a server is
//! ([`McpTarget`]), one connected session ([`McpSession`]: list tools, call a tool), and the
//! pool of warm sessions the tool executor reuses ([`pool::McpPool`]).
//!
//! A stdio server is a child process that starts with only its configured variables and a
//! minimal `PATH` (as the tool sandbox's workers: the server's own environment, provider
//! keys included, never reaches it), leads a process group of its own and is killed with
//! that group when its session is dropped. Every wait here is bounded: connecting, listing
//! and each call have a timeout. Tokens, headers and environment values are never logged.

mod http;
pub mod pool;
mod sse;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use rmcp::RoleClient;
use rmcp::model::{CallToolRequestParams, ContentBlock};
use rmcp::service::{RunningService, ServiceExt as _};
use rmcp::transport::TokioChildProcess;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransport, StreamableHttpClientTransportConfig,
};
use serde_json::{Map, Value};

use crate::schemas::mcp::{McpServer, McpServerConfig, McpServerType, McpTool, auth_pair};

pub use pool::McpPool;

/// The `PATH` a stdio server gets unless its configuration sets one.
const STDIO_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// What a tool answered with when it answered nothing.
const EMPTY_RESULT: &str = "Empty response from tool";

/// Where an MCP server is and how to reach it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum McpTarget {
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
    },
    StreamableHttp {
        url: String,
        headers: BTreeMap<String, String>,
    },
    Sse {
        url: String,
        headers: BTreeMap<String, String>,
    },
}

impl fmt::Debug for McpTarget {
    // Names what is reached, never a header or variable value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            McpTarget::Stdio { command, .. } => write!(f, "stdio command {command:?}"),
            McpTarget::StreamableHttp { url, .. } => write!(f, "streamable HTTP server {url}"),
            McpTarget::Sse { url, .. } => write!(f, "SSE server {url}"),
        }
    }
}

fn remote_headers(
    custom: Option<&BTreeMap<String, String>>,
    auth: Option<(String, String)>,
) -> BTreeMap<String, String> {
    let mut headers = custom.cloned().unwrap_or_default();
    if let Some((name, value)) = auth {
        headers.insert(name, value);
    }
    headers
}

impl McpTarget {
    /// The target a configuration (stored or sent to `test_mcp_server`) describes.
    pub fn from_config(config: &McpServerConfig) -> McpTarget {
        match config {
            McpServerConfig::Stdio(c) => McpTarget::Stdio {
                command: c.command.clone(),
                args: c.args.clone(),
                env: c.env.clone().unwrap_or_default(),
            },
            McpServerConfig::Remote(c) => {
                let auth = c
                    .auth_token
                    .clone()
                    .map(|t| auth_pair(c.auth_header.clone(), t));
                let headers = remote_headers(c.custom_headers.as_ref(), auth);
                let url = c.server_url.clone();
                match c.kind {
                    McpServerType::Sse => McpTarget::Sse { url, headers },
                    _ => McpTarget::StreamableHttp { url, headers },
                }
            }
        }
    }

    pub fn from_server(server: &McpServer) -> McpTarget {
        McpTarget::from_config(&server.to_config())
    }

    /// A digest of everything that decides the connection, so a changed configuration
    /// gets a new session (the digest holds no secret in the clear).
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{DefaultHasher, Hash as _, Hasher as _};
        let mut hasher = DefaultHasher::new();
        self.hash(&mut hasher);
        hasher.finish()
    }
}

/// Why talking to an MCP server failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum McpError {
    /// The server could not be started, reached or initialized.
    #[error("{0}")]
    Connect(String),
    /// The server did not answer in time.
    #[error("{0}")]
    Timeout(String),
    /// The connection ended while a request was waiting (the server crashed or closed it).
    #[error("{0}")]
    Closed(String),
    /// The request could not be sent (the session is stale); nothing reached the server.
    #[error("{0}")]
    Send(String),
    /// The server answered with a JSON-RPC error or an answer that makes no sense.
    #[error("{0}")]
    Protocol(String),
}

impl McpError {
    /// The session cannot be used again.
    pub fn session_is_dead(&self) -> bool {
        matches!(
            self,
            McpError::Closed(_) | McpError::Send(_) | McpError::Timeout(_)
        )
    }
}

/// What a tool call produced: the text the model reads, and whether the server called it
/// an error.
#[derive(Debug, Clone, PartialEq)]
pub struct CallOutcome {
    pub text: String,
    pub is_error: bool,
}

/// One initialized session with a server.
pub struct McpSession {
    service: RunningService<RoleClient, ()>,
}

impl fmt::Debug for McpSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpSession").finish_non_exhaustive()
    }
}

fn header_map(
    headers: &BTreeMap<String, String>,
) -> Result<Vec<(HeaderName, HeaderValue)>, McpError> {
    headers
        .iter()
        .map(|(name, value)| {
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| McpError::Connect(format!("invalid header name {name:?}")))?;
            let v = HeaderValue::from_str(value).map_err(|_| {
                McpError::Connect(format!(
                    "the value of header {name:?} is not a valid header value"
                ))
            })?;
            Ok((n, v))
        })
        .collect()
}

fn http_client(timeout: Duration) -> Result<reqwest::Client, McpError> {
    reqwest::Client::builder()
        .connect_timeout(timeout)
        .build()
        .map_err(|e| McpError::Connect(format!("cannot build an HTTP client: {e}")))
}

fn stdio_command(
    command: &str,
    args: &[String],
    env: &BTreeMap<String, String>,
) -> process_wrap::tokio::CommandWrap {
    let mut cmd = tokio::process::Command::new(command);
    cmd.args(args)
        .env_clear()
        .env("PATH", STDIO_PATH)
        .envs(env)
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let mut wrapped = process_wrap::tokio::CommandWrap::from(cmd);
    wrapped
        .wrap(process_wrap::tokio::ProcessGroup::leader())
        .wrap(process_wrap::tokio::KillOnDrop);
    wrapped
}

impl McpSession {
    /// Starts or reaches the server and runs the MCP handshake, within `timeout`.
    pub async fn connect(target: &McpTarget, timeout: Duration) -> Result<McpSession, McpError> {
        let what = format!("{target:?}");
        let connecting = async {
            match target {
                McpTarget::Stdio { command, args, env } => {
                    if command.trim().is_empty() {
                        return Err(McpError::Connect("the stdio command is empty".into()));
                    }
                    let (process, _) =
                        TokioChildProcess::builder(stdio_command(command, args, env))
                            .stderr(std::process::Stdio::null())
                            .spawn()
                            .map_err(|e| {
                                McpError::Connect(format!(
                                    "cannot start the MCP server command {command:?}: {e}"
                                ))
                            })?;
                    ().serve(process).await.map_err(|e| init_error(&what, e))
                }
                McpTarget::StreamableHttp { url, headers } => {
                    check_url(url)?;
                    let config = StreamableHttpClientTransportConfig::with_uri(url.as_str())
                        .custom_headers(header_map(headers)?.into_iter().collect());
                    let transport = StreamableHttpClientTransport::with_client(
                        http::ReqwestClient(http_client(timeout)?),
                        config,
                    );
                    ().serve(transport).await.map_err(|e| init_error(&what, e))
                }
                McpTarget::Sse { url, headers } => {
                    check_url(url)?;
                    let transport = sse::SseTransport::connect(
                        http_client(timeout)?,
                        url,
                        header_map(headers)?,
                    )
                    .await?;
                    ().serve(transport).await.map_err(|e| init_error(&what, e))
                }
            }
        };
        match tokio::time::timeout(timeout, connecting).await {
            Ok(Ok(service)) => Ok(McpSession { service }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(McpError::Timeout(format!(
                "the MCP {what} did not complete the handshake within {}s",
                timeout.as_secs_f64()
            ))),
        }
    }

    /// The session can take no more requests (the server exited or closed it).
    pub fn is_closed(&self) -> bool {
        self.service.is_closed() || self.service.peer().is_transport_closed()
    }

    /// Every tool the server lists (all pages), within `timeout`.
    pub async fn list_tools(&self, timeout: Duration) -> Result<Vec<McpTool>, McpError> {
        let listing = self.service.peer().list_all_tools();
        let tools = match tokio::time::timeout(timeout, listing).await {
            Ok(result) => result.map_err(service_error)?,
            Err(_) => {
                return Err(McpError::Timeout(format!(
                    "the MCP server did not list its tools within {}s",
                    timeout.as_secs_f64()
                )));
            }
        };
        tools.into_iter().map(wire_tool).collect()
    }

    /// Calls `name` with `args`, within `timeout`.
    pub async fn call_tool(
        &self,
        name: &str,
        args: Map<String, Value>,
        timeout: Duration,
    ) -> Result<CallOutcome, McpError> {
        let params = CallToolRequestParams::new(name.to_owned()).with_arguments(args);
        let call = self.service.peer().call_tool(params);
        let result = match tokio::time::timeout(timeout, call).await {
            Ok(result) => result.map_err(service_error)?,
            Err(_) => {
                return Err(McpError::Timeout(format!(
                    "the MCP server did not answer the call of {name} within {}s",
                    timeout.as_secs_f64()
                )));
            }
        };
        let mut parts: Vec<String> = result.content.iter().map(content_text).collect();
        if parts.is_empty()
            && let Some(structured) = &result.structured_content
        {
            parts.push(structured.to_string());
        }
        let text = if parts.is_empty() {
            EMPTY_RESULT.to_owned()
        } else {
            parts.join(" ")
        };
        Ok(CallOutcome {
            text,
            is_error: result.is_error.unwrap_or(false),
        })
    }
}

fn check_url(url: &str) -> Result<(), McpError> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
        _ => Err(McpError::Connect(format!(
            "the server URL {url:?} is not an http(s) URL"
        ))),
    }
}

fn content_text(block: &ContentBlock) -> String {
    match block.as_text() {
        Some(text) => text.text.clone(),
        None => serde_json::to_string(block).unwrap_or_default(),
    }
}

fn wire_tool(tool: rmcp::model::Tool) -> Result<McpTool, McpError> {
    let value = serde_json::to_value(&tool)
        .map_err(|e| McpError::Protocol(format!("unreadable tool listing: {e}")))?;
    serde_json::from_value(value)
        .map_err(|e| McpError::Protocol(format!("unreadable tool listing: {e}")))
}

fn init_error(what: &str, err: rmcp::service::ClientInitializeError) -> McpError {
    McpError::Connect(format!("the MCP {what} failed the handshake: {err}"))
}

fn service_error(err: rmcp::ServiceError) -> McpError {
    use rmcp::ServiceError as E;
    match err {
        E::McpError(data) => McpError::Protocol(format!(
            "the MCP server answered with an error ({}): {}",
            data.code.0, data.message
        )),
        E::TransportSend(e) => McpError::Send(format!("cannot reach the MCP server: {e}")),
        E::TransportClosed => McpError::Closed(
            "the connection to the MCP server closed before it answered (it may have crashed)"
                .into(),
        ),
        E::Timeout { timeout } => McpError::Timeout(format!(
            "the MCP server did not answer within {}s",
            timeout.as_secs_f64()
        )),
        E::Cancelled { reason } => McpError::Closed(format!(
            "the MCP request was cancelled: {}",
            reason.unwrap_or_default()
        )),
        other => McpError::Protocol(format!("unexpected answer from the MCP server: {other}")),
    }
}
