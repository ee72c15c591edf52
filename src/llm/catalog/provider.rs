//! One configured provider: its kind, where it answers, and its cached model listing.

use std::sync::Arc;
use std::time::Duration;

use super::{EMBEDDING_BATCH_SIZE, EMBEDDING_CHUNK_SIZE, ListCache, ModelFilter};
use crate::config::Secret;
use crate::llm::{self, ProviderError, ProviderHttp, ProviderType};
use crate::schemas::llm_config::{EmbeddingConfig, LlmConfig, ProviderCategory};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ProviderKind {
    OpenAi,
    Anthropic,
    Ollama,
}

impl ProviderKind {
    /// The provider's name (`provider_name` of its models).
    pub(super) fn name(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Ollama => "ollama",
        }
    }

    pub(super) fn provider_type(self) -> ProviderType {
        match self {
            ProviderKind::OpenAi => ProviderType::Openai,
            ProviderKind::Anthropic => ProviderType::Anthropic,
            ProviderKind::Ollama => ProviderType::Ollama,
        }
    }

    /// `model_endpoint_type` / `embedding_endpoint_type` of its models.
    pub(super) fn endpoint_type(self) -> &'static str {
        self.name()
    }
}

/// What one listing of a provider yields.
#[derive(Debug, Default)]
pub(super) struct Offer {
    pub(super) llm: Vec<LlmConfig>,
    /// Embedding models found in the same listing (Ollama).
    pub(super) embedding: Vec<EmbeddingConfig>,
}

pub(super) struct Provider {
    pub(super) kind: ProviderKind,
    pub(super) handle_prefix: &'static str,
    pub(super) base_url: String,
    pub(super) api_key: Option<Secret>,
    /// Only the official OpenAI API's list is filtered down to chat models.
    pub(super) filter_chat_models: bool,
    pub(super) cache: ListCache<Arc<Offer>>,
}

impl Provider {
    pub(super) fn new(
        kind: ProviderKind,
        handle_prefix: &'static str,
        base_url: String,
        api_key: Option<Secret>,
        filter_chat_models: bool,
    ) -> Self {
        Provider {
            kind,
            handle_prefix,
            base_url,
            api_key,
            filter_chat_models,
            cache: ListCache::new(),
        }
    }

    pub(super) fn matches(&self, filter: &ModelFilter) -> bool {
        let category_ok = match &filter.provider_categories {
            Some(categories) if !categories.is_empty() => {
                categories.contains(&ProviderCategory::Base)
            }
            _ => true,
        };
        let name_ok = filter
            .provider_name
            .as_deref()
            .is_none_or(|n| n == self.kind.name());
        let type_ok = filter
            .provider_type
            .is_none_or(|t| t == self.kind.provider_type());
        category_ok && name_ok && type_ok
    }

    pub(super) async fn offer(
        &self,
        http: &ProviderHttp,
        ttl: Duration,
    ) -> Result<Arc<Offer>, ProviderError> {
        self.cache.get_or_fetch(ttl, || self.fetch(http)).await
    }

    pub(super) async fn fetch(&self, http: &ProviderHttp) -> Result<Arc<Offer>, ProviderError> {
        let name = self.kind.name();
        let key = self.api_key.clone().unwrap_or_default();
        let result = match self.kind {
            ProviderKind::OpenAi => llm::openai::list_models(http, name, &self.base_url, &key)
                .await
                .map(|ids| self.openai_offer(ids)),
            ProviderKind::Anthropic => {
                llm::anthropic::list_models(http, name, &self.base_url, &key)
                    .await
                    .map(|ids| Offer {
                        llm: ids
                            .iter()
                            .map(|id| self.llm_config(id, llm::anthropic::CONTEXT_WINDOW, None))
                            .collect(),
                        embedding: Vec::new(),
                    })
            }
            ProviderKind::Ollama => llm::ollama::list_models(http, name, &self.base_url)
                .await
                .map(|models| self.ollama_offer(models)),
        };
        match &result {
            Ok(offer) => tracing::info!(
                provider = name,
                llm = offer.llm.len(),
                embedding = offer.embedding.len(),
                "fetched model list"
            ),
            Err(err) => tracing::warn!(provider = name, error = %err, "model list unavailable"),
        }
        result.map(Arc::new)
    }

    pub(super) fn openai_offer(&self, ids: Vec<String>) -> Offer {
        let llm = ids
            .iter()
            .filter(|id| !self.filter_chat_models || llm::openai::is_chat_model(id))
            .map(|id| {
                self.llm_config(
                    id,
                    llm::openai::context_window(id),
                    llm::openai::frequency_penalty(id),
                )
            })
            .collect();
        Offer {
            llm,
            embedding: Vec::new(),
        }
    }

    pub(super) fn ollama_offer(&self, models: Vec<llm::ollama::OllamaModel>) -> Offer {
        let (embedding, chat): (Vec<_>, Vec<_>) =
            models.into_iter().partition(|m| m.is_embedding());
        Offer {
            llm: chat
                .iter()
                .map(|m| self.llm_config(&m.name, m.context_window(), None))
                .collect(),
            embedding: embedding
                .iter()
                .map(|m| self.embedding_config(&m.name, m.embedding_dim(), EMBEDDING_BATCH_SIZE))
                .collect(),
        }
    }

    pub(super) async fn embedding_models(
        &self,
        http: &ProviderHttp,
        ttl: Duration,
    ) -> Result<Vec<EmbeddingConfig>, ProviderError> {
        Ok(match self.kind {
            // A fixed list; compatible servers are assumed to serve the same models.
            ProviderKind::OpenAi => llm::openai::EMBEDDING_MODELS
                .iter()
                .map(|(model, dim)| {
                    let mut config =
                        self.embedding_config(model, *dim, llm::openai::EMBEDDING_BATCH_SIZE);
                    config.handle = Some(format!("openai/{model}"));
                    config
                })
                .collect(),
            ProviderKind::Anthropic => Vec::new(),
            ProviderKind::Ollama => self.offer(http, ttl).await?.embedding.clone(),
        })
    }

    pub(super) fn llm_config(
        &self,
        model: &str,
        context_window: i64,
        frequency_penalty: Option<f64>,
    ) -> LlmConfig {
        let mut config = LlmConfig {
            model: model.to_owned(),
            model_endpoint_type: self.kind.endpoint_type().to_owned(),
            model_endpoint: Some(self.base_url.clone()),
            provider_name: Some(self.kind.name().to_owned()),
            provider_category: Some(ProviderCategory::Base),
            model_wrapper: None,
            context_window,
            put_inner_thoughts_in_kwargs: None,
            handle: Some(format!("{}/{model}", self.handle_prefix)),
            temperature: 0.7,
            max_tokens: Some(4096),
            enable_reasoner: false,
            reasoning_effort: None,
            max_reasoning_tokens: 0,
            frequency_penalty,
        };
        config.normalize();
        config
    }

    pub(super) fn embedding_config(
        &self,
        model: &str,
        dim: i64,
        batch_size: i64,
    ) -> EmbeddingConfig {
        EmbeddingConfig {
            embedding_endpoint_type: self.kind.endpoint_type().to_owned(),
            embedding_endpoint: Some(self.base_url.clone()),
            embedding_model: model.to_owned(),
            embedding_dim: dim,
            embedding_chunk_size: Some(EMBEDDING_CHUNK_SIZE),
            handle: Some(format!("{}/{model}", self.handle_prefix)),
            batch_size,
            azure_endpoint: None,
            azure_version: None,
            azure_deployment: None,
        }
    }
}
