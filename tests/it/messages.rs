//! An agent's stored history over HTTP: `GET /v1/agents/{id}/messages` (paging, conversion,
//! assistant-message suppression), `PATCH …/messages/{message_id}` and
//! `PATCH …/reset-messages`. Histories are the agent's boot sequence plus messages written
//! through the real store.

use letta_rs::schemas::common::now;
use letta_rs::schemas::message::{
    FunctionCall, Message, MessageRole, ToolCall, ToolReturnRecord, text_part,
};
use letta_rs::schemas::new_id;
use letta_rs::services::messages::otid;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, assert_422, post_agent};

fn agent_body(extra: Value) -> Value {
    let mut body = json!({
        "llm_config": {
            "model": "gpt-4o-mini",
            "model_endpoint_type": "openai",
            "model_endpoint": "http://127.0.0.1:9/v1",
            "context_window": 32000
        },
        "embedding_config": {
            "embedding_endpoint_type": "openai",
            "embedding_endpoint": "http://127.0.0.1:9/v1",
            "embedding_model": "text-embedding-3-small",
            "embedding_dim": 1536
        },
        "memory_blocks": [
            {"label": "human", "value": "Name: Ann"},
            {"label": "persona", "value": "I am helpful."}
        ]
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    body
}

fn agent_id(agent: &Value) -> String {
    agent["id"].as_str().expect("agent id").to_owned()
}

fn message_ids(agent: &Value) -> Vec<String> {
    agent["message_ids"]
        .as_array()
        .expect("message_ids")
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn base(app: &TestApp, agent_id: &str, role: MessageRole, content: Vec<Value>) -> Message {
    let ts = now();
    Message {
        id: new_id("message"),
        organization_id: app.org_id.clone(),
        agent_id: agent_id.to_owned(),
        role,
        content,
        model: Some("gpt-4o-mini".to_owned()),
        name: None,
        tool_calls: Vec::new(),
        tool_call_id: None,
        tool_returns: Vec::new(),
        step_id: None,
        otid: None,
        group_id: None,
        sender_id: None,
        batch_item_id: None,
        created_by_id: Some(app.user_id.clone()),
        last_updated_by_id: Some(app.user_id.clone()),
        created_at: ts,
        updated_at: ts,
    }
}

fn user(app: &TestApp, agent_id: &str, text: &str) -> Message {
    let mut m = base(app, agent_id, MessageRole::User, vec![text_part(text)]);
    m.model = None;
    m
}

/// An assistant turn calling `tool` with `arguments`, with its thought.
fn assistant_call(
    app: &TestApp,
    agent_id: &str,
    thought: &str,
    tool: &str,
    arguments: &str,
) -> Message {
    let mut m = base(
        app,
        agent_id,
        MessageRole::Assistant,
        vec![text_part(thought)],
    );
    let call_id = format!("call_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    m.tool_calls = vec![ToolCall {
        id: call_id.clone(),
        kind: "function".to_owned(),
        function: FunctionCall {
            name: tool.to_owned(),
            arguments: arguments.to_owned(),
        },
    }];
    m.tool_call_id = Some(call_id);
    m.step_id = Some(new_id("step"));
    m
}

/// The tool result answering `call`.
fn tool_result(app: &TestApp, call: &Message, message: &str) -> Message {
    let text = serde_json::to_string_pretty(
        &json!({"status": "OK", "message": message, "time": "2025-07-01 10:00:00 AM UTC+0000"}),
    )
    .unwrap();
    let mut m = base(
        app,
        &call.agent_id,
        MessageRole::Tool,
        vec![text_part(text)],
    );
    m.name = Some(call.tool_calls[0].function.name.clone());
    m.tool_call_id = Some(call.tool_calls[0].id.clone());
    m.tool_returns = vec![ToolReturnRecord {
        status: "success".to_owned(),
        stdout: None,
        stderr: None,
    }];
    m.step_id = call.step_id.clone();
    m
}

async fn insert(app: &TestApp, messages: &[Message]) {
    app.store
        .insert_messages(messages)
        .await
        .expect("insert messages");
}

async fn list(app: &TestApp, agent_id: &str, query: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/v1/agents/{agent_id}/messages{query}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body.as_array().expect("a list").clone()
}

fn types(items: &[Value]) -> Vec<&str> {
    items
        .iter()
        .map(|m| m["message_type"].as_str().unwrap())
        .collect()
}

/// The `content` of each user_message, in order.
fn user_texts(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter(|m| m["message_type"] == "user_message")
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// `n` plain user messages `prefix0…`, stored in order.
async fn insert_users(app: &TestApp, agent_id: &str, prefix: &str, n: usize) -> Vec<Message> {
    let messages: Vec<Message> = (0..n)
        .map(|i| user(app, agent_id, &format!("{prefix}{i}")))
        .collect();
    insert(app, &messages).await;
    messages
}

async fn stored(app: &TestApp, id: &str) -> Message {
    app.store
        .get_messages(&app.org_id, &[id.to_owned()])
        .await
        .expect("get message")
        .pop()
        .expect("message exists")
}

async fn system_text(app: &TestApp, agent: &Value) -> String {
    let id = message_ids(agent)[0].clone();
    stored(app, &id).await.text().unwrap_or_default().to_owned()
}

// ---------------------------------------------------------------------------------------------
// Listing

both_backends!(
    list_shows_boot_sequence_with_suppression,
    |app: TestApp| async move {
        let agent = post_agent(&app, &agent_body(json!({}))).await;
        let id = agent_id(&agent);
        let ids = message_ids(&agent);
        assert_eq!(ids.len(), 4);

        let items = list(&app, &id, "").await;
        assert_eq!(
            types(&items),
            [
                "system_message",
                "reasoning_message",
                "assistant_message",
                "user_message"
            ]
        );
        let keys: Vec<&str> = items[1]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "id",
                "date",
                "name",
                "message_type",
                "otid",
                "sender_id",
                "step_id",
                "source",
                "reasoning",
                "signature"
            ]
        );
        let keys: Vec<&str> = items[0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "id",
                "date",
                "name",
                "message_type",
                "otid",
                "sender_id",
                "step_id",
                "content"
            ]
        );
        // Every LettaMessage carries the stored message's id; otids number the pieces.
        assert_eq!(items[0]["id"], ids[0].as_str());
        assert_eq!(items[0]["otid"], Value::Null);
        assert_eq!(items[1]["id"], ids[1].as_str());
        assert_eq!(items[2]["id"], ids[1].as_str());
        assert_eq!(items[1]["otid"], otid(&ids[1], 0).unwrap().as_str());
        assert_eq!(items[2]["otid"], otid(&ids[1], 1).unwrap().as_str());
        assert_eq!(items[1]["source"], "non_reasoner_model");
        assert_eq!(items[1]["signature"], Value::Null);
        assert!(items[2]["content"].as_str().is_some_and(|s| !s.is_empty()));
        assert_eq!(items[3]["id"], ids[3].as_str());
        let login: Value = serde_json::from_str(items[3]["content"].as_str().unwrap()).unwrap();
        assert_eq!(login["type"], "login");
        assert!(
            items[0]["content"]
                .as_str()
                .unwrap()
                .contains("<memory_metadata>")
        );
        // Dates are whole seconds with an explicit offset.
        let date = items[0]["date"].as_str().unwrap();
        assert_eq!(date.len(), 25, "{date}");
        assert!(date.ends_with("+00:00"), "{date}");
    }
);

