//! One DAG run as a state machine: [`RunLoop`] owns the run's task instances and the tries
//! in flight, and has one method per event: a job started ([`RunLoop::on_job_started`]), a
//! try finished ([`RunLoop::on_try_finished`]), a control command
//! ([`RunLoop::on_control`]), a drain's deadline ([`RunLoop::on_drain_deadline`]) and the
//! run's `dagrun_timeout` ([`RunLoop::on_run_timeout`]); a retry coming due or the
//! `depends_on_past` re-check only wake it. After each event, [`RunLoop::schedule`]
//! decides every undecided task and dispatches what may run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use lithoflow_executor::Progress;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::callbacks::{self, CallbackKind, CallbackLog, RunEnd};
use super::log::TryLog;
use super::mapping::{self, InstanceArgs, TiKey};
use super::pools::{Grant, RunSlots};
use decide::Decided;
use ready::Ready;
mod complete;
mod decide;
mod ready;
mod writes;

use super::{Engine, JobStarted, PAST_RECHECK, RunControl, RunEvent, TryInput, TryOutput};
use crate::store::{DagRunRecord, RunState, TaskInstanceRecord, TaskState, UNMAPPED};
use crate::taskrun::{
    self, ContextInputs, StoreXcom, TaskError, job_key, render_task, template_context,
};
use lithoflow_dag::template::Renderer;
use lithoflow_dag::{Dag, Task};

/// The result of a task's try, as the run sees it.
pub(super) struct TryResult {
    pub(super) task_id: String,
    /// The instance's map index (-1 unmapped).
    pub(super) map_index: i32,
    pub(super) try_number: u32,
    pub(super) output: TryOutput,
    pub(super) duration_s: f64,
    /// The log written while the try ran.
    pub(super) log: Option<TryLog>,
    /// The pool slots the try held: released once its outcome is recorded, so that a
    /// pool never has more instances running in the store than it has slots.
    pub(super) slot: Option<super::pools::SlotGuard>,
    /// A mapped instance's `map_index_template`, rendered.
    pub(super) rendered_map_index: Option<String>,
}

impl TryResult {
    fn key(&self) -> TiKey {
        TiKey::new(&self.task_id, self.map_index)
    }
}

/// What [`RunLoop::start`] found.
pub(super) enum Started<'e> {
    /// The run had already ended.
    Finished(Box<DagRunRecord>),
    /// The run is running, its task instances recovered.
    Running(Box<RunLoop<'e>>),
}

/// A try in flight.
struct InFlight {
    try_number: u32,
    /// Stops the try (a clear while it runs).
    cancel: CancellationToken,
    /// Its job's live progress, once the job has started.
    progress: Option<watch::Receiver<Progress>>,
    /// Closed before the try's outcome is recorded, so that no progress event follows
    /// the task's new state.
    gate: Option<Arc<Mutex<bool>>>,
}

/// What woke the run up.
enum Wake {
    JobStarted(JobStarted),
    /// A try ended (`None`: its task panicked or was aborted).
    TryFinished(Option<TryResult>),
    /// A control command (`None`: the control channel closed).
    Control(Option<RunControl>),
    DrainDeadline,
    RetryDue,
    PastRecheck,
    RunTimeout,
    /// A pool slot request of this run was granted.
    PoolGrant(Grant),
}

/// What [`RunLoop::schedule`] leaves the run with.
enum Next {
    /// Wait for the next event; `recheck_past` when only `depends_on_past` holds it.
    Wait { recheck_past: bool },
    /// The run ended, or was drained.
    Done(Box<DagRunRecord>),
}

