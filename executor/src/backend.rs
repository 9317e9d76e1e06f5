//! The compute backend a job's calls go to: the warm local workers, or AWS Lambda. Both
//! take the same [`WorkItem`]s (an encoded request, a timeout, a cancellation token,
//! progress hooks, a reply channel) and answer with the same [`WorkResult`]s.

use std::sync::Arc;

use crate::error::Error;
use crate::local::{LocalPool, WorkItem};

/// Where calls run.
#[derive(Clone)]
pub(crate) enum Backend {
    /// Warm local Python workers.
    Local(Arc<LocalPool>),
    /// AWS Lambda.
    #[cfg(feature = "aws")]
    Lambda(Arc<crate::aws::lambda::LambdaBackend>),
}

impl Backend {
    /// Hands a call (or an inspection) to the backend; the reply comes on `item.reply`.
    pub(crate) async fn submit(&self, item: WorkItem) -> Result<(), Error> {
        match self {
            Backend::Local(pool) => pool.submit(item).await,
            #[cfg(feature = "aws")]
            Backend::Lambda(lambda) => lambda.submit(item).await,
        }
    }

    /// Hands a whole phase over at once. On Lambda with `remote_invocation` this is one
    /// invocation of an invoker that fans the calls out from inside the cloud; locally
    /// the calls are queued one by one.
    pub(crate) async fn submit_batch(&self, items: Vec<WorkItem>) -> Result<(), Error> {
        match self {
            Backend::Local(pool) => {
                for item in items {
                    pool.submit(item).await?;
                }
                Ok(())
            }
            #[cfg(feature = "aws")]
            Backend::Lambda(lambda) => lambda.submit_remote(items).await,
        }
    }
}

/// What a cloud backend needs to know about a call besides its request: the job it
/// belongs to and how it is followed. The localhost backend ignores it.
#[cfg_attr(
    not(feature = "aws"),
    expect(dead_code, reason = "read by the aws_lambda backend only")
)]
#[derive(Debug, Clone)]
pub(crate) struct CloudCall {
    /// The job's context.
    pub job: Arc<CloudJob>,
    /// `call`, `map`, `reduce` or `inspect`.
    pub phase: &'static str,
    /// The call's id in its phase (`00003`).
    pub call_id: String,
    /// The memory of the function that runs it, MB (None: `runtime_memory`).
    pub memory: Option<u64>,
    /// Invoke asynchronously (an Event invocation) and follow the call through the
    /// status object the runtime writes (`async_invoke`).
    pub detached: bool,
    /// Have the runtime write the call's status object even when it answers directly
    /// (map calls whose reducer waits for them remotely).
    pub persist: bool,
    /// Start right away and wait, inside the function, for these map calls' results,
    /// which become the first argument (`reducer_wait_local = false`).
    pub wait_for: Option<Vec<String>>,
}

/// A job's context on a cloud backend.
#[cfg_attr(
    not(feature = "aws"),
    expect(dead_code, reason = "read by the aws_lambda backend only")
)]
#[derive(Debug, Clone, Default)]
pub(crate) struct CloudJob {
    /// Where this run of the job keeps its calls' data: `lithoflow.jobs/<job_key>/<run>`.
    pub calls_prefix: String,
    /// The function modules' archive in the bucket, if there are modules to ship.
    pub modules: Option<ModulesRef>,
    /// `async_invoke`: calls are Event invocations followed through S3.
    pub detached: bool,
    /// `remote_invocation`: the map phase is fanned out from inside the cloud.
    pub remote: bool,
    /// `reducer_wait_local = false` on a map_reduce: the reducer starts with the maps.
    pub remote_reduce: bool,
}

/// A modules archive in the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModulesRef {
    /// Its key.
    pub key: String,
    /// Its SHA-256, hex (the folder warm containers extract it to).
    pub sha256: String,
}
