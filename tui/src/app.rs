//! The model: plain data, no channels, IO or clock. Everything the screen shows is in
//! [`App`]; [`crate::update::update`] changes it and [`crate::ui::render`] draws it.
//! `now` is a field, set by tick messages, so rendering and updating stay pure.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};

use crate::graph::GraphLayout;
use lithoflow_api::{DagInfo, DagRun, TaskInfo, TaskInstance, TaskState};

/// How many asset events the assets view shows.
pub const ASSET_EVENTS: usize = 100;

/// How many latest runs the DAG list asks for each DAG (it shows as many as fit).
pub const DAG_LIST_RUNS: usize = 10;

/// How many latest runs the grid shows.
pub const GRID_RUNS: usize = 40;

/// How many progress samples the live throughput sparkline keeps.
pub const PROGRESS_SAMPLES: usize = 120;

/// The most call records the task view asks for (enough for a faithful sparkline).
pub const MAX_CALLS: usize = 10_000;

/// The most lines of an XCom value the task view keeps; the rest is summarised.
pub const MAX_XCOM_LINES: usize = 20_000;

/// The views, each reachable by a number key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// Every DAG.
    #[default]
    Dags,
    /// One DAG's runs (columns) by tasks (rows).
    Grid,
    /// One DAG's tasks and edges, coloured by the selected run.
    Graph,
    /// One task instance.
    Task,
    /// One try's log.
    Logs,
    /// The latest asset events (`a` in the DAG list).
    Assets,
}

impl View {
    /// Its name in the header.
    pub fn title(self) -> &'static str {
        match self {
            View::Dags => "DAGs",
            View::Grid => "Grid",
            View::Graph => "Graph",
            View::Task => "Task instance",
            View::Logs => "Logs",
            View::Assets => "Assets",
        }
    }
}

/// A task instance: DAG, run, task.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TiRef {
    /// The DAG.
    pub dag_id: String,
    /// The run.
    pub run_id: String,
    /// The task.
    pub task_id: String,
}

/// The connection to the scheduler.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Conn {
    /// Looking for it for the first time.
    #[default]
    Connecting,
    /// The event stream is open.
    Connected {
        /// The API's port.
        port: u16,
    },
    /// Lost (or never found); the loop tries again by itself.
    Reconnecting {
        /// Why the last attempt failed.
        reason: String,
        /// Failed attempts in a row.
        attempt: u32,
        /// Whether it was connected before (the scheduler went away).
        was_connected: bool,
    },
}

impl Conn {
    /// Whether requests can be sent.
    pub fn is_connected(&self) -> bool {
        matches!(self, Conn::Connected { .. })
    }
}

/// How a status message reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    /// Something happening.
    Info,
    /// An action succeeded.
    Ok,
    /// Something failed.
    Error,
}

/// The status line: the last action's result or error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// What to say.
    pub text: String,
    /// How.
    pub kind: StatusKind,
    /// When.
    pub at: DateTime<Utc>,
}

/// The DAG list's cursor and filter.
#[derive(Debug, Clone, Default)]
pub struct DagList {
    /// The selected row among the DAGs the filter keeps.
    pub selected: usize,
    /// A case-insensitive substring of dag_id or a tag.
    pub filter: String,
    /// Whether keys go to the filter.
    pub editing: bool,
}

/// One run of the grid, with its task instances by task index.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunColumn {
    /// The run.
    pub run: DagRun,
    /// Its instances, by the grid's task index (None: not created yet). A mapped task's
    /// cell is the summary of its instances ([`mapped_summary`]).
    pub tis: Vec<Option<TaskInstance>>,
    /// The states of each mapped task's instances, by task id and map index.
    pub mapped: HashMap<String, std::collections::BTreeMap<i32, TaskState>>,
}

/// The cell of a mapped task: the state that matters most of its instances (running,
/// then failed, up_for_retry, waiting, success, skipped), and in `rendered_map_index`
/// their count by state (`10 mapped: 8 success, 2 running`).
pub fn mapped_summary(
    base: TaskInstance,
    states: &std::collections::BTreeMap<i32, TaskState>,
) -> TaskInstance {
    let mut counts: Vec<(TaskState, usize)> = Vec::new();
    for s in states.values() {
        match counts.iter_mut().find(|(c, _)| c == s) {
            Some((_, n)) => *n += 1,
            None => counts.push((*s, 1)),
        }
    }
    let rank = |s: TaskState| match s {
        TaskState::Running => 0,
        TaskState::Failed => 1,
        TaskState::UpstreamFailed => 2,
        TaskState::UpForRetry => 3,
        TaskState::Queued | TaskState::Scheduled | TaskState::None => 4,
        TaskState::Success => 5,
        _ => 6,
    };
    counts.sort_by_key(|(s, _)| rank(*s));
    let text: Vec<String> = counts
        .iter()
        .map(|(s, n)| format!("{n} {}", s.name()))
        .collect();
    TaskInstance {
        state: counts
            .first()
            .map(|(s, _)| *s)
            .filter(|s| *s != TaskState::None),
        map_index: -1,
        rendered_map_index: Some(format!("{} mapped: {}", states.len(), text.join(", "))),
        ..base
    }
}

