//! One virtual environment per requirement set, created once and reused.
//!
//! The cache key is a hash of the base interpreter and the sorted, de-duplicated
//! requirement strings. A venv is built in a temporary directory next to its final place
//! and renamed into place only once `pip` succeeded, with a marker file written last, so a
//! crash never leaves a half-installed environment that looks usable; concurrent first
//! calls for the same set wait on one per-key lock instead of racing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::process::Command;

use super::{PipRequirement, SandboxError};

const MARKER: &str = ".letta-venv-complete";
const TAIL_CHARS: usize = 2000;

pub(crate) struct VenvCache {
    root: PathBuf,
    base_python: PathBuf,
    pip_args: Vec<String>,
    timeout: Duration,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The requirement strings pip gets: `name==version` or `name`, sorted, without repeats.
pub(crate) fn requirement_specs(reqs: &[PipRequirement]) -> Vec<String> {
    let mut specs: Vec<String> = reqs
        .iter()
        .map(|r| match r.version.as_deref().filter(|v| !v.is_empty()) {
            Some(v) => format!("{}=={}", r.name.trim(), v.trim()),
            None => r.name.trim().to_string(),
        })
        .collect();
    specs.sort();
    specs.dedup();
    specs
}

/// FNV-1a, 64 bits, twice with different offsets: stable across builds and platforms
/// (unlike std's hasher), and collisions between requirement sets are not a threat model.
fn stable_hash(text: &str) -> String {
    let mut out = String::new();
    for offset in [0xcbf2_9ce4_8422_2325u64, 0x8422_2325_cbf2_9ce4u64] {
        let mut h = offset;
        for b in text.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out
}

fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_end();
    let count = text.chars().count();
    if count <= TAIL_CHARS {
        return text.to_string();
    }
    text.chars().skip(count - TAIL_CHARS).collect()
}

impl VenvCache {
    pub fn new(
        root: PathBuf,
        base_python: PathBuf,
        pip_args: Vec<String>,
        timeout: Duration,
    ) -> Self {
        VenvCache {
            root,
            base_python,
            pip_args,
            timeout,
            locks: Mutex::new(HashMap::new()),
        }
    }

