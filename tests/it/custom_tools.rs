//! Custom Python tools through `/v1/tools`: create, upsert, modify, delete, run from source
//! and schema generation, with a real interpreter.

use letta_rs::config::Secret;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::mock_llm::MockLlm;
use crate::{both_backends, llm_test};

const ADD: &str = r#"def add_numbers(a: int, b: int) -> int:
    """
    Add two numbers.

    Args:
        a (int): The first number.
        b (int): The second number.

    Returns:
        int: The sum.
    """
    print("adding")
    return a + b
"#;

const MULTIPLY: &str = r#"def multiply_numbers(a: int, b: int) -> int:
    """
    Multiply two numbers.

    Args:
        a (int): The first number.
        b (int): The second number.
    """
    return a * b
"#;

const DIVIDE: &str = r#"def divide(a: int, b: int) -> float:
    """
    Divide a by b.

    Args:
        a (int): Dividend.
        b (int): Divisor.
    """
    return a / b
"#;

const READ_ENV: &str = r#"def read_env(name: str) -> str:
    """
    Read an environment variable.

    Args:
        name (str): The variable.
    """
    import os
    return str(os.environ.get(name))
"#;

const ALL_ENV: &str = r#"def all_env() -> str:
    """
    Every environment variable value, joined.
    """
    import os
    return "|".join(f"{k}={v}" for k, v in os.environ.items())
"#;

const NO_DOCSTRING: &str = "def bare(a: int) -> int:\n    return a\n";
const SYNTAX_ERROR: &str = "def broken(a: int:\n    return a\n";
const NO_ANNOTATION: &str = r#"def loose(a):
    """
    Loose.

    Args:
        a: Something.
    """
    return a
"#;

async fn tool_count(app: &TestApp) -> i64 {
    let (status, count) = app.get("/v1/tools/count").await;
    assert_eq!(status, StatusCode::OK, "{count}");
    count.as_i64().expect("count")
}

