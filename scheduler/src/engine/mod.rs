//! The run engine: one tokio task owns a DAG run's state and reacts to task completions,
//! retry timers and the run's timeout. When a task finishes, its downstream tasks are
//! decided (trigger rules) and dispatched at once, without a polling sleep.
//!
//! Every state change is written to the store, and flushed, before its side effect (a
//! dispatch); a run left running by a killed process is recovered by running it again:
//! finished tasks keep their state and XCom, tasks that were running run again on the
//! same try number (a kill is not the task's failure, so it costs no retry).
//!
//! The engine does not know how a try runs: it hands each one to a [`TaskExecutor`]
//! (the real one, [`crate::taskrun::ExecutorTasks`], runs it on the lithoflow executor or,
//! for bash and empty tasks, on this machine), and it reads the time from a [`Clock`].
//! The run loop itself is `run::RunLoop`, a state machine with one method per event.

mod assets;
mod callbacks;
mod log;
pub(crate) mod mapping;
mod outcome;
pub(crate) mod pools;
mod run;
mod sensor;
#[cfg(test)]
mod sensor_tests;
mod sensor_trigger;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use lithoflow_executor::{ExecutorConfig, FunctionExecutor, JobOutcome, Progress};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::store::{DagRunRecord, RunState, Store, TaskState};
use crate::taskrun::TaskError;
pub(crate) use callbacks::{CallbackInput, CallbackOutput};
use lithoflow_dag::{Dag, Task};
pub(crate) use log::TryLog;
pub(crate) use sensor::{DaemonRuns, RunCreator};

/// What a running DAG run reports, for live displays.
#[derive(Debug, Clone)]
pub(crate) enum RunEvent {
    /// A task instance changed state.
    Task {
        /// The task.
        task_id: String,
        /// The instance's map index (-1 unmapped).
        map_index: i32,
        /// Its new state.
        state: TaskState,
        /// Its try number.
        try_number: u32,
    },
    /// Progress of a running task's executor job.
    Progress {
        /// The task.
        task_id: String,
        /// The instance's map index (-1 unmapped).
        map_index: i32,
        /// The job's progress.
        progress: Progress,
    },
    /// The run ended.
    Finished(RunState),
}

/// An answer the engine sends back to the scheduler's loop.
pub(crate) type Answer<T> = tokio::sync::oneshot::Sender<Result<T, crate::ops::OpError>>;

/// Commands a scheduler sends to a run it is running.
#[derive(Debug)]
pub(crate) enum RunControl {
    /// Start nothing new; let running tries finish until the deadline, then stop them.
    /// The run is left running in the store, to be recovered by the next start.
    Drain {
        /// When running tries are stopped.
        deadline: tokio::time::Instant,
    },
    /// Reset these task instances (Airflow's clear): finished ones at once, running
    /// ones once their try is stopped; they run again with a fresh set of retries.
    Clear(Vec<String>),
    /// Set task instances' state (Airflow's `set_state`): each `(task_id, map_index)`
    /// not already in `state` gets it, a running try is stopped (its outcome dropped);
    /// then the failed and upstream_failed instances of the `reset_failed` tasks are
    /// cleared, and the run goes on by its trigger rules.
    SetTaskStates {
        /// The instances.
        tis: Vec<(String, i32)>,
        /// `success`, `failed` or `skipped`.
        state: TaskState,
        /// Tasks whose failed instances are cleared after.
        reset_failed: Vec<String>,
        /// Told once recorded.
        reply: Answer<()>,
    },
    /// Set the run's state (Airflow's `set_dag_run_state_to_*`): `success` and `failed`
    /// set its task instances (`ops::run_state_changes`), stop its tries and end the
    /// run without its DAG callbacks; `queued` stops its tries and leaves the run
    /// queued, its task instances as they are (the scheduler starts it again).
    SetRunState {
        /// The new state.
        state: RunState,
        /// The run as recorded.
        reply: Answer<DagRunRecord>,
    },
    /// Set (None: remove) the user's note on the run or one of its task instances.
    SetNote {
        /// `(task_id, map_index)`; None: the run.
        task: Option<(String, i32)>,
        /// The note.
        note: Option<String>,
        /// Told once recorded.
        reply: Answer<()>,
    },
    /// Stop every try and delete the run with its records, logs and job data.
    Delete {
        /// Where the run's files are.
        files: crate::retention::RunFiles,
        /// Told once deleted.
        reply: Answer<()>,
    },
}

