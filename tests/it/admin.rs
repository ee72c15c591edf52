//! `/v1/admin`: organizations and users. These routes act on the whole server, so list
//! assertions page from rows the test created itself (other tests add rows concurrently).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, assert_422};

const DEFAULT_ORG: &str = "org-00000000-0000-4000-8000-000000000000";
const DEFAULT_USER: &str = "user-00000000-0000-4000-8000-000000000000";

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().expect("list").iter().map(id_of).collect()
}

async fn create_org(app: &TestApp, body: Value) -> Value {
    let (status, org) = app.post("/v1/admin/orgs/", &body).await;
    assert_eq!(status, StatusCode::OK, "{org}");
    org
}

async fn create_user(app: &TestApp, name: &str, org_id: &str) -> Value {
    let (status, user) = app
        .post(
            "/v1/admin/users/",
            &json!({"name": name, "organization_id": org_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    user
}

both_backends!(create_and_list_orgs, |app: TestApp| async move {
    let first = create_org(&app, json!({"name": "Acme"})).await;
    assert!(id_of(&first).starts_with("org-"), "{first}");
    assert_eq!(first["name"], "Acme");
    assert_eq!(first["privileged_tools"], false);
    assert!(first["created_at"].is_string(), "{first}");

    let second = create_org(&app, json!({"privileged_tools": true})).await;
    let generated = second["name"].as_str().unwrap_or_default();
    assert!(
        !generated.is_empty() && generated.chars().all(char::is_alphanumeric),
        "{second}"
    );
    assert_eq!(second["privileged_tools"], true);
    let third = create_org(&app, json!({})).await;

    let (status, list) = app
        .get(&format!(
            "/v1/admin/orgs/?after={}&limit=1000",
            id_of(&first)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let listed = ids(&list);
    let (pos2, pos3) = (
        listed.iter().position(|i| *i == id_of(&second)),
        listed.iter().position(|i| *i == id_of(&third)),
    );
    assert!(
        matches!((pos2, pos3), (Some(a), Some(b)) if a < b),
        "{listed:?}"
    );
    assert!(!listed.contains(&id_of(&first)));
    assert!(list.as_array().expect("list").contains(&second));

    let (status, list) = app
        .get(&format!("/v1/admin/orgs/?after={}&limit=1", id_of(&first)))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let (status, list) = app.get("/v1/admin/orgs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list.as_array()
            .map(|l| !l.is_empty() && l.len() <= 50)
            .unwrap_or(false)
    );
});

both_backends!(create_org_bad_input_is_422, |app: TestApp| async move {
    let (status, body) = app
        .post("/v1/admin/orgs/", &json!({"name": "x", "plan": "gold"}))
        .await;
    assert_422(status, &body, &[json!("body"), json!("plan")]);
    let (status, body) = app.post("/v1/admin/orgs/", &json!({"name": 3})).await;
    assert_422(status, &body, &[json!("body"), json!("name")]);
    let (status, body) = app.get("/v1/admin/orgs/?limit=x").await;
    assert_422(status, &body, &[json!("query"), json!("limit")]);
    let (status, body) = app.get("/v1/admin/orgs/?limit=-2").await;
    assert_422(status, &body, &[json!("query"), json!("limit")]);
});

both_backends!(update_org, |app: TestApp| async move {
    let org = create_org(&app, json!({"name": "Before"})).await;
    let path = format!("/v1/admin/orgs/?org_id={}", id_of(&org));

    let (status, updated) = app.patch(&path, &json!({"name": "After"})).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], "After");
    assert_eq!(updated["privileged_tools"], false);
    assert_eq!(updated["id"], org["id"]);
    assert_eq!(updated["created_at"], org["created_at"]);

    let (status, updated) = app.patch(&path, &json!({"privileged_tools": true})).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], "After");
    assert_eq!(updated["privileged_tools"], true);
    let stored = app
        .store
        .get_org(&id_of(&org))
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (stored.name.as_str(), stored.privileged_tools),
        ("After", true)
    );

    let (status, body) = app
        .patch("/v1/admin/orgs/?org_id=org-missing", &json!({"name": "x"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app.patch("/v1/admin/orgs/", &json!({"name": "x"})).await;
    assert_422(status, &body, &[json!("query"), json!("org_id")]);
    let (status, body) = app.patch(&path, &json!({"name": "x", "owner": "me"})).await;
    assert_422(status, &body, &[json!("body"), json!("owner")]);
    let (status, body) = app.patch(&path, &json!({"privileged_tools": "yes"})).await;
    assert_422(status, &body, &[json!("body"), json!("privileged_tools")]);
    let stored = app
        .store
        .get_org(&id_of(&org))
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(stored.name, "After", "nothing was written");
});

both_backends!(delete_org_removes_what_it_owns, |app: TestApp| async move {
    let org = create_org(&app, json!({"name": "Doomed"})).await;
    let user = create_user(&app, "member", &id_of(&org)).await;
    let (status, block) = app
        .request_as(
            &id_of(&user),
            Method::POST,
            "/v1/blocks/",
            Some(&json!({"label": "human", "value": "v"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{block}");

    let path = format!("/v1/admin/orgs/?org_id={}", id_of(&org));
    let (status, deleted) = app.delete(&path).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted, org);
    assert!(
        app.store
            .get_org(&id_of(&org))
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        app.store
            .get_user(&id_of(&user))
            .await
            .expect("get")
            .is_none(),
        "its users are gone"
    );
    assert!(
        app.store
            .get_block(&id_of(&org), &id_of(&block))
            .await
            .expect("get")
            .is_none(),
        "its blocks are gone"
    );

    let (status, body) = app.delete(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app.delete("/v1/admin/orgs/").await;
    assert_422(status, &body, &[json!("query"), json!("org_id")]);

    let (status, body) = app
        .delete(&format!("/v1/admin/orgs/?org_id={DEFAULT_ORG}"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(app.store.get_org(DEFAULT_ORG).await.expect("get").is_some());
});

both_backends!(create_and_list_users, |app: TestApp| async move {
    let org = create_org(&app, json!({"name": "Team"})).await;
    let alice = create_user(&app, "alice", &id_of(&org)).await;
    assert!(id_of(&alice).starts_with("user-"), "{alice}");
    assert_eq!(alice["name"], "alice");
    assert_eq!(alice["organization_id"], org["id"]);
    assert_eq!(alice["is_deleted"], false);
    assert!(
        alice["created_at"].is_string() && alice["updated_at"].is_string(),
        "{alice}"
    );
    let bob = create_user(&app, "bob", &id_of(&org)).await;

    let (status, list) = app
        .get(&format!(
            "/v1/admin/users/?after={}&limit=1000",
            id_of(&alice)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert!(list.as_array().expect("list").contains(&bob));
    assert!(!ids(&list).contains(&id_of(&alice)));
    let (status, list) = app.get("/v1/admin/users?limit=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().map(Vec::len), Some(1));

    // The new user acts inside its own organization only.
    let (status, block) = app
        .request_as(
            &id_of(&bob),
            Method::POST,
            "/v1/blocks/",
            Some(&json!({"label": "human", "value": "v"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(block["organization_id"], org["id"]);
    let (status, _) = app.get(&format!("/v1/blocks/{}", id_of(&block))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
});

both_backends!(create_user_errors, |app: TestApp| async move {
    let marker = create_user(&app, "marker", &app.org_id).await;
    let (status, body) = app
        .post(
            "/v1/admin/users/",
            &json!({"name": "x", "organization_id": "org-missing"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app
        .post("/v1/admin/users/", &json!({"organization_id": app.org_id}))
        .await;
    assert_422(status, &body, &[json!("body"), json!("name")]);
    let (status, body) = app.post("/v1/admin/users/", &json!({"name": "x"})).await;
    assert_422(status, &body, &[json!("body"), json!("organization_id")]);
    let (status, body) = app
        .post(
            "/v1/admin/users/",
            &json!({"name": "x", "organization_id": app.org_id, "role": "admin"}),
        )
        .await;
    assert_422(status, &body, &[json!("body"), json!("role")]);
    let (status, body) = app.get("/v1/admin/users/?limit=x").await;
    assert_422(status, &body, &[json!("query"), json!("limit")]);

    let (_, list) = app
        .get(&format!(
            "/v1/admin/users/?after={}&limit=1000",
            id_of(&marker)
        ))
        .await;
    let names: Vec<&str> = list
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|u| u["name"].as_str())
        .collect();
    assert!(!names.contains(&"x"), "nothing was written: {names:?}");
});

both_backends!(update_user, |app: TestApp| async move {
    let user = create_user(&app, "before", &app.org_id).await;
    let other_org = create_org(&app, json!({"name": "Elsewhere"})).await;

    let (status, updated) = app
        .put(
            "/v1/admin/users/",
            &json!({"id": user["id"], "name": "after"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], "after");
    assert_eq!(updated["organization_id"], app.org_id.as_str());

    let (status, updated) = app
        .put(
            "/v1/admin/users/",
            &json!({"id": user["id"], "organization_id": other_org["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], "after");
    assert_eq!(updated["organization_id"], other_org["id"]);
    let stored = app
        .store
        .get_user(&id_of(&user))
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(stored.organization_id.as_deref(), other_org["id"].as_str());

    let (status, _) = app
        .put(
            "/v1/admin/users/",
            &json!({"id": "user-missing", "name": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .put(
            "/v1/admin/users/",
            &json!({"id": user["id"], "name": "x", "organization_id": "org-missing"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app.put("/v1/admin/users/", &json!({"name": "x"})).await;
    assert_422(status, &body, &[json!("body"), json!("id")]);
    let (status, body) = app
        .put(
            "/v1/admin/users/",
            &json!({"id": user["id"], "email": "x@y"}),
        )
        .await;
    assert_422(status, &body, &[json!("body"), json!("email")]);
    let stored = app
        .store
        .get_user(&id_of(&user))
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(stored.name, "after", "nothing was written");
});

both_backends!(delete_user, |app: TestApp| async move {
    let user = create_user(&app, "leaving", &app.org_id).await;
    let path = format!("/v1/admin/users/?user_id={}", id_of(&user));
    let (status, deleted) = app.delete(&path).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted, user);
    assert!(
        app.store
            .get_user(&id_of(&user))
            .await
            .expect("get")
            .is_none()
    );

    let (status, _) = app.delete(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app.delete("/v1/admin/users/").await;
    assert_422(status, &body, &[json!("query"), json!("user_id")]);
    let (status, body) = app
        .delete(&format!("/v1/admin/users/?user_id={DEFAULT_USER}"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        app.store
            .get_user(DEFAULT_USER)
            .await
            .expect("get")
            .is_some()
    );
});
