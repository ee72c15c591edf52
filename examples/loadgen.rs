//! A small HTTP load generator for letta-rs: N concurrent workers send the same request until a
//! request count or a duration is reached, then it prints throughput, latency percentiles and
//! errors.
//!
//!     cargo run --release --example loadgen -- --url http://127.0.0.1:8283/v1/agents/?limit=50 \
//!         --concurrency 16 --duration-secs 10
//!
//! Always bounded: at most `--requests` requests (default 1000) or `--duration-secs` seconds
//! (capped at 3600). It only targets loopback addresses (127.0.0.0/8, ::1, localhost) unless
//! `--allow-remote` is given.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};

const MAX_DURATION_SECS: u64 = 3600;
const MAX_CONCURRENCY: usize = 1024;

#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    about = "Bounded HTTP load generator (loopback targets only by default)"
)]
struct Args {
    /// Target URL, e.g. http://127.0.0.1:8283/v1/agents/?limit=50
    #[arg(long)]
    url: String,

    /// Concurrent workers (each keeps one connection busy).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,

    /// Total requests to send (default 1000 when --duration-secs is not given).
    #[arg(long)]
    requests: Option<u64>,

    /// Send requests for this many seconds (at most 3600); combined with --requests, whichever
    /// comes first stops the run.
    #[arg(long)]
    duration_secs: Option<u64>,

    /// HTTP method.
    #[arg(long, default_value = "GET")]
    method: String,

    /// Request body; `@path` reads it from a file. Sent as JSON unless a content-type header
    /// is given.
    #[arg(long)]
    body: Option<String>,

    /// File with one value per line; each request replaces `{}` in --url with the next value,
    /// round robin (e.g. spread requests over many agent ids).
    #[arg(long)]
    values_from: Option<String>,

    /// Extra header, `Name: value`; repeatable.
    #[arg(long = "header")]
    headers: Vec<String>,

    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 30)]
    timeout_secs: u64,

    /// Print the summary as one JSON object instead of text.
    #[arg(long)]
    json: bool,

    /// Allow a target that is not a loopback address.
    #[arg(long)]
    allow_remote: bool,
}

/// What one worker saw.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
    first_error: Option<String>,
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

fn parse_headers(raw: &[String], has_body: bool) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for h in raw {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| format!("header {h:?} is not `Name: value`"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|e| format!("header {h:?}: {e}"))?;
        let value =
            HeaderValue::from_str(value.trim()).map_err(|e| format!("header {h:?}: {e}"))?;
        map.append(name, value);
    }
    if has_body && !map.contains_key(reqwest::header::CONTENT_TYPE) {
        map.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    Ok(map)
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("loadgen: {msg}");
    std::process::exit(2);
}

