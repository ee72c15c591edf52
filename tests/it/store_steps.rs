//! Store conformance: steps — persisting a step with its messages atomically, listing with
//! filters and cursors, and feedback.

use letta_rs::schemas::Timestamp;
use letta_rs::schemas::message::MessageRole;
use letta_rs::schemas::new_id;
use letta_rs::schemas::org::User;
use letta_rs::schemas::run::{FeedbackType, JobStatus, JobType, Run, Step};
use letta_rs::store::{DynStore, MessageFilter, StepFilter, StoreError};
use serde_json::json;

use crate::helpers;
use crate::store_fixtures::*;
use crate::store_test;

pub fn step(org: &str, agent_id: Option<&str>, created_at: Timestamp) -> Step {
    Step {
        id: new_id("step"),
        origin: None,
        organization_id: Some(org.to_owned()),
        provider_id: None,
        job_id: None,
        agent_id: agent_id.map(str::to_owned),
        provider_name: Some("openai".to_owned()),
        provider_category: Some("base".to_owned()),
        model: Some("gpt-4o-mini".to_owned()),
        model_endpoint: Some("https://api.openai.com/v1".to_owned()),
        context_window_limit: Some(128_000),
        completion_tokens: Some(12),
        prompt_tokens: Some(340),
        total_tokens: Some(352),
        completion_tokens_details: Some(
            json!({"reasoning_tokens": 0, "accepted_prediction_tokens": 1}),
        ),
        tags: Vec::new(),
        tid: None,
        trace_id: None,
        messages: Vec::new(),
        feedback: None,
        project_id: None,
        created_at: Some(created_at),
    }
}

pub async fn make_user(store: &DynStore, org: &str) -> User {
    let user = User {
        id: new_id("user"),
        organization_id: Some(org.to_owned()),
        name: "run-user".to_owned(),
        created_at: None,
        updated_at: None,
        is_deleted: false,
    };
    store.create_user(&user).await.unwrap();
    user
}

pub fn run(org: &str, user_id: &str, agent_id: Option<&str>, created_at: Timestamp) -> Run {
    Run {
        created_by_id: Some(user_id.to_owned()),
        last_updated_by_id: Some(user_id.to_owned()),
        created_at: Some(created_at),
        updated_at: Some(created_at),
        status: JobStatus::Created,
        completed_at: None,
        metadata: agent_id.map(|a| {
            json!({"agent_id": a})
                .as_object()
                .cloned()
                .unwrap_or_default()
        }),
        job_type: JobType::Run,
        callback_url: None,
        callback_sent_at: None,
        callback_status_code: None,
        callback_error: None,
        id: new_id("run"),
        user_id: Some(user_id.to_owned()),
        request_config: None,
        agent_id: agent_id.map(str::to_owned),
        organization_id: org.to_owned(),
    }
}

fn step_ids(steps: &[Step]) -> Vec<String> {
    steps.iter().map(|s| s.id.clone()).collect()
}

async fn list(store: &DynStore, org: &str, filter: StepFilter) -> Vec<String> {
    step_ids(&store.list_steps(org, &filter).await.unwrap())
}

