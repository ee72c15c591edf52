//! Per-call overhead of the tool sandbox for a tool that returns at once: cold (no warm
//! pool) and warm p50/p95, calls/s at concurrency 8, and the RSS of the idle warm pool.
//!
//! Usage: cargo run --release --example sandbox_bench -- [--calls N] [--pool N] [--bwrap auto|on|off]
//! (`scripts/bench_sandbox.sh` runs it.) Set `RUST_LOG=debug` to see start-up probing.

use std::time::{Duration, Instant};

use letta_rs::sandbox::{BwrapMode, Sandbox, SandboxSettings, ToolRun, ToolStatus};
use serde_json::json;

const TOOL: &str = "def ping(x: int):\n    \"\"\"Ping.\n\n    Args:\n        x: a number\n    \"\"\"\n    return x + 1\n";

fn run_for(i: i64) -> ToolRun {
    ToolRun {
        source_code: TOOL.into(),
        function: "ping".into(),
        args: json!({"x": i}).as_object().cloned().unwrap_or_default(),
        ..ToolRun::default()
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

async fn sequential(sb: &Sandbox, calls: usize, settle: bool) -> Vec<Duration> {
    let mut times = Vec::with_capacity(calls);
    for i in 0..calls {
        if settle {
            // Let the pool refill, as between the calls of a real agent loop.
            for _ in 0..200 {
                if sb.warm_workers() >= sb.settings().pool_size {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        let started = Instant::now();
        let out = sb.run_tool(&run_for(i as i64)).await;
        times.push(started.elapsed());
        match out {
            Ok(r) if r.status == ToolStatus::Success && r.func_return == (i + 1).to_string() => {}
            other => panic!("call failed: {other:?}"),
        }
    }
    times.sort();
    times
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// RSS of a process and all its descendants (bwrap runs the interpreter as a grandchild).
fn tree_rss_kib(pid: u32) -> u64 {
    let mut total = rss_kib(pid);
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    for c in children.split_whitespace().filter_map(|c| c.parse().ok()) {
        total += tree_rss_kib(c);
    }
    total
}

#[tokio::main]
async fn main() {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    if let Err(err) = letta_rs::telemetry::init(&filter, letta_rs::config::LogFormat::Text) {
        eprintln!("sandbox_bench: {err}");
        std::process::exit(2);
    }
    let mut calls = 200usize;
    let mut pool = 4usize;
    let mut bwrap = BwrapMode::Auto;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--calls" => calls = args.next().and_then(|v| v.parse().ok()).unwrap_or(calls),
            "--pool" => pool = args.next().and_then(|v| v.parse().ok()).unwrap_or(pool),
            "--bwrap" => {
                bwrap = match args.next().as_deref() {
                    Some("on") => BwrapMode::On,
                    Some("off") => BwrapMode::Off,
                    _ => BwrapMode::Auto,
                }
            }
            other => panic!("unknown argument {other}"),
        }
    }
    let base = SandboxSettings {
        use_bwrap: bwrap,
        max_concurrent: 8,
        ..SandboxSettings::default()
    };

    let cold = match Sandbox::new(SandboxSettings {
        pool_size: 0,
        ..base.clone()
    })
    .await
    {
        Ok(s) => s,
        Err(e) => panic!("sandbox: {e}"),
    };
    println!(
        "python: {}  mode: {:?}",
        cold.python().display(),
        cold.mode()
    );
    let t = sequential(&cold, calls.min(100), false).await;
    println!(
        "cold (pool 0):  p50 {:.2} ms  p95 {:.2} ms  ({} calls)",
        pct(&t, 0.5),
        pct(&t, 0.95),
        t.len()
    );

    let warm = match Sandbox::new(SandboxSettings {
        pool_size: pool,
        ..base.clone()
    })
    .await
    {
        Ok(s) => s,
        Err(e) => panic!("sandbox: {e}"),
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pids = warm.pool_pids();
    let rss: u64 = pids.iter().map(|p| tree_rss_kib(*p)).sum();
    println!(
        "warm pool: {} idle workers, RSS {:.1} MiB total ({:.1} MiB each)",
        pids.len(),
        rss as f64 / 1024.0,
        rss as f64 / 1024.0 / pids.len().max(1) as f64
    );
    let t = sequential(&warm, calls, true).await;
    println!(
        "warm (pool {pool}): p50 {:.2} ms  p95 {:.2} ms  ({} calls)",
        pct(&t, 0.5),
        pct(&t, 0.95),
        t.len()
    );

    for (label, sb) in [("cold", &cold), ("warm", &warm)] {
        let total = calls * 2;
        let started = Instant::now();
        let mut handles = Vec::new();
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for _ in 0..8 {
            let sb = sb.clone();
            let next = next.clone();
            handles.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    match sb.run_tool(&run_for(i as i64)).await {
                        Ok(r) if r.status == ToolStatus::Success => {}
                        other => panic!("call failed: {other:?}"),
                    }
                }
            }));
        }
        for h in handles {
            let _ = h.await;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{label}: concurrency 8: {:.0} calls/s ({total} calls in {secs:.2} s)",
            total as f64 / secs
        );
    }
}
