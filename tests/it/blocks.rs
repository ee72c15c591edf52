//! `/v1/blocks`: create, read, list, count, modify, delete, and the agents of a block.

use std::sync::atomic::{AtomicI64, Ordering};

use letta_rs::store::DynStore;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, assert_422};
use crate::store_fixtures::{agent_row, bare};

/// Creates an agent in `org` through the store, with these tags and attached blocks. Each
/// call's agent is created later than the previous call's.
pub async fn insert_agent(
    store: &DynStore,
    org: &str,
    name: &str,
    tags: &[&str],
    block_ids: &[String],
) -> String {
    static NEXT_SECOND: AtomicI64 = AtomicI64::new(0);
    let mut agent = bare(agent_row(
        org,
        name,
        NEXT_SECOND.fetch_add(1, Ordering::Relaxed),
    ));
    agent.tags = tags.iter().map(|t| (*t).to_owned()).collect();
    agent.block_ids = block_ids.to_vec();
    store.create_agent(&agent).await.expect("create agent");
    agent.row.id
}

/// Creates a block through the API and returns it.
pub async fn create_block(app: &TestApp, body: Value) -> Value {
    let (status, block) = app.post("/v1/blocks/", &body).await;
    assert_eq!(status, StatusCode::OK, "{block}");
    block
}

async fn count(app: &TestApp) -> i64 {
    let (status, body) = app.get("/v1/blocks/count").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_i64().expect("count is an integer")
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().expect("list").iter().map(id_of).collect()
}

