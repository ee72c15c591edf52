//! Archival search latency: `search_passages` (the 10 nearest) over one agent holding 10,000
//! and then 100,000 passages of 1536 dimensions (random unit vectors), on each store:
//!   - SQLite (a temporary file; always run),
//!   - Postgres without pgvector: `BENCH_POSTGRES_URL` (an admin URL; a database is created
//!     and dropped),
//!   - Postgres with pgvector: `BENCH_PGVECTOR_URL` (e.g. `$(bash scripts/pgvector.sh start)`).
//!
//! Stores whose URL is not set are skipped. `BENCH_PASSAGE_SIZES` overrides the sizes
//! (comma-separated, ascending). Rows are seeded with batched inserts through the store.
//! After criterion's report, a table gives the p50/p95 of the individual searches.
//!
//! `cargo bench --bench passage_search` (under `cargo test --all-targets` it only checks
//! that the benchmark runs, on 300 passages).

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode};
use letta_rs::schemas::llm_config::{EmbeddingConfig, LlmConfig};
use letta_rs::schemas::org::Organization;
use letta_rs::schemas::passage::Passage;
use letta_rs::schemas::{agent::AgentType, common::now, new_id};
use letta_rs::store::postgres::PgStore;
use letta_rs::store::sqlite::SqliteStore;
use letta_rs::store::{AgentRow, DynStore, NewAgent};
use rand::{Rng, SeedableRng};
use serde_json::json;

const DIM: usize = 1536;
/// Passages per `insert_passages` call while seeding.
const SEED_BATCH: usize = 1000;
const TOP_K: i64 = 10;