async fn create(app: &TestApp, source: &str) -> Value {
    let (status, tool) = app
        .post(
            "/v1/tools/",
            &json!({"source_code": source, "tags": ["math"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tool}");
    tool
}

both_backends!(
    create_derives_schema_and_defaults,
    |app: TestApp| async move {
        let tool = create(&app, ADD).await;
        assert_eq!(tool["name"], "add_numbers");
        assert_eq!(tool["tool_type"], "custom");
        assert_eq!(tool["tags"], json!(["math"]));
        assert_eq!(tool["source_type"], "python");
        assert_eq!(tool["return_char_limit"], 6000);
        assert_eq!(tool["organization_id"], app.org_id.as_str());
        assert_eq!(tool["description"], "Add two numbers.");
        let schema = &tool["json_schema"];
        assert_eq!(schema["name"], "add_numbers");
        assert_eq!(
            schema["parameters"]["properties"]["a"],
            json!({"type": "integer", "description": "The first number."})
        );
        assert_eq!(schema["parameters"]["required"], json!(["a", "b"]));

        let id = tool["id"].as_str().unwrap();
        let (status, got) = app.get(&format!("/v1/tools/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(got, tool);
        let (_, by_name) = app.get("/v1/tools/?name=add_numbers").await;
        assert_eq!(by_name, json!([tool]));
        // Paging over custom tools too: the custom tool is after the built-ins.
        let (_, page) = app.get("/v1/tools/?limit=100").await;
        assert_eq!(page.as_array().unwrap().last().unwrap()["id"], id);
        // Other organizations do not see it.
        let other = app.other_org_user().await;
        let (status, _) = app
            .request_as(
                &other,
                reqwest::Method::GET,
                &format!("/v1/tools/{id}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(tool_count(&app).await, 1);
    }
);

both_backends!(
    create_refuses_bad_input_and_writes_nothing,
    |app: TestApp| async move {
        create(&app, ADD).await;
        let before = tool_count(&app).await;
        let cases = [
            (
                json!({"source_code": SYNTAX_ERROR}),
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({"source_code": NO_DOCSTRING}),
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({"source_code": NO_ANNOTATION}),
                StatusCode::BAD_REQUEST,
            ),
            (json!({"source_code": "x = 1\n"}), StatusCode::BAD_REQUEST),
            (
                json!({"source_code": MULTIPLY, "source_type": "javascript"}),
                StatusCode::BAD_REQUEST,
            ),
            (json!({"source_code": ADD}), StatusCode::CONFLICT),
            (
                json!({"source_code": MULTIPLY, "name": "x"}),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (json!({"tags": []}), StatusCode::UNPROCESSABLE_ENTITY),
            (
                json!({"source_code": MULTIPLY, "pip_requirements": [{"name": ""}]}),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
        ];
        for (body, want) in cases {
            let (status, err) = app.post("/v1/tools/", &body).await;
            assert_eq!(status, want, "{body} -> {err}");
            assert!(
                err["detail"].is_string() || err["detail"].is_array(),
                "{err}"
            );
        }
        let (_, err) = app.post("/v1/tools/", &json!({"source_code": ADD})).await;
        assert_eq!(err["detail"], "Tool with this name already exists.");
        let (_, err) = app
            .post("/v1/tools/", &json!({"source_code": NO_DOCSTRING}))
            .await;
        assert!(
            err["detail"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("docstring"),
            "{err}"
        );
        let (_, err) = app
            .post("/v1/tools/", &json!({"source_code": SYNTAX_ERROR}))
            .await;
        assert!(!err["detail"].as_str().unwrap().is_empty(), "{err}");
        // A built-in name is taken too.
        let send = MULTIPLY.replace("multiply_numbers", "send_message");
        let (status, _) = app.post("/v1/tools/", &json!({"source_code": send})).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(tool_count(&app).await, before);
        let (_, none) = app.get("/v1/tools/?name=bare").await;
        assert_eq!(none, json!([]));
    }
);

both_backends!(
    explicit_json_schema_is_a_fallback,
    |app: TestApp| async move {
        // Derivable source: the derived schema wins over the supplied one (as the original's
        // re-derivation on read).
        let supplied = json!({"name": "add_numbers", "description": "mine",
        "parameters": {"type": "object", "properties": {}, "required": []}});
        let (status, tool) = app
            .post(
                "/v1/tools/",
                &json!({"source_code": ADD, "json_schema": supplied}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{tool}");
        assert_eq!(tool["json_schema"]["description"], "Add two numbers.");
        // Underivable (no docstring): the supplied schema is used, name and description from it.
        let supplied = json!({"name": "bare", "description": "Echo a.",
        "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}});
        let (status, tool) = app
            .post(
                "/v1/tools/",
                &json!({"source_code": NO_DOCSTRING, "json_schema": supplied}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{tool}");
        assert_eq!(tool["name"], "bare");
        assert_eq!(tool["description"], "Echo a.");
        assert_eq!(tool["json_schema"], supplied);
    }
);

both_backends!(upsert_creates_then_updates, |app: TestApp| async move {
    let (status, first) = app
        .put("/v1/tools/", &json!({"source_code": ADD, "tags": ["a"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["name"], "add_numbers");
    let changed = ADD.replace("Add two numbers.", "Sum two integers.");
    let (status, second) = app
        .put(
            "/v1/tools/",
            &json!({"source_code": changed, "tags": ["b"], "return_char_limit": 100}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["id"], first["id"], "updated in place");
    assert_eq!(second["tags"], json!(["b"]));
    assert_eq!(second["return_char_limit"], 100);
    assert_eq!(second["json_schema"]["description"], "Sum two integers.");
    assert_eq!(second["description"], "Sum two integers.");
    assert_eq!(second["source_code"], changed.as_str());
    assert_eq!(tool_count(&app).await, 1);
    // Bad input writes nothing.
    let (status, _) = app
        .put("/v1/tools/", &json!({"source_code": NO_DOCSTRING}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A built-in tool is not replaced.
    let send = MULTIPLY.replace("multiply_numbers", "send_message");
    let (status, err) = app.put("/v1/tools/", &json!({"source_code": send})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (_, sm) = app.get("/v1/tools/?name=send_message").await;
    assert_eq!(sm[0]["tool_type"], "letta_core");
    assert_eq!(tool_count(&app).await, 1);
});

both_backends!(
    modify_applies_fields_and_renames,
    |app: TestApp| async move {
        let tool = create(&app, ADD).await;
        let id = tool["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/tools/{id}");
        let (status, got) = app
            .patch(
                &path,
                &json!({"description": "new", "tags": null, "unknown": 1}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{got}");
        assert_eq!(got["description"], "new");
        assert_eq!(got["tags"], json!(["math"]), "null leaves a field alone");
        assert_eq!(got["name"], "add_numbers");

        let (status, got) = app.patch(&path, &json!({"source_code": MULTIPLY})).await;
        assert_eq!(status, StatusCode::OK, "{got}");
        assert_eq!(got["id"], id.as_str());
        assert_eq!(got["name"], "multiply_numbers");
        assert_eq!(got["json_schema"]["name"], "multiply_numbers");
        assert_eq!(got["source_code"], MULTIPLY);

        // Bad input: 400 and nothing changes.
        for body in [
            json!({"source_code": NO_DOCSTRING}),
            json!({"source_code": SYNTAX_ERROR}),
            json!({"source_type": "javascript"}),
        ] {
            let (status, err) = app.patch(&path, &body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {err}");
        }
        let (_, now) = app.get(&path).await;
        assert_eq!(now, got);
        // Renaming onto a taken name is a conflict.
        create(&app, ADD).await;
        let (status, err) = app.patch(&path, &json!({"source_code": ADD})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{err}");
        let (status, _) = app
            .patch(
                "/v1/tools/tool-00000000-0000-4000-8000-000000000000",
                &json!({"description": "x"}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Built-in tools keep their code.
        let (_, sm) = app.get("/v1/tools/?name=send_message").await;
        let sm_path = format!("/v1/tools/{}", sm[0]["id"].as_str().unwrap());
        let (status, _) = app.patch(&sm_path, &json!({"source_code": ADD})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, edited) = app.patch(&sm_path, &json!({"description": "Talk."})).await;
        assert_eq!(status, StatusCode::OK, "{edited}");
        assert_eq!(edited["description"], "Talk.");
    }
);

// Agents need a model provider to be created (the mock; never called here).
llm_test!(
    delete_removes_and_detaches,
    |app: TestApp, llm: MockLlm| async move {
        let tool = create(&app, ADD).await;
        let id = tool["id"].as_str().unwrap().to_owned();
        let agent =
            crate::helpers::create_agent(&app, json!({"name": "a", "tool_ids": [id]})).await;
        let agent_id = agent["id"].as_str().unwrap();
        let (status, body) = app.delete(&format!("/v1/tools/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, Value::Null);
        let (status, _) = app.get(&format!("/v1/tools/{id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, tools) = app.get(&format!("/v1/agents/{agent_id}/tools")).await;
        assert!(
            tools
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["id"] != id.as_str()),
            "{tools}"
        );
        // Unknown id: the original's 400 and words.
        let (status, err) = app.delete(&format!("/v1/tools/{id}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(err["detail"], format!("Tool with id {id} not found."));
        drop(llm);
    }
);

both_backends!(generate_schema_route, |app: TestApp| async move {
    let (status, schema) = app
        .post("/v1/tools/generate-schema", &json!({"code": ADD}))
        .await;
    assert_eq!(status, StatusCode::OK, "{schema}");
    assert_eq!(schema["name"], "add_numbers");
    let (status, err) = app
        .post("/v1/tools/generate-schema", &json!({"code": NO_DOCSTRING}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        err["detail"]
            .as_str()
            .unwrap()
            .starts_with("Failed to generate schema: "),
        "{err}"
    );
    let (status, _) = app.post("/v1/tools/generate-schema", &json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
});

async fn run(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.post("/v1/tools/run", &body).await
}

both_backends!(run_from_source, |app: TestApp| async move {
    let before = tool_count(&app).await;
    let (status, ret) = run(&app, json!({"source_code": ADD, "args": {"a": 2, "b": 3}})).await;
    assert_eq!(status, StatusCode::OK, "{ret}");
    assert_eq!(ret["id"], "null");
    assert_eq!(ret["tool_call_id"], "null");
    assert_eq!(ret["message_type"], "tool_return_message");
    assert_eq!(ret["status"], "success");
    assert_eq!(ret["tool_return"], "5");
    assert_eq!(ret["stdout"], json!(["adding\n"]));
    assert_eq!(ret["stderr"], json!([]));
    assert!(ret["date"].is_string());

    let (status, ret) = run(
        &app,
        json!({"source_code": DIVIDE, "args": {"a": 1, "b": 0}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ret}");
    assert_eq!(ret["status"], "error");
    assert_eq!(
        ret["tool_return"],
        "Error executing function divide: ZeroDivisionError: division by zero"
    );

    let (status, err) = run(&app, json!({"source_code": NO_DOCSTRING, "args": {}})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (status, err) = run(
        &app,
        json!({"source_code": ADD, "args": {}, "source_type": "ruby"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (status, _) = run(&app, json!({"source_code": ADD})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(tool_count(&app).await, before, "nothing saved");
});

async fn env_is_private(backend: Backend) {
    const SECRET: &str = "sk-server-openai-key-must-not-leak";
    let app = TestApp::spawn_with(backend, |c| c.openai_api_key = Some(Secret::new(SECRET))).await;
    let (status, ret) = run(
        &app,
        json!({"source_code": READ_ENV, "args": {"name": "MY_VAR"}, "env_vars": {"MY_VAR": "hello"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ret}");
    assert_eq!(ret["tool_return"], "hello");
    let (_, ret) = run(
        &app,
        json!({"source_code": READ_ENV, "args": {"name": "OPENAI_API_KEY"}}),
    )
    .await;
    assert_eq!(ret["status"], "success", "{ret}");
    assert_eq!(ret["tool_return"], "None");
    let (_, ret) = run(&app, json!({"source_code": ALL_ENV, "args": {}})).await;
    assert_eq!(ret["status"], "success", "{ret}");
    let text = ret["tool_return"].as_str().unwrap();
    assert!(!text.contains(SECRET), "{text}");
    assert!(!text.contains("OPENAI_API_KEY"), "{text}");
}

mod run_env_is_private {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        env_is_private(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        env_is_private(Backend::Postgres).await;
    }
}
