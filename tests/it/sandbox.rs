//! The tool sandbox with a real Python: schemas derived from source, and calls run out of
//! process with their isolation.

use std::collections::BTreeMap;
use std::sync::Once;
use std::time::{Duration, Instant};

use letta_rs::sandbox::{
    BwrapMode, IsolationMode, PipRequirement, Sandbox, SandboxSettings, SchemaErrorKind,
    ToolExecution, ToolRun, ToolStatus,
};
use serde_json::{Map, Value, json};

static SERVER_SECRET: Once = Once::new();

fn settings() -> SandboxSettings {
    SERVER_SECRET.call_once(|| {
        // SAFETY: set once, before any sandbox in this binary spawns a process from this
        // test's code; the variable only has to be present in the server's environment.
        unsafe { std::env::set_var("OPENAI_API_KEY", "sk-server-secret-must-not-leak") };
    });
    // The suite runs in whatever mode the host allows; these force another one
    // (e.g. `SANDBOX_TEST_BWRAP=off SANDBOX_TEST_PYTHON=/usr/bin/python3`).
    let use_bwrap = match std::env::var("SANDBOX_TEST_BWRAP").as_deref() {
        Ok("off") => BwrapMode::Off,
        Ok("on") => BwrapMode::On,
        _ => BwrapMode::Auto,
    };
    SandboxSettings {
        pool_size: 1,
        use_bwrap,
        python: std::env::var_os("SANDBOX_TEST_PYTHON").map(Into::into),
        ..SandboxSettings::default()
    }
}

async fn sandbox() -> Sandbox {
    Sandbox::new(settings()).await.expect("sandbox starts")
}

fn run(source: &str, function: &str, args: Value) -> ToolRun {
    ToolRun {
        source_code: source.to_string(),
        function: function.to_string(),
        args: args.as_object().cloned().unwrap_or_default(),
        ..ToolRun::default()
    }
}

async fn call(sb: &Sandbox, source: &str, function: &str, args: Value) -> ToolExecution {
    sb.run_tool(&run(source, function, args))
        .await
        .expect("sandbox runs")
}

async fn schema(sb: &Sandbox, source: &str) -> Value {
    sb.derive_schema(source, None, None).await.expect("schema")
}

// --- schema from source -----------------------------------------------------------------

#[tokio::test]
async fn schema_matches_the_original_for_typical_tools() {
    let sb = sandbox().await;
    let s = schema(
        &sb,
        "def secret_message():\n    \"\"\"Return a secret message.\"\"\"\n    return \"Testing\"\n",
    )
    .await;
    assert_eq!(
        s,
        json!({"name": "secret_message", "description": "Return a secret message.",
               "parameters": {"type": "object", "properties": {}, "required": []}})
    );

    let src = r#"
def get_weather(location: str) -> str:
    """
    Fetches the current weather for a given location.

    Parameters:
        location (str): The location to get the weather for.

    Returns:
        str: A formatted string describing the weather in the given location.

    Raises:
        RuntimeError: If the request to fetch weather data fails.
    """
    return f"Sunny in {location}"
"#;
    assert_eq!(
        schema(&sb, src).await,
        json!({"name": "get_weather", "description": "Fetches the current weather for a given location.",
               "parameters": {"type": "object", "properties": {
                   "location": {"type": "string", "description": "The location to get the weather for."}},
                   "required": ["location"]}})
    );

    let src = r#"
from typing import List, Optional, Literal, Tuple

def plan(steps: List[str], count: int, ratio: float, dry: bool, note: Optional[str] = None,
         mode: Literal["fast", "slow"] = "fast", point: Tuple[int, float] = (0, 0.0),
         extra: dict = None, items: list = None, agent_state: "AgentState" = None) -> str:
    """Make a plan.

    The plan is made
    step by step.

    Args:
        steps (List[str]): The steps.
        count: How many
            times to repeat.
        ratio: A ratio.
        dry: Dry run.
        note: A note.
        mode: Speed.
        point: A point.
        extra: Extra data.
        items: Items.

    Examples:
        >>> plan(["a"], 1, 0.5, True)
    """
    return "ok"
"#;
    assert_eq!(
        schema(&sb, src).await,
        json!({
            "name": "plan",
            "description": "Make a plan.\n\nThe plan is made\nstep by step.\n\nExamples:\n        >>> plan([\"a\"], 1, 0.5, True)",
            "parameters": {"type": "object", "properties": {
                "steps": {"type": "array", "items": {"type": "string"}, "description": "The steps."},
                "count": {"type": "integer", "description": "How many\ntimes to repeat."},
                "ratio": {"type": "number", "description": "A ratio."},
                "dry": {"type": "boolean", "description": "Dry run."},
                "note": {"type": "string", "description": "A note."},
                "mode": {"type": "string", "enum": ["fast", "slow"], "description": "Speed."},
                "point": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "number"}],
                          "minItems": 2, "maxItems": 2, "description": "A point."},
                "extra": {"type": "object", "description": "Extra data."},
                "items": {"type": "array", "items": {"type": "string"}, "description": "Items."}
            }, "required": ["steps", "count", "ratio", "dry"]}
        })
    );

    // The last top-level function is the tool; a pydantic model parameter becomes an object.
    let src = r#"
