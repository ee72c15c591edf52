//! `POST …/messages/stream`, `…/messages/async`, `…/messages/cancel` and
//! `GET /v1/runs/{id}/stream` against a scripted model, checked frame by frame against the
//! shapes of the original's captures (spec §7, samples 07/09/15/16/51).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_422, create_agent, id_of, post_agent};
use crate::llm_test;
use crate::mock_llm::{MockLlm, MockReply};
use crate::sse::{Frame, SseStream, collapsed_types, data, types};

async fn create_anthropic_agent(app: &TestApp, llm: &MockLlm) -> String {
    let body = json!({
        "llm_config": {
            "model": "claude-test",
            "model_endpoint_type": "anthropic",
            "model_endpoint": llm.base_url(),
            "context_window": 100000,
            "put_inner_thoughts_in_kwargs": true,
        },
        "embedding": "openai/text-embedding-3-small",
        "memory_blocks": [{"label": "human", "value": "Name: unknown"}, {"label": "persona", "value": "I am a test agent."}],
    });
    id_of(&post_agent(app, &body).await)
}

fn say(text: &str) -> MockReply {
    MockReply::tool_call(
        "send_message",
        json!({"inner_thoughts": format!("thinking about {text}"), "message": text}),
    )
}

fn request(text: &str, stream_tokens: bool) -> Value {
    json!({"messages": [{"role": "user", "content": text}], "stream_tokens": stream_tokens})
}

async fn open(app: &TestApp, agent_id: &str, body: &Value) -> SseStream {
    SseStream::open(
        &app.client,
        &app.url(&format!("/v1/agents/{agent_id}/messages/stream")),
        &app.user_id,
        Some(body),
    )
    .await
}

async fn run_of(app: &TestApp, stream: &SseStream) -> Value {
    let run_id = stream.headers["letta-run-id"].to_str().unwrap().to_owned();
    let (status, run) = app.get(&format!("/v1/runs/{run_id}")).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    run
}

/// Waits until the run has this status (runs end just after their last frame).
async fn wait_for_status(app: &TestApp, run_id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, run) = app.get(&format!("/v1/runs/{run_id}")).await;
        if run["status"] == status {
            return run;
        }
        assert!(Instant::now() < deadline, "run stayed {}", run["status"]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The persisted context and the stored history agree: every in-context id exists and
/// the ids are distinct.
async fn assert_history_consistent(app: &TestApp, agent_id: &str) {
    let (_, agent) = app.get(&format!("/v1/agents/{agent_id}")).await;
    let ids: Vec<String> = agent["message_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let stored = app.store.get_messages(&app.org_id, &ids).await.unwrap();
    assert_eq!(stored.len(), ids.len(), "in-context ids without rows");
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique.len(), ids.len());
}

fn assert_finish(frames: &[Frame], reason: &str, steps: i64) {
    let n = frames.len();
    assert!(n >= 3, "{frames:?}");
    assert_eq!(
        frames[n - 3],
        Frame::Data(json!({"message_type": "stop_reason", "stop_reason": reason}))
    );
    let usage = frames[n - 2].json();
    assert_eq!(usage["message_type"], "usage_statistics");
    assert_eq!(usage["step_count"], steps);
    assert!(usage["run_ids"].is_null() && usage["steps_messages"].is_null());
    let keys: Vec<&str> = usage
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "message_type",
            "completion_tokens",
            "prompt_tokens",
            "total_tokens",
            "step_count",
            "steps_messages",
            "run_ids"
        ]
    );
    assert_eq!(frames[n - 1], Frame::Done);
}

const MESSAGE_KEYS: [&str; 7] = [
    "id",
    "date",
    "name",
    "message_type",
    "otid",
    "sender_id",
    "step_id",
];

fn assert_common_keys(message: &Value) {
    let keys: Vec<&str> = message
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(&keys[..7], MESSAGE_KEYS, "{message}");
    let date = message["date"].as_str().unwrap();
    assert!(date.ends_with("+00:00"), "{date}");
}

