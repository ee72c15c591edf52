//! `/v1/tools`: the built-in tool catalogue, per organization.

use std::collections::BTreeSet;
use std::path::PathBuf;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, assert_422};

const BASE_TOOLS: &[&str] = &[
    "send_message",
    "conversation_search",
    "archival_memory_insert",
    "archival_memory_search",
    "core_memory_append",
    "core_memory_replace",
    "memory_replace",
    "memory_insert",
    "memory_rethink",
    "memory_finish_edits",
    "send_message_to_agent_and_wait_for_reply",
    "send_message_to_agents_matching_tags",
    "send_message_to_agent_async",
    "store_memories",
    "rethink_user_memory",
    "finish_rethinking_memory",
    "search_memory",
    "run_code",
    "web_search",
    "open_files",
    "grep_files",
    "semantic_search_files",
];

fn sample(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference/samples")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("sample is JSON")
}

/// Every tool object in the reference samples, by name.
fn sample_tools() -> Vec<Value> {
    let mut tools = sample("10_list_tools_by_name_archival_memory_insert.response.json")
        .as_array()
        .unwrap()
        .clone();
    tools.extend(
        sample("11_list_tools_by_name_archival_memory_search.response.json")
            .as_array()
            .unwrap()
            .clone(),
    );
    tools.extend(
        sample("02_create_agent.response.json")["tools"]
            .as_array()
            .unwrap()
            .clone(),
    );
    tools
}

/// A tool without the fields that differ between servers and organizations.
fn comparable(tool: &Value) -> Value {
    let mut tool = tool.clone();
    for key in [
        "id",
        "organization_id",
        "created_by_id",
        "last_updated_by_id",
    ] {
        tool[key] = Value::Null;
    }
    tool
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("array expected: {list}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn list_all(app: &TestApp) -> Value {
    let (status, body) = app.get("/v1/tools/").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

both_backends!(
    listing_seeds_the_organizations_base_tools,
    |app: TestApp| async move {
        let (status, count) = app.get("/v1/tools/count?include_base_tools=true").await;
        assert_eq!(
            (status, count),
            (StatusCode::OK, json!(0)),
            "a new organization starts empty"
        );

        let list = list_all(&app).await;
        let got: BTreeSet<String> = names(&list).into_iter().collect();
        let want: BTreeSet<String> = BASE_TOOLS.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(got, want);
        for tool in list.as_array().unwrap() {
            assert!(tool["id"].as_str().unwrap().starts_with("tool-"), "{tool}");
            assert_eq!(tool["organization_id"], app.org_id.as_str());
            assert_eq!(tool["created_by_id"], app.user_id.as_str());
            assert_eq!(tool["last_updated_by_id"], app.user_id.as_str());
            assert_eq!(tool["tags"], json!([tool["tool_type"]]));
            assert_eq!(tool["source_type"], "python");
            assert_eq!(tool["source_code"], Value::Null);
            assert_eq!(tool["args_json_schema"], Value::Null);
            assert_eq!(tool["pip_requirements"], Value::Null);
            assert_eq!(tool["return_char_limit"], 1_000_000);
            assert_eq!(tool["metadata_"], json!({}));
            assert_eq!(tool["json_schema"]["name"], tool["name"]);
            assert_eq!(tool["json_schema"]["description"], tool["description"]);
            assert_eq!(tool["json_schema"]["parameters"]["type"], "object");
        }
        let type_of = |name: &str| {
            list.as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == name)
                .unwrap()["tool_type"]
                .clone()
        };
        assert_eq!(type_of("send_message"), "letta_core");
        assert_eq!(type_of("core_memory_append"), "letta_memory_core");
        assert_eq!(type_of("memory_rethink"), "letta_sleeptime_core");
        assert_eq!(
            type_of("send_message_to_agents_matching_tags"),
            "letta_multi_agent_core"
        );

        // Listing again neither duplicates nor re-creates them.
        let again = list_all(&app).await;
        assert_eq!(ids(&again), ids(&list));
        // The slash-less and /latest forms answer the same.
        for path in ["/v1/tools", "/latest/tools/"] {
            let (status, body) = app.get(path).await;
            assert_eq!((status, ids(&body)), (StatusCode::OK, ids(&list)), "{path}");
        }
    }
);

both_backends!(
    base_tools_match_the_reference_samples,
    |app: TestApp| async move {
        list_all(&app).await;
        let samples = sample_tools();
        let sampled: BTreeSet<&str> = samples
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert!(
            sampled.contains("send_message") && sampled.contains("archival_memory_search"),
            "{sampled:?}"
        );
        for expected in &samples {
            let name = expected["name"].as_str().unwrap();
            let (status, body) = app.get(&format!("/v1/tools/?name={name}")).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let list = body.as_array().unwrap();
            assert_eq!(list.len(), 1, "{name}: {body}");
            assert_eq!(comparable(&list[0]), comparable(expected), "{name}");
            // Same keys in the same order as the reference.
            let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(&list[0]), keys(expected), "{name}");
            // Key order inside `json_schema` as the reference. Postgres JSONB columns do not keep
            // key order, so the text is only compared on SQLite (reported to the store owner).
            if app.backend == crate::helpers::Backend::Sqlite {
                assert_eq!(
                    serde_json::to_string(&list[0]["json_schema"]).unwrap(),
                    serde_json::to_string(&expected["json_schema"]).unwrap(),
                    "{name}: schema text"
                );
            }
        }
    }
);

