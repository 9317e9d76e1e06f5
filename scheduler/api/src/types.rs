//! The API's JSON bodies, shaped like Airflow's stable REST API v1 where a concept
//! matches.
//!
//! Times are written as Airflow writes them (see [`crate::iso_string`]) and read in any
//! RFC 3339 form. Answers read leniently: unknown fields are skipped and, besides the
//! ids and the state a client cannot do without, a missing field reads as its default.
//! A `conf` in an answer is always redacted: the server masks it when it builds the
//! answer (these types cannot, as the masking rules live with the DAG format).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::state::{ReprocessBehavior, RunState, TaskState};
use crate::time::{iso, iso_opt};

/// An error, as RFC 7807 problem JSON (`application/problem+json`), as Airflow answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Always `about:blank`: the title is the HTTP status's name.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The status's name (`Not Found`).
    #[serde(default)]
    pub title: String,
    /// The HTTP status.
    #[serde(default)]
    pub status: u16,
    /// What was wrong, for a person.
    #[serde(default)]
    pub detail: String,
}

/// A DAG tag, as Airflow writes it (`{"name": "example"}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// The tag.
    pub name: String,
}

/// A run in a DAG's `recent_runs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecentRun {
    /// The run.
    pub dag_run_id: String,
    /// Its state.
    pub state: RunState,
    /// When it may start (the order of `recent_runs`, newest first).
    #[serde(serialize_with = "iso", default)]
    pub run_after: DateTime<Utc>,
}

/// A DAG (`GET /dags`, `GET|PATCH /dags/{dag_id}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DagInfo {
    /// The DAG's id.
    pub dag_id: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// The file it was read from.
    #[serde(default)]
    pub fileloc: String,
    /// Whether the scheduler creates its runs.
    pub is_paused: bool,
    /// Always true: the scheduler serves only DAGs its folder has (Airflow's field).
    #[serde(default)]
    pub is_active: bool,
    /// Its `is_paused_upon_creation`.
    #[serde(default)]
    pub is_paused_upon_creation: bool,
    /// The schedule as written (`@daily`, `0 2 * * *`); null for manual runs only.
    #[serde(default)]
    pub schedule: Option<String>,
    /// `cron_trigger` or `cron_data_interval`.
    #[serde(default)]
    pub timetable: String,
    /// What the schedule means, where lithoflow says it: `"Triggered by assets"` for an
    /// asset schedule (Airflow 3's `AssetTriggeredTimetable.description`).
    #[serde(default)]
    pub timetable_description: Option<String>,
    /// An asset schedule's condition, as Airflow 2.10's `dataset_expression`
    /// (`{"all": ["uri", ...]}`, `{"any": [...]}`); null otherwise.
    #[serde(default)]
    pub dataset_expression: Option<Value>,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Its tasks' owners, sorted, without repeats.
    #[serde(default)]
    pub owners: Vec<String>,
    /// Runs running at once at most.
    #[serde(default)]
    pub max_active_runs: u32,
    /// Task instances of one run running at once at most.
    #[serde(default)]
    pub max_active_tasks: u32,
    /// Whether missed ticks since `start_date` run.
    #[serde(default)]
    pub catchup: bool,
    /// The first tick that may run.
    #[serde(serialize_with = "iso_opt", default)]
    pub start_date: Option<DateTime<Utc>>,
    /// The last tick that may run.
    #[serde(serialize_with = "iso_opt", default)]
    pub end_date: Option<DateTime<Utc>>,
    /// The logical date of the next run the scheduler will create (null: none).
    #[serde(serialize_with = "iso_opt", default)]
    pub next_dagrun: Option<DateTime<Utc>>,
    /// Its data interval's start.
    #[serde(serialize_with = "iso_opt", default)]
    pub next_dagrun_data_interval_start: Option<DateTime<Utc>>,
    /// Its data interval's end.
    #[serde(serialize_with = "iso_opt", default)]
    pub next_dagrun_data_interval_end: Option<DateTime<Utc>>,
    /// When it will be created.
    #[serde(serialize_with = "iso_opt", default)]
    pub next_dagrun_create_after: Option<DateTime<Utc>>,
    /// Whether its file fails to load now (the scheduler keeps its last valid version).
    #[serde(default)]
    pub has_import_errors: bool,
    /// Its latest runs, newest first (at most [`crate::RECENT_RUNS`], or the
    /// `recent_runs` query parameter's count).
    #[serde(default)]
    pub recent_runs: Vec<RecentRun>,
    /// Only in the answer to a PATCH: whether it was paused before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub was_paused: Option<bool>,
}

