//! What a running scheduler shares between its loop and its API: the state store, the
//! DAGs it has loaded, a broadcast of state changes for live clients, and a channel of
//! requests that change state (the loop owns the runs, so it applies them).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::config::Settings;
use crate::dagbag::ImportError;
use crate::ops::{BackfillOutcome, ClearSpec, ClearedTi, OpError, TriggerRequest};
use crate::store::{DagRunRecord, RunState, Store, TaskState};
use lithoflow_api::BackfillBody;
use lithoflow_dag::Dag;
use lithoflow_dag::timetable::DagRunInfo;

/// The DAGs a scheduler currently serves.
#[derive(Debug, Default)]
pub(crate) struct DagSet {
    /// Valid DAGs by id (a file that became invalid keeps its last valid version here).
    pub dags: BTreeMap<String, Arc<Dag>>,
    /// Files that fail to load, with their errors.
    pub import_errors: Vec<ImportError>,
    /// The next run the scheduler will create for each DAG (None: no more).
    pub next_run: HashMap<String, Option<DagRunInfo>>,
}

/// A state change, as the API's event stream sends it and its book of live progress
/// reads it: the wire type itself (states converted from the store's when emitted).
pub(crate) use lithoflow_api::ApiEvent as Event;

/// A request that changes state; the scheduler loop answers on `reply`.
#[derive(Debug)]
pub(crate) enum Request {
    /// Record a queued manual run.
    Trigger {
        /// The DAG.
        dag_id: String,
        /// The run's settings.
        req: TriggerRequest,
        /// The run created.
        reply: oneshot::Sender<Result<DagRunRecord, OpError>>,
    },
    /// Pause or unpause a DAG.
    SetPaused {
        /// The DAG.
        dag_id: String,
        /// Paused or not.
        paused: bool,
        /// Whether it was paused before.
        reply: oneshot::Sender<Result<bool, OpError>>,
    },
    /// Clear task instances.
    Clear {
        /// The DAG.
        dag_id: String,
        /// Which.
        spec: ClearSpec,
        /// What was (or, for a dry run, would be) cleared.
        reply: oneshot::Sender<Result<Vec<ClearedTi>, OpError>>,
    },
    /// `db clean`: remove old finished runs the loop does not hold.
    DbClean {
        /// What to clean.
        spec: crate::retention::CleanSpec,
        /// What was (or, for a dry run, would be) removed.
        reply: oneshot::Sender<Result<lithoflow_api::DbCleanResponse, OpError>>,
    },
    /// Set a run's state as Airflow's `PATCH .../dagRuns/{id}` (`success`, `failed` or
    /// `queued`), with its task instances as Airflow's `set_dag_run_state_to_*` sets
    /// them. Recorded in the event log.
    SetRunState {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
        /// The new state.
        state: RunState,
        /// The run as it is now.
        reply: oneshot::Sender<Result<DagRunRecord, OpError>>,
    },
    /// Delete a run with its task instances, XCom, logs and job data (Airflow's
    /// `DELETE .../dagRuns/{id}`). Recorded in the event log.
    DeleteRun {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
        /// Done.
        reply: oneshot::Sender<Result<(), OpError>>,
    },
    /// Set (or, with None, remove) the user's note on a run or on one of its task
    /// instances. Recorded in the event log.
    SetNote {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
        /// The task instance `(task_id, map_index)`; None: the run.
        task: Option<(String, i32)>,
        /// The note.
        note: Option<String>,
        /// Done.
        reply: oneshot::Sender<Result<(), OpError>>,
    },
    /// Set task instances' state as Airflow's `PATCH .../taskInstances/{task_id}` and
    /// `POST /dags/{id}/updateTaskInstancesState`. Recorded in the event log.
    SetTaskState {
        /// The DAG.
        dag_id: String,
        /// Which, and the state.
        spec: SetTaskStateSpec,
        /// The instances changed (or, for a dry run, that would be), with their
        /// state before.
        reply: oneshot::Sender<Result<Vec<crate::ops::ClearedTi>, OpError>>,
    },
    /// A request the scheduler makes itself (a trigger_dag_run task's trigger, a
    /// request its loop makes again for a run whose engine ended before taking it):
    /// applied as any, but not recorded in the event log, which holds users' actions.
    Unaudited(Box<Request>),
    /// Create a backfill.
    Backfill {
        /// The DAG.
        dag_id: String,
        /// The date range and options (its `dag_id` is `dag_id`).
        spec: BackfillBody,
        /// The plan and the backfill's id.
        reply: oneshot::Sender<Result<BackfillOutcome, OpError>>,
    },
}

/// Everything the API needs from a running scheduler.
pub(crate) struct Shared {
    /// The state store (reads go straight to it).
    pub store: Arc<Store>,
    /// lithoflow home settings.
    pub settings: Settings,
    /// The DAGs folder.
    pub dags_folder: PathBuf,
    /// The loaded DAGs.
    pub dags: RwLock<DagSet>,
    /// State changes, for the event stream.
    pub events: broadcast::Sender<Event>,
    /// Requests to the scheduler loop.
    pub requests: mpsc::Sender<Request>,
    /// When the scheduler started.
    pub started_at: DateTime<Utc>,
    /// The API's bearer token.
    pub token: String,
    /// The slot arbiter of the scheduler's runs (`engine/pools.rs`), told when pools
    /// change; None in tests without an engine.
    pub pools: Option<Arc<crate::engine::pools::Arbiter>>,
}

impl Shared {
    /// The DAG with this id, if loaded.
    pub(crate) fn dag(&self, dag_id: &str) -> Option<Arc<Dag>> {
        self.dags
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .dags
            .get(dag_id)
            .cloned()
    }

    /// Sends an event to live clients (none listening is fine).
    pub(crate) fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }
}

/// What [`Request::SetTaskState`] changes: Airflow's `set_state` over a task's instances
/// in one run (`airflow/api/common/mark_tasks.py`).
#[derive(Debug, Clone)]
pub(crate) struct SetTaskStateSpec {
    /// The run.
    pub run_id: String,
    /// The task.
    pub task_id: String,
    /// Only these map indexes (None: every instance of the task).
    pub map_indexes: Option<Vec<i32>>,
    /// `success`, `failed` or `skipped`.
    pub state: TaskState,
    /// Also the task's upstream tasks.
    pub upstream: bool,
    /// Also its downstream tasks.
    pub downstream: bool,
    /// Also the same tasks in later runs.
    pub future: bool,
    /// Also the same tasks in earlier runs.
    pub past: bool,
    /// Only say what would change.
    pub dry_run: bool,
}
