//! Store conformance: core-memory blocks, their links to agents and the version guard.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use letta_rs::schemas::block::Block;
use letta_rs::store::{BlockFilter, DynStore, StoreError};
use serde_json::json;

use crate::helpers;
use crate::store_fixtures::*;
use crate::store_test;

fn accept(_: &Block) -> Result<(), String> {
    Ok(())
}

/// Replaces the stored block's fields with `block`'s (matched by id and organization) after
/// `check` accepts them, keeping id, organization, creator and (when `block` has none) label;
/// false when the block is absent. The store's one block write is `edit_block`.
async fn update_block(
    store: &DynStore,
    org_id: &str,
    block: &Block,
    check: &(dyn Fn(&Block) -> Result<(), String> + Send + Sync),
) -> Result<bool, StoreError> {
    let replace = |stored: &mut Block| {
        let mut next = block.clone();
        next.id = stored.id.clone();
        next.organization_id = stored.organization_id.clone();
        next.created_by_id = stored.created_by_id.clone();
        if next.label.is_none() {
            next.label = stored.label.clone();
        }
        check(&next)?;
        *stored = next;
        Ok(())
    };
    Ok(store
        .edit_block(org_id, &block.id, &replace)
        .await?
        .is_some())
}

async fn agent_block_ids(store: &DynStore, agent_id: &str) -> Vec<String> {
    let rels = store
        .load_relations(&[agent_id.to_owned()], ONLY_MEMORY)
        .await
        .unwrap();
    block_ids_of(&rels[agent_id].blocks)
}

store_test!(
    create_get_count_roundtrip,
    |store: DynStore, org_id: String| async move {
        let mut b = block(&org_id, "persona", "I am a test persona. ünïcödé");
        b.limit = 1234;
        b.name = Some("persona-template".to_owned());
        b.is_template = true;
        b.preserve_on_migration = None;
        b.read_only = true;
        b.description = Some("who I am".to_owned());
        b.metadata = Some(
            json!({"source": "test", "n": 3})
                .as_object()
                .unwrap()
                .clone(),
        );
        b.created_by_id = Some("user-a".to_owned());
        b.last_updated_by_id = Some("user-b".to_owned());
        store.create_block(&b).await.unwrap();
        assert_eq!(
            store.get_block(&org_id, &b.id).await.unwrap(),
            Some(b.clone())
        );

        let mut plain = block(&org_id, "human", "");
        plain.metadata = None;
        store.create_block(&plain).await.unwrap();
        assert_eq!(
            store.get_block(&org_id, &plain.id).await.unwrap(),
            Some(plain.clone())
        );
        assert_eq!(store.count_blocks(&org_id).await.unwrap(), 2);

        let err = store.create_block(&b).await.unwrap_err();
        assert!(matches!(err, StoreError::Unique(_)), "{err:?}");

        let (other, _) = helpers::new_org_and_user(&store).await;
        assert_eq!(store.get_block(&other.id, &b.id).await.unwrap(), None);
        assert_eq!(store.count_blocks(&other.id).await.unwrap(), 0);
        assert_eq!(
            store.get_block(&org_id, "block-missing").await.unwrap(),
            None
        );
    }
);

