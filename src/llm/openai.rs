//! OpenAI and OpenAI-compatible servers: `GET {base}/models` with a bearer token; chat
//! completions in [`chat`].

pub mod chat;

pub use chat::OpenAiChat;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::Deserialize;

use super::{ProviderError, ProviderHttp, join_url};
use crate::config::Secret;

/// The official API's base URL; any other base is treated as a compatible proxy.
pub const OFFICIAL_BASE_URL: &str = "https://api.openai.com/v1";

/// Context window assumed for a model missing from [`context_window`]'s table.
pub const UNKNOWN_CONTEXT_WINDOW: i64 = 30000;

/// Embedding models offered by every OpenAI provider, with their output dimensions.
pub const EMBEDDING_MODELS: &[(&str, i64)] = &[
    ("text-embedding-ada-002", 1536),
    ("text-embedding-3-small", 1536),
    ("text-embedding-3-large", 3072),
];

/// Chunk and batch sizes of OpenAI embedding configurations.
pub const EMBEDDING_CHUNK_SIZE: i64 = 300;
pub const EMBEDDING_BATCH_SIZE: i64 = 1024;

#[derive(Deserialize)]
#[serde(untagged)]
enum ModelList {
    /// The OpenAI shape: `{"object":"list","data":[…]}`.
    Wrapped { data: Vec<ModelEntry> },
    /// Some compatible servers answer a bare array.
    Bare(Vec<ModelEntry>),
}

#[derive(Deserialize)]
struct ModelEntry {
    id: String,
}

/// The model ids the server lists, in its order.
pub async fn list_models(
    http: &ProviderHttp,
    provider: &str,
    base_url: &str,
    api_key: &Secret,
) -> Result<Vec<String>, ProviderError> {
    let mut headers = HeaderMap::new();
    if let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {}", api_key.expose())) {
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    let url = join_url(base_url, "models");
    let list: ModelList = http
        .get_json(provider, &url, headers, Some(api_key))
        .await?;
    let entries = match list {
        ModelList::Wrapped { data } => data,
        ModelList::Bare(entries) => entries,
    };
    Ok(entries.into_iter().map(|e| e.id).collect())
}

/// Whether `base_url` is the official API (trailing slashes ignored).
pub fn is_official(base_url: &str) -> bool {
    base_url.trim_end_matches('/') == OFFICIAL_BASE_URL
}

/// Whether the official API's model `id` is offered as a chat model: the GPT-4 and o-series
/// families, without audio, realtime, search, speech and computer-use variants or the
/// retired o1 previews.
pub fn is_chat_model(id: &str) -> bool {
    const FAMILIES: &[&str] = &["gpt-4", "o1", "o3", "o4"];
    const EXCLUDED: &[&str] = &[
        "transcribe",
        "search",
        "realtime",
        "tts",
        "audio",
        "computer",
        "o1-mini",
        "o1-preview",
        "o1-pro",
    ];
    FAMILIES.iter().any(|f| id.starts_with(f)) && !EXCLUDED.iter().any(|x| id.contains(x))
}

/// The largest context window of an OpenAI model.
pub fn context_window(id: &str) -> i64 {
    if id.starts_with("gpt-4.1") {
        1_047_576
    } else if id.starts_with("gpt-4o") || id.starts_with("gpt-4-turbo") || id.starts_with("gpt-4.5")
    {
        128_000
    } else if id.starts_with("gpt-4-32k") {
        32_768
    } else if id.starts_with("gpt-4-") && id.ends_with("-preview") {
        128_000
    } else if id == "gpt-4" || id.starts_with("gpt-4-0") {
        8_192
    } else if id.starts_with("o1-mini") || id.starts_with("o1-preview") {
        128_000
    } else if id.starts_with("o1") || id.starts_with("o3") || id.starts_with("o4") {
        200_000
    } else if id.starts_with("gpt-3.5-turbo") {
        16_385
    } else {
        UNKNOWN_CONTEXT_WINDOW
    }
}

/// Small GPT-4 variants repeat themselves without a frequency penalty.
pub fn frequency_penalty(id: &str) -> Option<f64> {
    (id.contains("gpt-4o-mini") || id.contains("gpt-4.1-mini")).then_some(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_model_filter() {
        for id in [
            "gpt-4o-mini",
            "gpt-4o",
            "gpt-4.1",
            "gpt-4",
            "o1",
            "o3-mini",
            "o4-mini",
        ] {
            assert!(is_chat_model(id), "{id}");
        }
        for id in [
            "gpt-4o-mini-transcribe",
            "gpt-4o-search-preview",
            "gpt-4o-realtime-preview",
            "gpt-4o-mini-tts",
            "gpt-4o-audio-preview",
            "computer-use-preview",
            "o1-mini",
            "o1-preview",
            "o1-pro",
            "gpt-3.5-turbo",
            "text-embedding-3-small",
            "dall-e-3",
        ] {
            assert!(!is_chat_model(id), "{id}");
        }
    }

    #[test]
    fn context_windows() {
        assert_eq!(context_window("gpt-4o-mini"), 128_000);
        assert_eq!(context_window("gpt-4o-2024-08-06"), 128_000);
        assert_eq!(context_window("gpt-4.1-mini"), 1_047_576);
        assert_eq!(context_window("gpt-4"), 8_192);
        assert_eq!(context_window("gpt-4-0613"), 8_192);
        assert_eq!(context_window("gpt-4-turbo"), 128_000);
        assert_eq!(context_window("gpt-4-1106-preview"), 128_000);
        assert_eq!(context_window("o1"), 200_000);
        assert_eq!(context_window("o3-mini"), 200_000);
        assert_eq!(context_window("my-local-model"), UNKNOWN_CONTEXT_WINDOW);
    }

    #[test]
    fn official_base_detection() {
        assert!(is_official("https://api.openai.com/v1"));
        assert!(is_official("https://api.openai.com/v1/"));
        assert!(!is_official("http://127.0.0.1:8799/v1"));
    }

    #[test]
    fn frequency_penalty_for_small_models() {
        assert_eq!(frequency_penalty("gpt-4o-mini"), Some(1.0));
        assert_eq!(frequency_penalty("gpt-4.1-mini-2025-04-14"), Some(1.0));
        assert_eq!(frequency_penalty("gpt-4o"), None);
    }
}
