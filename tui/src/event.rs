//! The one loop: draw, wait for the next thing to happen (a key press, an event or an
//! answer from the scheduler, a tick), `update`, then run the command it returns.
//!
//! The network never blocks the loop: every request runs in its own task and its
//! answer comes back as a [`Msg`]. The event stream lives in a task of its own that
//! finds the scheduler through its home (`scheduler.json`, `api-token`), and when the
//! stream ends (or falls silent: `lithoflow_api::STREAM_SILENCE`), finds it again, with
//! a short backoff ([`reconnect_delay`]), for as long as the UI runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use futures_util::{Stream, StreamExt as _};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::{Event, KeyEventKind};
use tokio::sync::{mpsc, watch};

use crate::app::{App, DAG_LIST_RUNS, GRID_RUNS, MAX_CALLS};
use crate::msg::{Command, Msg};
use crate::update::update;
use crate::{Error, ui};
use lithoflow_api::{ClearBody, Client, ClientError, DiscoveryError, TriggerBody, reconnect_delay};

/// How often the clock ticks (durations of running things, log polling).
const TICK: Duration = Duration::from_millis(250);

/// Messages handled between two draws at most (the rest wait for the next round).
const BATCH: usize = 256;

/// Runs the UI on `terminal` until the user quits; `keys` are the terminal's events.
pub async fn run_loop<B, K>(
    terminal: &mut Terminal<B>,
    mut app: App,
    home: PathBuf,
    mut keys: K,
) -> Result<App, Error>
where
    B: Backend,
    K: Stream<Item = std::io::Result<Event>> + Unpin,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let (client_tx, client_rx) = watch::channel::<Option<Client>>(None);
    let follower = tokio::spawn(follow(home, tx.clone(), client_tx));
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let result = loop {
        if let Err(e) = terminal.draw(|f| ui::render(&app, f)) {
            break Err(Error::Draw(e.to_string()));
        }
        let msg = tokio::select! {
            ev = keys.next() => match ev {
                Some(Ok(Event::Key(k))) if k.kind == KeyEventKind::Press => Msg::Key(k),
                Some(Ok(Event::Resize(w, h))) => Msg::Resize(w, h),
                Some(Ok(_)) => continue,
                Some(Err(e)) => break Err(Error::Terminal(e)),
                None => break Ok(()),
            },
            Some(m) = rx.recv() => m,
            _ = ticker.tick() => Msg::Tick(Utc::now()),
        };
        handle(&mut app, msg, &client_rx, &tx);
        for _ in 0..BATCH {
            match rx.try_recv() {
                Ok(m) => handle(&mut app, m, &client_rx, &tx),
                Err(_) => break,
            }
        }
        if app.quit {
            break Ok(());
        }
    };
    follower.abort();
    result.map(|()| app)
}

fn handle(
    app: &mut App,
    msg: Msg,
    client: &watch::Receiver<Option<Client>>,
    tx: &mpsc::UnboundedSender<Msg>,
) {
    if let Some(cmd) = update(app, msg) {
        execute(cmd, &client.borrow().clone(), tx);
    }
}

/// Runs a command in a task of its own; its answer comes back on `tx`.
fn execute(cmd: Command, client: &Option<Client>, tx: &mpsc::UnboundedSender<Msg>) {
    if let Command::Batch(cmds) = cmd {
        for c in cmds {
            execute(c, client, tx);
        }
        return;
    }
    let client = client.clone();
    let tx = tx.clone();
    tokio::spawn(async move {
        let msg = perform(client, cmd).await;
        let _ = tx.send(msg);
    });
}

/// Calls the client if there is one, else fails as not connected.
macro_rules! call {
    ($client:expr, |$c:ident| $call:expr) => {
        match &$client {
            Some($c) => $call.await,
            None => Err(ClientError::NotConnected),
        }
    };
}

