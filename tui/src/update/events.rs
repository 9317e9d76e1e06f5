//! Events from the scheduler's stream: runs, task instances, progress, pauses and
//! reloads, applied to what the UI shows (and fetched again where an event is not
//! enough).

use super::connection::{fetch_dags, fetch_log, refresh_open_views};
use crate::app::{App, DAG_LIST_RUNS, Fetch, LogView, PROGRESS_SAMPLES, Progress, TiRef};
use crate::msg::Command;
use lithoflow_api::{ApiEvent, RecentRun, RunState, TaskInstance, TaskState};

pub(super) fn on_event(app: &mut App, ev: ApiEvent) -> Option<Command> {
    match ev {
        ApiEvent::DagRun {
            dag_id,
            run_id,
            state,
        } => {
            let cmd = on_run_event(app, &dag_id, &run_id, state);
            // A new run may be one that asset events triggered.
            if app.view == crate::app::View::Assets && state == RunState::Queued {
                Command::batch(cmd.into_iter().chain([Command::FetchAssetEvents]).collect())
            } else {
                cmd
            }
        }
        // A mapped instance: its task's cell is the summary of its instances.
        ApiEvent::TaskInstance {
            dag_id,
            run_id,
            task_id,
            map_index,
            state,
            ..
        } if map_index >= 0 => {
            on_mapped_ti_event(app, (&dag_id, &run_id), (&task_id, map_index), state)
        }
        ApiEvent::TaskInstance {
            dag_id,
            run_id,
            task_id,
            state,
            try_number,
            ..
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
            ..
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

/// A mapped instance changed: its task's cell (the summary of its instances) is
/// recomputed.
fn on_mapped_ti_event(
    app: &mut App,
    (dag_id, run_id): (&str, &str),
    (task_id, map_index): (&str, i32),
    state: TaskState,
) -> Option<Command> {
    let grid = app.grid.as_mut().filter(|g| g.dag_id == dag_id)?;
    let r = grid.run_position(run_id)?;
    let &t = grid.index.get(task_id)?;
    let col = &mut grid.runs[r];
    let states = col.mapped.entry(task_id.to_owned()).or_default();
    states.insert(map_index, state);
    let base = col
        .tis
        .get(t)
        .cloned()
        .flatten()
        .unwrap_or_else(|| TaskInstance {
            task_id: task_id.to_owned(),
            dag_id: dag_id.to_owned(),
            dag_run_id: run_id.to_owned(),
            ..TaskInstance::default()
        });
    let summary = crate::app::mapped_summary(base, states);
    if let Some(slot) = col.tis.get_mut(t) {
        *slot = Some(summary);
    }
    None
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
        // A try that starts has its log from then on (the follow mode's ticks read on as
        // it grows); one that ends has its last lines.
        if try_number == app.logs.try_number
            && !app.logs.in_flight
            && (state.is_finished()
                || state == TaskState::UpForRetry
                || state == TaskState::Running)
            && let Some(c) = fetch_log(app)
        {
            cmds.push(c);
        }
    }
    Command::batch(cmds)
}
