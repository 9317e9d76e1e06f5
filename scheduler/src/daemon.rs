//! `lithoflow scheduler`: the long-running daemon. (Being written; see issue 5.)

use std::path::PathBuf;
use std::time::Duration;

use crate::Outcome;
use crate::config::Settings;
use crate::dag::Dag;

/// How the daemon was started.
#[derive(Debug, Clone)]
pub struct Options {
    /// The DAGs folder it watches.
    pub dags_folder: PathBuf,
    /// Exit once nothing is queued, running or due.
    pub exit_when_idle: bool,
    /// The API port (None: `[api] port`, else 8793).
    pub api_port: Option<u16>,
    /// How long running calls get to finish after SIGTERM.
    pub grace_period: Duration,
}

/// Runs the scheduler until SIGTERM/SIGINT (or idle with `exit_when_idle`).
pub async fn run(settings: Settings, opts: Options) -> anyhow::Result<Outcome> {
    let _ = (settings, opts);
    anyhow::bail!("the scheduler daemon is being rewritten")
}

/// Runs a backfill's runs in this process (no scheduler holds the store).
pub async fn run_backfill_here(
    dag: Dag,
    settings: &Settings,
    run_ids: Vec<String>,
    max_active_runs: u32,
) -> anyhow::Result<Outcome> {
    let _ = (dag, settings, run_ids, max_active_runs);
    anyhow::bail!("the scheduler daemon is being rewritten")
}
