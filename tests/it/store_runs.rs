//! Store conformance: runs (the jobs table) — user scoping, status transitions and the
//! terminal-status guard, listing, run messages, start-up recovery — and JSON columns
//! round-tripping byte for byte.

use letta_rs::schemas::message::{Message, MessageRole, text_part};
use letta_rs::schemas::run::{JobStatus, LettaRequestConfig, Run};
use letta_rs::store::sqlite::SqliteStore;
use letta_rs::store::{AgentPatch, DynStore, RunFilter};
use serde_json::{Map, Value, json};

use crate::helpers::{self, Backend};
use crate::store_fixtures::*;
use crate::store_steps::{make_user, run, step};
use crate::store_test;

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("a JSON object")
}

fn run_ids(runs: &[Run]) -> Vec<String> {
    runs.iter().map(|r| r.id.clone()).collect()
}

fn message_ids(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.id.clone()).collect()
}

const TERMINAL: [JobStatus; 4] = [
    JobStatus::Completed,
    JobStatus::Failed,
    JobStatus::Cancelled,
    JobStatus::Expired,
];

store_test!(
    run_crud_is_scoped_to_the_user,
    |store: DynStore, org_id: String| async move {
        let agent = make_agent(&store, &org_id, "runner", 0).await;
        let owner = make_user(&store, &org_id).await;
        let stranger = make_user(&store, &org_id).await;
        let mut r = run(&org_id, &owner.id, Some(&agent.id), ts(0));
        r.metadata = Some(object(
            json!({"zeta": 1, "agent_id": agent.id, "alpha": {"y": 1, "b": 2}}),
        ));
        r.request_config = Some(LettaRequestConfig {
            use_assistant_message: true,
            assistant_message_tool_name: "send_message".to_owned(),
            assistant_message_tool_kwarg: "message".to_owned(),
            include_return_message_types: Some(vec!["assistant_message".to_owned()]),
        });
        r.callback_url = Some("https://example.com/hook".to_owned());
        store.create_run(&r).await.unwrap();
        assert!(matches!(
            store.create_run(&r).await,
            Err(letta_rs::store::StoreError::Unique(_))
        ));

        assert_eq!(
            store.get_run(&owner.id, &r.id).await.unwrap(),
            Some(r.clone())
        );
        assert_eq!(store.get_run(&stranger.id, &r.id).await.unwrap(), None);
        assert_eq!(store.get_run_any(&r.id).await.unwrap(), Some(r.clone()));
        assert_eq!(store.get_run_any("run-missing").await.unwrap(), None);

        // A run without optional JSON reads back with None.
        let plain = run(&org_id, &owner.id, None, ts(1));
        store.create_run(&plain).await.unwrap();
        let got = store.get_run(&owner.id, &plain.id).await.unwrap().unwrap();
        assert_eq!(got, plain);
        assert_eq!(got.metadata, None);
        assert_eq!(got.request_config, None);

        // Deleting: only the owner can, and the run's message links and step links go too.
        let m = message(&org_id, &agent.id, MessageRole::User, "linked");
        let mut s = step(&org_id, Some(&agent.id), ts(2));
        s.job_id = Some(r.id.clone());
        store
            .persist_step(Some(&s), std::slice::from_ref(&m), Some(&r.id))
            .await
            .unwrap();
        assert!(!store.delete_run(&stranger.id, &r.id).await.unwrap());
        assert!(store.get_run_any(&r.id).await.unwrap().is_some());
        assert!(store.delete_run(&owner.id, &r.id).await.unwrap());
        assert!(!store.delete_run(&owner.id, &r.id).await.unwrap());
        assert_eq!(store.get_run(&owner.id, &r.id).await.unwrap(), None);
        assert!(
            store
                .list_run_messages(&r.id, &run_page(None, None, None, true))
                .await
                .unwrap()
                .is_empty()
        );
        // The message itself stays; the step survives without its run.
        assert_eq!(
            store
                .get_messages(&org_id, std::slice::from_ref(&m.id))
                .await
                .unwrap(),
            vec![m]
        );
        let kept = store.get_step(&org_id, &s.id).await.unwrap().unwrap();
        assert_eq!(kept.job_id, None);
    }
);

