//! `/v1/runs`: runs made by sending messages through a scripted model, and runs written
//! straight through the store where a status is needed — listing and its filters, retrieval,
//! deletion, a run's messages (paged, filtered, shown as its request asked), its steps and
//! their summed usage; each user sees only their own runs.

use letta_rs::schemas::common::now;
use letta_rs::schemas::new_id;
use letta_rs::schemas::org::User;
use letta_rs::schemas::run::{JobStatus, JobType, Run};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::helpers::{TestApp, assert_422, create_agent, id_of};
use crate::llm_test;
use crate::mock_llm::{MockLlm, MockReply};
use crate::store_fixtures::ts;

fn say(text: &str) -> MockReply {
    MockReply::tool_call(
        "send_message",
        json!({"inner_thoughts": format!("thinking about {text}"), "message": text}),
    )
}

/// A memory edit that asks for another step.
fn remember(fact: &str) -> MockReply {
    MockReply::tool_call(
        "core_memory_append",
        json!({"inner_thoughts": "worth keeping", "label": "human", "content": fact, "request_heartbeat": true}),
    )
}

async fn send(app: &TestApp, agent_id: &str, body: Value) -> Value {
    let (status, response) = app
        .post(&format!("/v1/agents/{agent_id}/messages"), &body)
        .await;
    assert_eq!(status, StatusCode::OK, "{response}");
    response
}

fn user_text(text: &str) -> Value {
    json!({"messages": [{"role": "user", "content": text}]})
}

