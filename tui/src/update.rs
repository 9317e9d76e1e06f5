//! `update`: how each [`Msg`] changes the [`App`], and which request, if any, the loop
//! should make next. Pure: no IO, no clock (`now` comes in [`Msg::Tick`]).

#[cfg(test)]
mod tests;

use chrono::Duration;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::{Map, Value};

use crate::app::{
    App, Calls, Conn, DAG_LIST_RUNS, Fetch, GRID_RUNS, Grid, LogView, MAX_XCOM_LINES,
    PROGRESS_SAMPLES, Pane, Progress, Prompt, RunColumn, Status, StatusKind, TaskDetail, TiRef,
    View,
};
use crate::graph::{Step, dag_order, layout};
use crate::msg::{Command, Msg};
use lithoflow_api::{
    ApiEvent, ClientError, DagRun, RecentRun, RunState, TaskInfo, TaskInstance, TaskState,
};

/// Lines a page key moves in lists.
const PAGE: usize = 10;

/// The DAG list is fetched again at most this often when only `next_dagrun` moved.
const DAGS_REFRESH_SECS: i64 = 2;

/// A followed log is asked for new lines this often.
const LOG_POLL_MS: i64 = 1000;

/// Applies a message; returns what the loop should send to the scheduler.
pub fn update(app: &mut App, msg: Msg) -> Option<Command> {
    match msg {
        Msg::Key(key) => on_key(app, key),
        Msg::Tick(now) => on_tick(app, now),
        Msg::Resize(w, h) => {
            app.size = (w, h);
            None
        }
        Msg::Connected { port } => on_connected(app, port),
        Msg::Disconnected { reason, attempt } => {
            let was_connected = match &app.conn {
                Conn::Connected { .. } => true,
                Conn::Reconnecting { was_connected, .. } => *was_connected,
                Conn::Connecting => false,
            };
            app.conn = Conn::Reconnecting {
                reason,
                attempt,
                was_connected,
            };
            // Jobs may not survive a restart; progress comes back with the events.
            app.progress.clear();
            app.dags_in_flight = false;
            app.logs.in_flight = false;
            None
        }
        Msg::Event(ev) => on_event(app, ev),
        Msg::Dags(result) => {
            app.dags_in_flight = false;
            match result {
                Ok(dags) => {
                    app.dags = dags;
                    app.dags_loaded = true;
                    app.dags_stale = false;
                    let n = app.visible_dags().len();
                    app.dag_list.selected = app.dag_list.selected.min(n.saturating_sub(1));
                }
                Err(e) => fail(app, format!("failed to load the DAG list: {e}")),
            }
            None
        }
        Msg::Tasks { dag_id, result } => on_tasks(app, &dag_id, result),
        Msg::Runs { dag_id, result } => on_runs(app, &dag_id, result),
        Msg::TaskInstances {
            dag_id,
            run_id,
            result,
        } => {
            match result {
                Ok(tis) => set_run_tis(app, &dag_id, &run_id, tis),
                Err(e) if e.is_not_found() => {}
                Err(e) => fail(app, format!("failed to load run `{run_id}`: {e}")),
            }
            None
        }
        Msg::TaskInstance { ti, result } => on_task_instance(app, &ti, result),
        Msg::Calls {
            ti,
            try_number,
            result,
        } => {
            if app.task.ti_ref.as_ref() == Some(&ti) {
                app.task.calls = match result {
                    Ok((calls, total)) => Fetch::Ready(Calls {
                        try_number,
                        failed: calls.iter().filter(|c| c.failed).count(),
                        durations: calls.iter().map(|c| c.duration_s).collect(),
                        total,
                    }),
                    Err(e) => Fetch::Failed(e.to_string()),
                };
            }
            None
        }
        Msg::Log {
            ti,
            try_number,
            offset,
            result,
        } => on_log(app, &ti, try_number, offset, result),
        Msg::ActionDone(result) => {
            let (text, kind) = match result {
                Ok(t) => (t, StatusKind::Ok),
                Err(t) => (t, StatusKind::Error),
            };
            say(app, text, kind);
            None
        }
    }
}

fn say(app: &mut App, text: impl Into<String>, kind: StatusKind) {
    app.status = Some(Status {
        text: text.into(),
        kind,
        at: app.now,
    });
}

/// Reports a failed fetch, unless the connection is down (the header says so then).
fn fail(app: &mut App, text: String) {
    if app.conn.is_connected() {
        say(app, text, StatusKind::Error);
    }
}

