//! Sensors and `trigger_dag_run` tasks in the engine. Their try is a future in the run's
//! set of tries (spawned by `RunLoop::dispatch` as any try) that pokes, sleeps on a tokio
//! timer, and pokes again until the condition holds or the timeout passes. Between pokes
//! it holds no worker process and no executor slot: only a python poke is a call on the
//! executor (a one-call job, as a python task), a bash poke a process on this machine;
//! the other kinds are read here (the file system, the clock, the state store, S3).
//!
//! In `mode = "reschedule"` the task instance is recorded `up_for_reschedule` between
//! pokes, with the next poke's time, and `running` again at each poke. The first poke's
//! time is recorded on the task instance too ([`SensorWait`]), so a scheduler that
//! restarts resumes the wait at the recorded next poke with the timeout still counted
//! from the first poke (`RunLoop::start` hands such an instance back to `dispatch` on the
//! same try).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::mpsc;

use super::pools::{SlotGuard, SlotsAgain};
use super::{Clock, Engine, RunEvent, TaskExecutor, TryInput, TryOutput};
use crate::sensors::{self, Poke};
use crate::store::{DagRunRecord, SensorWait, Store, TaskState};
use crate::taskrun::{self, TaskError};
use lithoflow_dag::{SensorKind, SensorMode, SensorSpec, Task, TaskKind};

pub(crate) use super::sensor_trigger::{DaemonRuns, RunCreator};

/// Blocking work of waiting tries (store reads and writes, file globs) at once: a
/// thousand sensors poking together use a few threads, not a thousand.
static BLOCKING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// Runs `f` on a blocking thread, at most [`BLOCKING`]'s permits at once; None if the
/// thread panicked.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let _permit = BLOCKING.acquire().await.ok()?;
    tokio::task::spawn_blocking(f).await.ok()
}

/// The key under which the Python runtime returns a `PokeReturnValue`.
const POKE_RETURN_VALUE_KEY: &str = "__lithoflow_poke_return_value__";

/// What a waiting try needs besides its [`TryInput`]: the engine's store, clock and
/// executor, the run's events, and who creates runs (trigger_dag_run).
pub(super) struct Waiting {
    pub(super) store: Arc<Store>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) executor: Arc<dyn TaskExecutor>,
    pub(super) events: Option<mpsc::UnboundedSender<RunEvent>>,
    pub(super) runs: Option<Arc<dyn RunCreator>>,
    pub(super) run: DagRunRecord,
    /// A reschedule-mode sensor's pool slots: given back between pokes and asked for
    /// again before the next (None without pools, or in poke mode, whose slots the try
    /// holds throughout, as Airflow's running sensor).
    pub(super) slots: Option<(std::sync::Mutex<Option<SlotGuard>>, SlotsAgain)>,
}

/// Whether a task waits in the engine (a sensor or a trigger_dag_run).
pub(super) fn waits(task: &Task) -> bool {
    matches!(task.kind, TaskKind::Sensor(_) | TaskKind::TriggerDagRun(_))
}

impl Waiting {
    /// For a try of `task` in `run`, if `task` is a sensor or a trigger_dag_run.
    pub(super) fn of(
        engine: &Engine,
        task: &Task,
        run: &DagRunRecord,
        events: Option<&mpsc::UnboundedSender<RunEvent>>,
    ) -> Option<Waiting> {
        if !waits(task) {
            return None;
        }
        Some(Waiting {
            store: Arc::clone(&engine.store),
            clock: Arc::clone(&engine.clock),
            executor: Arc::clone(&engine.executor),
            events: events.cloned(),
            runs: engine.run_creator.get().cloned(),
            run: run.clone(),
            slots: None,
        })
    }

    /// Takes the try's pool slots when the sensor gives them back between pokes
    /// (reschedule mode); the try keeps them otherwise.
    pub(super) fn with_slots(
        mut self,
        task: &Task,
        slot: &mut Option<SlotGuard>,
        again: Option<SlotsAgain>,
    ) -> Waiting {
        let reschedules =
            matches!(&task.kind, TaskKind::Sensor(s) if s.mode == SensorMode::Reschedule);
        if let (true, Some(again)) = (reschedules, again) {
            self.slots = Some((std::sync::Mutex::new(slot.take()), again));
        }
        self
    }

