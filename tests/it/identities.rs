//! `/v1/identities`: create, upsert, read, list, count, update, properties, delete.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::blocks::{create_block, insert_agent};
use crate::both_backends;
use crate::helpers::{TestApp, assert_422};

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().expect("list").iter().map(id_of).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("list")
        .iter()
        .map(|s| s.as_str().expect("string").to_owned())
        .collect()
}

async fn create(app: &TestApp, body: Value) -> Value {
    let (status, identity) = app.post("/v1/identities/", &body).await;
    assert_eq!(status, StatusCode::OK, "{identity}");
    identity
}

async fn count(app: &TestApp) -> i64 {
    let (status, body) = app.get("/v1/identities/count").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_i64().expect("count")
}

fn ada() -> Value {
    json!({"identifier_key": "ada", "name": "Ada Lovelace", "identity_type": "user"})
}

both_backends!(create_and_retrieve_identity, |app: TestApp| async move {
    let block = id_of(&create_block(&app, json!({"label": "human", "value": "v"})).await);
    let agent = insert_agent(&app.store, &app.org_id, "a", &[], &[]).await;
    let body = json!({
        "identifier_key": "ada", "name": "Ada", "identity_type": "user", "project_id": "proj-1",
        "agent_ids": [agent, agent], "block_ids": [block],
        "properties": [
            {"key": "email", "value": "ada@example.com", "type": "string"},
            {"key": "age", "value": 36, "type": "number"},
            {"key": "admin", "value": true, "type": "boolean"},
            {"key": "prefs", "value": {"tea": "green"}, "type": "json"},
        ],
    });
    // The X-Project header is accepted and ignored.
    let resp = app
        .client
        .post(app.url("/v1/identities/"))
        .header("user_id", &app.user_id)
        .header("X-Project", "some-project")
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    let identity: Value = resp.json().await.expect("json");
    let id = id_of(&identity);
    assert!(id.starts_with("identity-"), "{id}");
    assert_eq!(
        identity,
        json!({
            "id": id, "identifier_key": "ada", "name": "Ada", "identity_type": "user",
            "project_id": "proj-1", "agent_ids": [agent], "block_ids": [block],
            "organization_id": app.org_id, "properties": body["properties"],
        })
    );
    let (status, got) = app.get(&format!("/v1/identities/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, identity);

    // Defaults: no project, no links, no properties.
    let bare = create(
        &app,
        json!({"identifier_key": "org-1", "name": "Org", "identity_type": "org"}),
    )
    .await;
    assert_eq!(bare["project_id"], Value::Null);
    assert_eq!(bare["agent_ids"], json!([]));
    assert_eq!(bare["block_ids"], json!([]));
    assert_eq!(bare["properties"], json!([]));
    assert_eq!(bare["identity_type"], "org");
});

both_backends!(
    create_identity_duplicate_key_is_409,
    |app: TestApp| async move {
        create(&app, ada()).await;
        let (status, body) = app.post("/v1/identities/", &ada()).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(
            body,
            json!({"detail": "An identity with identifier key ada already exists"})
        );

        let mut in_project = ada();
        in_project["project_id"] = json!("p1");
        create(&app, in_project.clone()).await;
        let (status, body) = app.post("/v1/identities/", &in_project).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(
            body,
            json!({"detail": "An identity with identifier key ada already exists for project p1"})
        );
        assert_eq!(count(&app).await, 2);

        // The key is free in another organization.
        let other = app.other_org_user().await;
        let (status, body) = app
            .request_as(&other, Method::POST, "/v1/identities/", Some(&ada()))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
);

both_backends!(
    create_identity_unknown_links_is_404,
    |app: TestApp| async move {
        let (status, body) = app
            .post(
                "/v1/identities/",
                &json!({"identifier_key": "k", "name": "n", "identity_type": "user",
            "agent_ids": ["agent-nope", "agent-also-nope"]}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            body,
            json!({"detail": "Items not found in agents: {'agent-also-nope', 'agent-nope'}"})
        );

        let (status, body) = app
            .post(
                "/v1/identities/",
                &json!({"identifier_key": "k", "name": "n", "identity_type": "user",
            "block_ids": ["block-nope"]}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            body,
            json!({"detail": "Items not found in agents: {'block-nope'}"})
        );

        // Rows of another organization cannot be linked.
        let other = app.other_org_user().await;
        let (_, other_block) = app
            .request_as(
                &other,
                Method::POST,
                "/v1/blocks/",
                Some(&json!({"label": "human", "value": "x"})),
            )
            .await;
        let (status, _) = app
            .post(
                "/v1/identities/",
                &json!({"identifier_key": "k", "name": "n", "identity_type": "user",
            "block_ids": [id_of(&other_block)]}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(count(&app).await, 0, "nothing was written");
    }
);

both_backends!(
    create_identity_bad_input_is_422,
    |app: TestApp| async move {
        let mut extra = ada();
        extra["nickname"] = json!("A");
        let (status, body) = app.post("/v1/identities/", &extra).await;
        assert_422(status, &body, &[json!("body"), json!("nickname")]);
        assert_eq!(body["detail"][0]["type"], "extra_forbidden");
        assert_eq!(body["detail"][0]["input"], "A");

        let (status, body) = app
            .post(
                "/v1/identities/",
                &json!({"identifier_key": "k", "identity_type": "user"}),
            )
            .await;
        assert_422(status, &body, &[json!("body"), json!("name")]);

        let mut bad_type = ada();
        bad_type["identity_type"] = json!("robot");
        let (status, body) = app.post("/v1/identities/", &bad_type).await;
        assert_422(status, &body, &[json!("body"), json!("identity_type")]);

        let mut bad_prop = ada();
        bad_prop["properties"] = json!([{"key": "k", "value": 1, "type": "complex"}]);
        let (status, body) = app.post("/v1/identities/", &bad_prop).await;
        assert_422(
            status,
            &body,
            &[json!("body"), json!("properties"), json!(0), json!("type")],
        );

        bad_prop["properties"] = json!([{"key": "k", "value": [1, 2], "type": "json"}]);
        let (status, body) = app.post("/v1/identities/", &bad_prop).await;
        assert_422(
            status,
            &body,
            &[json!("body"), json!("properties"), json!(0), json!("value")],
        );

        bad_prop["properties"] = json!([{"key": "k", "value": "v", "type": "string", "extra": 1}]);
        let (status, body) = app.post("/v1/identities/", &bad_prop).await;
        assert_422(
            status,
            &body,
            &[json!("body"), json!("properties"), json!(0), json!("extra")],
        );

        assert_eq!(count(&app).await, 0, "nothing was written");
    }
);

both_backends!(
    retrieve_identity_not_found_and_isolated,
    |app: TestApp| async move {
        let (status, body) = app.get("/v1/identities/identity-missing").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Identity not found"),
            "{body}"
        );

        let id = id_of(&create(&app, ada()).await);
        let other = app.other_org_user().await;
        let (status, _) = app
            .request_as(&other, Method::GET, &format!("/v1/identities/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
);

both_backends!(
    list_identities_filters_and_pages,
    |app: TestApp| async move {
        let ada = create(&app, json!({"identifier_key": "ada", "name": "Ada Lovelace", "identity_type": "user", "project_id": "p1"})).await;
        let acme = create(
            &app,
            json!({"identifier_key": "acme", "name": "ACME Corp", "identity_type": "org"}),
        )
        .await;
        let bob = create(&app, json!({"identifier_key": "bob", "name": "Bob", "identity_type": "user", "project_id": "p1"})).await;
        let all = vec![id_of(&ada), id_of(&acme), id_of(&bob)];

        let (status, list) = app.get("/v1/identities/").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ids(&list), all);
        assert_eq!(list[0], ada);
        assert_eq!(ids(&app.get("/v1/identities").await.1), all);

        assert_eq!(
            ids(&app.get("/v1/identities/?name=LOVE").await.1),
            vec![id_of(&ada)]
        );
        assert_eq!(
            ids(&app.get("/v1/identities/?project_id=p1").await.1),
            vec![id_of(&ada), id_of(&bob)]
        );
        assert_eq!(
            ids(&app.get("/v1/identities/?identifier_key=acme").await.1),
            vec![id_of(&acme)]
        );
        assert_eq!(
            ids(&app.get("/v1/identities/?identity_type=user").await.1),
            vec![id_of(&ada), id_of(&bob)]
        );
        assert_eq!(
            ids(&app.get("/v1/identities/?limit=2").await.1),
            all[..2].to_vec()
        );
        assert_eq!(
            ids(&app
                .get(&format!("/v1/identities/?after={}", all[0]))
                .await
                .1),
            all[1..].to_vec()
        );
        assert_eq!(
            ids(&app
                .get(&format!("/v1/identities/?before={}", all[2]))
                .await
                .1),
            all[..2].to_vec()
        );
        assert_eq!(app.get("/v1/identities/?name=nobody").await.1, json!([]));

        let other = app.other_org_user().await;
        let (status, list) = app
            .request_as(&other, Method::GET, "/v1/identities/", None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list, json!([]));
        let (_, n) = app
            .request_as(&other, Method::GET, "/v1/identities/count", None)
            .await;
        assert_eq!(n, json!(0));
        assert_eq!(count(&app).await, 3);
    }
);

both_backends!(
    list_identities_bad_input_is_422,
    |app: TestApp| async move {
        let (status, body) = app.get("/v1/identities/?identity_type=robot").await;
        assert_422(status, &body, &[json!("query"), json!("identity_type")]);
        let (status, body) = app.get("/v1/identities/?limit=lots").await;
        assert_422(status, &body, &[json!("query"), json!("limit")]);
        let (status, body) = app.get("/v1/identities/?limit=-5").await;
        assert_422(status, &body, &[json!("query"), json!("limit")]);
    }
);

both_backends!(
    update_identity_extends_links_and_merges_properties,
    |app: TestApp| async move {
        let a1 = insert_agent(&app.store, &app.org_id, "a1", &[], &[]).await;
        let a2 = insert_agent(&app.store, &app.org_id, "a2", &[], &[]).await;
        let b1 = id_of(&create_block(&app, json!({"label": "human", "value": "1"})).await);
        let b2 = id_of(&create_block(&app, json!({"label": "human", "value": "2"})).await);
        let identity = create(
        &app,
        json!({"identifier_key": "ada", "name": "Ada", "identity_type": "user", "agent_ids": [a1], "block_ids": [b1],
               "properties": [{"key": "email", "value": "a@x", "type": "string"},
                              {"key": "age", "value": 36, "type": "number"}]}),
    )
    .await;
        let path = format!("/v1/identities/{}", id_of(&identity));

        let (status, updated) = app
            .patch(
                &path,
                &json!({"name": "Ada L.", "identity_type": "other", "identifier_key": "ada2",
                    "agent_ids": [a2], "block_ids": [b2],
                    "properties": [{"key": "age", "value": 37, "type": "number"},
                                   {"key": "city", "value": "London", "type": "string"}]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!(updated["name"], "Ada L.");
        assert_eq!(updated["identity_type"], "other");
        assert_eq!(updated["identifier_key"], "ada2");
        assert_eq!(
            sorted(strings(&updated["agent_ids"])),
            sorted(vec![a1.clone(), a2.clone()])
        );
        assert_eq!(
            sorted(strings(&updated["block_ids"])),
            sorted(vec![b1.clone(), b2.clone()])
        );
        assert_eq!(
            updated["properties"],
            json!([{"key": "email", "value": "a@x", "type": "string"},
               {"key": "age", "value": 37, "type": "number"},
               {"key": "city", "value": "London", "type": "string"}])
        );
        assert_eq!(app.get(&path).await.1, updated);

        // An empty body changes nothing.
        let (status, same) = app.patch(&path, &json!({})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(same, updated);
    }
);

both_backends!(update_identity_errors, |app: TestApp| async move {
    let identity = create(&app, ada()).await;
    create(
        &app,
        json!({"identifier_key": "taken", "name": "T", "identity_type": "user"}),
    )
    .await;
    let path = format!("/v1/identities/{}", id_of(&identity));

    let (status, body) = app
        .patch("/v1/identities/identity-missing", &json!({"name": "x"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (status, body) = app.patch(&path, &json!({"identifier_key": "taken"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body,
        json!({"detail": "An identity with identifier key taken already exists"})
    );

    let (status, body) = app
        .patch(&path, &json!({"name": "x", "agent_ids": ["agent-nope"]}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"detail": "Items not found in agents: {'agent-nope'}"})
    );

    // `project_id` cannot be changed: an unknown field.
    let (status, body) = app.patch(&path, &json!({"project_id": "p"})).await;
    assert_422(status, &body, &[json!("body"), json!("project_id")]);
    let (status, body) = app.patch(&path, &json!({"identity_type": "robot"})).await;
    assert_422(status, &body, &[json!("body"), json!("identity_type")]);
    let (status, body) = app.patch(&path, &json!({"name": 5})).await;
    assert_422(status, &body, &[json!("body"), json!("name")]);
    assert_eq!(app.get(&path).await.1, identity, "nothing was written");

    let other = app.other_org_user().await;
    let (status, _) = app
        .request_as(
            &other,
            Method::PATCH,
            &path,
            Some(&json!({"name": "stolen"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&path).await.1, identity);
});

both_backends!(
    upsert_identity_creates_then_replaces,
    |app: TestApp| async move {
        let a1 = insert_agent(&app.store, &app.org_id, "a1", &[], &[]).await;
        let a2 = insert_agent(&app.store, &app.org_id, "a2", &[], &[]).await;
        let b1 = id_of(&create_block(&app, json!({"label": "human", "value": "1"})).await);
        let body = json!({"identifier_key": "ada", "name": "Ada", "identity_type": "user", "project_id": "p",
                      "agent_ids": [a1], "block_ids": [b1],
                      "properties": [{"key": "k", "value": "v", "type": "string"}]});
        let (status, created) = app.put("/v1/identities/", &body).await;
        assert_eq!(status, StatusCode::OK, "{created}");
        assert_eq!(created["agent_ids"], json!([a1]));
        assert_eq!(created["block_ids"], json!([b1]));
        assert_eq!(count(&app).await, 1);

        let (status, replaced) = app
        .put(
            "/v1/identities/",
            &json!({"identifier_key": "ada", "name": "Ada II", "identity_type": "other", "project_id": "p",
                    "agent_ids": [a2], "block_ids": [],
                    "properties": [{"key": "n", "value": 1, "type": "number"}]}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{replaced}");
        assert_eq!(replaced["id"], created["id"]);
        assert_eq!(replaced["name"], "Ada II");
        assert_eq!(replaced["identity_type"], "other");
        assert_eq!(
            replaced["agent_ids"],
            json!([a2]),
            "agent links are replaced"
        );
        assert_eq!(replaced["block_ids"], json!([b1]), "block links are kept");
        assert_eq!(
            replaced["properties"],
            json!([{"key": "n", "value": 1, "type": "number"}])
        );
        assert_eq!(
            app.get(&format!("/v1/identities/{}", id_of(&created)))
                .await
                .1,
            replaced
        );
        assert_eq!(count(&app).await, 1);

        // Without links or properties, those are left alone.
        let (status, kept) = app
        .put("/v1/identities/", &json!({"identifier_key": "ada", "name": "Ada III", "identity_type": "user", "project_id": "p"}))
        .await;
        assert_eq!(status, StatusCode::OK, "{kept}");
        assert_eq!(kept["agent_ids"], json!([a2]));
        assert_eq!(kept["properties"], replaced["properties"]);

        // Same key without the project is another identity.
        let (status, other_project) = app.put("/v1/identities/", &ada()).await;
        assert_eq!(status, StatusCode::OK);
        assert_ne!(other_project["id"], created["id"]);
        assert_eq!(count(&app).await, 2);
    }
);

both_backends!(
    upsert_identity_errors_and_isolation,
    |app: TestApp| async move {
        let (status, body) = app
            .put(
                "/v1/identities/",
                &json!({"identifier_key": "k", "name": "n"}),
            )
            .await;
        assert_422(status, &body, &[json!("body"), json!("identity_type")]);
        let mut extra = ada();
        extra["surprise"] = json!(true);
        let (status, body) = app.put("/v1/identities/", &extra).await;
        assert_422(status, &body, &[json!("body"), json!("surprise")]);
        let mut unknown = ada();
        unknown["agent_ids"] = json!(["agent-nope"]);
        let (status, body) = app.put("/v1/identities/", &unknown).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(count(&app).await, 0, "nothing was written");

        // Upserting the same key from another organization does not touch ours.
        let mine = create(&app, ada()).await;
        let other = app.other_org_user().await;
        let mut theirs = ada();
        theirs["name"] = json!("Impostor");
        let (status, body) = app
            .request_as(&other, Method::PUT, "/v1/identities/", Some(&theirs))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_ne!(body["id"], mine["id"]);
        assert_eq!(
            app.get(&format!("/v1/identities/{}", id_of(&mine))).await.1,
            mine
        );
    }
);

both_backends!(
    upsert_identity_properties_replaces_all,
    |app: TestApp| async move {
        let mut body = ada();
        body["properties"] = json!([{"key": "a", "value": 1, "type": "number"}]);
        let identity = create(&app, body).await;
        let path = format!("/v1/identities/{}/properties", id_of(&identity));

        let props = json!([{"key": "b", "value": "x", "type": "string"}, {"key": "c", "value": {"d": 1}, "type": "json"}]);
        let (status, updated) = app.put(&path, &props).await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!(updated["properties"], props);
        assert_eq!(
            app.get(&format!("/v1/identities/{}", id_of(&identity)))
                .await
                .1["properties"],
            props
        );

        let (status, updated) = app.put(&path, &json!([])).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(updated["properties"], json!([]));

        let (status, _) = app
            .put("/v1/identities/identity-missing/properties", &json!([]))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let (status, body) = app.put(&path, &json!({"key": "a"})).await;
        assert_422(status, &body, &[json!("body")]);
        let (status, body) = app.put(&path, &json!([{"key": "a", "value": 1}])).await;
        assert_422(status, &body, &[json!("body"), json!(0), json!("type")]);
        let (status, body) = app
            .put(
                &path,
                &json!([{"key": "a", "value": null, "type": "string"}]),
            )
            .await;
        assert_422(status, &body, &[json!("body"), json!(0), json!("value")]);

        let other = app.other_org_user().await;
        let (status, _) = app
            .request_as(&other, Method::PUT, &path, Some(&props))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            app.get(&format!("/v1/identities/{}", id_of(&identity)))
                .await
                .1["properties"],
            json!([])
        );
    }
);

both_backends!(
    delete_identity_keeps_agents_and_blocks,
    |app: TestApp| async move {
        let agent = insert_agent(&app.store, &app.org_id, "a", &[], &[]).await;
        let block = id_of(&create_block(&app, json!({"label": "human", "value": "v"})).await);
        let mut body = ada();
        body["agent_ids"] = json!([agent]);
        body["block_ids"] = json!([block]);
        let identity = create(&app, body).await;
        let path = format!("/v1/identities/{}", id_of(&identity));

        let other = app.other_org_user().await;
        let (status, _) = app.request_as(&other, Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(app.get(&path).await.0, StatusCode::OK);

        let resp = app
            .client
            .delete(app.url(&path))
            .header("user_id", &app.user_id)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.text().await.expect("body"), "null");
        assert_eq!(app.get(&path).await.0, StatusCode::NOT_FOUND);
        assert_eq!(count(&app).await, 0);
        assert_eq!(
            app.get(&format!("/v1/blocks/{block}")).await.0,
            StatusCode::OK
        );
        assert_eq!(
            app.store
                .existing_agent_ids(&app.org_id, std::slice::from_ref(&agent))
                .await
                .expect("ids"),
            vec![agent]
        );
        assert_eq!(
            app.get(&format!("/v1/blocks/?identity_id={}", id_of(&identity)))
                .await
                .1,
            json!([])
        );

        let (status, body) = app.delete(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
);
