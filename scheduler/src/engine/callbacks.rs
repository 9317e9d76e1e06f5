//! Airflow's callbacks: Python functions called with the context when a task's or a
//! run's state changes, run on the executor like a task's call.
//!
//! When each fires is Airflow 3's (`airflow/sdk/execution_time/task_runner.py`:
//! `_run_task_state_change_callbacks` from `_execute_task` and `finalize`; DAG
//! callbacks from `airflow/models/dagrun.py` `update_state` and the scheduler's
//! `dagrun_timeout`, run by `dag_processing/processor.py` `_execute_dag_callbacks`):
//!
//! - `on_execute_callback`: after the task's templates are rendered, just before it runs;
//! - `on_success_callback`, `on_failure_callback` (no retry left), `on_retry_callback`
//!   (the try failed and will be retried), `on_skipped_callback` (the task skipped
//!   itself: AirflowSkipException, a bash skip exit code; not a skip by a trigger rule
//!   or a branch): once the try's state is recorded;
//! - the DAG's `on_success_callback` and `on_failure_callback`: once the run's state is
//!   recorded, with `reason` `success`, `task_failure`, `timed_out` or
//!   `all_tasks_deadlocked`, and the context of the run's last task instance (by task
//!   id, as Airflow's `get_last_ti`).
//!
//! Each list runs in order, each function with the context as its one argument. A
//! callback that fails is logged (the try's log and the scheduler's log for a task's,
//! the run's `dag_callbacks.log` and the scheduler's log for a DAG's) and changes no
//! state, as in Airflow. State first, then the callback (the durability rule): a callback
//! is called at most once, and one cut short by the scheduler stopping is not called
//! again. The next tasks do not wait for a task's callbacks; the run's end waits for
//! them, then runs the DAG's.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use serde_json::{Map, Value, json};

use super::{Engine, TaskExecutor, TryLog};
use crate::store::{DagRunRecord, RunState, TaskInstanceRecord, TaskState};
use crate::taskrun::{ContextInputs, TaskError, job_key, template_context};
use lithoflow_dag::{Dag, FuncRef, Task};

/// Which callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallbackKind {
    /// A task's `on_execute_callback`.
    Execute,
    /// A task's `on_success_callback`.
    Success,
    /// A task's `on_failure_callback`.
    Failure,
    /// A task's `on_retry_callback`.
    Retry,
    /// A task's `on_skipped_callback`.
    Skipped,
    /// The DAG's `on_success_callback`.
    DagSuccess,
    /// The DAG's `on_failure_callback`.
    DagFailure,
}

impl CallbackKind {
    /// The key that sets it.
    pub(crate) fn key(self) -> &'static str {
        match self {
            CallbackKind::Execute => "on_execute_callback",
            CallbackKind::Success | CallbackKind::DagSuccess => "on_success_callback",
            CallbackKind::Failure | CallbackKind::DagFailure => "on_failure_callback",
            CallbackKind::Retry => "on_retry_callback",
            CallbackKind::Skipped => "on_skipped_callback",
        }
    }

    /// A task's callback for the state its try ended in, if that state has one.
    pub(crate) fn after_try(state: TaskState) -> Option<CallbackKind> {
        match state {
            TaskState::Success => Some(CallbackKind::Success),
            TaskState::Failed => Some(CallbackKind::Failure),
            TaskState::UpForRetry => Some(CallbackKind::Retry),
            TaskState::Skipped => Some(CallbackKind::Skipped),
            _ => None,
        }
    }

    fn of_task(self, task: &Task) -> &[FuncRef] {
        let c = &task.callbacks;
        match self {
            CallbackKind::Execute => &c.on_execute_callback,
            CallbackKind::Success => &c.on_success_callback,
            CallbackKind::Failure => &c.on_failure_callback,
            CallbackKind::Retry => &c.on_retry_callback,
            CallbackKind::Skipped => &c.on_skipped_callback,
            CallbackKind::DagSuccess | CallbackKind::DagFailure => &[],
        }
    }
}

/// One callback call, as the engine hands it to a [`TaskExecutor`].
pub(crate) struct CallbackInput {
    /// The DAG.
    pub dag: Arc<Dag>,
    /// The task whose callback it is (its executor settings apply); None: the DAG's.
    pub task: Option<Task>,
    /// Which callback.
    pub kind: CallbackKind,
    /// The function.
    pub func: FuncRef,
    /// Airflow's context, the function's one argument (with `exception` after a failure
    /// and `reason` for the DAG's callbacks).
    pub context: Map<String, Value>,
    /// Where the call's job data lives in storage.
    pub job_key: String,
    /// What the callback's code may ask the scheduler (`Variable.get`, `get_connection`,
    /// `xcom_pull`, ...), as a task's code may; see [`with_services`].
    pub services: Option<lithoflow_executor::Services>,
}

