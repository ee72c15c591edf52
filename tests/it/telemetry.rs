//! Provider traces (`GET /v1/telemetry/{step_id}`, kept only when the setting is on, keys
//! redacted, retention per organization) and `PATCH /v1/steps/{id}/transaction/{tid}`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, create_agent, id_of};
use crate::llm_test;
use crate::mock_llm::{MockLlm, MockReply};

fn say(text: &str) -> MockReply {
    MockReply::tool_call(
        "send_message",
        json!({"inner_thoughts": "ok", "message": text}),
    )
}

/// Sends `text` and answers the ids of the agent's steps, oldest first.
async fn send(app: &TestApp, llm: &MockLlm, agent_id: &str, text: &str) -> Vec<String> {
    llm.push(say("noted"));
    let (status, body) = app
        .post(
            &format!("/v1/agents/{agent_id}/messages"),
            &json!({"messages": [{"role": "user", "content": text}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let filter = letta_rs::store::StepFilter {
        agent_id: Some(agent_id.to_owned()),
        ascending: true,
        ..Default::default()
    };
    app.store
        .list_steps(&app.org_id, &filter)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect()
}

llm_test!(
    traces_are_kept_redacted_and_pruned,
    config = |cfg: &mut letta_rs::config::Config| {
        cfg.provider_traces = true;
        cfg.provider_trace_retention = 2;
    },
    |app: TestApp, llm: MockLlm| async move {
        let agent_id = id_of(&create_agent(&app, json!({})).await);
        send(&app, &llm, &agent_id, "first").await;
        send(&app, &llm, &agent_id, "second").await;
        // The mock's key is `sk-test`: a message quoting it is stored redacted.
        let steps = send(&app, &llm, &agent_id, "my key is sk-test, keep it").await;
        assert_eq!(steps.len(), 3);

        let (status, trace) = app.get(&format!("/v1/telemetry/{}", steps[2])).await;
        assert_eq!(status, StatusCode::OK, "{trace}");
        assert!(trace["id"].as_str().unwrap().starts_with("provider_trace-"));
        assert_eq!(trace["step_id"], steps[2].as_str());
        assert_eq!(trace["organization_id"], app.org_id.as_str());
        let request = &trace["request_json"];
        assert_eq!(request["body"]["model"], "gpt-4o-mini");
        assert_eq!(request["endpoint_type"], "openai");
        let text = trace.to_string();
        assert!(!text.contains("sk-test"), "{text}");
        assert!(text.contains("my key is [REDACTED], keep it"), "{text}");
        assert_eq!(
            trace["response_json"]["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
            "send_message"
        );
        let (_, second) = app.get(&format!("/v1/telemetry/{}", steps[1])).await;
        assert_eq!(second["step_id"], steps[1].as_str());

        // Retention 2: the oldest trace is gone.
        let (status, body) = app.get(&format!("/v1/telemetry/{}", steps[0])).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let (status, _) = app.get("/v1/telemetry/step-nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let stranger = app.other_org_user().await;
        let (status, _) = app
            .request_as(
                &stranger,
                Method::GET,
                &format!("/v1/telemetry/{}", steps[2]),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
);

llm_test!(
    traces_are_off_by_default,
    |app: TestApp, llm: MockLlm| async move {
        let agent_id = id_of(&create_agent(&app, json!({})).await);
        let steps = send(&app, &llm, &agent_id, "hello").await;
        let (status, body) = app.get(&format!("/v1/telemetry/{}", steps[0])).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
);

llm_test!(
    step_transaction_id_is_set,
    |app: TestApp, llm: MockLlm| async move {
        let agent_id = id_of(&create_agent(&app, json!({})).await);
        let steps = send(&app, &llm, &agent_id, "hello").await;
        let step_id = &steps[0];
        let (status, step) = app
            .patch(
                &format!("/v1/steps/{step_id}/transaction/txn-42"),
                &Value::Null,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{step}");
        assert_eq!(step["id"], step_id.as_str());
        assert_eq!(step["tid"], "txn-42");
        let (_, again) = app.get(&format!("/v1/steps/{step_id}")).await;
        assert_eq!(again["tid"], "txn-42");

        let (status, body) = app
            .patch("/v1/steps/step-nope/transaction/txn-1", &Value::Null)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let stranger = app.other_org_user().await;
        let (status, _) = app
            .request_as(
                &stranger,
                Method::PATCH,
                &format!("/v1/steps/{step_id}/transaction/txn-evil"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, unchanged) = app.get(&format!("/v1/steps/{step_id}")).await;
        assert_eq!(unchanged["tid"], "txn-42");
    }
);
