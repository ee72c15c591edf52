//! Archival memory over HTTP: the four `/v1/agents/{id}/archival-memory` routes,
//! `/v1/embeddings/total_storage_size`, and the `archival_memory_*` tools in the loop, with
//! the mock provider's deterministic embeddings (texts sharing words are close).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_422, create_agent, id_of};
use crate::llm_test;
use crate::mock_llm::{MockLlm, MockReply};
use letta_rs::config::Config;

const DIM: usize = 1536;

/// A key of the tests' own, so they can find it in the provider's request and not in errors.
fn archival_key(cfg: &mut Config) {
    cfg.openai_api_key = Some("sk-test-archival".parse().unwrap());
}

/// An embedding configuration of the OpenAI type at `endpoint`.
fn embedding_config(endpoint: &str, batch_size: i64) -> Value {
    json!({
        "embedding_endpoint_type": "openai",
        "embedding_endpoint": endpoint,
        "embedding_model": "text-embedding-3-small",
        "embedding_dim": DIM,
        "embedding_chunk_size": 300,
        "batch_size": batch_size,
    })
}

fn memory_path(agent_id: &str) -> String {
    format!("/v1/agents/{agent_id}/archival-memory")
}

async fn insert(app: &TestApp, agent_id: &str, text: &str) -> Vec<Value> {
    let (status, body) = app
        .post(&memory_path(agent_id), &json!({ "text": text }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

async fn list(app: &TestApp, agent_id: &str, query: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("{}{query}", memory_path(agent_id))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

fn texts(passages: &[Value]) -> Vec<String> {
    passages
        .iter()
        .map(|p| p["text"].as_str().unwrap().to_owned())
        .collect()
}

fn ids(passages: &[Value]) -> Vec<String> {
    passages
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

fn vector(passage: &Value) -> Vec<f32> {
    serde_json::from_value(passage["embedding"].clone()).unwrap()
}

fn assert_close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-6, "{x} != {y}");
    }
}

/// The agent's stored system prompt.
async fn system_prompt(app: &TestApp, agent_id: &str) -> String {
    let (_, agent) = app.get(&format!("/v1/agents/{agent_id}")).await;
    let system_id = agent["message_ids"][0].as_str().unwrap().to_owned();
    let messages = app
        .store
        .get_messages(&app.org_id, &[system_id])
        .await
        .unwrap();
    messages[0].text().unwrap().to_owned()
}

async fn count(app: &TestApp, agent_id: &str) -> i64 {
    app.store.count_agent_passages(agent_id).await.unwrap()
}

const FACTS: &[&str] = &[
    "The user likes green tea.",
    "The capital of France is Paris.",
    "Rockets fly to the moon and back.",
    "The user's cat is called Miso.",
];

llm_test!(
    insert_then_list,
    config = archival_key,
    |app: TestApp, llm: MockLlm| async move {
        let agent_id = id_of(&create_agent(&app, json!({})).await);
        let (_, agent) = app.get(&format!("/v1/agents/{agent_id}")).await;
        let created = insert(&app, &agent_id, "  The capital of France is Paris.\n").await;
        assert_eq!(created.len(), 1);
        let passage = &created[0];
        assert!(passage["id"].as_str().unwrap().starts_with("passage-"));
        assert_eq!(passage["text"], "The capital of France is Paris.");
        assert_eq!(passage["agent_id"], agent_id.as_str());
        assert_eq!(passage["organization_id"], app.org_id.as_str());
        assert_eq!(passage["created_by_id"], app.user_id.as_str());
        assert_eq!(passage["last_updated_by_id"], app.user_id.as_str());
        assert_eq!(passage["metadata"], json!({}));
        assert_eq!(passage["is_deleted"], false);
        assert_eq!(passage["source_id"], Value::Null);
        assert_eq!(passage["embedding_config"], agent["embedding_config"]);
        // The true dimension, the mock's vector for the text.
        assert_close(
            &vector(passage),
            &MockLlm::embedding_for("The capital of France is Paris.", DIM),
        );

        // What the provider was sent: the original's request, base64 answers, the key.
        let sent = llm.embedding_requests();
        assert_eq!(sent.len(), 1);
        assert_eq!(
            sent[0],
            json!({"input": ["The capital of France is Paris."], "model": "text-embedding-3-small", "encoding_format": "base64"})
        );
        let request = llm
            .received()
            .into_iter()
            .find(|r| r.path.ends_with("/embeddings"))
            .unwrap();
        assert_eq!(
            request.header("authorization"),
            Some("Bearer sk-test-archival")
        );

        // Listed as created.
        let listed = list(&app, &agent_id, "").await;
        assert_eq!(listed, created);
        assert_eq!(count(&app, &agent_id).await, 1);

        // Blank text stores nothing and calls no provider.
        let none = insert(&app, &agent_id, "  \n ").await;
        assert!(none.is_empty());
        assert_eq!(llm.embedding_requests().len(), 1);
        assert_eq!(count(&app, &agent_id).await, 1);
    }
);

llm_test!(insert_bad_input, |app: TestApp, llm: MockLlm| async move {
    let agent_id = id_of(&create_agent(&app, json!({})).await);
    let path = memory_path(&agent_id);

    let (status, body) = app.post(&path, &json!({})).await;
    assert_422(status, &body, &[json!("body"), json!("text")]);
    let (status, body) = app.post(&path, &json!({"text": 42})).await;
    assert_422(status, &body, &[json!("body"), json!("text")]);
    assert_eq!(body["detail"][0]["type"], "string_type");
    let (status, body) = app
        .send_raw(reqwest::Method::POST, &path, "{\"text\": ")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["type"], "json_invalid");

    // Unknown agent (and another organization's agent): 404.
    let (status, body) = app
        .post(
            &memory_path("agent-00000000-0000-4000-8000-000000000000"),
            &json!({"text": "hello"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("Agent not found"));
    let other = app.other_org_user().await;
    let (status, _) = app
        .request_as(
            &other,
            reqwest::Method::POST,
            &path,
            Some(&json!({"text": "hello"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Unknown fields are ignored, as the original's CreateArchivalMemory does.
    let (status, body) = app
        .post(&path, &json!({"text": "Kept.", "colour": "red"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Nothing else was stored or embedded.
    assert_eq!(count(&app, &agent_id).await, 1);
    assert_eq!(llm.embedding_requests().len(), 1);
});

llm_test!(
    long_text_is_chunked,
    |app: TestApp, llm: MockLlm| async move {
        let agent_id = id_of(&create_agent(&app, json!({})).await);
        let text: String = (0..120)
            .map(|i| format!("Fact {i}: the parcel labelled {i} waits on shelf {i} of the depot. "))
            .collect();
        let created = insert(&app, &agent_id, &text).await;
        let expected = letta_rs::ingest::chunker::chunk_text(&text, 300);
        assert!(expected.len() >= 3, "{}", expected.len());
        assert_eq!(texts(&created), expected);
        // Whole sentences, and consecutive chunks overlap.
        for pair in expected.windows(2) {
            assert!(pair[0].ends_with("depot."));
            let first = pair[1].split(". ").next().unwrap();
            assert!(pair[0].contains(first));
        }
        // Every chunk embedded in one batch before anything was written, each its own vector.
        let sent = llm.embedding_requests();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0]["input"], json!(expected));
        for (passage, chunk) in created.iter().zip(&expected) {
            assert_close(&vector(passage), &MockLlm::embedding_for(chunk, DIM));
        }
        // Listed in chunk order, both directions.
        assert_eq!(texts(&list(&app, &agent_id, "").await), expected);
        let mut reversed = expected.clone();
        reversed.reverse();
        assert_eq!(
            texts(&list(&app, &agent_id, "?ascending=false").await),
            reversed
        );

        // A small batch size splits the embedding calls; the result is the same.
        let small = id_of(&create_agent(&app, json!({"embedding": null, "embedding_config": embedding_config(&llm.base_url(), 2)})).await);
        llm.clear_requests();
        let created = insert(&app, &small, &text).await;
        assert_eq!(texts(&created), expected);
        let sent = llm.embedding_requests();
        assert_eq!(sent.len(), expected.len().div_ceil(2));
        assert!(
            sent.iter()
                .all(|r| r["input"].as_array().unwrap().len() <= 2)
        );
    }
);

llm_test!(
    listing_cursors_and_search,
    |app: TestApp, _llm: MockLlm| async move {
        let agent_id = id_of(&create_agent(&app, json!({})).await);
        let mut all = Vec::new();
        for fact in FACTS {
            all.extend(insert(&app, &agent_id, fact).await);
        }
        let all_ids = ids(&all);

        // Plain listing: oldest first by default, cursors exclusive, limit.
        assert_eq!(ids(&list(&app, &agent_id, "").await), all_ids);
        assert_eq!(
            ids(&list(&app, &agent_id, "?ascending=true&limit=2").await),
            all_ids[..2]
        );
        assert_eq!(
            ids(&list(&app, &agent_id, &format!("?after={}", all_ids[1])).await),
            all_ids[2..]
        );
        assert_eq!(
            ids(&list(&app, &agent_id, &format!("?before={}", all_ids[2])).await),
            all_ids[..2]
        );
        assert_eq!(
            ids(&list(
                &app,
                &agent_id,
                &format!("?after={}&before={}", all_ids[0], all_ids[3])
            )
            .await),
            all_ids[1..3]
        );
        let newest_first: Vec<String> = all_ids.iter().rev().cloned().collect();
        assert_eq!(
            ids(&list(&app, &agent_id, "?ascending=false").await),
            newest_first
        );
        // Unknown cursor or agent: empty, not an error.
        assert!(
            list(&app, &agent_id, "?after=passage-nope")
                .await
                .is_empty()
        );
        assert!(
            list(&app, "agent-00000000-0000-4000-8000-000000000000", "")
                .await
                .is_empty()
        );

        // `search` ranks by embedding similarity, nearest first.
        let found = list(&app, &agent_id, "?search=green%20tea&limit=2").await;
        assert_eq!(found.len(), 2);
        assert_eq!(found[0]["text"], "The user likes green tea.");
        let found = list(
            &app,
            &agent_id,
            "?search=What%20is%20the%20capital%20of%20France",
        )
        .await;
        assert_eq!(found.len(), FACTS.len());
        assert_eq!(found[0]["text"], "The capital of France is Paris.");
        let found = list(&app, &agent_id, "?search=cat%20called&limit=1").await;
        assert_eq!(texts(&found), ["The user's cat is called Miso."]);
        // Cursors still bound the candidates.
        let found = list(
            &app,
            &agent_id,
            &format!("?search=green%20tea&after={}", all_ids[0]),
        )
        .await;
        assert_eq!(found.len(), 3);
        assert!(!ids(&found).contains(&all_ids[0]));
        assert!(
            list(&app, &agent_id, "?search=tea&before=passage-nope")
                .await
                .is_empty()
        );

        // Bad query values: 422, nothing listed.
        let path = memory_path(&agent_id);
        let (status, body) = app.get(&format!("{path}?limit=abc")).await;
        assert_422(status, &body, &[json!("query"), json!("limit")]);
        let (status, body) = app.get(&format!("{path}?limit=-1")).await;
        assert_422(status, &body, &[json!("query"), json!("limit")]);
        let (status, body) = app.get(&format!("{path}?ascending=maybe")).await;
        assert_422(status, &body, &[json!("query"), json!("ascending")]);
    }
);

llm_test!(modify_re_embeds, |app: TestApp, llm: MockLlm| async move {
    let agent_id = id_of(&create_agent(&app, json!({})).await);
    let mut all = Vec::new();
    for fact in FACTS {
        all.extend(insert(&app, &agent_id, fact).await);
    }
    let target = all[2]["id"].as_str().unwrap().to_owned();
    let path = format!("{}/{target}", memory_path(&agent_id));
    let before_calls = llm.embedding_requests().len();

    // New text: embedded again, returned as a one-element list.
    let new_text = "Submarines dive under the arctic ice.";
    let (status, body) = app
        .patch(&path, &json!({"id": target, "text": new_text}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let updated = body.as_array().unwrap();
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["id"], target.as_str());
    assert_eq!(updated[0]["text"], new_text);
    assert_eq!(updated[0]["created_at"], all[2]["created_at"]);
    assert_close(&vector(&updated[0]), &MockLlm::embedding_for(new_text, DIM));
    assert_eq!(llm.embedding_requests().len(), before_calls + 1);
    // Search finds the new text, not the old one.
    let found = list(&app, &agent_id, "?search=arctic%20submarines&limit=1").await;
    assert_eq!(found[0]["id"], target.as_str());

    // Same text, metadata (either name) and an explicit embedding: no provider call.
    let calls = llm.embedding_requests().len();
    let explicit = MockLlm::embedding_for("green tea", DIM);
    let (status, body) = app
        .patch(
            &path,
            &json!({"id": target, "text": new_text, "metadata_": {"topic": "sea"}, "embedding": explicit}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body[0]["metadata"], json!({"topic": "sea"}));
    assert_close(&vector(&body[0]), &explicit);
    let (status, body) = app
        .patch(&path, &json!({"id": target, "metadata": {"topic": "ice"}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body[0]["metadata"], json!({"topic": "ice"}));
    assert_close(&vector(&body[0]), &explicit);
    assert_eq!(llm.embedding_requests().len(), calls);
    let stored = app
        .store
        .get_passage(&app.org_id, &target)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.text, new_text);
    assert_eq!(stored.metadata.unwrap()["topic"], "ice");
    let found = list(&app, &agent_id, "?search=green%20tea&limit=2").await;
    assert!(
        ids(&found).contains(&target),
        "the given embedding is searched"
    );
    assert_eq!(count(&app, &agent_id).await, FACTS.len() as i64);
});

llm_test!(modify_bad_input, |app: TestApp, llm: MockLlm| async move {
    let agent_id = id_of(&create_agent(&app, json!({})).await);
    let created = insert(&app, &agent_id, "The user likes green tea.").await;
    let id = created[0]["id"].as_str().unwrap().to_owned();
    let path = format!("{}/{id}", memory_path(&agent_id));
    let calls = llm.embedding_requests().len();

    // Strict body: unknown fields and a missing id are 422s.
    let (status, body) = app
        .patch(&path, &json!({"id": id, "text": "x", "colour": "red"}))
        .await;
    assert_422(status, &body, &[json!("body"), json!("colour")]);
    assert_eq!(body["detail"][0]["type"], "extra_forbidden");
    let (status, body) = app.patch(&path, &json!({"text": "x"})).await;
    assert_422(status, &body, &[json!("body"), json!("id")]);
    let (status, body) = app
        .patch(&path, &json!({"id": id, "embedding": "nope"}))
        .await;
    assert_422(status, &body, &[json!("body"), json!("embedding")]);
    let (status, body) = app.patch(&path, &json!({"id": id, "text": "  "})).await;
    assert_422(status, &body, &[json!("body"), json!("text")]);
    let (status, body) = app.patch(&path, &json!({"id": id, "embedding": []})).await;
    assert_422(status, &body, &[json!("body"), json!("embedding")]);

    // The body's id must be the path's.
    let (status, body) = app
        .patch(&path, &json!({"id": "passage-other", "text": "x"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Unknown passage, another agent's path, another organization: the original's 400.
    let missing = "passage-00000000-0000-4000-8000-000000000000";
    let (status, body) = app
        .patch(
            &format!("{}/{missing}", memory_path(&agent_id)),
            &json!({"id": missing, "text": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["detail"],
        format!("Passage with id {missing} does not exist.")
    );
    let other_agent = id_of(&create_agent(&app, json!({})).await);
    let (status, _) = app
        .patch(
            &format!("{}/{id}", memory_path(&other_agent)),
            &json!({"id": id, "text": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let other = app.other_org_user().await;
    let (status, _) = app
        .request_as(
            &other,
            reqwest::Method::PATCH,
            &path,
            Some(&json!({"id": id, "text": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Nothing changed, nothing embedded.
    assert_eq!(list(&app, &agent_id, "").await, created);
    assert_eq!(llm.embedding_requests().len(), calls);
});

llm_test!(delete_passages, |app: TestApp, _llm: MockLlm| async move {
    let agent_id = id_of(&create_agent(&app, json!({})).await);
    let mut all = Vec::new();
    for fact in &FACTS[..2] {
        all.extend(insert(&app, &agent_id, fact).await);
    }
    assert!(
        system_prompt(&app, &agent_id)
            .await
            .contains("- 2 total memories you created are stored in archival memory")
    );
    let id = all[0]["id"].as_str().unwrap().to_owned();
    let path = format!("{}/{id}", memory_path(&agent_id));

    // Not through another agent or organization.
    let other_agent = id_of(&create_agent(&app, json!({})).await);
    let (status, body) = app
        .delete(&format!("{}/{id}", memory_path(&other_agent)))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let other = app.other_org_user().await;
    let (status, _) = app
        .request_as(&other, reqwest::Method::DELETE, &path, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(count(&app, &agent_id).await, 2);

    let (status, body) = app.delete(&path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"message": format!("Memory id={id} successfully deleted")})
    );
    assert_eq!(ids(&list(&app, &agent_id, "").await), ids(&all[1..]));
    assert!(
        system_prompt(&app, &agent_id)
            .await
            .contains("- 1 total memories you created are stored in archival memory")
    );

    // Gone: a second delete is a 404 with the original's text.
    let (status, body) = app.delete(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["detail"],
        format!("Passage with id {id} not found in database.")
    );
});

llm_test!(
    system_prompt_and_context_show_the_count,
    |app: TestApp, _llm: MockLlm| async move {
        let agent_id = id_of(&create_agent(&app, json!({})).await);
        assert!(
            system_prompt(&app, &agent_id)
                .await
                .contains("- 0 total memories you created are stored in archival memory")
        );
        insert(&app, &agent_id, FACTS[0]).await;
        insert(&app, &agent_id, FACTS[1]).await;
        insert(&app, &agent_id, FACTS[2]).await;
        assert!(
            system_prompt(&app, &agent_id)
                .await
                .contains("- 3 total memories you created are stored in archival memory")
        );
        let (status, context) = app.get(&format!("/v1/agents/{agent_id}/context")).await;
        assert_eq!(status, StatusCode::OK, "{context}");
        assert_eq!(context["num_archival_memory"], 3);
        assert!(
            context["external_memory_summary"]
                .as_str()
                .unwrap()
                .contains("3 total memories")
        );
    }
);

llm_test!(
    agent_deletion_and_org_isolation,
    |app: TestApp, _llm: MockLlm| async move {
        let agent_id = id_of(&create_agent(&app, json!({})).await);
        let kept = id_of(&create_agent(&app, json!({})).await);
        for fact in FACTS {
            insert(&app, &agent_id, fact).await;
        }
        insert(&app, &kept, FACTS[0]).await;

        // Another organization sees nothing, by listing or by search.
        let other = app.other_org_user().await;
        for query in ["", "?search=green%20tea"] {
            let (status, body) = app
                .request_as(
                    &other,
                    reqwest::Method::GET,
                    &format!("{}{query}", memory_path(&agent_id)),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(body, json!([]));
        }
        let (status, size) = app
            .request_as(
                &other,
                reqwest::Method::GET,
                "/v1/embeddings/total_storage_size",
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(size, json!(0.0));

        // Deleting the agent deletes its passages, and only its.
        let (status, _) = app.delete(&format!("/v1/agents/{agent_id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(count(&app, &agent_id).await, 0);
        assert!(list(&app, &agent_id, "").await.is_empty());
        assert_eq!(count(&app, &kept).await, 1);
    }
);

llm_test!(
    total_storage_size,
    |app: TestApp, _llm: MockLlm| async move {
        let size = |unit: Option<&'static str>| {
            let app = &app;
            async move {
                let mut req = app
                    .client
                    .get(app.url("/v1/embeddings/total_storage_size"))
                    .header("user_id", &app.user_id);
                if let Some(unit) = unit {
                    req = req.header("storage-unit", unit);
                }
                let resp = req.send().await.unwrap();
                let status = resp.status();
                (status, resp.json::<Value>().await.unwrap())
            }
        };
        assert_eq!(size(None).await, (StatusCode::OK, json!(0.0)));
        let agent_id = id_of(&create_agent(&app, json!({})).await);
        insert(&app, &agent_id, FACTS[0]).await;
        insert(&app, &agent_id, FACTS[1]).await;

        let (status, bytes) = size(Some("B")).await;
        assert_eq!(status, StatusCode::OK);
        let bytes = bytes.as_f64().unwrap();
        // At least the two texts and two float32 vectors.
        let minimum = (FACTS[0].len() + FACTS[1].len() + 2 * DIM * 4) as f64;
        assert!(bytes >= minimum, "{bytes} < {minimum}");
        let (_, kb) = size(Some("KB")).await;
        assert!((kb.as_f64().unwrap() - bytes / 1024.0).abs() < 1e-9);
        let (_, mb) = size(Some("MB")).await;
        assert!((mb.as_f64().unwrap() - bytes / 1048576.0).abs() < 1e-12);
        let (_, gb) = size(None).await;
        assert!((gb.as_f64().unwrap() - bytes / 1073741824.0).abs() < 1e-15);
        assert!(gb.as_f64().unwrap() > 0.0);

        let (status, body) = size(Some("PB")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .starts_with("Invalid storage unit: PB.")
        );
    }
);

llm_test!(
    embedding_provider_down,
    config = archival_key,
    |app: TestApp, llm: MockLlm| async move {
        // Nothing listens on this port.
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let endpoint = format!("http://127.0.0.1:{closed}/v1");
        let agent_id = id_of(
            &create_agent(
                &app,
                json!({"embedding": null, "embedding_config": embedding_config(&endpoint, 1024)}),
            )
            .await,
        );
        let (status, body) = app
            .post(&memory_path(&agent_id), &json!({"text": FACTS[0]}))
            .await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("Embedding provider openai")
                && detail.contains(&format!("127.0.0.1:{closed}")),
            "{detail}"
        );
        assert_eq!(count(&app, &agent_id).await, 0);
        assert!(
            system_prompt(&app, &agent_id)
                .await
                .contains("- 0 total memories you created are stored in archival memory")
        );
        // Searching needs the provider too.
        let (status, _) = app
            .get(&format!("{}?search=tea", memory_path(&agent_id)))
            .await;
        assert_eq!(status, StatusCode::OK, "no passages: nothing to rank");

        // A provider that refuses the key: 401 (its kind kept) with its status and
        // message, nothing stored, even for a text of several chunks.
        let agent_id = id_of(&create_agent(&app, json!({})).await);
        llm.fail_embeddings(401, 1);
        let long: String = (0..80)
            .map(|i| format!("Line {i} of a long note about the harbour. "))
            .collect();
        let (status, body) = app
            .post(&memory_path(&agent_id), &json!({"text": long}))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("openai") && detail.contains("HTTP 401"),
            "{detail}"
        );
        assert!(!detail.contains("sk-test-archival"));
        assert_eq!(count(&app, &agent_id).await, 0);

        // A passing 5xx is retried with the chat calls' policy.
        llm.clear_requests();
        llm.fail_embeddings(503, 1);
        let created = insert(&app, &agent_id, FACTS[0]).await;
        assert_eq!(created.len(), 1);
        assert_eq!(llm.embedding_requests().len(), 2);

        // With passages stored, a search while the provider fails is a 502 too.
        llm.fail_embeddings(500, 3);
        let (status, body) = app
            .get(&format!("{}?search=tea", memory_path(&agent_id)))
            .await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
        assert_eq!(count(&app, &agent_id).await, 1);
    }
);

llm_test!(
    unknown_embedding_endpoint_type,
    |app: TestApp, llm: MockLlm| async move {
        let mut config = embedding_config(&llm.base_url(), 1024);
        config["embedding_endpoint_type"] = json!("carrier-pigeon");
        let agent_id = id_of(
            &create_agent(&app, json!({"embedding": null, "embedding_config": config})).await,
        );
        let (status, body) = app
            .post(&memory_path(&agent_id), &json!({"text": FACTS[0]}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["detail"], "Unknown endpoint type carrier-pigeon");
        assert_eq!(count(&app, &agent_id).await, 0);
        assert!(llm.embedding_requests().is_empty());
    }
);

/// The ids of the two archival tools in the test user's organization.
async fn archival_tool_ids(app: &TestApp) -> Vec<String> {
    let mut out = Vec::new();
    for name in ["archival_memory_insert", "archival_memory_search"] {
        let (status, tools) = app.get(&format!("/v1/tools/?name={name}")).await;
        assert_eq!(status, StatusCode::OK, "{tools}");
        out.push(tools[0]["id"].as_str().unwrap().to_owned());
    }
    out
}

/// The text of the last tool result in a chat request.
fn last_tool_result(request: &crate::mock_llm::MockRequest) -> String {
    let messages = request.messages();
    let tool = messages.iter().rev().find(|m| m["role"] == "tool").unwrap();
    let content: Value = serde_json::from_str(tool["content"].as_str().unwrap()).unwrap();
    content["message"].as_str().unwrap().to_owned()
}

llm_test!(
    loop_inserts_then_searches,
    |app: TestApp, llm: MockLlm| async move {
        let tool_ids = archival_tool_ids(&app).await;
        let agent_id = id_of(&create_agent(&app, json!({"tool_ids": tool_ids})).await);
        insert(&app, &agent_id, "The capital of France is Paris.").await;
        insert(&app, &agent_id, "Rockets fly to the moon and back.").await;

        llm.push(MockReply::tool_call(
            "archival_memory_insert",
            json!({"inner_thoughts": "remember it", "content": "The user's favourite colour is teal.", "request_heartbeat": true}),
        ));
        llm.push(MockReply::tool_call(
            "archival_memory_search",
            json!({"inner_thoughts": "look it up", "query": "favourite colour", "page": 0, "request_heartbeat": true}),
        ));
        llm.set_rule(|req| {
            let found = last_tool_result(req);
            MockReply::tool_call(
                "send_message",
                json!({"inner_thoughts": "answer", "message": format!("I found: {found}")}),
            )
        });
        let (status, body) = app
            .post(
                &format!("/v1/agents/{agent_id}/messages"),
                &json!({"messages": [{"role": "user", "content": "Remember my favourite colour is teal, then tell me."}]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let messages = body["messages"].as_array().unwrap();
        let returns: Vec<&Value> = messages
            .iter()
            .filter(|m| m["message_type"] == "tool_return_message")
            .collect();
        assert_eq!(returns.len(), 2, "{body}");
        assert_eq!(returns[0]["name"], "archival_memory_insert");
        assert_eq!(returns[0]["status"], "success");
        assert_eq!(returns[0]["tool_return"], "None");
        assert_eq!(returns[1]["name"], "archival_memory_search");
        assert_eq!(returns[1]["status"], "success");
        let found = returns[1]["tool_return"].as_str().unwrap();
        // The original's Python tuple: nearest first, all three passages (fewer than five).
        assert!(
            found.starts_with("([{'timestamp': '")
                && found.contains("'content': \"The user's favourite colour is teal.\"}")
                && found.ends_with("], 3)"),
            "{found}"
        );
        let first_content = found.find("'content'").unwrap();
        assert!(found[first_content..].starts_with("'content': \"The user's favourite"));
        let reply = messages
            .iter()
            .rev()
            .find(|m| m["message_type"] == "assistant_message")
            .unwrap();
        assert_eq!(reply["content"], format!("I found: {found}"));

        // Stored and searchable over HTTP.
        assert_eq!(count(&app, &agent_id).await, 3);
        let listed = list(&app, &agent_id, "?search=teal%20colour&limit=1").await;
        assert_eq!(listed[0]["text"], "The user's favourite colour is teal.");

        // `start` pages through the ranking; a non-integer page is a tool error.
        llm.clear_rule();
        llm.push(MockReply::tool_call(
            "archival_memory_search",
            json!({"query": "favourite colour", "start": 2, "request_heartbeat": true}),
        ));
        llm.push(MockReply::tool_call(
            "archival_memory_search",
            json!({"query": "favourite colour", "page": "second", "request_heartbeat": true}),
        ));
        llm.push(MockReply::tool_call(
            "send_message",
            json!({"message": "done"}),
        ));
        let (status, body) = app
            .post(
                &format!("/v1/agents/{agent_id}/messages"),
                &json!({"messages": [{"role": "user", "content": "more"}]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let returns: Vec<&Value> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["message_type"] == "tool_return_message")
            .collect();
        let paged = returns[0]["tool_return"].as_str().unwrap();
        assert!(paged.ends_with("], 1)"), "{paged}");
        assert_eq!(returns[1]["status"], "error");
    }
);

llm_test!(
    loop_tool_embedding_failure_is_a_tool_error,
    |app: TestApp, llm: MockLlm| async move {
        let tool_ids = archival_tool_ids(&app).await;
        let agent_id = id_of(&create_agent(&app, json!({"tool_ids": tool_ids})).await);
        llm.fail_embeddings(400, 2);
        llm.push(MockReply::tool_call(
            "archival_memory_insert",
            json!({"content": "Something to keep.", "request_heartbeat": true}),
        ));
        llm.push(MockReply::tool_call(
            "archival_memory_search",
            json!({"query": "keep", "request_heartbeat": true}),
        ));
        llm.push(MockReply::tool_call(
            "send_message",
            json!({"message": "Sorry, my archive is unavailable."}),
        ));
        let (status, body) = app
            .post(
                &format!("/v1/agents/{agent_id}/messages"),
                &json!({"messages": [{"role": "user", "content": "keep this"}]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let returns: Vec<&Value> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["message_type"] == "tool_return_message")
            .collect();
        assert_eq!(returns.len(), 2, "{body}");
        for r in &returns {
            assert_eq!(r["status"], "error");
            let text = r["tool_return"].as_str().unwrap();
            assert!(
                text.contains("Embedding provider openai") && text.contains("HTTP 400"),
                "{text}"
            );
        }
        assert_eq!(count(&app, &agent_id).await, 0);
    }
);