fn field(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|item| item[key].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn ids(list: &Value) -> Vec<String> {
    field(list, "id")
}

fn types(list: &Value) -> Vec<String> {
    field(list, "message_type")
}

/// The distinct message ids of a LettaMessage list, in order of first appearance.
fn stored_ids(list: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in ids(list) {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

async fn get_ok(app: &TestApp, path: &str) -> Value {
    let (status, body) = app.get(path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

/// Another user of the test's organization.
async fn colleague(app: &TestApp) -> String {
    let user = User {
        id: new_id("user"),
        organization_id: Some(app.org_id.clone()),
        name: "colleague".to_owned(),
        created_at: None,
        updated_at: None,
        is_deleted: false,
    };
    app.store.create_user(&user).await.unwrap();
    user.id
}

/// A run row of the test's organization, `secs` after a fixed instant.
fn run_row(
    app: &TestApp,
    user_id: &str,
    agent_id: Option<&str>,
    status: JobStatus,
    secs: i64,
) -> Run {
    let mut metadata = Map::new();
    metadata.insert("job_type".into(), json!("send_message"));
    if let Some(agent_id) = agent_id {
        metadata.insert("agent_id".into(), json!(agent_id));
    }
    Run {
        created_by_id: Some(user_id.to_owned()),
        last_updated_by_id: Some(user_id.to_owned()),
        created_at: Some(ts(secs)),
        // Unfinished rows look alive, or a server's stale-run sweep would fail them.
        updated_at: Some(if status.is_terminal() {
            ts(secs)
        } else {
            now()
        }),
        status,
        completed_at: status.is_terminal().then(|| ts(secs + 1)),
        metadata: Some(metadata),
        job_type: JobType::Run,
        callback_url: None,
        callback_sent_at: None,
        callback_status_code: None,
        callback_error: None,
        id: new_id("run"),
        user_id: Some(user_id.to_owned()),
        request_config: None,
        agent_id: agent_id.map(str::to_owned),
        organization_id: app.org_id.clone(),
    }
}

/// A run row written through the store.
async fn insert_run(
    app: &TestApp,
    user_id: &str,
    agent_id: Option<&str>,
    status: JobStatus,
    secs: i64,
) -> Run {
    let run = run_row(app, user_id, agent_id, status, secs);
    app.store.create_run(&run).await.unwrap();
    run
}

async fn get_as(app: &TestApp, user_id: &str, path: &str) -> (StatusCode, Value) {
    app.request_as(user_id, Method::GET, path, None).await
}

fn run_ids(runs: &[Run]) -> Vec<String> {
    runs.iter().map(|r| r.id.clone()).collect()
}

llm_test!(
    runs_of_message_requests,
    |app: TestApp, llm: MockLlm| async move {
        let a = id_of(&create_agent(&app, json!({})).await);
        let b = id_of(&create_agent(&app, json!({})).await);
        llm.push(say("Hello there!").usage(1000, 50));
        send(&app, &a, user_text("hi")).await;
        llm.push(remember("Likes tea.").usage(200, 20));
        llm.push(say("Noted!").usage(300, 30));
        send(&app, &a, user_text("I like tea")).await;
        llm.push(say("B here").usage(10, 5));
        send(&app, &b, user_text("hey")).await;

        // Listed oldest first, each completed and naming its agent.
        let runs = get_ok(&app, "/v1/runs/").await;
        let run_ids = ids(&runs);
        assert_eq!(run_ids.len(), 3, "{runs}");
        for (run, agent) in runs.as_array().unwrap().iter().zip([&a, &a, &b]) {
            assert!(run["id"].as_str().unwrap().starts_with("run-"), "{run}");
            assert_eq!(run["status"], "completed");
            assert_eq!(run["job_type"], "run");
            assert_eq!(run["user_id"], app.user_id.as_str());
            assert_eq!(run["created_by_id"], app.user_id.as_str());
            assert_eq!(
                run["metadata"],
                json!({"job_type": "send_message", "agent_id": agent})
            );
            assert!(run["completed_at"].is_string(), "{run}");
            assert_eq!(run["request_config"]["use_assistant_message"], true);
            assert_eq!(
                run["request_config"]["assistant_message_tool_name"],
                "send_message"
            );
        }
        // Served without the trailing slash too.
        assert_eq!(get_ok(&app, "/v1/runs").await, runs);

        // Retrieve gives the listed object.
        for (i, id) in run_ids.iter().enumerate() {
            assert_eq!(get_ok(&app, &format!("/v1/runs/{id}")).await, runs[i]);
        }

        // The agent filter (repeatable); nothing is active any more.
        assert_eq!(
            ids(&get_ok(&app, &format!("/v1/runs/?agent_ids={b}")).await),
            [run_ids[2].clone()]
        );
        assert_eq!(
            ids(&get_ok(&app, &format!("/v1/runs/?agent_ids={a}&agent_ids={b}")).await),
            run_ids
        );
        assert_eq!(
            get_ok(&app, "/v1/runs/?agent_ids=agent-missing").await,
            json!([])
        );
        assert_eq!(get_ok(&app, "/v1/runs/active").await, json!([]));

        // Usage: the sum of the run's steps, in the OpenAI shape.
        assert_eq!(
            get_ok(&app, &format!("/v1/runs/{}/usage", run_ids[0])).await,
            json!({"completion_tokens": 50, "prompt_tokens": 1000, "total_tokens": 1050,
                   "prompt_tokens_details": null, "completion_tokens_details": null})
        );
        assert_eq!(
            get_ok(&app, &format!("/v1/runs/{}/usage", run_ids[1])).await,
            json!({"completion_tokens": 50, "prompt_tokens": 500, "total_tokens": 550,
                   "prompt_tokens_details": null, "completion_tokens_details": null})
        );

        // Steps: newest first by default, each pointing at its run.
        let steps = get_ok(&app, &format!("/v1/runs/{}/steps", run_ids[1])).await;
        let step_ids = ids(&steps);
        assert_eq!(step_ids.len(), 2, "{steps}");
        for step in steps.as_array().unwrap() {
            assert_eq!(step["job_id"], run_ids[1].as_str());
            assert_eq!(step["agent_id"], a.as_str());
            assert_eq!(step["messages"], json!([]));
        }
        assert_eq!(steps[0]["prompt_tokens"], 300, "newest first: {steps}");
        assert_eq!(steps[1]["prompt_tokens"], 200);
        let asc = get_ok(&app, &format!("/v1/runs/{}/steps?order=asc", run_ids[1])).await;
        assert_eq!(ids(&asc), [step_ids[1].clone(), step_ids[0].clone()]);
        // The steps are the ones /v1/steps shows.
        assert_eq!(
            get_ok(&app, &format!("/v1/steps/{}", step_ids[0])).await,
            steps[0]
        );

        // Messages: the input and the reply, the send_message result folded away.
        let messages = get_ok(&app, &format!("/v1/runs/{}/messages", run_ids[0])).await;
        assert_eq!(
            types(&messages),
            ["user_message", "reasoning_message", "assistant_message"]
        );
        assert_eq!(messages[0]["content"], "hi");
        assert_eq!(messages[1]["reasoning"], "thinking about Hello there!");
        assert_eq!(messages[2]["content"], "Hello there!");
        let second = get_ok(&app, &format!("/v1/runs/{}/messages", run_ids[1])).await;
        let kinds = types(&second);
        assert_eq!(kinds[0], "user_message");
        assert!(
            kinds.contains(&"tool_call_message".to_owned())
                && kinds.contains(&"tool_return_message".to_owned()),
            "{kinds:?}"
        );
        assert_eq!(
            kinds[kinds.len() - 2..],
            ["reasoning_message", "assistant_message"]
        );
        assert_eq!(second[kinds.len() - 1]["content"], "Noted!");
        // Each run shows only its own messages.
        let third = get_ok(&app, &format!("/v1/runs/{}/messages", run_ids[2])).await;
        assert_eq!(third[0]["content"], "hey");
        assert!(
            stored_ids(&third)
                .iter()
                .all(|id| !stored_ids(&second).contains(id))
        );
    }
);

llm_test!(
    run_messages_page_and_filter,
    |app: TestApp, llm: MockLlm| async move {
        let agent = id_of(&create_agent(&app, json!({})).await);
        // Shown without the assistant-message folding, every stored message appears.
        llm.push(remember("Likes tea."));
        llm.push(say("Noted!"));
        send(
            &app,
            &agent,
            json!({"messages": [{"role": "user", "content": "I like tea"}], "use_assistant_message": false}),
        )
        .await;
        let run_id = ids(&get_ok(&app, "/v1/runs/").await)[0].clone();
        let path = format!("/v1/runs/{run_id}/messages");
        let all = get_ok(&app, &path).await;
        let stored = stored_ids(&all);
        assert!(stored.len() >= 5, "{all}");
        assert!(types(&all).contains(&"tool_call_message".to_owned()));
        assert!(!types(&all).contains(&"assistant_message".to_owned()));
        let page = |query: String| {
            let app = &app;
            let path = path.clone();
            async move { get_ok(app, &format!("{path}?{query}")).await }
        };

        // Newest first reverses the whole list, pieces of one message included.
        let desc = page("order=desc".into()).await;
        let mut reversed = all.as_array().unwrap().clone();
        reversed.reverse();
        assert_eq!(desc, Value::Array(reversed));
        assert_eq!(page("order=asc".into()).await, all);

        // The limit counts stored messages.
        assert_eq!(stored_ids(&page("limit=2".into()).await), stored[..2]);
        let newest = page("limit=2&order=desc".into()).await;
        assert_eq!(
            stored_ids(&newest),
            [
                stored[stored.len() - 1].clone(),
                stored[stored.len() - 2].clone()
            ]
        );
        assert_eq!(page("limit=0".into()).await, all, "0 means no limit");

        // Cursors are positions in the stored order, whatever the direction.
        assert_eq!(
            stored_ids(&page(format!("after={}", stored[1])).await),
            stored[2..]
        );
        assert_eq!(
            stored_ids(&page(format!("before={}", stored[3])).await),
            stored[..3]
        );
        assert_eq!(
            stored_ids(&page(format!("before={}&order=desc&limit=2", stored[3])).await),
            [stored[2].clone(), stored[1].clone()]
        );
        assert_eq!(
            stored_ids(&page(format!("after={}&before={}", stored[0], stored[3])).await),
            stored[1..3]
        );

        // The role filter applies to stored messages.
        let tools = page("role=tool".into()).await;
        assert!(!tools.as_array().unwrap().is_empty());
        assert!(
            types(&tools).iter().all(|t| t == "tool_return_message"),
            "{tools}"
        );
        let users = page("role=user".into()).await;
        assert!(types(&users).iter().all(|t| t == "user_message"));
        assert_eq!(users[0]["content"], "I like tea");
        let assistant = page("role=assistant&limit=1".into()).await;
        assert_eq!(
            types(&assistant),
            ["reasoning_message", "tool_call_message"]
        );
        assert_eq!(assistant[1]["tool_call"]["name"], "core_memory_append");
        assert_eq!(page("role=system".into()).await, json!([]));
        assert_eq!(page("role=function".into()).await, json!([]));

        // Bad input: clear 4xx, nothing listed.
        let (status, body) = app.get(&format!("{path}?order=sideways")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body, json!({"detail": "Order must be 'asc' or 'desc'"}));
        let (status, body) = app.get(&format!("{path}?limit=many")).await;
        assert_422(status, &body, &[json!("query"), json!("limit")]);
        let (status, body) = app.get(&format!("{path}?limit=-1")).await;
        assert_422(status, &body, &[json!("query"), json!("limit")]);
        let (status, body) = app.get(&format!("{path}?role=robot")).await;
        assert_422(status, &body, &[json!("query"), json!("role")]);
        assert_eq!(body["detail"][0]["type"], "enum");
        let (status, body) = app.get(&format!("{path}?after=message-missing")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let (status, body) = app
            .get(&format!("{path}?after={}&before={}", stored[3], stored[1]))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

        // A run that shows only some message types keeps showing only those.
        llm.push(say("Only this"));
        send(
            &app,
            &agent,
            json!({"messages": [{"role": "user", "content": "short"}], "include_return_message_types": ["assistant_message"]}),
        )
        .await;
        let latest = ids(&get_ok(&app, "/v1/runs/").await)[1].clone();
        let shown = get_ok(&app, &format!("/v1/runs/{latest}/messages")).await;
        assert_eq!(types(&shown), ["assistant_message"]);
        assert_eq!(shown[0]["content"], "Only this");
    }
);

crate::both_backends!(
    runs_listing_by_status_agent_and_type,
    |app: TestApp| async move {
        let other = colleague(&app).await;
        let statuses = [
            JobStatus::Created,
            JobStatus::Running,
            JobStatus::Completed,
            JobStatus::Failed,
            JobStatus::Cancelled,
            JobStatus::Running,
        ];
        let mut mine = Vec::new();
        for (n, status) in statuses.into_iter().enumerate() {
            let agent = if n % 2 == 0 {
                "agent-even"
            } else {
                "agent-odd"
            };
            mine.push(insert_run(&app, &app.user_id, Some(agent), status, n as i64 * 10).await);
        }
        // Not listed: another user's run, and a plain job of this user.
        insert_run(&app, &other, Some("agent-even"), JobStatus::Running, 5).await;
        let mut job = run_row(&app, &app.user_id, None, JobStatus::Created, 7);
        job.id = new_id("job");
        job.job_type = JobType::Job;
        app.store.create_run(&job).await.unwrap();

        let all = run_ids(&mine);
        let pick = |idx: &[usize]| idx.iter().map(|&i| all[i].clone()).collect::<Vec<_>>();
        assert_eq!(ids(&get_ok(&app, "/v1/runs/").await), all);
        assert_eq!(
            ids(&get_ok(&app, "/v1/runs/active").await),
            pick(&[0, 1, 5])
        );
        assert_eq!(
            ids(&get_ok(&app, "/v1/runs/?agent_ids=agent-odd").await),
            pick(&[1, 3, 5])
        );
        assert_eq!(
            ids(&get_ok(&app, "/v1/runs/active?agent_ids=agent-even").await),
            pick(&[0])
        );
        assert_eq!(
            ids(&get_ok(
                &app,
                "/v1/runs/active?agent_ids=agent-even&agent_ids=agent-odd"
            )
            .await),
            pick(&[0, 1, 5])
        );
        // The other user sees their run only.
        let (_, theirs) = get_as(&app, &other, "/v1/runs/").await;
        assert_eq!(theirs.as_array().unwrap().len(), 1);
        assert_eq!(theirs[0]["user_id"], other.as_str());
        // An inserted run reads back as written: naive timestamps, no zone.
        let first = get_ok(&app, &format!("/v1/runs/{}", all[0])).await;
        assert_eq!(first["created_at"], "2025-01-01T00:00:00");
        assert_eq!(first["completed_at"], Value::Null);
        assert_eq!(first["request_config"], Value::Null);
        let failed = get_ok(&app, &format!("/v1/runs/{}", all[3])).await;
        assert_eq!(failed["completed_at"], "2025-01-01T00:00:31");

        // At most 50 runs, the oldest.
        let mut more = Vec::new();
        for n in 0..50 {
            more.push(insert_run(&app, &app.user_id, None, JobStatus::Completed, 100 + n).await);
        }
        let listed = ids(&get_ok(&app, "/v1/runs/").await);
        assert_eq!(listed.len(), 50);
        let mut expected = all.clone();
        expected.extend(run_ids(&more[..44]));
        assert_eq!(listed, expected);
    }
);

llm_test!(
    delete_run_keeps_history,
    |app: TestApp, llm: MockLlm| async move {
        let agent = id_of(&create_agent(&app, json!({})).await);
        llm.push(say("Hello"));
        send(&app, &agent, user_text("hi")).await;
        let run = get_ok(&app, "/v1/runs/").await[0].clone();
        let id = run["id"].as_str().unwrap().to_owned();
        let step_id = ids(&get_ok(&app, &format!("/v1/runs/{id}/steps")).await)[0].clone();
        let history_before = get_ok(&app, &format!("/v1/agents/{agent}/messages")).await;

        // Another user cannot delete it.
        let other = colleague(&app).await;
        let (status, body) = app
            .request_as(&other, Method::DELETE, &format!("/v1/runs/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(get_ok(&app, &format!("/v1/runs/{id}")).await, run);

        let (status, deleted) = app.delete(&format!("/v1/runs/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{deleted}");
        assert_eq!(deleted, run);
        let (status, body) = app.get(&format!("/v1/runs/{id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, json!({"detail": "Run not found"}));
        let (status, body) = app.delete(&format!("/v1/runs/{id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, json!({"detail": "Run not found"}));
        assert_eq!(get_ok(&app, "/v1/runs/").await, json!([]));
        let (status, _) = app.get(&format!("/v1/runs/{id}/messages")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = app.get(&format!("/v1/runs/{id}/usage")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, json!({"detail": format!("Run '{id}' not found")}));
        assert_eq!(
            get_ok(&app, &format!("/v1/runs/{id}/steps")).await,
            json!([])
        );

        // The conversation and the step record stay; the step no longer names the run.
        assert_eq!(
            get_ok(&app, &format!("/v1/agents/{agent}/messages")).await,
            history_before
        );
        let step = get_ok(&app, &format!("/v1/steps/{step_id}")).await;
        assert_eq!(step["job_id"], Value::Null);
    }
);

llm_test!(
    runs_are_private_to_their_user,
    |app: TestApp, llm: MockLlm| async move {
        let agent = id_of(&create_agent(&app, json!({})).await);
        llm.push(say("Hello").usage(7, 3));
        send(&app, &agent, user_text("hi")).await;
        let run = get_ok(&app, "/v1/runs/").await[0].clone();
        let id = run["id"].as_str().unwrap().to_owned();
        let colleague = colleague(&app).await;
        let outsider = app.other_org_user().await;
        for user in [&colleague, &outsider] {
            assert_eq!(get_as(&app, user, "/v1/runs/").await.1, json!([]));
            assert_eq!(
                get_as(&app, user, &format!("/v1/runs/?agent_ids={agent}"))
                    .await
                    .1,
                json!([])
            );
            assert_eq!(get_as(&app, user, "/v1/runs/active").await.1, json!([]));
            for path in [
                format!("/v1/runs/{id}"),
                format!("/v1/runs/{id}/messages"),
                format!("/v1/runs/{id}/usage"),
            ] {
                let (status, body) = get_as(&app, user, &path).await;
                assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
            }
            let (status, body) = get_as(&app, user, &format!("/v1/runs/{id}/steps")).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(body, json!([]));
        }
        // Still the owner's, unchanged.
        assert_eq!(get_ok(&app, &format!("/v1/runs/{id}")).await, run);
        assert_eq!(
            get_ok(&app, &format!("/v1/runs/{id}/usage")).await["total_tokens"],
            10
        );
    }
);

crate::both_backends!(run_routes_reject_bad_input, |app: TestApp| async move {
    let run = insert_run(&app, &app.user_id, Some("agent-x"), JobStatus::Running, 0).await;
    let id = &run.id;
    // Unknown runs.
    for path in [
        "/v1/runs/run-missing",
        "/v1/runs/run-missing/messages",
        "/v1/runs/run-missing/usage",
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    assert_eq!(
        get_ok(&app, "/v1/runs/run-missing/steps").await,
        json!([]),
        "an unknown run has no steps"
    );
    let (status, _) = app.delete("/v1/runs/run-missing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Steps: order, limit and cursors are checked.
    let (status, body) = app.get(&format!("/v1/runs/{id}/steps?order=up")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"detail": "Order must be 'asc' or 'desc'"}));
    let (status, body) = app.get(&format!("/v1/runs/{id}/steps?limit=ten")).await;
    assert_422(status, &body, &[json!("query"), json!("limit")]);
    let (status, body) = app.get(&format!("/v1/runs/{id}/steps?limit=-5")).await;
    assert_422(status, &body, &[json!("query"), json!("limit")]);
    let (status, body) = app
        .get(&format!("/v1/runs/{id}/steps?before=step-missing"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // Messages of a run without any.
    assert_eq!(
        get_ok(&app, &format!("/v1/runs/{id}/messages")).await,
        json!([])
    );
    assert_eq!(
        get_ok(&app, &format!("/v1/runs/{id}/usage")).await,
        json!({"completion_tokens": 0, "prompt_tokens": 0, "total_tokens": 0,
               "prompt_tokens_details": null, "completion_tokens_details": null})
    );
    // Nothing changed.
    assert_eq!(
        app.store.get_run(&app.user_id, id).await.unwrap().as_ref(),
        Some(&run)
    );
});