from pydantic import BaseModel, Field
from typing import List

class Step(BaseModel):
    name: str = Field(..., description="Name of the step.")
    key: str = Field(..., description="Unique identifier for the step.")

def helper(x: int):
    """Not this one."""

def create_task_plan(steps: List[Step]) -> str:
    """Creates a task plan for the current task.

    Args:
        steps: List of steps to add to the task plan.
    """
    return "ok"
"#;
    assert_eq!(
        schema(&sb, src).await,
        json!({"name": "create_task_plan", "description": "Creates a task plan for the current task.",
               "parameters": {"type": "object", "properties": {"steps": {
                   "type": "array",
                   "items": {"type": "object", "properties": {
                       "name": {"type": "string", "description": "Name of the step."},
                       "key": {"type": "string", "description": "Unique identifier for the step."}},
                       "required": ["name", "key"]},
                   "description": "List of steps to add to the task plan."}},
                   "required": ["steps"]}})
    );

    // The tools Letta's own SDK tests upsert.
    let roll_dice = "def roll_dice(num_sides: int) -> int:\n    \"\"\"\n    Returns a random number between 1 and num_sides.\n    Args:\n        num_sides (int): The number of sides on the die.\n    Returns:\n        int: A random integer between 1 and num_sides, representing the die roll.\n    \"\"\"\n    import random\n\n    return random.randint(1, num_sides)\n";
    assert_eq!(
        schema(&sb, roll_dice).await,
        json!({"name": "roll_dice", "description": "Returns a random number between 1 and num_sides.",
               "parameters": {"type": "object", "properties": {
                   "num_sides": {"type": "integer", "description": "The number of sides on the die."}},
                   "required": ["num_sides"]}})
    );
    let big_return = "def big_return():\n    \"\"\"\n    Always call this tool.\n\n    Returns:\n        important_data (str): Important data\n    \"\"\"\n    return \"x\" * 100000\n";
    assert_eq!(
        schema(&sb, big_return).await,
        json!({"name": "big_return", "description": "Always call this tool.",
               "parameters": {"type": "object", "properties": {}, "required": []}})
    );

    // args_json_schema wins: raw docstring as description, no heartbeat.
    let args_schema = json!({"type": "object", "properties": {
        "query": {"type": "string", "description": "What to look for"},
        "limit": {"type": "integer", "description": "How many"}}, "required": ["query"]});
    let s = sb
        .derive_schema(
            "def search(query, limit=3):\n    \"\"\"Search things.\n\n    Long.\"\"\"\n",
            Some(&args_schema),
            None,
        )
        .await
        .expect("args schema");
    assert_eq!(
        s,
        json!({"name": "search", "description": "Search things.\n\nLong.",
               "parameters": {"type": "object", "properties": {
                   "query": {"type": "string", "description": "What to look for"},
                   "limit": {"type": "integer", "description": "How many"}},
                   "required": ["query"]}})
    );
}

