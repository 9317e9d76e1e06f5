//! The framed protocol between the executor and a Python runtime: a 4-byte big-endian
//! length, then that many bytes of JSON. The same request and response documents are the
//! payload of an AWS Lambda invocation, so local and Lambda run identical runtime code.
//!
//! A local worker answers a chunk of calls in order: a call that fails, prints or asks
//! the host something by its own `{"type": "result", ...}` frame ([`CallResponse`]), and
//! the calls that simply return together, in one
//! `{"type": "results", "calls": [["00003", 1200, <result>], ...]}` frame (call id,
//! duration in nanoseconds, return value; [`Message::Results`]). `lithoflow_worker.py`'s
//! docstring says when such a frame is written. Before the first answer it holds back,
//! the worker says so (`{"type": "buffered", ...}`, [`Message::Buffered`]), so the host
//! knows when a crash may have lost answers of calls that had finished. A chunk sends a plain call as
//! `["00003", 3, [args]]` (with its keyword arguments as a fourth element when it has
//! any), see [`compact_call`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{CallError, CallErrorKind};
use crate::job::OutputStream;

/// Frames larger than this are refused (a runaway or hostile peer cannot make the host
/// allocate without bound).
pub const MAX_FRAME: usize = 512 * 1024 * 1024;

/// The embedded Python runtime's source.
pub const RUNTIME_SOURCE: &str = include_str!("runtime/lithoflow_runtime.py");

/// The local worker's source (`lithoflow_worker.py`): serves the protocol on its pipes
/// and runs calls with the runtime, which it imports from the same folder.
pub const WORKER_SOURCE: &str = include_str!("runtime/lithoflow_worker.py");

/// The local worker's launcher (`lithoflow_start.py`, the script a worker process runs):
/// it imports `lithoflow_worker` (from its cached bytecode) and runs it.
pub const WORKER_START_SOURCE: &str = include_str!("runtime/lithoflow_start.py");

/// The source of the `lithoflow` module a function imports (`from lithoflow import
/// Variable`): a local worker gets it after `--worker`, a Lambda function as
/// `lithoflow.py` beside the runtime.
pub const LITHOFLOW_MODULE_SOURCE: &str = include_str!("runtime/lithoflow.py");

/// A request to the runtime.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Run one call.
    Call(Box<CallRequest>),
    /// Describe a function's parameters.
    Inspect {
        /// Module to import.
        module: String,
        /// Function in it.
        function: String,
        /// Folders put first on `sys.path`.
        sys_path: Vec<String>,
    },
}

/// One function call, as the runtime receives it.
#[derive(Debug, Clone, Serialize)]
pub struct CallRequest {
    /// The call's id inside its job (zero-padded index).
    pub call_id: String,
    /// The call's index, passed to a function's `id` parameter.
    pub call_index: usize,
    /// Module to import.
    pub module: String,
    /// Function in it.
    pub function: String,
    /// Positional arguments.
    pub args: Vec<Value>,
    /// Keyword arguments.
    pub kwargs: Map<String, Value>,
    /// Environment variables set during the call.
    pub extra_env: Map<String, Value>,
    /// Folders put first on `sys.path`.
    pub sys_path: Vec<String>,
    /// Modules the function may not import.
    pub exclude_modules: Vec<String>,
    /// Memory limit, MB.
    pub memory_mb: Option<u64>,
    /// The object part for a function with an `obj` parameter.
    pub obj: Option<ObjectPart>,
    /// The Airflow context for a `python_callable` (Airflow's binding instead of Lithops').
    #[serde(skip_serializing_if = "Option::is_none")]
    pub airflow_context: Option<Map<String, Value>>,
    /// The function takes `airflow_context` as its one positional argument (an Airflow
    /// callback) instead of the context values it names.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub context_positional: bool,
}

