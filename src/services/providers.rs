//! Providers an organization brings with its own key (BYOK): stored per organization,
//! their models listed beside the configured providers' and usable as
//! `<provider-name>/<model>` handles, and their keys used for the chats of agents whose
//! `llm_config` names them (`provider_category: byok`).
//!
//! Keys are secrets: the API only ever shows them masked, and nothing here logs one.

use std::sync::OnceLock;
use std::time::Duration;

use super::{ServiceError, ServiceResult};
use crate::config::Secret;
use crate::llm::catalog::{LlmResolveOptions, ModelCatalog, apply_llm_options};
use crate::llm::{self, ProviderError, ProviderHttp, ProviderKeys, ProviderType, RetryPolicy};
use crate::schemas::llm_config::{EmbeddingConfig, LlmConfig, ProviderCategory};
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::schemas::provider::{
    Provider, ProviderCheck, ProviderCreate, ProviderRow, ProviderUpdate,
};
use crate::store::{ProviderDeletion, ProviderPatch, Store};

/// Time limit of one model-list request to a brought provider.
const LIST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest provider name: it is the prefix of handles.
const MAX_NAME_CHARS: usize = 100;
/// Names of the server's own providers: no brought provider may take them.
const RESERVED_NAMES: &[&str] = &["openai", "openai-proxy", "anthropic", "ollama", "letta"];
/// Default chunk size of embedding configurations.
const EMBEDDING_CHUNK_SIZE: i64 = 300;
/// Default batch size of Ollama embedding configurations.
const OLLAMA_EMBEDDING_BATCH_SIZE: i64 = 32;

/// The HTTP client of model listings, shared by every request.
fn listing_http() -> &'static ProviderHttp {
    static HTTP: OnceLock<ProviderHttp> = OnceLock::new();
    HTTP.get_or_init(|| ProviderHttp::new(LIST_TIMEOUT, RetryPolicy::LISTING))
}

/// How a provider type is reached: its wire protocol family and its public endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    OpenAi,
    Anthropic,
    Ollama,
}

/// The family and default base URL of the provider types this server can bring keys for.
fn family_of(provider_type: ProviderType) -> Option<(Family, Option<&'static str>)> {
    Some(match provider_type {
        ProviderType::Openai => (Family::OpenAi, Some(llm::openai::OFFICIAL_BASE_URL)),
        ProviderType::Anthropic => (Family::Anthropic, Some("https://api.anthropic.com/v1")),
        ProviderType::Ollama => (Family::Ollama, None),
        ProviderType::Groq => (Family::OpenAi, Some("https://api.groq.com/openai/v1")),
        ProviderType::Together => (Family::OpenAi, Some("https://api.together.xyz/v1")),
        ProviderType::Xai => (Family::OpenAi, Some("https://api.x.ai/v1")),
        ProviderType::Deepseek => (Family::OpenAi, Some("https://api.deepseek.com/v1")),
        _ => return None,
    })
}

/// The provider type named `wire`, as a 422 on `loc` when it is no type at all and a 400
/// when this server cannot use it.
fn parse_type(wire: &str, loc: &[&str]) -> ServiceResult<(ProviderType, Family, Option<String>)> {
    let kind: ProviderType = serde_json::from_value(serde_json::Value::String(wire.to_owned()))
        .map_err(|_| {
            ServiceError::value_error(
                loc,
                format!("{wire:?} is not a provider type"),
                serde_json::Value::String(wire.to_owned()),
            )
        })?;
    let (family, base) = family_of(kind).ok_or_else(|| {
        ServiceError::BadRequest(format!(
            "Provider type {wire} is not supported by this server; use one of openai, anthropic, \
             ollama, groq, together, xai, deepseek"
        ))
    })?;
    Ok((kind, family, base.map(str::to_owned)))
}