both_backends!(
    list_without_assistant_messages_shows_tool_calls,
    |app: TestApp| async move {
        let agent = post_agent(&app, &agent_body(json!({}))).await;
        let id = agent_id(&agent);
        let ids = message_ids(&agent);

        let items = list(&app, &id, "?use_assistant_message=false").await;
        assert_eq!(
            types(&items),
            [
                "system_message",
                "reasoning_message",
                "tool_call_message",
                "tool_return_message",
                "user_message"
            ]
        );
        let call = &items[2];
        assert_eq!(call["otid"], otid(&ids[1], 1).unwrap().as_str());
        assert_eq!(call["tool_call"]["name"], "send_message");
        let args: Value =
            serde_json::from_str(call["tool_call"]["arguments"].as_str().unwrap()).unwrap();
        assert!(args["message"].is_string());
        let ret = &items[3];
        assert_eq!(ret["id"], ids[2].as_str());
        assert_eq!(ret["otid"], otid(&ids[2], 0).unwrap().as_str());
        assert_eq!(ret["name"], "send_message");
        assert_eq!(ret["tool_call_id"], call["tool_call"]["tool_call_id"]);
        assert_eq!(ret["tool_return"], "None");
        assert_eq!(ret["status"], "success");
        assert_eq!(ret["stdout"], Value::Null);
        let keys: Vec<&str> = ret
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "id",
                "date",
                "name",
                "message_type",
                "otid",
                "sender_id",
                "step_id",
                "tool_return",
                "status",
                "tool_call_id",
                "stdout",
                "stderr"
            ]
        );
    }
);

