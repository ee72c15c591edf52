//! A small SSE load generator for letta-rs message streams: N concurrent streams each send R
//! turns to `POST /v1/agents/{id}/messages/stream` one after another, then it prints the time
//! to the first `data:` frame and to `data: [DONE]` (percentiles), errors and throughput.
//!
//!     cargo run --release --example streamgen -- --url http://127.0.0.1:8283 \
//!         --agents agents.txt --streams 100 --rounds 2 --stream-tokens
//!
//! One turn runs at a time per agent, so each stream gets its own agents: with at least as
//! many agents as streams, stream i uses agents i, i+N, i+2N, … round robin over its rounds
//! (`--streams 1` cycles through all of them); with fewer, streams share agents (a warning
//! is printed, and overlapping turns on an agent may fail).
//!
//! An error is a status other than 200, an `event:` frame (`event: error`, `event:
//! cancelled`), a stream that ends without `[DONE]`, or a connection error or timeout.
//!
//! Always bounded: at most `--streams` × `--rounds` streams (at most 4096 × 10000), each cut
//! after `--timeout-secs`, and no stream starts after `--max-secs` (at most 3600). It only
//! targets loopback addresses (127.0.0.0/8, ::1, localhost) unless `--allow-remote` is given.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::StreamExt;
use reqwest::Url;
use serde_json::{Value, json};

const MAX_STREAMS: usize = 4096;
const MAX_ROUNDS: u64 = 10_000;
const MAX_SECS: u64 = 3600;

#[derive(Debug, Parser)]
#[command(
    name = "streamgen",
    about = "Bounded SSE message-stream load generator (loopback targets only by default)"
)]
struct Args {
    /// Server base URL, e.g. http://127.0.0.1:8283
    #[arg(long)]
    url: String,

    /// File with one agent id per line.
    #[arg(long)]
    agents: String,

    /// Concurrent streams (each keeps one stream open at a time).
    #[arg(long, default_value_t = 1)]
    streams: usize,

    /// Streams each worker opens one after another.
    #[arg(long, default_value_t = 1)]
    rounds: u64,

    /// Ask for token streaming (`"stream_tokens": true`).
    #[arg(long)]
    stream_tokens: bool,

    /// The user message sent.
    #[arg(long, default_value = "hi")]
    message: String,

    /// Per-stream timeout in seconds (request to the end of the body).
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,

    /// No stream starts after this many seconds (at most 3600).
    #[arg(long, default_value_t = 600)]
    max_secs: u64,

    /// Print the summary as one JSON object instead of text.
    #[arg(long)]
    json: bool,

    /// Also write one CSV line per stream to this file: start, time to first data frame
    /// and to [DONE] (ms, from the run's start and the stream's start), outcome.
    #[arg(long)]
    csv: Option<String>,

    /// Open a new connection for every stream instead of reusing idle ones.
    #[arg(long)]
    fresh_connections: bool,

    /// Allow a target that is not a loopback address.
    #[arg(long)]
    allow_remote: bool,
}

/// What one stream ended with.
enum Outcome {
    Ok {
        ttfe_us: u64,
        total_us: u64,
        events: u64,
        keepalives: u64,
        stop_reason: Option<String>,
    },
    Err {
        kind: String,
        detail: String,
    },
}

/// What one worker saw.
#[derive(Default)]
struct Tally {
    /// `start_ms,ttfe_ms,total_ms,outcome` per stream.
    rows: Vec<String>,
    ttfe_us: Vec<u64>,
    total_us: Vec<u64>,
    events: u64,
    keepalives: u64,
    stop_reasons: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
}

