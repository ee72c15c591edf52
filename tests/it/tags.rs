//! `/v1/tags`: the distinct tags of the organization's agents.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::blocks::insert_agent;
use crate::both_backends;
use crate::helpers::{TestApp, assert_422};

both_backends!(
    list_tags_distinct_sorted_and_paged,
    |app: TestApp| async move {
        let (status, body) = app.get("/v1/tags/").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!([]), "no agents, no tags");

        insert_agent(&app.store, &app.org_id, "one", &["beta", "alpha"], &[]).await;
        insert_agent(
            &app.store,
            &app.org_id,
            "two",
            &["gamma", "alpha", "beta-2"],
            &[],
        )
        .await;

        let (status, body) = app.get("/v1/tags/").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!(["alpha", "beta", "beta-2", "gamma"]));
        assert_eq!(app.get("/v1/tags").await.1, body);
        assert_eq!(
            app.get("/v1/tags/?limit=2").await.1,
            json!(["alpha", "beta"])
        );
        assert_eq!(
            app.get("/v1/tags/?after=alpha").await.1,
            json!(["beta", "beta-2", "gamma"])
        );
        assert_eq!(
            app.get("/v1/tags/?after=alpha&limit=1").await.1,
            json!(["beta"])
        );
        // An `after` that is not a tag still pages by order.
        assert_eq!(
            app.get("/v1/tags/?after=b").await.1,
            json!(["beta", "beta-2", "gamma"])
        );
        assert_eq!(app.get("/v1/tags/?after=zzz").await.1, json!([]));
        // query_text is a case-insensitive substring.
        assert_eq!(
            app.get("/v1/tags/?query_text=BETA").await.1,
            json!(["beta", "beta-2"])
        );
        assert_eq!(app.get("/v1/tags/?query_text=nothing").await.1, json!([]));
    }
);

both_backends!(list_tags_is_per_organization, |app: TestApp| async move {
    insert_agent(&app.store, &app.org_id, "mine", &["secret"], &[]).await;
    let other = app.other_org_user().await;
    let (status, body) = app.request_as(&other, Method::GET, "/v1/tags/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!([]));
    assert_eq!(app.get("/v1/tags/").await.1, json!(["secret"]));
});

both_backends!(list_tags_bad_input_is_422, |app: TestApp| async move {
    let (status, body) = app.get("/v1/tags/?limit=ten").await;
    assert_422(status, &body, &[json!("query"), json!("limit")]);
    let (status, body) = app.get("/v1/tags/?limit=-1").await;
    assert_422(status, &body, &[json!("query"), json!("limit")]);
    assert_eq!(body["detail"][0]["type"], "greater_than_equal");
});