/// One try of a task, as the engine hands it to a [`TaskExecutor`].
pub(crate) struct TryInput {
    /// The task's DAG.
    pub dag: Arc<Dag>,
    /// The task, its templates rendered (a mapped instance's arguments on it).
    pub task: Task,
    /// The instance's map index (-1 unmapped).
    pub map_index: i32,
    /// Its try number (1 for the first try).
    pub try_number: u32,
    /// Where the try's job data lives in storage ([`crate::taskrun::job_key`]).
    pub job_key: String,
    /// The XCom `return_value` of each upstream task the task reads.
    pub xcom: std::collections::HashMap<String, Value>,
    /// Airflow's context for Python callables (`python`, `branch`, `short_circuit`).
    pub context: Option<Map<String, Value>>,
    /// Cancelled when the engine stops the try (a clear while it runs): the try's job is
    /// stopped and the future still resolves, with the job's cancelled outcome.
    pub cancel: CancellationToken,
    /// Told once the try's job has started, with its live progress.
    pub started: mpsc::UnboundedSender<JobStarted>,
    /// The try's log file, created with its header: output is appended as it arrives.
    pub log: TryLog,
    /// What the task's running Python code may ask the scheduler for (XCom, variables,
    /// connections, its context).
    pub services: Option<lithoflow_executor::Services>,
}

/// A try's executor job has started.
#[derive(Debug)]
pub(crate) struct JobStarted {
    /// The task.
    pub task_id: String,
    /// The instance's map index (-1 unmapped).
    pub map_index: i32,
    /// The try.
    pub try_number: u32,
    /// The job's live progress.
    pub progress: watch::Receiver<Progress>,
}

/// What a try ended with.
#[derive(Debug, Clone)]
pub(crate) struct TryOutput {
    /// The task's XCom `return_value`, or why the try failed or skipped.
    pub value: Result<Value, TaskError>,
    /// The executor job's record (calls, their output), when one ran to its end.
    pub job: Option<Arc<JobOutcome>>,
    /// Output for the log that no executor job holds (a bash command's).
    pub output: Option<String>,
}

impl TryOutput {
    /// A try that failed before anything ran.
    pub(crate) fn failed(e: TaskError) -> TryOutput {
        TryOutput {
            value: Err(e),
            job: None,
            output: None,
        }
    }
}

/// What the engine needs to run a try: the seam between the engine and the executor, so
/// that retries, timeouts and trigger rules can be tested with a fake executor and
/// paused time.
pub(crate) trait TaskExecutor: Send + Sync + 'static {
    /// Runs one try. Dropping the returned future stops the try's job (the engine drops
    /// it at `execution_timeout` and when a drain's deadline or `dagrun_timeout` passes).
    fn run_try(&self, input: TryInput) -> BoxFuture<'static, TryOutput>;

    /// Whether the try enforces the task's `execution_timeout` itself (bash tasks stop
    /// their process group and report what it printed); otherwise the engine does.
    fn enforces_execution_timeout(&self, task: &Task) -> bool;

    /// Calls one callback (a task's or the DAG's) with its context. Dropping the future
    /// stops its call.
    fn run_callback(&self, input: CallbackInput) -> BoxFuture<'static, CallbackOutput>;

    /// The executor settings a task runs with (the home's, the DAG's, the task's): a
    /// sensor reads S3 with them.
    fn executor_config(&self, dag: &Dag, task: &Task) -> ExecutorConfig {
        dag.executor_config(&ExecutorConfig::default(), task)
    }

    /// What runs a DAG's Python template callables (`user_defined_macros` and
    /// `user_defined_filters` naming functions); None: templates cannot call Python.
    fn py_caller(&self, dag: &Dag) -> Option<Arc<dyn lithoflow_dag::template::PyCaller>> {
        let _ = dag;
        None
    }
}

