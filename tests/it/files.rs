//! Ingestion of uploaded files: every accepted format through to searchable passages
//! (including a PDF generated here), progress and errors on the file's metadata, limits,
//! deletion while a file is being ingested, a server killed mid-ingestion, and the sweep
//! that fails the files of a replica that never came back (but not a slow live one).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use letta_rs::replica::ReplicaId;
use letta_rs::schemas::file::{FileMetadata, FileProcessingStatus};

use crate::helpers::{self, TestApp, id_of};
use crate::llm_test;
use crate::mock_llm::MockLlm;
use crate::sources::{
    create_source, hanging_endpoint, upload, wait_for_file, wait_for_file_status,
};

/// A PDF with one page per entry of `pages`, each line of a page drawn as text.
pub(crate) fn make_pdf(pages: &[Vec<String>]) -> Vec<u8> {
    use lopdf::content::{Content, Operation};
    use lopdf::{Document, Object, Stream, dictionary};

    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Courier",
    });
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let mut kids: Vec<Object> = Vec::new();
    for lines in pages {
        let mut ops = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 11.into()]),
            Operation::new("TL", vec![14.into()]),
            Operation::new("Td", vec![50.into(), 780.into()]),
        ];
        for line in lines {
            ops.push(Operation::new(
                "Tj",
                vec![Object::string_literal(line.as_str())],
            ));
            ops.push(Operation::new("T*", vec![]));
        }
        ops.push(Operation::new("ET", vec![]));
        let content = Content { operations: ops };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => count,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

/// The source passages nearest to `query` (the mock's embedding of it).
async fn search(app: &TestApp, source_id: &str, query: &str, limit: i64) -> Vec<String> {
    let vector = MockLlm::embedding_for(query, 1536);
    app.store
        .search_source_passages(&app.org_id, &[source_id.to_owned()], &vector, limit)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.passage.text)
        .collect()
}

