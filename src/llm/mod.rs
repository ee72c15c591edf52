//! Model providers: what each configured provider offers, fetched over HTTP. One module per
//! wire protocol; they return plain provider facts and leave the rules (handles, context
//! caps, defaults) to the model catalogue, [`catalog`].

pub mod anthropic;
pub mod catalog;
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

pub use transport::RetryPolicy;

/// The HTTP client model listings share: its own timeouts (a listing answers an interactive
/// request) over the one [`transport::Transport`] and its retry policy.
#[derive(Debug, Clone)]
pub struct ProviderHttp {
    client: reqwest::Client,
    settings: transport::HttpSettings,
}

/// Longest wait honoured from a `Retry-After` header of a listing.
const LISTING_MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

impl ProviderHttp {
    pub fn new(timeout: Duration, retry: RetryPolicy) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(timeout.min(transport::CONNECT_TIMEOUT))
            .user_agent(concat!("letta-rs/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|err| {
                tracing::warn!(error = %err, "cannot configure the provider HTTP client; using defaults");
                reqwest::Client::new()
            });
        let settings = transport::HttpSettings {
            request_timeout: timeout,
            stream_idle_timeout: timeout,
            retry,
            max_retry_after: LISTING_MAX_RETRY_AFTER,
        };
        ProviderHttp { client, settings }
    }

    /// GETs `url` and decodes its JSON body, retrying as the transport's policy allows.
    /// `secret` is scrubbed from any error text.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        provider: &str,
        url: &str,
        headers: HeaderMap,
        secret: Option<&Secret>,
    ) -> Result<T, ProviderError> {
        let transport = transport::Transport {
            client: self.client.clone(),
            settings: self.settings,
            provider: provider.to_owned(),
            headers,
            secret: secret.cloned(),
            classify: listing_error,
        };
        let endpoint = display_url(url);
        let bytes = transport
            .get_bytes(url)
            .await
            .map_err(|err| match err.status {
                Some(status) => ProviderError::Status {
                    provider: provider.to_owned(),
                    endpoint: endpoint.clone(),
                    status,
                    message: err.message,
                },
                None => ProviderError::Unreachable {
                    provider: provider.to_owned(),
                    endpoint: endpoint.clone(),
                    message: err.message,
                },
            })?;
        serde_json::from_slice(&bytes).map_err(|err| ProviderError::Decode {
            provider: provider.to_owned(),
            endpoint,
            message: err.to_string(),
        })
    }
}

/// A listing's failed answer, for the transport: the provider's own message. The kind only
/// matters to chat callers (a listing failure becomes a [`ProviderError`] by its status).
fn listing_error(status: u16, body: &str) -> (chat::LlmErrorKind, String) {
    let kind = match status {
        401 | 403 => chat::LlmErrorKind::Auth,
        429 => chat::LlmErrorKind::RateLimited,
        500..=599 => chat::LlmErrorKind::Server,
        _ => chat::LlmErrorKind::BadRequest,
    };
    let status = reqwest::StatusCode::from_u16(status).unwrap_or(reqwest::StatusCode::BAD_GATEWAY);
    (kind, error_message(body, status))
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
