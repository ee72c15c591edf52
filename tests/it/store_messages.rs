//! Store conformance: an agent's messages — paging by insertion order, search, in-place
//! updates and trimming.

use letta_rs::schemas::message::{
    FunctionCall, Message, MessageRole, ToolCall, ToolReturnRecord, text_part,
};
use letta_rs::store::{DynStore, MessageFilter};
use serde_json::json;

use crate::helpers;
use crate::store_fixtures::*;
use crate::store_test;

fn ids(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.id.clone()).collect()
}

async fn seq(store: &DynStore, m: &Message) -> i64 {
    store
        .message_sequence_id(&m.id)
        .await
        .unwrap()
        .expect("sequence id")
}

async fn list(store: &DynStore, agent_id: &str, filter: MessageFilter) -> Vec<String> {
    ids(&store.list_agent_messages(agent_id, &filter).await.unwrap())
}

async fn search(
    store: &DynStore,
    agent_id: &str,
    query: &str,
    roles: &[MessageRole],
    offset: i64,
    limit: i64,
) -> Vec<String> {
    ids(&store
        .search_agent_messages(agent_id, query, roles, offset, limit)
        .await
        .unwrap())
}

store_test!(
    paging_by_insertion_order_both_directions,
    |store: DynStore, org_id: String| async move {
        let agent = make_agent(&store, &org_id, "pager", 0).await;
        let other = make_agent(&store, &org_id, "other", 1).await;
        let mut msgs = Vec::new();
        for n in 0..6 {
            let role = if n % 2 == 0 {
                MessageRole::User
            } else {
                MessageRole::Assistant
            };
            let mut m = message(&org_id, &agent.id, role, &format!("message {n}"));
            if n % 3 == 0 {
                m.group_id = Some("group-a".to_owned());
            }
            msgs.push(m);
        }
        // Interleave another agent's messages: they take sequence ids but never show up.
        store.insert_messages(&msgs[..3]).await.unwrap();
        store
            .insert_messages(&[message(&org_id, &other.id, MessageRole::User, "elsewhere")])
            .await
            .unwrap();
        store.insert_messages(&msgs[3..]).await.unwrap();

        let mut seqs = Vec::new();
        for m in &msgs {
            seqs.push(seq(&store, m).await);
        }
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        assert_eq!(
            store.message_sequence_id("message-missing").await.unwrap(),
            None
        );

        let all = ids(&msgs);
        let asc = MessageFilter {
            ascending: true,
            ..Default::default()
        };
        let desc = MessageFilter::default();
        // Full rows round-trip.
        assert_eq!(
            store.list_agent_messages(&agent.id, &asc).await.unwrap(),
            msgs
        );
        assert_eq!(list(&store, &agent.id, asc.clone()).await, all);
        let mut reversed = all.clone();
        reversed.reverse();
        assert_eq!(list(&store, &agent.id, desc.clone()).await, reversed);

        // Limits take from the chosen end.
        let limited = |f: &MessageFilter, limit| MessageFilter {
            limit: Some(limit),
            ..f.clone()
        };
        assert_eq!(list(&store, &agent.id, limited(&asc, 2)).await, all[..2]);
        assert_eq!(
            list(&store, &agent.id, limited(&desc, 2)).await,
            vec![all[5].clone(), all[4].clone()]
        );

        // Forward paging with an `after` cursor.
        let page = list(
            &store,
            &agent.id,
            MessageFilter {
                after_sequence: Some(seqs[1]),
                ..limited(&asc, 2)
            },
        )
        .await;
        assert_eq!(page, all[2..4]);
        let page = list(
            &store,
            &agent.id,
            MessageFilter {
                after_sequence: Some(seqs[3]),
                ..limited(&asc, 10)
            },
        )
        .await;
        assert_eq!(page, all[4..]);

        // Backward paging with a `before` cursor, newest first.
        let page = list(
            &store,
            &agent.id,
            MessageFilter {
                before_sequence: Some(seqs[4]),
                ..limited(&desc, 2)
            },
        )
        .await;
        assert_eq!(page, vec![all[3].clone(), all[2].clone()]);
        let page = list(
            &store,
            &agent.id,
            MessageFilter {
                before_sequence: Some(seqs[2]),
                ..desc.clone()
            },
        )
        .await;
        assert_eq!(page, vec![all[1].clone(), all[0].clone()]);

        // A window between two cursors, both directions.
        let window = MessageFilter {
            after_sequence: Some(seqs[0]),
            before_sequence: Some(seqs[4]),
            ..asc.clone()
        };
        assert_eq!(list(&store, &agent.id, window.clone()).await, all[1..4]);
        assert_eq!(
            list(
                &store,
                &agent.id,
                MessageFilter {
                    ascending: false,
                    ..window
                }
            )
            .await,
            vec![all[3].clone(), all[2].clone(), all[1].clone()]
        );

        // Group filter.
        let grouped = MessageFilter {
            group_id: Some("group-a".to_owned()),
            ..asc.clone()
        };
        assert_eq!(
            list(&store, &agent.id, grouped).await,
            vec![all[0].clone(), all[3].clone()]
        );

        // The other agent's listing holds only its own message.
        assert_eq!(list(&store, &other.id, asc.clone()).await.len(), 1);
        assert!(list(&store, "agent-missing", asc).await.is_empty());
    }
);

