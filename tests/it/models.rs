//! `/v1/models` and handle resolution against mock providers: real HTTP servers on
//! 127.0.0.1:0 speaking the OpenAI, Anthropic and Ollama listing protocols.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode as AxumStatus, Uri};
use letta_rs::config::Config;
use letta_rs::llm::catalog::{LlmResolveOptions, ModelCatalog, ModelFilter};
use letta_rs::services::ServiceError;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_422};

const KEY: &str = "sk-test-key-0123";

type Responder = Arc<dyn Fn(&str) -> (u16, Value) + Send + Sync>;

/// A provider stand-in: answers every request with `respond(path_and_query)` after `delay`,
/// counting hits and keeping the last request's headers and path.
struct MockProvider {
    /// `http://127.0.0.1:<port>`.
    root: String,
    hits: Arc<AtomicUsize>,
    last: Arc<Mutex<Option<(String, HeaderMap)>>>,
}

impl MockProvider {
    async fn start(
        delay: Duration,
        respond: impl Fn(&str) -> (u16, Value) + Send + Sync + 'static,
    ) -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let last = Arc::new(Mutex::new(None));
        let respond: Responder = Arc::new(respond);
        let (h, l) = (hits.clone(), last.clone());
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
            let (hits, last, respond) = (h.clone(), l.clone(), respond.clone());
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                let pq = uri
                    .path_and_query()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default();
                *last.lock().unwrap() = Some((pq.clone(), headers));
                tokio::time::sleep(delay).await;
                let (status, body) = respond(&pq);
                (AxumStatus::from_u16(status).unwrap(), axum::Json(body))
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let root = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        MockProvider { root, hits, last }
    }

    /// An OpenAI-compatible server listing `ids`.
    async fn openai(ids: &[&str]) -> Self {
        Self::openai_delayed(ids, Duration::ZERO).await
    }

    async fn openai_delayed(ids: &[&str], delay: Duration) -> Self {
        let body = openai_list(ids);
        Self::start(delay, move |_| (200, body.clone())).await
    }

    fn v1(&self) -> String {
        format!("{}/v1", self.root)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn last_path(&self) -> String {
        self.last
            .lock()
            .unwrap()
            .as_ref()
            .map(|(p, _)| p.clone())
            .unwrap_or_default()
    }

    fn last_header(&self, name: &str) -> Option<String> {
        self.last
            .lock()
            .unwrap()
            .as_ref()
            .and_then(|(_, h)| h.get(name).map(|v| v.to_str().unwrap().to_owned()))
    }
}

fn openai_list(ids: &[&str]) -> Value {
    let data: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 1_700_000_000, "owned_by": "system"}))
        .collect();
    json!({"object": "list", "data": data})
}

/// A port nothing listens on.
async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/v1")
}

async fn app_with_openai(base: &str) -> TestApp {
    let base = base.to_owned();
    TestApp::spawn_with(Backend::Sqlite, move |cfg| {
        cfg.openai_api_key = Some(KEY.parse().unwrap());
        cfg.openai_api_base = base;
    })
    .await
}

fn config_with(configure: impl FnOnce(&mut Config)) -> Config {
    let mut cfg = crate::helpers::test_config();
    configure(&mut cfg);
    cfg
}

/// The sample's LLM configuration for `gpt-4o-mini` behind a compatible server at `endpoint`.
fn gpt_4o_mini(endpoint: &str, context_window: i64) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "model_endpoint_type": "openai",
        "model_endpoint": endpoint,
        "provider_name": "openai",
        "provider_category": "base",
        "model_wrapper": null,
        "context_window": context_window,
        "put_inner_thoughts_in_kwargs": true,
        "handle": "openai-proxy/gpt-4o-mini",
        "temperature": 0.7,
        "max_tokens": 4096,
        "enable_reasoner": false,
        "reasoning_effort": null,
        "max_reasoning_tokens": 0,
        "frequency_penalty": 1.0
    })
}

