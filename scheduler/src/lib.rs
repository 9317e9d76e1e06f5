//! lithoflow's scheduler: the state store (sled, [`store`]), the run engine (`engine`),
//! the daemon with its local API server (`daemon`, `api`) and the command line ([`cli`]),
//! on top of the DAG format (crate `lithoflow-dag`), the executor (`lithoflow-executor`)
//! and the API's wire types and client (`lithoflow-api`).
//!
//! The binary (`src/main.rs`) only parses arguments, sets up logging ([`logging`]) and
//! maps the [`Outcome`] to an exit code; everything else lives here. ARCHITECTURE.md
//! draws the crates and what each may depend on.

#![warn(missing_docs)]

mod api;
mod assets;
mod bash;
pub mod cli;
mod config;
mod control;
mod daemon;
pub mod dagbag;
mod engine;
pub mod logging;
mod ops;
pub mod pydag;
mod retention;
mod sensors;
mod services;
pub mod store;
mod taskrun;
mod values;

pub use cli::Cli;

/// What the process should exit with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Ok,
    /// Exit 1: a DAG run or task failed.
    Failed,
    /// Exit 2: bad usage, or invalid DAG files.
    Invalid,
}

impl Outcome {
    /// The process exit code for this outcome.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::Failed => 1,
            Outcome::Invalid => 2,
        }
    }
}

/// Runs one command line.
pub async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    cli::run(cli).await
}

impl From<&lithoflow_migrate::MigrateOutcome> for Outcome {
    /// `lithoflow migrate` exits 1 when anything was left untranslated, unless
    /// `--allow-partial`.
    fn from(o: &lithoflow_migrate::MigrateOutcome) -> Outcome {
        if o.failed() {
            Outcome::Failed
        } else {
            Outcome::Ok
        }
    }
}
