//! Who may talk to the server: CORS allow-list, cross-site writes, DNS rebinding, password
//! mode, `/v1/auth`, and the `user_id` header.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestApp};

const EVIL: &str = "https://evil.example";
const ADE: &str = "https://app.letta.com";

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, app.url("/v1/agents/"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,authorization",
        )
        .send()
        .await
        .expect("preflight")
}

fn allow_origin(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().expect("ascii").to_owned())
}

async fn agent_count(app: &TestApp, org_id: &str) -> i64 {
    app.store.count_agents(org_id).await.expect("count agents")
}

both_backends!(cors_only_for_listed_origins, |app: TestApp| async move {
    // A foreign page's preflight gets no allow headers, so its browser sends nothing.
    let resp = preflight(&app, EVIL).await;
    assert_eq!(allow_origin(&resp), None);

    // The ADE and the original's local origins are allowed, credentials included.
    for origin in [
        ADE,
        "http://localhost:3000",
        "http://localhost:8283",
        "http://letta.localhost",
    ] {
        let resp = preflight(&app, origin).await;
        assert_eq!(allow_origin(&resp).as_deref(), Some(origin), "{origin}");
        assert_eq!(
            resp.headers()["access-control-allow-credentials"],
            "true",
            "{origin}"
        );
        let resp = app
            .client
            .get(app.url("/v1/agents/"))
            .header("origin", origin)
            .header("user_id", &app.user_id)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(allow_origin(&resp).as_deref(), Some(origin));
    }
});

both_backends!(cross_site_writes_are_refused, |app: TestApp| async move {
    let before = agent_count(&app, &app.org_id).await;
    let body = json!({"name": "planted", "llm_config": null}).to_string();
    // The "simple request" a page can send without any preflight: text/plain.
    let resp = app
        .client
        .post(app.url("/v1/agents/"))
        .header("origin", EVIL)
        .header("content-type", "text/plain")
        .header("user_id", &app.user_id)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(allow_origin(&resp), None);
    // Even as JSON (a page can't send that without a preflight, but a non-browser client
    // could forge the Origin): a foreign origin never reaches a handler.
    let resp = app
        .client
        .post(app.url("/v1/agents/"))
        .header("origin", EVIL)
        .header("user_id", &app.user_id)
        .json(&json!({"name": "planted"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = app
        .client
        .delete(app.url("/v1/agents/agent-00000000-0000-4000-8000-000000000000"))
        .header("origin", "null")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // Without an Origin, a body that is not declared JSON is not parsed: 415, nothing written.
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut req = app
            .client
            .post(app.url("/v1/agents/"))
            .header("user_id", &app.user_id)
            .body(body.clone());
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
        let detail: Value = resp.json().await.unwrap();
        assert_eq!(detail["detail"], "Content-Type must be application/json");
    }
    assert_eq!(agent_count(&app, &app.org_id).await, before);

    // JSON with a charset parameter is JSON.
    let resp = app
        .client
        .post(app.url("/v1/blocks/"))
        .header("user_id", &app.user_id)
        .header("content-type", "application/json; charset=utf-8")
        .body(json!({"label": "human", "value": "v"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acceptable_origins_extend_the_list() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.acceptable_origins = vec!["https://My.App/".to_owned()];
    })
    .await;
    let resp = preflight(&app, "https://my.app").await;
    assert_eq!(allow_origin(&resp).as_deref(), Some("https://my.app"));
    assert_eq!(
        allow_origin(&preflight(&app, ADE).await).as_deref(),
        Some(ADE)
    );
    assert_eq!(allow_origin(&preflight(&app, EVIL).await), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebinding_host_names_are_refused_on_loopback() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.allowed_hosts = vec!["letta.internal".to_owned()];
    })
    .await;
    let port = app.base_url.rsplit(':').next().unwrap().to_owned();
    let get_with_host = |host: String| {
        let req = app
            .client
            .get(app.url("/v1/agents/"))
            .header("host", host)
            .header("user_id", &app.user_id);
        async move { req.send().await.unwrap() }
    };
    let resp = get_with_host(format!("evil.example:{port}")).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"detail": "Invalid Host header"}));
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        format!("letta.localhost:{port}"),
        format!("letta.internal:{port}"),
        "LOCALHOST".to_owned(),
    ] {
        assert_eq!(
            get_with_host(host.clone()).await.status(),
            StatusCode::OK,
            "{host}"
        );
    }
}

const PASSWORD: &str = "correct horse battery staple";

async fn secure_app() -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, |c| {
        c.secure = true;
        c.server_password = Some(letta_rs::config::Secret::new(PASSWORD));
    })
    .await
}

