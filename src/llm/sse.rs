//! An incremental parser for `text/event-stream` bodies (the Server-Sent Events framing both
//! chat protocols stream with). Bytes go in as they arrive from the network, in chunks cut
//! anywhere (inside a line, a UTF-8 character or a CRLF pair); complete events come out.
//!
//! Follows the WHATWG event-stream rules: lines end with LF, CRLF or CR; a blank line ends
//! an event; `:` starts a comment; `field: value` loses one space after the colon; several
//! `data:` lines join with `\n`; an event without data is not dispatched.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, if any (Anthropic names every event; OpenAI names none).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The `id:` field, if any.
    pub id: Option<String>,
}

/// A line longer than this (no line break within it) is refused, so a broken peer cannot
/// make the parser buffer without bound.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event-stream line longer than {MAX_LINE_BYTES} bytes")]
pub struct LineTooLong;

#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The previous chunk ended in CR: a LF starting the next one belongs to it.
    after_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    id: Option<String>,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the body; returns the events they complete, in order.
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<Vec<SseEvent>, LineTooLong> {
        let mut events = Vec::new();
        if chunk.is_empty() {
            return Ok(events);
        }
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while let Some(pos) = chunk.iter().position(|b| *b == b'\n' || *b == b'\r') {
            self.line.extend_from_slice(&chunk[..pos]);
            let line = std::mem::take(&mut self.line);
            if let Some(event) = self.process_line(&line) {
                events.push(event);
            }
            let ended_by_cr = chunk[pos] == b'\r';
            chunk = &chunk[pos + 1..];
            if ended_by_cr {
                match chunk.first() {
                    Some(b'\n') => chunk = &chunk[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        if self.line.len() + chunk.len() > MAX_LINE_BYTES {
            return Err(LineTooLong);
        }
        self.line.extend_from_slice(chunk);
        Ok(events)
    }

    /// The body ended: a last event not followed by a blank line is still dispatched (servers
    /// that close right after the final `data:` line are common enough).
    pub fn finish(&mut self) -> Option<SseEvent> {
        let mut event = None;
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            event = self.process_line(&line);
        }
        self.after_cr = false;
        event.or_else(|| self.dispatch())
    }

    fn process_line(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            return None;
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.find(':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(' ').unwrap_or(value))
            }
            None => (&line[..], ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_owned()),
            "id" if !value.contains('\0') => self.id = Some(value.to_owned()),
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        if !std::mem::take(&mut self.has_data) {
            self.data.clear();
            return None;
        }
        Some(SseEvent {
            event: event.filter(|e| !e.is_empty()),
            data: std::mem::take(&mut self.data),
            // The last event id persists across events, as in the specification.
            id: self.id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    fn parse_all(body: &[u8]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut events = parser.push(body).unwrap();
        events.extend(parser.finish());
        events
    }

    /// Feeds `body` cut at every possible pair of positions and checks the result never
    /// depends on where the cuts fall.
    fn assert_split_invariant(body: &[u8]) {
        let whole = parse_all(body);
        for i in 0..=body.len() {
            for j in i..=body.len() {
                let mut parser = SseParser::new();
                let mut events = parser.push(&body[..i]).unwrap();
                events.extend(parser.push(&body[i..j]).unwrap());
                events.extend(parser.push(&body[j..]).unwrap());
                events.extend(parser.finish());
                assert_eq!(events, whole, "cut at {i} and {j}");
            }
        }
    }

    #[test]
    fn openai_style_data_lines() {
        let body = b"data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n";
        let events = parse_all(body);
        assert_eq!(data(&events), ["{\"a\":1}", "{\"b\":2}", "[DONE]"]);
        assert!(events.iter().all(|e| e.event.is_none()));
    }

    #[test]
    fn anthropic_style_named_events() {
        let body = b"event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n";
        let events = parse_all(body);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event.as_deref(), Some("message_start"));
        assert_eq!(events[1].event.as_deref(), Some("ping"));
        assert_eq!(events[1].data, "{\"type\": \"ping\"}");
    }

    #[test]
    fn data_split_across_chunks_is_reassembled() {
        let mut parser = SseParser::new();
        assert!(parser.push(b"da").unwrap().is_empty());
        assert!(parser.push(b"ta: {\"content\":\"hel").unwrap().is_empty());
        assert!(parser.push(b"lo\"}\n").unwrap().is_empty());
        let events = parser.push(b"\ndata: x").unwrap();
        assert_eq!(data(&events), ["{\"content\":\"hello\"}"]);
        assert_eq!(data(&parser.push(b"\n\n").unwrap()), ["x"]);
        assert_eq!(parser.finish(), None);
    }

    #[test]
    fn every_chunk_boundary_gives_the_same_events() {
        assert_split_invariant(
            b"event: a\r\ndata: 1\r\n\r\n: keep-alive\r\n\r\ndata: 2\r\ndata: 3\r\n\r\n",
        );
        assert_split_invariant(b"data: x\n\n:c\n\nevent: e\ndata:y\rdata: z\r\rdata: end");
        assert_split_invariant("data: caf\u{e9} \u{1f600}\n\n".as_bytes());
    }

    #[test]
    fn multi_line_data_joins_with_newlines() {
        let events = parse_all(b"data: first\ndata: second\ndata:\ndata:  indented\n\n");
        assert_eq!(data(&events), ["first\nsecond\n\n indented"]);
    }

    #[test]
    fn comments_and_unknown_fields_are_ignored() {
        let events = parse_all(b": OPENROUTER PROCESSING\n\nretry: 100\nfoo: bar\ndata: ok\n\n");
        assert_eq!(data(&events), ["ok"]);
    }

    #[test]
    fn crlf_and_cr_line_endings() {
        let events = parse_all(b"event: x\r\ndata: 1\r\n\r\ndata: 2\r\rdata: 3\n\n");
        assert_eq!(data(&events), ["1", "2", "3"]);
        assert_eq!(events[0].event.as_deref(), Some("x"));
        assert_eq!(events[1].event, None);
    }

    #[test]
    fn crlf_split_between_chunks_is_one_line_break() {
        let mut parser = SseParser::new();
        assert!(parser.push(b"data: 1\r").unwrap().is_empty());
        // The LF completes the CR; only the following CRLF ends the event.
        assert!(parser.push(b"\n").unwrap().is_empty());
        assert_eq!(data(&parser.push(b"\r\n").unwrap()), ["1"]);
    }

    #[test]
    fn events_without_data_are_not_dispatched() {
        let events = parse_all(b"event: lonely\n\ndata: real\n\n");
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0].event, None,
            "the event name does not leak into the next event"
        );
    }

    #[test]
    fn field_without_colon_and_without_space() {
        let events = parse_all(b"data\n\ndata:tight\n\n");
        assert_eq!(data(&events), ["", "tight"]);
    }

    #[test]
    fn unterminated_last_event_is_dispatched_at_the_end() {
        let mut parser = SseParser::new();
        assert!(parser.push(b"data: [DONE]").unwrap().is_empty());
        assert_eq!(parser.finish().map(|e| e.data), Some("[DONE]".to_owned()));
        assert_eq!(parser.finish(), None);
    }

    #[test]
    fn ids_persist() {
        let events = parse_all(b"id: 7\ndata: a\n\ndata: b\n\n");
        assert_eq!(events[0].id.as_deref(), Some("7"));
        assert_eq!(events[1].id.as_deref(), Some("7"));
    }

    #[test]
    fn a_byte_at_a_time() {
        let body = b"event: content_block_delta\ndata: {\"delta\":{\"text\":\"Hi\"}}\n\n";
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        for b in body {
            events.extend(parser.push(std::slice::from_ref(b)).unwrap());
        }
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, "{\"delta\":{\"text\":\"Hi\"}}");
    }

    #[test]
    fn endless_lines_are_refused() {
        let mut parser = SseParser::new();
        let big = vec![b'a'; MAX_LINE_BYTES];
        parser.push(b"data: ").unwrap();
        assert_eq!(parser.push(&big), Err(LineTooLong));
    }
}
