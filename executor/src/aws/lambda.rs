//! The `aws_lambda` backend: calls as Lambda invocations of the lithoflow runtime.
//!
//! A call's request is the same JSON document the local workers read, with an `aws`
//! section added (where the modules archive is, where the call may write its status and
//! an oversized result, its time limit). Calls go out concurrently, at most
//! `invoke_pool_threads` invocation requests at a time per backend:
//!
//! - **synchronously** (RequestResponse): the answer is the invocation's response, or,
//!   when it would not fit Lambda's 6 MB response limit, a reference to the object the
//!   runtime wrote to S3 instead;
//! - **asynchronously** (Event, for `async_invoke`): the invocation is accepted with a
//!   202, and the call is followed through the `init` and `status.json` objects the
//!   runtime writes, which one poller per job phase lists;
//! - **remotely** (`remote_invocation`): one synchronous invocation of the runtime as an
//!   invoker, which reads the phase's requests from S3 and makes the Event invocations
//!   from inside the cloud; the calls are followed as asynchronous ones.
//!
//! Throttling (429) and server errors are retried with exponential backoff and jitter,
//! giving the invocation slot back while waiting, until the call's retry budget is
//! spent: a call is never dropped silently. A call that never answers (or never starts)
//! fails after its timeout plus a grace period.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::invoke::{InvokeError, InvokeOutput};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{OnceCell, Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::aws::AwsSettings;
use crate::aws::deploy::{self, Runtimes};
use crate::aws::s3::S3Storage;
use crate::backend::{CloudCall, CloudJob, ModulesRef};
use crate::error::{CallError, CallErrorKind, Error};
use crate::local::{WorkItem, WorkResult};
use crate::protocol::{self, Message};

/// Lambda's limit on a synchronous invocation's request and response payloads.
pub const SYNC_PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;
/// Lambda's limit on an asynchronous (Event) invocation's request payload.
pub const EVENT_PAYLOAD_LIMIT: usize = 256 * 1024;
/// Room left under the response limit for what Lambda adds around the runtime's answer.
const RESPONSE_MARGIN: usize = 16 * 1024;
/// How long past its timeout a synchronous call may take to answer (cold start,
/// modules download, network).
const SYNC_GRACE: Duration = Duration::from_secs(30);
/// How long past its timeout an asynchronous call may take to start, or to report after
/// it started.
const DETACHED_GRACE: Duration = Duration::from_secs(10);
/// The least time a call keeps retrying invocations Lambda throttles or fails with a
/// server error (more when its timeout is longer).
const RETRY_BUDGET: Duration = Duration::from_secs(120);
/// Backoff between retried invocations: the first pause, and the longest.
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(10);
/// Status polling interval: right after a change, and at most.
const POLL_MIN: Duration = Duration::from_millis(150);
const POLL_MAX: Duration = Duration::from_secs(1);
/// A poller with nothing to follow for this long stops.
const POLL_IDLE: Duration = Duration::from_secs(30);
/// Status objects fetched at once by a poller.
const POLL_FETCHES: usize = 32;
/// Threads the remote invoker uses for its Event invocations.
const REMOTE_INVOKER_THREADS: usize = 128;

/// Payload limits lithoflow enforces (AWS's real ones; the emulator has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A synchronous invocation's request, bytes.
    pub sync_request: usize,
    /// An Event invocation's request, bytes.
    pub event_request: usize,
    /// A synchronous invocation's response, bytes: larger answers go through S3.
    pub response: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            sync_request: SYNC_PAYLOAD_LIMIT,
            event_request: EVENT_PAYLOAD_LIMIT,
            response: SYNC_PAYLOAD_LIMIT - RESPONSE_MARGIN,
        }
    }
}

/// Invokes the runtime function for a set of AWS settings.
#[derive(Debug)]
pub struct LambdaBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: AwsSettings,
    storage: S3Storage,
    /// Invocations: the SDK's own retries are off, [`invoke`] retries.
    client: aws_sdk_lambda::Client,
    runtimes: Runtimes,
    /// Invocation requests in flight (`invoke_pool_threads`).
    permits: Arc<Semaphore>,
    /// The runtime function of each memory size, once checked or deployed.
    functions: Mutex<HashMap<u64, Arc<OnceCell<Function>>>>,
    /// Modules archives known to be in the bucket.
    uploaded: tokio::sync::Mutex<HashSet<String>>,
    /// One status poller per job phase, by key prefix.
    pollers: Mutex<HashMap<String, mpsc::UnboundedSender<Watch>>>,
    limits: Limits,
    /// How long past its timeout an asynchronous call may take to start or report.
    detached_grace: Duration,
}

/// A runtime function ready to be invoked.
#[derive(Debug, Clone)]
struct Function {
    name: String,
    timeout: Duration,
}

impl LambdaBackend {
    /// A backend for these settings; job data and modules go to `storage`.
    pub async fn new(settings: &AwsSettings, storage: S3Storage) -> Result<LambdaBackend, Error> {
        let sdk = crate::aws::sdk_config(settings).await;
        let client = crate::aws::lambda_client_from(&sdk, settings, false);
        let management = crate::aws::lambda_client_from(&sdk, settings, true);
        Ok(LambdaBackend {
            inner: Arc::new(Inner {
                settings: settings.clone(),
                storage,
                client,
                runtimes: Runtimes::with_client(settings, management),
                permits: Arc::new(Semaphore::new(settings.invoke_pool_threads.max(1))),
                functions: Mutex::default(),
                uploaded: tokio::sync::Mutex::default(),
                pollers: Mutex::default(),
                limits: Limits::default(),
                detached_grace: DETACHED_GRACE,
            }),
        })
    }

    /// Queues a call.
    pub(crate) async fn submit(&self, item: WorkItem) -> Result<(), Error> {
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move { inner.serve(item).await });
        Ok(())
    }

    /// Queues a phase's calls for one remote invoker.
    pub(crate) async fn submit_remote(&self, items: Vec<WorkItem>) -> Result<(), Error> {
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move { inner.serve_remote(items).await });
        Ok(())
    }

    /// Prepares a job: zips its modules and uploads the archive once (by content hash).
    /// `sys_path` are the folders whose modules are shipped; `include` names further
    /// modules (importable by `python` on this machine); `exclude` leaves modules out.
    pub(crate) async fn prepare_job(
        &self,
        job_key: &str,
        run_id: &str,
        sys_path: &[PathBuf],
        include: &[String],
        exclude: &[String],
        python: &str,
    ) -> Result<CloudJob, Error> {
        let extra = named_modules(python, include, sys_path).await?;
        let (paths, excluded) = (sys_path.to_vec(), exclude.to_vec());
        let archive =
            tokio::task::spawn_blocking(move || deploy::modules_zip(&paths, &extra, &excluded))
                .await
                .map_err(|e| {
                    Error::Config(format!("zipping the function modules failed: {e}"))
                })??;
        let modules = match archive {
            Some(a) => Some(self.inner.upload_modules(a).await?),
            None => None,
        };
        Ok(CloudJob {
            calls_prefix: format!("{}/{run_id}", crate::storage::Storage::job_prefix(job_key)),
            modules,
            ..CloudJob::default()
        })
    }

    /// Tells reducers waiting remotely for a job's map results to stop.
    pub(crate) async fn cancel_waiters(&self, job: &CloudJob) -> Result<(), Error> {
        self.inner
            .put(&format!("{}/cancel", job.calls_prefix), b"{}".to_vec())
            .await
    }
}