#[tokio::test]
async fn schema_errors_name_the_problem() {
    let sb = sandbox().await;
    let cases = [
        (
            "x = 1\n",
            SchemaErrorKind::NoFunction,
            "No callable functions found in source code",
        ),
        (
            "def f(x: int):\n    return x\n",
            SchemaErrorKind::MissingDocstring,
            "Function f missing docstring",
        ),
        (
            "def f(x):\n    \"\"\"Doc.\n\n    Args:\n        x: a thing\n    \"\"\"\n",
            SchemaErrorKind::MissingAnnotation,
            "Parameter 'x' in function 'f' lacks a type annotation",
        ),
        (
            "def f(x: int):\n    \"\"\"Doc.\"\"\"\n",
            SchemaErrorKind::MissingDescription,
            "Parameter 'x' in function 'f' lacks a description in the docstring",
        ),
        (
            "from typing import Dict\ndef f(x: Dict[str, int]):\n    \"\"\"Doc.\n\n    Args:\n        x: m\n    \"\"\"\n",
            SchemaErrorKind::UnsupportedType,
            "Dictionary types typing.Dict[str, int] with nested type arguments are not supported",
        ),
        (
            "from typing import Union\ndef f(x: Union[int, str]):\n    \"\"\"Doc.\n\n    Args:\n        x: m\n    \"\"\"\n",
            SchemaErrorKind::UnsupportedType,
            "General Union types are not yet supported",
        ),
        (
            "def f(x:\n",
            SchemaErrorKind::Syntax,
            "Schema generation failed: ",
        ),
    ];
    for (src, kind, needle) in cases {
        let err = sb.derive_schema(src, None, None).await.expect_err(src);
        assert_eq!(err.kind, kind, "{src}: {err}");
        assert!(err.message.contains(needle), "{src}: {}", err.message);
        assert!(
            err.message.starts_with("Schema generation failed: "),
            "{}",
            err.message
        );
    }
    let err = sb
        .derive_schema("def f(x:\n", None, None)
        .await
        .expect_err("syntax");
    assert_eq!(err.line, Some(1));
    let err = sb
        .derive_schema(
            "def f():\n    pass\n",
            Some(&json!({"properties": {}})),
            None,
        )
        .await
        .expect_err("args schema needs a docstring");
    assert_eq!(
        err.message,
        "Failed to parse function name and docstring: Docstring is missing"
    );
}

// --- execution ------------------------------------------------------------------------------

const RETURNS: &str = r#"
def give(kind: str):
    """Return things.

    Args:
        kind: what
    """
    if kind == "str":
        return "plain text"
    if kind == "dict":
        return {"city": "Zürich", "n": [1, 2]}
    if kind == "none":
        return None
    if kind == "list":
        return ["a", "b"]
    if kind == "bool":
        return True
    if kind == "div":
        return 1 / 0
    if kind == "when":
        import datetime
        return {"at": datetime.datetime(2024, 1, 2, 3, 4, 5)}
    if kind == "odd":
        return {"s": {1, 2}}
    print("to stdout")
    return 42
"#;

#[tokio::test]
async fn returns_are_rendered_as_the_original() {
    let sb = sandbox().await;
    let cases = [
        ("str", "plain text"),
        (
            "dict",
            "{\n  \"city\": \"Zürich\",\n  \"n\": [\n    1,\n    2\n  ]\n}",
        ),
        ("none", "None"),
        ("list", "['a', 'b']"),
        ("bool", "True"),
        ("int", "42"),
        ("when", "{\n  \"at\": \"2024-01-02T03:04:05\"\n}"),
    ];
    for (kind, want) in cases {
        let r = call(&sb, RETURNS, "give", json!({"kind": kind})).await;
        assert_eq!(r.status, ToolStatus::Success, "{kind}: {r:?}");
        assert_eq!(r.func_return, want, "{kind}");
    }
    let r = call(&sb, RETURNS, "give", json!({"kind": "int"})).await;
    assert_eq!(r.stdout, vec!["to stdout\n".to_string()]);
    assert!(r.stderr.is_empty());

    let r = call(&sb, RETURNS, "give", json!({"kind": "odd"})).await;
    assert_eq!(r.status, ToolStatus::Error);
    assert_eq!(
        r.func_return,
        "Error executing function give: ValueError: {'s': {1, 2}}"
    );

    let r = call(&sb, RETURNS, "give", json!({"kind": "div"})).await;
    assert_eq!(r.status, ToolStatus::Error);
    assert_eq!(
        r.func_return,
        "Error executing function give: ZeroDivisionError: division by zero"
    );
    let tb = r.stderr.join("");
    assert!(
        tb.contains("Traceback") && tb.contains("ZeroDivisionError"),
        "{tb}"
    );
    assert!(
        tb.contains("return 1 / 0"),
        "the traceback quotes the tool: {tb}"
    );
}