store_test!(
    status_transitions_and_terminal_guard,
    |store: DynStore, org_id: String| async move {
        let user = make_user(&store, &org_id).await;
        let mut r = run(&org_id, &user.id, None, ts(0));
        store.create_run(&r).await.unwrap();

        r.status = JobStatus::Running;
        r.updated_at = Some(ts(1));
        r.metadata = Some(object(json!({"step": 1})));
        assert!(store.update_run(&r).await.unwrap());
        assert_eq!(
            store.get_run(&user.id, &r.id).await.unwrap(),
            Some(r.clone())
        );

        // Every field update_run writes.
        r.status = JobStatus::Completed;
        r.completed_at = Some(ts(5));
        r.updated_at = Some(ts(5));
        r.metadata = Some(object(json!({"step": 2, "done": true})));
        r.callback_url = Some("https://example.com/cb".to_owned());
        r.callback_sent_at = Some(ts(6));
        r.callback_status_code = Some(204);
        r.callback_error = Some("none".to_owned());
        assert!(store.update_run(&r).await.unwrap());
        let completed = store.get_run(&user.id, &r.id).await.unwrap().unwrap();
        assert_eq!(completed, r);

        // Fields update_run does not write stay as created.
        let mut sneaky = completed.clone();
        sneaky.status = JobStatus::Running;
        sneaky.completed_at = None;
        sneaky.metadata = None;
        sneaky.updated_at = Some(ts(9));
        // A terminal run never changes again, not even to another terminal status.
        assert!(!store.update_run(&sneaky).await.unwrap());
        for status in TERMINAL {
            let mut late = completed.clone();
            late.status = status;
            late.callback_error = Some("late".to_owned());
            assert!(!store.update_run(&late).await.unwrap());
        }
        assert_eq!(
            store.get_run(&user.id, &r.id).await.unwrap(),
            Some(completed)
        );

        // Each terminal status is guarded, and every non-terminal status can move.
        for terminal in TERMINAL {
            let mut x = run(&org_id, &user.id, None, ts(10));
            store.create_run(&x).await.unwrap();
            for status in [JobStatus::Pending, JobStatus::Running, JobStatus::Created] {
                x.status = status;
                assert!(store.update_run(&x).await.unwrap(), "to {status:?}");
            }
            x.status = terminal;
            x.completed_at = Some(ts(11));
            assert!(store.update_run(&x).await.unwrap());
            let stored = store.get_run_any(&x.id).await.unwrap().unwrap();
            let mut revived = stored.clone();
            revived.status = JobStatus::Running;
            revived.completed_at = None;
            assert!(!store.update_run(&revived).await.unwrap(), "{terminal:?}");
            assert_eq!(store.get_run_any(&x.id).await.unwrap(), Some(stored));
        }

        let mut ghost = run(&org_id, &user.id, None, ts(0));
        ghost.status = JobStatus::Running;
        assert!(!store.update_run(&ghost).await.unwrap());
        assert_eq!(store.get_run_any(&ghost.id).await.unwrap(), None);
    }
);

store_test!(
    list_runs_filters_and_cursors,
    |store: DynStore, org_id: String| async move {
        let a = make_agent(&store, &org_id, "a", 0).await;
        let b = make_agent(&store, &org_id, "b", 1).await;
        let user = make_user(&store, &org_id).await;
        let other = make_user(&store, &org_id).await;
        let statuses = [
            JobStatus::Created,
            JobStatus::Running,
            JobStatus::Completed,
            JobStatus::Failed,
            JobStatus::Running,
        ];
        let mut runs: Vec<Run> = Vec::new();
        for (n, status) in statuses.into_iter().enumerate() {
            let agent = if n % 2 == 0 { &a.id } else { &b.id };
            let mut r = run(&org_id, &user.id, Some(agent), ts(n as i64));
            r.status = status;
            store.create_run(&r).await.unwrap();
            runs.push(r);
        }
        // A run created at the same instant as runs[4] sorts after it by id.
        let mut tie = run(&org_id, &user.id, None, ts(4));
        tie.id = format!("{}-tie", runs[4].id);
        store.create_run(&tie).await.unwrap();
        runs.push(tie);
        let theirs = run(&org_id, &other.id, Some(&a.id), ts(2));
        store.create_run(&theirs).await.unwrap();

        let all = run_ids(&runs);
        let pick = |idx: &[usize]| idx.iter().map(|&i| all[i].clone()).collect::<Vec<_>>();
        let asc = RunFilter {
            ascending: true,
            ..Default::default()
        };
        let list = |filter: RunFilter| {
            let store = store.clone();
            let user_id = user.id.clone();
            async move { run_ids(&store.list_runs(&user_id, &filter).await.unwrap()) }
        };

        assert_eq!(store.list_runs(&user.id, &asc).await.unwrap(), runs);
        assert_eq!(list(RunFilter::default()).await, pick(&[5, 4, 3, 2, 1, 0]));
        assert_eq!(
            list(RunFilter {
                limit: Some(2),
                ..asc.clone()
            })
            .await,
            pick(&[0, 1])
        );
        assert_eq!(
            list(RunFilter {
                limit: Some(2),
                ..Default::default()
            })
            .await,
            pick(&[5, 4])
        );
        assert_eq!(
            run_ids(&store.list_runs(&other.id, &asc).await.unwrap()),
            vec![theirs.id.clone()]
        );

        // Filters.
        assert_eq!(
            list(RunFilter {
                agent_ids: vec![a.id.clone()],
                ..asc.clone()
            })
            .await,
            pick(&[0, 2, 4])
        );
        assert_eq!(
            list(RunFilter {
                agent_ids: vec![a.id.clone(), b.id.clone()],
                ..asc.clone()
            })
            .await,
            pick(&[0, 1, 2, 3, 4])
        );
        assert_eq!(
            list(RunFilter {
                statuses: vec![JobStatus::Running],
                ..asc.clone()
            })
            .await,
            pick(&[1, 4])
        );
        assert_eq!(
            list(RunFilter {
                statuses: vec![JobStatus::Completed, JobStatus::Failed],
                ..asc.clone()
            })
            .await,
            pick(&[2, 3])
        );
        assert_eq!(
            list(RunFilter {
                statuses: vec![JobStatus::Running, JobStatus::Created],
                agent_ids: vec![a.id.clone()],
                ..Default::default()
            })
            .await,
            pick(&[4, 0])
        );
        assert!(
            list(RunFilter {
                statuses: vec![JobStatus::Expired],
                ..asc.clone()
            })
            .await
            .is_empty()
        );

        // Cursors follow the listing direction.
        let c = |i: usize| Some(all[i].clone());
        assert_eq!(
            list(RunFilter {
                after: c(1),
                limit: Some(2),
                ..asc.clone()
            })
            .await,
            pick(&[2, 3])
        );
        assert_eq!(
            list(RunFilter {
                after: c(4),
                ..asc.clone()
            })
            .await,
            pick(&[5])
        );
        assert_eq!(
            list(RunFilter {
                after: c(3),
                ..Default::default()
            })
            .await,
            pick(&[2, 1, 0])
        );
        assert_eq!(
            list(RunFilter {
                before: c(2),
                ..asc.clone()
            })
            .await,
            pick(&[0, 1])
        );
        assert_eq!(
            list(RunFilter {
                before: c(4),
                ..Default::default()
            })
            .await,
            pick(&[5])
        );
        assert_eq!(
            list(RunFilter {
                after: c(0),
                before: c(4),
                ..asc.clone()
            })
            .await,
            pick(&[1, 2, 3])
        );
        assert_eq!(
            list(RunFilter {
                after: c(5),
                before: c(1),
                ..Default::default()
            })
            .await,
            pick(&[4, 3, 2])
        );
        // Another user's run, or an unknown id, is no cursor.
        assert_eq!(
            list(RunFilter {
                after: Some(theirs.id.clone()),
                ..asc.clone()
            })
            .await,
            all
        );
    }
);