/// A DAG run being run: the state the engine keeps between events.
pub(super) struct RunLoop<'e> {
    engine: &'e Engine,
    dag: Arc<Dag>,
    run: DagRunRecord,
    /// Every task instance, by task and map index.
    tis: BTreeMap<TiKey, TaskInstanceRecord>,
    /// The arguments of each expanded mapped task's instances, by task (read again
    /// from the upstream results after a restart).
    expansions: HashMap<String, Arc<Vec<InstanceArgs>>>,
    events: Option<mpsc::UnboundedSender<RunEvent>>,
    /// When `dagrun_timeout` ends the run.
    timeout_at: Option<DateTime<Utc>>,
    running: JoinSet<TryResult>,
    /// Pool slots this run waits for and holds (`engine/pools.rs`).
    slots: RunSlots,
    /// Task callbacks running after their try's state was recorded; the run's end
    /// waits for them.
    callbacks: JoinSet<()>,
    /// Per task, told when its latest callbacks are done: a task's callbacks run in the
    /// order its states changed (a retry's before the final failure's).
    callbacks_done: HashMap<TiKey, tokio::sync::oneshot::Receiver<()>>,
    in_flight: HashMap<TiKey, InFlight>,
    started_tx: mpsc::UnboundedSender<JobStarted>,
    started_rx: mpsc::UnboundedReceiver<JobStarted>,
    /// Set by a drain: nothing new starts, and running tries stop at this instant.
    drain: Option<tokio::time::Instant>,
    /// Running tries that were cleared: their outcome is dropped and they run again.
    restarting: HashSet<TiKey>,
    /// Waiting tries (sensors) stopped by a drain: their outcome is dropped, and the
    /// next start resumes their wait.
    parked: HashSet<TiKey>,
    /// Tasks whose trigger rule lets them run but whose previous run's instance did not
    /// succeed (`depends_on_past`), as of the last [`RunLoop::decide`].
    blocked_on_past: Vec<String>,
    /// The DAG's template environment (its macros and filters), built once per run.
    renderer: Arc<Renderer>,
    /// The tasks to decide and the upstream counts the decisions read (`run/ready.rs`).
    ready: Ready,
    /// Something was written to the store and not yet flushed.
    unflushed: bool,
    /// Tries whose end is written, waiting for the flush before their callbacks.
    recorded: Vec<complete::Recorded>,
    /// Events waiting for the flush of what they report ([`RunLoop::emit`]).
    held_events: Vec<RunEvent>,
    /// The logs of the tries this turn dispatches, created on a blocking thread once
    /// the turn's dispatching is done ([`TryLog::open_in_background`]).
    logs_to_open: Vec<TryLog>,
}

