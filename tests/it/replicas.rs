//! Real server processes (the built binary) on one Postgres and one Redis: a run started
//! on one replica is cancelled and its stream resumed through another, and a replica
//! killed with SIGKILL leaves no run stuck and no agent locked.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{self, Backend, TestApp, create_agent, id_of};
use crate::mock_llm::{MockLlm, MockReply};
use crate::sse::{Frame, SseStream, data};

const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// A server process; killed when dropped.
pub(crate) struct Replica {
    pub(crate) child: Child,
    pub(crate) app: TestApp,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the server binary on a free port against the test Postgres database, as the
/// given user (whose organization was made through `store`).
async fn start_replica(
    llm: &MockLlm,
    redis: bool,
    db_url: &str,
    store: &letta_rs::store::DynStore,
    org_id: &str,
    user_id: &str,
) -> Replica {
    let mut env = vec![
        ("DATABASE_URL", db_url.to_owned()),
        ("LETTA_RUN_STALE_AFTER_SECS", "1".to_owned()),
        ("LETTA_AGENT_LEASE_TTL_SECS", "2".to_owned()),
    ];
    if redis {
        env.push(("REDIS_URL", REDIS_URL.to_owned()));
    }
    start_replica_with(llm, store, org_id, user_id, free_port(), &env).await
}

/// The server binary on `port` with the mock LLM and these settings; stdout is dropped.
pub(crate) fn server_command(llm: &MockLlm, port: u16, env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_letta-rs"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("LETTA_HOST", "127.0.0.1")
        .env("LETTA_PORT", port.to_string())
        .env("LETTA_PG_POOL_SIZE", "4")
        .env("OPENAI_API_KEY", "sk-test")
        .env("OPENAI_API_BASE", llm.base_url())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd
}

/// Starts the server binary on `port` with these settings (the database among them) and
/// waits until it answers, acting as the given user.
pub(crate) async fn start_replica_with(
    llm: &MockLlm,
    store: &letta_rs::store::DynStore,
    org_id: &str,
    user_id: &str,
    port: u16,
    env: &[(&str, String)],
) -> Replica {
    start_replica_cmd(server_command(llm, port, env), store, org_id, user_id, port).await
}

/// Starts `cmd` (a [`server_command`] on `port`) and waits until it answers.
pub(crate) async fn start_replica_cmd(
    mut cmd: Command,
    store: &letta_rs::store::DynStore,
    org_id: &str,
    user_id: &str,
    port: u16,
) -> Replica {
    let child = cmd.spawn().expect("start the server binary");
    let app = TestApp {
        backend: Backend::Postgres,
        base_url: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
        store: store.clone(),
        org_id: org_id.to_owned(),
        user_id: user_id.to_owned(),
    };
    let mut replica = Replica { child, app };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(resp) = replica
            .app
            .client
            .get(replica.app.url("/v1/health/"))
            .send()
            .await
            && resp.status() == StatusCode::OK
        {
            break;
        }
        if let Ok(Some(status)) = replica.child.try_wait() {
            panic!("replica exited at start-up: {status}");
        }
        assert!(Instant::now() < deadline, "replica did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    replica
}

pub(crate) fn slow_reply(text: &str) -> MockReply {
    MockReply::tool_call(
        "send_message",
        json!({"inner_thoughts": "taking my time", "message": text}),
    )
    .chunk_chars(2)
    .chunk_delay(Duration::from_millis(150))
}

pub(crate) fn request(text: &str) -> Value {
    json!({"messages": [{"role": "user", "content": text}], "stream_tokens": true})
}

pub(crate) async fn open_stream(app: &TestApp, agent: &str, body: &Value) -> SseStream {
    SseStream::open(
        &app.client,
        &app.url(&format!("/v1/agents/{agent}/messages/stream")),
        &app.user_id,
        Some(body),
    )
    .await
}

pub(crate) async fn resume(app: &TestApp, run_id: &str, after: usize) -> SseStream {
    SseStream::open(
        &app.client,
        &app.url(&format!("/v1/runs/{run_id}/stream?starting_after={after}")),
        &app.user_id,
        None,
    )
    .await
}

pub(crate) fn said(frames: &[Frame]) -> String {
    data(frames)
        .iter()
        .filter(|m| m["message_type"] == "assistant_message")
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) async fn wait_for_status(
    app: &TestApp,
    run_id: &str,
    status: &str,
    limit: Duration,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let (_, run) = app.get(&format!("/v1/runs/{run_id}")).await;
        if run["status"] == status {
            return run;
        }
        assert!(Instant::now() < deadline, "run stayed {}", run["status"]);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_and_cancel_through_another_replica() {
    let llm = MockLlm::start().await;
    // A database of its own: these replicas fail stale runs after 1 s, which must not
    // touch other tests' runs.
    let (db, store) = helpers::isolated_postgres().await;
    let (org, user) = helpers::new_org_and_user(&store).await;
    let a = start_replica(&llm, true, &db, &store, &org.id, &user.id).await;
    let b = start_replica(&llm, true, &db, &store, &org.id, &user.id).await;
    let agent = id_of(&create_agent(&a.app, json!({})).await);

    // A stream started on A is resumed on B and runs to its end there.
    llm.push(slow_reply("resumed elsewhere"));
    let mut on_a = open_stream(&a.app, &agent, &request("one")).await;
    assert_eq!(on_a.status, StatusCode::OK);
    let run_id = on_a.headers["letta-run-id"].to_str().unwrap().to_owned();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(on_a.next_within(Duration::from_secs(10)).await.unwrap());
    }
    drop(on_a);
    let mut on_b = resume(&b.app, &run_id, seen.len()).await;
    assert_eq!(on_b.status, StatusCode::OK);
    seen.extend(on_b.rest().await);
    assert_eq!(seen.last(), Some(&Frame::Done));
    assert_eq!(said(&seen), "resumed elsewhere");
    wait_for_status(&b.app, &run_id, "completed", Duration::from_secs(5)).await;

    // A run on A is cancelled through B; A's stream and B's resumed view both end.
    llm.push(slow_reply(
        "this answer is long and will not be finished at all",
    ));
    let mut on_a = open_stream(&a.app, &agent, &request("two")).await;
    let run_id = on_a.headers["letta-run-id"].to_str().unwrap().to_owned();
    let first = on_a.next_within(Duration::from_secs(10)).await.unwrap();
    let mut on_b = resume(&b.app, &run_id, 1).await;
    assert_eq!(on_b.status, StatusCode::OK);
    let asked = Instant::now();
    // No ids: B finds the agent's active run in Redis.
    let (status, body) = b
        .app
        .send_raw(
            reqwest::Method::POST,
            &format!("/v1/agents/{agent}/messages/cancel"),
            "",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ run_id.clone(): "cancelled" }));
    let mut rest_a = vec![first];
    rest_a.extend(on_a.rest().await);
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "A's stream took {:?}",
        asked.elapsed()
    );
    let n = rest_a.len();
    assert_eq!(
        rest_a[n - 3],
        Frame::Data(json!({"message_type": "stop_reason", "stop_reason": "cancelled"}))
    );
    assert_eq!(rest_a[n - 1], Frame::Done);
    let rest_b = on_b.rest().await;
    assert_eq!(rest_b.last(), Some(&Frame::Done));
    assert_eq!(&rest_b[..], &rest_a[1..], "B replays what A sent");
    let run = wait_for_status(&a.app, &run_id, "cancelled", Duration::from_secs(5)).await;
    assert!(run["completed_at"].is_string());

    // The agent is consistent and takes the next turn on either replica.
    llm.push(MockReply::tool_call(
        "send_message",
        json!({"message": "still here"}),
    ));
    let (status, body) = b
        .app
        .post(
            &format!("/v1/agents/{agent}/messages"),
            &json!({"messages": [{"role": "user", "content": "three"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, state) = a.app.get(&format!("/v1/agents/{agent}")).await;
    let ids: Vec<String> = state["message_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        store.get_messages(&org.id, &ids).await.unwrap().len(),
        ids.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_leaves_no_stuck_run() {
    let llm = MockLlm::start().await;
    let (db, store) = helpers::isolated_postgres().await;
    let (org, user) = helpers::new_org_and_user(&store).await;
    let mut a = start_replica(&llm, false, &db, &store, &org.id, &user.id).await;
    let agent = id_of(&create_agent(&a.app, json!({})).await);
    llm.push(slow_reply("interrupted by a crash"));
    let mut stream = open_stream(&a.app, &agent, &request("hi")).await;
    let run_id = stream.headers["letta-run-id"].to_str().unwrap().to_owned();
    stream.next_within(Duration::from_secs(10)).await.unwrap();
    let (_, run) = a.app.get(&format!("/v1/runs/{run_id}")).await;
    assert_eq!(run["status"], "running");

    // SIGKILL: nothing gets to clean up.
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    drop(stream);

    let restarted = start_replica(&llm, false, &db, &store, &org.id, &user.id).await;
    let run = wait_for_status(&restarted.app, &run_id, "failed", Duration::from_secs(15)).await;
    assert!(run["completed_at"].is_string());
    assert!(
        run["metadata"]["error"]
            .as_str()
            .unwrap()
            .contains("stopped")
    );

    // The agent is usable: its lease expired and its context only names stored messages.
    llm.push(MockReply::tool_call(
        "send_message",
        json!({"message": "recovered"}),
    ));
    let (status, body) = restarted
        .app
        .post(
            &format!("/v1/agents/{agent}/messages"),
            &json!({"messages": [{"role": "user", "content": "are you there?"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let last = body["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["content"], "recovered", "{body}");
    let (_, state) = restarted.app.get(&format!("/v1/agents/{agent}")).await;
    let ids: Vec<String> = state["message_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        store.get_messages(&org.id, &ids).await.unwrap().len(),
        ids.len()
    );
    drop(a);
}
