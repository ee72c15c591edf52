//! A scripted stand-in for LLM providers: a real HTTP server on `127.0.0.1:0` that speaks
//! both chat wire protocols, so agent and provider tests run without the network.
//!
//! Endpoints (paths under the base URL `http://127.0.0.1:PORT/v1`):
//!
//! * `POST /v1/chat/completions`: OpenAI chat completions, plain JSON or SSE when the body
//!   says `"stream": true` (a usage chunk is sent when `stream_options.include_usage` is set,
//!   then `data: [DONE]`);
//! * `POST /v1/messages`: Anthropic Messages, plain JSON or SSE (`event:`/`data:` pairs,
//!   `message_start` … `message_stop`);
//! * `GET /v1/models` and `GET /v1/models/{id}`: the model list (OpenAI shape, which the
//!   Anthropic listing also reads), so agents can be created from `openai/gpt-4o-mini`;
//! * `POST /v1/embeddings`: OpenAI embeddings with deterministic unit vectors (a hashed bag
//!   of words, so texts sharing words are close); `encoding_format: "base64"` is honoured;
//!   [`MockLlm::set_embedding_delay`] makes them slow, [`MockLlm::fail_embeddings`] fail;
//! * `GET /api/tags`: the Ollama model list (use [`MockLlm::root_url`] as the Ollama base).
//!
//! Each chat request is answered by the next [`MockReply`] pushed with [`MockLlm::push`]; when
//! the queue is empty, by the rule set with [`MockLlm::set_rule`]; without either, by a 500
//! whose message says no reply was scripted. The same reply is rendered in whichever
//! protocol (and streaming mode) the request used.
//!
//! ```ignore
//! let llm = MockLlm::start().await;
//! llm.push(MockReply::tool_call("send_message", json!({"message": "hi", "inner_thoughts": "…"})));
//! llm.push(MockReply::status(429).retry_after(1));
//! llm.set_rule(|req| MockReply::text(format!("echo: {}", req.last_user_text().unwrap_or_default())));
//! // … point the server at llm.base_url() …
//! assert_eq!(llm.requests()[0]["tool_choice"], "required");
//! ```

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::{Value, json};

/// Model ids listed by `GET /v1/models` unless [`MockLlm::set_models`] changes them.
pub const DEFAULT_MODELS: &[&str] = &[
    "gpt-4o-mini",
    "gpt-4o",
    "text-embedding-3-small",
    "text-embedding-ada-002",
];

/// Token counts reported when a reply does not set its own with [`MockReply::usage`].
pub const DEFAULT_PROMPT_TOKENS: i64 = 100;
pub const DEFAULT_COMPLETION_TOKENS: i64 = 20;

/// Which endpoint a request reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MockEndpoint {
    /// `POST /v1/chat/completions` (OpenAI protocol).
    ChatCompletions,
    /// `POST /v1/messages` (Anthropic protocol).
    Messages,
    Embeddings,
    Models,
    OllamaTags,
    Other,
}

impl MockEndpoint {
    pub fn is_chat(self) -> bool {
        matches!(self, MockEndpoint::ChatCompletions | MockEndpoint::Messages)
    }
}

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct MockRequest {
    pub endpoint: MockEndpoint,
    #[cfg_attr(
        test,
        expect(dead_code, reason = "part of the mock's API no test uses today")
    )]
    pub method: String,
    /// Path and query, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// The JSON body; `Value::String(raw)` when it was not JSON, `Null` when empty.
    pub body: Value,
    /// 1-based position among all chat requests (0 for other endpoints).
    pub chat_index: usize,
}

impl MockRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn is_anthropic(&self) -> bool {
        self.endpoint == MockEndpoint::Messages
    }

    pub fn is_stream(&self) -> bool {
        self.body["stream"] == json!(true)
    }

    pub fn model(&self) -> Option<&str> {
        self.body["model"].as_str()
    }

    /// The messages array (without Anthropic's top-level `system`).
    pub fn messages(&self) -> Vec<Value> {
        self.body["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Names of the tools offered, in either protocol's shape.
    pub fn tool_names(&self) -> Vec<String> {
        self.body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["function"]["name"].as_str().or(t["name"].as_str()))
            .map(str::to_owned)
            .collect()
    }

    /// The text of the last user turn that has text (tool-result-only turns are skipped).
    pub fn last_user_text(&self) -> Option<String> {
        self.messages()
            .iter()
            .rev()
            .filter(|m| m["role"] == "user")
            .find_map(|m| text_of(&m["content"]))
    }

    /// The system prompt: OpenAI's first `system`/`developer` message or Anthropic's `system`.
    pub fn system_text(&self) -> Option<String> {
        if let Some(system) = text_of(&self.body["system"]) {
            return Some(system);
        }
        self.messages()
            .iter()
            .find(|m| m["role"] == "system" || m["role"] == "developer")
            .and_then(|m| text_of(&m["content"]))
    }
}

/// Text of a message content: a string, or the `text` parts/blocks joined.
fn text_of(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter(|p| p["type"] == "text")
                .filter_map(|p| p["text"].as_str())
                .collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        _ => None,
    }
}

/// A tool call in a scripted reply.
#[derive(Debug, Clone, PartialEq)]
pub struct MockToolCall {
    /// `None`: a fresh id in the protocol's style (`call_…` / `toolu_…`).
    pub id: Option<String>,
    pub name: String,
    /// The arguments exactly as sent (normally JSON text).
    pub arguments: String,
}

