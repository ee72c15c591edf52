//! Running user-defined Python tools out of process, and deriving their JSON schemas.
//!
//! # What a tool call runs in
//!
//! Every call runs in its own, fresh Python process (a *worker*), started from a warm pool
//! when one is ready. The worker reads one job (source, function name, arguments as JSON
//! data, agent state) from its stdin, runs it, writes one JSON result to a private file
//! descriptor (3) and exits; the tool's own prints go to stdout/stderr, captured apart, so
//! nothing a tool prints can pass for its result. Arguments are never spliced into code.
//!
//! What a call gets in each isolation mode (cleared environment, private working
//! directory, wall-clock timeout killing the process group, rlimits, bounded output, and,
//! with [`IsolationMode::Bubblewrap`], namespaces, a read-only filesystem view and no
//! network unless [`SandboxSettings::allow_network`]; an unprivileged user when the server
//! runs as root and [`SandboxSettings::drop_privileges`]) is stated for users in the
//! README's "Tools" section: that text is the guarantee, and a change here changes it.
//! Outside bubblewrap, each dropped worker gets a uid of its own
//! ([`SandboxSettings::isolated_uid_base`]) because calls sharing one could signal,
//! `ptrace` or read `/proc` of each other, and `RLIMIT_NPROC` then counts per call. Whether
//! the drop works is checked at start-up by running a real worker: an interpreter under
//! `/root` cannot be read by other users outside bubblewrap; inside, its parent directories
//! are recreated world-readable. [`Sandbox::mode`] reports the mode picked.
//!
//! # Interpreter
//!
//! [`SandboxSettings::python`] if set, else the first `python3` on the server's `PATH`,
//! resolved once at start-up to the real executable (`sys.executable`: a pyenv shim is a
//! shell script that needs the server's environment, and would cost tens of
//! milliseconds per call). Tools with `pip_requirements` run in a venv made from it.
//!
//! # Warm pool
//!
//! [`SandboxSettings::pool_size`] workers per interpreter (base or venv) are started
//! ahead, with the clean environment and the worker script loaded, blocked reading their
//! job. A worker runs exactly one call and exits, so no state (globals, imported modules,
//! files in its directory) survives into another call; the pool refills in the background.
//!
//! # Files
//!
//! Here: the shared sandbox, start-up (interpreter, isolation probe) and running a call.
//! `settings.rs`: how it is set up ([`SandboxSettings`]); `process.rs`: workers, their launch and
//! pool; `outcome.rs`: a call ([`ToolRun`]) and what it gave back ([`ToolExecution`]);
//! `venv.rs`: virtual environments for `pip_requirements`; `schema.rs`: JSON schemas
//! derived from Python source.

mod outcome;
mod process;
mod schema;
mod settings;
mod venv;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

pub use outcome::{ToolExecution, ToolRun, ToolStatus, error_text, truncate_tool_return};
pub use schema::{SchemaError, SchemaErrorKind, derive_schema};
pub use settings::{BwrapMode, SandboxSettings};

use outcome::interpret;

use process::{BwrapLaunch, Launch, Pool, RunAs};
use venv::VenvCache;

/// The server's one sandbox, started on first use: most processes never run a user tool,
/// and starting one (finding the interpreter, trying the isolation, warming workers) costs
/// several interpreter start-ups.
pub struct SharedSandbox {
    settings: SandboxSettings,
    cell: tokio::sync::OnceCell<Sandbox>,
}

impl SharedSandbox {
    pub fn new(settings: SandboxSettings) -> Self {
        SharedSandbox {
            settings,
            cell: tokio::sync::OnceCell::new(),
        }
    }

    /// The sandbox, started now if this is the first use; a failed start is retried by the
    /// next call.
    pub async fn get(&self) -> Result<&Sandbox, SandboxError> {
        self.cell
            .get_or_try_init(|| Sandbox::new(self.settings.clone()))
            .await
    }
}

/// How calls are isolated, as detected at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum IsolationMode {
    Bubblewrap { unprivileged: bool, network: bool },
    Direct { unprivileged: bool },
}

/// A `pip_requirements` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipRequirement {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
}