// ---------------------------------------------------------------------------------------
// Time and connection.

fn on_tick(app: &mut App, now: chrono::DateTime<chrono::Utc>) -> Option<Command> {
    app.now = now;
    let mut cmds = Vec::new();
    if !app.conn.is_connected() {
        return None;
    }
    let due = app
        .dags_fetched_at
        .is_none_or(|at| now - at >= Duration::seconds(DAGS_REFRESH_SECS));
    if app.dags_stale && !app.dags_in_flight && due {
        cmds.push(fetch_dags(app));
    }
    if app.view == View::Logs
        && app.logs.follow
        && !app.logs.in_flight
        && app.logs.try_number > 0
        && app
            .logs
            .last_fetch
            .is_none_or(|at| now - at >= Duration::milliseconds(LOG_POLL_MS))
        && let Some(c) = fetch_log(app)
    {
        cmds.push(c);
    }
    Command::batch(cmds)
}

fn fetch_dags(app: &mut App) -> Command {
    app.dags_in_flight = true;
    app.dags_fetched_at = Some(app.now);
    Command::FetchDags
}

fn fetch_log(app: &mut App) -> Option<Command> {
    let ti = app.logs.ti_ref.clone()?;
    app.logs.in_flight = true;
    app.logs.last_fetch = Some(app.now);
    Some(Command::FetchLog {
        ti,
        try_number: app.logs.try_number,
        offset: app.logs.offset,
    })
}

fn on_connected(app: &mut App, port: u16) -> Option<Command> {
    if let Conn::Reconnecting {
        was_connected: true,
        ..
    } = app.conn
    {
        say(
            app,
            format!("reconnected to the scheduler on port {port}"),
            StatusKind::Ok,
        );
    }
    app.conn = Conn::Connected { port };
    let mut cmds = vec![fetch_dags(app)];
    cmds.extend(refresh_open_views(app));
    Command::batch(cmds)
}

/// Fetches again whatever the open views show.
fn refresh_open_views(app: &mut App) -> Vec<Command> {
    let mut cmds = Vec::new();
    if let Some(g) = &app.grid {
        cmds.push(Command::FetchTasks {
            dag_id: g.dag_id.clone(),
        });
    }
    if let Some(ti) = &app.task.ti_ref {
        cmds.push(Command::FetchTaskInstance(ti.clone()));
    }
    app.logs.in_flight = false;
    if app.view == View::Logs
        && app.logs.try_number > 0
        && let Some(c) = fetch_log(app)
    {
        cmds.push(c);
    }
    cmds
}

// ---------------------------------------------------------------------------------------
// Events from the scheduler.

fn on_event(app: &mut App, ev: ApiEvent) -> Option<Command> {
    match ev {
        ApiEvent::DagRun {
            dag_id,
            run_id,
            state,
        } => on_run_event(app, &dag_id, &run_id, state),
        ApiEvent::TaskInstance {
            dag_id,
            run_id,
            task_id,
            state,
            try_number,
        } => on_ti_event(
            app,
            TiRef {
                dag_id,
                run_id,
                task_id,
            },
            state,
            try_number,
        ),
        ApiEvent::Progress {
            dag_id,
            run_id,
            task_id,
            phase,
            total,
            done,
            failed,
            running,
        } => {
            let ti = TiRef {
                dag_id,
                run_id,
                task_id,
            };
            if app.task.ti_ref.as_ref() == Some(&ti) {
                app.task.samples.push_back((app.now, done + failed));
                while app.task.samples.len() > PROGRESS_SAMPLES {
                    app.task.samples.pop_front();
                }
            }
            app.progress.insert(
                ti,
                Progress {
                    phase,
                    total,
                    done,
                    failed,
                    running,
                },
            );
            None
        }
        ApiEvent::Dag { dag_id, is_paused } => {
            if let Some(d) = app.dags.iter_mut().find(|d| d.dag_id == dag_id) {
                d.is_paused = is_paused;
            }
            None
        }
        ApiEvent::DagsReloaded { .. } => {
            let mut cmds = vec![fetch_dags(app)];
            if let Some(g) = &app.grid {
                cmds.push(Command::FetchTasks {
                    dag_id: g.dag_id.clone(),
                });
            }
            Command::batch(cmds)
        }
        ApiEvent::Lagged { .. } => {
            let mut cmds = vec![fetch_dags(app)];
            cmds.extend(refresh_open_views(app));
            Command::batch(cmds)
        }
    }
}

