//! Errors. A call that fails is data ([`CallError`]); [`Error`] means the executor itself
//! could not do its job (a worker cannot start, storage cannot be written).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why a call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallErrorKind {
    /// The function raised an exception.
    Exception,
    /// The function's module is not importable.
    ModuleNotFound,
    /// The module raised while being imported.
    ImportError,
    /// The module has no such function.
    FunctionNotFound,
    /// The arguments do not fit the function's signature.
    Binding,
    /// The function returned something JSON cannot hold.
    NotJson,
    /// The call exceeded `runtime_memory`.
    Memory,
    /// The call exceeded its `timeout`; its worker was killed and replaced.
    Timeout,
    /// The worker process died during the call (a signal, or an exit).
    WorkerDied,
    /// The call was stopped because its job was cancelled or another call failed.
    Cancelled,
    /// The arguments could not be prepared (an object that does not exist, a bad element).
    Input,
    /// The worker answered something that is not the protocol.
    Protocol,
}

impl CallErrorKind {
    /// The snake_case name, as in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Exception => "exception",
            Self::ModuleNotFound => "module_not_found",
            Self::ImportError => "import_error",
            Self::FunctionNotFound => "function_not_found",
            Self::Binding => "binding",
            Self::NotJson => "not_json",
            Self::Memory => "memory",
            Self::Timeout => "timeout",
            Self::WorkerDied => "worker_died",
            Self::Cancelled => "cancelled",
            Self::Input => "input",
            Self::Protocol => "protocol",
        }
    }
}

/// A failed call, with everything needed to act on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallError {
    /// The call's index in its job (its iterdata position).
    pub call_index: usize,
    /// Why it failed.
    pub kind: CallErrorKind,
    /// The Python exception type (`ValueError`), or the kind for failures outside Python.
    pub exc_type: String,
    /// What happened, actionable.
    pub message: String,
    /// The remote traceback, when Python produced one.
    #[serde(default)]
    pub traceback: String,
}

impl CallError {
    /// A failure outside Python's control (a timeout, a crash, bad input): no traceback,
    /// and the kind's name as the exception type.
    pub(crate) fn new(call_index: usize, kind: CallErrorKind, message: String) -> CallError {
        CallError {
            call_index,
            kind,
            exc_type: kind.name().to_owned(),
            message,
            traceback: String::new(),
        }
    }
}

/// A duration as call errors show it: whole seconds as `90s`, anything finer as `1.500s`
/// (the timeout a user set, not a rounded one).
pub(crate) fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == CallErrorKind::Exception {
            write!(
                f,
                "call {} raised {}: {}",
                self.call_index, self.exc_type, self.message
            )?;
        } else {
            write!(f, "call {} failed: {}", self.call_index, self.message)?;
        }
        if !self.traceback.is_empty() {
            write!(f, "\n{}", self.traceback.trim_end())?;
        }
        Ok(())
    }
}

/// The executor could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Python worker could not be started.
    #[error("failed to start a Python worker with `{python}`: {reason}")]
    WorkerStart {
        /// The interpreter command.
        python: String,
        /// What went wrong.
        reason: String,
    },
    /// Job data could not be written or read.
    #[error("storage error at {path}: {source}")]
    Storage {
        /// The file or folder.
        path: std::path::PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The executor was shut down.
    #[error("the executor is shut down")]
    Closed,
    /// The settings do not allow the job (a missing key, a backend this build lacks).
    #[error("{0}")]
    Config(String),
    /// A cloud service failed (S3, Lambda), after retries.
    #[error("{service}: {message}")]
    Cloud {
        /// `s3` or `lambda`.
        service: &'static str,
        /// What failed, with the service's own message.
        message: String,
    },
}