store_test!(
    list_filters_and_order,
    |store: DynStore, org_id: String| async move {
        let human = make_block(&store, &org_id, "human", "h1").await;
        let persona = make_block(&store, &org_id, "persona", "p1").await;
        let mut t = block(&org_id, "human", "template human");
        t.is_template = true;
        t.name = Some("tmpl-a".to_owned());
        store.create_block(&t).await.unwrap();
        let mut t2 = block(&org_id, "persona", "template persona");
        t2.is_template = true;
        t2.name = Some("tmpl-b".to_owned());
        store.create_block(&t2).await.unwrap();
        let human2 = make_block(&store, &org_id, "human", "h2").await;
        let (other, _) = helpers::new_org_and_user(&store).await;
        make_block(&store, &other.id, "human", "foreign").await;

        let ids = |v: Vec<Block>| block_ids_of(&v);
        let list = |f: BlockFilter| {
            let store = store.clone();
            let org = org_id.clone();
            async move { store.list_blocks(&org, &f).await.unwrap() }
        };

        // Non-templates by default, in creation order.
        let all = list(BlockFilter::default()).await;
        assert_eq!(
            ids(all.clone()),
            vec![human.id.clone(), persona.id.clone(), human2.id.clone()]
        );
        assert_eq!(all[0], human);
        let f = BlockFilter {
            templates_only: true,
            ..Default::default()
        };
        assert_eq!(ids(list(f).await), vec![t.id.clone(), t2.id.clone()]);
        let f = BlockFilter {
            label: Some("human".to_owned()),
            ..Default::default()
        };
        assert_eq!(
            ids(list(f).await),
            vec![human.id.clone(), human2.id.clone()]
        );
        let f = BlockFilter {
            label: Some("human".to_owned()),
            templates_only: true,
            ..Default::default()
        };
        assert_eq!(ids(list(f).await), vec![t.id.clone()]);
        let f = BlockFilter {
            name: Some("tmpl-b".to_owned()),
            templates_only: true,
            ..Default::default()
        };
        assert_eq!(ids(list(f).await), vec![t2.id.clone()]);
        let f = BlockFilter {
            name: Some("tmpl-b".to_owned()),
            ..Default::default()
        };
        assert!(list(f).await.is_empty(), "name matches templates only here");
        let f = BlockFilter {
            limit: Some(2),
            ..Default::default()
        };
        assert_eq!(
            ids(list(f).await),
            vec![human.id.clone(), persona.id.clone()]
        );
        let f = BlockFilter {
            limit: None,
            ..Default::default()
        };
        assert_eq!(list(f).await.len(), 3);

        // Identity filters (distinct blocks).
        let mut i1 = identity(&org_id, "key-a", "A", None);
        i1.block_ids = vec![human.id.clone(), persona.id.clone()];
        store.create_identity(&i1).await.unwrap();
        let mut i2 = identity(&org_id, "key-b", "B", Some("proj"));
        i2.block_ids = vec![persona.id.clone(), human2.id.clone()];
        store.create_identity(&i2).await.unwrap();
        store
            .create_identity(&identity(&other.id, "key-a", "Foreign", None))
            .await
            .unwrap();

        let f = BlockFilter {
            identity_id: Some(i1.id.clone()),
            ..Default::default()
        };
        assert_eq!(
            ids(list(f).await),
            vec![human.id.clone(), persona.id.clone()]
        );
        let f = BlockFilter {
            identifier_keys: vec!["key-a".to_owned(), "key-b".to_owned()],
            ..Default::default()
        };
        assert_eq!(
            ids(list(f).await),
            vec![human.id.clone(), persona.id.clone(), human2.id.clone()]
        );
        let f = BlockFilter {
            identifier_keys: vec!["key-b".to_owned()],
            label: Some("human".to_owned()),
            ..Default::default()
        };
        assert_eq!(ids(list(f).await), vec![human2.id.clone()]);
        let f = BlockFilter {
            identifier_keys: vec!["key-zzz".to_owned()],
            ..Default::default()
        };
        assert!(list(f).await.is_empty());
    }
);

