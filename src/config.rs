//! Server settings: command-line flags, each also read from the environment.
//! The original server's variable names are accepted so an existing `.env` keeps working.

use std::fmt;
use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser};

/// The Letta API version this server speaks (reported by `/v1/health/`).
pub const API_VERSION: &str = "0.8.12";

/// A value that must never reach a log line or a response.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

#[derive(Debug, Clone, Parser)]
#[command(
    name = "letta-rs",
    version,
    about = "A Letta-compatible stateful agent server"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "LETTA_HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// Port to listen on.
    #[arg(long, env = "LETTA_PORT", default_value_t = 8283)]
    pub port: u16,

    /// Directory for the embedded SQLite database (used when no Postgres URL is set).
    #[arg(long, env = "LETTA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Postgres connection URL; when set, Postgres is used instead of SQLite.
    #[arg(long = "pg-uri", env = "LETTA_PG_URI", hide_env_values = true)]
    pub pg_uri: Option<Secret>,

    /// Alternative name for the database URL (postgres://… or sqlite://…).
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,

    /// Maximum connections in the database pool (default: 4 per CPU core, at least 8).
    #[arg(long, env = "LETTA_PG_POOL_SIZE")]
    pub db_pool_size: Option<u32>,

    /// Redis URL (redis://host:port); used for run tracking and cancellation across replicas.
    #[arg(long = "redis-url", env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<Secret>,

    /// Redis host (the original's setting); combined with --redis-port.
    #[arg(long, env = "LETTA_REDIS_HOST")]
    pub redis_host: Option<String>,

    /// Redis port (the original's setting).
    #[arg(long, env = "LETTA_REDIS_PORT", default_value_t = 6379)]
    pub redis_port: u16,

    /// API key for OpenAI or an OpenAI-compatible server.
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<Secret>,

    /// Base URL of the OpenAI-compatible API.
    #[arg(
        long,
        env = "OPENAI_API_BASE",
        default_value = "https://api.openai.com/v1"
    )]
    pub openai_api_base: String,

    /// API key for Anthropic.
    #[arg(long, env = "ANTHROPIC_API_KEY", hide_env_values = true)]
    pub anthropic_api_key: Option<Secret>,

    /// Base URL of the Anthropic API.
    #[arg(
        long,
        env = "ANTHROPIC_API_BASE",
        default_value = "https://api.anthropic.com/v1"
    )]
    pub anthropic_api_base: String,

    /// Base URL of an Ollama server (e.g. http://localhost:11434).
    #[arg(long, env = "OLLAMA_BASE_URL")]
    pub ollama_base_url: Option<String>,

    /// Model handle used when an agent is created without `model` or `llm_config`.
    #[arg(long, env = "LETTA_DEFAULT_LLM_HANDLE")]
    pub default_llm_handle: Option<String>,

    /// Embedding handle used when an agent is created without `embedding` or `embedding_config`.
    #[arg(long, env = "LETTA_DEFAULT_EMBEDDING_HANDLE")]
    pub default_embedding_handle: Option<String>,

    /// Upper bound for a resolved model's context window.
    #[arg(
        long,
        env = "LETTA_GLOBAL_MAX_CONTEXT_WINDOW_LIMIT",
        default_value_t = 32000
    )]
    pub global_max_context_window_limit: i64,

    /// Seconds a provider's model list is cached.
    #[arg(long, env = "LETTA_MODEL_LIST_TTL_SECS", default_value_t = 300)]
    pub model_list_ttl_secs: u64,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "LETTA_MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Seconds a message stream may stay silent before a keep-alive comment is sent.
    #[arg(long, env = "LETTA_STREAM_KEEPALIVE_SECS", default_value_t = 15)]
    pub stream_keepalive_secs: u64,

    /// Seconds after which a created/running run, or a file being ingested, whose process
    /// stopped reporting is marked failed (a crashed replica's runs and files).
    #[arg(long, env = "LETTA_RUN_STALE_AFTER_SECS", default_value_t = 60)]
    pub run_stale_after_secs: u64,

    /// Seconds an agent's turn lease lives without renewal (how long a crashed replica
    /// blocks the agents it was serving).
    #[arg(long, env = "LETTA_AGENT_LEASE_TTL_SECS", default_value_t = 30)]
    pub agent_lease_ttl_secs: u64,

    /// Seconds to wait for an async run's callback to answer.
    #[arg(long, env = "LETTA_CALLBACK_TIMEOUT_SECS", default_value_t = 5)]
    pub callback_timeout_secs: u64,

    /// Attempts to deliver an async run's callback (connection errors and 5xx are retried).
    #[arg(long, env = "LETTA_CALLBACK_ATTEMPTS", default_value_t = 3)]
    pub callback_attempts: u32,

    /// Log filter (tracing EnvFilter syntax).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log_filter: String,

    // --- Groups (issue 12) ---
    /// Seconds a supervisor waits for each worker's reply before reporting it as timed out.
    #[arg(long, env = "LETTA_GROUP_WORKER_TIMEOUT_SECS", default_value_t = 300)]
    pub group_worker_timeout_secs: u64,

    /// Seconds a group member busy in another turn is waited for before it is reported busy.
    #[arg(long, env = "LETTA_GROUP_MEMBER_WAIT_SECS", default_value_t = 30)]
    pub group_member_wait_secs: u64,

    // --- Built-in tools (issue 11) ---
    /// Firecrawl API key for the `web_search` tool (an agent's own FIRECRAWL_API_KEY tool
    /// variable wins).
    #[arg(long, env = "FIRECRAWL_API_KEY", hide_env_values = true)]
    pub firecrawl_api_key: Option<Secret>,

    /// Base URL of the Firecrawl API.
    #[arg(
        long,
        env = "FIRECRAWL_API_BASE",
        default_value = "https://api.firecrawl.dev"
    )]
    pub firecrawl_api_base: String,

    // --- Tool sandbox (issue 11) ---
    /// Python interpreter that runs user-defined tools (default: the first python3 on PATH).
    #[arg(long, env = "LETTA_TOOL_PYTHON")]
    pub tool_python: Option<PathBuf>,

    /// Seconds one tool call may run before its processes are killed (the original's name).
    #[arg(long, env = "TOOL_SANDBOX_TIMEOUT", default_value_t = 180)]
    pub tool_sandbox_timeout: u64,

    /// Address space (MiB) one tool call may use.
    #[arg(long, env = "LETTA_TOOL_MEMORY_MB", default_value_t = 1024)]
    pub tool_memory_mb: u64,

    /// Tool calls that run at once; more wait for a place.
    #[arg(long, env = "LETTA_TOOL_MAX_CONCURRENT", default_value_t = 8)]
    pub tool_max_concurrent: usize,

    /// Interpreters kept started and waiting for a tool call (0: one is started per call).
    #[arg(long, env = "LETTA_TOOL_POOL_SIZE", default_value_t = 2)]
    pub tool_pool_size: usize,

    /// How tools are isolated: `auto` (bubblewrap when it works, else a plain process),
    /// `bwrap` (required) or `direct`.
    #[arg(long, env = "LETTA_TOOL_ISOLATION", value_enum, default_value_t = ToolIsolation::Auto)]
    pub tool_isolation: ToolIsolation,

    /// Let tools reach the network when they run under bubblewrap.
    #[arg(long, env = "LETTA_TOOL_ALLOW_NETWORK")]
    pub tool_allow_network: bool,

    // --- Access control (issue 9) ---
    /// Password mode, as the original's `--secure`: every route but health needs
    /// `Authorization: Bearer <password>` or `X-BARE-PASSWORD: password <password>`.
    #[arg(long, env = "LETTA_SERVER_SECURE")]
    pub secure: bool,

    /// The server password for --secure; when unset a random one is generated and printed once.
    #[arg(
        long = "password",
        env = "LETTA_SERVER_PASSWORD",
        hide_env_values = true
    )]
    pub server_password: Option<Secret>,

    /// Extra origins (comma-separated) whose web pages may call this server, beside the
    /// built-in list (the original's local origins and the ADE at https://app.letta.com).
    #[arg(
        long = "cors-origins",
        env = "ACCEPTABLE_ORIGINS",
        value_delimiter = ','
    )]
    pub acceptable_origins: Vec<String>,

    /// Extra names (comma-separated) accepted in the Host header while bound to a loopback
    /// address, beside localhost, *.localhost and loopback addresses (DNS-rebinding guard).
    #[arg(
        long = "allowed-hosts",
        env = "LETTA_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,

    // --- Logging and metrics (issue 9) ---
    /// Log line format: `text`, or `json` (one JSON object per line). Text has no colours
    /// when `NO_COLOR` is set or stderr is not a terminal.
    #[arg(long, env = "LETTA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Seconds a model call may take (a streamed answer: to start, and between chunks)
    /// before it fails as a timeout (504).
    #[arg(long, env = "LETTA_LLM_TIMEOUT_SECS", default_value_t = 120)]
    pub llm_timeout_secs: u64,

    // --- Redis / recovery (issue 9) ---
    /// Seconds to wait for Redis at start-up before giving up (or starting degraded with
    /// --redis-optional).
    #[arg(long, env = "LETTA_REDIS_CONNECT_TIMEOUT_SECS", default_value_t = 5)]
    pub redis_connect_timeout_secs: u64,

    /// Milliseconds one Redis call may take while serving; slower or failing calls mark Redis
    /// degraded and this replica carries on alone until it answers again.
    #[arg(long, env = "LETTA_REDIS_TIMEOUT_MS", default_value_t = 1000)]
    pub redis_timeout_ms: u64,

    /// Start even when Redis cannot be reached (degraded: runs are tracked in this process
    /// only, and Redis is retried in the background).
    #[arg(
        long,
        env = "LETTA_REDIS_OPTIONAL",
        default_value_t = false,
        value_parser = clap::builder::BoolishValueParser::new(),
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub redis_optional: bool,

    /// Stable name of this replica, kept across restarts, so a restarted process releases its
    /// previous incarnation's agent leases and runs at once (default: host name, port and
    /// database).
    #[arg(long, env = "LETTA_REPLICA_ID")]
    pub replica_id: Option<String>,

    // --- Provider traces and message batches (issue 14) ---
    /// Keep each step's model request and answer (keys redacted), served by
    /// `GET /v1/telemetry/{step_id}`.
    #[arg(
        long,
        env = "LETTA_PROVIDER_TRACES",
        default_value_t = false,
        value_parser = clap::builder::BoolishValueParser::new(),
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub provider_traces: bool,

    /// Provider traces kept per organization; older ones are deleted as new ones arrive.
    #[arg(long, env = "LETTA_PROVIDER_TRACE_RETENTION", default_value_t = 1000)]
    pub provider_trace_retention: i64,

    /// Most requests one message batch may hold.
    #[arg(long, env = "LETTA_BATCH_MAX_ITEMS", default_value_t = 1000)]
    pub batch_max_items: usize,

    /// Requests of message batches run at once in this process; more wait their turn.
    #[arg(long, env = "LETTA_BATCH_CONCURRENCY", default_value_t = 8)]
    pub batch_concurrency: usize,

    /// Composio API key for the `/v1/tools/composio` routes and Composio tools (an agent's
    /// own `COMPOSIO_API_KEY` tool variable wins when its tools run).
    #[arg(long, env = "COMPOSIO_API_KEY", hide_env_values = true)]
    pub composio_api_key: Option<Secret>,

    /// Base URL of the Composio API.
    #[arg(
        long,
        env = "COMPOSIO_API_BASE",
        default_value = "https://backend.composio.dev"
    )]
    pub composio_api_base: String,

    /// Largest file accepted by `POST /v1/sources/{source_id}/upload`, in bytes (413 above).
    #[arg(long, env = "LETTA_MAX_UPLOAD_BYTES", default_value_t = 50 * 1024 * 1024)]
    pub max_upload_bytes: usize,

    /// Most characters of text a file uploaded to a source may yield; a longer one fails
    /// its ingestion (status `error`).
    #[arg(long, env = "LETTA_MAX_FILE_TEXT_CHARS", default_value_t = 20_000_000)]
    pub max_file_text_chars: usize,
    // --- MCP servers (issue 14; the original's setting names) ---
    /// Seconds one MCP tool call may take; a call that takes longer is the tool's error and
    /// its session is dropped (a stdio server is killed).
    #[arg(long, env = "MCP_EXECUTE_TOOL_TIMEOUT", default_value_t = 60.0)]
    pub mcp_execute_tool_timeout: f64,

    /// Seconds an MCP server may take to list its tools.
    #[arg(long, env = "MCP_LIST_TOOLS_TIMEOUT", default_value_t = 30.0)]
    pub mcp_list_tools_timeout: f64,

    /// Seconds starting or reaching an MCP server and its handshake may take.
    #[arg(long, env = "MCP_CONNECT_TO_SERVER_TIMEOUT", default_value_t = 30.0)]
    pub mcp_connect_to_server_timeout: f64,

    /// Refuse stdio MCP servers (commands run on this host as the server's user): adding or
    /// testing one is a 400 and stored ones are not started.
    #[arg(long, env = "MCP_DISABLE_STDIO")]
    pub mcp_disable_stdio: bool,
}

