//! A group's manager messaged through the agent routes (`/v1/agents/{id}/messages`,
//! `/stream`, `/async`, and a batch item): a supervisor's or dynamic group's manager runs the
//! group's pattern as a send to the group does (same run, events, usage, stop reasons, step
//! budget and cancellation); a sleeptime main agent and a group's participant keep their
//! own turn; a manager whose group cannot run is refused before any run.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::group_managers::{member, pairs, requests_of, say, speakers, user, who};
use crate::groups::create_group;
use crate::helpers::{TestApp, create_agent, id_of};
use crate::llm_test;
use crate::mock_llm::{MockLlm, MockReply, MockRequest};
use crate::sleeptime::{finished_run, is_sleeptime, run_ids};
use crate::sse::{Frame, SseStream, data};

/// The supervisor's tool (its results carry the tool's name).
const BROADCAST: &str = "send_message_to_all_agents_in_group";

/// A supervisor group: `boss` manages `w1` and `w2`. Answers (boss, w1, w2, group id).
async fn supervised_team(app: &TestApp) -> (String, String, String, String) {
    let boss = member(app, "boss").await;
    let w1 = member(app, "w1").await;
    let w2 = member(app, "w2").await;
    let gid = id_of(
        &create_group(
            app,
            json!({"agent_ids": [w1, w2], "description": "team",
                   "manager_config": {"manager_type": "supervisor", "manager_agent_id": boss}}),
        )
        .await,
    );
    (boss, w1, w2, gid)
}

/// The model's script: `boss` broadcasts the request, then answers once the broadcast has
/// returned (within this request: earlier requests' broadcasts are in its history too);
/// anyone else reports after `worker_delay`.
fn script(req: &MockRequest, worker_delay: Duration) -> MockReply {
    let name = who(req);
    if name != "boss" {
        return say(&format!("{name} reporting")).delay(worker_delay);
    }
    let messages = req.messages();
    let input = messages
        .iter()
        .rposition(|m| m["role"] == "user" && !m["content"].to_string().contains("heartbeat"));
    if input.is_some_and(|i| messages[i..].iter().any(|m| m["role"] == "tool")) {
        say("all done")
    } else {
        MockReply::tool_call(
            BROADCAST,
            json!({"message": "status please", "request_heartbeat": true}),
        )
        .usage(100, 10)
    }
}

/// The runs recorded on the agent.
async fn runs_of(app: &TestApp, agent_id: &str) -> Vec<Value> {
    let (status, runs) = app.get(&format!("/v1/runs/?agent_ids={agent_id}")).await;
    assert_eq!(status, StatusCode::OK, "{runs}");
    runs.as_array().unwrap().clone()
}

fn run_by_id(runs: &[Value], run_id: &str) -> Value {
    runs.iter()
        .find(|r| r["id"] == run_id)
        .cloned()
        .unwrap_or_else(|| panic!("no run {run_id} in {runs:?}"))
}

/// What the supervisor's broadcast returned, from a list of messages.
fn broadcast_result(messages: &Value) -> String {
    messages
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["message_type"] == "tool_return_message")
        .unwrap_or_else(|| panic!("no tool return in {messages}"))["tool_return"]
        .as_str()
        .unwrap()
        .to_owned()
}