#[tokio::main]
async fn main() {
    let args = Args::parse();

    let url =
        Url::parse(&args.url).unwrap_or_else(|e| fail(format!("bad --url {:?}: {e}", args.url)));
    if !matches!(url.scheme(), "http" | "https") {
        fail("--url must be http:// or https://");
    }
    if !args.allow_remote && !is_loopback(&url) {
        fail(format!(
            "refusing to send load to {} (not a loopback address); pass --allow-remote for a host you own",
            url.host_str().unwrap_or("?")
        ));
    }
    if args.concurrency == 0 || args.concurrency > MAX_CONCURRENCY {
        fail(format!("--concurrency must be 1..={MAX_CONCURRENCY}"));
    }
    if args
        .duration_secs
        .is_some_and(|d| d == 0 || d > MAX_DURATION_SECS)
    {
        fail(format!("--duration-secs must be 1..={MAX_DURATION_SECS}"));
    }
    if args.requests == Some(0) {
        fail("--requests must be at least 1");
    }
    let method = Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
        .unwrap_or_else(|e| fail(format!("bad --method: {e}")));
    let body: Option<Vec<u8>> = args.body.as_deref().map(|b| match b.strip_prefix('@') {
        Some(path) => std::fs::read(path)
            .unwrap_or_else(|e| fail(format!("cannot read body file {path}: {e}"))),
        None => b.as_bytes().to_vec(),
    });
    let headers = parse_headers(&args.headers, body.is_some()).unwrap_or_else(|e| fail(e));

    // With neither bound given, send 1000 requests; a duration alone still stops by itself.
    let budget = match (args.requests, args.duration_secs) {
        (Some(n), _) => n,
        (None, Some(_)) => u64::MAX,
        (None, None) => 1000,
    };
    let deadline = args.duration_secs.map(Duration::from_secs);

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(args.timeout_secs))
        .build()
        .unwrap_or_else(|e| fail(format!("http client: {e}")));

    let values: Arc<Vec<Url>> = Arc::new(match &args.values_from {
        None => Vec::new(),
        Some(path) => std::fs::read_to_string(path)
            .unwrap_or_else(|e| fail(format!("cannot read {path}: {e}")))
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|v| {
                let u = Url::parse(&args.url.replace("{}", v))
                    .unwrap_or_else(|e| fail(format!("bad url for value {v:?}: {e}")));
                if !args.allow_remote && !is_loopback(&u) {
                    fail("only loopback targets are allowed");
                }
                u
            })
            .collect(),
    });
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency {
        let values = values.clone();
        let (client, url, method, headers, body, issued) = (
            client.clone(),
            url.clone(),
            method.clone(),
            headers.clone(),
            body.clone(),
            issued.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            loop {
                if deadline.is_some_and(|d| started.elapsed() >= d) {
                    break;
                }
                let n = issued.fetch_add(1, Ordering::Relaxed);
                if n >= budget {
                    break;
                }
                let target = if values.is_empty() {
                    url.clone()
                } else {
                    values[(n % values.len() as u64) as usize].clone()
                };
                let mut req = client
                    .request(method.clone(), target)
                    .headers(headers.clone());
                if let Some(body) = &body {
                    req = req.body(body.clone());
                }
                let t0 = Instant::now();
                let outcome = match req.send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        // Read the whole body: the latency includes the transfer.
                        resp.bytes().await.map(|_| status)
                    }
                    Err(e) => Err(e),
                };
                let elapsed = t0.elapsed().as_micros() as u64;
                match outcome {
                    Ok(status) => {
                        tally.latencies_us.push(elapsed);
                        *tally.statuses.entry(status).or_default() += 1;
                    }
                    Err(e) => {
                        tally.transport_errors += 1;
                        tally.first_error.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            tally
        }));
    }

    let mut all = Tally::default();
    for w in workers {
        let t = w
            .await
            .unwrap_or_else(|e| fail(format!("worker panicked: {e}")));
        all.latencies_us.extend(t.latencies_us);
        for (s, n) in t.statuses {
            *all.statuses.entry(s).or_default() += n;
        }
        all.transport_errors += t.transport_errors;
        if all.first_error.is_none() {
            all.first_error = t.first_error;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    all.latencies_us.sort_unstable();

    let completed = all.latencies_us.len() as u64;
    let http_errors: u64 = all
        .statuses
        .iter()
        .filter(|(s, _)| !(200..400).contains(*s))
        .map(|(_, n)| n)
        .sum();
    let errors = http_errors + all.transport_errors;
    let total = completed + all.transport_errors;
    let rps = if wall > 0.0 { total as f64 / wall } else { 0.0 };
    let (p50, p95, p99) = (
        percentile(&all.latencies_us, 0.50),
        percentile(&all.latencies_us, 0.95),
        percentile(&all.latencies_us, 0.99),
    );
    let max = all.latencies_us.last().map_or(0.0, |m| *m as f64 / 1000.0);
    let mean = if completed > 0 {
        all.latencies_us.iter().sum::<u64>() as f64 / completed as f64 / 1000.0
    } else {
        0.0
    };

    if args.json {
        let statuses: serde_json::Map<String, serde_json::Value> = all
            .statuses
            .iter()
            .map(|(s, n)| (s.to_string(), (*n).into()))
            .collect();
        let summary = serde_json::json!({
            "url": args.url, "method": method.as_str(), "concurrency": args.concurrency,
            "requests": total, "errors": errors, "transport_errors": all.transport_errors,
            "seconds": wall, "rps": rps,
            "latency_ms": {"mean": mean, "p50": p50, "p95": p95, "p99": p99, "max": max},
            "statuses": statuses, "first_error": all.first_error,
        });
        println!("{summary}");
    } else {
        println!("{} {}  concurrency {}", method, args.url, args.concurrency);
        println!("requests   {total} in {wall:.2}s = {rps:.1} req/s");
        println!(
            "latency    mean {mean:.2} ms  p50 {p50:.2} ms  p95 {p95:.2} ms  p99 {p99:.2} ms  max {max:.2} ms"
        );
        let statuses: Vec<String> = all
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        println!(
            "statuses   {}",
            if statuses.is_empty() {
                "none".to_owned()
            } else {
                statuses.join(", ")
            }
        );
        println!(
            "errors     {errors} ({http_errors} HTTP, {} transport)",
            all.transport_errors
        );
        if let Some(e) = &all.first_error {
            println!("first transport error: {e}");
        }
    }
    if total > 0 && errors == total {
        std::process::exit(1);
    }
}