/// A checked base URL: http(s), no credentials in it, without a trailing slash.
fn parse_base_url(url: &str) -> ServiceResult<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(trimmed).map_err(|e| {
        ServiceError::value_error(
            &["body", "base_url"],
            format!("invalid URL: {e}"),
            url.into(),
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https")
        || !parsed.username().is_empty()
        || parsed.password().is_some()
    {
        return Err(ServiceError::value_error(
            &["body", "base_url"],
            "must be an http(s) URL without credentials",
            url.into(),
        ));
    }
    Ok(trimmed.to_owned())
}

fn not_found(id: &str) -> ServiceError {
    ServiceError::NotFound(format!("Provider provider_id={id} not found"))
}

/// What one brought provider offers.
#[derive(Debug, Default)]
pub struct ProviderOffer {
    pub llm: Vec<LlmConfig>,
    pub embedding: Vec<EmbeddingConfig>,
}

pub struct ProviderService<'a> {
    store: &'a dyn Store,
    max_context_window: i64,
}

impl<'a> ProviderService<'a> {
    /// `max_context_window` caps the context window of resolved models (as the catalogue's).
    pub fn new(store: &'a dyn Store, max_context_window: i64) -> Self {
        ProviderService {
            store,
            max_context_window,
        }
    }

    pub async fn list(
        &self,
        actor: &Actor,
        name: Option<&str>,
        provider_type: Option<ProviderType>,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> ServiceResult<Vec<Provider>> {
        let kind = provider_type.map(type_name);
        let rows = self
            .store
            .list_providers(&actor.organization_id, name, kind.as_deref(), after, limit)
            .await?;
        Ok(rows.iter().map(ProviderRow::to_public).collect())
    }

    pub async fn create(&self, actor: &Actor, req: ProviderCreate) -> ServiceResult<Provider> {
        let (kind, family, default_base) =
            parse_type(&req.provider_type, &["body", "provider_type"])?;
        let name = req.name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(ServiceError::value_error(
                &["body", "name"],
                "a provider name is 1 to 100 letters, digits, '-', '_' or '.'",
                req.name.clone().into(),
            ));
        }
        // A handle's prefix must name one provider: the configured ones keep theirs.
        if name == req.provider_type || RESERVED_NAMES.contains(&name) {
            return Err(ServiceError::BadRequest(format!(
                "Provider name must be unique and different from provider type and from the \
                 server's own providers: {name}"
            )));
        }
        if req.api_key.trim().is_empty() && family != Family::Ollama {
            return Err(ServiceError::value_error(
                &["body", "api_key"],
                "API key is required",
                "".into(),
            ));
        }
        let base_url = match req.base_url.as_deref() {
            Some(url) => parse_base_url(url)?,
            None => default_base.ok_or_else(|| {
                ServiceError::value_error(
                    &["body", "base_url"],
                    format!("a {} provider needs a base_url", type_name(kind)),
                    serde_json::Value::Null,
                )
            })?,
        };
        let ts = crate::schemas::common::now();
        let row = ProviderRow {
            id: new_id("provider"),
            organization_id: actor.organization_id.clone(),
            name: name.to_owned(),
            provider_type: type_name(kind),
            api_key: Some(req.api_key),
            base_url: Some(base_url),
            access_key: req.access_key,
            region: req.region,
            created_by_id: Some(actor.user_id.clone()),
            last_updated_by_id: Some(actor.user_id.clone()),
            created_at: ts,
            updated_at: ts,
        };
        self.store
            .insert_provider(&row)
            .await
            .map_err(|err| match err {
                crate::store::StoreError::Unique(_) => ServiceError::Conflict(format!(
                    "A provider named {name} already exists in this organization"
                )),
                other => other.into(),
            })?;
        Ok(row.to_public())
    }

    pub async fn update(
        &self,
        actor: &Actor,
        id: &str,
        req: ProviderUpdate,
    ) -> ServiceResult<Provider> {
        let base_url = req.base_url.as_deref().map(parse_base_url).transpose()?;
        let patch = ProviderPatch {
            api_key: Some(req.api_key),
            access_key: req.access_key,
            region: req.region,
            base_url,
            updated_by: Some(actor.user_id.clone()),
        };
        let row = self
            .store
            .update_provider(&actor.organization_id, id, &patch)
            .await?
            .ok_or_else(|| not_found(id))?;
        Ok(row.to_public())
    }

    /// Deletes the provider; 409 while an agent of the organization chats through it.
    pub async fn delete(&self, actor: &Actor, id: &str) -> ServiceResult<()> {
        match self
            .store
            .delete_provider(&actor.organization_id, id)
            .await?
        {
            ProviderDeletion::Deleted => Ok(()),
            ProviderDeletion::NotFound => Err(not_found(id)),
            ProviderDeletion::InUse(agents) => Err(ServiceError::Conflict(format!(
                "Provider provider_id={id} is used by agents ({}); change their model first",
                agents.join(", ")
            ))),
        }
    }

    /// Lists the provider's models with the given key: Ok when the provider accepts it.
    pub async fn check(&self, req: &ProviderCheck) -> ServiceResult<String> {
        let (kind, family, default_base) =
            parse_type(&req.provider_type, &["body", "provider_type"])?;
        if req.api_key.trim().is_empty() {
            return Err(ServiceError::value_error(
                &["body", "api_key"],
                "API key is required",
                "".into(),
            ));
        }
        let base_url = match req.base_url.as_deref() {
            Some(url) => parse_base_url(url)?,
            None => default_base.ok_or_else(|| {
                ServiceError::value_error(
                    &["body", "base_url"],
                    format!("a {} provider needs a base_url", type_name(kind)),
                    serde_json::Value::Null,
                )
            })?,
        };
        let name = type_name(kind);
        let key = Secret::new(req.api_key.clone());
        let listed = match family {
            Family::OpenAi => llm::openai::list_models(listing_http(), &name, &base_url, &key)
                .await
                .map(drop),
            Family::Anthropic => {
                llm::anthropic::list_models(listing_http(), &name, &base_url, &key)
                    .await
                    .map(drop)
            }
            Family::Ollama => llm::ollama::list_models(listing_http(), &name, &base_url)
                .await
                .map(drop),
        };
        match listed {
            Ok(()) => Ok(format!("Valid api key for provider_type={name}")),
            // A refused key is the caller's problem: 401, as the original.
            Err(
                err @ ProviderError::Status {
                    status: 401 | 403, ..
                },
            ) => Err(ServiceError::upstream(
                llm::chat::LlmErrorKind::Auth,
                err.to_string(),
            )),
            Err(ProviderError::Status {
                status, message, ..
            }) if (400..500).contains(&status) => Err(ServiceError::BadRequest(format!(
                "Provider {name} refused the check (HTTP {status}): {message}"
            ))),
            Err(err) => Err(err.into()),
        }
    }

    /// The models of the organization's providers selected by the filter. A provider that
    /// cannot be listed (a revoked key, an endpoint down) is skipped with a warning, so one
    /// organization's broken provider never fails the whole listing.
    pub async fn offers(
        &self,
        actor: &Actor,
        categories: Option<&[ProviderCategory]>,
        provider_name: Option<&str>,
        provider_type: Option<ProviderType>,
    ) -> ServiceResult<Vec<ProviderOffer>> {
        if let Some(categories) = categories.filter(|c| !c.is_empty())
            && !categories.contains(&ProviderCategory::Byok)
        {
            return Ok(Vec::new());
        }
        let kind = provider_type.map(type_name);
        let rows = self
            .store
            .list_providers(
                &actor.organization_id,
                provider_name,
                kind.as_deref(),
                None,
                None,
            )
            .await?;
        let mut tasks = tokio::task::JoinSet::new();
        for (index, row) in rows.into_iter().enumerate() {
            tasks.spawn(async move { (index, row.name.clone(), offer_of(&row).await) });
        }
        let mut offers = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (index, name, result) =
                joined.map_err(|e| ServiceError::Internal(format!("model listing task: {e}")))?;
            match result {
                Ok(offer) => offers.push((index, offer)),
                Err(err) => tracing::warn!(provider = %name, error = %err, "BYOK provider skipped"),
            }
        }
        offers.sort_by_key(|(index, _)| *index);
        Ok(offers.into_iter().map(|(_, offer)| offer).collect())
    }

    /// The chat models of the organization's providers (see [`Self::offers`]).
    pub async fn llm_models(
        &self,
        actor: &Actor,
        categories: Option<&[ProviderCategory]>,
        provider_name: Option<&str>,
        provider_type: Option<ProviderType>,
    ) -> ServiceResult<Vec<LlmConfig>> {
        let offers = self
            .offers(actor, categories, provider_name, provider_type)
            .await?;
        Ok(offers.into_iter().flat_map(|o| o.llm).collect())
    }

    pub async fn embedding_models(&self, actor: &Actor) -> ServiceResult<Vec<EmbeddingConfig>> {
        let offers = self.offers(actor, None, None, None).await?;
        Ok(offers.into_iter().flat_map(|o| o.embedding).collect())
    }

    /// Resolves `<provider-name>/<model>` when the prefix names a provider of the actor's
    /// organization; `None` when it does not (the configured providers then resolve it).
    pub async fn resolve_llm(
        &self,
        actor: &Actor,
        handle: &str,
        opts: &LlmResolveOptions,
    ) -> ServiceResult<Option<LlmConfig>> {
        let Some((prefix, model)) = handle.split_once('/') else {
            return Ok(None);
        };
        let Some(row) = self
            .store
            .get_provider_by_name(&actor.organization_id, prefix)
            .await?
        else {
            return Ok(None);
        };
        let offer = offer_of(&row).await?;
        let found = offer
            .llm
            .iter()
            .find(|c| c.handle.as_deref() == Some(handle) || c.model == model)
            .ok_or_else(|| {
                handle_not_found(handle, offer.llm.iter().filter_map(|c| c.handle.clone()))
            })?;
        apply_llm_options(found.clone(), opts, self.max_context_window)
            .map(Some)
            .map_err(ServiceError::from)
    }

    /// Like [`Self::resolve_llm`] for embedding handles.
    pub async fn resolve_embedding(
        &self,
        actor: &Actor,
        handle: &str,
        chunk_size: Option<i64>,
    ) -> ServiceResult<Option<EmbeddingConfig>> {
        let Some((prefix, model)) = handle.split_once('/') else {
            return Ok(None);
        };
        let Some(row) = self
            .store
            .get_provider_by_name(&actor.organization_id, prefix)
            .await?
        else {
            return Ok(None);
        };
        let offer = offer_of(&row).await?;
        let mut found = offer
            .embedding
            .iter()
            .find(|c| c.handle.as_deref() == Some(handle) || c.embedding_model == model)
            .cloned()
            .ok_or_else(|| {
                handle_not_found(
                    handle,
                    offer.embedding.iter().filter_map(|c| c.handle.clone()),
                )
            })?;
        if let Some(size) = chunk_size {
            found.embedding_chunk_size = Some(size);
        }
        Ok(Some(found))
    }
}