/// How user-defined tools are isolated (see the README's "Tools" section).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ToolIsolation {
    Auto,
    Bwrap,
    Direct,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    /// Treats settings given as empty strings (`OPENAI_API_KEY=` in a `.env`) as unset, as
    /// the original does.
    pub fn normalized(mut self) -> Self {
        fn blank_secret(v: &mut Option<Secret>) {
            if v.as_ref().is_some_and(|s| s.expose().trim().is_empty()) {
                *v = None;
            }
        }
        fn blank(v: &mut Option<String>) {
            if v.as_ref().is_some_and(|s| s.trim().is_empty()) {
                *v = None;
            }
        }
        blank_secret(&mut self.pg_uri);
        blank_secret(&mut self.database_url);
        blank_secret(&mut self.redis_url);
        blank_secret(&mut self.openai_api_key);
        blank_secret(&mut self.anthropic_api_key);
        blank_secret(&mut self.server_password);
        blank_secret(&mut self.firecrawl_api_key);
        blank_secret(&mut self.composio_api_key);
        self.acceptable_origins.retain(|o| !o.trim().is_empty());
        self.allowed_hosts.retain(|h| !h.trim().is_empty());
        blank(&mut self.redis_host);
        blank(&mut self.ollama_base_url);
        blank(&mut self.default_llm_handle);
        blank(&mut self.default_embedding_handle);
        blank(&mut self.replica_id);
        self
    }

    /// The database to use: Postgres when a Postgres URL is set, otherwise SQLite.
    pub fn database(&self) -> DatabaseTarget {
        let url = self.pg_uri.as_ref().or(self.database_url.as_ref());
        match url {
            Some(url) if url.expose().starts_with("sqlite:") => {
                DatabaseTarget::SqliteUrl(url.expose().to_owned())
            }
            Some(url) => DatabaseTarget::Postgres(url.expose().to_owned()),
            None => DatabaseTarget::SqliteFile(self.data_dir().join("letta.db")),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."))
                .join(".letta-rs")
        })
    }

    pub fn pool_size(&self) -> u32 {
        self.db_pool_size.unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
            (cores * 4).max(8)
        })
    }

    pub fn redis_url(&self) -> Option<String> {
        if let Some(url) = &self.redis_url {
            return Some(url.expose().to_owned());
        }
        self.redis_host
            .as_ref()
            .map(|host| format!("redis://{host}:{}", self.redis_port))
    }

    /// The password callers must present: only in secure mode.
    pub fn required_password(&self) -> Option<&Secret> {
        self.server_password.as_ref().filter(|_| self.secure)
    }

    pub fn stream_keepalive(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.stream_keepalive_secs.max(1))
    }

    pub fn llm_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.llm_timeout_secs.max(1))
    }

    pub fn group_worker_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.group_worker_timeout_secs.max(1))
    }

    pub fn group_member_wait(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.group_member_wait_secs)
    }

    pub fn run_stale_after(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.run_stale_after_secs.max(1))
    }

    pub fn redis_connect_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.redis_connect_timeout_secs.max(1))
    }

    pub fn redis_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.redis_timeout_ms.max(10))
    }

    /// Settings for tests and embedding: everything at its default, no providers. Built
    /// without reading the environment, so a developer's `OPENAI_API_KEY` or `RUST_LOG`
    /// never leaks into a test.
    pub fn for_tests() -> Self {
        let matches = Self::command_without_env().get_matches_from(["letta-rs"]);
        match Self::from_arg_matches(&matches) {
            Ok(config) => config.normalized(),
            // Every setting has a default or is optional; a failure is a bug in this file.
            Err(err) => panic!("the default settings do not parse: {err}"),
        }
    }

    /// The command line of [`Config`] with no environment variable behind any setting.
    fn command_without_env() -> clap::Command {
        Self::command().mut_args(|arg| arg.env(None::<&str>))
    }
}

