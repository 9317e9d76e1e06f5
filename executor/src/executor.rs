//! `FunctionExecutor`: Lithops' `call_async`, `map` and `map_reduce` over a backend.
//!
//! A job runs in its own tokio task from the moment it is submitted. Callers watch its
//! progress, wait for it to be accepted (`async_invoke`) or finished, and read its result.
//! Results come back in iterdata order. The first failed call fails the job: calls not yet
//! started are cancelled and running ones are stopped, and every call's record (results
//! of the calls that did finish included) is kept in the outcome and in storage.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::sync::{Semaphore, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::backend::Backend;
use crate::binding::{self, Extra};
use crate::config::ExecutorConfig;
use crate::config::{Backend as BackendName, StorageBackend};
use crate::error::{CallError, CallErrorKind, Error};
use crate::local::{CallEvents, LocalPool, WorkItem, WorkResult};
use crate::partition::{self, Chunking, LocalFile};
use crate::protocol::{CallRequest, ObjectPart, Request, Signature};
use crate::storage::{LocalStorage, Storage};

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
    /// Why it failed.
    pub error: Option<CallError>,
    /// What it printed to stdout.
    pub stdout: String,
    /// What it (or its worker) printed to stderr.
    pub stderr: String,
    /// How long it ran, seconds.
    pub duration_s: f64,
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
    pub calls: Vec<CallRecord>,
    /// Wall time from submission to the end.
    pub duration_s: f64,
}

