//! The run engine: one tokio task owns a DAG run's state and reacts to task completions,
//! retry timers and the run's timeout. When a task finishes, its downstream tasks are
//! decided (trigger rules) and dispatched at once, without a polling sleep.
//!
//! Every state change is written to the store, and flushed, before its side effect (a
//! dispatch); a run left running by a killed process is recovered by running it again:
//! finished tasks keep their state and XCom, tasks that were running run again on the
//! same try number (a kill is not the task's failure, so it costs no retry).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use lithoflow_executor::{ExecutorConfig, FunctionExecutor, JobOutcome};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::store::{DagRunRecord, RunState, Store, TaskInstanceRecord, TaskState};
use crate::taskrun::{self, TaskError};
use lithoflow_dag::template;
use lithoflow_dag::trigger::{self, Decision, UpstreamCounts};
use lithoflow_dag::{Dag, ExtraParams, Iterdata, Task, TaskKind};

/// What a running DAG run reports, for live displays.
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// A task instance changed state.
    Task {
        /// The task.
        task_id: String,
        /// Its new state.
        state: TaskState,
        /// Its try number.
        try_number: u32,
    },
    /// Progress of a running task's executor job.
    Progress {
        /// The task.
        task_id: String,
        /// The job's progress.
        progress: lithoflow_executor::Progress,
    },
    /// The run ended.
    Finished(RunState),
}

/// Commands a scheduler sends to a run it is running.
#[derive(Debug, Clone)]
pub enum RunControl {
    /// Start nothing new; let running tries finish until the deadline, then stop them.
    /// The run is left running in the store, to be recovered by the next start.
    Drain {
        /// When running tries are stopped.
        deadline: tokio::time::Instant,
    },
    /// Reset these task instances (Airflow's clear): finished ones at once, running
    /// ones once their try is stopped; they run again with a fresh set of retries.
    Clear(Vec<String>),
}

/// Runs DAG runs through an executor, with state in a store.
pub struct Engine {
    store: Arc<Store>,
    executor: Arc<FunctionExecutor>,
    home_config: ExecutorConfig,
    logs_dir: PathBuf,
    wait_for_past: bool,
    /// The state database's folder, whose filesystem must keep [`STATE_SPACE_RESERVE`]
    /// free before anything is written to the store.
    state_dir: PathBuf,
    wait_for_space: bool,
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
pub const STATE_SPACE_RESERVE: u64 = 1024 * 1024;

/// How often a run waiting for free space looks again.
const SPACE_RECHECK: Duration = Duration::from_secs(1);

/// The state database's filesystem has too little free space to write to it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("state database at {}: {}", path.display(), self.reason())]
pub struct NoSpace {
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
    pub fn reason(&self) -> String {
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
pub fn check_space(dir: &Path, need: u64) -> Result<(), NoSpace> {
    let Ok(st) = nix::sys::statvfs::statvfs(dir) else {
        return Ok(());
    };
    #[expect(
        clippy::useless_conversion,
        reason = "the block counts' types differ between platforms"
    )]
    let free = u64::from(st.blocks_available()).saturating_mul(u64::from(st.fragment_size()));
    if free >= STATE_SPACE_RESERVE.saturating_add(need) {
        Ok(())
    } else {
        Err(NoSpace {
            path: dir.to_path_buf(),
            free,
            reserve: STATE_SPACE_RESERVE,
            need,
        })
    }
}

/// The result of a task's try, as the run sees it.
struct TryResult {
    task_id: String,
    try_number: u32,
    value: Result<Value, TaskError>,
    job: Option<Arc<JobOutcome>>,
    duration_s: f64,
    /// Output for the log that no executor job holds (a bash command's).
    output: Option<String>,
}

impl Engine {
    /// An engine over `store` and `executor`; logs go under `logs_dir`.
    pub fn new(
        store: Arc<Store>,
        executor: Arc<FunctionExecutor>,
        home_config: ExecutorConfig,
        logs_dir: PathBuf,
    ) -> Engine {
        // The home holds `logs/` and `state/`.
        let state_dir = logs_dir
            .parent()
            .map_or_else(|| PathBuf::from("state"), |home| home.join("state"));
        Engine {
            store,
            executor,
            home_config,
            logs_dir,
            wait_for_past: true,
            state_dir,
            wait_for_space: false,
        }
    }

    /// Whether a state write that finds too little free space on the state database's
    /// filesystem waits until there is enough (the scheduler: the run pauses and goes on
    /// once space is freed, nothing lost) or fails the run's engine with [`NoSpace`]
    /// (`dags test`, false by default).
    pub fn wait_for_space(mut self, wait: bool) -> Engine {
        self.wait_for_space = wait;
        self
    }

