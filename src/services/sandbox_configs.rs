//! Sandbox configurations: one per type (`local`, `e2b`) and organization, and the
//! environment variables handed to the tools run in them. Creating a config of a type the
//! organization already has replaces that config's settings, as the original does.
//!
//! Variable values are secrets: they are returned to the API client (as the original returns
//! them) but never logged here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::{ServiceError, ServiceResult};
use crate::config::Config;
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::schemas::sandbox::{
    ConfigError, LocalSandboxConfig, SandboxConfig, SandboxConfigInput, SandboxConfigUpdate,
    SandboxEnvironmentVariable, SandboxEnvironmentVariableCreate, SandboxEnvironmentVariableUpdate,
    SandboxType, TypedSandboxConfig,
};
use crate::store::DynStore;
use crate::store::StoreError;

/// Longest a `python3 -m venv` may take.
const VENV_CREATE_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest a `pip install` may take (downloads and builds included).
const PIP_INSTALL_TIMEOUT: Duration = Duration::from_secs(900);
/// How much of a failed command's stderr the error carries.
const STDERR_TAIL_CHARS: usize = 2000;

/// The server environment a venv or pip child keeps: what finding Python, reaching a
/// package index (proxies, certificates, index settings) and writing caches needs. Provider
/// keys and other secrets of the server are not handed to pip (the original copies the
/// whole environment).
const CHILD_ENV_KEEP: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "PYENV_ROOT",
    "PYENV_VERSION",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST",
    "PIP_CERT",
    "PIP_CONFIG_FILE",
    "PIP_CACHE_DIR",
    "PIP_FIND_LINKS",
    "PIP_NO_INDEX",
];

/// One venv rebuild at a time in this process: two at once on the same directory would
/// delete each other's half-made venv.
static VENV_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Why `force_recreate_local_sandbox_venv` failed.
#[derive(Debug, thiserror::Error)]
pub enum VenvError {
    /// A rule refused the request, or the database failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// Creating the venv or installing into it failed; the message says which step and
    /// carries the tail of the command's stderr. A 500 with that message, as the original.
    #[error("{0}")]
    Failed(String),
}

impl From<StoreError> for VenvError {
    fn from(err: StoreError) -> Self {
        VenvError::Service(err.into())
    }
}

pub struct SandboxConfigService<'a> {
    store: &'a DynStore,
    /// For the data directory, home of the default local sandbox.
    config: &'a Config,
}

impl<'a> SandboxConfigService<'a> {
    pub fn new(store: &'a DynStore, config: &'a Config) -> Self {
        SandboxConfigService { store, config }
    }

    /// The directory of the default local config: `<data_dir>/tool_execution_dir` (the
    /// original's `~/.letta/tool_execution_dir`).
    pub fn default_sandbox_dir(&self) -> PathBuf {
        self.config.data_dir().join("tool_execution_dir")
    }

