//! Store conformance: agents, their relationships, listing, cursors and tags.

use std::collections::HashMap;

use letta_rs::schemas::agent::AgentType;
use letta_rs::schemas::message::MessageRole;
use letta_rs::schemas::tool_rule::ToolRule;
use letta_rs::store::{
    AgentFilter, AgentPatch, AgentRow, AgentSort, DynStore, RelationSet, StoreError,
};
use serde_json::json;

use crate::helpers;
use crate::store_fixtures::*;
use crate::store_test;

fn filter() -> AgentFilter {
    AgentFilter::default()
}

async fn list(store: &DynStore, org: &str, f: AgentFilter) -> Vec<String> {
    ids_of(&store.list_agents(org, &f).await.expect("list agents"))
}

store_test!(
    create_and_get_roundtrip,
    |store: DynStore, org_id: String| async move {
        let mut row = agent_row(&org_id, "full agent", 10);
        row.agent_type = AgentType::MemgptV2Agent;
        row.description = Some("describes".to_owned());
        row.message_ids = vec!["message-a".to_owned(), "message-b".to_owned()];
        row.response_format = Some(json!({"type": "json_object"}));
        row.metadata = Some(
            json!({"zeta": 1, "alpha": {"nested": [1, 2]}})
                .as_object()
                .unwrap()
                .clone(),
        );
        row.tool_rules = vec![
            ToolRule::terminal("send_message"),
            ToolRule::continue_loop("search"),
        ];
        row.project_id = Some("proj-1".to_owned());
        row.template_id = Some("tmpl-1".to_owned());
        row.base_template_id = Some("base-1".to_owned());
        row.message_buffer_autoclear = true;
        row.enable_sleeptime = Some(true);
        row.last_run_completion = Some(ts(99));
        row.last_run_duration_ms = Some(1234);
        row.timezone = Some("Europe/Paris".to_owned());
        row.created_by_id = Some("user-x".to_owned());
        row.last_updated_by_id = Some("user-y".to_owned());
        row.updated_at = ts(11);
        store.create_agent(&bare(row.clone())).await.unwrap();

        let got = store
            .get_agent(&org_id, &row.id)
            .await
            .unwrap()
            .expect("agent");
        assert_eq!(got, row);

        let (other, _) = helpers::new_org_and_user(&store).await;
        assert_eq!(store.get_agent(&other.id, &row.id).await.unwrap(), None);
        assert_eq!(
            store.get_agent(&org_id, "agent-missing").await.unwrap(),
            None
        );
        assert_eq!(store.count_agents(&org_id).await.unwrap(), 1);
        assert_eq!(store.count_agents(&other.id).await.unwrap(), 0);
    }
);