#[derive(Debug, Clone, PartialEq)]
enum ReplyKind {
    Message {
        content: Option<String>,
        /// `(text, signature)`: OpenAI-compatible `reasoning_content` / Anthropic thinking.
        reasoning: Option<(String, Option<String>)>,
        /// Anthropic `redacted_thinking` data.
        redacted: Option<String>,
        tool_calls: Vec<MockToolCall>,
    },
    /// An error status with the provider-shaped error body.
    Status {
        status: u16,
        message: Option<String>,
        error_type: Option<String>,
    },
    /// Status 200 with a body that is not valid JSON (or a broken SSE event when streaming).
    Malformed,
    /// A verbatim body.
    Raw {
        status: u16,
        content_type: String,
        body: String,
    },
    /// Headers, then the connection is cut before any body byte.
    Disconnect,
}

/// A scripted answer to one chat request. Build with a constructor, refine with the
/// chainable setters; it is rendered in the protocol and streaming mode of the request.
#[derive(Debug, Clone, PartialEq)]
pub struct MockReply {
    kind: ReplyKind,
    usage: Option<(i64, i64)>,
    finish_reason: Option<String>,
    retry_after: Option<String>,
    delay: Duration,
    chunk_delay: Duration,
    drop_after: Option<usize>,
    stream_error_after: Option<(usize, String, String)>,
    chunk_chars: usize,
}

impl MockReply {
    fn new(kind: ReplyKind) -> Self {
        MockReply {
            kind,
            usage: None,
            finish_reason: None,
            retry_after: None,
            delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            drop_after: None,
            stream_error_after: None,
            chunk_chars: 7,
        }
    }

    fn empty_message() -> Self {
        Self::new(ReplyKind::Message {
            content: None,
            reasoning: None,
            redacted: None,
            tool_calls: Vec::new(),
        })
    }

    /// A plain assistant text answer.
    pub fn text(text: impl Into<String>) -> Self {
        Self::empty_message().with_text(text)
    }

    /// One tool call with these JSON arguments (serialized compactly). The tool need not
    /// exist: naming an unknown tool is how tests script a hallucinated call.
    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Self {
        Self::empty_message().and_tool_call(name, arguments)
    }

    /// One tool call whose arguments are sent verbatim (e.g. invalid JSON).
    pub fn tool_call_raw(name: impl Into<String>, arguments: impl Into<String>) -> Self {
        Self::empty_message().and_tool_call_raw(name, arguments)
    }

    /// Several tool calls in one answer (parallel tool calls).
    #[cfg_attr(
        test,
        expect(dead_code, reason = "part of the mock's API no test uses today")
    )]
    pub fn tool_calls<N: Into<String>>(calls: impl IntoIterator<Item = (N, Value)>) -> Self {
        calls
            .into_iter()
            .fold(Self::empty_message(), |r, (n, a)| r.and_tool_call(n, a))
    }

    /// An error answer with the provider's error body, e.g. `status(429).retry_after(1)`,
    /// `status(500)`, `status(401)`.
    pub fn status(status: u16) -> Self {
        Self::new(ReplyKind::Status {
            status,
            message: None,
            error_type: None,
        })
    }

    /// An error answer with this message in the provider's error body.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Self::status(status).message(message)
    }

    /// The provider's "prompt too long" 400 (OpenAI `context_length_exceeded`, Anthropic
    /// `prompt is too long`).
    pub fn context_length_exceeded() -> Self {
        Self::new(ReplyKind::Status {
            status: 400,
            message: None,
            error_type: Some("context_length_exceeded".to_owned()),
        })
    }

    /// A 200 whose body is not JSON (streaming: an SSE event whose data is not JSON).
    pub fn malformed() -> Self {
        Self::new(ReplyKind::Malformed)
    }

    /// A verbatim answer.
    pub fn raw(status: u16, content_type: impl Into<String>, body: impl Into<String>) -> Self {
        Self::new(ReplyKind::Raw {
            status,
            content_type: content_type.into(),
            body: body.into(),
        })
    }

    /// Status 200 headers, then the connection is cut before any body.
    pub fn disconnect() -> Self {
        Self::new(ReplyKind::Disconnect)
    }

    // ---- refinements ----

    /// Sets (or replaces) the assistant text.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        if let ReplyKind::Message { content, .. } = &mut self.kind {
            *content = Some(text.into());
        }
        self
    }

    /// Adds a tool call.
    pub fn and_tool_call(self, name: impl Into<String>, arguments: Value) -> Self {
        self.and_tool_call_raw(name, arguments.to_string())
    }

    /// Adds a tool call with verbatim arguments.
    pub fn and_tool_call_raw(
        mut self,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        if let ReplyKind::Message { tool_calls, .. } = &mut self.kind {
            tool_calls.push(MockToolCall {
                id: None,
                name: name.into(),
                arguments: arguments.into(),
            });
        }
        self
    }

    /// Fixes the id of the last tool call added.
    pub fn with_call_id(mut self, id: impl Into<String>) -> Self {
        if let ReplyKind::Message { tool_calls, .. } = &mut self.kind
            && let Some(call) = tool_calls.last_mut()
        {
            call.id = Some(id.into());
        }
        self
    }

    /// Native reasoning: Anthropic `thinking` (with `signature`), OpenAI-compatible
    /// `reasoning_content` (signature ignored).
    pub fn with_reasoning(mut self, text: impl Into<String>, signature: Option<&str>) -> Self {
        if let ReplyKind::Message { reasoning, .. } = &mut self.kind {
            *reasoning = Some((text.into(), signature.map(str::to_owned)));
        }
        self
    }

    /// An Anthropic `redacted_thinking` block (ignored in the OpenAI protocol).
    pub fn with_redacted_reasoning(mut self, data: impl Into<String>) -> Self {
        if let ReplyKind::Message { redacted, .. } = &mut self.kind {
            *redacted = Some(data.into());
        }
        self
    }

    /// Reported token usage (prompt/input, completion/output).
    pub fn usage(mut self, prompt_tokens: i64, completion_tokens: i64) -> Self {
        self.usage = Some((prompt_tokens, completion_tokens));
        self
    }

    /// Overrides the finish/stop reason (default: `tool_calls`/`tool_use` when the answer has
    /// tool calls, else `stop`/`end_turn`).
    #[cfg_attr(
        test,
        expect(dead_code, reason = "part of the mock's API no test uses today")
    )]
    pub fn finish_reason(mut self, reason: impl Into<String>) -> Self {
        self.finish_reason = Some(reason.into());
        self
    }

    /// Adds a `Retry-After: <secs>` header (meant for error statuses).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.to_string());
        self
    }

    /// Adds a verbatim `Retry-After` header value.
    pub fn retry_after_raw(mut self, value: impl Into<String>) -> Self {
        self.retry_after = Some(value.into());
        self
    }

    /// The message of an error reply.
    pub fn message(mut self, text: impl Into<String>) -> Self {
        if let ReplyKind::Status { message, .. } = &mut self.kind {
            *message = Some(text.into());
        }
        self
    }

    /// The `type` of an error reply (default: the provider's type for the status).
    #[cfg_attr(
        test,
        expect(dead_code, reason = "part of the mock's API no test uses today")
    )]
    pub fn error_type(mut self, kind: impl Into<String>) -> Self {
        if let ReplyKind::Status { error_type, .. } = &mut self.kind {
            *error_type = Some(kind.into());
        }
        self
    }

    /// Waits this long before answering at all (before the status line).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Streaming: waits this long before each SSE event (a slow stream).
    pub fn chunk_delay(mut self, delay: Duration) -> Self {
        self.chunk_delay = delay;
        self
    }

    /// Streaming: sends `events` SSE events, then cuts the connection.
    pub fn drop_after(mut self, events: usize) -> Self {
        self.drop_after = Some(events);
        self
    }

    /// Streaming: sends `events` SSE events, then the provider's in-stream error event
    /// (Anthropic `event: error`, OpenAI `data: {"error":…}`) and ends the stream.
    pub fn stream_error_after(
        mut self,
        events: usize,
        error_type: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.stream_error_after = Some((events, error_type.into(), message.into()));
        self
    }

    /// Streaming: length in characters of the pieces text and arguments are split into
    /// (default 7).
    pub fn chunk_chars(mut self, chars: usize) -> Self {
        self.chunk_chars = chars.max(1);
        self
    }
}