/// How a call is invoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// RequestResponse.
    Sync,
    /// Event.
    Event,
}

impl Inner {
    /// The runtime function for `memory`, checked (and deployed if allowed) once.
    async fn function(&self, memory: u64) -> Result<Function, Error> {
        let cell = {
            let mut map = self
                .functions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(map.entry(memory).or_default())
        };
        cell.get_or_try_init(|| async {
            let timeout = self.runtimes.ensure(memory).await?;
            Ok::<_, Error>(Function {
                name: deploy::function_name(memory),
                timeout: Duration::from_secs(timeout),
            })
        })
        .await
        .cloned()
    }

    /// Forgets a function that turned out to be gone, so the next call checks again.
    fn forget(&self, memory: u64) {
        if let Ok(mut map) = self.functions.lock() {
            map.remove(&memory);
        }
    }

    async fn upload_modules(&self, archive: deploy::ModulesArchive) -> Result<ModulesRef, Error> {
        let key = archive.key();
        let mut known = self.uploaded.lock().await;
        if !known.contains(&archive.sha256) {
            if !self.exists(&key).await? {
                tracing::debug!(key = %key, files = archive.files.len(), "uploading the function modules");
                self.put(&key, archive.bytes).await?;
            }
            known.insert(archive.sha256.clone());
        }
        Ok(ModulesRef {
            key,
            sha256: archive.sha256,
        })
    }

    fn memory_of(&self, call: Option<&CloudCall>) -> u64 {
        call.and_then(|c| c.memory)
            .unwrap_or(self.settings.runtime_memory)
    }

    /// The request with its `aws` section, checked against the payload limit.
    fn payload(
        &self,
        body: &[u8],
        call: Option<&CloudCall>,
        timeout: Duration,
        mode: Mode,
    ) -> Result<Vec<u8>, String> {
        let section = self.aws_section(call, timeout, mode);
        let payload = splice(body, "aws", &section);
        let limit = match mode {
            Mode::Sync => self.limits.sync_request,
            Mode::Event => self.limits.event_request,
        };
        check_request_size(payload.len(), limit, mode)?;
        Ok(payload)
    }

    fn aws_section(&self, call: Option<&CloudCall>, timeout: Duration, mode: Mode) -> Value {
        let prefix = call.map(|c| format!("{}/{}/{}", c.job.calls_prefix, c.phase, c.call_id));
        let wait_for = call.and_then(|c| {
            c.wait_for.as_ref().map(|ids| {
                json!({
                    "prefix": format!("{}/map/", c.job.calls_prefix),
                    "call_ids": ids,
                    "cancel_key": format!("{}/cancel", c.job.calls_prefix),
                })
            })
        });
        json!({
            "bucket": self.storage.bucket,
            "s3_endpoint": self.settings.s3_endpoint,
            "modules": call.and_then(|c| c.job.modules.as_ref()).map(|m| json!({"key": m.key, "sha256": m.sha256})),
            "prefix": prefix,
            "status": mode == Mode::Event || call.is_some_and(|c| c.persist),
            "init": mode == Mode::Event,
            "response_limit": if mode == Mode::Sync { self.limits.response } else { 0 },
            "timeout_s": timeout.as_secs_f64(),
            "wait_for": wait_for,
        })
    }

    /// Runs one call (or inspection) to the end and replies.
    async fn serve(self: Arc<Self>, item: WorkItem) {
        if item.cancel.is_cancelled() {
            let index = item.call_index;
            item.reply(failed(
                index,
                CallErrorKind::Cancelled,
                CANCELLED.to_owned(),
            ));
            return;
        }
        let call = item.cloud.clone();
        let memory = self.memory_of(call.as_ref());
        let function = match self.function(memory).await {
            Ok(f) => f,
            Err(e) => {
                item.reply(WorkResult::Infrastructure(e.to_string()));
                return;
            }
        };
        let timeout = item.timeout.min(function.timeout);
        let mode = if call.as_ref().is_some_and(|c| c.detached) {
            Mode::Event
        } else {
            Mode::Sync
        };
        let payload = match self.payload(&item.body, call.as_ref(), timeout, mode) {
            Ok(p) => p,
            Err(message) => {
                let index = item.call_index;
                item.reply(failed(index, CallErrorKind::Input, message));
                return;
            }
        };
        match mode {
            Mode::Sync => {
                self.serve_sync(item, call.as_ref(), &function, memory, payload, timeout)
                    .await;
            }
            Mode::Event => {
                self.serve_event(item, call, &function, memory, payload, timeout)
                    .await;
            }
        }
    }

    async fn serve_sync(
        &self,
        item: WorkItem,
        call: Option<&CloudCall>,
        function: &Function,
        memory: u64,
        payload: Vec<u8>,
        timeout: Duration,
    ) {
        // A reducer that waits for its map calls inside its function may run as long as
        // the function's own timeout, and takes no invocation slot: it must not keep
        // the map calls it waits for from being invoked.
        let waits = call.is_some_and(|c| c.wait_for.is_some());
        let limit = if waits { function.timeout } else { timeout };
        let events = item.events.clone();
        let attempt = Attempt {
            client: &self.client,
            permits: (!waits).then_some(&*self.permits),
            function: &function.name,
            payload: &payload,
            mode: Mode::Sync,
            cancel: &item.cancel,
            answer_within: limit + SYNC_GRACE,
            retry_for: RETRY_BUDGET.max(limit),
        };
        let outcome = invoke(&attempt, || {
            if let Some(e) = &events {
                e.started();
            }
        })
        .await;
        let index = item.call_index;
        let result = match outcome {
            Ok(out) => self.decode_sync(index, &out, timeout, function).await,
            Err(f) => self.invoke_failure(index, f, memory, limit),
        };
        item.reply(result);
    }