/// Where the engine reads the time: the wall clock, or a test's clock that moves with
/// tokio's paused time.
pub(crate) trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Runs DAG runs through an executor, with state in a store.
pub(crate) struct Engine {
    store: Arc<Store>,
    executor: Arc<dyn TaskExecutor>,
    clock: Arc<dyn Clock>,
    logs_dir: PathBuf,
    wait_for_past: bool,
    /// The state database's folder, whose filesystem must keep [`STATE_SPACE_RESERVE`]
    /// free before anything is written to the store.
    state_dir: PathBuf,
    wait_for_space: bool,
    /// What the last look at the state database's free space found, while it can be
    /// trusted ([`SpaceSeen`]).
    space_seen: std::sync::Mutex<Option<SpaceSeen>>,
    /// The slot arbiter all runs of this engine share (None: tasks run without pools).
    pools: Option<Arc<pools::Arbiter>>,
    /// Who creates runs of other DAGs (trigger_dag_run): the scheduler's loop; unset
    /// under `dags test`.
    run_creator: std::sync::OnceLock<Arc<dyn RunCreator>>,
}

/// A flush of the state store ([`Engine::start_flush`]).
pub(crate) enum Flushing {
    /// Made already, on the caller's thread.
    Done(anyhow::Result<()>),
    /// Under way on a blocking thread.
    Started(tokio::task::JoinHandle<anyhow::Result<()>>),
}

/// How often a run blocked only by `depends_on_past` looks again.
const PAST_RECHECK: Duration = Duration::from_secs(5);

/// The free space lithoflow keeps on the filesystem of its state database: no state is
/// written when less than this (plus the size of what is written) is free. sled 0.34
/// does not survive running out of space: after a failed write every later write fails
/// until the database is opened again, and a failed write of a large value (an XCom of
/// more than about 128 KiB) leaves its log waiting forever, so that the next flush, even
/// the one when the database is closed, never returns. So lithoflow refuses (or waits)
/// before sled sees a full disk.
pub(crate) const STATE_SPACE_RESERVE: u64 = 1024 * 1024;

/// How often a run waiting for free space looks again.
const SPACE_RECHECK: Duration = Duration::from_secs(1);

/// A look at the free space is trusted this long by the next writes ([`SpaceSeen`]).
const SPACE_TRUSTED_FOR: Duration = Duration::from_millis(100);

/// ... and only while it found at least this much room beyond the reserve and what was
/// written since: far more than a run loop writes in [`SPACE_TRUSTED_FOR`].
const SPACE_TRUSTED_ROOM: u64 = 64 * 1024 * 1024;

/// The room beyond [`STATE_SPACE_RESERVE`] that a look at the free space found, less the
/// sizes written since. A run loop writes before every try starts and after it ends,
/// and asking the filesystem (`statvfs`) each time was 1-2% of a chain's CPU; with
/// plenty of room, a look less than [`SPACE_TRUSTED_FOR`] old answers instead. Near
/// the reserve, every write looks again.
struct SpaceSeen {
    at: std::time::Instant,
    room: u64,
}

/// The state database's filesystem has too little free space to write to it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("state database at {}: {}", path.display(), self.reason())]
pub(crate) struct NoSpace {
    /// The state database's folder.
    pub path: PathBuf,
    /// The free space, in bytes (for an unprivileged user).
    pub free: u64,
    /// The reserve kept free.
    pub reserve: u64,
    /// The size of what was to be written.
    pub need: u64,
}

