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

// Task instances and XCom bodies live in their own module; their names stay here.
pub use crate::task_instances::*;

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
    /// Airflow 2.9+'s `dag_display_name`: the id (lithoflow has no display names).
    #[serde(default)]
    pub dag_display_name: String,
    /// The token of its file for `GET /dagSources/{file_token}` (Airflow's `file_token`).
    #[serde(default)]
    pub file_token: String,
    /// Airflow 2's `schedule_interval`: `{"__type": "CronExpression", "value": ...}`
    /// (presets and `Dataset` too), `{"__type": "TimeDelta", ...}`, or null.
    #[serde(default)]
    pub schedule_interval: Option<Value>,
    /// Airflow's `default_view` (`grid`).
    #[serde(default)]
    pub default_view: Option<String>,
    /// Airflow's `is_subdag`: always false.
    #[serde(default)]
    pub is_subdag: bool,
    /// Airflow's `root_dag_id`: always null.
    #[serde(default)]
    pub root_dag_id: Option<String>,
    /// When the scheduler last loaded its file (Airflow's `last_parsed_time`).
    #[serde(serialize_with = "iso_opt", default)]
    pub last_parsed_time: Option<DateTime<Utc>>,
    /// Airflow's `last_pickled`, `last_expired`: always null.
    #[serde(serialize_with = "iso_opt", default)]
    pub last_pickled: Option<DateTime<Utc>>,
    /// Always null.
    #[serde(serialize_with = "iso_opt", default)]
    pub last_expired: Option<DateTime<Utc>>,
    /// Airflow's `scheduler_lock`: always null.
    #[serde(default)]
    pub scheduler_lock: Option<bool>,
    /// Airflow's `pickle_id`: always null.
    #[serde(default)]
    pub pickle_id: Option<String>,
    /// Whether a task limits its own concurrency (`max_active_tis_per_dag[run]`).
    #[serde(default)]
    pub has_task_concurrency_limits: bool,
    /// Airflow 2.9+'s `max_consecutive_failed_dag_runs`: 0 (no limit).
    #[serde(default)]
    pub max_consecutive_failed_dag_runs: u32,
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
    /// Airflow's `class_ref`: the operator class (`.py` DAGs) or lithoflow's type.
    #[serde(default)]
    pub class_ref: Option<ClassRef>,
    /// Airflow's `task_display_name`: the id.
    #[serde(default)]
    pub task_display_name: String,
    /// Its pool.
    #[serde(default)]
    pub pool: String,
    /// Slots it takes in its pool.
    #[serde(default)]
    pub pool_slots: i64,
    /// Its own priority weight.
    #[serde(default)]
    pub priority_weight: i64,
    /// `downstream`, `upstream` or `absolute`.
    #[serde(default)]
    pub weight_rule: String,
    /// Its queue (`default`).
    #[serde(default)]
    pub queue: Option<String>,
    /// Whether it is mapped (`expand`).
    #[serde(default)]
    pub is_mapped: bool,
    /// The wait before a retry, as Airflow's `TimeDelta` object.
    #[serde(default)]
    pub retry_delay: Option<Value>,
    /// Whether the wait grows (`retry_exponential_backoff`).
    #[serde(default)]
    pub retry_exponential_backoff: bool,
    /// Its `execution_timeout`, as Airflow's `TimeDelta` object, or null.
    #[serde(default)]
    pub execution_timeout: Option<Value>,
    /// Airflow's `wait_for_downstream`: always false.
    #[serde(default)]
    pub wait_for_downstream: bool,
    /// Airflow's `start_date`/`end_date` of a task: the DAG's.
    #[serde(serialize_with = "iso_opt", default)]
    pub start_date: Option<DateTime<Utc>>,
    /// The DAG's end date.
    #[serde(serialize_with = "iso_opt", default)]
    pub end_date: Option<DateTime<Utc>>,
    /// Airflow's `ui_color` (`#fff`).
    #[serde(default)]
    pub ui_color: String,
    /// Airflow's `ui_fgcolor` (`#000`).
    #[serde(default)]
    pub ui_fgcolor: String,
    /// Airflow's `template_fields`: none.
    #[serde(default)]
    pub template_fields: Vec<String>,
    /// Airflow's `extra_links`: none.
    #[serde(default)]
    pub extra_links: Vec<Value>,
    /// Airflow's `doc_md`: null.
    #[serde(default)]
    pub doc_md: Option<String>,
    /// Airflow's `executor`: null.
    #[serde(default)]
    pub executor: Option<String>,
}

/// Airflow's `ClassReference` of a task's operator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassRef {
    /// The class (`PythonOperator`; for a TOML task, lithoflow's type such as `map`).
    pub class_name: String,
    /// Its module (`airflow.operators.python`; `lithoflow` for a TOML task).
    pub module_path: String,
}

