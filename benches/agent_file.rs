//! Agent-file export and import time for one agent holding 10,000 messages (plus its blocks
//! and built-in tools), through `AgentFileService` on each store:
//!   - SQLite (a temporary file; always run),
//!   - Postgres: `BENCH_POSTGRES_URL` (an admin URL; a database is created and dropped).
//!
//! `cargo bench --bench agent_file` (or `bash scripts/bench_agent_file.sh`). Under
//! `cargo test --all-targets` it only checks that the benchmark runs, on 200 messages.
//! `BENCH_AGENT_FILE_MESSAGES` overrides the message count.

use std::sync::Arc;
use std::time::Instant;

use letta_rs::config::Config;
use letta_rs::ingest::job::IngestLimits;
use letta_rs::llm::ProviderKeys;
use letta_rs::mcp::McpPool;
use letta_rs::mcp::pool::McpSettings;
use letta_rs::replica::ReplicaId;
use letta_rs::sandbox::{SandboxSettings, SharedSandbox};
use letta_rs::schemas::block::Block;
use letta_rs::schemas::message::{Message, MessageRole, text_part};
use letta_rs::schemas::org::{Actor, Organization};
use letta_rs::schemas::{agent::AgentType, common::now, new_id};
use letta_rs::services::agent_file::{AgentFileService, ImportOptions};
use letta_rs::services::files::FileService;
use letta_rs::services::mcp_servers::McpServerService;
use letta_rs::store::postgres::PgStore;
use letta_rs::store::sqlite::SqliteStore;
use letta_rs::store::{AgentRow, DynStore, NewAgent};
use serde_json::json;

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

/// A store with one organization holding one agent of `n` messages; returns its actor and
/// agent id.
async fn seed(store: &DynStore, n: usize) -> (Actor, String) {
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
    let agent_id = new_id("agent");
    let ts = now();
    let mut messages = Vec::with_capacity(n);
    for i in 0..n {
        let role = match i {
            0 => MessageRole::System,
            _ if i % 2 == 1 => MessageRole::User,
            _ => MessageRole::Assistant,
        };
        let text = format!("message {i}: the quick brown fox jumps over the lazy dog");
        messages.push(Message::new(
            &org.id,
            &agent_id,
            &actor.user_id,
            role,
            vec![text_part(text)],
            None,
            ts,
        ));
    }
    let in_context: Vec<String> = std::iter::once(0)
        .chain(n.saturating_sub(50).max(1)..n)
        .filter_map(|i| messages.get(i).map(|m| m.id.clone()))
        .collect();
    let block = |label: &str, value: &str| Block {
        value: value.to_owned(),
        limit: 5000,
        name: None,
        is_template: false,
        preserve_on_migration: None,
        label: Some(label.to_owned()),
        read_only: false,
        description: None,
        metadata: Some(Default::default()),
        id: new_id("block"),
        organization_id: Some(org.id.clone()),
        created_by_id: None,
        last_updated_by_id: None,
    };
    let row = AgentRow {
        id: agent_id.clone(),
        organization_id: org.id.clone(),
        agent_type: AgentType::MemgptAgent,
        name: "bench".to_owned(),
        description: None,
        system: "bench".to_owned(),
        message_ids: in_context,
        response_format: None,
        metadata: None,
        llm_config: serde_json::from_value(json!({"model": "gpt-4o-mini", "model_endpoint_type": "openai",
            "model_endpoint": "https://api.openai.com/v1", "context_window": 128000})).expect("llm"),
        embedding_config: serde_json::from_value(json!({"embedding_endpoint_type": "openai",
            "embedding_endpoint": "https://api.openai.com/v1", "embedding_model": "text-embedding-3-small",
            "embedding_dim": 1536, "embedding_chunk_size": 300})).expect("embedding"),
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
            new_blocks: vec![
                block("human", "Name: bench"),
                block("persona", "A bench agent."),
            ],
            block_ids: Vec::new(),
            tool_ids: Vec::new(),
            tags: vec!["bench".to_owned()],
            identity_ids: Vec::new(),
            env_vars: Vec::new(),
            messages,
        })
        .await
        .expect("agent");
    (actor, agent_id)
}

async fn run(name: &str, store: DynStore, n: usize) {
    let (actor, agent_id) = seed(&store, n).await;
    let config = Config::for_tests();
    let sandbox = SharedSandbox::new(SandboxSettings::default());
    let keys = Arc::new(ProviderKeys::from(&config));
    let replica = ReplicaId::for_process(&config);
    let pool = McpPool::new(McpSettings::from_config(&config));
    let limits = IngestLimits::from_config(&config);
    let service = AgentFileService::new(
        store.as_ref(),
        &sandbox,
        McpServerService::new(&store, &pool),
        FileService::new(&store, &keys, &replica, limits),
    );
    let started = Instant::now();
    let file = service.export(&actor, &agent_id).await.expect("export");
    let export_ms = started.elapsed().as_secs_f64() * 1000.0;
    let bytes = serde_json::to_vec_pretty(&file).expect("serialize");
    let started = Instant::now();
    let ids = service
        .import(&actor, &bytes, &ImportOptions::default())
        .await
        .expect("import");
    let import_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(
        store.count_agent_messages(&ids[0]).await.expect("count"),
        n as i64
    );
    println!(
        "{name:<9} {n:>6} messages  file {:>6.1} MB  export {export_ms:>8.1} ms  import {import_ms:>8.1} ms",
        bytes.len() as f64 / 1e6
    );
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("BENCH_AGENT_FILE_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if bench { 10_000 } else { 200 });
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let sqlite = SqliteStore::open_file(&dir.path().join("bench.db"))
            .await
            .expect("open sqlite");
        run("sqlite", Arc::new(sqlite), n).await;
        if let Ok(admin) = std::env::var("BENCH_POSTGRES_URL") {
            let db = format!("letta_rs_bench_af_{}", std::process::id());
            let pool = sqlx::PgPool::connect(&admin)
                .await
                .expect("connect to Postgres");
            sqlx::query(&format!("CREATE DATABASE {db}"))
                .execute(&pool)
                .await
                .expect("create bench database");
            {
                let pg = PgStore::connect(&with_database(&admin, &db), 4)
                    .await
                    .expect("connect bench database");
                run("postgres", Arc::new(pg), n).await;
            }
            sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .execute(&pool)
                .await
                .expect("drop bench database");
        }
    });
}
