//! How the sandbox is set up: interpreter, isolation, limits, pool size.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Whether to run workers through bubblewrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BwrapMode {
    /// Use it when it is installed and works, else run directly.
    #[default]
    Auto,
    /// Require it: [`Sandbox::new`] fails without a working `bwrap`.
    On,
    Off,
}

/// Sandbox configuration; the defaults suit a server.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    /// Interpreter; `None` = first `python3` on `PATH`.
    pub python: Option<PathBuf>,
    /// Wall-clock limit per call.
    pub timeout: Duration,
    /// CPU-time limit per call (RLIMIT_CPU).
    pub cpu_secs: u64,
    /// Address-space limit (RLIMIT_AS).
    pub memory_bytes: u64,
    /// Largest file a tool may write (RLIMIT_FSIZE).
    pub file_size_bytes: u64,
    /// RLIMIT_NOFILE.
    pub max_open_files: u64,
    /// RLIMIT_NPROC, applied once the worker runs as an unprivileged user (the kernel
    /// counts it per user and ignores it for root).
    pub max_processes: u64,
    /// Captured bytes per stream (stdout, stderr).
    pub output_limit: usize,
    /// Warm workers per interpreter; 0 starts one per call.
    pub pool_size: usize,
    /// Calls running at once; more wait.
    pub max_concurrent: usize,
    /// Where venvs for `pip_requirements` are kept.
    pub venv_cache_dir: PathBuf,
    /// Extra `pip install` arguments (e.g. `--no-index --find-links DIR` offline).
    pub pip_args: Vec<String>,
    /// Limit for creating one venv and installing into it.
    pub pip_timeout: Duration,
    /// Parent of the per-call working directories.
    pub scratch_dir: PathBuf,
    pub use_bwrap: BwrapMode,
    /// Network inside bubblewrap (direct mode always has the host's network).
    pub allow_network: bool,
    /// When the server runs as root, run tools unprivileged (if that works): as `nobody`
    /// inside bubblewrap, else as a uid of their own (see `isolated_uid_base`).
    pub drop_privileges: bool,
    /// Outside bubblewrap, each worker run as root-dropped gets uid `base + n` (`n` below
    /// `isolated_uid_span`, cycling) and `nobody`'s group: no two concurrent calls share a
    /// user. Pick a range no real account uses.
    pub isolated_uid_base: u32,
    pub isolated_uid_span: u32,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        let tmp = std::env::temp_dir();
        // SAFETY: geteuid cannot fail.
        let uid = unsafe { libc::geteuid() };
        SandboxSettings {
            python: None,
            timeout: Duration::from_secs(60),
            cpu_secs: 60,
            memory_bytes: 1 << 30,
            file_size_bytes: 64 << 20,
            max_open_files: 256,
            max_processes: 256,
            output_limit: 1 << 20,
            pool_size: 2,
            max_concurrent: 8,
            venv_cache_dir: tmp.join(format!("letta-rs-tool-venvs-{uid}")),
            pip_args: Vec::new(),
            pip_timeout: Duration::from_secs(600),
            scratch_dir: tmp,
            use_bwrap: BwrapMode::Auto,
            allow_network: false,
            drop_privileges: true,
            isolated_uid_base: 1_500_000_000,
            isolated_uid_span: 1_000_000,
        }
    }
}

impl SandboxSettings {
    /// The server's settings: its interpreter, limits and isolation; venvs under the data
    /// directory.
    pub fn from_config(config: &crate::config::Config) -> Self {
        use crate::config::ToolIsolation;
        let timeout = Duration::from_secs(config.tool_sandbox_timeout.max(1));
        SandboxSettings {
            python: config.tool_python.clone(),
            timeout,
            cpu_secs: timeout.as_secs(),
            memory_bytes: config.tool_memory_mb.max(64) << 20,
            pool_size: config.tool_pool_size,
            max_concurrent: config.tool_max_concurrent.max(1),
            venv_cache_dir: config.data_dir().join("tool-venvs"),
            use_bwrap: match config.tool_isolation {
                ToolIsolation::Auto => BwrapMode::Auto,
                ToolIsolation::Bwrap => BwrapMode::On,
                ToolIsolation::Direct => BwrapMode::Off,
            },
            allow_network: config.tool_allow_network,
            ..SandboxSettings::default()
        }
    }
}