/// `GET /dags`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DagCollection {
    /// This page.
    pub dags: Vec<DagInfo>,
    /// Matches before paging.
    pub total_entries: usize,
}

/// `PATCH /dags/{dag_id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DagPatch {
    /// Pause (true) or unpause (false).
    pub is_paused: bool,
}

/// A task of a DAG (`GET /dags/{dag_id}/tasks`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// The task's id.
    pub task_id: String,
    /// Its type: `call_async`, `map` or `map_reduce`.
    pub operator_name: String,
    /// Tasks it waits for.
    #[serde(default)]
    pub upstream_task_ids: Vec<String>,
    /// Tasks that wait for it.
    #[serde(default)]
    pub downstream_task_ids: Vec<String>,
    /// Its trigger rule.
    #[serde(default)]
    pub trigger_rule: String,
    /// Retries after the first try.
    #[serde(default)]
    pub retries: u32,
    /// Its owner.
    #[serde(default)]
    pub owner: String,
    /// Whether it waits for its previous run's instance.
    #[serde(default)]
    pub depends_on_past: bool,
}

/// `GET /dags/{dag_id}/tasks`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskCollection {
    /// Every task, in file order.
    pub tasks: Vec<TaskInfo>,
    /// How many.
    #[serde(default)]
    pub total_entries: usize,
}

/// A DAG run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DagRun {
    /// The run's id.
    pub dag_run_id: String,
    /// The DAG.
    pub dag_id: String,
    /// `manual`, `scheduled` or `backfill`.
    #[serde(default)]
    pub run_type: String,
    /// `queued`, `running`, `success` or `failed`.
    pub state: RunState,
    /// The logical date.
    #[serde(serialize_with = "iso_opt", default)]
    pub logical_date: Option<DateTime<Utc>>,
    /// Start of the data interval.
    #[serde(serialize_with = "iso_opt", default)]
    pub data_interval_start: Option<DateTime<Utc>>,
    /// End of the data interval.
    #[serde(serialize_with = "iso_opt", default)]
    pub data_interval_end: Option<DateTime<Utc>>,
    /// When it may start.
    #[serde(serialize_with = "iso")]
    pub run_after: DateTime<Utc>,
    /// When it was last queued (created, cleared, re-queued by a backfill).
    #[serde(serialize_with = "iso_opt", default)]
    pub queued_at: Option<DateTime<Utc>>,
    /// When it started running.
    #[serde(serialize_with = "iso_opt", default)]
    pub start_date: Option<DateTime<Utc>>,
    /// When it finished.
    #[serde(serialize_with = "iso_opt", default)]
    pub end_date: Option<DateTime<Utc>>,
    /// Whether it was triggered by hand (Airflow 2's field).
    #[serde(default)]
    pub external_trigger: bool,
    /// Its conf, redacted by the server (credential-named keys, environments and AWS
    /// key ids masked), so a secret passed in a conf never comes back out of the API.
    #[serde(default)]
    pub conf: Map<String, Value>,
    /// Why it failed, when it failed for a reason of its own.
    #[serde(default)]
    pub note: Option<String>,
    /// The backfill that created or cleared it.
    #[serde(default)]
    pub backfill_id: Option<String>,
}

/// What a trigger of a paused DAG says, in the CLI, the TUI and the API's `Warning`
/// header: Airflow records the run and leaves it queued until the DAG is unpaused, which
/// a new user does not expect.
pub fn paused_trigger_notice(dag_id: &str, run_id: &str) -> String {
    format!(
        "DAG `{dag_id}` is paused: run `{run_id}` stays queued until the DAG is unpaused \
         (`lithoflow dags unpause {dag_id}`, or `p` in the TUI)"
    )
}

