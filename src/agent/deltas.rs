//! Token streaming (spec §7.3): turns a provider's stream of increments for one step into
//! the partial LettaMessages clients concatenate by `otid`.
//!
//! Inner thoughts arrive inside the tool call's JSON arguments (or as plain content, or as
//! native reasoning); the arguments are scanned incrementally so that the thoughts, the
//! `send_message` text and the other arguments can be told apart while they stream.
//! Unlike the original, string values are emitted JSON-unescaped (docs/compatibility.md).

use serde_json::{Value, json};

use crate::llm::chat::ChatStreamEvent;
use crate::schemas::common::{format_message_date, now};
use crate::schemas::letta_message::{
    AssistantMessage, HiddenReasoningMessage, LettaMessage, ReasoningMessage, ToolCallMessage,
};
use crate::services::messages::otid;

const INNER_THOUGHTS: &str = "inner_thoughts";

/// How one step's deltas are shown.
#[derive(Debug, Clone)]
pub struct DeltaOptions {
    pub use_assistant_message: bool,
    pub assistant_tool: String,
    pub assistant_kwarg: String,
    /// Anthropic shows assistant text as a list of text parts; OpenAI as a string.
    pub content_as_parts: bool,
}

/// The delta converter of one step. Every message it makes carries the step's assistant
/// message id, generated before the model was called.
pub struct StepDeltas {
    message_id: String,
    opts: DeltaOptions,
    /// The otid index: moves on each time the emitted message type changes.
    kind_index: usize,
    last_kind: Option<&'static str>,
    call_name: Option<String>,
    call_id: Option<String>,
    args: ArgsScanner,
    /// The top-level argument whose value is streaming.
    key: String,
    header_sent: bool,
    /// Whether any argument other than the thoughts was written to the arguments stream.
    args_opened: bool,
    thinking_tags: TagStripper,
}

impl StepDeltas {
    pub fn new(message_id: String, opts: DeltaOptions) -> Self {
        StepDeltas {
            message_id,
            opts,
            kind_index: 0,
            last_kind: None,
            call_name: None,
            call_id: None,
            args: ArgsScanner::default(),
            key: String::new(),
            header_sent: false,
            args_opened: false,
            thinking_tags: TagStripper::default(),
        }
    }