impl<'e> RunLoop<'e> {
    /// Loads a run and its task instances, creates the missing ones, recovers the ones a
    /// killed process left running (they run again on the same try), and records the run
    /// as running.
    pub(super) async fn start(
        engine: &'e Engine,
        dag: Arc<Dag>,
        run_id: &str,
        events: Option<mpsc::UnboundedSender<RunEvent>>,
    ) -> anyhow::Result<Started<'e>> {
        let mut run = engine
            .store
            .run(&dag.dag_id, run_id)?
            .with_context(|| format!("DAG `{}` has no run `{run_id}`", dag.dag_id))?;
        if run.state.is_finished() {
            return Ok(Started::Finished(Box::new(run)));
        }
        let mut tis: BTreeMap<TiKey, TaskInstanceRecord> = engine
            .store
            .tis(&dag.dag_id, run_id)?
            .into_iter()
            .map(|t| (TiKey::new(&t.task_id, t.map_index), t))
            .collect();
        for task in &dag.tasks {
            // A task with no instance gets its unmapped one (a mapped task's is
            // expanded once its upstream tasks are done).
            if tis.range(TiKey::range_of(&task.task_id)).next().is_none() {
                tis.insert(
                    TiKey::unmapped(&task.task_id),
                    TaskInstanceRecord::new(&task.task_id, task.retries + 1),
                );
            }
        }
        for (key, ti) in tis.iter_mut() {
            if ti.state == TaskState::Scheduled {
                // It waited for a pool slot: it asks again.
                ti.state = TaskState::None;
            }
            if matches!(
                ti.state,
                TaskState::Running
                    | TaskState::Queued
                    // A sensor between pokes: its wait (`ti.sensor`) resumes on this try.
                    | TaskState::UpForReschedule
            ) {
                tracing::warn!(dag = %dag.dag_id, run = %run_id, task = %key, attempt = ti.try_number, "recovering a task that was running when lithoflow stopped; it runs again on the same try");
                ti.state = TaskState::None;
                ti.try_number = ti.try_number.saturating_sub(1);
                ti.job_id = None;
            }
        }
        let now = engine.now();
        run.state = RunState::Running;
        run.start_date.get_or_insert(now);
        {
            let (run, tis) = (run.clone(), tis.values().cloned().collect::<Vec<_>>());
            engine
                .persist(move |s| {
                    s.put_run(&run)?;
                    for ti in &tis {
                        s.put_ti(&run.dag_id, &run.run_id, ti)?;
                    }
                    Ok(())
                })
                .await?;
        }
        let timeout_at = dag.dagrun_timeout.and_then(|t| {
            let start = run.start_date.unwrap_or(now);
            chrono::Duration::from_std(t).ok().map(|t| start + t)
        });
        let (started_tx, started_rx) = mpsc::unbounded_channel();
        let renderer = Arc::new(Renderer::new(
            &dag.templates,
            engine.executor.py_caller(&dag),
        ));
        let slots = RunSlots::new(engine.pools.clone(), &dag, &run);
        let ready = Ready::new(Arc::clone(&dag), &tis);
        Ok(Started::Running(Box::new(RunLoop {
            engine,
            dag,
            run,
            tis,
            expansions: HashMap::new(),
            events,
            timeout_at,
            running: JoinSet::new(),
            slots,
            callbacks: JoinSet::new(),
            callbacks_done: HashMap::new(),
            in_flight: HashMap::new(),
            started_tx,
            started_rx,
            drain: None,
            restarting: HashSet::new(),
            parked: HashSet::new(),
            blocked_on_past: Vec::new(),
            renderer,
            ready,
            unflushed: false,
            recorded: Vec::new(),
            held_events: Vec::new(),
            logs_to_open: Vec::new(),
        })))
    }

    /// Runs until the run ends (or is drained).
    pub(super) async fn run(
        mut self,
        mut control: Option<mpsc::UnboundedReceiver<RunControl>>,
    ) -> anyhow::Result<DagRunRecord> {
        loop {
            let recheck_past = match self.schedule().await? {
                Next::Done(run) => return Ok(*run),
                Next::Wait { recheck_past } => recheck_past,
            };
            match self.next_event(&mut control, recheck_past).await {
                Wake::JobStarted(job) => self.on_job_started(job),
                Wake::TryFinished(Some(result)) => {
                    self.on_try_finished(result).await?;
                    // The tries that ended meanwhile are recorded in the same turn: one
                    // flush for all of them (group commit).
                    while let Some(joined) = self.running.try_join_next() {
                        if let Ok(result) = joined {
                            self.on_try_finished(result).await?;
                        }
                    }
                }
                Wake::TryFinished(None) | Wake::RetryDue | Wake::PastRecheck => {}
                Wake::Control(Some(RunControl::SetRunState { state, reply })) => {
                    if let Some(run) = self.on_set_run_state(state, reply).await? {
                        return Ok(run);
                    }
                }
                Wake::Control(Some(RunControl::Delete { files, reply })) => {
                    return self.on_delete(files, reply).await;
                }
                Wake::Control(Some(cmd)) => self.on_control(cmd).await?,
                Wake::Control(None) => control = None,
                Wake::DrainDeadline => return Ok(self.on_drain_deadline().await),
                Wake::RunTimeout => return self.on_run_timeout().await,
                Wake::PoolGrant(grant) => self.slots.on_grant(grant),
            }
        }
    }

    /// Reports a change; held back while a write is not yet flushed, so that nothing
    /// is shown before it is durable and events keep their order.
    fn emit(&mut self, e: RunEvent) {
        if self.events.is_none() {
            return;
        }
        if self.unflushed || !self.held_events.is_empty() {
            self.held_events.push(e);
        } else if let Some(tx) = &self.events {
            let _ = tx.send(e);
        }
    }

    /// Decides every undecided task, records and dispatches what may run, and tells
    /// whether the run goes on.
    async fn schedule(&mut self) -> anyhow::Result<Next> {
        let now = self.engine.now();
        let Decided {
            mut changed,
            to_dispatch,
            removed,
            ..
        } = self.decide(now)?;
        for key in &to_dispatch {
            if let Some(ti) = self.tis.get_mut(key) {
                ti.state = TaskState::Running;
                ti.try_number += 1;
                ti.start_date = Some(now);
                ti.end_date = None;
                ti.error = None;
                ti.next_retry_at = None;
                let (state, try_number) = (ti.state, ti.try_number);
                changed.push(ti.clone());
                self.ready.touch(key);
                self.emit(RunEvent::Task {
                    task_id: key.task_id.clone(),
                    map_index: key.map_index,
                    state,
                    try_number,
                });
            }
        }
        if !changed.is_empty() || !removed.is_empty() {
            let (d, r) = (self.dag.dag_id.clone(), self.run.run_id.clone());
            let starting = to_dispatch.clone();
            // Durable before the dispatch. A try starts without the XCom of the one
            // before it, as in Airflow (`TaskInstance._run_raw_task` clears it in 2.x,
            // the task runner's `xcom_keys_to_clear` in 3.x).
            self.engine
                .write_sized(0, move |s| {
                    removed
                        .iter()
                        .try_for_each(|k| s.delete_ti(&d, &r, &k.task_id, k.map_index))?;
                    changed.iter().try_for_each(|ti| s.put_ti(&d, &r, ti))?;
                    starting
                        .iter()
                        .try_for_each(|k| s.clear_xcom_at(&d, &r, &k.task_id, k.map_index))
                })
                .await?;
            self.unflushed = true;
        }
        // One flush for the tries recorded since the last turn and for these decisions,
        // then their side effects. The tries are prepared while the flush is on its way
        // (their templates rendered, their logs created: a try dispatched again after a
        // restart truncates its log, so a log made for a start that was never recorded
        // misleads nobody); they start their jobs once it is done. On worker threads the
        // flush starts first, on a blocking thread. On one thread (`dags test`) it is
        // made on the thread itself (`Engine::start_flush`), so it comes after the
        // preparation, once the logs' blocking thread has their files to create: they
        // are made while this thread waits for the disk, not after the try has started
        // (a chain's next task ended before its log existed, and its end created it).
        let inline = Engine::flushes_inline();
        let (flushed, gate) = tokio::sync::watch::channel(!self.unflushed);
        let mut flushing = if inline { None } else { self.start_commit() };
        self.ready.sync(&self.tis);
        for key in to_dispatch {
            let Some(task) = self
                .ready
                .position(&key.task_id)
                .and_then(|i| self.dag.tasks.get(i))
                .cloned()
            else {
                continue;
            };
            let try_number = self.tis.get(&key).map_or(1, |t| t.try_number);
            self.dispatch(task, key.map_index, try_number, gate.clone())?;
        }
        TryLog::open_in_background(std::mem::take(&mut self.logs_to_open));
        if inline {
            flushing = self.start_commit();
        }
        self.finish_commit(flushing).await?;
        let _ = flushed.send(true);

        if self.drain.is_some() && self.running.is_empty() {
            // Left running in the store; the next start recovers it.
            return Ok(Next::Done(Box::new(self.run.clone())));
        }
        if self.ready.all_finished() {
            let state = mapping::leaves_state(&self.dag, &self.tis);
            let end = if state == RunState::Success {
                RunEnd::Success
            } else {
                RunEnd::TaskFailure
            };
            return self
                .finish(state, None, end)
                .await
                .map(|r| Next::Done(Box::new(r)));
        }
        let mut recheck_past = false;
        if self.running.is_empty()
            && self.drain.is_none()
            && self.next_retry().is_none()
            && !self.slots.waiting()
        {
            if !self.blocked_on_past.is_empty() && self.engine.wait_for_past {
                // Airflow keeps such a run running until the past is fixed (or
                // dagrun_timeout); look again now and then.
                recheck_past = true;
            } else {
                // In DAG order, for a stable message. Task instances keep their states,
                // as in Airflow's deadlock branch.
                let stuck: Vec<&str> = self
                    .dag
                    .tasks
                    .iter()
                    .map(|t| t.task_id.as_str())
                    .filter(|id| {
                        self.tis
                            .range(TiKey::range_of(id))
                            .any(|(_, t)| !t.state.is_finished())
                    })
                    .collect();
                let note = if self.blocked_on_past.is_empty() {
                    format!("deadlock: no task can run (waiting: {})", stuck.join(", "))
                } else {
                    format!(
                        "depends_on_past not met: {} did not succeed in the previous run (waiting: {})",
                        self.blocked_on_past.join(", "),
                        stuck.join(", ")
                    )
                };
                return self
                    .finish(RunState::Failed, Some(note), RunEnd::Deadlocked)
                    .await
                    .map(|r| Next::Done(Box::new(r)));
            }
        }
        Ok(Next::Wait { recheck_past })
    }

    /// The earliest time a task waiting for its retry may run again.
    fn next_retry(&self) -> Option<DateTime<Utc>> {
        self.ready
            .retrying()
            .filter_map(|k| self.tis.get(k)?.next_retry_at)
            .min()
    }

    /// Waits for the next thing that can change the run.
    async fn next_event(
        &mut self,
        control: &mut Option<mpsc::UnboundedReceiver<RunControl>>,
        recheck_past: bool,
    ) -> Wake {
        let now = self.engine.now();
        let until =
            |at: Option<DateTime<Utc>>| at.map(|at| (at - now).to_std().unwrap_or(Duration::ZERO));
        let (retry_in, timeout_in) = (until(self.next_retry()), until(self.timeout_at));
        let drain = self.drain;
        let next_control = async {
            match control.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some(job) = self.started_rx.recv() => Wake::JobStarted(job),
            Some(joined) = self.running.join_next() => Wake::TryFinished(joined.ok()),
            cmd = next_control => Wake::Control(cmd),
            () = sleep_until(drain) => Wake::DrainDeadline,
            () = sleep_for(retry_in) => Wake::RetryDue,
            () = tokio::time::sleep(PAST_RECHECK), if recheck_past => Wake::PastRecheck,
            () = sleep_for(timeout_in) => Wake::RunTimeout,
            grant = self.slots.next_grant() => Wake::PoolGrant(grant),
        }
    }

    /// A try's job started: its progress is forwarded as run events.
    fn on_job_started(&mut self, job: JobStarted) {
        let Some(try_) = self
            .in_flight
            .get_mut(&TiKey::new(&job.task_id, job.map_index))
        else {
            return;
        };
        // A job of an earlier try that ended before its start was seen.
        if try_.try_number != job.try_number {
            return;
        }
        if let Some(tx) = &self.events {
            let gate = Arc::new(Mutex::new(false));
            forward_progress(
                job.task_id,
                job.map_index,
                job.progress.clone(),
                tx.clone(),
                Arc::clone(&gate),
            );
            try_.gate = Some(gate);
        }
        try_.progress = Some(job.progress);
    }

    /// A try ended: its outcome is recorded, unless it was cleared while it ran.
    async fn on_try_finished(&mut self, mut result: TryResult) -> anyhow::Result<()> {
        // Released after the outcome is recorded (or the instance cleared).
        let _slot = result.slot.take();
        // The job's last figures, then (in `complete`) the task's new state: the
        // forwarder is closed first, so no progress follows the state.
        if let Some(try_) = self.in_flight.remove(&result.key())
            && let Some(gate) = try_.gate
        {
            *gate.lock().unwrap_or_else(PoisonError::into_inner) = true;
            if let Some(rx) = &try_.progress {
                let progress = rx.borrow().clone();
                if progress.total > 0 {
                    self.emit(RunEvent::Progress {
                        task_id: result.task_id.clone(),
                        map_index: result.map_index,
                        progress,
                    });
                }
            }
        }
        if self.parked.remove(&result.key()) {
            return Ok(());
        }
        if self.restarting.remove(&result.key()) {
            self.ready.mark(&result.task_id);
            // Cleared while running: the try's outcome is dropped.
            if self.tis.contains_key(&result.key()) {
                return self.clear_tis(&[result.key()]).await;
            }
            return Ok(());
        }
        self.complete(result).await
    }

    /// A drain or a clear.
    async fn on_control(&mut self, cmd: RunControl) -> anyhow::Result<()> {
        match cmd {
            RunControl::Drain { deadline } => {
                self.drain = Some(deadline);
                self.slots.cancel_all();
                // Sensors stop waiting at once: the next start resumes their wait.
                for (key, try_) in &self.in_flight {
                    if self
                        .dag
                        .task(&key.task_id)
                        .is_some_and(super::sensor::waits)
                    {
                        try_.cancel.cancel();
                        self.parked.insert(key.clone());
                    }
                }
                Ok(())
            }
            RunControl::Clear(mut task_ids) => {
                let mut seen = HashSet::new();
                task_ids.retain(|t| seen.insert(t.clone()));
                let mut now_keys = Vec::new();
                for id in task_ids {
                    let mapped = self.dag.task(&id).is_some_and(Task::is_mapped);
                    let keys: Vec<TiKey> = self
                        .tis
                        .range(TiKey::range_of(&id))
                        .map(|(k, _)| k.clone())
                        .collect();
                    for key in keys {
                        if self
                            .tis
                            .get(&key)
                            .is_some_and(|t| t.state == TaskState::Running)
                        {
                            if let Some(try_) = self.in_flight.get(&key) {
                                try_.cancel.cancel();
                            }
                            self.restarting.insert(key.clone());
                            if !mapped {
                                continue;
                            }
                        }
                        now_keys.push(key);
                    }
                }
                self.clear_tis(&now_keys).await
            }
            RunControl::SetTaskStates {
                tis,
                state,
                reset_failed,
                reply,
            } => {
                let done = self.set_task_states(&tis, state, &reset_failed).await;
                let _ = reply.send(done.as_ref().copied().map_err(|e| {
                    crate::ops::OpError::Conflict(format!("the run's engine failed: {e:#}"))
                }));
                done
            }
            RunControl::SetNote { task, note, reply } => {
                let _ = reply.send(self.set_note(task, note).await);
                Ok(())
            }
            // Handled by `run` (they end the loop).
            RunControl::SetRunState { reply, .. } => {
                drop(reply);
                Ok(())
            }
            RunControl::Delete { reply, .. } => {
                drop(reply);
                Ok(())
            }
        }
    }

    /// A drain's deadline passed: running tries are stopped and their task instances
    /// stay running in the store, recovered (same try) on the next start.
    async fn on_drain_deadline(mut self) -> DagRunRecord {
        self.stop_all().await;
        self.run
    }

    /// `dagrun_timeout` passed: running tries are stopped, every unfinished task is
    /// skipped, and the run fails.
    async fn on_run_timeout(mut self) -> anyhow::Result<DagRunRecord> {
        self.stop_all().await;
        let now = self.engine.now();
        for (key, ti) in self.tis.iter_mut().filter(|(_, t)| !t.state.is_finished()) {
            ti.state = TaskState::Skipped;
            ti.end_date = Some(now);
            self.ready.touch(key);
        }
        self.ready.sync(&self.tis);
        self.save_all().await?;
        let note = format!(
            "dagrun_timeout of {} exceeded",
            self.dag
                .dagrun_timeout
                .map(lithoflow_dag::duration::format)
                .unwrap_or_default()
        );
        self.finish(RunState::Failed, Some(note), RunEnd::TimedOut)
            .await
    }

    /// Stops every try in flight and returns once each has stopped: dropping a try's
    /// future stops its job, and an aborted task's future is dropped only when the
    /// runtime next gets to it, so the aborted tasks are waited for (each ends at its
    /// next await) before the run records anything.
    async fn stop_all(&mut self) {
        for try_ in self.in_flight.values() {
            try_.cancel.cancel();
        }
        self.running.abort_all();
        while self.running.join_next().await.is_some() {}
    }

    /// Prepares a task's try and spawns it; it runs its job on the executor (and its
    /// `on_execute` callbacks) once `gate` opens: when its start is durable.
    fn dispatch(
        &mut self,
        mut task: Task,
        map_index: i32,
        try_number: u32,
        mut gate: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        // A mapped instance's arguments: the literal ones are rendered with the task's
        // templates, the ones from upstream results are put on after rendering.
        let mut late_args = serde_json::Map::new();
        let mut args_error = None;
        if task.is_mapped() && map_index != UNMAPPED {
            match self
                .instance_args(&task, map_index)
                .and_then(|a| mapping::apply_args(&mut task, &a.literal).map(|()| a))
            {
                Ok(a) => late_args = a.from_task,
                Err(e) => args_error = Some(e),
            }
        }
        let (dag, run) = (&self.dag, &self.run);
        // Upstream values for data_from_task / iterdata_from_task (a mapped upstream's:
        // the list of its instances' results).
        let mut xcom = HashMap::new();
        for dep in task.value_sources() {
            if let Some(v) = mapping::upstream_value(&self.engine.store, dag, &run.run_id, dep)? {
                xcom.insert(dep.to_owned(), v);
            }
        }
        let job_key = job_key(
            &dag.dag_id,
            &run.run_id,
            &task.task_id,
            map_index,
            try_number,
        );
        let logical = run.logical_date.unwrap_or(run.run_after);
        let inputs = ContextInputs {
            now: self.engine.now(),
            prev_success: taskrun::prev_success(&self.engine.store, &dag.dag_id, logical)?,
            xcom: Some(Arc::new(StoreXcom {
                store: Arc::clone(&self.engine.store),
                dag_id: dag.dag_id.clone(),
                run_id: run.run_id.clone(),
            })),
            asset_events: crate::assets::context_events(&self.engine.store, run)?,
        };
        let mut ctx = template_context(dag, run, &task.task_id, try_number, inputs);
        ctx.map_index = i64::from(map_index);
        let context = task.python().map(|_| ctx.json());
        let renderer = Arc::clone(&self.renderer);
        let calls_python = dag.templates.calls_python();
        let services = crate::services::TaskServices::in_run(
            Arc::clone(&self.engine.store),
            self.engine.state_dir.clone(),
            run,
            &task.task_id,
            map_index,
            crate::services::ContextJson::of(ctx.clone()),
        );
        let cancel = CancellationToken::new();
        self.in_flight.insert(
            TiKey::new(&task.task_id, map_index),
            InFlight {
                try_number,
                cancel: cancel.clone(),
                progress: None,
                gate: None,
            },
        );
        let executor = Arc::clone(&self.engine.executor);
        let limit = task
            .execution_timeout
            .filter(|_| !executor.enforces_execution_timeout(&task));
        let started_tx = self.started_tx.clone();
        // The log is created as the try starts (on a blocking thread, after this turn's
        // dispatching), so its output can be read while it runs.
        let log = self
            .tis
            .get(&TiKey::new(&task.task_id, map_index))
            .map(|ti| {
                let path = Engine::log_path(
                    &self.engine.logs_dir,
                    &dag.dag_id,
                    &run.run_id,
                    &ti.task_id,
                    ti.map_index,
                    try_number,
                );
                TryLog::pending(path, &super::log::header(dag, run, ti))
            });
        if let Some(log) = &log {
            self.logs_to_open.push(log.clone());
        }
        // The secrets the try could be given are masked in its log and error.
        let masks = crate::values::secret_masks(&self.engine.store).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "failed to read the variables and connections to mask in the task's log");
            Vec::new()
        });
        let log = log.map(|l| l.with_masks(masks));
        let lookup: Arc<dyn lithoflow_dag::template_values::Lookup> =
            Arc::new(crate::values::StoreLookup(Arc::clone(&self.engine.store)));
        let on_execute = callbacks::with_services(
            callbacks::for_task(
                dag,
                run,
                (&task, map_index),
                try_number,
                CallbackKind::Execute,
                None,
            ),
            &self.engine.store,
            &self.engine.state_dir,
            run,
        );
        let map_index_template = task
            .map_index_template
            .clone()
            .filter(|_| map_index != UNMAPPED);

        let dag = Arc::clone(dag);
        let mut slot = self.slots.take(&TiKey::new(&task.task_id, map_index));
        let waiting = super::sensor::Waiting::of(self.engine, &task, run, self.events.as_ref())
            .map(|w| w.with_slots(&task, &mut slot, self.slots.again(&task, map_index)));
        self.running.spawn(async move {
            let started = std::time::Instant::now();
            let task_id = task.task_id.clone();
            // A DAG whose templates call Python renders off the runtime's threads: its
            // macros wait for the executor.
            let label_env = map_index_template.map(|t| (t, ctx.clone(), Arc::clone(&renderer)));
            let rendered = if let Some(e) = args_error {
                Err(e)
            } else if calls_python {
                let task = task.clone();
                tokio::task::spawn_blocking(move || {
                    render_task(&task, &renderer, &ctx, Some(lookup))
                })
                .await
                .unwrap_or_else(|e| Err(format!("rendering the templates stopped: {e}")))
            } else {
                render_task(&task, &renderer, &ctx, Some(lookup))
            };
            let rendered = rendered.and_then(|mut task| {
                mapping::apply_args(&mut task, &late_args)
                    .and_then(|()| mapping::check_instance(&task))
                    .map(|()| task)
            });
            // A mapped instance's label, rendered with its arguments on `task`.
            let rendered_map_index = match (&rendered, label_env) {
                (Ok(task), Some((template, mut ctx, renderer))) => {
                    ctx.task_fields = mapping::task_fields(task);
                    let render = move || renderer.render(&Value::String(template), &ctx);
                    let label = if calls_python {
                        tokio::task::spawn_blocking(render)
                            .await
                            .unwrap_or_else(|e| Err(e.to_string()))
                    } else {
                        render()
                    };
                    match label {
                        Ok(Value::String(label)) => Some(label),
                        Ok(other) => Some(other.to_string()),
                        Err(e) => {
                            tracing::warn!(task = %task.task_id, map_index, error = %e, "failed to render map_index_template");
                            None
                        }
                    }
                }
                _ => None,
            };
            // Nothing runs before the try's start is durable; the run stopped (its state
            // could not be flushed) when the gate closed without opening.
            let opened = gate.wait_for(|open| *open).await.is_ok();
            let output = match rendered {
                _ if !opened => TryOutput::failed(TaskError::Input(
                    "the run stopped before the try started".to_owned(),
                )),
                Ok(task) => {
                    // Airflow calls them after rendering, before execution_timeout
                    // starts; their failure is logged, and the task runs anyway.
                    if !on_execute.is_empty() {
                        let log = log.clone().unwrap_or_else(TryLog::nowhere);
                        // Boxed, as the sensors' wait: the future of every try is as
                        // large as its largest path, and a fan-out holds thousands.
                        Box::pin(callbacks::run_all(
                            Arc::clone(&executor),
                            on_execute,
                            CallbackLog::Try(log),
                        ))
                        .await;
                    }
                    let input = TryInput {
                        dag,
                        task,
                        map_index,
                        try_number,
                        job_key,
                        xcom,
                        context,
                        cancel,
                        started: started_tx,
                        log: log.clone().unwrap_or_else(TryLog::nowhere),
                        services: Some(services),
                    };
                    // Sensors and trigger_dag_run wait here, on timers (engine/sensor.rs).
                    match waiting {
                        Some(w) => run_with_limit(Box::pin(w.run_try(input)), limit).await,
                        None => run_with_limit(executor.run_try(input), limit).await,
                    }
                }
                Err(e) => TryOutput::failed(TaskError::Input(e)),
            };
            TryResult {
                task_id,
                map_index,
                rendered_map_index,
                try_number,
                output,
                duration_s: started.elapsed().as_secs_f64(),
                log,
                slot,
            }
        });
        Ok(())
    }

    /// Resets task instances as Airflow's clear does and persists them. A mapped
    /// task's instances make way for its unexpanded one: it is expanded again, over its
    /// upstream results of then, once it may run.
    async fn clear_tis(&mut self, keys: &[TiKey]) -> anyhow::Result<()> {
        let mut changed = Vec::new();
        // The most tries a cleared instance of each mapped task had.
        let mut tries_before: HashMap<String, u32> = HashMap::new();
        let mut removed = Vec::new();
        for key in keys {
            self.slots.cancel(key);
            let mapped = self.dag.task(&key.task_id).filter(|t| t.is_mapped());
            if let Some(task) = mapped {
                if key.map_index != UNMAPPED {
                    self.ready.touch(key);
                    if let Some(gone) = self.tis.remove(key) {
                        let most = tries_before.entry(key.task_id.clone()).or_default();
                        *most = (*most).max(gone.try_number);
                        removed.push(key.clone());
                    }
                    self.callbacks_done.remove(key);
                }
                self.expansions.remove(&task.task_id);
                let unmapped = TiKey::unmapped(&task.task_id);
                self.ready.touch(&unmapped);
                let left = self.tis.range(TiKey::range_of(&task.task_id)).count();
                if left == 0 || self.tis.contains_key(&unmapped) {
                    let ti = self.tis.entry(unmapped).or_insert_with(|| {
                        TaskInstanceRecord::new(&task.task_id, task.retries + 1)
                    });
                    ti.try_number = ti
                        .try_number
                        .max(tries_before.get(&task.task_id).copied().unwrap_or(0));
                    crate::ops::reset_ti(&self.dag, ti);
                    if !changed
                        .iter()
                        .any(|t: &TaskInstanceRecord| t.task_id == ti.task_id)
                    {
                        changed.push(ti.clone());
                    }
                }
                continue;
            }
            if let Some(ti) = self.tis.get_mut(key) {
                crate::ops::reset_ti(&self.dag, ti);
                changed.push(ti.clone());
                self.ready.touch(key);
            }
        }
        for ti in &changed {
            self.emit(RunEvent::Task {
                task_id: ti.task_id.clone(),
                map_index: ti.map_index,
                state: ti.state,
                try_number: ti.try_number,
            });
        }
        let (d, r) = (self.dag.dag_id.clone(), self.run.run_id.clone());
        self.engine
            .persist(move |s| {
                for k in &removed {
                    s.delete_ti(&d, &r, &k.task_id, k.map_index)?;
                    s.clear_xcom_at(&d, &r, &k.task_id, k.map_index)?;
                }
                for ti in &changed {
                    s.put_ti(&d, &r, ti)?;
                    s.clear_xcom_at(&d, &r, &ti.task_id, ti.map_index)?;
                }
                Ok(())
            })
            .await
    }

    async fn save_all(&self) -> anyhow::Result<()> {
        let (d, r) = (self.run.dag_id.clone(), self.run.run_id.clone());
        let all: Vec<TaskInstanceRecord> = self.tis.values().cloned().collect();
        self.engine
            .persist(move |s| all.iter().try_for_each(|ti| s.put_ti(&d, &r, ti)))
            .await
    }

    /// Records the run's end; then, once the task callbacks still running are done,
    /// calls the DAG's callbacks.
    async fn finish(
        &mut self,
        state: RunState,
        note: Option<String>,
        end: RunEnd,
    ) -> anyhow::Result<DagRunRecord> {
        self.run.state = state;
        self.run.end_date = Some(self.engine.now());
        self.run.note = note;
        let saved = self.run.clone();
        self.engine.persist(move |s| s.put_run(&saved)).await?;
        self.emit(RunEvent::Finished(state));
        while self.callbacks.join_next().await.is_some() {}
        let calls = callbacks::with_services(
            callbacks::for_run(&self.dag, &self.run, self.tis.values(), end),
            &self.engine.store,
            &self.engine.state_dir,
            &self.run,
        );
        if !calls.is_empty() {
            let log = self
                .engine
                .dag_callbacks_log(&self.run.dag_id, &self.run.run_id);
            callbacks::run_all(
                Arc::clone(&self.engine.executor),
                calls,
                CallbackLog::File(log),
            )
            .await;
        }
        Ok(self.run.clone())
    }
}