llm_test!(
    step_streaming_one_step,
    |app: TestApp, llm: MockLlm| async move {
        let agent = id_of(&create_agent(&app, json!({})).await);
        llm.push(say("Hello there!").usage(1000, 50));
        let mut stream = open(&app, &agent, &request("hi", false)).await;
        assert_eq!(stream.status, StatusCode::OK);
        assert_eq!(
            stream.headers["content-type"],
            "text/event-stream; charset=utf-8"
        );
        let frames = stream.rest().await;
        assert_eq!(
            types(&frames),
            [
                "reasoning_message",
                "assistant_message",
                "stop_reason",
                "usage_statistics"
            ]
        );
        let reasoning = frames[0].json();
        let assistant = frames[1].json();
        assert_common_keys(reasoning);
        assert_common_keys(assistant);
        assert_eq!(reasoning["reasoning"], "thinking about Hello there!");
        assert_eq!(reasoning["source"], "non_reasoner_model");
        assert_eq!(assistant["content"], "Hello there!");
        assert_eq!(reasoning["id"], assistant["id"]);
        assert!(assistant["step_id"].as_str().unwrap().starts_with("step-"));
        // otids: the message's uuid with the index in its low bits.
        let id = assistant["id"]
            .as_str()
            .unwrap()
            .trim_start_matches("message-");
        assert_eq!(&reasoning["otid"].as_str().unwrap()[..30], &id[..30]);
        assert_ne!(reasoning["otid"], assistant["otid"]);
        assert_finish(&frames, "end_turn", 1);
        assert_eq!(frames[3].json()["total_tokens"], 1050);
        // Every frame is compact `data: {…}\n\n`.
        for raw in &stream.raw {
            assert!(
                raw.starts_with("data: ") && raw.ends_with("\n\n"),
                "{raw:?}"
            );
            assert!(!raw.contains("\": "), "not compact: {raw:?}");
        }
        // The streamed ids are the stored ones, and the run completed.
        let (_, listed) = app
            .get(&format!("/v1/agents/{agent}/messages?limit=2"))
            .await;
        assert_eq!(listed[1]["id"], assistant["id"]);
        let run = run_of(&app, &stream).await;
        assert_eq!(run["status"], "completed");
        assert_eq!(run["metadata"]["job_type"], "send_message_streaming");
        assert!(run["completed_at"].is_string());
    }
);

llm_test!(
    step_streaming_multi_step,
    |app: TestApp, llm: MockLlm| async move {
        let agent = id_of(&create_agent(&app, json!({})).await);
        llm.push(MockReply::tool_call(
        "core_memory_append",
        json!({"inner_thoughts": "I should save this.", "label": "human", "content": "Likes tea", "request_heartbeat": true}),
    ));
        llm.push(say("Noted!"));
        let mut stream = open(&app, &agent, &request("I like tea", false)).await;
        let frames = stream.rest().await;
        assert_eq!(
            types(&frames),
            [
                "reasoning_message",
                "tool_call_message",
                "tool_return_message",
                "reasoning_message",
                "assistant_message",
                "stop_reason",
                "usage_statistics"
            ]
        );
        let call = frames[1].json();
        assert_eq!(call["tool_call"]["name"], "core_memory_append");
        let ret = frames[2].json();
        assert_eq!(ret["name"], "core_memory_append");
        assert_eq!(ret["status"], "success");
        assert_eq!(ret["tool_call_id"], call["tool_call"]["tool_call_id"]);
        assert_eq!(ret["step_id"], call["step_id"]);
        assert_ne!(frames[3].json()["step_id"], call["step_id"]);
        assert_finish(&frames, "end_turn", 2);
    }
);