    /// The messages one provider event gives rise to.
    pub fn on_event(&mut self, event: &ChatStreamEvent) -> Vec<LettaMessage> {
        let mut out = Vec::new();
        match event {
            ChatStreamEvent::ContentDelta(text) => {
                let text = self.thinking_tags.push(text);
                if !text.is_empty() {
                    out.push(self.reasoning(text, "non_reasoner_model", None));
                }
            }
            ChatStreamEvent::ReasoningDelta { text, signature } => {
                out.push(self.reasoning(text.clone(), "reasoner_model", signature.clone()));
            }
            ChatStreamEvent::RedactedReasoning { data } => {
                let (id, date, otid) = self.common("hidden_reasoning_message");
                out.push(LettaMessage::HiddenReasoning(HiddenReasoningMessage {
                    id,
                    date,
                    name: None,
                    message_type: "hidden_reasoning_message".into(),
                    otid,
                    sender_id: None,
                    step_id: None,
                    state: "redacted".into(),
                    hidden_reasoning: Some(data.clone()),
                }));
            }
            ChatStreamEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            } => {
                // Only the first call is acted on (parallel calls are off).
                if *index != 0 {
                    return out;
                }
                if let Some(id) = id {
                    self.call_id = Some(id.clone());
                }
                if let Some(name) = name {
                    self.call_name
                        .get_or_insert_with(String::new)
                        .push_str(name);
                }
                for piece in self.args.feed(arguments) {
                    self.on_piece(piece, &mut out);
                }
            }
            ChatStreamEvent::Usage(_) | ChatStreamEvent::Finish(_) => {}
        }
        out
    }

    /// What is still held back once the provider's stream ended.
    pub fn finish(&mut self) -> Vec<LettaMessage> {
        let mut out = Vec::new();
        let rest = self.thinking_tags.flush();
        if !rest.is_empty() {
            out.push(self.reasoning(rest, "non_reasoner_model", None));
        }
        if self.call_name.is_some() && !self.is_assistant_call() && !self.header_sent {
            // A call without arguments besides the thoughts.
            self.send_header(&mut out);
            out.push(self.arguments("{}".into()));
        }
        out
    }

    fn is_assistant_call(&self) -> bool {
        self.opts.use_assistant_message
            && self.call_name.as_deref() == Some(self.opts.assistant_tool.as_str())
    }

    fn on_piece(&mut self, piece: ArgPiece, out: &mut Vec<LettaMessage>) {
        if let ArgPiece::KeyStart(key) = &piece {
            self.key = key.clone();
        }
        let key = self.key.clone();
        if key == INNER_THOUGHTS {
            if let ArgPiece::Text(text) = piece
                && !text.is_empty()
            {
                out.push(self.reasoning(text, "non_reasoner_model", None));
            }
            return;
        }
        if self.is_assistant_call() {
            if key == self.opts.assistant_kwarg
                && let ArgPiece::Text(text) = piece
                && !text.is_empty()
            {
                out.push(self.assistant(text));
            }
            return;
        }
        if self.call_name.is_none() {
            return;
        }
        let fragment = match piece {
            ArgPiece::KeyStart(_) => {
                self.send_header(out);
                let prefix = if self.args_opened { "," } else { "{" };
                self.args_opened = true;
                format!("{prefix}{}:", Value::String(key))
            }
            ArgPiece::StringOpen => "\"".into(),
            ArgPiece::Text(text) => {
                let quoted = Value::String(text).to_string();
                quoted[1..quoted.len() - 1].to_owned()
            }
            ArgPiece::StringClose => "\"".into(),
            ArgPiece::Raw(raw) => raw,
            ArgPiece::ObjectEnd => {
                if !self.args_opened {
                    return;
                }
                "}".into()
            }
        };
        if !fragment.is_empty() {
            out.push(self.arguments(fragment));
        }
    }

    fn send_header(&mut self, out: &mut Vec<LettaMessage>) {
        if self.header_sent {
            return;
        }
        self.header_sent = true;
        let (id, date, otid) = self.common("tool_call_message");
        out.push(LettaMessage::ToolCall(ToolCallMessage {
            id,
            date,
            name: None,
            message_type: "tool_call_message".into(),
            otid,
            sender_id: None,
            step_id: None,
            tool_call: json!({
                "name": self.call_name.clone().unwrap_or_default(),
                "tool_call_id": self.call_id.clone().unwrap_or_default(),
            }),
        }));
    }

    fn arguments(&mut self, fragment: String) -> LettaMessage {
        let (id, date, otid) = self.common("tool_call_message");
        LettaMessage::ToolCall(ToolCallMessage {
            id,
            date,
            name: None,
            message_type: "tool_call_message".into(),
            otid,
            sender_id: None,
            step_id: None,
            tool_call: json!({ "arguments": fragment }),
        })
    }

    fn reasoning(&mut self, text: String, source: &str, signature: Option<String>) -> LettaMessage {
        let (id, date, otid) = self.common("reasoning_message");
        LettaMessage::Reasoning(ReasoningMessage {
            id,
            date,
            name: None,
            message_type: "reasoning_message".into(),
            otid,
            sender_id: None,
            step_id: None,
            source: source.into(),
            reasoning: text,
            signature,
        })
    }

    fn assistant(&mut self, text: String) -> LettaMessage {
        let (id, date, otid) = self.common("assistant_message");
        let content = if self.opts.content_as_parts {
            json!([{"type": "text", "text": text}])
        } else {
            Value::String(text)
        };
        LettaMessage::Assistant(AssistantMessage {
            id,
            date,
            name: None,
            message_type: "assistant_message".into(),
            otid,
            sender_id: None,
            step_id: None,
            content,
        })
    }

    /// Id, emission date and otid for a message of this type.
    fn common(&mut self, kind: &'static str) -> (String, String, Option<String>) {
        match self.last_kind {
            Some(last) if last != kind => self.kind_index += 1,
            _ => {}
        }
        self.last_kind = Some(kind);
        (
            self.message_id.clone(),
            format_message_date(&now()),
            otid(&self.message_id, self.kind_index),
        )
    }
}