both_backends!(
    list_default_is_latest_ten_oldest_first,
    |app: TestApp| async move {
        let agent = post_agent(&app, &agent_body(json!({}))).await;
        let id = agent_id(&agent);
        insert_users(&app, &id, "u", 12).await;

        let items = list(&app, &id, "").await;
        assert_eq!(items.len(), 10);
        let want: Vec<String> = (2..12).map(|i| format!("u{i}")).collect();
        assert_eq!(user_texts(&items), want);

        let items = list(&app, &id, "?limit=3").await;
        assert_eq!(user_texts(&items), ["u9", "u10", "u11"]);

        // limit 0: everything.
        let items = list(&app, &id, "?limit=0").await;
        assert_eq!(items.len(), 4 + 12);
    }
);

both_backends!(
    list_cursors_select_by_insertion_order,
    |app: TestApp| async move {
        let agent = post_agent(&app, &agent_body(json!({}))).await;
        let id = agent_id(&agent);
        let us = insert_users(&app, &id, "u", 10).await;

        // after=X&limit=N: the N newest messages after X, not the N right after it.
        let items = list(&app, &id, &format!("?after={}&limit=3", us[2].id)).await;
        assert_eq!(user_texts(&items), ["u7", "u8", "u9"]);
        let items = list(&app, &id, &format!("?after={}", us[2].id)).await;
        assert_eq!(
            user_texts(&items),
            ["u3", "u4", "u5", "u6", "u7", "u8", "u9"]
        );

        // before=X: the boot sequence and u0…u4 (9 stored messages; the boot assistant shows
        // as two items, its tool result is suppressed).
        let items = list(&app, &id, &format!("?before={}", us[5].id)).await;
        assert_eq!(items.len(), 9);
        assert_eq!(items[0]["message_type"], "system_message");
        assert_eq!(
            user_texts(&items)[1..],
            ["u0", "u1", "u2", "u3", "u4"].map(String::from)
        );

        let items = list(
            &app,
            &id,
            &format!("?after={}&before={}", us[1].id, us[5].id),
        )
        .await;
        assert_eq!(user_texts(&items), ["u2", "u3", "u4"]);
        let items = list(&app, &id, &format!("?after={}", us[9].id)).await;
        assert!(items.is_empty());

        // A cursor may name a message of another agent: only its position counts.
        let other = post_agent(&app, &agent_body(json!({}))).await;
        let later = insert_users(&app, &agent_id(&other), "o", 1).await;
        let items = list(&app, &id, &format!("?before={}&limit=2", later[0].id)).await;
        assert_eq!(user_texts(&items), ["u8", "u9"]);

        // An unknown cursor is a 404.
        for key in ["after", "before"] {
            let (status, body) = app
                .get(&format!(
                    "/v1/agents/{id}/messages?{key}=message-00000000-0000-4000-8000-000000000000"
                ))
                .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
            assert_eq!(
                body["detail"],
                format!(
                    "No message found with id 'message-00000000-0000-4000-8000-000000000000' for agent '{id}'."
                )
            );
        }
    }
);

