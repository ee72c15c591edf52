//! `/v1/agents`: create, list, retrieve, modify, delete, core memory and tool links.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, assert_422, post_agent};

fn llm_config() -> Value {
    json!({
        "model": "gpt-4o-mini",
        "model_endpoint_type": "openai",
        "model_endpoint": "http://127.0.0.1:9/v1",
        "context_window": 32000
    })
}

fn embedding_config() -> Value {
    json!({
        "embedding_endpoint_type": "openai",
        "embedding_endpoint": "http://127.0.0.1:9/v1",
        "embedding_model": "text-embedding-3-small",
        "embedding_dim": 1536
    })
}

/// A create body with explicit configurations (no provider needed), extended by `extra`.
fn agent_body(extra: Value) -> Value {
    let mut body = json!({"llm_config": llm_config(), "embedding_config": embedding_config()});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    body
}

async fn count(app: &TestApp) -> i64 {
    let (status, body) = app.get("/v1/agents/count").await;
    assert_eq!(status, StatusCode::OK);
    body.as_i64().expect("count is an integer")
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("array")
        .iter()
        .map(|a| a["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

both_backends!(create_returns_full_agent_state, |app: TestApp| async move {
    let agent = post_agent(
        &app,
        &agent_body(json!({
            "name": "helper",
            "memory_blocks": [
                {"label": "human", "value": "Name: Ann"},
                {"label": "persona", "value": "I am helpful.", "limit": 100}
            ],
            "tags": ["b", "a", "b"],
            "metadata": {"k": 1},
            "description": "desc",
            "tool_exec_environment_variables": {"API_KEY": "secret"}
        })),
    )
    .await;
    let keys: Vec<&str> = agent
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "created_by_id",
            "last_updated_by_id",
            "created_at",
            "updated_at",
            "id",
            "name",
            "tool_rules",
            "message_ids",
            "system",
            "agent_type",
            "llm_config",
            "embedding_config",
            "response_format",
            "organization_id",
            "description",
            "metadata",
            "memory",
            "tools",
            "sources",
            "tags",
            "tool_exec_environment_variables",
            "project_id",
            "template_id",
            "base_template_id",
            "identity_ids",
            "message_buffer_autoclear",
            "enable_sleeptime",
            "multi_agent_group",
            "last_run_completion",
            "last_run_duration_ms",
            "timezone"
        ]
    );
    assert!(agent["id"].as_str().unwrap().starts_with("agent-"));
    assert_eq!(agent["name"], "helper");
    assert_eq!(agent["agent_type"], "memgpt_agent");
    assert_eq!(agent["organization_id"], Value::Null);
    assert_eq!(agent["created_by_id"], app.user_id.as_str());
    assert_eq!(agent["timezone"], "UTC");
    assert_eq!(agent["tags"], json!(["a", "b"]));
    assert_eq!(agent["metadata"], json!({"k": 1}));
    assert_eq!(agent["llm_config"]["put_inner_thoughts_in_kwargs"], true);
    assert_eq!(agent["llm_config"]["temperature"], 0.7);
    assert_eq!(agent["embedding_config"]["embedding_chunk_size"], 300);
    // Default boot sequence: system, assistant, tool, login.
    assert_eq!(agent["message_ids"].as_array().unwrap().len(), 4);
    let tools: Vec<&str> = agent["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let mut sorted = tools.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "conversation_search",
            "core_memory_append",
            "core_memory_replace",
            "send_message"
        ]
    );
    let rules = agent["tool_rules"].as_array().unwrap();
    assert_eq!(rules.len(), 4);
    assert_eq!(
        rules[0],
        json!({
            "tool_name": "send_message",
            "type": "exit_loop",
            "prompt_template": "<tool_rule>\n{{ tool_name }} ends your response (yields control) when called\n</tool_rule>"
        })
    );
    assert!(rules[1..].iter().all(|r| r["type"] == "continue_loop"));
    let blocks = agent["memory"]["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0]["label"], "human");
    assert_eq!(blocks[0]["limit"], 5000);
    assert!(
        blocks[0]["description"]
            .as_str()
            .unwrap()
            .starts_with("The human block")
    );
    assert_eq!(blocks[1]["limit"], 100);
    assert!(
        agent["memory"]["prompt_template"]
            .as_str()
            .unwrap()
            .contains("<memory_blocks>")
    );
    let env = &agent["tool_exec_environment_variables"][0];
    assert_eq!(
        (env["key"].as_str(), env["value"].as_str()),
        (Some("API_KEY"), Some("secret"))
    );
    assert_eq!(env["agent_id"], agent["id"]);

    // The system message holds the compiled prompt with the blocks.
    let ids = [agent["message_ids"][0].as_str().unwrap().to_owned()];
    let system = app.store.get_messages(&app.org_id, &ids).await.unwrap();
    let text = system[0].text().unwrap();
    assert!(text.starts_with(agent["system"].as_str().unwrap()));
    assert!(
        text.contains("<human>")
            && text.contains("Name: Ann")
            && text.contains("<memory_metadata>")
    );

    // Retrieve gives the same document.
    let (status, fetched) = app
        .get(&format!("/v1/agents/{}", agent["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, agent);
});

both_backends!(
    create_with_initial_sequence_and_without_base_tools,
    |app: TestApp| async move {
        let agent = post_agent(
            &app,
            &agent_body(json!({
                "include_base_tools": false,
                "initial_message_sequence": [
                    {"role": "user", "content": "hi ☕"},
                    {"role": "assistant", "content": "hello"}
                ],
                "agent_type": "react_agent"
            })),
        )
        .await;
        assert_eq!(agent["tools"], json!([]));
        assert_eq!(agent["tool_rules"], json!([]));
        assert_eq!(agent["message_buffer_autoclear"], false);
        let ids: Vec<String> = agent["message_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), 4, "system, user, assistant, tool");
        let msgs = app.store.get_messages(&app.org_id, &ids).await.unwrap();
        let user: Value = serde_json::from_str(msgs[1].text().unwrap()).unwrap();
        assert_eq!(user["type"], "user_message");
        assert_eq!(user["message"], "hi ☕");
        assert_eq!(
            msgs[2].tool_calls[0].function.arguments,
            r#"{"message": "hello"}"#
        );
        assert_eq!(
            msgs[3].tool_call_id.as_deref(),
            Some(msgs[2].tool_calls[0].id.as_str())
        );
    }
);

both_backends!(
    create_rejects_bad_input_and_writes_nothing,
    |app: TestApp| async move {
        let before = count(&app).await;
        let (status, body) = app
            .post("/v1/agents/", &agent_body(json!({"name": "bad/name"})))
            .await;
        assert_422(status, &body, &[json!("body"), json!("name")]);
        let (status, body) = app
            .post("/v1/agents/", &agent_body(json!({"tags": "not-a-list"})))
            .await;
        assert_422(status, &body, &[json!("body"), json!("tags")]);
        let (status, body) = app
            .post("/v1/agents/", &agent_body(json!({"agent_type": "nope"})))
            .await;
        assert_422(status, &body, &[json!("body"), json!("agent_type")]);
        let (status, body) = app
        .post("/v1/agents/", &agent_body(json!({"memory_blocks": [{"label": "human", "value": "x".repeat(11), "limit": 10}]})))
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, body) = app
            .post(
                "/v1/agents/",
                &agent_body(json!({"memory_blocks": [{"label": "human"}]})),
            )
            .await;
        assert_422(
            status,
            &body,
            &[
                json!("body"),
                json!("memory_blocks"),
                json!(0),
                json!("value"),
            ],
        );
        let (status, body) = app.send_raw(Method::POST, "/v1/agents/", "{not json").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["detail"][0]["type"], "json_invalid");
        let (status, body) = app.post("/v1/agents/", &json!({"name": "x"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body["detail"].as_str().unwrap().contains("model"));
        let (status, body) = app
            .post("/v1/agents/", &agent_body(json!({"model": "no-slash"})))
            .await;
        assert_422(status, &body, &[json!("body"), json!("model")]);
        let (status, body) = app
            .post(
                "/v1/agents/",
                &agent_body(json!({"tool_ids": ["tool-missing"]})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let (status, _) = app
            .post(
                "/v1/agents/",
                &agent_body(json!({"block_ids": ["block-missing"]})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = app
            .post(
                "/v1/agents/",
                &agent_body(json!({"tools": ["no_such_tool"]})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = app
            .post(
                "/v1/agents/",
                &agent_body(json!({"timezone": "Mars/Olympus"})),
            )
            .await;
        assert_422(status, &body, &[json!("body"), json!("timezone")]);
        assert_eq!(count(&app).await, before, "rejected creates wrote nothing");
        let (_, blocks) = app.get("/v1/blocks/").await;
        assert_eq!(blocks, json!([]), "no orphan blocks");
    }
);

both_backends!(list_filters_and_cursors, |app: TestApp| async move {
    let a = post_agent(
        &app,
        &agent_body(json!({"name": "alpha", "tags": ["x", "y"], "project_id": "p1"})),
    )
    .await;
    let b = post_agent(&app, &agent_body(json!({"name": "beta", "tags": ["x"]}))).await;
    let c = post_agent(
        &app,
        &agent_body(json!({"name": "Gamma Ray", "tags": ["z"]})),
    )
    .await;
    assert_eq!(count(&app).await, 3);

    let (status, all) = app.get("/v1/agents/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&all), ["Gamma Ray", "beta", "alpha"], "newest first");
    let (_, asc) = app.get("/v1/agents?ascending=true").await;
    assert_eq!(names(&asc), ["alpha", "beta", "Gamma Ray"]);
    let (_, by_name) = app.get("/v1/agents/?name=beta").await;
    assert_eq!(names(&by_name), ["beta"]);
    let (_, any_tag) = app.get("/v1/agents/?tags=x&tags=z&ascending=true").await;
    assert_eq!(names(&any_tag), ["alpha", "beta", "Gamma Ray"]);
    let (_, all_tags) = app
        .get("/v1/agents/?tags=x&tags=y&match_all_tags=true")
        .await;
    assert_eq!(names(&all_tags), ["alpha"]);
    let (_, text) = app.get("/v1/agents/?query_text=gAmMa").await;
    assert_eq!(names(&text), ["Gamma Ray"]);
    let (_, project) = app.get("/v1/agents/?project_id=p1").await;
    assert_eq!(names(&project), ["alpha"]);
    let (_, limited) = app.get("/v1/agents/?limit=2").await;
    assert_eq!(names(&limited), ["Gamma Ray", "beta"]);
    let (_, after) = app
        .get(&format!("/v1/agents/?after={}", c["id"].as_str().unwrap()))
        .await;
    assert_eq!(names(&after), ["beta", "alpha"]);
    let (_, before) = app
        .get(&format!(
            "/v1/agents/?before={}&ascending=true",
            c["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(names(&before), ["alpha", "beta"]);
    let (_, after_asc) = app
        .get(&format!(
            "/v1/agents/?after={}&ascending=true",
            a["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(names(&after_asc), ["beta", "Gamma Ray"]);
    let (_, only_tags) = app
        .get("/v1/agents/?include_relationships=tags&name=alpha")
        .await;
    assert_eq!(only_tags[0]["tags"], json!(["x", "y"]));
    assert_eq!(only_tags[0]["tools"], json!([]));
    assert_eq!(only_tags[0]["memory"]["blocks"], json!([]));
    let _ = b;

    let (status, body) = app.get("/v1/agents/?limit=abc").await;
    assert_422(status, &body, &[json!("query"), json!("limit")]);
    let (status, body) = app.get("/v1/agents/?ascending=maybe").await;
    assert_422(status, &body, &[json!("query"), json!("ascending")]);
});

both_backends!(retrieve_modify_delete, |app: TestApp| async move {
    let block = post_agent(&app, &agent_body(json!({"name": "first"}))).await;
    let id = block["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .get("/v1/agents/agent-00000000-0000-4000-8000-000000000099")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["detail"].is_string());

    let (status, updated) = app
        .patch(
            &format!("/v1/agents/{id}"),
            &json!({"name": "renamed", "tags": ["t1"], "description": "d", "unknown_field": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], "renamed");
    assert_eq!(updated["tags"], json!(["t1"]));
    assert_eq!(updated["description"], "d");
    assert_eq!(
        updated["tools"], block["tools"],
        "unchanged relationships stay"
    );

    let (status, updated) = app
        .patch(
            &format!("/v1/agents/{id}"),
            &json!({"tool_ids": [], "tags": []}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["tools"], json!([]));
    assert_eq!(updated["tags"], json!([]));

    let (status, body) = app
        .patch(&format!("/v1/agents/{id}"), &json!({"name": "bad/name"}))
        .await;
    assert_422(status, &body, &[json!("body"), json!("name")]);
    let (status, _) = app
        .patch(
            &format!("/v1/agents/{id}"),
            &json!({"tool_ids": ["tool-nope"]}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, unchanged) = app.get(&format!("/v1/agents/{id}")).await;
    assert_eq!(
        unchanged["name"], "renamed",
        "rejected modify wrote nothing"
    );
    let (status, _) = app
        .patch("/v1/agents/agent-missing", &json!({"name": "x"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = app.delete(&format!("/v1/agents/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"message": format!("Agent id={id} successfully deleted")})
    );
    let (status, _) = app.get(&format!("/v1/agents/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.delete(&format!("/v1/agents/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
});

both_backends!(core_memory_routes, |app: TestApp| async move {
    let agent = post_agent(
        &app,
        &agent_body(
            json!({"memory_blocks": [{"label": "human", "value": "Name: Ann", "limit": 20}]}),
        ),
    )
    .await;
    let id = agent["id"].as_str().unwrap().to_owned();
    let (status, memory) = app.get(&format!("/v1/agents/{id}/core-memory")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(memory["blocks"][0]["value"], "Name: Ann");
    assert_eq!(memory["file_blocks"], json!([]));
    let (_, blocks) = app
        .get(&format!("/v1/agents/{id}/core-memory/blocks"))
        .await;
    assert_eq!(blocks.as_array().unwrap().len(), 1);
    let (status, human) = app
        .get(&format!("/v1/agents/{id}/core-memory/blocks/human"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(human["label"], "human");
    let (status, body) = app
        .get(&format!("/v1/agents/{id}/core-memory/blocks/nope"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["detail"],
        format!("No block with label 'nope' found for agent '{id}'")
    );

    // Editing the block recompiles the system prompt.
    let (status, edited) = app
        .patch(
            &format!("/v1/agents/{id}/core-memory/blocks/human"),
            &json!({"value": "Name: Bo"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["value"], "Name: Bo");
    let ids = [agent["message_ids"][0].as_str().unwrap().to_owned()];
    let system = app.store.get_messages(&app.org_id, &ids).await.unwrap();
    assert!(system[0].text().unwrap().contains("Name: Bo"));
    assert!(system[0].text().unwrap().contains("<tool_usage_rules>"));

    // Over the limit: 400, unchanged.
    let (status, body) = app
        .patch(
            &format!("/v1/agents/{id}/core-memory/blocks/human"),
            &json!({"value": "x".repeat(21)}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, human) = app
        .get(&format!("/v1/agents/{id}/core-memory/blocks/human"))
        .await;
    assert_eq!(human["value"], "Name: Bo");
    let (status, body) = app
        .patch(
            &format!("/v1/agents/{id}/core-memory/blocks/human"),
            &json!({"limit": "big"}),
        )
        .await;
    assert_422(status, &body, &[json!("body"), json!("limit")]);
    let (status, _) = app.get("/v1/agents/agent-missing/core-memory").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A block shared by two agents is one row.
    let (status, shared) = app
        .post("/v1/blocks/", &json!({"label": "team", "value": "v1"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{shared}");
    let sid = shared["id"].as_str().unwrap();
    let other = post_agent(&app, &agent_body(json!({"block_ids": [sid]}))).await;
    let oid = other["id"].as_str().unwrap();
    let (status, attached) = app
        .patch(
            &format!("/v1/agents/{id}/core-memory/blocks/attach/{sid}"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{attached}");
    assert_eq!(attached["memory"]["blocks"].as_array().unwrap().len(), 2);
    let (status, _) = app
        .patch(
            &format!("/v1/agents/{id}/core-memory/blocks/attach/{sid}"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    app.patch(
        &format!("/v1/agents/{id}/core-memory/blocks/team"),
        &json!({"value": "v2"}),
    )
    .await;
    let (_, seen) = app
        .get(&format!("/v1/agents/{oid}/core-memory/blocks/team"))
        .await;
    assert_eq!(
        seen["value"], "v2",
        "an edit through one agent is seen by the other"
    );
    let (status, detached) = app
        .patch(
            &format!("/v1/agents/{id}/core-memory/blocks/detach/{sid}"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detached["memory"]["blocks"].as_array().unwrap().len(), 1);
    let (status, _) = app
        .patch(
            &format!("/v1/agents/{id}/core-memory/blocks/detach/{sid}"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .patch(
            &format!("/v1/agents/{id}/core-memory/blocks/attach/block-missing"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Deleting an agent keeps its blocks.
    app.delete(&format!("/v1/agents/{oid}")).await;
    let (status, _) = app.get(&format!("/v1/blocks/{sid}")).await;
    assert_eq!(status, StatusCode::OK);
});

both_backends!(agent_tool_links, |app: TestApp| async move {
    let agent = post_agent(&app, &agent_body(json!({"include_base_tools": false}))).await;
    let id = agent["id"].as_str().unwrap().to_owned();
    let (_, tools) = app.get("/v1/tools/?name=send_message").await;
    let tool_id = tools[0]["id"]
        .as_str()
        .expect("send_message is seeded")
        .to_owned();
    let (status, attached) = app
        .patch(
            &format!("/v1/agents/{id}/tools/attach/{tool_id}"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(attached["tools"][0]["name"], "send_message");
    let (status, again) = app
        .patch(
            &format!("/v1/agents/{id}/tools/attach/{tool_id}"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "attach is idempotent");
    assert_eq!(again["tools"].as_array().unwrap().len(), 1);
    let (status, listed) = app.get(&format!("/v1/agents/{id}/tools")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let (status, body) = app
        .patch(
            &format!("/v1/agents/{id}/tools/attach/tool-missing"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["detail"], "Items not found in tools: {'tool-missing'}");
    let (status, detached) = app
        .patch(
            &format!("/v1/agents/{id}/tools/detach/{tool_id}"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detached["tools"], json!([]));
    let (status, _) = app
        .patch(
            &format!("/v1/agents/{id}/tools/detach/{tool_id}"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "detaching twice is a no-op");
    let (status, _) = app.get("/v1/agents/agent-missing/tools").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
});

both_backends!(organizations_are_isolated, |app: TestApp| async move {
    let agent = post_agent(&app, &agent_body(json!({"name": "mine"}))).await;
    let id = agent["id"].as_str().unwrap();
    let other = app.other_org_user().await;
    let (status, _) = app
        .request_as(&other, Method::GET, &format!("/v1/agents/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = app
        .request_as(&other, Method::GET, "/v1/agents/", None)
        .await;
    assert_eq!(list, json!([]));
    let (_, n) = app
        .request_as(&other, Method::GET, "/v1/agents/count", None)
        .await;
    assert_eq!(n, json!(0));
    let (status, _) = app
        .request_as(
            &other,
            Method::PATCH,
            &format!("/v1/agents/{id}"),
            Some(&json!({"name": "stolen"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .request_as(&other, Method::DELETE, &format!("/v1/agents/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .request_as(
            &other,
            Method::GET,
            &format!("/v1/agents/{id}/core-memory"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, mine) = app.get(&format!("/v1/agents/{id}")).await;
    assert_eq!(mine["name"], "mine");
});
