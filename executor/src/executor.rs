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
use crate::partition::{self, Chunking};
use crate::protocol::{CallRequest, ObjectPart, Request, Signature};
use crate::storage::{LocalStorage, Storage};

/// Lithops' default per-call time limit on localhost (`execution_timeout`, 3600 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);
/// Lithops' default number of calls in flight (`invoke_pool_threads`).
pub const DEFAULT_INVOKE_POOL_THREADS: usize = 500;
/// The largest S3 part handed to a local worker inline (base64 inside a protocol frame,
/// whose limit is `protocol::MAX_FRAME`).
#[cfg(feature = "aws")]
const MAX_INLINE_PART: u64 = 256 * 1024 * 1024;

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

    /// Writes `name` (for example `xcom/return_value.json`) in a job's data, in the
    /// job's storage; returns its location (a path, or `s3://bucket/key`).
    pub async fn put_job_data(
        &self,
        job: &Job,
        name: &str,
        body: Vec<u8>,
    ) -> Result<String, Error> {
        self.storage_for(&job.options)
            .await?
            .put_bytes(&job.job_key, name, body)
            .await
    }

    /// Reads what [`FunctionExecutor::put_job_data`] wrote, by its location, with the
    /// storage settings of `config` (an `s3://` location is read from S3 even when
    /// `config` selects the localhost storage).
    pub async fn read_location(
        &self,
        config: &ExecutorConfig,
        location: &str,
    ) -> Result<Vec<u8>, Error> {
        let options = CallOptions {
            config: config.clone(),
            ..CallOptions::default()
        };
        #[cfg(feature = "aws")]
        if location.starts_with("s3://") && config.effective_storage() != StorageBackend::AwsS3 {
            let settings = crate::aws::AwsSettings::from_config(config);
            return Storage::S3(crate::aws::s3::S3Storage::for_objects(&settings).await)
                .read(location)
                .await;
        }
        self.storage_for(&options).await?.read(location).await
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
    /// The Airflow context, for `JobKind::Call`.
    context: Option<Map<String, Value>>,
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
                    #[cfg(feature = "aws")]
                    cloud: std::sync::OnceLock::new(),
                    storage,
                    settings: self.settings,
                    progress: self.progress,
                    accepted: self.accepted,
                    cancel: self.cancel,
                    #[cfg(feature = "aws")]
                    objects_s3: tokio::sync::OnceCell::new(),
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
    /// The job's context on Lambda (modules archive, storage keys), set when it starts.
    #[cfg(feature = "aws")]
    cloud: std::sync::OnceLock<Arc<crate::backend::CloudJob>>,
    storage: Storage,
    settings: ExecutorSettings,
    progress: watch::Sender<Progress>,
    accepted: watch::Sender<bool>,
    cancel: CancellationToken,
    /// The S3 client for `obj = "s3://..."` when the job's storage is not S3.
    #[cfg(feature = "aws")]
    objects_s3: tokio::sync::OnceCell<crate::aws::s3::S3Storage>,
}