store_test!(
    run_messages_in_insertion_order_with_cursors,
    |store: DynStore, org_id: String| async move {
        let agent = make_agent(&store, &org_id, "chatty", 0).await;
        let user = make_user(&store, &org_id).await;
        let r = run(&org_id, &user.id, Some(&agent.id), ts(0));
        let other_run = run(&org_id, &user.id, Some(&agent.id), ts(1));
        store.create_run(&r).await.unwrap();
        store.create_run(&other_run).await.unwrap();

        let msgs: Vec<Message> = (0..5)
            .map(|n| message(&org_id, &agent.id, MessageRole::Assistant, &format!("r{n}")))
            .collect();
        // Two steps of the run, with messages of another run and unlinked ones in between.
        store
            .persist_step(
                Some(&step(&org_id, Some(&agent.id), ts(2))),
                &msgs[..2],
                Some(&r.id),
            )
            .await
            .unwrap();
        let foreign = message(&org_id, &agent.id, MessageRole::User, "other run");
        store
            .persist_step(None, std::slice::from_ref(&foreign), Some(&other_run.id))
            .await
            .unwrap();
        let loose = message(&org_id, &agent.id, MessageRole::User, "loose");
        store
            .insert_messages(std::slice::from_ref(&loose))
            .await
            .unwrap();
        store
            .persist_step(
                Some(&step(&org_id, Some(&agent.id), ts(3))),
                &msgs[2..],
                Some(&r.id),
            )
            .await
            .unwrap();

        let all = message_ids(&msgs);
        let pick = |idx: &[usize]| idx.iter().map(|&i| all[i].clone()).collect::<Vec<_>>();
        let page = |before: Option<usize>, after: Option<usize>, limit: Option<i64>, asc: bool| {
            let store = store.clone();
            let run_id = r.id.clone();
            let before = before.map(|i| all[i].clone());
            let after = after.map(|i| all[i].clone());
            async move {
                message_ids(
                    &store
                        .list_run_messages(
                            &run_id,
                            &run_page(before.as_deref(), after.as_deref(), limit, asc),
                        )
                        .await
                        .unwrap(),
                )
            }
        };

        assert_eq!(
            store
                .list_run_messages(&r.id, &run_page(None, None, None, true))
                .await
                .unwrap(),
            msgs
        );
        assert_eq!(page(None, None, None, false).await, pick(&[4, 3, 2, 1, 0]));
        assert_eq!(page(None, None, Some(2), true).await, pick(&[0, 1]));
        assert_eq!(page(None, None, Some(2), false).await, pick(&[4, 3]));
        // `after` keeps later messages and `before` earlier ones, in either direction.
        assert_eq!(page(None, Some(1), Some(2), true).await, pick(&[2, 3]));
        assert_eq!(page(None, Some(1), None, false).await, pick(&[4, 3, 2]));
        assert_eq!(page(Some(3), None, None, true).await, pick(&[0, 1, 2]));
        assert_eq!(page(Some(3), None, Some(2), false).await, pick(&[2, 1]));
        assert_eq!(page(Some(4), Some(0), None, true).await, pick(&[1, 2, 3]));
        assert!(page(Some(1), Some(3), None, true).await.is_empty());
        // A message outside the run still marks a position in the insertion order.
        let outside = store
            .list_run_messages(&r.id, &run_page(None, Some(&loose.id), None, true))
            .await
            .unwrap();
        assert_eq!(message_ids(&outside), pick(&[2, 3, 4]));
        // An unknown cursor filters nothing.
        assert_eq!(
            message_ids(
                &store
                    .list_run_messages(&r.id, &run_page(Some("message-missing"), None, None, true))
                    .await
                    .unwrap()
            ),
            all
        );
        assert_eq!(
            store
                .list_run_messages(&other_run.id, &run_page(None, None, None, true))
                .await
                .unwrap(),
            vec![foreign]
        );
        assert!(
            store
                .list_run_messages("run-missing", &run_page(None, None, None, true))
                .await
                .unwrap()
                .is_empty()
        );
    }
);