/// A `.env` file that cannot be applied: start-up stops rather than run half-configured.
#[derive(Debug, thiserror::Error)]
pub enum DotenvError {
    #[error("{}: line {line}: {problem}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        problem: String,
    },
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: dotenvy::Error,
    },
}

/// Applies the `.env` file of the working directory (or the nearest parent, as dotenv
/// tools do) to the environment; variables already set win. No file is fine; a line that
/// does not parse is an error naming its line and key, never its value (it may be a key).
pub fn load_dotenv() -> Result<Option<PathBuf>, DotenvError> {
    let Some(path) = find_dotenv() else {
        return Ok(None);
    };
    match dotenvy::from_path(&path) {
        Ok(()) => Ok(Some(path)),
        Err(dotenvy::Error::LineParse(text, index)) => {
            let contents = std::fs::read_to_string(&path).unwrap_or_default();
            let first = text.lines().next().unwrap_or_default().trim();
            let line = contents
                .lines()
                .position(|l| l.trim() == first)
                .map_or(0, |i| i + 1);
            let problem = match first.split_once('=') {
                Some((key, _)) => format!(
                    "cannot parse the value of {} (at character {index})",
                    key.trim()
                ),
                None => "not a KEY=VALUE line".to_owned(),
            };
            Err(DotenvError::Parse {
                path,
                line,
                problem,
            })
        }
        Err(source) => Err(DotenvError::Read { path, source }),
    }
}