store_test!(
    search_is_case_insensitive_by_role_paged_and_literal,
    |store: DynStore, org_id: String| async move {
        let agent = make_agent(&store, &org_id, "searcher", 0).await;
        let other = make_agent(&store, &org_id, "other", 1).await;
        let texts = [
            (MessageRole::User, "Hello World"),            // 0
            (MessageRole::Assistant, "well, hello there"), // 1
            (MessageRole::User, "HELLO again"),            // 2
            (MessageRole::Tool, "tool said hElLo"),        // 3
            (MessageRole::User, "100% sure"),              // 4
            (MessageRole::User, "100 percent"),            // 5
            (MessageRole::User, "snake_case"),             // 6
            (MessageRole::User, "snakeXcase"),             // 7
            (MessageRole::User, "C:\\Path\\file"),         // 8
            (MessageRole::User, "ÜBER straße"),            // 9
            (MessageRole::System, "system hello"),         // 10
        ];
        let mut msgs: Vec<Message> = texts
            .iter()
            .map(|(role, text)| message(&org_id, &agent.id, *role, text))
            .collect();
        // Several text parts are searched joined by newlines; other parts are not text.
        let mut multi = message(&org_id, &agent.id, MessageRole::Assistant, "First Part");
        multi
            .content
            .push(json!({"type": "image", "source": {"url": "hello.png"}}));
        multi.content.push(text_part("SECOND part"));
        msgs.push(multi); // 11
        store.insert_messages(&msgs).await.unwrap();
        store
            .insert_messages(&[message(
                &org_id,
                &other.id,
                MessageRole::User,
                "hello from elsewhere",
            )])
            .await
            .unwrap();
        let all = ids(&msgs);
        let pick = |idx: &[usize]| idx.iter().map(|&i| all[i].clone()).collect::<Vec<_>>();

        // Every role when none are given; oldest first; the other agent never matches.
        assert_eq!(
            search(&store, &agent.id, "hello", &[], 0, 100).await,
            pick(&[0, 1, 2, 3, 10])
        );
        assert_eq!(
            search(&store, &agent.id, "HeLLo", &[MessageRole::User], 0, 100).await,
            pick(&[0, 2])
        );
        assert_eq!(
            search(
                &store,
                &agent.id,
                "hello",
                &[MessageRole::User, MessageRole::Assistant],
                0,
                100
            )
            .await,
            pick(&[0, 1, 2])
        );
        assert_eq!(
            search(&store, &agent.id, "hello", &[MessageRole::Tool], 0, 100).await,
            pick(&[3])
        );

        // Paging by offset and limit.
        assert_eq!(
            search(&store, &agent.id, "hello", &[], 0, 2).await,
            pick(&[0, 1])
        );
        assert_eq!(
            search(&store, &agent.id, "hello", &[], 2, 2).await,
            pick(&[2, 3])
        );
        assert_eq!(
            search(&store, &agent.id, "hello", &[], 4, 2).await,
            pick(&[10])
        );
        assert!(
            search(&store, &agent.id, "hello", &[], 5, 2)
                .await
                .is_empty()
        );
        assert!(
            search(&store, &agent.id, "hello", &[], 0, 0)
                .await
                .is_empty()
        );

        // `%`, `_` and `\` are literal.
        assert_eq!(
            search(&store, &agent.id, "100%", &[], 0, 100).await,
            pick(&[4])
        );
        assert_eq!(
            search(&store, &agent.id, "0% s", &[], 0, 100).await,
            pick(&[4])
        );
        assert_eq!(
            search(&store, &agent.id, "e_c", &[], 0, 100).await,
            pick(&[6])
        );
        assert_eq!(
            search(&store, &agent.id, "_", &[], 0, 100).await,
            pick(&[6])
        );
        assert!(
            search(&store, &agent.id, "%%", &[], 0, 100)
                .await
                .is_empty()
        );
        assert_eq!(
            search(&store, &agent.id, "c:\\path\\", &[], 0, 100).await,
            pick(&[8])
        );
        // Non-ASCII text folds the same way on both backends.
        assert_eq!(
            search(&store, &agent.id, "über", &[], 0, 100).await,
            pick(&[9])
        );
        assert_eq!(
            search(&store, &agent.id, "STRASSE", &[], 0, 100).await,
            Vec::<String>::new()
        );
        assert_eq!(
            search(&store, &agent.id, "STRAßE", &[], 0, 100).await,
            pick(&[9])
        );

        // Text parts joined by a newline; non-text parts are not searched.
        assert_eq!(
            search(&store, &agent.id, "part\nsecond", &[], 0, 100).await,
            pick(&[11])
        );
        assert!(
            search(&store, &agent.id, "hello.png", &[], 0, 100)
                .await
                .is_empty()
        );

        // update_message_content refreshes the searchable text.
        let mut edited = msgs[0].clone();
        edited.content = vec![text_part("Goodbye Moon")];
        store.update_message_content(&edited).await.unwrap();
        assert_eq!(
            search(&store, &agent.id, "hello", &[MessageRole::User], 0, 100).await,
            pick(&[2])
        );
        assert_eq!(
            search(&store, &agent.id, "goodbye", &[], 0, 100).await,
            pick(&[0])
        );

        // Agents created with initial messages are searchable too.
        let mut seeded = bare(agent_row(&org_id, "seeded", 2));
        seeded.messages = vec![message(
            &org_id,
            &seeded.row.id,
            MessageRole::System,
            "Seeded Prompt",
        )];
        seeded.row.message_ids = vec![seeded.messages[0].id.clone()];
        store.create_agent(&seeded).await.unwrap();
        assert_eq!(
            search(&store, &seeded.row.id, "seeded prompt", &[], 0, 10).await,
            vec![seeded.messages[0].id.clone()]
        );
    }
);