fn on_run_event(app: &mut App, dag_id: &str, run_id: &str, state: RunState) -> Option<Command> {
    if let Some(d) = app.dags.iter_mut().find(|d| d.dag_id == dag_id) {
        match d.recent_runs.iter_mut().find(|r| r.dag_run_id == run_id) {
            Some(r) => r.state = state,
            None => {
                d.recent_runs.insert(
                    0,
                    // The event has no `run_after`: the list's refresh brings it.
                    RecentRun {
                        dag_run_id: run_id.to_owned(),
                        state,
                        ..RecentRun::default()
                    },
                );
                d.recent_runs.truncate(DAG_LIST_RUNS);
                // A new run moves the DAG's next run.
                app.dags_stale = true;
            }
        }
    }
    let grid = app.grid.as_mut().filter(|g| g.dag_id == dag_id)?;
    match grid.run_position(run_id) {
        Some(i) => {
            grid.runs[i].run.state = state;
            None
        }
        None if grid.tasks_loaded => Some(Command::FetchRuns {
            dag_id: dag_id.to_owned(),
        }),
        None => None,
    }
}

fn on_ti_event(app: &mut App, ti: TiRef, state: TaskState, try_number: u32) -> Option<Command> {
    let mut cmds = Vec::new();
    app.progress.remove(&ti);
    if let Some(grid) = app.grid.as_mut().filter(|g| g.dag_id == ti.dag_id)
        && let (Some(r), Some(&t)) = (grid.run_position(&ti.run_id), grid.index.get(&ti.task_id))
        && let Some(slot) = grid.runs[r].tis.get_mut(t)
    {
        let cell = slot.get_or_insert_with(|| TaskInstance {
            task_id: ti.task_id.clone(),
            dag_id: ti.dag_id.clone(),
            dag_run_id: ti.run_id.clone(),
            ..TaskInstance::default()
        });
        cell.state = Some(state);
        cell.try_number = try_number;
    }
    if app.task.ti_ref.as_ref() == Some(&ti) {
        let loaded_try = app.task.ti.ready().map(|t| t.try_number);
        if loaded_try != Some(try_number) {
            app.task.samples.clear();
            app.task.calls = Fetch::Idle;
        }
        cmds.push(Command::FetchTaskInstance(ti.clone()));
    }
    if app.logs.ti_ref.as_ref() == Some(&ti) {
        if try_number > app.logs.try_number && app.logs.follow {
            let follow = app.logs.follow;
            app.logs = LogView {
                ti_ref: Some(ti.clone()),
                try_number,
                follow,
                ..LogView::default()
            };
        }
        if try_number == app.logs.try_number
            && !app.logs.in_flight
            && (state.is_finished() || state == TaskState::UpForRetry)
            && let Some(c) = fetch_log(app)
        {
            cmds.push(c);
        }
    }
    Command::batch(cmds)
}

// ---------------------------------------------------------------------------------------
// Answers.

fn on_tasks(
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

fn on_runs(
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
                }
            }
        };
        grid.runs.push(col);
    }
    grid.sel_run = selected.and_then(|id| grid.run_position(&id));
    grid.runs_loaded = true;
    Command::batch(cmds)
}

fn set_run_tis(app: &mut App, dag_id: &str, run_id: &str, tis: Vec<TaskInstance>) {
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
    for t in tis {
        if let Some(&i) = grid.index.get(&t.task_id) {
            cells[i] = Some(t);
        }
    }
    grid.runs[r].tis = cells;
}

fn on_task_instance(
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
            app.task.ti = Fetch::Ready(t);
            cmd
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

/// An XCom value as pretty JSON lines, cut after [`MAX_XCOM_LINES`] with a last line
/// saying how much was left out.
fn xcom_lines(v: &Value) -> Vec<String> {
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

fn on_log(
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
                "no log for try {try_number} yet: the scheduler writes it when the try ends"
            ));
            None
        }
        Err(e) => {
            app.logs.note = Some(e.to_string());
            None
        }
    }
}

// ---------------------------------------------------------------------------------------
// Navigation.

fn open_grid(app: &mut App, dag_id: &str, view: View) -> Option<Command> {
    if app.grid.as_ref().is_none_or(|g| g.dag_id != dag_id) {
        app.grid = Some(Grid::new(dag_id));
    }
    app.view = view;
    Some(Command::FetchTasks {
        dag_id: dag_id.to_owned(),
    })
}