impl JobRun {
    async fn run(self, job_id: String, spec: JobSpec) -> JobOutcome {
        let started = Instant::now();
        if let Err(e) = self
            .storage
            .put_json(
                &spec.job_key,
                "status.json",
                &json!({"job_id": job_id, "state": "running"}),
            )
            .await
        {
            tracing::warn!(job = %job_id, error = %e, "failed to write the job's status");
        }
        let mut calls = Vec::new();
        let result = match self.prepare_cloud(&job_id, &spec).await {
            Ok(()) => self.run_kind(&spec, &mut calls).await,
            Err(e) => Err(input_error(0, e.to_string())),
        };
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
        if let Err(e) = self
            .storage
            .put_json(&spec.job_key, "results.json", &results)
            .await
        {
            tracing::warn!(job = %job_id, error = %e, "failed to write the job's results");
        }
        let state = if outcome.result.is_ok() {
            "success"
        } else {
            "failed"
        };
        let failed = outcome.calls.iter().filter(|c| c.error.is_some()).count();
        if let Err(e) = self.storage.put_json(
            &spec.job_key,
            "status.json",
            &json!({"job_id": job_id, "state": state, "total": outcome.calls.len(), "done": outcome.calls.len() - failed, "failed": failed}),
        ).await {
            tracing::warn!(job = %job_id, error = %e, "failed to write the job's status");
        }
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
                let call = Prepared {
                    args,
                    obj: None,
                    context: None,
                };
                self.one_call(func, call, opts, calls).await
            }
            JobKind::Call {
                func,
                args,
                kwargs,
                context,
            } => {
                let call = Prepared {
                    args: binding::CallArgs {
                        args: args.clone(),
                        kwargs: kwargs.clone(),
                    },
                    obj: None,
                    context: context.clone(),
                };
                self.one_call(func, call, opts, calls).await
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
                #[cfg(feature = "aws")]
                if self.remote_reduce() {
                    let phases = RemoteReduce {
                        map,
                        reduce,
                        objects: &objects,
                        one_per_object: *one_per_object,
                        map_memory: memory,
                        reduce_memory: reduce_memory.or(opts.runtime_memory),
                    };
                    return self.map_reduce_remote(phases, prepared, opts, calls).await;
                }
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
                        context: None,
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
                        .await
                        .map_err(|m| input_error(i, m))?;
                    for part in parts {
                        let mut a = args.clone();
                        a.kwargs.remove("obj");
                        // Grouping key for `reducer_one_per_object`: the element and
                        // the object (two buckets may hold the same key).
                        objects.push(format!(
                            "{i}\0{}\0{}",
                            part.bucket.as_deref().unwrap_or_default(),
                            part.key
                        ));
                        prepared.push(Prepared {
                            context: None,
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
                _ => prepared.push(Prepared {
                    args,
                    obj: None,
                    context: None,
                }),
            }
        }
        Ok((prepared, objects))
    }

    /// The parts of the objects `location` names: a local file or folder, or an
    /// `s3://bucket/key`, `s3://bucket/prefix/` or `s3://bucket` (split the same way,
    /// reading only the bytes around part boundaries).
    async fn partition(
        &self,
        location: &str,
        chunking: Chunking,
        opts: &CallOptions,
    ) -> Result<Vec<ObjectPart>, String> {
        if location.starts_with("s3://") {
            return self.partition_s3(location, chunking, opts).await;
        }
        let base_dir = opts.base_dir.clone();
        let location = location.to_owned();
        tokio::task::spawn_blocking(move || partition::local_parts(&base_dir, &location, chunking))
            .await
            .map_err(|e| format!("partitioning stopped: {e}"))?
    }

    #[cfg(feature = "aws")]
    async fn partition_s3(
        &self,
        location: &str,
        chunking: Chunking,
        opts: &CallOptions,
    ) -> Result<Vec<ObjectPart>, String> {
        let s3 = self.objects_s3(opts).await;
        crate::aws::s3::object_parts(&s3, location, chunking)
            .await
            .map_err(|e| format!("`obj` {location:?}: {e}"))
    }

    #[cfg(not(feature = "aws"))]
    async fn partition_s3(
        &self,
        location: &str,
        _chunking: Chunking,
        _opts: &CallOptions,
    ) -> Result<Vec<ObjectPart>, String> {
        Err(format!(
            "`obj` {location:?} is in S3, which needs a lithoflow built with the `aws` feature"
        ))
    }

    /// The S3 client objects are read with: the job's S3 storage, or (with localhost
    /// storage) one built once from the job's AWS settings.
    #[cfg(feature = "aws")]
    async fn objects_s3(&self, opts: &CallOptions) -> crate::aws::s3::S3Storage {
        if let Storage::S3(s) = &self.storage {
            return s.clone();
        }
        self.objects_s3
            .get_or_init(|| async {
                crate::aws::s3::S3Storage::for_objects(&crate::aws::AwsSettings::from_config(
                    &opts.config,
                ))
                .await
            })
            .await
            .clone()
    }

    /// How a part reaches the runtime. Local files and parts on Lambda travel as
    /// references (the runtime reads its range itself, with boto3 on Lambda); an S3 part
    /// for a local worker is read here and handed over inline, since local workers may
    /// lack boto3.
    async fn deliver_part(
        &self,
        obj: Option<ObjectPart>,
        opts: &CallOptions,
    ) -> Result<Option<ObjectPart>, String> {
        #[cfg(feature = "aws")]
        if let (Backend::Local(_), Some(mut part)) = (&self.backend, obj.clone())
            && part.path.is_none()
            && part.data_b64.is_none()
            && let Some(bucket) = part.bucket.clone()
        {
            let (start, end) = part.range;
            if end - start > MAX_INLINE_PART {
                return Err(format!(
                    "part {} of s3://{bucket}/{} is {} bytes, more than the {} MiB a local worker takes inline; set a smaller chunk_size or chunk_n",
                    part.part,
                    part.key,
                    end - start,
                    MAX_INLINE_PART >> 20
                ));
            }
            let bytes = self
                .objects_s3(opts)
                .await
                .for_bucket(&bucket)
                .get_range(&part.key, start, end)
                .await
                .map_err(|e| e.to_string())?;
            part.data_b64 = Some(crate::protocol::base64(&bytes));
            return Ok(Some(part));
        }
        let _ = opts;
        Ok(obj)
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
            cloud: self.cloud_call("inspect", 0, opts.runtime_memory),
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
    /// A job of one call: its record joins `calls`, its result is the job's.
    async fn one_call(
        &self,
        func: &FunctionRef,
        call: Prepared,
        opts: &CallOptions,
        calls: &mut Vec<CallRecord>,
    ) -> Result<Value, CallError> {
        let mut records = self
            .run_calls("call", func, vec![call], opts, opts.runtime_memory)
            .await;
        let first = records.first().map(|r| (r.result.clone(), r.error.clone()));
        calls.append(&mut records);
        match first {
            Some((_, Some(e))) => Err(e),
            Some((v, None)) => Ok(v),
            None => Err(input_error(0, "the call produced no record".to_owned())),
        }
    }

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
        // On Lambda, `remote_invocation` hands the phase over in one batch, and
        // `async_invoke` calls hold no slot while they run: Lambda bounds them.
        let (batch, detached) = self.dispatch_mode(phase);
        let limit = if batch || detached {
            total.max(1)
        } else {
            limit
        };
        let mut batch_items: Vec<WorkItem> = Vec::new();
        let gate = detached.then(|| Arc::new(Semaphore::new(0)));
        let mut handed = 0u32;
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
            let obj = match self.deliver_part(call.obj, opts).await {
                Ok(obj) => obj,
                Err(message) => {
                    failed.cancel();
                    pending.spawn(async move {
                        (
                            index,
                            WorkResult::Failed {
                                error: input_error(index, message),
                                worker_stderr: String::new(),
                            },
                        )
                    });
                    continue;
                }
            };
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
                obj,
                airflow_context: call.context,
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
                gate: gate.clone(),
                accepted: AtomicBool::new(false),
            });
            let item = WorkItem {
                body,
                call_index: index,
                timeout,
                cancel: failed.clone(),
                events: Some(Arc::clone(&events) as Arc<dyn CallEvents>),
                reply,
                cloud: self.cloud_call(phase, index, memory),
            };
            if batch {
                batch_items.push(item);
            } else if self.backend.submit(item).await.is_err() {
                break;
            }
            handed += 1;
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
        if !batch_items.is_empty() {
            // If the backend is gone, the calls' replies were dropped with it and each
            // call fails on its own.
            let _ = self.backend.submit_batch(batch_items).await;
        }
        if let Some(gate) = &gate {
            // Asynchronous calls count as handed over once Lambda accepted their
            // invocations (or they ended before that).
            let _ = gate.acquire_many(handed).await;
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
    /// Released once per call when a cloud backend accepted it, or when it ended.
    gate: Option<Arc<Semaphore>>,
    accepted: AtomicBool,
}

impl ProgressEvents {
    fn accept(&self) {
        if !self.accepted.swap(true, Ordering::SeqCst)
            && let Some(gate) = &self.gate
        {
            gate.add_permits(1);
        }
    }
}

impl CallEvents for ProgressEvents {
    fn accepted(&self) {
        self.accept();
    }

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
        self.accept();
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

/// A map_reduce whose reducer waits for the map results inside its Lambda function.
#[cfg(feature = "aws")]
struct RemoteReduce<'a> {
    map: &'a MapJob,
    reduce: &'a FunctionRef,
    /// Per map call, its object's key (object processing only).
    objects: &'a [String],
    one_per_object: bool,
    map_memory: Option<u64>,
    reduce_memory: Option<u64>,
}

/// The cloud side of a job: its context on Lambda, and how its calls are dispatched.
impl JobRun {
    /// On Lambda: zips and uploads the job's modules, and fixes where its calls keep
    /// their data.
    #[cfg(feature = "aws")]
    async fn prepare_cloud(&self, job_id: &str, spec: &JobSpec) -> Result<(), Error> {
        let Backend::Lambda(lambda) = &self.backend else {
            return Ok(());
        };
        let opts = &spec.options;
        // A job key can be run again (a task re-run on the same try after a restart):
        // each run's calls get their own prefix, so stale statuses are never read.
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut job = lambda
            .prepare_job(
                &spec.job_key,
                &format!("{job_id}-{nonce:x}"),
                &opts.sys_path,
                &opts.include_modules,
                &opts.exclude_modules,
                &self.settings.python,
            )
            .await?;
        job.detached = opts.async_invoke;
        job.remote = opts.remote_invocation;
        job.remote_reduce =
            matches!(spec.kind, JobKind::MapReduce { .. }) && !opts.reducer_wait_local;
        let _ = self.cloud.set(Arc::new(job));
        Ok(())
    }

