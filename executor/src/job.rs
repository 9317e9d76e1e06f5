//! The executor's public job types: what a job runs ([`JobSpec`], [`JobKind`],
//! [`MapJob`], [`CallOptions`]), the handle a caller holds while it runs ([`Job`]:
//! progress, acceptance, outcome, cancellation) and what it leaves ([`JobOutcome`],
//! [`CallRecord`]). Plain data: which backend runs the calls is decided when the job
//! starts, from `CallOptions::config`.

use crate::records::CallRecords;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::binding::Extra;
use crate::config::ExecutorConfig;
use crate::error::{CallError, CallErrorKind};
use crate::partition::Chunking;

/// Lithops' default per-call time limit on localhost (`execution_timeout`, 3600 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);
/// Lithops' default number of calls in flight (`invoke_pool_threads`).
pub const DEFAULT_INVOKE_POOL_THREADS: usize = 500;

/// A Python callable, `module:function`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionRef {
    /// Dotted module path.
    pub module: String,
    /// Function name.
    pub function: String,
}

impl std::fmt::Display for FunctionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.module, self.function)
    }
}

/// Settings the executor needs, resolved from the layered [`ExecutorConfig`].
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    /// The Python interpreter for local workers.
    pub python: String,
    /// How many warm workers (`[localhost] worker_processes`).
    pub worker_processes: usize,
    /// Where job data lives (localhost storage).
    pub storage_root: PathBuf,
    /// Per-call time limit when a job sets none (`lithops.execution_timeout`).
    pub default_timeout: Duration,
    /// Memory limit when a job sets none (`runtime_memory`), MB.
    pub default_memory: Option<u64>,
    /// Calls in flight when a job sets none.
    pub invoke_pool_threads: usize,
}

impl ExecutorSettings {
    /// Resolves settings from a config, filling in Lithops' defaults.
    pub fn from_config(cfg: &ExecutorConfig, storage_root: PathBuf) -> ExecutorSettings {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        ExecutorSettings {
            python: cfg.python.clone().unwrap_or_else(|| "python3".to_owned()),
            worker_processes: cfg
                .worker_processes
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(cpus),
            storage_root,
            default_timeout: cfg
                .execution_timeout
                .map_or(DEFAULT_TIMEOUT, Duration::from_secs),
            default_memory: cfg.runtime_memory,
            invoke_pool_threads: cfg
                .invoke_pool_threads
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(DEFAULT_INVOKE_POOL_THREADS),
        }
    }
}

/// Options every call of a job shares (the plugin's inherited parameters).
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Folders put first on `sys.path` (the DAG's folder, then `include_modules` paths).
    pub sys_path: Vec<PathBuf>,
    /// Where relative `obj` paths are resolved.
    pub base_dir: PathBuf,
    /// Environment variables for the function.
    pub extra_env: Map<String, Value>,
    /// Memory limit, MB.
    pub runtime_memory: Option<u64>,
    /// Per-call time limit.
    pub timeout: Option<Duration>,
    /// Calls in flight at once.
    pub invoke_pool_threads: Option<usize>,
    /// Modules the function may not import.
    pub exclude_modules: Vec<String>,
    /// The task's layered executor settings: backend, storage and their AWS keys.
    pub config: ExecutorConfig,
    /// `include_modules` entries that name modules rather than paths: a cloud backend
    /// ships them beside the `sys_path` folders' modules.
    pub include_modules: Vec<String>,
    /// `async_invoke`: on Lambda, calls are asynchronous (Event) invocations, followed
    /// through the status objects the runtime writes.
    pub async_invoke: bool,
    /// `remote_invocation`: on Lambda, one invoker fans a map's calls out from inside
    /// the cloud.
    pub remote_invocation: bool,
    /// `reducer_wait_local`: on Lambda, false starts a map_reduce's reducer together
    /// with the maps, and it waits for their results inside its function.
    pub reducer_wait_local: bool,
    /// Where the calls' output goes while they run: on local workers as it is printed
    /// (a line at a time, coalesced), on Lambda when each call ends. Every call's
    /// [`CallRecord`] holds its whole output as well.
    pub output: Option<OutputSink>,
    /// What a call on a local worker may ask of the host while it runs (a task's XCom,
    /// variables, connections, its context: docs/executor.md, "Requests from a running
    /// call"). Without one, such a request gets an error saying the host serves none.
    pub services: Option<Services>,
    /// With localhost storage, a job of at most 64 calls has its `status.json` and
    /// `results.json` written off its path, just after it ends (`LocalStorage::put_later`):
    /// its outcome does not wait for two folders and two files. The caller then waits
    /// for them with [`crate::FunctionExecutor::settle`] before it reads them or exits
    /// (the scheduler does). Without it, they are on disk when the job's outcome is.
    pub job_data_later: bool,
    /// With localhost storage, a job of one call (`call_async`, a Python callable) that
    /// is not `async_invoke` writes no `status.json` and `results.json` at all (a caller
    /// that hands out the job's reference must leave this unset): the
    /// caller keeps its record (the scheduler, in its state database beside the try;
    /// [`JobOutcome::record_kept_by_caller`] says when). Two folders and two files a
    /// task are most of what a chain of small tasks costs on disk.
    pub one_call_record_kept: bool,
}

