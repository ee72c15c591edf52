//! Worker processes: spawning one (directly or through bubblewrap), handing it a job,
//! enforcing the wall-clock limit, capturing bounded output and reading the result from its
//! private descriptor; and the warm pool of pre-started single-use workers.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

/// The worker script, run with `python -c`, so nothing of it lives on disk.
pub(crate) const WORKER_PY: &str = include_str!("python/worker.py");

/// Where the private working directory appears inside a bubblewrap sandbox.
const SANDBOX_CWD: &str = "/sandbox";

/// The most a result document may take on the result descriptor.
const MAX_RESULT_BYTES: usize = 64 << 20;

/// How long output readers may linger after the worker's process group is gone: only a
/// process that left the group (setsid) can still hold a pipe open, and it is not waited for.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// The byte a worker writes on its result channel once it waits for its job.
const READY: u8 = b'R';

/// Interpreters (base, venvs) that get warm workers.
const MAX_WARM_KEYS: usize = 8;

/// How long a pre-started worker may take to become ready before it is discarded.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How a worker is launched; one per interpreter (base or venv).
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    /// The interpreter, resolved to a real file (not a shim).
    pub python: PathBuf,
    /// Directories the interpreter needs read-only inside bubblewrap (its prefix, a venv).
    pub ro_paths: Vec<PathBuf>,
    /// The environment the process starts with (the only variables it ever sees, plus
    /// what each job adds).
    pub env: Vec<(String, String)>,
    /// `Some` to run inside bubblewrap.
    pub bwrap: Option<BwrapLaunch>,
    /// Parent of the per-worker private working directories.
    pub scratch_root: PathBuf,
    /// The user the worker switches to before running user code, if any.
    pub run_as: Option<RunAs>,
}

/// Which unprivileged user a worker becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunAs {
    /// Always this `(uid, gid)` (inside bubblewrap, where PID namespaces already keep
    /// concurrent calls from seeing or signalling each other).
    Fixed(u32, u32),
    /// A uid of its own per worker, from `base .. base + span`: outside bubblewrap, calls
    /// running as one shared user could signal, ptrace or read `/proc` of each other.
    PerWorker { base: u32, span: u32, gid: u32 },
}

static NEXT_UID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl RunAs {
    fn pick(self) -> (u32, u32) {
        match self {
            RunAs::Fixed(u, g) => (u, g),
            RunAs::PerWorker { base, span, gid } => {
                let n = NEXT_UID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                (base + n % span.max(1), gid)
            }
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct BwrapLaunch {
    pub program: PathBuf,
    pub allow_network: bool,
    /// Running as root: no user namespace (the worker drops to an unprivileged user
    /// itself); otherwise an unprivileged user namespace.
    pub as_root: bool,
    /// Keep the capabilities to switch user (as root, so the worker can become `nobody`;
    /// the switch clears them).
    pub setid_caps: bool,
}

/// A started worker, blocked reading its job.
pub(crate) struct Worker {
    child: Child,
    pgid: Option<i32>,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    result: Option<tokio::net::unix::pipe::Receiver>,
    workdir: PathBuf,
    /// The working directory as the worker sees it.
    pub cwd: String,
    /// The `(uid, gid)` the worker runs user code as, when it switches.
    pub run_as: Option<(u32, u32)>,
    /// That uid belongs to this worker alone: every process it owns is this call's.
    own_uid: bool,
}

/// What came back from one run.
#[derive(Debug)]
pub(crate) struct RawOutcome {
    pub result: Option<Value>,
    pub result_error: Option<String>,
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    pub stdout: Captured,
    pub stderr: Captured,
}

#[derive(Debug, Default)]
pub(crate) struct Captured {
    pub bytes: Vec<u8>,
    pub dropped: u64,
}

impl Captured {
    /// The text as the original reports it: one string, or nothing when empty.
    pub fn into_lines(self) -> Vec<String> {
        if self.bytes.is_empty() && self.dropped == 0 {
            return Vec::new();
        }
        let mut text = String::from_utf8_lossy(&self.bytes).into_owned();
        if self.dropped > 0 {
            text.push_str(&format!(
                "\n[... output truncated: {} more bytes not captured]",
                self.dropped
            ));
        }
        vec![text]
    }
}

fn make_workdir(launch: &Launch, run_as: Option<(u32, u32)>) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = launch
        .scratch_root
        .join(format!("letta-tool-{}", uuid::Uuid::new_v4().simple()));
    // 0700 and must not exist yet: nobody else can plant or read anything in it.
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    if let Some((uid, gid)) = run_as {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?;
    }
    Ok(dir)
}

fn result_pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two descriptors into the array we own; on success we take
    // ownership of both exactly once.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Starts one worker. Synchronous (fork/exec is quick). Call it on a runtime thread, never
/// from `spawn_blocking`: bubblewrap's `--die-with-parent` (PR_SET_PDEATHSIG) fires when the
/// *thread* that forked it exits, and the blocking pool retires idle threads after seconds.
pub(crate) fn spawn_worker(launch: &Launch) -> std::io::Result<Worker> {
    let run_as = launch.run_as.map(RunAs::pick);
    let own_uid = matches!(launch.run_as, Some(RunAs::PerWorker { .. }));
    let workdir = make_workdir(launch, run_as)?;
    match spawn_in(launch, &workdir, run_as, own_uid) {
        Ok(w) => Ok(w),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&workdir);
            Err(e)
        }
    }
}

