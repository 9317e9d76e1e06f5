//! What the runtime's answers mean: the request's `aws` section spliced in, the payload
//! limits checked before invoking, and an invocation's body decoded into a
//! [`WorkResult`] (the runtime's answer, a result offloaded to S3, or a failure Lambda
//! reported instead: a timeout, memory, a runtime that could not run).

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::{Function, Mode};
use crate::backend::WorkResult;
use crate::error::{CallError, CallErrorKind, humanize};
use crate::protocol::{self, Message};

/// Adds `"key": value` to a JSON object's text, without decoding it.
pub(super) fn splice(body: &[u8], key: &str, value: &Value) -> Vec<u8> {
    let text = match body.iter().rposition(|b| !b.is_ascii_whitespace()) {
        Some(end) if body[end] == b'}' => &body[..end],
        _ => return body.to_vec(),
    };
    let empty = text.iter().skip(1).all(u8::is_ascii_whitespace);
    let mut out = Vec::with_capacity(body.len() + 512);
    out.extend_from_slice(text);
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(format!("{}:", Value::String(key.to_owned())).as_bytes());
    out.extend_from_slice(value.to_string().as_bytes());
    out.push(b'}');
    out
}

/// Refuses a request Lambda would refuse, with a message saying what to do instead.
pub(super) fn check_request_size(size: usize, limit: usize, mode: Mode) -> Result<(), String> {
    if size <= limit {
        return Ok(());
    }
    let (what, hint) = match mode {
        Mode::Sync => (
            "synchronous invocation",
            "pass large inputs through S3 instead (an `obj` parameter with obj = \"s3://bucket/key\", or data the function reads from the bucket)",
        ),
        Mode::Event => (
            "asynchronous (Event) invocation, which async_invoke and remote_invocation use",
            "pass large inputs through S3, or run the task without async_invoke/remote_invocation (a synchronous invocation takes up to 6 MB)",
        ),
    };
    Err(format!(
        "the call's request is {} but AWS Lambda accepts at most {} for a {what}; {hint}",
        bytes(size),
        bytes(limit)
    ))
}

fn bytes(n: usize) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} MB ({n} bytes)", n as f64 / (1024.0 * 1024.0))
    } else {
        format!("{:.1} KB ({n} bytes)", n as f64 / 1024.0)
    }
}

/// What a body is, before the protocol is decoded: a failure Lambda reported, a pointer to
/// a result offloaded to S3, or the runtime's answer itself.
pub(super) enum Probed {
    Done(WorkResult),
    Offloaded(String),
    Inline,
}

pub(super) fn probe_body(index: usize, body: &[u8], function: &Function) -> Probed {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        offloaded: Option<Offloaded>,
        #[serde(default, rename = "errorType")]
        error_type: Option<String>,
    }
    #[derive(Deserialize)]
    struct Offloaded {
        key: String,
    }
    let probe: Option<Probe> = serde_json::from_slice(body).ok();
    match probe {
        // A status object the runtime could not write itself (written by Lambda's own
        // error handling) or an unhandled error document.
        Some(Probe {
            error_type: Some(kind),
            ..
        }) => Probed::Done(runtime_failure(index, &kind, body, function)),
        Some(Probe {
            offloaded: Some(o), ..
        }) => Probed::Offloaded(o.key),
        _ => Probed::Inline,
    }
}

