//! Test harness: real stores, the real server on 127.0.0.1:0, a fresh organization and user
//! per test so tests sharing a database never see each other's rows.

use std::path::PathBuf;
use std::sync::OnceLock;

use letta_rs::config::Config;
use letta_rs::schemas::org::{Organization, User};
use letta_rs::store::DynStore;
use letta_rs::store::postgres::PgStore;
use letta_rs::store::sqlite::SqliteStore;
use reqwest::StatusCode;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

// The test macros below expand the body into a function beside the module of the same name
// (functions and modules live in different namespaces), so the body sees the test file's
// imports without a glob `use super::*` that some bodies would leave unused.

/// Runs a test body once per backend: `both_backends!(name, |app| async move { … });`
/// expands to `fn name(app)` and `mod name { sqlite(); postgres(); }`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        async fn $name(app: $crate::helpers::TestApp) {
            ($body)(app).await;
        }

        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(
                    $crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await,
                )
                .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(
                    $crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await,
                )
                .await;
            }
        }
    };
}

/// Runs a store-level test body once per backend with a fresh organization:
/// `store_test!(name, |store, org_id| async move { … });`.
#[macro_export]
macro_rules! store_test {
    ($name:ident, $body:expr) => {
        async fn $name(store: letta_rs::store::DynStore, org_id: String) {
            ($body)(store, org_id).await;
        }

        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (store, org) =
                    $crate::helpers::store_with_org($crate::helpers::Backend::Sqlite).await;
                super::$name(store, org).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let (store, org) =
                    $crate::helpers::store_with_org($crate::helpers::Backend::Postgres).await;
                super::$name(store, org).await;
            }
        }
    };
}

/// The Postgres server tests use; `TEST_POSTGRES_URL` overrides it.
fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn with_database(url: &str, db: &str) -> String {
    match url.rfind('/') {
        Some(i) if url[..i].contains("//") && !url[i + 1..].contains('@') => {
            let query = url[i + 1..]
                .find('?')
                .map(|q| &url[i + 1 + q..])
                .unwrap_or("");
            format!("{}/{db}{query}", &url[..i])
        }
        _ => format!("{url}/{db}"),
    }
}

/// Creates (once per test binary run) the shared databases and runs their migrations on a
/// runtime of its own, so tests running in parallel never race on a first migration.
fn databases() -> &'static (PathBuf, String) {
    static DBS: OnceLock<(PathBuf, String)> = OnceLock::new();
    DBS.get_or_init(|| {
        std::thread::spawn(|| {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            rt.block_on(async {
                let dir = tempfile::tempdir().expect("tempdir").keep();
                let sqlite_path = dir.join("letta-test.db");
                SqliteStore::open_file(&sqlite_path)
                    .await
                    .expect("open sqlite");

                let (url, _) = isolated_postgres().await;
                (sqlite_path, url)
            })
        })
        .join()
        .expect("database setup thread")
    })
}

/// The URL of this test run's shared Postgres database.
pub fn postgres_url() -> String {
    databases().1.clone()
}

/// Creates a fresh database on the server of `admin_url`, named `letta_rs_test_*` so
/// scripts/test.sh drops what a run leaves behind; returns its URL.
pub async fn create_database(admin_url: &str) -> String {
    let name = format!(
        "letta_rs_test_{}_{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let pool = sqlx::PgPool::connect(admin_url)
        .await
        .expect("connect to the Postgres admin database");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .expect("create test database");
    pool.close().await;
    with_database(admin_url, &name)
}

/// Drops a database made by [`create_database`] on the test Postgres server.
pub async fn drop_database(url: &str) {
    let name = url
        .rsplit('/')
        .next()
        .and_then(|tail| tail.split('?').next())
        .expect("database name in the URL");
    let pool = sqlx::PgPool::connect(&postgres_admin_url())
        .await
        .expect("connect to the Postgres admin database");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&pool)
        .await
        .expect("drop test database");
    pool.close().await;
}

