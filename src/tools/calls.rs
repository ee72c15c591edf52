//! The model's tool call as the loop reads it: the first call, with arguments parsed
//! leniently, and a tool's output cut to its return limit.

use serde_json::{Map, Value};

use crate::llm::chat::ChatResponse;
use crate::services::{ServiceError, ServiceResult};

/// The model's tool call after lenient parsing.
#[derive(Debug, Clone)]
pub struct ParsedCall {
    pub id: String,
    pub name: String,
    pub args: Map<String, Value>,
    pub request_heartbeat: bool,
    pub inner_thoughts: Option<String>,
}

/// The first tool call, with lenient argument parsing; no tool call is a 400.
pub fn parse_tool_call(response: &ChatResponse) -> ServiceResult<ParsedCall> {
    let call = response.tool_calls.first().ok_or_else(|| {
        ServiceError::BadRequest(
            "No tool calls found in response, model must make a tool call".into(),
        )
    })?;
    let mut args = parse_arguments(&call.arguments);
    let request_heartbeat = match args.remove("request_heartbeat") {
        Some(Value::Bool(b)) => b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::Null) | None => false,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    };
    let inner_thoughts = match args.remove("inner_thoughts") {
        Some(Value::String(s)) => Some(s),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    let id = if call.id.is_empty() {
        format!("call_{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
    } else {
        call.id.clone()
    };
    Ok(ParsedCall {
        id,
        name: call.name.clone(),
        args,
        request_heartbeat,
        inner_thoughts,
    })
}

/// Model-produced arguments: concatenated objects are cut to the first, a JSON string
/// holding JSON is decoded twice, a truncated object is closed, anything else is `{}`.
pub fn parse_arguments(raw: &str) -> Map<String, Value> {
    let text = raw.trim();
    let text = match text.find("}{") {
        Some(i) => &text[..=i],
        None => text,
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => return map,
        Ok(Value::String(inner)) => {
            if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&inner) {
                return map;
            }
        }
        _ => {}
    }
    for suffix in ["}", "\"}", "\"]}", "]}"] {
        if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&format!("{text}{suffix}")) {
            return map;
        }
    }
    Map::new()
}

/// A tool's output cut to the tool's `return_char_limit` (none, or a negative one, keeps it
/// whole). One implementation for every kind of tool: the two stages of §5.6 in
/// [`crate::sandbox::truncate_tool_return`], which also serves the sandbox's own callers.
pub fn truncate_output(tool: &str, output: String, limit: Option<i64>) -> String {
    match limit.and_then(|l| usize::try_from(l).ok()) {
        Some(limit) => crate::sandbox::truncate_tool_return(&output, limit, tool),
        None => output,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn arguments_are_parsed_leniently() {
        assert_eq!(
            parse_arguments(r#"{"a": 1}{"b": 2}"#).get("a"),
            Some(&json!(1))
        );
        assert_eq!(parse_arguments(r#""{\"a\": 1}""#).get("a"), Some(&json!(1)));
        assert_eq!(
            parse_arguments(r#"{"message": "hi"#).get("message"),
            Some(&json!("hi"))
        );
        assert!(parse_arguments("not json").is_empty());
    }

    #[test]
    fn outputs_over_the_limit_are_cut() {
        let out = truncate_output("custom", "abcdef".into(), Some(3));
        assert_eq!(
            out,
            // Both stages of 0.8.12: the first note is appended, then the whole is cut,
            // so the second note counts the first one's length too.
            "abc... [NOTE: function output was truncated since it exceeded the character limit (92 > 3)]"
        );
        assert_eq!(
            truncate_output("conversation_search", "abcdef".into(), Some(3)),
            "abcdef... [NOTE: function output was truncated since it exceeded the character limit: 6 > 3]"
        );
        assert_eq!(truncate_output("custom", "abcdef".into(), None), "abcdef");
        assert_eq!(
            truncate_output("custom", "abcdef".into(), Some(-1)),
            "abcdef"
        );
    }
}