/// Removes `<thinking>`/`</thinking>` tags from streamed text, holding back a chunk's tail
/// that may be the start of a tag split across chunks.
#[derive(Default)]
struct TagStripper {
    pending: String,
}

impl TagStripper {
    const TAGS: [&'static str; 2] = ["<thinking>", "</thinking>"];

    fn push(&mut self, text: &str) -> String {
        self.pending.push_str(text);
        let mut s = std::mem::take(&mut self.pending);
        for tag in Self::TAGS {
            s = s.replace(tag, "");
        }
        if let Some(pos) = s.rfind('<') {
            let tail = &s[pos..];
            if Self::TAGS.iter().any(|t| t.starts_with(tail)) {
                self.pending = tail.to_owned();
                s.truncate(pos);
            }
        }
        s
    }

    fn flush(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }
}

/// What the argument scanner saw, in order.
#[derive(Debug, Clone, PartialEq)]
enum ArgPiece {
    /// A top-level key was read; the pieces up to the next key belong to its value.
    KeyStart(String),
    StringOpen,
    /// Unescaped characters of the current string value.
    Text(String),
    StringClose,
    /// Characters of a value that is not a string (number, literal, array, object).
    Raw(String),
    ObjectEnd,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
enum ScanState {
    #[default]
    Start,
    BeforeKey,
    InKey,
    AfterKey,
    BeforeValue,
    InString,
    InRaw,
    AfterValue,
    Done,
}

/// An incremental scanner of one JSON object's top level.
#[derive(Default)]
struct ArgsScanner {
    state: ScanState,
    key: String,
    escape: bool,
    unicode: Option<String>,
    high_surrogate: Option<u32>,
    raw_depth: usize,
    raw_in_string: bool,
    raw_escape: bool,
}

impl ArgsScanner {
    fn feed(&mut self, chunk: &str) -> Vec<ArgPiece> {
        let mut out = Vec::new();
        let mut text = String::new();
        let mut raw = String::new();
        for c in chunk.chars() {
            match self.state {
                ScanState::Start => {
                    if c == '{' {
                        self.state = ScanState::BeforeKey;
                    }
                }
                ScanState::BeforeKey => match c {
                    '"' => {
                        self.key.clear();
                        self.state = ScanState::InKey;
                    }
                    '}' => {
                        self.state = ScanState::Done;
                        out.push(ArgPiece::ObjectEnd);
                    }
                    _ => {}
                },
                ScanState::InKey => {
                    if self.escape {
                        self.escape = false;
                        self.key.push(c);
                    } else if c == '\\' {
                        self.escape = true;
                    } else if c == '"' {
                        self.state = ScanState::AfterKey;
                    } else {
                        self.key.push(c);
                    }
                }
                ScanState::AfterKey => {
                    if c == ':' {
                        out.push(ArgPiece::KeyStart(std::mem::take(&mut self.key)));
                        self.state = ScanState::BeforeValue;
                    }
                }
                ScanState::BeforeValue => {
                    if c.is_whitespace() {
                        continue;
                    }
                    if c == '"' {
                        out.push(ArgPiece::StringOpen);
                        self.state = ScanState::InString;
                    } else {
                        self.raw_depth = 0;
                        self.raw_in_string = false;
                        self.raw_escape = false;
                        self.state = ScanState::InRaw;
                        self.raw_char(c, &mut raw, &mut out);
                    }
                }
                ScanState::InString => self.string_char(c, &mut text, &mut out),
                ScanState::InRaw => self.raw_char(c, &mut raw, &mut out),
                ScanState::AfterValue => match c {
                    ',' => self.state = ScanState::BeforeKey,
                    '}' => {
                        self.state = ScanState::Done;
                        out.push(ArgPiece::ObjectEnd);
                    }
                    _ => {}
                },
                ScanState::Done => {}
            }
        }
        if !text.is_empty() {
            out.push(ArgPiece::Text(text));
        }
        if !raw.is_empty() {
            out.push(ArgPiece::Raw(raw));
        }
        out
    }