async fn perform(client: Option<Client>, cmd: Command) -> Msg {
    match cmd {
        Command::Batch(_) => Msg::ActionDone(Err("nested command batch".to_owned())),
        Command::FetchAssetEvents => Msg::AssetEvents(call!(client, |c| c.dataset_events(
            &lithoflow_api::EventFilter {
                uri: None,
                limit: Some(crate::app::ASSET_EVENTS),
            }
        ))),
        Command::FetchDags => Msg::Dags(call!(client, |c| c.dags_with_recent_runs(DAG_LIST_RUNS))),
        Command::FetchTasks { dag_id } => Msg::Tasks {
            result: call!(client, |c| c.tasks(&dag_id)),
            dag_id,
        },
        Command::FetchRuns { dag_id } => Msg::Runs {
            result: call!(client, |c| c.latest_runs(&dag_id, GRID_RUNS)),
            dag_id,
        },
        Command::FetchTaskInstances { dag_id, run_id } => Msg::TaskInstances {
            result: call!(client, |c| c.task_instances(&dag_id, &run_id)),
            dag_id,
            run_id,
        },
        Command::FetchTaskInstance(ti) => Msg::TaskInstance {
            result: call!(client, |c| c.task_instance(
                &ti.dag_id,
                &ti.run_id,
                &ti.task_id
            ))
            .map(Box::new),
            ti,
        },
        Command::FetchDependencies(ti) => Msg::Dependencies {
            result: call!(client, |c| c.ti_dependencies(
                &ti.dag_id,
                &ti.run_id,
                &ti.task_id
            )),
            ti,
        },
        Command::FetchCalls { ti, try_number } => Msg::Calls {
            result: call!(client, |c| c.calls(
                &ti.dag_id,
                &ti.run_id,
                &ti.task_id,
                try_number,
                MAX_CALLS
            )),
            ti,
            try_number,
        },
        Command::FetchLog {
            ti,
            try_number,
            offset,
        } => Msg::Log {
            result: call!(client, |c| c.log(
                &ti.dag_id,
                &ti.run_id,
                &ti.task_id,
                try_number,
                offset
            ))
            .map(|(bytes, next)| (String::from_utf8_lossy(&bytes).into_owned(), next)),
            ti,
            try_number,
            offset,
        },
        Command::Trigger { dag_id, conf } => Msg::ActionDone({
            let body = TriggerBody {
                conf,
                ..TriggerBody::default()
            };
            call!(client, |c| c.trigger(&dag_id, &body))
                .map(|t| match t.warning {
                    // Paused: the run waits, and the status line says for what.
                    Some(w) => format!("triggered run {} of {dag_id}; {w}", t.run.dag_run_id),
                    None => format!("triggered run {} of {dag_id}", t.run.dag_run_id),
                })
                .map_err(|e| format!("failed to trigger {dag_id}: {e}"))
        }),
        Command::SetPaused { dag_id, paused } => {
            let verb = if paused { "pause" } else { "unpause" };
            Msg::ActionDone(
                call!(client, |c| c.set_paused(&dag_id, paused))
                    .map(|_| format!("{verb}d {dag_id}"))
                    .map_err(|e| format!("failed to {verb} {dag_id}: {e}")),
            )
        }
        Command::Clear { ti, downstream } => Msg::ActionDone({
            // Exactly this instance (and, if asked, its downstream tasks) of this run.
            let body = ClearBody {
                dry_run: Some(false),
                task_ids: Some(vec![lithoflow_api::ClearTaskId::Task(ti.task_id.clone())]),
                dag_run_id: Some(ti.run_id.clone()),
                include_downstream: downstream,
                // Whatever its state: the user picked this instance.
                only_failed: Some(false),
                ..ClearBody::default()
            };
            call!(client, |c| c.clear(&ti.dag_id, &body))
                .map(|answer| answer.task_instances)
                .map(|cleared| match cleared.len() {
                    0 => format!(
                        "nothing to clear: {} has no status in {}",
                        ti.task_id, ti.run_id
                    ),
                    n => format!(
                        "cleared {n} task instance{} in {}: {}; the scheduler runs {} again",
                        if n == 1 { "" } else { "s" },
                        ti.run_id,
                        cleared
                            .iter()
                            .map(|c| c.task_id.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        if n == 1 { "it" } else { "them" }
                    ),
                })
                .map_err(|e| format!("failed to clear {}: {e}", ti.task_id))
        }),
    }
}

/// Keeps the event stream open: finds the scheduler, opens its stream, forwards its
/// events, and starts again when it ends. Ends when the UI is gone.
async fn follow(
    home: PathBuf,
    tx: mpsc::UnboundedSender<Msg>,
    clients: watch::Sender<Option<Client>>,
) {
    let mut attempt: u32 = 0;
    loop {
        let opened = match find(&home).await {
            Ok(client) => client.events("").await.map(|s| (client, s)),
            Err(e) => Err(e),
        };
        match opened {
            Ok((client, mut stream)) => {
                let port = client.port();
                tracing::info!(port, "connected to the scheduler's event stream");
                clients.send_replace(Some(client));
                if tx.send(Msg::Connected { port }).is_err() {
                    return;
                }
                let reason = loop {
                    match stream.next_event().await {
                        Ok(Some(ev)) => {
                            if tx.send(Msg::Event(ev)).is_err() {
                                return;
                            }
                        }
                        Ok(None) => break "the scheduler closed the event stream".to_owned(),
                        Err(e) => break e.to_string(),
                    }
                };
                tracing::warn!("lost the scheduler: {reason}");
                clients.send_replace(None);
                attempt = 1;
                if tx.send(Msg::Disconnected { reason, attempt }).is_err() {
                    return;
                }
            }
            Err(e) => {
                attempt = attempt.saturating_add(1);
                tracing::debug!(attempt, "no scheduler: {e}");
                if tx
                    .send(Msg::Disconnected {
                        reason: e.to_string(),
                        attempt,
                    })
                    .is_err()
                {
                    return;
                }
            }
        }
        tokio::time::sleep(reconnect_delay(attempt)).await;
    }
}

/// A client of the scheduler the home describes (its files read off the loop).
async fn find(home: &Path) -> Result<Client, ClientError> {
    let path = home.to_path_buf();
    let found = tokio::task::spawn_blocking(move || Client::connect(&path))
        .await
        .map_err(|e| DiscoveryError::Read {
            path: home.to_path_buf(),
            message: e.to_string(),
        })??;
    Ok(found)
}
