//! Store conformance: organizations, users and messages.

use chrono::{TimeZone, Utc};
use letta_rs::schemas::message::{
    FunctionCall, MessageRole, ToolCall, ToolReturnRecord, text_part,
};
use letta_rs::schemas::new_id;
use letta_rs::schemas::org::{DEFAULT_ORG_ID, DEFAULT_USER_ID, Organization, User};
use letta_rs::store::{DynStore, StoreError};
use serde_json::json;

use crate::helpers;
use crate::store_fixtures::*;
use crate::store_test;

/// Far in the future, so rows created by concurrently running tests never sort after them.
fn future(n: i64) -> letta_rs::schemas::Timestamp {
    Utc.with_ymd_and_hms(2999, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::microseconds(n)
}

store_test!(
    orgs_crud_and_listing,
    |store: DynStore, org_id: String| async move {
        store.ensure_defaults().await.unwrap();
        store.ensure_defaults().await.unwrap();
        let default = store
            .get_org(DEFAULT_ORG_ID)
            .await
            .unwrap()
            .expect("default org");
        assert_eq!(default.name, "default_org");
        assert!(store.get_user(DEFAULT_USER_ID).await.unwrap().is_some());

        let mine = store.get_org(&org_id).await.unwrap().expect("test org");
        assert_eq!(mine.name, "test-org");
        assert!(mine.created_at.is_some());

        // Listing after a cursor, ordered by (created_at, id); these sort after every other org.
        let salt = uuid::Uuid::new_v4().simple().to_string();
        let mut made = Vec::new();
        for n in 0..3 {
            let org = Organization {
                id: format!("org-{salt}-{n}"),
                name: format!("listed {n}"),
                created_at: Some(future(n)),
                privileged_tools: n == 1,
            };
            store.create_org(&org).await.unwrap();
            made.push(org);
        }
        let err = store.create_org(&made[0]).await.unwrap_err();
        assert!(matches!(err, StoreError::Unique(_)), "{err:?}");
        // Other runs of this test may have put their own far-future orgs in the same database.
        let after_first = store.list_orgs(Some(&made[0].id), None).await.unwrap();
        let tail: Vec<_> = after_first
            .iter()
            .filter(|o| o.id.starts_with(&format!("org-{salt}")))
            .cloned()
            .collect();
        assert_eq!(tail, made[1..]);
        assert_eq!(
            store.list_orgs(Some(&made[0].id), Some(1)).await.unwrap()[0].created_at,
            made[1].created_at
        );
        let all = store.list_orgs(None, None).await.unwrap();
        assert!(all.iter().any(|o| o.id == org_id) && all.iter().any(|o| o.id == DEFAULT_ORG_ID));
        assert!(
            all.windows(2)
                .all(|w| (w[0].created_at, &w[0].id) <= (w[1].created_at, &w[1].id))
        );
        assert_eq!(store.list_orgs(None, Some(2)).await.unwrap().len(), 2);

        let mut renamed = made[2].clone();
        renamed.name = "renamed".to_owned();
        renamed.privileged_tools = true;
        assert!(store.update_org(&renamed).await.unwrap());
        assert_eq!(
            store.get_org(&renamed.id).await.unwrap(),
            Some(renamed.clone())
        );
        let missing = Organization {
            id: "org-missing".to_owned(),
            ..renamed.clone()
        };
        assert!(!store.update_org(&missing).await.unwrap());

        // Deleting an organization deletes everything it owns.
        let doomed = &made[1].id;
        let user = User {
            id: new_id("user"),
            organization_id: Some(doomed.clone()),
            name: "u".to_owned(),
            created_at: None,
            updated_at: None,
            is_deleted: false,
        };
        store.create_user(&user).await.unwrap();
        let agent = make_agent(&store, doomed, "a", 1).await;
        let b = make_block(&store, doomed, "human", "h").await;
        let t = make_tool(&store, doomed, "t").await;
        let i = make_identity(&store, doomed, "k", "I", None).await;
        store
            .insert_messages(&[message(doomed, &agent.id, MessageRole::User, "hi")])
            .await
            .unwrap();
        assert!(store.delete_org(doomed).await.unwrap());
        assert!(!store.delete_org(doomed).await.unwrap());
        assert_eq!(store.get_org(doomed).await.unwrap(), None);
        assert_eq!(store.get_user(&user.id).await.unwrap(), None);
        assert_eq!(store.get_agent(doomed, &agent.id).await.unwrap(), None);
        assert_eq!(store.get_block(doomed, &b.id).await.unwrap(), None);
        assert_eq!(store.get_tool(doomed, &t.id).await.unwrap(), None);
        assert_eq!(store.get_identity(doomed, &i.id).await.unwrap(), None);
        assert_eq!(store.count_agent_messages(&agent.id).await.unwrap(), 0);
        // Other organizations are untouched.
        assert!(store.get_org(&org_id).await.unwrap().is_some());
    }
);

store_test!(
    users_crud_and_listing,
    |store: DynStore, org_id: String| async move {
        let salt = uuid::Uuid::new_v4().simple().to_string();
        let mut made = Vec::new();
        for n in 0..3 {
            let user = User {
                id: format!("user-{salt}-{n}"),
                organization_id: Some(org_id.clone()),
                name: format!("user {n}"),
                created_at: Some(future(n)),
                updated_at: None,
                is_deleted: false,
            };
            store.create_user(&user).await.unwrap();
            made.push(user);
        }
        let got = store.get_user(&made[0].id).await.unwrap().unwrap();
        assert_eq!(got.name, "user 0");
        assert_eq!(got.organization_id.as_deref(), Some(org_id.as_str()));
        assert_eq!(got.created_at, Some(future(0)));
        assert_eq!(store.get_user("user-missing").await.unwrap(), None);

        let err = store.create_user(&made[0]).await.unwrap_err();
        assert!(matches!(err, StoreError::Unique(_)), "{err:?}");
        let orphan = User {
            id: new_id("user"),
            organization_id: Some("org-missing".to_owned()),
            ..made[0].clone()
        };
        let err = store.create_user(&orphan).await.unwrap_err();
        assert!(matches!(err, StoreError::ForeignKey(_)), "{err:?}");

        let after = store.list_users(Some(&made[0].id), None).await.unwrap();
        let tail: Vec<_> = after
            .iter()
            .filter(|u| u.id.starts_with(&format!("user-{salt}")))
            .map(|u| u.id.clone())
            .collect();
        assert_eq!(tail, vec![made[1].id.clone(), made[2].id.clone()]);
        assert_eq!(store.list_users(None, Some(1)).await.unwrap().len(), 1);

        // Moving a user to another organization and renaming it.
        let (other, _) = helpers::new_org_and_user(&store).await;
        let moved = User {
            name: "moved".to_owned(),
            organization_id: Some(other.id.clone()),
            ..made[1].clone()
        };
        assert!(store.update_user(&moved).await.unwrap());
        let got = store.get_user(&moved.id).await.unwrap().unwrap();
        assert_eq!(
            (got.name.as_str(), got.organization_id.as_deref()),
            ("moved", Some(other.id.as_str()))
        );
        assert!(
            !store
                .update_user(&User {
                    id: "user-missing".to_owned(),
                    ..moved.clone()
                })
                .await
                .unwrap()
        );

        assert!(store.delete_user(&made[2].id).await.unwrap());
        assert!(!store.delete_user(&made[2].id).await.unwrap());
        assert_eq!(store.get_user(&made[2].id).await.unwrap(), None);
        assert!(
            store.get_org(&org_id).await.unwrap().is_some(),
            "deleting a user keeps its organization"
        );
    }
);

store_test!(
    messages_roundtrip_order_and_count,
    |store: DynStore, org_id: String| async move {
        let agent = make_agent(&store, &org_id, "a", 1).await;
        let second = make_agent(&store, &org_id, "b", 2).await;
        let mut tool_msg = message(&org_id, &agent.id, MessageRole::Assistant, "calling");
        tool_msg.model = Some("gpt-4o-mini".to_owned());
        tool_msg.name = Some("assistant-name".to_owned());
        tool_msg.tool_calls = vec![ToolCall {
            id: "call-1".to_owned(),
            kind: "function".to_owned(),
            function: FunctionCall {
                name: "send_message".to_owned(),
                arguments: "{\"message\":\"hi\"}".to_owned(),
            },
        }];
        tool_msg.step_id = Some("step-1".to_owned());
        tool_msg.otid = Some("otid-1".to_owned());
        tool_msg.group_id = Some("group-1".to_owned());
        tool_msg.sender_id = Some("identity-1".to_owned());
        tool_msg.batch_item_id = Some("batch-1".to_owned());
        tool_msg.created_by_id = Some("user-1".to_owned());
        tool_msg.last_updated_by_id = Some("user-2".to_owned());
        tool_msg
            .content
            .push(json!({"type": "reasoning", "reasoning": "thinking", "is_native": true}));
        let mut tool_ret = message(
            &org_id,
            &agent.id,
            MessageRole::Tool,
            "{\"status\": \"OK\"}",
        );
        tool_ret.tool_call_id = Some("call-1".to_owned());
        tool_ret.tool_returns = vec![ToolReturnRecord {
            status: "success".to_owned(),
            stdout: Some(vec!["out".to_owned()]),
            stderr: None,
        }];
        let mut empty = message(&org_id, &agent.id, MessageRole::User, "");
        empty.content = vec![];
        let msgs = vec![
            message(&org_id, &agent.id, MessageRole::System, "system"),
            tool_msg.clone(),
            tool_ret.clone(),
            empty.clone(),
        ];
        store.insert_messages(&msgs).await.unwrap();
        store.insert_messages(&[]).await.unwrap();
        store
            .insert_messages(&[message(
                &org_id,
                &second.id,
                MessageRole::User,
                "other agent",
            )])
            .await
            .unwrap();

        let all_ids: Vec<String> = msgs.iter().map(|m| m.id.clone()).collect();
        assert_eq!(store.get_messages(&org_id, &all_ids).await.unwrap(), msgs);
        // In the order asked for, missing ones skipped.
        let asked = vec![
            all_ids[2].clone(),
            "message-missing".to_owned(),
            all_ids[0].clone(),
        ];
        assert_eq!(
            store.get_messages(&org_id, &asked).await.unwrap(),
            vec![msgs[2].clone(), msgs[0].clone()]
        );
        assert!(store.get_messages(&org_id, &[]).await.unwrap().is_empty());
        assert_eq!(store.count_agent_messages(&agent.id).await.unwrap(), 4);
        assert_eq!(store.count_agent_messages(&second.id).await.unwrap(), 1);
        assert_eq!(
            store.count_agent_messages("agent-missing").await.unwrap(),
            0
        );

        // Other organizations do not see them.
        let (other, _) = helpers::new_org_and_user(&store).await;
        assert!(
            store
                .get_messages(&other.id, &all_ids)
                .await
                .unwrap()
                .is_empty()
        );

        // Inserting is atomic: a duplicate id fails the whole batch.
        let fresh = message(&org_id, &agent.id, MessageRole::User, "fresh");
        let err = store
            .insert_messages(&[fresh.clone(), msgs[0].clone()])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unique(_)), "{err:?}");
        assert!(
            store
                .get_messages(&org_id, std::slice::from_ref(&fresh.id))
                .await
                .unwrap()
                .is_empty()
        );
        let err = store
            .insert_messages(&[message(&org_id, "agent-missing", MessageRole::User, "x")])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::ForeignKey(_)), "{err:?}");
        assert_eq!(store.count_agent_messages(&agent.id).await.unwrap(), 4);

        // Content rewritten in place.
        let mut edited = msgs[1].clone();
        edited.content = vec![text_part("edited")];
        edited.updated_at = ts(1000);
        edited.name = Some("not written".to_owned());
        store.update_message_content(&edited).await.unwrap();
        let got = store
            .get_messages(&org_id, std::slice::from_ref(&edited.id))
            .await
            .unwrap()
            .remove(0);
        assert_eq!(got.content, vec![text_part("edited")]);
        assert_eq!(got.updated_at, ts(1000));
        assert_eq!(got.created_at, msgs[1].created_at);
        assert_eq!(got.name, msgs[1].name);
        assert_eq!(got.text(), Some("edited"));
    }
);
