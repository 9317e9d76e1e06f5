//! lithoflow's executor: runs Python functions as Lithops does (`call_async`, `map`,
//! `map_reduce`) on a backend (warm local workers, later AWS Lambda) with a storage
//! (a local folder, later S3).
//!
//! This crate knows nothing about DAGs. The scheduler hands it resolved function
//! references, arguments and settings; the executor hands back results, progress and
//! per-call records.

#![warn(missing_docs)]

#[cfg(feature = "aws")]
pub mod aws;
mod backend;
pub mod binding;
pub mod compat;
mod dispatch;
pub mod error;
mod executor;
mod job;
mod local;
pub mod partition;
pub mod protocol;
mod records;
mod run;
pub mod storage;
mod workerfiles;

/// Executor settings (the leaf crate `lithoflow-executor-config`, re-exported).
pub use lithoflow_executor_config as config;

pub use binding::Extra;
pub use config::{
    Backend, ConfigKey, ConfigValue, ConfigValueKind, ExecutorConfig, StorageBackend,
};
pub use error::{CallError, CallErrorKind, Error};
pub use executor::FunctionExecutor;
pub use job::{
    CallOptions, CallOutput, CallPlace, CallRecord, DEFAULT_INVOKE_POOL_THREADS, DEFAULT_TIMEOUT,
    ExecutorSettings, FunctionRef, HostServices, Job, JobKind, JobOutcome, JobSpec, MapJob,
    OutputSink, OutputStream, Progress, ServiceFuture, Services, results_json,
};
#[doc(hidden)]
pub use local::fuzz_split_stderr;
pub use partition::Chunking;
pub use records::{CallRecords, CallView};
pub use storage::Storage;