both_backends!(
    list_suppression_needs_the_call_in_the_page,
    |app: TestApp| async move {
        let agent = post_agent(&app, &agent_body(json!({}))).await;
        let id = agent_id(&agent);
        let call = assistant_call(
            &app,
            &id,
            "Replying.",
            "send_message",
            r#"{"message": "Hello!", "request_heartbeat": false}"#,
        );
        let result = tool_result(&app, &call, "None");
        insert(&app, &[call.clone(), result.clone()]).await;

        let items = list(&app, &id, "?limit=2").await;
        assert_eq!(types(&items), ["reasoning_message", "assistant_message"]);
        assert_eq!(items[1]["content"], "Hello!");
        assert_eq!(items[1]["step_id"], call.step_id.as_deref().unwrap());
        assert_eq!(items[1]["otid"], otid(&call.id, 1).unwrap().as_str());

        // The call is outside a one-message page, so its result shows.
        let items = list(&app, &id, "?limit=1").await;
        assert_eq!(types(&items), ["tool_return_message"]);
        assert_eq!(items[0]["id"], result.id.as_str());
    }
);

both_backends!(list_with_custom_assistant_tool, |app: TestApp| async move {
    let agent = post_agent(&app, &agent_body(json!({}))).await;
    let id = agent_id(&agent);
    let call = assistant_call(
        &app,
        &id,
        "Answering.",
        "reply",
        r#"{"text": "Hi there", "request_heartbeat": false}"#,
    );
    let result = tool_result(&app, &call, "sent");
    let search = assistant_call(
        &app,
        &id,
        "Looking.",
        "archival_memory_search",
        r#"{"query": "tea", "request_heartbeat": true}"#,
    );
    let found = tool_result(&app, &search, "nothing");
    insert(&app, &[call.clone(), result, search.clone(), found]).await;

    let items = list(&app, &id, "?limit=4").await;
    assert_eq!(
        types(&items),
        [
            "reasoning_message",
            "tool_call_message",
            "tool_return_message",
            "reasoning_message",
            "tool_call_message",
            "tool_return_message"
        ]
    );
    assert_eq!(items[1]["tool_call"]["name"], "reply");
    assert_eq!(
        items[1]["tool_call"]["arguments"],
        r#"{"text": "Hi there", "request_heartbeat": false}"#
    );
    assert_eq!(items[2]["tool_return"], "sent");

    let items = list(
        &app,
        &id,
        "?limit=4&assistant_message_tool_name=reply&assistant_message_tool_kwarg=text",
    )
    .await;
    assert_eq!(
        types(&items),
        [
            "reasoning_message",
            "assistant_message",
            "reasoning_message",
            "tool_call_message",
            "tool_return_message"
        ]
    );
    assert_eq!(items[1]["content"], "Hi there");
    assert_eq!(items[3]["tool_call"]["name"], "archival_memory_search");

    // The designated tool without the designated argument cannot be shown.
    let (status, body) = app
        .get(&format!(
            "/v1/agents/{id}/messages?limit=4&assistant_message_tool_name=reply&assistant_message_tool_kwarg=nope"
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
});

both_backends!(list_filters_by_group, |app: TestApp| async move {
    let agent = post_agent(&app, &agent_body(json!({}))).await;
    let id = agent_id(&agent);
    let mut a = user(&app, &id, "in group");
    a.group_id = Some("group-1".to_owned());
    let b = user(&app, &id, "no group");
    let mut c = user(&app, &id, "other group");
    c.group_id = Some("group-2".to_owned());
    let mut d = user(&app, &id, "in group again");
    d.group_id = Some("group-1".to_owned());
    d.otid = Some("11111111-2222-4333-8444-555555555555".to_owned());
    d.sender_id = Some("agent-sender".to_owned());
    insert(&app, &[a, b, c, d]).await;

    let items = list(&app, &id, "?group_id=group-1").await;
    assert_eq!(user_texts(&items), ["in group", "in group again"]);
    // A user message keeps its own otid and sender.
    assert_eq!(items[1]["otid"], "11111111-2222-4333-8444-555555555555");
    assert_eq!(items[1]["sender_id"], "agent-sender");
    let items = list(&app, &id, "?group_id=nope").await;
    assert!(items.is_empty());
});

both_backends!(
    list_unwraps_wrapped_user_messages,
    |app: TestApp| async move {
        let agent = post_agent(&app, &agent_body(json!({}))).await;
        let id = agent_id(&agent);
        let wrapped = serde_json::to_string_pretty(
        &json!({"type": "user_message", "message": "hi ☕", "time": "2025-07-01 10:00:00 AM UTC+0000"}),
    )
    .unwrap();
        let mut parts = user(&app, &id, "first");
        parts.content.push(text_part("second"));
        insert(&app, &[user(&app, &id, &wrapped), parts]).await;

        let items = list(&app, &id, "?limit=2").await;
        assert_eq!(items[0]["content"], "hi ☕");
        assert_eq!(
            items[1]["content"],
            json!([{"type": "text", "text": "first"}, {"type": "text", "text": "second"}])
        );
    }
);

both_backends!(list_validates_and_scopes, |app: TestApp| async move {
    let agent = post_agent(&app, &agent_body(json!({}))).await;
    let id = agent_id(&agent);

    let (status, body) = app.get(&format!("/v1/agents/{id}/messages?limit=-1")).await;
    assert_422(status, &body, &[json!("query"), json!("limit")]);
    let (status, body) = app
        .get(&format!("/v1/agents/{id}/messages?limit=ten"))
        .await;
    assert_422(status, &body, &[json!("query"), json!("limit")]);
    let (status, body) = app
        .get(&format!(
            "/v1/agents/{id}/messages?use_assistant_message=maybe"
        ))
        .await;
    assert_422(
        status,
        &body,
        &[json!("query"), json!("use_assistant_message")],
    );

    let (status, _) = app
        .get("/v1/agents/agent-00000000-0000-4000-8000-000000000000/messages")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Another organization sees nothing of this agent.
    let stranger = app.other_org_user().await;
    let (status, _) = app
        .request_as(
            &stranger,
            Method::GET,
            &format!("/v1/agents/{id}/messages"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
});

// ---------------------------------------------------------------------------------------------
// Modify

async fn modify(
    app: &TestApp,
    agent_id: &str,
    message_id: &str,
    body: Value,
) -> (StatusCode, Value) {
    app.patch(
        &format!("/v1/agents/{agent_id}/messages/{message_id}"),
        &body,
    )
    .await
}

both_backends!(modify_system_message, |app: TestApp| async move {
    let agent = post_agent(&app, &agent_body(json!({}))).await;
    let id = agent_id(&agent);
    let system_id = message_ids(&agent)[0].clone();

    let (status, body) = modify(
        &app,
        &id,
        &system_id,
        json!({"message_type": "system_message", "content": "You are terse."}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message_type"], "system_message");
    assert_eq!(body["id"], system_id.as_str());
    assert_eq!(body["content"], "You are terse.");
    let message = stored(&app, &system_id).await;
    assert_eq!(message.content, vec![text_part("You are terse.")]);
    assert_eq!(
        message.last_updated_by_id.as_deref(),
        Some(app.user_id.as_str())
    );
    let items = list(&app, &id, "").await;
    assert_eq!(items[0]["content"], "You are terse.");
});

both_backends!(modify_user_message, |app: TestApp| async move {
    let agent = post_agent(&app, &agent_body(json!({}))).await;
    let id = agent_id(&agent);
    let login_id = message_ids(&agent)[3].clone();

    let (status, body) = modify(
        &app,
        &id,
        &login_id,
        json!({"message_type": "user_message", "content": "hello again"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message_type"], "user_message");
    assert_eq!(body["content"], "hello again");
    assert_eq!(
        stored(&app, &login_id).await.content,
        vec![text_part("hello again")]
    );

    let parts = json!([{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]);
    let (status, body) = modify(
        &app,
        &id,
        &login_id,
        json!({"message_type": "user_message", "content": parts}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["content"], parts);
    assert_eq!(
        stored(&app, &login_id).await.content,
        parts.as_array().unwrap().clone()
    );

    // A part of another kind is refused, and nothing changes.
    let (status, body) = modify(
        &app,
        &id,
        &login_id,
        json!({"message_type": "user_message", "content": [{"type": "tool_call", "id": "x"}]}),
    )
    .await;
    assert_422(status, &body, &[json!("body"), json!("content"), json!(0)]);
    assert_eq!(
        stored(&app, &login_id).await.content,
        parts.as_array().unwrap().clone()
    );
});

both_backends!(modify_reasoning_message, |app: TestApp| async move {
    let agent = post_agent(&app, &agent_body(json!({}))).await;
    let id = agent_id(&agent);
    let assistant_id = message_ids(&agent)[1].clone();
    let before = stored(&app, &assistant_id).await;

    let (status, body) = modify(
        &app,
        &id,
        &assistant_id,
        json!({"message_type": "reasoning_message", "reasoning": "Thinking anew."}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message_type"], "reasoning_message");
    assert_eq!(body["reasoning"], "Thinking anew.");
    assert_eq!(body["otid"], otid(&assistant_id, 0).unwrap().as_str());
    let after = stored(&app, &assistant_id).await;
    assert_eq!(after.content, vec![text_part("Thinking anew.")]);
    assert_eq!(after.tool_calls, before.tool_calls, "the call is untouched");
    assert_eq!(after.created_at, before.created_at);
});

both_backends!(modify_assistant_message, |app: TestApp| async move {
    let agent = post_agent(&app, &agent_body(json!({}))).await;
    let id = agent_id(&agent);
    let boot_id = message_ids(&agent)[1].clone();

    let (status, body) = modify(
        &app,
        &id,
        &boot_id,
        json!({"message_type": "assistant_message", "content": "New greeting"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message_type"], "assistant_message");
    assert_eq!(body["content"], "New greeting");
    assert_eq!(body["otid"], otid(&boot_id, 1).unwrap().as_str());
    assert_eq!(
        stored(&app, &boot_id).await.tool_calls[0]
            .function
            .arguments,
        r#"{"message": "New greeting"}"#
    );

    // Other arguments keep their values and order; the JSON is Python-style.
    let call = assistant_call(
        &app,
        &id,
        "Replying.",
        "send_message",
        r#"{"message": "old", "request_heartbeat": true}"#,
    );
    insert(&app, std::slice::from_ref(&call)).await;
    let (status, body) = modify(
        &app,
        &id,
        &call.id,
        json!({"message_type": "assistant_message", "content": [{"type": "text", "text": "café ☕"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["content"], "café ☕");
    let after = stored(&app, &call.id).await;
    assert_eq!(
        after.tool_calls[0].function.arguments,
        r#"{"message": "caf\u00e9 \u2615", "request_heartbeat": true}"#
    );
    assert_eq!(after.tool_calls[0].id, call.tool_calls[0].id);
    assert_eq!(after.content, call.content, "the thought is untouched");
});

both_backends!(
    modify_refuses_other_shapes_without_writing,
    |app: TestApp| async move {
        let agent = post_agent(&app, &agent_body(json!({}))).await;
        let id = agent_id(&agent);
        let ids = message_ids(&agent);
        let login_before = stored(&app, &ids[3]).await;

        // A system_message update cannot make a user message show as a system message.
        let (status, body) = modify(
            &app,
            &id,
            &ids[3],
            json!({"message_type": "system_message", "content": "x"}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["detail"], "Message type got modified: system_message");
        assert_eq!(stored(&app, &ids[3]).await, login_before);

        // Same for a reasoning update on a tool message.
        let tool_before = stored(&app, &ids[2]).await;
        let (status, body) = modify(
            &app,
            &id,
            &ids[2],
            json!({"message_type": "reasoning_message", "reasoning": "x"}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            body["detail"],
            "Message type got modified: reasoning_message"
        );
        assert_eq!(stored(&app, &ids[2]).await, tool_before);

        // An assistant_message update needs a send_message call.
        let (status, body) = modify(
            &app,
            &id,
            &ids[3],
            json!({"message_type": "assistant_message", "content": "x"}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(stored(&app, &ids[3]).await, login_before);
        let search = assistant_call(
            &app,
            &id,
            "Looking.",
            "archival_memory_search",
            r#"{"query": "tea", "request_heartbeat": true}"#,
        );
        insert(&app, std::slice::from_ref(&search)).await;
        let (status, body) = modify(
            &app,
            &id,
            &search.id,
            json!({"message_type": "assistant_message", "content": "x"}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(stored(&app, &search.id).await, search);
    }
);

both_backends!(
    modify_unknown_or_foreign_message_is_404,
    |app: TestApp| async move {
        let agent = post_agent(&app, &agent_body(json!({}))).await;
        let id = agent_id(&agent);
        let other = post_agent(&app, &agent_body(json!({}))).await;
        let other_system = message_ids(&other)[0].clone();
        let bodies = [
            json!({"message_type": "system_message", "content": "x"}),
            json!({"message_type": "user_message", "content": "x"}),
            json!({"message_type": "reasoning_message", "reasoning": "x"}),
            json!({"message_type": "assistant_message", "content": "x"}),
        ];
        for body in &bodies {
            let (status, resp) = modify(
                &app,
                &id,
                "message-00000000-0000-4000-8000-000000000000",
                body.clone(),
            )
            .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{body}: {resp}");
            // A message of another agent is not this agent's message.
            let (status, resp) = modify(&app, &id, &other_system, body.clone()).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{body}: {resp}");
        }
        let before = stored(&app, &other_system).await;
        assert_ne!(before.text(), Some("x"));

        // Another organization cannot edit this agent's messages.
        let stranger = app.other_org_user().await;
        let own = message_ids(&agent)[0].clone();
        let (status, _) = app
            .request_as(
                &stranger,
                Method::PATCH,
                &format!("/v1/agents/{id}/messages/{own}"),
                Some(&json!({"message_type": "system_message", "content": "x"})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_ne!(stored(&app, &own).await.text(), Some("x"));
    }
);

both_backends!(modify_validates_the_body, |app: TestApp| async move {
    let agent = post_agent(&app, &agent_body(json!({}))).await;
    let id = agent_id(&agent);
    let system_id = message_ids(&agent)[0].clone();

    // No tag: pydantic's discriminated-union error.
    let (status, body) = modify(&app, &id, &system_id, json!({"content": "x"})).await;
    assert_422(status, &body, &[json!("body")]);
    assert_eq!(body["detail"][0]["type"], "union_tag_not_found");
    assert_eq!(body["detail"][0]["input"], json!({"content": "x"}));
    assert_eq!(
        body["detail"][0]["ctx"],
        json!({"discriminator": "'message_type'"})
    );

    let (status, body) = modify(
        &app,
        &id,
        &system_id,
        json!({"message_type": "tool_call_message", "content": "x"}),
    )
    .await;
    assert_422(status, &body, &[json!("body")]);
    assert_eq!(body["detail"][0]["type"], "union_tag_invalid");
    assert_eq!(body["detail"][0]["ctx"]["tag"], "tool_call_message");

    let (status, body) = modify(&app, &id, &system_id, json!(["system_message"])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = modify(
        &app,
        &id,
        &system_id,
        json!({"message_type": "system_message"}),
    )
    .await;
    assert_422(status, &body, &[json!("body"), json!("content")]);
    let (status, body) = app
        .send_raw(
            Method::PATCH,
            &format!("/v1/agents/{id}/messages/{system_id}"),
            "{not json",
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_ne!(stored(&app, &system_id).await.text(), Some("x"));
});

// ---------------------------------------------------------------------------------------------
// Reset

/// Stores `n` messages outside the context and recompiles the prompt, so it counts them.
async fn grow_recall(app: &TestApp, agent_id: &str, n: usize) {
    insert_users(app, agent_id, "old", n).await;
    let (status, body) = app
        .patch(
            &format!("/v1/agents/{agent_id}/core-memory/blocks/human"),
            &json!({"value": "Name: Ann Lee"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

both_backends!(
    reset_keeps_only_the_system_message,
    |app: TestApp| async move {
        let agent = post_agent(&app, &agent_body(json!({}))).await;
        let id = agent_id(&agent);
        let system_id = message_ids(&agent)[0].clone();
        grow_recall(&app, &id, 3).await;
        assert!(
            system_text(&app, &agent)
                .await
                .contains("- 3 previous messages"),
            "{}",
            system_text(&app, &agent).await
        );

        let (status, body) = app
            .patch(&format!("/v1/agents/{id}/reset-messages"), &json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["id"], id.as_str());
        assert_eq!(body["message_ids"], json!([system_id]));
        assert!(body["memory"]["blocks"].is_array());

        let items = list(&app, &id, "").await;
        assert_eq!(types(&items), ["system_message"]);
        assert_eq!(app.store.count_agent_messages(&id).await.unwrap(), 1);
        let text = system_text(&app, &body).await;
        assert!(text.contains("- 0 previous messages"), "{text}");
        assert!(text.contains("Name: Ann Lee"), "{text}");

        let (status, agent) = app.get(&format!("/v1/agents/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(agent["message_ids"], json!([system_id]));
    }
);

both_backends!(
    reset_with_default_messages_adds_a_boot_sequence,
    |app: TestApp| async move {
        let agent = post_agent(&app, &agent_body(json!({}))).await;
        let id = agent_id(&agent);
        let old_ids = message_ids(&agent);
        grow_recall(&app, &id, 2).await;

        let (status, body) = app
            .patch(
                &format!("/v1/agents/{id}/reset-messages?add_default_initial_messages=true"),
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let new_ids = message_ids(&body);
        assert_eq!(new_ids.len(), 4, "{body}");
        assert_eq!(new_ids[0], old_ids[0]);
        for new in &new_ids[1..] {
            assert!(!old_ids.contains(new), "fresh boot messages");
        }
        assert_eq!(app.store.count_agent_messages(&id).await.unwrap(), 4);

        let items = list(&app, &id, "").await;
        assert_eq!(
            types(&items),
            [
                "system_message",
                "reasoning_message",
                "assistant_message",
                "user_message"
            ]
        );
        assert_eq!(items[1]["id"], new_ids[1].as_str());
        let login: Value = serde_json::from_str(items[3]["content"].as_str().unwrap()).unwrap();
        assert_eq!(login["type"], "login");
        let text = system_text(&app, &body).await;
        assert!(text.contains("- 0 previous messages"), "{text}");

        // Stored like the boot sequence of a new agent.
        let boot = app.store.get_messages(&app.org_id, &new_ids).await.unwrap();
        assert_eq!(boot[1].role, MessageRole::Assistant);
        assert_eq!(boot[1].tool_calls[0].function.name, "send_message");
        assert_eq!(boot[2].role, MessageRole::Tool);
        assert_eq!(
            boot[2].tool_call_id.as_deref(),
            Some(boot[1].tool_calls[0].id.as_str())
        );
        assert_eq!(boot[3].role, MessageRole::User);
    }
);

both_backends!(reset_errors, |app: TestApp| async move {
    let (status, _) = app
        .patch(
            "/v1/agents/agent-00000000-0000-4000-8000-000000000000/reset-messages",
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let agent = post_agent(&app, &agent_body(json!({}))).await;
    let id = agent_id(&agent);
    let stranger = app.other_org_user().await;
    let (status, _) = app
        .request_as(
            &stranger,
            Method::PATCH,
            &format!("/v1/agents/{id}/reset-messages"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.store.count_agent_messages(&id).await.unwrap(), 4);

    let (status, body) = app
        .patch(
            &format!("/v1/agents/{id}/reset-messages?add_default_initial_messages=perhaps"),
            &json!({}),
        )
        .await;
    assert_422(
        status,
        &body,
        &[json!("query"), json!("add_default_initial_messages")],
    );

    // Without a context list there is no system message to keep.
    let (status, body) = app
        .patch(&format!("/v1/agents/{id}"), &json!({"message_ids": []}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .patch(&format!("/v1/agents/{id}/reset-messages"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["detail"],
        format!("Agent {id} has no message_ids - cannot preserve system message")
    );
    assert_eq!(app.store.count_agent_messages(&id).await.unwrap(), 4);
});
