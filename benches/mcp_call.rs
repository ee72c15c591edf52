//! The cost of an MCP tool call over stdio with a warm session: `echo` on the test server
//! (`examples/mcp_test_server.rs`, whose own time for it is a few microseconds), called
//!   - through [`McpPool::call_tool`] (what the agent loop does: pool lookup, session reuse),
//!   - on an [`McpSession`] directly (the rmcp round trip alone),
//!   - and `slow(ms = 5)` through the pool, whose time beyond the 5 ms is the overhead.
//!
//! After criterion's report, a table gives the p50/p95 of 2,000 individual pool calls.
//! `cargo bench --bench mcp_call` (under `cargo test --all-targets` each benchmark runs once).
//! The test server is built (release) when missing.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::Criterion;
use letta_rs::mcp::pool::McpSettings;
use letta_rs::mcp::{McpPool, McpSession, McpTarget};
use serde_json::{Map, Value, json};

fn server_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("bench path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target profile directory")
        .to_path_buf();
    let bin = profile_dir.join("examples").join("mcp_test_server");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = std::process::Command::new(cargo);
        cmd.args(["build", "--example", "mcp_test_server"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo");
        assert!(status.success(), "cannot build the MCP test server");
    }
    bin
}

fn args(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let mut criterion = Criterion::default()
        .configure_from_args()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let bench_args: Vec<String> = std::env::args().collect();
    let benchmarking =
        bench_args.iter().any(|a| a == "--bench") && !bench_args.iter().any(|a| a == "--test");

    let target = McpTarget::Stdio {
        command: server_bin().to_string_lossy().into_owned(),
        args: vec![],
        env: Default::default(),
    };
    let pool = McpPool::new(McpSettings {
        connect: Duration::from_secs(30),
        list: Duration::from_secs(30),
        call: Duration::from_secs(30),
        allow_stdio: true,
    });
    let echo = args(json!({"text": "hello"}));
    let slow = args(json!({"ms": 5}));
    let session = rt
        .block_on(McpSession::connect(&target, Duration::from_secs(30)))
        .expect("connect");
    // Warm the pool's session.
    rt.block_on(pool.call_tool("bench", &target, "echo", &echo))
        .expect("first call");

    let mut group = criterion.benchmark_group("mcp_stdio");
    group.bench_function("pool_echo", |b| {
        b.iter(|| {
            rt.block_on(pool.call_tool("bench", &target, "echo", &echo))
                .expect("echo")
        })
    });
    group.bench_function("session_echo", |b| {
        b.iter(|| {
            rt.block_on(session.call_tool("echo", echo.clone(), Duration::from_secs(30)))
                .expect("echo")
        })
    });
    group.bench_function("pool_slow_5ms", |b| {
        b.iter(|| {
            rt.block_on(pool.call_tool("bench", &target, "slow", &slow))
                .expect("slow")
        })
    });
    group.finish();

    let n = if benchmarking { 2000 } else { 20 };
    let mut times: Vec<Duration> = rt.block_on(async {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let started = Instant::now();
            pool.call_tool("bench", &target, "echo", &echo)
                .await
                .expect("echo");
            out.push(started.elapsed());
        }
        out
    });
    times.sort();
    println!(
        "mcp_stdio pool_echo over {n} calls: p50 {:?}, p95 {:?}, max {:?}",
        percentile(&times, 0.5),
        percentile(&times, 0.95),
        percentile(&times, 1.0)
    );
    criterion.final_summary();
}