fn unit_vector(rng: &mut impl Rng) -> Vec<f32> {
    let v: Vec<f32> = (0..DIM).map(|_| rng.r#gen::<f32>() * 2.0 - 1.0).collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

fn embedding_config() -> EmbeddingConfig {
    serde_json::from_value(json!({
        "embedding_endpoint_type": "openai",
        "embedding_endpoint": "https://api.openai.com/v1",
        "embedding_model": "text-embedding-3-small",
        "embedding_dim": DIM,
        "embedding_chunk_size": 300,
    }))
    .expect("embedding config")
}

fn llm_config() -> LlmConfig {
    serde_json::from_value(json!({
        "model": "gpt-4o-mini",
        "model_endpoint_type": "openai",
        "model_endpoint": "https://api.openai.com/v1",
        "context_window": 128000,
    }))
    .expect("llm config")
}

/// A database holding one organization with one agent.
struct Target {
    name: &'static str,
    store: DynStore,
    pg: Option<Arc<PgStore>>,
    org_id: String,
    agent_id: String,
    seeded: usize,
    /// Cleanup: (admin URL, database) for Postgres, the directory for SQLite.
    drop_db: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

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

async fn setup(target_name: &'static str, admin: Option<&str>) -> Target {
    let (store, pg, drop_db, dir): (DynStore, Option<Arc<PgStore>>, _, _) = match admin {
        None => {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = SqliteStore::open_file(&dir.path().join("bench.db"))
                .await
                .expect("open sqlite");
            (Arc::new(store), None, None, Some(dir))
        }
        Some(admin) => {
            let db = format!("letta_rs_bench_{}_{}", std::process::id(), target_name);
            let pool = sqlx::PgPool::connect(admin)
                .await
                .expect("connect to Postgres");
            sqlx::query(&format!("DROP DATABASE IF EXISTS {db}"))
                .execute(&pool)
                .await
                .expect("drop old bench database");
            sqlx::query(&format!("CREATE DATABASE {db}"))
                .execute(&pool)
                .await
                .expect("create bench database");
            pool.close().await;
            let pg = Arc::new(
                PgStore::connect(&with_database(admin, &db), 4)
                    .await
                    .expect("connect bench database"),
            );
            (pg.clone(), Some(pg), Some((admin.to_owned(), db)), None)
        }
    };
    store.ensure_defaults().await.expect("defaults");
    let org = Organization {
        id: new_id("org"),
        name: "bench".to_owned(),
        created_at: None,
        privileged_tools: false,
    };
    store.create_org(&org).await.expect("org");
    let ts = now();
    let row = AgentRow {
        id: new_id("agent"),
        organization_id: org.id.clone(),
        agent_type: AgentType::MemgptAgent,
        name: "bench".to_owned(),
        description: None,
        system: "bench".to_owned(),
        message_ids: Vec::new(),
        response_format: None,
        metadata: None,
        llm_config: llm_config(),
        embedding_config: embedding_config(),
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
    let agent_id = row.id.clone();
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
    println!(
        "{target_name}: vector index = {}",
        letta_rs::store::PassageStore::vector_index(&*store)
    );
    Target {
        name: target_name,
        store,
        pg,
        org_id: org.id,
        agent_id,
        seeded: 0,
        drop_db,
        _dir: dir,
    }
}

/// Grows the agent's archive to `size` passages.
async fn seed(target: &mut Target, size: usize) {
    let started = Instant::now();
    let from = target.seeded;
    let mut rng = rand::rngs::StdRng::seed_from_u64(from as u64 + 1);
    let config = embedding_config();
    let base = now() - chrono::Duration::days(365);
    while target.seeded < size {
        let n = SEED_BATCH.min(size - target.seeded);
        let batch: Vec<Passage> = (0..n)
            .map(|i| {
                let k = target.seeded + i;
                let ts = base + chrono::Duration::milliseconds(k as i64);
                Passage {
                    created_by_id: None,
                    last_updated_by_id: None,
                    created_at: ts,
                    updated_at: Some(ts),
                    is_deleted: false,
                    organization_id: Some(target.org_id.clone()),
                    agent_id: Some(target.agent_id.clone()),
                    source_id: None,
                    file_id: None,
                    file_name: None,
                    metadata: Some(serde_json::Map::new()),
                    id: new_id("passage"),
                    text: format!("archival passage number {k}: some remembered text of a typical chunk length"),
                    embedding: Some(unit_vector(&mut rng)),
                    embedding_config: Some(config.clone()),
                }
            })
            .collect();
        target
            .store
            .insert_passages(&batch)
            .await
            .expect("seed passages");
        target.seeded += n;
    }
    if let Some(pg) = &target.pg {
        sqlx::query("VACUUM ANALYZE agent_passages")
            .execute(pg.pool())
            .await
            .expect("analyze");
    }
    println!(
        "{}: seeded {} -> {} passages in {:.1} s",
        target.name,
        from,
        size,
        started.elapsed().as_secs_f64()
    );
}

async fn teardown(target: Target) {
    let Target {
        store, pg, drop_db, ..
    } = target;
    if let Some(pg) = pg {
        pg.pool().close().await;
    }
    drop(store);
    if let Some((admin, db)) = drop_db
        && let Ok(pool) = sqlx::PgPool::connect(&admin).await
    {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            .execute(&pool)
            .await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let mut criterion = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it
    // (criterion's test mode: each benchmark once), where a small archive is enough.
    let args: Vec<String> = std::env::args().collect();
    let benchmarking = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test");
    let default_sizes = if benchmarking { "10000,100000" } else { "300" };
    let sizes: Vec<usize> = std::env::var("BENCH_PASSAGE_SIZES")
        .unwrap_or_else(|_| default_sizes.to_owned())
        .split(',')
        .filter_map(|s| s.trim().replace('_', "").parse().ok())
        .collect();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let mut targets: Vec<(&'static str, Option<String>)> = vec![("sqlite", None)];
    match env("BENCH_POSTGRES_URL") {
        Some(url) => targets.push(("postgres", Some(url))),
        None => println!("postgres (no pgvector): skipped, BENCH_POSTGRES_URL is not set"),
    }
    match env("BENCH_PGVECTOR_URL") {
        Some(url) => targets.push(("pgvector", Some(url))),
        None => println!("pgvector: skipped, BENCH_PGVECTOR_URL is not set"),
    }

    let mut queries_rng = rand::rngs::StdRng::seed_from_u64(0xbe_ec4);
    let queries: Vec<Vec<f32>> = (0..64).map(|_| unit_vector(&mut queries_rng)).collect();
    let mut summary = Vec::new();
    for (name, url) in targets {
        let mut target = rt.block_on(setup(name, url.as_deref()));
        for &size in &sizes {
            rt.block_on(seed(&mut target, size));
            let latencies = RefCell::new(Vec::new());
            let mut next = 0usize;
            let mut group = criterion.benchmark_group("passage_search");
            group.sampling_mode(SamplingMode::Flat);
            group.bench_function(BenchmarkId::new(name, size), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let query = &queries[next % queries.len()];
                        next += 1;
                        let started = Instant::now();
                        let found = rt
                            .block_on(target.store.search_passages(
                                &target.org_id,
                                &target.agent_id,
                                query,
                                0,
                                TOP_K,
                            ))
                            .expect("search");
                        let took = started.elapsed();
                        assert_eq!(found.len(), TOP_K as usize);
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
                summary.push((
                    name,
                    size,
                    all.len(),
                    percentile(&all, 0.5),
                    percentile(&all, 0.95),
                ));
            }
        }
        rt.block_on(teardown(target));
    }
    criterion.final_summary();

    println!("\nsearch_passages, top {TOP_K}, {DIM} dimensions, one agent:");
    println!(
        "{:<10} {:>9} {:>8} {:>12} {:>12}",
        "store", "passages", "searches", "p50", "p95"
    );
    for (name, size, n, p50, p95) in summary {
        println!(
            "{name:<10} {size:>9} {n:>8} {:>9.2} ms {:>9.2} ms",
            p50.as_secs_f64() * 1000.0,
            p95.as_secs_f64() * 1000.0
        );
    }
}