store_test!(
    persist_step_writes_step_messages_and_run_links,
    |store: DynStore, org_id: String| async move {
        let agent = make_agent(&store, &org_id, "stepper", 0).await;
        let user = make_user(&store, &org_id).await;
        let r = run(&org_id, &user.id, Some(&agent.id), ts(0));
        store.create_run(&r).await.unwrap();

        let mut s = step(&org_id, Some(&agent.id), ts(10));
        s.job_id = Some(r.id.clone());
        s.tags = vec!["alpha".to_owned(), "beta".to_owned()];
        s.trace_id = Some("trace-1".to_owned());
        s.tid = Some("tid-1".to_owned());
        s.origin = Some("https://origin".to_owned());
        s.provider_id = Some("provider-1".to_owned());
        s.project_id = Some("project-1".to_owned());
        s.feedback = Some(FeedbackType::Positive);
        let mut msgs = vec![
            message(&org_id, &agent.id, MessageRole::Assistant, "thinking"),
            message(&org_id, &agent.id, MessageRole::Tool, "tool result"),
        ];
        for m in &mut msgs {
            m.step_id = Some(s.id.clone());
        }
        store
            .persist_step(Some(&s), &msgs, Some(&r.id))
            .await
            .unwrap();

        assert_eq!(
            store.get_step(&org_id, &s.id).await.unwrap(),
            Some(s.clone())
        );
        let stored = store.get_step(&org_id, &s.id).await.unwrap().unwrap();
        assert_eq!(
            serde_json::to_string(&stored.completion_tokens_details).unwrap(),
            serde_json::to_string(&s.completion_tokens_details).unwrap()
        );
        assert_eq!(store.steps_for_run(&r.id).await.unwrap(), vec![s.clone()]);
        let ids: Vec<String> = msgs.iter().map(|m| m.id.clone()).collect();
        assert_eq!(store.get_messages(&org_id, &ids).await.unwrap(), msgs);
        assert_eq!(
            store
                .list_run_messages(&r.id, &run_page(None, None, None, true))
                .await
                .unwrap(),
            msgs
        );

        // Messages alone, not linked to a run.
        let loose = vec![message(&org_id, &agent.id, MessageRole::User, "loose")];
        store.persist_step(None, &loose, None).await.unwrap();
        assert_eq!(store.count_agent_messages(&agent.id).await.unwrap(), 3);
        assert_eq!(
            store
                .list_run_messages(&r.id, &run_page(None, None, None, true))
                .await
                .unwrap(),
            msgs
        );

        // A step without messages; a step without an organization takes its messages'.
        let bare_step = step(&org_id, Some(&agent.id), ts(11));
        store
            .persist_step(Some(&bare_step), &[], None)
            .await
            .unwrap();
        assert_eq!(
            store.get_step(&org_id, &bare_step.id).await.unwrap(),
            Some(bare_step.clone())
        );
        let mut orgless = step(&org_id, Some(&agent.id), ts(12));
        orgless.organization_id = None;
        let with_it = vec![message(&org_id, &agent.id, MessageRole::User, "carrier")];
        store
            .persist_step(Some(&orgless), &with_it, None)
            .await
            .unwrap();
        let got = store.get_step(&org_id, &orgless.id).await.unwrap().unwrap();
        assert_eq!(got.organization_id.as_deref(), Some(org_id.as_str()));
        let mut lonely = step(&org_id, None, ts(13));
        lonely.organization_id = None;
        assert!(matches!(
            store.persist_step(Some(&lonely), &[], None).await,
            Err(StoreError::Rejected(_))
        ));

        // Nothing at all is a no-op.
        store.persist_step(None, &[], Some(&r.id)).await.unwrap();
        assert_eq!(store.steps_for_run(&r.id).await.unwrap().len(), 1);
        assert!(store.steps_for_run("run-missing").await.unwrap().is_empty());

        // Steps are scoped to their organization.
        let (other_org, _) = helpers::new_org_and_user(&store).await;
        assert_eq!(store.get_step(&other_org.id, &s.id).await.unwrap(), None);
    }
);