#[tokio::test]
async fn arguments_are_data_coerced_and_filtered_by_schema() {
    let sb = sandbox().await;
    let src = r#"
def echo(n: int, words: list, text: str):
    """Echo.

    Args:
        n: n
        words: w
        text: t
    """
    return repr((n, words, text))
"#;
    let json_schema = schema(&sb, src).await;
    let mut r = run(
        src,
        "echo",
        json!({"n": "7", "words": "[\"x\", \"y\"]", "text": "\"); import os; os._exit(9) #",
               "request_heartbeat": true}),
    );
    r.json_schema = Some(json_schema);
    let out = sb.run_tool(&r).await.expect("runs");
    assert_eq!(out.status, ToolStatus::Success, "{out:?}");
    assert_eq!(
        out.func_return,
        "(7, ['x', 'y'], '\"); import os; os._exit(9) #')"
    );

    // async tools are awaited
    let src = "import asyncio\nasync def later(x: int):\n    \"\"\"L.\n\n    Args:\n        x: x\n    \"\"\"\n    await asyncio.sleep(0)\n    return x * 2\n";
    let out = call(&sb, src, "later", json!({"x": 21})).await;
    assert_eq!(out.func_return, "42");
}

#[tokio::test]
async fn agent_state_edits_come_back() {
    let sb = sandbox().await;
    let src = r#"
def remember(agent_state: "AgentState", fact: str):
    """Remember a fact.

    Args:
        fact: The fact.
    """
    human = agent_state.memory.get_block("human").value
    agent_state.memory.update_block_value(label="human", value=human + "\n" + fact)
    return agent_state.name + " " + ",".join(agent_state.memory.list_block_labels())
"#;
    let mut r = run(src, "remember", json!({"fact": "likes tea"}));
    r.agent_state = Some(json!({
        "id": "agent-1", "name": "sam",
        "memory": {"blocks": [
            {"label": "human", "value": "Name: Ann", "limit": 5000},
            {"label": "persona", "value": "I am Sam", "limit": 5000}]}
    }));
    let out = sb.run_tool(&r).await.expect("runs");
    assert_eq!(out.status, ToolStatus::Success, "{out:?}");
    assert_eq!(out.func_return, "sam human,persona");
    let state = out.agent_state.expect("state returned");
    assert_eq!(
        state.pointer("/memory/blocks/0/value"),
        Some(&json!("Name: Ann\nlikes tea"))
    );
    assert_eq!(
        state.pointer("/memory/blocks/1/value"),
        Some(&json!("I am Sam"))
    );
    assert_eq!(state.pointer("/memory/blocks/0/limit"), Some(&json!(5000)));

    // A tool without agent_state gets none back.
    let out = call(&sb, RETURNS, "give", json!({"kind": "str"})).await;
    assert!(out.agent_state.is_none());
}

#[tokio::test]
async fn only_given_variables_reach_the_tool() {
    let sb = sandbox().await;
    assert!(std::env::var("OPENAI_API_KEY").is_ok());
    let src = "import os, json\ndef env():\n    \"\"\"Env.\"\"\"\n    return json.dumps(dict(os.environ))\n";
    let mut r = run(src, "env", json!({}));
    r.env = BTreeMap::from([("MY_TOOL_VAR".to_string(), "hello".to_string())]);
    let out = sb.run_tool(&r).await.expect("runs");
    let env: Map<String, Value> = serde_json::from_str(&out.func_return).expect("json");
    assert_eq!(env.get("MY_TOOL_VAR"), Some(&json!("hello")));
    assert!(!env.contains_key("OPENAI_API_KEY"), "{env:?}");
    assert!(!out.func_return.contains("sk-server-secret"));
    assert!(!env.keys().any(|k| k.starts_with("CARGO")), "{env:?}");
    // The private working directory is the cwd and is gone afterwards.
    let src = "import os\ndef cwd():\n    \"\"\"Cwd.\"\"\"\n    open('f.txt', 'w').write('x')\n    return os.getcwd()\n";
    let out = call(&sb, src, "cwd", json!({})).await;
    assert_eq!(out.status, ToolStatus::Success, "{out:?}");
    if let IsolationMode::Direct { .. } = sb.mode() {
        assert!(!std::path::Path::new(&out.func_return).exists());
    } else {
        assert_eq!(out.func_return, "/sandbox");
    }
}

