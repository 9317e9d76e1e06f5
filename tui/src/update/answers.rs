//! Answers to the UI's requests: tasks, runs, task instances and logs, merged into
//! the views that asked for them (late answers for a view since left are dropped).

use serde_json::Value;

use super::connection::fetch_log;
use super::keys::find_matches;
use std::collections::{BTreeMap, HashMap};

use crate::app::{
    App, Fetch, GRID_RUNS, MAX_XCOM_LINES, Progress, RunColumn, TiRef, mapped_summary,
};
use crate::graph::{dag_order, layout};
use crate::msg::Command;
use lithoflow_api::{ClientError, DagRun, RunState, TaskInfo, TaskInstance, TaskState};

pub(super) fn on_tasks(
    app: &mut App,
    dag_id: &str,
    result: Result<Vec<TaskInfo>, ClientError>,
) -> Option<Command> {
    let grid = app.grid.as_mut().filter(|g| g.dag_id == dag_id)?;
    match result {
        Ok(tasks) => {
            let tasks = dag_order(tasks);
            let old_ids: Vec<String> = grid.tasks.iter().map(|t| t.task_id.clone()).collect();
            let selected = grid.selected_task().map(|t| t.task_id.clone());
            grid.index = tasks
                .iter()
                .enumerate()
                .map(|(i, t)| (t.task_id.clone(), i))
                .collect();
            for col in &mut grid.runs {
                let mut tis = vec![None; tasks.len()];
                for (old, ti) in old_ids.iter().zip(col.tis.drain(..)) {
                    if let Some(&i) = grid.index.get(old) {
                        tis[i] = ti;
                    }
                }
                col.tis = tis;
            }
            grid.layout = layout(&tasks, &grid.index);
            grid.tasks = tasks;
            grid.sel_task = selected
                .and_then(|id| grid.index.get(&id).copied())
                .unwrap_or(grid.sel_task)
                .min(grid.tasks.len().saturating_sub(1));
            grid.tasks_loaded = true;
            grid.error = None;
            Some(Command::FetchRuns {
                dag_id: dag_id.to_owned(),
            })
        }
        Err(e) => {
            grid.error = Some(e.to_string());
            None
        }
    }
}

pub(super) fn on_runs(
    app: &mut App,
    dag_id: &str,
    result: Result<Vec<DagRun>, ClientError>,
) -> Option<Command> {
    let grid = app.grid.as_mut().filter(|g| g.dag_id == dag_id)?;
    let runs = match result {
        Ok(r) => r,
        Err(e) => {
            grid.error = Some(e.to_string());
            return None;
        }
    };
    let selected = grid
        .sel_run
        .and_then(|i| grid.runs.get(i))
        .map(|c| c.run.dag_run_id.clone());
    let mut old: std::collections::HashMap<String, RunColumn> = grid
        .runs
        .drain(..)
        .map(|c| (c.run.dag_run_id.clone(), c))
        .collect();
    let n_tasks = grid.tasks.len();
    let mut cmds = Vec::new();
    for run in runs.into_iter().take(GRID_RUNS).rev() {
        let col = match old.remove(&run.dag_run_id) {
            Some(mut c) => {
                // A finished run whose cells are all here needs no new fetch.
                let complete = matches!(run.state, RunState::Success | RunState::Failed)
                    && c.tis
                        .iter()
                        .all(|t| t.as_ref().is_some_and(|t| t.state().is_finished()));
                if !complete {
                    cmds.push(Command::FetchTaskInstances {
                        dag_id: dag_id.to_owned(),
                        run_id: run.dag_run_id.clone(),
                    });
                }
                c.run = run;
                c
            }
            None => {
                cmds.push(Command::FetchTaskInstances {
                    dag_id: dag_id.to_owned(),
                    run_id: run.dag_run_id.clone(),
                });
                RunColumn {
                    run,
                    tis: vec![None; n_tasks],
                    ..RunColumn::default()
                }
            }
        };
        grid.runs.push(col);
    }
    grid.sel_run = selected.and_then(|id| grid.run_position(&id));
    grid.runs_loaded = true;
    Command::batch(cmds)
}

pub(super) fn set_run_tis(app: &mut App, dag_id: &str, run_id: &str, tis: Vec<TaskInstance>) {
    for t in &tis {
        if let Some(p) = t
            .progress
            .as_ref()
            .filter(|_| t.state() == TaskState::Running)
        {
            let key = TiRef {
                dag_id: dag_id.to_owned(),
                run_id: run_id.to_owned(),
                task_id: t.task_id.clone(),
            };
            app.progress.entry(key).or_insert(Progress {
                phase: String::new(),
                total: p.total,
                done: p.done,
                failed: p.failed,
                running: p.running,
            });
        }
    }
    let Some(grid) = app.grid.as_mut().filter(|g| g.dag_id == dag_id) else {
        return;
    };
    let Some(r) = grid.run_position(run_id) else {
        return;
    };
    let mut cells = vec![None; grid.tasks.len()];
    let mut mapped: HashMap<String, BTreeMap<i32, TaskState>> = HashMap::new();
    for t in tis {
        if let Some(&i) = grid.index.get(&t.task_id) {
            // A mapped task's instances make one cell: their summary.
            if t.map_index >= 0 {
                let states = mapped.entry(t.task_id.clone()).or_default();
                states.insert(t.map_index, t.state());
                let summary = mapped_summary(t, states);
                cells[i] = Some(summary);
                continue;
            }
            cells[i] = Some(t);
        }
    }
    grid.runs[r].tis = cells;
    grid.runs[r].mapped = mapped;
}