// Writes metadata, schemas and content with keys out of alphabetical order and checks
// they read back byte for byte.
store_test!(
    json_columns_keep_key_order,
    |store: DynStore, org_id: String| async move {
        let schema_text = r#"{"name":"lookup","description":"Looks things up.","parameters":{"type":"object","properties":{"zeta":{"type":"string","description":"last"},"alpha":{"type":"integer"},"mid":{"enum":["b","a"],"type":"string"}},"required":["zeta","alpha"]},"strict":true}"#;
        let metadata_text =
            r#"{"zulu":1,"alpha":{"yankee":true,"bravo":null},"mike":[{"z":1,"a":2}],"echo":"e"}"#;
        let schema: Value = serde_json::from_str(schema_text).unwrap();
        let metadata: Map<String, Value> = serde_json::from_str(metadata_text).unwrap();

        // Tools: json_schema, args_json_schema and metadata.
        let mut t = tool(&org_id, "lookup");
        t.json_schema = Some(schema.clone());
        t.args_json_schema = Some(schema["parameters"].clone());
        t.metadata_ = Some(metadata.clone());
        let stored = store
            .upsert_tools_by_name(std::slice::from_ref(&t))
            .await
            .unwrap();
        let fetched = store
            .get_tool(&org_id, &stored[0].id)
            .await
            .unwrap()
            .unwrap();
        for got in [&stored[0], &fetched] {
            assert_eq!(
                serde_json::to_string(got.json_schema.as_ref().unwrap()).unwrap(),
                schema_text
            );
            assert_eq!(
                serde_json::to_string(got.args_json_schema.as_ref().unwrap()).unwrap(),
                serde_json::to_string(&schema["parameters"]).unwrap()
            );
            assert_eq!(
                serde_json::to_string(got.metadata_.as_ref().unwrap()).unwrap(),
                metadata_text
            );
        }

        // Agents: metadata on create and on update; response_format.
        let mut row = agent_row(&org_id, "ordered", 0);
        row.metadata = Some(metadata.clone());
        row.response_format = Some(
            serde_json::from_str(
                r#"{"type":"json_schema","json_schema":{"schema":{"z":1,"a":2}}}"#,
            )
            .unwrap(),
        );
        store.create_agent(&bare(row.clone())).await.unwrap();
        let got = store.get_agent(&org_id, &row.id).await.unwrap().unwrap();
        assert_eq!(serde_json::to_string(&got.metadata).unwrap(), metadata_text);
        assert_eq!(
            serde_json::to_string(&got.response_format).unwrap(),
            r#"{"type":"json_schema","json_schema":{"schema":{"z":1,"a":2}}}"#
        );
        let updated_text = r#"{"y":2,"b":1}"#;
        let patch = AgentPatch {
            metadata: Some(serde_json::from_str(updated_text).unwrap()),
            ..Default::default()
        };
        assert!(store.update_agent(&org_id, &row.id, &patch).await.unwrap());
        let got = store.get_agent(&org_id, &row.id).await.unwrap().unwrap();
        assert_eq!(serde_json::to_string(&got.metadata).unwrap(), updated_text);

        // Blocks.
        let mut blk = block(&org_id, "persona", "I am ordered.");
        blk.metadata = Some(metadata.clone());
        store.create_block(&blk).await.unwrap();
        let got = store.get_block(&org_id, &blk.id).await.unwrap().unwrap();
        assert_eq!(serde_json::to_string(&got.metadata).unwrap(), metadata_text);

        // Runs.
        let user = make_user(&store, &org_id).await;
        let mut r = run(&org_id, &user.id, None, ts(0));
        r.metadata = Some(metadata.clone());
        store.create_run(&r).await.unwrap();
        let got = store.get_run_any(&r.id).await.unwrap().unwrap();
        assert_eq!(serde_json::to_string(&got.metadata).unwrap(), metadata_text);

        // Message content parts and step details.
        let part_text = r#"{"type":"text","text":"hi","zz":{"k":1,"c":2},"aa":0}"#;
        let mut m = message(&org_id, &row.id, MessageRole::User, "x");
        m.content = vec![serde_json::from_str(part_text).unwrap(), text_part("more")];
        let mut s = step(&org_id, Some(&row.id), ts(1));
        s.completion_tokens_details = Some(serde_json::from_str(metadata_text).unwrap());
        store
            .persist_step(Some(&s), std::slice::from_ref(&m), None)
            .await
            .unwrap();
        let got = store
            .get_messages(&org_id, std::slice::from_ref(&m.id))
            .await
            .unwrap();
        assert_eq!(
            serde_json::to_string(&got[0].content[0]).unwrap(),
            part_text
        );
        let got = store.get_step(&org_id, &s.id).await.unwrap().unwrap();
        assert_eq!(
            serde_json::to_string(&got.completion_tokens_details).unwrap(),
            metadata_text
        );
    }
);

// ---------------------------------------------------------------------------------------------
// Start-up recovery touches every run of the database, so it runs on a database of its own
// rather than the one the other tests share.

