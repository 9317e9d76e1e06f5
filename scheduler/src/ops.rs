//! Operations that change recorded state: trigger a run, pause or unpause a DAG, clear
//! task instances, create a backfill; set a run's or task instances' state, notes,
//! delete a run, and the event log entries (`ops/writes.rs`). The CLI calls them on the store when no scheduler
//! holds it; a running scheduler calls them for its API. Each flushes before it returns.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Map, Value};

use crate::store::{
    BackfillRecord, DagRecord, DagRunRecord, RunState, SCHEMA_VERSION, Store, StoreError,
    TaskInstanceRecord, TaskState,
};
use lithoflow_api::{BackfillBody, BackfillRun, ReprocessBehavior};
use lithoflow_dag::Dag;
use lithoflow_dag::timetable;

mod writes;
pub(crate) use writes::*;

/// Why an operation was refused; the API maps these to 404, 409, 400 and 500.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpError {
    /// No such DAG, run or task.
    #[error("{0}")]
    NotFound(String),
    /// The state does not allow it (a run id taken, a backfill already running).
    #[error("{0}")]
    Conflict(String),
    /// The request itself is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file or folder of the home could not be changed (`db clean`).
    #[error("{0}")]
    Files(String),
    /// Refused before writing: the state database's filesystem is (nearly) full.
    #[error(transparent)]
    NoSpace(#[from] crate::engine::NoSpace),
}

/// Formats a time as Airflow prints it in run ids: `2026-11-27T10:00:00+00:00`, with
/// microseconds when there are any.
pub(crate) fn iso(t: DateTime<Utc>) -> String {
    if t.timestamp_subsec_micros() == 0 {
        t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
    }
}

/// The DAG's record, created on first sight with `is_paused_upon_creation`.
pub(crate) fn ensure_dag_record(store: &Store, dag: &Dag) -> Result<DagRecord, OpError> {
    if let Some(rec) = store.dag(&dag.dag_id)? {
        return Ok(rec);
    }
    let rec = DagRecord {
        version: SCHEMA_VERSION,
        is_paused: dag.is_paused_upon_creation,
    };
    store.put_dag(&dag.dag_id, &rec)?;
    Ok(rec)
}

/// Whether a DAG is paused (a DAG never seen before follows `is_paused_upon_creation`).
pub(crate) fn is_paused(store: &Store, dag: &Dag) -> Result<bool, StoreError> {
    Ok(store
        .dag(&dag.dag_id)?
        .map_or(dag.is_paused_upon_creation, |r| r.is_paused))
}

/// What `dags trigger` (and `POST .../dagRuns`, whose body is
/// [`lithoflow_api::TriggerBody`]) asks for.
#[derive(Debug, Clone, Default)]
pub(crate) struct TriggerRequest {
    /// The run's conf.
    pub conf: Map<String, Value>,
    /// The run id (default `manual__<now>`).
    pub run_id: Option<String>,
    /// The logical date (default: now).
    pub logical_date: Option<DateTime<Utc>>,
    /// The data interval (default: the DAG's timetable's, inferred from the logical date).
    pub data_interval: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// The user's note on the run (Airflow's `note`).
    pub note: Option<String>,
    /// When the run may start (default: now); Airflow 3's default run id names it.
    pub run_after: Option<DateTime<Utc>>,
}