/// A job's settings for a local worker, sent once per worker before the job's first
/// chunk of calls (`{"type": "job", ...}`); the calls then carry only a [`CallPart`].
#[derive(Debug, Serialize)]
pub struct JobHeaderFrame<'a> {
    /// Always `job`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The header's id, which chunks of calls name.
    pub job: u64,
    /// Module to import.
    pub module: &'a str,
    /// Function in it.
    pub function: &'a str,
    /// Folders put first on `sys.path`.
    pub sys_path: &'a [String],
    /// Environment variables set during each call.
    pub extra_env: &'a Map<String, Value>,
    /// Modules the function may not import.
    pub exclude_modules: &'a [String],
    /// Memory limit, MB.
    pub memory_mb: Option<u64>,
}

/// One call of a job whose settings a local worker has from the job's header: what a
/// `{"type": "calls", "job": id, "calls": [...]}` chunk lists.
#[derive(Debug, Serialize)]
pub struct CallPart<'a> {
    /// The call's id inside its job (zero-padded index).
    pub call_id: &'a str,
    /// The call's index, passed to a function's `id` parameter.
    pub call_index: usize,
    /// Positional arguments.
    pub args: &'a [Value],
    /// Keyword arguments.
    pub kwargs: &'a Map<String, Value>,
    /// The object part for a function with an `obj` parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub obj: Option<&'a ObjectPart>,
    /// The Airflow context for a `python_callable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub airflow_context: Option<&'a Map<String, Value>>,
    /// The function takes `airflow_context` as its one positional argument.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub context_positional: bool,
}

/// A plain call (no object part, no Airflow context) of a chunk, as a local worker
/// reads it fastest: `["00003", 3, [args]]`, or `["00003", 3, [args], {kwargs}]` when
/// it has keyword arguments. Its id is its index, zero-padded to five digits.
pub fn compact_call(
    call_index: usize,
    args: &[Value],
    kwargs: &Map<String, Value>,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = compact_head(call_index);
    serde_json::to_writer(&mut out, args)?;
    if !kwargs.is_empty() {
        out.push(b',');
        serde_json::to_writer(&mut out, kwargs)?;
    }
    out.push(b']');
    Ok(out)
}

/// [`compact_call`] of a call whose positional arguments are `first` and then `rest`,
/// and no keyword arguments, written without gathering them in a list first.
pub fn compact_positional(
    call_index: usize,
    first: &Value,
    rest: &[Value],
) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = compact_head(call_index);
    out.push(b'[');
    serde_json::to_writer(&mut out, first)?;
    for arg in rest {
        out.push(b',');
        serde_json::to_writer(&mut out, arg)?;
    }
    out.extend_from_slice(b"]]");
    Ok(out)
}

/// A compact call's start: `["00003",3,`.
fn compact_head(call_index: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    // Its id and index through `itoa`: `write!` through the formatter cost more than
    // the rest of the call's encoding.
    let mut digits = itoa::Buffer::new();
    let index = digits.format(call_index).as_bytes();
    out.extend_from_slice(b"[\"");
    out.extend(std::iter::repeat_n(
        b'0',
        5usize.saturating_sub(index.len()),
    ));
    out.extend_from_slice(index);
    out.extend_from_slice(b"\",");
    out.extend_from_slice(index);
    out.push(b',');
    out
}

/// One part of one object, for object processing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectPart {
    /// The bucket, for S3 objects.
    pub bucket: Option<String>,
    /// The object's key (for a local file, its path as given).
    pub key: String,
    /// The local file to read, for localhost storage.
    pub path: Option<String>,
    /// 1-based part number, as in Lithops.
    pub part: usize,
    /// How many parts the object was split into.
    pub total_parts: usize,
    /// The part's bytes, `[start, end)`.
    pub range: (u64, u64),
    /// The part's bytes themselves, base64: how an S3 part reaches a local worker (which
    /// may lack boto3). Absent when the runtime reads `path` or the S3 object itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_b64: Option<String>,
}