    /// Gives the pool slots back (the sensor is up_for_reschedule).
    fn give_back_slots(&self) {
        if let Some((held, _)) = &self.slots {
            drop(
                held.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take(),
            );
        }
    }

    /// Asks for the pool slots again before a poke; false when the try is stopped while
    /// it waits for them.
    async fn take_slots(&self, input: &TryInput) -> bool {
        let Some((held, again)) = &self.slots else {
            return true;
        };
        let guard = tokio::select! {
            g = again.take() => g,
            () = input.cancel.cancelled() => return false,
        };
        *held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(guard);
        true
    }

    /// Runs the try (its task already rendered).
    pub(super) async fn run_try(self, mut input: TryInput) -> TryOutput {
        // Only a python poke (and execution_date_fn) calls Python: the others drop what
        // a call needs, which a thousand waiting sensors would otherwise keep.
        let calls_python = match &input.task.kind {
            TaskKind::Sensor(s) => match &s.sensor {
                SensorKind::Python(_) => true,
                SensorKind::ExternalTask(e) => e.execution_date_fn.is_some(),
                _ => false,
            },
            _ => false,
        };
        if !calls_python {
            input.services = None;
            input.context = None;
            input.xcom.clear();
            input.xcom.shrink_to_fit();
        }
        match &input.task.kind {
            TaskKind::Sensor(s) => {
                let spec = s.clone();
                self.sensor(&spec, input).await
            }
            TaskKind::TriggerDagRun(t) => {
                let spec = t.clone();
                super::sensor_trigger::run(&self, &spec, input).await
            }
            _ => TryOutput::failed(TaskError::Input(format!(
                "task `{}` is not a sensor",
                input.task.task_id
            ))),
        }
    }

    pub(super) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Sleeps until `at` (by the engine's clock); false when the try is stopped first.
    pub(super) async fn sleep_until(&self, at: DateTime<Utc>, input: &TryInput) -> bool {
        let wait = (at - self.now()).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            () = tokio::time::sleep(wait) => true,
            () = input.cancel.cancelled() => false,
        }
    }

    /// Records the task instance's state and wait, and tells live displays. Only the
    /// first record of a wait is flushed at once (the first poke's time, from which the
    /// timeout counts); the records of each poke reach the disk with sled's periodic
    /// flush, as losing one costs only an early poke after a restart.
    pub(super) async fn record(
        &self,
        task_id: &str,
        state: TaskState,
        wait: &SensorWait,
        flush: bool,
    ) {
        let store = Arc::clone(&self.store);
        let (dag_id, run_id, task) = (
            self.run.dag_id.clone(),
            self.run.run_id.clone(),
            task_id.to_owned(),
        );
        let wait = wait.clone();
        let written = blocking(move || {
            let Some(mut ti) = store.ti(&dag_id, &run_id, &task)? else {
                return Ok(None);
            };
            // Only the try this future runs: a clear or a newer try owns the record then.
            if ti.try_number != wait.try_number
                || !matches!(ti.state, TaskState::Running | TaskState::UpForReschedule)
            {
                return Ok(None);
            }
            ti.state = state;
            ti.sensor = Some(wait);
            store.put_ti(&dag_id, &run_id, &ti)?;
            if flush {
                store.flush()?;
            }
            Ok::<_, crate::store::StoreError>(Some(ti.try_number))
        })
        .await;
        match written {
            Some(Ok(Some(try_number))) => {
                if let Some(tx) = &self.events {
                    let _ = tx.send(RunEvent::Task {
                        task_id: task_id.to_owned(),
                        // Sensors are never mapped.
                        map_index: crate::store::UNMAPPED,
                        state,
                        try_number,
                    });
                }
            }
            Some(Ok(None)) => {}
            Some(Err(e)) => {
                tracing::warn!(task = %task_id, error = %e, "failed to record a sensor's wait")
            }
            None => tracing::warn!(task = %task_id, "failed to record a sensor's wait"),
        }
    }

    /// The wait of this try: the recorded one when it continues (a restart; in reschedule
    /// mode also a retry, as Airflow counts the timeout from the first try's start until
    /// the task is cleared), else a new one starting now.
    /// The wait recorded on the task instance, if any.
    pub(super) fn recorded_wait(&self, task_id: &str) -> Option<SensorWait> {
        self.store
            .ti(&self.run.dag_id, &self.run.run_id, task_id)
            .ok()
            .flatten()
            .and_then(|ti| ti.sensor)
    }

