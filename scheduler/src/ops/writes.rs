//! Issue 20's write paths on runs no engine holds: set a run's state, set task
//! instances' state, notes, delete a run; and the event log entries of user actions.
//!
//! The rules are Airflow 2.10's (`airflow/api/common/mark_tasks.py`: `set_state`,
//! `set_dag_run_state_to_success` / `_failed` / `_queued`; `DAG.set_task_instance_state`
//! in `airflow/models/dag.py`; `DagRun.set_state` and `TaskInstance._set_state` for the
//! dates). A run an engine holds gets the same changes through its engine
//! (`engine/run/writes.rs`), which applies them with the functions here.

use std::collections::BTreeSet;

use chrono::{DateTime, SubsecRound, Utc};

use super::{ClearSpec, ClearedTi, OpError};
use crate::control::SetTaskStateSpec;
use crate::store::{
    AuditRecord, DagRunRecord, RunState, Store, TaskInstanceRecord, TaskState, UNMAPPED,
};
use lithoflow_dag::Dag;

/// Sets a task instance's state as Airflow's `TaskInstance.set_state`: the start date is
/// kept (now when it had none), a finished state gets an end date (the one it had, else
/// now) and its duration; a retry's wait and a sensor's wait are dropped. Returns the
/// state before (unchanged when it already had this state).
pub(crate) fn set_ti_state(
    ti: &mut TaskInstanceRecord,
    state: TaskState,
    now: DateTime<Utc>,
) -> TaskState {
    let before = ti.state;
    if before == state {
        return before;
    }
    ti.state = state;
    let start = *ti.start_date.get_or_insert(now);
    if state.is_finished() {
        let end = *ti.end_date.get_or_insert(now);
        ti.duration_s = Some((end - start).num_microseconds().unwrap_or(0) as f64 / 1e6);
    }
    ti.next_retry_at = None;
    ti.sensor = None;
    if state != TaskState::Failed {
        ti.error = None;
    }
    before
}

/// The task instances a run's new state sets, and to what (Airflow's
/// `set_dag_run_state_to_*`): `success` sets every instance not successful to success;
/// `failed` sets the running ones (running, up_for_reschedule) to failed and the other
/// unfinished ones to skipped; `queued` sets none.
pub(crate) fn run_state_changes<'a>(
    tis: impl IntoIterator<Item = &'a TaskInstanceRecord>,
    state: RunState,
) -> Vec<(String, i32, TaskState)> {
    tis.into_iter()
        .filter_map(|ti| {
            let to = match state {
                RunState::Success if ti.state != TaskState::Success => TaskState::Success,
                RunState::Failed
                    if matches!(ti.state, TaskState::Running | TaskState::UpForReschedule) =>
                {
                    TaskState::Failed
                }
                RunState::Failed if !ti.state.is_finished() => TaskState::Skipped,
                _ => return None,
            };
            Some((ti.task_id.clone(), ti.map_index, to))
        })
        .collect()
}

/// Sets a run's own state and dates as Airflow's `DagRun.set_state`: to queued, a new
/// `queued_at` and no start or end date; from unfinished to finished, the end date now.
/// A run no longer failed loses its failure reason (`note`).
pub(crate) fn apply_run_state(run: &mut DagRunRecord, state: RunState, now: DateTime<Utc>) {
    if run.state == state {
        if state == RunState::Queued {
            run.queued_at = Some(now);
        }
        return;
    }
    if state == RunState::Queued {
        run.queued_at = Some(now);
        run.start_date = None;
        run.end_date = None;
    }
    if !run.state.is_finished() && state.is_finished() {
        run.end_date = Some(now);
    }
    if state != RunState::Failed {
        // lithoflow's failure reason (a deadlock, a timeout) no longer applies.
        run.note = None;
    }
    run.state = state;
}

/// Refuses a run state the API cannot set (Airflow's `SetDagRunStateFormSchema`:
/// `success`, `failed` or `queued`).
pub(crate) fn check_run_state(state: RunState) -> Result<(), OpError> {
    match state {
        RunState::Success | RunState::Failed | RunState::Queued => Ok(()),
        other => Err(OpError::BadRequest(format!(
            "a run's state can be set to success, failed or queued, not {}",
            other.name()
        ))),
    }
}