fn processes_with_arg(marker: &str) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(marker))
                .unwrap_or(false)
        })
        .count()
}

#[tokio::test]
async fn a_timeout_kills_the_tool_and_its_children() {
    let sb = Sandbox::new(SandboxSettings {
        timeout: Duration::from_secs(2),
        ..settings()
    })
    .await
    .expect("sandbox");
    let marker = format!("{}.{}", 900 + std::process::id() % 97, std::process::id());
    let src = format!(
        "import subprocess, time\ndef hang():\n    \"\"\"Hang.\"\"\"\n    subprocess.Popen(['sleep', '{marker}'])\n    time.sleep(1000)\n"
    );
    let started = Instant::now();
    let out = call(&sb, &src, "hang", json!({})).await;
    assert!(started.elapsed() < Duration::from_secs(6));
    assert_eq!(out.status, ToolStatus::Error);
    assert_eq!(
        out.func_return,
        "Error executing function hang: TimeoutError: Executing tool hang timed out after 2 seconds."
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        processes_with_arg(&marker),
        0,
        "the grandchild sleep is gone"
    );
}

#[tokio::test]
async fn memory_output_exit_and_fork_limits() {
    let sb = Sandbox::new(SandboxSettings {
        timeout: Duration::from_secs(5),
        memory_bytes: 512 << 20,
        output_limit: 64 << 10,
        ..settings()
    })
    .await
    .expect("sandbox");

    let src =
        "def big():\n    \"\"\"Big.\"\"\"\n    x = bytearray(2 * 1024 ** 3)\n    return len(x)\n";
    let out = call(&sb, src, "big", json!({})).await;
    assert_eq!(out.status, ToolStatus::Error);
    assert!(
        out.func_return
            .starts_with("Error executing function big: MemoryError"),
        "{}",
        out.func_return
    );

    let src = "import sys\ndef loud():\n    \"\"\"Loud.\"\"\"\n    for _ in range(200):\n        sys.stdout.write('x' * 50000)\n    return 'done'\n";
    let out = call(&sb, src, "loud", json!({})).await;
    assert_eq!(out.status, ToolStatus::Success);
    assert_eq!(out.func_return, "done");
    let text = out.stdout.join("");
    assert!(text.len() < (64 << 10) + 200, "{}", text.len());
    assert!(
        text.contains("output truncated"),
        "a note says output was dropped"
    );

    let src = "import os\ndef quit():\n    \"\"\"Quit.\"\"\"\n    print('bye', flush=True)\n    os._exit(3)\n";
    let out = call(&sb, src, "quit", json!({})).await;
    assert_eq!(out.status, ToolStatus::Error);
    assert_eq!(
        out.func_return,
        "Error executing function quit: SystemExit: the tool process exited with status 3 before returning a result"
    );
    assert_eq!(out.stdout, vec!["bye\n".to_string()]);

    let src = "import sys\ndef leave():\n    \"\"\"Leave.\"\"\"\n    sys.exit(4)\n";
    let out = call(&sb, src, "leave", json!({})).await;
    assert_eq!(
        out.func_return,
        "Error executing function leave: SystemExit: 4"
    );

    // A few forks that each hang: all gone at the timeout.
    let marker = format!("forkmark{}", std::process::id());
    let src = format!(
        "import os, time\ndef forky():\n    \"\"\"Fork.\"\"\"\n    for _ in range(4):\n        if os.fork() == 0:\n            os.execvp('sleep', ['sleep', '1000', '{marker}'])\n    time.sleep(1000)\n"
    );
    let out = call(&sb, &src, "forky", json!({})).await;
    assert_eq!(out.status, ToolStatus::Error);
    assert!(out.func_return.contains("timed out"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(processes_with_arg(&marker), 0);

    // A child left running after a normal return is killed with the group.
    let marker = format!("leftover{}", std::process::id());
    let src = format!(
        "import subprocess\ndef leave_child():\n    \"\"\"L.\"\"\"\n    subprocess.Popen(['sleep', '1000', '{marker}'])\n    return 'ok'\n"
    );
    let out = call(&sb, &src, "leave_child", json!({})).await;
    assert_eq!(out.func_return, "ok");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(processes_with_arg(&marker), 0);
}

#[tokio::test]
async fn many_calls_run_at_once() {
    let sb = Sandbox::new(SandboxSettings {
        max_concurrent: 8,
        pool_size: 2,
        ..settings()
    })
    .await
    .expect("sandbox");
    let src = "import time\ndef nap(i: int):\n    \"\"\"Nap.\n\n    Args:\n        i: i\n    \"\"\"\n    time.sleep(0.3)\n    return i\n";
    let started = Instant::now();
    let calls = (0..16).map(|i| {
        let sb = sb.clone();
        async move { call(&sb, src, "nap", json!({"i": i})).await }
    });
    let outs = futures_util::future::join_all(calls).await;
    for (i, out) in outs.iter().enumerate() {
        assert_eq!(out.status, ToolStatus::Success, "{out:?}");
        assert_eq!(out.func_return, i.to_string());
    }
    // 16 calls of 0.3 s with 8 at a time: about two rounds, far from 16 in a row.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn warm_workers_never_share_state() {
    let sb = Sandbox::new(SandboxSettings {
        pool_size: 2,
        ..settings()
    })
    .await
    .expect("sandbox");
    let src = r#"
import os
def touch():
    """Touch."""
    import json
    seen = globals().get("MARK", "fresh")
    globals()["MARK"] = "dirty"
    json.MARK = "dirty"
    leftover = os.path.exists("mine.txt")
    open("mine.txt", "w").write("x")
    return "%s %s %s" % (seen, getattr(json, "MARK", "x") if False else "-", leftover)
"#;
    for _ in 0..5 {
        let out = call(&sb, src, "touch", json!({})).await;
        assert_eq!(out.func_return, "fresh - False", "{out:?}");
    }
    let probe = "import json\ndef p():\n    \"\"\"P.\"\"\"\n    return hasattr(json, 'MARK')\n";
    assert_eq!(call(&sb, probe, "p", json!({})).await.func_return, "False");
    // The pool refills in the background.
    for _ in 0..50 {
        if sb.warm_workers() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sb.warm_workers(), 2);
}

#[tokio::test]
async fn run_code_runs_python_and_refuses_other_languages() {
    let sb = sandbox().await;
    let out = sb
        .run_code("x = 6\nprint('hi')\nx * 7", "python", BTreeMap::new())
        .await
        .expect("runs");
    assert_eq!(out.status, ToolStatus::Success);
    let doc: Value = serde_json::from_str(&out.func_return).expect("json");
    assert_eq!(
        doc,
        json!({"results": ["42"], "logs": {"stdout": ["hi\n"], "stderr": []}})
    );
    let out = sb
        .run_code("raise ValueError('no')", "python", BTreeMap::new())
        .await
        .expect("runs");
    let doc: Value = serde_json::from_str(&out.func_return).expect("json");
    assert_eq!(doc["error"]["name"], "ValueError");
    assert_eq!(doc["error"]["value"], "no");
    let out = sb
        .run_code("console.log(1)", "js", BTreeMap::new())
        .await
        .expect("answers");
    assert_eq!(out.status, ToolStatus::Error);
    assert!(
        out.func_return.contains("language 'js' is not supported"),
        "{}",
        out.func_return
    );
}

#[tokio::test]
async fn bubblewrap_hides_the_host_and_the_network() {
    let sb = sandbox().await;
    if !matches!(sb.mode(), IsolationMode::Bubblewrap { .. }) {
        // scripts/test.sh installs bubblewrap and sets this, so CI cannot skip the check.
        assert!(
            std::env::var_os("SANDBOX_REQUIRE_BWRAP").is_none(),
            "bubblewrap is required (SANDBOX_REQUIRE_BWRAP) but the sandbox runs {:?}",
            sb.mode()
        );
        eprintln!("bubblewrap not available: skipped");
        return;
    }
    let manifest = env!("CARGO_MANIFEST_DIR");
    // A listener of the host's loopback: reachable from the host, not from a sandbox with
    // its own network namespace (and no traffic leaves this machine either way).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let src = format!(
        "import os, socket\ndef look():\n    \"\"\"Look.\"\"\"\n    seen = os.path.exists('{manifest}/Cargo.toml')\n    try:\n        socket.create_connection(('127.0.0.1', {port}), timeout=2)\n        net = True\n    except OSError:\n        net = False\n    try:\n        open('/usr/evil', 'w')\n        wrote = True\n    except OSError:\n        wrote = False\n    return (seen, net, wrote, os.getuid() != 0)\n"
    );
    let out = call(&sb, &src, "look", json!({})).await;
    assert_eq!(out.func_return, "(False, False, False, True)", "{out:?}");
}

// --- pip_requirements ----------------------------------------------------------------------

/// A tiny wheel, built by hand (a wheel is a zip with metadata), so the test is offline.
fn build_wheel(dir: &std::path::Path) {
    let script = r#"
import sys, zipfile, hashlib, base64
d = sys.argv[1]
files = {
    "lettatiny/__init__.py": "VALUE = 'from the wheel'\n",
    "lettatiny-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: lettatiny\nVersion: 1.0\n",
    "lettatiny-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
for name, body in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(body.encode()).digest()).rstrip(b"=").decode()
    record.append("%s,sha256=%s,%d" % (name, digest, len(body)))
record.append("lettatiny-1.0.dist-info/RECORD,,")
files["lettatiny-1.0.dist-info/RECORD"] = "\n".join(record) + "\n"
with zipfile.ZipFile(d + "/lettatiny-1.0-py3-none-any.whl", "w") as z:
    for name, body in files.items():
        z.writestr(name, body)
"#;
    let status = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir)
        .status()
        .expect("python3");
    assert!(status.success());
}

