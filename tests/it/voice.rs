//! `/v1/voice-beta/{agent_id}/chat/completions`: the agent's answer as an OpenAI-compatible
//! stream of `chat.completion.chunk` events; 404 and bad input before any stream.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, create_agent, id_of};
use crate::llm_test;
use crate::mock_llm::{MockLlm, MockReply};

fn path(agent_id: &str) -> String {
    format!("/v1/voice-beta/{agent_id}/chat/completions")
}

/// POSTs and answers the status, content type and raw body.
async fn post_raw(app: &TestApp, path: &str, body: &Value) -> (StatusCode, String, String) {
    let resp = app
        .client
        .post(app.url(path))
        .header("user_id", &app.user_id)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let kind = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, resp.text().await.unwrap())
}

llm_test!(
    voice_streams_completion_chunks,
    |app: TestApp, llm: MockLlm| async move {
        let agent_id = id_of(&create_agent(&app, json!({})).await);
        llm.push(
            MockReply::tool_call(
                "send_message",
                json!({"inner_thoughts": "greet", "message": "Hello there, friend!"}),
            )
            .chunk_chars(4),
        );
        let body = json!({
            "model": "whatever-the-client-says",
            "stream": true,
            "messages": [
                {"role": "system", "content": "You are on a phone call."},
                {"role": "user", "content": "an earlier question"},
                {"role": "assistant", "content": "an earlier answer"},
                {"role": "user", "content": "hi, who is this?"},
            ],
        });
        let (status, kind, text) = post_raw(&app, &path(&agent_id), &body).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
        let chunks: Vec<Value> = text
            .split("\n\n")
            .filter_map(|event| event.strip_prefix("data: "))
            .filter(|data| *data != "[DONE]")
            .map(|data| serde_json::from_str(data).unwrap())
            .collect();
        assert!(chunks.len() >= 3, "{text}");
        for chunk in &chunks {
            assert_eq!(chunk["object"], "chat.completion.chunk");
            assert!(chunk["id"].as_str().unwrap().starts_with("chatcmpl-"));
            assert_eq!(chunk["model"], "gpt-4o-mini");
        }
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        let said: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(said, "Hello there, friend!");
        assert_eq!(
            chunks.last().unwrap()["choices"][0]["finish_reason"],
            "stop"
        );
        // Only the last user message reaches the agent; its reasoning does not reach the caller.
        assert_eq!(
            llm.chat_requests()[0]
                .last_user_text()
                .as_deref()
                .map(|t| t.contains("hi, who is this?")),
            Some(true)
        );
        assert!(!text.contains("greet"), "{text}");
        assert!(!text.contains("an earlier question"));
    }
);

llm_test!(
    voice_refuses_bad_requests,
    |app: TestApp, llm: MockLlm| async move {
        let agent_id = id_of(&create_agent(&app, json!({})).await);
        let user = json!({"messages": [{"role": "user", "content": "hi"}]});
        let (status, _, text) = post_raw(
            &app,
            &path("agent-00000000-0000-0000-0000-000000000000"),
            &user,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
        for body in [
            json!({}),
            json!({"messages": "hi"}),
            json!({"messages": []}),
            json!({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}),
            json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}),
        ] {
            let (status, _, text) = post_raw(&app, &path(&agent_id), &body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {text}");
            let detail: Value = serde_json::from_str(&text).unwrap();
            assert!(detail["detail"].is_string(), "{text}");
        }
        // Nothing reached the model, nothing was stored.
        assert_eq!(llm.request_count(), 0);
        let (_, messages) = app.get(&format!("/v1/agents/{agent_id}/messages")).await;
        assert!(!messages.to_string().contains("\"hi\""), "{messages}");
    }
);
