//! Sleeptime agents through the mock model: `enable_sleeptime` on create and modify makes
//! the companion and its group; the companion runs in the background (a run of its own)
//! after the first and every `sleeptime_agent_frequency`-th turn, never while the main
//! agent is still answering, on a transcript of the new messages, editing the shared
//! blocks; failures are recorded on its run; attached blocks reach it; deleting the main
//! agent deletes it and the group.

use std::time::Duration;

use letta_rs::schemas::group::{Group, ManagerType};
use letta_rs::store::MessageFilter;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, create_agent, id_of};
use crate::llm_test;
use crate::mock_llm::{MockLlm, MockReply, MockRequest};

fn say(text: &str) -> MockReply {
    MockReply::tool_call("send_message", json!({"message": text}))
}

fn call(name: &str, mut args: Value) -> MockReply {
    args["request_heartbeat"] = json!(true);
    MockReply::tool_call(name, args)
}

/// A request of a sleeptime agent (the only agents offered `memory_finish_edits` here).
pub(crate) fn is_sleeptime(req: &MockRequest) -> bool {
    req.tool_names().iter().any(|n| n == "memory_finish_edits")
}

async fn main_agent(app: &TestApp, name: &str) -> Value {
    create_agent(app, json!({"name": name, "enable_sleeptime": true})).await
}

/// The sleeptime group the agent manages (read from the store).
async fn group_of(app: &TestApp, main_id: &str) -> Option<Group> {
    app.store
        .groups_managed_by(&[main_id.to_owned()])
        .await
        .unwrap()
        .into_iter()
        .find(|g| g.manager_type == ManagerType::Sleeptime)
}

