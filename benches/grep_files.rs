//! The `grep_files` tool over an agent's 100 files of 2,000 lines each (~10 MB of text),
//! through the real code path: the files tool's executor (`tools/files.rs`) reading the
//! agent's file rows and each file's text from the store, on a temporary SQLite file (and,
//! with `BENCH_POSTGRES_URL`, a fresh Postgres database). Two patterns:
//!   - `rare`: one line in every tenth file matches, so every file is read and scanned;
//!   - `common`: most lines match, so the tool stops at its 50-match cap after a file or two.
//!
//! Reproduce: `cargo bench --bench grep_files` (SQLite), or
//! `BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench grep_files`.
//! After criterion's report a table gives the mean, p50 and p95 of the individual calls.
//! `BENCH_GREP_FILES` and `BENCH_GREP_LINES` override the sizes. Under
//! `cargo test --all-targets` it only checks that the benchmark runs, on 5 files of 200 lines.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};
use letta_rs::config::Config;
use letta_rs::ingest::file_types;
use letta_rs::ingest::job::MAX_FILES_OPEN;
use letta_rs::ingest::lines;
use letta_rs::replica::ReplicaId;
use letta_rs::schemas::file::{FileMetadata, FileProcessingStatus};
use letta_rs::schemas::org::{Actor, Organization};
use letta_rs::schemas::source::Source;
use letta_rs::schemas::tool::{Tool, ToolType};
use letta_rs::schemas::{agent::AgentType, common::now, new_id};
use letta_rs::store::postgres::PgStore;
use letta_rs::store::sqlite::SqliteStore;
use letta_rs::store::{AgentRow, DynStore, FileProgress, FileToOpen, NewAgent};
use letta_rs::tools::executor::ToolContext;
use letta_rs::tools::registry::executor_for;
use serde_json::{Map, Value, json};

fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let scheme_end = base.find("//").map_or(0, |i| i + 2);
    match base[scheme_end..].find('/') {
        Some(slash) => format!("{}/{db}{query}", &base[..scheme_end + slash]),
        None => format!("{base}/{db}{query}"),
    }
}