/// Airflow's `TimeDelta` object (`{"__type": "TimeDelta", "days", "seconds",
/// "microseconds"}`) of a duration.
pub fn timedelta_json(d: std::time::Duration) -> Value {
    let secs = d.as_secs();
    serde_json::json!({
        "__type": "TimeDelta",
        "days": secs / 86_400,
        "seconds": secs % 86_400,
        "microseconds": d.subsec_micros(),
    })
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
    /// Airflow 2's name for the logical date (the same value).
    #[serde(serialize_with = "iso_opt", default)]
    pub execution_date: Option<DateTime<Utc>>,
    /// Start of the data interval.
    #[serde(serialize_with = "iso_opt", default)]
    pub data_interval_start: Option<DateTime<Utc>>,
    /// End of the data interval.
    #[serde(serialize_with = "iso_opt", default)]
    pub data_interval_end: Option<DateTime<Utc>>,
    /// Airflow's `last_scheduling_decision`: the latest of its queued, start and end
    /// times (lithoflow decides about a run each time one of them changes).
    #[serde(serialize_with = "iso_opt", default)]
    pub last_scheduling_decision: Option<DateTime<Utc>>,
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
    /// The user's note (Airflow's `note`: set by a trigger or `setNote`).
    #[serde(default)]
    pub note: Option<String>,
    /// Why it failed, when it failed for a reason of its own (lithoflow's addition).
    #[serde(default)]
    pub failure_reason: Option<String>,
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

/// `POST /dags/{dag_id}/dagRuns`. Unknown fields are refused, as Airflow 2.10's schema
/// refuses them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerBody {
    /// The run's id (default `manual__<now>`); `run_id` is read too.
    #[serde(default, alias = "run_id", skip_serializing_if = "Option::is_none")]
    pub dag_run_id: Option<String>,
    /// The logical date (default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logical_date: Option<DateTime<Utc>>,
    /// Airflow 2's name for the logical date; if both are given they must agree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_date: Option<DateTime<Utc>>,
    /// The run's conf (null reads as none).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub conf: Map<String, Value>,
    /// The user's note on the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Start of the data interval (with `data_interval_end`; default: the timetable's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_interval_start: Option<DateTime<Utc>>,
    /// End of the data interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_interval_end: Option<DateTime<Utc>>,
}

/// A map that may be sent as null.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    Ok(Option::<Map<String, Value>>::deserialize(d)?.unwrap_or_default())
}

/// `GET /dags/{dag_id}/dagRuns`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DagRunCollection {
    /// This page, in the order asked (default: oldest first, as Airflow's `id`).
    pub dag_runs: Vec<DagRun>,
    /// Matches before paging.
    #[serde(default)]
    pub total_entries: usize,
}

/// `POST /dags/{dag_id}/clearTaskInstances`: Airflow 2.10's `ClearTaskInstances` body
/// (`api_connexion/schemas/task_instance_schema.py`, `ClearTaskInstanceFormSchema`),
/// with its defaults: a dry run, failed instances only. Unknown fields are refused, as
/// Airflow refuses them, so a filter lithoflow does not have cannot silently clear more.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearBody {
    /// Only report what would be cleared (default **true**, as in Airflow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// Exactly these tasks: task ids, or `[task_id, map_index]` pairs for one instance
    /// of a mapped task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_ids: Option<Vec<ClearTaskId>>,
    /// lithoflow's addition: only tasks whose id matches this regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_regex: Option<String>,
    /// Only this run (default: every run within `start_date`..`end_date`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dag_run_id: Option<String>,
    /// Only runs whose logical date is at or after this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// Only runs whose logical date is at or before this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    /// Also the tasks' upstream tasks.
    #[serde(default)]
    pub include_upstream: bool,
    /// Also the tasks' downstream tasks.
    #[serde(default)]
    pub include_downstream: bool,
    /// With `dag_run_id`: also the runs before it.
    #[serde(default)]
    pub include_past: bool,
    /// With `dag_run_id`: also the runs after it.
    #[serde(default)]
    pub include_future: bool,
    /// Only failed and upstream_failed instances (default **true**, as in Airflow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_failed: Option<bool>,
    /// Only running instances.
    #[serde(default)]
    pub only_running: bool,
    /// Airflow's: set the cleared instances' runs back to queued (lithoflow always
    /// does, or the cleared instances would never run again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_dag_runs: Option<bool>,
    /// Airflow 2's SubDAG options (no SubDAGs here: taken and ignored).
    #[serde(default)]
    pub include_subdags: bool,
    /// Airflow 2's SubDAG options (taken and ignored).
    #[serde(default)]
    pub include_parentdag: bool,
}

/// One entry of a clear's `task_ids`: a task id, or `[task_id, map_index]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClearTaskId {
    /// Every instance of the task.
    Task(String),
    /// One instance of a mapped task.
    Mapped(String, i32),
}

impl ClearTaskId {
    /// The task id.
    pub fn task_id(&self) -> &str {
        match self {
            ClearTaskId::Task(t) | ClearTaskId::Mapped(t, _) => t,
        }
    }
}

/// One task instance a clear reset (or, for a dry run, would reset): Airflow's
/// `TaskInstanceReference`, with lithoflow's `state` (before the clear) and
/// `map_index`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClearedInstance {
    /// The DAG.
    #[serde(default)]
    pub dag_id: String,
    /// The run.
    pub dag_run_id: String,
    /// The task.
    pub task_id: String,
    /// The run's logical date (Airflow 2's name).
    #[serde(serialize_with = "iso_opt", default)]
    pub execution_date: Option<DateTime<Utc>>,
    /// Its state before the clear.
    #[serde(default)]
    pub state: TaskState,
}

/// The answer to `clearTaskInstances` (Airflow's `TaskInstanceReferenceCollection`).
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
