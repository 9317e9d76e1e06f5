//! Where a job's calls and data go, decided from its layered config when it starts: the
//! [`Resolver`] gives a job its [`Dispatcher`] (which hands calls to the compute backend
//! the config names: the warm local workers or AWS Lambda) and its [`Storage`]. This is
//! the one module that knows both backends (they know only `backend.rs`), so the job
//! runner in `run/` never asks where its calls run. Without the `aws` feature a config
//! that asks for AWS gets a clear error here.

use std::path::PathBuf;
use std::sync::Arc;

use crate::backend::{CloudJob, WorkItem};
use crate::config::{Backend, ExecutorConfig, StorageBackend};
use crate::error::Error;
use crate::local::LocalPool;
use crate::storage::{LocalStorage, Storage};

/// Hands a job's calls to its compute backend.
#[derive(Clone)]
pub(crate) enum Dispatcher {
    /// Warm local Python workers.
    Local(Arc<LocalPool>),
    /// AWS Lambda.
    #[cfg(feature = "aws")]
    Lambda(Arc<crate::aws::lambda::LambdaBackend>),
}

impl Dispatcher {
    /// Hands a call (or an inspection) to the backend; the reply comes on `item.reply`.
    pub(crate) async fn submit(&self, item: WorkItem) -> Result<(), Error> {
        match self {
            Dispatcher::Local(pool) => pool.submit(item).await,
            #[cfg(feature = "aws")]
            // Boxed: a Lambda invocation is a large future, and a local call's (a job
            // holds one while it hands its calls over) would be as large.
            Dispatcher::Lambda(lambda) => Box::pin(lambda.submit(item)).await,
        }
    }

    /// Hands a whole phase over at once. On Lambda with `remote_invocation` this is one
    /// invocation of an invoker that fans the calls out from inside the cloud; locally
    /// the calls are queued one by one.
    pub(crate) async fn submit_batch(&self, items: Vec<WorkItem>) -> Result<(), Error> {
        match self {
            Dispatcher::Local(pool) => {
                for item in items {
                    pool.submit(item).await?;
                }
                Ok(())
            }
            #[cfg(feature = "aws")]
            Dispatcher::Lambda(lambda) => Box::pin(lambda.submit_remote(items)).await,
        }
    }

    /// Whether calls run on this machine, where a local worker may lack boto3 to read an
    /// S3 object part itself.
    pub(crate) fn is_local(&self) -> bool {
        matches!(self, Dispatcher::Local(_))
    }

    /// A job's context on a cloud backend: its modules zipped and uploaded (once, by
    /// content hash), and where this run of the job keeps its calls' data. None on
    /// localhost, which needs neither.
    #[cfg_attr(
        not(feature = "aws"),
        expect(unused_variables, reason = "read by the aws_lambda backend only")
    )]
    pub(crate) async fn prepare_job(
        &self,
        job_key: &str,
        sys_path: &[PathBuf],
        include_modules: &[String],
        exclude_modules: &[String],
        python: &str,
    ) -> Result<Option<CloudJob>, Error> {
        match self {
            Dispatcher::Local(_) => Ok(None),
            #[cfg(feature = "aws")]
            Dispatcher::Lambda(lambda) => lambda
                .prepare_job(job_key, sys_path, include_modules, exclude_modules, python)
                .await
                .map(Some),
        }
    }

    /// Tells reducers waiting remotely for a job's map results to stop (nothing waits
    /// remotely on localhost).
    #[cfg_attr(
        not(feature = "aws"),
        expect(unused_variables, reason = "read by the aws_lambda backend only")
    )]
    pub(crate) async fn cancel_waiters(&self, job: &CloudJob) -> Result<(), Error> {
        match self {
            Dispatcher::Local(_) => Ok(()),
            #[cfg(feature = "aws")]
            Dispatcher::Lambda(lambda) => lambda.cancel_waiters(job).await,
        }
    }
}

/// Builds a job's dispatcher and storage from its config. Owns what jobs share: the
/// local pool, the localhost storage and the AWS clients (built once per set of
/// settings).
pub(crate) struct Resolver {
    pool: Arc<LocalPool>,
    local: LocalStorage,
    #[cfg(feature = "aws")]
    aws: crate::aws::cache::Cache,
}

impl Resolver {
    /// Starts `workers` local workers running `python`, with the localhost storage at
    /// `storage_root`. Must be called inside a tokio runtime.
    pub(crate) fn new(python: &str, workers: usize, storage_root: PathBuf) -> Resolver {
        let script = crate::workerfiles::install_runtime(&storage_root)
            .map_err(|e| format!("cannot write the worker's files: {e}"));
        Resolver {
            pool: LocalPool::new(python, workers, script),
            local: LocalStorage::new(storage_root),
            #[cfg(feature = "aws")]
            aws: crate::aws::cache::Cache::default(),
        }
    }

    /// The warm local workers.
    pub(crate) fn pool(&self) -> &LocalPool {
        &self.pool
    }

    /// The localhost storage.
    pub(crate) fn local_storage(&self) -> &LocalStorage {
        &self.local
    }

    /// The storage a config asks for.
    pub(crate) async fn storage(&self, config: &ExecutorConfig) -> Result<Storage, Error> {
        match config.effective_storage() {
            StorageBackend::Localhost => Ok(Storage::Local(self.local.clone())),
            #[cfg(feature = "aws")]
            StorageBackend::AwsS3 => Ok(Storage::S3(
                self.aws
                    .storage(&crate::aws::AwsSettings::from_config(config))
                    .await?,
            )),
            #[cfg(not(feature = "aws"))]
            StorageBackend::AwsS3 => Err(Error::Config(
                "storage = \"aws_s3\" needs a lithoflow built with the `aws` feature".to_owned(),
            )),
        }
    }

    /// The dispatcher to the compute backend a config asks for.
    pub(crate) async fn dispatcher(&self, config: &ExecutorConfig) -> Result<Dispatcher, Error> {
        match config.effective_backend() {
            Backend::Localhost => Ok(Dispatcher::Local(Arc::clone(&self.pool))),
            #[cfg(feature = "aws")]
            Backend::AwsLambda => Ok(Dispatcher::Lambda(
                self.aws
                    .backend(&crate::aws::AwsSettings::from_config(config))
                    .await?,
            )),
            #[cfg(not(feature = "aws"))]
            Backend::AwsLambda => Err(Error::Config(
                "backend = \"aws_lambda\" needs a lithoflow built with the `aws` feature"
                    .to_owned(),
            )),
        }
    }

    /// Reads data a job wrote, by its location, with the storage settings of `config`.
    /// An `s3://` location is read from S3 even when `config` selects the localhost
    /// storage.
    pub(crate) async fn read_location(
        &self,
        config: &ExecutorConfig,
        location: &str,
    ) -> Result<Vec<u8>, Error> {
        #[cfg(feature = "aws")]
        if location.starts_with("s3://") && config.effective_storage() != StorageBackend::AwsS3 {
            let settings = crate::aws::AwsSettings::from_config(config);
            return Storage::S3(crate::aws::s3::S3Storage::for_objects(&settings).await)
                .read(location)
                .await;
        }
        self.storage(config).await?.read(location).await
    }
}