    fn string_char(&mut self, c: char, text: &mut String, out: &mut Vec<ArgPiece>) {
        if let Some(hex) = &mut self.unicode {
            hex.push(c);
            if hex.len() == 4 {
                let code = u32::from_str_radix(hex, 16).unwrap_or(0xfffd);
                self.unicode = None;
                if (0xd800..0xdc00).contains(&code) {
                    self.high_surrogate = Some(code);
                } else if (0xdc00..0xe000).contains(&code) {
                    let high = self.high_surrogate.take().unwrap_or(0xd800);
                    let joined = 0x10000 + ((high - 0xd800) << 10) + (code - 0xdc00);
                    text.push(char::from_u32(joined).unwrap_or('\u{fffd}'));
                } else {
                    text.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                }
            }
            return;
        }
        if self.escape {
            self.escape = false;
            match c {
                'n' => text.push('\n'),
                't' => text.push('\t'),
                'r' => text.push('\r'),
                'b' => text.push('\u{8}'),
                'f' => text.push('\u{c}'),
                'u' => self.unicode = Some(String::new()),
                other => text.push(other),
            }
            return;
        }
        match c {
            '\\' => self.escape = true,
            '"' => {
                if !text.is_empty() {
                    out.push(ArgPiece::Text(std::mem::take(text)));
                }
                out.push(ArgPiece::StringClose);
                self.state = ScanState::AfterValue;
            }
            other => text.push(other),
        }
    }