llm_test!(
    every_format_becomes_searchable_passages,
    |app: TestApp, llm: MockLlm| async move {
        let source = id_of(&create_source(&app, "library", &llm.base_url()).await);
        let files: Vec<(&str, Option<&str>, String, &str)> = vec![
            (
                "notes.txt",
                None,
                "Plain notes mention the zeppelin hangar.".into(),
                "zeppelin",
            ),
            (
                "guide.md",
                Some("text/markdown"),
                "# Guide\n\nThe walrus protocol is documented here. It is simple.".into(),
                "walrus",
            ),
            (
                "data.json",
                None,
                r#"{"animal": "ocelot", "count": 3}"#.into(),
                "ocelot",
            ),
            (
                "rows.jsonl",
                None,
                "{\"a\": \"quokka\"}\n{\"a\": \"other\"}\n".into(),
                "quokka",
            ),
            (
                "table.csv",
                Some("text/csv"),
                "name,kind\nnarwhal,whale\n".into(),
                "narwhal",
            ),
            (
                "script.py",
                None,
                "def axolotl():\n    return 'axolotl'\n".into(),
                "axolotl",
            ),
            (
                "page.html",
                None,
                "<html><body><p>The pangolin page</p></body></html>".into(),
                "pangolin",
            ),
            (
                "conf.xml",
                None,
                "<root><item>capybara</item></root>".into(),
                "capybara",
            ),
            (
                "conf.yaml",
                None,
                "animal: wombat\nlegs: 4\n".into(),
                "wombat",
            ),
            (
                "conf.toml",
                None,
                "[zoo]\nanimal = \"platypus\"\n".into(),
                "platypus",
            ),
        ];
        let mut ids = Vec::new();
        for (name, ct, text, _) in &files {
            let (status, file) = upload(&app, &source, name, *ct, text.as_bytes()).await;
            assert_eq!(status, StatusCode::OK, "{name}: {file}");
            ids.push(id_of(&file));
        }
        let pdf = make_pdf(&[
            vec!["The first page is about the okapi.".to_owned()],
            vec!["The second page describes the tapir.".to_owned()],
        ]);
        let (status, file) =
            upload(&app, &source, "report.pdf", Some("application/pdf"), &pdf).await;
        assert_eq!(status, StatusCode::OK, "{file}");
        assert_eq!(file["file_type"], "application/pdf");
        let pdf_id = id_of(&file);

        for (id, (name, _, _, word)) in ids.iter().zip(&files) {
            let done = wait_for_file(&app, &source, id).await;
            assert_eq!(done["processing_status"], "completed", "{name}: {done}");
            assert!(done["error_message"].is_null());
            assert_eq!(done["total_chunks"], done["chunks_embedded"], "{done}");
            assert!(done["total_chunks"].as_i64().unwrap() >= 1);
            let hits = search(&app, &source, word, 1).await;
            assert!(
                hits[0].contains(word),
                "{name}: searching {word} found {hits:?}"
            );
        }
        let done = wait_for_file(&app, &source, &pdf_id).await;
        assert_eq!(done["processing_status"], "completed", "{done}");
        let (_, with_text) = app
            .get(&format!(
                "/v1/sources/{source}/files/{pdf_id}?include_content=true"
            ))
            .await;
        let text = with_text["content"].as_str().unwrap();
        assert!(text.contains("okapi") && text.contains("tapir"), "{text}");
        assert!(search(&app, &source, "tapir", 1).await[0].contains("tapir"));

        // The passages over HTTP: the source's, in order, with their file.
        let (status, passages) = app
            .get(&format!("/v1/sources/{source}/passages?limit=100"))
            .await;
        assert_eq!(status, StatusCode::OK, "{passages}");
        let passages = passages.as_array().unwrap();
        assert!(passages.len() >= 11, "{}", passages.len());
        for p in passages {
            assert_eq!(p["source_id"], json!(source));
            assert!(p["agent_id"].is_null());
            assert!(p["file_id"].as_str().unwrap().starts_with("file-"));
            assert!(p["file_name"].as_str().unwrap().starts_with("library/"));
            assert_eq!(p["embedding"].as_array().unwrap().len(), 1536);
        }
        let first = passages[0]["id"].as_str().unwrap();
        let (_, after) = app
            .get(&format!(
                "/v1/sources/{source}/passages?after={first}&limit=2"
            ))
            .await;
        assert_eq!(after.as_array().unwrap().len(), 2);
        assert_eq!(after[0]["id"], passages[1]["id"]);

        // Deleting a file removes its passages; deleting the source removes the rest.
        app.delete(&format!("/v1/sources/{source}/{pdf_id}")).await;
        assert!(
            search(&app, &source, "tapir", 50)
                .await
                .iter()
                .all(|t| !t.contains("tapir"))
        );
        app.delete(&format!("/v1/sources/{source}")).await;
        assert!(search(&app, &source, "zeppelin", 5).await.is_empty());
    }
);

llm_test!(
    parse_failures_end_in_error,
    |app: TestApp, llm: MockLlm| async move {
        let source = id_of(&create_source(&app, "broken", &llm.base_url()).await);
        let cases: Vec<(&str, Option<&str>, Vec<u8>, &str)> = vec![
            (
                "bad.txt",
                None,
                vec![0x68, 0x69, 0xff, 0xfe],
                "not valid UTF-8",
            ),
            (
                "bad.pdf",
                None,
                b"%PDF-1.4 this is not really a pdf".to_vec(),
                "Could not read the PDF",
            ),
            (
                "blank.md",
                None,
                b"   \n\n  ".to_vec(),
                "No text could be extracted",
            ),
        ];
        for (name, ct, bytes, expected) in cases {
            let (status, file) = upload(&app, &source, name, ct, &bytes).await;
            assert_eq!(status, StatusCode::OK, "{file}");
            let done = wait_for_file(&app, &source, &id_of(&file)).await;
            assert_eq!(done["processing_status"], "error", "{done}");
            let message = done["error_message"].as_str().unwrap();
            assert!(message.contains(expected), "{name}: {message}");
        }
        // The server is fine: a good file goes through.
        let (_, file) = upload(&app, &source, "good.txt", None, b"healthy server").await;
        let done = wait_for_file(&app, &source, &id_of(&file)).await;
        assert_eq!(done["processing_status"], "completed", "{done}");
        let (_, passages) = app.get(&format!("/v1/sources/{source}/passages")).await;
        assert_eq!(
            passages.as_array().unwrap().len(),
            1,
            "no passages of the failed files"
        );
    }
);

