//! A small SSE reader for the message streams: frames split on blank lines, kept raw so
//! tests can compare them byte for byte.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// One frame of an SSE response.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `data: <json>`
    Data(Value),
    /// `data: [DONE]`
    Done,
    /// `event: <name>\ndata: <text>`
    Event { name: String, data: String },
    /// `: <comment>`
    Comment(String),
}

impl Frame {
    pub fn message_type(&self) -> Option<&str> {
        match self {
            Frame::Data(v) => v["message_type"].as_str(),
            _ => None,
        }
    }

    pub fn json(&self) -> &Value {
        match self {
            Frame::Data(v) => v,
            other => panic!("not a data frame: {other:?}"),
        }
    }
}

pub struct SseStream {
    pub status: StatusCode,
    pub headers: HeaderMap,
    body: futures_util::stream::BoxStream<'static, reqwest::Result<axum::body::Bytes>>,
    buffer: String,
    /// Every frame's raw text, in order.
    pub raw: Vec<String>,
}

impl SseStream {
    pub async fn open(
        client: &reqwest::Client,
        url: &str,
        user_id: &str,
        body: Option<&Value>,
    ) -> SseStream {
        let mut req = match body {
            Some(body) => client.post(url).json(body),
            None => client.get(url),
        };
        req = req.header("user_id", user_id);
        let resp = req.send().await.expect("request");
        SseStream {
            status: resp.status(),
            headers: resp.headers().clone(),
            body: resp.bytes_stream().boxed(),
            buffer: String::new(),
            raw: Vec::new(),
        }
    }

    /// The next frame, or None when the response ended.
    pub async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let text: String = self.buffer.drain(..end + 2).collect();
                self.raw.push(text.clone());
                return Some(parse(&text));
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                Some(Err(err)) => panic!("stream broke: {err}"),
                None => {
                    assert!(
                        self.buffer.trim().is_empty(),
                        "trailing bytes: {:?}",
                        self.buffer
                    );
                    return None;
                }
            }
        }
    }

    /// The next frame that is not a keep-alive comment, failing after `limit`.
    pub async fn next_within(&mut self, limit: Duration) -> Option<Frame> {
        tokio::time::timeout(limit, async {
            loop {
                match self.next().await {
                    Some(Frame::Comment(_)) => continue,
                    other => return other,
                }
            }
        })
        .await
        .expect("no frame in time")
    }

    /// Every remaining frame (comments included).
    pub async fn rest(&mut self) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(frame) = tokio::time::timeout(Duration::from_secs(30), self.next())
            .await
            .expect("stream stalled")
        {
            out.push(frame);
        }
        out
    }
}

fn parse(text: &str) -> Frame {
    let body = text.trim_end_matches('\n');
    if let Some(comment) = body.strip_prefix(':') {
        return Frame::Comment(comment.trim().to_owned());
    }
    if let Some(rest) = body.strip_prefix("event: ") {
        let (name, data) = rest.split_once('\n').expect("event frame has data");
        return Frame::Event {
            name: name.to_owned(),
            data: data.strip_prefix("data: ").unwrap_or(data).to_owned(),
        };
    }
    let data = body
        .strip_prefix("data: ")
        .unwrap_or_else(|| panic!("unexpected frame {text:?}"));
    assert!(!data.contains('\n'), "one line per data frame: {text:?}");
    if data == "[DONE]" {
        return Frame::Done;
    }
    Frame::Data(serde_json::from_str(data).unwrap_or_else(|e| panic!("bad json {data:?}: {e}")))
}

/// The data frames only (no comments, no DONE).
pub fn data(frames: &[Frame]) -> Vec<Value> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Data(v) => Some(v.clone()),
            _ => None,
        })
        .collect()
}

pub fn types(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .filter_map(|f| f.message_type().map(str::to_owned))
        .collect()
}

/// The message types with consecutive repeats collapsed (token deltas).
pub fn collapsed_types(frames: &[Frame]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in types(frames) {
        if out.last() != Some(&t) {
            out.push(t);
        }
    }
    out
}
