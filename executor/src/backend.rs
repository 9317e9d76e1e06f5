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
}