store_test!(
    create_writes_every_relationship,
    |store: DynStore, org_id: String| async move {
        let existing_ok = make_block(&store, &org_id, "notes", "existing notes").await;
        let existing_clash = make_block(&store, &org_id, "human", "a second human").await;
        let tool_b = make_tool(&store, &org_id, "tool_b").await;
        let tool_a = make_tool(&store, &org_id, "tool_a").await;
        let ident1 = make_identity(&store, &org_id, "key-1", "One", None).await;
        let ident2 = make_identity(&store, &org_id, "key-2", "Two", None).await;

        let mut agent = bare(agent_row(&org_id, "rich", 1));
        let agent_id = agent.row.id.clone();
        let human = block(&org_id, "human", "The human");
        let persona = block(&org_id, "persona", "The persona");
        agent.new_blocks = vec![human.clone(), persona.clone()];
        // The clash is skipped silently (label `human` already attached), the duplicate too.
        agent.block_ids = vec![
            existing_clash.id.clone(),
            existing_ok.id.clone(),
            existing_ok.id.clone(),
        ];
        agent.tool_ids = vec![tool_b.id.clone(), tool_a.id.clone()];
        agent.tags = vec!["zeta".to_owned(), "alpha".to_owned(), "mid".to_owned()];
        agent.identity_ids = vec![ident1.id.clone(), ident2.id.clone()];
        agent.env_vars = vec![
            env_var(&org_id, &agent_id, "ZED", "last"),
            env_var(&org_id, &agent_id, "API_KEY", "secret"),
        ];
        let msgs = vec![
            message(&org_id, &agent_id, MessageRole::System, "system prompt"),
            message(&org_id, &agent_id, MessageRole::Assistant, "hello"),
            message(&org_id, &agent_id, MessageRole::User, "login"),
        ];
        agent.row.message_ids = msgs.iter().map(|m| m.id.clone()).collect();
        agent.messages = msgs.clone();
        store.create_agent(&agent).await.unwrap();

        let rels = store
            .load_relations(std::slice::from_ref(&agent_id), RelationSet::ALL)
            .await
            .unwrap();
        let rel = &rels[&agent_id];
        assert_eq!(
            block_ids_of(&rel.blocks),
            vec![human.id.clone(), persona.id.clone(), existing_ok.id.clone()]
        );
        assert_eq!(rel.blocks[0], human);
        assert_eq!(rel.tags, vec!["alpha", "mid", "zeta"]);
        assert_eq!(
            tool_ids_of(&rel.tools),
            sorted(vec![tool_a.id.clone(), tool_b.id.clone()])
        );
        let by_id: HashMap<_, _> = [(&tool_a.id, &tool_a), (&tool_b.id, &tool_b)]
            .into_iter()
            .collect();
        for t in &rel.tools {
            assert_eq!(&t, by_id.get(&t.id).unwrap());
        }
        assert_eq!(
            rel.identity_ids,
            sorted(vec![ident1.id.clone(), ident2.id.clone()])
        );
        let keys: Vec<_> = rel.env_vars.iter().map(|v| v.key.as_str()).collect();
        assert_eq!(keys, vec!["API_KEY", "ZED"]);
        assert_eq!(rel.env_vars[0], agent.env_vars[1]);

        // The new blocks exist in their own right, in the agent's organization.
        assert_eq!(
            store.get_block(&org_id, &persona.id).await.unwrap(),
            Some(persona.clone())
        );
        // The initial messages, in order.
        assert_eq!(store.count_agent_messages(&agent_id).await.unwrap(), 3);
        let got = store
            .get_messages(&org_id, &agent.row.message_ids)
            .await
            .unwrap();
        assert_eq!(got, msgs);
        // The identities see the agent.
        let i1 = store
            .get_identity(&org_id, &ident1.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(i1.agent_ids, vec![agent_id.clone()]);
    }
);

store_test!(
    create_is_one_transaction,
    |store: DynStore, org_id: String| async move {
        let mut agent = bare(agent_row(&org_id, "doomed", 1));
        let b = block(&org_id, "human", "h");
        agent.new_blocks = vec![b.clone()];
        agent.tags = vec!["t".to_owned()];
        agent.tool_ids = vec!["tool-does-not-exist".to_owned()];
        let err = store.create_agent(&agent).await.unwrap_err();
        assert!(matches!(err, StoreError::ForeignKey(_)), "{err:?}");
        assert_eq!(store.get_agent(&org_id, &agent.row.id).await.unwrap(), None);
        assert_eq!(store.get_block(&org_id, &b.id).await.unwrap(), None);
        assert_eq!(store.count_agents(&org_id).await.unwrap(), 0);
        assert!(
            store
                .list_tags(&org_id, None, None, None)
                .await
                .unwrap()
                .is_empty()
        );

        // A duplicate id is a unique violation.
        let ok = make_agent(&store, &org_id, "ok", 2).await;
        let mut dup = agent_row(&org_id, "dup", 3);
        dup.id = ok.id.clone();
        let err = store.create_agent(&bare(dup)).await.unwrap_err();
        assert!(matches!(err, StoreError::Unique(_)), "{err:?}");
    }
);

store_test!(
    load_relations_groups_and_selects,
    |store: DynStore, org_id: String| async move {
        let t1 = make_tool(&store, &org_id, "shared_tool").await;
        let mut a = bare(agent_row(&org_id, "a", 1));
        a.tags = vec!["x".to_owned()];
        a.tool_ids = vec![t1.id.clone()];
        a.new_blocks = vec![block(&org_id, "persona", "A")];
        let mut b = bare(agent_row(&org_id, "b", 2));
        b.tags = vec!["y".to_owned(), "z".to_owned()];
        b.new_blocks = vec![
            block(&org_id, "persona", "B"),
            block(&org_id, "human", "B human"),
        ];
        let c = bare(agent_row(&org_id, "c", 3));
        for agent in [&a, &b, &c] {
            store.create_agent(agent).await.unwrap();
        }
        let ids = vec![a.row.id.clone(), b.row.id.clone(), c.row.id.clone()];
        let rels = store.load_relations(&ids, RelationSet::ALL).await.unwrap();
        assert_eq!(rels.len(), 3);
        assert_eq!(rels[&a.row.id].tags, vec!["x"]);
        assert_eq!(rels[&b.row.id].tags, vec!["y", "z"]);
        assert_eq!(tool_ids_of(&rels[&a.row.id].tools), vec![t1.id.clone()]);
        assert!(rels[&b.row.id].tools.is_empty());
        assert_eq!(rels[&a.row.id].blocks[0].value, "A");
        assert_eq!(
            block_ids_of(&rels[&b.row.id].blocks),
            block_ids_of(&b.new_blocks)
        );
        assert_eq!(rels[&c.row.id], Default::default());

        // Only what was asked for.
        let only_tags = RelationSet {
            tags: true,
            tools: false,
            memory: false,
            identity_ids: false,
            env_vars: false,
        };
        let rels = store.load_relations(&ids, only_tags).await.unwrap();
        assert_eq!(rels[&b.row.id].tags, vec!["y", "z"]);
        assert!(rels[&a.row.id].tools.is_empty());
        assert!(rels[&b.row.id].blocks.is_empty());
        let rels = store.load_relations(&ids, ONLY_MEMORY).await.unwrap();
        assert!(rels[&b.row.id].tags.is_empty());
        assert_eq!(rels[&b.row.id].blocks.len(), 2);

        assert!(
            store
                .load_relations(&[], RelationSet::ALL)
                .await
                .unwrap()
                .is_empty()
        );
    }
);

store_test!(list_filters, |store: DynStore, org_id: String| async move {
    let mut alpha = bare(agent_row(&org_id, "Alpha Bot", 1));
    alpha.tags = vec!["red".to_owned(), "blue".to_owned()];
    alpha.row.project_id = Some("p1".to_owned());
    alpha.row.template_id = Some("t1".to_owned());
    alpha.row.base_template_id = Some("b1".to_owned());
    let mut beta = bare(agent_row(&org_id, "beta bot", 2));
    beta.tags = vec!["red".to_owned()];
    beta.row.project_id = Some("p2".to_owned());
    let mut gamma = bare(agent_row(&org_id, "Gamma", 3));
    gamma.tags = vec!["green".to_owned(), "blue".to_owned(), "red".to_owned()];
    gamma.row.template_id = Some("t1".to_owned());
    for agent in [&alpha, &beta, &gamma] {
        store.create_agent(agent).await.unwrap();
    }
    let (a, b, g) = (
        alpha.row.id.clone(),
        beta.row.id.clone(),
        gamma.row.id.clone(),
    );
    let ident1 = {
        let mut i = identity(&org_id, "shared-key", "One", None);
        i.agent_ids = vec![a.clone(), g.clone()];
        store.create_identity(&i).await.unwrap();
        i
    };
    {
        let mut i = identity(&org_id, "other-key", "Two", Some("proj"));
        i.agent_ids = vec![a.clone()];
        store.create_identity(&i).await.unwrap();
    }
    // Another organization with a same-named agent and the same identifier key.
    let (other, _) = helpers::new_org_and_user(&store).await;
    let mut foreign = bare(agent_row(&other.id, "Alpha Bot", 1));
    foreign.tags = vec!["red".to_owned()];
    store.create_agent(&foreign).await.unwrap();
    let mut fi = identity(&other.id, "shared-key", "Foreign", None);
    fi.agent_ids = vec![foreign.row.id.clone()];
    store.create_identity(&fi).await.unwrap();

    // Default: newest first, everything of the organization only.
    assert_eq!(
        list(&store, &org_id, filter()).await,
        vec![g.clone(), b.clone(), a.clone()]
    );

    let f = AgentFilter {
        name: Some("Alpha Bot".to_owned()),
        ..filter()
    };
    assert_eq!(list(&store, &org_id, f).await, vec![a.clone()]);
    let f = AgentFilter {
        name: Some("alpha bot".to_owned()),
        ..filter()
    };
    assert!(list(&store, &org_id, f).await.is_empty(), "name is exact");

    let f = AgentFilter {
        query_text: Some("BOT".to_owned()),
        ..filter()
    };
    assert_eq!(list(&store, &org_id, f).await, vec![b.clone(), a.clone()]);
    let f = AgentFilter {
        query_text: Some("amm".to_owned()),
        ..filter()
    };
    assert_eq!(list(&store, &org_id, f).await, vec![g.clone()]);

    let f = AgentFilter {
        tags: vec!["blue".to_owned()],
        ..filter()
    };
    assert_eq!(list(&store, &org_id, f).await, vec![g.clone(), a.clone()]);
    let f = AgentFilter {
        tags: vec!["green".to_owned(), "blue".to_owned()],
        ..filter()
    };
    assert_eq!(
        list(&store, &org_id, f).await,
        vec![g.clone(), a.clone()],
        "any tag"
    );
    let f = AgentFilter {
        tags: vec!["red".to_owned(), "blue".to_owned()],
        match_all_tags: true,
        ..filter()
    };
    assert_eq!(
        list(&store, &org_id, f).await,
        vec![g.clone(), a.clone()],
        "all tags"
    );
    let f = AgentFilter {
        tags: vec!["red".to_owned(), "green".to_owned(), "red".to_owned()],
        match_all_tags: true,
        ..filter()
    };
    assert_eq!(
        list(&store, &org_id, f).await,
        vec![g.clone()],
        "all tags, duplicates ignored"
    );
    let f = AgentFilter {
        tags: vec!["nope".to_owned()],
        ..filter()
    };
    assert!(list(&store, &org_id, f).await.is_empty());

    let f = AgentFilter {
        project_id: Some("p1".to_owned()),
        ..filter()
    };
    assert_eq!(list(&store, &org_id, f).await, vec![a.clone()]);
    let f = AgentFilter {
        template_id: Some("t1".to_owned()),
        ..filter()
    };
    assert_eq!(list(&store, &org_id, f).await, vec![g.clone(), a.clone()]);
    let f = AgentFilter {
        base_template_id: Some("b1".to_owned()),
        ..filter()
    };
    assert_eq!(list(&store, &org_id, f).await, vec![a.clone()]);

    let f = AgentFilter {
        identity_id: Some(ident1.id.clone()),
        ..filter()
    };
    assert_eq!(list(&store, &org_id, f).await, vec![g.clone(), a.clone()]);
    // `a` matches both keys but is listed once; the foreign organization's key is not used.
    let f = AgentFilter {
        identifier_keys: vec!["shared-key".to_owned(), "other-key".to_owned()],
        ..filter()
    };
    assert_eq!(list(&store, &org_id, f).await, vec![g.clone(), a.clone()]);
    let f = AgentFilter {
        identifier_keys: vec!["other-key".to_owned()],
        ..filter()
    };
    assert_eq!(list(&store, &org_id, f).await, vec![a.clone()]);

    // Filters combine.
    let f = AgentFilter {
        tags: vec!["red".to_owned()],
        query_text: Some("bot".to_owned()),
        limit: Some(1),
        ..filter()
    };
    assert_eq!(list(&store, &org_id, f).await, vec![b.clone()]);

    let f = AgentFilter {
        name: Some("Alpha Bot".to_owned()),
        ..filter()
    };
    assert_eq!(
        list(&store, &other.id, f).await,
        vec![foreign.row.id.clone()]
    );
});

/// Expected order and cursor filtering for a created_at listing (non-null sort values).
fn model_created(
    rows: &[AgentRow],
    ascending: bool,
    after: Option<&str>,
    before: Option<&str>,
) -> Vec<String> {
    let mut v: Vec<&AgentRow> = rows.iter().collect();
    v.sort_by(|x, y| (x.created_at, &x.id).cmp(&(y.created_at, &y.id)));
    if !ascending {
        v.reverse();
    }
    let key = |id: &str| {
        rows.iter()
            .find(|r| r.id == id)
            .map(|r| (r.created_at, r.id.clone()))
    };
    let (after, before) = (after.and_then(key), before.and_then(key));
    v.into_iter()
        .filter(|r| {
            let k = (r.created_at, r.id.clone());
            let beyond = |c: &(chrono::DateTime<chrono::Utc>, String), fwd: bool| {
                if fwd { k > *c } else { k < *c }
            };
            after.as_ref().is_none_or(|c| beyond(c, ascending))
                && before.as_ref().is_none_or(|c| beyond(c, !ascending))
        })
        .map(|r| r.id.clone())
        .collect()
}

store_test!(
    list_order_limit_and_created_at_cursors,
    |store: DynStore, org_id: String| async move {
        // Two agents share a created_at so the id breaks the tie.
        let mut rows = Vec::new();
        for (n, secs) in [(0, 10), (1, 20), (2, 20), (3, 30), (4, 40)] {
            rows.push(make_agent(&store, &org_id, &format!("agent {n}"), secs).await);
        }
        let asc = model_created(&rows, true, None, None);
        let mut desc = asc.clone();
        desc.reverse();
        assert_eq!(
            list(&store, &org_id, filter()).await,
            desc,
            "newest first by default"
        );
        assert_eq!(
            list(
                &store,
                &org_id,
                AgentFilter {
                    ascending: true,
                    ..filter()
                }
            )
            .await,
            asc
        );
        assert_eq!(
            list(
                &store,
                &org_id,
                AgentFilter {
                    ascending: true,
                    limit: Some(2),
                    ..filter()
                }
            )
            .await,
            asc[..2]
        );
        assert_eq!(
            list(
                &store,
                &org_id,
                AgentFilter {
                    limit: None,
                    ..filter()
                }
            )
            .await
            .len(),
            5
        );

        for ascending in [true, false] {
            let order = if ascending { &asc } else { &desc };
            for cursor in order {
                let f = AgentFilter {
                    ascending,
                    after: Some(cursor.clone()),
                    ..filter()
                };
                let got = list(&store, &org_id, f).await;
                assert_eq!(got, model_created(&rows, ascending, Some(cursor), None));
                let pos = order.iter().position(|id| id == cursor).unwrap();
                assert_eq!(
                    got,
                    order[pos + 1..],
                    "after = the rows following the cursor"
                );
                let f = AgentFilter {
                    ascending,
                    before: Some(cursor.clone()),
                    ..filter()
                };
                assert_eq!(
                    list(&store, &org_id, f).await,
                    order[..pos],
                    "before = the rows preceding it"
                );
            }
            // Both cursors: the window between them.
            let f = AgentFilter {
                ascending,
                after: Some(order[0].clone()),
                before: Some(order[4].clone()),
                ..filter()
            };
            assert_eq!(list(&store, &org_id, f).await, order[1..4]);
            let f = AgentFilter {
                ascending,
                after: Some(order[1].clone()),
                limit: Some(2),
                ..filter()
            };
            assert_eq!(list(&store, &org_id, f).await, order[2..4]);
        }

        // An unknown cursor, or one from another organization, filters nothing.
        let (other, _) = helpers::new_org_and_user(&store).await;
        let foreign = make_agent(&store, &other.id, "foreign", 25).await;
        for cursor in ["agent-unknown".to_owned(), foreign.id.clone()] {
            let f = AgentFilter {
                after: Some(cursor.clone()),
                ..filter()
            };
            assert_eq!(list(&store, &org_id, f).await, desc);
            let f = AgentFilter {
                before: Some(cursor),
                ascending: true,
                ..filter()
            };
            assert_eq!(list(&store, &org_id, f).await, asc);
        }
    }
);

store_test!(
    list_by_last_run_completion,
    |store: DynStore, org_id: String| async move {
        let mk = |name: &str, secs: i64, lrc: Option<i64>| {
            let mut row = agent_row(&org_id, name, secs);
            row.last_run_completion = lrc.map(ts);
            row
        };
        let rows = vec![
            mk("r100", 1, Some(100)),
            mk("n1", 2, None),
            mk("r50", 3, Some(50)),
            mk("n2", 4, None),
            mk("r75", 5, Some(75)),
        ];
        for row in &rows {
            store.create_agent(&bare(row.clone())).await.unwrap();
        }
        let id = |name: &str| rows.iter().find(|r| r.name == name).unwrap().id.clone();
        let (n_lo, n_hi) = {
            let mut n = [id("n1"), id("n2")];
            n.sort();
            (n[0].clone(), n[1].clone())
        };
        let lrc = |f: AgentFilter| AgentFilter {
            sort_by: AgentSort::LastRunCompletion,
            ..f
        };

        // NULLs last in both directions; NULLs among themselves by id in the same direction.
        let asc = vec![id("r50"), id("r75"), id("r100"), n_lo.clone(), n_hi.clone()];
        let desc = vec![id("r100"), id("r75"), id("r50"), n_hi.clone(), n_lo.clone()];
        assert_eq!(
            list(
                &store,
                &org_id,
                lrc(AgentFilter {
                    ascending: true,
                    ..filter()
                })
            )
            .await,
            asc
        );
        assert_eq!(list(&store, &org_id, lrc(filter())).await, desc);
        assert_eq!(
            list(
                &store,
                &org_id,
                lrc(AgentFilter {
                    limit: Some(4),
                    ..filter()
                })
            )
            .await,
            desc[..4]
        );

        // Descending ("next page" = after): from a non-NULL value, smaller values then all NULLs.
        let f = lrc(AgentFilter {
            after: Some(id("r100")),
            ..filter()
        });
        assert_eq!(list(&store, &org_id, f).await, desc[1..]);
        let f = lrc(AgentFilter {
            after: Some(id("r50")),
            ..filter()
        });
        assert_eq!(
            list(&store, &org_id, f).await,
            vec![n_hi.clone(), n_lo.clone()]
        );
        // From a NULL: NULLs with a smaller id.
        let f = lrc(AgentFilter {
            after: Some(n_hi.clone()),
            ..filter()
        });
        assert_eq!(list(&store, &org_id, f).await, vec![n_lo.clone()]);
        let f = lrc(AgentFilter {
            after: Some(n_lo.clone()),
            ..filter()
        });
        assert!(list(&store, &org_id, f).await.is_empty());
        // Descending, before a NULL: other NULLs with a greater id plus every non-NULL.
        let f = lrc(AgentFilter {
            before: Some(n_lo.clone()),
            ..filter()
        });
        assert_eq!(list(&store, &org_id, f).await, desc[..4]);
        // Descending, before a non-NULL: greater non-NULL values only.
        let f = lrc(AgentFilter {
            before: Some(id("r75")),
            ..filter()
        });
        assert_eq!(list(&store, &org_id, f).await, vec![id("r100")]);

        // Ascending follows the same rules with the directions swapped: after a non-NULL value
        // gives greater non-NULL values only (the NULLs are not reached)...
        let f = lrc(AgentFilter {
            ascending: true,
            after: Some(id("r50")),
            ..filter()
        });
        assert_eq!(list(&store, &org_id, f).await, vec![id("r75"), id("r100")]);
        // ...after a NULL gives the NULLs with a greater id plus every non-NULL (the original's rule)...
        let f = lrc(AgentFilter {
            ascending: true,
            after: Some(n_lo.clone()),
            ..filter()
        });
        assert_eq!(
            list(&store, &org_id, f).await,
            vec![id("r50"), id("r75"), id("r100"), n_hi.clone()]
        );
        // ...before a non-NULL gives smaller values plus every NULL, before a NULL smaller-id NULLs.
        let f = lrc(AgentFilter {
            ascending: true,
            before: Some(id("r75")),
            ..filter()
        });
        assert_eq!(
            list(&store, &org_id, f).await,
            vec![id("r50"), n_lo.clone(), n_hi.clone()]
        );
        let f = lrc(AgentFilter {
            ascending: true,
            before: Some(n_hi.clone()),
            ..filter()
        });
        assert_eq!(list(&store, &org_id, f).await, vec![n_lo.clone()]);

        // Unknown cursor: ignored.
        let f = lrc(AgentFilter {
            after: Some("agent-nope".to_owned()),
            ..filter()
        });
        assert_eq!(list(&store, &org_id, f).await, desc);
    }
);

store_test!(
    existing_agent_ids_in_input_order,
    |store: DynStore, org_id: String| async move {
        let a = make_agent(&store, &org_id, "a", 1).await;
        let b = make_agent(&store, &org_id, "b", 2).await;
        let (other, _) = helpers::new_org_and_user(&store).await;
        let foreign = make_agent(&store, &other.id, "f", 3).await;
        let asked = vec![
            b.id.clone(),
            "agent-missing".to_owned(),
            foreign.id.clone(),
            a.id.clone(),
            b.id.clone(),
        ];
        assert_eq!(
            store.existing_agent_ids(&org_id, &asked).await.unwrap(),
            vec![b.id.clone(), a.id.clone()]
        );
        assert!(
            store
                .existing_agent_ids(&org_id, &[])
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.existing_agent_ids(&other.id, &asked).await.unwrap(),
            vec![foreign.id.clone()]
        );
    }
);

store_test!(
    update_scalars_only_when_given,
    |store: DynStore, org_id: String| async move {
        let row = make_agent(&store, &org_id, "before", 1).await;
        let mut llm = llm_config();
        llm.model = "gpt-4.1".to_owned();
        let patch = AgentPatch {
            name: Some("after".to_owned()),
            description: Some("new description".to_owned()),
            message_ids: Some(vec!["message-1".to_owned()]),
            metadata: Some(json!({"k": "v"}).as_object().unwrap().clone()),
            llm_config: Some(llm.clone()),
            tool_rules: Some(vec![ToolRule::terminal("send_message")]),
            project_id: Some("proj".to_owned()),
            message_buffer_autoclear: Some(true),
            enable_sleeptime: Some(false),
            last_run_completion: Some(ts(500)),
            last_run_duration_ms: Some(42),
            timezone: Some("Asia/Tokyo".to_owned()),
            last_updated_by_id: Some("user-z".to_owned()),
            updated_at: Some(ts(600)),
            ..AgentPatch::default()
        };
        assert!(store.update_agent(&org_id, &row.id, &patch).await.unwrap());
        let got = store.get_agent(&org_id, &row.id).await.unwrap().unwrap();
        let expected = AgentRow {
            name: "after".to_owned(),
            description: Some("new description".to_owned()),
            message_ids: vec!["message-1".to_owned()],
            metadata: patch.metadata.clone(),
            llm_config: llm,
            tool_rules: vec![ToolRule::terminal("send_message")],
            project_id: Some("proj".to_owned()),
            message_buffer_autoclear: true,
            enable_sleeptime: Some(false),
            last_run_completion: Some(ts(500)),
            last_run_duration_ms: Some(42),
            timezone: Some("Asia/Tokyo".to_owned()),
            last_updated_by_id: Some("user-z".to_owned()),
            updated_at: ts(600),
            ..row.clone()
        };
        assert_eq!(got, expected);

        // An empty patch changes nothing and still reports the agent as found.
        assert!(
            store
                .update_agent(&org_id, &row.id, &AgentPatch::default())
                .await
                .unwrap()
        );
        assert_eq!(
            store.get_agent(&org_id, &row.id).await.unwrap().unwrap(),
            expected
        );
        let patch = AgentPatch {
            system: Some("new system".to_owned()),
            ..AgentPatch::default()
        };
        assert!(store.update_agent(&org_id, &row.id, &patch).await.unwrap());
        let got = store.get_agent(&org_id, &row.id).await.unwrap().unwrap();
        assert_eq!(
            got,
            AgentRow {
                system: "new system".to_owned(),
                ..expected.clone()
            }
        );

        // Other organizations and unknown ids: false, nothing written.
        let (other, _) = helpers::new_org_and_user(&store).await;
        let patch = AgentPatch {
            name: Some("hijacked".to_owned()),
            ..AgentPatch::default()
        };
        assert!(
            !store
                .update_agent(&other.id, &row.id, &patch)
                .await
                .unwrap()
        );
        assert!(
            !store
                .update_agent(&org_id, "agent-missing", &patch)
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .get_agent(&org_id, &row.id)
                .await
                .unwrap()
                .unwrap()
                .name,
            "after"
        );
    }
);

store_test!(
    update_replaces_relationships,
    |store: DynStore, org_id: String| async move {
        let t1 = make_tool(&store, &org_id, "t_one").await;
        let t2 = make_tool(&store, &org_id, "t_two").await;
        let i1 = make_identity(&store, &org_id, "k1", "I1", None).await;
        let i2 = make_identity(&store, &org_id, "k2", "I2", None).await;
        let mut agent = bare(agent_row(&org_id, "rel", 1));
        let id = agent.row.id.clone();
        let human = block(&org_id, "human", "h");
        let persona = block(&org_id, "persona", "p");
        agent.new_blocks = vec![human.clone(), persona.clone()];
        agent.tool_ids = vec![t1.id.clone()];
        agent.tags = vec!["old".to_owned()];
        agent.identity_ids = vec![i1.id.clone()];
        agent.env_vars = vec![env_var(&org_id, &id, "OLD", "1")];
        store.create_agent(&agent).await.unwrap();
        let notes = make_block(&store, &org_id, "notes", "n").await;
        let human2 = make_block(&store, &org_id, "human", "another human").await;

        // Given lists replace; blocks keep the given order and a clashing label is skipped.
        let new_vars = vec![
            env_var(&org_id, &id, "B_KEY", "b"),
            env_var(&org_id, &id, "A_KEY", "a"),
        ];
        let patch = AgentPatch {
            tool_ids: Some(vec![t2.id.clone()]),
            block_ids: Some(vec![
                notes.id.clone(),
                human.id.clone(),
                human2.id.clone(),
                persona.id.clone(),
            ]),
            tags: Some(vec!["new1".to_owned(), "new2".to_owned()]),
            identity_ids: Some(vec![i2.id.clone()]),
            env_vars: Some(new_vars.clone()),
            ..AgentPatch::default()
        };
        assert!(store.update_agent(&org_id, &id, &patch).await.unwrap());
        let rel = store
            .load_relations(std::slice::from_ref(&id), RelationSet::ALL)
            .await
            .unwrap()
            .remove(&id)
            .unwrap();
        assert_eq!(tool_ids_of(&rel.tools), vec![t2.id.clone()]);
        assert_eq!(
            block_ids_of(&rel.blocks),
            vec![notes.id.clone(), human.id.clone(), persona.id.clone()]
        );
        assert_eq!(rel.tags, vec!["new1", "new2"]);
        assert_eq!(rel.identity_ids, vec![i2.id.clone()]);
        assert_eq!(rel.env_vars, vec![new_vars[1].clone(), new_vars[0].clone()]);

        // None leaves relationships alone; empty lists clear them.
        let patch = AgentPatch {
            name: Some("renamed".to_owned()),
            ..AgentPatch::default()
        };
        assert!(store.update_agent(&org_id, &id, &patch).await.unwrap());
        let rel2 = store
            .load_relations(std::slice::from_ref(&id), RelationSet::ALL)
            .await
            .unwrap()
            .remove(&id)
            .unwrap();
        assert_eq!(rel2, rel);
        let patch = AgentPatch {
            tool_ids: Some(vec![]),
            block_ids: Some(vec![]),
            tags: Some(vec![]),
            identity_ids: Some(vec![]),
            env_vars: Some(vec![]),
            ..AgentPatch::default()
        };
        assert!(store.update_agent(&org_id, &id, &patch).await.unwrap());
        let rel3 = store
            .load_relations(std::slice::from_ref(&id), RelationSet::ALL)
            .await
            .unwrap()
            .remove(&id)
            .unwrap();
        assert_eq!(rel3, Default::default());
        // The blocks and tools themselves are untouched.
        assert_eq!(store.count_blocks(&org_id).await.unwrap(), 4);
        assert!(store.get_tool(&org_id, &t1.id).await.unwrap().is_some());

        // A failing relationship write rolls the whole update back.
        let patch = AgentPatch {
            name: Some("should not stick".to_owned()),
            tool_ids: Some(vec!["tool-missing".to_owned()]),
            ..AgentPatch::default()
        };
        let err = store.update_agent(&org_id, &id, &patch).await.unwrap_err();
        assert!(matches!(err, StoreError::ForeignKey(_)), "{err:?}");
        assert_eq!(
            store.get_agent(&org_id, &id).await.unwrap().unwrap().name,
            "renamed"
        );
    }
);

store_test!(
    delete_cascades_to_owned_rows_only,
    |store: DynStore, org_id: String| async move {
        let tool = make_tool(&store, &org_id, "kept_tool").await;
        let ident = make_identity(&store, &org_id, "kept-key", "Kept", None).await;
        let shared = make_block(&store, &org_id, "shared", "s").await;
        let mut agent = bare(agent_row(&org_id, "doomed", 1));
        let id = agent.row.id.clone();
        let own = block(&org_id, "persona", "own");
        agent.new_blocks = vec![own.clone()];
        agent.block_ids = vec![shared.id.clone()];
        agent.tool_ids = vec![tool.id.clone()];
        agent.tags = vec!["doomed-tag".to_owned()];
        agent.identity_ids = vec![ident.id.clone()];
        agent.env_vars = vec![env_var(&org_id, &id, "K", "v")];
        agent.messages = vec![message(&org_id, &id, MessageRole::System, "sys")];
        agent.row.message_ids = vec![agent.messages[0].id.clone()];
        store.create_agent(&agent).await.unwrap();
        let survivor = make_agent(&store, &org_id, "survivor", 2).await;
        store.attach_block(&survivor.id, &shared.id).await.unwrap();

        let (other, _) = helpers::new_org_and_user(&store).await;
        assert!(
            !store.delete_agent(&other.id, &id).await.unwrap(),
            "other organizations cannot delete"
        );
        assert!(store.get_agent(&org_id, &id).await.unwrap().is_some());

        assert!(store.delete_agent(&org_id, &id).await.unwrap());
        assert!(!store.delete_agent(&org_id, &id).await.unwrap());
        assert_eq!(store.get_agent(&org_id, &id).await.unwrap(), None);
        assert_eq!(store.count_agent_messages(&id).await.unwrap(), 0);
        assert!(
            store
                .get_messages(&org_id, &agent.row.message_ids)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .list_tags(&org_id, None, None, None)
                .await
                .unwrap()
                .is_empty()
        );
        let rel = store
            .load_relations(std::slice::from_ref(&id), RelationSet::ALL)
            .await
            .unwrap()
            .remove(&id)
            .unwrap();
        assert_eq!(rel, Default::default());
        // Blocks, tools and identities survive, without the links.
        assert_eq!(
            store.get_block(&org_id, &own.id).await.unwrap(),
            Some(own.clone())
        );
        assert_eq!(
            ids_of(&store.agents_for_block(&org_id, &shared.id).await.unwrap()),
            vec![survivor.id.clone()]
        );
        assert!(
            store
                .agents_for_block(&org_id, &own.id)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(store.get_tool(&org_id, &tool.id).await.unwrap().is_some());
        let ident = store
            .get_identity(&org_id, &ident.id)
            .await
            .unwrap()
            .unwrap();
        assert!(ident.agent_ids.is_empty());
        assert_eq!(store.count_agents(&org_id).await.unwrap(), 1);
    }
);

store_test!(
    agents_for_block_oldest_first,
    |store: DynStore, org_id: String| async move {
        let b = make_block(&store, &org_id, "shared", "s").await;
        let newer = make_agent(&store, &org_id, "newer", 50).await;
        let older = make_agent(&store, &org_id, "older", 10).await;
        let unrelated = make_agent(&store, &org_id, "unrelated", 5).await;
        store.attach_block(&newer.id, &b.id).await.unwrap();
        store.attach_block(&older.id, &b.id).await.unwrap();
        let rows = store.agents_for_block(&org_id, &b.id).await.unwrap();
        assert_eq!(ids_of(&rows), vec![older.id.clone(), newer.id.clone()]);
        assert_eq!(rows[0], older);
        assert!(!ids_of(&rows).contains(&unrelated.id));
        let (other, _) = helpers::new_org_and_user(&store).await;
        assert!(
            store
                .agents_for_block(&other.id, &b.id)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .agents_for_block(&org_id, "block-missing")
                .await
                .unwrap()
                .is_empty()
        );
    }
);

store_test!(
    list_tags_distinct_sorted_and_paged,
    |store: DynStore, org_id: String| async move {
        let mut a = bare(agent_row(&org_id, "a", 1));
        a.tags = vec!["beta".to_owned(), "alpha".to_owned(), "gamma".to_owned()];
        let mut b = bare(agent_row(&org_id, "b", 2));
        b.tags = vec!["beta".to_owned(), "delta".to_owned()];
        store.create_agent(&a).await.unwrap();
        store.create_agent(&b).await.unwrap();
        let (other, _) = helpers::new_org_and_user(&store).await;
        let mut f = bare(agent_row(&other.id, "f", 1));
        f.tags = vec!["foreign".to_owned(), "alpha".to_owned()];
        store.create_agent(&f).await.unwrap();

        let all = store.list_tags(&org_id, None, None, None).await.unwrap();
        assert_eq!(all, vec!["alpha", "beta", "delta", "gamma"]);
        assert_eq!(
            store
                .list_tags(&org_id, Some("beta"), None, None)
                .await
                .unwrap(),
            vec!["delta", "gamma"]
        );
        assert_eq!(
            store
                .list_tags(&org_id, Some("b"), None, None)
                .await
                .unwrap(),
            vec!["beta", "delta", "gamma"]
        );
        assert_eq!(
            store.list_tags(&org_id, None, Some(2), None).await.unwrap(),
            vec!["alpha", "beta"]
        );
        assert_eq!(
            store
                .list_tags(&org_id, Some("alpha"), Some(1), None)
                .await
                .unwrap(),
            vec!["beta"]
        );
        assert_eq!(
            store
                .list_tags(&org_id, None, None, Some("GAM"))
                .await
                .unwrap(),
            vec!["gamma"]
        );
        assert_eq!(
            store
                .list_tags(&org_id, None, None, Some("ta"))
                .await
                .unwrap(),
            vec!["beta", "delta"]
        );
        assert!(
            store
                .list_tags(&org_id, Some("gamma"), None, None)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.list_tags(&other.id, None, None, None).await.unwrap(),
            vec!["alpha", "foreign"]
        );
    }
);

store_test!(
    relations_decode_every_field_and_share_tools,
    |store: DynStore, org_id: String| async move {
        // Fully populated and sparse blocks come back exactly, metadata keys in stored order.
        let mut full = block(
            &org_id,
            "persona",
            "Quotes \" and \\ backslashes, ünïcödé\nnew line",
        );
        full.limit = 777;
        full.name = Some("tmpl".to_owned());
        full.is_template = true;
        full.preserve_on_migration = Some(true);
        full.read_only = true;
        full.description = Some("desc".to_owned());
        full.metadata = Some(
            serde_json::from_str(r#"{"zeta": 1, "alpha": {"nested": [true, null]}, "mid": "x"}"#)
                .unwrap(),
        );
        full.created_by_id = Some("user-a".to_owned());
        full.last_updated_by_id = Some("user-b".to_owned());
        let mut sparse = block(&org_id, "human", "");
        sparse.preserve_on_migration = None;
        sparse.metadata = None;
        let shared = make_tool(&store, &org_id, "shared").await;
        let only_b = make_tool(&store, &org_id, "only_b").await;
        let mut a = bare(agent_row(&org_id, "a", 1));
        a.new_blocks = vec![full.clone(), sparse.clone()];
        a.tool_ids = vec![shared.id.clone()];
        let mut b = bare(agent_row(&org_id, "b", 2));
        b.tool_ids = vec![only_b.id.clone(), shared.id.clone()];
        store.create_agent(&a).await.unwrap();
        store.create_agent(&b).await.unwrap();

        let ids = vec![
            a.row.id.clone(),
            b.row.id.clone(),
            "agent-missing".to_owned(),
        ];
        let rels = store.load_relations(&ids, RelationSet::ALL).await.unwrap();
        assert_eq!(rels[&a.row.id].blocks, vec![full.clone(), sparse.clone()]);
        let keys: Vec<&str> = rels[&a.row.id].blocks[0]
            .metadata
            .as_ref()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, vec!["zeta", "alpha", "mid"]);
        assert_eq!(rels[&a.row.id].tools, vec![shared.clone()]);
        let mut expected_b = vec![shared.clone(), only_b.clone()];
        expected_b.sort_by(|x, y| x.id.cmp(&y.id));
        assert_eq!(rels[&b.row.id].tools, expected_b);
        assert_eq!(rels["agent-missing"], Default::default());
        assert!(rels[&b.row.id].blocks.is_empty());
    }
);

store_test!(
    groups_and_agents_are_deleted_together,
    |store: DynStore, org_id: String| async move {
        use letta_rs::schemas::group::{Group, ManagerType};
        let main = make_agent(&store, &org_id, "main", 1).await;
        let companion = make_agent(&store, &org_id, "main-sleeptime", 2).await;
        let bystander = make_agent(&store, &org_id, "bystander", 3).await;
        let group = Group {
            id: letta_rs::schemas::new_id("group"),
            manager_type: ManagerType::Sleeptime,
            agent_ids: vec![companion.id.clone()],
            description: String::new(),
            shared_block_ids: Vec::new(),
            manager_agent_id: Some(main.id.clone()),
            termination_token: None,
            max_turns: None,
            sleeptime_agent_frequency: Some(5),
            turns_counter: Some(-1),
            last_processed_message_id: None,
            max_message_buffer_length: None,
            min_message_buffer_length: None,
            organization_id: org_id.clone(),
        };
        store.create_group(&group).await.unwrap();
        let groups = vec![group.id.clone()];
        let agents = vec![companion.id.clone(), main.id.clone()];

        let (other, _) = helpers::new_org_and_user(&store).await;
        assert_eq!(
            store
                .delete_groups_and_agents(&other.id, &groups, &agents)
                .await
                .unwrap(),
            0,
            "other organizations delete nothing"
        );
        assert!(store.get_group(&org_id, &group.id).await.unwrap().is_some());

        assert_eq!(
            store
                .delete_groups_and_agents(&org_id, &groups, &agents)
                .await
                .unwrap(),
            2
        );
        assert!(store.get_group(&org_id, &group.id).await.unwrap().is_none());
        assert!(store.get_agent(&org_id, &main.id).await.unwrap().is_none());
        assert!(
            store
                .get_agent(&org_id, &companion.id)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .get_agent(&org_id, &bystander.id)
                .await
                .unwrap()
                .is_some()
        );
    }
);
