//! Sources on agents: attaching (file blocks, the file tools, `<directories>` in the system
//! prompt), detaching, closing files, deleting a source, and the file tools `open_files`,
//! `grep_files` and `semantic_search_files` run by the loop through the mock model.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, create_agent, id_of};
use crate::llm_test;
use crate::mock_llm::{MockLlm, MockReply};
use crate::sources::{create_source, upload, wait_for_file};

/// A source with these files uploaded and ingested; answers the source id.
async fn source_with_files(
    app: &TestApp,
    llm: &MockLlm,
    name: &str,
    files: &[(&str, &str)],
) -> String {
    let source = id_of(&create_source(app, name, &llm.base_url()).await);
    for (file_name, text) in files {
        let (status, file) = upload(app, &source, file_name, None, text.as_bytes()).await;
        assert_eq!(status, StatusCode::OK, "{file}");
        let done = wait_for_file(app, &source, &id_of(&file)).await;
        assert_eq!(done["processing_status"], "completed", "{done}");
    }
    source
}

fn tool_names(agent: &Value) -> Vec<String> {
    agent["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn system_prompt(app: &TestApp, agent_id: &str) -> String {
    let (_, state) = app.get(&format!("/v1/agents/{agent_id}")).await;
    let system_id = state["message_ids"][0].as_str().unwrap().to_owned();
    let mut messages = app
        .store
        .get_messages(&app.org_id, &[system_id])
        .await
        .unwrap();
    messages
        .pop()
        .unwrap()
        .text()
        .unwrap_or_default()
        .to_owned()
}

llm_test!(
    attach_detach_close_and_delete,
    |app: TestApp, llm: MockLlm| async move {
        let source = source_with_files(
            &app,
            &llm,
            "project",
            &[
                ("main.py", "def main():\n    print('hello')\n"),
                ("README.md", "Project readme. It explains things."),
            ],
        )
        .await;
        let agent_id = id_of(&create_agent(&app, json!({})).await);

        let (status, before) = app
            .patch(
                &format!("/v1/agents/{agent_id}/sources/attach/{source}"),
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{before}");
        let names = tool_names(&before);
        for tool in ["open_files", "grep_files", "semantic_search_files"] {
            assert!(names.contains(&tool.to_owned()), "{names:?}");
        }
        assert_eq!(before["sources"][0]["id"], json!(source));

        let (_, sources) = app.get(&format!("/v1/agents/{agent_id}/sources")).await;
        assert_eq!(sources.as_array().unwrap().len(), 1);
        assert_eq!(sources[0]["name"], "project");

        let (_, memory) = app.get(&format!("/v1/agents/{agent_id}/core-memory")).await;
        let blocks = memory["file_blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 2, "{memory}");
        let main = blocks
            .iter()
            .find(|b| b["label"] == "project/main.py")
            .unwrap();
        assert_eq!(main["read_only"], true);
        assert_eq!(main["limit"], 50000);
        assert_eq!(main["metadata"]["source_id"], json!(source));
        assert_eq!(
            main["value"],
            "[Viewing file start (out of 2 lines)]\n1: def main():\n2:     print('hello')"
        );
        let prompt = system_prompt(&app, &agent_id).await;
        assert!(prompt.contains("<directories>\n<directory name=\"project\">\n<description>project docs</description>\n<instructions>Read them.</instructions>\n"), "{prompt}");
        assert!(
            prompt.contains("<file status=\"open\" name=\"project/main.py\">"),
            "{prompt}"
        );

        // Close all: names back, blocks empty, the prompt says closed.
        let (status, closed) = app
            .patch(
                &format!("/v1/agents/{agent_id}/files/close-all"),
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{closed}");
        let mut closed: Vec<String> = serde_json::from_value(closed).unwrap();
        closed.sort();
        assert_eq!(closed, vec!["project/README.md", "project/main.py"]);
        let (_, memory) = app.get(&format!("/v1/agents/{agent_id}/core-memory")).await;
        assert!(
            memory["file_blocks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|b| b["value"] == "")
        );
        assert!(
            system_prompt(&app, &agent_id)
                .await
                .contains("<file status=\"closed\" name=\"project/main.py\">")
        );
        let (_, closed) = app
            .patch(
                &format!("/v1/agents/{agent_id}/files/close-all"),
                &json!({}),
            )
            .await;
        assert_eq!(closed, json!([]));

        // Detach: no source, no file blocks, no file tools.
        let (status, after) = app
            .patch(
                &format!("/v1/agents/{agent_id}/sources/detach/{source}"),
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{after}");
        assert!(!tool_names(&after).iter().any(|n| n == "grep_files"));
        assert_eq!(after["sources"], json!([]));
        assert_eq!(after["memory"]["file_blocks"], json!([]));
        assert!(
            !system_prompt(&app, &agent_id)
                .await
                .contains("<directories>")
        );
        // Detaching again is a no-op.
        let (status, _) = app
            .patch(
                &format!("/v1/agents/{agent_id}/sources/detach/{source}"),
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);

        // Deleting an attached source detaches it everywhere.
        app.patch(
            &format!("/v1/agents/{agent_id}/sources/attach/{source}"),
            &json!({}),
        )
        .await;
        let (status, _) = app.delete(&format!("/v1/sources/{source}")).await;
        assert_eq!(status, StatusCode::OK);
        let (_, state) = app.get(&format!("/v1/agents/{agent_id}")).await;
        assert_eq!(state["sources"], json!([]));
        assert_eq!(state["memory"]["file_blocks"], json!([]));
        assert!(
            !system_prompt(&app, &agent_id)
                .await
                .contains("<directories>")
        );

        // Unknown agent or source.
        let (status, body) = app
            .patch(
                &format!("/v1/agents/{agent_id}/sources/attach/source-nope"),
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        for path in ["/v1/agents/agent-nope/sources".to_owned()] {
            let (status, _) = app.get(&path).await;
            assert_eq!(status, StatusCode::NOT_FOUND);
        }
        for path in [
            format!("/v1/agents/agent-nope/sources/attach/{source}"),
            format!("/v1/agents/agent-nope/sources/detach/{source}"),
            "/v1/agents/agent-nope/files/close-all".to_owned(),
        ] {
            let (status, _) = app.patch(&path, &json!({})).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
    }
);

llm_test!(
    at_most_five_files_open,
    |app: TestApp, llm: MockLlm| async move {
        let files: Vec<(String, String)> = (1..=7)
            .map(|i| (format!("f{i}.txt"), format!("file number {i}")))
            .collect();
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let source = source_with_files(&app, &llm, "many", &refs).await;
        let agent_id = id_of(&create_agent(&app, json!({})).await);
        app.patch(
            &format!("/v1/agents/{agent_id}/sources/attach/{source}"),
            &json!({}),
        )
        .await;
        let (_, memory) = app.get(&format!("/v1/agents/{agent_id}/core-memory")).await;
        let blocks = memory["file_blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 7);
        assert_eq!(
            blocks.iter().filter(|b| b["value"] != "").count(),
            5,
            "{memory}"
        );
    }
);

/// The text of the last tool result in a chat request.
fn last_tool_result(request: &crate::mock_llm::MockRequest) -> String {
    let messages = request.messages();
    let tool = messages.iter().rev().find(|m| m["role"] == "tool").unwrap();
    let content: Value = serde_json::from_str(tool["content"].as_str().unwrap()).unwrap();
    content["message"].as_str().unwrap().to_owned()
}

llm_test!(
    file_tools_in_the_loop,
    |app: TestApp, llm: MockLlm| async move {
        let source = source_with_files(
        &app,
        &llm,
        "code",
        &[
            ("app.py", "import os\n\ndef start():\n    token = os.environ['TOKEN']\n    return token\n\ndef stop():\n    pass\n"),
            ("notes.txt", "The deployment uses a blue green strategy with canary checks."),
        ],
    )
    .await;
        let agent_id = id_of(&create_agent(&app, json!({})).await);
        app.patch(
            &format!("/v1/agents/{agent_id}/sources/attach/{source}"),
            &json!({}),
        )
        .await;
        app.patch(
            &format!("/v1/agents/{agent_id}/files/close-all"),
            &json!({}),
        )
        .await;

        llm.push(MockReply::tool_call(
            "grep_files",
            json!({"pattern": "environ", "context_lines": 1, "request_heartbeat": true}),
        ));
        llm.push(MockReply::tool_call(
        "open_files",
        json!({"file_requests": [{"file_name": "code/app.py", "offset": 3, "length": 2}], "request_heartbeat": true}),
    ));
        llm.push(MockReply::tool_call(
            "semantic_search_files",
            json!({"query": "canary deployment strategy", "limit": 1, "request_heartbeat": true}),
        ));
        llm.push(MockReply::tool_call(
            "open_files",
            json!({"file_requests": [{"file_name": "code/missing.py"}], "request_heartbeat": true}),
        ));
        llm.push(MockReply::tool_call(
            "grep_files",
            json!({"pattern": "(unclosed", "request_heartbeat": true}),
        ));
        llm.set_rule(|req| {
            MockReply::tool_call(
                "send_message",
                json!({"message": format!("done: {}", last_tool_result(req).len())}),
            )
        });
        let (status, body) = app
            .post(
                &format!("/v1/agents/{agent_id}/messages"),
                &json!({"messages": [{"role": "user", "content": "look at the files"}]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let returns: Vec<&Value> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["message_type"] == "tool_return_message")
            .collect();
        assert_eq!(returns.len(), 5, "{body}");

        let grep = returns[0]["tool_return"].as_str().unwrap();
        assert_eq!(returns[0]["status"], "success");
        assert_eq!(
            grep,
            "Found 1 matches in 2 files for pattern: 'environ'\n=================================================\n\n=== code/app.py:3 ===\n  2: def start():\n> 3:     token = os.environ['TOKEN']\n  4:     return token"
        );

        assert_eq!(returns[1]["status"], "success", "{}", returns[1]);
        assert_eq!(
            returns[1]["tool_return"],
            "Successfully opened file code/app.py, lines 3 to 4 are now visible in memory block <code/app.py>"
        );
        let (_, memory) = app.get(&format!("/v1/agents/{agent_id}/core-memory")).await;
        let block = memory["file_blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["label"] == "code/app.py")
            .unwrap()
            .clone();
        assert_eq!(
            block["value"],
            "[Viewing lines 3 to 4 (out of 6 lines)]\n3:     token = os.environ['TOKEN']\n4:     return token"
        );

        let semantic = returns[2]["tool_return"].as_str().unwrap();
        assert_eq!(returns[2]["status"], "success");
        assert!(
            semantic.starts_with(
                "Found 1 semantic matches in 1 file for query: 'canary deployment strategy'"
            ),
            "{semantic}"
        );
        assert!(
            semantic.contains(
                "=== code/notes.txt (passage #1) ===\n  The deployment uses a blue green"
            ),
            "{semantic}"
        );

        assert_eq!(returns[3]["status"], "error");
        assert!(
            returns[3]["tool_return"]
                .as_str()
                .unwrap()
                .contains("code/missing.py not attached - did you get the filename correct?"),
            "{}",
            returns[3]
        );
        assert_eq!(returns[4]["status"], "error");
        assert!(
            returns[4]["tool_return"]
                .as_str()
                .unwrap()
                .contains("Invalid regex pattern")
        );

        // The prompt the model saw after open_files shows the opened window.
        let requests = llm.chat_requests();
        let after_open = requests[2].system_text().unwrap();
        assert!(
            after_open.contains("<file status=\"open\" name=\"code/app.py\">"),
            "{after_open}"
        );
        assert!(after_open.contains("3:     token = os.environ['TOKEN']"));
    }
);
