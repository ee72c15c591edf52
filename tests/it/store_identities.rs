//! Store conformance: identities, their uniqueness, links and listing.

use letta_rs::schemas::identity::{Identity, IdentityProperty, IdentityPropertyType, IdentityType};
use letta_rs::store::{DynStore, IdentityFilter, IdentityLinks, StoreError};
use serde_json::json;

use crate::helpers;
use crate::store_fixtures::*;
use crate::store_test;

fn ids(v: &[Identity]) -> Vec<String> {
    v.iter().map(|i| i.id.clone()).collect()
}

store_test!(
    create_get_and_find_by_key,
    |store: DynStore, org_id: String| async move {
        let a1 = make_agent(&store, &org_id, "a1", 1).await;
        let a2 = make_agent(&store, &org_id, "a2", 2).await;
        let b1 = make_block(&store, &org_id, "human", "h").await;
        let mut ident = identity(&org_id, "user-123", "Ada", None);
        ident.identity_type = IdentityType::Org;
        ident.agent_ids = vec![a2.id.clone(), a1.id.clone(), a2.id.clone()];
        ident.block_ids = vec![b1.id.clone()];
        ident.properties = vec![
            IdentityProperty {
                key: "age".to_owned(),
                value: json!(36),
                kind: IdentityPropertyType::Number,
            },
            IdentityProperty {
                key: "vip".to_owned(),
                value: json!(true),
                kind: IdentityPropertyType::Boolean,
            },
            IdentityProperty {
                key: "prefs".to_owned(),
                value: json!({"lang": "en"}),
                kind: IdentityPropertyType::Json,
            },
        ];
        store.create_identity(&ident).await.unwrap();
        let expected = Identity {
            agent_ids: sorted(vec![a1.id.clone(), a2.id.clone()]),
            ..ident.clone()
        };
        assert_eq!(
            store.get_identity(&org_id, &ident.id).await.unwrap(),
            Some(expected.clone())
        );

        let scoped = make_identity(
            &store,
            &org_id,
            "user-123",
            "Ada in a project",
            Some("proj-1"),
        )
        .await;
        assert_eq!(
            store
                .find_identity_by_key(&org_id, "user-123", None)
                .await
                .unwrap(),
            Some(expected.clone())
        );
        assert_eq!(
            store
                .find_identity_by_key(&org_id, "user-123", Some("proj-1"))
                .await
                .unwrap(),
            Some(scoped.clone())
        );
        assert_eq!(
            store
                .find_identity_by_key(&org_id, "user-123", Some("proj-2"))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .find_identity_by_key(&org_id, "user-999", None)
                .await
                .unwrap(),
            None
        );

        let (other, _) = helpers::new_org_and_user(&store).await;
        assert_eq!(
            store.get_identity(&other.id, &ident.id).await.unwrap(),
            None
        );
        assert_eq!(
            store
                .find_identity_by_key(&other.id, "user-123", None)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .get_identity(&org_id, "identity-missing")
                .await
                .unwrap(),
            None
        );
        assert_eq!(store.count_identities(&org_id).await.unwrap(), 2);
        assert_eq!(store.count_identities(&other.id).await.unwrap(), 0);

        // Links to unknown rows fail as a whole.
        let mut broken = identity(&org_id, "broken", "B", None);
        broken.agent_ids = vec!["agent-missing".to_owned()];
        let err = store.create_identity(&broken).await.unwrap_err();
        assert!(matches!(err, StoreError::ForeignKey(_)), "{err:?}");
        assert_eq!(store.get_identity(&org_id, &broken.id).await.unwrap(), None);
    }
);