/// Standard base64 (RFC 4648, with padding), how raw bytes travel inside JSON; the
/// runtime decodes it with Python's `base64.b64decode`.
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// What the runtime answered for a call.
#[derive(Debug, Clone, Deserialize)]
pub struct CallResponse {
    /// The call's id, as in the request.
    #[serde(default)]
    pub call_id: String,
    /// Whether the function returned.
    pub ok: bool,
    /// Its return value.
    #[serde(default)]
    pub result: Value,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<RuntimeError>,
    /// What it printed to stdout.
    #[serde(default)]
    pub stdout: String,
    /// What it printed to stderr.
    #[serde(default)]
    pub stderr: String,
    /// How long the function ran, seconds.
    #[serde(default)]
    pub duration_s: f64,
    /// Whether the worker exits after this call (its state may be damaged).
    #[serde(default)]
    pub restart: bool,
}

/// A call answered in a `results` frame: it returned `result` after `duration_s`,
/// printing nothing. A fifth of a [`CallResponse`]'s size: a map's answers are moved
/// several times on their way to its records.
#[derive(Debug, Clone, PartialEq)]
pub struct Returned {
    /// How long the function ran, seconds.
    pub duration_s: f64,
    /// Its return value.
    pub result: Value,
}

impl Returned {
    fn new(duration_ns: u64, result: Value) -> Returned {
        Returned {
            duration_s: duration_ns as f64 / 1e9,
            result,
        }
    }

    /// The same answer as a whole response of call `call_id`.
    pub fn into_response(self, call_id: String) -> CallResponse {
        CallResponse {
            call_id,
            ok: true,
            result: self.result,
            error: None,
            stdout: String::new(),
            stderr: String::new(),
            duration_s: self.duration_s,
            restart: false,
        }
    }
}

/// A failure as the runtime reports it.
#[derive(Debug, Clone, Deserialize)]
pub struct RuntimeError {
    /// The error kind's name.
    pub kind: String,
    /// Exception type.
    #[serde(rename = "type")]
    pub exc_type: String,
    /// Message.
    pub message: String,
    /// Remote traceback.
    #[serde(default)]
    pub traceback: String,
}

impl RuntimeError {
    /// As a [`CallError`] of call `call_index`.
    pub fn into_call_error(self, call_index: usize) -> CallError {
        let kind = match self.kind.as_str() {
            "exception" => CallErrorKind::Exception,
            "module_not_found" => CallErrorKind::ModuleNotFound,
            "import_error" => CallErrorKind::ImportError,
            "function_not_found" => CallErrorKind::FunctionNotFound,
            "binding" => CallErrorKind::Binding,
            "not_json" => CallErrorKind::NotJson,
            "memory" => CallErrorKind::Memory,
            "input" => CallErrorKind::Input,
            _ => CallErrorKind::Protocol,
        };
        CallError {
            call_index,
            kind,
            exc_type: self.exc_type,
            message: self.message,
            traceback: self.traceback,
        }
    }
}

/// A function's parameters, as the runtime describes them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Signature {
    /// Parameters in order.
    #[serde(default)]
    pub params: Vec<Param>,
    /// `name(args)` for messages.
    #[serde(default)]
    pub signature: String,
}

/// One parameter.
#[derive(Debug, Clone, Deserialize)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// Python's `Parameter.kind` name (`POSITIONAL_OR_KEYWORD`, `VAR_KEYWORD`, ...).
    pub kind: String,
    /// Whether it has a default.
    #[serde(default)]
    pub has_default: bool,
}

impl Signature {
    /// Whether the function has a parameter with this name.
    pub fn has(&self, name: &str) -> bool {
        self.params.iter().any(|p| p.name == name)
    }
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The stream ended (the peer exited).
    #[error("the stream ended")]
    Eof,
    /// An IO error.
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    /// The length prefix is over [`MAX_FRAME`].
    #[error("frame of {0} bytes is larger than the limit of {MAX_FRAME}")]
    TooLarge(usize),
    /// The body is not the expected JSON.
    #[error("invalid frame body: {0}")]
    Json(#[from] serde_json::Error),
}

/// Writes one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, body: &[u8]) -> std::io::Result<()> {
    let len =
        u32::try_from(body.len()).map_err(|_| std::io::Error::other("frame larger than 4 GiB"))?;
    let mut buf = Vec::with_capacity(body.len() + 4);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(body);
    w.write_all(&buf).await?;
    w.flush().await
}