    /// The organization's configs, oldest first; 404 when `after` names none of them.
    pub async fn list(
        &self,
        actor: &Actor,
        kind: Option<SandboxType>,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> ServiceResult<Vec<SandboxConfig>> {
        let org = &actor.organization_id;
        if let Some(after) = after
            && self.store.get_sandbox_config(org, after).await?.is_none()
        {
            return Err(ServiceError::NotFound(format!(
                "No SandboxConfig found with id {after}"
            )));
        }
        Ok(self
            .store
            .list_sandbox_configs(org, kind, after, limit)
            .await?)
    }

    /// The organization's config, or 404.
    pub async fn get(&self, actor: &Actor, id: &str) -> ServiceResult<SandboxConfig> {
        self.store
            .get_sandbox_config(&actor.organization_id, id)
            .await?
            .ok_or_else(|| config_not_found(id))
    }

    /// Creates the config of the type the shape of `config` says, or replaces the settings
    /// of the organization's config of that type.
    pub async fn create_or_update(
        &self,
        actor: &Actor,
        config: &SandboxConfigInput,
    ) -> ServiceResult<SandboxConfig> {
        let typed = config
            .resolve(SandboxType::Local)
            .map_err(|e| config_error(&["body", "config"], e))?;
        self.upsert(actor, typed).await
    }

    /// `POST /local`: the body is a local config.
    pub async fn create_or_update_local(
        &self,
        actor: &Actor,
        config: LocalSandboxConfig,
    ) -> ServiceResult<SandboxConfig> {
        let typed = TypedSandboxConfig::Local(config);
        typed.validate().map_err(|mut e| {
            // The body is the config itself: no `config`/type level in the location.
            e.path.remove(0);
            config_error(&["body"], e)
        })?;
        self.upsert(actor, typed).await
    }

    async fn upsert(
        &self,
        actor: &Actor,
        typed: TypedSandboxConfig,
    ) -> ServiceResult<SandboxConfig> {
        let row = self.new_row(actor, self.with_defaults(typed));
        Ok(self.store.upsert_sandbox_config(&row).await?)
    }

    /// The organization's config of this type, created with the defaults when it has none.
    pub async fn get_or_create_default(
        &self,
        actor: &Actor,
        kind: SandboxType,
    ) -> ServiceResult<SandboxConfig> {
        if let Some(found) = self
            .store
            .get_sandbox_config_by_type(&actor.organization_id, kind)
            .await?
        {
            return Ok(found);
        }
        let typed = match kind {
            SandboxType::Local => TypedSandboxConfig::Local(LocalSandboxConfig::default()),
            SandboxType::E2b => TypedSandboxConfig::E2b(Default::default()),
        };
        let row = self.new_row(actor, self.with_defaults(typed));
        Ok(self.store.get_or_create_sandbox_config(&row).await?)
    }

    /// Replaces the settings of a config with `config` (which must be of the config's
    /// type); no `config` changes nothing.
    pub async fn update(
        &self,
        actor: &Actor,
        id: &str,
        update: &SandboxConfigUpdate,
    ) -> ServiceResult<SandboxConfig> {
        let current = self.get(actor, id).await?;
        let Some(config) = &update.config else {
            return Ok(current);
        };
        // A shape that fits either type is read as the config's own type.
        let typed = config
            .resolve(current.kind)
            .map_err(|e| config_error(&["body", "config"], e))?;
        if typed.kind() != current.kind {
            return Err(ServiceError::BadRequest(format!(
                "Mismatched type for sandbox config update: tried to update sandbox_config of \
                 type {} with config of type {}",
                current.kind.as_str(),
                typed.kind().as_str()
            )));
        }
        let stored = self.with_defaults(typed).to_stored();
        self.store
            .update_sandbox_config(
                &actor.organization_id,
                id,
                current.kind,
                &stored,
                Some(&actor.user_id),
            )
            .await?
            .ok_or_else(|| config_not_found(id))
    }

    /// Deletes a config and its environment variables.
    pub async fn delete(&self, actor: &Actor, id: &str) -> ServiceResult<()> {
        if !self
            .store
            .delete_sandbox_config(&actor.organization_id, id)
            .await?
        {
            return Err(config_not_found(id));
        }
        Ok(())
    }

    /// A local config without a directory gets the default one, as the original's
    /// validator gives it.
    fn with_defaults(&self, typed: TypedSandboxConfig) -> TypedSandboxConfig {
        match typed {
            TypedSandboxConfig::Local(mut c) => {
                if c.sandbox_dir.is_none() {
                    c.sandbox_dir = Some(self.default_sandbox_dir().to_string_lossy().into_owned());
                }
                TypedSandboxConfig::Local(c)
            }
            other => other,
        }
    }

    fn new_row(&self, actor: &Actor, typed: TypedSandboxConfig) -> SandboxConfig {
        SandboxConfig {
            created_by_id: Some(actor.user_id.clone()),
            last_updated_by_id: Some(actor.user_id.clone()),
            created_at: None,
            updated_at: None,
            id: new_id("sandbox"),
            kind: typed.kind(),
            organization_id: Some(actor.organization_id.clone()),
            config: typed.to_stored(),
        }
    }

    // -----------------------------------------------------------------------------------
    // The local venv

    /// Deletes and recreates the venv `<sandbox_dir>/<venv_name>` of the organization's
    /// local config (created with the defaults if missing, as the original does), then
    /// installs `<sandbox_dir>/requirements.txt` when present and the config's
    /// `pip_requirements`. The child processes run on tokio's process driver, never blocking
    /// a runtime thread.
    pub async fn recreate_local_venv(&self, actor: &Actor) -> Result<SandboxConfig, VenvError> {
        let config = self
            .get_or_create_default(actor, SandboxType::Local)
            .await?;
        let local = config.local_config().map_err(|e| {
            ServiceError::Internal(format!("stored local sandbox config {}: {e}", config.id))
        })?;
        if !local.use_venv {
            return Err(ServiceError::BadRequest(format!(
                "The local sandbox config {} does not use a venv (use_venv is false); set \
                 use_venv to true to have one created",
                config.id
            ))
            .into());
        }
        let default_dir = self.default_sandbox_dir();
        let sandbox_dir = match local.sandbox_dir.as_deref() {
            Some(dir) => expand_home(dir),
            None => default_dir.clone(),
        };
        if !sandbox_dir.is_absolute() {
            return Err(ServiceError::BadRequest(format!(
                "sandbox_dir {} is not an absolute path",
                sandbox_dir.display()
            ))
            .into());
        }
        // The server owns its default directory and makes it; any other must exist.
        if sandbox_dir == default_dir {
            tokio::fs::create_dir_all(&sandbox_dir).await.map_err(|e| {
                VenvError::Failed(format!(
                    "Failed to create the sandbox directory {}: {e}",
                    sandbox_dir.display()
                ))
            })?;
        }
        if !tokio::fs::metadata(&sandbox_dir)
            .await
            .is_ok_and(|m| m.is_dir())
        {
            return Err(ServiceError::BadRequest(format!(
                "sandbox_dir {} does not exist or is not a directory",
                sandbox_dir.display()
            ))
            .into());
        }
        let venv = sandbox_dir.join(&local.venv_name);

        let _guard = VENV_LOCK.lock().await;
        remove_old_venv(&venv).await?;
        run_child(
            Path::new("python3"),
            &["-m".into(), "venv".into(), venv.clone().into_os_string()],
            &sandbox_dir,
            VENV_CREATE_TIMEOUT,
        )
        .await
        .map_err(|e| VenvError::Failed(format!("Failed to recreate venv: {e}")))?;
        tracing::info!(venv = %venv.display(), "recreated the local sandbox venv");

        let python = venv.join("bin").join("python");
        let requirements_txt = sandbox_dir.join("requirements.txt");
        if tokio::fs::metadata(&requirements_txt)
            .await
            .is_ok_and(|m| m.is_file())
        {
            let args = pip_install_args(&["-r".into(), requirements_txt.into_os_string()]);
            run_child(&python, &args, &sandbox_dir, PIP_INSTALL_TIMEOUT)
                .await
                .map_err(|e| {
                    VenvError::Failed(format!(
                        "Failed to install packages from requirements.txt: {e}"
                    ))
                })?;
        }
        if !local.pip_requirements.is_empty() {
            let packages: Vec<String> = local
                .pip_requirements
                .iter()
                .map(|r| match &r.version {
                    Some(v) => format!("{}=={v}", r.name),
                    None => r.name.clone(),
                })
                .collect();
            let mut args = vec!["--upgrade".into()];
            args.extend(packages.iter().map(Into::into));
            run_child(
                &python,
                &pip_install_args(&args),
                &sandbox_dir,
                PIP_INSTALL_TIMEOUT,
            )
            .await
            .map_err(|e| {
                VenvError::Failed(format!(
                    "Failed to install pip requirements ({}): {e}",
                    packages.join(", ")
                ))
            })?;
            tracing::info!(venv = %venv.display(), count = packages.len(), "installed the sandbox pip requirements");
        }
        Ok(config)
    }

    // -----------------------------------------------------------------------------------
    // Environment variables

    /// Sets a variable of the organization's config: a new one, or a new value (and
    /// description, when given) for the one with this key.
    pub async fn create_env_var(
        &self,
        actor: &Actor,
        config_id: &str,
        req: SandboxEnvironmentVariableCreate,
    ) -> ServiceResult<SandboxEnvironmentVariable> {
        check_key(&req.key, &["body", "key"])?;
        check_value(&req.value, &["body", "value"])?;
        self.get(actor, config_id).await?;
        let var = SandboxEnvironmentVariable {
            created_by_id: Some(actor.user_id.clone()),
            last_updated_by_id: Some(actor.user_id.clone()),
            created_at: None,
            updated_at: None,
            id: new_id("sandbox-env"),
            key: req.key,
            value: req.value,
            description: req.description,
            organization_id: Some(actor.organization_id.clone()),
            sandbox_config_id: config_id.to_owned(),
        };
        self.store
            .upsert_sandbox_env_var(&var)
            .await?
            .ok_or_else(|| config_not_found(config_id))
    }

    /// The variables of the organization's config, oldest first; 404 for an unknown config
    /// or an `after` that is not one of its variables.
    pub async fn list_env_vars(
        &self,
        actor: &Actor,
        config_id: &str,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> ServiceResult<Vec<SandboxEnvironmentVariable>> {
        let org = &actor.organization_id;
        self.get(actor, config_id).await?;
        if let Some(after) = after {
            let known = self.store.get_sandbox_env_var(org, after).await?;
            if known.is_none_or(|v| v.sandbox_config_id != config_id) {
                return Err(ServiceError::NotFound(format!(
                    "No SandboxEnvironmentVariable found with id {after}"
                )));
            }
        }
        Ok(self
            .store
            .list_sandbox_env_vars(org, config_id, after, limit)
            .await?)
    }

    /// Changes the fields given; 409 when the new key is taken in the config.
    pub async fn update_env_var(
        &self,
        actor: &Actor,
        id: &str,
        req: SandboxEnvironmentVariableUpdate,
    ) -> ServiceResult<SandboxEnvironmentVariable> {
        if let Some(key) = &req.key {
            check_key(key, &["body", "key"])?;
        }
        if let Some(value) = &req.value {
            check_value(value, &["body", "value"])?;
        }
        let org = &actor.organization_id;
        let mut var = self
            .store
            .get_sandbox_env_var(org, id)
            .await?
            .ok_or_else(|| env_var_not_found(id))?;
        if let Some(key) = req.key {
            var.key = key;
        }
        if let Some(value) = req.value {
            var.value = value;
        }
        if let Some(description) = req.description {
            var.description = Some(description);
        }
        var.last_updated_by_id = Some(actor.user_id.clone());
        let written = self
            .store
            .update_sandbox_env_var(&var)
            .await
            .map_err(|err| match err {
                StoreError::Unique(_) => ServiceError::Conflict(format!(
                    "A sandbox environment variable with key '{}' already exists in sandbox \
                     config {}",
                    var.key, var.sandbox_config_id
                )),
                other => other.into(),
            })?;
        if !written {
            return Err(env_var_not_found(id));
        }
        self.store
            .get_sandbox_env_var(org, id)
            .await?
            .ok_or_else(|| env_var_not_found(id))
    }

    pub async fn delete_env_var(&self, actor: &Actor, id: &str) -> ServiceResult<()> {
        if !self
            .store
            .delete_sandbox_env_var(&actor.organization_id, id)
            .await?
        {
            return Err(env_var_not_found(id));
        }
        Ok(())
    }
}

fn config_not_found(id: &str) -> ServiceError {
    ServiceError::NotFound(format!("SandboxConfig not found with id='{id}'"))
}

fn env_var_not_found(id: &str) -> ServiceError {
    ServiceError::NotFound(format!(
        "SandboxEnvironmentVariable not found with id='{id}'"
    ))
}

/// A config that could not be read, as a 422 located under `root`.
fn config_error(root: &[&str], err: ConfigError) -> ServiceError {
    let mut loc: Vec<Value> = root.iter().map(|s| json!(s)).collect();
    loc.extend(err.path);
    ServiceError::Validation {
        loc,
        msg: err.msg,
        input: err.input,
    }
}

/// A variable name must be usable in a process environment: not empty, no `=` or NUL.
fn check_key(key: &str, loc: &[&str]) -> ServiceResult<()> {
    if key.is_empty() || key.contains(['=', '\0']) {
        return Err(ServiceError::value_error(
            loc,
            "an environment variable name must be non-empty and contain no '=' or NUL character",
            json!(key),
        ));
    }
    Ok(())
}

/// A value must be usable in a process environment: no NUL. The value is not echoed back
/// in the error (it is a secret).
fn check_value(value: &str, loc: &[&str]) -> ServiceResult<()> {
    if value.contains('\0') {
        return Err(ServiceError::value_error(
            loc,
            "an environment variable value cannot contain a NUL character",
            Value::Null,
        ));
    }
    Ok(())
}

/// `~` and `~/…` against `$HOME`, as the original's `os.path.expanduser`.
fn expand_home(dir: &str) -> PathBuf {
    let home = || std::env::var_os("HOME").map(PathBuf::from);
    if dir == "~" {
        return home().unwrap_or_else(|| PathBuf::from(dir));
    }
    if let Some(rest) = dir.strip_prefix("~/")
        && let Some(home) = home()
    {
        return home.join(rest);
    }
    PathBuf::from(dir)
}

/// Removes the old venv. A path that exists but is not a venv (no `pyvenv.cfg`, or a
/// symlink) is refused rather than deleted: the original deletes whatever is there.
async fn remove_old_venv(venv: &Path) -> Result<(), VenvError> {
    let meta = match tokio::fs::symlink_metadata(venv).await {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(VenvError::Failed(format!(
                "Failed to delete existing venv: {}: {e}",
                venv.display()
            )));
        }
    };
    let is_venv = meta.is_dir()
        && tokio::fs::metadata(venv.join("pyvenv.cfg"))
            .await
            .is_ok_and(|m| m.is_file());
    if !is_venv {
        return Err(ServiceError::Conflict(format!(
            "{} exists but is not a virtual environment (no pyvenv.cfg); refusing to delete it",
            venv.display()
        ))
        .into());
    }
    tokio::fs::remove_dir_all(venv).await.map_err(|e| {
        VenvError::Failed(format!(
            "Failed to delete existing venv: {}: {e}",
            venv.display()
        ))
    })?;
    tracing::info!(venv = %venv.display(), "deleted the old local sandbox venv");
    Ok(())
}

fn pip_install_args(rest: &[std::ffi::OsString]) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec![
        "-m".into(),
        "pip".into(),
        "install".into(),
        "--disable-pip-version-check".into(),
        "--no-input".into(),
    ];
    args.extend(rest.iter().cloned());
    args
}