store_test!(
    persist_step_is_atomic,
    |store: DynStore, org_id: String| async move {
        let agent = make_agent(&store, &org_id, "atomic", 0).await;
        let user = make_user(&store, &org_id).await;
        let r = run(&org_id, &user.id, Some(&agent.id), ts(0));
        store.create_run(&r).await.unwrap();
        let existing = message(&org_id, &agent.id, MessageRole::User, "already here");
        store
            .insert_messages(std::slice::from_ref(&existing))
            .await
            .unwrap();

        // A duplicate message id fails the whole write: no step, no new message, no link.
        let s = step(&org_id, Some(&agent.id), ts(1));
        let fresh = message(&org_id, &agent.id, MessageRole::Assistant, "fresh");
        let mut dup = existing.clone();
        dup.content = vec![letta_rs::schemas::message::text_part("duplicate")];
        let err = store
            .persist_step(Some(&s), &[fresh.clone(), dup], Some(&r.id))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unique(_)), "{err:?}");
        assert_eq!(store.get_step(&org_id, &s.id).await.unwrap(), None);
        assert!(
            store
                .get_messages(&org_id, std::slice::from_ref(&fresh.id))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.count_agent_messages(&agent.id).await.unwrap(), 1);
        assert!(
            store
                .list_run_messages(&r.id, &run_page(None, None, None, true))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store
                .get_messages(&org_id, std::slice::from_ref(&existing.id))
                .await
                .unwrap(),
            vec![existing.clone()]
        );

        // A duplicate step id fails too, leaving the messages unwritten.
        store.persist_step(Some(&s), &[], None).await.unwrap();
        let again = message(&org_id, &agent.id, MessageRole::Assistant, "again");
        let err = store
            .persist_step(Some(&s), std::slice::from_ref(&again), Some(&r.id))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unique(_)), "{err:?}");
        assert!(
            store
                .get_messages(&org_id, std::slice::from_ref(&again.id))
                .await
                .unwrap()
                .is_empty()
        );

        // A link to a missing run fails the step and its messages as well.
        let s2 = step(&org_id, Some(&agent.id), ts(2));
        let orphan = message(&org_id, &agent.id, MessageRole::Assistant, "orphan");
        let err = store
            .persist_step(
                Some(&s2),
                std::slice::from_ref(&orphan),
                Some("run-missing"),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::ForeignKey(_)), "{err:?}");
        assert_eq!(store.get_step(&org_id, &s2.id).await.unwrap(), None);
        assert!(
            store
                .get_messages(&org_id, std::slice::from_ref(&orphan.id))
                .await
                .unwrap()
                .is_empty()
        );
        let left = store
            .list_agent_messages(&agent.id, &MessageFilter::default())
            .await
            .unwrap();
        assert_eq!(left, vec![existing]);
    }
);

