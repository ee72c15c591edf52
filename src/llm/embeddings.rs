//! Embeddings over the OpenAI protocol (`POST {base}/embeddings`): OpenAI itself and the
//! compatible servers (Ollama's `/v1`, vLLM, LM Studio, Together, Hugging Face TEI). Inputs are
//! sent in batches; the HTTP side (timeouts, retries on 429/5xx and connection failures,
//! key scrubbing, errors naming the provider) is the chat transport's.

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::{Value, json};

use super::chat::{LlmError, LlmErrorKind};
use super::factory::ProviderKeys;
use super::openai::chat::classify_error;
use super::transport::{Transport, shared_client};
use super::{display_url, join_url};
use crate::config::Secret;
use crate::schemas::llm_config::EmbeddingConfig;

/// Batches in flight at once for one call.
const MAX_CONCURRENT_BATCHES: usize = 4;

/// Batch size used when a configuration's is not positive.
const FALLBACK_BATCH_SIZE: usize = 32;

/// Why no embedding model could be set up for a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmbeddingSetupError {
    /// An `embedding_endpoint_type` nobody knows.
    #[error("Unknown endpoint type {0}")]
    UnknownEndpointType(String),
    /// A known type this server cannot call, or one missing its endpoint.
    #[error("{0}")]
    Misconfigured(String),
}

/// Endpoint types spoken over the OpenAI embeddings protocol.
const OPENAI_STYLE: &[&str] = &["openai", "together", "vllm", "lmstudio", "hugging-face"];
/// Endpoint types the original knows but this server has no client for.
const UNSUPPORTED: &[&str] = &["azure", "google_ai", "google_vertex", "bedrock", "mistral"];

/// One embedding model behind one endpoint.
#[derive(Clone)]
pub struct EmbeddingModel {
    endpoint: Transport,
    url: String,
    model: String,
    /// Ask for base64-encoded float32 vectors (OpenAI), else plain float arrays.
    base64: bool,
    /// Sent as `dimensions` (text-embedding-3 models shortened below their native size).
    dimensions: Option<i64>,
    batch_size: usize,
}

impl std::fmt::Debug for EmbeddingModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddingModel")
            .field("provider", &self.endpoint.provider)
            .field("url", &self.url)
            .field("model", &self.model)
            .field("base64", &self.base64)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

/// The native output size of OpenAI's text-embedding-3 models.
fn native_dimension(model: &str) -> Option<i64> {
    match model {
        "text-embedding-3-small" => Some(1536),
        "text-embedding-3-large" => Some(3072),
        _ => None,
    }
}

fn bearer(key: &Secret) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {}", key.expose())) {
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    headers
}