llm_test!(
    text_longer_than_the_limit_fails,
    config = |cfg: &mut letta_rs::config::Config| cfg.max_file_text_chars = 100,
    |app: TestApp, llm: MockLlm| async move {
        let source = id_of(&create_source(&app, "limits", &llm.base_url()).await);
        let (_, file) = upload(
            &app,
            &source,
            "long.txt",
            None,
            "word ".repeat(30).as_bytes(),
        )
        .await;
        let done = wait_for_file(&app, &source, &id_of(&file)).await;
        assert_eq!(done["processing_status"], "error");
        assert!(
            done["error_message"]
                .as_str()
                .unwrap()
                .contains("LETTA_MAX_FILE_TEXT_CHARS"),
            "{done}"
        );
    }
);

llm_test!(
    embedding_failures_are_recorded,
    |app: TestApp, llm: MockLlm| async move {
        let source = id_of(&create_source(&app, "flaky", &llm.base_url()).await);
        llm.fail_embeddings(400, 1);
        let (_, file) = upload(&app, &source, "a.txt", None, b"some text").await;
        let done = wait_for_file(&app, &source, &id_of(&file)).await;
        assert_eq!(done["processing_status"], "error", "{done}");
        assert!(
            done["error_message"]
                .as_str()
                .unwrap()
                .starts_with("Embedding provider"),
            "{done}"
        );
    }
);