/// A submitted job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Unique id.
    pub job_id: String,
    /// Its storage key.
    pub job_key: String,
    status_location: String,
    options: Arc<CallOptions>,
    progress: watch::Receiver<Progress>,
    accepted: watch::Receiver<bool>,
    outcome: watch::Receiver<Option<Arc<JobOutcome>>>,
    cancel: CancellationToken,
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
            calls: Vec::new(),
            duration_s: 0.0,
        })
    }

    /// Stops the job: queued calls are dropped and running ones killed.
    pub fn cancel(&self) {
        self.cancel.cancel();
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

/// Runs Python functions as Lithops does.
pub struct FunctionExecutor {
    pool: Arc<LocalPool>,
    storage: LocalStorage,
    settings: ExecutorSettings,
    next_job: std::sync::atomic::AtomicU64,
    #[cfg(feature = "aws")]
    aws: Arc<crate::aws::Cache>,
}

impl FunctionExecutor {
    /// Starts the local worker pool. Must be called inside a tokio runtime.
    pub fn new(settings: ExecutorSettings) -> FunctionExecutor {
        let pool = LocalPool::new(&settings.python, settings.worker_processes);
        let storage = LocalStorage::new(settings.storage_root.clone());
        FunctionExecutor {
            pool,
            storage,
            settings,
            next_job: std::sync::atomic::AtomicU64::new(0),
            #[cfg(feature = "aws")]
            aws: Arc::default(),
        }
    }

    /// Checks that a Python worker can start (a clear error before any job runs).
    pub async fn check(&self) -> Result<(), Error> {
        self.pool.check().await
    }

    /// The number of warm workers.
    pub fn workers(&self) -> usize {
        self.pool.size()
    }

    /// The settings in use.
    pub fn settings(&self) -> &ExecutorSettings {
        &self.settings
    }

    /// Starts one call.
    pub fn call_async(
        &self,
        job_key: &str,
        func: FunctionRef,
        data: Value,
        options: CallOptions,
    ) -> Job {
        self.submit(JobSpec {
            job_key: job_key.to_owned(),
            kind: JobKind::CallAsync { func, data },
            options,
        })
    }

    /// Starts a map.
    pub fn map(&self, job_key: &str, map: MapJob, options: CallOptions) -> Job {
        self.submit(JobSpec {
            job_key: job_key.to_owned(),
            kind: JobKind::Map(map),
            options,
        })
    }

    /// Starts a map, then a reducer over the ordered list of its results (one reducer
    /// per object with `one_per_object`). On localhost the reducer starts once every map
    /// call has finished, whatever `reducer_wait_local` says.
    pub fn map_reduce(
        &self,
        job_key: &str,
        map: MapJob,
        reduce: FunctionRef,
        one_per_object: bool,
        options: CallOptions,
    ) -> Job {
        let kind = JobKind::MapReduce {
            map,
            reduce,
            map_memory: None,
            reduce_memory: None,
            one_per_object,
        };
        self.submit(JobSpec {
            job_key: job_key.to_owned(),
            kind,
            options,
        })
    }

    /// Waits for a job to finish (Lithops' `wait` with `ALL_COMPLETED`).
    pub async fn wait(&self, job: &Job) -> Arc<JobOutcome> {
        job.wait().await
    }

    /// Starts a job.
    pub fn submit(&self, spec: JobSpec) -> Job {
        let n = self
            .next_job
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let job_id = format!("{}-{n:04}", std::process::id());
        let (progress_tx, progress) = watch::channel(Progress {
            phase: "map",
            ..Progress::default()
        });
        let (accepted_tx, accepted) = watch::channel(false);
        let (outcome_tx, outcome) = watch::channel(None);
        let cancel = CancellationToken::new();
        let job = Job {
            job_id: job_id.clone(),
            job_key: spec.job_key.clone(),
            status_location: self.status_location(&spec),
            options: Arc::new(spec.options.clone()),
            progress,
            accepted,
            outcome,
            cancel: cancel.clone(),
        };
        let runner = Runner {
            pool: Arc::clone(&self.pool),
            local_storage: self.storage.clone(),
            #[cfg(feature = "aws")]
            aws: Arc::clone(&self.aws),
            settings: self.settings.clone(),
            progress: progress_tx,
            accepted: accepted_tx,
            cancel,
        };
        tokio::spawn(async move {
            let outcome = runner.run(job_id, spec).await;
            let _ = outcome_tx.send(Some(Arc::new(outcome)));
        });
        job
    }

    /// Waits for a job and returns its value (Lithops' `get_result`).
    pub async fn get_result(&self, job: &Job) -> Result<Value, CallError> {
        job.wait().await.result.clone()
    }

    /// Deletes a job's data from its storage (`clean_data`).
    pub async fn clean(&self, job: &Job) -> Result<(), Error> {
        self.storage_for(&job.options)
            .await?
            .clean(&job.job_key)
            .await
    }

    /// Where a job's status will be, as users see it.
    fn status_location(&self, spec: &JobSpec) -> String {
        match spec.options.config.effective_storage() {
            StorageBackend::Localhost => {
                Storage::Local(self.storage.clone()).location(&spec.job_key, "status.json")
            }
            StorageBackend::AwsS3 => format!(
                "s3://{}/{}/status.json",
                spec.options
                    .config
                    .storage_bucket
                    .as_deref()
                    .unwrap_or("<no storage_bucket>"),
                Storage::job_prefix(&spec.job_key)
            ),
        }
    }

    /// The storage a job's settings ask for.
    async fn storage_for(&self, options: &CallOptions) -> Result<Storage, Error> {
        resolve_storage(
            &self.storage,
            #[cfg(feature = "aws")]
            &self.aws,
            options,
        )
        .await
    }

    /// Stops the workers.
    pub fn shutdown(&self) {
        self.pool.close();
    }
}

/// A prepared call.
struct Prepared {
    args: binding::CallArgs,
    obj: Option<ObjectPart>,
}

/// The storage a job's settings ask for.
async fn resolve_storage(
    local: &LocalStorage,
    #[cfg(feature = "aws")] aws: &crate::aws::Cache,
    options: &CallOptions,
) -> Result<Storage, Error> {
    match options.config.effective_storage() {
        StorageBackend::Localhost => Ok(Storage::Local(local.clone())),
        #[cfg(feature = "aws")]
        StorageBackend::AwsS3 => Ok(Storage::S3(
            aws.storage(&crate::aws::AwsSettings::from_config(&options.config))
                .await?,
        )),
        #[cfg(not(feature = "aws"))]
        StorageBackend::AwsS3 => Err(Error::Config(
            "storage = \"aws_s3\" needs a lithoflow built with the `aws` feature".to_owned(),
        )),
    }
}

/// Starts a job: resolves its backend and storage, then runs it.
struct Runner {
    pool: Arc<LocalPool>,
    local_storage: LocalStorage,
    #[cfg(feature = "aws")]
    aws: Arc<crate::aws::Cache>,
    settings: ExecutorSettings,
    progress: watch::Sender<Progress>,
    accepted: watch::Sender<bool>,
    cancel: CancellationToken,
}

impl Runner {
    async fn run(self, job_id: String, spec: JobSpec) -> JobOutcome {
        let started = Instant::now();
        match self.resolve(&spec.options).await {
            Ok((backend, storage)) => {
                let run = JobRun {
                    backend,
                    storage,
                    settings: self.settings,
                    progress: self.progress,
                    accepted: self.accepted,
                    cancel: self.cancel,
                };
                run.run(job_id, spec).await
            }
            Err(e) => {
                let _ = self.accepted.send(true);
                JobOutcome {
                    job_id,
                    result: Err(input_error(0, e.to_string())),
                    calls: Vec::new(),
                    duration_s: started.elapsed().as_secs_f64(),
                }
            }
        }
    }

    async fn resolve(&self, options: &CallOptions) -> Result<(Backend, Storage), Error> {
        let storage = resolve_storage(
            &self.local_storage,
            #[cfg(feature = "aws")]
            &self.aws,
            options,
        )
        .await?;
        let backend = match options.config.effective_backend() {
            BackendName::Localhost => Backend::Local(Arc::clone(&self.pool)),
            #[cfg(feature = "aws")]
            BackendName::AwsLambda => Backend::Lambda(
                self.aws
                    .backend(&crate::aws::AwsSettings::from_config(&options.config))
                    .await?,
            ),
            #[cfg(not(feature = "aws"))]
            BackendName::AwsLambda => {
                return Err(Error::Config(
                    "backend = \"aws_lambda\" needs a lithoflow built with the `aws` feature"
                        .to_owned(),
                ));
            }
        };
        Ok((backend, storage))
    }
}

/// One job on its backend and storage.
struct JobRun {
    backend: Backend,
    storage: Storage,
    settings: ExecutorSettings,
    progress: watch::Sender<Progress>,
    accepted: watch::Sender<bool>,
    cancel: CancellationToken,
}

impl JobRun {
    async fn run(self, job_id: String, spec: JobSpec) -> JobOutcome {
        let started = Instant::now();
        let _ = self
            .storage
            .put_json(
                &spec.job_key,
                "status.json",
                &json!({"job_id": job_id, "state": "running"}),
            )
            .await;
        let mut calls = Vec::new();
        let result = self.run_kind(&spec, &mut calls).await;
        let outcome = JobOutcome {
            job_id: job_id.clone(),
            result,
            calls,
            duration_s: started.elapsed().as_secs_f64(),
        };
        let _ = self.accepted.send(true);
        let results: Vec<Value> = outcome
            .calls
            .iter()
            .map(|c| json!({"phase": c.phase, "index": c.index, "result": c.result, "error": c.error, "duration_s": c.duration_s}))
            .collect();
        let _ = self
            .storage
            .put_json(&spec.job_key, "results.json", &results)
            .await;
        let state = if outcome.result.is_ok() {
            "success"
        } else {
            "failed"
        };
        let failed = outcome.calls.iter().filter(|c| c.error.is_some()).count();
        let _ = self.storage.put_json(
            &spec.job_key,
            "status.json",
            &json!({"job_id": job_id, "state": state, "total": outcome.calls.len(), "done": outcome.calls.len() - failed, "failed": failed}),
        ).await;
        outcome
    }

    async fn run_kind(
        &self,
        spec: &JobSpec,
        calls: &mut Vec<CallRecord>,
    ) -> Result<Value, CallError> {
        let opts = &spec.options;
        match &spec.kind {
            JobKind::CallAsync { func, data } => {
                let args = binding::bind(data, None).map_err(|m| input_error(0, m))?;
                let memory = opts.runtime_memory;
                let mut records = self
                    .run_calls(
                        "call",
                        func,
                        vec![Prepared { args, obj: None }],
                        opts,
                        memory,
                    )
                    .await;
                let first = records.first().map(|r| (r.result.clone(), r.error.clone()));
                calls.append(&mut records);
                match first {
                    Some((_, Some(e))) => Err(e),
                    Some((v, None)) => Ok(v),
                    None => Err(input_error(0, "the call produced no record".to_owned())),
                }
            }
            JobKind::Map(map) => {
                let (prepared, _) = self.prepare_map(map, opts).await?;
                let mut records = self
                    .run_calls("map", &map.func, prepared, opts, opts.runtime_memory)
                    .await;
                let result = collect(&records);
                calls.append(&mut records);
                result.map(Value::Array)
            }
            JobKind::MapReduce {
                map,
                reduce,
                map_memory,
                reduce_memory,
                one_per_object,
            } => {
                let (prepared, objects) = self.prepare_map(map, opts).await?;
                let memory = map_memory.or(opts.runtime_memory);
                let mut records = self
                    .run_calls("map", &map.func, prepared, opts, memory)
                    .await;
                let results = collect(&records);
                calls.append(&mut records);
                let results = results?;
                // The reducer gets the list of map results, in iterdata order; with one
                // reducer per object, each gets its object's parts.
                let groups: Vec<Vec<Value>> = if *one_per_object && !objects.is_empty() {
                    let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
                    for (key, value) in objects.iter().zip(results) {
                        match groups.last_mut() {
                            Some((k, g)) if k == key => g.push(value),
                            _ => groups.push((key.clone(), vec![value])),
                        }
                    }
                    groups.into_iter().map(|(_, g)| g).collect()
                } else {
                    vec![results]
                };
                let reducers: Vec<Prepared> = groups
                    .into_iter()
                    .map(|g| Prepared {
                        args: binding::CallArgs {
                            args: vec![Value::Array(g)],
                            kwargs: Map::new(),
                        },
                        obj: None,
                    })
                    .collect();

                let memory = reduce_memory.or(opts.runtime_memory);
                let mut records = self
                    .run_calls("reduce", reduce, reducers, opts, memory)
                    .await;
                let result = collect(&records);
                calls.append(&mut records);
                let values = result?;
                if *one_per_object && !objects.is_empty() {
                    Ok(Value::Array(values))
                } else {
                    Ok(values.into_iter().next().unwrap_or(Value::Null))
                }
            }
        }
    }

    /// Binds every element; for a function with an `obj` parameter, splits the objects
    /// the elements name. Returns the calls and, per call, its object's key.
    async fn prepare_map(
        &self,
        map: &MapJob,
        opts: &CallOptions,
    ) -> Result<(Vec<Prepared>, Vec<String>), CallError> {
        let uses_obj = map.iterdata.iter().any(|e| e.get("obj").is_some());
        let sig = if uses_obj {
            Some(self.inspect(&map.func, opts).await?)
        } else {
            None
        };
        let mut prepared = Vec::with_capacity(map.iterdata.len());
        let mut objects = Vec::new();
        for (i, element) in map.iterdata.iter().enumerate() {
            let args = binding::bind(element, map.extra.as_ref()).map_err(|m| input_error(i, m))?;
            match (&sig, args.kwargs.get("obj")) {
                (Some(sig), Some(Value::String(location))) if sig.has("obj") => {
                    let parts = self
                        .partition(location, map.chunking, opts)
                        .map_err(|m| input_error(i, m))?;
                    for part in parts {
                        let mut a = args.clone();
                        a.kwargs.remove("obj");
                        objects.push(part.key.clone());
                        prepared.push(Prepared {
                            args: a,
                            obj: Some(part),
                        });
                    }
                }
                (Some(sig), Some(other)) if sig.has("obj") => {
                    return Err(input_error(
                        i,
                        format!(
                            "`obj` must name a file, a folder or an s3:// location, found {other}"
                        ),
                    ));
                }
                _ => prepared.push(Prepared { args, obj: None }),
            }
        }
        Ok((prepared, objects))
    }

    fn partition(
        &self,
        location: &str,
        chunking: Chunking,
        opts: &CallOptions,
    ) -> Result<Vec<ObjectPart>, String> {
        if location.starts_with("s3://") {
            return Err(format!(
                "`obj` {location:?} is in S3, which needs `storage = \"aws_s3\"` and the aws_s3 storage backend"
            ));
        }
        let path = opts.base_dir.join(location);
        let files = partition::local_objects(&path)
            .map_err(|e| format!("`obj` {location:?} ({}): {e}", path.display()))?;
        let mut parts = Vec::new();
        for file in files {
            let src = LocalFile::open(&file)
                .map_err(|e| format!("cannot open {}: {e}", file.display()))?;
            let ranges = partition::split(&src, chunking)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let total = ranges.len();
            let key = if file == path {
                location.to_owned()
            } else {
                format!(
                    "{}/{}",
                    location.trim_end_matches('/'),
                    file.file_name()
                        .map(|n| n.to_string_lossy())
                        .unwrap_or_default()
                )
            };
            for (i, range) in ranges.into_iter().enumerate() {
                parts.push(ObjectPart {
                    bucket: None,
                    key: key.clone(),
                    path: Some(file.to_string_lossy().into_owned()),
                    part: i + 1,
                    total_parts: total,
                    range,
                });
            }
        }
        Ok(parts)
    }

    async fn inspect(
        &self,
        func: &FunctionRef,
        opts: &CallOptions,
    ) -> Result<Signature, CallError> {
        let req = Request::Inspect {
            module: func.module.clone(),
            function: func.function.clone(),
            sys_path: paths(opts),
        };
        let body = serde_json::to_vec(&req).map_err(|e| input_error(0, e.to_string()))?;
        let (reply, rx) = oneshot::channel();
        let item = WorkItem {
            body,
            call_index: 0,
            timeout: Duration::from_secs(120),
            cancel: self.cancel.clone(),
            events: None,
            reply,
        };
        self.backend
            .submit(item)
            .await
            .map_err(|e| input_error(0, e.to_string()))?;
        match rx.await {
            Ok(WorkResult::Inspected(Ok(sig))) => Ok(sig),
            Ok(WorkResult::Inspected(Err(e))) => Err(e.into_call_error(0)),
            Ok(WorkResult::Failed { error, .. }) => Err(error),
            Ok(WorkResult::Infrastructure(m)) => Err(input_error(0, m)),
            Ok(WorkResult::Call { .. }) | Err(_) => Err(input_error(
                0,
                "the worker did not describe the function".to_owned(),
            )),
        }
    }

    /// Runs calls with bounded concurrency; returns their records in order. The first
    /// failure cancels the rest.
    async fn run_calls(
        &self,
        phase: &'static str,
        func: &FunctionRef,
        calls: Vec<Prepared>,
        opts: &CallOptions,
        memory: Option<u64>,
    ) -> Vec<CallRecord> {
        let total = calls.len();
        self.progress.send_modify(|p| {
            let job_calls = p.job_calls + total;
            *p = Progress {
                phase,
                total,
                job_calls,
                ..Progress::default()
            };
        });
        let timeout = opts.timeout.unwrap_or(self.settings.default_timeout);
        let memory = memory.or(self.settings.default_memory);
        let limit = opts
            .invoke_pool_threads
            .unwrap_or(self.settings.invoke_pool_threads)
            .max(1);
        let permits = Arc::new(Semaphore::new(limit));
        let failed = self.cancel.child_token();
        let sys_path = paths(opts);
        let mut pending = tokio::task::JoinSet::new();
        for (index, call) in calls.into_iter().enumerate() {
            let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                break;
            };
            if failed.is_cancelled() {
                break;
            }
            let request = Request::Call(Box::new(CallRequest {
                call_id: format!("{index:05}"),
                call_index: index,
                module: func.module.clone(),
                function: func.function.clone(),
                args: call.args.args,
                kwargs: call.args.kwargs,
                extra_env: opts.extra_env.clone(),
                sys_path: sys_path.clone(),
                exclude_modules: opts.exclude_modules.clone(),
                memory_mb: memory,
                obj: call.obj,
            }));
            let body = match serde_json::to_vec(&request) {
                Ok(b) => b,
                Err(e) => {
                    pending.spawn(async move {
                        (
                            index,
                            WorkResult::Failed {
                                error: input_error(index, e.to_string()),
                                worker_stderr: String::new(),
                            },
                        )
                    });
                    continue;
                }
            };
            let (reply, rx) = oneshot::channel();
            let events = Arc::new(ProgressEvents {
                progress: self.progress.clone(),
                started: AtomicBool::new(false),
            });
            let item = WorkItem {
                body,
                call_index: index,
                timeout,
                cancel: failed.clone(),
                events: Some(Arc::clone(&events) as Arc<dyn CallEvents>),
                reply,
            };
            if self.backend.submit(item).await.is_err() {
                break;
            }
            self.progress.send_modify(|p| p.invoked += 1);
            let failed = failed.clone();
            pending.spawn(async move {
                let _permit = permit;
                let result = match rx.await {
                    Ok(r) => r,
                    Err(_) => {
                        // The pool dropped the call without serving it.
                        events.finished(false);
                        WorkResult::Infrastructure("the worker pool stopped".to_owned())
                    }
                };
                let ok = matches!(&result, WorkResult::Call { response, .. } if response.ok);
                if !ok {
                    failed.cancel();
                }
                (index, result)
            });
        }
        // Every call of this phase is handed over: an `async_invoke` task may return.
        // (A map_reduce's reducer is invoked later by the job itself.)
        let _ = self.accepted.send(true);
        let mut records: Vec<Option<CallRecord>> = (0..total).map(|_| None).collect();
        while let Some(joined) = pending.join_next().await {
            let Ok((index, result)) = joined else {
                continue;
            };
            records[index] = Some(record(phase, index, result));
        }
        records
            .into_iter()
            .enumerate()
            .map(|(index, r)| {
                r.unwrap_or_else(|| CallRecord {
                    index,
                    phase,
                    result: Value::Null,
                    error: Some(CallError {
                        call_index: index,
                        kind: CallErrorKind::Cancelled,
                        exc_type: "cancelled".to_owned(),
                        message: "the call was not started because another call failed or the job was cancelled".to_owned(),
                        traceback: String::new(),
                    }),
                    stdout: String::new(),
                    stderr: String::new(),
                    duration_s: 0.0,
                })
            })
            .collect()
    }
}