/// A new, migrated Postgres database of its own (for tests whose servers sweep or lock
/// across the whole database); its URL and a store on it.
pub async fn isolated_postgres() -> (String, DynStore) {
    init_test_log();
    let url = create_database(&postgres_admin_url()).await;
    let store: DynStore =
        std::sync::Arc::new(PgStore::connect(&url, 4).await.expect("migrate postgres"));
    (url, store)
}

/// A new, migrated database of that backend for one test (a SQLite file in a temporary
/// directory, or a fresh Postgres database), for servers whose sweeps reach across the whole
/// database and would otherwise touch other tests' rows.
pub async fn isolated_store(backend: Backend) -> DynStore {
    match backend {
        Backend::Sqlite => {
            init_test_log();
            let dir = tempfile::tempdir().expect("tempdir").keep();
            std::sync::Arc::new(
                SqliteStore::open_file(&dir.join("letta-test.db"))
                    .await
                    .expect("open sqlite"),
            )
        }
        Backend::Postgres => isolated_postgres().await.1,
    }
}

/// A store connected to the run's shared database of that backend.
pub async fn open_store(backend: Backend) -> DynStore {
    init_test_log();
    let (sqlite_path, pg_url) = databases();
    match backend {
        Backend::Sqlite => std::sync::Arc::new(
            SqliteStore::open_file(sqlite_path)
                .await
                .expect("open sqlite"),
        ),
        Backend::Postgres => {
            std::sync::Arc::new(PgStore::connect(pg_url, 8).await.expect("connect postgres"))
        }
    }
}

/// A fresh organization with one user, written through the store.
pub async fn new_org_and_user(store: &DynStore) -> (Organization, User) {
    store.ensure_defaults().await.expect("defaults");
    let org = Organization {
        id: letta_rs::schemas::new_id("org"),
        name: "test-org".to_owned(),
        created_at: None,
        privileged_tools: false,
    };
    store.create_org(&org).await.expect("create org");
    let user = User {
        id: letta_rs::schemas::new_id("user"),
        organization_id: Some(org.id.clone()),
        name: "test-user".to_owned(),
        created_at: None,
        updated_at: None,
        is_deleted: false,
    };
    store.create_user(&user).await.expect("create user");
    (org, user)
}

pub async fn store_with_org(backend: Backend) -> (DynStore, String) {
    let store = open_store(backend).await;
    let (org, _) = new_org_and_user(&store).await;
    (store, org.id)
}

/// Settings for a test server: loopback, port 0, no model providers unless a test adds one.
pub fn test_config() -> Config {
    let mut config = Config::for_tests();
    config.host = "127.0.0.1".to_owned();
    config.port = 0;
    config.openai_api_key = None;
    config.anthropic_api_key = None;
    config.ollama_base_url = None;
    config.default_llm_handle = None;
    config.default_embedding_handle = None;
    config.redis_url = None;
    config.redis_host = None;
    config
}

