//! A scripted OpenAI/Anthropic-compatible model server for benchmarks: every chat request
//! is answered with a `send_message` call echoing the last user message, at once or after
//! `--delay-ms N` milliseconds (a slow model); embedding requests are answered after
//! `--embedding-delay-ms N` (a slow embedder). It is the integration tests' mock, run as a
//! process.
//!
//! Usage: cargo run --release --example mock_llm -- [--port PORT] [--delay-ms N]
//!        [--embedding-delay-ms N]
//! Prints `MOCK_LLM_URL=http://127.0.0.1:PORT/v1` when ready; stops on Ctrl-C.

#![allow(
    clippy::unwrap_used,
    reason = "the integration tests' mock, where a panic is a test failure"
)]

#[path = "../tests/it/mock_llm.rs"]
#[expect(
    dead_code,
    reason = "the tests' whole mock; this server scripts only part of it"
)]
mod mock_llm;

use mock_llm::{MockLlm, MockReply};
use serde_json::json;
use std::time::Duration;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut port: u16 = 0;
    let mut delay = Duration::ZERO;
    let mut embedding_delay = Duration::ZERO;
    let millis = |value: Option<String>, flag: &str| {
        Duration::from_millis(
            value
                .and_then(|d| d.parse().ok())
                .unwrap_or_else(|| panic!("{flag} takes a number of milliseconds")),
        )
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .expect("--port takes a number")
            }
            "--delay-ms" => delay = millis(args.next(), "--delay-ms"),
            "--embedding-delay-ms" => embedding_delay = millis(args.next(), "--embedding-delay-ms"),
            other => panic!("unknown argument {other}"),
        }
    }
    let llm = MockLlm::start_on(port).await;
    llm.set_embedding_delay(embedding_delay);
    llm.set_rule(move |req| {
        let text = req.last_user_text().unwrap_or_default();
        MockReply::tool_call(
            "send_message",
            json!({"inner_thoughts": "Replying.", "message": format!("Echo: {text}")}),
        )
        .usage(1000, 30)
        .delay(delay)
    });
    println!("MOCK_LLM_URL={}", llm.base_url());
    let _ = tokio::signal::ctrl_c().await;
}
