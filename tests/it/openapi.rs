//! The OpenAPI document: the committed `openapi/openapi.json` is what the code generates, every
//! route we serve matches the reference Letta 0.8.12 document where clients depend on it, and
//! `/docs` serves the Swagger UI.
//!
//! Regenerate the committed document after changing routes or schemas:
//!     UPDATE_OPENAPI=1 cargo test --test it openapi::

use std::collections::BTreeSet;
use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, TestApp};

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// Routes we serve on purpose although the reference has no such operation; each is listed in
/// docs/compatibility.md. Entries are (METHOD, path).
const EXTRA_OPERATIONS: &[(&str, &str)] = &[
    // Resumable streams (issue #4): later Letta versions have them, 0.8.12 does not.
    ("GET", "/v1/runs/{run_id}/stream"),
];

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn our_document() -> Value {
    serde_json::to_value(letta_rs::api::openapi_document()).expect("OpenAPI document serializes")
}

fn rendered_document() -> String {
    let mut json = letta_rs::api::openapi_document()
        .to_pretty_json()
        .expect("OpenAPI document serializes");
    json.push('\n');
    json
}

#[test]
fn committed_document_is_current() {
    let path = crate_dir().join("openapi").join("openapi.json");
    let current = rendered_document();
    if std::env::var("UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create openapi/");
        std::fs::write(&path, &current).expect("write openapi/openapi.json");
        eprintln!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed == current {
        return;
    }
    let first_diff = committed
        .lines()
        .zip(current.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| committed.lines().count().min(current.lines().count()));
    panic!(
        "{} is not what the code generates (first difference at line {}:\n  committed: {}\n  generated: {}).\n\
         Regenerate it with\n    UPDATE_OPENAPI=1 cargo test --test it openapi::\nand commit the result.",
        path.display(),
        first_diff + 1,
        committed.lines().nth(first_diff).unwrap_or("<end of file>"),
        current.lines().nth(first_diff).unwrap_or("<end of file>"),
    );
}

fn reference_document() -> Value {
    let path = crate_dir().join("../shared/reference/letta-0.8.12-openapi.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "the reference OpenAPI document is missing at {} ({err}); it is part of shared/, which \
             must sit beside this repository. This test does not skip.",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("the reference OpenAPI document is JSON")
}

fn ref_name(schema: &Value) -> Option<String> {
    schema["$ref"]
        .as_str()
        .map(|r| r.rsplit('/').next().unwrap_or(r).to_owned())
}

fn is_null_schema(schema: &Value) -> bool {
    schema["type"] == "null"
}

/// A comparable description of a schema: the component name for a `$ref`, looking through
/// arrays, nullable wrappers (`anyOf`/`oneOf` with `null`, one-element `allOf`) and unions.
fn shape(schema: &Value) -> String {
    if let Some(name) = ref_name(schema) {
        return name;
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(variants) = schema[key].as_array() {
            let mut parts: Vec<String> = variants
                .iter()
                .filter(|v| !is_null_schema(v))
                .map(shape)
                .collect();
            parts.sort();
            parts.dedup();
            return match parts.len() {
                1 => parts.remove(0),
                _ => format!("one of [{}]", parts.join(", ")),
            };
        }
    }
    if let Some([only]) = schema["allOf"].as_array().map(Vec::as_slice) {
        return shape(only);
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => vec![],
    };
    match types.as_slice() {
        ["array"] => format!("array of {}", shape(&schema["items"])),
        [] => "any".to_owned(),
        ts => ts.join("|"),
    }
}

/// The component names a shape mentions.
fn named_schemas(schema: &Value, out: &mut BTreeSet<String>) {
    if let Some(name) = ref_name(schema) {
        out.insert(name);
        return;
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for v in schema[key].as_array().into_iter().flatten() {
            named_schemas(v, out);
        }
    }
    if !schema["items"].is_null() {
        named_schemas(&schema["items"], out);
    }
}

fn params(op: &Value) -> BTreeSet<String> {
    op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let location = p["in"].as_str().unwrap_or("?");
            let name = p["name"].as_str().unwrap_or("?");
            // Header names are case-insensitive.
            if location == "header" {
                format!("{location}:{}", name.to_ascii_lowercase())
            } else {
                format!("{location}:{name}")
            }
        })
        .collect()
}

