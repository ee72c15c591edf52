//! Store conformance: tools, upsert by name, listing and attachment to agents.

use letta_rs::schemas::tool::{PipRequirement, Tool, ToolType};
use letta_rs::store::{DynStore, RelationSet, StoreError};
use serde_json::json;

use crate::helpers;
use crate::store_fixtures::*;
use crate::store_test;

async fn agent_tool_ids(store: &DynStore, agent_id: &str) -> Vec<String> {
    let rels = store
        .load_relations(&[agent_id.to_owned()], RelationSet::ALL)
        .await
        .unwrap();
    tool_ids_of(&rels[agent_id].tools)
}

store_test!(
    upsert_inserts_then_updates_in_place,
    |store: DynStore, org_id: String| async move {
        let mut full = tool(&org_id, "full_tool");
        full.tool_type = ToolType::LettaCore;
        full.source_code = None;
        full.args_json_schema =
            Some(json!({"type": "object", "properties": {"x": {"type": "string"}}}));
        full.return_char_limit = Some(1_000_000);
        full.pip_requirements = Some(vec![PipRequirement {
            name: "requests".to_owned(),
            version: Some("2.0".to_owned()),
        }]);
        full.metadata_ = Some(json!({"origin": "test"}).as_object().unwrap().clone());
        full.created_by_id = Some("user-a".to_owned());
        full.last_updated_by_id = Some("user-a".to_owned());
        let minimal = Tool {
            description: None,
            tags: vec![],
            json_schema: None,
            return_char_limit: None,
            metadata_: None,
            ..tool(&org_id, "minimal")
        };
        let stored = store
            .upsert_tools_by_name(&[full.clone(), minimal.clone()])
            .await
            .unwrap();
        assert_eq!(
            stored,
            vec![full.clone(), minimal.clone()],
            "stored tools in input order"
        );
        assert_eq!(
            store.get_tool(&org_id, &full.id).await.unwrap(),
            Some(full.clone())
        );
        assert_eq!(
            store.get_tool(&org_id, &minimal.id).await.unwrap(),
            Some(minimal.clone())
        );

        // Same name, new id and fields: the existing row is updated and keeps its id (and creator).
        let mut again = tool(&org_id, "full_tool");
        again.description = Some("updated description".to_owned());
        again.tags = vec!["letta_core".to_owned()];
        again.tool_type = ToolType::LettaMemoryCore;
        again.last_updated_by_id = Some("user-b".to_owned());
        let brand_new = tool(&org_id, "brand_new");
        let stored = store
            .upsert_tools_by_name(&[brand_new.clone(), again.clone()])
            .await
            .unwrap();
        let expected = Tool {
            id: full.id.clone(),
            created_by_id: Some("user-a".to_owned()),
            ..again.clone()
        };
        assert_eq!(stored, vec![brand_new.clone(), expected.clone()]);
        assert_eq!(
            store.get_tool(&org_id, &full.id).await.unwrap(),
            Some(expected)
        );
        assert_eq!(store.get_tool(&org_id, &again.id).await.unwrap(), None);
        assert_eq!(store.count_tools(&org_id, &[]).await.unwrap(), 3);

        // Another organization has its own namespace.
        let (other, _) = helpers::new_org_and_user(&store).await;
        let foreign = tool(&other.id, "full_tool");
        let stored = store
            .upsert_tools_by_name(std::slice::from_ref(&foreign))
            .await
            .unwrap();
        assert_eq!(stored[0].id, foreign.id);
        assert_eq!(store.get_tool(&other.id, &full.id).await.unwrap(), None);
        assert_eq!(store.get_tool(&org_id, &foreign.id).await.unwrap(), None);
        assert_eq!(store.count_tools(&org_id, &[]).await.unwrap(), 3);

        // A clashing id under a different name is a unique violation, and the batch rolls back.
        let clash = Tool {
            id: brand_new.id.clone(),
            ..tool(&org_id, "renamed")
        };
        let fine = tool(&org_id, "would_be_fine");
        let err = store
            .upsert_tools_by_name(&[fine.clone(), clash])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unique(_)), "{err:?}");
        assert_eq!(store.get_tool(&org_id, &fine.id).await.unwrap(), None);
        assert!(store.upsert_tools_by_name(&[]).await.unwrap().is_empty());
    }
);