store_test!(
    list_steps_filters_and_cursors,
    |store: DynStore, org_id: String| async move {
        let a1 = make_agent(&store, &org_id, "a1", 0).await;
        let a2 = make_agent(&store, &org_id, "a2", 1).await;
        // s0..s4 at ts(0..4); s5 shares s4's instant so ties break on id.
        let mut steps: Vec<Step> = Vec::new();
        for n in 0..6i64 {
            let agent = if n % 2 == 0 { &a1.id } else { &a2.id };
            let mut s = step(&org_id, Some(agent), ts(n.min(4)));
            s.model = Some(if n < 3 { "gpt-4o-mini" } else { "claude" }.to_owned());
            s.trace_id = Some(format!("trace-{}", n % 3));
            s.project_id = (n == 2).then(|| "project-x".to_owned());
            s.tags = match n {
                0 => vec!["red".to_owned(), "blue".to_owned()],
                1 => vec!["red".to_owned()],
                2 => vec!["blue".to_owned(), "red".to_owned(), "green".to_owned()],
                3 => vec!["x\"red".to_owned(), "50%".to_owned()],
                4 => vec!["redder".to_owned(), "a_b".to_owned()],
                _ => Vec::new(),
            };
            if n == 5 {
                // Ties on created_at are ordered by id: this one sorts right after s4.
                s.id = format!("{}-tie", steps[4].id);
            }
            store.persist_step(Some(&s), &[], None).await.unwrap();
            steps.push(s);
        }
        let all = step_ids(&steps);
        let pick = |idx: &[usize]| idx.iter().map(|&i| all[i].clone()).collect::<Vec<_>>();
        let asc = StepFilter {
            ascending: true,
            ..Default::default()
        };

        // Another organization's step never shows up.
        let (other_org, _) = helpers::new_org_and_user(&store).await;
        let foreign = step(&other_org.id, None, ts(2));
        store.persist_step(Some(&foreign), &[], None).await.unwrap();

        // Order: newest first by default, oldest first when ascending.
        assert_eq!(store.list_steps(&org_id, &asc).await.unwrap(), steps);
        let mut newest_first = all.clone();
        newest_first.reverse();
        assert_eq!(
            list(&store, &org_id, StepFilter::default()).await,
            newest_first
        );
        assert_eq!(
            list(
                &store,
                &org_id,
                StepFilter {
                    limit: Some(2),
                    ..asc.clone()
                }
            )
            .await,
            pick(&[0, 1])
        );
        assert_eq!(
            list(
                &store,
                &org_id,
                StepFilter {
                    limit: Some(2),
                    ..Default::default()
                }
            )
            .await,
            pick(&[5, 4])
        );

        // Cursors follow the listing direction.
        let after = |id: &str| Some(id.to_owned());
        assert_eq!(
            list(
                &store,
                &org_id,
                StepFilter {
                    after: after(&all[1]),
                    limit: Some(2),
                    ..asc.clone()
                }
            )
            .await,
            pick(&[2, 3])
        );
        assert_eq!(
            list(
                &store,
                &org_id,
                StepFilter {
                    after: after(&all[3]),
                    ..asc.clone()
                }
            )
            .await,
            pick(&[4, 5])
        );
        assert_eq!(
            list(
                &store,
                &org_id,
                StepFilter {
                    after: after(&all[4]),
                    ..Default::default()
                }
            )
            .await,
            pick(&[3, 2, 1, 0])
        );
        assert_eq!(
            list(
                &store,
                &org_id,
                StepFilter {
                    before: after(&all[2]),
                    ..asc.clone()
                }
            )
            .await,
            pick(&[0, 1])
        );
        assert_eq!(
            list(
                &store,
                &org_id,
                StepFilter {
                    before: after(&all[3]),
                    ..Default::default()
                }
            )
            .await,
            pick(&[5, 4])
        );
        assert_eq!(
            list(
                &store,
                &org_id,
                StepFilter {
                    after: after(&all[0]),
                    before: after(&all[4]),
                    ..asc.clone()
                }
            )
            .await,
            pick(&[1, 2, 3])
        );
        // Ties on created_at (s4/s5) page correctly in both directions.
        assert_eq!(
            list(
                &store,
                &org_id,
                StepFilter {
                    after: after(&all[4]),
                    ..asc.clone()
                }
            )
            .await,
            pick(&[5])
        );
        assert_eq!(
            list(
                &store,
                &org_id,
                StepFilter {
                    after: after(&all[5]),
                    ..Default::default()
                }
            )
            .await,
            pick(&[4, 3, 2, 1, 0])
        );
        // A foreign or unknown cursor filters nothing.
        assert_eq!(
            list(
                &store,
                &org_id,
                StepFilter {
                    after: after(&foreign.id),
                    ..asc.clone()
                }
            )
            .await,
            all
        );

        // Dates are exclusive bounds.
        assert_eq!(
            list(
                &store,
                &org_id,
                StepFilter {
                    start_date: Some(ts(1)),
                    end_date: Some(ts(4)),
                    ..asc.clone()
                }
            )
            .await,
            pick(&[2, 3])
        );
        assert_eq!(
            list(
                &store,
                &org_id,
                StepFilter {
                    start_date: Some(ts(3)),
                    ..asc.clone()
                }
            )
            .await,
            pick(&[4, 5])
        );

        // Scalar filters.
        assert_eq!(
            list(
                &store,
                &org_id,
                StepFilter {
                    model: Some("claude".to_owned()),
                    ..asc.clone()
                }
            )
            .await,
            pick(&[3, 4, 5])
        );
        let by_agent = list(
            &store,
            &org_id,
            StepFilter {
                agent_id: Some(a1.id.clone()),
                ..asc.clone()
            },
        )
        .await;
        let expected: Vec<String> = steps
            .iter()
            .filter(|s| s.agent_id.as_deref() == Some(a1.id.as_str()))
            .map(|s| s.id.clone())
            .collect();
        assert_eq!(by_agent, expected);
        assert_eq!(expected.len(), 3);
        assert_eq!(
            list(
                &store,
                &org_id,
                StepFilter {
                    trace_ids: vec!["trace-0".to_owned(), "trace-2".to_owned()],
                    ..asc.clone()
                }
            )
            .await,
            steps
                .iter()
                .filter(|s| s.trace_id.as_deref() != Some("trace-1"))
                .map(|s| s.id.clone())
                .collect::<Vec<_>>()
        );
        assert_eq!(
            list(
                &store,
                &org_id,
                StepFilter {
                    project_id: Some("project-x".to_owned()),
                    ..asc.clone()
                }
            )
            .await,
            pick(&[2])
        );

        // Tags: every tag given, matched as whole tags.
        let tagged = |tags: &[&str]| StepFilter {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            ..asc.clone()
        };
        assert_eq!(
            list(&store, &org_id, tagged(&["red"])).await,
            pick(&[0, 1, 2])
        );
        assert_eq!(
            list(&store, &org_id, tagged(&["red", "blue"])).await,
            pick(&[0, 2])
        );
        assert_eq!(
            list(&store, &org_id, tagged(&["blue", "red", "blue"])).await,
            pick(&[0, 2])
        );
        assert_eq!(
            list(&store, &org_id, tagged(&["red", "green"])).await,
            pick(&[2])
        );
        assert!(
            list(&store, &org_id, tagged(&["red", "missing"]))
                .await
                .is_empty()
        );
        assert_eq!(list(&store, &org_id, tagged(&["x\"red"])).await, pick(&[3]));
        assert_eq!(list(&store, &org_id, tagged(&["50%"])).await, pick(&[3]));
        assert!(list(&store, &org_id, tagged(&["5%"])).await.is_empty());
        assert!(list(&store, &org_id, tagged(&["a%b"])).await.is_empty());
        assert!(list(&store, &org_id, tagged(&["axb"])).await.is_empty());
        assert_eq!(list(&store, &org_id, tagged(&["a_b"])).await, pick(&[4]));
        assert!(list(&store, &org_id, tagged(&["redd"])).await.is_empty());

        // Feedback filters.
        assert!(
            list(
                &store,
                &org_id,
                StepFilter {
                    has_feedback: Some(true),
                    ..asc.clone()
                }
            )
            .await
            .is_empty()
        );
        store
            .set_step_feedback(&org_id, &all[1], Some(FeedbackType::Positive))
            .await
            .unwrap();
        store
            .set_step_feedback(&org_id, &all[3], Some(FeedbackType::Negative))
            .await
            .unwrap();
        assert_eq!(
            list(
                &store,
                &org_id,
                StepFilter {
                    has_feedback: Some(true),
                    ..asc.clone()
                }
            )
            .await,
            pick(&[1, 3])
        );
        assert_eq!(
            list(
                &store,
                &org_id,
                StepFilter {
                    has_feedback: Some(false),
                    ..asc.clone()
                }
            )
            .await,
            pick(&[0, 2, 4, 5])
        );
        assert_eq!(
            list(
                &store,
                &org_id,
                StepFilter {
                    feedback: Some(FeedbackType::Negative),
                    ..asc.clone()
                }
            )
            .await,
            pick(&[3])
        );

        // Filters combine.
        assert_eq!(
            list(
                &store,
                &org_id,
                StepFilter {
                    model: Some("gpt-4o-mini".to_owned()),
                    tags: vec!["red".to_owned()],
                    has_feedback: Some(false),
                    ..Default::default()
                }
            )
            .await,
            pick(&[2, 0])
        );
        assert_eq!(
            list(&store, &other_org.id, asc.clone()).await,
            vec![foreign.id.clone()]
        );
    }
);

