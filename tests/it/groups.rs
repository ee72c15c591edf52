//! `/v1/groups` storage and CRUD: create (every manager type), list/count/retrieve,
//! modify, delete, agent → groups, shared blocks, `multi_agent_group`, group messages
//! listing/modify/reset, and the bad inputs that must change nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::blocks::{create_block, insert_agent};
use crate::both_backends;
use crate::helpers::TestApp;

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().expect("list").iter().map(id_of).collect()
}

async fn count(app: &TestApp) -> i64 {
    let (status, body) = app.get("/v1/groups/count").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_i64().expect("count")
}

pub async fn create_group(app: &TestApp, body: Value) -> Value {
    let (status, group) = app.post("/v1/groups/", &body).await;
    assert_eq!(status, StatusCode::OK, "{group}");
    group
}

async fn agents(app: &TestApp, names: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for name in names {
        out.push(insert_agent(&app.store, &app.org_id, name, &[], &[]).await);
    }
    out
}

/// A 4xx with a `detail`, and the group count unchanged.
async fn refused(app: &TestApp, method: Method, path: &str, body: Value, want: StatusCode) {
    let before = count(app).await;
    let (status, answer) = app.request(method, path, Some(&body)).await;
    assert_eq!(status, want, "{path} {body} -> {answer}");
    assert!(answer.get("detail").is_some(), "{answer}");
    assert_eq!(count(app).await, before, "nothing is written");
}

