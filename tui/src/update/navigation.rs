//! Navigation between the views: opening the grid, a task instance or its log, going
//! back, and the requests a view needs when it opens.

use super::connection::fetch_log;
use super::say;
use crate::app::{App, Fetch, Grid, LogView, StatusKind, TaskDetail, TiRef, View};
use crate::msg::Command;

pub(super) fn open_grid(app: &mut App, dag_id: &str, view: View) -> Option<Command> {
    if app.grid.as_ref().is_none_or(|g| g.dag_id != dag_id) {
        app.grid = Some(Grid::new(dag_id));
    }
    app.view = view;
    Some(Command::FetchTasks {
        dag_id: dag_id.to_owned(),
    })
}

pub(super) fn open_task(app: &mut App, ti: TiRef) -> Option<Command> {
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
pub(super) fn latest_try(app: &App, ti: &TiRef) -> u32 {
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

pub(super) fn open_logs(app: &mut App, ti: TiRef) -> Option<Command> {
    let try_number = latest_try(app, &ti);
    app.view = View::Logs;
    if app.logs.ti_ref.as_ref() == Some(&ti) && app.logs.try_number == try_number {
        return None;
    }
    open_log_try(app, ti, try_number)
}

pub(super) fn open_log_try(app: &mut App, ti: TiRef, try_number: u32) -> Option<Command> {
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
pub(super) fn goto(app: &mut App, view: View) -> Option<Command> {
    app.back.clear();
    match view {
        View::Dags => {
            app.view = View::Dags;
            None
        }
        View::Assets => goto_assets(app),
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

/// Opens the assets view and asks for the latest events.
pub(super) fn goto_assets(app: &mut App) -> Option<Command> {
    app.view = View::Assets;
    if app.asset_events.ready().is_none() {
        app.asset_events = Fetch::Loading;
    }
    Some(Command::FetchAssetEvents)
}

pub(super) fn go_back(app: &mut App) {
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
        View::Assets => View::Dags,
    };
    app.view = app.back.pop().unwrap_or(parent);
}

/// Goes forward to `view`, remembering where from.
pub(super) fn forward(
    app: &mut App,
    f: impl FnOnce(&mut App) -> Option<Command>,
) -> Option<Command> {
    let from = app.view;
    let cmd = f(app);
    if app.view != from {
        app.back.push(from);
    }
    cmd
}