/// The JSON (else the first) content of a request body or response: (content types, schema).
fn content(holder: &Value) -> Option<(BTreeSet<String>, Value)> {
    let content = holder["content"].as_object()?;
    let types = content.keys().cloned().collect();
    let schema = content
        .get("application/json")
        .or_else(|| content.values().next())
        .map(|c| c["schema"].clone())
        .unwrap_or(Value::Null);
    Some((types, schema))
}

fn required_fields(doc: &Value, name: &str) -> Option<BTreeSet<String>> {
    let schema = doc["components"]["schemas"].get(name)?;
    Some(
        schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
    )
}

fn fmt_set(set: &BTreeSet<String>) -> String {
    format!("{:?}", set.iter().collect::<Vec<_>>())
}

/// Schema positions where we document what the original answers rather than what its
/// document declares (each listed in docs/compatibility.md).
const DOCUMENTED_DEVIATIONS: &[&str] = &[
    // Letta 0.8.12 declares a string but answers the agent file as a JSON object.
    "GET /v1/agents/{agent_id}/export: 200 response",
];

/// Compares one schema position (request body or 200 response) and the named schemas it uses.
fn compare_schema(
    what: &str,
    route: &str,
    ours: &Value,
    reference: &Value,
    our_doc: &Value,
    ref_doc: &Value,
    problems: &mut Vec<String>,
) {
    let (our_shape, ref_shape) = (shape(ours), shape(reference));
    let documented = DOCUMENTED_DEVIATIONS.contains(&format!("{route}: {what}").as_str());
    if ref_shape != "any" && our_shape != ref_shape && !documented {
        problems.push(format!(
            "{route}: {what} schema is `{our_shape}`, reference `{ref_shape}`"
        ));
        return;
    }
    let mut names = BTreeSet::new();
    named_schemas(reference, &mut names);
    for name in names {
        let Some(want) = required_fields(ref_doc, &name) else {
            continue;
        };
        match required_fields(our_doc, &name) {
            None => problems.push(format!(
                "{route}: {what} schema `{name}` is not in our components"
            )),
            Some(got) if got != want => problems.push(format!(
                "{route}: {what} schema `{name}` required fields differ: ours {}, reference {} \
                 (missing {}, extra {})",
                fmt_set(&got),
                fmt_set(&want),
                fmt_set(&want.difference(&got).cloned().collect()),
                fmt_set(&got.difference(&want).cloned().collect()),
            )),
            Some(_) => {}
        }
    }
}

#[test]
fn served_routes_match_the_reference() {
    let reference = reference_document();
    let ours = our_document();
    let mut problems = Vec::new();
    let mut checked = 0;

    let our_paths = ours["paths"].as_object().expect("our paths");
    for (path, item) in our_paths {
        for &method in METHODS {
            let Some(op) = item.get(method) else { continue };
            checked += 1;
            let route = format!("{} {path}", method.to_ascii_uppercase());
            let Some(ref_op) = reference["paths"]
                .get(path.as_str())
                .and_then(|i| i.get(method))
            else {
                if !EXTRA_OPERATIONS
                    .contains(&(method.to_ascii_uppercase().as_str(), path.as_str()))
                {
                    problems.push(format!("{route}: not in the reference document"));
                }
                continue;
            };

            if op["operationId"] != ref_op["operationId"] {
                problems.push(format!(
                    "{route}: operationId {}, reference {}",
                    op["operationId"], ref_op["operationId"]
                ));
            }

            let (got, want) = (params(op), params(ref_op));
            if got != want {
                problems.push(format!(
                    "{route}: parameters differ: missing {}, extra {}",
                    fmt_set(&want.difference(&got).cloned().collect()),
                    fmt_set(&got.difference(&want).cloned().collect()),
                ));
            }

            match (content(&op["requestBody"]), content(&ref_op["requestBody"])) {
                (None, None) => {}
                (Some(_), None) => {
                    problems.push(format!("{route}: has a request body, the reference none"))
                }
                (None, Some(_)) => {
                    problems.push(format!("{route}: no request body, the reference has one"))
                }
                (Some((our_types, our_schema)), Some((ref_types, ref_schema))) => {
                    if our_types != ref_types {
                        problems.push(format!(
                            "{route}: request content types {}, reference {}",
                            fmt_set(&our_types),
                            fmt_set(&ref_types)
                        ));
                    }
                    compare_schema(
                        "request body",
                        &route,
                        &our_schema,
                        &ref_schema,
                        &ours,
                        &reference,
                        &mut problems,
                    );
                }
            }

            let ref_ok = &ref_op["responses"]["200"];
            if ref_ok.is_null() {
                continue;
            }
            let our_ok = &op["responses"]["200"];
            if our_ok.is_null() {
                let codes: Vec<&String> = op["responses"]
                    .as_object()
                    .map(|r| r.keys().collect())
                    .unwrap_or_default();
                problems.push(format!("{route}: no 200 response (documents {codes:?})"));
                continue;
            }
            let our_schema = content(our_ok).map(|c| c.1).unwrap_or(Value::Null);
            let ref_schema = content(ref_ok).map(|c| c.1).unwrap_or(Value::Null);
            compare_schema(
                "200 response",
                &route,
                &our_schema,
                &ref_schema,
                &ours,
                &reference,
                &mut problems,
            );
        }
    }

    assert!(checked > 0, "our document has no operations");
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("openapi mismatch: {p}");
        }
        panic!(
            "{} mismatch(es) between our OpenAPI document and Letta 0.8.12's over {checked} operations (listed above)",
            problems.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_serve_swagger_ui() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for path in ["/docs/", "/docs"] {
        let resp = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let content_type = resp.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            content_type.starts_with("text/html"),
            "{path}: content-type {content_type}"
        );
        let html = resp.text().await.expect("body");
        assert!(
            html.contains("<html") && html.contains("swagger-ui"),
            "{path}: {html}"
        );
    }
    let resp = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    let js = resp.text().await.expect("body");
    assert!(
        js.contains("/openapi.json"),
        "the UI loads our document: {js}"
    );

    let (status, doc) = app.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["info"]["version"], "0.8.12");
}

