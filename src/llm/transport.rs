//! The one HTTP transport of provider calls (chat, embeddings, model listing): a pooled
//! client, bounded timeouts, one retry policy (exponential backoff with jitter, honouring
//! `Retry-After`, for 429, 5xx and connection failures), and failures turned into
//! [`LlmError`]s that never contain the API key.

use std::collections::VecDeque;
use std::sync::OnceLock;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use rand::Rng;
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::chat::{ChatStream, ChatStreamEvent, LlmError, LlmErrorKind};
use super::sse::{SseEvent, SseParser};
use super::{describe_reqwest_error, scrub, truncate};
use crate::config::Secret;

/// Connection attempts give up after this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest wait honoured from a `Retry-After` header, unless the settings say otherwise.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// How provider errors are quoted: at most this many characters.
const MAX_MESSAGE_CHARS: usize = 500;

/// Retries of a provider call on 429, 5xx and connection failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, at least 1.
    pub attempts: u32,
    /// Backoff before the first retry; doubled for each further one, up to `max_delay`.
    /// The actual wait is drawn between half and all of it (jitter).
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// Model listing: an interactive request (`/v1/models`) waits for it, so retries start
    /// sooner than a chat call's.
    pub const LISTING: RetryPolicy = RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(250),
        max_delay: Duration::from_secs(8),
    };

    /// The jittered backoff before retry number `retry` (1-based).
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        let full = self.base_delay.saturating_mul(factor).min(self.max_delay);
        let half = full / 2;
        let jitter_ms = half.as_millis() as u64;
        let jitter = if jitter_ms == 0 {
            Duration::ZERO
        } else {
            Duration::from_millis(rand::thread_rng().gen_range(0..=jitter_ms))
        };
        half + jitter
    }
}

/// Timeouts and retries of provider calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSettings {
    /// Whole-call limit of a non-streamed call; for a streamed one, the limit on getting the
    /// response headers.
    pub request_timeout: Duration,
    /// A streamed answer fails when no bytes arrive for this long.
    pub stream_idle_timeout: Duration,
    pub retry: RetryPolicy,
    /// Longest wait honoured from a provider's `Retry-After` before a retry.
    pub max_retry_after: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            request_timeout: Duration::from_secs(120),
            stream_idle_timeout: Duration::from_secs(120),
            retry: RetryPolicy::default(),
            max_retry_after: MAX_RETRY_AFTER,
        }
    }
}

/// The client every chat and embedding call shares (connection pooling); built on first use.
pub fn shared_client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_keepalive(Duration::from_secs(60))
            .user_agent(concat!("letta-rs/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|err| {
                tracing::warn!(error = %err, "cannot configure the chat HTTP client; using defaults");
                reqwest::Client::new()
            })
    })
}

/// What a protocol makes of a failed answer: the kind and the provider's own message.
pub type ErrorClassifier = fn(status: u16, body: &str) -> (LlmErrorKind, String);

/// One provider endpoint, with what is needed to call it and report its failures.
#[derive(Clone)]
pub struct Transport {
    pub client: reqwest::Client,
    pub settings: HttpSettings,
    /// Provider name used in errors and logs.
    pub provider: String,
    /// Headers of every call (credentials marked sensitive).
    pub headers: HeaderMap,
    /// Scrubbed from every error text.
    pub secret: Option<Secret>,
    pub classify: ErrorClassifier,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("provider", &self.provider)
            .field("settings", &self.settings)
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

/// Why one attempt failed, and whether another may succeed.
struct Failure {
    error: LlmError,
    retryable: bool,
    retry_after: Option<Duration>,
}

impl Transport {
    pub fn error(&self, kind: LlmErrorKind, status: Option<u16>, message: &str) -> LlmError {
        LlmError {
            kind,
            provider: self.provider.clone(),
            status,
            // Scrubbed before truncation, so no prefix of a key survives a cut.
            message: truncate(&scrub(message, self.secret.as_ref()), MAX_MESSAGE_CHARS),
            retry_after: None,
        }
    }

    /// POSTs `body` and returns the parsed JSON answer, retrying as the policy allows.
    pub async fn post_json(&self, url: &str, body: &Value) -> Result<Value, LlmError> {
        self.with_retries(url, move || async move {
            let response = self
                .client
                .post(url)
                .headers(self.headers.clone())
                .timeout(self.settings.request_timeout)
                .json(body)
                .send()
                .await
                .map_err(|err| self.transport_failure(&err))?;
            let response = self.check_status(response).await?;
            let bytes = response
                .bytes()
                .await
                .map_err(|err| self.transport_failure(&err))?;
            serde_json::from_slice::<Value>(&bytes).map_err(|err| Failure {
                error: self.error(
                    LlmErrorKind::InvalidResponse,
                    Some(200),
                    &format!(
                        "the answer is not valid JSON ({err}); it begins: {}",
                        truncate(String::from_utf8_lossy(&bytes).trim(), 200)
                    ),
                ),
                retryable: false,
                retry_after: None,
            })
        })
        .await
    }