/// The `Warning` header (RFC 9111's `299`, "miscellaneous persistent warning") of an
/// answer with something to add, e.g. [`paused_trigger_notice`].
pub fn warning_header(text: &str) -> String {
    format!("299 lithoflow \"{}\"", text.replace(['"', '\\'], "'"))
}

/// The text of a [`warning_header`] value.
pub fn warning_text(header: &str) -> Option<&str> {
    let rest = header.strip_prefix("299 ")?;
    let start = rest.find('"')?;
    let end = rest.rfind('"')?;
    (end > start).then(|| &rest[start + 1..end])
}

/// A run just triggered, and what the scheduler added (e.g. that the DAG is paused).
#[derive(Debug, Clone)]
pub struct Triggered {
    /// The run.
    pub run: DagRun,
    /// The answer's warning, if any.
    pub warning: Option<String>,
}

/// `POST /dags/{dag_id}/dagRuns`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TriggerBody {
    /// The run's id (default `manual__<now>`); `run_id` is read too.
    #[serde(default, alias = "run_id", skip_serializing_if = "Option::is_none")]
    pub dag_run_id: Option<String>,
    /// The logical date (default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logical_date: Option<DateTime<Utc>>,
    /// The run's conf.
    #[serde(default)]
    pub conf: Map<String, Value>,
}

/// `GET /dags/{dag_id}/dagRuns`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DagRunCollection {
    /// This page, newest `run_after` first.
    pub dag_runs: Vec<DagRun>,
    /// Matches before paging.
    #[serde(default)]
    pub total_entries: usize,
}

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
    /// The current (or last) try, 1-based; 0 before the first.
    #[serde(default)]
    pub try_number: u32,
    /// Tries allowed in all.
    #[serde(default)]
    pub max_tries: u32,
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
            try_number: 0,
            max_tries: 0,
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

/// `POST /dags/{dag_id}/clearTaskInstances`: Airflow's body. Unknown fields are
/// refused, so a filter lithoflow does not have cannot silently clear more.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearBody {
    /// Only report what would be cleared (default **true**, as in Airflow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// Exactly these tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_ids: Option<Vec<String>>,
    /// lithoflow's addition: only tasks whose id matches this regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_regex: Option<String>,
    /// Only this run (default: every run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dag_run_id: Option<String>,
    /// Also the tasks' upstream tasks.
    #[serde(default)]
    pub include_upstream: bool,
    /// Also the tasks' downstream tasks.
    #[serde(default)]
    pub include_downstream: bool,
    /// Only failed and upstream_failed instances.
    #[serde(default)]
    pub only_failed: bool,
}

/// One task instance a clear reset (or, for a dry run, would reset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClearedInstance {
    /// The DAG.
    #[serde(default)]
    pub dag_id: String,
    /// The run.
    pub dag_run_id: String,
    /// The task.
    pub task_id: String,
    /// Its state before the clear.
    #[serde(default)]
    pub state: TaskState,
}

/// The answer to `clearTaskInstances`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClearResponse {
    /// Grouped by run, newest run first.
    pub task_instances: Vec<ClearedInstance>,
}

/// `POST /backfills`: a backfill of one DAG, as the CLI asks for it (through the API
/// or straight on the store) and as the scheduler plans it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackfillBody {
    /// The DAG.
    pub dag_id: String,
    /// First logical date (inclusive).
    pub from_date: DateTime<Utc>,
    /// Last logical date (inclusive).
    pub to_date: DateTime<Utc>,
    /// `none` (default), `failed` or `completed`.
    #[serde(default)]
    pub reprocess_behavior: ReprocessBehavior,
    /// Backfill runs running at once (default 10).
    #[serde(default = "ten")]
    pub max_active_runs: u32,
    /// Newest first.
    #[serde(default)]
    pub run_backwards: bool,
    /// Only plan (default false).
    #[serde(default)]
    pub dry_run: bool,
    /// The runs' conf.
    #[serde(default)]
    pub dag_run_conf: Map<String, Value>,
}

fn ten() -> u32 {
    10
}

