//! Model catalogue: what the configured providers offer, and resolution of `provider/model`
//! handles into full LLM and embedding configurations.
//!
//! Providers come from the settings: OpenAI (or a compatible server) when `OPENAI_API_KEY`
//! is set, Anthropic when `ANTHROPIC_API_KEY` is set, Ollama when `OLLAMA_BASE_URL` is set.
//! Each provider's model list is fetched on demand and cached for `model_list_ttl_secs`;
//! callers arriving while a fetch is running wait for it and share its result.
//!
//! Here: the catalogue, handle resolution and its rules; `provider.rs`: one configured
//! provider and its listing; `cache.rs`: the shared, time-limited listing cache. Failures
//! are [`CatalogError`]s, which services turn into their own errors.

use std::sync::Arc;
use std::time::Duration;

mod cache;
mod provider;

use cache::ListCache;
use provider::{Provider, ProviderKind};

use crate::config::Config;
use crate::llm::{self, ProviderError, ProviderHttp, ProviderType, RetryPolicy};
use crate::schemas::llm_config::{EmbeddingConfig, LlmConfig, ProviderCategory};

/// Why a model could not be listed or resolved.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The request names no model on offer, or asks what the model cannot give (a 400).
    #[error("{0}")]
    BadRequest(String),
    /// A provider could not list its models.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// A listing task failed.
    #[error("{0}")]
    Internal(String),
}

pub type CatalogResult<T> = Result<T, CatalogError>;

/// Options of `CreateAgent` that shape a resolved LLM configuration.
#[derive(Debug, Clone, Default)]
pub struct LlmResolveOptions {
    pub context_window_limit: Option<i64>,
    pub max_tokens: Option<i64>,
    pub max_reasoning_tokens: Option<i64>,
    pub enable_reasoner: Option<bool>,
}

/// Which providers' models a listing includes; `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct ModelFilter {
    /// Providers of any of these categories (every provider here is `base`).
    pub provider_categories: Option<Vec<ProviderCategory>>,
    pub provider_name: Option<String>,
    pub provider_type: Option<ProviderType>,
}

/// Time limit of one model-list request to a provider.
const LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// Default chunk size of embedding configurations.
const EMBEDDING_CHUNK_SIZE: i64 = 300;
/// Default batch size of non-OpenAI embedding configurations.
const EMBEDDING_BATCH_SIZE: i64 = 32;

pub struct ModelCatalog {
    providers: Vec<Arc<Provider>>,
    http: ProviderHttp,
    ttl: Duration,
    max_context_window: i64,
}

impl ModelCatalog {
    pub fn from_config(config: &Config) -> Self {
        Self::with_http(
            config,
            ProviderHttp::new(LIST_TIMEOUT, RetryPolicy::LISTING),
        )
    }

    /// Like [`ModelCatalog::from_config`] with a given HTTP client (tests shorten retries).
    pub fn with_http(config: &Config, http: ProviderHttp) -> Self {
        let mut providers = Vec::new();
        if let Some(key) = &config.openai_api_key {
            let official = llm::openai::is_official(&config.openai_api_base);
            providers.push(Provider::new(
                ProviderKind::OpenAi,
                // A compatible server's models get their own handle prefix; requests may
                // still name them `openai/<model>`.
                if official { "openai" } else { "openai-proxy" },
                config.openai_api_base.clone(),
                Some(key.clone()),
                official,
            ));
        }
        if let Some(key) = &config.anthropic_api_key {
            providers.push(Provider::new(
                ProviderKind::Anthropic,
                "anthropic",
                config.anthropic_api_base.clone(),
                Some(key.clone()),
                false,
            ));
        }
        if let Some(base) = config
            .ollama_base_url
            .as_ref()
            .filter(|b| !b.trim().is_empty())
        {
            providers.push(Provider::new(
                ProviderKind::Ollama,
                "ollama",
                base.clone(),
                None,
                false,
            ));
        }
        ModelCatalog {
            providers: providers.into_iter().map(Arc::new).collect(),
            http,
            ttl: Duration::from_secs(config.model_list_ttl_secs),
            max_context_window: config.global_max_context_window_limit,
        }
    }