    async fn serve_event(
        self: Arc<Self>,
        item: WorkItem,
        call: Option<CloudCall>,
        function: &Function,
        memory: u64,
        payload: Vec<u8>,
        timeout: Duration,
    ) {
        let Some(call) = call else {
            let index = item.call_index;
            item.reply(failed(
                index,
                CallErrorKind::Protocol,
                "an asynchronous call needs its job's storage keys".to_owned(),
            ));
            return;
        };
        let seen = self.watch(&call);
        let attempt = Attempt {
            client: &self.client,
            permits: Some(&self.permits),
            function: &function.name,
            payload: &payload,
            mode: Mode::Event,
            cancel: &item.cancel,
            answer_within: SYNC_GRACE,
            retry_for: RETRY_BUDGET.max(timeout),
        };
        match invoke(&attempt, || {}).await {
            Ok(_) => {
                self.follow(item, seen, std::future::ready(Ok(())), timeout, function)
                    .await;
            }
            Err(f) => {
                let index = item.call_index;
                let result = self.invoke_failure(index, f, memory, timeout);
                item.reply(result);
            }
        }
    }

    /// Follows an asynchronous call through its status objects until it reports, is
    /// cancelled, or overstays. `accepted` resolves when the call's invocation was
    /// accepted (or could not be made).
    async fn follow(
        &self,
        item: WorkItem,
        mut seen: mpsc::UnboundedReceiver<Seen>,
        accepted: impl std::future::Future<Output = Result<(), String>>,
        timeout: Duration,
        function: &Function,
    ) {
        let index = item.call_index;
        let events = item.events.clone();
        tokio::pin!(accepted);
        let mut accepted_done = false;
        let mut started = false;
        // Before the invoker says the call was invoked, the invoker's own limit applies.
        let mut deadline = Instant::now() + function.timeout + SYNC_GRACE;
        let result = loop {
            // Biased: an invocation is accepted before it can be seen starting, so a
            // ready acceptance is handled first and the events come in that order.
            tokio::select! {
                biased;
                a = &mut accepted, if !accepted_done => {
                    accepted_done = true;
                    match a {
                        Ok(()) => {
                            if let Some(e) = &events {
                                e.accepted();
                            }
                            if !started {
                                deadline = Instant::now() + timeout + self.detached_grace;
                            }
                        }
                        Err(message) => break WorkResult::Infrastructure(message),
                    }
                }
                s = seen.recv() => match s {
                    Some(Seen::Started) => {
                        if !started {
                            started = true;
                            if let Some(e) = &events {
                                e.started();
                            }
                            deadline = Instant::now() + timeout + self.detached_grace;
                        }
                    }
                    Some(Seen::Finished(body)) => {
                        if !started && let Some(e) = &events {
                            e.started();
                        }
                        break self.decode_body(index, &body, timeout, function).await;
                    }
                    Some(Seen::Lost(message)) | Some(Seen::Closed(message)) => {
                        break WorkResult::Infrastructure(message)
                    }
                    None => break WorkResult::Infrastructure("the status poller stopped".to_owned()),
                },
                () = item.cancel.cancelled() => {
                    break failed(index, CallErrorKind::Cancelled, CANCELLED.to_owned());
                }
                () = tokio::time::sleep_until(deadline) => {
                    let message = if started {
                        format!(
                            "the call started but reported no result within its timeout of {} (plus {}s); its Lambda invocation was abandoned",
                            humanize(timeout),
                            self.detached_grace.as_secs_f64()
                        )
                    } else if accepted_done {
                        format!(
                            "the call was invoked asynchronously but its function never started within its timeout of {} (plus {}s): Lambda may be throttling the function or out of concurrency",
                            humanize(timeout),
                            self.detached_grace.as_secs_f64()
                        )
                    } else {
                        "the remote invoker did not report within its function's timeout".to_owned()
                    };
                    break failed(index, CallErrorKind::Timeout, message);
                }
            }
        };
        item.reply(result);
    }