/// The embedding model an `embedding_config` names:
///
/// * `openai`: `embedding_endpoint` (else the configured OpenAI base) with the OpenAI key,
///   base64-encoded answers;
/// * `ollama`: `<embedding_endpoint or the configured Ollama base>/v1`, no key;
/// * `together`, `vllm`, `lmstudio`, `hugging-face`: the OpenAI protocol at
///   `embedding_endpoint`, float answers; the OpenAI key only goes with the configured
///   OpenAI base. Hugging Face's `letta-free` is `BAAI/bge-large-en-v1.5`.
pub fn embedding_model_for(
    config: &EmbeddingConfig,
    keys: &ProviderKeys,
) -> Result<EmbeddingModel, EmbeddingSetupError> {
    let endpoint_type = config.embedding_endpoint_type.as_str();
    let provider = config
        .handle
        .as_deref()
        .and_then(|h| h.split_once('/'))
        .map(|(p, _)| p.to_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| endpoint_type.to_owned());
    let configured = config
        .embedding_endpoint
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    let (base, key, base64) = match endpoint_type {
        "ollama" => {
            let root = configured
                .or(keys.ollama_base_url.as_deref())
                .ok_or_else(|| {
                    EmbeddingSetupError::Misconfigured(
                        "Embedding provider ollama has no base URL (OLLAMA_BASE_URL)".to_owned(),
                    )
                })?
                .trim_end_matches('/');
            let base = if root.ends_with("/v1") {
                root.to_owned()
            } else {
                format!("{root}/v1")
            };
            (base, None, false)
        }
        "openai" => {
            let base = configured.unwrap_or(&keys.openai_api_base).to_owned();
            (base, keys.openai_api_key.clone(), true)
        }
        t if OPENAI_STYLE.contains(&t) => {
            let base = configured.ok_or_else(|| {
                EmbeddingSetupError::Misconfigured(format!(
                    "Embedding provider {provider} has no embedding_endpoint"
                ))
            })?;
            let same_as_openai =
                base.trim_end_matches('/') == keys.openai_api_base.trim_end_matches('/');
            let key = same_as_openai
                .then(|| keys.openai_api_key.clone())
                .flatten();
            (base.to_owned(), key, false)
        }
        t if UNSUPPORTED.contains(&t) => {
            return Err(EmbeddingSetupError::Misconfigured(format!(
                "Embedding endpoint type {t} is not supported by this server"
            )));
        }
        other => return Err(EmbeddingSetupError::UnknownEndpointType(other.to_owned())),
    };
    let key = key.filter(|k| !k.expose().is_empty());
    let model = if endpoint_type == "hugging-face" && config.embedding_model == "letta-free" {
        "BAAI/bge-large-en-v1.5".to_owned()
    } else {
        config.embedding_model.clone()
    };
    let dimensions = native_dimension(&model)
        .filter(|native| config.embedding_dim > 0 && config.embedding_dim < *native)
        .map(|_| config.embedding_dim);
    let batch_size = usize::try_from(config.batch_size)
        .ok()
        .filter(|b| *b > 0)
        .unwrap_or(FALLBACK_BATCH_SIZE);
    Ok(EmbeddingModel {
        endpoint: Transport {
            client: keys
                .client
                .clone()
                .unwrap_or_else(|| shared_client().clone()),
            settings: keys.http,
            provider,
            headers: key.as_ref().map(bearer).unwrap_or_default(),
            secret: key,
            classify: classify_error,
        },
        url: join_url(&base, "embeddings"),
        model,
        base64,
        dimensions,
        batch_size,
    })
}

impl EmbeddingModel {
    /// The provider's name, as errors give it.
    pub fn provider(&self) -> &str {
        &self.endpoint.provider
    }

    /// The embeddings URL, without credentials.
    pub fn endpoint(&self) -> String {
        display_url(&self.url)
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// How many inputs one [`EmbeddingModel::embed`] call sends at once (all its batches in
    /// flight together): a caller cutting a long list into slices of this size keeps every
    /// request full.
    pub fn inputs_in_flight(&self) -> usize {
        self.batch_size.saturating_mul(MAX_CONCURRENT_BATCHES)
    }

    /// The vectors of `inputs`, in order: batches of the configuration's `batch_size`, a few
    /// at a time. Any failed batch fails the whole call.
    pub async fn embed(&self, inputs: &[String]) -> Result<Vec<Vec<f32>>, LlmError> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let mut vectors = Vec::with_capacity(inputs.len());
        for group in inputs.chunks(self.batch_size.saturating_mul(MAX_CONCURRENT_BATCHES)) {
            let calls: Vec<_> = group
                .chunks(self.batch_size)
                .map(|batch| self.embed_batch(batch))
                .collect();
            for batch in futures_util::future::try_join_all(calls).await? {
                vectors.extend(batch);
            }
        }
        Ok(vectors)
    }

    /// The vector of one text.
    pub async fn embed_one(&self, input: &str) -> Result<Vec<f32>, LlmError> {
        let mut vectors = self.embed(&[input.to_owned()]).await?;
        vectors.pop().ok_or_else(|| {
            self.endpoint.error(
                LlmErrorKind::InvalidResponse,
                Some(200),
                "no embedding returned",
            )
        })
    }

