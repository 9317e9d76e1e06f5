//! `FunctionExecutor`: Lithops' `call_async`, `map` and `map_reduce` over a backend.
//!
//! A job runs in its own tokio task from the moment it is submitted (`run/`). Callers
//! watch its progress, wait for it to be accepted (`async_invoke`) or finished, and read
//! its result. Results come back in iterdata order. The first failed call fails the job:
//! calls not yet started are cancelled and running ones are stopped, and every call's
//! record (results of the calls that did finish included) is kept in the outcome and in
//! storage. Where calls run and where data goes is decided per job, from its config, by
//! the [`Resolver`]; nothing here depends on it.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::{ExecutorConfig, StorageBackend};
use crate::dispatch::Resolver;
use crate::error::{CallError, Error};
use crate::job::{
    CallOptions, ExecutorSettings, FunctionRef, Job, JobKind, JobOutcome, JobSpec, MapJob, Progress,
};
use crate::run::Runner;
use crate::storage::Storage;

/// Runs Python functions as Lithops does.
pub struct FunctionExecutor {
    /// The local pool, the localhost storage and the AWS clients, shared with the jobs.
    resolver: Arc<Resolver>,
    settings: ExecutorSettings,
    next_job: std::sync::atomic::AtomicU64,
}

impl FunctionExecutor {
    /// Starts the local worker pool. Must be called inside a tokio runtime.
    pub fn new(settings: ExecutorSettings) -> FunctionExecutor {
        let resolver = Resolver::new(
            &settings.python,
            settings.worker_processes,
            settings.storage_root.clone(),
        );
        FunctionExecutor {
            resolver: Arc::new(resolver),
            settings,
            next_job: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Checks that a Python worker can start (a clear error before any job runs).
    pub async fn check(&self) -> Result<(), Error> {
        self.resolver.pool().check().await
    }

    /// Starts the local workers not started yet, rather than when calls first wait for
    /// one (the first starts with the executor, the others on demand): for a caller that
    /// knows many calls are coming (a map).
    pub fn start_all_workers(&self) {
        self.resolver.pool().start_all();
    }

    /// The number of warm workers.
    pub fn workers(&self) -> usize {
        self.resolver.pool().size()
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
            resolver: Arc::clone(&self.resolver),
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
        self.resolver.read_location(config, location).await
    }

    /// Where a job's status will be, as users see it.
    fn status_location(&self, spec: &JobSpec) -> String {
        match spec.options.config.effective_storage() {
            StorageBackend::Localhost => Storage::Local(self.resolver.local_storage().clone())
                .location(&spec.job_key, "status.json"),
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
        self.resolver.storage(&options.config).await
    }

    /// Returns once the job data written off the jobs' paths (`LocalStorage::put_later`)
    /// is on disk: before a command that ran jobs exits, or reads their data.
    pub async fn settle(&self) {
        self.resolver.local_storage().settle().await;
    }

    /// Stops the workers.
    pub fn shutdown(&self) {
        self.resolver.pool().close();
    }
}
