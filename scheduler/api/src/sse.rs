//! The event stream as a client reads it: server-sent events parsed as the WHATWG
//! HTML standard's "Server-sent events" section says (§9.2.6, "Interpreting an event
//! stream"), over the body of `GET /events`.
//!
//! One parser, used by every client: lines end with CRLF, LF or CR; a line starting
//! with `:` is a comment (the server's keep-alives); `event:` names the event, `data:`
//! lines are joined with `\n`, `id:` sets the last event id, other fields (`retry:`)
//! are ignored; a blank line dispatches the event, unless it has no data. A block the
//! stream ends in the middle of is dropped.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use http_body_util::BodyExt as _;
use hyper::body::{Body, Bytes};

use crate::ApiEvent;
use crate::client::{ClientError, error_chain};

/// The wait before reconnect attempt `n` (1-based) to a scheduler whose event stream
/// ended or could not open: 250 ms, doubling up to 2 s. Short, because the usual cause
/// is a scheduler restarting on the same machine; capped low, because a person is
/// watching.
pub fn reconnect_delay(attempt: u32) -> Duration {
    Duration::from_millis(250u64 << attempt.saturating_sub(1).min(3))
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseMessage {
    /// Its `event:` name (`dag_run`, `task_instance`, `lagged`, ...; `message` when it
    /// has none).
    pub event: String,
    /// Its `data:` lines, joined with `\n` (JSON for the API's events).
    pub data: String,
    /// The last `id:` the stream set (empty when none).
    pub id: String,
}

impl SseMessage {
    /// The data as JSON (null if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap_or(serde_json::Value::Null)
    }
}

/// The parser's state between chunks of the stream.
#[derive(Debug, Default)]
struct Parser {
    /// The line read so far (no end of line yet).
    line: Vec<u8>,
    /// The last chunk ended with CR: an LF first in the next one ends nothing.
    after_cr: bool,
    /// A line has been read, so a byte order mark can no longer come.
    started: bool,
    /// The event name buffer.
    event: String,
    /// The data buffer (each line with its `\n`).
    data: String,
    /// The last event id buffer.
    last_id: String,
    /// Dispatched events not yet taken.
    ready: VecDeque<SseMessage>,
}

impl Parser {
    /// Reads a chunk of the stream; complete events queue for [`Parser::take`].
    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if std::mem::take(&mut self.after_cr)
                && let Some(rest) = bytes.strip_prefix(b"\n")
            {
                bytes = rest;
                continue;
            }
            let Some(end) = bytes.iter().position(|b| matches!(b, b'\n' | b'\r')) else {
                self.line.extend_from_slice(bytes);
                return;
            };
            let (head, tail) = bytes.split_at(end);
            self.line.extend_from_slice(head);
            self.after_cr = tail.first() == Some(&b'\r');
            bytes = tail.get(1..).unwrap_or_default();
            let line = std::mem::take(&mut self.line);
            self.read_line(&line);
            // Keep the allocation for the next line.
            self.line = line;
            self.line.clear();
        }
    }

    /// The next complete event, if one has arrived.
    fn take(&mut self) -> Option<SseMessage> {
        self.ready.pop_front()
    }

    fn read_line(&mut self, line: &[u8]) {
        let line = if std::mem::replace(&mut self.started, true) {
            line
        } else {
            line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line)
        };
        let line = String::from_utf8_lossy(line);
        if line.is_empty() {
            self.dispatch();
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (&*line, ""),
        };
        match field {
            "event" => value.clone_into(&mut self.event),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => value.clone_into(&mut self.last_id),
            _ => {}
        }
    }

    fn dispatch(&mut self) {
        let event = std::mem::take(&mut self.event);
        let mut data = std::mem::take(&mut self.data);
        if data.is_empty() {
            return;
        }
        data.pop();
        self.ready.push_back(SseMessage {
            event: if event.is_empty() {
                "message".to_owned()
            } else {
                event
            },
            data,
            id: self.last_id.clone(),
        });
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The API's event stream (`GET /events`).
///
/// The server sends a comment every [`crate::KEEP_ALIVE`]; a stream that sends nothing,
/// not even that, for [`crate::STREAM_SILENCE`] is taken as lost and reads as
/// [`ClientError::Unreachable`], so a client notices a hung scheduler or a dead
/// connection without a timer of its own.
pub struct EventStream {
    body: Pin<Box<dyn Body<Data = Bytes, Error = BoxError> + Send>>,
    parser: Parser,
    url: String,
    silence: Duration,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl EventStream {
    /// The stream over an answer's body.
    pub(crate) fn new<B>(body: B, url: String) -> EventStream
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        EventStream {
            body: Box::pin(body.map_err(Into::into)),
            parser: Parser::default(),
            url,
            silence: crate::STREAM_SILENCE,
        }
    }

    /// The next event; None when the scheduler ended the stream.
    pub async fn next(&mut self) -> Result<Option<SseMessage>, ClientError> {
        loop {
            if let Some(msg) = self.parser.take() {
                return Ok(Some(msg));
            }
            let frame = match tokio::time::timeout(self.silence, self.body.frame()).await {
                Err(_) => {
                    return Err(ClientError::Unreachable {
                        url: self.url.clone(),
                        message: format!(
                            "nothing from the scheduler for {} s",
                            self.silence.as_secs()
                        ),
                    });
                }
                Ok(None) => return Ok(None),
                Ok(Some(Err(e))) => {
                    return Err(ClientError::Unreachable {
                        url: self.url.clone(),
                        message: error_chain(&*e),
                    });
                }
                Ok(Some(Ok(frame))) => frame,
            };
            if let Ok(data) = frame.into_data() {
                self.parser.feed(&data);
            }
        }
    }

    /// The next event this client can read; events it cannot (a newer scheduler's)
    /// are skipped. None when the scheduler ended the stream.
    pub async fn next_event(&mut self) -> Result<Option<ApiEvent>, ClientError> {
        while let Some(msg) = self.next().await? {
            match serde_json::from_str::<ApiEvent>(&msg.data) {
                Ok(ev) => return Ok(Some(ev)),
                Err(e) => tracing::debug!(event = %msg.event, error = %e, "skipped an event"),
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests;