    /// Whether a run whose only runnable tasks wait for `depends_on_past` keeps waiting
    /// (Airflow's scheduler: the run stays running, true by default) or fails at once
    /// with a note naming them (for `dags test`, which cannot wait for another run).
    pub fn wait_for_past(mut self, wait: bool) -> Engine {
        self.wait_for_past = wait;
        self
    }

    /// The per-try log file of a task instance.
    pub fn log_path(
        logs_dir: &Path,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        try_number: u32,
    ) -> PathBuf {
        // Every id becomes one `name=value` segment: it can neither hold a `/` nor be `..`,
        // so no id escapes the logs folder (the ids are checked before they get here too).
        logs_dir
            .join(format!("dag_id={}", sanitize(dag_id)))
            .join(format!("run_id={}", sanitize(run_id)))
            .join(format!("task_id={}", sanitize(task_id)))
            .join(format!("attempt={try_number}.log"))
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

    /// Returns once the state database's filesystem has room for `size` more bytes; with
    /// `wait_for_space` it waits for that (warning once), otherwise it fails at once.
    async fn room_for(&self, size: u64) -> Result<(), NoSpace> {
        let mut warned = false;
        loop {
            match check_space(&self.state_dir, size) {
                Ok(()) => {
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

    /// Runs (or resumes) a run until it reaches a final state.
    pub async fn run(
        &self,
        dag: Arc<Dag>,
        run_id: &str,
        events: Option<mpsc::UnboundedSender<RunEvent>>,
    ) -> anyhow::Result<DagRunRecord> {
        self.run_controlled(dag, run_id, events, None).await
    }

    /// Runs (or resumes) a run until it reaches a final state, or until a
    /// [`RunControl::Drain`] stops it (the returned run is then still running).
    pub async fn run_controlled(
        &self,
        dag: Arc<Dag>,
        run_id: &str,
        events: Option<mpsc::UnboundedSender<RunEvent>>,
        mut control: Option<mpsc::UnboundedReceiver<RunControl>>,
    ) -> anyhow::Result<DagRunRecord> {
        let emit = |e: RunEvent| {
            if let Some(tx) = &events {
                let _ = tx.send(e);
            }
        };
        let mut run = self
            .store
            .run(&dag.dag_id, run_id)?
            .with_context(|| format!("DAG `{}` has no run `{run_id}`", dag.dag_id))?;
        if run.state.is_finished() {
            return Ok(run);
        }
        // Task instances: create what is missing; recover what a killed process left running.
        let mut tis: HashMap<String, TaskInstanceRecord> = self
            .store
            .tis(&dag.dag_id, run_id)?
            .into_iter()
            .map(|t| (t.task_id.clone(), t))
            .collect();
        for task in &dag.tasks {
            let ti = tis
                .entry(task.task_id.clone())
                .or_insert_with(|| TaskInstanceRecord::new(&task.task_id, task.retries + 1));
            if matches!(
                ti.state,
                TaskState::Running | TaskState::Queued | TaskState::Scheduled
            ) {
                tracing::warn!(dag = %dag.dag_id, run = %run_id, task = %task.task_id, attempt = ti.try_number, "recovering a task that was running when lithoflow stopped; it runs again on the same try");
                ti.state = TaskState::None;
                ti.try_number = ti.try_number.saturating_sub(1);
                ti.job_id = None;
            }
        }
        let now = Utc::now();
        run.state = RunState::Running;
        run.start_date.get_or_insert(now);
        {
            let (run, tis) = (run.clone(), tis.values().cloned().collect::<Vec<_>>());
            self.persist(move |s| {
                s.put_run(&run)?;
                for ti in &tis {
                    s.put_ti(&run.dag_id, &run.run_id, ti)?;
                }
                Ok(())
            })
            .await?;
        }
        let deadline = dag.dagrun_timeout.and_then(|t| {
            let start = run.start_date.unwrap_or(now);
            chrono::Duration::from_std(t).ok().map(|t| start + t)
        });
        let mut running: JoinSet<TryResult> = JoinSet::new();
        let mut jobs: HashMap<String, lithoflow_executor::Job> = HashMap::new();
        let (job_tx, mut job_rx) = mpsc::unbounded_channel::<(String, lithoflow_executor::Job)>();
        let mut drain: Option<tokio::time::Instant> = None;
        let mut gates: HashMap<String, Arc<std::sync::Mutex<bool>>> = HashMap::new();
        let mut restarting: std::collections::HashSet<String> = std::collections::HashSet::new();

        loop {
            // Decide every undecided task; dispatch what may run.
            let now = Utc::now();
            let mut changed: Vec<TaskInstanceRecord> = Vec::new();
            let mut to_dispatch: Vec<String> = Vec::new();
            let mut blocked_on_past: Vec<String> = Vec::new();
            let mut progress = true;
            while progress {
                progress = false;
                // Running tasks; the ones chosen for dispatch in this pass are added below.
                let active = tis
                    .values()
                    .filter(|t| t.state == TaskState::Running)
                    .count();
                for task in &dag.tasks {
                    let Some(ti) = tis.get(&task.task_id) else {
                        continue;
                    };
                    let waiting_retry = ti.state == TaskState::UpForRetry
                        && ti.next_retry_at.is_some_and(|at| at > now);
                    if !matches!(ti.state, TaskState::None | TaskState::UpForRetry)
                        || waiting_retry
                        || to_dispatch.contains(&task.task_id)
                    {
                        continue;
                    }
                    let counts = upstream_counts(&dag, task, &tis);
                    let decision = trigger::evaluate(task.trigger_rule, counts);
                    let new_state = match decision {
                        Decision::Skip => Some(TaskState::Skipped),
                        Decision::UpstreamFailed => Some(TaskState::UpstreamFailed),
                        Decision::Wait => None,
                        Decision::Run => {
                            if task.depends_on_past && !self.past_met(&dag, &run, &task.task_id)? {
                                if !blocked_on_past.contains(&task.task_id) {
                                    blocked_on_past.push(task.task_id.clone());
                                }
                                None
                            } else if drain.is_none()
                                && active + to_dispatch.len() < dag.max_active_tasks as usize
                            {
                                to_dispatch.push(task.task_id.clone());
                                None
                            } else {
                                None
                            }
                        }
                    };
                    if let Some(state) = new_state
                        && let Some(ti) = tis.get_mut(&task.task_id)
                    {
                        ti.state = state;
                        ti.end_date = Some(now);
                        changed.push(ti.clone());
                        emit(RunEvent::Task {
                            task_id: task.task_id.clone(),
                            state,
                            try_number: ti.try_number,
                        });
                        progress = true;
                    }
                }
            }
            for task_id in &to_dispatch {
                if let Some(ti) = tis.get_mut(task_id) {
                    ti.state = TaskState::Running;
                    ti.try_number += 1;
                    ti.start_date = Some(now);
                    ti.end_date = None;
                    ti.error = None;
                    ti.next_retry_at = None;
                    changed.push(ti.clone());
                    emit(RunEvent::Task {
                        task_id: task_id.clone(),
                        state: TaskState::Running,
                        try_number: ti.try_number,
                    });
                }
            }
            if !changed.is_empty() {
                let (d, r) = (dag.dag_id.clone(), run.run_id.clone());
                // Durable before the dispatch.
                self.persist(move |s| changed.iter().try_for_each(|ti| s.put_ti(&d, &r, ti)))
                    .await?;
            }
            for task_id in to_dispatch {
                let Some(task) = dag.task(&task_id).cloned() else {
                    continue;
                };
                let try_number = tis.get(&task_id).map_or(1, |t| t.try_number);
                self.dispatch(&dag, &run, task, try_number, &mut running, job_tx.clone())?;
            }

            if drain.is_some() && running.is_empty() {
                // Left running in the store; the next start recovers it.
                return Ok(run);
            }
            // Finished?
            if tis.values().all(|t| t.state.is_finished()) {
                let state = leaves_state(&dag, &tis);
                return self.finish(run, state, None, &emit).await;
            }
            let mut recheck_past = false;
            if running.is_empty() && drain.is_none() {
                let next_retry = tis
                    .values()
                    .filter(|t| t.state == TaskState::UpForRetry)
                    .filter_map(|t| t.next_retry_at)
                    .min();
                if next_retry.is_none() {
                    // In DAG order, for a stable message.
                    let stuck: Vec<&str> = dag
                        .tasks
                        .iter()
                        .map(|t| t.task_id.as_str())
                        .filter(|id| tis.get(*id).is_some_and(|t| !t.state.is_finished()))
                        .collect();
                    if !blocked_on_past.is_empty() && self.wait_for_past {
                        // Airflow keeps such a run running until the past is fixed
                        // (or dagrun_timeout); look again now and then.
                        recheck_past = true;
                    } else {
                        // Task instances keep their states, as in Airflow's deadlock branch.
                        let note = if blocked_on_past.is_empty() {
                            format!("deadlock: no task can run (waiting: {})", stuck.join(", "))
                        } else {
                            format!(
                                "depends_on_past not met: {} did not succeed in the previous run (waiting: {})",
                                blocked_on_past.join(", "),
                                stuck.join(", ")
                            )
                        };
                        return self.finish(run, RunState::Failed, Some(note), &emit).await;
                    }
                }
            }

            // Wait for the next event.
            let retry_at = tis
                .values()
                .filter(|t| t.state == TaskState::UpForRetry)
                .filter_map(|t| t.next_retry_at)
                .min();
            let sleep_until = |at: Option<DateTime<Utc>>| {
                let d = at.map(|at| (at - Utc::now()).to_std().unwrap_or(Duration::ZERO));
                async move {
                    match d {
                        Some(d) => tokio::time::sleep(d).await,
                        None => std::future::pending::<()>().await,
                    }
                }
            };
            let drain_deadline = async move {
                match drain {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending::<()>().await,
                }
            };
            let next_control = async {
                match control.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some((task_id, job)) = job_rx.recv() => {
                    if let Some(tx) = &events {
                        let gate = Arc::new(std::sync::Mutex::new(false));
                        forward_progress(task_id.clone(), &job, tx.clone(), Arc::clone(&gate));
                        gates.insert(task_id.clone(), gate);
                    }
                    jobs.insert(task_id, job);
                }
                Some(joined) = running.join_next() => {
                    let Ok(result) = joined else { continue };
                    let job = jobs.remove(&result.task_id);
                    // The job's last figures, then (in `complete`) the task's new state:
                    // the forwarder is closed first, so no progress follows the state.
                    if let Some(gate) = gates.remove(&result.task_id) {
                        let mut closed = gate.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        *closed = true;
                        if let Some(job) = &job {
                            let progress = job.progress().borrow().clone();
                            if progress.total > 0 {
                                emit(RunEvent::Progress { task_id: result.task_id.clone(), progress });
                            }
                        }
                    }
                    if restarting.remove(&result.task_id) {
                        // Cleared while running: the try's outcome is dropped.
                        self.clear_tis(&dag, &run, &mut tis, std::slice::from_ref(&result.task_id), &emit).await?;
                        continue;
                    }
                    self.complete(&dag, &run, &mut tis, result, &emit).await?;
                }
                cmd = next_control => match cmd {
                    Some(RunControl::Drain { deadline }) => drain = Some(deadline),
                    Some(RunControl::Clear(task_ids)) => {
                        let mut now_ids = Vec::new();
                        for id in task_ids {
                            if tis.get(&id).is_some_and(|t| t.state == TaskState::Running) {
                                if let Some(job) = jobs.get(&id) {
                                    job.cancel();
                                }
                                restarting.insert(id);
                            } else {
                                now_ids.push(id);
                            }
                        }
                        self.clear_tis(&dag, &run, &mut tis, &now_ids, &emit).await?;
                    }
                    None => control = None,
                },
                () = drain_deadline => {
                    for job in jobs.values() {
                        job.cancel();
                    }
                    running.abort_all();
                    // Their task instances stay running in the store: recovered (same try) on the next start.
                    return Ok(run);
                }
                                () = sleep_until(retry_at) => {}
                () = tokio::time::sleep(PAST_RECHECK), if recheck_past => {}
                () = sleep_until(deadline) => {
                    for job in jobs.values() {
                        job.cancel();
                    }
                    running.abort_all();
                    for ti in tis.values_mut().filter(|t| !t.state.is_finished()) {
                        ti.state = TaskState::Skipped;
                        ti.end_date = Some(Utc::now());
                    }
                    self.save_all(&run, &tis).await?;
                    let note = format!("dagrun_timeout of {} exceeded", dag.dagrun_timeout.map(lithoflow_dag::duration::format).unwrap_or_default());
                    return self.finish(run, RunState::Failed, Some(note), &emit).await;
                }
            }
        }
    }

    /// Resets task instances as Airflow's clear does and persists them.
    async fn clear_tis(
        &self,
        dag: &Dag,
        run: &DagRunRecord,
        tis: &mut HashMap<String, TaskInstanceRecord>,
        task_ids: &[String],
        emit: &impl Fn(RunEvent),
    ) -> anyhow::Result<()> {
        let mut changed = Vec::new();
        for id in task_ids {
            if let Some(ti) = tis.get_mut(id) {
                crate::ops::reset_ti(dag, ti);
                changed.push(ti.clone());
                emit(RunEvent::Task {
                    task_id: id.clone(),
                    state: ti.state,
                    try_number: ti.try_number,
                });
            }
        }
        let (d, r) = (dag.dag_id.clone(), run.run_id.clone());
        self.persist(move |s| {
            for ti in &changed {
                s.put_ti(&d, &r, ti)?;
                s.delete_xcom(&d, &r, &ti.task_id, "return_value")?;
            }
            Ok(())
        })
        .await
    }

    async fn save_all(
        &self,
        run: &DagRunRecord,
        tis: &HashMap<String, TaskInstanceRecord>,
    ) -> anyhow::Result<()> {
        let (d, r) = (run.dag_id.clone(), run.run_id.clone());
        let all: Vec<TaskInstanceRecord> = tis.values().cloned().collect();
        self.persist(move |s| all.iter().try_for_each(|ti| s.put_ti(&d, &r, ti)))
            .await
    }

    async fn finish(
        &self,
        mut run: DagRunRecord,
        state: RunState,
        note: Option<String>,
        emit: &impl Fn(RunEvent),
    ) -> anyhow::Result<DagRunRecord> {
        run.state = state;
        run.end_date = Some(Utc::now());
        run.note = note;
        let saved = run.clone();
        self.persist(move |s| s.put_run(&saved)).await?;
        emit(RunEvent::Finished(state));
        Ok(run)
    }

    /// Whether `depends_on_past` is met: the same task in the previous run (by logical
    /// date) succeeded or was skipped; the first run always passes.
    fn past_met(&self, dag: &Dag, run: &DagRunRecord, task_id: &str) -> anyhow::Result<bool> {
        let Some(date) = run.logical_date else {
            return Ok(true);
        };
        let previous = self
            .store
            .runs(&dag.dag_id)?
            .into_iter()
            .filter(|r| r.logical_date.is_some_and(|d| d < date))
            .max_by_key(|r| r.logical_date);
        let Some(prev) = previous else {
            return Ok(true);
        };
        Ok(self
            .store
            .ti(&dag.dag_id, &prev.run_id, task_id)?
            .is_some_and(|t| matches!(t.state, TaskState::Success | TaskState::Skipped)))
    }

    /// Starts a task's try on the executor.
    fn dispatch(
        &self,
        dag: &Arc<Dag>,
        run: &DagRunRecord,
        task: Task,
        try_number: u32,
        running: &mut JoinSet<TryResult>,
        job_tx: mpsc::UnboundedSender<(String, lithoflow_executor::Job)>,
    ) -> anyhow::Result<()> {
        // Upstream values for data_from_task / iterdata_from_task.
        let mut xcom = HashMap::new();
        for dep in task.dependencies() {
            if let Some(v) = self
                .store
                .xcom(&dag.dag_id, &run.run_id, dep, "return_value")?
            {
                xcom.insert(dep.to_owned(), v);
            }
        }
        let cfg = taskrun::executor_config(&self.home_config, dag, &task);
        let job_key = job_key(&dag.dag_id, &run.run_id, &task.task_id, try_number);
        let ctx = template_context(dag, run, &task.task_id, try_number);
        let executor = Arc::clone(&self.executor);
        let task_id = task.task_id.clone();
        let dag = Arc::clone(dag);
        if matches!(task.kind, TaskKind::Bash(_) | TaskKind::Empty) {
            running.spawn(async move {
                let started = std::time::Instant::now();
                let (value, output) = match render_task(&task, &ctx) {
                    Ok(t) => taskrun::run_local(&dag, &t).await,
                    Err(e) => (Err(TaskError::Input(e)), None),
                };
                TryResult {
                    task_id,
                    try_number,
                    value,
                    job: None,
                    duration_s: started.elapsed().as_secs_f64(),
                    output,
                }
            });
            return Ok(());
        }
        let context = task.python().map(|_| ctx.json());
        running.spawn(async move {
            let started = std::time::Instant::now();
            // Upstream values offloaded to S3 are read back here (taskrun::prepare).
            let prepared = match render_task(&task, &ctx).map_err(TaskError::Input) {
                Ok(t) => taskrun::prepare(&executor, &dag, &t, &cfg, xcom, job_key, context)
                    .await
                    .map(|spec| (t, spec)),
                Err(e) => Err(e),
            };
            let (task, spec) = match prepared {
                Ok(p) => p,
                Err(e) => {
                    return TryResult {
                        task_id,
                        try_number,
                        value: Err(e),
                        job: None,
                        duration_s: 0.0,
                        output: None,
                    };
                }
            };
            let job = taskrun::start(&executor, spec);
            let _ = job_tx.send((task_id.clone(), job.clone()));
            let finished = taskrun::finish(&executor, &task, &job);
            let outcome = match task.execution_timeout {
                Some(limit) => match tokio::time::timeout(limit, finished).await {
                    Ok(o) => o,
                    Err(_) => {
                        job.cancel();
                        let message = format!(
                            "the task exceeded its execution_timeout of {}; its calls were stopped",
                            lithoflow_dag::duration::format(limit)
                        );
                        return TryResult {
                            task_id,
                            try_number,
                            value: Err(TaskError::Input(message)),
                            job: None,
                            duration_s: started.elapsed().as_secs_f64(),
                            output: None,
                        };
                    }
                },
                None => finished.await,
            };
            TryResult {
                task_id,
                try_number,
                value: outcome.return_value,
                job: outcome.job,
                duration_s: started.elapsed().as_secs_f64(),
                output: None,
            }
        });
        Ok(())
    }

    /// Records a finished try: XCom and state first, then the log file.
    async fn complete(
        &self,
        dag: &Dag,
        run: &DagRunRecord,
        tis: &mut HashMap<String, TaskInstanceRecord>,
        result: TryResult,
        emit: &impl Fn(RunEvent),
    ) -> anyhow::Result<()> {
        let Some(ti) = tis.get_mut(&result.task_id) else {
            return Ok(());
        };
        let Some(task) = dag.task(&result.task_id) else {
            return Ok(());
        };
        if ti.try_number != result.try_number || ti.state != TaskState::Running {
            return Ok(());
        }
        let now = Utc::now();
        ti.end_date = Some(now);
        ti.duration_s = Some(result.duration_s);
        if let Some(job) = &result.job {
            ti.job_id = Some(job.job_id.clone());
            ti.calls_total = job.calls.len();
            ti.calls_failed = job.calls.iter().filter(|c| c.error.is_some()).count();
            ti.calls_done = ti.calls_total - ti.calls_failed;
        }
        let mut xcom = None;
        // A branch or short_circuit task that succeeded skips some of its downstream tasks.
        let mut to_skip = Vec::new();
        let value = match &result.value {
            Ok(v) => skips_after(dag, task, v).map(|skips| {
                to_skip = skips;
                v
            }),
            Err(e) => Err(e.clone()),
        };
        match &value {
            Ok(v) => {
                ti.state = TaskState::Success;
                // An empty task pushes nothing, as EmptyOperator.
                if !matches!(task.kind, TaskKind::Empty) {
                    xcom = Some((*v).clone());
                }
            }
            Err(TaskError::Call(e)) if e.exc_type == "AirflowSkipException" => {
                // As in Airflow, a skip is not an error; its message is in the log.
                ti.state = TaskState::Skipped;
                ti.error = None;
            }
            Err(TaskError::Skip(_)) => {
                ti.state = TaskState::Skipped;
                ti.error = None;
            }
            Err(e) => {
                ti.error = Some(e.to_string());
                if ti.try_number < ti.max_tries {
                    ti.state = TaskState::UpForRetry;
                    let delay = lithoflow_dag::retry::retry_delay(
                        task,
                        &dag.dag_id,
                        run.logical_date,
                        ti.try_number,
                    );
                    ti.next_retry_at =
                        Some(now + chrono::Duration::from_std(delay).unwrap_or_default());
                } else {
                    ti.state = TaskState::Failed;
                }
            }
        }
        // The log first: a kill after it re-runs the try and rewrites the log; a kill
        // between a recorded state and its log would lose the log.
        let logged = self.write_log(dag, run, ti, &result, value.as_ref().map(|v| *v));
        if let Err(e) = &logged {
            tracing::warn!(dag = %dag.dag_id, task = %ti.task_id, error = %e, "failed to write the task's log; trying again once the state is recorded");
        }
        let xcom_size = xcom
            .as_ref()
            .and_then(|v| serde_json::to_vec(v).ok())
            .map_or(0, |b| b.len() as u64);
        let saved = ti.clone();
        let mut skipped = Vec::new();
        for id in &to_skip {
            if let Some(t) = tis.get_mut(id)
                && t.state == TaskState::None
            {
                t.state = TaskState::Skipped;
                t.end_date = Some(now);
                skipped.push(t.clone());
            }
        }
        let (d, r) = (dag.dag_id.clone(), run.run_id.clone());
        let events: Vec<RunEvent> = std::iter::once(&saved)
            .chain(&skipped)
            .map(|t| RunEvent::Task {
                task_id: t.task_id.clone(),
                state: t.state,
                try_number: t.try_number,
            })
            .collect();
        // The branch's success and the skips it decides are stored together.
        self.persist_sized(xcom_size, move |s| {
            if let Some(v) = &xcom {
                s.put_xcom(&d, &r, &saved.task_id, "return_value", v)?;
            }
            s.put_ti(&d, &r, &saved)?;
            skipped.iter().try_for_each(|t| s.put_ti(&d, &r, t))
        })
        .await?;
        if logged.is_err() {
            // The disk was full, and the state write found room since (it waits for
            // room in the scheduler): the log is written after all.
            if let Some(ti) = tis.get(&result.task_id)
                && let Err(e) = self.write_log(dag, run, ti, &result, value.as_ref().map(|v| *v))
            {
                tracing::warn!(dag = %dag.dag_id, task = %ti.task_id, error = %e, "failed to write the task's log");
            }
        }
        for e in events {
            emit(e);
        }
        Ok(())
    }

    fn write_log(
        &self,
        dag: &Dag,
        run: &DagRunRecord,
        ti: &TaskInstanceRecord,
        result: &TryResult,
        value: Result<&Value, &TaskError>,
    ) -> std::io::Result<()> {
        let path = Self::log_path(
            &self.logs_dir,
            &dag.dag_id,
            &run.run_id,
            &ti.task_id,
            result.try_number,
        );
        Self::write_log_to(&path, dag, run, ti, result, value)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
    }

    fn write_log_to(
        path: &Path,
        dag: &Dag,
        run: &DagRunRecord,
        ti: &TaskInstanceRecord,
        result: &TryResult,
        value: Result<&Value, &TaskError>,
    ) -> std::io::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // Buffered: a return value is formatted a number at a time, and a 100,000-call
        // map's log was 400,000 `write` calls on the scheduler's async threads.
        let mut f = std::io::BufWriter::with_capacity(64 * 1024, std::fs::File::create(path)?);
        let start = ti.start_date.map(|d| d.to_rfc3339()).unwrap_or_default();
        writeln!(
            f,
            "[{start}] {}.{} run {} try {}/{}",
            dag.dag_id, ti.task_id, run.run_id, result.try_number, ti.max_tries
        )?;
        if let Some(job) = &result.job {
            taskrun::write_call_output(&mut f, job)?;
        }
        if let Some(output) = &result.output {
            f.write_all(output.as_bytes())?;
        }
        let end = ti.end_date.map(|d| d.to_rfc3339()).unwrap_or_default();
        match value {
            Ok(v) => writeln!(f, "[{end}] Done. Returned value was: {v}")?,
            Err(TaskError::Skip(m)) => writeln!(f, "[{end}] {m}")?,
            Err(e) => writeln!(f, "[{end}] Task failed: {e}")?,
        }
        writeln!(
            f,
            "[{end}] state: {} after {:.3}s",
            ti.state.name(),
            result.duration_s
        )?;
        f.flush()
    }
}

/// Sends a job's progress as run events (at most ten a second) until the engine closes
/// the gate, which it does before it records the task's outcome.
fn forward_progress(
    task_id: String,
    job: &lithoflow_executor::Job,
    tx: mpsc::UnboundedSender<RunEvent>,
    gate: Arc<std::sync::Mutex<bool>>,
) {
    let mut rx = job.progress();
    tokio::spawn(async move {
        loop {
            {
                let closed = gate
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if *closed {
                    return;
                }
                let progress = rx.borrow_and_update().clone();
                if progress.total > 0
                    && tx
                        .send(RunEvent::Progress {
                            task_id: task_id.clone(),
                            progress,
                        })
                        .is_err()
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            if rx.changed().await.is_err() {
                return;
            }
        }
    });
}

/// Counts the direct upstream tasks' states.
fn upstream_counts(
    dag: &Dag,
    task: &Task,
    tis: &HashMap<String, TaskInstanceRecord>,
) -> UpstreamCounts {
    let mut c = UpstreamCounts::default();
    for up in dag.graph.upstream(&task.task_id) {
        c.upstream += 1;
        match tis.get(up).map(|t| t.state) {
            Some(TaskState::Success) => c.success += 1,
            Some(TaskState::Skipped) => c.skipped += 1,
            Some(TaskState::Failed) => c.failed += 1,
            Some(TaskState::UpstreamFailed) => c.upstream_failed += 1,
            _ => {}
        }
    }
    c
}

/// The run's state from its leaf tasks: any leaf failed or upstream_failed -> failed;
/// otherwise (all success or skipped) -> success.
fn leaves_state(dag: &Dag, tis: &HashMap<String, TaskInstanceRecord>) -> RunState {
    let failed = dag
        .tasks
        .iter()
        .filter(|t| dag.graph.downstream(&t.task_id).is_empty())
        .any(|t| {
            tis.get(&t.task_id)
                .is_some_and(|ti| matches!(ti.state, TaskState::Failed | TaskState::UpstreamFailed))
        });
    if failed {
        RunState::Failed
    } else {
        RunState::Success
    }
}

/// The tasks a successful branch or short_circuit task skips, as Airflow's SkipMixin:
/// a branch skips its direct downstream tasks it did not name; a short_circuit whose
/// value is falsy skips every downstream task (`ignore_downstream_trigger_rules`, the
/// default) or only the direct ones. A branch naming unknown tasks fails.
fn skips_after(dag: &Dag, task: &Task, value: &Value) -> Result<Vec<String>, TaskError> {
    let direct = || -> Vec<String> {
        dag.graph
            .downstream(&task.task_id)
            .into_iter()
            .map(str::to_owned)
            .collect()
    };
    match &task.kind {
        TaskKind::Branch(_) => {
            let follow = taskrun::branch_targets(dag, task, value)?;
            Ok(direct()
                .into_iter()
                .filter(|d| !follow.contains(d))
                .collect())
        }
        TaskKind::ShortCircuit {
            ignore_downstream_trigger_rules,
            ..
        } if !taskrun::truthy(value) => {
            if !ignore_downstream_trigger_rules {
                return Ok(direct());
            }
            let mut seen: Vec<String> = Vec::new();
            let mut queue = direct();
            while let Some(id) = queue.pop() {
                if seen.contains(&id) {
                    continue;
                }
                queue.extend(dag.graph.downstream(&id).into_iter().map(str::to_owned));
                seen.push(id);
            }
            Ok(seen)
        }
        _ => Ok(Vec::new()),
    }
}

fn template_context(
    dag: &Dag,
    run: &DagRunRecord,
    task_id: &str,
    try_number: u32,
) -> template::Context {
    let logical = run.logical_date.unwrap_or(run.run_after);
    let mut params = dag.params.clone();
    for (k, v) in &run.conf {
        params.insert(k.clone(), v.clone());
    }
    template::Context {
        dag_id: dag.dag_id.clone(),
        task_id: task_id.to_owned(),
        run_id: run.run_id.clone(),
        logical_date: logical,
        data_interval_start: run.data_interval_start.unwrap_or(logical),
        data_interval_end: run.data_interval_end.unwrap_or(logical),
        params,
        conf: run.conf.clone(),
        try_number,
    }
}

/// The task with its templates rendered.
pub(crate) fn render_task(task: &Task, ctx: &template::Context) -> Result<Task, String> {
    let mut t = task.clone();
    let render = |v: &Value| template::render(v, ctx);
    match &mut t.kind {
        TaskKind::CallAsync(c) => c.data = render(&c.data)?,
        TaskKind::Map(m) => render_map(m, &render)?,
        TaskKind::MapReduce(mr) => render_map(&mut mr.map, &render)?,
        TaskKind::Python(p) | TaskKind::Branch(p) | TaskKind::ShortCircuit { python: p, .. } => {
            // Airflow's template_fields of PythonOperator.
            if let Value::Array(a) = render(&Value::Array(std::mem::take(&mut p.op_args)))? {
                p.op_args = a;
            }
            if let Value::Object(m) = render(&Value::Object(std::mem::take(&mut p.op_kwargs)))? {
                p.op_kwargs = m;
            }
            if let Some(td) = p.templates_dict.take()
                && let Value::Object(m) = render(&Value::Object(td))?
            {
                p.templates_dict = Some(m);
            }
        }
        TaskKind::Bash(b) => {
            // BashOperator's template_fields: bash_command, env, cwd.
            if let Value::String(c) = render(&Value::String(std::mem::take(&mut b.bash_command)))? {
                b.bash_command = c;
            }
            if let Some(env) = b.env.take()
                && let Value::Object(m) = render(&Value::Object(env))?
            {
                b.env = Some(m);
            }
            if let Some(cwd) = b.cwd.take()
                && let Value::String(c) = render(&Value::String(cwd))?
            {
                b.cwd = Some(c);
            }
        }
        TaskKind::Empty => {}
    }
    if let Value::Object(env) = render(&Value::Object(t.common.extra_env.clone()))? {
        t.common.extra_env = env;
    }
    Ok(t)
}

fn render_map(
    m: &mut lithoflow_dag::MapSpec,
    render: &impl Fn(&Value) -> Result<Value, String>,
) -> Result<(), String> {
    if let Iterdata::Literal(items) = &mut m.iterdata
        && let Value::Array(rendered) = render(&Value::Array(std::mem::take(items)))?
    {
        *items = rendered;
    }
    m.extra_params = match m.extra_params.take() {
        Some(ExtraParams::Keyword(k)) => match render(&Value::Object(k))? {
            Value::Object(k) => Some(ExtraParams::Keyword(k)),
            _ => None,
        },
        Some(ExtraParams::Positional(p)) => match render(&Value::Array(p))? {
            Value::Array(p) => Some(ExtraParams::Positional(p)),
            _ => None,
        },
        None => None,
    };
    Ok(())
}

/// The executor job key of a try: where its data lives in storage
/// (`lithoflow.jobs/<job key>/`).
pub fn job_key(dag_id: &str, run_id: &str, task_id: &str, try_number: u32) -> String {
    format!(
        "{}/{}/{}/{try_number}",
        sanitize(dag_id),
        sanitize(run_id),
        sanitize(task_id)
    )
}

/// An id as one path segment: `/`, `\` and NUL become `_`.
fn sanitize(id: &str) -> String {
    id.chars()
        .map(|c| {
            if matches!(c, '/' | '\\' | '\0') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod path_tests {
    use super::*;

    #[test]
    fn ids_cannot_escape_the_logs_folder_or_the_job_storage() {
        let logs = Path::new("/home/logs");
        for (dag, run, task) in [
            ("../../etc", "../x", "/abs"),
            ("..", "..", ".."),
            ("a\0b", "r\\..\\..", "t/../../u"),
        ] {
            let p = Engine::log_path(logs, dag, run, task, 1);
            assert!(p.starts_with(logs), "{}", p.display());
            // Exactly the four segments lithoflow writes, whatever the ids hold.
            assert_eq!(p.strip_prefix(logs).map(|r| r.components().count()), Ok(4));
            assert!(
                p.components()
                    .all(|c| !matches!(c, std::path::Component::ParentDir)),
                "{}",
                p.display()
            );
            assert_eq!(job_key(dag, run, task, 1).split('/').count(), 4);
        }
    }
}