/// Failures of the sandbox itself (not of the tool): no interpreter, a venv that cannot be
/// built, a process that cannot be started.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("no Python interpreter: {0}")]
    NoInterpreter(String),
    #[error("bubblewrap is required but does not work: {0}")]
    BwrapUnavailable(String),
    #[error("cannot start the tool process: {0}")]
    Spawn(#[from] std::io::Error),
    #[error("could not prepare the tool's virtual environment ({step} failed): {detail}")]
    Venv { step: &'static str, detail: String },
}

struct Inner {
    settings: SandboxSettings,
    python: PathBuf,
    prefixes: Vec<PathBuf>,
    mode: IsolationMode,
    bwrap: Option<BwrapLaunch>,
    run_as: Option<RunAs>,
    pool: Arc<Pool>,
    semaphore: tokio::sync::Semaphore,
    venvs: VenvCache,
    launches: Mutex<HashMap<String, Arc<Launch>>>,
}

/// The tool sandbox: cheap to clone, share one per server.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("python", &self.inner.python)
            .field("mode", &self.inner.mode)
            .finish()
    }
}

const BASE_KEY: &str = "base";

/// The mode picked at start-up, its bubblewrap launch, and the user tools switch to.
type Chosen = (IsolationMode, Option<BwrapLaunch>, Option<RunAs>);

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The real interpreter behind `candidate` and the prefixes it needs.
async fn resolve_python(candidate: &Path) -> Result<(PathBuf, Vec<PathBuf>), SandboxError> {
    // Run with the server's environment this once: a shim (pyenv) needs it to find the
    // interpreter. Only the interpreter's own paths come back.
    let out = tokio::process::Command::new(candidate)
        .arg("-c")
        .arg("import sys; print(sys.executable); print(sys.prefix); print(sys.base_prefix); print(sys.version_info >= (3, 9))")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| SandboxError::NoInterpreter(format!("{}: {e}", candidate.display())))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    if !out.status.success() || lines.len() < 4 || lines[0].is_empty() {
        return Err(SandboxError::NoInterpreter(format!(
            "{} did not run: {}",
            candidate.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    if lines[3] != "True" {
        return Err(SandboxError::NoInterpreter(format!(
            "{} is older than Python 3.9",
            candidate.display()
        )));
    }
    let exe = std::fs::canonicalize(lines[0]).unwrap_or_else(|_| PathBuf::from(lines[0]));
    let mut prefixes: Vec<PathBuf> = vec![PathBuf::from(lines[1]), PathBuf::from(lines[2])];
    prefixes.sort();
    prefixes.dedup();
    Ok((exe, prefixes))
}

/// `nobody`'s ids from /etc/passwd (65534 when it is not listed).
fn nobody_ids() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 4
            && f[0] == "nobody"
            && let (Ok(u), Ok(g)) = (f[2].parse(), f[3].parse())
        {
            return (u, g);
        }
    }
    (65534, 65534)
}

/// Paths bubblewrap must bind for an interpreter (everything outside what it binds anyway).
fn extra_ro_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    paths
        .iter()
        .filter(|p| {
            !["/usr", "/lib", "/lib64", "/bin", "/sbin"]
                .iter()
                .any(|base| p.starts_with(base))
        })
        .cloned()
        .collect()
}

fn base_env(venv: Option<&Path>) -> Vec<(String, String)> {
    let mut path = "/usr/local/bin:/usr/bin:/bin".to_string();
    let mut env = vec![
        ("LANG".to_string(), "C.UTF-8".to_string()),
        ("PYTHONUNBUFFERED".to_string(), "1".to_string()),
        ("PYTHONWARNINGS".to_string(), "ignore".to_string()),
        ("PYTHONDONTWRITEBYTECODE".to_string(), "1".to_string()),
        ("NO_COLOR".to_string(), "1".to_string()),
        ("TERM".to_string(), "dumb".to_string()),
        ("HOME".to_string(), "/tmp".to_string()),
    ];
    if let Some(v) = venv {
        env.push(("VIRTUAL_ENV".to_string(), v.to_string_lossy().into_owned()));
        path = format!("{}:{path}", v.join("bin").display());
    }
    env.push(("PATH".to_string(), path));
    env
}