    async fn embed_batch(&self, inputs: &[String]) -> Result<Vec<Vec<f32>>, LlmError> {
        let mut body = json!({"input": inputs, "model": self.model});
        if self.base64 {
            body["encoding_format"] = json!("base64");
        }
        if let Some(dimensions) = self.dimensions {
            body["dimensions"] = json!(dimensions);
        }
        let answer = self.endpoint.post_json(&self.url, &body).await?;
        parse_embeddings(&answer, inputs.len()).map_err(|message| {
            self.endpoint
                .error(LlmErrorKind::InvalidResponse, Some(200), &message)
        })
    }
}

/// The vectors of an embeddings answer, in input order: `{"data": [{"index", "embedding"}]}`
/// with float arrays or base64 little-endian float32, or a bare array of float arrays.
pub fn parse_embeddings(answer: &Value, expected: usize) -> Result<Vec<Vec<f32>>, String> {
    let items: Vec<(usize, &Value)> = match answer {
        Value::Object(map) => {
            let data = map
                .get("data")
                .and_then(Value::as_array)
                .ok_or("the answer has no `data` list")?;
            data.iter()
                .enumerate()
                .map(|(position, item)| {
                    let index = item["index"].as_u64().map_or(position, |i| i as usize);
                    (index, &item["embedding"])
                })
                .collect()
        }
        Value::Array(list) => list.iter().enumerate().collect(),
        _ => return Err("the answer is neither an object nor a list".to_owned()),
    };
    if items.len() != expected {
        return Err(format!(
            "{} embeddings returned for {expected} inputs",
            items.len()
        ));
    }
    let mut out: Vec<Option<Vec<f32>>> = vec![None; expected];
    for (index, embedding) in items {
        let vector = match embedding {
            Value::Array(values) => values
                .iter()
                .map(|v| v.as_f64().map(|f| f as f32))
                .collect::<Option<Vec<f32>>>()
                .ok_or("an embedding holds a value that is not a number")?,
            Value::String(encoded) => {
                decode_base64_f32(encoded).ok_or("an embedding is not valid base64 float32")?
            }
            _ => return Err("an embedding is missing".to_owned()),
        };
        if vector.is_empty() {
            return Err("an embedding is empty".to_owned());
        }
        let slot = out
            .get_mut(index)
            .ok_or_else(|| format!("embedding index {index} is out of range"))?;
        if slot.replace(vector).is_some() {
            return Err(format!("embedding index {index} appears twice"));
        }
    }
    let vectors: Vec<Vec<f32>> = out.into_iter().flatten().collect();
    if vectors.len() != expected {
        return Err("some embeddings are missing".to_owned());
    }
    if vectors.iter().any(|v| v.len() != vectors[0].len()) {
        return Err("the embeddings differ in dimension".to_owned());
    }
    Ok(vectors)
}

