//! One call of a custom tool and what it gave back: the job, its status, and how the
//! worker's raw output becomes the original's `ToolExecutionResult` (error texts,
//! truncation of returns).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::process::RawOutcome;
use super::{PipRequirement, SandboxError};

/// The original's cap on `Error executing function ...` texts.
const MAX_ERROR_CHARS: usize = 500;

/// One call of a custom tool.
#[derive(Debug, Clone, Default)]
pub struct ToolRun {
    pub source_code: String,
    /// The function to call (the tool's name).
    pub function: String,
    /// Arguments as the model sent them (`request_heartbeat` and other names not in the
    /// schema are dropped when `json_schema` is given).
    pub args: Map<String, Value>,
    /// The tool's stored schema: only its `parameters.properties` are used.
    pub json_schema: Option<Value>,
    /// The agent's state (at least `{"memory": {"blocks": [{"label", "value", ...}]}}`),
    /// passed to tools declaring an `agent_state` parameter.
    pub agent_state: Option<Value>,
    /// Sandbox config variables, then the agent's `tool_exec_environment_variables`.
    pub env: BTreeMap<String, String>,
    /// The config's and the tool's requirements.
    pub pip_requirements: Vec<PipRequirement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolStatus {
    Success,
    Error,
}

/// The outcome of one call, as the original's `ToolExecutionResult`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolExecution {
    pub status: ToolStatus,
    /// The return rendered as text: `str()` of it, `None` → `"None"`, a dict → JSON with a
    /// 2-space indent and non-ASCII kept; or an `Error executing function ...` text.
    pub func_return: String,
    /// One string with everything printed, or empty.
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
    /// The agent state after the call (memory possibly changed), for tools that take
    /// `agent_state`, on success only.
    pub agent_state: Option<Value>,
}

impl ToolExecution {
    /// An `error` result in the original's words, e.g. for a [`SandboxError`].
    pub fn error(function: &str, exc_type: &str, message: &str, stderr: Vec<String>) -> Self {
        ToolExecution {
            status: ToolStatus::Error,
            func_return: error_text(function, exc_type, message),
            stdout: Vec::new(),
            stderr,
            agent_state: None,
        }
    }

    /// How a sandbox failure reads as a tool return (`SandboxError: ...`).
    pub fn from_sandbox_error(function: &str, err: &SandboxError) -> Self {
        Self::error(
            function,
            "SandboxError",
            &err.to_string(),
            vec![err.to_string()],
        )
    }
}

/// `Error executing function NAME: TYPE: MESSAGE`, at most 500 characters.
pub fn error_text(function: &str, exc_type: &str, message: &str) -> String {
    let text = format!("Error executing function {function}: {exc_type}: {message}");
    truncate_chars(&text, MAX_ERROR_CHARS).to_string()
}

pub(super) fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// The two truncation stages of Letta 0.8.12, literally (§5.6): first a note is appended
/// when the text exceeds `limit` (nothing cut), then, except for the search tools, the text
/// is cut to `limit` characters and a second note appended. Lengths count characters.
pub fn truncate_tool_return(text: &str, limit: usize, tool_name: &str) -> String {
    let mut out = text.to_string();
    let n = out.chars().count();
    if n > limit {
        out = format!(
            "{out}... [NOTE: function output was truncated since it exceeded the character limit: {n} > {limit}]"
        );
    }
    let exempt = matches!(
        tool_name,
        "conversation_search" | "conversation_search_date" | "archival_memory_search"
    );
    let n = out.chars().count();
    if !exempt && n > limit {
        out = format!(
            "{}... [NOTE: function output was truncated since it exceeded the character limit ({n} > {limit})]",
            truncate_chars(&out, limit)
        );
    }
    out
}

pub(super) fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGKILL => "killed (SIGKILL)".into(),
        libc::SIGXCPU => "CPU time limit exceeded (SIGXCPU)".into(),
        libc::SIGXFSZ => "file size limit exceeded (SIGXFSZ)".into(),
        libc::SIGSEGV => "segmentation fault (SIGSEGV)".into(),
        libc::SIGABRT => "aborted (SIGABRT)".into(),
        other => format!("signal {other}"),
    }
}

pub(super) fn interpret(function: &str, timeout: Duration, out: RawOutcome) -> ToolExecution {
    use std::os::unix::process::ExitStatusExt;
    let stdout = out.stdout.into_lines();
    let stderr = out.stderr.into_lines();
    if out.timed_out {
        let secs = timeout.as_secs_f64();
        let secs = if secs.fract() == 0.0 {
            format!("{}", secs as u64)
        } else {
            format!("{secs}")
        };
        let mut ex = ToolExecution::error(
            function,
            "TimeoutError",
            &format!("Executing tool {function} timed out after {secs} seconds."),
            stderr,
        );
        ex.stdout = stdout;
        return ex;
    }
    if let Some(result) = out.result {
        let status = match result.get("status").and_then(Value::as_str) {
            Some("success") => ToolStatus::Success,
            _ => ToolStatus::Error,
        };
        let func_return = result
            .get("func_return")
            .and_then(Value::as_str)
            .unwrap_or("None")
            .to_string();
        let agent_state = match status {
            ToolStatus::Success => result.get("agent_state").filter(|v| !v.is_null()).cloned(),
            ToolStatus::Error => None,
        };
        return ToolExecution {
            status,
            func_return,
            stdout,
            stderr,
            agent_state,
        };
    }
    let why = match (out.result_error, out.status) {
        (Some(e), _) => e,
        (None, Some(st)) => match (st.code(), st.signal()) {
            (Some(code), _) => {
                format!("the tool process exited with status {code} before returning a result")
            }
            (_, Some(sig)) => format!(
                "the tool process was terminated before returning a result: {}",
                signal_name(sig)
            ),
            _ => "the tool process ended without a result".into(),
        },
        (None, None) => "the tool process could not be waited for".into(),
    };
    let exc = if out.status.is_some_and(|s| s.code().is_some()) {
        "SystemExit"
    } else {
        "SandboxError"
    };
    let mut ex = ToolExecution::error(function, exc, &why, stderr);
    ex.stdout = stdout;
    ex
}