store_test!(
    key_and_project_are_unique_per_org,
    |store: DynStore, org_id: String| async move {
        make_identity(&store, &org_id, "k", "no project", None).await;
        make_identity(&store, &org_id, "k", "project a", Some("a")).await;
        // NULL project ids count as equal.
        let err = store
            .create_identity(&identity(&org_id, "k", "dup", None))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unique(_)), "{err:?}");
        let err = store
            .create_identity(&identity(&org_id, "k", "dup a", Some("a")))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unique(_)), "{err:?}");
        make_identity(&store, &org_id, "k", "project b", Some("b")).await;
        let (other, _) = helpers::new_org_and_user(&store).await;
        make_identity(&store, &other.id, "k", "same key elsewhere", None).await;
        assert_eq!(store.count_identities(&org_id).await.unwrap(), 3);

        // An update onto a taken key is a unique violation too.
        let mut moving = make_identity(&store, &org_id, "k2", "mover", Some("a")).await;
        moving.identifier_key = "k".to_owned();
        let err = store
            .update_identity(&org_id, &moving, &IdentityLinks::default())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unique(_)), "{err:?}");
        assert_eq!(
            store
                .get_identity(&org_id, &moving.id)
                .await
                .unwrap()
                .unwrap()
                .identifier_key,
            "k2"
        );
    }
);

store_test!(
    list_filters_cursors_and_order,
    |store: DynStore, org_id: String| async move {
        let mut made = Vec::new();
        for (key, name, project, kind) in [
            ("k1", "Alice Smith", None, IdentityType::User),
            ("k2", "Bob", Some("p1"), IdentityType::Org),
            ("k3", "alice jones", Some("p1"), IdentityType::User),
            ("k4", "Carol", None, IdentityType::Other),
        ] {
            let mut i = identity(&org_id, key, name, project);
            i.identity_type = kind;
            store.create_identity(&i).await.unwrap();
            made.push(i);
        }
        let (other, _) = helpers::new_org_and_user(&store).await;
        let foreign = make_identity(&store, &other.id, "k1", "Alice Foreign", None).await;
        let all = ids(&made);
        let list = |f: IdentityFilter| {
            let store = store.clone();
            let org = org_id.clone();
            async move { ids(&store.list_identities(&org, &f).await.unwrap()) }
        };

        let listed = store
            .list_identities(&org_id, &IdentityFilter::default())
            .await
            .unwrap();
        assert_eq!(listed, made, "created_at order, full rows");
        assert_eq!(
            list(IdentityFilter {
                name: Some("ALICE".to_owned()),
                ..Default::default()
            })
            .await,
            vec![all[0].clone(), all[2].clone()]
        );
        assert_eq!(
            list(IdentityFilter {
                name: Some("ob".to_owned()),
                ..Default::default()
            })
            .await,
            vec![all[1].clone()]
        );
        assert_eq!(
            list(IdentityFilter {
                project_id: Some("p1".to_owned()),
                ..Default::default()
            })
            .await,
            all[1..3]
        );
        assert_eq!(
            list(IdentityFilter {
                identifier_key: Some("k4".to_owned()),
                ..Default::default()
            })
            .await,
            vec![all[3].clone()]
        );
        assert!(
            list(IdentityFilter {
                identifier_key: Some("K4".to_owned()),
                ..Default::default()
            })
            .await
            .is_empty()
        );
        assert_eq!(
            list(IdentityFilter {
                identity_type: Some(IdentityType::User),
                ..Default::default()
            })
            .await,
            vec![all[0].clone(), all[2].clone()]
        );
        assert_eq!(
            list(IdentityFilter {
                limit: Some(3),
                ..Default::default()
            })
            .await,
            all[..3]
        );
        assert_eq!(
            list(IdentityFilter {
                after: Some(all[1].clone()),
                ..Default::default()
            })
            .await,
            all[2..]
        );
        assert_eq!(
            list(IdentityFilter {
                before: Some(all[2].clone()),
                ..Default::default()
            })
            .await,
            all[..2]
        );
        assert_eq!(
            list(IdentityFilter {
                after: Some(all[0].clone()),
                before: Some(all[3].clone()),
                ..Default::default()
            })
            .await,
            all[1..3]
        );
        assert_eq!(
            list(IdentityFilter {
                after: Some(all[0].clone()),
                limit: Some(1),
                ..Default::default()
            })
            .await,
            vec![all[1].clone()]
        );
        assert_eq!(
            list(IdentityFilter {
                name: Some("alice".to_owned()),
                project_id: Some("p1".to_owned()),
                ..Default::default()
            })
            .await,
            vec![all[2].clone()]
        );
        // A cursor that is not an identity of the organization matches nothing.
        assert!(
            list(IdentityFilter {
                after: Some("identity-missing".to_owned()),
                ..Default::default()
            })
            .await
            .is_empty()
        );
        assert!(
            list(IdentityFilter {
                after: Some(foreign.id.clone()),
                ..Default::default()
            })
            .await
            .is_empty()
        );
        assert_eq!(
            ids(&store
                .list_identities(&other.id, &IdentityFilter::default())
                .await
                .unwrap()),
            vec![foreign.id.clone()]
        );
    }
);