/// The wire name of a provider type (`lmstudio_openai`, …).
pub fn type_name(kind: ProviderType) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn handle_not_found(handle: &str, available: impl Iterator<Item = String>) -> ServiceError {
    let quoted: Vec<String> = available.map(|h| format!("'{h}'")).collect();
    ServiceError::BadRequest(format!(
        "Handle {handle} not found, must be one of [{}]",
        quoted.join(", ")
    ))
}

/// Lists a stored provider's models as configurations named after it.
async fn offer_of(row: &ProviderRow) -> Result<ProviderOffer, ProviderError> {
    let kind: Option<ProviderType> =
        serde_json::from_value(serde_json::Value::String(row.provider_type.clone())).ok();
    let Some((family, default_base)) = kind.and_then(family_of) else {
        return Ok(ProviderOffer::default());
    };
    let base = row
        .base_url
        .clone()
        .or_else(|| default_base.map(str::to_owned))
        .unwrap_or_default();
    let key = Secret::new(row.api_key.clone().unwrap_or_default());
    let http = listing_http();
    let llm_config = |model: &str, window: i64, penalty: Option<f64>| {
        let mut config = LlmConfig {
            model: model.to_owned(),
            model_endpoint_type: row.provider_type.clone(),
            model_endpoint: Some(base.clone()),
            provider_name: Some(row.name.clone()),
            provider_category: Some(ProviderCategory::Byok),
            model_wrapper: None,
            context_window: window,
            put_inner_thoughts_in_kwargs: None,
            handle: Some(format!("{}/{model}", row.name)),
            temperature: 0.7,
            max_tokens: Some(4096),
            enable_reasoner: false,
            reasoning_effort: None,
            max_reasoning_tokens: 0,
            frequency_penalty: penalty,
        };
        config.normalize();
        config
    };
    let embedding_config = |model: &str, dim: i64, batch: i64| EmbeddingConfig {
        embedding_endpoint_type: row.provider_type.clone(),
        embedding_endpoint: Some(base.clone()),
        embedding_model: model.to_owned(),
        embedding_dim: dim,
        embedding_chunk_size: Some(EMBEDDING_CHUNK_SIZE),
        handle: Some(format!("{}/{model}", row.name)),
        batch_size: batch,
        azure_endpoint: None,
        azure_version: None,
        azure_deployment: None,
    };
    Ok(match family {
        Family::OpenAi => {
            let ids = llm::openai::list_models(http, &row.name, &base, &key).await?;
            let official = llm::openai::is_official(&base);
            let llm = ids
                .iter()
                .filter(|id| !official || llm::openai::is_chat_model(id))
                .map(|id| {
                    llm_config(
                        id,
                        llm::openai::context_window(id),
                        llm::openai::frequency_penalty(id),
                    )
                })
                .collect();
            let embedding = if kind == Some(ProviderType::Openai) {
                llm::openai::EMBEDDING_MODELS
                    .iter()
                    .map(|(model, dim)| {
                        embedding_config(model, *dim, llm::openai::EMBEDDING_BATCH_SIZE)
                    })
                    .collect()
            } else {
                Vec::new()
            };
            ProviderOffer { llm, embedding }
        }
        Family::Anthropic => {
            let ids = llm::anthropic::list_models(http, &row.name, &base, &key).await?;
            ProviderOffer {
                llm: ids
                    .iter()
                    .map(|id| llm_config(id, llm::anthropic::CONTEXT_WINDOW, None))
                    .collect(),
                embedding: Vec::new(),
            }
        }
        Family::Ollama => {
            let models = llm::ollama::list_models(http, &row.name, &base).await?;
            let (embedding, chat): (Vec<_>, Vec<_>) =
                models.into_iter().partition(|m| m.is_embedding());
            ProviderOffer {
                llm: chat
                    .iter()
                    .map(|m| llm_config(&m.name, m.context_window(), None))
                    .collect(),
                embedding: embedding
                    .iter()
                    .map(|m| {
                        embedding_config(&m.name, m.embedding_dim(), OLLAMA_EMBEDDING_BATCH_SIZE)
                    })
                    .collect(),
            }
        }
    })
}

