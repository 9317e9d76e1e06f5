//! One invocation of a runtime function, retried while Lambda throttles it or fails
//! with a server error: exponential backoff with jitter ([`crate::aws::backoff`]), the
//! invocation slot given back while waiting, until the call's retry budget is spent.

use std::time::Duration;

use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::invoke::{InvokeError, InvokeOutput};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{BACKOFF_BASE, BACKOFF_CAP, Mode};
use crate::aws::deploy;

/// One invocation to make, with its limits.
pub(super) struct Attempt<'a> {
    pub(super) client: &'a aws_sdk_lambda::Client,
    /// The invocation slots (None: the invocation takes none).
    pub(super) permits: Option<&'a Semaphore>,
    pub(super) function: &'a str,
    pub(super) payload: &'a [u8],
    pub(super) mode: Mode,
    pub(super) cancel: &'a CancellationToken,
    /// How long one invocation may take to answer.
    pub(super) answer_within: Duration,
    /// How long throttled or failed invocations are retried.
    pub(super) retry_for: Duration,
}

/// Why an invocation could not be made.
#[derive(Debug)]
pub(super) enum InvokeFailure {
    /// The call was cancelled.
    Cancelled,
    /// The invocation did not answer in time.
    NoAnswer,
    /// Throttling or server errors went on past the retry budget.
    GaveUp { attempts: u32, last: String },
    /// The function does not exist.
    NotFound(String),
    /// The request is larger than Lambda accepts.
    TooLarge(String),
    /// Anything else (permissions, a bad request).
    Fatal(String),
}

/// What to do about a failed invocation.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Retry,
    NotFound,
    TooLarge,
    Fatal,
}

fn classify(e: &SdkError<InvokeError, HttpResponse>) -> Verdict {
    match e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => return Verdict::Retry,
        SdkError::ResponseError(_) => return Verdict::Retry,
        _ => {}
    }
    let status = e.raw_response().map(|r| r.status().as_u16());
    let code = e.code().unwrap_or_default();
    match code {
        "TooManyRequestsException"
        | "EC2ThrottledException"
        | "ResourceNotReadyException"
        | "ResourceConflictException"
        | "ServiceException"
        | "SnapStartNotReadyException" => return Verdict::Retry,
        "ResourceNotFoundException" => return Verdict::NotFound,
        "RequestTooLargeException" => return Verdict::TooLarge,
        _ => {}
    }
    match status {
        Some(429) => Verdict::Retry,
        Some(s) if s >= 500 => Verdict::Retry,
        Some(404) => Verdict::NotFound,
        Some(413) => Verdict::TooLarge,
        _ => Verdict::Fatal,
    }
}

/// Invokes the function, retrying throttling and server errors with backoff. Each try
/// holds an invocation slot only while its request is in flight: a throttled call waits
/// without one, then queues again. `on_send` runs before the first request goes out.
pub(super) async fn invoke(
    attempt: &Attempt<'_>,
    on_send: impl FnOnce(),
) -> Result<InvokeOutput, InvokeFailure> {
    let give_up_at = Instant::now() + attempt.retry_for;
    let mut on_send = Some(on_send);
    let mut tries = 0u32;
    loop {
        let permit = match attempt.permits {
            Some(permits) => Some(tokio::select! {
                p = permits.acquire() => p.map_err(|_| InvokeFailure::Fatal("the backend is shut down".to_owned()))?,
                () = attempt.cancel.cancelled() => return Err(InvokeFailure::Cancelled),
            }),
            None => None,
        };
        if let Some(f) = on_send.take() {
            f();
        }
        tries += 1;
        let kind = match attempt.mode {
            Mode::Sync => InvocationType::RequestResponse,
            Mode::Event => InvocationType::Event,
        };
        let request = attempt
            .client
            .invoke()
            .function_name(attempt.function)
            .invocation_type(kind)
            .payload(Blob::new(attempt.payload.to_vec()))
            .send();
        let outcome = tokio::select! {
            r = request => r,
            () = attempt.cancel.cancelled() => return Err(InvokeFailure::Cancelled),
            () = tokio::time::sleep(attempt.answer_within) => return Err(InvokeFailure::NoAnswer),
        };
        drop(permit);
        let e = match outcome {
            Ok(out) => return Ok(out),
            Err(e) => e,
        };
        let described = deploy::describe_sdk_error(&e);
        match classify(&e) {
            Verdict::Retry => {}
            Verdict::NotFound => return Err(InvokeFailure::NotFound(described)),
            Verdict::TooLarge => return Err(InvokeFailure::TooLarge(described)),
            Verdict::Fatal => return Err(InvokeFailure::Fatal(described)),
        }
        let pause = crate::aws::backoff(tries, BACKOFF_BASE, BACKOFF_CAP);
        if Instant::now() + pause > give_up_at {
            return Err(InvokeFailure::GaveUp {
                attempts: tries,
                last: described,
            });
        }
        tracing::warn!(function = %attempt.function, attempt = tries, error = %described, pause_ms = pause.as_millis() as u64, "invocation throttled or failed; retrying");
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = attempt.cancel.cancelled() => return Err(InvokeFailure::Cancelled),
        }
    }
}