/// One DAG's tasks and latest runs: what the grid and the graph show.
#[derive(Debug, Clone, Default)]
pub struct Grid {
    /// The DAG.
    pub dag_id: String,
    /// Its tasks in DAG order (upstream first, file order among equals).
    pub tasks: Vec<TaskInfo>,
    /// Task id to index in `tasks`.
    pub index: HashMap<String, usize>,
    /// Whether the tasks arrived.
    pub tasks_loaded: bool,
    /// Its latest runs, oldest first (left to right).
    pub runs: Vec<RunColumn>,
    /// Whether the runs arrived.
    pub runs_loaded: bool,
    /// The selected task (row).
    pub sel_task: usize,
    /// The selected run (column); None: the newest.
    pub sel_run: Option<usize>,
    /// The tasks drawn as a layered graph.
    pub layout: GraphLayout,
    /// Why loading failed.
    pub error: Option<String>,
}

impl Grid {
    /// An empty grid of a DAG, waiting for its data.
    pub fn new(dag_id: &str) -> Grid {
        Grid {
            dag_id: dag_id.to_owned(),
            ..Grid::default()
        }
    }

    /// The selected run's index.
    pub fn run_index(&self) -> Option<usize> {
        if self.runs.is_empty() {
            return None;
        }
        Some(
            self.sel_run
                .unwrap_or(self.runs.len() - 1)
                .min(self.runs.len() - 1),
        )
    }

    /// The selected run.
    pub fn selected_run(&self) -> Option<&RunColumn> {
        self.run_index().and_then(|i| self.runs.get(i))
    }

    /// The selected task.
    pub fn selected_task(&self) -> Option<&TaskInfo> {
        self.tasks.get(self.sel_task)
    }

    /// The selected task instance's reference (the selected task in the selected run).
    pub fn selected_ti(&self) -> Option<TiRef> {
        let run = self.selected_run()?;
        let task = self.selected_task()?;
        Some(TiRef {
            dag_id: self.dag_id.clone(),
            run_id: run.run.dag_run_id.clone(),
            task_id: task.task_id.clone(),
        })
    }

    /// The state of a task in a run column.
    pub fn state(&self, run: usize, task: usize) -> TaskState {
        self.runs
            .get(run)
            .and_then(|r| r.tis.get(task))
            .and_then(Option::as_ref)
            .map_or(TaskState::None, TaskInstance::state)
    }

    /// The run column of a run id.
    pub fn run_position(&self, run_id: &str) -> Option<usize> {
        self.runs.iter().position(|r| r.run.dag_run_id == run_id)
    }
}

/// Whether something was fetched yet.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Fetch<T> {
    /// Not asked for.
    #[default]
    Idle,
    /// On its way.
    Loading,
    /// Here.
    Ready(T),
    /// Not available, and why.
    Failed(String),
}

impl<T> Fetch<T> {
    /// The value, if here.
    pub fn ready(&self) -> Option<&T> {
        match self {
            Fetch::Ready(v) => Some(v),
            _ => None,
        }
    }
}

/// The per-call records of a try's job.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Calls {
    /// The try they belong to.
    pub try_number: u32,
    /// Durations in seconds, in call order (map calls, then the reducer).
    pub durations: Vec<f64>,
    /// How many failed.
    pub failed: usize,
    /// Calls in all (may exceed `durations` when capped).
    pub total: usize,
}

/// Which pane of the task view the scroll keys move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pane {
    /// The XCom value.
    #[default]
    Xcom,
    /// The error and traceback.
    Error,
}

/// The live progress of a running job.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Progress {
    /// `call`, `map` or `reduce`.
    pub phase: String,
    /// Calls in the phase.
    pub total: usize,
    /// Returned.
    pub done: usize,
    /// Failed.
    pub failed: usize,
    /// Running now.
    pub running: usize,
}

