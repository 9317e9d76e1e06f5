//! lithoflow's executor: runs Python functions as Lithops does (`call_async`, `map`,
//! `map_reduce`) on a backend (warm local workers or AWS Lambda) with a storage
//! (a local folder or S3).
//!
//! This crate knows nothing about DAGs. The scheduler hands it resolved function
//! references, arguments and an [`ExecutorConfig`]; the executor hands back results.

#![warn(missing_docs)]

pub mod config;

pub use config::{
    Backend, ConfigKey, ConfigValue, ConfigValueKind, ExecutorConfig, StorageBackend,
};