/// A running server with its own organization and user.
pub struct TestApp {
    pub backend: Backend,
    pub base_url: String,
    pub client: reqwest::Client,
    pub store: DynStore,
    pub org_id: String,
    pub user_id: String,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Spawns with settings adjusted by `configure` (e.g. a mock provider's URL).
    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> TestApp {
        let store = open_store(backend).await;
        Self::spawn_on(backend, store, configure).await
    }

    /// Spawns on this store (e.g. a database of the test's own, [`isolated_store`]).
    pub async fn spawn_on(
        backend: Backend,
        store: DynStore,
        configure: impl FnOnce(&mut Config),
    ) -> TestApp {
        init_test_log();
        let (org, user) = new_org_and_user(&store).await;
        let mut config = test_config();
        configure(&mut config);
        let app = letta_rs::Application::build_with_store(config, store.clone())
            .await
            .expect("build app");
        let base_url = format!("http://{}", app.local_addr());
        tokio::spawn(app.serve_until(std::future::pending()));
        TestApp {
            backend,
            base_url,
            client: reqwest::Client::new(),
            store,
            org_id: org.id,
            user_id: user.id,
        }
    }

    /// Another user in a new organization, on the same server.
    pub async fn other_org_user(&self) -> String {
        let (_, user) = new_org_and_user(&self.store).await;
        user.id
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Sends a request as this test's user; returns the status and the JSON body
    /// (`Value::Null` when the body is empty or not JSON).
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        self.request_as(&self.user_id, method, path, body).await
    }

    pub async fn request_as(
        &self,
        user_id: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, self.url(path))
            .header("user_id", user_id);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let bytes = resp.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.request(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.request(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.request(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.request(reqwest::Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.request(reqwest::Method::DELETE, path, None).await
    }

    /// Sends raw bytes as a JSON body (for malformed-input tests).
    pub async fn send_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        raw: &str,
    ) -> (StatusCode, Value) {
        let resp = self
            .client
            .request(method, self.url(path))
            .header("user_id", &self.user_id)
            .header("content-type", "application/json")
            .body(raw.to_owned())
            .send()
            .await
            .expect("request");
        let status = resp.status();
        let bytes = resp.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

/// Asserts a FastAPI-shaped 422 whose first item has this `loc`.
pub fn assert_422(status: StatusCode, body: &Value, loc: &[Value]) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "body: {body}");
    let items = body["detail"]
        .as_array()
        .unwrap_or_else(|| panic!("detail list in {body}"));
    assert!(!items.is_empty(), "empty detail: {body}");
    assert_eq!(
        items[0]["loc"].as_array().map(Vec::as_slice),
        Some(loc),
        "body: {body}"
    );
    assert!(
        items[0]["msg"].is_string() && items[0]["type"].is_string(),
        "body: {body}"
    );
}

/// The admin URL of the Postgres server with pgvector: `TEST_PGVECTOR_URL` when set, else
/// the one `scripts/pgvector.sh start` runs (started once per test process). Panics — so the
/// pgvector tests fail, never skip — when the server cannot be started.
pub fn pgvector_admin_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("TEST_PGVECTOR_URL")
            && !url.trim().is_empty()
        {
            return url;
        }
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pgvector.sh");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .arg("start")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "`bash scripts/pgvector.sh start` failed ({}); the pgvector tests need its server:\n{}{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
            .lines()
            .rev()
            .find(|l| l.starts_with("postgres://"))
            .unwrap_or_else(|| panic!("scripts/pgvector.sh start printed no URL: {stdout}"))
            .to_owned()
    })
    .clone()
}

/// This test run's database on the pgvector server, created and migrated once.
fn pgvector_database() -> &'static String {
    static DB: OnceLock<String> = OnceLock::new();
    DB.get_or_init(|| {
        std::thread::spawn(|| {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            rt.block_on(async {
                let admin = pgvector_admin_url();
                let name = format!(
                    "letta_rs_test_{}_{}",
                    std::process::id(),
                    &uuid::Uuid::new_v4().simple().to_string()[..8]
                );
                let pool = sqlx::PgPool::connect(&admin)
                    .await
                    .expect("connect to the pgvector server");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&pool)
                    .await
                    .expect("create the pgvector test database");
                pool.close().await;
                let url = with_database(&admin, &name);
                let store = PgStore::connect(&url, 2).await.expect("migrate pgvector");
                assert!(
                    letta_rs::store::PassageStore::vector_index(&store),
                    "the pgvector server at {admin} did not enable pgvector"
                );
                url
            })
        })
        .join()
        .expect("pgvector database setup thread")
    })
}

/// A store on this run's pgvector database (vector search through HNSW indexes).
pub async fn open_pgvector_store() -> std::sync::Arc<PgStore> {
    init_test_log();
    std::sync::Arc::new(
        PgStore::connect(pgvector_database(), 8)
            .await
            .expect("connect to the pgvector database"),
    )
}

/// A new, empty database on the pgvector server (not migrated), for tests that need one
/// of their own; returns its URL.
pub async fn fresh_pgvector_database() -> String {
    create_database(&pgvector_admin_url()).await
}

impl TestApp {
    /// A server whose OpenAI and Anthropic providers are a fresh mock model, and the mock.
    pub async fn spawn_with_llm(
        backend: Backend,
        configure: impl FnOnce(&mut Config),
    ) -> (TestApp, crate::mock_llm::MockLlm) {
        let store = open_store(backend).await;
        Self::spawn_on_with_llm(backend, store, configure).await
    }