#[tokio::test]
async fn pip_requirements_get_a_cached_venv() {
    let wheels = tempfile::tempdir().expect("tempdir");
    let cache = tempfile::tempdir().expect("tempdir");
    build_wheel(wheels.path());
    let sb = Sandbox::new(SandboxSettings {
        venv_cache_dir: cache.path().to_path_buf(),
        pip_args: vec![
            "--no-index".into(),
            "--find-links".into(),
            wheels.path().display().to_string(),
        ],
        ..settings()
    })
    .await
    .expect("sandbox");
    let src = "def tiny():\n    \"\"\"Tiny.\"\"\"\n    import lettatiny, sys\n    return lettatiny.VALUE + ' ' + str(sys.prefix != sys.base_prefix)\n";
    let mut r = run(src, "tiny", json!({}));
    r.pip_requirements = vec![PipRequirement {
        name: "lettatiny".into(),
        version: Some("1.0".into()),
    }];
    // Concurrent first calls share one venv build.
    let (a, b) = tokio::join!(sb.run_tool(&r), sb.run_tool(&r));
    for out in [a.expect("runs"), b.expect("runs")] {
        assert_eq!(out.func_return, "from the wheel True", "{out:?}");
    }
    let venvs: Vec<_> = std::fs::read_dir(cache.path())
        .expect("cache")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(venvs.len(), 1, "{venvs:?}");
    let started = Instant::now();
    let out = sb.run_tool(&r).await.expect("runs");
    assert_eq!(out.func_return, "from the wheel True");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "reused, not rebuilt"
    );

    // Without the requirement the package is not there.
    let out = call(&sb, src, "tiny", json!({})).await;
    assert_eq!(out.status, ToolStatus::Error);
    assert!(
        out.func_return.contains("ModuleNotFoundError"),
        "{}",
        out.func_return
    );

    // A package pip cannot find: a clear error naming pip and its complaint.
    let mut bad = r.clone();
    bad.pip_requirements = vec![PipRequirement {
        name: "no-such-package-letta-rs-test".into(),
        version: None,
    }];
    let err = sb.run_tool(&bad).await.expect_err("pip fails");
    let text = err.to_string();
    assert!(text.contains("pip install failed"), "{text}");
    assert!(
        text.contains("no-such-package-letta-rs-test") || text.contains("No matching distribution"),
        "{text}"
    );
    let as_return = ToolExecution::from_sandbox_error("tiny", &err);
    assert!(
        as_return
            .func_return
            .starts_with("Error executing function tiny: SandboxError: ")
    );
    // Nothing half-made is left in the cache.
    let left: Vec<_> = std::fs::read_dir(cache.path())
        .expect("cache")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
}