/// The answer to `POST /backfills`: the plan, and the backfill's id unless a dry run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackfillResponse {
    /// The backfill's id (null for a dry run).
    #[serde(default)]
    pub id: Option<String>,
    /// The DAG.
    pub dag_id: String,
    /// First logical date.
    #[serde(serialize_with = "iso")]
    pub from_date: DateTime<Utc>,
    /// Last logical date.
    #[serde(serialize_with = "iso")]
    pub to_date: DateTime<Utc>,
    /// What it does with dates that have a run.
    #[serde(default)]
    pub reprocess_behavior: ReprocessBehavior,
    /// Its runs running at once.
    #[serde(default)]
    pub max_active_runs: u32,
    /// Newest first.
    #[serde(default)]
    pub run_backwards: bool,
    /// Only planned.
    #[serde(default)]
    pub dry_run: bool,
    /// The runs' conf, redacted by the server as [`DagRun::conf`] is.
    #[serde(default)]
    pub dag_run_conf: Map<String, Value>,
    /// One row per logical date, in the order they run.
    pub dag_runs: Vec<BackfillRun>,
    /// How many rows.
    #[serde(default)]
    pub total_entries: usize,
}

/// One logical date of a backfill and what was done about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackfillRun {
    /// The logical date.
    #[serde(serialize_with = "iso")]
    pub logical_date: DateTime<Utc>,
    /// The run (new or existing).
    pub dag_run_id: String,
    /// `create`, `clear` or `skip`.
    pub action: String,
    /// Why it was skipped.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A DAG file that fails to load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportErrorInfo {
    /// Its position in the list (Airflow's id).
    #[serde(default)]
    pub import_error_id: usize,
    /// The file.
    pub filename: String,
    /// Every error of the file, one `PATH:LINE:COLUMN: error: MESSAGE` per line.
    #[serde(default)]
    pub stack_trace: String,
}

/// `GET /importErrors`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportErrorCollection {
    /// This page.
    pub import_errors: Vec<ImportErrorInfo>,
    /// Files with errors.
    #[serde(default)]
    pub total_entries: usize,
}

/// One component's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentHealth {
    /// `healthy` or `unhealthy`.
    pub status: String,
}

/// The scheduler's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedulerHealth {
    /// `healthy` while it answers.
    pub status: String,
    /// Now: the API runs inside the scheduler, so an answer is a heartbeat.
    #[serde(serialize_with = "iso_opt", default)]
    pub latest_scheduler_heartbeat: Option<DateTime<Utc>>,
    /// When it started (lithoflow's addition).
    #[serde(serialize_with = "iso", default)]
    pub started_at: DateTime<Utc>,
    /// The DAGs folder it serves (lithoflow's addition).
    #[serde(default)]
    pub dags_folder: String,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// The state store.
    pub metadatabase: ComponentHealth,
    /// The scheduler.
    pub scheduler: SchedulerHealth,
    /// The triggerer: lithoflow runs none apart from the scheduler, so
    /// `{"status": null, "latest_triggerer_heartbeat": null}`, as Airflow 2.10 answers
    /// for one that never ran.
    #[serde(default)]
    pub triggerer: Option<serde_json::Value>,
    /// The DAG processor: likewise `{"status": null, "latest_dag_processor_heartbeat":
    /// null}`.
    #[serde(default)]
    pub dag_processor: Option<serde_json::Value>,
}

