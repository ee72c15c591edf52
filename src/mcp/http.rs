//! rmcp's streamable HTTP client over this server's reqwest: rmcp drives the protocol
//! (sessions, SSE streams, re-initialization), this file only moves the bytes. Keeping our
//! reqwest (0.12, ring TLS) avoids a second HTTP stack and TLS provider in the build.
//!
//! Header values (tokens among them) are never logged here.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use rmcp::model::{ClientJsonRpcMessage, JsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};
use sse_stream::{Sse, SseStream};

const SESSION_HEADER: &str = "mcp-session-id";
const LAST_EVENT_ID_HEADER: &str = "last-event-id";
const ACCEPT_BOTH: &str = "application/json, text/event-stream";
/// The most a JSON answer (or an error body) may take.
const MAX_BODY_BYTES: usize = 16 << 20;
/// How much of an unusable body an error quotes.
const PREVIEW_CHARS: usize = 200;

/// A reqwest client speaking for rmcp's streamable HTTP transport.
#[derive(Clone)]
pub struct ReqwestClient(pub reqwest::Client);

type Result<T> = std::result::Result<T, StreamableHttpError<reqwest::Error>>;

fn request(
    builder: reqwest::RequestBuilder,
    session_id: Option<&str>,
    auth_header: Option<String>,
    custom_headers: HashMap<HeaderName, HeaderValue>,
) -> reqwest::RequestBuilder {
    let mut builder = builder;
    if let Some(token) = auth_header {
        builder = builder.bearer_auth(token);
    }
    for (name, value) in custom_headers {
        builder = builder.header(name, value);
    }
    if let Some(id) = session_id {
        builder = builder.header(SESSION_HEADER, id);
    }
    builder
}

fn unexpected(message: String) -> StreamableHttpError<reqwest::Error> {
    StreamableHttpError::UnexpectedServerResponse(Cow::Owned(message))
}

/// Reads a whole body, refusing one over [`MAX_BODY_BYTES`].
async fn read_body(response: reqwest::Response) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(StreamableHttpError::Client)?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(StreamableHttpError::ResponseBodyTooLarge {
                max_size: MAX_BODY_BYTES,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn preview(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(PREVIEW_CHARS).collect();
    if text.chars().count() > PREVIEW_CHARS {
        out.push('…');
    }
    if out.trim().is_empty() {
        "<empty>".to_owned()
    } else {
        out
    }
}

fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

fn sse_stream(
    response: reqwest::Response,
) -> BoxStream<'static, std::result::Result<Sse, SseError>> {
    SseStream::from_bytes_stream(response.bytes_stream()).boxed()
}

impl StreamableHttpClient for ReqwestClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse> {
        let builder = self.0.post(uri.as_ref()).header(ACCEPT, ACCEPT_BOTH);
        let builder = request(builder, session_id.as_deref(), auth_header, custom_headers);
        let response = builder
            .json(&message)
            .send()
            .await
            .map_err(StreamableHttpError::Client)?;
        let status = response.status();
        if matches!(status, StatusCode::ACCEPTED | StatusCode::NO_CONTENT) {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        if status == StatusCode::NOT_FOUND && session_id.is_some() {
            return Err(StreamableHttpError::SessionExpired);
        }
        let new_session = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let kind = content_type(&response);
        if status.is_success() && kind.starts_with("text/event-stream") {
            return Ok(StreamableHttpPostResponse::Sse(
                sse_stream(response),
                new_session,
            ));
        }
        let body = read_body(response).await?;
        let parsed = serde_json::from_slice::<ServerJsonRpcMessage>(&body);
        if !status.is_success() {
            // A JSON-RPC error in a failed answer is the server's own word: pass it on.
            if let Ok(message @ JsonRpcMessage::Error(_)) = parsed {
                return Ok(StreamableHttpPostResponse::Json(message, new_session));
            }
            return Err(unexpected(format!(
                "HTTP {status} from the MCP server: {}",
                preview(&body)
            )));
        }
        if body.iter().all(u8::is_ascii_whitespace)
            && !matches!(message, ClientJsonRpcMessage::Request(_))
        {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        match parsed {
            Ok(message) => Ok(StreamableHttpPostResponse::Json(message, new_session)),
            Err(err) => Err(unexpected(format!(
                "the MCP server's answer is not JSON-RPC ({err}): {}",
                preview(&body)
            ))),
        }
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<()> {
        let builder = request(
            self.0.delete(uri.as_ref()),
            Some(&session_id),
            auth_header,
            custom_headers,
        );
        let response = builder.send().await.map_err(StreamableHttpError::Client)?;
        // A server that keeps no sessions may refuse the method; that ends it too.
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Ok(());
        }
        response
            .error_for_status()
            .map(drop)
            .map_err(StreamableHttpError::Client)
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, std::result::Result<Sse, SseError>>> {
        let mut builder = self.0.get(uri.as_ref()).header(ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            builder = builder.header(LAST_EVENT_ID_HEADER, id);
        }
        let builder = request(builder, session_id.as_deref(), auth_header, custom_headers);
        let response = builder.send().await.map_err(StreamableHttpError::Client)?;
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Err(StreamableHttpError::ServerDoesNotSupportSse);
        }
        let response = response
            .error_for_status()
            .map_err(StreamableHttpError::Client)?;
        if !content_type(&response).starts_with("text/event-stream") {
            return Err(StreamableHttpError::UnexpectedContentType(Some(
                content_type(&response),
            )));
        }
        Ok(sse_stream(response))
    }
}
