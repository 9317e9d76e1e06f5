//! What happens to the UI ([`Msg`]) and what it asks the loop to do ([`Command`]).
//! Both are closed enums of plain data: `update` matches every case.

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::KeyEvent;
use serde_json::{Map, Value};

use crate::app::TiRef;
use lithoflow_api::{
    ApiEvent, CallInfo, ClientError, DagInfo, DagRun, TaskInfo, TaskInstance,
    TaskInstanceDependencyCollection,
};

/// Something that happened: a key, a tick, an event from the scheduler, or the answer
/// to a request the loop made.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    /// A key was pressed.
    Key(KeyEvent),
    /// Time passed.
    Tick(DateTime<Utc>),
    /// The terminal's size, at start and when it changes (columns, rows).
    Resize(u16, u16),
    /// The event stream is open.
    Connected {
        /// The API's port.
        port: u16,
    },
    /// The event stream closed or could not open; the loop tries again.
    Disconnected {
        /// Why.
        reason: String,
        /// Failed attempts in a row.
        attempt: u32,
    },
    /// A state change from the scheduler.
    Event(ApiEvent),
    /// The DAG list.
    Dags(Result<Vec<DagInfo>, ClientError>),
    /// A DAG's tasks.
    Tasks {
        /// The DAG.
        dag_id: String,
        /// Its tasks.
        result: Result<Vec<TaskInfo>, ClientError>,
    },
    /// A DAG's latest runs.
    Runs {
        /// The DAG.
        dag_id: String,
        /// Newest first.
        result: Result<Vec<DagRun>, ClientError>,
    },
    /// A run's task instances.
    TaskInstances {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
        /// Its instances.
        result: Result<Vec<TaskInstance>, ClientError>,
    },
    /// One task instance with its XCom value.
    TaskInstance {
        /// Which.
        ti: TiRef,
        /// It (boxed: it is much larger than the other messages).
        result: Result<Box<TaskInstance>, ClientError>,
    },
    /// What a scheduled task instance waits for.
    Dependencies {
        /// Which.
        ti: TiRef,
        /// Its unmet dependencies.
        result: Result<TaskInstanceDependencyCollection, ClientError>,
    },
    /// The calls of a try's job.
    Calls {
        /// Which instance.
        ti: TiRef,
        /// Which try.
        try_number: u32,
        /// The calls (capped) and how many there are.
        result: Result<(Vec<CallInfo>, usize), ClientError>,
    },
    /// A piece of a try's log.
    Log {
        /// Which instance.
        ti: TiRef,
        /// Which try.
        try_number: u32,
        /// The offset it was read from.
        offset: u64,
        /// The text and the next offset.
        result: Result<(String, u64), ClientError>,
    },
    /// The latest asset events, newest first.
    AssetEvents(Result<Vec<lithoflow_api::DatasetEvent>, ClientError>),
    /// An action finished: what to say in the status line.
    ActionDone(Result<String, String>),
}

/// Something for the loop to do on the network; its answer comes back as a [`Msg`].
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Several at once.
    Batch(Vec<Command>),
    /// `GET /dags`.
    FetchDags,
    /// `GET /dags/{id}/tasks`.
    FetchTasks {
        /// The DAG.
        dag_id: String,
    },
    /// `GET /dags/{id}/dagRuns`.
    FetchRuns {
        /// The DAG.
        dag_id: String,
    },
    /// `GET .../taskInstances`.
    FetchTaskInstances {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
    },
    /// `GET .../taskInstances/{task_id}`.
    FetchTaskInstance(TiRef),
    /// `GET .../taskInstances/{task_id}/dependencies`.
    FetchDependencies(TiRef),
    /// `GET /datasets/events`, the newest first.
    FetchAssetEvents,
    /// `GET .../taskInstances/{task_id}/calls`.
    FetchCalls {
        /// Which instance.
        ti: TiRef,
        /// Which try.
        try_number: u32,
    },
    /// `GET .../logs/{try}?offset=`.
    FetchLog {
        /// Which instance.
        ti: TiRef,
        /// Which try.
        try_number: u32,
        /// From which byte.
        offset: u64,
    },
    /// Trigger a run.
    Trigger {
        /// The DAG.
        dag_id: String,
        /// The run's conf.
        conf: Map<String, Value>,
    },
    /// Pause or unpause.
    SetPaused {
        /// The DAG.
        dag_id: String,
        /// Pause or not.
        paused: bool,
    },
    /// Clear a task instance.
    Clear {
        /// Which.
        ti: TiRef,
        /// With its downstream tasks.
        downstream: bool,
    },
}

impl Command {
    /// Several commands as one (None if there are none).
    pub fn batch(mut cmds: Vec<Command>) -> Option<Command> {
        match cmds.len() {
            0 => None,
            1 => cmds.pop(),
            _ => Some(Command::Batch(cmds)),
        }
    }
}