impl Sandbox {
    /// Finds the interpreter, detects bubblewrap and whether tools can run unprivileged
    /// (each by running a real worker once), and starts the warm pool.
    pub async fn new(settings: SandboxSettings) -> Result<Self, SandboxError> {
        let candidate = match &settings.python {
            Some(p) => p.clone(),
            None => find_on_path("python3")
                .ok_or_else(|| SandboxError::NoInterpreter("no python3 on PATH".into()))?,
        };
        let (python, prefixes) = resolve_python(&candidate).await?;
        // SAFETY: geteuid cannot fail.
        let is_root = unsafe { libc::geteuid() } == 0;
        let want_drop = is_root && settings.drop_privileges;
        let nobody = nobody_ids();
        let per_worker = RunAs::PerWorker {
            base: settings.isolated_uid_base,
            span: settings.isolated_uid_span,
            gid: nobody.1,
        };

        let bwrap_program = match settings.use_bwrap {
            BwrapMode::Off => None,
            _ => find_on_path("bwrap").or_else(|| {
                let p = PathBuf::from("/usr/bin/bwrap");
                is_executable(&p).then_some(p)
            }),
        };
        let mut chosen: Option<Chosen> = None;
        let mut bwrap_failure = String::from("bwrap not found");
        if let Some(program) = bwrap_program {
            for drop in if want_drop {
                vec![true, false]
            } else {
                vec![false]
            } {
                let b = BwrapLaunch {
                    program: program.clone(),
                    allow_network: settings.allow_network,
                    as_root: is_root,
                    setid_caps: drop,
                };
                let launch = Launch {
                    python: python.clone(),
                    ro_paths: extra_ro_paths(&prefixes),
                    env: base_env(None),
                    bwrap: Some(b.clone()),
                    scratch_root: settings.scratch_dir.clone(),
                    run_as: drop.then_some(RunAs::Fixed(nobody.0, nobody.1)),
                };
                match probe(&launch).await {
                    Ok(()) => {
                        chosen = Some((
                            IsolationMode::Bubblewrap {
                                unprivileged: drop || !is_root,
                                network: settings.allow_network,
                            },
                            Some(b.clone()),
                            launch.run_as,
                        ));
                        break;
                    }
                    Err(e) => {
                        tracing::debug!(reason = %e, unprivileged = drop, "bubblewrap probe failed");
                        bwrap_failure = e;
                    }
                }
            }
        }
        if chosen.is_none() {
            if settings.use_bwrap == BwrapMode::On {
                return Err(SandboxError::BwrapUnavailable(bwrap_failure));
            }
            if settings.use_bwrap == BwrapMode::Auto {
                tracing::warn!(reason = %bwrap_failure, "bubblewrap unavailable: tools run as plain child processes");
            }
            let mut last = String::new();
            for drop in if want_drop {
                vec![true, false]
            } else {
                vec![false]
            } {
                let launch = Launch {
                    python: python.clone(),
                    ro_paths: Vec::new(),
                    env: base_env(None),
                    bwrap: None,
                    scratch_root: settings.scratch_dir.clone(),
                    run_as: drop.then_some(per_worker),
                };
                match probe(&launch).await {
                    Ok(()) => {
                        chosen = Some((
                            IsolationMode::Direct {
                                unprivileged: drop || !is_root,
                            },
                            None,
                            launch.run_as,
                        ));
                        break;
                    }
                    Err(e) => {
                        tracing::debug!(reason = %e, unprivileged = drop, "direct probe failed");
                        last = e;
                    }
                }
            }
            if chosen.is_none() {
                return Err(SandboxError::NoInterpreter(format!(
                    "{} cannot run tools: {last}",
                    python.display()
                )));
            }
        }
        let Some((mode, bwrap, run_as)) = chosen else {
            return Err(SandboxError::NoInterpreter("no usable mode".into()));
        };
        if is_root && run_as.is_none() {
            tracing::warn!(python = %python.display(), mode = ?mode, "tools run as root: could not switch them to an unprivileged user (outside bubblewrap the interpreter must be readable by `nobody`: configure one outside /root)");
        }
        tracing::info!(python = %python.display(), mode = ?mode, "tool sandbox ready");
        let venvs = VenvCache::new(
            settings.venv_cache_dir.clone(),
            python.clone(),
            settings.pip_args.clone(),
            settings.pip_timeout,
        );
        let sandbox = Sandbox {
            inner: Arc::new(Inner {
                pool: Pool::new(settings.pool_size),
                semaphore: tokio::sync::Semaphore::new(settings.max_concurrent.max(1)),
                settings,
                python,
                prefixes,
                mode,
                bwrap,
                run_as,
                venvs,
                launches: Mutex::new(HashMap::new()),
            }),
        };
        let base = sandbox.launch_for(None);
        sandbox.inner.pool.refill(BASE_KEY, &base);
        Ok(sandbox)
    }

    pub fn mode(&self) -> IsolationMode {
        self.inner.mode
    }

    /// The resolved interpreter.
    pub fn python(&self) -> &Path {
        &self.inner.python
    }

    pub fn settings(&self) -> &SandboxSettings {
        &self.inner.settings
    }

    /// Derives a tool's schema (see [`derive_schema`]) with this sandbox's interpreter.
    pub async fn derive_schema(
        &self,
        source: &str,
        args_json_schema: Option<&Value>,
        name: Option<&str>,
    ) -> Result<Value, SchemaError> {
        derive_schema(&self.inner.python, source, args_json_schema, name).await
    }