    /// The venv directory for `specs` (see [`requirement_specs`]), creating it if needed.
    pub async fn ensure(
        &self,
        specs: &[String],
        force_recreate: bool,
    ) -> Result<PathBuf, SandboxError> {
        let key = stable_hash(&format!(
            "{}\n{}",
            self.base_python.display(),
            specs.join("\n")
        ));
        let dir = self.root.join(&key);
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(locks.entry(key.clone()).or_default())
        };
        let _guard = lock.lock().await;
        if self.root.exists() {
            // Before trusting anything in it (a default under /tmp could be planted).
            check_owned(&self.root)?;
        }
        if force_recreate && dir.exists() {
            let old = self
                .root
                .join(format!(".old-{key}-{}", uuid::Uuid::new_v4().simple()));
            tokio::fs::rename(&dir, &old)
                .await
                .map_err(|e| SandboxError::Venv {
                    step: "remove the old venv",
                    detail: e.to_string(),
                })?;
            let _ = tokio::fs::remove_dir_all(&old).await;
        }
        if dir.join(MARKER).exists() {
            return Ok(dir);
        }
        // 0755 at most whatever the umask: tools (possibly another uid) read it, only we write.
        tokio::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&self.root)
            .await
            .map_err(|e| SandboxError::Venv {
                step: "create the venv cache directory",
                detail: format!("{}: {e}", self.root.display()),
            })?;
        check_owned(&self.root)?;
        let tmp = self
            .root
            .join(format!(".tmp-{key}-{}", uuid::Uuid::new_v4().simple()));
        let built = self.build(&tmp, &dir, specs).await;
        if let Err(e) = built {
            let _ = tokio::fs::remove_dir_all(&tmp).await;
            return Err(e);
        }
        if dir.exists() {
            // Left by a crash before its marker was written: not usable.
            let _ = tokio::fs::remove_dir_all(&dir).await;
        }
        tokio::fs::rename(&tmp, &dir)
            .await
            .map_err(|e| SandboxError::Venv {
                step: "move the venv into place",
                detail: e.to_string(),
            })?;
        Ok(dir)
    }

    async fn build(
        &self,
        tmp: &Path,
        final_dir: &Path,
        specs: &[String],
    ) -> Result<(), SandboxError> {
        self.run(
            "python -m venv",
            Command::new(&self.base_python)
                .arg("-m")
                .arg("venv")
                .arg(tmp),
        )
        .await?;
        if !specs.is_empty() {
            let mut cmd = Command::new(tmp.join("bin").join("python"));
            cmd.args([
                "-m",
                "pip",
                "install",
                "--upgrade",
                "--no-input",
                "--disable-pip-version-check",
            ]);
            cmd.args(&self.pip_args);
            cmd.args(specs);
            self.run("pip install", &mut cmd).await?;
        }
        let tmp_s = tmp.to_string_lossy().into_owned();
        let final_s = final_dir.to_string_lossy().into_owned();
        let bin = tmp.join("bin");
        tokio::task::spawn_blocking(move || relocate_scripts(&bin, &tmp_s, &final_s))
            .await
            .map_err(|e| SandboxError::Venv {
                step: "relocate the venv",
                detail: e.to_string(),
            })?;
        tokio::fs::write(tmp.join(MARKER), specs.join("\n"))
            .await
            .map_err(|e| SandboxError::Venv {
                step: "mark the venv complete",
                detail: e.to_string(),
            })
    }

    async fn run(&self, step: &'static str, cmd: &mut Command) -> Result<(), SandboxError> {
        // pip gets a clean environment too: only the proxy and pip settings it may need.
        cmd.env_clear();
        cmd.env("PATH", "/usr/local/bin:/usr/bin:/bin");
        cmd.env("HOME", std::env::temp_dir());
        cmd.env("PIP_DISABLE_PIP_VERSION_CHECK", "1");
        cmd.env("PYTHONDONTWRITEBYTECODE", "1");
        for (k, v) in std::env::vars() {
            let upper = k.to_ascii_uppercase();
            if upper.starts_with("PIP_") || upper.ends_with("_PROXY") || upper == "SSL_CERT_FILE" {
                cmd.env(k, v);
            }
        }
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let out = match tokio::time::timeout(self.timeout, cmd.output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => {
                return Err(SandboxError::Venv {
                    step,
                    detail: e.to_string(),
                });
            }
            Err(_) => {
                return Err(SandboxError::Venv {
                    step,
                    detail: format!("timed out after {} seconds", self.timeout.as_secs()),
                });
            }
        };
        if out.status.success() {
            return Ok(());
        }
        let mut detail = tail(&out.stderr);
        if detail.is_empty() {
            detail = tail(&out.stdout);
        }
        Err(SandboxError::Venv {
            step,
            detail: format!("{} ({})", detail, out.status),
        })
    }
}

/// The cache holds interpreters tools run with: it must be a real directory of ours that
/// nobody else can write, or another local user could plant a venv.
fn check_owned(root: &Path) -> Result<(), SandboxError> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(root).map_err(|e| SandboxError::Venv {
        step: "inspect the venv cache directory",
        detail: format!("{}: {e}", root.display()),
    })?;
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    if !meta.is_dir() || meta.uid() != me || meta.mode() & 0o022 != 0 {
        return Err(SandboxError::Venv {
            step: "trust the venv cache directory",
            detail: format!(
                "{} must be a directory owned by uid {me} and writable only by it",
                root.display()
            ),
        });
    }
    Ok(())
}

/// Console scripts and activation files carry the directory the venv was built in; point
/// them at its final place.
fn relocate_scripts(bin: &Path, from: &str, to: &str) {
    let Ok(entries) = std::fs::read_dir(bin) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_file() || meta.len() > 1 << 20 {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if text.contains(from) {
            let _ = std::fs::write(&path, text.replace(from, to));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_sorted_and_unique() {
        let reqs = vec![
            PipRequirement {
                name: "b".into(),
                version: None,
            },
            PipRequirement {
                name: "a".into(),
                version: Some("1.0".into()),
            },
            PipRequirement {
                name: "b".into(),
                version: Some(String::new()),
            },
        ];
        assert_eq!(requirement_specs(&reqs), vec!["a==1.0", "b"]);
    }

    #[test]
    fn a_cache_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(check_owned(dir.path()).is_ok());
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        let err = check_owned(dir.path()).expect_err("world-writable");
        assert!(err.to_string().contains("writable only by it"), "{err}");
    }

    #[test]
    fn hash_is_stable() {
        assert_eq!(stable_hash("x"), stable_hash("x"));
        assert_ne!(stable_hash("x"), stable_hash("y"));
        assert_eq!(stable_hash("").len(), 32);
    }
}
