//! Group turns through the scripted model: round robin, supervisor and dynamic managers
//! (speakers and order, what each member saw, what was persisted with which group id,
//! usage and stop reasons), streaming frame by frame, group message routes, busy members
//! and the deadlock case, and the sends that must be refused.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::groups::create_group;
use crate::helpers::{TestApp, create_agent, id_of};
use crate::llm_test;
use crate::mock_llm::{MockLlm, MockReply, MockRequest};
use crate::sse::{Frame, SseStream, data};

pub(crate) fn say(text: &str) -> MockReply {
    MockReply::tool_call(
        "send_message",
        json!({"inner_thoughts": format!("thinking about {text}"), "message": text}),
    )
    .usage(100, 10)
}

pub(crate) fn user(text: &str) -> Value {
    json!({"messages": [{"role": "user", "content": text}]})
}

/// An agent whose persona names it, so the mock can tell who is asking.
pub(crate) async fn member(app: &TestApp, name: &str) -> String {
    id_of(
        &create_agent(
            app,
            json!({"name": name, "memory_blocks": [
                {"label": "human", "value": "Name: unknown"},
                {"label": "persona", "value": format!("My name is {name}.")},
            ]}),
        )
        .await,
    )
}

/// Which member a request comes from (by its persona in the system prompt).
pub(crate) fn who(req: &MockRequest) -> String {
    let body = req.body.to_string();
    let at = body.find("My name is ").map(|i| i + "My name is ".len());
    at.map(|i| body[i..].split('.').next().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

pub(crate) fn requests_of(llm: &MockLlm, name: &str) -> Vec<String> {
    llm.chat_requests()
        .into_iter()
        .filter(|r| who(r) == name)
        .map(|r| r.body["messages"].to_string())
        .collect()
}

/// (name, message_type) of each response message.
pub(crate) fn speakers(messages: &Value) -> Vec<(String, String)> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap_or("-").to_owned(),
                m["message_type"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

pub(crate) fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

llm_test!(
    round_robin_turns_in_order,
    |app: TestApp, llm: MockLlm| async move {
        let alice = member(&app, "alice").await;
        let bob = member(&app, "bob").await;
        // A member without a persona block works.
        let carol = id_of(
            &create_agent(
                &app,
                json!({"name": "carol", "memory_blocks": [{"label": "human", "value": "h"}]}),
            )
            .await,
        );
        llm.set_rule(|req| {
            let name = match who(req).as_str() {
                "" => "carol".to_owned(),
                n => n.to_owned(),
            };
            say(&format!("{name} speaks"))
        });
        let group = create_group(
            &app,
            json!({"agent_ids": [alice, bob, carol], "description": "three"}),
        )
        .await;
        let gid = id_of(&group);
        let (status, body) = app
            .post(&format!("/v1/groups/{gid}/messages"), &user("hello group"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            speakers(&body["messages"]),
            pairs(&[
                ("alice", "reasoning_message"),
                ("alice", "assistant_message"),
                ("bob", "reasoning_message"),
                ("bob", "assistant_message"),
                ("carol", "reasoning_message"),
                ("carol", "assistant_message"),
            ])
        );
        assert_eq!(body["messages"][5]["content"], "carol speaks");
        assert_eq!(body["stop_reason"]["stop_reason"], "end_turn");
        assert_eq!(body["usage"]["step_count"], 3);
        assert_eq!(body["usage"]["prompt_tokens"], 300);
        assert_eq!(body["usage"]["total_tokens"], 330);

        // What each saw: the input, then the earlier speakers' words; never later ones.
        let a = requests_of(&llm, "alice").pop().unwrap();
        assert!(
            a.contains("hello group") && !a.contains("bob speaks"),
            "{a}"
        );
        let b = requests_of(&llm, "bob").pop().unwrap();
        assert!(
            b.contains("hello group") && b.contains("alice speaks"),
            "{b}"
        );
        assert!(!b.contains("carol speaks"));
        let c = llm.chat_requests().last().unwrap().body["messages"].to_string();
        assert!(
            c.contains("alice speaks") && c.contains("bob speaks"),
            "{c}"
        );

        // Persisted with the group id: every member's input and words; alice's history got
        // what she missed, outside her context.
        let (status, listed) = app
            .get(&format!("/v1/groups/{gid}/messages?limit=100"))
            .await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        let texts: Vec<String> = listed
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["message_type"] == "assistant_message")
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(texts, ["alice speaks", "bob speaks", "carol speaks"]);
        let rows = app
            .store
            .list_agent_messages(&alice, &Default::default())
            .await
            .unwrap();
        let missed: Vec<_> = rows
            .iter()
            .filter(|m| m.text().unwrap_or_default().contains("carol speaks"))
            .collect();
        assert_eq!(missed.len(), 1);
        assert_eq!(missed[0].group_id.as_deref(), Some(gid.as_str()));
        assert_eq!(missed[0].name.as_deref(), Some("carol"));
        let (_, state) = app.get(&format!("/v1/agents/{alice}")).await;
        assert!(
            !state["message_ids"]
                .as_array()
                .unwrap()
                .contains(&json!(missed[0].id))
        );
        let produced: Vec<_> = rows
            .iter()
            .filter(|m| {
                m.role == letta_rs::schemas::message::MessageRole::Assistant && m.step_id.is_some()
            })
            .collect();
        assert_eq!(produced.len(), 1);
        assert_eq!(produced[0].group_id.as_deref(), Some(gid.as_str()));
        assert_eq!(produced[0].name.as_deref(), Some("alice"));

        // The send was a run, recorded with the group.
        let (_, runs) = app.get("/v1/runs/").await;
        let run = runs
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["metadata"]["group_id"] == gid.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("no run of the group in {runs}"));
        assert_eq!(run["status"], "completed");

        // Modify and reset the group's messages.
        let edited = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["message_type"] == "assistant_message")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, body) = app
            .patch(
                &format!("/v1/groups/{gid}/messages/{edited}"),
                &json!({"message_type": "assistant_message", "content": "alice edited"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["content"], "alice edited");
        let (status, _) = app
            .patch(
                &format!("/v1/groups/{gid}/messages/message-00000000-0000-4000-8000-000000000000"),
                &json!({"message_type": "assistant_message", "content": "x"}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = app
            .patch(
                &format!("/v1/groups/{gid}/messages/{edited}"),
                &json!({"content": "x"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, body) = app
            .patch(&format!("/v1/groups/{gid}/reset-messages"), &json!({}))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, Value::Null);
        let (_, listed) = app.get(&format!("/v1/groups/{gid}/messages")).await;
        assert_eq!(listed, json!([]));
        let (_, state) = app.get(&format!("/v1/agents/{bob}")).await;
        let ids: Vec<String> = serde_json::from_value(state["message_ids"].clone()).unwrap();
        assert_eq!(
            app.store
                .get_messages(&app.org_id, &ids)
                .await
                .unwrap()
                .len(),
            ids.len(),
            "no dangling ids"
        );
    }
);

llm_test!(
    round_robin_honours_max_steps_and_types,
    |app: TestApp, llm: MockLlm| async move {
        let alice = member(&app, "alice").await;
        let bob = member(&app, "bob").await;
        llm.set_rule(|req| say(&format!("{} speaks", who(req))));
        let gid = id_of(
            &create_group(
                &app,
                json!({"agent_ids": [alice, bob], "description": "d",
                   "manager_config": {"manager_type": "round_robin", "max_turns": 4}}),
            )
            .await,
        );
        let (status, body) = app
            .post(
                &format!("/v1/groups/{gid}/messages"),
                &json!({"messages": [{"role": "user", "content": "go"}], "max_steps": 3,
                    "include_return_message_types": ["assistant_message"]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            speakers(&body["messages"]),
            pairs(&[
                ("alice", "assistant_message"),
                ("bob", "assistant_message"),
                ("alice", "assistant_message"),
            ])
        );
        assert_eq!(body["stop_reason"]["stop_reason"], "max_steps");
        assert_eq!(body["usage"]["step_count"], 3);
    }
);

llm_test!(
    group_stream_frame_by_frame,
    |app: TestApp, llm: MockLlm| async move {
        let alice = member(&app, "alice").await;
        let bob = member(&app, "bob").await;
        llm.set_rule(|req| say(&format!("{} speaks", who(req))));
        let gid = id_of(
            &create_group(&app, json!({"agent_ids": [alice, bob], "description": "d"})).await,
        );
        let mut stream = SseStream::open(
            &app.client,
            &app.url(&format!("/v1/groups/{gid}/messages/stream")),
            &app.user_id,
            Some(&user("hello stream")),
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
                ("alice", "reasoning_message"),
                ("alice", "assistant_message"),
                ("bob", "reasoning_message"),
                ("bob", "assistant_message"),
                ("-", "stop_reason"),
                ("-", "usage_statistics"),
            ])
        );
        let n = frames.len();
        assert_eq!(frames[n - 1], Frame::Done);
        assert_eq!(frames[n - 3].json()["stop_reason"], "end_turn");
        assert_eq!(frames[n - 2].json()["step_count"], 2);
        assert_eq!(frames[n - 2].json()["total_tokens"], 220);

        // Resumable like an agent's stream.
        let mut again = SseStream::open(
            &app.client,
            &app.url(&format!("/v1/runs/{run_id}/stream?starting_after=2")),
            &app.user_id,
            None,
        )
        .await;
        assert_eq!(again.status, StatusCode::OK);
        let rest: Vec<Frame> = again
            .rest()
            .await
            .into_iter()
            .filter(|f| !matches!(f, Frame::Comment(_)))
            .collect();
        assert_eq!(&rest[..], &frames[2..]);

        // Token streaming names every delta too.
        let mut tokens = SseStream::open(
            &app.client,
            &app.url(&format!("/v1/groups/{gid}/messages/stream")),
            &app.user_id,
            Some(&json!({"messages": [{"role": "user", "content": "t"}], "stream_tokens": true})),
        )
        .await;
        let frames = tokens.rest().await;
        let messages: Vec<Value> = data(&frames)
            .into_iter()
            .filter(|m| m["message_type"] == "assistant_message")
            .collect();
        assert!(!messages.is_empty());
        assert!(
            messages
                .iter()
                .all(|m| m["name"] == "alice" || m["name"] == "bob")
        );
        assert!(messages.iter().any(|m| m["name"] == "bob"));
    }
);

/// Whether the broadcast already returned (its result is in the request).
fn last_is_tool(req: &MockRequest) -> bool {
    let messages = req.body["messages"].to_string();
    [
        "said: ",
        "Timed out for agent",
        "Error for agent",
        "No response from",
    ]
    .iter()
    .any(|mark| messages.contains(mark))
}

/// The supervisor's script: broadcast first, then answer with what came back.
fn supervise(req: &MockRequest, boss: &str, worker_delay: Duration) -> MockReply {
    let name = who(req);
    if name != boss {
        return say(&format!("{name} reporting")).delay(worker_delay);
    }
    if last_is_tool(req) {
        say("all done")
    } else {
        MockReply::tool_call(
            "send_message_to_all_agents_in_group",
            json!({"message": "status please", "request_heartbeat": true}),
        )
        .usage(100, 10)
    }
}

llm_test!(
    supervisor_broadcasts_in_parallel,
    config = |cfg: &mut letta_rs::config::Config| cfg.group_worker_timeout_secs = 2,
    |app: TestApp, llm: MockLlm| async move {
        let boss = member(&app, "boss").await;
        let w1 = member(&app, "w1").await;
        let w2 = member(&app, "w2").await;
        let slow = member(&app, "slow").await;
        llm.set_rule(|req| {
            let delay = if who(req) == "slow" {
                Duration::from_secs(5)
            } else {
                Duration::from_millis(800)
            };
            supervise(req, "boss", delay)
        });
        let gid = id_of(
            &create_group(
                &app,
                json!({"agent_ids": [w1, w2], "description": "team",
                       "manager_config": {"manager_type": "supervisor", "manager_agent_id": boss}}),
            )
            .await,
        );
        let started = Instant::now();
        let (status, body) = app
            .post(&format!("/v1/groups/{gid}/messages"), &user("report"))
            .await;
        let took = started.elapsed();
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            took < Duration::from_millis(1500),
            "workers ran one after the other: {took:?}"
        );
        let got = speakers(&body["messages"]);
        assert!(
            got.iter().all(|(name, t)| name == "boss"
                || (t == "tool_return_message" && name == "send_message_to_all_agents_in_group")),
            "{got:?}"
        );
        let ret = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["message_type"] == "tool_return_message")
            .unwrap()["tool_return"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            ret,
            format!("[\"{w1} said: 'w1 reporting'\", \"{w2} said: 'w2 reporting'\"]")
        );
        assert_eq!(
            body["messages"].as_array().unwrap().last().unwrap()["content"],
            "all done",
            "{body}"
        );
        assert_eq!(body["stop_reason"]["stop_reason"], "end_turn");
        assert_eq!(
            body["usage"]["step_count"], 4,
            "manager's two steps and the workers'"
        );
        // The workers got the manager's message with its prefix.
        let w = requests_of(&llm, "w1").pop().unwrap();
        assert!(
            w.contains(&format!("[Incoming message from agent with ID '{boss}'"))
                && w.contains("status please"),
            "{w}"
        );
        // The tool is attached to the manager, and to a second supervisor in the org too.
        let (_, tools) = app.get(&format!("/v1/agents/{boss}/tools")).await;
        assert!(
            tools
                .to_string()
                .contains("send_message_to_all_agents_in_group")
        );
        let boss2 = member(&app, "boss2").await;
        let gid2 = id_of(
            &create_group(
                &app,
                json!({"agent_ids": [slow], "description": "slow team",
                       "manager_config": {"manager_type": "supervisor", "manager_agent_id": boss2}}),
            )
            .await,
        );
        llm.set_rule(|req| {
            let delay = if who(req) == "slow" {
                Duration::from_secs(5)
            } else {
                Duration::ZERO
            };
            supervise(req, "boss2", delay)
        });
        // A worker slower than the timeout is reported, and the turn goes on.
        let (status, body) = app
            .post(&format!("/v1/groups/{gid2}/messages"), &user("report"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            body.to_string()
                .contains(&format!("Timed out for agent {slow}")),
            "{body}"
        );
        let (_, tools) = app.get(&format!("/v1/agents/{boss2}/tools")).await;
        assert!(
            tools
                .to_string()
                .contains("send_message_to_all_agents_in_group")
        );
    }
);

llm_test!(
    busy_members_never_deadlock,
    config = |cfg: &mut letta_rs::config::Config| cfg.group_member_wait_secs = 1,
    |app: TestApp, llm: MockLlm| async move {
        // Two supervisors, each the other's worker: sent to at once, each holds its own
        // lock and waits for the other's. The bounded wait reports the other busy.
        let s1 = member(&app, "s1").await;
        let s2 = member(&app, "s2").await;
        for (boss, worker) in [(&s1, &s2), (&s2, &s1)] {
            create_group(
                &app,
                json!({"agent_ids": [worker], "description": "cross",
                       "manager_config": {"manager_type": "supervisor", "manager_agent_id": boss}}),
            )
            .await;
        }
        let groups: Vec<String> = {
            let (_, all) = app.get("/v1/groups/").await;
            all.as_array().unwrap().iter().map(id_of).collect()
        };
        llm.set_rule(|req| {
            if last_is_tool(req) {
                say("done")
            } else {
                MockReply::tool_call(
                    "send_message_to_all_agents_in_group",
                    json!({"message": "hi", "request_heartbeat": true}),
                )
                .delay(Duration::from_millis(300))
            }
        });
        let started = Instant::now();
        let (p1, p2) = (
            format!("/v1/groups/{}/messages", groups[0]),
            format!("/v1/groups/{}/messages", groups[1]),
        );
        let (u1, u2) = (user("a"), user("b"));
        let one = app.post(&p1, &u1);
        let two = app.post(&p2, &u2);
        let ((s_one, b_one), (s_two, b_two)) =
            tokio::time::timeout(Duration::from_secs(30), async { tokio::join!(one, two) })
                .await
                .expect("the two group sends deadlocked");
        assert_eq!(s_one, StatusCode::OK, "{b_one}");
        assert_eq!(s_two, StatusCode::OK, "{b_two}");
        let both = format!("{b_one}{b_two}");
        assert!(both.contains("is busy in another turn"), "{both}");
        assert!(started.elapsed() < Duration::from_secs(20));

        // A round-robin member busy in another turn is reported busy after the bounded wait.
        let bob = member(&app, "bob").await;
        let carl = member(&app, "carl").await;
        let rr = id_of(
            &create_group(&app, json!({"agent_ids": [carl, bob], "description": "rr"})).await,
        );
        llm.set_rule(|req| {
            if who(req) == "bob" {
                say("slow bob").delay(Duration::from_secs(3))
            } else {
                say("quick")
            }
        });
        let direct = format!("/v1/agents/{bob}/messages");
        let hello = user("busy?");
        let busy = app.post(&direct, &hello);
        let group_send = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            app.post(&format!("/v1/groups/{rr}/messages"), &user("hi"))
                .await
        };
        let ((s_direct, _), (status, body)) = tokio::join!(busy, group_send);
        assert_eq!(s_direct, StatusCode::OK);
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("Agent {bob} is busy")),
            "{body}"
        );
    }
);

llm_test!(
    dynamic_manager_picks_speakers,
    |app: TestApp, llm: MockLlm| async move {
        let boss = member(&app, "boss").await;
        let alice = member(&app, "alice").await;
        let bob = member(&app, "bob").await;
        let carol = member(&app, "carol").await;
        let gid = id_of(
        &create_group(
            &app,
            json!({"agent_ids": [alice, bob, carol], "description": "d",
                   "manager_config": {"manager_type": "dynamic", "manager_agent_id": boss, "max_turns": 5}}),
        )
        .await,
    );
        // Sequential: the manager names bob, then no one (falls back to the member after bob,
        // carol), and carol ends the chat with the token.
        for reply in [
            "Bob should answer",
            "bob here",
            "no idea",
            "carol says DONE!",
        ] {
            llm.push(say(reply));
        }
        let (status, body) = app
            .post(&format!("/v1/groups/{gid}/messages"), &user("hello"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let names: Vec<String> = speakers(&body["messages"])
            .into_iter()
            .filter(|(_, t)| t == "assistant_message")
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["boss", "bob", "boss", "carol"]);
        assert_eq!(body["stop_reason"]["stop_reason"], "end_turn");
        assert_eq!(body["usage"]["step_count"], 4);
        assert_eq!(llm.pending(), 0);
        let asks = requests_of(&llm, "boss");
        assert!(
            asks[0].contains("Chat history") && asks[0].contains("user: hello"),
            "{}",
            asks[0]
        );
        assert!(asks[1].contains("bob: bob here"), "{}", asks[1]);
        // The manager's messages are the group's listing.
        let (_, listed) = app.get(&format!("/v1/groups/{gid}/messages")).await;
        assert!(listed.to_string().contains("no idea"));
        assert!(!listed.to_string().contains("carol says"));
    }
);

llm_test!(
    group_sends_refused,
    |app: TestApp, llm: MockLlm| async move {
        let main = member(&app, "main").await;
        let helper = member(&app, "helper").await;
        let voice = id_of(
        &create_group(
            &app,
            json!({"agent_ids": [helper], "description": "v",
                   "manager_config": {"manager_type": "voice_sleeptime", "manager_agent_id": main}}),
        )
        .await,
    );
        for path in ["messages", "messages/stream"] {
            let (status, body) = app
                .post(&format!("/v1/groups/{voice}/{path}"), &user("hi"))
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        }
        let missing = "group-00000000-0000-4000-8000-000000000000";
        let (status, _) = app
            .post(&format!("/v1/groups/{missing}/messages"), &user("hi"))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = app
            .post(&format!("/v1/groups/{main}/messages"), &user("hi"))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        // A group whose members were all deleted is empty.
        let gone = member(&app, "gone").await;
        let empty =
            id_of(&create_group(&app, json!({"agent_ids": [gone], "description": "e"})).await);
        let (status, _) = app.delete(&format!("/v1/agents/{gone}")).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = app
            .post(&format!("/v1/groups/{empty}/messages"), &user("hi"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body["detail"].as_str().unwrap().contains("Empty group"));
        let (status, body) = app
            .post(
                &format!("/v1/groups/{empty}/messages"),
                &json!({"messages": [{"role": "assistant", "content": "x"}]}),
            )
            .await;
        assert!(status.is_client_error(), "{body}");
        assert_eq!(llm.request_count(), 0, "nothing ran");
        // A sleeptime group answers with the main agent's normal turn.
        let sleepy = id_of(
        &create_group(
            &app,
            json!({"agent_ids": [helper], "description": "s",
                   "manager_config": {"manager_type": "sleeptime", "manager_agent_id": gone_safe(&app).await}}),
        )
        .await,
    );
        llm.push(say("main answers"));
        let (status, body) = app
            .post(&format!("/v1/groups/{sleepy}/messages"), &user("hi"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["messages"][1]["content"], "main answers");
        assert_eq!(body["messages"][1]["name"], "sleepy-main");
    }
);

async fn gone_safe(app: &TestApp) -> String {
    member(app, "sleepy-main").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_a_group_turn_from_another_replica() {
    use crate::replicas::{slow_reply, start_replica_with, wait_for_status};
    let llm = MockLlm::start().await;
    let (db, store) = crate::helpers::isolated_postgres().await;
    let (org, owner) = crate::helpers::new_org_and_user(&store).await;
    let env = [
        ("DATABASE_URL", db.clone()),
        ("REDIS_URL", "redis://127.0.0.1:6379".to_owned()),
        ("LETTA_RUN_STALE_AFTER_SECS", "1".to_owned()),
        ("LETTA_AGENT_LEASE_TTL_SECS", "2".to_owned()),
    ];
    let port_a = crate::replicas::free_port();
    let a = start_replica_with(&llm, &store, &org.id, &owner.id, port_a, &env).await;
    let port_b = crate::replicas::free_port();
    let b = start_replica_with(&llm, &store, &org.id, &owner.id, port_b, &env).await;
    let alice = member(&a.app, "alice").await;
    let bob = member(&a.app, "bob").await;
    llm.set_rule(|req| {
        if who(req) == "alice" {
            slow_reply("alice is talking for a long long while and will be cut off")
        } else {
            say("bob speaks")
        }
    });
    let gid = id_of(
        &create_group(
            &a.app,
            json!({"agent_ids": [alice, bob], "description": "d"}),
        )
        .await,
    );
    let mut on_a = SseStream::open(
        &a.app.client,
        &a.app.url(&format!("/v1/groups/{gid}/messages/stream")),
        &a.app.user_id,
        Some(&json!({"messages": [{"role": "user", "content": "go"}], "stream_tokens": true})),
    )
    .await;
    assert_eq!(on_a.status, StatusCode::OK);
    let run_id = on_a.headers["letta-run-id"].to_str().unwrap().to_owned();
    let first = on_a.next_within(Duration::from_secs(10)).await.unwrap();
    assert_eq!(first.json()["name"], "alice");
    // B cancels the group's run (the run is its first member's: found through Redis).
    let asked = Instant::now();
    let (status, body) = b
        .app
        .send_raw(
            reqwest::Method::POST,
            &format!("/v1/agents/{alice}/messages/cancel"),
            "",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ run_id.clone(): "cancelled" }));
    let rest = on_a.rest().await;
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
    let frames: Vec<Value> = data(&rest);
    assert!(frames.iter().all(|f| f["name"] != "bob"), "bob never spoke");
    assert!(
        frames
            .iter()
            .any(|f| f == &json!({"message_type": "stop_reason", "stop_reason": "cancelled"})),
        "{frames:?}"
    );
    assert_eq!(rest.last(), Some(&Frame::Done));
    wait_for_status(&b.app, &run_id, "cancelled", Duration::from_secs(5)).await;
    assert!(requests_of(&llm, "bob").is_empty());
    // Both members take a new group turn afterwards.
    llm.set_rule(|req| say(&format!("{} again", who(req))));
    let (status, body) = b
        .app
        .post(&format!("/v1/groups/{gid}/messages"), &user("again"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stop_reason"]["stop_reason"], "end_turn");
}
