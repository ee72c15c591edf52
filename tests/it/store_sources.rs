//! The sources and files store on its three vector paths (SQLite, Postgres exact scan,
//! Postgres with pgvector): file passages beside archival ones, searched by source; writes
//! of a deleted or ended file refused; stopped ingestions failed at start-up and silent ones
//! by the sweep; the open-file limit kept in one transaction.

use letta_rs::replica::ReplicaId;
use letta_rs::schemas::file::{FileMetadata, FileProcessingStatus};
use letta_rs::schemas::new_id;
use letta_rs::schemas::passage::Passage;
use letta_rs::schemas::source::Source;
use letta_rs::store::{DynStore, FileProgress, FileToOpen, Leftovers};

use crate::store_fixtures::*;
use crate::store_passages::{Ctx, Path};

macro_rules! source_store_test {
    ($name:ident, $body:expr) => {
        async fn $name(ctx: Ctx) {
            ($body)(ctx).await;
        }

        mod $name {
            use super::{Ctx, Path};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(Ctx::new(Path::Sqlite).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(Ctx::new(Path::Postgres).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn pgvector() {
                super::$name(Ctx::new(Path::PgVector).await).await;
            }
        }
    };
}

fn replica(name: &str, incarnation: &str) -> ReplicaId {
    ReplicaId {
        name: name.to_owned(),
        incarnation: incarnation.to_owned(),
    }
}

async fn make_source(store: &DynStore, org: &str, name: &str) -> Source {
    let source = Source {
        id: new_id("source"),
        name: name.to_owned(),
        description: None,
        instructions: None,
        embedding_config: embedding_config(),
        organization_id: Some(org.to_owned()),
        metadata: None,
        created_by_id: None,
        last_updated_by_id: None,
        created_at: Some(ts(1)),
        updated_at: Some(ts(1)),
    };
    store.create_source(&source).await.unwrap();
    source
}

async fn make_file(
    store: &DynStore,
    org: &str,
    source: &Source,
    name: &str,
    by: &ReplicaId,
) -> FileMetadata {
    let file = file_row(org, source, name);
    store.create_file(&file, by).await.unwrap();
    file
}

/// A `pending` file of the source, just created.
fn file_row(org: &str, source: &Source, name: &str) -> FileMetadata {
    FileMetadata {
        id: new_id("file"),
        organization_id: Some(org.to_owned()),
        source_id: source.id.clone(),
        file_name: Some(format!("{}/{name}", source.name)),
        original_file_name: Some(name.to_owned()),
        file_path: None,
        file_type: Some("text/plain".to_owned()),
        file_size: Some(10),
        file_creation_date: None,
        file_last_modified_date: None,
        processing_status: FileProcessingStatus::Pending,
        error_message: None,
        total_chunks: None,
        chunks_embedded: None,
        created_at: Some(ts(2)),
        // Unfinished rows look alive, or a server's stale-file sweep on the shared database
        // would fail them.
        updated_at: Some(chrono::Utc::now()),
        is_deleted: false,
        content: None,
    }
}

fn file_passage(org: &str, file: &FileMetadata, text: &str, embedding: Vec<f32>) -> Passage {
    Passage {
        created_by_id: None,
        last_updated_by_id: None,
        created_at: ts(3),
        updated_at: None,
        is_deleted: false,
        organization_id: Some(org.to_owned()),
        agent_id: None,
        source_id: Some(file.source_id.clone()),
        file_id: Some(file.id.clone()),
        file_name: file.file_name.clone(),
        metadata: Some(serde_json::Map::new()),
        id: new_id("passage"),
        text: text.to_owned(),
        embedding: Some(embedding),
        embedding_config: Some(embedding_config()),
    }
}

fn unit(dim: usize, axis: usize, tilt: f32) -> Vec<f32> {
    let mut v = vec![0.0; dim];
    v[axis] = 1.0;
    v[(axis + 1) % dim] = tilt;
    v
}

source_store_test!(
    file_passages_are_searched_by_source,
    |ctx: Ctx| async move {
        let (store, org) = (&ctx.store, ctx.org_id.as_str());
        let me = replica("r", "1");
        let a = make_source(store, org, "a").await;
        let b = make_source(store, org, "b").await;
        let fa = make_file(store, org, &a, "x.txt", &me).await;
        let fb = make_file(store, org, &b, "y.txt", &me).await;
        let dim = 8;
        assert!(
            store
                .insert_file_passages(
                    &fa.id,
                    &[
                        file_passage(org, &fa, "near", unit(dim, 0, 0.1)),
                        file_passage(org, &fa, "far", unit(dim, 4, 0.0)),
                    ]
                )
                .await
                .unwrap()
        );
        assert!(
            store
                .insert_file_passages(
                    &fb.id,
                    &[file_passage(org, &fb, "other source", unit(dim, 0, 0.0))]
                )
                .await
                .unwrap()
        );
        // An agent's archival passage on the same axis is never a file hit.
        let agent = make_agent(store, org, "reader", 1).await;
        let mut archival = file_passage(org, &fa, "archival", unit(dim, 0, 0.0));
        archival.agent_id = Some(agent.id.clone());
        archival.source_id = None;
        archival.file_id = None;
        store.insert_passages(&[archival]).await.unwrap();

        let hits = store
            .search_source_passages(org, std::slice::from_ref(&a.id), &unit(dim, 0, 0.0), 5)
            .await
            .unwrap();
        let texts: Vec<&str> = hits.iter().map(|h| h.passage.text.as_str()).collect();
        assert_eq!(texts, vec!["near", "far"], "{:?}", ctx.path);
        assert!(hits[0].distance < hits[1].distance);
        let both = store
            .search_source_passages(org, &[a.id.clone(), b.id.clone()], &unit(dim, 0, 0.0), 1)
            .await
            .unwrap();
        assert_eq!(both[0].passage.text, "other source");
        assert!(
            store
                .search_source_passages(org, &[], &unit(dim, 0, 0.0), 5)
                .await
                .unwrap()
                .is_empty()
        );
        // Other organizations see nothing.
        assert!(
            store
                .search_source_passages("org-x", std::slice::from_ref(&a.id), &unit(dim, 0, 0.0), 5)
                .await
                .unwrap()
                .is_empty()
        );
        let file = store.get_file(org, &fa.id, false).await.unwrap().unwrap();
        assert_eq!(file.chunks_embedded, Some(2));
        // The archival listing of the agent is untouched by file passages.
        assert_eq!(store.count_agent_passages(&agent.id).await.unwrap(), 1);

        // Deleting the file removes its passages, and a late write of its job is refused.
        let removed = store.delete_file(org, &fa.id).await.unwrap().unwrap();
        assert_eq!(removed.item.id, fa.id);
        assert!(
            !store
                .insert_file_passages(&fa.id, &[file_passage(org, &fa, "late", unit(dim, 0, 0.0))])
                .await
                .unwrap()
        );
        assert!(!store.set_file_content(&fa.id, "late").await.unwrap());
        assert!(
            store
                .search_source_passages(org, std::slice::from_ref(&a.id), &unit(dim, 0, 0.0), 5)
                .await
                .unwrap()
                .is_empty()
        );
        // Deleting a source removes its files and passages.
        store.delete_source(org, &b.id).await.unwrap().unwrap();
        assert!(store.get_file(org, &fb.id, false).await.unwrap().is_none());
        assert!(
            store
                .list_source_passages(org, &b.id, None, None, None)
                .await
                .unwrap()
                .is_empty()
        );
    }
);

source_store_test!(
    stopped_ingestions_fail_and_ended_files_stay_ended,
    |ctx: Ctx| async move {
        let (store, org) = (&ctx.store, ctx.org_id.as_str());
        let old = replica("node", "old");
        let now = replica("node", "new");
        let elsewhere = replica("other", "x");
        let source = make_source(store, org, "s").await;
        let mine = make_file(store, org, &source, "a.txt", &old).await;
        let theirs = make_file(store, org, &source, "b.txt", &elsewhere).await;
        let done = make_file(store, org, &source, "c.txt", &old).await;
        let progress = |s| FileProgress {
            status: Some(s),
            ..FileProgress::default()
        };
        assert!(
            store
                .update_file_progress(&mine.id, &progress(FileProcessingStatus::Embedding))
                .await
                .unwrap()
        );
        assert!(
            store
                .update_file_progress(&done.id, &progress(FileProcessingStatus::Completed))
                .await
                .unwrap()
        );
        // An ended file takes no more progress.
        assert!(
            !store
                .update_file_progress(&done.id, &progress(FileProcessingStatus::Embedding))
                .await
                .unwrap()
        );

        let n = store
            .fail_unfinished_files(Leftovers::OlderIncarnations(&now), "stopped")
            .await
            .unwrap();
        assert_eq!(n, 1);
        let mine = store.get_file(org, &mine.id, false).await.unwrap().unwrap();
        assert_eq!(mine.processing_status, FileProcessingStatus::Error);
        assert_eq!(mine.error_message.as_deref(), Some("stopped"));
        let theirs_now = store
            .get_file(org, &theirs.id, false)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(theirs_now.processing_status, FileProcessingStatus::Pending);
        let done = store.get_file(org, &done.id, false).await.unwrap().unwrap();
        assert_eq!(done.processing_status, FileProcessingStatus::Completed);
        // (`Leftovers::All` is covered by the kill -9 test in files.rs: here it would touch
        // other tests' files in the shared database.)
    }
);

source_store_test!(
    files_silent_since_the_cutoff_fail_whoever_ingested_them,
    |ctx: Ctx| async move {
        let (store, org) = (&ctx.store, ctx.org_id.as_str());
        let source = make_source(store, org, "s").await;
        // The database is shared: live ingestions of other tests touch their files every
        // 20 s and those tests' servers fail files silent for 60 s, so this test's cutoff
        // lies between, and its silent file is older than the cutoff but younger than 60 s.
        // Other tests' dead jobs may leave files the sweep also fails: only this test's
        // files are checked.
        let silent_since = chrono::Utc::now() - chrono::Duration::seconds(45);
        let cutoff = chrono::Utc::now() - chrono::Duration::seconds(30);
        let mut files = Vec::new();
        for (name, status, last_seen) in [
            ("silent.txt", FileProcessingStatus::Embedding, silent_since),
            (
                "alive.txt",
                FileProcessingStatus::Parsing,
                chrono::Utc::now(),
            ),
            ("ended.txt", FileProcessingStatus::Completed, silent_since),
        ] {
            let file = FileMetadata {
                processing_status: status,
                updated_at: Some(last_seen),
                ..file_row(org, &source, name)
            };
            store
                .create_file(&file, &replica("elsewhere", "2"))
                .await
                .unwrap();
            files.push(file);
        }
        let n = store.fail_stale_files(cutoff, "abandoned").await.unwrap();
        assert!(n >= 1, "{n}");
        let status = |i: usize| {
            let id = files[i].id.clone();
            async move { store.get_file(org, &id, false).await.unwrap().unwrap() }
        };
        let silent = status(0).await;
        assert_eq!(silent.processing_status, FileProcessingStatus::Error);
        assert_eq!(silent.error_message.as_deref(), Some("abandoned"));
        assert!(silent.updated_at.unwrap() > cutoff);
        assert_eq!(
            status(1).await.processing_status,
            FileProcessingStatus::Parsing
        );
        assert_eq!(
            status(2).await.processing_status,
            FileProcessingStatus::Completed
        );
        // Failed once: a later sweep leaves it as it is.
        store.fail_stale_files(cutoff, "later").await.unwrap();
        let again = status(0).await;
        assert_eq!(again.error_message.as_deref(), Some("abandoned"));
        assert_eq!(again.updated_at, silent.updated_at);
    }
);

source_store_test!(
    open_files_keeps_the_most_recent_five,
    |ctx: Ctx| async move {
        let (store, org) = (&ctx.store, ctx.org_id.as_str());
        let me = replica("r", "1");
        let source = make_source(store, org, "s").await;
        let agent = make_agent(store, org, "reader", 1).await;
        store.attach_source(&agent.id, &source.id).await.unwrap();
        store.attach_source(&agent.id, &source.id).await.unwrap();
        let mut opens = Vec::new();
        for i in 0..7 {
            let f = make_file(store, org, &source, &format!("f{i}.txt"), &me).await;
            opens.push(FileToOpen {
                file_id: f.id.clone(),
                source_id: source.id.clone(),
                file_name: f.file_name.clone().unwrap(),
                visible_content: format!("content {i}"),
            });
        }
        // One at a time: the oldest opened are closed first.
        for (i, open) in opens.iter().enumerate() {
            let closed = store
                .open_files(org, &agent.id, std::slice::from_ref(open), 5)
                .await
                .unwrap();
            if i >= 5 {
                assert_eq!(closed, vec![opens[i - 5].file_name.clone()]);
            } else {
                assert!(closed.is_empty());
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        let ids = [agent.id.clone()];
        let files = store
            .file_agents_of(&ids)
            .await
            .unwrap()
            .remove(&agent.id)
            .unwrap();
        assert_eq!(files.len(), 7);
        assert_eq!(files.iter().filter(|f| f.is_open).count(), 5);
        assert!(
            files
                .iter()
                .filter(|f| !f.is_open)
                .all(|f| f.visible_content.is_none())
        );
        let closed = store
            .close_files(&agent.id, &[opens[6].file_name.clone()])
            .await
            .unwrap();
        assert_eq!(closed.len(), 4);
        // Detaching the source removes the agent's rows of its files.
        assert!(store.detach_source(&agent.id, &source.id).await.unwrap());
        assert!(!store.detach_source(&agent.id, &source.id).await.unwrap());
        assert!(store.file_agents_of(&ids).await.unwrap().is_empty());
    }
);