store_test!(
    update_message_rewrites_mutable_fields,
    |store: DynStore, org_id: String| async move {
        let agent = make_agent(&store, &org_id, "editor", 0).await;
        let original = message(&org_id, &agent.id, MessageRole::Assistant, "first draft");
        let neighbour = message(&org_id, &agent.id, MessageRole::User, "first draft too");
        store
            .insert_messages(&[original.clone(), neighbour.clone()])
            .await
            .unwrap();
        let sequence = seq(&store, &original).await;

        let mut edited = original.clone();
        edited.role = MessageRole::Tool;
        edited.content = vec![
            json!({"type": "text", "text": "Second Draft", "zeta": 1, "alpha": 2}),
            text_part("with more"),
        ];
        edited.model = Some("gpt-4o".to_owned());
        edited.name = Some("send_message".to_owned());
        edited.tool_calls = vec![ToolCall {
            id: "call-1".to_owned(),
            kind: "function".to_owned(),
            function: FunctionCall {
                name: "send_message".to_owned(),
                arguments: "{\"message\": \"hi\"}".to_owned(),
            },
        }];
        edited.tool_call_id = Some("call-1".to_owned());
        edited.tool_returns = vec![ToolReturnRecord {
            status: "success".to_owned(),
            stdout: Some(vec!["out".to_owned()]),
            stderr: None,
        }];
        edited.step_id = Some("step-x".to_owned());
        edited.otid = Some("otid-x".to_owned());
        edited.group_id = Some("group-x".to_owned());
        edited.sender_id = Some("sender-x".to_owned());
        edited.batch_item_id = Some("batch-x".to_owned());
        edited.last_updated_by_id = Some("user-editor".to_owned());
        edited.updated_at = ts(3600);
        assert!(store.update_message(&edited).await.unwrap());

        let stored = store
            .get_messages(&org_id, std::slice::from_ref(&original.id))
            .await
            .unwrap();
        assert_eq!(stored, vec![edited.clone()]);
        assert_eq!(stored[0].created_at, original.created_at);
        // Content parts keep their key order exactly.
        assert_eq!(
            serde_json::to_string(&stored[0].content).unwrap(),
            serde_json::to_string(&edited.content).unwrap()
        );
        // Same place in the insertion order, and the neighbour is untouched.
        assert_eq!(seq(&store, &original).await, sequence);
        assert_eq!(
            store
                .get_messages(&org_id, std::slice::from_ref(&neighbour.id))
                .await
                .unwrap(),
            vec![neighbour.clone()]
        );
        // The searchable text follows the new content.
        assert_eq!(
            search(
                &store,
                &agent.id,
                "second draft\nwith",
                &[MessageRole::Tool],
                0,
                10
            )
            .await,
            vec![original.id.clone()]
        );
        assert_eq!(
            search(&store, &agent.id, "first draft", &[], 0, 10).await,
            vec![neighbour.id.clone()]
        );

        // Absent, or in another organization: false, nothing written.
        let mut ghost = edited.clone();
        ghost.id = "message-missing".to_owned();
        assert!(!store.update_message(&ghost).await.unwrap());
        let (other_org, _) = helpers::new_org_and_user(&store).await;
        let mut foreign = edited.clone();
        foreign.organization_id = other_org.id.clone();
        foreign.content = vec![text_part("hijacked")];
        assert!(!store.update_message(&foreign).await.unwrap());
        assert_eq!(
            store
                .get_messages(&org_id, std::slice::from_ref(&original.id))
                .await
                .unwrap(),
            vec![edited]
        );
    }
);