fn detail(body: &Value) -> String {
    body["detail"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_openai_compatible_models_as_the_reference() {
    let mock = MockProvider::openai(&["gpt-4o-mini", "gpt-4o"]).await;
    let app = app_with_openai(&mock.v1()).await;
    let (status, body) = app.get("/v1/models/").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut gpt_4o = gpt_4o_mini(&mock.v1(), 128_000);
    gpt_4o["model"] = json!("gpt-4o");
    gpt_4o["handle"] = json!("openai-proxy/gpt-4o");
    gpt_4o["frequency_penalty"] = Value::Null;
    assert_eq!(body, json!([gpt_4o_mini(&mock.v1(), 128_000), gpt_4o]));
    // Field order as the reference serializes it.
    let keys: Vec<&str> = body[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "model",
            "model_endpoint_type",
            "model_endpoint",
            "provider_name",
            "provider_category",
            "model_wrapper",
            "context_window",
            "put_inner_thoughts_in_kwargs",
            "handle",
            "temperature",
            "max_tokens",
            "enable_reasoner",
            "reasoning_effort",
            "max_reasoning_tokens",
            "frequency_penalty"
        ]
    );
    assert_eq!(mock.last_path(), "/v1/models");
    assert_eq!(
        mock.last_header("authorization").as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
    // The slash-less and /latest forms answer too.
    for path in ["/v1/models", "/latest/models/"] {
        let (status, again) = app.get(path).await;
        assert_eq!((status, &again), (StatusCode::OK, &body), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compatible_server_lists_every_model_unfiltered() {
    let mock = MockProvider::openai(&["llama-3-70b", "text-embedding-3-small", "o1-mini"]).await;
    let app = app_with_openai(&mock.v1()).await;
    let (status, body) = app.get("/v1/models/").await;
    assert_eq!(status, StatusCode::OK);
    let summary: Vec<(String, i64)> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["handle"].as_str().unwrap().to_owned(),
                m["context_window"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("openai-proxy/llama-3-70b".to_owned(), 30_000),
            ("openai-proxy/text-embedding-3-small".to_owned(), 30_000),
            ("openai-proxy/o1-mini".to_owned(), 128_000),
        ]
    );
    assert_eq!(
        body[2]["put_inner_thoughts_in_kwargs"], false,
        "o-series models never carry thoughts in kwargs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedding_models_of_a_compatible_openai_server() {
    let mock = MockProvider::openai(&["gpt-4o-mini"]).await;
    let app = app_with_openai(&mock.v1()).await;
    let (status, body) = app.get("/v1/models/embedding").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let dims: Vec<(String, i64)> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["handle"].as_str().unwrap().to_owned(),
                m["embedding_dim"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        dims,
        [
            ("openai/text-embedding-ada-002".to_owned(), 1536),
            ("openai/text-embedding-3-small".to_owned(), 1536),
            ("openai/text-embedding-3-large".to_owned(), 3072),
        ]
    );
    assert_eq!(
        body[1],
        json!({"embedding_endpoint_type": "openai", "embedding_endpoint": mock.v1(),
            "embedding_model": "text-embedding-3-small", "embedding_dim": 1536, "embedding_chunk_size": 300,
            "handle": "openai/text-embedding-3-small", "batch_size": 1024, "azure_endpoint": null,
            "azure_version": null, "azure_deployment": null})
    );
    assert_eq!(
        mock.hits(),
        0,
        "the OpenAI embedding list needs no provider call"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_providers_means_empty_lists() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for path in ["/v1/models/", "/v1/models/embedding"] {
        let (status, body) = app.get(path).await;
        assert_eq!((status, body), (StatusCode::OK, json!([])), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_lists_are_cached() {
    let mock = MockProvider::openai(&["gpt-4o-mini"]).await;
    let app = app_with_openai(&mock.v1()).await;
    for _ in 0..3 {
        let (status, _) = app.get("/v1/models/").await;
        assert_eq!(status, StatusCode::OK);
    }
    // Resolution reads the same cached list.
    let (status, body) = app
        .post(
            "/v1/agents/",
            &json!({"model": "openai/gpt-4o-mini", "embedding": "openai/text-embedding-3-small"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(mock.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_callers_share_one_fetch() {
    let mock = MockProvider::openai_delayed(&["gpt-4o-mini"], Duration::from_millis(300)).await;
    let app = Arc::new(app_with_openai(&mock.v1()).await);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move { app.get("/v1/models/").await }));
    }
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body[0]["handle"], "openai-proxy/gpt-4o-mini");
    }
    assert_eq!(mock.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_ttl_fetches_every_time() {
    let mock = MockProvider::openai(&["gpt-4o-mini"]).await;
    let base = mock.v1();
    let app = TestApp::spawn_with(Backend::Sqlite, move |cfg| {
        cfg.openai_api_key = Some(KEY.parse().unwrap());
        cfg.openai_api_base = base;
        cfg.model_list_ttl_secs = 0;
    })
    .await;
    for _ in 0..3 {
        assert_eq!(app.get("/v1/models/").await.0, StatusCode::OK);
    }
    assert_eq!(mock.hits(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_filters() {
    let mock = MockProvider::openai(&["gpt-4o-mini"]).await;
    let app = app_with_openai(&mock.v1()).await;
    let count = |body: &Value| body.as_array().map_or(usize::MAX, Vec::len);

    for (query, expected) in [
        ("provider_name=anthropic", 0),
        ("provider_category=byok", 0),
        ("provider_type=ollama", 0),
        ("provider_type=google_ai", 0),
    ] {
        let (status, body) = app.get(&format!("/v1/models/?{query}")).await;
        assert_eq!(
            (status, count(&body)),
            (StatusCode::OK, expected),
            "{query}: {body}"
        );
    }
    assert_eq!(mock.hits(), 0, "providers filtered out are not called");
    for query in [
        "provider_name=openai",
        "provider_category=base",
        "provider_category=byok&provider_category=base",
        "provider_type=openai",
    ] {
        let (status, body) = app.get(&format!("/v1/models/?{query}")).await;
        assert_eq!(
            (status, count(&body)),
            (StatusCode::OK, 1),
            "{query}: {body}"
        );
    }

    let (status, body) = app.get("/v1/models/?provider_type=nope").await;
    assert_422(status, &body, &[json!("query"), json!("provider_type")]);
    let (status, body) = app.get("/v1/models/?provider_category=other").await;
    assert_422(status, &body, &[json!("query"), json!("provider_category")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_creation_resolves_handles_as_the_reference() {
    let mock = MockProvider::openai(&["gpt-4o-mini", "gpt-4o"]).await;
    let app = app_with_openai(&mock.v1()).await;
    let (status, body) = app
        .post(
            "/v1/agents/",
            &json!({"name": "t", "model": "openai/gpt-4o-mini", "embedding": "openai/text-embedding-3-small"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["llm_config"], gpt_4o_mini(&mock.v1(), 32_000));
    assert_eq!(
        body["embedding_config"],
        json!({"embedding_endpoint_type": "openai", "embedding_endpoint": mock.v1(),
            "embedding_model": "text-embedding-3-small", "embedding_dim": 1536, "embedding_chunk_size": 300,
            "handle": "openai/text-embedding-3-small", "batch_size": 1024, "azure_endpoint": null,
            "azure_version": null, "azure_deployment": null})
    );

    // The listed handle resolves too, and a context window limit up to the maximum is kept.
    let (status, body) = app
        .post(
            "/v1/agents/",
            &json!({"model": "openai-proxy/gpt-4o", "embedding": "openai/text-embedding-3-large",
                "context_window_limit": 100000, "embedding_chunk_size": 512}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["llm_config"]["context_window"], 100_000);
    assert_eq!(body["llm_config"]["handle"], "openai-proxy/gpt-4o");
    assert_eq!(body["embedding_config"]["embedding_dim"], 3072);
    assert_eq!(body["embedding_config"]["embedding_chunk_size"], 512);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_handles_and_limits_are_400_with_the_choices() {
    let mock = MockProvider::openai(&["gpt-4o-mini", "gpt-4o"]).await;
    let app = app_with_openai(&mock.v1()).await;
    let create = |model: &str, extra: Value| {
        let mut body = json!({"model": model, "embedding": "openai/text-embedding-3-small"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };

    let (status, body) = app
        .post("/v1/agents/", &create("openai/no-such-model", json!({})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        detail(&body),
        "Handle openai/no-such-model not found, must be one of ['openai-proxy/gpt-4o-mini', 'openai-proxy/gpt-4o']"
    );

    let (status, body) = app
        .post("/v1/agents/", &create("mistral/large", json!({})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        detail(&body),
        "Provider mistral is not supported (handle mistral/large), must be one of \
         ['openai-proxy/gpt-4o-mini', 'openai-proxy/gpt-4o']"
    );

    let (status, body) = app
        .post(
            "/v1/agents/",
            &create(
                "openai/gpt-4o-mini",
                json!({"context_window_limit": 200000}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        detail(&body),
        "Context window limit (200000) is greater than maximum of (128000)"
    );

    let (status, body) = app
        .post(
            "/v1/agents/",
            &json!({"model": "openai/gpt-4o-mini", "embedding": "openai/text-embedding-9"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        detail(&body)
            .starts_with("Handle openai/text-embedding-9 not found, must be one of ['openai/"),
        "{body}"
    );

    let (_, count) = app.get("/v1/agents/count").await;
    assert_eq!(count, 0, "nothing was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_error_status_is_502_after_retries() {
    let mock = MockProvider::start(Duration::ZERO, |_| {
        (
            500,
            json!({"error": {"message": "upstream exploded", "type": "server_error"}}),
        )
    })
    .await;
    let app = app_with_openai(&mock.v1()).await;
    let (status, body) = app.get("/v1/models/").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(
        detail(&body),
        format!(
            "Provider openai answered HTTP 500 at {}/models: upstream exploded",
            mock.v1()
        )
    );
    assert_eq!(mock.hits(), 3, "two retries");

    let (status, body) = app
        .post(
            "/v1/agents/",
            &json!({"model": "openai/gpt-4o-mini", "embedding": "openai/text-embedding-3-small"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(detail(&body).contains("upstream exploded"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_key_is_401_without_the_key() {
    let mock = MockProvider::start(Duration::ZERO, |_| {
        (
            401,
            json!({"error": {"message": format!("Incorrect API key provided: {KEY}.")}}),
        )
    })
    .await;
    let app = app_with_openai(&mock.v1()).await;
    let (status, body) = app.get("/v1/models/").await;
    // The provider's auth failure keeps its kind (as later Letta versions answer).
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(mock.hits(), 1, "client errors are not retried");
    let text = body.to_string();
    assert!(!text.contains(KEY), "{text}");
    assert!(
        text.contains("HTTP 401") && text.contains("Incorrect API key provided: ***."),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_retried() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let mock = MockProvider::start(Duration::ZERO, move |_| {
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            (429, json!({"error": {"message": "slow down"}}))
        } else {
            (200, openai_list(&["gpt-4o-mini"]))
        }
    })
    .await;
    let app = app_with_openai(&mock.v1()).await;
    let (status, body) = app.get("/v1/models/").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body[0]["model"], "gpt-4o-mini");
    assert_eq!(mock.hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_provider_is_502() {
    let base = closed_port_url().await;
    let app = app_with_openai(&base).await;
    let (status, body) = app.get("/v1/models/").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let text = detail(&body);
    assert!(
        text.starts_with(&format!(
            "Provider openai could not be reached at {base}/models"
        )),
        "{text}"
    );
    assert!(!body.to_string().contains(KEY));
    // Failures are not cached: the next call tries again (and fails again).
    assert_eq!(app.get("/v1/models/").await.0, StatusCode::BAD_GATEWAY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparseable_list_is_502() {
    let mock = MockProvider::start(Duration::ZERO, |_| (200, json!({"unexpected": true}))).await;
    let app = app_with_openai(&mock.v1()).await;
    let (status, body) = app.get("/v1/models/").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(
        detail(&body).starts_with("Provider openai sent an unreadable answer"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_models_follow_pages() {
    let mock = MockProvider::start(Duration::ZERO, |pq| {
        if pq.contains("after_id=claude-b") {
            (
                200,
                json!({"data": [{"type": "model", "id": "claude-c", "display_name": "C"}],
                "has_more": false, "first_id": "claude-c", "last_id": "claude-c"}),
            )
        } else {
            (
                200,
                json!({"data": [{"type": "model", "id": "claude-a", "display_name": "A"},
                {"type": "model", "id": "claude-b", "display_name": "B"}],
                "has_more": true, "first_id": "claude-a", "last_id": "claude-b"}),
            )
        }
    })
    .await;
    let base = mock.v1();
    let app = TestApp::spawn_with(Backend::Sqlite, move |cfg| {
        cfg.anthropic_api_key = Some(KEY.parse().unwrap());
        cfg.anthropic_api_base = base;
    })
    .await;
    let (status, body) = app.get("/v1/models/").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let handles: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["handle"].as_str().unwrap())
        .collect();
    assert_eq!(
        handles,
        [
            "anthropic/claude-a",
            "anthropic/claude-b",
            "anthropic/claude-c"
        ]
    );
    assert_eq!(
        body[0],
        json!({"model": "claude-a", "model_endpoint_type": "anthropic", "model_endpoint": mock.v1(),
            "provider_name": "anthropic", "provider_category": "base", "model_wrapper": null,
            "context_window": 200000, "put_inner_thoughts_in_kwargs": true, "handle": "anthropic/claude-a",
            "temperature": 0.7, "max_tokens": 4096, "enable_reasoner": false, "reasoning_effort": null,
            "max_reasoning_tokens": 0, "frequency_penalty": null})
    );
    assert_eq!(mock.hits(), 2);
    assert_eq!(mock.last_path(), "/v1/models?limit=1000&after_id=claude-b");
    assert_eq!(mock.last_header("x-api-key").as_deref(), Some(KEY));
    assert_eq!(
        mock.last_header("anthropic-version").as_deref(),
        Some("2023-06-01")
    );
    assert_eq!(mock.last_header("authorization"), None);

    let (status, body) = app.get("/v1/models/embedding").await;
    assert_eq!((status, body), (StatusCode::OK, json!([])));

    let catalog = ModelCatalog::from_config(&config_with(|cfg| {
        cfg.anthropic_api_key = Some(KEY.parse().unwrap());
        cfg.anthropic_api_base = mock.v1();
    }));
    let opts = LlmResolveOptions {
        enable_reasoner: Some(true),
        max_tokens: Some(8000),
        ..Default::default()
    };
    let resolved = catalog
        .resolve_llm("anthropic/claude-b", &opts)
        .await
        .unwrap();
    assert_eq!(resolved.context_window, 32_000);
    assert_eq!(resolved.put_inner_thoughts_in_kwargs, Some(false));
    assert!(resolved.enable_reasoner);
    assert_eq!(resolved.max_tokens, Some(8000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_lists_chat_and_embedding_models_from_one_call() {
    let mock = MockProvider::start(Duration::ZERO, |_| {
        (
            200,
            json!({"models": [
                {"name": "llama3.2:latest", "model": "llama3.2:latest", "size": 1,
                 "details": {"format": "gguf", "family": "llama", "families": ["llama"]}},
                {"name": "nomic-embed-text:latest", "model": "nomic-embed-text:latest", "size": 1,
                 "details": {"format": "gguf", "family": "nomic-bert", "families": ["nomic-bert"]}},
                {"name": "tinyllama:1.1b", "model": "tinyllama:1.1b", "size": 1,
                 "details": {"family": "llama"}}
            ]}),
        )
    })
    .await;
    let base = mock.root.clone();
    let app =
        TestApp::spawn_with(Backend::Sqlite, move |cfg| cfg.ollama_base_url = Some(base)).await;

    let (status, body) = app.get("/v1/models/").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body[0],
        json!({"model": "llama3.2:latest", "model_endpoint_type": "ollama", "model_endpoint": mock.root,
            "provider_name": "ollama", "provider_category": "base", "model_wrapper": null,
            "context_window": 131072, "put_inner_thoughts_in_kwargs": true, "handle": "ollama/llama3.2:latest",
            "temperature": 0.7, "max_tokens": 4096, "enable_reasoner": false, "reasoning_effort": null,
            "max_reasoning_tokens": 0, "frequency_penalty": null})
    );
    assert_eq!(body[1]["handle"], "ollama/tinyllama:1.1b");
    assert_eq!(body[1]["context_window"], 8192);
    assert_eq!(body.as_array().unwrap().len(), 2);
    assert_eq!(mock.last_path(), "/api/tags");

    let (status, body) = app.get("/v1/models/embedding").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!([{"embedding_endpoint_type": "ollama", "embedding_endpoint": mock.root,
            "embedding_model": "nomic-embed-text:latest", "embedding_dim": 768, "embedding_chunk_size": 300,
            "handle": "ollama/nomic-embed-text:latest", "batch_size": 32, "azure_endpoint": null,
            "azure_version": null, "azure_deployment": null}])
    );
    assert_eq!(mock.hits(), 1, "both lists come from one cached call");

    let (status, body) = app
        .post(
            "/v1/agents/",
            &json!({"model": "ollama/llama3.2", "embedding": "ollama/nomic-embed-text"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["llm_config"]["handle"], "ollama/llama3.2:latest");
    assert_eq!(body["llm_config"]["context_window"], 32_000);
    assert_eq!(
        body["embedding_config"]["embedding_model"],
        "nomic-embed-text:latest"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_providers_list_in_order_and_one_failure_fails_the_listing() {
    let openai = MockProvider::openai(&["gpt-4o-mini"]).await;
    let ollama = MockProvider::start(Duration::ZERO, |_| (503, json!({"error": "loading"}))).await;
    let catalog = ModelCatalog::from_config(&config_with(|cfg| {
        cfg.openai_api_key = Some(KEY.parse().unwrap());
        cfg.openai_api_base = openai.v1();
        cfg.ollama_base_url = Some(ollama.root.clone());
    }));
    assert_eq!(catalog.provider_names(), ["openai", "ollama"]);
    let err: ServiceError = catalog
        .list_llm_models(&ModelFilter::default())
        .await
        .unwrap_err()
        .into();
    assert!(
        matches!(&err, ServiceError::Upstream(m) if m.message.starts_with("Provider ollama answered HTTP 503") && m.message.ends_with(": loading")),
        "{err:?}"
    );
    let only_openai = ModelFilter {
        provider_name: Some("openai".into()),
        ..Default::default()
    };
    let listed = catalog.list_llm_models(&only_openai).await.unwrap();
    assert_eq!(listed.len(), 1);
    // Resolution only needs the named provider.
    let resolved = catalog
        .resolve_llm("openai/gpt-4o-mini", &LlmResolveOptions::default())
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(resolved).unwrap(),
        gpt_4o_mini(&openai.v1(), 32_000)
    );
    // An unknown provider's message lists what the reachable providers offer.
    let err: ServiceError = catalog
        .resolve_llm("nope/x", &LlmResolveOptions::default())
        .await
        .unwrap_err()
        .into();
    assert!(
        matches!(&err, ServiceError::BadRequest(m) if m.ends_with("must be one of ['openai-proxy/gpt-4o-mini']")),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_window_follows_the_global_limit() {
    let mock = MockProvider::openai(&["gpt-4o-mini", "gpt-4"]).await;
    let catalog = ModelCatalog::from_config(&config_with(|cfg| {
        cfg.openai_api_key = Some(KEY.parse().unwrap());
        cfg.openai_api_base = mock.v1();
        cfg.global_max_context_window_limit = 64_000;
    }));
    let opts = LlmResolveOptions::default();
    assert_eq!(
        catalog
            .resolve_llm("openai/gpt-4o-mini", &opts)
            .await
            .unwrap()
            .context_window,
        64_000
    );
    let gpt4 = catalog.resolve_llm("openai/gpt-4", &opts).await.unwrap();
    assert_eq!(
        (gpt4.context_window, gpt4.put_inner_thoughts_in_kwargs),
        (8_192, Some(false))
    );
}