/// Runs a child to completion with a kept-down environment, no stdin, and a deadline (the
/// child is killed when it passes or when the request is dropped). An error names the
/// program and carries the tail of its stderr.
async fn run_child(
    program: &Path,
    args: &[std::ffi::OsString],
    cwd: &Path,
    timeout: Duration,
) -> Result<(), String> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for key in CHILD_ENV_KEEP {
        if let Some(value) = std::env::var_os(key) {
            cmd.env(key, value);
        }
    }
    cmd.env("PYTHONUNBUFFERED", "1");
    let what = command_name(program, args);
    let child = cmd
        .spawn()
        .map_err(|e| format!("could not start `{what}`: {e}"))?;
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(result) => result.map_err(|e| format!("`{what}` failed: {e}"))?,
        Err(_) => {
            return Err(format!(
                "`{what}` did not finish within {} s and was stopped",
                timeout.as_secs()
            ));
        }
    };
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stderr = if stderr.trim().is_empty() {
        String::from_utf8_lossy(&output.stdout)
    } else {
        stderr
    };
    Err(format!(
        "`{what}` exited with {}: {}",
        output.status,
        tail(stderr.trim(), STDERR_TAIL_CHARS)
    ))
}

/// `python -m pip install` or `python3 -m venv`, for messages (the arguments after the
/// module are left out: they are long paths and package lists said elsewhere).
fn command_name(program: &Path, args: &[std::ffi::OsString]) -> String {
    let program = program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let words: Vec<String> = args
        .iter()
        .take(3)
        .map(|a| a.to_string_lossy().into_owned())
        .filter(|a| !a.contains('/'))
        .collect();
    format!("{program} {}", words.join(" "))
}

/// The last `max` characters of `text`, on a character boundary.
fn tail(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let skipped: String = text.chars().skip(count - max).collect();
    format!("…{skipped}")
}