store_test!(
    step_feedback_set_clear_and_scope,
    |store: DynStore, org_id: String| async move {
        let s = step(&org_id, None, ts(5));
        store.persist_step(Some(&s), &[], None).await.unwrap();

        let updated = store
            .set_step_feedback(&org_id, &s.id, Some(FeedbackType::Positive))
            .await
            .unwrap()
            .expect("step");
        assert_eq!(updated.feedback, Some(FeedbackType::Positive));
        assert_eq!(
            Step {
                feedback: None,
                ..updated.clone()
            },
            s
        );
        assert_eq!(
            store.get_step(&org_id, &s.id).await.unwrap(),
            Some(updated.clone())
        );
        let negative = store
            .set_step_feedback(&org_id, &s.id, Some(FeedbackType::Negative))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(negative.feedback, Some(FeedbackType::Negative));
        let cleared = store
            .set_step_feedback(&org_id, &s.id, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(cleared, s);

        assert_eq!(
            store
                .set_step_feedback(&org_id, "step-missing", Some(FeedbackType::Positive))
                .await
                .unwrap(),
            None
        );
        let (other_org, _) = helpers::new_org_and_user(&store).await;
        assert_eq!(
            store
                .set_step_feedback(&other_org.id, &s.id, Some(FeedbackType::Negative))
                .await
                .unwrap(),
            None
        );
        assert_eq!(store.get_step(&org_id, &s.id).await.unwrap(), Some(s));
    }
);