/// Refuses a task state the API cannot set (Airflow's `SetTaskInstanceStateFormSchema`:
/// `success`, `failed` or `skipped`).
pub(crate) fn check_task_state(state: TaskState) -> Result<(), OpError> {
    match state {
        TaskState::Success | TaskState::Failed | TaskState::Skipped => Ok(()),
        other => Err(OpError::BadRequest(format!(
            "a task instance's state can be set to success, failed or skipped, not {}",
            other.name()
        ))),
    }
}

fn no_run(dag_id: &str, run_id: &str) -> OpError {
    OpError::NotFound(format!("DAG `{dag_id}` has no run `{run_id}`"))
}

/// A run's task instances, with the missing ones of its tasks created with no state (as
/// Airflow's `verify_integrity` creates them before a state is set).
fn tis_with_missing(
    store: &Store,
    dag: &Dag,
    run_id: &str,
) -> Result<Vec<TaskInstanceRecord>, OpError> {
    let mut tis = store.tis(&dag.dag_id, run_id)?;
    for task in &dag.tasks {
        if !tis.iter().any(|t| t.task_id == task.task_id) {
            tis.push(TaskInstanceRecord::new(&task.task_id, task.retries + 1));
        }
    }
    Ok(tis)
}

/// Sets the state of a run no engine holds, with its task instances (see
/// [`run_state_changes`]); returns the run and the instances changed, with their state
/// before.
pub(crate) fn set_run_state(
    store: &Store,
    dag: &Dag,
    run_id: &str,
    state: RunState,
    now: DateTime<Utc>,
) -> Result<(DagRunRecord, Vec<ClearedTi>), OpError> {
    check_run_state(state)?;
    let now = now.trunc_subsecs(6);
    let mut run = store
        .run(&dag.dag_id, run_id)?
        .ok_or_else(|| no_run(&dag.dag_id, run_id))?;
    let mut tis = tis_with_missing(store, dag, run_id)?;
    let changes = run_state_changes(&tis, state);
    let mut changed = Vec::new();
    for ti in &mut tis {
        if let Some((_, _, to)) = changes
            .iter()
            .find(|(t, m, _)| *t == ti.task_id && *m == ti.map_index)
        {
            let before = set_ti_state(ti, *to, now);
            store.put_ti(&dag.dag_id, run_id, ti)?;
            changed.push(cleared(run_id, ti, before));
        }
    }
    apply_run_state(&mut run, state, now);
    store.put_run(&run)?;
    store.flush()?;
    Ok((run, changed))
}

fn cleared(run_id: &str, ti: &TaskInstanceRecord, before: TaskState) -> ClearedTi {
    ClearedTi {
        dag_run_id: run_id.to_owned(),
        task_id: ti.task_id.clone(),
        map_index: ti.map_index,
        state: before,
    }
}

/// Every task upstream (`up`) or downstream of `start`, transitively, without `start`.
pub(crate) fn relatives(dag: &Dag, start: &str, up: bool) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![start.to_owned()];
    while let Some(t) = stack.pop() {
        let next = if up {
            dag.graph.upstream(&t)
        } else {
            dag.graph.downstream(&t)
        };
        for n in next {
            if n != start && seen.insert(n.to_owned()) {
                stack.push(n.to_owned());
            }
        }
    }
    seen
}

/// What a task state change does in one run.
#[derive(Debug, Clone)]
pub(crate) struct RunPlan {
    /// The run.
    pub run: DagRunRecord,
    /// The instances whose state is set (as they are now).
    pub set: Vec<TaskInstanceRecord>,
    /// The tasks downstream of the task whose failed and upstream_failed instances are
    /// then cleared, so that they run again (Airflow's `set_task_instance_state`).
    pub reset_failed: Vec<String>,
}

/// The runs of a task state change: the spec's run, with `past` every earlier run (by
/// logical date) and with `future` every later one (Airflow's `get_run_ids`).
fn plan_runs(
    store: &Store,
    dag: &Dag,
    spec: &SetTaskStateSpec,
) -> Result<Vec<DagRunRecord>, OpError> {
    let runs = store.runs(&dag.dag_id)?;
    let Some(current) = runs.iter().find(|r| r.run_id == spec.run_id).cloned() else {
        return Err(no_run(&dag.dag_id, &spec.run_id));
    };
    if !spec.past && !spec.future {
        return Ok(vec![current]);
    }
    let date = |r: &DagRunRecord| r.logical_date.unwrap_or(r.run_after);
    let at = date(&current);
    let mut out: Vec<DagRunRecord> = runs
        .into_iter()
        .filter(|r| {
            let d = date(r);
            r.run_id == current.run_id
                || (d == at)
                || (spec.past && d < at)
                || (spec.future && d > at)
        })
        .collect();
    out.sort_by(|a, b| (date(a), &a.run_id).cmp(&(date(b), &b.run_id)));
    Ok(out)
}