/// The runtime's answer as the call's result.
pub(super) fn decode_answer(index: usize, body: &[u8], timeout: Duration) -> WorkResult {
    match protocol::decode(body) {
        Ok(Message::Result(response)) => {
            if let (false, Some(err)) = (response.ok, &response.error) {
                let kind = match err.kind.as_str() {
                    "timeout" => Some(CallErrorKind::Timeout),
                    "cancelled" => Some(CallErrorKind::Cancelled),
                    "input" => Some(CallErrorKind::Input),
                    _ => None,
                };
                if let Some(kind) = kind {
                    let message = if err.message.is_empty() {
                        format!(
                            "the call exceeded its timeout of {} on AWS Lambda",
                            humanize(timeout)
                        )
                    } else {
                        err.message.clone()
                    };
                    return WorkResult::Failed {
                        error: CallError {
                            call_index: index,
                            kind,
                            exc_type: kind.name().to_owned(),
                            message,
                            traceback: err.traceback.clone(),
                        },
                        worker_stderr: response.stderr.clone(),
                    };
                }
            }
            WorkResult::Call {
                response,
                worker_stderr: String::new(),
            }
        }
        Ok(Message::Inspected(sig)) => WorkResult::Inspected(sig),
        Ok(other) => WorkResult::failed(
            index,
            CallErrorKind::Protocol,
            format!("the Lambda runtime answered an unexpected message: {other:?}"),
        ),
        Err(e) => WorkResult::failed(
            index,
            CallErrorKind::Protocol,
            format!(
                "the Lambda runtime's answer is not the protocol ({e}): {}",
                String::from_utf8_lossy(body)
                    .chars()
                    .take(300)
                    .collect::<String>()
            ),
        ),
    }
}

/// Decodes a Lambda reply body as the backend does, without S3 (an offloaded result is
/// reported by its key): the entry point of the protocol fuzzer in `tests/it/fuzz.rs`.
#[doc(hidden)]
pub fn fuzz_decode_reply(body: &[u8]) -> String {
    let function = Function {
        name: "lithoflow-runtime-fuzz".to_owned(),
        timeout: Duration::from_secs(60),
    };
    match probe_body(0, body, &function) {
        Probed::Done(result) => format!("{result:?}"),
        Probed::Offloaded(key) => format!("offloaded to {key}"),
        Probed::Inline => format!("{:?}", decode_answer(0, body, function.timeout)),
    }
}

/// Text of an error document Lambda returned instead of the runtime's answer.
pub(super) fn function_error_text(body: &[u8]) -> String {
    #[derive(Deserialize, Default)]
    struct Doc {
        #[serde(default, rename = "errorType")]
        error_type: String,
        #[serde(default, rename = "errorMessage")]
        error_message: String,
    }
    let doc: Doc = serde_json::from_slice(body).unwrap_or_default();
    if doc.error_type.is_empty() && doc.error_message.is_empty() {
        String::from_utf8_lossy(body).chars().take(500).collect()
    } else {
        format!("{}: {}", doc.error_type, doc.error_message)
    }
}

/// A failure Lambda reported instead of the runtime's answer: the function timed out,
/// ran out of memory, or the runtime itself could not run. (Exceptions in user code
/// never come this way: the runtime catches them.)
pub(super) fn runtime_failure(
    index: usize,
    kind: &str,
    body: &[u8],
    function: &Function,
) -> WorkResult {
    let text = function_error_text(body);
    let lower = text.to_lowercase();
    let (kind, message) = if lower.contains("timed out") || lower.contains("timedout") {
        (
            CallErrorKind::Timeout,
            format!(
                "the call reached its Lambda function's timeout of {} (the runtime_timeout of `{}`; deploy with a longer `--timeout` for longer calls): {text}",
                humanize(function.timeout),
                function.name
            ),
        )
    } else if lower.contains("out of memory")
        || lower.contains("outofmemory")
        || lower.contains("signal: killed")
        || lower.contains("memory size")
    {
        (
            CallErrorKind::Memory,
            format!(
                "the call ran out of memory in `{}` (set a larger runtime_memory): {text}",
                function.name
            ),
        )
    } else {
        (
            CallErrorKind::WorkerDied,
            format!("the Lambda runtime failed ({kind}) during the call: {text}"),
        )
    };
    let mut result = WorkResult::failed(index, kind, message);
    if let WorkResult::Failed { error, .. } = &mut result {
        #[derive(Deserialize, Default)]
        struct Trace {
            #[serde(default, rename = "stackTrace")]
            stack: Vec<String>,
        }
        let trace: Trace = serde_json::from_slice(body).unwrap_or_default();
        error.traceback = trace.stack.concat();
    }
    result
}