impl Tally {
    fn add(&mut self, start: Duration, outcome: Outcome) {
        let start_ms = start.as_secs_f64() * 1000.0;
        self.rows.push(match &outcome {
            Outcome::Ok {
                ttfe_us, total_us, ..
            } => format!(
                "{start_ms:.3},{:.3},{:.3},ok",
                *ttfe_us as f64 / 1000.0,
                *total_us as f64 / 1000.0
            ),
            Outcome::Err { kind, .. } => format!("{start_ms:.3},,,{kind}"),
        });
        match outcome {
            Outcome::Ok {
                ttfe_us,
                total_us,
                events,
                keepalives,
                stop_reason,
            } => {
                self.ttfe_us.push(ttfe_us);
                self.total_us.push(total_us);
                self.events += events;
                self.keepalives += keepalives;
                *self
                    .stop_reasons
                    .entry(stop_reason.unwrap_or_else(|| "none".to_owned()))
                    .or_default() += 1;
            }
            Outcome::Err { kind, detail } => {
                *self.errors.entry(kind).or_default() += 1;
                self.first_error.get_or_insert(detail);
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        self.rows.extend(other.rows);
        self.ttfe_us.extend(other.ttfe_us);
        self.total_us.extend(other.total_us);
        self.events += other.events;
        self.keepalives += other.keepalives;
        for (k, n) in other.stop_reasons {
            *self.stop_reasons.entry(k).or_default() += n;
        }
        for (k, n) in other.errors {
            *self.errors.entry(k).or_default() += n;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// 127.0.0.0/8, ::1 or `localhost`; other names are not resolved, so they are refused.
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

fn stats(sorted: &[u64]) -> Value {
    let mean = if sorted.is_empty() {
        0.0
    } else {
        sorted.iter().sum::<u64>() as f64 / sorted.len() as f64 / 1000.0
    };
    json!({
        "min": sorted.first().map_or(0.0, |m| *m as f64 / 1000.0),
        "mean": mean,
        "p50": percentile(sorted, 0.50),
        "p95": percentile(sorted, 0.95),
        "p99": percentile(sorted, 0.99),
        "max": sorted.last().map_or(0.0, |m| *m as f64 / 1000.0),
    })
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("streamgen: {msg}");
    std::process::exit(2);
}

fn err(kind: &str, detail: impl Into<String>) -> Outcome {
    Outcome::Err {
        kind: kind.to_owned(),
        detail: detail.into(),
    }
}

/// Where the next complete SSE frame ends in `buf`: (end of its text, start of the next).
fn frame_end(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (i, i + 2));
    let crlf = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// Opens one stream and reads it to its end.
async fn one_stream(client: &reqwest::Client, url: Url, body: Vec<u8>) -> Outcome {
    let t0 = Instant::now();
    let resp = match client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .body(body)
        .send()
        .await
    {
        Ok(resp) => resp,
        Err(e) => {
            let kind = if e.is_timeout() {
                "timeout"
            } else {
                "connection"
            };
            return err(kind, format!("{kind}: {e:?}"));
        }
    };
    let status = resp.status();
    if status != reqwest::StatusCode::OK {
        let text = resp.text().await.unwrap_or_default();
        let snippet: String = text.chars().take(300).collect();
        return err(
            &format!("status_{}", status.as_u16()),
            format!("HTTP {status}: {snippet}"),
        );
    }
    let mut body = resp.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut ttfe_us: Option<u64> = None;
    let (mut events, mut keepalives) = (0u64, 0u64);
    let mut stop_reason: Option<String> = None;
    loop {
        while let Some((end, next)) = frame_end(&buf) {
            let frame = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..next);
            let mut data = String::new();
            let mut event: Option<String> = None;
            let mut comment = false;
            for line in frame.lines() {
                if let Some(rest) = line.strip_prefix("data:") {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
                } else if let Some(rest) = line.strip_prefix("event:") {
                    event = Some(rest.trim().to_owned());
                } else if line.starts_with(':') {
                    comment = true;
                }
            }
            if let Some(event) = event {
                return err(
                    "error_frame",
                    format!("event: {event} after {events} data frames: {data}"),
                );
            }
            if data.is_empty() {
                keepalives += u64::from(comment);
                continue;
            }
            if ttfe_us.is_none() {
                ttfe_us = Some(t0.elapsed().as_micros() as u64);
            }
            if data == "[DONE]" {
                let total_us = t0.elapsed().as_micros() as u64;
                // Drain whatever follows (nothing, normally) so the connection is reusable.
                while let Some(chunk) = body.next().await {
                    if chunk.is_err() {
                        break;
                    }
                }
                return Outcome::Ok {
                    ttfe_us: ttfe_us.unwrap_or(total_us),
                    total_us,
                    events,
                    keepalives,
                    stop_reason,
                };
            }
            events += 1;
            if let Ok(value) = serde_json::from_str::<Value>(&data)
                && value["message_type"] == "stop_reason"
            {
                stop_reason = value["stop_reason"].as_str().map(str::to_owned);
            }
        }
        match body.next().await {
            Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
            Some(Err(e)) => {
                let kind = if e.is_timeout() {
                    "timeout"
                } else {
                    "connection"
                };
                return err(kind, format!("{kind} after {events} data frames: {e:?}"));
            }
            None => {
                return err(
                    "missing_done",
                    format!("stream ended after {events} data frames without [DONE]"),
                );
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();

    let base = Url::parse(args.url.trim_end_matches('/'))
        .unwrap_or_else(|e| fail(format!("bad --url {:?}: {e}", args.url)));
    if !matches!(base.scheme(), "http" | "https") {
        fail("--url must be http:// or https://");
    }
    if !args.allow_remote && !is_loopback(&base) {
        fail(format!(
            "refusing to send load to {} (not a loopback address); pass --allow-remote for a host you own",
            base.host_str().unwrap_or("?")
        ));
    }
    if args.streams == 0 || args.streams > MAX_STREAMS {
        fail(format!("--streams must be 1..={MAX_STREAMS}"));
    }
    if args.rounds == 0 || args.rounds > MAX_ROUNDS {
        fail(format!("--rounds must be 1..={MAX_ROUNDS}"));
    }
    if args.max_secs == 0 || args.max_secs > MAX_SECS {
        fail(format!("--max-secs must be 1..={MAX_SECS}"));
    }
    if args.timeout_secs == 0 {
        fail("--timeout-secs must be at least 1");
    }
    let agents: Vec<String> = std::fs::read_to_string(&args.agents)
        .unwrap_or_else(|e| fail(format!("cannot read {}: {e}", args.agents)))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if agents.is_empty() {
        fail(format!("no agent ids in {}", args.agents));
    }
    if agents.len() < args.streams {
        eprintln!(
            "streamgen: warning: {} agents for {} streams; streams share agents and may collide",
            agents.len(),
            args.streams
        );
    }
    let root = base.as_str().trim_end_matches('/').to_owned();
    let urls: Vec<Url> = agents
        .iter()
        .map(|id| {
            let u = Url::parse(&format!("{root}/v1/agents/{id}/messages/stream"))
                .unwrap_or_else(|e| fail(format!("bad url for agent {id:?}: {e}")));
            if !args.allow_remote && !is_loopback(&u) {
                fail("only loopback targets are allowed");
            }
            u
        })
        .collect();
    // Stream i's agents: i, i+N, i+2N, … (or i mod the agent count when there are fewer).
    let per_stream: Vec<Arc<Vec<Url>>> = (0..args.streams)
        .map(|i| {
            let own: Vec<Url> = urls.iter().skip(i).step_by(args.streams).cloned().collect();
            Arc::new(if own.is_empty() {
                vec![urls[i % urls.len()].clone()]
            } else {
                own
            })
        })
        .collect();
    let body = serde_json::to_vec(&json!({
        "messages": [{"role": "user", "content": args.message}],
        "stream_tokens": args.stream_tokens,
    }))
    .expect("request body");

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(if args.fresh_connections {
            0
        } else {
            args.streams
        })
        .timeout(Duration::from_secs(args.timeout_secs))
        .build()
        .unwrap_or_else(|e| fail(format!("http client: {e}")));

    let deadline = Duration::from_secs(args.max_secs);
    let started = Instant::now();
    let mut workers = Vec::with_capacity(args.streams);
    for own in per_stream {
        let (client, body) = (client.clone(), body.clone());
        let rounds = args.rounds;
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            for round in 0..rounds {
                if started.elapsed() >= deadline {
                    break;
                }
                let url = own[(round % own.len() as u64) as usize].clone();
                let start = started.elapsed();
                tally.add(start, one_stream(&client, url, body.clone()).await);
            }
            tally
        }));
    }

    let mut all = Tally::default();
    for w in workers {
        all.merge(
            w.await
                .unwrap_or_else(|e| fail(format!("worker panicked: {e}"))),
        );
    }
    let wall = started.elapsed().as_secs_f64();
    all.ttfe_us.sort_unstable();
    all.total_us.sort_unstable();

    if let Some(path) = &args.csv {
        let mut text = String::from("start_ms,ttfe_ms,total_ms,outcome\n");
        for row in &all.rows {
            text.push_str(row);
            text.push('\n');
        }
        std::fs::write(path, text).unwrap_or_else(|e| fail(format!("cannot write {path}: {e}")));
    }
    let ok = all.total_us.len() as u64;
    let errors: u64 = all.errors.values().sum();
    let total = ok + errors;
    let per_sec = if wall > 0.0 { total as f64 / wall } else { 0.0 };
    let events_per_stream = if ok > 0 {
        all.events as f64 / ok as f64
    } else {
        0.0
    };
    let (ttfe, total_ms) = (stats(&all.ttfe_us), stats(&all.total_us));

    if args.json {
        let summary = json!({
            "url": root, "streams": args.streams, "rounds": args.rounds,
            "stream_tokens": args.stream_tokens, "fresh_connections": args.fresh_connections,
            "agents": agents.len(),
            "requests": total, "ok": ok, "errors": errors, "error_kinds": all.errors,
            "first_error": all.first_error, "seconds": wall, "streams_per_sec": per_sec,
            "ttfe_ms": ttfe, "total_ms": total_ms,
            "data_frames_per_stream": events_per_stream, "keepalives": all.keepalives,
            "stop_reasons": all.stop_reasons,
        });
        println!("{summary}");
    } else {
        println!(
            "POST {root}/v1/agents/{{id}}/messages/stream  streams {}  rounds {}  stream_tokens {}",
            args.streams, args.rounds, args.stream_tokens
        );
        println!("streams    {total} in {wall:.2}s = {per_sec:.1} streams/s");
        for (name, s) in [("first data", &ttfe), ("[DONE]    ", &total_ms)] {
            println!(
                "{name} min {:.2} ms  mean {:.2} ms  p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
                s["min"].as_f64().unwrap_or(0.0),
                s["mean"].as_f64().unwrap_or(0.0),
                s["p50"].as_f64().unwrap_or(0.0),
                s["p95"].as_f64().unwrap_or(0.0),
                s["p99"].as_f64().unwrap_or(0.0),
                s["max"].as_f64().unwrap_or(0.0),
            );
        }
        println!(
            "frames     {events_per_stream:.1} data frames per stream, {} keep-alives",
            all.keepalives
        );
        let reasons: Vec<String> = all
            .stop_reasons
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        println!("stop       {}", reasons.join(", "));
        let kinds: Vec<String> = all
            .errors
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        println!(
            "errors     {errors}{}",
            if kinds.is_empty() {
                String::new()
            } else {
                format!(" ({})", kinds.join(", "))
            }
        );
        if let Some(e) = &all.first_error {
            println!("first error: {e}");
        }
    }
    if total > 0 && errors == total {
        std::process::exit(1);
    }
}
