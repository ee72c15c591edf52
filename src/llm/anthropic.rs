//! Anthropic: `GET {base}/models` with `x-api-key` and `anthropic-version` headers,
//! following its `has_more`/`last_id` pagination. Chat over the Messages protocol in
//! [`chat`].

pub mod chat;

pub use chat::AnthropicChat;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::{ProviderError, ProviderHttp, join_url};
use crate::config::Secret;

pub const API_VERSION: &str = "2023-06-01";

/// Context window of every Claude model.
pub const CONTEXT_WINDOW: i64 = 200_000;

/// Upper bound on pages followed, in case a server keeps answering `has_more`.
const MAX_PAGES: usize = 20;

#[derive(Deserialize)]
struct ModelPage {
    data: Vec<ModelEntry>,
    #[serde(default)]
    has_more: bool,
    #[serde(default)]
    last_id: Option<String>,
}

#[derive(Deserialize)]
struct ModelEntry {
    id: String,
}

/// The model ids Anthropic lists, in its order (newest first).
pub async fn list_models(
    http: &ProviderHttp,
    provider: &str,
    base_url: &str,
    api_key: &Secret,
) -> Result<Vec<String>, ProviderError> {
    let mut headers = HeaderMap::new();
    if let Ok(mut value) = HeaderValue::from_str(api_key.expose()) {
        value.set_sensitive(true);
        headers.insert(HeaderName::from_static("x-api-key"), value);
    }
    headers.insert(
        HeaderName::from_static("anthropic-version"),
        HeaderValue::from_static(API_VERSION),
    );
    let base = join_url(base_url, "models");
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let url = match &after {
            Some(id) => format!("{base}?limit=1000&after_id={}", encode(id)),
            None => format!("{base}?limit=1000"),
        };
        let page: ModelPage = http
            .get_json(provider, &url, headers.clone(), Some(api_key))
            .await?;
        ids.extend(page.data.into_iter().map(|m| m.id));
        match page.last_id {
            Some(last) if page.has_more => after = Some(last),
            _ => break,
        }
    }
    Ok(ids)
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