llm_test!(
    token_streaming_openai,
    |app: TestApp, llm: MockLlm| async move {
        let agent = id_of(&create_agent(&app, json!({})).await);
        llm.push(
        MockReply::tool_call(
            "send_message",
            json!({"inner_thoughts": "The user said \"hello\"\nso I answer.", "message": "Echo: hello streaming tokens"}),
        )
        .chunk_chars(4)
        .usage(2547, 25),
    );
        let mut stream = open(&app, &agent, &request("hello streaming tokens", true)).await;
        assert_eq!(stream.status, StatusCode::OK);
        let frames = stream.rest().await;
        assert_eq!(
            collapsed_types(&frames),
            [
                "reasoning_message",
                "assistant_message",
                "stop_reason",
                "usage_statistics"
            ]
        );
        let deltas = data(&frames);
        let reasoning: Vec<&Value> = deltas
            .iter()
            .filter(|m| m["message_type"] == "reasoning_message")
            .collect();
        let assistant: Vec<&Value> = deltas
            .iter()
            .filter(|m| m["message_type"] == "assistant_message")
            .collect();
        assert!(
            reasoning.len() > 3 && assistant.len() > 3,
            "deltas are partial"
        );
        let thoughts: String = reasoning
            .iter()
            .map(|m| m["reasoning"].as_str().unwrap())
            .collect();
        // Escapes are decoded (a deviation from the original, which leaves them escaped).
        assert_eq!(thoughts, "The user said \"hello\"\nso I answer.");
        let said: String = assistant
            .iter()
            .map(|m| m["content"].as_str().unwrap())
            .collect();
        assert_eq!(said, "Echo: hello streaming tokens");
        let id = &reasoning[0]["id"];
        for m in reasoning.iter().chain(assistant.iter()) {
            assert_common_keys(m);
            assert_eq!(&m["id"], id);
            assert!(m["step_id"].is_null());
        }
        assert!(reasoning.iter().all(|m| m["otid"] == reasoning[0]["otid"]));
        assert!(assistant.iter().all(|m| m["otid"] == assistant[0]["otid"]));
        let uuid = id.as_str().unwrap().trim_start_matches("message-");
        let otid = reasoning[0]["otid"].as_str().unwrap();
        assert_eq!(&otid[..34], &uuid[..34]);
        assert_finish(&frames, "end_turn", 1);
        assert_eq!(frames[frames.len() - 2].json()["prompt_tokens"], 2547);
        // The streamed id is the persisted assistant message, with the same text.
        let (_, listed) = app
            .get(&format!("/v1/agents/{agent}/messages?limit=2"))
            .await;
        assert_eq!(&listed[1]["id"], id);
        assert_eq!(listed[1]["content"], "Echo: hello streaming tokens");
        assert_eq!(listed[0]["reasoning"], thoughts);
        // The provider was asked to stream.
        assert!(llm.chat_requests().last().unwrap().is_stream());
    }
);