both_backends!(
    sleeptime_and_multi_agent_schemas,
    |app: TestApp| async move {
        list_all(&app).await;
        let schema = |name: &str| {
            let app = &app;
            let name = name.to_owned();
            async move {
                let (_, body) = app.get(&format!("/v1/tools/?name={name}")).await;
                body[0]["json_schema"].clone()
            }
        };
        let replace = schema("memory_replace").await;
        assert_eq!(
            replace["parameters"]["required"],
            json!(["label", "old_str"])
        );
        assert_eq!(
            replace["parameters"]["properties"]["old_str"],
            json!({"type": "string",
            "description": "The text to replace (must match exactly, including whitespace and indentation)."})
        );
        let insert = schema("memory_insert").await;
        assert_eq!(
            insert["parameters"]["properties"]["insert_line"]["type"],
            "integer"
        );
        assert_eq!(
            insert["parameters"]["required"],
            json!(["label", "new_str"])
        );
        let rethink = schema("memory_rethink").await;
        assert_eq!(
            rethink["parameters"]["required"],
            json!(["label", "new_memory"])
        );
        let finish = schema("memory_finish_edits").await;
        assert_eq!(
            finish["parameters"],
            json!({"type": "object", "properties": {}, "required": []})
        );
        let tags = schema("send_message_to_agents_matching_tags").await;
        assert_eq!(
            tags["parameters"]["required"],
            json!(["message", "match_all", "match_some"])
        );
        assert_eq!(
            tags["parameters"]["properties"]["match_some"]["type"],
            "array"
        );
        assert_eq!(
            tags["parameters"]["properties"]["match_some"]["items"],
            json!({"type": "string"})
        );
        let wait = schema("send_message_to_agent_and_wait_for_reply").await;
        let props: Vec<&String> = wait["parameters"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(props, ["message", "other_agent_id"]);
        assert_eq!(
            wait["parameters"]["required"],
            json!(["message", "other_agent_id"])
        );
    }
);

both_backends!(pages_follow_the_after_cursor, |app: TestApp| async move {
    let all = ids(&list_all(&app).await);
    assert_eq!(all.len(), BASE_TOOLS.len());
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/v1/tools/?limit=4&after={a}"),
            None => "/v1/tools/?limit=4".to_owned(),
        };
        let (status, body) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page = ids(&body);
        assert!(page.len() <= 4);
        if page.is_empty() {
            break;
        }
        after = page.last().cloned();
        paged.extend(page);
    }
    assert_eq!(paged, all);

    let (status, body) = app.get("/v1/tools/?limit=0").await;
    assert_eq!(
        (status, ids(&body)),
        (StatusCode::OK, all.clone()),
        "0 means no limit"
    );
    let (status, body) = app.get("/v1/tools/?limit=1").await;
    assert_eq!((status, ids(&body)), (StatusCode::OK, all[..1].to_vec()));
    let (status, body) = app
        .get("/v1/tools/?after=tool-00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!([])),
        "an unknown cursor gives an empty page"
    );
});