/// One task instance in detail.
#[derive(Debug, Clone, Default)]
pub struct TaskDetail {
    /// Which.
    pub ti_ref: Option<TiRef>,
    /// The instance with its XCom value.
    pub ti: Fetch<TaskInstance>,
    /// The XCom value as pretty JSON lines.
    pub xcom_lines: Vec<String>,
    /// Its job's per-call records.
    pub calls: Fetch<Calls>,
    /// The pane the scroll keys move.
    pub focus: Pane,
    /// First XCom line shown.
    pub xcom_scroll: usize,
    /// First error line shown.
    pub error_scroll: usize,
    /// Calls finished at each progress event of the current try: (when, done+failed).
    pub samples: VecDeque<(DateTime<Utc>, usize)>,
    /// What a scheduled instance waits for (a pool slot, ...), from its dependencies.
    pub waiting: Option<Waiting>,
}

/// What a scheduled task instance waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The pool, when it waits for a pool slot.
    pub pool: Option<String>,
    /// Waiting instances of that pool (all runs and DAGs) that come first.
    pub ahead: Option<usize>,
    /// Airflow's reason.
    pub reason: String,
}

impl Waiting {
    /// One line: "a slot in pool etl, 2 ahead", or the reason.
    pub fn summary(&self) -> String {
        match (&self.pool, self.ahead) {
            (Some(pool), Some(ahead)) if self.reason.contains("slots in pool") => {
                format!("a slot in pool {pool}, {ahead} ahead")
            }
            _ => self.reason.clone(),
        }
    }
}

/// The log search.
#[derive(Debug, Clone, Default)]
pub struct Search {
    /// What to find (case-insensitive).
    pub query: String,
    /// Whether keys go to the query.
    pub editing: bool,
    /// Lines that match.
    pub matches: Vec<usize>,
    /// The match shown.
    pub current: usize,
}

/// One try's log.
#[derive(Debug, Clone, Default)]
pub struct LogView {
    /// Which instance.
    pub ti_ref: Option<TiRef>,
    /// Which try.
    pub try_number: u32,
    /// Complete lines so far.
    pub lines: Vec<String>,
    /// A last line without its newline yet.
    pub partial: String,
    /// Bytes read so far (the API's `X-Log-Offset`).
    pub offset: u64,
    /// A fetch is on its way.
    pub in_flight: bool,
    /// When it was last asked for.
    pub last_fetch: Option<DateTime<Utc>>,
    /// Keep the newest line in view and poll for more.
    pub follow: bool,
    /// First line shown (when not following).
    pub scroll: usize,
    /// Columns scrolled right.
    pub hscroll: usize,
    /// The search.
    pub search: Search,
    /// Why there is nothing to show (no log yet, an error).
    pub note: Option<String>,
}

/// What a confirmation prompt asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// Trigger a run, with an optional conf (JSON object) typed in.
    Trigger {
        /// The DAG.
        dag_id: String,
        /// The conf as typed.
        input: String,
        /// Why the conf was refused.
        error: Option<String>,
    },
    /// Pause or unpause a DAG.
    Pause {
        /// The DAG.
        dag_id: String,
        /// Pause (true) or unpause.
        pause: bool,
    },
    /// Clear a task instance, alone or with its downstream tasks.
    Clear {
        /// Which.
        ti: TiRef,
        /// Its current state.
        state: TaskState,
        /// How many tasks are downstream of it.
        downstream: usize,
    },
}

/// Everything the UI knows.
#[derive(Debug, Clone, Default)]
pub struct App {
    /// The time, from the last tick.
    pub now: DateTime<Utc>,
    /// The lithoflow home the UI watches (for messages).
    pub home: String,
    /// Where the process logs go while the UI owns the terminal.
    pub log_file: Option<String>,
    /// The terminal's size (columns, rows), for paging.
    pub size: (u16, u16),
    /// The view shown.
    pub view: View,
    /// Views to go back to with Esc.
    pub back: Vec<View>,
    /// The connection.
    pub conn: Conn,
    /// Every DAG, by dag_id.
    pub dags: Vec<DagInfo>,
    /// Whether the DAG list arrived.
    pub dags_loaded: bool,
    /// The DAG list should be fetched again (a new run moved `next_dagrun`).
    pub dags_stale: bool,
    /// A DAG list fetch is on its way.
    pub dags_in_flight: bool,
    /// When the DAG list was last asked for.
    pub dags_fetched_at: Option<DateTime<Utc>>,
    /// The DAG list's cursor and filter.
    pub dag_list: DagList,
    /// The open DAG's grid and graph.
    pub grid: Option<Grid>,
    /// The task instance view.
    pub task: TaskDetail,
    /// The log view.
    pub logs: LogView,
    /// Live progress of running jobs.
    pub progress: HashMap<TiRef, Progress>,
    /// A question waiting for an answer.
    pub prompt: Option<Prompt>,
    /// The status line.
    pub status: Option<Status>,
    /// Whether the key help is shown, and its scroll.
    pub help: Option<usize>,
    /// The latest asset events, newest first (the assets view).
    pub asset_events: Fetch<Vec<lithoflow_api::DatasetEvent>>,
    /// The selected asset event.
    pub asset_selected: usize,
    /// Set when the user quits.
    pub quit: bool,
}

