//! The agent loop over HTTP with a scripted model: multi-step turns, memory tools, tool
//! rules, provider failures, summarization and concurrent sends.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, create_agent};
use crate::llm_test;
use crate::mock_llm::{MockLlm, MockReply};

fn say(text: &str) -> MockReply {
    MockReply::tool_call(
        "send_message",
        json!({"inner_thoughts": format!("thinking about {text}"), "message": text}),
    )
}

async fn send(app: &TestApp, agent_id: &str, body: Value) -> (StatusCode, Value) {
    app.post(&format!("/v1/agents/{agent_id}/messages"), &body)
        .await
}

fn user(text: &str) -> Value {
    json!({"messages": [{"role": "user", "content": text}]})
}

fn types(response: &Value) -> Vec<String> {
    response["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_type"].as_str().unwrap().to_owned())
        .collect()
}

async fn message_ids(app: &TestApp, agent_id: &str) -> Vec<String> {
    let (_, agent) = app.get(&format!("/v1/agents/{agent_id}")).await;
    agent["message_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

async fn context(app: &TestApp, agent_id: &str) -> Vec<letta_rs::schemas::message::Message> {
    let ids = message_ids(app, agent_id).await;
    app.store.get_messages(&app.org_id, &ids).await.unwrap()
}

llm_test!(one_step_reply, |app: TestApp, llm: MockLlm| async move {
    let agent = create_agent(&app, json!({})).await;
    let id = agent["id"].as_str().unwrap();
    llm.push(say("Hello there!").usage(1000, 50));
    let (status, body) = send(&app, id, user("hi")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(types(&body), ["reasoning_message", "assistant_message"]);
    assert_eq!(
        body["messages"][0]["reasoning"],
        "thinking about Hello there!"
    );
    assert_eq!(body["messages"][1]["content"], "Hello there!");
    assert_eq!(body["messages"][0]["id"], body["messages"][1]["id"]);
    assert!(
        body["messages"][1]["step_id"]
            .as_str()
            .unwrap()
            .starts_with("step-")
    );
    assert_eq!(
        body["stop_reason"],
        json!({"message_type": "stop_reason", "stop_reason": "end_turn"})
    );
    assert_eq!(
        body["usage"],
        json!({"message_type": "usage_statistics", "completion_tokens": 50, "prompt_tokens": 1000, "total_tokens": 1050, "step_count": 1, "steps_messages": null, "run_ids": null})
    );

    // What we sent: the tools as the original sends them.
    let sent = &llm.chat_requests()[0].body;
    assert_eq!(sent["tool_choice"], "required");
    assert_eq!(sent["parallel_tool_calls"], false);
    assert_eq!(sent["user"], app.user_id.as_str());
    assert_eq!(sent["messages"][0]["role"], "system");
    let system = sent["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("<tool_usage_rules>") && system.contains("Name: unknown"));
    assert_eq!(
        sent["messages"].as_array().unwrap().last().unwrap(),
        &json!({"role": "user", "content": "hi"})
    );
    let tools = sent["tools"].as_array().unwrap();
    let search = tools
        .iter()
        .find(|t| t["function"]["name"] == "conversation_search")
        .unwrap();
    assert_eq!(search["function"]["strict"], true);
    assert_eq!(
        search["function"]["parameters"]["required"],
        json!(["inner_thoughts", "query", "page", "request_heartbeat"])
    );
    assert_eq!(
        search["function"]["parameters"]["additionalProperties"],
        false
    );
    let send_tool = tools
        .iter()
        .find(|t| t["function"]["name"] == "send_message")
        .unwrap();
    assert_eq!(
        send_tool["function"]["parameters"]["required"],
        json!(["inner_thoughts", "message"])
    );

    // Stored: the input, the assistant call (heartbeat flag last), the tool result.
    let ctx = context(&app, id).await;
    assert_eq!(ctx.len(), 4 + 3);
    let call = &ctx[5].tool_calls[0];
    assert_eq!(
        call.function.arguments,
        r#"{"message": "Hello there!", "request_heartbeat": false}"#
    );
    let tool_result: Value = serde_json::from_str(ctx[6].text().unwrap()).unwrap();
    assert_eq!(tool_result["status"], "OK");
    assert_eq!(tool_result["message"], "Sent message successfully.");

    // The next request replays the history with inner thoughts back in the arguments.
    llm.push(say("again"));
    send(&app, id, user("more")).await;
    let second = &llm.chat_requests()[1].body;
    let replayed = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "assistant")
        .unwrap();
    assert_eq!(replayed["content"], Value::Null);
    let args: Value = serde_json::from_str(
        replayed["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(args["inner_thoughts"], "thinking about Hello there!");

    // The run was recorded and completed.
    let runs = app
        .store
        .list_runs(&app.user_id, &Default::default())
        .await
        .unwrap();
    assert_eq!(runs.len(), 2);
    assert!(
        runs.iter()
            .all(|r| r.status == letta_rs::schemas::run::JobStatus::Completed)
    );
});

llm_test!(
    memory_tool_then_reply,
    |app: TestApp, llm: MockLlm| async move {
        let agent = create_agent(&app, json!({})).await;
        let id = agent["id"].as_str().unwrap();
        llm.push(MockReply::tool_call(
        "core_memory_append",
        json!({"inner_thoughts": "remember", "label": "human", "content": "Likes green tea.", "request_heartbeat": true}),
    ));
        llm.push(say("Noted!"));
        let (status, body) = send(&app, id, user("I like green tea")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            types(&body),
            [
                "reasoning_message",
                "tool_call_message",
                "tool_return_message",
                "reasoning_message",
                "assistant_message"
            ]
        );
        assert_eq!(body["messages"][2]["tool_return"], "None");
        assert_eq!(body["messages"][2]["status"], "success");
        assert_eq!(body["usage"]["step_count"], 2);
        let (_, block) = app
            .get(&format!("/v1/agents/{id}/core-memory/blocks/human"))
            .await;
        assert_eq!(block["value"], "Name: unknown\nLikes green tea.");
        // The second model call already saw the edited memory.
        let second = &llm.chat_requests()[1].body;
        assert!(
            second["messages"][0]["content"]
                .as_str()
                .unwrap()
                .contains("Likes green tea.")
        );
        // A heartbeat followed the memory edit.
        let heartbeat = second["messages"].as_array().unwrap().last().unwrap();
        assert_eq!(heartbeat["role"], "user");
        assert!(heartbeat["content"].as_str().unwrap().contains("heartbeat"));
        // The stored system message shows the new memory too.
        let ctx = context(&app, id).await;
        assert!(ctx[0].text().unwrap().contains("Likes green tea."));

        // Memory errors are tool errors the model sees, not request failures.
        llm.push(MockReply::tool_call(
            "core_memory_replace",
            json!({"label": "human", "old_content": "absent", "new_content": "x"}),
        ));
        llm.push(say("ok"));
        let (status, body) = send(&app, id, user("fix it")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["messages"][1]["status"], "error");
        assert!(
            body["messages"][1]["tool_return"]
                .as_str()
                .unwrap()
                .contains("not found")
        );
    }
);

llm_test!(
    max_steps_and_rules,
    |app: TestApp, llm: MockLlm| async move {
        let agent = create_agent(&app, json!({})).await;
        let id = agent["id"].as_str().unwrap();
        llm.push(MockReply::tool_call(
            "conversation_search",
            json!({"query": "tea"}),
        ));
        let (status, body) = send(
            &app,
            id,
            json!({"messages": [{"role": "user", "content": "x"}], "max_steps": 1}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["stop_reason"]["stop_reason"], "max_steps");
        assert_eq!(body["usage"]["step_count"], 1);

        // send_message with request_heartbeat on an exit_loop tool stops with tool_rule.
        llm.push(MockReply::tool_call(
            "send_message",
            json!({"message": "bye", "request_heartbeat": true}),
        ));
        let (_, body) = send(&app, id, user("y")).await;
        assert_eq!(body["stop_reason"]["stop_reason"], "tool_rule");

        // max_steps 0: nothing is called, the input is kept.
        let before = llm.request_count();
        let (status, body) = send(
            &app,
            id,
            json!({"messages": [{"role": "user", "content": "z"}], "max_steps": 0}),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["messages"], json!([]));
        assert_eq!(body["stop_reason"]["stop_reason"], "end_turn");
        assert_eq!(llm.request_count(), before);
    }
);

llm_test!(tool_rule_types, |app: TestApp, llm: MockLlm| async move {
    let agent = create_agent(
        &app,
        json!({"tool_rules": [
            {"type": "run_first", "tool_name": "conversation_search"},
            {"type": "constrain_child_tools", "tool_name": "conversation_search", "children": ["core_memory_append"]},
            {"type": "max_count_per_step", "tool_name": "core_memory_append", "max_count_limit": 1},
            {"type": "required_before_exit", "tool_name": "core_memory_replace"}
        ]}),
    )
    .await;
    let id = agent["id"].as_str().unwrap();
    llm.push(MockReply::tool_call(
        "conversation_search",
        json!({"query": "a"}),
    ));
    llm.push(MockReply::tool_call(
        "core_memory_append",
        json!({"label": "human", "content": "x"}),
    ));
    // send_message now would end the turn, but core_memory_replace is required first.
    llm.push(say("done?"));
    llm.push(MockReply::tool_call(
        "core_memory_replace",
        json!({"label": "human", "old_content": "x", "new_content": "y"}),
    ));
    llm.push(say("done"));
    let (status, body) = send(&app, id, user("go")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reqs = llm.chat_requests();
    let tool_names = |i: usize| -> Vec<String> { reqs[i].tool_names() };
    assert_eq!(tool_names(0), ["conversation_search"], "run_first");
    assert_eq!(
        reqs[0].body["tool_choice"]["function"]["name"], "conversation_search",
        "a single tool is forced"
    );
    assert_eq!(
        tool_names(1),
        ["core_memory_append"],
        "constrain_child_tools"
    );
    assert!(
        !tool_names(2).contains(&"core_memory_append".to_owned()),
        "max_count_per_step"
    );
    assert_eq!(body["usage"]["step_count"], 5);
    assert_eq!(body["stop_reason"]["stop_reason"], "end_turn");
    let last = reqs[3].body["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(
        last["content"]
            .as_str()
            .unwrap()
            .contains("core_memory_replace"),
        "heartbeat names the required tool: {last}"
    );
});

llm_test!(
    bad_tool_calls_become_tool_errors,
    |app: TestApp, llm: MockLlm| async move {
        let agent = create_agent(&app, json!({})).await;
        let id = agent["id"].as_str().unwrap();
        llm.push(MockReply::tool_call("no_such_tool", json!({"x": 1})));
        llm.push(MockReply::tool_call_raw("core_memory_append", "{not json"));
        llm.push(say("recovered"));
        let (status, body) = send(&app, id, user("go")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let returns: Vec<&Value> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["message_type"] == "tool_return_message")
            .collect();
        assert_eq!(returns.len(), 2);
        assert_eq!(returns[0]["status"], "error");
        assert!(
            returns[0]["tool_return"]
                .as_str()
                .unwrap()
                .contains("[ToolConstraintError] Cannot call no_such_tool")
        );
        assert_eq!(returns[1]["status"], "error");
        assert_eq!(
            body["messages"].as_array().unwrap().last().unwrap()["content"],
            "recovered"
        );

        // A model answer without any tool call is a 400.
        llm.push(MockReply::text("just text"));
        let (status, body) = send(&app, id, user("again")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

        // Bad input: 422, nothing written.
        let ids_before = message_ids(&app, id).await;
        let (status, _) = send(
            &app,
            id,
            json!({"messages": [{"role": "assistant", "content": "x"}]}),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, _) = send(&app, id, json!({"nope": []})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, _) = send(
            &app,
            id,
            json!({"messages": [{"role": "robot", "content": "x"}]}),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(message_ids(&app, id).await, ids_before);
        let (status, _) = send(&app, "agent-missing", user("x")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
);

llm_test!(
    provider_error_mid_turn_keeps_history_consistent,
    |app: TestApp, llm: MockLlm| async move {
        let agent = create_agent(&app, json!({})).await;
        let id = agent["id"].as_str().unwrap();
        let before = message_ids(&app, id).await;
        llm.push(MockReply::tool_call(
            "core_memory_append",
            json!({"label": "human", "content": "fact", "request_heartbeat": true}),
        ));
        // Three attempts (the first try and two retries) all fail.
        llm.push_repeated(MockReply::error(500, "the model server broke"), 3);
        let (status, body) = send(&app, id, user("hi")).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("500") && detail.contains("the model server broke"),
            "{detail}"
        );
        assert!(!detail.contains("sk-test"));
        // The completed first step is in context and in recall, in order.
        let ids = message_ids(&app, id).await;
        assert_eq!(
            ids.len(),
            before.len() + 4,
            "input, assistant, tool, heartbeat"
        );
        let ctx = context(&app, id).await;
        assert_eq!(ctx.len(), ids.len(), "every in-context id exists");
        let runs = app
            .store
            .list_runs(&app.user_id, &Default::default())
            .await
            .unwrap();
        assert_eq!(runs[0].status, letta_rs::schemas::run::JobStatus::Failed);
        // The agent is usable afterwards.
        assert_eq!(llm.pending(), 0, "every failed attempt was consumed");
        llm.push(say("back again"));
        let (status, body) = send(&app, id, user("still there?")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(message_ids(&app, id).await.len(), before.len() + 4 + 3);
    }
);

llm_test!(
    summarization_evicts_but_keeps_history,
    |app: TestApp, llm: MockLlm| async move {
        let agent = create_agent(&app, json!({"context_window_limit": 2000})).await;
        let id = agent["id"].as_str().unwrap();
        for i in 0..4 {
            llm.push(say(&format!("reply {i}")).usage(100, 10));
            send(&app, id, user(&format!("message {i}"))).await;
        }
        let before = message_ids(&app, id).await;
        // A turn that reports more tokens than the window triggers summarization.
        llm.push(say("big").usage(5000, 10));
        llm.push(MockReply::text("We talked about four messages."));
        let (status, body) = send(&app, id, user("overflow")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let after = message_ids(&app, id).await;
        assert!(
            after.len() < before.len() + 3,
            "{} -> {}",
            before.len(),
            after.len()
        );
        let ctx = context(&app, id).await;
        assert_eq!(ctx[0].id, before[0], "the system message stays first");
        assert!(
            ctx[1]
                .text()
                .unwrap()
                .contains("We talked about four messages.")
        );
        // The summarizer call had no tools.
        let last = llm.chat_requests().last().unwrap().body.clone();
        assert!(last.get("tools").is_none() || last["tools"] == json!([]));
        // Evicted messages are still in recall.
        let all = app
            .store
            .list_agent_messages(
                id,
                &letta_rs::store::MessageFilter {
                    ascending: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        for old in &before {
            assert!(
                all.iter().any(|m| &m.id == old),
                "evicted message {old} kept in history"
            );
        }
        // Explicit summarize route.
        for i in 0..3 {
            llm.push(say(&format!("r{i}")));
            send(&app, id, user(&format!("m{i}"))).await;
        }
        llm.push(MockReply::text("Short summary."));
        let (status, state) = app
            .post(
                &format!("/v1/agents/{id}/summarize?max_message_length=10"),
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{state}");
        let (status, _) = app
            .post(&format!("/v1/agents/{id}/summarize"), &json!({}))
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "max_message_length is required"
        );
    }
);

llm_test!(
    concurrent_sends_are_serialized,
    |app: TestApp, llm: MockLlm| async move {
        llm.set_rule(|req| {
            let text = req.last_user_text().unwrap_or_default();
            MockReply::tool_call("send_message", json!({"message": format!("echo {text}")}))
        });
        let agent = create_agent(&app, json!({})).await;
        let id = agent["id"].as_str().unwrap().to_owned();
        let app = Arc::new(app);
        let mut tasks = Vec::new();
        for i in 0..50 {
            let app = app.clone();
            let id = id.clone();
            tasks.push(tokio::spawn(async move {
                send(&app, &id, user(&format!("n{i}"))).await
            }));
        }
        for t in tasks {
            let (status, body) = t.await.unwrap();
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let ctx = context(&app, &id).await;
        assert_eq!(ctx.len(), 4 + 50 * 3);
        for turn in ctx[4..].chunks(3) {
            let input = turn[0].text().unwrap().to_owned();
            let args: Value =
                serde_json::from_str(&turn[1].tool_calls[0].function.arguments).unwrap();
            assert_eq!(
                args["message"],
                format!("echo {input}"),
                "each reply follows its own input"
            );
            assert_eq!(turn[2].tool_call_id, Some(turn[1].tool_calls[0].id.clone()));
        }

        // 50 agents in parallel.
        let mut ids = Vec::new();
        for _ in 0..50 {
            ids.push(
                create_agent(&app, json!({})).await["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        let mut tasks = Vec::new();
        for id in &ids {
            let app = app.clone();
            let id = id.clone();
            tasks.push(tokio::spawn(
                async move { send(&app, &id, user("hello")).await },
            ));
        }
        for t in tasks {
            let (status, body) = t.await.unwrap();
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        for id in &ids {
            assert_eq!(message_ids(&app, id).await.len(), 7);
        }
    }
);

llm_test!(
    anthropic_agents_run_the_same_loop,
    |app: TestApp, llm: MockLlm| async move {
        let (status, agent) = app
        .post(
            "/v1/agents/",
            &json!({
                "llm_config": {"model": "claude-test", "model_endpoint_type": "anthropic", "model_endpoint": llm.base_url(), "context_window": 200000, "put_inner_thoughts_in_kwargs": true},
                "embedding_config": {"embedding_endpoint_type": "openai", "embedding_model": "text-embedding-3-small", "embedding_dim": 1536}
            }),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{agent}");
        let id = agent["id"].as_str().unwrap();
        llm.push(MockReply::tool_call(
            "core_memory_append",
            json!({"label": "human", "content": "x", "inner_thoughts": "t"}),
        ));
        llm.push(say("hi from claude"));
        let (status, body) = send(&app, id, user("hello")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["messages"].as_array().unwrap().last().unwrap()["content"],
            "hi from claude"
        );
        let req = &llm.chat_requests()[1];
        assert!(req.is_anthropic());
        assert!(req.body["system"].is_string() || req.body["system"].is_array());
        let msgs = req.body["messages"].as_array().unwrap();
        assert!(msgs.iter().any(|m| {
            m["content"]
                .as_array()
                .is_some_and(|c| c.iter().any(|b| b["type"] == "tool_result"))
        }));
    }
);

llm_test!(
    context_window_overview,
    |app: TestApp, llm: MockLlm| async move {
        let agent = create_agent(&app, json!({})).await;
        let id = agent["id"].as_str().unwrap();
        llm.push(say("hello"));
        send(&app, id, user("hi")).await;
        let (status, ctx) = app.get(&format!("/v1/agents/{id}/context")).await;
        assert_eq!(status, StatusCode::OK, "{ctx}");
        let n = |k: &str| ctx[k].as_i64().unwrap_or_else(|| panic!("{k} in {ctx}"));
        assert_eq!(n("context_window_size_max"), 32000);
        assert_eq!(
            n("context_window_size_current"),
            n("num_tokens_system")
                + n("num_tokens_core_memory")
                + n("num_tokens_external_memory_summary")
                + n("num_tokens_summary_memory")
                + n("num_tokens_functions_definitions")
                + n("num_tokens_messages")
        );
        assert_eq!(n("num_messages"), 7);
        assert_eq!(n("num_recall_memory"), 7);
        assert!(
            n("num_tokens_system") > 0
                && n("num_tokens_core_memory") > 0
                && n("num_tokens_messages") > 0
        );
        assert!(
            ctx["core_memory"]
                .as_str()
                .unwrap()
                .starts_with("<memory_blocks>")
        );
        assert!(
            ctx["external_memory_summary"]
                .as_str()
                .unwrap()
                .starts_with("<memory_metadata>")
        );
        assert_eq!(ctx["summary_memory"], Value::Null);
        assert_eq!(ctx["functions_definitions"].as_array().unwrap().len(), 4);
        assert_eq!(ctx["messages"][0]["role"], "system");
        assert_eq!(ctx["messages"].as_array().unwrap().len(), 7);
        let (status, _) = app.get("/v1/agents/agent-missing/context").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
);

llm_test!(
    conditional_and_parent_rules,
    |app: TestApp, llm: MockLlm| async move {
        let agent = create_agent(
        &app,
        json!({"tool_rules": [
            {"type": "conditional", "tool_name": "conversation_search",
             "child_output_mapping": {"No results found.": "core_memory_append"}, "default_child": "send_message"},
            {"type": "parent_last_tool", "tool_name": "core_memory_append", "children": ["core_memory_replace"]}
        ]}),
    )
    .await;
        let id = agent["id"].as_str().unwrap();
        llm.push(MockReply::tool_call(
            "conversation_search",
            json!({"query": "nothing matches this"}),
        ));
        llm.push(MockReply::tool_call(
            "core_memory_append",
            json!({"label": "human", "content": "a"}),
        ));
        llm.push(MockReply::tool_call(
            "core_memory_replace",
            json!({"label": "human", "old_content": "a", "new_content": "b"}),
        ));
        llm.push(say("done"));
        let (status, body) = send(&app, id, user("go")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let reqs = llm.chat_requests();
        assert!(
            !reqs[0]
                .tool_names()
                .contains(&"core_memory_replace".to_owned()),
            "parent_last_tool hides the child first"
        );
        assert_eq!(
            reqs[1].tool_names(),
            ["core_memory_append"],
            "conditional: the output picked the child"
        );
        assert_eq!(
            reqs[2].tool_names(),
            ["core_memory_replace"],
            "parent_last_tool: only the children after the parent"
        );
        assert_eq!(body["stop_reason"]["stop_reason"], "end_turn");
    }
);