/// Every operation documents its 404 and 422 with the error bodies (FastAPI's names for the
/// 422), every other error status has the `{"detail": "…"}` body, and nothing but the SSE
/// streams is documented as anything but JSON.
#[test]
fn errors_and_content_types_are_documented() {
    let ours = our_document();
    let reference = reference_document();
    let schemas = &ours["components"]["schemas"];
    for name in ["HTTPValidationError", "ValidationError"] {
        assert_eq!(
            schemas[name], reference["components"]["schemas"][name],
            "{name} is FastAPI's"
        );
    }
    assert_eq!(
        schemas["HTTPError"]["required"],
        serde_json::json!(["detail"])
    );
    assert_eq!(
        schemas["HTTPError"]["properties"]["detail"]["type"],
        "string"
    );

    let mut problems = Vec::new();
    for (path, item) in ours["paths"].as_object().expect("paths") {
        for &method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let route = format!("{} {path}", method.to_ascii_uppercase());
            for (code, want) in [("404", "HTTPError"), ("422", "HTTPValidationError")] {
                let schema = &op["responses"][code]["content"]["application/json"]["schema"];
                if ref_name(schema).as_deref() != Some(want) {
                    problems.push(format!("{route}: {code} is not documented as {want}"));
                }
            }
            for (code, response) in op["responses"].as_object().into_iter().flatten() {
                let Some(content) = response["content"].as_object() else {
                    if !code.starts_with('2') {
                        problems.push(format!("{route}: {code} has no body schema"));
                    }
                    continue;
                };
                for content_type in content.keys() {
                    let sse = content_type == "text/event-stream" && code == "200";
                    if content_type != "application/json" && !sse {
                        problems.push(format!("{route}: {code} documented as {content_type}"));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");

    // Timestamps are naive UTC, which the `date-time` format does not admit (the fuzz stage's
    // response-schema check found the passages documented so).
    for field in ["created_at", "updated_at"] {
        let schema = &schemas["Passage"]["properties"][field];
        assert!(schema["format"].is_null(), "Passage.{field}: {schema}");
    }

    // Strings, numbers, booleans and objects are accepted and returned.
    let value = &schemas["IdentityProperty"]["properties"]["value"];
    let types: Vec<&str> = value["anyOf"]
        .as_array()
        .expect("IdentityProperty.value is a union")
        .iter()
        .filter_map(|v| v["type"].as_str())
        .collect();
    assert_eq!(types, ["string", "integer", "number", "boolean", "object"]);
}
