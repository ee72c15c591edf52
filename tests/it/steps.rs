//! `/v1/steps`: listing with filters and cursors, retrieving, feedback; steps are written
//! through the real store and scoped to their organization.

use chrono::{Duration, SecondsFormat};
use letta_rs::schemas::Timestamp;
use letta_rs::schemas::common::now;
use letta_rs::schemas::new_id;
use letta_rs::schemas::run::Step;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, assert_422};

fn new_step(app: &TestApp, agent_id: &str, model: &str, created_at: Timestamp) -> Step {
    Step {
        id: new_id("step"),
        origin: None,
        organization_id: Some(app.org_id.clone()),
        provider_id: None,
        job_id: None,
        agent_id: Some(agent_id.to_owned()),
        provider_name: Some("openai".to_owned()),
        provider_category: Some("base".to_owned()),
        model: Some(model.to_owned()),
        model_endpoint: Some("http://127.0.0.1:9/v1".to_owned()),
        context_window_limit: Some(32000),
        completion_tokens: Some(10),
        prompt_tokens: Some(100),
        total_tokens: Some(110),
        completion_tokens_details: None,
        tags: Vec::new(),
        tid: None,
        trace_id: None,
        messages: Vec::new(),
        feedback: None,
        project_id: None,
        created_at: Some(created_at),
    }
}

async fn persist(app: &TestApp, step: &Step) {
    app.store
        .persist_step(Some(step), &[], None)
        .await
        .expect("persist step");
}

fn iso(ts: Timestamp) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn list(app: &TestApp, query: &str) -> Vec<String> {
    let (status, body) = app.get(&format!("/v1/steps/{query}")).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body.as_array()
        .expect("a list")
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Four steps an hour apart (oldest first): three of agent A, the newest of agent B.
async fn history(app: &TestApp) -> (Vec<Step>, Timestamp) {
    let t0 = now() - Duration::hours(4);
    let mut steps = vec![
        new_step(app, "agent-a", "gpt-4o-mini", t0),
        new_step(app, "agent-a", "gpt-4o-mini", t0 + Duration::hours(1)),
        new_step(app, "agent-a", "gpt-4o-mini", t0 + Duration::hours(2)),
        new_step(app, "agent-b", "gpt-4o", t0 + Duration::hours(3)),
    ];
    steps[0].tags = vec!["a".to_owned(), "b".to_owned()];
    steps[1].tags = vec!["a".to_owned()];
    steps[2].tags = vec!["b".to_owned(), "a".to_owned(), "c".to_owned()];
    steps[0].trace_id = Some("trace-0".to_owned());
    steps[1].trace_id = Some("trace-1".to_owned());
    steps[3].trace_id = Some("trace-3".to_owned());
    steps[1].project_id = Some("project-1".to_owned());
    for s in &steps {
        persist(app, s).await;
    }
    (steps, t0)
}

fn ids(steps: &[&Step]) -> Vec<String> {
    steps.iter().map(|s| s.id.clone()).collect()
}

both_backends!(list_orders_and_pages, |app: TestApp| async move {
    let (s, _) = history(&app).await;

    assert_eq!(list(&app, "").await, ids(&[&s[3], &s[2], &s[1], &s[0]]));
    assert_eq!(
        list(&app, "?order=desc").await,
        ids(&[&s[3], &s[2], &s[1], &s[0]])
    );
    assert_eq!(
        list(&app, "?order=asc").await,
        ids(&[&s[0], &s[1], &s[2], &s[3]])
    );
    assert_eq!(list(&app, "?limit=2").await, ids(&[&s[3], &s[2]]));
    assert_eq!(list(&app, "?limit=0").await.len(), 4);
    assert_eq!(
        list(&app, &format!("?order=asc&after={}", s[1].id)).await,
        ids(&[&s[2], &s[3]])
    );
    assert_eq!(
        list(&app, &format!("?order=asc&before={}", s[2].id)).await,
        ids(&[&s[0], &s[1]])
    );
    assert_eq!(
        list(&app, &format!("?order=asc&after={}&limit=1", s[0].id)).await,
        ids(&[&s[1]])
    );

    // The slash-less path and the project header are accepted.
    let resp = app
        .client
        .get(app.url("/v1/steps?limit=1"))
        .header("user_id", &app.user_id)
        .header("X-Project", "some-project")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body[0]["id"], s[3].id.as_str());
});