type Rule = Arc<dyn Fn(&MockRequest) -> MockReply + Send + Sync>;

struct Shared {
    queue: Mutex<VecDeque<MockReply>>,
    rule: Mutex<Option<Rule>>,
    received: Mutex<Vec<MockRequest>>,
    models: Mutex<Vec<String>>,
    embedding_dim: Mutex<Option<usize>>,
    /// Statuses the next embedding requests fail with, first queued first used.
    embedding_failures: Mutex<VecDeque<u16>>,
    /// How long every embedding request takes before it is answered (a slow provider).
    embedding_delay: Mutex<Duration>,
    /// When set, requests without this key (bearer or `x-api-key`) get a 401.
    required_key: Mutex<Option<String>>,
    seq: AtomicU64,
}

/// Aborts the server task when the last handle goes away.
struct ServerTask(tokio::task::JoinHandle<()>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The running mock; cheap to clone (clones share the server and its script).
#[derive(Clone)]
pub struct MockLlm {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _task: Arc<ServerTask>,
}

impl MockLlm {
    /// Starts a server on `127.0.0.1:0` with an empty script and [`DEFAULT_MODELS`].
    pub async fn start() -> MockLlm {
        Self::start_on(0).await
    }

    /// Starts on a given loopback port (0: any free port).
    pub async fn start_on(port: u16) -> MockLlm {
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            rule: Mutex::new(None),
            received: Mutex::new(Vec::new()),
            models: Mutex::new(DEFAULT_MODELS.iter().map(|m| (*m).to_owned()).collect()),
            embedding_dim: Mutex::new(None),
            embedding_failures: Mutex::new(VecDeque::new()),
            embedding_delay: Mutex::new(Duration::ZERO),
            required_key: Mutex::new(None),
            seq: AtomicU64::new(0),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the mock LLM");
        let addr = listener.local_addr().expect("mock LLM address");
        // Streams are many small writes: without TCP_NODELAY they wait on delayed ACKs.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        MockLlm {
            addr,
            shared,
            _task: Arc::new(ServerTask(task)),
        }
    }

    /// `http://127.0.0.1:PORT/v1`: the OpenAI/Anthropic base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://127.0.0.1:PORT`: the Ollama base URL.
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    #[cfg_attr(
        test,
        expect(dead_code, reason = "part of the mock's API no test uses today")
    )]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues the answer to a future chat request (first pushed, first used).
    pub fn push(&self, reply: MockReply) -> &Self {
        self.shared.queue.lock().unwrap().push_back(reply);
        self
    }

    /// Queues several answers in order.
    #[cfg_attr(
        test,
        expect(dead_code, reason = "part of the mock's API no test uses today")
    )]
    pub fn push_all(&self, replies: impl IntoIterator<Item = MockReply>) -> &Self {
        self.shared.queue.lock().unwrap().extend(replies);
        self
    }

    /// Queues the same answer `times` times.
    pub fn push_repeated(&self, reply: MockReply, times: usize) -> &Self {
        let mut queue = self.shared.queue.lock().unwrap();
        for _ in 0..times {
            queue.push_back(reply.clone());
        }
        drop(queue);
        self
    }

    /// Answers chat requests with `rule` whenever the queue is empty.
    pub fn set_rule(
        &self,
        rule: impl Fn(&MockRequest) -> MockReply + Send + Sync + 'static,
    ) -> &Self {
        *self.shared.rule.lock().unwrap() = Some(Arc::new(rule));
        self
    }

    pub fn clear_rule(&self) -> &Self {
        *self.shared.rule.lock().unwrap() = None;
        self
    }

    /// Answers not yet used.
    pub fn pending(&self) -> usize {
        self.shared.queue.lock().unwrap().len()
    }

    /// The model ids `GET /v1/models` and `GET /api/tags` list.
    #[cfg_attr(
        test,
        expect(dead_code, reason = "part of the mock's API no test uses today")
    )]
    pub fn set_models<S: Into<String>>(&self, ids: impl IntoIterator<Item = S>) -> &Self {
        *self.shared.models.lock().unwrap() = ids.into_iter().map(Into::into).collect();
        self
    }

    /// Forces the embedding dimension (default: the request's `dimensions`, else 3072 for
    /// `text-embedding-3-large`, else 1536).
    #[cfg_attr(
        test,
        expect(dead_code, reason = "part of the mock's API no test uses today")
    )]
    pub fn set_embedding_dim(&self, dim: usize) -> &Self {
        *self.shared.embedding_dim.lock().unwrap() = Some(dim);
        self
    }

    /// Makes the next `times` embedding requests fail with `status` (an OpenAI-shaped error
    /// body), before any later scripted failure.
    pub fn fail_embeddings(&self, status: u16, times: usize) -> &Self {
        let mut failures = self.shared.embedding_failures.lock().unwrap();
        failures.extend(std::iter::repeat_n(status, times));
        drop(failures);
        self
    }

    /// Makes every embedding request take `delay` before it is answered (or fails).
    pub fn set_embedding_delay(&self, delay: Duration) -> &Self {
        *self.shared.embedding_delay.lock().unwrap() = delay;
        self
    }

    /// Answers 401 (an OpenAI-shaped error) to every request not carrying `key` as a bearer
    /// token or `x-api-key`, as a provider refusing a key does.
    pub fn require_key(&self, key: impl Into<String>) -> &Self {
        *self.shared.required_key.lock().unwrap() = Some(key.into());
        self
    }

    /// Bodies of the chat requests received (both protocols), in arrival order.
    pub fn requests(&self) -> Vec<Value> {
        self.chat_requests().into_iter().map(|r| r.body).collect()
    }

    /// Number of chat requests received.
    pub fn request_count(&self) -> usize {
        self.chat_requests().len()
    }

    /// The last chat request's body.
    pub fn last_request(&self) -> Option<Value> {
        self.chat_requests().pop().map(|r| r.body)
    }

    /// The chat requests with their paths and headers.
    pub fn chat_requests(&self) -> Vec<MockRequest> {
        self.received()
            .into_iter()
            .filter(|r| r.endpoint.is_chat())
            .collect()
    }

    /// Bodies of the embedding requests received.
    pub fn embedding_requests(&self) -> Vec<Value> {
        self.received()
            .into_iter()
            .filter(|r| r.endpoint == MockEndpoint::Embeddings)
            .map(|r| r.body)
            .collect()
    }

    /// Every request received, any endpoint.
    pub fn received(&self) -> Vec<MockRequest> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Forgets the recorded requests (the script is kept).
    pub fn clear_requests(&self) {
        self.shared.received.lock().unwrap().clear();
    }

    /// The vector `POST /v1/embeddings` returns for `text` at dimension `dim`.
    pub fn embedding_for(text: &str, dim: usize) -> Vec<f32> {
        embed(text, dim)
    }
}