llm_test!(
    supervisor_manager_messaged_directly_runs_the_group,
    |app: TestApp, llm: MockLlm| async move {
        let (boss, w1, w2, gid) = supervised_team(&app).await;
        llm.set_rule(|req| script(req, Duration::ZERO));

        let (status, body) = app
            .post(&format!("/v1/agents/{boss}/messages"), &user("report"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // The manager's messages (named), the broadcast's result with both workers' words.
        assert_eq!(
            speakers(&body["messages"]),
            pairs(&[
                ("boss", "tool_call_message"),
                (BROADCAST, "tool_return_message"),
                ("boss", "reasoning_message"),
                ("boss", "assistant_message"),
            ])
        );
        assert_eq!(
            broadcast_result(&body["messages"]),
            format!("[\"{w1} said: 'w1 reporting'\", \"{w2} said: 'w2 reporting'\"]")
        );
        assert_eq!(body["messages"][3]["content"], "all done");
        assert_eq!(body["stop_reason"]["stop_reason"], "end_turn");
        assert_eq!(
            body["usage"]["step_count"], 4,
            "the manager's two steps and the workers'"
        );
        assert_eq!(body["usage"]["prompt_tokens"], 400);
        assert_eq!(requests_of(&llm, "w1").len(), 1);
        assert_eq!(requests_of(&llm, "w2").len(), 1);
        // One run, recorded on the manager and naming the group.
        let runs = runs_of(&app, &boss).await;
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(runs[0]["status"], "completed");
        assert_eq!(runs[0]["metadata"]["job_type"], "send_message");
        assert_eq!(runs[0]["metadata"]["group_id"], gid.as_str());
        assert!(runs_of(&app, &w1).await.is_empty(), "the workers ran in it");
        // The group's listing holds what the manager said.
        let (_, listed) = app.get(&format!("/v1/groups/{gid}/messages")).await;
        assert!(listed.to_string().contains("all done"), "{listed}");

        // The request's step budget and message types hold as on the group route: the
        // broadcast spends the manager's only step.
        let (status, body) = app
            .post(
                &format!("/v1/agents/{boss}/messages"),
                &json!({"messages": [{"role": "user", "content": "again"}], "max_steps": 1,
                        "include_return_message_types": ["tool_return_message"]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            speakers(&body["messages"]),
            pairs(&[(BROADCAST, "tool_return_message")])
        );
        assert_eq!(body["stop_reason"]["stop_reason"], "max_steps");
        assert_eq!(body["usage"]["step_count"], 3);

        // A worker messaged directly takes its own turn.
        let before = llm.chat_requests().len();
        let (status, body) = app
            .post(&format!("/v1/agents/{w1}/messages"), &user("just you"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(llm.chat_requests().len(), before + 1);
        assert_eq!(body["messages"][1]["content"], "w1 reporting");
        assert_eq!(body["messages"][1]["name"], Value::Null);
        assert!(runs_of(&app, &w1).await[0]["metadata"]["group_id"].is_null());
    }
);

llm_test!(
    supervisor_manager_stream_and_async,
    |app: TestApp, llm: MockLlm| async move {
        let (boss, _w1, _w2, gid) = supervised_team(&app).await;
        llm.set_rule(|req| script(req, Duration::ZERO));

        let mut stream = SseStream::open(
            &app.client,
            &app.url(&format!("/v1/agents/{boss}/messages/stream")),
            &app.user_id,
            Some(&user("stream it")),
        )
        .await;
        assert_eq!(stream.status, StatusCode::OK);
        let run_id = stream.headers["letta-run-id"].to_str().unwrap().to_owned();
        let frames: Vec<Frame> = stream
            .rest()
            .await
            .into_iter()
            .filter(|f| !matches!(f, Frame::Comment(_)))
            .collect();
        let got = speakers(&Value::Array(data(&frames)));
        assert_eq!(
            got,
            pairs(&[
                ("boss", "tool_call_message"),
                (BROADCAST, "tool_return_message"),
                ("boss", "reasoning_message"),
                ("boss", "assistant_message"),
                ("-", "stop_reason"),
                ("-", "usage_statistics"),
            ])
        );
        let n = frames.len();
        assert_eq!(frames[n - 1], Frame::Done);
        assert_eq!(frames[n - 3].json()["stop_reason"], "end_turn");
        assert_eq!(frames[n - 2].json()["step_count"], 4);
        assert!(broadcast_result(&Value::Array(data(&frames))).contains("w1 reporting"));
        let run = run_by_id(&runs_of(&app, &boss).await, &run_id);
        assert_eq!(run["status"], "completed");
        assert_eq!(run["metadata"]["job_type"], "send_message_streaming");
        assert_eq!(run["metadata"]["group_id"], gid.as_str());

        // Token streaming: the manager's deltas are named too.
        let mut tokens = SseStream::open(
            &app.client,
            &app.url(&format!("/v1/agents/{boss}/messages/stream")),
            &app.user_id,
            Some(&json!({"messages": [{"role": "user", "content": "t"}], "stream_tokens": true})),
        )
        .await;
        let frames = tokens.rest().await;
        let said: Vec<Value> = data(&frames)
            .into_iter()
            .filter(|m| m["message_type"] == "assistant_message")
            .collect();
        assert!(!said.is_empty(), "{frames:?}");
        assert!(said.iter().all(|m| m["name"] == "boss"), "{said:?}");
        assert_eq!(frames.last(), Some(&Frame::Done));

        // Async: the run completes in the background with the group's answer.
        let asked = requests_of(&llm, "w1").len();
        let (status, run) = app
            .post(&format!("/v1/agents/{boss}/messages/async"), &user("later"))
            .await;
        assert_eq!(status, StatusCode::OK, "{run}");
        assert_eq!(run["metadata"]["agent_id"], boss.as_str());
        let run = finished_run(&app, &id_of(&run)).await;
        assert_eq!(run["status"], "completed", "{run}");
        let result = &run["metadata"]["result"];
        assert_eq!(result["stop_reason"]["stop_reason"], "end_turn");
        assert_eq!(result["usage"]["step_count"], 4);
        assert!(
            broadcast_result(&result["messages"]).contains("w2 reporting"),
            "{result}"
        );
        assert_eq!(requests_of(&llm, "w1").len(), asked + 1);

        // A batch item to the manager is what `/async` would be.
        let (status, batch) = app
            .post(
                "/v1/messages/batches",
                &json!({"requests": [{"agent_id": boss, "messages": [{"role": "user", "content": "batch"}]}]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{batch}");
        let item = batch["metadata"]["items"][0]["run_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let run = finished_run(&app, &item).await;
        assert_eq!(run["status"], "completed", "{run}");
        assert!(
            broadcast_result(&run["metadata"]["result"]["messages"]).contains("w1 reporting"),
            "{run}"
        );
        assert_eq!(requests_of(&llm, "w1").len(), asked + 2);
        // Whatever was asked of `w1` came from the manager's broadcast.
        assert!(
            llm.chat_requests()
                .iter()
                .filter(|r| who(r) == "w1")
                .all(|r| r.body.to_string().contains("status please"))
        );
    }
);

llm_test!(
    dynamic_manager_messaged_directly_runs_the_chat,
    |app: TestApp, llm: MockLlm| async move {
        let boss = member(&app, "boss").await;
        let alice = member(&app, "alice").await;
        let bob = member(&app, "bob").await;
        let gid = id_of(
            &create_group(
                &app,
                json!({"agent_ids": [alice, bob], "description": "d",
                       "manager_config": {"manager_type": "dynamic", "manager_agent_id": boss,
                                          "max_turns": 4}}),
            )
            .await,
        );
        for reply in [
            "Bob, go ahead",
            "bob here",
            "alice please",
            "alice says DONE!",
        ] {
            llm.push(say(reply));
        }
        let (status, body) = app
            .post(&format!("/v1/agents/{boss}/messages"), &user("hello"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let names: Vec<String> = speakers(&body["messages"])
            .into_iter()
            .filter(|(_, t)| t == "assistant_message")
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["boss", "bob", "boss", "alice"]);
        assert_eq!(body["usage"]["step_count"], 4);
        assert_eq!(llm.pending(), 0);
        let asks = requests_of(&llm, "boss");
        assert!(asks[0].contains("Chat history"), "{}", asks[0]);
        assert!(requests_of(&llm, "alice")[0].contains("bob here"));
        let runs = runs_of(&app, &boss).await;
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(runs[0]["metadata"]["group_id"], gid.as_str());
    }
);

llm_test!(
    sleeptime_main_agent_keeps_its_own_turn,
    |app: TestApp, llm: MockLlm| async move {
        let main =
            id_of(&create_agent(&app, json!({"name": "main", "enable_sleeptime": true})).await);
        llm.set_rule(|req| {
            if is_sleeptime(req) {
                MockReply::tool_call("memory_finish_edits", json!({}))
            } else {
                say("main answers")
            }
        });
        let (status, body) = app
            .post(&format!("/v1/agents/{main}/messages"), &user("hi"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // The main agent's own turn (unnamed, unlike a group's member), then its companion.
        assert_eq!(
            speakers(&body["messages"]),
            pairs(&[("-", "reasoning_message"), ("-", "assistant_message")])
        );
        assert_eq!(body["messages"][1]["content"], "main answers");
        let ids = run_ids(&body);
        assert_eq!(ids.len(), 1, "{body}");
        let companion = finished_run(&app, &ids[0]).await;
        assert_eq!(companion["status"], "completed", "{companion}");
        assert_ne!(companion["metadata"]["agent_id"], main.as_str());
        let own = runs_of(&app, &main).await;
        assert_eq!(own.len(), 1, "{own:?}");
        assert!(own[0]["metadata"]["group_id"].is_null(), "{own:?}");
    }
);

llm_test!(
    cancelling_a_managers_group_run,
    |app: TestApp, llm: MockLlm| async move {
        let (boss, w1, w2, _gid) = supervised_team(&app).await;
        // The workers never answer in time: the manager's turn waits in its broadcast.
        llm.set_rule(|req| script(req, Duration::from_secs(60)));
        let mut stream = SseStream::open(
            &app.client,
            &app.url(&format!("/v1/agents/{boss}/messages/stream")),
            &app.user_id,
            Some(&user("report")),
        )
        .await;
        assert_eq!(stream.status, StatusCode::OK);
        let run_id = stream.headers["letta-run-id"].to_str().unwrap().to_owned();
        let broadcasting = async {
            while requests_of(&llm, "w1").is_empty() || requests_of(&llm, "w2").is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), broadcasting)
            .await
            .expect("the manager's broadcast never reached the workers");
        // The manager's latest run is the group's: cancelling "the agent's run" stops it.
        let (status, body) = app
            .send_raw(
                reqwest::Method::POST,
                &format!("/v1/agents/{boss}/messages/cancel"),
                "",
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({ run_id.clone(): "cancelled" }));
        let frames = stream.rest().await;
        assert!(
            data(&frames)
                .iter()
                .any(|f| f == &json!({"message_type": "stop_reason", "stop_reason": "cancelled"})),
            "{frames:?}"
        );
        assert_eq!(frames.last(), Some(&Frame::Done));
        let run = finished_run(&app, &run_id).await;
        assert_eq!(run["status"], "cancelled", "{run}");
        // The manager never answered, and no worker's words were stored.
        assert_eq!(requests_of(&llm, "boss").len(), 1);
        for worker in [&w1, &w2] {
            let (_, messages) = app.get(&format!("/v1/agents/{worker}/messages")).await;
            assert!(
                !messages.to_string().contains("reporting"),
                "{worker}: {messages}"
            );
        }
        // The manager takes the next request.
        llm.set_rule(|req| script(req, Duration::ZERO));
        let (status, body) = app
            .post(&format!("/v1/agents/{boss}/messages"), &user("again"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["stop_reason"]["stop_reason"], "end_turn");
    }
);

llm_test!(
    a_manager_whose_group_cannot_run_is_refused,
    |app: TestApp, llm: MockLlm| async move {
        let (boss, w1, w2, _gid) = supervised_team(&app).await;
        for worker in [&w1, &w2] {
            let (status, _) = app.delete(&format!("/v1/agents/{worker}")).await;
            assert_eq!(status, StatusCode::OK);
        }
        // The group is empty: every route answers as a send to the group would, at once.
        for path in ["messages", "messages/stream", "messages/async"] {
            let (status, body) = app
                .post(&format!("/v1/agents/{boss}/{path}"), &user("anyone?"))
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
            assert!(
                body["detail"].as_str().unwrap().contains("Empty group"),
                "{body}"
            );
        }
        let (status, batch) = app
            .post(
                "/v1/messages/batches",
                &json!({"requests": [{"agent_id": boss, "messages": [{"role": "user", "content": "b"}]}]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{batch}");
        let item = batch["metadata"]["items"][0]["run_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let run = finished_run(&app, &item).await;
        assert_eq!(run["status"], "failed", "{run}");
        assert!(
            run["metadata"]["error"]
                .as_str()
                .unwrap()
                .contains("Empty group"),
            "{run}"
        );
        assert_eq!(llm.request_count(), 0, "nothing ran");
        let runs = runs_of(&app, &boss).await;
        assert_eq!(runs.len(), 1, "only the batch item: {runs:?}");

        // Not found and bad input stay what they are.
        let missing = "agent-00000000-0000-4000-8000-000000000000";
        let (status, _) = app
            .post(&format!("/v1/agents/{missing}/messages"), &user("hi"))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let alone = member(&app, "alone").await;
        let solo = member(&app, "solo").await;
        create_group(
            &app,
            json!({"agent_ids": [solo], "description": "one",
                   "manager_config": {"manager_type": "supervisor", "manager_agent_id": alone}}),
        )
        .await;
        let (status, body) = app
            .post(
                &format!("/v1/agents/{alone}/messages"),
                &json!({"messages": [{"role": "assistant", "content": "x"}]}),
            )
            .await;
        assert!(status.is_client_error(), "{body}");
        assert_eq!(llm.request_count(), 0, "nothing ran");
        assert!(runs_of(&app, &alone).await.is_empty());
    }
);