    /// GETs `url` and returns the body of a successful answer, retrying as the policy
    /// allows (decoding is the caller's: a listing reports undecodable bodies its own way).
    pub async fn get_bytes(&self, url: &str) -> Result<Vec<u8>, LlmError> {
        self.with_retries(url, move || async move {
            let response = self
                .client
                .get(url)
                .headers(self.headers.clone())
                .timeout(self.settings.request_timeout)
                .send()
                .await
                .map_err(|err| self.transport_failure(&err))?;
            let response = self.check_status(response).await?;
            let bytes = response
                .bytes()
                .await
                .map_err(|err| self.transport_failure(&err))?;
            Ok(bytes.to_vec())
        })
        .await
    }

    /// POSTs `body` and returns the event stream of the answer. Retries cover opening the
    /// stream only; later failures (including silence longer than the idle timeout) come
    /// through the stream as errors.
    pub async fn post_sse(
        &self,
        url: &str,
        body: &Value,
    ) -> Result<impl Stream<Item = Result<SseEvent, LlmError>> + Send + 'static, LlmError> {
        let response = self
            .with_retries(url, move || async move {
                let send = self
                    .client
                    .post(url)
                    .headers(self.headers.clone())
                    .header(reqwest::header::ACCEPT, "text/event-stream")
                    .json(body)
                    .send();
                let response = tokio::time::timeout(self.settings.request_timeout, send)
                    .await
                    .map_err(|_| Failure {
                        error: self.error(
                            LlmErrorKind::Timeout,
                            None,
                            "timed out waiting for the answer to start",
                        ),
                        retryable: false,
                        retry_after: None,
                    })?
                    .map_err(|err| self.transport_failure(&err))?;
                self.check_status(response).await
            })
            .await?;
        Ok(sse_events(
            response.bytes_stream(),
            self.settings.stream_idle_timeout,
            self.clone(),
        ))
    }

    async fn with_retries<T, F, Fut>(&self, url: &str, mut attempt_fn: F) -> Result<T, LlmError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        let policy = self.settings.retry;
        let attempts = policy.attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match attempt_fn().await {
                Ok(value) => return Ok(value),
                Err(failure) if failure.retryable && attempt < attempts => {
                    let delay = failure
                        .retry_after
                        .map(|d| d.min(self.settings.max_retry_after))
                        .unwrap_or_else(|| policy.backoff(attempt));
                    tracing::warn!(
                        provider = %self.provider,
                        endpoint = %super::display_url(url),
                        status = failure.error.status,
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        error = %failure.error.message,
                        "retrying provider call"
                    );
                    tokio::time::sleep(delay).await;
                }
                Err(failure) => {
                    // The provider's own wait is what our client should be told to wait.
                    let mut error = failure.error;
                    error.retry_after = failure.retry_after;
                    return Err(error);
                }
            }
        }
    }

    fn transport_failure(&self, err: &reqwest::Error) -> Failure {
        let kind = if err.is_timeout() {
            LlmErrorKind::Timeout
        } else {
            LlmErrorKind::Connection
        };
        Failure {
            error: self.error(kind, None, &describe_reqwest_error(err)),
            // A timed-out call already took the whole budget; trying again would double it.
            retryable: kind == LlmErrorKind::Connection,
            retry_after: None,
        }
    }

    /// The response if it is a success; otherwise the failure its status and body describe.
    async fn check_status(
        &self,
        response: reqwest::Response,
    ) -> Result<reqwest::Response, Failure> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let code = status.as_u16();
        let retry_after = retry_after(response.headers());
        // Bounded: a streamed call has no overall timeout of its own.
        let body = tokio::time::timeout(self.settings.request_timeout, response.text())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let (kind, message) = (self.classify)(code, &body);
        let message = if message.trim().is_empty() {
            status.canonical_reason().unwrap_or("error").to_owned()
        } else {
            message
        };
        Err(Failure {
            error: self.error(kind, Some(code), &message),
            retryable: code == 429 || status.is_server_error(),
            retry_after,
        })
    }
}

