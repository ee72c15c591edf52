//! Hostile input, the same on SQLite and Postgres: NUL characters anywhere in a request, bad
//! `limit` values, duplicate block labels, and over-limit bodies on a keep-alive connection.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestApp, assert_422, post_agent};

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
        }
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    body
}

async fn create_block(app: &TestApp, label: &str) -> String {
    let (status, block) = app
        .post("/v1/blocks/", &json!({"label": label, "value": "v"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{block}");
    block["id"].as_str().expect("block id").to_owned()
}

async fn count(app: &TestApp, path: &str) -> i64 {
    let (status, body) = app.get(path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body.as_i64().expect("count is an integer")
}

fn is_nul_error(body: &Value) -> bool {
    body["detail"][0]["msg"]
        .as_str()
        .is_some_and(|m| m.contains("NUL"))
}

const NUL: &str = "a\u{0}b";

both_backends!(
    nul_in_a_body_is_a_422_naming_the_field_and_writes_nothing,
    |app: TestApp| async move {
        let agent = post_agent(&app, &agent_body(json!({"name": "nul-target"}))).await;
        let agent_id = agent["id"].as_str().expect("agent id").to_owned();
        let agents_before = count(&app, "/v1/agents/count").await;
        let blocks_before = count(&app, "/v1/blocks/count").await;
        let identities_before = count(&app, "/v1/identities/count").await;

        // Create bodies: the loc walks into nested lists and objects.
        let cases: Vec<(&str, Value, Vec<Value>)> = vec![
            (
                "/v1/agents/",
                agent_body(json!({"description": NUL})),
                vec![json!("body"), json!("description")],
            ),
            (
                "/v1/agents/",
                agent_body(json!({"memory_blocks": [
                    {"label": "human", "value": "fine"},
                    {"label": "persona", "value": NUL}
                ]})),
                vec![
                    json!("body"),
                    json!("memory_blocks"),
                    json!(1),
                    json!("value"),
                ],
            ),
            (
                "/v1/agents/",
                agent_body(json!({"metadata": {"k\u{0}": 1}})),
                vec![json!("body"), json!("metadata"), json!("k\u{0}")],
            ),
            (
                "/v1/blocks/",
                json!({"label": "human", "value": NUL}),
                vec![json!("body"), json!("value")],
            ),
            (
                "/v1/identities/",
                json!({"identifier_key": NUL, "name": "n", "identity_type": "user"}),
                vec![json!("body"), json!("identifier_key")],
            ),
            (
                "/v1/identities/",
                json!({"identifier_key": "k", "name": "n", "identity_type": "user",
                   "properties": [{"key": "p", "value": NUL, "type": "string"}]}),
                vec![json!("body"), json!("properties"), json!(0), json!("value")],
            ),
        ];
        for (path, body, loc) in cases {
            let (status, err) = app.post(path, &body).await;
            assert_422(status, &err, &loc);
            assert!(is_nul_error(&err), "{path}: {err}");
        }

        // Modify, message, archival: nothing is written and no run is left behind.
        let (status, err) = app
            .patch(
                &format!("/v1/agents/{agent_id}"),
                &json!({"description": NUL}),
            )
            .await;
        assert_422(status, &err, &[json!("body"), json!("description")]);
        let (status, err) = app
            .post(
                &format!("/v1/agents/{agent_id}/messages"),
                &json!({"messages": [{"role": "user", "content": NUL}]}),
            )
            .await;
        assert_422(
            status,
            &err,
            &[json!("body"), json!("messages"), json!(0), json!("content")],
        );
        let (status, err) = app
        .post(
            &format!("/v1/agents/{agent_id}/messages/stream"),
            &json!({"messages": [{"role": "user", "content": [{"type": "text", "text": NUL}]}]}),
        )
        .await;
        assert_422(
            status,
            &err,
            &[
                json!("body"),
                json!("messages"),
                json!(0),
                json!("content"),
                json!(0),
                json!("text"),
            ],
        );
        let (status, err) = app
            .post(
                &format!("/v1/agents/{agent_id}/archival-memory"),
                &json!({"text": NUL}),
            )
            .await;
        assert_422(status, &err, &[json!("body"), json!("text")]);

        let (status, runs) = app.get("/v1/runs/").await;
        assert_eq!(status, StatusCode::OK, "{runs}");
        assert_eq!(runs, json!([]), "a refused message leaves no run");
        let (status, fetched) = app.get(&format!("/v1/agents/{agent_id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(fetched["description"], agent["description"]);
        assert_eq!(count(&app, "/v1/agents/count").await, agents_before);
        assert_eq!(count(&app, "/v1/blocks/count").await, blocks_before);
        assert_eq!(count(&app, "/v1/identities/count").await, identities_before);
    }
);

both_backends!(
    nul_in_a_query_or_path_is_a_422_naming_it,
    |app: TestApp| async move {
        for (path, loc) in [
            (
                "/v1/agents/?name=a%00b",
                vec![json!("query"), json!("name")],
            ),
            (
                "/v1/agents/?query_text=%00",
                vec![json!("query"), json!("query_text")],
            ),
            (
                "/v1/blocks/?label=x%00",
                vec![json!("query"), json!("label")],
            ),
            (
                "/v1/identities/?identifier_key=%00",
                vec![json!("query"), json!("identifier_key")],
            ),
            ("/v1/tools/?name=%00", vec![json!("query"), json!("name")]),
            (
                "/v1/tags/?query_text=%00",
                vec![json!("query"), json!("query_text")],
            ),
            (
                "/v1/agents/?after=agent-%00",
                vec![json!("query"), json!("after")],
            ),
            (
                "/v1/agents/agent-%00",
                vec![json!("path"), json!("agent_id")],
            ),
            (
                "/v1/blocks/block-%00",
                vec![json!("path"), json!("block_id")],
            ),
            ("/v1/runs/run-%00", vec![json!("path"), json!("run_id")]),
        ] {
            let (status, err) = app.get(path).await;
            assert_422(status, &err, &loc);
            assert!(is_nul_error(&err), "{path}: {err}");
        }
    }
);

both_backends!(
    limit_is_validated_alike_on_every_list_route,
    |app: TestApp| async move {
        let agent = post_agent(&app, &agent_body(json!({"name": "limit-target"}))).await;
        let agent_id = agent["id"].as_str().expect("agent id").to_owned();
        post_agent(&app, &agent_body(json!({"name": "limit-target-2"}))).await;
        let run_id = "run-00000000-0000-4000-8000-000000000000";
        let lists = [
            "/v1/agents/".to_owned(),
            "/v1/blocks/".to_owned(),
            "/v1/tools/".to_owned(),
            "/v1/identities/".to_owned(),
            "/v1/tags/".to_owned(),
            "/v1/jobs/".to_owned(),
            "/v1/jobs/active".to_owned(),
            "/v1/steps/".to_owned(),
            "/v1/admin/users/".to_owned(),
            "/v1/admin/orgs/".to_owned(),
            format!("/v1/agents/{agent_id}/messages"),
            format!("/v1/agents/{agent_id}/archival-memory"),
            format!("/v1/runs/{run_id}/messages"),
            format!("/v1/runs/{run_id}/steps"),
        ];
        for list in &lists {
            for bad in ["-1", "-9223372036854775808"] {
                let (status, err) = app.get(&format!("{list}?limit={bad}")).await;
                assert_422(status, &err, &[json!("query"), json!("limit")]);
                assert_eq!(
                    err["detail"][0]["type"], "greater_than_equal",
                    "{list}: {err}"
                );
            }
            let (status, err) = app.get(&format!("{list}?limit=x")).await;
            assert_422(status, &err, &[json!("query"), json!("limit")]);
        }
        // 0 means no limit, the same on both backends.
        let (status, all) = app.get("/v1/agents/?limit=0").await;
        assert_eq!(status, StatusCode::OK, "{all}");
        assert_eq!(all.as_array().map(Vec::len), Some(2), "{all}");
        let (status, one) = app.get("/v1/agents/?limit=1").await;
        assert_eq!(status, StatusCode::OK, "{one}");
        assert_eq!(one.as_array().map(Vec::len), Some(1), "{one}");
        let (status, all) = app
            .get(&format!("/v1/agents/{agent_id}/messages?limit=0"))
            .await;
        assert_eq!(status, StatusCode::OK, "{all}");
        assert!(all.as_array().is_some_and(|m| m.len() > 1), "{all}");
    }
);

both_backends!(
    duplicate_block_labels_on_create_are_a_400_and_write_nothing,
    |app: TestApp| async move {
        let agents_before = count(&app, "/v1/agents/count").await;
        let blocks_before = count(&app, "/v1/blocks/count").await;

        let (status, err) = app
            .post(
                "/v1/agents/",
                &agent_body(json!({"memory_blocks": [
                    {"label": "human", "value": "one"},
                    {"label": "human", "value": "two"}
                ]})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        let detail = err["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("'human'"), "{err}");

        let persona = create_block(&app, "persona").await;
        let blocks_before = blocks_before + 1;
        let (status, err) = app
            .post(
                "/v1/agents/",
                &agent_body(json!({
                    "memory_blocks": [{"label": "persona", "value": "clash"}],
                    "block_ids": [persona]
                })),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        assert!(
            err["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("'persona'"),
            "{err}"
        );

        let other_persona = create_block(&app, "persona").await;
        let blocks_before = blocks_before + 1;
        let (status, err) = app
            .post(
                "/v1/agents/",
                &agent_body(json!({"block_ids": [persona, other_persona]})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");

        assert_eq!(count(&app, "/v1/agents/count").await, agents_before);
        assert_eq!(
            count(&app, "/v1/blocks/count").await,
            blocks_before,
            "no orphan block rows"
        );

        // The same block listed twice is one attachment, not a clash.
        let agent = post_agent(&app, &agent_body(json!({"block_ids": [persona, persona]}))).await;
        assert_eq!(
            agent["memory"]["blocks"].as_array().map(Vec::len),
            Some(1),
            "{agent}"
        );
        let agent_id = agent["id"].as_str().expect("agent id").to_owned();

        // Modify with block_ids: the same rule, and the agent keeps its blocks.
        let (status, err) = app
            .patch(
                &format!("/v1/agents/{agent_id}"),
                &json!({"block_ids": [persona, other_persona]}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        let (_, fetched) = app.get(&format!("/v1/agents/{agent_id}")).await;
        assert_eq!(fetched["memory"]["blocks"][0]["id"], json!(persona));

        // Attaching a block whose label the agent already has: 409, as documented.
        let (status, err) = app
            .patch(
                &format!("/v1/agents/{agent_id}/core-memory/blocks/attach/{other_persona}"),
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{err}");
        let (_, fetched) = app.get(&format!("/v1/agents/{agent_id}")).await;
        assert_eq!(
            fetched["memory"]["blocks"].as_array().map(Vec::len),
            Some(1)
        );
    }
);

/// A 413 closes its connection cleanly, and the client's next request (reusing its pool)
/// succeeds on a new one.
async fn over_limit_body_then_next_request(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.max_body_bytes = 1024).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .expect("client");
    for _ in 0..3 {
        let (status, _) = app.get("/v1/agents/").await;
        assert_eq!(status, StatusCode::OK);
        let resp = client
            .get(app.url("/v1/health/"))
            .send()
            .await
            .expect("warm the pooled connection");
        assert_eq!(resp.status(), StatusCode::OK);
        resp.bytes().await.expect("body");

        let big = json!({"label": "human", "value": "x".repeat(64 * 1024)});
        let resp = client
            .post(app.url("/v1/blocks/"))
            .header("user_id", &app.user_id)
            .json(&big)
            .send()
            .await
            .expect("the 413 arrives");
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            resp.headers()
                .get("connection")
                .and_then(|v| v.to_str().ok()),
            Some("close")
        );
        let body: Value = resp.json().await.expect("JSON error body");
        assert!(body["detail"].is_string(), "{body}");

        let resp = client
            .get(app.url("/v1/blocks/"))
            .header("user_id", &app.user_id)
            .send()
            .await
            .expect("the next request on the same client succeeds");
        assert_eq!(resp.status(), StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_limit_body_closes_the_connection_sqlite() {
    over_limit_body_then_next_request(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_limit_body_closes_the_connection_postgres() {
    over_limit_body_then_next_request(Backend::Postgres).await;
}

both_backends!(a_list_is_not_an_object, |app: TestApp| async move {
    let agents_before = count(&app, "/v1/agents/count").await;
    for (path, body, loc) in [
        ("/v1/agents/", json!([null, null]), vec![json!("body")]),
        ("/v1/blocks/", json!(["human", "v"]), vec![json!("body")]),
        (
            "/v1/agents/",
            agent_body(json!({"memory_blocks": [["human", "v"]]})),
            vec![json!("body"), json!("memory_blocks"), json!(0)],
        ),
    ] {
        let (status, err) = app.post(path, &body).await;
        assert_422(status, &err, &loc);
        assert_eq!(err["detail"][0]["type"], "dict_type", "{path}: {err}");
    }
    assert_eq!(count(&app, "/v1/agents/count").await, agents_before);
});

both_backends!(
    renaming_a_block_onto_a_label_the_agent_has_is_a_409,
    |app: TestApp| async move {
        let human = create_block(&app, "human").await;
        let notes = create_block(&app, "notes").await;
        post_agent(&app, &agent_body(json!({"block_ids": [human, notes]}))).await;
        let (status, err) = app
            .patch(&format!("/v1/blocks/{notes}"), &json!({"label": "human"}))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{err}");
        assert!(err["detail"].is_string(), "{err}");
        let (_, block) = app.get(&format!("/v1/blocks/{notes}")).await;
        assert_eq!(block["label"], "notes", "nothing changed");
    }
);
