//! Faults of the parts around the server, with real parts: a private redis-server that the
//! tests freeze, kill and restart under replicas (the built binary) on Postgres, Redis
//! missing at start-up, and a replica killed with SIGKILL and restarted.
//!
//! Bounds are generous (a loaded 2-core machine runs these): what they catch is a request
//! that hangs, or an agent blocked for a lease TTL, not a slow one.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{self, TestApp, create_agent, id_of};
use crate::mock_llm::{MockLlm, MockReply};
use crate::replicas::{
    Replica, free_port, open_stream, request, resume, said, server_command, slow_reply,
    start_replica_cmd, start_replica_with, wait_for_status,
};
use crate::sse::Frame;

/// How long any request may take while Redis is frozen or gone: its call deadline (1 s by
/// default) plus a lot of slack. A hang is what this catches.
const ANSWER_WITHIN: Duration = Duration::from_secs(8);

/// A redis-server of the test's own on a spare port; killed (even when frozen) when dropped,
/// also when the test panics.
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    fn start(port: u16) -> Self {
        let mut redis = PrivateRedis { port, child: None };
        redis.launch();
        redis
    }

    fn launch(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (is it on PATH?)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn answers(&self) -> bool {
        let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = conn.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 7];
        conn.write_all(b"PING\r\n").is_ok()
            && conn.read_exact(&mut buf).is_ok()
            && &buf == b"+PONG\r\n"
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("redis running").id();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// SIGSTOP: connections stay open and nothing answers (the worst case: no error, ever).
    fn freeze(&self) {
        self.signal("-STOP");
    }

    fn thaw(&self) {
        self.signal("-CONT");
    }

    /// SIGKILL: connections are reset, new ones refused.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `fut`, which must finish within `limit`.
async fn within<T>(limit: Duration, what: &str, fut: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    match tokio::time::timeout(limit, fut).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: no answer within {limit:?} (started {started:?})"),
    }
}

fn reply(text: &str) -> MockReply {
    MockReply::tool_call("send_message", json!({"message": text}))
}

async fn health(app: &TestApp) -> Value {
    let (status, body) = within(ANSWER_WITHIN, "health", app.get("/v1/health/")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], "0.8.12");
    assert_eq!(body["status"], "ok");
    body
}