/// Records a queued manual run. A paused DAG's run waits queued until it is unpaused.
pub(crate) fn trigger(
    store: &Store,
    dag: &Dag,
    req: TriggerRequest,
    now: DateTime<Utc>,
) -> Result<DagRunRecord, OpError> {
    let now = req.run_after.unwrap_or(now).trunc_subsecs(6);
    ensure_dag_record(store, dag)?;
    let logical = req.logical_date.unwrap_or(now);
    let run_id = req
        .run_id
        .unwrap_or_else(|| format!("manual__{}", iso(now)));
    // `.` and `..` are valid characters but, alone, name folders.
    if run_id.is_empty()
        || run_id == "."
        || run_id == ".."
        || run_id.len() > lithoflow_dag::MAX_ID_LEN
        || !lithoflow_dag::is_valid_id(&run_id.replace([':', '+'], "_"))
    {
        return Err(OpError::BadRequest(format!(
            "run id {run_id:?}: use at most 250 letters, digits, `_`, `.`, `-`, `:` and `+` (not `.` or `..` alone)"
        )));
    }
    if store.run(&dag.dag_id, &run_id)?.is_some() {
        return Err(OpError::Conflict(format!(
            "DAG `{}` already has a run `{run_id}`",
            dag.dag_id
        )));
    }
    if let Some(other) = store
        .runs(&dag.dag_id)?
        .into_iter()
        .find(|r| r.logical_date == Some(logical))
    {
        return Err(OpError::Conflict(format!(
            "DAG `{}` already has a run for logical date {} (`{}`); clear it with `lithoflow tasks clear {} --run-id {}` to run it again",
            dag.dag_id,
            iso(logical),
            other.run_id,
            dag.dag_id,
            other.run_id
        )));
    }
    let (start, end) = req.data_interval.unwrap_or_else(|| {
        let interval = timetable::infer_manual_data_interval(dag, logical);
        (interval.start, interval.end)
    });
    if end < start {
        return Err(OpError::BadRequest(format!(
            "data_interval_end {} is before data_interval_start {}",
            iso(end),
            iso(start)
        )));
    }
    let mut run = DagRunRecord::manual(&dag.dag_id, run_id, logical, now, req.conf);
    run.data_interval_start = Some(start);
    run.data_interval_end = Some(end);
    run.user_note = req.note;
    store.put_run(&run)?;
    store.flush()?;
    Ok(run)
}

/// Pauses or unpauses a DAG; returns whether it was paused before.
pub(crate) fn set_paused(store: &Store, dag: &Dag, paused: bool) -> Result<bool, OpError> {
    let mut rec = ensure_dag_record(store, dag)?;
    let before = rec.is_paused;
    rec.is_paused = paused;
    store.put_dag(&dag.dag_id, &rec)?;
    store.flush()?;
    Ok(before)
}

/// Which task instances `tasks clear` (and `POST .../clearTaskInstances`, whose body is
/// [`lithoflow_api::ClearBody`]) resets.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClearSpec {
    /// Only tasks whose id matches this regular expression.
    pub task_regex: Option<String>,
    /// Exactly these tasks (API: `task_ids`).
    pub task_ids: Option<Vec<String>>,
    /// Also their upstream tasks.
    pub upstream: bool,
    /// Also their downstream tasks.
    pub downstream: bool,
    /// Only failed and upstream_failed instances.
    pub only_failed: bool,
    /// Only this run (default: every run).
    pub run_id: Option<String>,
    /// Only report what would be cleared.
    pub dry_run: bool,
    /// Of these tasks, only these map indexes (Airflow's `[task_id, map_index]` in
    /// `task_ids`); a task not named here: all its instances.
    pub map_indexes: std::collections::BTreeMap<String, BTreeSet<i32>>,
    /// Only running instances (Airflow's `only_running`).
    pub only_running: bool,
    /// Only runs whose logical date is at or after this (Airflow's `start_date`).
    pub start_date: Option<DateTime<Utc>>,
    /// Only runs whose logical date is at or before this (Airflow's `end_date`).
    pub end_date: Option<DateTime<Utc>>,
}

/// One cleared task instance, with the state it had.
#[derive(Debug, Clone)]
pub(crate) struct ClearedTi {
    /// The run.
    pub dag_run_id: String,
    /// The task.
    pub task_id: String,
    /// The instance's map index (-1 unmapped).
    pub map_index: i32,
    /// Its state before the clear (or the state change).
    pub state: TaskState,
}