    #[cfg(not(feature = "aws"))]
    async fn prepare_cloud(&self, _job_id: &str, _spec: &JobSpec) -> Result<(), Error> {
        Ok(())
    }

    /// A call's place on the cloud backend (None on localhost).
    #[cfg(feature = "aws")]
    fn cloud_call(
        &self,
        phase: &'static str,
        index: usize,
        memory: Option<u64>,
    ) -> Option<crate::backend::CloudCall> {
        let job = self.cloud.get()?;
        Some(crate::backend::CloudCall {
            job: Arc::clone(job),
            phase,
            call_id: format!("{index:05}"),
            memory,
            detached: job.detached && phase != "inspect",
            persist: job.remote_reduce && phase == "map",
            wait_for: None,
        })
    }

    #[cfg(not(feature = "aws"))]
    fn cloud_call(
        &self,
        _phase: &'static str,
        _index: usize,
        _memory: Option<u64>,
    ) -> Option<crate::backend::CloudCall> {
        None
    }

    /// Whether a phase goes out as one batch (`remote_invocation`), and whether its
    /// calls are asynchronous (`async_invoke`).
    fn dispatch_mode(&self, phase: &'static str) -> (bool, bool) {
        #[cfg(feature = "aws")]
        if let Some(job) = self.cloud.get() {
            return (job.remote && phase == "map", job.detached);
        }
        let _ = phase;
        (false, false)
    }