/// Waits until the replica reports Redis as `want`.
async fn redis_becomes(app: &TestApp, want: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let body = health(app).await;
        if body["redis"] == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "health still says {body} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The texts of the agent's stored user messages, oldest first (without the JSON events the
/// server writes as user messages: login, heartbeats).
async fn user_texts(app: &TestApp, agent: &str) -> Vec<String> {
    let (status, body) = within(
        ANSWER_WITHIN,
        "messages",
        app.get(&format!("/v1/agents/{agent}/messages?limit=1000")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .filter(|m| m["message_type"] == "user_message")
        .filter_map(|m| m["content"].as_str())
        .filter(|text| !text.starts_with('{'))
        .map(str::to_owned)
        .collect()
}

async fn send(app: &TestApp, llm: &MockLlm, agent: &str, text: &str) -> Value {
    llm.push(reply(&format!("re: {text}")));
    let (status, body) = within(
        ANSWER_WITHIN,
        "send",
        app.post(
            &format!("/v1/agents/{agent}/messages"),
            &json!({"messages": [{"role": "user", "content": text}]}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let last = body["messages"].as_array().unwrap().last().unwrap();
    assert_eq!(last["content"], format!("re: {text}"), "{body}");
    body
}

/// Sends, streams and cancels on `a` as a client would, each answering in time and without a
/// 5xx; a run of `a` cannot be followed from `b` while Redis is out (503 at once, no hang).
/// Returns the user texts sent.
async fn serve_during_outage(a: &TestApp, b: &TestApp, llm: &MockLlm, agent: &str) -> Vec<String> {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let mut sent = Vec::new();
    for i in 0..3 {
        let text = format!("json {tag} {i}");
        send(a, llm, agent, &text).await;
        sent.push(text);
    }

    let text = format!("stream {tag}");
    llm.push(reply("streamed"));
    let mut stream = within(
        ANSWER_WITHIN,
        "open a stream",
        open_stream(a, agent, &request(&text)),
    )
    .await;
    assert_eq!(stream.status, StatusCode::OK);
    let run_id = stream.headers["letta-run-id"].to_str().unwrap().to_owned();
    let frames = within(ANSWER_WITHIN, "stream to its end", stream.rest()).await;
    assert_eq!(frames.last(), Some(&Frame::Done), "{frames:?}");
    assert_eq!(said(&frames), "streamed");
    sent.push(text);

    // Another replica cannot reach the run's events without Redis: it says so at once.
    let resp = within(
        ANSWER_WITHIN,
        "resume on another replica",
        b.client
            .get(b.url(&format!("/v1/runs/{run_id}/stream")))
            .header("user_id", &b.user_id)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);

    // A cancel (no ids: the agent's latest run, known here without Redis) stops the stream.
    let text = format!("cancelled {tag}");
    llm.push(slow_reply(
        "a long answer that will be cut short by the cancel",
    ));
    let mut stream = within(
        ANSWER_WITHIN,
        "open a stream",
        open_stream(a, agent, &request(&text)),
    )
    .await;
    let run_id = stream.headers["letta-run-id"].to_str().unwrap().to_owned();
    within(ANSWER_WITHIN, "first frame", stream.next())
        .await
        .unwrap();
    let (status, body) = within(
        ANSWER_WITHIN,
        "cancel",
        a.send_raw(
            reqwest::Method::POST,
            &format!("/v1/agents/{agent}/messages/cancel"),
            "",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ run_id.clone(): "cancelled" }));
    let rest = within(ANSWER_WITHIN, "cancelled stream's end", stream.rest()).await;
    assert_eq!(rest.last(), Some(&Frame::Done), "{rest:?}");
    wait_for_status(a, &run_id, "cancelled", ANSWER_WITHIN).await;
    sent.push(text);

    // Async: accepted at once, runs to its end.
    let text = format!("async {tag}");
    llm.push(reply("done later"));
    let (status, run) = within(
        ANSWER_WITHIN,
        "async send",
        a.post(
            &format!("/v1/agents/{agent}/messages/async"),
            &json!({"messages": [{"role": "user", "content": text}]}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    wait_for_status(a, run["id"].as_str().unwrap(), "completed", ANSWER_WITHIN).await;
    sent.push(text);
    sent
}

/// With Redis back, runs are shared again: a stream started on `a` is followed from `b`, and
/// `b` cancels `a`'s latest run by agent.
async fn shared_again(a: &TestApp, b: &TestApp, llm: &MockLlm, agent: &str) {
    llm.push(slow_reply("followed from the other replica"));
    let mut on_a = open_stream(a, agent, &request("after the outage")).await;
    let run_id = on_a.headers["letta-run-id"].to_str().unwrap().to_owned();
    let first = within(ANSWER_WITHIN, "first frame", on_a.next())
        .await
        .unwrap();
    let mut on_b = resume(b, &run_id, 1).await;
    assert_eq!(on_b.status, StatusCode::OK);
    let mut all = vec![first];
    all.extend(within(Duration::from_secs(30), "stream", on_a.rest()).await);
    let from_b = within(ANSWER_WITHIN, "resumed stream", on_b.rest()).await;
    assert_eq!(all.last(), Some(&Frame::Done));
    assert_eq!(&from_b[..], &all[1..], "b replays what a sent");

    llm.push(slow_reply("this one is cancelled from the other replica"));
    let mut on_a = open_stream(a, agent, &request("cancel me from b")).await;
    let run_id = on_a.headers["letta-run-id"].to_str().unwrap().to_owned();
    within(ANSWER_WITHIN, "first frame", on_a.next())
        .await
        .unwrap();
    let (status, body) = b
        .send_raw(
            reqwest::Method::POST,
            &format!("/v1/agents/{agent}/messages/cancel"),
            "",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ run_id.clone(): "cancelled" }));
    let rest = within(ANSWER_WITHIN, "cancelled stream", on_a.rest()).await;
    assert_eq!(rest.last(), Some(&Frame::Done));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outages_while_serving() {
    let llm = MockLlm::start().await;
    let mut redis = PrivateRedis::start(free_port());
    let (db, store) = helpers::isolated_postgres().await;
    let (org, user) = helpers::new_org_and_user(&store).await;
    let env = [("DATABASE_URL", db.clone()), ("REDIS_URL", redis.url())];
    // A's log is kept: each outage and each recovery is logged once.
    let log_dir = tempfile::tempdir().unwrap();
    let log_path = log_dir.path().join("a.log");
    let mut a_env = env.to_vec();
    a_env.push(("RUST_LOG", "warn,letta_rs::runs=info".to_owned()));
    a_env.push(("NO_COLOR", "1".to_owned()));
    let a_port = free_port();
    let mut cmd = server_command(&llm, a_port, &a_env);
    // The log goes to stderr.
    cmd.stderr(std::fs::File::create(&log_path).unwrap());
    let a = start_replica_cmd(cmd, &store, &org.id, &user.id, a_port).await;
    let b = start_replica_with(&llm, &store, &org.id, &user.id, free_port(), &env).await;
    let agent = id_of(&create_agent(&a.app, json!({})).await);
    assert_eq!(health(&a.app).await["redis"], "ok");
    let mut sent = vec!["before".to_owned()];
    send(&a.app, &llm, &agent, "before").await;

    // Frozen: every call to Redis would wait forever.
    redis.freeze();
    sent.extend(serve_during_outage(&a.app, &b.app, &llm, &agent).await);
    redis_becomes(&a.app, "degraded", ANSWER_WITHIN).await;
    redis.thaw();
    redis_becomes(&a.app, "ok", Duration::from_secs(15)).await;
    redis_becomes(&b.app, "ok", Duration::from_secs(15)).await;
    shared_again(&a.app, &b.app, &llm, &agent).await;
    sent.push("after the outage".to_owned());
    sent.push("cancel me from b".to_owned());

    // Killed: connections reset, then refused.
    redis.kill();
    sent.extend(serve_during_outage(&a.app, &b.app, &llm, &agent).await);
    redis_becomes(&a.app, "degraded", ANSWER_WITHIN).await;
    redis.restart();
    redis_becomes(&a.app, "ok", Duration::from_secs(15)).await;
    redis_becomes(&b.app, "ok", Duration::from_secs(15)).await;
    shared_again(&a.app, &b.app, &llm, &agent).await;
    sent.push("after the outage".to_owned());
    sent.push("cancel me from b".to_owned());

    // No user message was lost, and the agent takes the next turn on either replica at once.
    send(&b.app, &llm, &agent, "last").await;
    sent.push("last".to_owned());
    assert_eq!(user_texts(&a.app, &agent).await, sent);
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
    // No run was lost to the outages: each completed or was cancelled.
    let (_, runs) = a.app.get(&format!("/v1/runs/?agent_ids={agent}")).await;
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), sent.len(), "one run per user message");
    for run in runs {
        assert!(
            run["status"] == "completed" || run["status"] == "cancelled",
            "{} {}: {}",
            run["id"],
            run["status"],
            run["metadata"]
        );
    }

    let log = std::fs::read_to_string(&log_path).unwrap();
    let count = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(count("Redis is unreachable"), 2, "{log}");
    assert_eq!(count("Redis answers again"), 2, "{log}");
}

/// Runs the binary until it exits (it must, within `limit`); its status and output.
fn run_to_exit(mut cmd: Command, limit: Duration) -> (std::process::ExitStatus, String, Duration) {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server binary");
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            return (status, out, started.elapsed());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_unreachable_at_start() {
    let llm = MockLlm::start().await;
    let (db, store) = helpers::isolated_postgres().await;
    let closed = free_port();
    // Accepts connections and never answers: the case that used to hang for ever.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming() {
            held.push(conn);
        }
    });
    let cases = [
        (
            format!("redis://:hunter2@127.0.0.1:{closed}"),
            format!("redis://:***@127.0.0.1:{closed}"),
        ),
        (
            format!("redis://bob:hunter2@127.0.0.1:{silent_port}"),
            format!("redis://bob:***@127.0.0.1:{silent_port}"),
        ),
        // Not a URL: still never echoed with its password.
        (
            format!("redis//:hunter2@127.0.0.1:{closed}"),
            format!("***@127.0.0.1:{closed}"),
        ),
    ];
    for (url, shown) in cases {
        let env = [
            ("DATABASE_URL", db.clone()),
            ("REDIS_URL", url.clone()),
            ("LETTA_REDIS_CONNECT_TIMEOUT_SECS", "2".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ];
        let cmd = server_command(&llm, free_port(), &env);
        let (status, out, took) =
            tokio::task::spawn_blocking(move || run_to_exit(cmd, Duration::from_secs(30)))
                .await
                .unwrap();
        assert!(!status.success(), "{url}: {out}");
        assert!(
            out.contains(&shown),
            "{url}: the message names {shown}:\n{out}"
        );
        assert!(
            !out.contains("hunter2"),
            "{url}: the password is shown:\n{out}"
        );
        assert!(took < Duration::from_secs(20), "{url}: took {took:?}");
    }

    // Asked to, it starts degraded, serves, and picks Redis up when it appears.
    let (org, user) = helpers::new_org_and_user(&store).await;
    let env = [
        ("DATABASE_URL", db.clone()),
        ("REDIS_URL", format!("redis://127.0.0.1:{closed}")),
        ("LETTA_REDIS_CONNECT_TIMEOUT_SECS", "2".to_owned()),
        ("LETTA_REDIS_OPTIONAL", "true".to_owned()),
    ];
    let a = start_replica_with(&llm, &store, &org.id, &user.id, free_port(), &env).await;
    assert_eq!(health(&a.app).await["redis"], "degraded");
    let agent = id_of(&create_agent(&a.app, json!({})).await);
    send(&a.app, &llm, &agent, "served without redis").await;
    let _redis = PrivateRedis::start(closed);
    redis_becomes(&a.app, "ok", Duration::from_secs(15)).await;
    send(&a.app, &llm, &agent, "served with redis").await;
}

/// Kills `replica` with SIGKILL while a run of `agent` streams, and returns that run's id.
async fn crash_mid_run(replica: &mut Replica, llm: &MockLlm, agent: &str) -> String {
    llm.push(slow_reply("interrupted by a crash"));
    let mut stream = open_stream(&replica.app, agent, &request("hi")).await;
    let run_id = stream.headers["letta-run-id"].to_str().unwrap().to_owned();
    within(ANSWER_WITHIN, "first frame", stream.next())
        .await
        .unwrap();
    let (_, run) = replica.app.get(&format!("/v1/runs/{run_id}")).await;
    assert_eq!(run["status"], "running");
    replica.child.kill().unwrap();
    replica.child.wait().unwrap();
    run_id
}

/// Right after a restart: the orphan run is failed (not active), and the agent answers at
/// once — well within the lease TTL (30 s) and the stale-run timeout (60 s) in force.
async fn released_at_once(app: &TestApp, llm: &MockLlm, agent: &str, run_id: &str) {
    let (_, run) = app.get(&format!("/v1/runs/{run_id}")).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["metadata"]["error"]
            .as_str()
            .unwrap()
            .contains("stopped")
    );
    let (_, active) = app.get("/v1/runs/active").await;
    assert!(
        !active.as_array().unwrap().iter().any(|r| r["id"] == run_id),
        "{active}"
    );
    let asked = Instant::now();
    send(app, llm, agent, "are you there?").await;
    let took = asked.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "the agent answered after {took:?}"
    );
}

/// Timeouts that would hide the start-up release: only it can free the agent in time.
fn slow_recovery_env() -> Vec<(&'static str, String)> {
    vec![
        ("LETTA_RUN_STALE_AFTER_SECS", "60".to_owned()),
        ("LETTA_AGENT_LEASE_TTL_SECS", "30".to_owned()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_replica_restarted_after_kill_releases_at_once_postgres() {
    let llm = MockLlm::start().await;
    let (db, store) = helpers::isolated_postgres().await;
    let (org, user) = helpers::new_org_and_user(&store).await;
    let mut env = slow_recovery_env();
    env.push(("DATABASE_URL", db));
    let mut a = start_replica_with(&llm, &store, &org.id, &user.id, free_port(), &env).await;
    let agent = id_of(&create_agent(&a.app, json!({})).await);
    let run_id = crash_mid_run(&mut a, &llm, &agent).await;
    // Alone (no Redis): any port, any name — everything unfinished is an orphan.
    let restarted = start_replica_with(&llm, &store, &org.id, &user.id, free_port(), &env).await;
    released_at_once(&restarted.app, &llm, &agent, &run_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_replica_restarted_after_kill_releases_at_once_sqlite() {
    let llm = MockLlm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store: letta_rs::store::DynStore = std::sync::Arc::new(
        letta_rs::store::sqlite::SqliteStore::open_file(&dir.path().join("letta.db"))
            .await
            .unwrap(),
    );
    let (org, user) = helpers::new_org_and_user(&store).await;
    let mut env = slow_recovery_env();
    env.push(("LETTA_DIR", dir.path().display().to_string()));
    let port = free_port();
    let mut a = start_replica_with(&llm, &store, &org.id, &user.id, port, &env).await;
    let agent = id_of(&create_agent(&a.app, json!({})).await);
    let run_id = crash_mid_run(&mut a, &llm, &agent).await;
    let restarted = start_replica_with(&llm, &store, &org.id, &user.id, port, &env).await;
    released_at_once(&restarted.app, &llm, &agent, &run_id).await;
}

/// With Redis (several replicas), a restarted replica releases only what its own earlier
/// process left: another replica's run in flight is left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_restarted_after_kill_releases_only_its_own() {
    let llm = MockLlm::start().await;
    let redis = PrivateRedis::start(free_port());
    let (db, store) = helpers::isolated_postgres().await;
    let (org, user) = helpers::new_org_and_user(&store).await;
    let mut env = slow_recovery_env();
    env.push(("DATABASE_URL", db));
    env.push(("REDIS_URL", redis.url()));
    let port = free_port();
    let mut a = start_replica_with(&llm, &store, &org.id, &user.id, port, &env).await;
    let b = start_replica_with(&llm, &store, &org.id, &user.id, free_port(), &env).await;
    let agent = id_of(&create_agent(&a.app, json!({})).await);
    let other_agent = id_of(&create_agent(&b.app, json!({})).await);
    let run_id = crash_mid_run(&mut a, &llm, &agent).await;

    // B runs a turn of its own while A comes back.
    llm.push(slow_reply("not disturbed by a restart"));
    let mut on_b = open_stream(&b.app, &other_agent, &request("keep going")).await;
    let b_run = on_b.headers["letta-run-id"].to_str().unwrap().to_owned();
    within(ANSWER_WITHIN, "first frame", on_b.next())
        .await
        .unwrap();

    // Same host, port and database: the same replica, a new incarnation.
    let restarted = start_replica_with(&llm, &store, &org.id, &user.id, port, &env).await;
    let (_, run) = restarted.app.get(&format!("/v1/runs/{b_run}")).await;
    assert_eq!(run["status"], "running", "B's run is not A's to release");
    released_at_once(&restarted.app, &llm, &agent, &run_id).await;
    let rest = within(Duration::from_secs(30), "B's stream", on_b.rest()).await;
    assert_eq!(rest.last(), Some(&Frame::Done));
    wait_for_status(&b.app, &b_run, "completed", ANSWER_WITHIN).await;
}

/// While Redis is down, a cancel sent to another replica cannot be published: the run's own
/// replica still stops it soon, when its heartbeat finds the run cancelled in the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_through_another_replica_arrives_without_redis() {
    let llm = MockLlm::start().await;
    let redis = PrivateRedis::start(free_port());
    let (db, store) = helpers::isolated_postgres().await;
    let (org, user) = helpers::new_org_and_user(&store).await;
    // Heartbeats every second.
    let env = [
        ("DATABASE_URL", db),
        ("REDIS_URL", redis.url()),
        ("LETTA_RUN_STALE_AFTER_SECS", "3".to_owned()),
    ];
    let a = start_replica_with(&llm, &store, &org.id, &user.id, free_port(), &env).await;
    let b = start_replica_with(&llm, &store, &org.id, &user.id, free_port(), &env).await;
    let agent = id_of(&create_agent(&a.app, json!({})).await);
    redis.freeze();
    // About 30 s of answer, if nothing stops it.
    llm.push(slow_reply(&"a very long answer ".repeat(20)));
    let mut on_a = open_stream(&a.app, &agent, &request("stop me from b")).await;
    let run_id = on_a.headers["letta-run-id"].to_str().unwrap().to_owned();
    within(ANSWER_WITHIN, "first frame", on_a.next())
        .await
        .unwrap();
    let asked = Instant::now();
    let (status, body) = within(
        ANSWER_WITHIN,
        "cancel on b",
        b.app.post(
            &format!("/v1/agents/{agent}/messages/cancel"),
            &json!([run_id]),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ run_id.clone(): "cancelled" }));
    let rest = within(ANSWER_WITHIN, "a's stream after the cancel", on_a.rest()).await;
    assert_eq!(rest.last(), Some(&Frame::Done));
    assert!(
        rest.iter()
            .any(|f| matches!(f, Frame::Data(d) if d["stop_reason"] == "cancelled")),
        "{rest:?}"
    );
    assert!(asked.elapsed() < Duration::from_secs(15));
    redis.thaw();
}
