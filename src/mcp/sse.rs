//! The HTTP+SSE transport of MCP's 2024-11-05 revision, which rmcp no longer ships: the
//! client holds a `GET` event stream open, the server's first `endpoint` event names where
//! to `POST` messages, and the server's messages arrive as `message` events on the stream.

use std::borrow::Cow;
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use reqwest::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue};
use rmcp::RoleClient;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use sse_stream::{Sse, SseStream};

use super::McpError;

/// The longest a POST of one message may take.
const POST_TIMEOUT: Duration = Duration::from_secs(30);

type Events = BoxStream<'static, Result<Sse, sse_stream::Error>>;

pub struct SseTransport {
    client: reqwest::Client,
    post_url: reqwest::Url,
    headers: HeaderMap,
    events: Events,
}

impl SseTransport {
    /// Opens the event stream and waits for the `endpoint` event (the caller bounds the
    /// wait).
    pub async fn connect(
        client: reqwest::Client,
        url: &str,
        headers: Vec<(HeaderName, HeaderValue)>,
    ) -> Result<SseTransport, McpError> {
        let headers: HeaderMap = headers.into_iter().collect();
        let base = reqwest::Url::parse(url)
            .map_err(|e| McpError::Connect(format!("invalid SSE server URL {url:?}: {e}")))?;
        let response = client
            .get(base.clone())
            .headers(headers.clone())
            .header(ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(|e| McpError::Connect(format!("cannot reach the SSE server {url}: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(McpError::Connect(format!(
                "the SSE server {url} answered HTTP {status}"
            )));
        }
        let mut events: Events = SseStream::from_bytes_stream(response.bytes_stream()).boxed();
        loop {
            match events.next().await {
                Some(Ok(event)) if event.event.as_deref() == Some("endpoint") => {
                    let data = event.data.unwrap_or_default();
                    let post_url = base.join(data.trim()).map_err(|e| {
                        McpError::Connect(format!("the SSE server sent an invalid endpoint: {e}"))
                    })?;
                    if post_url.origin() != base.origin() {
                        return Err(McpError::Connect(
                            "the SSE server's endpoint is on another origin".into(),
                        ));
                    }
                    return Ok(SseTransport {
                        client,
                        post_url,
                        headers,
                        events,
                    });
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    return Err(McpError::Connect(format!(
                        "the SSE server's event stream is invalid: {e}"
                    )));
                }
                None => {
                    return Err(McpError::Connect(format!(
                        "the SSE server {url} closed its event stream before naming an endpoint"
                    )));
                }
            }
        }
    }
}

impl Transport<RoleClient> for SseTransport {
    type Error = std::io::Error;

    fn name() -> Cow<'static, str> {
        Cow::Borrowed("mcp-sse")
    }

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let request = self
            .client
            .post(self.post_url.clone())
            .headers(self.headers.clone())
            .timeout(POST_TIMEOUT)
            .json(&item);
        async move {
            let response = request.send().await.map_err(std::io::Error::other)?;
            response
                .error_for_status()
                .map(drop)
                .map_err(std::io::Error::other)
        }
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        loop {
            let event = self.events.next().await?.ok()?;
            if !matches!(event.event.as_deref(), None | Some("message")) {
                continue;
            }
            let Some(data) = event.data else { continue };
            match serde_json::from_str(&data) {
                Ok(message) => return Some(message),
                // Not JSON-RPC: the stream cannot be trusted any more; end the session.
                Err(err) => {
                    tracing::warn!(error = %err, "an MCP SSE server sent an invalid message");
                    return None;
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}