store_test!(
    list_orders_pages_and_finds_by_name,
    |store: DynStore, org_id: String| async move {
        let mut made = Vec::new();
        for name in ["t_c", "t_a", "t_b", "t_d"] {
            made.push(make_tool(&store, &org_id, name).await);
        }
        let (other, _) = helpers::new_org_and_user(&store).await;
        let foreign = make_tool(&store, &other.id, "t_a").await;
        let all_ids = tool_ids_of(&made);

        let all = store.list_tools(&org_id, None, None, None).await.unwrap();
        assert_eq!(tool_ids_of(&all), all_ids, "creation order");
        assert_eq!(all, made);
        let page = store
            .list_tools(&org_id, None, Some(2), None)
            .await
            .unwrap();
        assert_eq!(tool_ids_of(&page), all_ids[..2]);
        let page = store
            .list_tools(&org_id, Some(&all_ids[1]), None, None)
            .await
            .unwrap();
        assert_eq!(tool_ids_of(&page), all_ids[2..]);
        let page = store
            .list_tools(&org_id, Some(&all_ids[0]), Some(2), None)
            .await
            .unwrap();
        assert_eq!(tool_ids_of(&page), all_ids[1..3]);
        assert!(
            store
                .list_tools(&org_id, Some(&all_ids[3]), None, None)
                .await
                .unwrap()
                .is_empty()
        );
        // A cursor that is not a tool of the organization matches nothing.
        assert!(
            store
                .list_tools(&org_id, Some("tool-missing"), None, None)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .list_tools(&org_id, Some(&foreign.id), None, None)
                .await
                .unwrap()
                .is_empty()
        );

        // By name: that tool or nothing (cursor and limit do not apply).
        let named = store
            .list_tools(&org_id, None, None, Some("t_b"))
            .await
            .unwrap();
        assert_eq!(named, vec![made[2].clone()]);
        let named = store
            .list_tools(&org_id, Some(&all_ids[3]), Some(1), Some("t_a"))
            .await
            .unwrap();
        assert_eq!(named, vec![made[1].clone()]);
        assert!(
            store
                .list_tools(&org_id, None, None, Some("T_B"))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .list_tools(&org_id, None, None, Some("nope"))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store
                .list_tools(&other.id, None, None, Some("t_a"))
                .await
                .unwrap(),
            vec![foreign]
        );
    }
);

store_test!(
    count_excludes_names,
    |store: DynStore, org_id: String| async move {
        for name in [
            "send_message",
            "core_memory_append",
            "custom_one",
            "custom_two",
        ] {
            make_tool(&store, &org_id, name).await;
        }
        assert_eq!(store.count_tools(&org_id, &[]).await.unwrap(), 4);
        assert_eq!(
            store
                .count_tools(
                    &org_id,
                    &["send_message", "core_memory_append", "not_there"]
                )
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            store.count_tools(&org_id, &["custom_one"]).await.unwrap(),
            3
        );
        let (other, _) = helpers::new_org_and_user(&store).await;
        assert_eq!(store.count_tools(&other.id, &[]).await.unwrap(), 0);
    }
);

store_test!(
    lookups_by_names_and_ids,
    |store: DynStore, org_id: String| async move {
        let a = make_tool(&store, &org_id, "alpha").await;
        let b = make_tool(&store, &org_id, "beta").await;
        let c = make_tool(&store, &org_id, "gamma").await;
        let (other, _) = helpers::new_org_and_user(&store).await;
        let foreign = make_tool(&store, &other.id, "delta").await;

        let names = ["gamma", "missing", "alpha", "delta", "gamma"].map(str::to_owned);
        assert_eq!(
            store.tools_by_names(&org_id, &names).await.unwrap(),
            vec![c.clone(), a.clone()]
        );
        assert_eq!(
            store.tools_by_names(&other.id, &names).await.unwrap(),
            vec![foreign.clone()]
        );
        assert!(store.tools_by_names(&org_id, &[]).await.unwrap().is_empty());

        let ids = vec![
            b.id.clone(),
            foreign.id.clone(),
            "tool-missing".to_owned(),
            a.id.clone(),
        ];
        assert_eq!(
            store.tools_by_ids(&org_id, &ids).await.unwrap(),
            vec![b.clone(), a.clone()]
        );
        assert!(store.tools_by_ids(&org_id, &[]).await.unwrap().is_empty());
        assert_eq!(store.get_tool(&other.id, &a.id).await.unwrap(), None);
        assert_eq!(store.get_tool(&org_id, "tool-missing").await.unwrap(), None);
    }
);

store_test!(
    attach_is_idempotent_and_detach_a_noop,
    |store: DynStore, org_id: String| async move {
        let agent = make_agent(&store, &org_id, "a", 1).await;
        let t1 = make_tool(&store, &org_id, "one").await;
        let t2 = make_tool(&store, &org_id, "two").await;
        store.attach_tool(&agent.id, &t2.id).await.unwrap();
        store.attach_tool(&agent.id, &t1.id).await.unwrap();
        store.attach_tool(&agent.id, &t1.id).await.unwrap();
        assert_eq!(
            agent_tool_ids(&store, &agent.id).await,
            sorted(vec![t1.id.clone(), t2.id.clone()])
        );

        store.detach_tool(&agent.id, &t1.id).await.unwrap();
        store.detach_tool(&agent.id, &t1.id).await.unwrap();
        store.detach_tool(&agent.id, "tool-missing").await.unwrap();
        assert_eq!(agent_tool_ids(&store, &agent.id).await, vec![t2.id.clone()]);
        assert!(
            store.get_tool(&org_id, &t1.id).await.unwrap().is_some(),
            "detaching keeps the tool"
        );

        let err = store
            .attach_tool(&agent.id, "tool-missing")
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::ForeignKey(_)), "{err:?}");
        let err = store
            .attach_tool("agent-missing", &t1.id)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::ForeignKey(_)), "{err:?}");
    }
);