llm_test!(
    token_streaming_multi_step_tools,
    |app: TestApp, llm: MockLlm| async move {
        let agent = id_of(&create_agent(&app, json!({})).await);
        llm.push(
        MockReply::tool_call(
            "conversation_search",
            json!({"inner_thoughts": "Let me look.", "query": "hello", "request_heartbeat": true}),
        )
        .chunk_chars(5),
    );
        llm.push(say("Found nothing").chunk_chars(5));
        let mut stream = open(&app, &agent, &request("search please", true)).await;
        let frames = stream.rest().await;
        assert_eq!(
            collapsed_types(&frames),
            [
                "reasoning_message",
                "tool_call_message",
                "tool_return_message",
                "reasoning_message",
                "assistant_message",
                "stop_reason",
                "usage_statistics"
            ]
        );
        let deltas = data(&frames);
        let calls: Vec<&Value> = deltas
            .iter()
            .filter(|m| m["message_type"] == "tool_call_message")
            .collect();
        assert_eq!(
            calls[0]["tool_call"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["name", "tool_call_id"]
        );
        assert_eq!(calls[0]["tool_call"]["name"], "conversation_search");
        let args: String = calls[1..]
            .iter()
            .map(|m| m["tool_call"]["arguments"].as_str().unwrap())
            .collect();
        let args: Value = serde_json::from_str(&args).unwrap();
        assert_eq!(args, json!({"query": "hello", "request_heartbeat": true}));
        let ret = deltas
            .iter()
            .find(|m| m["message_type"] == "tool_return_message")
            .unwrap();
        assert!(ret["step_id"].as_str().unwrap().starts_with("step-"));
        assert_eq!(ret["tool_call_id"], calls[0]["tool_call"]["tool_call_id"]);
        assert_eq!(ret["status"], "success");
        // The second step has its own message id; no heartbeat is shown.
        let second = deltas
            .iter()
            .find(|m| m["message_type"] == "assistant_message")
            .unwrap();
        assert_ne!(second["id"], calls[0]["id"]);
        assert!(!types(&frames).iter().any(|t| t == "user_message"));
        assert_finish(&frames, "end_turn", 2);
    }
);

llm_test!(
    token_streaming_anthropic,
    |app: TestApp, llm: MockLlm| async move {
        let agent = create_anthropic_agent(&app, &llm).await;
        llm.push(
            MockReply::tool_call(
                "send_message",
                json!({"inner_thoughts": "Greet them.", "message": "Hi from Claude"}),
            )
            .chunk_chars(4),
        );
        let mut stream = open(&app, &agent, &request("hi", true)).await;
        assert_eq!(stream.status, StatusCode::OK);
        let frames = stream.rest().await;
        assert!(llm.chat_requests().last().unwrap().is_anthropic());
        assert_eq!(
            collapsed_types(&frames),
            [
                "reasoning_message",
                "assistant_message",
                "stop_reason",
                "usage_statistics"
            ]
        );
        let deltas = data(&frames);
        let said: String = deltas
            .iter()
            .filter(|m| m["message_type"] == "assistant_message")
            .map(|m| {
                // Anthropic deltas carry their text as a list of parts.
                let parts = m["content"].as_array().unwrap();
                assert_eq!(parts[0]["type"], "text");
                parts[0]["text"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(said, "Hi from Claude");
        let thoughts: String = deltas
            .iter()
            .filter(|m| m["message_type"] == "reasoning_message")
            .map(|m| m["reasoning"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(thoughts, "Greet them.");
        assert_finish(&frames, "end_turn", 1);
    }
);

llm_test!(
    token_streaming_anthropic_native_thinking,
    |app: TestApp, llm: MockLlm| async move {
        let agent = create_anthropic_agent(&app, &llm).await;
        llm.push(
            MockReply::tool_call("send_message", json!({"message": "Done thinking"}))
                .with_reasoning("Deep thought", Some("sig-1")),
        );
        let mut stream = open(&app, &agent, &request("think", true)).await;
        let frames = stream.rest().await;
        let deltas = data(&frames);
        let native: String = deltas
            .iter()
            .filter(|m| m["message_type"] == "reasoning_message")
            .map(|m| {
                assert_eq!(m["source"], "reasoner_model");
                m["reasoning"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(native, "Deep thought");
        assert!(
            deltas
                .iter()
                .any(|m| m["message_type"] == "reasoning_message" && m["signature"] == "sig-1")
        );
        assert_finish(&frames, "end_turn", 1);
    }
);

llm_test!(
    step_streaming_anthropic,
    |app: TestApp, llm: MockLlm| async move {
        let agent = create_anthropic_agent(&app, &llm).await;
        llm.push(MockReply::tool_call(
            "send_message",
            json!({"inner_thoughts": "Greet them.", "message": "Hi in one piece"}),
        ));
        let mut stream = open(&app, &agent, &request("hi", false)).await;
        let frames = stream.rest().await;
        assert!(llm.chat_requests().last().unwrap().is_anthropic());
        assert_eq!(
            types(&frames),
            [
                "reasoning_message",
                "assistant_message",
                "stop_reason",
                "usage_statistics"
            ]
        );
        assert_eq!(frames[0].json()["reasoning"], "Greet them.");
        assert_eq!(frames[1].json()["content"], "Hi in one piece");
        assert!(
            frames[1].json()["step_id"]
                .as_str()
                .unwrap()
                .starts_with("step-")
        );
        assert_finish(&frames, "end_turn", 1);
    }
);

llm_test!(
    return_types_filter_only_messages,
    |app: TestApp, llm: MockLlm| async move {
        let agent = id_of(&create_agent(&app, json!({})).await);
        llm.push(say("Only this"));
        let mut body = request("hi", false);
        body["include_return_message_types"] = json!(["assistant_message"]);
        let mut stream = open(&app, &agent, &body).await;
        let frames = stream.rest().await;
        assert_eq!(
            types(&frames),
            ["assistant_message", "stop_reason", "usage_statistics"]
        );
        assert_eq!(frames.last(), Some(&Frame::Done));
    }
);

llm_test!(
    error_before_the_first_event,
    |app: TestApp, llm: MockLlm| async move {
        let agent = id_of(&create_agent(&app, json!({})).await);
        llm.push_repeated(MockReply::error(500, "upstream exploded"), 5);
        for tokens in [false, true] {
            let mut stream = open(&app, &agent, &request("hi", tokens)).await;
            let status = stream.status;
            let frames = stream.rest().await;
            // The status a JSON request gets (502 for a provider's 500), and the frame
            // names the provider's error as the JSON detail does.
            assert_eq!(status, StatusCode::BAD_GATEWAY, "{frames:?}");
            assert_eq!(
                stream.headers["content-type"],
                "text/event-stream; charset=utf-8"
            );
            assert_eq!(stream.raw.len(), 1, "{frames:?}");
            let raw = &stream.raw[0];
            assert!(
                raw.starts_with("event: error\ndata: {\"error\": {\"message\": \"openai error (HTTP 500): upstream exploded\""),
                "{raw}"
            );
            assert!(
                raw.contains("\"type\": \"llm_error\", \"status_code\": 502"),
                "{raw}"
            );
            let run = run_of(&app, &stream).await;
            assert_eq!(run["status"], "failed");
            assert!(
                run["metadata"]["error"]
                    .as_str()
                    .unwrap()
                    .contains("upstream exploded")
            );
            llm.push_repeated(MockReply::error(500, "upstream exploded"), 5);
        }
        assert_history_consistent(&app, &agent).await;
    }
);

llm_test!(
    error_after_the_first_event,
    |app: TestApp, llm: MockLlm| async move {
        let agent = id_of(&create_agent(&app, json!({})).await);
        llm.push(say("never finished").chunk_chars(3).stream_error_after(
            25,
            "overloaded_error",
            "provider fell over",
        ));
        let mut stream = open(&app, &agent, &request("hi", true)).await;
        assert_eq!(stream.status, StatusCode::OK);
        let frames = stream.rest().await;
        let n = frames.len();
        assert!(n >= 3, "{frames:?}");
        let Frame::Event { name, data } = &frames[n - 1] else {
            panic!("{frames:?}");
        };
        assert_eq!(name, "error");
        let error: Value = serde_json::from_str(data).unwrap();
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("provider fell over"),
            "{data}"
        );
        assert_eq!(
            frames[n - 2],
            Frame::Data(json!({"message_type": "stop_reason", "stop_reason": "error"}))
        );
        assert!(!frames.contains(&Frame::Done));
        assert_eq!(frames[0].message_type(), Some("reasoning_message"));
        let run = run_of(&app, &stream).await;
        assert_eq!(run["status"], "failed");
        assert_history_consistent(&app, &agent).await;
        // The agent still answers.
        llm.push(say("back"));
        let (status, body) = app
            .post(
                &format!("/v1/agents/{agent}/messages"),
                &request("again", false),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
);

llm_test!(
    cancel_during_a_long_model_stream,
    |app: TestApp, llm: MockLlm| async move {
        let agent = id_of(&create_agent(&app, json!({})).await);
        llm.push(
            say("a very long answer that takes ages to arrive")
                .chunk_chars(2)
                .chunk_delay(Duration::from_millis(300)),
        );
        let mut stream = open(&app, &agent, &request("talk slowly", true)).await;
        let first = stream.next_within(Duration::from_secs(10)).await.unwrap();
        assert_eq!(first.message_type(), Some("reasoning_message"));
        let run_id = stream.headers["letta-run-id"].to_str().unwrap().to_owned();

        let asked = Instant::now();
        // No ids: the agent's active run is cancelled.
        let (status, body) = app
            .send_raw(
                reqwest::Method::POST,
                &format!("/v1/agents/{agent}/messages/cancel"),
                "",
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({ run_id.clone(): "cancelled" }));
        let frames = stream.rest().await;
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "took {:?}",
            asked.elapsed()
        );
        // `cancelled` is sent once (the original sends it twice).
        let stops: Vec<&Frame> = frames
            .iter()
            .filter(|f| f.message_type() == Some("stop_reason"))
            .collect();
        assert_eq!(stops.len(), 1);
        assert_finish(&frames, "cancelled", 0);
        let run = wait_for_status(&app, &run_id, "cancelled").await;
        assert!(run["completed_at"].is_string());
        // The user's message was kept; nothing of the aborted step was.
        assert_history_consistent(&app, &agent).await;
        let (_, listed) = app
            .get(&format!("/v1/agents/{agent}/messages?limit=1"))
            .await;
        assert_eq!(listed[0]["message_type"], "user_message");
        assert_eq!(listed[0]["content"], "talk slowly");
        // Cancelling again fails: the run has ended.
        let (_, again) = app
            .post(
                &format!("/v1/agents/{agent}/messages/cancel"),
                &json!([run_id]),
            )
            .await;
        assert_eq!(again, json!({ run_id.clone(): "failed" }));
        // The agent takes the next turn normally.
        llm.push(say("I am back"));
        let (status, body) = app
            .post(
                &format!("/v1/agents/{agent}/messages"),
                &request("hello?", false),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_history_consistent(&app, &agent).await;
    }
);

llm_test!(
    cancel_a_json_request_between_steps,
    |app: TestApp, llm: MockLlm| async move {
        let agent = id_of(&create_agent(&app, json!({})).await);
        llm.push(MockReply::tool_call(
        "core_memory_append",
        json!({"inner_thoughts": "save", "label": "human", "content": "x", "request_heartbeat": true}),
    ));
        // The second step's answer is slow: the cancel lands while it is requested.
        llm.push(say("too late").delay(Duration::from_secs(5)));
        let send = {
            let client = app.client.clone();
            let url = app.url(&format!("/v1/agents/{agent}/messages"));
            let user = app.user_id.clone();
            tokio::spawn(async move {
                let resp = client
                    .post(url)
                    .header("user_id", user)
                    .json(&request("go", false))
                    .send()
                    .await
                    .unwrap();
                (resp.status(), resp.json::<Value>().await.unwrap())
            })
        };
        // Wait for the second model call to start.
        let deadline = Instant::now() + Duration::from_secs(10);
        while llm.chat_requests().len() < 2 {
            assert!(Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (status, body) = app
            .post(&format!("/v1/agents/{agent}/messages/cancel"), &json!(null))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = tokio::time::timeout(Duration::from_secs(2), send)
            .await
            .expect("the request ends soon after the cancel")
            .unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["stop_reason"]["stop_reason"], "cancelled");
        // The completed first step stays.
        let shown: Vec<&str> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["message_type"].as_str().unwrap())
            .collect();
        assert_eq!(
            shown,
            [
                "reasoning_message",
                "tool_call_message",
                "tool_return_message"
            ]
        );
        assert_eq!(body["usage"]["step_count"], 1);
        assert_history_consistent(&app, &agent).await;
    }
);

llm_test!(
    a_disconnected_client_does_not_stop_the_run,
    |app: TestApp, llm: MockLlm| async move {
        let agent = id_of(&create_agent(&app, json!({})).await);
        llm.push(
            say("finished anyway")
                .chunk_chars(2)
                .chunk_delay(Duration::from_millis(20)),
        );
        let mut stream = open(&app, &agent, &request("hi", true)).await;
        stream.next_within(Duration::from_secs(10)).await.unwrap();
        let run_id = stream.headers["letta-run-id"].to_str().unwrap().to_owned();
        drop(stream);
        let run = wait_for_status(&app, &run_id, "completed").await;
        assert_eq!(run["status"], "completed");
        let (_, listed) = app
            .get(&format!("/v1/agents/{agent}/messages?limit=2"))
            .await;
        assert_eq!(listed[1]["content"], "finished anyway", "{listed}");
        assert_history_consistent(&app, &agent).await;
    }
);

llm_test!(
    resume_a_stream_on_the_same_server,
    |app: TestApp, llm: MockLlm| async move {
        let agent = id_of(&create_agent(&app, json!({})).await);
        llm.push(
            say("resumable answer")
                .chunk_chars(2)
                .chunk_delay(Duration::from_millis(30)),
        );
        let mut stream = open(&app, &agent, &request("hi", true)).await;
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(stream.next_within(Duration::from_secs(10)).await.unwrap());
        }
        let run_id = stream.headers["letta-run-id"].to_str().unwrap().to_owned();
        drop(stream);
        let mut resumed = SseStream::open(
            &app.client,
            &app.url(&format!("/v1/runs/{run_id}/stream?starting_after=3")),
            &app.user_id,
            None,
        )
        .await;
        assert_eq!(resumed.status, StatusCode::OK);
        seen.extend(resumed.rest().await);
        assert_finish(&seen, "end_turn", 1);
        let said: String = data(&seen)
            .iter()
            .filter(|m| m["message_type"] == "assistant_message")
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(said, "resumable answer");
        // After the run ended, its whole stream can still be replayed.
        let mut replay = SseStream::open(
            &app.client,
            &app.url(&format!("/v1/runs/{run_id}/stream")),
            &app.user_id,
            None,
        )
        .await;
        assert_eq!(replay.rest().await, seen);
    }
);

llm_test!(
    resume_bad_requests,
    |app: TestApp, llm: MockLlm| async move {
        let (status, body) = app
            .get("/v1/runs/run-00000000-0000-4000-8000-000000000000/stream")
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["detail"], "Run not found");
        // A JSON run has no stream to resume.
        let agent = id_of(&create_agent(&app, json!({})).await);
        llm.push(say("plain"));
        let (_, _) = app
            .post(
                &format!("/v1/agents/{agent}/messages"),
                &request("hi", false),
            )
            .await;
        let (_, runs) = app.get(&format!("/v1/runs/?agent_ids={agent}")).await;
        let run_id = runs[0]["id"].as_str().unwrap();
        let (status, body) = app.get(&format!("/v1/runs/{run_id}/stream")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let (status, body) = app
            .get(&format!("/v1/runs/{run_id}/stream?starting_after=-1"))
            .await;
        assert_422(status, &body, &[json!("query"), json!("starting_after")]);
        // Another user's run is invisible.
        let other = app.other_org_user().await;
        let (status, _) = app
            .request_as(
                &other,
                reqwest::Method::GET,
                &format!("/v1/runs/{run_id}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
);

llm_test!(
    bad_message_requests,
    |app: TestApp, llm: MockLlm| async move {
        let _model = &llm;
        let unknown = "agent-00000000-0000-4000-8000-000000000000";
        let (status, body) = app
            .post(
                &format!("/v1/agents/{unknown}/messages/stream"),
                &request("hi", true),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert!(body["detail"].is_string());
        let (status, body) = app
            .post(
                &format!("/v1/agents/{unknown}/messages/async"),
                &request("hi", false),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

        let agent = id_of(&create_agent(&app, json!({})).await);
        let (status, body) = app
            .post(
                &format!("/v1/agents/{agent}/messages/stream"),
                &json!({"stream_tokens": true}),
            )
            .await;
        assert_422(status, &body, &[json!("body"), json!("messages")]);
        let (status, body) = app
            .post(
                &format!("/v1/agents/{agent}/messages/stream"),
                &json!({"messages": [{"role": "user", "content": "x"}], "stream_tokens": "lots"}),
            )
            .await;
        assert_422(status, &body, &[json!("body"), json!("stream_tokens")]);
        let (status, body) = app
        .post(
            &format!("/v1/agents/{agent}/messages/async"),
            &json!({"messages": [{"role": "user", "content": "x"}], "callback_url": "not a url"}),
        )
        .await;
        assert_422(status, &body, &[json!("body"), json!("callback_url")]);
        let (status, body) = app
            .post(
                &format!("/v1/agents/{agent}/messages/cancel"),
                &json!({"run_ids": ["x"]}),
            )
            .await;
        assert_422(status, &body, &[json!("body")]);
        // Nothing was recorded for the refused requests.
        let (_, runs) = app.get(&format!("/v1/runs/?agent_ids={agent}")).await;
        assert_eq!(runs, json!([]));
        // No active run and no ids: nothing to cancel.
        let (status, body) = app
            .send_raw(
                reqwest::Method::POST,
                &format!("/v1/agents/{agent}/messages/cancel"),
                "",
            )
            .await;
        assert_eq!((status, body), (StatusCode::OK, json!({})));
        let (_, body) = app
            .post(
                &format!("/v1/agents/{agent}/messages/cancel"),
                &json!(["run-00000000-0000-4000-8000-000000000000"]),
            )
            .await;
        assert_eq!(
            body,
            json!({"run-00000000-0000-4000-8000-000000000000": "failed"})
        );
    }
);

/// An HTTP receiver for callbacks: records each body and answers with `status`.
async fn callback_receiver(status: u16) -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post({
            let seen = seen.clone();
            move |axum::Json(body): axum::Json<Value>| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(body);
                    StatusCode::from_u16(status).unwrap()
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), seen)
}

async fn wait_for_callback(app: &TestApp, run_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, run) = app.get(&format!("/v1/runs/{run_id}")).await;
        if run["callback_sent_at"].is_string() {
            return run;
        }
        assert!(Instant::now() < deadline, "no callback recorded: {run}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

llm_test!(
    async_run_with_callback,
    |app: TestApp, llm: MockLlm| async move {
        let agent = id_of(&create_agent(&app, json!({})).await);
        let (url, seen) = callback_receiver(202).await;
        llm.push(say("done in the background").delay(Duration::from_millis(200)));
        let mut body = request("work", false);
        body["callback_url"] = json!(url);
        let (status, run) = app
            .post(&format!("/v1/agents/{agent}/messages/async"), &body)
            .await;
        assert_eq!(status, StatusCode::OK, "{run}");
        assert_eq!(run["status"], "created");
        assert_eq!(run["callback_url"], json!(url));
        assert_eq!(run["metadata"]["job_type"], "send_message_async");
        let run_id = run["id"].as_str().unwrap().to_owned();

        let done = wait_for_callback(&app, &run_id).await;
        assert_eq!(done["status"], "completed");
        assert_eq!(done["callback_status_code"], 202);
        assert!(done["callback_error"].is_null());
        let result = &done["metadata"]["result"];
        assert_eq!(result["stop_reason"]["stop_reason"], "end_turn");
        assert_eq!(result["usage"]["run_ids"], json!([run_id.clone()]));
        assert_eq!(result["messages"][1]["content"], "done in the background");
        let received = seen.lock().unwrap().clone();
        assert_eq!(received.len(), 1);
        assert_eq!(received[0]["job_id"], json!(run_id.clone()));
        assert_eq!(received[0]["status"], "completed");
        assert!(received[0]["completed_at"].is_string());
        assert_eq!(received[0]["metadata"], done["metadata"]);
        // The run's messages are linked to it.
        let (status, messages) = app.get(&format!("/v1/runs/{run_id}/messages")).await;
        assert_eq!(status, StatusCode::OK, "{messages}");
        assert!(messages.as_array().unwrap().len() >= 2);
    }
);

llm_test!(
    async_run_failure_and_callback_failure,
    |app: TestApp, llm: MockLlm| async move {
        let agent = id_of(&create_agent(&app, json!({})).await);
        llm.push_repeated(MockReply::error(500, "model down"), 5);
        // Nothing listens on this port.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let url = format!("http://{closed}/hook");
        let mut body = request("work", false);
        body["callback_url"] = json!(url);
        let (status, run) = app
            .post(&format!("/v1/agents/{agent}/messages/async"), &body)
            .await;
        assert_eq!(status, StatusCode::OK, "{run}");
        let run_id = run["id"].as_str().unwrap().to_owned();
        let done = wait_for_callback(&app, &run_id).await;
        assert_eq!(done["status"], "failed");
        assert!(
            done["metadata"]["error"]
                .as_str()
                .unwrap()
                .contains("model down")
        );
        assert!(done["callback_status_code"].is_null());
        let error = done["callback_error"].as_str().unwrap();
        assert!(
            error.starts_with(&format!(
                "Failed to dispatch callback for job {run_id} to {url}: "
            )),
            "{error}"
        );
    }
);

mod keep_alive {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn silent_steps_get_comments() {
        let (app, llm) =
            TestApp::spawn_with_llm(Backend::Sqlite, |cfg| cfg.stream_keepalive_secs = 1).await;
        let agent = id_of(&create_agent(&app, json!({})).await);
        llm.push(say("slow").delay(Duration::from_millis(2500)));
        let mut stream = open(&app, &agent, &request("hi", false)).await;
        assert_eq!(stream.status, StatusCode::OK);
        let frames = stream.rest().await;
        assert!(
            frames
                .iter()
                .any(|f| matches!(f, Frame::Comment(c) if c == "keep-alive")),
            "{frames:?}"
        );
        assert!(stream.raw.contains(&": keep-alive\n\n".to_owned()));
        let messages: Vec<Frame> = frames
            .into_iter()
            .filter(|f| !matches!(f, Frame::Comment(_)))
            .collect();
        assert_finish(&messages, "end_turn", 1);
    }
}