both_backends!(list_filters, |app: TestApp| async move {
    let (s, t0) = history(&app).await;

    assert_eq!(list(&app, "?model=gpt-4o").await, ids(&[&s[3]]));
    assert_eq!(
        list(&app, "?agent_id=agent-a&order=asc").await,
        ids(&[&s[0], &s[1], &s[2]])
    );
    assert_eq!(
        list(&app, "?trace_ids=trace-0&trace_ids=trace-3&order=asc").await,
        ids(&[&s[0], &s[3]])
    );
    assert_eq!(
        list(&app, "?tags=a&tags=b&order=asc").await,
        ids(&[&s[0], &s[2]])
    );
    assert_eq!(
        list(&app, "?tags=a&order=asc").await,
        ids(&[&s[0], &s[1], &s[2]])
    );
    assert_eq!(list(&app, "?project_id=project-1").await, ids(&[&s[1]]));
    assert!(list(&app, "?model=none").await.is_empty());

    // Dates: ISO datetimes (with or without a zone) and plain dates.
    let mid = |h: i64| iso(t0 + Duration::hours(h) + Duration::minutes(30));
    assert_eq!(
        list(&app, &format!("?order=asc&start_date={}", mid(0))).await,
        ids(&[&s[1], &s[2], &s[3]])
    );
    assert_eq!(
        list(&app, &format!("?order=asc&end_date={}", mid(1))).await,
        ids(&[&s[0], &s[1]])
    );
    assert_eq!(
        list(
            &app,
            &format!("?order=asc&start_date={}&end_date={}", mid(0), mid(2))
        )
        .await,
        ids(&[&s[1], &s[2]])
    );
    let naive = (t0 + Duration::minutes(30))
        .naive_utc()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    assert_eq!(
        list(&app, &format!("?order=asc&start_date={naive}")).await,
        ids(&[&s[1], &s[2], &s[3]])
    );
    let tomorrow = (now() + Duration::days(1)).format("%Y-%m-%d").to_string();
    assert!(
        list(&app, &format!("?start_date={tomorrow}"))
            .await
            .is_empty()
    );
    assert_eq!(list(&app, &format!("?end_date={tomorrow}")).await.len(), 4);

    let (status, body) = app.get("/v1/steps/?start_date=last-week").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("last-week"));
});

both_backends!(retrieve_step, |app: TestApp| async move {
    let (s, _) = history(&app).await;

    let (status, body) = app.get(&format!("/v1/steps/{}", s[0].id)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "origin",
            "organization_id",
            "provider_id",
            "job_id",
            "agent_id",
            "provider_name",
            "provider_category",
            "model",
            "model_endpoint",
            "context_window_limit",
            "completion_tokens",
            "prompt_tokens",
            "total_tokens",
            "completion_tokens_details",
            "tags",
            "tid",
            "trace_id",
            "messages",
            "feedback",
            "project_id"
        ]
    );
    assert_eq!(body["id"], s[0].id.as_str());
    assert_eq!(body["organization_id"], app.org_id.as_str());
    assert_eq!(body["agent_id"], "agent-a");
    assert_eq!(body["tags"], json!(["a", "b"]));
    assert_eq!(body["trace_id"], "trace-0");
    assert_eq!(body["messages"], json!([]));
    assert_eq!(body["feedback"], Value::Null);
    assert_eq!(body["total_tokens"], 110);

    let (status, body) = app
        .get("/v1/steps/step-00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"detail": "Step not found"}));
});

both_backends!(
    feedback_sets_filters_and_clears,
    |app: TestApp| async move {
        let (s, _) = history(&app).await;
        let path = format!("/v1/steps/{}/feedback", s[1].id);
        let patch = |query: &'static str| {
            let path = path.clone();
            let app = &app;
            async move {
                app.request(Method::PATCH, &format!("{path}{query}"), None)
                    .await
            }
        };

        let (status, body) = patch("?feedback=positive").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["id"], s[1].id.as_str());
        assert_eq!(body["feedback"], "positive");
        let (_, got) = app.get(&format!("/v1/steps/{}", s[1].id)).await;
        assert_eq!(got["feedback"], "positive");

        assert_eq!(list(&app, "?feedback=positive").await, ids(&[&s[1]]));
        assert!(list(&app, "?feedback=negative").await.is_empty());
        assert_eq!(list(&app, "?has_feedback=true").await, ids(&[&s[1]]));
        assert_eq!(
            list(&app, "?has_feedback=false").await,
            ids(&[&s[3], &s[2], &s[0]])
        );

        let (status, body) = patch("?feedback=negative").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["feedback"], "negative");
        assert_eq!(list(&app, "?feedback=negative").await, ids(&[&s[1]]));

        // No value clears it.
        let (status, body) = patch("").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["feedback"], Value::Null);
        assert!(list(&app, "?has_feedback=true").await.is_empty());
        patch("?feedback=positive").await;
        let (status, body) = patch("?feedback=").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["feedback"], Value::Null);

        let (status, body) = patch("?feedback=great").await;
        assert_422(status, &body, &[json!("query"), json!("feedback")]);

        let (status, body) = app
            .request(
                Method::PATCH,
                "/v1/steps/step-00000000-0000-4000-8000-000000000000/feedback?feedback=positive",
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
);

both_backends!(list_validates_query, |app: TestApp| async move {
    for (query, field) in [
        ("?limit=-1", "limit"),
        ("?limit=many", "limit"),
        ("?feedback=great", "feedback"),
        ("?has_feedback=maybe", "has_feedback"),
    ] {
        let (status, body) = app.get(&format!("/v1/steps/{query}")).await;
        assert_422(status, &body, &[json!("query"), json!(field)]);
    }
});

both_backends!(
    steps_are_scoped_to_the_organization,
    |app: TestApp| async move {
        let (s, _) = history(&app).await;
        let stranger = app.other_org_user().await;

        let (status, body) = app
            .request_as(&stranger, Method::GET, "/v1/steps/", None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!([]));
        let (status, _) = app
            .request_as(
                &stranger,
                Method::GET,
                &format!("/v1/steps/{}", s[0].id),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = app
            .request_as(
                &stranger,
                Method::PATCH,
                &format!("/v1/steps/{}/feedback?feedback=negative", s[0].id),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, got) = app.get(&format!("/v1/steps/{}", s[0].id)).await;
        assert_eq!(got["feedback"], Value::Null);
    }
);
