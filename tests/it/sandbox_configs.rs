//! `/v1/sandbox-config`: configs (create/upsert, defaults, custom local, list, update,
//! delete), the local venv rebuild, and environment variables.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, assert_422};

const BASE: &str = "/v1/sandbox-config";

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().expect("list").iter().map(id_of).collect()
}

async fn create(app: &TestApp, config: Value) -> Value {
    let (status, body) = app
        .post(&format!("{BASE}/"), &json!({ "config": config }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn list(app: &TestApp, query: &str) -> Value {
    let (status, body) = app.get(&format!("{BASE}/{query}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn detail(body: &Value) -> String {
    body["detail"].as_str().unwrap_or_default().to_owned()
}

both_backends!(create_list_and_upsert_configs, |app: TestApp| async move {
    let local = create(&app, json!({"sandbox_dir": "/srv/tools", "use_venv": true})).await;
    let id = id_of(&local);
    assert!(id.starts_with("sandbox-"), "{id}");
    assert_eq!(local["type"], "local");
    assert_eq!(local["organization_id"], app.org_id.as_str());
    assert_eq!(local["created_by_id"], app.user_id.as_str());
    assert_eq!(
        local["config"],
        json!({"sandbox_dir": "/srv/tools", "use_venv": true, "venv_name": "venv",
               "pip_requirements": []})
    );

    // The type comes from the shape: E2B keys, or pip requirements given as strings.
    let e2b = create(&app, json!({"template": "tpl-1"})).await;
    assert_eq!(e2b["type"], "e2b");
    assert_eq!(e2b["config"], json!({"timeout": 300, "template": "tpl-1"}));
    let e2b_again = create(&app, json!({"pip_requirements": ["numpy"], "timeout": 60})).await;
    assert_eq!(
        e2b_again["id"], e2b["id"],
        "one e2b config per organization"
    );
    assert_eq!(
        e2b_again["config"],
        json!({"timeout": 60, "pip_requirements": ["numpy"]})
    );

    // A second local create replaces the settings of the same config.
    let replaced = create(
        &app,
        json!({"sandbox_dir": "/srv/other", "pip_requirements": [{"name": "requests", "version": "2.31.0"}]}),
    )
    .await;
    assert_eq!(id_of(&replaced), id);
    assert_eq!(
        replaced["config"],
        json!({"sandbox_dir": "/srv/other", "use_venv": false, "venv_name": "venv",
               "pip_requirements": [{"name": "requests", "version": "2.31.0"}]})
    );

    let all = list(&app, "").await;
    assert_eq!(ids(&all), vec![id.clone(), id_of(&e2b)]);
    assert_eq!(
        ids(&list(&app, "?sandbox_type=e2b").await),
        vec![id_of(&e2b)]
    );
    assert_eq!(
        ids(&list(&app, "?sandbox_type=local").await),
        vec![id.clone()]
    );
    assert_eq!(ids(&list(&app, "?limit=1").await), vec![id.clone()]);
    assert_eq!(
        ids(&list(&app, &format!("?limit=1&after={id}")).await),
        vec![id_of(&e2b)]
    );
    // Without the trailing slash too.
    let (status, body) = app.get(BASE).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body.as_array().map(Vec::len), Some(2));

    // The original's `user-id` header names the actor as well as `user_id`.
    let other = app.other_org_user().await;
    let resp = app
        .client
        .get(app.url(&format!("{BASE}/")))
        .header("user-id", &other)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.expect("json"), json!([]));
});

both_backends!(list_configs_bad_input_and_404, |app: TestApp| async move {
    create(&app, json!({})).await;
    let (status, body) = app.get(&format!("{BASE}/?after=sandbox-unknown")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(detail(&body).contains("sandbox-unknown"), "{body}");
    let (status, body) = app.get(&format!("{BASE}/?sandbox_type=docker")).await;
    assert_422(status, &body, &[json!("query"), json!("sandbox_type")]);
    let (status, body) = app.get(&format!("{BASE}/?limit=-1")).await;
    assert_422(status, &body, &[json!("query"), json!("limit")]);
    let (status, body) = app
        .request_as("user-nobody", Method::GET, &format!("{BASE}/"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
});

both_backends!(
    create_config_bad_input_changes_nothing,
    |app: TestApp| async move {
        let url = format!("{BASE}/");
        let (status, body) = app.post(&url, &json!({})).await;
        assert_422(status, &body, &[json!("body"), json!("config")]);
        let (status, body) = app.post(&url, &json!({"config": "local"})).await;
        assert_422(status, &body, &[json!("body"), json!("config")]);
        let (status, body) = app
            .post(&url, &json!({"config": {}, "type": "local"}))
            .await;
        assert_422(status, &body, &[json!("body"), json!("type")]);
        let (status, body) = app
            .post(&url, &json!({"config": {"use_venv": "sometimes"}}))
            .await;
        assert_422(
            status,
            &body,
            &[
                json!("body"),
                json!("config"),
                json!("LocalSandboxConfig"),
                json!("use_venv"),
            ],
        );
        let (status, body) = app
            .post(&url, &json!({"config": {"venv_name": "../../etc"}}))
            .await;
        assert_422(
            status,
            &body,
            &[
                json!("body"),
                json!("config"),
                json!("LocalSandboxConfig"),
                json!("venv_name"),
            ],
        );
        let (status, body) = app
            .post(
                &url,
                &json!({"config": {"pip_requirements": [{"name": "--index-url=http://evil"}]}}),
            )
            .await;
        assert_422(
            status,
            &body,
            &[
                json!("body"),
                json!("config"),
                json!("LocalSandboxConfig"),
                json!("pip_requirements"),
                json!(0),
                json!("name"),
            ],
        );
        let (status, body) = app
            .post(&url, &json!({"config": {"timeout": "long"}}))
            .await;
        assert_422(
            status,
            &body,
            &[
                json!("body"),
                json!("config"),
                json!("E2BSandboxConfig"),
                json!("timeout"),
            ],
        );
        let (status, body) = app.send_raw(Method::POST, &url, "{\"config\": ").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, body) = app
            .request_as(
                "user-nobody",
                Method::POST,
                &url,
                Some(&json!({"config": {}})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(list(&app, "").await, json!([]));
    }
);

both_backends!(
    default_configs_are_get_or_create,
    |app: TestApp| async move {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let dir = data_dir.path().to_path_buf();
        // A server of its own, to know its data directory.
        let app = {
            let backend = app.backend;
            TestApp::spawn_with(backend, |c| c.data_dir = Some(dir.clone())).await
        };
        let (status, local) = app.post(&format!("{BASE}/local/default"), &json!({})).await;
        assert_eq!(status, StatusCode::OK, "{local}");
        assert_eq!(local["type"], "local");
        let expected_dir = dir
            .join("tool_execution_dir")
            .to_string_lossy()
            .into_owned();
        assert_eq!(
            local["config"],
            json!({"sandbox_dir": expected_dir, "use_venv": false, "venv_name": "venv",
               "pip_requirements": []})
        );
        let (status, again) = app
            .request(Method::POST, &format!("{BASE}/local/default"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again, local, "the existing config is returned unchanged");

        let (status, e2b) = app
            .request(Method::POST, &format!("{BASE}/e2b/default"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{e2b}");
        assert_eq!(e2b["type"], "e2b");
        assert_eq!(e2b["config"], json!({"timeout": 300}));
        let (_, e2b_again) = app
            .request(Method::POST, &format!("{BASE}/e2b/default"), None)
            .await;
        assert_eq!(e2b_again["id"], e2b["id"]);
        assert_eq!(ids(&list(&app, "").await).len(), 2);

        for path in ["local/default", "e2b/default"] {
            let (status, body) = app
                .request_as("user-nobody", Method::POST, &format!("{BASE}/{path}"), None)
                .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        }
    }
);

both_backends!(custom_local_config, |app: TestApp| async move {
    let url = format!("{BASE}/local");
    let (status, created) = app
        .post(
            &url,
            &json!({"sandbox_dir": "/opt/sbx", "use_venv": true, "venv_name": "env",
                    "pip_requirements": [{"name": "pyyaml"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["type"], "local");
    assert_eq!(
        created["config"],
        json!({"sandbox_dir": "/opt/sbx", "use_venv": true, "venv_name": "env",
               "pip_requirements": [{"name": "pyyaml"}]})
    );
    // Again: the same config, new settings.
    let (status, updated) = app.post(&url, &json!({"sandbox_dir": "/opt/other"})).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["id"], created["id"]);
    assert_eq!(updated["config"]["sandbox_dir"], "/opt/other");
    assert_eq!(updated["config"]["use_venv"], false);

    let (status, body) = app.post(&url, &json!({"venv_name": "a/b"})).await;
    assert_422(status, &body, &[json!("body"), json!("venv_name")]);
    let (status, body) = app
        .post(&url, &json!({"pip_requirements": [{"name": ""}]}))
        .await;
    assert_422(
        status,
        &body,
        &[
            json!("body"),
            json!("pip_requirements"),
            json!(0),
            json!("name"),
        ],
    );
    let (status, body) = app.post(&url, &json!({"pip_requirements": [{}]})).await;
    assert_422(
        status,
        &body,
        &[
            json!("body"),
            json!("pip_requirements"),
            json!(0),
            json!("name"),
        ],
    );
    let (status, body) = app.post(&url, &json!({"use_venv": 3})).await;
    assert_422(status, &body, &[json!("body"), json!("use_venv")]);
    let (status, body) = app
        .request_as("user-nobody", Method::POST, &url, Some(&json!({})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let configs = list(&app, "").await;
    assert_eq!(configs.as_array().map(Vec::len), Some(1));
    assert_eq!(configs[0]["config"]["sandbox_dir"], "/opt/other");
});

both_backends!(update_config, |app: TestApp| async move {
    let local = create(&app, json!({"sandbox_dir": "/a"})).await;
    let e2b = create(&app, json!({"timeout": 10})).await;
    let url = format!("{BASE}/{}", id_of(&local));

    let (status, updated) = app
        .patch(
            &url,
            &json!({"config": {"sandbox_dir": "/b", "use_venv": true}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["id"], local["id"]);
    assert_eq!(
        updated["config"],
        json!({"sandbox_dir": "/b", "use_venv": true, "venv_name": "venv", "pip_requirements": []})
    );

    // A shape that fits either type is read as the config's own type.
    let e2b_url = format!("{BASE}/{}", id_of(&e2b));
    let (status, body) = app.patch(&e2b_url, &json!({"config": {}})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["config"], json!({"timeout": 300}));
    // No config: nothing changes.
    let (status, body) = app.patch(&url, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["config"], updated["config"]);

    // Another type's settings: 400, nothing changed.
    let (status, body) = app.patch(&url, &json!({"config": {"timeout": 5}})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(detail(&body).contains("Mismatched type"), "{body}");
    let (status, body) = app
        .patch(&url, &json!({"config": {"use_venv": "no"}}))
        .await;
    assert_422(
        status,
        &body,
        &[
            json!("body"),
            json!("config"),
            json!("LocalSandboxConfig"),
            json!("use_venv"),
        ],
    );
    let (status, body) = app.patch(&url, &json!({"type": "e2b"})).await;
    assert_422(status, &body, &[json!("body"), json!("type")]);
    let current = list(&app, "?sandbox_type=local").await;
    assert_eq!(current[0]["config"], updated["config"]);

    let (status, body) = app
        .patch(&format!("{BASE}/sandbox-unknown"), &json!({"config": {}}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(
        detail(&body),
        "SandboxConfig not found with id='sandbox-unknown'"
    );
    let other = app.other_org_user().await;
    let (status, body) = app
        .request_as(
            &other,
            Method::PATCH,
            &url,
            Some(&json!({"config": {"sandbox_dir": "/x"}})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
});

both_backends!(
    delete_config_takes_its_variables,
    |app: TestApp| async move {
        let local = create(&app, json!({})).await;
        let url = format!("{BASE}/{}", id_of(&local));
        let (status, var) = app
            .post(
                &format!("{url}/environment-variable"),
                &json!({"key": "K", "value": "v"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{var}");

        let other = app.other_org_user().await;
        let (status, _) = app.request_as(&other, Method::DELETE, &url, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let resp = app
            .client
            .delete(app.url(&url))
            .header("user_id", &app.user_id)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        assert!(resp.bytes().await.expect("body").is_empty());
        assert_eq!(list(&app, "").await, json!([]));
        let (status, body) = app.delete(&url).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let (status, _) = app
            .delete(&format!("{BASE}/environment-variable/{}", id_of(&var)))
            .await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "the variable went with its config"
        );
    }
);

both_backends!(environment_variables, |app: TestApp| async move {
    let cfg = create(&app, json!({})).await;
    let vars_url = format!("{BASE}/{}/environment-variable", id_of(&cfg));

    let (status, a) = app
        .post(
            &vars_url,
            &json!({"key": "API_TOKEN", "value": "s3cret", "description": "token"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{a}");
    let a_id = id_of(&a);
    assert!(a_id.starts_with("sandbox-env-"), "{a_id}");
    assert_eq!(a["key"], "API_TOKEN");
    assert_eq!(
        a["value"], "s3cret",
        "values are returned, as the original does"
    );
    assert_eq!(a["description"], "token");
    assert_eq!(a["sandbox_config_id"], cfg["id"]);
    assert_eq!(a["organization_id"], app.org_id.as_str());

    // The same key again: the same variable, a new value, the description kept.
    let (status, again) = app
        .post(&vars_url, &json!({"key": "API_TOKEN", "value": "rotated"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(id_of(&again), a_id);
    assert_eq!(again["value"], "rotated");
    assert_eq!(again["description"], "token");

    let (status, b) = app
        .post(&vars_url, &json!({"key": "OTHER", "value": "x"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let (status, all) = app.get(&vars_url).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(ids(&all), vec![a_id.clone(), id_of(&b)]);
    assert_eq!(all[0]["value"], "rotated");
    let (_, page) = app.get(&format!("{vars_url}?limit=1&after={a_id}")).await;
    assert_eq!(ids(&page), vec![id_of(&b)]);
    let (status, body) = app
        .get(&format!("{vars_url}?after=sandbox-env-unknown"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app.get(&format!("{vars_url}?limit=x")).await;
    assert_422(status, &body, &[json!("query"), json!("limit")]);

    // Update.
    let var_url = format!("{BASE}/environment-variable/{a_id}");
    let (status, updated) = app
        .patch(&var_url, &json!({"value": "v2", "description": "new"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        (&updated["key"], &updated["value"], &updated["description"]),
        (&json!("API_TOKEN"), &json!("v2"), &json!("new"))
    );
    let (status, body) = app.patch(&var_url, &json!({"key": "OTHER"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = app.patch(&var_url, &json!({"key": "A=B"})).await;
    assert_422(status, &body, &[json!("body"), json!("key")]);
    let (status, body) = app.patch(&var_url, &json!({"value": 5})).await;
    assert_422(status, &body, &[json!("body"), json!("value")]);
    let (status, renamed) = app.patch(&var_url, &json!({"key": "RENAMED"})).await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["value"], "v2");

    // Bad input on create: nothing written.
    let (status, body) = app.post(&vars_url, &json!({"key": "NO_VALUE"})).await;
    assert_422(status, &body, &[json!("body"), json!("value")]);
    let (status, body) = app.post(&vars_url, &json!({"key": "", "value": "x"})).await;
    assert_422(status, &body, &[json!("body"), json!("key")]);
    let (status, body) = app
        .post(
            &vars_url,
            &json!({"key": "K", "value": "x", "secret": true}),
        )
        .await;
    assert_422(status, &body, &[json!("body"), json!("secret")]);
    let (_, all) = app.get(&vars_url).await;
    assert_eq!(all.as_array().map(Vec::len), Some(2));

    // 404s: unknown config, another organization's config or variable, unknown variable.
    let missing = format!("{BASE}/sandbox-unknown/environment-variable");
    let (status, body) = app.post(&missing, &json!({"key": "K", "value": "v"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app.get(&missing).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let other = app.other_org_user().await;
    for (method, url, body) in [
        (Method::GET, vars_url.clone(), None),
        (
            Method::POST,
            vars_url.clone(),
            Some(json!({"key": "K", "value": "v"})),
        ),
        (
            Method::PATCH,
            var_url.clone(),
            Some(json!({"value": "stolen"})),
        ),
        (Method::DELETE, var_url.clone(), None),
    ] {
        let (status, resp) = app
            .request_as(&other, method.clone(), &url, body.as_ref())
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {url}: {resp}");
    }
    let (status, body) = app
        .patch(
            &format!("{BASE}/environment-variable/sandbox-env-unknown"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(
        detail(&body),
        "SandboxEnvironmentVariable not found with id='sandbox-env-unknown'"
    );

    // Delete.
    let (status, _) = app.delete(&var_url).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.delete(&var_url).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, all) = app.get(&vars_url).await;
    assert_eq!(ids(&all), vec![id_of(&b)]);
});

both_backends!(recreate_venv_refusals, |app: TestApp| async move {
    let url = format!("{BASE}/local/recreate-venv");
    let dir = tempfile::tempdir().expect("tempdir");
    let sandbox_dir = dir.path().to_string_lossy().into_owned();

    // The default config does not use a venv.
    let (status, body) = app.request(Method::POST, &url, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(detail(&body).contains("use_venv"), "{body}");

    // A directory that does not exist.
    let missing = dir.path().join("missing").to_string_lossy().into_owned();
    create(&app, json!({"sandbox_dir": missing, "use_venv": true})).await;
    let (status, body) = app.request(Method::POST, &url, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(detail(&body).contains("does not exist"), "{body}");

    // Something that is not a venv where the venv goes is never deleted.
    let keep = dir.path().join("venv");
    std::fs::create_dir(&keep).expect("mkdir");
    std::fs::write(keep.join("precious.txt"), "data").expect("write");
    create(&app, json!({"sandbox_dir": sandbox_dir, "use_venv": true})).await;
    let (status, body) = app.request(Method::POST, &url, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(keep.join("precious.txt").exists());

    let (status, body) = app
        .request_as("user-nobody", Method::POST, &url, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
});

both_backends!(
    recreate_venv_builds_and_reports_pip_failures,
    |app: TestApp| async move {
        let url = format!("{BASE}/local/recreate-venv");
        let dir = tempfile::tempdir().expect("tempdir");
        let sandbox_dir = dir.path().to_string_lossy().into_owned();
        let venv = dir.path().join("tools-venv");
        let cfg = create(
            &app,
            json!({"sandbox_dir": sandbox_dir, "use_venv": true, "venv_name": "tools-venv"}),
        )
        .await;

        // No requirements: the venv is created (offline), and made anew on a second call.
        let (status, body) = app.request(Method::POST, &url, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["id"], cfg["id"]);
        assert!(venv.join("pyvenv.cfg").is_file());
        assert!(venv.join("bin").join("python").exists());
        let marker = venv.join("marker");
        std::fs::write(&marker, "old").expect("write");
        let (status, body) = app.request(Method::POST, &url, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(!marker.exists(), "the old venv was deleted");

        // A requirement pip cannot install: a clear error naming pip, never a success.
        create(
        &app,
        json!({"sandbox_dir": sandbox_dir, "use_venv": true, "venv_name": "tools-venv",
               "pip_requirements": [{"name": "letta-rs-no-such-package-7f3a9c", "version": "0.0.1"}]}),
    )
    .await;
        let (status, body) = app.request(Method::POST, &url, None).await;
        assert!(!status.is_success(), "{status}: {body}");
        let msg = detail(&body);
        assert!(msg.contains("pip"), "{body}");
        assert!(msg.contains("letta-rs-no-such-package-7f3a9c"), "{body}");
    }
);