    /// Names of the configured providers, in listing order.
    pub fn provider_names(&self) -> Vec<&'static str> {
        self.providers.iter().map(|p| p.kind.name()).collect()
    }

    /// The chat models of the providers selected by `filter`, with each model's full
    /// context window. A selected provider that cannot list its models fails the call.
    pub async fn list_llm_models(&self, filter: &ModelFilter) -> CatalogResult<Vec<LlmConfig>> {
        let selected: Vec<Arc<Provider>> = self
            .providers
            .iter()
            .filter(|p| p.matches(filter))
            .cloned()
            .collect();
        let mut tasks = tokio::task::JoinSet::new();
        for (index, provider) in selected.into_iter().enumerate() {
            let http = self.http.clone();
            let ttl = self.ttl;
            tasks.spawn(async move { (index, provider.offer(&http, ttl).await) });
        }
        let mut offers = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (index, result) =
                joined.map_err(|e| CatalogError::Internal(format!("model listing task: {e}")))?;
            offers.push((index, result.map_err(upstream)?));
        }
        offers.sort_by_key(|(index, _)| *index);
        Ok(offers
            .into_iter()
            .flat_map(|(_, offer)| offer.llm.clone())
            .collect())
    }

    /// The embedding models of every provider.
    pub async fn list_embedding_models(&self) -> CatalogResult<Vec<EmbeddingConfig>> {
        let mut all = Vec::new();
        for provider in &self.providers {
            all.extend(
                provider
                    .embedding_models(&self.http, self.ttl)
                    .await
                    .map_err(upstream)?,
            );
        }
        Ok(all)
    }

    /// Resolves `provider/model` into a full LLM configuration: the provider is found by
    /// name or handle prefix, the model by handle or else by model name; then the context
    /// window is capped (or set to `context_window_limit`) and the options applied.
    pub async fn resolve_llm(
        &self,
        handle: &str,
        opts: &LlmResolveOptions,
    ) -> CatalogResult<LlmConfig> {
        let (prefix, model) = self.split_handle(handle, HandleKind::Llm).await?;
        let Some(provider) = self.provider_for(prefix) else {
            return Err(self
                .unsupported_provider(prefix, handle, HandleKind::Llm)
                .await);
        };
        let offer = provider
            .offer(&self.http, self.ttl)
            .await
            .map_err(upstream)?;
        let found = pick(&offer.llm, handle, model, llm_key)
            .ok_or_else(|| not_found(handle, offer.llm.iter().filter_map(|c| c.handle.clone())))?;
        apply_llm_options(found.clone(), opts, self.max_context_window)
    }

    /// Resolves `provider/model` into an embedding configuration; `chunk_size` replaces the
    /// default chunk size when given.
    pub async fn resolve_embedding(
        &self,
        handle: &str,
        chunk_size: Option<i64>,
    ) -> CatalogResult<EmbeddingConfig> {
        let (prefix, model) = self.split_handle(handle, HandleKind::Embedding).await?;
        let Some(provider) = self.provider_for(prefix) else {
            return Err(self
                .unsupported_provider(prefix, handle, HandleKind::Embedding)
                .await);
        };
        let models = provider
            .embedding_models(&self.http, self.ttl)
            .await
            .map_err(upstream)?;
        let found = pick(&models, handle, model, embedding_key)
            .ok_or_else(|| not_found(handle, models.iter().filter_map(|c| c.handle.clone())))?;
        let mut config = found.clone();
        if let Some(size) = chunk_size {
            config.embedding_chunk_size = Some(size);
        }
        Ok(config)
    }

    fn provider_for(&self, prefix: &str) -> Option<&Arc<Provider>> {
        self.providers
            .iter()
            .find(|p| p.kind.name() == prefix || p.handle_prefix == prefix)
    }

    async fn split_handle<'h>(
        &self,
        handle: &'h str,
        kind: HandleKind,
    ) -> CatalogResult<(&'h str, &'h str)> {
        match handle.split_once('/') {
            Some(parts) => Ok(parts),
            None => {
                let available = self.available_handles(kind).await;
                Err(CatalogError::BadRequest(format!(
                    "Handle {handle} is not of the form provider/model, must be one of {}",
                    python_list(available)
                )))
            }
        }
    }

    async fn unsupported_provider(
        &self,
        prefix: &str,
        handle: &str,
        kind: HandleKind,
    ) -> CatalogError {
        if self.providers.is_empty() {
            return CatalogError::BadRequest(format!(
                "Provider {prefix} is not supported (handle {handle}): no model provider is configured; \
                 set OPENAI_API_KEY, ANTHROPIC_API_KEY or OLLAMA_BASE_URL"
            ));
        }
        let available = self.available_handles(kind).await;
        CatalogError::BadRequest(format!(
            "Provider {prefix} is not supported (handle {handle}), must be one of {}",
            python_list(available)
        ))
    }

    /// Every handle of the kind the providers currently offer; providers that cannot be
    /// listed are skipped (this only feeds error messages).
    async fn available_handles(&self, kind: HandleKind) -> Vec<String> {
        let mut handles = Vec::new();
        for provider in &self.providers {
            match kind {
                HandleKind::Llm => {
                    if let Ok(offer) = provider.offer(&self.http, self.ttl).await {
                        handles.extend(offer.llm.iter().filter_map(|c| c.handle.clone()));
                    }
                }
                HandleKind::Embedding => {
                    if let Ok(models) = provider.embedding_models(&self.http, self.ttl).await {
                        handles.extend(models.into_iter().filter_map(|c| c.handle));
                    }
                }
            }
        }
        handles
    }
}