fn spawn_in(
    launch: &Launch,
    workdir: &Path,
    run_as: Option<(u32, u32)>,
    own_uid: bool,
) -> std::io::Result<Worker> {
    let (read_end, write_end) = result_pipe()?;
    let (mut cmd, cwd) = match &launch.bwrap {
        None => {
            let mut cmd = Command::new(&launch.python);
            cmd.current_dir(workdir);
            (cmd, workdir.to_string_lossy().into_owned())
        }
        Some(b) => {
            let mut cmd = Command::new(&b.program);
            cmd.args(bwrap_args(b, launch, workdir));
            cmd.arg("--").arg(&launch.python);
            (cmd, SANDBOX_CWD.to_string())
        }
    };
    cmd.arg("-c").arg(WORKER_PY);
    cmd.env_clear();
    cmd.envs(launch.env.iter().map(|(k, v)| (k, v)));
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group, so a timeout or clean-up kills everything it started.
        .process_group(0);
    let wfd = write_end.as_raw_fd();
    // SAFETY: the closure runs in the forked child before exec and only calls
    // async-signal-safe functions (dup2, fcntl) on descriptors it inherited.
    unsafe {
        cmd.pre_exec(move || {
            if wfd == 3 {
                // dup2 onto itself would keep close-on-exec set: clear it instead.
                if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(wfd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    drop(write_end);
    let result = tokio::net::unix::pipe::Receiver::from_owned_fd(read_end)?;
    let pgid = child.id().and_then(|id| i32::try_from(id).ok());
    Ok(Worker {
        stdin: child.stdin.take(),
        stdout: child.stdout.take(),
        stderr: child.stderr.take(),
        child,
        pgid,
        result: Some(result),
        workdir: workdir.to_path_buf(),
        cwd,
        run_as,
        own_uid,
    })
}

fn bwrap_args(b: &BwrapLaunch, launch: &Launch, workdir: &Path) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |items: &[&str]| a.extend(items.iter().map(OsString::from));
    if b.as_root {
        // No user namespace: the worker switches to an unprivileged user itself, which
        // needs real ids; namespaces that need no user namespace as root.
        push(&[
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-uts",
            "--unshare-cgroup-try",
        ]);
        if !b.allow_network {
            push(&["--unshare-net"]);
        }
    } else {
        push(&["--unshare-all"]);
        if b.allow_network {
            push(&["--share-net"]);
        }
    }
    push(&["--die-with-parent", "--cap-drop", "ALL"]);
    if b.as_root && b.setid_caps {
        push(&["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]);
    }
    // Python needs the system's libraries and a few files from /etc; nothing else of the
    // host is visible, and nothing is writable except the working directory and a
    // private /tmp.
    for dir in ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin"] {
        push(&["--ro-bind-try", dir, dir]);
    }
    for file in [
        "/etc/ssl",
        "/etc/ca-certificates",
        "/etc/resolv.conf",
        "/etc/hosts",
        "/etc/nsswitch.conf",
        "/etc/passwd",
        "/etc/group",
        "/etc/localtime",
        "/etc/alternatives",
        "/etc/ld.so.cache",
    ] {
        push(&["--ro-bind-try", file, file]);
    }
    // The private /tmp first: binds below it (a venv cache under /tmp) must land on top.
    push(&["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]);
    // bwrap creates missing parents of a bind with the host directory's mode; under a 0700
    // /root that would lock an unprivileged worker out of the interpreter. Make them 0755
    // first (they are empty directories on the sandbox's own root).
    let mut parents: Vec<&Path> = launch
        .ro_paths
        .iter()
        .flat_map(|p| p.ancestors().skip(1))
        .filter(|d| d.parent().is_some() && *d != Path::new("/tmp"))
        .collect();
    parents.sort();
    parents.dedup();
    for d in parents {
        a.extend([
            "--perms".into(),
            "0755".into(),
            "--dir".into(),
            d.as_os_str().to_owned(),
        ]);
    }
    for p in &launch.ro_paths {
        a.push("--ro-bind".into());
        a.push(p.clone().into_os_string());
        a.push(p.clone().into_os_string());
    }
    a.push("--bind".into());
    a.push(workdir.as_os_str().to_owned());
    a.push(SANDBOX_CWD.into());
    // The worker enters it itself, after switching user (as root without capabilities,
    // bwrap could not enter a directory owned by the unprivileged user).
    a.push("--chdir".into());
    a.push("/".into());
    a
}

fn kill_group(pgid: Option<i32>) {
    if let Some(pgid) = pgid.filter(|p| *p > 1) {
        // SAFETY: plain syscall; the group id is the worker's own pid (process_group(0)).
        // Members keep that id allocated, so it cannot name another group while any of
        // them lives.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

async fn read_bounded<R: AsyncRead + Unpin>(mut r: R, limit: usize) -> Captured {
    let mut out = Captured::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = limit.saturating_sub(out.bytes.len());
                let keep = n.min(room);
                out.bytes.extend_from_slice(&buf[..keep]);
                // Keep draining what does not fit, so the tool never blocks on a full pipe.
                out.dropped += (n - keep) as u64;
            }
        }
    }
    out
}

async fn join_or_abort<T: Default>(handle: tokio::task::JoinHandle<T>) -> T {
    let abort = handle.abort_handle();
    match tokio::time::timeout(DRAIN_GRACE, handle).await {
        Ok(Ok(v)) => v,
        _ => {
            abort.abort();
            T::default()
        }
    }
}

impl Worker {
    /// Hands the worker its job and waits for it, at most `timeout`.
    pub async fn run(mut self, job: &[u8], timeout: Duration, output_limit: usize) -> RawOutcome {
        let t0 = std::time::Instant::now();
        let out_task = self
            .stdout
            .take()
            .map(|s| tokio::spawn(read_bounded(s, output_limit)));
        let err_task = self
            .stderr
            .take()
            .map(|s| tokio::spawn(read_bounded(s, output_limit)));
        let res_task = self
            .result
            .take()
            .map(|r| tokio::spawn(read_bounded(r, MAX_RESULT_BYTES)));
        let stdin = self.stdin.take();
        let job = job.to_vec();
        let work = async {
            if let Some(mut stdin) = stdin {
                // A worker that died while idle answers with a broken pipe; its exit status
                // tells the rest.
                let _ = stdin.write_all(&job).await;
                drop(stdin);
            }
            self.child.wait().await
        };
        let (status, timed_out) = match tokio::time::timeout(timeout, work).await {
            Ok(Ok(status)) => (Some(status), false),
            Ok(Err(_)) => (None, false),
            Err(_) => (None, true),
        };
        let t_exit = t0.elapsed();
        // Whatever the tool left behind (children, grandchildren) goes with the group.
        kill_group(self.pgid);
        self.kill_uid();
        let status = match status {
            Some(s) => Some(s),
            None => self.child.wait().await.ok(),
        };
        let stdout = match out_task {
            Some(t) => join_or_abort(t).await,
            None => Captured::default(),
        };
        let stderr = match err_task {
            Some(t) => join_or_abort(t).await,
            None => Captured::default(),
        };
        let raw_result = match res_task {
            Some(t) => join_or_abort(t).await,
            None => Captured::default(),
        };
        let mut raw_result = raw_result;
        if raw_result.bytes.first() == Some(&READY) {
            raw_result.bytes.remove(0);
        }
        let (result, result_error) = if raw_result.bytes.is_empty() {
            (None, None)
        } else if raw_result.dropped > 0 {
            (None, Some("the result exceeded 64 MiB".to_string()))
        } else {
            match serde_json::from_slice::<Value>(&raw_result.bytes) {
                Ok(v) => (Some(v), None),
                Err(e) => (None, Some(format!("corrupted result: {e}"))),
            }
        };
        let t_drain = t0.elapsed();
        self.cleanup().await;
        tracing::trace!(exit = ?t_exit, drained = ?t_drain, cleaned = ?t0.elapsed(), "tool worker timings");
        RawOutcome {
            result,
            result_error,
            status,
            timed_out,
            stdout,
            stderr,
        }
    }

    async fn cleanup(&mut self) {
        let dir = std::mem::take(&mut self.workdir);
        if dir.as_os_str().is_empty() {
            return;
        }
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::debug!(error = %e, dir = %dir.display(), "tool working directory not removed");
            }
        })
        .await;
    }

    /// With a uid of its own, a process that left the group (`setsid`) is still this call's:
    /// `kill -KILL -1` run as that uid reaches every process of it, and nothing else.
    /// (Inside bubblewrap the PID namespace ends with the call instead.)
    fn kill_uid(&self) {
        let Some((uid, gid)) = self.run_as.filter(|_| self.own_uid) else {
            return;
        };
        use std::os::unix::process::CommandExt;
        let mut cmd = std::process::Command::new("kill");
        cmd.args(["-KILL", "-1"])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .uid(uid)
            .gid(gid);
        let mut cmd = Command::from(cmd);
        // Off the call's path: the group is already dead, this only catches escapees.
        tokio::spawn(async move {
            match cmd.spawn() {
                Ok(mut child) => {
                    let _ = child.wait().await;
                }
                Err(e) => tracing::debug!(error = %e, "could not sweep the tool's user"),
            }
        });
    }

    /// Waits until the worker has started and waits for its job (consumes its ready byte).
    async fn ready(&mut self) -> bool {
        let Some(r) = self.result.as_mut() else {
            return false;
        };
        let mut byte = [0u8; 1];
        matches!(
            tokio::time::timeout(READY_TIMEOUT, r.read_exact(&mut byte)).await,
            Ok(Ok(_)) if byte[0] == READY
        )
    }

    /// Whether the idle worker is still alive (it may have been killed while waiting).
    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        kill_group(self.pgid);
        if !self.workdir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.workdir);
        }
    }
}