both_backends!(name_lookup, |app: TestApp| async move {
    let (status, body) = app.get("/v1/tools/?name=send_message").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&body), ["send_message"]);
    let (status, body) = app.get("/v1/tools/?name=no_such_tool").await;
    assert_eq!((status, body), (StatusCode::OK, json!([])));
});

both_backends!(
    counts_leave_out_base_tools_by_default,
    |app: TestApp| async move {
        list_all(&app).await;
        for (path, expected) in [
            ("/v1/tools/count", 0),
            ("/v1/tools/count?include_base_tools=false", 0),
            ("/v1/tools/count?include_base_tools=true", BASE_TOOLS.len()),
        ] {
            let (status, body) = app.get(path).await;
            assert_eq!((status, body), (StatusCode::OK, json!(expected)), "{path}");
        }
        let (status, body) = app.get("/v1/tools/count?include_base_tools=maybe").await;
        assert_422(
            status,
            &body,
            &[json!("query"), json!("include_base_tools")],
        );
    }
);

both_backends!(retrieve_by_id, |app: TestApp| async move {
    let list = list_all(&app).await;
    let first = &list[0];
    let (status, body) = app
        .get(&format!("/v1/tools/{}", first["id"].as_str().unwrap()))
        .await;
    assert_eq!((status, &body), (StatusCode::OK, first));

    let (status, body) = app
        .get("/v1/tools/tool-00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"detail": "Tool with id tool-00000000-0000-4000-8000-000000000000 not found"})
    );
});

both_backends!(bad_query_values_are_422, |app: TestApp| async move {
    let (status, body) = app.get("/v1/tools/?limit=abc").await;
    assert_422(status, &body, &[json!("query"), json!("limit")]);
    assert_eq!(body["detail"][0]["type"], "int_parsing");
    assert_eq!(body["detail"][0]["input"], "abc");
    let (status, body) = app.get("/v1/tools/?limit=-1").await;
    assert_422(status, &body, &[json!("query"), json!("limit")]);
});

both_backends!(organizations_are_isolated, |app: TestApp| async move {
    let ours = list_all(&app).await;
    let other = app.other_org_user().await;
    let (status, theirs) = app
        .request_as(&other, Method::GET, "/v1/tools/", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&theirs).len(), BASE_TOOLS.len());
    let our_ids: BTreeSet<String> = ids(&ours).into_iter().collect();
    assert!(
        ids(&theirs).iter().all(|id| !our_ids.contains(id)),
        "each organization has its own rows"
    );
    assert!(
        theirs
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["organization_id"] != app.org_id.as_str())
    );

    let our_id = ours[0]["id"].as_str().unwrap();
    let (status, _) = app
        .request_as(&other, Method::GET, &format!("/v1/tools/{our_id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app
        .request_as(
            &other,
            Method::GET,
            &format!("/v1/tools/?name={}", "send_message"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(
        body[0]["id"],
        ours.as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "send_message")
            .unwrap()["id"]
    );
});

both_backends!(add_base_tools_is_idempotent, |app: TestApp| async move {
    let (status, first) = app.post("/v1/tools/add-base-tools", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(names(&first), BASE_TOOLS);
    let (status, second) = app
        .request(Method::POST, "/v1/tools/add-base-tools", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(ids(&second), ids(&first), "upserted in place");
    assert_eq!(second, first);
    let listed: BTreeSet<String> = ids(&list_all(&app).await).into_iter().collect();
    assert_eq!(listed, ids(&first).into_iter().collect());
    let (_, count) = app.get("/v1/tools/count?include_base_tools=true").await;
    assert_eq!(count, json!(BASE_TOOLS.len()));
});