fn find_dotenv() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .map(|dir| dir.join(".env"))
        .find(|candidate| candidate.is_file())
}

/// The URL without its password, for logs and errors. Works on text that does not parse as
/// a URL too (a mistyped setting is echoed in errors): everything before the last `@` is
/// treated as credentials and masked, keeping only the user name of a real URL.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    // The last `@`: a password may itself contain `@` or `/`. Masking too much (an `@` in a
    // path) is harmless; showing a password is not.
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match scheme {
        // A URL: keep the user name, which helps tell settings apart.
        Some(scheme) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        // Not a URL: nothing before the `@` can be told apart from a password.
        None => format!("***@{host}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_settings_read_no_environment() {
        // The real command line reads settings from the environment…
        assert!(
            Config::command()
                .get_arguments()
                .any(|arg| arg.get_env().is_some())
        );
        // …the one behind `for_tests` from no variable at all.
        let unread: Vec<_> = Config::command_without_env()
            .get_arguments()
            .filter_map(|arg| arg.get_env().map(|env| env.to_owned()))
            .collect();
        assert!(
            unread.is_empty(),
            "still read from the environment: {unread:?}"
        );
        // And every setting still has its default, providers included (none).
        let config = Config::for_tests();
        assert_eq!(config.openai_api_key, None);
        assert_eq!(config.redis_url, None);
    }

    #[test]
    fn empty_settings_are_unset() {
        let mut config = Config::parse_from(["letta-rs"]);
        config.openai_api_key = Some(Secret(String::new()));
        config.default_llm_handle = Some("  ".into());
        let config = config.normalized();
        assert_eq!(config.openai_api_key, None);
        assert_eq!(config.default_llm_handle, None);
    }

    #[test]
    fn redis_optional_is_a_flag_or_a_boolean() {
        let parse = |args: &[&str]| {
            let mut all = vec!["letta-rs"];
            all.extend(args);
            Config::parse_from(all).redis_optional
        };
        assert!(!parse(&[]));
        assert!(parse(&["--redis-optional"]));
        assert!(parse(&["--redis-optional=yes"]));
        assert!(!parse(&["--redis-optional=false"]));
    }

    #[test]
    fn redacted_urls_never_show_a_password() {
        for (url, want) in [
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            ("redis://:hunter2@h:6379/0", "redis://:***@h:6379/0"),
            ("redis://bob:hunter2@h:6379", "redis://bob:***@h:6379"),
            ("postgres://u:p@ss@h/db", "postgres://u:***@h/db"),
            // Not URLs at all: still no password.
            ("redis//:hunter2@h:6379", "***@h:6379"),
            ("redis:/bob:hunter2@h", "***@h"),
            ("hunter2@h", "***@h"),
        ] {
            let got = redact_url(url);
            assert_eq!(got, want, "{url}");
            assert!(!got.contains("hunter2") && !got.contains("p@ss"), "{got}");
        }
    }
}

#[derive(Debug, Clone)]
pub enum DatabaseTarget {
    Postgres(String),
    SqliteFile(PathBuf),
    SqliteUrl(String),
}