/// Where a call runs inside its job: what a request from it is answered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallPlace {
    /// `call`, `map` or `reduce`.
    pub phase: &'static str,
    /// The call's index in its phase.
    pub index: usize,
}

/// A request's answer: a JSON value, or why the host refused it (the message the
/// function's exception carries).
pub type ServiceFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, String>> + Send + 'static>>;

/// Answers the requests a running call sends its host (`{"type": "request", "op": ...}`
/// frames). The executor knows nothing of what the operations mean; the scheduler
/// implements this over its state store.
pub trait HostServices: Send + Sync {
    /// Answers operation `op` with `body` (the request's JSON object, `type`, `id` and
    /// `op` removed) for the call at `call`.
    fn request(self: Arc<Self>, call: CallPlace, op: &str, body: Value) -> ServiceFuture;
}

/// A shared [`HostServices`] handle, as [`CallOptions`] holds it.
#[derive(Clone)]
pub struct Services(pub Arc<dyn HostServices>);

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Services")
    }
}

/// Which of a call's streams a piece of output was printed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputStream {
    /// `sys.stdout`.
    Stdout,
    /// `sys.stderr` (and what the worker process wrote to its own stderr).
    Stderr,
}

impl OutputStream {
    /// `stdout` or `stderr`.
    pub fn name(self) -> &'static str {
        match self {
            OutputStream::Stdout => "stdout",
            OutputStream::Stderr => "stderr",
        }
    }
}

/// A piece of what one call printed, in the order it was printed.
#[derive(Debug, Clone, Copy)]
pub struct CallOutput<'a> {
    /// `call`, `map` or `reduce`.
    pub phase: &'static str,
    /// The call's index in its phase.
    pub index: usize,
    /// Where it was printed.
    pub stream: OutputStream,
    /// The text.
    pub text: &'a str,
}

/// Receives a job's output as it arrives. Called from the executor's own tasks, so it
/// must be quick (appending to a file is; waiting on anything is not).
#[derive(Clone)]
pub struct OutputSink(Arc<dyn Fn(CallOutput<'_>) + Send + Sync>);

impl OutputSink {
    /// A sink that hands each piece to `f`.
    pub fn new(f: impl Fn(CallOutput<'_>) + Send + Sync + 'static) -> OutputSink {
        OutputSink(Arc::new(f))
    }

    /// Hands one piece over.
    pub(crate) fn send(&self, output: CallOutput<'_>) {
        (self.0)(output);
    }
}

impl std::fmt::Debug for OutputSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutputSink")
    }
}

/// What a job runs.
#[derive(Debug, Clone)]
pub enum JobKind {
    /// One call with `data`.
    CallAsync {
        /// The function.
        func: FunctionRef,
        /// Its argument(s): a table binds as keyword arguments.
        data: Value,
    },
    /// One call with explicit positional and keyword arguments (Airflow's
    /// `python_callable` with `op_args`/`op_kwargs`). With `context`, the function also
    /// gets the Airflow context values its signature asks for (all of them when it takes
    /// `**kwargs`), as Airflow's PythonOperator passes them, and the Lithops `id` rule does
    /// not apply.
    Call {
        /// The function.
        func: FunctionRef,
        /// Positional arguments.
        args: Vec<Value>,
        /// Keyword arguments.
        kwargs: Map<String, Value>,
        /// The Airflow context (`ds`, `logical_date`, `params`, ...).
        context: Option<Map<String, Value>>,
        /// The function takes the whole context as its one positional argument (an
        /// Airflow callback, `def on_failure(context)`), instead of the context values
        /// it names; `args` and `kwargs` are then empty.
        context_positional: bool,
    },
    /// One call per element.
    Map(MapJob),
    /// A map, then a reducer over the list of its results.
    MapReduce {
        /// The map half.
        map: MapJob,
        /// The reducer.
        reduce: FunctionRef,
        /// Memory for map calls, MB (over `runtime_memory`).
        map_memory: Option<u64>,
        /// Memory for the reducer, MB (over `runtime_memory`).
        reduce_memory: Option<u64>,
        /// One reducer per object.
        one_per_object: bool,
    },
}

/// A map: a function, its elements and how they bind.
#[derive(Debug, Clone)]
pub struct MapJob {
    /// The function.
    pub func: FunctionRef,
    /// The elements.
    pub iterdata: Vec<Value>,
    /// Arguments added to every call.
    pub extra: Option<Extra>,
    /// How objects are split.
    pub chunking: Chunking,
}

/// A job to run.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// Where its data lives in storage (`<dag>/<run>/<task>/<try>`).
    pub job_key: String,
    /// What it runs.
    pub kind: JobKind,
    /// Shared call options.
    pub options: CallOptions,
}