fn open_task(app: &mut App, ti: TiRef) -> Option<Command> {
    if app.task.ti_ref.as_ref() != Some(&ti) {
        app.task = TaskDetail {
            ti_ref: Some(ti.clone()),
            ti: Fetch::Loading,
            ..TaskDetail::default()
        };
    }
    app.view = View::Task;
    Some(Command::FetchTaskInstance(ti))
}

/// The latest try of an instance, as far as the UI knows.
fn latest_try(app: &App, ti: &TiRef) -> u32 {
    if app.task.ti_ref.as_ref() == Some(ti)
        && let Some(t) = app.task.ti.ready()
    {
        return t.try_number;
    }
    app.grid
        .as_ref()
        .filter(|g| g.dag_id == ti.dag_id)
        .and_then(|g| {
            let r = g.run_position(&ti.run_id)?;
            let i = *g.index.get(&ti.task_id)?;
            g.runs[r].tis.get(i)?.as_ref().map(|t| t.try_number)
        })
        .unwrap_or(0)
}

fn open_logs(app: &mut App, ti: TiRef) -> Option<Command> {
    let try_number = latest_try(app, &ti);
    app.view = View::Logs;
    if app.logs.ti_ref.as_ref() == Some(&ti) && app.logs.try_number == try_number {
        return None;
    }
    open_log_try(app, ti, try_number)
}

fn open_log_try(app: &mut App, ti: TiRef, try_number: u32) -> Option<Command> {
    app.logs = LogView {
        ti_ref: Some(ti),
        try_number,
        follow: true,
        ..LogView::default()
    };
    if try_number == 0 {
        app.logs.note = Some("this task instance has not run yet".to_owned());
        return None;
    }
    fetch_log(app)
}

/// Goes to a view by number key.
fn goto(app: &mut App, view: View) -> Option<Command> {
    app.back.clear();
    match view {
        View::Dags => {
            app.view = View::Dags;
            None
        }
        View::Grid | View::Graph => match app.current_dag_id() {
            Some(d) => open_grid(app, &d, view),
            None => {
                say(app, "select a DAG first", StatusKind::Info);
                None
            }
        },
        View::Task => match app.current_ti().or_else(|| app.task.ti_ref.clone()) {
            Some(ti) => open_task(app, ti),
            None => {
                say(
                    app,
                    "select a task instance in the grid or graph first",
                    StatusKind::Info,
                );
                None
            }
        },
        View::Logs => match app.current_ti().or_else(|| app.logs.ti_ref.clone()) {
            Some(ti) => open_logs(app, ti),
            None => {
                say(
                    app,
                    "select a task instance in the grid or graph first",
                    StatusKind::Info,
                );
                None
            }
        },
    }
}

fn go_back(app: &mut App) {
    let parent = match app.view {
        View::Dags => {
            if !app.dag_list.filter.is_empty() {
                app.dag_list.filter.clear();
                app.dag_list.selected = 0;
            }
            return;
        }
        View::Grid | View::Graph => View::Dags,
        View::Task => View::Grid,
        View::Logs => View::Task,
    };
    app.view = app.back.pop().unwrap_or(parent);
}

/// Goes forward to `view`, remembering where from.
fn forward(app: &mut App, f: impl FnOnce(&mut App) -> Option<Command>) -> Option<Command> {
    let from = app.view;
    let cmd = f(app);
    if app.view != from {
        app.back.push(from);
    }
    cmd
}

// ---------------------------------------------------------------------------------------
// Keys.