    fn raw_char(&mut self, c: char, raw: &mut String, out: &mut Vec<ArgPiece>) {
        if self.raw_in_string {
            raw.push(c);
            if self.raw_escape {
                self.raw_escape = false;
            } else if c == '\\' {
                self.raw_escape = true;
            } else if c == '"' {
                self.raw_in_string = false;
            }
            return;
        }
        match c {
            '"' => {
                self.raw_in_string = true;
                raw.push(c);
            }
            '{' | '[' => {
                self.raw_depth += 1;
                raw.push(c);
            }
            '}' | ']' if self.raw_depth > 0 => {
                self.raw_depth -= 1;
                raw.push(c);
                if self.raw_depth == 0 {
                    out.push(ArgPiece::Raw(std::mem::take(raw)));
                    self.state = ScanState::AfterValue;
                }
            }
            ',' | '}' if self.raw_depth == 0 => {
                if !raw.is_empty() {
                    out.push(ArgPiece::Raw(std::mem::take(raw)));
                }
                if c == ',' {
                    self.state = ScanState::BeforeKey;
                } else {
                    self.state = ScanState::Done;
                    out.push(ArgPiece::ObjectEnd);
                }
            }
            c if c.is_whitespace() && self.raw_depth == 0 => {
                if !raw.is_empty() {
                    out.push(ArgPiece::Raw(std::mem::take(raw)));
                }
                self.state = ScanState::AfterValue;
            }
            other => raw.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> DeltaOptions {
        DeltaOptions {
            use_assistant_message: true,
            assistant_tool: "send_message".into(),
            assistant_kwarg: "message".into(),
            content_as_parts: false,
        }
    }

    fn call(name: Option<&str>, args: &str) -> ChatStreamEvent {
        ChatStreamEvent::ToolCallDelta {
            index: 0,
            id: name.map(|_| "call_1".to_owned()),
            name: name.map(str::to_owned),
            arguments: args.into(),
        }
    }

    fn feed_all(d: &mut StepDeltas, events: &[ChatStreamEvent]) -> Vec<Value> {
        let mut out: Vec<LettaMessage> = events.iter().flat_map(|e| d.on_event(e)).collect();
        out.extend(d.finish());
        out.iter()
            .map(|m| serde_json::to_value(m).unwrap())
            .collect()
    }

    const ID: &str = "message-14d47cd1-7ef0-4f58-84a5-75c25f70a540";

    #[test]
    fn send_message_streams_thoughts_then_unescaped_text() {
        let mut d = StepDeltas::new(ID.into(), opts());
        let out = feed_all(
            &mut d,
            &[
                call(Some("send_message"), ""),
                call(None, "{\"inner_thoughts\": \"Say \\\"hi\\\""),
                call(None, "\\n now\", \"mess"),
                call(None, "age\": \"Hel"),
                call(None, "lo \\u00e9\\ud83d\\ude00\"}"),
            ],
        );
        let reasoning: String = out
            .iter()
            .filter(|m| m["message_type"] == "reasoning_message")
            .map(|m| m["reasoning"].as_str().unwrap())
            .collect();
        assert_eq!(reasoning, "Say \"hi\"\n now");
        let said: String = out
            .iter()
            .filter(|m| m["message_type"] == "assistant_message")
            .map(|m| m["content"].as_str().unwrap())
            .collect();
        assert_eq!(said, "Hello é😀");
        assert_eq!(out[0]["otid"], "14d47cd1-7ef0-4f58-84a5-75c25f70a500");
        assert_eq!(
            out.last().unwrap()["otid"],
            "14d47cd1-7ef0-4f58-84a5-75c25f70a501"
        );
        assert!(out.iter().all(|m| m["id"] == ID && m["step_id"].is_null()));
        assert!(out.iter().all(|m| m["message_type"] != "tool_call_message"));
    }

    #[test]
    fn other_tools_stream_a_header_then_arguments_without_thoughts() {
        let mut d = StepDeltas::new(ID.into(), opts());
        let out = feed_all(
            &mut d,
            &[
                call(Some("conversation_search"), "{\"inner_thoughts\":\"look\","),
                call(None, "\"query\": \"hel"),
                call(None, "lo\", \"page\": 2, \"filters\": {\"a\": [1, \"}\"]},"),
                call(None, " \"request_heartbeat\": true}"),
            ],
        );
        let header = out
            .iter()
            .find(|m| m["message_type"] == "tool_call_message")
            .unwrap();
        assert_eq!(
            header["tool_call"],
            json!({"name": "conversation_search", "tool_call_id": "call_1"})
        );
        let args: String = out
            .iter()
            .filter_map(|m| m["tool_call"]["arguments"].as_str())
            .collect();
        let parsed: Value = serde_json::from_str(&args).unwrap();
        assert_eq!(
            parsed,
            json!({"query": "hello", "page": 2, "filters": {"a": [1, "}"]}, "request_heartbeat": true})
        );
        assert_eq!(out[0]["message_type"], "reasoning_message");
        assert_eq!(header["otid"], "14d47cd1-7ef0-4f58-84a5-75c25f70a501");
    }

    #[test]
    fn a_call_with_only_thoughts_still_shows_its_header_and_empty_arguments() {
        let mut d = StepDeltas::new(ID.into(), opts());
        let out = feed_all(
            &mut d,
            &[call(
                Some("memory_finish_edits"),
                "{\"inner_thoughts\":\"done\"}",
            )],
        );
        let args: String = out
            .iter()
            .filter_map(|m| m["tool_call"]["arguments"].as_str())
            .collect();
        assert_eq!(args, "{}");
    }

    #[test]
    fn anthropic_text_loses_thinking_tags_split_across_chunks() {
        let mut o = opts();
        o.content_as_parts = true;
        let mut d = StepDeltas::new(ID.into(), o);
        let out = feed_all(
            &mut d,
            &[
                ChatStreamEvent::ContentDelta("<think".into()),
                ChatStreamEvent::ContentDelta("ing>Plan</thi".into()),
                ChatStreamEvent::ContentDelta("nking>".into()),
                call(Some("send_message"), "{\"message\": \"Hi\"}"),
            ],
        );
        let reasoning: String = out
            .iter()
            .filter(|m| m["message_type"] == "reasoning_message")
            .map(|m| m["reasoning"].as_str().unwrap())
            .collect();
        assert_eq!(reasoning, "Plan");
        let last = out.last().unwrap();
        assert_eq!(last["content"], json!([{"type": "text", "text": "Hi"}]));
    }

    #[test]
    fn native_reasoning_and_redacted_thinking() {
        let mut d = StepDeltas::new(ID.into(), opts());
        let out = feed_all(
            &mut d,
            &[
                ChatStreamEvent::ReasoningDelta {
                    text: "hmm".into(),
                    signature: None,
                },
                ChatStreamEvent::ReasoningDelta {
                    text: String::new(),
                    signature: Some("sig".into()),
                },
                ChatStreamEvent::RedactedReasoning { data: "xx".into() },
            ],
        );
        assert_eq!(out[0]["source"], "reasoner_model");
        assert_eq!(out[1]["signature"], "sig");
        assert_eq!(out[2]["message_type"], "hidden_reasoning_message");
        assert_eq!(out[2]["state"], "redacted");
    }
}