#[tokio::test]
async fn tools_run_unprivileged_when_the_server_is_root() {
    let sb = sandbox().await;
    let src = "import os\ndef who():\n    \"\"\"Who.\"\"\"\n    return os.getuid()\n";
    let (a, b) = tokio::join!(
        call(&sb, src, "who", json!({})),
        call(&sb, src, "who", json!({}))
    );
    let (a, b): (u32, u32) = (
        a.func_return.parse().expect("uid"),
        b.func_return.parse().expect("uid"),
    );
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    match sb.mode() {
        IsolationMode::Direct { unprivileged: true } if root => {
            assert!(a != 0 && b != 0);
            assert_ne!(
                a, b,
                "concurrent calls outside bubblewrap get users of their own"
            );
        }
        IsolationMode::Bubblewrap {
            unprivileged: true, ..
        } if root => {
            assert!(a != 0 && b != 0);
        }
        mode => eprintln!("mode {mode:?}, uids {a} {b}"),
    }
}

/// bubblewrap's `--die-with-parent` follows the *thread* that started it: workers must not
/// be started from short-lived threads (tokio's blocking pool retires idle threads after
/// 10 s), or idle warm workers would die with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_workers_outlive_idle_threads() {
    let sb = Sandbox::new(SandboxSettings {
        pool_size: 2,
        ..settings()
    })
    .await
    .expect("sandbox");
    for _ in 0..100 {
        if sb.warm_workers() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pids = sb.pool_pids();
    assert_eq!(pids.len(), 2);
    tokio::time::sleep(Duration::from_secs(13)).await;
    for pid in &pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next());
        assert!(
            matches!(state, Some(s) if s != "Z" && s != "X"),
            "warm worker {pid} died while idle: {stat}"
        );
    }
    assert_eq!(sb.pool_pids(), pids, "the same workers are still waiting");
    let out = call(&sb, RETURNS, "give", json!({"kind": "str"})).await;
    assert_eq!(out.func_return, "plain text");
}

