//! Picks the wire protocol, endpoint and credentials of an agent's chat model.

use std::time::Duration;

use super::anthropic::AnthropicChat;
use super::chat::{ChatModel, LlmError, LlmErrorKind};
use super::openai::OpenAiChat;
use super::openai::chat::Dialect;
use super::transport::{HttpSettings, RetryPolicy, shared_client};
use crate::config::{Config, Secret};
use crate::schemas::llm_config::LlmConfig;

/// What chat calls need from the server settings: provider credentials and base URLs, and
/// the HTTP limits. `Debug` never shows a key.
#[derive(Debug, Clone)]
pub struct ProviderKeys {
    pub openai_api_key: Option<Secret>,
    pub openai_api_base: String,
    pub anthropic_api_key: Option<Secret>,
    pub anthropic_api_base: String,
    /// Ollama's base URL (without `/v1`).
    pub ollama_base_url: Option<String>,
    pub http: HttpSettings,
    /// The client to call with; `None` uses the process-wide shared one.
    pub client: Option<reqwest::Client>,
}

impl Default for ProviderKeys {
    fn default() -> Self {
        ProviderKeys {
            openai_api_key: None,
            openai_api_base: super::openai::OFFICIAL_BASE_URL.to_owned(),
            anthropic_api_key: None,
            anthropic_api_base: "https://api.anthropic.com/v1".to_owned(),
            ollama_base_url: None,
            http: HttpSettings::default(),
            client: None,
        }
    }
}

impl From<&Config> for ProviderKeys {
    fn from(config: &Config) -> Self {
        ProviderKeys {
            openai_api_key: config.openai_api_key.clone(),
            openai_api_base: config.openai_api_base.clone(),
            anthropic_api_key: config.anthropic_api_key.clone(),
            anthropic_api_base: config.anthropic_api_base.clone(),
            ollama_base_url: config.ollama_base_url.clone(),
            http: HttpSettings {
                request_timeout: config.llm_timeout(),
                stream_idle_timeout: config.llm_timeout(),
                ..HttpSettings::default()
            },
            client: None,
        }
    }
}

impl ProviderKeys {
    /// The same keys with other timeouts.
    pub fn with_timeouts(mut self, request: Duration, stream_idle: Duration) -> Self {
        self.http.request_timeout = request;
        self.http.stream_idle_timeout = stream_idle;
        self
    }

    /// The same keys with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.http.retry = retry;
        self
    }

    fn client(&self) -> reqwest::Client {
        self.client
            .clone()
            .unwrap_or_else(|| shared_client().clone())
    }
}

fn same_base(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// The chat model an agent's `llm_config` names:
///
/// * `anthropic`: the Anthropic Messages protocol at `model_endpoint` (else the configured
///   Anthropic base) with the Anthropic key;
/// * `ollama`: the OpenAI protocol at `<model_endpoint or the configured Ollama base>/v1`,
///   without a key;
/// * anything else (`openai`, `together`, `groq`, `vllm`, …): the OpenAI protocol at
///   `model_endpoint` (else the configured OpenAI base). The OpenAI key goes with it when the
///   endpoint type is `openai` or the endpoint is the configured OpenAI base, so the key is
///   not handed to other providers' servers.
pub fn chat_model_for(
    llm_config: &LlmConfig,
    keys: &ProviderKeys,
) -> Result<Box<dyn ChatModel>, LlmError> {
    let inner = protocol_model_for(llm_config, keys)?;
    // A metric label: one of the provider types, never free text.
    let endpoint_type = &llm_config.model_endpoint_type;
    let known = serde_json::from_value::<super::ProviderType>(serde_json::Value::String(
        endpoint_type.clone(),
    ))
    .is_ok();
    Ok(Box::new(super::metered::Metered {
        inner,
        provider: if known {
            endpoint_type.clone()
        } else {
            "other".to_owned()
        },
    }))
}

fn protocol_model_for(
    llm_config: &LlmConfig,
    keys: &ProviderKeys,
) -> Result<Box<dyn ChatModel>, LlmError> {
    let endpoint_type = llm_config.model_endpoint_type.as_str();
    let provider = llm_config
        .provider_name
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| endpoint_type.to_owned());
    let configured_endpoint = llm_config
        .model_endpoint
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    match endpoint_type {
        "anthropic" => {
            let base = configured_endpoint.unwrap_or(&keys.anthropic_api_base);
            Ok(Box::new(AnthropicChat::new(
                keys.client(),
                keys.http,
                provider,
                base,
                keys.anthropic_api_key.clone(),
            )))
        }
        "ollama" => {
            let root = configured_endpoint
                .or(keys.ollama_base_url.as_deref())
                .ok_or_else(|| LlmError {
                    kind: LlmErrorKind::BadRequest,
                    provider: provider.clone(),
                    status: None,
                    message: "no Ollama base URL is configured (OLLAMA_BASE_URL)".to_owned(),
                    retry_after: None,
                })?;
            let root = root.trim_end_matches('/');
            let base = if root.ends_with("/v1") {
                root.to_owned()
            } else {
                format!("{root}/v1")
            };
            Ok(Box::new(OpenAiChat::new(
                keys.client(),
                keys.http,
                provider,
                &base,
                None,
                Dialect::Ollama,
            )))
        }
        _ => {
            let base = configured_endpoint.unwrap_or(&keys.openai_api_base);
            let key = (endpoint_type == "openai" || same_base(base, &keys.openai_api_base))
                .then(|| keys.openai_api_key.clone())
                .flatten();
            Ok(Box::new(OpenAiChat::new(
                keys.client(),
                keys.http,
                provider,
                base,
                key,
                Dialect::OpenAi,
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_the_config_and_stay_hidden() {
        let mut config = Config::for_tests();
        config.openai_api_key = Some("sk-very-secret-1".parse().unwrap());
        config.anthropic_api_key = Some("sk-ant-secret-2".parse().unwrap());
        config.ollama_base_url = Some("http://localhost:11434".into());
        let keys = ProviderKeys::from(&config);
        assert_eq!(keys.openai_api_base, config.openai_api_base);
        assert_eq!(
            keys.ollama_base_url.as_deref(),
            Some("http://localhost:11434")
        );
        let debug = format!("{keys:?}");
        assert!(
            !debug.contains("sk-very-secret-1") && !debug.contains("sk-ant-secret-2"),
            "{debug}"
        );
    }

    #[test]
    fn ollama_needs_a_base() {
        let config = LlmConfig {
            model: "llama3.2:latest".into(),
            model_endpoint_type: "ollama".into(),
            model_endpoint: None,
            provider_name: None,
            provider_category: None,
            model_wrapper: None,
            context_window: 8192,
            put_inner_thoughts_in_kwargs: Some(true),
            handle: None,
            temperature: 0.7,
            max_tokens: Some(4096),
            enable_reasoner: false,
            reasoning_effort: None,
            max_reasoning_tokens: 0,
            frequency_penalty: None,
        };
        let err = chat_model_for(&config, &ProviderKeys::default())
            .err()
            .unwrap();
        assert_eq!(err.kind, LlmErrorKind::BadRequest);
        assert_eq!(err.provider, "ollama");
        let keys = ProviderKeys {
            ollama_base_url: Some("http://localhost:11434/".into()),
            ..ProviderKeys::default()
        };
        assert!(chat_model_for(&config, &keys).is_ok());
    }
}