/// `calls` with the services of their run: a callback reads variables, connections and
/// XCom as its task does (a Slack or mail callback commonly reads its connection).
pub(super) fn with_services(
    mut calls: Vec<CallbackInput>,
    store: &Arc<crate::store::Store>,
    state_dir: &std::path::Path,
    run: &DagRunRecord,
) -> Vec<CallbackInput> {
    for call in &mut calls {
        let task_id = match &call.task {
            Some(t) => t.task_id.clone(),
            None => call
                .context
                .get("task_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        };
        call.services = Some(crate::services::TaskServices::in_run(
            Arc::clone(store),
            state_dir.to_path_buf(),
            run,
            &task_id,
            call.context
                .get("map_index")
                .and_then(Value::as_i64)
                .and_then(|i| i32::try_from(i).ok())
                .unwrap_or(crate::store::UNMAPPED),
            call.context.clone(),
        ));
    }
    calls
}

/// How a callback ended.
#[derive(Debug, Clone)]
pub(crate) struct CallbackOutput {
    /// Why it failed (the exception and its traceback).
    pub result: Result<(), String>,
    /// What it printed.
    pub output: String,
}

/// Where a list of callbacks reports.
#[derive(Clone)]
pub(super) enum CallbackLog {
    /// The try's log, still open (`on_execute_callback`).
    Try(TryLog),
    /// A log file to append to: a try's ended log, or the run's `dag_callbacks.log`.
    File(PathBuf),
}

impl CallbackLog {
    fn write(&self, text: &str) {
        match self {
            CallbackLog::Try(log) => log.callback_output(text),
            CallbackLog::File(path) => {
                let appended = path
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| {
                        std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(path)
                    })
                    .and_then(|mut f| f.write_all(text.as_bytes()));
                if let Err(e) = appended {
                    tracing::warn!(path = %path.display(), error = %e, "failed to write a callback's log");
                }
            }
        }
    }
}

/// Runs callbacks one after the other, each reported to `log` and the scheduler's log.
/// A failure is reported and the next one still runs.
pub(super) async fn run_all(
    executor: Arc<dyn TaskExecutor>,
    calls: Vec<CallbackInput>,
    log: CallbackLog,
) {
    let n = calls.len();
    for (i, input) in calls.into_iter().enumerate() {
        let (kind, func) = (input.kind, input.func.to_string());
        let dag_id = input.dag.dag_id.clone();
        let task = input.task.as_ref().map(|t| t.task_id.clone());
        let run_id = input
            .context
            .get("run_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let out = executor.run_callback(input).await;
        let at = Utc::now().to_rfc3339();
        let mut text = String::new();
        if !out.output.is_empty() {
            text.push_str(&out.output);
            if !out.output.ends_with('\n') {
                text.push('\n');
            }
        }
        match &out.result {
            Ok(()) => {
                text.push_str(&format!(
                    "[{at}] {} {}/{n} {func} done\n",
                    kind.key(),
                    i + 1
                ));
                tracing::info!(dag = %dag_id, run = %run_id, task = task.as_deref().unwrap_or(""), callback = kind.key(), function = %func, "callback done");
            }
            Err(e) => {
                text.push_str(&format!(
                    "[{at}] {} {}/{n} {func} failed (the state is unchanged): {e}\n",
                    kind.key(),
                    i + 1
                ));
                let first = e.lines().next().unwrap_or_default();
                tracing::warn!(dag = %dag_id, run = %run_id, task = task.as_deref().unwrap_or(""), callback = kind.key(), function = %func, error = %first, "callback failed; the state is unchanged");
            }
        }
        log.write(&format!(
            "--- {} {}/{n}: {func} ---\n{text}",
            kind.key(),
            i + 1
        ));
    }
}

/// The exception as the context carries it: type, message and traceback, which the
/// runtime turns back into an exception object.
fn exception(e: &TaskError) -> Value {
    match e {
        TaskError::Call(c) => json!({
            "type": c.exc_type,
            "message": c.message,
            "traceback": c.traceback,
        }),
        TaskError::Timeout(m) => json!({ "type": "AirflowTaskTimeout", "message": m }),
        TaskError::SensorTimeout(m) => json!({ "type": "AirflowSensorTimeout", "message": m }),
        TaskError::Fail(m) => json!({ "type": "AirflowFailException", "message": m }),
        TaskError::Input(m) | TaskError::Skip(m) => {
            json!({ "type": "AirflowException", "message": m })
        }
    }
}

/// The callbacks of `kind` for a task's try, with its context (and the exception of a
/// failed try).
pub(super) fn for_task(
    dag: &Arc<Dag>,
    run: &DagRunRecord,
    (task, map_index): (&Task, i32),
    try_number: u32,
    kind: CallbackKind,
    error: Option<&TaskError>,
) -> Vec<CallbackInput> {
    let funcs = kind.of_task(task);
    if funcs.is_empty() {
        return Vec::new();
    }
    let mut ctx = template_context(
        dag,
        run,
        &task.task_id,
        try_number,
        ContextInputs::detached(run),
    );
    ctx.map_index = i64::from(map_index);
    let mut context = ctx.json();
    if let Some(e) = error.filter(|_| matches!(kind, CallbackKind::Failure | CallbackKind::Retry)) {
        context.insert("exception".to_owned(), exception(e));
    }
    funcs
        .iter()
        .enumerate()
        .map(|(i, func)| CallbackInput {
            dag: Arc::clone(dag),
            task: Some(task.clone()),
            kind,
            func: func.clone(),
            context: context.clone(),
            job_key: job_key(
                &dag.dag_id,
                &run.run_id,
                &format!("{}@{}.{i}", task.task_id, kind.key()),
                map_index,
                try_number,
            ),
            services: None,
        })
        .collect()
}

/// Airflow's `reason` for a run's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RunEnd {
    /// Every leaf succeeded or was skipped: `success`.
    Success,
    /// A leaf failed: `task_failure`.
    TaskFailure,
    /// `dagrun_timeout` passed: `timed_out`.
    TimedOut,
    /// No task could run: `all_tasks_deadlocked`.
    Deadlocked,
}

impl RunEnd {
    fn reason(self) -> &'static str {
        match self {
            RunEnd::Success => "success",
            RunEnd::TaskFailure => "task_failure",
            RunEnd::TimedOut => "timed_out",
            RunEnd::Deadlocked => "all_tasks_deadlocked",
        }
    }
}