store_test!(
    delete_agent_messages_except_keeps_listed,
    |store: DynStore, org_id: String| async move {
        let agent = make_agent(&store, &org_id, "trimmer", 0).await;
        let other = make_agent(&store, &org_id, "bystander", 1).await;
        let msgs: Vec<Message> = (0..5)
            .map(|n| message(&org_id, &agent.id, MessageRole::User, &format!("m{n}")))
            .collect();
        let theirs: Vec<Message> = (0..2)
            .map(|n| message(&org_id, &other.id, MessageRole::User, &format!("t{n}")))
            .collect();
        store.insert_messages(&msgs).await.unwrap();
        store.insert_messages(&theirs).await.unwrap();

        // Keeping the other agent's message ids protects nothing of this agent's and deletes
        // nothing of theirs.
        let keep = vec![msgs[1].id.clone(), msgs[3].id.clone(), theirs[0].id.clone()];
        assert_eq!(
            store
                .delete_agent_messages_except(&agent.id, &keep)
                .await
                .unwrap(),
            3
        );
        assert_eq!(store.count_agent_messages(&agent.id).await.unwrap(), 2);
        let left = store
            .list_agent_messages(
                &agent.id,
                &MessageFilter {
                    ascending: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(ids(&left), vec![msgs[1].id.clone(), msgs[3].id.clone()]);
        assert_eq!(store.count_agent_messages(&other.id).await.unwrap(), 2);

        // Nothing left to delete but the kept ones.
        assert_eq!(
            store
                .delete_agent_messages_except(&agent.id, &keep)
                .await
                .unwrap(),
            0
        );
        // An empty keep list deletes everything of the agent.
        assert_eq!(
            store
                .delete_agent_messages_except(&agent.id, &[])
                .await
                .unwrap(),
            2
        );
        assert_eq!(store.count_agent_messages(&agent.id).await.unwrap(), 0);
        assert_eq!(store.count_agent_messages(&other.id).await.unwrap(), 2);
        assert_eq!(store.message_sequence_id(&msgs[1].id).await.unwrap(), None);
    }
);
