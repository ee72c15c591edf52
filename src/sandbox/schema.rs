//! A tool's JSON schema from its Python source, as Letta 0.8.12 derives it (§5.2).
//!
//! The source is parsed with Python's own `ast` module in a short-lived interpreter with a
//! clean environment, rlimits and a timeout; it is never executed (the original `exec`s it).
//! Annotations are resolved statically against builtins, `typing` and the pydantic models
//! the same source declares. `request_heartbeat` is not part of the stored schema: the
//! agent loop adds it when it sends tools to the model.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

const SCHEMA_PY: &str = include_str!("python/schema.py");
const SCHEMA_TIMEOUT: Duration = Duration::from_secs(10);
/// Address-space cap for the parser: `ast` on hostile input can be deep, not huge.
const SCHEMA_MEMORY: u64 = 1 << 30;

/// What went wrong deriving a schema; `message` is the original's wording, fit for a 4xx.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SchemaError {
    pub kind: SchemaErrorKind,
    pub message: String,
    /// 1-based line in the source the problem is on, when known.
    pub line: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaErrorKind {
    /// The source does not parse.
    Syntax,
    /// No top-level function (or, with `args_json_schema`, no `def` at all).
    NoFunction,
    MissingDocstring,
    MissingAnnotation,
    /// A parameter has no description in the docstring's `Args:` section.
    MissingDescription,
    /// An annotation with no JSON schema equivalent (typed dicts, unions, unknown names...).
    UnsupportedType,
    /// `args_json_schema` is not an object schema this derivation understands.
    ArgsSchema,
    /// The interpreter could not be run or answered nonsense.
    Interpreter,
}

#[derive(Deserialize)]
struct Answer {
    ok: Option<Value>,
    error: Option<AnswerError>,
}

#[derive(Deserialize)]
struct AnswerError {
    kind: String,
    message: String,
    line: Option<u32>,
}

fn interpreter_error(message: String) -> SchemaError {
    SchemaError {
        kind: SchemaErrorKind::Interpreter,
        message,
        line: None,
    }
}

/// Derives `{"name", "description", "parameters"}` for the last top-level function in
/// `source`, or, when `args_json_schema` is given, from it (§5.2 step 1). `name` overrides
/// the function's name on the args-schema path only, as in the original.
pub async fn derive_schema(
    python: &Path,
    source: &str,
    args_json_schema: Option<&Value>,
    name: Option<&str>,
) -> Result<Value, SchemaError> {
    let request = json!({
        "source": source,
        "args_json_schema": args_json_schema,
        "name": if args_json_schema.is_some() { name } else { None },
    });
    let body = serde_json::to_vec(&request).map_err(|e| interpreter_error(e.to_string()))?;
    let mut cmd = Command::new(python);
    // -I: no user site, no PYTHON* variables, no script directory on sys.path.
    cmd.arg("-I")
        .arg("-c")
        .arg(format!(
            "import resource\nresource.setrlimit(resource.RLIMIT_AS, ({SCHEMA_MEMORY}, {SCHEMA_MEMORY}))\nresource.setrlimit(resource.RLIMIT_CPU, (10, 11))\n{SCHEMA_PY}"
        ))
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("LANG", "C.UTF-8")
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| interpreter_error(format!("cannot run {}: {e}", python.display())))?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| interpreter_error("no stdin".into()))?;
    let run = async {
        stdin.write_all(&body).await?;
        drop(stdin);
        child.wait_with_output().await
    };
    let out = match tokio::time::timeout(SCHEMA_TIMEOUT, run).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => return Err(interpreter_error(format!("schema helper failed: {e}"))),
        Err(_) => {
            return Err(interpreter_error(
                "Schema generation failed: parsing the source timed out".into(),
            ));
        }
    };
    let answer: Answer = serde_json::from_slice(&out.stdout).map_err(|_| {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.trim_end().lines().last().unwrap_or("").to_string();
        interpreter_error(format!("Schema generation failed: {last}"))
    })?;
    match (answer.ok, answer.error) {
        (Some(schema), _) => Ok(schema),
        (None, Some(e)) => Err(SchemaError {
            kind: match e.kind.as_str() {
                "syntax" => SchemaErrorKind::Syntax,
                "no_function" => SchemaErrorKind::NoFunction,
                "missing_docstring" => SchemaErrorKind::MissingDocstring,
                "missing_annotation" => SchemaErrorKind::MissingAnnotation,
                "missing_description" => SchemaErrorKind::MissingDescription,
                "args_schema" => SchemaErrorKind::ArgsSchema,
                _ => SchemaErrorKind::UnsupportedType,
            },
            message: e.message,
            line: e.line,
        }),
        (None, None) => Err(interpreter_error("Schema generation failed".into())),
    }
}
