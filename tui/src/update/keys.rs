//! Keys: the global ones, then each view's, the log search, and the clear prompt's
//! opening.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::connection::{fetch_dags, refresh_open_views};
use super::navigation::{
    forward, go_back, goto, goto_assets, latest_try, open_grid, open_log_try, open_logs, open_task,
};
use super::prompt::prompt_key;
use super::{PAGE, say};
use crate::app::{App, Grid, Pane, Prompt, StatusKind, TiRef, View};
use crate::graph::Step;
use crate::msg::Command;
use lithoflow_api::TaskInstance;

pub(super) fn on_key(app: &mut App, key: KeyEvent) -> Option<Command> {
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
        View::Assets => assets_key(app, key),
    }
}

/// The assets view: move, refresh.
fn assets_key(app: &mut App, key: KeyEvent) -> Option<Command> {
    let n = app.asset_events.ready().map_or(0, Vec::len);
    if let Some(i) = move_by(key.code, app.asset_selected, n) {
        app.asset_selected = i;
        return None;
    }
    match key.code {
        KeyCode::Char('r') => Some(Command::FetchAssetEvents),
        _ => None,
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
        KeyCode::Char('a') => forward(app, goto_assets),
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

pub(super) fn find_matches(app: &mut App) {
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