impl App {
    /// A fresh UI watching `home`, at `now`.
    pub fn new(home: &str, log_file: Option<String>, now: DateTime<Utc>) -> App {
        App {
            now,
            home: home.to_owned(),
            log_file,
            ..App::default()
        }
    }

    /// Log lines one screen shows (the log view's body: the terminal less the header,
    /// the status line, the borders and the search line).
    pub fn log_page(&self) -> usize {
        usize::from(self.size.1.saturating_sub(5)).max(1)
    }

    /// Indices into `dags` of the DAGs the filter keeps, in order.
    pub fn visible_dags(&self) -> Vec<usize> {
        let f = self.dag_list.filter.to_lowercase();
        self.dags
            .iter()
            .enumerate()
            .filter(|(_, d)| {
                f.is_empty()
                    || d.dag_id.to_lowercase().contains(&f)
                    || d.tags.iter().any(|t| t.name.to_lowercase().contains(&f))
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// The DAG under the cursor in the DAG list.
    pub fn selected_dag(&self) -> Option<&DagInfo> {
        let visible = self.visible_dags();
        let i = *visible.get(self.dag_list.selected.min(visible.len().saturating_sub(1)))?;
        self.dags.get(i)
    }

    /// The DAG the current view is about: the grid's, else the list's selection.
    pub fn current_dag_id(&self) -> Option<String> {
        match self.view {
            View::Dags => self.selected_dag().map(|d| d.dag_id.clone()),
            _ => self
                .grid
                .as_ref()
                .map(|g| g.dag_id.clone())
                .or_else(|| self.selected_dag().map(|d| d.dag_id.clone())),
        }
    }

    /// A DAG by id.
    pub fn dag(&self, dag_id: &str) -> Option<&DagInfo> {
        self.dags.iter().find(|d| d.dag_id == dag_id)
    }

    /// The task instance the current view is about.
    pub fn current_ti(&self) -> Option<TiRef> {
        match self.view {
            View::Task => self.task.ti_ref.clone(),
            View::Logs => self.logs.ti_ref.clone(),
            View::Grid | View::Graph => self.grid.as_ref().and_then(Grid::selected_ti),
            View::Dags | View::Assets => None,
        }
    }

    /// The task instance the task view shows, if loaded.
    pub fn task_instance(&self) -> Option<&TaskInstance> {
        self.task.ti.ready()
    }

    /// Live progress of a task instance: from events, else from the API's snapshot.
    pub fn progress_of(&self, ti: &TiRef) -> Option<Progress> {
        if let Some(p) = self.progress.get(ti) {
            return Some(p.clone());
        }
        let t = self.task.ti.ready()?;
        if self.task.ti_ref.as_ref() != Some(ti) || t.state() != TaskState::Running {
            return None;
        }
        t.progress.as_ref().map(|p| Progress {
            phase: p.phase.clone(),
            total: p.total,
            done: p.done,
            failed: p.failed,
            running: p.running,
        })
    }
}

#[cfg(test)]
mod mapped_tests {
    use super::*;

    #[test]
    fn a_mapped_cell_shows_the_state_that_matters_most_and_the_counts() {
        let states: std::collections::BTreeMap<i32, TaskState> = [
            (0, TaskState::Success),
            (1, TaskState::Running),
            (2, TaskState::Success),
            (3, TaskState::Failed),
        ]
        .into_iter()
        .collect();
        let cell = mapped_summary(TaskInstance::default(), &states);
        assert_eq!(cell.state, Some(TaskState::Running));
        assert_eq!(
            cell.rendered_map_index.as_deref(),
            Some("4 mapped: 1 running, 1 failed, 2 success")
        );
    }
}