/// The keys a chat under `llm_config` uses: the server's, or for a model of a brought
/// provider (`provider_category: byok`) that provider's key and endpoint, looked up in the
/// agent's organization. A brought provider that no longer exists is a 400.
pub async fn chat_keys(
    store: &dyn Store,
    org_id: &str,
    llm_config: &LlmConfig,
    base: &ProviderKeys,
) -> ServiceResult<ProviderKeys> {
    if llm_config.provider_category != Some(ProviderCategory::Byok) {
        return Ok(base.clone());
    }
    let Some(name) = llm_config.provider_name.as_deref() else {
        return Ok(base.clone());
    };
    let row = store
        .get_provider_by_name(org_id, name)
        .await?
        .ok_or_else(|| {
            ServiceError::BadRequest(format!(
                "The agent's model is served by provider {name}, which no longer exists in its \
                 organization"
            ))
        })?;
    Ok(keys_for_row(&row, base))
}

/// The keys an embedding under `config` uses: for a model of a brought provider (its handle
/// prefixed with the name of one of the organization's providers) that provider's key and
/// endpoint, else the server's.
pub async fn embedding_keys(
    store: &dyn Store,
    org_id: &str,
    config: &EmbeddingConfig,
    base: &ProviderKeys,
) -> ServiceResult<ProviderKeys> {
    let prefix = config
        .handle
        .as_deref()
        .and_then(|h| h.split_once('/'))
        .map(|(p, _)| p)
        .filter(|p| !RESERVED_NAMES.contains(p));
    let Some(prefix) = prefix else {
        return Ok(base.clone());
    };
    Ok(match store.get_provider_by_name(org_id, prefix).await? {
        Some(row) => keys_for_row(&row, base),
        None => base.clone(),
    })
}