both_backends!(
    create_round_robin_group_as_the_original,
    |app: TestApp| async move {
        let a = agents(&app, &["alice", "bob"]).await;
        let group = create_group(
            &app,
            json!({"agent_ids": [a[1], a[0]], "description": "two echo agents",
               "manager_config": {"manager_type": "round_robin"}}),
        )
        .await;
        let id = id_of(&group);
        assert!(id.starts_with("group-"), "{id}");
        assert_eq!(
            group,
            json!({
                "id": id, "manager_type": "round_robin", "agent_ids": [a[1], a[0]],
                "description": "two echo agents", "shared_block_ids": [], "manager_agent_id": null,
                "termination_token": null, "max_turns": null, "sleeptime_agent_frequency": null,
                "turns_counter": null, "last_processed_message_id": null,
                "max_message_buffer_length": null, "min_message_buffer_length": null,
            })
        );
        // Default manager config; the collection route without its slash.
        let (status, plain) = app
            .post(
                "/v1/groups",
                &json!({"agent_ids": [a[0]], "description": "d"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{plain}");
        assert_eq!(plain["manager_type"], "round_robin");
        let (status, got) = app.get(&format!("/v1/groups/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(got, group);
        assert_eq!(count(&app).await, 2);
    }
);

both_backends!(create_every_manager_type, |app: TestApp| async move {
    let a = agents(&app, &["m1", "m2", "m3", "m4", "w1", "w2"]).await;
    let sup = create_group(
        &app,
        json!({"agent_ids": [a[4], a[5]], "description": "sup",
               "manager_config": {"manager_type": "supervisor", "manager_agent_id": a[0]}}),
    )
    .await;
    assert_eq!(sup["manager_agent_id"], a[0].as_str());
    let dynamic = create_group(
        &app,
        json!({"agent_ids": [a[4], a[5]], "description": "dyn",
               "manager_config": {"manager_type": "dynamic", "manager_agent_id": a[1], "max_turns": 4}}),
    )
    .await;
    assert_eq!(dynamic["termination_token"], "DONE!");
    assert_eq!(dynamic["max_turns"], 4);
    let sleep = create_group(
        &app,
        json!({"agent_ids": [a[4]], "description": "",
               "manager_config": {"manager_type": "sleeptime", "manager_agent_id": a[2], "sleeptime_agent_frequency": 5}}),
    )
    .await;
    assert_eq!(sleep["sleeptime_agent_frequency"], 5);
    assert_eq!(sleep["turns_counter"], -1);
    let voice = create_group(
        &app,
        json!({"agent_ids": [a[5]], "description": "voice",
               "manager_config": {"manager_type": "voice_sleeptime", "manager_agent_id": a[3],
                                  "max_message_buffer_length": 30, "min_message_buffer_length": 15}}),
    )
    .await;
    assert_eq!(voice["max_message_buffer_length"], 30);
    assert_eq!(voice["min_message_buffer_length"], 15);

    // Filters and cursors.
    let (_, all) = app.get("/v1/groups/").await;
    assert_eq!(
        ids(&all),
        vec![id_of(&sup), id_of(&dynamic), id_of(&sleep), id_of(&voice)]
    );
    let (_, only) = app.get("/v1/groups/?manager_type=dynamic").await;
    assert_eq!(ids(&only), vec![id_of(&dynamic)]);
    let (_, page) = app
        .get(&format!("/v1/groups/?after={}&limit=2", id_of(&sup)))
        .await;
    assert_eq!(ids(&page), vec![id_of(&dynamic), id_of(&sleep)]);
    let (_, page) = app
        .get(&format!("/v1/groups/?before={}", id_of(&sleep)))
        .await;
    assert_eq!(ids(&page), vec![id_of(&sup), id_of(&dynamic)]);
    let (status, _) = app
        .get("/v1/groups/?after=group-00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app.get("/v1/groups/?project_id=p").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = app.get("/v1/groups/?manager_type=nope").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The manager's state shows the group it manages; participants list their groups.
    let (_, manager) = app.get(&format!("/v1/agents/{}", a[0])).await;
    assert_eq!(manager["multi_agent_group"], sup);
    let (_, worker) = app.get(&format!("/v1/agents/{}", a[4])).await;
    assert_eq!(worker["multi_agent_group"], Value::Null);
    let (status, groups) = app.get(&format!("/v1/agents/{}/groups", a[4])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        ids(&groups),
        vec![id_of(&sup), id_of(&dynamic), id_of(&sleep)]
    );
    let (_, groups) = app
        .get(&format!(
            "/v1/agents/{}/groups?manager_type=sleeptime",
            a[4]
        ))
        .await;
    assert_eq!(ids(&groups), vec![id_of(&sleep)]);
    let (_, groups) = app.get(&format!("/v1/agents/{}/groups", a[0])).await;
    assert_eq!(groups, json!([]), "a manager is not a participant");
    let (status, _) = app
        .get("/v1/agents/agent-00000000-0000-4000-8000-000000000000/groups")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
});

both_backends!(
    shared_blocks_attach_to_members_and_manager,
    |app: TestApp| async move {
        let a = agents(&app, &["boss", "w1", "w2"]).await;
        let block = id_of(&create_block(&app, json!({"label": "team", "value": "notes"})).await);
        let group = create_group(
            &app,
            json!({"agent_ids": [a[1], a[2]], "description": "d", "shared_block_ids": [block],
               "manager_config": {"manager_type": "supervisor", "manager_agent_id": a[0]}}),
        )
        .await;
        assert_eq!(group["shared_block_ids"], json!([block]));
        for agent in &a {
            let (_, blocks) = app
                .get(&format!("/v1/agents/{agent}/core-memory/blocks"))
                .await;
            assert!(ids(&blocks).contains(&block), "{agent}: {blocks}");
        }
        // A block whose label another block of a member holds: refused, nothing written.
        let clash = id_of(&create_block(&app, json!({"label": "team", "value": "other"})).await);
        let before = count(&app).await;
        let (status, body) = app
            .post(
                "/v1/groups/",
                &json!({"agent_ids": [a[1]], "description": "d", "shared_block_ids": [clash]}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(count(&app).await, before);
        let (_, blocks) = app
            .get(&format!("/v1/agents/{}/core-memory/blocks", a[1]))
            .await;
        assert!(!ids(&blocks).contains(&clash));
        // Unknown blocks are refused.
        refused(
            &app,
            Method::POST,
            "/v1/groups/",
            json!({"agent_ids": [a[1]], "description": "d",
               "shared_block_ids": ["block-00000000-0000-4000-8000-000000000000"]}),
            StatusCode::NOT_FOUND,
        )
        .await;
        // Deleting the group keeps the agents' blocks.
        let (status, body) = app.delete(&format!("/v1/groups/{}", id_of(&group))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({"message": format!("Group id={} successfully deleted", id_of(&group))})
        );
        let (_, blocks) = app
            .get(&format!("/v1/agents/{}/core-memory/blocks", a[2]))
            .await;
        assert!(ids(&blocks).contains(&block));
        let (_, manager) = app.get(&format!("/v1/agents/{}", a[0])).await;
        assert_eq!(manager["multi_agent_group"], Value::Null);
    }
);

both_backends!(create_refuses_bad_input, |app: TestApp| async move {
    let a = agents(&app, &["x", "y", "x"]).await;
    let unknown = "agent-00000000-0000-4000-8000-000000000000";
    let post =
        |body: Value, want: StatusCode| refused(&app, Method::POST, "/v1/groups/", body, want);
    post(
        json!({"agent_ids": [a[0], unknown], "description": "d"}),
        StatusCode::NOT_FOUND,
    )
    .await;
    post(
        json!({"agent_ids": [a[0], a[0]], "description": "d"}),
        StatusCode::BAD_REQUEST,
    )
    .await;
    post(
        json!({"agent_ids": [a[0], a[2]], "description": "d",
               "manager_config": {"manager_type": "dynamic", "manager_agent_id": a[1]}}),
        StatusCode::BAD_REQUEST,
    )
    .await;
    // Missing manager for the types that need one; missing discriminator; swarm.
    for kind in ["supervisor", "dynamic", "sleeptime", "voice_sleeptime"] {
        post(
            json!({"agent_ids": [a[0]], "description": "d", "manager_config": {"manager_type": kind}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    post(
        json!({"agent_ids": [a[0]], "description": "d", "manager_config": {"max_turns": 2}}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    post(
        json!({"agent_ids": [a[0]], "description": "d", "manager_config": {"manager_type": "swarm"}}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    post(
        json!({"description": "d"}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    // Unknown manager, a manager that is also a participant, a wrong kind of id.
    post(
        json!({"agent_ids": [a[0]], "description": "d",
               "manager_config": {"manager_type": "supervisor", "manager_agent_id": unknown}}),
        StatusCode::NOT_FOUND,
    )
    .await;
    post(
        json!({"agent_ids": [a[0]], "description": "d",
               "manager_config": {"manager_type": "supervisor", "manager_agent_id": a[0]}}),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let block = id_of(&create_block(&app, json!({"label": "b", "value": "v"})).await);
    post(
        json!({"agent_ids": [block], "description": "d"}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    // Settings out of range.
    post(
        json!({"agent_ids": [a[0]], "description": "d",
               "manager_config": {"manager_type": "round_robin", "max_turns": 0}}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    for (max, min) in [
        (json!(30), json!(null)),
        (json!(4), json!(3)),
        (json!(10), json!(12)),
    ] {
        post(
            json!({"agent_ids": [a[0]], "description": "d",
                   "manager_config": {"manager_type": "voice_sleeptime", "manager_agent_id": a[1],
                                      "max_message_buffer_length": max, "min_message_buffer_length": min}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    // Another organization's agents do not exist here.
    let stranger = app.other_org_user().await;
    let (status, body) = app
        .request_as(
            &stranger,
            Method::POST,
            "/v1/groups/",
            Some(&json!({"agent_ids": [a[0]], "description": "d"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // An agent manages one group at most.
    create_group(
        &app,
        json!({"agent_ids": [a[0]], "description": "d",
               "manager_config": {"manager_type": "supervisor", "manager_agent_id": a[1]}}),
    )
    .await;
    post(
        json!({"agent_ids": [a[2]], "description": "d",
               "manager_config": {"manager_type": "supervisor", "manager_agent_id": a[1]}}),
        StatusCode::CONFLICT,
    )
    .await;
});

both_backends!(
    modify_group_applies_given_values,
    |app: TestApp| async move {
        let a = agents(&app, &["boss", "w1", "w2", "w3"]).await;
        let group = create_group(
            &app,
            json!({"agent_ids": [a[1], a[2]], "description": "first",
               "manager_config": {"manager_type": "dynamic", "manager_agent_id": a[0]}}),
        )
        .await;
        let path = format!("/v1/groups/{}", id_of(&group));
        let (status, changed) = app
        .patch(
            &path,
            &json!({"description": "second", "agent_ids": [a[3], a[1]], "shared_block_ids": ["ignored"],
                    "manager_config": {"manager_type": "dynamic", "max_turns": 7, "termination_token": ""}}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{changed}");
        assert_eq!(changed["description"], "second");
        assert_eq!(changed["agent_ids"], json!([a[3], a[1]]));
        assert_eq!(changed["max_turns"], 7);
        assert_eq!(
            changed["termination_token"], "DONE!",
            "empty values are ignored"
        );
        // Empty values change nothing.
        let (status, same) = app
            .patch(&path, &json!({"description": "", "agent_ids": []}))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(same, changed);
        let (_, got) = app.get(&path).await;
        assert_eq!(got, changed);

        // Refused, nothing changes.
        for (body, want) in [
            (
                json!({"manager_config": {"manager_type": "round_robin"}}),
                StatusCode::BAD_REQUEST,
            ),
            (json!({"agent_ids": [a[1], a[1]]}), StatusCode::BAD_REQUEST),
            (json!({"agent_ids": [a[0]]}), StatusCode::BAD_REQUEST),
            (
                json!({"agent_ids": ["agent-00000000-0000-4000-8000-000000000000"]}),
                StatusCode::NOT_FOUND,
            ),
            (
                json!({"manager_config": {"manager_type": "dynamic", "max_turns": -1}}),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
        ] {
            let (status, body) = app.patch(&path, &body).await;
            assert_eq!(status, want, "{body}");
            let (_, got) = app.get(&path).await;
            assert_eq!(got, changed);
        }
        let (status, _) = app
            .patch(
                "/v1/groups/group-00000000-0000-4000-8000-000000000000",
                &json!({"description": "x"}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
);

both_backends!(
    group_routes_answer_404_and_wrong_kind,
    |app: TestApp| async move {
        let missing = "group-00000000-0000-4000-8000-000000000000";
        for (method, path) in [
            (Method::GET, format!("/v1/groups/{missing}")),
            (Method::DELETE, format!("/v1/groups/{missing}")),
            (Method::GET, format!("/v1/groups/{missing}/messages")),
            (
                Method::PATCH,
                format!("/v1/groups/{missing}/reset-messages"),
            ),
        ] {
            let (status, body) = app.request(method, &path, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
            assert!(body["detail"].is_string(), "{body}");
        }
        let a = agents(&app, &["a"]).await;
        let (status, body) = app.get(&format!("/v1/groups/{}", a[0])).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        // Another organization does not see the group.
        let group = create_group(&app, json!({"agent_ids": [a[0]], "description": "d"})).await;
        let stranger = app.other_org_user().await;
        let (status, _) = app
            .request_as(
                &stranger,
                Method::GET,
                &format!("/v1/groups/{}", id_of(&group)),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = app
            .request_as(
                &stranger,
                Method::DELETE,
                &format!("/v1/groups/{}", id_of(&group)),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(count(&app).await, 1);
    }
);
