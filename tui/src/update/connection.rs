//! Time and the connection: ticks (durations, refreshes, log polling) and what a
//! new connection to the scheduler fetches again.

use chrono::Duration;

use super::{DAGS_REFRESH_SECS, LOG_POLL_MS, say};
use crate::app::{App, Conn, StatusKind, View};
use crate::msg::Command;

pub(super) fn on_tick(app: &mut App, now: chrono::DateTime<chrono::Utc>) -> Option<Command> {
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

pub(super) fn fetch_dags(app: &mut App) -> Command {
    app.dags_in_flight = true;
    app.dags_fetched_at = Some(app.now);
    Command::FetchDags
}

pub(super) fn fetch_log(app: &mut App) -> Option<Command> {
    let ti = app.logs.ti_ref.clone()?;
    app.logs.in_flight = true;
    app.logs.last_fetch = Some(app.now);
    Some(Command::FetchLog {
        ti,
        try_number: app.logs.try_number,
        offset: app.logs.offset,
    })
}

pub(super) fn on_connected(app: &mut App, port: u16) -> Option<Command> {
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
pub(super) fn refresh_open_views(app: &mut App) -> Vec<Command> {
    let mut cmds = Vec::new();
    if let Some(g) = &app.grid {
        cmds.push(Command::FetchTasks {
            dag_id: g.dag_id.clone(),
        });
    }
    if let Some(ti) = &app.task.ti_ref {
        cmds.push(Command::FetchTaskInstance(ti.clone()));
    }
    if app.view == View::Assets {
        cmds.push(Command::FetchAssetEvents);
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