/// The task instances a clear selects, grouped by run.
pub(crate) fn clear_targets(
    store: &Store,
    dag: &Dag,
    spec: &ClearSpec,
) -> Result<Vec<(DagRunRecord, Vec<TaskInstanceRecord>)>, OpError> {
    let re = spec
        .task_regex
        .as_deref()
        .map(regex::Regex::new)
        .transpose()
        .map_err(|e| OpError::BadRequest(format!("task regex: {e}")))?;
    if let Some(ids) = &spec.task_ids {
        for id in ids {
            if dag.task(id).is_none() {
                return Err(OpError::NotFound(format!(
                    "DAG `{}` has no task `{id}`",
                    dag.dag_id
                )));
            }
        }
    }
    let mut tasks: BTreeSet<String> = dag
        .tasks
        .iter()
        .filter(|t| re.as_ref().is_none_or(|r| r.is_match(&t.task_id)))
        .filter(|t| {
            spec.task_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&t.task_id))
        })
        .map(|t| t.task_id.clone())
        .collect();
    let relatives = |start: &BTreeSet<String>, up: bool| {
        let mut seen = start.clone();
        let mut stack: Vec<String> = start.iter().cloned().collect();
        while let Some(t) = stack.pop() {
            let next = if up {
                dag.graph.upstream(&t)
            } else {
                dag.graph.downstream(&t)
            };
            for n in next {
                if seen.insert(n.to_owned()) {
                    stack.push(n.to_owned());
                }
            }
        }
        seen
    };
    let mut all = tasks.clone();
    if spec.upstream {
        all.extend(relatives(&tasks, true));
    }
    if spec.downstream {
        all.extend(relatives(&tasks, false));
    }
    tasks = all;
    let runs: Vec<DagRunRecord> =
        match &spec.run_id {
            Some(r) => vec![store.run(&dag.dag_id, r)?.ok_or_else(|| {
                OpError::NotFound(format!("DAG `{}` has no run `{r}`", dag.dag_id))
            })?],
            None => store.runs(&dag.dag_id)?,
        };
    // Airflow's `dag.clear(start_date, end_date)`: runs by logical date, both ends
    // inclusive; a run without one is outside any bound.
    let in_dates = |run: &DagRunRecord| {
        (spec.start_date.is_none() && spec.end_date.is_none())
            || run.logical_date.is_some_and(|d| {
                spec.start_date.is_none_or(|s| d >= s) && spec.end_date.is_none_or(|e| d <= e)
            })
    };
    let runs: Vec<DagRunRecord> = runs.into_iter().filter(in_dates).collect();
    let mut out = Vec::new();
    for run in runs {
        let tis: Vec<TaskInstanceRecord> = store
            .tis(&dag.dag_id, &run.run_id)?
            .into_iter()
            .filter(|ti| {
                let failed = matches!(ti.state, TaskState::Failed | TaskState::UpstreamFailed);
                tasks.contains(&ti.task_id)
                    && spec
                        .map_indexes
                        .get(&ti.task_id)
                        .is_none_or(|m| m.contains(&ti.map_index))
                    && (!spec.only_failed || failed)
                    && (!spec.only_running || ti.state == TaskState::Running)
                    && ti.state != TaskState::None
            })
            .collect();
        if !tis.is_empty() {
            out.push((run, tis));
        }
    }
    Ok(out)
}

/// Resets task instances of runs no engine is running: state none, a fresh set of
/// retries, XCom removed; their runs go back to queued.
pub(crate) fn apply_clear(
    store: &Store,
    dag: &Dag,
    targets: Vec<(DagRunRecord, Vec<TaskInstanceRecord>)>,
) -> Result<Vec<ClearedTi>, OpError> {
    let mut cleared = Vec::new();
    for (mut run, tis) in targets {
        for ti in tis {
            cleared.push(ClearedTi {
                dag_run_id: run.run_id.clone(),
                task_id: ti.task_id.clone(),
                map_index: ti.map_index,
                state: ti.state,
            });
            reset_stored_ti(store, dag, &run.run_id, ti)?;
        }
        run.state = RunState::Queued;
        run.queued_at = Some(Utc::now().trunc_subsecs(6));
        run.end_date = None;
        run.note = None;
        store.put_run(&run)?;
    }
    store.flush()?;
    Ok(cleared)
}

