//! `/v1/tools/composio`: apps, actions and adding an action as a tool, against a mock of
//! Composio's HTTP API; an agent calling the tool (executed by the mock); without a key a
//! 400, never a 500.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::{get, post};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, create_agent, id_of};
use crate::llm_test;
use crate::mock_llm::{MockLlm, MockReply};

const KEY: &str = "composio-test-key-123";

/// A running mock of Composio's API; `executed` records the executions it received.
struct MockComposio {
    base: String,
    executed: Arc<Mutex<Vec<Value>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Drop for MockComposio {
    fn drop(&mut self) {
        self._task.abort();
    }
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("x-api-key").and_then(|v| v.to_str().ok()) == Some(KEY)
}

fn weather_action() -> Value {
    json!({
        "name": "WEATHER_GET_FORECAST", "display_name": "Get forecast",
        "description": "Gets the weather forecast for a city.",
        "parameters": {"title": "Request", "type": "object",
                       "properties": {"city": {"type": "string", "description": "The city"}},
                       "required": ["city"]},
        "response": {"title": "Response", "type": "object", "properties": {}},
        "appName": "weather", "appId": "app-weather", "version": "1.0",
        "available_versions": ["1.0"], "tags": ["weather"], "enabled": true
    })
}

async fn start_composio() -> MockComposio {
    let executed: Arc<Mutex<Vec<Value>>> = Arc::default();
    let app = axum::Router::new()
        .route(
            "/api/v1/apps",
            get(|headers: HeaderMap| async move {
                if !authorized(&headers) {
                    return (AxumStatus::UNAUTHORIZED, axum::Json(json!({"message": "bad key"})));
                }
                (
                    AxumStatus::OK,
                    axum::Json(json!({"items": [
                        {"name": "weather", "key": "weather", "appId": "app-weather",
                         "description": "Forecasts", "categories": ["tools"], "meta": {}},
                        {"name": "github", "key": "github", "appId": "app-github",
                         "description": "Code", "categories": ["dev"], "meta": {}}
                    ]})),
                )
            }),
        )
        .route(
            "/api/v2/actions",
            get(
                |headers: HeaderMap, Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    if !authorized(&headers) {
                        return (AxumStatus::UNAUTHORIZED, axum::Json(json!({"message": "bad key"})));
                    }
                    let items = if q.get("apps").map(String::as_str) == Some("weather") {
                        vec![weather_action()]
                    } else {
                        vec![]
                    };
                    (AxumStatus::OK, axum::Json(json!({"items": items})))
                },
            ),
        )
        .route(
            "/api/v2/actions/{name}",
            get(|headers: HeaderMap, Path(name): Path<String>| async move {
                if !authorized(&headers) {
                    return (AxumStatus::UNAUTHORIZED, axum::Json(json!({"message": "bad key"})));
                }
                if name == "WEATHER_GET_FORECAST" {
                    (AxumStatus::OK, axum::Json(weather_action()))
                } else {
                    (AxumStatus::NOT_FOUND, axum::Json(json!({"message": "no such action"})))
                }
            }),
        )
        .route(
            "/api/v2/actions/{name}/execute",
            post(
                |State(executed): State<Arc<Mutex<Vec<Value>>>>,
                 headers: HeaderMap,
                 Path(name): Path<String>,
                 axum::Json(body): axum::Json<Value>| async move {
                    if !authorized(&headers) {
                        return (AxumStatus::UNAUTHORIZED, axum::Json(json!({"message": "bad key"})));
                    }
                    executed.lock().unwrap().push(json!({"action": name, "body": body}));
                    let city = body["input"]["city"].as_str().unwrap_or_default().to_owned();
                    if city == "Atlantis" {
                        return (
                            AxumStatus::OK,
                            axum::Json(json!({"data": {}, "error": "unknown city", "successfull": false})),
                        );
                    }
                    (
                        AxumStatus::OK,
                        axum::Json(json!({"data": {"forecast": format!("sunny in {city}")},
                                          "error": null, "successfull": true})),
                    )
                },
            ),
        )
        .with_state(executed.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    MockComposio {
        base,
        executed,
        _task: task,
    }
}

both_backends!(
    without_a_key_composio_routes_are_400,
    |app: TestApp| async move {
        for (method, path) in [
            (reqwest::Method::GET, "/v1/tools/composio/apps"),
            (
                reqwest::Method::GET,
                "/v1/tools/composio/apps/weather/actions",
            ),
            (
                reqwest::Method::POST,
                "/v1/tools/composio/WEATHER_GET_FORECAST",
            ),
        ] {
            let (status, body) = app.request(method, path, None).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
            assert!(
                body["detail"]
                    .as_str()
                    .unwrap()
                    .contains("COMPOSIO_API_KEY"),
                "{body}"
            );
        }
        let (_, tools) = app.get("/v1/tools/?name=weather_get_forecast").await;
        assert_eq!(tools, json!([]));
    }
);

llm_test!(
    composio_apps_actions_and_tools,
    config = |_cfg: &mut letta_rs::config::Config| {},
    |_app: TestApp, llm: MockLlm| async move {
        let composio = start_composio().await;
        let base = composio.base.clone();
        // A server with the key, on the same backend as this test's.
        let app = TestApp::spawn_with(_app.backend, |cfg| {
            cfg.openai_api_key = Some("sk-test".parse().unwrap());
            cfg.openai_api_base = llm.base_url();
            cfg.composio_api_key = Some(KEY.parse().unwrap());
            cfg.composio_api_base = base;
        })
        .await;

        let (status, apps) = app.get("/v1/tools/composio/apps").await;
        assert_eq!(status, StatusCode::OK, "{apps}");
        assert_eq!(apps[0]["key"], "weather");
        assert_eq!(apps.as_array().unwrap().len(), 2);
        let (status, actions) = app.get("/v1/tools/composio/apps/weather/actions").await;
        assert_eq!(status, StatusCode::OK, "{actions}");
        assert_eq!(actions[0]["name"], "WEATHER_GET_FORECAST");
        let (_, none) = app.get("/v1/tools/composio/apps/nothing/actions").await;
        assert_eq!(none, json!([]));

        let (status, tool) = app
            .post("/v1/tools/composio/WEATHER_GET_FORECAST", &Value::Null)
            .await;
        assert_eq!(status, StatusCode::OK, "{tool}");
        assert_eq!(tool["tool_type"], "external_composio");
        assert_eq!(tool["name"], "weather_get_forecast");
        assert_eq!(tool["tags"], json!(["composio"]));
        assert_eq!(
            tool["json_schema"]["parameters"]["required"],
            json!(["city"])
        );
        // Adding it again refreshes the same tool.
        let (_, again) = app
            .post("/v1/tools/composio/WEATHER_GET_FORECAST", &Value::Null)
            .await;
        assert_eq!(again["id"], tool["id"]);
        let (status, body) = app
            .post("/v1/tools/composio/NO_SUCH_ACTION", &Value::Null)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

        // An agent calls it; Composio executes it.
        let agent = create_agent(&app, json!({"tool_ids": [id_of(&tool)]})).await;
        let agent_id = id_of(&agent);
        llm.push(MockReply::tool_call(
            "weather_get_forecast",
            json!({"city": "Oslo", "request_heartbeat": true}),
        ));
        llm.push(MockReply::tool_call(
            "weather_get_forecast",
            json!({"city": "Atlantis", "request_heartbeat": true}),
        ));
        llm.push(MockReply::tool_call(
            "send_message",
            json!({"message": "Sunny in Oslo."}),
        ));
        let (status, reply) = app
            .post(
                &format!("/v1/agents/{agent_id}/messages"),
                &json!({"messages": [{"role": "user", "content": "weather?"}]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        let returns: Vec<&Value> = reply["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["message_type"] == "tool_return_message")
            .collect();
        assert_eq!(returns.len(), 2, "{reply}");
        assert_eq!(returns[0]["status"], "success");
        assert!(
            returns[0]["tool_return"]
                .as_str()
                .unwrap()
                .contains("sunny in Oslo")
        );
        assert_eq!(returns[1]["status"], "error");
        assert!(
            returns[1]["tool_return"]
                .as_str()
                .unwrap()
                .contains("unknown city")
        );
        let executed = composio.executed.lock().unwrap().clone();
        assert_eq!(executed.len(), 2);
        assert_eq!(executed[0]["action"], "WEATHER_GET_FORECAST");
        assert_eq!(executed[0]["body"]["input"]["city"], "Oslo");
    }
);

llm_test!(
    a_refused_composio_key_is_a_400,
    config = |_cfg: &mut letta_rs::config::Config| {},
    |_app: TestApp, _llm: MockLlm| async move {
        let composio = start_composio().await;
        let base = composio.base.clone();
        let app = TestApp::spawn_with(_app.backend, |cfg| {
            cfg.composio_api_key = Some("wrong-key-0000000".parse().unwrap());
            cfg.composio_api_base = base;
        })
        .await;
        let (status, body) = app.get("/v1/tools/composio/apps").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(!body.to_string().contains("wrong-key-0000000"));
        let (status, _) = app
            .post("/v1/tools/composio/WEATHER_GET_FORECAST", &Value::Null)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        // Nobody listening: a bad gateway.
        let app = TestApp::spawn_with(_app.backend, |cfg| {
            cfg.composio_api_key = Some(KEY.parse().unwrap());
            cfg.composio_api_base = "http://127.0.0.1:9".into();
        })
        .await;
        let (status, body) = app.get("/v1/tools/composio/apps").await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    }
);
