//! Task instances and their XCom entries on the wire: Airflow 2.10's `TaskInstance`
//! (`api_connexion/schemas/task_instance_schema.py`) and `XCom` bodies, with
//! lithoflow's additions (executor job, calls, live progress) beside Airflow's fields.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::state::TaskState;
use crate::time::iso_opt;

/// A task instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInstance {
    /// The task.
    pub task_id: String,
    /// Its place among a mapped task's instances (0, 1, ...); -1 for an unmapped task
    /// (and a mapped task not yet expanded), as Airflow's `map_index`.
    #[serde(default = "unmapped")]
    pub map_index: i32,
    /// A mapped instance's label from the task's `map_index_template` (Airflow 2.9+'s
    /// `rendered_map_index`); null without one.
    #[serde(default)]
    pub rendered_map_index: Option<String>,
    /// The DAG.
    #[serde(default)]
    pub dag_id: String,
    /// The run.
    #[serde(default)]
    pub dag_run_id: String,
    /// The run's logical date.
    #[serde(serialize_with = "iso_opt", default)]
    pub logical_date: Option<DateTime<Utc>>,
    /// Its state; null is Airflow's "no status".
    #[serde(default)]
    pub state: Option<TaskState>,
    /// The run's logical date, Airflow 2's name (its run's `run_after` when the run
    /// has none: Airflow 2's runs always have one, and its clients require it).
    #[serde(serialize_with = "iso_opt", default)]
    pub execution_date: Option<DateTime<Utc>>,
    /// The current (or last) try, 1-based; 0 before the first.
    #[serde(default)]
    pub try_number: u32,
    /// Airflow's `max_tries`: the retries a failed try may still use up to, i.e. the
    /// task's `retries` when the instance was created, raised by a clear to the try
    /// number it was cleared at plus `retries`. Tries allowed in all: `max_tries + 1`.
    #[serde(default)]
    pub max_tries: u32,
    /// The task's display name (its id).
    #[serde(default)]
    pub task_display_name: String,
    /// The machine its tries ran on (the scheduler's, for local workers); empty before
    /// the first try, as Airflow's.
    #[serde(default)]
    pub hostname: String,
    /// The OS user tries ran as.
    #[serde(default)]
    pub unixname: String,
    /// The pool whose slots its tries take.
    #[serde(default)]
    pub pool: String,
    /// Slots of the pool a try takes.
    #[serde(default)]
    pub pool_slots: i64,
    /// The effective priority weight (the task's `weight_rule` applied).
    #[serde(default)]
    pub priority_weight: Option<i64>,
    /// The queue (`default`: lithoflow has one).
    #[serde(default)]
    pub queue: Option<String>,
    /// When it was last queued (not recorded: null).
    #[serde(serialize_with = "iso_opt", default)]
    pub queued_when: Option<DateTime<Utc>>,
    /// The try's process id (null: calls run on workers).
    #[serde(default)]
    pub pid: Option<i64>,
    /// The executor (null: the default one).
    #[serde(default)]
    pub executor: Option<String>,
    /// The executor config (`{}`).
    #[serde(default)]
    pub executor_config: String,
    /// The user's note (`setNote`).
    #[serde(default)]
    pub note: Option<String>,
    /// Airflow's SLA miss (null: lithoflow has no SLAs).
    #[serde(default)]
    pub sla_miss: Option<Value>,
    /// The rendered template fields (empty: not recorded).
    #[serde(default)]
    pub rendered_fields: Map<String, Value>,
    /// The deferred try's trigger (null: lithoflow does not defer).
    #[serde(default)]
    pub trigger: Option<Value>,
    /// The triggerer job (null).
    #[serde(default)]
    pub triggerer_job: Option<Value>,
    /// When the current try started.
    #[serde(serialize_with = "iso_opt", default)]
    pub start_date: Option<DateTime<Utc>>,
    /// When it finished.
    #[serde(serialize_with = "iso_opt", default)]
    pub end_date: Option<DateTime<Utc>>,
    /// Seconds the last try ran.
    #[serde(default)]
    pub duration: Option<f64>,
    /// The task's type (null when its DAG is no longer loaded).
    #[serde(default)]
    pub operator: Option<String>,
    /// Why the last try failed, with the remote traceback.
    #[serde(default)]
    pub error: Option<String>,
    /// The executor job of the current try.
    #[serde(default)]
    pub job_id: Option<String>,
    /// Calls of the current try's job that returned.
    #[serde(default)]
    pub calls_done: usize,
    /// Calls that failed.
    #[serde(default)]
    pub calls_failed: usize,
    /// Calls in all.
    #[serde(default)]
    pub calls_total: usize,
    /// When an up_for_retry instance may run again.
    #[serde(serialize_with = "iso_opt", default)]
    pub next_retry_at: Option<DateTime<Utc>>,
    /// Its XCom `return_value` (only when one instance is asked for; null if none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_value: Option<Value>,
    /// The live progress of a running try's executor job (lithoflow's addition; only
    /// while the instance is running and its job has reported progress).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<JobProgress>,
}

