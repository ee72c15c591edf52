//! An agent's initial message sequence: the compiled system prompt, then the default boot
//! messages or the client's `initial_message_sequence` (spec §1.5). Built at creation and
//! again when a reset asks for it.

use serde_json::{Value, json};

use super::AgentService;
use crate::schemas::Timestamp;
use crate::schemas::agent::AgentType;
use crate::schemas::block::Block;
use crate::schemas::llm_config::LlmConfig;
use crate::schemas::message::{
    FunctionCall, Message, MessageCreate, MessageCreateRole, MessageRole, ToolCall, text_part,
};
use crate::schemas::org::Actor;
use crate::services::prompts::{self, PromptInputs};
use crate::services::pyfmt::{json_indent2, json_python_style, package_tool_response};

/// What an agent's boot sequence is built from (at creation, and again on a reset).
pub(crate) struct Boot<'a> {
    pub agent_id: &'a str,
    pub agent_type: AgentType,
    /// `None`: the default boot messages.
    pub initial_sequence: Option<&'a [MessageCreate]>,
    pub system: &'a str,
    pub blocks: &'a [Block],
    pub llm: &'a LlmConfig,
    pub timezone: &'a str,
    pub ts: Timestamp,
}

impl AgentService<'_> {
    /// The initial message sequence (spec §1.5): the compiled system prompt, then either the
    /// default boot messages or the client's `initial_message_sequence`.
    /// `initial_sequence` `None` gives the default boot messages (reset reuses them).
    pub(crate) fn initial_messages(&self, actor: &Actor, boot: Boot<'_>) -> Vec<Message> {
        let Boot {
            agent_id,
            agent_type,
            initial_sequence,
            system,
            blocks,
            llm,
            timezone,
            ts,
        } = boot;
        let tz = Some(timezone);
        let time = prompts::format_agent_time(ts, tz);
        let compiled = prompts::compile_system_prompt(&PromptInputs {
            base: system,
            agent_type,
            blocks,
            tool_rules: None,
            timezone: tz,
            memory_edited_at: ts,
            previous_message_count: 0,
            archival_memory_size: 0,
            directories: &[],
        });
        let mut seq = 0i64;
        let mut next = |role: MessageRole, content: Vec<Value>| {
            let created = ts + chrono::Duration::microseconds(seq);
            seq += 1;
            Message::new(
                &actor.organization_id,
                agent_id,
                &actor.user_id,
                role,
                content,
                Some(llm.model.clone()),
                created,
            )
        };
        let mut messages = vec![next(MessageRole::System, vec![text_part(compiled)])];
        let send_message_pair = |next: &mut dyn FnMut(MessageRole, Vec<Value>) -> Message,
                                 thought: Option<&str>,
                                 arguments: String,
                                 tool_message: Option<&str>|
         -> [Message; 2] {
            let call_id = uuid::Uuid::new_v4().to_string();
            let mut assistant = next(
                MessageRole::Assistant,
                thought.map(|t| vec![text_part(t)]).unwrap_or_default(),
            );
            assistant.tool_calls = vec![ToolCall {
                id: call_id.clone(),
                kind: "function".to_owned(),
                function: FunctionCall {
                    name: "send_message".to_owned(),
                    arguments,
                },
            }];
            let mut tool = next(
                MessageRole::Tool,
                vec![text_part(package_tool_response(true, tool_message, &time))],
            );
            tool.name = Some("send_message".to_owned());
            tool.tool_call_id = Some(call_id);
            [assistant, tool]
        };
        match initial_sequence {
            None => {
                if agent_type != AgentType::SleeptimeAgent {
                    let (thought, greeting) = if llm.model.contains("gpt-3.5") {
                        (
                            "Waiting for the user to say something. I'll check in first.",
                            "Hello? Is anyone there?",
                        )
                    } else {
                        (
                            "Startup complete. My persona is loaded and my tools are ready.",
                            "Hi! I'm ready when you are.",
                        )
                    };
                    let arguments = json_indent2(&json!({ "message": greeting }));
                    messages.extend(send_message_pair(&mut next, Some(thought), arguments, None));
                }
                let login = json_indent2(&json!({
                    "type": "login",
                    "last_login": "Never (first login)",
                    "time": time,
                }));
                messages.push(next(MessageRole::User, vec![text_part(login)]));
            }
            Some(sequence) => {
                for item in sequence {
                    messages.extend(self.initial_sequence_item(
                        &mut next,
                        item,
                        &time,
                        &send_message_pair,
                    ));
                }
            }
        }
        messages
    }

    #[expect(
        clippy::type_complexity,
        reason = "the closure types are spelled out: a type alias loses their higher-ranked lifetimes"
    )]
    fn initial_sequence_item(
        &self,
        next: &mut dyn FnMut(MessageRole, Vec<Value>) -> Message,
        item: &MessageCreate,
        time: &str,
        send_message_pair: &dyn Fn(
            &mut dyn FnMut(MessageRole, Vec<Value>) -> Message,
            Option<&str>,
            String,
            Option<&str>,
        ) -> [Message; 2],
    ) -> Vec<Message> {
        let text = item.content.to_text();
        let mut out = match item.role {
            MessageCreateRole::User => {
                let wrapped =
                    json_indent2(&json!({"type": "user_message", "message": text, "time": time}));
                vec![next(MessageRole::User, vec![text_part(wrapped)])]
            }
            MessageCreateRole::System => {
                let alert = json_python_style(
                    &json!({"type": "system_alert", "message": text, "time": time}),
                );
                vec![next(MessageRole::System, vec![text_part(alert)])]
            }
            MessageCreateRole::Assistant => {
                let arguments = json_python_style(&json!({ "message": text }));
                send_message_pair(next, None, arguments, Some("None")).to_vec()
            }
        };
        for m in &mut out {
            m.name = m.name.take().or_else(|| item.name.clone());
            m.otid = item.otid.clone();
            m.sender_id = item.sender_id.clone();
            m.group_id = item.group_id.clone();
            m.batch_item_id = item.batch_item_id.clone();
        }
        out
    }
}