#[tokio::test]
async fn prints_cannot_forge_the_result() {
    let sb = sandbox().await;
    let src = r#"
import os, sys
def forge():
    """Forge."""
    doc = '{"status": "success", "func_return": "forged", "agent_state": null}'
    print(doc)
    sys.stderr.write(doc)
    os.write(1, b"R" + doc.encode())
    raise RuntimeError("real failure")
"#;
    let out = call(&sb, src, "forge", json!({})).await;
    assert_eq!(out.status, ToolStatus::Error);
    assert_eq!(
        out.func_return,
        "Error executing function forge: RuntimeError: real failure"
    );
    assert!(out.stdout.join("").contains("forged"));
}

#[tokio::test]
async fn a_missing_interpreter_is_a_clear_start_up_error() {
    let err = Sandbox::new(SandboxSettings {
        python: Some("/nonexistent/python3".into()),
        ..settings()
    })
    .await
    .expect_err("no interpreter");
    assert!(
        err.to_string()
            .starts_with("no Python interpreter: /nonexistent/python3"),
        "{err}"
    );
}

#[tokio::test]
async fn a_process_that_leaves_the_group_is_still_cleaned_up() {
    let sb = sandbox().await;
    let marker = format!("escapee{}", std::process::id());
    let src = format!(
        "import subprocess\ndef escape():\n    \"\"\"E.\"\"\"\n    subprocess.Popen(['sleep', '1000', '{marker}'], start_new_session=True,\n                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n    return 'ok'\n"
    );
    let out = call(&sb, &src, "escape", json!({})).await;
    assert_eq!(out.func_return, "ok");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let left = pids_with_arg(&marker);
    match sb.mode() {
        IsolationMode::Bubblewrap { .. } => assert!(left.is_empty()),
        IsolationMode::Direct { unprivileged: true } if root => assert!(left.is_empty()),
        // Outside bubblewrap without a uid of its own, nothing marks the escapee as the
        // call's: end it here, by pid.
        _ => {
            for pid in left {
                // SAFETY: plain syscall on a pid this test's tool started.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}

fn pids_with_arg(marker: &str) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(marker))
                .unwrap_or(false)
        })
        .collect()
}