store_test!(
    update_writes_fields_and_links,
    |store: DynStore, org_id: String| async move {
        let a1 = make_agent(&store, &org_id, "a1", 1).await;
        let a2 = make_agent(&store, &org_id, "a2", 2).await;
        let a3 = make_agent(&store, &org_id, "a3", 3).await;
        let b1 = make_block(&store, &org_id, "b1", "1").await;
        let b2 = make_block(&store, &org_id, "b2", "2").await;
        let mut ident = identity(&org_id, "key", "Name", None);
        ident.agent_ids = vec![a1.id.clone()];
        ident.block_ids = vec![b1.id.clone()];
        store.create_identity(&ident).await.unwrap();
        let get = || {
            let store = store.clone();
            let (org, id) = (org_id.clone(), ident.id.clone());
            async move { store.get_identity(&org, &id).await.unwrap().unwrap() }
        };

        // Scalars and properties; identity.agent_ids is not what drives the links.
        let mut changed = ident.clone();
        changed.name = "New Name".to_owned();
        changed.identifier_key = "new-key".to_owned();
        changed.identity_type = IdentityType::Other;
        changed.project_id = Some("proj".to_owned());
        changed.properties = vec![IdentityProperty {
            key: "x".to_owned(),
            value: json!("y"),
            kind: IdentityPropertyType::String,
        }];
        changed.agent_ids = vec![];
        assert!(
            store
                .update_identity(&org_id, &changed, &IdentityLinks::default())
                .await
                .unwrap()
        );
        let got = get().await;
        assert_eq!(
            got,
            Identity {
                agent_ids: vec![a1.id.clone()],
                block_ids: vec![b1.id.clone()],
                ..changed.clone()
            }
        );

        // Adding links keeps the existing ones and ignores duplicates.
        let add = IdentityLinks {
            agent_ids: Some(vec![a2.id.clone(), a1.id.clone()]),
            block_ids: Some(vec![b2.id.clone()]),
            replace: false,
        };
        assert!(
            store
                .update_identity(&org_id, &changed, &add)
                .await
                .unwrap()
        );
        let got = get().await;
        assert_eq!(got.agent_ids, sorted(vec![a1.id.clone(), a2.id.clone()]));
        assert_eq!(got.block_ids, sorted(vec![b1.id.clone(), b2.id.clone()]));

        // Replacing the agents leaves the blocks untouched (None).
        let replace = IdentityLinks {
            agent_ids: Some(vec![a3.id.clone()]),
            block_ids: None,
            replace: true,
        };
        assert!(
            store
                .update_identity(&org_id, &changed, &replace)
                .await
                .unwrap()
        );
        let got = get().await;
        assert_eq!(got.agent_ids, vec![a3.id.clone()]);
        assert_eq!(got.block_ids, sorted(vec![b1.id.clone(), b2.id.clone()]));
        let clear = IdentityLinks {
            agent_ids: None,
            block_ids: Some(vec![]),
            replace: true,
        };
        assert!(
            store
                .update_identity(&org_id, &changed, &clear)
                .await
                .unwrap()
        );
        let got = get().await;
        assert_eq!(got.agent_ids, vec![a3.id.clone()]);
        assert!(got.block_ids.is_empty());

        // A link to a missing agent fails and rolls back the scalar change too.
        let mut renamed = changed.clone();
        renamed.name = "Should not stick".to_owned();
        let bad = IdentityLinks {
            agent_ids: Some(vec!["agent-missing".to_owned()]),
            block_ids: None,
            replace: true,
        };
        let err = store
            .update_identity(&org_id, &renamed, &bad)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::ForeignKey(_)), "{err:?}");
        let got = get().await;
        assert_eq!(got.name, "New Name");
        assert_eq!(got.agent_ids, vec![a3.id.clone()]);

        // Other organizations and unknown ids: false.
        let (other, _) = helpers::new_org_and_user(&store).await;
        assert!(
            !store
                .update_identity(&other.id, &renamed, &IdentityLinks::default())
                .await
                .unwrap()
        );
        let missing = Identity {
            id: "identity-missing".to_owned(),
            ..renamed.clone()
        };
        assert!(
            !store
                .update_identity(&org_id, &missing, &IdentityLinks::default())
                .await
                .unwrap()
        );
        assert_eq!(get().await.name, "New Name");
    }
);