/// The DAG's callbacks for a run that ended as `end`, with the context of the run's last
/// task instance (by natural order of task ids, Airflow's `get_last_ti`) and `reason`.
pub(super) fn for_run<'t>(
    dag: &Arc<Dag>,
    run: &DagRunRecord,
    tis: impl Iterator<Item = &'t TaskInstanceRecord>,
    end: RunEnd,
) -> Vec<CallbackInput> {
    let (kind, funcs) = match run.state {
        RunState::Success => (CallbackKind::DagSuccess, &dag.on_success_callback),
        RunState::Failed => (CallbackKind::DagFailure, &dag.on_failure_callback),
        _ => return Vec::new(),
    };
    if funcs.is_empty() {
        return Vec::new();
    }
    let last = tis.max_by(|a, b| natural_key(&a.task_id).cmp(&natural_key(&b.task_id)));
    let mut context = match last {
        Some(ti) => template_context(
            dag,
            run,
            &ti.task_id,
            ti.try_number.max(1),
            ContextInputs::detached(run),
        )
        .json(),
        None => {
            let mut m = Map::new();
            m.insert("dag".to_owned(), json!({ "dag_id": dag.dag_id }));
            m.insert("dag_id".to_owned(), json!(dag.dag_id));
            m.insert("run_id".to_owned(), json!(run.run_id));
            m
        }
    };
    context.insert("reason".to_owned(), json!(end.reason()));
    funcs
        .iter()
        .enumerate()
        .map(|(i, func)| CallbackInput {
            dag: Arc::clone(dag),
            task: None,
            kind,
            func: func.clone(),
            context: context.clone(),
            job_key: job_key(
                &dag.dag_id,
                &run.run_id,
                &format!("@{}.{i}", kind.key()),
                -1,
                0,
            ),
            services: None,
        })
        .collect()
}

/// natsort's key: runs of digits compare as numbers (`t9` before `t10`).
fn natural_key(id: &str) -> Vec<(u8, u128, String)> {
    let mut out = Vec::new();
    let mut chars = id.chars().peekable();
    while let Some(&c) = chars.peek() {
        let digit = c.is_ascii_digit();
        let mut part = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_ascii_digit() != digit {
                break;
            }
            part.push(c);
            chars.next();
        }
        if digit {
            out.push((0, part.parse().unwrap_or(u128::MAX), part));
        } else {
            out.push((1, 0, part));
        }
    }
    out
}

impl Engine {
    /// The run's log of its DAG callbacks: `dag_callbacks.log` in the run's log folder.
    pub(super) fn dag_callbacks_log(&self, dag_id: &str, run_id: &str) -> PathBuf {
        let try_log = Engine::log_path(&self.logs_dir, dag_id, run_id, "_", -1, 1);
        // <logs>/dag_id=../run_id=../task_id=_/attempt=1.log: two folders up.
        try_log
            .parent()
            .and_then(std::path::Path::parent)
            .map_or_else(|| self.logs_dir.clone(), std::path::Path::to_path_buf)
            .join("dag_callbacks.log")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_sort_naturally_as_airflow_picks_the_last_ti() {
        let mut ids = vec!["t10", "t9", "a", "t1", "b2c"];
        ids.sort_by_key(|id| natural_key(id));
        assert_eq!(ids, ["a", "b2c", "t1", "t9", "t10"]);
    }
}