/// Decodes standard base64 (padding optional) holding little-endian float32 values.
pub fn decode_base64_f32(encoded: &str) -> Option<Vec<f32>> {
    fn sextet(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    }
    let trimmed = encoded.trim().trim_end_matches('=');
    let mut bytes = Vec::with_capacity(trimmed.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in trimmed.bytes() {
        acc = (acc << 6) | sextet(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if bytes.len() % 4 != 0 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(endpoint_type: &str, endpoint: Option<&str>, model: &str) -> EmbeddingConfig {
        EmbeddingConfig {
            embedding_endpoint_type: endpoint_type.into(),
            embedding_endpoint: endpoint.map(str::to_owned),
            embedding_model: model.into(),
            embedding_dim: 1536,
            embedding_chunk_size: Some(300),
            handle: None,
            batch_size: 1024,
            azure_endpoint: None,
            azure_version: None,
            azure_deployment: None,
        }
    }

    fn encode(bytes: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.len();
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= n {
                    out.push(ALPHABET[((v >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn base64_float32_round_trips() {
        let values = [0.0f32, 1.5, -0.25, 3.0e-5, 0.4];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(decode_base64_f32(&encode(&bytes)).unwrap(), values);
        assert_eq!(decode_base64_f32("").unwrap(), Vec::<f32>::new());
        assert!(decode_base64_f32("AAA*").is_none());
        // Three bytes are not a float.
        assert!(decode_base64_f32(&encode(&[1, 2, 3])).is_none());
    }

    #[test]
    fn answers_are_put_in_input_order() {
        let bytes: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let answer = json!({"data": [
            {"index": 1, "embedding": encode(&bytes)},
            {"index": 0, "embedding": [0.5, 0.25]},
        ]});
        assert_eq!(
            parse_embeddings(&answer, 2).unwrap(),
            vec![vec![0.5, 0.25], vec![1.0, 2.0]]
        );
        assert_eq!(
            parse_embeddings(&json!([[1.0], [2.0]]), 2).unwrap(),
            vec![vec![1.0], vec![2.0]]
        );
        assert!(
            parse_embeddings(&answer, 3)
                .unwrap_err()
                .contains("2 embeddings")
        );
        assert!(parse_embeddings(&json!({"data": [{"embedding": []}]}), 1).is_err());
        assert!(parse_embeddings(&json!({"data": [{"embedding": ["x"]}]}), 1).is_err());
        assert!(
            parse_embeddings(
                &json!({"data": [{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [1.0]}]}),
                2
            )
            .is_err()
        );
        assert!(
            parse_embeddings(
                &json!({"data": [{"embedding": [1.0]}, {"embedding": [1.0, 2.0]}]}),
                2
            )
            .is_err()
        );
        assert!(parse_embeddings(&json!({"error": "x"}), 1).is_err());
    }

    #[test]
    fn endpoint_types_pick_base_key_and_encoding() {
        let keys = ProviderKeys {
            openai_api_key: Some("sk-secret-1234".parse().unwrap()),
            openai_api_base: "http://openai.test/v1".into(),
            ollama_base_url: Some("http://ollama.test:11434/".into()),
            ..ProviderKeys::default()
        };
        let mut openai = config(
            "openai",
            Some("http://proxy.test/v1/"),
            "text-embedding-3-small",
        );
        openai.handle = Some("openai/text-embedding-3-small".into());
        let model = embedding_model_for(&openai, &keys).unwrap();
        assert_eq!(model.url, "http://proxy.test/v1/embeddings");
        assert!(model.base64 && model.endpoint.secret.is_some());
        assert_eq!(model.provider(), "openai");
        assert_eq!(model.dimensions, None);
        assert!(!format!("{model:?}").contains("sk-secret"));

        openai.embedding_endpoint = None;
        openai.embedding_dim = 512;
        let model = embedding_model_for(&openai, &keys).unwrap();
        assert_eq!(model.url, "http://openai.test/v1/embeddings");
        assert_eq!(model.dimensions, Some(512));

        let ollama = config("ollama", None, "nomic-embed-text:latest");
        let model = embedding_model_for(&ollama, &keys).unwrap();
        assert_eq!(model.url, "http://ollama.test:11434/v1/embeddings");
        assert!(!model.base64 && model.endpoint.secret.is_none());
        assert_eq!(model.provider(), "ollama");
        let no_ollama = ProviderKeys::default();
        assert!(matches!(
            embedding_model_for(&ollama, &no_ollama),
            Err(EmbeddingSetupError::Misconfigured(m)) if m.contains("ollama")
        ));

        let vllm = config("vllm", Some("http://vllm.test/v1"), "bge");
        let model = embedding_model_for(&vllm, &keys).unwrap();
        assert!(model.endpoint.secret.is_none() && !model.base64);
        assert!(embedding_model_for(&config("vllm", None, "bge"), &keys).is_err());

        let hf = config(
            "hugging-face",
            Some("https://embeddings.test"),
            "letta-free",
        );
        assert_eq!(
            embedding_model_for(&hf, &keys).unwrap().model(),
            "BAAI/bge-large-en-v1.5"
        );

        assert_eq!(
            embedding_model_for(&config("carrier-pigeon", None, "m"), &keys)
                .unwrap_err()
                .to_string(),
            "Unknown endpoint type carrier-pigeon"
        );
        assert!(matches!(
            embedding_model_for(&config("azure", None, "m"), &keys),
            Err(EmbeddingSetupError::Misconfigured(_))
        ));
    }
}