pub(super) fn on_task_instance(
    app: &mut App,
    ti: &TiRef,
    result: Result<Box<TaskInstance>, ClientError>,
) -> Option<Command> {
    if app.task.ti_ref.as_ref() != Some(ti) {
        return None;
    }
    match result {
        Ok(t) => {
            let t = *t;
            app.task.xcom_lines = match &t.return_value {
                None | Some(Value::Null) => Vec::new(),
                Some(v) => xcom_lines(v),
            };
            // Keep the grid's cell in step (without the value, which can be large).
            if let Some(grid) = app.grid.as_mut().filter(|g| g.dag_id == ti.dag_id)
                && let (Some(r), Some(&i)) =
                    (grid.run_position(&ti.run_id), grid.index.get(&ti.task_id))
                && let Some(slot) = grid.runs[r].tis.get_mut(i)
            {
                *slot = Some(TaskInstance {
                    return_value: None,
                    ..t.clone()
                });
            }
            let finished = t.state().is_finished() || t.state() == TaskState::UpForRetry;
            let want_calls = finished
                && t.try_number > 0
                && t.job_id.is_some()
                && app
                    .task
                    .calls
                    .ready()
                    .is_none_or(|c| c.try_number != t.try_number);
            let cmd = (want_calls && !matches!(app.task.calls, Fetch::Loading)).then(|| {
                app.task.calls = Fetch::Loading;
                Command::FetchCalls {
                    ti: ti.clone(),
                    try_number: t.try_number,
                }
            });
            // A scheduled instance: ask what it waits for (a pool slot).
            let waits = t.state() == TaskState::Scheduled;
            if !waits {
                app.task.waiting = None;
            }
            app.task.ti = Fetch::Ready(t);
            if waits {
                let deps = Command::FetchDependencies(ti.clone());
                return Some(match cmd {
                    Some(c) => Command::Batch(vec![c, deps]),
                    None => deps,
                });
            }
            cmd
        }
        // A mapped task has no one instance (the API answers 400): its view shows the
        // grid's summary of its instances.
        Err(_) if mapped_cell(app, ti).is_some() => {
            app.task.ti = mapped_cell(app, ti).map_or(Fetch::Idle, Fetch::Ready);
            None
        }
        Err(e) if e.is_not_found() => {
            app.task.ti =
                Fetch::Failed("no task instance yet: the run has not reached this task".to_owned());
            None
        }
        Err(e) => {
            app.task.ti = Fetch::Failed(e.to_string());
            None
        }
    }
}

/// The grid's cell of a mapped task's instances, if `ti` is one.
fn mapped_cell(app: &App, ti: &TiRef) -> Option<TaskInstance> {
    let grid = app.grid.as_ref().filter(|g| g.dag_id == ti.dag_id)?;
    let col = grid.runs.get(grid.run_position(&ti.run_id)?)?;
    if !col.mapped.contains_key(&ti.task_id) {
        return None;
    }
    col.tis.get(*grid.index.get(&ti.task_id)?)?.clone()
}

/// An XCom value as pretty JSON lines, cut after [`MAX_XCOM_LINES`] with a last line
/// saying how much was left out.
pub(super) fn xcom_lines(v: &Value) -> Vec<String> {
    let text = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    let mut lines: Vec<String> = text
        .lines()
        .take(MAX_XCOM_LINES)
        .map(str::to_owned)
        .collect();
    if lines.len() == MAX_XCOM_LINES {
        let rest = text.lines().count() - MAX_XCOM_LINES;
        if rest > 0 {
            lines.push(format!(
                "… {rest} more lines (the whole value: GET …/xcomEntries/return_value)"
            ));
        }
    }
    lines
}

pub(super) fn on_log(
    app: &mut App,
    ti: &TiRef,
    try_number: u32,
    offset: u64,
    result: Result<(String, u64), ClientError>,
) -> Option<Command> {
    if app.logs.ti_ref.as_ref() != Some(ti) || app.logs.try_number != try_number {
        return None;
    }
    app.logs.in_flight = false;
    if offset != app.logs.offset {
        return None;
    }
    match result {
        Ok((text, next)) => {
            app.logs.note = None;
            app.logs.offset = next;
            if text.is_empty() {
                return None;
            }
            let mut buf = std::mem::take(&mut app.logs.partial);
            buf.push_str(&text);
            let mut parts: Vec<&str> = buf.split('\n').collect();
            let rest = parts.pop().unwrap_or_default().to_owned();
            app.logs
                .lines
                .extend(parts.into_iter().map(|l| l.replace('\t', "    ")));
            app.logs.partial = rest;
            if !app.logs.search.query.is_empty() {
                find_matches(app);
            }
            // More may be waiting (answers are at most 4 MiB).
            fetch_log(app)
        }
        Err(e) if e.is_not_found() => {
            app.logs.note = Some(format!(
                "no log for try {try_number} yet: the scheduler starts it when the try starts"
            ));
            None
        }
        Err(e) => {
            app.logs.note = Some(e.to_string());
            None
        }
    }
}