impl NoSpace {
    /// What is wrong, without the path.
    pub(crate) fn reason(&self) -> String {
        let writing = if self.need > 0 {
            format!(" beside the {} bytes to write", self.need)
        } else {
            String::new()
        };
        format!(
            "No space left on device: {} bytes free, and lithoflow keeps {} bytes free there{writing}; free some space (nothing was written)",
            self.free, self.reserve
        )
    }
}

/// Checks that the filesystem holding `dir` has [`STATE_SPACE_RESERVE`] plus `need`
/// bytes free. A folder whose filesystem cannot be asked (it does not exist yet) passes:
/// the write itself then reports what is wrong.
pub(crate) fn check_space(dir: &Path, need: u64) -> Result<(), NoSpace> {
    check_space_room(dir, need).map(|_| ())
}

/// [`check_space`], returning the room left beyond the reserve and `need` (`None`: the
/// filesystem could not be asked).
fn check_space_room(dir: &Path, need: u64) -> Result<Option<u64>, NoSpace> {
    let Ok(st) = nix::sys::statvfs::statvfs(dir) else {
        return Ok(None);
    };
    #[expect(
        clippy::useless_conversion,
        reason = "the block counts' types differ between platforms"
    )]
    let free = u64::from(st.blocks_available()).saturating_mul(u64::from(st.fragment_size()));
    match free.checked_sub(STATE_SPACE_RESERVE.saturating_add(need)) {
        Some(room) => Ok(Some(room)),
        None => Err(NoSpace {
            path: dir.to_path_buf(),
            free,
            reserve: STATE_SPACE_RESERVE,
            need,
        }),
    }
}

impl Engine {
    /// An engine over `store` that runs tries on `executor` (the lithoflow executor, with
    /// `home_config` as the first layer of every task's settings); logs go under
    /// `logs_dir`.
    pub(crate) fn new(
        store: Arc<Store>,
        executor: Arc<FunctionExecutor>,
        home_config: ExecutorConfig,
        logs_dir: PathBuf,
    ) -> Engine {
        let tasks = crate::taskrun::ExecutorTasks::new(executor, home_config);
        Engine::with_executor(store, Arc::new(tasks), logs_dir)
    }

    /// An engine over `store` that runs tries on any [`TaskExecutor`].
    pub(crate) fn with_executor(
        store: Arc<Store>,
        executor: Arc<dyn TaskExecutor>,
        logs_dir: PathBuf,
    ) -> Engine {
        // The home holds `logs/` and `state/`.
        let state_dir = logs_dir
            .parent()
            .map_or_else(|| PathBuf::from("state"), |home| home.join("state"));
        Engine {
            pools: Some(pools::Arbiter::new(Arc::clone(&store))),
            store,
            executor,
            clock: Arc::new(WallClock),
            logs_dir,
            wait_for_past: true,
            state_dir,
            wait_for_space: false,
            space_seen: std::sync::Mutex::new(None),
            run_creator: std::sync::OnceLock::new(),
        }
    }

    /// Reads the time from `clock` instead of the wall clock (tests: tokio's paused clock).
    #[cfg(test)]
    pub(crate) fn with_clock(mut self, clock: Arc<dyn Clock>) -> Engine {
        self.clock = clock;
        self
    }

    /// Whether a state write that finds too little free space on the state database's
    /// filesystem waits until there is enough (the scheduler: the run pauses and goes on
    /// once space is freed, nothing lost) or fails the run's engine with [`NoSpace`]
    /// (`dags test`, false by default).
    pub(crate) fn wait_for_space(mut self, wait: bool) -> Engine {
        self.wait_for_space = wait;
        self
    }

    /// Whether a run whose only runnable tasks wait for `depends_on_past` keeps waiting
    /// (Airflow's scheduler: the run stays running, true by default) or fails at once
    /// with a note naming them (for `dags test`, which cannot wait for another run).
    pub(crate) fn wait_for_past(mut self, wait: bool) -> Engine {
        self.wait_for_past = wait;
        self
    }