/// Progress counts, updated by the worker in call order.
struct ProgressEvents {
    progress: watch::Sender<Progress>,
    started: AtomicBool,
}

impl CallEvents for ProgressEvents {
    fn started(&self) {
        self.started.store(true, Ordering::SeqCst);
        self.progress.send_modify(|p| p.running += 1);
    }

    fn finished(&self, ok: bool) {
        let was_running = self.started.swap(false, Ordering::SeqCst);
        self.progress.send_modify(|p| {
            if was_running {
                p.running = p.running.saturating_sub(1);
            }
            if ok {
                p.done += 1;
            } else {
                p.failed += 1;
            }
        });
    }
}

fn paths(opts: &CallOptions) -> Vec<String> {
    opts.sys_path
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

fn input_error(call_index: usize, message: String) -> CallError {
    CallError {
        call_index,
        kind: CallErrorKind::Input,
        exc_type: "input".to_owned(),
        message,
        traceback: String::new(),
    }
}

fn record(phase: &'static str, index: usize, result: WorkResult) -> CallRecord {
    let failed = |error: CallError, stderr: String| CallRecord {
        index,
        phase,
        result: Value::Null,
        error: Some(error),
        stdout: String::new(),
        stderr,
        duration_s: 0.0,
    };
    match result {
        WorkResult::Call {
            response,
            worker_stderr,
        } => {
            let mut stderr = response.stderr;
            stderr.push_str(&worker_stderr);
            let (result, error) = if response.ok {
                (response.result, None)
            } else {
                (
                    Value::Null,
                    response.error.map(|e| e.into_call_error(index)),
                )
            };
            CallRecord {
                index,
                phase,
                result,
                error,
                stdout: response.stdout,
                stderr,
                duration_s: response.duration_s,
            }
        }
        WorkResult::Failed {
            error,
            worker_stderr,
        } => failed(error, worker_stderr),
        WorkResult::Infrastructure(message)
        | WorkResult::Inspected(Err(crate::protocol::RuntimeError { message, .. })) => {
            failed(input_error(index, message), String::new())
        }
        WorkResult::Inspected(Ok(_)) => failed(
            input_error(
                index,
                "the worker answered a call with a signature".to_owned(),
            ),
            String::new(),
        ),
    }
}

/// The results in order, or the first real failure (a cancellation only when nothing
/// else failed).
fn collect(records: &[CallRecord]) -> Result<Vec<Value>, CallError> {
    let mut cancelled = None;
    for r in records {
        if let Some(e) = &r.error {
            if e.kind == CallErrorKind::Cancelled {
                cancelled.get_or_insert_with(|| e.clone());
            } else {
                return Err(e.clone());
            }
        }
    }
    match cancelled {
        Some(e) => Err(e),
        None => Ok(records.iter().map(|r| r.result.clone()).collect()),
    }
}