// ---- serving ----

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| uri.path().to_owned());
    let route = uri.path().trim_end_matches('/');
    let endpoint = match (&method, route) {
        (&Method::POST, "/v1/chat/completions" | "/chat/completions") => {
            MockEndpoint::ChatCompletions
        }
        (&Method::POST, "/v1/messages" | "/messages") => MockEndpoint::Messages,
        (&Method::POST, "/v1/embeddings" | "/embeddings") => MockEndpoint::Embeddings,
        (&Method::GET, r) if r == "/v1/models" || r.starts_with("/v1/models/") => {
            MockEndpoint::Models
        }
        (&Method::GET, "/api/tags") => MockEndpoint::OllamaTags,
        _ => MockEndpoint::Other,
    };
    let parsed = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
    };
    let mut request = MockRequest {
        endpoint,
        method: method.to_string(),
        path,
        headers: headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: parsed,
        chat_index: 0,
    };
    {
        let mut received = shared.received.lock().unwrap();
        if endpoint.is_chat() {
            request.chat_index = received.iter().filter(|r| r.endpoint.is_chat()).count() + 1;
        }
        received.push(request.clone());
    }
    let required = shared.required_key.lock().unwrap().clone();
    if let Some(key) = required
        && request.header("authorization") != Some(format!("Bearer {key}").as_str())
        && request.header("x-api-key") != Some(key.as_str())
    {
        return json_response(401, &openai_error(401, None, None));
    }
    match endpoint {
        MockEndpoint::ChatCompletions | MockEndpoint::Messages => chat(&shared, &request).await,
        MockEndpoint::Embeddings => {
            let delay = *shared.embedding_delay.lock().unwrap();
            tokio::time::sleep(delay).await;
            embeddings(&shared, &request)
        }
        MockEndpoint::Models => models(&shared, route),
        MockEndpoint::OllamaTags => {
            let models = shared.models.lock().unwrap().clone();
            let list: Vec<Value> = models
                .iter()
                .map(|m| json!({"name": m, "model": m, "details": {"family": if m.contains("embed") { "bert" } else { "llama" }}}))
                .collect();
            json_response(200, &json!({ "models": list }))
        }
        MockEndpoint::Other => json_response(
            404,
            &json!({"error": {"message": format!("mock LLM: no route for {method} {}", uri.path()), "type": "invalid_request_error"}}),
        ),
    }
}