/// A try's future under the engine's `execution_timeout` (dropping it stops the job).
async fn run_with_limit(
    try_: impl Future<Output = TryOutput>,
    limit: Option<Duration>,
) -> TryOutput {
    let Some(limit) = limit else {
        return try_.await;
    };
    match tokio::time::timeout(limit, try_).await {
        Ok(output) => output,
        Err(_) => TryOutput::failed(TaskError::Timeout(format!(
            "the task exceeded its execution_timeout of {}; its calls were stopped",
            lithoflow_dag::duration::format(limit)
        ))),
    }
}

async fn sleep_for(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending::<()>().await,
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending::<()>().await,
    }
}

/// Sends a job's progress as run events (at most ten a second) until the engine closes
/// the gate, which it does before it records the task's outcome.
fn forward_progress(
    task_id: String,
    map_index: i32,
    mut rx: watch::Receiver<Progress>,
    tx: mpsc::UnboundedSender<RunEvent>,
    gate: Arc<Mutex<bool>>,
) {
    tokio::spawn(async move {
        loop {
            {
                let closed = gate.lock().unwrap_or_else(PoisonError::into_inner);
                if *closed {
                    return;
                }
                let progress = rx.borrow_and_update().clone();
                if progress.total > 0
                    && tx
                        .send(RunEvent::Progress {
                            task_id: task_id.clone(),
                            map_index,
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