llm_test!(
    deleting_while_ingesting_is_safe,
    |app: TestApp, _llm: MockLlm| async move {
        // Embeddings never answer: the files stay in `embedding` until deleted.
        let endpoint = hanging_endpoint().await;
        let source = id_of(&create_source(&app, "slow", &endpoint).await);
        let (_, file) = upload(&app, &source, "a.txt", None, b"first file text").await;
        let file_id = id_of(&file);
        let embedding = wait_for_file_status(&app, &source, &file_id, &["embedding"]).await;
        assert!(embedding["error_message"].is_null());
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

        let (_, second) = upload(&app, &source, "b.txt", None, b"second file text").await;
        wait_for_file_status(&app, &source, &id_of(&second), &["embedding"]).await;
        let (status, _) = app.delete(&format!("/v1/sources/{source}")).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = app.get(&format!("/v1/sources/{source}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // The server goes on serving.
        let (status, _) = app.get("/v1/sources/count").await;
        assert_eq!(status, StatusCode::OK);
    }
);

/// A server killed with SIGKILL while it ingests a file: the restarted server marks the file
/// failed instead of leaving it `embedding` forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_leaves_no_file_embedding_forever() {
    use crate::replicas::{free_port, start_replica_with};
    let llm = MockLlm::start().await;
    let (db, store) = helpers::isolated_postgres().await;
    let (org, user) = helpers::new_org_and_user(&store).await;
    let env = [("DATABASE_URL", db.clone())];
    let mut a = start_replica_with(&llm, &store, &org.id, &user.id, free_port(), &env).await;
    let endpoint = hanging_endpoint().await;
    let source = id_of(&create_source(&a.app, "crash", &endpoint).await);
    let (_, file) = upload(&a.app, &source, "a.txt", None, b"text being embedded").await;
    let file_id = id_of(&file);
    wait_for_file_status(&a.app, &source, &file_id, &["embedding"]).await;

    a.child.kill().unwrap();
    a.child.wait().unwrap();

    let b = start_replica_with(&llm, &store, &org.id, &user.id, free_port(), &env).await;
    let done = wait_for_file(&b.app, &source, &file_id).await;
    assert_eq!(done["processing_status"], "error", "{done}");
    assert!(
        done["error_message"].as_str().unwrap().contains("stopped"),
        "{done}"
    );
    // Uploading again works on the restarted server.
    let (status, again): (StatusCode, Value) =
        upload(&b.app, &source, "a.txt", None, b"text being embedded").await;
    assert_eq!(status, StatusCode::OK, "{again}");
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// A file row as a crashed replica leaves it: `embedding` half done, its last sign of life
/// an hour ago, another replica's name on it.
fn left_by_a_crashed_replica(
    app: &TestApp,
    source_id: &str,
    name: &str,
    status: FileProcessingStatus,
) -> FileMetadata {
    let an_hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    FileMetadata {
        id: letta_rs::schemas::new_id("file"),
        organization_id: Some(app.org_id.clone()),
        source_id: source_id.to_owned(),
        file_name: Some(format!("left/{name}")),
        original_file_name: Some(name.to_owned()),
        file_path: None,
        file_type: Some("text/plain".to_owned()),
        file_size: Some(100),
        file_creation_date: None,
        file_last_modified_date: None,
        processing_status: status,
        error_message: None,
        total_chunks: Some(10),
        chunks_embedded: Some(4),
        created_at: Some(an_hour_ago),
        updated_at: Some(an_hour_ago),
        is_deleted: false,
        content: None,
    }
}

llm_test!(
    a_running_server_fails_the_files_of_a_replica_that_never_came_back,
    own_database,
    config = |cfg: &mut letta_rs::config::Config| cfg.run_stale_after_secs = 1,
    |app: TestApp, llm: MockLlm| async move {
        let source = id_of(&create_source(&app, "left", &llm.base_url()).await);
        let crashed = ReplicaId {
            name: "crashed-node:8283".to_owned(),
            incarnation: "gone-for-good".to_owned(),
        };
        let stuck =
            left_by_a_crashed_replica(&app, &source, "a.txt", FileProcessingStatus::Embedding);
        let ended =
            left_by_a_crashed_replica(&app, &source, "b.txt", FileProcessingStatus::Completed);
        for file in [&stuck, &ended] {
            app.store.create_file(file, &crashed).await.unwrap();
        }
        // Written after this server started: only its periodic sweep can reach the row.
        let done = wait_for_file(&app, &source, &stuck.id).await;
        assert_eq!(done["processing_status"], "error", "{done}");
        assert_eq!(
            done["error_message"],
            "The server processing this file stopped before it finished; upload the file again",
            "{done}"
        );
        assert_eq!(done["chunks_embedded"], 4, "{done}");
        // An ended file is left as it is, however old.
        let (_, ended) = app
            .get(&format!("/v1/sources/{source}/files/{}", ended.id))
            .await;
        assert_eq!(ended["processing_status"], "completed", "{ended}");
        assert!(ended["error_message"].is_null(), "{ended}");
    }
);

llm_test!(
    a_slow_live_ingestion_is_not_taken_for_dead,
    own_database,
    config = |cfg: &mut letta_rs::config::Config| cfg.run_stale_after_secs = 1,
    |app: TestApp, llm: MockLlm| async move {
        // Each embedding call outlasts the stale timeout (1 s) three times over; the sweep
        // runs every half second meanwhile.
        llm.set_embedding_delay(Duration::from_secs(3));
        let source = id_of(&create_source(&app, "slow", &llm.base_url()).await);
        let text = "The heron waits by the slow river. ".repeat(40);
        let (status, file) = upload(&app, &source, "slow.txt", None, text.as_bytes()).await;
        assert_eq!(status, StatusCode::OK, "{file}");
        let done = wait_for_file(&app, &source, &id_of(&file)).await;
        assert_eq!(done["processing_status"], "completed", "{done}");
        assert!(done["error_message"].is_null(), "{done}");
        assert_eq!(done["total_chunks"], done["chunks_embedded"], "{done}");
        assert!(!llm.embedding_requests().is_empty());
        assert!(!search(&app, &source, "heron river", 1).await.is_empty());
    }
);