fn json_response(status: u16, body: &Value) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("response")
}

fn models(shared: &Shared, route: &str) -> Response {
    let ids = shared.models.lock().unwrap().clone();
    let entry = |id: &str| json!({"id": id, "object": "model", "created": 1_700_000_000, "owned_by": "system", "type": "model", "display_name": id});
    if let Some(id) = route.strip_prefix("/v1/models/") {
        return match ids.iter().find(|m| *m == id) {
            Some(m) => json_response(200, &entry(m)),
            None => json_response(
                404,
                &json!({"error": {"message": format!("The model `{id}` does not exist"), "type": "invalid_request_error"}}),
            ),
        };
    }
    let data: Vec<Value> = ids.iter().map(|m| entry(m)).collect();
    json_response(
        200,
        &json!({"object": "list", "data": data, "has_more": false, "first_id": ids.first(), "last_id": ids.last()}),
    )
}

fn embeddings(shared: &Shared, request: &MockRequest) -> Response {
    let failure = shared.embedding_failures.lock().unwrap().pop_front();
    if let Some(status) = failure {
        return json_response(
            status,
            &json!({"error": {"message": format!("mock LLM: scripted embedding failure ({status})"), "type": "server_error"}}),
        );
    }
    let body = &request.body;
    let model = body["model"]
        .as_str()
        .unwrap_or("text-embedding-3-small")
        .to_owned();
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| i.to_string())
            })
            .collect(),
        _ => {
            return json_response(
                400,
                &json!({"error": {"message": "'input' is a required property", "type": "invalid_request_error"}}),
            );
        }
    };
    let forced = *shared.embedding_dim.lock().unwrap();
    let dim = forced
        .or_else(|| body["dimensions"].as_u64().map(|d| d as usize))
        .unwrap_or(if model.contains("3-large") {
            3072
        } else {
            1536
        })
        .max(1);
    let base64 = body["encoding_format"] == "base64";
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let vector = embed(text, dim);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|v| v.to_le_bytes()).collect();
                Value::String(base64_encode(&bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let tokens: usize = inputs
        .iter()
        .map(|t| t.split_whitespace().count().max(1))
        .sum();
    json_response(
        200,
        &json!({"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
    )
}

/// A hashed bag of words, normalised: identical texts give identical vectors, texts that
/// share words give close ones.
fn embed(text: &str, dim: usize) -> Vec<f32> {
    let mut v = vec![0f32; dim.max(1)];
    let mut any = false;
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        any = true;
        let h = fnv1a(word.to_lowercase().as_bytes());
        let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
        v[(h % dim as u64) as usize] += sign;
        v[((h >> 20) % dim as u64) as usize] += 0.5 * sign;
    }
    if !any {
        v[0] = 1.0;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    } else {
        v[0] = 1.0;
    }
    v
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

async fn chat(shared: &Shared, request: &MockRequest) -> Response {
    let scripted = shared.queue.lock().unwrap().pop_front();
    let reply = match scripted {
        Some(reply) => reply,
        None => {
            let rule = shared.rule.lock().unwrap().clone();
            match rule {
                Some(rule) => rule(request),
                None => MockReply::error(
                    500,
                    format!(
                        "mock LLM: no reply scripted for chat request #{}",
                        request.chat_index
                    ),
                ),
            }
        }
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let seq = shared.seq.fetch_add(1, Ordering::SeqCst) + 1;
    let anthropic = request.is_anthropic();
    let model = request.model().unwrap_or("mock-model").to_owned();
    let mut response = match &reply.kind {
        ReplyKind::Status {
            status,
            message,
            error_type,
        } => {
            let body = if anthropic {
                anthropic_error(*status, message.as_deref(), error_type.as_deref())
            } else {
                openai_error(*status, message.as_deref(), error_type.as_deref())
            };
            json_response(*status, &body)
        }
        ReplyKind::Raw {
            status,
            content_type,
            body,
        } => Response::builder()
            .status(StatusCode::from_u16(*status).unwrap_or(StatusCode::OK))
            .header("content-type", content_type.as_str())
            .body(Body::from(body.clone()))
            .expect("response"),
        ReplyKind::Disconnect => {
            let stream = futures_util::stream::once(async {
                tokio::time::sleep(FLUSH_PAUSE).await;
                Err::<Bytes, std::io::Error>(cut_error("mock LLM cut the connection"))
            });
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(Body::from_stream(stream))
                .expect("response")
        }
        ReplyKind::Malformed if !request.is_stream() => Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(Body::from(if anthropic {
                r#"{"id": "msg_broken", "type": "message", "content": [{"type": "text", "te"#
            } else {
                r#"{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"#
            }))
            .expect("response"),
        ReplyKind::Malformed => sse_response(
            &reply,
            vec![if anthropic {
                "event: message_start\ndata: {\"type\": \"message_start\", \"message\": {\n\n"
                    .to_owned()
            } else {
                "data: {\"id\": \"chatcmpl-broken\", \"choices\": [{\n\n".to_owned()
            }],
        ),
        ReplyKind::Message { .. } => {
            let message = Rendered::new(&reply, seq, anthropic);
            match (anthropic, request.is_stream()) {
                (false, false) => json_response(200, &message.openai_body(&model)),
                (true, false) => json_response(200, &message.anthropic_body(&model)),
                (false, true) => {
                    let usage = request.body["stream_options"]["include_usage"] == json!(true);
                    sse_response(
                        &reply,
                        message.openai_events(&model, usage, reply.chunk_chars),
                    )
                }
                (true, true) => {
                    sse_response(&reply, message.anthropic_events(&model, reply.chunk_chars))
                }
            }
        }
    };
    if let Some(value) = &reply.retry_after
        && let Ok(value) = value.parse()
    {
        response.headers_mut().insert("retry-after", value);
    }
    response
}

fn openai_error(status: u16, message: Option<&str>, error_type: Option<&str>) -> Value {
    if error_type == Some("context_length_exceeded") {
        return json!({"error": {
            "message": message.unwrap_or("This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens. Please reduce the length of the messages."),
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded"
        }});
    }
    let (kind, default) = match status {
        400 => ("invalid_request_error", "Invalid request."),
        401 => ("invalid_request_error", "Incorrect API key provided."),
        403 => ("permission_error", "You are not allowed to use this model."),
        404 => ("invalid_request_error", "The model does not exist."),
        429 => (
            "rate_limit_exceeded",
            "Rate limit reached. Please try again later.",
        ),
        500..=599 => (
            "server_error",
            "The server had an error while processing your request.",
        ),
        _ => ("invalid_request_error", "Request failed."),
    };
    json!({"error": {
        "message": message.unwrap_or(default),
        "type": error_type.unwrap_or(kind),
        "param": null,
        "code": null
    }})
}

fn anthropic_error(status: u16, message: Option<&str>, error_type: Option<&str>) -> Value {
    if error_type == Some("context_length_exceeded") {
        return json!({"type": "error", "error": {
            "type": "invalid_request_error",
            "message": message.unwrap_or("prompt is too long: 215000 tokens > 200000 maximum")
        }});
    }
    let (kind, default) = match status {
        400 => ("invalid_request_error", "Invalid request."),
        401 => ("authentication_error", "invalid x-api-key"),
        403 => (
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
        ),
        404 => (
            "not_found_error",
            "The requested resource could not be found.",
        ),
        413 => (
            "request_too_large",
            "Request exceeds the maximum allowed number of bytes.",
        ),
        429 => (
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit.",
        ),
        529 => ("overloaded_error", "Overloaded"),
        500..=599 => ("api_error", "Internal server error"),
        _ => ("invalid_request_error", "Request failed."),
    };
    json!({"type": "error", "error": {
        "type": error_type.unwrap_or(kind),
        "message": message.unwrap_or(default)
    }})
}

/// How long a cut waits so that everything sent before it is flushed to the client (a body
/// error otherwise aborts the connection with the buffered bytes, even the status line).
const FLUSH_PAUSE: Duration = Duration::from_millis(50);

fn cut_error(message: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionAborted, message.to_owned())
}

/// An SSE body: `frames` (each a complete `…\n\n` event) with the reply's pacing, cut or
/// in-stream error.
fn sse_response(reply: &MockReply, mut frames: Vec<String>) -> Response {
    let delay = reply.chunk_delay;
    if let Some((after, kind, message)) = &reply.stream_error_after {
        frames.truncate(*after);
        let anthropic = frames.first().is_some_and(|f| f.starts_with("event:"));
        frames.push(if anthropic {
            format!(
                "event: error\ndata: {}\n\n",
                json!({"type": "error", "error": {"type": kind, "message": message}})
            )
        } else {
            format!(
                "data: {}\n\n",
                json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
            )
        });
    }
    let cut = reply.drop_after.map(|n| n.min(frames.len()));
    if let Some(n) = cut {
        frames.truncate(n);
    }
    let items = frames
        .into_iter()
        .map(|f| Ok::<Bytes, std::io::Error>(Bytes::from(f)))
        .chain(cut.map(|_| Err(cut_error("mock LLM dropped the stream"))));
    let stream = futures_util::stream::iter(items).then(move |item| async move {
        let pause = match &item {
            // Lets what was sent reach the client before the connection goes.
            Err(_) => delay.max(FLUSH_PAUSE),
            Ok(_) => delay,
        };
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        item
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/event-stream; charset=utf-8")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(stream))
        .expect("response")
}

/// A message reply with its ids fixed, ready to render in either protocol.
struct Rendered {
    id: String,
    content: Option<String>,
    reasoning: Option<(String, Option<String>)>,
    redacted: Option<String>,
    calls: Vec<(String, String, String)>,
    prompt_tokens: i64,
    completion_tokens: i64,
    finish_reason: Option<String>,
}

impl Rendered {
    fn new(reply: &MockReply, seq: u64, anthropic: bool) -> Self {
        let ReplyKind::Message {
            content,
            reasoning,
            redacted,
            tool_calls,
        } = &reply.kind
        else {
            unreachable!("only message replies are rendered")
        };
        let calls = tool_calls
            .iter()
            .map(|c| {
                let id = c.id.clone().unwrap_or_else(|| {
                    let hex = uuid::Uuid::new_v4().simple().to_string();
                    if anthropic {
                        format!("toolu_01{}", &hex[..22])
                    } else {
                        format!("call_{}", &hex[..24])
                    }
                });
                (id, c.name.clone(), c.arguments.clone())
            })
            .collect();
        let (prompt_tokens, completion_tokens) = reply
            .usage
            .unwrap_or((DEFAULT_PROMPT_TOKENS, DEFAULT_COMPLETION_TOKENS));
        Rendered {
            id: if anthropic {
                format!("msg_mock{seq:016}")
            } else {
                format!("chatcmpl-mock{seq:016}")
            },
            content: content.clone(),
            reasoning: reasoning.clone(),
            redacted: redacted.clone(),
            calls,
            prompt_tokens,
            completion_tokens,
            finish_reason: reply.finish_reason.clone(),
        }
    }

    fn openai_finish(&self) -> String {
        self.finish_reason.clone().unwrap_or_else(|| {
            if self.calls.is_empty() {
                "stop"
            } else {
                "tool_calls"
            }
            .to_owned()
        })
    }

    fn anthropic_stop(&self) -> String {
        self.finish_reason.clone().unwrap_or_else(|| {
            if self.calls.is_empty() {
                "end_turn"
            } else {
                "tool_use"
            }
            .to_owned()
        })
    }

    fn openai_usage(&self) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens
        })
    }

    fn openai_body(&self, model: &str) -> Value {
        let mut message = json!({"role": "assistant", "content": self.content, "refusal": null});
        if let Some((text, _)) = &self.reasoning {
            message["reasoning_content"] = json!(text);
        }
        if !self.calls.is_empty() {
            message["tool_calls"] = Value::Array(
                self.calls
                    .iter()
                    .map(|(id, name, args)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}}))
                    .collect(),
            );
        }
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": self.openai_finish()}],
            "usage": self.openai_usage(),
            "system_fingerprint": "fp_mock"
        })
    }

    fn openai_events(&self, model: &str, include_usage: bool, piece: usize) -> Vec<String> {
        let chunk = |delta: Value, finish: Option<String>| {
            let mut c = json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": model,
                "system_fingerprint": "fp_mock",
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
            });
            if include_usage {
                c["usage"] = Value::Null;
            }
            format!("data: {c}\n\n")
        };
        let mut frames = Vec::new();
        let first_content = if self.calls.is_empty() || self.content.is_some() {
            json!("")
        } else {
            Value::Null
        };
        frames.push(chunk(
            json!({"role": "assistant", "content": first_content, "refusal": null}),
            None,
        ));
        if let Some((text, _)) = &self.reasoning {
            for p in split(text, piece) {
                frames.push(chunk(json!({"reasoning_content": p}), None));
            }
        }
        if let Some(text) = &self.content {
            for p in split(text, piece) {
                frames.push(chunk(json!({"content": p}), None));
            }
        }
        for (index, (id, name, args)) in self.calls.iter().enumerate() {
            frames.push(chunk(
                json!({"tool_calls": [{"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}),
                None,
            ));
            for p in split(args, piece) {
                frames.push(chunk(
                    json!({"tool_calls": [{"index": index, "function": {"arguments": p}}]}),
                    None,
                ));
            }
        }
        frames.push(chunk(json!({}), Some(self.openai_finish())));
        if include_usage {
            let usage = json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": model,
                "system_fingerprint": "fp_mock",
                "choices": [],
                "usage": self.openai_usage()
            });
            frames.push(format!("data: {usage}\n\n"));
        }
        frames.push("data: [DONE]\n\n".to_owned());
        frames
    }

    fn anthropic_blocks(&self) -> Vec<Value> {
        let mut blocks = Vec::new();
        if let Some((text, signature)) = &self.reasoning {
            blocks.push(json!({"type": "thinking", "thinking": text, "signature": signature.clone().unwrap_or_default()}));
        }
        if let Some(data) = &self.redacted {
            blocks.push(json!({"type": "redacted_thinking", "data": data}));
        }
        if let Some(text) = &self.content {
            blocks.push(json!({"type": "text", "text": text}));
        }
        for (id, name, args) in &self.calls {
            let input: Value = serde_json::from_str(args).unwrap_or_else(|_| json!(args));
            blocks.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
        }
        blocks
    }

    fn anthropic_body(&self, model: &str) -> Value {
        json!({
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": self.anthropic_blocks(),
            "stop_reason": self.anthropic_stop(),
            "stop_sequence": null,
            "usage": {"input_tokens": self.prompt_tokens, "output_tokens": self.completion_tokens}
        })
    }

    fn anthropic_events(&self, model: &str, piece: usize) -> Vec<String> {
        let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
        let mut frames = vec![event(
            "message_start",
            json!({"type": "message_start", "message": {
                "id": self.id, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": self.prompt_tokens, "output_tokens": 1}
            }}),
        )];
        let mut index = 0;
        let mut block = |frames: &mut Vec<String>, start: Value, deltas: Vec<Value>| {
            frames.push(event(
                "content_block_start",
                json!({"type": "content_block_start", "index": index, "content_block": start}),
            ));
            if index == 0 {
                frames.push(event("ping", json!({"type": "ping"})));
            }
            for delta in deltas {
                frames.push(event(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index, "delta": delta}),
                ));
            }
            frames.push(event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            ));
            index += 1;
        };
        if let Some((text, signature)) = &self.reasoning {
            let mut deltas: Vec<Value> = split(text, piece)
                .into_iter()
                .map(|p| json!({"type": "thinking_delta", "thinking": p}))
                .collect();
            if let Some(signature) = signature {
                deltas.push(json!({"type": "signature_delta", "signature": signature}));
            }
            block(
                &mut frames,
                json!({"type": "thinking", "thinking": ""}),
                deltas,
            );
        }
        if let Some(data) = &self.redacted {
            block(
                &mut frames,
                json!({"type": "redacted_thinking", "data": data}),
                Vec::new(),
            );
        }
        if let Some(text) = &self.content {
            let deltas = split(text, piece)
                .into_iter()
                .map(|p| json!({"type": "text_delta", "text": p}))
                .collect();
            block(&mut frames, json!({"type": "text", "text": ""}), deltas);
        }
        for (id, name, args) in &self.calls {
            let deltas = split(args, piece)
                .into_iter()
                .map(|p| json!({"type": "input_json_delta", "partial_json": p}))
                .collect();
            block(
                &mut frames,
                json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                deltas,
            );
        }
        frames.push(event(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": self.anthropic_stop(), "stop_sequence": null}, "usage": {"output_tokens": self.completion_tokens}}),
        ));
        frames.push(event("message_stop", json!({"type": "message_stop"})));
        frames
    }
}

