//! `/v1/messages/batches`: a batch of requests to many agents, run server-side as runs with
//! bounded parallelism; status and per-item results, messages, cancel, bad input (nothing
//! written), and a batch whose process stopped settling instead of staying `running`.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, create_agent, id_of};
use crate::llm_test;
use crate::mock_llm::{MockLlm, MockReply};

const BASE: &str = "/v1/messages/batches";

fn say(text: &str) -> MockReply {
    MockReply::tool_call(
        "send_message",
        json!({"inner_thoughts": "ok", "message": text}),
    )
}

fn request(agent_id: &str, text: &str) -> Value {
    json!({"agent_id": agent_id, "messages": [{"role": "user", "content": text}]})
}

async fn retrieve(app: &TestApp, id: &str) -> Value {
    let (status, batch) = app.get(&format!("{BASE}/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{batch}");
    batch
}

fn count(batch: &Value, status: &str) -> u64 {
    batch["metadata"]["counts"][status].as_u64().unwrap_or(0)
}

/// Polls the batch until `done` holds (or fails after 60 s).
async fn wait_for(app: &TestApp, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let batch = retrieve(app, id).await;
        if done(&batch) {
            return batch;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "batch never got there: {batch}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn all_items_ended(batch: &Value) -> bool {
    count(batch, "created") == 0 && count(batch, "running") == 0
}

llm_test!(
    a_batch_runs_to_completion,
    |app: TestApp, llm: MockLlm| async move {
        llm.set_rule(|_| say("done"));
        let a = id_of(&create_agent(&app, json!({"name": "a"})).await);
        let b = id_of(&create_agent(&app, json!({"name": "b"})).await);
        let (status, batch) = app
        .post(
            BASE,
            &json!({"requests": [request(&a, "one"), request(&b, "two"), request(&a, "three")]}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{batch}");
        let id = id_of(&batch);
        assert!(id.starts_with("job-"), "{id}");
        assert_eq!(batch["job_type"], "batch");
        assert_eq!(batch["metadata"]["total"], 3);

        let done = wait_for(&app, &id, |b| b["status"] == "completed").await;
        assert_eq!(count(&done, "completed"), 3, "{done}");
        assert!(done["completed_at"].is_string());
        // Each item is a run of its own, with the agent's answer as its result.
        let items = done["metadata"]["items"].as_array().unwrap();
        assert_eq!(items[0]["agent_id"], a.as_str());
        let run_id = items[1]["run_id"].as_str().unwrap();
        let (status, run) = app.get(&format!("/v1/runs/{run_id}")).await;
        assert_eq!(status, StatusCode::OK, "{run}");
        assert_eq!(run["status"], "completed");
        assert!(
            run["metadata"]["result"].to_string().contains("done"),
            "{run}"
        );

        // Finished batches leave the listing.
        let (_, open) = app.get(BASE).await;
        assert_eq!(open, json!([]));

        // Messages: all three requests' (user, reasoning/assistant…), newest first by default.
        let (status, all) = app.get(&format!("{BASE}/{id}/messages")).await;
        assert_eq!(status, StatusCode::OK, "{all}");
        let messages = all["messages"].as_array().unwrap();
        assert!(messages.len() >= 6, "{all}");
        let (_, only_b) = app.get(&format!("{BASE}/{id}/messages?agent_id={b}")).await;
        let only_b = only_b["messages"].as_array().unwrap().clone();
        assert!(!only_b.is_empty());
        assert!(only_b.len() < messages.len());
        let (_, page) = app.get(&format!("{BASE}/{id}/messages?limit=2")).await;
        assert_eq!(page["messages"].as_array().unwrap().len(), 2);
    }
);

llm_test!(
    a_batch_of_fifty_with_a_cancel,
    |app: TestApp, llm: MockLlm| async move {
        llm.set_rule(|_| say("slowly").delay(Duration::from_millis(150)));
        let mut agents = Vec::new();
        for i in 0..5 {
            agents.push(id_of(
                &create_agent(&app, json!({"name": format!("agent-{i}")})).await,
            ));
        }
        let requests: Vec<Value> = (0..50)
            .map(|i| request(&agents[i % 5], &format!("message {i}")))
            .collect();
        let (status, batch) = app.post(BASE, &json!({"requests": requests})).await;
        assert_eq!(status, StatusCode::OK, "{batch}");
        let id = id_of(&batch);
        assert_eq!(batch["status"], "running");
        assert_eq!(batch["metadata"]["total"], 50);
        let (_, open) = app.get(BASE).await;
        assert_eq!(open.as_array().unwrap().len(), 1, "{open}");
        assert_eq!(open[0]["id"], id.as_str());

        wait_for(&app, &id, |b| count(b, "completed") >= 5).await;
        let (status, cancelled) = app
            .request(Method::PATCH, &format!("{BASE}/{id}/cancel"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{cancelled}");
        assert_eq!(cancelled["status"], "cancelled");

        let ended = wait_for(&app, &id, all_items_ended).await;
        assert_eq!(ended["status"], "cancelled");
        let (completed, cancelled_items) = (count(&ended, "completed"), count(&ended, "cancelled"));
        assert_eq!(completed + cancelled_items, 50, "{ended}");
        assert!(completed >= 5 && cancelled_items >= 25, "{ended}");
        assert_eq!(count(&ended, "failed"), 0, "{ended}");
        // Nothing starts after the cancel.
        let calls = llm.request_count();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(llm.request_count(), calls);
        let (_, open) = app.get(BASE).await;
        assert_eq!(open, json!([]));
        // Cancelling again is harmless.
        let (status, again) = app
            .request(Method::PATCH, &format!("{BASE}/{id}/cancel"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["status"], "cancelled");
    }
);

llm_test!(
    a_stopped_process_leaves_no_batch_running,
    config = |cfg: &mut letta_rs::config::Config| cfg.replica_id = Some("batch-replica".into()),
    |app: TestApp, llm: MockLlm| async move {
        llm.set_rule(|_| say("late").delay(Duration::from_secs(2)));
        let agent = id_of(&create_agent(&app, json!({})).await);
        let (status, batch) = app
            .post(
                BASE,
                &json!({"requests": [request(&agent, "a"), request(&agent, "b")]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{batch}");
        let id = id_of(&batch);
        // What a restart of this replica does first: its older incarnation's unfinished runs
        // are failed.
        let restarted = letta_rs::replica::ReplicaId {
            name: "batch-replica".into(),
            incarnation: "the-next-process".into(),
        };
        app.store
            .release_leftovers(
                letta_rs::store::Leftovers::OlderIncarnations(&restarted),
                "The server executing this run stopped before it finished",
            )
            .await
            .unwrap();
        let settled = retrieve(&app, &id).await;
        assert_eq!(settled["status"], "failed", "{settled}");
        assert_eq!(count(&settled, "failed"), 2, "{settled}");
        let (_, open) = app.get(BASE).await;
        assert_eq!(open, json!([]));
    }
);

both_backends!(batch_bad_input_writes_nothing, |app: TestApp| async move {
    let agent = id_of(&create_agent_without_model(&app).await);
    let ghost = "agent-00000000-0000-0000-0000-000000000000";
    let (status, body) = app
        .post(
            BASE,
            &json!({"requests": [request(&agent, "hi"), request(ghost, "hi")]}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["detail"].as_str().unwrap().contains(ghost), "{body}");
    let (status, body) = app.post(BASE, &json!({"requests": []})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = app
        .post(
            BASE,
            &json!({"requests": [{"agent_id": agent, "messages": [{"role": "user", "content": ""}]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["loc"][1], "requests", "{body}");
    let (status, body) = app
        .post(BASE, &json!({"requests": [{"messages": []}]}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = app
        .post(
            BASE,
            &json!({"requests": [request(&agent, "hi")], "callback_url": "ftp://x"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let too_many: Vec<Value> = (0..1001).map(|_| request(&agent, "hi")).collect();
    let (status, body) = app.post(BASE, &json!({"requests": too_many})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // None of it was recorded.
    let (_, open) = app.get(BASE).await;
    assert_eq!(open, json!([]));
    let (_, runs) = app.get("/v1/runs/").await;
    assert_eq!(runs, json!([]));

    for (method, path) in [
        (Method::GET, format!("{BASE}/job-nope")),
        (Method::GET, format!("{BASE}/job-nope/messages")),
        (Method::PATCH, format!("{BASE}/job-nope/cancel")),
    ] {
        let (status, body) = app.request(method, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    // A run is not a batch.
    let (status, _) = app.get(&format!("{BASE}/{agent}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
});

/// An agent with a hand-written configuration (no provider needed to create it).
async fn create_agent_without_model(app: &TestApp) -> Value {
    let body = json!({
        "llm_config": {"model": "gpt-4o-mini", "model_endpoint_type": "openai",
                       "model_endpoint": "http://127.0.0.1:9/v1", "context_window": 8192},
        "embedding_config": {"embedding_endpoint_type": "openai", "embedding_model": "text-embedding-3-small",
                             "embedding_dim": 1536, "embedding_endpoint": "http://127.0.0.1:9/v1"},
    });
    crate::helpers::post_agent(app, &body).await
}