/// Plans Airflow's `set_state` for a task: its instances (only `map_indexes`, if given),
/// with `upstream` / `downstream` every instance of its relatives, in the spec's runs;
/// the instances already in the state are left out.
pub(crate) fn task_state_plan(
    store: &Store,
    dag: &Dag,
    spec: &SetTaskStateSpec,
) -> Result<Vec<RunPlan>, OpError> {
    check_task_state(spec.state)?;
    if dag.task(&spec.task_id).is_none() {
        return Err(OpError::NotFound(format!(
            "DAG `{}` has no task `{}`",
            dag.dag_id, spec.task_id
        )));
    }
    let mut others = BTreeSet::new();
    if spec.upstream {
        others.extend(relatives(dag, &spec.task_id, true));
    }
    if spec.downstream {
        others.extend(relatives(dag, &spec.task_id, false));
    }
    let reset_failed: Vec<String> = relatives(dag, &spec.task_id, false).into_iter().collect();
    let mut plans = Vec::new();
    for run in plan_runs(store, dag, spec)? {
        let set: Vec<TaskInstanceRecord> = tis_with_missing(store, dag, &run.run_id)?
            .into_iter()
            .filter(|ti| {
                let main = ti.task_id == spec.task_id
                    && spec
                        .map_indexes
                        .as_ref()
                        .is_none_or(|m| m.contains(&ti.map_index));
                (main || others.contains(&ti.task_id)) && ti.state != spec.state
            })
            .collect();
        plans.push(RunPlan {
            run,
            set,
            reset_failed: reset_failed.clone(),
        });
    }
    Ok(plans)
}

/// What a plan changes (or, for a dry run, would change): the instances with their
/// state before.
pub(crate) fn planned(plans: &[RunPlan]) -> Vec<ClearedTi> {
    plans
        .iter()
        .flat_map(|p| p.set.iter().map(|ti| cleared(&p.run.run_id, ti, ti.state)))
        .collect()
}

/// Applies a task state change to a run no engine holds: the instances' states, then
/// the failed and upstream_failed instances of the task's downstream tasks are cleared
/// (their run goes back to queued, to run them). Returns the run as it is then.
pub(crate) fn apply_task_state(
    store: &Store,
    dag: &Dag,
    plan: RunPlan,
    state: TaskState,
    now: DateTime<Utc>,
) -> Result<DagRunRecord, OpError> {
    let now = now.trunc_subsecs(6);
    let run_id = plan.run.run_id.clone();
    for mut ti in plan.set {
        set_ti_state(&mut ti, state, now);
        store.put_ti(&dag.dag_id, &run_id, &ti)?;
    }
    store.flush()?;
    if !plan.reset_failed.is_empty() {
        let spec = ClearSpec {
            task_ids: Some(plan.reset_failed),
            only_failed: true,
            run_id: Some(run_id.clone()),
            ..ClearSpec::default()
        };
        let targets = super::clear_targets(store, dag, &spec)?;
        super::apply_clear(store, dag, targets)?;
    }
    store
        .run(&dag.dag_id, &run_id)?
        .ok_or_else(|| no_run(&dag.dag_id, &run_id))
}

/// Sets (None: removes) the user's note on a run, or on one of its task instances
/// (`task` = `(task_id, map_index)`). A task instance not created yet (its run has not
/// started) is created with the note, when `dag` has the task.
pub(crate) fn set_note(
    store: &Store,
    dag: Option<&Dag>,
    dag_id: &str,
    run_id: &str,
    task: Option<(&str, i32)>,
    note: Option<String>,
) -> Result<(), OpError> {
    let mut run = store
        .run(dag_id, run_id)?
        .ok_or_else(|| no_run(dag_id, run_id))?;
    match task {
        None => {
            run.user_note = note;
            store.put_run(&run)?;
        }
        Some((task_id, map_index)) => {
            let mut ti = match store.ti_at(dag_id, run_id, task_id, map_index)? {
                Some(ti) => ti,
                None => match dag.and_then(|d| d.task(task_id)) {
                    Some(t)
                        if map_index == UNMAPPED
                            && !store
                                .tis(dag_id, run_id)?
                                .iter()
                                .any(|x| x.task_id == task_id) =>
                    {
                        TaskInstanceRecord::new(task_id, t.retries + 1)
                    }
                    _ => {
                        return Err(OpError::NotFound(format!(
                            "run `{run_id}` of DAG `{dag_id}` has no task instance `{task_id}`{}",
                            if map_index == UNMAPPED {
                                String::new()
                            } else {
                                format!(" with map index {map_index}")
                            }
                        )));
                    }
                },
            };
            ti.note = note;
            store.put_ti(dag_id, run_id, &ti)?;
        }
    }
    store.flush()?;
    Ok(())
}