#[derive(Debug, Clone, Copy)]
enum HandleKind {
    Llm,
    Embedding,
}

fn upstream(err: ProviderError) -> CatalogError {
    CatalogError::Provider(err)
}

fn not_found(handle: &str, available: impl Iterator<Item = String>) -> CatalogError {
    CatalogError::BadRequest(format!(
        "Handle {handle} not found, must be one of {}",
        python_list(available.collect())
    ))
}

/// `['a', 'b']`, the list format of the original's messages.
fn python_list(items: Vec<String>) -> String {
    let quoted: Vec<String> = items.iter().map(|h| format!("'{h}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// The item whose handle is `handle`, else the first whose model name is `model` (or
/// `model:latest`, Ollama's default tag).
fn pick<'a, T>(
    items: &'a [T],
    handle: &str,
    model: &str,
    key: impl Fn(&T) -> (Option<&str>, &str),
) -> Option<&'a T> {
    if let Some(found) = items.iter().find(|i| key(i).0 == Some(handle)) {
        return Some(found);
    }
    if let Some(found) = items.iter().find(|i| key(i).1 == model) {
        return Some(found);
    }
    if !model.contains(':') {
        let tagged = format!("{model}:latest");
        return items.iter().find(|i| key(i).1 == tagged);
    }
    None
}

fn llm_key(c: &LlmConfig) -> (Option<&str>, &str) {
    (c.handle.as_deref(), c.model.as_str())
}

fn embedding_key(c: &EmbeddingConfig) -> (Option<&str>, &str) {
    (c.handle.as_deref(), c.embedding_model.as_str())
}

/// Applies the creation options to a listed model's configuration (whose `context_window`
/// is the model maximum).
fn apply_llm_options(
    mut config: LlmConfig,
    opts: &LlmResolveOptions,
    max_context_window: i64,
) -> CatalogResult<LlmConfig> {
    let maximum = config.context_window;
    config.context_window = match opts.context_window_limit {
        Some(limit) if limit > maximum => {
            return Err(CatalogError::BadRequest(format!(
                "Context window limit ({limit}) is greater than maximum of ({maximum})"
            )));
        }
        Some(limit) if limit <= 0 => {
            return Err(CatalogError::BadRequest(format!(
                "Context window limit ({limit}) must be a positive number"
            )));
        }
        Some(limit) => limit,
        None => maximum.min(max_context_window),
    };
    if let Some(max_tokens) = opts.max_tokens {
        config.max_tokens = Some(max_tokens);
    }
    if let Some(reasoning) = opts.max_reasoning_tokens {
        let Some(max_tokens) = opts.max_tokens else {
            return Err(CatalogError::BadRequest(
                "max_tokens must be set when max_reasoning_tokens is set".to_owned(),
            ));
        };
        if reasoning >= max_tokens {
            return Err(CatalogError::BadRequest(format!(
                "max_reasoning_tokens ({reasoning}) must be smaller than max_tokens ({max_tokens})"
            )));
        }
        config.max_reasoning_tokens = reasoning;
    }
    if let Some(enable) = opts.enable_reasoner {
        config.enable_reasoner = enable;
    }
    config.normalize();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;

    use super::*;

    fn config() -> Config {
        let mut config = Config::for_tests();
        config.openai_api_key = Some("sk-test".parse().unwrap());
        config.anthropic_api_key = None;
        config.ollama_base_url = None;
        config
    }

    fn openai_provider(base: &str) -> Provider {
        let official = llm::openai::is_official(base);
        Provider::new(
            ProviderKind::OpenAi,
            if official { "openai" } else { "openai-proxy" },
            base.to_owned(),
            Some("sk-test".parse().unwrap()),
            official,
        )
    }

    #[test]
    fn official_openai_listing_is_filtered_and_capped_on_resolution() {
        let provider = openai_provider("https://api.openai.com/v1");
        let offer = provider.openai_offer(vec![
            "gpt-4o-mini".into(),
            "gpt-4o-mini-tts".into(),
            "text-embedding-3-small".into(),
            "o1-mini".into(),
        ]);
        let handles: Vec<_> = offer
            .llm
            .iter()
            .map(|c| c.handle.clone().unwrap())
            .collect();
        assert_eq!(handles, ["openai/gpt-4o-mini"]);
        let resolved =
            apply_llm_options(offer.llm[0].clone(), &LlmResolveOptions::default(), 32000).unwrap();
        assert_eq!(
            serde_json::to_value(&resolved).unwrap(),
            json!({"model":"gpt-4o-mini","model_endpoint_type":"openai","model_endpoint":"https://api.openai.com/v1",
                "provider_name":"openai","provider_category":"base","model_wrapper":null,"context_window":32000,
                "put_inner_thoughts_in_kwargs":true,"handle":"openai/gpt-4o-mini","temperature":0.7,"max_tokens":4096,
                "enable_reasoner":false,"reasoning_effort":null,"max_reasoning_tokens":0,"frequency_penalty":1.0})
        );
    }

    #[test]
    fn compatible_server_listing_is_unfiltered_with_proxy_handles() {
        let provider = openai_provider("http://127.0.0.1:8799/v1");
        let offer = provider.openai_offer(vec!["gpt-4o-mini".into(), "llama-3-70b".into()]);
        let summary: Vec<_> = offer
            .llm
            .iter()
            .map(|c| {
                (
                    c.handle.clone().unwrap(),
                    c.context_window,
                    c.frequency_penalty,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("openai-proxy/gpt-4o-mini".to_owned(), 128_000, Some(1.0)),
                ("openai-proxy/llama-3-70b".to_owned(), 30_000, None)
            ]
        );
        assert_eq!(offer.llm[0].provider_name.as_deref(), Some("openai"));
    }

    #[test]
    fn pick_prefers_handle_then_model_name() {
        let provider = openai_provider("http://127.0.0.1:8799/v1");
        let offer = provider.openai_offer(vec!["gpt-4o".into(), "gpt-4o-mini".into()]);
        let key = llm_key;
        let by_handle = pick(&offer.llm, "openai-proxy/gpt-4o-mini", "gpt-4o-mini", key).unwrap();
        assert_eq!(by_handle.model, "gpt-4o-mini");
        let by_model = pick(&offer.llm, "openai/gpt-4o-mini", "gpt-4o-mini", key).unwrap();
        assert_eq!(by_model.handle.as_deref(), Some("openai-proxy/gpt-4o-mini"));
        assert!(pick(&offer.llm, "openai/gpt-5", "gpt-5", key).is_none());
    }

    #[test]
    fn pick_accepts_ollama_names_without_tag() {
        let provider = Provider::new(
            ProviderKind::Ollama,
            "ollama",
            "http://o:11434".into(),
            None,
            false,
        );
        let offer = provider.ollama_offer(vec![llm::ollama::OllamaModel {
            name: "llama3.2:latest".into(),
            details: None,
        }]);
        let key = llm_key;
        let found = pick(&offer.llm, "ollama/llama3.2", "llama3.2", key).unwrap();
        assert_eq!(found.handle.as_deref(), Some("ollama/llama3.2:latest"));
        assert_eq!(found.context_window, 131_072);
        assert_eq!(found.model_endpoint_type, "ollama");
    }

    #[test]
    fn resolve_options_are_applied_and_checked() {
        let provider = openai_provider("https://api.openai.com/v1");
        let base = provider.openai_offer(vec!["gpt-4o".into()]).llm.remove(0);

        let opts = LlmResolveOptions {
            context_window_limit: Some(64_000),
            ..Default::default()
        };
        assert_eq!(
            apply_llm_options(base.clone(), &opts, 32000)
                .unwrap()
                .context_window,
            64_000
        );

        let opts = LlmResolveOptions {
            context_window_limit: Some(200_000),
            ..Default::default()
        };
        let err = apply_llm_options(base.clone(), &opts, 32000).unwrap_err();
        assert!(
            matches!(&err, CatalogError::BadRequest(m)
            if m == "Context window limit (200000) is greater than maximum of (128000)"),
            "{err:?}"
        );

        let opts = LlmResolveOptions {
            context_window_limit: Some(0),
            ..Default::default()
        };
        assert!(matches!(
            apply_llm_options(base.clone(), &opts, 32000),
            Err(CatalogError::BadRequest(_))
        ));

        let opts = LlmResolveOptions {
            max_tokens: Some(1000),
            enable_reasoner: Some(true),
            ..Default::default()
        };
        let resolved = apply_llm_options(base.clone(), &opts, 32000).unwrap();
        assert_eq!(
            (resolved.max_tokens, resolved.enable_reasoner),
            (Some(1000), true)
        );
        assert_eq!(resolved.put_inner_thoughts_in_kwargs, Some(true));

        let opts = LlmResolveOptions {
            max_reasoning_tokens: Some(500),
            ..Default::default()
        };
        assert!(matches!(
            apply_llm_options(base.clone(), &opts, 32000),
            Err(CatalogError::BadRequest(_))
        ));
        let opts = LlmResolveOptions {
            max_tokens: Some(500),
            max_reasoning_tokens: Some(500),
            ..Default::default()
        };
        assert!(matches!(
            apply_llm_options(base.clone(), &opts, 32000),
            Err(CatalogError::BadRequest(_))
        ));
        let opts = LlmResolveOptions {
            max_tokens: Some(2000),
            max_reasoning_tokens: Some(1024),
            ..Default::default()
        };
        assert_eq!(
            apply_llm_options(base, &opts, 32000)
                .unwrap()
                .max_reasoning_tokens,
            1024
        );
    }

    #[test]
    fn reasoning_models_and_anthropic_reasoners_do_not_put_thoughts_in_kwargs() {
        let openai = openai_provider("https://api.openai.com/v1");
        let o3 = openai.openai_offer(vec!["o3-mini".into()]).llm.remove(0);
        assert_eq!(o3.put_inner_thoughts_in_kwargs, Some(false));
        let gpt4 = openai.openai_offer(vec!["gpt-4".into()]).llm.remove(0);
        assert_eq!(gpt4.put_inner_thoughts_in_kwargs, Some(false));

        let anthropic = Provider::new(
            ProviderKind::Anthropic,
            "anthropic",
            "https://api.anthropic.com/v1".into(),
            Some("k".parse().unwrap()),
            false,
        );
        let claude = anthropic.llm_config(
            "claude-sonnet-4-20250514",
            llm::anthropic::CONTEXT_WINDOW,
            None,
        );
        assert_eq!(
            claude.handle.as_deref(),
            Some("anthropic/claude-sonnet-4-20250514")
        );
        assert_eq!(claude.put_inner_thoughts_in_kwargs, Some(true));
        let opts = LlmResolveOptions {
            enable_reasoner: Some(true),
            ..Default::default()
        };
        let resolved = apply_llm_options(claude, &opts, 32000).unwrap();
        assert_eq!(resolved.put_inner_thoughts_in_kwargs, Some(false));
        assert_eq!(resolved.context_window, 32000);
    }

    #[tokio::test]
    async fn openai_embeddings_need_no_listing_and_keep_openai_handles() {
        let mut cfg = config();
        cfg.openai_api_base = "http://127.0.0.1:1/v1".into();
        let catalog = ModelCatalog::from_config(&cfg);
        let resolved = catalog
            .resolve_embedding("openai/text-embedding-3-small", None)
            .await
            .unwrap();
        assert_eq!(
            serde_json::to_value(&resolved).unwrap(),
            json!({"embedding_endpoint_type":"openai","embedding_endpoint":"http://127.0.0.1:1/v1",
                "embedding_model":"text-embedding-3-small","embedding_dim":1536,"embedding_chunk_size":300,
                "handle":"openai/text-embedding-3-small","batch_size":1024,"azure_endpoint":null,
                "azure_version":null,"azure_deployment":null})
        );
        let large = catalog
            .resolve_embedding("openai-proxy/text-embedding-3-large", Some(512))
            .await
            .unwrap();
        assert_eq!(
            (large.embedding_dim, large.embedding_chunk_size),
            (3072, Some(512))
        );
        let err = catalog
            .resolve_embedding("openai/nope", None)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, CatalogError::BadRequest(m) if m.contains("'openai/text-embedding-ada-002'")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn unknown_provider_without_any_configured_says_how_to_configure() {
        let mut cfg = config();
        cfg.openai_api_key = None;
        let catalog = ModelCatalog::from_config(&cfg);
        let err = catalog
            .resolve_llm("openai/gpt-4o-mini", &LlmResolveOptions::default())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, CatalogError::BadRequest(m) if m.contains("OPENAI_API_KEY")),
            "{err:?}"
        );
        assert!(
            catalog
                .list_llm_models(&ModelFilter::default())
                .await
                .unwrap()
                .is_empty()
        );
        assert!(catalog.list_embedding_models().await.unwrap().is_empty());
    }

    #[test]
    fn filters_select_providers() {
        let provider = openai_provider("https://api.openai.com/v1");
        assert!(provider.matches(&ModelFilter::default()));
        let byok = ModelFilter {
            provider_categories: Some(vec![ProviderCategory::Byok]),
            ..Default::default()
        };
        assert!(!provider.matches(&byok));
        let both = ModelFilter {
            provider_categories: Some(vec![ProviderCategory::Byok, ProviderCategory::Base]),
            ..Default::default()
        };
        assert!(provider.matches(&both));
        let named = ModelFilter {
            provider_name: Some("anthropic".into()),
            ..Default::default()
        };
        assert!(!provider.matches(&named));
        let typed = ModelFilter {
            provider_type: Some(ProviderType::Openai),
            ..Default::default()
        };
        assert!(provider.matches(&typed));
    }

    #[tokio::test]
    async fn cache_shares_one_fetch_among_concurrent_callers() {
        let cache = Arc::new(ListCache::<u32>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for _ in 0..8 {
            let cache = cache.clone();
            let calls = calls.clone();
            handles.push(tokio::spawn(async move {
                cache
                    .get_or_fetch(Duration::from_secs(60), || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(7)
                    })
                    .await
            }));
        }
        for h in handles {
            assert_eq!(h.await.unwrap(), Ok(7));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn cache_shares_failures_only_with_waiting_callers_and_expires() {
        let cache = Arc::new(ListCache::<u32>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let failing = |calls: Arc<AtomicUsize>| async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err(ProviderError::Status {
                provider: "p".into(),
                endpoint: "e".into(),
                status: 500,
                message: "down".into(),
            })
        };
        let (a, b) = tokio::join!(
            cache.get_or_fetch(Duration::from_secs(60), || failing(calls.clone())),
            cache.get_or_fetch(Duration::from_secs(60), || failing(calls.clone())),
        );
        assert!(a.is_err() && b.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // A later caller tries again.
        let c = cache
            .get_or_fetch(Duration::from_secs(60), || async { Ok(1) })
            .await;
        assert_eq!(c, Ok(1));
        // Fresh values are reused within the TTL and refetched after it.
        let d = cache
            .get_or_fetch(Duration::from_secs(60), || async { Ok(2) })
            .await;
        assert_eq!(d, Ok(1));
        let e = cache.get_or_fetch(Duration::ZERO, || async { Ok(3) }).await;
        assert_eq!(e, Ok(3));
    }
}