store_test!(
    update_replaces_fields_after_check,
    |store: DynStore, org_id: String| async move {
        let mut original = block(&org_id, "human", "old value");
        original.created_by_id = Some("creator".to_owned());
        store.create_block(&original).await.unwrap();

        let mut next = original.clone();
        next.value = "new value".to_owned();
        next.limit = 100;
        next.name = Some("tmpl".to_owned());
        next.description = Some("described".to_owned());
        next.read_only = true;
        next.preserve_on_migration = Some(true);
        next.metadata = Some(json!({"edited": true}).as_object().unwrap().clone());
        next.last_updated_by_id = Some("editor".to_owned());
        next.created_by_id = Some("ignored".to_owned());
        let seen = Mutex::new(Vec::new());
        let check = |b: &Block| {
            seen.lock().unwrap().push(b.clone());
            Ok(())
        };
        assert!(update_block(&store, &org_id, &next, &check).await.unwrap());
        let stored = store
            .get_block(&org_id, &original.id)
            .await
            .unwrap()
            .unwrap();
        let expected = Block {
            created_by_id: Some("creator".to_owned()),
            ..next.clone()
        };
        assert_eq!(stored, expected);
        // The check saw exactly what was stored.
        assert_eq!(
            seen.lock().unwrap().as_slice(),
            std::slice::from_ref(&expected)
        );

        // A refusing check aborts the write with Rejected.
        let mut refused = stored.clone();
        refused.value = "x".repeat(200);
        let check = |b: &Block| {
            if b.value.chars().count() as i64 > b.limit {
                Err(format!(
                    "Value length ({}) exceeds the limit ({})",
                    b.value.len(),
                    b.limit
                ))
            } else {
                Ok(())
            }
        };
        let err = update_block(&store, &org_id, &refused, &check)
            .await
            .unwrap_err();
        match err {
            StoreError::Rejected(msg) => {
                assert_eq!(msg, "Value length (200) exceeds the limit (100)")
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
        assert_eq!(
            store
                .get_block(&org_id, &original.id)
                .await
                .unwrap()
                .unwrap(),
            expected
        );

        // Absent, or in another organization: false and untouched.
        let (other, _) = helpers::new_org_and_user(&store).await;
        let mut hijack = expected.clone();
        hijack.value = "hijacked".to_owned();
        assert!(
            !update_block(&store, &other.id, &hijack, &accept)
                .await
                .unwrap()
        );
        let mut missing = block(&org_id, "human", "v");
        missing.id = "block-missing".to_owned();
        assert!(
            !update_block(&store, &org_id, &missing, &accept)
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .get_block(&org_id, &original.id)
                .await
                .unwrap()
                .unwrap(),
            expected
        );
    }
);

store_test!(
    update_label_follows_links,
    |store: DynStore, org_id: String| async move {
        let agent = make_agent(&store, &org_id, "a", 1).await;
        let agent2 = make_agent(&store, &org_id, "b", 2).await;
        let b = make_block(&store, &org_id, "human", "h").await;
        let persona = make_block(&store, &org_id, "persona", "p").await;
        store.attach_block(&agent.id, &b.id).await.unwrap();
        store.attach_block(&agent2.id, &b.id).await.unwrap();
        store.attach_block(&agent2.id, &persona.id).await.unwrap();

        let mut renamed = b.clone();
        renamed.label = Some("user".to_owned());
        assert!(
            update_block(&store, &org_id, &renamed, &accept)
                .await
                .unwrap()
        );
        for a in [&agent.id, &agent2.id] {
            assert_eq!(
                store.agent_block_by_label(a, "user").await.unwrap(),
                Some(renamed.clone())
            );
            assert_eq!(store.agent_block_by_label(a, "human").await.unwrap(), None);
        }
        // The old label is free again on the agent.
        let human2 = make_block(&store, &org_id, "human", "h2").await;
        store.attach_block(&agent.id, &human2.id).await.unwrap();

        // Renaming onto a label another block holds on an attached agent: Unique, nothing changes.
        let mut clash = renamed.clone();
        clash.label = Some("persona".to_owned());
        clash.value = "changed".to_owned();
        let err = update_block(&store, &org_id, &clash, &accept)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unique(_)), "{err:?}");
        assert_eq!(
            store.get_block(&org_id, &b.id).await.unwrap(),
            Some(renamed.clone())
        );
        assert_eq!(
            store
                .agent_block_by_label(&agent2.id, "user")
                .await
                .unwrap(),
            Some(renamed)
        );
    }
);

store_test!(
    update_is_never_silently_overwritten,
    |store: DynStore, org_id: String| async move {
        let b = make_block(&store, &org_id, "human", "v0").await;
        let backend = if store.backend() == "postgres" {
            helpers::Backend::Postgres
        } else {
            helpers::Backend::Sqlite
        };
        // A writer on another connection, ready before the update starts and released from
        // inside the update's check, i.e. between the store's read and its write.
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let done_rx = Mutex::new(done_rx);
        let mut concurrent = b.clone();
        concurrent.value = "concurrent".to_owned();
        let org = org_id.clone();
        let writer = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let other = helpers::open_store(backend).await;
                other.get_block(&org, &concurrent.id).await.unwrap();
                go_rx.recv().unwrap();
                let written = update_block(&other, &org, &concurrent, &accept)
                    .await
                    .unwrap();
                done_tx.send(()).unwrap();
                written
            })
        });
        let calls = AtomicUsize::new(0);
        let check = |_: &Block| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                go_tx.send(()).unwrap();
                // A store that locks the row keeps the writer waiting until it commits; one
                // that does not lets it commit now and must then notice the version moved.
                let _ = done_rx
                    .lock()
                    .unwrap()
                    .recv_timeout(std::time::Duration::from_secs(1));
            }
            Ok(())
        };
        let mut mine = b.clone();
        mine.value = "mine".to_owned();
        assert!(update_block(&store, &org_id, &mine, &check).await.unwrap());
        assert!(
            writer.join().unwrap(),
            "the concurrent writer found the block"
        );
        let calls = calls.load(Ordering::SeqCst);
        let stored = store
            .get_block(&org_id, &b.id)
            .await
            .unwrap()
            .unwrap()
            .value;
        // Either the writer waited and wrote after us, or it wrote first and we re-read and
        // re-checked before writing; never our write over its change on a stale read.
        assert!(
            (calls == 1 && stored == "concurrent") || (calls >= 2 && stored == "mine"),
            "calls {calls}, stored {stored:?}"
        );
    }
);