    /// Runs a phase through one remote invoker.
    async fn serve_remote(self: Arc<Self>, items: Vec<WorkItem>) {
        let Some(first) = items.first() else {
            return;
        };
        let memory = self.memory_of(first.cloud.as_ref());
        let function = match self.function(memory).await {
            Ok(f) => f,
            Err(e) => {
                for item in items {
                    item.reply(WorkResult::Infrastructure(e.to_string()));
                }
                return;
            }
        };
        let mut payloads = Vec::new();
        let mut followed = Vec::new();
        let mut spec_key = None;
        for item in items {
            let Some(call) = item.cloud.clone() else {
                let index = item.call_index;
                item.reply(failed(
                    index,
                    CallErrorKind::Protocol,
                    "a remotely invoked call needs its job's storage keys".to_owned(),
                ));
                continue;
            };
            if item.cancel.is_cancelled() {
                let index = item.call_index;
                item.reply(failed(
                    index,
                    CallErrorKind::Cancelled,
                    CANCELLED.to_owned(),
                ));
                continue;
            }
            let timeout = item.timeout.min(function.timeout);
            match self.payload(&item.body, Some(&call), timeout, Mode::Event) {
                Ok(p) => {
                    spec_key.get_or_insert_with(|| {
                        format!("{}/{}/invoker.json", call.job.calls_prefix, call.phase)
                    });
                    let seen = self.watch(&call);
                    payloads.push(Value::String(String::from_utf8_lossy(&p).into_owned()));
                    followed.push((item, seen, timeout));
                }
                Err(message) => {
                    let index = item.call_index;
                    item.reply(failed(index, CallErrorKind::Input, message));
                }
            }
        }
        let Some(spec_key) = spec_key else {
            return;
        };
        // Each call learns from the invoker's answer whether its invocation was made.
        let mut senders = Vec::with_capacity(followed.len());
        let mut waiters = tokio::task::JoinSet::new();
        for (item, seen, timeout) in followed {
            let (tx, rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
            senders.push(tx);
            let me = Arc::clone(&self);
            let function = function.clone();
            waiters.spawn(async move {
                let accepted = async move {
                    rx.await
                        .unwrap_or_else(|_| Err("the remote invoker was abandoned".to_owned()))
                };
                me.follow(item, seen, accepted, timeout, &function).await;
            });
        }
        let answers = self
            .run_invoker(&function, memory, &spec_key, payloads)
            .await;
        for (i, tx) in senders.into_iter().enumerate() {
            let answer = match &answers {
                Ok(failures) => failures.get(&i).cloned().map_or(Ok(()), Err),
                Err(message) => Err(message.clone()),
            };
            let _ = tx.send(answer);
        }
        while waiters.join_next().await.is_some() {}
    }

    /// Uploads the phase's requests and invokes the invoker; returns the calls it could
    /// not invoke (by position) with why, or why the invoker failed as a whole.
    async fn run_invoker(
        &self,
        function: &Function,
        memory: u64,
        spec_key: &str,
        payloads: Vec<Value>,
    ) -> Result<HashMap<usize, String>, String> {
        let count = payloads.len();
        let spec = json!({
            "function": function.name,
            "threads": REMOTE_INVOKER_THREADS.min(count.max(1)),
            "calls": payloads,
        });
        let body = serde_json::to_vec(&spec).map_err(|e| e.to_string())?;
        self.put(spec_key, body)
            .await
            .map_err(|e| format!("cannot hand the calls to the remote invoker: {e}"))?;
        let request = json!({
            "type": "invoker",
            "aws": {
                "bucket": self.storage.bucket,
                "s3_endpoint": self.settings.s3_endpoint,
                "key": spec_key,
            },
        });
        let payload = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
        let never = CancellationToken::new();
        let attempt = Attempt {
            client: &self.client,
            permits: Some(&self.permits),
            function: &function.name,
            payload: &payload,
            mode: Mode::Sync,
            cancel: &never,
            answer_within: function.timeout + SYNC_GRACE,
            retry_for: RETRY_BUDGET,
        };
        tracing::debug!(calls = count, function = %function.name, "invoking the remote invoker");
        let out = match invoke(&attempt, || {}).await {
            Ok(out) => out,
            Err(f) => {
                return Err(match self.invoke_failure(0, f, memory, function.timeout) {
                    WorkResult::Infrastructure(m) => format!("the remote invoker failed: {m}"),
                    WorkResult::Failed { error, .. } => {
                        format!("the remote invoker failed: {}", error.message)
                    }
                    _ => "the remote invoker failed".to_owned(),
                });
            }
        };
        let body = out
            .payload()
            .map(|b| b.as_ref().to_vec())
            .unwrap_or_default();
        if let Some(kind) = out.function_error() {
            return Err(format!(
                "the remote invoker failed ({kind}): {}",
                function_error_text(&body)
            ));
        }
        #[derive(Deserialize)]
        struct Answer {
            #[serde(rename = "type")]
            kind: String,
            #[serde(default)]
            failed: Vec<FailedInvoke>,
            #[serde(default)]
            error: Option<String>,
        }
        #[derive(Deserialize)]
        struct FailedInvoke {
            index: usize,
            error: String,
        }
        let answer: Answer = serde_json::from_slice(&body).map_err(|e| {
            format!(
                "the remote invoker answered something unexpected ({e}): {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(300)
                    .collect::<String>()
            )
        })?;
        if answer.kind != "invoked" {
            return Err(format!(
                "the remote invoker failed: {}",
                answer.error.unwrap_or(answer.kind)
            ));
        }
        Ok(answer
            .failed
            .into_iter()
            .map(|f| {
                (
                    f.index,
                    format!("the remote invoker could not invoke the call: {}", f.error),
                )
            })
            .collect())
    }

    /// What a failed invocation means for the call.
    fn invoke_failure(
        &self,
        index: usize,
        failure: InvokeFailure,
        memory: u64,
        limit: Duration,
    ) -> WorkResult {
        match failure {
            InvokeFailure::Cancelled => {
                failed(index, CallErrorKind::Cancelled, CANCELLED.to_owned())
            }
            InvokeFailure::NoAnswer => failed(
                index,
                CallErrorKind::Timeout,
                format!(
                    "the call did not answer within its timeout of {} (plus {}s for the invocation itself); its Lambda invocation was abandoned",
                    humanize(limit),
                    SYNC_GRACE.as_secs()
                ),
            ),
            InvokeFailure::GaveUp { attempts, last } => WorkResult::Infrastructure(format!(
                "AWS Lambda did not accept the call after {attempts} attempts over {}s (retried with backoff): {last}",
                RETRY_BUDGET.max(limit).as_secs()
            )),
            InvokeFailure::NotFound(message) => {
                self.forget(memory);
                WorkResult::Infrastructure(format!(
                    "the Lambda runtime function `{}` is gone ({message}); deploy it with `{}`",
                    deploy::function_name(memory),
                    deploy::deploy_command(memory)
                ))
            }
            InvokeFailure::TooLarge(message) => failed(
                index,
                CallErrorKind::Input,
                format!("AWS Lambda refused the call's request as too large: {message}"),
            ),
            InvokeFailure::Fatal(message) => {
                WorkResult::Infrastructure(format!("invoking AWS Lambda failed: {message}"))
            }
        }
    }

    /// A synchronous invocation's answer.
    async fn decode_sync(
        &self,
        index: usize,
        out: &InvokeOutput,
        timeout: Duration,
        function: &Function,
    ) -> WorkResult {
        let body = out
            .payload()
            .map(|b| b.as_ref().to_vec())
            .unwrap_or_default();
        if let Some(kind) = out.function_error() {
            return runtime_failure(index, kind, &body, function);
        }
        self.decode_body(index, &body, timeout, function).await
    }

    /// The runtime's answer (from the invocation or a status object), fetching it from
    /// S3 when the runtime put it there.
    async fn decode_body(
        &self,
        index: usize,
        body: &[u8],
        timeout: Duration,
        function: &Function,
    ) -> WorkResult {
        let fetched;
        let body = match probe_body(index, body, function) {
            Probed::Done(result) => return result,
            Probed::Offloaded(key) => match self.get(&key).await {
                Ok(Some(b)) => {
                    fetched = b;
                    &fetched[..]
                }
                Ok(None) => {
                    return WorkResult::Infrastructure(format!(
                        "the call's result was written to s3://{}/{} but is not there",
                        self.storage.bucket, key
                    ));
                }
                Err(e) => {
                    return WorkResult::Infrastructure(format!(
                        "cannot fetch the call's result from S3: {e}"
                    ));
                }
            },
            Probed::Inline => body,
        };
        decode_answer(index, body, timeout)
    }

    /// Starts following a call's status objects.
    fn watch(self: &Arc<Self>, call: &CloudCall) -> mpsc::UnboundedReceiver<Seen> {
        let prefix = format!("{}/{}/", call.job.calls_prefix, call.phase);
        let (tx, rx) = mpsc::unbounded_channel();
        let mut watch = Watch {
            call_id: call.call_id.clone(),
            tx,
        };
        let mut pollers = self
            .pollers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(poller) = pollers.get(&prefix) {
            match poller.send(watch) {
                Ok(()) => return rx,
                Err(mpsc::error::SendError(w)) => watch = w,
            }
        }
        let (ptx, prx) = mpsc::unbounded_channel();
        let _ = ptx.send(watch);
        pollers.insert(prefix.clone(), ptx);
        tokio::spawn(poll(Arc::clone(self), prefix, prx));
        rx
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), Error> {
        self.storage
            .client()
            .put_object()
            .bucket(&self.storage.bucket)
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from(body))
            .send()
            .await
            .map_err(|e| s3_error(&format!("writing s3://{}/{key}", self.storage.bucket), &e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let out = match self
            .storage
            .client()
            .get_object()
            .bucket(&self.storage.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => {
                return Err(s3_error(
                    &format!("reading s3://{}/{key}", self.storage.bucket),
                    &e,
                ));
            }
        };
        let bytes = out.body.collect().await.map_err(|e| Error::Cloud {
            service: "s3",
            message: format!("reading s3://{}/{key} failed: {e}", self.storage.bucket),
        })?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    async fn exists(&self, key: &str) -> Result<bool, Error> {
        match self
            .storage
            .client()
            .head_object()
            .bucket(&self.storage.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(false),
            Err(e) => Err(s3_error(
                &format!("looking up s3://{}/{key}", self.storage.bucket),
                &e,
            )),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, Error> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .storage
                .client()
                .list_objects_v2()
                .bucket(&self.storage.bucket)
                .prefix(prefix)
                .set_continuation_token(token.clone())
                .send()
                .await
                .map_err(|e| {
                    s3_error(
                        &format!("listing s3://{}/{prefix}", self.storage.bucket),
                        &e,
                    )
                })?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
            token = page
                .next_continuation_token()
                .filter(|_| page.is_truncated() == Some(true))
                .map(str::to_owned);
            if token.is_none() {
                return Ok(keys);
            }
        }
    }
}

const CANCELLED: &str = "the call was cancelled before it finished";

fn failed(call_index: usize, kind: CallErrorKind, message: String) -> WorkResult {
    WorkResult::Failed {
        error: CallError {
            call_index,
            kind,
            exc_type: kind.name().to_owned(),
            message,
            traceback: String::new(),
        },
        worker_stderr: String::new(),
    }
}

fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}

/// Adds `"key": value` to a JSON object's text, without decoding it.
fn splice(body: &[u8], key: &str, value: &Value) -> Vec<u8> {
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
fn check_request_size(size: usize, limit: usize, mode: Mode) -> Result<(), String> {
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
enum Probed {
    Done(WorkResult),
    Offloaded(String),
    Inline,
}

fn probe_body(index: usize, body: &[u8], function: &Function) -> Probed {
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
fn decode_answer(index: usize, body: &[u8], timeout: Duration) -> WorkResult {
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
        Ok(other) => failed(
            index,
            CallErrorKind::Protocol,
            format!("the Lambda runtime answered an unexpected message: {other:?}"),
        ),
        Err(e) => failed(
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
fn function_error_text(body: &[u8]) -> String {
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
fn runtime_failure(index: usize, kind: &str, body: &[u8], function: &Function) -> WorkResult {
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
    let mut result = failed(index, kind, message);
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

fn s3_error<E, R>(doing: &str, e: &aws_sdk_s3::error::SdkError<E, R>) -> Error
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let detail = match e.as_service_error() {
        Some(s) => match (s.code(), s.message()) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.to_owned(),
            _ => s.to_string(),
        },
        None => {
            let mut msg = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                msg.push_str(&format!(": {s}"));
                source = s.source();
            }
            msg
        }
    };
    Error::Cloud {
        service: "s3",
        message: format!("{doing} failed: {detail}"),
    }
}

/// One invocation to make, with its limits.
struct Attempt<'a> {
    client: &'a aws_sdk_lambda::Client,
    /// The invocation slots (None: the invocation takes none).
    permits: Option<&'a Semaphore>,
    function: &'a str,
    payload: &'a [u8],
    mode: Mode,
    cancel: &'a CancellationToken,
    /// How long one invocation may take to answer.
    answer_within: Duration,
    /// How long throttled or failed invocations are retried.
    retry_for: Duration,
}

/// Why an invocation could not be made.
#[derive(Debug)]
enum InvokeFailure {
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

/// The pause before retry `attempt` (1-based): exponential, capped, with jitter (half
/// fixed, half random), so throttled callers spread out.
fn backoff(attempt: u32) -> Duration {
    let exp = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_CAP);
    let half = exp / 2;
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let jitter = half.mul_f64((random % 10_000) as f64 / 10_000.0);
    half + jitter
}

/// Invokes the function, retrying throttling and server errors with backoff. Each try
/// holds an invocation slot only while its request is in flight: a throttled call waits
/// without one, then queues again. `on_send` runs before the first request goes out.
async fn invoke(
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
        let pause = backoff(tries);
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

/// What a poller saw of a call.
#[derive(Debug)]
enum Seen {
    /// Its `init` object: the function started.
    Started,
    /// Its `status.json`: the runtime's answer.
    Finished(Vec<u8>),
    /// The status object exists but cannot be read.
    Lost(String),
    /// The poller gave up (storage unreachable for too long).
    Closed(String),
}

/// A call a poller follows.
#[derive(Debug)]
struct Watch {
    call_id: String,
    tx: mpsc::UnboundedSender<Seen>,
}

/// Follows the calls of one job phase: lists the phase's prefix, tells each call when
/// its `init` and `status.json` appear, and stops when it has followed nothing for a
/// while. One LIST per round serves every call of the phase.
async fn poll(inner: Arc<Inner>, prefix: String, mut rx: mpsc::UnboundedReceiver<Watch>) {
    struct Followed {
        tx: mpsc::UnboundedSender<Seen>,
        started: bool,
    }
    let mut followed: HashMap<String, Followed> = HashMap::new();
    let mut pause = POLL_MIN;
    let mut failures = 0u32;
    loop {
        while let Ok(w) = rx.try_recv() {
            followed.insert(
                w.call_id,
                Followed {
                    tx: w.tx,
                    started: false,
                },
            );
        }
        followed.retain(|_, f| !f.tx.is_closed());
        if followed.is_empty() {
            match tokio::time::timeout(POLL_IDLE, rx.recv()).await {
                Ok(Some(w)) => {
                    followed.insert(
                        w.call_id,
                        Followed {
                            tx: w.tx,
                            started: false,
                        },
                    );
                }
                _ => {
                    // Stop, unless a call registered meanwhile (registration happens
                    // under the same lock, so none is lost).
                    let mut pollers = inner
                        .pollers
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if let Ok(w) = rx.try_recv() {
                        followed.insert(
                            w.call_id,
                            Followed {
                                tx: w.tx,
                                started: false,
                            },
                        );
                        continue;
                    }
                    pollers.remove(&prefix);
                    return;
                }
            }
        }
        let keys = match inner.list(&prefix).await {
            Ok(k) => {
                failures = 0;
                k
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(prefix = %prefix, error = %e, "cannot list call statuses; retrying");
                if failures >= 30 {
                    for (_, f) in followed.drain() {
                        let _ = f.tx.send(Seen::Closed(format!(
                            "the call's status could not be read from S3: {e}"
                        )));
                    }
                }
                tokio::time::sleep(POLL_MAX).await;
                continue;
            }
        };
        let mut changed = false;
        let mut finished = Vec::new();
        for key in keys {
            let Some(rest) = key.strip_prefix(&prefix) else {
                continue;
            };
            let Some((call_id, leaf)) = rest.split_once('/') else {
                continue;
            };
            let Some(f) = followed.get_mut(call_id) else {
                continue;
            };
            match leaf {
                "init" if !f.started => {
                    f.started = true;
                    changed = true;
                    let _ = f.tx.send(Seen::Started);
                }
                "status.json" => finished.push((call_id.to_owned(), key.clone())),
                _ => {}
            }
        }
        let mut fetches = tokio::task::JoinSet::new();
        for (call_id, key) in finished {
            if let Some(f) = followed.remove(&call_id) {
                changed = true;
                let inner = Arc::clone(&inner);
                fetches.spawn(async move {
                    let seen = match inner.get(&key).await {
                        Ok(Some(body)) => Seen::Finished(body),
                        Ok(None) => Seen::Lost(format!("the call's status {key} vanished")),
                        Err(e) => Seen::Lost(format!("the call's status cannot be read: {e}")),
                    };
                    let _ = f.tx.send(seen);
                });
                while fetches.len() >= POLL_FETCHES {
                    let _ = fetches.join_next().await;
                }
            }
        }
        while fetches.join_next().await.is_some() {}
        pause = if changed {
            POLL_MIN
        } else {
            pause.mul_f64(1.5).min(POLL_MAX)
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            w = rx.recv() => if let Some(w) = w {
                followed.insert(w.call_id, Followed { tx: w.tx, started: false });
            },
        }
    }
}

/// Resolves `include_modules` entries that name modules (not paths) to files or package
/// folders, with this machine's Python (as Lithops does); names already in one of the
/// `sys_path` folders are shipped with it. A name the interpreter cannot find, or finds
/// only in its standard library, is left to the Lambda runtime's own packages.
async fn named_modules(
    python: &str,
    include: &[String],
    sys_path: &[PathBuf],
) -> Result<Vec<(String, PathBuf)>, Error> {
    let names: Vec<&String> = include
        .iter()
        .filter(|m| !m.contains('/') && !m.ends_with(".py") && !m.is_empty())
        .filter(|m| {
            let top = m.split('.').next().unwrap_or(m);
            !sys_path
                .iter()
                .any(|p| p.join(top).is_dir() || p.join(format!("{top}.py")).is_file())
        })
        .collect();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    const FIND: &str = r#"
import importlib.util, json, sys, sysconfig
std = sysconfig.get_paths().get("stdlib", "")
out = {}
for name in sys.argv[1:]:
    top = name.split(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except Exception:
        spec = None
    if spec is None or spec.origin in (None, "built-in", "frozen"):
        if spec is not None and spec.submodule_search_locations:
            out[top] = list(spec.submodule_search_locations)[0]
        continue
    if std and spec.origin.startswith(std) and "site-packages" not in spec.origin:
        continue
    if spec.submodule_search_locations:
        out[top] = list(spec.submodule_search_locations)[0]
    else:
        out[top] = spec.origin
print(json.dumps(out))
"#;
    let output = tokio::process::Command::new(python)
        .arg("-c")
        .arg(FIND)
        .args(names.iter().map(|s| s.as_str()))
        .output()
        .await
        .map_err(|e| {
            Error::Config(format!(
                "include_modules names modules ({}), and finding them needs `{python}`: {e}",
                names
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
    let found: HashMap<String, String> = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let mut out = Vec::new();
    for (top, origin) in found {
        let path = PathBuf::from(&origin);
        if path.is_dir() {
            out.push((top, path));
        } else {
            let ext = path
                .extension()
                .map(|e| e.to_string_lossy().into_owned())
                .unwrap_or_else(|| "py".to_owned());
            let name = if ext == "py" {
                format!("{top}.py")
            } else {
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or(top)
            };
            out.push((name, path));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn splice_adds_a_member_without_decoding() {
        let v = json!({"a": 1});
        assert_eq!(
            String::from_utf8(splice(br#"{"type":"call","x":[1]}"#, "aws", &v)).expect("utf8"),
            r#"{"type":"call","x":[1],"aws":{"a":1}}"#
        );
        assert_eq!(
            String::from_utf8(splice(b"{ }\n", "aws", &v)).expect("utf8"),
            r#"{ "aws":{"a":1}}"#
        );
        let spliced = splice(br#"{"type":"call"}"#, "aws", &v);
        let back: Value = serde_json::from_slice(&spliced).expect("json");
        assert_eq!(back["aws"]["a"], 1);
    }

    #[test]
    fn request_limits_name_the_limit_and_what_to_do() {
        assert!(check_request_size(100, 200, Mode::Sync).is_ok());
        let sync = check_request_size(7 * 1024 * 1024, SYNC_PAYLOAD_LIMIT, Mode::Sync)
            .expect_err("over 6 MB");
        assert!(sync.contains("7.0 MB"), "{sync}");
        assert!(sync.contains("6.0 MB"), "{sync}");
        assert!(sync.contains("synchronous invocation"), "{sync}");
        let event = check_request_size(300 * 1024, EVENT_PAYLOAD_LIMIT, Mode::Event)
            .expect_err("over 256 KB");
        assert!(event.contains("256.0 KB"), "{event}");
        assert!(event.contains("async_invoke"), "{event}");
    }

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_is_capped() {
        for attempt in 1..30 {
            let exp = BACKOFF_BASE
                .saturating_mul(1u32 << (attempt - 1).min(16))
                .min(BACKOFF_CAP);
            let b = backoff(attempt);
            assert!(
                b >= exp / 2 && b <= exp,
                "attempt {attempt}: {b:?} vs {exp:?}"
            );
        }
        let samples: HashSet<u128> = (0..20).map(|_| backoff(5).as_micros()).collect();
        assert!(samples.len() > 1, "jitter varies the pause");
    }

    /// A tiny HTTP server answering each request with the next canned response, and
    /// counting the requests.
    /// A canned HTTP answer: status, headers, body.
    type Canned = (u16, Vec<(&'static str, &'static str)>, &'static str);

    async fn canned_server(
        responses: Vec<Canned>,
    ) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = Arc::clone(&count);
        tokio::spawn(async move {
            let mut responses = responses.into_iter();
            while let Ok((mut sock, _)) = listener.accept().await {
                // Read one request (headers, then the body by Content-Length).
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        break None;
                    };
                    if n == 0 {
                        break None;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break Some(p + 4);
                    }
                };
                let Some(head_end) = head_end else {
                    continue;
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + len {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        break;
                    };
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let (status, headers, body) = responses.next().unwrap_or((
                    500,
                    vec![],
                    r#"{"message":"no more canned answers"}"#,
                ));
                let mut resp = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (k, v) in headers {
                    resp.push_str(&format!("{k}: {v}\r\n"));
                }
                resp.push_str("\r\n");
                resp.push_str(body);
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            }
        });
        (format!("http://{addr}"), count)
    }

    fn test_client(endpoint: &str) -> aws_sdk_lambda::Client {
        let conf = aws_sdk_lambda::Config::builder()
            .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
            .region(aws_sdk_lambda::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_lambda::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .endpoint_url(endpoint)
            .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_lambda::Client::from_conf(conf)
    }

    const THROTTLED: &str = r#"{"Type":"User","message":"Rate Exceeded.","Reason":"ReservedFunctionConcurrentInvocationLimitExceeded"}"#;

    /// A Lambda error answer: status, `x-amzn-ErrorType`, body.
    fn aws_error(status: u16, kind: &'static str, body: &'static str) -> Canned {
        (status, vec![("x-amzn-ErrorType", kind)], body)
    }

    fn throttled() -> Canned {
        aws_error(429, "TooManyRequestsException", THROTTLED)
    }

    /// An invocation of `f` with an empty payload, answered within 10 s.
    fn attempt<'a>(
        client: &'a aws_sdk_lambda::Client,
        permits: &'a Semaphore,
        cancel: &'a CancellationToken,
        mode: Mode,
        retry_for: Duration,
    ) -> Attempt<'a> {
        Attempt {
            client,
            permits: Some(permits),
            function: "f",
            payload: b"{}",
            mode,
            cancel,
            answer_within: Duration::from_secs(10),
            retry_for,
        }
    }

    #[tokio::test]
    async fn throttled_invocations_are_retried_with_backoff_until_they_succeed() {
        let throttle = throttled();
        let server_error = aws_error(502, "ServiceException", r#"{"message":"bad gateway"}"#);
        let ok = (
            200,
            vec![("Content-Type", "application/json")],
            r#"{"ok":1}"#,
        );
        let (url, count) = canned_server(vec![throttle.clone(), server_error, throttle, ok]).await;
        let client = test_client(&url);
        let permits = Semaphore::new(1);
        let cancel = CancellationToken::new();
        let attempt = attempt(
            &client,
            &permits,
            &cancel,
            Mode::Sync,
            Duration::from_secs(30),
        );
        let mut sent = 0;
        let started = std::time::Instant::now();
        let out = invoke(&attempt, || sent += 1)
            .await
            .expect("succeeds after retries");
        assert_eq!(out.status_code(), 200);
        assert_eq!(
            out.payload().map(|b| b.as_ref().to_vec()),
            Some(br#"{"ok":1}"#.to_vec())
        );
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 4);
        assert_eq!(sent, 1, "the call is reported started once");
        // Three pauses: at least half of 100 + 200 + 400 ms.
        assert!(started.elapsed() >= Duration::from_millis(350));
        // The slot was given back.
        assert_eq!(permits.available_permits(), 1);
    }

    #[tokio::test]
    async fn throttling_past_the_budget_gives_up_with_the_last_error() {
        let (url, _) = canned_server(vec![throttled(); 50]).await;
        let client = test_client(&url);
        let permits = Semaphore::new(4);
        let cancel = CancellationToken::new();
        let attempt = attempt(
            &client,
            &permits,
            &cancel,
            Mode::Event,
            Duration::from_millis(500),
        );
        match invoke(&attempt, || {}).await {
            Err(InvokeFailure::GaveUp { attempts, last }) => {
                assert!(attempts >= 2, "{attempts}");
                assert!(last.contains("TooManyRequestsException"), "{last}");
            }
            other => panic!("expected to give up, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn missing_functions_and_oversized_requests_are_not_retried() {
        let missing = aws_error(
            404,
            "ResourceNotFoundException",
            r#"{"Type":"User","message":"Function not found: arn:aws:lambda:us-east-1:000000000000:function:f"}"#,
        );
        let large = aws_error(
            413,
            "RequestTooLargeException",
            r#"{"Type":"User","message":"Request must be smaller than 6291456 bytes for the InvokeFunction operation"}"#,
        );
        let (url, count) = canned_server(vec![missing, large]).await;
        let client = test_client(&url);
        let permits = Semaphore::new(1);
        let cancel = CancellationToken::new();
        let attempt = attempt(
            &client,
            &permits,
            &cancel,
            Mode::Sync,
            Duration::from_secs(30),
        );
        assert!(matches!(
            invoke(&attempt, || {}).await,
            Err(InvokeFailure::NotFound(m)) if m.contains("Function not found")
        ));
        assert!(matches!(
            invoke(&attempt, || {}).await,
            Err(InvokeFailure::TooLarge(m)) if m.contains("6291456")
        ));
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_cancelled_call_stops_retrying() {
        let (url, _) = canned_server(vec![throttled(); 50]).await;
        let client = test_client(&url);
        let permits = Semaphore::new(1);
        let cancel = CancellationToken::new();
        let attempt = attempt(
            &client,
            &permits,
            &cancel,
            Mode::Sync,
            Duration::from_secs(60),
        );
        let stopper = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            stopper.cancel();
        });
        let started = std::time::Instant::now();
        assert!(matches!(
            invoke(&attempt, || {}).await,
            Err(InvokeFailure::Cancelled)
        ));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn lambda_failures_are_classified() {
        let f = Function {
            name: "lithoflow-runtime-0-1-0-256mb".to_owned(),
            timeout: Duration::from_secs(3),
        };
        let timed_out = br#"{"errorMessage":"Task timed out after 3.00 seconds","errorType":"Sandbox.Timedout"}"#;
        match runtime_failure(2, "Unhandled", timed_out, &f) {
            WorkResult::Failed { error, .. } => {
                assert_eq!(error.kind, CallErrorKind::Timeout);
                assert_eq!(error.call_index, 2);
                assert!(error.message.contains("3s"), "{}", error.message);
            }
            other => panic!("{other:?}"),
        }
        let oom = br#"{"errorMessage":"RequestId: x Error: Runtime exited with error: signal: killed","errorType":"Runtime.ExitError"}"#;
        assert!(matches!(
            runtime_failure(0, "Unhandled", oom, &f),
            WorkResult::Failed { error, .. } if error.kind == CallErrorKind::Memory
        ));
        let other = br#"{"errorMessage":"boom","errorType":"Runtime.HandlerError","stackTrace":["a\n","b\n"]}"#;
        match runtime_failure(0, "Unhandled", other, &f) {
            WorkResult::Failed { error, .. } => {
                assert_eq!(error.kind, CallErrorKind::WorkerDied);
                assert_eq!(error.traceback, "a\nb\n");
            }
            other => panic!("{other:?}"),
        }
    }

    /// A backend whose clients point nowhere: enough for following calls.
    fn offline() -> Arc<Inner> {
        let settings = AwsSettings::from_config(&crate::config::ExecutorConfig::default());
        let client = test_client("http://127.0.0.1:9");
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .region(aws_sdk_s3::config::Region::new("us-east-1"))
                .endpoint_url("http://127.0.0.1:9")
                .build(),
        );
        Arc::new(Inner {
            storage: S3Storage::from_client("b", s3),
            runtimes: Runtimes::with_client(&settings, client.clone()),
            client,
            permits: Arc::new(Semaphore::new(4)),
            functions: Mutex::default(),
            uploaded: tokio::sync::Mutex::default(),
            pollers: Mutex::default(),
            limits: Limits::default(),
            detached_grace: Duration::from_millis(200),
            settings,
        })
    }

    /// Records the progress hooks a call fires.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl crate::local::CallEvents for Recorder {
        fn started(&self) {
            self.0.lock().expect("lock").push("started".to_owned());
        }
        fn finished(&self, ok: bool) {
            self.0.lock().expect("lock").push(format!("finished:{ok}"));
        }
        fn accepted(&self) {
            self.0.lock().expect("lock").push("accepted".to_owned());
        }
    }

    fn item(events: &Arc<Recorder>) -> (WorkItem, tokio::sync::oneshot::Receiver<WorkResult>) {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let item = WorkItem {
            body: Vec::new(),
            call_index: 3,
            timeout: Duration::from_secs(1),
            cancel: CancellationToken::new(),
            events: Some(Arc::clone(events) as Arc<dyn crate::local::CallEvents>),
            reply,
            cloud: None,
        };
        (item, rx)
    }

    fn function() -> Function {
        Function {
            name: "lithoflow-runtime-0-1-0-256mb".to_owned(),
            timeout: Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn a_followed_call_reports_accepted_started_and_its_answer() {
        let inner = offline();
        let events = Arc::new(Recorder::default());
        let (item, rx) = item(&events);
        let (tx, seen) = mpsc::unbounded_channel();
        let follow = {
            let inner = Arc::clone(&inner);
            tokio::spawn(async move {
                inner
                    .follow(
                        item,
                        seen,
                        std::future::ready(Ok(())),
                        Duration::from_secs(1),
                        &function(),
                    )
                    .await;
            })
        };
        tx.send(Seen::Started).expect("send");
        tx.send(Seen::Finished(
            br#"{"type":"result","call_id":"00003","ok":true,"result":[1,2],"stdout":"hi\n"}"#
                .to_vec(),
        ))
        .expect("send");
        follow.await.expect("follow");
        match rx.await.expect("a reply") {
            WorkResult::Call { response, .. } => {
                assert!(response.ok);
                assert_eq!(response.result, json!([1, 2]));
                assert_eq!(response.stdout, "hi\n");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            *events.0.lock().expect("lock"),
            vec!["accepted", "started", "finished:true"]
        );
    }

    #[tokio::test]
    async fn a_call_that_never_starts_fails_after_its_timeout_and_the_grace() {
        let inner = offline();
        let events = Arc::new(Recorder::default());
        let (item, rx) = item(&events);
        let (_tx, seen) = mpsc::unbounded_channel();
        let started = Instant::now();
        inner
            .follow(
                item,
                seen,
                std::future::ready(Ok(())),
                Duration::from_secs(1),
                &function(),
            )
            .await;
        match rx.await.expect("a reply") {
            WorkResult::Failed { error, .. } => {
                assert_eq!(error.kind, CallErrorKind::Timeout);
                assert_eq!(error.call_index, 3);
                assert!(error.message.contains("never started"), "{}", error.message);
            }
            other => panic!("{other:?}"),
        }
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(1200) && took < Duration::from_secs(10),
            "{took:?}"
        );
        assert_eq!(
            *events.0.lock().expect("lock"),
            vec!["accepted", "finished:false"]
        );
    }

    #[tokio::test]
    async fn a_call_the_remote_invoker_could_not_invoke_fails_with_why() {
        let inner = offline();
        let events = Arc::new(Recorder::default());
        let (item, rx) = item(&events);
        let (_tx, seen) = mpsc::unbounded_channel();
        let refused =
            async { Err("the remote invoker could not invoke the call: boom".to_owned()) };
        inner
            .follow(item, seen, refused, Duration::from_secs(1), &function())
            .await;
        match rx.await.expect("a reply") {
            WorkResult::Infrastructure(m) => assert!(m.contains("boom"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(*events.0.lock().expect("lock"), vec!["finished:false"]);
    }

    #[tokio::test]
    async fn a_runtime_timeout_answer_keeps_its_message_and_traceback() {
        let inner = offline();
        let body = br#"{"type":"result","call_id":"00000","ok":false,"error":{"kind":"timeout","type":"TimeoutError","message":"the call exceeded its timeout of 2s on AWS Lambda","traceback":"Traceback ...\n  in sleepy\n"}}"#;
        match inner
            .decode_body(0, body, Duration::from_secs(2), &function())
            .await
        {
            WorkResult::Failed { error, .. } => {
                assert_eq!(error.kind, CallErrorKind::Timeout);
                assert!(error.message.contains("timeout of 2s"));
                assert!(error.traceback.contains("in sleepy"));
            }
            other => panic!("{other:?}"),
        }
    }
}
