//! The SSE frames of a message stream, byte for byte as the original sends them (spec §7).

use serde::Serialize;

/// The last frame of a successful stream.
pub const DONE: &str = "data: [DONE]\n\n";
/// Sent when the run fails; the original's exact text (note the spaces).
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

/// Whether the frame is one of the error frames that end a stream without `[DONE]`.
pub fn is_error(frame: &str) -> bool {
    frame.starts_with("event: ")
}