/// Deletes a run no engine holds, with its task instances, XCom, logs and job data
/// (Airflow's `DELETE .../dagRuns/{id}`; the removal is `db clean`'s).
pub(crate) fn delete_run(
    store: &Store,
    files: &crate::retention::RunFiles,
    dag_id: &str,
    run_id: &str,
) -> Result<(), OpError> {
    if store.run(dag_id, run_id)?.is_none() {
        return Err(no_run(dag_id, run_id));
    }
    crate::retention::remove_run(store, files, dag_id, run_id)?;
    store.flush()?;
    Ok(())
}

/// Records a user action in the event log; a failure to record it is logged, not
/// returned (the action itself is done).
pub(crate) fn audit(store: &Store, rec: AuditRecord) {
    if let Err(e) = store.record_audit(rec) {
        tracing::warn!(error = %e, "failed to record a user action in the event log");
    }
}

/// The OS user running this process, the owner of the CLI's event log entries (`cli`
/// when the environment does not say).
pub(crate) fn os_user() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "cli".to_owned())
}

/// Event names of the event log, as Airflow 2.10 records them: the REST API's
/// (`api.` + the endpoint function, `airflow/www/decorators.py`) for what the scheduler's
/// API does, the CLI's (`cli_` + the command function, `airflow/utils/cli.py`) for what
/// the CLI does on the store.
pub(crate) mod events {
    /// `POST /dags/{id}/dagRuns`.
    pub(crate) const API_TRIGGER: &str = "api.post_dag_run";
    /// `PATCH /dags/{id}` (pause, unpause).
    pub(crate) const API_PATCH_DAG: &str = "api.patch_dag";
    /// `POST /dags/{id}/clearTaskInstances` (and a run's clear).
    pub(crate) const API_CLEAR: &str = "api.post_clear_task_instances";
    /// `PATCH /dags/{id}/dagRuns/{run}`.
    pub(crate) const API_RUN_STATE: &str = "api.update_dag_run_state";
    /// `DELETE /dags/{id}/dagRuns/{run}`.
    pub(crate) const API_DELETE_RUN: &str = "api.delete_dag_run";
    /// `PATCH .../dagRuns/{run}/setNote`.
    pub(crate) const API_RUN_NOTE: &str = "api.set_dag_run_note";
    /// `PATCH .../taskInstances/{task}/setNote`.
    pub(crate) const API_TI_NOTE: &str = "api.set_task_instance_note";
    /// `PATCH .../taskInstances/{task}`.
    pub(crate) const API_TI_STATE: &str = "api.patch_task_instance";
    /// `POST /dags/{id}/updateTaskInstancesState` (with relatives or other runs).
    pub(crate) const API_TIS_STATE: &str = "api.post_set_task_instances_state";
    /// `POST /backfills` (Airflow 3's `create_backfill`; Airflow 2 has no such route).
    pub(crate) const API_BACKFILL: &str = "api.create_backfill";
    /// `dags trigger`.
    pub(crate) const CLI_TRIGGER: &str = "cli_dag_trigger";
    /// `dags pause`.
    pub(crate) const CLI_PAUSE: &str = "cli_dag_pause";
    /// `dags unpause`.
    pub(crate) const CLI_UNPAUSE: &str = "cli_dag_unpause";
    /// `tasks clear`.
    pub(crate) const CLI_CLEAR: &str = "cli_task_clear";
    /// `dags backfill`.
    pub(crate) const CLI_BACKFILL: &str = "cli_dag_backfill";
}

#[cfg(test)]
#[path = "writes_tests.rs"]
mod tests;