    /// Pids of the idle warm workers (to measure the pool).
    pub fn pool_pids(&self) -> Vec<u32> {
        self.inner.pool.idle_pids()
    }

    /// Idle warm workers for the base interpreter.
    pub fn warm_workers(&self) -> usize {
        self.inner.pool.idle(BASE_KEY)
    }

    /// Creates (or, with `force_recreate`, rebuilds) the venv for a requirement set ahead
    /// of time, e.g. for `force_recreate_local_sandbox_venv`.
    pub async fn prepare_venv(
        &self,
        reqs: &[PipRequirement],
        force_recreate: bool,
    ) -> Result<PathBuf, SandboxError> {
        let specs = venv::requirement_specs(reqs);
        self.inner.venvs.ensure(&specs, force_recreate).await
    }

    fn launch_for(&self, venv: Option<&Path>) -> Arc<Launch> {
        let key = venv.map_or_else(|| BASE_KEY.to_string(), |v| v.display().to_string());
        let mut launches = self
            .inner
            .launches
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(l) = launches.get(&key) {
            return Arc::clone(l);
        }
        let (python, mut ro) = match venv {
            Some(v) => (v.join("bin").join("python"), vec![v.to_path_buf()]),
            None => (self.inner.python.clone(), Vec::new()),
        };
        ro.extend(self.inner.prefixes.iter().cloned());
        // The directory of the real executable too (a venv's python is a symlink to it);
        // usually inside the prefix already. Only that directory: never its parents, which
        // could be a whole home directory.
        if let Some(dir) = self.inner.python.parent() {
            ro.push(dir.to_path_buf());
        }
        ro.sort();
        ro.dedup();
        let launch = Arc::new(Launch {
            python,
            ro_paths: extra_ro_paths(&ro),
            env: base_env(venv),
            bwrap: self.inner.bwrap.clone(),
            scratch_root: self.inner.settings.scratch_dir.clone(),
            run_as: self.inner.run_as,
        });
        launches.insert(key, Arc::clone(&launch));
        launch
    }

    fn job(&self, mode: &str, run: &ToolRun, worker: &process::Worker, launch: &Launch) -> Value {
        let cwd = worker.cwd.as_str();
        let s = &self.inner.settings;
        let mut env: Map<String, Value> = launch
            .env
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        env.insert("HOME".into(), Value::String(cwd.to_string()));
        for (k, v) in &run.env {
            env.insert(k.clone(), Value::String(v.clone()));
        }
        let props = run
            .json_schema
            .as_ref()
            .and_then(|j| j.pointer("/parameters/properties"))
            .and_then(Value::as_object)
            .map(|p| {
                p.iter()
                    .map(|(k, v)| (k.clone(), v.get("type").cloned().unwrap_or(Value::Null)))
                    .collect::<Map<String, Value>>()
            });
        json!({
            "mode": mode,
            "source": run.source_code,
            "function": run.function,
            "args": run.args,
            "schema_properties": props,
            "agent_state": run.agent_state,
            "env": env,
            "cwd": cwd,
            "drop_to": worker.run_as.map(|(u, g)| json!([u, g])),
            "output_limit": s.output_limit,
            "limits": {
                "cpu_secs": s.cpu_secs,
                "memory_bytes": s.memory_bytes,
                "file_size_bytes": s.file_size_bytes,
                "open_files": s.max_open_files,
                "processes": s.max_processes,
            },
        })
    }

    /// Runs one custom-tool call. `Err` only when the sandbox itself fails (no venv, no
    /// process); everything the tool does, including crashing, is an `Ok` with
    /// `status: error`. Use [`ToolExecution::from_sandbox_error`] to report an `Err` as a
    /// tool return.
    pub async fn run_tool(&self, run: &ToolRun) -> Result<ToolExecution, SandboxError> {
        self.execute("tool", run).await
    }

    /// The built-in `run_code` tool: Python runs in this sandbox and answers, as the
    /// original, a JSON document `{"results": [...], "logs": {"stdout": [...], "stderr":
    /// [...]}}` (plus `"error"` when the code raised); other languages answer a clear error.
    pub async fn run_code(
        &self,
        code: &str,
        language: &str,
        env: BTreeMap<String, String>,
    ) -> Result<ToolExecution, SandboxError> {
        if !language.eq_ignore_ascii_case("python") {
            return Ok(ToolExecution::error(
                "run_code",
                "ValueError",
                &format!(
                    "Only Python code can run in the local sandbox; language '{language}' is not supported here"
                ),
                Vec::new(),
            ));
        }
        let run = ToolRun {
            source_code: code.to_string(),
            function: "run_code".into(),
            env,
            ..ToolRun::default()
        };
        self.execute("run_code", &run).await
    }