/// Resets a stored task instance ([`reset_ti`]) and removes its XCom. A mapped task's
/// instance is removed instead, and the task goes back to its one unexpanded instance:
/// it is expanded again, over its upstream results of then, when it may run.
fn reset_stored_ti(
    store: &Store,
    dag: &Dag,
    run_id: &str,
    mut ti: TaskInstanceRecord,
) -> Result<(), OpError> {
    let d = &dag.dag_id;
    let mapped = dag.task(&ti.task_id).filter(|t| t.is_mapped());
    if let Some(task) = mapped {
        if ti.map_index >= 0 {
            store.delete_ti(d, run_id, &ti.task_id, ti.map_index)?;
            store.clear_xcom_at(d, run_id, &ti.task_id, ti.map_index)?;
        }
        let mut unexpanded = store
            .ti(d, run_id, &ti.task_id)?
            .unwrap_or_else(|| TaskInstanceRecord::new(&task.task_id, task.retries + 1));
        // The instances expanded again go on from the most tries one had.
        unexpanded.try_number = unexpanded.try_number.max(ti.try_number);
        reset_ti(dag, &mut unexpanded);
        store.put_ti(d, run_id, &unexpanded)?;
        return Ok(());
    }
    reset_ti(dag, &mut ti);
    store.put_ti(d, run_id, &ti)?;
    store.clear_xcom_at(d, run_id, &ti.task_id, ti.map_index)?;
    Ok(())
}

/// A task instance back to no state with a fresh set of retries, as Airflow's clear.
pub(crate) fn reset_ti(dag: &Dag, ti: &mut TaskInstanceRecord) {
    ti.state = TaskState::None;
    ti.next_retry_at = None;
    ti.error = None;
    ti.job_id = None;
    ti.sensor = None;
    ti.max_tries = ti.try_number + dag.task(&ti.task_id).map_or(0, |t| t.retries) + 1;
}

/// A backfill's plan and, unless a dry run, its id.
#[derive(Debug, Clone)]
pub(crate) struct BackfillOutcome {
    /// The backfill's id (none for a dry run).
    pub backfill_id: Option<String>,
    /// One row per logical date, in the order they run.
    pub runs: Vec<BackfillRun>,
}