fn on_key(app: &mut App, key: KeyEvent) -> Option<Command> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(key.code, KeyCode::Char('c' | 'q')) {
        app.quit = true;
        return None;
    }
    if app.prompt.is_some() {
        return prompt_key(app, key);
    }
    if let Some(scroll) = app.help {
        match key.code {
            KeyCode::Char('?' | 'q') | KeyCode::Esc | KeyCode::Enter => app.help = None,
            KeyCode::Down | KeyCode::Char('j') => app.help = Some(scroll + 1),
            KeyCode::Up | KeyCode::Char('k') => app.help = Some(scroll.saturating_sub(1)),
            KeyCode::PageDown | KeyCode::Char(' ') => app.help = Some(scroll + PAGE),
            KeyCode::PageUp => app.help = Some(scroll.saturating_sub(PAGE)),
            KeyCode::Home => app.help = Some(0),
            _ => {}
        }
        return None;
    }
    if app.view == View::Dags && app.dag_list.editing {
        filter_key(app, key);
        return None;
    }
    if app.view == View::Logs && app.logs.search.editing {
        search_key(app, key);
        return None;
    }
    match key.code {
        KeyCode::Char('q') => {
            app.quit = true;
            return None;
        }
        KeyCode::Char('?') => {
            app.help = Some(0);
            return None;
        }
        KeyCode::Esc => {
            go_back(app);
            return None;
        }
        KeyCode::Char('1') => return goto(app, View::Dags),
        KeyCode::Char('2') => return goto(app, View::Grid),
        KeyCode::Char('3') => return goto(app, View::Graph),
        KeyCode::Char('4') => return goto(app, View::Task),
        KeyCode::Char('5') => return goto(app, View::Logs),
        _ => {}
    }
    match app.view {
        View::Dags => dags_key(app, key),
        View::Grid => grid_key(app, key),
        View::Graph => graph_key(app, key),
        View::Task => task_key(app, key),
        View::Logs => logs_key(app, key),
    }
}

/// Moves `i` within `0..n` by a key; None if the key does not move.
fn move_by(code: KeyCode, i: usize, n: usize) -> Option<usize> {
    let last = n.saturating_sub(1);
    Some(match code {
        KeyCode::Down | KeyCode::Char('j') => (i + 1).min(last),
        KeyCode::Up | KeyCode::Char('k') => i.saturating_sub(1),
        KeyCode::PageDown => (i + PAGE).min(last),
        KeyCode::PageUp => i.saturating_sub(PAGE),
        KeyCode::Home => 0,
        KeyCode::End => last,
        _ => return None,
    })
}

/// Keys every DAG-level view shares: trigger, pause and refresh.
fn dag_action_key(app: &mut App, code: KeyCode) -> Option<Option<Command>> {
    match code {
        KeyCode::Char('t') => {
            if let Some(dag_id) = app.current_dag_id() {
                app.prompt = Some(Prompt::Trigger {
                    dag_id,
                    input: String::new(),
                    error: None,
                });
            }
            Some(None)
        }
        KeyCode::Char('p') => {
            if let Some(dag_id) = app.current_dag_id() {
                let pause = !app.dag(&dag_id).is_some_and(|d| d.is_paused);
                app.prompt = Some(Prompt::Pause { dag_id, pause });
            }
            Some(None)
        }
        KeyCode::Char('r') => {
            let mut cmds = vec![fetch_dags(app)];
            cmds.extend(refresh_open_views(app));
            say(app, "refreshing", StatusKind::Info);
            Some(Command::batch(cmds))
        }
        _ => None,
    }
}

/// `c`: asks to clear the current task instance.
fn ask_clear(app: &mut App) {
    let Some(ti) = app.current_ti() else {
        say(app, "select a task instance first", StatusKind::Info);
        return;
    };
    let state = app
        .grid
        .as_ref()
        .filter(|g| g.dag_id == ti.dag_id)
        .and_then(|g| {
            let r = g.run_position(&ti.run_id)?;
            let i = *g.index.get(&ti.task_id)?;
            Some(g.state(r, i))
        })
        .or_else(|| {
            app.task
                .ti
                .ready()
                .filter(|_| app.task.ti_ref.as_ref() == Some(&ti))
                .map(TaskInstance::state)
        })
        .unwrap_or_default();
    let downstream = app
        .grid
        .as_ref()
        .filter(|g| g.dag_id == ti.dag_id)
        .map_or(0, |g| downstream_count(g, &ti.task_id));
    app.prompt = Some(Prompt::Clear {
        ti,
        state,
        downstream,
    });
}

/// How many tasks are downstream of a task, transitively.
fn downstream_count(grid: &Grid, task_id: &str) -> usize {
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![task_id.to_owned()];
    while let Some(t) = stack.pop() {
        for task in &grid.tasks {
            if task.upstream_task_ids.contains(&t) && seen.insert(task.task_id.clone()) {
                stack.push(task.task_id.clone());
            }
        }
    }
    seen.len()
}