store_test!(
    delete_returns_block_and_unlinks,
    |store: DynStore, org_id: String| async move {
        let agent = make_agent(&store, &org_id, "a", 1).await;
        let b = make_block(&store, &org_id, "human", "h").await;
        let keep = make_block(&store, &org_id, "persona", "p").await;
        store.attach_block(&agent.id, &b.id).await.unwrap();
        store.attach_block(&agent.id, &keep.id).await.unwrap();
        let mut ident = identity(&org_id, "k", "I", None);
        ident.block_ids = vec![b.id.clone(), keep.id.clone()];
        store.create_identity(&ident).await.unwrap();

        let (other, _) = helpers::new_org_and_user(&store).await;
        assert_eq!(store.delete_block(&other.id, &b.id).await.unwrap(), None);

        assert_eq!(
            store.delete_block(&org_id, &b.id).await.unwrap(),
            Some(b.clone())
        );
        assert_eq!(store.delete_block(&org_id, &b.id).await.unwrap(), None);
        assert_eq!(store.get_block(&org_id, &b.id).await.unwrap(), None);
        assert_eq!(
            agent_block_ids(&store, &agent.id).await,
            vec![keep.id.clone()]
        );
        assert_eq!(
            store
                .agent_block_by_label(&agent.id, "human")
                .await
                .unwrap(),
            None
        );
        let ident = store
            .get_identity(&org_id, &ident.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ident.block_ids, vec![keep.id.clone()]);
        assert!(store.get_agent(&org_id, &agent.id).await.unwrap().is_some());
        assert_eq!(store.count_blocks(&org_id).await.unwrap(), 1);
    }
);

store_test!(
    attach_detach_and_lookup_by_label,
    |store: DynStore, org_id: String| async move {
        let mut new = bare(agent_row(&org_id, "a", 1));
        let first = block(&org_id, "persona", "p");
        new.new_blocks = vec![first.clone()];
        store.create_agent(&new).await.unwrap();
        let agent = new.row.id.clone();
        let b1 = make_block(&store, &org_id, "human", "h").await;
        let b2 = make_block(&store, &org_id, "notes", "n").await;

        // Appended after the existing blocks, in attachment order.
        store.attach_block(&agent, &b2.id).await.unwrap();
        store.attach_block(&agent, &b1.id).await.unwrap();
        assert_eq!(
            agent_block_ids(&store, &agent).await,
            vec![first.id.clone(), b2.id.clone(), b1.id.clone()]
        );
        assert_eq!(
            store.agent_block_by_label(&agent, "human").await.unwrap(),
            Some(b1.clone())
        );
        assert_eq!(
            store.agent_block_by_label(&agent, "nothing").await.unwrap(),
            None
        );

        // The same block again, or another block with a taken label: Unique.
        let err = store.attach_block(&agent, &b1.id).await.unwrap_err();
        assert!(matches!(err, StoreError::Unique(_)), "{err:?}");
        let other_human = make_block(&store, &org_id, "human", "h2").await;
        let err = store
            .attach_block(&agent, &other_human.id)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unique(_)), "{err:?}");
        // Unknown block or agent, or a block of another organization: ForeignKey.
        let err = store
            .attach_block(&agent, "block-missing")
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::ForeignKey(_)), "{err:?}");
        let err = store
            .attach_block("agent-missing", &b1.id)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::ForeignKey(_)), "{err:?}");
        let (other, _) = helpers::new_org_and_user(&store).await;
        let foreign = make_block(&store, &other.id, "foreign", "f").await;
        let err = store.attach_block(&agent, &foreign.id).await.unwrap_err();
        assert!(matches!(err, StoreError::ForeignKey(_)), "{err:?}");
        assert_eq!(
            agent_block_ids(&store, &agent).await,
            vec![first.id.clone(), b2.id.clone(), b1.id.clone()]
        );

        assert!(store.detach_block(&agent, &b2.id).await.unwrap());
        assert!(!store.detach_block(&agent, &b2.id).await.unwrap());
        assert!(!store.detach_block(&agent, "block-missing").await.unwrap());
        assert_eq!(
            agent_block_ids(&store, &agent).await,
            vec![first.id.clone(), b1.id.clone()]
        );
        // Re-attaching goes to the end; the block itself was never deleted.
        store.attach_block(&agent, &b2.id).await.unwrap();
        assert_eq!(
            agent_block_ids(&store, &agent).await,
            vec![first.id.clone(), b1.id.clone(), b2.id.clone()]
        );
        assert_eq!(store.get_block(&org_id, &b2.id).await.unwrap(), Some(b2));
    }
);

