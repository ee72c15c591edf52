//! The SSE frames of a message stream, byte for byte as the original sends them (spec §7).

use serde::Serialize;

/// The last frame of a successful stream.
pub const DONE: &str = "data: [DONE]\n\n";
/// Sent when a run's task stops without reporting why (it died, or its events were lost);
/// the original's exact text (note the spaces).
pub const ERROR: &str =
    "event: error\ndata: {\"error\": {\"message\": \"Internal Server Error\"}}\n\n";
/// Sent when the server stops the run's task before it finished.
pub const CANCELLED: &str =
    "event: cancelled\ndata: {\"error\": {\"message\": \"Stream cancelled\"}}\n\n";
/// An SSE comment: clients ignore it, proxies see traffic.
pub const KEEP_ALIVE: &str = ": keep-alive\n\n";

/// `data: <compact json>\n\n`.
pub fn data(value: &impl Serialize) -> String {
    let json = serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned());
    format!("data: {json}\n\n")
}

/// Why a run failed, as its error frame tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// What a JSON request would have been told (`detail`).
    pub message: String,
    /// The error's kind (`llm_rate_limit`, `llm_timeout`, `not_found`, …).
    pub kind: String,
    /// The HTTP status a JSON request would have got.
    pub status: u16,
    /// Seconds to wait before retrying, when the provider said.
    pub retry_after: Option<u64>,
}

/// The error frame of a failed run: the original's shape and spacing
/// (`{"error": {"message": …}}`) with the message a JSON request would get, plus the kind
/// and status (so a stream that fails before its first event answers with that status).
pub fn error(err: &FrameError) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    let retry = err
        .retry_after
        .map(|secs| format!(", \"retry_after\": {secs}"))
        .unwrap_or_default();
    format!(
        "event: error\ndata: {{\"error\": {{\"message\": {}, \"type\": {}, \"status_code\": {}{retry}}}}}\n\n",
        quote(&err.message),
        quote(&err.kind),
        err.status,
    )
}

/// What an error frame says; `None` for other frames. The bare [`ERROR`] frame is a 500.
pub fn parse_error(frame: &str) -> Option<FrameError> {
    let data = frame.strip_prefix("event: error\ndata: ")?.trim_end();
    let value: serde_json::Value = serde_json::from_str(data).ok()?;
    let error = value.get("error")?;
    Some(FrameError {
        message: error["message"].as_str().unwrap_or_default().to_owned(),
        kind: error["type"]
            .as_str()
            .unwrap_or("internal_error")
            .to_owned(),
        status: error["status_code"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or(500),
        retry_after: error["retry_after"].as_u64(),
    })
}

/// Whether the frame is one of the error frames that end a stream without `[DONE]`.
pub fn is_error(frame: &str) -> bool {
    frame.starts_with("event: ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_frames_round_trip() {
        let err = FrameError {
            message: "openai error (HTTP 429): \"slow down\"".to_owned(),
            kind: "llm_rate_limit".to_owned(),
            status: 429,
            retry_after: Some(2),
        };
        let frame = error(&err);
        assert!(frame.starts_with("event: error\ndata: {\"error\": {\"message\": "));
        assert!(frame.ends_with("}}\n\n"));
        assert_eq!(parse_error(&frame), Some(err));
        let bare = parse_error(ERROR).unwrap();
        assert_eq!(
            (bare.status, bare.message.as_str()),
            (500, "Internal Server Error")
        );
        assert_eq!(parse_error(DONE), None);
    }
}
