//! The multi-agent tools through the agent loop and the mock model: a reply awaited from
//! another agent (its own run), a background send, tag broadcasts (match_all / match_some,
//! the Python-literal return), an agent calling itself or its caller back (a tool error,
//! never a hang), and targets that fail.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, create_agent, id_of};
use crate::llm_test;
use crate::mock_llm::{MockLlm, MockReply};

const WAIT: &str = "send_message_to_agent_and_wait_for_reply";
const ASYNC: &str = "send_message_to_agent_async";
const TAGS: &str = "send_message_to_agents_matching_tags";

fn call(name: &str, mut args: Value) -> MockReply {
    args["request_heartbeat"] = json!(true);
    MockReply::tool_call(name, args)
}

fn say(text: &str) -> MockReply {
    MockReply::tool_call("send_message", json!({"message": text}))
}

/// An agent with the multi-agent tools whose persona names it (the mock's rules tell the
/// agents apart by it).
async fn agent(app: &TestApp, name: &str, tags: &[&str]) -> String {
    let agent = create_agent(
        app,
        json!({
            "name": name,
            "include_multi_agent_tools": true,
            "tags": tags,
            "memory_blocks": [
                {"label": "human", "value": "Name: unknown"},
                {"label": "persona", "value": format!("I am agent {name}.")},
            ],
        }),
    )
    .await;
    id_of(&agent)
}

/// Sends `text` to the agent, bounded so that a deadlock fails the test instead of hanging.
async fn send(app: &TestApp, agent_id: &str, text: &str) -> Value {
    let path = format!("/v1/agents/{agent_id}/messages");
    let input = json!({"messages": [{"role": "user", "content": text}]});
    let (status, body) = tokio::time::timeout(Duration::from_secs(60), app.post(&path, &input))
        .await
        .expect("the request ended (no deadlock)");
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn returns(body: &Value) -> Vec<Value> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["message_type"] == "tool_return_message")
        .cloned()
        .collect()
}

/// The persona named in a chat request's system prompt (`A` for "I am agent A.").
fn speaker(req: &crate::mock_llm::MockRequest) -> String {
    let body = req.body.to_string();
    body.split("I am agent ")
        .nth(1)
        .and_then(|rest| rest.split('.').next())
        .unwrap_or_default()
        .to_owned()
}

