use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How an agent reaches its chat model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = LLMConfig)]
pub struct LlmConfig {
    pub model: String,
    pub model_endpoint_type: String,
    #[serde(default)]
    pub model_endpoint: Option<String>,
    #[serde(default)]
    pub provider_name: Option<String>,
    #[serde(default)]
    pub provider_category: Option<ProviderCategory>,
    #[serde(default)]
    pub model_wrapper: Option<String>,
    pub context_window: i64,
    #[serde(default)]
    pub put_inner_thoughts_in_kwargs: Option<bool>,
    #[serde(default)]
    pub handle: Option<String>,
    #[serde(default = "default_temperature")]
    #[schema(required = false)]
    pub temperature: f64,
    #[serde(default = "default_max_tokens")]
    pub max_tokens: Option<i64>,
    #[serde(default)]
    #[schema(required = false)]
    pub enable_reasoner: bool,
    #[serde(default)]
    pub reasoning_effort: Option<String>,
    #[serde(default)]
    #[schema(required = false)]
    pub max_reasoning_tokens: i64,
    #[serde(default)]
    pub frequency_penalty: Option<f64>,
}

fn default_temperature() -> f64 {
    0.7
}

fn default_max_tokens() -> Option<i64> {
    Some(4096)
}

impl LlmConfig {
    /// Applies the original's defaulting of `put_inner_thoughts_in_kwargs`: true unless the
    /// model is exactly `gpt-4`; always false for o1/o3/o4 models and Anthropic reasoners.
    pub fn normalize(&mut self) {
        if self.put_inner_thoughts_in_kwargs.is_none() {
            self.put_inner_thoughts_in_kwargs = Some(self.model != "gpt-4");
        }
        let reasoning_model = ["o1", "o3", "o4"].iter().any(|p| self.model.starts_with(p));
        if reasoning_model || (self.model_endpoint_type == "anthropic" && self.enable_reasoner) {
            self.put_inner_thoughts_in_kwargs = Some(false);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderCategory {
    Base,
    Byok,
}

/// How an agent reaches its embedding model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EmbeddingConfig {
    pub embedding_endpoint_type: String,
    #[serde(default)]
    pub embedding_endpoint: Option<String>,
    pub embedding_model: String,
    pub embedding_dim: i64,
    #[serde(default = "default_chunk_size")]
    pub embedding_chunk_size: Option<i64>,
    #[serde(default)]
    pub handle: Option<String>,
    #[serde(default = "default_batch_size")]
    #[schema(required = false)]
    pub batch_size: i64,
    #[serde(default)]
    pub azure_endpoint: Option<String>,
    #[serde(default)]
    pub azure_version: Option<String>,
    #[serde(default)]
    pub azure_deployment: Option<String>,
}

fn default_chunk_size() -> Option<i64> {
    Some(300)
}

fn default_batch_size() -> i64 {
    32
}
