//! `/v1/providers` (BYOK): create, list, modify, delete and check, and a brought provider's
//! models listed in `/v1/models/` and used by an agent, with the brought key.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, assert_422, create_agent, id_of};
use crate::mock_llm::{MockLlm, MockReply};

const BASE: &str = "/v1/providers";
const KEY: &str = "sk-byok-0123456789abcdef";

async fn create(app: &TestApp, body: Value) -> Value {
    let (status, provider) = app.post(&format!("{BASE}/"), &body).await;
    assert_eq!(status, StatusCode::OK, "{provider}");
    provider
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|p| p["name"].as_str().expect("name").to_owned())
        .collect()
}

fn handles(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .filter_map(|c| c["handle"].as_str().map(str::to_owned))
        .collect()
}

both_backends!(
    providers_are_created_listed_modified_and_deleted,
    |app: TestApp| async move {
        let provider = create(
            &app,
            json!({"name": "team-openai", "provider_type": "openai", "api_key": KEY}),
        )
        .await;
        let id = id_of(&provider);
        assert!(id.starts_with("provider-"), "{id}");
        assert_eq!(provider["provider_category"], "byok");
        assert_eq!(provider["provider_type"], "openai");
        assert_eq!(provider["base_url"], "https://api.openai.com/v1");
        assert_eq!(provider["organization_id"], app.org_id.as_str());
        // The key is never shown in full.
        assert_eq!(provider["api_key"], "sk-...cdef");
        assert!(!provider.to_string().contains(KEY));
        create(
        &app,
        json!({"name": "team-claude", "provider_type": "anthropic", "api_key": "sk-ant-abcdefghijkl",
               "base_url": "http://127.0.0.1:9/v1/"}),
    )
    .await;

        let (status, all) = app.get(&format!("{BASE}/")).await;
        assert_eq!(status, StatusCode::OK, "{all}");
        assert_eq!(names(&all), ["team-openai", "team-claude"]);
        assert_eq!(all[1]["base_url"], "http://127.0.0.1:9/v1");
        let (_, by_type) = app.get(&format!("{BASE}/?provider_type=anthropic")).await;
        assert_eq!(names(&by_type), ["team-claude"]);
        let (_, by_name) = app.get(&format!("{BASE}/?name=team-openai")).await;
        assert_eq!(names(&by_name), ["team-openai"]);
        let (_, page) = app.get(&format!("{BASE}/?after={id}&limit=5")).await;
        assert_eq!(names(&page), ["team-claude"]);
        let (_, first) = app.get(&format!("{BASE}/?limit=1")).await;
        assert_eq!(names(&first), ["team-openai"]);

        // Another organization sees none of them and cannot touch them.
        let stranger = app.other_org_user().await;
        let (_, theirs) = app
            .request_as(&stranger, Method::GET, &format!("{BASE}/"), None)
            .await;
        assert_eq!(theirs, json!([]));
        let (status, _) = app
            .request_as(&stranger, Method::DELETE, &format!("{BASE}/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let (status, modified) = app
            .patch(
                &format!("{BASE}/{id}"),
                &json!({"api_key": "sk-new-key-999999999", "region": "eu"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{modified}");
        assert_eq!(modified["api_key"], "sk-...9999");
        assert_eq!(modified["region"], "eu");
        let stored = app
            .store
            .get_provider(&app.org_id, &id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.api_key.as_deref(), Some("sk-new-key-999999999"));

        let (status, deleted) = app.delete(&format!("{BASE}/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{deleted}");
        assert_eq!(
            deleted["message"],
            format!("Provider id={id} successfully deleted")
        );
        let (_, all) = app.get(&format!("{BASE}/")).await;
        assert_eq!(names(&all), ["team-claude"]);
    }
);

both_backends!(
    provider_not_found_and_bad_input,
    |app: TestApp| async move {
        let (status, body) = app
            .patch(
                &format!("{BASE}/provider-00000000-0000-0000-0000-000000000000"),
                &json!({"api_key": KEY}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert!(body["detail"].as_str().unwrap().contains("not found"));
        let (status, _) = app.delete(&format!("{BASE}/provider-nope")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        create(
            &app,
            json!({"name": "mine", "provider_type": "openai", "api_key": KEY}),
        )
        .await;
        // Duplicate name in the organization.
        let (status, body) = app
            .post(
                &format!("{BASE}/"),
                &json!({"name": "mine", "provider_type": "anthropic", "api_key": KEY}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        // Not a provider type at all.
        let (status, body) = app
            .post(
                &format!("{BASE}/"),
                &json!({"name": "x", "provider_type": "nonsense", "api_key": KEY}),
            )
            .await;
        assert_422(status, &body, &[json!("body"), json!("provider_type")]);
        // A type this server cannot use.
        let (status, body) = app
            .post(
                &format!("{BASE}/"),
                &json!({"name": "x", "provider_type": "bedrock", "api_key": KEY}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        // The name of a provider type, or one that cannot prefix a handle.
        for name in ["openai", "anthropic", "a/b", ""] {
            let (status, body) = app
                .post(
                    &format!("{BASE}/"),
                    &json!({"name": name, "provider_type": "openai", "api_key": KEY}),
                )
                .await;
            assert!(status.is_client_error(), "{name}: {status} {body}");
        }
        // Missing key, unknown field, bad URL, Ollama without a URL.
        let (status, body) = app
            .post(
                &format!("{BASE}/"),
                &json!({"name": "x", "provider_type": "openai"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, body) = app
            .post(
                &format!("{BASE}/"),
                &json!({"name": "x", "provider_type": "openai", "api_key": KEY, "colour": "red"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, body) = app
        .post(
            &format!("{BASE}/"),
            &json!({"name": "x", "provider_type": "openai", "api_key": KEY, "base_url": "ftp://h"}),
        )
        .await;
        assert_422(status, &body, &[json!("body"), json!("base_url")]);
        let (status, body) = app
            .post(
                &format!("{BASE}/"),
                &json!({"name": "x", "provider_type": "ollama", "api_key": ""}),
            )
            .await;
        assert_422(status, &body, &[json!("body"), json!("base_url")]);
        let (status, body) = app.get(&format!("{BASE}/?limit=-1")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, body) = app.get(&format!("{BASE}/?provider_type=nope")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        // Nothing of the refused requests was written.
        let (_, all) = app.get(&format!("{BASE}/")).await;
        assert_eq!(names(&all), ["mine"]);
    }
);

both_backends!(
    check_provider_lists_the_models_with_the_key,
    |app: TestApp| async move {
        let llm = MockLlm::start().await;
        llm.require_key(KEY);
        let check = |body: Value| {
            let app = &app;
            async move {
                app.request(Method::GET, &format!("{BASE}/check"), Some(&body))
                    .await
            }
        };
        let (status, body) =
            check(json!({"provider_type": "openai", "api_key": KEY, "base_url": llm.base_url()}))
                .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["message"], "Valid api key for provider_type=openai");
        let (status, body) = check(
            json!({"provider_type": "anthropic", "api_key": KEY, "base_url": llm.base_url()}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");

        // The provider refuses the key: 401, without the key in the answer.
        let (status, body) = check(json!({"provider_type": "openai", "api_key": "sk-wrong-0000000000", "base_url": llm.base_url()})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(!body.to_string().contains("sk-wrong-0000000000"), "{body}");
        let (status, body) =
            check(json!({"provider_type": "openai", "api_key": "", "base_url": llm.base_url()}))
                .await;
        assert_422(status, &body, &[json!("body"), json!("api_key")]);
        let (status, body) = check(json!({"provider_type": "nonsense", "api_key": KEY})).await;
        assert_422(status, &body, &[json!("body"), json!("provider_type")]);
        let (status, body) = check(json!({"provider_type": "openai"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        // Nobody listening: a bad gateway, not a 500.
        let (status, body) = check(
            json!({"provider_type": "openai", "api_key": KEY, "base_url": "http://127.0.0.1:9/v1"}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    }
);

both_backends!(
    a_brought_provider_serves_an_agent_with_its_key,
    |app: TestApp| async move {
        let llm = MockLlm::start().await;
        llm.require_key(KEY);
        let provider = create(
        &app,
        json!({"name": "team", "provider_type": "openai", "api_key": KEY, "base_url": llm.base_url()}),
    )
    .await;

        let (status, models) = app.get("/v1/models/").await;
        assert_eq!(status, StatusCode::OK, "{models}");
        let listed = handles(&models);
        assert!(
            listed.contains(&"team/gpt-4o-mini".to_owned()),
            "{listed:?}"
        );
        let model = models
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["handle"] == "team/gpt-4o-mini")
            .unwrap();
        assert_eq!(model["provider_category"], "byok");
        assert_eq!(model["provider_name"], "team");
        let (_, base_only) = app.get("/v1/models/?provider_category=base").await;
        assert!(handles(&base_only).is_empty(), "{base_only}");
        let (_, by_name) = app.get("/v1/models/?provider_name=team").await;
        assert_eq!(handles(&by_name), listed);
        let (_, embeddings) = app.get("/v1/models/embedding").await;
        assert!(
            handles(&embeddings).contains(&"team/text-embedding-3-small".to_owned()),
            "{embeddings}"
        );

        let agent = create_agent(
            &app,
            json!({"model": "team/gpt-4o-mini", "embedding": "team/text-embedding-3-small"}),
        )
        .await;
        assert_eq!(agent["llm_config"]["provider_category"], "byok");
        assert_eq!(agent["llm_config"]["handle"], "team/gpt-4o-mini");
        let agent_id = id_of(&agent);
        llm.push(MockReply::tool_call(
            "send_message",
            json!({"inner_thoughts": "hi", "message": "Hello from your own key"}),
        ));
        let (status, reply) = app
            .post(
                &format!("/v1/agents/{agent_id}/messages"),
                &json!({"messages": [{"role": "user", "content": "hi"}]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert!(
            reply.to_string().contains("Hello from your own key"),
            "{reply}"
        );
        let chat = llm.chat_requests().pop().expect("a chat request");
        assert_eq!(
            chat.header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );

        // Its embedding model embeds with the brought key too (the mock refuses any other).
        let (status, passages) = app
            .post(
                &format!("/v1/agents/{agent_id}/archival-memory"),
                &json!({"text": "The sky is blue."}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{passages}");
        assert_eq!(llm.embedding_requests().len(), 1);

        // An unknown model of the provider is a clear 400.
        let (status, body) = app
            .post(
                "/v1/agents/",
                &json!({"model": "team/no-such-model", "embedding": "team/text-embedding-3-small"}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

        // In use: not deleted.
        let provider_id = id_of(&provider);
        let (status, body) = app.delete(&format!("{BASE}/{provider_id}")).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains(&agent_id),
            "{body}"
        );
        let (status, _) = app.delete(&format!("/v1/agents/{agent_id}")).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = app.delete(&format!("{BASE}/{provider_id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");

        // A revoked key: the provider's models are left out of the listing, not a failure.
        create(
        &app,
        json!({"name": "revoked", "provider_type": "openai", "api_key": "sk-revoked-00000000", "base_url": llm.base_url()}),
    )
    .await;
        let (status, models) = app.get("/v1/models/").await;
        assert_eq!(status, StatusCode::OK, "{models}");
        assert!(handles(&models).is_empty(), "{models}");
    }
);