/// The map index of an unmapped task instance.
fn unmapped() -> i32 {
    -1
}

impl Default for TaskInstance {
    /// An unmapped instance (map index -1) with nothing else known.
    fn default() -> TaskInstance {
        TaskInstance {
            task_id: String::new(),
            map_index: unmapped(),
            rendered_map_index: None,
            dag_id: String::new(),
            dag_run_id: String::new(),
            logical_date: None,
            state: None,
            execution_date: None,
            try_number: 0,
            max_tries: 0,
            task_display_name: String::new(),
            hostname: String::new(),
            unixname: String::new(),
            pool: String::new(),
            pool_slots: 1,
            priority_weight: None,
            queue: None,
            queued_when: None,
            pid: None,
            executor: None,
            executor_config: "{}".to_owned(),
            note: None,
            sla_miss: None,
            rendered_fields: Map::new(),
            trigger: None,
            triggerer_job: None,
            start_date: None,
            end_date: None,
            duration: None,
            operator: None,
            error: None,
            job_id: None,
            calls_done: 0,
            calls_failed: 0,
            calls_total: 0,
            next_retry_at: None,
            return_value: None,
            progress: None,
        }
    }
}

impl TaskInstance {
    /// Its state, [`TaskState::None`] for no status.
    pub fn state(&self) -> TaskState {
        self.state.unwrap_or(TaskState::None)
    }
}

/// Where a running try's executor job is: its calls in the current phase. The same
/// numbers as the event stream's `progress` events, kept for clients that connect
/// in the middle of a job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobProgress {
    /// `call`, `map` or `reduce`.
    #[serde(default)]
    pub phase: String,
    /// Calls in this phase.
    pub total: usize,
    /// Calls that returned.
    pub done: usize,
    /// Calls that failed.
    pub failed: usize,
    /// Calls running now.
    pub running: usize,
}

/// One call of a try's executor job (`GET .../taskInstances/{task_id}/calls`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallInfo {
    /// `call`, `map` or `reduce`.
    pub phase: String,
    /// Its index in its phase (the iterdata position for `map`).
    pub index: usize,
    /// How long it ran, in seconds.
    pub duration_s: f64,
    /// Whether it failed.
    pub failed: bool,
}

/// `GET .../taskInstances/{task_id}/calls`: the calls of one try's executor job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallCollection {
    /// The DAG.
    #[serde(default)]
    pub dag_id: String,
    /// The run.
    #[serde(default)]
    pub dag_run_id: String,
    /// The task.
    #[serde(default)]
    pub task_id: String,
    /// The try.
    #[serde(default)]
    pub try_number: u32,
    /// This page, map calls first, each phase in index order.
    pub calls: Vec<CallInfo>,
    /// Calls in all.
    pub total_entries: usize,
}

/// `GET .../dagRuns/{dag_run_id}/taskInstances`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskInstanceCollection {
    /// This page, by task id.
    pub task_instances: Vec<TaskInstance>,
    /// Matches before paging.
    pub total_entries: usize,
}

/// `GET .../taskInstances/{task_id}/xcomEntries/{xcom_key}`: Airflow 2.10's `XCom`
/// (with lithoflow's `dag_run_id` and `logical_date` beside it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct XComEntry {
    /// The key (`return_value`, or any key the task pushed).
    pub key: String,
    /// When it was pushed.
    #[serde(serialize_with = "iso_opt", default)]
    pub timestamp: Option<DateTime<Utc>>,
    /// The run's logical date (Airflow 2's name).
    #[serde(serialize_with = "iso_opt", default)]
    pub execution_date: Option<DateTime<Utc>>,
    /// The DAG.
    pub dag_id: String,
    /// The run.
    pub dag_run_id: String,
    /// The task.
    pub task_id: String,
    /// The map index: -1, or the index of the map call that pushed it.
    #[serde(default)]
    pub map_index: i32,
    /// The run's logical date.
    #[serde(serialize_with = "iso_opt", default)]
    pub logical_date: Option<DateTime<Utc>>,
    /// The value, as JSON.
    pub value: Value,
}

/// One entry of `GET .../taskInstances/{task_id}/xcomEntries`: Airflow 2.10's
/// `XComCollectionItem` (no value: a listing stays small however large the values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct XComCollectionItem {
    /// The key.
    pub key: String,
    /// When it was pushed.
    #[serde(serialize_with = "iso_opt", default)]
    pub timestamp: Option<DateTime<Utc>>,
    /// The run's logical date (Airflow 2's name).
    #[serde(serialize_with = "iso_opt", default)]
    pub execution_date: Option<DateTime<Utc>>,
    /// The map index (-1: not mapped).
    #[serde(default)]
    pub map_index: i32,
    /// The task.
    pub task_id: String,
    /// The DAG.
    pub dag_id: String,
}

/// `GET .../taskInstances/{task_id}/xcomEntries`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct XComCollection {
    /// This page, by key, then map index.
    pub xcom_entries: Vec<XComCollectionItem>,
    /// Matches before paging.
    pub total_entries: usize,
}