/// Reads one frame's body.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Vec<u8>, FrameError> {
    let mut head = [0u8; 4];
    match r.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Eof),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(head) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    let mut body = vec![0u8; len];
    match r.read_exact(&mut body).await {
        Ok(_) => Ok(body),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(FrameError::Eof),
        Err(e) => Err(e.into()),
    }
}

/// Reads frames from a stream in a way that is cancel-safe: bytes already read stay in
/// its buffer when a `select!` drops [`FrameReader::next`] half-way, so the host can stop
/// waiting for a call (its timeout) and still read what the worker sent before it died.
pub(crate) struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Where the unread bytes start in `buf`.
    start: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Frames read from `inner`.
    pub(crate) fn new(inner: R) -> FrameReader<R> {
        FrameReader {
            inner,
            buf: Vec::with_capacity(64 * 1024),
            start: 0,
        }
    }

    /// The next frame's body.
    pub(crate) async fn next(&mut self) -> Result<Vec<u8>, FrameError> {
        loop {
            let have = &self.buf[self.start..];
            let mut want = 4;
            if let Some(head) = have.first_chunk::<4>() {
                let len = u32::from_be_bytes(*head) as usize;
                if len > MAX_FRAME {
                    return Err(FrameError::TooLarge(len));
                }
                want = 4 + len;
                if have.len() >= want {
                    let body = have[4..want].to_vec();
                    self.start += want;
                    if self.start == self.buf.len() {
                        self.buf.clear();
                        self.start = 0;
                    }
                    return Ok(body);
                }
            }
            // Make room: drop what was consumed, then grow to hold the whole frame.
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            self.buf.reserve((want - self.buf.len()).max(64 * 1024));
            match self.inner.read_buf(&mut self.buf).await {
                Ok(0) => return Err(FrameError::Eof),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Err(FrameError::Eof);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// A `results` frame: the answers of calls that returned, in order, each the call's
/// index, its duration in nanoseconds and its result.
#[derive(Deserialize)]
struct ResultsFrame {
    calls: Vec<(u64, u64, Value)>,
}

/// Decodes a frame body as a runtime message; the `type` field says which.
pub fn decode(body: &[u8]) -> Result<Message, FrameError> {
    // The runtime writes `type` first: the answers of calls, by far the most frequent
    // frames, are read straight into their structs, without a `Value` of the whole frame.
    if body.starts_with(br#"{"type":"results","#) {
        if let Some(message) = integer_results(body) {
            return Ok(message);
        }
        let frame: ResultsFrame = serde_json::from_slice(body)?;
        return Ok(results(frame));
    }
    // Written before each results frame: `{"type":"buffered","call_id":"00003"}`.
    if let Some(id) = body
        .strip_prefix(br#"{"type":"buffered","call_id":""#)
        .and_then(|rest| rest.strip_suffix(br#""}"#))
        && !id.is_empty()
        && id.iter().all(u8::is_ascii_digit)
    {
        return Ok(Message::Buffered);
    }
    if body.starts_with(br#"{"type":"result","#) {
        return Ok(Message::Result(Box::new(serde_json::from_slice(body)?)));
    }
    let v: Value = serde_json::from_slice(body)?;
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Ok(match kind.as_str() {
        "hello" => Message::Hello {
            executable: v
                .get("executable")
                .and_then(Value::as_str)
                .map(str::to_owned),
        },
        "result" => Message::Result(Box::new(serde_json::from_value(v)?)),
        "buffered" => Message::Buffered,
        "results" => results(serde_json::from_slice(body)?),
        "output" => {
            let out: OutputFrame = serde_json::from_value(v)?;
            Message::Output(out.parts)
        }
        "request" => {
            let Value::Object(mut body) = v else {
                return Ok(Message::Other(kind));
            };
            let id = body.get("id").and_then(Value::as_u64);
            let op = body.get("op").and_then(Value::as_str).map(str::to_owned);
            let (Some(id), Some(op)) = (id, op) else {
                return Err(FrameError::Json(serde::de::Error::custom(
                    "a request needs a numeric `id` and a string `op`",
                )));
            };
            for k in ["type", "id", "op"] {
                body.remove(k);
            }
            Message::Request {
                id,
                op,
                body: Value::Object(body),
            }
        }
        "inspected" => {
            if v.get("ok").and_then(Value::as_bool) == Some(true) {
                Message::Inspected(Ok(serde_json::from_value(v)?))
            } else {
                let err = v.get("error").cloned().unwrap_or(Value::Null);
                Message::Inspected(Err(serde_json::from_value(err)?))
            }
        }
        _ => Message::Other(kind),
    })
}

/// A `results` frame exactly as the runtime writes it whose results are all integers
/// (a map of trivial calls), read without serde: the general path took ~1,300
/// instructions per answer. None for anything else, which the general path reads.
fn integer_results(body: &[u8]) -> Option<Message> {
    const HEAD: &[u8] = br#"{"type":"results","calls":["#;
    let b = body.strip_prefix(HEAD)?;
    let mut answers = Vec::with_capacity(b.len() / 16);
    let mut last_index;
    let mut at = 0;
    loop {
        // [3,1200,4]
        if *b.get(at)? != b'[' {
            return None;
        }
        let (index, end) = json_digits(b, at + 1)?;
        last_index = index;
        at = end;
        if *b.get(at)? != b',' {
            return None;
        }
        let (duration_ns, end) = json_digits(b, at + 1)?;
        at = end;
        if *b.get(at)? != b',' {
            return None;
        }
        let negative = b.get(at + 1) == Some(&b'-');
        let (n, end) = json_digits(b, at + 1 + usize::from(negative))?;
        at = end;
        let result = if negative {
            // `-0` and the integers below i64 are serde's (a float).
            Value::from(-i64::try_from(n).ok().filter(|&n| n > 0)?)
        } else {
            Value::from(n)
        };
        if *b.get(at)? != b']' {
            return None;
        }
        at += 1;
        answers.push(Returned::new(duration_ns, result));
        match b.get(at..)? {
            [b',', ..] => at += 1,
            b"]}" => break,
            _ => return None,
        }
    }
    Some(Message::Results {
        answers,
        last: call_id(last_index),
    })
}

/// A JSON integer of digits only at `at` (no sign, no leading zero), and the offset
/// after it; None if there is none or it does not fit in a u64.
fn json_digits(b: &[u8], at: usize) -> Option<(u64, usize)> {
    let len = b.get(at..)?.iter().position(|c| !c.is_ascii_digit())?;
    if len == 0 || (len > 1 && b[at] == b'0') {
        return None;
    }
    let mut n: u64 = 0;
    for &c in &b[at..at + len] {
        n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some((n, at + len))
}

/// A `results` frame's message.
fn results(frame: ResultsFrame) -> Message {
    let last = frame.calls.last().map(|c| call_id(c.0)).unwrap_or_default();
    let answers = frame
        .calls
        .into_iter()
        .map(|(_, duration_ns, result)| Returned::new(duration_ns, result))
        .collect();
    Message::Results { answers, last }
}

/// The id of a phase's call `index` (`00003`): its index, zero-padded to five digits. A
/// local worker makes the same from the index (`_call_id` in `lithoflow_worker.py`): the
/// calls of a range chunk and the answers of a `results` frame carry only indices.
pub fn call_id(index: impl std::fmt::Display) -> String {
    format!("{index:05}")
}

/// The frame body answering request `id`: `{"type": "answer", "id": .., "ok": true,
/// "value": ..}`, or `"ok": false` with the `error` message.
pub fn answer(id: u64, result: Result<Value, String>) -> Vec<u8> {
    let doc = match result {
        Ok(value) => serde_json::json!({"type": "answer", "id": id, "ok": true, "value": value}),
        Err(error) => serde_json::json!({"type": "answer", "id": id, "ok": false, "error": error}),
    };
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// What a worker printed during the call it is running: `{"type": "output",
/// "parts": [["stdout", "text"], ...]}`, sent (coalesced) as the call prints, always
/// before the call's result; a call that prints nothing sends none.
#[derive(Deserialize)]
struct OutputFrame {
    parts: Vec<(OutputStream, String)>,
}

/// A decoded runtime message.
#[derive(Debug)]
pub enum Message {
    /// Output of the running call, in the order it was printed.
    Output(Vec<(OutputStream, String)>),
    /// The worker is ready; `executable` is the interpreter's real path.
    Hello {
        /// `sys.executable`.
        executable: Option<String>,
    },
    /// A call's outcome.
    Result(Box<CallResponse>),
    /// The outcomes of consecutive calls of a chunk that returned (never empty when the
    /// worker is sound), in call order, and the id of the last (the host claims the
    /// frame's output on the worker's stderr by it).
    Results {
        /// The answers.
        answers: Vec<Returned>,
        /// The last call's id.
        last: String,
    },
    /// The worker finished a call and keeps its answer for a later `results` frame
    /// (`{"type": "buffered", "call_id": ..}`, sent when its buffer of answers stops
    /// being empty): until that frame, a crash may lose answers of finished calls.
    Buffered,
    /// A function's signature, or why it cannot be loaded.
    Inspected(Result<Signature, RuntimeError>),
    /// The running call asks the host for something (a variable, an XCom value) and
    /// waits for the [`answer`] with the same `id`.
    Request {
        /// Names the answer.
        id: u64,
        /// What is asked (`xcom_push`, `variable_get`, ...).
        op: String,
        /// The request's other fields.
        body: Value,
    },
    /// Anything else (a protocol error on the host's side).
    Other(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_truncation_is_eof() {
        let mut buf = Vec::new();
        write_frame(&mut buf, br#"{"type":"hello"}"#)
            .await
            .expect("write");
        let mut r = &buf[..];
        let body = read_frame(&mut r).await.expect("read");
        assert!(matches!(decode(&body), Ok(Message::Hello { .. })));
        let mut short = &buf[..buf.len() - 1];
        assert!(matches!(read_frame(&mut short).await, Err(FrameError::Eof)));
        let mut huge: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame(&mut huge).await,
            Err(FrameError::TooLarge(_))
        ));
    }

    #[tokio::test]
    async fn the_frame_reader_reads_frames_split_and_joined_anyhow() {
        let mut bytes = Vec::new();
        for body in [&b"{\"type\":\"hello\"}"[..], b"", &[b'x'; 100_000]] {
            write_frame(&mut bytes, body).await.expect("write");
        }
        // One byte at a time, as a slow pipe may deliver them.
        let (mut tx, rx) = tokio::io::duplex(1);
        let writer = tokio::spawn(async move {
            tx.write_all(&bytes).await.expect("write");
        });
        let mut r = FrameReader::new(rx);
        assert_eq!(r.next().await.expect("first"), b"{\"type\":\"hello\"}");
        assert_eq!(r.next().await.expect("second"), b"");
        assert_eq!(r.next().await.expect("third").len(), 100_000);
        writer.await.expect("writer");
        assert!(matches!(r.next().await, Err(FrameError::Eof)));
        let mut huge = FrameReader::new(&[0xffu8, 0xff, 0xff, 0xff][..]);
        assert!(matches!(huge.next().await, Err(FrameError::TooLarge(_))));
    }

    #[test]
    fn base64_matches_rfc_4648() {
        for (raw, encoded) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
            (b"\xff\xfe\x00\n", "//4ACg=="),
        ] {
            assert_eq!(base64(raw), encoded);
        }
    }

    #[test]
    fn a_request_decodes_without_its_envelope_and_an_answer_names_it() {
        match decode(br#"{"type":"request","id":7,"op":"xcom_push","key":"k","value":[1]}"#) {
            Ok(Message::Request { id, op, body }) => {
                assert_eq!((id, op.as_str()), (7, "xcom_push"));
                assert_eq!(body, serde_json::json!({"key": "k", "value": [1]}));
            }
            other => panic!("{other:?}"),
        }
        for bad in [
            &br#"{"type":"request","op":"x"}"#[..],
            br#"{"type":"request","id":1}"#,
            br#"{"type":"request","id":"1","op":"x"}"#,
        ] {
            assert!(decode(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let ok: Value = serde_json::from_slice(&answer(3, Ok(Value::Null))).expect("json");
        assert_eq!(
            ok,
            serde_json::json!({"type": "answer", "id": 3, "ok": true, "value": null})
        );
        let err: Value = serde_json::from_slice(&answer(4, Err("no".into()))).expect("json");
        assert_eq!(
            err,
            serde_json::json!({"type": "answer", "id": 4, "ok": false, "error": "no"})
        );
    }

    #[test]
    fn a_results_frame_decodes_into_each_calls_answer_in_order() {
        let body =
            br#"{"type":"results","calls":[[3,1500,{"a":[1]}],[4,0,null],[5,2000000000,"x"]]}"#;
        // The frame names its last call: the frame's stderr output is its.
        let Ok(Message::Results { answers, last }) = decode(body) else {
            panic!("{:?}", decode(body));
        };
        let got: Vec<(f64, &Value)> = answers.iter().map(|r| (r.duration_s, &r.result)).collect();
        assert_eq!(
            got,
            [
                (1.5e-6, &serde_json::json!({"a": [1]})),
                (0.0, &Value::Null),
                (2.0, &serde_json::json!("x")),
            ]
        );
        assert_eq!(last, "00005");
        let whole = answers[2].clone().into_response(last);
        assert!(whole.ok && whole.error.is_none() && !whole.restart);
        assert!(whole.stdout.is_empty() && whole.stderr.is_empty());
        assert_eq!((whole.call_id.as_str(), whole.duration_s), ("00005", 2.0));
        // The same frame with its fields in another order takes the general path.
        let spaced = br#"{"calls":[[1,5,2]],"type":"results"}"#;
        assert!(matches!(
            decode(spaced),
            Ok(Message::Results { answers, last }) if answers.len() == 1 && last == "00001"
        ));
        for bad in [
            &br#"{"type":"results","calls":[[1,-1,2]]}"#[..],
            br#"{"type":"results","calls":[[1,1]]}"#,
            br#"{"type":"results"}"#,
        ] {
            assert!(decode(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn integer_results_read_by_hand_as_serde_reads_them() {
        let general = |body: &[u8]| {
            let frame: ResultsFrame = serde_json::from_slice(body).map_err(|e| e.to_string())?;
            Ok::<_, String>(results(frame))
        };
        let same = |a: &Message, b: &Message| match (a, b) {
            (
                Message::Results { answers, last },
                Message::Results {
                    answers: b_answers,
                    last: b_last,
                },
            ) => {
                last == b_last
                    && answers.len() == b_answers.len()
                    && answers.iter().zip(b_answers).all(|(a, b)| {
                        a.result == b.result && a.duration_s.to_bits() == b.duration_s.to_bits()
                    })
            }
            _ => false,
        };
        for body in [
            &br#"{"type":"results","calls":[[3,1500,4]]}"#[..],
            br#"{"type":"results","calls":[[3,0,0],[4,7,-12],[100000,18446744073709551615,18446744073709551615]]}"#,
            br#"{"type":"results","calls":[[1,1,-9223372036854775807]]}"#,
        ] {
            let Some(fast) = integer_results(body) else {
                panic!("not read by hand: {}", String::from_utf8_lossy(body));
            };
            let Ok(slow) = general(body) else {
                panic!("serde refused {}", String::from_utf8_lossy(body));
            };
            assert!(same(&fast, &slow), "{}", String::from_utf8_lossy(body));
        }
        // Anything else is left to the general path, which reads it or refuses it.
        for body in [
            &br#"{"type":"results","calls":[]}"#[..],
            br#"{"type":"results","calls":[[3,1500,4.5]]}"#,
            br#"{"type":"results","calls":[[3,1500,-0]]}"#,
            br#"{"type":"results","calls":[[3,1500,01]]}"#,
            br#"{"type":"results","calls":[[3,-1,4]]}"#,
            br#"{"type":"results","calls":[[3,1500,18446744073709551616]]}"#,
            br#"{"type":"results","calls":[[3,1500,-9223372036854775808]]}"#,
            br#"{"type":"results","calls":[["00003",1500,4]]}"#,
            br#"{"type":"results","calls":[[03,1500,4]]}"#,
            br#"{"type":"results","calls":[[3,1500,4],]}"#,
            br#"{"type":"results","calls":[[3,1500,4]]} "#,
            br#"{"type":"results","calls":[[3,1500,4] ]}"#,
            br#"{"type":"results","calls":[[3,1500,4,5]]}"#,
            br#"{"type":"results","calls":[[3,1500,4]"#,
        ] {
            assert!(
                integer_results(body).is_none(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let Ok(Message::Results { answers, last }) =
            decode(br#"{"type":"results","calls":[[3,1500,4],[4,1,5]]}"#)
        else {
            panic!("not decoded");
        };
        let results: Vec<&Value> = answers.iter().map(|r| &r.result).collect();
        assert_eq!(results, [&Value::from(4), &Value::from(5)]);
        assert_eq!(last, "00004");
        // A `buffered` frame as the runtime writes it, read without serde, and others.
        for body in [
            &br#"{"type":"buffered","call_id":"00003"}"#[..],
            br#"{"type":"buffered","call_id":"x"}"#,
            br#"{"type": "buffered"}"#,
        ] {
            assert!(matches!(decode(body), Ok(Message::Buffered)));
        }
    }

    #[test]
    fn a_plain_call_is_sent_as_a_list_with_its_keywords_only_when_it_has_any() {
        let args = [serde_json::json!(1), serde_json::json!("a")];
        let none = Map::new();
        let call = compact_call(7, &args, &none).expect("encodes");
        assert_eq!(call, br#"["00007",7,[1,"a"]]"#);
        let call = compact_call(123_456, &[], &none).expect("encodes");
        assert_eq!(call, br#"["123456",123456,[]]"#);
        let mut kwargs = Map::new();
        kwargs.insert("y".to_owned(), serde_json::json!(2));
        let call = compact_call(8, &args, &kwargs).expect("encodes");
        assert_eq!(call, br#"["00008",8,[1,"a"],{"y":2}]"#);
        for (index, id) in [(0, "00000"), (99_999, "99999"), (100_000, "100000")] {
            let call = compact_call(index, &[], &none).expect("encodes");
            assert_eq!(call, format!(r#"["{id}",{index},[]]"#).as_bytes());
        }
        // Positional arguments written one by one are the same bytes.
        for (first, rest) in [
            (serde_json::json!(1), &args[..0]),
            (serde_json::json!({"k": [1, "x"]}), &args[..]),
        ] {
            let mut all = vec![first.clone()];
            all.extend(rest.iter().cloned());
            assert_eq!(
                compact_positional(42, &first, rest).expect("encodes"),
                compact_call(42, &all, &none).expect("encodes")
            );
        }
    }

    #[test]
    fn garbage_bodies_are_errors_not_panics() {
        for body in [
            &b""[..],
            b"[]",
            b"{\"type\":\"result\"}",
            b"{\"type\":\"result\",\"ok\":\"yes\"}",
            b"\xff",
        ] {
            let _ = decode(body);
        }
        assert!(matches!(
            decode(b"{\"type\":\"result\",\"ok\":true,\"result\":1}"),
            Ok(Message::Result(_))
        ));
        for body in [
            &b"{\"type\":\"output\"}"[..],
            b"{\"type\":\"output\",\"parts\":[[\"stdin\",\"x\"]]}",
            b"{\"type\":\"output\",\"parts\":[[\"stdout\"]]}",
        ] {
            assert!(decode(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
        match decode(b"{\"type\":\"output\",\"parts\":[[\"stdout\",\"a\\n\"],[\"stderr\",\"b\"]]}")
        {
            Ok(Message::Output(parts)) => assert_eq!(
                parts,
                [
                    (OutputStream::Stdout, "a\n".to_owned()),
                    (OutputStream::Stderr, "b".to_owned())
                ]
            ),
            other => panic!("{other:?}"),
        }
    }
}
