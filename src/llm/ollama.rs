//! Ollama: `GET {base}/api/tags` lists the locally pulled models, chat and embedding alike.

use reqwest::header::HeaderMap;
use serde::Deserialize;

use super::{ProviderError, ProviderHttp, join_url};

/// Context window assumed for a chat model missing from [`context_window`]'s table.
pub const DEFAULT_CONTEXT_WINDOW: i64 = 8192;

/// Dimension assumed for an embedding model missing from [`embedding_dim`]'s table.
pub const DEFAULT_EMBEDDING_DIM: i64 = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OllamaModel {
    /// `name[:tag]`, e.g. `llama3.2:latest`; used as the model id.
    pub name: String,
    #[serde(default)]
    pub details: Option<Details>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct Details {
    #[serde(default)]
    pub family: Option<String>,
    #[serde(default)]
    pub families: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Tags {
    #[serde(default)]
    models: Vec<OllamaModel>,
}

/// The models the server has pulled, in its order.
pub async fn list_models(
    http: &ProviderHttp,
    provider: &str,
    base_url: &str,
) -> Result<Vec<OllamaModel>, ProviderError> {
    let url = join_url(base_url, "api/tags");
    let tags: Tags = http
        .get_json(provider, &url, HeaderMap::new(), None)
        .await?;
    Ok(tags.models)
}

/// The model's name without tag or namespace: `library/nomic-embed-text:v1.5` → `nomic-embed-text`.
fn base_name(name: &str) -> &str {
    let no_tag = name.split(':').next().unwrap_or(name);
    no_tag.rsplit('/').next().unwrap_or(no_tag)
}

/// Known embedding models and their dimensions.
const EMBEDDING_DIMS: &[(&str, i64)] = &[
    ("nomic-embed-text", 768),
    ("mxbai-embed-large", 1024),
    ("all-minilm", 384),
    ("snowflake-arctic-embed2", 1024),
    ("snowflake-arctic-embed", 1024),
    ("bge-m3", 1024),
    ("bge-large", 1024),
    ("paraphrase-multilingual", 768),
    ("granite-embedding", 768),
];

impl OllamaModel {
    /// Whether this is an embedding model: a known one, a name mentioning `embed`, or a
    /// BERT-family architecture.
    pub fn is_embedding(&self) -> bool {
        let base = base_name(&self.name);
        if EMBEDDING_DIMS.iter().any(|(n, _)| *n == base) || base.contains("embed") {
            return true;
        }
        let details = self.details.clone().unwrap_or_default();
        details
            .family
            .iter()
            .chain(details.families.iter().flatten())
            .any(|f| f.contains("bert"))
    }

    pub fn embedding_dim(&self) -> i64 {
        let base = base_name(&self.name);
        EMBEDDING_DIMS
            .iter()
            .find(|(n, _)| *n == base)
            .map_or(DEFAULT_EMBEDDING_DIM, |(_, d)| *d)
    }

    /// The largest context window of a chat model.
    pub fn context_window(&self) -> i64 {
        // Longest prefixes first, so `llama3.1` is not taken for `llama3`.
        const KNOWN: &[(&str, i64)] = &[
            ("llama3.1", 131_072),
            ("llama3.2", 131_072),
            ("llama3.3", 131_072),
            ("llama3", 8_192),
            ("llama2", 4_096),
            ("mistral-nemo", 131_072),
            ("mistral", 32_768),
            ("mixtral", 32_768),
            ("qwen2.5", 32_768),
            ("qwen3", 40_960),
            ("gemma3", 131_072),
            ("gemma2", 8_192),
            ("phi4", 16_384),
            ("deepseek-r1", 131_072),
        ];
        let base = base_name(&self.name);
        KNOWN
            .iter()
            .find(|(prefix, _)| base.starts_with(prefix))
            .map_or(DEFAULT_CONTEXT_WINDOW, |(_, w)| *w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(name: &str, family: Option<&str>) -> OllamaModel {
        OllamaModel {
            name: name.to_owned(),
            details: Some(Details {
                family: family.map(str::to_owned),
                families: None,
            }),
        }
    }

    #[test]
    fn embedding_detection_and_dims() {
        assert!(model("nomic-embed-text:latest", Some("nomic-bert")).is_embedding());
        assert_eq!(model("nomic-embed-text:latest", None).embedding_dim(), 768);
        assert!(model("all-minilm:l6-v2", None).is_embedding());
        assert_eq!(model("all-minilm:l6-v2", None).embedding_dim(), 384);
        assert!(model("someone/custom-bert:1", Some("bert")).is_embedding());
        assert_eq!(
            model("someone/custom-bert:1", Some("bert")).embedding_dim(),
            DEFAULT_EMBEDDING_DIM
        );
        assert!(!model("llama3.2:latest", Some("llama")).is_embedding());
    }

    #[test]
    fn chat_context_windows() {
        assert_eq!(model("llama3.2:latest", None).context_window(), 131_072);
        assert_eq!(model("llama3:8b", None).context_window(), 8_192);
        assert_eq!(model("mistral:7b", None).context_window(), 32_768);
        assert_eq!(
            model("tinyllama:latest", None).context_window(),
            DEFAULT_CONTEXT_WINDOW
        );
    }
}
