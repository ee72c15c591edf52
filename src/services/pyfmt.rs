//! Text the model reads, formatted as the original's Python formats it.

use serde_json::{Value, json};

/// Serializes like Python's `json.dumps(v, indent=2, ensure_ascii=False)`.
pub fn json_indent2(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// Serializes like Python's single-line `json.dumps(v)`: `", "` and `": "` separators,
/// non-ASCII escaped.
pub fn json_python_style(value: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                out.push('{');
                for (i, (k, val)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_str(k, out);
                    out.push_str(": ");
                    write(val, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, val) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write(val, out);
                }
                out.push(']');
            }
            Value::String(s) => write_str(s, out),
            other => out.push_str(&other.to_string()),
        }
    }
    fn write_str(s: &str, out: &mut String) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                    let mut buf = [0u16; 2];
                    for unit in c.encode_utf16(&mut buf) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// The original's packaged tool result: `{"status", "message", "time"}`, indented.
pub fn package_tool_response(ok: bool, message: Option<&str>, time: &str) -> String {
    json_indent2(&json!({
        "status": if ok { "OK" } else { "Failed" },
        "message": message,
        "time": time,
    }))
}

/// Python's `str()` of the value as the equivalent Python object: dicts and lists with
/// `', '` and `': '` separators, strings in `repr()` quotes, `True`/`False`/`None`.
pub fn python_literal(value: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                out.push('{');
                for (i, (k, val)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&python_repr(k));
                    out.push_str(": ");
                    write(val, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, val) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write(val, out);
                }
                out.push(']');
            }
            Value::String(s) => out.push_str(&python_repr(s)),
            Value::Bool(true) => out.push_str("True"),
            Value::Bool(false) => out.push_str("False"),
            Value::Null => out.push_str("None"),
            Value::Number(n) => out.push_str(&n.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// Python's `repr()` of a string: single quotes unless the text has a single quote and no
/// double quote; backslashes, the quote, and control characters escaped.
pub fn python_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..=0xa0).contains(&(c as u32)) || c == '\u{ad}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            '\u{2000}'..='\u{200f}'
            | '\u{2028}'..='\u{202f}'
            | '\u{205f}'..='\u{206f}'
            | '\u{3000}'
            | '\u{feff}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_literals() {
        let v = json!([{"agent_id": "agent-1", "response": ["it's", "hi"]}, null, true, 3]);
        assert_eq!(
            python_literal(&v),
            r#"[{'agent_id': 'agent-1', 'response': ["it's", 'hi']}, None, True, 3]"#
        );
        assert_eq!(python_literal(&json!([])), "[]");
    }

    #[test]
    fn python_style_json_escapes_non_ascii() {
        let v = json!({"message": "Hello! \u{2615}", "request_heartbeat": false});
        assert_eq!(
            json_python_style(&v),
            r#"{"message": "Hello! \u2615", "request_heartbeat": false}"#
        );
    }

    #[test]
    fn python_reprs() {
        assert_eq!(python_repr("plain"), "'plain'");
        assert_eq!(python_repr("it's"), "\"it's\"");
        assert_eq!(python_repr("both ' and \""), "'both \\' and \"'");
        assert_eq!(python_repr("a\\b\nc\td\u{1}"), "'a\\\\b\\nc\\td\\x01'");
        assert_eq!(python_repr("café ☕"), "'café ☕'");
        assert_eq!(python_repr("a\u{a0}b\u{2028}"), "'a\\xa0b\\u2028'");
    }
}