    fn wait_of(&self, task_id: &str, try_number: u32, mode: SensorMode) -> SensorWait {
        let recorded = self.recorded_wait(task_id);
        match recorded {
            Some(w) if w.try_number == try_number => w,
            Some(w) if mode == SensorMode::Reschedule => SensorWait {
                try_number,
                next_poke_at: None,
                ..w
            },
            _ => SensorWait {
                try_number,
                first_poke: self.now(),
                next_poke_at: None,
                pokes: 0,
                triggered_run_id: None,
            },
        }
    }

    /// The poke loop of a sensor.
    async fn sensor(&self, spec: &SensorSpec, input: TryInput) -> TryOutput {
        let task_id = input.task.task_id.clone();
        let dag_id = input.dag.dag_id.clone();
        let mut wait = self.wait_of(&task_id, input.try_number, spec.mode);
        let log = input.log.clone();
        if let Some(at) = wait.next_poke_at.filter(|at| *at > self.now()) {
            log.sensor_line(&format!(
                "resuming the wait: next poke at {}, timeout counted from {}",
                at.to_rfc3339(),
                wait.first_poke.to_rfc3339()
            ));
            if spec.mode == SensorMode::Reschedule {
                self.record(&task_id, TaskState::UpForReschedule, &wait, false)
                    .await;
                self.give_back_slots();
            }
            if !self.sleep_until(at, &input).await || !self.take_slots(&input).await {
                return stopped();
            }
            if spec.mode == SensorMode::Reschedule {
                self.record(&task_id, TaskState::Running, &wait, false)
                    .await;
            }
        } else {
            // The first poke's time is durable before the first poke.
            self.record(&task_id, TaskState::Running, &wait, true).await;
        }
        loop {
            if input.cancel.is_cancelled() {
                return stopped();
            }
            wait.pokes += 1;
            let poked = self.poke(spec, &input, wait.pokes).await;
            let poked = match poked {
                Poke::Error(e) if spec.silent_fail => {
                    log.sensor_line(&format!("Sensor poke failed (silent_fail): {e}"));
                    Poke::NotYet(String::new())
                }
                other => other,
            };
            match poked {
                Poke::Done(value) => {
                    log.sensor_line("Success criteria met. Exiting.");
                    return TryOutput {
                        value: Ok(value),
                        job: None,
                        output: None,
                    };
                }
                Poke::Skip(m) => return TryOutput::failed(TaskError::Skip(m)),
                Poke::Fail(m) if spec.soft_fail => {
                    return TryOutput::failed(TaskError::Skip(format!(
                        "Skipping due to soft_fail is set to True. ({m})"
                    )));
                }
                Poke::Fail(m) => return TryOutput::failed(TaskError::Fail(m)),
                Poke::Error(m) => return TryOutput::failed(TaskError::Input(m)),
                Poke::NotYet(seen) => {
                    if !seen.is_empty() {
                        log.sensor_line(&seen);
                    }
                }
            }
            let now = self.now();
            let run_duration = (now - wait.first_poke).to_std().unwrap_or(Duration::ZERO);
            if run_duration > spec.timeout {
                let message = format!(
                    "Sensor has timed out; run duration of {} seconds exceeds the specified timeout of {}.",
                    run_duration.as_secs_f64(),
                    spec.timeout.as_secs_f64()
                );
                log.sensor_line(&message);
                return TryOutput::failed(if spec.soft_fail {
                    TaskError::Skip(message)
                } else {
                    TaskError::SensorTimeout(message)
                });
            }
            let interval = spec.next_poke_interval(
                &dag_id,
                &task_id,
                wait.first_poke,
                wait.pokes,
                run_duration,
            );
            let next = now + chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::MAX);
            wait.next_poke_at = Some(next);
            if spec.mode == SensorMode::Reschedule {
                log.sensor_line(&format!(
                    "Rescheduling task, marking task as UP_FOR_RESCHEDULE; next poke at {}",
                    next.to_rfc3339()
                ));
                self.record(&task_id, TaskState::UpForReschedule, &wait, false)
                    .await;
                self.give_back_slots();
            }
            if !self.sleep_until(next, &input).await || !self.take_slots(&input).await {
                return stopped();
            }
            if spec.mode == SensorMode::Reschedule {
                self.record(&task_id, TaskState::Running, &wait, false)
                    .await;
            }
        }
    }

    /// One poke of the sensor's condition.
    async fn poke(&self, spec: &SensorSpec, input: &TryInput, n: u32) -> Poke {
        let now = self.now();
        match &spec.sensor {
            SensorKind::Python(_) => self.python_poke(input, n).await,
            SensorKind::Bash {
                bash,
                retry_exit_code,
            } => {
                let dir = taskrun::dag_folder(&input.dag.fileloc);
                let log = input.log.clone();
                let on_output = move |stream: &str, text: &str| log.bash_output(stream, text);
                let o = crate::bash::run(bash, &dir, None, Some(&on_output)).await;
                // BashSensor.poke (airflow/sensors/bash.py): 0 is done; with
                // retry_exit_code only that code pokes again, others fail.
                match (o.code, retry_exit_code) {
                    (Some(0), _) => Poke::Done(Value::Null),
                    (Some(c), Some(retry)) if i64::from(c) == *retry => Poke::NotYet(format!(
                        "Return code matches retry code ({c}), will retry later"
                    )),
                    (Some(c), Some(_)) => {
                        Poke::Fail(format!("Command exited with return code {c}"))
                    }
                    (Some(c), None) => Poke::NotYet(format!(
                        "Command exited with return code {c}; will poke again"
                    )),
                    (None, _) => match o.result {
                        Err(crate::bash::BashEnd::Failed(m) | crate::bash::BashEnd::Skipped(m)) => {
                            Poke::Error(m)
                        }
                        Ok(_) => Poke::Error("bash ended without an exit code".to_owned()),
                    },
                }
            }
            SensorKind::File {
                filepath,
                recursive,
                ..
            } => {
                let base = taskrun::dag_folder(&input.dag.fileloc);
                let (pattern, recursive) = (filepath.clone(), *recursive);
                let found = blocking(move || sensors::file::poke(&pattern, recursive, &base))
                    .await
                    .flatten();
                match found {
                    Some(path) => {
                        input
                            .log
                            .sensor_line(&format!("Found File {}", path.display()));
                        Poke::Done(Value::Null)
                    }
                    None => Poke::NotYet(format!("Poking for file {filepath}")),
                }
            }
            SensorKind::TimeDelta { delta } => {
                let (target, done) = sensors::time::time_delta(&self.run, *delta, now);
                time_poke(target, done)
            }
            SensorKind::DateTime { target_time } => {
                match sensors::time::date_time(target_time, now) {
                    Ok((target, done)) => time_poke(target, done),
                    Err(e) => Poke::Error(e),
                }
            }
            SensorKind::Time { target_time } => {
                if sensors::time::time_of_day(*target_time, input.dag.timezone, now) {
                    Poke::Done(Value::Null)
                } else {
                    Poke::NotYet(format!("Checking if the time ({target_time}) has come"))
                }
            }
            SensorKind::ExternalTask(e) => {
                let dates = match self.external_dates(e, input).await {
                    Ok(d) => d,
                    Err(m) => return Poke::Error(m),
                };
                let (store, e, soft_fail) = (Arc::clone(&self.store), e.clone(), spec.soft_fail);
                match blocking(move || sensors::external::poke(&store, &e, &dates, soft_fail)).await
                {
                    Some(Ok(p)) => p,
                    Some(Err(e)) => Poke::Error(e.to_string()),
                    None => Poke::Error("reading the state store stopped".to_owned()),
                }
            }
            SensorKind::S3Key(s) => {
                let cfg = self.executor.executor_config(&input.dag, &input.task);
                sensors::s3::poke(s, &cfg).await
            }
        }
    }

    /// A python sensor's poke: one call of its callable on the executor.
    async fn python_poke(&self, input: &TryInput, n: u32) -> Poke {
        let output = self
            .executor
            .run_try(poke_input(input, format!("{}/poke-{n}", input.job_key)))
            .await;
        match output.value {
            Ok(v) => poke_value(v),
            Err(TaskError::Call(e)) if e.exc_type == "AirflowSkipException" => {
                Poke::Skip(e.message)
            }
            Err(e) if e.no_retry() => Poke::Fail(e.to_string()),
            Err(e) => Poke::Error(e.to_string()),
        }
    }

    /// The logical dates an external_task sensor waits for: this run's, minus
    /// `execution_delta`, or what `execution_date_fn` returns.
    async fn external_dates(
        &self,
        e: &lithoflow_dag::ExternalTaskSpec,
        input: &TryInput,
    ) -> Result<Vec<DateTime<Utc>>, String> {
        let logical = self.run.logical_date.unwrap_or(self.run.run_after);
        if let Some(delta) = e.execution_delta {
            return Ok(vec![
                logical - chrono::Duration::from_std(delta).map_err(|e| e.to_string())?,
            ]);
        }
        let Some(f) = &e.execution_date_fn else {
            return Ok(vec![logical]);
        };
        // `execution_date_fn(logical_date, **context)`, as Airflow's
        // `make_kwargs_callable`: the context values the function names.
        let mut call = poke_input(input, format!("{}/execution-date-fn", input.job_key));
        call.task.kind = TaskKind::Python(lithoflow_dag::PythonSpec {
            python_callable: f.clone(),
            op_args: vec![Value::String(
                logical.format("%Y-%m-%dT%H:%M:%S%.f+00:00").to_string(),
            )],
            ..lithoflow_dag::PythonSpec::default()
        });
        let out = self.executor.run_try(call).await;
        let value = out
            .value
            .map_err(|e| format!("execution_date_fn {f} failed: {e}"))?;
        let items = match value {
            Value::Array(a) => a,
            other => vec![other],
        };
        items
            .iter()
            .map(|v| match v {
                Value::String(s) => lithoflow_dag::parse_datetime(s),
                other => Err(format!("{other} is not a date-time")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                format!("execution_date_fn {f} must return a date-time (ISO string) or a list of them: {e}")
            })
    }
}

