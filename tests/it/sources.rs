//! `/v1/sources`: sources, uploads (multipart, media types, limits), files and their
//! metadata, on both backends. Ingestion itself is in `files.rs`, the agent side and the
//! file tools in `file_tools.rs`.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, assert_422, id_of};

/// An embedding configuration of the OpenAI type at `endpoint` (the mock's, or one that
/// never answers).
pub(crate) fn embedding_config(endpoint: &str) -> Value {
    json!({
        "embedding_endpoint_type": "openai",
        "embedding_endpoint": endpoint,
        "embedding_model": "text-embedding-3-small",
        "embedding_dim": 1536,
        "embedding_chunk_size": 300,
        "batch_size": 32,
    })
}

/// Creates a source named `name` embedding at `endpoint`.
pub(crate) async fn create_source(app: &TestApp, name: &str, endpoint: &str) -> Value {
    let (status, body) = app
        .post(
            "/v1/sources/",
            &json!({"name": name, "embedding_config": embedding_config(endpoint), "description": format!("{name} docs"), "instructions": "Read them."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A multipart body with one `file` part.
fn multipart(file_name: &str, content_type: Option<&str>, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----letta-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    body.extend_from_slice(
        format!("Content-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n")
            .as_bytes(),
    );
    if let Some(ct) = content_type {
        body.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
    }
    body.extend_from_slice(b"\r\n");
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Uploads a file; answers the status and body.
pub(crate) async fn upload(
    app: &TestApp,
    source_id: &str,
    file_name: &str,
    content_type: Option<&str>,
    bytes: &[u8],
) -> (StatusCode, Value) {
    let (ct, body) = multipart(file_name, content_type, bytes);
    let resp = app
        .client
        .post(app.url(&format!("/v1/sources/{source_id}/upload")))
        .header("user_id", &app.user_id)
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .expect("upload");
    let status = resp.status();
    let bytes = resp.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Polls the file's metadata until its status is terminal (completed or error).
pub(crate) async fn wait_for_file(app: &TestApp, source_id: &str, file_id: &str) -> Value {
    wait_for_file_status(app, source_id, file_id, &["completed", "error"]).await
}

pub(crate) async fn wait_for_file_status(
    app: &TestApp,
    source_id: &str,
    file_id: &str,
    wanted: &[&str],
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, file) = app
            .get(&format!("/v1/sources/{source_id}/files/{file_id}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{file}");
        if wanted.contains(&file["processing_status"].as_str().unwrap_or_default()) {
            return file;
        }
        assert!(Instant::now() < deadline, "file stuck: {file}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An address that accepts connections and never answers: embeddings there hang.
pub(crate) async fn hanging_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}/v1")
}

both_backends!(source_crud_round_trip, |app: TestApp| async move {
    let source = create_source(&app, "handbook", "http://127.0.0.1:9/v1").await;
    let id = id_of(&source);
    assert!(id.starts_with("source-"));
    assert_eq!(source["name"], "handbook");
    assert_eq!(source["description"], "handbook docs");
    assert_eq!(source["instructions"], "Read them.");
    assert_eq!(
        source["embedding_config"]["embedding_model"],
        "text-embedding-3-small"
    );
    assert!(source["created_at"].is_string());

    let (status, got) = app.get(&format!("/v1/sources/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, source);
    let (_, by_name) = app.get("/v1/sources/name/handbook").await;
    assert_eq!(by_name, json!(id));
    let (_, count) = app.get("/v1/sources/count").await;
    assert_eq!(count, json!(1));
    let other = create_source(&app, "other", "http://127.0.0.1:9/v1").await;
    let (_, list) = app.get("/v1/sources").await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["handbook", "other"]);

    let (status, modified) = app
        .patch(
            &format!("/v1/sources/{id}"),
            &json!({"name": "manual", "description": "new", "metadata": {"k": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{modified}");
    assert_eq!(modified["name"], "manual");
    assert_eq!(modified["description"], "new");
    assert_eq!(modified["instructions"], "Read them.");
    assert_eq!(modified["metadata"], json!({"k": 1}));
    let (_, got) = app.get(&format!("/v1/sources/{id}")).await;
    assert_eq!(got["name"], "manual");

    let (_, meta) = app.get("/v1/sources/metadata").await;
    assert_eq!(meta["total_sources"], 2);
    assert_eq!(meta["total_files"], 0);
    assert_eq!(meta["sources"][0]["source_name"], "manual");

    // Another organization sees none of it.
    let stranger = app.other_org_user().await;
    let (status, _) = app
        .request_as(
            &stranger,
            reqwest::Method::GET,
            &format!("/v1/sources/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = app.delete(&format!("/v1/sources/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, Value::Null);
    let (status, body) = app.get(&format!("/v1/sources/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["detail"], format!("Source with id={id} not found."));
    let (_, count) = app.get("/v1/sources/count").await;
    assert_eq!(count, json!(1));
    let _ = other;
});

both_backends!(source_bad_input_writes_nothing, |app: TestApp| async move {
    create_source(&app, "dup", "http://127.0.0.1:9/v1").await;
    let (status, body) = app
        .post(
            "/v1/sources/",
            &json!({"name": "dup", "embedding_config": embedding_config("http://127.0.0.1:9/v1")}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = app.post("/v1/sources/", &json!({"name": "noembed"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["detail"],
        "Must specify either embedding or embedding_config in request"
    );
    let (status, body) = app
        .post("/v1/sources/", &json!({"name": "x", "embedding_config": embedding_config("http://127.0.0.1:9/v1"), "bogus": 1}))
        .await;
    assert_422(status, &body, &[json!("body"), json!("bogus")]);
    let (status, _) = app
        .post(
            "/v1/sources/",
            &json!({"name": "a/b", "embedding_config": embedding_config("http://127.0.0.1:9/v1")}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, count) = app.get("/v1/sources/count").await;
    assert_eq!(count, json!(1));

    // Unknown ids.
    for (method, path) in [
        (reqwest::Method::GET, "/v1/sources/source-nope"),
        (reqwest::Method::DELETE, "/v1/sources/source-nope"),
        (reqwest::Method::GET, "/v1/sources/name/nope"),
        (reqwest::Method::GET, "/v1/sources/source-nope/files"),
        (reqwest::Method::GET, "/v1/sources/source-nope/passages"),
        (
            reqwest::Method::GET,
            "/v1/sources/source-nope/files/file-nope",
        ),
        (reqwest::Method::DELETE, "/v1/sources/source-nope/file-nope"),
    ] {
        let (status, body) = app.request(method.clone(), path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
        assert!(body["detail"].is_string());
    }
    let (status, _) = app
        .patch("/v1/sources/source-nope", &json!({"name": "z"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A rename onto a taken name.
    let other = id_of(&create_source(&app, "second", "http://127.0.0.1:9/v1").await);
    let (status, _) = app
        .patch(&format!("/v1/sources/{other}"), &json!({"name": "dup"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = app.get("/v1/sources/source-x/passages?limit=-1").await;
    assert_422(status, &body, &[json!("query"), json!("limit")]);
});

both_backends!(upload_refusals_write_nothing, |app: TestApp| async move {
    let source = id_of(&create_source(&app, "docs", "http://127.0.0.1:9/v1").await);
    // The original's 415 for types it does not take.
    let (status, body) = upload(&app, &source, "photo.png", Some("image/png"), b"\x89PNG").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("Unsupported file type: image/png (filename: photo.png)")
    );
    let (status, _) = upload(&app, &source, "archive", None, b"data").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Empty file, no file part, not multipart, unknown source.
    let (status, body) = upload(&app, &source, "empty.txt", Some("text/plain"), b"").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["detail"], "The file empty.txt is empty");
    let resp = app
        .client
        .post(app.url(&format!("/v1/sources/{source}/upload")))
        .header("user_id", &app.user_id)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let (status, body) = upload(&app, "source-nope", "a.txt", Some("text/plain"), b"hello").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, files) = app.get(&format!("/v1/sources/{source}/files")).await;
    assert_eq!(files, json!([]));
    let (_, meta) = app.get("/v1/sources/metadata").await;
    assert_eq!(meta["total_files"], 0);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_uploads_are_413() {
    let app = TestApp::spawn_with(crate::helpers::Backend::Sqlite, |cfg| {
        cfg.max_upload_bytes = 1000;
        cfg.max_body_bytes = 4096;
    })
    .await;
    let source = id_of(&create_source(&app, "docs", "http://127.0.0.1:9/v1").await);
    let (status, body) = upload(
        &app,
        &source,
        "big.txt",
        Some("text/plain"),
        &vec![b'a'; 1001],
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("LETTA_MAX_UPLOAD_BYTES")
    );
    // Larger than the general request limit too: still a clean 413. (Small enough to fit the
    // socket buffers, so the client finishes writing before the server closes.)
    let (status, _) = upload(
        &app,
        &source,
        "huge.txt",
        Some("text/plain"),
        &vec![b'a'; 128 * 1024],
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, file) = upload(
        &app,
        &source,
        "fits.txt",
        Some("text/plain"),
        &vec![b'a'; 1000],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{file}");
    let (_, files) = app.get(&format!("/v1/sources/{source}/files")).await;
    assert_eq!(files.as_array().unwrap().len(), 1);
}

both_backends!(files_list_get_delete, |app: TestApp| async move {
    // Embeddings fail (nothing listens), so the files end in error; their metadata is what
    // this test reads.
    let source = id_of(&create_source(&app, "docs", "http://127.0.0.1:9/v1").await);
    let (status, file) = upload(
        &app,
        &source,
        "notes.txt",
        None,
        b"Some notes about things.",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{file}");
    let file_id = id_of(&file);
    assert!(file_id.starts_with("file-"));
    assert_eq!(file["processing_status"], "pending");
    assert_eq!(file["file_name"], "notes.txt");
    assert_eq!(file["original_file_name"], "notes.txt");
    assert_eq!(file["file_type"], "text/plain");
    assert_eq!(file["file_size"], 24);
    assert_eq!(file["source_id"], json!(source));
    // The same name again gets a numbered name.
    let (_, again) = upload(&app, &source, "notes.txt", None, b"More notes.").await;
    assert_eq!(again["file_name"], "notes_(1).txt");

    let done = wait_for_file(&app, &source, &file_id).await;
    assert_eq!(done["processing_status"], "error", "{done}");
    assert!(
        done["error_message"]
            .as_str()
            .unwrap()
            .contains("Embedding provider"),
        "{done}"
    );
    let (_, with_content) = app
        .get(&format!(
            "/v1/sources/{source}/files/{file_id}?include_content=true"
        ))
        .await;
    assert_eq!(with_content["content"], "Some notes about things.");

    let (status, files) = app.get(&format!("/v1/sources/{source}/files")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(files.as_array().unwrap().len(), 2);
    assert_eq!(files[0]["id"], json!(file_id));
    assert!(files[0]["content"].is_null());
    let (_, page) = app
        .get(&format!(
            "/v1/sources/{source}/files?after={file_id}&limit=5"
        ))
        .await;
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["file_name"], "notes_(1).txt");
    let (_, meta) = app.get("/v1/sources/metadata").await;
    assert_eq!(meta["total_files"], 2);
    assert_eq!(meta["total_size"], 24 + 11);
    assert_eq!(
        meta["sources"][0]["files"][0]["file_name"],
        "docs/notes.txt"
    );

    // A file of another source is not found under this one.
    let other = id_of(&create_source(&app, "other", "http://127.0.0.1:9/v1").await);
    let (status, _) = app
        .get(&format!("/v1/sources/{other}/files/{file_id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.delete(&format!("/v1/sources/{other}/{file_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let resp = app
        .client
        .delete(app.url(&format!("/v1/sources/{source}/{file_id}")))
        .header("user_id", &app.user_id)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (status, _) = app
        .get(&format!("/v1/sources/{source}/files/{file_id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.delete(&format!("/v1/sources/{source}/{file_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Deleting the source takes its files along.
    app.delete(&format!("/v1/sources/{source}")).await;
    let (_, meta) = app.get("/v1/sources/metadata").await;
    assert_eq!(meta["total_files"], 0);
});