/// One read route of every router, plus the documents.
const GUARDED_GETS: &[&str] = &[
    "/v1/agents/",
    "/v1/agents/count",
    "/v1/blocks/",
    "/v1/tools/",
    "/v1/identities/",
    "/v1/tags/",
    "/v1/models/",
    "/v1/embeddings/total_storage_size",
    "/v1/runs/",
    "/v1/jobs/",
    "/v1/steps/",
    "/v1/admin/users/",
    "/v1/admin/orgs/",
    "/latest/agents/",
    "/openapi.json",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_mode_needs_the_password_everywhere_but_health() {
    let app = secure_app().await;
    let unauthorized = json!({"detail": "Unauthorized"});
    for path in GUARDED_GETS {
        for header in [
            None,
            Some(("authorization", "Bearer wrong".to_owned())),
            Some(("authorization", PASSWORD.to_owned())),
            Some(("x-bare-password", "password wrong".to_owned())),
            Some(("x-bare-password", PASSWORD.to_owned())),
            Some(("authorization", format!("Bearer {PASSWORD}x"))),
        ] {
            let mut req = app
                .client
                .get(app.url(path))
                .header("user_id", &app.user_id);
            if let Some((name, value)) = &header {
                req = req.header(*name, value);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path} {header:?}");
            assert_eq!(resp.json::<Value>().await.unwrap(), unauthorized);
        }
        for (name, value) in [
            ("authorization", format!("Bearer {PASSWORD}")),
            ("x-bare-password", format!("password {PASSWORD}")),
        ] {
            let resp = app
                .client
                .get(app.url(path))
                .header("user_id", &app.user_id)
                .header(name, value)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{path} with {name}");
        }
    }
    for path in ["/v1/health/", "/v1/health", "/latest/health/"] {
        let resp = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    // A browser's preflight carries no credentials; a listed origin's is answered.
    let resp = preflight(&app, ADE).await;
    assert!(resp.status().is_success());
    assert_eq!(allow_origin(&resp).as_deref(), Some(ADE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_mode_refused_writes_change_nothing() {
    let app = secure_app().await;
    let before = agent_count(&app, &app.org_id).await;
    let (status, _) = app.post("/v1/agents/", &json!({"name": "x"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(agent_count(&app, &app.org_id).await, before);

    // Admin: neither listing users nor deleting an organization without the password.
    let resp = app
        .client
        .delete(app.url(&format!("/v1/admin/orgs/?org_id={}", app.org_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = app
        .client
        .get(app.url("/v1/admin/users/"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(
        app.store.get_user(&app.user_id).await.unwrap().is_some(),
        "the organization and its user survived"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_route_checks_the_password() {
    let app = secure_app().await;
    let (status, body) = app.post("/v1/auth", &json!({"password": PASSWORD})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"uuid": "00000000-0000-4000-8000-000000000000", "is_admin": true})
    );
    for wrong in [
        json!({"password": "nope"}),
        json!({}),
        json!({"password": null}),
    ] {
        let (status, body) = app.post("/v1/auth", &wrong).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{wrong}");
        assert_eq!(body, json!({"detail": "Unauthorized"}));
    }
    let (status, _) = app.post("/v1/auth", &json!({"password": 5})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Without secure mode there is no password to match.
    let open = TestApp::spawn(Backend::Sqlite).await;
    let (status, _) = open.post("/v1/auth", &json!({"password": ""})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_mode_without_a_password_makes_one_up() {
    let store = crate::helpers::open_store(Backend::Sqlite).await;
    let mut config = crate::helpers::test_config();
    config.secure = true;
    let app = letta_rs::Application::build_with_store(config, store)
        .await
        .expect("build");
    let password = app
        .state()
        .config
        .required_password()
        .expect("a password was generated")
        .expose()
        .to_owned();
    assert_eq!(password.len(), 32);
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.serve_until(std::future::pending()));
    let client = reqwest::Client::new();
    let resp = client
        .get(format!("{base}/v1/agents/"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = client
        .get(format!("{base}/v1/agents/"))
        .bearer_auth(&password)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

both_backends!(unknown_user_id_is_refused, |app: TestApp| async move {
    let ghost = "user-11111111-2222-4333-8444-555555555555";
    let blocks_before = app
        .client
        .get(app.url("/v1/blocks/?limit=1000"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let (status, body) = app
        .request_as(
            ghost,
            Method::POST,
            "/v1/blocks/",
            Some(&json!({"label": "human", "value": "planted"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["detail"].as_str().unwrap().contains(ghost), "{body}");
    let (status, _) = app
        .request_as(ghost, Method::GET, "/v1/agents/", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Nothing landed with the default user either.
    let blocks_after = app
        .client
        .get(app.url("/v1/blocks/?limit=1000"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(blocks_before, blocks_after);
    // No header, or an empty one: the default user, as the original.
    let (status, _) = app.request_as("", Method::GET, "/v1/agents/", None).await;
    assert_eq!(status, StatusCode::OK);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_own_pages_may_write() {
    // Swagger UI at /docs posts with its own origin.
    let app = TestApp::spawn(Backend::Sqlite).await;
    let own_origin = app.base_url.clone();
    let resp = app
        .client
        .post(app.url("/v1/blocks/"))
        .header("origin", &own_origin)
        .header("user_id", &app.user_id)
        .json(&json!({"label": "human", "value": "v"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // The same origin under a foreign Host is a rebinding page: refused.
    let port = app.base_url.rsplit(':').next().unwrap();
    let resp = app
        .client
        .post(app.url("/v1/blocks/"))
        .header("origin", format!("http://evil.example:{port}"))
        .header("host", format!("evil.example:{port}"))
        .json(&json!({"label": "human", "value": "v"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}