async fn messages_of(app: &TestApp, agent_id: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/v1/agents/{agent_id}/messages?limit=100"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

async fn runs_of(app: &TestApp, agent_id: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/v1/runs/?agent_ids={agent_id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

llm_test!(
    include_multi_agent_tools_attaches_the_three,
    |app: TestApp, _llm: MockLlm| async move {
        let with = create_agent(&app, json!({"include_multi_agent_tools": true})).await;
        let names: Vec<&str> = with["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        for tool in [WAIT, ASYNC, TAGS] {
            assert!(names.contains(&tool), "{names:?}");
        }
        let without = create_agent(&app, json!({})).await;
        assert!(
            !without["tools"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["name"] == WAIT)
        );
    }
);

llm_test!(
    wait_for_reply_runs_the_target_and_returns_its_words,
    |app: TestApp, llm: MockLlm| async move {
        let a = agent(&app, "A", &[]).await;
        let b = agent(&app, "B", &[]).await;
        llm.push(call(
            WAIT,
            json!({"message": "what is 2+2?", "other_agent_id": b}),
        ));
        llm.push(say("it's 4"));
        llm.push(say("B says 4"));
        let body = send(&app, &a, "ask B").await;
        let r = returns(&body);
        assert_eq!(r.len(), 1, "{body}");
        assert_eq!(r[0]["status"], "success", "{body}");
        // Python's str() of the dict: the apostrophe makes that string double-quoted.
        assert_eq!(
            r[0]["tool_return"],
            format!("{{'agent_id': '{b}', 'response': [\"it's 4\"]}}")
        );

        // B received the prefixed system message and answered in a run of its own.
        let b_msgs = messages_of(&app, &b).await;
        let incoming = b_msgs
            .iter()
            .find(|m| {
                m["message_type"] == "system_message"
                    && m["content"].as_str().is_some_and(|c| {
                        c.contains(&format!(
                            "[Incoming message from agent with ID '{a}' - to reply to this message, make sure to use the 'send_message' at the end, and the system will notify the sender of your response] what is 2+2?"
                        ))
                    })
            })
            .unwrap_or_else(|| panic!("{b_msgs:#?}"));
        assert!(incoming["content"].is_string());
        let b_runs = runs_of(&app, &b).await;
        assert_eq!(b_runs.len(), 1, "{b_runs:#?}");
        assert_eq!(b_runs[0]["status"], "completed");
        // The model of B read the message as a system alert.
        let b_req = llm
            .chat_requests()
            .into_iter()
            .find(|r| speaker(r) == "B")
            .expect("B was asked");
        assert!(
            b_req
                .messages()
                .iter()
                .any(|m| m.to_string().contains("what is 2+2?")),
            "{:?}",
            b_req.messages()
        );
    }
);

llm_test!(
    wait_for_reply_to_itself_or_its_caller_is_a_tool_error,
    |app: TestApp, llm: MockLlm| async move {
        let a = agent(&app, "A", &[]).await;
        let b = agent(&app, "B", &[]).await;

        // A asks itself: refused at once.
        llm.push(call(
            WAIT,
            json!({"message": "hello me", "other_agent_id": a}),
        ));
        llm.push(say("could not"));
        let body = send(&app, &a, "talk to yourself").await;
        let r = returns(&body);
        assert_eq!(r[0]["status"], "error", "{body}");
        let text = r[0]["tool_return"].as_str().unwrap();
        assert!(
            text.starts_with(&format!("{{'agent_id': '{a}', 'error': ")),
            "{text}"
        );
        assert!(text.contains("itself"), "{text}");
        assert!(text.ends_with("'type': 'RuntimeError'}"), "{text}");
        assert!(runs_of(&app, &a).await.len() == 1, "no second run of A");

        // A asks B, B asks A back (A's turn waits on B): B's call is refused, B answers.
        llm.push(call(WAIT, json!({"message": "ping", "other_agent_id": b})));
        llm.push(call(WAIT, json!({"message": "pong?", "other_agent_id": a})));
        llm.push(say("A is busy"));
        llm.push(say("done"));
        let body = send(&app, &a, "ask B").await;
        let r = returns(&body);
        assert_eq!(r[0]["status"], "success", "{body}");
        assert_eq!(
            r[0]["tool_return"],
            format!("{{'agent_id': '{b}', 'response': ['A is busy']}}")
        );
        let b_msgs = messages_of(&app, &b).await;
        let b_return = b_msgs
            .iter()
            .find(|m| m["message_type"] == "tool_return_message")
            .unwrap_or_else(|| panic!("{b_msgs:#?}"));
        assert_eq!(b_return["status"], "error");
        let text = b_return["tool_return"].as_str().unwrap();
        assert!(text.contains("call chain"), "{text}");
        assert!(text.contains(&format!("'agent_id': '{a}'")), "{text}");
    }
);

llm_test!(
    wait_for_reply_reports_a_failing_or_unknown_target,
    |app: TestApp, llm: MockLlm| async move {
        let a = agent(&app, "A", &[]).await;
        let b = agent(&app, "B", &[]).await;
        llm.push(call(
            WAIT,
            json!({"message": "hi", "other_agent_id": "agent-00000000-0000-4000-8000-000000000000"}),
        ));
        llm.push(call(WAIT, json!({"message": "hi", "other_agent_id": b})));
        // B's model fails every attempt.
        llm.push_repeated(MockReply::error(500, "B's model broke"), 3);
        llm.push(say("nobody answered"));
        let body = send(&app, &a, "ask around").await;
        let r = returns(&body);
        assert_eq!(r.len(), 2, "{body}");

        assert_eq!(r[0]["status"], "error");
        let text = r[0]["tool_return"].as_str().unwrap();
        assert!(
            text.starts_with(
                "{'agent_id': 'agent-00000000-0000-4000-8000-000000000000', 'error': \"Agent not found"
            ),
            "{text}"
        );
        assert!(text.ends_with("'type': 'NoResultFound'}"), "{text}");

        assert_eq!(r[1]["status"], "error");
        let text = r[1]["tool_return"].as_str().unwrap();
        assert!(
            text.contains("B's model broke") || text.contains("B\\'s model broke"),
            "{text}"
        );
        assert!(text.ends_with("'type': 'LLMError'}"), "{text}");
        // B's failed run is on record.
        let b_runs = runs_of(&app, &b).await;
        assert_eq!(b_runs.len(), 1);
        assert_eq!(b_runs[0]["status"], "failed");
    }
);

llm_test!(
    matching_tags_sends_to_all_and_some,
    |app: TestApp, llm: MockLlm| async move {
        let a = agent(&app, "A", &[]).await;
        let b = agent(&app, "B", &["x", "y"]).await;
        let c = agent(&app, "C", &["x", "z"]).await;
        let d = agent(&app, "D", &["y"]).await;
        let _e = agent(&app, "E", &["x"]).await;
        // Targets answer concurrently, each by its name; A's own steps follow a script.
        let a_steps = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        llm.set_rule(move |req| {
            let who = speaker(req);
            if who != "A" {
                return say(&format!("{who} here"));
            }
            match a_steps.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0 => call(
                    TAGS,
                    json!({"message": "roll call", "match_all": ["x"], "match_some": ["y", "z"]}),
                ),
                1 => call(
                    TAGS,
                    json!({"message": "roll call", "match_all": [], "match_some": ["y"]}),
                ),
                2 => call(
                    TAGS,
                    json!({"message": "roll call", "match_all": ["x", "y", "z"], "match_some": []}),
                ),
                _ => say("all asked"),
            }
        });
        let body = send(&app, &a, "roll call").await;
        let r = returns(&body);
        assert_eq!(r.len(), 3, "{body}");

        let expect = |pairs: &mut Vec<(&String, &str)>| {
            pairs.sort();
            let items: Vec<String> = pairs
                .iter()
                .map(|(id, who)| format!("{{'agent_id': '{id}', 'response': ['{who} here']}}"))
                .collect();
            format!("[{}]", items.join(", "))
        };
        assert_eq!(r[0]["status"], "success");
        assert_eq!(r[0]["tool_return"], expect(&mut vec![(&b, "B"), (&c, "C")]));
        assert_eq!(r[1]["tool_return"], expect(&mut vec![(&b, "B"), (&d, "D")]));
        assert_eq!(r[2]["tool_return"], "[]");
        assert_eq!(r[2]["status"], "success");

        let c_msgs = messages_of(&app, &c).await;
        assert!(
            c_msgs.iter().any(|m| m["content"].as_str().is_some_and(|t| t.contains(
                "[Incoming message from external Letta agent - to reply to this message, make sure to use the 'send_message' at the end, and the system will notify the sender of your response] roll call"
            ))),
            "{c_msgs:#?}"
        );
    }
);

llm_test!(
    matching_tags_includes_the_sender_as_an_error,
    |app: TestApp, llm: MockLlm| async move {
        let a = agent(&app, "A", &["team"]).await;
        let b = agent(&app, "B", &["team"]).await;
        llm.push(call(
            TAGS,
            json!({"message": "hi team", "match_all": ["team"], "match_some": []}),
        ));
        llm.push(say("B here"));
        llm.push(say("done"));
        let body = send(&app, &a, "greet the team").await;
        let r = returns(&body);
        let text = r[0]["tool_return"].as_str().unwrap();
        assert_eq!(r[0]["status"], "success", "one target answered");
        assert!(
            text.contains(&format!("{{'agent_id': '{b}', 'response': ['B here']}}")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{{'agent_id': '{a}', 'error': ")),
            "{text}"
        );
    }
);

llm_test!(
    send_async_starts_a_background_run_on_the_target,
    |app: TestApp, llm: MockLlm| async move {
        let a = agent(&app, "A", &[]).await;
        let b = agent(&app, "B", &[]).await;
        llm.set_rule(|req| {
            if speaker(req) == "B" {
                say("got it")
            } else {
                say("unexpected")
            }
        });
        llm.push(MockReply::tool_call(
            ASYNC,
            json!({"message": "fyi", "other_agent_id": b}),
        ));
        let body = send(&app, &a, "tell B").await;
        let r = returns(&body);
        assert_eq!(r.len(), 1, "the async send ends the turn: {body}");
        assert_eq!(r[0]["tool_return"], "Successfully sent message");
        assert_eq!(r[0]["status"], "success");

        // B's run completes on its own.
        let mut finished = None;
        for _ in 0..200 {
            let runs = runs_of(&app, &b).await;
            if let Some(run) = runs.iter().find(|r| r["status"] == "completed") {
                finished = Some(run.clone());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let run = finished.expect("B's background run completed");
        assert!(run["metadata"]["result"]["messages"].is_array(), "{run}");
        let b_msgs = messages_of(&app, &b).await;
        assert!(
            b_msgs.iter().any(|m| m["content"].as_str().is_some_and(|t| t.contains(&format!(
                "[Incoming message from agent with ID '{a}' - to reply to this message, make sure to use the 'send_message_to_agent_async' tool, or the agent will not receive your message] fyi"
            )))),
            "{b_msgs:#?}"
        );
        assert!(
            b_msgs
                .iter()
                .any(|m| m["message_type"] == "assistant_message" && m["content"] == "got it"),
            "{b_msgs:#?}"
        );

        // An unknown target is reported at once.
        llm.clear_rule();
        llm.push(MockReply::tool_call(
            ASYNC,
            json!({"message": "fyi", "other_agent_id": "agent-00000000-0000-4000-8000-000000000000"}),
        ));
        llm.push(say("no such agent"));
        let body = send(&app, &a, "tell nobody").await;
        let r = returns(&body);
        assert_eq!(r[0]["status"], "error", "{body}");
    }
);

llm_test!(
    cancelling_the_caller_cancels_the_callee,
    |app: TestApp, llm: MockLlm| async move {
        let a = agent(&app, "A", &[]).await;
        let b = agent(&app, "B", &[]).await;
        llm.push(call(
            WAIT,
            json!({"message": "take your time", "other_agent_id": b}),
        ));
        // B's model is slow; the caller is cancelled meanwhile.
        llm.push(say("finally").delay(Duration::from_secs(30)));
        let (status, run) = app
            .post(
                &format!("/v1/agents/{a}/messages/async"),
                &json!({"messages": [{"role": "user", "content": "ask B"}]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{run}");
        let a_run = id_of(&run);
        // Wait until B's run exists.
        let mut b_run = None;
        for _ in 0..200 {
            if let Some(r) = runs_of(&app, &b).await.first() {
                b_run = Some(id_of(r));
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let b_run = b_run.expect("B's run started");
        let (status, body) = app
            .post(&format!("/v1/agents/{a}/messages/cancel"), &json!([a_run]))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut b_status = Value::Null;
        for _ in 0..200 {
            let (_, run) = app.get(&format!("/v1/runs/{b_run}")).await;
            b_status = run["status"].clone();
            if b_status == "cancelled" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert_eq!(b_status, "cancelled");
    }
);

llm_test!(
    a_target_busy_elsewhere_is_reported_busy,
    config = |cfg: &mut letta_rs::config::Config| cfg.group_member_wait_secs = 1,
    |app: TestApp, llm: MockLlm| async move {
        let a = agent(&app, "A", &[]).await;
        let b = agent(&app, "B", &[]).await;
        // B is busy with a slow turn of its own.
        llm.push(say("slowly").delay(Duration::from_secs(4)));
        let (status, run) = app
            .post(
                &format!("/v1/agents/{b}/messages/async"),
                &json!({"messages": [{"role": "user", "content": "take your time"}]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{run}");
        for _ in 0..200 {
            if !llm.chat_requests().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        llm.push(call(WAIT, json!({"message": "now?", "other_agent_id": b})));
        llm.push(say("B is busy"));
        let started = std::time::Instant::now();
        let body = send(&app, &a, "ask B").await;
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "did not wait for B's turn"
        );
        let r = returns(&body);
        assert_eq!(r[0]["status"], "error", "{body}");
        let text = r[0]["tool_return"].as_str().unwrap();
        assert!(text.contains("busy"), "{text}");
        assert!(text.contains(&format!("'agent_id': '{b}'")), "{text}");
    }
);
