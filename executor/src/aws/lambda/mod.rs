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
//!
//! Here: the backend, its runtime functions and how each kind of call is served. Beside
//! it: `invoke.rs` (one invocation with its retries), `answer.rs` (requests spliced and
//! checked, answers decoded), `poll.rs` (the status pollers), `bucket.rs` (the backend's
//! own S3 requests), `adopt.rs` (calls of a killed scheduler's run taken over after a
//! restart instead of invoked again).

mod adopt;
mod answer;
mod bucket;
mod invoke;
mod poll;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_lambda::operation::invoke::InvokeOutput;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{OnceCell, Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use adopt::request_digest;
#[doc(hidden)]
pub use answer::fuzz_decode_reply;
use answer::{
    Probed, check_request_size, decode_answer, function_error_text, probe_body, runtime_failure,
    splice,
};
use invoke::{Attempt, InvokeFailure, invoke};
use poll::{Seen, Watch};

use crate::aws::AwsSettings;
use crate::aws::deploy::{self, Runtimes};
use crate::aws::s3::S3Storage;
use crate::backend::{CloudCall, CloudJob, ModulesRef, WorkItem, WorkResult};
use crate::error::{CallErrorKind, Error, humanize};

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
        sys_path: &[PathBuf],
        include: &[String],
        exclude: &[String],
        python: &str,
    ) -> Result<CloudJob, Error> {
        let extra = deploy::named_modules(python, include, sys_path).await?;
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
        let calls_prefix = format!("{}/calls", crate::storage::Storage::job_prefix(job_key));
        let earlier = self.inner.earlier_calls(&calls_prefix).await?;
        Ok(CloudJob {
            calls_prefix,
            earlier: Arc::new(earlier),
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

/// How a followed call is checked, and how long it may take.
struct Following<'a> {
    /// The call's own time limit.
    timeout: Duration,
    /// The function it runs on.
    function: &'a Function,
    /// The call and its request's digest: an answer written for another request is not
    /// this call's, and the call is watched again until its own arrives.
    bound: Option<(&'a CloudCall, &'a str)>,
    /// Adopted after a restart (in flight when the scheduler that invoked it stopped):
    /// started already, and must report by then.
    adopted: Option<Instant>,
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
    /// `request` is the request's digest, which the call's status objects carry.
    fn payload(
        &self,
        body: &[u8],
        call: Option<&CloudCall>,
        (timeout, mode): (Duration, Mode),
        request: &str,
    ) -> Result<Vec<u8>, String> {
        let section = self.aws_section(call, timeout, mode, request);
        let payload = splice(body, "aws", &section);
        let limit = match mode {
            Mode::Sync => self.limits.sync_request,
            Mode::Event => self.limits.event_request,
        };
        check_request_size(payload.len(), limit, mode)?;
        Ok(payload)
    }

    /// Every call of a user's function writes its `init` and `status.json`, so a
    /// scheduler restarted while it ran can tell that it finished or still runs
    /// (`adopt.rs`); an inspection (a function's signature) writes neither.
    fn aws_section(
        &self,
        call: Option<&CloudCall>,
        timeout: Duration,
        mode: Mode,
        request: &str,
    ) -> Value {
        let marked = call.is_some_and(|c| c.phase != INSPECT);
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
            "status": marked,
            "init": marked,
            "request": request,
            "response_limit": if mode == Mode::Sync { self.limits.response } else { 0 },
            "timeout_s": timeout.as_secs_f64(),
            "wait_for": wait_for,
        })
    }

    /// Runs one call (or inspection) to the end and replies.
    async fn serve(self: Arc<Self>, item: WorkItem) {
        if item.cancel.is_cancelled() {
            let index = item.call_index;
            item.reply(WorkResult::failed(
                index,
                CallErrorKind::Cancelled,
                CANCELLED.to_owned(),
            ));
            return;
        }
        let call = item.cloud.as_deref().cloned();
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
        let request = request_digest(&item.body);
        let payload = match self.payload(&item.body, call.as_ref(), (timeout, mode), &request) {
            Ok(p) => p,
            Err(message) => {
                let index = item.call_index;
                item.reply(WorkResult::failed(index, CallErrorKind::Input, message));
                return;
            }
        };
        let item = match &call {
            Some(c) => match self.adopt(item, c, &request, timeout, &function).await {
                Some(item) => item,
                None => return,
            },
            None => item,
        };
        match mode {
            Mode::Sync => {
                self.serve_sync(item, call.as_ref(), &function, memory, payload, timeout)
                    .await;
            }
            Mode::Event => {
                self.serve_event(item, call, &function, (memory, payload, timeout), &request)
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
        (memory, payload, timeout): (u64, Vec<u8>, Duration),
        request: &str,
    ) {
        let Some(call) = call else {
            let index = item.call_index;
            item.reply(WorkResult::failed(
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
                let following = Following {
                    timeout,
                    function,
                    bound: Some((&call, request)),
                    adopted: None,
                };
                self.follow(item, seen, std::future::ready(Ok(())), following)
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
        self: &Arc<Self>,
        item: WorkItem,
        mut seen: mpsc::UnboundedReceiver<Seen>,
        accepted: impl std::future::Future<Output = Result<(), String>>,
        following: Following<'_>,
    ) {
        let Following {
            timeout,
            function,
            bound,
            adopted,
        } = following;
        let index = item.call_index;
        let events = item.events.clone();
        tokio::pin!(accepted);
        let mut accepted_done = false;
        let mut started = false;
        // Before the invoker says the call was invoked, the invoker's own limit applies.
        let mut deadline = Instant::now() + function.timeout + SYNC_GRACE;
        if let Some(until) = adopted {
            // Invoked by a scheduler that stopped, and started: it runs on Lambda
            // until it reports or its function's time is up.
            accepted_done = true;
            started = true;
            deadline = until;
            if let Some(e) = &events {
                e.accepted();
                e.started();
            }
        }
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
                        if let Some((call, request)) = bound
                            && adopt::stored_answer(&body, request) != adopt::Stored::Answer
                        {
                            // Another request's answer: an invocation of an earlier run
                            // (before a restart, the DAG since changed) that was still
                            // running wrote it. This call's own answer replaces it.
                            tracing::debug!(call = %call.call_id, "a status object of an earlier request was ignored");
                            tokio::time::sleep(poll::POLL_MAX).await;
                            seen = self.watch(call);
                            continue;
                        }
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
                    break WorkResult::failed(index, CallErrorKind::Cancelled, CANCELLED.to_owned());
                }
                () = tokio::time::sleep_until(deadline) => {
                    let message = if adopted.is_some() {
                        format!(
                            "the call was in flight on AWS Lambda when the scheduler that invoked it stopped; adopted after the restart, it reported no result within its function's timeout of {} (plus {}s) from its start",
                            humanize(function.timeout),
                            self.detached_grace.as_secs_f64()
                        )
                    } else if started {
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
                    break WorkResult::failed(index, CallErrorKind::Timeout, message);
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
        let memory = self.memory_of(first.cloud.as_deref());
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
            let Some(call) = item.cloud.as_deref().cloned() else {
                let index = item.call_index;
                item.reply(WorkResult::failed(
                    index,
                    CallErrorKind::Protocol,
                    "a remotely invoked call needs its job's storage keys".to_owned(),
                ));
                continue;
            };
            if item.cancel.is_cancelled() {
                let index = item.call_index;
                item.reply(WorkResult::failed(
                    index,
                    CallErrorKind::Cancelled,
                    CANCELLED.to_owned(),
                ));
                continue;
            }
            let timeout = item.timeout.min(function.timeout);
            let request = request_digest(&item.body);
            match self.payload(&item.body, Some(&call), (timeout, Mode::Event), &request) {
                Ok(p) => {
                    let Some(item) = self.adopt(item, &call, &request, timeout, &function).await
                    else {
                        continue;
                    };
                    spec_key.get_or_insert_with(|| {
                        format!("{}/{}/invoker.json", call.job.calls_prefix, call.phase)
                    });
                    let seen = self.watch(&call);
                    payloads.push(Value::String(String::from_utf8_lossy(&p).into_owned()));
                    followed.push((item, seen, timeout, call, request));
                }
                Err(message) => {
                    let index = item.call_index;
                    item.reply(WorkResult::failed(index, CallErrorKind::Input, message));
                }
            }
        }
        let Some(spec_key) = spec_key else {
            return;
        };
        // Each call learns from the invoker's answer whether its invocation was made.
        let mut senders = Vec::with_capacity(followed.len());
        let mut waiters = tokio::task::JoinSet::new();
        for (item, seen, timeout, call, request) in followed {
            let (tx, rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
            senders.push(tx);
            let me = Arc::clone(&self);
            let function = function.clone();
            waiters.spawn(async move {
                let accepted = async move {
                    rx.await
                        .unwrap_or_else(|_| Err("the remote invoker was abandoned".to_owned()))
                };
                let following = Following {
                    timeout,
                    function: &function,
                    bound: Some((&call, &request)),
                    adopted: None,
                };
                me.follow(item, seen, accepted, following).await;
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
                WorkResult::failed(index, CallErrorKind::Cancelled, CANCELLED.to_owned())
            }
            InvokeFailure::NoAnswer => WorkResult::failed(
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
            InvokeFailure::TooLarge(message) => WorkResult::failed(
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
}

/// The phase of a job's inspection call, which runs no user function.
const INSPECT: &str = "inspect";

const CANCELLED: &str = "the call was cancelled before it finished";