/// `GET /version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    /// lithoflow's version.
    pub version: String,
    /// Unknown (null); Airflow's field.
    #[serde(default)]
    pub git_version: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_states_and_fields_do_not_break_answers() {
        let ti: TaskInstance = serde_json::from_str(
            r#"{"task_id":"t","state":"deferred","try_number":1,"new_field":[1]}"#,
        )
        .expect("reads");
        assert_eq!(ti.state(), TaskState::Unknown);
        let ti: TaskInstance =
            serde_json::from_str(r#"{"task_id":"t","state":null}"#).expect("reads");
        assert_eq!(ti.state(), TaskState::None);
        let run: DagRun = serde_json::from_str(
            r#"{"dag_run_id":"r","dag_id":"d","state":"archived","run_after":"2026-11-27T10:00:00Z","new":1}"#,
        )
        .expect("reads");
        assert_eq!(run.state, RunState::Unknown);
        let dag: DagInfo =
            serde_json::from_str(r#"{"dag_id":"d","is_paused":true,"recent_runs":[{"dag_run_id":"r","state":"running"}]}"#)
                .expect("reads");
        assert_eq!(dag.recent_runs[0].state, RunState::Running);
    }

    #[test]
    fn times_are_written_as_airflow_writes_them() {
        let run = DagRun {
            run_after: DateTime::parse_from_rfc3339("2026-11-27T10:00:00.5Z")
                .expect("valid")
                .with_timezone(&Utc),
            ..DagRun::default()
        };
        let v = serde_json::to_value(&run).expect("serialises");
        assert_eq!(v["run_after"], "2026-11-27T10:00:00.500000+00:00");
        assert_eq!(v["logical_date"], Value::Null);
    }

    #[test]
    fn requests_refuse_unknown_fields_where_that_matters() {
        assert!(
            serde_json::from_str::<ClearBody>(r#"{"task_ids":["a"],"map_indexes":[1]}"#).is_err()
        );
        assert!(serde_json::from_str::<DagPatch>(r#"{"is_paused":true,"owners":[]}"#).is_err());
        let t: TriggerBody = serde_json::from_str(r#"{"run_id":"r"}"#).expect("reads");
        assert_eq!(t.dag_run_id.as_deref(), Some("r"));
        let b: BackfillBody = serde_json::from_str(
            r#"{"dag_id":"d","from_date":"2026-01-01T00:00:00Z","to_date":"2026-01-02T00:00:00Z"}"#,
        )
        .expect("reads");
        assert_eq!(
            (b.reprocess_behavior, b.max_active_runs, b.dry_run),
            (ReprocessBehavior::None, 10, false)
        );
    }
}

/// `POST /dbClean` (lithoflow's addition, what `lithoflow db clean` sends): remove the
/// finished runs that started before `clean_before_timestamp`, as Airflow's
/// `airflow db clean`. Unknown fields are refused, so a filter lithoflow does not have
/// cannot silently remove more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbCleanBody {
    /// Runs that started before this moment are removed.
    #[serde(serialize_with = "iso")]
    pub clean_before_timestamp: DateTime<Utc>,
    /// Only these DAGs (default: every DAG).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dag_ids: Vec<String>,
    /// Only report what would be removed (default **true**, as `clearTaskInstances`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// Remove at most this many runs, then answer with `more` set when old runs remain
    /// (lithoflow's CLI sends batches, so the scheduler's loop is never held long and no
    /// answer waits past the API's timeout). Ignored for a dry run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_runs: Option<usize>,
}

/// What a `db clean` removed (or, for a dry run, would remove).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DbCleanResponse {
    /// The moment asked for.
    #[serde(serialize_with = "iso_opt", default)]
    pub clean_before_timestamp: Option<DateTime<Utc>>,
    /// Whether nothing was removed.
    #[serde(default)]
    pub dry_run: bool,
    /// Runs.
    #[serde(default)]
    pub dag_runs: usize,
    /// Their task instances.
    #[serde(default)]
    pub task_instances: usize,
    /// Their XCom values.
    #[serde(default)]
    pub xcom: usize,
    /// Their log files.
    #[serde(default)]
    pub log_files: u64,
    /// The log files' size.
    #[serde(default)]
    pub log_bytes: u64,
    /// Their files in the local job storage (`storage/lithoflow.jobs/<dag>/<run>/`).
    #[serde(default)]
    pub job_storage_files: u64,
    /// Those files' size.
    #[serde(default)]
    pub job_storage_bytes: u64,
    /// Old runs kept because each is its DAG's latest (see `docs/cli.md`).
    #[serde(default)]
    pub kept_latest: usize,
    /// Runs that started before the moment but have not finished: never removed.
    #[serde(default)]
    pub skipped_unfinished: usize,
    /// The clean stopped at `max_runs`: more old runs remain (ask again).
    #[serde(default)]
    pub more: bool,
}