/// `Retry-After` in seconds (or OpenAI's `retry-after-ms`), uncapped.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let secs = header("retry-after")?.parse::<f64>().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// The body's SSE events, read incrementally; a read error or silence longer than `idle`
/// ends the stream with an error item.
fn sse_events<S, B>(
    body: S,
    idle: Duration,
    endpoint: Transport,
) -> impl Stream<Item = Result<SseEvent, LlmError>> + Send + 'static
where
    S: Stream<Item = reqwest::Result<B>> + Send + 'static,
    B: AsRef<[u8]> + Send + 'static,
{
    struct State<B> {
        body: futures_util::stream::BoxStream<'static, reqwest::Result<B>>,
        parser: SseParser,
        ready: VecDeque<SseEvent>,
        done: bool,
        idle: Duration,
        endpoint: Transport,
    }
    let state = State {
        body: body.boxed(),
        parser: SseParser::new(),
        ready: VecDeque::new(),
        done: false,
        idle,
        endpoint,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(event) = st.ready.pop_front() {
                return Some((Ok(event), st));
            }
            if st.done {
                return None;
            }
            match tokio::time::timeout(st.idle, st.body.next()).await {
                Err(_) => {
                    st.done = true;
                    let message = format!("no data arrived for {:?}", st.idle);
                    let err = st.endpoint.error(LlmErrorKind::Timeout, None, &message);
                    return Some((Err(err), st));
                }
                Ok(None) => {
                    st.done = true;
                    st.ready.extend(st.parser.finish());
                }
                Ok(Some(Err(err))) => {
                    st.done = true;
                    let message = format!("the stream broke off: {}", describe_reqwest_error(&err));
                    let kind = if err.is_timeout() {
                        LlmErrorKind::Timeout
                    } else {
                        LlmErrorKind::Connection
                    };
                    let err = st.endpoint.error(kind, None, &message);
                    return Some((Err(err), st));
                }
                Ok(Some(Ok(bytes))) => match st.parser.push(bytes.as_ref()) {
                    Ok(events) => st.ready.extend(events),
                    Err(too_long) => {
                        st.done = true;
                        let err = st.endpoint.error(
                            LlmErrorKind::InvalidResponse,
                            None,
                            &too_long.to_string(),
                        );
                        return Some((Err(err), st));
                    }
                },
            }
        }
    })
}

/// What one SSE event of an answer decodes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    Event(ChatStreamEvent),
    /// The provider's end marker (`data: [DONE]`, `message_stop`).
    Done,
}

/// Turns an answer's SSE events into [`ChatStreamEvent`]s with `decode` (a protocol's
/// per-stream decoder). The stream ends after the end marker or the first error; a body
/// that stops before the end marker and before any finish reason ends with a
/// [`LlmErrorKind::Connection`] error.
pub fn chat_stream<D>(
    events: impl Stream<Item = Result<SseEvent, LlmError>> + Send + 'static,
    decode: D,
    endpoint: Transport,
) -> ChatStream
where
    D: FnMut(&SseEvent) -> Result<Vec<Decoded>, (LlmErrorKind, String)> + Send + 'static,
{
    struct State<S, D> {
        events: std::pin::Pin<Box<S>>,
        decode: D,
        ready: VecDeque<Decoded>,
        finished: bool,
        done: bool,
        endpoint: Transport,
    }
    let state = State {
        events: Box::pin(events),
        decode,
        ready: VecDeque::new(),
        finished: false,
        done: false,
        endpoint,
    };
    Box::pin(futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if st.done {
                return None;
            }
            match st.ready.pop_front() {
                Some(Decoded::Done) => return None,
                Some(Decoded::Event(event)) => {
                    st.finished |= matches!(event, ChatStreamEvent::Finish(_));
                    return Some((Ok(event), st));
                }
                None => {}
            }
            match st.events.next().await {
                Some(Ok(event)) => match (st.decode)(&event) {
                    Ok(decoded) => st.ready.extend(decoded),
                    Err((kind, message)) => {
                        st.done = true;
                        let err = st.endpoint.error(kind, None, &message);
                        return Some((Err(err), st));
                    }
                },
                Some(Err(err)) => {
                    st.done = true;
                    return Some((Err(err), st));
                }
                None => {
                    st.done = true;
                    if st.finished {
                        return None;
                    }
                    let err = st.endpoint.error(
                        LlmErrorKind::Connection,
                        None,
                        "the stream ended before the answer was complete",
                    );
                    return Some((Err(err), st));
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_cap() {
        let policy = RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(400),
            max_delay: Duration::from_millis(1000),
        };
        for _ in 0..50 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_millis(200) && first <= Duration::from_millis(400));
            let second = policy.backoff(2);
            assert!(second >= Duration::from_millis(400) && second <= Duration::from_millis(800));
            let capped = policy.backoff(10);
            assert!(capped >= Duration::from_millis(500) && capped <= Duration::from_millis(1000));
        }
        let zero = RetryPolicy {
            base_delay: Duration::ZERO,
            ..policy
        };
        assert_eq!(zero.backoff(3), Duration::ZERO);
    }

    #[test]
    fn retry_after_headers() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after", "1.5".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(1500)));
        headers.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
        let mut dated = HeaderMap::new();
        dated.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&dated), None);
    }
}