/// A database used by one test only: a fresh SQLite file, or a fresh Postgres database
/// (dropped by `cleanup`).
struct IsolatedDb {
    store: DynStore,
    _dir: Option<tempfile::TempDir>,
    pg_url: Option<String>,
}

impl IsolatedDb {
    async fn open(backend: Backend) -> IsolatedDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let store: DynStore = std::sync::Arc::new(
                    SqliteStore::open_file(&dir.path().join("isolated.db"))
                        .await
                        .unwrap(),
                );
                IsolatedDb {
                    store,
                    _dir: Some(dir),
                    pg_url: None,
                }
            }
            Backend::Postgres => {
                let (url, store) = helpers::isolated_postgres().await;
                IsolatedDb {
                    store,
                    _dir: None,
                    pg_url: Some(url),
                }
            }
        }
    }

    async fn cleanup(self) {
        drop(self.store);
        if let Some(url) = self.pg_url {
            helpers::drop_database(&url).await;
        }
    }
}

async fn fail_unfinished_runs_body(backend: Backend) {
    let db = IsolatedDb::open(backend).await;
    let store = db.store.clone();
    let (org, user) = helpers::new_org_and_user(&store).await;
    let org_id = org.id;

    let mut by_status = Vec::new();
    for status in [
        JobStatus::Created,
        JobStatus::Running,
        JobStatus::Pending,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
        JobStatus::Expired,
    ] {
        let mut r = run(&org_id, &user.id, None, ts(0));
        r.status = status;
        if status == JobStatus::Created {
            r.metadata = Some(object(
                json!({"zeta": 1, "agent_id": "agent-x", "alpha": 2}),
            ));
        }
        if status == JobStatus::Running {
            r.metadata = None;
        }
        if status == JobStatus::Completed {
            r.completed_at = Some(ts(1));
        }
        store.create_run(&r).await.unwrap();
        by_status.push(r);
    }
    // Empty metadata gains the error.
    let mut odd = run(&org_id, &user.id, None, ts(0));
    odd.status = JobStatus::Running;
    odd.metadata = Some(Map::new());
    store.create_run(&odd).await.unwrap();

    // A run whose process is alive (touched now) is not stale yet.
    let mut live = run(&org_id, &user.id, None, ts(0));
    live.status = JobStatus::Running;
    store.create_run(&live).await.unwrap();
    let before = letta_rs::schemas::common::now();
    assert!(store.touch_run(&live.id).await.unwrap());
    assert!(!store.touch_run(&by_status[3].id).await.unwrap());
    assert_eq!(
        store
            .fail_unfinished_runs(before, "server restarted")
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store.get_run_any(&live.id).await.unwrap().unwrap().status,
        JobStatus::Running
    );

    let created = store.get_run_any(&by_status[0].id).await.unwrap().unwrap();
    assert_eq!(created.status, JobStatus::Failed);
    assert!(created.completed_at.unwrap() >= before);
    assert!(created.updated_at.unwrap() >= before);
    // The error joins the existing metadata, whose keys keep their order.
    assert_eq!(
        serde_json::to_string(&created.metadata).unwrap(),
        r#"{"zeta":1,"agent_id":"agent-x","alpha":2,"error":"server restarted"}"#
    );
    let running = store.get_run_any(&by_status[1].id).await.unwrap().unwrap();
    assert_eq!(running.status, JobStatus::Failed);
    assert_eq!(
        serde_json::to_string(&running.metadata).unwrap(),
        r#"{"error":"server restarted"}"#
    );
    let odd_after = store.get_run_any(&odd.id).await.unwrap().unwrap();
    assert_eq!(odd_after.status, JobStatus::Failed);
    assert_eq!(
        serde_json::to_string(&odd_after.metadata).unwrap(),
        r#"{"error":"server restarted"}"#
    );
    // Pending and terminal runs are left alone.
    for r in &by_status[2..] {
        assert_eq!(store.get_run_any(&r.id).await.unwrap().as_ref(), Some(r));
    }
    // The failed runs are terminal now: nothing to do a second time, and no late writer
    // brings them back.
    assert_eq!(
        store.fail_unfinished_runs(before, "again").await.unwrap(),
        0
    );
    let mut late = created.clone();
    late.status = JobStatus::Completed;
    assert!(!store.update_run(&late).await.unwrap());
    assert_eq!(store.get_run_any(&created.id).await.unwrap(), Some(created));

    drop(store);
    db.cleanup().await;
}