fn dags_key(app: &mut App, key: KeyEvent) -> Option<Command> {
    let n = app.visible_dags().len();
    if let Some(i) = move_by(key.code, app.dag_list.selected, n) {
        app.dag_list.selected = i;
        return None;
    }
    if let Some(cmd) = dag_action_key(app, key.code) {
        return cmd;
    }
    match key.code {
        KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => {
            let dag_id = app.selected_dag()?.dag_id.clone();
            forward(app, |app| open_grid(app, &dag_id, View::Grid))
        }
        KeyCode::Char('g') => {
            let dag_id = app.selected_dag()?.dag_id.clone();
            forward(app, |app| open_grid(app, &dag_id, View::Graph))
        }
        KeyCode::Char('/') => {
            app.dag_list.editing = true;
            None
        }
        _ => None,
    }
}

fn filter_key(app: &mut App, key: KeyEvent) {
    let list = &mut app.dag_list;
    match key.code {
        KeyCode::Enter => list.editing = false,
        KeyCode::Esc => {
            list.editing = false;
            list.filter.clear();
            list.selected = 0;
        }
        KeyCode::Backspace => {
            list.filter.pop();
            list.selected = 0;
        }
        KeyCode::Down | KeyCode::Up => {
            list.editing = false;
            let n = app.visible_dags().len();
            if let Some(i) = move_by(key.code, app.dag_list.selected, n) {
                app.dag_list.selected = i;
            }
        }
        KeyCode::Char(c) => {
            list.filter.push(c);
            list.selected = 0;
        }
        _ => {}
    }
}

fn grid_key(app: &mut App, key: KeyEvent) -> Option<Command> {
    if let Some(cmd) = dag_action_key(app, key.code) {
        return cmd;
    }
    let grid = app.grid.as_mut()?;
    if let Some(i) = move_by(key.code, grid.sel_task, grid.tasks.len())
        && !matches!(key.code, KeyCode::Home | KeyCode::End)
    {
        grid.sel_task = i;
        return None;
    }
    match key.code {
        KeyCode::Left | KeyCode::Char('h') => step_run(grid, -1),
        KeyCode::Right | KeyCode::Char('l') => step_run(grid, 1),
        KeyCode::Home => grid.sel_run = (!grid.runs.is_empty()).then_some(0),
        KeyCode::End => grid.sel_run = None,
        KeyCode::Enter => {
            let ti = grid.selected_ti()?;
            return forward(app, |app| open_task(app, ti));
        }
        KeyCode::Char('g') => app.view = View::Graph,
        KeyCode::Char('L') => {
            let ti = grid.selected_ti()?;
            return forward(app, |app| open_logs(app, ti));
        }
        KeyCode::Char('c') => ask_clear(app),
        _ => {}
    }
    None
}

/// Moves the selected run; the newest run is `None` so the grid follows new runs.
fn step_run(grid: &mut Grid, by: isize) {
    let Some(i) = grid.run_index() else { return };
    let last = grid.runs.len() - 1;
    let next = i.saturating_add_signed(by).min(last);
    grid.sel_run = (next != last).then_some(next);
}

fn graph_key(app: &mut App, key: KeyEvent) -> Option<Command> {
    if let Some(cmd) = dag_action_key(app, key.code) {
        return cmd;
    }
    let grid = app.grid.as_mut()?;
    let step = match key.code {
        KeyCode::Left | KeyCode::Char('h') => Some(Step::Left),
        KeyCode::Right | KeyCode::Char('l') => Some(Step::Right),
        KeyCode::Up | KeyCode::Char('k') => Some(Step::Up),
        KeyCode::Down | KeyCode::Char('j') => Some(Step::Down),
        _ => None,
    };
    if let Some(step) = step {
        if let Some(t) = grid.layout.step(grid.sel_task, step) {
            grid.sel_task = t;
        }
        return None;
    }
    match key.code {
        KeyCode::Char('[') => step_run(grid, -1),
        KeyCode::Char(']') => step_run(grid, 1),
        KeyCode::Enter => {
            let ti = grid.selected_ti()?;
            return forward(app, |app| open_task(app, ti));
        }
        KeyCode::Char('g') => app.view = View::Grid,
        KeyCode::Char('L') => {
            let ti = grid.selected_ti()?;
            return forward(app, |app| open_logs(app, ti));
        }
        KeyCode::Char('c') => ask_clear(app),
        _ => {}
    }
    None
}