/// A Python-looking source file of `lines` lines (~50 characters each); file `n % 10 == 0`
/// holds one line with the rare identifier.
fn file_text(n: usize, lines: usize) -> String {
    let mut out = String::with_capacity(lines * 72);
    for i in 0..lines {
        let line = match i % 8 {
            0 => format!("def handler_{n}_{i}(request, context, retries=3):"),
            1 => {
                format!("    \"\"\"Handles request {i} of module {n} and returns its result.\"\"\"")
            }
            2 => "    payload = request.get(\"payload\") or {}".to_owned(),
            3 => format!("    for attempt in range(retries):  # step {i}"),
            4 => "        result = context.client.send(payload, timeout=30)".to_owned(),
            5 => "        if result.status_code < 500:".to_owned(),
            6 => "            return result.json()".to_owned(),
            _ => format!("    raise RuntimeError(\"request {i} failed after retries\")"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    if n.is_multiple_of(10) {
        out.push_str("ZEPHYR_CANARY_TOKEN = 'rare-value'\n");
    }
    out
}

struct Seeded {
    actor: Actor,
    agent_id: String,
}

/// One organization, one agent with a source of `files` files of `lines` lines attached
/// (the first five open, as the open-file limit leaves them).
async fn seed(store: &DynStore, files: usize, lines: usize) -> Seeded {
    store.ensure_defaults().await.expect("defaults");
    let org = Organization {
        id: new_id("org"),
        name: "bench".to_owned(),
        created_at: None,
        privileged_tools: false,
    };
    store.create_org(&org).await.expect("org");
    let actor = Actor {
        user_id: "user-00000000-0000-4000-8000-000000000000".to_owned(),
        organization_id: org.id.clone(),
    };
    let embedding_config = serde_json::from_value(json!({"embedding_endpoint_type": "openai",
        "embedding_endpoint": "https://api.openai.com/v1", "embedding_model": "text-embedding-3-small",
        "embedding_dim": 1536, "embedding_chunk_size": 300}))
    .expect("embedding");
    let ts = now();
    let source = Source {
        id: new_id("source"),
        name: "code".to_owned(),
        description: None,
        instructions: None,
        embedding_config,
        organization_id: Some(org.id.clone()),
        metadata: None,
        created_by_id: None,
        last_updated_by_id: None,
        created_at: Some(ts),
        updated_at: Some(ts),
    };
    store.create_source(&source).await.expect("source");
    let agent_id = new_id("agent");
    let row = AgentRow {
        id: agent_id.clone(),
        organization_id: org.id.clone(),
        agent_type: AgentType::MemgptAgent,
        name: "bench".to_owned(),
        description: None,
        system: "bench".to_owned(),
        message_ids: Vec::new(),
        response_format: None,
        metadata: None,
        llm_config: serde_json::from_value(
            json!({"model": "gpt-4o-mini", "model_endpoint_type": "openai",
            "model_endpoint": "https://api.openai.com/v1", "context_window": 128000}),
        )
        .expect("llm"),
        embedding_config: source.embedding_config.clone(),
        tool_rules: Vec::new(),
        project_id: None,
        template_id: None,
        base_template_id: None,
        message_buffer_autoclear: false,
        enable_sleeptime: None,
        last_run_completion: None,
        last_run_duration_ms: None,
        timezone: None,
        created_by_id: None,
        last_updated_by_id: None,
        created_at: ts,
        updated_at: ts,
    };
    store
        .create_agent(&NewAgent {
            row,
            new_blocks: Vec::new(),
            block_ids: Vec::new(),
            tool_ids: Vec::new(),
            tags: Vec::new(),
            identity_ids: Vec::new(),
            env_vars: Vec::new(),
            messages: Vec::new(),
        })
        .await
        .expect("agent");
    store
        .attach_source(&agent_id, &source.id)
        .await
        .expect("attach");
    let replica = ReplicaId {
        name: "bench".to_owned(),
        incarnation: "1".to_owned(),
    };
    let mut to_open = Vec::with_capacity(files);
    for n in 0..files {
        let name = format!("module_{n:03}.py");
        let text = file_text(n, lines);
        let file = FileMetadata {
            file_type: Some("text/x-python".to_owned()),
            file_size: Some(text.len() as i64),
            ..FileMetadata::pending(
                &org.id,
                &source.id,
                format!("{}/{name}", source.name),
                name.clone(),
                ts,
            )
        };
        store.create_file(&file, &replica).await.expect("file");
        assert!(store.set_file_content(&file.id, &text).await.expect("text"));
        let done = FileProgress {
            status: Some(FileProcessingStatus::Completed),
            ..FileProgress::default()
        };
        assert!(
            store
                .update_file_progress(&file.id, &done)
                .await
                .expect("completed")
        );
        let file_name = file.file_name.clone().unwrap_or_default();
        let strategy = file_types::strategy_for(file.file_type.as_deref(), &file_name);
        to_open.push(FileToOpen {
            file_id: file.id.clone(),
            source_id: source.id.clone(),
            visible_content: lines::full_view(&file_name, &text, strategy),
            file_name,
        });
    }
    // Newest first, as the ingestion opens them: the first five stay open.
    to_open.reverse();
    store
        .open_files(&org.id, &agent_id, &to_open, MAX_FILES_OPEN)
        .await
        .expect("open files");
    Seeded { actor, agent_id }
}

fn grep_tool() -> Tool {
    Tool {
        id: new_id("tool"),
        tool_type: ToolType::LettaFilesCore,
        description: None,
        source_type: None,
        organization_id: None,
        name: Some("grep_files".to_owned()),
        tags: Vec::new(),
        source_code: None,
        json_schema: None,
        args_json_schema: None,
        return_char_limit: None,
        pip_requirements: None,
        created_by_id: None,
        last_updated_by_id: None,
        metadata_: None,
    }
}

/// Default settings on a free loopback port (the server is built for its state only).
fn config() -> Config {
    let mut config = Config::for_tests();
    config.host = "127.0.0.1".to_owned();
    config.port = 0;
    config
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Target {
    name: &'static str,
    store: DynStore,
    /// The Postgres admin URL and database to drop at the end.
    drop: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

async fn targets() -> Vec<Target> {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = SqliteStore::open_file(&dir.path().join("bench.db"))
        .await
        .expect("open sqlite");
    let mut out = vec![Target {
        name: "sqlite",
        store: Arc::new(sqlite),
        drop: None,
        _dir: Some(dir),
    }];
    if let Ok(admin) = std::env::var("BENCH_POSTGRES_URL") {
        let db = format!("letta_rs_bench_grep_{}", std::process::id());
        let pool = sqlx::PgPool::connect(&admin)
            .await
            .expect("connect to Postgres");
        sqlx::query(&format!("CREATE DATABASE {db}"))
            .execute(&pool)
            .await
            .expect("create bench database");
        let pg = PgStore::connect(&with_database(&admin, &db), 4)
            .await
            .expect("connect bench database");
        out.push(Target {
            name: "postgres",
            store: Arc::new(pg),
            drop: Some((admin, db)),
            _dir: None,
        });
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it
    // (criterion's test mode: each benchmark once), where a few small files are enough.
    let benchmarking = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test");
    let size = |var: &str, bench: usize, test: usize| {
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if benchmarking { bench } else { test })
    };
    let (files, lines) = (
        size("BENCH_GREP_FILES", 100, 5),
        size("BENCH_GREP_LINES", 2000, 200),
    );
    let mut criterion = Criterion::default()
        .configure_from_args()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut summary = Vec::new();
    for target in rt.block_on(targets()) {
        let seeded = rt.block_on(seed(&target.store, files, lines));
        let app = rt
            .block_on(letta_rs::Application::build_with_store(
                config(),
                target.store.clone(),
            ))
            .expect("app");
        let state = app.state().clone();
        let tool = grep_tool();
        for (case, pattern, expect) in [
            ("rare", "zephyr_canary", "Found"),
            ("common", "result", "[TRUNCATED]"),
        ] {
            let mut call_args = Map::new();
            call_args.insert("pattern".to_owned(), Value::from(pattern));
            let latencies = RefCell::new(Vec::new());
            let mut group = criterion.benchmark_group("grep_files");
            group.sampling_mode(SamplingMode::Flat);
            group.bench_function(format!("{}/{case}/{files}x{lines}", target.name), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let ctx = ToolContext::new(&state, &seeded.actor, &seeded.agent_id, None);
                        let started = Instant::now();
                        let outcome = rt.block_on(
                            executor_for(ToolType::LettaFilesCore).execute(&ctx, &tool, &call_args),
                        );
                        let took = started.elapsed();
                        assert!(
                            outcome.ok && outcome.message.contains(expect),
                            "{}",
                            outcome.message
                        );
                        latencies.borrow_mut().push(took);
                        total += took;
                    }
                    total
                });
            });
            group.finish();
            let mut all = latencies.into_inner();
            all.sort();
            if !all.is_empty() {
                let mean = all.iter().sum::<Duration>() / all.len() as u32;
                summary.push((
                    target.name,
                    case,
                    all.len(),
                    mean,
                    percentile(&all, 0.5),
                    percentile(&all, 0.95),
                ));
            }
        }
        drop(state);
        drop(app);
        if let Some((admin, db)) = &target.drop {
            rt.block_on(async {
                let pool = sqlx::PgPool::connect(admin)
                    .await
                    .expect("connect to Postgres");
                sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                    .execute(&pool)
                    .await
                    .expect("drop bench database");
            });
        }
    }
    criterion.final_summary();

    println!("\ngrep_files over {files} files of {lines} lines, one agent:");
    println!(
        "{:<10} {:<8} {:>6} {:>12} {:>12} {:>12}",
        "store", "pattern", "calls", "mean", "p50", "p95"
    );
    for (name, case, n, mean, p50, p95) in summary {
        println!(
            "{name:<10} {case:<8} {n:>6} {:>9.2} ms {:>9.2} ms {:>9.2} ms",
            mean.as_secs_f64() * 1000.0,
            p50.as_secs_f64() * 1000.0,
            p95.as_secs_f64() * 1000.0
        );
    }
}