/// A python call's [`TryInput`] from the sensor try's (its own job key). Its job's
/// data is removed after the call: a sensor poking for days leaves no job per poke.
pub(super) fn poke_input(input: &TryInput, job_key: String) -> TryInput {
    let mut task = input.task.clone();
    task.common.clean_data = true;
    TryInput {
        dag: Arc::clone(&input.dag),
        task,
        try_number: input.try_number,
        map_index: input.map_index,
        job_key,
        xcom: input.xcom.clone(),
        context: input.context.clone(),
        cancel: input.cancel.child_token(),
        started: input.started.clone(),
        log: input.log.clone(),
        services: input.services.clone(),
    }
}

/// A python sensor callable's value: a `PokeReturnValue` (its `xcom_value` the XCom), or
/// any value, done when truthy.
fn poke_value(v: Value) -> Poke {
    if let Value::Object(m) = &v
        && m.get(POKE_RETURN_VALUE_KEY) == Some(&Value::Bool(true))
    {
        let done = m.get("is_done").is_some_and(taskrun::truthy);
        let xcom = m.get("xcom_value").cloned().unwrap_or(Value::Null);
        return if done {
            Poke::Done(xcom)
        } else {
            Poke::NotYet("the callable returned PokeReturnValue(is_done=False)".to_owned())
        };
    }
    if taskrun::truthy(&v) {
        Poke::Done(Value::Null)
    } else {
        Poke::NotYet(format!("the callable returned {v}"))
    }
}

fn time_poke(target: DateTime<Utc>, done: bool) -> Poke {
    if done {
        Poke::Done(Value::Null)
    } else {
        Poke::NotYet(format!(
            "Checking if the time ({}) has come",
            target.to_rfc3339()
        ))
    }
}

/// The outcome of a try stopped while it waited (a clear, a drain): dropped by the run.
fn stopped() -> TryOutput {
    TryOutput::failed(TaskError::Input("the wait was stopped".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_poke_return_value_is_done_with_its_xcom_or_not_yet() {
        let done = json!({ POKE_RETURN_VALUE_KEY: true, "is_done": true, "xcom_value": {"n": 1} });
        assert_eq!(poke_value(done), Poke::Done(json!({"n": 1})));
        let not_yet = json!({ POKE_RETURN_VALUE_KEY: true, "is_done": false, "xcom_value": 3 });
        assert!(matches!(poke_value(not_yet), Poke::NotYet(_)));
        assert_eq!(poke_value(json!(true)), Poke::Done(Value::Null));
        assert!(matches!(poke_value(json!([])), Poke::NotYet(_)));
        // A dict without the marker is a plain truthy value.
        assert_eq!(
            poke_value(json!({"is_done": false})),
            Poke::Done(Value::Null)
        );
    }
}