/// Plans a backfill and, unless `dry_run`, creates its queued runs and clears the runs
/// it reprocesses. Airflow 3's rules: both dates inclusive, only intervals that ended
/// before now, runs in flight left alone, existing runs kept unless reprocessed.
///
/// `spec` is what `dags backfill` asks for, through the API (as its body) or here on the
/// store; its `dag_id` is `dag`'s.
pub(crate) fn backfill(
    store: &Store,
    dag: &Dag,
    spec: &BackfillBody,
    now: DateTime<Utc>,
) -> Result<BackfillOutcome, OpError> {
    if spec.from_date > spec.to_date {
        return Err(OpError::BadRequest(format!(
            "--from-date {} is after --to-date {}",
            iso(spec.from_date),
            iso(spec.to_date)
        )));
    }
    if spec.max_active_runs == 0 {
        return Err(OpError::BadRequest(
            "--max-active-runs must be at least 1".to_owned(),
        ));
    }
    if dag.schedule.is_none() {
        return Err(OpError::BadRequest(format!(
            "DAG `{}` has no schedule, so there is nothing to backfill; trigger runs with `lithoflow dags trigger`",
            dag.dag_id
        )));
    }
    if crate::assets::condition(dag).is_some() {
        return Err(OpError::BadRequest(format!(
            "DAG `{}` is scheduled on assets, which gives it no time-based runs to backfill; trigger runs with `lithoflow dags trigger` (or record an asset event)",
            dag.dag_id
        )));
    }
    if spec.run_backwards
        && let Some(t) = dag.tasks.iter().find(|t| t.depends_on_past)
    {
        return Err(OpError::BadRequest(format!(
            "--run-backwards cannot be used: task `{}` has depends_on_past",
            t.task_id
        )));
    }
    let runs = store.runs(&dag.dag_id)?;
    if !spec.dry_run
        && let Some(r) = runs
            .iter()
            .find(|r| r.backfill_id.is_some() && !r.state.is_finished())
    {
        return Err(OpError::Conflict(format!(
            "DAG `{}` already has a backfill in progress (run `{}` is {})",
            dag.dag_id,
            r.run_id,
            r.state.name()
        )));
    }
    let by_date: HashMap<DateTime<Utc>, &DagRunRecord> = runs
        .iter()
        .filter_map(|r| r.logical_date.map(|d| (d, r)))
        .collect();
    let mut infos = timetable::backfill_infos(dag, spec.from_date, spec.to_date, now);
    if spec.run_backwards {
        infos.reverse();
    }
    let now_t = now.trunc_subsecs(6);
    let backfill_id = format!("backfill__{}", iso(now_t));
    let mut rows = Vec::new();
    let mut to_create = Vec::new();
    let mut to_clear = Vec::new();
    for info in infos {
        let logical = info.logical_date();
        let row = |run_id: &str, action: &str, reason: Option<&str>| BackfillRun {
            logical_date: logical,
            dag_run_id: run_id.to_owned(),
            action: action.to_owned(),
            reason: reason.map(str::to_owned),
        };
        match by_date.get(&logical) {
            Some(r) if !r.state.is_finished() => {
                rows.push(row(
                    &r.run_id,
                    "skip",
                    Some("a run for this date is in flight"),
                ));
            }
            Some(r) => {
                let reprocess = match spec.reprocess_behavior {
                    ReprocessBehavior::None => false,
                    ReprocessBehavior::Failed => r.state == RunState::Failed,
                    ReprocessBehavior::Completed => true,
                };
                if reprocess {
                    rows.push(row(&r.run_id, "clear", None));
                    to_clear.push((*r).clone());
                } else {
                    rows.push(row(
                        &r.run_id,
                        "skip",
                        Some(&format!("a {} run exists", r.state.name())),
                    ));
                }
            }
            None => {
                let run_id = format!("backfill__{}", iso(info.run_after));
                rows.push(row(&run_id, "create", None));
                let mut run = DagRunRecord::manual(
                    &dag.dag_id,
                    run_id,
                    logical,
                    info.run_after,
                    spec.dag_run_conf.clone(),
                );
                run.run_type = "backfill".to_owned();
                run.data_interval_start = Some(info.data_interval.start);
                run.data_interval_end = Some(info.data_interval.end);
                run.backfill_id = Some(backfill_id.clone());
                to_create.push(run);
            }
        }
    }
    if spec.dry_run {
        return Ok(BackfillOutcome {
            backfill_id: None,
            runs: rows,
        });
    }
    ensure_dag_record(store, dag)?;
    store.put_backfill(&BackfillRecord {
        version: SCHEMA_VERSION,
        id: backfill_id.clone(),
        dag_id: dag.dag_id.clone(),
        from_date: spec.from_date,
        to_date: spec.to_date,
        reprocess_behavior: spec.reprocess_behavior.name().to_owned(),
        max_active_runs: spec.max_active_runs,
        created_at: now_t,
    })?;
    for run in &to_create {
        store.put_run(run)?;
    }
    for mut run in to_clear {
        for ti in store.tis(&dag.dag_id, &run.run_id)? {
            reset_stored_ti(store, dag, &run.run_id, ti)?;
        }
        run.state = RunState::Queued;
        run.queued_at = Some(now_t);
        run.start_date = None;
        run.end_date = None;
        run.note = None;
        run.run_type = "backfill".to_owned();
        run.backfill_id = Some(backfill_id.clone());
        store.put_run(&run)?;
    }
    store.flush()?;
    Ok(BackfillOutcome {
        backfill_id: Some(backfill_id),
        runs: rows,
    })
}