    /// Runs tasks without pools and priority (`dags test`, as Airflow's `dag.test()`,
    /// which runs every task at once without the scheduler's pool checks).
    pub(crate) fn without_pools(mut self) -> Engine {
        self.pools = None;
        self
    }

    /// The slot arbiter of this engine's runs.
    pub(crate) fn pools(&self) -> Option<&Arc<pools::Arbiter>> {
        self.pools.as_ref()
    }

    /// Lets trigger_dag_run tasks create runs through `runs` (the scheduler's loop, which
    /// owns run creation). Set once; later calls are ignored.
    pub(crate) fn set_run_creator(&self, runs: Arc<dyn RunCreator>) {
        let _ = self.run_creator.set(runs);
    }

    /// The per-try log file of a task instance.
    pub(crate) fn log_path(
        logs_dir: &Path,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        map_index: i32,
        try_number: u32,
    ) -> PathBuf {
        // Every id becomes one `name=value` segment: it can neither hold a `/` nor be `..`,
        // so no id escapes the logs folder (the ids are checked before they get here too).
        use crate::taskrun::sanitize;
        // Airflow's layout: a mapped instance's tries under `map_index=N/`.
        let task_dir = logs_dir
            .join(format!("dag_id={}", sanitize(dag_id)))
            .join(format!("run_id={}", sanitize(run_id)))
            .join(format!("task_id={}", sanitize(task_id)));
        let task_dir = if map_index >= 0 {
            task_dir.join(format!("map_index={map_index}"))
        } else {
            task_dir
        };
        task_dir.join(format!("attempt={try_number}.log"))
    }

    /// Runs (or resumes) a run until it reaches a final state.
    pub(crate) async fn run(
        &self,
        dag: Arc<Dag>,
        run_id: &str,
        events: Option<mpsc::UnboundedSender<RunEvent>>,
    ) -> anyhow::Result<DagRunRecord> {
        self.run_controlled(dag, run_id, events, None).await
    }