fn task_key(app: &mut App, key: KeyEvent) -> Option<Command> {
    let ti = app.task.ti_ref.clone()?;
    match key.code {
        KeyCode::Tab | KeyCode::BackTab => {
            app.task.focus = match app.task.focus {
                Pane::Xcom => Pane::Error,
                Pane::Error => Pane::Xcom,
            };
            None
        }
        KeyCode::Char('l' | 'L') => forward(app, |app| open_logs(app, ti)),
        KeyCode::Char('c') => {
            ask_clear(app);
            None
        }
        KeyCode::Char('r') => Some(Command::FetchTaskInstance(ti)),
        KeyCode::Char('[' | ']') => {
            // The same task in the run before or after, as the grid orders runs.
            let grid = app.grid.as_mut().filter(|g| g.dag_id == ti.dag_id)?;
            let r = grid.run_position(&ti.run_id)?;
            let next = if key.code == KeyCode::Char('[') {
                r.checked_sub(1)?
            } else {
                r + 1
            };
            let run_id = grid.runs.get(next)?.run.dag_run_id.clone();
            grid.sel_run = (next + 1 != grid.runs.len()).then_some(next);
            open_task(app, TiRef { run_id, ..ti })
        }
        code => {
            let (scroll, len) = match app.task.focus {
                Pane::Xcom => (&mut app.task.xcom_scroll, app.task.xcom_lines.len()),
                Pane::Error => (
                    &mut app.task.error_scroll,
                    app.task
                        .ti
                        .ready()
                        .and_then(|t| t.error.as_deref())
                        .map_or(0, |e| e.lines().count()),
                ),
            };
            if let Some(i) = move_by(code, *scroll, len) {
                *scroll = i;
            }
            None
        }
    }
}

fn logs_key(app: &mut App, key: KeyEvent) -> Option<Command> {
    let page = app.log_page();
    let logs = &mut app.logs;
    let len = logs.lines.len() + usize::from(!logs.partial.is_empty());
    let max_top = len.saturating_sub(page);
    let top = if logs.follow {
        max_top
    } else {
        logs.scroll.min(max_top)
    };
    let moved = match key.code {
        KeyCode::Down | KeyCode::Char('j') => Some(top + 1),
        KeyCode::Up | KeyCode::Char('k') => Some(top.saturating_sub(1)),
        KeyCode::PageDown | KeyCode::Char(' ') => Some(top + page),
        KeyCode::PageUp => Some(top.saturating_sub(page)),
        KeyCode::Home | KeyCode::Char('g') => Some(0),
        KeyCode::End | KeyCode::Char('G') => {
            logs.follow = true;
            return None;
        }
        _ => None,
    };
    if let Some(t) = moved {
        logs.scroll = t.min(max_top);
        logs.follow = false;
        return None;
    }
    match key.code {
        KeyCode::Left | KeyCode::Char('h') => logs.hscroll = logs.hscroll.saturating_sub(8),
        KeyCode::Right | KeyCode::Char('l') => logs.hscroll += 8,
        KeyCode::Char('f') => {
            logs.follow = !logs.follow;
            logs.scroll = top;
        }
        KeyCode::Char('/') => {
            logs.search.editing = true;
            logs.search.query.clear();
            logs.search.matches.clear();
        }
        KeyCode::Char('n') => jump_match(app, 1),
        KeyCode::Char('N') => jump_match(app, -1),
        KeyCode::Char('[' | ']') => {
            let ti = logs.ti_ref.clone()?;
            let latest = latest_try(app, &ti).max(app.logs.try_number);
            let cur = app.logs.try_number;
            let next = if key.code == KeyCode::Char('[') {
                cur.saturating_sub(1).max(1)
            } else {
                (cur + 1).min(latest)
            };
            if next != cur && next > 0 {
                return open_log_try(app, ti, next);
            }
        }
        KeyCode::Char('r') => {
            let ti = logs.ti_ref.clone()?;
            let t = logs.try_number;
            return open_log_try(app, ti, t);
        }
        _ => {}
    }
    None
}

fn search_key(app: &mut App, key: KeyEvent) {
    let search = &mut app.logs.search;
    match key.code {
        KeyCode::Enter => {
            search.editing = false;
            find_matches(app);
            let top = app.logs.scroll;
            let first = app
                .logs
                .search
                .matches
                .iter()
                .position(|&l| l >= top)
                .unwrap_or(0);
            app.logs.search.current = first;
            show_match(app);
            if app.logs.search.matches.is_empty() && !app.logs.search.query.is_empty() {
                let q = app.logs.search.query.clone();
                say(app, format!("no line matches {q:?}"), StatusKind::Info);
            }
        }
        KeyCode::Esc => {
            search.editing = false;
            search.query.clear();
            search.matches.clear();
        }
        KeyCode::Backspace => {
            search.query.pop();
        }
        KeyCode::Char(c) => search.query.push(c),
        _ => {}
    }
}

