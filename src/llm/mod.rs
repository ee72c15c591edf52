//! Model providers: what each configured provider offers, fetched over HTTP. One module per
//! wire protocol; they return plain provider facts and leave the rules (handles, context
//! caps, defaults) to `services::models`.

pub mod anthropic;
pub mod chat;
pub mod embeddings;
pub mod factory;
mod metered;
pub mod ollama;
pub mod openai;
pub mod sse;
pub mod transport;

pub use factory::{ProviderKeys, chat_model_for};

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::Secret;

/// The kinds of provider the API can name (`provider_type`); this server implements
/// `openai`, `anthropic` and `ollama`, the others are accepted and match nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderType {
    Anthropic,
    GoogleAi,
    GoogleVertex,
    Openai,
    Letta,
    Deepseek,
    LmstudioOpenai,
    Xai,
    Mistral,
    Ollama,
    Groq,
    Together,
    Azure,
    Vllm,
    Bedrock,
}

/// Why a provider's model list could not be obtained. Messages name the provider and the
/// endpoint (without credentials) and never contain an API key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("Provider {provider} could not be reached at {endpoint}: {message}")]
    Unreachable {
        provider: String,
        endpoint: String,
        message: String,
    },
    #[error("Provider {provider} answered HTTP {status} at {endpoint}: {message}")]
    Status {
        provider: String,
        endpoint: String,
        status: u16,
        message: String,
    },
    #[error("Provider {provider} sent an unreadable answer at {endpoint}: {message}")]
    Decode {
        provider: String,
        endpoint: String,
        message: String,
    },
}

/// How often a listing call is retried on 429 and 5xx answers.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Total attempts, at least 1.
    pub attempts: u32,
    /// Delay before the first retry; doubled for each further one.
    pub base_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(250),
        }
    }
}

/// The HTTP client provider calls share: bounded timeouts and a retry policy.
#[derive(Debug, Clone)]
pub struct ProviderHttp {
    client: reqwest::Client,
    retry: RetryPolicy,
}

/// Longest wait honoured from a `Retry-After` header.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

impl ProviderHttp {
    pub fn new(timeout: Duration, retry: RetryPolicy) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("letta-rs/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|err| {
                tracing::warn!(error = %err, "cannot configure the provider HTTP client; using defaults");
                reqwest::Client::new()
            });
        ProviderHttp { client, retry }
    }

    /// GETs `url` and decodes its JSON body, retrying 429 and 5xx answers with backoff.
    /// `secret` is scrubbed from any error text.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        provider: &str,
        url: &str,
        headers: HeaderMap,
        secret: Option<&Secret>,
    ) -> Result<T, ProviderError> {
        let endpoint = display_url(url);
        let attempts = self.retry.attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let response = self
                .client
                .get(url)
                .headers(headers.clone())
                .send()
                .await
                .map_err(|err| ProviderError::Unreachable {
                    provider: provider.to_owned(),
                    endpoint: endpoint.clone(),
                    message: scrub(&describe_reqwest_error(&err), secret),
                })?;
            let status = response.status();
            if status.is_success() {
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|err| ProviderError::Unreachable {
                        provider: provider.to_owned(),
                        endpoint: endpoint.clone(),
                        message: scrub(&describe_reqwest_error(&err), secret),
                    })?;
                return serde_json::from_slice(&bytes).map_err(|err| ProviderError::Decode {
                    provider: provider.to_owned(),
                    endpoint: endpoint.clone(),
                    message: err.to_string(),
                });
            }
            let retryable = status.as_u16() == 429 || status.is_server_error();
            if retryable && attempt < attempts {
                let backoff = self.retry.base_delay * 2u32.saturating_pow(attempt - 1);
                let delay = retry_after(response.headers()).unwrap_or(backoff);
                tracing::debug!(
                    provider,
                    status = status.as_u16(),
                    attempt,
                    "retrying model list"
                );
                tokio::time::sleep(delay).await;
                continue;
            }
            let body = response.text().await.unwrap_or_default();
            return Err(ProviderError::Status {
                provider: provider.to_owned(),
                endpoint,
                status: status.as_u16(),
                message: scrub(&error_message(&body, status), secret),
            });
        }
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// A reqwest error with its cause chain, without the URL (it is reported separately).
fn describe_reqwest_error(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(err);
    let mut last = String::new();
    while let Some(cause) = source {
        let s = cause.to_string();
        if s != last {
            text.push_str(": ");
            text.push_str(&s);
            last = s;
        }
        source = cause.source();
    }
    text
}

/// The message of a provider's error body: `error.message` (OpenAI, Anthropic), `error`
/// (Ollama), or the start of the raw body.
fn error_message(body: &str, status: reqwest::StatusCode) -> String {
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(body) {
        let message = value
            .pointer("/error/message")
            .or_else(|| value.get("error").filter(|v| v.is_string()))
            .or_else(|| value.get("message"))
            .or_else(|| value.get("detail"))
            .and_then(|v| v.as_str());
        if let Some(message) = message {
            return truncate(message, 300);
        }
    }
    let body = body.trim();
    if body.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        truncate(body, 300)
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Replaces any occurrence of the secret with `***`.
fn scrub(text: &str, secret: Option<&Secret>) -> String {
    match secret.map(Secret::expose).filter(|s| s.len() >= 4) {
        Some(key) => text.replace(key, "***"),
        None => text.to_owned(),
    }
}

/// `url` without user info or query, for messages.
pub fn display_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            parsed.to_string()
        }
        Err(_) => url.split('?').next().unwrap_or_default().to_owned(),
    }
}

/// `base` + `/` + `path`, with exactly one slash between them.
pub fn join_url(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_joined_and_shown_without_credentials() {
        assert_eq!(join_url("http://h/v1/", "/models"), "http://h/v1/models");
        assert_eq!(join_url("http://h/v1", "models"), "http://h/v1/models");
        assert_eq!(
            display_url("http://u:p@h:1/v1/models?key=k"),
            "http://h:1/v1/models"
        );
    }

    #[test]
    fn error_bodies_are_summarised_and_scrubbed() {
        let status = reqwest::StatusCode::UNAUTHORIZED;
        assert_eq!(
            error_message(r#"{"error":{"message":"bad key"}}"#, status),
            "bad key"
        );
        assert_eq!(
            error_message(r#"{"error":"no such model"}"#, status),
            "no such model"
        );
        assert_eq!(error_message("", status), "Unauthorized");
        assert_eq!(error_message("plain", status), "plain");
        let secret: Secret = "sk-secret-123".parse().unwrap();
        assert_eq!(
            scrub("key sk-secret-123 rejected", Some(&secret)),
            "key *** rejected"
        );
    }

    #[test]
    fn provider_types_use_the_reference_names() {
        assert_eq!(
            serde_json::to_value(ProviderType::LmstudioOpenai).unwrap(),
            "lmstudio_openai"
        );
        assert_eq!(
            serde_json::to_value(ProviderType::GoogleAi).unwrap(),
            "google_ai"
        );
    }
}