/// Pre-started workers, per launch key (interpreter + sandbox mode). Each worker serves one
/// call and exits, so no call's state can reach another; the pool only hides start-up.
pub(crate) struct Pool {
    size: usize,
    slots: Mutex<HashMap<String, Slot>>,
}

#[derive(Default)]
struct Slot {
    idle: VecDeque<Worker>,
    starting: usize,
}

impl Pool {
    pub fn new(size: usize) -> Arc<Self> {
        Arc::new(Pool {
            size,
            slots: Mutex::new(HashMap::new()),
        })
    }

    /// A ready worker for `launch`: a warm one if there is one, else a fresh one. Either way
    /// the pool is topped up in the background.
    pub async fn take(
        self: &Arc<Self>,
        key: &str,
        launch: &Arc<Launch>,
    ) -> std::io::Result<Worker> {
        let warm = {
            let mut slots = self.lock();
            let mut found = None;
            if let Some(slot) = slots.get_mut(key) {
                while let Some(mut w) = slot.idle.pop_front() {
                    if w.alive() {
                        found = Some(w);
                        break;
                    }
                }
            }
            found
        };
        self.refill(key, launch);
        match warm {
            Some(w) => Ok(w),
            // On this (runtime) thread, not the blocking pool: see `spawn_worker`.
            None => spawn_worker(launch),
        }
    }