fn find_matches(app: &mut App) {
    let q = app.logs.search.query.to_lowercase();
    app.logs.search.matches = if q.is_empty() {
        Vec::new()
    } else {
        app.logs
            .lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.to_lowercase().contains(&q))
            .map(|(i, _)| i)
            .collect()
    };
    let n = app.logs.search.matches.len();
    app.logs.search.current = app.logs.search.current.min(n.saturating_sub(1));
}

fn jump_match(app: &mut App, by: isize) {
    let n = app.logs.search.matches.len();
    if n == 0 {
        return;
    }
    let cur = app.logs.search.current;
    app.logs.search.current = (cur.cast_signed() + by)
        .rem_euclid(n.cast_signed())
        .cast_unsigned();
    show_match(app);
}

/// Scrolls so the current match is in view, a third of the way down.
fn show_match(app: &mut App) {
    let Some(&line) = app.logs.search.matches.get(app.logs.search.current) else {
        return;
    };
    let page = app.log_page();
    let len = app.logs.lines.len() + usize::from(!app.logs.partial.is_empty());
    app.logs.follow = false;
    app.logs.scroll = line.saturating_sub(page / 3).min(len.saturating_sub(page));
}

fn prompt_key(app: &mut App, key: KeyEvent) -> Option<Command> {
    let prompt = app.prompt.take()?;
    match prompt {
        Prompt::Trigger {
            dag_id,
            mut input,
            error,
        } => match key.code {
            KeyCode::Esc => None,
            KeyCode::Enter => match parse_conf(&input) {
                Ok(conf) => {
                    say(
                        app,
                        format!("triggering a run of {dag_id}…"),
                        StatusKind::Info,
                    );
                    Some(Command::Trigger { dag_id, conf })
                }
                Err(e) => {
                    app.prompt = Some(Prompt::Trigger {
                        dag_id,
                        input,
                        error: Some(e),
                    });
                    None
                }
            },
            KeyCode::Backspace => {
                input.pop();
                app.prompt = Some(Prompt::Trigger {
                    dag_id,
                    input,
                    error: None,
                });
                None
            }
            KeyCode::Char(c) => {
                input.push(c);
                app.prompt = Some(Prompt::Trigger {
                    dag_id,
                    input,
                    error: None,
                });
                None
            }
            _ => {
                app.prompt = Some(Prompt::Trigger {
                    dag_id,
                    input,
                    error,
                });
                None
            }
        },
        Prompt::Pause { dag_id, pause } => match key.code {
            KeyCode::Char('y' | 'Y') | KeyCode::Enter => {
                let verb = if pause { "pausing" } else { "unpausing" };
                say(app, format!("{verb} {dag_id}…"), StatusKind::Info);
                Some(Command::SetPaused {
                    dag_id,
                    paused: pause,
                })
            }
            KeyCode::Char('n' | 'N') | KeyCode::Esc => None,
            _ => {
                app.prompt = Some(Prompt::Pause { dag_id, pause });
                None
            }
        },
        Prompt::Clear {
            ti,
            state,
            downstream,
        } => {
            let with_downstream = match key.code {
                KeyCode::Char('y' | 'Y') | KeyCode::Enter => false,
                KeyCode::Char('d' | 'D') => true,
                KeyCode::Char('n' | 'N') | KeyCode::Esc => return None,
                _ => {
                    app.prompt = Some(Prompt::Clear {
                        ti,
                        state,
                        downstream,
                    });
                    return None;
                }
            };
            say(
                app,
                format!("clearing {} in {}…", ti.task_id, ti.run_id),
                StatusKind::Info,
            );
            Some(Command::Clear {
                ti,
                downstream: with_downstream,
            })
        }
    }
}

/// The trigger prompt's conf: empty, or a JSON object.
pub fn parse_conf(input: &str) -> Result<Map<String, Value>, String> {
    if input.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(input) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(format!(
            "conf must be a JSON object like {{\"n\": 3}}, not {}",
            match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            }
        )),
        Err(e) => Err(format!("conf is not valid JSON: {e}")),
    }
}
