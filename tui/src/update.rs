//! `update`: how each [`Msg`] changes the [`App`], and which request, if any, the loop
//! should make next. Pure: no IO, no clock (`now` comes in [`Msg::Tick`]).
//!
//! This module dispatches; the work is in one module per kind of message: `connection`
//! (time and the connection), `events` (the scheduler's event stream), `answers` (answers
//! to requests), `navigation` (between views), `keys` and `prompt`.

mod answers;
mod connection;
mod events;
mod keys;
mod navigation;
mod prompt;
#[cfg(test)]
mod tests;

use crate::app::{App, Calls, Conn, Fetch, Status, StatusKind, Waiting};
use crate::msg::{Command, Msg};
use answers::{on_log, on_runs, on_task_instance, on_tasks, set_run_tis};
use connection::{on_connected, on_tick};
use events::on_event;
use keys::on_key;
pub use prompt::parse_conf;

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
        Msg::Dependencies { ti, result } => {
            if app.task.ti_ref.as_ref() == Some(&ti) {
                // Not known (an older scheduler, an error): nothing is said.
                app.task.waiting = result.ok().and_then(|deps| {
                    deps.dependencies.into_iter().next().map(|d| Waiting {
                        pool: d.pool,
                        ahead: d.ahead,
                        reason: d.reason,
                    })
                });
            }
            None
        }
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
        Msg::AssetEvents(result) => {
            app.asset_events = match result {
                Ok(events) => {
                    app.asset_selected = app.asset_selected.min(events.len().saturating_sub(1));
                    Fetch::Ready(events)
                }
                Err(e) => Fetch::Failed(e.to_string()),
            };
            None
        }
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