    async fn execute(&self, mode: &str, run: &ToolRun) -> Result<ToolExecution, SandboxError> {
        let venv = if run.pip_requirements.is_empty() {
            None
        } else {
            let specs = venv::requirement_specs(&run.pip_requirements);
            Some(self.inner.venvs.ensure(&specs, false).await?)
        };
        let key = venv
            .as_ref()
            .map_or_else(|| BASE_KEY.to_string(), |v| v.display().to_string());
        let launch = self.launch_for(venv.as_deref());
        // Closed only if the sandbox is dropped, which cannot happen while `self` lives.
        let _permit = self
            .inner
            .semaphore
            .acquire()
            .await
            .map_err(|e| SandboxError::Spawn(std::io::Error::other(e)))?;
        let worker = self.inner.pool.take(&key, &launch).await?;
        let job = self.job(mode, run, &worker, &launch);
        let body = serde_json::to_vec(&job).map_err(|e| SandboxError::Spawn(e.into()))?;
        let s = &self.inner.settings;
        let outcome = worker.run(&body, s.timeout, s.output_limit).await;
        Ok(interpret(&run.function, s.timeout, outcome))
    }
}

/// Runs a trivial job in a worker, to learn whether a launch configuration works.
async fn probe(launch: &Launch) -> Result<(), String> {
    let worker = process::spawn_worker(launch).map_err(|e| e.to_string())?;
    let cwd = worker.cwd.clone();
    let mut env: Map<String, Value> = launch
        .env
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    env.insert("HOME".into(), Value::String(cwd.clone()));
    // Imports from several corners of the standard library: an interpreter whose files the
    // unprivileged user cannot read fails here.
    let job = json!({
        "mode": "run_code",
        "source": "import json, decimal, asyncio, email.parser, ssl\nopen('probe', 'w').write('x')\n6 * 7",
        "function": "probe",
        "env": env,
        "cwd": cwd,
        "drop_to": worker.run_as.map(|(u, g)| json!([u, g])),
        "limits": {},
    });
    let body = serde_json::to_vec(&job).map_err(|e| e.to_string())?;
    let out = worker.run(&body, Duration::from_secs(30), 1 << 16).await;
    let ok = out
        .result
        .as_ref()
        .and_then(|r| r.get("func_return"))
        .and_then(Value::as_str)
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .is_some_and(|doc| doc.get("results") == Some(&json!(["42"])));
    if ok {
        Ok(())
    } else {
        let doc = out
            .result
            .and_then(|r| r.get("func_return").cloned())
            .map(|v| v.to_string())
            .or(out.result_error)
            .unwrap_or_default();
        Err(format!(
            "probe failed ({:?}): {} {}",
            out.status,
            doc,
            String::from_utf8_lossy(&out.stderr.bytes).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_text_is_capped_at_500_chars() {
        let long = "é".repeat(1000);
        let t = error_text("f", "ValueError", &long);
        assert_eq!(t.chars().count(), 500);
        assert!(t.starts_with("Error executing function f: ValueError: é"));
    }

    #[test]
    fn truncation_both_stages() {
        let text = "a".repeat(12);
        let out = truncate_tool_return(&text, 10, "my_tool");
        let stage1 = format!(
            "{text}... [NOTE: function output was truncated since it exceeded the character limit: 12 > 10]"
        );
        let n = stage1.chars().count();
        assert_eq!(
            out,
            format!(
                "aaaaaaaaaa... [NOTE: function output was truncated since it exceeded the character limit ({n} > 10)]"
            )
        );
        // Search tools keep everything, with the first note only.
        assert_eq!(
            truncate_tool_return(&text, 10, "archival_memory_search"),
            stage1
        );
        // Within the limit nothing changes.
        assert_eq!(truncate_tool_return("short", 10, "x"), "short");
        // Characters, not bytes.
        assert_eq!(
            truncate_tool_return(&"ü".repeat(10), 10, "x"),
            "ü".repeat(10)
        );
    }

    #[test]
    fn captured_output_notes_what_was_dropped() {
        let c = process::Captured {
            bytes: b"abc".to_vec(),
            dropped: 5,
        };
        assert_eq!(
            c.into_lines(),
            vec!["abc\n[... output truncated: 5 more bytes not captured]".to_string()]
        );
        assert!(process::Captured::default().into_lines().is_empty());
    }

    #[test]
    fn ro_paths_skip_system_dirs() {
        let p = extra_ro_paths(&[PathBuf::from("/usr"), PathBuf::from("/opt/py")]);
        assert_eq!(p, vec![PathBuf::from("/opt/py")]);
    }
}