store_test!(
    set_properties_replaces_all,
    |store: DynStore, org_id: String| async move {
        let ident = make_identity(&store, &org_id, "key", "Name", None).await;
        let props = vec![
            IdentityProperty {
                key: "a".to_owned(),
                value: json!(1.5),
                kind: IdentityPropertyType::Number,
            },
            IdentityProperty {
                key: "b".to_owned(),
                value: json!([1, 2]),
                kind: IdentityPropertyType::Json,
            },
        ];
        assert!(
            store
                .set_identity_properties(&org_id, &ident.id, &props)
                .await
                .unwrap()
        );
        let got = store
            .get_identity(&org_id, &ident.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            got,
            Identity {
                properties: props.clone(),
                ..ident.clone()
            }
        );
        assert!(
            store
                .set_identity_properties(&org_id, &ident.id, &[])
                .await
                .unwrap()
        );
        assert!(
            store
                .get_identity(&org_id, &ident.id)
                .await
                .unwrap()
                .unwrap()
                .properties
                .is_empty()
        );

        let (other, _) = helpers::new_org_and_user(&store).await;
        assert!(
            !store
                .set_identity_properties(&other.id, &ident.id, &props)
                .await
                .unwrap()
        );
        assert!(
            !store
                .set_identity_properties(&org_id, "identity-missing", &props)
                .await
                .unwrap()
        );
        assert!(
            store
                .get_identity(&org_id, &ident.id)
                .await
                .unwrap()
                .unwrap()
                .properties
                .is_empty()
        );
    }
);

store_test!(
    delete_removes_links_only,
    |store: DynStore, org_id: String| async move {
        let agent = make_agent(&store, &org_id, "a", 1).await;
        let b = make_block(&store, &org_id, "human", "h").await;
        let mut ident = identity(&org_id, "key", "Name", None);
        ident.agent_ids = vec![agent.id.clone()];
        ident.block_ids = vec![b.id.clone()];
        store.create_identity(&ident).await.unwrap();

        let (other, _) = helpers::new_org_and_user(&store).await;
        assert!(!store.delete_identity(&other.id, &ident.id).await.unwrap());
        assert!(store.delete_identity(&org_id, &ident.id).await.unwrap());
        assert!(!store.delete_identity(&org_id, &ident.id).await.unwrap());
        assert_eq!(store.get_identity(&org_id, &ident.id).await.unwrap(), None);
        assert_eq!(store.count_identities(&org_id).await.unwrap(), 0);
        assert!(store.get_agent(&org_id, &agent.id).await.unwrap().is_some());
        assert!(store.get_block(&org_id, &b.id).await.unwrap().is_some());
        let rels = store
            .load_relations(
                std::slice::from_ref(&agent.id),
                letta_rs::store::RelationSet::ALL,
            )
            .await
            .unwrap();
        assert!(rels[&agent.id].identity_ids.is_empty());
        // The key is free again.
        make_identity(&store, &org_id, "key", "Again", None).await;
    }
);