both_backends!(create_and_retrieve_block, |app: TestApp| async move {
    let block = create_block(&app, json!({"label": "human", "value": "Name: Ada"})).await;
    let id = id_of(&block);
    assert!(id.starts_with("block-"), "{id}");
    assert_eq!(
        block,
        json!({
            "value": "Name: Ada", "limit": 5000, "name": null, "is_template": false,
            "preserve_on_migration": false, "label": "human", "read_only": false,
            "description": null, "metadata": {}, "id": id, "organization_id": app.org_id,
            "created_by_id": app.user_id, "last_updated_by_id": app.user_id,
        })
    );
    let (status, got) = app.get(&format!("/v1/blocks/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, block);

    // Every field given; `template_name` is accepted for `name`; unknown fields are ignored.
    let full = create_block(
        &app,
        json!({"label": "persona", "value": "I help.", "limit": 100, "template_name": "helper",
               "is_template": true, "preserve_on_migration": true, "read_only": true,
               "description": "who I am", "metadata": {"k": [1, 2]}, "surprise": 1}),
    )
    .await;
    assert_eq!(full["name"], "helper");
    assert_eq!(full["limit"], 100);
    assert_eq!(full["is_template"], true);
    assert_eq!(full["preserve_on_migration"], true);
    assert_eq!(full["read_only"], true);
    assert_eq!(full["description"], "who I am");
    assert_eq!(full["metadata"], json!({"k": [1, 2]}));
    assert_eq!(
        app.get(&format!("/v1/blocks/{}", id_of(&full))).await.1,
        full
    );

    // No default description outside agent creation.
    let persona = create_block(&app, json!({"label": "persona", "value": "x"})).await;
    assert_eq!(persona["description"], Value::Null);
});

both_backends!(
    create_block_limit_counts_characters,
    |app: TestApp| async move {
        // Ten two-byte characters fit a limit of ten.
        let ok = create_block(
            &app,
            json!({"label": "l", "value": "é".repeat(10), "limit": 10}),
        )
        .await;
        assert_eq!(ok["value"], "é".repeat(10));

        let (status, body) = app
            .post(
                "/v1/blocks/",
                &json!({"label": "human", "value": "é".repeat(11), "limit": 10}),
            )
            .await;
        assert_422(status, &body, &[json!("body")]);
        let msg = body["detail"][0]["msg"].as_str().unwrap_or_default();
        assert!(
            msg.starts_with(
                "Value error, Edit failed: Exceeds 10 character limit (requested 11) - "
            ),
            "{msg}"
        );
        assert_eq!(body["detail"][0]["type"], "value_error");
        assert_eq!(count(&app).await, 1, "the refused block was not written");
    }
);

both_backends!(create_block_bad_input_is_422, |app: TestApp| async move {
    let (status, body) = app.post("/v1/blocks/", &json!({"value": "v"})).await;
    assert_422(status, &body, &[json!("body"), json!("label")]);
    let (status, body) = app.post("/v1/blocks/", &json!({"label": "l"})).await;
    assert_422(status, &body, &[json!("body"), json!("value")]);
    let (status, body) = app
        .post(
            "/v1/blocks/",
            &json!({"label": "l", "value": "v", "limit": "big"}),
        )
        .await;
    assert_422(status, &body, &[json!("body"), json!("limit")]);
    let (status, body) = app
        .post("/v1/blocks/", &json!({"label": "l", "value": 7}))
        .await;
    assert_422(status, &body, &[json!("body"), json!("value")]);
    let (status, body) = app
        .send_raw(Method::POST, "/v1/blocks/", "{\"label\": ")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["type"], "json_invalid");
    assert_eq!(count(&app).await, 0);
});

both_backends!(
    retrieve_block_not_found_and_isolated,
    |app: TestApp| async move {
        let (status, body) = app
            .get("/v1/blocks/block-00000000-0000-4000-8000-000000000000")
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, json!({"detail": "Block not found"}));

        let id = id_of(&create_block(&app, json!({"label": "human", "value": "mine"})).await);
        let other = app.other_org_user().await;
        let (status, body) = app
            .request_as(&other, Method::GET, &format!("/v1/blocks/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body, json!({"detail": "Block not found"}));
    }
);

both_backends!(list_blocks_filters, |app: TestApp| async move {
    let human = create_block(&app, json!({"label": "human", "value": "a"})).await;
    let persona = create_block(&app, json!({"label": "persona", "value": "b"})).await;
    let template = create_block(
        &app,
        json!({"label": "human", "value": "c", "is_template": true, "name": "tpl"}),
    )
    .await;
    let other_template = create_block(
        &app,
        json!({"label": "persona", "value": "d", "is_template": true, "name": "other"}),
    )
    .await;

    // Non-templates by default, oldest first.
    let (status, list) = app.get("/v1/blocks/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&list), vec![id_of(&human), id_of(&persona)]);
    assert_eq!(list[0], human);
    assert_eq!(
        ids(&app.get("/v1/blocks").await.1),
        vec![id_of(&human), id_of(&persona)]
    );

    let (_, list) = app.get("/v1/blocks/?templates_only=true").await;
    assert_eq!(ids(&list), vec![id_of(&template), id_of(&other_template)]);
    let (_, list) = app.get("/v1/blocks/?label=human").await;
    assert_eq!(ids(&list), vec![id_of(&human)]);
    let (_, list) = app.get("/v1/blocks/?templates_only=true&label=human").await;
    assert_eq!(ids(&list), vec![id_of(&template)]);
    let (_, list) = app.get("/v1/blocks/?templates_only=true&name=other").await;
    assert_eq!(ids(&list), vec![id_of(&other_template)]);
    let (_, list) = app.get("/v1/blocks/?label=nobody").await;
    assert_eq!(list, json!([]));

    // limit: a page, and 0 for everything.
    for i in 0..3 {
        create_block(&app, json!({"label": format!("extra{i}"), "value": "e"})).await;
    }
    assert_eq!(
        ids(&app.get("/v1/blocks/?limit=1").await.1),
        vec![id_of(&human)]
    );
    assert_eq!(
        app.get("/v1/blocks/?limit=0")
            .await
            .1
            .as_array()
            .map(Vec::len),
        Some(5)
    );
    assert_eq!(
        app.get("/v1/blocks/").await.1.as_array().map(Vec::len),
        Some(5)
    );

    // Another organization sees none of them.
    let other = app.other_org_user().await;
    let (status, list) = app
        .request_as(&other, Method::GET, "/v1/blocks/?limit=0", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!([]));
});

both_backends!(list_blocks_by_identity, |app: TestApp| async move {
    let a = id_of(&create_block(&app, json!({"label": "human", "value": "a"})).await);
    let b = id_of(&create_block(&app, json!({"label": "human", "value": "b"})).await);
    let _c = id_of(&create_block(&app, json!({"label": "human", "value": "c"})).await);
    let (status, ada) = app
        .post("/v1/identities/", &json!({"identifier_key": "ada", "name": "Ada", "identity_type": "user", "block_ids": [a]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{ada}");
    let (status, bob) = app
        .post(
            "/v1/identities/",
            &json!({"identifier_key": "bob", "name": "Bob", "identity_type": "user", "block_ids": [a, b]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{bob}");

    let (_, list) = app
        .get(&format!("/v1/blocks/?identity_id={}", id_of(&ada)))
        .await;
    assert_eq!(ids(&list), vec![a.clone()]);
    let (_, list) = app
        .get(&format!("/v1/blocks/?identity_id={}", id_of(&bob)))
        .await;
    assert_eq!(ids(&list), vec![a.clone(), b.clone()]);
    let (_, list) = app.get("/v1/blocks/?identifier_keys=bob").await;
    assert_eq!(ids(&list), vec![a.clone(), b.clone()]);
    // A block linked to both identities is listed once.
    let (_, list) = app
        .get("/v1/blocks/?identifier_keys=ada&identifier_keys=bob")
        .await;
    assert_eq!(ids(&list), vec![a.clone(), b.clone()]);
    let (_, list) = app.get("/v1/blocks/?identifier_keys=nobody").await;
    assert_eq!(list, json!([]));
});

both_backends!(list_blocks_bad_input_is_422, |app: TestApp| async move {
    let (status, body) = app.get("/v1/blocks/?limit=many").await;
    assert_422(status, &body, &[json!("query"), json!("limit")]);
    let (status, body) = app.get("/v1/blocks/?limit=-1").await;
    assert_422(status, &body, &[json!("query"), json!("limit")]);
    let (status, body) = app.get("/v1/blocks/?templates_only=perhaps").await;
    assert_422(status, &body, &[json!("query"), json!("templates_only")]);
});

both_backends!(
    count_blocks_includes_templates_and_is_per_org,
    |app: TestApp| async move {
        assert_eq!(count(&app).await, 0);
        create_block(&app, json!({"label": "human", "value": "a"})).await;
        create_block(
            &app,
            json!({"label": "human", "value": "b", "is_template": true}),
        )
        .await;
        assert_eq!(count(&app).await, 2);
        let other = app.other_org_user().await;
        let (status, body) = app
            .request_as(&other, Method::GET, "/v1/blocks/count", None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!(0));
    }
);

both_backends!(
    modify_block_writes_only_given_fields,
    |app: TestApp| async move {
        let block = create_block(
        &app,
        json!({"label": "human", "value": "old", "description": "d", "metadata": {"a": 1}, "name": "n"}),
    )
    .await;
        let id = id_of(&block);
        let path = format!("/v1/blocks/{id}");

        let (status, updated) = app
            .patch(
                &path,
                &json!({"value": "new", "description": null, "metadata": null}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        let mut expected = block.clone();
        expected["value"] = json!("new");
        assert_eq!(updated, expected, "null fields are left alone");
        assert_eq!(app.get(&path).await.1, expected);

        let (status, updated) = app
        .patch(
            &path,
            &json!({"label": "person", "limit": 10, "template_name": "renamed", "is_template": true,
                    "read_only": true, "preserve_on_migration": true, "description": "e", "metadata": {"b": 2}}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!(updated["label"], "person");
        assert_eq!(updated["limit"], 10);
        assert_eq!(updated["name"], "renamed");
        assert_eq!(updated["is_template"], true);
        assert_eq!(updated["read_only"], true);
        assert_eq!(updated["preserve_on_migration"], true);
        assert_eq!(updated["description"], "e");
        assert_eq!(updated["metadata"], json!({"b": 2}));
        assert_eq!(updated["value"], "new");
        assert_eq!(app.get(&path).await.1, updated);

        // The last writer is recorded.
        let (status, user) = app
            .post(
                "/v1/admin/users/",
                &json!({"name": "second", "organization_id": app.org_id}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{user}");
        let other_user = id_of(&user);
        let (status, updated) = app
            .request_as(
                &other_user,
                Method::PATCH,
                &path,
                Some(&json!({"value": "third"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!(updated["created_by_id"], app.user_id.as_str());
        assert_eq!(updated["last_updated_by_id"], other_user.as_str());
    }
);

both_backends!(modify_block_limits, |app: TestApp| async move {
    let block = create_block(
        &app,
        json!({"label": "human", "value": "12345", "limit": 5}),
    )
    .await;
    let id = id_of(&block);
    let path = format!("/v1/blocks/{id}");

    // A value over the stored limit: 400, nothing written.
    let (status, body) = app.patch(&path, &json!({"value": "123456"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["detail"],
        format!(
            "Value length (6) exceeds the limit (5) for block with label 'human' and id '{id}'."
        )
    );
    // A limit below the stored value: 400 with the new limit and label.
    let (status, body) = app
        .patch(&path, &json!({"limit": 4, "label": "renamed"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["detail"],
        format!(
            "Value length (5) exceeds the limit (4) for block with label 'renamed' and id '{id}'."
        )
    );
    // Value and limit in one body that disagree: 422.
    let (status, body) = app
        .patch(&path, &json!({"value": "1234567", "limit": 6}))
        .await;
    assert_422(status, &body, &[json!("body")]);
    let msg = body["detail"][0]["msg"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with("Value error, Edit failed: Exceeds 6 character limit (requested 7) - "),
        "{msg}"
    );
    assert_eq!(app.get(&path).await.1, block, "nothing was written");

    // Raising the limit with a longer value works; characters, not bytes, are counted.
    let (status, body) = app
        .patch(&path, &json!({"value": "ü".repeat(6), "limit": 6}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["value"], "ü".repeat(6));
});

both_backends!(
    modify_block_not_found_bad_input_and_isolation,
    |app: TestApp| async move {
        let (status, body) = app
            .patch("/v1/blocks/block-missing", &json!({"value": "x"}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Block not found"),
            "{body}"
        );

        let block = create_block(&app, json!({"label": "human", "value": "v"})).await;
        let path = format!("/v1/blocks/{}", id_of(&block));
        let (status, body) = app.patch(&path, &json!({"limit": "ten"})).await;
        assert_422(status, &body, &[json!("body"), json!("limit")]);
        let (status, body) = app.patch(&path, &json!({"read_only": "maybe"})).await;
        assert_422(status, &body, &[json!("body"), json!("read_only")]);
        let (status, body) = app.send_raw(Method::PATCH, &path, "").await;
        assert_422(status, &body, &[json!("body")]);
        assert_eq!(app.get(&path).await.1, block);

        let other = app.other_org_user().await;
        let (status, _) = app
            .request_as(
                &other,
                Method::PATCH,
                &path,
                Some(&json!({"value": "stolen"})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(app.get(&path).await.1, block);
    }
);

both_backends!(delete_block_returns_it, |app: TestApp| async move {
    let block = create_block(&app, json!({"label": "human", "value": "bye"})).await;
    let path = format!("/v1/blocks/{}", id_of(&block));
    let agent = insert_agent(&app.store, &app.org_id, "holder", &[], &[id_of(&block)]).await;

    let other = app.other_org_user().await;
    let (status, _) = app.request_as(&other, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&path).await.0,
        StatusCode::OK,
        "another organization cannot delete it"
    );

    let (status, body) = app.delete(&path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, block);
    assert_eq!(app.get(&path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(count(&app).await, 0);
    // Detached from the agent, which stays.
    let relations = app
        .store
        .load_relations(
            std::slice::from_ref(&agent),
            letta_rs::store::RelationSet::ALL,
        )
        .await
        .expect("relations");
    assert!(
        relations
            .get(&agent)
            .map(|r| r.blocks.is_empty())
            .unwrap_or(true)
    );
    assert_eq!(
        app.store
            .existing_agent_ids(&app.org_id, std::slice::from_ref(&agent))
            .await
            .expect("ids"),
        vec![agent]
    );

    let (status, body) = app.delete(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Block not found"),
        "{body}"
    );
});

both_backends!(list_agents_for_block, |app: TestApp| async move {
    let block = id_of(&create_block(&app, json!({"label": "human", "value": "shared"})).await);
    let lonely = id_of(&create_block(&app, json!({"label": "human", "value": "alone"})).await);
    let first = insert_agent(
        &app.store,
        &app.org_id,
        "first",
        &["t1"],
        std::slice::from_ref(&block),
    )
    .await;
    let second = insert_agent(
        &app.store,
        &app.org_id,
        "second",
        &["t2"],
        std::slice::from_ref(&block),
    )
    .await;
    insert_agent(&app.store, &app.org_id, "third", &[], &[]).await;

    let (status, agents) = app.get(&format!("/v1/blocks/{block}/agents")).await;
    assert_eq!(status, StatusCode::OK, "{agents}");
    assert_eq!(ids(&agents), vec![first.clone(), second.clone()]);
    assert_eq!(agents[0]["name"], "first");
    assert_eq!(agents[0]["tags"], json!(["t1"]));
    assert_eq!(agents[0]["memory"]["blocks"][0]["id"], block.as_str());

    // Only the relationships asked for are loaded.
    let (status, agents) = app
        .get(&format!(
            "/v1/blocks/{block}/agents?include_relationships=tags"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{agents}");
    assert_eq!(agents[1]["tags"], json!(["t2"]));
    assert_eq!(agents[1]["memory"]["blocks"], json!([]));

    let (status, agents) = app.get(&format!("/v1/blocks/{lonely}/agents")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(agents, json!([]));

    let (status, body) = app.get("/v1/blocks/block-missing/agents").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"detail": "Block with id=block-missing not found"})
    );

    let other = app.other_org_user().await;
    let (status, _) = app
        .request_as(
            &other,
            Method::GET,
            &format!("/v1/blocks/{block}/agents"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
});