/// `text` in pieces of `chars` characters (at least one piece, possibly empty).
fn split(text: &str, chars: usize) -> Vec<String> {
    let chars_vec: Vec<char> = text.chars().collect();
    if chars_vec.is_empty() {
        return vec![String::new()];
    }
    chars_vec
        .chunks(chars.max(1))
        .map(|c| c.iter().collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn post(url: String, body: Value) -> (u16, HeaderMap, String) {
        let resp = reqwest::Client::new()
            .post(url)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.text().await.unwrap_or_default())
    }

    #[tokio::test]
    async fn openai_non_streaming_tool_call_and_recording() {
        let llm = MockLlm::start().await;
        llm.push(
            MockReply::tool_call("send_message", json!({"message": "hi"}))
                .with_call_id("call_1")
                .usage(11, 7),
        );
        let (status, _, body) = post(
            format!("{}/chat/completions", llm.base_url()),
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}),
        )
        .await;
        assert_eq!(status, 200);
        let body: Value = serde_json::from_str(&body).unwrap();
        let call = &body["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(call["id"], "call_1");
        assert_eq!(call["function"]["name"], "send_message");
        assert_eq!(call["function"]["arguments"], r#"{"message":"hi"}"#);
        assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(body["usage"]["total_tokens"], 18);
        assert_eq!(llm.request_count(), 1);
        assert_eq!(llm.requests()[0]["messages"][0]["content"], "hello");
        assert_eq!(
            llm.chat_requests()[0].last_user_text().as_deref(),
            Some("hello")
        );
    }

    #[tokio::test]
    async fn unscripted_requests_use_the_rule_then_fail() {
        let llm = MockLlm::start().await;
        let url = format!("{}/chat/completions", llm.base_url());
        let (status, _, body) = post(url.clone(), json!({"model": "m", "messages": []})).await;
        assert_eq!(status, 500);
        assert!(body.contains("no reply scripted"), "{body}");
        llm.set_rule(|req| {
            MockReply::text(format!("echo {}", req.last_user_text().unwrap_or_default()))
        });
        let (_, _, body) = post(
            url,
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "abc"}]}]}),
        )
        .await;
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["choices"][0]["message"]["content"], "echo abc");
    }

    #[tokio::test]
    async fn streams_are_framed_per_protocol() {
        let llm = MockLlm::start().await;
        llm.push(MockReply::text("Hello there").usage(3, 4));
        llm.push(MockReply::tool_call("f", json!({"a": 1})).with_reasoning("hmm", Some("sig")));
        let (_, headers, body) = post(
            format!("{}/chat/completions", llm.base_url()),
            json!({"model": "m", "messages": [], "stream": true, "stream_options": {"include_usage": true}}),
        )
        .await;
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        assert!(body.ends_with("data: [DONE]\n\n"));
        assert!(body.contains(r#""content":"Hello t""#), "{body}");
        assert!(body.contains(r#""total_tokens":7"#));
        let (_, _, body) = post(
            format!("{}/messages", llm.base_url()),
            json!({"model": "claude", "messages": [], "stream": true, "max_tokens": 10}),
        )
        .await;
        assert!(body.starts_with("event: message_start\n"), "{body}");
        assert!(body.contains(r#""type":"signature_delta""#));
        assert!(body.contains(r#""partial_json":"{\"a\":1}""#), "{body}");
        assert!(body.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    }

    #[tokio::test]
    async fn errors_are_shaped_per_protocol_with_retry_after() {
        let llm = MockLlm::start().await;
        llm.push(MockReply::status(429).retry_after(2));
        llm.push(MockReply::context_length_exceeded());
        let (status, headers, body) = post(
            format!("{}/messages", llm.base_url()),
            json!({"model": "claude", "messages": []}),
        )
        .await;
        assert_eq!(status, 429);
        assert_eq!(headers["retry-after"], "2");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["type"], "rate_limit_error");
        let (status, _, body) = post(
            format!("{}/chat/completions", llm.base_url()),
            json!({"model": "m", "messages": []}),
        )
        .await;
        assert_eq!(status, 400);
        assert!(body.contains("maximum context length"));
    }

    #[tokio::test]
    async fn models_and_embeddings() {
        let llm = MockLlm::start().await;
        let models: Value = reqwest::get(format!("{}/models", llm.base_url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(models["data"][0]["id"], "gpt-4o-mini");
        let (_, _, body) = post(
            format!("{}/embeddings", llm.base_url()),
            json!({"model": "text-embedding-3-small", "input": ["green tea", "green tea", "rocket"]}),
        )
        .await;
        let body: Value = serde_json::from_str(&body).unwrap();
        let v: Vec<Vec<f64>> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| serde_json::from_value(d["embedding"].clone()).unwrap())
            .collect();
        assert_eq!(v[0].len(), 1536);
        assert_eq!(v[0], v[1]);
        assert_ne!(v[0], v[2]);
        let (_, _, body) = post(
            format!("{}/embeddings", llm.base_url()),
            json!({"model": "m", "input": "x", "dimensions": 4, "encoding_format": "base64"}),
        )
        .await;
        let body: Value = serde_json::from_str(&body).unwrap();
        let expected: Vec<u8> = embed("x", 4).iter().flat_map(|f| f.to_le_bytes()).collect();
        assert_eq!(body["data"][0]["embedding"], base64_encode(&expected));
        assert_eq!(base64_encode(b"ab"), "YWI=");
        assert_eq!(llm.embedding_requests().len(), 2);
        assert_eq!(llm.request_count(), 0);
    }
}