    /// Runs (or resumes) a run until it reaches a final state, or until a
    /// [`RunControl::Drain`] stops it (the returned run is then still running).
    pub(crate) async fn run_controlled(
        &self,
        dag: Arc<Dag>,
        run_id: &str,
        events: Option<mpsc::UnboundedSender<RunEvent>>,
        control: Option<mpsc::UnboundedReceiver<RunControl>>,
    ) -> anyhow::Result<DagRunRecord> {
        match run::RunLoop::start(self, dag, run_id, events).await? {
            run::Started::Finished(run) => Ok(*run),
            run::Started::Running(run_loop) => run_loop.run(control).await,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn persist(
        &self,
        f: impl FnOnce(&Store) -> Result<(), crate::store::StoreError> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.persist_sized(0, f).await
    }

    /// [`Engine::persist`] of about `size` bytes (beyond small records), once the state
    /// database's filesystem has room for them (see [`STATE_SPACE_RESERVE`]).
    async fn persist_sized(
        &self,
        size: u64,
        f: impl FnOnce(&Store) -> Result<(), crate::store::StoreError> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.room_for(size).await?;
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || {
            f(&store)?;
            store.flush()
        })
        .await
        .context("the state store task stopped")??;
        Ok(())
    }

    /// Writes to the store now without flushing, once the state database's filesystem
    /// has room for about `size` bytes: the run loop writes what one turn decides, then
    /// flushes once ([`Engine::flush`]) before any side effect of it (group commit).
    async fn write_sized(
        &self,
        size: u64,
        f: impl FnOnce(&Store) -> Result<(), crate::store::StoreError>,
    ) -> anyhow::Result<()> {
        self.room_for(size).await?;
        f(&self.store)?;
        Ok(())
    }

    /// Starts making every write so far durable; the handle says when it is.
    ///
    /// On a current-thread runtime (`dags test`) the flush is made on the thread itself:
    /// handing it to a blocking thread and being woken when it is done (two wake-ups of
    /// another thread, each an interrupt between CPUs on a virtual machine) cost more
    /// than the preparation of the next tries it let overlap (a chain of 1,000 tasks on
    /// tmpfs: 0.43 s, 0.36 s inline). On worker threads it goes to the blocking pool, so
    /// a worker never waits for the disk.
    fn start_flush(&self) -> Flushing {
        if Self::flushes_inline() {
            return Flushing::Done(self.store.flush().map_err(anyhow::Error::from));
        }
        let store = Arc::clone(&self.store);
        Flushing::Started(tokio::task::spawn_blocking(move || {
            store.flush().map_err(anyhow::Error::from)
        }))
    }

    /// Whether a recent look at the free space ([`SpaceSeen`]) leaves room for `size` more
    /// bytes (taken from it).
    fn room_seen_for(&self, size: u64) -> bool {
        let mut seen = self
            .space_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(last) = seen.as_mut() else {
            return false;
        };
        if last.at.elapsed() < SPACE_TRUSTED_FOR
            && let Some(room) = last.room.checked_sub(size)
            && room >= SPACE_TRUSTED_ROOM
        {
            last.room = room;
            return true;
        }
        *seen = None;
        false
    }

    /// Keeps what a look at the free space found (`room`: beyond the reserve and the
    /// write), for [`Engine::room_seen_for`] while it is plenty.
    fn remember_room(&self, room: Option<u64>) {
        *self
            .space_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = room
            .filter(|room| *room >= SPACE_TRUSTED_ROOM)
            .map(|room| SpaceSeen {
                at: std::time::Instant::now(),
                room,
            });
    }

    /// Whether [`Engine::start_flush`] flushes on the calling thread (a current-thread
    /// runtime: `dags test`) rather than on a blocking thread.
    pub(super) fn flushes_inline() -> bool {
        let flavor = tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor());
        matches!(flavor, Ok(tokio::runtime::RuntimeFlavor::CurrentThread))
    }

    /// Returns once the state database's filesystem has room for `size` more bytes; with
    /// `wait_for_space` it waits for that (warning once), otherwise it fails at once.
    async fn room_for(&self, size: u64) -> Result<(), NoSpace> {
        if self.room_seen_for(size) {
            return Ok(());
        }
        let mut warned = false;
        loop {
            match check_space_room(&self.state_dir, size) {
                Ok(room) => {
                    self.remember_room(room);
                    if warned {
                        tracing::warn!(path = %self.state_dir.display(), "there is room for the state database again; runs go on");
                    }
                    return Ok(());
                }
                Err(e) if self.wait_for_space => {
                    if !warned {
                        tracing::error!(path = %e.path.display(), free = e.free, "{e}; runs wait until space is freed");
                        warned = true;
                    }
                    tokio::time::sleep(SPACE_RECHECK).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod path_tests {
    use super::*;
    use crate::taskrun::job_key;

    #[test]
    fn ids_cannot_escape_the_logs_folder_or_the_job_storage() {
        let logs = Path::new("/home/logs");
        for (dag, run, task) in [
            ("../../etc", "../x", "/abs"),
            ("..", "..", ".."),
            ("a\0b", "r\\..\\..", "t/../../u"),
        ] {
            let p = Engine::log_path(logs, dag, run, task, -1, 1);
            assert!(p.starts_with(logs), "{}", p.display());
            // Exactly the four segments lithoflow writes, whatever the ids hold.
            assert_eq!(p.strip_prefix(logs).map(|r| r.components().count()), Ok(4));
            assert!(
                p.components()
                    .all(|c| !matches!(c, std::path::Component::ParentDir)),
                "{}",
                p.display()
            );
            assert_eq!(job_key(dag, run, task, -1, 1).split('/').count(), 4);
        }
    }
}