    #[cfg(feature = "aws")]
    fn remote_reduce(&self) -> bool {
        self.cloud.get().is_some_and(|j| j.remote_reduce)
    }

    /// A map_reduce on Lambda with `reducer_wait_local = false`: the reducers are
    /// invoked first and wait, inside their functions, for the status objects of their
    /// map calls; then the map phase runs. A failed map phase tells them to stop.
    #[cfg(feature = "aws")]
    async fn map_reduce_remote(
        &self,
        phases: RemoteReduce<'_>,
        prepared: Vec<Prepared>,
        opts: &CallOptions,
        calls: &mut Vec<CallRecord>,
    ) -> Result<Value, CallError> {
        let (Backend::Lambda(lambda), Some(job)) = (&self.backend, self.cloud.get()) else {
            return Err(input_error(
                0,
                "a reducer can only wait remotely on AWS Lambda".to_owned(),
            ));
        };
        let by_object = phases.one_per_object && !phases.objects.is_empty();
        // The map calls each reducer waits for, in iterdata order.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        if by_object {
            let mut last: Option<&String> = None;
            for (i, key) in phases.objects.iter().enumerate() {
                match groups.last_mut() {
                    Some(g) if last == Some(key) => g.push(i),
                    _ => groups.push(vec![i]),
                }
                last = Some(key);
            }
        } else {
            groups.push((0..prepared.len()).collect());
        }
        let timeout = opts.timeout.unwrap_or(self.settings.default_timeout);
        let stop = self.cancel.child_token();
        let mut waiting = Vec::with_capacity(groups.len());
        for (index, group) in groups.into_iter().enumerate() {
            let request = Request::Call(Box::new(CallRequest {
                call_id: format!("{index:05}"),
                call_index: index,
                module: phases.reduce.module.clone(),
                function: phases.reduce.function.clone(),
                // The runtime puts the list of map results first.
                args: Vec::new(),
                kwargs: Map::new(),
                extra_env: opts.extra_env.clone(),
                sys_path: paths(opts),
                exclude_modules: opts.exclude_modules.clone(),
                memory_mb: phases.reduce_memory,
                obj: None,
                airflow_context: None,
            }));
            let body =
                serde_json::to_vec(&request).map_err(|e| input_error(index, e.to_string()))?;
            let (reply, rx) = oneshot::channel();
            let item = WorkItem {
                body,
                call_index: index,
                timeout,
                cancel: stop.clone(),
                events: None,
                reply,
                cloud: Some(crate::backend::CloudCall {
                    job: Arc::clone(job),
                    phase: "reduce",
                    call_id: format!("{index:05}"),
                    memory: phases.reduce_memory,
                    detached: job.detached,
                    persist: false,
                    wait_for: Some(group.iter().map(|i| format!("{i:05}")).collect()),
                }),
            };
            self.backend
                .submit(item)
                .await
                .map_err(|e| input_error(index, e.to_string()))?;
            waiting.push(rx);
        }
        let mut records = self
            .run_calls("map", &phases.map.func, prepared, opts, phases.map_memory)
            .await;
        let results = collect(&records);
        calls.append(&mut records);
        if let Err(e) = results {
            stop.cancel();
            if let Err(err) = lambda.cancel_waiters(job).await {
                tracing::warn!(error = %err, "cannot tell the waiting reducers to stop; they stop at their timeout");
            }
            return Err(e);
        }
        let total = waiting.len();
        self.progress.send_modify(|p| {
            let job_calls = p.job_calls + total;
            *p = Progress {
                phase: "reduce",
                total,
                invoked: total,
                running: total,
                job_calls,
                ..Progress::default()
            };
        });
        let mut reduced = Vec::with_capacity(total);
        for (index, rx) in waiting.into_iter().enumerate() {
            let result = rx.await.unwrap_or_else(|_| {
                WorkResult::Infrastructure("the reducer's invocation was dropped".to_owned())
            });
            let rec = record("reduce", index, result);
            let ok = rec.error.is_none();
            self.progress.send_modify(|p| {
                p.running = p.running.saturating_sub(1);
                if ok {
                    p.done += 1;
                } else {
                    p.failed += 1;
                }
            });
            if !ok {
                stop.cancel();
            }
            reduced.push(rec);
        }
        let result = collect(&reduced);
        calls.append(&mut reduced);
        let values = result?;
        if by_object {
            Ok(Value::Array(values))
        } else {
            Ok(values.into_iter().next().unwrap_or(Value::Null))
        }
    }
}