store_test!(
    existing_block_ids_in_input_order,
    |store: DynStore, org_id: String| async move {
        let a = make_block(&store, &org_id, "a", "a").await;
        let b = make_block(&store, &org_id, "b", "b").await;
        let (other, _) = helpers::new_org_and_user(&store).await;
        let foreign = make_block(&store, &other.id, "f", "f").await;
        let asked = vec![
            b.id.clone(),
            foreign.id.clone(),
            "block-missing".to_owned(),
            a.id.clone(),
            b.id.clone(),
        ];
        assert_eq!(
            store.existing_block_ids(&org_id, &asked).await.unwrap(),
            vec![b.id.clone(), a.id.clone()]
        );
        assert_eq!(
            store.existing_block_ids(&other.id, &asked).await.unwrap(),
            vec![foreign.id.clone()]
        );
        assert!(
            store
                .existing_block_ids(&org_id, &[])
                .await
                .unwrap()
                .is_empty()
        );
    }
);

store_test!(
    edit_applies_to_the_stored_block_without_losing_concurrent_edits,
    |store: DynStore, org_id: String| async move {
        let b = make_block(&store, &org_id, "human", "start").await;
        // Twenty concurrent appends: each edit runs on the row as stored, so none is lost.
        let mut tasks = Vec::new();
        for i in 0..20 {
            let store = store.clone();
            let org = org_id.clone();
            let id = b.id.clone();
            tasks.push(tokio::spawn(async move {
                let edit = move |block: &mut Block| {
                    block.value.push_str(&format!("\n{i}"));
                    Ok(())
                };
                store.edit_block(&org, &id, &edit).await.unwrap().unwrap()
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let stored = store.get_block(&org_id, &b.id).await.unwrap().unwrap();
        for i in 0..20 {
            assert!(
                stored.value.lines().any(|l| l == i.to_string()),
                "append {i} kept: {}",
                stored.value
            );
        }
        // The edit cannot move the block to another id or organization.
        let hijack = |block: &mut Block| {
            block.id = "block-other".to_owned();
            block.organization_id = Some("org-other".to_owned());
            block.value = "changed".to_owned();
            Ok(())
        };
        let edited = store
            .edit_block(&org_id, &b.id, &hijack)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(edited.id, b.id);
        assert_eq!(edited.organization_id, b.organization_id);
        // A refusing edit writes nothing; an absent block is None.
        let refuse = |_: &mut Block| Err("no".to_owned());
        assert!(
            matches!(store.edit_block(&org_id, &b.id, &refuse).await, Err(StoreError::Rejected(m)) if m == "no")
        );
        assert_eq!(
            store
                .get_block(&org_id, &b.id)
                .await
                .unwrap()
                .unwrap()
                .value,
            "changed"
        );
        let noop = |_: &mut Block| Ok(());
        assert!(
            store
                .edit_block(&org_id, "block-missing", &noop)
                .await
                .unwrap()
                .is_none()
        );
        let (other, _) = helpers::new_org_and_user(&store).await;
        assert!(
            store
                .edit_block(&other.id, &b.id, &noop)
                .await
                .unwrap()
                .is_none()
        );
    }
);