    /// [`TestApp::spawn_with_llm`] on this store.
    pub async fn spawn_on_with_llm(
        backend: Backend,
        store: DynStore,
        configure: impl FnOnce(&mut Config),
    ) -> (TestApp, crate::mock_llm::MockLlm) {
        let llm = crate::mock_llm::MockLlm::start().await;
        let base = llm.base_url();
        let app = TestApp::spawn_on(backend, store, |cfg| {
            cfg.openai_api_key = Some("sk-test".parse().expect("secret"));
            cfg.openai_api_base = base.clone();
            cfg.anthropic_api_key = Some("sk-ant-test".parse().expect("secret"));
            cfg.anthropic_api_base = base;
            configure(cfg);
        })
        .await;
        (app, llm)
    }
}

/// Runs a test body once per backend with a fresh mock model (OpenAI and Anthropic):
/// `llm_test!(name, |app: TestApp, llm: MockLlm| async move { … });` or
/// `llm_test!(name, config = |cfg: &mut Config| …, |app, llm| …);`, and with
/// `own_database` before `config` on a database of the test's own ([`isolated_store`]:
/// for settings whose sweeps would reach other tests' rows).
#[macro_export]
macro_rules! llm_test {
    ($name:ident, $body:expr) => {
        $crate::llm_test!($name, config = |_| {}, $body);
    };
    ($name:ident, own_database, config = $configure:expr, $body:expr) => {
        async fn $name(backend: $crate::helpers::Backend) {
            let store = $crate::helpers::isolated_store(backend).await;
            let (app, llm) =
                $crate::helpers::TestApp::spawn_on_with_llm(backend, store, $configure).await;
            let _serving = llm.clone();
            ($body)(app, llm).await;
        }

        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await;
            }
        }
    };
    // `config = |cfg| …` adjusts the settings after the mock's, e.g. a provider key to look for.
    ($name:ident, config = $configure:expr, $body:expr) => {
        async fn $name(backend: $crate::helpers::Backend) {
            let (app, llm) = $crate::helpers::TestApp::spawn_with_llm(backend, $configure).await;
            // Bodies that do not use the mock still need it serving until they end.
            let _serving = llm.clone();
            ($body)(app, llm).await;
        }

        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await;
            }
        }
    };
}

/// Creates an agent on the mock's OpenAI models with `human` and `persona` blocks; `extra`
/// adds or replaces fields of the request. Answers the agent state.
pub async fn create_agent(app: &TestApp, extra: Value) -> Value {
    let mut body = serde_json::json!({
        "model": "openai/gpt-4o-mini",
        "embedding": "openai/text-embedding-3-small",
        "memory_blocks": [{"label": "human", "value": "Name: unknown"}, {"label": "persona", "value": "I am a test agent."}],
    });
    for (k, v) in extra.as_object().expect("extra fields are an object") {
        body[k] = v.clone();
    }
    post_agent(app, &body).await
}

/// Creates an agent from exactly this request body (for tests that spell out their own
/// configurations); answers the agent state.
pub async fn post_agent(app: &TestApp, body: &Value) -> Value {
    let (status, agent) = app.post("/v1/agents/", body).await;
    assert_eq!(status, StatusCode::OK, "{agent}");
    agent
}

/// The `id` of a created resource.
pub fn id_of(resource: &Value) -> String {
    resource["id"].as_str().expect("an id").to_owned()
}

/// Logs for a failing test: with `TEST_LOG` set (a tracing filter such as `debug` or
/// `letta_rs=trace`), the server's tracing goes to the test's captured output, shown when it
/// fails (or always with `--nocapture`). Without it nothing is installed and tests stay quiet.
pub fn init_test_log() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(filter) = std::env::var("TEST_LOG") else {
            return;
        };
        // The test writer goes through libtest's capture, which threads spawned by the test
        // (the server's runtime) inherit; another subscriber already set is left in place.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            // Plain text: the output is read in a terminal or a CI log alike.
            .with_ansi(false)
            .try_init();
    });
}