async fn get_agent(app: &TestApp, id: &str) -> Value {
    let (status, body) = app.get(&format!("/v1/agents/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn block_ids(agent: &Value) -> Vec<String> {
    let mut ids: Vec<String> = agent["memory"]["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn labels(agent: &Value) -> Vec<String> {
    let mut labels: Vec<String> = agent["memory"]["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["label"].as_str().unwrap().to_owned())
        .collect();
    labels.sort();
    labels
}

async fn send(app: &TestApp, agent_id: &str, text: &str) -> Value {
    let (status, body) = app
        .post(
            &format!("/v1/agents/{agent_id}/messages"),
            &json!({"messages": [{"role": "user", "content": text}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Waits for a run to end; answers it.
pub(crate) async fn finished_run(app: &TestApp, run_id: &str) -> Value {
    for _ in 0..400 {
        let (status, run) = app.get(&format!("/v1/runs/{run_id}")).await;
        assert_eq!(status, StatusCode::OK, "{run}");
        if ["completed", "failed", "cancelled"].contains(&run["status"].as_str().unwrap()) {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("run {run_id} did not end");
}

pub(crate) fn run_ids(body: &Value) -> Vec<String> {
    body["usage"]["run_ids"]
        .as_array()
        .map(|ids| ids.iter().map(|i| i.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

llm_test!(
    enable_sleeptime_on_create_makes_the_companion_and_group,
    |app: TestApp, _llm: MockLlm| async move {
        let main = main_agent(&app, "keeper").await;
        let main_id = id_of(&main);
        let group = group_of(&app, &main_id).await.expect("a sleeptime group");
        assert_eq!(group.manager_agent_id.as_deref(), Some(main_id.as_str()));
        assert_eq!(group.sleeptime_agent_frequency, Some(5));
        assert_eq!(group.turns_counter, Some(-1));
        assert_eq!(group.description, "");
        assert_eq!(group.agent_ids.len(), 1);

        let companion = get_agent(&app, &group.agent_ids[0]).await;
        assert_eq!(companion["name"], "keeper-sleeptime");
        assert_eq!(companion["agent_type"], "sleeptime_agent");
        assert_eq!(companion["llm_config"], main["llm_config"]);
        // The main agent's blocks are the same rows; the companion has its own persona.
        assert_eq!(labels(&companion), ["human", "memory_persona", "persona"]);
        for id in block_ids(&main) {
            assert!(block_ids(&companion).contains(&id), "shared block {id}");
        }
        let mut tools: Vec<&str> = companion["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        tools.sort();
        assert_eq!(
            tools,
            [
                "memory_finish_edits",
                "memory_insert",
                "memory_replace",
                "memory_rethink"
            ]
        );
        // The main agent has the sleeptime chat tools.
        let mut main_tools: Vec<&str> = main["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        main_tools.sort();
        assert_eq!(main_tools, ["conversation_search", "send_message"]);

        // Without the flag: no companion.
        let plain = create_agent(&app, json!({"name": "plain"})).await;
        assert!(group_of(&app, &id_of(&plain)).await.is_none());
    }
);

llm_test!(
    enable_sleeptime_on_modify_adds_one_companion,
    |app: TestApp, _llm: MockLlm| async move {
        let agent = create_agent(&app, json!({"name": "later"})).await;
        let id = id_of(&agent);
        for _ in 0..2 {
            let (status, body) = app
                .patch(
                    &format!("/v1/agents/{id}"),
                    &json!({"enable_sleeptime": true}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["enable_sleeptime"], true);
        }
        let groups = app
            .store
            .groups_managed_by(std::slice::from_ref(&id))
            .await
            .unwrap();
        assert_eq!(groups.len(), 1, "one group, however often the flag is set");
        let companion = get_agent(&app, &groups[0].agent_ids[0]).await;
        assert_eq!(companion["name"], "later-sleeptime");
        // Its tools are not changed by the flag.
        assert_eq!(get_agent(&app, &id).await["tools"], agent["tools"]);
    }
);

llm_test!(
    background_run_is_recorded_and_edits_a_shared_block,
    |app: TestApp, llm: MockLlm| async move {
        let main = main_agent(&app, "talker").await;
        let main_id = id_of(&main);
        let group = group_of(&app, &main_id).await.unwrap();
        let companion_id = group.agent_ids[0].clone();
        llm.set_rule(|req| {
            if !is_sleeptime(req) {
                return say("unexpected main step");
            }
            if req.messages().iter().any(|m| m["role"] == "tool") {
                MockReply::tool_call("memory_finish_edits", json!({}))
            } else {
                call(
                    "memory_insert",
                    json!({"label": "human", "new_str": "Likes green tea."}),
                )
            }
        });
        // The main agent takes two steps; the companion may only start after both.
        llm.push(call("conversation_search", json!({"query": "tea"})));
        llm.push(say("Noted, green tea it is."));
        let body = send(&app, &main_id, "I like green tea").await;
        let ids = run_ids(&body);
        assert_eq!(ids.len(), 1, "{body}");
        let run = finished_run(&app, &ids[0]).await;
        assert_eq!(run["status"], "completed", "{run}");
        assert_eq!(run["metadata"]["agent_id"], companion_id.as_str());
        assert!(run["metadata"]["result"]["messages"].is_array(), "{run}");
        let (_, listed) = app
            .get(&format!("/v1/runs/?agent_ids={companion_id}"))
            .await;
        assert!(
            listed
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["id"] == ids[0].as_str()),
            "{listed}"
        );

        // The shared block changed for both agents.
        let (status, human) = app
            .get(&format!("/v1/agents/{main_id}/core-memory/blocks/human"))
            .await;
        assert_eq!(status, StatusCode::OK, "{human}");
        assert!(
            human["value"]
                .as_str()
                .unwrap()
                .contains("Likes green tea."),
            "{human}"
        );

        // Order: both main steps, then the companion's.
        let requests = llm.chat_requests();
        let first_sleeptime = requests.iter().position(is_sleeptime).unwrap();
        assert_eq!(first_sleeptime, 2, "the companion ran after the main turn");
        // It read a transcript of the turn.
        let transcript = requests[first_sleeptime]
            .messages()
            .iter()
            .rev()
            .find(|m| m["role"] == "user")
            .map(|m| m.to_string())
            .unwrap();
        for line in [
            "user: I like green tea",
            "assistant: Calling tool conversation_search",
            "assistant: Noted, green tea it is.",
        ] {
            assert!(transcript.contains(line), "{line} in {transcript}");
        }

        // The main agent's input carries the group id; its answers do not.
        let stored = app
            .store
            .list_agent_messages(&main_id, &MessageFilter::default())
            .await
            .unwrap();
        let input = stored
            .iter()
            .find(|m| m.content.iter().any(|p| p["text"] == "I like green tea"))
            .unwrap();
        assert_eq!(input.group_id.as_deref(), Some(group.id.as_str()));
        // The companion's input too.
        let theirs = app
            .store
            .list_agent_messages(&companion_id, &MessageFilter::default())
            .await
            .unwrap();
        assert!(
            theirs
                .iter()
                .any(|m| m.group_id.as_deref() == Some(group.id.as_str()))
        );
    }
);

llm_test!(
    frequency_counts_turns_and_transcripts_cover_the_gap,
    |app: TestApp, llm: MockLlm| async move {
        let main = main_agent(&app, "counter").await;
        let main_id = id_of(&main);
        let mut group = group_of(&app, &main_id).await.unwrap();
        group.sleeptime_agent_frequency = Some(2);
        assert!(
            app.store
                .update_group(&app.org_id, &group, false)
                .await
                .unwrap()
        );
        llm.set_rule(|req| {
            if is_sleeptime(req) {
                MockReply::tool_call("memory_finish_edits", json!({}))
            } else {
                say(&format!("re: {}", req.last_user_text().unwrap_or_default()))
            }
        });
        let mut fired = Vec::new();
        for turn in 1..=4 {
            let body = send(&app, &main_id, &format!("turn {turn}")).await;
            let ids = run_ids(&body);
            for id in &ids {
                assert_eq!(finished_run(&app, id).await["status"], "completed");
            }
            fired.push(!ids.is_empty());
        }
        assert_eq!(
            fired,
            [true, false, true, false],
            "turns 1 and 3 of frequency 2"
        );
        let stored = group_of(&app, &main_id).await.unwrap();
        assert_eq!(stored.turns_counter, Some(1));

        // The second transcript covers turns 2 and 3, not turn 1.
        let sleeptime: Vec<MockRequest> = llm
            .chat_requests()
            .into_iter()
            .filter(is_sleeptime)
            .collect();
        assert_eq!(sleeptime.len(), 2);
        let second = sleeptime[1].last_user_text().unwrap();
        assert!(
            second.contains("user: turn 2") && second.contains("user: turn 3"),
            "{second}"
        );
        assert!(!second.contains("user: turn 1"), "{second}");
        assert!(second.contains("assistant: re: turn 3"), "{second}");

        // The streaming route feeds it too (turn 5: counter 1 -> 0).
        let resp = app
            .client
            .post(app.url(&format!("/v1/agents/{main_id}/messages/stream")))
            .header("user_id", &app.user_id)
            .json(&json!({"messages": [{"role": "user", "content": "turn 5"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let text = resp.text().await.unwrap();
        assert!(text.contains("re: turn 5"), "{text}");
        let mut third = None;
        for _ in 0..400 {
            let (_, runs) = app
                .get(&format!("/v1/runs/?agent_ids={}", stored.agent_ids[0]))
                .await;
            let runs = runs.as_array().unwrap().clone();
            if runs.len() == 3 && runs.iter().all(|r| r["status"] == "completed") {
                third = Some(runs);
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(
            third.is_some(),
            "a third background run after the streamed turn"
        );
    }
);

llm_test!(
    a_failing_background_run_is_recorded,
    |app: TestApp, llm: MockLlm| async move {
        let main = main_agent(&app, "unlucky").await;
        let main_id = id_of(&main);
        llm.push(say("hi"));
        // Every attempt of the companion's model fails.
        llm.push_repeated(MockReply::error(500, "memory model down"), 3);
        let body = send(&app, &main_id, "hello").await;
        assert_eq!(
            body["stop_reason"]["stop_reason"], "end_turn",
            "the main turn is fine"
        );
        let ids = run_ids(&body);
        let run = finished_run(&app, &ids[0]).await;
        assert_eq!(run["status"], "failed", "{run}");
        let error = run["metadata"]["error"].as_str().unwrap();
        assert!(error.contains("memory model down"), "{error}");
    }
);

llm_test!(
    attached_blocks_reach_the_companion_and_delete_cascades,
    |app: TestApp, _llm: MockLlm| async move {
        let main = main_agent(&app, "sharer").await;
        let main_id = id_of(&main);
        let group = group_of(&app, &main_id).await.unwrap();
        let companion_id = group.agent_ids[0].clone();
        let (status, block) = app
            .post(
                "/v1/blocks/",
                &json!({"label": "project", "value": "letta-rs"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{block}");
        let block_id = id_of(&block);
        let (status, body) = app
            .patch(
                &format!("/v1/agents/{main_id}/core-memory/blocks/attach/{block_id}"),
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(block_ids(&get_agent(&app, &companion_id).await).contains(&block_id));

        // Detaching does not propagate (as the original).
        let (status, body) = app
            .patch(
                &format!("/v1/agents/{main_id}/core-memory/blocks/detach/{block_id}"),
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(block_ids(&get_agent(&app, &companion_id).await).contains(&block_id));

        // An agent without companions attaches as before.
        let plain = create_agent(&app, json!({})).await;
        let (status, body) = app
            .patch(
                &format!(
                    "/v1/agents/{}/core-memory/blocks/attach/{block_id}",
                    id_of(&plain)
                ),
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");

        // Deleting the main agent deletes the companion and the group; blocks stay.
        let (status, body) = app.delete(&format!("/v1/agents/{main_id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, _) = app.get(&format!("/v1/agents/{companion_id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(
            app.store
                .get_group(&app.org_id, &group.id)
                .await
                .unwrap()
                .is_none()
        );
        let (status, _) = app.get(&format!("/v1/blocks/{block_id}")).await;
        assert_eq!(status, StatusCode::OK);
        // Deleting the companion alone leaves the main agent: covered by a fresh pair.
        let other = main_agent(&app, "pair").await;
        let other_group = group_of(&app, &id_of(&other)).await.unwrap();
        let (status, body) = app
            .delete(&format!("/v1/agents/{}", other_group.agent_ids[0]))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        get_agent(&app, &id_of(&other)).await;
    }
);

llm_test!(
    a_voice_agent_gets_a_voice_companion,
    |app: TestApp, _llm: MockLlm| async move {
        let main = create_agent(
            &app,
            json!({"name": "speaker", "agent_type": "voice_convo_agent", "enable_sleeptime": true}),
        )
        .await;
        let main_id = id_of(&main);
        let groups = app
            .store
            .groups_managed_by(std::slice::from_ref(&main_id))
            .await
            .unwrap();
        assert_eq!(groups.len(), 1);
        let group = &groups[0];
        assert_eq!(group.manager_type, ManagerType::VoiceSleeptime);
        assert_eq!(
            group.description,
            "Low latency voice chat with async memory management."
        );
        assert_eq!(group.max_message_buffer_length, Some(30));
        assert_eq!(group.min_message_buffer_length, Some(15));
        let companion = get_agent(&app, &group.agent_ids[0]).await;
        assert_eq!(companion["agent_type"], "voice_sleeptime_agent");
        assert_eq!(companion["name"], "speaker-sleeptime");
        let mut tools: Vec<&str> = companion["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        tools.sort();
        assert_eq!(
            tools,
            [
                "finish_rethinking_memory",
                "rethink_user_memory",
                "store_memories"
            ]
        );
        // Deleting the voice agent deletes its companion too.
        let (status, body) = app.delete(&format!("/v1/agents/{main_id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, _) = app.get(&format!("/v1/agents/{}", group.agent_ids[0])).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
);

llm_test!(
    the_group_route_runs_the_main_agent_and_feeds_the_companion,
    |app: TestApp, llm: MockLlm| async move {
        let main = main_agent(&app, "grouped").await;
        let main_id = id_of(&main);
        let group = group_of(&app, &main_id).await.unwrap();
        llm.set_rule(|req| {
            if is_sleeptime(req) {
                MockReply::tool_call("memory_finish_edits", json!({}))
            } else {
                say("hello from main")
            }
        });
        let (status, body) = app
            .post(
                &format!("/v1/groups/{}/messages", group.id),
                &json!({"messages": [{"role": "user", "content": "hi group"}]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let said: Vec<&Value> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["message_type"] == "assistant_message")
            .collect();
        assert_eq!(said.len(), 1, "only the main agent answers: {body}");
        assert_eq!(said[0]["content"], "hello from main");
        let ids = run_ids(&body);
        assert_eq!(ids.len(), 1, "{body}");
        let run = finished_run(&app, &ids[0]).await;
        assert_eq!(run["status"], "completed", "{run}");
        assert_eq!(run["metadata"]["agent_id"], group.agent_ids[0].as_str());
        let transcript = llm
            .chat_requests()
            .into_iter()
            .find(is_sleeptime)
            .and_then(|r| r.last_user_text())
            .unwrap();
        assert!(transcript.contains("user: hi group"), "{transcript}");
        assert!(
            transcript.contains("assistant: hello from main"),
            "{transcript}"
        );
        // The group's messages (the main agent's, carrying the group id) show the input.
        let (status, listed) = app.get(&format!("/v1/groups/{}/messages", group.id)).await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        assert!(
            listed
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["message_type"] == "user_message"),
            "{listed}"
        );
        // The counter moved once.
        assert_eq!(
            group_of(&app, &main_id).await.unwrap().turns_counter,
            Some(0)
        );
    }
);