    /// Starts workers until `size` are idle or starting for `key`.
    pub fn refill(self: &Arc<Self>, key: &str, launch: &Arc<Launch>) {
        if self.size == 0 {
            return;
        }
        let need = {
            let mut slots = self.lock();
            // Warm workers cost memory (~15-20 MiB each): keep them for a bounded number of
            // interpreters (the base one and the venvs first used); others start cold.
            if !slots.contains_key(key) && slots.len() >= MAX_WARM_KEYS {
                return;
            }
            let slot = slots.entry(key.to_string()).or_default();
            let have = slot.idle.len() + slot.starting;
            let need = self.size.saturating_sub(have);
            slot.starting += need;
            need
        };
        for _ in 0..need {
            let pool = Arc::clone(self);
            let launch = Arc::clone(launch);
            let key = key.to_string();
            tokio::spawn(async move {
                // Only a worker that finished starting counts as warm.
                let spawned = match spawn_worker(&launch) {
                    Ok(mut w) => {
                        if w.ready().await {
                            Ok(w)
                        } else {
                            w.cleanup().await;
                            Err(std::io::Error::other("the worker did not start"))
                        }
                    }
                    Err(e) => Err(e),
                };
                let mut slots = pool.lock();
                let slot = slots.entry(key).or_default();
                slot.starting = slot.starting.saturating_sub(1);
                match spawned {
                    Ok(w) => slot.idle.push_back(w),
                    Err(e) => tracing::warn!(error = %e, "could not pre-start a tool worker"),
                }
            });
        }
    }

    /// The pids of idle workers (for measuring the pool's memory).
    pub fn idle_pids(&self) -> Vec<u32> {
        let slots = self.lock();
        slots
            .values()
            .flat_map(|s| s.idle.iter().filter_map(|w| w.child.id()))
            .collect()
    }

    /// Idle worker count for `key`.
    pub fn idle(&self, key: &str) -> usize {
        self.lock().get(key).map_or(0, |s| s.idle.len())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        // A panic while holding the lock leaves only a map of workers behind: keep going.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}
