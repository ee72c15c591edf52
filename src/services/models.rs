//! Model catalogue: what the configured providers offer, and resolution of `provider/model`
//! handles into full LLM and embedding configurations.

use super::ServiceResult;
use crate::config::Config;
use crate::schemas::llm_config::{EmbeddingConfig, LlmConfig};

/// Options of `CreateAgent` that shape a resolved LLM configuration.
#[derive(Debug, Clone, Default)]
pub struct LlmResolveOptions {
    pub context_window_limit: Option<i64>,
    pub max_tokens: Option<i64>,
    pub max_reasoning_tokens: Option<i64>,
    pub enable_reasoner: Option<bool>,
}

pub struct ModelCatalog {}

impl ModelCatalog {
    pub fn from_config(_config: &Config) -> Self {
        ModelCatalog {}
    }

    pub async fn resolve_llm(&self, handle: &str, _opts: &LlmResolveOptions) -> ServiceResult<LlmConfig> {
        Err(super::ServiceError::BadRequest(format!("Handle {handle} not found")))
    }

    pub async fn resolve_embedding(
        &self,
        handle: &str,
        _chunk_size: Option<i64>,
    ) -> ServiceResult<EmbeddingConfig> {
        Err(super::ServiceError::BadRequest(format!("Handle {handle} not found")))
    }
}