/// A job's progress, as calls are invoked and finish.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Progress {
    /// `map` or `reduce`.
    pub phase: &'static str,
    /// Calls in this phase.
    pub total: usize,
    /// Calls handed to the backend.
    pub invoked: usize,
    /// Calls a worker is running.
    pub running: usize,
    /// Calls that returned.
    pub done: usize,
    /// Calls that failed.
    pub failed: usize,
    /// Calls of the whole job so far, every phase (map calls plus reducers).
    pub job_calls: usize,
}

/// What became of one call.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    /// Its index in its phase.
    pub index: usize,
    /// `map` or `reduce`.
    pub phase: &'static str,
    /// Its return value (null when it failed).
    pub result: Value,
    /// Why it failed (boxed: most calls succeed, and a map holds one record per call).
    pub error: Option<Box<CallError>>,
    /// What it printed to stdout.
    pub stdout: String,
    /// What it (or its worker) printed to stderr.
    pub stderr: String,
    /// How long it ran, seconds.
    pub duration_s: f64,
}

impl CallRecord {
    /// Hands the call's whole output to `sink` (for output that was not streamed).
    pub(crate) fn send_output(&self, sink: &OutputSink) {
        for (stream, text) in [
            (OutputStream::Stdout, &self.stdout),
            (OutputStream::Stderr, &self.stderr),
        ] {
            if !text.is_empty() {
                sink.send(CallOutput {
                    phase: self.phase,
                    index: self.index,
                    stream,
                    text,
                });
            }
        }
    }
}

/// A finished job.
#[derive(Debug, Clone, Serialize)]
pub struct JobOutcome {
    /// The job's id.
    pub job_id: String,
    /// The task's value (`call_async`: the result; `map`: the list; `map_reduce`: the
    /// reducer's value, or the list of them with one reducer per object), or the first
    /// failure.
    pub result: Result<Value, CallError>,
    /// Every call, map calls first, in order.
    pub calls: CallRecords,
    /// Wall time from submission to the end.
    pub duration_s: f64,
    /// Its `results.json` (the calls' records, [`results_json`]) was not written to its
    /// storage: the caller keeps it ([`CallOptions::one_call_record_kept`]).
    pub record_kept_by_caller: bool,
}

/// A job's `results.json`: each call's phase, index, result, error and duration.
pub fn results_json(calls: &CallRecords) -> serde_json::Result<Vec<u8>> {
    Ok(crate::run::Rows(calls).to_json_vec())
}

/// A submitted job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Unique id.
    pub job_id: String,
    /// Its storage key.
    pub job_key: String,
    /// Where its status will be, as users see it.
    pub(crate) status_location: String,
    pub(crate) options: Arc<CallOptions>,
    pub(crate) progress: watch::Receiver<Progress>,
    pub(crate) accepted: watch::Receiver<bool>,
    pub(crate) outcome: watch::Receiver<Option<Arc<JobOutcome>>>,
    pub(crate) cancel: CancellationToken,
}

impl Job {
    /// Live progress.
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.clone()
    }

    /// Waits until every call has been handed to the backend (`async_invoke`).
    pub async fn accepted(&self) {
        let mut rx = self.accepted.clone();
        let _ = rx.wait_for(|a| *a).await;
    }

    /// Waits for the job to finish.
    pub async fn wait(&self) -> Arc<JobOutcome> {
        let mut rx = self.outcome.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(v) => v.clone().unwrap_or_else(|| self.lost()),
            Err(_) => self.lost(),
        }
    }

    fn lost(&self) -> Arc<JobOutcome> {
        Arc::new(JobOutcome {
            job_id: self.job_id.clone(),
            result: Err(CallError {
                call_index: 0,
                kind: CallErrorKind::Cancelled,
                exc_type: "cancelled".to_owned(),
                message: "the job's runner stopped before the job finished".to_owned(),
                traceback: String::new(),
            }),
            calls: CallRecords::default(),
            duration_s: 0.0,
            record_kept_by_caller: false,
        })
    }

    /// Stops the job: queued calls are dropped and running ones killed.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// The options the job was submitted with (its layered config among them).
    pub fn options(&self) -> &CallOptions {
        &self.options
    }

    /// The job reference a task returns with `async_invoke` or `get_result = false`.
    pub fn reference(&self) -> Value {
        json!({
            "job_id": self.job_id,
            "job_key": self.job_key,
            "calls": self.progress.borrow().job_calls,
            "status_location": self.status_location,
        })
    }
}