mod fail_unfinished_runs_recovers {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        fail_unfinished_runs_body(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        fail_unfinished_runs_body(Backend::Postgres).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The listings behind `/v1/runs` and `/v1/jobs`: job types, sources, run messages by role,
// run steps by position.

fn job_of(org_id: &str, user_id: &str, created: i64, metadata: Option<Value>) -> Run {
    let mut j = run(org_id, user_id, None, ts(created));
    j.id = letta_rs::schemas::new_id("job");
    j.job_type = letta_rs::schemas::run::JobType::Job;
    j.metadata = metadata.map(object);
    j
}

store_test!(
    list_runs_by_job_type_and_source,
    |store: DynStore, org_id: String| async move {
        use letta_rs::schemas::run::JobType;
        let agent = make_agent(&store, &org_id, "typed", 0).await;
        let user = make_user(&store, &org_id).await;
        let r = run(&org_id, &user.id, Some(&agent.id), ts(0));
        store.create_run(&r).await.unwrap();
        let mut with_source = Vec::new();
        for (n, metadata) in [
            Some(json!({"source_id": "source-1", "type": "file"})),
            None,
            Some(json!({"source_id": "source-2"})),
            Some(json!({"source_id": "source-1"})),
            Some(json!({"other": "source-1"})),
        ]
        .into_iter()
        .enumerate()
        {
            let j = job_of(&org_id, &user.id, n as i64 + 1, metadata);
            store.create_run(&j).await.unwrap();
            assert_eq!(store.get_run_any(&j.id).await.unwrap().as_ref(), Some(&j));
            with_source.push(j);
        }
        let jobs = run_ids(&with_source);
        let list = |filter: RunFilter| {
            let store = store.clone();
            let user_id = user.id.clone();
            async move { run_ids(&store.list_runs(&user_id, &filter).await.unwrap()) }
        };
        let asc = RunFilter {
            ascending: true,
            ..Default::default()
        };

        // No type filter: everything, runs and jobs.
        let mut everything = vec![r.id.clone()];
        everything.extend(jobs.iter().cloned());
        assert_eq!(list(asc.clone()).await, everything);
        assert_eq!(
            list(RunFilter {
                job_type: Some(JobType::Run),
                ..asc.clone()
            })
            .await,
            vec![r.id.clone()]
        );
        assert_eq!(
            list(RunFilter {
                job_type: Some(JobType::Job),
                ..asc.clone()
            })
            .await,
            jobs
        );
        assert!(
            list(RunFilter {
                job_type: Some(JobType::Batch),
                ..asc.clone()
            })
            .await
            .is_empty()
        );
        assert_eq!(
            list(RunFilter {
                job_type: Some(JobType::Job),
                source_id: Some("source-1".to_owned()),
                ..asc.clone()
            })
            .await,
            vec![jobs[0].clone(), jobs[3].clone()]
        );
        assert_eq!(
            list(RunFilter {
                source_id: Some("source-1".to_owned()),
                limit: Some(1),
                ..Default::default()
            })
            .await,
            vec![jobs[3].clone()]
        );
        assert!(
            list(RunFilter {
                source_id: Some("source-9".to_owned()),
                ..asc.clone()
            })
            .await
            .is_empty()
        );
        // The type filter combines with the others.
        assert_eq!(
            list(RunFilter {
                job_type: Some(JobType::Job),
                after: Some(jobs[1].clone()),
                limit: Some(2),
                ..asc.clone()
            })
            .await,
            vec![jobs[2].clone(), jobs[3].clone()]
        );
        // Another user sees none of them.
        let stranger = make_user(&store, &org_id).await;
        assert!(
            store
                .list_runs(
                    &stranger.id,
                    &RunFilter {
                        source_id: Some("source-1".to_owned()),
                        ..asc.clone()
                    }
                )
                .await
                .unwrap()
                .is_empty()
        );
    }
);

store_test!(
    list_run_messages_by_role_and_position,
    |store: DynStore, org_id: String| async move {
        use letta_rs::store::RunMessageFilter;
        let agent = make_agent(&store, &org_id, "roles", 0).await;
        let user = make_user(&store, &org_id).await;
        let r = run(&org_id, &user.id, Some(&agent.id), ts(0));
        let other = run(&org_id, &user.id, Some(&agent.id), ts(1));
        store.create_run(&r).await.unwrap();
        store.create_run(&other).await.unwrap();
        let roles = [
            MessageRole::User,
            MessageRole::Assistant,
            MessageRole::Tool,
            MessageRole::User,
            MessageRole::Assistant,
            MessageRole::Tool,
        ];
        let msgs: Vec<Message> = roles
            .iter()
            .enumerate()
            .map(|(n, role)| message(&org_id, &agent.id, *role, &format!("m{n}")))
            .collect();
        store
            .persist_step(None, &msgs[..3], Some(&r.id))
            .await
            .unwrap();
        let foreign = message(&org_id, &agent.id, MessageRole::Assistant, "elsewhere");
        store
            .persist_step(None, std::slice::from_ref(&foreign), Some(&other.id))
            .await
            .unwrap();
        store
            .persist_step(None, &msgs[3..], Some(&r.id))
            .await
            .unwrap();

        let all = message_ids(&msgs);
        let pick = |idx: &[usize]| idx.iter().map(|&i| all[i].clone()).collect::<Vec<_>>();
        let cursor = |i: usize| Some(all[i].clone());
        let list = |filter: RunMessageFilter| {
            let store = store.clone();
            let run_id = r.id.clone();
            async move { message_ids(&store.list_run_messages(&run_id, &filter).await.unwrap()) }
        };
        let asc = RunMessageFilter {
            ascending: true,
            ..Default::default()
        };

        assert_eq!(
            store.list_run_messages(&r.id, &asc).await.unwrap(),
            msgs,
            "whole messages, in insertion order"
        );
        assert_eq!(
            list(RunMessageFilter::default()).await,
            pick(&[5, 4, 3, 2, 1, 0])
        );
        let only = |role: MessageRole, ascending: bool| RunMessageFilter {
            role: Some(role),
            ascending,
            ..Default::default()
        };
        assert_eq!(list(only(MessageRole::User, true)).await, pick(&[0, 3]));
        assert_eq!(
            list(only(MessageRole::Assistant, false)).await,
            pick(&[4, 1])
        );
        assert!(list(only(MessageRole::System, true)).await.is_empty());
        // The limit counts messages of the role.
        assert_eq!(
            list(RunMessageFilter {
                limit: Some(1),
                ..only(MessageRole::Tool, false)
            })
            .await,
            pick(&[5])
        );
        // Cursors are positions whatever the direction, combined with the role.
        assert_eq!(
            list(RunMessageFilter {
                after: cursor(1),
                limit: Some(2),
                ..asc.clone()
            })
            .await,
            pick(&[2, 3])
        );
        assert_eq!(
            list(RunMessageFilter {
                after: cursor(1),
                ..Default::default()
            })
            .await,
            pick(&[5, 4, 3, 2])
        );
        assert_eq!(
            list(RunMessageFilter {
                before: cursor(4),
                limit: Some(2),
                ..Default::default()
            })
            .await,
            pick(&[3, 2])
        );
        assert_eq!(
            list(RunMessageFilter {
                after: cursor(0),
                before: cursor(5),
                role: Some(MessageRole::Assistant),
                ..asc.clone()
            })
            .await,
            pick(&[1, 4])
        );
        // A message of another run still marks a position; an unknown one filters nothing.
        assert_eq!(
            list(RunMessageFilter {
                after: Some(foreign.id.clone()),
                ..asc.clone()
            })
            .await,
            pick(&[3, 4, 5])
        );
        assert_eq!(
            list(RunMessageFilter {
                before: Some("message-missing".to_owned()),
                ..asc.clone()
            })
            .await,
            all
        );
        assert_eq!(
            store.list_run_messages(&other.id, &asc).await.unwrap(),
            vec![foreign]
        );
        assert!(
            store
                .list_run_messages("run-missing", &asc)
                .await
                .unwrap()
                .is_empty()
        );
    }
);

store_test!(
    list_run_steps_by_position,
    |store: DynStore, org_id: String| async move {
        use letta_rs::schemas::run::Step;
        let agent = make_agent(&store, &org_id, "stepper", 0).await;
        let user = make_user(&store, &org_id).await;
        let r = run(&org_id, &user.id, Some(&agent.id), ts(0));
        let other = run(&org_id, &user.id, Some(&agent.id), ts(0));
        store.create_run(&r).await.unwrap();
        store.create_run(&other).await.unwrap();
        let mut steps: Vec<Step> = Vec::new();
        for secs in [1, 2, 3, 4] {
            let mut s = step(&org_id, Some(&agent.id), ts(secs));
            s.job_id = Some(r.id.clone());
            steps.push(s);
        }
        // A step recorded at the same instant as steps[3] sorts after it by id.
        let mut tie = step(&org_id, Some(&agent.id), ts(4));
        tie.id = format!("{}-tie", steps[3].id);
        tie.job_id = Some(r.id.clone());
        steps.push(tie);
        for s in &steps {
            store.persist_step(Some(s), &[], None).await.unwrap();
        }
        let mut elsewhere = step(
            &org_id,
            Some(&agent.id),
            ts(2) + chrono::Duration::milliseconds(500),
        );
        elsewhere.job_id = Some(other.id.clone());
        store
            .persist_step(Some(&elsewhere), &[], None)
            .await
            .unwrap();
        // A step of another organization naming the same run is not the organization's.
        let (other_org, _) = helpers::new_org_and_user(&store).await;
        let mut foreign = step(&other_org.id, None, ts(3));
        foreign.job_id = Some(r.id.clone());
        store.persist_step(Some(&foreign), &[], None).await.unwrap();

        let all: Vec<String> = steps.iter().map(|s| s.id.clone()).collect();
        let pick = |idx: &[usize]| idx.iter().map(|&i| all[i].clone()).collect::<Vec<_>>();
        let list = |before: Option<usize>, after: Option<usize>, limit: Option<i64>, asc: bool| {
            let store = store.clone();
            let org_id = org_id.clone();
            let run_id = r.id.clone();
            let before = before.map(|i| all[i].clone());
            let after = after.map(|i| all[i].clone());
            async move {
                store
                    .list_run_steps(
                        &org_id,
                        &run_id,
                        before.as_deref(),
                        after.as_deref(),
                        limit,
                        asc,
                    )
                    .await
                    .unwrap()
                    .iter()
                    .map(|s| s.id.clone())
                    .collect::<Vec<_>>()
            }
        };

        let read = store
            .list_run_steps(&org_id, &r.id, None, None, None, true)
            .await
            .unwrap();
        assert_eq!(read, steps, "whole steps, oldest first");
        assert_eq!(list(None, None, None, false).await, pick(&[4, 3, 2, 1, 0]));
        assert_eq!(list(None, None, Some(2), true).await, pick(&[0, 1]));
        assert_eq!(list(None, None, Some(2), false).await, pick(&[4, 3]));
        // `after` keeps newer steps and `before` older ones, in either direction.
        assert_eq!(list(None, Some(1), None, true).await, pick(&[2, 3, 4]));
        assert_eq!(list(None, Some(3), None, false).await, pick(&[4]));
        assert_eq!(list(Some(3), None, None, false).await, pick(&[2, 1, 0]));
        assert_eq!(list(Some(4), Some(0), Some(2), true).await, pick(&[1, 2]));
        assert!(list(Some(1), Some(3), None, true).await.is_empty());
        // A step of another run marks a position; an unknown or foreign id filters nothing.
        let by_id = |cursor: &str, newer: bool| {
            let store = store.clone();
            let org_id = org_id.clone();
            let run_id = r.id.clone();
            let cursor = cursor.to_owned();
            async move {
                let (before, after) = if newer {
                    (None, Some(cursor.as_str()))
                } else {
                    (Some(cursor.as_str()), None)
                };
                store
                    .list_run_steps(&org_id, &run_id, before, after, None, true)
                    .await
                    .unwrap()
                    .iter()
                    .map(|s| s.id.clone())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(by_id(&elsewhere.id, true).await, pick(&[2, 3, 4]));
        assert_eq!(by_id("step-missing", false).await, all);
        assert_eq!(by_id(&foreign.id, true).await, all);
        // Other runs, other organizations.
        assert_eq!(
            store
                .list_run_steps(&org_id, &other.id, None, None, None, true)
                .await
                .unwrap(),
            vec![elsewhere]
        );
        assert_eq!(
            store
                .list_run_steps(&other_org.id, &r.id, None, None, None, true)
                .await
                .unwrap(),
            vec![foreign]
        );
        assert!(
            store
                .list_run_steps(&org_id, "run-missing", None, None, None, true)
                .await
                .unwrap()
                .is_empty()
        );
    }
);

async fn release_leftovers_body(backend: Backend) {
    use letta_rs::replica::ReplicaId;
    use letta_rs::store::{Leftovers, Released};
    let db = IsolatedDb::open(backend).await;
    let store = db.store.clone();
    let (org, user) = helpers::new_org_and_user(&store).await;
    let replica = |name: &str, incarnation: &str| ReplicaId {
        name: name.to_owned(),
        incarnation: incarnation.to_owned(),
    };
    let (old, me, other) = (
        replica("r1", "old"),
        replica("r1", "new"),
        replica("r2", "x"),
    );
    let running = |status: JobStatus| {
        let mut r = run(&org.id, &user.id, None, ts(0));
        r.status = status;
        r
    };
    let old_running = running(JobStatus::Running);
    let old_created = running(JobStatus::Created);
    let old_done = running(JobStatus::Completed);
    let mine = running(JobStatus::Running);
    let theirs = running(JobStatus::Running);
    let unknown = running(JobStatus::Running);
    for (r, by) in [
        (&old_running, &old),
        (&old_created, &old),
        (&old_done, &old),
        (&mine, &me),
        (&theirs, &other),
    ] {
        store.create_run_on(r, by).await.unwrap();
    }
    store.create_run(&unknown).await.unwrap();
    let agents: Vec<String> = (0..4).map(|_| letta_rs::schemas::new_id("agent")).collect();
    const LONG: std::time::Duration = std::time::Duration::from_secs(600);
    for (agent, by) in agents.iter().zip([&old, &me, &other]) {
        assert!(
            store
                .try_acquire_agent_lease_on(agent, "h", LONG, by)
                .await
                .unwrap()
        );
    }
    assert!(
        store
            .try_acquire_agent_lease(&agents[3], "h", LONG)
            .await
            .unwrap()
    );

    // A new process of r1: only r1's earlier process's leftovers go.
    assert_eq!(
        store
            .release_leftovers(Leftovers::OlderIncarnations(&me), "stopped")
            .await
            .unwrap(),
        Released { leases: 1, runs: 2 }
    );
    let status = |id: String| {
        let store = store.clone();
        async move { store.get_run_any(&id).await.unwrap().unwrap() }
    };
    let failed = status(old_running.id.clone()).await;
    assert_eq!(failed.status, JobStatus::Failed);
    assert!(failed.completed_at.is_some());
    assert_eq!(failed.metadata.unwrap()["error"], "stopped");
    assert_eq!(
        status(old_created.id.clone()).await.status,
        JobStatus::Failed
    );
    assert_eq!(
        status(old_done.id.clone()).await.status,
        JobStatus::Completed
    );
    for r in [&mine, &theirs, &unknown] {
        assert_eq!(status(r.id.clone()).await.status, JobStatus::Running);
    }
    assert!(
        store
            .try_acquire_agent_lease(&agents[0], "next", LONG)
            .await
            .unwrap(),
        "the old process's lease is free"
    );
    for agent in &agents[1..] {
        assert!(
            !store
                .try_acquire_agent_lease(agent, "next", LONG)
                .await
                .unwrap(),
            "other leases are kept"
        );
    }

    // The only replica: everything unfinished, every lease.
    assert_eq!(
        store
            .release_leftovers(Leftovers::All, "stopped")
            .await
            .unwrap(),
        Released { leases: 4, runs: 3 }
    );
    for agent in &agents {
        assert!(
            store
                .try_acquire_agent_lease(agent, "last", LONG)
                .await
                .unwrap()
        );
    }
    drop(store);
    db.cleanup().await;
}

mod release_leftovers_at_start {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        release_leftovers_body(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        release_leftovers_body(Backend::Postgres).await;
    }
}