/// The server's keys with the provider's key and endpoint in the slot of its protocol.
fn keys_for_row(row: &ProviderRow, base: &ProviderKeys) -> ProviderKeys {
    let mut keys = base.clone();
    let kind: Option<ProviderType> =
        serde_json::from_value(serde_json::Value::String(row.provider_type.clone())).ok();
    let Some((family, default_base)) = kind.and_then(family_of) else {
        return keys;
    };
    let url = row
        .base_url
        .clone()
        .or_else(|| default_base.map(str::to_owned))
        .unwrap_or_default();
    let key = row.api_key.clone().map(Secret::new);
    match family {
        Family::OpenAi => {
            keys.openai_api_key = key;
            keys.openai_api_base = url;
        }
        Family::Anthropic => {
            keys.anthropic_api_key = key;
            keys.anthropic_api_base = url;
        }
        Family::Ollama => keys.ollama_base_url = Some(url),
    }
    keys
}

/// Resolves model handles against the organization's own providers first, then the
/// configured catalogue.
pub struct HandleResolver<'a> {
    byok: ProviderService<'a>,
    catalog: &'a ModelCatalog,
}

impl<'a> HandleResolver<'a> {
    pub fn new(store: &'a dyn Store, catalog: &'a ModelCatalog, max_context_window: i64) -> Self {
        HandleResolver {
            byok: ProviderService::new(store, max_context_window),
            catalog,
        }
    }

    pub async fn resolve_llm(
        &self,
        actor: &Actor,
        handle: &str,
        opts: &LlmResolveOptions,
    ) -> ServiceResult<LlmConfig> {
        match self.byok.resolve_llm(actor, handle, opts).await? {
            Some(config) => Ok(config),
            None => Ok(self.catalog.resolve_llm(handle, opts).await?),
        }
    }

    pub async fn resolve_embedding(
        &self,
        actor: &Actor,
        handle: &str,
        chunk_size: Option<i64>,
    ) -> ServiceResult<EmbeddingConfig> {
        match self
            .byok
            .resolve_embedding(actor, handle, chunk_size)
            .await?
        {
            Some(config) => Ok(config),
            None => Ok(self.catalog.resolve_embedding(handle, chunk_size).await?),
        }
    }
}
